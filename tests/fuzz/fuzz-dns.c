/*
 * fuzz-dns.c - DNS SRV response parser on arbitrary bytes (what a DNS
 * server, or anyone spoofing one, can send).
 */
#include "config.h"

#include "dns.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_srv *srv = NULL;
	size_t n = 0;

	if (ctx == NULL)
		return 0;
	if (ae_dns_parse_srv(ctx, data, size, &srv, &n) == AE_OK) {
		for (size_t i = 0; i < n; i++)
			if (srv[i].host == NULL || srv[i].host[0] == '\0')
				__builtin_trap();
	} else if (srv != NULL || n != 0) {
		__builtin_trap();
	}
	ae_srv_free(srv, n);
	ae_ctx_free(ctx);
	return 0;
}
