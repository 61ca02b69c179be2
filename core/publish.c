/*
 * publish.c - certificates for services: the stable place per template
 * and the renewal hooks (see publish.h).
 */
#include "config.h"

#include "publish.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How often a running hook is looked at (its exit or its timeout). */
#define HOOK_POLL_NS (10 * 1000 * 1000)

void
ae_published_clear(ae_published *pub)
{
	free(pub->template_name);
	free(pub->scep_profile);
	free(pub->dir);
	free(pub->cert);
	free(pub->chain);
	free(pub->fullchain);
	free(pub->key);
	free(pub->key_uri_file);
	free(pub->key_uri);
	free(pub->old_serial);
	free(pub->new_serial);
	memset(pub, 0, sizeof(*pub));
}

bool
ae_publish_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > AE_PUBLISH_NAME_MAX || name[0] == '.' || strstr(name, "..") != NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
			return false;
	}
	return true;
}

/* ---- files ---- */

/* mkdir -p with 0755; an existing component must be a directory. */
static ae_err
make_dirs(ae_ctx *ctx, const char *path)
{
	char *copy = strdup(path);
	struct stat sb;
	ae_err err = AE_OK;

	if (copy == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	for (char *s = copy + 1;; s++) {
		bool last = *s == '\0';
		if (*s != '/' && !last)
			continue;
		*s = '\0';
		if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
			err = ae_set_message(ctx, AE_ERR_IO, "cannot create the directory %s: %s", copy, strerror(errno));
			break;
		}
		if (last)
			break;
		*s = '/';
	}
	/* stat: the admin may point cert_dir at a link (not so a template's
	 * directory, see ae_publish_cert). */
	if (err == AE_OK && (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)))
		err = ae_set_message(ctx, AE_ERR_IO, "%s is not a directory", path);
	free(copy);
	return err;
}

static char *
pem_of(X509 *cert, STACK_OF(X509) *chain)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *out = NULL;
	bool ok = bio != NULL && (cert == NULL || PEM_write_bio_X509(bio, cert));
	long len;

	for (int i = 0; ok && chain != NULL && i < sk_X509_num(chain); i++)
		ok = PEM_write_bio_X509(bio, sk_X509_value(chain, i));
	len = ok ? BIO_get_mem_data(bio, &data) : -1;
	if (len >= 0 && (out = malloc((size_t)len + 1)) != NULL) {
		if (len > 0) /* an empty chain: no data at all */
			memcpy(out, data, (size_t)len);
		out[len] = '\0';
	}
	BIO_free(bio);
	return out;
}

char *
ae_publish_serial_hex(X509 *cert)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	char *out = hex ? strdup(hex) : NULL;

	OPENSSL_free(hex);
	BN_free(bn);
	return out;
}

static X509 *
read_cert(const char *path)
{
	FILE *f = fopen(path, "re");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f != NULL)
		fclose(f);
	return x;
}

/* Files published are small: a certificate chain, a key. */
#define SMALL_FILE_MAX (1024 * 1024)

/* The key file's PEM, refused unless it holds the private key of CERT. */
static ae_err
key_pem_for(ae_ctx *ctx, const char *key_file, X509 *cert, char **pem_out, size_t *len_out)
{
	char *pem = ae_read_file(key_file, SMALL_FILE_MAX, len_out);
	BIO *bio = pem ? BIO_new_mem_buf(pem, (int)*len_out) : NULL;
	EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	ae_err err = AE_OK;

	if (pem == NULL)
		err = ae_set_message(ctx, AE_ERR_IO, "cannot read the key file %s: %s", key_file, strerror(errno));
	else if (pkey == NULL)
		err = ae_set_message(ctx, AE_ERR_CRYPTO, "%s is not a PEM private key", key_file);
	else if (X509_check_private_key(cert, pkey) != 1)
		err = ae_set_message(ctx, AE_ERR_CRYPTO, "the key in %s does not match the certificate", key_file);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	if (err != AE_OK && pem != NULL) {
		OPENSSL_cleanse(pem, *len_out);
		ae_free_ptr(pem);
	}
	*pem_out = pem;
	return err;
}

const char *
ae_publish_name(const ae_record *r)
{
	return r->scep_profile != NULL ? r->scep_profile : r->template_name;
}

static bool
same_text(const char *path, const char *text)
{
	char *old = ae_read_file(path, SMALL_FILE_MAX, NULL);
	bool same = old != NULL && strcmp(old, text) == 0;

	free(old);
	return same;
}

