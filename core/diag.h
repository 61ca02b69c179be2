/*
 * diag.h - the report of `autoenroll diagnose`: an ordered list of checks,
 * each pass, warn, fail or skip, with one sentence for the cause, one for
 * the fix, the command that fixes it where there is one, and details
 * (name/value pairs).  The checks themselves live where their subject
 * does (net/diag-net.c, transport/diag-ca.c, core/diagnose.c); none of
 * them prints, and a failing check never stops the ones after it.
 */
#ifndef AE_DIAG_H
#define AE_DIAG_H

#include "error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
	AE_DIAG_PASS = 0,
	AE_DIAG_WARN,
	AE_DIAG_FAIL,
	AE_DIAG_SKIP,
} ae_diag_status;

typedef struct {
	char *id;          /* stable: "dns.srv", "ca.CORP-CA1.endpoint-mapper" */
	char *title;       /* what is checked, a few words */
	ae_diag_status status;
	char *cause;       /* one sentence: what was found (also on pass) */
	char *fix;         /* one sentence, NULL on pass */
	char *command;     /* the command that fixes it, NULL if none */
	char **details;    /* name, value, name, value, ..., NULL */
	double seconds;    /* wall time of the check */
} ae_diag_check;

typedef struct {
	ae_diag_check *checks;
	size_t count;
	size_t cap;
	double started;    /* monotonic seconds when the current check began */
} ae_diag_report;

void ae_diag_init(ae_diag_report *r);
void ae_diag_clear(ae_diag_report *r);

/* Starts timing the next check. */
void ae_diag_begin(ae_diag_report *r);
/* Appends a check: ID and TITLE, STATUS, the cause (printf FMT).  Returns
 * the check, for ae_diag_fix / ae_diag_detail, or NULL when out of memory
 * (the helpers accept NULL). */
ae_diag_check *ae_diag_add(ae_diag_report *r, const char *id, const char *title, ae_diag_status status,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The fix sentence, and the command (may be NULL). */
void ae_diag_fix(ae_diag_check *c, const char *command, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ae_diag_detail(ae_diag_check *c, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The worst status among the checks (skip counts as pass). */
ae_diag_status ae_diag_worst(const ae_diag_report *r);
/* The status of the check ID, or AE_DIAG_SKIP when there is none. */
ae_diag_status ae_diag_status_of(const ae_diag_report *r, const char *id);
/* "pass", "warn", "fail", "skip". */
const char *ae_diag_status_name(ae_diag_status s);

#endif
