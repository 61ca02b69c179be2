/*
 * cmd-config.c - "autoenroll config check": the whole configuration
 * checked at once, like nginx -t: every line, every key and value, key
 * stores parsed and looked at as the programs would use them, every
 * problem on a line of its own.  Reads files only: no network, no token.
 */
#include "config.h"

#include "cli.h"
#include "json.h"
#include "ces.h"
#include "keystore.h"
#include "util.h"
#include "xcep.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static void
config_usage(FILE *f)
{
	fprintf(f, "Usage: autoenroll config check [--json] [-c FILE]\n"
	           "\n"
	           "Checks the configuration (default %s): every problem on a line\n"
	           "of its own, \"FILE:LINE: KEY in [SECTION] ...\"; exit 0 when there is none, 1 otherwise.\n",
	           AE_CONF_DEFAULT_PATH);
}

/* A host name as DNS and Kerberos take it (an IP address passes too). */
static bool
host_name_ok(const char *s)
{
	size_t label = 0;

	if (*s == '\0' || strlen(s) > 253)
		return false;
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		           *s == '-' || *s == '_' || *s == ':' || *s == '[' || *s == ']') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

typedef struct {
	ae_ctx *ctx;
	ae_conf_report *rep;
	const char *file;
} checker;

static void
add(checker *ck, const char *section, const char *key, const char *what)
{
	ae_conf_report_add(ck->rep, ck->file, ae_conf_report_line(ck->rep, section, key), section, key, "%s", what);
}

/* A path the programs open or make: absolute, and when it exists, of the
 * kind expected (WANT: S_IFDIR or S_IFREG). */
static void
check_path(checker *ck, const char *section, const char *key, const char *path, mode_t want, bool must_exist)
{
	struct stat st;
	char what[512];

	if (path == NULL)
		return;
	if (path[0] != '/') {
		snprintf(what, sizeof(what), "must be an absolute path, not \"%s\"", path);
		add(ck, section, key, what);
	} else if (stat(path, &st) != 0) {
		if (errno != ENOENT || must_exist) {
			snprintf(what, sizeof(what), "names %s: %s", path, strerror(errno));
			add(ck, section, key, what);
		}
	} else if ((st.st_mode & S_IFMT) != want) {
		snprintf(what, sizeof(what), "names %s, which is not a %s", path, want == S_IFDIR ? "directory" : "file");
		add(ck, section, key, what);
	}
}

static void
check_store(checker *ck, const char *section, const char *spec, bool machine)
{
	/* A store is checked as its context uses it: root's for the machine,
	 * the caller's own for the user (root checking a user's
	 * configuration cannot tell whose it will be). */
	bool owner = machine ? geteuid() == 0 : geteuid() != 0;

	if (spec == NULL)
		return;
	char what[1024];

	if (ae_keystore_check_spec(ck->ctx, spec, owner) != AE_OK) {
		snprintf(what, sizeof(what), "cannot be used: %s", ae_get_message(ck->ctx));
		add(ck, section, "store", what);
		ae_clear_message(ck->ctx);
	}
}

/* Each entry LDAP: or an https:// URL, with a valid @COST (policy/xcep.h). */
static void
check_policy_servers(checker *ck, const char *section, char *const *list)
{
	ae_policy_server *servers = NULL;
	size_t n = 0;
	char what[1024];

	if (list == NULL)
		return;
	if (ae_policy_servers_parse(ck->ctx, list, &servers, &n) != AE_OK) {
		snprintf(what, sizeof(what), "%s", ae_get_message(ck->ctx));
		add(ck, section, "policy_servers", what);
		ae_clear_message(ck->ctx);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(servers[i].url, "LDAP:") != 0 && strncasecmp(servers[i].url, "https://", 8) != 0) {
			snprintf(what, sizeof(what), "lists \"%.900s\": only LDAP: and https:// policy servers are used",
			         servers[i].url);
			add(ck, section, "policy_servers", what);
		}
	ae_policy_servers_free(servers, n);
}

/* [scep NAME]: what the parser cannot see (files, stores, plain http);
 * reported at the section's line. */
