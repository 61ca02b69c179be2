/*
 * cmd-policy.c - "autoenroll policy": what the enrollment policy in AD
 * means for the caller, as a table or as JSON (the format is documented in
 * autoenroll(8) and kept stable).
 */
#include "config.h"

#include "cli.h"
#include "gpread.h"
#include "json.h"
#include "policy.h"
#include "source.h"
#include "transport.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *
iso_time(time_t t, char *buf, size_t size)
{
	struct tm tm;
	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		return NULL;
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static const char *
key_alg_name(ae_key_alg a)
{
	switch (a) {
	case AE_KEY_ALG_RSA: return "RSA";
	case AE_KEY_ALG_ECDSA_P256: return "ECDSA_P256";
	case AE_KEY_ALG_ECDSA_P384: return "ECDSA_P384";
	case AE_KEY_ALG_ECDSA_P521: return "ECDSA_P521";
	case AE_KEY_ALG_ECDH_P256: return "ECDH_P256";
	case AE_KEY_ALG_ECDH_P384: return "ECDH_P384";
	case AE_KEY_ALG_ECDH_P521: return "ECDH_P521";
	case AE_KEY_ALG_DSA: return "DSA";
	case AE_KEY_ALG_UNKNOWN: break;
	}
	return "unknown";
}

/* Where the options a pulse uses come from: Group Policy (the GPO named),
 * the configuration file, the command line or the default. */
typedef struct {
	const char *source; /* "group_policy", "config", "command_line", "default" */
	const char *gpo;    /* the GPO, for group_policy */
} origin;

typedef struct {
	uint32_t aepolicy;
	int expiry_warning_percent;
	char *const *servers; /* NULL: LDAP: alone */
	origin o_aepolicy, o_expiry, o_servers;
} options;

static origin
origin_of(const char *gpo, const ae_conf *conf, const char *section, const char *key)
{
	if (gpo != NULL)
		return (origin){ "group_policy", gpo };
	return (origin){ ae_conf_is_set(conf, section, key) ? "config" : "default", NULL };
}

/* OPTS for CONTEXT from CONF (whose policy_servers are already Group
 * Policy's when it gives some) and GP (NULL: not read). */
static void
options_of(const ae_conf *conf, const ae_gp_settings *gp, const char *servers_gpo, bool cli_server, bool machine,
           options *o)
{
	const char *sec = machine ? "machine" : "user";

	o->aepolicy = machine ? conf->machine_aepolicy : conf->user_aepolicy;
	o->o_aepolicy = origin_of(NULL, conf, sec, "aepolicy");
	if (gp != NULL && gp->aepolicy.set) {
		o->aepolicy = gp->aepolicy.value;
		o->o_aepolicy = origin_of(gp->aepolicy.gpo, conf, sec, "aepolicy");
	}
	o->expiry_warning_percent = conf->expiry_warning_percent;
	o->o_expiry = origin_of(NULL, conf, "global", "expiry_warning_percent");
	if (gp != NULL && gp->offline_expiration_percent.set) {
		o->expiry_warning_percent = gp->offline_expiration_percent.value > 100 ? 100 : (int)gp->offline_expiration_percent.value;
		o->o_expiry = origin_of(gp->offline_expiration_percent.gpo, conf, "global", "expiry_warning_percent");
	}
	o->servers = machine ? conf->machine_policy_servers : conf->user_policy_servers;
	o->o_servers = cli_server ? (origin){ "command_line", NULL } : origin_of(servers_gpo, conf, sec, "policy_servers");
}

static void
origin_json(ae_json *j, const origin *o)
{
	ae_json_string(j, "source", o->source);
	ae_json_string(j, "gpo", o->gpo);
}

static void
options_json(ae_json *j, const options *o)
{
	ae_json_begin_object(j, "options");
	ae_json_begin_object(j, "aepolicy");
	ae_json_int(j, "value", o->aepolicy);
	origin_json(j, &o->o_aepolicy);
	ae_json_end_object(j);
	ae_json_begin_object(j, "expiry_warning_percent");
	ae_json_int(j, "value", o->expiry_warning_percent);
	origin_json(j, &o->o_expiry);
	ae_json_end_object(j);
	ae_json_begin_object(j, "policy_servers");
	ae_json_begin_array(j, "value");
	if (o->servers == NULL)
		ae_json_string(j, NULL, "LDAP:");
	for (size_t i = 0; o->servers != NULL && o->servers[i] != NULL; i++)
		ae_json_string(j, NULL, o->servers[i]);
	ae_json_end_array(j);
	origin_json(j, &o->o_servers);
	ae_json_end_object(j);
	ae_json_end_object(j);
}

/* "Group Policy \"NAME\"", "the configuration", ... */
static const char *
origin_text(const origin *o, char *buf, size_t size)
{
	if (o->gpo != NULL)
		snprintf(buf, size, "Group Policy \"%s\"", o->gpo);
	else
		snprintf(buf, size, "%s", strcmp(o->source, "config") == 0         ? "the configuration"
		                          : strcmp(o->source, "command_line") == 0 ? "the command line"
		                                                                    : "the default");
	return buf;
}

static void
options_text(const options *o)
{
	char s[300], a[300], e[300];
	printf("  from           policy servers: %s; aepolicy 0x%x: %s; expiry_warning_percent %d: %s\n",
	       origin_text(&o->o_servers, s, sizeof(s)), o->aepolicy, origin_text(&o->o_aepolicy, a, sizeof(a)),
	       o->expiry_warning_percent, origin_text(&o->o_expiry, e, sizeof(e)));
}

static void
print_json(const ae_policy *p, const options *o)
{
	ae_json j;
	char tbuf[64], sid[AE_SID_STRLEN];
	size_t counts[3] = { 0, 0, 0 };

	ae_json_init(&j);
	ae_json_begin_object(&j, NULL);
	ae_json_int(&j, "format_version", 1);
	ae_json_string(&j, "context", ae_context_name(p->context));

	ae_json_begin_object(&j, "caller");
	ae_json_string(&j, "principal", p->principal);
	ae_json_string(&j, "account", p->account.display);
	ae_json_string(&j, "dn", p->account.dn);
	ae_json_string(&j, "sid", ae_sid_to_string(&p->account.sid, sid, sizeof(sid)));
	ae_json_begin_array(&j, "token_sids");
	for (size_t i = 0; i < p->account.token.count; i++)
		ae_json_string(&j, NULL, ae_sid_to_string(&p->account.token.sids[i], sid, sizeof(sid)));
	ae_json_end_array(&j);
	ae_json_end_object(&j);

	ae_json_begin_object(&j, "policy_server");
	ae_json_string(&j, "url", p->url);
	ae_json_string(&j, "policy_id", p->policy_id);
	ae_json_string(&j, "friendly_name", p->friendly_name);
	ae_json_string(&j, "domain", p->domain);
	ae_json_string(&j, "dc", p->origin.server);
	ae_json_string(&j, "configuration_nc", p->origin.config_nc);
	ae_json_int(&j, "ldap_ssf", p->origin.ssf);
	ae_json_bool(&j, "filtered_by_server", p->origin.filtered_by_server);
	ae_json_int(&j, "next_update_hours", p->origin.next_update_hours);
	ae_json_bool(&j, "from_cache", p->origin.from_cache);
	ae_json_string(&j, "failover", p->origin.failover);
	ae_json_end_object(&j);
	options_json(&j, o);

	ae_json_begin_array(&j, "cas");
	for (size_t i = 0; i < p->pki.ca_count; i++) {
		const ae_ca *ca = &p->pki.cas[i];
		ae_json_begin_object(&j, NULL);
		ae_json_string(&j, "name", ca->name);
		ae_json_string(&j, "display_name", ca->display_name);
		ae_json_string(&j, "host", ca->host);
		ae_json_string(&j, "transport", ca->transport ? ca->transport->name : NULL);
		ae_json_string(&j, "url", ca->url);
		ae_json_strv(&j, "fallback_urls", ca->fallback_urls);
		ae_json_strv(&j, "renewal_only_urls", ca->renewal_urls);
		ae_json_string(&j, "dn", ca->dn);
		ae_json_string(&j, "subject", ca->subject);
		ae_json_string(&j, "thumbprint", ca->thumbprint);
		ae_json_string(&j, "not_before", iso_time(ca->not_before, tbuf, sizeof(tbuf)));
		ae_json_string(&j, "not_after", iso_time(ca->not_after, tbuf, sizeof(tbuf)));
		ae_json_bool(&j, "valid", ca->valid);
		ae_json_string(&j, "invalid_reason", ca->valid ? NULL : ca->invalid_reason);
		ae_json_strv(&j, "templates", ca->templates);
		ae_json_end_object(&j);
	}
	ae_json_end_array(&j);

	ae_json_string(&j, "forest_oid", p->forest_oid);
	ae_json_begin_array(&j, "oids");
	for (size_t i = 0; i < p->oid_count; i++) {
		static const char *const kinds[] = { "other", "template", "issuance_policy", "application_policy" };
		ae_json_begin_object(&j, NULL);
		ae_json_string(&j, "oid", p->oids[i].oid);
		ae_json_string(&j, "display_name", p->oids[i].display_name);
		ae_json_string(&j, "kind", kinds[p->oids[i].flags <= 3 ? p->oids[i].flags : 0]);
		ae_json_end_object(&j);
	}
	ae_json_end_array(&j);

	ae_json_begin_array(&j, "templates");
	for (size_t i = 0; i < p->item_count; i++) {
		const ae_policy_item *it = &p->items[i];
		const ae_template *t = it->tpl;
		char ver[32];
		counts[it->decision]++;
		ae_json_begin_object(&j, NULL);
		ae_json_string(&j, "name", it->name);
		ae_json_string(&j, "display_name", it->display_name);
		if (t != NULL) {
			snprintf(ver, sizeof(ver), "%u.%u", t->major, t->minor);
			ae_json_string(&j, "oid", t->oid);
			ae_json_int(&j, "schema_version", t->schema_version);
			ae_json_int(&j, "major", t->major);
			ae_json_int(&j, "minor", t->minor);
			ae_json_string(&j, "version", ver);
			ae_json_bool(&j, "machine", (t->flags & AE_CT_FLAG_MACHINE_TYPE) != 0);
		} else {
			ae_json_null(&j, "oid");
			ae_json_null(&j, "schema_version");
			ae_json_null(&j, "major");
			ae_json_null(&j, "minor");
			ae_json_null(&j, "version");
			ae_json_null(&j, "machine");
		}
		ae_json_bool(&j, "enroll", it->enroll);
		ae_json_bool(&j, "autoenroll", it->autoenroll);
		ae_json_string(&j, "decision", ae_decision_name(it->decision));
		ae_json_string(&j, "reason", it->reason);
		ae_json_strv(&j, "cas", it->cas);
		if (t != NULL) {
			ae_json_int(&j, "flags", t->flags);
			ae_json_int(&j, "enrollment_flags", t->enrollment_flags);
			ae_json_int(&j, "name_flags", t->name_flags);
			ae_json_int(&j, "private_key_flags", t->private_key_flags);
			ae_json_int(&j, "ra_signatures", t->ra_signatures);
			if (t->has_validity)
				ae_json_int(&j, "validity_seconds", t->validity_seconds);
			else
				ae_json_null(&j, "validity_seconds");
			if (t->has_renewal)
				ae_json_int(&j, "renewal_seconds", t->renewal_seconds);
			else
				ae_json_null(&j, "renewal_seconds");
			ae_json_string(&j, "key_algorithm", key_alg_name(t->key_alg));
			ae_json_int(&j, "minimal_key_size", t->min_key_size);
			ae_json_strv(&j, "supersedes", t->supersedes);
			ae_json_strv(&j, "ekus", t->ekus);
			ae_json_strv(&j, "application_policies", t->application_policies);
		}
		ae_json_end_object(&j);
	}
	ae_json_end_array(&j);

	ae_json_begin_object(&j, "summary");
	ae_json_int(&j, "autoenroll", (long long)counts[AE_DECISION_AUTOENROLL]);
	ae_json_int(&j, "manual_renew_only", (long long)counts[AE_DECISION_MANUAL_RENEW_ONLY]);
	ae_json_int(&j, "skip", (long long)counts[AE_DECISION_SKIP]);
	ae_json_int(&j, "ldap_round_trips", p->origin.round_trips);
	ae_json_end_object(&j);
	ae_json_end_object(&j);

	ae_cli_print_json(&j);
}

static int
width_of(const ae_policy *p, size_t col)
{
	int w = col == 0 ? 4 : 6;
	for (size_t i = 0; i < p->item_count; i++) {
		int l = (int)strlen(p->items[i].name);
		if (col == 0 && l > w)
			w = l;
	}
	return w;
}

/* "publishes A, B, C" wrapped at 100 columns under INDENT spaces. */
static void
print_wrapped(int indent, const char *lead, char *const *list)
{
	int col = indent + (int)strlen(lead);

	if (list == NULL || list[0] == NULL)
		return;
	printf("%*s%s", indent, "", lead);
	for (size_t i = 0; list[i] != NULL; i++) {
		int l = (int)strlen(list[i]);
		if (i > 0 && col + l + 2 > 100) {
			printf(",\n%*s", indent + (int)strlen(lead), "");
			col = indent + (int)strlen(lead);
		} else if (i > 0) {
			printf(", ");
			col += 2;
		}
		printf("%s", list[i]);
		col += l;
	}
	printf("\n");
}

static void
print_table(const ae_policy *p, const options *o)
{
	char tbuf[64], sid[AE_SID_STRLEN];
	size_t counts[3] = { 0, 0, 0 };
	int nw = width_of(p, 0), cw = 4, hw = 4;

	printf("Enrollment policy for %s (%s), %s context\n", p->account.display, p->principal,
	       ae_context_name(p->context));
	printf("  policy server  %s %s %s\n", p->url, p->friendly_name, p->policy_id ? p->policy_id : "");
	if (p->origin.config_nc != NULL) {
		printf("  domain         %s, DC %s (LDAP sealed with Kerberos, SSF %d)\n", p->domain, p->origin.server,
		       p->origin.ssf);
		printf("  account        %s, %s, %zu SIDs in token\n", p->account.dn,
		       ae_sid_to_string(&p->account.sid, sid, sizeof(sid)), p->account.token.count);
	}
	if (p->origin.filtered_by_server)
		printf("  MS-XCEP        next update in %u hours%s; the server lists only the templates the caller may\n"
		       "                 enroll for and reports the rights itself (no security descriptor over MS-XCEP)\n",
		       p->origin.next_update_hours, p->origin.from_cache ? ", answer from the cache" : "");
	if (p->origin.failover != NULL)
		printf("  failover       %s\n", p->origin.failover);
	options_text(o);

	for (size_t i = 0; i < p->pki.ca_count; i++) {
		int l = (int)strlen(p->pki.cas[i].name);
		int h = p->pki.cas[i].host ? (int)strlen(p->pki.cas[i].host) : 1;
		cw = l > cw ? l : cw;
		hw = h > hw ? h : hw;
	}
	printf("\nCertification authorities (%zu)\n", p->pki.ca_count);
	printf("  %-*s  %-*s  %-10s  %-7s  %s\n", cw, "NAME", hw, "HOST", "VALID TO", "STATUS", "TEMPLATES");
	for (size_t i = 0; i < p->pki.ca_count; i++) {
		const ae_ca *ca = &p->pki.cas[i];
		const char *t = iso_time(ca->not_after, tbuf, sizeof(tbuf));
		printf("  %-*s  %-*s  %-10.10s  %-7s  %zu\n", cw, ca->name, hw, ca->host ? ca->host : "-",
		       t ? t : "-", ca->valid ? "valid" : "INVALID", ae_strv_len(ca->templates));
		if (!ca->valid && ca->invalid_reason)
			printf("  %*s  %s\n", cw, "", ca->invalid_reason);
		print_wrapped(cw + 4, "publishes ", ca->templates);
		for (size_t k = 0; ca->renewal_urls != NULL && ca->renewal_urls[k] != NULL; k++)
			printf("  %*s  renewal-only CES %s (renewals only, authenticated by the certificate being renewed)\n",
			       cw, "", ca->renewal_urls[k]);
	}

	if (p->origin.filtered_by_server)
		printf("\nOIDs: %zu from the policy server\n", p->oid_count);
	else
		printf("\nEnterprise OIDs: %zu registered under %s\n", p->oid_count,
		       p->forest_oid ? p->forest_oid : "(no forest OID root)");

	printf("\nTemplates (%zu)\n", p->item_count);
	printf("  %-*s  %-3s  %-9s  %-6s  %-10s  %-17s  %s\n", nw, "NAME", "SCH", "VERSION", "ENROLL",
	       "AUTOENROLL", "DECISION", "REASON");
	for (size_t i = 0; i < p->item_count; i++) {
		const ae_policy_item *it = &p->items[i];
		char ver[32] = "-", sch[8] = "-";
		if (it->tpl != NULL) {
			snprintf(ver, sizeof(ver), "%u.%u", it->tpl->major, it->tpl->minor);
			snprintf(sch, sizeof(sch), "%u", it->tpl->schema_version);
		}
		counts[it->decision]++;
		printf("  %-*s  %-3s  %-9s  %-6s  %-10s  %-17s  %s\n", nw, it->name, sch, ver,
		       it->enroll ? "yes" : "no", it->autoenroll ? "yes" : "no",
		       ae_decision_name(it->decision), it->reason);
	}
	printf("\n%zu set up for autoenrollment, %zu manual enrollment with automatic renewal, %zu skipped\n",
	       counts[AE_DECISION_AUTOENROLL], counts[AE_DECISION_MANUAL_RENEW_ONLY],
	       counts[AE_DECISION_SKIP]);
}

/* The policy for CONTEXT, with Group Policy's settings (*GP, NULL when
 * not read) read over the configuration's policy source: when Group
 * Policy names policy servers (PolicyServers) they replace the
 * configuration's (unless --policy-server), and the policy is read from
 * them; *SERVERS_GPO then names the GPO. */
static ae_err
load_policy(ae_ctx *ctx, const ae_cli_globals *g, ae_conf *conf, ae_context context, ae_policy **out,
            ae_gp_settings **gp, const char **servers_gpo)
{
	bool machine = context == AE_CONTEXT_MACHINE;
	ae_policy_source *src = NULL;
	ae_gp_result *r = NULL;
	char **servers = NULL;
	ae_err err;

	*out = NULL;
	*gp = NULL;
	*servers_gpo = NULL;
	if ((err = ae_policy_source_open(ctx, conf, context, NULL, &src)) != AE_OK ||
	    (err = ae_policy_source_load(ctx, src, context, out)) != AE_OK || !conf->group_policy)
		goto cleanup;
	if ((err = ae_gp_read(ctx, conf, src, *out, machine, &r)) != AE_OK) {
		/* a policy source without AD (CEPs alone) has no Group Policy */
		ae_log(ctx, err == AE_ERR_UNSUPPORTED ? AE_LOG_INFO : AE_LOG_WARNING,
		       "Group Policy not read (%s): the configuration applies", ae_get_message(ctx));
		err = AE_OK;
		goto cleanup;
	}
	*gp = r->settings;
	r->settings = NULL;
	if (g->policy_server != NULL)
		goto cleanup;
	if ((err = ae_gp_settings_policy_servers(ctx, *gp, &servers, servers_gpo)) != AE_OK || servers == NULL)
		goto cleanup;
	ae_strv_free(machine ? conf->machine_policy_servers : conf->user_policy_servers);
	if (machine)
		conf->machine_policy_servers = servers;
	else
		conf->user_policy_servers = servers;
	ae_policy_free(*out);
	*out = NULL;
	err = ae_policy_load(ctx, conf, context, out);

cleanup:
	ae_gp_result_free(r);
	ae_policy_source_free(src);
	if (err != AE_OK) {
		ae_policy_free(*out);
		*out = NULL;
		ae_gp_settings_free(*gp);
		*gp = NULL;
		*servers_gpo = NULL;
	}
	return err;
}

static void
policy_usage(FILE *f)
{
	fprintf(f, "Usage: autoenroll policy [--user | --machine] [--policy-server URL] [--json] [-c FILE] [-v]\n");
}

int
ae_cmd_policy(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", no_argument, NULL, 'u' },
		{ "machine", no_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "policy-server", required_argument, NULL, 'P' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	ae_context context = AE_CONTEXT_USER;
	bool json = false, user = false, machine = false;
	ae_conf *conf = NULL;
	ae_policy *p = NULL;
	ae_gp_settings *gp = NULL;
	const char *servers_gpo = NULL;
	options o;
	int c;

	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'u': user = true; break;
		case 'm': machine = true; break;
		case 'j': json = true; break;
		case 'P': g->policy_server = optarg; break;
		case 'c': g->config_path = optarg; break;
		case 'v': g->verbosity++; ae_cli_setup_log(ctx, g); break;
		case 'h': policy_usage(stdout); return AE_EXIT_OK;
		default: policy_usage(stderr); return AE_EXIT_USAGE;
		}
	}
	if (optind < argc || (user && machine)) {
		policy_usage(stderr);
		return AE_EXIT_USAGE;
	}
	if (machine)
		context = AE_CONTEXT_MACHINE;
	if (ae_cli_load_conf(ctx, g, &conf) != AE_OK) {
		ae_cli_error(ctx);
		return AE_EXIT_FAILURE;
	}
	if (load_policy(ctx, g, conf, context, &p, &gp, &servers_gpo) != AE_OK) {
		ae_cli_error(ctx);
		ae_conf_free(conf);
		return AE_EXIT_FAILURE;
	}
	options_of(conf, gp, servers_gpo, g->policy_server != NULL, machine, &o);
	if (json)
		print_json(p, &o);
	else
		print_table(p, &o);
	ae_gp_settings_free(gp);
	ae_policy_free(p);
	ae_conf_free(conf);
	return fflush(stdout) == 0 ? AE_EXIT_OK : AE_EXIT_FAILURE;
}
