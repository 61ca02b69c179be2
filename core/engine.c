/*
 * engine.c - the autoenrollment task sequence (see engine.h).
 */
#include "config.h"

#include "agent.h"
#include "aia.h"
#include "crl.h"
#include "csr.h"
#include "engine.h"
#include "hresult.h"
#include "issued.h"
#include "json.h"
#include "local.h"
#include "pcache.h"
#include "policy.h"
#include "publish.h"
#include "scep-setup.h"
#include "scep.h"
#include "source.h"
#include "store.h"
#include "transport.h"
#include "trust.h"
#include "txn.h"
#include "util.h"

#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* At most this many AIA reads a pulse: a chain is a few CAs long. */
#define AIA_MAX_FETCHES 8

/* The whitepaper: requests pending 60 days or more are given up. */
#define PENDING_MAX_AGE (60 * 86400)

typedef struct {
	ae_ctx *ctx;
	const ae_conf *conf;
	const ae_engine_opts *opts;
	uint32_t aepolicy;
	int64_t now;
	ae_local local;
	ae_policy_source *src;
	ae_policy *policy;
	ae_store *st;
	ae_keystore *ks;
	ae_err ks_err;          /* why the key store could not be opened (once) */
	char *ks_msg;           /* ... in words */
	ae_record **recs;
	size_t nrecs;
	bool *handled;          /* per record: decided in this pulse */
	ae_ca_links links;      /* CA connections, one kept open at a time */
	ae_txn_env env;         /* what the pulse's enrollment transactions share */
	ae_pulse_result *res;
	const ae_pcache *earlier;  /* the last pulse's cache: its refusals; NULL with --refresh */
	ae_pcache *refused;     /* refusals of this pulse (only refusals used); NULL: out of memory */
	STACK_OF(X509) *aia;    /* CA certificates from certificates' AIA locations (untrusted) */
	STACK_OF(X509) *aia_asked; /* the certificates whose AIA was read */
	unsigned aia_tried;
	ae_pulse_budget budget; /* certificates and CRLs this pulse considers */
	ae_gp_settings *gp;     /* Group Policy's settings; NULL: none */
	const char *ev_gpo;     /* the GPO the next events name (AUTOENROLL_GPO) */
	const char *ev_url;     /* SCEP: the URL the next events name (event 86) */
	const char *ev_profile; /* SCEP: the profile the next events name (else their record's) */
} pulse;

/* ---- events ---- */

/* The context's policy servers, as events name them: "LDAP:" or the
 * configured list (policy/xcep.h). */
static const char *
policy_servers_text(pulse *p)
{
	static char buf[1024];
	char *const *list = p->opts->machine ? p->conf->machine_policy_servers : p->conf->user_policy_servers;
	size_t n = 0;

	if (list == NULL)
		return "LDAP:";
	buf[0] = '\0';
	for (size_t i = 0; list[i] != NULL && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "", list[i]);
	return buf;
}

static void
event(pulse *p, ae_event_kind kind, const char *tpl, const char *ca, const char *rec_id, uint32_t request_id,
      uint32_t hr, const char *fmt, ...) __attribute__((format(printf, 8, 9)));

static void
event(pulse *p, ae_event_kind kind, const char *tpl, const char *ca, const char *rec_id, uint32_t request_id,
      uint32_t hr, const char *fmt, ...)
{
	ae_pulse_result *r = p->res;
	ae_pulse_event *grown, *e;
	const char *profile = p->ev_profile;
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	switch (kind) {
	case AE_EV_ENROLLED: r->enrolled++; break;
	case AE_EV_RENEWED: r->renewed++; break;
	case AE_EV_PENDING: r->pending++; break;
	case AE_EV_RETRIEVED: r->retrieved++; break;
	case AE_EV_DENIED:
	case AE_EV_SCEP_FAILED:
	case AE_EV_FAILED: r->failed++; break;
	case AE_EV_SKIPPED:
	case AE_EV_NEEDS_USER: r->skipped++; break;
	case AE_EV_ARCHIVED: r->archived++; break;
	case AE_EV_DELETED:
	case AE_EV_PENDING_EXPIRED: r->deleted++; break;
	default: break;
	}
	/* a profile's certificate: its events name the profile (AUTOENROLL_SCEP_PROFILE) */
	for (size_t i = 0; profile == NULL && rec_id != NULL && i < p->nrecs; i++)
		if (strcmp(p->recs[i]->id, rec_id) == 0)
			profile = p->recs[i]->scep_profile;
	if (p->opts->emit) {
		ae_event ev = {
			.kind = kind,
			.machine = p->opts->machine,
			.user = p->opts->machine ? NULL : r->principal,
			.template_name = tpl,
			.ca = ca,
			.record_id = rec_id,
			.request_id = request_id,
			.hresult = hr,
			.message = msg,
			/* the context's policy servers (LDAP: unless configured) */
			.policy_server = kind == AE_EV_POLICY_LOAD_FAILED || kind == AE_EV_POLICY_AUTH_FAILED ||
			                         kind == AE_EV_POLICY_NONE ? policy_servers_text(p) : NULL,
			.gpo = p->ev_gpo,
			.url = p->ev_url,
			.scep_profile = profile,
			.method = kind == AE_EV_SCEP_FAILED && ae_scep_last_failure()->failed ? ae_scep_last_failure()->method : NULL,
			.stage = kind == AE_EV_SCEP_FAILED && ae_scep_last_failure()->failed ? ae_scep_last_failure()->stage : NULL,
		};
		ae_event_emit(p->opts->ident ? p->opts->ident : "autoenroll", &ev);
	}
	ae_log(p->ctx, (ae_log_level)ae_event_priority(kind), "%s: %s", ae_event_name(kind), msg ? msg : "");
	grown = realloc(r->events, (r->event_count + 1) * sizeof(*grown));
	if (grown == NULL) {
		free(msg);
		return;
	}
	r->events = grown;
	e = &r->events[r->event_count++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->template_name = tpl ? strdup(tpl) : NULL;
	e->ca = ca ? strdup(ca) : NULL;
	e->record_id = rec_id ? strdup(rec_id) : NULL;
	e->gpo = p->ev_gpo ? strdup(p->ev_gpo) : NULL;
	e->scep_profile = profile ? strdup(profile) : NULL;
	e->request_id = request_id;
	e->hresult = hr;
	e->message = msg;
}

static const char *
ctx_name(const pulse *p)
{
	return p->opts->machine ? "local system" : "the user";
}

/* ---- certificates for services (publish.h) ---- */

static void
publish_report(void *data, ae_event_kind kind, const char *tname, const char *profile, const char *record_id,
               const char *message)
{
	pulse *p = data;

	p->ev_profile = profile;
	event(p, kind, tname, NULL, record_id, 0, 0, "%s", message);
	p->ev_profile = NULL;
}

/* The context's current certificates to their stable place, and the
 * hooks of those that changed. */
static void
publish(pulse *p)
{
	if (ae_publish_pulse(p->ctx, p->conf, p->opts->machine, p->st, p->local.store_safe, publish_report, p) !=
	    AE_OK) {
		ae_log(p->ctx, AE_LOG_ERR, "certificates for services: %s", ae_get_message(p->ctx));
		ae_clear_message(p->ctx);
	}
}

/* ---- local store ---- */

static ae_err
reload_records(pulse *p)
{
	ae_records_free(p->recs, p->nrecs);
	free(p->handled);
	p->recs = NULL;
	p->nrecs = 0;
	p->handled = NULL;
	if (ae_store_load(p->ctx, p->st, &p->recs, &p->nrecs) != AE_OK)
		return ae_get_code(p->ctx);
	p->handled = calloc(p->nrecs + 1, sizeof(bool));
	if (p->handled == NULL)
		return ae_set_message(p->ctx, AE_ERR_NOMEM, "out of memory");
	return AE_OK;
}

/* How long an interactive pulse waits for a smartcard to be inserted
 * (the notification asked for it), and how often it looks. */
#define TOKEN_WAIT_SECONDS 120
#define TOKEN_POLL_SECONDS 2

static ae_err
keystore(pulse *p)
{
	double until = ae_monotonic_seconds() + TOKEN_WAIT_SECONDS;

	if (p->ks != NULL)
		return AE_OK;
	/* Opened once per pulse: a missing PIN or card is asked for once,
	 * and every template that needs the store says why, in the same
	 * words. */
	if (p->ks_err != AE_OK)
		return ae_set_message(p->ctx, p->ks_err, "%s", p->ks_msg ? p->ks_msg : "the key store could not be opened");
	for (;;) {
		p->ks_err = ae_keystore_open_prompt(p->ctx, p->local.store_spec, p->opts->pin_prompt,
		                                    p->opts->pin_prompt_data, &p->ks);
		if (p->ks_err != AE_ERR_NOTOKEN || !p->opts->interactive || ae_monotonic_seconds() >= until)
			break;
		sleep(TOKEN_POLL_SECONDS);
	}
	if (p->ks_err != AE_OK) {
		free(p->ks_msg);
		p->ks_msg = strdup(ae_get_message(p->ctx));
	}
	p->env.ks = p->ks;
	return p->ks_err;
}

static bool
rec_is_template(const ae_record *r, const ae_template *t)
{
	if (r->template_oid != NULL && t->oid != NULL)
		return strcmp(r->template_oid, t->oid) == 0;
	return r->template_name != NULL && strcasecmp(r->template_name, t->name) == 0;
}

static const ae_policy_item *
item_of_record(const pulse *p, const ae_record *r)
{
	for (size_t i = 0; i < p->policy->item_count; i++) {
		const ae_policy_item *it = &p->policy->items[i];
		if (it->tpl != NULL && rec_is_template(r, it->tpl))
			return it;
	}
	return NULL;
}

/* Encryption certificates are always archived, never deleted: their keys
 * decrypt old data.  Encryption = the template's key usage allows key or
 * data encipherment but not signatures. */
static bool
is_encryption(const ae_template *t)
{
	uint8_t ku = t != NULL && t->key_usage_len > 0 ? t->key_usage[0] : 0;
	return (ku & 0x30) != 0 && (ku & 0x80) == 0;
}

/* ---- certificate checks ---- */

/* Issuers from CERT's AIA (caIssuers) into p->aia, once per pulse and
 * certificate: for chains AD's stores cannot complete.  Whether any came. */
static bool
fetch_aia(pulse *p, X509 *cert)
{
	STACK_OF(X509) *found = NULL;
	ae_crl_fetch fetch;
	bool added = false;

	if (cert == NULL || p->aia_tried >= AIA_MAX_FETCHES)
		return false;
	for (int i = 0; i < sk_X509_num(p->aia_asked); i++)
		if (X509_cmp(sk_X509_value(p->aia_asked, i), cert) == 0)
			return false;
	p->aia_tried++;
	if ((p->aia_asked == NULL && (p->aia_asked = sk_X509_new_null()) == NULL) ||
	    (p->aia == NULL && (p->aia = sk_X509_new_null()) == NULL) || !X509_up_ref(cert) ||
	    sk_X509_push(p->aia_asked, cert) <= 0)
		return false;
	ae_policy_source_crl_fetch(p->src, &fetch);
	if (ae_aia_issuers(p->ctx, p->conf, &fetch, cert, &found) != AE_OK) {
		ae_log(p->ctx, AE_LOG_INFO, "%s", ae_get_message(p->ctx));
		ae_clear_message(p->ctx);
		return false;
	}
	while (sk_X509_num(found) > 0) {
		X509 *c = sk_X509_shift(found);
		if (sk_X509_push(p->aia, c) <= 0)
			X509_free(c);
		else
			added = true;
	}
	sk_X509_free(found);
	return added;
}

/* Chain validation to AD's roots at p->now.  *WHY (static or
 * OpenSSL-owned text) says what failed. */
static bool
chain_valid(pulse *p, X509 *cert, bool *expired, const char **why)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *vctx = X509_STORE_CTX_new();
	/* Untrusted: AD's AIA intermediates, the enrollment services'
	 * certificates and what AIA locations gave (a shallow copy: the
	 * certificates stay the policy's and the pulse's). */
	STACK_OF(X509) *untrusted = p->policy->pki.intermediates ? sk_X509_dup(p->policy->pki.intermediates)
	                                                         : sk_X509_new_null();
	bool ok = false;
	int e, had;

	*expired = false;
	*why = "cannot check the chain (out of memory)";
	if (store == NULL || vctx == NULL || untrusted == NULL)
		goto out;
	for (int i = 0; i < sk_X509_num(p->policy->pki.roots); i++)
		X509_STORE_add_cert(store, sk_X509_value(p->policy->pki.roots, i));
	for (size_t i = 0; i < p->policy->pki.ca_count; i++)
		if (p->policy->pki.cas[i].cert != NULL && sk_X509_push(untrusted, p->policy->pki.cas[i].cert) <= 0)
			goto out;
	for (int i = 0; i < sk_X509_num(p->aia); i++)
		if (sk_X509_push(untrusted, sk_X509_value(p->aia, i)) <= 0)
			goto out;
	for (;;) {
		if (X509_STORE_CTX_init(vctx, store, cert, untrusted) != 1)
			goto out;
		X509_STORE_CTX_set_time(vctx, 0, (time_t)p->now);
		ae_pki_accept_windows_extensions(vctx);
		if (X509_verify_cert(vctx) == 1) {
			ok = true;
			*why = NULL;
			break;
		}
		e = X509_STORE_CTX_get_error(vctx);
		had = sk_X509_num(p->aia);
		if ((e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT) &&
		    fetch_aia(p, X509_STORE_CTX_get_current_cert(vctx))) {
			/* The missing CA from the certificate's AIA: again with it. */
			X509_STORE_CTX_cleanup(vctx);
			for (int i = had < 0 ? 0 : had; i < sk_X509_num(p->aia); i++)
				if (sk_X509_push(untrusted, sk_X509_value(p->aia, i)) <= 0)
					goto out;
			continue;
		}
		*expired = e == X509_V_ERR_CERT_HAS_EXPIRED;
		*why = X509_verify_cert_error_string(e);
		break;
	}
out:
	X509_STORE_CTX_free(vctx);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	return ok;
}

