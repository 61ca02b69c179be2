/*
 * fuzz-icpr.c - ae_icpr_decode on arbitrary bytes: the CertServerRequest
 * answer a CA (or a man in the middle of an unsealed test setup) sends.
 */
#include "config.h"

#include "icpr.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_icpr_result r;

	if (ctx == NULL)
		return 0;
	if (ae_icpr_decode(ctx, data, size, &r) == AE_OK) {
		if (r.cert_len > size || r.chain_len > size || (r.cert == NULL) != (r.cert_len == 0) ||
		    (r.chain == NULL) != (r.chain_len == 0))
			__builtin_trap();
		if (r.message != NULL && strlen(r.message) > size * 2)
			__builtin_trap();
	} else if (r.cert != NULL || r.chain != NULL || r.message != NULL) {
		__builtin_trap();
	}
	ae_icpr_result_clear(&r);
	ae_ctx_free(ctx);
	return 0;
}
