/*
 * test-engine.c - the whitepaper's task sequence (shared seed 001) decided
 * by the real engine against a fake world (fake-world.h): a policy source
 * and a CA in memory, keys in a file store, the clock moved by the test.
 * No lab, no network: each rule in milliseconds.  The lab scenarios
 * (tests/integration/lab-pulse.sh) prove the same against AD CS.
 */
#include "config.h"

#include "fake-world.h"
#include "publish.h"
#include "tap.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DAY 86400
#define HOUR 3600

/* CA refusals (MS-WCCE 2.2.2.9.1 / winerror.h). */
#define CERTSRV_E_TEMPLATE_DENIED 0x80094012u    /* asked again at the next pulse */
#define CERTSRV_E_CERT_TYPE_OVERLAP 0x80094814u  /* lasting: not asked again for a day */

static const char *
all_events(const ae_pulse_result *r)
{
	static char buf[4096];
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < r->event_count && off < sizeof(buf) - 1; i++) {
		int n = snprintf(buf + off, sizeof(buf) - off, "%s%s(%s)", i ? " " : "", ae_event_name(r->events[i].kind),
		                 r->events[i].template_name ? r->events[i].template_name : "-");
		if (n < 0)
			break;
		off += (size_t)n < sizeof(buf) - off ? (size_t)n : sizeof(buf) - off - 1;
	}
	return buf;
}

/* One event of KIND for TPL, and says which events there were if not. */
static void
expect_event(const ae_pulse_result *r, ae_event_kind kind, const char *tpl, size_t want, const char *what)
{
	size_t got = fake_events(r, kind, tpl);

	tap_ok(got == want, "%s: %zu %s event(s) for %s", what, want, ae_event_name(kind), tpl ? tpl : "any");
	if (got != want)
		tap_diag("  got %zu; events: %s", got, all_events(r));
}

/* Nothing enrolled, renewed, retrieved, archived, deleted or asked. */
static void
expect_quiet(fake_world *w, const ae_pulse_result *r, const char *what)
{
	bool quiet = r->enrolled + r->renewed + r->retrieved + r->pending + r->failed + r->archived + r->deleted == 0 &&
	             w->ncalls == 0 && r->err == AE_OK;

	tap_ok(quiet, "%s: nothing done, the CA not asked", what);
	if (!quiet)
		tap_diag("  %zu CA calls; events: %s", w->ncalls, all_events(r));
}

/* A pulse, the CA's call log cleared first. */
static ae_pulse_result *
pulse(fake_world *w, unsigned flags)
{
	fake_forget_calls(w);
	return fake_world_pulse(w, flags);
}

static void
pulse_quiet(fake_world *w, unsigned flags, const char *what)
{
	ae_pulse_result *r = pulse(w, flags);

	expect_quiet(w, r, what);
	ae_pulse_result_free(r);
}

/* The current certificate of TPL: its record id (malloc'd; NULL: none)
 * and, when SERIAL is not NULL, its serial number. */
static char *
current(fake_world *w, const char *tpl, long *serial)
{
	fake_records rs;
	const ae_record *rec;
	char *id;

	fake_records_load(w, &rs);
	rec = fake_records_find(&rs, tpl, AE_REC_ISSUED);
	id = rec != NULL && rec->cert != NULL ? strdup(rec->id) : NULL;
	if (serial != NULL)
		*serial = id != NULL ? fake_serial(rec->cert) : -1;
	fake_records_clear(&rs);
	return id;
}

/* Whether record ID is in STATE, its key in the store. */
static bool
kept(fake_world *w, const char *id, ae_rec_state state)
{
	fake_records rs;
	const ae_record *rec;
	bool ok;

	fake_records_load(w, &rs);
	rec = fake_records_by_id(&rs, id);
	ok = rec != NULL && rec->state == state && fake_world_has_key(w, id);
	fake_records_clear(&rs);
	return ok;
}

/* Whether record ID and its key are gone. */
static bool
gone(fake_world *w, const char *id)
{
	fake_records rs;
	bool ok;

	fake_records_load(w, &rs);
	ok = id != NULL && fake_records_by_id(&rs, id) == NULL && !fake_world_has_key(w, id);
	fake_records_clear(&rs);
	return ok;
}

/* Renewal of TPL's certificate OLD_ID (serial OLD_SERIAL): the CA got a
 * CMC renewal signed with the old key, the new certificate is current and
 * names the old one, the old one is archived with its key. */
static void
expect_renewal(fake_world *w, const ae_pulse_result *r, const char *tpl, const char *old_id, long old_serial,
               const char *what)
{
	const fake_call *c = fake_last_call(w, FAKE_CALL_SUBMIT, tpl);
	fake_records rs;
	const ae_record *now;

	expect_event(r, AE_EV_RENEWED, tpl, 1, what);
	expect_event(r, AE_EV_ARCHIVED, tpl, 1, what);
	tap_ok(c != NULL && strcmp(c->format, "cmc") == 0 && c->signers == 2 && c->request_signed,
	       "%s: the CA got a CMC renewal with two signers around a signed PKCS#10", what);
	tap_ok(c != NULL && c->renewal_serial == old_serial && old_serial >= 0,
	       "%s: the renewal is signed with the old certificate's key (serial %ld)", what, old_serial);
	fake_records_load(w, &rs);
	now = fake_records_find(&rs, tpl, AE_REC_ISSUED);
	tap_ok(fake_records_count(&rs, tpl, AE_REC_ISSUED) == 1 && now != NULL && now->renewal_of != NULL &&
	       strcmp(now->renewal_of, old_id) == 0,
	       "%s: one current certificate, the renewal of the old one", what);
	fake_records_clear(&rs);
	tap_ok(kept(w, old_id, AE_REC_ARCHIVED), "%s: the old certificate is archived, its key kept", what);
}

/* 6. Templates set up for autoenrollment: the first pulse enrolls each,
 * the second does nothing.  Templates not set up are not asked for. */
static void
test_first_pulse(void)
{
	fake_world *w = fake_world_new(false);
	fake_template *noauto, *unpublished;
	ae_pulse_result *r;
	fake_records rs;
	const ae_record *rec;

	fake_world_template(w, "AutoA");
	fake_world_template(w, "AutoB");
	noauto = fake_world_template(w, "EnrollOnly");
	noauto->autoenroll = false;
	unpublished = fake_world_template(w, "Unpublished");
	unpublished->published = false;
	fake_world_template(w, "MachineTpl")->machine = true;
	fake_world_template(w, "TwoAgents")->ra_signatures = 2;

	r = pulse(w, 0);
	tap_ok(r->err == AE_OK && r->enrolled == 2, "first pulse: 2 enrolled (%u)", r->enrolled);
	expect_event(r, AE_EV_ENROLLED, "AutoA", 1, "first pulse");
	expect_event(r, AE_EV_ENROLLED, "AutoB", 1, "first pulse");
	tap_is_int(fake_calls(w, FAKE_CALL_SUBMIT, NULL), 2, "first pulse: two requests, none for the others");
	tap_ok(strcmp(fake_last_call(w, FAKE_CALL_SUBMIT, "AutoA")->format, "pkcs10") == 0 &&
	       fake_last_call(w, FAKE_CALL_SUBMIT, "AutoA")->request_signed,
	       "first pulse: a new request is a signed PKCS#10");
	expect_event(r, AE_EV_SKIPPED, "Unpublished", 1, "a template no CA publishes is skipped with the reason");
	expect_event(r, AE_EV_SKIPPED, "TwoAgents", 1, "two RA signatures: skipped with the reason");
	tap_is_int(w->source_opens, 1, "the policy is read once");
	ae_pulse_result_free(r);

	fake_records_load(w, &rs);
	rec = fake_records_find(&rs, "AutoA", AE_REC_ISSUED);
	tap_ok(rs.n == 2 && rec != NULL && rec->cert != NULL && rec->major == 100 && rec->ca &&
	       strcmp(rec->ca, "Fake-CA") == 0 && rec->request_id != 0 && fake_world_has_key(w, rec->id),
	       "first pulse: AutoA current in the store (certificate, version 100, CA, request id), key in the store");
	fake_records_clear(&rs);

	pulse_quiet(w, 0, "second pulse");
	tap_is_int(w->source_opens, 2, "second pulse: the policy read again (policy_refresh 0)");
	fake_world_free(w);
}

