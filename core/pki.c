/*
 * pki.c - CA objects from AD and their validation (OpenSSL).
 */
#include "config.h"

#include "pki.h"
#include "template.h"
#include "util.h"

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
ae_ca_clear(ae_ca *ca)
{
	if (ca == NULL)
		return;
	free(ca->dn);
	free(ca->name);
	free(ca->display_name);
	free(ca->host);
	free(ca->url);
	ae_strv_free(ca->fallback_urls);
	ae_strv_free(ca->renewal_urls);
	free(ca->endpoint_trust);
	ae_strv_free(ca->templates);
	X509_free(ca->cert);
	free(ca->subject);
	free(ca->thumbprint);
	free(ca->invalid_reason);
	memset(ca, 0, sizeof(*ca));
}

void
ae_pki_clear(ae_pki *pki)
{
	for (size_t i = 0; i < pki->ca_count; i++)
		ae_ca_clear(&pki->cas[i]);
	free(pki->cas);
	sk_X509_pop_free(pki->roots, X509_free);
	sk_X509_pop_free(pki->intermediates, X509_free);
	sk_X509_pop_free(pki->ntauth, X509_free);
	memset(pki, 0, sizeof(*pki));
}

/* WHAT, with OpenSSL's first queued error, which is then cleared. */
static ae_err
decode_error(ae_ctx *ctx, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return ae_set_message(ctx, AE_ERR_CRYPTO, "%s (%s)", what, buf);
}

int
ae_certs_from_pem(const char *pem, STACK_OF(X509) **stack)
{
	BIO *bio = pem != NULL ? BIO_new_mem_buf(pem, -1) : NULL;
	X509 *x;
	int n = 0;

	if (pem == NULL)
		return 0;
	if (bio == NULL || (*stack == NULL && (*stack = sk_X509_new_null()) == NULL)) {
		BIO_free(bio);
		return -1;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(*stack, x) <= 0) {
			X509_free(x);
			n = -1;
			break;
		}
		n++;
	}
	ERR_clear_error();
	BIO_free(bio);
	return n;
}

ae_err
ae_x509_from_der(ae_ctx *ctx, const uint8_t *der, size_t len, X509 **out)
{
	const unsigned char *p = der;
	X509 *x;

	*out = NULL;
	if (len == 0)
		return ae_set_message(ctx, AE_ERR_CRYPTO, "empty certificate value");
	if (len > 1024 * 1024)
		return ae_set_message(ctx, AE_ERR_CRYPTO, "certificate value of %zu bytes is too large", len);
	if (der[0] != 0x30)
		return ae_set_message(ctx, AE_ERR_CRYPTO,
		                      "not a DER certificate (first byte 0x%02x; a DER certificate starts with 0x30%s)",
		                      der[0], der[0] == '-' ? ": this looks like PEM" : "");
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL)
		return decode_error(ctx, "not a DER certificate");
	if ((size_t)(p - der) != len) {
		X509_free(x);
		return ae_set_message(ctx, AE_ERR_CRYPTO, "%zu bytes of trailing data after the DER certificate",
		                      len - (size_t)(p - der));
	}
	*out = x;
	return AE_OK;
}

time_t
ae_asn1_time(const ASN1_TIME *t)
{
	struct tm tm;
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

char *
ae_x509_name_string(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *out = NULL;
	long len;

	if (bio == NULL)
		return NULL;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
		len = BIO_get_mem_data(bio, &data);
		if (len >= 0)
			out = strndup(data, (size_t)len);
	}
	BIO_free(bio);
	return out;
}

