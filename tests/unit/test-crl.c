/*
 * test-crl.c - revocation by CRL distribution point: URL splitting, the
 * HTTP answer parser, and whole checks over loopback against a tiny HTTP
 * server that this test forks, serving CRLs it makes with OpenSSL (revoked,
 * empty, wrong signer, expired, ...), a server that never answers, and a
 * port where nobody listens.
 */
#include "config.h"

#include "conf.h"
#include "crl.h"
#include "tap.h"
#include "util.h"

#include <arpa/inet.h>
#include <dirent.h>
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

/* --- URLs --- */

static void
split_ok(ae_ctx *ctx, const char *url, const char *host, const char *port, const char *path)
{
	char *h = NULL, *po = NULL, *pa = NULL;
	ae_err err = ae_http_split_url(ctx, url, &h, &po, &pa);

	tap_ok(err == AE_OK && h && po && pa && strcmp(h, host) == 0 && strcmp(po, port) == 0 &&
	       strcmp(pa, path) == 0, "split %s: host \"%s\" port %s path \"%s\"", url, host, port, path);
	if (err != AE_OK)
		tap_diag("  error: %s", ae_get_message(ctx));
	else if (strcmp(h, host) != 0 || strcmp(po, port) != 0 || strcmp(pa, path) != 0)
		tap_diag("  got host \"%s\" port %s path \"%s\"", h, po, pa);
	free(h);
	free(po);
	free(pa);
}

static void
split_bad(ae_ctx *ctx, const char *url, const char *needle, const char *what)
{
	char *h = (char *)"x", *po = (char *)"x", *pa = (char *)"x";
	ae_err err = ae_http_split_url(ctx, url, &h, &po, &pa);
	const char *msg = ae_get_message(ctx);

	tap_ok(err == AE_ERR_INVALID && h == NULL && po == NULL && pa == NULL && strstr(msg, needle) != NULL,
	       "split refuses %s: %s", what, msg);
	if (err == AE_OK) {
		free(h);
		free(po);
		free(pa);
	}
}

static void
test_urls(ae_ctx *ctx)
{
	char *long_url = malloc(3001);
	const char *msg;
	char *h = NULL, *po = NULL, *pa = NULL;

	split_ok(ctx, "http://crl.corp.test/CertEnroll/corp-CA.crl", "crl.corp.test", "80", "/CertEnroll/corp-CA.crl");
	split_ok(ctx, "HTTP://PKI.Corp.Test:8080", "PKI.Corp.Test", "8080", "/");
	split_ok(ctx, "http://10.0.0.5:65535/a%20b.crl", "10.0.0.5", "65535", "/a%20b.crl");
	split_ok(ctx, "http://[2001:db8::1]:81/x.crl?y=1#frag", "2001:db8::1", "81", "/x.crl?y=1");
	split_ok(ctx, "http://[::1]/", "::1", "80", "/");
	split_ok(ctx, "http://host?q", "host", "80", "/?q");
	split_ok(ctx, "http://host:/p", "host", "80", "/p");
	split_ok(ctx, "http://host:0080/p", "host", "80", "/p");
	split_ok(ctx, "http://crl.corp.test/a@b", "crl.corp.test", "80", "/a@b"); /* '@' in the path: no userinfo */

	split_bad(ctx, "https://crl.corp.test/x.crl", "https://crl.corp.test/x.crl", "https");
	split_bad(ctx, "ldap:///CN=corp-CA,CN=CDP", "not an http:// URL", "ldap");
	split_bad(ctx, "http://user:pw@crl.corp.test/x.crl", "user name", "userinfo");
	split_bad(ctx, "http://host:0/x", "outside 1-65535", "port 0");
	split_bad(ctx, "http://host:65536/x", "outside 1-65535", "port 65536");
	split_bad(ctx, "http://host:123456/x", "malformed port", "six-digit port");
	split_bad(ctx, "http://host:8a/x", "malformed port", "port with a letter");
	split_bad(ctx, "http://ho st/x", "space", "a space");
	split_bad(ctx, "http://host/x\r\nX-Evil: 1", "control character", "CRLF injection");
	split_bad(ctx, "http://host/\xc3\xa9", "non-ASCII", "8-bit byte");
	split_bad(ctx, "http:///x.crl", "names no host", "no host");
	split_bad(ctx, "http://", "names no host", "nothing after the scheme");
	split_bad(ctx, "http://[::1/x", "unclosed", "unclosed bracket");
	split_bad(ctx, "http://[zz::1]/x", "IPv6", "bad IPv6 literal");
	split_bad(ctx, "http://[::1]x/", "after its host", "junk after the bracket");
	split_bad(ctx, "http://ho%73t/", "host name", "percent in the host");
	split_bad(ctx, "", "not an http:// URL", "empty string");

	/* The message names the URL, cut short. */
	memcpy(long_url, "http://h/", 9);
	memset(long_url + 9, 'a', 3000 - 9);
	long_url[3000] = '\0';
	tap_ok(ae_http_split_url(ctx, long_url, &h, &po, &pa) == AE_ERR_INVALID && h == NULL, "3000-character URL refused");
	msg = ae_get_message(ctx);
	tap_ok(strstr(msg, "longer than 2048") != NULL && strstr(msg, "http://h/aaa") != NULL &&
	       strstr(msg, "...") != NULL && strlen(msg) < 400,
	       "its message names it, cut (%zu characters)", strlen(msg));
	long_url[2048] = '\0';
	tap_ok(ae_http_split_url(ctx, long_url, &h, &po, &pa) == AE_OK && pa != NULL && strlen(pa) == 2048 - 8,
	       "a URL of exactly 2048 characters is accepted");
	free(h);
	free(po);
	free(pa);
	free(long_url);
}

