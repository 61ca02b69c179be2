/*
 * util.c - string vectors and byte buffers.
 */
#include "config.h"

#include "util.h"
#include "testhooks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

size_t
ae_strv_len(char *const *v)
{
	size_t n = 0;
	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

void
ae_strv_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

bool
ae_strv_append(char ***v, const char *s)
{
	size_t n = ae_strv_len(*v);
	char *copy = strdup(s);
	char **nv;

	if (copy == NULL)
		return false;
	nv = realloc(*v, (n + 2) * sizeof(char *));
	if (nv == NULL) {
		free(copy);
		return false;
	}
	nv[n] = copy;
	nv[n + 1] = NULL;
	*v = nv;
	return true;
}

bool
ae_strv_contains(char *const *v, const char *s)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

bool
ae_strv_contains_nocase(char *const *v, const char *s)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		if (strcasecmp(v[i], s) == 0)
			return true;
	return false;
}

char **
ae_strv_dup(char *const *v)
{
	char **out = NULL;

	if (v == NULL)
		return calloc(1, sizeof(char *));
	for (size_t i = 0; v[i] != NULL; i++) {
		if (!ae_strv_append(&out, v[i])) {
			ae_strv_free(out);
			return NULL;
		}
	}
	if (out == NULL)
		out = calloc(1, sizeof(char *));
	return out;
}

