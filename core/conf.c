/*
 * conf.c - the autoenroll.conf parser (table-driven, one place for every
 * key, its section, type and default).
 */
#include "config.h"

#include "conf.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define AE_CONF_MAX_SIZE (1024 * 1024)

typedef enum { T_STRING, T_STRLIST, T_SECONDS, T_PERCENT, T_AEPOLICY, T_BOOL } opt_type;

typedef struct {
	const char *section;
	const char *key;
	opt_type type;
	size_t offset;
	int min, max; /* T_SECONDS, T_PERCENT */
} opt_def;

#define OFF(f) offsetof(ae_conf, f)
/* options[] indexes ae_conf.set_in_file's bits: at most 64 (checked below) */
static const opt_def options[] = {
	{ "global", "domain", T_STRING, OFF(domain), 0, 0 },
	{ "global", "servers", T_STRLIST, OFF(servers), 0, 0 },
	{ "global", "ldap_timeout", T_SECONDS, OFF(ldap_timeout), 1, 3600 },
	{ "global", "dns_timeout", T_SECONDS, OFF(dns_timeout), 1, 600 },
	{ "global", "rpc_timeout", T_SECONDS, OFF(rpc_timeout), 1, 3600 },
	{ "global", "crl_timeout", T_SECONDS, OFF(crl_timeout), 1, 600 },
	{ "global", "policy_refresh", T_SECONDS, OFF(policy_refresh), 0, 86400 },
	{ "global", "hook_timeout", T_SECONDS, OFF(hook_timeout), 1, 3600 },
	{ "global", "expiry_warning_percent", T_PERCENT, OFF(expiry_warning_percent), 0, 100 },
	{ "global", "cep_username", T_STRING, OFF(cep_username), 0, 0 },
	{ "global", "cep_password_file", T_STRING, OFF(cep_password_file), 0, 0 },
	{ "global", "cep_password", T_STRING, OFF(cep_password), 0, 0 },
	{ "global", "cep_client_cert", T_STRING, OFF(cep_client_cert), 0, 0 },
	{ "global", "cep_client_key", T_STRING, OFF(cep_client_key), 0, 0 },
	{ "global", "cep_channel_binding", T_BOOL, OFF(cep_channel_binding), 0, 0 },
	{ "global", "group_policy", T_BOOL, OFF(group_policy), 0, 0 },
	{ "global", "computer_gp_file", T_STRING, OFF(computer_gp_file), 0, 0 },
	{ "global", "scep_allow_http", T_BOOL, OFF(scep_allow_http), 0, 0 },
	{ "global", "scep_anchor", T_STRING, OFF(scep_anchor), 0, 0 },
	{ "machine", "keytab", T_STRING, OFF(machine_keytab), 0, 0 },
	{ "machine", "principal", T_STRING, OFF(machine_principal), 0, 0 },
	{ "machine", "store", T_STRING, OFF(machine_store), 0, 0 },
	{ "machine", "state_dir", T_STRING, OFF(machine_state_dir), 0, 0 },
	{ "machine", "aepolicy", T_AEPOLICY, OFF(machine_aepolicy), 0, 0 },
	{ "machine", "trust_dir", T_STRING, OFF(trust_dir), 0, 0 },
	{ "machine", "system_trust", T_STRING, OFF(system_trust), 0, 0 },
	{ "machine", "cert_dir", T_STRING, OFF(machine_cert_dir), 0, 0 },
	{ "machine", "hooks_dir", T_STRING, OFF(machine_hooks_dir), 0, 0 },
	{ "user", "store", T_STRING, OFF(user_store), 0, 0 },
	{ "user", "state_dir", T_STRING, OFF(user_state_dir), 0, 0 },
	{ "user", "aepolicy", T_AEPOLICY, OFF(user_aepolicy), 0, 0 },
	{ "user", "notify_delay", T_SECONDS, OFF(notify_delay), 0, 86400 },
	{ "user", "notify_expire", T_SECONDS, OFF(notify_expire), 1, 7 * 86400 },
	{ "user", "pinentry", T_STRING, OFF(pinentry), 0, 0 },
	{ "user", "cert_dir", T_STRING, OFF(user_cert_dir), 0, 0 },
	{ "user", "hooks_dir", T_STRING, OFF(user_hooks_dir), 0, 0 },
	{ "user", "policy_servers", T_STRLIST, OFF(user_policy_servers), 0, 0 },
	{ "machine", "policy_servers", T_STRLIST, OFF(machine_policy_servers), 0, 0 },
};

static const char *const sections[] = { "global", "user", "machine", NULL };

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

struct ae_conf_report {
	ae_conf_problem *problems;
	size_t count;
	unsigned set_line[N_OPTIONS];
	bool nomem;
};

