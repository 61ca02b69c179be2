/*
 * spawn.c - start a helper detached from a PAM application.
 *
 * The application (sshd, gdm, login) goes on with the session at once: we
 * fork twice so the helper is nobody's child here, and we wait only for
 * the intermediate child (which exits right after its fork) and for the
 * exec (the close-on-exec pipe reaches EOF).  Between fork and exec only
 * async-signal-safe calls run: everything that needs NSS or malloc (the
 * group list, argv, the environment) was prepared by the caller.
 */
#include "config.h"

#include "spawn.h"
#include "ccache.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>

/* How long the caller may wait for fork+exec.  An exec normally takes
 * well under a millisecond; this bound only matters on a machine that is
 * swapping, and even then the helper starts, we just stop waiting. */
#define EXEC_WAIT_MS 2000

enum { REC_PID = 1, REC_FAIL = 2 };
enum {
	ST_SETSID = 1, ST_FORK, ST_DEVNULL, ST_FDS, ST_SETGROUPS, ST_SETGID, ST_SETUID,
	ST_VERIFY, ST_REGAIN, ST_NNP, ST_CCACHE, ST_EXEC,
};

struct rec {
	int kind;
	int stage;
	int err;
	int detail;   /* ST_CCACHE: ae_pam_ccache_copy's code */
	pid_t pid;
};

static const char *
stage_name(int stage)
{
	switch (stage) {
	case ST_SETSID: return "setsid";
	case ST_FORK: return "fork";
	case ST_DEVNULL: return "opening /dev/null";
	case ST_FDS: return "closing descriptors";
	case ST_SETGROUPS: return "setgroups";
	case ST_SETGID: return "setresgid";
	case ST_SETUID: return "setresuid";
	case ST_VERIFY: return "checking the new identity";
	case ST_REGAIN: return "checking that root cannot be regained";
	case ST_NNP: return "setting no_new_privs";
	case ST_CCACHE: return "copying the ticket cache";
	case ST_EXEC: return "exec";
	default: return "starting";
	}
}

static void
send_rec(int fd, int kind, int stage, int err, int detail, pid_t pid)
{
	struct rec r;
	ssize_t n;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.stage = stage;
	r.err = err;
	r.detail = detail;
	r.pid = pid;
	do
		n = write(fd, &r, sizeof(r));
	while (n < 0 && errno == EINTR);
}

static void __attribute__((noreturn))
fail(int fd, int stage)
{
	send_rec(fd, REC_FAIL, stage, errno, 0, 0);
	_exit(127);
}

/* Runs in the grandchild; never returns. */
static void __attribute__((noreturn))
become_helper(const ae_spawn *s, int fd)
{
	struct sigaction sa;
	sigset_t all;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int null;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL); /* EINVAL for KILL/STOP: fine */

	null = open("/dev/null", O_RDWR);
	if (null < 0)
		fail(fd, ST_DEVNULL);
	if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		fail(fd, ST_DEVNULL);
	/* The report pipe goes to fd 3; everything else the application had
	 * open (sockets, the utmp file, its log) is closed. */
	if (fd != 3) {
		if (dup3(fd, 3, O_CLOEXEC) < 0)
			fail(fd, ST_FDS);
		fd = 3;
	}
	closefrom(4);

	if (s->switch_user) {
		if (setgroups(s->ngroups, s->groups) < 0)
			fail(fd, ST_SETGROUPS);
		if (setresgid(s->gid, s->gid, s->gid) < 0)
			fail(fd, ST_SETGID);
		if (setresuid(s->uid, s->uid, s->uid) < 0)
			fail(fd, ST_SETUID);
		if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
		    ru != s->uid || eu != s->uid || su != s->uid ||
		    rg != s->gid || eg != s->gid || sg != s->gid) {
			errno = EPERM;
			fail(fd, ST_VERIFY);
		}
		if (s->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
			errno = EPERM;
			fail(fd, ST_REGAIN);
		}
	}
	/* The helper never needs setuid programs: nothing it runs may gain
	 * privileges either. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(fd, ST_NNP);
	/* The user's home, else the root; if neither, stay: the helper uses
	 * absolute paths only. */
	if ((s->dir == NULL || chdir(s->dir) < 0) && chdir("/") < 0)
		errno = 0;
	umask(077);
	/* As the user now: the copy can only read what the user may, and it
	 * is the user's own file.  The caller waits for the exec, so the copy
	 * is there before the module returns. */
	if (s->cc_src != NULL) {
		int code = ae_pam_ccache_copy(s->cc_src, s->cc_dst, s->cc_owner);
		if (code != AE_PAM_CC_OK) {
			send_rec(fd, REC_FAIL, ST_CCACHE, errno, code, 0);
			_exit(127);
		}
	}

	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	execve(s->path, s->argv, s->envp);
	if (s->cc_src != NULL) {
		int e = errno;
		unlink(s->cc_dst);
		errno = e;
	}
	fail(fd, ST_EXEC);
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

pid_t
ae_spawn_detached(const ae_spawn *s, char *err, size_t errlen)
{
	sigset_t all, saved;
	struct timespec t0;
	struct rec r;
	pid_t child, helper = -1;
	int pfd[2], status, e;
	size_t got = 0;

	if (errlen > 0)
		err[0] = '\0';
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	/* No handler of the application may run in the child before we
	 * reset them; the caller's own mask is restored below. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	child = fork();
	if (child == 0) {
		pid_t pid;

		close(pfd[0]);
		if (setsid() < 0)
			fail(pfd[1], ST_SETSID);
		pid = fork();
		if (pid < 0)
			fail(pfd[1], ST_FORK);
		if (pid > 0) {
			send_rec(pfd[1], REC_PID, 0, 0, 0, pid);
			_exit(0);
		}
		become_helper(s, pfd[1]);
	}
	e = errno;
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	close(pfd[1]);
	if (child < 0) {
		close(pfd[0]);
		snprintf(err, errlen, "fork: %s", strerror(e));
		return -1;
	}
	/* ECHILD: the application reaps children itself (a SIGCHLD handler
	 * or SIG_IGN); the intermediate child is gone either way. */
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		long left = EXEC_WAIT_MS - ms_since(&t0);
		ssize_t n;
		int pr;

		if (left <= 0)
			break; /* still starting: no news is good news */
		pr = poll(&p, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			break;
		n = read(pfd[0], (char *)&r + got, sizeof(r) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* EOF: exec succeeded (or the pipe broke) */
		got += (size_t)n;
		if (got < sizeof(r))
			continue;
		got = 0;
		if (r.kind == REC_PID) {
			helper = r.pid;
		} else if (r.kind == REC_FAIL && r.stage == ST_CCACHE) {
			ae_pam_ccache_strerror(r.detail, r.err, s->cc_src, s->cc_dst, s->cc_owner, err, errlen);
			helper = -1;
			break;
		} else if (r.kind == REC_FAIL) {
			snprintf(err, errlen, "%s %s: %s", stage_name(r.stage),
			         r.stage == ST_EXEC ? s->path : "failed", strerror(r.err));
			helper = -1;
			break;
		}
	}
	close(pfd[0]);
	if (helper < 0 && err[0] == '\0')
		snprintf(err, errlen, "the helper %s did not start", s->path);
	return err[0] != '\0' ? -1 : helper;
}
