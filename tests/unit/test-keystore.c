/*
 * test-keystore.c - the key store on a real SoftHSM2 token made for the
 * test, and on a directory: generation, signing through the token,
 * attributes on the token, certificates, list/find/delete, and the errors
 * people meet (wrong PIN, no PIN, no such token, key size refused).
 *
 * Skips when SoftHSM2 is not installed.  AE_KEYSTORE_BENCH=N times N key
 * generations of each type and reports medians.
 */
#include "config.h"

#include "csr.h"
#include "keystore.h"
#include "tap.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/cms.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SOFTHSM_LIB "/usr/lib/softhsm/libsofthsm2.so"
#define TOKEN_URI "pkcs11:token=ae-test;module-path=" SOFTHSM_LIB
#define URI_PIN TOKEN_URI ";pin-value=1111"

static char tmpdir[] = "/tmp/ae-keystore-XXXXXX";
static ae_ctx *ctx;

/* ---- a second look at the token, through our own session ---- */

static CK_FUNCTION_LIST *peek_mod;
static CK_SESSION_HANDLE peek_session;

static bool
peek_open(void)
{
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16, i;

	peek_mod = p11_kit_module_load(SOFTHSM_LIB, 0);
	if (peek_mod == NULL || p11_kit_module_initialize(peek_mod) != CKR_OK)
		return false;
	if (peek_mod->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return false;
	for (i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		if (peek_mod->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    p11_kit_space_strlen(ti.label, sizeof(ti.label)) == 7 &&
		    memcmp(ti.label, "ae-test", 7) == 0)
			break;
	}
	if (i == n)
		return false;
	if (peek_mod->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
	                            &peek_session) != CKR_OK)
		return false;
	CK_RV rv = peek_mod->C_Login(peek_session, CKU_USER, (CK_UTF8CHAR_PTR)"1111", 4);
	return rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN;
}

static void
peek_close(void)
{
	if (peek_mod == NULL)
		return;
	peek_mod->C_CloseSession(peek_session);
	p11_kit_module_finalize(peek_mod);
	p11_kit_module_release(peek_mod);
	peek_mod = NULL;
}

static CK_ULONG
peek_find(CK_OBJECT_CLASS cls, const unsigned char *id, size_t id_len, CK_OBJECT_HANDLE *objs,
          CK_ULONG max)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)id, id_len },
	};
	CK_ULONG n = 0;

	if (peek_mod->C_FindObjectsInit(peek_session, tmpl, 2) != CKR_OK)
		return 0;
	peek_mod->C_FindObjects(peek_session, objs, max, &n);
	peek_mod->C_FindObjectsFinal(peek_session);
	return n;
}

static int
peek_bool(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = 0;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	if (peek_mod->C_GetAttributeValue(peek_session, h, &a, 1) != CKR_OK)
		return -1;
	return v == CK_TRUE;
}

static size_t
peek_bytes(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, unsigned char *buf, size_t size)
{
	CK_ATTRIBUTE a = { type, buf, size };

	if (peek_mod->C_GetAttributeValue(peek_session, h, &a, 1) != CKR_OK)
		return 0;
	return a.ulValueLen;
}

static size_t
unhex(const char *hex, unsigned char *out)
{
	size_t n = strlen(hex) / 2, i;
	unsigned v;

	for (i = 0; i < n; i++) {
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (unsigned char)v;
	}
	return n;
}

/* ---- OpenSSL side ---- */

/* A plain copy of KEY's public half, through DER: verification must not
 * touch the token. */
static EVP_PKEY *
public_copy(EVP_PKEY *key)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len = i2d_PUBKEY(key, &der);
	EVP_PKEY *pub;

	if (len <= 0)
		return NULL;
	p = der;
	pub = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	return pub;
}

static bool
sign_verify(EVP_PKEY *key, bool pss)
{
	static const unsigned char msg[] = "certificate request to be signed";
	unsigned char sig[1024];
	size_t sig_len = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new(), *vmd = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL, *vpctx = NULL;
	EVP_PKEY *pub = public_copy(key);
	bool ok = false;

	if (md == NULL || vmd == NULL || pub == NULL)
		goto out;
	if (EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key) != 1)
		goto out;
	if (pss && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1)
		goto out;
	if (EVP_DigestSign(md, sig, &sig_len, msg, sizeof(msg)) != 1)
		goto out;
	if (EVP_DigestVerifyInit(vmd, &vpctx, EVP_sha256(), NULL, pub) != 1)
		goto out;
	if (pss && EVP_PKEY_CTX_set_rsa_padding(vpctx, RSA_PKCS1_PSS_PADDING) != 1)
		goto out;
	ok = EVP_DigestVerify(vmd, sig, sig_len, msg, sizeof(msg)) == 1;
	/* And a tampered message must fail. */
	if (ok && EVP_DigestVerifyInit(vmd, &vpctx, EVP_sha256(), NULL, pub) == 1 &&
	    (!pss || EVP_PKEY_CTX_set_rsa_padding(vpctx, RSA_PKCS1_PSS_PADDING) == 1))
		ok = EVP_DigestVerify(vmd, sig, sig_len, msg, sizeof(msg) - 2) != 1;
