/*
 * cmd-enroll.c - "autoenroll enroll" (like certreq -enroll: a new
 * certificate for a template, from the CA the policy names, over its
 * transport) and "autoenroll retrieve" (a pending request by its ID),
 * through the enrollment transaction (core/txn.h).
 */
#include "config.h"

#include "agent.h"
#include "ces.h"
#include "cli.h"
#include "cmd-scep.h"
#include "session.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* What the transaction's result means, for the user: AE_OK for issued
 * (printed) and pending (printed with how to retrieve it); a refusal is
 * an error with the CA's reasons. */
static ae_err
report(ae_ctx *ctx, ae_cli_session *s, const ae_txn_result *res, const ae_template *tpl, const ae_ca *ca, bool machine,
       bool retrieval)
{
	char subj[512];

	if (res->outcome == AE_CA_REFUSED)
		return ae_set_message(ctx, AE_ERR_DENIED, "%s", res->why);
	if (res->outcome == AE_CA_PENDING) {
		if (retrieval)
			printf("Still pending: request %u at %s%s%s\n", res->request_id, ca->name,
			       res->ca_message ? ": " : "", res->ca_message ? res->ca_message : "");
		else
			printf("Pending: request %u for %s at %s%s%s\n  retrieve with: autoenroll retrieve --ca %s --request-id %u%s\n",
			       res->request_id, tpl->name, ca->name, res->ca_message ? ": " : "",
			       res->ca_message ? res->ca_message : "", ca->name, res->request_id, machine ? " --machine" : "");
		return AE_OK;
	}
	if (X509_NAME_entry_count(X509_get_subject_name(res->cert)) == 0)
		snprintf(subj, sizeof(subj), "(empty: the names are in the subject alternative name)");
	else
		X509_NAME_oneline(X509_get_subject_name(res->cert), subj, sizeof(subj));
	printf("Issued: %s certificate from %s\n  subject  %s\n  key      %s\n  store    %s (id %s)\n", tpl->name,
	       ca->name, subj, res->key_uri, ae_store_dir(s->st), res->record_id);
	return AE_OK;
}

/* The current certificate whose id starts with ID, or NULL with CTX set. */
static ae_record *
find_current(ae_ctx *ctx, const ae_cli_session *s, ae_record **recs, size_t n, const char *id)
{
	ae_record *found = NULL;
	size_t matches = 0;

	for (size_t i = 0; i < n && *id != '\0'; i++)
		if (recs[i]->state == AE_REC_ISSUED && strncmp(recs[i]->id, id, strlen(id)) == 0) {
			found = recs[i];
			matches++;
		}
	if (matches > 1) {
		ae_set_message(ctx, AE_ERR_INVALID, "%s is the start of %zu current certificates: give more of the id", id,
		               matches);
		return NULL;
	}
	if (found == NULL || found->cert == NULL || found->template_name == NULL) {
		ae_set_message(ctx, AE_ERR_NOTFOUND, "no current certificate %s in %s (autoenroll status lists them)", id,
		               ae_store_dir(s->st));
		return NULL;
	}
	return found;
}

/* --ces URL: CA reached through the CES at URL (MS-WSTEP) instead of its
 * own transport, like certreq -config https://host/CA_CES_Kerberos/service.svc/CES.
 * *OUT shares CA's strings but url and endpoint_trust (AD's roots), its
 * own: free them, not *OUT. */
