/*
 * http.c - HTTP through libcurl (see http.h).  What libcurl does by
 * default and we keep: proxies from the environment (http_proxy,
 * https_proxy, all_proxy, no_proxy), certificate and host name checks for
 * https against the system's trust store.  What we set: the protocols
 * (http and https, also for redirects), at most AE_HTTP_MAX_REDIRECTS
 * redirects, one timeout for everything, a maximum body, no signals.
 */
#include "config.h"

#include "http.h"
#include "util.h"

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AE_HTTP_MAX_URL 2048
#define AE_HTTP_MAX_HEADERS 100
#define AE_HTTP_MAX_HEADER_BYTES (64 * 1024)
/* URLs in messages are cut here: a message holds 2048 characters. */
#define AE_URL_SHOWN 160

const char *
ae_url_shown(const char *url, char *buf, size_t size)
{
	size_t i, n = 0;

	if (size < 8)
		return "";
	if (url == NULL || url[0] == '\0')
		url = "(empty)";
	for (i = 0; url[i] != '\0' && n + 4 < size; i++) {
		unsigned char c = (unsigned char)url[i];
		buf[n++] = c > 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (url[i] != '\0') {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* What the callbacks fill while libcurl works. */
typedef struct {
	ae_buf body;
	size_t max_body;
	bool too_big;
	char **headers;
	size_t nheaders;
	size_t header_bytes;
	bool got_bytes;
	bool failed;       /* out of memory in a callback */
	unsigned answers;  /* status lines seen */
} transfer;

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	transfer *t = arg;
	size_t len = size * n;

	t->got_bytes = true;
	if (len > t->max_body - t->body.len) {
		t->too_big = true;
		return 0; /* libcurl stops with CURLE_WRITE_ERROR */
	}
	ae_buf_append(&t->body, data, len);
	if (t->body.failed) {
		t->failed = true;
		return 0;
	}
	return len;
}

static void
headers_clear(transfer *t)
{
	for (size_t i = 0; i < t->nheaders; i++)
		free(t->headers[i]);
	free(t->headers);
	t->headers = NULL;
	t->nheaders = 0;
}

/* One header line per call, the status line of each answer included: a
 * status line starts the list again, so that the headers are the last
 * answer's (after redirects). */
static size_t
on_header(char *data, size_t size, size_t n, void *arg)
{
	transfer *t = arg;
	size_t len = size * n, end = len;
	char **grown;

	t->got_bytes = true;
	t->header_bytes += len;
	if (t->header_bytes > AE_HTTP_MAX_HEADER_BYTES)
		return 0;
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		t->answers++;
		headers_clear(t);
		return len;
	}
	while (end > 0 && (data[end - 1] == '\n' || data[end - 1] == '\r'))
		end--;
	if (end == 0 || memchr(data, ':', end) == NULL)
		return len;
	if (t->nheaders >= AE_HTTP_MAX_HEADERS)
		return 0;
	grown = realloc(t->headers, (t->nheaders + 2) * sizeof(*grown));
	if (grown == NULL) {
		t->failed = true;
		return 0;
	}
	t->headers = grown;
	if ((t->headers[t->nheaders] = strndup(data, end)) == NULL) {
		t->failed = true;
		return 0;
	}
	t->headers[++t->nheaders] = NULL;
	return len;
}

/* libcurl, opened at the first HTTP exchange rather than linked: its
 * libraries (nghttp2, ssh2, rtmp, psl, brotli, ...) cost every start of
 * every program about 2 ms, a tenth of a pulse with nothing to do, and
 * most runs download nothing.  The same library the build was made
 * against: the SONAME of libcurl 7.x and 8.x. */
#define AE_LIBCURL "libcurl.so.4"

static struct {
	void *handle;
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLU *(*url)(void);
	CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
	CURLUcode (*url_get)(const CURLU *, CURLUPart, char **, unsigned int);
	void (*url_cleanup)(CURLU *);
	const char *(*url_strerror)(CURLUcode);
	void (*free)(void *);
} lc;

static ae_err
load_libcurl(ae_ctx *ctx)
{
	struct {
		const char *name;
		void **fn;
	} syms[] = {
		{ "curl_easy_init", (void **)&lc.easy_init },
		{ "curl_easy_setopt", (void **)&lc.easy_setopt },
		{ "curl_easy_perform", (void **)&lc.easy_perform },
		{ "curl_easy_getinfo", (void **)&lc.easy_getinfo },
		{ "curl_easy_cleanup", (void **)&lc.easy_cleanup },
		{ "curl_easy_strerror", (void **)&lc.easy_strerror },
		{ "curl_slist_append", (void **)&lc.slist_append },
		{ "curl_slist_free_all", (void **)&lc.slist_free_all },
		{ "curl_url", (void **)&lc.url },
		{ "curl_url_set", (void **)&lc.url_set },
		{ "curl_url_get", (void **)&lc.url_get },
		{ "curl_url_cleanup", (void **)&lc.url_cleanup },
		{ "curl_url_strerror", (void **)&lc.url_strerror },
		{ "curl_free", (void **)&lc.free },
	};
	void *h;

	if (lc.handle != NULL)
		return AE_OK;
	if ((h = dlopen(AE_LIBCURL, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED, "HTTP needs libcurl (%s, package libcurl4): %s",
		                      AE_LIBCURL, dlerror());
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		if ((*syms[i].fn = dlsym(h, syms[i].name)) == NULL) {
			ae_err err = ae_set_message(ctx, AE_ERR_UNSUPPORTED, "%s has no %s: libcurl 7.85 or later is needed",
			                            AE_LIBCURL, syms[i].name);
			dlclose(h);
			memset(&lc, 0, sizeof(lc));
			return err;
		}
	}
	lc.handle = h;
	return AE_OK;
}

/* http:// or https://, parsed by libcurl as it will use it, without a user
 * name (a location in a certificate names a server, not an account). */
static ae_err
check_url(ae_ctx *ctx, const char *url, size_t max_url, const char *what, const char *shown)
{
	CURLU *u;
	CURLUcode uc;
	char *scheme = NULL, *user = NULL;
	ae_err err = AE_OK;

	if (max_url == 0)
		max_url = AE_HTTP_MAX_URL;
	if (strnlen(url, max_url + 1) > max_url)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s at %s: the URL is longer than %zu characters", what,
		                      shown, max_url);
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s at %s: not an http:// or https:// URL", what, shown);
	if ((u = lc.url()) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	uc = lc.url_set(u, CURLUPART_URL, url, 0);
	if (uc == CURLUE_OUT_OF_MEMORY) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	} else if (uc != CURLUE_OK) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "%s at %s: the URL is malformed (%s)", what, shown,
		                     lc.url_strerror(uc));
	} else if (lc.url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	           (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "%s at %s: not an http:// or https:// URL", what, shown);
	} else if (lc.url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		err = ae_set_message(ctx, AE_ERR_INVALID,
		                     "%s at %s: the URL carries a user name before its host, which it must not", what,
		                     shown);
	}
	lc.free(scheme);
	lc.free(user);
	lc.url_cleanup(u);
	return err;
}

