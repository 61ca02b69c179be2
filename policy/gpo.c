/*
 * gpo.c - which GPOs apply (MS-GPOL 3.2.5.1.3-3.2.5.1.6).  See gpo.h.
 */
#include "config.h"

#include "gpo.h"

#include "attrs.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- gPLink ---- */

void
ae_gplinks_free(ae_gplink *links, size_t n)
{
	for (size_t i = 0; links != NULL && i < n; i++)
		free(links[i].dn);
	free(links);
}

ae_err
ae_gplink_parse(ae_ctx *ctx, const char *value, ae_gplink **out, size_t *n)
{
	const char *p = value;
	ae_gplink *links = NULL;
	size_t count = 0;
	ae_err rc;

	*out = NULL;
	*n = 0;
	while (*p != '\0') {
		const char *dn, *semi, *end;
		uint32_t opts = 0;
		ae_gplink *grown;

		if (*p == ' ') { /* blanks between links are harmless */
			p++;
			continue;
		}
		if (*p != '[' || strncasecmp(p + 1, "LDAP://", 7) != 0) {
			rc = ae_set_message(ctx, AE_ERR_INVALID, "malformed gPLink at character %zu: \"[LDAP://\" expected",
			                    (size_t)(p - value));
			goto fail;
		}
		dn = p + 8;
		end = strchr(dn, ']');
		semi = end ? memrchr(dn, ';', (size_t)(end - dn)) : NULL;
		if (end == NULL || semi == NULL || semi == dn || semi + 1 == end) {
			rc = ae_set_message(ctx, AE_ERR_INVALID,
			                    "malformed gPLink at character %zu: a link is not [LDAP://DN;OPTIONS]",
			                    (size_t)(p - value));
			goto fail;
		}
		/* "LDAP://server/DN": the server part is not ours to follow */
		{
			const char *slash = memchr(dn, '/', (size_t)(semi - dn));
			const char *eq = memchr(dn, '=', (size_t)(semi - dn));

			if (slash != NULL && (eq == NULL || slash < eq))
				dn = slash + 1;
			if (dn == semi) {
				rc = ae_set_message(ctx, AE_ERR_INVALID,
				                    "malformed gPLink at character %zu: a link names a server but no DN",
				                    (size_t)(p - value));
				goto fail;
			}
		}
		for (const char *o = semi + 1; o < end; o++) {
			if (!isdigit((unsigned char)*o) || opts > 100000000u) {
				rc = ae_set_message(ctx, AE_ERR_INVALID,
				                    "malformed gPLink at character %zu: link options are not a decimal number",
				                    (size_t)(o - value));
				goto fail;
			}
			opts = opts * 10 + (uint32_t)(*o - '0');
		}
		grown = realloc(links, (count + 1) * sizeof(*links));
		if (grown == NULL)
			goto nomem;
		links = grown;
		links[count].options = opts;
		links[count].dn = strndup(dn, (size_t)(semi - dn));
		if (links[count++].dn == NULL)
			goto nomem;
		p = end + 1;
	}
	*out = links;
	*n = count;
	return AE_OK;
nomem:
	rc = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
fail:
	ae_gplinks_free(links, count);
	return rc;
}

/* ---- SOMs from the account's DN ---- */

/* The parent of DN: after its first unescaped comma; NULL at the top. */
static const char *
dn_parent(const char *dn)
{
	for (const char *p = dn; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == ',')
			return p + 1 + strspn(p + 1, " ");
	}
	return NULL;
}

void
ae_soms_free(ae_som *soms, size_t n)
{
	for (size_t i = 0; soms != NULL && i < n; i++) {
		free(soms[i].dn);
		free(soms[i].gplink);
		free(soms[i].subnet);
	}
	free(soms);
}

ae_som *
ae_som_list(const char *account_dn, size_t *n)
{
	ae_som *soms = NULL;
	size_t count = 0;
	bool domain = false;

	*n = 0;
	for (const char *p = dn_parent(account_dn); p != NULL && !domain; p = dn_parent(p)) {
		ae_som *grown;

		domain = strncasecmp(p, "DC=", 3) == 0;
		if (!domain && strncasecmp(p, "OU=", 3) != 0)
			continue; /* CN=Users and the like link nothing */
		grown = realloc(soms, (count + 1) * sizeof(*soms));
		if (grown == NULL)
			break;
		soms = grown;
		memset(&soms[count], 0, sizeof(soms[0]));
		soms[count].kind = domain ? AE_SOM_DOMAIN : AE_SOM_OU;
		if ((soms[count++].dn = strdup(p)) == NULL)
			break;
	}
	if (!domain || count == 0 || soms[count - 1].dn == NULL) {
		ae_soms_free(soms, count);
		return NULL;
	}
	*n = count;
	return soms;
}

