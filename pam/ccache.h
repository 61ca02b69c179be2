/*
 * ccache.h - the user's Kerberos ticket cache, secured at session open.
 *
 * pam_krb5 destroys a FILE cache when the PAM handle ends: with `ssh host
 * command` or `pamtester ... open_session` that is milliseconds after
 * open_session, before the detached helper has read it.  So the module
 * copies a FILE cache, as the user, to a private file before it returns
 * (the helper's environment names it in AUTOENROLL_CCACHE_COPY; the helper
 * loads it into memory and deletes it).  Other cache types (KEYRING, KCM)
 * live outside the session and are passed on as they are.
 *
 * Everything here is libc only, and ae_pam_ccache_copy runs between fork
 * and exec: async-signal-safe calls only.
 */
#ifndef AE_PAM_CCACHE_H
#define AE_PAM_CCACHE_H

#include <stddef.h>
#include <sys/types.h>

/* A ticket cache larger than this is not a ticket cache: not copied. */
#define AE_PAM_CCACHE_MAX (1024 * 1024)
/* The private copy's name starts with this (the helper checks it). */
#define AE_PAM_CCACHE_PREFIX "autoenroll-ccache-"

/* What KRB5CCNAME names, as libkrb5 reads it: "FILE:/path" or "/path"
 * is a file (its path in PATH, PATHLEN bytes with the NUL); any other
 * "TYPE:residual" is not. */
typedef enum {
	AE_PAM_CC_FILE = 0,   /* PATH holds the absolute path */
	AE_PAM_CC_OTHER,      /* KEYRING:, KCM:, DIR:, MEMORY:, API:...: not copied */
	AE_PAM_CC_INVALID,    /* empty, relative, too long, control characters */
} ae_pam_cc_kind;

ae_pam_cc_kind ae_pam_ccache_parse(const char *ccname, char *path, size_t pathlen);

/* The copy's path: DIR/autoenroll-ccache-<UID>-<16 hex of RANDOM>.
 * Returns 0, or -1 if it does not fit in OUT. */
int ae_pam_ccache_copy_path(const char *dir, unsigned long uid, unsigned long long random, char *out, size_t outlen);

/* Why a copy failed (ae_pam_ccache_copy's return value). */
enum {
	AE_PAM_CC_OK = 0,
	AE_PAM_CC_E_OPEN,     /* the source cannot be opened (errno; ELOOP: a symbolic link) */
	AE_PAM_CC_E_TYPE,     /* the source is not a regular file */
	AE_PAM_CC_E_OWNER,    /* the source is not OWNER's */
	AE_PAM_CC_E_SIZE,     /* the source is empty or larger than AE_PAM_CCACHE_MAX */
	AE_PAM_CC_E_CREATE,   /* the copy cannot be created (errno; EEXIST: something is there) */
	AE_PAM_CC_E_READ,     /* reading the source failed (errno) */
	AE_PAM_CC_E_WRITE,    /* writing the copy failed (errno) */
};

/* Copies the file SRC (not following a symbolic link; a regular file of
 * OWNER, at most AE_PAM_CCACHE_MAX bytes) to DST, created new (O_EXCL,
 * 0600, as the calling identity).  On failure nothing is left at DST and
 * errno says why.  Async-signal-safe: run it after switching to the
 * user, between fork and exec. */
int ae_pam_ccache_copy(const char *src, const char *dst, uid_t owner);

/* A sentence for a failure of ae_pam_ccache_copy (ERRNUM its errno). */
void ae_pam_ccache_strerror(int code, int errnum, const char *src, const char *dst, uid_t owner,
                            char *out, size_t outlen);

#endif
