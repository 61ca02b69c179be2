/*
 * test-pki.c - enrollment service objects and CA certificate validation,
 * with the real pKIEnrollmentService of a Windows Server 2016 CA.
 */
#include "config.h"

#include "ldif.h"
#include "pki.h"
#include "tap.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static ae_entry
with_value(const ae_entry *src, const char *attr, const uint8_t *data, size_t len,
           ae_attr *attrs, ae_value *val)
{
	ae_entry e = *src;
	memcpy(attrs, src->attrs, src->nattrs * sizeof(ae_attr));
	for (size_t i = 0; i < src->nattrs; i++) {
		if (strcasecmp(attrs[i].name, attr) == 0) {
			val->data = data;
			val->len = len;
			attrs[i].values = val;
			attrs[i].nvalues = 1;
		}
	}
	e.attrs = attrs;
	return e;
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();
	ldif_file f;
	char err[256];
	const ae_entry *es;
	const ae_attr *cert;
	ae_ca ca;
	ae_pki pki;
	X509 *x = NULL;

	if (ldif_read_file(SRCDIR "/tests/data/windows-enrollment-service.ldif", &f, err, sizeof(err)) != 0) {
		tap_ok(0, "fixture: %s", err);
		return tap_done();
	}
	es = &f.entries[0];
	tap_ok(ae_ca_from_entry(ctx, es, &ca) == AE_OK, "real enrollment service parses");
	tap_is_str(ca.name, "dom-ADCS-CA", "cn");
	tap_is_str(ca.host, "ADCS.dom.local", "dNSHostName");
	tap_is_int(ae_strv_len(ca.templates), 11, "the 11 templates a new CA publishes");
	tap_ok(ae_strv_contains(ca.templates, "Machine") && ae_strv_contains(ca.templates, "User"),
	       "User and Machine among them");
	tap_is_int(ca.flags, 2, "flags");
	tap_ok(ca.cert != NULL, "cACertificate decodes");
	tap_is_str(ca.subject, "CN=dom-ADCS-CA,DC=dom,DC=local", "subject");
	tap_ok(ca.thumbprint != NULL && strlen(ca.thumbprint) == 40, "SHA-1 thumbprint");

	/* Validation: with no roots from AD, nothing is trusted. */
	memset(&pki, 0, sizeof(pki));
	pki.cas = calloc(1, sizeof(ae_ca));
	pki.cas[0] = ca;
	pki.ca_count = 1;
	ae_pki_validate(ctx, &pki, 0);
	tap_ok(!pki.cas[0].valid && pki.cas[0].invalid_reason &&
	       strstr(pki.cas[0].invalid_reason, "Certification Authorities"),
	       "without its root in AD the CA is not valid: %s",
	       pki.cas[0].invalid_reason ? pki.cas[0].invalid_reason : "");
	/* This CA is a self-signed root: publishing it as a root makes it valid. */
	tap_ok(ae_pki_add_certs(ctx, &pki.roots, es, "cACertificate") == AE_OK &&
	       sk_X509_num(pki.roots) == 1, "root added from cACertificate");
	ae_pki_validate(ctx, &pki, 0);
	tap_ok(pki.cas[0].valid, "with its root the CA validates");
	/* At a time before its notBefore (2023-06-10) it does not. */
	ae_pki_validate(ctx, &pki, 1600000000);
	tap_ok(!pki.cas[0].valid && strstr(pki.cas[0].invalid_reason, "not yet valid"),
	       "before notBefore: %s", pki.cas[0].invalid_reason ? pki.cas[0].invalid_reason : "");
	ae_pki_clear(&pki);

	/* Bad cACertificate values: the CA stays listed, invalid, with why. */
	cert = ae_entry_get(es, "cACertificate");
	{
		ae_attr *attrs = calloc(es->nattrs, sizeof(ae_attr));
		ae_value v;
		ae_entry e;
		const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIF\n";
		const uint8_t junk[] = { 0x30, 0x82, 0x05, 0x61, 0x01, 0x02 };
		uint8_t *trail = malloc(cert->values[0].len + 3);

		e = with_value(es, "cACertificate", (const uint8_t *)pem, sizeof(pem) - 1, attrs, &v);
		tap_ok(ae_ca_from_entry(ctx, &e, &ca) == AE_OK && ca.cert == NULL && !ca.valid &&
		       ca.invalid_reason && strstr(ca.invalid_reason, "PEM"),
		       "PEM instead of DER: %s", ca.invalid_reason ? ca.invalid_reason : "");
		ae_ca_clear(&ca);

		e = with_value(es, "cACertificate", junk, sizeof(junk), attrs, &v);
		tap_ok(ae_ca_from_entry(ctx, &e, &ca) == AE_OK && ca.cert == NULL &&
		       ca.invalid_reason && strstr(ca.invalid_reason, "not a DER certificate"),
		       "truncated DER: %s", ca.invalid_reason ? ca.invalid_reason : "");
		ae_ca_clear(&ca);

		memcpy(trail, cert->values[0].data, cert->values[0].len);
		memcpy(trail + cert->values[0].len, "abc", 3);
		e = with_value(es, "cACertificate", trail, cert->values[0].len + 3, attrs, &v);
		tap_ok(ae_ca_from_entry(ctx, &e, &ca) == AE_OK && ca.cert == NULL &&
		       ca.invalid_reason && strstr(ca.invalid_reason, "trailing"),
		       "trailing bytes: %s", ca.invalid_reason ? ca.invalid_reason : "");
		ae_ca_clear(&ca);

		e = with_value(es, "cACertificate", (const uint8_t *)"", 0, attrs, &v);
		tap_ok(ae_ca_from_entry(ctx, &e, &ca) == AE_OK && ca.cert == NULL && !ca.valid,
		       "empty value: CA invalid");
		ae_ca_clear(&ca);
		free(trail);
		free(attrs);
	}
	{
		/* Every truncation of the real certificate is refused cleanly. */
		int clean = 1;
		for (size_t len = 0; len < cert->values[0].len; len += 7) {
			if (ae_x509_from_der(ctx, cert->values[0].data, len, &x) == AE_OK || x != NULL)
				clean = 0;
			X509_free(x);
			x = NULL;
		}
		tap_ok(clean, "every truncation of a real CA certificate is rejected");
	}
	{
		/* crossCertificatePair: SEQUENCE { [0] forward, [1] reverse },
		 * explicit tags, at least one; the real certificate twice. */
		const ae_value *c = &cert->values[0];
		size_t n = c->len, body = 2 * (n + 4);
		uint8_t *der = malloc(body + 4), *q = der;
		X509 *fw = NULL, *rv = NULL;
		ae_value v;
		ae_attr a = { "crossCertificatePair", &v, 1 };
		ae_entry e = { "CN=X,CN=AIA", &a, 1 };
		STACK_OF(X509) *st = NULL;
		bool both, one, none, trunc;

		*q++ = 0x30, *q++ = 0x82, *q++ = (uint8_t)(body >> 8), *q++ = (uint8_t)body;
		for (int k = 0; k < 2; k++) {
			*q++ = (uint8_t)(0xa0 + k), *q++ = 0x82, *q++ = (uint8_t)(n >> 8), *q++ = (uint8_t)n;
			memcpy(q, c->data, n);
			q += n;
		}
		both = ae_cert_pair_from_der(ctx, der, body + 4, &fw, &rv) == AE_OK && fw != NULL && rv != NULL &&
		       X509_cmp(fw, rv) == 0;
		X509_free(fw);
		X509_free(rv);
		/* The forward half alone. */
		der[2] = (uint8_t)((n + 4) >> 8), der[3] = (uint8_t)(n + 4);
		one = ae_cert_pair_from_der(ctx, der, n + 8, &fw, &rv) == AE_OK && fw != NULL && rv == NULL;
		X509_free(fw);
		trunc = ae_cert_pair_from_der(ctx, der, n + 7, &fw, &rv) != AE_OK && fw == NULL && rv == NULL;
		der[1] = 0;
		none = ae_cert_pair_from_der(ctx, der, 2, &fw, &rv) != AE_OK && fw == NULL && rv == NULL &&
		       strstr(ae_get_message(ctx), "neither") != NULL;
		tap_ok(both && one && trunc && none,
		       "crossCertificatePair: both halves, the forward alone; truncated and empty pairs refused");
		v.data = der;
		v.len = 2; /* the empty pair: skipped, not fatal */
		tap_ok(ae_pki_add_cross_certs(ctx, &st, &e) == AE_OK && sk_X509_num(st) == 0,
		       "a bad crossCertificatePair value is skipped");
		sk_X509_pop_free(st, X509_free);
		free(der);
	}
	ldif_free(&f);
	ae_ctx_free(ctx);
	return tap_done();
}
