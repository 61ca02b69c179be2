/*
 * fuzz-http.c - what a CRL distribution point gives us, on arbitrary
 * bytes: the HTTP answer of its server, and its URL (from a certificate).
 * The same input is fed to both.
 */
#include "config.h"

#include "crl.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	const uint8_t *body = NULL;
	size_t body_len = 0;
	char *url = NULL, *host = NULL, *port = NULL, *path = NULL;

	if (ctx == NULL)
		return 0;
	if (ae_http_parse_response(ctx, data, size, &body, &body_len) == AE_OK) {
		if (body == NULL || body < data || body_len > size || (size_t)(body - data) > size - body_len)
			__builtin_trap(); /* the body lies within the input */
	} else if (body != NULL || body_len != 0) {
		__builtin_trap(); /* outputs stay empty on error */
	}

	/* The URL is a C string: a copy with its NUL (a NUL inside ends it
	 * early, as it would for the caller). */
	url = malloc(size + 1);
	if (url != NULL) {
		memcpy(url, data, size);
		url[size] = '\0';
		if (ae_http_split_url(ctx, url, &host, &port, &path) == AE_OK) {
			unsigned long p;
			char *end;

			if (host == NULL || port == NULL || path == NULL || host[0] == '\0' || path[0] != '/')
				__builtin_trap();
			p = strtoul(port, &end, 10);
			if (*end != '\0' || p < 1 || p > 65535)
				__builtin_trap(); /* a port we can hand to getaddrinfo */
			if (strpbrk(path, " \r\n") != NULL || strpbrk(host, " \r\n/@") != NULL)
				__builtin_trap(); /* nothing that could split the request line */
		} else if (host != NULL || port != NULL || path != NULL) {
			__builtin_trap();
		}
	}
	free(host);
	free(port);
	free(path);
	free(url);
	ae_ctx_free(ctx);
	return 0;
}
