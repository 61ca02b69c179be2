/*
 * keystore-file.c - the directory backend: private keys as PKCS#8 PEM
 * files (0600) in DIR/keys, certificates in DIR/certs, for machines
 * without a token.
 *
 * Every file is reached through a descriptor of its directory (openat,
 * O_NOFOLLOW), and written to a temporary name, fsynced and renamed, so
 * that a crash leaves the old file or the new one, never a torn key.
 */
#include "config.h"

#include "keystore-int.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Keys and certificates are small; anything bigger is not ours. */
#define FILE_MAX_SIZE (1024 * 1024)

typedef struct {
	char *dir;
	char *keys_path;
	char *certs_path;
	int keys_fd;
	int certs_fd;
} file_store;

static void
file_free(void *priv)
{
	file_store *fs = priv;

	if (fs == NULL)
		return;
	if (fs->keys_fd >= 0)
		close(fs->keys_fd);
	if (fs->certs_fd >= 0)
		close(fs->certs_fd);
	free(fs->dir);
	free(fs->keys_path);
	free(fs->certs_path);
	free(fs);
}

static const char *
openssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
	return r != NULL ? r : "unknown OpenSSL error";
}

/* Whether the directory ST (at PATH) may hold our private keys: ours
 * (unless !CHECK_OWNER) and nobody else may write into it. */
static ae_err
dir_is_private(ae_ctx *ctx, const struct stat *st, const char *path, bool check_owner)
{
	if (!S_ISDIR(st->st_mode))
		return ae_set_message(ctx, AE_ERR_CONFIG, "key directory %s is not a directory", path);
	if (check_owner && st->st_uid != geteuid())
		return ae_set_message(ctx, AE_ERR_DENIED,
		                      "key directory %s belongs to uid %lu, not to us (uid %lu); "
		                      "refusing to keep private keys there",
		                      path, (unsigned long)st->st_uid, (unsigned long)geteuid());
	if ((st->st_mode & 022) != 0)
		return ae_set_message(ctx, AE_ERR_DENIED,
		                      "key directory %s is writable by group or others (mode %04o); "
		                      "chmod 700 it", path, (unsigned)(st->st_mode & 07777));
	return AE_OK;
}

/* Opens (creating it 0700 if missing) the directory PATH, and refuses it
 * unless it is ours and nobody else may write into it: a key directory
 * others can write to lets them swap our keys. */
static ae_err
open_private_dir(ae_ctx *ctx, int parent_fd, const char *name, const char *path, int *fd_out)
{
	struct stat st;
	int fd = -1;
	ae_err err = AE_OK;

	*fd_out = -1;
	if (mkdirat(parent_fd, name, 0700) != 0 && errno != EEXIST)
		return ae_set_message(ctx, AE_ERR_IO, "cannot create key directory %s: %s",
		                      path, strerror(errno));
	fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = ae_set_message(ctx, AE_ERR_IO, "cannot open key directory %s: %s",
		                     path, errno == ELOOP ? "it is a symbolic link" : strerror(errno));
		goto cleanup;
	}
	if (fstat(fd, &st) != 0) {
		err = ae_set_message(ctx, AE_ERR_IO, "cannot stat key directory %s: %s",
		                     path, strerror(errno));
		goto cleanup;
	}
	err = dir_is_private(ctx, &st, path, true);
	if (err != AE_OK)
		goto cleanup;
	*fd_out = fd;
	fd = -1;
cleanup:
	if (fd >= 0)
		close(fd);
	return err;
}

static char *
join_path(const char *dir, const char *name)
{
	ae_buf b;

	ae_buf_init(&b);
	ae_buf_printf(&b, "%s/%s", dir, name);
	return ae_buf_steal(&b);
}

static ae_err file_generate(ae_ctx *, ae_keystore *, const ae_keygen *, ae_key **);
static ae_err file_find(ae_ctx *, ae_keystore *, const char *, ae_key **);
static ae_err file_delete(ae_ctx *, ae_keystore *, const char *);
static ae_err file_store_cert(ae_ctx *, ae_keystore *, const char *, const char *, X509 *,
                              STACK_OF(X509) *);
static ae_err file_list(ae_ctx *, ae_keystore *, char ***);
static ae_err file_copy(ae_ctx *, ae_keystore *, const char *, const char *, const char *, ae_key **);

static const ae_keystore_ops file_ops = {
	.generate = file_generate,
	.find = file_find,
	.delete_key = file_delete,
	.store_cert = file_store_cert,
	.list = file_list,
	.copy = file_copy,
	.free = file_free,
};

