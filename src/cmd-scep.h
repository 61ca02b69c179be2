/*
 * cmd-scep.h - enrollment and renewal over SCEP by hand (cmd-scep.c).
 */
#ifndef AE_CMD_SCEP_H
#define AE_CMD_SCEP_H

#include "session.h"

/* The template name SCEP records carry (the server picks the template). */
#define AE_SCEP_TEMPLATE "SCEP"

typedef struct {
	const char *url;            /* new: the mscep.dll URL */
	const char *subject;        /* new: the subject DN */
	char *const *dns;           /* new: DNS names */
	const char *challenge_file; /* new: the challenge on its first line */
	bool from_admin;            /* new: the challenge from mscep_admin (Kerberos) */
	bool machine;
	ae_record *renew;           /* renewal: the current certificate (its record names the URL) */
	ae_key *renew_key;
	ae_record *retrieve;        /* retrieval: a pending request (its record names the URL), polled with CertPoll */
} ae_cli_scep;

/* Whether REC was issued over SCEP (renewed over SCEP again). */
bool ae_cli_scep_record(const ae_record *rec);

/* --insecure-http and --scep-anchor FILE: over the configuration's
 * scep_allow_http and scep_anchor for this run. */
ae_err ae_cli_scep_flags(ae_ctx *ctx, ae_cli_session *s, bool insecure_http, const char *anchor);

/* Enrolls, renews (A->renew) or retrieves a pending request (A->retrieve)
 * over SCEP; prints the outcome. */
ae_err ae_cli_enroll_scep(ae_ctx *ctx, ae_cli_session *s, const ae_cli_scep *a);

#endif
