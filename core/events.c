/*
 * events.c - autoenrollment events to the systemd journal (native
 * protocol, written by hand so that no libsystemd is needed), or to syslog
 * when no journal takes them.
 *
 * Values come from AD and the CA: they are untrusted text.  Any value with
 * a control character goes out in the protocol's binary (length-prefixed)
 * form, so that no byte in it can end a field or start a new one; in the
 * syslog fallback control characters are escaped instead.
 */
#include "config.h"

#include "error.h"
#include "events.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#define AE_JOURNAL_SOCKET "/run/systemd/journal/socket"

/* MESSAGE may be long (a CA's explanation); other values are names.  Both
 * caps keep a datagram far below the socket's limits, so that a hostile
 * template or CA name cannot push an event out of the journal. */
#define AE_EV_MESSAGE_MAX 8192
#define AE_EV_VALUE_MAX 1024

#define SRC_AUTOENROLLMENT "Microsoft-Windows-CertificateServicesClient-AutoEnrollment"
#define SRC_CERTENROLL "Microsoft-Windows-CertificateServicesClient-CertEnroll"
#define SRC_LIFECYCLE "Microsoft-Windows-CertificateServicesClient-Lifecycle-System"

typedef struct {
	const char *name;
	const char *message_id;
	int priority;
	unsigned windows_id;
	const char *windows_source;
	const char *summary;   /* the default MESSAGE says this happened */
	const char *ca_prep;   /* how the CA joins the sentence */
} kind_info;

/* Indexed by designators so that a new kind cannot shift the table.  The
 * MESSAGE_IDs are random and must never change: admins filter on them. */
