/*
 * autoenroll.c - the autoenroll command: entry point, global options and
 * command dispatch.  See autoenroll(8).
 */
#include "config.h"

#include "ces.h"
#include "cli.h"
#include "keystore.h"
#include "pinentry.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
log_stderr(void *data, ae_log_level level, const char *msg)
{
	const char *tag = level <= AE_LOG_ERR ? "error: " : level == AE_LOG_WARNING ? "warning: " :
	                  level == AE_LOG_DEBUG ? "debug: " : "";
	(void)data;
	fprintf(stderr, "autoenroll: %s%s\n", tag, msg);
}

void
ae_cli_setup_log(ae_ctx *ctx, const ae_cli_globals *g)
{
	ae_log_level max = AE_LOG_WARNING;
	if (g->quiet)
		max = AE_LOG_ERR;
	else if (g->verbosity == 1)
		max = AE_LOG_INFO;
	else if (g->verbosity >= 2)
		max = AE_LOG_DEBUG;
	ae_ctx_set_log(ctx, log_stderr, NULL, max);
}

ae_err
ae_cli_load_conf(ae_ctx *ctx, const ae_cli_globals *g, ae_conf **out)
{
	ae_err err = g->config_path != NULL ? ae_conf_load(ctx, g->config_path, true, out)
	                                    : ae_conf_load(ctx, NULL, false, out);

	if (err == AE_OK && g->policy_server != NULL) {
		char **one = NULL, **two = NULL;
		if (!ae_strv_append(&one, g->policy_server) || !ae_strv_append(&two, g->policy_server)) {
			ae_strv_free(one);
			ae_strv_free(two);
			ae_conf_free(*out);
			*out = NULL;
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
		ae_strv_free((*out)->user_policy_servers);
		ae_strv_free((*out)->machine_policy_servers);
		(*out)->user_policy_servers = one;
		(*out)->machine_policy_servers = two;
	}
	return err;
}

void
ae_cli_error(ae_ctx *ctx)
{
	fprintf(stderr, "autoenroll: %s\n", ae_get_message(ctx));
}

void
ae_cli_print_json(ae_json *j)
{
	char *out = ae_json_finish(j);

	if (out != NULL)
		fputs(out, stdout);
	free(out);
}

static void
usage(FILE *f)
{
	fprintf(f,
	        "Usage: autoenroll [-c FILE] [-v] [-q] COMMAND [OPTIONS]\n"
	        "\n"
	        "Windows-compatible certificate autoenrollment for Linux.\n"
	        "\n"
	        "Commands:\n"
	        "  policy [--user | --machine] [--json]\n"
	        "        show the enrollment policy Active Directory publishes for the\n"
	        "        caller: CAs, templates, and what autoenrollment does with each\n"
	        "  request --template NAME [--user | --machine] --out FILE\n"
	        "        make a key in the configured store and write the request for a\n"
	        "        template (like certreq -new); it is kept in the REQUEST store\n"
	        "  enroll --template NAME [--user | --machine] [--ca NAME]\n"
	        "        enroll for a certificate now over MS-ICPR (like certreq -enroll)\n"
	        "  retrieve --ca NAME --request-id N [--user | --machine]\n"
	        "        fetch a pending request's certificate when the CA has issued it\n"
	        "  status [--user | --machine] [--json] [--export DIR]\n"
	        "        the certificates and requests of the local store\n"
	        "  pulse [--machine | --user] [--wait] [--json] [--refresh]\n"
	        "        run autoenrollment now (like certutil -pulse): the machine's\n"
	        "        (needs root) or the calling user's\n"
	        "  diagnose [--user | --machine] [--json] [--ca NAME]\n"
	        "        check everything autoenrollment needs, in order (DNS, time,\n"
	        "        credentials, LDAP, each CA, each template, the local side):\n"
	        "        each check passes, warns or fails with its cause and fix\n"
	        "  config check [--json]\n"
	        "        check the whole configuration, key stores included: every\n"
	        "        problem on a line of its own (like nginx -t)\n"
	        "  gpo [--user | --machine] [--json]\n"
	        "        the Group Policy Objects that apply, and why (like gpresult)\n"
	        "  gpo --file PATH [--json]\n"
	        "        decode a Group Policy Registry.pol file: every entry\n"
	        "\n"
	        "Options:\n"
	        "  -c, --config FILE  configuration file (default %s)\n"
	        "  -v, --verbose      more detail on stderr (twice for debug)\n"
	        "  -q, --quiet        errors only on stderr\n"
	        "  -h, --help         this text\n"
	        "  -V, --version      the version\n"
	        "\n"
	        "See autoenroll(8) and autoenroll.conf(5).\n",
	        AE_CONF_DEFAULT_PATH);
}

/* cep_client_key = pkcs11:... (transport/ces.h): a token PIN the URI does
 * not give is asked here through pinentry, as for enrollment's keys */
static ae_err
cep_key_open(ae_ctx *ctx, const ae_conf *conf, const char *uri, const char *setting, X509 **cert_out,
             EVP_PKEY **pkey_out, void **handle_out)
{
	return ae_key_open_uri_evp(ctx, uri, setting, ae_pinentry_prompt, conf->pinentry, cert_out, pkey_out,
	                           handle_out);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	ae_cli_globals g = { 0 };
	ae_ctx *ctx;
	const char *cmd;
	int c, rc;

	/* '+': stop at the command; its own options follow it. */
	while ((c = getopt_long(argc, argv, "+c:vqhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': g.config_path = optarg; break;
		case 'v': g.verbosity++; break;
		case 'q': g.quiet = true; break;
		case 'h': usage(stdout); return AE_EXIT_OK;
		case 'V': printf("autoenroll %s\n", PACKAGE_VERSION); return AE_EXIT_OK;
		default: usage(stderr); return AE_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return AE_EXIT_USAGE;
	}
	cmd = argv[optind];
	ctx = ae_ctx_new();
	if (ctx == NULL) {
		fprintf(stderr, "autoenroll: out of memory\n");
		return AE_EXIT_FAILURE;
	}
	ae_cli_setup_log(ctx, &g);
	ae_cep_set_key_opener(cep_key_open, ae_key_uri_close); /* cep_client_key = pkcs11:... */
	ae_cep_set_password_prompt(ae_pinentry_cep_password); /* cep_password = pinentry: asked here, never in pulses */
	argc -= optind;
	argv += optind;
	optind = 0; /* reset getopt for the command's own options */
	if (strcmp(cmd, "policy") == 0) {
		rc = ae_cmd_policy(ctx, &g, argc, argv);
	} else if (strcmp(cmd, "request") == 0) {
		rc = ae_cmd_request(ctx, &g, argc, argv);
	} else if (strcmp(cmd, "enroll") == 0) {
		rc = ae_cmd_enroll(ctx, &g, argc, argv);
	} else if (strcmp(cmd, "retrieve") == 0) {
		rc = ae_cmd_retrieve(ctx, &g, argc, argv);
	} else if (strcmp(cmd, "status") == 0) {
		rc = ae_cmd_status(ctx, &g, argc, argv);
	} else if (strcmp(cmd, "pulse") == 0) {
		rc = ae_cmd_pulse(ctx, &g, argc, argv);
	} else if (strcmp(cmd, "diagnose") == 0) {
		rc = ae_cmd_diagnose(ctx, &g, argc, argv);
	} else if (strcmp(cmd, "config") == 0) {
		rc = ae_cmd_config(ctx, &g, argc, argv);
	} else if (strcmp(cmd, "gpo") == 0) {
		rc = ae_cmd_gpo(ctx, &g, argc, argv);
	} else if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		rc = AE_EXIT_OK;
	} else {
		fprintf(stderr, "autoenroll: unknown command \"%s\" (see autoenroll --help)\n", cmd);
		rc = AE_EXIT_USAGE;
	}
	ae_ctx_free(ctx);
	return rc;
}
