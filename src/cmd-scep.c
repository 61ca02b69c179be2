/*
 * cmd-scep.c - "autoenroll enroll --scep URL" and the renewal of an SCEP
 * certificate (enroll --renew ID): through the enrollment transaction
 * (core/txn.h) like every enrollment, over the SCEP transport
 * (transport/scep.h), with the challenge from a file or fetched from
 * NDES's admin page with the caller's Kerberos right before the request.
 * Failures are also the Windows SCEP client's event 86.
 */
#include "config.h"

#include "ces.h"
#include "cmd-scep.h"
#include "events.h"
#include "http.h"
#include "scep-msg.h"
#include "scep.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CHALLENGE_MAX 256

bool
ae_cli_scep_record(const ae_record *rec)
{
	return rec->template_name != NULL && strcmp(rec->template_name, AE_SCEP_TEMPLATE) == 0 && rec->ca != NULL &&
	       (strncmp(rec->ca, "https://", 8) == 0 || strncmp(rec->ca, "http://", 7) == 0);
}

/* NDES's admin page next to its SCEP URL: .../certsrv/mscep/mscep.dll ->
 * .../certsrv/mscep_admin/ */
static char *
admin_url(const char *url)
{
	const char *at = strstr(url, "/certsrv/mscep");

	if (at == NULL)
		return NULL;
	return ae_strdup_printf("%.*s/certsrv/mscep_admin/", (int)(at - url), url);
}

static ae_err
challenge_from_admin(ae_ctx *ctx, const char *url, const char *trust, char **out)
{
	char *admin = admin_url(url), shown[200];
	ae_http_response *resp = NULL;
	ae_err err;

	*out = NULL;
	if (admin == NULL)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s is not an NDES URL (.../certsrv/mscep/mscep.dll): give --challenge-file instead",
		                      ae_url_shown(url, shown, sizeof(shown)));
	ae_url_shown(admin, shown, sizeof(shown));
	{
		ae_http_request rq = { .url = admin, .max_body = 256 * 1024, .timeout = 30,
			               .timeout_setting = "the 30 s of the NDES admin page", .what = "NDES's admin page",
			               .any_status = true, .https_only = true, .negotiate = true, .trust_pem = trust };
		if ((err = ae_http_fetch(ctx, &rq, &resp)) != AE_OK)
			goto cleanup;
	}
	if (resp->status == 401) {
		err = ae_set_message(ctx, AE_ERR_DENIED,
		                     "NDES's admin page %s refused the Kerberos authentication (HTTP 401): check the ticket (klist) and that the SPN HTTP/host of the NDES server exists",
		                     shown);
	} else if (resp->status == 404) {
		err = ae_set_message(ctx, AE_ERR_NOTFOUND, "no NDES admin page at %s (HTTP 404)", shown);
	} else if (resp->status == 200 || resp->status == 403) {
		err = ae_scep_admin_challenge(ctx, (const char *)resp->body, resp->body_len, out);
		if (err != AE_OK)
			ae_prefix_message(ctx, err, "NDES's admin page %s (HTTP %ld)", shown, resp->status);
	} else {
		err = ae_set_message(ctx, AE_ERR_NETWORK, "NDES's admin page %s answered HTTP %ld", shown, resp->status);
	}
cleanup:
	ae_http_response_free(resp);
	free(admin);
	return err;
}

static ae_err
challenge_from_file(ae_ctx *ctx, const char *path, char **out, long *age)
{
	FILE *f = fopen(path, "r");
	char buf[CHALLENGE_MAX + 2];
	struct stat st;
	size_t n;

	*out = NULL;
	if (f == NULL)
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "cannot read the challenge file %s: %m", path);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	*age = fstat(fileno(f), &st) == 0 ? (long)(time(NULL) - st.st_mtime) : -1;
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0' || strlen(buf) > CHALLENGE_MAX)
		return ae_set_message(ctx, AE_ERR_INVALID, "the challenge file %s has no challenge on its first line (at most %d characters)",
		                      path, CHALLENGE_MAX);
	if ((*out = strdup(buf)) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	return AE_OK;
}

/* The configured anchor (scep_anchor, --scep-anchor): PEM roots added to
 * *TRUST, for SCEP servers outside the domain. */
static ae_err
add_anchor(ae_ctx *ctx, const char *path, char **trust)
{
	size_t len = 0;
	char *pem = ae_read_file(path, 1024 * 1024, &len), *both;

	if (pem == NULL)
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "cannot read the SCEP trust anchor %s (scep_anchor, --scep-anchor): %m",
		                      path);
	if (strstr(pem, "-----BEGIN CERTIFICATE-----") == NULL) {
		free(pem);
		return ae_set_message(ctx, AE_ERR_INVALID, "the SCEP trust anchor %s has no PEM certificate", path);
	}
	both = ae_strdup_printf("%s\n%s", *trust ? *trust : "", pem);
	free(pem);
	if (both == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	free(*trust);
	*trust = both;
	return AE_OK;
}

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