static ae_err
fill_paths(ae_ctx *ctx, const char *cert_dir, const char *tname, bool token, ae_published *pub)
{
	pub->template_name = strdup(tname);
	pub->dir = ae_strdup_printf("%s/%s", cert_dir, tname);
	pub->cert = ae_strdup_printf("%s/%s/cert.pem", cert_dir, tname);
	pub->chain = ae_strdup_printf("%s/%s/chain.pem", cert_dir, tname);
	pub->fullchain = ae_strdup_printf("%s/%s/fullchain.pem", cert_dir, tname);
	if (token)
		pub->key_uri_file = ae_strdup_printf("%s/%s/key.uri", cert_dir, tname);
	else
		pub->key = ae_strdup_printf("%s/%s/key.pem", cert_dir, tname);
	if (pub->template_name == NULL || pub->dir == NULL || pub->cert == NULL || pub->chain == NULL ||
	    pub->fullchain == NULL || (pub->key == NULL && pub->key_uri_file == NULL))
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	return AE_OK;
}

ae_err
ae_publish_cert(ae_ctx *ctx, const char *cert_dir, const char *tname, X509 *cert, STACK_OF(X509) *chain,
                const char *key_file, const char *key_uri, ae_published *out)
{
	ae_published pub = { 0 };
	char *key_pem = NULL, *uri_line = NULL, *leaf = NULL, *chain_pem = NULL, *full = NULL;
	size_t key_len = 0;
	X509 *old = NULL;
	struct stat sb;
	ae_err err;

	memset(out, 0, sizeof(*out));
	if (cert_dir == NULL || cert_dir[0] != '/' || cert == NULL || (key_file == NULL) == (key_uri == NULL))
		return ae_set_message(ctx, AE_ERR_INVALID, "publishing needs an absolute cert_dir, a certificate and one form of key");
	if (!ae_publish_name_ok(tname))
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "the template name \"%.80s\" cannot name a directory under %s (empty, a leading \".\", \"/\", \"\\\", \"..\", a control character, or over %d bytes): not published",
		                      tname ? tname : "", cert_dir, AE_PUBLISH_NAME_MAX);
	if (key_uri != NULL && (strncmp(key_uri, "pkcs11:", 7) != 0 || strpbrk(key_uri, "\r\n") != NULL))
		return ae_set_message(ctx, AE_ERR_INVALID, "\"%.80s\" is not a PKCS#11 URI", key_uri);
	if ((err = fill_paths(ctx, cert_dir, tname, key_uri != NULL, &pub)) != AE_OK)
		goto cleanup;
	if (key_uri != NULL && ((pub.key_uri = strdup(key_uri)) == NULL ||
	                        (uri_line = ae_strdup_printf("%s\n", key_uri)) == NULL)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if ((pub.new_serial = ae_publish_serial_hex(cert)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if ((err = make_dirs(ctx, cert_dir)) != AE_OK)
		goto cleanup;
	if (mkdir(pub.dir, 0755) != 0 && errno != EEXIST) {
		err = ae_set_message(ctx, AE_ERR_IO, "cannot create the directory %s: %s", pub.dir, strerror(errno));
		goto cleanup;
	}
	/* Ours, a real directory: never follow a link planted in its place. */
	if (lstat(pub.dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid()) {
		err = ae_set_message(ctx, AE_ERR_IO, "%s is not a directory owned by uid %u: not published", pub.dir,
		                     (unsigned)geteuid());
		goto cleanup;
	}
	if ((sb.st_mode & 07777) != 0755 && chmod(pub.dir, 0755) != 0) {
		err = ae_set_message(ctx, AE_ERR_IO, "cannot set the mode of %s: %s", pub.dir, strerror(errno));
		goto cleanup;
	}
	ae_remove_stale_tmp(pub.dir); /* what a run killed while writing left */
	old = read_cert(pub.cert);
	if (old != NULL && (pub.old_serial = ae_publish_serial_hex(old)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (key_file != NULL && (err = key_pem_for(ctx, key_file, cert, &key_pem, &key_len)) != AE_OK)
		goto cleanup;
	leaf = pem_of(cert, NULL);
	chain_pem = pem_of(NULL, chain);
	full = pem_of(cert, chain);
	if (leaf == NULL || chain_pem == NULL || full == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (old != NULL && X509_cmp(old, cert) == 0 && same_text(pub.chain, chain_pem) &&
	    (key_pem != NULL ? access(pub.key, F_OK) == 0 : same_text(pub.key_uri_file, uri_line))) {
		err = AE_OK; /* already there */
		goto done;
	}
	/* The key first, the certificate last: a reader that sees the new
	 * cert.pem finds its key. */
	if (key_pem != NULL)
		err = ae_write_file_atomic(ctx, pub.key, key_pem, key_len, 0600);
	else
		err = ae_write_file_atomic(ctx, pub.key_uri_file, uri_line, strlen(uri_line), 0644);
	if (err == AE_OK)
		err = ae_write_file_atomic(ctx, pub.chain, chain_pem, strlen(chain_pem), 0644);
	if (err == AE_OK)
		err = ae_write_file_atomic(ctx, pub.fullchain, full, strlen(full), 0644);
	if (err == AE_OK)
		err = ae_write_file_atomic(ctx, pub.cert, leaf, strlen(leaf), 0644);
	if (err != AE_OK)
		goto cleanup;
	/* The other backend's key form, from before the store changed. */
	{
		char *other = ae_strdup_printf("%s/%s", pub.dir, key_pem != NULL ? "key.uri" : "key.pem");
		if (other != NULL)
			unlink(other);
		free(other);
	}
	pub.changed = true;
done:
	*out = pub;
	memset(&pub, 0, sizeof(pub));
cleanup:
	if (key_pem != NULL)
		OPENSSL_cleanse(key_pem, key_len);
	free(key_pem);
	free(uri_line);
	free(leaf);
	free(chain_pem);
	free(full);
	X509_free(old);
	ae_published_clear(&pub);
	return err;
}

ae_err
ae_publish_dirs(ae_ctx *ctx, const ae_conf *conf, bool machine, const char *state_dir, char **cert_dir_out,
                char **hooks_dir_out)
{
	const char *cd = machine ? conf->machine_cert_dir : conf->user_cert_dir;
	const char *hd = machine ? conf->machine_hooks_dir : conf->user_hooks_dir;
	const char *xdg = secure_getenv("XDG_CONFIG_HOME"), *home = secure_getenv("HOME");
	bool want_cert = cd == NULL || strcmp(cd, "none") != 0, want_hooks = true;
	char *cert_dir = NULL, *hooks_dir = NULL;

	*cert_dir_out = *hooks_dir_out = NULL;
	if (want_cert)
		cert_dir = cd ? strdup(cd) : ae_strdup_printf("%s/live", state_dir);
	if (hd != NULL)
		want_hooks = strcmp(hd, "none") != 0, hooks_dir = want_hooks ? strdup(hd) : NULL;
	else if (machine)
		hooks_dir = strdup(SYSCONFDIR "/autoenroll/hooks.d");
	else if (xdg != NULL && xdg[0] == '/')
		hooks_dir = ae_strdup_printf("%s/autoenroll/hooks.d", xdg);
	else if (home != NULL && home[0] == '/')
		hooks_dir = ae_strdup_printf("%s/.config/autoenroll/hooks.d", home);
	else
		want_hooks = false;
	if ((want_cert && cert_dir == NULL) || (want_hooks && hooks_dir == NULL)) {
		free(cert_dir);
		free(hooks_dir);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	*cert_dir_out = cert_dir;
	*hooks_dir_out = hooks_dir;
	return AE_OK;
}

/* ---- hooks ---- */

/* run-parts' default names: letters, digits, '_' and '-'. */
static bool
hook_name_ok(const char *name)
{
	if (name[0] == '\0')
		return false;
	for (const char *s = name; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '-'))
			return false;
	return true;
}

/* Owned by root or by us, not writable by group or others. */
static const char *
owner_mode_problem(const struct stat *sb)
{
	if (sb->st_uid != 0 && sb->st_uid != geteuid())
		return "owned by another user than root or the one running the pulse";
	if (sb->st_mode & (S_IWGRP | S_IWOTH))
		return "writable by group or others";
	return NULL;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

ae_err
ae_hooks_list(ae_ctx *ctx, const char *hooks_dir, char ***paths_out)
{
	DIR *d = NULL;
	struct dirent *de;
	struct stat sb;
	char **names = NULL, **paths = NULL;
	const char *why;
	size_t n;

	*paths_out = NULL;
	if (hooks_dir == NULL || stat(hooks_dir, &sb) != 0)
		return AE_OK; /* no hooks */
	if (!S_ISDIR(sb.st_mode) || (why = owner_mode_problem(&sb)) != NULL) {
		ae_log(ctx, AE_LOG_WARNING, "the hooks directory %s is not used: %s", hooks_dir,
		       S_ISDIR(sb.st_mode) ? why : "not a directory");
		return AE_OK;
	}
	if ((d = opendir(hooks_dir)) == NULL) {
		ae_log(ctx, AE_LOG_WARNING, "cannot read the hooks directory %s: %s", hooks_dir, strerror(errno));
		return AE_OK;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (!hook_name_ok(de->d_name)) {
			ae_log(ctx, AE_LOG_INFO, "hook %s/%s skipped: run-parts names only (letters, digits, _ and -)",
			       hooks_dir, de->d_name);
			continue;
		}
		if (!ae_strv_append(&names, de->d_name))
			goto nomem;
	}
	closedir(d);
	d = NULL;
	n = ae_strv_len(names);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char *path = ae_strdup_printf("%s/%s", hooks_dir, names[i]);
		bool ok;
		if (path == NULL)
			goto nomem;
		why = NULL;
		if (stat(path, &sb) != 0)
			why = strerror(errno);
		else if (!S_ISREG(sb.st_mode))
			why = "not a regular file";
		else if (!(sb.st_mode & S_IXUSR))
			why = NULL; /* not executable: not a hook (a README, a disabled one) */
		else
			why = owner_mode_problem(&sb);
		ok = why == NULL && S_ISREG(sb.st_mode) && (sb.st_mode & S_IXUSR);
		if (why != NULL)
			ae_log(ctx, AE_LOG_WARNING, "hook %s skipped: %s", path, why);
		if (ok && !ae_strv_append(&paths, path)) {
			free(path);
			goto nomem;
		}
		free(path);
	}
	ae_strv_free(names);
	*paths_out = paths;
	return AE_OK;
nomem:
	if (d != NULL)
		closedir(d);
	ae_strv_free(names);
	ae_strv_free(paths);
	return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
}

static bool
env_add(char ***env, const char *name, const char *value)
{
	char *s;
	bool ok;

	if (value == NULL)
		return true;
	if ((s = ae_strdup_printf("%s=%s", name, value)) == NULL)
		return false;
	ok = ae_strv_append(env, s);
	free(s);
	return ok;
}

static char **
hook_env(bool machine, const ae_published *pub)
{
	char **env = NULL;
	const struct passwd *pw = getpwuid(geteuid());
	bool ok = env_add(&env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") &&
	          env_add(&env, "HOME", pw ? pw->pw_dir : "/") &&
	          env_add(&env, "AE_HOOK_CONTEXT", machine ? "machine" : "user") &&
	          env_add(&env, "AE_HOOK_TEMPLATE", pub->template_name) &&
	          env_add(&env, "AE_HOOK_SCEP_PROFILE", pub->scep_profile) && env_add(&env, "AE_HOOK_DIR", pub->dir) &&
	          env_add(&env, "AE_HOOK_CERT", pub->cert) && env_add(&env, "AE_HOOK_CHAIN", pub->chain) &&
	          env_add(&env, "AE_HOOK_FULLCHAIN", pub->fullchain) && env_add(&env, "AE_HOOK_KEY", pub->key) &&
	          env_add(&env, "AE_HOOK_KEY_URI", pub->key_uri) &&
	          env_add(&env, "AE_HOOK_KEY_URI_FILE", pub->key_uri_file) &&
	          env_add(&env, "AE_HOOK_OLD_SERIAL", pub->old_serial ? pub->old_serial : "") &&
	          env_add(&env, "AE_HOOK_NEW_SERIAL", pub->new_serial);

	if (!ok) {
		ae_strv_free(env);
		return NULL;
	}
	return env;
}

/* Runs PATH; its exit status, or -1 with WHAT saying why not. */
static int
run_one(const char *path, char **env, int timeout, const char *setting, char *what, size_t size)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL }, old;
	double deadline = ae_monotonic_seconds() + timeout;
	int status = 0, rc = -1;
	pid_t pid, w = 0;

	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, &old);
	pid = fork();
	if (pid < 0) {
		snprintf(what, size, "could not be started: %s", strerror(errno));
		goto restore;
	}
	if (pid == 0) {
		char *argv[] = { (char *)path, NULL };
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		setpgid(0, 0);
		if (null < 0 || dup2(null, 0) < 0 || dup2(2, 1) < 0)
			_exit(127);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		execve(path, argv, env);
		_exit(127);
	}
	for (;;) {
		struct timespec ts = { 0, HOOK_POLL_NS };
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			break;
		if (ae_monotonic_seconds() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			snprintf(what, size, "was killed after %d s (%s)", timeout, setting);
			goto restore;
		}
		nanosleep(&ts, NULL);
	}
	if (w != pid) {
		snprintf(what, size, "was lost: %s", strerror(errno));
	} else if (WIFEXITED(status)) {
		rc = WEXITSTATUS(status);
		snprintf(what, size, "exited with status %d%s", rc,
		         rc == 127 ? " (could not be executed, or a command was not found)" : "");
	} else if (WIFSIGNALED(status)) {
		snprintf(what, size, "was killed by signal %d", WTERMSIG(status));
	} else {
		snprintf(what, size, "ended with wait status 0x%x", status);
	}
restore:
	sigaction(SIGCHLD, &old, NULL);
	return rc;
}

unsigned
ae_hooks_run(ae_ctx *ctx, const char *hooks_dir, int timeout, const char *timeout_setting, bool machine,
             const ae_published *pub, ae_hook_report_fn report, void *data)
{
	char **hooks = NULL, **env = NULL;
	unsigned ran = 0;

	if (!machine && geteuid() == 0) {
		ae_log(ctx, AE_LOG_WARNING, "user hooks are never run as root: %s skipped", hooks_dir);
		return 0;
	}
	if (ae_hooks_list(ctx, hooks_dir, &hooks) != AE_OK || hooks == NULL) {
		ae_clear_message(ctx);
		return 0;
	}
	if ((env = hook_env(machine, pub)) == NULL) {
		ae_log(ctx, AE_LOG_ERR, "out of memory: the hooks of %s are not run", hooks_dir);
		ae_strv_free(hooks);
		return 0;
	}
	for (size_t i = 0; hooks[i] != NULL; i++) {
		char what[PATH_MAX + 128];
		int status = run_one(hooks[i], env, timeout > 0 ? timeout : 60,
		                     timeout_setting ? timeout_setting : "hook_timeout in [global]", what, sizeof(what));
		ran++;
		if (report != NULL)
			report(data, pub, hooks[i], status, what);
	}
	ae_strv_free(env);
	ae_strv_free(hooks);
	return ran;
}

/* ---- after a pulse ---- */

typedef struct {
	ae_ctx *ctx;
	ae_publish_report_fn report;
	void *data;
	const char *record_id;
} hook_report_ctx;

static void
report_hook(void *data, const ae_published *pub, const char *hook, int status, const char *what)
{
	hook_report_ctx *h = data;
	char *msg = ae_strdup_printf("the hook %s for the %s%s certificate (serial %s, replacing %s) %s", hook,
	                             pub->scep_profile ? "SCEP profile " : "",
	                             pub->scep_profile ? pub->scep_profile : pub->template_name, pub->new_serial,
	                             pub->old_serial ? pub->old_serial : "none", what);

	h->report(h->data, status == 0 ? AE_EV_HOOK_RAN : AE_EV_HOOK_FAILED, pub->template_name, pub->scep_profile,
	          h->record_id, msg ? msg : what);
	free(msg);
}

/* The certificate file of a record: the certificate, then its chain. */
static STACK_OF(X509) *
record_chain(ae_store *st, const char *id)
{
	char *path = ae_strdup_printf("%s/certs/%s.pem", ae_store_dir(st), id);
	FILE *f = path ? fopen(path, "re") : NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509 *x;
	bool first = true;

	while (f != NULL && chain != NULL && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		if (first || !sk_X509_push(chain, x))
			X509_free(x);
		first = false;
	}
	if (f != NULL)
		fclose(f);
	free(path);
	return chain;
}

static bool
newer(const ae_record *a, const ae_record *b)
{
	int cmp = ASN1_TIME_compare(X509_get0_notAfter(a->cert), X509_get0_notAfter(b->cert));
	return cmp > 0 || (cmp == 0 && a->created > b->created);
}

static void
publish_one(ae_ctx *ctx, const ae_conf *conf, bool machine, ae_store *st, const ae_record *r, const char *cert_dir,
            const char *hooks_dir, ae_publish_report_fn report, void *data)
{
	bool token = r->key_store != NULL && strncmp(r->key_store, "pkcs11:", 7) == 0;
	STACK_OF(X509) *chain = record_chain(st, r->id);
	const char *sp = r->scep_profile, *what = sp ? "SCEP profile " : "";
	ae_published pub;
	char *msg;

	if (r->key_uri == NULL ||
	    ae_publish_cert(ctx, cert_dir, ae_publish_name(r), r->cert, chain, token ? NULL : r->key_uri,
	                    token ? r->key_uri : NULL, &pub) != AE_OK) {
		msg = ae_strdup_printf("the %s%s certificate %s could not be published under %s: %s", what,
		                       ae_publish_name(r), r->id, cert_dir,
		                       r->key_uri ? ae_get_message(ctx) : "its record names no key");
		report(data, AE_EV_PUBLISH_FAILED, r->template_name, sp, r->id, msg ? msg : "not published");
		free(msg);
		ae_clear_message(ctx);
		sk_X509_pop_free(chain, X509_free);
		return;
	}
	sk_X509_pop_free(chain, X509_free);
	if (sp != NULL) {
		/* the place is the profile's; the hooks get both names */
		free(pub.template_name);
		pub.template_name = strdup(r->template_name);
		pub.scep_profile = strdup(sp);
		if (pub.template_name == NULL || pub.scep_profile == NULL) {
			report(data, AE_EV_PUBLISH_FAILED, r->template_name, sp, r->id, "out of memory: the hooks are not run");
			ae_published_clear(&pub);
			return;
		}
	}
	if (pub.changed) {
		hook_report_ctx h = { ctx, report, data, r->id };
		msg = ae_strdup_printf("the %s%s certificate %s (serial %s%s%s) is in %s: cert.pem, chain.pem, fullchain.pem, %s",
		                       what, ae_publish_name(r), r->id, pub.new_serial, pub.old_serial ? ", replacing " : "",
		                       pub.old_serial ? pub.old_serial : "", pub.dir, token ? "key.uri" : "key.pem");
		report(data, AE_EV_PUBLISHED, r->template_name, sp, r->id, msg ? msg : "published");
		free(msg);
		if (hooks_dir != NULL) {
			char setting[PATH_MAX + 64];
			ae_hooks_run(ctx, hooks_dir, conf->hook_timeout,
			             ae_conf_setting(conf, "global", "hook_timeout", setting, sizeof(setting)), machine,
			             &pub, report_hook, &h);
		}
	}
	ae_published_clear(&pub);
}

ae_err
ae_publish_pulse(ae_ctx *ctx, const ae_conf *conf, bool machine, ae_store *st, const char *store_safe,
                 ae_publish_report_fn report, void *data)
{
	ae_record **recs = NULL;
	size_t n = 0;
	char *cert_dir = NULL, *hooks_dir = NULL;
	ae_err err;

	if ((err = ae_publish_dirs(ctx, conf, machine, ae_store_dir(st), &cert_dir, &hooks_dir)) != AE_OK)
		return err;
	if (cert_dir == NULL)
		goto cleanup; /* cert_dir = none */
	if (ae_store_load(ctx, st, &recs, &n) != AE_OK) {
		report(data, AE_EV_PUBLISH_FAILED, NULL, NULL, NULL, ae_get_message(ctx));
		ae_clear_message(ctx);
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		const ae_record *r = recs[i], *best = r;
		bool first = true;
		if (r->state != AE_REC_ISSUED || r->cert == NULL || r->template_name == NULL ||
		    (r->key_store != NULL && store_safe != NULL && strcmp(r->key_store, store_safe) != 0))
			continue;
		/* Once per place (template or SCEP profile), the newest current certificate. */
		for (size_t j = 0; j < n && first; j++) {
			const ae_record *o = recs[j];
			if (j == i || o->state != AE_REC_ISSUED || o->cert == NULL || o->template_name == NULL ||
			    strcmp(ae_publish_name(o), ae_publish_name(r)) != 0 ||
			    (o->key_store != NULL && store_safe != NULL && strcmp(o->key_store, store_safe) != 0))
				continue;
			if (j < i)
				first = false; /* handled at j */
			else if (newer(o, best))
				best = o;
		}
		if (first)
			publish_one(ctx, conf, machine, st, best, cert_dir, hooks_dir, report, data);
	}
cleanup:
	ae_records_free(recs, n);
	free(cert_dir);
	free(hooks_dir);
	return AE_OK;
}
