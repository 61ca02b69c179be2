/*
 * fuzz-record.c - the store's record parser on arbitrary bytes (a record
 * file damaged by a bad disk or edited by hand).
 */
#include "config.h"

#include "store.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_record *r = NULL, *again = NULL;
	char *text;

	if (ctx == NULL)
		return 0;
	if (ae_record_parse(ctx, (const char *)data, size, "fuzz.rec", &r) == AE_OK) {
		/* What parses must format and parse back to the same fields. */
		text = ae_record_format(r);
		if (text == NULL || ae_record_parse(ctx, text, strlen(text), "again", &again) != AE_OK ||
		    strcmp(again->id, r->id) != 0 || again->state != r->state ||
		    again->major != r->major || again->request_id != r->request_id)
			__builtin_trap();
		free(text);
		ae_record_free(again);
	} else if (r != NULL) {
		__builtin_trap();
	}
	ae_record_free(r);
	ae_ctx_free(ctx);
	return 0;
}
