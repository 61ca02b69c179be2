/*
 * pam-session.c - a small PAM application for the tests and the login
 * benchmark: what a login program does (pam_start, authenticate, setcred,
 * open_session, ..., close_session, end), with the time pam_open_session
 * takes and what it left behind in this process.
 *
 *   pam-session [options] SERVICE USER
 *     --auth              pam_authenticate + pam_setcred(ESTABLISH) first
 *     --unlock            only pam_authenticate + pam_setcred(REINITIALIZE),
 *                         what a screen locker does; no session
 *     --password-file F   the password the conversation gives
 *     --putenv NAME=VAL   into the PAM environment before the session
 *     --item NAME=VAL     PAM_TTY, PAM_RHOST or PAM_XDISPLAY
 *     --count N           N sessions one after another (default 1)
 *     --interval MS       pause between sessions (logins are not back to back)
 *     --hold SECONDS      keep each session open that long
 *     --hold-file PATH    keep the session open until PATH exists
 *     --check-leaks       fail if open_session left a descriptor, a signal
 *                         disposition, a signal mask change or a child
 *     --print-env         print the PAM environment after open_session
 * Prints "open_session_us N" per session.  Exit status: 0, 1 a PAM call
 * failed, 2 usage, 3 leaks found.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

static char password[256];

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	(void)data;
	if (r == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			r[i].resp = strdup(password);
			break;
		default:
			fprintf(stderr, "pam: %s\n", msg[i]->msg);
			break;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

typedef struct {
	char fds[4096];
	struct sigaction sa[NSIG];
	sigset_t mask;
	mode_t umask;
} snapshot;

static void
take(snapshot *s)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int self = d ? dirfd(d) : -1;

	s->fds[0] = '\0';
	while (d != NULL && (e = readdir(d)) != NULL) {
		char one[300];
		if (e->d_name[0] == '.' || atoi(e->d_name) == self)
			continue;
		snprintf(one, sizeof(one), "%s ", e->d_name);
		strncat(s->fds, one, sizeof(s->fds) - strlen(s->fds) - 1);
	}
	if (d != NULL)
		closedir(d);
	/* glibc keeps 32 and 33 for itself: sigaction fails there. */
	memset(s->sa, 0, sizeof(s->sa));
	for (int i = 1; i < NSIG; i++)
		if (sigaction(i, NULL, &s->sa[i]) < 0)
			memset(&s->sa[i], 0, sizeof(s->sa[i]));
	sigemptyset(&s->mask);
	sigprocmask(SIG_SETMASK, NULL, &s->mask);
	s->umask = umask(022);
	umask(s->umask);
}

static int
compare(const snapshot *a, const snapshot *b)
{
	int leaks = 0;
	int status;
	pid_t p;

	if (strcmp(a->fds, b->fds) != 0) {
		printf("leak: descriptors before [%s] after [%s]\n", a->fds, b->fds);
		leaks++;
	}
	for (int i = 1; i < NSIG; i++) {
		if (a->sa[i].sa_handler != b->sa[i].sa_handler || a->sa[i].sa_flags != b->sa[i].sa_flags) {
			printf("leak: signal %d disposition changed\n", i);
			leaks++;
		}
	}
	for (int i = 1; i < NSIG; i++) {
		if (sigismember(&a->mask, i) != sigismember(&b->mask, i)) {
			printf("leak: signal %d blocked or unblocked\n", i);
			leaks++;
		}
	}
	if (a->umask != b->umask) {
		printf("leak: umask changed\n");
		leaks++;
	}
	p = waitpid(-1, &status, WNOHANG);
	if (p != -1 || errno != ECHILD) {
		printf("leak: a child is left (waitpid -> %ld)\n", (long)p);
		leaks++;
	}
	return leaks;
}

static long
usec_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000L + (b->tv_nsec - a->tv_nsec) / 1000;
}

static int
set_item(pam_handle_t *h, const char *spec)
{
	const char *v = strchr(spec, '=');
	int type;

	if (v == NULL)
		return -1;
	if (strncmp(spec, "PAM_TTY=", 8) == 0)
		type = PAM_TTY;
	else if (strncmp(spec, "PAM_RHOST=", 10) == 0)
		type = PAM_RHOST;
	else if (strncmp(spec, "PAM_XDISPLAY=", 13) == 0)
		type = PAM_XDISPLAY;
	else
		return -1;
	return pam_set_item(h, type, v + 1) == PAM_SUCCESS ? 0 : -1;
}

