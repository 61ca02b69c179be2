/*
 * fuzz-wstep.c - ae_wstep_parse on arbitrary bytes: the RequestSecurityToken
 * answer a CES (or whoever answers in its name) sends, through the SOAP
 * parser (libxml2, net/soap.c); and ae_wstep_parse_ket on the same bytes,
 * the answer to a key exchange token request (the CA exchange certificate).
 */
#include "config.h"

#include "ces.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_ca_answer a;
	X509 *xchg = NULL;

	if (ctx == NULL)
		return 0;
	for (int retrieval = 0; retrieval < 2; retrieval++) {
		if (ae_wstep_parse(ctx, "the CES", (const char *)data, size, retrieval, &a) == AE_OK) {
			if (a.cert_len > size || a.chain_len > size || (a.cert == NULL) != (a.cert_len == 0) ||
			    (a.chain == NULL) != (a.chain_len == 0) || (a.outcome == AE_CA_ISSUED && a.cert == NULL) ||
			    (a.final && !retrieval))
				__builtin_trap();
			if (a.message != NULL && strlen(a.message) > size)
				__builtin_trap();
		} else if (a.cert != NULL || a.chain != NULL || a.message != NULL) {
			__builtin_trap();
		}
		ae_ca_answer_clear(&a);
	}
	if (ae_wstep_parse_ket(ctx, "the CES", (const char *)data, size, &xchg) == AE_OK) {
		if (xchg == NULL)
			__builtin_trap();
	} else if (xchg != NULL) {
		__builtin_trap();
	}
	X509_free(xchg);
	ERR_clear_error();
	ae_ctx_free(ctx);
	return 0;
}
