/*
 * cmd-gpo.c - "autoenroll gpo": Group Policy as autoenroll reads it.
 * Without --file: the GPOs considered for the caller or the machine, in
 * the order they apply, each applied or not and why (policy/gpo.c).
 * "--file PATH" decodes one Registry.pol (MS-GPREG 2.2.1): every entry's
 * key, value name, type and data, or the offset where the file is
 * damaged; then the autoenrollment settings the file alone carries
 * (policy/gpsettings.c).  Reads the file only: no network.
 */
#include "config.h"

#include "cli.h"
#include "gpread.h"
#include "gpsettings.h"
#include "json.h"
#include "regpol.h"
#include "util.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
gpo_usage(FILE *f)
{
	fprintf(f, "Usage: autoenroll gpo [--user | --machine] [--json] [-c FILE]\n"
	           "       autoenroll gpo --file PATH [--json]\n"
	           "\n"
	           "Lists the Group Policy Objects considered for the caller (default) or the\n"
	           "machine, in the order they apply, each applied or not and why (like gpresult).\n"
	           "With --file: decodes a Registry.pol file (Group Policy registry settings, MS-GPREG):\n"
	           "every entry's key, value name, type and data, then the autoenrollment\n"
	           "settings it carries.  A damaged file is an error naming the byte offset\n"
	           "of the damage (exit 1).\n");
}

/* Hex of LEN bytes, at most MAX of them shown ("..." after). */
static void
put_hex(ae_buf *b, const uint8_t *p, size_t len, size_t max)
{
	for (size_t i = 0; i < len && i < max; i++)
		ae_buf_printf(b, "%02x", p[i]);
	if (len > max)
		ae_buf_puts(b, "...");
}

/* The entry's data as text: numbers in decimal (and hex), strings as
 * they are, lists joined by "; ", anything else in hex.  Caller frees. */
static char *
data_text(const ae_regpol_entry *e, size_t hex_max)
{
	ae_buf b;
	uint32_t d;
	uint64_t q;
	char *s, **v;
	bool ok;

	ae_buf_init(&b);
	ae_buf_append(&b, "", 0);
	if (ae_regpol_dword(e, &d)) {
		ae_buf_printf(&b, "%" PRIu32 " (0x%" PRIx32 ")", d, d);
	} else if (ae_regpol_qword(e, &q)) {
		ae_buf_printf(&b, "%" PRIu64 " (0x%" PRIx64 ")", q, q);
	} else if ((s = ae_regpol_string(e)) != NULL) {
		ae_buf_printf(&b, "\"%s\"", s);
		free(s);
	} else if ((v = ae_regpol_multi(e, &ok)), ok) {
		for (size_t i = 0; v != NULL && v[i] != NULL; i++)
			ae_buf_printf(&b, "%s\"%s\"", i ? "; " : "", v[i]);
		ae_strv_free(v);
	} else {
		put_hex(&b, e->data, e->size, hex_max);
		ae_buf_printf(&b, " (%zu bytes)", e->size);
	}
	return ae_buf_steal(&b);
}