static X509 *
find_issuer(pulse *p, X509 *cert)
{
	for (size_t i = 0; i < p->policy->pki.ca_count; i++) {
		X509 *c = p->policy->pki.cas[i].cert;
		if (c != NULL && X509_check_issued(c, cert) == X509_V_OK)
			return c;
	}
	for (int i = 0; i < sk_X509_num(p->policy->pki.intermediates); i++) {
		X509 *c = sk_X509_value(p->policy->pki.intermediates, i);
		if (X509_check_issued(c, cert) == X509_V_OK)
			return c;
	}
	for (int i = 0; i < sk_X509_num(p->aia); i++) {
		X509 *c = sk_X509_value(p->aia, i);
		if (X509_check_issued(c, cert) == X509_V_OK)
			return c;
	}
	return NULL;
}

/* Revoked according to the CRL?  Unknown counts as not revoked: the
 * whitepaper ignores revocation errors when the status is offline. */
static bool
is_revoked(pulse *p, X509 *cert, char **reason)
{
	X509 *issuer = find_issuer(p, cert);
	ae_revocation rv = AE_REVOCATION_UNKNOWN;
	ae_crl_fetch fetch;
	char *why = NULL;

	const char *said;

	*reason = NULL;
	if (issuer == NULL)
		return false;
	if (!ae_budget_crl_check(&p->budget, &said)) {
		if (said != NULL)
			ae_log(p->ctx, AE_LOG_NOTICE, "%s", said);
		return false;
	}
	/* ldap:// CRL locations through the policy source's session. */
	ae_policy_source_crl_fetch(p->src, &fetch);
	if (ae_crl_check(p->ctx, p->conf, &fetch, cert, issuer, (time_t)p->now, &rv, &why) != AE_OK) {
		ae_clear_message(p->ctx);
		return false;
	}
	if (rv == AE_REVOCATION_REVOKED) {
		*reason = why;
		return true;
	}
	if (rv == AE_REVOCATION_UNKNOWN)
		ae_log(p->ctx, AE_LOG_INFO, "revocation status unknown, ignored: %s", why ? why : "?");
	free(why);
	return false;
}

typedef enum { CERT_GOOD, CERT_EXPIRED, CERT_REVOKED, CERT_INVALID } cert_state;

static cert_state
check_cert(pulse *p, X509 *cert, char **why_out)
{
	bool expired;
	const char *why;
	char *rv = NULL;

	*why_out = NULL;
	if (!chain_valid(p, cert, &expired, &why)) {
		*why_out = strdup(why ? why : "chain validation failed");
		return expired ? CERT_EXPIRED : CERT_INVALID;
	}
	if (is_revoked(p, cert, &rv)) {
		*why_out = rv;
		return CERT_REVOKED;
	}
	return CERT_GOOD;
}

/* How the events' text names R's certificate: "SCEP profile NAME" for a
 * profile's, else its template. */
static const char *
cert_label(const ae_record *r, char *buf, size_t size)
{
	if (r->scep_profile == NULL)
		return r->template_name ? r->template_name : "?";
	snprintf(buf, size, "SCEP profile %s", r->scep_profile);
	return buf;
}

/* ---- cleanup of replaced certificates ---- */

/* Archives OLD, or deletes it with its key when the template says so and
 * the certificate is expired or revoked (the whitepaper: a renewed valid
 * certificate is always archived; encryption certificates always). */
static void
retire(pulse *p, ae_record *old, const ae_template *t, bool invalid, const char *why)
{
	bool del = invalid && t != NULL && (t->enrollment_flags & AE_EF_REMOVE_INVALID_CERTIFICATE) && !is_encryption(t);
	char label[128];

	if (del) {
		if (keystore(p) == AE_OK && ae_keystore_delete(p->ctx, p->ks, old->id) == AE_OK &&
		    ae_store_remove(p->ctx, p->st, old->id) == AE_OK) {
			event(p, AE_EV_DELETED, old->template_name, old->ca, old->id, old->request_id, 0,
			      "Certificate enrollment for %s deleted the %s certificate %s with its key (%s; the template deletes revoked or expired certificates)",
			      ctx_name(p), cert_label(old, label, sizeof(label)), old->id, why);
			old->state = AE_REC_ARCHIVED; /* gone: not looked at again */
			return;
		}
		event(p, AE_EV_FAILED, old->template_name, old->ca, old->id, 0, 0,
		      "could not delete the replaced certificate %s: %s", old->id, ae_get_message(p->ctx));
		return;
	}
	old->state = AE_REC_ARCHIVED;
	if (ae_store_save(p->ctx, p->st, old) != AE_OK) {
		event(p, AE_EV_FAILED, old->template_name, old->ca, old->id, 0, 0,
		      "could not archive the replaced certificate %s: %s", old->id, ae_get_message(p->ctx));
		return;
	}
	event(p, AE_EV_ARCHIVED, old->template_name, old->ca, old->id, old->request_id, 0,
	      "Certificate enrollment for %s archived the %s certificate %s (%s)", ctx_name(p),
	      cert_label(old, label, sizeof(label)), old->id, why);
}

static ae_record *
record_by_id(pulse *p, const char *id)
{
	for (size_t i = 0; id != NULL && i < p->nrecs; i++)
		if (strcmp(p->recs[i]->id, id) == 0)
			return p->recs[i];
	return NULL;
}

/* A run killed between storing a renewal's certificate and archiving the
 * certificate it renews leaves both current: archive the renewed one now
 * (tests/bench/crash.sh found it: two current certificates of a template). */
static void
finish_renewals(pulse *p)
{
	for (size_t i = 0; i < p->nrecs; i++) {
		ae_record *old = p->recs[i]->state == AE_REC_ISSUED ? record_by_id(p, p->recs[i]->renewal_of) : NULL;
		if (old != NULL && old->state == AE_REC_ISSUED && old != p->recs[i])
			retire(p, old, NULL, false, "renewed by an earlier pulse that was interrupted");
	}
}

/* ---- requests ---- */

/* The usable CA that comes after AFTER (NULL: the first) in IT's list of
 * the CAs publishing the template, cheapest first.  For the CAs AD lists
 * (the LDAP: policy, no cost) the list is in AD's order: the whitepaper's
 * "first (arbitrary selected) CA", and the next ones to fail over to. */
static const ae_ca *
ca_after(pulse *p, const ae_policy_item *it, const ae_ca *after)
{
	bool past = after == NULL;

	for (size_t i = 0; it->cas != NULL && it->cas[i] != NULL; i++) {
		const ae_ca *ca = ae_policy_find_ca(p->policy, it->cas[i]);
		if (!past) {
			past = ca == after;
			continue;
		}
		if (ca != NULL && ca->transport != NULL && ca->valid)
			return ca;
	}
	return NULL;
}

/* Could not ask the CA at all (no answer, no connection, no ticket for
 * it): the next CA may be asked the same request, unless its key is
 * encrypted to this CA's exchange certificate (archival). */
static bool
unreachable(const ae_txn *tx, ae_err err)
{
	return !tx->reached && !tx->archival && (err == AE_ERR_TIMEOUT || err == AE_ERR_NETWORK || err == AE_ERR_KERBEROS);
}

typedef enum { SUBMIT_ISSUED, SUBMIT_PENDING, SUBMIT_REFUSED, SUBMIT_ERROR, SUBMIT_NEEDS_USER } submit_outcome;

/* A template that needs one RA signature (msPKI-RA-Signature = 1): its
 * request is co-signed by an enrollment agent certificate of ours that
 * has what the template asks of RA signers (the whitepaper: "no matching
 * certificate to co-sign the request is found in Personal certificate
 * store" stops it).  A renewal signed with the old certificate needs none
 * only under CT_FLAG_PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT (MS-WCCE
 * 3.2.2.6.2.1.4.5.6, 3.2.2.6.2.1.4.8); without it the CA wants the RA
 * signature on renewals too, so without an agent nothing is sent.
 * SUBMIT_ISSUED: go on, with *AGENT (or NULL) and its key. */
static submit_outcome
ra_cosigner(pulse *p, const ae_template *t, const ae_ca *ca, bool renewal, ae_record **agent, ae_key **agent_key)
{
	char *wanted;

	*agent = NULL;
	*agent_key = NULL;
	if (renewal && (t->enrollment_flags & AE_EF_PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT))
		return SUBMIT_ISSUED;
	for (size_t i = 0; i < p->nrecs; i++) {
		ae_record *r = ae_agent_find(p->recs + i, p->nrecs - i, t, p->now);
		char *why = NULL;
		if (r == NULL)
			break;
		while (p->recs[i] != r)
			i++;
		if (is_revoked(p, r->cert, &why)) {
			free(why);
			continue;
		}
		if (ae_keystore_find(p->ctx, p->ks, r->id, agent_key) == AE_OK) {
			*agent = r;
			ae_log(p->ctx, AE_LOG_INFO, "%s: the request is co-signed by the enrollment agent certificate %s",
			       t->name, r->id);
			return SUBMIT_ISSUED;
		}
		ae_clear_message(p->ctx);
	}
	wanted = ae_agent_wanted(t);
	event(p, AE_EV_SKIPPED, t->name, ca->name, NULL, 0, 0,
	      "%s requires one RA signature%s and no certificate to co-sign the request is in the store (an enrollment agent certificate with %s, valid, not revoked): not %s",
	      t->name,
	      renewal ? " on renewals too (no CT_FLAG_PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT)" : "",
	      wanted ? wanted : "the template's RA application policies", renewal ? "renewed" : "enrolled");
	free(wanted);
	return SUBMIT_REFUSED;
}

/* Enrolls for T at CA: a new request, or a renewal of OLD signed with its
 * key.  Reports the outcome as events.  REPLACES (when not NULL and not
 * OLD) is retired once the new certificate is installed. */