ae_conf_report *
ae_conf_report_new(void)
{
	return calloc(1, sizeof(ae_conf_report));
}

void
ae_conf_report_free(ae_conf_report *rep)
{
	if (rep == NULL)
		return;
	for (size_t i = 0; i < rep->count; i++) {
		free(rep->problems[i].section);
		free(rep->problems[i].key);
		free(rep->problems[i].message);
	}
	free(rep->problems);
	free(rep);
}

size_t
ae_conf_report_count(const ae_conf_report *rep)
{
	return rep != NULL ? rep->count : 0;
}

const ae_conf_problem *
ae_conf_report_get(const ae_conf_report *rep, size_t i)
{
	return rep != NULL && i < rep->count ? &rep->problems[i] : NULL;
}

void
ae_conf_report_sort(ae_conf_report *rep)
{
	/* Insertion sort: stable, and reports are short. */
	for (size_t i = 1; rep != NULL && i < rep->count; i++) {
		ae_conf_problem p = rep->problems[i];
		size_t j = i;
		for (; j > 0 && rep->problems[j - 1].line > p.line; j--)
			rep->problems[j] = rep->problems[j - 1];
		rep->problems[j] = p;
	}
}

unsigned
ae_conf_report_line(const ae_conf_report *rep, const char *section, const char *key)
{
	for (size_t i = 0; rep != NULL && i < N_OPTIONS; i++)
		if (strcasecmp(options[i].section, section) == 0 && strcasecmp(options[i].key, key) == 0)
			return rep->set_line[i];
	return 0;
}

static bool
report_take(ae_conf_report *rep, unsigned line, const char *section, const char *key, char *message)
{
	ae_conf_problem *grown, *p;
	char *lower;

	if (message == NULL) {
		rep->nomem = true;
		return false;
	}
	grown = realloc(rep->problems, (rep->count + 1) * sizeof(*grown));
	if (grown == NULL) {
		free(message);
		rep->nomem = true;
		return false;
	}
	rep->problems = grown;
	p = &rep->problems[rep->count++];
	p->line = line;
	p->message = message;
	p->section = section != NULL ? strdup(section) : NULL;
	p->key = key != NULL ? strdup(key) : NULL;
	for (lower = p->section; lower != NULL && *lower != '\0'; lower++)
		*lower = (char)tolower((unsigned char)*lower);
	return true;
}

bool
ae_conf_report_add(ae_conf_report *rep, const char *file, unsigned line, const char *section, const char *key,
                   const char *fmt, ...)
{
	char *what = NULL;
	va_list ap;
	bool added;

	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) < 0)
		what = NULL;
	va_end(ap);
	if (what == NULL) {
		rep->nomem = true;
		return false;
	}
	if (key != NULL && line > 0)
		added = report_take(rep, line, section, key,
		                    ae_strdup_printf("%s:%u: %s in [%s] %s", file, line, key, section, what));
	else if (key != NULL)
		added = report_take(rep, line, section, key, ae_strdup_printf("%s: %s in [%s] %s", file, key, section, what));
	else if (file != NULL)
		added = report_take(rep, line, section, key, ae_strdup_printf("%s: %s", file, what));
	else
		added = report_take(rep, line, section, key, strdup(what));
	free(what);
	return added;
}

/* The error just set on CTX: with REP, one more problem and parsing goes
 * on (true); without, the end of parsing (false). */
static bool
problem(ae_ctx *ctx, ae_conf_report *rep, unsigned line, const char *section, const char *key)
{
	bool kept;

	if (rep == NULL)
		return false;
	kept = report_take(rep, line, section[0] != '\0' ? section : NULL, key, strdup(ae_get_message(ctx)));
	ae_clear_message(ctx);
	return kept;
}

const char *
ae_conf_default_path(void)
{
	const char *env = secure_getenv("AUTOENROLL_CONF");
	if (env != NULL && env[0] != '\0')
		return env;
	return AE_CONF_DEFAULT_PATH;
}

static void
scep_profile_clear(ae_scep_profile *sp)
{
	free(sp->name);
	free(sp->url);
	free(sp->subject);
	ae_strv_free(sp->dns);
	ae_strv_free(sp->upn);
	ae_strv_free(sp->email);
	free(sp->key_type);
	free(sp->store);
	free(sp->challenge_file);
	free(sp->anchor);
}