/* ---- the computation ---- */

const char *
ae_gpo_status_text(ae_gpo_status status)
{
	switch (status) {
	case AE_GPO_APPLIED: return "applied";
	case AE_GPO_LINK_DISABLED: return "link disabled";
	case AE_GPO_BLOCKED: return "blocked";
	case AE_GPO_NOT_READABLE: return "not readable";
	case AE_GPO_BAD_VERSION: return "bad version";
	case AE_GPO_HALF_DISABLED: return "disabled";
	case AE_GPO_DENIED: return "filtered by security";
	case AE_GPO_EMPTY: return "empty";
	}
	return "?";
}

const char *
ae_som_kind_text(ae_som_kind kind)
{
	return kind == AE_SOM_SITE ? "site" : kind == AE_SOM_DOMAIN ? "domain" : "OU";
}

void
ae_gpo_list_free(ae_gpo_list *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->n; i++)
		free(list->items[i].dn);
	free(list->items);
	free(list);
}

static const ae_gpo_object *
find_object(const ae_gpo_object *objs, size_t n, const char *dn)
{
	for (size_t i = 0; i < n; i++)
		if (objs[i].dn != NULL && strcasecmp(objs[i].dn, dn) == 0)
			return &objs[i];
	return NULL;
}

/* MS-GPOL 3.2.5.1.6 on one kept link. */
static void
filter(ae_gpo_result *r, const ae_gpo_object *objs, size_t n_objs, const ae_token *token, bool machine)
{
	r->obj = find_object(objs, n_objs, r->dn);
	if (r->obj == NULL) {
		r->status = AE_GPO_NOT_READABLE;
		return;
	}
	if (r->obj->functionality_version != 2) {
		r->status = AE_GPO_BAD_VERSION;
		return;
	}
	if (r->obj->flags & (machine ? AE_GPO_FLAG_MACHINE_DISABLED : AE_GPO_FLAG_USER_DISABLED)) {
		r->status = AE_GPO_HALF_DISABLED;
		return;
	}
	r->access = ae_secdesc_check(r->obj->sd, token, AE_RIGHT_APPLY_GROUP_POLICY);
	if (r->obj->sd == NULL || !r->access.allowed) {
		r->status = AE_GPO_DENIED;
		return;
	}
	if (r->obj->version == 0) {
		r->status = AE_GPO_EMPTY;
		return;
	}
	r->status = AE_GPO_APPLIED;
	r->wmi_unevaluated = r->obj->wmi_filter != NULL;
}

typedef struct {
	ae_gpo_result *r;
	size_t n, cap;
} results;

static ae_gpo_result *
push(results *rs, const ae_gplink *l, const ae_som *som)
{
	ae_gpo_result *r;

	if (rs->n == rs->cap) {
		size_t ncap = rs->cap ? rs->cap * 2 : 16;
		ae_gpo_result *g = realloc(rs->r, ncap * sizeof(*g));

		if (g == NULL)
			return NULL;
		rs->r = g;
		rs->cap = ncap;
	}
	r = &rs->r[rs->n];
	memset(r, 0, sizeof(*r));
	r->access.ace_index = -1;
	if ((r->dn = strdup(l->dn)) == NULL)
		return NULL;
	rs->n++;
	r->som = som->dn;
	r->som_kind = som->kind;
	r->enforced = (l->options & AE_GPLINK_ENFORCED) != 0;
	return r;
}

static void
results_free(results *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->r[i].dn);
	free(rs->r);
}

