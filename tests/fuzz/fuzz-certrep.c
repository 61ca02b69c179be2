/*
 * fuzz-certrep.c - an SCEP server's CertRep (RFC 8894 3.3.2) on arbitrary
 * bytes: parsed, then its signature checked against a fixed certificate
 * and its envelope opened with a fixed key (both must fail cleanly on
 * anything that is not signed and encrypted by them).
 */
#include "config.h"

#include "scep-msg.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdlib.h>

#include "openssl-setup.h"

static EVP_PKEY *key;
static X509 *cert;

static void
setup(void)
{
	if (key != NULL)
		return;
	key = EVP_RSA_gen(1024);
	cert = X509_new();
	X509_set_pubkey(cert, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC, (const unsigned char *)"fuzz", -1,
	                           -1, 0);
	X509_set_issuer_name(cert, X509_get_subject_name(cert));
	X509_gmtime_adj(X509_getm_notBefore(cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
	X509_sign(cert, key, EVP_sha256());
}

static int
fuzz_one(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_scep_certrep rep;
	uint8_t *c = NULL, *p7 = NULL;
	size_t clen, p7len;

	setup();
	if (ctx == NULL)
		return 0;
	if (ae_scep_certrep_parse(ctx, data, size, &rep) == AE_OK) {
		if (rep.status != AE_SCEP_SUCCESS && rep.status != AE_SCEP_FAILURE && rep.status != AE_SCEP_PENDING)
			__builtin_trap();
		if (rep.status == AE_SCEP_FAILURE && (rep.fail_info < 0 || rep.fail_info > 4))
			__builtin_trap();
		(void)ae_scep_fail_info_str(rep.fail_info);
		(void)ae_scep_certrep_verify(ctx, &rep, cert);
		if (rep.status == AE_SCEP_SUCCESS &&
		    ae_scep_certrep_open(ctx, &rep, cert, key, key, &c, &clen, &p7, &p7len) == AE_OK &&
		    (c == NULL || p7 == NULL))
			__builtin_trap();
		free(c);
		free(p7);
	} else if (rep.tid != NULL || rep.envelope != NULL || rep.cms_ != NULL) {
		__builtin_trap(); /* failure keeps nothing */
	}
	ae_scep_certrep_clear(&rep);
	ae_ctx_free(ctx);
	return 0;
}
