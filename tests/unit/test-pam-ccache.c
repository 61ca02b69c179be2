/*
 * test-pam-ccache.c - pam_autoenroll's handling of KRB5CCNAME (pam/ccache.c):
 * which names are files, the private copy's name, and the copy itself
 * with its refusals (symbolic link, another owner, not a regular file,
 * too large, something already at the destination).
 */
#include "config.h"

#include "ccache.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
parse_is(const char *name, ae_pam_cc_kind want, const char *want_path)
{
	char path[64];
	ae_pam_cc_kind got = ae_pam_ccache_parse(name, path, sizeof(path));

	tap_is_int(got, want, "\"%s\" is %s", name ? name : "(null)",
	           want == AE_PAM_CC_FILE ? "a file" : want == AE_PAM_CC_OTHER ? "another type" : "invalid");
	if (want == AE_PAM_CC_FILE)
		tap_is_str(path, want_path, "... at %s", want_path);
}

static void
test_parse(void)
{
	char longname[128];

	parse_is("FILE:/tmp/krb5cc_1000", AE_PAM_CC_FILE, "/tmp/krb5cc_1000");
	parse_is("/tmp/krb5cc_1000_Xy", AE_PAM_CC_FILE, "/tmp/krb5cc_1000_Xy");
	parse_is("KEYRING:persistent:1000", AE_PAM_CC_OTHER, NULL);
	parse_is("KEYRING:session:aetest", AE_PAM_CC_OTHER, NULL);
	parse_is("KCM:1000", AE_PAM_CC_OTHER, NULL);
	parse_is("DIR:/run/user/1000/krb5cc", AE_PAM_CC_OTHER, NULL);
	parse_is("MEMORY:x", AE_PAM_CC_OTHER, NULL);
	parse_is("file:/tmp/x", AE_PAM_CC_OTHER, NULL); /* types are case-sensitive in libkrb5 */
	parse_is("FILE:relative", AE_PAM_CC_INVALID, NULL);
	parse_is("krb5cc", AE_PAM_CC_INVALID, NULL);
	parse_is("FILE:", AE_PAM_CC_INVALID, NULL);
	parse_is("", AE_PAM_CC_INVALID, NULL);
	parse_is(NULL, AE_PAM_CC_INVALID, NULL);
	parse_is(":x", AE_PAM_CC_INVALID, NULL);
	parse_is("/tmp/a:b", AE_PAM_CC_INVALID, NULL);
	parse_is("FILE:/tmp/a\nb", AE_PAM_CC_INVALID, NULL);
	memset(longname, 'a', sizeof(longname));
	memcpy(longname, "FILE:/", 6);
	longname[sizeof(longname) - 1] = '\0';
	parse_is(longname, AE_PAM_CC_INVALID, NULL); /* longer than the 64 bytes given */
}

static void
test_copy_path(void)
{
	char out[128];

	tap_is_int(ae_pam_ccache_copy_path("/tmp", 1000, 0xabcULL, out, sizeof(out)), 0, "copy path in /tmp");
	tap_is_str(out, "/tmp/autoenroll-ccache-1000-0000000000000abc", "... named by uid and 64 random bits");
	ae_pam_ccache_copy_path("/run/user/1000/", 1000, 1, out, sizeof(out));
	tap_is_str(out, "/run/user/1000/autoenroll-ccache-1000-0000000000000001", "a trailing slash is not doubled");
	tap_is_int(ae_pam_ccache_copy_path("rel", 1, 1, out, sizeof(out)), -1, "a relative directory is refused");
	tap_is_int(ae_pam_ccache_copy_path("/tmp", 1, 1, out, 20), -1, "a name that does not fit is refused");
}

static void
write_file(const char *path, size_t size)
{
	FILE *f = fopen(path, "w");

	for (size_t i = 0; i < size; i++)
		fputc((int)(i * 7 % 251), f);
	fclose(f);
}

