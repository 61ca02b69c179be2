/*
 * fuzz-krb.c - the Kerberos error mapping (net/krb.c) on arbitrary bytes:
 * the first four bytes as a krb5 error code, turned into a message with
 * the library's text and our advice (ae_krb_message, with and without a
 * context), and the whole input as a GSS-API / SASL / KDC failure text
 * (ae_krb_advice: what ldapconn.c, rpc.c and diagnose quote from servers).
 */
#include "config.h"

#include "krb.h"

#include <krb5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static krb5_context kctx;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	char *text = malloc(size + 1);
	const char *advice, *m;
	int32_t code = 0;

	if (kctx == NULL && krb5_init_context(&kctx) != 0)
		abort(); /* a target that cannot set up must not pass as clean */
	if (ctx == NULL || text == NULL)
		goto out;
	memcpy(text, data, size);
	text[size] = '\0';
	advice = ae_krb_advice(text);
	if (advice != NULL && (advice[0] == '\0' || strlen(text) == 0))
		__builtin_trap(); /* advice only for a text that says something */

	if (size >= 4)
		memcpy(&code, data, 4);
	for (int with = 0; with < 2; with++) {
		if (ae_krb_message(ctx, AE_ERR_KERBEROS, with ? kctx : NULL, code, "fuzz") != AE_ERR_KERBEROS)
			__builtin_trap();
		m = ae_get_message(ctx);
		if (m == NULL || strncmp(m, "fuzz: ", 6) != 0 || strlen(m) <= 6)
			__builtin_trap(); /* always says what failed, and something */
		ae_clear_message(ctx);
	}
out:
	free(text);
	ae_ctx_free(ctx);
	return 0;
}
