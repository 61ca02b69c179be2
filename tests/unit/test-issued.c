/*
 * test-issued.c - the checks on a certificate a CA returns: our public key,
 * signed by the CA we asked and chained to a root from AD, valid now, of
 * the template we asked for; and the chain in pctbCert.
 */
#include "config.h"

#include "issued.h"
#include "pki.h"
#include "tap.h"

#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define TPL_OID "1.3.6.1.4.1.311.21.8.1.2.3.4.5.6.1.101"

static void
add_template_ext(X509 *x, const char *oid, int major, int minor)
{
	ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
	unsigned char buf[256], *p = buf + 2;
	int ol = i2d_ASN1_OBJECT(o, &p);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	ASN1_OBJECT *eo = OBJ_txt2obj("1.3.6.1.4.1.311.21.7", 1);
	X509_EXTENSION *ext;

	p[0] = 0x02; p[1] = 0x01; p[2] = (unsigned char)major;
	p[3] = 0x02; p[4] = 0x01; p[5] = (unsigned char)minor;
	buf[0] = 0x30;
	buf[1] = (unsigned char)(ol + 6);
	ASN1_OCTET_STRING_set(os, buf, ol + 8);
	ext = X509_EXTENSION_create_by_OBJ(NULL, eo, 0, os);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(o);
	ASN1_OBJECT_free(eo);
}

static void
add_name_ext(X509 *x, const char *name)
{
	unsigned char buf[128];
	size_t n = strlen(name);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	ASN1_OBJECT *eo = OBJ_txt2obj("1.3.6.1.4.1.311.20.2", 1);
	X509_EXTENSION *ext;

	buf[0] = 0x1e; /* BMPString, as Windows writes it */
	buf[1] = (unsigned char)(2 * n);
	for (size_t i = 0; i < n; i++) {
		buf[2 + 2 * i] = 0;
		buf[3 + 2 * i] = (unsigned char)name[i];
	}
	ASN1_OCTET_STRING_set(os, buf, (int)(2 + 2 * n));
	ext = X509_EXTENSION_create_by_OBJ(NULL, eo, 0, os);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(eo);
}

static X509 *
make_cert(const char *cn, X509 *issuer, EVP_PKEY *pub, EVP_PKEY *signer, bool ca, long days_from, long days_to)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), rand() & 0x7fffffff);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), days_from * 86400);
	X509_gmtime_adj(X509_getm_notAfter(x), days_to * 86400);
	X509_set_pubkey(x, pub);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (ca) {
		e = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	return x;
}

static void
sign(X509 *x, EVP_PKEY *k)
{
	X509_sign(x, k, EVP_sha256());
}