ae_err
ae_gpo_compute(ae_ctx *ctx, const ae_som *soms, size_t n_soms, const ae_gpo_object *objs, size_t n_objs,
               const ae_token *token, bool machine, ae_gpo_list **out)
{
	/* MS-GPOL 3.2.5.1.5: non-enforced links prepended SOM by SOM (so the
	 * nearest OU's come last), enforced ones appended (so the farthest
	 * SOM's come last), then the two lists one after the other. */
	results nonenf = { 0 }, enf = { 0 }, left = { 0 };
	const char *blocked_at = NULL;
	ae_gpo_list *list = NULL;
	ae_err rc = AE_OK;

	*out = NULL;
	for (size_t i = 0; i < n_soms; i++) {
		ae_gplink *links = NULL;
		size_t nl = 0;

		if (soms[i].gplink != NULL && (rc = ae_gplink_parse(ctx, soms[i].gplink, &links, &nl)) != AE_OK) {
			rc = ae_prefix_message(ctx, rc, "gPLink of %s", soms[i].dn);
			goto out;
		}
		for (size_t k = 0; k < nl && rc == AE_OK; k++) {
			ae_gpo_result *r;

			if (links[k].options & AE_GPLINK_DISABLED) {
				if ((r = push(&left, &links[k], &soms[i])) == NULL)
					rc = AE_ERR_NOMEM;
				else
					r->status = AE_GPO_LINK_DISABLED;
			} else if (!(links[k].options & AE_GPLINK_ENFORCED) && blocked_at != NULL) {
				if ((r = push(&left, &links[k], &soms[i])) == NULL) {
					rc = AE_ERR_NOMEM;
				} else {
					r->status = AE_GPO_BLOCKED;
					r->blocked_at = blocked_at;
				}
			} else if (!(links[k].options & AE_GPLINK_ENFORCED)) {
				/* prepend: push, then move to the front */
				if ((r = push(&nonenf, &links[k], &soms[i])) == NULL) {
					rc = AE_ERR_NOMEM;
				} else {
					ae_gpo_result t = *r;

					memmove(nonenf.r + 1, nonenf.r, (nonenf.n - 1) * sizeof(*nonenf.r));
					nonenf.r[0] = t;
				}
			}
		}
		for (size_t k = 0; k < nl && rc == AE_OK; k++)
			if ((links[k].options & (AE_GPLINK_ENFORCED | AE_GPLINK_DISABLED)) == AE_GPLINK_ENFORCED &&
			    push(&enf, &links[k], &soms[i]) == NULL)
				rc = AE_ERR_NOMEM;
		ae_gplinks_free(links, nl);
		if (rc != AE_OK)
			goto nomem;
		if (soms[i].block_inheritance && blocked_at == NULL)
			blocked_at = soms[i].dn;
	}
	list = calloc(1, sizeof(*list));
	if (list == NULL)
		goto nomem;
	list->n = nonenf.n + enf.n + left.n;
	list->n_ordered = nonenf.n + enf.n;
	list->items = calloc(list->n ? list->n : 1, sizeof(*list->items));
	if (list->items == NULL) {
		list->n = 0;
		goto nomem;
	}
	if (nonenf.n)
		memcpy(list->items, nonenf.r, nonenf.n * sizeof(*nonenf.r));
	if (enf.n)
		memcpy(list->items + nonenf.n, enf.r, enf.n * sizeof(*enf.r));
	if (left.n)
		memcpy(list->items + list->n_ordered, left.r, left.n * sizeof(*left.r));
	free(nonenf.r);
	free(enf.r);
	free(left.r);
	nonenf = enf = left = (results){ 0 };
	for (size_t i = 0; i < list->n_ordered; i++)
		filter(&list->items[i], objs, n_objs, token, machine);
	for (size_t i = list->n_ordered; i < list->n; i++) /* named, not filtered */
		list->items[i].obj = find_object(objs, n_objs, list->items[i].dn);
	*out = list;
	return AE_OK;
nomem:
	rc = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
out:
	results_free(&nonenf);
	results_free(&enf);
	results_free(&left);
	ae_gpo_list_free(list);
	return rc;
}

/* Appends the items [FROM, TO) of SRC to DST (sized for them). */
static bool
copy_items(ae_gpo_list *dst, const ae_gpo_list *src, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		ae_gpo_result *r = &dst->items[dst->n];

		*r = src->items[i];
		if ((r->dn = strdup(src->items[i].dn)) == NULL)
			return false;
		dst->n++;
	}
	return true;
}

