/*
 * fuzz-notify-dbus.c - the notification helper's D-Bus message handling
 * (src/notify-msg.c) on arbitrary bytes: the input demarshalled as one
 * D-Bus message (the wire format, as the session bus delivers it), then
 * classified as a signal for our notification 7 shown by :1.5, and read
 * as GetCapabilities' answer.
 */
#include "config.h"

#include "notify-msg.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	DBusError derr;
	DBusMessage *msg;
	uint32_t reason = 0;
	bool markup = true, actions = true;

	dbus_error_init(&derr);
	if (ctx == NULL || size > 1 << 20)
		goto out;
	msg = dbus_message_demarshal((const char *)data, (int)size, &derr);
	if (msg == NULL)
		goto out;
	switch (ae_notify_classify(msg, 7, ":1.5", &reason)) {
	case AE_NOTIFY_ACTIVATED:
	case AE_NOTIFY_CLOSED:
		/* Only the server's own signals answer. */
		if (dbus_message_get_sender(msg) == NULL || dbus_message_get_type(msg) != DBUS_MESSAGE_TYPE_SIGNAL)
			__builtin_trap();
		break;
	default:
		break;
	}
	if (ae_notify_caps_parse(ctx, msg, &markup, &actions) != AE_OK && (!markup || !actions))
		__builtin_trap(); /* a bad answer changes nothing */
	dbus_message_unref(msg);
out:
	dbus_error_free(&derr);
	ae_ctx_free(ctx);
	return 0;
}