static const kind_info kinds[AE_EV_MAX_] = {
	[AE_EV_PULSE_STARTED] = { "pulse-started", "9937a76cff264b34af0a352bf3b8fba2",
		LOG_INFO, 2, SRC_AUTOENROLLMENT, "autoenrollment started", "with" },
	[AE_EV_PULSE_COMPLETED] = { "pulse-completed", "39a828713ece4e44a0e79108d7bbfad8",
		LOG_INFO, 3, SRC_AUTOENROLLMENT, "autoenrollment completed", "with" },
	[AE_EV_PULSE_FAILED] = { "pulse-failed", "77eaee9db8a6447bbeb9538c486ac1c0",
		LOG_ERR, 6, SRC_AUTOENROLLMENT, "autoenrollment failed", "with" },
	[AE_EV_DISABLED] = { "disabled", "8aadb041750f4cee961c56c55d84ec55",
		LOG_INFO, 0, NULL, "autoenrollment is disabled by policy", "with" },
	[AE_EV_NOTHING_TO_DO] = { "nothing-to-do", "8f20cd3d1d304b4bb09b786b6ca13ce0",
		LOG_INFO, 0, NULL, "nothing to do", "with" },
	[AE_EV_ENROLLED] = { "enrolled", "96df9ebc413043758ffd6783542ad4f2",
		LOG_NOTICE, 1006, SRC_LIFECYCLE, "enrolled", "from" },
	[AE_EV_RENEWED] = { "renewed", "665c8a9ecc554764a467c5b9bb6ca900",
		LOG_NOTICE, 1001, SRC_LIFECYCLE, "renewed", "from" },
	[AE_EV_PENDING] = { "pending", "de1c9129ecf24e379aa351a78a031096",
		LOG_NOTICE, 0, NULL, "request pending", "at" },
	[AE_EV_RETRIEVED] = { "retrieved", "04c28df29c8541f2ba1dfb509c5f991b",
		LOG_NOTICE, 1006, SRC_LIFECYCLE, "pending request issued and installed", "by" },
	[AE_EV_DENIED] = { "denied", "feed769790604611b08a257b39b3046c",
		LOG_ERR, 13, SRC_AUTOENROLLMENT, "request denied", "by" },
	[AE_EV_FAILED] = { "failed", "27dfca0f67924efb96b81f5cf2b21c6c",
		LOG_ERR, 13, SRC_AUTOENROLLMENT, "enrollment failed", "with" },
	[AE_EV_SKIPPED] = { "skipped", "8852423766a447bdad014f4e9533f822",
		LOG_WARNING, 0, NULL, "skipped", "with" },
	[AE_EV_PENDING_EXPIRED] = { "pending-expired", "d889a28fe5594598baf6dfed7c3a5169",
		LOG_WARNING, 0, NULL, "pending request expired and deleted with its key", "at" },
	[AE_EV_ARCHIVED] = { "archived", "0793a5894db04d77b5496d40234a7a22",
		LOG_NOTICE, 10, SRC_CERTENROLL, "old certificate archived", "from" },
	[AE_EV_DELETED] = { "deleted", "4a3029b220674ad3a6e9f054fc939344",
		LOG_NOTICE, 10, SRC_CERTENROLL, "old certificate deleted with its key", "from" },
	[AE_EV_TRUST_UPDATED] = { "trust-updated", "f9a63e70cfe54232894b5e7b228a80ab",
		LOG_NOTICE, 0, NULL, "trusted certificates from Active Directory updated", "with" },
	[AE_EV_TRUST_FAILED] = { "trust-failed", "897706eba3194eecb16162b0e8380480",
		LOG_ERR, 1, SRC_AUTOENROLLMENT, "downloading certificates from Active Directory failed", "with" },
	[AE_EV_DS_CERT_REMOVED] = { "ds-cert-removed", "e9036b50b1f4461faf7e9c1fc85cecc5",
		LOG_NOTICE, 0, NULL, "revoked certificate removed from Active Directory", "from" },
	[AE_EV_NEEDS_USER] = { "needs-user", "7079cf45005443208c806ab3daf1dee8",
		LOG_WARNING, 0, NULL, "waiting for the user", "with" },
	[AE_EV_PUBLISHED] = { "published", "e8e45343047f4083a9d24613f16b6977",
		LOG_INFO, 0, NULL, "certificate for services updated", "from" },
	[AE_EV_PUBLISH_FAILED] = { "publish-failed", "ffd29b5f6f0747728d09a4218fb246b7",
		LOG_ERR, 0, NULL, "certificate for services not updated", "from" },
	[AE_EV_HOOK_RAN] = { "hook-ran", "20dd6f58bbf644f4a0a0f72ee034f43f",
		LOG_INFO, 0, NULL, "renewal hook ran", "from" },
	[AE_EV_HOOK_FAILED] = { "hook-failed", "5f0396aa44d146168a61a5d3fa2d24a5",
		LOG_WARNING, 0, NULL, "renewal hook failed", "from" },
	[AE_EV_EXPIRING] = { "expiring", "870252989cc2416088cd1bb1a8e362c5",
		LOG_WARNING, 1003, SRC_LIFECYCLE, "certificate about to expire, not renewed", "from" },
	[AE_EV_POLICY_LOAD_FAILED] = { "policy-load-failed", "1676e55a20d642308e647ab2bfe43f7e",
		LOG_ERR, 67, SRC_CERTENROLL, "enrollment policy could not be loaded", "with" },
	[AE_EV_POLICY_AUTH_FAILED] = { "policy-auth-failed", "51e6dc58329a48fcbbf87d037d046592",
		LOG_ERR, 68, SRC_CERTENROLL, "authentication to the policy server failed", "with" },
	[AE_EV_POLICY_NONE] = { "policy-none", "495d9172d9b143a1a0bb714e082b5616",
		LOG_ERR, 70, SRC_CERTENROLL, "no valid enrollment policy", "with" },
	[AE_EV_SCEP_FAILED] = { "scep-failed", "4dc4ea626bf3420487d2253105ff6a6e",
		LOG_ERR, 86, SRC_CERTENROLL, "SCEP certificate enrollment failed", "with" },
	[AE_EV_GP_APPLIED] = { "gp-applied", "a0e2e6f862a1463a8c14b7d2586d6e0e",
		LOG_INFO, 0, NULL, "Group Policy settings applied", "from" },
	[AE_EV_GP_READ_FAILED] = { "gp-read-failed", "8e919cfeaacb4638ad8694a5d809a76b",
		LOG_WARNING, 0, NULL, "a Group Policy Object could not be read", "from" },
};