static void
settings_json(ae_json *j, const ae_gp_settings *s)
{
	const ae_gp_server *ldap = ae_gp_settings_ldap_server(s);

	ae_json_begin_object(j, "settings");
	if (s->aepolicy.set)
		ae_json_int(j, "aepolicy", s->aepolicy.value);
	else
		ae_json_null(j, "aepolicy");
	ae_json_string(j, "aepolicy_gpo", s->aepolicy.gpo);
	if (s->offline_expiration_percent.set)
		ae_json_int(j, "offline_expiration_percent", s->offline_expiration_percent.value);
	else
		ae_json_null(j, "offline_expiration_percent");
	ae_json_string(j, "offline_expiration_percent_gpo", s->offline_expiration_percent.gpo);
	ae_json_string(j, "offline_expiration_store_names", s->offline_store_names);
	ae_json_string(j, "offline_expiration_store_names_gpo", s->offline_store_names_gpo);
	if (s->user_policy_mode.set)
		ae_json_int(j, "user_policy_mode", s->user_policy_mode.value);
	else
		ae_json_null(j, "user_policy_mode");
	ae_json_string(j, "default_policy_id", s->default_policy_id);
	ae_json_begin_array(j, "policy_servers");
	for (size_t i = 0; i < s->n_servers; i++) {
		const ae_gp_server *sv = &s->servers[i];

		ae_json_begin_object(j, NULL);
		ae_json_string(j, "id", sv->id);
		ae_json_string(j, "url", sv->url);
		ae_json_string(j, "friendly_name", sv->friendly_name);
		ae_json_string(j, "policy_id", sv->policy_id);
		ae_json_int(j, "flags", sv->flags);
		ae_json_int(j, "auth_flags", sv->auth_flags);
		ae_json_int(j, "cost", sv->cost);
		ae_json_bool(j, "ldap_default", sv == ldap);
		ae_json_string(j, "gpo", sv->gpo);
		ae_json_end_object(j);
	}
	ae_json_end_array(j);
	ae_json_begin_array(j, "certificates");
	for (int st = 0; st < AE_GP_STORE_N; st++)
		for (size_t i = 0; i < s->n_certs[st]; i++) {
			ae_json_begin_object(j, NULL);
			ae_json_string(j, "store", ae_gp_store_name(st));
			ae_json_string(j, "thumbprint", s->certs[st][i].thumbprint);
			ae_json_string(j, "gpo", s->certs[st][i].gpo);
			ae_json_end_object(j);
		}
	ae_json_end_array(j);
	ae_json_strv(j, "problems", s->problems);
	ae_json_end_object(j);
}

static void
settings_text(const ae_gp_settings *s, const char *title)
{
	const ae_gp_server *ldap = ae_gp_settings_ldap_server(s);

	printf("\n%s:\n", title);
	if (s->aepolicy.set)
		printf("  AEPolicy                     0x%" PRIx32 "%s%s%s%s  (%s)\n", s->aepolicy.value,
		       s->aepolicy.value & AE_GP_AEPOLICY_DISABLED ? " disabled" : "",
		       s->aepolicy.value & AE_GP_AEPOLICY_ENROLL ? " enroll" : "",
		       s->aepolicy.value & AE_GP_AEPOLICY_MANAGE ? " manage" : "",
		       s->aepolicy.value & AE_GP_AEPOLICY_PENDING ? " pending" : "", s->aepolicy.gpo);
	if (s->offline_expiration_percent.set)
		printf("  OfflineExpirationPercent     %" PRIu32 "  (%s)\n", s->offline_expiration_percent.value,
		       s->offline_expiration_percent.gpo);
	if (s->offline_store_names != NULL)
		printf("  OfflineExpirationStoreNames  %s  (%s)\n", s->offline_store_names, s->offline_store_names_gpo);
	if (s->user_policy_mode.set)
		printf("  UserPolicyMode               %" PRIu32 "%s  (%s)\n", s->user_policy_mode.value,
		       s->user_policy_mode.value == AE_GPO_LOOPBACK_REPLACE ? " loopback replace"
		       : s->user_policy_mode.value == AE_GPO_LOOPBACK_MERGE ? " loopback merge" : "",
		       s->user_policy_mode.gpo);
	for (size_t i = 0; i < s->n_servers; i++) {
		const ae_gp_server *sv = &s->servers[i];

		printf("  policy server                %s \"%s\" id %s flags 0x%" PRIx32 " auth 0x%" PRIx32
		       " cost %" PRIu32 "%s  (%s)\n",
		       sv->url, sv->friendly_name ? sv->friendly_name : "", sv->policy_id ? sv->policy_id : "-", sv->flags,
		       sv->auth_flags, sv->cost, sv == ldap ? " (the LDAP: server used)" : "", sv->gpo);
	}
	for (int st = 0; st < AE_GP_STORE_N; st++)
		for (size_t i = 0; i < s->n_certs[st]; i++)
			printf("  %-28s %s  (%s)\n", ae_gp_store_name(st), s->certs[st][i].thumbprint, s->certs[st][i].gpo);
	for (size_t i = 0; s->problems != NULL && s->problems[i] != NULL; i++)
		printf("  problem: %s\n", s->problems[i]);
}

