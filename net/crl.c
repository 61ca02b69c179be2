/*
 * crl.c - revocation by the CRL distribution point of a certificate: a
 * small HTTP/1.0 client (GET, Connection: close, bounded in time and size)
 * and the checks that make a downloaded CRL worth believing (issuer name,
 * signature, freshness).
 *
 * Everything that comes off the network or out of the certificate is
 * untrusted: the URL, the HTTP head, the CRL.  Only the CRL's signature
 * makes its content count, so plain HTTP is enough.
 */
#include "config.h"

#include "crl.h"
#include "net.h"
#include "pki.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define AE_HTTP_MAX_URL 2048
#define AE_HTTP_MAX_HOST 255
#define AE_HTTP_MAX_HEAD (16 * 1024)
#define AE_HTTP_MAX_BODY (16 * 1024 * 1024)
/* A CRL whose thisUpdate is this far ahead of our clock is refused: more
 * than clock skew, it means one of the two clocks is wrong. */
#define AE_CRL_MAX_SKEW 300
/* URLs in messages are cut here: a message holds 2048 characters. */
#define AE_URL_SHOWN 160

/* URL for a message: cut, and anything unprintable replaced, so that a
 * hostile certificate cannot write into our logs. */
static const char *
url_shown(const char *url, char *buf, size_t size)
{
	size_t i, n = 0;

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

/* --- URLs --- */

static bool
host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

ae_err
ae_http_split_url(ae_ctx *ctx, const char *url, char **host_out, char **port_out, char **path_out)
{
	char shown[AE_URL_SHOWN], v6[64], portstr[8];
	struct in6_addr a6;
	const char *auth, *end, *hp, *he, *after, *frag;
	char *host = NULL, *port = NULL, *path = NULL;
	unsigned long portnum = 80;
	size_t len, i;
	ae_err err = AE_OK;

	ae_return_val_if_fail(url != NULL && host_out != NULL && port_out != NULL && path_out != NULL,
	                      AE_ERR_INTERNAL);
	*host_out = NULL;
	*port_out = NULL;
	*path_out = NULL;
	url_shown(url, shown, sizeof(shown));
	len = strnlen(url, AE_HTTP_MAX_URL + 1);
	if (len > AE_HTTP_MAX_URL)
		return ae_set_message(ctx, AE_ERR_INVALID, "the URL %s is longer than %d characters",
		                      shown, AE_HTTP_MAX_URL);
	/* It goes into a request line: no room for anything but visible
	 * ASCII (RFC 3986 has no raw spaces or 8-bit bytes either). */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];
		if (c <= 0x20 || c >= 0x7f)
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "the URL %s contains a space, a control character or a non-ASCII byte (at %zu)",
			                      shown, i);
	}
	if (strncasecmp(url, "http://", 7) != 0)
		return ae_set_message(ctx, AE_ERR_INVALID, "the URL %s is not an http:// URL", shown);
	auth = url + 7;
	end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "the URL %s carries a user name before its host, which a CRL location must not",
		                      shown);
	if (*auth == '[') {
		const char *rb = memchr(auth, ']', (size_t)(end - auth));
		if (rb == NULL)
			return ae_set_message(ctx, AE_ERR_INVALID, "the URL %s has an unclosed [ in its host", shown);
		hp = auth + 1;
		he = rb;
		after = rb + 1;
		/* Zone identifiers (%25) are refused with the rest: a CDP names
		 * a server, not an interface. */
		if ((size_t)(he - hp) >= sizeof(v6))
			return ae_set_message(ctx, AE_ERR_INVALID, "the URL %s has a malformed IPv6 address", shown);
		memcpy(v6, hp, (size_t)(he - hp));
		v6[he - hp] = '\0';
		if (inet_pton(AF_INET6, v6, &a6) != 1)
			return ae_set_message(ctx, AE_ERR_INVALID, "the URL %s has a malformed IPv6 address", shown);
	} else {
		hp = auth;
		he = memchr(auth, ':', (size_t)(end - auth));
		if (he == NULL)
			he = end;
		after = he;
		for (const char *p = hp; p < he; p++) {
			if (!host_char(*p))
				return ae_set_message(ctx, AE_ERR_INVALID,
				                      "the URL %s has a character that does not belong in a host name: '%c'",
				                      shown, *p);
		}
	}
	if (he == hp)
		return ae_set_message(ctx, AE_ERR_INVALID, "the URL %s names no host", shown);
	if (he - hp > AE_HTTP_MAX_HOST)
		return ae_set_message(ctx, AE_ERR_INVALID, "the URL %s has a host name longer than %d characters",
		                      shown, AE_HTTP_MAX_HOST);
	if (after < end) {
		const char *p;

		if (*after != ':')
			return ae_set_message(ctx, AE_ERR_INVALID, "the URL %s has '%c' after its host", shown, *after);
		/* "host:" is allowed by RFC 3986 and means the default port. */
		if (after + 1 < end) {
			portnum = 0;
			for (p = after + 1; p < end; p++) {
				if (*p < '0' || *p > '9' || p - after > 5)
					return ae_set_message(ctx, AE_ERR_INVALID, "the URL %s has a malformed port",
					                      shown);
				portnum = portnum * 10 + (unsigned long)(*p - '0');
			}
			if (portnum < 1 || portnum > 65535)
				return ae_set_message(ctx, AE_ERR_INVALID, "the URL %s has port %lu, outside 1-65535",
				                      shown, portnum);
		}
	}
	snprintf(portstr, sizeof(portstr), "%lu", portnum);

	/* The fragment stays on the client; an empty path is "/". */
	frag = strchr(end, '#');
	if (frag == NULL)
		frag = url + len;
	host = strndup(hp, (size_t)(he - hp));
	port = strdup(portstr);
	if (*end == '/') {
		path = strndup(end, (size_t)(frag - end));
	} else if ((path = malloc((size_t)(frag - end) + 2)) != NULL) {
		path[0] = '/';
		memcpy(path + 1, end, (size_t)(frag - end));
		path[frag - end + 1] = '\0';
	}
	if (host == NULL || port == NULL || path == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	*host_out = host;
	*port_out = port;
	*path_out = path;
	host = port = path = NULL;
cleanup:
	free(host);
	free(port);
	free(path);
	return err;
}

