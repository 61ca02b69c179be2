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
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
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
		                      "the RA %s certificate (template %s) is missing or has the wrong key usage%s",
		                      cn, sign == NULL ? "digitalSignature" : "keyEncipherment",
		                      sign == NULL ? "signing" : "encryption",
		                      sign == NULL ? "Exchange Enrollment Agent (Offline request)" : "CEP Encryption",
		                      sign == NULL ? ""
		                                   : "; a request encrypted to another certificate is refused with "
		                                     "badMessageCheck, NDES's \"Integrity check failed, illegal size of payload\"");
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

/* ---- PKIOperation (RFC 8894 3.2, 3.3) ---- */

#define OID_MESSAGE_TYPE "2.16.840.1.113733.1.9.2"
#define OID_PKI_STATUS "2.16.840.1.113733.1.9.3"
#define OID_FAIL_INFO "2.16.840.1.113733.1.9.4"
#define OID_SENDER_NONCE "2.16.840.1.113733.1.9.5"
#define OID_RECIPIENT_NONCE "2.16.840.1.113733.1.9.6"
#define OID_TRANSACTION_ID "2.16.840.1.113733.1.9.7"
/* a CertRep is a few certificates; bound the work on a hostile one */
#define CERTREP_MAX (1024 * 1024)

static ae_err
ossl_err(ae_ctx *ctx, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256] = "";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return ae_set_message(ctx, AE_ERR_CRYPTO, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

static bool
add_attr(CMS_SignerInfo *si, const char *oid, int type, const void *data, int len)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	bool ok = obj != NULL && CMS_signed_add1_attr_by_OBJ(si, obj, type, data, len) == 1;

	ASN1_OBJECT_free(obj);
	return ok;
}

