/*
 * cli.h - shared pieces of the autoenroll command-line program.
 */
#ifndef AE_CLI_H
#define AE_CLI_H

#include "conf.h"
#include "error.h"
#include "json.h"

#include <stdbool.h>

/* Exit codes of autoenroll(8). */
enum {
	AE_EXIT_OK = 0,
	AE_EXIT_FAILURE = 1, /* the message says what to check */
	AE_EXIT_USAGE = 2,
	AE_EXIT_SOME_FAILED = 3, /* pulse: it ran, but some templates failed or were denied */
};

typedef struct {
	const char *config_path; /* -c; NULL: the default */
	int verbosity;           /* -v count */
	bool quiet;
	const char *policy_server; /* --policy-server URL: this one instead of the configured ones */
} ae_cli_globals;

/* Sets up CTX's log sink on stderr for the verbosity in G. */
void ae_cli_setup_log(ae_ctx *ctx, const ae_cli_globals *g);
/* Loads the configuration named by G (an explicit -c must exist); with
 * G->policy_server, it is the one policy server of both contexts. */
ae_err ae_cli_load_conf(ae_ctx *ctx, const ae_cli_globals *g, ae_conf **out);
/* Prints "autoenroll: MESSAGE" for the last error on CTX. */
void ae_cli_error(ae_ctx *ctx);
/* Finishes J and prints it on stdout. */
void ae_cli_print_json(ae_json *j);

int ae_cmd_policy(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv);
int ae_cmd_request(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv);
int ae_cmd_enroll(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv);
int ae_cmd_retrieve(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv);
int ae_cmd_pulse(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv);
int ae_cmd_status(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv);
int ae_cmd_diagnose(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv);
int ae_cmd_config(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv);
int ae_cmd_gpo(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv);

#endif