static ae_err
through_ces(ae_ctx *ctx, const ae_policy *p, const ae_ca *ca, const char *url, ae_ca *out)
{
	*out = *ca;
	out->transport = &ae_transport_ces;
	out->endpoint_trust = NULL;
	if ((out->url = strdup(url)) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	return ae_ces_trust(ctx, &p->pki, &out->endpoint_trust);
}

static void
enroll_usage(FILE *f)
{
	fprintf(f, "Usage: autoenroll enroll --template NAME [--user | --machine] [--ca NAME] [--ces URL] [--policy-server URL] [-c FILE] [-v]\n"
	           "                         [--subject DN] [--dns NAME]... [--upn NAME]... [--email ADDR]...\n"
	           "                         [--agent-cert ID [--on-behalf-of DOMAIN\\USER]]\n"
	           "       autoenroll enroll --scep PROFILE [--insecure-http] [--scep-anchor FILE] [--user | --machine] [-c FILE] [-v]\n"
	           "       autoenroll enroll --scep URL --subject DN [--dns NAME]... [--challenge-file FILE | --challenge-from-admin]\n"
	           "                         [--insecure-http] [--scep-anchor FILE] [--user | --machine] [-c FILE] [-v]\n"
	           "       autoenroll enroll --renew ID [--agent-cert ID] [--insecure-http] [--scep-anchor FILE]\n"
	           "                         [--challenge-file FILE | --challenge-from-admin] [--user | --machine] [-c FILE] [-v]\n"
	           "       autoenroll enroll --renew ID --ces URL --renewal-only [--user | --machine] [-c FILE] [-v]\n");
}

int
ae_cmd_enroll(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "template", required_argument, NULL, 't' },
		{ "ca", required_argument, NULL, 'a' },
		{ "renew", required_argument, NULL, 'r' },
		{ "subject", required_argument, NULL, 's' },
		{ "dns", required_argument, NULL, 'd' },
		{ "upn", required_argument, NULL, 'U' },
		{ "email", required_argument, NULL, 'e' },
		{ "agent-cert", required_argument, NULL, 'A' },
		{ "on-behalf-of", required_argument, NULL, 'o' },
		{ "ces", required_argument, NULL, 'C' },
		{ "renewal-only", no_argument, NULL, 'K' },
		{ "policy-server", required_argument, NULL, 'P' },
		{ "scep", required_argument, NULL, 'S' },
		{ "challenge-file", required_argument, NULL, 'F' },
		{ "challenge-from-admin", no_argument, NULL, 'H' },
		{ "insecure-http", no_argument, NULL, 'I' },
		{ "scep-anchor", required_argument, NULL, 'N' },
		{ "user", no_argument, NULL, 'u' },
		{ "machine", no_argument, NULL, 'm' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tpl_name = NULL, *ca_name = NULL, *renew_id = NULL, *subject = NULL, *agent_id = NULL,
		   *on_behalf = NULL, *ces_url = NULL, *scep_url = NULL, *challenge_file = NULL,
		   *scep_anchor = NULL;
	char **dns = NULL, **upn = NULL, **email = NULL;
	ae_record **recs = NULL, *old = NULL, *agent = NULL;
	size_t nrecs = 0;
	ae_key *old_key = NULL, *agent_key = NULL;
	bool user = false, machine = false, from_admin = false, insecure_http = false, renewal_only = false;
	ae_cli_session s = { 0 };
	const ae_policy_item *it;
	const ae_template *t;
	const ae_ca *ca;
	ae_ca ces = { 0 };
	ae_txn_result res = { 0 };
	int rc = AE_EXIT_FAILURE, c;

	while ((c = getopt_long(argc, argv, "t:c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 't': tpl_name = optarg; break;
		case 'a': ca_name = optarg; break;
		case 'r': renew_id = optarg; break;
		case 's': subject = optarg; break;
		case 'd':
		case 'U':
		case 'e':
			if (!ae_strv_append(c == 'd' ? &dns : c == 'U' ? &upn : &email, optarg)) {
				ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
				goto fail;
			}
			break;
		case 'A': agent_id = optarg; break;
		case 'o': on_behalf = optarg; break;
		case 'C': ces_url = optarg; break;
		case 'K': renewal_only = true; break;
		case 'P': g->policy_server = optarg; break;
		case 'S': scep_url = optarg; break;
		case 'F': challenge_file = optarg; break;
		case 'H': from_admin = true; break;
		case 'I': insecure_http = true; break;
		case 'N': scep_anchor = optarg; break;
		case 'u': user = true; break;
		case 'm': machine = true; break;
		case 'c': g->config_path = optarg; break;
		case 'v': g->verbosity++; ae_cli_setup_log(ctx, g); break;
		case 'h': enroll_usage(stdout); rc = AE_EXIT_OK; goto cleanup;
		default: enroll_usage(stderr); rc = AE_EXIT_USAGE; goto cleanup;
		}
	}
	if (optind < argc || (user && machine) ||
	    (tpl_name != NULL) + (renew_id != NULL) + (scep_url != NULL) != 1 ||
	    (scep_url != NULL && strstr(scep_url, "://") != NULL &&
	     (subject == NULL || (challenge_file != NULL && from_admin) || upn || email || agent_id)) ||
	    (scep_url != NULL && strstr(scep_url, "://") == NULL &&
	     (subject || dns || upn || email || agent_id || challenge_file || from_admin)) ||
	    (scep_url == NULL && renew_id == NULL && (challenge_file != NULL || from_admin)) ||
	    (challenge_file != NULL && from_admin) ||
	    (scep_url == NULL && renew_id == NULL && (insecure_http || scep_anchor != NULL)) ||
	    (on_behalf != NULL && (agent_id == NULL || renew_id != NULL)) ||
	    (renew_id != NULL && (subject || dns || upn || email)) || (renewal_only && ces_url == NULL)) {
		enroll_usage(stderr);
		rc = AE_EXIT_USAGE;
		goto cleanup;
	}
	if (on_behalf != NULL && strchr(on_behalf, '\\') == NULL) {
		fprintf(stderr, "autoenroll: --on-behalf-of takes DOMAIN\\USER, as the CA reads it (MS-WCCE requestername), not \"%s\"\n",
		        on_behalf);
		rc = AE_EXIT_USAGE;
		goto cleanup;
	}
	if (ae_cli_session_open(ctx, g, machine, "enroll", &s) != AE_OK ||
	    ae_cli_scep_flags(ctx, &s, insecure_http, scep_anchor) != AE_OK)
		goto fail;
	if (renew_id != NULL || agent_id != NULL) {
		if (ae_store_load(ctx, s.st, &recs, &nrecs) != AE_OK)
			goto fail;
	}
	if (agent_id != NULL) {
		/* The enrollment agent's certificate, by its id in the store
		 * (autoenroll status), as certreq -cert names it. */
		if ((agent = find_current(ctx, &s, recs, nrecs, agent_id)) == NULL ||
		    ae_keystore_find(ctx, s.ks, agent->id, &agent_key) != AE_OK)
			goto fail;
	}
	if (renew_id != NULL) {
		/* Renewal: the certificate's own template and CA, a CMC request
		 * signed with the key of the certificate being renewed. */
		if ((old = find_current(ctx, &s, recs, nrecs, renew_id)) == NULL)
			goto fail;
		if (ae_scep_record(old)) {
			/* issued over SCEP: renewed there, signed with it */
			ae_cli_scep a = { .machine = machine, .renew = old, .insecure_http = insecure_http,
				          .anchor_given = scep_anchor != NULL, .challenge_file = challenge_file,
				          .from_admin = from_admin };
			if (ae_cli_enroll_scep(ctx, &s, &a) != AE_OK)
				goto fail;
			rc = AE_EXIT_OK;
			goto cleanup;
		}
		if (challenge_file != NULL || from_admin) {
			ae_set_message(ctx, AE_ERR_INVALID,
			               "certificate %s was not issued over SCEP: a challenge goes only with an SCEP renewal",
			               old->id);
			goto fail;
		}
		tpl_name = old->template_name;
		if (ca_name == NULL)
			ca_name = old->ca;
		if (ae_keystore_find(ctx, s.ks, old->id, &old_key) != AE_OK)
			goto fail;
	}
	if (scep_url != NULL) {
		ae_cli_scep a = { .url = scep_url, .subject = subject, .dns = dns, .challenge_file = challenge_file,
			          .from_admin = from_admin, .machine = machine, .insecure_http = insecure_http,
			          .anchor_given = scep_anchor != NULL };
		if (strstr(scep_url, "://") == NULL &&
		    (a.profile = ae_conf_scep_profile(s.conf, scep_url)) == NULL) {
			ae_set_message(ctx, AE_ERR_NOTFOUND, "no SCEP profile [scep %s] in %s, and not an https:// URL",
			               scep_url, s.conf->path ? s.conf->path : ae_conf_default_path());
			goto fail;
		}
		if (a.profile != NULL && a.profile->user == machine) {
			ae_set_message(ctx, AE_ERR_INVALID, "the SCEP profile %s is for the %s (context in [scep %s]): %s",
			               a.profile->name, a.profile->user ? "user" : "machine", a.profile->name,
			               a.profile->user ? "run it without --machine" : "run it with --machine, as root");
			goto fail;
		}
		if (ae_cli_enroll_scep(ctx, &s, &a) != AE_OK)
			goto fail;
		rc = AE_EXIT_OK;
		goto cleanup;
	}
	if (ae_cli_session_template(ctx, &s, tpl_name, machine, &it) != AE_OK)
		goto fail;
	t = it->tpl;
	if (ca_name == NULL) {
		if (it->cas == NULL) {
			ae_set_message(ctx, AE_ERR_NOTFOUND, "template %s is not published on any valid CA: %s", t->name,
			               it->reason);
			goto fail;
		}
		ca_name = it->cas[0];
	}
	ca = ae_policy_find_ca(s.policy, ca_name);
	if (ca == NULL || ca->transport == NULL) {
		ae_set_message(ctx, AE_ERR_NOTFOUND, "no enrollment service named %s in AD (autoenroll policy lists the CAs)",
		               ca_name);
		goto fail;
	}
	if (!ca->valid)
		ae_log(ctx, AE_LOG_WARNING, "CA %s is not valid (%s): its certificates will be rejected", ca->name,
		       ca->invalid_reason ? ca->invalid_reason : "?");
	if (ces_url != NULL) {
		if (through_ces(ctx, s.policy, ca, ces_url, &ces) != AE_OK)
			goto fail;
		if (renewal_only) {
			/* key-based renewal: the certificate being renewed authenticates */
			ces.renewal_only = true;
			ces.endpoint_auth = AE_CA_AUTH_CERTIFICATE;
		}
		ca = &ces;
	}

	if (agent != NULL) {
		char *why = NULL;
		if (!ae_agent_suits(t, agent->cert, (int64_t)time(NULL), on_behalf != NULL, &why)) {
			ae_set_message(ctx, AE_ERR_INVALID, "certificate %s cannot co-sign %s requests: %s", agent->id, t->name,
			               why ? why : "out of memory");
			free(why);
			goto fail;
		}
		if (t->ra_signatures == 0)
			ae_log(ctx, AE_LOG_WARNING,
			       "%s asks for no RA signature: a CA refuses a request on behalf of someone else for it, and ignores a co-signature",
			       t->name);
	}
	if (old == NULL && subject == NULL && dns == NULL && upn == NULL && email == NULL &&
	    (t->name_flags & AE_NF_ENROLLEE_SUPPLIES_SUBJECT)) {
		ae_set_message(ctx, AE_ERR_INVALID,
		               "%s has the enrollee supply the subject (ENROLLEE_SUPPLIES_SUBJECT): give --subject DN and/or --dns, --upn, --email",
		               t->name);
		goto fail;
	}
	{
		ae_txn_request rq = { .tpl = t, .ca = ca, .renew = old, .renew_key = old_key, .subject = subject,
			              .same_key = (t->private_key_flags & AE_PK_REQUIRE_SAME_KEY_RENEWAL) != 0,
			              .san_dns = dns, .san_upn = upn, .san_email = email,
			              .agent_cert = agent ? agent->cert : NULL, .agent_key = agent_key,
			              .on_behalf_of = on_behalf };
		if (ae_txn_enroll(ctx, &s.env, &rq, &res) != AE_OK)
			goto fail;
		ae_log(ctx, AE_LOG_INFO, "CA %s over %s: %u round trips", ca->name, ca->transport->name,
		       ae_ca_links_round_trips(&s.links));
		if (report(ctx, &s, &res, t, ca, machine, false) != AE_OK)
			goto fail;
	}
	if (res.outcome == AE_CA_ISSUED && old != NULL) {
		/* The renewed certificate is kept, archived (a pulse applies
		 * the template's cleanup choice). */
		old->state = AE_REC_ARCHIVED;
		if (ae_store_save(ctx, s.st, old) != AE_OK)
			goto fail;
		printf("  renewed  %s (now archived)\n", old->id);
	}
	rc = AE_EXIT_OK;
	goto cleanup;
fail:
	ae_cli_error(ctx);
cleanup:
	ae_txn_result_clear(&res);
	ae_key_free(old_key);
	ae_key_free(agent_key);
	ae_strv_free(dns);
	ae_strv_free(upn);
	ae_strv_free(email);
	free(ces.url);
	free(ces.endpoint_trust);
	ae_records_free(recs, nrecs);
	ae_cli_session_clear(&s);
	return rc;
}

static void
retrieve_usage(FILE *f)
{
	fprintf(f, "Usage: autoenroll retrieve --ca NAME --request-id N [--ces URL] [--user | --machine] [-c FILE]\n"
	           "       autoenroll retrieve --record ID [--insecure-http] [--scep-anchor FILE] [--user | --machine] [-c FILE]\n");
}

int
ae_cmd_retrieve(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ca", required_argument, NULL, 'a' },
		{ "request-id", required_argument, NULL, 'r' },
		{ "ces", required_argument, NULL, 'C' },
		{ "record", required_argument, NULL, 'R' },
		{ "insecure-http", no_argument, NULL, 'I' },
		{ "scep-anchor", required_argument, NULL, 'N' },
		{ "user", no_argument, NULL, 'u' },
		{ "machine", no_argument, NULL, 'm' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ca_name = NULL, *ces_url = NULL, *record_id = NULL, *scep_anchor = NULL;
	unsigned long request_id = 0;
	bool user = false, machine = false, insecure_http = false;
	ae_cli_session s = { 0 };
	ae_record **recs = NULL, *rec = NULL;
	size_t n = 0;
	const ae_ca *ca;
	ae_ca ces = { 0 };
	const ae_policy_item *it;
	ae_txn_result res = { 0 };
	char *end = NULL;
	int rc = AE_EXIT_FAILURE, c;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': ca_name = optarg; break;
		case 'C': ces_url = optarg; break;
		case 'R': record_id = optarg; break;
		case 'I': insecure_http = true; break;
		case 'N': scep_anchor = optarg; break;
		case 'r':
			request_id = strtoul(optarg, &end, 10);
			if (end == optarg || *end != '\0' || request_id == 0 || request_id > UINT32_MAX) {
				fprintf(stderr, "autoenroll: --request-id takes a request number, not \"%s\"\n", optarg);
				return AE_EXIT_USAGE;
			}
			break;
		case 'u': user = true; break;
		case 'm': machine = true; break;
		case 'c': g->config_path = optarg; break;
		case 'h': retrieve_usage(stdout); return AE_EXIT_OK;
		default: retrieve_usage(stderr); return AE_EXIT_USAGE;
		}
	}
	if (optind < argc || (user && machine) ||
	    (record_id != NULL ? ca_name != NULL || request_id != 0 || *record_id == '\0' : ca_name == NULL || request_id == 0) ||
	    (record_id == NULL && (insecure_http || scep_anchor != NULL))) {
		retrieve_usage(stderr);
		return AE_EXIT_USAGE;
	}
	if (ae_cli_session_open(ctx, g, machine, "enroll", &s) != AE_OK ||
	    ae_cli_scep_flags(ctx, &s, insecure_http, scep_anchor) != AE_OK || ae_store_load(ctx, s.st, &recs, &n) != AE_OK)
		goto fail;
	for (size_t i = 0; record_id != NULL && i < n; i++)
		if (recs[i]->state == AE_REC_PENDING && strncmp(recs[i]->id, record_id, strlen(record_id)) == 0) {
			if (rec != NULL) {
				ae_set_message(ctx, AE_ERR_INVALID, "%s is the start of several pending records: give more of the id",
				               record_id);
				goto fail;
			}
			rec = recs[i];
		}
	if (record_id != NULL) {
		if (rec == NULL) {
			ae_set_message(ctx, AE_ERR_NOTFOUND, "no pending record %s in %s (autoenroll status lists them)",
			               record_id, ae_store_dir(s.st));
			goto fail;
		}
		if (ae_scep_record(rec)) {
			ae_cli_scep a = { .machine = machine, .retrieve = rec, .insecure_http = insecure_http,
				          .anchor_given = scep_anchor != NULL };
			if (ae_cli_enroll_scep(ctx, &s, &a) != AE_OK)
				goto fail;
			rc = AE_EXIT_OK;
			goto cleanup;
		}
		ca_name = rec->ca ? rec->ca : "?";
		request_id = rec->request_id;
		rec = NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (recs[i]->state == AE_REC_PENDING && recs[i]->request_id == request_id && recs[i]->ca &&
		    strcasecmp(recs[i]->ca, ca_name) == 0)
			rec = recs[i];
	if (rec == NULL) {
		ae_set_message(ctx, AE_ERR_NOTFOUND,
		               "no pending request %lu from CA %s in %s (autoenroll status lists them): its key is needed to install the certificate",
		               request_id, ca_name, ae_store_dir(s.st));
		goto fail;
	}
	ca = ae_policy_find_ca(s.policy, ca_name);
	it = rec->template_name ? ae_policy_find_item(s.policy, rec->template_name) : NULL;
	if (ca == NULL || ca->transport == NULL) {
		ae_set_message(ctx, AE_ERR_NOTFOUND, "CA %s is no longer published in AD", ca_name);
		goto fail;
	}
	if (it == NULL || it->tpl == NULL) {
		ae_set_message(ctx, AE_ERR_NOTFOUND, "template %s of request %lu is no longer in AD",
		               rec->template_name ? rec->template_name : "?", request_id);
		goto fail;
	}
	if (ces_url != NULL) {
		if (through_ces(ctx, s.policy, ca, ces_url, &ces) != AE_OK)
			goto fail;
		ca = &ces;
	}
	if (ae_txn_retrieve(ctx, &s.env, rec, it->tpl, ca, &res) != AE_OK)
		goto fail;
	if (res.outcome == AE_CA_REFUSED && !res.final) {
		/* An error that does not end the request: it stays pending. */
		ae_set_message(ctx, AE_ERR_DENIED, "%s", res.why);
		ae_prefix_message(ctx, AE_ERR_DENIED, "request %lu stays pending (its key is kept)", request_id);
		goto fail;
	}
	/* A final refusal: the transaction removed the request's key and record. */
	if (report(ctx, &s, &res, it->tpl, ca, machine, true) != AE_OK)
		goto fail;
	rc = AE_EXIT_OK;
	goto cleanup;
fail:
	ae_cli_error(ctx);
cleanup:
	ae_txn_result_clear(&res);
	free(ces.url);
	free(ces.endpoint_trust);
	ae_records_free(recs, n);
	ae_cli_session_clear(&s);
	return rc;
}
