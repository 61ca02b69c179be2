/*
 * fuzz-csr.c - ae_csr_describe on arbitrary bytes: the PKCS#10 and CMS
 * decoders, the PKIData walker and the Microsoft attribute and extension
 * decoders behind `autoenroll request --print`.
 *
 * Seeds (tests/fuzz/corpus/csr): a User request and a Workstation CMC
 * renewal as ae_csr_build / ae_csr_build_renewal write them, the User
 * request in an id-data SignedData (openssl cms -sign -binary -nodetach),
 * a request with SANs from openssl req -addext, and a truncated renewal.
 */
#include "config.h"

#include "csr.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "openssl-setup.h"

static int
fuzz_one(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	char *text = NULL;

	if (ctx == NULL)
		return 0;
	if (ae_csr_describe(ctx, data, size, &text) == AE_OK && text == NULL)
		abort(); /* success must give text */
	free(text);
	ae_ctx_free(ctx);
	return 0;
}
