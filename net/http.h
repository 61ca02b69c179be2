/*
 * http.h - the one HTTP client of autoenroll, through libcurl: http and
 * https (the system's CA trust for https), proxies from the environment
 * (http_proxy, https_proxy, no_proxy, as libcurl reads them), redirects
 * bounded in number and kept to http and https, a maximum body size, and
 * one timeout for the whole exchange whose message names the setting that
 * controls it.
 *
 * CRL downloads use it today (GET); the CEP/CES web services (SOAP POST)
 * and SCEP (GET and POST) will: the request says the method, the body and
 * its content type, extra headers, and receives the answer's headers.
 */
#ifndef AE_HTTP_H
#define AE_HTTP_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AE_HTTP_MAX_REDIRECTS 5
#define AE_HTTP_MAX_BODY_DEFAULT (16 * 1024 * 1024)

typedef struct {
	const char *method;        /* "GET" (NULL: GET) or "POST" */
	const char *url;           /* untrusted: checked (http or https, no user name) */
	const uint8_t *body;       /* POST: the body, BODY_LEN bytes */
	size_t body_len;
	const char *content_type;  /* of BODY ("application/soap+xml; charset=utf-8") */
	const char *accept;        /* Accept header, NULL: none */
	const char *const *headers; /* more "Name: value" lines, NULL-terminated; may be NULL */
	size_t max_body;           /* answers larger than this are refused; 0: 16 MiB */
	size_t max_url;            /* longer URLs are refused; 0: 2048 (SCEP's GET PKIOperation needs more) */
	int timeout;               /* seconds for the whole exchange, redirects included */
	const char *timeout_setting; /* "crl_timeout in [global] of FILE": named in timeout messages */
	const char *what;          /* what is fetched, for messages: "the CRL" */
	bool any_status;           /* true: non-2xx answers are returned, not errors (SOAP faults) */
	bool https_only;           /* true: https:// only, also for redirects (policy and enrollment) */
	bool negotiate;            /* true: HTTP Negotiate (RFC 4559) with the Kerberos credentials of the
	                            * default ccache, mutual authentication required */
	const char *trust_pem;     /* PEM certificates trusted for https in addition to the system's
	                            * (AD's roots); NULL: the system trust only */
	const char *client_cert;   /* TLS client authentication: the certificate (and chain), a PEM file */
	const char *client_key;    /* ... and its key, a PEM file; NULL: no client certificate */
	struct x509_st *client_x509;  /* else TLS client authentication with this certificate ... */
	struct evp_pkey_st *client_pkey; /* ... and this key (a token's: signing goes to C_Sign) */
	bool peer_cert;            /* true: the server's certificate in the response (https) */
} ae_http_request;

typedef struct {
	long status;               /* of the last answer, after redirects */
	uint8_t *body;             /* BODY_LEN bytes plus a NUL not counted */
	size_t body_len;
	char **headers;            /* "Name: value" of the last answer, NULL-terminated */
	char *url;                 /* where the answer came from (after redirects) */
	unsigned redirects;        /* followed */
	unsigned answers;          /* HTTP answers read (a Negotiate challenge is one more) */
	char *peer_cert_pem;       /* with REQ->peer_cert: the server's certificate, PEM; else NULL */
} ae_http_response;

/* Sends REQ and reads the answer into *OUT (free with ae_http_response_free).
 * Errors, with the URL in the message: AE_ERR_INVALID for a URL we refuse or
 * an answer too large; AE_ERR_TIMEOUT naming REQ->timeout_setting;
 * AE_ERR_NETWORK (cannot resolve, connect, too many redirects...);
 * AE_ERR_CRYPTO for TLS failures; AE_ERR_NOTFOUND (404, 410),
 * AE_ERR_DENIED (401, 403) or AE_ERR_NETWORK for other non-2xx statuses
 * unless REQ->any_status.  *OUT stays NULL on error. */
ae_err ae_http_fetch(ae_ctx *ctx, const ae_http_request *req, ae_http_response **out);
void ae_http_response_free(ae_http_response *resp);

/* The value of header NAME (case-insensitive) in RESP, or NULL. */
const char *ae_http_header(const ae_http_response *resp, const char *name);

/* URL for a message: cut to SIZE and anything unprintable replaced, so
 * that a hostile certificate cannot write into our logs.  Returns BUF. */
const char *ae_url_shown(const char *url, char *buf, size_t size);

#endif
