/*
 * test-publish.c - certificates for services (core/publish.h): the stable
 * place per template (atomic replace, modes, file key or token URI,
 * untrusted template names) and the renewal hooks (checks, order,
 * environment, exit status, timeout).
 */
#include "config.h"

#include "fake-world.h"
#include "publish.h"
#include "tap.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A path for a one-off call (open, access, chmod, mkdir): held until the
 * fourth call after. */
static const char *
P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *
P(const char *fmt, ...)
{
	static char bufs[4][4096];
	static unsigned n;
	char *b = bufs[n++ % 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, sizeof(bufs[0]), fmt, ap);
	va_end(ap);
	return b;
}

static char tmpdir[] = "/tmp/ae-test-publish-XXXXXX";

static char *
write_key(EVP_PKEY *key, const char *name)
{
	char *path = ae_strdup_printf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");

	PEM_write_PKCS8PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(path, 0600);
	return path;
}

static char *
slurp(const char *path)
{
	return ae_read_file(path, 1024 * 1024, NULL);
}

static int
mode_of(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0 ? (int)(sb.st_mode & 07777) : -1;
}

static char *
pem(X509 *a, X509 *b)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	char *out;

	if (a)
		PEM_write_bio_X509(bio, a);
	if (b)
		PEM_write_bio_X509(bio, b);
	len = BIO_get_mem_data(bio, &data);
	out = strndup(data, (size_t)len);
	BIO_free(bio);
	return out;
}

static bool
same_file_text(const char *path, const char *want)
{
	char *got = slurp(path);
	bool same = got != NULL && strcmp(got, want) == 0;
	free(got);
	return same;
}

/* Nothing but the named files in DIR (no temporary file left). */
static bool
only_files(const char *dir, const char *const *names)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool ok = d != NULL;

	while (ok && (de = readdir(d)) != NULL) {
		bool known = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
		for (size_t i = 0; names[i] != NULL && !known; i++)
			known = strcmp(names[i], de->d_name) == 0;
		if (!known) {
			tap_diag("  unexpected %s/%s", dir, de->d_name);
			ok = false;
		}
	}
	if (d != NULL)
		closedir(d);
	return ok;
}

static void
test_names(void)
{
	const char *good[] = { "WebServer", "Lab Web Server", "Machine", "a.b", "x-1_2", NULL };
	const char *bad[] = { "", ".", "..", "../etc", "a/b", "/abs", ".hidden", "a..b", "a\\b", "a\nb", "tab\tx",
		              "\x7f", NULL };
	char longname[AE_PUBLISH_NAME_MAX + 2];
	bool ok = true;

	for (size_t i = 0; good[i] != NULL; i++)
		ok = ok && ae_publish_name_ok(good[i]);
	tap_ok(ok, "names: template names of AD accepted (spaces, dots, dashes)");
	ok = !ae_publish_name_ok(NULL);
	for (size_t i = 0; bad[i] != NULL; i++)
		if (ae_publish_name_ok(bad[i])) {
			tap_diag("  accepted \"%s\"", bad[i]);
			ok = false;
		}
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	tap_ok(ok && !ae_publish_name_ok(longname), "names: empty, dot, slash, .., backslash, control, too long refused");
}