out:
	if (!ok)
		ERR_print_errors_fp(stdout);
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	EVP_MD_CTX_free(vmd);
	EVP_PKEY_free(pub);
	return ok;
}

/* X509_REQ_sign with KEY, then `openssl req -verify` on the result. */
static bool
csr_verifies(EVP_PKEY *key, const char *name)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *subj = X509_NAME_new();
	char path[256], cmd[512];
	FILE *f;
	bool ok = false;

	snprintf(path, sizeof(path), "%s/%s.csr", tmpdir, name);
	if (req == NULL || subj == NULL ||
	    !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0) ||
	    !X509_REQ_set_subject_name(req, subj) || !X509_REQ_set_pubkey(req, key) ||
	    X509_REQ_sign(req, key, EVP_sha256()) <= 0)
		goto out;
	f = fopen(path, "w");
	if (f == NULL)
		goto out;
	PEM_write_X509_REQ(f, req);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "openssl req -verify -noout -in %s >/dev/null 2>&1", path);
	ok = system(cmd) == 0;
out:
	ERR_clear_error();
	X509_NAME_free(subj);
	X509_REQ_free(req);
	return ok;
}

static X509 *
make_cert(EVP_PKEY *subject_key, const char *cn, EVP_PKEY *issuer_key, const char *issuer_cn,
          long serial)
{
	X509 *x = X509_new();
	X509_NAME *s = X509_NAME_new(), *i = X509_NAME_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(s, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_NAME_add_entry_by_txt(i, "CN", MBSTRING_ASC, (const unsigned char *)issuer_cn, -1, -1, 0);
	X509_set_subject_name(x, s);
	X509_set_issuer_name(x, i);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, subject_key);
	if (X509_sign(x, issuer_key, EVP_sha256()) <= 0) {
		X509_free(x);
		x = NULL;
	}
	X509_NAME_free(s);
	X509_NAME_free(i);
	return x;
}

static EVP_PKEY *
plain_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool
contains(const char *s, const char *needle)
{
	return s != NULL && strstr(s, needle) != NULL;
}

static int
count_tmp_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0)
			n++;
	}
	closedir(d);
	return n;
}

typedef struct {
	ae_key_alg alg;
	unsigned bits;
	const char *name;
} keytype;

