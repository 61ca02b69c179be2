/*
 * fuzz-pinentry.c - the Assuan response parser of the PIN dialog on
 * arbitrary bytes (what a broken or hostile pinentry can send), split into
 * lines as the conversation splits them.
 */
#include "config.h"

#include "pinentry.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	const char *p = (const char *)data, *end = p + size;
	char pin[32];
	size_t pin_len = 0;

	if (ctx == NULL)
		return 0;
	pin[0] = '\0';
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		ae_assuan_kind kind;
		unsigned long code;

		if (ae_pinentry_parse_line(ctx, p, len, &kind, &code, pin, sizeof(pin), &pin_len) == AE_OK) {
			/* The PIN stays a C string inside its buffer. */
			if (pin_len >= sizeof(pin) || pin[pin_len] != '\0' || strlen(pin) != pin_len)
				__builtin_trap();
			if (kind == AE_ASSUAN_ERR && code > 0xffffffffUL)
				__builtin_trap();
			if (kind == AE_ASSUAN_OK || kind == AE_ASSUAN_ERR)
				pin_len = 0, pin[0] = '\0';
		} else {
			/* A rejected line starts the next answer afresh. */
			pin_len = 0;
			pin[0] = '\0';
		}
		p += len + (nl != NULL ? 1 : 0);
	}
	ae_ctx_free(ctx);
	return 0;
}