static const kind_info *
kind_get(ae_event_kind kind)
{
	ae_return_val_if_fail((unsigned)kind < AE_EV_MAX_, NULL);
	return &kinds[kind];
}

static bool
event_ok(const ae_event *ev)
{
	ae_return_val_if_fail(ev != NULL, false);
	return kind_get(ev->kind) != NULL;
}

const char *
ae_event_name(ae_event_kind kind)
{
	const kind_info *k = kind_get(kind);
	return k != NULL ? k->name : NULL;
}

const char *
ae_event_message_id(ae_event_kind kind)
{
	const kind_info *k = kind_get(kind);
	return k != NULL ? k->message_id : NULL;
}

unsigned
ae_event_windows_id(ae_event_kind kind)
{
	const kind_info *k = kind_get(kind);
	return k != NULL ? k->windows_id : 0;
}

const char *
ae_event_windows_source(ae_event_kind kind)
{
	const kind_info *k = kind_get(kind);
	return k != NULL ? k->windows_source : NULL;
}

int
ae_event_priority(ae_event_kind kind)
{
	const kind_info *k = kind_get(kind);
	return k != NULL ? k->priority : LOG_ERR;
}

/* Length of S cut to MAX bytes, backing off to a UTF-8 character boundary
 * so that a cut never leaves half a character for the journal to reject. */
static size_t
clip_len(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

static bool
has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20)
			return true;
	return false;
}

static void
put_le64(ae_buf *b, uint64_t v)
{
	unsigned char le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(v >> (8 * i));
	ae_buf_append(b, le, sizeof(le));
}

/* One field of the native protocol: "KEY=value\n", or, when the value has
 * a control character, "KEY\n" + 64-bit little-endian length + value +
 * "\n" (a newline would otherwise end the field early). */
static void
put_field_n(ae_buf *b, const char *key, const char *value, size_t len)
{
	ae_buf_puts(b, key);
	if (has_control(value, len)) {
		ae_buf_append(b, "\n", 1);
		put_le64(b, len);
	} else {
		ae_buf_append(b, "=", 1);
	}
	ae_buf_append(b, value, len);
	ae_buf_append(b, "\n", 1);
}

static void
put_field(ae_buf *b, const char *key, const char *value)
{
	if (value != NULL)
		put_field_n(b, key, value, clip_len(value, AE_EV_VALUE_MAX));
}

static void
put_field_uint(ae_buf *b, const char *key, unsigned v)
{
	char num[16];

	snprintf(num, sizeof(num), "%u", v);
	put_field(b, key, num);
}

/* HRESULTs as Windows prints them, so that they can be searched for. */
static void
put_field_hex(ae_buf *b, const char *key, uint32_t v)
{
	char num[16];

	snprintf(num, sizeof(num), "0x%08X", v);
	put_field(b, key, num);
}

/* "local system", "user alice@CORP.TEST" or "the user". */
static void
put_context(ae_buf *b, const ae_event *ev)
{
	if (ev->machine)
		ae_buf_puts(b, "local system");
	else if (ev->user != NULL)
		ae_buf_printf(b, "user %.*s", (int)clip_len(ev->user, AE_EV_VALUE_MAX), ev->user);
	else
		ae_buf_puts(b, "the user");
}

/* The sentence used when the caller gave none, e.g. "Certificate
 * enrollment for local system: enrolled for LabMachine from CORP-CA1
 * (request 12)".  NULL when out of memory. */
