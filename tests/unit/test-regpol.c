/*
 * test-regpol.c - the Registry.pol parser over files written by Samba's
 * own encoder (tests/data/regpol/make-regpol.py): every type, the real
 * GPMC autoenrollment file's shape, and damaged files (each refused whole,
 * with the offset of the damage in the message; every truncation too).
 */
#include "config.h"

#include "regpol.h"
#include "regpol-files.h"
#include "tap.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


static const ae_regpol_entry *
find(const ae_regpol *pol, const char *value)
{
	for (size_t i = 0; pol != NULL && i < pol->n; i++)
		if (strcmp(pol->entries[i].value, value) == 0)
			return &pol->entries[i];
	return NULL;
}

static void
test_autoenroll(ae_ctx *ctx)
{
	ae_regpol *pol = load(ctx, "autoenroll.pol");
	const ae_regpol_entry *e;
	uint32_t d = 0;
	char *s;

	tap_ok(pol != NULL, "autoenroll.pol (GPMC's shape, Samba's encoder) parses");
	if (pol == NULL)
		return;
	tap_is_int(pol->n, 14, "14 entries");
	tap_is_int(pol->entries[0].offset, 8, "the first entry starts after the header");
	tap_is_str(pol->entries[1].key, "Software\\Policies\\Microsoft\\Cryptography\\AutoEnrollment",
	           "key as in the file, backslashes and all");
	e = find(pol, "AEPolicy");
	tap_ok(e != NULL && e->type == AE_REG_DWORD && ae_regpol_dword(e, &d) && d == 7, "AEPolicy REG_DWORD 7");
	e = find(pol, "OfflineExpirationStoreNames");
	s = e ? ae_regpol_string(e) : NULL;
	tap_is_str(s, "MY", "OfflineExpirationStoreNames REG_SZ \"MY\" (the terminating NUL is not text)");
	free(s);
	e = find(pol, "");
	s = e ? ae_regpol_string(e) : NULL;
	tap_is_str(s, "{A5E9BF57-71C6-443A-B7FC-79EFA6F73EBD}", "the default (unnamed) value of PolicyServers");
	free(s);
	e = &pol->entries[13];
	tap_ok(e->type == AE_REG_NONE && e->size == 0 && e->data == NULL && e->value[0] == '\0',
	       "a key-only entry: type 0, empty value name, no data");
	tap_ok(!ae_regpol_dword(find(pol, "URL"), &d), "a REG_SZ is not read as a DWORD");
	ae_regpol_free(pol);
}

static void
test_types(ae_ctx *ctx)
{
	ae_regpol *pol = load(ctx, "types.pol");
	uint32_t d = 0;
	uint64_t q = 0;
	char *s, **v;
	bool ok = false;

	tap_ok(pol != NULL && pol->n == 8, "types.pol: 8 entries");
	if (pol == NULL)
		return;
	s = ae_regpol_string(find(pol, "sz"));
	tap_is_str(s, "caf\xc3\xa9 \xe2\x9c\x93", "REG_SZ with non-ASCII characters, as UTF-8");
	free(s);
	s = ae_regpol_string(find(pol, "expand"));
	tap_is_str(s, "%SystemRoot%\\x", "REG_EXPAND_SZ unexpanded");
	free(s);
	tap_ok(find(pol, "binary")->size == 4 && memcmp(find(pol, "binary")->data, "\x00\x01\xfe\xff", 4) == 0,
	       "REG_BINARY bytes");
	tap_ok(ae_regpol_dword(find(pol, "dword"), &d) && d == 0xdeadbeef, "REG_DWORD little-endian");
	tap_ok(ae_regpol_dword(find(pol, "dwordbe"), &d) && d == 0x01020304, "REG_DWORD_BIG_ENDIAN");
	tap_ok(ae_regpol_qword(find(pol, "qword"), &q) && q == 0x1122334455667788ULL, "REG_QWORD");
	v = ae_regpol_multi(find(pol, "multi"), &ok);
	tap_ok(ok && ae_strv_len(v) == 2 && strcmp(v[0], "one") == 0 && strcmp(v[1], "two") == 0,
	       "REG_MULTI_SZ: two strings");
	ae_strv_free(v);
	tap_is_str(ae_reg_type_name(AE_REG_MULTI_SZ), "REG_MULTI_SZ", "type names");
	tap_ok(ae_reg_type_name(12) == NULL, "no name for type 12");
	ae_regpol_free(pol);

	{
		static const uint8_t pair[] = { 'a', 0, 0x3d, 0xd8, 0x00, 0xde, 0, 0, 'z', 0 };
		static const uint8_t lone_hi[] = { 0x3d, 0xd8, 'a', 0 };
		static const uint8_t lone_lo[] = { 0x00, 0xde };
		static const uint8_t ctrl[] = { 0x07, 0 };
		char *u = ae_utf16le_decode(pair, sizeof(pair), true);

		tap_is_str(u, "a\xf0\x9f\x98\x80", "UTF-16: a surrogate pair, then the NUL ends the text");
		free(u);
		tap_ok(ae_utf16le_decode(lone_hi, sizeof(lone_hi), false) == NULL &&
		               ae_utf16le_decode(lone_lo, sizeof(lone_lo), false) == NULL &&
		               ae_utf16le_decode(pair, 3, false) == NULL,
		       "UTF-16: lone surrogates and an odd byte are refused");
		u = ae_utf16le_decode(ctrl, sizeof(ctrl), false);
		tap_ok(ae_utf16le_decode(ctrl, sizeof(ctrl), true) == NULL && u != NULL && u[0] == 7,
		       "UTF-16: control characters refused only in names");
		free(u);
	}

	pol = load(ctx, "empty.pol");
	tap_ok(pol != NULL && pol->n == 0, "the header alone: no entries, not an error");
	ae_regpol_free(pol);
}