/* --- HTTP responses --- */

typedef struct {
	size_t head_len;   /* status line and headers, blank line included */
	int status;
	bool has_length;
	size_t length;     /* Content-Length */
} http_head;

/* The offset just past the blank line that ends the head ("\r\n\r\n", or
 * bare "\n\n" from lax servers), searched within the first
 * AE_HTTP_MAX_HEAD bytes; 0 when there is none. */
static size_t
head_end(const uint8_t *data, size_t len)
{
	size_t n = len < AE_HTTP_MAX_HEAD ? len : AE_HTTP_MAX_HEAD;

	for (size_t i = 0; i + 1 < n; i++) {
		if (data[i] != '\n')
			continue;
		if (data[i + 1] == '\n')
			return i + 2;
		if (data[i + 1] == '\r' && i + 2 < n && data[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* Copies a header value or reason phrase for a message, printable only. */
static void
copy_shown(char *buf, size_t size, const uint8_t *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 1 < size; i++)
		buf[n++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	buf[n] = '\0';
}

static bool
header_is(const uint8_t *name, size_t len, const char *want)
{
	return len == strlen(want) && strncasecmp((const char *)name, want, len) == 0;
}

static ae_err
parse_length(ae_ctx *ctx, const uint8_t *v, size_t n, http_head *h)
{
	size_t length = 0;
	char shown[40];

	copy_shown(shown, sizeof(shown), v, n);
	if (n == 0)
		return ae_set_message(ctx, AE_ERR_INVALID, "the answer has an empty Content-Length");
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return ae_set_message(ctx, AE_ERR_INVALID, "the answer has a malformed Content-Length \"%s\"",
			                      shown);
		/* Stops before the product could overflow. */
		length = length * 10 + (size_t)(v[i] - '0');
		if (length > AE_HTTP_MAX_BODY)
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "the answer announces a body of more than %d MiB (Content-Length %s)",
			                      AE_HTTP_MAX_BODY / (1024 * 1024), shown);
	}
	/* Two different lengths: no way to tell which one is the body. */
	if (h->has_length && h->length != length)
		return ae_set_message(ctx, AE_ERR_INVALID, "the answer has two different Content-Length headers");
	h->has_length = true;
	h->length = length;
	return AE_OK;
}

/* Reads the status line and the headers that matter.  *MORE is set when
 * DATA ends before the head does (more bytes may still come). */
static ae_err
parse_head(ae_ctx *ctx, const uint8_t *data, size_t len, http_head *h, bool *more)
{
	size_t k = len < 9 ? len : 9, line_end, pos;
	const uint8_t *eol;
	char phrase[64];

	memset(h, 0, sizeof(*h));
	*more = false;
	if (len == 0) {
		*more = true;
		return ae_set_message(ctx, AE_ERR_INVALID, "the answer is empty");
	}
	if (memcmp(data, "HTTP/1.0 ", k) != 0 && memcmp(data, "HTTP/1.1 ", k) != 0)
		return ae_set_message(ctx, AE_ERR_INVALID, "the answer is not an HTTP/1.0 or HTTP/1.1 response");
	h->head_len = head_end(data, len);
	if (h->head_len == 0) {
		if (len >= AE_HTTP_MAX_HEAD)
			return ae_set_message(ctx, AE_ERR_INVALID, "the headers of the answer are longer than %d KiB",
			                      AE_HTTP_MAX_HEAD / 1024);
		*more = true;
		return ae_set_message(ctx, AE_ERR_INVALID, "the answer ends within its headers (%zu bytes)", len);
	}
	/* "HTTP/1.x NNN" then a space or the end of the line. */
	if (h->head_len < 13 || data[9] < '0' || data[9] > '9' || data[10] < '0' || data[10] > '9' ||
	    data[11] < '0' || data[11] > '9' || (data[12] != ' ' && data[12] != '\r' && data[12] != '\n'))
		return ae_set_message(ctx, AE_ERR_INVALID, "the answer has a malformed HTTP status line");
	h->status = (data[9] - '0') * 100 + (data[10] - '0') * 10 + (data[11] - '0');
	eol = memchr(data, '\n', h->head_len);
	line_end = (size_t)(eol - data);
	if (h->status != 200) {
		size_t ps = data[12] == ' ' ? 13 : 12, pe = line_end;
		ae_err code = AE_ERR_NETWORK;

		if (pe > ps && data[pe - 1] == '\r')
			pe--;
		copy_shown(phrase, sizeof(phrase), data + ps, pe > ps ? pe - ps : 0);
		if (h->status == 404 || h->status == 410)
			code = AE_ERR_NOTFOUND;
		else if (h->status == 401 || h->status == 403)
			code = AE_ERR_DENIED;
		return ae_set_message(ctx, code, "the server answered HTTP %d%s%s", h->status,
		                      phrase[0] != '\0' ? " " : "", phrase);
	}
	for (pos = line_end + 1; pos < h->head_len; pos = line_end + 1) {
		const uint8_t *line = data + pos, *colon, *v;
		size_t n, vn;

		eol = memchr(line, '\n', h->head_len - pos);
		line_end = (size_t)(eol - data); /* the head ends with a newline */
		n = line_end - pos;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		colon = memchr(line, ':', n);
		if (colon == NULL)
			continue; /* obsolete folding or junk: not a header we use */
		v = colon + 1;
		vn = n - (size_t)(v - line);
		while (vn > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vn--;
		}
		while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
			vn--;
		if (header_is(line, (size_t)(colon - line), "Content-Length")) {
			ae_err err = parse_length(ctx, v, vn, h);
			if (err != AE_OK)
				return err;
		} else if (header_is(line, (size_t)(colon - line), "Transfer-Encoding")) {
			char te[64];

			copy_shown(te, sizeof(te), v, vn);
			if (strcasecmp(te, "identity") == 0)
				continue;
			/* We ask in HTTP/1.0, which has no transfer codings. */
			if (strcasestr(te, "chunked") != NULL)
				return ae_set_message(ctx, AE_ERR_UNSUPPORTED,
				                      "the server sent the answer in chunked transfer encoding, which an HTTP/1.0 request does not accept");
			return ae_set_message(ctx, AE_ERR_UNSUPPORTED,
			                      "the server sent the answer in transfer encoding \"%s\"", te);
		}
	}
	return AE_OK;
}

ae_err
ae_http_parse_response(ae_ctx *ctx, const uint8_t *data, size_t len, const uint8_t **body,
                       size_t *body_len)
{
	http_head h;
	size_t rest;
	bool more;
	ae_err err;

	ae_return_val_if_fail(body != NULL && body_len != NULL && (data != NULL || len == 0), AE_ERR_INTERNAL);
	*body = NULL;
	*body_len = 0;
	err = parse_head(ctx, data, len, &h, &more);
	if (err != AE_OK)
		return err;
	rest = len - h.head_len;
	if (h.has_length) {
		if (h.length > rest)
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "the answer is truncated: Content-Length announces %zu bytes, %zu arrived",
			                      h.length, rest);
		rest = h.length;
	} else if (rest > AE_HTTP_MAX_BODY) {
		return ae_set_message(ctx, AE_ERR_INVALID, "the answer has a body of more than %d MiB",
		                      AE_HTTP_MAX_BODY / (1024 * 1024));
	}
	*body = data + h.head_len;
	*body_len = rest;
	return AE_OK;
}

/* True once RESP holds all we will read: the whole body announced by
 * Content-Length (some servers keep the connection open despite
 * "Connection: close"), or a head we will refuse anyway. */
static bool
response_complete(const ae_buf *resp)
{
	http_head h;
	bool more;

	if (parse_head(NULL, (const uint8_t *)resp->data, resp->len, &h, &more) != AE_OK)
		return !more;
	return h.has_length && resp->len - h.head_len >= h.length;
}

/* --- the download --- */

/* What one download needs for its messages and its deadlines. */
typedef struct {
	const char *shown;  /* the URL, for messages */
	const char *host;
	const char *port;
	int timeout;        /* seconds */
	char setting[512];  /* "crl_timeout in [global] of FILE" */
} fetch;

static ae_err
timeout_error(ae_ctx *ctx, const fetch *f, const char *what)
{
	return ae_set_message(ctx, AE_ERR_TIMEOUT, "the CRL at %s: %s within %d s (%s)", f->shown, what,
	                      f->timeout, f->setting);
}

/* Connects to F's host within one timeout for all its addresses: the whole
 * download has to stay bounded. */
static ae_err
tcp_connect(ae_ctx *ctx, const fetch *f, int *fd_out)
{
	int e = 0;

	switch (ae_net_connect(f->host, f->port, AI_NUMERICSERV, f->timeout, true, fd_out, &e)) {
	case AE_NET_OK:
		return AE_OK;
	case AE_NET_RESOLVE:
		if (e == EAI_MEMORY)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		return ae_set_message(ctx, AE_ERR_NETWORK, "the CRL at %s: cannot resolve %s: %s", f->shown, f->host,
		                      e == EAI_SYSTEM ? strerror(errno) : gai_strerror(e));
	case AE_NET_TIMEOUT:
		return timeout_error(ctx, f, "no connection");
	default:
		return ae_set_message(ctx, AE_ERR_NETWORK, "the CRL at %s: cannot connect to %s port %s: %s", f->shown,
		                      f->host, f->port, strerror(e));
	}
}

static ae_err
send_all(ae_ctx *ctx, const fetch *f, int fd, const char *buf, size_t len, double deadline)
{
	int e = 0;

	switch (ae_net_send_all(fd, buf, len, deadline, &e)) {
	case AE_NET_OK:
		return AE_OK;
	case AE_NET_TIMEOUT:
		return timeout_error(ctx, f, "the request could not be sent");
	default:
		return ae_set_message(ctx, AE_ERR_NETWORK, "the CRL at %s: sending the request: %s", f->shown,
		                      strerror(e));
	}
}

/* Reads until the server closes or the answer is complete, at most
 * head + 16 MiB, all before DEADLINE. */
static ae_err
recv_response(ae_ctx *ctx, const fetch *f, int fd, ae_buf *resp, double deadline)
{
	const size_t cap = (size_t)AE_HTTP_MAX_HEAD + AE_HTTP_MAX_BODY;
	uint8_t chunk[16384];

	while (!response_complete(resp)) {
		size_t got = 0;
		int e = 0;
		switch (ae_net_recv_some(fd, chunk, sizeof(chunk), deadline, &got, &e)) {
		case AE_NET_OK:
			break;
		case AE_NET_CLOSED:
			return AE_OK;
		case AE_NET_TIMEOUT:
			return timeout_error(ctx, f, resp->len > 0 ? "the answer did not complete" : "no answer");
		default:
			return ae_set_message(ctx, AE_ERR_NETWORK, "the CRL at %s: reading the answer: %s", f->shown,
			                      strerror(e));
		}
		if (got > cap - resp->len)
			return ae_set_message(ctx, AE_ERR_INVALID, "the CRL at %s: the answer is larger than %d MiB",
			                      f->shown, AE_HTTP_MAX_BODY / (1024 * 1024));
		ae_buf_append(resp, chunk, got);
		if (resp->failed)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	return AE_OK;
}

/* GETs URL into RESP (the whole HTTP answer, unparsed). */
static ae_err
http_get(ae_ctx *ctx, const ae_conf *conf, const char *url, const char *shown, ae_buf *resp)
{
	char *host = NULL, *port = NULL, *path = NULL;
	ae_buf req;
	double deadline;
	fetch f;
	int fd = -1;
	ae_err err;

	ae_buf_init(&req);
	err = ae_http_split_url(ctx, url, &host, &port, &path);
	if (err != AE_OK)
		goto cleanup;
	memset(&f, 0, sizeof(f));
	f.shown = shown;
	f.host = host;
	f.port = port;
	f.timeout = conf != NULL && conf->crl_timeout > 0 ? conf->crl_timeout : 15;
	ae_conf_setting(conf, "global", "crl_timeout", f.setting, sizeof(f.setting));

	ae_log(ctx, AE_LOG_DEBUG, "fetching the CRL at %s", shown);
	err = tcp_connect(ctx, &f, &fd);
	if (err != AE_OK)
		goto cleanup;
	/* One timeout for sending and for the whole answer: a server that
	 * trickles bytes must not hold us longer than one that sends none. */
	deadline = ae_monotonic_seconds() + f.timeout;
	ae_buf_printf(&req, "GET %s HTTP/1.0\r\nHost: %s%s%s", path, strchr(host, ':') != NULL ? "[" : "",
	              host, strchr(host, ':') != NULL ? "]" : "");
	if (strcmp(port, "80") != 0)
		ae_buf_printf(&req, ":%s", port);
	ae_buf_puts(&req, "\r\nAccept: application/pkix-crl, */*\r\nConnection: close\r\n"
	                  "User-Agent: autoenroll\r\n\r\n");
	if (req.failed) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	err = send_all(ctx, &f, fd, req.data, req.len, deadline);
	if (err != AE_OK)
		goto cleanup;
	err = recv_response(ctx, &f, fd, resp, deadline);
cleanup:
	if (fd >= 0)
		close(fd);
	ae_buf_clear(&req);
	free(host);
	free(port);
	free(path);
	return err;
}

/* --- the certificate and the CRL --- */

/* The first http:// URI of the CDP extension, or AE_ERR_NOTFOUND. */
static ae_err
find_cdp(ae_ctx *ctx, X509 *cert, char **url_out)
{
	CRL_DIST_POINTS *dps;
	int crit = -1;
	ae_err err = AE_ERR_NOTFOUND;

	*url_out = NULL;
	dps = X509_get_ext_d2i(cert, NID_crl_distribution_points, &crit, NULL);
	if (dps == NULL) {
		if (crit == -1)
			return ae_set_message(ctx, AE_ERR_NOTFOUND,
			                      "the certificate names no http CRL distribution point");
		return ae_set_message(ctx, AE_ERR_INVALID, "the certificate has %s CRL distribution points extension",
		                      crit == -2 ? "more than one" : "an unreadable");
	}
	for (int i = 0; i < sk_DIST_POINT_num(dps) && *url_out == NULL; i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
		GENERAL_NAMES *names;

		/* A point for some reasons only, or for a CRL another issuer
		 * signs, cannot tell us that the certificate is good. */
		if (dp->distpoint == NULL || dp->distpoint->type != 0 || dp->reasons != NULL ||
		    dp->CRLissuer != NULL)
			continue;
		names = dp->distpoint->name.fullname;
		for (int j = 0; j < sk_GENERAL_NAME_num(names); j++) {
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, j);
			const unsigned char *s;
			int n;

			if (gn->type != GEN_URI)
				continue;
			s = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
			n = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
			/* ldap:// and file:// are skipped; an embedded NUL would
			 * cut the URL we check from the one the CA meant. */
			if (n < 7 || strncasecmp((const char *)s, "http://", 7) != 0 ||
			    memchr(s, '\0', (size_t)n) != NULL)
				continue;
			*url_out = strndup((const char *)s, (size_t)n);
			err = *url_out != NULL ? AE_OK : ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			break;
		}
	}
	CRL_DIST_POINTS_free(dps);
	if (err == AE_ERR_NOTFOUND)
		ae_set_message(ctx, err, "the certificate names no http CRL distribution point");
	return err;
}

/* "2024-05-01 12:00:00 UTC", or "an unreadable date". */
static const char *
format_time(const ASN1_TIME *t, char *buf, size_t size)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "an unreadable date");
	return buf;
}

