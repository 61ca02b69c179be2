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
	free(a->host_dns_name);
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

/* The domain SIDs of TOKEN (only they have objects to name), at most
 * AE_NAMED_MAX of them, in the token's order. */
#define AE_NAMED_MAX 200

static size_t
domain_sids(const ae_sid *sids, size_t count, ae_sid *out)
{
	size_t n = 0;

	for (size_t i = 0; i < count && n < AE_NAMED_MAX; i++)
		if (sids[i].authority == 5 && sids[i].count >= 4 && sids[i].sub[0] == 21)
			out[n++] = sids[i];
	return n;
}

/* "(objectSid=...)" for each of SIDS into B. */
static void
sid_terms(ae_buf *b, const ae_sid *sids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ae_buf_puts(b, "(objectSid=");
		escape_sid(b, &sids[i]);
		ae_buf_puts(b, ")");
	}
}

static bool
sid_in(const ae_sid *sid, const ae_sid *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ae_sid_equal(sid, &set[i]))
			return true;
	return false;
}

/* Names the SIDs of WANTED (not yet NAMED) that RES has objects for:
 * "S-1-...=CORP\name" lines in A->token_names.  Names only make messages
 * better: failures are not fatal. */
static void
add_names(ae_ctx *ctx, ae_account *a, const ae_ldap_result *res, const ae_sid *wanted, size_t nwanted,
          bool *named)
{
	for (size_t i = 0; i < res->count; i++) {
		const ae_attr *s = ae_entry_get(&res->entries[i], "objectSid");
		char *name = ae_entry_string(&res->entries[i], "sAMAccountName");
		char sidstr[AE_SID_STRLEN], *line = NULL;
		ae_sid sid;

		if (s != NULL && s->nvalues > 0 && name != NULL &&
		    ae_sid_from_bytes(ctx, s->values[0].data, s->values[0].len, &sid, NULL) == AE_OK) {
			for (size_t j = 0; j < nwanted; j++) {
				if (named[j] || !ae_sid_equal(&sid, &wanted[j]))
					continue;
				named[j] = true;
				if (asprintf(&line, "%s=%s\\%s", ae_sid_to_string(&sid, sidstr, sizeof(sidstr)),
				             a->netbios_domain ? a->netbios_domain : "", name) >= 0) {
					ae_strv_append(&a->token_names, line);
					free(line);
				}
				break;
			}
		}
		free(name);
	}
	ae_clear_message(ctx);
}

/* Names for the token's domain SIDs: from the account's own search
 * (FOUND), which asked for the session's SIDs (ASKED) too; a SID of the
 * account's token that the session's token lacked costs one more search. */
static void
name_token(ae_ctx *ctx, ae_ldap *ld, ae_account *a, const ae_ldap_result *found, const ae_sid *asked,
           size_t nasked)
{
	static const char *const attrs[] = { "objectSid", "sAMAccountName", NULL };
	ae_sid wanted[AE_NAMED_MAX], missing[AE_NAMED_MAX];
	bool named[AE_NAMED_MAX] = { false };
	size_t nwanted = domain_sids(a->token.sids, a->token.count, wanted), nmissing = 0;
	ae_ldap_result res = { 0 };
	ae_buf f;
	char *filter;

	add_names(ctx, a, found, wanted, nwanted, named);
	for (size_t j = 0; j < nwanted; j++)
		if (!named[j] && !sid_in(&wanted[j], asked, nasked) && !ae_sid_equal(&wanted[j], &a->sid))
			missing[nmissing++] = wanted[j];
	if (nmissing == 0)
		return;
	ae_buf_init(&f);
	ae_buf_puts(&f, "(|");
	sid_terms(&f, missing, nmissing);
	ae_buf_puts(&f, ")");
	filter = ae_buf_steal(&f);
	if (filter != NULL &&
	    ae_ldap_search(ctx, ld, ae_ldap_default_nc(ld), "sub", filter, attrs, 0, &res) == AE_OK)
		add_names(ctx, a, &res, wanted, nwanted, named);
	ae_clear_message(ctx);
	ae_ldap_result_free(&res);
	free(filter);
}

/* The domain SIDs of the LDAP session's own token (rootDSE tokenGroups),
 * at most AE_NAMED_MAX: the account's groups, named in its search. */