static submit_outcome
submit(pulse *p, const ae_policy_item *it, const ae_ca *ca, ae_record *old, ae_record **replaces, size_t nreplaces,
       bool replaced_invalid, const char *why)
{
	const ae_template *t = it->tpl;
	ae_key *old_key = NULL, *agent_key = NULL;
	ae_record *agent = NULL;
	ae_txn_result res = { 0 };
	submit_outcome outcome = SUBMIT_ERROR;
	ae_record *renewed = old; /* retired once its replacement is in, renewal or not */
	char *detour = NULL;      /* "; CA could not be asked: why" for each CA failed over */
	ae_err err;

	{
		/* A refusal that asking again cannot change: not every pulse. */
		const ae_pcache_refusal *rf = ae_pcache_find_refusal(p->earlier, t->name, t->major, t->minor, ca->name,
		                                                     p->now);
		if (rf != NULL) {
			char *why_not = ae_hresult_explain(rf->hresult, t->name, ca->name, p->policy->account.display);
			const char *hname = ae_hresult_name(rf->hresult);
			event(p, AE_EV_SKIPPED, t->name, ca->name, NULL, 0, rf->hresult,
			      "the %s certificate is not requested from %s again yet: it refused version %u.%u %lld s ago: %s (0x%08X%s%s); asked again when the template changes, after %d hours, or with autoenroll pulse --refresh",
			      t->name, ca->name, t->major, t->minor, (long long)(p->now - rf->at),
			      why_not ? why_not : "refused", rf->hresult, hname ? " " : "", hname ? hname : "",
			      AE_PCACHE_REFUSAL_TTL / 3600);
			free(why_not);
			return SUBMIT_REFUSED;
		}
	}
	if ((err = keystore(p)) != AE_OK)
		goto fail;
	if (old != NULL && ae_keystore_find(p->ctx, p->ks, old->id, &old_key) != AE_OK) {
		/* No key, no renewal: a new request replaces the certificate. */
		ae_log(p->ctx, AE_LOG_WARNING, "the key of %s is gone (%s): requesting a new certificate instead",
		       old->id, ae_get_message(p->ctx));
		ae_clear_message(p->ctx);
	}
	if (old_key == NULL && ca->url == NULL && ca->renewal_urls != NULL) {
		/* MS-XCEP 3.1.4.1.3.5 renewalOnly: no new request there */
		event(p, AE_EV_SKIPPED, t->name, ca->name, NULL, 0, 0,
		      "%s is reached only through renewal-only CES URIs (key-based renewal): a new %s certificate is not requested there",
		      ca->name, t->name);
		outcome = SUBMIT_REFUSED;
		goto cleanup;
	}
	if (t->ra_signatures == 1 && (outcome = ra_cosigner(p, t, ca, old_key != NULL, &agent, &agent_key)) != SUBMIT_ISSUED)
		goto cleanup;
	outcome = SUBMIT_ERROR;
	{
		/* Failover: a CA that cannot be reached (each attempt bounded by
		 * rpc_timeout) passes the same request, new or renewal, to the
		 * next CA publishing the template, within this pulse. */
		ae_txn_request rq = { .tpl = t, .ca = ca, .renew = renewed, .renew_key = old_key,
			              .agent_cert = agent ? agent->cert : NULL, .agent_key = agent_key,
			              /* CT_FLAG_REQUIRE_SAME_KEY_RENEWAL (MS-CRTD 2.27): the
			               * renewal keeps the key */
			              .same_key = (t->private_key_flags & AE_PK_REQUIRE_SAME_KEY_RENEWAL) != 0 };
		ae_txn *tx = NULL;
		const ae_ca *next;

		if ((err = ae_txn_begin(p->ctx, &p->env, &rq, &tx)) != AE_OK)
			goto fail;
		while ((err = ae_txn_submit(p->ctx, &p->env, tx, &res)) != AE_OK && unreachable(tx, err) &&
		       (next = ca_after(p, it, ca)) != NULL) {
			char *d = ae_strdup_printf("%s; %s could not be asked (%s), the %s went to %s", detour ? detour : "",
			                           ca->name, ae_get_message(p->ctx), tx->renewal ? "renewal" : "request",
			                           next->name);
			ae_log(p->ctx, AE_LOG_WARNING, "%s: %s could not be asked (%s); the %s goes to %s, the next CA that publishes it",
			       t->name, ca->name, ae_get_message(p->ctx), tx->renewal ? "renewal" : "request", next->name);
			ae_clear_message(p->ctx);
			if (d != NULL) {
				free(detour);
				detour = d;
			}
			if ((err = ae_txn_retarget(p->ctx, tx, next)) != AE_OK)
				break;
			ca = next;
		}
		ae_txn_free(&p->env, tx);
		if (err != AE_OK)
			goto fail;
	}
	if (res.outcome == AE_CA_ISSUED) {
		if (renewed != NULL)
			event(p, AE_EV_RENEWED, t->name, ca->name, res.record_id, res.request_id, 0,
			      "Certificate enrollment for %s renewed the %s certificate (%s) from %s: request %u, new certificate %s%s",
			      ctx_name(p), t->name, why, ca->name, res.request_id, res.record_id, detour ? detour : "");
		else
			event(p, AE_EV_ENROLLED, t->name, ca->name, res.record_id, res.request_id, 0,
			      "Certificate enrollment for %s received a %s certificate from %s (%s): request %u, certificate %s%s",
			      ctx_name(p), t->name, ca->name, why, res.request_id, res.record_id, detour ? detour : "");
		if (renewed != NULL)
			retire(p, renewed, t, false, "renewed");
		for (size_t i = 0; i < nreplaces; i++)
			if (replaces[i] != NULL && replaces[i] != renewed && replaces[i]->state == AE_REC_ISSUED)
				retire(p, replaces[i], item_of_record(p, replaces[i]) ? item_of_record(p, replaces[i])->tpl : t,
				       replaced_invalid, why);
		outcome = SUBMIT_ISSUED;
	} else if (res.outcome == AE_CA_PENDING) {
		event(p, AE_EV_PENDING, t->name, ca->name, res.record_id, res.request_id, 0,
		      "Certificate enrollment for %s: the %s request %u is pending at %s%s%s; it is retrieved at the next pulse%s",
		      ctx_name(p), t->name, res.request_id, ca->name, res.ca_message ? ": " : "",
		      res.ca_message ? res.ca_message : "", detour ? detour : "");
		outcome = SUBMIT_PENDING;
	} else {
		event(p, AE_EV_DENIED, t->name, ca->name, NULL, res.request_id, res.hresult,
		      "Certificate enrollment for %s failed to enroll for a %s certificate with request ID %u from %s: %s%s",
		      ctx_name(p), t->name, res.request_id, ca->name, res.why, detour ? detour : "");
		if (ae_pcache_lasting_refusal(res.hresult) && p->refused != NULL &&
		    ae_pcache_add_refusal(p->ctx, p->refused, t->name, t->major, t->minor, ca->name, res.hresult,
		                          p->now) != AE_OK)
			ae_clear_message(p->ctx);
		outcome = SUBMIT_REFUSED;
	}
	goto cleanup;
fail:
	if (err == AE_ERR_NEEDPIN || err == AE_ERR_NOTOKEN) {
		event(p, AE_EV_NEEDS_USER, t->name, ca->name, NULL, 0, 0,
		      "the %s certificate waits for the user: %s", t->name, ae_get_message(p->ctx));
		outcome = SUBMIT_NEEDS_USER;
	} else if (err == AE_ERR_UNSUPPORTED && (t->private_key_flags & AE_PK_REQUIRE_PRIVATE_KEY_ARCHIVAL)) {
		/* key archival this key store or transport cannot do (txn.h) */
		event(p, AE_EV_SKIPPED, t->name, ca->name, NULL, 0, 0, "%s is skipped: %s", t->name, ae_get_message(p->ctx));
		outcome = SUBMIT_REFUSED;
	} else {
		event(p, AE_EV_FAILED, t->name, ca->name, NULL, 0, 0,
		      "Certificate enrollment for %s failed to enroll for a %s certificate from %s: %s%s; retried at the next pulse",
		      ctx_name(p), t->name, ca->name, ae_get_message(p->ctx), detour ? detour : "");
	}
	ae_clear_message(p->ctx);
cleanup:
	ae_txn_result_clear(&res);
	ae_key_free(agent_key);
	ae_key_free(old_key);
	free(detour);
	return outcome;
}

/* ---- 5. pending requests ---- */

/* ---- SCEP profiles ([scep NAME]): enrolled and renewed like templates ---- */

/* What one SCEP operation of the pulse works with: the profile's target
 * (its URL's trust), its key store and the configuration with its
 * allow_http. */
typedef struct {
	ae_template tpl;
	ae_ca ca;
	ae_local local;
	ae_keystore *ks;        /* the profile's own store; NULL: the pulse's */
	ae_txn_env env;
	ae_conf conf;
} scep_op;

static void
scep_op_clear(pulse *p, scep_op *o)
{
	p->links.conf = p->conf;
	free(o->ca.endpoint_trust);
	ae_keystore_free(o->ks);
	ae_local_clear(&o->local);
}

/* SP: the profile (NULL: a record enrolled by hand, [global]'s settings),
 * URL: where it goes. */
static ae_err
scep_op_open(pulse *p, const ae_scep_profile *sp, const char *url, scep_op *o)
{
	unsigned removed = 0;
	ae_err err;

	memset(o, 0, sizeof(*o));
	o->conf = *p->conf; /* shallow: only read, for this operation */
	if (sp != NULL && sp->allow_http >= 0)
		o->conf.scep_allow_http = sp->allow_http == 1;
	p->links.conf = &o->conf;
	o->env = p->env;
	if ((err = ae_scep_target(p->ctx, url, sp ? sp->key_type : NULL, sp ? sp->key_size : 0, &p->policy->pki,
	                          sp && sp->anchor ? sp->anchor : p->conf->scep_anchor, &o->tpl, &o->ca)) != AE_OK)
		return err;
	if (sp == NULL || sp->store == NULL) {
		if ((err = keystore(p)) == AE_OK)
			o->env.ks = p->ks;
		return err;
	}
	/* its own store, and what a dead run left there */
	if ((err = ae_local_for_store(p->ctx, &p->local, sp->store, &o->local)) != AE_OK ||
	    (err = ae_keystore_open_prompt(p->ctx, o->local.store_spec, p->opts->pin_prompt, p->opts->pin_prompt_data,
	                                   &o->ks)) != AE_OK ||
	    (err = ae_local_recover(p->ctx, p->st, o->ks, &o->local, &removed)) != AE_OK)
		return err;
	o->env.local = &o->local;
	o->env.ks = o->ks;
	return AE_OK;
}

/* Event 86 for the failure on the context (or in WHY). */
static void
scep_failed(pulse *p, const char *url, const char *name, const char *rec_id, uint32_t hr, const char *why)
{
	char shown[200];

	p->ev_url = ae_url_shown(url, shown, sizeof(shown));
	p->ev_profile = name;
	if (hr == 0 && ae_scep_last_failure()->failed)
		hr = ae_scep_last_failure()->code;
	event(p, AE_EV_SCEP_FAILED, AE_SCEP_TEMPLATE, shown, rec_id, 0, hr,
	      "SCEP certificate enrollment for %s (profile %s) via %s failed: %s", ctx_name(p), name ? name : "none",
	      shown, why ? why : ae_get_message(p->ctx));
	p->ev_url = NULL;
	p->ev_profile = NULL;
	ae_clear_message(p->ctx);
}

