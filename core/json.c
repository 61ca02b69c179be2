/*
 * json.c - pretty-printed JSON output.
 */
#include "config.h"

#include "json.h"

#include <stdlib.h>
#include <string.h>

void
ae_json_init(ae_json *j)
{
	memset(j, 0, sizeof(*j));
	ae_buf_init(&j->buf);
}

static void
indent(ae_json *j)
{
	ae_buf_puts(&j->buf, "\n");
	for (int i = 0; i < j->depth; i++)
		ae_buf_puts(&j->buf, "  ");
}

static void
put_string(ae_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	ae_buf_puts(b, "\"");
	while (*p != '\0') {
		unsigned char c = *p;
		size_t n = 0;
		if (c == '"' || c == '\\') {
			ae_buf_printf(b, "\\%c", c);
			p++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			ae_buf_printf(b, "\\u%04x", c);
			p++;
			continue;
		}
		if (c < 0x80) {
			ae_buf_append(b, p, 1);
			p++;
			continue;
		}
		/* Validate one UTF-8 sequence; anything else becomes U+FFFD. */
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3;
		bool ok = n > 0;
		for (size_t k = 1; ok && k <= n; k++)
			ok = (p[k] & 0xc0) == 0x80;
		if (ok && c == 0xe0 && p[1] < 0xa0)
			ok = false; /* overlong */
		if (ok && c == 0xed && p[1] >= 0xa0)
			ok = false; /* surrogates */
		if (ok && c == 0xf0 && p[1] < 0x90)
			ok = false;
		if (ok && c == 0xf4 && p[1] >= 0x90)
			ok = false;
		if (ok) {
			ae_buf_append(b, p, n + 1);
			p += n + 1;
		} else {
			ae_buf_puts(b, "\\ufffd");
			p++;
		}
	}
	ae_buf_puts(b, "\"");
}

static void
start_value(ae_json *j, const char *key)
{
	if (j->depth > 0) {
		if (j->need_comma[j->depth])
			ae_buf_puts(&j->buf, ",");
		j->need_comma[j->depth] = true;
		indent(j);
	}
	if (key != NULL) {
		put_string(&j->buf, key);
		ae_buf_puts(&j->buf, ": ");
	}
}

static void
begin(ae_json *j, const char *key, const char *open)
{
	start_value(j, key);
	ae_buf_puts(&j->buf, open);
	if (j->depth + 1 < AE_JSON_MAX_DEPTH)
		j->depth++;
	j->need_comma[j->depth] = false;
}

static void
end(ae_json *j, const char *close)
{
	bool had = j->need_comma[j->depth];
	if (j->depth > 0)
		j->depth--;
	if (had)
		indent(j);
	ae_buf_puts(&j->buf, close);
}

void ae_json_begin_object(ae_json *j, const char *key) { begin(j, key, "{"); }
void ae_json_end_object(ae_json *j) { end(j, "}"); }
void ae_json_begin_array(ae_json *j, const char *key) { begin(j, key, "["); }
void ae_json_end_array(ae_json *j) { end(j, "]"); }

void
ae_json_string(ae_json *j, const char *key, const char *value)
{
	start_value(j, key);
	if (value == NULL)
		ae_buf_puts(&j->buf, "null");
	else
		put_string(&j->buf, value);
}

void
ae_json_int(ae_json *j, const char *key, long long value)
{
	start_value(j, key);
	ae_buf_printf(&j->buf, "%lld", value);
}

void
ae_json_bool(ae_json *j, const char *key, bool value)
{
	start_value(j, key);
	ae_buf_puts(&j->buf, value ? "true" : "false");
}

void
ae_json_null(ae_json *j, const char *key)
{
	start_value(j, key);
	ae_buf_puts(&j->buf, "null");
}

void
ae_json_strv(ae_json *j, const char *key, char *const *values)
{
	ae_json_begin_array(j, key);
	for (size_t i = 0; values != NULL && values[i] != NULL; i++)
		ae_json_string(j, NULL, values[i]);
	ae_json_end_array(j);
}

char *
ae_json_finish(ae_json *j)
{
	ae_buf_puts(&j->buf, "\n");
	return ae_buf_steal(&j->buf);
}