ae_err
ae_gpo_loopback(ae_ctx *ctx, const ae_gpo_list *user, const ae_gpo_list *computer, unsigned mode,
                ae_gpo_list **out)
{
	const ae_gpo_list *parts[2] = { user, NULL };
	ae_gpo_list *list;
	size_t n = 0;
	bool ok = true;

	*out = NULL;
	if (mode == AE_GPO_LOOPBACK_REPLACE)
		parts[0] = computer;
	else if (mode == AE_GPO_LOOPBACK_MERGE)
		parts[1] = computer;
	for (int k = 0; k < 2; k++)
		n += parts[k] ? parts[k]->n : 0;
	list = calloc(1, sizeof(*list));
	if (list == NULL || (list->items = calloc(n ? n : 1, sizeof(*list->items))) == NULL) {
		free(list);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	for (int k = 0; k < 2 && ok; k++)
		ok = parts[k] == NULL || copy_items(list, parts[k], 0, parts[k]->n_ordered);
	list->n_ordered = list->n;
	for (int k = 0; k < 2 && ok; k++)
		ok = parts[k] == NULL || copy_items(list, parts[k], parts[k]->n_ordered, parts[k]->n);
	if (!ok) {
		ae_gpo_list_free(list);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	*out = list;
	return AE_OK;
}

bool
ae_gptini_version(const char *data, size_t len, uint32_t *out)
{
	bool general = false;
	size_t i = 0;

	while (i < len) {
		size_t e = i, l;
		const char *line = data + i;

		while (e < len && data[e] != '\n')
			e++;
		l = e - i;
		while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == ' '))
			l--;
		if (l > 0 && line[0] == '[')
			general = l == 9 && strncasecmp(line, "[General]", 9) == 0;
		else if (general && l > 8 && strncasecmp(line, "Version=", 8) == 0) {
			uint64_t v = 0;

			for (size_t k = 8; k < l; k++) {
				if (!isdigit((unsigned char)line[k]) || (v = v * 10 + (uint64_t)(line[k] - '0')) > 0xffffffffu)
					return false;
			}
			*out = (uint32_t)v;
			return true;
		}
		i = e + 1;
	}
	return false;
}

/* ---- reading it over LDAP ---- */

void
ae_gpo_objects_free(ae_gpo_object *objs, size_t n)
{
	for (size_t i = 0; objs != NULL && i < n; i++) {
		free(objs[i].dn);
		free(objs[i].guid);
		free(objs[i].name);
		free(objs[i].path);
		free(objs[i].wmi_filter);
		ae_secdesc_free(objs[i].sd);
	}
	free(objs);
}

static uint32_t
entry_u32(const ae_entry *e, const char *attr, uint32_t dflt)
{
	char *s = ae_entry_string(e, attr), *end = NULL;
	long long v;

	if (s == NULL)
		return dflt;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0' || v < -2147483648LL || v > 4294967295LL)
		v = dflt;
	free(s);
	return (uint32_t)v;
}

/* "(|(distinguishedName=A)(distinguishedName=B)...)" */
static char *
dn_filter(char *const *dns, size_t n)
{
	ae_buf b;

	ae_buf_init(&b);
	ae_buf_puts(&b, "(|");
	for (size_t i = 0; i < n; i++) {
		char *esc = ae_ldap_escape(dns[i]);

		if (esc == NULL) {
			ae_buf_clear(&b);
			return NULL;
		}
		ae_buf_printf(&b, "(distinguishedName=%s)", esc);
		free(esc);
	}
	ae_buf_puts(&b, ")");
	return ae_buf_steal(&b);
}

static void
take_som_attrs(ae_som *som, const ae_entry *e)
{
	free(som->gplink);
	som->gplink = ae_entry_string(e, "gPLink");
	som->block_inheritance = entry_u32(e, "gPOptions", 0) == 1;
}

/* The DC's site (rootDSE serverName: CN=DC1,CN=Servers,CN=<site>,...). */
static char *
site_dn(const ae_ldap *ld)
{
	const ae_entry *root = ae_ldap_root_dse(ld);
	char *v = root ? ae_entry_string(root, "serverName") : NULL, *dn, *site = NULL;
	const char *p;
	char guid[37];

	if (v == NULL)
		return NULL;
	dn = ae_ldap_extended_dn(v, guid);
	free(v);
	if (dn == NULL)
		return NULL;
	p = dn_parent(dn);                 /* CN=Servers,CN=<site>,CN=Sites,... */
	p = p ? dn_parent(p) : NULL;      /* CN=<site>,CN=Sites,... */
	if (p != NULL && strncasecmp(p, "CN=", 3) == 0)
		site = strdup(p);
	free(dn);
	return site;
}