static void
print_json(const char *path, const ae_regpol *pol, const ae_gp_settings *gs)
{
	ae_json j;

	ae_json_init(&j);
	ae_json_begin_object(&j, NULL);
	ae_json_string(&j, "file", path);
	ae_json_int(&j, "version", pol->version);
	ae_json_begin_array(&j, "entries");
	for (size_t i = 0; i < pol->n; i++) {
		const ae_regpol_entry *e = &pol->entries[i];
		uint32_t d;
		uint64_t q;
		char *s, **v;
		bool ok;

		ae_json_begin_object(&j, NULL);
		ae_json_int(&j, "offset", (long long)e->offset);
		ae_json_string(&j, "key", e->key);
		ae_json_string(&j, "value", e->value);
		ae_json_string(&j, "type", ae_reg_type_name(e->type));
		ae_json_int(&j, "size", (long long)e->size);
		if (ae_regpol_dword(e, &d)) {
			ae_json_int(&j, "data", d);
		} else if (ae_regpol_qword(e, &q)) {
			ae_json_int(&j, "data", (long long)q);
		} else if ((s = ae_regpol_string(e)) != NULL) {
			ae_json_string(&j, "data", s);
			free(s);
		} else if ((v = ae_regpol_multi(e, &ok)), ok) {
			ae_json_strv(&j, "data", v);
			ae_strv_free(v);
		} else {
			ae_buf b;

			ae_buf_init(&b);
			ae_buf_append(&b, "", 0);
			put_hex(&b, e->data, e->size, SIZE_MAX);
			s = ae_buf_steal(&b);
			ae_json_string(&j, "data", s);
			free(s);
		}
		ae_json_end_object(&j);
	}
	ae_json_end_array(&j);
	settings_json(&j, gs);
	ae_json_end_object(&j);
	ae_cli_print_json(&j);
}

static void
print_text(const char *path, const ae_regpol *pol, const ae_gp_settings *s)
{
	const char *last_key = NULL;

	printf("%s: Registry.pol version %" PRIu32 ", %zu entr%s\n", path, pol->version, pol->n,
	       pol->n == 1 ? "y" : "ies");
	for (size_t i = 0; i < pol->n; i++) {
		const ae_regpol_entry *e = &pol->entries[i];
		char *data;

		if (last_key == NULL || strcmp(last_key, e->key) != 0)
			printf("%s\n", e->key);
		last_key = e->key;
		if (e->type == AE_REG_NONE && e->value[0] == '\0' && e->size == 0) {
			printf("  (key only)\n");
			continue;
		}
		data = data_text(e, 32);
		printf("  %-32s %-14s %s\n", e->value[0] ? e->value : "(default)", ae_reg_type_name(e->type),
		       data ? data : "?");
		free(data);
	}
	settings_text(s, "Autoenrollment settings in this file");
}

