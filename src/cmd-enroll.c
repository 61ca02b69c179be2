/*
 * cmd-enroll.c - "autoenroll enroll" (like certreq -enroll: a new
 * certificate for a template, over MS-ICPR) and "autoenroll retrieve"
 * (a pending request by its ID), storing what is issued next to its key.
 */
#include "config.h"

#include "cli.h"
#include "csr.h"
#include "hresult.h"
#include "icpr.h"
#include "issued.h"
#include "krb.h"
#include "local.h"
#include "policy.h"
#include "source.h"
#include "rpc.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct {
	ae_conf *conf;
	ae_local local;
	ae_policy_source *src;
	ae_policy *policy;
	ae_store *st;
	ae_keystore *ks;
} session;

static void
session_clear(session *s)
{
	ae_keystore_free(s->ks);
	ae_store_free(s->st);
	ae_policy_free(s->policy);
	ae_policy_source_free(s->src);
	ae_local_clear(&s->local);
	ae_conf_free(s->conf);
	memset(s, 0, sizeof(*s));
}

/* Credentials, policy, local store and key store of a context. */
static ae_err
session_open(ae_ctx *ctx, ae_cli_globals *g, bool machine, session *s)
{
	unsigned removed = 0;
	ae_err err;

	memset(s, 0, sizeof(*s));
	if ((err = ae_cli_load_conf(ctx, g, &s->conf)) != AE_OK ||
	    (err = ae_local_init(ctx, s->conf, machine, &s->local)) != AE_OK)
		return err;
	err = ae_policy_source_open(ctx, s->conf, machine ? AE_CONTEXT_MACHINE : AE_CONTEXT_USER, NULL, &s->src);
	if (err != AE_OK)
		return err;
	err = ae_policy_source_load(ctx, s->src, machine ? AE_CONTEXT_MACHINE : AE_CONTEXT_USER, &s->policy);
	if (err != AE_OK)
		return err;
	if ((err = ae_store_open(ctx, s->local.state_dir, true, &s->st)) != AE_OK ||
	    (err = ae_keystore_open(ctx, s->local.store_spec, &s->ks)) != AE_OK ||
	    (err = ae_local_recover(ctx, s->st, s->ks, &s->local, &removed)) != AE_OK)
		return err;
	return AE_OK;
}



/* Verifies and stores an issued certificate for record REC (key KEY). */
static ae_err
store_issued(ae_ctx *ctx, session *s, ae_record *rec, ae_key *key, const ae_template *tpl, const ae_ca *ca,
             const ae_icpr_result *res)
{
	X509 *cert = NULL;
	char subj[512];
	ae_err err;

	err = ae_local_install(ctx, s->st, s->ks, s->policy, rec, key, tpl, ca, res, &cert);
	if (err != AE_OK)
		return err;
	if (X509_NAME_entry_count(X509_get_subject_name(cert)) == 0)
		snprintf(subj, sizeof(subj), "(empty: the names are in the subject alternative name)");
	else
		X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
	printf("Issued: %s certificate from %s\n  subject  %s\n  key      %s\n  store    %s (id %s)\n",
	       tpl->name, ca->name, subj, ae_key_uri(key), ae_store_dir(s->st), rec->id);
	X509_free(cert);
	return AE_OK;
}

/* What a disposition that is neither issued nor pending means. */
static ae_err
refused(ae_ctx *ctx, const ae_icpr_result *res, const char *tpl, const char *ca, const char *caller)
{
	return ae_local_refusal(ctx, res, tpl, ca, caller, NULL);
}

static void
enroll_usage(FILE *f)
{
	fprintf(f, "Usage: autoenroll enroll --template NAME [--user | --machine] [--ca NAME] [-c FILE]\n"
	           "       autoenroll enroll --renew ID [--user | --machine] [-c FILE]\n");
}

