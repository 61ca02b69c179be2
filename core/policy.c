/*
 * policy.c - reading the "LDAP:" enrollment policy and deciding, template
 * by template, what autoenrollment does for the caller.
 */
#include "config.h"

#include "dns.h"
#include "krb.h"
#include "ldapconn.h"
#include "policy.h"
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *
ae_decision_name(ae_decision d)
{
	switch (d) {
	case AE_DECISION_AUTOENROLL: return "autoenroll";
	case AE_DECISION_MANUAL_RENEW_ONLY: return "manual-renew-only";
	case AE_DECISION_SKIP: break;
	}
	return "skip";
}

const char *
ae_context_name(ae_context c)
{
	return c == AE_CONTEXT_MACHINE ? "machine" : "user";
}

static void
item_clear(ae_policy_item *it)
{
	free(it->name);
	free(it->display_name);
	free(it->reason);
	ae_strv_free(it->cas);
}

void
ae_policy_free(ae_policy *p)
{
	if (p == NULL)
		return;
	free(p->url);
	free(p->policy_id);
	free(p->friendly_name);
	free(p->domain);
	free(p->dc);
	free(p->config_nc);
	free(p->principal);
	ae_account_clear(&p->account);
	ae_pki_clear(&p->pki);
	free(p->forest_oid);
	for (size_t i = 0; i < p->oid_count; i++) {
		free(p->oids[i].oid);
		free(p->oids[i].display_name);
	}
	free(p->oids);
	for (size_t i = 0; i < p->template_count; i++)
		ae_template_free(p->templates[i]);
	free(p->templates);
	ae_strv_free(p->invalid_templates);
	for (size_t i = 0; i < p->item_count; i++)
		item_clear(&p->items[i]);
	free(p->items);
	free(p);
}

const ae_policy_item *
ae_policy_find_item(const ae_policy *p, const char *name)
{
	for (size_t i = 0; i < p->item_count; i++)
		if (strcasecmp(p->items[i].name, name) == 0)
			return &p->items[i];
	for (size_t i = 0; i < p->item_count; i++)
		if (p->items[i].display_name && strcasecmp(p->items[i].display_name, name) == 0)
			return &p->items[i];
	return NULL;
}

const ae_ca *
ae_policy_find_ca(const ae_policy *p, const char *name)
{
	for (size_t i = 0; i < p->pki.ca_count; i++)
		if (strcasecmp(p->pki.cas[i].name, name) == 0)
			return &p->pki.cas[i];
	return NULL;
}

/* ---- decisions (no network) ---- */

static char *
right_reason(const ae_policy *p, const char *right, const ae_access *acc)
{
	char who[256];

	if (acc->by_deny && acc->ace_index >= 0)
		return ae_strdup_printf("%s denied to %s by a deny entry for %s", right,
		                 p->account.display ? p->account.display : "the caller",
		                 ae_account_sid_name(&p->account, &acc->sid, who, sizeof(who)));
	return ae_strdup_printf("no %s right for %s", right,
	                 p->account.display ? p->account.display : "the caller");
}

static bool
ca_publishes(const ae_ca *ca, const char *tpl)
{
	return ae_strv_contains_nocase(ca->templates, tpl);
}

/* First pass: everything but supersedence, which depends on the other
 * templates' outcome. */
