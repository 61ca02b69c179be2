/*
 * issued.c - verification of issued certificates.
 */
#include "config.h"

#include "issued.h"
#include "pki.h"
#include "util.h"

#include <openssl/asn1.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
ae_cert_template_clear(ae_cert_template *t)
{
	free(t->template_oid);
	free(t->template_name);
	memset(t, 0, sizeof(*t));
}

static const ASN1_OCTET_STRING *
ext_data(X509 *cert, const char *oid_txt)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(oid_txt, 1);
	int idx = oid ? X509_get_ext_by_OBJ(cert, oid, -1) : -1;
	ASN1_OBJECT_free(oid);
	if (idx < 0)
		return NULL;
	return X509_EXTENSION_get_data(X509_get_ext(cert, idx));
}

/* Reads one DER INTEGER that fits 32 bits at *P (bounded by END). */
static bool
read_u32(const unsigned char **p, const unsigned char *end, uint32_t *out)
{
	const unsigned char *q = *p;
	ASN1_INTEGER *i = d2i_ASN1_INTEGER(NULL, &q, end - *p);
	long v;
	if (i == NULL)
		return false;
	v = ASN1_INTEGER_get(i);
	ASN1_INTEGER_free(i);
	if (v < 0 || v > (long)UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	*p = q;
	return true;
}

ae_err
ae_cert_template_read(ae_ctx *ctx, X509 *cert, ae_cert_template *out)
{
	const ASN1_OCTET_STRING *v;
	ae_cert_template t = { 0 };

	memset(out, 0, sizeof(*out));
	v = ext_data(cert, "1.3.6.1.4.1.311.21.7");
	if (v != NULL) {
		/* SEQUENCE { OID, INTEGER major OPTIONAL, INTEGER minor OPTIONAL } */
		const unsigned char *p = ASN1_STRING_get0_data(v), *end = p + ASN1_STRING_length(v);
		long len;
		int tag, cls;
		char buf[256];
		ASN1_OBJECT *oid = NULL;
		if ((ASN1_get_object(&p, &len, &tag, &cls, end - p) & 0x80) || tag != V_ASN1_SEQUENCE ||
		    len > end - p)
			return ae_set_message(ctx, AE_ERR_INVALID, "malformed certificate template extension");
		end = p + len;
		if (d2i_ASN1_OBJECT(&oid, &p, end - p) == NULL)
			return ae_set_message(ctx, AE_ERR_INVALID, "malformed OID in the certificate template extension");
		OBJ_obj2txt(buf, sizeof(buf), oid, 1);
		ASN1_OBJECT_free(oid);
		t.template_oid = strdup(buf);
		if (p < end && !read_u32(&p, end, &t.major)) {
			ae_cert_template_clear(&t);
			return ae_set_message(ctx, AE_ERR_INVALID, "malformed major version in the certificate template extension");
		}
		if (p < end && !read_u32(&p, end, &t.minor)) {
			ae_cert_template_clear(&t);
			return ae_set_message(ctx, AE_ERR_INVALID, "malformed minor version in the certificate template extension");
		}
	}
	v = ext_data(cert, "1.3.6.1.4.1.311.20.2");
	if (v != NULL) {
		/* A bare BMPString in practice (UTF8String per the spec: accept both). */
		const unsigned char *p = ASN1_STRING_get0_data(v);
		ASN1_TYPE *at = d2i_ASN1_TYPE(NULL, &p, ASN1_STRING_length(v));
		unsigned char *utf8 = NULL;
		if (at != NULL && (at->type == V_ASN1_BMPSTRING || at->type == V_ASN1_UTF8STRING ||
		                   at->type == V_ASN1_PRINTABLESTRING) &&
		    ASN1_STRING_to_UTF8(&utf8, at->value.asn1_string) >= 0)
			t.template_name = strdup((char *)utf8);
		OPENSSL_free(utf8);
		ASN1_TYPE_free(at);
	}
	*out = t;
	return AE_OK;
}

ae_err
ae_certs_from_pkcs7(ae_ctx *ctx, const uint8_t *der, size_t len, STACK_OF(X509) **out)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms;
	STACK_OF(X509) *certs;

	*out = NULL;
	if (len == 0) {
		*out = sk_X509_new_null();
		return *out ? AE_OK : ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (cms == NULL) {
		ERR_clear_error();
		return ae_set_message(ctx, AE_ERR_INVALID, "the CA's certificate chain is not a PKCS#7/CMS structure");
	}
	certs = CMS_get1_certs(cms);
	CMS_ContentInfo_free(cms);
	*out = certs ? certs : sk_X509_new_null();
	return *out ? AE_OK : ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
}

ae_err
ae_issued_verify(ae_ctx *ctx, X509 *cert, EVP_PKEY *key, const ae_template *tpl, X509 *ca_cert,
                 STACK_OF(X509) *roots, STACK_OF(X509) *intermediates)
{
	return ae_issued_verify_chain(ctx, cert, key, tpl, ca_cert, roots, intermediates, NULL);
}

ae_err
ae_issued_verify_chain(ae_ctx *ctx, X509 *cert, EVP_PKEY *key, const ae_template *tpl, X509 *ca_cert,
                       STACK_OF(X509) *roots, STACK_OF(X509) *intermediates, STACK_OF(X509) **chain_out)
{
	ae_cert_template ct;
	X509_STORE *store = NULL;
	X509_STORE_CTX *vctx = NULL;
	STACK_OF(X509) *untrusted = NULL;
	EVP_PKEY *cert_key = X509_get0_pubkey(cert);
	STACK_OF(X509) *verified = NULL;
	ae_err err = AE_OK;

	if (chain_out != NULL)
		*chain_out = NULL;
	if (cert_key == NULL || EVP_PKEY_eq(cert_key, key) != 1)
		return ae_set_message(ctx, AE_ERR_CRYPTO,
		                      "the CA returned a certificate for another public key than the one we generated: not stored");
	if (ca_cert == NULL || X509_check_issued(ca_cert, cert) != X509_V_OK ||
	    X509_verify(cert, X509_get0_pubkey(ca_cert)) != 1)
		return ae_set_message(ctx, AE_ERR_CRYPTO,
		                      "the returned certificate is not signed by the CA we asked: not stored");
	store = X509_STORE_new();
	untrusted = sk_X509_new_null();
	vctx = X509_STORE_CTX_new();
	if (store == NULL || untrusted == NULL || vctx == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	for (int i = 0; roots != NULL && i < sk_X509_num(roots); i++)
		X509_STORE_add_cert(store, sk_X509_value(roots, i));
	sk_X509_push(untrusted, ca_cert);
	for (int i = 0; intermediates != NULL && i < sk_X509_num(intermediates); i++)
		sk_X509_push(untrusted, sk_X509_value(intermediates, i));
	if (X509_STORE_CTX_init(vctx, store, cert, untrusted) != 1) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (ae_now_shifted())
		X509_STORE_CTX_set_time(vctx, 0, (time_t)ae_now());
	ae_pki_accept_windows_extensions(vctx);
	if (X509_verify_cert(vctx) != 1) {
		int e = X509_STORE_CTX_get_error(vctx);
		char oid[80] = "";
		X509 *at = X509_STORE_CTX_get_current_cert(vctx);

		/* Name the extension, so the admin knows what to unmark. */
		for (int i = 0; e == X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION && at != NULL && i < X509_get_ext_count(at);
		     i++) {
			X509_EXTENSION *x = X509_get_ext(at, i);
			if (X509_EXTENSION_get_critical(x) && !X509_supported_extension(x) &&
			    OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(x), 1) > 0)
				break;
			oid[0] = '\0';
		}
		if (oid[0] != '\0')
			err = ae_set_message(ctx, AE_ERR_CRYPTO,
			                     "the returned certificate has a critical extension %s that autoenroll does not process: not stored (the template's pKICriticalExtensions marks it critical)",
			                     oid);
		else
			err = ae_set_message(ctx, AE_ERR_CRYPTO,
			                     "the returned certificate does not chain to a root published in AD: %s",
			                     X509_verify_cert_error_string(e));
		goto cleanup;
	}
	/* The path that verified, leaf first, anchor last; the leaf goes. */
	if (chain_out != NULL && ((verified = X509_STORE_CTX_get1_chain(vctx)) == NULL || sk_X509_num(verified) < 1)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (verified != NULL)
		X509_free(sk_X509_shift(verified));
	if (tpl == NULL)
		goto cleanup;
	err = ae_cert_template_read(ctx, cert, &ct);
	if (err != AE_OK)
		goto cleanup;
	if (tpl->schema_version >= 2 && tpl->oid != NULL) {
		if (ct.template_oid == NULL || strcmp(ct.template_oid, tpl->oid) != 0)
			err = ae_set_message(ctx, AE_ERR_CRYPTO,
			                     "the returned certificate is of template %s, not %s (%s) that we asked for: not stored",
			                     ct.template_oid ? ct.template_oid : (ct.template_name ? ct.template_name : "(none)"),
			                     tpl->name, tpl->oid);
	} else if (ct.template_name == NULL || strcasecmp(ct.template_name, tpl->name) != 0) {
		if (ct.template_oid == NULL || tpl->oid == NULL || strcmp(ct.template_oid, tpl->oid) != 0)
			err = ae_set_message(ctx, AE_ERR_CRYPTO,
			                     "the returned certificate is of template %s, not %s that we asked for: not stored",
			                     ct.template_name ? ct.template_name : "(none)", tpl->name);
	}
	ae_cert_template_clear(&ct);
cleanup:
	if (err == AE_OK && chain_out != NULL) {
		*chain_out = verified;
		verified = NULL;
	}
	sk_X509_pop_free(verified, X509_free);
	X509_STORE_CTX_free(vctx);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	return err;
}