static const keytype types[] = {
	{ AE_KEY_ALG_RSA, 2048, "RSA-2048" },
	{ AE_KEY_ALG_RSA, 4096, "RSA-4096" },
	{ AE_KEY_ALG_ECDSA_P256, 0, "P-256" },
	{ AE_KEY_ALG_ECDSA_P384, 0, "P-384" },
	{ AE_KEY_ALG_ECDSA_P521, 0, "P-521" },
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static ae_key *
gen(ae_keystore *ks, const keytype *t, bool exportable, double *secs)
{
	char *id = ae_keystore_new_id();
	char label[128];
	ae_keygen g = { t->alg, t->bits, label, id, exportable };
	ae_key *key = NULL;
	double t0 = now();
	ae_err err;

	snprintf(label, sizeof(label), AE_KEY_LABEL_PREFIX "test %s", t->name);
	err = ae_keystore_generate(ctx, ks, &g, &key);
	if (secs != NULL)
		*secs = now() - t0;
	if (err != AE_OK)
		tap_diag("generate %s: %s", t->name, ae_get_message(ctx));
	free(id);
	return key;
}

/* ---- token tests ---- */

static void
check_token_attrs(ae_key *key, const keytype *t, bool exportable)
{
	unsigned char id[64], buf[8192], label_priv[256], label_pub[256];
	CK_OBJECT_HANDLE priv[4], pub[4];
	size_t id_len = unhex(ae_key_id(key), id), lp, lq;
	CK_ULONG np = peek_find(CKO_PRIVATE_KEY, id, id_len, priv, 4);
	CK_ULONG nq = peek_find(CKO_PUBLIC_KEY, id, id_len, pub, 4);
	CK_ATTRIBUTE secret = { t->alg == AE_KEY_ALG_RSA ? CKA_PRIVATE_EXPONENT : CKA_VALUE,
	                        buf, sizeof(buf) };
	CK_RV rv;

	tap_ok(np == 1 && nq == 1, "%s: one private and one public object with the id", t->name);
	if (np != 1 || nq != 1)
		return;
	tap_is_int(peek_bool(priv[0], CKA_SENSITIVE), 1, "%s: CKA_SENSITIVE true", t->name);
	tap_is_int(peek_bool(priv[0], CKA_EXTRACTABLE), exportable,
	           "%s: CKA_EXTRACTABLE %s", t->name, exportable ? "true" : "false");
	tap_is_int(peek_bool(priv[0], CKA_PRIVATE), 1, "%s: CKA_PRIVATE true", t->name);
	tap_is_int(peek_bool(priv[0], CKA_TOKEN), 1, "%s: CKA_TOKEN true on the private key", t->name);
	tap_is_int(peek_bool(pub[0], CKA_TOKEN), 1, "%s: CKA_TOKEN true on the public key", t->name);
	tap_is_int(peek_bool(priv[0], CKA_SIGN), 1, "%s: CKA_SIGN true", t->name);
	tap_is_int(peek_bool(pub[0], CKA_VERIFY), 1, "%s: CKA_VERIFY true", t->name);
	lp = peek_bytes(priv[0], CKA_LABEL, label_priv, sizeof(label_priv));
	lq = peek_bytes(pub[0], CKA_LABEL, label_pub, sizeof(label_pub));
	tap_ok(lp > 0 && lp == lq && memcmp(label_priv, label_pub, lp) == 0 &&
	       memcmp(label_priv, AE_KEY_LABEL_PREFIX, strlen(AE_KEY_LABEL_PREFIX)) == 0,
	       "%s: same CKA_LABEL with our prefix on both halves", t->name);
	rv = peek_mod->C_GetAttributeValue(peek_session, priv[0], &secret, 1);
	tap_ok(rv == CKR_ATTRIBUTE_SENSITIVE, "%s: reading the private value fails (rv 0x%lx)",
	       t->name, (unsigned long)rv);
}

/* Same-key renewal: KEY again under a new id, the same key pair, which
 * signs and goes with its own delete; an id in use or an unknown key
 * refused. */
static void
check_copy(ae_keystore *ks, ae_key *key, const char *what)
{
	ae_key *copy = NULL, *found = NULL;
	ae_err err;

	err = ae_keystore_copy(ctx, ks, ae_key_id(key), "00c0ffee", AE_KEY_LABEL_PREFIX "copy", &copy);
	tap_ok(err == AE_OK && copy != NULL && strcmp(ae_key_id(copy), "00c0ffee") == 0 &&
	               EVP_PKEY_eq(ae_key_evp(copy), ae_key_evp(key)) == 1 && sign_verify(ae_key_evp(copy), false),
	       "%s: copy under a new id: the same key, signs (%s)", what, err ? ae_get_message(ctx) : "ok");
	tap_ok(ae_key_extractable(copy) == ae_key_extractable(key), "%s: the copy is as extractable as the key", what);
	tap_ok(ae_keystore_copy(ctx, ks, ae_key_id(key), "00c0ffee", AE_KEY_LABEL_PREFIX "copy", &found) != AE_OK &&
	               found == NULL,
	       "%s: copy onto an id in use refused", what);
	tap_is_int(ae_keystore_copy(ctx, ks, "00112233", "00c0fff0", AE_KEY_LABEL_PREFIX "copy", &found),
	           AE_ERR_NOTFOUND, "%s: copy of an unknown key: AE_ERR_NOTFOUND", what);
	tap_ok(ae_keystore_delete(ctx, ks, "00c0ffee") == AE_OK &&
	               ae_keystore_find(ctx, ks, ae_key_id(key), &found) == AE_OK,
	       "%s: deleting the copy leaves the key", what);
	ae_key_free(found);
	ae_key_free(copy);
}

static void
test_token_keys(void)
{
	ae_keystore *ks = NULL;
	ae_key *keys[NTYPES] = { NULL };
	ae_key *exp_key = NULL, *found = NULL;
	EVP_PKEY *kept = NULL;
	char **ids = NULL;
	size_t i;
	ae_err err;

	err = ae_keystore_open(ctx, URI_PIN, &ks);
	tap_ok(err == AE_OK, "open the SoftHSM2 token: %s", err ? ae_get_message(ctx) : "ok");
	if (err != AE_OK)
		return;
	tap_ok(ae_keystore_is_token(ks), "it is a token");
	tap_ok(contains(ae_keystore_describe(ks), "PKCS#11 token \"ae-test\""),
	       "described as %s", ae_keystore_describe(ks));
	tap_ok(peek_open(), "second session on the token (for checking attributes)");

	for (i = 0; i < NTYPES; i++) {
		const keytype *t = &types[i];
		double secs = 0;
		const char *uri;

		keys[i] = gen(ks, t, false, &secs);
		tap_ok(keys[i] != NULL, "generate %s on the token (%.2f s)", t->name, secs);
		if (keys[i] == NULL)
			continue;
		tap_ok(sign_verify(ae_key_evp(keys[i]), false),
		       "%s: EVP_DigestSign on the token verifies with the public key", t->name);
		if (t->alg == AE_KEY_ALG_RSA)
			tap_ok(sign_verify(ae_key_evp(keys[i]), true), "%s: RSA-PSS signature verifies",
			       t->name);
		tap_ok(csr_verifies(ae_key_evp(keys[i]), t->name),
		       "%s: X509_REQ_sign output passes openssl req -verify", t->name);
		tap_ok(!ae_key_extractable(keys[i]), "%s: not extractable", t->name);
		uri = ae_key_uri(keys[i]);
		tap_ok(contains(uri, "pkcs11:") && contains(uri, "token=ae-test") &&
		       contains(uri, "id=%") && contains(uri, "type=private") &&
		       contains(uri, "object=autoenroll%20test"),
		       "%s: key URI %s", t->name, uri);
		check_token_attrs(keys[i], t, false);
	}

	exp_key = gen(ks, &types[0], true, NULL);
	tap_ok(exp_key != NULL && ae_key_extractable(exp_key), "exportable RSA-2048 key is extractable");
	if (exp_key != NULL)
		check_token_attrs(exp_key, &types[0], true);

	err = ae_keystore_list(ctx, ks, &ids);
	tap_ok(err == AE_OK && ae_strv_len(ids) == NTYPES + 1, "list finds the %zu keys (got %zu)",
	       NTYPES + 1, ae_strv_len(ids));
	for (i = 0; i < NTYPES; i++) {
		if (keys[i] != NULL)
			tap_ok(ae_strv_contains(ids, ae_key_id(keys[i])), "list has %s", types[i].name);
	}
	ae_strv_free(ids);
	ids = NULL;

	/* find gives the same key, and it signs. */
	for (i = 0; i < NTYPES; i++) {
		if (keys[i] == NULL)
			continue;
		err = ae_keystore_find(ctx, ks, ae_key_id(keys[i]), &found);
		tap_ok(err == AE_OK && EVP_PKEY_eq(ae_key_evp(found), ae_key_evp(keys[i])) == 1 &&
		       sign_verify(ae_key_evp(found), false),
		       "find %s: same public key, signs", types[i].name);
		ae_key_free(found);
		found = NULL;
	}
	if (keys[0] != NULL)
		check_copy(ks, keys[0], "token");
	err = ae_keystore_find(ctx, ks, "00112233", &found);
	tap_is_int(err, AE_ERR_NOTFOUND, "find of an unknown id: AE_ERR_NOTFOUND");
	err = ae_keystore_find(ctx, ks, "XYZ", &found);
	tap_is_int(err, AE_ERR_INVALID, "find of a malformed id: AE_ERR_INVALID");

	/* A key that is not ours: invisible to list, immune to delete. */
	{
		static const unsigned char other_id[] = { 0xde, 0xad, 0xbe, 0xef };
		CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
		static const unsigned char p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
		CK_BBOOL yes = CK_TRUE;
		CK_ATTRIBUTE pubt[] = {
			{ CKA_TOKEN, &yes, 1 }, { CKA_EC_PARAMS, (void *)p256, sizeof(p256) },
			{ CKA_ID, (void *)other_id, 4 }, { CKA_LABEL, "someone else", 12 },
		};
		CK_ATTRIBUTE privt[] = {
			{ CKA_TOKEN, &yes, 1 }, { CKA_PRIVATE, &yes, 1 }, { CKA_SIGN, &yes, 1 },
			{ CKA_ID, (void *)other_id, 4 }, { CKA_LABEL, "someone else", 12 },
		};
		CK_OBJECT_HANDLE hpub, hpriv, objs[4];

		tap_ok(peek_mod->C_GenerateKeyPair(peek_session, &mech, pubt, 4, privt, 5, &hpub,
		                                   &hpriv) == CKR_OK, "another application's key");
		ae_keystore_list(ctx, ks, &ids);
		tap_ok(!ae_strv_contains(ids, "deadbeef"), "list skips it");
		ae_strv_free(ids);
		ids = NULL;
		tap_is_int(ae_keystore_find(ctx, ks, "deadbeef", &found), AE_ERR_NOTFOUND,
		           "find does not return it");
		tap_is_int(ae_keystore_delete(ctx, ks, "deadbeef"), AE_OK, "delete of its id succeeds");
		tap_is_int(peek_find(CKO_PRIVATE_KEY, other_id, 4, objs, 4), 1, "but leaves it alone");
	}

	/* Certificates next to the key, and the chain once. */
	if (keys[2] != NULL) {
		EVP_PKEY *ca_key = plain_key();
		X509 *ca = make_cert(ca_key, "Test Issuing CA", ca_key, "Test Issuing CA", 1);
		X509 *cert = make_cert(ae_key_evp(keys[2]), "host.example.test", ca_key,
		                       "Test Issuing CA", 2);
		STACK_OF(X509) *chain = sk_X509_new_null();
		unsigned char id[64], ca_id[SHA_DIGEST_LENGTH], buf[4096], *der = NULL;
		size_t id_len = unhex(ae_key_id(keys[2]), id);
		CK_OBJECT_HANDLE objs[4];
		CK_ULONG category = 0;
		CK_ATTRIBUTE cat = { CKA_CERTIFICATE_CATEGORY, &category, sizeof(category) };
		int der_len;

		sk_X509_push(chain, ca);
		err = ae_keystore_store_cert(ctx, ks, ae_key_id(keys[2]), "autoenroll Machine", cert,
		                             chain);
		tap_ok(err == AE_OK, "store_cert: %s", err ? ae_get_message(ctx) : "ok");
		tap_is_int(peek_find(CKO_CERTIFICATE, id, id_len, objs, 4), 1,
		           "the certificate object has the key's CKA_ID");
		der_len = i2d_X509(cert, &der);
		tap_ok(peek_bytes(objs[0], CKA_VALUE, buf, sizeof(buf)) == (size_t)der_len &&
		       memcmp(buf, der, (size_t)der_len) == 0, "its CKA_VALUE is the certificate");
		OPENSSL_free(der);
		der = NULL;
		der_len = i2d_X509(ca, &der);
		SHA1(der, (size_t)der_len, ca_id);
		OPENSSL_free(der);
		tap_is_int(peek_find(CKO_CERTIFICATE, ca_id, sizeof(ca_id), objs, 4), 1,
		           "the CA certificate is stored under its SHA-1");
		peek_mod->C_GetAttributeValue(peek_session, objs[0], &cat, 1);
		tap_is_int(category, 2, "with CKA_CERTIFICATE_CATEGORY 2 (authority)");
		err = ae_keystore_store_cert(ctx, ks, ae_key_id(keys[2]), "autoenroll Machine", cert,
		                             chain);
		tap_ok(err == AE_OK && peek_find(CKO_CERTIFICATE, id, id_len, objs, 4) == 1 &&
		       peek_find(CKO_CERTIFICATE, ca_id, sizeof(ca_id), objs, 4) == 1,
		       "storing again replaces the certificate and keeps one CA copy");
		/* The EC public key object gone, the certificate still gives the key. */
		sk_X509_pop_free(chain, X509_free);
		X509_free(cert);
		EVP_PKEY_free(ca_key);
	}

	/* A CMC renewal whose two signatures are made on the token: the new
	 * key's (RSA-2048) and the old certificate's (P-256). */
	if (keys[0] != NULL && keys[2] != NULL) {
		ae_template t;
		ae_csr_params p = { .client_id = AE_CLIENT_ID_AUTOENROLL, .machine = "ws1.corp.test",
		                    .user = "CORP\\ws1$", .process = "test-keystore" };
		EVP_PKEY *ca_key = plain_key();
		X509 *old = make_cert(ae_key_evp(keys[2]), "ws1.corp.test", ca_key, "Test Issuing CA", 3);
		uint8_t *der = NULL;
		size_t len = 0;
		const unsigned char *cp;
		CMS_ContentInfo *cms = NULL;

		memset(&t, 0, sizeof(t));
		t.name = "LabMachine";
		t.oid = "1.3.6.1.4.1.311.21.8.1.2.3.102";
		t.schema_version = 2;
		t.major = 100;
		p.tpl = &t;
		err = ae_csr_build_renewal(ctx, &p, ae_key_evp(keys[0]), old, ae_key_evp(keys[2]), &der, &len);
		tap_ok(err == AE_OK && der != NULL, "a CMC renewal signed on the token with the new and the old key: %s",
		       err ? ae_get_message(ctx) : "built");
		cp = der;
		cms = der != NULL ? d2i_CMS_ContentInfo(NULL, &cp, (long)len) : NULL;
		tap_ok(cms != NULL && sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) == 2,
		       "it has two SignerInfos");
		CMS_ContentInfo_free(cms);
		free(der);
		X509_free(old);
		EVP_PKEY_free(ca_key);
	}

	/* Delete: key pair and certificate go. */
	if (keys[2] != NULL) {
		unsigned char id[64];
		size_t id_len = unhex(ae_key_id(keys[2]), id);
		CK_OBJECT_HANDLE objs[4];

		err = ae_keystore_delete(ctx, ks, ae_key_id(keys[2]));
		tap_ok(err == AE_OK, "delete P-256 key");
		tap_ok(peek_find(CKO_PRIVATE_KEY, id, id_len, objs, 4) == 0 &&
		       peek_find(CKO_PUBLIC_KEY, id, id_len, objs, 4) == 0 &&
		       peek_find(CKO_CERTIFICATE, id, id_len, objs, 4) == 0,
		       "no private key, public key or certificate left with its id");
		tap_is_int(ae_keystore_find(ctx, ks, ae_key_id(keys[2]), &found), AE_ERR_NOTFOUND,
		           "find after delete: AE_ERR_NOTFOUND");
		ae_keystore_list(ctx, ks, &ids);
		tap_ok(!ae_strv_contains(ids, ae_key_id(keys[2])), "list after delete omits it");
		ae_strv_free(ids);
		ids = NULL;
		tap_is_int(ae_keystore_delete(ctx, ks, ae_key_id(keys[2])), AE_OK,
		           "deleting again is not an error");
	}

	/* Sizes and algorithms the token refuses. */
	{
		keytype huge = { AE_KEY_ALG_RSA, 100000, "RSA-100000" };
		keytype tiny = { AE_KEY_ALG_RSA, 256, "RSA-256" };
		keytype dsa = { AE_KEY_ALG_DSA, 2048, "DSA" };

		tap_ok(gen(ks, &huge, false, NULL) == NULL && ae_get_code(ctx) == AE_ERR_UNSUPPORTED &&
		       contains(ae_get_message(ctx), "100000") && contains(ae_get_message(ctx), "ae-test") &&
		       contains(ae_get_message(ctx), "CKR_KEY_SIZE_RANGE"),
		       "RSA 100000 bits refused: %s", ae_get_message(ctx));
		tap_ok(gen(ks, &tiny, false, NULL) == NULL && contains(ae_get_message(ctx), "256"),
		       "RSA 256 bits refused: %s", ae_get_message(ctx));
		tap_ok(gen(ks, &dsa, false, NULL) == NULL && ae_get_code(ctx) == AE_ERR_UNSUPPORTED,
		       "DSA refused: %s", ae_get_message(ctx));
	}

	/* An EVP_PKEY kept by the caller outlives its ae_key and the store. */
	if (keys[0] != NULL) {
		kept = ae_key_evp(keys[0]);
		EVP_PKEY_up_ref(kept);
	}
	for (i = 0; i < NTYPES; i++)
		ae_key_free(keys[i]);
	ae_key_free(exp_key);
	ae_keystore_free(ks);
	if (kept != NULL) {
		tap_ok(sign_verify(kept, false), "an up-ref'd EVP_PKEY still signs after the store is freed");
		EVP_PKEY_free(kept);
	}
	peek_close();
}

