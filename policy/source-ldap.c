/*
 * source-ldap.c - the "LDAP:" policy source: the enrollment policy as
 * Active Directory publishes it (MS-WCCE 3.1.1.4.1; shared/reference
 * ad-data.md), read over LDAP sealed with Kerberos.
 */
#include "config.h"

#include "dns.h"
#include "krb.h"
#include "ldap-place.h"
#include "ldapconn.h"
#include "source.h"
#include "transport.h"
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
	const ae_conf *conf;
	ae_krb *krb;
	ae_ldap *ld;
} ldap_source;

static char *
lower_dup(const char *s)
{
	char *d = strdup(s);
	for (char *p = d; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

/* Connects to the first DC that answers: configured servers, else SRV. */
static ae_err
connect_dc(ae_ctx *ctx, const ae_conf *conf, const char *domain, ae_ldap **out)
{
	char **hosts = NULL;
	ae_srv *srv = NULL;
	size_t nsrv = 0;
	char name[512], setting[512];
	ae_buf tried;
	ae_err err = AE_OK;

	*out = NULL;
	ae_buf_init(&tried);
	if (conf->servers != NULL) {
		hosts = ae_strv_dup(conf->servers);
	} else {
		snprintf(name, sizeof(name), "_ldap._tcp.dc._msdcs.%s", domain);
		err = ae_dns_srv(ctx, name, conf->dns_timeout,
		                 ae_conf_setting(conf, "global", "dns_timeout", setting, sizeof(setting)),
		                 &srv, &nsrv);
		if (err != AE_OK)
			return ae_prefix_message(ctx, err, "no domain controller found for %s", domain);
		for (size_t i = 0; i < nsrv; i++)
			if (!ae_strv_append(&hosts, srv[i].host))
				break;
		ae_srv_free(srv, nsrv);
	}
	if (hosts == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; hosts[i] != NULL; i++) {
		bool unproven = false;

		err = ae_ldap_connect_dc(ctx, conf, hosts[i], out, &unproven);
		if (err == AE_OK)
			break;
		/* Kerberos and policy refusals would repeat on every DC; a host
		 * that is no DC (DNS sent us there) says nothing of the others. */
		if (err != AE_ERR_NETWORK && err != AE_ERR_TIMEOUT && !unproven)
			break;
		if (hosts[i + 1] != NULL)
			ae_log(ctx, AE_LOG_WARNING, "%s; trying %s", ae_get_message(ctx), hosts[i + 1]);
		ae_buf_printf(&tried, "%s%s", tried.len ? ", " : "", hosts[i]);
	}
	if (err != AE_OK && ae_strv_len(hosts) > 1 && (err == AE_ERR_NETWORK || err == AE_ERR_TIMEOUT))
		ae_prefix_message(ctx, err, "no domain controller of %s answered (tried %s); last",
		                  domain, tried.data ? tried.data : "");
	ae_buf_clear(&tried);
	ae_strv_free(hosts);
	return err;
}

/* The policy ID: the forest root domain's objectGUID as Windows writes a
 * GUID.  The rootDSE gave it with the extended-DN control; a DC that
 * ignores the control costs a search of its own. */
static ae_err
read_policy_id(ae_ctx *ctx, ae_ldap *ld, char **out)
{
	static const char *const attrs[] = { "objectGUID", NULL };
	ae_ldap_result res = { 0 };
	const ae_attr *g;
	ae_err err;

	*out = NULL;
	if (ae_ldap_root_domain_guid(ld) != NULL) {
		*out = ae_strdup_printf("{%s}", ae_ldap_root_domain_guid(ld));
		return *out != NULL ? AE_OK : ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	err = ae_ldap_search(ctx, ld, ae_ldap_root_domain_nc(ld), "base", "(objectClass=*)", attrs, 0, &res);
	if (err != AE_OK)
		return err;
	g = res.count ? ae_entry_get(&res.entries[0], "objectGUID") : NULL;
	if (g != NULL && g->nvalues > 0 && g->values[0].len == 16) {
		const uint8_t *b = g->values[0].data;
		/* Windows GUID text: the first three fields are little-endian. */
		*out = ae_strdup_printf("{%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X}",
		                 b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9],
		                 b[10], b[11], b[12], b[13], b[14], b[15]);
	}
	ae_ldap_result_free(&res);
	return AE_OK;
}

/* Everything the policy needs from the configuration NC in one paged
 * search, SD flags asking for the DACL only: the templates, enrollment
 * services, roots, AIA, NTAuth and OIDs under CN=Public Key Services, and
 * the domain's crossRef (its NetBIOS name, for the caller's name).  The
 * entries are then taken by their place (ldap-place.h). */
static ae_err
read_config(ae_ctx *ctx, ae_ldap *ld, ae_policy *p, char **netbios)
{
	const char *attrs[64];
	ae_ldap_result res = { 0 };
	char *nc = NULL, *filter = NULL;
	ae_err err;

	*netbios = NULL;
	ae_ldap_place_attributes(attrs, sizeof(attrs) / sizeof(attrs[0]));
	nc = ae_ldap_escape(ae_ldap_default_nc(ld));
	filter = nc ? ae_strdup_printf("(|(objectClass=pKICertificateTemplate)(objectClass=pKIEnrollmentService)"
	                               "(objectClass=certificationAuthority)(objectClass=msPKI-Enterprise-Oid)"
	                               "(&(objectClass=crossRef)(nCName=%s)))", nc)
	            : NULL;
	if (filter == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	err = ae_ldap_search(ctx, ld, ae_ldap_config_nc(ld), "sub", filter, attrs, AE_LDAP_SD_DACL, &res);
	if (err != AE_OK)
		goto cleanup;
	err = ae_ldap_place(ctx, ae_ldap_config_nc(ld), ae_ldap_default_nc(ld), res.entries, res.count, p, netbios);
	if (err != AE_OK)
		goto cleanup;
	ae_pki_validate(ctx, &p->pki, ae_now_shifted() ? (time_t)ae_now() : 0);
cleanup:
	ae_ldap_result_free(&res);
	free(nc);
	free(filter);
	return err;
}

/* The domain: configured, else the Kerberos realm; caller frees. */
static char *
source_domain(ae_ctx *ctx, const ldap_source *ls)
{
	char *domain = lower_dup(ls->conf->domain != NULL ? ls->conf->domain : ae_krb_realm(ls->krb));

	if (domain == NULL)
		ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	return domain;
}

/* The session, bound at the first need. */
static ae_err
session(ae_ctx *ctx, ldap_source *ls, const char *domain)
{
	ae_err err;

	if (ls->ld != NULL)
		return AE_OK;
	if ((err = connect_dc(ctx, ls->conf, domain, &ls->ld)) != AE_OK)
		return err;
	ae_log(ctx, AE_LOG_DEBUG, "bound to %s as %s (SSF %d)", ae_ldap_host(ls->ld), ae_krb_principal(ls->krb),
	       ae_ldap_ssf(ls->ld));
	return AE_OK;
}

static ae_err
ldap_read(ae_ctx *ctx, ae_policy_source *src, ae_context context, ae_policy **out)
{
	ldap_source *ls = src->data;
	ae_policy *p = NULL;
	char *domain = NULL, *netbios = NULL, *host_sam = NULL;
	ae_err err;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	p->context = context;

	if ((domain = source_domain(ctx, ls)) == NULL) {
		err = AE_ERR_NOMEM;
		goto cleanup;
	}
	if ((err = session(ctx, ls, domain)) != AE_OK)
		goto cleanup;

	p->url = strdup("LDAP:");
	p->friendly_name = strdup("Active Directory Enrollment Policy");
	p->domain = strdup(domain);
	p->origin.server = strdup(ae_ldap_host(ls->ld));
	p->origin.config_nc = strdup(ae_ldap_config_nc(ls->ld));
	p->principal = strdup(ae_krb_principal(ls->krb));
	p->origin.ssf = ae_ldap_ssf(ls->ld);
	if (!p->url || !p->friendly_name || !p->domain || !p->origin.server || !p->origin.config_nc ||
	    !p->principal) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if ((err = read_policy_id(ctx, ls->ld, &p->policy_id)) != AE_OK)
		goto cleanup;
	if ((err = read_config(ctx, ls->ld, p, &netbios)) != AE_OK)
		goto cleanup;
	if (context != AE_CONTEXT_MACHINE && (host_sam = ae_krb_host_account(ls->conf)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	err = ae_account_lookup(ctx, ls->ld, ae_krb_account(ls->krb), context == AE_CONTEXT_MACHINE, netbios,
	                        host_sam, &p->account);
	if (err != AE_OK) {
		err = ae_prefix_message(ctx, err, "looking up %s", ae_krb_principal(ls->krb));
		goto cleanup;
	}
	/* Enrollment services in AD are reached over MS-ICPR (DCOM, which
	 * Windows tries first, is not there yet). */
	for (size_t i = 0; i < p->pki.ca_count; i++)
		p->pki.cas[i].transport = &ae_transport_icpr;
	p->origin.round_trips = ae_ldap_round_trips(ls->ld);
	ae_log(ctx, AE_LOG_DEBUG,
	       "policy read from %s in %u LDAP round trips (SASL/%s): %zu templates, %zu enrollment services, %d roots, %d AIA, %d NTAuth, %zu OIDs",
	       ae_ldap_host(ls->ld), p->origin.round_trips, ae_ldap_mechanism(ls->ld), p->template_count,
	       p->pki.ca_count, sk_X509_num(p->pki.roots), sk_X509_num(p->pki.intermediates),
	       sk_X509_num(p->pki.ntauth), p->oid_count);
	*out = p;
	p = NULL;
cleanup:
	free(domain);
	free(host_sam);
	free(netbios);
	ae_policy_free(p);
	return err;
}

static ae_err
ldap_remove_ds_cert(ae_ctx *ctx, ae_policy_source *src, const char *dn, const uint8_t *der, size_t len)
{
	ldap_source *ls = src->data;

	if (ls->ld == NULL)
		return ae_set_message(ctx, AE_ERR_INTERNAL, "no LDAP session: read the policy first");
	return ae_ldap_delete_value(ctx, ls->ld, dn, "userCertificate", der, len);
}

static ae_err
ldap_read_attribute(ae_ctx *ctx, ae_policy_source *src, const char *dn, const char *attr, ae_value **values,
                    size_t *count)
{
	ldap_source *ls = src->data;
	char *domain = NULL;
	ae_err err;

	*values = NULL;
	*count = 0;
	if (ls->ld == NULL) {
		if ((domain = source_domain(ctx, ls)) == NULL)
			return AE_ERR_NOMEM;
		err = session(ctx, ls, domain);
		free(domain);
		if (err != AE_OK)
			return err;
	}
	return ae_ldap_read_attribute(ctx, ls->ld, dn, attr, values, count);
}

static ae_err
ldap_read_gpo(ae_ctx *ctx, ae_policy_source *src, const char *account_dn, ae_som **soms, size_t *n_soms,
              ae_gpo_object **objs, size_t *n_objs)
{
	ldap_source *ls = src->data;

	if (ls->ld == NULL)
		return ae_set_message(ctx, AE_ERR_INTERNAL, "no LDAP session: read the policy first");
	return ae_gpo_read(ctx, ls->ld, account_dn, soms, n_soms, objs, n_objs);
}

static ae_err
ldap_export_ccache(ae_ctx *ctx, ae_policy_source *src, const char *path)
{
	ldap_source *ls = src->data;

	return ae_krb_export_file(ctx, ls->krb, path);
}

static unsigned
ldap_round_trips(const ae_policy_source *src)
{
	const ldap_source *ls = src->data;
	return ls->ld != NULL ? ae_ldap_round_trips(ls->ld) : 0;
}

static void
ldap_free(ae_policy_source *src)
{
	ldap_source *ls = src->data;

	if (ls == NULL)
		return;
	ae_ldap_free(ls->ld);
	ae_krb_free(ls->krb);
	free(ls);
}

static const ae_policy_source_ops ldap_ops = {
	.name = "LDAP",
	.where = "AD",
	.read = ldap_read,
	.remove_ds_cert = ldap_remove_ds_cert,
	.read_attribute = ldap_read_attribute,
	.read_gpo = ldap_read_gpo,
	.export_ccache = ldap_export_ccache,
	.round_trips = ldap_round_trips,
	.free = ldap_free,
};

ae_err
ae_policy_source_ldap(ae_ctx *ctx, const ae_conf *conf, ae_context context, ae_policy_source **out)
{
	ae_policy_source *src;
	ldap_source *ls;
	ae_err err;

	*out = NULL;
	src = calloc(1, sizeof(*src));
	ls = calloc(1, sizeof(*ls));
	if (src == NULL || ls == NULL) {
		free(src);
		free(ls);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	src->ops = &ldap_ops;
	src->data = ls;
	ls->conf = conf;
	err = ae_policy_source_credentials(ctx, conf, context, src, &ls->krb);
	if (err != AE_OK) {
		ae_policy_source_free(src);
		return err;
	}
	*out = src;
	return AE_OK;
}
