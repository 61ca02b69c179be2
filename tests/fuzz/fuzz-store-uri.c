/*
 * fuzz-store-uri.c - key store specifications (store = in the
 * configuration, --store): "pkcs11:" URIs (RFC 7512, the query attributes
 * moved out of the path, the PIN redacted in messages, p11-kit's parser)
 * and "file:" directories, as `autoenroll config check` checks them.  No
 * module is loaded and nothing is written; a message never shows a
 * pin-value the input gave.
 */
#include "config.h"

#include "keystore.h"

#include <stdlib.h>
#include <string.h>

#include "openssl-setup.h"

static int
fuzz_one(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	char *spec = malloc(size + 1);
	const char *pin;

	if (ctx == NULL || spec == NULL)
		goto out;
	memcpy(spec, data, size);
	spec[size] = '\0';
	if (ae_keystore_check_spec(ctx, spec, false) != AE_OK && strncmp(spec, "pkcs11:", 7) == 0 &&
	    (pin = strstr(spec, "pin-value=")) != NULL) {
		/* A PIN (here: 8 letters or digits found once in the input)
		 * never reaches the message (logs, config check). */
		const char *v = pin + strlen("pin-value=");
		size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
		char *secret = n >= 8 && strchr(";&?", v[n]) != NULL ? strndup(v, n) : NULL;

		if (secret != NULL && strstr(spec, secret) == v && strstr(v + 1, secret) == NULL &&
		    strstr(ae_get_message(ctx), secret) != NULL)
			__builtin_trap();
		free(secret);
	}
out:
	free(spec);
	ae_ctx_free(ctx);
	return 0;
}
