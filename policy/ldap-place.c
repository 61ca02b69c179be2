/*
 * ldap-place.c - the enrollment policy from one search of the
 * configuration naming context, each entry taken by its place.
 */
#include "config.h"

#include "ldap-place.h"
#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t
ae_ldap_place_attributes(const char **out, size_t max)
{
	static const char *const more[] = {
		"objectClass",                                   /* what places an entry */
		"dNSHostName", "certificateTemplates", "cACertificate", /* CAs, roots, AIA, NTAuth */
		"crossCertificatePair",                          /* cross-certificates in AIA */
		"nCName", "nETBIOSName",                         /* the domain's crossRef */
		NULL,
	};
	const char *const *lists[] = { ae_template_attributes, more };
	size_t n = 0;

	for (size_t l = 0; l < 2; l++) {
		for (size_t i = 0; lists[l][i] != NULL; i++) {
			bool dup = false;
			for (size_t j = 0; j < n && !dup; j++)
				dup = strcasecmp(out[j], lists[l][i]) == 0;
			if (!dup && n + 1 < max)
				out[n++] = lists[l][i];
		}
	}
	out[n] = NULL;
	return n;
}

/* Whether DN[I] is a comma that separates RDNs (not escaped "\,"). */
static bool
rdn_separator(const char *dn, size_t i)
{
	size_t backslashes = 0;

	if (dn[i] != ',')
		return false;
	while (backslashes < i && dn[i - 1 - backslashes] == '\\')
		backslashes++;
	return backslashes % 2 == 0;
}

/* Whether DN is below ANCESTOR; with CHILD, directly below it. */
static bool
below(const char *dn, const char *ancestor, bool child)
{
	size_t ld = strlen(dn), la = strlen(ancestor);

	if (ld < la + 2 || strcasecmp(dn + ld - la, ancestor) != 0 || !rdn_separator(dn, ld - la - 1))
		return false;
	for (size_t i = 0; child && i < ld - la - 1; i++)
		if (rdn_separator(dn, i))
			return false;
	return true;
}

static bool
has_class(const ae_entry *e, const char *cls)
{
	return ae_entry_has_value(e, "objectClass", cls);
}

enum { TEMPLATE, SERVICE, ROOT, AIA, NTAUTH, OID_ROOT, OID, CROSSREF, NPLACES };

typedef struct {
	char *dn[NPLACES];
	const ae_entry **of[NPLACES];
	size_t n[NPLACES];
} places;

static int
place_of(const places *pl, const ae_entry *e, const char *default_nc)
{
	static const struct { int place; const char *cls; bool child; } rules[] = {
		{ TEMPLATE, "pKICertificateTemplate", true },
		{ SERVICE, "pKIEnrollmentService", true },
		{ ROOT, "certificationAuthority", true },
		{ AIA, "certificationAuthority", true },
		{ OID, "msPKI-Enterprise-Oid", false },
		{ CROSSREF, "crossRef", true },
	};

	if (e->dn == NULL)
		return -1;
	if (strcasecmp(e->dn, pl->dn[NTAUTH]) == 0)
		return has_class(e, "certificationAuthority") ? NTAUTH : -1;
	if (strcasecmp(e->dn, pl->dn[OID_ROOT]) == 0)
		return has_class(e, "msPKI-Enterprise-Oid") ? OID_ROOT : -1;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		if (!below(e->dn, pl->dn[rules[i].place], rules[i].child) || !has_class(e, rules[i].cls))
			continue;
		if (rules[i].place == CROSSREF) {
			char *nc = ae_entry_string(e, "nCName");
			bool ours = nc != NULL && strcasecmp(nc, default_nc) == 0;
			free(nc);
			return ours ? CROSSREF : -1;
		}
		return rules[i].place;
	}
	return -1;
}