/* Event 86 for the failure on CTX. */
static void
event_86(ae_ctx *ctx, const ae_cli_scep *a, const char *url, const ae_txn_result *res)
{
	const ae_scep_failure *f = ae_scep_last_failure();
	char shown[200];
	ae_event ev = { .kind = AE_EV_SCEP_FAILED, .machine = a->machine, .template_name = AE_SCEP_TEMPLATE,
		        .url = ae_url_shown(url, shown, sizeof(shown)),
		        .message = res && res->why ? res->why : ae_get_message(ctx),
		        .method = f->failed ? f->method : NULL, .stage = f->failed ? f->stage : NULL,
		        .hresult = f->failed ? f->code : 0 };

	ae_event_emit("autoenroll", &ev);
}

ae_err
ae_cli_enroll_scep(ae_ctx *ctx, ae_cli_session *s, const ae_cli_scep *a)
{
	ae_template tpl = { 0 };
	ae_ca ca = { 0 };
	ae_txn_result res = { 0 };
	const char *url = a->renew ? a->renew->ca : a->retrieve ? a->retrieve->ca : a->url;
	char *challenge = NULL, shown[200], subj[512];
	bool plain = strncmp(url, "http://", 7) == 0;
	const char *unprot = plain ? " (over plain HTTP: unprotected)" : "";
	long age = -1;
	ae_err err;

	ae_url_shown(url, shown, sizeof(shown));
	if (strncmp(url, "https://", 8) != 0 && !plain)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s: not an https:// (or, where allowed, http://) SCEP URL", shown);
	tpl.name = (char *)AE_SCEP_TEMPLATE;
	tpl.key_alg = AE_KEY_ALG_RSA;
	tpl.min_key_size = 2048;
	ca.name = (char *)url;
	ca.url = (char *)url;
	ca.transport = &ae_transport_scep;
	ca.valid = true;
	if ((err = ae_ces_trust(ctx, &s->policy->pki, &ca.endpoint_trust)) != AE_OK ||
	    (s->conf->scep_anchor != NULL && (err = add_anchor(ctx, s->conf->scep_anchor, &ca.endpoint_trust)) != AE_OK))
		goto cleanup;
	if (a->retrieve != NULL) {
		/* RFC 8894 3.3.3: CertPoll for the pending request */
		if ((err = ae_txn_retrieve(ctx, &s->env, a->retrieve, &tpl, &ca, &res)) != AE_OK) {
			event_86(ctx, a, url, NULL);
			goto cleanup;
		}
		if (res.outcome == AE_CA_REFUSED && !res.final) {
			err = ae_set_message(ctx, AE_ERR_DENIED, "request %s stays pending (its key is kept): %s",
			                     a->retrieve->id, res.why ? res.why : "the SCEP server did not answer it");
			goto cleanup;
		}
	} else if (a->renew == NULL) {
		/* fetched right before the request, never kept */
		if (a->challenge_file != NULL)
			err = challenge_from_file(ctx, a->challenge_file, &challenge, &age);
		else if (a->from_admin)
			err = challenge_from_admin(ctx, url, ca.endpoint_trust, &challenge);
		if (err != AE_OK)
			goto cleanup;
	}
	if (a->retrieve == NULL) {
		ae_txn_request rq = { .tpl = &tpl, .ca = &ca, .renew = a->renew, .renew_key = a->renew_key,
			              .subject = a->subject, .san_dns = a->dns, .challenge = challenge };
		if ((err = ae_txn_enroll(ctx, &s->env, &rq, &res)) != AE_OK) {
			event_86(ctx, a, url, NULL);
			goto cleanup;
		}
	}
	ae_log(ctx, AE_LOG_INFO, "SCEP at %s: %u round trips", shown, ae_ca_links_round_trips(&s->links));
	if (res.outcome == AE_CA_REFUSED) {
		event_86(ctx, a, url, &res);
		err = ae_set_message(ctx, AE_ERR_DENIED, "%s%s%s", res.why ? res.why : "the SCEP server refused the request", unprot,
		                     age > 3600 ? " (the challenge file is more than an hour old: NDES's challenges expire after 60 minutes)"
		                     : a->from_admin ? " (the challenge was fetched from the admin page just now)" : "");
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
	ae_txn_result_clear(&res);
	return err;
}
