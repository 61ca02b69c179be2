/*
 * cmd-diagnose.c - "autoenroll diagnose": runs every check of
 * core/diagnose.h and prints the report, as a table or as JSON (the
 * format is documented in autoenroll(8) and kept stable).
 */
#include "config.h"

#include "cli.h"
#include "diagnose.h"
#include "gpread.h"
#include "json.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
count(const ae_diag_report *r, size_t counts[4])
{
	memset(counts, 0, 4 * sizeof(counts[0]));
	for (size_t i = 0; i < r->count; i++)
		counts[r->checks[i].status]++;
}

static void
print_json(const ae_diag_report *r, bool machine, double seconds)
{
	size_t counts[4];
	ae_json j;

	count(r, counts);
	ae_json_init(&j);
	ae_json_begin_object(&j, NULL);
	ae_json_int(&j, "format_version", 1);
	ae_json_string(&j, "context", machine ? "machine" : "user");
	ae_json_bool(&j, "ok", counts[AE_DIAG_FAIL] == 0);
	ae_json_int(&j, "milliseconds", (long long)(seconds * 1000));
	ae_json_begin_object(&j, "summary");
	for (int s = 0; s < 4; s++)
		ae_json_int(&j, ae_diag_status_name((ae_diag_status)s), (long long)counts[s]);
	ae_json_end_object(&j);
	ae_json_begin_array(&j, "checks");
	for (size_t i = 0; i < r->count; i++) {
		const ae_diag_check *c = &r->checks[i];
		ae_json_begin_object(&j, NULL);
		ae_json_string(&j, "id", c->id);
		ae_json_string(&j, "title", c->title);
		ae_json_string(&j, "status", ae_diag_status_name(c->status));
		ae_json_string(&j, "cause", c->cause);
		ae_json_string(&j, "fix", c->fix);
		ae_json_string(&j, "command", c->command);
		ae_json_begin_object(&j, "details");
		for (size_t k = 0; c->details != NULL && c->details[k] != NULL && c->details[k + 1] != NULL; k += 2)
			ae_json_string(&j, c->details[k], c->details[k + 1]);
		ae_json_end_object(&j);
		ae_json_int(&j, "milliseconds", (long long)(c->seconds * 1000));
		ae_json_end_object(&j);
	}
	ae_json_end_array(&j);
	ae_json_end_object(&j);
	ae_cli_print_json(&j);
}

static void
print_text(const ae_diag_report *r, bool machine, bool verbose, double seconds)
{
	static const char *const tags[] = { "PASS", "WARN", "FAIL", "skip" };
	size_t counts[4], w = 8;

	count(r, counts);
	for (size_t i = 0; i < r->count; i++)
		if (strlen(r->checks[i].id) > w)
			w = strlen(r->checks[i].id);
	printf("Diagnosis of autoenrollment, %s context\n\n", machine ? "machine" : "user");
	for (size_t i = 0; i < r->count; i++) {
		const ae_diag_check *c = &r->checks[i];
		printf("%s  %-*s  %s\n", tags[c->status], (int)w, c->id, c->cause);
		if (c->fix != NULL)
			printf("      %-*s  fix: %s\n", (int)w, "", c->fix);
		if (c->command != NULL)
			printf("      %-*s  run: %s\n", (int)w, "", c->command);
		for (size_t k = 0; verbose && c->details && c->details[k] && c->details[k + 1]; k += 2)
			printf("      %-*s  %s: %s\n", (int)w, "", c->details[k], c->details[k + 1]);
	}
	printf("\n%zu checks in %.1f s: %zu passed, %zu warnings, %zu failed, %zu skipped\n", r->count, seconds,
	       counts[AE_DIAG_PASS], counts[AE_DIAG_WARN], counts[AE_DIAG_FAIL], counts[AE_DIAG_SKIP]);
}

static void
diagnose_usage(FILE *f)
{
	fprintf(f, "Usage: autoenroll diagnose [--user | --machine] [--json] [--ca NAME] [--scep URL|PROFILE] [-c FILE] [-v]\n");
}

int
ae_cmd_diagnose(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", no_argument, NULL, 'u' },
		{ "machine", no_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "ca", required_argument, NULL, 'a' },
		{ "scep", required_argument, NULL, 'S' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	ae_diagnose_opts o = { .group_policy = ae_gp_diag };
	bool json = false, user = false;
	ae_diag_report r;
	ae_conf *conf = NULL;
	double start;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'u': user = true; break;
		case 'm': o.machine = true; break;
		case 'j': json = true; break;
		case 'a': o.ca = optarg; break;
		case 'S': o.scep = optarg; break;
		case 'c': g->config_path = optarg; break;
		case 'v': g->verbosity++; break;
		case 'h': diagnose_usage(stdout); return AE_EXIT_OK;
		default: diagnose_usage(stderr); return AE_EXIT_USAGE;
		}
	}
	if (optind < argc || (user && o.machine)) {
		diagnose_usage(stderr);
		return AE_EXIT_USAGE;
	}
	/* The checks' own failures are the report; log lines would only
	 * repeat them. */
	if (g->verbosity < 2)
		ae_ctx_set_log(ctx, NULL, NULL, AE_LOG_ERR);
	if (ae_cli_load_conf(ctx, g, &conf) != AE_OK) {
		ae_cli_error(ctx);
		return AE_EXIT_FAILURE;
	}
	start = ae_monotonic_seconds();
	ae_diag_init(&r);
	if (ae_diagnose(ctx, conf, &o, &r) != AE_OK) {
		ae_cli_error(ctx);
		ae_diag_clear(&r);
		ae_conf_free(conf);
		return AE_EXIT_FAILURE;
	}
	if (json)
		print_json(&r, o.machine, ae_monotonic_seconds() - start);
	else
		print_text(&r, o.machine, g->verbosity > 0, ae_monotonic_seconds() - start);
	rc = ae_diag_worst(&r) == AE_DIAG_FAIL ? AE_EXIT_FAILURE : AE_EXIT_OK;
	ae_diag_clear(&r);
	ae_conf_free(conf);
	return fflush(stdout) == 0 ? rc : AE_EXIT_FAILURE;
}