/* A pending SCEP request (RetrievePending): CertPoll (RFC 8894 3.3.3). */
static void
scep_poll(pulse *p, ae_record *r)
{
	const ae_scep_profile *sp = ae_conf_scep_profile(p->conf, r->scep_profile);
	ae_txn_result res = { 0 };
	scep_op o;
	char shown[200];

	ae_url_shown(r->ca, shown, sizeof(shown));
	if (r->key_store != NULL && strcmp(r->key_store, p->local.store_safe) != 0 &&
	    (sp == NULL || sp->store == NULL))
		return; /* its key is in a store not configured now */
	if (scep_op_open(p, sp, r->ca, &o) != AE_OK || ae_txn_retrieve(p->ctx, &o.env, r, &o.tpl, &o.ca, &res) != AE_OK) {
		scep_failed(p, r->ca, r->scep_profile, r->id, 0, NULL);
	} else if (res.outcome == AE_CA_ISSUED) {
		ae_record *old = record_by_id(p, r->renewal_of);
		X509_free(r->cert);
		r->cert = res.cert;
		res.cert = NULL;
		event(p, AE_EV_RETRIEVED, AE_SCEP_TEMPLATE, shown, r->id, 0, 0,
		      "Certificate enrollment for %s retrieved the SCEP certificate of profile %s (pending request %s) from %s",
		      ctx_name(p), r->scep_profile ? r->scep_profile : "none", r->id, shown);
		if (old != NULL && old->state == AE_REC_ISSUED)
			retire(p, old, &o.tpl, false, "renewed by a pending SCEP request that was issued");
	} else if (res.outcome == AE_CA_PENDING || !res.final) {
		event(p, AE_EV_PENDING, AE_SCEP_TEMPLATE, shown, r->id, 0, res.hresult,
		      "the SCEP request %s (profile %s) is still pending at %s%s%s", r->id,
		      r->scep_profile ? r->scep_profile : "none", shown, res.why ? ": " : "", res.why ? res.why : "");
	} else {
		scep_failed(p, r->ca, r->scep_profile, r->id, res.hresult, res.why);
	}
	ae_txn_result_clear(&res);
	scep_op_clear(p, &o);
}

/* The profile's current certificate (the latest), and whether a request
 * of it is pending. */
static ae_record *
scep_current(pulse *p, const ae_scep_profile *sp, bool *pending)
{
	ae_record *cur = NULL;

	*pending = false;
	for (size_t i = 0; i < p->nrecs; i++) {
		ae_record *r = p->recs[i];
		if (r->scep_profile == NULL || strcasecmp(r->scep_profile, sp->name) != 0 || !ae_scep_record(r))
			continue;
		if (r->state == AE_REC_PENDING)
			*pending = true;
		if (r->state == AE_REC_ISSUED && r->cert != NULL &&
		    (cur == NULL || ASN1_TIME_compare(X509_get0_notAfter(r->cert), X509_get0_notAfter(cur->cert)) > 0))
			cur = r;
	}
	return cur;
}

/* When the profile's certificate CUR is renewed: renew_percent of its
 * lifetime. */
static int64_t
scep_due_at(const ae_scep_profile *sp, const ae_record *cur)
{
	int64_t nb = (int64_t)ae_asn1_time(X509_get0_notBefore(cur->cert));
	int64_t na = (int64_t)ae_asn1_time(X509_get0_notAfter(cur->cert));

	return nb + (na - nb) * sp->renew_percent / 100;
}

/* Whether a profile of this context has work (the cheap check). */
static bool
scep_due(const pulse *p)
{
	for (size_t i = 0; i < p->conf->n_scep; i++) {
		const ae_scep_profile *sp = &p->conf->scep[i];
		ae_record *cur;
		bool pending;

		if (sp->user == p->opts->machine)
			continue;
		cur = scep_current((pulse *)p, sp, &pending);
		if (pending || cur == NULL || p->now >= scep_due_at(sp, cur))
			return true;
	}
	return false;
}

static void
scep_profile(pulse *p, const ae_scep_profile *sp)
{
	bool pending;
	ae_record *cur = scep_current(p, sp, &pending);
	ae_key *old_key = NULL;
	ae_txn_result res = { 0 };
	char *challenge = NULL, shown[200];
	bool renew;
	long age;
	scep_op o;
	ae_err err;

	if (pending)
		return; /* polled under RetrievePending: no second request */
	if (cur != NULL && p->now < scep_due_at(sp, cur))
		return;
	/* an expired certificate cannot sign its renewal: a new request */
	renew = cur != NULL && p->now < (int64_t)ae_asn1_time(X509_get0_notAfter(cur->cert));
	ae_url_shown(sp->url, shown, sizeof(shown));
	p->ev_profile = sp->name; /* its record is not in p->recs yet */
	if ((err = scep_op_open(p, sp, sp->url, &o)) != AE_OK ||
	    (renew && (err = ae_keystore_find(p->ctx, o.env.ks, cur->id, &old_key)) != AE_OK))
		goto fail;
	if (!renew || sp->renewal_challenge) {
		/* fetched right before the request, never kept */
		if (sp->challenge_file != NULL)
			err = ae_scep_challenge_file(p->ctx, sp->challenge_file, &challenge, &age);
		else if (sp->challenge_admin)
			err = ae_scep_challenge_admin(p->ctx, sp->url, o.ca.endpoint_trust, &challenge);
		if (err != AE_OK)
			goto fail;
	}
	{
		ae_txn_request rq = { .tpl = &o.tpl, .ca = &o.ca, .renew = renew ? cur : NULL, .renew_key = old_key,
			              .subject = sp->subject, .san_dns = sp->dns, .san_upn = sp->upn,
			              .san_email = sp->email, .challenge = challenge, .scep_profile = sp->name };
		if ((err = ae_txn_enroll(p->ctx, &o.env, &rq, &res)) != AE_OK)
			goto fail;
	}
	if (res.outcome == AE_CA_REFUSED) {
		scep_failed(p, sp->url, sp->name, NULL, res.hresult, res.why);
	} else if (res.outcome == AE_CA_PENDING) {
		event(p, AE_EV_PENDING, AE_SCEP_TEMPLATE, shown, res.record_id, 0, 0,
		      "the SCEP request of profile %s is pending at %s (record %s), polled at the next pulses", sp->name,
		      shown, res.record_id);
	} else {
		event(p, renew ? AE_EV_RENEWED : AE_EV_ENROLLED, AE_SCEP_TEMPLATE, shown, res.record_id, 0, 0,
		      "Certificate enrollment for %s %s the SCEP certificate of profile %s from %s (record %s)", ctx_name(p),
		      renew ? "renewed" : "enrolled", sp->name, shown, res.record_id);
		if (cur != NULL)
			retire(p, cur, &o.tpl, !renew, renew ? "renewed" : "expired, replaced");
	}
	goto done;
fail:
	scep_failed(p, sp->url, sp->name, NULL, 0, NULL);
done:
	p->ev_profile = NULL;
	if (challenge != NULL)
		OPENSSL_cleanse(challenge, strlen(challenge));
	free(challenge);
	ae_key_free(old_key);
	ae_txn_result_clear(&res);
	scep_op_clear(p, &o);
}

static void
scep_profiles(pulse *p)
{
	for (size_t i = 0; i < p->conf->n_scep; i++)
		if (p->conf->scep[i].user != p->opts->machine)
			scep_profile(p, &p->conf->scep[i]);
}

static void
retrieve_pending(pulse *p)
{
	for (size_t i = 0; i < p->nrecs; i++) {
		ae_record *r = p->recs[i];
		const ae_policy_item *it;
		const ae_ca *ca;
		ae_txn_result res = { 0 };
		ae_err err;
		const char *tname = r->template_name ? r->template_name : "?";

		if (r->state != AE_REC_PENDING)
			continue;
		p->handled[i] = true;
		if (ae_scep_record(r)) {
			scep_poll(p, r);
			continue;
		}
		if (r->key_store != NULL && strcmp(r->key_store, p->local.store_safe) != 0)
			continue; /* its key is in a store not configured now */
		if (p->now - r->created >= PENDING_MAX_AGE) {
			if (keystore(p) == AE_OK && ae_keystore_delete(p->ctx, p->ks, r->id) == AE_OK &&
			    ae_store_remove(p->ctx, p->st, r->id) == AE_OK)
				event(p, AE_EV_PENDING_EXPIRED, tname, r->ca, r->id, r->request_id, 0,
				      "Certificate enrollment for %s deleted the %s request %u to %s: pending for %lld days (60 or more)",
				      ctx_name(p), tname, r->request_id, r->ca ? r->ca : "?",
				      (long long)((p->now - r->created) / 86400));
			else
				event(p, AE_EV_FAILED, tname, r->ca, r->id, r->request_id, 0,
				      "could not delete the stale request %u: %s", r->request_id, ae_get_message(p->ctx));
			ae_clear_message(p->ctx);
			r->state = AE_REC_ARCHIVED; /* gone */
			continue;
		}
		it = item_of_record(p, r);
		ca = r->ca ? ae_policy_find_ca(p->policy, r->ca) : NULL;
		if (ca == NULL || ca->transport == NULL || it == NULL || it->tpl == NULL) {
			/* Kept: AD may list them again, and the request may still
			 * be issued; it goes at 60 days like any other. */
			event(p, AE_EV_SKIPPED, tname, r->ca, r->id, r->request_id, 0,
			      "the pending %s request %u is kept: %s is no longer in AD", tname, r->request_id,
			      ca == NULL || ca->transport == NULL ? "its CA" : "its template");
			continue;
		}
		if (keystore(p) != AE_OK) {
			event(p, AE_EV_FAILED, tname, ca->name, r->id, r->request_id, 0,
			      "the pending %s request %u cannot be completed: %s", tname, r->request_id,
			      ae_get_message(p->ctx));
			ae_clear_message(p->ctx);
			continue;
		}
		if ((err = ae_txn_retrieve(p->ctx, &p->env, r, it->tpl, ca, &res)) != AE_OK) {
			/* Not asked (the CA is out of reach), or what it issued could
			 * not be installed: the request stays pending, asked again. */
			bool unreachable = err == AE_ERR_NETWORK || err == AE_ERR_TIMEOUT || err == AE_ERR_KERBEROS;
			event(p, unreachable ? AE_EV_PENDING : AE_EV_FAILED, tname, ca->name, r->id,
			      r->request_id, 0, "the %s request %u stays pending: %s", tname, r->request_id,
			      ae_get_message(p->ctx));
			ae_clear_message(p->ctx);
			continue;
		}
		if (res.outcome == AE_CA_ISSUED) {
			ae_record *old = record_by_id(p, r->renewal_of);
			/* Current from now on: the steps that follow must see it. */
			X509_free(r->cert);
			r->cert = res.cert;
			res.cert = NULL;
			event(p, AE_EV_RETRIEVED, tname, ca->name, r->id, r->request_id, 0,
			      "Certificate enrollment for %s retrieved the %s certificate of pending request %u from %s",
			      ctx_name(p), tname, r->request_id, ca->name);
			if (old != NULL && old->state == AE_REC_ISSUED)
				retire(p, old, it->tpl, false, "renewed by a pending request that was issued");
		} else if (res.outcome == AE_CA_PENDING) {
			event(p, AE_EV_PENDING, tname, ca->name, r->id, r->request_id, 0,
			      "the %s request %u is still pending at %s", tname, r->request_id, ca->name);
		} else if (!res.final) {
			/* An error that does not end the request: its key is kept. */
			event(p, AE_EV_PENDING, tname, ca->name, r->id, r->request_id, res.hresult,
			      "the %s request %u stays pending: %s; asked again at the next pulse", tname, r->request_id,
			      res.why);
		} else {
			event(p, AE_EV_DENIED, tname, ca->name, r->id, r->request_id, res.hresult,
			      "Certificate enrollment for %s: the pending %s request %u was not issued: %s; the request and its key are removed",
			      ctx_name(p), tname, r->request_id, res.why);
		}
		ae_txn_result_clear(&res);
	}
}

/* ---- 6. templates set up for autoenrollment ---- */

/* A valid certificate of template T in the account's userCertificate? */
static bool
ds_has_valid(pulse *p, const ae_template *t)
{
	const ae_account *a = &p->policy->account;
	const char *said;
	size_t n = ae_budget_ds_certs(&p->budget, a->ds_cert_count, &said);

	if (said != NULL)
		ae_log(p->ctx, AE_LOG_NOTICE, "%s", said);
	for (size_t i = 0; i < n; i++) {
		X509 *c = NULL;
		ae_cert_template ct = { 0 };
		bool match = false, expired;
		const char *why;

		if (ae_x509_from_der(p->ctx, a->ds_certs[i], a->ds_cert_lens[i], &c) != AE_OK) {
			ae_clear_message(p->ctx);
			continue;
		}
		if (ae_cert_template_read(p->ctx, c, &ct) == AE_OK)
			match = (ct.template_oid && t->oid && strcmp(ct.template_oid, t->oid) == 0) ||
			        (ct.template_name && strcasecmp(ct.template_name, t->name) == 0);
		ae_clear_message(p->ctx);
		ae_cert_template_clear(&ct);
		if (match && chain_valid(p, c, &expired, &why)) {
			X509_free(c);
			return true;
		}
		X509_free(c);
	}
	return false;
}

