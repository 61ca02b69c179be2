/*
 * test-aia.c - a certificate's issuers from its AIA caIssuers locations
 * (net/aia.c): the locations in order, ldap:/// through a stand-in for the
 * policy source's session, http:// against a forked server, the forms a
 * location serves (DER, PEM, PKCS#7), and nothing but the real issuer
 * kept.
 */
#include "config.h"

#include "aia.h"
#include "httpd.h"
#include "tap.h"
#include "util.h"

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INT_DN "CN=Lab Issuing CA,CN=AIA,CN=Public Key Services,CN=Services,CN=Configuration,DC=corp,DC=test"
#define INT_LDAP "ldap:///CN=Lab%20Issuing%20CA,CN=AIA,CN=Public%20Key%20Services,CN=Services,CN=Configuration,DC=corp,DC=test?cACertificate?base?objectClass=certificationAuthority"

static EVP_PKEY *
new_key(void)
{
	return EVP_EC_gen("P-256");
}

/* A certificate for CN by ISSUER (NULL: self-signed) with the caIssuers
 * locations AIA ("a|b", NULL: none). */
static X509 *
make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, const char *aia, bool ca)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	if (ca) {
		e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	if (aia != NULL) {
		AUTHORITY_INFO_ACCESS *info = sk_ACCESS_DESCRIPTION_new_null();
		char *copy = strdup(aia), *save = NULL;
		for (char *t = strtok_r(copy, "|", &save); t != NULL; t = strtok_r(NULL, "|", &save)) {
			ACCESS_DESCRIPTION *ad = ACCESS_DESCRIPTION_new();
			ASN1_IA5STRING *uri = ASN1_IA5STRING_new();
			ASN1_STRING_set(uri, t, (int)strlen(t));
			ASN1_OBJECT_free(ad->method);
			ad->method = OBJ_nid2obj(NID_ad_ca_issuers);
			GENERAL_NAME_set0_value(ad->location, GEN_URI, uri);
			sk_ACCESS_DESCRIPTION_push(info, ad);
		}
		X509_add1_ext_i2d(x, NID_info_access, info, 0, X509V3_ADD_DEFAULT);
		AUTHORITY_INFO_ACCESS_free(info);
		free(copy);
	}
	X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
	return x;
}

static uint8_t *
der_of(X509 *x, size_t *len)
{
	uint8_t *der = NULL;
	int n = i2d_X509(x, &der);
	*len = n > 0 ? (size_t)n : 0;
	return der;
}

/* The stand-in for the policy source's LDAP session: the directory holds
 * one object with one cACertificate value. */
static struct {
	const char *dn;
	uint8_t *value;
	size_t len;
	unsigned reads;
} dir;

static ae_err
ldap_read(ae_ctx *ctx, void *arg, const char *dn, const char *attr, ae_value **values, size_t *count)
{
	(void)arg;
	dir.reads++;
	*values = NULL;
	*count = 0;
	if (dir.dn == NULL || strcmp(dn, dir.dn) != 0 || strcmp(attr, "cACertificate") != 0)
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "no such object: %s", dn);
	*values = calloc(1, sizeof(ae_value));
	(*values)[0].data = malloc(dir.len);
	memcpy((void *)(*values)[0].data, dir.value, dir.len);
	(*values)[0].len = dir.len;
	*count = 1;
	return AE_OK;
}