/* Renewal at the later of 80 % of the lifetime and the renewal period
 * before expiry; a renewal signed with the old key (CMC); the old
 * certificate archived. */
static void
test_renewal_threshold(void)
{
	fake_world *w = fake_world_new(false);
	fake_template *longp = fake_world_template(w, "LongPeriod");
	ae_pulse_result *r;
	char *id;
	long serial;

	/* ShortPeriod: 10 days, renewal 1 day (under 20 %): due at day 9. */
	fake_world_template(w, "ShortPeriod");
	/* LongPeriod: 10 days, renewal 5 days (over 20 %): due at day 8. */
	longp->renewal = 5 * DAY;
	r = pulse(w, 0);
	tap_is_int(r->enrolled, 2, "renewal: both templates enrolled");
	ae_pulse_result_free(r);

	fake_world_clock(w, 5 * DAY + 12 * HOUR);
	pulse_quiet(w, 0, "day 5.5: LongPeriod's renewal period reached but not 80 %");
	fake_world_clock(w, 8 * DAY + 12 * HOUR);
	id = current(w, "LongPeriod", &serial);
	r = pulse(w, 0);
	expect_event(r, AE_EV_RENEWED, "ShortPeriod", 0,
	             "day 8.5: ShortPeriod past 80 % but its renewal period (1 day) not reached: not due");
	expect_renewal(w, r, "LongPeriod", id, serial, "day 8.5: LongPeriod (80 %)");
	tap_is_int(r->renewed, 1, "day 8.5: one renewal");
	ae_pulse_result_free(r);
	free(id);

	fake_world_clock(w, 9 * DAY + 2 * HOUR);
	id = current(w, "ShortPeriod", &serial);
	r = pulse(w, 0);
	expect_renewal(w, r, "ShortPeriod", id, serial, "day 9.1: ShortPeriod (1 day before expiry)");
	expect_event(r, AE_EV_RENEWED, "LongPeriod", 0, "day 9.1: LongPeriod's renewal is new");
	ae_pulse_result_free(r);
	free(id);
	pulse_quiet(w, 0, "after the renewals");
	fake_world_free(w);
}

/* A run killed after storing a renewal's certificate and before archiving
 * the renewed one (tests/bench/crash.sh): the next pulse, even a cheap
 * one, archives it; one current certificate, nothing asked of the CA. */
static void
test_interrupted_renewal(void)
{
	fake_world *w = fake_world_new(false);
	ae_pulse_result *r;
	ae_store *st = NULL;
	ae_record **recs = NULL;
	size_t n = 0;
	fake_records rs;
	char *id;
	long serial;

	fake_world_template(w, "ShortPeriod");
	ae_pulse_result_free(pulse(w, 0));
	fake_world_clock(w, 9 * DAY + 2 * HOUR);
	id = current(w, "ShortPeriod", &serial);
	ae_pulse_result_free(pulse(w, 0));
	/* The state the kill left: the renewed certificate still current. */
	if (ae_store_open(w->ctx, w->state_dir, false, &st) != AE_OK || ae_store_load(w->ctx, st, &recs, &n) != AE_OK)
		abort();
	for (size_t i = 0; i < n; i++)
		if (strcmp(recs[i]->id, id) == 0) {
			recs[i]->state = AE_REC_ISSUED;
			if (ae_store_save(w->ctx, st, recs[i]) != AE_OK)
				abort();
		}
	ae_records_free(recs, n);
	ae_store_free(st);
	fake_records_load(w, &rs);
	tap_ok(fake_records_count(&rs, "ShortPeriod", AE_REC_ISSUED) == 2, "interrupted renewal: two current certificates left");
	fake_records_clear(&rs);
	r = pulse(w, 0);
	expect_event(r, AE_EV_ARCHIVED, "ShortPeriod", 1, "interrupted renewal, next pulse");
	tap_ok(w->ncalls == 0 && r->renewed == 0 && r->enrolled == 0, "interrupted renewal: nothing asked of the CA");
	ae_pulse_result_free(r);
	fake_records_load(w, &rs);
	tap_ok(fake_records_count(&rs, "ShortPeriod", AE_REC_ISSUED) == 1, "interrupted renewal: one current certificate");
	fake_records_clear(&rs);
	tap_ok(kept(w, id, AE_REC_ARCHIVED), "interrupted renewal: the renewed one archived, its key kept");
	free(id);
	fake_world_free(w);
}

/* A template's major version above the certificate's: re-enrollment
 * (a renewal) before the threshold; a minor version is not enough. */
static void
test_major_version(void)
{
	fake_world *w = fake_world_new(false);
	fake_template *t = fake_world_template(w, "Versioned");
	ae_pulse_result *r;
	fake_records rs;
	char *id;
	long serial;

	ae_pulse_result_free(pulse(w, 0));
	t->minor = 4;
	pulse_quiet(w, 0, "minor version 100.4");
	t->major = 101;
	id = current(w, "Versioned", &serial);
	r = pulse(w, 0);
	expect_renewal(w, r, "Versioned", id, serial, "major version 101");
	ae_pulse_result_free(r);
	free(id);
	fake_records_load(w, &rs);
	tap_ok(fake_records_find(&rs, "Versioned", AE_REC_ISSUED) != NULL &&
	       fake_records_find(&rs, "Versioned", AE_REC_ISSUED)->major == 101,
	       "the new certificate is of version 101");
	fake_records_clear(&rs);
	pulse_quiet(w, 0, "after the re-enrollment");
	fake_world_free(w);
}

/* Supersedence: a new template superseding an old one is enrolled (a new
 * request), the old certificate archived, not deleted, even when the old
 * template deletes invalid certificates. */
static void
test_supersedence(void)
{
	fake_world *w = fake_world_new(false);
	fake_template *nw;
	ae_pulse_result *r;
	fake_records rs;
	char *old_id;

	fake_world_template(w, "OldTpl")->enrollment_flags = AE_EF_REMOVE_INVALID_CERTIFICATE;
	ae_pulse_result_free(pulse(w, 0));
	old_id = current(w, "OldTpl", NULL);
	nw = fake_world_template(w, "NewTpl");
	snprintf(nw->supersedes, sizeof(nw->supersedes), "OldTpl");
	r = pulse(w, 0);
	expect_event(r, AE_EV_ENROLLED, "NewTpl", 1, "supersedence");
	expect_event(r, AE_EV_ARCHIVED, "OldTpl", 1, "supersedence");
	expect_event(r, AE_EV_DELETED, NULL, 0, "supersedence");
	tap_ok(fake_calls(w, FAKE_CALL_SUBMIT, "OldTpl") == 0 &&
	       strcmp(fake_last_call(w, FAKE_CALL_SUBMIT, "NewTpl")->format, "pkcs10") == 0,
	       "supersedence: a new request for NewTpl, nothing for OldTpl");
	ae_pulse_result_free(r);
	tap_ok(kept(w, old_id, AE_REC_ARCHIVED), "supersedence: OldTpl archived with its key");
	fake_records_load(w, &rs);
	tap_ok(fake_records_count(&rs, "NewTpl", AE_REC_ISSUED) == 1 && fake_records_count(&rs, "OldTpl", AE_REC_ISSUED) == 0,
	       "supersedence: NewTpl current, OldTpl no longer");
	fake_records_clear(&rs);
	free(old_id);
	pulse_quiet(w, 0, "after supersedence");
	fake_world_free(w);
}