/* DER as RFC 5280 says a CDP serves; PEM because some servers do. */
static ae_err
crl_decode(ae_ctx *ctx, const uint8_t *body, size_t len, const char *shown, X509_CRL **out)
{
	const unsigned char *p = body;
	X509_CRL *crl = NULL;

	*out = NULL;
	if (len > 0 && len <= AE_HTTP_MAX_BODY)
		crl = d2i_X509_CRL(NULL, &p, (long)len);
	if (crl != NULL && p != body + len) {
		X509_CRL_free(crl);
		crl = NULL;
	}
	if (crl == NULL && len > 0 && len <= AE_HTTP_MAX_BODY) {
		BIO *bio = BIO_new_mem_buf(body, (int)len);
		if (bio == NULL) {
			ERR_clear_error();
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
		crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	ERR_clear_error();
	if (crl == NULL)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "the CRL at %s: the server sent %zu bytes that are not a CRL", shown, len);
	*out = crl;
	return AE_OK;
}

/* Issuer name, signature by ISSUER's key, and dates against NOW. */
static ae_err
crl_usable(ae_ctx *ctx, X509_CRL *crl, X509 *issuer, time_t now, const char *shown)
{
	const ASN1_TIME *this_update = X509_CRL_get0_lastUpdate(crl);
	const ASN1_TIME *next_update = X509_CRL_get0_nextUpdate(crl);
	EVP_PKEY *key = X509_get0_pubkey(issuer);
	char when[64], *a = NULL, *b = NULL;
	ae_err err = AE_OK;

	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0) {
		a = ae_x509_name_string(X509_CRL_get_issuer(crl));
		b = ae_x509_name_string(X509_get_subject_name(issuer));
		if (a == NULL || b == NULL)
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		else
			err = ae_set_message(ctx, AE_ERR_CRYPTO,
			                     "the CRL at %s is issued by \"%s\", not by the certificate's issuer \"%s\"",
			                     shown, a, b);
		goto cleanup;
	}
	if (key == NULL || X509_CRL_verify(crl, key) != 1) {
		ERR_clear_error();
		err = ae_set_message(ctx, AE_ERR_CRYPTO,
		                     "the CRL at %s is not signed by the key of the certificate's issuer", shown);
		goto cleanup;
	}
	/* A delta CRL lists only what changed since its base: absence from it
	 * says nothing. */
	if (X509_CRL_get_ext_by_NID(crl, NID_delta_crl, -1) >= 0) {
		err = ae_set_message(ctx, AE_ERR_UNSUPPORTED, "the CRL at %s is a delta CRL, not a full one", shown);
		goto cleanup;
	}
	if (this_update == NULL || ASN1_TIME_cmp_time_t(this_update, now + AE_CRL_MAX_SKEW) != -1) {
		err = ae_set_message(ctx, AE_ERR_CRYPTO,
		                     "the CRL at %s is not valid yet (thisUpdate %s): check this computer's clock",
		                     shown, format_time(this_update, when, sizeof(when)));
		goto cleanup;
	}
	/* No nextUpdate breaks RFC 5280 but promises nothing false: accepted. */
	if (next_update != NULL && ASN1_TIME_cmp_time_t(next_update, now) != 1) {
		err = ae_set_message(ctx, AE_ERR_CRYPTO,
		                     "the CRL at %s expired at %s: the CA has not published a newer one there",
		                     shown, format_time(next_update, when, sizeof(when)));
		goto cleanup;
	}
cleanup:
	free(a);
	free(b);
	return err;
}

