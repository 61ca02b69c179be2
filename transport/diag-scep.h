/*
 * diag-scep.h - the checks of `autoenroll diagnose` for one SCEP server
 * (an [scep NAME] profile of the context, or --scep URL): its host in
 * DNS, its TLS certificate, GetCACaps (the algorithms offered), GetCACert
 * (the CA and RA certificates chaining to AD's roots or the anchor), and
 * the RA certificates' validity and key usages.  Each failure with the
 * Windows code event 86 would carry.
 */
#ifndef AE_DIAG_SCEP_H
#define AE_DIAG_SCEP_H

#include "conf.h"
#include "diag.h"
#include "pki.h"

/* Adds the checks scep.NAME.*: NAME the profile's (or the URL's host),
 * URL the SCEP URL, ANCHOR the extra roots (NULL: none), ALLOW_HTTP
 * whether plain HTTP is allowed for it. */
void ae_diag_scep(ae_ctx *ctx, const ae_conf *conf, const ae_pki *pki, const char *name, const char *url,
                  const char *anchor, bool allow_http, ae_diag_report *r);

#endif
