/*
 * fuzz-secdesc.c - fuzz target: arbitrary bytes as an nTSecurityDescriptor,
 * parsed and then checked for both rights with a fixed token.
 *
 * Built as a libFuzzer binary with --enable-fuzzing, and as a replay
 * program (with replay.c) that make check runs over the seed corpus.
 */
#include "config.h"

#include "secdesc.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Domain Users, a domain controller's groups and the well-known
	 * SIDs: the seeds' ACEs name these, so mutations keep matching. */
	static const char *const sids[] = {
		"S-1-5-21-1047456448-2337630968-2720937775-513",
		"S-1-5-21-1047456448-2337630968-2720937775-516",
		"S-1-5-9",
	};
	ae_ctx *ctx = ae_ctx_new();
	ae_secdesc *sd = NULL;
	ae_token tok;

	if (ctx == NULL)
		return 0;
	ae_token_init(&tok);
	for (size_t i = 0; i < sizeof(sids) / sizeof(sids[0]); i++)
		ae_token_add_string(ctx, &tok, sids[i]);
	ae_token_add_wellknown(ctx, &tok);

	if (ae_secdesc_parse(ctx, data, size, &sd) == AE_OK) {
		ae_access a = ae_secdesc_check(sd, &tok, AE_RIGHT_ENROLL);
		ae_access b = ae_secdesc_check(sd, &tok, AE_RIGHT_AUTOENROLL);
		/* Invariants any descriptor must keep. */
		if (a.ace_index >= (int)sd->ace_count || b.ace_index >= (int)sd->ace_count ||
		    (a.by_deny && a.allowed) || (b.by_deny && b.allowed))
			abort();
		if (!sd->has_dacl && (!a.allowed || !b.allowed))
			abort();
		ae_secdesc_free(sd);
	} else if (sd != NULL) {
		abort(); /* an error must leave the output NULL */
	}
	ae_token_clear(&tok);
	ae_ctx_free(ctx);
	return 0;
}
