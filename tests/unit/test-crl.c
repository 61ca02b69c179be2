/*
 * test-crl.c - revocation by CRL distribution point: ldap:// URLs as AD CS
 * writes them, whole checks against CRLs this test makes with OpenSSL
 * (revoked, empty, wrong signer, past nextUpdate, delta CRLs, ...) served
 * over loopback by a tiny HTTP server it forks (tests/unit/httpd.c) and
 * read from a stand-in directory (the ldap_read of ae_crl_fetch), the
 * order of the locations, and the timeout's message.
 */
#include "config.h"

#include "conf.h"
#include "crl.h"
#include "httpd.h"
#include "tap.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define LEAF_SERIAL 0x1234abcdL
#define NO_CDP "no CDP"

/* --- ldap:// locations --- */

#define AD_DN "CN=CORP-CA1,CN=CA1,CN=CDP,CN=Public Key Services,CN=Services,CN=Configuration,DC=corp,DC=test"
#define AD_DN_URL "CN=CORP-CA1,CN=CA1,CN=CDP,CN=Public%20Key%20Services,CN=Services,CN=Configuration,DC=corp,DC=test"
#define AD_CDP "ldap:///" AD_DN_URL "?certificateRevocationList?base?objectClass=cRLDistributionPoint"
#define AD_DELTA "ldap:///" AD_DN_URL "?deltaRevocationList?base?objectClass=cRLDistributionPoint"

static void
ldap_url_ok(ae_ctx *ctx, const char *url, const char *dn, const char *attr)
{
	char *d = NULL, *a = NULL;
	ae_err err = ae_crl_ldap_url(ctx, url, &d, &a);

	tap_ok(err == AE_OK && d != NULL && a != NULL && strcmp(d, dn) == 0 && strcmp(a, attr) == 0,
	       "ldap URL %.60s...: %s of \"%.40s...\"", url, attr, dn);
	if (err != AE_OK)
		tap_diag("  error: %s", ae_get_message(ctx));
	else if (strcmp(d, dn) != 0 || strcmp(a, attr) != 0)
		tap_diag("  got %s of \"%s\"", a, d);
	free(d);
	free(a);
}

static void
ldap_url_bad(ae_ctx *ctx, const char *url, const char *needle, const char *what)
{
	char *d = (char *)"x", *a = (char *)"x";
	ae_err err = ae_crl_ldap_url(ctx, url, &d, &a);

	tap_ok(err != AE_OK && d == NULL && a == NULL && strstr(ae_get_message(ctx), needle) != NULL,
	       "ldap URL refused: %s: %s", what, ae_get_message(ctx));
	if (err == AE_OK) {
		free(d);
		free(a);
	}
}

static void
test_ldap_urls(ae_ctx *ctx)
{
	char *long_url = malloc(3001);

	/* AD CS's own form: host-less, percent-encoded, base, filter. */
	ldap_url_ok(ctx, AD_CDP, AD_DN, "certificateRevocationList");
	ldap_url_ok(ctx, AD_DELTA, AD_DN, "deltaRevocationList");
	ldap_url_ok(ctx, "LDAP:///CN=x,DC=corp,DC=test?CERTIFICATEREVOCATIONLIST;binary", "CN=x,DC=corp,DC=test",
	            "certificateRevocationList");
	ldap_url_ok(ctx, "ldap://dc1.corp.test:389/CN=x,DC=corp?deltaRevocationList?BASE", "CN=x,DC=corp",
	            "deltaRevocationList");
	ldap_url_ok(ctx,
	            "ldap:///CN=CORP-CA1,CN=AIA,CN=Public%20Key%20Services?cACertificate?base?objectClass=certificationAuthority",
	            "CN=CORP-CA1,CN=AIA,CN=Public Key Services", "cACertificate");
	ldap_url_ok(ctx, "ldap:///CN=%c3%a9t%C3%A9,DC=x?certificateRevocationList?" "?(cn=*)?e-ext",
	            "CN=\xc3\xa9t\xc3\xa9,DC=x", "certificateRevocationList");
	ldap_url_ok(ctx, "ldap:///CN=a%3Fb,DC=x?certificateRevocationList", "CN=a?b,DC=x", "certificateRevocationList");

	ldap_url_bad(ctx, "ldap://", "names no object", "nothing after the scheme");
	ldap_url_bad(ctx, "ldap:///?certificateRevocationList", "names no object", "no DN");
	ldap_url_bad(ctx, "ldap://host?x/CN=a", "names no object", "'?' in the host");
	ldap_url_bad(ctx, "ldap:///CN=x,DC=y", "does not name one attribute", "no attribute");
	ldap_url_bad(ctx, "ldap:///CN=x,DC=y?cn", "does not name one attribute", "an attribute that holds no CRL");
	ldap_url_bad(ctx, "ldap:///CN=x?certificateRevocationList,deltaRevocationList", "does not name one attribute",
	             "two attributes");
	ldap_url_bad(ctx, "ldap:///CN=x?certificateRevocationList?sub", "sub search, not a base one", "subtree scope");
	ldap_url_bad(ctx, "ldap:///CN=x%2?certificateRevocationList", "malformed %-escape", "cut escape");
	ldap_url_bad(ctx, "ldap:///CN=x%zz?certificateRevocationList", "malformed %-escape", "non-hex escape");
	ldap_url_bad(ctx, "ldap:///CN=x%00,DC=y?certificateRevocationList", "control character", "%00 in the DN");
	ldap_url_bad(ctx, "ldap:///CN=x%0a?certificateRevocationList", "control character", "%0a in the DN");
	ldap_url_bad(ctx, "ldap:///CN=x?certificateRevocationList?base?" "?!bindname=cn=admin", "critical extension",
	             "critical extension");
	ldap_url_bad(ctx, "ldap:///CN=x?certificateRevocationList?base?(cn=*)?ext?more", "more than 5 parts",
	             "six parts");
	ldap_url_bad(ctx, "http://crl/CN=x?certificateRevocationList", "not an ldap:// URL", "http");
	ldap_url_bad(ctx, "ldap:///CN=\xc3\xa9?certificateRevocationList", "non-ASCII", "raw 8-bit byte");
	ldap_url_bad(ctx, "", "not an ldap:// URL", "empty");
	memcpy(long_url, "ldap:///CN=", 11);
	memset(long_url + 11, 'a', 3000 - 11);
	long_url[3000] = '\0';
	ldap_url_bad(ctx, long_url, "longer than 2048", "3000 characters");
	/* A DN over 1024 characters within a URL under 2048. */
	long_url[1500] = '\0';
	strcat(long_url, "?certificateRevocationList");
	ldap_url_bad(ctx, long_url, "DN longer than 1024", "a 1,489-character DN");
	free(long_url);
}

