/*
 * pam_autoenroll.c - the PAM session module: at login, start certificate
 * autoenrollment for the user in a detached helper and return at once.
 *
 *   session optional pam_autoenroll.so [options]     (pam_autoenroll(8))
 *
 * A login never waits on the network: this module does no network, no
 * crypto and no LDAP, and links only libc and libpam.  All the work is in
 * autoenroll-user (fixed path), started as the user with a clean
 * environment built here.  It never fails a session unless the admin says
 * "strict".  Logging goes through pam_syslog only.
 */
#include "config.h"

#include "ccache.h"
#include "options.h"
#include "spawn.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>

#define PAM_EXPORT __attribute__((visibility("default")))

#ifndef AE_PAM_HELPERDIR
#error "AE_PAM_HELPERDIR must name the directory of the helpers"
#endif
#define USER_HELPER AE_PAM_HELPERDIR "/autoenroll-user"
/* pam_autoenroll(8), machine_pulse: the unit it starts, and how it tells
 * systemd runs (sd_booted(3)). */
#define MACHINE_UNIT "autoenroll-machine.service"
#define SYSTEMD_RUNDIR "/run/systemd/system"

#define SAFE_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_ENV 24
#define CC_PATH_MAX 4200
#define MAX_ARGS 16

typedef struct {
	char *v[MAX_ENV + 1];
	size_t n;
} strvec;

static void
vec_free(strvec *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	e->n = 0;
	e->v[0] = NULL;
}

static int
vec_addf(strvec *e, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	if (e->n >= MAX_ENV)
		return -1;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
	return 0;
}

/* A value from the PAM environment worth passing on: short, printable.
 * The PAM environment is filled by other modules and, for sshd, partly by
 * the client. */
static const char *
pam_env(pam_handle_t *pamh, const char *name)
{
	const char *v = pam_getenv(pamh, name);

	if (v == NULL || *v == '\0' || strlen(v) > 4096)
		return NULL;
	for (const char *p = v; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return NULL;
	return v;
}

/* The helper is root's: a file anyone else can change would run as every
 * user who logs in. */
static int
check_helper(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "the helper %s is missing: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 ||
	    (st.st_mode & S_IXOTH) == 0) {
		snprintf(err, errlen, "the helper %s is not a root-owned executable that only root can change: not started",
		         path);
		return -1;
	}
	return 0;
}

/* A graphical session: a display manager sets one of these. */
static bool
graphical(pam_handle_t *pamh)
{
	const void *item = NULL;
	const char *type = pam_env(pamh, "XDG_SESSION_TYPE");

	if (type != NULL)
		return strcmp(type, "x11") == 0 || strcmp(type, "wayland") == 0 || strcmp(type, "mir") == 0;
	if (pam_get_item(pamh, PAM_XDISPLAY, &item) == PAM_SUCCESS && item != NULL && *(const char *)item)
		return true;
	if (pam_env(pamh, "DISPLAY") != NULL || pam_env(pamh, "WAYLAND_DISPLAY") != NULL)
		return true;
	if (pam_get_item(pamh, PAM_TTY, &item) == PAM_SUCCESS && item != NULL && ((const char *)item)[0] == ':')
		return true;
	return false;
}

