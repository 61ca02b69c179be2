/*
 * helper.c - autoenroll-machine and autoenroll-user: run one pulse of
 * their context under the context's lock (see core/pulse.h).
 *
 * autoenroll-machine is what systemd starts at boot and every 8 hours
 * (and what `autoenroll pulse --machine` asks for); it must run as root.
 * autoenroll-user runs as the user, started by `autoenroll pulse --user`
 * and, later, by pam_autoenroll.
 *
 * Exit status: 0 the pulse ran (templates may still have failed: the
 * events say which) or was coalesced with a running one; 1 the pulse
 * failed; 75 (EX_TEMPFAIL) it failed for a reason that passes (network,
 * KDC not ready): the next trigger retries; 2 usage.
 */
#include "config.h"

#include "conf.h"
#include "engine.h"
#include "events.h"
#include "pulse.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef AE_HELPER_MACHINE
#define PROG "autoenroll-machine"
#define MACHINE true
#else
#define PROG "autoenroll-user"
#define MACHINE false
#endif

#define EXIT_TEMPFAIL 75

static void
log_stderr(void *data, ae_log_level level, const char *msg)
{
	(void)data;
	fprintf(stderr, PROG ": %s%s\n", level <= AE_LOG_ERR ? "error: " : level == AE_LOG_WARNING ? "warning: " : "",
	        msg);
}

static void
usage(FILE *f)
{
	fprintf(f, "Usage: " PROG " [--wait] [--json] [--refresh] [-c FILE] [-v]\n"
	           "Runs one %s autoenrollment pulse (see autoenroll(8)).\n",
	        MACHINE ? "machine" : "user");
}

static void
print_result(const ae_pulse_result *r)
{
	printf("Pulse for %s%s%s: %u enrolled, %u renewed, %u retrieved, %u pending, %u failed, %u skipped, %u archived, %u deleted (%.2f s, %u LDAP and %u RPC round trips%s)\n",
	       r->machine ? "local system" : "the user", r->principal ? " as " : "", r->principal ? r->principal : "",
	       r->enrolled, r->renewed, r->retrieved, r->pending, r->failed, r->skipped, r->archived, r->deleted,
	       r->seconds, r->ldap_round_trips, r->rpc_round_trips, r->policy_from_cache ? ", policy from cache" : "");
	for (size_t i = 0; i < r->event_count; i++) {
		const ae_pulse_event *e = &r->events[i];
		if (e->kind == AE_EV_PULSE_STARTED || e->kind == AE_EV_PULSE_COMPLETED)
			continue;
		printf("  %-16s %s\n", ae_event_name(e->kind), e->message ? e->message : "");
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "refresh", no_argument, NULL, 'r' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	bool wait = false, json = false;
	int verbose = 0, c, rc = 1;
	ae_engine_opts eo = { .machine = MACHINE, .emit = true, .ident = PROG };
	ae_pulse_outcome outcome;
	ae_pulse_result *res = NULL;
	ae_conf *conf = NULL;
	ae_ctx *ctx;

	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'w': wait = true; break;
		case 'j': json = true; break;
		case 'r': eo.refresh_policy = true; break;
		case 'i': eo.interactive = true; break;
		case 'c': config = optarg; break;
		case 'v': verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
#ifdef AE_HELPER_MACHINE
	if (geteuid() != 0) {
		fprintf(stderr, PROG ": the machine context needs root (its keytab and key store are root's)\n");
		return 1;
	}
#endif
	ctx = ae_ctx_new();
	if (ctx == NULL)
		return 1;
	ae_ctx_set_log(ctx, log_stderr, NULL, verbose >= 2 ? AE_LOG_DEBUG : verbose ? AE_LOG_INFO : AE_LOG_ERR);
	if (ae_conf_load(ctx, config ? config : ae_conf_default_path(), config != NULL, &conf) != AE_OK) {
		fprintf(stderr, PROG ": %s\n", ae_get_message(ctx));
		goto out;
	}
	if (ae_pulse_locked(ctx, conf, &eo, wait, &outcome, &res) != AE_OK) {
		fprintf(stderr, PROG ": %s\n", ae_get_message(ctx));
		goto out;
	}
	if (outcome == AE_PULSE_COALESCED) {
		if (json)
			printf("{\"format_version\":1,\"coalesced\":true}\n");
		else
			printf("A pulse for %s is running: it runs once more for this trigger.\n",
			       MACHINE ? "local system" : "the user");
		rc = 0;
		goto out;
	}
	if (json) {
		char *s = ae_pulse_result_json(res);
		if (s != NULL)
			fputs(s, stdout);
		free(s);
	} else {
		print_result(res);
	}
	if (res->err != AE_OK) {
		if (!json)
			fprintf(stderr, PROG ": %s\n", res->error ? res->error : "the pulse failed");
		rc = res->retry ? EXIT_TEMPFAIL : 1;
	} else {
		rc = 0;
	}
out:
	ae_pulse_result_free(res);
	ae_conf_free(conf);
	ae_ctx_free(ctx);
	return rc;
}