/* Why a GPO is or is not applied, in words.  Caller frees. */
static char *
gpo_reason(const ae_gpo_result *r, const ae_policy *p, bool machine)
{
	char name[256];

	switch (r->status) {
	case AE_GPO_APPLIED:
		return strdup(r->wmi_unevaluated ? "its WMI filter is not evaluated: applied as Windows does when the "
		                                   "filter cannot be read"
		                                 : "");
	case AE_GPO_LINK_DISABLED:
		return ae_strdup_printf("its link on %s is disabled", r->som);
	case AE_GPO_BLOCKED:
		return ae_strdup_printf("inheritance is blocked at %s and the link is not enforced", r->blocked_at);
	case AE_GPO_NOT_READABLE:
		return ae_strdup_printf("the DC did not return it: %s may not read it, or it was deleted",
		                        p->account.display ? p->account.display : "the account");
	case AE_GPO_BAD_VERSION:
		return ae_strdup_printf("gPCFunctionalityVersion is %d, not 2", r->obj->functionality_version);
	case AE_GPO_HALF_DISABLED:
		return strdup(machine ? "its computer settings are disabled" : "its user settings are disabled");
	case AE_GPO_DENIED:
		if (r->access.by_deny)
			return ae_strdup_printf("Apply Group Policy denied to %s by a deny entry for %s",
			                        p->account.display ? p->account.display : "the account",
			                        ae_account_sid_name(&p->account, &r->access.sid, name, sizeof(name)));
		return ae_strdup_printf("no entry grants Apply Group Policy to %s",
		                        p->account.display ? p->account.display : "the account");
	case AE_GPO_EMPTY:
		return strdup("it is empty (versionNumber 0)");
	}
	return strdup("");
}

static const char *
source_text(const ae_gp_result *r, size_t i)
{
	if (r->problem[i] != NULL)
		return "unusable";
	switch (r->source[i]) {
	case AE_SYSVOL_SMB: return r->pols[i] ? "read over SMB" : "none (read over SMB)";
	case AE_SYSVOL_CACHE: return r->pols[i] ? "cached, same version" : "none (cached, same version)";
	case AE_SYSVOL_STALE: return "SYSVOL unreachable: the copy cached before";
	}
	return NULL;
}

static const char *
loopback_text(unsigned mode)
{
	return mode == AE_GPO_LOOPBACK_REPLACE ? "replace" : mode == AE_GPO_LOOPBACK_MERGE ? "merge" : "none";
}

/* Which list item R came from: the computer's SOMs (loopback) or the account's own. */
static const char *
list_of(const ae_gp_result *gp, const ae_gpo_result *r)
{
	for (size_t i = 0; i < gp->n_lb_soms; i++)
		if (r->som == gp->lb_soms[i].dn)
			return "computer";
	return "account";
}

/* The site SOM's subnet, NULL when the DC's site was taken. */
static const ae_som *
site_som(const ae_gp_result *gp)
{
	for (size_t i = 0; i < gp->n_soms; i++)
		if (gp->soms[i].kind == AE_SOM_SITE)
			return &gp->soms[i];
	return NULL;
}

