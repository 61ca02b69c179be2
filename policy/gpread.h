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
	unsigned ldap_round_trips; /* the GPO searches */
	double ldap_seconds;
} ae_gp_result;

/* Group Policy for P's account (MACHINE: the computer half) over SRC's
 * session, the files cached under the context's state directory.  *OUT
 * NULL on error (LDAP, a malformed gPLink, out of memory); a GPO whose
 * file cannot be read is a problem of that GPO, not an error. */
ae_err ae_gp_read(ae_ctx *ctx, const ae_conf *conf, ae_policy_source *src, const ae_policy *p, bool machine,
                  ae_gp_result **out);
void ae_gp_result_free(ae_gp_result *r);

/* For a pulse (ae_engine_opts.group_policy): Group Policy's AEPolicy and
 * the GPO it comes from (*GPO NULL when no GPO sets it); the GPOs whose
 * files could not be used are warnings naming them. */
ae_err ae_gp_pulse_aepolicy(ae_ctx *ctx, const ae_conf *conf, ae_policy_source *src, const ae_policy *policy,
                            bool machine, uint32_t *aepolicy, char **gpo);

#endif