/* --- certificates and CRLs --- */

static X509 *
make_ca(const char *cn, EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	X509_sign(x, key, EVP_sha256());
	return x;
}

/* A CRL distribution points (or Freshest CRL) value: one point whose full
 * name holds the URIs of SPEC, "URI:a|URI:b" (OpenSSL's own syntax would
 * split AD CS's URLs at their commas); caller frees. */
static CRL_DIST_POINTS *
make_dps(const char *spec)
{
	CRL_DIST_POINTS *dps = sk_DIST_POINT_new_null();
	DIST_POINT *dp = DIST_POINT_new();
	char *copy = strdup(spec), *save = NULL;

	dp->distpoint = DIST_POINT_NAME_new();
	dp->distpoint->type = 0;
	dp->distpoint->name.fullname = sk_GENERAL_NAME_new_null();
	for (char *t = strtok_r(copy, "|", &save); t != NULL; t = strtok_r(NULL, "|", &save)) {
		GENERAL_NAME *gn = GENERAL_NAME_new();
		ASN1_IA5STRING *uri = ASN1_IA5STRING_new();
		const char *v = strncmp(t, "URI:", 4) == 0 ? t + 4 : t;
		ASN1_STRING_set(uri, v, (int)strlen(v));
		GENERAL_NAME_set0_value(gn, GEN_URI, uri);
		sk_GENERAL_NAME_push(dp->distpoint->name.fullname, gn);
	}
	sk_DIST_POINT_push(dps, dp);
	free(copy);
	return dps;
}

/* The Freshest CRL extension of the next leaves, or NULL. */
static const char *leaf_freshest;

/* A leaf of CA with serial LEAF_SERIAL and CDP (make_dps syntax) unless
 * NULL. */
static X509 *
make_leaf(X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *key, const char *cdp)
{
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), LEAF_SERIAL);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"ws1.corp.test",
	                           -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
	X509_set_pubkey(x, key);
	if (cdp != NULL) {
		CRL_DIST_POINTS *dps = make_dps(cdp);
		X509_add1_ext_i2d(x, NID_crl_distribution_points, dps, 0, 0);
		CRL_DIST_POINTS_free(dps);
	}
	if (leaf_freshest != NULL) {
		CRL_DIST_POINTS *dps = make_dps(leaf_freshest);
		X509_add1_ext_i2d(x, NID_freshest_crl, dps, 0, 0);
		CRL_DIST_POINTS_free(dps);
	}
	X509_sign(x, ca_key, EVP_sha256());
	return x;
}

typedef struct {
	const char *issuer_cn;  /* NULL: the CA's subject */
	long this_update;       /* seconds from now */
	long next_update;
	long serials[3];        /* revoked, 0-terminated */
	int reason;             /* CRLReason of each entry, -1 none */
	bool pem;
	long number;            /* CRL number, 0: none */
	long delta_base;        /* BaseCRLNumber: a delta CRL; 0: a full one */
	const char *freshest;   /* Freshest CRL (crlDistributionPoints syntax), or NULL */
} crl_spec;

