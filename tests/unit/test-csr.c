/*
 * test-csr.c - requests built for the real Windows default templates
 * (User: schema 1; Workstation, KerberosAuthentication: schema 2; WebServer:
 * enrollee supplies the subject) and a synthetic ECDSA template, checked by
 * decoding them independently of the builder (OpenSSL's own structures and
 * its generic SEQUENCE OF ANY, not the builder's templates), by the openssl command, and the CMC renewal by
 * CMS verification and by unpacking the PKIData; key archival by opening
 * the EnvelopedData with the exchange key.
 */
#include "config.h"

#include "csr.h"
#include "ldif.h"
#include "tap.h"
#include "template.h"
#include "util.h"

#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool have_openssl_cmd;

/* ---- decoding with OpenSSL's generic ASN.1 (not the builder's templates) ---- */

#define SEQ_ANY ASN1_ITEM_rptr(ASN1_SEQUENCE_ANY)

/* LEN bytes of DER decoded as one ITEM that fills them, or NULL. */
static void *
unpack_der(const unsigned char *der, long len, const ASN1_ITEM *it)
{
	const unsigned char *p = der;
	ASN1_VALUE *v = der != NULL ? ASN1_item_d2i(NULL, &p, len, it) : NULL;

	if (v != NULL && p != der + len) {
		ASN1_item_free(v, it);
		v = NULL;
	}
	return v;
}

static void *
unpack(const ASN1_STRING *s, const ASN1_ITEM *it)
{
	return s != NULL ? unpack_der(ASN1_STRING_get0_data(s), ASN1_STRING_length(s), it) : NULL;
}

/* S (a SEQUENCE OF ANY) when it has N elements of the universal types
 * TYPES (V_ASN1_OTHER: a tagged one); otherwise freed, NULL. */
static ASN1_SEQUENCE_ANY *
seq_typed(ASN1_SEQUENCE_ANY *s, int n, const int *types)
{
	bool ok = s != NULL && sk_ASN1_TYPE_num(s) == n;

	for (int i = 0; ok && i < n; i++)
		ok = ASN1_TYPE_get(sk_ASN1_TYPE_value(s, i)) == types[i];
	if (!ok) {
		sk_ASN1_TYPE_pop_free(s, ASN1_TYPE_free);
		s = NULL;
	}
	return s;
}

static ASN1_TYPE *
elt(ASN1_SEQUENCE_ANY *s, int i)
{
	return sk_ASN1_TYPE_value(s, i);
}

static long
elt_int(ASN1_SEQUENCE_ANY *s, int i)
{
	return ASN1_INTEGER_get(elt(s, i)->value.integer);
}

/* Dotted text of O. */
static const char *
oid_text(const ASN1_OBJECT *o)
{
	static char buf[128];

	buf[0] = '\0';
	if (o != NULL)
		OBJ_obj2txt(buf, sizeof(buf), o, 1);
	return buf;
}

/* The string (UTF8String, IA5String, BMPString...) reads as UTF-8 WANT. */
static bool
str_is(const ASN1_STRING *s, const char *want)
{
	unsigned char *utf8 = NULL;
	int n = s != NULL ? ASN1_STRING_to_UTF8(&utf8, s) : -1;
	bool same = n >= 0 && (size_t)n == strlen(want) && memcmp(utf8, want, (size_t)n) == 0;

	OPENSSL_free(utf8);
	return same;
}

/* An extension's value is exactly the LEN bytes WANT. */
static bool
ext_bytes_are(X509_EXTENSION *e, const void *want, size_t len)
{
	ASN1_OCTET_STRING *os = e != NULL ? X509_EXTENSION_get_data(e) : NULL;

	return os != NULL && (size_t)ASN1_STRING_length(os) == len && memcmp(ASN1_STRING_get0_data(os), want, len) == 0;
}

/* ---- request accessors ---- */

/* The requested extension OID: its value (owned by the returned stack
 * element; free the stack with free_exts), NULL when absent. */
static STACK_OF(X509_EXTENSION) *cur_exts;

static void
free_exts(void)
{
	sk_X509_EXTENSION_pop_free(cur_exts, X509_EXTENSION_free);
	cur_exts = NULL;
}

static X509_EXTENSION *
find_ext(X509_REQ *req, const char *oid)
{
	ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
	X509_EXTENSION *found = NULL;

	free_exts();
	cur_exts = X509_REQ_get_extensions(req);
	for (int i = 0; i < sk_X509_EXTENSION_num(cur_exts); i++) {
		X509_EXTENSION *e = sk_X509_EXTENSION_value(cur_exts, i);
		if (OBJ_cmp(X509_EXTENSION_get_object(e), o) == 0)
			found = e;
	}
	ASN1_OBJECT_free(o);
	return found;
}

/* The first value of attribute OID, NULL when absent. */
static ASN1_TYPE *
find_attr(X509_REQ *req, const char *oid)
{
	ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
	int i = X509_REQ_get_attr_by_OBJ(req, o, -1);
	ASN1_TYPE *t = NULL;

	ASN1_OBJECT_free(o);
	if (i < 0)
		return NULL;
	if (X509_ATTRIBUTE_count(X509_REQ_get_attr(req, i)) != 1)
		return NULL;
	t = X509_ATTRIBUTE_get0_type(X509_REQ_get_attr(req, i), 0);
	return t;
}

/* Attribute OID's value when it is a SEQUENCE: its elements when they
 * are N of TYPES (seq_typed), else NULL. */
static ASN1_SEQUENCE_ANY *
attr_seq(X509_REQ *req, const char *oid, int n, const int *types)
{
	ASN1_TYPE *t = find_attr(req, oid);

	if (t == NULL || t->type != V_ASN1_SEQUENCE)
		return NULL;
	return seq_typed(unpack(t->value.sequence, SEQ_ANY), n, types);
}

static EVP_PKEY *
keygen(bool ec)
{
	return ec ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
	          : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
}

/* Runs CMD_FMT with each @F@ replaced by a temp file holding DATA; true on exit 0. */
static bool
openssl_accepts(const void *data, size_t len, const char *cmd_fmt)
{
	char path[] = "/tmp/test-csr-XXXXXX";
	char cmd[512];
	int fd = mkstemp(path), rc;
	FILE *f;

	if (fd < 0)
		return false;
	f = fdopen(fd, "wb");
	if (f == NULL) {
		close(fd);
		unlink(path);
		return false;
	}
	fwrite(data, 1, len, f);
	fclose(f);
	{
		/* Substitute @F@ into CMD. */
		size_t o = 0;
		for (const char *c = cmd_fmt; *c != '\0' && o + 1 < sizeof(cmd);) {
			if (strncmp(c, "@F@", 3) == 0) {
				o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, "%s", path);
				c += 3;
			} else {
				cmd[o++] = *c++;
			}
		}
		cmd[o < sizeof(cmd) ? o : sizeof(cmd) - 1] = '\0';
	}
	rc = system(cmd);
	unlink(path);
	if (rc != 0)
		tap_diag("  \"%s\" exited with %d", cmd, rc);
	return rc == 0;
}

static void
check_with_openssl_req(ae_ctx *ctx, X509_REQ *req, const char *what)
{
	char *pem = NULL;

	if (ae_csr_to_pem(ctx, req, &pem) != AE_OK) {
		tap_ok(0, "%s: PEM: %s", what, ae_get_message(ctx));
		return;
	}
	tap_ok(strncmp(pem, "-----BEGIN CERTIFICATE REQUEST-----\n", 36) == 0, "%s: PEM header", what);
	if (!have_openssl_cmd)
		tap_ok(1, "%s: openssl req -verify # SKIP no openssl command", what);
	else
		tap_ok(openssl_accepts(pem, strlen(pem),
		                       "openssl req -verify -noout -in @F@ >/dev/null 2>&1 && "
		                       "openssl req -noout -text -in @F@ >/dev/null 2>&1"),
		       "%s: openssl req -verify and -text accept it", what);
	free(pem);
}

static void
init_params(ae_csr_params *p, const ae_template *tpl)
{
	memset(p, 0, sizeof(*p));
	p->tpl = tpl;
	p->client_id = AE_CLIENT_ID_AUTOENROLL;
	p->machine = "ws1.corp.test";
	p->user = "CORP\\ws1$";
	p->process = "autoenroll";
	p->os_version = "10.0.20348.2";
}

static ae_template *
find_tpl(ae_template **all, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}

/* Key usage: bits set and criticality. */
static void
check_ku(X509_REQ *req, const int *bits, bool critical, const char *what)
{
	X509_EXTENSION *e = find_ext(req, "2.5.29.15");
	ASN1_BIT_STRING *bs = e != NULL ? X509V3_EXT_d2i(e) : NULL;
	bool ok = bs != NULL;

	for (int i = 0; ok && i < 9; i++)
		if (ASN1_BIT_STRING_get_bit(bs, i) != bits[i])
			ok = false;
	tap_ok(ok, "%s: key usage bits", what);
	tap_ok(e != NULL && X509_EXTENSION_get_critical(e) == critical, "%s: key usage %scritical", what,
	       critical ? "" : "not ");
	ASN1_BIT_STRING_free(bs);
}

static void
check_ekus(X509_REQ *req, const char *const *want, const char *what)
{
	X509_EXTENSION *e = find_ext(req, "2.5.29.37");
	EXTENDED_KEY_USAGE *eku = e != NULL ? X509V3_EXT_d2i(e) : NULL;
	size_t n = 0;
	bool ok = eku != NULL;

	while (want[n] != NULL)
		n++;
	if (ok && (size_t)sk_ASN1_OBJECT_num(eku) != n)
		ok = false;
	for (size_t i = 0; ok && i < n; i++) {
		char buf[80];
		OBJ_obj2txt(buf, sizeof(buf), sk_ASN1_OBJECT_value(eku, (int)i), 1);
		if (strcmp(buf, want[i]) != 0)
			ok = false;
	}
	tap_ok(ok, "%s: %zu EKUs, in template order", what, n);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
}