static bool
has_pending(pulse *p, const ae_template *t)
{
	for (size_t i = 0; i < p->nrecs; i++)
		if (p->recs[i]->state == AE_REC_PENDING && rec_is_template(p->recs[i], t))
			return true;
	return false;
}

static const ae_ca *
first_ca(pulse *p, const ae_policy_item *it)
{
	return ca_after(p, it, NULL);
}

/* The records of template T (or, with SUPERSEDED, of the templates T
 * supersedes) that are current: state issued with a certificate. */
static size_t
current_records(pulse *p, const ae_template *t, bool superseded, ae_record **out, size_t *idx, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nrecs && n < max; i++) {
		ae_record *r = p->recs[i];
		bool match;
		if (r->state != AE_REC_ISSUED || r->cert == NULL)
			continue;
		if (r->key_store != NULL && strcmp(r->key_store, p->local.store_safe) != 0)
			continue;
		if (superseded)
			match = r->template_name != NULL && ae_strv_contains_nocase(t->supersedes, r->template_name);
		else
			match = rec_is_template(r, t);
		if (match) {
			idx[n] = i;
			out[n++] = r;
		}
	}
	return n;
}

#define MAX_PER_TEMPLATE 64

/* One template: renew what is due, replace what is invalid, enroll when
 * nothing valid is there.  MANUAL: Manage's renewal of manually enrolled
 * certificates (no new requests). */
static void
process_template(pulse *p, const ae_policy_item *it, bool manual)
{
	const ae_template *t = it->tpl;
	ae_record *cur[MAX_PER_TEMPLATE], *sup[MAX_PER_TEMPLATE], *bad[MAX_PER_TEMPLATE];
	size_t cidx[MAX_PER_TEMPLATE], sidx[MAX_PER_TEMPLATE];
	size_t nc, ns, nbad = 0;
	ae_record *best = NULL;
	int64_t best_na = 0;
	bool bad_invalid = false, bad_expired = false;
	char *bad_why = NULL;
	const ae_ca *ca;

	nc = current_records(p, t, false, cur, cidx, MAX_PER_TEMPLATE);
	ns = manual ? 0 : current_records(p, t, true, sup, sidx, MAX_PER_TEMPLATE);
	for (size_t i = 0; i < nc; i++)
		p->handled[cidx[i]] = true;
	for (size_t i = 0; i < ns; i++)
		p->handled[sidx[i]] = true;
	if (has_pending(p, t)) {
		ae_log(p->ctx, AE_LOG_INFO, "%s: a request is pending at the CA; nothing new is asked for", t->name);
		return;
	}
	/* Validate what is there: chain to AD's roots at now, revocation. */
	for (size_t i = 0; i < nc; i++) {
		char *why = NULL;
		cert_state cs = check_cert(p, cur[i]->cert, &why);
		int64_t na = (int64_t)ae_asn1_time(X509_get0_notAfter(cur[i]->cert));
		if (cs == CERT_GOOD) {
			if (best == NULL || na > best_na) {
				if (best != NULL)
					bad[nbad++] = best; /* an older valid one: replaced too */
				best = cur[i];
				best_na = na;
			} else {
				bad[nbad++] = cur[i];
			}
		} else {
			bad[nbad++] = cur[i];
			bad_invalid = true;
			bad_expired = bad_expired || cs == CERT_EXPIRED;
			if (bad_why == NULL)
				bad_why = ae_strdup_printf("the current certificate %s is %s: %s", cur[i]->id,
				                    cs == CERT_EXPIRED ? "expired" : cs == CERT_REVOKED ? "revoked" : "not valid",
				                    why ? why : "?");
		}
		free(why);
	}
	if (best != NULL) {
		int64_t nb = (int64_t)ae_asn1_time(X509_get0_notBefore(best->cert));
		int64_t due = ae_renewal_due(nb, best_na, t->has_renewal ? t->renewal_seconds : 0);
		char why[256];
		bool renew = false;

		if (t->major > best->major) {
			snprintf(why, sizeof(why), "the template's major version %u is above the certificate's %u", t->major,
			         best->major);
			renew = true;
		} else if (p->now >= due) {
			snprintf(why, sizeof(why), "%.0f%% of its lifetime has passed; renewal was due %lld s ago",
			         best_na > nb ? 100.0 * (double)(p->now - nb) / (double)(best_na - nb) : 100.0,
			         (long long)(p->now - due));
			renew = true;
		}
		if (!renew) {
			/* Valid and not due.  Older duplicates stay as they are. */
			free(bad_why);
			return;
		}
		if (t->enrollment_flags & AE_EF_SKIP_AUTO_RENEWAL) {
			/* MS-CRTD 2.26 msPKI-Enrollment-Flag: "should not be
			 * auto-renewed, although it has a valid template". */
			event(p, AE_EV_SKIPPED, t->name, NULL, best->id, 0, 0,
			      "%s is due for renewal (%s) but is not renewed automatically: the template says so (CT_FLAG_SKIP_AUTO_RENEWAL); renew it by hand with autoenroll enroll --renew %s",
			      t->name, why, best->id);
			free(bad_why);
			return;
		}
		if ((ca = first_ca(p, it)) == NULL) {
			event(p, AE_EV_SKIPPED, t->name, NULL, best->id, 0, 0,
			      "%s is due for renewal (%s) but no valid CA publishes the template", t->name, why);
			free(bad_why);
			return;
		}
		submit(p, it, ca, best, bad, nbad, bad_invalid, why);
		free(bad_why);
		return;
	}
	if (manual) {
		/* Manage renews; it does not enroll.  An expired certificate of
		 * a template set up for autoenrollment gets a new request, as
		 * Windows does under "Renew expired certificates" (an expired
		 * certificate cannot sign a renewal); a revoked one, or one of
		 * a template that needs more than the caller's own request,
		 * cannot be replaced. */
		if (nbad > 0 && bad_expired && it->decision == AE_DECISION_AUTOENROLL && (ca = first_ca(p, it)) != NULL) {
			submit(p, it, ca, NULL, bad, nbad, true, bad_why ? bad_why : "expired");
			free(bad_why);
			return;
		}
		if (nbad > 0) {
			event(p, AE_EV_SKIPPED, t->name, NULL, bad[0]->id, 0, 0,
			      "%s cannot be renewed: %s; enroll again by hand", t->name, bad_why ? bad_why : "not valid");
			for (size_t i = 0; i < nbad; i++)
				if (t->enrollment_flags & AE_EF_REMOVE_INVALID_CERTIFICATE)
					retire(p, bad[i], t, true, bad_why ? bad_why : "not valid");
		}
		free(bad_why);
		return;
	}
	/* No valid certificate: a new request, unless the whitepaper's
	 * exceptions hold. */
	if ((t->enrollment_flags & AE_EF_CHECK_USER_DS_CERTIFICATE) && ds_has_valid(p, t)) {
		ae_log(p->ctx, AE_LOG_INFO, "%s: a valid certificate is in the account's userCertificate in AD", t->name);
		free(bad_why);
		return;
	}
	if ((ca = first_ca(p, it)) == NULL) {
		event(p, AE_EV_SKIPPED, t->name, NULL, NULL, 0, 0, "%s: no valid CA publishes the template", t->name);
		free(bad_why);
		return;
	}
	if (ns > 0) {
		/* Supersedence: enroll for the new template, then retire the
		 * old certificates (archived: they were valid). */
		char why[512];
		snprintf(why, sizeof(why), "%s supersedes %s", t->name, sup[0]->template_name);
		for (size_t i = 0; i < nbad && ns < MAX_PER_TEMPLATE; i++)
			sup[ns++] = bad[i];
		submit(p, it, ca, NULL, sup, ns, false, why);
	} else {
		submit(p, it, ca, NULL, bad, nbad, bad_invalid, bad_why ? bad_why : "the first of this template");
	}
	free(bad_why);
}

/* A template that needs one RA signature is enrolled by the pulse when a
 * certificate of ours can co-sign its request (the whitepaper's
 * "Submitting a new request"; submit() picks the agent). */
static bool
ra_enrollable(pulse *p, const ae_policy_item *it)
{
	const ae_template *t = it->tpl;

	return t != NULL && it->decision == AE_DECISION_MANUAL_RENEW_ONLY && t->ra_signatures == 1 &&
	       !(t->name_flags & AE_NF_ENROLLEE_SUPPLIES_SUBJECT) && (p->aepolicy & AE_AEPOLICY_ENROLL) &&
	       ae_agent_find(p->recs, p->nrecs, t, p->now) != NULL;
}

/* A template that requires user interaction, in a pulse nobody sits at:
 * says so (the notification offers it), and true. */
static bool
waits_for_consent(pulse *p, const ae_template *t)
{
	if (!(t->enrollment_flags & AE_EF_USER_INTERACTION_REQUIRED) || p->opts->interactive)
		return false;
	event(p, AE_EV_NEEDS_USER, t->name, NULL, NULL, 0, 0,
	      "%s needs the user's consent (the template requires user interaction): it waits for the user's session",
	      t->name);
	return true;
}

static void
enroll_templates(pulse *p)
{
	for (size_t i = 0; i < p->policy->item_count; i++) {
		const ae_policy_item *it = &p->policy->items[i];
		const ae_template *t = it->tpl;
		bool machine_tpl = t != NULL && (t->flags & AE_CT_FLAG_MACHINE_TYPE) != 0;
		if (t == NULL) {
			/* A template AD holds that could not be read (a malformed
			 * attribute, a control character in a name): named, with
			 * the attribute at fault, every full pulse. */
			event(p, AE_EV_SKIPPED, it->name, NULL, NULL, 0, 0, "%s is skipped: %s", it->name, it->reason);
			continue;
		}
		if (t != NULL && it->decision == AE_DECISION_SKIP && it->enroll && it->autoenroll &&
		    machine_tpl == p->opts->machine) {
			/* Set up for us but not enrollable: say why, every full
			 * pulse, so that the admin never wonders. */
			event(p, AE_EV_SKIPPED, t->name, it->cas ? it->cas[0] : NULL, NULL, 0, 0, "%s is skipped: %s",
			      t->name, it->reason);
			continue;
		}
		if (ra_enrollable(p, it)) {
			ae_record *cur[MAX_PER_TEMPLATE];
			size_t idx[MAX_PER_TEMPLATE];
			/* The first certificate; renewals are Manage's */
			if (current_records(p, t, false, cur, idx, MAX_PER_TEMPLATE) == 0)
				process_template(p, it, false);
			continue;
		}
		if (t == NULL || it->decision != AE_DECISION_AUTOENROLL || waits_for_consent(p, t))
			continue;
		process_template(p, it, false);
	}
}

/* ---- 7. Manage: manually enrolled certificates ---- */

/* The whitepaper's "Renew manually enrolled certificates": with Manage,
 * the current certificates of templates the caller has Enroll and
 * AutoEnroll on are renewed, also when Enroll is off (aepolicy 6, the
 * Group Policy box "Renew expired certificates, update pending
 * certificates, and remove revoked certificates" alone).  With Enroll on,
 * step 6 has done it. */
static bool
manages_autoenroll(const pulse *p, const ae_policy_item *it)
{
	return it->decision == AE_DECISION_AUTOENROLL && !(p->aepolicy & AE_AEPOLICY_ENROLL);
}

