/*
 * helper.c - autoenroll-machine and autoenroll-user: run one pulse of
 * their context under the context's lock (see core/pulse.h).
 *
 * autoenroll-machine is what systemd starts at boot and every 8 hours
 * (and what `autoenroll pulse --machine` asks for); it must run as root.
 * autoenroll-user runs as the user, started by `autoenroll pulse --user`
 * and by pam_autoenroll at login (--session): when the pulse leaves work
 * that needs the user (consent, a PIN, a smartcard), it becomes
 * autoenroll-notify, which offers that work a minute later.  With
 * --interactive (what the notification runs), templates needing consent
 * are enrolled and token PINs are asked through pinentry.
 *
 * autoenroll-machine --once-per-boot (for an init without systemd)
 * runs a pulse only if none ran since the machine booted.
 *
 * Exit status: 0 the pulse ran and no template failed, or was coalesced
 * with a running one; 3 the pulse ran but some templates failed or were
 * denied (the events say which); 1 the pulse failed as a whole; 75
 * (EX_TEMPFAIL) it failed for a reason that passes (network, KDC not
 * ready): the next trigger retries; 2 usage.
 */
#include "config.h"

#include "ces.h"
#include "conf.h"
#include "engine.h"
#include "events.h"
#include "gpread.h"
#include "keystore.h"
#include "krb.h"
#include "pulse.h"
#include "util.h"

#include "pinentry.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef AE_HELPER_MACHINE
#define PROG "autoenroll-machine"
#define MACHINE true
#else
#define PROG "autoenroll-user"
#define MACHINE false
#endif

#define EXIT_TEMPFAIL 75
#define EXIT_SOME_FAILED 3 /* autoenroll(8): completed with failures */

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
#ifdef AE_HELPER_MACHINE
	fprintf(f, "Usage: " PROG " [--wait] [--json] [--refresh] [--once-per-boot] [-c FILE] [-v]\n"
#else
	fprintf(f, "Usage: " PROG " [--wait] [--json] [--refresh] [--interactive] [-c FILE] [-v]\n"
	           "       " PROG " --session [--express | --delay SECONDS] [--no-notify] [-c FILE]\n"
#endif
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

#ifdef AE_HELPER_MACHINE
/* Whether last-pulse.json was written since the machine booted. */
static bool
ran_since_boot(ae_ctx *ctx, const ae_conf *conf)
{
	struct timespec up, now;
	struct stat st;
	char *dir = NULL, *path = NULL;
	bool ran = false;

	if (ae_pulse_state_dir(ctx, conf, true, &dir) != AE_OK)
		goto out;
	path = ae_strdup_printf("%s/last-pulse.json", dir);
	if (path == NULL || stat(path, &st) < 0)
		goto out;
	clock_gettime(CLOCK_BOOTTIME, &up);
	clock_gettime(CLOCK_REALTIME, &now);
	ran = st.st_mtime >= now.tv_sec - up.tv_sec;
out:
	ae_clear_message(ctx);
	free(path);
	free(dir);
	return ran;
}

/* Each helper has only one of these to do: the other is a no-op. */
static int
offer_to_user(const ae_conf *conf, const char *config, const ae_pulse_result *res, int delay, double started, int rc)
{
	(void)conf;
	(void)config;
	(void)res;
	(void)delay;
	(void)started;
	return rc;
}
#else
static bool
ran_since_boot(ae_ctx *ctx, const ae_conf *conf)
{
	(void)ctx;
	(void)conf;
	return false;
}

/* The private copy of the session's FILE ticket cache that
 * pam_autoenroll made at login (pam/ccache.h: its name starts so). */
#define CCACHE_COPY_PREFIX "autoenroll-ccache-"

/* KRB5CCNAME as the session has it, while this process works from the
 * copy in memory; NULL if there was none. */
static char *session_ccname;

/* Moves the login's private copy of the ticket cache into a MEMORY cache
 * of this process and deletes the file at once: pam_krb5 may already
 * have destroyed the session's cache (a short session), and no copy may
 * outlive the pulse.  The pulse then runs from memory. */
static void
adopt_ccache_copy(ae_ctx *ctx)
{
	const char *copy = secure_getenv("AUTOENROLL_CCACHE_COPY");
	const char *cur = secure_getenv("KRB5CCNAME");
	const char *base;
	char *path = NULL, *mem = NULL;

	if (copy == NULL)
		return;
	path = strdup(copy);
	unsetenv("AUTOENROLL_CCACHE_COPY");
	if (path == NULL)
		return;
	base = strrchr(path, '/');
	if (base == NULL || strncmp(base + 1, CCACHE_COPY_PREFIX, strlen(CCACHE_COPY_PREFIX)) != 0) {
		fprintf(stderr, PROG ": AUTOENROLL_CCACHE_COPY=%s is not a copy pam_autoenroll makes: ignored\n", path);
		goto out;
	}
	if (ae_krb_adopt_copy(ctx, path, &mem) != AE_OK) {
		fprintf(stderr, PROG ": %s\n", ae_get_message(ctx));
		ae_clear_message(ctx);
		goto out;
	}
	session_ccname = cur != NULL ? strdup(cur) : NULL;
	setenv("KRB5CCNAME", mem, 1);
out:
	free(mem);
	free(path);
}

/* The directory this program runs from: its siblings (the notification
 * helper) live there, installed or in a build tree. */
static char *
own_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	char *slash;

	if (n <= 0)
		return strdup(PKGLIBEXECDIR);
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash == NULL || slash == buf)
		return strdup(PKGLIBEXECDIR);
	*slash = '\0';
	return strdup(buf);
}

