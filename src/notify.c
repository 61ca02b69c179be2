/*
 * notify.c - autoenroll-notify: tells the user on the desktop that
 * certificate enrollment waits for them, and runs the interactive
 * enrollment when they accept.
 *
 * Windows shows a balloon about a minute after logon when autoenrollment
 * needs the user (a template that requires user interaction, a smartcard
 * PIN).  This is the same through the freedesktop notification service on
 * the session bus.  autoenroll-user starts it at logon, detached and
 * already as the user:
 *
 *   autoenroll-notify [--delay SECONDS] [--expire SECONDS] [--config FILE]
 *                     [--expiring ITEM]... [--] ITEM...
 *
 * ITEM is TEMPLATE=REASON, REASON being the engine's sentence.  Items of
 * --expiring are certificates within Group Policy's offline expiry
 * warning (expiry_warning_percent) that nothing renewed: one more
 * notification, without an action, shown before the offer (if any).  Both come
 * from AD and CA data: they are untrusted.  Control characters, bad UTF-8
 * and excess length go, and markup characters are escaped before the text
 * reaches the notification server.
 *
 * Exit status: 0 when the offer was answered, dismissed or expired, when
 * there is no session bus and when the session ends; 1 on a D-Bus failure
 * or when run as root; 2 on usage errors.
 */
#include "config.h"

#include "error.h"
#include "notify-msg.h"
#include "notify-text.h"
#include "util.h"

#include <dbus/dbus.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PKGLIBEXECDIR
#define PKGLIBEXECDIR LIBEXECDIR "/autoenroll"
#endif

#define PROG "autoenroll-notify"
#define NOTIFY_NAME "org.freedesktop.Notifications"
#define NOTIFY_PATH "/org/freedesktop/Notifications"
#define NOTIFY_IFACE "org.freedesktop.Notifications"

/* Every D-Bus call waits this long at most (libdbus's own default, which
 * dbus_bus_register uses, is the same 25 s). */
#define CALL_TIMEOUT_MS 25000
#define OUTCOME_EXPIRE_MS 10000
#define EXIT_TEMPFAIL 75

/* Limits of the options; the same as notify_delay and notify_expire in
 * autoenroll.conf(5). */
#define MAX_DELAY (24 * 3600)
#define MAX_EXPIRE (7 * 24 * 3600)

typedef struct {
	long delay;
	long expire;
	const char *config;
	char **items; /* TEMPLATE=REASON, from argv */
	int n_items;
	char **expiring; /* --expiring TEMPLATE=REASON: certificates about to expire (shown, nothing offered) */
	int n_expiring;
} notify_opts;

/* What the server told us it can do (GetCapabilities). */
typedef struct {
	bool markup;
	bool actions;
} server_caps;

typedef enum {
	WAITING,
	ACTIVATED,
	CLOSED,
	EXPIRED,
	TERMINATED,
	BUS_GONE,
} outcome;

/* The termination signals stay blocked except while we wait (ppoll) or
 * run the enrollment, so that one arriving between a check and the wait
 * is not missed. */
static volatile sig_atomic_t terminated;
static volatile sig_atomic_t child_pid;
static sigset_t term_set; /* SIGTERM, SIGINT, SIGHUP */
static sigset_t open_mask; /* the mask with those let in */

static void
on_term(int sig)
{
	int saved = errno;

	terminated = 1;
	/* The session ends: the enrollment we started ends with it. */
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
	errno = saved;
}

static void
usage(FILE *f)
{
	fprintf(f, "Usage: " PROG " [--delay SECONDS] [--expire SECONDS] [--config FILE] [--expiring TEMPLATE=REASON]...\n"
	           "       [--] TEMPLATE=REASON...\n"
	           "Offers certificate enrollment that needs the user through a desktop notification\n"
	           "(started by autoenroll-user at logon; see autoenroll-machine(8)).\n");
}