static char *
default_message(const ae_event *ev)
{
	const kind_info *k = &kinds[ev->kind];
	ae_buf b;

	ae_buf_init(&b);
	ae_buf_puts(&b, "Certificate enrollment for ");
	put_context(&b, ev);
	ae_buf_printf(&b, ": %s", k->summary);
	if (ev->template_name != NULL)
		ae_buf_printf(&b, " for %.*s",
			      (int)clip_len(ev->template_name, AE_EV_VALUE_MAX), ev->template_name);
	if (ev->ca != NULL)
		ae_buf_printf(&b, " %s %.*s", k->ca_prep,
			      (int)clip_len(ev->ca, AE_EV_VALUE_MAX), ev->ca);
	if (ev->request_id != 0 && ev->hresult != 0)
		ae_buf_printf(&b, " (request %u, error 0x%08X)", ev->request_id, ev->hresult);
	else if (ev->request_id != 0)
		ae_buf_printf(&b, " (request %u)", ev->request_id);
	else if (ev->hresult != 0)
		ae_buf_printf(&b, " (error 0x%08X)", ev->hresult);
	return ae_buf_steal(&b);
}

static void
put_event_fields(ae_buf *b, const ae_event *ev)
{
	const kind_info *k = &kinds[ev->kind];

	put_field(b, "AUTOENROLL_EVENT", k->name);
	put_field(b, "AUTOENROLL_CONTEXT", ev->machine ? "machine" : "user");
	put_field(b, "AUTOENROLL_USER", ev->user);
	put_field(b, "AUTOENROLL_TEMPLATE", ev->template_name);
	put_field(b, "AUTOENROLL_CA", ev->ca);
	put_field(b, "AUTOENROLL_POLICY_SERVER", ev->policy_server);
	put_field(b, "AUTOENROLL_RECORD", ev->record_id);
	put_field(b, "AUTOENROLL_SCEP_URL", ev->url);
	put_field(b, "AUTOENROLL_SCEP_METHOD", ev->method);
	put_field(b, "AUTOENROLL_SCEP_STAGE", ev->stage);
	put_field(b, "AUTOENROLL_GPO", ev->gpo);
	put_field(b, "AUTOENROLL_SCEP_PROFILE", ev->scep_profile);
	if (ev->request_id != 0)
		put_field_uint(b, "AUTOENROLL_REQUEST_ID", ev->request_id);
	if (ev->hresult != 0)
		put_field_hex(b, "AUTOENROLL_HRESULT", ev->hresult);
	if (k->windows_id != 0) {
		put_field_uint(b, "WINDOWS_EVENT_ID", k->windows_id);
		put_field(b, "WINDOWS_EVENT_SOURCE", k->windows_source);
	}
}

char *
ae_event_format_native(const char *ident, const ae_event *ev, unsigned pid, size_t *len_out)
{
	char *message = NULL;
	const char *text;
	ae_buf b;
	size_t len;
	char *out;

	if (!event_ok(ev))
		return NULL;
	text = ev->message;
	if (text == NULL) {
		message = default_message(ev);
		if (message == NULL)
			return NULL;
		text = message;
	}

	ae_buf_init(&b);
	put_field_n(&b, "MESSAGE", text, clip_len(text, AE_EV_MESSAGE_MAX));
	put_field(&b, "MESSAGE_ID", kinds[ev->kind].message_id);
	put_field_uint(&b, "PRIORITY", (unsigned)kinds[ev->kind].priority);
	put_field(&b, "SYSLOG_IDENTIFIER", ident);
	put_field_uint(&b, "SYSLOG_PID", pid);
	put_event_fields(&b, ev);
	free(message);

	len = b.len;
	out = ae_buf_steal(&b);
	if (len_out != NULL)
		*len_out = out != NULL ? len : 0;
	return out;
}

/* $AE_JOURNAL_SOCKET (tests), the journal's socket, or NULL for "-":
 * straight to syslog. */
static const char *
journal_path(void)
{
	const char *p = secure_getenv("AE_JOURNAL_SOCKET");

	if (p == NULL || p[0] == '\0')
		return AE_JOURNAL_SOCKET;
	if (strcmp(p, "-") == 0)
		return NULL;
	return p;
}