/* An expired certificate is replaced by a new request; the old one is
 * deleted with its key when the template says so
 * (CT_FLAG_REMOVE_INVALID_CERTIFICATE_FROM_PERSONAL_STORE), archived
 * otherwise; encryption certificates always archived. */
static void
test_expired_cleanup(void)
{
	fake_world *w = fake_world_new(false);
	fake_template *enc;
	ae_pulse_result *r;
	fake_records rs;
	char *del_id, *keep_id, *enc_id;

	fake_world_template(w, "Delete")->enrollment_flags = AE_EF_REMOVE_INVALID_CERTIFICATE;
	fake_world_template(w, "Keep");
	enc = fake_world_template(w, "Encrypt");
	enc->enrollment_flags = AE_EF_REMOVE_INVALID_CERTIFICATE;
	enc->key_usage = 0x20; /* keyEncipherment */
	ae_pulse_result_free(pulse(w, 0));
	del_id = current(w, "Delete", NULL);
	keep_id = current(w, "Keep", NULL);
	enc_id = current(w, "Encrypt", NULL);

	/* The pulses at renewal time did not happen: at day 11 all are expired. */
	fake_world_clock(w, 11 * DAY);
	r = pulse(w, 0);
	tap_ok(r->enrolled == 3 && r->renewed == 0, "expired: three new requests, no renewal (%u, %u)", r->enrolled,
	       r->renewed);
	tap_ok(strcmp(fake_last_call(w, FAKE_CALL_SUBMIT, "Delete")->format, "pkcs10") == 0,
	       "expired: a new PKCS#10, not a renewal");
	expect_event(r, AE_EV_DELETED, "Delete", 1, "expired, template deletes");
	expect_event(r, AE_EV_ARCHIVED, "Keep", 1, "expired, template keeps");
	expect_event(r, AE_EV_ARCHIVED, "Encrypt", 1, "expired encryption certificate, template deletes");
	ae_pulse_result_free(r);
	tap_ok(gone(w, del_id), "Delete: the expired certificate and its key are gone");
	tap_ok(kept(w, keep_id, AE_REC_ARCHIVED), "Keep: the expired certificate archived, its key kept");
	tap_ok(kept(w, enc_id, AE_REC_ARCHIVED), "Encrypt: archived with its key despite the template's flag");
	fake_records_load(w, &rs);
	tap_is_int(fake_records_count(&rs, NULL, AE_REC_ISSUED), 3, "three current certificates");
	fake_records_clear(&rs);
	free(del_id);
	free(keep_id);
	free(enc_id);
	fake_world_free(w);
}

/* A certificate that no longer chains to a root from AD (the CA was
 * replaced) is invalid: a new request, the old one deleted as the
 * template says. */
static void
test_invalid_chain(void)
{
	fake_world *w = fake_world_new(false);
	ae_pulse_result *r;
	char *id;

	fake_world_template(w, "Chained")->enrollment_flags = AE_EF_REMOVE_INVALID_CERTIFICATE;
	ae_pulse_result_free(pulse(w, 0));
	id = current(w, "Chained", NULL);
	fake_world_new_ca(w);
	r = pulse(w, 0);
	expect_event(r, AE_EV_ENROLLED, "Chained", 1, "untrusted chain");
	expect_event(r, AE_EV_DELETED, "Chained", 1, "untrusted chain");
	tap_ok(!fake_world_has_key(w, id), "untrusted chain: the old key is deleted");
	ae_pulse_result_free(r);
	free(id);
	fake_world_free(w);
}

/* Pending requests: kept with their key, retrieved at the next pulse and
 * installed; no new request while one pends. */
static void
test_pending_issued(void)
{
	fake_world *w = fake_world_new(false);
	fake_template *t = fake_world_template(w, "Approval");
	ae_pulse_result *r;
	fake_records rs;
	const ae_record *rec;
	char *id;
	uint32_t rid;

	t->on_submit = FAKE_PEND;
	t->on_retrieve = FAKE_PEND;
	t->enrollment_flags = AE_EF_PEND_ALL_REQUESTS;
	r = pulse(w, 0);
	expect_event(r, AE_EV_PENDING, "Approval", 1, "submitted");
	ae_pulse_result_free(r);
	fake_records_load(w, &rs);
	rec = fake_records_find(&rs, "Approval", AE_REC_PENDING);
	tap_ok(rec != NULL && rec->request_id != 0 && rec->cert == NULL && fake_world_has_key(w, rec->id),
	       "pending: the record keeps the request id and the key");
	id = rec ? strdup(rec->id) : NULL;
	rid = rec ? rec->request_id : 0;
	fake_records_clear(&rs);

	r = pulse(w, 0);
	tap_ok(fake_calls(w, FAKE_CALL_RETRIEVE, "Approval") == 1 && fake_calls(w, FAKE_CALL_SUBMIT, NULL) == 0 &&
	       fake_last_call(w, FAKE_CALL_RETRIEVE, "Approval")->request_id == rid,
	       "still pending: asked about request %u, no new request", rid);
	expect_event(r, AE_EV_PENDING, "Approval", 1, "still pending");
	ae_pulse_result_free(r);

	t->on_retrieve = FAKE_ISSUE;
	r = pulse(w, 0);
	expect_event(r, AE_EV_RETRIEVED, "Approval", 1, "approved");
	tap_is_int(fake_calls(w, FAKE_CALL_SUBMIT, NULL), 0, "approved: no new request");
	ae_pulse_result_free(r);
	tap_ok(kept(w, id, AE_REC_ISSUED), "approved: the same record is current, next to its key");
	free(id);
	pulse_quiet(w, 0, "after retrieval");
	fake_world_free(w);
}

/* A pending renewal: the old certificate stays current until the renewal
 * is issued, then it is archived. */
static void
test_pending_renewal(void)
{
	fake_world *w = fake_world_new(false);
	fake_template *t = fake_world_template(w, "SlowRenew");
	ae_pulse_result *r;
	char *old_id;

	ae_pulse_result_free(pulse(w, 0));
	old_id = current(w, "SlowRenew", NULL);
	t->on_submit = FAKE_PEND;
	t->on_retrieve = FAKE_ISSUE;
	fake_world_clock(w, 9 * DAY + 2 * HOUR);
	r = pulse(w, 0);
	expect_event(r, AE_EV_PENDING, "SlowRenew", 1, "renewal pends");
	expect_event(r, AE_EV_ARCHIVED, "SlowRenew", 0, "renewal pends");
	ae_pulse_result_free(r);
	r = pulse(w, 0);
	expect_event(r, AE_EV_RETRIEVED, "SlowRenew", 1, "pending renewal issued");
	expect_event(r, AE_EV_ARCHIVED, "SlowRenew", 1, "pending renewal issued: the old one");
	ae_pulse_result_free(r);
	tap_ok(kept(w, old_id, AE_REC_ARCHIVED), "pending renewal issued: the old one archived, its key kept");
	free(old_id);
	fake_world_free(w);
}

/* The CA's answers to a retrieval: denied (record and key removed), an
 * error (kept), unreachable (kept); and 60 days pending: deleted. */