static const char *
reason_name(long code)
{
	/* RFC 5280 5.3.1 CRLReason; 7 is not used. */
	static const char *const names[] = {
		"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
		"cessationOfOperation", "certificateHold", NULL, "removeFromCRL", "privilegeWithdrawn",
		"aACompromise",
	};
	if (code < 0 || code >= (long)(sizeof(names) / sizeof(names[0])) || names[code] == NULL)
		return NULL;
	return names[code];
}

/* Looks CERT's serial up in CRL: REVOKED with its date and reason, or GOOD. */
static ae_err
crl_lookup(ae_ctx *ctx, X509_CRL *crl, X509 *cert, const char *shown, ae_revocation *out, char **reason_out)
{
	X509_REVOKED *rev = NULL;
	ASN1_ENUMERATED *code;
	ae_buf b;
	char when[64], num[24];
	const char *name = NULL;
	int crit = -1;

	*out = AE_REVOCATION_GOOD;
	*reason_out = NULL;
	/* 2 is an entry "removed from CRL", which only a delta CRL carries. */
	if (X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(cert)) != 1 || rev == NULL)
		return AE_OK;
	code = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
	if (code != NULL) {
		long v = ASN1_ENUMERATED_get(code);
		name = reason_name(v);
		if (name == NULL) {
			snprintf(num, sizeof(num), "code %ld", v);
			name = num;
		}
		ASN1_ENUMERATED_free(code);
	}
	ERR_clear_error();
	ae_buf_init(&b);
	ae_buf_printf(&b, "revoked on %s", format_time(X509_REVOKED_get0_revocationDate(rev), when, sizeof(when)));
	if (name != NULL)
		ae_buf_printf(&b, " (reason: %s)", name);
	ae_buf_printf(&b, " according to %s", shown);
	*reason_out = ae_buf_steal(&b);
	if (*reason_out == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	*out = AE_REVOCATION_REVOKED;
	return AE_OK;
}

