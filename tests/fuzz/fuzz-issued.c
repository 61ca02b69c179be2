/*
 * fuzz-issued.c - what a CA returns, on arbitrary bytes: the issued
 * certificate's template identification and the PKCS#7/CMS chain blob.
 */
#include "config.h"

#include "issued.h"
#include "pki.h"

#include <stddef.h>
#include <stdint.h>

#include "openssl-setup.h"

static int
fuzz_one(const uint8_t *data, size_t size)
{
	/* Two bytes (big-endian): the certificate's length; the rest is the
	 * chain. */
	ae_ctx *ctx = ae_ctx_new();
	STACK_OF(X509) *chain = NULL;
	X509 *cert = NULL;
	size_t split;

	if (ctx == NULL || size < 2) {
		ae_ctx_free(ctx);
		return 0;
	}
	split = (size_t)data[0] << 8 | data[1];
	if (split > size - 2)
		split = size - 2;
	if (ae_x509_from_der(ctx, data + 2, split, &cert) == AE_OK) {
		ae_cert_template ct;
		if (ae_cert_template_read(ctx, cert, &ct) == AE_OK)
			ae_cert_template_clear(&ct);
		X509_free(cert);
	}
	if (ae_certs_from_pkcs7(ctx, data + 2 + split, size - 2 - split, &chain) == AE_OK) {
		if (chain == NULL)
			__builtin_trap(); /* success always gives a stack */
		sk_X509_pop_free(chain, X509_free);
	} else if (chain != NULL) {
		__builtin_trap();
	}
	ae_ctx_free(ctx);
	return 0;
}
