/*
 * test-dns.c - SRV answer parsing: ordering, root targets, and malformed
 * responses (every truncation of a real-shaped answer).
 */
#include "config.h"

#include "dns.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	uint8_t b[2048];
	size_t n;
} msg;

static void put8(msg *m, unsigned v) { m->b[m->n++] = (uint8_t)v; }
static void put16(msg *m, unsigned v) { put8(m, v >> 8); put8(m, v & 0xff); }
static void put32(msg *m, uint32_t v) { put16(m, v >> 16); put16(m, v & 0xffff); }

static void
put_name(msg *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		put8(m, (unsigned)l);
		memcpy(m->b + m->n, name, l);
		m->n += l;
		name += l + (dot ? 1 : 0);
	}
	put8(m, 0);
}

static void
put_srv(msg *m, unsigned prio, unsigned weight, unsigned port, const char *target)
{
	size_t rdlen_at;
	put16(m, 0xc00c); /* name: pointer to the question */
	put16(m, 33);
	put16(m, 1);
	put32(m, 600);
	rdlen_at = m->n;
	put16(m, 0);
	put16(m, prio);
	put16(m, weight);
	put16(m, port);
	put_name(m, target);
	m->b[rdlen_at] = (uint8_t)((m->n - rdlen_at - 2) >> 8);
	m->b[rdlen_at + 1] = (uint8_t)((m->n - rdlen_at - 2) & 0xff);
}

static void
header(msg *m, unsigned answers)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, 0x8180);
	put16(m, 1);
	put16(m, answers);
	put16(m, 0);
	put16(m, 0);
	put_name(m, "_ldap._tcp.dc._msdcs.corp.test");
	put16(m, 33);
	put16(m, 1);
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_srv *srv = NULL;
	size_t n = 0;
	msg m;
	ae_err err;

	header(&m, 3);
	put_srv(&m, 10, 50, 389, "dc2.corp.test");
	put_srv(&m, 0, 100, 389, "dc1.corp.test");
	put_srv(&m, 10, 80, 3268, "dc3.corp.test");
	err = ae_dns_parse_srv(ctx, m.b, m.n, &srv, &n);
	tap_ok(err == AE_OK && n == 3, "three SRV records parsed");
	if (n == 3) {
		tap_is_str(srv[0].host, "dc1.corp.test", "lowest priority first");
		tap_is_str(srv[1].host, "dc3.corp.test", "then heavier weight");
		tap_is_str(srv[2].host, "dc2.corp.test", "then lighter weight");
		tap_is_int(srv[1].port, 3268, "port");
		tap_is_int(srv[0].priority, 0, "priority");
	}
	ae_srv_free(srv, n);

	header(&m, 1);
	put_srv(&m, 0, 0, 389, "");
	err = ae_dns_parse_srv(ctx, m.b, m.n, &srv, &n);
	tap_ok(err == AE_OK && n == 0, "a root target (\".\") means no service: skipped");
	ae_srv_free(srv, n);

	/* Every truncation of a valid answer fails cleanly or parses less. */
	header(&m, 2);
	put_srv(&m, 0, 100, 389, "dc1.corp.test");
	put_srv(&m, 5, 100, 389, "dc2.corp.test");
	{
		int clean = 1;
		for (size_t len = 0; len < m.n; len++) {
			err = ae_dns_parse_srv(ctx, m.b, len, &srv, &n);
			if (err == AE_OK && n > 2)
				clean = 0;
			if (err != AE_OK && (srv != NULL || n != 0))
				clean = 0;
			ae_srv_free(srv, n);
			srv = NULL;
			n = 0;
		}
		tap_ok(clean, "all %zu truncations handled without output on error", m.n);
	}
	err = ae_dns_parse_srv(ctx, m.b, 5, &srv, &n);
	tap_ok(err == AE_ERR_INVALID && strstr(ae_get_message(ctx), "malformed DNS response"),
	       "a 5-byte response is reported as malformed");

	/* An SRV record whose data is too short for priority/weight/port. */
	header(&m, 1);
	put16(&m, 0xc00c);
	put16(&m, 33);
	put16(&m, 1);
	put32(&m, 600);
	put16(&m, 3);
	put8(&m, 0);
	put8(&m, 0);
	put8(&m, 0);
	err = ae_dns_parse_srv(ctx, m.b, m.n, &srv, &n);
	tap_ok(err == AE_ERR_INVALID && strstr(ae_get_message(ctx), "too short"),
	       "short SRV rdata rejected: %s", ae_get_message(ctx));

	/* A compression loop in the target name. */
	header(&m, 1);
	put16(&m, 0xc00c);
	put16(&m, 33);
	put16(&m, 1);
	put32(&m, 600);
	put16(&m, 8);
	put16(&m, 0);
	put16(&m, 0);
	put16(&m, 389);
	put16(&m, (unsigned)(0xc000 | (m.n)));
	err = ae_dns_parse_srv(ctx, m.b, m.n, &srv, &n);
	tap_ok(err == AE_ERR_INVALID, "self-referencing compression pointer rejected");

	ae_ctx_free(ctx);
	return tap_done();
}