/* The host's site as DsGetSiteName finds it (MS-GPOL 3.2.5.1.3, the site
 * SOM): the subnet objects of CN=Subnets,CN=Sites of the configuration NC
 * (MS-ADTS 6.1.1.2.2.1.2.1.1) against the address this host reaches the DC
 * from, the longest prefix winning; without one, the DC's own site.  One
 * search gives the subnets and the sites' gPLink and gPOptions.  *SITE
 * NULL when there is none; SOM gets its gPLink, gPOptions and subnet. */
static ae_err
read_site(ae_ctx *ctx, ae_ldap *ld, char **site, ae_som *som)
{
	static const char *const attrs[] = { "cn", "siteObject", "gPLink", "gPOptions", NULL };
	const char *cfg = ae_ldap_config_nc(ld);
	char *dc_site = site_dn(ld), *base = NULL, *chosen = NULL, *subnet = NULL;
	ae_ldap_result res = { 0 };
	uint8_t addr[16];
	int family = 0, best = -1;
	ae_err rc = AE_OK;

	*site = NULL;
	if (cfg != NULL)
		base = ae_strdup_printf("CN=Sites,%s", cfg);
	else if (dc_site != NULL && dn_parent(dc_site) != NULL)
		base = strdup(dn_parent(dc_site));
	if (base == NULL)
		goto out; /* no site known */
	rc = ae_ldap_search(ctx, ld, base, "sub", "(|(objectClass=site)(objectClass=subnet))", attrs, 0, &res);
	if (rc != AE_OK)
		goto out;
	if (!ae_ldap_local_address(ld, &family, addr))
		family = 0;
	for (size_t i = 0; family != 0 && i < res.count; i++) {
		char *cn = ae_entry_string(&res.entries[i], "cn"), *obj = ae_entry_string(&res.entries[i], "siteObject");
		ae_subnet sn;

		if (obj != NULL && ae_subnet_parse(cn, &sn) && ae_subnet_contains(&sn, family, addr) &&
		    (int)sn.prefix > best) {
			best = (int)sn.prefix;
			free(chosen);
			free(subnet);
			chosen = obj;
			subnet = cn;
			obj = cn = NULL;
		}
		free(cn);
		free(obj);
	}
	if (chosen == NULL) {
		chosen = dc_site;
		dc_site = NULL;
	}
	for (size_t i = 0; chosen != NULL && i < res.count; i++)
		if (res.entries[i].dn != NULL && strcasecmp(res.entries[i].dn, chosen) == 0)
			take_som_attrs(som, &res.entries[i]);
	som->subnet = subnet;
	subnet = NULL;
	*site = chosen;
	chosen = NULL;
out:
	ae_ldap_result_free(&res);
	free(dc_site);
	free(base);
	free(chosen);
	free(subnet);
	return rc;
}

