/*
 * pulse.h - one pulse at a time per context: a lock in the state
 * directory, and triggers that arrive while a pulse runs are coalesced
 * into one more pulse rather than lost or run side by side.
 *
 * The last result is kept as DIR/last-pulse.json for `autoenroll pulse
 * --wait` and `autoenroll status`.
 */
#ifndef AE_PULSE_H
#define AE_PULSE_H

#include "conf.h"
#include "engine.h"
#include "error.h"

#include <stdbool.h>

typedef enum {
	AE_PULSE_RAN,        /* this process ran the pulse (*RESULT is set) */
	AE_PULSE_COALESCED,  /* another pulse was running: it runs once more for us */
} ae_pulse_outcome;

/* Runs a pulse for OPTS's context under the context's lock.  WAIT: when
 * a pulse is running, wait for it and then run ours; otherwise coalesce.
 * A trigger that arrives during our pulse makes us run again (at most a
 * few times).  *RESULT is the last pulse's result (NULL when coalesced). */
ae_err ae_pulse_locked(ae_ctx *ctx, const ae_conf *conf, const ae_engine_opts *opts, bool wait,
                       ae_pulse_outcome *outcome, ae_pulse_result **result);

/* The state directory of a context (caller frees). */
ae_err ae_pulse_state_dir(ae_ctx *ctx, const ae_conf *conf, bool machine, char **out);

#endif
