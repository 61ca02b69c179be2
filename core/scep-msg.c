/*
 * scep-msg.c - GetCACaps, GetCACert and NDES's admin page, parsed.
 * RFC 8894 3.5 (capabilities), 4.1 and 4.2 (GetCACaps, GetCACert);
 * NDES's admin page as it is served (tests/lab/README.md, "The lab NDES").
 */
#include "config.h"

#include "scep-msg.h"

#include "issued.h"
#include "pki.h"

#include <ctype.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A GetCACaps body is a handful of short lines; anything bigger is not one. */
#define CAPS_MAX 4096
/* NDES's page is about 2 KB in UTF-16; bound the work on a hostile one. */
#define PAGE_MAX (256 * 1024)
#define CHALLENGE_MAX 128

static const struct {
	const char *word;
	unsigned bit;
} cap_words[] = {
	{"AES", AE_SCEP_CAP_AES},
	{"DES3", AE_SCEP_CAP_DES3},
	{"GetNextCACert", AE_SCEP_CAP_GETNEXTCACERT},
	{"POSTPKIOperation", AE_SCEP_CAP_POST},
	{"Renewal", AE_SCEP_CAP_RENEWAL},
	{"SHA-1", AE_SCEP_CAP_SHA1},
	{"SHA-256", AE_SCEP_CAP_SHA256},
	{"SHA-512", AE_SCEP_CAP_SHA512},
	{"SCEPStandard", AE_SCEP_CAP_SCEPSTANDARD},
	{"Update", AE_SCEP_CAP_UPDATE},
};

ae_err
ae_scep_caps_parse(ae_ctx *ctx, const char *text, size_t len, unsigned *caps)
{
	unsigned out = 0;
	size_t i = 0;

	*caps = 0;
	if (len > CAPS_MAX)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "GetCACaps answer of %zu bytes is not a capability list (at most %d expected)",
		                      len, CAPS_MAX);
	while (i < len) {
		size_t start = i, end;
		while (i < len && text[i] != '\n')
			i++;
		end = i;
		if (i < len)
			i++; /* the LF */
		while (end > start && isspace((unsigned char)text[end - 1]))
			end--;
		while (start < end && isspace((unsigned char)text[start]))
			start++;
		for (size_t k = start; k < end; k++) {
			unsigned char c = (unsigned char)text[k];
			if (c < 0x20 || c > 0x7e)
				return ae_set_message(ctx, AE_ERR_INVALID,
				                      "GetCACaps answer is not text (byte 0x%02x at offset %zu)", c, k);
		}
		for (size_t w = 0; w < sizeof(cap_words) / sizeof(cap_words[0]); w++) {
			if (strlen(cap_words[w].word) == end - start &&
			    strncasecmp(text + start, cap_words[w].word, end - start) == 0)
				out |= cap_words[w].bit;
		}
	}
	if (out & AE_SCEP_CAP_SCEPSTANDARD) /* RFC 8894 3.5.2 */
		out |= AE_SCEP_CAP_AES | AE_SCEP_CAP_POST | AE_SCEP_CAP_SHA256;
	*caps = out;
	return AE_OK;
}

