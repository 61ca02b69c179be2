/*
 * cmd-scep.h - enrollment and renewal over SCEP by hand (cmd-scep.c).
 */
#ifndef AE_CMD_SCEP_H
#define AE_CMD_SCEP_H

#include "scep-setup.h"
#include "session.h"

typedef struct {
	const char *url;            /* new: the mscep.dll URL */
	const char *subject;        /* new: the subject DN */
	char *const *dns;           /* new: DNS names */
	const char *challenge_file; /* new: the challenge on its first line */
	bool from_admin;            /* new: the challenge from mscep_admin (Kerberos) */
	const ae_scep_profile *profile; /* new: a [scep NAME] profile instead of the five above */
	bool machine;
	bool insecure_http;         /* --insecure-http: over the profile's allow_http */
	bool anchor_given;          /* --scep-anchor: over the profile's anchor */
	ae_record *renew;           /* renewal: the current certificate (its record names the URL and profile) */
	ae_record *retrieve;        /* retrieval: a pending request (its record names the URL), polled with CertPoll */
} ae_cli_scep;

/* --insecure-http and --scep-anchor FILE: over the configuration's
 * scep_allow_http and scep_anchor for this run. */
ae_err ae_cli_scep_flags(ae_ctx *ctx, ae_cli_session *s, bool insecure_http, const char *anchor);

/* Enrolls, renews (A->renew) or retrieves a pending request (A->retrieve)
 * over SCEP; prints the outcome. */
ae_err ae_cli_enroll_scep(ae_ctx *ctx, ae_cli_session *s, const ae_cli_scep *a);

#endif