static void
test_pending_outcomes(void)
{
	fake_world *w = fake_world_new(false);
	fake_template *denied = fake_world_template(w, "Denied");
	fake_template *error = fake_world_template(w, "Error");
	fake_template *down = fake_world_template(w, "Unreachable");
	ae_pulse_result *r;
	fake_records rs;
	char *denied_id, *error_id, *down_id;

	denied->on_submit = error->on_submit = down->on_submit = FAKE_PEND;
	r = pulse(w, 0);
	tap_is_int(r->pending, 3, "three requests pending");
	ae_pulse_result_free(r);
	fake_records_load(w, &rs);
	denied_id = strdup(fake_records_find(&rs, "Denied", AE_REC_PENDING)->id);
	error_id = strdup(fake_records_find(&rs, "Error", AE_REC_PENDING)->id);
	down_id = strdup(fake_records_find(&rs, "Unreachable", AE_REC_PENDING)->id);
	fake_records_clear(&rs);

	denied->on_retrieve = FAKE_DENY;
	denied->hresult = CERTSRV_E_TEMPLATE_DENIED;
	denied->on_submit = FAKE_DENY; /* the new request made after the denial */
	error->on_retrieve = FAKE_ERROR;
	error->hresult = 0x80094006u; /* CERTSRV_E_SERVER_SUSPENDED */
	down->on_retrieve = FAKE_FAIL;
	r = pulse(w, 0);
	tap_is_int(fake_calls(w, FAKE_CALL_RETRIEVE, NULL), 3, "each pending request asked about");
	tap_ok(fake_events(r, AE_EV_DENIED, "Denied") == 2 && fake_calls(w, FAKE_CALL_SUBMIT, "Denied") == 1,
	       "denied retrieval: a denied event, then a new request (refused too) in the same pulse");
	expect_event(r, AE_EV_PENDING, "Error", 1, "error retrieval");
	expect_event(r, AE_EV_PENDING, "Unreachable", 1, "unreachable CA");
	ae_pulse_result_free(r);
	tap_ok(gone(w, denied_id), "denied retrieval: record and key removed");
	tap_ok(kept(w, error_id, AE_REC_PENDING), "error retrieval: still pending, key kept");
	tap_ok(kept(w, down_id, AE_REC_PENDING), "unreachable CA: still pending, key kept");

	/* 60 days later: given up, without asking the CA. */
	fake_world_clock(w, 60 * DAY + HOUR);
	error->on_submit = down->on_submit = FAKE_DENY; /* the new requests that follow */
	error->hresult = down->hresult = CERTSRV_E_TEMPLATE_DENIED;
	r = pulse(w, 0);
	expect_event(r, AE_EV_PENDING_EXPIRED, "Error", 1, "60 days");
	expect_event(r, AE_EV_PENDING_EXPIRED, "Unreachable", 1, "60 days");
	tap_is_int(fake_calls(w, FAKE_CALL_RETRIEVE, NULL), 0, "60 days: the CA is not asked about them");
	ae_pulse_result_free(r);
	tap_ok(gone(w, error_id) && gone(w, down_id), "60 days: records and keys deleted");
	free(denied_id);
	free(error_id);
	free(down_id);
	fake_world_free(w);
}

/* Manage without Enroll: a manually enrolled certificate of a
 * manual-renew-only template is renewed when due; none is enrolled; a
 * template without AutoEnroll is not renewed. */
static void
test_manage(void)
{
	fake_world *w = fake_world_new(false);
	fake_template *ra = fake_world_template(w, "RaSigned");
	fake_template *noauto = fake_world_template(w, "NoAutoEnroll");
	fake_template *absent;
	ae_pulse_result *r;
	char *id;
	long serial;

	/* Enrolled by hand: here, by a pulse while the templates still allowed it. */
	ae_pulse_result_free(pulse(w, 0));
	ra->ra_signatures = 1;           /* manual-renew-only */
	noauto->autoenroll = false;      /* skip */
	absent = fake_world_template(w, "RaAbsent");
	absent->ra_signatures = 1;
	w->conf->user_aepolicy = AE_AEPOLICY_MANAGE;

	pulse_quiet(w, 0, "Manage, nothing due: no enrollment for RaAbsent");
	fake_world_clock(w, 9 * DAY + 2 * HOUR);
	id = current(w, "RaSigned", &serial);
	/* Without CT_FLAG_PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT the CA
	 * wants the RA signature on renewals too: with no agent certificate,
	 * nothing is sent. */
	r = pulse(w, 0);
	tap_is_int(fake_calls(w, FAKE_CALL_SUBMIT, "RaSigned"), 0,
	           "Manage, due, no PREVIOUS_APPROVAL and no agent: the CA not asked");
	expect_event(r, AE_EV_SKIPPED, "RaSigned", 1, "Manage, due, no agent: skipped with the reason");
	ae_pulse_result_free(r);
	ra->enrollment_flags |= AE_EF_PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT;
	r = pulse(w, 0);
	expect_renewal(w, r, "RaSigned", id, serial, "Manage, due");
	tap_ok(fake_calls(w, FAKE_CALL_SUBMIT, "NoAutoEnroll") == 0 && fake_calls(w, FAKE_CALL_SUBMIT, "RaAbsent") == 0,
	       "Manage: no renewal without AutoEnroll, no enrollment of an absent certificate");
	ae_pulse_result_free(r);
	free(id);

	/* Enroll alone does not renew manual-renew-only certificates. */
	w->conf->user_aepolicy = AE_AEPOLICY_ENROLL;
	fake_world_clock(w, 19 * DAY);
	pulse_quiet(w, 0, "Enroll without Manage, RaSigned due");
	fake_world_free(w);
}

/* Manage without Enroll, templates set up for autoenrollment (the
 * whitepaper's "Renew manually enrolled certificates"): due, renewed, also
 * through the policy cache; expired, a new request; absent, nothing.
 * CT_FLAG_SKIP_AUTO_RENEWAL: never renewed automatically, and the cache
 * does not hold it for due.  Same-key renewal keeps the key. */
/* The clock offset at which renewal of TPL's current certificate is
 * due (the template's renewal period: one day). */
static int64_t
due_offset(fake_world *w, const char *tpl)
{
	fake_records rs;
	const ae_record *rec;
	int64_t due = 0;

	fake_records_load(w, &rs);
	rec = fake_records_find(&rs, tpl, AE_REC_ISSUED);
	if (rec != NULL && rec->cert != NULL)
		due = ae_renewal_due((int64_t)ae_asn1_time(X509_get0_notBefore(rec->cert)),
		                     (int64_t)ae_asn1_time(X509_get0_notAfter(rec->cert)), DAY);
	fake_records_clear(&rs);
	return due - (int64_t)time(NULL);
}

