/*
 * cmd-pulse.c - "autoenroll pulse": trigger autoenrollment now, like
 * certutil -pulse (machine) and certutil -user -pulse.
 *
 * The CLI does no enrollment work itself: it starts the context's helper
 * (autoenroll-machine through systemd when systemd runs, else directly;
 * autoenroll-user as the calling user), detached unless --wait.
 */
#include "config.h"

#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PKGLIBEXECDIR
#define PKGLIBEXECDIR LIBEXECDIR "/autoenroll"
#endif

static void
pulse_usage(FILE *f)
{
	fprintf(f, "Usage: autoenroll pulse [--machine | --user] [--wait] [--json] [--refresh] [-c FILE]\n"
	           "       autoenroll pulse --user --interactive [--json] [--refresh] [-c FILE]\n");
}

/* The helper's path: fixed at build time.  $AUTOENROLL_LIBEXECDIR (read
 * with secure_getenv, so never for setuid callers) lets tests and
 * developers run the helpers from the build tree. */
static void
helper_path(const char *name, char *buf, size_t size)
{
	const char *dir = secure_getenv("AUTOENROLL_LIBEXECDIR");
	snprintf(buf, size, "%s/%s", dir && *dir ? dir : PKGLIBEXECDIR, name);
}

static int
run_wait(char *const *argv)
{
	int status = 0;
	pid_t pid = fork();

	if (pid < 0) {
		fprintf(stderr, "autoenroll: fork: %s\n", strerror(errno));
		return AE_EXIT_FAILURE;
	}
	if (pid == 0) {
		execv(argv[0], argv);
		fprintf(stderr, "autoenroll: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status))
		return AE_EXIT_FAILURE;
	/* The helper's 3 (completed with failures) is ours too; its 75
	 * (failed, retried at the next trigger) is a failure here. */
	if (WEXITSTATUS(status) == AE_EXIT_OK || WEXITSTATUS(status) == AE_EXIT_SOME_FAILED)
		return WEXITSTATUS(status);
	return AE_EXIT_FAILURE;
}

/* After "systemctl start --wait" failed: whether the unit's pulse ran and
 * only some templates failed (its helper exited 3). */
static bool
unit_some_failed(void)
{
	char line[32] = "";
	FILE *f = popen("/usr/bin/systemctl show -p ExecMainStatus --value autoenroll-machine.service 2>/dev/null", "r");

	if (f == NULL)
		return false;
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	pclose(f);
	return atoi(line) == AE_EXIT_SOME_FAILED;
}

/* Starts ARGV detached (new session, stdio on /dev/null): the trigger
 * returns at once and the pulse outlives the terminal. */
static int
run_detached(char *const *argv)
{
	int status = 0;
	pid_t pid = fork();

	if (pid < 0) {
		fprintf(stderr, "autoenroll: fork: %s\n", strerror(errno));
		return AE_EXIT_FAILURE;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		setsid();
		if (fork() != 0)
			_exit(0);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return AE_EXIT_OK;
}

int
ae_cmd_pulse(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "machine", no_argument, NULL, 'm' },
		{ "user", no_argument, NULL, 'u' },
		{ "wait", no_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "refresh", no_argument, NULL, 'r' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool machine = false, user = false, wait = false, json = false, refresh = false, interactive = false;
	char path[4096];
	char *args[12];
	size_t n = 0;
	int c;
	struct stat sb;

	(void)ctx;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': machine = true; break;
		case 'u': user = true; break;
		case 'w': wait = true; break;
		case 'j': json = true; break;
		case 'r': refresh = true; break;
		/* Consent and PINs are asked here and now (pinentry): the
		 * pulse runs in the foreground. */
		case 'i': interactive = wait = true; break;
		case 'c': g->config_path = optarg; break;
		case 'h': pulse_usage(stdout); return AE_EXIT_OK;
		default: pulse_usage(stderr); return AE_EXIT_USAGE;
		}
	}
	if (interactive && machine) {
		fprintf(stderr, "autoenroll: --interactive is for the user context: machine templates never prompt\n");
		return AE_EXIT_USAGE;
	}
	if (optind < argc || (machine && user) || (json && !wait)) {
		if (json && !wait)
			fprintf(stderr, "autoenroll: --json needs --wait (a detached pulse prints nothing)\n");
		pulse_usage(stderr);
		return AE_EXIT_USAGE;
	}
	if (machine && geteuid() != 0) {
		fprintf(stderr, "autoenroll: the machine pulse needs root: sudo autoenroll pulse --machine\n");
		return AE_EXIT_FAILURE;
	}
	/* Under systemd the machine pulse runs in its unit (its sandbox, its
	 * journal stream); the helper's own lock coalesces triggers. */
	if (machine && g->config_path == NULL && !refresh && !json && secure_getenv("AUTOENROLL_LIBEXECDIR") == NULL &&
	    stat("/run/systemd/system", &sb) == 0) {
		/* start waits for a oneshot unit to finish unless told not to. */
		char *sargs[] = { "/usr/bin/systemctl", "start", wait ? "--quiet" : "--no-block", "autoenroll-machine.service",
		                  NULL };
		if (run_wait(sargs) != AE_EXIT_OK) {
			if (wait && unit_some_failed()) {
				printf("Machine pulse done, some templates failed: journalctl -u autoenroll-machine says which\n");
				return AE_EXIT_SOME_FAILED;
			}
			return AE_EXIT_FAILURE;
		}
		printf(wait ? "Machine pulse done: journalctl -u autoenroll-machine shows what it did\n"
		            : "Machine pulse triggered: journalctl -u autoenroll-machine shows what it does\n");
		return AE_EXIT_OK;
	}
	helper_path(machine ? "autoenroll-machine" : "autoenroll-user", path, sizeof(path));
	if (access(path, X_OK) != 0) {
		fprintf(stderr, "autoenroll: cannot run %s: %s\n", path, strerror(errno));
		return AE_EXIT_FAILURE;
	}
	args[n++] = path;
	if (wait)
		args[n++] = "--wait";
	if (json)
		args[n++] = "--json";
	if (refresh)
		args[n++] = "--refresh";
	if (interactive)
		args[n++] = "--interactive";
	if (g->verbosity > 0)
		args[n++] = "-v";
	if (g->config_path != NULL) {
		args[n++] = "-c";
		args[n++] = (char *)g->config_path;
	}
	args[n] = NULL;
	if (wait)
		return run_wait(args);
	if (run_detached(args) != AE_EXIT_OK)
		return AE_EXIT_FAILURE;
	printf("%s pulse triggered: autoenroll status%s shows the outcome\n", machine ? "Machine" : "User",
	       machine ? " --machine" : "");
	return AE_EXIT_OK;
}
