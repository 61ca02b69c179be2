/*
 * cmd-request.c - "autoenroll request": make a key in the configured store
 * and write the request a Windows client would send for a template, like
 * certreq -new.  The request is remembered in the REQUEST store.
 */
#include "config.h"

#include "cli.h"
#include "csr.h"
#include "session.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static void
request_usage(FILE *f)
{
	fprintf(f, "Usage: autoenroll request --template NAME [--user | --machine] --out FILE\n"
	           "                          [--subject DN] [--dns NAME]... [-c FILE] [-v]\n");
}

int
ae_cmd_request(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "template", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },
		{ "user", no_argument, NULL, 'u' },
		{ "machine", no_argument, NULL, 'm' },
		{ "subject", required_argument, NULL, 's' },
		{ "dns", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tpl_name = NULL, *out_path = NULL, *subject = NULL;
	char **dns = NULL;
	bool user = false, machine = false;
	ae_cli_session s = { 0 };
	const ae_policy *p;
	ae_txn *txn = NULL;
	char *pem = NULL, *default_subject = NULL;
	const ae_policy_item *it;
	const ae_template *t;
	int rc = AE_EXIT_FAILURE, c;

	while ((c = getopt_long(argc, argv, "t:o:c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 't': tpl_name = optarg; break;
		case 'o': out_path = optarg; break;
		case 'u': user = true; break;
		case 'm': machine = true; break;
		case 's': subject = optarg; break;
		case 'd':
			if (!ae_strv_append(&dns, optarg))
				goto oom;
			break;
		case 'c': g->config_path = optarg; break;
		case 'v': g->verbosity++; ae_cli_setup_log(ctx, g); break;
		case 'h': request_usage(stdout); ae_strv_free(dns); return AE_EXIT_OK;
		default: request_usage(stderr); ae_strv_free(dns); return AE_EXIT_USAGE;
		}
	}
	if (optind < argc || (user && machine) || tpl_name == NULL || out_path == NULL) {
		request_usage(stderr);
		ae_strv_free(dns);
		return AE_EXIT_USAGE;
	}
	/* The template as AD describes it now; local state recovered from
	 * interrupted runs; then a record before the key exists, so that the
	 * key can never be orphaned. */
	if (ae_cli_session_open(ctx, g, machine, "request", &s) != AE_OK ||
	    ae_cli_session_template(ctx, &s, tpl_name, machine, &it) != AE_OK)
		goto fail;
	t = it->tpl;
	p = s.policy;
	if (!it->enroll)
		ae_log(ctx, AE_LOG_WARNING, "%s has no Enroll right on %s: a CA will refuse this request",
		       p->account.display, t->name);
	if (subject == NULL && (t->name_flags & AE_NF_ENROLLEE_SUPPLIES_SUBJECT)) {
		/* The enrollee must name itself: its DNS name or account. */
		char host[256] = "";
		const char *cn;
		gethostname(host, sizeof(host) - 1);
		cn = machine ? (p->account.dns_host_name ? p->account.dns_host_name : host)
		             : (p->account.upn ? p->account.upn : p->account.sam);
		if (asprintf(&default_subject, "CN=%s", cn) < 0)
			goto oom;
		subject = default_subject;
	}
	{
		ae_txn_request rq = {
			.tpl = t,
			.ca = it->cas ? ae_policy_find_ca(p, it->cas[0]) : NULL,
			.subject = subject,
			.san_dns = dns,
		};
		if (ae_txn_begin(ctx, &s.env, &rq, &txn) != AE_OK || ae_csr_to_pem(ctx, txn->req, &pem) != AE_OK)
			goto fail;
	}
	if (ae_write_file_atomic(ctx, out_path, pem, strlen(pem), 0644) != AE_OK)
		goto fail;
	ae_test_crash_point("request-after-out");
	if (ae_txn_keep_as_request(ctx, &s.env, txn) != AE_OK)
		goto fail;

	printf("Request for %s (%s, version %u.%u) written to %s\n", t->name, t->display_name,
	       t->major, t->minor, out_path);
	printf("  key      %s\n", ae_key_uri(txn->key));
	printf("  store    %s (REQUEST store, id %s)\n", ae_store_dir(s.st), txn->rec->id);
	if (it->cas != NULL)
		printf("  CA       %s\n", it->cas[0]);
	if (s.recovered > 0)
		printf("  cleaned  %u interrupted request%s\n", s.recovered, s.recovered == 1 ? "" : "s");
	rc = AE_EXIT_OK;
	goto cleanup;
oom:
	ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
fail:
	ae_cli_error(ctx);
cleanup:
	ae_txn_free(&s.env, txn);
	free(pem);
	free(default_subject);
	ae_cli_session_clear(&s);
	ae_strv_free(dns);
	return rc;
}