static void
test_token_errors(void)
{
	ae_keystore *ks = NULL;
	char pinfile[256], uri[512];
	FILE *f;
	ae_err err;

	/* Nothing else holds a session now, so the token is logged out. */
	err = ae_keystore_open(ctx, TOKEN_URI ";pin-value=9999", &ks);
	tap_ok(err == AE_ERR_DENIED && contains(ae_get_message(ctx), "wrong PIN") &&
	       contains(ae_get_message(ctx), "ae-test") &&
	       contains(ae_get_message(ctx), "CKR_PIN_INCORRECT"),
	       "wrong PIN: %s", ae_get_message(ctx));
	ae_keystore_free(ks);
	ks = NULL;

	err = ae_keystore_open(ctx, TOKEN_URI, &ks);
	tap_ok(err == AE_ERR_NEEDPIN && contains(ae_get_message(ctx), "pin-source=") &&
	       contains(ae_get_message(ctx), "ae-test"), "no PIN: %s", ae_get_message(ctx));
	ae_keystore_free(ks);
	ks = NULL;

	err = ae_keystore_open(ctx, "pkcs11:token=nosuch;module-path=" SOFTHSM_LIB ";pin-value=1111", &ks);
	tap_ok(err == AE_ERR_NOTOKEN && contains(ae_get_message(ctx), "no PKCS#11 token matches") &&
	       contains(ae_get_message(ctx), "insert the smartcard") &&
	       contains(ae_get_message(ctx), "\"ae-test\"") && !contains(ae_get_message(ctx), "1111"),
	       "absent token lists the available ones, hides the PIN: %s", ae_get_message(ctx));
	ae_keystore_free(ks);
	ks = NULL;

	err = ae_keystore_open(ctx, "pkcs11:token=ae-test;module-path=/nonexistent/libnone.so", &ks);
	tap_ok(err == AE_ERR_TOKEN && contains(ae_get_message(ctx), "/nonexistent/libnone.so"),
	       "missing module: %s", ae_get_message(ctx));

	err = ae_keystore_open(ctx, "pkcs11:token=ae-test;bogus=1", &ks);
	tap_ok(err == AE_ERR_CONFIG, "unknown URI attribute: %s", ae_get_message(ctx));

	err = ae_keystore_open(ctx, "/var/lib/keys", &ks);
	tap_ok(err == AE_ERR_CONFIG && contains(ae_get_message(ctx), "/var/lib/keys") &&
	       contains(ae_get_message(ctx), "pkcs11:") && contains(ae_get_message(ctx), "file:"),
	       "neither pkcs11: nor file:: %s", ae_get_message(ctx));

	/* PIN from a file, with the newline editors add. */
	snprintf(pinfile, sizeof(pinfile), "%s/pin", tmpdir);
	f = fopen(pinfile, "w");
	fputs("1111\n", f);
	fclose(f);
	snprintf(uri, sizeof(uri), "pkcs11:token=ae-test?module-path=" SOFTHSM_LIB "&pin-source=%s",
	         pinfile);
	err = ae_keystore_open(ctx, uri, &ks);
	tap_ok(err == AE_OK, "pin-source=FILE in the query: %s", err ? ae_get_message(ctx) : "ok");
	if (ks != NULL) {
		const keytype t = { AE_KEY_ALG_ECDSA_P256, 0, "P-256 (pin-source)" };
		ae_key *key = gen(ks, &t, false, NULL);
		tap_ok(key != NULL && sign_verify(ae_key_evp(key), false), "and the login lets us sign");
		if (key != NULL)
			ae_keystore_delete(ctx, ks, ae_key_id(key));
		ae_key_free(key);
	}
	ae_keystore_free(ks);
	ks = NULL;
	snprintf(uri, sizeof(uri), TOKEN_URI ";pin-source=file:%s", pinfile);
	err = ae_keystore_open(ctx, uri, &ks);
	tap_ok(err == AE_OK, "pin-source=file:FILE in the path: %s", err ? ae_get_message(ctx) : "ok");
	ae_keystore_free(ks);
	ks = NULL;
	/* Modules registered with p11-kit: by name, or all of them. */
	if (access("/usr/share/p11-kit/modules/softhsm2.module", R_OK) == 0) {
		err = ae_keystore_open(ctx, "pkcs11:token=ae-test;module-name=softhsm2;pin-value=1111", &ks);
		tap_ok(err == AE_OK, "module-name=softhsm2: %s", err ? ae_get_message(ctx) : "ok");
		ae_keystore_free(ks);
		ks = NULL;
		err = ae_keystore_open(ctx, "pkcs11:token=ae-test;pin-value=1111", &ks);
		tap_ok(err == AE_OK && contains(ae_keystore_describe(ks), "softhsm2"),
		       "no module given: every registered module is searched: %s",
		       err ? ae_get_message(ctx) : ae_keystore_describe(ks));
		ae_keystore_free(ks);
		ks = NULL;
		err = ae_keystore_open(ctx, "pkcs11:token=ae-test;module-name=nosuch;pin-value=1111", &ks);
		tap_ok(err == AE_ERR_TOKEN && contains(ae_get_message(ctx), "nosuch"),
		       "unknown module-name: %s", ae_get_message(ctx));
	} else {
		tap_diag("softhsm2 is not registered with p11-kit: module-name= not tested");
	}

	snprintf(uri, sizeof(uri), TOKEN_URI ";pin-source=%s/nopin", tmpdir);
	err = ae_keystore_open(ctx, uri, &ks);
	tap_ok(err == AE_ERR_CONFIG && contains(ae_get_message(ctx), "nopin"),
	       "unreadable pin-source: %s", ae_get_message(ctx));
}