void
ae_conf_free(ae_conf *conf)
{
	if (conf == NULL)
		return;
	for (size_t i = 0; i < conf->n_scep; i++)
		scep_profile_clear(&conf->scep[i]);
	free(conf->scep);
	free(conf->path);
	free(conf->domain);
	ae_strv_free(conf->servers);
	free(conf->machine_keytab);
	free(conf->machine_principal);
	free(conf->user_store);
	free(conf->user_state_dir);
	free(conf->machine_store);
	free(conf->machine_state_dir);
	free(conf->trust_dir);
	free(conf->cep_username);
	free(conf->cep_password_file);
	free(conf->cep_password);
	free(conf->cep_client_cert);
	free(conf->cep_client_key);
	free(conf->scep_anchor);
	free(conf->computer_gp_file);
	ae_strv_free(conf->user_policy_servers);
	ae_strv_free(conf->machine_policy_servers);
	free(conf->system_trust);
	free(conf->pinentry);
	free(conf->machine_cert_dir);
	free(conf->machine_hooks_dir);
	free(conf->user_cert_dir);
	free(conf->user_hooks_dir);
	free(conf);
}

ae_err
ae_conf_defaults(ae_ctx *ctx, ae_conf **out)
{
	ae_conf *conf;

	*out = NULL;
	conf = calloc(1, sizeof(*conf));
	if (conf == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	conf->ldap_timeout = 10;
	conf->dns_timeout = 5;
	conf->rpc_timeout = 30;
	conf->crl_timeout = 15;
	conf->policy_refresh = 600;
	conf->hook_timeout = 60;
	/* Group Policy's OfflineExpirationPercent: 10 unless set. */
	conf->expiry_warning_percent = 10;
	conf->cep_channel_binding = true;
	conf->group_policy = true;
	/* Windows shows its balloon about a minute after logon and keeps the
	 * work for the session's first hours. */
	conf->notify_delay = 60;
	conf->notify_expire = 7 * 3600;
	/* Enroll, Manage and RetrievePending: what an admin who installs an
	 * autoenrollment client wants unless Group Policy says otherwise. */
	conf->user_aepolicy = AE_AEPOLICY_ENROLL | AE_AEPOLICY_MANAGE | AE_AEPOLICY_RETRIEVE_PENDING;
	conf->machine_aepolicy = conf->user_aepolicy;
	conf->machine_keytab = strdup("/etc/krb5.keytab");
	conf->pinentry = strdup("/usr/bin/pinentry");
	if (conf->machine_keytab == NULL || conf->pinentry == NULL) {
		ae_conf_free(conf);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	*out = conf;
	return AE_OK;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static ae_err
set_option(ae_ctx *ctx, ae_conf *conf, const opt_def *def, const char *value,
           const char *name, unsigned line)
{
	char **str_field = (char **)((char *)conf + def->offset);
	char ***list_field = (char ***)((char *)conf + def->offset);
	int *int_field = (int *)((char *)conf + def->offset);

	switch (def->type) {
	case T_STRING: {
		char *copy;
		if (value[0] == '\0')
			return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: %s in [%s] is empty",
			                      name, line, def->key, def->section);
		if (strcmp(def->key, "system_trust") == 0 && strcmp(value, "none") != 0 &&
		    strcmp(value, "p11-kit") != 0 && strcmp(value, "update-ca-certificates") != 0)
			return ae_set_message(ctx, AE_ERR_CONFIG,
			                      "%s:%u: system_trust in [machine] is none, p11-kit or update-ca-certificates, not \"%s\"",
			                      name, line, value);
		if ((strcmp(def->key, "cert_dir") == 0 || strcmp(def->key, "hooks_dir") == 0) && value[0] != '/' &&
		    strcmp(value, "none") != 0)
			return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: %s in [%s] is an absolute path or none, not \"%s\"",
			                      name, line, def->key, def->section, value);
		copy = strdup(value);
		if (copy == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		free(*str_field);
		*str_field = copy;
		return AE_OK;
	}
	case T_STRLIST: {
		char *copy = strdup(value), *save = NULL, *tok;
		char **list = NULL;
		if (copy == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
		     tok = strtok_r(NULL, ", \t", &save)) {
			if (!ae_strv_append(&list, tok)) {
				free(copy);
				ae_strv_free(list);
				return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			}
		}
		free(copy);
		if (list == NULL)
			return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: %s in [%s] lists nothing",
			                      name, line, def->key, def->section);
		ae_strv_free(*list_field);
		*list_field = list;
		return AE_OK;
	}
	case T_SECONDS:
	case T_PERCENT: {
		char *end = NULL;
		long v;
		errno = 0;
		v = strtol(value, &end, 10);
		if (errno != 0 || end == value || *trim(end) != '\0' || v < def->min || v > def->max)
			return ae_set_message(ctx, AE_ERR_CONFIG,
			                      "%s:%u: %s in [%s] must be a number of %s from %d to %d, not \"%s\"",
			                      name, line, def->key, def->section,
			                      def->type == T_PERCENT ? "percent" : "seconds", def->min, def->max, value);
		*int_field = (int)v;
		return AE_OK;
	}
	case T_BOOL: {
		bool *b = (bool *)((char *)conf + def->offset);
		if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0)
			*b = true;
		else if (strcasecmp(value, "no") == 0 || strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0)
			*b = false;
		else
			return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: %s in [%s] is yes or no, not \"%s\"", name, line,
			                      def->key, def->section, value);
		return AE_OK;
	}
	case T_AEPOLICY: {
		/* The Group Policy DWORD (0x7, 7) or words: "enroll, manage,
		 * retrieve-pending", "disabled". */
		uint32_t *u = (uint32_t *)((char *)conf + def->offset);
		char *end = NULL, *copy, *save = NULL, *tok;
		unsigned long v;
		errno = 0;
		v = strtoul(value, &end, 0);
		if (errno == 0 && end != value && *trim(end) == '\0' && v <= 0xFFFFFFFFul && value[0] != '-') {
			*u = (uint32_t)v;
			return AE_OK;
		}
		if ((copy = strdup(value)) == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		v = 0;
		for (tok = strtok_r(copy, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save)) {
			if (strcasecmp(tok, "enroll") == 0)
				v |= AE_AEPOLICY_ENROLL;
			else if (strcasecmp(tok, "manage") == 0)
				v |= AE_AEPOLICY_MANAGE;
			else if (strcasecmp(tok, "retrieve-pending") == 0)
				v |= AE_AEPOLICY_RETRIEVE_PENDING;
			else if (strcasecmp(tok, "disabled") == 0)
				v |= AE_AEPOLICY_DISABLED;
			else {
				ae_err e = ae_set_message(ctx, AE_ERR_CONFIG,
				                          "%s:%u: %s in [%s] takes a number like 0x7 or the words enroll, manage, retrieve-pending, disabled; not \"%s\"",
				                          name, line, def->key, def->section, tok);
				free(copy);
				return e;
			}
		}
		free(copy);
		*u = (uint32_t)v;
		return AE_OK;
	}
	}
	return ae_set_message(ctx, AE_ERR_INTERNAL, "bad option type");
}

