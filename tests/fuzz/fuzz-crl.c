/*
 * fuzz-crl.c - our side of CRLs on arbitrary bytes (HTTP itself is
 * libcurl's): an ldap:// location as a certificate names it, the values
 * of an LDAP attribute holding a CRL, and the CRL itself, judged as a base
 * CRL and as a delta CRL against a fixed base.  So that the checks behind
 * the signature are reached, a CRL that decodes is re-signed with the
 * fixed CA key before it is judged.  Also what an AIA caIssuers location
 * serves (net/aia.c: a certificate in DER or PEM, or a PKCS#7 bundle) and
 * the locations a certificate names.
 */
#include "config.h"

#include "aia.h"
#include "crl.h"
#include "pki.h"
#include "util.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "openssl-setup.h"

static X509 *ca, *leaf;
static EVP_PKEY *key;
static X509_CRL *base;
static const time_t now = 1767225600; /* 2026-01-01 */

static X509 *
make_cert(const char *cn, long serial, X509 *issuer)
{
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
	ASN1_TIME_set(X509_getm_notBefore(x), now - 86400);
	ASN1_TIME_set(X509_getm_notAfter(x), now + 86400);
	X509_set_pubkey(x, key);
	X509_sign(x, key, EVP_sha256());
	return x;
}

static void
init(void)
{
	ASN1_INTEGER *n = ASN1_INTEGER_new();

	key = EVP_EC_gen("P-256");
	ca = make_cert("corp-CA", 1, NULL);
	leaf = make_cert("ws1", 7, ca);
	base = X509_CRL_new();
	X509_CRL_set_version(base, 1);
	X509_CRL_set_issuer_name(base, X509_get_subject_name(ca));
	{
		ASN1_TIME *t = ASN1_TIME_set(NULL, now - 3600);
		X509_CRL_set1_lastUpdate(base, t);
		ASN1_TIME_free(t);
	}
	ASN1_INTEGER_set(n, 5);
	X509_CRL_add1_ext_i2d(base, NID_crl_number, n, 0, 0);
	ASN1_INTEGER_free(n);
	X509_CRL_sign(base, key, EVP_sha256());
}

static void
judge(ae_ctx *ctx, X509_CRL *crl)
{
	ae_revocation r;
	char *reason = NULL, **urls = NULL;

	/* Ours now: the CA's name and signature, whatever the input had. */
	if (X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1 || X509_CRL_sign(crl, key, EVP_sha256()) <= 0)
		return;
	if (ae_crl_usable(ctx, crl, ca, now, "(base)", false) == AE_OK) {
		if (ae_crl_status(ctx, leaf, crl, "(base)", NULL, NULL, &r, &reason) == AE_OK &&
		    (r > AE_REVOCATION_UNKNOWN || (r == AE_REVOCATION_REVOKED) != (reason != NULL)))
			__builtin_trap(); /* a reason exactly when revoked */
		free(reason);
		reason = NULL;
	}
	if (ae_crl_usable(ctx, crl, ca, now, "(delta)", true) == AE_OK && ae_crl_delta_fits(ctx, base, crl, "(delta)") == AE_OK) {
		if (ae_crl_status(ctx, leaf, base, "(base)", crl, "(delta)", &r, &reason) == AE_OK &&
		    (r > AE_REVOCATION_UNKNOWN || (r == AE_REVOCATION_REVOKED) != (reason != NULL)))
			__builtin_trap();
		free(reason);
	}
	if (ae_crl_delta_locations(ctx, crl, leaf, &urls) == AE_OK) {
		for (size_t i = 0; urls != NULL && urls[i] != NULL; i++)
			if (strncasecmp(urls[i], "ldap://", 7) != 0 && strncasecmp(urls[i], "http://", 7) != 0 &&
			    strncasecmp(urls[i], "https://", 8) != 0)
				__builtin_trap(); /* only locations we know how to reach */
	} else if (urls != NULL) {
		__builtin_trap();
	}
	for (size_t i = 0; urls != NULL && urls[i] != NULL; i++)
		free(urls[i]);
	free(urls);
}

static int
fuzz_one(const uint8_t *data, size_t size)
{
	ae_ctx *ctx;
	char *url, *dn = NULL, *attr = NULL;
	ae_value values[4];
	size_t nvalues = 0, at = 0;
	X509_CRL *crl = NULL;

	if (key == NULL)
		init();
	if ((ctx = ae_ctx_new()) == NULL)
		return 0;

	/* The location, as the C string a certificate gives. */
	if ((url = malloc(size + 1)) != NULL) {
		memcpy(url, data, size);
		url[size] = '\0';
		if (ae_crl_ldap_url(ctx, url, &dn, &attr) == AE_OK) {
			if (dn == NULL || attr == NULL || dn[0] == '\0')
				__builtin_trap();
			for (const char *p = dn; *p != '\0'; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					__builtin_trap(); /* nothing that could end or split the DN */
		} else if (dn != NULL || attr != NULL) {
			__builtin_trap(); /* outputs stay NULL on error */
		}
		free(dn);
		free(attr);
		free(url);
	}

	/* The attribute's values: the input cut where its first byte says. */
	if (size > 0) {
		size_t parts = (size_t)(data[0] & 3) + 1, step = (size - 1) / parts;
		at = 1;
		for (size_t i = 0; i < parts; i++) {
			size_t len = i + 1 == parts ? size - at : step;
			values[nvalues].data = data + at;
			values[nvalues].len = len;
			nvalues++;
			at += len;
		}
	}
	if (ae_crl_from_values(ctx, values, nvalues, "(ldap)", &crl) == AE_OK) {
		if (crl == NULL)
			__builtin_trap();
		judge(ctx, crl);
		X509_CRL_free(crl);
		crl = NULL;
	} else if (crl != NULL) {
		__builtin_trap();
	}
	/* The whole input as one CRL (HTTP's body). */
	if (ae_crl_decode(ctx, data, size, "(http)", &crl) == AE_OK) {
		judge(ctx, crl);
		X509_CRL_free(crl);
	}
	/* ... as what an AIA location serves, and each certificate's own
	 * AIA locations. */
	{
		STACK_OF(X509) *certs = NULL;
		if (ae_aia_decode(ctx, data, size, "(aia)", &certs) == AE_OK) {
			if (certs == NULL || sk_X509_num(certs) == 0)
				__builtin_trap();
			for (int i = 0; i < sk_X509_num(certs); i++) {
				char **urls = NULL;
				if (ae_aia_locations(ctx, sk_X509_value(certs, i), &urls) == AE_OK)
					for (size_t k = 0; urls != NULL && urls[k] != NULL; k++)
						if (strlen(urls[k]) == 0)
							__builtin_trap();
				ae_strv_free(urls);
			}
		} else if (certs != NULL) {
			__builtin_trap();
		}
		sk_X509_pop_free(certs, X509_free);
		ae_clear_message(ctx);
	}
	ae_ctx_free(ctx);
	return 0;
}