/* Application policies: SEQUENCE OF SEQUENCE { OID }, the shape of
 * certificatePolicies without qualifiers. */
static void
check_app_policies(X509_REQ *req, char *const *want, const char *what)
{
	X509_EXTENSION *e = find_ext(req, "1.3.6.1.4.1.311.21.10");
	CERTIFICATEPOLICIES *pols;
	int n = 0;
	bool ok;

	if (want == NULL) {
		tap_ok(e == NULL, "%s: no application policies extension", what);
		return;
	}
	pols = e != NULL ? unpack(X509_EXTENSION_get_data(e), ASN1_ITEM_rptr(CERTIFICATEPOLICIES)) : NULL;
	ok = pols != NULL;
	for (n = 0; ok && n < sk_POLICYINFO_num(pols); n++) {
		POLICYINFO *pi = sk_POLICYINFO_value(pols, n);
		ok = want[n] != NULL && pi->qualifiers == NULL && strcmp(oid_text(pi->policyid), want[n]) == 0;
	}
	tap_ok(ok && want[n] == NULL && !X509_EXTENSION_get_critical(e),
	       "%s: application policies are the template's %d OIDs", what, n);
	CERTIFICATEPOLICIES_free(pols);
}

/* 1.3.6.1.4.1.311.21.7 SEQUENCE { OID, INTEGER, INTEGER } */
static void
check_template_ext(X509_REQ *req, const ae_template *t, const char *what)
{
	X509_EXTENSION *e = find_ext(req, "1.3.6.1.4.1.311.21.7");
	ASN1_SEQUENCE_ANY *seq = e == NULL ? NULL :
		seq_typed(unpack(X509_EXTENSION_get_data(e), SEQ_ANY), 3,
		          (const int[]){ V_ASN1_OBJECT, V_ASN1_INTEGER, V_ASN1_INTEGER });

	tap_ok(seq != NULL, "%s: template extension is SEQUENCE { OID, INTEGER, INTEGER }", what);
	if (seq == NULL)
		return;
	tap_is_str(oid_text(elt(seq, 0)->value.object), t->oid, "%s: template OID", what);
	tap_is_int(elt_int(seq, 1), t->major, "%s: major version", what);
	tap_is_int(elt_int(seq, 2), t->minor, "%s: minor version", what);
	tap_ok(!X509_EXTENSION_get_critical(e), "%s: template extension not critical", what);
	tap_ok(find_ext(req, "1.3.6.1.4.1.311.20.2") == NULL, "%s: no v1 template name", what);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
}

static const int csp_types[] = { V_ASN1_INTEGER, V_ASN1_BMPSTRING, V_ASN1_BIT_STRING };

/* Client info, OS version and CSP attributes. */
static void
check_attrs(X509_REQ *req, const ae_csr_params *p, long key_spec, const char *what)
{
	ASN1_SEQUENCE_ANY *seq = attr_seq(req, "1.3.6.1.4.1.311.21.20", 4,
	                                  (const int[]){ V_ASN1_INTEGER, V_ASN1_UTF8STRING, V_ASN1_UTF8STRING,
	                                                 V_ASN1_UTF8STRING });

	tap_ok(seq != NULL, "%s: client info is SEQUENCE { INTEGER, UTF8String x3 }", what);
	tap_ok(seq != NULL && elt_int(seq, 0) == p->client_id && str_is(elt(seq, 1)->value.utf8string, p->machine) &&
	       str_is(elt(seq, 2)->value.utf8string, p->user) && str_is(elt(seq, 3)->value.utf8string, p->process),
	       "%s: client info values", what);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);

	{
		ASN1_TYPE *t = find_attr(req, "1.3.6.1.4.1.311.13.2.3");
		tap_ok(t != NULL && t->type == V_ASN1_IA5STRING && str_is(t->value.ia5string, p->os_version),
		       "%s: OS version is IA5String \"%s\"", what, p->os_version);
	}

	seq = attr_seq(req, "1.3.6.1.4.1.311.13.2.2", 3, csp_types);
	tap_ok(seq != NULL, "%s: CSP is SEQUENCE { INTEGER, BMPString, BIT STRING }", what);
	tap_ok(seq != NULL && elt_int(seq, 0) == key_spec && str_is(elt(seq, 1)->value.bmpstring, "autoenroll PKCS#11") &&
	       ASN1_STRING_length(elt(seq, 2)->value.bit_string) == 0,
	       "%s: CSP keySpec %ld, name, empty BIT STRING 03 01 00", what, key_spec);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
}

/* S/MIME capabilities (RFC 4262) present exactly when WANT: a SEQUENCE
 * OF SEQUENCE { OID, parameters } with AES-256-CBC first, not critical. */
static void
check_smime(X509_REQ *req, bool want, const char *what)
{
	X509_EXTENSION *e = find_ext(req, "1.2.840.113549.1.9.15");
	X509_ALGORS *caps;
	int n;

	if (!want) {
		tap_ok(e == NULL, "%s: no S/MIME capabilities without CT_FLAG_INCLUDE_SYMMETRIC_ALGORITHMS", what);
		return;
	}
	caps = e != NULL ? unpack(X509_EXTENSION_get_data(e), ASN1_ITEM_rptr(X509_ALGORS)) : NULL;
	n = sk_X509_ALGOR_num(caps);
	tap_ok(caps != NULL && n == 4 && !X509_EXTENSION_get_critical(e) &&
	       OBJ_obj2nid(sk_X509_ALGOR_value(caps, 0)->algorithm) == NID_aes_256_cbc,
	       "%s: S/MIME capabilities extension, AES-256-CBC first, %d ciphers", what, n);
	sk_X509_ALGOR_pop_free(caps, X509_ALGOR_free);
}

static void
check_ski(X509_REQ *req, EVP_PKEY *key, const char *what)
{
	X509_EXTENSION *e = find_ext(req, "2.5.29.14");
	ASN1_OCTET_STRING *ski = e != NULL ? X509V3_EXT_d2i(e) : NULL;
	X509 *x = X509_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	/* OpenSSL's own hash of a certificate's key bits. */
	X509_set_pubkey(x, key);
	X509_pubkey_digest(x, EVP_sha1(), md, &mdlen);
	tap_ok(ski != NULL && mdlen == 20 && ski->length == 20 && memcmp(ski->data, md, 20) == 0,
	       "%s: subject key identifier is SHA-1 of the key bits", what);
	ASN1_OCTET_STRING_free(ski);
	X509_free(x);
}

static void
check_empty_name(X509_REQ *req, const char *what)
{
	unsigned char *der = NULL;
	int n = i2d_X509_NAME(X509_REQ_get_subject_name(req), &der);

	tap_ok(n == 2 && der[0] == 0x30 && der[1] == 0, "%s: empty subject (30 00)", what);
	tap_ok(find_ext(req, "2.5.29.17") == NULL, "%s: no SAN", what);
	OPENSSL_free(der);
}

/* ae_csr_describe on DER contains every string of WANT. */
static void
check_describe(ae_ctx *ctx, const uint8_t *der, size_t len, const char *const *want, const char *what)
{
	char *text = NULL;
	bool ok;

	if (ae_csr_describe(ctx, der, len, &text) != AE_OK) {
		tap_ok(0, "%s: describe: %s", what, ae_get_message(ctx));
		return;
	}
	ok = text != NULL;
	for (size_t i = 0; ok && want[i] != NULL; i++) {
		if (strstr(text, want[i]) == NULL) {
			tap_diag("  missing \"%s\"", want[i]);
			ok = false;
		}
	}
	tap_ok(ok, "%s: describe names what it holds", what);
	if (!ok)
		tap_diag("%s", text != NULL ? text : "(null)");
	free(text);
}

