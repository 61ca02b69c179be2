/*
 * notify-msg.h - what autoenroll-notify reads from the session bus, apart
 * from the connection (fuzzed by tests/fuzz/fuzz-notify-dbus.c): any
 * client of the bus can send it messages.
 */
#ifndef AE_NOTIFY_MSG_H
#define AE_NOTIFY_MSG_H

#include "error.h"

#include <dbus/dbus.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
	AE_NOTIFY_OTHER,       /* nothing to do with our notification */
	AE_NOTIFY_ACTIVATED,   /* ActionInvoked "enroll" or "default" on it */
	AE_NOTIFY_CLOSED,      /* NotificationClosed for it */
	AE_NOTIFY_BUS_GONE,    /* libdbus's local Disconnected */
	AE_NOTIFY_METHOD_CALL, /* a call to us: answered with an error */
} ae_notify_event;

/* What MSG means for notification ID shown by SERVER (its unique name:
 * signals from anyone else are not the user's answer).  *REASON gets the
 * NotificationClosed reason. */
ae_notify_event ae_notify_classify(DBusMessage *msg, uint32_t id, const char *server, uint32_t *reason);

/* The capabilities in REPLY, GetCapabilities' answer (as, the
 * Desktop Notifications Specification): body-markup, actions. */
ae_err ae_notify_caps_parse(ae_ctx *ctx, DBusMessage *reply, bool *markup, bool *actions);

#endif