static void
test_file_key(ae_ctx *ctx)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *k1 = EVP_EC_gen("P-256"), *k2 = EVP_EC_gen("P-256");
	X509 *ca = fake_ca_cert("Lab CA", ca_key, NULL, ca_key, 1);
	X509 *c1 = fake_ca_cert("ws1", k1, ca, ca_key, 0x1a), *c2 = fake_ca_cert("ws1", k2, ca, ca_key, 0x2b);
	STACK_OF(X509) *chain = sk_X509_new_null();
	char *kf1 = write_key(k1, "k1.key"), *kf2 = write_key(k2, "k2.key");
	char *live = ae_strdup_printf("%s/state/live", tmpdir);
	ae_published pub;
	const char *const files[] = { "cert.pem", "chain.pem", "fullchain.pem", "key.pem", NULL };
	char *want;
	int old_fd;
	struct stat before, after;

	sk_X509_push(chain, ca);
	tap_ok(ae_publish_cert(ctx, live, "WebServer", c1, chain, kf1, NULL, &pub) == AE_OK && pub.changed &&
	       pub.old_serial == NULL && strcmp(pub.new_serial, "1A") == 0 && pub.key != NULL && pub.key_uri == NULL,
	       "file key: first certificate published (serial 1A, no old one)");
	tap_ok(mode_of(live) == 0755 && mode_of(pub.dir) == 0755 && mode_of(pub.key) == 0600 &&
	       mode_of(pub.cert) == 0644 && mode_of(pub.chain) == 0644 && mode_of(pub.fullchain) == 0644,
	       "file key: directories 0755 (parents made), key.pem 0600, certificates 0644");
	want = pem(c1, NULL);
	tap_ok(same_file_text(pub.cert, want), "file key: cert.pem is the certificate alone");
	free(want);
	want = pem(ca, NULL);
	tap_ok(same_file_text(pub.chain, want), "file key: chain.pem is the CA above it");
	free(want);
	want = pem(c1, ca);
	tap_ok(same_file_text(pub.fullchain, want), "file key: fullchain.pem is leaf then chain");
	free(want);
	{
		FILE *f = fopen(pub.key, "r");
		EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
		tap_ok(k != NULL && X509_check_private_key(c1, k) == 1, "file key: key.pem is a real PEM key matching cert.pem");
		EVP_PKEY_free(k);
		if (f)
			fclose(f);
	}
	tap_ok(only_files(pub.dir, files), "file key: cert, chain, fullchain, key and nothing else");
	ae_published_clear(&pub);

	tap_ok(ae_publish_cert(ctx, live, "WebServer", c1, chain, kf1, NULL, &pub) == AE_OK && !pub.changed,
	       "file key: the same certificate again writes nothing (no hook to run)");
	ae_published_clear(&pub);

	/* A run killed while writing left a temporary key behind. */
	{
		char *stale = ae_strdup_printf("%s/WebServer/key.pem.tmp.99999", live);
		FILE *f = fopen(stale, "w");
		fclose(f);
		tap_ok(ae_publish_cert(ctx, live, "WebServer", c1, chain, kf1, NULL, &pub) == AE_OK && !pub.changed &&
		       access(stale, F_OK) != 0,
		       "a temporary file left by a killed run is removed");
		ae_published_clear(&pub);
		free(stale);
	}

	/* Renewal: a reader holding the old file keeps the old one whole. */
	old_fd = open(P("%s/WebServer/cert.pem", live), O_RDONLY);
	fstat(old_fd, &before);
	tap_ok(ae_publish_cert(ctx, live, "WebServer", c2, chain, kf2, NULL, &pub) == AE_OK && pub.changed &&
	       pub.old_serial && strcmp(pub.old_serial, "1A") == 0 && strcmp(pub.new_serial, "2B") == 0,
	       "renewal: old serial 1A, new serial 2B");
	stat(pub.cert, &after);
	{
		char buf[64] = { 0 };
		want = pem(c1, NULL);
		tap_ok(before.st_ino != after.st_ino && pread(old_fd, buf, sizeof(buf) - 1, 0) > 0 &&
		       strncmp(buf, want, strlen(buf)) == 0,
		       "renewal: cert.pem replaced by rename (new inode; an open reader still reads the old one whole)");
		free(want);
	}
	close(old_fd);
	{
		FILE *f = fopen(pub.key, "r");
		EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
		X509 *c = NULL;
		FILE *cf = fopen(pub.cert, "r");
		c = cf ? PEM_read_X509(cf, NULL, NULL, NULL) : NULL;
		tap_ok(k != NULL && c != NULL && X509_check_private_key(c, k) == 1 && X509_cmp(c, c2) == 0,
		       "renewal: the new cert.pem with the new key.pem");
		EVP_PKEY_free(k);
		X509_free(c);
		if (f)
			fclose(f);
		if (cf)
			fclose(cf);
	}
	tap_ok(only_files(pub.dir, files), "renewal: no temporary file left");
	ae_published_clear(&pub);

	/* A key that is not the certificate's: refused, the place unchanged. */
	tap_ok(ae_publish_cert(ctx, live, "WebServer", c1, chain, kf2, NULL, &pub) == AE_ERR_CRYPTO,
	       "a key file that does not match the certificate is refused");
	ae_clear_message(ctx);

	/* The same template moved to a token: key.uri instead of key.pem. */
	tap_ok(ae_publish_cert(ctx, live, "WebServer", c1, chain, NULL,
	                       "pkcs11:token=Web;id=%01%02;type=private", &pub) == AE_OK && pub.changed &&
	               pub.key == NULL && pub.key_uri != NULL,
	       "token: published with a key URI");
	{
		const char *const tfiles[] = { "cert.pem", "chain.pem", "fullchain.pem", "key.uri", NULL };
		tap_ok(same_file_text(pub.key_uri_file, "pkcs11:token=Web;id=%01%02;type=private\n") &&
		       mode_of(pub.key_uri_file) == 0644 && only_files(pub.dir, tfiles),
		       "token: key.uri holds the RFC 7512 URI on one line; the old key.pem is gone");
	}
	ae_published_clear(&pub);

	tap_ok(ae_publish_cert(ctx, live, "Other", c1, chain, NULL, "/etc/passwd", &pub) == AE_ERR_INVALID &&
	       ae_publish_cert(ctx, live, "Other", c1, chain, NULL, "pkcs11:id=%01\nrm -rf", &pub) == AE_ERR_INVALID &&
	       ae_publish_cert(ctx, live, "Other", c1, chain, NULL, NULL, &pub) == AE_ERR_INVALID &&
	       ae_publish_cert(ctx, live, "Other", c1, chain, kf1, "pkcs11:id=%01", &pub) == AE_ERR_INVALID &&
	       ae_publish_cert(ctx, "relative/live", "Other", c1, chain, kf1, NULL, &pub) == AE_ERR_INVALID,
	       "refused: a URI that is not pkcs11: or has a newline, no key or two, a relative cert_dir");
	ae_clear_message(ctx);

	tap_ok(ae_publish_cert(ctx, live, "../escape", c1, chain, kf1, NULL, &pub) == AE_ERR_INVALID &&
	       ae_publish_cert(ctx, live, "a/b", c1, chain, kf1, NULL, &pub) == AE_ERR_INVALID &&
	       ae_publish_cert(ctx, live, "..", c1, chain, kf1, NULL, &pub) == AE_ERR_INVALID &&
	       access(P("%s/state/escape", tmpdir), F_OK) != 0 &&
	       access(P("%s/a", live), F_OK) != 0,
	       "a template name from AD with / or .. is refused, nothing written outside");
	ae_clear_message(ctx);

	/* cert_dir itself may be a link the admin made. */
	{
		char *link = ae_strdup_printf("%s/live-link", tmpdir);
		symlink(live, link);
		tap_ok(ae_publish_cert(ctx, link, "WebServer", c1, chain, NULL, "pkcs11:token=Web;id=%01%02;type=private",
		                       &pub) == AE_OK && !pub.changed,
		       "cert_dir may be a symlink to a directory");
		ae_published_clear(&pub);
		free(link);
	}

	/* A link planted where the template's directory goes is not followed. */
	{
		char *target = ae_strdup_printf("%s/elsewhere", tmpdir), *link = ae_strdup_printf("%s/Linked", live);
		mkdir(target, 0755);
		symlink(target, link);
		tap_ok(ae_publish_cert(ctx, live, "Linked", c1, chain, kf1, NULL, &pub) == AE_ERR_IO &&
		       access(P("%s/cert.pem", target), F_OK) != 0,
		       "a symlink in place of the template's directory is refused");
		ae_clear_message(ctx);
		free(target);
		free(link);
	}

	sk_X509_free(chain);
	X509_free(ca);
	X509_free(c1);
	X509_free(c2);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	free(kf1);
	free(kf2);
	free(live);
}

