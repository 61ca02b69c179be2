/*
 * test-http.c - the HTTP client (net/http.c, libcurl) against a tiny
 * server this test forks on 127.0.0.1: answers, redirects (bounded, kept
 * to http and https), statuses, the body limit, the timeout and the
 * setting its message names, proxies from the environment and no_proxy,
 * URLs refused before any connection.
 */
#include "config.h"

#include "http.h"
#include "httpd.h"
#include "tap.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETTING "crl_timeout in [global] of /etc/autoenroll/autoenroll.conf"

static ae_http_request
request(const char *url)
{
	ae_http_request r = {
		.url = url,
		.accept = "application/pkix-crl, */*",
		.timeout = 5,
		.timeout_setting = SETTING,
		.what = "the CRL",
	};
	return r;
}

/* Fetches REQ, expecting WANT and a message holding NEEDLE (on error). */
static void
expect_error(ae_ctx *ctx, const ae_http_request *req, ae_err want, const char *needle, const char *what)
{
	ae_http_response *resp = (ae_http_response *)1;
	ae_err err = ae_http_fetch(ctx, req, &resp);

	tap_ok(err == want && resp == NULL && strstr(ae_get_message(ctx), needle) != NULL, "%s: %s", what,
	       ae_get_message(ctx));
	if (err == AE_OK)
		ae_http_response_free(resp);
}

/* Fetches PATH from the server on PORT, expecting as expect_error. */
static void
expect_path_error(ae_ctx *ctx, int port, const char *path, ae_err want, const char *needle, const char *what)
{
	char url[256];
	ae_http_request req;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	req = request(url);
	expect_error(ctx, &req, want, needle, what);
}