static X509 *
self_signed(EVP_PKEY *key, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_sign(x, key, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

/* A certificate for KEY with the subject key identifier a request for it
 * carries (SHA-1 of the key bits), which names the new key's signer. */
static X509 *
ski_holder(EVP_PKEY *key)
{
	X509 *holder = self_signed(key, "new key");
	ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
	unsigned char md[20];
	const unsigned char *pk;
	int pklen;

	X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, X509_get_X509_PUBKEY(holder));
	SHA1(pk, (size_t)pklen, md);
	ASN1_OCTET_STRING_set(ski, md, sizeof(md));
	X509_add1_ext_i2d(holder, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT);
	ASN1_OCTET_STRING_free(ski);
	return holder;
}

/* PKIData { {}, { [0] { bodyPartID, PKCS#10 } }, {}, {} } in LEN bytes:
 * the request and *ID, or NULL. */
static X509_REQ *
pkidata_request(const unsigned char *der, long len, long *id)
{
	static const int seqs[] = { V_ASN1_SEQUENCE, V_ASN1_SEQUENCE, V_ASN1_SEQUENCE, V_ASN1_SEQUENCE };
	static const int tagged[] = { V_ASN1_OTHER };
	ASN1_SEQUENCE_ANY *pkidata = seq_typed(unpack_der(der, len, SEQ_ANY), 4, seqs), *reqs = NULL;
	ASN1_INTEGER *part = NULL;
	X509_REQ *req = NULL;
	const unsigned char *p, *end;
	long l;
	int tag, cls;

	if (pkidata == NULL || ASN1_STRING_length(elt(pkidata, 0)->value.sequence) != 2 ||
	    ASN1_STRING_length(elt(pkidata, 2)->value.sequence) != 2 ||
	    ASN1_STRING_length(elt(pkidata, 3)->value.sequence) != 2 ||
	    (reqs = seq_typed(unpack(elt(pkidata, 1)->value.sequence, SEQ_ANY), 1, tagged)) == NULL)
		goto cleanup;
	/* the [0] IMPLICIT TaggedCertificationRequest, whole */
	p = ASN1_STRING_get0_data(elt(reqs, 0)->value.asn1_string);
	end = p + ASN1_STRING_length(elt(reqs, 0)->value.asn1_string);
	if (ASN1_get_object(&p, &l, &tag, &cls, end - p) != V_ASN1_CONSTRUCTED || tag != 0 ||
	    cls != V_ASN1_CONTEXT_SPECIFIC || p + l != end || (part = d2i_ASN1_INTEGER(NULL, &p, end - p)) == NULL)
		goto cleanup;
	req = unpack_der(p, end - p, ASN1_ITEM_rptr(X509_REQ));
	*id = ASN1_INTEGER_get(part);
cleanup:
	ASN1_INTEGER_free(part);
	sk_ASN1_TYPE_pop_free(reqs, ASN1_TYPE_free);
	sk_ASN1_TYPE_pop_free(pkidata, ASN1_TYPE_free);
	return req;
}

static void
test_renewal(ae_ctx *ctx, const ae_template *t, bool ec_old, const char *what)
{
	EVP_PKEY *old_key = keygen(ec_old), *new_key = keygen(false);
	X509 *old_cert = self_signed(old_key, "ws1.corp.test");
	ae_csr_params p;
	uint8_t *der = NULL;
	size_t len = 0;
	CMS_ContentInfo *cms = NULL;
	BIO *out = BIO_new(BIO_s_mem());
	bool cmc = t->schema_version >= 2;
	const unsigned char *cp;
	char buf[80] = "";
	X509_REQ *inner = NULL;
	long body_part_id = -1;
	unsigned char *cert_der = NULL;
	int cert_len;
	char *data = NULL;
	long n;
	bool ok;

	init_params(&p, t);
	if (ae_csr_build_renewal(ctx, &p, new_key, old_cert, old_key, &der, &len) != AE_OK) {
		tap_ok(0, "%s: renewal built: %s", what, ae_get_message(ctx));
		goto cleanup;
	}
	tap_ok(der != NULL && len > 0, "%s: renewal built (%zu bytes)", what, len);
	cp = der;
	cms = d2i_CMS_ContentInfo(NULL, &cp, (long)len);
	tap_ok(cms != NULL && cp == der + len, "%s: the output is one CMS ContentInfo", what);
	if (cms == NULL)
		goto cleanup;
	tap_is_int(OBJ_obj2nid(CMS_get0_type(cms)), NID_pkcs7_signed, "%s: SignedData", what);
	OBJ_obj2txt(buf, sizeof(buf), CMS_get0_eContentType(cms), 1);
	tap_is_str(buf, cmc ? "1.3.6.1.5.5.7.12.2" : "1.2.840.113549.1.7.1", "%s: eContentType %s", what,
	           cmc ? "id-cct-PKIData (schema 2+)" : "id-data (schema 1)");
	{
		/* The new key's signer is named by the request's SKI: verify
		 * it with a stand-in certificate carrying that SKI. */
		STACK_OF(X509) *extra = sk_X509_new_null();
		X509 *holder = ski_holder(new_key);
		sk_X509_push(extra, holder);
		ok = CMS_verify(cms, extra, NULL, NULL, out, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) == 1;
		if (!ok)
			ERR_print_errors_fp(stdout);
		tap_ok(ok, "%s: every CMS signature verifies", what);
		sk_X509_pop_free(extra, X509_free);
	}
	{
		STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
		int nsi = sk_CMS_SignerInfo_num(sis), old_at = cmc ? 1 : 0;
		CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, old_at);
		ASN1_OCTET_STRING *keyid = NULL;
		X509_NAME *issuer = NULL;
		ASN1_INTEGER *serial = NULL;

		tap_is_int(nsi, cmc ? 2 : 1, "%s: %d SignerInfo%s", what, cmc ? 2 : 1, cmc ? "s" : "");
		if (cmc) {
			CMS_SignerInfo *first = sk_CMS_SignerInfo_value(sis, 0);
			ASN1_OCTET_STRING *id0 = NULL;
			X509_NAME *is0 = NULL;
			ASN1_INTEGER *se0 = NULL;
			unsigned char want_id[20];
			const unsigned char *pk;
			int pklen;
			X509_PUBKEY *xpk = NULL;
			X509_PUBKEY_set(&xpk, new_key);
			X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, xpk);
			SHA1(pk, (size_t)pklen, want_id);
			X509_PUBKEY_free(xpk);
			tap_ok(first != NULL && CMS_SignerInfo_get0_signer_id(first, &id0, &is0, &se0) == 1 &&
			       id0 != NULL && id0->length == 20 && memcmp(id0->data, want_id, 20) == 0,
			       "%s: first signer is the new key, by the request's subjectKeyIdentifier", what);
		}
		tap_ok(si != NULL && CMS_SignerInfo_get0_signer_id(si, &keyid, &issuer, &serial) == 1 &&
		       keyid == NULL && X509_NAME_cmp(issuer, X509_get_issuer_name(old_cert)) == 0 &&
		       ASN1_INTEGER_cmp(serial, X509_get_serialNumber(old_cert)) == 0,
		       "%s: %s signer is the old certificate, by issuer and serial number", what,
		       cmc ? "second" : "the");
		tap_ok(si != NULL && CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1) >= 0 &&
		       CMS_signed_get_attr_by_NID(si, NID_pkcs9_messageDigest, -1) >= 0 &&
		       CMS_signed_get_attr_by_NID(si, NID_pkcs9_contentType, -1) >= 0,
		       "%s: signed attributes contentType, messageDigest, signingTime", what);
	}
	{
		STACK_OF(X509) *certs = CMS_get1_certs(cms);
		tap_ok(sk_X509_num(certs) == 1 && X509_cmp(sk_X509_value(certs, 0), old_cert) == 0,
		       "%s: only the old certificate in certificates", what);
		sk_X509_pop_free(certs, X509_free);
	}

	n = BIO_get_mem_data(out, &data);
	if (cmc) {
		inner = pkidata_request((const unsigned char *)data, n, &body_part_id);
		tap_ok(inner != NULL, "%s: PKIData layout with one tcr [0] TaggedRequest", what);
		tap_is_int(body_part_id, 1, "%s: bodyPartID 1", what);
	} else {
		/* id-data: the PKCS#10 itself */
		inner = unpack_der((const unsigned char *)data, n, ASN1_ITEM_rptr(X509_REQ));
	}
	tap_ok(inner != NULL && X509_REQ_verify(inner, new_key) == 1,
	       "%s: inner PKCS#10 parses and verifies with the new key", what);
	if (inner == NULL)
		goto cleanup;
	tap_ok(EVP_PKEY_eq(X509_REQ_get0_pubkey(inner), new_key) == 1, "%s: inner request has the new key",
	       what);
	cert_len = i2d_X509(old_cert, &cert_der);
	{
		ASN1_TYPE *rt = find_attr(inner, "1.3.6.1.4.1.311.13.1");
		tap_ok(rt != NULL && rt->type == V_ASN1_SEQUENCE && ASN1_STRING_length(rt->value.sequence) == cert_len &&
		       memcmp(ASN1_STRING_get0_data(rt->value.sequence), cert_der, (size_t)cert_len) == 0,
		       "%s: szOID_RENEWAL_CERTIFICATE is the old certificate's DER", what);
	}
	check_attrs(inner, &p, 1, what);

	{
		static const char *const want_cmc[] = {
			"CMS SignedData, content id-cct-PKIData (1.3.6.1.5.5.7.12.2)",
			"signer 1: subjectKeyIdentifier ", "signer 2: issuer CN=ws1.corp.test, serial 1092, digest sha256",
			"certificate 1: CN=ws1.corp.test", "signatures: verify",
			"PKIData controls: 0", "PKIData requests: 1", "TaggedRequest bodyPartID 1:",
			"    PKCS#10 request", "renewing certificate: subject CN=ws1.corp.test, serial 1092", NULL
		};
		static const char *const want_v1[] = {
			"CMS SignedData, content pkcs7-data (1.2.840.113549.1.7.1)",
			"signer 1: issuer CN=ws1.corp.test, serial 1092, digest sha256",
			"certificate 1: CN=ws1.corp.test", "signatures: verify",
			"  PKCS#10 request", "renewing certificate: subject CN=ws1.corp.test, serial 1092", NULL
		};
		check_describe(ctx, der, len, cmc ? want_cmc : want_v1, what);
	}
	if (!have_openssl_cmd) {
		tap_ok(1, "%s: openssl cms -verify # SKIP no openssl command", what);
	} else {
		/* openssl finds the new key's signer through a certificate
		 * with the same SKI, given with -certfile. */
		char holder_path[] = "/tmp/test-csr-holder-XXXXXX", cmd[512];
		int fd = mkstemp(holder_path);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
		X509 *holder = ski_holder(new_key);
		if (f != NULL) {
			PEM_write_X509(f, holder);
			fclose(f);
		}
		snprintf(cmd, sizeof(cmd),
		         "openssl cms -verify -noverify -binary -inform DER -in @F@ -certfile %s -out /dev/null 2>/dev/null && "
		         "openssl cms -cmsout -print -noout -inform DER -in @F@ >/dev/null 2>&1",
		         holder_path);
		tap_ok(openssl_accepts(der, len, cmd), "%s: openssl cms -verify -noverify and -cmsout -print accept it",
		       what);
		unlink(holder_path);
		X509_free(holder);
	}

cleanup:
	free_exts();
	OPENSSL_free(cert_der);
	X509_REQ_free(inner);
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	free(der);
	X509_free(old_cert);
	EVP_PKEY_free(old_key);
	EVP_PKEY_free(new_key);
}

static bool
build_ok(ae_ctx *ctx, const ae_csr_params *p, EVP_PKEY *key, X509_REQ **req, const char *what)
{
	ae_err err = ae_csr_build(ctx, p, key, req);

	tap_ok(err == AE_OK && *req != NULL, "%s: built", what);
	if (err != AE_OK)
		tap_diag("  %s", ae_get_message(ctx));
	return err == AE_OK;
}

