/*
 * gpread.h - Group Policy for a context, end to end: which GPOs apply
 * (gpo.h, over the policy source's LDAP session), each applied GPO's
 * Registry.pol (sysvol.h: the cache, else SYSVOL over SMB), and the
 * autoenrollment settings they make (gpsettings.h).  What `autoenroll
 * gpo` shows and what a pulse applies.  Part of libaesysvol.
 */
#ifndef AE_GPREAD_H
#define AE_GPREAD_H

#include "conf.h"
#include "diag.h"
#include "gpo.h"
#include "gpsettings.h"
#include "policy.h"
#include "source.h"
#include "sysvol.h"

typedef struct {
	ae_som *soms;
	size_t n_soms;
	ae_gpo_object *objs;
	size_t n_objs;
	ae_gpo_list *list;
	/* per item of the list */
	ae_regpol **pols;
	int *source;             /* ae_sysvol_source, -1: not read (not applied) */
	char **problem;          /* the file could not be used: why (nothing of it applies) */
	ae_gp_settings *settings;
	ae_sysvol_stats sysvol;
	/* a user's list under loopback processing (MS-GPOL 3.2.5.1): the
	 * computer's UserPolicyMode and DN as the machine's Group Policy
	 * published them (conf computer_gp_file), the computer's SOMs and GPOs
	 * (read with the user's credentials, filtered against the user's token) */
	ae_gp_computer loopback;
	char *loopback_file;       /* where they were read; NULL: not looked for (machine) */
	char *loopback_problem;    /* the file could not be used (no loopback): why */
	ae_som *lb_soms;
	size_t n_lb_soms;
	ae_gpo_object *lb_objs;
	size_t n_lb_objs;
	unsigned ldap_round_trips; /* the GPO searches */
	double ldap_seconds;
} ae_gp_result;

/* Group Policy for P's account (MACHINE: the computer half) over SRC's
 * session, the files cached under the context's state directory.  The
 * machine's publishes the computer's DN and UserPolicyMode in
 * computer_gp_file (root's, world-readable, as Windows keeps them in
 * HKLM); a user's reads them there and, under loopback, reads the GPOs of
 * the computer's OUs with the user's own credentials, as Windows does.  *OUT
 * NULL on error (LDAP, a malformed gPLink, out of memory); a GPO whose
 * file cannot be read is a problem of that GPO, not an error. */
ae_err ae_gp_read(ae_ctx *ctx, const ae_conf *conf, ae_policy_source *src, const ae_policy *p, bool machine,
                  ae_gp_result **out);
void ae_gp_result_free(ae_gp_result *r);

/* For a pulse (ae_engine_opts.group_policy): Group Policy's settings
 * (*SETTINGS NULL until success) and the events about its GPOs (*NOTES):
 * gp-applied for each read anew from SYSVOL, gp-read-failed for each
 * SYSVOL could not give (its cached copy applies) or whose file is
 * damaged (nothing of it applies). */
ae_err ae_gp_pulse_settings(ae_ctx *ctx, const ae_conf *conf, ae_policy_source *src, const ae_policy *policy,
                            bool machine, ae_gp_settings **settings, ae_gp_note **notes, size_t *n_notes);

/* autoenroll diagnose's Group Policy check (ae_diagnose_opts.group_policy):
 * which GPOs apply and were read, and the autoenrollment setting each
 * gives; a GPO whose file could not be used warns, Group Policy that
 * cannot be read at all fails. */
void ae_gp_diag(ae_ctx *ctx, const ae_conf *conf, ae_policy_source *src, const ae_policy *p, bool machine,
                ae_diag_report *r);

#endif