static void
manage_manual(pulse *p)
{
	for (size_t i = 0; i < p->policy->item_count; i++) {
		const ae_policy_item *it = &p->policy->items[i];
		ae_record *cur[MAX_PER_TEMPLATE];
		size_t idx[MAX_PER_TEMPLATE];

		if (it->tpl == NULL || !(it->decision == AE_DECISION_MANUAL_RENEW_ONLY || manages_autoenroll(p, it)))
			continue;
		if (current_records(p, it->tpl, false, cur, idx, MAX_PER_TEMPLATE) == 0) {
			if (it->decision == AE_DECISION_AUTOENROLL)
				continue; /* Manage renews; enrolling is Enroll's */
			if (it->tpl->ra_signatures == 1 && !ra_enrollable(p, it))
				ae_log(p->ctx, AE_LOG_INFO,
				       "%s requires one RA signature and no certificate to co-sign a request is at hand: not enrolled",
				       it->tpl->name);
			continue;
		}
		if (it->decision == AE_DECISION_AUTOENROLL && waits_for_consent(p, it->tpl))
			continue;
		process_template(p, it, true);
	}
}

/* ---- 8. revoked certificates out of AD ---- */

typedef struct {
	size_t i; /* its index in userCertificate */
	X509 *c;
} ds_value;

/* qsort: the latest notBefore first */
static int
newest_first(const void *x, const void *y)
{
	const ds_value *a = x, *b = y;

	return ASN1_TIME_compare(X509_get0_notBefore(b->c), X509_get0_notBefore(a->c));
}

static void
remove_revoked_from_ds(pulse *p)
{
	const ae_account *a = &p->policy->account;
	const char *said;
	ds_value *cs;
	size_t n, nc = 0, untrusted = 0;

	if (p->src == NULL || p->src->ops->remove_ds_cert == NULL || a->ds_cert_count == 0)
		return;
	/* Parsing and signatures need no network.  The cap
	 * (AE_PULSE_MAX_DS_CERTS) bounds the CRL fetches and goes to the
	 * newest unexpired values from AD's CAs first: expired certificates
	 * stay (only revoked ones are removed), and a new revocation is
	 * likeliest among the newest, so an account that has published
	 * hundreds of certificates still has its latest revoked one removed. */
	if ((cs = calloc(a->ds_cert_count, sizeof(*cs))) == NULL)
		return;
	for (size_t i = 0; i < a->ds_cert_count; i++) {
		X509 *c = NULL;
		if (ae_x509_from_der(p->ctx, a->ds_certs[i], a->ds_cert_lens[i], &c) != AE_OK) {
			ae_clear_message(p->ctx);
			continue;
		}
		if (X509_cmp_time(X509_get0_notAfter(c), &p->now) < 0) {
			X509_free(c);
			continue;
		}
		/* Its CRL locations are fetched only once its signature verifies
		 * against an enterprise CA from AD (issue 19): anyone who can
		 * write the attribute could otherwise point a pulse anywhere. */
		if (ae_pki_trusted_issuer(&p->policy->pki, c) == NULL) {
			untrusted++;
			X509_free(c);
			continue;
		}
		cs[nc].i = i;
		cs[nc++].c = c;
	}
	if (untrusted > 0)
		ae_log(p->ctx, AE_LOG_INFO,
		       "%zu value(s) of userCertificate of %s are not signed by a CA from AD whose certificate validates: "
		       "their CRLs are not fetched", untrusted, a->dn);
	qsort(cs, nc, sizeof(*cs), newest_first);
	n = ae_budget_ds_certs(&p->budget, nc, &said);
	if (said != NULL)
		ae_log(p->ctx, AE_LOG_NOTICE, "%s", said);
	for (size_t k = 0; k < n; k++) {
		size_t i = cs[k].i;
		X509 *c = cs[k].c;
		char *why = NULL;

		if (is_revoked(p, c, &why)) {
			char serial[128] = "?";
			BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), NULL);
			char *hex = bn ? BN_bn2hex(bn) : NULL;
			if (hex != NULL)
				snprintf(serial, sizeof(serial), "%s", hex);
			OPENSSL_free(hex);
			BN_free(bn);
			if (ae_policy_source_remove_ds_cert(p->ctx, p->src, a->dn, a->ds_certs[i], a->ds_cert_lens[i]) ==
			    AE_OK)
				event(p, AE_EV_DS_CERT_REMOVED, NULL, NULL, NULL, 0, 0,
				      "removed the revoked certificate %s from userCertificate of %s (%s)", serial, a->dn,
				      why ? why : "revoked");
			else
				event(p, AE_EV_FAILED, NULL, NULL, NULL, 0, 0,
				      "could not remove the revoked certificate %s from userCertificate of %s: %s", serial, a->dn,
				      ae_get_message(p->ctx));
			ae_clear_message(p->ctx);
		}
		free(why);
	}
	for (size_t k = 0; k < nc; k++)
		X509_free(cs[k].c);
	free(cs);
}

/* ---- 2. trust ---- */


static void
update_trust(pulse *p)
{
	ae_trust_changes ch;
	char *dir = NULL;
	const char *tdir = p->conf->trust_dir;

	if (!p->opts->machine)
		return; /* users inherit the machine's trust, as on Windows */
	if (p->policy->origin.config_nc == NULL)
		return; /* no LDAP: policy server: the trust from AD stays as it was */
	if (tdir == NULL) {
		if (asprintf(&dir, "%s/trust", p->local.state_dir) < 0)
			return;
		tdir = dir;
	}
	if (ae_trust_update(p->ctx, tdir, p->conf->system_trust, &p->policy->pki, p->gp, &ch) != AE_OK) {
		event(p, AE_EV_TRUST_FAILED, NULL, NULL, NULL, 0, 0,
		      "Automatic certificate enrollment for local system failed to update the trust from AD: %s",
		      ae_get_message(p->ctx));
		ae_clear_message(p->ctx);
	} else if (ch.added || ch.removed) {
		char gpt[128] = "";
		if (ch.gp_certs || ch.disallowed)
			snprintf(gpt, sizeof(gpt), "; Group Policy: %u certificates, %u disallowed", ch.gp_certs,
			         ch.disallowed);
		event(p, AE_EV_TRUST_UPDATED, NULL, NULL, NULL, 0, 0,
		      "trust from AD updated in %s: %u added, %u removed (%u roots, %u intermediates, %u NTAuth%s)%s%s",
		      tdir, ch.added, ch.removed, ch.roots, ch.intermediates, ch.ntauth, gpt,
		      ch.system_added || ch.system_removed ? "; system trust updated with " : "",
		      ch.system_added || ch.system_removed ? p->conf->system_trust : "");
	}
	free(dir);
}

static void
write_oids(pulse *p)
{
	char path[4096];
	ae_buf b;

	ae_buf_init(&b);
	for (size_t i = 0; i < p->policy->oid_count; i++) {
		const ae_oid *o = &p->policy->oids[i];
		const char *dn = o->display_name ? o->display_name : "";
		if (strpbrk(o->oid, "\t\n") != NULL || strpbrk(dn, "\t\n") != NULL)
			continue;
		ae_buf_printf(&b, "%s\t%u\t%s\n", o->oid, o->flags, dn);
	}
	snprintf(path, sizeof(path), "%s/oids", p->local.state_dir);
	if (b.data != NULL && ae_write_file_atomic(p->ctx, path, b.data, b.len, 0644) != AE_OK) {
		ae_log(p->ctx, AE_LOG_WARNING, "%s", ae_get_message(p->ctx));
		ae_clear_message(p->ctx);
	}
	ae_buf_clear(&b);
}

/* ---- the expiry warning ---- */

/* Why nothing renewed R in this pulse: the template gone or no longer
 * ours, the policy's reason, or the last word this pulse had on it (a
 * failure, a refusal, a skip).  Caller frees. */
/* ... for a certificate enrolled over SCEP: by hand, or by its profile
 * ([scep NAME]), which may be gone, failing, or not due yet. */
static char *
scep_not_renewed_why(pulse *p, const ae_record *r)
{
	const ae_scep_profile *sp = ae_conf_scep_profile(p->conf, r->scep_profile);
	char when[32];
	struct tm tm;
	time_t due;

	if (r->scep_profile == NULL)
		return ae_strdup_printf("it was enrolled over SCEP by hand, without a profile: renew it with autoenroll enroll --renew %s",
		                        r->id);
	if (sp == NULL || sp->user == p->opts->machine)
		return ae_strdup_printf("the profile %s is no longer in the configuration (no [scep %s] for %s)",
		                        r->scep_profile, r->scep_profile, ctx_name(p));
	for (size_t i = p->res->event_count; i > 0; i--) {
		const ae_pulse_event *e = &p->res->events[i - 1];
		if (e->scep_profile == NULL || strcasecmp(e->scep_profile, sp->name) != 0)
			continue;
		if (e->kind == AE_EV_SCEP_FAILED || e->kind == AE_EV_FAILED || e->kind == AE_EV_PENDING)
			return ae_strdup_printf("%s", e->message ? e->message : ae_event_name(e->kind));
	}
	due = (time_t)scep_due_at(sp, r);
	if (p->now < due && gmtime_r(&due, &tm) != NULL &&
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm) > 0)
		return ae_strdup_printf("the profile %s renews it at %d%% of its lifetime (renew_percent in [scep %s]), on %s",
		                        sp->name, sp->renew_percent, sp->name, when);
	return ae_strdup_printf("the renewal of the profile %s has not succeeded", sp->name);
}

static char *
not_renewed_why(pulse *p, const ae_record *r)
{
	const char *tname = r->template_name ? r->template_name : "?";
	const ae_policy_item *it;

	if (p->res->err != AE_OK)
		return ae_strdup_printf("the pulse failed: %s", p->res->error ? p->res->error : "?");
	if (r->scep_profile != NULL || strcmp(tname, AE_SCEP_TEMPLATE) == 0)
		return scep_not_renewed_why(p, r);
	if (p->policy == NULL)
		return ae_strdup_printf("renewal has not succeeded (the CA's last refusal is still in force)");
	if ((it = item_of_record(p, r)) == NULL)
		return ae_strdup_printf("the template %s is no longer in Active Directory", tname);
	for (size_t i = p->res->event_count; i > 0; i--) {
		const ae_pulse_event *e = &p->res->events[i - 1];
		if (e->template_name == NULL || strcasecmp(e->template_name, it->tpl->name) != 0)
			continue;
		if (e->kind == AE_EV_FAILED || e->kind == AE_EV_DENIED || e->kind == AE_EV_SKIPPED ||
		    e->kind == AE_EV_PENDING || e->kind == AE_EV_NEEDS_USER)
			return ae_strdup_printf("%s", e->message ? e->message : ae_event_name(e->kind));
	}
	if (it->decision == AE_DECISION_AUTOENROLL)
		return ae_strdup_printf("renewal has not succeeded");
	return ae_strdup_printf("%s is not renewed automatically: %s", it->tpl->name,
	                        it->reason ? it->reason : "not set up for autoenrollment");
}

/* Group Policy's OfflineExpirationPercent: a current certificate with
 * less than expiry_warning_percent of its lifetime left, that this pulse
 * did not renew (a renewed one is archived by now), is an event; the
 * user's helper shows it in the session. */
static void
expiry_warnings(pulse *p)
{
	int pct = p->conf->expiry_warning_percent;

	/* Group Policy's OfflineExpirationPercent wins over the file's */
	if (p->gp != NULL && p->gp->offline_expiration_percent.set)
		pct = p->gp->offline_expiration_percent.value > 100 ? 100 : (int)p->gp->offline_expiration_percent.value;

	for (size_t i = 0; pct > 0 && i < p->nrecs; i++) {
		const ae_record *r = p->recs[i];
		int64_t nb, na;
		char *why, label[128];

		if (r->state != AE_REC_ISSUED || r->cert == NULL ||
		    (r->key_store != NULL && strcmp(r->key_store, p->local.store_safe) != 0))
			continue;
		nb = (int64_t)ae_asn1_time(X509_get0_notBefore(r->cert));
		na = (int64_t)ae_asn1_time(X509_get0_notAfter(r->cert));
		if (!ae_expiry_warning(nb, na, p->now, pct))
			continue;
		why = not_renewed_why(p, r);
		event(p, AE_EV_EXPIRING, r->template_name, r->ca, r->id, r->request_id, 0,
		      "the %s certificate of %s expires in %lld h (%.0f%% of its lifetime left, warned at %d%%) and was not renewed: %s",
		      cert_label(r, label, sizeof(label)), ctx_name(p), (long long)((na - p->now) / 3600),
		      100.0 * (double)(na - p->now) / (double)(na - nb), pct, why ? why : "out of memory");
		free(why);
	}
}