static void
expect_error(ae_ctx *ctx, const ae_csr_params *p, EVP_PKEY *key, ae_err code, const char *part,
             const char *what)
{
	X509_REQ *req = (X509_REQ *)1;
	ae_err err;

	ae_clear_message(ctx);
	err = ae_csr_build(ctx, p, key, &req);
	tap_ok(err == code && req == NULL && strstr(ae_get_message(ctx), part) != NULL,
	       "%s: error mentions \"%s\"", what, part);
	if (err != code || strstr(ae_get_message(ctx), part) == NULL)
		tap_diag("  got %d: %s", err, ae_get_message(ctx));
	if (err == AE_OK)
		X509_REQ_free(req);
}

/* Bytes NEEDLE (LEN) somewhere in HAY. */
static bool
has_bytes(const unsigned char *hay, long n, const unsigned char *needle, size_t len)
{
	for (long i = 0; n >= 0 && (size_t)i + len <= (size_t)n; i++)
		if (memcmp(hay + i, needle, len) == 0)
			return true;
	return false;
}

/* A certificate for KEY issued by CA_CERT (CA_KEY), with EKU (an OID, or
 * NULL for none). */
static X509 *
issued_by(EVP_PKEY *key, const char *cn, X509 *ca_cert, EVP_PKEY *ca_key, const char *eku)
{
	X509 *x = self_signed(key, cn);

	X509_set_issuer_name(x, X509_get_subject_name(ca_cert));
	if (eku != NULL) {
		X509V3_CTX v3;
		X509_EXTENSION *ext;
		char value[64];
		snprintf(value, sizeof(value), "%s", eku);
		X509V3_set_ctx(&v3, ca_cert, x, NULL, NULL, 0);
		ext = X509V3_EXT_nconf_nid(NULL, &v3, NID_ext_key_usage, value);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(x, ca_key, EVP_sha256());
	return x;
}

/* Key archival (MS-WCCE 3.1.1.4.3.6.1): the exchange certificate checked;
 * the key, as a PRIVATEKEYBLOB, in an EnvelopedData the exchange key
 * opens, as the new key's unauthenticated szOID_ARCHIVED_KEY_ATTR; its
 * hash in the signed PKIData. */
static void
test_archival(ae_ctx *ctx, const ae_template *cmc_tpl, const ae_template *v1)
{
	EVP_PKEY *ca_key = keygen(false), *xkey = keygen(false), *new_key = keygen(false);
	X509 *ca = self_signed(ca_key, "Lab CA");
	X509 *xchg = issued_by(xkey, "Lab CA-Xchg", ca, ca_key, "1.3.6.1.4.1.311.21.5");
	X509 *no_eku = issued_by(xkey, "Lab CA-Xchg", ca, ca_key, "clientAuth");
	X509 *rogue = self_signed(xkey, "Lab CA-Xchg");
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.4.1.311.21.13", 1);
	CMS_ContentInfo *cms = NULL, *env = NULL;
	BIO *content = BIO_new(BIO_s_mem()), *blob = BIO_new(BIO_s_mem());
	EVP_PKEY *back = NULL;
	ae_csr_params p;
	uint8_t *der = NULL;
	size_t len = 0;
	const unsigned char *cp;
	char *data = NULL;
	long n;

	tap_ok(ae_csr_check_exchange(ctx, xchg, ca, "Lab CA", time(NULL)) == AE_OK,
	       "archival: the exchange certificate (issued by the CA, CA exchange EKU) is accepted: %s", ae_get_message(ctx));
	tap_ok(ae_csr_check_exchange(ctx, no_eku, ca, "Lab CA", time(NULL)) != AE_OK &&
	       strstr(ae_get_message(ctx), "CA exchange extended key usage") != NULL,
	       "archival: without the CA exchange EKU: refused, saying so");
	tap_ok(ae_csr_check_exchange(ctx, rogue, ca, "Lab CA", time(NULL)) != AE_OK &&
	       strstr(ae_get_message(ctx), "not issued by the CA") != NULL,
	       "archival: not issued by the CA: refused, saying so");
	tap_ok(ae_csr_check_exchange(ctx, xchg, ca, "Lab CA", time(NULL) + 3 * 86400) != AE_OK,
	       "archival: an expired exchange certificate is refused");
	{
		/* RFC 5280 4.2.1.3: a key usage without keyEncipherment */
		X509 *signing = issued_by(xkey, "Lab CA-Xchg", ca, ca_key, "1.3.6.1.4.1.311.21.5");
		X509V3_CTX v3;
		X509_EXTENSION *ext;
		X509V3_set_ctx(&v3, ca, signing, NULL, NULL, 0);
		ext = X509V3_EXT_nconf_nid(NULL, &v3, NID_key_usage, "critical,digitalSignature");
		X509_add_ext(signing, ext, -1);
		X509_EXTENSION_free(ext);
		X509_sign(signing, ca_key, EVP_sha256());
		tap_ok(ae_csr_check_exchange(ctx, signing, ca, "Lab CA", time(NULL)) != AE_OK &&
		           strstr(ae_get_message(ctx), "key encipherment") != NULL,
		       "archival: an exchange certificate whose key usage lacks keyEncipherment: refused, saying so");
		X509_free(signing);
		ae_clear_message(ctx);
	}
	ae_clear_message(ctx);
	init_params(&p, cmc_tpl);
	p.archive_to = xchg;
	tap_ok(ae_csr_build_signed(ctx, &p, new_key, NULL, NULL, NULL, &der, &len) == AE_OK, "archival: built: %s",
	       ae_get_message(ctx));
	cp = der;
	if (der == NULL || (cms = d2i_CMS_ContentInfo(NULL, &cp, (long)len)) == NULL) {
		tap_ok(0, "archival: a CMS ContentInfo");
		goto cleanup;
	}
	{
		STACK_OF(X509) *extra = sk_X509_new_null();
		STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
		CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, 0);
		int at = si != NULL ? CMS_unsigned_get_attr_by_OBJ(si, oid, -1) : -1;
		X509_ATTRIBUTE *attr = at >= 0 ? CMS_unsigned_get_attr(si, at) : NULL;
		ASN1_TYPE *v = attr != NULL && X509_ATTRIBUTE_count(attr) == 1 ? X509_ATTRIBUTE_get0_type(attr, 0) : NULL;
		unsigned char h[32];
		sk_X509_push(extra, ski_holder(new_key));
		tap_ok(CMS_verify(cms, extra, NULL, NULL, content, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) == 1 &&
		       sk_CMS_SignerInfo_num(sis) == 1,
		       "archival: one SignerInfo, the new key's, and it verifies");
		sk_X509_pop_free(extra, X509_free);
		tap_ok(v != NULL && v->type == V_ASN1_SEQUENCE, "archival: szOID_ARCHIVED_KEY_ATTR, one value, unauthenticated");
		if (v == NULL || v->type != V_ASN1_SEQUENCE)
			goto cleanup;
		cp = ASN1_STRING_get0_data(v->value.sequence);
		n = ASN1_STRING_length(v->value.sequence);
		SHA256(cp, (size_t)n, h);
		env = d2i_CMS_ContentInfo(NULL, &cp, n);
		tap_ok(env != NULL && OBJ_obj2nid(CMS_get0_type(env)) == NID_pkcs7_enveloped &&
		       CMS_decrypt(env, xkey, xchg, NULL, blob, CMS_BINARY) == 1,
		       "archival: an EnvelopedData the exchange key opens");
		back = b2i_PrivateKey_bio(blob);
		{
			BIGNUM *d1 = NULL, *d2 = NULL;
			tap_ok(back != NULL && EVP_PKEY_eq(back, new_key) == 1 && EVP_PKEY_get_bn_param(back, "d", &d1) == 1 &&
			       EVP_PKEY_get_bn_param(new_key, "d", &d2) == 1 && BN_cmp(d1, d2) == 0,
			       "archival: it holds the new private key (the same d) as a PRIVATEKEYBLOB");
			BN_clear_free(d1);
			BN_clear_free(d2);
		}
		n = BIO_get_mem_data(content, &data);
		tap_ok(has_bytes((const unsigned char *)data, n, h, sizeof(h)),
		       "archival: the PKIData (signed) carries the EnvelopedData's SHA-256 (szOID_ENCRYPTED_KEY_HASH)");
	}
	free(der);
	der = (uint8_t *)1;
	init_params(&p, v1);
	p.archive_to = xchg;
	tap_ok(ae_csr_build_signed(ctx, &p, new_key, NULL, NULL, NULL, &der, &len) == AE_ERR_UNSUPPORTED && der == NULL,
	       "archival for a schema 1 template: unsupported, outputs NULL");
	der = NULL;
	ae_clear_message(ctx);
cleanup:
	ERR_clear_error();
	free(der);
	CMS_ContentInfo_free(cms);
	CMS_ContentInfo_free(env);
	BIO_free(content);
	BIO_free(blob);
	EVP_PKEY_free(back);
	ASN1_OBJECT_free(oid);
	X509_free(ca);
	X509_free(xchg);
	X509_free(no_eku);
	X509_free(rogue);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(xkey);
	EVP_PKEY_free(new_key);
}

/* Co-signed by an enrollment agent (MS-WCCE 3.1.1.4.3.3.3), on behalf of
 * someone else; refused for schema 1; a renewal of an enrollee-supplied
 * subject reuses the old certificate's. */
