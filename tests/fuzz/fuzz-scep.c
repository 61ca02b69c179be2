/*
 * fuzz-scep.c - an SCEP server's answers before PKIOperation, on arbitrary
 * bytes: GetCACaps, GetCACert (both Content-Types and none) and NDES's
 * admin page.
 */
#include "config.h"

#include "scep-msg.h"

#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>

#include "openssl-setup.h"

static int
fuzz_one(const uint8_t *data, size_t size)
{
	/* The first byte picks the parser; the rest is the body. */
	static const char *const types[] = {"application/x-x509-ca-cert", "application/x-x509-ca-ra-cert", NULL};
	ae_ctx *ctx = ae_ctx_new();
	const uint8_t *body = data + 1;
	size_t len = size - 1;

	if (ctx == NULL || size < 1) {
		ae_ctx_free(ctx);
		return 0;
	}
	switch (data[0] % 3) {
	case 0: {
		unsigned caps = 0;
		bool weak;
		char buf[128];
		if (ae_scep_caps_parse(ctx, (const char *)body, len, &caps) == AE_OK) {
			ae_scep_caps_str(caps, buf, sizeof(buf));
			(void)ae_scep_cipher(caps, &weak);
			(void)ae_scep_digest(caps, &weak);
		}
		break;
	}
	case 1: {
		ae_scep_ca_certs c;
		ae_err rc = ae_scep_ca_certs_parse(ctx, types[(data[0] / 3) % 3], body, len, &c);
		if (rc == AE_OK && (c.ca == NULL || c.ra_sign == NULL || c.ra_encrypt == NULL))
			__builtin_trap(); /* success always fills every role */
		if (rc != AE_OK && c.all != NULL)
			__builtin_trap(); /* failure keeps nothing */
		ae_scep_ca_certs_clear(&c);
		break;
	}
	default: {
		char *pw = NULL;
		ae_err rc = ae_scep_admin_challenge(ctx, (const char *)body, len, &pw);
		if ((rc == AE_OK) != (pw != NULL))
			__builtin_trap();
		free(pw);
		break;
	}
	}
	ae_ctx_free(ctx);
	return 0;
}
