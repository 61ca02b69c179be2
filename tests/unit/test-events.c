/*
 * test-events.c - autoenrollment events: the kind table, the journal's
 * native protocol (parsed back by an independent parser), delivery to a
 * real datagram socket, the syslog fallback, and no leaked descriptors.
 */
#include "config.h"

#include "error.h"
#include "events.h"
#include "tap.h"

#include <dirent.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* --- syslog, replaced ---
 *
 * The fallback must reach syslog() with the right priority and facility,
 * and must not call openlog().  This binary defines those functions itself,
 * so the calls from core/events.c land here instead of in the system log
 * (<syslog.h> is not included: its fortified inline wrappers would clash).
 * __syslog_chk is what syslog() becomes under _FORTIFY_SOURCE. */
void syslog(int pri, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void __syslog_chk(int pri, int flag, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void openlog(const char *ident, int option, int facility);

#define T_LOG_USER (1 << 3)
#define T_LOG_DAEMON (3 << 3)

static int syslog_calls;
static int openlog_calls;
static int syslog_pri;
static char syslog_text[16384];

static void record_syslog(int pri, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
record_syslog(int pri, const char *fmt, va_list ap)
{
	syslog_calls++;
	syslog_pri = pri;
	vsnprintf(syslog_text, sizeof(syslog_text), fmt, ap);
}

void
syslog(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	record_syslog(pri, fmt, ap);
	va_end(ap);
}

void
__syslog_chk(int pri, int flag, const char *fmt, ...)
{
	va_list ap;

	(void)flag;
	va_start(ap, fmt);
	record_syslog(pri, fmt, ap);
	va_end(ap);
}

void
openlog(const char *ident, int option, int facility)
{
	(void)ident;
	(void)option;
	(void)facility;
	openlog_calls++;
}

/* --- a parser for the journal's native protocol ---
 *
 * Written from https://systemd.io/JOURNAL_NATIVE_PROTOCOL/, independently
 * of the formatter: "KEY=value\n", or "KEY\n" + 64-bit little-endian length
 * + value + "\n".  Keys are uppercase letters, digits and underscores, not
 * starting with a digit or (for fields a client may send) an underscore. */
#define MAX_FIELDS 64

typedef struct {
	char key[65];
	const char *value; /* into the datagram */
	size_t len;
	bool binary;
} field;

typedef struct {
	field f[MAX_FIELDS];
	size_t n;
} fields;

static bool
key_valid(const char *k, size_t len)
{
	if (len == 0 || len > 64 || k[0] == '_' || (k[0] >= '0' && k[0] <= '9'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return false;
	return true;
}

static bool
parse_native(const char *d, size_t len, fields *out)
{
	size_t pos = 0;

	out->n = 0;
	while (pos < len) {
		field *f;
		size_t k = pos;

		while (k < len && d[k] != '=' && d[k] != '\n')
			k++;
		if (k == len || !key_valid(d + pos, k - pos) || out->n == MAX_FIELDS)
			return false;
		f = &out->f[out->n++];
		memcpy(f->key, d + pos, k - pos);
		f->key[k - pos] = '\0';
		if (d[k] == '=') {
			const char *nl = memchr(d + k + 1, '\n', len - k - 1);
			if (nl == NULL)
				return false;
			f->value = d + k + 1;
			f->len = (size_t)(nl - f->value);
			f->binary = false;
			pos = (size_t)(nl - d) + 1;
		} else {
			uint64_t vlen = 0;

			if (len - k - 1 < 8)
				return false;
			for (int i = 7; i >= 0; i--)
				vlen = (vlen << 8) | (unsigned char)d[k + 1 + i];
			pos = k + 9;
			if (vlen >= len - pos || d[pos + vlen] != '\n')
				return false;
			f->value = d + pos;
			f->len = (size_t)vlen;
			f->binary = true;
			pos += (size_t)vlen + 1;
		}
	}
	return true;
}

static const field *
get(const fields *fs, const char *key)
{
	for (size_t i = 0; i < fs->n; i++)
		if (strcmp(fs->f[i].key, key) == 0)
			return &fs->f[i];
	return NULL;
}

static int
count_key(const fields *fs, const char *key)
{
	int n = 0;

	for (size_t i = 0; i < fs->n; i++)
		if (strcmp(fs->f[i].key, key) == 0)
			n++;
	return n;
}

/* The value of KEY as a string (static; "(absent)" when missing). */
static const char *
val(const fields *fs, const char *key)
{
	static char buf[16384];
	const field *f = get(fs, key);

	if (f == NULL)
		return "(absent)";
	snprintf(buf, sizeof(buf), "%.*s", (int)f->len, f->value);
	return buf;
}

static bool
each_key_once(const fields *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		if (count_key(fs, fs->f[i].key) != 1)
			return false;
	return true;
}

/* Formats EV and parses it back; false (with a diagnostic) on any error. */
static bool
format_parse(const char *ident, const ae_event *ev, unsigned pid, char **data, fields *fs)
{
	size_t len = 0;

	*data = ae_event_format_native(ident, ev, pid, &len);
	if (*data == NULL) {
		tap_diag("ae_event_format_native returned NULL");
		return false;
	}
	if (len == 0 || (*data)[len - 1] != '\n' || !parse_native(*data, len, fs)) {
		tap_diag("datagram of %zu bytes does not parse", len);
		return false;
	}
	return true;
}

/* --- the kind table --- */

#define SRC_AE "Microsoft-Windows-CertificateServicesClient-AutoEnrollment"
#define SRC_CE "Microsoft-Windows-CertificateServicesClient-CertEnroll"
#define SRC_LC "Microsoft-Windows-CertificateServicesClient-Lifecycle-System"

static const struct {
	const char *name;
	int priority;
	unsigned windows_id;
	const char *source;
} expected[AE_EV_MAX_] = {
	[AE_EV_PULSE_STARTED] = { "pulse-started", AE_LOG_INFO, 2, SRC_AE },
	[AE_EV_PULSE_COMPLETED] = { "pulse-completed", AE_LOG_INFO, 3, SRC_AE },
	[AE_EV_PULSE_FAILED] = { "pulse-failed", AE_LOG_ERR, 6, SRC_AE },
	[AE_EV_DISABLED] = { "disabled", AE_LOG_INFO, 0, NULL },
	[AE_EV_NOTHING_TO_DO] = { "nothing-to-do", AE_LOG_INFO, 0, NULL },
	[AE_EV_ENROLLED] = { "enrolled", AE_LOG_NOTICE, 1006, SRC_LC },
	[AE_EV_RENEWED] = { "renewed", AE_LOG_NOTICE, 1001, SRC_LC },
	[AE_EV_PENDING] = { "pending", AE_LOG_NOTICE, 0, NULL },
	[AE_EV_RETRIEVED] = { "retrieved", AE_LOG_NOTICE, 1006, SRC_LC },
	[AE_EV_DENIED] = { "denied", AE_LOG_ERR, 13, SRC_AE },
	[AE_EV_FAILED] = { "failed", AE_LOG_ERR, 13, SRC_AE },
	[AE_EV_SKIPPED] = { "skipped", AE_LOG_WARNING, 0, NULL },
	[AE_EV_PENDING_EXPIRED] = { "pending-expired", AE_LOG_WARNING, 0, NULL },
	[AE_EV_ARCHIVED] = { "archived", AE_LOG_NOTICE, 10, SRC_CE },
	[AE_EV_DELETED] = { "deleted", AE_LOG_NOTICE, 10, SRC_CE },
	[AE_EV_TRUST_UPDATED] = { "trust-updated", AE_LOG_NOTICE, 0, NULL },
	[AE_EV_TRUST_FAILED] = { "trust-failed", AE_LOG_ERR, 1, SRC_AE },
	[AE_EV_DS_CERT_REMOVED] = { "ds-cert-removed", AE_LOG_NOTICE, 0, NULL },
	[AE_EV_NEEDS_USER] = { "needs-user", AE_LOG_WARNING, 0, NULL },
	[AE_EV_PUBLISHED] = { "published", AE_LOG_INFO, 0, NULL },
	[AE_EV_PUBLISH_FAILED] = { "publish-failed", AE_LOG_ERR, 0, NULL },
	[AE_EV_HOOK_RAN] = { "hook-ran", AE_LOG_INFO, 0, NULL },
	[AE_EV_HOOK_FAILED] = { "hook-failed", AE_LOG_WARNING, 0, NULL },
	[AE_EV_EXPIRING] = { "expiring", AE_LOG_WARNING, 1003, SRC_LC },
	[AE_EV_POLICY_LOAD_FAILED] = { "policy-load-failed", AE_LOG_ERR, 67, SRC_CE },
	[AE_EV_POLICY_AUTH_FAILED] = { "policy-auth-failed", AE_LOG_ERR, 68, SRC_CE },
	[AE_EV_POLICY_NONE] = { "policy-none", AE_LOG_ERR, 70, SRC_CE },
	[AE_EV_SCEP_FAILED] = { "scep-failed", AE_LOG_ERR, 86, SRC_CE },
	[AE_EV_GP_APPLIED] = { "gp-applied", AE_LOG_INFO, 0, NULL },
	[AE_EV_GP_READ_FAILED] = { "gp-read-failed", AE_LOG_WARNING, 0, NULL },
};

static bool
is_hex32(const char *s)
{
	if (s == NULL || strlen(s) != 32)
		return false;
	for (size_t i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
test_kinds(void)
{
	int distinct_ids = 1, distinct_names = 1;

	for (int k = 0; k < AE_EV_MAX_; k++) {
		const char *name = ae_event_name(k);
		const char *id = ae_event_message_id(k);
		int ok = same_str(name, expected[k].name) && is_hex32(id) &&
			 ae_event_priority(k) == expected[k].priority &&
			 ae_event_windows_id(k) == expected[k].windows_id &&
			 same_str(ae_event_windows_source(k), expected[k].source);

		tap_ok(ok, "kind %d (%s): name, 32-hex MESSAGE_ID, priority, Windows event",
		       k, expected[k].name);
		if (!ok)
			tap_diag("  got name %s id %s priority %d windows %u %s",
				 name ? name : "(null)", id ? id : "(null)", ae_event_priority(k),
				 ae_event_windows_id(k),
				 ae_event_windows_source(k) ? ae_event_windows_source(k) : "(null)");
		for (int j = 0; j < k; j++) {
			if (same_str(ae_event_message_id(j), id))
				distinct_ids = 0;
			if (same_str(ae_event_name(j), name))
				distinct_names = 0;
		}
	}
	tap_ok(distinct_ids, "MESSAGE_IDs are distinct");
	tap_ok(distinct_names, "names are distinct");
}

/* --- the datagram --- */

static void
test_format_machine(void)
{
	ae_event ev = {
		.kind = AE_EV_ENROLLED, .machine = true,
		.template_name = "LabMachine", .ca = "CORP-CA1", .request_id = 12,
	};
	char *data;
	fields fs;
	bool all_text = true;

	tap_ok(format_parse("autoenroll", &ev, 4242, &data, &fs), "machine event: datagram parses");
	tap_is_str(val(&fs, "MESSAGE"),
		   "Certificate enrollment for local system: enrolled for LabMachine from CORP-CA1 (request 12)",
		   "default MESSAGE is a sentence with context, template, CA and request");
	tap_is_str(val(&fs, "MESSAGE_ID"), ae_event_message_id(AE_EV_ENROLLED), "MESSAGE_ID");
	tap_is_str(val(&fs, "PRIORITY"), "5", "PRIORITY is notice");
	tap_is_str(val(&fs, "SYSLOG_IDENTIFIER"), "autoenroll", "SYSLOG_IDENTIFIER");
	tap_is_str(val(&fs, "SYSLOG_PID"), "4242", "SYSLOG_PID");
	tap_is_str(val(&fs, "AUTOENROLL_EVENT"), "enrolled", "AUTOENROLL_EVENT");
	tap_is_str(val(&fs, "AUTOENROLL_CONTEXT"), "machine", "AUTOENROLL_CONTEXT");
	tap_is_str(val(&fs, "AUTOENROLL_TEMPLATE"), "LabMachine", "AUTOENROLL_TEMPLATE");
	tap_is_str(val(&fs, "AUTOENROLL_CA"), "CORP-CA1", "AUTOENROLL_CA");
	tap_is_str(val(&fs, "AUTOENROLL_REQUEST_ID"), "12", "AUTOENROLL_REQUEST_ID in decimal");
	tap_is_str(val(&fs, "WINDOWS_EVENT_ID"), "1006", "WINDOWS_EVENT_ID");
	tap_is_str(val(&fs, "WINDOWS_EVENT_SOURCE"), SRC_LC, "WINDOWS_EVENT_SOURCE");
	tap_ok(get(&fs, "AUTOENROLL_USER") == NULL && get(&fs, "AUTOENROLL_RECORD") == NULL &&
	       get(&fs, "AUTOENROLL_HRESULT") == NULL,
	       "NULL user and record, zero hresult: fields absent");
	tap_ok(each_key_once(&fs), "every field once");
	tap_is_int(fs.n, 12, "12 fields");
	for (size_t i = 0; i < fs.n; i++)
		if (fs.f[i].binary)
			all_text = false;
	tap_ok(all_text, "plain values use the KEY=value form");
	free(data);
}

static void
test_format_untrusted(void)
{
	static const char msg[] = "line one\nline two";
	static const char tpl[] = "User\001Evil";
	static const char inject[] = "X\nPRIORITY=0\nMESSAGE_ID=00000000000000000000000000000000";
	ae_event ev = {
		.kind = AE_EV_FAILED, .machine = false, .user = "alice@CORP.TEST",
		.template_name = tpl, .ca = "CA\tTab", .record_id = "r-0001",
		.hresult = 0x80094012u, .message = msg, .scep_profile = "dev1",
	};
	const field *f;
	char *data;
	fields fs;

	tap_ok(format_parse(NULL, &ev, 7, &data, &fs), "user event with control characters parses");
	f = get(&fs, "MESSAGE");
	tap_ok(f != NULL && f->binary && f->len == strlen(msg) && memcmp(f->value, msg, f->len) == 0,
	       "MESSAGE with a newline: binary form, exact bytes");
	f = get(&fs, "AUTOENROLL_TEMPLATE");
	tap_ok(f != NULL && f->binary && f->len == strlen(tpl) && memcmp(f->value, tpl, f->len) == 0,
	       "template with \\001: binary form, exact bytes");
	f = get(&fs, "AUTOENROLL_CA");
	tap_ok(f != NULL && f->binary && f->len == 6, "CA with a tab: binary form");
	tap_is_str(val(&fs, "AUTOENROLL_USER"), "alice@CORP.TEST", "AUTOENROLL_USER");
	tap_is_str(val(&fs, "AUTOENROLL_CONTEXT"), "user", "AUTOENROLL_CONTEXT user");
	tap_is_str(val(&fs, "AUTOENROLL_RECORD"), "r-0001", "AUTOENROLL_RECORD");
	tap_is_str(val(&fs, "AUTOENROLL_SCEP_PROFILE"), "dev1", "AUTOENROLL_SCEP_PROFILE");
	tap_is_str(val(&fs, "AUTOENROLL_HRESULT"), "0x80094012", "AUTOENROLL_HRESULT as 0x%%08X");
	tap_is_str(val(&fs, "PRIORITY"), "3", "PRIORITY is err");
	tap_is_str(val(&fs, "WINDOWS_EVENT_ID"), "13", "failed is AutoEnrollment 13");
	tap_is_str(val(&fs, "WINDOWS_EVENT_SOURCE"), SRC_AE, "AutoEnrollment source");
	tap_ok(get(&fs, "SYSLOG_IDENTIFIER") == NULL, "NULL ident: no SYSLOG_IDENTIFIER");
	tap_ok(get(&fs, "AUTOENROLL_REQUEST_ID") == NULL, "request 0: no AUTOENROLL_REQUEST_ID");
	tap_ok(each_key_once(&fs), "every field once");
	free(data);

	/* A CA or template name trying to add fields of its own. */
	ev.template_name = inject;
	ev.hresult = 0x800700abu;
	tap_ok(format_parse("ae", &ev, 7, &data, &fs), "injection attempt parses");
	tap_ok(count_key(&fs, "PRIORITY") == 1 && strcmp(val(&fs, "PRIORITY"), "3") == 0 &&
	       strcmp(val(&fs, "MESSAGE_ID"), ae_event_message_id(AE_EV_FAILED)) == 0,
	       "a newline in a value cannot add or override fields");
	tap_is_str(val(&fs, "AUTOENROLL_TEMPLATE"), inject, "the injected text stays inside the value");
	tap_is_str(val(&fs, "AUTOENROLL_HRESULT"), "0x800700AB", "hresult in uppercase hex, 8 digits");
	free(data);

	ev.hresult = 0x5;
	tap_ok(format_parse("ae", &ev, 7, &data, &fs), "small hresult parses");
	tap_is_str(val(&fs, "AUTOENROLL_HRESULT"), "0x00000005", "hresult zero-padded");
	free(data);
}

static void
test_default_messages(void)
{
	ae_event ev = {
		.kind = AE_EV_DENIED, .machine = false, .user = "alice@CORP.TEST",
		.template_name = "User", .ca = "CORP-CA1", .request_id = 7, .hresult = 0x80094012u,
	};
	char *data;
	fields fs;

	tap_ok(format_parse("ae", &ev, 1, &data, &fs), "denied event parses");
	tap_is_str(val(&fs, "MESSAGE"),
		   "Certificate enrollment for user alice@CORP.TEST: request denied for User by CORP-CA1 (request 7, error 0x80094012)",
		   "user context, request and error in the default sentence");
	free(data);

	ev = (ae_event){ .kind = AE_EV_SKIPPED, .machine = false, .template_name = "SmartcardLogon" };
	tap_ok(format_parse("ae", &ev, 1, &data, &fs), "skipped event parses");
	tap_is_str(val(&fs, "MESSAGE"),
		   "Certificate enrollment for the user: skipped for SmartcardLogon",
		   "unknown user: \"the user\"");
	tap_ok(get(&fs, "WINDOWS_EVENT_ID") == NULL && get(&fs, "WINDOWS_EVENT_SOURCE") == NULL,
	       "skipped has no Windows event: fields absent");
	tap_is_str(val(&fs, "PRIORITY"), "4", "skipped is a warning");
	free(data);

	ev = (ae_event){ .kind = AE_EV_PULSE_STARTED, .machine = true };
	tap_ok(format_parse("ae", &ev, 1, &data, &fs), "pulse event parses");
	tap_is_str(val(&fs, "MESSAGE"), "Certificate enrollment for local system: autoenrollment started",
		   "pulse-started sentence");
	tap_is_str(val(&fs, "WINDOWS_EVENT_ID"), "2", "pulse-started is AutoEnrollment 2");
	free(data);
}

static void
test_bounds(void)
{
	size_t big = 20000;
	char *msg = malloc(big + 1);
	char *tpl = malloc(big + 1);
	ae_event ev = { .kind = AE_EV_FAILED, .machine = true };
	const field *f;
	char *data;
	fields fs;

	memset(msg, 'a', big);
	msg[big] = '\0';
	memset(tpl, 't', big);
	tpl[big] = '\0';
	ev.message = msg;
	ev.template_name = tpl;
	tap_ok(format_parse("ae", &ev, 1, &data, &fs), "huge values: datagram parses");
	f = get(&fs, "MESSAGE");
	tap_ok(f != NULL && f->len == 8192, "MESSAGE cut to 8 KiB");
	f = get(&fs, "AUTOENROLL_TEMPLATE");
	tap_ok(f != NULL && f->len > 0 && f->len <= 1024, "other values bounded too");
	free(data);

	/* A two-byte character across the cut is dropped whole. */
	msg[8191] = (char)0xC3;
	msg[8192] = (char)0xA9;
	tap_ok(format_parse("ae", &ev, 1, &data, &fs), "cut inside UTF-8: datagram parses");
	f = get(&fs, "MESSAGE");
	tap_ok(f != NULL && f->len == 8191, "cut backs off to a character boundary");
	free(data);
	free(msg);
	free(tpl);
}

static void
test_invalid_kind(void)
{
	ae_event ev = { .kind = AE_EV_MAX_, .machine = true };
	char *strict = getenv("AE_STRICT") ? strdup(getenv("AE_STRICT")) : NULL;
	size_t len = 99;

	/* A bad kind is a caller's bug: under AE_STRICT it aborts, which is
	 * what make check wants elsewhere but not here. */
	unsetenv("AE_STRICT");
	tap_ok(ae_event_name(AE_EV_MAX_) == NULL && ae_event_message_id(AE_EV_MAX_) == NULL &&
	       ae_event_windows_id(AE_EV_MAX_) == 0,
	       "out-of-range kind: no name, no id");
	tap_ok(ae_event_format_native("ae", &ev, 1, &len) == NULL &&
	       ae_event_format_native("ae", NULL, 1, &len) == NULL,
	       "out-of-range kind or NULL event: no datagram");
	ae_event_emit("ae", &ev);
	ae_event_emit("ae", NULL);
	tap_ok(1, "emit of a bad event returns");
	if (strict != NULL)
		setenv("AE_STRICT", strict, 1);
	free(strict);
}

/* --- delivery --- */

static int
bind_dgram(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One datagram from FD within TIMEOUT_MS, or -1. */
static ssize_t
recv_within(int fd, char *buf, size_t size, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	return recv(fd, buf, size, 0);
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
test_emit(const char *dir)
{
	static char buf[65536];
	char sock[256], missing[256], dead[256], toolong[300];
	char pid[32];
	ae_event ev = {
		.kind = AE_EV_RENEWED, .machine = true,
		.template_name = "LabMachine", .ca = "CORP-CA1", .request_id = 12,
	};
	ae_event uev = {
		.kind = AE_EV_FAILED, .machine = false, .user = "alice@CORP.TEST",
		.template_name = "User", .ca = "CORP-CA1", .hresult = 0x80094012u,
		.message = "the CA said:\nno\ttemplate",
	};
	fields fs;
	ssize_t n;
	int fd, dfd, before, after, received = 0;

	snprintf(sock, sizeof(sock), "%s/journal", dir);
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	snprintf(dead, sizeof(dead), "%s/dead", dir);
	snprintf(toolong, sizeof(toolong), "%s/%0200d", dir, 0);
	fd = bind_dgram(sock);
	tap_ok(fd >= 0, "test journal socket bound");
	/* A socket file nobody listens on: sending gets ECONNREFUSED. */
	dfd = bind_dgram(dead);
	if (dfd >= 0)
		close(dfd);

	setenv("AE_JOURNAL_SOCKET", sock, 1);
	syslog_calls = 0;
	ae_event_emit("autoenroll-test", &ev);
	n = recv_within(fd, buf, sizeof(buf), 2000);
	tap_ok(n > 0 && parse_native(buf, (size_t)n, &fs), "emit: datagram received and parses");
	snprintf(pid, sizeof(pid), "%u", (unsigned)getpid());
	tap_is_str(val(&fs, "SYSLOG_PID"), pid, "SYSLOG_PID is ours");
	tap_is_str(val(&fs, "SYSLOG_IDENTIFIER"), "autoenroll-test", "SYSLOG_IDENTIFIER");
	tap_is_str(val(&fs, "AUTOENROLL_EVENT"), "renewed", "AUTOENROLL_EVENT");
	tap_is_str(val(&fs, "MESSAGE_ID"), ae_event_message_id(AE_EV_RENEWED), "MESSAGE_ID");
	tap_is_str(val(&fs, "WINDOWS_EVENT_ID"), "1001", "renewed is Lifecycle-System 1001");
	tap_is_int(syslog_calls, 0, "journal took it: no syslog");

	ae_event_emit("autoenroll-test", &uev);
	n = recv_within(fd, buf, sizeof(buf), 2000);
	tap_ok(n > 0 && parse_native(buf, (size_t)n, &fs) &&
	       strcmp(val(&fs, "MESSAGE"), uev.message) == 0,
	       "emit: a multi-line message arrives intact");

	/* "-": straight to syslog, nothing on the socket. */
	setenv("AE_JOURNAL_SOCKET", "-", 1);
	syslog_calls = 0;
	ae_event_emit("autoenroll-test", &ev);
	tap_ok(recv_within(fd, buf, sizeof(buf), 100) < 0, "\"-\": nothing sent to the journal");
	tap_is_int(syslog_calls, 1, "\"-\": one syslog call");
	tap_is_int(syslog_pri, AE_LOG_NOTICE | T_LOG_DAEMON, "machine: LOG_NOTICE | LOG_DAEMON");
	tap_is_str(syslog_text,
		   "renewed: Certificate enrollment for local system: renewed for LabMachine from CORP-CA1 (request 12)"
		   " [template=LabMachine ca=CORP-CA1 request=12]",
		   "syslog line carries the event, message and fields");

	ae_event_emit("autoenroll-test", &uev);
	tap_is_int(syslog_pri, AE_LOG_ERR | T_LOG_USER, "user: LOG_ERR | LOG_USER");
	tap_is_str(syslog_text,
		   "failed: the CA said:\\x0ano\\x09template"
		   " [user=alice@CORP.TEST template=User ca=CORP-CA1 hresult=0x80094012]",
		   "syslog line: control characters escaped, one line");

	/* Journal not there: fallback. */
	setenv("AE_JOURNAL_SOCKET", missing, 1);
	syslog_calls = 0;
	ae_event_emit("autoenroll-test", &ev);
	tap_is_int(syslog_calls, 1, "missing socket: emit returns, falls back to syslog");
	setenv("AE_JOURNAL_SOCKET", dead, 1);
	syslog_calls = 0;
	ae_event_emit("autoenroll-test", &ev);
	tap_is_int(syslog_calls, 1, "nobody listening (ECONNREFUSED): falls back to syslog");
	setenv("AE_JOURNAL_SOCKET", toolong, 1);
	syslog_calls = 0;
	ae_event_emit("autoenroll-test", &ev);
	tap_is_int(syslog_calls, 1, "path too long for sun_path: falls back to syslog");
	tap_is_int(openlog_calls, 0, "openlog never called");

	/* 100 emits over every path, then the same descriptors as before. */
	before = count_fds();
	syslog_calls = 0;
	for (int i = 0; i < 100; i++) {
		const char *paths[] = { sock, missing, dead, "-", toolong };
		const char *p = paths[i % 5];

		setenv("AE_JOURNAL_SOCKET", p, 1);
		ae_event_emit("autoenroll-test", (i & 1) ? &uev : &ev);
		if (p == sock && recv_within(fd, buf, sizeof(buf), 2000) > 0)
			received++;
	}
	after = count_fds();
	tap_ok(before > 0 && before == after, "no descriptor leaked over 100 emits (%d before, %d after)",
	       before, after);
	tap_is_int(received, 20, "the 20 emits to the socket arrived");
	tap_is_int(syslog_calls, 80, "the 80 others went to syslog");

	unsetenv("AE_JOURNAL_SOCKET");
	close(fd);
	unlink(sock);
	unlink(dead);
}

int
main(void)
{
	char dir[] = "/tmp/test-events.XXXXXX";

	test_kinds();
	test_format_machine();
	test_format_untrusted();
	test_default_messages();
	test_bounds();
	test_invalid_kind();

	if (mkdtemp(dir) == NULL) {
		tap_ok(0, "temporary directory");
		return tap_done();
	}
	test_emit(dir);
	rmdir(dir);
	return tap_done();
}