void
ae_scep_caps_str(unsigned caps, char *buf, size_t size)
{
	size_t used = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (size_t w = 0; w < sizeof(cap_words) / sizeof(cap_words[0]); w++) {
		if (!(caps & cap_words[w].bit))
			continue;
		int n = snprintf(buf + used, size - used, "%s%s", used ? " " : "", cap_words[w].word);
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
	if (used == 0)
		snprintf(buf, size, "(none)");
}

const EVP_CIPHER *
ae_scep_cipher(unsigned caps, bool *weak)
{
	*weak = false;
	if (caps & AE_SCEP_CAP_AES)
		return EVP_aes_128_cbc();
	*weak = true;
	if (caps & AE_SCEP_CAP_DES3)
		return EVP_des_ede3_cbc();
	/* RFC 8894 3.5.1: a server that offers nothing gets the legacy
	 * default (OpenSSL 3 runs single DES only with its legacy provider:
	 * the encryption then fails and says so). */
	return EVP_des_cbc();
}

const EVP_MD *
ae_scep_digest(unsigned caps, bool *weak)
{
	*weak = false;
	if (caps & AE_SCEP_CAP_SHA256)
		return EVP_sha256();
	if (caps & AE_SCEP_CAP_SHA512)
		return EVP_sha512();
	*weak = true;
	return EVP_sha1();
}

void
ae_scep_ca_certs_clear(ae_scep_ca_certs *c)
{
	if (c == NULL)
		return;
	/* ca, ra_sign, ra_encrypt point into all */
	sk_X509_pop_free(c->all, X509_free);
	memset(c, 0, sizeof(*c));
}

static bool
has_ku(X509 *x, uint32_t bit)
{
	uint32_t ku = X509_get_key_usage(x); /* UINT32_MAX: no extension, any use */
	return (ku & bit) != 0;
}

static void
name_of(X509 *x, char *buf, size_t size)
{
	X509_NAME_oneline(X509_get_subject_name(x), buf, (int)size);
}

/* The roles, RFC 8894 2.2: the CA issues; RA certificates (not CAs) it
 * issued sign the replies (digitalSignature) and take the requests
 * (keyEncipherment).  Without RA certificates the CA does both. */
static ae_err
assign_roles(ae_ctx *ctx, ae_scep_ca_certs *c)
{
	int n = sk_X509_num(c->all);
	X509 *ca = NULL, *sign = NULL, *enc = NULL;
	int ras = 0;

	for (int i = 0; i < n; i++) {
		X509 *x = sk_X509_value(c->all, i);
		if (X509_check_ca(x) > 0)
			continue;
		ras++;
		/* the CA is the one that issued the RA certificates */
		for (int j = 0; j < n && ca == NULL; j++) {
			X509 *y = sk_X509_value(c->all, j);
			if (X509_check_ca(y) > 0 && X509_check_issued(y, x) == X509_V_OK)
				ca = y;
		}
	}
	if (ras > 0 && ca == NULL)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "GetCACert: %d RA certificate(s) and no CA certificate that issued them", ras);
	if (ca == NULL) {
		/* only CAs: the one that issued none of the others (the issuing
		 * CA below its chain) */
		for (int i = 0; i < n && ca == NULL; i++) {
			X509 *x = sk_X509_value(c->all, i);
			bool issuer = false;
			if (X509_check_ca(x) <= 0)
				continue;
			for (int j = 0; j < n && !issuer; j++) {
				X509 *y = sk_X509_value(c->all, j);
				issuer = y != x && X509_check_issued(x, y) == X509_V_OK &&
				         X509_check_issued(y, y) != X509_V_OK;
			}
			if (!issuer)
				ca = x;
		}
	}
	if (ca == NULL)
		return ae_set_message(ctx, AE_ERR_INVALID, "GetCACert: no CA certificate among %d", n);
	for (int i = 0; i < n; i++) {
		X509 *x = sk_X509_value(c->all, i);
		if (X509_check_ca(x) > 0 || X509_check_issued(ca, x) != X509_V_OK)
			continue;
		if (sign == NULL && has_ku(x, KU_DIGITAL_SIGNATURE))
			sign = x;
		if (enc == NULL && has_ku(x, KU_KEY_ENCIPHERMENT))
			enc = x;
	}
	if (ras > 0 && (sign == NULL || enc == NULL)) {
		char cn[256];
		name_of(ca, cn, sizeof(cn));
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "GetCACert: the RA certificates issued by %s have no %s usage: with NDES, "
		                      "the RA %s certificate (template %s) is missing or has the wrong key usage",
		                      cn, sign == NULL ? "digitalSignature" : "keyEncipherment",
		                      sign == NULL ? "signing" : "encryption",
		                      sign == NULL ? "Exchange Enrollment Agent (Offline request)" : "CEP Encryption");
	}
	c->ca = ca;
	c->ra_sign = sign ? sign : ca;
	c->ra_encrypt = enc ? enc : ca;
	return AE_OK;
}