static void
test_manage_autoenroll(void)
{
	fake_world *w = fake_world_new(false);
	fake_template *skip, *same;
	ae_pulse_result *r;
	char *id, *old_id;
	long serial;

	fake_world_template(w, "ByHand");
	skip = fake_world_template(w, "NoRenew");
	same = fake_world_template(w, "SameKey");
	ae_pulse_result_free(pulse(w, 0)); /* "by hand": while Enroll was on */
	skip->enrollment_flags = AE_EF_SKIP_AUTO_RENEWAL;
	same->private_key_flags = AE_PK_REQUIRE_SAME_KEY_RENEWAL;
	fake_world_template(w, "Absent");
	w->conf->user_aepolicy = AE_AEPOLICY_MANAGE | AE_AEPOLICY_RETRIEVE_PENDING;
	w->conf->policy_refresh = 600;
	pulse_quiet(w, 0, "Manage, nothing due: Absent is not enrolled");
	fake_world_clock(w, due_offset(w, "ByHand") - 300);
	pulse_quiet(w, 0, "Manage, five minutes before renewal is due");
	id = current(w, "ByHand", &serial);
	old_id = current(w, "SameKey", NULL);
	fake_world_clock(w, due_offset(w, "ByHand") + 200);
	r = pulse(w, 0);
	tap_ok(!r->policy_from_cache, "due: the policy cache does not hold Manage back");
	expect_renewal(w, r, "ByHand", id, serial, "Manage without Enroll, due");
	expect_event(r, AE_EV_RENEWED, "SameKey", 1, "same-key renewal");
	expect_event(r, AE_EV_RENEWED, "NoRenew", 0, "SKIP_AUTO_RENEWAL, due");
	expect_event(r, AE_EV_SKIPPED, "NoRenew", 1, "SKIP_AUTO_RENEWAL, due");
	tap_ok(fake_calls(w, FAKE_CALL_SUBMIT, "NoRenew") == 0 && fake_calls(w, FAKE_CALL_SUBMIT, "Absent") == 0,
	       "SKIP_AUTO_RENEWAL not asked for; Absent not enrolled");
	ae_pulse_result_free(r);
	{
		char *new_id = current(w, "SameKey", NULL);
		fake_records rs;
		const ae_record *o, *n;
		fake_records_load(w, &rs);
		o = fake_records_by_id(&rs, old_id);
		n = fake_records_by_id(&rs, new_id);
		tap_ok(o != NULL && n != NULL && o->cert != NULL && n->cert != NULL && new_id != NULL &&
		               strcmp(new_id, old_id) != 0 &&
		               EVP_PKEY_eq(X509_get0_pubkey(o->cert), X509_get0_pubkey(n->cert)) == 1,
		       "same-key renewal: the new certificate has the old one's key");
		fake_records_clear(&rs);
		free(new_id);
	}
	r = pulse(w, 0);
	tap_ok(r->policy_from_cache && r->nothing_to_do, "next pulse: NoRenew due but not renewed, nothing to do");
	ae_pulse_result_free(r);
	free(id);
	id = current(w, "NoRenew", NULL);
	fake_world_clock(w, 11 * DAY);
	r = pulse(w, 0);
	expect_event(r, AE_EV_ENROLLED, "NoRenew", 1, "Manage, expired");
	tap_ok(strcmp(fake_last_call(w, FAKE_CALL_SUBMIT, "NoRenew")->format, "pkcs10") == 0 &&
	               kept(w, id, AE_REC_ARCHIVED),
	       "Manage, expired: a new PKCS#10 (not a renewal), the expired certificate archived");
	ae_pulse_result_free(r);
	free(id);
	free(old_id);
	fake_world_free(w);
}

/* A pending request or a template waiting for the user does not defeat
 * the policy cache: the next pulse is cheap and says both again; after
 * policy_refresh the pending request is asked again. */
static void
test_pending_cached(void)
{
	fake_world *w = fake_world_new(false);
	ae_pulse_result *r;
	fake_template *slow = fake_world_template(w, "Slow");

	slow->on_submit = slow->on_retrieve = FAKE_PEND;
	fake_world_template(w, "Consent")->enrollment_flags = AE_EF_USER_INTERACTION_REQUIRED;
	w->conf->policy_refresh = 600;
	r = pulse(w, 0);
	expect_event(r, AE_EV_PENDING, "Slow", 1, "first pulse");
	expect_event(r, AE_EV_NEEDS_USER, "Consent", 1, "first pulse");
	ae_pulse_result_free(r);
	r = pulse(w, 0);
	tap_ok(r->policy_from_cache && r->nothing_to_do && w->ncalls == 0 && w->source_opens == 1,
	       "pending and waiting: the second pulse is cheap (no policy read, CA not asked)");
	expect_event(r, AE_EV_PENDING, "Slow", 1, "cheap pulse");
	expect_event(r, AE_EV_NEEDS_USER, "Consent", 1, "cheap pulse");
	ae_pulse_result_free(r);
	r = pulse(w, FAKE_PULSE_INTERACTIVE);
	tap_ok(!r->policy_from_cache, "an interactive pulse is a full one: it can ask the user");
	ae_pulse_result_free(r);
	fake_world_clock(w, 601);
	r = pulse(w, 0);
	tap_ok(!r->policy_from_cache && fake_calls(w, FAKE_CALL_RETRIEVE, "Slow") == 1,
	       "after policy_refresh: the pending request is asked again");
	ae_pulse_result_free(r);
	fake_world_free(w);
}

/* A lasting refusal is not asked again at the next pulse, a passing one
 * is; a new template version or --refresh asks again. */
static void
test_lasting_refusal(void)
{
	fake_world *w = fake_world_new(false);
	fake_template *lasting = fake_world_template(w, "Overlap");
	fake_template *passing = fake_world_template(w, "Denied");
	ae_pulse_result *r;
	fake_records rs;

	lasting->on_submit = passing->on_submit = FAKE_DENY;
	lasting->hresult = CERTSRV_E_CERT_TYPE_OVERLAP;
	passing->hresult = CERTSRV_E_TEMPLATE_DENIED;
	r = pulse(w, 0);
	expect_event(r, AE_EV_DENIED, "Overlap", 1, "first refusal");
	expect_event(r, AE_EV_DENIED, "Denied", 1, "first refusal");
	tap_ok(r->events[0].kind == AE_EV_PULSE_STARTED, "events start with pulse-started");
	ae_pulse_result_free(r);
	fake_records_load(w, &rs);
	tap_is_int(rs.n, 0, "refused: no record left behind");
	fake_records_clear(&rs);

	r = pulse(w, 0);
	tap_ok(fake_calls(w, FAKE_CALL_SUBMIT, "Overlap") == 0 && fake_calls(w, FAKE_CALL_SUBMIT, "Denied") == 1,
	       "next pulse: the lasting refusal not asked again, the passing one asked");
	expect_event(r, AE_EV_SKIPPED, "Overlap", 1, "next pulse");
	ae_pulse_result_free(r);

	fake_world_clock(w, 25 * HOUR);
	ae_pulse_result_free(pulse(w, 0));
	tap_is_int(fake_calls(w, FAKE_CALL_SUBMIT, "Overlap"), 1, "after a day: asked again");

	ae_pulse_result_free(pulse(w, 0));
	tap_is_int(fake_calls(w, FAKE_CALL_SUBMIT, "Overlap"), 0, "refused again: remembered again");
	lasting->minor++;
	ae_pulse_result_free(pulse(w, 0));
	tap_is_int(fake_calls(w, FAKE_CALL_SUBMIT, "Overlap"), 1, "a new template version: asked again");

	ae_pulse_result_free(pulse(w, FAKE_PULSE_REFRESH));
	tap_is_int(fake_calls(w, FAKE_CALL_SUBMIT, "Overlap"), 1, "--refresh forgets the refusal");
	fake_world_free(w);
}

/* A template that checks AD: a valid certificate of it in the account's
 * userCertificate (enrolled on another machine) means no new request. */
static void
test_ds_certificate(void)
{
	fake_world *w = fake_world_new(false);
	fake_template *t = fake_world_template(w, "Roaming");
	ae_pulse_result *r;
	fake_records rs;
	char *id;

	t->enrollment_flags = AE_EF_CHECK_USER_DS_CERTIFICATE;
	ae_pulse_result_free(pulse(w, 0));
	id = current(w, "Roaming", NULL);
	fake_records_load(w, &rs);
	fake_world_publish_ds_cert(w, fake_records_find(&rs, "Roaming", AE_REC_ISSUED)->cert);
	fake_records_clear(&rs);
	fake_world_forget_record(w, id);
	pulse_quiet(w, 0, "valid certificate in userCertificate, none here");
	t->enrollment_flags = 0;
	r = pulse(w, 0);
	expect_event(r, AE_EV_ENROLLED, "Roaming", 1, "the template no longer checks AD");
	ae_pulse_result_free(r);
	free(id);
	fake_world_free(w);
}

/* The CA cannot be reached: a failed event, nothing left behind, asked
 * again at the next pulse. */