static void
check_scep(checker *ck, const ae_scep_profile *sp, bool allow_http)
{
	char section[80], what[1024];
	const char *files[] = { sp->challenge_file, sp->anchor }, *keys[] = { "challenge_file", "anchor" };
	struct stat st;

	snprintf(section, sizeof(section), "scep %s", sp->name);
	for (size_t i = 0; i < 2; i++) {
		if (files[i] == NULL)
			continue;
		if (stat(files[i], &st) != 0)
			ae_conf_report_add(ck->rep, ck->file, sp->line, section, keys[i], "names %s: %s", files[i],
			                   strerror(errno));
		else if (!S_ISREG(st.st_mode))
			ae_conf_report_add(ck->rep, ck->file, sp->line, section, keys[i], "names %s, which is not a file",
			                   files[i]);
	}
	if (strncasecmp(sp->url, "http://", 7) == 0 && !(sp->allow_http == 1 || (sp->allow_http < 0 && allow_http)))
		ae_conf_report_add(ck->rep, ck->file, sp->line, section, "url",
		                   "is plain http://, refused unless allow_http = yes (or scep_allow_http in [global]): SCEP over HTTP is unprotected");
	if (sp->challenge_file == NULL && !sp->challenge_admin)
		ae_log(ck->ctx, AE_LOG_INFO, "[scep %s] has no challenge: only renewals (signed with the current certificate) work",
		       sp->name);
	if (sp->store != NULL &&
	    ae_keystore_check_spec(ck->ctx, sp->store, sp->user ? geteuid() != 0 : geteuid() == 0) != AE_OK) {
		snprintf(what, sizeof(what), "cannot be used: %s", ae_get_message(ck->ctx));
		ae_conf_report_add(ck->rep, ck->file, sp->line, section, "store", "%s", what);
		ae_clear_message(ck->ctx);
	}
}

static void
check_values(checker *ck, const ae_conf *conf)
{
	char what[512];

	if (conf->domain != NULL && !host_name_ok(conf->domain)) {
		snprintf(what, sizeof(what), "is not a DNS domain name: \"%s\"", conf->domain);
		add(ck, "global", "domain", what);
	}
	for (size_t i = 0; conf->servers != NULL && conf->servers[i] != NULL; i++)
		if (!host_name_ok(conf->servers[i])) {
			snprintf(what, sizeof(what), "lists \"%s\", which is not a host name", conf->servers[i]);
			add(ck, "global", "servers", what);
		}
	check_policy_servers(ck, "user", conf->user_policy_servers);
	check_policy_servers(ck, "machine", conf->machine_policy_servers);
	if ((conf->cep_username == NULL) != (conf->cep_password_file == NULL && conf->cep_password == NULL))
		add(ck, "global", conf->cep_username ? "cep_username" : conf->cep_password ? "cep_password" : "cep_password_file",
		    "needs the other: cep_username and cep_password_file (or cep_password = pinentry) go together");
	if (conf->cep_password != NULL && strcmp(conf->cep_password, "pinentry") != 0)
		add(ck, "global", "cep_password",
		    "only \"pinentry\" (asked in interactive runs): never the password itself, which goes in cep_password_file");
	if ((conf->cep_client_cert == NULL) != (conf->cep_client_key == NULL) && !ae_cep_key_on_token(conf))
		add(ck, "global", conf->cep_client_cert ? "cep_client_cert" : "cep_client_key",
		    "needs the other: cep_client_cert and cep_client_key go together (cep_client_cert may be left out for a token's key)");
	if (conf->cep_client_cert != NULL && strncmp(conf->cep_client_cert, "pkcs11:", 7) == 0) {
		if (!ae_cep_key_on_token(conf))
			add(ck, "global", "cep_client_cert", "is on a token: cep_client_key must be the token's key URI");
	} else
		check_path(ck, "global", "cep_client_cert", conf->cep_client_cert, S_IFREG, true);
	if (conf->cep_client_key != NULL && strncmp(conf->cep_client_key, "pkcs11:", 7) == 0 &&
	    (strstr(conf->cep_client_key, ";id=") == NULL ||
	     ae_keystore_check_spec(ck->ctx, conf->cep_client_key, true) != AE_OK))
		add(ck, "global", "cep_client_key", "is not a pkcs11: URI of a key with its id= (the key.uri of autoenroll status --export)");
	if (conf->cep_password_file != NULL) {
		char *pw = NULL;
		if (ae_read_password_file(ck->ctx, conf->cep_password_file, "cep_password_file", &pw) != AE_OK) {
			snprintf(what, sizeof(what), "cannot be used: %s", ae_get_message(ck->ctx));
			add(ck, "global", "cep_password_file", what);
			ae_clear_message(ck->ctx);
		}
		if (pw != NULL)
			OPENSSL_cleanse(pw, strlen(pw));
		free(pw);
	}
	check_store(ck, "user", conf->user_store, false);
	check_store(ck, "machine", conf->machine_store, true);
	for (size_t i = 0; i < conf->n_scep; i++)
		check_scep(ck, &conf->scep[i], conf->scep_allow_http);
	check_path(ck, "user", "state_dir", conf->user_state_dir, S_IFDIR, false);
	check_path(ck, "machine", "state_dir", conf->machine_state_dir, S_IFDIR, false);
	check_path(ck, "machine", "trust_dir", conf->trust_dir, S_IFDIR, false);
	if (ae_conf_report_line(ck->rep, "machine", "keytab") != 0)
		check_path(ck, "machine", "keytab", conf->machine_keytab, S_IFREG, true);
	if (ae_conf_report_line(ck->rep, "user", "pinentry") != 0) {
		check_path(ck, "user", "pinentry", conf->pinentry, S_IFREG, true);
		if (conf->pinentry[0] == '/' && access(conf->pinentry, X_OK) != 0 && errno != ENOENT) {
			snprintf(what, sizeof(what), "names %s, which cannot be run: %s", conf->pinentry, strerror(errno));
			add(ck, "user", "pinentry", what);
		}
	}
}

