/*
 * dns.h - DC discovery through DNS SRV records (RFC 2782), as Windows
 * clients find domain controllers: _ldap._tcp.dc._msdcs.<domain>.
 */
#ifndef AE_DNS_H
#define AE_DNS_H

#include "error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
	char *host;       /* target, without the trailing dot */
	uint16_t port;
	uint16_t priority;
	uint16_t weight;
} ae_srv;

/* Queries NAME for SRV records with TIMEOUT seconds per try (one retry).
 * *OUT is an array of *COUNT records sorted by priority, then by weight
 * (heaviest first); free with ae_srv_free.  TIMEOUT_SETTING names the
 * knob in messages. */
ae_err ae_dns_srv(ae_ctx *ctx, const char *name, int timeout, const char *timeout_setting,
                  ae_srv **out, size_t *count);
/* Parses a DNS response MSG (untrusted) for SRV answers. */
ae_err ae_dns_parse_srv(ae_ctx *ctx, const uint8_t *msg, size_t len, ae_srv **out, size_t *count);
void ae_srv_free(ae_srv *srv, size_t count);

#endif