/* The whole check; any error but AE_ERR_NOMEM becomes UNKNOWN above. */
static ae_err
check(ae_ctx *ctx, const ae_conf *conf, X509 *cert, X509 *issuer, time_t now, ae_revocation *out,
      char **reason_out)
{
	char *url = NULL, shown[AE_URL_SHOWN];
	const uint8_t *body;
	size_t body_len;
	X509_CRL *crl = NULL;
	ae_buf resp;
	ae_err err;

	ae_buf_init(&resp);
	err = find_cdp(ctx, cert, &url);
	if (err != AE_OK)
		goto cleanup;
	url_shown(url, shown, sizeof(shown));
	if (X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(issuer)) != 0) {
		err = ae_set_message(ctx, AE_ERR_INTERNAL, "the certificate is not issued by the CA given to check it");
		goto cleanup;
	}
	err = http_get(ctx, conf, url, shown, &resp);
	if (err != AE_OK)
		goto cleanup;
	err = ae_http_parse_response(ctx, (const uint8_t *)resp.data, resp.len, &body, &body_len);
	if (err != AE_OK) {
		err = ae_prefix_message(ctx, err, "the CRL at %s", shown);
		goto cleanup;
	}
	err = crl_decode(ctx, body, body_len, shown, &crl);
	if (err != AE_OK)
		goto cleanup;
	err = crl_usable(ctx, crl, issuer, now, shown);
	if (err != AE_OK)
		goto cleanup;
	err = crl_lookup(ctx, crl, cert, shown, out, reason_out);