static void
write_hook(const char *dir, const char *name, const char *body, mode_t mode)
{
	char *path = ae_strdup_printf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(path, mode);
	free(path);
}

typedef struct {
	char last_what[512];
	char *seen[16];
	int status[16];
	int n;
} reports;

static void
on_hook(void *data, const ae_published *pub, const char *hook, int status, const char *what)
{
	reports *r = data;
	(void)pub;
	tap_diag("  hook %s: %s", hook, what);
	snprintf(r->last_what, sizeof(r->last_what), "%s", what);
	if (r->n < 16) {
		r->seen[r->n] = strdup(strrchr(hook, '/') + 1);
		r->status[r->n++] = status;
	}
}

static void
test_hooks(ae_ctx *ctx)
{
	char *dir = ae_strdup_printf("%s/hooks.d", tmpdir), *out = ae_strdup_printf("%s/hook-env", tmpdir);
	char *body;
	char **list = NULL;
	reports r = { 0 };
	ae_published pub = {
		.template_name = "WebServer", .dir = "/srv/live/WebServer", .cert = "/srv/live/WebServer/cert.pem",
		.chain = "/srv/live/WebServer/chain.pem", .fullchain = "/srv/live/WebServer/fullchain.pem",
		.key = "/srv/live/WebServer/key.pem", .old_serial = "1A", .new_serial = "2B",
	};
	unsigned ran;
	char *env;

	mkdir(dir, 0755);
	body = ae_strdup_printf("env | grep -E '^(AE_HOOK_|PATH=)' | sort > %s; echo 10 >> %s.order", out, out);
	write_hook(dir, "10-record", body, 0755);
	free(body);
	body = ae_strdup_printf("echo 20 >> %s.order; exit 3", out);
	write_hook(dir, "20-fails", body, 0700);
	free(body);
	write_hook(dir, "README", "exit 9", 0644);               /* not executable: not a hook */
	write_hook(dir, "30-ignored.dpkg-old", "exit 9", 0755);  /* not a run-parts name */
	write_hook(dir, "40-groupwritable", "exit 9", 0775);     /* writable by the group */
	write_hook(dir, "50-slow", "sleep 30", 0755);
	chmod(P("%s/40-groupwritable", dir), 0775);
	mkdir(P("%s/60-adir", dir), 0755);

	tap_ok(ae_hooks_list(ctx, dir, &list) == AE_OK && ae_strv_len(list) == 3 && strstr(list[0], "/10-record") &&
	       strstr(list[1], "/20-fails") && strstr(list[2], "/50-slow"),
	       "hooks: run-parts names, regular executables not writable by others, sorted");
	ae_strv_free(list);

	ran = ae_hooks_run(ctx, dir, 1, "hook_timeout in [global] of t.conf", true, &pub, on_hook, &r);
	tap_ok(ran == 3 && r.n == 3 && r.status[0] == 0 && r.status[1] == 3 && r.status[2] == -1 &&
	       strstr(r.last_what, "hook_timeout in [global] of t.conf") != NULL,
	       "hooks: three run in order; exit 0, exit 3 reported, the slow one killed at hook_timeout (named)");
	env = slurp(out);
	tap_ok(env != NULL && strstr(env, "AE_HOOK_CONTEXT=machine\n") && strstr(env, "AE_HOOK_TEMPLATE=WebServer\n") &&
	       strstr(env, "AE_HOOK_CERT=/srv/live/WebServer/cert.pem\n") &&
	       strstr(env, "AE_HOOK_CHAIN=/srv/live/WebServer/chain.pem\n") &&
	       strstr(env, "AE_HOOK_FULLCHAIN=/srv/live/WebServer/fullchain.pem\n") &&
	       strstr(env, "AE_HOOK_KEY=/srv/live/WebServer/key.pem\n") && strstr(env, "AE_HOOK_DIR=/srv/live/WebServer\n") &&
	       strstr(env, "AE_HOOK_OLD_SERIAL=1A\n") && strstr(env, "AE_HOOK_NEW_SERIAL=2B\n") &&
	       !strstr(env, "AE_HOOK_KEY_URI") && strstr(env, "PATH=/"),
	       "hooks: the environment names template, context, paths, old and new serial");
	free(env);
	body = ae_strdup_printf("%s.order", out);
	tap_ok(same_file_text(body, "10\n20\n"), "hooks: each ran once, in order");
	free(body);
	for (int i = 0; i < r.n; i++)
		free(r.seen[i]);

	chmod(dir, 0777);
	tap_ok(ae_hooks_list(ctx, dir, &list) == AE_OK && list == NULL,
	       "hooks: a hooks directory writable by others is not used");
	chmod(dir, 0755);
	tap_ok(ae_hooks_list(ctx, "/nonexistent/hooks.d", &list) == AE_OK && list == NULL,
	       "hooks: a missing directory has no hooks, no error");
	free(dir);
	free(out);
}