/* ---- directory backend ---- */

static mode_t
mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_mode & 07777 : 0;
}

static void
test_files(void)
{
	ae_keystore *ks = NULL;
	char dir[256], spec[300], path[512];
	ae_key *keys[NTYPES] = { NULL }, *found = NULL;
	char **ids = NULL;
	size_t i;
	ae_err err;

	snprintf(dir, sizeof(dir), "%s/store", tmpdir);
	snprintf(spec, sizeof(spec), "file:%s", dir);
	err = ae_keystore_open(ctx, spec, &ks);
	tap_ok(err == AE_OK, "open %s: %s", spec, err ? ae_get_message(ctx) : "ok");
	if (err != AE_OK)
		return;
	tap_ok(!ae_keystore_is_token(ks), "a directory is not a token");
	tap_is_str(ae_keystore_describe(ks) + strlen("directory "), dir, "described as the directory");
	tap_is_int(mode_of(dir), 0700, "directory created 0700");
	snprintf(path, sizeof(path), "%s/keys", dir);
	tap_is_int(mode_of(path), 0700, "keys/ is 0700");

	for (i = 0; i < NTYPES; i++) {
		double secs = 0;
		FILE *f;
		char line[64] = "";

		if (types[i].bits == 4096 || types[i].alg == AE_KEY_ALG_ECDSA_P521)
			continue; /* covered on the token; keeps the test quick */
		keys[i] = gen(ks, &types[i], false, &secs);
		tap_ok(keys[i] != NULL, "file: generate %s (%.2f s)", types[i].name, secs);
		if (keys[i] == NULL)
			continue;
		tap_ok(sign_verify(ae_key_evp(keys[i]), false), "file: %s signature verifies",
		       types[i].name);
		tap_ok(csr_verifies(ae_key_evp(keys[i]), "file"), "file: %s CSR verifies", types[i].name);
		snprintf(path, sizeof(path), "%s/keys/%s.key", dir, ae_key_id(keys[i]));
		tap_is_str(ae_key_uri(keys[i]), path, "file: %s URI is the key path", types[i].name);
		tap_is_int(mode_of(path), 0600, "file: %s key file is 0600", types[i].name);
		f = fopen(path, "r");
		if (f != NULL) {
			if (fgets(line, sizeof(line), f) == NULL)
				line[0] = '\0';
			fclose(f);
		}
		tap_is_str(line, "-----BEGIN PRIVATE KEY-----\n", "file: %s is PKCS#8 PEM", types[i].name);
		tap_ok(ae_key_extractable(keys[i]), "file: %s is extractable", types[i].name);
	}

	if (keys[0] != NULL) {
		ae_keygen g = { AE_KEY_ALG_RSA, 2048, AE_KEY_LABEL_PREFIX "dup", ae_key_id(keys[0]), false };
		tap_ok(ae_keystore_generate(ctx, ks, &g, &found) != AE_OK && found == NULL,
		       "file: generating over an existing id fails: %s", ae_get_message(ctx));
	}

	if (keys[0] != NULL)
		check_copy(ks, keys[0], "file");
	err = ae_keystore_list(ctx, ks, &ids);
	tap_ok(err == AE_OK && ae_strv_len(ids) == 3, "file: list finds 3 keys");
	ae_strv_free(ids);
	ids = NULL;

	if (keys[2] != NULL) {
		EVP_PKEY *ca_key = plain_key();
		X509 *ca = make_cert(ca_key, "Test CA", ca_key, "Test CA", 1);
		X509 *cert = make_cert(ae_key_evp(keys[2]), "host", ca_key, "Test CA", 2);
		STACK_OF(X509) *chain = sk_X509_new_null();
		STACK_OF(X509_INFO) *infos = NULL;
		BIO *bio;

		sk_X509_push(chain, ca);
		err = ae_keystore_store_cert(ctx, ks, ae_key_id(keys[2]), NULL, cert, chain);
		tap_ok(err == AE_OK, "file: store_cert");
		snprintf(path, sizeof(path), "%s/certs/%s.pem", dir, ae_key_id(keys[2]));
		bio = BIO_new_file(path, "r");
		if (bio != NULL)
			infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
		tap_ok(infos != NULL && sk_X509_INFO_num(infos) == 2 &&
		       X509_cmp(sk_X509_INFO_value(infos, 0)->x509, cert) == 0,
		       "file: certs/<id>.pem holds the certificate, then the chain");
		sk_X509_INFO_pop_free(infos, X509_INFO_free);
		BIO_free(bio);
		sk_X509_pop_free(chain, X509_free);
		X509_free(cert);
		EVP_PKEY_free(ca_key);

		err = ae_keystore_find(ctx, ks, ae_key_id(keys[2]), &found);
		tap_ok(err == AE_OK && EVP_PKEY_eq(ae_key_evp(found), ae_key_evp(keys[2])) == 1,
		       "file: find returns the same key");
		ae_key_free(found);
		found = NULL;
		err = ae_keystore_delete(ctx, ks, ae_key_id(keys[2]));
		tap_ok(err == AE_OK && access(path, F_OK) != 0, "file: delete removes key and certificate");
		tap_is_int(ae_keystore_find(ctx, ks, ae_key_id(keys[2]), &found), AE_ERR_NOTFOUND,
		           "file: find after delete: AE_ERR_NOTFOUND");
	}
	snprintf(path, sizeof(path), "%s/keys", dir);
	tap_is_int(count_tmp_files(path), 0, "file: no *.tmp left in keys/");
	snprintf(path, sizeof(path), "%s/certs", dir);
	tap_is_int(count_tmp_files(path), 0, "file: no *.tmp left in certs/");
	tap_is_int(ae_keystore_find(ctx, ks, "../../etc/passwd", &found), AE_ERR_INVALID,
	           "file: an id with a path in it is refused");
	for (i = 0; i < NTYPES; i++)
		ae_key_free(keys[i]);
	ae_keystore_free(ks);
	ks = NULL;

	/* Directories that others can write to, or relative paths. */
	snprintf(dir, sizeof(dir), "%s/open", tmpdir);
	mkdir(dir, 0700);
	chmod(dir, 0777);
	snprintf(spec, sizeof(spec), "file:%s", dir);
	err = ae_keystore_open(ctx, spec, &ks);
	tap_ok(err == AE_ERR_DENIED && contains(ae_get_message(ctx), "writable"),
	       "file: world-writable directory refused: %s", ae_get_message(ctx));
	ae_keystore_free(ks);
	ks = NULL;
	err = ae_keystore_open(ctx, "file:relative/dir", &ks);
	tap_is_int(err, AE_ERR_CONFIG, "file: relative directory refused");
}