static ae_err
decide_one(ae_ctx *ctx, const ae_policy *p, const ae_template *t, ae_policy_item *it)
{
	bool machine_tpl = (t->flags & AE_CT_FLAG_MACHINE_TYPE) != 0;
	bool machine_ctx = p->context == AE_CONTEXT_MACHINE;
	ae_access enroll = { 0 }, autoenroll = { 0 };
	char **invalid_cas = NULL;
	char *reason = NULL;

	it->tpl = t;
	it->name = strdup(t->name);
	it->display_name = strdup(t->display_name ? t->display_name : t->name);
	if (it->name == NULL || it->display_name == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	if (t->sd != NULL) {
		enroll = ae_secdesc_check(t->sd, &p->account.token, AE_RIGHT_ENROLL);
		autoenroll = ae_secdesc_check(t->sd, &p->account.token, AE_RIGHT_AUTOENROLL);
	}
	it->enroll = enroll.allowed;
	it->autoenroll = autoenroll.allowed;
	for (size_t i = 0; i < p->pki.ca_count; i++) {
		const ae_ca *ca = &p->pki.cas[i];
		if (!ca_publishes(ca, t->name))
			continue;
		if (!(ca->valid ? ae_strv_append(&it->cas, ca->name)
		                : ae_strv_append(&invalid_cas, ca->name))) {
			ae_strv_free(invalid_cas);
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
	}

	it->decision = AE_DECISION_SKIP;
	if (machine_tpl && !machine_ctx)
		reason = ae_strdup_printf("machine template: the machine context enrolls it, not users");
	else if (!machine_tpl && machine_ctx)
		reason = ae_strdup_printf("user template: users enroll it at logon, not the machine");
	else if (t->sd == NULL)
		reason = ae_strdup_printf("cannot evaluate permissions: %s",
		                   t->sd_error ? t->sd_error : "no security descriptor");
	else if (!enroll.allowed)
		reason = right_reason(p, "Enroll", &enroll);
	else if (!autoenroll.allowed)
		reason = right_reason(p, "AutoEnroll", &autoenroll);
	else if (it->cas == NULL && invalid_cas != NULL) {
		const ae_ca *bad = NULL;
		for (size_t i = 0; i < p->pki.ca_count; i++)
			if (strcmp(p->pki.cas[i].name, invalid_cas[0]) == 0)
				bad = &p->pki.cas[i];
		reason = ae_strdup_printf("published only by CA %s, which is not usable: %s", invalid_cas[0],
		                   bad && bad->invalid_reason ? bad->invalid_reason : "invalid certificate");
	} else if (it->cas == NULL)
		reason = ae_strdup_printf("not published by any CA");
	else if (t->schema_version < 2)
		reason = ae_strdup_printf("schema version 1 template: Windows autoenrolls only version 2 and later templates");
	else if (machine_tpl && (t->enrollment_flags & AE_EF_USER_INTERACTION_REQUIRED))
		reason = ae_strdup_printf("machine template requires user interaction, which machine certificates cannot have");
	else if (t->ra_signatures >= 2)
		reason = ae_strdup_printf("requires %u RA signatures: never enrolled or renewed automatically",
		                   t->ra_signatures);
	else if (t->private_key_flags & AE_PK_REQUIRE_PRIVATE_KEY_ARCHIVAL)
		reason = ae_strdup_printf("requires private key archival at the CA, which this version of autoenroll does not do yet");
	else if (t->private_key_flags & AE_PK_ATTEST_REQUIRED)
		reason = ae_strdup_printf("requires key attestation (CT_FLAG_ATTEST_REQUIRED: a TPM key and its attestation statement), which autoenroll cannot provide; the CA would refuse the request (CERTSRV_E_KEY_ATTESTATION)");
	else if ((t->name_flags & AE_NF_ENROLLEE_SUPPLIES_SUBJECT) &&
	         !(t->name_flags & AE_NF_OLD_CERT_SUPPLIES_SUBJECT_AND_ALT_NAME))
		reason = ae_strdup_printf("the enrollee supplies the subject, and renewals may not reuse the old one: enroll and renew by hand");
	else if (t->name_flags & AE_NF_ENROLLEE_SUPPLIES_SUBJECT) {
		it->decision = AE_DECISION_MANUAL_RENEW_ONLY;
		reason = ae_strdup_printf("the enrollee supplies the subject: enroll by hand; renewals reuse the certificate's subject and are automatic");
	} else if (t->ra_signatures == 1) {
		it->decision = AE_DECISION_MANUAL_RENEW_ONLY;
		reason = ae_strdup_printf("requires an RA signature: enroll by hand through an enrollment agent; renewals signed with the existing certificate are automatic");
	} else {
		ae_buf b;
		it->decision = AE_DECISION_AUTOENROLL;
		ae_buf_init(&b);
		ae_buf_printf(&b, "set up for autoenrollment, from %s", it->cas[0]);
		if (t->enrollment_flags & AE_EF_PEND_ALL_REQUESTS)
			ae_buf_puts(&b, "; requests wait for a CA manager's approval");
		if (t->enrollment_flags & AE_EF_USER_INTERACTION_REQUIRED)
			ae_buf_puts(&b, "; asks the user first (notification after logon)");
		reason = ae_buf_steal(&b);
	}
	ae_strv_free(invalid_cas);
	if (reason == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	it->reason = reason;
	return AE_OK;
}

static int
item_cmp(const void *a, const void *b)
{
	const ae_policy_item *x = a, *y = b;
	return strcasecmp(x->name, y->name);
}

ae_err
ae_policy_decide(ae_ctx *ctx, ae_policy *p)
{
	size_t n = p->template_count + ae_strv_len(p->invalid_templates);
	ae_policy_item *items;
	size_t k = 0;
	ae_err err;

	items = calloc(n ? n : 1, sizeof(*items));
	if (items == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < p->template_count; i++) {
		err = decide_one(ctx, p, p->templates[i], &items[k++]);
		if (err != AE_OK)
			goto fail;
	}
	for (size_t i = 0; p->invalid_templates && p->invalid_templates[i]; i++) {
		const char *s = p->invalid_templates[i];
		const char *colon = strchr(s, '\t');
		ae_policy_item *it = &items[k++];
		it->decision = AE_DECISION_SKIP;
		it->name = colon ? strndup(s, (size_t)(colon - s)) : strdup(s);
		it->display_name = it->name ? strdup(it->name) : NULL;
		it->reason = ae_strdup_printf("invalid template: %s", colon ? colon + 1 : "unparseable");
		if (it->name == NULL || it->display_name == NULL || it->reason == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto fail;
		}
	}
	/* Supersedence: a template that a template set up for autoenrollment
	 * supersedes is not enrolled; its holders move to the new one. */
	for (size_t i = 0; i < k; i++) {
		ae_policy_item *old = &items[i];
		if (old->decision == AE_DECISION_SKIP)
			continue;
		for (size_t j = 0; j < k; j++) {
			ae_policy_item *nw = &items[j];
			if (j == i || nw->tpl == NULL || nw->decision != AE_DECISION_AUTOENROLL ||
			    !ae_strv_contains_nocase(nw->tpl->supersedes, old->name))
				continue;
			free(old->reason);
			old->reason = ae_strdup_printf("superseded by %s", nw->name);
			old->decision = AE_DECISION_SKIP;
			if (old->reason == NULL) {
				err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
				goto fail;
			}
			break;
		}
	}
	qsort(items, k, sizeof(*items), item_cmp);
	for (size_t i = 0; i < p->item_count; i++)
		item_clear(&p->items[i]);
	free(p->items);
	p->items = items;
	p->item_count = k;
	return AE_OK;
fail:
	for (size_t i = 0; i < k; i++)
		item_clear(&items[i]);
	free(items);
	return err;
}

/* ---- reading the policy from AD ---- */

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
		err = ae_ldap_connect(ctx, conf, hosts[i], out);
		if (err == AE_OK)
			break;
		/* Kerberos and policy refusals would repeat on every DC. */
		if (err != AE_ERR_NETWORK && err != AE_ERR_TIMEOUT)
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

static ae_err
read_policy_id(ae_ctx *ctx, ae_ldap *ld, char **out)
{
	static const char *const attrs[] = { "objectGUID", NULL };
	ae_ldap_result res = { 0 };
	const ae_attr *g;
	ae_err err;

	*out = NULL;
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

static ae_err
read_pki(ae_ctx *ctx, ae_ldap *ld, ae_policy *p)
{
	static const char *const es_attrs[] = {
		"cn", "displayName", "dNSHostName", "certificateTemplates", "cACertificate", "flags", NULL
	};
	static const char *const ca_attrs[] = { "cn", "cACertificate", NULL };
	ae_ldap_result res = { 0 };
	char base[1024];
	const char *cfg = ae_ldap_config_nc(ld);
	ae_err err;

	snprintf(base, sizeof(base), "CN=Enrollment Services,CN=Public Key Services,CN=Services,%s", cfg);
	err = ae_ldap_search(ctx, ld, base, "one", "(objectClass=pKIEnrollmentService)", es_attrs, 0, &res);
	if (err == AE_ERR_NOTFOUND) {
		ae_clear_message(ctx);
	} else if (err != AE_OK) {
		return err;
	}
	if (res.count > 0) {
		p->pki.cas = calloc(res.count, sizeof(ae_ca));
		if (p->pki.cas == NULL) {
			ae_ldap_result_free(&res);
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
	}
	for (size_t i = 0; i < res.count; i++) {
		err = ae_ca_from_entry(ctx, &res.entries[i], &p->pki.cas[p->pki.ca_count]);
		if (err == AE_ERR_NOMEM) {
			ae_ldap_result_free(&res);
			return err;
		}
		if (err != AE_OK) {
			ae_log(ctx, AE_LOG_WARNING, "%s", ae_get_message(ctx));
			continue;
		}
		p->pki.ca_count++;
	}
	ae_ldap_result_free(&res);

	static const struct { const char *rdn; const char *filter; int which; } stores[] = {
		{ "CN=Certification Authorities", "(objectClass=certificationAuthority)", 0 },
		{ "CN=AIA", "(objectClass=certificationAuthority)", 1 },
	};
	for (size_t s = 0; s < 2; s++) {
		STACK_OF(X509) **st = stores[s].which == 0 ? &p->pki.roots : &p->pki.intermediates;
		snprintf(base, sizeof(base), "%s,CN=Public Key Services,CN=Services,%s", stores[s].rdn, cfg);
		err = ae_ldap_search(ctx, ld, base, "one", stores[s].filter, ca_attrs, 0, &res);
		if (err == AE_ERR_NOTFOUND) {
			ae_clear_message(ctx);
			continue;
		}
		if (err != AE_OK)
			return err;
		for (size_t i = 0; i < res.count; i++)
			if ((err = ae_pki_add_certs(ctx, st, &res.entries[i], "cACertificate")) != AE_OK)
				break;
		ae_ldap_result_free(&res);
		if (err != AE_OK)
			return err;
	}
	snprintf(base, sizeof(base), "CN=NTAuthCertificates,CN=Public Key Services,CN=Services,%s", cfg);
	err = ae_ldap_search(ctx, ld, base, "base", "(objectClass=*)", ca_attrs, 0, &res);
	if (err == AE_OK) {
		for (size_t i = 0; i < res.count && err == AE_OK; i++)
			err = ae_pki_add_certs(ctx, &p->pki.ntauth, &res.entries[i], "cACertificate");
		ae_ldap_result_free(&res);
	} else if (err == AE_ERR_NOTFOUND) {
		ae_clear_message(ctx);
		err = AE_OK;
	}
	if (err != AE_OK)
		return err;
	ae_pki_validate(ctx, &p->pki, ae_now_shifted() ? (time_t)ae_now() : 0);
	return AE_OK;
}

/* The OID registrations, which Windows caches locally so that names show
 * instead of numbers. */
static ae_err
read_oids(ae_ctx *ctx, ae_ldap *ld, ae_policy *p)
{
	static const char *const attrs[] = {
		"cn", "displayName", "flags", "msPKI-Cert-Template-OID", "objectClass", NULL
	};
	ae_ldap_result res = { 0 };
	char base[1024];
	ae_err err;

	snprintf(base, sizeof(base), "CN=OID,CN=Public Key Services,CN=Services,%s", ae_ldap_config_nc(ld));
	err = ae_ldap_search(ctx, ld, base, "sub", "(objectClass=*)", attrs, 0, &res);
	if (err == AE_ERR_NOTFOUND) {
		ae_clear_message(ctx);
		return AE_OK;
	}
	if (err != AE_OK)
		return err;
	p->oids = calloc(res.count ? res.count : 1, sizeof(ae_oid));
	if (p->oids == NULL) {
		ae_ldap_result_free(&res);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < res.count; i++) {
		const ae_entry *e = &res.entries[i];
		const ae_attr *fl = ae_entry_get(e, "flags");
		char *oid = ae_entry_string(e, "msPKI-Cert-Template-OID");
		ae_oid *o;

		if (oid == NULL)
			continue;
		if (strncasecmp(e->dn, "CN=OID,", 7) == 0) {
			/* The container itself holds the forest's OID root. */
			free(p->forest_oid);
			p->forest_oid = oid;
			continue;
		}
		o = &p->oids[p->oid_count];
		o->oid = oid;
		o->display_name = ae_entry_string(e, "displayName");
		if (fl != NULL && fl->nvalues > 0 &&
		    ae_parse_ldap_uint32(ctx, "flags", &fl->values[0], &o->flags) != AE_OK) {
			ae_log(ctx, AE_LOG_INFO, "OID object %s: %s", e->dn, ae_get_message(ctx));
			ae_clear_message(ctx);
		}
		p->oid_count++;
	}
	ae_ldap_result_free(&res);
	return AE_OK;
}

static ae_err
read_templates(ae_ctx *ctx, ae_ldap *ld, ae_policy *p)
{
	ae_ldap_result res = { 0 };
	char base[1024];
	ae_err err;

	snprintf(base, sizeof(base), "CN=Certificate Templates,CN=Public Key Services,CN=Services,%s",
	         ae_ldap_config_nc(ld));
	err = ae_ldap_search(ctx, ld, base, "one", "(objectClass=pKICertificateTemplate)",
	                     ae_template_attributes, AE_LDAP_SD_DACL, &res);
	if (err == AE_ERR_NOTFOUND) {
		ae_clear_message(ctx);
		return AE_OK;
	}
	if (err != AE_OK)
		return err;
	p->templates = calloc(res.count ? res.count : 1, sizeof(ae_template *));
	if (p->templates == NULL) {
		ae_ldap_result_free(&res);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < res.count; i++) {
		ae_template *t = NULL;
		err = ae_template_from_entry(ctx, &res.entries[i], &t);
		if (err == AE_ERR_NOMEM)
			break;
		if (err != AE_OK) {
			/* One bad template must not hide the others: keep it as an
			 * item with the reason. */
			char *name = ae_entry_string(&res.entries[i], "cn");
			char *line = ae_strdup_printf("%s\t%s", name ? name : res.entries[i].dn, ae_get_message(ctx));
			ae_log(ctx, AE_LOG_WARNING, "template %s skipped: %s", name ? name : res.entries[i].dn,
			       ae_get_message(ctx));
			if (line == NULL || !ae_strv_append(&p->invalid_templates, line)) {
				free(name);
				free(line);
				err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
				break;
			}
			free(name);
			free(line);
			ae_clear_message(ctx);
			err = AE_OK;
			continue;
		}
		if (t->sd == NULL)
			ae_log(ctx, AE_LOG_WARNING, "template %s: %s: treated as granting no right", t->name,
			       t->sd_error ? t->sd_error : "no security descriptor");
		p->templates[p->template_count++] = t;
	}
	ae_ldap_result_free(&res);
	return err;
}

ae_err
ae_policy_load_krb(ae_ctx *ctx, const ae_conf *conf, ae_context context, ae_krb *krb, ae_policy **out)
{
	return ae_policy_load_keep(ctx, conf, context, krb, NULL, out);
}

ae_err
ae_policy_load_keep(ae_ctx *ctx, const ae_conf *conf, ae_context context, ae_krb *krb, ae_ldap **ld_out,
                    ae_policy **out)
{
	ae_policy *p = NULL;
	ae_ldap *ld = NULL;
	char *domain = NULL;
	ae_err err;

	*out = NULL;
	if (ld_out != NULL)
		*ld_out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	p->context = context;

	if (conf->domain != NULL)
		domain = lower_dup(conf->domain);
	else
		domain = lower_dup(ae_krb_realm(krb));
	if (domain == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	err = connect_dc(ctx, conf, domain, &ld);
	if (err != AE_OK)
		goto cleanup;
	ae_log(ctx, AE_LOG_DEBUG, "bound to %s as %s (SSF %d)", ae_ldap_host(ld),
	       ae_krb_principal(krb), ae_ldap_ssf(ld));

	p->url = strdup("LDAP:");
	p->friendly_name = strdup("Active Directory Enrollment Policy");
	p->domain = strdup(domain);
	p->dc = strdup(ae_ldap_host(ld));
	p->config_nc = strdup(ae_ldap_config_nc(ld));
	p->principal = strdup(ae_krb_principal(krb));
	p->ldap_ssf = ae_ldap_ssf(ld);
	if (!p->url || !p->friendly_name || !p->domain || !p->dc || !p->config_nc || !p->principal) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if ((err = read_policy_id(ctx, ld, &p->policy_id)) != AE_OK)
		goto cleanup;
	err = ae_account_lookup(ctx, ld, ae_krb_account(krb), context == AE_CONTEXT_MACHINE, &p->account);
	if (err != AE_OK) {
		err = ae_prefix_message(ctx, err, "looking up %s", ae_krb_principal(krb));
		goto cleanup;
	}
	if ((err = read_pki(ctx, ld, p)) != AE_OK)
		goto cleanup;
	if ((err = read_oids(ctx, ld, p)) != AE_OK)
		goto cleanup;
	if ((err = read_templates(ctx, ld, p)) != AE_OK)
		goto cleanup;
	p->round_trips = ae_ldap_round_trips(ld);
	if ((err = ae_policy_decide(ctx, p)) != AE_OK)
		goto cleanup;
	*out = p;
	p = NULL;
	if (ld_out != NULL) {
		*ld_out = ld;
		ld = NULL;
	}
cleanup:
	free(domain);
	ae_ldap_free(ld);
	ae_policy_free(p);
	return err;
}

ae_err
ae_policy_load(ae_ctx *ctx, const ae_conf *conf, ae_context context, ae_policy **out)
{
	ae_krb *krb = NULL;
	ae_err err;

	*out = NULL;
	if (context == AE_CONTEXT_MACHINE)
		err = ae_krb_machine(ctx, conf, &krb);
	else
		err = ae_krb_user(ctx, &krb);
	if (err == AE_OK)
		err = ae_policy_load_krb(ctx, conf, context, krb, out);
	ae_krb_free(krb);
	return err;
}