ae_err
ae_ca_from_entry(ae_ctx *ctx, const ae_entry *entry, ae_ca *out)
{
	ae_ca ca;
	const ae_attr *a;
	ae_err err;

	memset(out, 0, sizeof(*out));
	memset(&ca, 0, sizeof(ca));
	ca.dn = strdup(entry->dn ? entry->dn : "");
	/* The CA's name and host go into records, request attributes and
	 * events: one with a control character is refused where it enters.
	 * The CA stays listed, not valid, under its name escaped, with the
	 * attribute at fault as the reason: never contacted, and its
	 * templates say why. */
	if ((err = ae_entry_text(ctx, entry, "cn", &ca.name)) != AE_OK ||
	    (err = ae_entry_text(ctx, entry, "displayName", &ca.display_name)) != AE_OK ||
	    (err = ae_entry_text(ctx, entry, "dNSHostName", &ca.host)) != AE_OK) {
		char *raw = ae_entry_string(entry, "cn");
		ae_buf b;

		ae_free_ptr(ca.name);
		ae_free_ptr(ca.display_name);
		ae_free_ptr(ca.host);
		ae_buf_init(&b);
		ae_buf_escaped(&b, raw != NULL ? raw : entry->dn != NULL ? entry->dn : "(no cn)");
		free(raw);
		ca.name = ae_buf_steal(&b);
		ca.invalid_reason = strdup(ae_get_message(ctx));
		ae_log(ctx, AE_LOG_WARNING, "enrollment service %s: %s", ca.name ? ca.name : "", ae_get_message(ctx));
		ae_clear_message(ctx);
		if (ca.name == NULL || ca.invalid_reason == NULL || (ca.display_name = strdup(ca.name)) == NULL) {
			ae_ca_clear(&ca);
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
	}
	if (ca.name == NULL) {
		ae_ca_clear(&ca);
		return ae_set_message(ctx, AE_ERR_INVALID, "enrollment service %s has no cn", entry->dn);
	}
	a = ae_entry_get(entry, "flags");
	if (a != NULL && a->nvalues > 0 &&
	    ae_parse_ldap_uint32(ctx, "flags", &a->values[0], &ca.flags) != AE_OK)
		ae_log(ctx, AE_LOG_WARNING, "CA %s: %s", ca.name, ae_get_message(ctx));
	a = ae_entry_get(entry, "certificateTemplates");
	for (size_t i = 0; a != NULL && i < a->nvalues; i++) {
		char *t;
		if (a->values[i].len == 0 || memchr(a->values[i].data, '\0', a->values[i].len))
			continue;
		t = strndup((const char *)a->values[i].data, a->values[i].len);
		if (t == NULL || !ae_strv_append(&ca.templates, t)) {
			free(t);
			ae_ca_clear(&ca);
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
		free(t);
	}
	a = ae_entry_get(entry, "cACertificate");
	if (ca.invalid_reason != NULL) {
		/* refused above: its certificate is not even read */
	} else if (a == NULL || a->nvalues == 0) {
		ca.invalid_reason = strdup("the enrollment service has no cACertificate");
	} else {
		err = ae_x509_from_der(ctx, a->values[0].data, a->values[0].len, &ca.cert);
		if (err != AE_OK) {
			char *r = NULL;
			if (asprintf(&r, "cACertificate: %s", ae_get_message(ctx)) < 0)
				r = NULL;
			ca.invalid_reason = r;
		}
	}
	if (ca.cert != NULL) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		ca.subject = ae_x509_name_string(X509_get_subject_name(ca.cert));
		ca.not_before = ae_asn1_time(X509_get0_notBefore(ca.cert));
		ca.not_after = ae_asn1_time(X509_get0_notAfter(ca.cert));
		if (X509_digest(ca.cert, EVP_sha1(), md, &mdlen) == 1) {
			ca.thumbprint = malloc(mdlen * 2 + 1);
			for (unsigned i = 0; ca.thumbprint != NULL && i < mdlen; i++)
				snprintf(ca.thumbprint + 2 * i, 3, "%02X", md[i]);
		}
	}
	*out = ca;
	return AE_OK;
}

ae_err
ae_pki_add_certs(ae_ctx *ctx, STACK_OF(X509) **stack, const ae_entry *entry, const char *attr)
{
	const ae_attr *a = ae_entry_get(entry, attr);

	if (*stack == NULL) {
		*stack = sk_X509_new_null();
		if (*stack == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; a != NULL && i < a->nvalues; i++) {
		X509 *x = NULL;
		if (ae_x509_from_der(ctx, a->values[i].data, a->values[i].len, &x) != AE_OK) {
			ae_log(ctx, AE_LOG_WARNING, "%s of %s: value %zu skipped: %s", attr, entry->dn, i,
			       ae_get_message(ctx));
			continue;
		}
		if (!sk_X509_push(*stack, x)) {
			X509_free(x);
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
	}
	return AE_OK;
}

/* CertificatePair (X.509 11.2.3; RFC 4523 2.4, the LDAP syntax of
 * crossCertificatePair;binary), in the X.509 module's explicit tagging:
 *   CertificatePair ::= SEQUENCE {
 *     issuedToThisCA [0] Certificate OPTIONAL,   -- forward
 *     issuedByThisCA [1] Certificate OPTIONAL }  -- reverse
 * with at least one of the two.  What `certutil -dspublish -f CROSS.crt
 * CrossCA` writes into CN=AIA. */
typedef struct {
	X509 *forward;
	X509 *reverse;
} AE_CERT_PAIR;

ASN1_SEQUENCE(AE_CERT_PAIR) = {
	ASN1_EXP_OPT(AE_CERT_PAIR, forward, X509, 0),
	ASN1_EXP_OPT(AE_CERT_PAIR, reverse, X509, 1),
} static_ASN1_SEQUENCE_END(AE_CERT_PAIR)

ae_err
ae_cert_pair_from_der(ae_ctx *ctx, const uint8_t *der, size_t len, X509 **forward, X509 **reverse)
{
	const unsigned char *p = der;
	AE_CERT_PAIR *pair = NULL;
	ae_err err = AE_OK;

	*forward = NULL;
	*reverse = NULL;
	if (len == 0 || len > 2 * 1024 * 1024 || der[0] != 0x30)
		return ae_set_message(ctx, AE_ERR_CRYPTO, "not a DER certificate pair (%zu bytes%s)", len,
		                      len > 0 && der[0] != 0x30 ? ", not a SEQUENCE" : "");
	pair = (AE_CERT_PAIR *)ASN1_item_d2i(NULL, &p, (long)len, ASN1_ITEM_rptr(AE_CERT_PAIR));
	if (pair == NULL)
		return decode_error(ctx, "not a DER certificate pair");
	if ((size_t)(p - der) != len)
		err = ae_set_message(ctx, AE_ERR_CRYPTO, "%zu bytes of trailing data after the certificate pair",
		                     len - (size_t)(p - der));
	else if (pair->forward == NULL && pair->reverse == NULL)
		err = ae_set_message(ctx, AE_ERR_CRYPTO, "a certificate pair with neither certificate");
	if (err == AE_OK) {
		*forward = pair->forward;
		*reverse = pair->reverse;
		pair->forward = pair->reverse = NULL;
	}
	ASN1_item_free((ASN1_VALUE *)pair, ASN1_ITEM_rptr(AE_CERT_PAIR));
	return err;
}

ae_err
ae_pki_add_cross_certs(ae_ctx *ctx, STACK_OF(X509) **stack, const ae_entry *entry)
{
	const ae_attr *a = ae_entry_get(entry, "crossCertificatePair");

	if (*stack == NULL && (*stack = sk_X509_new_null()) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; a != NULL && i < a->nvalues; i++) {
		X509 *x[2] = { NULL, NULL };
		if (ae_cert_pair_from_der(ctx, a->values[i].data, a->values[i].len, &x[0], &x[1]) != AE_OK) {
			ae_log(ctx, AE_LOG_WARNING, "crossCertificatePair of %s: value %zu skipped: %s", entry->dn, i,
			       ae_get_message(ctx));
			ae_clear_message(ctx);
			continue;
		}
		for (int k = 0; k < 2; k++) {
			if (x[k] != NULL && !sk_X509_push(*stack, x[k])) {
				for (int l = k; l < 2; l++)
					X509_free(x[l]);
				return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			}
		}
	}
	return AE_OK;
}

/* Critical extensions Windows defines and that we may pass over: they say
 * what a certificate is for or where it comes from, and limit nothing we
 * would have to enforce.  Application policy mappings and constraints
 * (21.11, 21.12) do limit chains: they are not listed. */
static const char *const windows_critical[] = {
	"1.3.6.1.4.1.311.21.10", /* szOID_APPLICATION_CERT_POLICIES */
	"1.3.6.1.4.1.311.21.7",  /* szOID_CERTIFICATE_TEMPLATE */
	"1.3.6.1.4.1.311.20.2",  /* szOID_ENROLL_CERTTYPE_EXTENSION */
	"1.3.6.1.4.1.311.21.1",  /* szOID_CERTSRV_CA_VERSION */
	"1.3.6.1.4.1.311.21.2",  /* szOID_CERTSRV_PREVIOUS_CERT_HASH */
	"1.3.6.1.4.1.311.25.2",  /* szOID_NTDS_CA_SECURITY_EXT */
	"1.2.840.113549.1.9.15", /* S/MIME capabilities */
	NULL,
};

static int
windows_extensions_cb(int ok, X509_STORE_CTX *vctx)
{
	X509 *cert;

	if (ok || X509_STORE_CTX_get_error(vctx) != X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION)
		return ok;
	cert = X509_STORE_CTX_get_current_cert(vctx);
	if (cert == NULL)
		return 0;
	for (int i = 0; i < X509_get_ext_count(cert); i++) {
		X509_EXTENSION *ext = X509_get_ext(cert, i);
		char oid[80] = "";
		bool known = false;

		if (!X509_EXTENSION_get_critical(ext) || X509_supported_extension(ext))
			continue;
		if (OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(ext), 1) <= 0)
			return 0;
		for (size_t k = 0; windows_critical[k] != NULL && !known; k++)
			known = strcmp(oid, windows_critical[k]) == 0;
		if (!known)
			return 0;
	}
	X509_STORE_CTX_set_error(vctx, X509_V_OK);
	return 1;
}

void
ae_pki_accept_windows_extensions(X509_STORE_CTX *vctx)
{
	X509_STORE_CTX_set_verify_cb(vctx, windows_extensions_cb);
}

static void
validate_one(ae_ctx *ctx, ae_ca *ca, X509_STORE *store, STACK_OF(X509) *untrusted, time_t now)
{
	X509_STORE_CTX *vctx;
	char *reason = NULL;

	ca->valid = false;
	if (ca->cert == NULL)
		return;
	if (X509_check_ca(ca->cert) <= 0) {
		if (asprintf(&reason, "the certificate of %s is not a CA certificate (no basicConstraints CA:TRUE)", ca->name) < 0)
			reason = NULL;
		goto done;
	}
	vctx = X509_STORE_CTX_new();
	if (vctx == NULL || X509_STORE_CTX_init(vctx, store, ca->cert, untrusted) != 1) {
		X509_STORE_CTX_free(vctx);
		reason = strdup("out of memory while validating");
		goto done;
	}
	if (now != 0)
		X509_STORE_CTX_set_time(vctx, 0, now);
	ae_pki_accept_windows_extensions(vctx);
	if (X509_verify_cert(vctx) == 1) {
		ca->valid = true;
	} else {
		int e = X509_STORE_CTX_get_error(vctx);
		const char *hint = "";
		if (e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
		    e == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
		    e == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
		    e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT)
			hint = " (its root is not in CN=Certification Authorities, or an intermediate is missing from CN=AIA)";
		if (asprintf(&reason, "the certificate of %s does not validate: %s%s", ca->name,
		             X509_verify_cert_error_string(e), hint) < 0)
			reason = NULL;
	}
	X509_STORE_CTX_free(vctx);
done:
	if (!ca->valid) {
		free(ca->invalid_reason);
		ca->invalid_reason = reason ? reason : strdup("validation failed");
		ae_log(ctx, AE_LOG_INFO, "%s", ca->invalid_reason ? ca->invalid_reason : "CA invalid");
	} else {
		free(reason);
	}
}

void
ae_pki_validate(ae_ctx *ctx, ae_pki *pki, time_t now)
{
	X509_STORE *store = X509_STORE_new();

	/* Revocation is not checked: the whitepaper has clients ignore CA
	 * revocation that cannot be fetched, and AD is the trust source. */
	for (int i = 0; store != NULL && pki->roots != NULL && i < sk_X509_num(pki->roots); i++)
		X509_STORE_add_cert(store, sk_X509_value(pki->roots, i));
	for (size_t i = 0; i < pki->ca_count; i++) {
		if (store == NULL) {
			pki->cas[i].valid = false;
			continue;
		}
		validate_one(ctx, &pki->cas[i], store, pki->intermediates, now);
	}
	X509_STORE_free(store);
}

X509 *
ae_pki_trusted_issuer(const ae_pki *pki, X509 *cert)
{
	for (size_t i = 0; pki != NULL && cert != NULL && i < pki->ca_count; i++) {
		const ae_ca *ca = &pki->cas[i];
		EVP_PKEY *k = ca->cert != NULL ? X509_get0_pubkey(ca->cert) : NULL;

		if (!ca->valid || k == NULL || X509_check_issued(ca->cert, cert) != X509_V_OK)
			continue;
		if (X509_verify(cert, k) == 1)
			return ca->cert;
		ERR_clear_error();
	}
	return NULL;
}

size_t
ae_budget_ds_certs(ae_pulse_budget *b, size_t count, const char **said)
{
	*said = NULL;
	if (count <= AE_PULSE_MAX_DS_CERTS)
		return count;
	if (!b->certs_said) {
		b->certs_said = true;
		*said = "the account publishes more certificates in userCertificate than a pulse considers "
		        "(AE_PULSE_MAX_DS_CERTS, " AE_STR(AE_PULSE_MAX_DS_CERTS) "): the rest are not looked at";
	}
	return AE_PULSE_MAX_DS_CERTS;
}

bool
ae_budget_crl_check(ae_pulse_budget *b, const char **said)
{
	*said = NULL;
	if (b->crl_checks < AE_PULSE_MAX_CRL_CHECKS) {
		b->crl_checks++;
		return true;
	}
	if (!b->crls_said) {
		b->crls_said = true;
		*said = "this pulse has checked as many CRLs as a pulse checks (AE_PULSE_MAX_CRL_CHECKS, " AE_STR(
		        AE_PULSE_MAX_CRL_CHECKS) "): "
		        "the revocation of the rest is unknown until the next pulse";
	}
	return false;
}
