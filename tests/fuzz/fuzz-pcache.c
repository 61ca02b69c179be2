/*
 * fuzz-pcache.c - the policy cache file (core/pcache.c) on arbitrary
 * bytes: parse, and what parses formats and parses back the same.
 */
#include "config.h"

#include "pcache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_pcache *c = NULL, *again = NULL;

	if (ctx == NULL)
		return 0;
	if (ae_pcache_parse(ctx, (const char *)data, size, &c) == AE_OK) {
		char *text = ae_pcache_format(c);
		if (text != NULL) {
			if (ae_pcache_parse(ctx, text, strlen(text), &again) != AE_OK || again->count != c->count ||
			    again->loaded != c->loaded || again->nrefusals != c->nrefusals)
				__builtin_trap(); /* what we write we must read back */
			ae_pcache_free(again);
			free(text);
		}
		ae_pcache_free(c);
	}
	ae_ctx_free(ctx);
	return 0;
}