/* ---- the cheap check ---- */

static const ae_pcache_template *
cached_template(const ae_pcache *c, const ae_record *r)
{
	for (size_t i = 0; i < c->count; i++) {
		const ae_pcache_template *t = &c->templates[i];
		if (r->template_oid != NULL && t->oid != NULL ? strcmp(r->template_oid, t->oid) == 0
		                                              : r->template_name && strcasecmp(r->template_name, t->name) == 0)
			return t;
	}
	return NULL;
}

/* True when, by the cache and the local store alone, this pulse has
 * nothing to do: every template set up for autoenrollment has a current
 * certificate that is not due, no manually enrolled certificate is due,
 * and what remains waits on someone else: a request pending at the CA
 * (the full pulse that wrote the cache asked about it; the next full one
 * asks again) or a template waiting for the user in a pulse that cannot
 * ask them.  Revocation is looked at by full pulses. */
static bool
nothing_to_do(pulse *p, const ae_pcache *c)
{
	for (size_t k = 0; k < c->count; k++) {
		const ae_pcache_template *t = &c->templates[k];
		bool enroll = t->decision == AE_DECISION_AUTOENROLL && (p->aepolicy & AE_AEPOLICY_ENROLL);
		bool manage = (p->aepolicy & AE_AEPOLICY_MANAGE) &&
		              (t->decision == AE_DECISION_MANUAL_RENEW_ONLY ||
		               (t->decision == AE_DECISION_AUTOENROLL && !(p->aepolicy & AE_AEPOLICY_ENROLL)));
		bool settled = ae_pcache_find_refusal(c, t->name, t->major, t->minor, NULL, p->now) != NULL ||
		               (ae_pcache_find_wait(c, t->name) != NULL && !p->opts->interactive);
		bool have = false;

		if (!enroll && !manage)
			continue;
		for (size_t i = 0; i < p->nrecs; i++) {
			const ae_record *r = p->recs[i];
			int64_t nb, na;
			bool due;
			if (r->state == AE_REC_PENDING && cached_template(c, r) == t) {
				have = true; /* no new request while one is pending */
				continue;
			}
			if (r->state != AE_REC_ISSUED || r->cert == NULL || cached_template(c, r) != t)
				continue;
			nb = (int64_t)ae_asn1_time(X509_get0_notBefore(r->cert));
			na = (int64_t)ae_asn1_time(X509_get0_notAfter(r->cert));
			due = !(t->enrollment_flags & AE_EF_SKIP_AUTO_RENEWAL) &&
			      (r->major < t->major || p->now >= ae_renewal_due(nb, na, t->renewal_seconds));
			if ((p->now < nb || p->now >= na || due) && !settled)
				return false;
			have = true;
		}
		if (!have && enroll && !settled)
			return false;
	}
	return true;
}

/* What a pulse that found nothing to do still says: the requests pending
 * at a CA and the templates waiting for the user, as the full pulse said
 * them (the notification at login offers the latter). */
static void
still_waiting(pulse *p, const ae_pcache *c)
{
	for (size_t i = 0; i < p->nrecs; i++) {
		const ae_record *r = p->recs[i];
		if (r->state != AE_REC_PENDING || !(p->aepolicy & AE_AEPOLICY_RETRIEVE_PENDING))
			continue;
		event(p, AE_EV_PENDING, r->template_name, r->ca, r->id, r->request_id, 0,
		      "the %s request %u is pending at %s; asked again by the first pulse after the policy cache expires (in %lld s), or now with autoenroll pulse --refresh",
		      r->template_name ? r->template_name : "?", r->request_id, r->ca ? r->ca : "?",
		      (long long)(c->loaded + p->conf->policy_refresh - p->now));
	}
	for (size_t i = 0; i < c->nwaits && !p->opts->interactive; i++)
		event(p, AE_EV_NEEDS_USER, c->waits[i].template_name, NULL, NULL, 0, 0, "%s", c->waits[i].message);
}

/* Into FRESH: the templates this pulse left waiting for the user. */
static ae_err
keep_waits(ae_ctx *ctx, ae_pcache *fresh, const ae_pulse_result *r)
{
	ae_err err = AE_OK;

	for (size_t i = 0; i < r->event_count && err == AE_OK; i++)
		if (r->events[i].kind == AE_EV_NEEDS_USER && r->events[i].template_name != NULL &&
		    r->events[i].message != NULL)
			err = ae_pcache_add_wait(ctx, fresh, r->events[i].template_name, r->events[i].message);
	return err;
}

/* ---- the pulse ---- */

uint32_t
ae_engine_aepolicy(const ae_conf *conf, bool machine)
{
	return machine ? conf->machine_aepolicy : conf->user_aepolicy;
}

static bool
transient(ae_err err)
{
	return err == AE_ERR_NETWORK || err == AE_ERR_TIMEOUT || err == AE_ERR_KERBEROS || err == AE_ERR_NOCREDS ||
	       err == AE_ERR_NOTOKEN; /* the card comes back */
}

/* Into FRESH: the refusals of this pulse, and those of EARLIER still in
 * force for a template whose version FRESH still has. */
static ae_err
keep_refusals(ae_ctx *ctx, ae_pcache *fresh, const ae_pcache *earlier, const ae_pcache *now_refused, int64_t now)
{
	const ae_pcache *from[2] = { earlier, now_refused };
	ae_err err = AE_OK;

	for (size_t k = 0; k < 2 && err == AE_OK; k++) {
		for (size_t i = 0; from[k] != NULL && i < from[k]->nrefusals && err == AE_OK; i++) {
			const ae_pcache_refusal *r = &from[k]->refusals[i];
			bool current = false;
			for (size_t j = 0; j < fresh->count && !current; j++)
				current = strcasecmp(fresh->templates[j].name, r->template_name) == 0 &&
				          fresh->templates[j].major == r->major && fresh->templates[j].minor == r->minor;
			if (current && ae_pcache_find_refusal(from[k], r->template_name, r->major, r->minor, r->ca, now))
				err = ae_pcache_add_refusal(ctx, fresh, r->template_name, r->major, r->minor, r->ca,
				                            r->hresult, r->at);
		}
	}
	return err;
}

static void
pulse_clear(pulse *p)
{
	ae_ca_links_drop(&p->links);
	ae_records_free(p->recs, p->nrecs);
	free(p->handled);
	ae_keystore_free(p->ks);
	free(p->ks_msg);
	ae_store_free(p->st);
	ae_policy_free(p->policy);
	ae_policy_source_free(p->src);
	ae_local_clear(&p->local);
	ae_pcache_free(p->refused);
	sk_X509_pop_free(p->aia, X509_free);
	sk_X509_pop_free(p->aia_asked, X509_free);
}

/* CertEnroll 68 (AUTH: the credentials for the policy server) or 67 (the
 * policy could not be loaded), then 70 (no valid policy), as Windows logs
 * them before AutoEnrollment 6: the policy server, the underlying error
 * and what diagnose would say. */
static void
policy_failed(pulse *p, bool auth)
{
	const char *msg = ae_get_message(p->ctx), *server = policy_servers_text(p);
	uint32_t hr = ae_hresult_of_policy_failure(ae_get_code(p->ctx), msg);
	/* the explanations are AD's; a CEP's failure says its own cause */
	char *why = hr && strcmp(server, "LDAP:") == 0
	                    ? ae_hresult_explain(hr, NULL, NULL, p->res->principal ? p->res->principal : ctx_name(p))
	                    : NULL;
	char hrs[96] = "";

	if (hr)
		ae_hresult_format(hr, hrs, sizeof(hrs));
	event(p, auth ? AE_EV_POLICY_AUTH_FAILED : AE_EV_POLICY_LOAD_FAILED, NULL, NULL, NULL, 0, hr,
	      "Certificate enrollment for %s failed %s policy servers with ID %s (%s%s%s): %s; run autoenroll diagnose",
	      ctx_name(p), auth ? "in authentication to" : "to load policy from", server, hrs, hr ? ": " : "",
	      why ? why : "", msg);
	event(p, AE_EV_POLICY_NONE, NULL, NULL, NULL, 0, hr,
	      "Certificate enrollment for %s failed because no valid policy can be obtained from policy servers with ID %s%s%s; run autoenroll diagnose",
	      ctx_name(p), server, hr ? " " : "", hrs);
	free(why);
}

static void
fail_pulse(pulse *p, const char *what)
{
	ae_err err = ae_get_code(p->ctx);
	const char *msg = ae_get_message(p->ctx);
	uint32_t hr = ae_hresult_of_policy_failure(err, msg);

	p->res->err = err ? err : AE_ERR_INTERNAL;
	p->res->error = ae_strdup_printf("%s: %s (autoenroll diagnose names the cause)", what, msg);
	p->res->retry = transient(err);
	event(p, AE_EV_PULSE_FAILED, NULL, NULL, NULL, 0, hr,
	      "Automatic certificate enrollment for %s failed: %s: %s%s; run autoenroll diagnose%s", ctx_name(p),
	      what, msg, p->res->retry ? " (retried at the next trigger)" : "",
	      p->opts->machine ? " --machine" : "");
	ae_clear_message(p->ctx);
}

/* Group Policy's PolicyServers win over the file's policy_servers: when
 * they name others, the policy again from them (the source the rest of
 * the pulse uses). */
static ae_err
gp_policy_servers(pulse *p, ae_context context)
{
	char *const *mine = p->opts->machine ? p->conf->machine_policy_servers : p->conf->user_policy_servers;
	char **list = NULL;
	const char *gpo = NULL;
	ae_policy_source *src = NULL;
	ae_policy *policy = NULL;
	bool same;
	ae_err err;

	if ((err = ae_gp_settings_policy_servers(p->ctx, p->gp, &list, &gpo)) != AE_OK || list == NULL)
		goto cleanup;
	same = ae_strv_len(list) == (mine ? ae_strv_len(mine) : 1);
	for (size_t i = 0; same && list[i] != NULL; i++)
		same = strcasecmp(list[i], mine ? mine[i] : "LDAP:") == 0;
	if (same)
		goto cleanup;
	if ((err = ae_policy_source_open_servers(p->ctx, p->conf, context, list, &src)) != AE_OK ||
	    (err = ae_policy_source_load(p->ctx, src, context, &policy)) != AE_OK)
		goto cleanup;
	ae_log(p->ctx, AE_LOG_INFO, "the policy servers of Group Policy \"%s\": policy from %s", gpo,
	       policy->url ? policy->url : src->ops->where);
	ae_policy_free(p->policy);
	ae_policy_source_free(p->src);
	p->policy = policy;
	p->src = src;
	policy = NULL;
	src = NULL;
	free(p->res->principal);
	p->res->principal = p->src->principal ? strdup(p->src->principal) : NULL;

cleanup:
	ae_policy_free(policy);
	ae_policy_source_free(src);
	ae_strv_free(list);
	return err;
}