static bool
parse_seconds(const char *s, long min, long max, long *out)
{
	char *end = NULL;
	long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* ---- untrusted text ---- */

/* ---- D-Bus ---- */

/* The session bus address: $DBUS_SESSION_BUS_ADDRESS, else the bus socket
 * in $XDG_RUNTIME_DIR (what systemd --user provides; the PAM environment
 * often has no address).  *OUT stays NULL when there is no bus. */
static ae_err
bus_address(ae_ctx *ctx, char **out)
{
	const char *addr = secure_getenv("DBUS_SESSION_BUS_ADDRESS");
	const char *run = secure_getenv("XDG_RUNTIME_DIR");
	char *path = NULL, *escaped = NULL, *res = NULL;
	struct stat st;
	ae_err err = AE_OK;

	*out = NULL;
	if (addr != NULL && *addr != '\0') {
		res = strdup(addr);
		if (res == NULL)
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (run == NULL || run[0] != '/')
		goto cleanup;
	path = ae_strdup_printf("%s/bus", run);
	if (path == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		goto cleanup;
	escaped = dbus_address_escape_value(path);
	res = escaped != NULL ? ae_strdup_printf("unix:path=%s", escaped) : NULL;
	if (res == NULL)
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
cleanup:
	if (err == AE_OK) {
		*out = res;
		res = NULL;
	}
	free(res);
	dbus_free(escaped);
	free(path);
	return err;
}

/* Sends MSG and waits CALL_TIMEOUT_MS for the reply.  WHAT names the call
 * in the message.  *REPLY_OUT (may be NULL: the reply is dropped) is
 * unreferenced by the caller.  An UnknownMethod error is AE_ERR_UNSUPPORTED,
 * so that optional methods can be told apart. */
static ae_err
call(ae_ctx *ctx, DBusConnection *conn, DBusMessage *msg, const char *what, DBusMessage **reply_out)
{
	DBusMessage *reply = NULL;
	DBusError derr;
	ae_err err = AE_OK;

	if (reply_out != NULL)
		*reply_out = NULL;
	dbus_error_init(&derr);
	reply = dbus_connection_send_with_reply_and_block(conn, msg, CALL_TIMEOUT_MS, &derr);
	if (reply == NULL) {
		bool timeout = dbus_error_has_name(&derr, DBUS_ERROR_NO_REPLY) ||
		               dbus_error_has_name(&derr, DBUS_ERROR_TIMEOUT);
		bool unknown = dbus_error_has_name(&derr, DBUS_ERROR_UNKNOWN_METHOD);
		err = ae_set_message(ctx, timeout ? AE_ERR_TIMEOUT : unknown ? AE_ERR_UNSUPPORTED : AE_ERR_NETWORK,
		                     "%s on the session bus failed (D-Bus call timeout %d s): %s%s%s", what,
		                     CALL_TIMEOUT_MS / 1000, derr.message ? derr.message : "no reply",
		                     derr.name ? " - " : "", derr.name ? derr.name : "");
		goto cleanup;
	}
	if (reply_out != NULL) {
		*reply_out = reply;
		reply = NULL;
	}
cleanup:
	if (reply != NULL)
		dbus_message_unref(reply);
	dbus_error_free(&derr);
	return err;
}

static ae_err
connect_bus(ae_ctx *ctx, const char *address, DBusConnection **out)
{
	DBusConnection *conn = NULL;
	DBusError derr;
	ae_err err = AE_OK;

	*out = NULL;
	dbus_error_init(&derr);
	/* Private: nothing else in the process shares it, and we close it. */
	conn = dbus_connection_open_private(address, &derr);
	if (conn == NULL) {
		err = ae_set_message(ctx, AE_ERR_NETWORK, "cannot connect to the session bus at %s: %s", address,
		                     derr.message ? derr.message : "unknown error");
		goto cleanup;
	}
	dbus_connection_set_exit_on_disconnect(conn, FALSE);
	if (!dbus_bus_register(conn, &derr)) {
		err = ae_set_message(ctx, AE_ERR_NETWORK,
		                     "cannot register on the session bus at %s (D-Bus call timeout %d s): %s", address,
		                     CALL_TIMEOUT_MS / 1000, derr.message ? derr.message : "unknown error");
		goto cleanup;
	}
	*out = conn;
	conn = NULL;
cleanup:
	if (conn != NULL) {
		dbus_connection_close(conn);
		dbus_connection_unref(conn);
	}
	dbus_error_free(&derr);
	return err;
}

/* Markup and action buttons are optional in the notification spec; a
 * server without GetCapabilities is assumed to have both. */
static ae_err
get_caps(ae_ctx *ctx, DBusConnection *conn, server_caps *caps)
{
	DBusMessage *msg = NULL, *reply = NULL;
	ae_err err = AE_OK;

	caps->markup = true;
	caps->actions = true;
	msg = dbus_message_new_method_call(NOTIFY_NAME, NOTIFY_PATH, NOTIFY_IFACE, "GetCapabilities");
	if (msg == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	err = call(ctx, conn, msg, "GetCapabilities", &reply);
	if (err == AE_ERR_UNSUPPORTED) {
		ae_clear_message(ctx);
		err = AE_OK;
		goto cleanup;
	}
	if (err != AE_OK)
		goto cleanup;
	err = ae_notify_caps_parse(ctx, reply, &caps->markup, &caps->actions);
cleanup:
	if (reply != NULL)
		dbus_message_unref(reply);
	if (msg != NULL)
		dbus_message_unref(msg);
	return err;
}

/* The signals of the notification server that answer our notification. */
static ae_err
add_match(ae_ctx *ctx, DBusConnection *conn, const char *member)
{
	DBusMessage *msg = NULL;
	char *rule = NULL;
	ae_err err = AE_OK;

	rule = ae_strdup_printf("type='signal',sender='" NOTIFY_NAME "',path='" NOTIFY_PATH "',interface='" NOTIFY_IFACE
	                        "',member='%s'",
	                        member);
	msg = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS, "AddMatch");
	if (rule == NULL || msg == NULL ||
	    !dbus_message_append_args(msg, DBUS_TYPE_STRING, &rule, DBUS_TYPE_INVALID)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	err = call(ctx, conn, msg, "AddMatch", NULL);
cleanup:
	if (msg != NULL)
		dbus_message_unref(msg);
	free(rule);
	return err;
}

/* Notify(susssasa{sv}i): shows one notification.  ACTIONS is a NULL-
 * terminated list of key, label pairs.  *ID_OUT is the server's id,
 * *SENDER_OUT (free()) the server's unique bus name. */
static ae_err
notify(ae_ctx *ctx, DBusConnection *conn, const char *summary, const char *body, const char *const *actions,
       int32_t expire_ms, uint32_t *id_out, char **sender_out)
{
	DBusMessage *msg = NULL, *reply = NULL;
	DBusMessageIter it = DBUS_MESSAGE_ITER_INIT_CLOSED, arr = DBUS_MESSAGE_ITER_INIT_CLOSED, entry = DBUS_MESSAGE_ITER_INIT_CLOSED,
	                    var = DBUS_MESSAGE_ITER_INIT_CLOSED;
	DBusError derr;
	const char *app = "autoenroll", *icon = "security-high", *urgency_key = "urgency";
	dbus_uint32_t replaces = 0, id = 0;
	unsigned char urgency = 1; /* normal */
	char *sender = NULL;
	ae_err err = AE_OK;

	*id_out = 0;
	if (sender_out != NULL)
		*sender_out = NULL;
	dbus_error_init(&derr);
	/* libdbus aborts on strings that are not UTF-8; ours are cleaned. */
	ae_return_val_if_fail(dbus_validate_utf8(summary, NULL) && dbus_validate_utf8(body, NULL), AE_ERR_INTERNAL);
	msg = dbus_message_new_method_call(NOTIFY_NAME, NOTIFY_PATH, NOTIFY_IFACE, "Notify");
	if (msg == NULL)
		goto nomem;
	if (!dbus_message_append_args(msg, DBUS_TYPE_STRING, &app, DBUS_TYPE_UINT32, &replaces, DBUS_TYPE_STRING,
	                              &icon, DBUS_TYPE_STRING, &summary, DBUS_TYPE_STRING, &body, DBUS_TYPE_INVALID))
		goto nomem;
	dbus_message_iter_init_append(msg, &it);
	if (!dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, DBUS_TYPE_STRING_AS_STRING, &arr))
		goto nomem;
	for (size_t i = 0; actions != NULL && actions[i] != NULL; i++)
		if (!dbus_message_iter_append_basic(&arr, DBUS_TYPE_STRING, &actions[i]))
			goto nomem;
	if (!dbus_message_iter_close_container(&it, &arr))
		goto nomem;
	if (!dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &arr) ||
	    !dbus_message_iter_open_container(&arr, DBUS_TYPE_DICT_ENTRY, NULL, &entry) ||
	    !dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &urgency_key) ||
	    !dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, DBUS_TYPE_BYTE_AS_STRING, &var) ||
	    !dbus_message_iter_append_basic(&var, DBUS_TYPE_BYTE, &urgency) ||
	    !dbus_message_iter_close_container(&entry, &var) || !dbus_message_iter_close_container(&arr, &entry) ||
	    !dbus_message_iter_close_container(&it, &arr))
		goto nomem;
	if (!dbus_message_iter_append_basic(&it, DBUS_TYPE_INT32, &expire_ms))
		goto nomem;

	err = call(ctx, conn, msg, "Notify", &reply);
	if (err != AE_OK)
		goto cleanup;
	if (!dbus_message_get_args(reply, &derr, DBUS_TYPE_UINT32, &id, DBUS_TYPE_INVALID)) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "Notify answered with unexpected arguments: %s",
		                     derr.message ? derr.message : "unknown error");
		goto cleanup;
	}
	if (sender_out != NULL) {
		const char *s = dbus_message_get_sender(reply);
		sender = strdup(s != NULL ? s : "");
		if (sender == NULL)
			goto nomem;
		*sender_out = sender;
		sender = NULL;
	}
	*id_out = id;
	goto cleanup;
