/*
 * test-wstep.c - MS-WSTEP answers (ae_wstep_parse): the spec's issued
 * response (4.1.1.2, shortened tokens), a pending answer with its token
 * reference (3.1.4.1.3.2), a refusal with CertificateEnrollmentWSDetail
 * (3.1.4.1.3.7), the WCF internal fault without detail (4.1.4.2), and what
 * the SOAP parser refuses: DTDs (entities), UTF-16, more than one element
 * in the Body, malformed XML; the key exchange token (4.1.2.2,
 * ae_wstep_parse_ket).  The files are also the seeds of
 * tests/fuzz/corpus/wstep.
 */
#include "config.h"

#include "ces.h"
#include "tap.h"

#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ae_err
parse(ae_ctx *ctx, const char *name, bool retrieval, ae_ca_answer *a)
{
	size_t len = 0;
	char *xml = tap_slurp("tests/fuzz/corpus/wstep", name, &len);
	ae_err err;

	if (xml == NULL) {
		tap_ok(false, "read %s", name);
		memset(a, 0, sizeof(*a));
		return AE_ERR_IO;
	}
	err = ae_wstep_parse(ctx, "the CES at https://ces.test/CES", xml, len, retrieval, a);
	free(xml);
	return err;
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_ca_answer a;

	tap_ok(parse(ctx, "issued.xml", false, &a) == AE_OK && a.outcome == AE_CA_ISSUED && a.request_id == 61 &&
	               a.cert_len == 9 && memcmp(a.cert, "\x30\x07\x02\x01\x01\x02\x02\x03\x04", 9) == 0 &&
	               a.chain_len == 6 && a.message && strcmp(a.message, "Issued") == 0,
	       "issued (MS-WSTEP 4.1.1.2): RequestID 61, the certificate, the PKCS#7, the disposition message");
	ae_ca_answer_clear(&a);
	tap_ok(parse(ctx, "pending.xml", false, &a) == AE_OK && a.outcome == AE_CA_PENDING && a.request_id == 65 &&
	               a.cert == NULL,
	       "pending: RequestID 65, a SecurityTokenReference and no certificate");
	ae_ca_answer_clear(&a);
	tap_ok(parse(ctx, "denied.xml", true, &a) == AE_OK && a.outcome == AE_CA_REFUSED && a.hresult == 0x80094014 &&
	               a.request_id == 21 && a.final && a.message && strstr(a.message, "0x80094014") != NULL,
	       "denied on retrieval: refused with ErrorCode -2146877420 = 0x80094014, RequestID 21, final");
	ae_ca_answer_clear(&a);
	tap_ok(parse(ctx, "denied.xml", false, &a) == AE_OK && !a.final, "the same fault on a submission is not a final retrieval");
	ae_ca_answer_clear(&a);
	tap_ok(parse(ctx, "internal-fault.xml", false, &a) == AE_ERR_NETWORK &&
	               strstr(ae_get_message(ctx), "unable to process the request") != NULL,
	       "a fault without CertificateEnrollmentWSDetail (4.1.4.2) is the server's failure, in its words");
	tap_ok(parse(ctx, "dtd.xml", false, &a) == AE_ERR_INVALID && strstr(ae_get_message(ctx), "DTD") != NULL,
	       "a DTD (entity expansion) is refused before parsing: %s", ae_get_message(ctx));
	tap_ok(parse(ctx, "utf16.xml", false, &a) == AE_ERR_INVALID && strstr(ae_get_message(ctx), "UTF-16") != NULL,
	       "UTF-16 is refused");
	tap_ok(parse(ctx, "two-bodies.xml", false, &a) == AE_ERR_INVALID, "two elements in the Body are refused");
	tap_ok(parse(ctx, "malformed.xml", false, &a) == AE_ERR_INVALID &&
	               strstr(ae_get_message(ctx), "malformed XML") != NULL,
	       "malformed XML: %s", ae_get_message(ctx));
	tap_ok(ae_wstep_parse(ctx, "x", "", 0, false, &a) == AE_ERR_INVALID, "an empty answer is refused");
	{
		/* MS-WSTEP 4.1.2.2: the key exchange token, the spec's sample
		 * (an exchange certificate FB_EntSubCA-Xchg, EKU 1.3.6.1.4.1.311.21.5) */
		size_t len = 0;
		char *xml = tap_slurp("tests/fuzz/corpus/wstep", "ket.xml", &len), name[128] = "";
		X509 *x = NULL;
		ae_clear_message(ctx);
		tap_ok(xml != NULL && ae_wstep_parse_ket(ctx, "the CES at https://ces.test/CES", xml, len, &x) == AE_OK &&
		               x != NULL &&
		               X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, name, sizeof(name)) > 0 &&
		               strcmp(name, "FB_EntSubCA-Xchg") == 0,
		       "key exchange token (MS-WSTEP 4.1.2.2): the CA exchange certificate FB_EntSubCA-Xchg");
		X509_free(x);
		x = (X509 *)1;
		tap_ok(xml != NULL && ae_wstep_parse_ket(ctx, "the CES", xml, len / 2, &x) != AE_OK && x == NULL,
		       "a truncated key exchange token answer: refused, no certificate");
		free(xml);
		xml = tap_slurp("tests/fuzz/corpus/wstep", "issued.xml", &len);
		x = (X509 *)1;
		tap_ok(xml != NULL && ae_wstep_parse_ket(ctx, "the CES", xml, len, &x) == AE_ERR_INVALID && x == NULL &&
		               strstr(ae_get_message(ctx), "KeyExchangeToken") != NULL,
		       "an issued answer where the key exchange token was asked for: refused, saying so");
		free(xml);
		xml = tap_slurp("tests/fuzz/corpus/wstep", "denied.xml", &len);
		tap_ok(xml != NULL && ae_wstep_parse_ket(ctx, "the CES", xml, len, &x) == AE_ERR_DENIED &&
		               strstr(ae_get_message(ctx), "0x80094014") != NULL,
		       "a fault instead of the key exchange token: the server's reason and HRESULT");
		free(xml);
	}
	ae_ctx_free(ctx);
	return tap_done();
}