static size_t
session_sids(ae_ctx *ctx, ae_ldap *ld, ae_sid *out)
{
	const ae_attr *tg = ae_entry_get(ae_ldap_root_dse(ld), "tokenGroups");
	ae_sid all[AE_NAMED_MAX];
	size_t n = 0;

	for (size_t i = 0; tg != NULL && i < tg->nvalues && n < AE_NAMED_MAX; i++)
		if (ae_sid_from_bytes(ctx, tg->values[i].data, tg->values[i].len, &all[n], NULL) == AE_OK)
			n++;
	ae_clear_message(ctx);
	return domain_sids(all, n, out);
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
ae_account_take_entry(ae_ctx *ctx, ae_account *a, const char *sam, const char *host_sam, const ae_entry *entries,
                      size_t count, const char *where, const ae_entry **acct_out)
{
	const ae_entry *acct = NULL;
	const ae_attr *at;
	size_t found = 0;
	ae_err err;

	*acct_out = NULL;
	for (size_t i = 0; i < count; i++) {
		if (ae_entry_has_value(&entries[i], "objectClass", a->machine ? "computer" : "user") &&
		    ae_entry_has_value(&entries[i], "sAMAccountName", sam)) {
			acct = &entries[i];
			found++;
		} else if (host_sam != NULL && host_sam[0] != '\0' && !a->machine && a->host_dns_name == NULL &&
		           ae_entry_has_value(&entries[i], "objectClass", "computer") &&
		           ae_entry_has_value(&entries[i], "sAMAccountName", host_sam)) {
			/* the DNS name in a user's requests (txn.c): refused with a
			 * control character, like the account's own text */
			if ((err = ae_entry_text(ctx, &entries[i], "dNSHostName", &a->host_dns_name)) != AE_OK)
				return err;
		}
	}
	if (found == 0)
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "no %s account %s in %s", a->machine ? "computer" : "user",
		                      sam, where);
	if (found > 1)
		return ae_set_message(ctx, AE_ERR_INVALID, "%zu accounts named %s in %s", found, sam, where);
	if ((a->dn = strdup(acct->dn)) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	/* These go into requests (subject, SANs): refused with a control
	 * character, which could add fields of its own. */
	if ((err = ae_entry_text(ctx, acct, "sAMAccountName", &a->sam)) != AE_OK ||
	    (err = ae_entry_text(ctx, acct, "userPrincipalName", &a->upn)) != AE_OK ||
	    (err = ae_entry_text(ctx, acct, "mail", &a->mail)) != AE_OK ||
	    (err = ae_entry_text(ctx, acct, "dNSHostName", &a->dns_host_name)) != AE_OK)
		return err;
	at = ae_entry_get(acct, "userCertificate");
	if (at != NULL && at->nvalues > 0) {
		a->ds_certs = calloc(at->nvalues, sizeof(*a->ds_certs));
		a->ds_cert_lens = calloc(at->nvalues, sizeof(*a->ds_cert_lens));
		if (a->ds_certs == NULL || a->ds_cert_lens == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		for (size_t i = 0; i < at->nvalues; i++) {
			if ((a->ds_certs[i] = malloc(at->values[i].len + 1)) == NULL)
				return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			memcpy(a->ds_certs[i], at->values[i].data, at->values[i].len);
			a->ds_cert_lens[i] = at->values[i].len;
			a->ds_cert_count++;
		}
	}
	at = ae_entry_get(acct, "objectSid");
	if (a->sam == NULL || at == NULL || at->nvalues == 0)
		return ae_set_message(ctx, AE_ERR_INVALID, "account %s has no objectSid or sAMAccountName", sam);
	err = ae_sid_from_bytes(ctx, at->values[0].data, at->values[0].len, &a->sid, NULL);
	if (err != AE_OK)
		return ae_prefix_message(ctx, err, "objectSid of %s", a->dn);
	if ((err = ae_token_add(ctx, &a->token, &a->sid)) != AE_OK)
		return err;
	*acct_out = acct;
	return AE_OK;
}

ae_err
ae_account_add_groups(ae_ctx *ctx, ae_account *a, const ae_entry *acct, const ae_entry *groups)
{
	const ae_attr *at = groups != NULL ? ae_entry_get(groups, "tokenGroups") : NULL;
	uint32_t pgid = 0;
	ae_sid dom, pg;
	ae_err err;

	if (at == NULL || at->nvalues == 0)
		ae_log(ctx, AE_LOG_WARNING,
		       "the DC returned no tokenGroups for %s: group-based template permissions will not apply",
		       a->dn);
	for (size_t i = 0; at != NULL && i < at->nvalues; i++) {
		ae_sid g;
		if (ae_sid_from_bytes(ctx, at->values[i].data, at->values[i].len, &g, NULL) != AE_OK) {
			ae_log(ctx, AE_LOG_WARNING, "tokenGroups of %s: value %zu skipped: %s", a->dn, i,
			       ae_get_message(ctx));
			continue;
		}
		if ((err = ae_token_add(ctx, &a->token, &g)) != AE_OK)
			return err;
	}
	/* The primary group is in tokenGroups on AD; add it anyway from
	 * primaryGroupID in case a DC leaves it out. */
	at = ae_entry_get(acct, "primaryGroupID");
	if (at != NULL && at->nvalues > 0 &&
	    ae_parse_ldap_uint32(ctx, "primaryGroupID", &at->values[0], &pgid) == AE_OK &&
	    ae_sid_domain_of(&a->sid, &dom) && ae_sid_compose(&dom, pgid, &pg)) {
		if ((err = ae_token_add(ctx, &a->token, &pg)) != AE_OK)
			return err;
	}
	ae_clear_message(ctx);
	if ((err = ae_token_add_wellknown(ctx, &a->token)) != AE_OK)
		return err;
	if (asprintf(&a->display, "%s\\%s", a->netbios_domain ? a->netbios_domain : "", a->sam) < 0) {
		a->display = NULL;
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	return AE_OK;
}

ae_err
ae_account_lookup(ae_ctx *ctx, ae_ldap *ld, const char *sam, bool machine, const char *netbios,
                  const char *host_sam, ae_account *out)
{
	static const char *const attrs[] = {
		"objectSid", "sAMAccountName", "primaryGroupID", "userPrincipalName", "mail",
		"dNSHostName", "objectClass", "userCertificate", NULL
	};
	static const char *const tg_attrs[] = { "tokenGroups", NULL };
	ae_ldap_result res = { 0 }, tg = { 0 };
	ae_account a;
	char *esc = NULL, *host_esc = NULL, *filter = NULL;
	const ae_entry *acct = NULL;
	ae_sid asked[AE_NAMED_MAX];
	size_t nasked;
	ae_buf f;
	ae_err err;

	memset(out, 0, sizeof(*out));
	memset(&a, 0, sizeof(a));
	ae_token_init(&a.token);
	a.machine = machine;
	if (netbios != NULL && (a.netbios_domain = strdup(netbios)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	/* One search finds the account by name and, for the names in
	 * messages, the groups of the session's token: the same groups as the
	 * account's (the session is the account's). */
	nasked = session_sids(ctx, ld, asked);
	esc = ae_ldap_escape(sam);
	ae_buf_init(&f);
	ae_buf_printf(&f, "(|(&(objectClass=%s)(sAMAccountName=%s))", machine ? "computer" : "user",
	              esc ? esc : "");
	/* ... and, for a user, this host's computer account: its DNS name
	 * goes in the requests (rmd), at no extra round trip. */
	if (!machine && host_sam != NULL && host_sam[0] != '\0' && (host_esc = ae_ldap_escape(host_sam)) != NULL)
		ae_buf_printf(&f, "(&(objectClass=computer)(sAMAccountName=%s))", host_esc);
	sid_terms(&f, asked, nasked);
	ae_buf_puts(&f, ")");
	filter = ae_buf_steal(&f);
	if (esc == NULL || filter == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	err = ae_ldap_search(ctx, ld, ae_ldap_default_nc(ld), "sub", filter, attrs, 0, &res);
	if (err != AE_OK)
		goto cleanup;
	err = ae_account_take_entry(ctx, &a, sam, host_esc != NULL ? host_sam : NULL, res.entries, res.count,
	                            ae_ldap_default_nc(ld), &acct);
	if (err != AE_OK)
		goto cleanup;

	/* tokenGroups is constructed: only a base search on the object returns
	 * it.  It holds the transitive group SIDs, as a logon would. */
	err = ae_ldap_search(ctx, ld, a.dn, "base", "(objectClass=*)", tg_attrs, 0, &tg);
	if (err != AE_OK)
		goto cleanup;
	err = ae_account_add_groups(ctx, &a, acct, tg.count > 0 ? &tg.entries[0] : NULL);
	if (err != AE_OK)
		goto cleanup;
	name_token(ctx, ld, &a, &res, asked, nasked);
	*out = a;
	memset(&a, 0, sizeof(a));
	err = AE_OK;
cleanup:
	ae_ldap_result_free(&res);
	ae_ldap_result_free(&tg);
	free(esc);
	free(host_esc);
	free(filter);
	ae_account_clear(&a);
	return err;
}