/* A PKCS#7 certs-only blob of the N certificates CERTS (OPENSSL_free). */
static int
certs_only(X509 **certs, int n, unsigned char **der)
{
	PKCS7 *p7 = PKCS7_new();
	int len;

	*der = NULL;
	PKCS7_set_type(p7, NID_pkcs7_signed);
	PKCS7_content_new(p7, NID_pkcs7_data);
	for (int i = 0; i < n; i++)
		PKCS7_add_certificate(p7, certs[i]);
	len = i2d_PKCS7(p7, der);
	PKCS7_free(p7);
	return len;
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();
	EVP_PKEY *root_k = EVP_EC_gen("P-256"), *ca_k = EVP_EC_gen("P-256"), *other_ca_k = EVP_EC_gen("P-256");
	EVP_PKEY *mine = EVP_EC_gen("P-256"), *theirs = EVP_EC_gen("P-256");
	X509 *root = make_cert("Root", NULL, root_k, root_k, true, 0, 3650);
	X509 *ca, *other_ca, *leaf;
	STACK_OF(X509) *roots = sk_X509_new_null(), *none = sk_X509_new_null(), *chain = NULL;
	ae_template tpl;
	ae_cert_template ct;
	ae_err err;

	sign(root, root_k);
	ca = make_cert("Issuing CA", root, ca_k, root_k, true, 0, 1825);
	sign(ca, root_k);
	other_ca = make_cert("Issuing CA", root, other_ca_k, root_k, true, 0, 1825);
	sign(other_ca, root_k);
	sk_X509_push(roots, root);
	memset(&tpl, 0, sizeof(tpl));
	tpl.name = "LabUser";
	tpl.oid = TPL_OID;
	tpl.schema_version = 2;

	/* The good case. */
	leaf = make_cert("alice", ca, mine, ca_k, false, 0, 365);
	add_template_ext(leaf, TPL_OID, 100, 3);
	sign(leaf, ca_k);
	err = ae_issued_verify(ctx, leaf, mine, &tpl, ca, roots, NULL);
	tap_ok(err == AE_OK, "our key, our CA, chained, right template: accepted (%s)", err ? ae_get_message(ctx) : "ok");
	tap_ok(ae_cert_template_read(ctx, leaf, &ct) == AE_OK && ct.template_oid &&
	       strcmp(ct.template_oid, TPL_OID) == 0 && ct.major == 100 && ct.minor == 3,
	       "template extension read back: OID, major 100, minor 3");
	ae_cert_template_clear(&ct);

	/* Each way to be wrong. */
	err = ae_issued_verify(ctx, leaf, theirs, &tpl, ca, roots, NULL);
	tap_ok(err == AE_ERR_CRYPTO && strstr(ae_get_message(ctx), "another public key"),
	       "a certificate for another key is rejected: %s", ae_get_message(ctx));
	err = ae_issued_verify(ctx, leaf, mine, &tpl, other_ca, roots, NULL);
	tap_ok(err == AE_ERR_CRYPTO && strstr(ae_get_message(ctx), "not signed by the CA we asked"),
	       "signed by another CA (same name, other key): rejected: %s", ae_get_message(ctx));
	err = ae_issued_verify(ctx, leaf, mine, &tpl, ca, none, NULL);
	tap_ok(err == AE_ERR_CRYPTO && strstr(ae_get_message(ctx), "does not chain"),
	       "no root from AD: rejected: %s", ae_get_message(ctx));
	tpl.oid = "1.3.6.1.4.1.311.21.8.9.9.9";
	err = ae_issued_verify(ctx, leaf, mine, &tpl, ca, roots, NULL);
	tap_ok(err == AE_ERR_CRYPTO && strstr(ae_get_message(ctx), "is of template " TPL_OID),
	       "another template's certificate is rejected: %s", ae_get_message(ctx));
	tpl.oid = TPL_OID;
	X509_free(leaf);

	/* Critical extensions: those Windows defines pass (the template
	 * editor can mark application policies critical), others do not. */
	{
		static const char *const cases[][2] = {
			{ "1.3.6.1.4.1.311.21.10", "y" }, /* application policies */
			{ "1.3.6.1.4.1.311.21.12", "n" }, /* application policy constraints */
			{ "1.2.3.4.5", "n" },
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			ASN1_OBJECT *o = OBJ_txt2obj(cases[i][0], 1);
			ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
			X509_EXTENSION *ext;
			bool want = cases[i][1][0] == 'y';

			/* SEQUENCE { SEQUENCE { clientAuth } }, as Windows encodes it */
			ASN1_OCTET_STRING_set(os, (const unsigned char *)"\x30\x0a\x30\x08\x06\x06\x2b\x06\x01\x05\x05\x07", 12);
			leaf = make_cert("alice", ca, mine, ca_k, false, 0, 365);
			add_template_ext(leaf, TPL_OID, 100, 0);
			ext = X509_EXTENSION_create_by_OBJ(NULL, o, 1, os);
			X509_add_ext(leaf, ext, -1);
			sign(leaf, ca_k);
			err = ae_issued_verify(ctx, leaf, mine, &tpl, ca, roots, NULL);
			tap_ok(want ? err == AE_OK : err == AE_ERR_CRYPTO && strstr(ae_get_message(ctx), cases[i][0]) != NULL,
			       "a critical %s extension: %s (%s)", cases[i][0], want ? "accepted" : "rejected",
			       err ? ae_get_message(ctx) : "ok");
			X509_EXTENSION_free(ext);
			ASN1_OCTET_STRING_free(os);
			ASN1_OBJECT_free(o);
			X509_free(leaf);
		}
	}

	leaf = make_cert("alice", ca, mine, ca_k, false, -30, -1);
	add_template_ext(leaf, TPL_OID, 100, 0);
	sign(leaf, ca_k);
	err = ae_issued_verify(ctx, leaf, mine, &tpl, ca, roots, NULL);
	tap_ok(err == AE_ERR_CRYPTO && strstr(ae_get_message(ctx), "expired"),
	       "an expired certificate is rejected: %s", ae_get_message(ctx));
	X509_free(leaf);

	leaf = make_cert("alice", ca, mine, ca_k, false, 0, 365);
	sign(leaf, ca_k);
	err = ae_issued_verify(ctx, leaf, mine, &tpl, ca, roots, NULL);
	tap_ok(err == AE_ERR_CRYPTO && strstr(ae_get_message(ctx), "(none)"),
	       "no template extension at all: rejected");
	X509_free(leaf);

	/* Schema 1: the name extension (BMPString). */
	tpl.schema_version = 1;
	tpl.oid = NULL;
	tpl.name = "User";
	leaf = make_cert("alice", ca, mine, ca_k, false, 0, 365);
	add_name_ext(leaf, "User");
	sign(leaf, ca_k);
	tap_ok(ae_issued_verify(ctx, leaf, mine, &tpl, ca, roots, NULL) == AE_OK,
	       "v1 template named by its BMPString extension: accepted");
	tpl.name = "Machine";
	tap_ok(ae_issued_verify(ctx, leaf, mine, &tpl, ca, roots, NULL) == AE_ERR_CRYPTO,
	       "v1 name of another template: rejected");

	/* The chain blob. */
	{
		X509 *two[] = { leaf, ca };
		unsigned char *der = NULL;
		int len = certs_only(two, 2, &der);
		tap_ok(ae_certs_from_pkcs7(ctx, der, (size_t)len, &chain) == AE_OK && sk_X509_num(chain) == 2,
		       "PKCS#7 certs-only chain: two certificates");
		sk_X509_pop_free(chain, X509_free);
		chain = NULL;
		tap_ok(ae_certs_from_pkcs7(ctx, der, (size_t)len / 2, &chain) == AE_ERR_INVALID && chain == NULL,
		       "a truncated chain is an error, nothing returned");
		tap_ok(ae_certs_from_pkcs7(ctx, NULL, 0, &chain) == AE_OK && sk_X509_num(chain) == 0,
		       "no chain: empty");
		sk_X509_pop_free(chain, X509_free);
		OPENSSL_free(der);
	}
	/* Only the verified chain is kept: the unrelated certificate the
	 * PKCS#7 also carried is not on it (issue 19). */
	{
		EVP_PKEY *stray_k = EVP_EC_gen("P-256");
		X509 *stray = make_cert("Stray", NULL, stray_k, stray_k, true, 0, 365);
		X509 *four[] = { leaf, stray, ca, root };
		STACK_OF(X509) *offered = NULL, *verified = NULL;
		unsigned char *der = NULL;
		int len;

		tpl.name = "User";
		sign(stray, stray_k);
		len = certs_only(four, 4, &der);
		tap_ok(ae_certs_from_pkcs7(ctx, der, (size_t)len, &offered) == AE_OK && sk_X509_num(offered) == 4,
		       "PKCS#7 with an unrelated certificate: four certificates offered");
		err = ae_issued_verify_chain(ctx, leaf, mine, &tpl, ca, roots, offered, &verified);
		tap_ok(err == AE_OK && verified != NULL && sk_X509_num(verified) == 2 &&
		               X509_cmp(sk_X509_value(verified, 0), ca) == 0 &&
		               X509_cmp(sk_X509_value(verified, 1), root) == 0,
		       "verified chain: issuing CA then root, no leaf");
		for (int i = 0; verified != NULL && i < sk_X509_num(verified); i++)
			tap_ok(X509_cmp(sk_X509_value(verified, i), stray) != 0, "the unrelated certificate is dropped");
		sk_X509_pop_free(verified, X509_free);
		verified = NULL;
		tap_ok(ae_issued_verify_chain(ctx, leaf, theirs, &tpl, ca, roots, offered, &verified) == AE_ERR_CRYPTO &&
		               verified == NULL,
		       "refused certificate: no chain returned");
		sk_X509_pop_free(offered, X509_free);
		OPENSSL_free(der);
		X509_free(stray);
		EVP_PKEY_free(stray_k);
	}
	/* A published certificate's CRL is fetched only when an enterprise CA
	 * from AD whose certificate validates signed it; and a pulse's budget
	 * of certificates and CRL checks (issue 19). */
	{
		ae_ca cas[1];
		ae_pki pki = { .cas = cas, .ca_count = 1 };
		ae_pulse_budget b = { 0 };
		X509 *forged = make_cert("alice", ca, mine, other_ca_k, false, 0, 365);
		const char *said = NULL;
		bool all = true;

		sign(forged, other_ca_k);
		memset(cas, 0, sizeof(cas));
		cas[0].cert = ca;
		cas[0].valid = true;
		tap_ok(ae_pki_trusted_issuer(&pki, leaf) == ca, "signed by a valid CA from AD: its issuer");
		tap_ok(ae_pki_trusted_issuer(&pki, forged) == NULL,
		       "same issuer name, another key's signature: no trusted issuer, no CRL fetch");
		cas[0].valid = false;
		tap_ok(ae_pki_trusted_issuer(&pki, leaf) == NULL, "a CA whose certificate does not validate: not trusted");
		X509_free(forged);

		tap_is_int((int)ae_budget_ds_certs(&b, 5, &said), 5, "5 published certificates: all considered");
		tap_ok(said == NULL, "no message under the cap");
		tap_is_int((int)ae_budget_ds_certs(&b, 1000, &said), AE_PULSE_MAX_DS_CERTS, "1000: capped");
		tap_ok(said != NULL && strstr(said, "AE_PULSE_MAX_DS_CERTS") != NULL, "the cap is said: %s",
		       said ? said : "(none)");
		ae_budget_ds_certs(&b, 1000, &said);
		tap_ok(said == NULL, "said once a pulse");
		for (int i = 0; i < AE_PULSE_MAX_CRL_CHECKS; i++)
			all = all && ae_budget_crl_check(&b, &said) && said == NULL;
		tap_ok(all, "%d CRL checks allowed", AE_PULSE_MAX_CRL_CHECKS);
		tap_ok(!ae_budget_crl_check(&b, &said) && said != NULL && strstr(said, "AE_PULSE_MAX_CRL_CHECKS") != NULL,
		       "one more refused, and said");
		tap_ok(!ae_budget_crl_check(&b, &said) && said == NULL, "refused again, said once");
	}
	X509_free(leaf);
	X509_free(ca);
	X509_free(other_ca);
	sk_X509_pop_free(roots, X509_free);
	sk_X509_free(none);
	EVP_PKEY_free(root_k);
	EVP_PKEY_free(ca_k);
	EVP_PKEY_free(other_ca_k);
	EVP_PKEY_free(mine);
	EVP_PKEY_free(theirs);
	ae_ctx_free(ctx);
	return tap_done();
}
