/*
 * local.h - the local side of a context for the programs: its state
 * directory, its key store, and recovery after an interrupted run.  The
 * enrollment transaction that writes there is core/txn.h.
 */
#ifndef AE_LOCAL_H
#define AE_LOCAL_H

#include "conf.h"
#include "error.h"
#include "keystore.h"
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

/* BASE with its keys in SPEC instead (an SCEP profile's store): the same
 * state directory.  *OUT is cleared with ae_local_clear. */
ae_err ae_local_for_store(ae_ctx *ctx, const ae_local *base, const char *spec, ae_local *out);

/* Removes what runs that died left behind: records still in state "new"
 * and their keys.  Returns the number removed in *REMOVED. */
ae_err ae_local_recover(ae_ctx *ctx, ae_store *st, ae_keystore *ks, const ae_local *l, unsigned *removed);

/* A keystore spec with any pin-value attribute removed; caller frees. */
char *ae_spec_without_pin(const char *spec);

#endif