ae_err
ae_gpo_read(ae_ctx *ctx, ae_ldap *ld, const char *account_dn, ae_som **soms_out, size_t *n_soms_out,
            ae_gpo_object **objs_out, size_t *n_objs_out)
{
	static const char *const som_attrs[] = { "gPLink", "gPOptions", NULL };
	static const char *const gpo_attrs[] = { "cn", "displayName", "gPCFileSysPath", "flags", "versionNumber",
		                                 "gPCFunctionalityVersion", "gPCWQLFilter", "nTSecurityDescriptor",
		                                 NULL };
	ae_ldap_result res = { 0 };
	ae_som *soms = NULL, *grown;
	ae_gpo_object *objs = NULL;
	size_t n_soms = 0, n_objs = 0;
	char **dns = NULL, *filter = NULL, *site = NULL, *policies = NULL;
	ae_som site_som = { 0 };
	ae_err rc;

	*soms_out = NULL;
	*objs_out = NULL;
	*n_soms_out = *n_objs_out = 0;
	soms = ae_som_list(account_dn, &n_soms);
	if (soms == NULL)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s: no domain in the account's DN", account_dn);
	/* 1: the OUs and the domain, one subtree search from the domain */
	for (size_t i = 0; i < n_soms; i++)
		if (!ae_strv_append(&dns, soms[i].dn))
			goto nomem;
	if ((filter = dn_filter(dns, n_soms)) == NULL)
		goto nomem;
	rc = ae_ldap_search(ctx, ld, soms[n_soms - 1].dn, "sub", filter, som_attrs, 0, &res);
	if (rc != AE_OK)
		goto fail;
	for (size_t i = 0; i < res.count; i++)
		for (size_t k = 0; k < n_soms; k++)
			if (res.entries[i].dn != NULL && strcasecmp(res.entries[i].dn, soms[k].dn) == 0)
				take_som_attrs(&soms[k], &res.entries[i]);
	ae_ldap_result_free(&res);
	/* 2: the site (the subnets, else the DC's own) */
	if ((rc = read_site(ctx, ld, &site, &site_som)) != AE_OK)
		goto fail;
	if (site != NULL) {
		grown = realloc(soms, (n_soms + 1) * sizeof(*soms));
		if (grown == NULL)
			goto nomem;
		soms = grown;
		soms[n_soms] = site_som;
		soms[n_soms].kind = AE_SOM_SITE;
		soms[n_soms++].dn = site;
		site = NULL;
		site_som = (ae_som){ 0 };
	}
	/* 3: the linked GPOs, with the DACL of their descriptor */
	ae_strv_free(dns);
	dns = NULL;
	for (size_t i = 0; i < n_soms; i++) {
		ae_gplink *links = NULL;
		size_t nl = 0;

		if (soms[i].gplink == NULL || ae_gplink_parse(ctx, soms[i].gplink, &links, &nl) != AE_OK)
			continue; /* ae_gpo_compute() reports it */
		for (size_t k = 0; k < nl; k++)
			if (!ae_strv_contains_nocase(dns, links[k].dn) && !ae_strv_append(&dns, links[k].dn)) {
				ae_gplinks_free(links, nl);
				goto nomem;
			}
		ae_gplinks_free(links, nl);
	}
	if (dns != NULL) {
		free(filter);
		/* the domain's SOM is the last before the site */
		for (size_t i = 0; i < n_soms; i++)
			if (soms[i].kind == AE_SOM_DOMAIN)
				policies = ae_strdup_printf("CN=Policies,CN=System,%s", soms[i].dn);
		if ((filter = dn_filter(dns, ae_strv_len(dns))) == NULL || policies == NULL)
			goto nomem;
		rc = ae_ldap_search(ctx, ld, policies, "one", filter, gpo_attrs, AE_LDAP_SD_DACL, &res);
		if (rc != AE_OK)
			goto fail;
		objs = calloc(res.count ? res.count : 1, sizeof(*objs));
		if (objs == NULL)
			goto nomem;
		for (size_t i = 0; i < res.count; i++) {
			const ae_entry *e = &res.entries[i];
			const ae_attr *sd = ae_entry_get(e, "nTSecurityDescriptor");
			ae_gpo_object *o = &objs[n_objs++];

			o->dn = strdup(e->dn ? e->dn : "");
			o->guid = ae_entry_string(e, "cn");
			o->name = ae_entry_string(e, "displayName");
			if (o->name == NULL && o->guid != NULL)
				o->name = strdup(o->guid);
			o->path = ae_entry_string(e, "gPCFileSysPath");
			o->flags = entry_u32(e, "flags", 0);
			o->version = entry_u32(e, "versionNumber", 0);
			o->functionality_version = (int)entry_u32(e, "gPCFunctionalityVersion", 0);
			o->wmi_filter = ae_entry_string(e, "gPCWQLFilter");
			if (o->dn == NULL || o->name == NULL)
				goto nomem;
			if (sd != NULL && sd->nvalues == 1 &&
			    ae_secdesc_parse(ctx, sd->values[0].data, sd->values[0].len, &o->sd) != AE_OK)
				ae_log(ctx, AE_LOG_WARNING, "GPO %s: %s: nothing is granted", o->name, ae_get_message(ctx));
		}
		ae_ldap_result_free(&res);
	}
	*soms_out = soms;
	*n_soms_out = n_soms;
	*objs_out = objs;
	*n_objs_out = n_objs;
	rc = AE_OK;
	soms = NULL;
	objs = NULL;
	n_objs = 0;
	goto done;
nomem:
	rc = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
fail:
	ae_ldap_result_free(&res);
done:
	ae_soms_free(soms, n_soms);
	ae_gpo_objects_free(objs, n_objs);
	ae_strv_free(dns);
	free(filter);
	free(site);
	free(site_som.gplink);
	free(site_som.subnet);
	free(policies);
	return rc;
}