ae_err
ae_engine_pulse(ae_ctx *ctx, const ae_conf *conf, const ae_engine_opts *opts, ae_pulse_result **out)
{
	pulse P, *p = &P;
	ae_context context = opts->machine ? AE_CONTEXT_MACHINE : AE_CONTEXT_USER;
	ae_pcache *cache = NULL, *fresh = NULL;
	unsigned removed = 0;
	double t0 = ae_monotonic_seconds();
	bool gp = opts->group_policy != NULL && conf->group_policy;

	*out = NULL;
	memset(p, 0, sizeof(*p));
	p->ctx = ctx;
	p->conf = conf;
	p->opts = opts;
	p->aepolicy = ae_engine_aepolicy(conf, opts->machine);
	p->now = ae_now();
	p->res = calloc(1, sizeof(*p->res));
	if (p->res == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	p->res->machine = opts->machine;
	p->res->started = p->now;

	/* 1. Options (under Group Policy, once it is read: it may say otherwise). */
	if (!gp && ((p->aepolicy & AE_AEPOLICY_DISABLED) ||
	            !(p->aepolicy & (AE_AEPOLICY_ENROLL | AE_AEPOLICY_MANAGE | AE_AEPOLICY_RETRIEVE_PENDING)))) {
		event(p, AE_EV_DISABLED, NULL, NULL, NULL, 0, 0,
		      "Automatic certificate enrollment for %s is disabled (aepolicy 0x%x in [%s]): nothing done",
		      ctx_name(p), p->aepolicy, opts->machine ? "machine" : "user");
		goto done;
	}
	event(p, AE_EV_PULSE_STARTED, NULL, NULL, NULL, 0, 0, "Automatic certificate enrollment for %s started",
	      ctx_name(p));

	/* 3. Local stores, and what a dead run left. */
	if (ae_local_init(ctx, conf, opts->machine, &p->local) != AE_OK ||
	    ae_store_open(ctx, p->local.state_dir, true, &p->st) != AE_OK) {
		fail_pulse(p, "local store");
		goto done;
	}
	if (reload_records(p) != AE_OK) {
		fail_pulse(p, "local store");
		goto done;
	}
	for (size_t i = 0; i < p->nrecs; i++)
		if (p->recs[i]->state == AE_REC_NEW) {
			if (keystore(p) != AE_OK || ae_local_recover(ctx, p->st, p->ks, &p->local, &removed) != AE_OK ||
			    reload_records(p) != AE_OK) {
				fail_pulse(p, "recovering an interrupted run");
				goto done;
			}
			break;
		}
	finish_renewals(p);

	/* 9. The cheap check: a recent policy and nothing due locally. */
	if (!opts->refresh_policy && conf->policy_refresh > 0 &&
	    ae_pcache_load(ctx, p->local.state_dir, &cache) == AE_OK && (gp || cache->aepolicy == p->aepolicy) &&
	    cache->loaded <= p->now && p->now - cache->loaded < conf->policy_refresh && nothing_to_do(p, cache) &&
	    !scep_due(p)) {
		p->res->policy_from_cache = true;
		p->res->nothing_to_do = true;
		p->res->principal = cache->principal ? strdup(cache->principal) : NULL;
		still_waiting(p, cache);
		event(p, AE_EV_NOTHING_TO_DO, NULL, NULL, NULL, 0, 0,
		      "nothing to do: every certificate is current (policy read %lld s ago; refreshed after %d s)",
		      (long long)(p->now - cache->loaded), conf->policy_refresh);
		goto completed;
	}
	ae_clear_message(ctx);
	/* The CA's lasting refusals of earlier pulses; --refresh forgets them. */
	if (!opts->refresh_policy && cache == NULL && ae_pcache_load(ctx, p->local.state_dir, &cache) != AE_OK)
		ae_clear_message(ctx);
	p->earlier = opts->refresh_policy ? NULL : cache;
	p->refused = calloc(1, sizeof(*p->refused));

	/* 4. Credentials and the enrollment policy. */
	if ((opts->open_source ? opts->open_source : ae_policy_source_open)(ctx, conf, context, opts->source_arg,
	                                                                     &p->src) != AE_OK) {
		policy_failed(p, true);
		fail_pulse(p, "credentials");
		goto done;
	}
	p->res->principal = p->src->principal ? strdup(p->src->principal) : NULL;
	if (ae_policy_source_load(ctx, p->src, context, &p->policy) != AE_OK) {
		char what[64];
		snprintf(what, sizeof(what), "enrollment policy from %s", p->src->ops->where);
		policy_failed(p, ae_get_code(ctx) == AE_ERR_KERBEROS || ae_get_code(ctx) == AE_ERR_NOCREDS);
		fail_pulse(p, what);
		goto done;
	}

	/* 1 again, under Group Policy: its AEPolicy wins over the file's. */
	if (gp) {
		const char *gpo = NULL;
		ae_gp_note *notes = NULL;
		size_t n_notes = 0;

		if (opts->group_policy(ctx, conf, p->src, p->policy, opts->machine, &p->gp, &notes, &n_notes) != AE_OK) {
			ae_log(ctx, AE_LOG_WARNING, "%s; the configuration's aepolicy applies", ae_get_message(ctx));
			ae_clear_message(ctx);
		} else if (p->gp != NULL && p->gp->aepolicy.set) {
			p->aepolicy = p->gp->aepolicy.value;
			gpo = p->gp->aepolicy.gpo;
		}
		for (size_t i = 0; i < n_notes; i++) {
			p->ev_gpo = notes[i].gpo;
			event(p, notes[i].kind, NULL, NULL, NULL, 0, 0, "%s", notes[i].message);
		}
		ae_gp_notes_free(notes, n_notes);
		p->ev_gpo = gpo;
		if ((p->aepolicy & AE_AEPOLICY_DISABLED) ||
		    !(p->aepolicy & (AE_AEPOLICY_ENROLL | AE_AEPOLICY_MANAGE | AE_AEPOLICY_RETRIEVE_PENDING))) {
			event(p, AE_EV_DISABLED, NULL, NULL, NULL, 0, 0,
			      "Automatic certificate enrollment for %s is disabled (%s 0x%x %s%s%s): nothing done",
			      ctx_name(p), gpo ? "AEPolicy" : "aepolicy", p->aepolicy,
			      gpo ? "from Group Policy \"" : "in [", gpo ? gpo : opts->machine ? "machine" : "user",
			      gpo ? "\"" : "]");
			p->ev_gpo = NULL;
			goto done;
		}
		p->ev_gpo = NULL;
		if (p->gp != NULL && opts->open_source == NULL && gp_policy_servers(p, context) != AE_OK) {
			policy_failed(p, ae_get_code(ctx) == AE_ERR_KERBEROS || ae_get_code(ctx) == AE_ERR_NOCREDS);
			fail_pulse(p, "enrollment policy from Group Policy's policy servers");
			goto done;
		}
	}

	p->links.conf = conf;
	p->env = (ae_txn_env){
		.local = &p->local,
		.st = p->st,
		.ks = p->ks,
		.policy = p->policy,
		.links = &p->links,
		.client_id = AE_CLIENT_ID_AUTOENROLL,
		.process = opts->machine ? "autoenroll-machine" : "autoenroll-user",
		.who = "pulse",
	};

	/* 2. Trust and OIDs from AD. */
	update_trust(p);
	write_oids(p);

	/* 5. Pending requests. */
	if (p->aepolicy & AE_AEPOLICY_RETRIEVE_PENDING)
		retrieve_pending(p);
	/* 6. Templates set up for autoenrollment. */
	if (p->aepolicy & AE_AEPOLICY_ENROLL)
		enroll_templates(p);
	/* 7-8. Manage. */
	if (p->aepolicy & AE_AEPOLICY_MANAGE) {
		manage_manual(p);
		remove_revoked_from_ds(p);
	}
	/* SCEP profiles, like templates set up for autoenrollment */
	if (p->aepolicy & AE_AEPOLICY_ENROLL)
		scep_profiles(p);

	if (ae_pcache_from_policy(ctx, p->policy, p->aepolicy, p->now, &fresh) == AE_OK &&
	    keep_refusals(ctx, fresh, p->earlier, p->refused, p->now) == AE_OK &&
	    (opts->interactive || keep_waits(ctx, fresh, p->res) == AE_OK)) {
		if (ae_pcache_save(ctx, p->local.state_dir, fresh) != AE_OK)
			ae_log(ctx, AE_LOG_WARNING, "%s", ae_get_message(ctx));
	}
	ae_clear_message(ctx);

completed:
	expiry_warnings(p);
	publish(p);
	event(p, AE_EV_PULSE_COMPLETED, NULL, NULL, NULL, 0, 0,
	      "Automatic certificate enrollment for %s completed: %u enrolled, %u renewed, %u retrieved, %u pending, %u failed, %u skipped, %u archived, %u deleted",
	      ctx_name(p), p->res->enrolled, p->res->renewed, p->res->retrieved, p->res->pending, p->res->failed,
	      p->res->skipped, p->res->archived, p->res->deleted);
done:
	if (p->res->err != AE_OK)
		expiry_warnings(p); /* offline: nothing renews them */
	p->res->ldap_round_trips = ae_policy_source_round_trips(p->src);
	pulse_clear(p);
	p->res->rpc_round_trips = ae_ca_links_round_trips(&p->links);
	p->res->seconds = ae_monotonic_seconds() - t0;
	ae_pcache_free(cache);
	ae_pcache_free(fresh);
	ae_gp_settings_free(p->gp);
	*out = p->res;
	return AE_OK;
}

void
ae_pulse_result_free(ae_pulse_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->event_count; i++) {
		free(r->events[i].template_name);
		free(r->events[i].ca);
		free(r->events[i].record_id);
		free(r->events[i].gpo);
		free(r->events[i].scep_profile);
		free(r->events[i].message);
	}
	free(r->events);
	free(r->principal);
	free(r->error);
	free(r);
}

char *
ae_pulse_result_json(const ae_pulse_result *r)
{
	ae_json j;

	ae_json_init(&j);
	ae_json_begin_object(&j, NULL);
	ae_json_int(&j, "format_version", 1);
	ae_json_string(&j, "context", r->machine ? "machine" : "user");
	ae_json_string(&j, "principal", r->principal);
	ae_json_bool(&j, "ok", r->err == AE_OK);
	ae_json_string(&j, "error", r->error);
	ae_json_bool(&j, "retry", r->retry);
	ae_json_int(&j, "started", r->started);
	ae_json_int(&j, "milliseconds", (long long)(r->seconds * 1000.0));
	ae_json_bool(&j, "policy_from_cache", r->policy_from_cache);
	ae_json_bool(&j, "nothing_to_do", r->nothing_to_do);
	ae_json_int(&j, "ldap_round_trips", r->ldap_round_trips);
	ae_json_int(&j, "rpc_round_trips", r->rpc_round_trips);
	ae_json_begin_object(&j, "counts");
	ae_json_int(&j, "enrolled", r->enrolled);
	ae_json_int(&j, "renewed", r->renewed);
	ae_json_int(&j, "retrieved", r->retrieved);
	ae_json_int(&j, "pending", r->pending);
	ae_json_int(&j, "failed", r->failed);
	ae_json_int(&j, "skipped", r->skipped);
	ae_json_int(&j, "archived", r->archived);
	ae_json_int(&j, "deleted", r->deleted);
	ae_json_end_object(&j);
	ae_json_begin_array(&j, "events");
	for (size_t i = 0; i < r->event_count; i++) {
		const ae_pulse_event *e = &r->events[i];
		ae_json_begin_object(&j, NULL);
		ae_json_string(&j, "event", ae_event_name(e->kind));
		ae_json_string(&j, "message_id", ae_event_message_id(e->kind));
		if (ae_event_windows_id(e->kind) != 0)
			ae_json_int(&j, "windows_event_id", ae_event_windows_id(e->kind));
		else
			ae_json_null(&j, "windows_event_id");
		ae_json_string(&j, "template", e->template_name);
		ae_json_string(&j, "ca", e->ca);
		ae_json_string(&j, "id", e->record_id);
		if (e->gpo != NULL)
			ae_json_string(&j, "gpo", e->gpo);
		if (e->scep_profile != NULL)
			ae_json_string(&j, "scep_profile", e->scep_profile);
		if (e->request_id != 0)
			ae_json_int(&j, "request_id", e->request_id);
		else
			ae_json_null(&j, "request_id");
		if (e->hresult != 0) {
			char hr[16];
			snprintf(hr, sizeof(hr), "0x%08X", e->hresult);
			ae_json_string(&j, "hresult", hr);
		} else {
			ae_json_null(&j, "hresult");
		}
		ae_json_string(&j, "message", e->message);
		ae_json_end_object(&j);
	}
	ae_json_end_array(&j);
	ae_json_end_object(&j);
	return ae_json_finish(&j);
}

