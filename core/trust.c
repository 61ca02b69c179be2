/*
 * trust.c - trust directory and system trust from AD's certificates.
 */
#include "config.h"

#include "store.h"
#include "trust.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define UCC_PROGRAM "/usr/sbin/update-ca-certificates"
#define TRUST_PROGRAM "/usr/bin/trust"

static char *
fingerprint(X509 *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *hex;

	if (X509_digest(cert, EVP_sha256(), md, &n) != 1)
		return NULL;
	hex = malloc(2 * n + 1);
	if (hex == NULL)
		return NULL;
	for (unsigned i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	return hex;
}

static char *
to_pem(X509 *cert)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *out = NULL;
	long n;

	if (bio == NULL)
		return NULL;
	if (PEM_write_bio_X509(bio, cert) == 1 && (n = BIO_get_mem_data(bio, &data)) > 0 &&
	    (out = malloc((size_t)n + 1)) != NULL) {
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(bio);
	return out;
}

static ae_err
ensure_dir(ae_ctx *ctx, const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return ae_set_message(ctx, AE_ERR_IO, "cannot create %s: %s", path, strerror(errno));
	return AE_OK;
}

/* Runs PROGRAM ARGS... with an empty environment; AE_OK when it exits 0. */
static ae_err
run(ae_ctx *ctx, const char *const *argv)
{
	static char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	pid_t pid;
	int status = 0;

	if (access(argv[0], X_OK) != 0)
		return ae_set_message(ctx, AE_ERR_CONFIG, "%s is not installed", argv[0]);
	pid = fork();
	if (pid < 0)
		return ae_set_message(ctx, AE_ERR_IO, "fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		execve(argv[0], (char *const *)argv, envp);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return ae_set_message(ctx, AE_ERR_IO, "%s failed (status %d)", argv[0],
		                      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return AE_OK;
}

/* Adds or removes one root in the system trust. */
static ae_err
system_apply(ae_ctx *ctx, const char *system, const char *pem_path, const char *fp, bool add)
{
	char dst[4096];

	if (strcmp(system, "p11-kit") == 0) {
		const char *argv[] = { TRUST_PROGRAM, "anchor", add ? "--store" : "--remove", pem_path, NULL };
		return run(ctx, argv);
	}
	/* update-ca-certificates: a .crt file per root; the program runs once
	 * after all changes. */
	snprintf(dst, sizeof(dst), "%s/%s.crt", AE_TRUST_UCC_DIR, fp);
	if (!add) {
		if (unlink(dst) != 0 && errno != ENOENT)
			return ae_set_message(ctx, AE_ERR_IO, "cannot remove %s: %s", dst, strerror(errno));
		return AE_OK;
	}
	{
		FILE *in = fopen(pem_path, "re");
		char buf[16384];
		size_t n;
		ae_err err;
		if (in == NULL)
			return ae_set_message(ctx, AE_ERR_IO, "%s: %s", pem_path, strerror(errno));
		n = fread(buf, 1, sizeof(buf), in);
		fclose(in);
		if (ensure_dir(ctx, "/usr/local/share/ca-certificates") != AE_OK ||
		    ensure_dir(ctx, AE_TRUST_UCC_DIR) != AE_OK)
			return ae_get_code(ctx);
		err = ae_write_file_atomic(ctx, dst, buf, n, 0644);
		return err;
	}
}

/* Syncs DIR/SUB with CERTS: writes missing files, removes others.  With
 * SYSTEM (roots only), mirrors the changes into the system trust. */
static ae_err
sync_dir(ae_ctx *ctx, const char *dir, const char *sub, STACK_OF(X509) *certs, const char *system,
         ae_trust_changes *ch, bool *system_changed)
{
	char path[4096], file[4096];
	char **wanted = NULL;
	DIR *d = NULL;
	struct dirent *de;
	ae_err err = AE_OK;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if ((err = ensure_dir(ctx, path)) != AE_OK)
		return err;
	ae_remove_stale_tmp(path);
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *c = sk_X509_value(certs, i);
		char *fp = fingerprint(c), *pem = NULL;
		struct stat sb;
		if (fp == NULL || !ae_strv_append(&wanted, fp)) {
			free(fp);
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		if (snprintf(file, sizeof(file), "%s/%s.pem", path, fp) >= (int)sizeof(file) || stat(file, &sb) == 0) {
			free(fp);
			continue;
		}
		pem = to_pem(c);
		if (pem == NULL) {
			free(fp);
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		err = ae_write_file_atomic(ctx, file, pem, strlen(pem), 0644);
		free(pem);
		if (err == AE_OK) {
			ch->added++;
			if (system != NULL) {
				if ((err = system_apply(ctx, system, file, fp, true)) == AE_OK) {
					ch->system_added++;
					*system_changed = true;
				} else {
					unlink(file); /* retried at the next pulse */
				}
			}
		}
		free(fp);
		if (err != AE_OK)
			goto cleanup;
	}
	d = opendir(path);
	if (d == NULL) {
		err = ae_set_message(ctx, AE_ERR_IO, "%s: %s", path, strerror(errno));
		goto cleanup;
	}
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		char fp[128];
		if (n < 5 || n - 4 >= sizeof(fp) || strcmp(de->d_name + n - 4, ".pem") != 0)
			continue;
		memcpy(fp, de->d_name, n - 4);
		fp[n - 4] = '\0';
		if (ae_strv_contains(wanted, fp))
			continue;
		if (snprintf(file, sizeof(file), "%s/%s", path, de->d_name) >= (int)sizeof(file))
			continue;
		if (system != NULL) {
			if ((err = system_apply(ctx, system, file, fp, false)) != AE_OK)
				goto cleanup;
			ch->system_removed++;
			*system_changed = true;
		}
		if (unlink(file) != 0) {
			err = ae_set_message(ctx, AE_ERR_IO, "cannot remove %s: %s", file, strerror(errno));
			goto cleanup;
		}
		ch->removed++;
	}
cleanup:
	if (d != NULL)
		closedir(d);
	ae_strv_free(wanted);
	return err;
}

static ae_err
write_bundle(ae_ctx *ctx, const char *dir, STACK_OF(X509) *roots)
{
	char path[4096];
	ae_buf b;
	ae_err err;

	ae_buf_init(&b);
	for (int i = 0; i < sk_X509_num(roots); i++) {
		char *pem = to_pem(sk_X509_value(roots, i));
		if (pem == NULL) {
			ae_buf_clear(&b);
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
		ae_buf_puts(&b, pem);
		free(pem);
	}
	ae_remove_stale_tmp(dir); /* a roots.pem whose write was killed (tests/bench/crash.sh) */
	snprintf(path, sizeof(path), "%s/roots.pem", dir);
	err = ae_write_file_atomic(ctx, path, b.data ? b.data : "", b.len, 0644);
	ae_buf_clear(&b);
	return err;
}

/* Whether CERT is in LIST (same DER). */
static bool
listed(STACK_OF(X509) *list, X509 *cert)
{
	for (int i = 0; i < sk_X509_num(list); i++)
		if (X509_cmp(sk_X509_value(list, i), cert) == 0)
			return true;
	return false;
}

/* Appends to OUT (a view: the certificates are not its own) those of
 * FROM that are neither disallowed nor already in OUT. */
static bool
add_allowed(STACK_OF(X509) *out, STACK_OF(X509) *from, STACK_OF(X509) *disallowed)
{
	for (int i = 0; i < sk_X509_num(from); i++) {
		X509 *c = sk_X509_value(from, i);
		if (!listed(disallowed, c) && !listed(out, c) && sk_X509_push(out, c) <= 0)
			return false;
	}
	return true;
}

/* Group Policy's certificates of one store, decoded into OWNED (which
 * frees them); a blob that is not DER is left out. */
static STACK_OF(X509) *
gp_store(const ae_gp_settings *gp, int store, STACK_OF(X509) *owned)
{
	STACK_OF(X509) *out = sk_X509_new_null();

	for (size_t i = 0; out != NULL && gp != NULL && i < gp->n_certs[store]; i++) {
		const unsigned char *der = gp->certs[store][i].der;
		X509 *c = d2i_X509(NULL, &der, (long)gp->certs[store][i].len);
		if (c == NULL)
			continue;
		if (sk_X509_push(owned, c) <= 0) {
			X509_free(c);
			sk_X509_free(out);
			return NULL;
		}
		if (sk_X509_push(out, c) <= 0) {
			sk_X509_free(out);
			return NULL;
		}
	}
	return out;
}

ae_err
ae_trust_update(ae_ctx *ctx, const char *dir, const char *system, const ae_pki *pki, const ae_gp_settings *gp,
                ae_trust_changes *ch)
{
	enum { ROOTS, INTER, NTAUTH, ENTERPRISE, N };
	static const char *const sub[N] = { "roots", "intermediates", "ntauth", "enterprise-trust" };
	STACK_OF(X509) *owned = sk_X509_new_null(), *g[AE_GP_STORE_N] = { NULL }, *set[N] = { NULL };
	bool system_changed = false;
	ae_err err = AE_OK;

	memset(ch, 0, sizeof(*ch));
	if (system != NULL && strcmp(system, "none") == 0)
		system = NULL;
	for (int st = 0; st < AE_GP_STORE_N; st++)
		if (owned == NULL || (g[st] = gp_store(gp, st, owned)) == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
	for (int k = 0; k < N; k++)
		if ((set[k] = sk_X509_new_null()) == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
	/* AD's first, then Group Policy's; Disallowed wins over both (the
	 * Windows chain engine distrusts what the Disallowed store holds). */
	if (!add_allowed(set[ROOTS], pki->roots, g[AE_GP_STORE_DISALLOWED]) ||
	    !add_allowed(set[INTER], pki->intermediates, g[AE_GP_STORE_DISALLOWED]) ||
	    !add_allowed(set[NTAUTH], pki->ntauth, g[AE_GP_STORE_DISALLOWED])) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	ch->gp_certs = (unsigned)(sk_X509_num(set[ROOTS]) + sk_X509_num(set[INTER]));
	if (!add_allowed(set[ROOTS], g[AE_GP_STORE_ROOT], g[AE_GP_STORE_DISALLOWED]) ||
	    !add_allowed(set[INTER], g[AE_GP_STORE_CA], g[AE_GP_STORE_DISALLOWED]) ||
	    !add_allowed(set[ENTERPRISE], g[AE_GP_STORE_TRUST], g[AE_GP_STORE_DISALLOWED])) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	ch->gp_certs = (unsigned)(sk_X509_num(set[ROOTS]) + sk_X509_num(set[INTER]) + sk_X509_num(set[ENTERPRISE])) -
	               ch->gp_certs;
	ch->disallowed = (unsigned)sk_X509_num(g[AE_GP_STORE_DISALLOWED]);
	ch->roots = (unsigned)sk_X509_num(set[ROOTS]);
	ch->intermediates = (unsigned)sk_X509_num(set[INTER]);
	ch->ntauth = (unsigned)sk_X509_num(set[NTAUTH]);
	if ((err = ensure_dir(ctx, dir)) != AE_OK)
		goto cleanup;
	/* A root that fails its own signature check is not trusted by
	 * anything anyway; AD is the authority for what is a root here. */
	for (int k = 0; k < N && err == AE_OK; k++)
		err = sync_dir(ctx, dir, sub[k], set[k], k == ROOTS ? system : NULL, ch, &system_changed);
	if (err == AE_OK)
		err = sync_dir(ctx, dir, "disallowed", g[AE_GP_STORE_DISALLOWED], NULL, ch, &system_changed);
	if (err == AE_OK)
		err = write_bundle(ctx, dir, set[ROOTS]);
	if (err != AE_OK) {
		ae_prefix_message(ctx, err, "trust from AD");
		goto cleanup;
	}
	if (system_changed && strcmp(system, "update-ca-certificates") == 0) {
		const char *argv[] = { UCC_PROGRAM, NULL };
		if ((err = run(ctx, argv)) != AE_OK)
			ae_prefix_message(ctx, err, "system trust");
	}
cleanup:
	for (int k = 0; k < N; k++)
		sk_X509_free(set[k]);
	for (int st = 0; st < AE_GP_STORE_N; st++)
		sk_X509_free(g[st]);
	sk_X509_pop_free(owned, X509_free);
	return err;
}
