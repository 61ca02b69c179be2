/*
 * cmd-scep.c - "autoenroll enroll --scep URL" and the renewal of an SCEP
 * certificate (enroll --renew ID): through the enrollment transaction
 * (core/txn.h) like every enrollment, over the SCEP transport
 * (transport/scep.h), with the challenge from a file or fetched from
 * NDES's admin page with the caller's Kerberos right before the request.
 * Failures are also the Windows SCEP client's event 86.
 */
#include "config.h"

#include "cmd-scep.h"
#include "events.h"
#include "http.h"
#include "scep-msg.h"
#include "scep-setup.h"
#include "scep.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

ae_err
ae_cli_scep_flags(ae_ctx *ctx, ae_cli_session *s, bool insecure_http, const char *anchor)
{
	char *dup;

	if (insecure_http)
		s->conf->scep_allow_http = true;
	if (anchor != NULL) {
		if ((dup = strdup(anchor)) == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		free(s->conf->scep_anchor);
		s->conf->scep_anchor = dup;
	}
	return AE_OK;
}

/* Event 86 for the failure on CTX; PROFILE: the SCEP profile, or NULL. */
static void
event_86(ae_ctx *ctx, const ae_cli_scep *a, const char *url, const char *profile, const ae_txn_result *res)
{
	const ae_scep_failure *f = ae_scep_last_failure();
	char shown[200];
	ae_event ev = { .kind = AE_EV_SCEP_FAILED, .machine = a->machine, .template_name = AE_SCEP_TEMPLATE,
		        .url = ae_url_shown(url, shown, sizeof(shown)),
		        .message = res && res->why ? res->why : ae_get_message(ctx),
		        .method = f->failed ? f->method : NULL, .stage = f->failed ? f->stage : NULL,
		        .hresult = f->failed ? f->code : 0, .scep_profile = profile };

	ae_event_emit("autoenroll", &ev);
}

/* A profile's own store (store in [scep NAME]): S's environment with its
 * keys there; *KS and *L are the caller's to free. */
static ae_err
profile_env(ae_ctx *ctx, ae_cli_session *s, const char *spec, ae_local *l, ae_keystore **ks, ae_txn_env *env)
{
	ae_err err;

	*env = s->env;
	if (spec == NULL)
		return AE_OK;
	if ((err = ae_local_for_store(ctx, &s->local, spec, l)) != AE_OK ||
	    (err = ae_keystore_open(ctx, l->store_spec, ks)) != AE_OK)
		return err;
	env->local = l;
	env->ks = *ks;
	return AE_OK;
}

ae_err
ae_cli_enroll_scep(ae_ctx *ctx, ae_cli_session *s, const ae_cli_scep *a)
{
	const ae_record *of = a->renew ? a->renew : a->retrieve;
	const ae_scep_profile *sp = a->profile ? a->profile : of ? ae_conf_scep_profile(s->conf, of->scep_profile) : NULL;
	ae_template tpl = { 0 };
	ae_ca ca = { 0 };
	ae_txn_result res = { 0 };
	ae_local plocal = { 0 };
	ae_keystore *pks = NULL;
	ae_key *renew_key = NULL;
	ae_txn_env env;
	const char *url = of ? of->ca : sp ? sp->url : a->url;
	const char *pname = of ? of->scep_profile : sp ? sp->name : NULL;
	/* a renewal is authenticated by the current certificate; a challenge
	 * only where given by hand or renewal_challenge says so (micromdm's
	 * scepserver wants one there too) */
	bool use_sp = sp != NULL && (!a->renew || (sp->renewal_challenge && a->challenge_file == NULL && !a->from_admin));
	const char *challenge_file = use_sp ? sp->challenge_file : a->challenge_file;
	bool from_admin = use_sp ? sp->challenge_admin : a->from_admin;
	char *challenge = NULL, shown[200], subj[512];
	bool plain = strncmp(url, "http://", 7) == 0;
	const char *unprot = plain ? " (over plain HTTP: unprotected)" : "";
	long age = -1;
	ae_err err;

	ae_url_shown(url, shown, sizeof(shown));
	if (strncmp(url, "https://", 8) != 0 && !plain)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s: not an https:// (or, where allowed, http://) SCEP URL", shown);
	if (sp != NULL && sp->allow_http >= 0 && !a->insecure_http)
		s->conf->scep_allow_http = sp->allow_http == 1;
	if ((err = ae_scep_target(ctx, url, sp ? sp->key_type : NULL, sp ? sp->key_size : 0, &s->policy->pki,
	                          sp && sp->anchor && !a->anchor_given ? sp->anchor : s->conf->scep_anchor, &tpl, &ca)) != AE_OK ||
	    (err = profile_env(ctx, s, of ? (strcmp(of->key_store, s->local.store_safe) != 0 && sp ? sp->store : NULL)
	                                  : sp ? sp->store : NULL,
	                       &plocal, &pks, &env)) != AE_OK)
		goto cleanup;
	if (a->renew != NULL && (err = ae_keystore_find(ctx, env.ks, a->renew->id, &renew_key)) != AE_OK)
		goto cleanup;
	if (a->retrieve != NULL) {
		/* RFC 8894 3.3.3: CertPoll for the pending request */
		if ((err = ae_txn_retrieve(ctx, &env, a->retrieve, &tpl, &ca, &res)) != AE_OK) {
			event_86(ctx, a, url, pname, NULL);
			goto cleanup;
		}
		if (res.outcome == AE_CA_REFUSED && !res.final) {
			err = ae_set_message(ctx, AE_ERR_DENIED, "request %s stays pending (its key is kept): %s",
			                     a->retrieve->id, res.why ? res.why : "the SCEP server did not answer it");
			goto cleanup;
		}
	} else {
		/* fetched right before the request, never kept */
		if (challenge_file != NULL)
			err = ae_scep_challenge_file(ctx, challenge_file, &challenge, &age);
		else if (from_admin)
			err = ae_scep_challenge_admin(ctx, url, ca.endpoint_trust, &challenge);
		if (err != AE_OK)
			goto cleanup;
	}
	if (a->retrieve == NULL) {
		ae_txn_request rq = { .tpl = &tpl, .ca = &ca, .renew = a->renew, .renew_key = renew_key,
			              .subject = sp ? sp->subject : a->subject, .san_dns = sp ? sp->dns : a->dns,
			              .san_upn = sp ? sp->upn : NULL, .san_email = sp ? sp->email : NULL,
			              .challenge = challenge, .scep_profile = sp ? sp->name : NULL };
		if ((err = ae_txn_enroll(ctx, &env, &rq, &res)) != AE_OK) {
			event_86(ctx, a, url, pname, NULL);
			goto cleanup;
		}
	}
	ae_log(ctx, AE_LOG_INFO, "SCEP at %s: %u round trips", shown, ae_ca_links_round_trips(&s->links));
	if (res.outcome == AE_CA_REFUSED) {
		event_86(ctx, a, url, pname, &res);
		err = ae_set_message(ctx, AE_ERR_DENIED, "%s%s%s", res.why ? res.why : "the SCEP server refused the request", unprot,
		                     age > 3600 ? " (the challenge file is more than an hour old: NDES's challenges expire after 60 minutes)"
		                     : from_admin ? " (the challenge was fetched from the admin page just now)" : "");
		goto cleanup;
	}
	if (res.outcome == AE_CA_PENDING) {
		if (a->retrieve != NULL)
			printf("Still pending: record %s at the SCEP server %s%s\n", a->retrieve->id, shown, unprot);
		else
			printf("Pending: at the SCEP server %s (record %s)%s\n  retrieve with: autoenroll retrieve --record %s%s\n",
			       shown, res.record_id, unprot, res.record_id, a->machine ? " --machine" : "");
		goto cleanup;
	}
	X509_NAME_oneline(X509_get_subject_name(res.cert), subj, sizeof(subj));
	printf("Issued: SCEP certificate from %s%s\n  subject  %s\n  key      %s\n  store    %s (id %s)\n", shown, unprot, subj,
	       res.key_uri, ae_store_dir(s->st), res.record_id);
	if (sp != NULL)
		printf("  profile  %s\n", sp->name);
	if (a->renew != NULL) {
		a->renew->state = AE_REC_ARCHIVED;
		if ((err = ae_store_save(ctx, s->st, a->renew)) != AE_OK)
			goto cleanup;
		printf("  renewed  %s (now archived)\n", a->renew->id);
	}
cleanup:
	if (challenge != NULL)
		OPENSSL_cleanse(challenge, strlen(challenge));
	free(challenge);
	free(ca.endpoint_trust);
	ae_key_free(renew_key);
	ae_keystore_free(pks);
	ae_local_clear(&plocal);
	ae_txn_result_clear(&res);
	return err;
}
