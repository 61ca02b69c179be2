/*
 * fuzz-p11.c - what a PKCS#11 setup hands the key store (pkcs11/
 * keystore-p11.c) on arbitrary bytes: the input as a pin-source file
 * (read with its size bound, the final newline dropped), and cut in two
 * by its first byte as a token's CKA_EC_PARAMS and CKA_EC_POINT (DER
 * OCTET STRING or bare point), which must give a point of the curve.
 */
#include "config.h"

#include "keystore-int.h"

#include <fcntl.h>
#include <openssl/ec.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "openssl-setup.h"

static char pin_path[] = "/tmp/ae-fuzz-pin-XXXXXX";
static int pin_fd = -1;

static void
remove_pin(void)
{
	unlink(pin_path);
}

static int
fuzz_one(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	char pin[64];
	EC_GROUP *group = NULL;
	EC_POINT *pt = NULL;

	if (ctx == NULL)
		return 0;
	if (pin_fd < 0) {
		if ((pin_fd = mkstemp(pin_path)) < 0)
			abort(); /* a target that cannot set up must not pass as clean */
		atexit(remove_pin);
	}
	if (ftruncate(pin_fd, 0) == 0 && pwrite(pin_fd, data, size, 0) == (ssize_t)size) {
		memset(pin, 'x', sizeof(pin));
		if (ae_p11_read_pin_source(ctx, "fuzz", pin_path, pin, sizeof(pin)) == AE_OK) {
			size_t n = strnlen(pin, sizeof(pin));
			if (n >= sizeof(pin) || n > size || (size > 0 && data[size - 1] == '\n' && n == size))
				__builtin_trap(); /* terminated, no longer than the file, its line end dropped */
		}
	}
	if (size > 0) {
		/* params: the DATA[0] bytes after it (as many as there are). */
		size_t plen = data[0] < size - 1 ? data[0] : size - 1;
		if (ae_p11_ec_decode(ctx, "fuzz", data + 1, plen, data + 1 + plen, size - 1 - plen, &group, &pt) == AE_OK) {
			if (group == NULL || pt == NULL || EC_POINT_is_on_curve(group, pt, NULL) != 1)
				__builtin_trap();
		} else if (group != NULL || pt != NULL) {
			__builtin_trap();
		}
	}
	EC_POINT_free(pt);
	EC_GROUP_free(group);
	ae_ctx_free(ctx);
	return 0;
}