/* ---- [scep NAME] ---- */

static const char *const scep_keys[] = {
	"url", "subject", "dns", "upn", "email", "key_type", "key_size", "store", "challenge_file", "challenge",
	"renew_percent", "anchor", "allow_http", "context", "renewal_challenge", NULL,
};

static ae_err
scep_strv(ae_ctx *ctx, char ***field, const char *value)
{
	char *copy = strdup(value), *save = NULL, *tok;

	if (copy == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	for (tok = strtok_r(copy, ", \t", &save); tok != NULL; tok = strtok_r(NULL, ", \t", &save))
		if (!ae_strv_append(field, tok)) {
			free(copy);
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
	free(copy);
	return AE_OK;
}

static ae_err
scep_str(ae_ctx *ctx, char **field, const char *value)
{
	char *copy = strdup(value);

	if (copy == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	free(*field);
	*field = copy;
	return AE_OK;
}

/* KEY = VALUE in the profile SP (section "scep NAME"); KEY is one of
 * scep_keys[K]. */
static ae_err
scep_set(ae_ctx *ctx, ae_scep_profile *sp, size_t k, const char *value, const char *name, unsigned line)
{
	const char *key = scep_keys[k];
	char *end = NULL;
	long v;

	if (value[0] == '\0')
		return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: %s in [scep %s] is empty", name, line, key, sp->name);
	if (strcmp(key, "url") == 0) {
		if (strncasecmp(value, "https://", 8) != 0 && strncasecmp(value, "http://", 7) != 0)
			return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: url in [scep %s] is an https:// URL (http:// only with allow_http), not \"%s\"",
			                      name, line, sp->name, value);
		return scep_str(ctx, &sp->url, value);
	}
	if (strcmp(key, "subject") == 0)
		return scep_str(ctx, &sp->subject, value);
	if (strcmp(key, "dns") == 0 || strcmp(key, "upn") == 0 || strcmp(key, "email") == 0)
		return scep_strv(ctx, key[0] == 'd' ? &sp->dns : key[0] == 'u' ? &sp->upn : &sp->email, value);
	if (strcmp(key, "key_type") == 0) {
		if (strcasecmp(value, "rsa") != 0 && strcasecmp(value, "ecdsa-p256") != 0 && strcasecmp(value, "ecdsa-p384") != 0)
			return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: key_type in [scep %s] is rsa, ecdsa-p256 or ecdsa-p384, not \"%s\"",
			                      name, line, sp->name, value);
		return scep_str(ctx, &sp->key_type, value);
	}
	if (strcmp(key, "key_size") == 0 || strcmp(key, "renew_percent") == 0) {
		bool size = key[0] == 'k';
		errno = 0;
		v = strtol(value, &end, 10);
		if (errno != 0 || end == value || *trim(end) != '\0' || (size ? v < 2048 || v > 16384 : v < 1 || v > 99))
			return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: %s in [scep %s] must be %s, not \"%s\"", name, line, key,
			                      sp->name, size ? "a number of bits from 2048 to 16384" : "a percent from 1 to 99",
			                      value);
		*(size ? &sp->key_size : &sp->renew_percent) = (int)v;
		return AE_OK;
	}
	if (strcmp(key, "store") == 0 || strcmp(key, "challenge_file") == 0 || strcmp(key, "anchor") == 0) {
		if (key[0] != 's' && value[0] != '/')
			return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: %s in [scep %s] is an absolute path, not \"%s\"", name,
			                      line, key, sp->name, value);
		if (key[0] == 's' && strncmp(value, "pkcs11:", 7) != 0 && strncmp(value, "file:/", 6) != 0)
			return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: store in [scep %s] is pkcs11:URI or file:/DIR, not \"%s\"",
			                      name, line, sp->name, value);
		return scep_str(ctx, key[0] == 's' ? &sp->store : key[0] == 'c' ? &sp->challenge_file : &sp->anchor, value);
	}
	if (strcmp(key, "challenge") == 0) {
		if (strcasecmp(value, "admin") != 0)
			return ae_set_message(ctx, AE_ERR_CONFIG,
			                      "%s:%u: challenge in [scep %s] is admin (fetched from NDES's mscep_admin page with Kerberos), not \"%s\": a static challenge goes in a file (challenge_file)",
			                      name, line, sp->name, value);
		sp->challenge_admin = true;
		return AE_OK;
	}
	if (strcmp(key, "allow_http") == 0 || strcmp(key, "renewal_challenge") == 0) {
		int b = -1;
		if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0)
			b = 1;
		else if (strcasecmp(value, "no") == 0 || strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0)
			b = 0;
		else
			return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: %s in [scep %s] is yes or no, not \"%s\"", name, line,
			                      key, sp->name, value);
		if (key[0] == 'a')
			sp->allow_http = b;
		else
			sp->renewal_challenge = b == 1;
		return AE_OK;
	}
	/* context */
	if (strcasecmp(value, "machine") != 0 && strcasecmp(value, "user") != 0)
		return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: context in [scep %s] is machine or user, not \"%s\"", name,
		                      line, sp->name, value);
	sp->user = strcasecmp(value, "user") == 0;
	return AE_OK;
}