ae_err
ae_scep_pkimessage(ae_ctx *ctx, int type, const char *tid, const uint8_t nonce[16], const uint8_t *content,
                   size_t len, X509 *ra_encrypt, const EVP_CIPHER *cipher, X509 *signer_cert, EVP_PKEY *signer_key,
                   const EVP_MD *md, uint8_t **out, size_t *out_len)
{
	STACK_OF(X509) *recips = sk_X509_new_null();
	BIO *in = NULL, *envbio = NULL;
	CMS_ContentInfo *env = NULL, *sd = NULL;
	CMS_SignerInfo *si;
	unsigned char *der = NULL;
	char mtype[8];
	int n;
	ae_err err = AE_OK;

	*out = NULL;
	*out_len = 0;
	snprintf(mtype, sizeof(mtype), "%d", type);
	if (recips == NULL || sk_X509_push(recips, ra_encrypt) <= 0 ||
	    (in = BIO_new_mem_buf(content, (int)len)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	/* pkcsPKIEnvelope (3.2.2): EnvelopedData, key transport to the RA
	 * encryption certificate */
	if ((env = CMS_encrypt(recips, in, cipher, CMS_BINARY)) == NULL) {
		err = ossl_err(ctx, "cannot encrypt the request to the RA encryption certificate");
		goto cleanup;
	}
	if ((envbio = BIO_new(BIO_s_mem())) == NULL || i2d_CMS_bio(envbio, env) != 1) {
		err = ossl_err(ctx, "cannot encode the envelope");
		goto cleanup;
	}
	/* pkiMessage (3.2.1): SignedData over the envelope with the
	 * authenticated attributes SCEP needs */
	if ((sd = CMS_sign(NULL, NULL, NULL, NULL, CMS_BINARY | CMS_PARTIAL)) == NULL ||
	    (si = CMS_add1_signer(sd, signer_cert, signer_key, md, CMS_BINARY | CMS_NOSMIMECAP)) == NULL) {
		err = ossl_err(ctx, "cannot sign the SCEP message with the request's key");
		goto cleanup;
	}
	if (!add_attr(si, OID_MESSAGE_TYPE, V_ASN1_PRINTABLESTRING, mtype, (int)strlen(mtype)) ||
	    !add_attr(si, OID_TRANSACTION_ID, V_ASN1_PRINTABLESTRING, tid, (int)strlen(tid)) ||
	    !add_attr(si, OID_SENDER_NONCE, V_ASN1_OCTET_STRING, nonce, 16)) {
		err = ossl_err(ctx, "cannot add the SCEP attributes");
		goto cleanup;
	}
	if (CMS_final(sd, envbio, NULL, CMS_BINARY) != 1) {
		err = ossl_err(ctx, "cannot sign the SCEP message with the request's key");
		goto cleanup;
	}
	if ((n = i2d_CMS_ContentInfo(sd, &der)) <= 0) {
		err = ossl_err(ctx, "cannot encode the SCEP message");
		goto cleanup;
	}
	if ((*out = malloc((size_t)n)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	memcpy(*out, der, (size_t)n);
	*out_len = (size_t)n;
cleanup:
	OPENSSL_free(der);
	CMS_ContentInfo_free(sd);
	CMS_ContentInfo_free(env);
	BIO_free(envbio);
	BIO_free(in);
	sk_X509_free(recips);
	return err;
}

void
ae_scep_certrep_clear(ae_scep_certrep *rep)
{
	if (rep == NULL)
		return;
	free(rep->tid);
	free(rep->envelope);
	CMS_ContentInfo_free(rep->cms_);
	memset(rep, 0, sizeof(*rep));
}

/* The one value of type TYPE of the authenticated attribute OID, or NULL. */
static ASN1_STRING *
signed_attr(CMS_SignerInfo *si, const char *oid, int type)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_STRING *v = obj ? CMS_signed_get0_data_by_OBJ(si, obj, -3, type) : NULL;

	ASN1_OBJECT_free(obj);
	return v;
}

/* The one value of printable attribute OID as a small number; -1: none
 * or not a number. */
static int
attr_number(CMS_SignerInfo *si, const char *oid)
{
	ASN1_STRING *v = signed_attr(si, oid, V_ASN1_PRINTABLESTRING);
	int n = 0, len;
	const unsigned char *d;

	if (v == NULL || (len = ASN1_STRING_length(v)) < 1 || len > 4)
		return -1;
	d = ASN1_STRING_get0_data(v);
	for (int i = 0; i < len; i++) {
		if (!isdigit(d[i]))
			return -1;
		n = n * 10 + (d[i] - '0');
	}
	return n;
}

static ae_err
bad_rep(ae_ctx *ctx, const char *why)
{
	return ae_set_message(ctx, AE_ERR_INVALID, "the SCEP server's CertRep is malformed: %s (RFC 8894 3.3.2)", why);
}

ae_err
ae_scep_certrep_parse(ae_ctx *ctx, const uint8_t *der, size_t len, ae_scep_certrep *out)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	CMS_SignerInfo *si;
	ASN1_STRING *v;
	ASN1_OCTET_STRING **content;
	ae_err err = AE_OK;

	memset(out, 0, sizeof(*out));
	out->fail_info = -1;
	if (der == NULL || len == 0 || len > CERTREP_MAX || (cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		ERR_clear_error();
		err = bad_rep(ctx, "not one DER CMS ContentInfo");
		goto cleanup;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed || (sis = CMS_get0_SignerInfos(cms)) == NULL ||
	    sk_CMS_SignerInfo_num(sis) != 1) {
		err = bad_rep(ctx, "not SignedData with one signer");
		goto cleanup;
	}
	si = sk_CMS_SignerInfo_value(sis, 0);
	if (attr_number(si, OID_MESSAGE_TYPE) != AE_SCEP_CERTREP) {
		err = bad_rep(ctx, "messageType is not CertRep (3)");
		goto cleanup;
	}
	out->status = attr_number(si, OID_PKI_STATUS);
	if (out->status != AE_SCEP_SUCCESS && out->status != AE_SCEP_FAILURE && out->status != AE_SCEP_PENDING) {
		err = bad_rep(ctx, "no pkiStatus, or not SUCCESS, FAILURE or PENDING");
		goto cleanup;
	}
	if (out->status == AE_SCEP_FAILURE && ((out->fail_info = attr_number(si, OID_FAIL_INFO)) < 0 ||
	                                       out->fail_info > 4)) {
		err = bad_rep(ctx, "FAILURE without a failInfo from 0 to 4");
		goto cleanup;
	}
	v = signed_attr(si, OID_TRANSACTION_ID, V_ASN1_PRINTABLESTRING);
	if (v == NULL || ASN1_STRING_length(v) < 1 || ASN1_STRING_length(v) > 256) {
		err = bad_rep(ctx, "no transactionID");
		goto cleanup;
	}
	if ((out->tid = strndup((const char *)ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v))) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	v = signed_attr(si, OID_RECIPIENT_NONCE, V_ASN1_OCTET_STRING);
	if (v != NULL && ASN1_STRING_length(v) == 16) {
		memcpy(out->recipient_nonce, ASN1_STRING_get0_data(v), 16);
		out->has_recipient_nonce = true;
	}
	if (out->status == AE_SCEP_SUCCESS) {
		content = CMS_get0_content(cms);
		if (content == NULL || *content == NULL || ASN1_STRING_length(*content) <= 0) {
			err = bad_rep(ctx, "SUCCESS without a pkcsPKIEnvelope");
			goto cleanup;
		}
		out->envelope_len = (size_t)ASN1_STRING_length(*content);
		if ((out->envelope = malloc(out->envelope_len)) == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		memcpy(out->envelope, ASN1_STRING_get0_data(*content), out->envelope_len);
	}
	out->cms_ = cms;
	cms = NULL;
cleanup:
	ERR_clear_error();
	CMS_ContentInfo_free(cms);
	if (err != AE_OK)
		ae_scep_certrep_clear(out);
	return err;
}

ae_err
ae_scep_certrep_verify(ae_ctx *ctx, const ae_scep_certrep *rep, X509 *ra_sign)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	BIO *content = NULL;
	ASN1_OCTET_STRING **c;
	int ok;
	char name[256];

	if (certs == NULL || sk_X509_push(certs, ra_sign) <= 0) {
		sk_X509_free(certs);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	c = CMS_get0_content(rep->cms_);
	/* FAILURE and PENDING have no content: signed over nothing */
	if (c != NULL && *c != NULL)
		content = BIO_new_mem_buf(ASN1_STRING_get0_data(*c), ASN1_STRING_length(*c));
	else
		content = BIO_new_mem_buf("", 0);
	/* only the RA signing certificate from GetCACert may have signed it
	 * (CMS_NOINTERN: never one the message brings itself) */
	ok = CMS_verify(rep->cms_, certs, NULL, content, NULL,
	                CMS_NO_SIGNER_CERT_VERIFY | CMS_NOINTERN | CMS_BINARY);
	ERR_clear_error();
	BIO_free(content);
	sk_X509_free(certs);
	if (ok != 1) {
		X509_NAME_oneline(X509_get_subject_name(ra_sign), name, sizeof(name));
		return ae_set_message(ctx, AE_ERR_CRYPTO,
		                      "the SCEP server's CertRep is not signed by the RA signing certificate %s from GetCACert: ignored",
		                      name);
	}
	return AE_OK;
}

/* The content cipher of the CertRep's pkcsPKIEnvelope (NID_undef when it
 * is not EnvelopedData). */
static int
envelope_cipher(const ae_scep_certrep *rep)
{
	const unsigned char *p = rep->envelope;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)rep->envelope_len);
	int nid = NID_undef;

	if (p7 != NULL && PKCS7_type_is_enveloped(p7) && p7->d.enveloped != NULL &&
	    p7->d.enveloped->enc_data != NULL && p7->d.enveloped->enc_data->algorithm != NULL)
		nid = OBJ_obj2nid(p7->d.enveloped->enc_data->algorithm->algorithm);
	PKCS7_free(p7);
	ERR_clear_error();
	return nid;
}

ae_err
ae_scep_certrep_open(ae_ctx *ctx, const ae_scep_certrep *rep, X509 *recip_cert, EVP_PKEY *key, EVP_PKEY *want,
                     uint8_t **cert_out, size_t *cert_len, uint8_t **p7_out, size_t *p7_len)
{
	const unsigned char *p = rep->envelope;
	CMS_ContentInfo *env = NULL;
	OSSL_LIB_CTX *lctx = NULL;
	OSSL_PROVIDER *legacy = NULL, *dflt = NULL;
	BIO *out = BIO_new(BIO_s_mem());
	STACK_OF(X509) *certs = NULL;
	char *data;
	long n;
	unsigned char *der = NULL;
	int dlen;
	ae_err err = AE_OK;

	*cert_out = *p7_out = NULL;
	*cert_len = *p7_len = 0;
	if (out == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	if (envelope_cipher(rep) == NID_des_cbc) {
		/* micromdm's scepserver encrypts every CertRep with single DES,
		 * whatever the request used and GetCACaps offered; OpenSSL 3
		 * has it only in its legacy provider, loaded for this answer in
		 * a library context of its own */
		if ((lctx = OSSL_LIB_CTX_new()) == NULL || (legacy = OSSL_PROVIDER_load(lctx, "legacy")) == NULL ||
		    (dflt = OSSL_PROVIDER_load(lctx, "default")) == NULL ||
		    (env = CMS_ContentInfo_new_ex(lctx, NULL)) == NULL) {
			err = ossl_err(ctx, "the SCEP server encrypted its answer with single DES, which OpenSSL decrypts "
			                    "only with its legacy provider, and that cannot be loaded");
			goto cleanup;
		}
		ae_log(ctx, AE_LOG_WARNING,
		       "the SCEP server encrypted its answer with single DES (weak; micromdm's scepserver always does): "
		       "decrypted anyway, it carries only the issued certificate, which is verified like any other");
	}
	if (d2i_CMS_ContentInfo(&env, &p, (long)rep->envelope_len) == NULL ||
	    OBJ_obj2nid(CMS_get0_type(env)) != NID_pkcs7_enveloped) {
		err = bad_rep(ctx, "the pkcsPKIEnvelope is not EnvelopedData");
		goto cleanup;
	}
	if (CMS_decrypt(env, key, recip_cert, NULL, out, CMS_BINARY) != 1) {
		err = ossl_err(ctx, "cannot decrypt the SCEP server's answer with the request's key");
		goto cleanup;
	}
	n = BIO_get_mem_data(out, &data);
	if (n <= 0 || ae_certs_from_pkcs7(ctx, (const uint8_t *)data, (size_t)n, &certs) != AE_OK) {
		err = bad_rep(ctx, "the decrypted answer is not a certs-only PKCS#7");
		goto cleanup;
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		if (X509_get0_pubkey(x) == NULL || EVP_PKEY_eq(X509_get0_pubkey(x), want) != 1)
			continue;
		if ((dlen = i2d_X509(x, &der)) <= 0 || (*cert_out = malloc((size_t)dlen)) == NULL ||
		    (*p7_out = malloc((size_t)n)) == NULL) {
			free(*cert_out);
			*cert_out = NULL;
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		memcpy(*cert_out, der, (size_t)dlen);
		*cert_len = (size_t)dlen;
		memcpy(*p7_out, data, (size_t)n);
		*p7_len = (size_t)n;
		goto cleanup;
	}
	err = ae_set_message(ctx, AE_ERR_CRYPTO,
	                     "the SCEP server answered SUCCESS with no certificate for the requested key: not stored");
cleanup:
	ERR_clear_error();
	OPENSSL_free(der);
	sk_X509_pop_free(certs, X509_free);
	CMS_ContentInfo_free(env);
	OSSL_PROVIDER_unload(dflt);
	OSSL_PROVIDER_unload(legacy);
	OSSL_LIB_CTX_free(lctx);
	BIO_free(out);
	return err;
}

const char *
ae_scep_fail_info_str(int fail_info)
{
	switch (fail_info) {
	case 0:
		return "badAlg (0): the server does not accept the cipher or digest (GetCACaps says which it offers)";
	case 1:
		return "badMessageCheck (1): the server could not decrypt or verify the request; at NDES "
		       "\"Integrity check failed, illegal size of payload\": the request was encrypted to the wrong RA "
		       "certificate (the RA signing certificate instead of the RA encryption one)";
	case 2:
		return "badRequest (2): refused; at NDES a challenge password that is wrong, already used (single use) or "
		       "expired (valid 60 minutes), or a refusal by the CA (the NDES template)";
	case 3:
		return "badTime (3): the signingTime is too far from the server's clock";
	case 4:
		return "badCertId (4): no certificate matches the request";
	default:
		return "an unknown failInfo";
	}
}
