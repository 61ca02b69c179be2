/*
 * dns.c - SRV lookups with libresolv (res_nquery), bounded in time.
 */
#include "config.h"

#include "dns.h"
#include "util.h"

#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


void
ae_srv_free(ae_srv *srv, size_t count)
{
	for (size_t i = 0; srv != NULL && i < count; i++)
		free(srv[i].host);
	free(srv);
}

static int
srv_cmp(const void *a, const void *b)
{
	const ae_srv *x = a, *y = b;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	return strcmp(x->host, y->host);
}

ae_err
ae_dns_parse_srv(ae_ctx *ctx, const uint8_t *msg, size_t len, ae_srv **out, size_t *count)
{
	ns_msg handle;
	ae_srv *list = NULL;
	size_t n = 0;
	int answers;
	ae_err err;

	*out = NULL;
	*count = 0;
	if (len > 65535 || ns_initparse(msg, (int)len, &handle) < 0)
		return ae_set_message(ctx, AE_ERR_INVALID, "malformed DNS response (%zu bytes)", len);
	answers = ns_msg_count(handle, ns_s_an);
	if (answers > 0) {
		list = calloc((size_t)answers, sizeof(*list));
		if (list == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < answers; i++) {
		ns_rr rr;
		char name[NS_MAXDNAME];
		const uint8_t *rd;
		size_t l;

		if (ns_parserr(&handle, ns_s_an, i, &rr) < 0) {
			err = ae_set_message(ctx, AE_ERR_INVALID, "malformed DNS answer record %d", i);
			goto fail;
		}
		if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in)
			continue; /* e.g. a CNAME on the way */
		if (ns_rr_rdlen(rr) < 7) {
			err = ae_set_message(ctx, AE_ERR_INVALID, "SRV record %d is %u bytes, too short",
			                     i, ns_rr_rdlen(rr));
			goto fail;
		}
		rd = ns_rr_rdata(rr);
		if (ns_name_uncompress(ns_msg_base(handle), ns_msg_end(handle), rd + 6,
		                       name, sizeof(name)) < 0) {
			err = ae_set_message(ctx, AE_ERR_INVALID, "SRV record %d has a malformed target", i);
			goto fail;
		}
		l = strlen(name);
		if (l > 0 && name[l - 1] == '.')
			name[--l] = '\0';
		if (l == 0 || strcmp(name, ".") == 0)
			continue; /* "." means: service not available here */
		list[n].priority = (uint16_t)(rd[0] << 8 | rd[1]);
		list[n].weight = (uint16_t)(rd[2] << 8 | rd[3]);
		list[n].port = (uint16_t)(rd[4] << 8 | rd[5]);
		list[n].host = strdup(name);
		if (list[n].host == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto fail;
		}
		n++;
	}
	if (n > 1)
		qsort(list, n, sizeof(*list), srv_cmp);
	*out = list;
	*count = n;
	return AE_OK;
fail:
	ae_srv_free(list, n);
	return err;
}

ae_err
ae_dns_srv(ae_ctx *ctx, const char *name, int timeout, const char *timeout_setting,
           ae_srv **out, size_t *count)
{
	struct __res_state rs;
	uint8_t answer[8192];
	double start;
	int len;
	ae_err err;

	*out = NULL;
	*count = 0;
	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) != 0)
		return ae_set_message(ctx, AE_ERR_NETWORK, "cannot initialise the DNS resolver (check /etc/resolv.conf)");
	/* One try and one retry, each bounded: a silent DNS server costs at
	 * most 2 * timeout per configured name server. */
	rs.retrans = timeout;
	rs.retry = 2;
	start = ae_monotonic_seconds();
	len = res_nquery(&rs, name, ns_c_in, ns_t_srv, answer, sizeof(answer));
	if (len < 0) {
		switch (rs.res_h_errno) {
		case HOST_NOT_FOUND:
		case NO_DATA:
			err = ae_set_message(ctx, AE_ERR_NOTFOUND,
			                     "DNS has no SRV record %s (check the domain, and that /etc/resolv.conf points at the domain's DNS servers)",
			                     name);
			break;
		case TRY_AGAIN:
			/* Both a silent server and a SERVFAIL answer end here; only
			 * the clock tells them apart. */
			if (ae_monotonic_seconds() - start >= timeout)
				err = ae_set_message(ctx, AE_ERR_TIMEOUT,
				                     "no answer from the DNS servers for %s within %d s per try (%s)",
				                     name, timeout, timeout_setting);
			else
				err = ae_set_message(ctx, AE_ERR_NOTFOUND,
				                     "the DNS servers could not resolve %s (server failure): check the domain name and that /etc/resolv.conf points at the domain's DNS servers",
				                     name);
			break;
		default:
			err = ae_set_message(ctx, AE_ERR_NETWORK, "DNS lookup of %s failed (%s)",
			                     name, hstrerror(rs.res_h_errno));
			break;
		}
		res_nclose(&rs);
		return err;
	}
	res_nclose(&rs);
	if ((size_t)len > sizeof(answer))
		len = sizeof(answer); /* truncated answer: parse what fits */
	err = ae_dns_parse_srv(ctx, answer, (size_t)len, out, count);
	if (err != AE_OK)
		return ae_prefix_message(ctx, err, "SRV lookup of %s", name);
	if (*count == 0)
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "DNS has no usable SRV record %s", name);
	return AE_OK;
}