/* libcurl's failure in our words, the URL and the setting in it. */
static ae_err
transfer_error(ae_ctx *ctx, const ae_http_request *req, const transfer *t, CURLcode rc, const char *errbuf,
               const char *shown)
{
	const char *what = req->what;
	const char *detail = errbuf[0] != '\0' ? errbuf : lc.easy_strerror(rc);

	if (t->failed)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return ae_set_message(ctx, AE_ERR_TIMEOUT, "%s at %s: %s within %d s (%s)", what, shown,
		                      t->got_bytes ? "the answer did not complete" : "no answer", req->timeout,
		                      req->timeout_setting ? req->timeout_setting : "the timeout");
	case CURLE_FILESIZE_EXCEEDED:
		return ae_set_message(ctx, AE_ERR_INVALID, "%s at %s: the answer is larger than %zu bytes", what,
		                      shown, req->max_body ? req->max_body : (size_t)AE_HTTP_MAX_BODY_DEFAULT);
	case CURLE_WRITE_ERROR:
		if (t->too_big)
			return transfer_error(ctx, req, t, CURLE_FILESIZE_EXCEEDED, "", shown);
		break;
	case CURLE_OUT_OF_MEMORY:
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	case CURLE_COULDNT_RESOLVE_HOST:
		return ae_set_message(ctx, AE_ERR_NETWORK, "%s at %s: cannot resolve the host: %s", what, shown,
		                      detail);
	case CURLE_COULDNT_RESOLVE_PROXY:
		return ae_set_message(ctx, AE_ERR_NETWORK,
		                      "%s at %s: cannot resolve the proxy (from http_proxy, https_proxy or all_proxy): %s",
		                      what, shown, detail);
	case CURLE_COULDNT_CONNECT:
		return ae_set_message(ctx, AE_ERR_NETWORK, "%s at %s: cannot connect: %s", what, shown, detail);
	case CURLE_TOO_MANY_REDIRECTS:
		return ae_set_message(ctx, AE_ERR_NETWORK, "%s at %s: more than %d redirects", what, shown,
		                      AE_HTTP_MAX_REDIRECTS);
	case CURLE_UNSUPPORTED_PROTOCOL:
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s at %s: redirected to a location that is not http:// or https:// (%s)", what,
		                      shown, detail);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
		return ae_set_message(ctx, AE_ERR_CRYPTO, "%s at %s: TLS: %s", what, shown, detail);
	default:
		break;
	}
	return ae_set_message(ctx, AE_ERR_NETWORK, "%s at %s: %s", what, shown, detail);
}