static int
build_env(pam_handle_t *pamh, const struct passwd *pw, bool gui, strvec *env)
{
	static const char *const passed[] = {
		"KRB5CCNAME", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "LANG", "LC_ALL",
		"LC_MESSAGES", "LC_CTYPE", "XDG_SESSION_TYPE", NULL,
	};
	static const char *const gui_only[] = { "DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", NULL };
	char rundir[64];
	struct stat st;
	bool have_rundir = false;

	if (vec_addf(env, "PATH=%s", SAFE_PATH) < 0 || vec_addf(env, "HOME=%s", pw->pw_dir) < 0 ||
	    vec_addf(env, "USER=%s", pw->pw_name) < 0 || vec_addf(env, "LOGNAME=%s", pw->pw_name) < 0 ||
	    vec_addf(env, "SHELL=%s", pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh") < 0)
		return -1;
	for (size_t i = 0; passed[i] != NULL; i++) {
		const char *v = pam_env(pamh, passed[i]);
		if (v == NULL)
			continue;
		if (strcmp(passed[i], "XDG_RUNTIME_DIR") == 0)
			have_rundir = true;
		if (vec_addf(env, "%s=%s", passed[i], v) < 0)
			return -1;
	}
	/* pam_systemd runs after us in some stacks: the runtime directory it
	 * will create is known, and the notification helper looks for the
	 * bus there a minute later. */
	snprintf(rundir, sizeof(rundir), "/run/user/%lu", (unsigned long)pw->pw_uid);
	if (!have_rundir && gui && (stat("/run/user", &st) == 0) && vec_addf(env, "XDG_RUNTIME_DIR=%s", rundir) < 0)
		return -1;
	if (gui) {
		const void *xd = NULL;
		for (size_t i = 0; gui_only[i] != NULL; i++) {
			const char *v = pam_env(pamh, gui_only[i]);
			if (v != NULL && vec_addf(env, "%s=%s", gui_only[i], v) < 0)
				return -1;
		}
		if (pam_env(pamh, "DISPLAY") == NULL && pam_get_item(pamh, PAM_XDISPLAY, &xd) == PAM_SUCCESS &&
		    xd != NULL && *(const char *)xd && strlen(xd) < 256 && vec_addf(env, "DISPLAY=%s", (const char *)xd) < 0)
			return -1;
	}
	return 0;
}

/* The user's supplementary groups, looked up before fork (NSS is not
 * async-signal-safe).  Caller frees *OUT. */
static int
user_groups(const struct passwd *pw, gid_t **out, size_t *nout)
{
	int n = 32;
	gid_t *g = NULL;

	for (int tries = 0; tries < 8; tries++) {
		gid_t *ng = realloc(g, (size_t)n * sizeof(*g));
		int want = n;
		if (ng == NULL)
			break;
		g = ng;
		if (getgrouplist(pw->pw_name, pw->pw_gid, g, &want) >= 0) {
			*out = g;
			*nout = (size_t)want;
			return 0;
		}
		n = want > n ? want : n * 2;
		if (n > 65536)
			break;
	}
	free(g);
	return -1;
}

/* pam_krb5 destroys a FILE ticket cache when the PAM handle ends, which
 * for `ssh host command` is right after this module returns: the helper
 * gets a private copy, made as the user in the helper's process before
 * its exec (spawn.c), which it loads into memory and deletes.  Other
 * cache types (KEYRING, KCM) outlive the handle and are passed as they
 * are.  Fills S's cc_ fields and ENV; DST receives the copy's path.
 * Returns -1 only when out of memory. */
static int
secure_ccache(pam_handle_t *pamh, const ae_pam_opts *o, const struct passwd *pw, char *src, char *dst,
              strvec *env, ae_spawn *s)
{
	const char *ccname = pam_env(pamh, "KRB5CCNAME");
	const char *rundir = pam_env(pamh, "XDG_RUNTIME_DIR");
	unsigned long long r = 0;
	struct stat st;

	if (ccname == NULL)
		return 0;
	switch (ae_pam_ccache_parse(ccname, src, CC_PATH_MAX)) {
	case AE_PAM_CC_FILE:
		break;
	case AE_PAM_CC_OTHER:
		if (o->debug)
			pam_syslog(pamh, LOG_DEBUG, "ticket cache %s is not a file: passed on as it is", ccname);
		return 0;
	default:
		pam_syslog(pamh, LOG_WARNING, "KRB5CCNAME=%s is not a ticket cache name libkrb5 reads: not copied", ccname);
		return 0;
	}
	/* Nothing there (yet): nothing to secure; the helper will say so. */
	if (lstat(src, &st) < 0 && errno == ENOENT) {
		if (o->debug)
			pam_syslog(pamh, LOG_DEBUG, "ticket cache %s does not exist: not copied", src);
		return 0;
	}
	/* The user's runtime directory when it is already there (pam_systemd
	 * often runs later), else /tmp: created O_EXCL under a random name. */
	if (rundir == NULL || stat(rundir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != pw->pw_uid)
		rundir = "/tmp";
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		r = ((unsigned long long)t.tv_nsec << 20) ^ (unsigned long long)t.tv_sec ^ (unsigned long long)getpid();
	}
	if (ae_pam_ccache_copy_path(rundir, (unsigned long)pw->pw_uid, r, dst, CC_PATH_MAX) < 0) {
		pam_syslog(pamh, LOG_WARNING, "runtime directory %s is too long: ticket cache not copied", rundir);
		return 0;
	}
	if (vec_addf(env, "AUTOENROLL_CCACHE_COPY=%s", dst) < 0)
		return -1;
	s->cc_src = src;
	s->cc_dst = dst;
	s->cc_owner = pw->pw_uid;
	if (o->debug)
		pam_syslog(pamh, LOG_DEBUG, "ticket cache %s copied for the helper to %s", src, dst);
	return 0;
}

static bool
service_applies(const ae_pam_opts *o, const char *service)
{
	if (o->services != NULL)
		return ae_pam_in_list(o->services, service);
	return !ae_pam_in_list(o->skip_services ? o->skip_services : AE_PAM_DEFAULT_SKIP_SERVICES, service);
}

/* Asks systemd for a machine pulse: no root work in the login's own
 * process tree (its session scope, audit loginuid, rlimits), the pulse
 * runs in autoenroll-machine.service with the unit's sandbox.  A detached
 * grandchild (ae_spawn_detached: new session, reparented, nothing
 * inherited) execs `systemctl --no-block start`, which queues the start
 * job and returns; a start while the unit runs joins it.  Without
 * systemd (no /run/systemd/system, as sd_booted(3) checks) nothing is
 * started. */
static void
machine_pulse(pam_handle_t *pamh, const ae_pam_opts *o)
{
	static const char *const systemctls[] = { "/usr/bin/systemctl", "/bin/systemctl" };
	char *argv[5], *envp[2];
	char err[256];
	const char *systemctl = NULL;
	struct stat st;
	ae_spawn s;

	if (geteuid() != 0)
		return;
	if (lstat(SYSTEMD_RUNDIR, &st) != 0 || !S_ISDIR(st.st_mode)) {
		if (o->debug)
			pam_syslog(pamh, LOG_DEBUG, "machine_pulse: systemd is not running (no %s): no machine pulse asked for",
			           SYSTEMD_RUNDIR);
		return;
	}
	for (size_t i = 0; i < sizeof(systemctls) / sizeof(systemctls[0]) && systemctl == NULL; i++)
		if (check_helper(systemctls[i], err, sizeof(err)) == 0)
			systemctl = systemctls[i];
	if (systemctl == NULL) {
		pam_syslog(pamh, LOG_WARNING, "machine pulse not asked for: %s", err);
		return;
	}
	argv[0] = (char *)"systemctl";
	argv[1] = (char *)"--no-block";
	argv[2] = (char *)"start";
	argv[3] = (char *)MACHINE_UNIT;
	argv[4] = NULL;
	envp[0] = (char *)"PATH=" SAFE_PATH;
	envp[1] = NULL;
	memset(&s, 0, sizeof(s));
	s.path = systemctl;
	s.argv = argv;
	s.envp = envp;
	s.dir = "/";
	if (ae_spawn_detached(&s, err, sizeof(err)) < 0)
		pam_syslog(pamh, LOG_WARNING, "cannot ask for a machine pulse: %s", err);
	else if (o->debug)
		pam_syslog(pamh, LOG_DEBUG, "asked systemd for a machine pulse (%s --no-block start %s)", systemctl,
		           MACHINE_UNIT);
}

static int
open_session(pam_handle_t *pamh, int argc, const char **argv)
{
	const char *user = NULL, *service = NULL;
	const struct passwd *pw;
	ae_pam_opts o;
	strvec env = { { NULL }, 0 };
	char *args[MAX_ARGS];
	char err[512], delay[16];
	char *cc_src = NULL, *cc_dst = NULL;
	gid_t *groups = NULL;
	size_t ngroups = 0, na = 0;
	bool gui, ok = false;
	ae_spawn s;
	pid_t pid;

	if (ae_pam_parse_opts(argc, argv, &o, err, sizeof(err)) < 0)
		pam_syslog(pamh, LOG_WARNING, "%s", err);
	if (pam_get_item(pamh, PAM_SERVICE, (const void **)&service) != PAM_SUCCESS || service == NULL)
		service = "";
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL || *user == '\0') {
		pam_syslog(pamh, LOG_ERR, "no user for this session: autoenrollment not started");
		goto out;
	}
	if (!service_applies(&o, service)) {
		if (o.debug)
			pam_syslog(pamh, LOG_DEBUG, "service %s is not one autoenroll acts on", service);
		ok = true;
		goto out;
	}
	if (o.machine_pulse)
		machine_pulse(pamh, &o);

	pw = pam_modutil_getpwnam(pamh, user);
	if (pw == NULL) {
		pam_syslog(pamh, LOG_ERR, "user %s is unknown to the system: autoenrollment not started", user);
		goto out;
	}
	/* root's certificates are the machine's: autoenroll-machine. */
	if (pw->pw_uid == 0 || pw->pw_uid < o.min_uid || (o.users != NULL && !ae_pam_in_list(o.users, user)) ||
	    ae_pam_in_list(o.skip_users, user)) {
		if (o.debug)
			pam_syslog(pamh, LOG_DEBUG, "user %s (uid %lu) is not one autoenroll acts on", user,
			           (unsigned long)pw->pw_uid);
		ok = true;
		goto out;
	}
	if (geteuid() != 0 && geteuid() != pw->pw_uid) {
		pam_syslog(pamh, LOG_ERR, "%s does not run as root or as %s: autoenrollment not started", service, user);
		goto out;
	}
	if (check_helper(USER_HELPER, err, sizeof(err)) < 0) {
		pam_syslog(pamh, LOG_ERR, "%s", err);
		goto out;
	}
	gui = graphical(pamh);
	if (build_env(pamh, pw, gui, &env) < 0 || (geteuid() == 0 && user_groups(pw, &groups, &ngroups) < 0)) {
		pam_syslog(pamh, LOG_ERR, "out of memory: autoenrollment not started for %s", user);
		goto out;
	}
	if (o.debug && pam_env(pamh, "KRB5CCNAME") == NULL)
		pam_syslog(pamh, LOG_DEBUG,
		           "no KRB5CCNAME in the PAM environment (pam_krb5/pam_sss set it): the helper uses %s's default credentials",
		           user);

	args[na++] = (char *)"autoenroll-user";
	args[na++] = (char *)"--session";
	if (o.conf != NULL) {
		args[na++] = (char *)"--config";
		args[na++] = (char *)o.conf;
	}
	/* Without a graphical session there is nobody to show a
	 * notification to; the work waits for one (or for autoenroll pulse). */
	if (o.no_notify || !gui)
		args[na++] = (char *)"--no-notify";
	if (o.express) {
		args[na++] = (char *)"--express";
	} else if (o.delay >= 0) {
		snprintf(delay, sizeof(delay), "%d", o.delay);
		args[na++] = (char *)"--delay";
		args[na++] = delay;
	}
	args[na] = NULL;

	memset(&s, 0, sizeof(s));
	cc_src = malloc(CC_PATH_MAX);
	cc_dst = malloc(CC_PATH_MAX);
	if (cc_src == NULL || cc_dst == NULL || secure_ccache(pamh, &o, pw, cc_src, cc_dst, &env, &s) < 0) {
		pam_syslog(pamh, LOG_ERR, "out of memory: autoenrollment not started for %s", user);
		goto out;
	}
	s.path = USER_HELPER;
	s.argv = args;
	s.envp = env.v;
	s.switch_user = geteuid() == 0;
	s.uid = pw->pw_uid;
	s.gid = pw->pw_gid;
	s.groups = groups;
	s.ngroups = ngroups;
	s.dir = pw->pw_dir;
	pid = ae_spawn_detached(&s, err, sizeof(err));
	if (pid < 0) {
		pam_syslog(pamh, LOG_ERR, "cannot start autoenrollment for %s: %s", user, err);
		goto out;
	}
	if (o.debug)
		pam_syslog(pamh, LOG_DEBUG, "autoenrollment for %s started (pid %ld, %s session%s)", user, (long)pid,
		           gui ? "graphical" : "text", o.express ? ", express" : "");
	ok = true;
out:
	vec_free(&env);
	free(groups);
	free(cc_src);
	free(cc_dst);
	if (ok)
		return PAM_SUCCESS;
	return o.strict ? PAM_SESSION_ERR : PAM_IGNORE;
}

PAM_EXPORT int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)flags;
	return open_session(pamh, argc, argv);
}

/* The helper outlives the session's close: a pulse half done is finished
 * (or its records recovered next time); the notification helper leaves
 * when the session bus goes. */
PAM_EXPORT int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

/* Listed in an auth stack by mistake (or by a screen locker's stack), the
 * module does nothing: unlocking a screen never starts enrollment. */
PAM_EXPORT int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_IGNORE;
}

PAM_EXPORT int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_IGNORE;
}