/* A new profile for "[scep NAME]" (HEADER: what is between the brackets),
 * or an error for a bad or repeated name. */
static ae_err
scep_begin(ae_ctx *ctx, ae_conf *conf, const char *header, const char *name, unsigned line, ae_scep_profile **out)
{
	const char *pname = header + 4;
	ae_scep_profile *grown, *sp;

	*out = NULL;
	while (*pname == ' ' || *pname == '\t')
		pname++;
	for (const char *c = pname; *c != '\0'; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.')
			return ae_set_message(ctx, AE_ERR_CONFIG,
			                      "%s:%u: [%s]: a profile name is letters, digits, '-', '_' and '.'", name, line,
			                      header);
	if (*pname == '\0' || strlen(pname) > 64)
		return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: [%s]: give the profile a name of 1 to 64 characters, as [scep NAME]",
		                      name, line, header);
	if (ae_conf_scep_profile(conf, pname) != NULL)
		return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: [scep %s] again (first at line %u): profile names are unique",
		                      name, line, pname, ae_conf_scep_profile(conf, pname)->line);
	grown = realloc(conf->scep, (conf->n_scep + 1) * sizeof(*grown));
	if (grown == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	conf->scep = grown;
	sp = &conf->scep[conf->n_scep];
	memset(sp, 0, sizeof(*sp));
	if ((sp->name = strdup(pname)) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	conf->n_scep++;
	sp->line = line;
	sp->key_size = 2048;
	sp->renew_percent = 80;
	sp->allow_http = -1;
	*out = sp;
	return AE_OK;
}

/* What a profile needs once its section is read. */
static ae_err
scep_complete(ae_ctx *ctx, const ae_scep_profile *sp, const char *name)
{
	if (sp->url == NULL || sp->subject == NULL)
		return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: [scep %s] has no %s", name, sp->line, sp->name,
		                      sp->url == NULL ? "url" : "subject");
	if (sp->challenge_file != NULL && sp->challenge_admin)
		return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: [scep %s] has both challenge_file and challenge = admin: one of them",
		                      name, sp->line, sp->name);
	if (sp->key_type != NULL && strcasecmp(sp->key_type, "rsa") != 0 && sp->key_size != 2048 &&
	    (sp->set_mask & (1u << 6)))
		return ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: [scep %s]: key_size is for RSA keys (key_type %s has its curve's size)",
		                      name, sp->line, sp->name, sp->key_type);
	return AE_OK;
}

