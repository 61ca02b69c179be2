/*
 * diagnose.h - `autoenroll diagnose`: every check, in order, into one
 * report (core/diag.h).  DNS, time, the context's credentials, the sealed
 * LDAP bind (net/diag-net.h); Group Policy (not read yet: skipped); the
 * enrollment policy; each CA (transport/diag-ca.h); each template set up
 * for the caller; the local state directory, key store, token and pulse
 * lock.  A failure never stops the checks after it; checks that cannot
 * run for want of an earlier one are skipped with the reason.
 */
#ifndef AE_DIAGNOSE_H
#define AE_DIAGNOSE_H

#include "conf.h"
#include "diag.h"
#include "error.h"

#include <stdbool.h>

typedef struct {
	bool machine;
	const char *ca;     /* only this CA (--ca NAME), or NULL: every CA */
} ae_diagnose_opts;

/* Runs the checks into R (initialised by the caller).  Errors only for
 * memory; every other failure is a check. */
ae_err ae_diagnose(ae_ctx *ctx, const ae_conf *conf, const ae_diagnose_opts *opts, ae_diag_report *r);

#endif