static void
print_gpos(const ae_policy *p, const ae_gp_result *gp, bool machine, bool json)
{
	const ae_gpo_list *list = gp->list;
	unsigned round_trips = gp->ldap_round_trips;
	double seconds = gp->ldap_seconds;
	ae_json j;
	size_t order = 0;

	if (json) {
		ae_json_init(&j);
		ae_json_begin_object(&j, NULL);
		ae_json_string(&j, "context", machine ? "machine" : "user");
		ae_json_string(&j, "account", p->account.display);
		ae_json_string(&j, "dn", p->account.dn);
		ae_json_string(&j, "server", p->origin.server);
		ae_json_int(&j, "round_trips", round_trips);
		ae_json_int(&j, "duration_ms", (long long)(seconds * 1000.0 + 0.5));
		ae_json_bool(&j, "wmi_filters_evaluated", false);
		ae_json_begin_object(&j, "site");
		ae_json_string(&j, "dn", site_som(gp) ? site_som(gp)->dn : NULL);
		ae_json_string(&j, "subnet", site_som(gp) ? site_som(gp)->subnet : NULL);
		ae_json_end_object(&j);
		if (!machine) {
			ae_json_begin_object(&j, "loopback");
			ae_json_string(&j, "mode", loopback_text(gp->loopback.mode));
			ae_json_int(&j, "user_policy_mode", gp->loopback.mode);
			ae_json_string(&j, "gpo", gp->loopback.mode_gpo);
			ae_json_string(&j, "computer", gp->loopback.computer_dn);
			ae_json_string(&j, "file", gp->loopback_file);
			ae_json_string(&j, "problem", gp->loopback_problem);
			ae_json_end_object(&j);
		}
		ae_json_begin_array(&j, "gpos");
	} else {
		printf("Group Policy for %s (%s), %s settings, from %s in %u LDAP round trips (%.0f ms)\n",
		       p->account.display ? p->account.display : "?", p->account.dn ? p->account.dn : "?",
		       machine ? "computer" : "user", p->origin.server ? p->origin.server : "?", round_trips,
		       seconds * 1000.0);
		if (site_som(gp) != NULL)
			printf("Site: %s (%s)\n", site_som(gp)->dn, site_som(gp)->subnet ? site_som(gp)->subnet
			       : "the DC's site: no subnet holds this host's address");
		if (!machine && gp->loopback.mode != AE_GPO_LOOPBACK_NONE)
			printf("Loopback processing: %s (UserPolicyMode %u from \"%s\"): %s GPOs of the computer %s, "
			       "filtered for this user (published by the machine's Group Policy in %s)\n",
			       loopback_text(gp->loopback.mode), gp->loopback.mode,
			       gp->loopback.mode_gpo ? gp->loopback.mode_gpo : "?",
			       gp->loopback.mode == AE_GPO_LOOPBACK_REPLACE ? "only the" : "the user's own, then the",
			       gp->loopback.computer_dn, gp->loopback_file);
		else if (!machine)
			printf("Loopback processing: none%s%s\n", gp->loopback_problem ? ": " : "",
			       gp->loopback_problem ? gp->loopback_problem : "");
		printf("GPOs considered, in the order they apply (the last applied wins):\n");
	}
	for (size_t i = 0; i < list->n; i++) {
		const ae_gpo_result *r = &list->items[i];
		char *why = gpo_reason(r, p, machine);
		const char *name = r->obj ? r->obj->name : r->dn;

		if (r->status == AE_GPO_APPLIED)
			order++;
		if (json) {
			ae_json_begin_object(&j, NULL);
			if (r->status == AE_GPO_APPLIED)
				ae_json_int(&j, "order", (long long)order);
			else
				ae_json_null(&j, "order");
			ae_json_string(&j, "name", r->obj ? r->obj->name : NULL);
			ae_json_string(&j, "guid", r->obj ? r->obj->guid : NULL);
			ae_json_string(&j, "dn", r->dn);
			ae_json_string(&j, "path", r->obj ? r->obj->path : NULL);
			if (r->obj != NULL)
				ae_json_int(&j, "version", r->obj->version);
			else
				ae_json_null(&j, "version");
			ae_json_string(&j, "som", r->som);
			ae_json_string(&j, "som_kind", ae_som_kind_text(r->som_kind));
			ae_json_string(&j, "list", list_of(gp, r));
			ae_json_bool(&j, "enforced", r->enforced);
			ae_json_bool(&j, "applied", r->status == AE_GPO_APPLIED);
			ae_json_string(&j, "status", ae_gpo_status_text(r->status));
			ae_json_string(&j, "reason", why);
			ae_json_bool(&j, "wmi_filter", r->obj != NULL && r->obj->wmi_filter != NULL);
			ae_json_string(&j, "registry_pol", source_text(gp, i));
			ae_json_string(&j, "registry_pol_problem", gp->problem[i]);
			ae_json_end_object(&j);
		} else {
			char num[16];

			snprintf(num, sizeof(num), "%zu", order);
			printf("  %-3s %-28s %-6s %-9s %-20s %s%s%s\n", r->status == AE_GPO_APPLIED ? num : "-", name,
			       ae_som_kind_text(r->som_kind), r->enforced ? "enforced" : "", ae_gpo_status_text(r->status),
			       r->som, why && why[0] ? ": " : "", why ? why : "");
			if (source_text(gp, i) != NULL)
				printf("      Registry.pol (%s half): %s%s%s\n", machine ? "computer" : "user",
				       source_text(gp, i), gp->problem[i] ? ": " : "",
				       gp->problem[i] ? gp->problem[i] : "");
		}
		free(why);
	}
	if (json) {
		ae_json_end_array(&j);
		settings_json(&j, gp->settings);
		ae_json_begin_object(&j, "sysvol");
		ae_json_int(&j, "smb_files", gp->sysvol.smb_files);
		ae_json_int(&j, "smb_sessions", gp->sysvol.smb_sessions);
		ae_json_int(&j, "cached", gp->sysvol.cached);
		ae_json_int(&j, "duration_ms", (long long)(gp->sysvol.seconds * 1000.0 + 0.5));
		ae_json_end_object(&j);
		ae_json_end_object(&j);
		ae_cli_print_json(&j);
	} else {
		if (list->n == 0)
			printf("  (none linked)\n");
		printf("WMI filters are not evaluated: a GPO with one applies, as Windows applies it when the filter "
		       "cannot be read.\n");
		printf("SYSVOL: %u files read over SMB (%u connections), %u from the cache, %.0f ms\n",
		       gp->sysvol.smb_files, gp->sysvol.smb_sessions, gp->sysvol.cached,
		       gp->sysvol.seconds * 1000.0);
		settings_text(gp->settings, "Autoenrollment settings from Group Policy (the GPO each comes from)");
	}
}

