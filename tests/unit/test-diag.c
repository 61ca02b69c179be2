/*
 * test-diag.c - the report of autoenroll diagnose (core/diag.h): checks
 * in order, fix and details, the worst status (skip counts as pass).
 */
#include "config.h"

#include "diag.h"
#include "tap.h"

#include <string.h>

int
main(void)
{
	ae_diag_report r;
	ae_diag_check *c;

	ae_diag_init(&r);
	tap_ok(ae_diag_worst(&r) == AE_DIAG_PASS, "an empty report passes");
	ae_diag_begin(&r);
	c = ae_diag_add(&r, "dns.srv", "DNS", AE_DIAG_PASS, "%d DC", 1);
	ae_diag_detail(c, "dc1.corp.test", "port %u", 389u);
	ae_diag_add(&r, "group-policy", "Group Policy", AE_DIAG_SKIP, "not read yet");
	tap_ok(ae_diag_worst(&r) == AE_DIAG_PASS, "skip counts as pass");
	c = ae_diag_add(&r, "time.offset", "Time", AE_DIAG_WARN, "100 s");
	ae_diag_fix(c, "chronyc makestep", "synchronise");
	tap_ok(ae_diag_worst(&r) == AE_DIAG_WARN, "a warning is the worst so far");
	c = ae_diag_add(&r, "machine.keytab", "Keytab", AE_DIAG_FAIL, "stale");
	ae_diag_fix(c, NULL, "refresh it");
	tap_ok(ae_diag_worst(&r) == AE_DIAG_FAIL, "a failure is the worst");
	tap_ok(r.count == 4 && strcmp(r.checks[0].id, "dns.srv") == 0 && strcmp(r.checks[3].id, "machine.keytab") == 0,
	       "checks stay in order");
	tap_ok(strcmp(r.checks[0].cause, "1 DC") == 0 && r.checks[0].fix == NULL &&
	       strcmp(r.checks[0].details[0], "dc1.corp.test") == 0 && strcmp(r.checks[0].details[1], "port 389") == 0 &&
	       r.checks[0].details[2] == NULL, "cause, no fix on a pass, details as name/value pairs");
	tap_ok(strcmp(r.checks[2].command, "chronyc makestep") == 0 && r.checks[3].command == NULL &&
	       strcmp(r.checks[3].fix, "refresh it") == 0, "fix and command");
	tap_ok(ae_diag_status_of(&r, "time.offset") == AE_DIAG_WARN && ae_diag_status_of(&r, "nope") == AE_DIAG_SKIP,
	       "status by id");
	tap_is_str(ae_diag_status_name(AE_DIAG_FAIL), "fail", "status names");
	ae_diag_fix(NULL, NULL, "ignored");
	ae_diag_detail(NULL, "a", "b");
	tap_ok(true, "fix and detail accept NULL (out of memory in ae_diag_add)");
	ae_diag_clear(&r);
	tap_ok(r.count == 0 && r.checks == NULL, "cleared");
	return tap_done();
}