nomem:
	/* Only here: once sent, the message is locked and the containers
	 * closed. */
	if (reply == NULL) {
		dbus_message_iter_abandon_container_if_open(&entry, &var);
		dbus_message_iter_abandon_container_if_open(&arr, &entry);
		dbus_message_iter_abandon_container_if_open(&it, &arr);
	}
	err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory building the Notify call");
cleanup:
	free(sender);
	if (reply != NULL)
		dbus_message_unref(reply);
	if (msg != NULL)
		dbus_message_unref(msg);
	dbus_error_free(&derr);
	return err;
}

static ae_err
close_notification(ae_ctx *ctx, DBusConnection *conn, uint32_t id)
{
	DBusMessage *msg = NULL;
	dbus_uint32_t nid = id;
	ae_err err;

	msg = dbus_message_new_method_call(NOTIFY_NAME, NOTIFY_PATH, NOTIFY_IFACE, "CloseNotification");
	if (msg == NULL || !dbus_message_append_args(msg, DBUS_TYPE_UINT32, &nid, DBUS_TYPE_INVALID))
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	else
		err = call(ctx, conn, msg, "CloseNotification", NULL);
	if (msg != NULL)
		dbus_message_unref(msg);
	return err;
}

/* What MSG means for notification ID shown by SERVER; a call to us is
 * answered with an error rather than left waiting. */