static ae_err
place_cas(ae_ctx *ctx, const places *pl, ae_policy *p)
{
	ae_err err = AE_OK;

	if (pl->n[SERVICE] > 0 && (p->pki.cas = calloc(pl->n[SERVICE], sizeof(ae_ca))) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < pl->n[SERVICE]; i++) {
		err = ae_ca_from_entry(ctx, pl->of[SERVICE][i], &p->pki.cas[p->pki.ca_count]);
		if (err == AE_ERR_NOMEM)
			return err;
		if (err != AE_OK) {
			ae_log(ctx, AE_LOG_WARNING, "%s", ae_get_message(ctx));
			continue;
		}
		p->pki.ca_count++;
	}
	static const struct { int place; size_t store; } stores[] = {
		{ ROOT, offsetof(ae_pki, roots) },
		{ AIA, offsetof(ae_pki, intermediates) },
		{ NTAUTH, offsetof(ae_pki, ntauth) },
	};
	for (size_t s = 0; s < sizeof(stores) / sizeof(stores[0]); s++) {
		STACK_OF(X509) **st = (STACK_OF(X509) **)((char *)&p->pki + stores[s].store);
		if (*st == NULL && (*st = sk_X509_new_null()) == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		for (size_t i = 0; i < pl->n[stores[s].place]; i++)
			if ((err = ae_pki_add_certs(ctx, st, pl->of[stores[s].place][i], "cACertificate")) != AE_OK)
				return err;
	}
	/* Cross-certificates (the whitepaper: downloaded with the
	 * intermediates): both halves of each pair in CN=AIA. */
	for (size_t i = 0; i < pl->n[AIA]; i++)
		if ((err = ae_pki_add_cross_certs(ctx, &p->pki.intermediates, pl->of[AIA][i])) != AE_OK)
			return err;
	return AE_OK;
}

/* The OID registrations, which Windows caches locally so that names show
 * instead of numbers; the container holds the forest's OID root. */
static ae_err
place_oids(ae_ctx *ctx, const places *pl, ae_policy *p)
{
	for (size_t i = 0; i < pl->n[OID_ROOT]; i++) {
		char *oid = NULL;
		if (ae_entry_text(ctx, pl->of[OID_ROOT][i], "msPKI-Cert-Template-OID", &oid) != AE_OK) {
			ae_log(ctx, AE_LOG_WARNING, "%s", ae_get_message(ctx));
			ae_clear_message(ctx);
		}
		if (oid != NULL) {
			free(p->forest_oid);
			p->forest_oid = oid;
		}
	}
	p->oids = calloc(pl->n[OID] ? pl->n[OID] : 1, sizeof(ae_oid));
	if (p->oids == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < pl->n[OID]; i++) {
		const ae_entry *e = pl->of[OID][i];
		const ae_attr *fl = ae_entry_get(e, "flags");
		char *oid = NULL, *display = NULL;
		ae_oid *o;

		if (ae_entry_text(ctx, e, "msPKI-Cert-Template-OID", &oid) != AE_OK ||
		    ae_entry_text(ctx, e, "displayName", &display) != AE_OK) {
			ae_log(ctx, AE_LOG_WARNING, "OID object skipped: %s", ae_get_message(ctx));
			ae_clear_message(ctx);
			free(oid);
			continue;
		}
		if (oid == NULL) {
			free(display);
			continue;
		}
		o = &p->oids[p->oid_count];
		o->oid = oid;
		o->display_name = display;
		if (fl != NULL && fl->nvalues > 0 &&
		    ae_parse_ldap_uint32(ctx, "flags", &fl->values[0], &o->flags) != AE_OK) {
			ae_log(ctx, AE_LOG_INFO, "OID object %s: %s", e->dn, ae_get_message(ctx));
			ae_clear_message(ctx);
		}
		p->oid_count++;
	}
	return AE_OK;
}

static ae_err
place_templates(ae_ctx *ctx, const places *pl, ae_policy *p)
{
	p->templates = calloc(pl->n[TEMPLATE] ? pl->n[TEMPLATE] : 1, sizeof(ae_template *));
	if (p->templates == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < pl->n[TEMPLATE]; i++) {
		const ae_entry *e = pl->of[TEMPLATE][i];
		ae_template *t = NULL;
		ae_err err = ae_template_from_entry(ctx, e, &t);

		if (err == AE_ERR_NOMEM)
			return err;
		if (err != AE_OK) {
			/* One bad template must not hide the others: keep it as an
			 * item with the reason. */
			char *name = ae_entry_string(e, "cn");
			char *line;
			bool stored;

			if (name == NULL || ae_has_control(name, strlen(name), NULL)) {
				/* Named so that it can be shown and logged. */
				ae_buf b;
				ae_buf_init(&b);
				ae_buf_escaped(&b, name ? name : e->dn ? e->dn : "(no DN)");
				free(name);
				name = ae_buf_steal(&b);
			}
			line = ae_strdup_printf("%s\t%s", name ? name : "(no name)", ae_get_message(ctx));

			ae_log(ctx, AE_LOG_WARNING, "template %s skipped: %s", name ? name : "(no name)",
			       ae_get_message(ctx));
			stored = line != NULL && ae_strv_append(&p->invalid_templates, line);
			free(name);
			free(line);
			if (!stored)
				return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			ae_clear_message(ctx);
			continue;
		}
		if (t->sd == NULL)
			ae_log(ctx, AE_LOG_WARNING, "template %s: %s: treated as granting no right", t->name,
			       t->sd_error ? t->sd_error : "no security descriptor");
		p->templates[p->template_count++] = t;
	}
	return AE_OK;
}

ae_err
ae_ldap_place(ae_ctx *ctx, const char *config_nc, const char *default_nc, const ae_entry *entries,
              size_t count, ae_policy *p, char **netbios)
{
	static const char *const rdns[NPLACES] = {
		"CN=Certificate Templates,CN=Public Key Services,CN=Services,",
		"CN=Enrollment Services,CN=Public Key Services,CN=Services,",
		"CN=Certification Authorities,CN=Public Key Services,CN=Services,",
		"CN=AIA,CN=Public Key Services,CN=Services,",
		"CN=NTAuthCertificates,CN=Public Key Services,CN=Services,",
		"CN=OID,CN=Public Key Services,CN=Services,",
		"CN=OID,CN=Public Key Services,CN=Services,",
		"CN=Partitions,",
	};
	places pl;
	ae_err err = AE_OK;

	*netbios = NULL;
	memset(&pl, 0, sizeof(pl));
	for (int k = 0; k < NPLACES; k++) {
		pl.dn[k] = ae_strdup_printf("%s%s", rdns[k], config_nc);
		pl.of[k] = calloc(count ? count : 1, sizeof(const ae_entry *));
		if (pl.dn[k] == NULL || pl.of[k] == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
	}
	for (size_t i = 0; i < count; i++) {
		int k = place_of(&pl, &entries[i], default_nc);
		if (k >= 0)
			pl.of[k][pl.n[k]++] = &entries[i];
		else
			ae_log(ctx, AE_LOG_DEBUG, "%s: not a place of the enrollment policy, ignored",
			       entries[i].dn ? entries[i].dn : "(no DN)");
	}
	if ((err = place_cas(ctx, &pl, p)) != AE_OK || (err = place_oids(ctx, &pl, p)) != AE_OK ||
	    (err = place_templates(ctx, &pl, p)) != AE_OK)
		goto cleanup;
	for (size_t i = 0; i < pl.n[CROSSREF] && *netbios == NULL; i++)
		if (ae_entry_text(ctx, pl.of[CROSSREF][i], "nETBIOSName", netbios) != AE_OK) {
			ae_log(ctx, AE_LOG_WARNING, "%s", ae_get_message(ctx));
			ae_clear_message(ctx);
		}
cleanup:
	for (int k = 0; k < NPLACES; k++) {
		free(pl.dn[k]);
		free(pl.of[k]);
	}
	return err;
}