static void
test_cosigned(ae_ctx *ctx, const ae_template *cmc_tpl, const ae_template *v1, const ae_template *subj_tpl)
{
	EVP_PKEY *new_key = keygen(false), *agent_key = keygen(true);
	X509 *agent_cert = self_signed(agent_key, "agent");
	ae_csr_agent agent = { agent_cert, agent_key, "CORP\\bob" };
	ae_csr_params p;
	uint8_t *der = NULL;
	size_t len = 0;
	const unsigned char *cp;
	CMS_ContentInfo *cms = NULL;
	BIO *out = BIO_new(BIO_s_mem());
	static const unsigned char bmp_name[] = { 0x1e, 0x1a, 0, 'r', 0, 'e', 0, 'q', 0, 'u', 0, 'e', 0, 's', 0, 't',
		                                  0, 'e', 0, 'r', 0, 'n', 0, 'a', 0, 'm', 0, 'e' };
	static const unsigned char bmp_bob[] = { 0x1e, 0x10, 0, 'C', 0, 'O', 0, 'R', 0, 'P', 0, '\\', 0, 'b', 0, 'o', 0, 'b' };
	char *data = NULL;
	long n;

	init_params(&p, cmc_tpl);
	tap_ok(ae_csr_build_signed(ctx, &p, new_key, NULL, NULL, &agent, &der, &len) == AE_OK, "co-signed: built: %s",
	       ae_get_message(ctx));
	cp = der;
	if (der == NULL || (cms = d2i_CMS_ContentInfo(NULL, &cp, (long)len)) == NULL) {
		tap_ok(0, "co-signed: a CMS ContentInfo");
		goto cleanup;
	}
	{
		STACK_OF(X509) *extra = sk_X509_new_null();
		STACK_OF(X509) *certs = CMS_get1_certs(cms);
		STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
		CMS_SignerInfo *second = sk_CMS_SignerInfo_value(sis, 1);
		ASN1_OCTET_STRING *keyid = NULL;
		X509_NAME *issuer = NULL;
		ASN1_INTEGER *serial = NULL;
		sk_X509_push(extra, ski_holder(new_key));
		tap_ok(CMS_verify(cms, extra, NULL, NULL, out, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) == 1,
		       "co-signed: both signatures verify");
		tap_is_int(sk_CMS_SignerInfo_num(sis), 2, "co-signed: two SignerInfos (new key, agent)");
		tap_ok(second != NULL && CMS_SignerInfo_get0_signer_id(second, &keyid, &issuer, &serial) == 1 &&
		       ASN1_INTEGER_cmp(serial, X509_get_serialNumber(agent_cert)) == 0,
		       "co-signed: the second signer is the agent's certificate");
		tap_ok(sk_X509_num(certs) == 1 && X509_cmp(sk_X509_value(certs, 0), agent_cert) == 0,
		       "co-signed: the agent's certificate in certificates");
		sk_X509_pop_free(certs, X509_free);
		sk_X509_pop_free(extra, X509_free);
	}
	n = BIO_get_mem_data(out, &data);
	tap_ok(has_bytes((const unsigned char *)data, n, bmp_name, sizeof(bmp_name)) &&
	       has_bytes((const unsigned char *)data, n, bmp_bob, sizeof(bmp_bob)),
	       "on behalf: PKIData carries requestername = CORP\\bob (BMPStrings)");
	free(der);
	der = (uint8_t *)1;
	init_params(&p, v1);
	tap_ok(ae_csr_build_signed(ctx, &p, new_key, NULL, NULL, &agent, &der, &len) == AE_ERR_UNSUPPORTED && der == NULL,
	       "co-signed schema 1 template: unsupported, outputs NULL");
	ae_clear_message(ctx);
	{
		EVP_PKEY *old_key = keygen(false);
		X509 *old = self_signed(old_key, "www.corp.test");
		X509_REQ *inner = NULL;
		BIO *o2 = BIO_new(BIO_s_mem());
		CMS_ContentInfo *c2 = NULL;
		init_params(&p, subj_tpl);
		der = NULL;
		if (ae_csr_build_renewal(ctx, &p, new_key, old, old_key, &der, &len) == AE_OK &&
		    (cp = der, c2 = d2i_CMS_ContentInfo(NULL, &cp, (long)len)) != NULL &&
		    CMS_verify(c2, NULL, NULL, NULL, o2, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) == 1) {
			n = BIO_get_mem_data(o2, &data);
			inner = unpack_der((const unsigned char *)data, n, ASN1_ITEM_rptr(X509_REQ));
		}
		tap_ok(inner != NULL && X509_NAME_cmp(X509_REQ_get_subject_name(inner), X509_get_subject_name(old)) == 0,
		       "renewal of an enrollee-supplied subject: the old certificate's subject: %s", ae_get_message(ctx));
		free(der);
		der = NULL;
		init_params(&p, cmc_tpl);
		for (int round = 0; round < 4; round++) {
			/* new key, old certificate, agent, whatever DER's sort says */
			CMS_ContentInfo *c3 = NULL;
			STACK_OF(CMS_SignerInfo) *sis;
			ASN1_OCTET_STRING *kid = NULL;
			X509_NAME *is = NULL;
			ASN1_INTEGER *s1 = NULL, *s2 = NULL;
			bool good = ae_csr_build_signed(ctx, &p, new_key, old, old_key, &agent, &der, &len) == AE_OK &&
			            (cp = der, c3 = d2i_CMS_ContentInfo(NULL, &cp, (long)len)) != NULL &&
			            (sis = CMS_get0_SignerInfos(c3)) != NULL && sk_CMS_SignerInfo_num(sis) == 3 &&
			            CMS_SignerInfo_get0_signer_id(sk_CMS_SignerInfo_value(sis, 1), &kid, &is, &s1) == 1 &&
			            CMS_SignerInfo_get0_signer_id(sk_CMS_SignerInfo_value(sis, 2), &kid, &is, &s2) == 1 &&
			            ASN1_INTEGER_cmp(s1, X509_get_serialNumber(old)) == 0 &&
			            ASN1_INTEGER_cmp(s2, X509_get_serialNumber(agent_cert)) == 0;
			CMS_ContentInfo_free(c3);
			free(der);
			der = NULL;
			if (!good || round == 3) {
				tap_ok(good, "co-signed renewal: signers new key, old certificate, agent (round %d)", round);
				break;
			}
			ASN1_INTEGER_set(X509_get_serialNumber(old), 1000 + round * 77); /* another DER order */
		}
		X509_REQ_free(inner);
		CMS_ContentInfo_free(c2);
		BIO_free(o2);
		free(der);
		der = NULL;
		X509_free(old);
		EVP_PKEY_free(old_key);
	}
cleanup:
	if (der != (uint8_t *)1)
		free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(out);
	X509_free(agent_cert);
	EVP_PKEY_free(agent_key);
	EVP_PKEY_free(new_key);
}

/* The first value (full TLV) of unsigned attribute OID of CMS's first
 * SignerInfo, as a pointer into a static copy (the previous one freed; CMS
 * NULL only frees it); NULL when absent. */
static const unsigned char *
unsigned_value(CMS_ContentInfo *cms, const char *oid_txt, long *n)
{
	static unsigned char *copy;
	CMS_SignerInfo *si = cms != NULL ? sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0) : NULL;
	ASN1_OBJECT *oid = OBJ_txt2obj(oid_txt, 1);
	int at = si != NULL ? CMS_unsigned_get_attr_by_OBJ(si, oid, -1) : -1;
	X509_ATTRIBUTE *attr = at >= 0 ? CMS_unsigned_get_attr(si, at) : NULL;
	ASN1_TYPE *v = attr != NULL && X509_ATTRIBUTE_count(attr) == 1 ? X509_ATTRIBUTE_get0_type(attr, 0) : NULL;

	ASN1_OBJECT_free(oid);
	OPENSSL_free(copy);
	copy = NULL;
	if (v == NULL || v->type != V_ASN1_SEQUENCE)
		return NULL;
	*n = ASN1_STRING_length(v->value.sequence);
	copy = OPENSSL_memdup(ASN1_STRING_get0_data(v->value.sequence), (size_t)*n);
	return copy;
}

/* The CmcAddAttributesInfo that carries the key hash, byte for byte as
 * Windows' certreq sends it (MicrosoftDocs/win32 SecCertEnroll
 * cmc-key-archival-encoded-asn-1.md, offsets 0x59-0x8a, whose hash is
 * SHA-1):
 *   SEQ { INT 0 (dataReference), SEQ { INT 1 } (certReferences),
 *         SET { SEQ { OID 1.3.6.1.4.1.311.21.21, SET { OCTET STRING hash } } } }
 * (the Windows request adds its client information after the hash). */
static size_t
key_hash_control(unsigned char *out, const unsigned char *hash, size_t hlen)
{
	static const unsigned char oid[] = { 0x06, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x15, 0x15 };
	size_t attr = sizeof(oid) + 4 + hlen, o = 0;

	out[o++] = 0x30, out[o++] = (unsigned char)(attr + 2 + 8 + 2);
	memcpy(out + o, "\x02\x01\x00\x30\x03\x02\x01\x01", 8), o += 8;
	out[o++] = 0x31, out[o++] = (unsigned char)(attr + 2);
	out[o++] = 0x30, out[o++] = (unsigned char)attr;
	memcpy(out + o, oid, sizeof(oid)), o += sizeof(oid);
	out[o++] = 0x31, out[o++] = (unsigned char)(hlen + 2);
	out[o++] = 0x04, out[o++] = (unsigned char)hlen;
	memcpy(out + o, hash, hlen);
	return o + hlen;
}

/* Key archival, the exact encoding points (MS-WCCE 3.1.1.4.3.6.1 as
 * Windows sends it; each pinned so a later change cannot drift):
 *  - Windows' own request (tests/data/windows-cmc-key-archival.der, the
 *    certreq sample): its szOID_ENCRYPTED_KEY_HASH is the SHA-1 of the
 *    whole szOID_ARCHIVED_KEY_ATTR value, the ContentInfo{envelopedData}
 *    DER (not the inner EnvelopedData), in a CmcAddAttributesInfo;
 *  - ours: the same CmcAddAttributesInfo with the hash of our ContentInfo
 *    under the request's digest; the ContentInfo an unsigned attribute of
 *    the SKI SignerInfo (never a signed one); EnvelopedData version 0, one
 *    KeyTransRecipientInfo by issuer and serial of the exchange
 *    certificate, rsaEncryption (PKCS#1 v1.5); content cipher per the
 *    template's msPKI-Symmetric-Algorithm (3DES: des-ede3-cbc, 8-byte IV)
 *    or AES-256-CBC when it names none;
 *  - the content, a PRIVATEKEYBLOB (2.2.2.9.1): 07 02 0000, CALG_RSA_KEYX
 *    00 a4 00 00, "RSA2", bitlen and pubexp little-endian, modulus
 *    little-endian, 20 + 2 * bitlen/8 + 5 * bitlen/16 bytes. */