/* The CRL of SPEC signed with KEY, as DER or PEM; caller frees. */
static uint8_t *
make_crl(X509 *ca, EVP_PKEY *key, time_t now, const crl_spec *spec, size_t *len)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *tu = ASN1_TIME_adj(NULL, now, 0, spec->this_update);
	ASN1_TIME *nu = ASN1_TIME_adj(NULL, now, 0, spec->next_update);
	uint8_t *out = NULL;

	X509_CRL_set_version(crl, 1);
	if (spec->issuer_cn != NULL) {
		X509_NAME *n = X509_NAME_new();
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)spec->issuer_cn, -1, -1, 0);
		X509_CRL_set_issuer_name(crl, n);
		X509_NAME_free(n);
	} else {
		X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
	}
	X509_CRL_set1_lastUpdate(crl, tu);
	X509_CRL_set1_nextUpdate(crl, nu);
	for (int i = 0; i < 3 && spec->serials[i] != 0; i++) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_INTEGER *s = ASN1_INTEGER_new();
		ASN1_TIME *when = ASN1_TIME_adj(NULL, now, -2, 0);

		ASN1_INTEGER_set(s, spec->serials[i]);
		X509_REVOKED_set_serialNumber(r, s);
		X509_REVOKED_set_revocationDate(r, when);
		if (spec->reason >= 0) {
			ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();
			ASN1_ENUMERATED_set(e, spec->reason);
			X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, e, 0, 0);
			ASN1_ENUMERATED_free(e);
		}
		X509_CRL_add0_revoked(crl, r);
		ASN1_INTEGER_free(s);
		ASN1_TIME_free(when);
	}
	if (spec->number != 0) {
		ASN1_INTEGER *n = ASN1_INTEGER_new();
		ASN1_INTEGER_set(n, spec->number);
		X509_CRL_add1_ext_i2d(crl, NID_crl_number, n, 0, 0);
		ASN1_INTEGER_free(n);
	}
	if (spec->delta_base != 0) {
		ASN1_INTEGER *base = ASN1_INTEGER_new();
		ASN1_INTEGER_set(base, spec->delta_base);
		X509_CRL_add1_ext_i2d(crl, NID_delta_crl, base, 1, 0);
		ASN1_INTEGER_free(base);
	}
	if (spec->freshest != NULL) {
		CRL_DIST_POINTS *dps = make_dps(spec->freshest);
		X509_CRL_add1_ext_i2d(crl, NID_freshest_crl, dps, 0, 0);
		CRL_DIST_POINTS_free(dps);
	}
	X509_CRL_sort(crl);
	X509_CRL_sign(crl, key, EVP_sha256());
	if (spec->pem) {
		BIO *bio = BIO_new(BIO_s_mem());
		char *data;
		long n;
		PEM_write_bio_X509_CRL(bio, crl);
		n = BIO_get_mem_data(bio, &data);
		out = malloc((size_t)n);
		memcpy(out, data, (size_t)n);
		*len = (size_t)n;
		BIO_free(bio);
	} else {
		unsigned char *p;
		int n = i2d_X509_CRL(crl, NULL);
		out = malloc((size_t)n);
		p = out;
		i2d_X509_CRL(crl, &p);
		*len = (size_t)n;
	}
	X509_CRL_free(crl);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	return out;
}

/* --- a stand-in directory for ldap:// locations --- */

typedef struct {
	const char *dn;
	const char *attr;
	const uint8_t *data;   /* the attribute's one value */
	size_t len;
} dir_object;

typedef struct {
	dir_object objects[2];
	int calls;
	bool down;             /* answers as a DC that does not answer */
} directory;

static ae_err
dir_read(ae_ctx *ctx, void *arg, const char *dn, const char *attr, ae_value **values, size_t *count)
{
	directory *d = arg;

	*values = NULL;
	*count = 0;
	d->calls++;
	if (d->down)
		return ae_set_message(ctx, AE_ERR_TIMEOUT,
		                      "LDAP search of %s: the LDAP server dc1.corp.test did not answer within 10 s (ldap_timeout in [global])",
		                      dn);
	for (size_t i = 0; i < 2; i++) {
		const dir_object *o = &d->objects[i];
		uint8_t *copy;

		if (o->dn == NULL || strcmp(o->dn, dn) != 0 || strcmp(o->attr, attr) != 0)
			continue;
		*values = calloc(1, sizeof(**values));
		copy = malloc(o->len + 1);
		memcpy(copy, o->data, o->len);
		(*values)[0].data = copy;
		(*values)[0].len = o->len;
		*count = 1;
		return AE_OK;
	}
	return ae_set_message(ctx, AE_ERR_NOTFOUND, "LDAP search of %s: no such object", dn);
}

typedef struct {
	ae_ctx *ctx;
	ae_conf *conf;
	X509 *ca;
	EVP_PKEY *ca_key;
	EVP_PKEY *leaf_key;
	time_t now;
	ae_crl_fetch *fetch;
} env;

#define BASE_PATH "/CertEnroll/corp-CA.crl"
#define HTTP_CDP "URI:http://127.0.0.1:PORT" BASE_PATH
#define LDAP_CDP "URI:" AD_CDP

/* CDP with every "PORT" replaced by PORT, into BUF. */
static void
with_port(const char *cdp, int port, char *buf, size_t size)
{
	size_t n = 0;

	while (*cdp != '\0' && n + 8 < size) {
		if (strncmp(cdp, "PORT", 4) == 0) {
			n += (size_t)snprintf(buf + n, size - n, "%d", port);
			cdp += 4;
		} else {
			buf[n++] = *cdp++;
		}
	}
	buf[n] = '\0';
}

