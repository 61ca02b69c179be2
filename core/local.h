/*
 * local.h - the local side of a context for the programs: its state
 * directory, its key store, and recovery after an interrupted run.
 */
#ifndef AE_LOCAL_H
#define AE_LOCAL_H

#include "conf.h"
#include "icpr.h"
#include "error.h"
#include "keystore.h"
#include "policy.h"
#include "store.h"

#include <stdbool.h>

typedef struct {
	bool machine;
	char *state_dir;   /* records and certificates */
	char *store_spec;  /* "pkcs11:..." or "file:/dir" as configured */
	char *store_safe;  /* the same without pin-value, fit for records and output */
} ae_local;

/* Fills L from CONF for the machine or the user context (defaults:
 * /var/lib/autoenroll, $XDG_DATA_HOME/autoenroll; keys in the same
 * directory unless store is set). */
ae_err ae_local_init(ae_ctx *ctx, const ae_conf *conf, bool machine, ae_local *l);
void ae_local_clear(ae_local *l);

/* Removes what runs that died left behind: records still in state "new"
 * and their keys.  Returns the number removed in *REMOVED. */
ae_err ae_local_recover(ae_ctx *ctx, ae_store *st, ae_keystore *ks, const ae_local *l, unsigned *removed);

/* A new record (state "new") for a request for T from CA (may be NULL)
 * under policy P, with a fresh id that is also the key's; NULL when out of
 * memory. */
ae_record *ae_local_new_record(const ae_local *l, const ae_policy *p, const ae_template *t, const ae_ca *ca);

/* Makes the key for record REC as template T asks (algorithm, size at
 * least 2048 or the template's minimum, exportable or not, label naming
 * the template). */
ae_err ae_local_make_key(ae_ctx *ctx, ae_keystore *ks, const ae_template *t, const ae_record *rec,
                         ae_key **out);

/* Undoes a request that failed before a CA took it: its key and record
 * go now rather than at the next run.  Quiet: the caller has already
 * reported what failed. */
void ae_local_abandon(ae_store *st, ae_keystore *ks, const ae_record *rec);

/* Installs what CA issued for record REC (key KEY, template TPL): checks
 * the certificate (chain to AD's roots, key, template), stores it next to
 * the key on the token, as a file, then marks the record issued.  A crash
 * in between leaves a pending/new record the next run retries, never a
 * record pointing at nothing.  *CERT_OUT (optional) gets a reference. */
ae_err ae_local_install(ae_ctx *ctx, ae_store *st, ae_keystore *ks, const ae_policy *p, ae_record *rec,
                        ae_key *key, const ae_template *tpl, const ae_ca *ca, const ae_icpr_result *res,
                        X509 **cert_out);

/* Sets CTX's message for a disposition that is neither issued nor pending
 * (denied, error, HRESULT) and returns AE_ERR_DENIED.  *HR_OUT (optional)
 * gets the HRESULT that explains it. */
ae_err ae_local_refusal(ae_ctx *ctx, const ae_icpr_result *res, const char *tpl, const char *ca,
                        const char *caller, uint32_t *hr_out);

/* A keystore spec with any pin-value attribute removed; caller frees. */
char *ae_spec_without_pin(const char *spec);

#endif
