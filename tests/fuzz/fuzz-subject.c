/*
 * fuzz-subject.c - the subject parser (ae_csr_parse_subject) on arbitrary
 * text, up to the first NUL: what parses is a Name of at least one RDN
 * that encodes to DER and decodes back to an equal Name.
 */
#include "config.h"

#include "csr.h"

#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "openssl-setup.h"

static int
fuzz_one(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	char *s = malloc(size + 1);
	X509_NAME *name = NULL, *back = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	int len;

	if (ctx == NULL || s == NULL)
		goto out;
	memcpy(s, data, size);
	s[size] = '\0';
	if (ae_csr_parse_subject(ctx, s, &name) != AE_OK) {
		if (name != NULL)
			__builtin_trap();
		goto out;
	}
	if (X509_NAME_entry_count(name) < 1 || (len = i2d_X509_NAME(name, &der)) <= 0)
		__builtin_trap();
	p = der;
	back = d2i_X509_NAME(NULL, &p, len);
	if (back == NULL || p != der + len || X509_NAME_cmp(name, back) != 0)
		__builtin_trap();
out:
	X509_NAME_free(back);
	OPENSSL_free(der);
	X509_NAME_free(name);
	free(s);
	ae_ctx_free(ctx);
	return 0;
}