/* At login, work that needs the user is offered through a notification a
 * minute after logon: this process becomes autoenroll-notify.  Returns
 * RC when there is nothing to offer or the exec failed. */
static int
offer_to_user(const ae_conf *conf, const char *config, const ae_pulse_result *res, int delay, double started, int rc)
{
	char **argv = NULL, *dir = NULL, *path = NULL, *env = NULL;
	char delay_s[16], expire_s[16];
	size_t n = 0, items = 0, first = 0;
	double elapsed;

	for (size_t i = 0; i < res->event_count; i++)
		if ((res->events[i].kind == AE_EV_NEEDS_USER || res->events[i].kind == AE_EV_EXPIRING) &&
		    res->events[i].template_name != NULL)
			items++;
	if (items == 0)
		return rc;
	if (delay < 0)
		delay = conf->notify_delay;
	/* The delay counts from logon, and the pulse took some of it. */
	elapsed = ae_monotonic_seconds() - started;
	delay = elapsed >= delay ? 0 : (int)(delay - elapsed);
	snprintf(delay_s, sizeof(delay_s), "%d", delay);
	snprintf(expire_s, sizeof(expire_s), "%d", conf->notify_expire);
	argv = calloc(2 * items + 10, sizeof(*argv));
	dir = own_dir();
	if (argv == NULL || dir == NULL)
		goto out;
	path = ae_strdup_printf("%s/autoenroll-notify", dir);
	env = ae_strdup_printf("AUTOENROLL_LIBEXECDIR=%s", dir);
	if (path == NULL || env == NULL)
		goto out;
	argv[n++] = (char *)"autoenroll-notify";
	argv[n++] = (char *)"--delay";
	argv[n++] = delay_s;
	argv[n++] = (char *)"--expire";
	argv[n++] = expire_s;
	if (config != NULL) {
		argv[n++] = (char *)"--config";
		argv[n++] = (char *)config;
	}
	first = n;
	/* Certificates about to expire that nothing renewed: shown, not
	 * offered (--expiring ITEM); then the work that needs the user. */
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			argv[n++] = (char *)"--";
		for (size_t i = 0; i < res->event_count; i++) {
			const ae_pulse_event *e = &res->events[i];
			if (e->kind != (pass == 0 ? AE_EV_EXPIRING : AE_EV_NEEDS_USER) || e->template_name == NULL)
				continue;
			if (pass == 0)
				argv[n++] = (char *)"--expiring";
			argv[n] = ae_strdup_printf("%s=%s", e->template_name, e->message ? e->message : "needs you");
			if (argv[n] == NULL)
				goto out;
			n++;
		}
	}
	argv[n] = NULL;
	fflush(stdout);
	/* Our own environment is the one pam_autoenroll built (or the
	 * user's own, run by hand), with the session's cache again: the
	 * memory one ends with this process. */
	putenv(env);
	if (session_ccname != NULL)
		setenv("KRB5CCNAME", session_ccname, 1);
	execv(path, argv);
	fprintf(stderr, PROG ": cannot start %s: %s\n", path, strerror(errno));