cleanup:
	X509_CRL_free(crl);
	ae_buf_clear(&resp);
	free(url);
	return err;
}

ae_err
ae_crl_check(ae_ctx *ctx, const ae_conf *conf, X509 *cert, X509 *issuer, time_t now,
             ae_revocation *out, char **reason_out)
{
	ae_revocation result = AE_REVOCATION_UNKNOWN;
	char *reason = NULL;
	ae_err err;

	ae_return_val_if_fail(cert != NULL && issuer != NULL && out != NULL, AE_ERR_INTERNAL);
	*out = AE_REVOCATION_UNKNOWN;
	if (reason_out != NULL)
		*reason_out = NULL;
	err = check(ctx, conf, cert, issuer, now, &result, &reason);
	if (err == AE_ERR_NOMEM)
		return err;
	if (err != AE_OK) {
		/* The whitepaper: revocation errors are ignored when the status
		 * is offline; the caller decides, with the reason in hand. */
		result = AE_REVOCATION_UNKNOWN;
		reason = strdup(ae_get_message(ctx));
		if (reason == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		ae_log(ctx, AE_LOG_DEBUG, "revocation status unknown: %s", reason);
		ae_clear_message(ctx);
	}
	*out = result;
	if (reason_out != NULL)
		*reason_out = reason;
	else
		free(reason);
	return AE_OK;
}
