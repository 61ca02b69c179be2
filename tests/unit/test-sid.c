/*
 * test-sid.c - SID parsing, formatting, comparison and tokens.
 */
#include "config.h"

#include "sid.h"
#include "tap.h"

#include <stdint.h>
#include <string.h>

#define DOM "S-1-5-21-1047456448-2337630968-2720937775"

/* Domain Users of the fixture domain, as it appears inside a real
 * descriptor (the User template's second ACE). */
static const uint8_t du_bytes[] = {
	0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
	0x15, 0x00, 0x00, 0x00, 0xc0, 0xea, 0x6e, 0x3e,
	0xf8, 0x6a, 0x55, 0x8b, 0x2f, 0x37, 0x2e, 0xa2,
	0x01, 0x02, 0x00, 0x00,
};

static void
test_roundtrip(const char *in, const char *want)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_sid sid;
	char buf[AE_SID_STRLEN];
	ae_err err = ae_sid_from_string(ctx, in, &sid);

	tap_ok(err == AE_OK, "parse %s", in);
	tap_is_str(ae_sid_to_string(&sid, buf, sizeof(buf)), want, "format %s", in);
	ae_ctx_free(ctx);
}

static void
test_bad_string(const char *in)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_sid sid;
	ae_err err = ae_sid_from_string(ctx, in, &sid);

	tap_ok(err == AE_ERR_INVALID, "reject \"%s\": %s", in, ae_get_message(ctx));
	tap_is_int(sid.count, 0, "output cleared after rejecting \"%s\"", in);
	ae_ctx_free(ctx);
}

static void
test_bytes(void)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_sid sid, want;
	size_t used = 99;
	char buf[AE_SID_STRLEN];
	uint8_t b[sizeof(du_bytes)];
	ae_err err;

	err = ae_sid_from_bytes(ctx, du_bytes, sizeof(du_bytes), &sid, &used);
	tap_ok(err == AE_OK, "binary Domain Users SID parses");
	tap_is_int(used, 28, "it uses 28 bytes");
	tap_is_str(ae_sid_to_string(&sid, buf, sizeof(buf)), DOM "-513", "and reads as -513");
	ae_sid_from_string(NULL, DOM "-513", &want);
	tap_ok(ae_sid_equal(&sid, &want), "binary and string forms compare equal");

	/* Trailing bytes are left for the caller (an ACE may be padded). */
	{
		uint8_t longer[sizeof(du_bytes) + 4];
		memcpy(longer, du_bytes, sizeof(du_bytes));
		memset(longer + sizeof(du_bytes), 0xee, 4);
		err = ae_sid_from_bytes(ctx, longer, sizeof(longer), &sid, &used);
		tap_ok(err == AE_OK && used == 28, "trailing bytes are not consumed");
	}

	/* Every truncation fails cleanly. */
	{
		int bad = 0;
		for (size_t n = 0; n < sizeof(du_bytes); n++) {
			used = 99;
			if (ae_sid_from_bytes(ctx, du_bytes, n, &sid, &used) != AE_ERR_INVALID ||
			    used != 0)
				bad++;
		}
		tap_is_int(bad, 0, "all %zu truncations of a SID are rejected", sizeof(du_bytes));
	}
	err = ae_sid_from_bytes(ctx, du_bytes, 11, &sid, NULL);
	tap_ok(strstr(ae_get_message(ctx), "needs 28 bytes, 11 available") != NULL,
	       "truncation message: %s", ae_get_message(ctx));

	memcpy(b, du_bytes, sizeof(b));
	b[0] = 2;
	err = ae_sid_from_bytes(ctx, b, sizeof(b), &sid, NULL);
	tap_ok(err == AE_ERR_INVALID && strstr(ae_get_message(ctx), "revision") != NULL,
	       "revision 2 rejected: %s", ae_get_message(ctx));

	memcpy(b, du_bytes, sizeof(b));
	b[1] = 16;
	err = ae_sid_from_bytes(ctx, b, sizeof(b), &sid, NULL);
	tap_ok(err == AE_ERR_INVALID && strstr(ae_get_message(ctx), "16 sub-authorities") != NULL,
	       "16 sub-authorities rejected: %s", ae_get_message(ctx));

	{
		/* 15 sub-authorities is the legal maximum. */
		uint8_t max[8 + 15 * 4];
		memset(max, 0, sizeof(max));
		max[0] = 1;
		max[1] = 15;
		max[7] = 5;
		max[8 + 14 * 4] = 7;
		err = ae_sid_from_bytes(ctx, max, sizeof(max), &sid, &used);
		tap_ok(err == AE_OK && sid.count == 15 && sid.sub[14] == 7 && used == sizeof(max),
		       "15 sub-authorities accepted");
	}
	{
		/* A 48-bit authority prints in hex (MS-DTYP 2.4.2.1). */
		const uint8_t big[] = { 1, 1, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 1, 0, 0, 0 };
		err = ae_sid_from_bytes(ctx, big, sizeof(big), &sid, NULL);
		tap_ok(err == AE_OK && sid.authority == 0x123456789abcull, "48-bit authority read big-endian");
		tap_is_str(ae_sid_to_string(&sid, buf, sizeof(buf)), "S-1-0x123456789ABC-1",
		           "and printed in hex");
	}
	tap_ok(ae_sid_from_bytes(ctx, NULL, 0, &sid, NULL) == AE_ERR_INVALID, "NULL data rejected");
	ae_ctx_free(ctx);
}