static ae_err
status_error(ae_ctx *ctx, const ae_http_request *req, long status, const char *shown)
{
	ae_err code = AE_ERR_NETWORK;

	if (status == 404 || status == 410)
		code = AE_ERR_NOTFOUND;
	else if (status == 401 || status == 403)
		code = AE_ERR_DENIED;
	return ae_set_message(ctx, code, "%s at %s: the server answered HTTP %ld", req->what, shown, status);
}

/* CURLOPT_SSL_CTX_FUNCTION: the client certificate and key of the
 * request (libcurl's OpenSSL back end passes its SSL_CTX). */
static CURLcode
use_client_key(CURL *c, void *sslctx, void *data)
{
	const ae_http_request *req = data;

	(void)c;
	if (SSL_CTX_use_certificate(sslctx, req->client_x509) != 1 ||
	    SSL_CTX_use_PrivateKey(sslctx, req->client_pkey) != 1 || SSL_CTX_check_private_key(sslctx) != 1)
		return CURLE_SSL_CERTPROBLEM;
	return CURLE_OK;
}

ae_err
ae_http_fetch(ae_ctx *ctx, const ae_http_request *req, ae_http_response **out)
{
	char shown[AE_URL_SHOWN], errbuf[CURL_ERROR_SIZE] = "", *where = NULL, ua[64];
	struct curl_slist *hdrs = NULL, *grown;
	ae_http_response *resp = NULL;
	const char *method;
	transfer t;
	CURL *c = NULL;
	CURLcode rc;
	long status = 0, redirects = 0;
	ae_err err = AE_OK;

	ae_return_val_if_fail(req != NULL && req->url != NULL && req->what != NULL && out != NULL, AE_ERR_INTERNAL);
	*out = NULL;
	memset(&t, 0, sizeof(t));
	ae_buf_init(&t.body);
	t.max_body = req->max_body ? req->max_body : AE_HTTP_MAX_BODY_DEFAULT;
	method = req->method ? req->method : "GET";
	ae_url_shown(req->url, shown, sizeof(shown));
	if ((err = load_libcurl(ctx)) != AE_OK || (err = check_url(ctx, req->url, req->max_url, req->what, shown)) != AE_OK)
		goto cleanup;
	if (req->https_only && strncasecmp(req->url, "https://", 8) != 0) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "%s at %s: not an https:// URL (never plain http)", req->what,
		                     shown);
		goto cleanup;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
		err = ae_set_message(ctx, AE_ERR_INTERNAL, "HTTP method %s is not supported", method);
		goto cleanup;
	}
	if ((c = lc.easy_init()) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	snprintf(ua, sizeof(ua), "autoenroll/%s", PACKAGE_VERSION);
	if (req->accept != NULL) {
		char line[256];
		snprintf(line, sizeof(line), "Accept: %s", req->accept);
		hdrs = lc.slist_append(hdrs, line);
	}
	if (req->content_type != NULL && strcmp(method, "POST") == 0) {
		char line[256];
		snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
		if ((grown = lc.slist_append(hdrs, line)) != NULL)
			hdrs = grown;
	}
	for (size_t i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
		if ((grown = lc.slist_append(hdrs, req->headers[i])) != NULL)
			hdrs = grown;

	/* Each setopt below can only fail for an unknown option or out of
	 * memory; the transfer then fails and says so. */
	lc.easy_setopt(c, CURLOPT_URL, req->url);
	lc.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	lc.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	lc.easy_setopt(c, CURLOPT_USERAGENT, ua);
	lc.easy_setopt(c, CURLOPT_PROTOCOLS_STR, req->https_only ? "https" : "http,https");
	lc.easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, req->https_only ? "https" : "http,https");
	if (req->negotiate) {
		/* SPNEGO through libcurl's GSS-API, with the default ccache;
		 * the server must prove itself (mutual authentication). */
		lc.easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_NEGOTIATE);
		lc.easy_setopt(c, CURLOPT_USERPWD, ":");
	}
	if (req->trust_pem != NULL) {
		/* added to the system's trust (OpenSSL back end: both load) */
		struct curl_blob blob = { (void *)req->trust_pem, strlen(req->trust_pem), CURL_BLOB_COPY };
		lc.easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (req->client_cert != NULL && req->client_key != NULL) {
		lc.easy_setopt(c, CURLOPT_SSLCERT, req->client_cert);
		lc.easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
		lc.easy_setopt(c, CURLOPT_SSLKEY, req->client_key);
		lc.easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (req->client_x509 != NULL && req->client_pkey != NULL) {
		/* a key OpenSSL cannot load from a file (a token's): given to
		 * the TLS context itself */
		lc.easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, use_client_key);
		lc.easy_setopt(c, CURLOPT_SSL_CTX_DATA, (void *)req);
	}
	if (req->peer_cert)
		lc.easy_setopt(c, CURLOPT_CERTINFO, 1L);
	lc.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	lc.easy_setopt(c, CURLOPT_MAXREDIRS, (long)AE_HTTP_MAX_REDIRECTS);
	lc.easy_setopt(c, CURLOPT_TIMEOUT, (long)(req->timeout > 0 ? req->timeout : 15));
	lc.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)(req->timeout > 0 ? req->timeout : 15));
	lc.easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t.max_body);
	lc.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	lc.easy_setopt(c, CURLOPT_WRITEDATA, &t);
	lc.easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	lc.easy_setopt(c, CURLOPT_HEADERDATA, &t);
	if (hdrs != NULL)
		lc.easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (strcmp(method, "POST") == 0) {
		lc.easy_setopt(c, CURLOPT_POST, 1L);
		lc.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		lc.easy_setopt(c, CURLOPT_POSTFIELDS, req->body_len ? (const char *)req->body : "");
	}

	ae_log(ctx, AE_LOG_DEBUG, "%s %s (%s)", method, shown, req->what);
	rc = lc.easy_perform(c);
	lc.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	lc.easy_getinfo(c, CURLINFO_REDIRECT_COUNT, &redirects);
	lc.easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &where);
	if (rc != CURLE_OK) {
		err = transfer_error(ctx, req, &t, rc, errbuf, shown);
		goto cleanup;
	}
	if (!req->any_status && (status < 200 || status > 299)) {
		err = status_error(ctx, req, status, shown);
		goto cleanup;
	}
	resp = calloc(1, sizeof(*resp));
	if (resp == NULL || (resp->url = strdup(where ? where : req->url)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	resp->status = status;
	resp->redirects = (unsigned)redirects;
	resp->answers = t.answers;
	resp->body_len = t.body.len;
	ae_buf_append(&t.body, "", 1); /* the NUL not counted */
	resp->body = (uint8_t *)ae_buf_steal(&t.body);
	if (resp->body == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	resp->headers = t.headers;
	t.headers = NULL;
	t.nheaders = 0;
	if (req->peer_cert) {
		/* OpenSSL back end: "Cert:" with the PEM of each certificate of
		 * the chain the server sent, the server's first */
		struct curl_certinfo *ci = NULL;
		if (lc.easy_getinfo(c, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci != NULL && ci->num_of_certs > 0)
			for (struct curl_slist *l = ci->certinfo[0]; l != NULL; l = l->next)
				if (strncmp(l->data, "Cert:", 5) == 0) {
					if ((resp->peer_cert_pem = strdup(l->data + 5)) == NULL) {
						err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
						goto cleanup;
					}
					break;
				}
	}
	*out = resp;
	resp = NULL;
cleanup:
	ae_http_response_free(resp);
	headers_clear(&t);
	ae_buf_clear(&t.body);
	lc.slist_free_all(hdrs);
	if (c != NULL)
		lc.easy_cleanup(c);
	return err;
}

const char *
ae_http_header(const ae_http_response *resp, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; resp != NULL && resp->headers != NULL && resp->headers[i] != NULL; i++) {
		const char *h = resp->headers[i];
		if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
			h += n + 1;
			while (*h == ' ' || *h == '\t')
				h++;
			return h;
		}
	}
	return NULL;
}

void
ae_http_response_free(ae_http_response *resp)
{
	if (resp == NULL)
		return;
	free(resp->peer_cert_pem);
	free(resp->body);
	for (size_t i = 0; resp->headers != NULL && resp->headers[i] != NULL; i++)
		free(resp->headers[i]);
	free(resp->headers);
	free(resp->url);
	free(resp);
}