ae_err
ae_scep_ca_certs_parse(ae_ctx *ctx, const char *content_type, const uint8_t *der, size_t len,
                       ae_scep_ca_certs *out)
{
	bool single = content_type && strncasecmp(content_type, "application/x-x509-ca-cert", 26) == 0;
	bool chain = content_type && strncasecmp(content_type, "application/x-x509-ca-ra-cert", 29) == 0;
	STACK_OF(X509) *all = NULL;
	X509 *x = NULL;
	ae_err rc;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return ae_set_message(ctx, AE_ERR_INVALID, "GetCACert: empty answer");
	if (!chain && ae_x509_from_der(ctx, der, len, &x) == AE_OK) {
		if (X509_check_ca(x) <= 0) {
			X509_free(x);
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "GetCACert: the one certificate returned is not a CA certificate");
		}
		all = sk_X509_new_null();
		if (all == NULL || !sk_X509_push(all, x)) {
			X509_free(x);
			sk_X509_free(all);
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
		out->all = all;
		out->ca = out->ra_sign = out->ra_encrypt = x;
		return AE_OK;
	}
	if (single)
		return ae_prefix_message(ctx, AE_ERR_INVALID, "GetCACert (%s)", content_type);
	rc = ae_certs_from_pkcs7(ctx, der, len, &all);
	if (rc != AE_OK)
		return ae_prefix_message(ctx, rc, "GetCACert: neither a DER certificate nor a PKCS#7 chain");
	if (sk_X509_num(all) == 0) {
		sk_X509_free(all);
		return ae_set_message(ctx, AE_ERR_INVALID, "GetCACert: the PKCS#7 holds no certificate");
	}
	out->all = all;
	rc = assign_roles(ctx, out);
	if (rc != AE_OK)
		ae_scep_ca_certs_clear(out);
	return rc;
}

/* NDES serves the page in UTF-16LE: the ASCII it is made of, byte by
 * byte; a NUL-free copy to search in.  Other UTF-16 units become '?'. */
static char *
page_text(const char *page, size_t len)
{
	bool utf16 = len >= 2 && (((unsigned char)page[0] == 0xff && (unsigned char)page[1] == 0xfe) ||
	                          (page[1] == '\0' && page[0] != '\0'));
	char *t = malloc(len + 1);
	size_t o = 0;

	if (t == NULL)
		return NULL;
	if (utf16) {
		for (size_t i = 0; i + 1 < len; i += 2) {
			unsigned u = (unsigned char)page[i] | (unsigned)(unsigned char)page[i + 1] << 8;
			if (u == 0xfeff)
				continue;
			t[o++] = u >= 1 && u < 0x80 ? (char)u : '?';
		}
	} else {
		for (size_t i = 0; i < len; i++)
			t[o++] = page[i] ? page[i] : ' ';
	}
	t[o] = '\0';
	return t;
}

static const char *
find_nocase(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (const char *p = hay; *p; p++)
		if (strncasecmp(p, needle, n) == 0)
			return p;
	return NULL;
}

ae_err
ae_scep_admin_challenge(ae_ctx *ctx, const char *page, size_t len, char **out)
{
	static const char marker[] = "challenge password is:";
	char *text = NULL, *pw = NULL;
	const char *p;
	size_t n = 0;
	ae_err rc;

	*out = NULL;
	if (len > PAGE_MAX)
		return ae_set_message(ctx, AE_ERR_INVALID, "the NDES admin page is %zu bytes: not NDES's page", len);
	text = page_text(page, len);
	if (text == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	p = find_nocase(text, marker);
	if (p == NULL) {
		if (find_nocase(text, "sufficient permission"))
			rc = ae_set_message(ctx, AE_ERR_DENIED,
			                    "the NDES admin page refuses a challenge: \"You do not have sufficient "
			                    "permission to enroll with SCEP\" (the caller needs Enroll on NDES's "
			                    "templates, or to be an administrator of the NDES host)");
		else if (find_nocase(text, "password cache is full"))
			rc = ae_set_message(ctx, AE_ERR_DENIED,
			                    "the NDES admin page refuses a challenge: its password cache is full "
			                    "(unused challenges count until they expire)");
		else
			rc = ae_set_message(ctx, AE_ERR_INVALID,
			                    "the NDES admin page has no \"enrollment challenge password\"");
		goto out;
	}
	p += sizeof(marker) - 1;
	for (;;) { /* blanks and markup before the password */
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p != '<')
			break;
		while (*p && *p != '>')
			p++;
		if (*p == '>')
			p++;
	}
	while (isalnum((unsigned char)p[n]) && n <= CHALLENGE_MAX)
		n++;
	if (n < 4 || n > CHALLENGE_MAX) {
		rc = ae_set_message(ctx, AE_ERR_INVALID,
		                    "the NDES admin page's challenge password is not one (%zu letters and digits)", n);
		goto out;
	}
	pw = strndup(p, n);
	if (pw == NULL) {
		rc = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto out;
	}
	*out = pw;
	rc = AE_OK;
out:
	free(text);
	return rc;
}