/* ---- timing ---- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void
bench(ae_keystore *ks, const char *where, int n)
{
	double t[64];
	size_t i;
	int j;

	for (i = 0; i < NTYPES; i++) {
		for (j = 0; j < n; j++) {
			ae_key *key = gen(ks, &types[i], false, &t[j]);
			if (key != NULL)
				ae_keystore_delete(ctx, ks, ae_key_id(key));
			ae_key_free(key);
		}
		qsort(t, (size_t)n, sizeof(t[0]), cmp_double);
		tap_diag("bench %s %s: median %.3f s, min %.3f s, max %.3f s (n=%d)", where,
		         types[i].name, t[n / 2], t[0], t[n - 1], n);
	}
}

int
main(void)
{
	char conf[256], cmd[1024];
	const char *bench_env = getenv("AE_KEYSTORE_BENCH");
	FILE *f;
	int rc;

	if (access(SOFTHSM_LIB, R_OK) != 0 || system("command -v softhsm2-util >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP SoftHSM2 (%s, softhsm2-util) is not installed\n", SOFTHSM_LIB);
		return 0;
	}
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", tmpdir);
	snprintf(cmd, sizeof(cmd), "%s/tokens", tmpdir);
	mkdir(cmd, 0700);
	f = fopen(conf, "w");
	fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
	           "log.level = ERROR\nslots.removable = false\n", tmpdir);
	fclose(f);
	setenv("SOFTHSM2_CONF", conf, 1);
	snprintf(cmd, sizeof(cmd), "softhsm2-util --init-token --free --label ae-test "
	                           "--so-pin 1234 --pin 1111 >%s/init.log 2>&1", tmpdir);
	if (system(cmd) != 0) {
		printf("Bail out! softhsm2-util --init-token failed (see %s/init.log)\n", tmpdir);
		return 1;
	}

	ctx = ae_ctx_new();
	if (bench_env != NULL && atoi(bench_env) > 0) {
		int n = atoi(bench_env) > 64 ? 64 : atoi(bench_env);
		ae_keystore *ks = NULL;
		char spec[300];

		if (ae_keystore_open(ctx, URI_PIN, &ks) == AE_OK)
			bench(ks, "softhsm2", n);
		ae_keystore_free(ks);
		ks = NULL;
		snprintf(spec, sizeof(spec), "file:%s/bench", tmpdir);
		if (ae_keystore_open(ctx, spec, &ks) == AE_OK)
			bench(ks, "files", n);
		ae_keystore_free(ks);
	}

	test_token_keys();
	test_token_errors();
	test_files();

	ae_ctx_free(ctx);
	rc = tap_done();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return rc;
}