/* Serves ROUTES in MODE, makes a leaf whose CDP is CDP_FMT (with PORT for
 * the server's port; NO_CDP for none), checks it; *REASON and *SECONDS
 * for the caller. */
static ae_revocation
served_check(env *e, const httpd_route *routes, size_t nroutes, serve_mode mode, const char *cdp_fmt, char **reason,
             double *seconds)
{
	ae_revocation r = (ae_revocation)-1;
	char cdp[512];
	int port = 0;
	pid_t pid = httpd_start(routes, nroutes, mode, &port);
	X509 *leaf;
	double t0;
	ae_err err;

	*reason = NULL;
	with_port(cdp_fmt, port, cdp, sizeof(cdp));
	leaf = make_leaf(e->ca, e->ca_key, e->leaf_key, strcmp(cdp_fmt, NO_CDP) == 0 ? NULL : cdp);
	t0 = ae_monotonic_seconds();
	err = ae_crl_check(e->ctx, e->conf, e->fetch, leaf, e->ca, e->now, &r, reason);
	if (seconds != NULL)
		*seconds = ae_monotonic_seconds() - t0;
	if (err != AE_OK)
		tap_diag("ae_crl_check failed: %s", ae_get_message(e->ctx));
	httpd_stop(pid);
	X509_free(leaf);
	return r;
}

static void
report(ae_revocation r, ae_revocation want, const char *reason, const char *needle, const char *what)
{
	tap_ok(r == want && (needle == NULL ? reason == NULL : reason != NULL && strstr(reason, needle) != NULL),
	       "%s: %s", what, reason != NULL ? reason : "no reason");
	if (r != want)
		tap_diag("  got %d, want %d", (int)r, (int)want);
}

/* Checks against a CRL made from SPEC (signed with KEY) at the http CDP,
 * expecting WANT and a reason holding NEEDLE (NULL: no reason). */
static void
expect_crl(env *e, EVP_PKEY *key, const crl_spec *spec, ae_revocation want, const char *needle, const char *what)
{
	size_t len = 0, alen = 0;
	uint8_t *der = make_crl(e->ca, key, e->now, spec, &len);
	char *answer = httpd_ok(der, len, &alen), *reason;
	httpd_route route = { BASE_PATH, answer, alen };
	ae_revocation r = served_check(e, &route, 1, SERVE_CLOSE, HTTP_CDP, &reason, NULL);

	report(r, want, reason, needle, what);
	free(reason);
	free(answer);
	free(der);
}

/* Serves ROUTE as is, expecting UNKNOWN with NEEDLE in the reason. */
static void
expect_unknown(env *e, const httpd_route *routes, size_t n, serve_mode mode, const char *cdp_fmt, const char *needle,
               const char *what)
{
	char *reason;
	ae_revocation r = served_check(e, routes, n, mode, cdp_fmt, &reason, NULL);

	report(r, AE_REVOCATION_UNKNOWN, reason, needle, what);
	free(reason);
}

static crl_spec
spec_of(long serial, int reason)
{
	crl_spec s;

	memset(&s, 0, sizeof(s));
	s.this_update = -3600;
	s.next_update = 7 * 86400;
	s.serials[0] = 7;
	s.serials[1] = serial;
	s.reason = reason;
	return s;
}