const ae_scep_profile *
ae_conf_scep_profile(const ae_conf *conf, const char *name)
{
	for (size_t i = 0; conf != NULL && name != NULL && i < conf->n_scep; i++)
		if (strcasecmp(conf->scep[i].name, name) == 0)
			return &conf->scep[i];
	return NULL;
}

/* The parser of ae_conf_parse and ae_conf_parse_checked (REP non-NULL). */
static ae_err
parse(ae_ctx *ctx, const char *text, size_t len, const char *name, ae_conf_report *rep, ae_conf **out)
{
	ae_conf *conf = NULL;
	char *copy = NULL, *line, *next;
	char section[96] = "";
	bool section_known = false;
	ae_scep_profile *sp = NULL; /* the [scep NAME] being read */
	unsigned lineno = 0, set_line[N_OPTIONS] = { 0 };
	ae_err err;

	*out = NULL;
	if (len > AE_CONF_MAX_SIZE)
		return ae_set_message(ctx, AE_ERR_CONFIG, "%s: larger than %d bytes", name, AE_CONF_MAX_SIZE);
	if (memchr(text, '\0', len) != NULL)
		return ae_set_message(ctx, AE_ERR_CONFIG, "%s: contains a NUL byte: not a text file", name);
	err = ae_conf_defaults(ctx, &conf);
	if (err != AE_OK)
		return err;
	copy = malloc(len + 1);
	if (copy == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';

	for (line = copy; line != NULL; line = next) {
		char *eq, *key, *value, *s;
		size_t def = N_OPTIONS;

		lineno++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			bool known = false;
			if (close == NULL || *trim(close + 1) != '\0' || close - s - 1 <= 0 ||
			    (size_t)(close - s - 1) >= sizeof(section)) {
				err = ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: bad section header \"%s\"",
				                     name, lineno, s);
				/* What follows belongs to no section we know. */
				section_known = false;
				snprintf(section, sizeof(section), "?");
				if (problem(ctx, rep, lineno, "", NULL))
					continue;
				goto cleanup;
			}
			*close = '\0';
			snprintf(section, sizeof(section), "%s", trim(s + 1));
			sp = NULL;
			for (size_t i = 0; sections[i] != NULL; i++)
				known = known || strcasecmp(sections[i], section) == 0;
			if (strncasecmp(section, "scep", 4) == 0 && (section[4] == ' ' || section[4] == '\t')) {
				/* [scep NAME]: an SCEP profile */
				known = true;
				err = scep_begin(ctx, conf, section, name, lineno, &sp);
				if (err == AE_ERR_NOMEM)
					goto cleanup;
				if (err != AE_OK) {
					known = false;
					snprintf(section, sizeof(section), "?");
					if (problem(ctx, rep, lineno, "", NULL))
						continue;
					goto cleanup;
				}
			}
			section_known = known;
			if (known)
				continue;
			if (rep == NULL) {
				ae_log(ctx, AE_LOG_WARNING, "%s:%u: unknown section [%s] ignored", name, lineno, section);
				continue;
			}
			ae_set_message(ctx, AE_ERR_CONFIG,
			               "%s:%u: unknown section [%s] (the sections are [global], [user], [machine] and [scep NAME])",
			               name, lineno, section);
			if (problem(ctx, rep, lineno, section, NULL))
				continue;
			err = AE_ERR_NOMEM;
			goto cleanup;
		}
		eq = strchr(s, '=');
		if (eq == NULL) {
			err = ae_set_message(ctx, AE_ERR_CONFIG,
			                     "%s:%u: expected \"key = value\" or \"[section]\", got \"%s\"",
			                     name, lineno, s);
			if (problem(ctx, rep, lineno, section, NULL))
				continue;
			goto cleanup;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		if (section[0] == '\0') {
			err = ae_set_message(ctx, AE_ERR_CONFIG,
			                     "%s:%u: \"%s\" is outside any section (start with [global])",
			                     name, lineno, key);
			if (problem(ctx, rep, lineno, "", key))
				continue;
			goto cleanup;
		}
		if (sp != NULL) {
			size_t k = 0;
			while (scep_keys[k] != NULL && strcasecmp(scep_keys[k], key) != 0)
				k++;
			if (scep_keys[k] == NULL) {
				if (strncasecmp(key, "x-", 2) == 0)
					continue;
				err = ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: unknown key \"%s\" in [scep %s] (%s)", name, lineno,
				                     key, sp->name,
				                     "url, subject, dns, upn, email, key_type, key_size, store, challenge_file, challenge, renew_percent, anchor, allow_http, context, renewal_challenge");
				if (problem(ctx, rep, lineno, section, key))
					continue;
				goto cleanup;
			}
			if (sp->set_mask & (1u << k)) {
				err = ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: %s in [scep %s] is set again; only the last one applies",
				                     name, lineno, scep_keys[k], sp->name);
				if (rep == NULL)
					ae_log(ctx, AE_LOG_WARNING, "%s", ae_get_message(ctx));
				if (rep == NULL)
					ae_clear_message(ctx);
				else if (!problem(ctx, rep, lineno, section, scep_keys[k])) {
					err = AE_ERR_NOMEM;
					goto cleanup;
				}
				/* lists add up; say so by starting again */
				if (k >= 2 && k <= 4) {
					char ***l = k == 2 ? &sp->dns : k == 3 ? &sp->upn : &sp->email;
					ae_strv_free(*l);
					*l = NULL;
				}
			}
			sp->set_mask |= 1u << k;
			err = scep_set(ctx, sp, k, value, name, lineno);
			if (err == AE_ERR_NOMEM)
				goto cleanup;
			if (err != AE_OK) {
				if (problem(ctx, rep, lineno, section, scep_keys[k]))
					continue;
				goto cleanup;
			}
			continue;
		}
		for (size_t i = 0; i < N_OPTIONS; i++)
			if (strcasecmp(options[i].section, section) == 0 &&
			    strcasecmp(options[i].key, key) == 0)
				def = i;
		if (def == N_OPTIONS) {
			/* Keys of an unknown section were reported with it. */
			if (!section_known || strncasecmp(key, "x-", 2) == 0)
				continue;
			if (rep == NULL) {
				ae_log(ctx, AE_LOG_WARNING, "%s:%u: unknown key \"%s\" in [%s] ignored",
				       name, lineno, key, section);
				continue;
			}
			ae_set_message(ctx, AE_ERR_CONFIG, "%s:%u: unknown key \"%s\" in [%s]", name, lineno, key, section);
			if (problem(ctx, rep, lineno, section, key))
				continue;
			err = AE_ERR_NOMEM;
			goto cleanup;
		}
		if (set_line[def] != 0) {
			/* The later one wins, as always; but one of them is a
			 * mistake. */
			if (rep == NULL) {
				ae_log(ctx, AE_LOG_WARNING, "%s:%u: %s in [%s] set again (first at line %u): this one applies",
				       name, lineno, options[def].key, options[def].section, set_line[def]);
			} else {
				ae_set_message(ctx, AE_ERR_CONFIG,
				               "%s:%u: %s in [%s] is set again (first at line %u); only the last one applies",
				               name, lineno, options[def].key, options[def].section, set_line[def]);
				if (!problem(ctx, rep, lineno, options[def].section, options[def].key)) {
					err = AE_ERR_NOMEM;
					goto cleanup;
				}
			}
		}
		set_line[def] = lineno;
		conf->set_in_file |= (uint64_t)1 << def;
		err = set_option(ctx, conf, &options[def], value, name, lineno);
		if (err == AE_ERR_NOMEM)
			goto cleanup;
		if (err != AE_OK) {
			if (problem(ctx, rep, lineno, options[def].section, options[def].key))
				continue;
			goto cleanup;
		}
		/* Where the value in force came from (a bad one left the default). */
		if (rep != NULL)
			rep->set_line[def] = lineno;
	}
	for (size_t i = 0; i < conf->n_scep; i++) {
		if ((err = scep_complete(ctx, &conf->scep[i], name)) == AE_OK)
			continue;
		if (!problem(ctx, rep, conf->scep[i].line, "scep", NULL)) {
			err = rep != NULL ? AE_ERR_NOMEM : err;
			goto cleanup;
		}
		/* left out: what uses the configuration needs a whole profile */
		scep_profile_clear(&conf->scep[i]);
		memmove(&conf->scep[i], &conf->scep[i + 1], (conf->n_scep - i - 1) * sizeof(conf->scep[0]));
		conf->n_scep--;
		i--;
	}
	if (rep != NULL && rep->nomem) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}

	conf->path = strdup(name);
	if (conf->path == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	*out = conf;
	conf = NULL;
	err = AE_OK;
cleanup:
	free(copy);
	ae_conf_free(conf);
	return err;
}

