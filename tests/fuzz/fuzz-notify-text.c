/*
 * fuzz-notify-text.c - the notification body from arbitrary items (what
 * AD, a CA or the engine's quoting of them can put in TEMPLATE=REASON):
 * the first byte picks markup, actions and the expiry warning's body, the rest is NUL-separated
 * items, as argv gives them.  Checks what the notification server relies
 * on: valid UTF-8, no control character but newlines, no markup but our
 * own <b>, entities well formed, at most 8 item lines.
 */
#include "config.h"

#include "notify-text.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
valid_utf8(const unsigned char *s)
{
	while (*s) {
		size_t n = *s < 0x80 ? 1 : (*s & 0xe0) == 0xc0 ? 2 : (*s & 0xf0) == 0xe0 ? 3 : (*s & 0xf8) == 0xf0 ? 4 : 0;
		if (n == 0 || (n == 2 && *s < 0xc2))
			return false;
		for (size_t i = 1; i < n; i++)
			if ((s[i] & 0xc0) != 0x80)
				return false;
		s += n;
	}
	return true;
}

static void
check(const char *body, bool markup)
{
	size_t lines = 0;

	if (!valid_utf8((const unsigned char *)body))
		__builtin_trap();
	for (const char *p = body; *p; p++) {
		if (*p == '\n')
			lines++;
		else if ((unsigned char)*p < 0x20 || *p == 0x7f)
			__builtin_trap();
		if (!markup)
			continue;
		if (*p == '<') {
			if (strncmp(p, "<b>", 3) != 0 && strncmp(p, "</b>", 4) != 0)
				__builtin_trap();
			p = strchr(p, '>');
		} else if (*p == '>') {
			__builtin_trap();
		} else if (*p == '&' && strncmp(p, "&amp;", 5) != 0 && strncmp(p, "&lt;", 4) != 0 &&
		           strncmp(p, "&gt;", 4) != 0) {
			__builtin_trap();
		}
	}
	if (lines > 9) /* 8 items and "and N more" */
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *items[64], *body;
	bool markup, actions;
	int n = 0;

	if (size < 1)
		return 0;
	markup = data[0] & 1;
	actions = data[0] & 2;
	copy = malloc(size);
	if (copy == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	for (char *p = copy; p < copy + size - 1 && n < 64; p += strlen(p) + 1)
		items[n++] = p;
	/* The third bit: the expiry warning's body instead. */
	body = data[0] & 4 ? ae_notify_expiry_body(items, n, markup) : ae_notify_body(items, n, markup, actions);
	if (body != NULL)
		check(body, markup);
	free(body);
	free(copy);
	return 0;
}