/* ---- what the machine publishes for users' loopback ---- */

void
ae_gp_computer_clear(ae_gp_computer *c)
{
	free(c->computer_dn);
	free(c->mode_gpo);
	memset(c, 0, sizeof(*c));
}

bool
ae_gp_computer_parse(const char *text, size_t len, ae_gp_computer *out)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	while (i < len) {
		size_t e = i, l, kl;
		const char *line = text + i, *eq;
		char **slot = NULL;
		char *v;

		while (e < len && text[e] != '\n')
			e++;
		l = e - i;
		i = e + 1;
		if (l == 0 || line[0] == '#')
			continue;
		if (ae_has_control(line, l, NULL) || (eq = memchr(line, '=', l)) == NULL)
			goto bad;
		kl = (size_t)(eq - line);
		while (kl > 0 && line[kl - 1] == ' ')
			kl--;
		eq++;
		while (eq < line + l && *eq == ' ')
			eq++;
		if ((v = strndup(eq, (size_t)(line + l - eq))) == NULL)
			goto bad;
		if (kl == 11 && strncmp(line, "computer_dn", kl) == 0)
			slot = &out->computer_dn;
		else if (kl == 20 && strncmp(line, "user_policy_mode_gpo", kl) == 0)
			slot = &out->mode_gpo;
		else if (kl == 16 && strncmp(line, "user_policy_mode", kl) == 0) {
			char *end = NULL;
			unsigned long m = strtoul(v, &end, 10);
			bool number = end != v && *end == '\0' && isdigit((unsigned char)v[0]) && m <= 0xffffffffu;

			free(v);
			if (!number)
				goto bad;
			out->mode = (unsigned)m;
			continue;
		}
		if (slot == NULL) { /* keys of later versions */
			free(v);
			continue;
		}
		free(*slot);
		*slot = v;
	}
	if (out->computer_dn != NULL && out->computer_dn[0] != '\0')
		return true;
bad:
	ae_gp_computer_clear(out);
	return false;
}

char *
ae_gp_computer_format(const ae_gp_computer *c)
{
	ae_buf b;

	ae_buf_init(&b);
	ae_buf_puts(&b, "# autoenroll: the computer's Group Policy, for users' pulses (loopback processing)\n");
	ae_buf_printf(&b, "computer_dn = %s\nuser_policy_mode = %u\n", c->computer_dn ? c->computer_dn : "", c->mode);
	if (c->mode_gpo != NULL)
		ae_buf_printf(&b, "user_policy_mode_gpo = %s\n", c->mode_gpo);
	return ae_buf_steal(&b);
}

/* ---- subnets ---- */

bool
ae_subnet_parse(const char *cn, ae_subnet *out)
{
	const char *slash = cn ? strchr(cn, '/') : NULL;
	char host[INET6_ADDRSTRLEN];
	unsigned long prefix;
	char *end = NULL;

	memset(out, 0, sizeof(*out));
	if (slash == NULL || (size_t)(slash - cn) >= sizeof(host) || !isdigit((unsigned char)slash[1]))
		return false;
	memcpy(host, cn, (size_t)(slash - cn));
	host[slash - cn] = '\0';
	prefix = strtoul(slash + 1, &end, 10);
	if (*end != '\0')
		return false;
	if (inet_pton(AF_INET, host, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, host, out->addr) == 1)
		out->family = AF_INET6;
	else
		return false;
	if (prefix > (out->family == AF_INET ? 32u : 128u)) {
		memset(out, 0, sizeof(*out));
		return false;
	}
	out->prefix = (unsigned)prefix;
	return true;
}

bool
ae_subnet_contains(const ae_subnet *subnet, int family, const uint8_t *addr)
{
	unsigned full = subnet->prefix / 8, rest = subnet->prefix % 8;

	if (subnet->family != family)
		return false;
	if (memcmp(subnet->addr, addr, full) != 0)
		return false;
	return rest == 0 || ((subnet->addr[full] ^ addr[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}