int
main(int argc, char **argv)
{
	const char *putenvs[16], *items[8], *hold_file = NULL;
	size_t nput = 0, nitems = 0;
	bool auth = false, unlock = false, check = false, print_env = false;
	int count = 1, hold = 0, leaks = 0, interval = 0, i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--auth") == 0)
			auth = true;
		else if (strcmp(a, "--unlock") == 0)
			unlock = true;
		else if (strcmp(a, "--check-leaks") == 0)
			check = true;
		else if (strcmp(a, "--print-env") == 0)
			print_env = true;
		else if (v == NULL)
			goto usage;
		else if (strcmp(a, "--password-file") == 0) {
			FILE *f = fopen(v, "r");
			if (f == NULL || fgets(password, sizeof(password), f) == NULL) {
				perror(v);
				return 2;
			}
			fclose(f);
			password[strcspn(password, "\r\n")] = '\0';
			i++;
		} else if (strcmp(a, "--putenv") == 0 && nput < 16)
			putenvs[nput++] = argv[++i];
		else if (strcmp(a, "--item") == 0 && nitems < 8)
			items[nitems++] = argv[++i];
		else if (strcmp(a, "--count") == 0)
			count = atoi(argv[++i]);
		else if (strcmp(a, "--interval") == 0)
			interval = atoi(argv[++i]);
		else if (strcmp(a, "--hold") == 0)
			hold = atoi(argv[++i]);
		else if (strcmp(a, "--hold-file") == 0)
			hold_file = argv[++i];
		else
			goto usage;
	}
	if (argc - i != 2 || count < 1)
		goto usage;

	for (int n = 0; n < count; n++) {
		struct pam_conv c = { conv, NULL };
		pam_handle_t *h = NULL;
		struct timespec t0, t1;
		snapshot before, after;
		int rc;

		rc = pam_start(argv[i], argv[i + 1], &c, &h);
		if (rc != PAM_SUCCESS) {
			fprintf(stderr, "pam_start: %s\n", pam_strerror(h, rc));
			return 1;
		}
		for (size_t k = 0; k < nitems; k++)
			if (set_item(h, items[k]) < 0) {
				fprintf(stderr, "bad --item %s\n", items[k]);
				return 2;
			}
		if (auth || unlock) {
			rc = pam_authenticate(h, 0);
			if (rc == PAM_SUCCESS)
				rc = pam_setcred(h, unlock ? PAM_REINITIALIZE_CRED : PAM_ESTABLISH_CRED);
			if (rc != PAM_SUCCESS) {
				fprintf(stderr, "authentication: %s\n", pam_strerror(h, rc));
				pam_end(h, rc);
				return 1;
			}
			if (unlock) {
				pam_end(h, PAM_SUCCESS);
				printf("unlocked\n");
				continue;
			}
		}
		for (size_t k = 0; k < nput; k++)
			pam_putenv(h, putenvs[k]);
		take(&before);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = pam_open_session(h, 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		take(&after);
		if (rc != PAM_SUCCESS) {
			fprintf(stderr, "pam_open_session: %s\n", pam_strerror(h, rc));
			pam_end(h, rc);
			return 1;
		}
		printf("open_session_us %ld\n", usec_between(&t0, &t1));
		if (check)
			leaks += compare(&before, &after);
		if (print_env) {
			char **env = pam_getenvlist(h);
			for (char **e = env; e != NULL && *e != NULL; e++) {
				printf("env %s\n", *e);
				free(*e);
			}
			free(env);
		}
		fflush(stdout);
		if (hold > 0)
			sleep((unsigned)hold);
		while (hold_file != NULL && access(hold_file, F_OK) != 0)
			usleep(100000);
		pam_close_session(h, 0);
		if (auth)
			pam_setcred(h, PAM_DELETE_CRED);
		pam_end(h, PAM_SUCCESS);
		if (interval > 0 && n + 1 < count)
			usleep((useconds_t)interval * 1000);
	}
	if (check)
		printf("%s\n", leaks ? "leaks found" : "no leaks");
	return leaks ? 3 : 0;
usage:
	fprintf(stderr, "usage: pam-session [--auth|--unlock] [--password-file F] [--putenv N=V] [--item N=V] "
	                "[--count N] [--interval MS] [--hold S] [--hold-file P] [--check-leaks] [--print-env] SERVICE USER\n");
	return 2;
}