static void
test_transport_failure(void)
{
	fake_world *w = fake_world_new(false);
	fake_template *t = fake_world_template(w, "Flaky");
	ae_pulse_result *r;
	fake_records rs;

	t->on_submit = FAKE_FAIL;
	r = pulse(w, 0);
	expect_event(r, AE_EV_FAILED, "Flaky", 1, "CA unreachable");
	tap_ok(r->err == AE_OK && r->enrolled == 0, "CA unreachable: the pulse itself completes");
	ae_pulse_result_free(r);
	fake_records_load(w, &rs);
	tap_is_int(rs.n, 0, "CA unreachable: no record left");
	fake_records_clear(&rs);
	{
		char *spec = ae_strdup_printf("file:%s", w->state_dir);
		ae_keystore *ks = NULL;
		char **ids = NULL;
		tap_ok(ae_keystore_open(w->ctx, spec, &ks) == AE_OK && ae_keystore_list(w->ctx, ks, &ids) == AE_OK &&
		       ae_strv_len(ids) == 0,
		       "CA unreachable: the key made for the request is removed");
		ae_strv_free(ids);
		ae_keystore_free(ks);
		free(spec);
	}

	t->on_submit = FAKE_ISSUE;
	r = pulse(w, 0);
	expect_event(r, AE_EV_ENROLLED, "Flaky", 1, "CA back");
	ae_pulse_result_free(r);
	fake_world_free(w);
}

/* Two CAs publish the template: one that cannot be asked passes the
 * request, and the renewal, to the next in the same pulse; a refusal is
 * an answer, not failed over. */
static void
test_ca_failover(void)
{
	fake_world *w = fake_world_new(false);
	fake_template *t = fake_world_template(w, "Both");
	ae_pulse_result *r;
	fake_records rs;
	const fake_call *c;

	snprintf(w->second_ca, sizeof(w->second_ca), "Fake-CA2");
	snprintf(w->unreachable, sizeof(w->unreachable), "Fake-CA");
	r = pulse(w, 0);
	expect_event(r, AE_EV_ENROLLED, "Both", 1, "first CA unreachable");
	c = fake_last_call(w, FAKE_CALL_SUBMIT, "Both");
	tap_ok(fake_calls(w, FAKE_CALL_SUBMIT, "Both") == 1 && c != NULL && strcmp(c->ca, "Fake-CA2") == 0,
	       "first CA unreachable: the request goes to the second, in the same pulse");
	tap_ok(r->event_count > 0 && fake_events(r, AE_EV_FAILED, NULL) == 0, "... and nothing fails");
	for (size_t i = 0; i < r->event_count; i++)
		if (r->events[i].kind == AE_EV_ENROLLED)
			tap_ok(strstr(r->events[i].message, "Fake-CA could not be asked") != NULL &&
			       strstr(r->events[i].message, "rpc_timeout") != NULL,
			       "the enrolled event names the CA that could not be asked, and why");
	ae_pulse_result_free(r);
	fake_records_load(w, &rs);
	tap_ok(fake_records_find(&rs, "Both", AE_REC_ISSUED) != NULL &&
	       strcmp(fake_records_find(&rs, "Both", AE_REC_ISSUED)->ca, "Fake-CA2") == 0,
	       "the record names the CA that issued");
	fake_records_clear(&rs);

	snprintf(w->unreachable, sizeof(w->unreachable), "Fake-CA2");
	fake_world_clock(w, 9 * 86400 + 3600);
	r = pulse(w, 0);
	expect_event(r, AE_EV_RENEWED, "Both", 1, "renewal with the issuing CA unreachable");
	c = fake_last_call(w, FAKE_CALL_SUBMIT, "Both");
	tap_ok(c != NULL && strcmp(c->ca, "Fake-CA") == 0 && c->renewal_serial >= 0,
	       "the renewal goes to the other CA, signed with the old key");
	ae_pulse_result_free(r);

	w->unreachable[0] = '\0';
	t->on_submit = FAKE_DENY;
	t->hresult = 0x80094012u;
	fake_world_clock(w, 30 * 86400);
	r = pulse(w, 0);
	tap_ok(fake_calls(w, FAKE_CALL_SUBMIT, "Both") == 1 && fake_events(r, AE_EV_DENIED, "Both") == 1,
	       "a CA that refuses has answered: no failover");
	ae_pulse_result_free(r);
	fake_world_free(w);
}

/* A template that needs the user: not requested by a pulse without a
 * user, requested by an interactive one. */
static void
test_user_interaction(void)
{
	fake_world *w = fake_world_new(false);
	ae_pulse_result *r;

	fake_world_template(w, "Consent")->enrollment_flags = AE_EF_USER_INTERACTION_REQUIRED;
	r = pulse(w, 0);
	expect_event(r, AE_EV_NEEDS_USER, "Consent", 1, "non-interactive");
	tap_is_int(fake_calls(w, FAKE_CALL_SUBMIT, NULL), 0, "non-interactive: no request");
	ae_pulse_result_free(r);
	r = pulse(w, FAKE_PULSE_INTERACTIVE);
	expect_event(r, AE_EV_ENROLLED, "Consent", 1, "interactive");
	ae_pulse_result_free(r);
	fake_world_free(w);
}

/* aepolicy disabled, or no flag set: nothing, not even the policy read. */
static void
test_disabled(void)
{
	static const uint32_t policies[] = {
		AE_AEPOLICY_DISABLED | AE_AEPOLICY_ENROLL | AE_AEPOLICY_MANAGE | AE_AEPOLICY_RETRIEVE_PENDING, 0
	};

	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
		fake_world *w = fake_world_new(false);
		ae_pulse_result *r;

		fake_world_template(w, "Auto");
		w->conf->user_aepolicy = policies[i];
		r = pulse(w, 0);
		tap_ok(r->event_count == 1 && r->events[0].kind == AE_EV_DISABLED && w->source_opens == 0 &&
		       w->ncalls == 0,
		       "aepolicy 0x%x: disabled event only, policy not read, CA not asked", policies[i]);
		ae_pulse_result_free(r);
		fake_world_free(w);
	}
}

/* Group Policy's AEPolicy wins over the file's, and its GPO is named;
 * group_policy = no, or Group Policy that cannot be read: the file's. */
static void
test_group_policy(void)
{
	fake_world *w = fake_world_new(false);
	ae_pulse_result *r;

	fake_world_template(w, "Auto");
	w->conf->group_policy = true;
	snprintf(w->gp_gpo, sizeof(w->gp_gpo), "%s", "Workstations GPO");
	w->gp_aepolicy = AE_AEPOLICY_DISABLED;
	r = pulse(w, 0);
	tap_ok(fake_events(r, AE_EV_DISABLED, NULL) == 1 && w->ncalls == 0 && r->enrolled == 0,
	       "Group Policy AEPolicy 0x8000 over the file's 0x7: disabled, the CA not asked");
	for (size_t i = 0; i < r->event_count; i++)
		if (r->events[i].kind == AE_EV_DISABLED)
			tap_ok(strstr(r->events[i].message, "from Group Policy \"Workstations GPO\"") != NULL,
			       "the disabled event names the GPO");
	ae_pulse_result_free(r);

	w->conf->user_aepolicy = AE_AEPOLICY_DISABLED;
	w->gp_aepolicy = AE_AEPOLICY_ENROLL | AE_AEPOLICY_MANAGE | AE_AEPOLICY_RETRIEVE_PENDING;
	r = pulse(w, 0);
	tap_ok(r->enrolled == 1 && fake_events(r, AE_EV_DISABLED, NULL) == 0,
	       "Group Policy AEPolicy 0x7 over the file's disabled: enrolled");
	ae_pulse_result_free(r);
	fake_world_free(w);

	w = fake_world_new(false);
	fake_world_template(w, "Auto");
	w->conf->group_policy = false;
	snprintf(w->gp_gpo, sizeof(w->gp_gpo), "%s", "Workstations GPO");
	w->gp_aepolicy = AE_AEPOLICY_DISABLED;
	r = pulse(w, 0);
	tap_ok(r->enrolled == 1, "group_policy = no: the file's aepolicy, Group Policy not asked");
	ae_pulse_result_free(r);
	fake_world_free(w);

	w = fake_world_new(false);
	fake_world_template(w, "Auto");
	w->conf->group_policy = true;
	w->gp_fail = true;
	r = pulse(w, 0);
	tap_ok(r->enrolled == 1 && r->err == AE_OK, "Group Policy unreadable: the file's aepolicy applies, the pulse runs");
	ae_pulse_result_free(r);
	fake_world_free(w);
}