static void
test_compose(void)
{
	ae_sid user, dom, du, want;
	char buf[AE_SID_STRLEN];

	ae_sid_from_string(NULL, DOM "-1105", &user);
	tap_ok(ae_sid_domain_of(&user, &dom), "domain of an account SID");
	tap_is_str(ae_sid_to_string(&dom, buf, sizeof(buf)), DOM, "is the domain SID");
	tap_ok(ae_sid_compose(&dom, 513, &du), "compose -513");
	ae_sid_from_string(NULL, DOM "-513", &want);
	tap_ok(ae_sid_equal(&du, &want), "composed Domain Users equals the parsed one");
	tap_ok(!ae_sid_equal(&du, &user), "different RIDs differ");
	ae_sid_from_string(NULL, DOM, &want);
	tap_ok(!ae_sid_equal(&du, &want), "different counts differ");

	{
		ae_sid full, out, empty;
		ae_sid_from_string(NULL, "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15", &full);
		tap_is_int(full.count, 15, "15 sub-authorities from a string");
		tap_ok(!ae_sid_compose(&full, 1, &out), "cannot append a 16th");
		ae_sid_from_string(NULL, "S-1-5", &empty);
		tap_ok(!ae_sid_domain_of(&empty, &out), "no domain of a SID without sub-authorities");
	}
	/* Small buffers truncate instead of overflowing. */
	{
		char small[8];
		memset(small, 'x', sizeof(small));
		ae_sid_to_string(&user, small, sizeof(small));
		tap_ok(memchr(small, '\0', sizeof(small)) != NULL, "formatting into 8 bytes stays terminated");
	}
}

static void
test_token(void)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_token tok;
	ae_sid s;

	ae_token_init(&tok);
	tap_ok(ae_token_add_wellknown(ctx, &tok) == AE_OK, "well-known SIDs added");
	tap_is_int(tok.count, 3, "three of them");
	ae_sid_from_string(NULL, "S-1-5-11", &s);
	tap_ok(ae_token_has(&tok, &s), "token has Authenticated Users");
	ae_sid_from_string(NULL, "S-1-5-9", &s);
	tap_ok(!ae_token_has(&tok, &s), "token lacks Enterprise Domain Controllers");
	tap_ok(ae_token_add_string(ctx, &tok, "S-1-1-0") == AE_OK && tok.count == 3,
	       "adding a SID twice keeps one copy");
	for (int i = 0; i < 100; i++) {
		char buf[64];
		snprintf(buf, sizeof(buf), DOM "-%d", 2000 + i);
		ae_token_add_string(ctx, &tok, buf);
	}
	tap_is_int(tok.count, 103, "token grows past its first allocation");
	{
		/* Lookups go through the sorted index; the SIDs keep the order
		 * they were added in (policy --json lists them so). */
		char buf[64];
		bool all = true, order = true;
		for (int i = 0; i < 100; i++) {
			snprintf(buf, sizeof(buf), DOM "-%d", 2000 + i);
			ae_sid_from_string(ctx, buf, &s);
			all = all && ae_token_has(&tok, &s);
			order = order && ae_sid_equal(&tok.sids[3 + i], &s);
		}
		tap_ok(all, "every added SID is found");
		tap_ok(order, "the SIDs stay in the order they were added");
		ae_sid_from_string(ctx, DOM "-1999", &s);
		tap_ok(!ae_token_has(&tok, &s), "a SID between added ones is not found");
		ae_sid_from_string(ctx, DOM "-2050", &s);
		tap_ok(ae_token_add(ctx, &tok, &s) == AE_OK && tok.count == 103, "adding one again changes nothing");
	}
	{
		ae_err err = ae_token_add_string(ctx, &tok, "S-1-5-x");
		tap_ok(err == AE_ERR_INVALID && tok.count == 103,
		       "bad string refused: %s", ae_get_message(ctx));
	}
	ae_token_clear(&tok);
	tap_is_int(tok.count, 0, "cleared token is empty");
	ae_token_clear(&tok);
	ae_ctx_free(ctx);
}

int
main(void)
{
	test_roundtrip("S-1-1-0", "S-1-1-0");
	test_roundtrip("s-1-5-11", "S-1-5-11");
	test_roundtrip(DOM "-513", DOM "-513");
	test_roundtrip("S-1-5-21-4294967295", "S-1-5-21-4294967295");
	test_roundtrip("S-1-0x123456789ABC-1", "S-1-0x123456789ABC-1");
	test_roundtrip("S-1-0x000000000005-18", "S-1-5-18");
	test_roundtrip("S-1-5", "S-1-5");

	test_bad_string("");
	test_bad_string("S-1");
	test_bad_string("S-2-5-11");
	test_bad_string("S-1-5-");
	test_bad_string("S-1-5--11");
	test_bad_string("S-1-5-11-");
	test_bad_string("S-1-5-4294967296");
	test_bad_string("S-1-281474976710656-1");
	test_bad_string("S-1-5-011");
	test_bad_string("S-1-5-11 ");
	test_bad_string("S-1-5-+11");
	test_bad_string("S-1-0x1234567890ABC-1");
	test_bad_string("S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16");

	test_bytes();
	test_compose();
	test_token();
	return tap_done();
}
