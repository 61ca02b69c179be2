/*
 * notify-text.c - the notification's words, from untrusted text.
 */
#include "config.h"

#include "notify-text.h"
#include "util.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* Limits on what untrusted text may take of the notification. */
#define MAX_ITEMS 8
#define MAX_TEMPLATE_CHARS 64
#define MAX_REASON_CHARS 160
#define MAX_EXPIRY_CHARS 320 /* the expiry warning says why nothing renewed */
#define MAX_LABEL_CHARS 32

/* Decodes one well-formed UTF-8 sequence at S (LEN > 0 bytes left): its
 * length, or 0 for anything else (overlong, surrogate, above U+10FFFF,
 * cut short), which the caller replaces. */
static size_t
utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t c;
	size_t n;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Invisible characters that could make the text look like something
 * else: zero-width characters, line separators, bidi overrides. */
static bool
is_format_char(uint32_t cp)
{
	return (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f) ||
	       cp == 0xfeff;
}

/* Appends LEN bytes of IN to B as one line of at most MAX characters:
 * controls and format characters dropped, bad UTF-8 replaced (D-Bus
 * refuses strings that are not UTF-8), white space collapsed, and &, <, >
 * escaped when the server parses markup. */
static void
append_clean(ae_buf *b, const char *in, size_t len, size_t max, bool markup)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, chars = 0;
	bool space = false;

	while (i < len) {
		const unsigned char *start = s + i;
		uint32_t cp = 0;
		size_t n = utf8_decode(start, len - i, &cp);

		i += n == 0 ? 1 : n;
		if (n == 0)
			cp = 0xfffd;
		if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') {
			space = chars > 0;
			continue;
		}
		if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || is_format_char(cp))
			continue;
		if (chars + (space ? 1 : 0) >= max) {
			ae_buf_puts(b, "\xe2\x80\xa6"); /* … */
			return;
		}
		if (space) {
			ae_buf_puts(b, " ");
			chars++;
			space = false;
		}
		chars++;
		if (n == 0)
			ae_buf_puts(b, "\xef\xbf\xbd");
		else if (markup && cp == '&')
			ae_buf_puts(b, "&amp;");
		else if (markup && cp == '<')
			ae_buf_puts(b, "&lt;");
		else if (markup && cp == '>')
			ae_buf_puts(b, "&gt;");
		else
			ae_buf_append(b, start, n);
	}
}

/* Whether WORD occurs in S as a word of its own ("PIN", not "SPINE"). */
static bool
has_word(const char *s, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = strstr(s, word); p != NULL; p = strstr(p + 1, word)) {
		bool before = p == s || !isalnum((unsigned char)p[-1]);
		bool after = !isalnum((unsigned char)p[wl]);
		if (before && after)
			return true;
	}
	return false;
}

/* A few words on what the template needs from the user.  The engine's
 * sentence is written for logs and too long for a notification; when it
 * is none we recognise, it is shown, shortened. */
static void
append_need(ae_buf *b, const char *reason, bool markup)
{
	if (has_word(reason, "PIN")) {
		/* keystore-p11 names the token: token "LABEL" needs a PIN */
		const char *label = strstr(reason, "token \"");
		const char *end = label != NULL ? strchr(label + 7, '"') : NULL;

		if (end != NULL && end > label + 7) {
			ae_buf_puts(b, "needs the PIN of token \xe2\x80\x9c"); /* “ */
			append_clean(b, label + 7, (size_t)(end - label - 7), MAX_LABEL_CHARS, markup);
			ae_buf_puts(b, "\xe2\x80\x9d"); /* ” */
		} else {
			ae_buf_puts(b, "needs the PIN of your token");
		}
	} else if (strcasestr(reason, "smartcard") != NULL || strcasestr(reason, "smart card") != NULL ||
	           strcasestr(reason, "insert") != NULL) {
		ae_buf_puts(b, "needs your smartcard: insert it");
	} else if (strcasestr(reason, "consent") != NULL || strcasestr(reason, "interaction") != NULL) {
		ae_buf_puts(b, "needs your consent");
	} else {
		append_clean(b, reason, strlen(reason), MAX_REASON_CHARS, markup);
	}
}

/* One line per item (at most MAX_ITEMS, then "and N more"): the template
 * in bold, then what it needs (NEED) or the reason as it is, at most MAX
 * characters. */
static void
append_items(ae_buf *b, char *const *items, int n_items, bool markup, bool need, size_t max)
{
	for (int i = 0; i < n_items && i < MAX_ITEMS; i++) {
		const char *eq = strchr(items[i], '=');
		size_t name_len = eq != NULL ? (size_t)(eq - items[i]) : strlen(items[i]);
		const char *reason = eq != NULL ? eq + 1 : "";

		if (markup)
			ae_buf_puts(b, "<b>");
		append_clean(b, items[i], name_len, MAX_TEMPLATE_CHARS, markup);
		ae_buf_puts(b, markup ? "</b>: " : ": ");
		if (need)
			append_need(b, reason, markup);
		else
			append_clean(b, reason, strlen(reason), max, markup);
		ae_buf_puts(b, "\n");
	}
	if (n_items > MAX_ITEMS)
		ae_buf_printf(b, "and %d more\n", n_items - MAX_ITEMS);
}

/* The body: one line per template, then what to do.  A heap string, or
 * NULL when out of memory. */
char *
ae_notify_body(char *const *items, int n_items, bool markup, bool actions)
{
	ae_buf b;

	ae_buf_init(&b);
	append_items(&b, items, n_items, markup, true, MAX_REASON_CHARS);
	/* A server without actions shows no button to select. */
	ae_buf_puts(&b, actions ? "Select \xe2\x80\x9c" "Enroll\xe2\x80\x9d to continue."
	                              : "Run \xe2\x80\x9c" "autoenroll pulse --user --interactive\xe2\x80\x9d to continue.");
	return ae_buf_steal(&b);
}

char *
ae_notify_expiry_body(char *const *items, int n_items, bool markup)
{
	ae_buf b;

	ae_buf_init(&b);
	append_items(&b, items, n_items, markup, false, MAX_EXPIRY_CHARS);
	ae_buf_puts(&b, "Tell your administrator, or run \xe2\x80\x9c" "autoenroll pulse --user --wait\xe2\x80\x9d once the cause is fixed.");
	return ae_buf_steal(&b);
}