static int
same_content(const char *a, const char *b)
{
	FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
	int ca, cb, same = fa != NULL && fb != NULL;

	while (same && (ca = fgetc(fa)) != EOF) {
		cb = fgetc(fb);
		same = ca == cb;
	}
	if (same)
		same = fgetc(fb) == EOF;
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return same;
}

static void
test_copy(void)
{
	char dir[] = "/tmp/test-pam-ccache-XXXXXX";
	char src[128], dst[128], link[128], fifo[128], big[128], msg[256];
	struct stat st;
	uid_t me = geteuid();
	int rc;

	if (mkdtemp(dir) == NULL) {
		tap_ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(src, sizeof(src), "%s/cc", dir);
	snprintf(dst, sizeof(dst), "%s/" AE_PAM_CCACHE_PREFIX "copy", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	snprintf(big, sizeof(big), "%s/big", dir);
	write_file(src, 10000);
	chmod(src, 0644);

	rc = ae_pam_ccache_copy(src, dst, me);
	tap_is_int(rc, AE_PAM_CC_OK, "a regular file of the user is copied");
	tap_ok(same_content(src, dst), "... byte for byte");
	tap_ok(stat(dst, &st) == 0 && (st.st_mode & 07777) == 0600 && st.st_uid == me, "... to a new file, 0600, the user's");

	rc = ae_pam_ccache_copy(src, dst, me);
	tap_is_int(rc, AE_PAM_CC_E_CREATE, "something already at the destination: refused (O_EXCL)");
	tap_ok(errno == EEXIST && stat(dst, &st) == 0, "... EEXIST, and what was there is left alone");
	unlink(dst);

	symlink(src, link);
	rc = ae_pam_ccache_copy(link, dst, me);
	tap_ok(rc == AE_PAM_CC_E_OPEN && errno == ELOOP, "a symbolic link is refused, not followed");
	tap_ok(access(dst, F_OK) != 0, "... and nothing is created");
	ae_pam_ccache_strerror(rc, ELOOP, link, dst, me, msg, sizeof(msg));
	tap_ok(strstr(msg, "is a symbolic link: refused") != NULL && strstr(msg, link) != NULL, "... in words: %s", msg);

	rc = ae_pam_ccache_copy(src, dst, me + 1);
	tap_is_int(rc, AE_PAM_CC_E_OWNER, "a file of another owner is refused");
	tap_ok(access(dst, F_OK) != 0, "... and nothing is created");
	ae_pam_ccache_strerror(rc, EPERM, src, dst, me + 1, msg, sizeof(msg));
	tap_ok(strstr(msg, "not owned by the user") != NULL, "... in words: %s", msg);

	mkfifo(fifo, 0600);
	rc = ae_pam_ccache_copy(fifo, dst, me);
	tap_is_int(rc, AE_PAM_CC_E_TYPE, "a FIFO is refused at once (not waited on)");
	rc = ae_pam_ccache_copy(dir, dst, me);
	tap_is_int(rc, AE_PAM_CC_E_TYPE, "a directory is refused");

	write_file(big, AE_PAM_CCACHE_MAX + 1);
	rc = ae_pam_ccache_copy(big, dst, me);
	tap_is_int(rc, AE_PAM_CC_E_SIZE, "a file over %d bytes is refused", AE_PAM_CCACHE_MAX);
	write_file(big, 0);
	rc = ae_pam_ccache_copy(big, dst, me);
	tap_is_int(rc, AE_PAM_CC_E_SIZE, "an empty file is refused");
	tap_ok(access(dst, F_OK) != 0, "... and nothing is created");

	rc = ae_pam_ccache_copy("/nonexistent/cc", dst, me);
	tap_ok(rc == AE_PAM_CC_E_OPEN && errno == ENOENT, "a missing cache: cannot open (ENOENT)");

	unlink(src);
	unlink(link);
	unlink(fifo);
	unlink(big);
	rmdir(dir);
}

int
main(void)
{
	test_parse();
	test_copy_path();
	test_copy();
	return tap_done();
}