static void
test_dirs(ae_ctx *ctx)
{
	ae_conf *conf = NULL;
	char *cd = NULL, *hd = NULL;
	static const char text[] = "[machine]\ncert_dir = /srv/certs\nhooks_dir = none\n[user]\ncert_dir = none\n";

	ae_conf_defaults(ctx, &conf);
	tap_ok(conf->hook_timeout == 60 && ae_publish_dirs(ctx, conf, true, "/var/lib/autoenroll", &cd, &hd) == AE_OK &&
	       strcmp(cd, "/var/lib/autoenroll/live") == 0 && strcmp(hd, SYSCONFDIR "/autoenroll/hooks.d") == 0,
	       "dirs: machine defaults <state_dir>/live and /etc/autoenroll/hooks.d, hook_timeout 60 s");
	free(cd);
	free(hd);
	setenv("XDG_CONFIG_HOME", "/home/alice/.config", 1);
	tap_ok(ae_publish_dirs(ctx, conf, false, "/home/alice/.local/share/autoenroll", &cd, &hd) == AE_OK &&
	       strcmp(cd, "/home/alice/.local/share/autoenroll/live") == 0 &&
	       strcmp(hd, "/home/alice/.config/autoenroll/hooks.d") == 0,
	       "dirs: user defaults <state_dir>/live and $XDG_CONFIG_HOME/autoenroll/hooks.d");
	free(cd);
	free(hd);
	ae_conf_free(conf);
	conf = NULL;
	tap_ok(ae_conf_parse(ctx, text, sizeof(text) - 1, "t.conf", &conf) == AE_OK &&
	       ae_publish_dirs(ctx, conf, true, "/x", &cd, &hd) == AE_OK && strcmp(cd, "/srv/certs") == 0 && hd == NULL,
	       "dirs: cert_dir set, hooks_dir none");
	free(cd);
	free(hd);
	tap_ok(ae_publish_dirs(ctx, conf, false, "/x", &cd, &hd) == AE_OK && cd == NULL,
	       "dirs: cert_dir = none publishes nothing");
	free(cd);
	free(hd);
	ae_conf_free(conf);
	conf = NULL;
	{
		static const char bad[] = "[machine]\ncert_dir = live\n";
		tap_ok(ae_conf_parse(ctx, bad, sizeof(bad) - 1, "t.conf", &conf) == AE_ERR_CONFIG &&
		       strstr(ae_get_message(ctx), "cert_dir in [machine]") != NULL,
		       "conf: a relative cert_dir is an error naming the key");
		ae_clear_message(ctx);
	}
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();

	if (mkdtemp(tmpdir) == NULL)
		return 99;
	umask(022);
	test_names();
	test_file_key(ctx);
	test_hooks(ctx);
	test_dirs(ctx);
	ae_ctx_free(ctx);
	{
		char *cmd = ae_strdup_printf("rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			tap_diag("could not remove %s", tmpdir);
		free(cmd);
	}
	return tap_done();
}