/* The directory a "file:" store names (PATH: what follows "file:"), without
 * trailing slashes, in *DIR_OUT. */
static ae_err
store_dir(ae_ctx *ctx, const char *path, char **dir_out)
{
	char *dir;
	size_t n;

	*dir_out = NULL;
	/* "file:///dir" and "file:/dir" both name /dir. */
	if (strncmp(path, "//", 2) == 0)
		path += 2;
	if (path[0] != '/')
		return ae_set_message(ctx, AE_ERR_CONFIG,
		                      "key store \"file:%s\" must name an absolute directory "
		                      "(file:/var/lib/autoenroll)", path);
	dir = strdup(path);
	if (dir == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	*dir_out = dir;
	return AE_OK;
}

ae_err
ae_keystore_file_check(ae_ctx *ctx, const char *path, bool check_owner)
{
	char *dir = NULL, *sub = NULL, *up = NULL, *slash;
	struct stat st;
	ae_err err;

	err = store_dir(ctx, path, &dir);
	if (err != AE_OK)
		return err;
	if (lstat(dir, &st) != 0) {
		if (errno != ENOENT && errno != ENOTDIR) {
			err = ae_set_message(ctx, AE_ERR_IO, "cannot look at key directory %s: %s", dir, strerror(errno));
			goto cleanup;
		}
		/* Made at the first key: the nearest existing parent must let us. */
		up = strdup(dir);
		if (up == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		do {
			slash = strrchr(up, '/');
			if (slash == up)
				up[1] = '\0';
			else
				*slash = '\0';
		} while (stat(up, &st) != 0 && (errno == ENOENT || errno == ENOTDIR) && strcmp(up, "/") != 0);
		if (!S_ISDIR(st.st_mode) || access(up, W_OK | X_OK) != 0)
			err = ae_set_message(ctx, AE_ERR_CONFIG,
			                     "key directory %s does not exist and cannot be made: %s is %s", dir, up,
			                     S_ISDIR(st.st_mode) ? "not writable by us" : "not a directory");
		goto cleanup;
	}
	if (S_ISLNK(st.st_mode)) {
		err = ae_set_message(ctx, AE_ERR_CONFIG, "key directory %s is a symbolic link: name the directory itself",
		                     dir);
		goto cleanup;
	}
	err = dir_is_private(ctx, &st, dir, check_owner);
	for (int i = 0; err == AE_OK && i < 2; i++) {
		free(sub);
		sub = join_path(dir, i == 0 ? "keys" : "certs");
		if (sub == NULL)
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		else if (lstat(sub, &st) == 0)
			err = S_ISLNK(st.st_mode) ? ae_set_message(ctx, AE_ERR_CONFIG, "key directory %s is a symbolic link", sub)
			                          : dir_is_private(ctx, &st, sub, check_owner);
	}
cleanup:
	free(dir);
	free(sub);
	free(up);
	return err;
}

ae_err
ae_keystore_file_open(ae_ctx *ctx, const char *path, ae_keystore *ks)
{
	file_store *fs = NULL;
	char *dir = NULL;
	ae_buf desc;
	int dir_fd = -1;
	ae_err err = AE_OK;

	err = store_dir(ctx, path, &dir);
	if (err != AE_OK)
		return err;

	fs = calloc(1, sizeof(*fs));
	if (fs == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	fs->keys_fd = fs->certs_fd = -1;
	fs->keys_path = join_path(dir, "keys");
	fs->certs_path = join_path(dir, "certs");
	if (fs->keys_path == NULL || fs->certs_path == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	err = open_private_dir(ctx, AT_FDCWD, dir, dir, &dir_fd);
	if (err != AE_OK)
		goto cleanup;
	err = open_private_dir(ctx, dir_fd, "keys", fs->keys_path, &fs->keys_fd);
	if (err != AE_OK)
		goto cleanup;
	err = open_private_dir(ctx, dir_fd, "certs", fs->certs_path, &fs->certs_fd);
	if (err != AE_OK)
		goto cleanup;

	/* A key or certificate whose write was killed before its rename. */
	ae_remove_stale_tmp(fs->keys_path);
	ae_remove_stale_tmp(fs->certs_path);

	ae_buf_init(&desc);
	ae_buf_printf(&desc, "directory %s", dir);
	ks->description = ae_buf_steal(&desc);
	if (ks->description == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	fs->dir = dir;
	dir = NULL;
	ks->ops = &file_ops;
	ks->priv = fs;
	fs = NULL;
cleanup:
	if (dir_fd >= 0)
		close(dir_fd);
	file_free(fs);
	free(dir);
	return err;
}

/* Writes DATA to NAME in DIR_FD atomically: a temporary file created
 * exclusively with MODE, fsync, rename over NAME, fsync of the directory. */
static ae_err
write_atomic(ae_ctx *ctx, int dir_fd, const char *dir_path, const char *name,
             const void *data, size_t len, mode_t mode, bool replace)
{
	char *tmp = NULL;
	ae_buf b;
	int fd = -1;
	size_t done = 0;
	struct stat st;
	ae_err err = AE_OK;

	if (!replace && fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s/%s already exists", dir_path, name);

	ae_buf_init(&b);
	ae_buf_printf(&b, "%s.%ld.tmp", name, (long)getpid());
	tmp = ae_buf_steal(&b);
	if (tmp == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	/* A leftover from a crashed run of the same pid would block O_EXCL. */
	unlinkat(dir_fd, tmp, 0);
	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		err = ae_set_message(ctx, AE_ERR_IO, "cannot create %s/%s: %s",
		                     dir_path, tmp, strerror(errno));
		goto cleanup;
	}
	/* The umask may have narrowed MODE; it must not have widened it, but
	 * say exactly what we mean. */
	if (fchmod(fd, mode) != 0) {
		err = ae_set_message(ctx, AE_ERR_IO, "cannot chmod %s/%s: %s",
		                     dir_path, tmp, strerror(errno));
		goto cleanup;
	}
	while (done < len) {
		ssize_t w = write(fd, (const char *)data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			err = ae_set_message(ctx, AE_ERR_IO, "cannot write %s/%s: %s",
			                     dir_path, tmp, strerror(errno));
			goto cleanup;
		}
		done += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		err = ae_set_message(ctx, AE_ERR_IO, "cannot write %s/%s: %s",
		                     dir_path, tmp, strerror(errno));
		goto cleanup;
	}
	fd = -1;
	if (renameat(dir_fd, tmp, dir_fd, name) != 0) {
		err = ae_set_message(ctx, AE_ERR_IO, "cannot rename %s/%s to %s: %s",
		                     dir_path, tmp, name, strerror(errno));
		goto cleanup;
	}
	/* The rename is durable only once the directory is. */
	fsync(dir_fd);
cleanup:
	if (fd >= 0)
		close(fd);
	if (err != AE_OK)
		unlinkat(dir_fd, tmp, 0);
	free(tmp);
	return err;
}

/* Reads NAME in DIR_FD into a memory BIO; *BIO_OUT stays NULL and the
 * result is AE_ERR_NOTFOUND when the file does not exist. */
static ae_err
read_file(ae_ctx *ctx, int dir_fd, const char *dir_path, const char *name, BIO **bio_out)
{
	BIO *bio = NULL;
	char buf[4096];
	size_t total = 0;
	int fd;
	ae_err err = AE_OK;

	*bio_out = NULL;
	fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return ae_set_message(ctx, AE_ERR_NOTFOUND, "no key %s/%s", dir_path, name);
		return ae_set_message(ctx, AE_ERR_IO, "cannot open %s/%s: %s",
		                      dir_path, name, strerror(errno));
	}
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = ae_set_message(ctx, AE_ERR_IO, "cannot read %s/%s: %s",
			                     dir_path, name, strerror(errno));
			goto cleanup;
		}
		if (r == 0)
			break;
		total += (size_t)r;
		if (total > FILE_MAX_SIZE) {
			err = ae_set_message(ctx, AE_ERR_INVALID, "%s/%s is larger than %d bytes",
			                     dir_path, name, FILE_MAX_SIZE);
			goto cleanup;
		}
		if (BIO_write(bio, buf, (int)r) != (int)r) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
	}
	*bio_out = bio;
	bio = NULL;
cleanup:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	BIO_free(bio);
	return err;
}

static char *
key_name(const char *id_hex, const char *suffix)
{
	ae_buf b;

	ae_buf_init(&b);
	ae_buf_printf(&b, "%s%s", id_hex, suffix);
	return ae_buf_steal(&b);
}

/* Frees a memory BIO that held a clear-text key, wiping it first. */
static void
free_secret_bio(BIO *bio)
{
	BUF_MEM *bm = NULL;

	if (bio == NULL)
		return;
	BIO_get_mem_ptr(bio, &bm);
	if (bm != NULL && bm->data != NULL)
		OPENSSL_cleanse(bm->data, bm->length);
	BIO_free(bio);
}

static ae_err
file_generate(ae_ctx *ctx, ae_keystore *ks, const ae_keygen *gen, ae_key **out)
{
	file_store *fs = ks->priv;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *name = NULL, *path = NULL;
	const char *curve = NULL;
	char *pem;
	long pem_len;
	unsigned bits = gen->bits != 0 ? gen->bits : 2048;
	struct stat st;
	ae_key *key = NULL;
	ae_err err = AE_OK;

	switch (gen->alg) {
	case AE_KEY_ALG_RSA:
		break;
	case AE_KEY_ALG_ECDSA_P256:
		curve = "P-256";
		break;
	case AE_KEY_ALG_ECDSA_P384:
		curve = "P-384";
		break;
	case AE_KEY_ALG_ECDSA_P521:
		curve = "P-521";
		break;
	default:
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED,
		                      "key algorithm %d cannot sign requests; only RSA and "
		                      "ECDSA P-256/P-384/P-521 keys are generated", (int)gen->alg);
	}
	if (curve == NULL && (bits < 1024 || bits > 16384))
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED,
		                      "RSA key size %u is outside 1024..16384 bits", bits);

	name = key_name(gen->id_hex, ".key");
	path = name != NULL ? join_path(fs->keys_path, name) : NULL;
	if (path == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	/* Before spending seconds on an RSA key: write_atomic checks again. */
	if (fstatat(fs->keys_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "%s already exists", path);
		goto cleanup;
	}
	pctx = EVP_PKEY_CTX_new_from_name(NULL, curve == NULL ? "RSA" : "EC", NULL);
	if (pctx == NULL || EVP_PKEY_keygen_init(pctx) <= 0 ||
	    (curve == NULL ? EVP_PKEY_CTX_set_rsa_keygen_bits(pctx, (int)bits)
	                   : EVP_PKEY_CTX_set_group_name(pctx, curve)) <= 0 ||
	    EVP_PKEY_keygen(pctx, &pkey) <= 0) {
		err = ae_set_message(ctx, AE_ERR_CRYPTO, "cannot generate %s key: %s",
		                     curve != NULL ? curve : "RSA", openssl_reason());
		goto cleanup;
	}
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || !PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)) {
		err = ae_set_message(ctx, AE_ERR_CRYPTO, "cannot encode the new key: %s",
		                     openssl_reason());
		goto cleanup;
	}
	pem_len = BIO_get_mem_data(bio, &pem);
	err = write_atomic(ctx, fs->keys_fd, fs->keys_path, name, pem, (size_t)pem_len, 0600, false);
	if (err != AE_OK)
		goto cleanup;

	key = ae_key_new_int(pkey, gen->id_hex, path, true);
	pkey = NULL;
	if (key == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	*out = key;
	key = NULL;
cleanup:
	free_secret_bio(bio);
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(pkey);
	free(name);
	free(path);
	return err;
}

static ae_err
file_find(ae_ctx *ctx, ae_keystore *ks, const char *id_hex, ae_key **out)
{
	file_store *fs = ks->priv;
	char *name = NULL, *path = NULL;
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	ae_key *key = NULL;
	ae_err err;

	name = key_name(id_hex, ".key");
	path = name != NULL ? join_path(fs->keys_path, name) : NULL;
	if (path == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	err = read_file(ctx, fs->keys_fd, fs->keys_path, name, &bio);
	if (err != AE_OK)
		goto cleanup;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (pkey == NULL) {
		err = ae_set_message(ctx, AE_ERR_CRYPTO, "%s is not a PEM private key: %s",
		                     path, openssl_reason());
		goto cleanup;
	}
	key = ae_key_new_int(pkey, id_hex, path, true);
	pkey = NULL;
	if (key == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	*out = key;
	key = NULL;
cleanup:
	free_secret_bio(bio);
	EVP_PKEY_free(pkey);
	free(name);
	free(path);
	return err;
}

/* The key file again under another name (write_atomic refuses to
 * replace one); the label is the template's, which files do not keep. */
static ae_err
file_copy(ae_ctx *ctx, ae_keystore *ks, const char *from_hex, const char *to_hex, const char *label, ae_key **out)
{
	file_store *fs = ks->priv;
	char *name = NULL, *from = NULL, *pem;
	BIO *bio = NULL;
	long pem_len;
	ae_err err;

	(void)label;
	name = key_name(to_hex, ".key");
	from = key_name(from_hex, ".key");
	if (name == NULL || from == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if ((err = read_file(ctx, fs->keys_fd, fs->keys_path, from, &bio)) != AE_OK)
		goto cleanup;
	pem_len = BIO_get_mem_data(bio, &pem);
	if (pem_len <= 0) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "%s/%s is empty", fs->keys_path, from);
		goto cleanup;
	}
	if ((err = write_atomic(ctx, fs->keys_fd, fs->keys_path, name, pem, (size_t)pem_len, 0600, false)) != AE_OK)
		goto cleanup;
	err = file_find(ctx, ks, to_hex, out);
cleanup:
	free_secret_bio(bio);
	free(name);
	free(from);
	return err;
}

static ae_err
unlink_if_present(ae_ctx *ctx, int dir_fd, const char *dir_path, const char *name)
{
	if (unlinkat(dir_fd, name, 0) != 0 && errno != ENOENT)
		return ae_set_message(ctx, AE_ERR_IO, "cannot remove %s/%s: %s",
		                      dir_path, name, strerror(errno));
	return AE_OK;
}

static ae_err
file_delete(ae_ctx *ctx, ae_keystore *ks, const char *id_hex)
{
	file_store *fs = ks->priv;
	char *kname = key_name(id_hex, ".key");
	char *cname = key_name(id_hex, ".pem");
	ae_err err;

	if (kname == NULL || cname == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	/* Certificate first: a certificate without its key is useless, a key
	 * without its certificate is merely not enrolled yet. */
	err = unlink_if_present(ctx, fs->certs_fd, fs->certs_path, cname);
	if (err == AE_OK)
		err = unlink_if_present(ctx, fs->keys_fd, fs->keys_path, kname);
	if (err == AE_OK) {
		fsync(fs->certs_fd);
		fsync(fs->keys_fd);
	}
cleanup:
	free(kname);
	free(cname);
	return err;
}

static ae_err
file_store_cert(ae_ctx *ctx, ae_keystore *ks, const char *id_hex, const char *label,
                X509 *cert, STACK_OF(X509) *chain)
{
	file_store *fs = ks->priv;
	BIO *bio = NULL;
	char *name = NULL, *data;
	long len;
	int i;
	ae_err err;

	name = key_name(id_hex, ".pem");
	bio = BIO_new(BIO_s_mem());
	if (name == NULL || bio == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	/* The certificate first, then its chain: the order TLS servers and
	 * most tools expect in a single PEM file. */
	if (!PEM_write_bio_X509(bio, cert)) {
		err = ae_set_message(ctx, AE_ERR_CRYPTO, "cannot encode the certificate: %s",
		                     openssl_reason());
		goto cleanup;
	}
	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		if (!PEM_write_bio_X509(bio, sk_X509_value(chain, i))) {
			err = ae_set_message(ctx, AE_ERR_CRYPTO, "cannot encode a chain certificate: %s",
			                     openssl_reason());
			goto cleanup;
		}
	}
	len = BIO_get_mem_data(bio, &data);
	err = write_atomic(ctx, fs->certs_fd, fs->certs_path, name, data, (size_t)len, 0644, true);
cleanup:
	BIO_free(bio);
	free(name);
	return err;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static ae_err
file_list(ae_ctx *ctx, ae_keystore *ks, char ***ids_out)
{
	file_store *fs = ks->priv;
	DIR *d = NULL;
	struct dirent *de;
	char **ids = NULL;
	int fd;
	ae_err err = AE_OK;

	fd = dup(fs->keys_fd);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_IO, "cannot read key directory %s: %s",
		                     fs->keys_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto cleanup;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		char stem[AE_KEY_ID_MAX_HEX + 1];

		if (n <= 4 || strcmp(de->d_name + n - 4, ".key") != 0 || n - 4 > AE_KEY_ID_MAX_HEX)
			continue;
		memcpy(stem, de->d_name, n - 4);
		stem[n - 4] = '\0';
		if (!ae_key_id_valid(stem))
			continue;
		if (!ae_strv_append(&ids, stem)) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
	}
	if (ids == NULL) {
		ids = calloc(1, sizeof(*ids));
		if (ids == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
	}
	qsort(ids, ae_strv_len(ids), sizeof(*ids), cmp_str);
	*ids_out = ids;
	ids = NULL;
cleanup:
	if (d != NULL)
		closedir(d);
	ae_strv_free(ids);
	return err;
}