/* The machine context: machine templates only; machine templates that
 * need user interaction are skipped with the reason. */
static void
test_machine(void)
{
	fake_world *w = fake_world_new(true);
	ae_pulse_result *r;

	fake_world_template(w, "Workstation");
	fake_world_template(w, "MachineConsent")->enrollment_flags = AE_EF_USER_INTERACTION_REQUIRED;
	fake_world_template(w, "UserTpl")->machine = false;
	r = pulse(w, 0);
	expect_event(r, AE_EV_ENROLLED, "Workstation", 1, "machine");
	expect_event(r, AE_EV_SKIPPED, "MachineConsent", 1, "machine template needing the user");
	tap_ok(r->enrolled == 1 && fake_calls(w, FAKE_CALL_SUBMIT, NULL) == 1, "machine: only Workstation requested");
	ae_pulse_result_free(r);
	fake_world_free(w);
}

/* The policy cache: within policy_refresh and nothing due, the pulse
 * neither reads the policy nor asks the CA; due, it reads and renews. */
static void
test_policy_cache(void)
{
	fake_world *w = fake_world_new(false);
	ae_pulse_result *r;

	fake_world_template(w, "Cached");
	w->conf->policy_refresh = 600;
	ae_pulse_result_free(pulse(w, 0));
	r = pulse(w, 0);
	tap_ok(r->policy_from_cache && r->nothing_to_do && w->source_opens == 1 &&
	       fake_events(r, AE_EV_NOTHING_TO_DO, NULL) == 1,
	       "within policy_refresh: nothing to do, policy not read");
	ae_pulse_result_free(r);
	r = pulse(w, FAKE_PULSE_REFRESH);
	tap_ok(!r->policy_from_cache && w->source_opens == 2, "--refresh: the policy read");
	ae_pulse_result_free(r);
	fake_world_clock(w, 9 * DAY + 2 * HOUR);
	r = pulse(w, 0);
	tap_ok(!r->policy_from_cache && w->source_opens == 3 && r->renewed == 1,
	       "due: the cache does not hold the pulse back, the certificate is renewed");
	ae_pulse_result_free(r);
	fake_world_free(w);
}

/* A pulse that changes Web's certificate: published, the hook ran once.
 * The new serial in *SERIAL, the hook's log so far returned. */
static char *
pulse_published(fake_world *w, const char *what, const char *log, char **serial)
{
	ae_pulse_result *r = pulse(w, 0);
	fake_records rs;
	const ae_record *rec;

	expect_event(r, AE_EV_PUBLISHED, "Web", 1, what);
	expect_event(r, AE_EV_HOOK_RAN, "Web", 1, what);
	ae_pulse_result_free(r);
	fake_records_load(w, &rs);
	rec = fake_records_find(&rs, "Web", AE_REC_ISSUED);
	*serial = rec ? ae_publish_serial_hex(rec->cert) : NULL;
	fake_records_clear(&rs);
	return ae_read_file(log, 4096, NULL);
}

/* Certificates for services (machine): every pulse that changes a certificate
 * updates <state_dir>/live/<template>/ and runs the hooks once, with the
 * old and the new serial; a pulse that changes nothing runs none. */
static void
test_publish_hooks(void)
{
	fake_world *w = fake_world_new(true);
	char *hooks = ae_strdup_printf("%s/hooks.d", w->dir), *log = ae_strdup_printf("%s/hook.log", w->dir);
	char *hook = ae_strdup_printf("%s/10-log", hooks), *live = ae_strdup_printf("%s/live/Web/cert.pem", w->state_dir);
	char *first = NULL, *second = NULL, *text, *want;
	ae_pulse_result *r;
	FILE *f;

	mkdir(hooks, 0755);
	f = fopen(hook, "w");
	fprintf(f, "#!/bin/sh\necho \"$AE_HOOK_TEMPLATE $AE_HOOK_CONTEXT old=$AE_HOOK_OLD_SERIAL new=$AE_HOOK_NEW_SERIAL $AE_HOOK_CERT $AE_HOOK_KEY\" >> %s\n", log);
	fclose(f);
	chmod(hook, 0755);
	free(w->conf->machine_hooks_dir);
	w->conf->machine_hooks_dir = strdup(hooks);
	fake_world_template(w, "Web");

	text = pulse_published(w, "publish: enrolled", log, &first);
	want = ae_strdup_printf("Web machine old= new=%s %s/live/Web/cert.pem %s/live/Web/key.pem\n", first, w->state_dir,
	                        w->state_dir);
	tap_is_str(text, want, "publish: the hook ran once after enrollment, no old serial, the paths");
	free(text);
	free(want);
	tap_ok(access(live, R_OK) == 0, "publish: live/Web/cert.pem is there");

	r = pulse(w, 0);
	tap_ok(fake_events(r, AE_EV_PUBLISHED, NULL) == 0 && fake_events(r, AE_EV_HOOK_RAN, NULL) == 0,
	       "publish: a pulse that changes nothing publishes nothing, runs no hook");
	ae_pulse_result_free(r);

	fake_world_clock(w, 9 * DAY + 2 * HOUR);
	text = pulse_published(w, "publish: renewed", log, &second);
	want = ae_strdup_printf("Web machine old= new=%s %s/live/Web/cert.pem %s/live/Web/key.pem\n"
	                        "Web machine old=%s new=%s %s/live/Web/cert.pem %s/live/Web/key.pem\n",
	                        first, w->state_dir, w->state_dir, first, second, w->state_dir, w->state_dir);
	tap_is_str(text, want, "publish: the hook ran once more after the renewal, old and new serial");
	free(text);
	free(want);
	free(first);
	free(second);
	if (geteuid() == 0) {
		/* The user context as root: the hooks are never run. */
		fake_world *u = fake_world_new(false);
		free(u->conf->user_hooks_dir);
		u->conf->user_hooks_dir = strdup(hooks);
		fake_world_template(u, "UserWeb");
		r = pulse(u, 0);
		tap_ok(fake_events(r, AE_EV_PUBLISHED, "UserWeb") == 1 && fake_events(r, AE_EV_HOOK_RAN, NULL) == 0 &&
		       fake_events(r, AE_EV_HOOK_FAILED, NULL) == 0,
		       "publish: a user pulse running as root publishes but runs no hook");
		ae_pulse_result_free(r);
		fake_world_free(u);
	}
	free(hooks);
	free(log);
	free(hook);
	free(live);
	fake_world_free(w);
}

/* Group Policy's OfflineExpirationPercent (expiry_warning_percent, 10):
 * an "expiring" event for a current certificate with 10 % or less of its
 * lifetime left that the pulse did not renew (the CA unreachable, the
 * template no longer published); none above the threshold, none when the
 * renewal succeeds, none when switched off.  The machine: the event. */