static outcome
classify(DBusConnection *conn, DBusMessage *msg, uint32_t id, const char *server, uint32_t *reason)
{
	switch (ae_notify_classify(msg, id, server, reason)) {
	case AE_NOTIFY_BUS_GONE:
		return BUS_GONE;
	case AE_NOTIFY_ACTIVATED:
		return ACTIVATED;
	case AE_NOTIFY_CLOSED:
		return CLOSED;
	case AE_NOTIFY_METHOD_CALL:
		if (!dbus_message_get_no_reply(msg)) {
			DBusMessage *err = dbus_message_new_error(msg, DBUS_ERROR_UNKNOWN_METHOD,
			                                          "autoenroll-notify has no methods");
			if (err != NULL) {
				dbus_connection_send(conn, err, NULL);
				dbus_message_unref(err);
			}
		}
		return WAITING;
	case AE_NOTIFY_OTHER:
		break;
	}
	return WAITING;
}

/* ---- waiting and running ---- */

/* Waits until FD (-1: none) is readable or until DEADLINE (monotonic
 * seconds).  The termination signals get in only here.  Returns 1 when
 * FD is readable, 0 at the deadline, -1 when terminated. */
static int
wait_for(int fd, double deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct timespec ts;
		double left;
		int n;

		if (terminated)
			return -1;
		left = deadline - ae_monotonic_seconds();
		if (left <= 0)
			return 0;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		n = ppoll(fd >= 0 ? &pfd : NULL, fd >= 0 ? 1 : 0, &ts, &open_mask);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return 1; /* let libdbus see what is wrong with the socket */
	}
}