void
ae_buf_init(ae_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void
ae_buf_clear(ae_buf *b)
{
	free(b->data);
	ae_buf_init(b);
}

static bool
ae_buf_reserve(ae_buf *b, size_t extra)
{
	size_t need;
	char *nd;

	if (b->failed)
		return false;
	if (extra > SIZE_MAX - b->len - 1) {
		b->failed = true;
		return false;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	nd = realloc(b->data, cap);
	if (nd == NULL) {
		b->failed = true;
		return false;
	}
	b->data = nd;
	b->cap = cap;
	return true;
}

void
ae_buf_append(ae_buf *b, const void *data, size_t len)
{
	if (!ae_buf_reserve(b, len))
		return;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
ae_buf_puts(ae_buf *b, const char *s)
{
	ae_buf_append(b, s, strlen(s));
}

size_t
ae_utf16le_next(const uint8_t *s, size_t len, size_t i, uint32_t *cp)
{
	uint32_t hi = (uint32_t)s[i] | (uint32_t)s[i + 1] << 8, lo;

	*cp = hi;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return 0;
	if (hi < 0xd800 || hi > 0xdbff)
		return 2;
	if (i + 3 >= len)
		return 0;
	lo = (uint32_t)s[i + 2] | (uint32_t)s[i + 3] << 8;
	if (lo < 0xdc00 || lo > 0xdfff)
		return 0;
	*cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
	return 4;
}

void
ae_buf_put_utf8(ae_buf *b, uint32_t cp)
{
	char t[4];
	size_t n;

	if (cp < 0x80) {
		t[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		t[0] = (char)(0xc0 | (cp >> 6));
		t[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		t[0] = (char)(0xe0 | (cp >> 12));
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		t[0] = (char)(0xf0 | (cp >> 18));
		t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		t[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	ae_buf_append(b, t, n);
}

void
ae_buf_printf(ae_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !ae_buf_reserve(b, (size_t)n)) {
		b->failed = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *
ae_buf_steal(ae_buf *b)
{
	char *d;

	if (b->failed) {
		ae_buf_clear(b);
		return NULL;
	}
	if (b->data == NULL) {
		if (!ae_buf_reserve(b, 0))
			return NULL;
		b->data[0] = '\0'; /* an empty buffer is still a string */
	}
	d = b->data;
	ae_buf_init(b);
	return d;
}

double
ae_monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool
ae_has_control(const char *s, size_t len, size_t *at)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) {
			if (at != NULL)
				*at = i;
			return true;
		}
	}
	return false;
}

void
ae_buf_escaped(ae_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '\\': ae_buf_puts(b, "\\\\"); break;
		case '\n': ae_buf_puts(b, "\\n"); break;
		case '\r': ae_buf_puts(b, "\\r"); break;
		case '\t': ae_buf_puts(b, "\\t"); break;
		default:
			if (c < 0x20 || c == 0x7f)
				ae_buf_printf(b, "\\x%02x", c);
			else
				ae_buf_append(b, s, 1);
		}
	}
}

bool
ae_unescape(char *s)
{
	char *w = s;

	for (const char *r = s; *r != '\0'; r++) {
		if (*r != '\\') {
			*w++ = *r;
			continue;
		}
		switch (*++r) {
		case '\\': *w++ = '\\'; break;
		case 'n': *w++ = '\n'; break;
		case 'r': *w++ = '\r'; break;
		case 't': *w++ = '\t'; break;
		case 'x': {
			int hi = ae_hex_digit(r[1]), lo = hi < 0 ? -1 : ae_hex_digit(r[2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return false;
			*w++ = (char)(hi << 4 | lo);
			r += 2;
			break;
		}
		default:
			return false; /* includes a lone backslash at the end */
		}
	}
	*w = '\0';
	return true;
}

int
ae_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
ae_tmp_name_stale(const char *name)
{
	const char *p = strstr(name, ".tmp.");
	size_t n = strlen(name);
	char *end;
	long pid;

	if (p != NULL) {
		p += 5;
	} else if (n > 4 && strcmp(name + n - 4, ".tmp") == 0) {
		/* "<file>.<pid>.tmp": the digits before ".tmp" */
		p = name + n - 4;
		while (p > name && p[-1] >= '0' && p[-1] <= '9')
			p--;
		if (p == name || p[-1] != '.')
			return false;
	} else {
		return false;
	}
	if (*p < '0' || *p > '9')
		return false;
	errno = 0;
	pid = strtol(p, &end, 10);
	if (errno != 0 || pid <= 0 || (*end != '.' && *end != '\0'))
		return false;
	return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

unsigned
ae_remove_stale_tmp(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	unsigned removed = 0;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (ae_tmp_name_stale(de->d_name) && unlinkat(fd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

#ifdef AE_TEST_HOOKS
const char *
ae_test_env(const char *name)
{
	char var[64];

	if (snprintf(var, sizeof(var), "AE_TEST_%s", name) >= (int)sizeof(var))
		return NULL;
	return secure_getenv(var);
}

/* $AE_TEST_CRASH_AT is a point's name, or "#N": the Nth point this
 * process reaches, whichever it is (tests/bench/crash.sh draws N).
 * $AE_TEST_CRASH_LOG: a file where each point reached is appended, one
 * line each, before the kill: the last line names where it died. */
void
ae_test_crash_point(const char *point)
{
	static unsigned long reached;
	const char *at = ae_test_env("CRASH_AT");
	const char *log = ae_test_env("CRASH_LOG");
	bool die;

	reached++;
	if (log != NULL) {
		int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0) {
			dprintf(fd, "%s\n", point);
			close(fd);
		}
	}
	if (at == NULL)
		return;
	if (at[0] == '#')
		die = strtoul(at + 1, NULL, 10) == reached;
	else
		die = strcmp(at, point) == 0;
	if (die)
		raise(SIGKILL);
}
#endif

static int64_t
now_offset(void)
{
	const char *env = ae_test_env("NOW_OFFSET");
	char *end = NULL;
	long long v;

	if (env == NULL || *env == '\0')
		return 0;
	v = strtoll(env, &end, 10);
	return end != env && *end == '\0' ? (int64_t)v : 0;
}

int64_t
ae_now(void)
{
	return (int64_t)time(NULL) + now_offset();
}

bool
ae_now_shifted(void)
{
	return now_offset() != 0;
}

char *
ae_strdup_printf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

char *
ae_read_file(const char *path, size_t max, size_t *len_out)
{
	FILE *f = fopen(path, "re");
	ae_buf b;
	char chunk[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	ae_buf_init(&b);
	while (b.len < max && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ae_buf_append(&b, chunk, n < max - b.len ? n : max - b.len);
	fclose(f);
	if (len_out != NULL)
		*len_out = b.len;
	return ae_buf_steal(&b);
}

bool
ae_parse_generalized_time(const char *s, time_t *out)
{
	static const int max[6] = { 9999, 12, 31, 23, 59, 60 };
	static const int width[6] = { 4, 2, 2, 2, 2, 2 };
	int f[6];
	struct tm tm;
	size_t at = 0;

	*out = 0;
	if (s == NULL)
		return false;
	for (int i = 0; i < 6; i++) {
		f[i] = 0;
		for (int k = 0; k < width[i]; k++, at++) {
			if (s[at] < '0' || s[at] > '9')
				return false;
			f[i] = f[i] * 10 + (s[at] - '0');
		}
		if (f[i] > max[i] || (i >= 1 && i <= 2 && f[i] == 0))
			return false;
	}
	if (s[at] == '.' || s[at] == ',') {
		at++;
		if (s[at] < '0' || s[at] > '9')
			return false;
		while (s[at] >= '0' && s[at] <= '9')
			at++;
	}
	if (s[at] != 'Z' || s[at + 1] != '\0')
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = f[0] - 1900;
	tm.tm_mon = f[1] - 1;
	tm.tm_mday = f[2];
	tm.tm_hour = f[3];
	tm.tm_min = f[4];
	tm.tm_sec = f[5];
	*out = timegm(&tm);
	return true;
}

ae_err
ae_read_password_file(ae_ctx *ctx, const char *path, const char *setting, char **out)
{
	struct stat st;
	char buf[1025];
	ssize_t n;
	int fd;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ae_set_message(ctx, AE_ERR_IO, "cannot read the secret file %s (%s): %s", path, setting,
		                      strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_uid != getuid() && st.st_uid != 0) ||
	    (st.st_mode & 077) != 0) {
		close(fd);
		return ae_set_message(ctx, AE_ERR_CONFIG,
		                      "the secret file %s (%s) must be a regular file of yours or root's, mode 0600 or 0400",
		                      path, setting);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return ae_set_message(ctx, AE_ERR_IO, "cannot read the secret file %s: %s", path, strerror(errno));
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0') {
		explicit_bzero(buf, sizeof(buf));
		return ae_set_message(ctx, AE_ERR_CONFIG, "the secret file %s (%s) is empty", path, setting);
	}
	*out = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return *out != NULL ? AE_OK : ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
}
