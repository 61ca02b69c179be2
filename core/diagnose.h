/*
 * diagnose.h - `autoenroll diagnose`: every check, in order, into one
 * report (core/diag.h).  DNS, time, the context's credentials, the sealed
 * LDAP bind (net/diag-net.h); the enrollment policy; Group Policy (the
 * GROUP_POLICY hook, from libaesysvol: policy/gpread.h); each CA (transport/diag-ca.h); each template set up
 * for the caller; each SCEP profile of the context (transport/diag-scep.h);
 * the local state directory, key store, token and pulse
 * lock.  A failure never stops the checks after it; checks that cannot
 * run for want of an earlier one are skipped with the reason.
 */
#ifndef AE_DIAGNOSE_H
#define AE_DIAGNOSE_H

#include "conf.h"
#include "diag.h"
#include "error.h"
#include "policy.h"
#include "source.h"

#include <stdbool.h>

/* The Group Policy check, given the enrollment policy's source and the
 * caller's policy.  A hook, so that only the programs that read Group
 * Policy load Samba's libraries (policy/gpread.h: ae_gp_diag). */
typedef void (*ae_diagnose_gp_fn)(ae_ctx *ctx, const ae_conf *conf, ae_policy_source *src, const ae_policy *p,
                                  bool machine, ae_diag_report *r);

typedef struct {
	bool machine;
	const char *ca;     /* only this CA (--ca NAME), or NULL: every CA */
	const char *scep;   /* --scep URL|PROFILE: this SCEP server instead of the profiles */
	ae_diagnose_gp_fn group_policy; /* NULL: the check is skipped */
} ae_diagnose_opts;

/* Runs the checks into R (initialised by the caller).  Errors only for
 * memory; every other failure is a check. */
ae_err ae_diagnose(ae_ctx *ctx, const ae_conf *conf, const ae_diagnose_opts *opts, ae_diag_report *r);

#endif