static void
print_json(const char *file, const ae_conf_report *rep, bool exists)
{
	ae_json j;

	ae_json_init(&j);
	ae_json_begin_object(&j, NULL);
	ae_json_int(&j, "format_version", 1);
	ae_json_string(&j, "file", file);
	ae_json_bool(&j, "exists", exists);
	ae_json_bool(&j, "ok", ae_conf_report_count(rep) == 0);
	ae_json_begin_array(&j, "problems");
	for (size_t i = 0; i < ae_conf_report_count(rep); i++) {
		const ae_conf_problem *p = ae_conf_report_get(rep, i);
		ae_json_begin_object(&j, NULL);
		if (p->line > 0)
			ae_json_int(&j, "line", p->line);
		else
			ae_json_null(&j, "line");
		ae_json_string(&j, "section", p->section);
		ae_json_string(&j, "key", p->key);
		ae_json_string(&j, "message", p->message);
		ae_json_end_object(&j);
	}
	ae_json_end_array(&j);
	ae_json_end_object(&j);
	ae_cli_print_json(&j);
}

static int
config_check(ae_ctx *ctx, const ae_cli_globals *g, bool json)
{
	const char *file = g->config_path != NULL ? g->config_path : ae_conf_default_path();
	ae_conf_report *rep = ae_conf_report_new();
	ae_conf *conf = NULL;
	bool exists = true;
	struct stat st;
	size_t n;
	int rc = AE_EXIT_FAILURE;

	if (rep == NULL) {
		fprintf(stderr, "autoenroll: out of memory\n");
		return AE_EXIT_FAILURE;
	}
	if (g->config_path == NULL && stat(file, &st) != 0 && errno == ENOENT) {
		/* No file: the defaults, which are fine. */
		exists = false;
	} else if (ae_conf_load_checked(ctx, file, rep, &conf) != AE_OK) {
		if (ae_get_message(ctx)[0] == '\0' || strstr(ae_get_message(ctx), "out of memory") != NULL) {
			ae_cli_error(ctx);
			goto cleanup;
		}
		ae_conf_report_add(rep, NULL, 0, NULL, NULL, "%s", ae_get_message(ctx));
	} else {
		checker ck = { .ctx = ctx, .rep = rep, .file = file };
		check_values(&ck, conf);
	}
	ae_conf_report_sort(rep);
	n = ae_conf_report_count(rep);
	if (json) {
		print_json(file, rep, exists);
	} else {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", ae_conf_report_get(rep, i)->message);
		if (!exists)
			printf("%s: no such file: the defaults apply (see autoenroll.conf(5))\n", file);
		else if (n == 0)
			printf("%s: configuration OK\n", file);
		else
			printf("%s: %zu problem%s\n", file, n, n == 1 ? "" : "s");
	}
	rc = n == 0 ? AE_EXIT_OK : AE_EXIT_FAILURE;
cleanup:
	ae_conf_free(conf);
	ae_conf_report_free(rep);
	return rc;
}

int
ae_cmd_config(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'c': g->config_path = optarg; break;
		case 'h': config_usage(stdout); return AE_EXIT_OK;
		default: config_usage(stderr); return AE_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || strcmp(argv[optind], "check") != 0) {
		config_usage(stderr);
		return AE_EXIT_USAGE;
	}
	return config_check(ctx, g, json);
}