static int
list_gpos(ae_ctx *ctx, ae_cli_globals *g, bool machine, bool json)
{
	ae_context context = machine ? AE_CONTEXT_MACHINE : AE_CONTEXT_USER;
	ae_conf *conf = NULL;
	ae_policy_source *src = NULL;
	ae_policy *p = NULL;
	ae_gp_result *gp = NULL;
	int rc = AE_EXIT_FAILURE;

	if (ae_cli_load_conf(ctx, g, &conf) != AE_OK || ae_policy_source_open(ctx, conf, context, NULL, &src) != AE_OK ||
	    ae_policy_source_load(ctx, src, context, &p) != AE_OK || ae_gp_read(ctx, conf, src, p, machine, &gp) != AE_OK)
		goto out;
	print_gpos(p, gp, machine, json);
	rc = fflush(stdout) == 0 ? AE_EXIT_OK : AE_EXIT_FAILURE;
out:
	if (rc != AE_EXIT_OK)
		ae_cli_error(ctx);
	ae_gp_result_free(gp);
	ae_policy_free(p);
	ae_policy_source_free(src);
	ae_conf_free(conf);
	return rc;
}

int
ae_cmd_gpo(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "user", no_argument, NULL, 'u' },
		{ "machine", no_argument, NULL, 'm' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	bool json = false, user = false, machine = false;
	ae_regpol *pol = NULL;
	ae_gp_settings *s = NULL;
	ae_gp_input in;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'j': json = true; break;
		case 'u': user = true; break;
		case 'm': machine = true; break;
		case 'c': g->config_path = optarg; break;
		case 'h': gpo_usage(stdout); return AE_EXIT_OK;
		default: gpo_usage(stderr); return AE_EXIT_USAGE;
		}
	}
	if (optind < argc || (user && machine) || (file != NULL && (user || machine))) {
		gpo_usage(stderr);
		return AE_EXIT_USAGE;
	}
	if (file == NULL)
		return list_gpos(ctx, g, machine, json);
	if (ae_regpol_load(ctx, file, &pol) != AE_OK) {
		ae_cli_error(ctx);
		return AE_EXIT_FAILURE;
	}
	in.gpo = file;
	in.pol = pol;
	if (ae_gp_settings_compute(ctx, &in, 1, &s) != AE_OK) {
		ae_cli_error(ctx);
		ae_regpol_free(pol);
		return AE_EXIT_FAILURE;
	}
	if (json)
		print_json(file, pol, s);
	else
		print_text(file, pol, s);
	ae_gp_settings_free(s);
	ae_regpol_free(pol);
	return AE_EXIT_OK;
}