/* One datagram to the journal; false when it did not take it. */
static bool
send_journal(const char *path, const char *data, size_t len)
{
	struct sockaddr_un sa;
	size_t plen = strlen(path);
	ssize_t n;
	int fd;

	if (plen >= sizeof(sa.sun_path))
		return false;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, plen + 1);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	/* MSG_DONTWAIT: a journal that does not keep up must not hold up the
	 * pulse (or a login, from the PAM module); syslog gets it instead. */
	do {
		n = sendto(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL,
			   (const struct sockaddr *)&sa, sizeof(sa));
	} while (n < 0 && errno == EINTR);
	close(fd);
	return n >= 0 && (size_t)n == len;
}

/* Appends S with control characters escaped as \xNN: syslog lines are
 * single lines, and a newline from a CA must not forge a second one. */
static void
put_escaped(ae_buf *b, const char *s, size_t max)
{
	size_t len = clip_len(s, max);
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != 0x7F)
			continue;
		ae_buf_append(b, s + start, i - start);
		ae_buf_printf(b, "\\x%02x", c);
		start = i + 1;
	}
	ae_buf_append(b, s + start, len - start);
}

static void
put_tag(ae_buf *b, bool *first, const char *key, const char *value)
{
	if (value == NULL)
		return;
	ae_buf_printf(b, "%s%s=", *first ? " [" : " ", key);
	put_escaped(b, value, AE_EV_VALUE_MAX);
	*first = false;
}

/* "enrolled: MESSAGE [user=... template=X ca=Y record=R request=N
 * hresult=0x...]": the journal's fields, for syslog readers. */
static char *
syslog_line(const ae_event *ev)
{
	char *message = NULL;
	const char *text = ev->message;
	char num[32];
	bool first = true;
	ae_buf b;

	if (text == NULL) {
		message = default_message(ev);
		text = message != NULL ? message : "";
	}
	ae_buf_init(&b);
	ae_buf_printf(&b, "%s: ", kinds[ev->kind].name);
	put_escaped(&b, text, AE_EV_MESSAGE_MAX);
	free(message);

	if (!ev->machine)
		put_tag(&b, &first, "user", ev->user);
	put_tag(&b, &first, "template", ev->template_name);
	put_tag(&b, &first, "policy_server", ev->policy_server);
	put_tag(&b, &first, "ca", ev->ca);
	put_tag(&b, &first, "record", ev->record_id);
	put_tag(&b, &first, "url", ev->url);
	put_tag(&b, &first, "method", ev->method);
	put_tag(&b, &first, "stage", ev->stage);
	put_tag(&b, &first, "gpo", ev->gpo);
	put_tag(&b, &first, "scep_profile", ev->scep_profile);
	if (ev->request_id != 0) {
		snprintf(num, sizeof(num), "%u", ev->request_id);
		put_tag(&b, &first, "request", num);
	}
	if (ev->hresult != 0) {
		snprintf(num, sizeof(num), "0x%08X", ev->hresult);
		put_tag(&b, &first, "hresult", num);
	}
	if (!first)
		ae_buf_puts(&b, "]");
	return ae_buf_steal(&b);
}

/* No openlog(): the caller (a PAM module's host, say) owns the process's
 * syslog identity and facility; ours goes in the priority argument. */
static void
send_syslog(const ae_event *ev)
{
	int facility = ev->machine ? LOG_DAEMON : LOG_USER;
	int priority = kinds[ev->kind].priority;
	char *line = syslog_line(ev);

	if (line == NULL)
		return;
	syslog(priority | facility, "%s", line);
	free(line);
}

void
ae_event_emit(const char *ident, const ae_event *ev)
{
	const char *path;
	char *data;
	size_t len;
	bool sent = false;

	if (!event_ok(ev))
		return;
	path = journal_path();
	if (path != NULL) {
		data = ae_event_format_native(ident, ev, (unsigned)getpid(), &len);
		if (data != NULL)
			sent = send_journal(path, data, len);
		free(data);
	}
	if (!sent)
		send_syslog(ev);
}
