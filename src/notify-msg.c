/*
 * notify-msg.c - what autoenroll-notify reads from the session bus.
 */
#include "config.h"

#include "notify-msg.h"

#include <string.h>

#define NOTIFY_IFACE "org.freedesktop.Notifications"

ae_notify_event
ae_notify_classify(DBusMessage *msg, uint32_t id, const char *server, uint32_t *reason)
{
	const char *sender = dbus_message_get_sender(msg);
	dbus_uint32_t nid = 0, why = 0;
	const char *key = NULL;

	if (dbus_message_is_signal(msg, DBUS_INTERFACE_LOCAL, "Disconnected"))
		return AE_NOTIFY_BUS_GONE;
	if (dbus_message_get_type(msg) == DBUS_MESSAGE_TYPE_METHOD_CALL)
		return AE_NOTIFY_METHOD_CALL;
	if (sender == NULL || strcmp(sender, server) != 0)
		return AE_NOTIFY_OTHER;
	if (dbus_message_is_signal(msg, NOTIFY_IFACE, "ActionInvoked") &&
	    dbus_message_get_args(msg, NULL, DBUS_TYPE_UINT32, &nid, DBUS_TYPE_STRING, &key, DBUS_TYPE_INVALID) &&
	    nid == id && (strcmp(key, "enroll") == 0 || strcmp(key, "default") == 0))
		return AE_NOTIFY_ACTIVATED;
	if (dbus_message_is_signal(msg, NOTIFY_IFACE, "NotificationClosed") &&
	    dbus_message_get_args(msg, NULL, DBUS_TYPE_UINT32, &nid, DBUS_TYPE_UINT32, &why, DBUS_TYPE_INVALID) &&
	    nid == id) {
		*reason = why;
		return AE_NOTIFY_CLOSED;
	}
	return AE_NOTIFY_OTHER;
}

ae_err
ae_notify_caps_parse(ae_ctx *ctx, DBusMessage *reply, bool *markup, bool *actions)
{
	DBusError derr;
	char **list = NULL;
	int n = 0;
	ae_err err = AE_OK;

	dbus_error_init(&derr);
	if (!dbus_message_get_args(reply, &derr, DBUS_TYPE_ARRAY, DBUS_TYPE_STRING, &list, &n, DBUS_TYPE_INVALID)) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "GetCapabilities answered with unexpected arguments: %s",
		                     derr.message ? derr.message : "unknown error");
		goto cleanup;
	}
	*markup = false;
	*actions = false;
	for (int i = 0; i < n; i++) {
		if (strcmp(list[i], "body-markup") == 0)
			*markup = true;
		else if (strcmp(list[i], "actions") == 0)
			*actions = true;
	}
cleanup:
	dbus_free_string_array(list);
	dbus_error_free(&derr);
	return err;
}