static void
test_end_to_end(ae_ctx *ctx)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *other_key = EVP_EC_gen("P-256");
	env e = { ctx, NULL, NULL, ca_key, EVP_EC_gen("P-256"), time(NULL), NULL };
	static const char half[] = "HTTP/1.0 200 OK\r\nContent-Le";
	static const char junk[] = "HTTP/1.0 200 OK\r\n\r\nthis is no CRL";
	httpd_route route, stall = { NULL, half, sizeof(half) - 1 }, nocrl = { NULL, junk, sizeof(junk) - 1 };
	crl_spec spec;
	char *reason = NULL, url[128], *answer;
	ae_revocation r;
	double secs = 0;
	size_t len, alen;
	uint8_t *der;
	X509 *leaf;
	ae_err err;

	e.ca = make_ca("corp-CA", ca_key);
	if (ae_conf_defaults(ctx, &e.conf) != AE_OK)
		return;
	e.conf->crl_timeout = 5;

	/* The CRL lists us (keyCompromise), among others. */
	spec = spec_of(LEAF_SERIAL, 1);
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_REVOKED, "(reason: keyCompromise) according to http://127.0.0.1:",
	           "listed with a reason: revoked");
	spec.reason = -1;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_REVOKED, " according to http://127.0.0.1:",
	           "listed without a reason: revoked");
	/* ... and the date is there. */
	{
		char day[16], want[64];
		time_t then = e.now - 2 * 86400;
		struct tm tm;
		gmtime_r(&then, &tm);
		strftime(day, sizeof(day), "%Y-%m-%d", &tm);
		snprintf(want, sizeof(want), "revoked on %s ", day);
		spec.reason = 6;
		expect_crl(&e, ca_key, &spec, AE_REVOCATION_REVOKED, want, "revocation date in the reason");
	}

	/* Not listed. */
	spec = spec_of(0, -1);
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_GOOD, NULL, "empty CRL: good, no reason");
	spec = spec_of(LEAF_SERIAL + 1, -1);
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_GOOD, NULL, "CRL listing others: good");
	spec.pem = true;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_GOOD, NULL, "PEM CRL: good");
	spec.pem = false;
	spec.this_update = 100;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_GOOD, NULL, "thisUpdate 100 s ahead (clock skew): good");

	/* CRLs not to believe. */
	spec = spec_of(LEAF_SERIAL, -1);
	expect_crl(&e, other_key, &spec, AE_REVOCATION_UNKNOWN, "not signed by the key of the certificate's issuer",
	           "signed by another key: unknown, even though it lists us");
	spec.issuer_cn = "other-CA";
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_UNKNOWN, "is issued by \"CN=other-CA\"", "another issuer's name: unknown");
	spec.issuer_cn = NULL;
	spec.this_update = -8 * 86400;
	spec.next_update = -86400;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_UNKNOWN, "is past its nextUpdate (",
	           "past nextUpdate: unknown (not good), and the reason names nextUpdate");
	spec = spec_of(0, -1);
	spec.this_update = -8 * 86400;
	spec.next_update = -1;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_UNKNOWN, "past its nextUpdate",
	           "an empty CRL a second past nextUpdate: unknown, not good");
	spec = spec_of(LEAF_SERIAL, -1);
	spec.this_update = 3600;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_UNKNOWN, "not valid yet", "thisUpdate an hour ahead: unknown");
	spec = spec_of(LEAF_SERIAL, -1);
	spec.delta_base = 1;
	spec.number = 2;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_UNKNOWN, "a delta CRL, not a full one",
	           "a delta CRL where the full one should be: unknown");

	/* The same good CRL, judged at another time: NOW is what counts. */
	spec = spec_of(LEAF_SERIAL, -1);
	der = make_crl(e.ca, ca_key, e.now, &spec, &len);
	answer = httpd_ok(der, len, &alen);
	route = (httpd_route){ BASE_PATH, answer, alen };
	e.now += 8 * 86400;
	expect_unknown(&e, &route, 1, SERVE_CLOSE, HTTP_CDP, "past its nextUpdate", "a week later the CRL is stale");
	e.now -= 8 * 86400;

	/* A server that keeps the connection open: Content-Length ends the
	 * read, not the timeout. */
	r = served_check(&e, &route, 1, SERVE_KEEP, HTTP_CDP, &reason, &secs);
	tap_ok(r == AE_REVOCATION_REVOKED && secs < 2.5, "connection kept open: Content-Length is enough (%.2f s)", secs);
	free(reason);

	/* Where the CDP points, without a directory. */
	r = served_check(&e, &route, 1, SERVE_CLOSE, LDAP_CDP "|" HTTP_CDP, &reason, NULL);
	report(r, AE_REVOCATION_REVOKED, reason, "according to http://", "ldap:// first without a directory: the http one is used");
	free(reason);
	expect_unknown(&e, &route, 1, SERVE_CLOSE, LDAP_CDP, "no LDAP session to read it", "only ldap:// and no directory: unknown");
	expect_unknown(&e, &route, 1, SERVE_CLOSE, "URI:https://127.0.0.1:PORT" BASE_PATH, "TLS",
	               "https:// is tried (here against a plain HTTP server: unknown)");
	expect_unknown(&e, &route, 1, SERVE_CLOSE, "URI:file:///etc/crl.der", "names no ldap://, http:// or https:// CRL",
	               "only file://: unknown");
	r = served_check(&e, &route, 1, SERVE_CLOSE, NO_CDP, &reason, NULL);
	report(r, AE_REVOCATION_UNKNOWN, reason, "names no ldap://, http:// or https:// CRL distribution point",
	       "no CDP: unknown");
	free(reason);
	expect_unknown(&e, &route, 1, SERVE_CLOSE, "URI:http://user@127.0.0.1:PORT/x.crl", "user name",
	               "a CDP with userinfo: unknown");
	free(answer);
	free(der);

	/* What the server answers. */
	expect_unknown(&e, NULL, 0, SERVE_CLOSE, HTTP_CDP, "answered HTTP 404", "404: unknown");
	expect_unknown(&e, &nocrl, 1, SERVE_CLOSE, HTTP_CDP, "not a CRL", "a body that is no CRL: unknown");

	/* A server that accepts and never answers: bounded by crl_timeout,
	 * which the reason names. */
	e.conf->crl_timeout = 1;
	r = served_check(&e, NULL, 0, SERVE_HANG, HTTP_CDP, &reason, &secs);
	tap_ok(r == AE_REVOCATION_UNKNOWN && secs >= 0.9 && secs < 3.0,
	       "silent server, crl_timeout = 1: unknown after %.2f s", secs);
	tap_ok(reason != NULL && strstr(reason, "crl_timeout in [global]") != NULL &&
	       strstr(reason, "http://127.0.0.1:") != NULL && strstr(reason, "within 1 s") != NULL,
	       "the reason names the URL and the setting: %s", reason ? reason : "no reason");
	free(reason);
	r = served_check(&e, &stall, 1, SERVE_KEEP, HTTP_CDP, &reason, &secs);
	tap_ok(r == AE_REVOCATION_UNKNOWN && secs >= 0.9 && secs < 3.0 && reason != NULL &&
	       strstr(reason, "crl_timeout") != NULL && strstr(reason, "did not complete") != NULL,
	       "server stalling mid-head: unknown after %.2f s: %s", secs, reason ? reason : "no reason");
	free(reason);
	e.conf->crl_timeout = 5;

	/* Nobody listening. */
	snprintf(url, sizeof(url), "URI:http://127.0.0.1:%d/x.crl", httpd_refused_port());
	leaf = make_leaf(e.ca, ca_key, e.leaf_key, url);
	secs = ae_monotonic_seconds();
	err = ae_crl_check(ctx, e.conf, NULL, leaf, e.ca, e.now, &r, &reason);
	secs = ae_monotonic_seconds() - secs;
	tap_ok(err == AE_OK && r == AE_REVOCATION_UNKNOWN && reason != NULL && strstr(reason, "cannot connect") != NULL &&
	       strstr(reason, url + 4) != NULL && secs < 2.0,
	       "connection refused: unknown at once: %s", reason ? reason : "no reason");
	free(reason);
	/* REASON_OUT may be NULL. */
	r = AE_REVOCATION_GOOD;
	err = ae_crl_check(ctx, e.conf, NULL, leaf, e.ca, e.now, &r, NULL);
	tap_ok(err == AE_OK && r == AE_REVOCATION_UNKNOWN, "no reason asked for: still unknown");
	X509_free(leaf);

	ae_conf_free(e.conf);
	X509_free(e.ca);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(e.leaf_key);
}

