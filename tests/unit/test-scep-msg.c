/*
 * test-scep-msg.c - GetCACaps lists, GetCACert answers (the lab NDES's
 * chain with its two RA certificates; a single CA certificate), NDES's
 * admin page in ASCII and UTF-16LE, and the refusal page.
 */
#include "config.h"

#include "scep-msg.h"
#include "tap.h"

#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static char *
slurp(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/tests/data/scep/%s", SRCDIR, name);
	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void
test_caps(ae_ctx *ctx)
{
	static const char ndes[] = "AES\r\nDES3\r\nGetNextCACert\r\nPOSTPKIOperation\r\nRenewal\r\nSHA-1\r\n"
	                           "SHA-256\r\nSHA-512\r\n";
	unsigned caps = 0;
	bool weak = true;
	char buf[200];

	tap_ok(ae_scep_caps_parse(ctx, ndes, strlen(ndes), &caps) == AE_OK &&
	       caps == (AE_SCEP_CAP_AES | AE_SCEP_CAP_DES3 | AE_SCEP_CAP_GETNEXTCACERT | AE_SCEP_CAP_POST |
	                AE_SCEP_CAP_RENEWAL | AE_SCEP_CAP_SHA1 | AE_SCEP_CAP_SHA256 | AE_SCEP_CAP_SHA512),
	       "NDES's list with CRLF");
	tap_ok(ae_scep_cipher(caps, &weak) == EVP_aes_128_cbc() && !weak, "AES-128-CBC where AES is offered");
	tap_ok(ae_scep_digest(caps, &weak) == EVP_sha256() && !weak, "SHA-256 where offered");
	ae_scep_caps_str(caps, buf, sizeof(buf));
	tap_ok(strcmp(buf, "AES DES3 GetNextCACert POSTPKIOperation Renewal SHA-1 SHA-256 SHA-512") == 0,
	       "caps as text: %s", buf);

	tap_ok(ae_scep_caps_parse(ctx, "scepstandard\n", 13, &caps) == AE_OK &&
	       caps == (AE_SCEP_CAP_SCEPSTANDARD | AE_SCEP_CAP_AES | AE_SCEP_CAP_POST | AE_SCEP_CAP_SHA256),
	       "SCEPStandard (any case) implies AES, POSTPKIOperation, SHA-256");
	tap_ok(ae_scep_caps_parse(ctx, "Renewal\nSHA-512\nSHA-256\nSHA-1\nDES3\n", 35, &caps) == AE_OK &&
	       !(caps & AE_SCEP_CAP_POST), "an old NDES (jscep #49): no POST");
	tap_ok(ae_scep_cipher(caps, &weak) == EVP_des_ede3_cbc() && weak, "DES3 when no AES, flagged weak");
	tap_ok(ae_scep_caps_parse(ctx, "", 0, &caps) == AE_OK && caps == 0, "an empty answer offers nothing");
	tap_ok(ae_scep_digest(caps, &weak) == EVP_sha1() && weak, "then SHA-1, flagged weak (never MD5)");
	tap_ok(ae_scep_cipher(caps, &weak) == EVP_des_cbc() && weak, "and single DES, flagged weak");
	tap_ok(ae_scep_caps_parse(ctx, "  FooBar \nSHA-256 \n", 19, &caps) == AE_OK && caps == AE_SCEP_CAP_SHA256,
	       "unknown keywords ignored, blanks trimmed");
	tap_ok(ae_scep_caps_parse(ctx, "AES\n\x01\x02", 6, &caps) == AE_ERR_INVALID &&
	       strstr(ae_get_message(ctx), "not text") != NULL, "binary answer refused");
}

static void
test_ca_certs(ae_ctx *ctx)
{
	ae_scep_ca_certs c;
	size_t len = 0;
	char *der = slurp("getcacert-ndes.p7", &len), cn[256];

	tap_ok(der != NULL && ae_scep_ca_certs_parse(ctx, "application/x-x509-ca-ra-cert", (uint8_t *)der, len,
	                                             &c) == AE_OK,
	       "the lab NDES's GetCACert parses: %s", ae_get_message(ctx));
	if (c.all != NULL) {
		tap_ok(sk_X509_num(c.all) == 4, "four certificates (two RA, the CA, the root)");
		X509_NAME_oneline(X509_get_subject_name(c.ca), cn, sizeof(cn));
		tap_ok(strstr(cn, "CORP-CA1") != NULL, "the CA is the RA certificates' issuer: %s", cn);
		tap_ok(c.ra_sign != c.ra_encrypt && c.ra_sign != c.ca && c.ra_encrypt != c.ca,
		       "separate RA signing and encryption certificates");
		tap_ok((X509_get_key_usage(c.ra_sign) & KU_DIGITAL_SIGNATURE) &&
		       !(X509_get_key_usage(c.ra_sign) & KU_KEY_ENCIPHERMENT), "signing: digitalSignature");
		tap_ok((X509_get_key_usage(c.ra_encrypt) & KU_KEY_ENCIPHERMENT) &&
		       !(X509_get_key_usage(c.ra_encrypt) & KU_DIGITAL_SIGNATURE), "encryption: keyEncipherment");
	}
	ae_scep_ca_certs_clear(&c);
	tap_ok(ae_scep_ca_certs_parse(ctx, NULL, (uint8_t *)der, len, &c) == AE_OK && c.ra_sign != c.ca,
	       "without a Content-Type: the same, from the bytes");
	ae_scep_ca_certs_clear(&c);
	tap_ok(ae_scep_ca_certs_parse(ctx, "application/x-x509-ca-cert", (uint8_t *)der, len, &c) != AE_OK &&
	       c.all == NULL, "a chain announced as one certificate is refused: %s", ae_get_message(ctx));
	free(der);

	der = slurp("getcacert-single.der", &len);
	tap_ok(der != NULL && ae_scep_ca_certs_parse(ctx, "application/x-x509-ca-cert", (uint8_t *)der, len,
	                                             &c) == AE_OK &&
	       c.ca == c.ra_sign && c.ca == c.ra_encrypt, "one CA certificate plays every role");
	ae_scep_ca_certs_clear(&c);
	tap_ok(der != NULL && ae_scep_ca_certs_parse(ctx, "application/x-x509-ca-ra-cert", (uint8_t *)der, len - 1,
	                                             &c) != AE_OK && c.all == NULL,
	       "truncated: refused, nothing kept");
	free(der);
	tap_ok(ae_scep_ca_certs_parse(ctx, NULL, (const uint8_t *)"", 0, &c) == AE_ERR_INVALID,
	       "an empty answer is refused");
}

static void
test_admin(ae_ctx *ctx)
{
	size_t len = 0;
	char *page, *pw = NULL;

	page = slurp("admin-page.html", &len);
	tap_ok(page && ae_scep_admin_challenge(ctx, page, len, &pw) == AE_OK && pw &&
	       strcmp(pw, "A94A1A17A0E246A0") == 0, "the challenge from NDES's page");
	free(pw);
	free(page);
	pw = NULL;
	page = slurp("admin-page-utf16.html", &len);
	tap_ok(page && ae_scep_admin_challenge(ctx, page, len, &pw) == AE_OK && pw &&
	       strcmp(pw, "A94A1A17A0E246A0") == 0, "the same page in UTF-16LE");
	free(pw);
	free(page);
	pw = NULL;
	page = slurp("admin-denied.html", &len);
	tap_ok(page && ae_scep_admin_challenge(ctx, page, len, &pw) == AE_ERR_DENIED && pw == NULL &&
	       strstr(ae_get_message(ctx), "Enroll on NDES's templates"), "the refusal page: %s",
	       ae_get_message(ctx));
	free(page);
	tap_ok(ae_scep_admin_challenge(ctx, "<html>The enrollment challenge password is: <B> </B>", 52, &pw) ==
	       AE_ERR_INVALID && pw == NULL, "an empty password is refused");
	tap_ok(ae_scep_admin_challenge(ctx, "<html>hello</html>", 18, &pw) == AE_ERR_INVALID,
	       "another page: %s", ae_get_message(ctx));
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();

	test_caps(ctx);
	test_ca_certs(ctx);
	test_admin(ctx);
	ae_ctx_free(ctx);
	return tap_done();
}
