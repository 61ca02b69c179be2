/*
 * fuzz-keyfile.c - key files of the file store (PKCS#8 PEM, 0600 in a
 * 0700 directory) as the store reads them back: a file damaged by a bad
 * disk or edited by hand.  Each input is written as the key file of one
 * id in a private store made once, then found through the store
 * (ae_keystore_find: the read with its size bound, the PEM and PKCS#8
 * decoders, the key object); what is found has a key and the id asked for.
 */
#include "config.h"

#include "keystore.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "openssl-setup.h"

#define KEY_ID "00ff"

static char store_dir[] = "/tmp/ae-fuzz-keyfile-XXXXXX";
static char key_path[sizeof(store_dir) + 32];
static ae_keystore *ks;
static ae_ctx *ks_ctx;

static void
remove_store(void)
{
	char path[sizeof(store_dir) + 16];

	unlink(key_path);
	snprintf(path, sizeof(path), "%s/keys", store_dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/certs", store_dir);
	rmdir(path);
	rmdir(store_dir);
}

/* The store, once: a directory of its own, removed at exit. */
static bool
open_store(void)
{
	char spec[sizeof(store_dir) + 8];

	if (ks != NULL)
		return true;
	if (mkdtemp(store_dir) == NULL || (ks_ctx = ae_ctx_new()) == NULL)
		return false;
	atexit(remove_store);
	snprintf(spec, sizeof(spec), "file:%s", store_dir);
	snprintf(key_path, sizeof(key_path), "%s/keys/" KEY_ID ".key", store_dir);
	if (ae_keystore_open(ks_ctx, spec, &ks) != AE_OK) {
		/* A target that cannot set up must not pass as a clean run. */
		fprintf(stderr, "fuzz-keyfile: %s\n", ae_get_message(ks_ctx));
		abort();
	}
	return true;
}

static int
fuzz_one(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_key *key = NULL;
	int fd;

	if (ctx == NULL || !open_store())
		goto out;
	unlink(key_path);
	fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		goto out;
	}
	close(fd);
	if (ae_keystore_find(ctx, ks, KEY_ID, &key) == AE_OK) {
		if (key == NULL || ae_key_evp(key) == NULL || strcmp(ae_key_id(key), KEY_ID) != 0)
			__builtin_trap();
	} else if (key != NULL) {
		__builtin_trap();
	}
out:
	ae_key_free(key);
	ae_ctx_free(ctx);
	return 0;
}
