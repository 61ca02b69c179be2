/*
 * spawn.h - start a program detached from the calling process, as another
 * user, without leaving anything behind in the caller.
 */
#ifndef AE_PAM_SPAWN_H
#define AE_PAM_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
	const char *path;     /* absolute path of the program */
	char *const *argv;
	char *const *envp;    /* the whole environment of the program */
	bool switch_user;     /* drop to uid/gid/groups, permanently */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;  /* supplementary groups (computed before fork) */
	size_t ngroups;
	const char *dir;      /* working directory ("/" if it cannot be entered) */
	/* If set, the ticket cache file CC_SRC (OWNER's) is copied to CC_DST
	 * as the new identity before the exec (ccache.h); a failure stops
	 * the start with a sentence naming the refusal. */
	const char *cc_src;
	const char *cc_dst;
	uid_t cc_owner;
} ae_spawn;

/* Starts S->path in a new session, as a grandchild (reparented to init or
 * the nearest subreaper, so the caller has no child to reap), with
 * stdin/stdout/stderr on /dev/null, no other descriptor, default signal
 * dispositions, an empty signal mask and no_new_privs.  Waits only for
 * the exec to happen.  Returns the helper's pid, or -1 with a sentence in
 * ERR.  Only async-signal-safe calls run between fork and exec, so it is
 * safe in threaded callers (display managers). */
pid_t ae_spawn_detached(const ae_spawn *s, char *err, size_t errlen);

#endif
