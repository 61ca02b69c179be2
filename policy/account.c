/*
 * account.c - the caller's AD account and token.
 */
#include "config.h"

#include "account.h"
#include "template.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
ae_account_clear(ae_account *a)
{
	if (a == NULL)
		return;
	free(a->dn);
	free(a->sam);
	free(a->netbios_domain);
	free(a->display);
	free(a->upn);
	free(a->mail);
	free(a->dns_host_name);
	ae_token_clear(&a->token);
	ae_strv_free(a->token_names);
	for (size_t i = 0; i < a->ds_cert_count; i++)
		free(a->ds_certs[i]);
	free(a->ds_certs);
	free(a->ds_cert_lens);
	memset(a, 0, sizeof(*a));
}

/* "\01\05..." filter escape of a binary SID for (objectSid=...) */
static void
escape_sid(ae_buf *b, const ae_sid *sid)
{
	ae_buf_printf(b, "\\%02x\\%02x", sid->revision, sid->count);
	for (int i = 5; i >= 0; i--)
		ae_buf_printf(b, "\\%02x", (unsigned)((sid->authority >> (8 * i)) & 0xff));
	for (unsigned i = 0; i < sid->count; i++)
		for (int k = 0; k < 4; k++)
			ae_buf_printf(b, "\\%02x", (unsigned)((sid->sub[i] >> (8 * k)) & 0xff));
}

