/*
 * ccache.c - the user's Kerberos ticket cache, secured at session open
 * (see ccache.h).  libc only; ae_pam_ccache_copy is async-signal-safe.
 */
#include "config.h"

#include "ccache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ae_pam_cc_kind
ae_pam_ccache_parse(const char *ccname, char *path, size_t pathlen)
{
	const char *colon, *residual;
	size_t n;

	if (pathlen > 0)
		path[0] = '\0';
	if (ccname == NULL || *ccname == '\0')
		return AE_PAM_CC_INVALID;
	for (const char *p = ccname; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return AE_PAM_CC_INVALID;
	/* libkrb5: no colon, the default type (FILE); a colon, what precedes
	 * it is the type. */
	colon = strchr(ccname, ':');
	if (colon == NULL) {
		residual = ccname;
	} else if ((size_t)(colon - ccname) == 4 && strncmp(ccname, "FILE", 4) == 0) {
		residual = colon + 1;
	} else {
		for (const char *p = ccname; p < colon; p++)
			if (*p == '/')
				return AE_PAM_CC_INVALID; /* "/tmp/a:b": no such type */
		return colon == ccname ? AE_PAM_CC_INVALID : AE_PAM_CC_OTHER;
	}
	n = strlen(residual);
	if (residual[0] != '/' || n >= pathlen || n >= 4096)
		return AE_PAM_CC_INVALID;
	memcpy(path, residual, n + 1);
	return AE_PAM_CC_FILE;
}

int
ae_pam_ccache_copy_path(const char *dir, unsigned long uid, unsigned long long random, char *out, size_t outlen)
{
	int n;

	if (dir == NULL || dir[0] != '/')
		return -1;
	n = snprintf(out, outlen, "%s%s" AE_PAM_CCACHE_PREFIX "%lu-%016llx", dir,
	             dir[strlen(dir) - 1] == '/' ? "" : "/", uid, random);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int
ae_pam_ccache_copy(const char *src, const char *dst, uid_t owner)
{
	char buf[4096];
	struct stat st;
	size_t total = 0;
	int in, out = -1, rc = AE_PAM_CC_OK, e;

	/* O_NOFOLLOW: a link planted at the cache's name is refused, not
	 * followed; O_NONBLOCK: a FIFO there cannot hold the login up. */
	in = open(src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (in < 0)
		return AE_PAM_CC_E_OPEN;
	/* Checked on what was opened, not on the name: no window between. */
	if (fstat(in, &st) < 0) {
		rc = AE_PAM_CC_E_OPEN;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = AE_PAM_CC_E_TYPE;
		errno = EINVAL;
		goto out;
	}
	if (st.st_uid != owner) {
		rc = AE_PAM_CC_E_OWNER;
		errno = EPERM;
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > AE_PAM_CCACHE_MAX) {
		rc = AE_PAM_CC_E_SIZE;
		errno = EFBIG;
		goto out;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
	if (out < 0) {
		rc = AE_PAM_CC_E_CREATE;
		goto out;
	}
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = AE_PAM_CC_E_READ;
			break;
		}
		if (n == 0)
			break;
		total += (size_t)n;
		if (total > AE_PAM_CCACHE_MAX) {
			rc = AE_PAM_CC_E_SIZE;
			errno = EFBIG;
			break;
		}
		if (write_all(out, buf, (size_t)n) < 0) {
			rc = AE_PAM_CC_E_WRITE;
			break;
		}
	}
	if (rc == AE_PAM_CC_OK && close(out) < 0)
		rc = AE_PAM_CC_E_WRITE;
	else if (rc != AE_PAM_CC_OK)
		close(out);
	out = -1;
	if (rc != AE_PAM_CC_OK) {
		e = errno;
		unlink(dst);
		errno = e;
	}
out:
	e = errno;
	close(in);
	errno = e;
	return rc;
}

void
ae_pam_ccache_strerror(int code, int errnum, const char *src, const char *dst, uid_t owner,
                       char *out, size_t outlen)
{
	switch (code) {
	case AE_PAM_CC_E_OPEN:
		if (errnum == ELOOP)
			snprintf(out, outlen, "the ticket cache %s (KRB5CCNAME) is a symbolic link: refused", src);
		else
			snprintf(out, outlen, "cannot open the ticket cache %s (KRB5CCNAME) as the user: %s", src,
			         strerror(errnum));
		break;
	case AE_PAM_CC_E_TYPE:
		snprintf(out, outlen, "the ticket cache %s (KRB5CCNAME) is not a regular file: refused", src);
		break;
	case AE_PAM_CC_E_OWNER:
		snprintf(out, outlen, "the ticket cache %s (KRB5CCNAME) is not owned by the user (uid %lu): refused", src,
		         (unsigned long)owner);
		break;
	case AE_PAM_CC_E_SIZE:
		snprintf(out, outlen, "the ticket cache %s (KRB5CCNAME) is empty or larger than %d bytes: refused", src,
		         AE_PAM_CCACHE_MAX);
		break;
	case AE_PAM_CC_E_CREATE:
		snprintf(out, outlen, "cannot create the private copy %s of the ticket cache: %s", dst, strerror(errnum));
		break;
	case AE_PAM_CC_E_READ:
		snprintf(out, outlen, "cannot read the ticket cache %s: %s", src, strerror(errnum));
		break;
	case AE_PAM_CC_E_WRITE:
		snprintf(out, outlen, "cannot write the private copy %s of the ticket cache: %s", dst, strerror(errnum));
		break;
	default:
		snprintf(out, outlen, "the ticket cache %s was not copied", src);
		break;
	}
}