int
ae_cmd_enroll(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "template", required_argument, NULL, 't' },
		{ "ca", required_argument, NULL, 'a' },
		{ "renew", required_argument, NULL, 'r' },
		{ "user", no_argument, NULL, 'u' },
		{ "machine", no_argument, NULL, 'm' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tpl_name = NULL, *ca_name = NULL, *renew_id = NULL;
	ae_record **recs = NULL, *old = NULL;
	size_t nrecs = 0;
	ae_key *old_key = NULL;
	bool user = false, machine = false;
	session s = { 0 };
	const ae_policy_item *it;
	const ae_template *t;
	const ae_ca *ca;
	ae_key *key = NULL;
	ae_record *rec = NULL;
	ae_rpc *rpc = NULL;
	ae_icpr_result res = { 0 };
	X509_REQ *req = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	char *attrs = NULL;
	char host[256] = "";
	int rc = AE_EXIT_FAILURE, c;

	while ((c = getopt_long(argc, argv, "t:c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 't': tpl_name = optarg; break;
		case 'a': ca_name = optarg; break;
		case 'r': renew_id = optarg; break;
		case 'u': user = true; break;
		case 'm': machine = true; break;
		case 'c': g->config_path = optarg; break;
		case 'v': g->verbosity++; ae_cli_setup_log(ctx, g); break;
		case 'h': enroll_usage(stdout); return AE_EXIT_OK;
		default: enroll_usage(stderr); return AE_EXIT_USAGE;
		}
	}
	if (optind < argc || (user && machine) || (tpl_name == NULL) == (renew_id == NULL)) {
		enroll_usage(stderr);
		return AE_EXIT_USAGE;
	}
	if (session_open(ctx, g, machine, &s) != AE_OK)
		goto fail;
	if (renew_id != NULL) {
		/* Renewal: the certificate's own template and CA, a CMC request
		 * signed with the key of the certificate being renewed. */
		if (ae_store_load(ctx, s.st, &recs, &nrecs) != AE_OK)
			goto fail;
		size_t matches = 0;
		for (size_t i = 0; i < nrecs && *renew_id != '\0'; i++)
			if (recs[i]->state == AE_REC_ISSUED && strncmp(recs[i]->id, renew_id, strlen(renew_id)) == 0) {
				old = recs[i];
				matches++;
			}
		if (matches > 1) {
			ae_set_message(ctx, AE_ERR_INVALID, "%s is the start of %zu current certificates: give more of the id",
			               renew_id, matches);
			goto fail;
		}
		if (old == NULL || old->cert == NULL || old->template_name == NULL) {
			ae_set_message(ctx, AE_ERR_NOTFOUND, "no current certificate %s in %s (autoenroll status lists them)",
			               renew_id, ae_store_dir(s.st));
			goto fail;
		}
		tpl_name = old->template_name;
		if (ca_name == NULL)
			ca_name = old->ca;
		if (ae_keystore_find(ctx, s.ks, old->id, &old_key) != AE_OK)
			goto fail;
	}
	it = ae_policy_find_item(s.policy, tpl_name);
	if (it == NULL || it->tpl == NULL) {
		ae_set_message(ctx, AE_ERR_NOTFOUND, it ? "template %s cannot be used: %s"
		                                        : "no certificate template named %s (autoenroll policy lists them)",
		               tpl_name, it ? it->reason : "");
		goto fail;
	}
	t = it->tpl;
	if (old != NULL && (t->private_key_flags & AE_PK_REQUIRE_SAME_KEY_RENEWAL)) {
		ae_set_message(ctx, AE_ERR_UNSUPPORTED,
		               "%s asks for renewal with the same key (CT_FLAG_REQUIRE_SAME_KEY_RENEWAL), which autoenroll does not do, and the CA refuses a renewal with a new key: enroll for a new certificate with --template %s instead",
		               t->name, t->name);
		goto fail;
	}
	if (((t->flags & AE_CT_FLAG_MACHINE_TYPE) != 0) != machine) {
		ae_set_message(ctx, AE_ERR_INVALID, "%s is a %s template: use %s", t->name,
		               machine ? "user" : "machine", machine ? "--user" : "--machine");
		goto fail;
	}
	if (ca_name == NULL) {
		if (it->cas == NULL) {
			ae_set_message(ctx, AE_ERR_NOTFOUND, "template %s is not published on any valid CA: %s", t->name,
			               it->reason);
			goto fail;
		}
		ca_name = it->cas[0];
	}
	ca = ae_policy_find_ca(s.policy, ca_name);
	if (ca == NULL || ca->host == NULL) {
		ae_set_message(ctx, AE_ERR_NOTFOUND, "no enrollment service named %s in AD (autoenroll policy lists the CAs)",
		               ca_name);
		goto fail;
	}
	if (!ca->valid)
		ae_log(ctx, AE_LOG_WARNING, "CA %s is not valid (%s): its certificates will be rejected", ca->name,
		       ca->invalid_reason ? ca->invalid_reason : "?");

	/* Record, key, request. */
	rec = ae_local_new_record(&s.local, s.policy, t, ca);
	if (rec == NULL || (old != NULL && (rec->renewal_of = strdup(old->id)) == NULL))
		goto oom;
	if (ae_store_save(ctx, s.st, rec) != AE_OK || ae_local_make_key(ctx, s.ks, t, rec, &key) != AE_OK)
		goto fail;
	gethostname(host, sizeof(host) - 1);
	{
		ae_csr_params params = {
			.tpl = t,
			.client_id = AE_CLIENT_ID_CLI,
			.machine = machine && s.policy->account.dns_host_name ? s.policy->account.dns_host_name : host,
			.user = s.policy->account.display,
			.process = "autoenroll",
		};
		if (old != NULL) {
			if (ae_csr_build_renewal(ctx, &params, ae_key_evp(key), old->cert, ae_key_evp(old_key), &der,
			                         &der_len) != AE_OK)
				goto fail;
		} else if (ae_csr_build(ctx, &params, ae_key_evp(key), &req) != AE_OK ||
		           ae_csr_to_der(ctx, req, &der, &der_len) != AE_OK) {
			goto fail;
		}
	}
	if (ae_csr_attributes(ctx, t->name, s.policy->account.dns_host_name ? s.policy->account.dns_host_name : host,
	                      s.policy->origin.server, &attrs) != AE_OK)
		goto fail;

	/* Submit. */
	if (ae_rpc_connect(ctx, s.conf, ca->host, &ae_icpr_iface, &rpc) != AE_OK ||
	    ae_icpr_submit(ctx, rpc, ca->name, attrs, der, der_len, &res) != AE_OK)
		goto fail;
	ae_test_crash_point("enroll-after-submit");
	rec->request_id = res.request_id;
	if (ae_icpr_result_outcome(&res) == AE_ICPR_ISSUED) {
		if (store_issued(ctx, &s, rec, key, t, ca, &res) != AE_OK)
			goto fail;
		if (old != NULL) {
			/* The renewed certificate is kept, archived (the engine will
			 * apply the template's cleanup choice). */
			old->state = AE_REC_ARCHIVED;
			if (ae_store_save(ctx, s.st, old) != AE_OK)
				goto fail;
			printf("  renewed  %s (now archived)\n", old->id);
		}
	} else if (ae_icpr_result_outcome(&res) == AE_ICPR_PENDING) {
		rec->state = AE_REC_PENDING;
		free(rec->key_uri);
		rec->key_uri = strdup(ae_key_uri(key));
		if (ae_store_save(ctx, s.st, rec) != AE_OK)
			goto fail;
		printf("Pending: request %u for %s at %s%s%s\n  retrieve with: autoenroll retrieve --ca %s --request-id %u%s\n",
		       res.request_id, t->name, ca->name, res.message ? ": " : "", res.message ? res.message : "",
		       ca->name, res.request_id, machine ? " --machine" : "");
	} else {
		refused(ctx, &res, t->name, ca->name, s.policy->account.display);
		goto fail;
	}
	rc = AE_EXIT_OK;
	goto cleanup;
oom:
	ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
fail:
	ae_cli_error(ctx);
	/* A request that was not taken by the CA: its key goes too. */
	ae_local_abandon(s.st, s.ks, rec);
cleanup:
	ae_key_free(old_key);
	ae_records_free(recs, nrecs);
	ae_icpr_result_clear(&res);
	ae_rpc_free(rpc);
	X509_REQ_free(req);
	free(der);
	free(attrs);
	ae_record_free(rec);
	ae_key_free(key);
	session_clear(&s);
	return rc;
}

static void
retrieve_usage(FILE *f)
{
	fprintf(f, "Usage: autoenroll retrieve --ca NAME --request-id N [--user | --machine] [-c FILE]\n");
}

int
ae_cmd_retrieve(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ca", required_argument, NULL, 'a' },
		{ "request-id", required_argument, NULL, 'r' },
		{ "user", no_argument, NULL, 'u' },
		{ "machine", no_argument, NULL, 'm' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ca_name = NULL;
	unsigned long request_id = 0;
	bool user = false, machine = false;
	session s = { 0 };
	ae_record **recs = NULL, *rec = NULL;
	size_t n = 0;
	const ae_ca *ca;
	const ae_policy_item *it;
	ae_key *key = NULL;
	ae_rpc *rpc = NULL;
	ae_icpr_result res = { 0 };
	char *end = NULL;
	int rc = AE_EXIT_FAILURE, c;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': ca_name = optarg; break;
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
	if (optind < argc || (user && machine) || ca_name == NULL || request_id == 0) {
		retrieve_usage(stderr);
		return AE_EXIT_USAGE;
	}
	if (session_open(ctx, g, machine, &s) != AE_OK || ae_store_load(ctx, s.st, &recs, &n) != AE_OK)
		goto fail;
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
	if (ca == NULL || ca->host == NULL) {
		ae_set_message(ctx, AE_ERR_NOTFOUND, "CA %s is no longer published in AD", ca_name);
		goto fail;
	}
	if (it == NULL || it->tpl == NULL) {
		ae_set_message(ctx, AE_ERR_NOTFOUND, "template %s of request %lu is no longer in AD",
		               rec->template_name ? rec->template_name : "?", request_id);
		goto fail;
	}
	if (ae_keystore_find(ctx, s.ks, rec->id, &key) != AE_OK)
		goto fail;
	if (ae_rpc_connect(ctx, s.conf, ca->host, &ae_icpr_iface, &rpc) != AE_OK ||
	    ae_icpr_retrieve(ctx, rpc, ca->name, (uint32_t)request_id, &res) != AE_OK)
		goto fail;
	if (ae_icpr_result_outcome(&res) == AE_ICPR_ISSUED) {
		if (store_issued(ctx, &s, rec, key, it->tpl, ca, &res) != AE_OK)
			goto fail;
	} else if (ae_icpr_result_outcome(&res) == AE_ICPR_PENDING) {
		printf("Still pending: request %lu at %s%s%s\n", request_id, ca->name, res.message ? ": " : "",
		       res.message ? res.message : "");
	} else if (!ae_icpr_retrieval_final(&res)) {
		/* An error that does not end the request: it stays pending. */
		refused(ctx, &res, rec->template_name, ca->name, s.policy->account.display);
		ae_prefix_message(ctx, AE_ERR_DENIED, "request %lu stays pending (its key is kept)", request_id);
		goto fail;
	} else {
		/* Denied or unknown to the CA: the request is over; so are its
		 * key and record. */
		refused(ctx, &res, rec->template_name, ca->name, s.policy->account.display);
		ae_cli_error(ctx);
		ae_keystore_delete(ctx, s.ks, rec->id);
		ae_store_remove(ctx, s.st, rec->id);
		goto cleanup;
	}
	rc = AE_EXIT_OK;
	goto cleanup;
fail:
	ae_cli_error(ctx);
cleanup:
	ae_icpr_result_clear(&res);
	ae_rpc_free(rpc);
	ae_key_free(key);
	ae_records_free(recs, n);
	session_clear(&s);
	return rc;
}