ae_err
ae_conf_parse(ae_ctx *ctx, const char *text, size_t len, const char *name, ae_conf **out)
{
	return parse(ctx, text, len, name, NULL, out);
}

ae_err
ae_conf_parse_checked(ae_ctx *ctx, const char *text, size_t len, const char *name, ae_conf_report *rep,
                      ae_conf **out)
{
	ae_return_val_if_fail(rep != NULL, AE_ERR_INTERNAL);
	return parse(ctx, text, len, name, rep, out);
}

ae_err
ae_conf_check_root_path(ae_ctx *ctx, const char *path, const char *what)
{
	char *real = NULL;
	size_t n;
	ae_err err = AE_OK;

	if (geteuid() != 0 || path == NULL)
		return AE_OK;
	real = realpath(path, NULL);
	if (real == NULL)
		return errno == ENOENT || errno == ENOTDIR ? AE_OK
		       : ae_set_message(ctx, AE_ERR_DENIED, "cannot check the %s %s: %s", what, path, strerror(errno));
	/* The file, then each directory above it, up to "/". */
	for (n = strlen(real);;) {
		struct stat st;
		const char *shown = n > 0 ? real : "/";

		if (stat(shown, &st) != 0) {
			err = ae_set_message(ctx, AE_ERR_DENIED, "cannot check %s (above the %s %s): %s", shown, what,
			                     path, strerror(errno));
		} else if (st.st_uid != 0) {
			err = ae_set_message(ctx, AE_ERR_DENIED,
			                     "the %s %s: %s belongs to uid %u, not to root, who could be made to do what "
			                     "its owner wants: refused (chown root: %s)",
			                     what, path, shown, (unsigned)st.st_uid, shown);
		} else if ((st.st_mode & 022) && !(S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX))) {
			err = ae_set_message(ctx, AE_ERR_DENIED,
			                     "the %s %s: %s is writable by group or others (mode %04o), who could make "
			                     "root do what they want: refused (chmod go-w %s)",
			                     what, path, shown, (unsigned)(st.st_mode & 07777), shown);
		}
		if (err != AE_OK || n == 0)
			break;
		while (n > 0 && real[n - 1] != '/')
			n--;
		if (n > 0)
			n--;
		real[n] = '\0';
	}
	free(real);
	return err;
}