static size_t
found_count(STACK_OF(X509) *sk)
{
	return sk == NULL ? 0 : (size_t)sk_X509_num(sk);
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_conf conf = { .crl_timeout = 5 };
	EVP_PKEY *root_key = new_key(), *int_key = new_key(), *other_key = new_key(), *leaf_key = new_key();
	X509 *root = make_cert("Lab Root", root_key, NULL, NULL, NULL, true);
	X509 *inter = make_cert("Lab Issuing CA", int_key, root, root_key, NULL, true);
	/* Same name, other key: what a location must not slip in. */
	X509 *impostor = make_cert("Lab Issuing CA", other_key, root, root_key, NULL, true);
	ae_crl_fetch fetch = { .ldap_read = ldap_read };
	STACK_OF(X509) *out = NULL;
	char **urls = NULL;
	char *url = NULL, *both = NULL, *ok_ans, *imp_ans, *pem_ans, *p7_ans, *junk_ans;
	size_t int_len, imp_len, ok_len, imp_ans_len, pem_len, p7_len, junk_len;
	uint8_t *int_der = der_of(inter, &int_len), *imp_der = der_of(impostor, &imp_len);
	X509 *leaf;
	int port;
	pid_t srv;


	/* The http side: the issuer as DER, PEM, PKCS#7; an impostor; junk. */
	{
		BIO *b = BIO_new(BIO_s_mem());
		BUF_MEM *m;
		PKCS7 *p7 = PKCS7_new();
		uint8_t *p7der = NULL;
		int n;
		STACK_OF(X509) *certs;

		PEM_write_bio_X509(b, inter);
		BIO_get_mem_ptr(b, &m);
		pem_ans = httpd_ok(m->data, m->length, &pem_len);
		BIO_free(b);
		PKCS7_set_type(p7, NID_pkcs7_signed);
		PKCS7_content_new(p7, NID_pkcs7_data);
		PKCS7_add_certificate(p7, root);
		PKCS7_add_certificate(p7, inter);
		n = i2d_PKCS7(p7, &p7der);
		p7_ans = httpd_ok(p7der, n > 0 ? (size_t)n : 0, &p7_len);
		tap_ok(ae_aia_decode(ctx, p7der, (size_t)n, "test", &certs) == AE_OK && found_count(certs) == 2,
		       "a PKCS#7 certs-only bundle gives its certificates");
		sk_X509_pop_free(certs, X509_free);
		OPENSSL_free(p7der);
		PKCS7_free(p7);
	}
	ok_ans = httpd_ok(int_der, int_len, &ok_len);
	imp_ans = httpd_ok(imp_der, imp_len, &imp_ans_len);
	junk_ans = httpd_ok("not a certificate", 17, &junk_len);
	{
		httpd_route routes[] = {
			{ "/int.crt", ok_ans, ok_len },
			{ "/int.pem", pem_ans, pem_len },
			{ "/int.p7c", p7_ans, p7_len },
			{ "/impostor.crt", imp_ans, imp_ans_len },
			{ "/junk.crt", junk_ans, junk_len },
		};
		srv = httpd_start(routes, sizeof(routes) / sizeof(routes[0]), SERVE_CLOSE, &port);
	}

	/* Locations, in the certificate's order. */
	both = ae_strdup_printf("%s|http://127.0.0.1:%d/int.crt", INT_LDAP, port);
	leaf = make_cert("ws1.corp.test", leaf_key, inter, int_key, both, false);
	tap_ok(ae_aia_locations(ctx, leaf, &urls) == AE_OK && ae_strv_len(urls) == 2 &&
	           strncmp(urls[0], "ldap:///", 8) == 0 && strncmp(urls[1], "http://", 7) == 0,
	       "caIssuers locations in the certificate's order");
	ae_strv_free(urls);
	urls = NULL;
	tap_ok(ae_aia_locations(ctx, root, &urls) == AE_OK && urls == NULL, "no AIA: no location");

	/* ldap:/// first, over the session. */
	dir.dn = INT_DN;
	dir.value = int_der;
	dir.len = int_len;
	tap_ok(ae_aia_issuers(ctx, &conf, &fetch, leaf, &out) == AE_OK && found_count(out) == 1 &&
	           X509_cmp(sk_X509_value(out, 0), inter) == 0 && dir.reads == 1,
	       "the issuer read from the ldap:/// location over the LDAP session");
	sk_X509_pop_free(out, X509_free);
	out = NULL;

	/* The directory has an impostor: http:// next. */
	dir.value = imp_der;
	dir.len = imp_len;
	tap_ok(ae_aia_issuers(ctx, &conf, &fetch, leaf, &out) == AE_OK && found_count(out) == 1 &&
	           X509_cmp(sk_X509_value(out, 0), inter) == 0,
	       "a certificate that did not issue this one is passed over; the http:// location gives the issuer");
	sk_X509_pop_free(out, X509_free);
	out = NULL;

	/* No LDAP session: ldap:/// skipped with a reason, http:// used. */
	tap_ok(ae_aia_issuers(ctx, &conf, NULL, leaf, &out) == AE_OK && found_count(out) == 1,
	       "without an LDAP session the http:// location serves");
	sk_X509_pop_free(out, X509_free);
	out = NULL;
	X509_free(leaf);

	/* The forms an http:// location serves. */
	{
		static const char *const paths[] = { "/int.pem", "/int.p7c" };
		for (size_t i = 0; i < 2; i++) {
			free(url);
			url = ae_strdup_printf("http://127.0.0.1:%d%s", port, paths[i]);
			leaf = make_cert("ws1.corp.test", leaf_key, inter, int_key, url, false);
			tap_ok(ae_aia_issuers(ctx, &conf, NULL, leaf, &out) == AE_OK && found_count(out) == 1 &&
			           X509_cmp(sk_X509_value(out, 0), inter) == 0,
			       "%s: only the issuer kept of what the location serves", paths[i]);
			sk_X509_pop_free(out, X509_free);
			out = NULL;
			X509_free(leaf);
		}
	}

	/* Nothing usable anywhere: every location's problem is said. */
	free(both);
	both = ae_strdup_printf("%s|http://127.0.0.1:%d/impostor.crt|http://127.0.0.1:%d/junk.crt|"
	                        "http://127.0.0.1:%d/missing.crt|file:///etc/passwd",
	                        INT_LDAP, port, port, port);
	leaf = make_cert("ws1.corp.test", leaf_key, inter, int_key, both, false);
	dir.dn = NULL;
	tap_ok(ae_aia_issuers(ctx, &conf, &fetch, leaf, &out) == AE_ERR_NOTFOUND && out == NULL,
	       "no location with the issuer: not found");
	tap_ok(strstr(ae_get_message(ctx), "no such object") != NULL, "the LDAP reason is named");
	tap_ok(strstr(ae_get_message(ctx), "impostor.crt holds no certificate that issued this one") != NULL,
	       "the impostor is named");
	tap_ok(strstr(ae_get_message(ctx), "junk.crt holds neither a certificate") != NULL, "junk is named");
	tap_ok(strstr(ae_get_message(ctx), "missing.crt") != NULL, "the 404 is named");
	tap_ok(strstr(ae_get_message(ctx), "file:") != NULL, "a file: location is refused, not read");
	ae_clear_message(ctx);
	X509_free(leaf);

	/* Timeouts name their setting. */
	free(url);
	url = ae_strdup_printf("http://127.0.0.1:%d/int.crt", httpd_refused_port());
	leaf = make_cert("ws1.corp.test", leaf_key, inter, int_key, url, false);
	tap_ok(ae_aia_issuers(ctx, &conf, NULL, leaf, &out) != AE_OK && out == NULL,
	       "a location nobody answers at: error");
	ae_clear_message(ctx);
	X509_free(leaf);

	/* Decoding untrusted bytes. */
	tap_ok(ae_aia_decode(ctx, (const uint8_t *)"", 0, "test", &out) == AE_ERR_INVALID && out == NULL,
	       "empty: refused");
	ae_clear_message(ctx);
	tap_ok(ae_aia_decode(ctx, int_der, int_len - 1, "test", &out) == AE_ERR_INVALID && out == NULL,
	       "a truncated certificate: refused");
	ae_clear_message(ctx);

	httpd_stop(srv);
	free(url);
	free(both);
	free(ok_ans);
	free(imp_ans);
	free(pem_ans);
	free(p7_ans);
	free(junk_ans);
	OPENSSL_free(int_der);
	OPENSSL_free(imp_der);
	X509_free(root);
	X509_free(inter);
	X509_free(impostor);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(int_key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(leaf_key);
	ae_ctx_free(ctx);
	return tap_done();
}