static ae_err
netbios_name(ae_ctx *ctx, ae_ldap *ld, char **out)
{
	static const char *const attrs[] = { "nETBIOSName", NULL };
	ae_ldap_result res = { 0 };
	char *base = NULL, *nc = NULL, *filter = NULL;
	ae_err err;

	*out = NULL;
	nc = ae_ldap_escape(ae_ldap_default_nc(ld));
	if (nc == NULL || asprintf(&base, "CN=Partitions,%s", ae_ldap_config_nc(ld)) < 0 ||
	    asprintf(&filter, "(&(objectClass=crossRef)(nCName=%s))", nc) < 0) {
		free(nc);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	err = ae_ldap_search(ctx, ld, base, "one", filter, attrs, 0, &res);
	if (err == AE_OK && res.count > 0)
		*out = ae_entry_string(&res.entries[0], "nETBIOSName");
	ae_ldap_result_free(&res);
	free(nc);
	free(base);
	free(filter);
	return err;
}

/* Names for the token's SIDs (groups), one search; failures are not fatal:
 * names only make messages better. */
static void
name_token(ae_ctx *ctx, ae_ldap *ld, ae_account *a)
{
	static const char *const attrs[] = { "objectSid", "sAMAccountName", NULL };
	ae_ldap_result res = { 0 };
	ae_buf f;
	char *filter;
	size_t n = 0;

	ae_buf_init(&f);
	ae_buf_puts(&f, "(|");
	for (size_t i = 0; i < a->token.count && n < 200; i++) {
		if (a->token.sids[i].authority != 5 || a->token.sids[i].count < 4 ||
		    a->token.sids[i].sub[0] != 21)
			continue; /* only domain SIDs have objects to name */
		ae_buf_puts(&f, "(objectSid=");
		escape_sid(&f, &a->token.sids[i]);
		ae_buf_puts(&f, ")");
		n++;
	}
	ae_buf_puts(&f, ")");
	filter = ae_buf_steal(&f);
	if (filter == NULL || n == 0 ||
	    ae_ldap_search(ctx, ld, ae_ldap_default_nc(ld), "sub", filter, attrs, 0, &res) != AE_OK) {
		free(filter);
		ae_clear_message(ctx);
		return;
	}
	for (size_t i = 0; i < res.count; i++) {
		const ae_attr *s = ae_entry_get(&res.entries[i], "objectSid");
		char *name = ae_entry_string(&res.entries[i], "sAMAccountName");
		ae_sid sid;
		char sidstr[AE_SID_STRLEN], *line = NULL;
		if (s != NULL && s->nvalues > 0 && name != NULL &&
		    ae_sid_from_bytes(ctx, s->values[0].data, s->values[0].len, &sid, NULL) == AE_OK &&
		    asprintf(&line, "%s=%s\\%s", ae_sid_to_string(&sid, sidstr, sizeof(sidstr)),
		             a->netbios_domain ? a->netbios_domain : "", name) >= 0) {
			ae_strv_append(&a->token_names, line);
			free(line);
		}
		free(name);
	}
	ae_clear_message(ctx);
	ae_ldap_result_free(&res);
	free(filter);
}

const char *
ae_account_sid_name(const ae_account *acct, const ae_sid *sid, char *buf, size_t size)
{
	char s[AE_SID_STRLEN];
	size_t l;

	ae_sid_to_string(sid, s, sizeof(s));
	l = strlen(s);
	for (size_t i = 0; acct != NULL && acct->token_names && acct->token_names[i]; i++) {
		if (strncmp(acct->token_names[i], s, l) == 0 && acct->token_names[i][l] == '=') {
			snprintf(buf, size, "%s", acct->token_names[i] + l + 1);
			return buf;
		}
	}
	if (acct != NULL && ae_sid_equal(sid, &acct->sid) && acct->display) {
		snprintf(buf, size, "%s", acct->display);
		return buf;
	}
	snprintf(buf, size, "%s", s);
	return buf;
}

ae_err
ae_account_lookup(ae_ctx *ctx, ae_ldap *ld, const char *sam, bool machine, ae_account *out)
{
	static const char *const attrs[] = {
		"objectSid", "sAMAccountName", "primaryGroupID", "userPrincipalName", "mail",
		"dNSHostName", "objectClass", "userCertificate", NULL
	};
	static const char *const tg_attrs[] = { "tokenGroups", NULL };
	ae_ldap_result res = { 0 }, tg = { 0 };
	ae_account a;
	char *esc = NULL, *filter = NULL;
	const ae_attr *at;
	uint32_t pgid = 0;
	ae_sid dom, pg;
	ae_err err;

	memset(out, 0, sizeof(*out));
	memset(&a, 0, sizeof(a));
	ae_token_init(&a.token);
	a.machine = machine;
	esc = ae_ldap_escape(sam);
	if (esc == NULL || asprintf(&filter, "(&(objectClass=%s)(sAMAccountName=%s))",
	                            machine ? "computer" : "user", esc) < 0) {
		filter = NULL;
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	err = ae_ldap_search(ctx, ld, ae_ldap_default_nc(ld), "sub", filter, attrs, 0, &res);
	if (err != AE_OK)
		goto cleanup;
	if (res.count == 0) {
		err = ae_set_message(ctx, AE_ERR_NOTFOUND, "no %s account %s in %s",
		                     machine ? "computer" : "user", sam, ae_ldap_default_nc(ld));
		goto cleanup;
	}
	if (res.count > 1) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "%zu accounts named %s in %s",
		                     res.count, sam, ae_ldap_default_nc(ld));
		goto cleanup;
	}
	a.dn = strdup(res.entries[0].dn);
	a.sam = ae_entry_string(&res.entries[0], "sAMAccountName");
	a.upn = ae_entry_string(&res.entries[0], "userPrincipalName");
	a.mail = ae_entry_string(&res.entries[0], "mail");
	a.dns_host_name = ae_entry_string(&res.entries[0], "dNSHostName");
	at = ae_entry_get(&res.entries[0], "userCertificate");
	if (at != NULL && at->nvalues > 0) {
		a.ds_certs = calloc(at->nvalues, sizeof(*a.ds_certs));
		a.ds_cert_lens = calloc(at->nvalues, sizeof(*a.ds_cert_lens));
		if (a.ds_certs == NULL || a.ds_cert_lens == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		for (size_t i = 0; i < at->nvalues; i++) {
			if ((a.ds_certs[i] = malloc(at->values[i].len + 1)) == NULL) {
				err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
				goto cleanup;
			}
			memcpy(a.ds_certs[i], at->values[i].data, at->values[i].len);
			a.ds_cert_lens[i] = at->values[i].len;
			a.ds_cert_count++;
		}
	}
	at = ae_entry_get(&res.entries[0], "objectSid");
	if (a.dn == NULL || a.sam == NULL || at == NULL || at->nvalues == 0) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "account %s has no objectSid or sAMAccountName", sam);
		goto cleanup;
	}
	err = ae_sid_from_bytes(ctx, at->values[0].data, at->values[0].len, &a.sid, NULL);
	if (err != AE_OK) {
		err = ae_prefix_message(ctx, err, "objectSid of %s", a.dn);
		goto cleanup;
	}
	if ((err = ae_token_add(ctx, &a.token, &a.sid)) != AE_OK)
		goto cleanup;

	/* tokenGroups is constructed: only a base search on the object returns
	 * it.  It holds the transitive group SIDs, as a logon would. */
	err = ae_ldap_search(ctx, ld, a.dn, "base", "(objectClass=*)", tg_attrs, 0, &tg);
	if (err != AE_OK)
		goto cleanup;
	at = tg.count > 0 ? ae_entry_get(&tg.entries[0], "tokenGroups") : NULL;
	if (at == NULL || at->nvalues == 0)
		ae_log(ctx, AE_LOG_WARNING,
		       "the DC returned no tokenGroups for %s: group-based template permissions will not apply",
		       a.dn);
	for (size_t i = 0; at != NULL && i < at->nvalues; i++) {
		ae_sid g;
		if (ae_sid_from_bytes(ctx, at->values[i].data, at->values[i].len, &g, NULL) != AE_OK) {
			ae_log(ctx, AE_LOG_WARNING, "tokenGroups of %s: value %zu skipped: %s", a.dn, i,
			       ae_get_message(ctx));
			continue;
		}
		if ((err = ae_token_add(ctx, &a.token, &g)) != AE_OK)
			goto cleanup;
	}
	/* The primary group is in tokenGroups on AD; add it anyway from
	 * primaryGroupID in case a DC leaves it out. */
	at = ae_entry_get(&res.entries[0], "primaryGroupID");
	if (at != NULL && at->nvalues > 0 &&
	    ae_parse_ldap_uint32(ctx, "primaryGroupID", &at->values[0], &pgid) == AE_OK &&
	    ae_sid_domain_of(&a.sid, &dom) && ae_sid_compose(&dom, pgid, &pg)) {
		if ((err = ae_token_add(ctx, &a.token, &pg)) != AE_OK)
			goto cleanup;
	}
	ae_clear_message(ctx);
	if ((err = ae_token_add_wellknown(ctx, &a.token)) != AE_OK)
		goto cleanup;

	if (netbios_name(ctx, ld, &a.netbios_domain) != AE_OK)
		ae_clear_message(ctx);
	if (asprintf(&a.display, "%s\\%s", a.netbios_domain ? a.netbios_domain : "", a.sam) < 0) {
		a.display = NULL;
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	name_token(ctx, ld, &a);
	*out = a;
	memset(&a, 0, sizeof(a));
	err = AE_OK;
cleanup:
	ae_ldap_result_free(&res);
	ae_ldap_result_free(&tg);
	free(esc);
	free(filter);
	ae_account_clear(&a);
	return err;
}
