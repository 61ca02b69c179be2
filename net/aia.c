/*
 * aia.c - a certificate's issuers from its AIA caIssuers (see aia.h).
 */
#include "config.h"

#include "aia.h"
#include "http.h"
#include "issued.h"
#include "pki.h"
#include "util.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A CA certificate bundle is small; anything larger is not one. */
#define AIA_MAX_BYTES (1024 * 1024)

ae_err
ae_aia_locations(ae_ctx *ctx, X509 *cert, char ***urls)
{
	AUTHORITY_INFO_ACCESS *aia;
	int crit = 0;
	char **list = NULL;
	ae_err err = AE_OK;

	*urls = NULL;
	aia = X509_get_ext_d2i(cert, NID_info_access, &crit, NULL);
	if (aia == NULL)
		return crit == -2 ? ae_set_message(ctx, AE_ERR_INVALID, "the certificate has two AIA extensions") : AE_OK;
	for (int i = 0; i < sk_ACCESS_DESCRIPTION_num(aia); i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
		const ASN1_IA5STRING *uri;
		char *s;

		if (OBJ_obj2nid(ad->method) != NID_ad_ca_issuers || ad->location->type != GEN_URI)
			continue;
		uri = ad->location->d.uniformResourceIdentifier;
		/* A location with a NUL in it is not one. */
		if (uri->length <= 0 || memchr(uri->data, 0, (size_t)uri->length) != NULL)
			continue;
		if ((s = strndup((const char *)uri->data, (size_t)uri->length)) == NULL || !ae_strv_append(&list, s)) {
			free(s);
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			break;
		}
		free(s);
	}
	AUTHORITY_INFO_ACCESS_free(aia);
	if (err != AE_OK)
		ae_strv_free(list);
	else
		*urls = list;
	return err;
}

ae_err
ae_aia_decode(ae_ctx *ctx, const uint8_t *data, size_t len, const char *shown, STACK_OF(X509) **out)
{
	STACK_OF(X509) *sk = NULL;
	X509 *one = NULL;

	*out = NULL;
	if (data == NULL || len == 0 || len > AIA_MAX_BYTES)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s holds no certificate (%zu bytes)", shown, len);
	if (ae_x509_from_der(ctx, data, len, &one) != AE_OK) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);
		ae_clear_message(ctx);
		one = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
	}
	if (one == NULL) {
		/* A .p7c: PKCS#7 SignedData with certificates only. */
		if (ae_certs_from_pkcs7(ctx, data, len, &sk) != AE_OK || sk == NULL || sk_X509_num(sk) == 0) {
			sk_X509_pop_free(sk, X509_free);
			ae_clear_message(ctx);
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "%s holds neither a certificate (DER or PEM) nor a PKCS#7 bundle", shown);
		}
		*out = sk;
		return AE_OK;
	}
	if ((sk = sk_X509_new_null()) == NULL || sk_X509_push(sk, one) <= 0) {
		X509_free(one);
		sk_X509_free(sk);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	*out = sk;
	return AE_OK;
}

/* The bytes at URL, an ldap:/// location read through FETCH or an
 * http(s) one; *OUT (caller frees) stays NULL on error. */
static ae_err
fetch_location(ae_ctx *ctx, const ae_conf *conf, const ae_crl_fetch *fetch, const char *url, const char *shown,
               STACK_OF(X509) **out)
{
	ae_err err;

	*out = NULL;
	if (strncasecmp(url, "ldap:", 5) == 0) {
		ae_value *values = NULL;
		size_t count = 0;
		char *dn = NULL, *attr = NULL;

		if (fetch == NULL || fetch->ldap_read == NULL)
			return ae_set_message(ctx, AE_ERR_UNSUPPORTED, "%s: no LDAP session to read it", shown);
		if ((err = ae_crl_ldap_url(ctx, url, &dn, &attr)) != AE_OK)
			return err;
		if (strcmp(attr, "cACertificate") != 0)
			err = ae_set_message(ctx, AE_ERR_INVALID, "%s: %s holds no CA certificate", shown, attr);
		else if ((err = fetch->ldap_read(ctx, fetch->arg, dn, attr, &values, &count)) != AE_OK)
			err = ae_prefix_message(ctx, err, "%s", shown);
		for (size_t i = 0; err == AE_OK && i < count && *out == NULL; i++)
			if (ae_aia_decode(ctx, values[i].data, values[i].len, shown, out) != AE_OK)
				ae_clear_message(ctx);
		if (err == AE_OK && *out == NULL)
			err = ae_set_message(ctx, AE_ERR_NOTFOUND, "%s: no certificate in %s", shown, attr);
		ae_values_free(values, count);
		free(dn);
		free(attr);
		return err;
	}
	{
		ae_http_response *resp = NULL;
		err = ae_crl_download(ctx, conf, url, "application/pkix-cert, application/pkcs7-mime, */*", AIA_MAX_BYTES,
		                      "the CA certificate", &resp);
		if (err != AE_OK)
			return err;
		err = ae_aia_decode(ctx, resp->body, resp->body_len, shown, out);
		ae_http_response_free(resp);
		return err;
	}
}

ae_err
ae_aia_issuers(ae_ctx *ctx, const ae_conf *conf, const ae_crl_fetch *fetch, X509 *cert, STACK_OF(X509) **out)
{
	char **urls = NULL;
	ae_buf why;
	ae_err err;

	*out = NULL;
	if ((err = ae_aia_locations(ctx, cert, &urls)) != AE_OK)
		return err;
	if (urls == NULL)
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "the certificate names no CA issuer location (AIA)");
	ae_buf_init(&why);
	for (size_t i = 0; urls[i] != NULL && *out == NULL; i++) {
		STACK_OF(X509) *found = NULL;
		char shown[256];

		ae_url_shown(urls[i], shown, sizeof(shown));
		if (fetch_location(ctx, conf, fetch, urls[i], shown, &found) != AE_OK) {
			ae_buf_printf(&why, "%s%s", why.len ? "; " : "", ae_get_message(ctx));
			ae_clear_message(ctx);
			continue;
		}
		/* Only what issued CERT, by name and by signature: a location
		 * cannot slip in another CA, nor one of the same name. */
		for (int k = sk_X509_num(found) - 1; k >= 0; k--) {
			X509 *c = sk_X509_value(found, k);
			EVP_PKEY *pub = X509_get0_pubkey(c);
			if (X509_check_issued(c, cert) != X509_V_OK || pub == NULL || X509_verify(cert, pub) != 1)
				X509_free(sk_X509_delete(found, k));
		}
		ERR_clear_error();
		if (sk_X509_num(found) > 0) {
			*out = found;
			break;
		}
		sk_X509_free(found);
		ae_buf_printf(&why, "%s%s holds no certificate that issued this one", why.len ? "; " : "", shown);
	}
	if (*out == NULL)
		err = ae_set_message(ctx, AE_ERR_NOTFOUND, "no CA issuer from the certificate's AIA: %s",
		                     why.data ? why.data : "?");
	ae_buf_clear(&why);
	ae_strv_free(urls);
	return err;
}
