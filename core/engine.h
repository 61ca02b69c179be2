/*
 * engine.h - the autoenrollment task sequence of the whitepaper (shared
 * seed 001), for the machine or for a user:
 *
 *   1. options (aepolicy: Enroll, Manage, RetrievePending, disabled)
 *   2. trust from AD (machine): roots, intermediates, NTAuth; OIDs
 *   3. local stores: current, pending, archived
 *   4. the enrollment policy (cached for policy_refresh seconds)
 *   5. pending requests (RetrievePending)
 *   6. renewals, then new requests, for templates set up for
 *      autoenrollment (Enroll)
 *   7. renewal of manually enrolled certificates (Manage)
 *   8. cleanup: archive or delete what was replaced; with Manage, revoked
 *      certificates out of the account's userCertificate in AD
 *   then: the offline expiry warning (expiry_warning_percent, Group
 *      Policy's OfflineExpirationPercent) for current certificates the
 *      pulse did not renew
 *
 * Every outcome is an event (events.h): returned in the result and, when
 * asked, sent to the journal.
 */
#ifndef AE_ENGINE_H
#define AE_ENGINE_H

#include "conf.h"
#include "error.h"
#include "events.h"
#include "gpsettings.h"
#include "keystore.h"
#include "source.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
	bool machine;
	bool interactive;       /* a user is at hand to consent or give a PIN (later: notifications) */
	bool refresh_policy;    /* ignore the policy cache */
	bool emit;              /* events to the journal / syslog */
	const char *ident;      /* SYSLOG_IDENTIFIER of emitted events */
	/* Asks for a token PIN the store URI does not give (interactive
	 * enrollment: ae_pinentry_prompt); NULL: such a token is a
	 * needs-user event.  PIN_PROMPT_DATA must outlive the pulse. */
	ae_pin_prompt_fn pin_prompt;
	void *pin_prompt_data;
	/* Opens the policy source (NULL: ae_policy_source_open, the domain's
	 * own); the engine's unit tests give a source of their own. */
	ae_policy_source_open_fn open_source;
	void *source_arg;
	/* Group Policy (when conf->group_policy): called once the policy is
	 * read, over the same source; returns the settings of the GPOs that
	 * apply in *SETTINGS (caller frees, ae_gp_settings_free).  Its
	 * AEPolicy wins over the configuration's aepolicy; its certificates
	 * (Root, CA, Trust, Disallowed) join AD's in the trust.  *NOTES (N,
	 * caller frees: ae_gp_notes_free) are the gp-applied and
	 * gp-read-failed events to send.  NULL: none. */
	ae_err (*group_policy)(ae_ctx *ctx, const ae_conf *conf, ae_policy_source *src, const ae_policy *policy,
	                       bool machine, ae_gp_settings **settings, ae_gp_note **notes, size_t *n_notes);
} ae_engine_opts;

typedef struct {
	ae_event_kind kind;
	char *template_name;
	char *ca;
	char *record_id;
	uint32_t request_id;
	uint32_t hresult;
	char *message;
	char *gpo;     /* Group Policy events and those it decided: the GPO */
	char *scep_profile; /* events of an SCEP profile's certificate: the profile */
} ae_pulse_event;

typedef struct {
	bool machine;
	char *principal;         /* who the pulse ran as, when known */
	ae_err err;              /* AE_OK, or why the pulse failed as a whole */
	char *error;             /* its message */
	bool retry;              /* the failure is transient (network, KDC): retry at the next trigger */
	bool policy_from_cache;
	bool nothing_to_do;
	unsigned ldap_round_trips, rpc_round_trips;
	unsigned enrolled, renewed, pending, retrieved, failed, skipped, archived, deleted;
	int64_t started;         /* unix time (ae_now) */
	double seconds;
	ae_pulse_event *events;
	size_t event_count;
} ae_pulse_result;

/* Runs one pulse.  Returns AE_OK when *OUT was filled (even when the
 * pulse failed: see out->err); an error only when out of memory. */
ae_err ae_engine_pulse(ae_ctx *ctx, const ae_conf *conf, const ae_engine_opts *opts, ae_pulse_result **out);
void ae_pulse_result_free(ae_pulse_result *r);

/* The result as JSON (format_version 1, documented in autoenroll(8)). */
char *ae_pulse_result_json(const ae_pulse_result *r);

/* The aepolicy of a context from the configuration. */
uint32_t ae_engine_aepolicy(const ae_conf *conf, bool machine);

#endif