/* ldap:// locations through the stand-in directory, and their order. */
static void
test_ldap(ae_ctx *ctx)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256");
	directory dir;
	ae_crl_fetch fetch = { dir_read, &dir };
	env e = { ctx, NULL, NULL, ca_key, EVP_EC_gen("P-256"), time(NULL), &fetch };
	crl_spec spec;
	uint8_t *good, *revoked, *stale;
	size_t good_len, revoked_len, stale_len, alen;
	char *answer, *reason;
	httpd_route route;
	ae_revocation r;

	e.ca = make_ca("corp-CA", ca_key);
	if (ae_conf_defaults(ctx, &e.conf) != AE_OK)
		return;
	e.conf->crl_timeout = 5;
	spec = spec_of(0, -1);
	good = make_crl(e.ca, ca_key, e.now, &spec, &good_len);
	spec = spec_of(LEAF_SERIAL, 1);
	revoked = make_crl(e.ca, ca_key, e.now, &spec, &revoked_len);
	spec = spec_of(0, -1);
	spec.this_update = -8 * 86400;
	spec.next_update = -60;
	stale = make_crl(e.ca, ca_key, e.now, &spec, &stale_len);
	answer = httpd_ok(revoked, revoked_len, &alen);
	route = (httpd_route){ BASE_PATH, answer, alen };

	memset(&dir, 0, sizeof(dir));
	dir.objects[0] = (dir_object){ AD_DN, "certificateRevocationList", revoked, revoked_len };
	r = served_check(&e, NULL, 0, SERVE_CLOSE, LDAP_CDP, &reason, NULL);
	report(r, AE_REVOCATION_REVOKED, reason, "according to ldap:///CN=CORP-CA1,CN=CA1,CN=CDP,CN=Public%20Key",
	       "AD CS's ldap:/// CDP read through the directory: revoked");
	tap_ok(dir.calls == 1, "one LDAP read");
	free(reason);

	/* ldap first: it answers, http is not asked (its CRL would say
	 * revoked). */
	dir.calls = 0;
	dir.objects[0].data = good;
	dir.objects[0].len = good_len;
	r = served_check(&e, &route, 1, SERVE_CLOSE, LDAP_CDP "|" HTTP_CDP, &reason, NULL);
	report(r, AE_REVOCATION_GOOD, reason, NULL, "ldap:// then http://: the first usable CRL (ldap) wins");
	free(reason);
	/* The directory does not answer: the http one is used. */
	dir.down = true;
	r = served_check(&e, &route, 1, SERVE_CLOSE, LDAP_CDP "|" HTTP_CDP, &reason, NULL);
	report(r, AE_REVOCATION_REVOKED, reason, "according to http://", "the directory down: the next location (http) is used");
	free(reason);
	/* ... and if that fails too, the reason holds both problems. */
	r = served_check(&e, NULL, 0, SERVE_CLOSE, LDAP_CDP "|" HTTP_CDP, &reason, NULL);
	tap_ok(r == AE_REVOCATION_UNKNOWN && reason != NULL && strstr(reason, "ldap_timeout") != NULL &&
	       strstr(reason, "; ") != NULL && strstr(reason, "answered HTTP 404") != NULL,
	       "every location failed: unknown, with each one's problem: %s", reason ? reason : "no reason");
	free(reason);
	dir.down = false;
	/* A stale CRL in AD, a fresh one over http: the fresh one counts. */
	dir.objects[0].data = stale;
	dir.objects[0].len = stale_len;
	r = served_check(&e, &route, 1, SERVE_CLOSE, LDAP_CDP "|" HTTP_CDP, &reason, NULL);
	report(r, AE_REVOCATION_REVOKED, reason, "according to http://", "a CRL past nextUpdate in AD is passed over");
	free(reason);
	r = served_check(&e, NULL, 0, SERVE_CLOSE, LDAP_CDP, &reason, NULL);
	report(r, AE_REVOCATION_UNKNOWN, reason, "past its nextUpdate", "only a stale CRL in AD: unknown");
	free(reason);
	/* The attribute as AD CS leaves it before the first CRL. */
	dir.objects[0].data = (const uint8_t *)"";
	dir.objects[0].len = 1;
	r = served_check(&e, NULL, 0, SERVE_CLOSE, LDAP_CDP, &reason, NULL);
	report(r, AE_REVOCATION_UNKNOWN, reason, "holds no CRL", "a one-byte placeholder: unknown");
	free(reason);
	dir.objects[0].dn = "CN=elsewhere";
	r = served_check(&e, NULL, 0, SERVE_CLOSE, LDAP_CDP, &reason, NULL);
	report(r, AE_REVOCATION_UNKNOWN, reason, "no such object", "no such object in AD: unknown");
	free(reason);
	r = served_check(&e, NULL, 0, SERVE_CLOSE, "URI:ldap:///CN=x?cn?base", &reason, NULL);
	report(r, AE_REVOCATION_UNKNOWN, reason, "does not name one attribute", "a malformed ldap:// location: unknown");
	free(reason);

	free(answer);
	free(good);
	free(revoked);
	free(stale);
	ae_conf_free(e.conf);
	X509_free(e.ca);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(e.leaf_key);
}

