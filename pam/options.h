/*
 * options.h - the arguments of pam_autoenroll.so in a PAM stack line.
 *
 * See pam_autoenroll(8).  Parsing never fails a session: an unknown or bad
 * argument is reported (through the returned message) and ignored.
 */
#ifndef AE_PAM_OPTIONS_H
#define AE_PAM_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define AE_PAM_DEFAULT_MIN_UID 1000
#define AE_PAM_MAX_DELAY 86400

typedef struct {
	bool debug;
	bool express;        /* no delay before the notification (AEExpress) */
	bool no_notify;      /* never start the notification helper */
	bool machine_pulse;  /* ask for a machine pulse if none ran since boot */
	bool strict;         /* a helper that cannot start fails the session */
	int delay;           /* seconds before the notification; -1: the config's */
	unsigned long min_uid;
	const char *conf;    /* configuration file for the helpers, or NULL */
	const char *services;      /* comma list: only these services, or NULL */
	const char *skip_services; /* comma list replacing the default list, or NULL */
	const char *users;         /* comma list: only these users, or NULL */
	const char *skip_users;    /* comma list: never these users, or NULL */
} ae_pam_opts;

/* Services that open sessions nobody sits at: cron jobs, su/sudo, the
 * per-user systemd manager, polkit.  A login there must not enroll. */
#define AE_PAM_DEFAULT_SKIP_SERVICES \
	"cron,crond,atd,systemd-user,sudo,sudo-i,su,su-l,runuser,runuser-l,polkit-1,pkexec,samba,vsftpd,proftpd"

/* Fills OPTS from ARGV.  Returns 0, or -1 with a sentence in ERR (the
 * first bad argument; the others still apply). */
int ae_pam_parse_opts(int argc, const char **argv, ae_pam_opts *opts, char *err, size_t errlen);

/* Whether NAME is one of the comma-separated words of LIST. */
bool ae_pam_in_list(const char *list, const char *name);

#endif