static ae_err
load(ae_ctx *ctx, const char *path, bool must_exist, ae_conf_report *rep, ae_conf **out)
{
	FILE *f = NULL;
	char *text = NULL;
	size_t len = 0, n;
	struct stat st;
	ae_err err;

	*out = NULL;
	if (path == NULL)
		path = ae_conf_default_path();
	f = fopen(path, "re");
	if (f == NULL) {
		if (errno == ENOENT && !must_exist) {
			err = ae_conf_defaults(ctx, out);
			return err;
		}
		return ae_set_message(ctx, AE_ERR_CONFIG, "cannot read configuration %s: %s",
		                      path, strerror(errno));
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		err = ae_set_message(ctx, AE_ERR_CONFIG, "configuration %s is not a regular file", path);
		goto cleanup;
	}
	if ((err = ae_conf_check_root_path(ctx, path, "configuration")) != AE_OK)
		goto cleanup;
	if (st.st_size > AE_CONF_MAX_SIZE) {
		err = ae_set_message(ctx, AE_ERR_CONFIG, "configuration %s is larger than %d bytes",
		                     path, AE_CONF_MAX_SIZE);
		goto cleanup;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	while ((n = fread(text + len, 1, (size_t)st.st_size + 1 - len, f)) > 0 &&
	       len < (size_t)st.st_size + 1)
		len += n;
	if (ferror(f)) {
		err = ae_set_message(ctx, AE_ERR_CONFIG, "cannot read configuration %s", path);
		goto cleanup;
	}
	err = parse(ctx, text, len, path, rep, out);
cleanup:
	free(text);
	fclose(f);
	return err;
}

ae_err
ae_conf_load(ae_ctx *ctx, const char *path, bool must_exist, ae_conf **out)
{
	return load(ctx, path, must_exist, NULL, out);
}

ae_err
ae_conf_load_checked(ae_ctx *ctx, const char *path, ae_conf_report *rep, ae_conf **out)
{
	ae_return_val_if_fail(rep != NULL, AE_ERR_INTERNAL);
	return load(ctx, path, true, rep, out);
}

_Static_assert(sizeof(options) / sizeof(options[0]) <= 64, "ae_conf.set_in_file has 64 bits");

bool
ae_conf_is_set(const ae_conf *conf, const char *section, const char *key)
{
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		if (strcmp(options[i].section, section) == 0 && strcmp(options[i].key, key) == 0)
			return (conf->set_in_file & ((uint64_t)1 << i)) != 0;
	return false;
}

const char *
ae_conf_setting(const ae_conf *conf, const char *section, const char *key, char *buf, size_t size)
{
	snprintf(buf, size, "%s in [%s] of %s", key, section,
	         conf != NULL && conf->path != NULL ? conf->path : ae_conf_default_path());
	return buf;
}