static void
test_archival_encoding(ae_ctx *ctx, ae_template *tpl)
{
	static const unsigned char blob_head[] = { 0x07, 0x02, 0x00, 0x00, 0x00, 0xa4, 0x00, 0x00,
	                                           0x52, 0x53, 0x41, 0x32, 0x00, 0x08, 0x00, 0x00,
	                                           0x01, 0x00, 0x01, 0x00 };
	static const unsigned char des3[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03, 0x07, 0x04, 0x08 };
	static const unsigned char aes256[] = { 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
	                                        0x04, 0x01, 0x2a, 0x04, 0x10 };
	static const unsigned char env_head[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03 };
	EVP_PKEY *ca_key = keygen(false), *xkey = keygen(false), *new_key = keygen(false);
	X509 *ca = self_signed(ca_key, "Lab CA");
	X509 *xchg = issued_by(xkey, "Lab CA-Xchg", ca, ca_key, "1.3.6.1.4.1.311.21.5");
	char *saved_alg = tpl->symmetric_alg;
	uint32_t saved_len = tpl->symmetric_key_length;
	unsigned char ctl[128], h[EVP_MAX_MD_SIZE];
	size_t wlen = 0, clen;
	char *win = tap_slurp("tests/data", "windows-cmc-key-archival.der", &wlen);
	const unsigned char *cp;
	CMS_ContentInfo *cms = NULL;

	/* Windows' request */
	cp = (const unsigned char *)win;
	if (win != NULL && (cms = d2i_CMS_ContentInfo(NULL, &cp, (long)wlen)) != NULL) {
		long n = 0;
		const unsigned char *v = unsigned_value(cms, "1.3.6.1.4.1.311.21.13", &n);
		ASN1_OCTET_STRING **pos = CMS_get0_content(cms);
		tap_ok(v != NULL && n > 13 && memcmp(v + 4, env_head, sizeof(env_head)) == 0,
		       "Windows' request: szOID_ARCHIVED_KEY_ATTR, unauthenticated, a ContentInfo{envelopedData}");
		if (v != NULL)
			SHA1(v, (size_t)n, h);
		clen = key_hash_control(ctl, h, 20);
		/* Windows' CmcAddAttributesInfo also holds its client information:
		 * its outer lengths differ, the head and the hash attribute do not */
		tap_ok(v != NULL && pos != NULL && *pos != NULL &&
		           has_bytes(ASN1_STRING_get0_data(*pos), ASN1_STRING_length(*pos), ctl + 2, 8) &&
		           has_bytes(ASN1_STRING_get0_data(*pos), ASN1_STRING_length(*pos), ctl + 12, clen - 12),
		       "Windows' request: its key hash is SHA-1 of that whole ContentInfo, in a CmcAddAttributesInfo");
	} else {
		tap_ok(0, "Windows' key archival request (tests/data) read");
		tap_ok(0, "Windows' key archival request: key hash");
	}
	CMS_ContentInfo_free(cms);
	cms = NULL;
	free(win);

	for (int round = 0; round < 2; round++) {
		ae_csr_params p;
		uint8_t *der = NULL;
		size_t len = 0;
		long n = 0;
		const unsigned char *v;
		CMS_ContentInfo *env = NULL;
		BIO *blob = BIO_new(BIO_s_mem());
		const char *what = round == 0 ? "3DES template" : "no symmetric algorithm";
		unsigned int hl = 0;

		tpl->symmetric_alg = round == 0 ? "3DES" : NULL;
		tpl->symmetric_key_length = round == 0 ? 168 : 0;
		init_params(&p, tpl);
		p.archive_to = xchg;
		tap_ok(ae_csr_build_signed(ctx, &p, new_key, NULL, NULL, NULL, &der, &len) == AE_OK,
		       "archival encoding (%s): built: %s", what, ae_get_message(ctx));
		cp = der;
		cms = der != NULL ? d2i_CMS_ContentInfo(NULL, &cp, (long)len) : NULL;
		v = cms != NULL ? unsigned_value(cms, "1.3.6.1.4.1.311.21.13", &n) : NULL;
		{
			CMS_SignerInfo *si = cms ? sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0) : NULL;
			ASN1_OCTET_STRING *kid = NULL;
			ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.4.1.311.21.13", 1);
			tap_ok(si != NULL && CMS_SignerInfo_get0_signer_id(si, &kid, NULL, NULL) == 1 && kid != NULL &&
			           CMS_signed_get_attr_by_OBJ(si, oid, -1) < 0 && v != NULL &&
			           memcmp(v + 4, env_head, sizeof(env_head)) == 0,
			       "archival encoding (%s): the ContentInfo{envelopedData} unsigned in the SKI SignerInfo, "
			       "not signed", what);
			ASN1_OBJECT_free(oid);
		}
		if (v == NULL)
			goto next;
		/* ContentInfo: 30 82 LL LL, OID, a0 82 LL LL, EnvelopedData 30 82 LL LL, version 02 01 00 */
		tap_ok(n > 26 && v[15] == 0xa0 && v[16] == 0x82 && v[19] == 0x30 && v[20] == 0x82 && v[23] == 0x02 &&
		           v[24] == 0x01 && v[25] == 0x00,
		       "archival encoding (%s): EnvelopedData version 0", what);
		tap_ok(has_bytes(v, n, round == 0 ? des3 : aes256, round == 0 ? sizeof(des3) : sizeof(aes256)),
		       "archival encoding (%s): content cipher %s with its IV", what,
		       round == 0 ? "des-ede3-cbc (template's 3DES)" : "aes256-CBC");
		EVP_Digest(v, (size_t)n, h, &hl, EVP_sha256(), NULL);
		clen = key_hash_control(ctl, h, hl);
		{
			ASN1_OCTET_STRING **pos = CMS_get0_content(cms);
			tap_ok(pos != NULL && *pos != NULL &&
			           has_bytes(ASN1_STRING_get0_data(*pos), ASN1_STRING_length(*pos), ctl, clen),
			       "archival encoding (%s): the PKIData's CmcAddAttributesInfo carries SHA-256 of the "
			       "whole ContentInfo, as Windows'", what);
		}
		cp = v;
		env = d2i_CMS_ContentInfo(NULL, &cp, n);
		{
			STACK_OF(CMS_RecipientInfo) *ris = env ? CMS_get0_RecipientInfos(env) : NULL;
			CMS_RecipientInfo *ri = ris && sk_CMS_RecipientInfo_num(ris) == 1 ? sk_CMS_RecipientInfo_value(ris, 0)
			                                                                  : NULL;
			ASN1_OCTET_STRING *kid = NULL;
			X509_NAME *iss = NULL;
			ASN1_INTEGER *sno = NULL;
			X509_ALGOR *alg = NULL;
			tap_ok(ri != NULL && CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS &&
			           CMS_RecipientInfo_ktri_get0_signer_id(ri, &kid, &iss, &sno) == 1 && kid == NULL &&
			           iss != NULL && X509_NAME_cmp(iss, X509_get_issuer_name(xchg)) == 0 && sno != NULL &&
			           ASN1_INTEGER_cmp(sno, X509_get0_serialNumber(xchg)) == 0 &&
			           CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL, &alg) == 1 &&
			           OBJ_obj2nid(alg->algorithm) == NID_rsaEncryption,
			       "archival encoding (%s): one KeyTransRecipientInfo, issuer and serial of the exchange "
			       "certificate, rsaEncryption", what);
		}
		if (env != NULL && CMS_decrypt(env, xkey, xchg, NULL, blob, CMS_BINARY) == 1) {
			char *data = NULL;
			long bl = BIO_get_mem_data(blob, &data);
			const unsigned char *b = (const unsigned char *)data;
			BIGNUM *nb = NULL;
			unsigned char mod[256];
			bool le = EVP_PKEY_get_bn_param(new_key, "n", &nb) == 1 && BN_bn2lebinpad(nb, mod, 256) == 256;
			tap_ok(bl == 20 + 2 * 256 + 5 * 128 && memcmp(b, blob_head, sizeof(blob_head)) == 0,
			       "archival encoding (%s): PRIVATEKEYBLOB 07 02 0000, CALG_RSA_KEYX, RSA2, bitlen 2048, "
			       "pubexp 65537, 1172 bytes", what);
			tap_ok(le && bl >= 20 + 256 && memcmp(b + 20, mod, 256) == 0,
			       "archival encoding (%s): the modulus little-endian after the header", what);
			BN_free(nb);
		} else {
			tap_ok(0, "archival encoding (%s): the exchange key opens the EnvelopedData", what);
			tap_ok(0, "archival encoding (%s): PRIVATEKEYBLOB", what);
		}
	next:
		ERR_clear_error();
		{
			char *data = NULL;
			long bl = BIO_get_mem_data(blob, &data);
			if (bl > 0)
				OPENSSL_cleanse(data, (size_t)bl);
		}
		BIO_free(blob);
		CMS_ContentInfo_free(env);
		CMS_ContentInfo_free(cms);
		cms = NULL;
		free(der);
	}
	unsigned_value(NULL, "1.3.6.1.4.1.311.21.13", NULL); /* frees the copy */
	tpl->symmetric_alg = saved_alg;
	tpl->symmetric_key_length = saved_len;
	ae_clear_message(ctx);
	X509_free(ca);
	X509_free(xchg);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(xkey);
	EVP_PKEY_free(new_key);
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();
	ldif_file lf;
	char err[256];
	ae_template **tpls;
	size_t ntpl = 0;
	EVP_PKEY *rsa = keygen(false), *ec = keygen(true);
	ae_template *user, *ws, *kerb, *web;
	ae_csr_params p;
	X509_REQ *req = NULL;
	static const int ku_sig_enc[9] = { 1, 0, 1, 0, 0, 0, 0, 0, 0 };
	static const int ku_sig[9] = { 1, 0, 0, 0, 0, 0, 0, 0, 0 };

	have_openssl_cmd = system("openssl version >/dev/null 2>&1") == 0;
	/* pwszAttributes: values from AD cannot add attributes of their own. */
	{
		char *a = NULL;
		tap_ok(ae_csr_attributes(ctx, "LabUser", "ws1.corp.test", "dc1.corp.test", &a) == AE_OK && a != NULL &&
		       strcmp(a, "CertificateTemplate:LabUser\nrmd:ws1.corp.test\ncdc:dc1.corp.test") == 0,
		       "request attributes: template, rmd, cdc");
		free(a);
		a = NULL;
		tap_ok(ae_csr_attributes(ctx, "LabUser", NULL, NULL, &a) == AE_OK && a != NULL &&
		       strcmp(a, "CertificateTemplate:LabUser") == 0, "request attributes without rmd and cdc");
		free(a);
		a = NULL;
		tap_ok(ae_csr_attributes(ctx, "Lab\nrmd:evil", "ws1", NULL, &a) == AE_ERR_INVALID && a == NULL &&
		       strstr(ae_get_message(ctx), "control character") != NULL,
		       "a template name with a newline is refused");
	}
	if (ldif_read_file(SRCDIR "/tests/data/windows-default-templates.ldif", &lf, err, sizeof(err)) != 0) {
		tap_ok(0, "fixtures: %s", err);
		return tap_done();
	}
	tpls = calloc(lf.count, sizeof(*tpls));
	for (size_t i = 0; i < lf.count; i++)
		if (ae_template_from_entry(ctx, &lf.entries[i], &tpls[ntpl]) == AE_OK)
			ntpl++;
	user = find_tpl(tpls, ntpl, "User");
	ws = find_tpl(tpls, ntpl, "Workstation");
	kerb = find_tpl(tpls, ntpl, "KerberosAuthentication");
	web = find_tpl(tpls, ntpl, "WebServer");
	tap_ok(user && ws && kerb && web && rsa && ec, "fixtures and keys");
	if (!(user && ws && kerb && web && rsa && ec))
		return tap_done();

	/* User: schema 1, named by a bare BMPString. */
	init_params(&p, user);
	p.user = "CORP\\alice";
	build_ok(ctx, &p, rsa, &req, "User");
	if (req != NULL) {
		static const uint8_t bmp_user[] = { 0x1e, 0x08, 0, 'U', 0, 's', 0, 'e', 0, 'r' };
		static const char *const ekus[] = { "1.3.6.1.4.1.311.10.3.4", "1.3.6.1.5.5.7.3.4",
			                            "1.3.6.1.5.5.7.3.2", NULL };
		X509_EXTENSION *e;
		uint8_t *der = NULL;
		size_t len = 0;

		tap_ok(X509_REQ_verify(req, rsa) == 1, "User: signature verifies");
		tap_is_int(X509_REQ_get_version(req), 0, "User: PKCS#10 v1");
		tap_is_int(X509_REQ_get_signature_nid(req), NID_sha256WithRSAEncryption, "User: sha256WithRSA");
		e = find_ext(req, "1.3.6.1.4.1.311.20.2");
		tap_ok(ext_bytes_are(e, bmp_user, sizeof(bmp_user)) && !X509_EXTENSION_get_critical(e),
		       "User: template name is BMPString \"User\" (1e 08 00 55 ...)");
		tap_ok(find_ext(req, "1.3.6.1.4.1.311.21.7") == NULL, "User: no template OID extension");
		check_ku(req, ku_sig_enc, true, "User");
		check_ekus(req, ekus, "User");
		check_app_policies(req, NULL, "User");
		check_ski(req, rsa, "User");
		check_empty_name(req, "User");
		check_attrs(req, &p, 1, "User");
		check_smime(req, true, "User (msPKI-Enrollment-Flag 0x29)");
		check_with_openssl_req(ctx, req, "User");
		tap_ok(ae_csr_to_der(ctx, req, &der, &len) == AE_OK && der != NULL && len > 0 && der[0] == 0x30,
		       "User: DER");
		{
			static const char *const want[] = {
				"PKCS#10 request, version 1", "subject: (empty",
				"public key: RSA, 2048 bits", "sha256WithRSAEncryption, verifies",
				"template name: \"User\"", "Key Usage (2.5.29.15): Digital Signature, Key Encipherment (critical)",
				"client info: id 1001, machine \"ws1.corp.test\", user \"CORP\\alice\", process \"autoenroll\"",
				"OS version: \"10.0.20348.2\"", "CSP: keySpec 1, \"autoenroll PKCS#11\"", NULL
			};
			check_describe(ctx, der, len, want, "User");
		}
		{
			const unsigned char *cp = der;
			X509_REQ *back = d2i_X509_REQ(NULL, &cp, (long)len);
			tap_ok(back != NULL && cp == der + len && X509_REQ_verify(back, rsa) == 1,
			       "User: DER parses back and verifies");
			X509_REQ_free(back);
		}
		free(der);
		X509_REQ_free(req);
		req = NULL;
	}

	/* Workstation and KerberosAuthentication: schema 2, by OID. */
	{
		ae_template *v2[2] = { ws, kerb };
		for (size_t i = 0; i < 2; i++) {
			ae_template *t = v2[i];
			init_params(&p, t);
			build_ok(ctx, &p, rsa, &req, t->name);
			if (req == NULL)
				continue;
			tap_ok(X509_REQ_verify(req, rsa) == 1, "%s: signature verifies", t->name);
			check_template_ext(req, t, t->name);
			check_ku(req, ku_sig_enc, true, t->name);
			check_ekus(req, (const char *const *)t->ekus, t->name);
			check_app_policies(req, t->application_policies, t->name);
			check_ski(req, rsa, t->name);
			/* KerberosAuthentication lists 2.5.29.17 as critical
			 * but the DC builds the names: still none requested. */
			check_empty_name(req, t->name);
			check_attrs(req, &p, 1, t->name);
			check_smime(req, false, t->name);
			check_with_openssl_req(ctx, req, t->name);
			X509_REQ_free(req);
			req = NULL;
		}
	}
	tap_is_int(ws->major, 101, "Workstation fixture: revision 101");

	/* Synthetic ECDSA template: Workstation edited. */
	{
		ae_template *t = ws;
		char *saved_hash = t->hash_alg;
		uint8_t saved_ku[2] = { t->key_usage[0], t->key_usage[1] };
		uint32_t saved_spec = t->key_spec, saved_minor = t->minor;
		char **saved_crit = t->critical_extensions;

		t->key_alg = AE_KEY_ALG_ECDSA_P256;
		t->hash_alg = "SHA384";
		t->key_usage[0] = 0x80;
		t->key_usage[1] = 0;
		t->key_spec = 2;
		t->minor = 7;
		t->critical_extensions = NULL;
		init_params(&p, t);
		p.os_version = NULL;
		build_ok(ctx, &p, ec, &req, "ECDSA");
		if (req != NULL) {
			tap_ok(X509_REQ_verify(req, ec) == 1, "ECDSA: signature verifies");
			tap_is_int(X509_REQ_get_signature_nid(req), NID_ecdsa_with_SHA384,
			           "ECDSA: ecdsa-with-SHA384 from msPKI-Hash-Algorithm");
			check_template_ext(req, t, "ECDSA");
			check_ku(req, ku_sig, false, "ECDSA");
			check_ski(req, ec, "ECDSA");
			{
				tap_ok(ext_bytes_are(find_ext(req, "2.5.29.15"), "\x03\x02\x07\x80", 4),
				       "ECDSA: digitalSignature alone is 03 02 07 80 (DER unused bits)");
			}
			{
				char *osv = ae_csr_os_version();
				ASN1_TYPE *a = find_attr(req, "1.3.6.1.4.1.311.13.2.3");
				tap_ok(a != NULL && osv != NULL && str_is(a->value.ia5string, osv) && strchr(osv, '.') != NULL,
				       "ECDSA: OS version from the kernel when unset (%s)", osv ? osv : "?");
				free(osv);
			}
			{
				ASN1_SEQUENCE_ANY *csp = attr_seq(req, "1.3.6.1.4.1.311.13.2.2", 3, csp_types);
				tap_ok(csp != NULL && elt_int(csp, 0) == 0,
				       "ECDSA: CSP keySpec 0 for a CNG (non-RSA) key, whatever pKIDefaultKeySpec says");
				sk_ASN1_TYPE_pop_free(csp, ASN1_TYPE_free);
			}
			check_with_openssl_req(ctx, req, "ECDSA");
			X509_REQ_free(req);
			req = NULL;
		}
		/* An explicit digest wins over the template. */
		p.md = EVP_sha256();
		if (ae_csr_build(ctx, &p, ec, &req) == AE_OK) {
			tap_is_int(X509_REQ_get_signature_nid(req), NID_ecdsa_with_SHA256, "ECDSA: params->md wins");
			X509_REQ_free(req);
			req = NULL;
		} else {
			tap_ok(0, "ECDSA with SHA-256: %s", ae_get_message(ctx));
		}
		p.md = NULL;
		t->hash_alg = "MD5";
		expect_error(ctx, &p, ec, AE_ERR_UNSUPPORTED, "\"MD5\"", "unsupported hash");
		t->hash_alg = saved_hash;
		t->key_usage[0] = saved_ku[0];
		t->key_usage[1] = saved_ku[1];
		t->key_spec = saved_spec;
		t->minor = saved_minor;
		t->critical_extensions = saved_crit;
		t->key_alg = AE_KEY_ALG_RSA;
	}

	/* WebServer: the enrollee supplies subject and names. */
	{
		char *dns[] = { "ws1.corp.test", "www.corp.test", NULL };
		char *upn[] = { "ws1$@corp.test", NULL };
		char *mail[] = { "admin@corp.test", NULL };
		char buf[256] = "";

		init_params(&p, web);
		p.subject = "CN=ws1.corp.test,O=Corp\\, Inc.,C=DE";
		p.san_dns = dns;
		p.san_upn = upn;
		p.san_email = mail;
		build_ok(ctx, &p, rsa, &req, "WebServer");
		if (req != NULL) {
			BIO *b = BIO_new(BIO_s_mem());
			X509_NAME *n = X509_REQ_get_subject_name(req);
			X509_EXTENSION *e;
			GENERAL_NAMES *gns;
			bool ok;

			X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
			BIO_gets(b, buf, sizeof(buf));
			BIO_free(b);
			tap_is_str(buf, "CN=ws1.corp.test,O=Corp\\, Inc.,C=DE", "WebServer: subject round-trips");
			tap_ok(X509_NAME_entry_count(n) == 3 &&
			       OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(n, 0))) == NID_countryName,
			       "WebServer: DER order C, O, CN");
			e = find_ext(req, "2.5.29.17");
			gns = e != NULL ? X509V3_EXT_d2i(e) : NULL;
			ok = gns != NULL && sk_GENERAL_NAME_num(gns) == 4;
			if (ok) {
				GENERAL_NAME *g0 = sk_GENERAL_NAME_value(gns, 0), *g1 = sk_GENERAL_NAME_value(gns, 1);
				GENERAL_NAME *g2 = sk_GENERAL_NAME_value(gns, 2), *g3 = sk_GENERAL_NAME_value(gns, 3);
				ok = g0->type == GEN_DNS && strcmp((char *)g0->d.dNSName->data, "ws1.corp.test") == 0 &&
				     g1->type == GEN_DNS && strcmp((char *)g1->d.dNSName->data, "www.corp.test") == 0 &&
				     g2->type == GEN_OTHERNAME &&
				     OBJ_obj2txt(buf, sizeof(buf), g2->d.otherName->type_id, 1) > 0 &&
				     strcmp(buf, "1.3.6.1.4.1.311.20.2.3") == 0 &&
				     g2->d.otherName->value->type == V_ASN1_UTF8STRING &&
				     strcmp((char *)g2->d.otherName->value->value.utf8string->data, "ws1$@corp.test") == 0 &&
				     g3->type == GEN_EMAIL && strcmp((char *)g3->d.rfc822Name->data, "admin@corp.test") == 0;
			}
			tap_ok(ok, "WebServer: SAN has dNSName x2, UPN otherName (UTF8String), rfc822Name");
			tap_ok(e != NULL && !X509_EXTENSION_get_critical(e), "WebServer: SAN not critical with a subject");
			tap_ok(find_ext(req, "1.3.6.1.4.1.311.20.2") != NULL, "WebServer: v1 template name");
			GENERAL_NAMES_free(gns);
			check_with_openssl_req(ctx, req, "WebServer");
			X509_REQ_free(req);
			req = NULL;
		}

		/* Names only: empty subject, so the SAN is critical. */
		p.subject = NULL;
		p.san_upn = NULL;
		p.san_email = NULL;
		if (ae_csr_build(ctx, &p, rsa, &req) == AE_OK) {
			X509_EXTENSION *e = find_ext(req, "2.5.29.17");
			tap_ok(X509_NAME_entry_count(X509_REQ_get_subject_name(req)) == 0 && e != NULL &&
			       X509_EXTENSION_get_critical(e), "WebServer, names only: empty subject, critical SAN");
			X509_REQ_free(req);
			req = NULL;
		} else {
			tap_ok(0, "WebServer, names only: %s", ae_get_message(ctx));
		}

		/* Subject and names are ignored where AD builds them. */
		init_params(&p, ws);
		p.subject = "CN=evil";
		p.san_dns = dns;
		if (ae_csr_build(ctx, &p, rsa, &req) == AE_OK) {
			check_empty_name(req, "Workstation given a subject and names");
			X509_REQ_free(req);
			req = NULL;
		} else {
			tap_ok(0, "Workstation given a subject: %s", ae_get_message(ctx));
		}

		/* Bad subjects. */
		init_params(&p, web);
		{
			static const struct {
				const char *subject;
				ae_err code;
				const char *part;
			} bad[] = {
				{ "CN", AE_ERR_INVALID, "is not TYPE=value" },
				{ "CN=a,", AE_ERR_INVALID, "is not TYPE=value" },
				{ "CN=", AE_ERR_INVALID, "empty value" },
				{ "XX=a", AE_ERR_INVALID, "unknown attribute type \"XX\"" },
				{ "CN=a\\q", AE_ERR_INVALID, "bad escape" },
				{ "CN=a\\", AE_ERR_INVALID, "bad escape" },
				{ "CN=a+O=b", AE_ERR_UNSUPPORTED, "multi-valued" },
				{ "CN=a;O=b", AE_ERR_INVALID, "unescaped ';'" },
				{ "C=Germany", AE_ERR_INVALID, "cannot use C=Germany" },
				{ "", AE_ERR_INVALID, "subject is empty" },
			};
			for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
				char what[80];
				snprintf(what, sizeof(what), "bad subject \"%s\"", bad[i].subject);
				p.subject = bad[i].subject;
				expect_error(ctx, &p, rsa, bad[i].code, bad[i].part, what);
			}
		}
		p.subject = NULL;
		expect_error(ctx, &p, rsa, AE_ERR_INVALID, "ENROLLEE_SUPPLIES_SUBJECT",
		             "WebServer without subject or names");
		p.subject = "CN=ws1.corp.test";
		{
			char *bad_dns[] = { "h\xc3\xb6st.corp.test", NULL };
			p.san_dns = bad_dns;
			expect_error(ctx, &p, rsa, AE_ERR_INVALID, "DNS name", "non-ASCII DNS name");
		}
		/* Escapes and hex pairs. */
		p.san_dns = NULL;
		p.subject = "CN=a\\2Bb\\=c, OU=x\\\\y";
		if (ae_csr_build(ctx, &p, rsa, &req) == AE_OK) {
			BIO *b = BIO_new(BIO_s_mem());
			X509_NAME_print_ex(b, X509_REQ_get_subject_name(req), 0, XN_FLAG_RFC2253);
			buf[0] = '\0';
			BIO_gets(b, buf, sizeof(buf));
			BIO_free(b);
			tap_is_str(buf, "CN=a\\+b=c,OU=x\\\\y", "escaped subject (OpenSSL does not escape =)");
			X509_REQ_free(req);
			req = NULL;
		} else {
			tap_ok(0, "escaped subject: %s", ae_get_message(ctx));
		}
	}

	/* Schema 2 without an OID. */
	{
		char *saved = kerb->oid;
		init_params(&p, kerb);
		kerb->oid = NULL;
		expect_error(ctx, &p, rsa, AE_ERR_INVALID, "no msPKI-Cert-Template-OID", "schema 2 without OID");
		kerb->oid = "not.an.oid";
		expect_error(ctx, &p, rsa, AE_ERR_INVALID, "invalid msPKI-Cert-Template-OID",
		             "schema 2 with a bad OID");
		kerb->oid = saved;
	}

	/* Renewals. */
	test_renewal(ctx, ws, false, "renewal (RSA old key)");
	test_renewal(ctx, user, true, "renewal (ECDSA old key)");
	test_cosigned(ctx, kerb, user, web);
	test_archival(ctx, kerb, user);
	test_archival_encoding(ctx, kerb);
	{
		EVP_PKEY *other = keygen(true);
		X509 *old = self_signed(ec, "old");
		uint8_t *der = (uint8_t *)1;
		size_t len = 1;
		init_params(&p, ws);
		tap_ok(ae_csr_build_renewal(ctx, &p, rsa, old, other, &der, &len) == AE_ERR_CRYPTO &&
		       der == NULL && len == 0 && strstr(ae_get_message(ctx), "does not belong") != NULL,
		       "renewal with the wrong old key: error, outputs NULL");
		char *saved = kerb->oid;
		kerb->oid = NULL;
		init_params(&p, kerb);
		der = (uint8_t *)1;
		tap_ok(ae_csr_build_renewal(ctx, &p, rsa, old, ec, &der, &len) == AE_ERR_INVALID && der == NULL,
		       "renewal for schema 2 without OID: error, outputs NULL");
		kerb->oid = saved;
		X509_free(old);
		EVP_PKEY_free(other);
	}

	/* describe on what is not a request. */
	{
		static const struct {
			const char *data;
			size_t len;
			const char *part;
		} bad[] = {
			{ "", 0, "0 bytes" },
			{ "-----BEGIN CERTIFICATE REQUEST-----", 35, "looks like PEM" },
			{ "\x30\x03\x02\x01\x01", 5, "neither a PKCS#10 request nor a CMS message" },
			{ "\x30\x80", 2, "neither" },
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char *text = (char *)1;
			ae_err e = ae_csr_describe(ctx, (const uint8_t *)bad[i].data, bad[i].len, &text);
			tap_ok(e == AE_ERR_INVALID && text == NULL && strstr(ae_get_message(ctx), bad[i].part) != NULL,
			       "describe rejects bad input %zu (%s)", i, bad[i].part);
		}
	}

	free_exts();
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	for (size_t i = 0; i < ntpl; i++)
		ae_template_free(tpls[i]);
	free(tpls);
	ldif_free(&lf);
	ae_ctx_free(ctx);
	return tap_done();
}