/* Runs `autoenroll-user --interactive --wait [--config FILE]` in our own
 * environment (pinentry needs the display and the session bus) and waits
 * for it.  Returns its wait status, or -1 when it could not start. */
static int
run_enrollment(const notify_opts *o)
{
	const char *dir = secure_getenv("AUTOENROLL_LIBEXECDIR");
	char path[PATH_MAX];
	char *argv[6];
	size_t n = 0;
	siginfo_t info;
	int status = 0, len;
	pid_t pid;

	len = snprintf(path, sizeof(path), "%s/autoenroll-user", dir != NULL && *dir != '\0' ? dir : PKGLIBEXECDIR);
	if (len < 0 || (size_t)len >= sizeof(path)) {
		fprintf(stderr, PROG ": the path of autoenroll-user is too long\n");
		return -1;
	}
	argv[n++] = path;
	argv[n++] = (char *)"--interactive";
	argv[n++] = (char *)"--wait";
	if (o->config != NULL) {
		argv[n++] = (char *)"--config";
		argv[n++] = (char *)o->config;
	}
	argv[n] = NULL;
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, PROG ": cannot start %s: fork: %s\n", path, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* libdbus ignores SIGPIPE; the enrollment gets the defaults. */
		signal(SIGPIPE, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		sigprocmask(SIG_SETMASK, &open_mask, NULL);
		execv(path, argv);
		fprintf(stderr, PROG ": cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	child_pid = pid;
	/* Signals in: a SIGTERM now reaches the child through on_term.  The
	 * child is reaped only once child_pid is cleared, so that its pid is
	 * never signalled after it could be reused. */
	sigprocmask(SIG_SETMASK, &open_mask, NULL);
	memset(&info, 0, sizeof(info));
	while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR)
		;
	sigprocmask(SIG_BLOCK, &term_set, NULL);
	child_pid = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, PROG ": waiting for %s: %s\n", path, strerror(errno));
			return -1;
		}
	}
	return status;
}

/* The second, short notification: how the enrollment went. */
static ae_err
show_outcome(ae_ctx *ctx, DBusConnection *conn, int status)
{
	const char *summary, *body;
	uint32_t id = 0;

	if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		summary = "Certificates enrolled";
		body = "Your certificates are ready.";
	} else if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == EXIT_TEMPFAIL) {
		summary = "Certificate enrollment will be retried";
		body = "The domain or its certification authority could not be reached. "
		       "Enrollment is tried again at the next logon or pulse.";
	} else {
		summary = "Certificate enrollment failed";
		body = "Run \xe2\x80\x9c" "autoenroll pulse --user --interactive --wait\xe2\x80\x9d to see why and try again, "
		       "or read \xe2\x80\x9cjournalctl -t autoenroll-user\xe2\x80\x9d.";
	}
	fprintf(stderr, PROG ": %s\n", summary);
	return notify(ctx, conn, summary, body, NULL, OUTCOME_EXPIRE_MS, &id, NULL);
}

static const char *
closed_reason(uint32_t reason)
{
	switch (reason) {
	case 1: return "expired by the notification server";
	case 2: return "dismissed by the user";
	case 3: return "closed";
	default: return "closed for an undefined reason";
	}
}