out:
	if (argv != NULL)
		for (size_t i = first; i < n; i++)
			if (strcmp(argv[i], "--expiring") != 0 && strcmp(argv[i], "--") != 0)
				free(argv[i]);
	free(argv);
	free(path);
	free(dir);
	return rc;
}
#endif

/* cep_client_key = pkcs11:... (transport/ces.h) in the background: a
 * token PIN is never asked, the skip reason says where it may come from */
static ae_err
cep_key_open(ae_ctx *ctx, const ae_conf *conf, const char *uri, const char *setting, X509 **cert_out,
             EVP_PKEY **pkey_out, void **handle_out)
{
	ae_err err = ae_key_open_uri_evp(ctx, uri, setting, NULL, NULL, cert_out, pkey_out, handle_out);

	(void)conf;
	if (err == AE_ERR_NEEDPIN)
		err = ae_set_message(ctx, err,
		                     "%s is on a token that needs a PIN, asked through pinentry in interactive runs only (autoenroll enroll, policy), never in the background pulse: add pin-source=FILE to the URI for pulses",
		                     setting);
	return err;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "refresh", no_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
#ifdef AE_HELPER_MACHINE
		{ "once-per-boot", no_argument, NULL, 'B' },
#else
		/* Machine templates never prompt: only users are asked. */
		{ "interactive", no_argument, NULL, 'i' },
		{ "session", no_argument, NULL, 'S' },
		{ "express", no_argument, NULL, 'E' },
		{ "delay", required_argument, NULL, 'D' },
		{ "no-notify", no_argument, NULL, 'N' },
#endif
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	bool wait = false, json = false, once_per_boot = false, session = false, notify = true;
	int verbose = 0, c, rc = 1, delay = -1;
	char *end = NULL;
	long v;
	ae_engine_opts eo = { .machine = MACHINE, .emit = true, .ident = PROG, .group_policy = ae_gp_pulse_settings };
	ae_pulse_outcome outcome;
	ae_pulse_result *res = NULL;
	ae_conf *conf = NULL;
	double started;
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
		case 'B': once_per_boot = true; break;
		case 'S': session = true; break;
		case 'E': delay = 0; break;
		case 'N': notify = false; break;
		case 'D':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg || v < 0 || v > 86400) {
				fprintf(stderr, PROG ": --delay takes seconds from 0 to 86400, not \"%s\"\n", optarg);
				return 2;
			}
			delay = (int)v;
			break;
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
	started = ae_monotonic_seconds();
	ctx = ae_ctx_new();
	if (ctx == NULL)
		return 1;
	ae_ctx_set_log(ctx, log_stderr, NULL, verbose >= 2 ? AE_LOG_DEBUG : verbose ? AE_LOG_INFO : AE_LOG_ERR);
	/* cep_client_key = pkcs11:...; never a password or PIN prompt (cep_password = pinentry): a skip reason */
	ae_cep_set_key_opener(cep_key_open, ae_key_uri_close);
#ifndef AE_HELPER_MACHINE
	adopt_ccache_copy(ctx);
#endif
	if (ae_conf_load(ctx, config ? config : ae_conf_default_path(), config != NULL, &conf) != AE_OK) {
		fprintf(stderr, PROG ": %s\n", ae_get_message(ctx));
		goto out;
	}
#ifndef AE_HELPER_MACHINE
	/* Machine templates never prompt: only the user helper asks. */
	if (eo.interactive) {
		eo.pin_prompt = ae_pinentry_prompt;
		eo.pin_prompt_data = conf->pinentry;
	}
#endif
	if (once_per_boot && ran_since_boot(ctx, conf)) {
		if (verbose)
			printf("A machine pulse ran since boot: nothing to do.\n");
		rc = 0;
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
		rc = res->failed > 0 ? EXIT_SOME_FAILED : 0;
	}
	if (session && notify && res != NULL)
		rc = offer_to_user(conf, config, res, delay, started, rc);
out:
	ae_pulse_result_free(res);
	ae_conf_free(conf);
	ae_ctx_free(ctx);
#ifndef AE_HELPER_MACHINE
	free(session_ccname);
#endif
	return rc;
}
