/*
 * fuzz-certpair.c - one crossCertificatePair value (X.509 CertificatePair,
 * RFC 4523) as a DC, or a forged object in CN=AIA, can hold it: the
 * OpenSSL template decoder, the checks around it, and the intermediates
 * store it feeds (policy/ldap-place.c).
 */
#include "config.h"

#include "pki.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "openssl-setup.h"

static int
fuzz_one(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_value v = { data, size };
	ae_attr a = { "crossCertificatePair", &v, 1 };
	ae_entry e = { "CN=Fuzz-CA,CN=AIA", &a, 1 };
	STACK_OF(X509) *st = NULL;
	X509 *fwd = NULL, *rev = NULL;

	if (ctx == NULL)
		return 0;
	if (ae_cert_pair_from_der(ctx, data, size, &fwd, &rev) == AE_OK) {
		/* At least one half, whenever it says yes. */
		if (fwd == NULL && rev == NULL)
			__builtin_trap();
	} else if (fwd != NULL || rev != NULL) {
		__builtin_trap(); /* outputs NULL until success */
	}
	if (ae_pki_add_cross_certs(ctx, &st, &e) == AE_OK &&
	    sk_X509_num(st) != (fwd != NULL) + (rev != NULL))
		__builtin_trap(); /* the store gets exactly what the decoder gives */
	X509_free(fwd);
	X509_free(rev);
	sk_X509_pop_free(st, X509_free);
	ae_ctx_free(ctx);
	return 0;
}