static void
test_expiry_warning(void)
{
	fake_world *w = fake_world_new(true);
	fake_template *t = fake_world_template(w, "Expiring");
	fake_template *gone = fake_world_template(w, "Gone");
	ae_pulse_result *r;

	r = pulse(w, 0);
	tap_ok(r->enrolled == 2 && fake_events(r, AE_EV_EXPIRING, NULL) == 0, "expiry: fresh certificates, no warning");
	ae_pulse_result_free(r);
	t->on_submit = FAKE_FAIL;
	gone->published = false;
	fake_world_clock(w, 8 * DAY + 12 * HOUR);
	r = pulse(w, 0);
	expect_event(r, AE_EV_EXPIRING, NULL, 0, "expiry: 15 % left, nothing renews them: above the threshold");
	ae_pulse_result_free(r);
	fake_world_clock(w, 9 * DAY + 12 * HOUR);
	r = pulse(w, 0);
	expect_event(r, AE_EV_FAILED, "Expiring", 1, "expiry: 5 % left, the CA unreachable: the renewal fails");
	expect_event(r, AE_EV_EXPIRING, "Expiring", 1, "expiry: ... and the certificate is reported");
	expect_event(r, AE_EV_EXPIRING, "Gone", 1, "expiry: 5 % left, the template no longer published: reported");
	for (size_t i = 0; i < r->event_count; i++)
		if (r->events[i].kind == AE_EV_EXPIRING && strcmp(r->events[i].template_name, "Gone") == 0)
			tap_ok(strstr(r->events[i].message, "h (5% of its lifetime left, warned at 10%)") &&
			       strstr(r->events[i].message, "local system") && r->events[i].record_id != NULL,
			       "expiry: the message says when, the threshold, whose (%s)", r->events[i].message);
	ae_pulse_result_free(r);
	t->on_submit = FAKE_ISSUE;
	r = pulse(w, 0);
	expect_event(r, AE_EV_RENEWED, "Expiring", 1, "expiry: the CA back: renewed");
	expect_event(r, AE_EV_EXPIRING, "Expiring", 0, "expiry: ... and not reported");
	expect_event(r, AE_EV_EXPIRING, "Gone", 1, "expiry: the unpublished one still is");
	ae_pulse_result_free(r);
	w->conf->expiry_warning_percent = 0;
	r = pulse(w, 0);
	expect_event(r, AE_EV_EXPIRING, NULL, 0, "expiry: expiry_warning_percent 0: never");
	ae_pulse_result_free(r);
	fake_world_free(w);
}

/* The expiry warning of a certificate enrolled by an SCEP profile
 * ([scep NAME]; here the Dev certificate made into one: template "SCEP",
 * the profile dev) gives the profile's reason, never "the template SCEP is
 * no longer in Active Directory": the profile gone from the configuration,
 * then back with renew_percent 100 (not due: no request).  Its events
 * carry the profile (AUTOENROLL_SCEP_PROFILE). */
static const ae_pulse_event *
expiring_event(const ae_pulse_result *r)
{
	for (size_t i = 0; i < r->event_count; i++)
		if (r->events[i].kind == AE_EV_EXPIRING)
			return &r->events[i];
	return NULL;
}

static void
test_scep_expiry_reason(void)
{
	fake_world *w = fake_world_new(true);
	fake_template *t = fake_world_template(w, "Dev");
	const ae_pulse_event *e;
	ae_pulse_result *r;
	ae_record **recs = NULL;
	ae_store *st = NULL;
	size_t n = 0;

	r = pulse(w, 0);
	ae_pulse_result_free(r);
	if (ae_store_open(w->ctx, w->state_dir, false, &st) != AE_OK || ae_store_load(w->ctx, st, &recs, &n) != AE_OK ||
	    n != 1)
		abort();
	free(recs[0]->template_name);
	free(recs[0]->template_oid);
	free(recs[0]->ca);
	recs[0]->template_name = strdup("SCEP");
	recs[0]->template_oid = NULL;
	recs[0]->scep_profile = strdup("dev");
	recs[0]->ca = strdup("https://ndes.corp.test/certsrv/mscep/mscep.dll");
	if (ae_store_save(w->ctx, st, recs[0]) != AE_OK)
		abort();
	ae_records_free(recs, n);
	ae_store_free(st);
	t->published = false;
	fake_world_clock(w, 9 * DAY + 12 * HOUR);
	r = pulse(w, 0);
	e = expiring_event(r);
	tap_ok(e != NULL && strcmp(e->template_name, "SCEP") == 0 && e->scep_profile != NULL &&
	       strcmp(e->scep_profile, "dev") == 0 && strstr(e->message, "the SCEP profile dev certificate") &&
	       strstr(e->message, "the profile dev is no longer in the configuration") &&
	       !strstr(e->message, "Active Directory"),
	       "SCEP expiry: the profile gone from the configuration, said so (%s)", e ? e->message : all_events(r));
	ae_pulse_result_free(r);
	w->conf->scep = calloc(1, sizeof(*w->conf->scep));
	if (w->conf->scep == NULL)
		abort();
	w->conf->n_scep = 1;
	w->conf->scep[0].name = strdup("dev");
	w->conf->scep[0].url = strdup("https://ndes.corp.test/certsrv/mscep/mscep.dll");
	w->conf->scep[0].subject = strdup("CN=dev.corp.test");
	w->conf->scep[0].renew_percent = 100;
	r = pulse(w, 0);
	e = expiring_event(r);
	tap_ok(e != NULL && strstr(e->message, "the profile dev renews it at 100% of its lifetime (renew_percent in [scep dev])") &&
	       r->failed == 0 && w->ncalls == 0,
	       "SCEP expiry: the profile's renewal threshold not reached, said so; nothing asked (%s)",
	       e ? e->message : all_events(r));
	ae_pulse_result_free(r);
	fake_world_free(w);
}

/* A template that AD holds but that did not parse (here: a control
 * character in its displayName, its name escaped by ldap-place) is an
 * event of its own, naming it and the attribute at fault; the others go
 * on. */
static void
test_invalid_template_event(void)
{
	fake_world *w = fake_world_new(false);
	ae_pulse_result *r;
	bool named = false;

	fake_world_template(w, "LabUser");
	ae_strv_append(&w->invalid_templates,
	               "Lab\\nForged\tdisplayName has a control character (0x0a at byte 3): refused, it could forge "
	               "local records or request attributes");
	r = pulse(w, 0);
	expect_event(r, AE_EV_SKIPPED, "Lab\\nForged", 1, "invalid template");
	for (size_t i = 0; i < r->event_count; i++)
		if (r->events[i].kind == AE_EV_SKIPPED && r->events[i].message != NULL &&
		    strstr(r->events[i].message,
		           "Lab\\nForged is skipped: invalid template: displayName has a control character") != NULL)
			named = true;
	tap_ok(named, "invalid template: the event names the template and the attribute");
	expect_event(r, AE_EV_ENROLLED, "LabUser", 1, "invalid template: the others");
	ae_pulse_result_free(r);
	fake_world_free(w);
}

int
main(void)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	test_first_pulse();
	test_renewal_threshold();
	test_interrupted_renewal();
	test_major_version();
	test_supersedence();
	test_expired_cleanup();
	test_invalid_chain();
	test_pending_issued();
	test_pending_renewal();
	test_pending_outcomes();
	test_manage();
	test_manage_autoenroll();
	test_pending_cached();
	test_lasting_refusal();
	test_ds_certificate();
	test_transport_failure();
	test_ca_failover();
	test_user_interaction();
	test_disabled();
	test_group_policy();
	test_machine();
	test_policy_cache();
	test_publish_hooks();
	test_expiry_warning();
	test_scep_expiry_reason();
	test_invalid_template_event();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	tap_diag("engine tests took %.0f ms",
	         (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	return tap_done();
}