int
main(void)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: 5\r\n\r\nhello";
	static const char r1[] = "HTTP/1.1 302 Found\r\nLocation: /r2\r\nContent-Length: 0\r\n\r\n";
	static const char r2[] = "HTTP/1.1 301 Moved\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n";
	static const char loop[] = "HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n";
	static const char to_file[] = "HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n";
	static const char to_ldap[] = "HTTP/1.1 302 Found\r\nLocation: ldap://127.0.0.1/CN=x\r\nContent-Length: 0\r\n\r\n";
	static const char gone[] = "HTTP/1.1 410 Gone\r\nContent-Length: 4\r\n\r\ngone";
	static const char denied[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
	static const char fault[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nfault";
	static const char big[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
	                          "0123456789012345678901234567890123456789012345678901234567890123456789"
	                          "012345678901234567890123456789";
	static const char big_close[] = "HTTP/1.0 200 OK\r\n\r\n0123456789012345678901234567890123456789";
	static const char proxied[] = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nvia proxy";
	static const char half[] = "HTTP/1.0 200 OK\r\nContent-Le";
	const httpd_route routes[] = {
		{ "/ok", ok, sizeof(ok) - 1 },
		{ "/r1", r1, sizeof(r1) - 1 },
		{ "/r2", r2, sizeof(r2) - 1 },
		{ "/loop", loop, sizeof(loop) - 1 },
		{ "/file", to_file, sizeof(to_file) - 1 },
		{ "/ldap", to_ldap, sizeof(to_ldap) - 1 },
		{ "/gone", gone, sizeof(gone) - 1 },
		{ "/denied", denied, sizeof(denied) - 1 },
		{ "/fault", fault, sizeof(fault) - 1 },
		{ "/big", big, sizeof(big) - 1 },
		{ "/big-close", big_close, sizeof(big_close) - 1 },
		{ "http://crl.corp.test/CertEnroll/CORP-CA1.crl", proxied, sizeof(proxied) - 1 },
	};
	const httpd_route stall[] = { { NULL, half, sizeof(half) - 1 } };
	ae_ctx *ctx = ae_ctx_new();
	ae_http_response *resp = NULL;
	ae_http_request req;
	char url[256], url2[256], proxy[64], *long_url;
	int port = 0, port2 = 0, fds = count_open_fds();
	pid_t pid, pid2;
	double t0, secs;
	ae_err err;

	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("all_proxy");
	unsetenv("no_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("ALL_PROXY");
	unsetenv("NO_PROXY");
	pid = httpd_start(routes, sizeof(routes) / sizeof(routes[0]), SERVE_CLOSE, &port);

	/* An answer. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok", port);
	req = request(url);
	err = ae_http_fetch(ctx, &req, &resp);
	tap_ok(err == AE_OK && resp != NULL && resp->status == 200 && resp->body_len == 5 &&
	       memcmp(resp->body, "hello", 6) == 0 && resp->redirects == 0,
	       "GET: status 200, body \"hello\" (NUL-terminated), no redirect");
	tap_ok(resp != NULL && ae_http_header(resp, "content-type") != NULL &&
	       strcmp(ae_http_header(resp, "content-type"), "application/pkix-crl") == 0 &&
	       ae_http_header(resp, "X-None") == NULL,
	       "the answer's headers, looked up without regard to case");
	ae_http_response_free(resp);
	resp = NULL;

	/* Redirects: followed up to 5, http and https only. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/r1", port);
	req = request(url);
	err = ae_http_fetch(ctx, &req, &resp);
	tap_ok(err == AE_OK && resp != NULL && resp->redirects == 2 && resp->body_len == 5 &&
	       strstr(resp->url, "/ok") != NULL,
	       "two redirects followed to the answer (%s)", resp ? resp->url : ae_get_message(ctx));
	ae_http_response_free(resp);
	resp = NULL;
	expect_path_error(ctx, port, "/loop", AE_ERR_NETWORK, "more than 5 redirects", "a redirect loop stops after 5");
	expect_path_error(ctx, port, "/file", AE_ERR_INVALID, "not http:// or https://", "a redirect to file:// is refused");
	expect_path_error(ctx, port, "/ldap", AE_ERR_INVALID, "not http:// or https://", "a redirect to ldap:// is refused");

	/* Statuses. */
	expect_path_error(ctx, port, "/gone", AE_ERR_NOTFOUND, "answered HTTP 410", "410: not found");
	expect_path_error(ctx, port, "/nothing-here", AE_ERR_NOTFOUND, "answered HTTP 404", "404: not found");
	expect_path_error(ctx, port, "/denied", AE_ERR_DENIED, "answered HTTP 403", "403: denied");
	expect_path_error(ctx, port, "/fault", AE_ERR_NETWORK, "answered HTTP 500", "500: an error");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/fault", port);
	req = request(url);
	req.any_status = true;
	req.method = "POST";
	req.body = (const uint8_t *)"<soap/>";
	req.body_len = 7;
	req.content_type = "application/soap+xml; charset=utf-8";
	err = ae_http_fetch(ctx, &req, &resp);
	tap_ok(err == AE_OK && resp != NULL && resp->status == 500 && resp->body_len == 5,
	       "POST with any_status: a 500 answer and its body come back (a SOAP fault)");
	ae_http_response_free(resp);
	resp = NULL;

	/* The body limit, announced or not. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/big", port);
	req = request(url);
	req.max_body = 10;
	expect_error(ctx, &req, AE_ERR_INVALID, "larger than 10 bytes", "Content-Length above the limit");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/big-close", port);
	req = request(url);
	req.max_body = 10;
	expect_error(ctx, &req, AE_ERR_INVALID, "larger than 10 bytes", "a body growing past the limit");
	req.max_body = 40;
	err = ae_http_fetch(ctx, &req, &resp);
	tap_ok(err == AE_OK && resp != NULL && resp->body_len == 40, "a body of exactly the limit is read");
	ae_http_response_free(resp);
	resp = NULL;

	/* URLs refused before any connection. */
	req = request("ftp://127.0.0.1/x.crl");
	expect_error(ctx, &req, AE_ERR_INVALID, "not an http:// or https:// URL", "ftp:// refused");
	req = request("ldap:///CN=CORP-CA1,CN=CDP?certificateRevocationList");
	expect_error(ctx, &req, AE_ERR_INVALID, "not an http:// or https:// URL", "ldap:// is not HTTP's");
	snprintf(url, sizeof(url), "http://user:pw@127.0.0.1:%d/ok", port);
	req = request(url);
	expect_error(ctx, &req, AE_ERR_INVALID, "user name", "a user name in the URL refused");
	req = request("http://127.0.0.1/x\r\nX-Evil: 1");
	expect_error(ctx, &req, AE_ERR_INVALID, "malformed", "CRLF injection refused");
	req = request("http://ho st/x");
	expect_error(ctx, &req, AE_ERR_INVALID, "malformed", "a space refused");
	long_url = malloc(3001);
	memcpy(long_url, "http://h/", 9);
	memset(long_url + 9, 'a', 3000 - 9);
	long_url[3000] = '\0';
	req = request(long_url);
	expect_error(ctx, &req, AE_ERR_INVALID, "longer than 2048", "a 3000-character URL refused");
	tap_ok(strstr(ae_get_message(ctx), "http://h/aaa") != NULL && strstr(ae_get_message(ctx), "...") != NULL &&
	       strlen(ae_get_message(ctx)) < 400, "its message names it, cut (%zu characters)",
	       strlen(ae_get_message(ctx)));
	free(long_url);

	/* Nobody listening. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x.crl", httpd_refused_port());
	req = request(url);
	t0 = ae_monotonic_seconds();
	expect_error(ctx, &req, AE_ERR_NETWORK, "cannot connect", "connection refused");
	tap_ok(ae_monotonic_seconds() - t0 < 2.0 && strstr(ae_get_message(ctx), url) != NULL,
	       "at once, and the message names the URL");

	/* https: TLS against a server that speaks plain HTTP. */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/ok", port);
	req = request(url);
	expect_error(ctx, &req, AE_ERR_CRYPTO, "TLS", "https to a plain HTTP server: a TLS error");

	/* Proxies from the environment, and no_proxy. */
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", port);
	setenv("http_proxy", proxy, 1);
	req = request("http://crl.corp.test/CertEnroll/CORP-CA1.crl");
	err = ae_http_fetch(ctx, &req, &resp);
	tap_ok(err == AE_OK && resp != NULL && resp->body_len == 9 && memcmp(resp->body, "via proxy", 9) == 0,
	       "http_proxy from the environment is used (the proxy got the absolute URL)");
	ae_http_response_free(resp);
	resp = NULL;
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", httpd_refused_port());
	setenv("http_proxy", proxy, 1);
	expect_path_error(ctx, port, "/ok", AE_ERR_NETWORK, "cannot connect", "a proxy that is down: the fetch fails");
	setenv("no_proxy", "127.0.0.1", 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok", port);
	req = request(url);
	err = ae_http_fetch(ctx, &req, &resp);
	tap_ok(err == AE_OK && resp != NULL && resp->body_len == 5, "no_proxy names the host: fetched directly");
	ae_http_response_free(resp);
	resp = NULL;
	unsetenv("http_proxy");
	unsetenv("no_proxy");
	httpd_stop(pid);

	/* A server that never answers, and one that stops mid-head: bounded
	 * by the timeout, whose setting the message names. */
	pid = httpd_start(NULL, 0, SERVE_HANG, &port);
	pid2 = httpd_start(stall, 1, SERVE_KEEP, &port2);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x.crl", port);
	snprintf(url2, sizeof(url2), "http://127.0.0.1:%d/x.crl", port2);
	req = request(url);
	req.timeout = 1;
	t0 = ae_monotonic_seconds();
	expect_error(ctx, &req, AE_ERR_TIMEOUT, "no answer within 1 s (" SETTING ")", "silent server");
	secs = ae_monotonic_seconds() - t0;
	tap_ok(secs >= 0.9 && secs < 3.0, "... after %.2f s", secs);
	req = request(url2);
	req.timeout = 1;
	t0 = ae_monotonic_seconds();
	expect_error(ctx, &req, AE_ERR_TIMEOUT, "the answer did not complete within 1 s (" SETTING ")",
	             "server stalling mid-head");
	secs = ae_monotonic_seconds() - t0;
	tap_ok(secs >= 0.9 && secs < 3.0, "... after %.2f s", secs);
	httpd_stop(pid);
	httpd_stop(pid2);

	tap_is_int(count_open_fds(), fds, "no file descriptor left open");
	ae_ctx_free(ctx);
	return tap_done();
}