static void
bad(ae_ctx *ctx, const char *name, const char *offset_text)
{
	ae_regpol *pol = NULL;
	char *path = ae_strdup_printf(DATA "%s", name);
	ae_err rc = ae_regpol_load(ctx, path, &pol);

	tap_ok(rc == AE_ERR_INVALID && pol == NULL, "%s: refused, nothing returned", name);
	tap_ok(strstr(ae_get_message(ctx), offset_text) != NULL && strstr(ae_get_message(ctx), name) != NULL,
	       "%s: the message names the file and \"%s\"", name, offset_text);
	tap_diag("%s", ae_get_message(ctx));
	free(path);
}

static void
test_damaged(ae_ctx *ctx)
{
	size_t len = 0;
	char *raw = ae_read_file(DATA "autoenroll.pol", 1 << 20, &len);
	size_t refused = 0;
	uint8_t *copy;

	/* make-regpol.py prints where it put the size: after the first entry
	 * and "[key;AEPolicy;type;" */
	bad(ctx, "bad-size.pol", "at byte 388: the size field (256 bytes)");
	bad(ctx, "bad-signature.pol", "at byte 0");
	bad(ctx, "bad-version.pol", "at byte 4: version 2");
	bad(ctx, "truncated.pol", "at byte 2970");

	tap_ok(raw != NULL && len > 100, "autoenroll.pol read");
	if (raw == NULL)
		return;
	/* Every truncation that does not end on an entry boundary is refused;
	 * each is copied to a buffer of its exact size (sanitizers see reads
	 * past it). */
	for (size_t n = 0; n < len; n++) {
		ae_regpol *pol = NULL;

		copy = malloc(n ? n : 1);
		memcpy(copy, raw, n);
		if (ae_regpol_parse(ctx, copy, n, &pol) != AE_OK && pol == NULL)
			refused++;
		else if (pol != NULL && n >= 8) {
			/* it parsed: then it must end exactly after an entry */
			const ae_regpol_entry *last = pol->n ? &pol->entries[pol->n - 1] : NULL;
			if (last == NULL ? n == 8 : raw[n - 2] == ']' && raw[n - 1] == 0)
				refused++;
		}
		ae_regpol_free(pol);
		free(copy);
	}
	tap_is_int(refused, len, "each of the %zu truncations refused or ending on an entry", len);

	/* a size field larger than what is left */
	copy = malloc(len);
	memcpy(copy, raw, len);
	copy[388] = 0xff;
	copy[389] = 0xff;
	{
		ae_regpol *pol = NULL;
		ae_err rc = ae_regpol_parse(ctx, copy, len, &pol);

		tap_ok(rc == AE_ERR_INVALID && pol == NULL &&
		               strstr(ae_get_message(ctx), "at byte 388: the size field says 65535 bytes, more than") != NULL,
		       "a size past the end of the file: refused at the size field");
		tap_diag("%s", ae_get_message(ctx));
	}
	/* a type outside the registry's */
	memcpy(copy, raw, len);
	copy[382] = 0x0c;
	{
		ae_regpol *pol = NULL;

		tap_ok(ae_regpol_parse(ctx, copy, len, &pol) == AE_ERR_INVALID && pol == NULL &&
		               strstr(ae_get_message(ctx), "at byte 382: type 12") != NULL,
		       "type 12: refused at the type field");
	}
	/* a control character in a key */
	memcpy(copy, raw, len);
	copy[10] = 0x01;
	copy[11] = 0x00;
	{
		ae_regpol *pol = NULL;

		tap_ok(ae_regpol_parse(ctx, copy, len, &pol) == AE_ERR_INVALID && pol == NULL &&
		               strstr(ae_get_message(ctx), "at byte 10: the key is not valid") != NULL,
		       "a control character in a key: refused");
	}
	free(copy);
	free(raw);
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();

	test_autoenroll(ctx);
	test_types(ctx);
	test_damaged(ctx);
	ae_ctx_free(ctx);
	return tap_done();
}