static void
test_delta(ae_ctx *ctx)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *other_key = EVP_EC_gen("P-256");
	directory dir;
	ae_crl_fetch fetch = { dir_read, &dir };
	env e = { ctx, NULL, NULL, ca_key, EVP_EC_gen("P-256"), time(NULL), NULL };
	crl_spec base, delta;
	const char *freshest = "URI:" AD_DELTA;
	uint8_t *bder, *dder;
	size_t blen, dlen;
	char *reason;
	ae_revocation r;

	e.ca = make_ca("corp-CA", ca_key);
	if (ae_conf_defaults(ctx, &e.conf) != AE_OK)
		return;
	e.conf->crl_timeout = 5;
	/* The base names its delta (Freshest CRL). */
	base = spec_of(0, -1);
	base.number = 5;
	base.freshest = freshest;
	delta = spec_of(LEAF_SERIAL, 1);
	delta.number = 6;
	delta.delta_base = 5;
	delta.next_update = 86400;

	/* The delta is in the stand-in directory (deltaRevocationList, as AD
	 * CS publishes it), the base over http or in the directory. */
	memset(&dir, 0, sizeof(dir));
	e.fetch = &fetch;
	dder = make_crl(e.ca, ca_key, e.now, &delta, &dlen);
	dir.objects[0] = (dir_object){ AD_DN, "deltaRevocationList", dder, dlen };
	expect_crl(&e, ca_key, &base, AE_REVOCATION_REVOKED, "according to the delta CRL at ldap:///",
	             "revoked after the base: in the delta only, revoked");
	free(dder);

	/* On hold in the base, removeFromCRL in the delta: good again. */
	base.serials[1] = LEAF_SERIAL;
	base.reason = 6;
	delta.reason = 8;
	dder = make_crl(e.ca, ca_key, e.now, &delta, &dlen);
	dir.objects[0].data = dder;
	dir.objects[0].len = dlen;
	expect_crl(&e, ca_key, &base, AE_REVOCATION_GOOD, NULL, "on hold in the base, removeFromCRL in the delta: good");
	free(dder);
	/* On hold, the delta silent about it: still revoked (hold). */
	delta.serials[1] = 0;
	dder = make_crl(e.ca, ca_key, e.now, &delta, &dlen);
	dir.objects[0].data = dder;
	dir.objects[0].len = dlen;
	expect_crl(&e, ca_key, &base, AE_REVOCATION_REVOKED, "(reason: certificateHold) according to http://",
	             "on hold, nothing in the delta: revoked");
	free(dder);

	/* A delta past its nextUpdate: unknown, even though the base is
	 * good. */
	base = spec_of(0, -1);
	base.number = 5;
	base.freshest = freshest;
	delta = spec_of(0, -1);
	delta.number = 6;
	delta.delta_base = 5;
	delta.this_update = -2 * 86400;
	delta.next_update = -3600;
	dder = make_crl(e.ca, ca_key, e.now, &delta, &dlen);
	dir.objects[0].data = dder;
	dir.objects[0].len = dlen;
	expect_crl(&e, ca_key, &base, AE_REVOCATION_UNKNOWN, "delta CRL at ldap:///",
	             "a delta past its nextUpdate: unknown");
	expect_crl(&e, ca_key, &base, AE_REVOCATION_UNKNOWN, "names a delta CRL that cannot be used: the delta CRL at",
	             "... and the reason says the base's delta cannot be used");
	expect_crl(&e, ca_key, &base, AE_REVOCATION_UNKNOWN, "is past its nextUpdate", "... because of its nextUpdate");
	free(dder);

	/* Deltas that do not fit the base. */
	delta = spec_of(LEAF_SERIAL, 1);
	delta.number = 8;
	delta.delta_base = 7;
	dder = make_crl(e.ca, ca_key, e.now, &delta, &dlen);
	dir.objects[0].data = dder;
	dir.objects[0].len = dlen;
	expect_crl(&e, ca_key, &base, AE_REVOCATION_UNKNOWN, "is for base CRL 7, newer than the base CRL we have (5)",
	             "a delta for a newer base: unknown");
	free(dder);
	delta.number = 4;
	delta.delta_base = 3;
	dder = make_crl(e.ca, ca_key, e.now, &delta, &dlen);
	dir.objects[0].data = dder;
	dir.objects[0].len = dlen;
	expect_crl(&e, ca_key, &base, AE_REVOCATION_UNKNOWN, "older than its base CRL", "a delta older than the base: unknown");
	free(dder);
	delta.number = 6;
	delta.delta_base = 5;
	dder = make_crl(e.ca, other_key, e.now, &delta, &dlen);
	dir.objects[0].data = dder;
	dir.objects[0].len = dlen;
	expect_crl(&e, ca_key, &base, AE_REVOCATION_UNKNOWN, "delta CRL at ldap:///",
	             "a delta signed by another key: unknown");
	free(dder);
	delta.delta_base = 0;
	dder = make_crl(e.ca, ca_key, e.now, &delta, &dlen);
	dir.objects[0].data = dder;
	dir.objects[0].len = dlen;
	expect_crl(&e, ca_key, &base, AE_REVOCATION_UNKNOWN, "has no delta CRL indicator",
	             "a full CRL where the delta should be: unknown");
	free(dder);
	/* The delta out of reach: a revocation for good in the base stands,
	 * anything else is unknown. */
	dir.down = true;
	expect_crl(&e, ca_key, &base, AE_REVOCATION_UNKNOWN, "ldap_timeout", "the delta out of reach: unknown");
	base.serials[1] = LEAF_SERIAL;
	base.reason = 1;
	expect_crl(&e, ca_key, &base, AE_REVOCATION_REVOKED, "(reason: keyCompromise)",
	             "the delta out of reach, keyCompromise in the base: revoked");
	dir.down = false;

	/* Both over LDAP, the base's Freshest CRL pointing at deltaRevocationList,
	 * as AD CS publishes them. */
	base = spec_of(0, -1);
	base.number = 5;
	base.freshest = freshest;
	delta = spec_of(LEAF_SERIAL, 4);
	delta.number = 6;
	delta.delta_base = 5;
	bder = make_crl(e.ca, ca_key, e.now, &base, &blen);
	dder = make_crl(e.ca, ca_key, e.now, &delta, &dlen);
	dir.objects[0] = (dir_object){ AD_DN, "certificateRevocationList", bder, blen };
	dir.objects[1] = (dir_object){ AD_DN, "deltaRevocationList", dder, dlen };
	dir.calls = 0;
	r = served_check(&e, NULL, 0, SERVE_CLOSE, LDAP_CDP, &reason, NULL);
	report(r, AE_REVOCATION_REVOKED, reason, "(reason: superseded) according to the delta CRL at ldap:///",
	       "base and delta both in AD: revoked by the delta");
	tap_ok(dir.calls == 2, "two LDAP reads (certificateRevocationList, deltaRevocationList)");
	free(reason);
	free(bder);
	/* The Freshest CRL in the certificate, none in the base. */
	base.freshest = NULL;
	bder = make_crl(e.ca, ca_key, e.now, &base, &blen);
	dir.objects[0].data = bder;
	dir.objects[0].len = blen;
	leaf_freshest = "URI:" AD_DELTA;
	r = served_check(&e, NULL, 0, SERVE_CLOSE, LDAP_CDP, &reason, NULL);
	report(r, AE_REVOCATION_REVOKED, reason, "according to the delta CRL", "Freshest CRL in the certificate: the delta is applied");
	free(reason);
	leaf_freshest = NULL;
	r = served_check(&e, NULL, 0, SERVE_CLOSE, LDAP_CDP, &reason, NULL);
	report(r, AE_REVOCATION_GOOD, reason, NULL, "no Freshest CRL anywhere: the base alone (good)");
	free(reason);
	free(bder);
	free(dder);

	ae_conf_free(e.conf);
	X509_free(e.ca);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(e.leaf_key);
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();
	int fds = count_open_fds();

	unsetenv("http_proxy");
	unsetenv("no_proxy");
	test_ldap_urls(ctx);
	test_end_to_end(ctx);
	test_ldap(ctx);
	test_delta(ctx);
	tap_is_int(count_open_fds(), fds, "no file descriptor left open");
	ae_ctx_free(ctx);
	return tap_done();
}