/* --- HTTP answers --- */

static ae_err
parse(ae_ctx *ctx, const char *s, size_t len, const uint8_t **body, size_t *body_len)
{
	*body = (const uint8_t *)"junk";
	*body_len = 99;
	return ae_http_parse_response(ctx, (const uint8_t *)s, len, body, body_len);
}

static void
parse_ok(ae_ctx *ctx, const char *s, const char *want, const char *what)
{
	const uint8_t *body;
	size_t n;
	ae_err err = parse(ctx, s, strlen(s), &body, &n);

	tap_ok(err == AE_OK && n == strlen(want) && memcmp(body, want, n) == 0, "%s: body \"%s\"", what, want);
	if (err != AE_OK)
		tap_diag("  error: %s", ae_get_message(ctx));
}

static void
parse_bad(ae_ctx *ctx, const char *s, size_t len, ae_err want, const char *needle, const char *what)
{
	const uint8_t *body;
	size_t n;
	ae_err err = parse(ctx, s, len, &body, &n);

	tap_ok(err == want && body == NULL && n == 0 && strstr(ae_get_message(ctx), needle) != NULL,
	       "%s: refused (%s)", what, ae_get_message(ctx));
}

static void
test_http(ae_ctx *ctx)
{
	const uint8_t *body;
	size_t n;
	ae_buf big;
	const char *s;

	parse_ok(ctx, "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
	         "hello", "200 with Content-Length (what follows is ignored)");
	parse_ok(ctx, "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nthe rest is the body", "the rest is the body",
	         "200 without Content-Length");
	parse_ok(ctx, "HTTP/1.0 200 OK\n\nbare newlines", "bare newlines", "headers ended by \\n\\n");
	parse_ok(ctx, "HTTP/1.1 200\r\ncontent-length:   2 \r\n\r\nabc", "ab", "no reason phrase, lower-case header, spaces");
	parse_ok(ctx, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "", "empty body");
	parse_ok(ctx, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nxyz", "xyz",
	         "the same Content-Length twice");
	parse_ok(ctx, "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nplain", "plain", "identity transfer encoding");

	s = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
	parse_bad(ctx, s, strlen(s), AE_ERR_NOTFOUND, "the server answered HTTP 404 Not Found", "404");
	s = "HTTP/1.0 500 Internal Server Error\r\n\r\noops";
	parse_bad(ctx, s, strlen(s), AE_ERR_NETWORK, "the server answered HTTP 500", "500");
	s = "HTTP/1.1 302 \x1b[31mFound\r\nLocation: http://elsewhere/\r\n\r\n";
	parse_bad(ctx, s, strlen(s), AE_ERR_NETWORK, "HTTP 302 ?[31mFound", "302, escape sequence in the phrase defused");
	s = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort";
	parse_bad(ctx, s, strlen(s), AE_ERR_INVALID, "truncated", "body shorter than Content-Length");
	s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
	parse_bad(ctx, s, strlen(s), AE_ERR_UNSUPPORTED, "chunked", "chunked");
	s = "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\n\r\n";
	parse_bad(ctx, s, strlen(s), AE_ERR_UNSUPPORTED, "chunked", "gzip, chunked (lower-case header)");
	s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n";
	parse_bad(ctx, s, strlen(s), AE_ERR_UNSUPPORTED, "gzip", "gzip transfer encoding");
	parse_bad(ctx, "\x00\x01garbage\r\n\r\n", 13, AE_ERR_INVALID, "not an HTTP/1.0 or HTTP/1.1", "garbage");
	s = "HTTP/2 200\r\n\r\n";
	parse_bad(ctx, s, strlen(s), AE_ERR_INVALID, "not an HTTP/1.0 or HTTP/1.1", "HTTP/2");
	s = "HTTP/1.1 2000 OK\r\n\r\n";
	parse_bad(ctx, s, strlen(s), AE_ERR_INVALID, "status line", "four-digit status");
	s = "HTTP/1.1 2x0 OK\r\n\r\n";
	parse_bad(ctx, s, strlen(s), AE_ERR_INVALID, "status line", "status with a letter");
	s = "HTTP/1.1 \r\n\r\n";
	parse_bad(ctx, s, strlen(s), AE_ERR_INVALID, "status line", "no status");
	s = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n";
	parse_bad(ctx, s, strlen(s), AE_ERR_INVALID, "ends within its headers", "headers without their end");
	s = "HTTP/1.";
	parse_bad(ctx, s, strlen(s), AE_ERR_INVALID, "ends within its headers", "cut in the status line");
	parse_bad(ctx, NULL, 0, AE_ERR_INVALID, "empty", "nothing at all");
	s = "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999999\r\n\r\n";
	parse_bad(ctx, s, strlen(s), AE_ERR_INVALID, "more than 16 MiB", "Content-Length that would overflow");
	s = "HTTP/1.1 200 OK\r\nContent-Length: 16777217\r\n\r\n";
	parse_bad(ctx, s, strlen(s), AE_ERR_INVALID, "more than 16 MiB", "Content-Length over 16 MiB");
	s = "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n";
	parse_bad(ctx, s, strlen(s), AE_ERR_INVALID, "malformed Content-Length", "negative Content-Length");
	s = "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\nxyz";
	parse_bad(ctx, s, strlen(s), AE_ERR_INVALID, "malformed Content-Length", "Content-Length with a space inside");
	s = "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nxyz";
	parse_bad(ctx, s, strlen(s), AE_ERR_INVALID, "empty Content-Length", "empty Content-Length");
	s = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxyz";
	parse_bad(ctx, s, strlen(s), AE_ERR_INVALID, "two different", "two different Content-Length headers");

	/* Headers of more than 16 KiB, with or without their end. */
	ae_buf_init(&big);
	ae_buf_puts(&big, "HTTP/1.1 200 OK\r\n");
	while (big.len < 17 * 1024)
		ae_buf_puts(&big, "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
	parse_bad(ctx, big.data, big.len, AE_ERR_INVALID, "longer than 16 KiB", "17 KiB of headers, no end");
	ae_buf_puts(&big, "\r\nbody");
	parse_bad(ctx, big.data, big.len, AE_ERR_INVALID, "longer than 16 KiB", "17 KiB of headers, then the end");
	ae_buf_clear(&big);

	/* A body of exactly the data present, pointing into it. */
	s = "HTTP/1.1 200 OK\r\n\r\nX";
	tap_ok(parse(ctx, s, strlen(s), &body, &n) == AE_OK && body == (const uint8_t *)s + strlen(s) - 1 && n == 1,
	       "the body points into the data");
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

/* A leaf of CA with serial LEAF_SERIAL and CDP (an OpenSSL
 * crlDistributionPoints value) unless NULL. */
static X509 *
make_leaf(X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *key, const char *cdp)
{
	X509 *x = X509_new();
	X509V3_CTX v3;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), LEAF_SERIAL);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"ws1.corp.test",
	                           -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
	X509_set_pubkey(x, key);
	if (cdp != NULL) {
		X509_EXTENSION *e;
		X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
		e = X509V3_EXT_conf_nid(NULL, &v3, NID_crl_distribution_points, cdp);
		if (e == NULL)
			tap_diag("cannot make a CDP of \"%s\"", cdp);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
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
	bool delta;
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
	if (spec->delta) {
		ASN1_INTEGER *base = ASN1_INTEGER_new();
		ASN1_INTEGER_set(base, 1);
		X509_CRL_add1_ext_i2d(crl, NID_delta_crl, base, 1, 0);
		ASN1_INTEGER_free(base);
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

/* "HTTP/1.0 200 OK" + Content-Length + BODY; caller clears. */
static void
http_ok(ae_buf *out, const uint8_t *body, size_t len)
{
	ae_buf_init(out);
	ae_buf_printf(out, "HTTP/1.0 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: %zu\r\n\r\n", len);
	ae_buf_append(out, body, len);
}

/* --- the server --- */

typedef enum {
	SERVE_CLOSE, /* answer, then close */
	SERVE_KEEP,  /* answer, keep the connection open */
	SERVE_HANG,  /* accept, read the request, never answer */
} serve_mode;

static void
serve_one(int c, const ae_buf *resp, serve_mode mode)
{
	char req[8192];
	size_t got = 0;

	/* The request first, so that closing does not reset the
	 * connection under unread bytes. */
	while (got < sizeof(req) - 1) {
		ssize_t n = read(c, req + got, sizeof(req) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	if (mode != SERVE_HANG) {
		size_t done = 0;
		while (done < resp->len) {
			ssize_t n = write(c, resp->data + done, resp->len - done);
			if (n <= 0)
				break;
			done += (size_t)n;
		}
	}
	if (mode == SERVE_CLOSE)
		close(c);
}

/* Listens on 127.0.0.1, an ephemeral port; a child serves RESP on every
 * connection until killed. */
static pid_t
start_server(const ae_buf *resp, serve_mode mode, int *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(ls, 8) != 0 ||
	    getsockname(ls, (struct sockaddr *)&sin, &sl) != 0) {
		tap_diag("cannot listen on 127.0.0.1: %s", strerror(errno));
		if (ls >= 0)
			close(ls);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	pid = fork();
	if (pid == 0) {
		alarm(60); /* never outlive a stuck test */
		for (;;) {
			int c = accept(ls, NULL, NULL);
			if (c < 0)
				_exit(1);
			serve_one(c, resp, mode);
		}
	}
	close(ls);
	return pid;
}

static void
stop_server(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

typedef struct {
	ae_ctx *ctx;
	ae_conf *conf;
	X509 *ca;
	EVP_PKEY *ca_key;
	EVP_PKEY *leaf_key;
	time_t now;
} env;

/* Serves RESP in MODE, makes a leaf whose CDP is CDP_FMT (with %d for the
 * port; NO_CDP for none), checks it; *REASON and *SECONDS for the caller. */
static ae_revocation
served_check(env *e, const ae_buf *resp, serve_mode mode, const char *cdp_fmt, char **reason, double *seconds)
{
	ae_revocation r = (ae_revocation)-1;
	char cdp[256];
	int port = 0;
	pid_t pid = start_server(resp, mode, &port);
	X509 *leaf;
	double t0;
	ae_err err;

	*reason = NULL;
	snprintf(cdp, sizeof(cdp), cdp_fmt, port);
	leaf = make_leaf(e->ca, e->ca_key, e->leaf_key, strcmp(cdp_fmt, NO_CDP) == 0 ? NULL : cdp);
	t0 = ae_monotonic_seconds();
	err = ae_crl_check(e->ctx, e->conf, leaf, e->ca, e->now, &r, reason);
	if (seconds != NULL)
		*seconds = ae_monotonic_seconds() - t0;
	if (err != AE_OK)
		tap_diag("ae_crl_check failed: %s", ae_get_message(e->ctx));
	stop_server(pid);
	X509_free(leaf);
	return r;
}

#define HTTP_CDP "URI:http://127.0.0.1:%d/CertEnroll/corp-CA.crl"

/* Checks against a CRL made from SPEC (signed with KEY), expecting WANT and
 * a reason holding NEEDLE (NULL: no reason). */
static void
expect_crl(env *e, EVP_PKEY *key, const crl_spec *spec, ae_revocation want, const char *needle, const char *what)
{
	size_t len = 0;
	uint8_t *der = make_crl(e->ca, key, e->now, spec, &len);
	ae_buf resp;
	char *reason;
	ae_revocation r;

	http_ok(&resp, der, len);
	r = served_check(e, &resp, SERVE_CLOSE, HTTP_CDP, &reason, NULL);
	tap_ok(r == want && (needle == NULL ? reason == NULL : reason != NULL && strstr(reason, needle) != NULL),
	       "%s: %s", what, reason != NULL ? reason : "no reason");
	if (r != want)
		tap_diag("  got %d, want %d", (int)r, (int)want);
	free(reason);
	ae_buf_clear(&resp);
	free(der);
}

/* Serves RESP as is, expecting UNKNOWN with NEEDLE in the reason. */
static void
expect_unknown(env *e, const ae_buf *resp, serve_mode mode, const char *cdp_fmt, const char *needle, const char *what)
{
	char *reason;
	ae_revocation r = served_check(e, resp, mode, cdp_fmt, &reason, NULL);

	tap_ok(r == AE_REVOCATION_UNKNOWN && reason != NULL && strstr(reason, needle) != NULL, "%s: %s", what,
	       reason != NULL ? reason : "no reason");
	free(reason);
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n++;
	closedir(d);
	return n;
}

static void
test_end_to_end(ae_ctx *ctx)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *other_key = EVP_EC_gen("P-256");
	env e = { ctx, NULL, NULL, ca_key, EVP_EC_gen("P-256"), time(NULL) };
	crl_spec spec;
	ae_buf resp;
	char *reason = NULL, url[128];
	ae_revocation r;
	double secs = 0;
	size_t len;
	uint8_t *der;
	int fds = count_fds(), refused_port;
	X509 *leaf;
	ae_err err;

	e.ca = make_ca("corp-CA", ca_key);
	if (ae_conf_defaults(ctx, &e.conf) != AE_OK)
		return;
	e.conf->crl_timeout = 5;

	/* The CRL lists us (keyCompromise), among others. */
	memset(&spec, 0, sizeof(spec));
	spec.this_update = -3600;
	spec.next_update = 7 * 86400;
	spec.serials[0] = 7;
	spec.serials[1] = LEAF_SERIAL;
	spec.reason = 1;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_REVOKED, "(reason: keyCompromise) according to http://127.0.0.1:",
	           "listed with a reason: revoked");
	spec.reason = -1;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_REVOKED, " according to http://127.0.0.1:",
	           "listed without a reason: revoked");
	/* ... and the date is there. */
	{
		char day[16];
		time_t then = e.now - 2 * 86400;
		struct tm tm;
		char want[64];
		gmtime_r(&then, &tm);
		strftime(day, sizeof(day), "%Y-%m-%d", &tm);
		snprintf(want, sizeof(want), "revoked on %s ", day);
		spec.reason = 6;
		expect_crl(&e, ca_key, &spec, AE_REVOCATION_REVOKED, want, "revocation date in the reason");
	}

	/* Not listed. */
	spec.serials[0] = spec.serials[1] = 0;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_GOOD, NULL, "empty CRL: good, no reason");
	spec.serials[0] = 7;
	spec.serials[1] = LEAF_SERIAL + 1;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_GOOD, NULL, "CRL listing others: good");
	spec.pem = true;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_GOOD, NULL, "PEM CRL: good");
	spec.pem = false;
	spec.this_update = 100;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_GOOD, NULL, "thisUpdate 100 s ahead (clock skew): good");

	/* CRLs not to believe. */
	spec.this_update = -3600;
	spec.serials[1] = LEAF_SERIAL;
	expect_crl(&e, other_key, &spec, AE_REVOCATION_UNKNOWN, "not signed by the key of the certificate's issuer",
	           "signed by another key: unknown, even though it lists us");
	spec.issuer_cn = "other-CA";
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_UNKNOWN, "is issued by \"CN=other-CA\"", "another issuer's name: unknown");
	spec.issuer_cn = NULL;
	spec.this_update = -8 * 86400;
	spec.next_update = -86400;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_UNKNOWN, "expired at ", "expired CRL: unknown");
	spec.this_update = 3600;
	spec.next_update = 7 * 86400;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_UNKNOWN, "not valid yet", "thisUpdate an hour ahead: unknown");
	spec.this_update = -3600;
	spec.delta = true;
	expect_crl(&e, ca_key, &spec, AE_REVOCATION_UNKNOWN, "delta CRL", "delta CRL: unknown");
	spec.delta = false;

	/* The same good CRL, judged at another time: NOW is what counts. */
	der = make_crl(e.ca, ca_key, e.now, &spec, &len);
	http_ok(&resp, der, len);
	e.now += 8 * 86400;
	expect_unknown(&e, &resp, SERVE_CLOSE, HTTP_CDP, "expired at", "a week later the CRL is stale");
	e.now -= 8 * 86400;

	/* A server that keeps the connection open: Content-Length ends the
	 * read, not the timeout. */
	r = served_check(&e, &resp, SERVE_KEEP, HTTP_CDP, &reason, &secs);
	tap_ok(r == AE_REVOCATION_REVOKED && secs < 2.5, "connection kept open: Content-Length is enough (%.2f s)", secs);
	free(reason);

	/* Where the CDP points. */
	r = served_check(&e, &resp, SERVE_CLOSE, "URI:ldap://dc1.corp.test/corp-CA,URI:http://127.0.0.1:%d/x.crl",
	                 &reason, NULL);
	tap_ok(r == AE_REVOCATION_REVOKED, "ldap:// first, then http://: the http one is used (%s)", reason ? reason : "");
	free(reason);
	expect_unknown(&e, &resp, SERVE_CLOSE, "URI:ldap://127.0.0.1:%d/x.crl",
	               "the certificate names no http CRL distribution point", "only ldap://: unknown");
	expect_unknown(&e, &resp, SERVE_CLOSE, "URI:https://127.0.0.1:%d/x.crl",
	               "the certificate names no http CRL distribution point", "only https://: unknown");
	r = served_check(&e, &resp, SERVE_CLOSE, NO_CDP, &reason, NULL);
	tap_ok(r == AE_REVOCATION_UNKNOWN && reason != NULL &&
	       strcmp(reason, "the certificate names no http CRL distribution point") == 0,
	       "no CDP: unknown: %s", reason ? reason : "no reason");
	free(reason);
	expect_unknown(&e, &resp, SERVE_CLOSE, "URI:http://user@127.0.0.1:%d/x.crl", "user name",
	               "a CDP with userinfo: unknown");
	ae_buf_clear(&resp);
	free(der);

	/* What the server answers. */
	ae_buf_init(&resp);
	ae_buf_puts(&resp, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
	expect_unknown(&e, &resp, SERVE_CLOSE, HTTP_CDP, "answered HTTP 404", "404: unknown");
	ae_buf_clear(&resp);
	ae_buf_puts(&resp, "HTTP/1.0 200 OK\r\nContent-Length: 5000\r\n\r\n0123456789");
	expect_unknown(&e, &resp, SERVE_CLOSE, HTTP_CDP, "truncated", "answer cut short: unknown");
	ae_buf_clear(&resp);
	ae_buf_puts(&resp, "HTTP/1.0 200 OK\r\n\r\nthis is no CRL");
	expect_unknown(&e, &resp, SERVE_CLOSE, HTTP_CDP, "not a CRL", "a body that is no CRL: unknown");
	ae_buf_clear(&resp);
	ae_buf_puts(&resp, "SSH-2.0-OpenSSH_9.2\r\n");
	expect_unknown(&e, &resp, SERVE_CLOSE, HTTP_CDP, "not an HTTP/1.0 or HTTP/1.1", "not HTTP: unknown");
	ae_buf_clear(&resp);

	/* A server that accepts and never answers: bounded by crl_timeout,
	 * which the reason names. */
	e.conf->crl_timeout = 1;
	r = served_check(&e, &resp, SERVE_HANG, HTTP_CDP, &reason, &secs);
	tap_ok(r == AE_REVOCATION_UNKNOWN && secs >= 0.9 && secs < 3.0,
	       "silent server, crl_timeout = 1: unknown after %.2f s", secs);
	tap_ok(reason != NULL && strstr(reason, "crl_timeout in [global]") != NULL &&
	       strstr(reason, "http://127.0.0.1:") != NULL && strstr(reason, "within 1 s") != NULL,
	       "the reason names the URL and the setting: %s", reason ? reason : "no reason");
	free(reason);
	/* ... and one that answers only half its head. */
	ae_buf_puts(&resp, "HTTP/1.0 200 OK\r\nContent-Le");
	r = served_check(&e, &resp, SERVE_KEEP, HTTP_CDP, &reason, &secs);
	tap_ok(r == AE_REVOCATION_UNKNOWN && secs >= 0.9 && secs < 3.0 && reason != NULL &&
	       strstr(reason, "crl_timeout") != NULL && strstr(reason, "did not complete") != NULL,
	       "server stalling mid-head: unknown after %.2f s: %s", secs, reason ? reason : "no reason");
	free(reason);
	ae_buf_clear(&resp);
	e.conf->crl_timeout = 5;

	/* Nobody listening. */
	{
		struct sockaddr_in sin;
		socklen_t sl = sizeof(sin);
		int s = socket(AF_INET, SOCK_STREAM, 0);

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		bind(s, (struct sockaddr *)&sin, sizeof(sin));
		getsockname(s, (struct sockaddr *)&sin, &sl);
		refused_port = ntohs(sin.sin_port);
		close(s);
	}
	snprintf(url, sizeof(url), "URI:http://127.0.0.1:%d/x.crl", refused_port);
	leaf = make_leaf(e.ca, ca_key, e.leaf_key, url);
	secs = ae_monotonic_seconds();
	err = ae_crl_check(ctx, e.conf, leaf, e.ca, e.now, &r, &reason);
	secs = ae_monotonic_seconds() - secs;
	tap_ok(err == AE_OK && r == AE_REVOCATION_UNKNOWN && reason != NULL && strstr(reason, "cannot connect") != NULL &&
	       strstr(reason, url + 4) != NULL && secs < 2.0,
	       "connection refused: unknown at once: %s", reason ? reason : "no reason");
	free(reason);
	/* REASON_OUT may be NULL. */
	r = AE_REVOCATION_GOOD;
	err = ae_crl_check(ctx, e.conf, leaf, e.ca, e.now, &r, NULL);
	tap_ok(err == AE_OK && r == AE_REVOCATION_UNKNOWN, "no reason asked for: still unknown");
	X509_free(leaf);

	tap_is_int(count_fds(), fds, "no file descriptor left open");

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

	test_urls(ctx);
	test_http(ctx);
	test_end_to_end(ctx);
	ae_ctx_free(ctx);
	return tap_done();
}