/* Everything after the arguments.  Returns the exit status. */
static int
run(ae_ctx *ctx, const notify_opts *o)
{
	static const char *const actions[] = { "default", "Enroll", "enroll", "Enroll", NULL };
	DBusConnection *conn = NULL;
	DBusMessage *msg = NULL;
	server_caps caps;
	char *address = NULL, *body = NULL, *server = NULL;
	uint32_t id = 0, reason = 0;
	double shown, deadline;
	outcome out = WAITING;
	int rc = EXIT_FAILURE, fd = -1, status;
	int32_t expire_ms;

	/* Windows waits a minute after logon so that the desktop is up. */
	if (o->delay > 0 && wait_for(-1, ae_monotonic_seconds() + (double)o->delay) < 0) {
		rc = EXIT_SUCCESS;
		goto cleanup;
	}
	if (bus_address(ctx, &address) != AE_OK)
		goto fail;
	if (address == NULL) {
		fprintf(stderr, PROG ": no session bus: nothing shown; the work waits for a graphical logon or "
		                "`autoenroll pulse --user --interactive`\n");
		rc = EXIT_SUCCESS;
		goto cleanup;
	}
	if (connect_bus(ctx, address, &conn) != AE_OK || get_caps(ctx, conn, &caps) != AE_OK)
		goto fail;
	expire_ms = o->expire > INT32_MAX / 1000 ? INT32_MAX : (int32_t)(o->expire * 1000);
	if (o->n_expiring > 0) {
		/* Windows' expiry balloon: a warning, nothing to select. */
		body = ae_notify_expiry_body(o->expiring, o->n_expiring, caps.markup);
		if (body == NULL) {
			ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto fail;
		}
		if (notify(ctx, conn, "Certificate about to expire", body, NULL, expire_ms, &id, NULL) != AE_OK)
			goto fail;
		fprintf(stderr, PROG ": shown: expiry warning %u for %d certificate%s\n", id, o->n_expiring,
		        o->n_expiring == 1 ? "" : "s");
		free(body);
		body = NULL;
		if (o->n_items == 0) {
			rc = EXIT_SUCCESS;
			goto cleanup;
		}
	}
	/* Subscribed before Notify, so that no answer can come first. */
	if (add_match(ctx, conn, "ActionInvoked") != AE_OK || add_match(ctx, conn, "NotificationClosed") != AE_OK)
		goto fail;
	body = ae_notify_body(o->items, o->n_items, caps.markup, caps.actions);
	if (body == NULL) {
		ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (notify(ctx, conn, "Certificate enrollment needs you", body, actions, expire_ms, &id, &server) != AE_OK)
		goto fail;
	shown = ae_monotonic_seconds();
	deadline = shown + (double)o->expire;
	fprintf(stderr, PROG ": shown: notification %u for %d template%s, offered for %ld s\n", id, o->n_items,
	        o->n_items == 1 ? "" : "s", o->expire);
	if (!dbus_connection_get_unix_fd(conn, &fd)) {
		ae_set_message(ctx, AE_ERR_IO, "the session bus connection has no file descriptor");
		goto fail;
	}

	while (out == WAITING) {
		while (out == WAITING && (msg = dbus_connection_pop_message(conn)) != NULL) {
			out = classify(conn, msg, id, server, &reason);
			dbus_message_unref(msg);
			msg = NULL;
		}
		if (out != WAITING)
			break;
		switch (wait_for(fd, deadline)) {
		case -1: out = TERMINATED; break;
		case 0: out = EXPIRED; break;
		default:
			if (!dbus_connection_read_write(conn, 0) && dbus_connection_get_dispatch_status(conn) ==
			                                                DBUS_DISPATCH_COMPLETE)
				out = BUS_GONE;
			break;
		}
	}

	switch (out) {
	case ACTIVATED:
		fprintf(stderr, PROG ": activated: running autoenroll-user --interactive --wait\n");
		/* Servers close it on an action unless it is resident; closed in
		 * any case, so that nothing offers what is now being done. */
		if (close_notification(ctx, conn, id) != AE_OK) {
			fprintf(stderr, PROG ": %s\n", ae_get_message(ctx));
			ae_clear_message(ctx);
		}
		status = run_enrollment(o);
		if (terminated) {
			rc = EXIT_SUCCESS;
			break;
		}
		if (status >= 0 && WIFEXITED(status))
			fprintf(stderr, PROG ": autoenroll-user exited with status %d\n", WEXITSTATUS(status));
		else if (status >= 0 && WIFSIGNALED(status))
			fprintf(stderr, PROG ": autoenroll-user was killed by signal %d\n", WTERMSIG(status));
		if (show_outcome(ctx, conn, status) != AE_OK)
			goto fail;
		rc = EXIT_SUCCESS;
		break;
	case CLOSED:
		fprintf(stderr, PROG ": %s (reason %u): nothing enrolled; the work waits for the next logon or "
		                "`autoenroll pulse --user --interactive`\n",
		        reason == 2 ? "dismissed" : closed_reason(reason), reason);
		rc = EXIT_SUCCESS;
		break;
	case EXPIRED:
		fprintf(stderr, PROG ": expired after %ld s: nothing enrolled; the work waits for the next logon or "
		                "`autoenroll pulse --user --interactive`\n",
		        o->expire);
		if (close_notification(ctx, conn, id) != AE_OK)
			goto fail;
		rc = EXIT_SUCCESS;
		break;
	case BUS_GONE:
		fprintf(stderr, PROG ": the session bus closed: the session ended\n");
		rc = EXIT_SUCCESS;
		break;
	case TERMINATED:
	case WAITING:
		rc = EXIT_SUCCESS;
		break;
	}
	goto cleanup;
fail:
	fprintf(stderr, PROG ": %s\n", ae_get_message(ctx));
	rc = EXIT_FAILURE;
cleanup:
	if (conn != NULL) {
		dbus_connection_close(conn);
		dbus_connection_unref(conn);
	}
	free(server);
	free(body);
	free(address);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ "expire", required_argument, NULL, 'e' },
		{ "config", required_argument, NULL, 'c' },
		{ "expiring", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	notify_opts o = { .delay = 60, .expire = 7 * 3600 };
	char *expiring[argc > 0 ? argc : 1];
	struct sigaction sa;
	ae_ctx *ctx = NULL;
	int c, rc;

	/* '+': the items are not options, whatever they start with. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (!parse_seconds(optarg, 0, MAX_DELAY, &o.delay)) {
				fprintf(stderr, PROG ": --delay takes 0 to %d seconds, not \"%s\"\n", MAX_DELAY, optarg);
				return 2;
			}
			break;
		case 'e':
			if (!parse_seconds(optarg, 1, MAX_EXPIRE, &o.expire)) {
				fprintf(stderr, PROG ": --expire takes 1 to %d seconds, not \"%s\"\n", MAX_EXPIRE, optarg);
				return 2;
			}
			break;
		case 'c': o.config = optarg; break;
		case 'x': expiring[o.n_expiring++] = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	o.items = argv + optind;
	o.n_items = argc - optind;
	o.expiring = expiring;
	if (o.n_items == 0 && o.n_expiring == 0) {
		usage(stderr);
		return 2;
	}
	for (int i = 0; i < o.n_items + o.n_expiring; i++) {
		const char *item = i < o.n_items ? o.items[i] : o.expiring[i - o.n_items];
		const char *eq = strchr(item, '=');
		if (eq == NULL || eq == item) {
			fprintf(stderr, PROG ": an item is TEMPLATE=REASON, not \"%.64s\"\n", item);
			return 2;
		}
	}
	/* Machine templates never prompt: only a user's session is asked. */
	if (geteuid() == 0) {
		fprintf(stderr, PROG ": refusing to run as root: it asks a user in their own desktop session, "
		                "and machine templates never prompt\n");
		return 1;
	}

	sigemptyset(&term_set);
	sigaddset(&term_set, SIGTERM);
	sigaddset(&term_set, SIGINT);
	sigaddset(&term_set, SIGHUP);
	sigprocmask(SIG_BLOCK, &term_set, &open_mask);
	sigdelset(&open_mask, SIGTERM);
	sigdelset(&open_mask, SIGINT);
	sigdelset(&open_mask, SIGHUP);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term; /* no SA_RESTART: the waits must end */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* An ignored SIGCHLD survives exec and would reap the enrollment
	 * before we learn how it went. */
	signal(SIGCHLD, SIG_DFL);

	ctx = ae_ctx_new();
	if (ctx == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	rc = run(ctx, &o);
	ae_ctx_free(ctx);
	/* Frees libdbus's own caches, so that leak checkers see only ours. */
	dbus_shutdown();
	return rc;
}
