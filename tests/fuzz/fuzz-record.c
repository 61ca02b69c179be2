/*
 * fuzz-record.c - the store's record format on arbitrary bytes: as a
 * record file (damaged by a bad disk or edited by hand), what parses must
 * format, parse and format again to the same text; as field values (text
 * from AD or a CA, any byte but NUL), format then parse must give every
 * value back, byte for byte, and format again the same text.
 */
#include "config.h"

#include "store.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openssl-setup.h"

/* format -> parse -> format: the identity, and the fields come back. */
static void
round_trip(ae_ctx *ctx, const ae_record *r)
{
	char *text = ae_record_format(r), *again_text;
	ae_record *again = NULL;

	if (text == NULL)
		return;
	if (ae_record_parse(ctx, text, strlen(text), "again", &again) != AE_OK)
		__builtin_trap();
	again_text = ae_record_format(again);
	if (again_text == NULL || strcmp(text, again_text) != 0 || strcmp(again->id, r->id) != 0 ||
	    again->state != r->state || again->major != r->major || again->request_id != r->request_id)
		__builtin_trap();
	free(again_text);
	free(text);
	ae_record_free(again);
}

static int
same(const char *x, const char *y)
{
	return (x == NULL && y == NULL) || (x != NULL && y != NULL && strcmp(x, y) == 0);
}

static int
fuzz_one(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_record *r = NULL;

	if (ctx == NULL)
		return 0;
	if (size > 0 && data[0] == 0xff) {
		/* Values: the bytes after the first, split at NULs, into the
		 * string fields in turn. */
		char *buf = malloc(size), *p;
		char **slots[] = { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
		size_t n = 0, len = size - 1;
		ae_record *back = NULL;
		char *text;

		r = ae_record_new();
		if (buf == NULL || r == NULL || (r->id = strdup("0123abcd")) == NULL)
			goto out;
		slots[0] = &r->template_name, slots[1] = &r->template_oid, slots[2] = &r->policy_server;
		slots[3] = &r->policy_id, slots[4] = &r->ca, slots[5] = &r->ca_host, slots[6] = &r->key_store;
		slots[7] = &r->key_uri, slots[8] = &r->renewal_of;
		memcpy(buf, data + 1, len);
		buf[len] = '\0';
		for (p = buf; n < 9 && p <= buf + len; p += strlen(p) + 1)
			*slots[n++] = strdup(p);
		text = ae_record_format(r);
		if (text != NULL) {
			if (ae_record_parse(ctx, text, strlen(text), "values", &back) != AE_OK)
				__builtin_trap();
			for (size_t i = 0; i < 9; i++) {
				char **mine = slots[i];
				char **theirs = (char **)((char *)back + ((char *)mine - (char *)r));
				if (!same(*mine, *theirs))
					__builtin_trap();
			}
			ae_record_free(back);
			free(text);
		}
		round_trip(ctx, r);
	out:
		free(buf);
	} else if (ae_record_parse(ctx, (const char *)data, size, "fuzz.rec", &r) == AE_OK) {
		round_trip(ctx, r);
	} else if (r != NULL) {
		__builtin_trap();
	}
	ae_record_free(r);
	ae_ctx_free(ctx);
	return 0;
}
