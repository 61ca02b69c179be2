/*
 * test-rpc.c - DCE/RPC PDUs, SPNEGO tokens, endpoint-mapper towers, and
 * sealed fragmented calls over a socketpair with a stand-in sealer (the
 * Kerberos legs need a KDC: the lab tests cover them).
 */
#include "config.h"

#include "rpc.h"
#include "spnego.h"
#include "hresult.h"
#include "tap.h"

#include <openssl/asn1.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* --- a stand-in sealer: XOR 0x5c, 16-byte token with a checksum --- */

static size_t
fake_sig(void *data, size_t len)
{
	(void)data;
	(void)len;
	return 16;
}

static uint32_t
sum(const uint8_t *p, size_t len)
{
	uint32_t s = 0x1234;
	for (size_t i = 0; i < len; i++)
		s = s * 31 + p[i];
	return s;
}

static ae_err
fake_seal(ae_ctx *ctx, void *data, uint8_t *buf, size_t len, uint8_t *token, size_t tlen)
{
	uint32_t s = sum(buf, len);
	(void)ctx;
	(void)data;
	if (tlen != 16)
		return AE_ERR_INTERNAL;
	memset(token, 0xa5, 8);
	memcpy(token + 8, &s, 4);
	memcpy(token + 12, &(uint32_t){ (uint32_t)len }, 4);
	for (size_t i = 0; i < len; i++)
		buf[i] ^= 0x5c;
	return AE_OK;
}

static ae_err
fake_unseal(ae_ctx *ctx, void *data, uint8_t *buf, size_t len, const uint8_t *token, size_t tlen)
{
	uint32_t s, l;
	(void)data;
	if (tlen != 16)
		return ae_set_message(ctx, AE_ERR_KERBEROS, "bad token size %zu", tlen);
	for (size_t i = 0; i < len; i++)
		buf[i] ^= 0x5c;
	memcpy(&s, token + 8, 4);
	memcpy(&l, token + 12, 4);
	if (l != len || s != sum(buf, len))
		return ae_set_message(ctx, AE_ERR_KERBEROS, "checksum mismatch");
	return AE_OK;
}

static const ae_rpc_sealer fake = { fake_sig, fake_seal, fake_unseal, NULL, 9, 6, 1 };

static const ae_rpc_iface test_iface = {
	{ 0x20, 0x60, 0xae, 0x91, 0x3c, 0x9e, 0xcf, 0x11, 0x8d, 0x7c, 0x00, 0xaa, 0x00, 0xc0, 0x91, 0xbe },
	0, 0, "ICertPassage"
};

static void
put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void
put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }

/* --- PDU header --- */

static void
test_pdu_parse(ae_ctx *ctx)
{
	uint8_t p[40] = { 5, 0, 2, 3, 0x10, 0, 0, 0 };
	ae_rpc_pdu pdu;

	put16(p + 8, 40);
	put32(p + 12, 7);
	tap_is_int(ae_rpc_pdu_parse(ctx, p, 40, &pdu), AE_OK, "pdu: plain response parses");
	tap_ok(pdu.ptype == 2 && pdu.flags == 3 && pdu.call_id == 7 && pdu.body_len == 24 && pdu.auth == NULL,
	       "pdu: fields");
	tap_ok(ae_rpc_pdu_parse(ctx, p, 39, &pdu) == AE_ERR_INVALID, "pdu: frag_length mismatch rejected");
	p[0] = 4;
	tap_ok(ae_rpc_pdu_parse(ctx, p, 40, &pdu) == AE_ERR_INVALID, "pdu: version 4 rejected");
	p[0] = 5;
	p[4] = 0x00;
	tap_ok(ae_rpc_pdu_parse(ctx, p, 40, &pdu) == AE_ERR_UNSUPPORTED, "pdu: big-endian drep rejected");
	p[4] = 0x10;
	put16(p + 10, 17); /* 16 + 8 + 17 > 40 */
	tap_ok(ae_rpc_pdu_parse(ctx, p, 40, &pdu) == AE_ERR_INVALID, "pdu: auth_length beyond the PDU rejected");
	put16(p + 10, 8);
	p[24] = 9; p[25] = 6; p[26] = 4; put32(p + 28, 1);
	tap_is_int(ae_rpc_pdu_parse(ctx, p, 40, &pdu), AE_OK, "pdu: with sec_trailer");
	tap_ok(pdu.body_len == 8 && pdu.auth_type == 9 && pdu.auth_level == 6 && pdu.auth_pad == 4 &&
	       pdu.auth_ctx_id == 1 && pdu.auth == p + 32, "pdu: sec_trailer at frag_length - auth_length - 8");
	tap_ok(ae_rpc_pdu_parse(ctx, p, 10, &pdu) == AE_ERR_INVALID, "pdu: short header rejected");
}

/* --- bind / bind_ack --- */

static void
test_bind(ae_ctx *ctx)
{
	ae_buf b;
	ae_rpc_pdu pdu;
	const uint8_t tok[5] = { 0x60, 3, 1, 2, 3 };
	static const uint8_t expect_head[] = {
		5, 0, 11, 3, 0x10, 0, 0, 0, 72 + 8 + 5, 0, 5, 0, 1, 0, 0, 0,
		0xd0, 0x16, 0xd0, 0x16, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0,
	};

	ae_buf_init(&b);
	ae_rpc_build_bind(&b, AE_RPC_BIND, 1, 5840, 0, 0, &test_iface, 9, 6, 1, tok, sizeof(tok));
	tap_ok(!b.failed && b.len == 85, "bind: 72 + 8 + token bytes (got %zu)", b.len);
	tap_ok(memcmp(b.data, expect_head, sizeof(expect_head)) == 0, "bind: header, frag sizes 5840, one context");
	tap_ok(memcmp(b.data + 32, test_iface.uuid, 16) == 0 && get16((uint8_t *)b.data + 48) == 0 &&
	       memcmp(b.data + 52, ae_rpc_ndr_syntax.uuid, 16) == 0 && get16((uint8_t *)b.data + 68) == 2,
	       "bind: abstract syntax and NDR 2.0");
	tap_ok(memcmp(b.data + 72, "\x09\x06\x00\x00\x01\x00\x00\x00", 8) == 0 && memcmp(b.data + 80, tok, 5) == 0,
	       "bind: sec_trailer 9/6/pad 0/ctx 1 then the token");
	tap_ok((((uint8_t *)b.data)[3] & 0x04) == 0, "bind: no PFC_SUPPORT_HEADER_SIGN");
	tap_is_int(ae_rpc_pdu_parse(ctx, (uint8_t *)b.data, b.len, &pdu), AE_OK, "bind: parses back");
	tap_ok(pdu.ptype == AE_RPC_BIND && pdu.auth_len == 5 && pdu.body_len == 56, "bind: parsed fields");
	ae_buf_clear(&b);

	ae_rpc_build_bind(&b, AE_RPC_BIND, 1, 5840, 0, 0, &ae_rpc_epm_iface, 0, 0, 0, NULL, 0);
	tap_ok(b.len == 72 && get16((uint8_t *)b.data + 10) == 0, "bind (epm): 72 bytes, no auth");
	ae_buf_clear(&b);
}

/* A bind_ack: sec_addr "49667", one accepted NDR result, optional auth. */
static size_t
make_bind_ack(uint8_t *p, uint8_t ptype, const char *sec_addr, const uint8_t *auth, size_t auth_len)
{
	size_t off = 16, sl = sec_addr != NULL ? strlen(sec_addr) + 1 : 0;

	memset(p, 0, 512);
	p[0] = 5; p[2] = ptype; p[3] = 3; p[4] = 0x10;
	put32(p + 12, 1);
	put16(p + off, 4280); put16(p + off + 2, 4280); put32(p + off + 4, 0x1234);
	off += 8;
	put16(p + off, (uint16_t)sl);
	off += 2;
	if (sl)
		memcpy(p + off, sec_addr, sl);
	off += sl;
	off = (off + 3) & ~(size_t)3;
	p[off] = 1;
	off += 4;
	put16(p + off, 0); put16(p + off + 2, 0);
	memcpy(p + off + 4, ae_rpc_ndr_syntax.uuid, 16);
	put16(p + off + 20, 2);
	off += 24;
	if (auth != NULL) {
		p[off] = 9; p[off + 1] = 6; put32(p + off + 4, 1);
		off += 8;
		memcpy(p + off, auth, auth_len);
		off += auth_len;
		put16(p + 10, (uint16_t)auth_len);
	}
	put16(p + 8, (uint16_t)off);
	return off;
}

static void
test_bind_ack(ae_ctx *ctx)
{
	uint8_t p[512];
	size_t n;
	ae_rpc_pdu pdu;
	ae_rpc_bind_ack ack;
	const uint8_t auth[4] = { 0xa1, 0x02, 0x30, 0x00 };
	bool all = true;

	n = make_bind_ack(p, AE_RPC_BIND_ACK, "49667", auth, sizeof(auth));
	tap_ok(ae_rpc_pdu_parse(ctx, p, n, &pdu) == AE_OK && ae_rpc_parse_bind_ack(ctx, &pdu, &ack) == AE_OK,
	       "bind_ack: parses");
	tap_ok(ack.max_xmit == 4280 && ack.max_recv == 4280 && ack.assoc_group == 0x1234 && ack.result == 0 &&
	       ack.auth_len == 4 && memcmp(ack.auth, auth, 4) == 0, "bind_ack: fields and auth_value");
	for (size_t cut = 16; cut < n; cut++) {
		uint8_t q[512];
		memcpy(q, p, cut);
		put16(q + 8, (uint16_t)cut);
		if (ae_rpc_pdu_parse(ctx, q, cut, &pdu) == AE_OK && ae_rpc_parse_bind_ack(ctx, &pdu, &ack) == AE_OK &&
		    cut < n - 4 - 8) {
			/* cutting into the token shifts the trailer: must fail
			 * somewhere before the auth value */
			all = false;
			tap_diag("truncation at %zu accepted", cut);
		}
	}
	tap_ok(all, "bind_ack: truncations rejected");

	n = make_bind_ack(p, AE_RPC_ALTER_CONTEXT_RESP, NULL, auth, sizeof(auth));
	tap_ok(ae_rpc_pdu_parse(ctx, p, n, &pdu) == AE_OK && ae_rpc_parse_bind_ack(ctx, &pdu, &ack) == AE_OK &&
	       ack.auth_len == 4, "alter_context_resp: empty sec_addr, padded to 4");

	n = make_bind_ack(p, AE_RPC_BIND_ACK, "135", NULL, 0);
	p[36 - 0] = 2; /* result list starts at 16+8+2+4=30 -> 32; result at 36 */
	p[38] = 1;
	tap_ok(ae_rpc_pdu_parse(ctx, p, n, &pdu) == AE_OK && ae_rpc_parse_bind_ack(ctx, &pdu, &ack) == AE_ERR_UNSUPPORTED &&
	       strstr(ae_get_message(ctx), "abstract_syntax_not_supported") != NULL,
	       "bind_ack: context rejection named (%s)", ae_get_message(ctx));

	memset(p, 0, 32);
	p[0] = 5; p[2] = AE_RPC_BIND_NAK; p[3] = 3; p[4] = 0x10; put16(p + 8, 24); put16(p + 16, 8);
	tap_ok(ae_rpc_pdu_parse(ctx, p, 24, &pdu) == AE_OK && ae_rpc_parse_bind_ack(ctx, &pdu, &ack) == AE_ERR_DENIED &&
	       strstr(ae_get_message(ctx), "authentication_type_not_recognized") != NULL,
	       "bind_nak: reason named (%s)", ae_get_message(ctx));
	tap_is_str(ae_rpc_bind_nak_reason(9), "invalid_checksum", "bind_nak: reason 9");
	tap_is_str(ae_rpc_bind_nak_reason(77), "unknown reason", "bind_nak: unknown reason");
}

/* --- SPNEGO --- */

/* Walks one DER TLV with OpenSSL: returns the content pointer, or NULL. */
static const unsigned char *
asn1_enter(const unsigned char **p, long max, int want_tag, int want_class, long *len)
{
	int tag, xclass;
	const unsigned char *start = *p;
	int r = ASN1_get_object(p, len, &tag, &xclass, max);
	if (r & 0x80 || tag != want_tag || xclass != want_class)
		return NULL;
	(void)start;
	return *p;
}

static void
test_spnego(ae_ctx *ctx)
{
	uint8_t tok[2000], *out = NULL;
	size_t out_len = 0;
	const unsigned char *p, *q;
	long len, l2;
	bool ok;

	for (size_t i = 0; i < sizeof(tok); i++)
		tok[i] = (uint8_t)i;
	tok[0] = 0x6e;
	tap_is_int(ae_spnego_init_token(ctx, tok, sizeof(tok), &out, &out_len), AE_OK, "spnego: NegTokenInit encodes");
	p = out;
	ok = asn1_enter(&p, (long)out_len, 0, V_ASN1_APPLICATION, &len) != NULL && p + len == out + out_len;
	ok = ok && p[0] == 0x06 && p[1] == 6 && memcmp(p + 2, "\x2b\x06\x01\x05\x05\x02", 6) == 0;
	p += 8;
	ok = ok && asn1_enter(&p, len - 8, 0, V_ASN1_CONTEXT_SPECIFIC, &len) != NULL;
	ok = ok && asn1_enter(&p, len, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &len) != NULL;
	q = p;
	ok = ok && asn1_enter(&q, len, 0, V_ASN1_CONTEXT_SPECIFIC, &l2) != NULL && l2 == 24;
	ok = ok && memcmp(q, "\x30\x16\x06\x09\x2a\x86\x48\x82\xf7\x12\x01\x02\x02\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02", 24) == 0;
	q += l2;
	ok = ok && asn1_enter(&q, len - (q - p), 2, V_ASN1_CONTEXT_SPECIFIC, &l2) != NULL;
	ok = ok && asn1_enter(&q, l2, V_ASN1_OCTET_STRING, V_ASN1_UNIVERSAL, &l2) != NULL && l2 == sizeof(tok) &&
	     memcmp(q, tok, sizeof(tok)) == 0 && q + l2 == out + out_len;
	tap_ok(ok, "spnego: NegTokenInit = [APP 0]{SPNEGO OID, [0]{SEQ{[0] {MS-KRB5, KRB5}, [2] AP-REQ}}}");
	free(out);

	/* small token: exact bytes */
	tap_is_int(ae_spnego_init_token(ctx, (const uint8_t *)"\x6e\x00", 2, &out, &out_len), AE_OK, "spnego: small NegTokenInit");
	{
		static const uint8_t want[] = {
			0x60, 0x2c, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02,
			0xa0, 0x22, 0x30, 0x20, 0xa0, 0x18, 0x30, 0x16,
			0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02,
			0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02,
			0xa2, 0x04, 0x04, 0x02, 0x6e, 0x00,
		};
		tap_ok(out_len == sizeof(want) && memcmp(out, want, sizeof(want)) == 0, "spnego: small NegTokenInit bytes");
	}
	free(out);

	tap_is_int(ae_spnego_resp_token(ctx, (const uint8_t *)"\x6f\x01\x02", 3, NULL, 0, &out, &out_len), AE_OK,
	           "spnego: NegTokenResp encodes");
	tap_ok(out_len == 11 && memcmp(out, "\xa1\x09\x30\x07\xa2\x05\x04\x03\x6f\x01\x02", 11) == 0,
	       "spnego: NegTokenResp = [1]{SEQ{[2] OCTET STRING}}");
	free(out);
	tap_is_int(ae_spnego_resp_token(ctx, (const uint8_t *)"\x6f", 1, (const uint8_t *)"\xAA\xBB", 2, &out, &out_len), AE_OK,
	           "spnego: NegTokenResp with MIC encodes");
	tap_ok(out_len == 15 && memcmp(out, "\xa1\x0d\x30\x0b\xa2\x03\x04\x01\x6f\xa3\x04\x04\x02\xaa\xbb", 15) == 0,
	       "spnego: NegTokenResp with [3] mechListMIC");
	free(out);

	/* server answers */
	{
		static const uint8_t resp[] = {
			0xa1, 0x20, 0x30, 0x1e,
			0xa0, 0x03, 0x0a, 0x01, 0x01,
			0xa1, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02,
			0xa2, 0x04, 0x04, 0x02, 0x6f, 0x00,
			0xa3, 0x04, 0x04, 0x02, 0xcc, 0xdd,
		};
		ae_spnego_resp r = { .neg_state = AE_SPNEGO_ABSENT };
		bool trunc_ok = true;
		uint8_t m[sizeof(resp) + 2];

		tap_is_int(ae_spnego_parse_resp(ctx, resp, sizeof(resp), &r), AE_OK, "spnego: NegTokenResp parses");
		tap_ok(r.neg_state == AE_SPNEGO_ACCEPT_INCOMPLETE && r.mech == AE_SPNEGO_MECH_MS_KRB5 &&
		       r.token_len == 2 && memcmp(r.token, resp + 26, 2) == 0 && r.mic_len == 2 &&
		       memcmp(r.mic, resp + 32, 2) == 0,
		       "spnego: negState, supportedMech, responseToken, mechListMIC");
		ae_spnego_resp_clear(&r);
		tap_ok(r.token == NULL && r.mic == NULL && r.neg_state == AE_SPNEGO_ABSENT, "spnego: clear empties");
		for (size_t cut = 0; cut < sizeof(resp); cut++)
			if (ae_spnego_parse_resp(ctx, resp, cut, &r) == AE_OK) {
				trunc_ok = false;
				tap_diag("truncation at %zu accepted", cut);
				ae_spnego_resp_clear(&r);
			}
		tap_ok(trunc_ok, "spnego: every truncation rejected");
		memcpy(m, resp, sizeof(resp));
		m[1] = 0x80;
		tap_ok(ae_spnego_parse_resp(ctx, m, sizeof(resp), &r) == AE_ERR_INVALID, "spnego: indefinite length without EOC rejected");
		m[sizeof(resp)] = m[sizeof(resp) + 1] = 0; /* BER: indefinite [1] closed by an EOC */
		tap_ok(ae_spnego_parse_resp(ctx, m, sizeof(m), &r) == AE_ERR_INVALID && r.token == NULL &&
		       strstr(ae_get_message(ctx), "not DER") != NULL,
		       "spnego: indefinite length (BER) rejected as not DER (%s)", ae_get_message(ctx));
		memcpy(m, resp, sizeof(resp));
		m[1] = 0x85;
		tap_ok(ae_spnego_parse_resp(ctx, m, sizeof(resp), &r) == AE_ERR_INVALID, "spnego: 5-octet length rejected");
		memcpy(m, resp, sizeof(resp));
		m[1] = 0x21; /* overlong: one byte more than there is */
		tap_ok(ae_spnego_parse_resp(ctx, m, sizeof(resp), &r) == AE_ERR_INVALID, "spnego: overlong outer length rejected");
		memcpy(m, resp, sizeof(resp));
		m[4] = 0xa4;
		tap_ok(ae_spnego_parse_resp(ctx, m, sizeof(resp), &r) == AE_ERR_INVALID, "spnego: unknown field rejected");
		memcpy(m, resp, sizeof(resp));
		m[8] = 7;
		tap_ok(ae_spnego_parse_resp(ctx, m, sizeof(resp), &r) == AE_ERR_INVALID &&
		       strstr(ae_get_message(ctx), "negState") != NULL, "spnego: negState 7 rejected");
		memcpy(m, resp, sizeof(resp));
		m[8] = 0xff; /* -1 */
		tap_ok(ae_spnego_parse_resp(ctx, m, sizeof(resp), &r) == AE_ERR_INVALID, "spnego: negState -1 rejected");
		memcpy(m, resp, sizeof(resp));
		m[26 - 2] = 0x05; /* OCTET STRING length overruns its [2] */
		tap_ok(ae_spnego_parse_resp(ctx, m, sizeof(resp), &r) == AE_ERR_INVALID, "spnego: inner overrun rejected");
		tap_ok(ae_spnego_parse_resp(ctx, (const uint8_t *)"\xa1\x05\x30\x03\xa0\x01\x0a", 7, &r) == AE_ERR_INVALID,
		       "spnego: negState without value rejected");
		tap_ok(ae_spnego_parse_resp(ctx, (const uint8_t *)"\xa1\x07\x30\x05\xa0\x03\x0a\x01\x02", 9, &r) == AE_OK &&
		       r.neg_state == AE_SPNEGO_REJECT && r.token == NULL && r.mic == NULL && r.mech == AE_SPNEGO_MECH_NONE,
		       "spnego: reject parses (negState alone)");
		tap_ok(ae_spnego_parse_resp(ctx, (const uint8_t *)"\xa1\x07\x30\x05\xa0\x03\x0a\x01\x00\x00", 10, &r) == AE_ERR_INVALID &&
		       strstr(ae_get_message(ctx), "bytes after") != NULL, "spnego: trailing byte rejected");
		tap_ok(ae_spnego_parse_resp(ctx, (const uint8_t *)"\xa1\x08\x30\x06\xa0\x04\x0a\x02\x00\x00", 10, &r) == AE_ERR_INVALID,
		       "spnego: padded negState rejected");
		tap_ok(ae_spnego_parse_resp(ctx, (const uint8_t *)"\xa1\x81\x07\x30\x05\xa0\x03\x0a\x01\x00", 10, &r) == AE_ERR_INVALID &&
		       strstr(ae_get_message(ctx), "not DER") != NULL, "spnego: padded length (81 07) rejected as not DER");
		tap_ok(ae_spnego_parse_resp(ctx, (const uint8_t *)"\xa1\x0a\x30\x08\xa2\x02\x04\x00\xa0\x02\x0a\x00", 12, &r) == AE_ERR_INVALID,
		       "spnego: fields out of order rejected");
		tap_ok(ae_spnego_parse_resp(ctx, (const uint8_t *)"\x60\x02\x06\x00", 4, &r) == AE_ERR_INVALID &&
		       strstr(ae_get_message(ctx), "NegTokenInit") != NULL, "spnego: GSS-framed token instead of Resp named");
		tap_ok(ae_spnego_parse_resp(ctx, (const uint8_t *)"\xa0\x0e\x30\x0c\xa0\x0a\x30\x08\x06\x06\x2a\x86\x48\x86\xf7\x12", 16, &r) == AE_ERR_INVALID &&
		       strstr(ae_get_message(ctx), "NegTokenInit") != NULL, "spnego: bare NegTokenInit instead of Resp named");
		tap_ok(ae_spnego_parse_resp(ctx, (const uint8_t *)"\xa1\x09\x30\x07\xa1\x05\x06\x03\x2a\x03\x04", 11, &r) == AE_OK &&
		       r.mech == AE_SPNEGO_MECH_OTHER, "spnego: foreign mechanism flagged");
		tap_ok(ae_spnego_parse_resp(ctx, (const uint8_t *)"\xa1\x06\x30\x04\xa2\x02\x04\x00", 8, &r) == AE_OK &&
		       r.token != NULL && r.token_len == 0 && r.neg_state == AE_SPNEGO_ABSENT,
		       "spnego: empty responseToken is present, negState absent");
		ae_spnego_resp_clear(&r);
	}
	/* As Windows and Samba end the exchange: accept-completed, the mechanism
	 * (krb5 or Windows' MS-krb5 OID), the AP-REP (long-form lengths) and a
	 * 28-byte RFC 4121 MIC token. */
	for (int ms = 0; ms < 2; ms++) {
		uint8_t t[200];
		size_t n = 0;
		ae_spnego_resp r = { .neg_state = AE_SPNEGO_ABSENT };
		static const uint8_t head[] = { 0xa1, 0x81, 0xc0, 0x30, 0x81, 0xbd,
		                                0xa0, 0x03, 0x0a, 0x01, 0x00,
		                                0xa1, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02,
		                                0xa2, 0x81, 0x88, 0x04, 0x81, 0x85, 0x6f, 0x81, 0x82 };

		memcpy(t, head, sizeof(head));
		if (ms)
			t[18] = 0x82; /* 1.2.840.48018.1.2.2 */
		n = sizeof(head);
		for (int i = 0; i < 0x82; i++)
			t[n++] = (uint8_t)(0x30 + i);
		memcpy(t + n, "\xa3\x1e\x04\x1c\x04\x04\x05\xff\xff\xff\xff\xff", 12);
		n += 12;
		for (int i = 0; i < 20; i++)
			t[n++] = (uint8_t)(0xe0 + i);
		tap_ok(n == 3 + 0xc0, "spnego: Windows-style token is %zu bytes", n);
		tap_ok(ae_spnego_parse_resp(ctx, t, n, &r) == AE_OK && r.neg_state == AE_SPNEGO_ACCEPT_COMPLETED &&
		       r.mech == (ms ? AE_SPNEGO_MECH_MS_KRB5 : AE_SPNEGO_MECH_KRB5) &&
		       r.token_len == 0x85 && memcmp(r.token, t + 30, 0x85) == 0 &&
		       r.mic_len == 28 && memcmp(r.mic, t + n - 28, 28) == 0,
		       "spnego: accept-completed with %s, AP-REP and mechListMIC", ms ? "MS-KRB5" : "KRB5");
		ae_spnego_resp_clear(&r);
		/* what we send back round-trips through the parser's grammar */
		tap_is_int(ae_spnego_resp_token(ctx, t + 30, 0x85, t + n - 28, 28, &out, &out_len), AE_OK,
		           "spnego: our NegTokenResp with that AP-REP and MIC");
		tap_ok(ae_spnego_parse_resp(ctx, out, out_len, &r) == AE_OK && r.neg_state == AE_SPNEGO_ABSENT &&
		       r.mech == AE_SPNEGO_MECH_NONE && r.token_len == 0x85 && memcmp(r.token, t + 30, 0x85) == 0 &&
		       r.mic_len == 28 && out_len == n - 18,
		       "spnego: it parses back to the same token and MIC, without negState and mech");
		ae_spnego_resp_clear(&r);
		free(out);
		out = NULL;
	}
}

/* --- fragments --- */

static void
test_fragments(ae_ctx *ctx)
{
	uint8_t stub[1000];
	ae_buf out, got;
	unsigned nfrags = 0, seen = 0;
	ae_rpc *srv = ae_rpc_new_fd(-1, "client", 0, 5, &fake);
	size_t off = 0;
	bool sizes_ok = true, align_ok = true, hint_ok = true, last = false;
	size_t remaining = sizeof(stub);

	for (size_t i = 0; i < sizeof(stub); i++)
		stub[i] = (uint8_t)(i * 7);
	ae_buf_init(&out);
	ae_buf_init(&got);
	tap_is_int(ae_rpc_build_frags(ctx, &out, AE_RPC_REQUEST, 5, 0, 0, stub, sizeof(stub), 256, &fake, &nfrags),
	           AE_OK, "frags: 1000-byte stub at max 256");
	/* room = (256 - 24 - 8 - 16) & ~15 = 208: 5 fragments */
	tap_is_int(nfrags, 5, "frags: 5 fragments of at most 208 stub bytes");
	while (off < out.len && !last) {
		uint8_t *p = (uint8_t *)out.data + off;
		uint16_t fl = get16(p + 8), al = get16(p + 10);
		size_t stub_part = (size_t)fl - 24 - 8 - al;
		uint8_t pad = p[fl - al - 8 + 2];

		if (fl > 256)
			sizes_ok = false;
		if ((stub_part % 16) != 0 || al != 16)
			align_ok = false;
		if (get32(p + 16) != remaining || get16(p + 22) != 0)
			hint_ok = false;
		remaining -= stub_part - pad;
		if (ae_rpc_take_fragment(ctx, srv, p, fl, AE_RPC_REQUEST, 5, seen == 0, &got, &last) != AE_OK) {
			tap_diag("fragment %u: %s", seen, ae_get_message(ctx));
			break;
		}
		off += fl;
		seen++;
	}
	tap_ok(sizes_ok, "frags: every PDU within max_frag");
	tap_ok(align_ok, "frags: stub+pad a multiple of 16, auth_length 16");
	tap_ok(hint_ok, "frags: alloc_hint = remaining bytes, opnum 0");
	tap_ok(last && seen == 5 && off == out.len, "frags: LAST on the fifth");
	tap_ok(got.len == sizeof(stub) && memcmp(got.data, stub, sizeof(stub)) == 0, "frags: reassembled stub equals");
	ae_buf_clear(&got);

	/* tampered fragment: unseal fails */
	{
		uint8_t *p = (uint8_t *)out.data;
		uint16_t fl = get16(p + 8);
		p[30] ^= 1;
		tap_ok(ae_rpc_take_fragment(ctx, srv, p, fl, AE_RPC_REQUEST, 5, true, &got, &last) == AE_ERR_KERBEROS,
		       "frags: tampered fragment rejected (%s)", ae_get_message(ctx));
	}
	ae_buf_clear(&out);
	ae_buf_clear(&got);

	/* a single response: checks on call id, flags, trailer */
	tap_is_int(ae_rpc_build_frags(ctx, &out, AE_RPC_RESPONSE, 9, 0, 0, stub, 20, 5840, &fake, &nfrags), AE_OK,
	           "frags: one response");
	{
		uint8_t c[200];
		size_t n = out.len;
		memcpy(c, out.data, n);
		tap_ok(n == 24 + 32 + 8 + 16 && c[3] == 3 && c[n - 16 - 8 + 2] == 12, "frags: 20 bytes + 12 pad, FIRST|LAST");
		tap_ok(ae_rpc_take_fragment(ctx, srv, c, n, AE_RPC_RESPONSE, 10, true, &got, &last) == AE_ERR_INVALID,
		       "response: wrong call_id rejected");
		memcpy(c, out.data, n);
		tap_ok(ae_rpc_take_fragment(ctx, srv, c, n, AE_RPC_RESPONSE, 9, false, &got, &last) == AE_ERR_INVALID,
		       "response: FIRST_FRAG on a later fragment rejected");
		memcpy(c, out.data, n);
		c[n - 16 - 8 + 2] = 60;
		tap_ok(ae_rpc_take_fragment(ctx, srv, c, n, AE_RPC_RESPONSE, 9, true, &got, &last) == AE_ERR_INVALID,
		       "response: auth_pad beyond the stub rejected");
		memcpy(c, out.data, n);
		c[n - 16 - 8 + 4] = 2;
		tap_ok(ae_rpc_take_fragment(ctx, srv, c, n, AE_RPC_RESPONSE, 9, true, &got, &last) == AE_ERR_INVALID,
		       "response: other auth_context_id rejected");
		memcpy(c, out.data, n);
		c[20] = 1;
		tap_ok(ae_rpc_take_fragment(ctx, srv, c, n, AE_RPC_RESPONSE, 9, true, &got, &last) == AE_ERR_INVALID,
		       "response: other presentation context rejected");
		memcpy(c, out.data, n);
		tap_ok(ae_rpc_take_fragment(ctx, srv, c, n, AE_RPC_RESPONSE, 9, true, &got, &last) == AE_OK && last &&
		       got.len == 20 && memcmp(got.data, stub, 20) == 0, "response: accepted, padding stripped");
	}
	ae_buf_clear(&out);
	ae_buf_clear(&got);
	/* unsealed response on a sealed connection */
	tap_is_int(ae_rpc_build_frags(ctx, &out, AE_RPC_RESPONSE, 9, 0, 0, stub, 20, 5840, NULL, &nfrags), AE_OK,
	           "frags: unsealed response");
	tap_ok(ae_rpc_take_fragment(ctx, srv, (uint8_t *)out.data, out.len, AE_RPC_RESPONSE, 9, true, &got, &last) == AE_ERR_DENIED,
	       "response: unprotected on a sealed connection rejected");
	ae_buf_clear(&out);
	ae_buf_clear(&got);

	/* a fragment larger than the max_recv_frag offered (5840) */
	{
		uint8_t big[6000] = { 0 };
		tap_is_int(ae_rpc_build_frags(ctx, &out, AE_RPC_RESPONSE, 9, 0, 0, big, sizeof(big), 65000, &fake,
		                              &nfrags), AE_OK, "frags: one oversized response");
		tap_ok(ae_rpc_take_fragment(ctx, srv, (uint8_t *)out.data, out.len, AE_RPC_RESPONSE, 9, true, &got,
		                            &last) == AE_ERR_INVALID &&
		       strstr(ae_get_message(ctx), "larger than the 5840 we accept") != NULL,
		       "response: fragment above max_recv_frag rejected (%s)", ae_get_message(ctx));
		ae_buf_clear(&out);
		ae_buf_clear(&got);
	}

	/* faults */
	{
		uint8_t f[32] = { 5, 0, 3, 3, 0x10, 0, 0, 0, 32, 0, 0, 0, 9, 0, 0, 0 };
		put32(f + 24, 0x1c010002);
		tap_ok(ae_rpc_take_fragment(ctx, srv, f, 32, AE_RPC_RESPONSE, 9, true, &got, &last) == AE_ERR_UNSUPPORTED &&
		       strstr(ae_get_message(ctx), "nca_s_op_rng_error") != NULL && ae_rpc_last_fault(srv) == 0x1c010002,
		       "fault: op_rng_error named (%s)", ae_get_message(ctx));
		put32(f + 24, 5);
		tap_ok(ae_rpc_take_fragment(ctx, srv, f, 32, AE_RPC_RESPONSE, 9, true, &got, &last) == AE_ERR_DENIED &&
		       strstr(ae_get_message(ctx), "ERROR_ACCESS_DENIED") != NULL, "fault: access denied (%s)", ae_get_message(ctx));
		put32(f + 24, 0x1c010003);
		tap_ok(ae_rpc_take_fragment(ctx, srv, f, 32, AE_RPC_RESPONSE, 9, true, &got, &last) == AE_ERR_UNSUPPORTED &&
		       strstr(ae_get_message(ctx), "nca_s_unk_if") != NULL, "fault: unknown interface");
		put16(f + 8, 26);
		tap_ok(ae_rpc_take_fragment(ctx, srv, f, 26, AE_RPC_RESPONSE, 9, true, &got, &last) == AE_ERR_INVALID,
		       "fault: truncated fault rejected");
	}
	ae_buf_clear(&got);
	ae_rpc_free(srv);
}

/* --- a whole call over a socketpair --- */

enum { ANSWER, SILENT, DRIP };

/* HOW: ANSWER at once, stay SILENT, or DRIP the answer a fragment every
 * 0.4 s (each within the timeout, the whole answer not) */
static void
serve(int fd, unsigned answer_frag, int how)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_rpc *srv = ae_rpc_new_fd(fd, "client", 0, 5, &fake);
	ae_buf in, out;
	bool last = false, first = true;
	uint32_t call_id = 0;
	unsigned n;

	ae_buf_init(&in);
	ae_buf_init(&out);
	while (!last) {
		uint8_t *pdu;
		size_t len;
		if (ae_rpc_recv_pdu(ctx, srv, &pdu, &len) != AE_OK)
			_exit(2);
		if (first)
			call_id = get32(pdu + 12);
		if (ae_rpc_take_fragment(ctx, srv, pdu, len, AE_RPC_REQUEST, call_id, first, &in, &last) != AE_OK)
			_exit(3);
		free(pdu);
		first = false;
	}
	if (how == SILENT) {
		sleep(3);
		ae_buf_clear(&in);
		ae_rpc_free(srv);
		ae_ctx_free(ctx);
		_exit(0);
	}
	/* answer: the request reversed */
	for (size_t i = 0; i < in.len / 2; i++) {
		char t = in.data[i];
		in.data[i] = in.data[in.len - 1 - i];
		in.data[in.len - 1 - i] = t;
	}
	if (ae_rpc_build_frags(ctx, &out, AE_RPC_RESPONSE, call_id, 0, 0, (uint8_t *)in.data, in.len,
	                       (uint16_t)answer_frag, &fake, &n) != AE_OK ||
	    (how == ANSWER && ae_rpc_send(ctx, srv, (uint8_t *)out.data, out.len) != AE_OK))
		_exit(4);
	for (size_t off = 0; how == DRIP && off + AE_RPC_HDR_LEN <= out.len; off += get16((uint8_t *)out.data + off + 8)) {
		if (ae_rpc_send(ctx, srv, (uint8_t *)out.data + off, get16((uint8_t *)out.data + off + 8)) != AE_OK)
			_exit(0); /* the client left */
		usleep(400000);
	}
	ae_buf_clear(&in);
	ae_buf_clear(&out);
	ae_rpc_free(srv);
	ae_ctx_free(ctx);
	_exit(0);
}

/* A server process answering HOW over a socketpair; the client's end in
 * *FD.  -1 if it cannot be started. */
static pid_t
spawn_server(int how, int *fd)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		serve(sv[1], 300, how);
	}
	close(sv[1]);
	*fd = sv[0];
	return pid;
}

static void
test_call(ae_ctx *ctx)
{
	int fd = -1, status = 0;
	pid_t pid;
	ae_rpc *rpc;
	uint8_t stub[3000], *resp = NULL;
	size_t resp_len = 0;
	bool rev = true;
	ae_err err;

	for (size_t i = 0; i < sizeof(stub); i++)
		stub[i] = (uint8_t)(i ^ (i >> 8));
	if ((pid = spawn_server(ANSWER, &fd)) < 0)
		return;
	rpc = ae_rpc_new_fd(fd, "ca.test", 49667, 5, &fake);
	ae_rpc_set_max_frag(rpc, 1024);
	err = ae_rpc_call(ctx, rpc, 0, stub, sizeof(stub), &resp, &resp_len);
	tap_is_int(err, AE_OK, "call: sealed, fragmented both ways (%s)", err ? ae_get_message(ctx) : "ok");
	for (size_t i = 0; resp != NULL && i < resp_len; i++)
		if (resp[i] != stub[sizeof(stub) - 1 - i])
			rev = false;
	tap_ok(resp_len == sizeof(stub) && rev, "call: the server's answer reassembled");
	tap_is_int(ae_rpc_round_trips(rpc), 1, "call: one round trip");
	free(resp);
	waitpid(pid, &status, 0);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "call: server saw a valid request (exit %d)",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	ae_rpc_free(rpc);

	/* timeout */
	if ((pid = spawn_server(SILENT, &fd)) < 0)
		return;
	rpc = ae_rpc_new_fd(fd, "ca.test", 49667, 1, &fake);
	err = ae_rpc_call(ctx, rpc, 0, stub, 10, &resp, &resp_len);
	tap_ok(err == AE_ERR_TIMEOUT && strstr(ae_get_message(ctx), "rpc_timeout") != NULL &&
	       strstr(ae_get_message(ctx), "ca.test port 49667") != NULL,
	       "call: silent server times out (%s)", ae_get_message(ctx));
	ae_rpc_free(rpc);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);

	/* a server that drips the answer: rpc_timeout bounds the whole call */
	if ((pid = spawn_server(DRIP, &fd)) < 0)
		return;
	rpc = ae_rpc_new_fd(fd, "ca.test", 49667, 1, &fake);
	err = ae_rpc_call(ctx, rpc, 0, stub, sizeof(stub), &resp, &resp_len);
	tap_ok(err == AE_ERR_TIMEOUT && strstr(ae_get_message(ctx), "rpc_timeout") != NULL,
	       "call: an answer dripped a fragment at a time stops at rpc_timeout (%s)",
	       err ? ae_get_message(ctx) : "answered");
	free(resp);
	resp = NULL;
	ae_rpc_free(rpc);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
}

/* --- endpoint mapper --- */

static void
test_epm(ae_ctx *ctx)
{
	uint8_t *stub = NULL, *tower = NULL;
	size_t len = 0, tlen = 0;
	uint16_t port = 0;
	uint32_t status = 0;

	tap_is_int(ae_rpc_epm_tower(ctx, &test_iface, &tower, &tlen), AE_OK, "epm: tower");
	tap_is_int(tlen, 75, "epm: 5-floor tower is 75 bytes");
	tap_ok(tower != NULL && get16(tower) == 5 && get16(tower + 2) == 19 && tower[4] == 0x0d &&
	       memcmp(tower + 5, test_iface.uuid, 16) == 0 && get16(tower + 21) == 0 && get16(tower + 23) == 2 &&
	       get16(tower + 25) == 0, "epm: floor 1 = interface uuid v0.0");
	tap_ok(tower != NULL && tower[29] == 0x0d && memcmp(tower + 30, ae_rpc_ndr_syntax.uuid, 16) == 0 &&
	       get16(tower + 46) == 2, "epm: floor 2 = NDR v2");
	tap_ok(tower != NULL && memcmp(tower + 52, "\x01\x00\x0b\x02\x00\x00\x00\x01\x00\x07\x02\x00\x00\x00\x01\x00\x09\x04\x00\x00\x00\x00\x00", 23) == 0,
	       "epm: floors 3-5 = RPC CO, TCP port 0, IPv4 0.0.0.0");
	tap_is_int(ae_rpc_epm_tower_port(ctx, tower, tlen, &port), AE_ERR_INVALID, "epm: port 0 is no answer");
	tap_is_int(ae_rpc_epm_map_stub(ctx, &test_iface, &stub, &len), AE_OK, "epm: ept_map stub");
	tap_ok(len == 132 && get32(stub) == 1 && get32(stub + 20) == 2 && get32(stub + 24) == 75 &&
	       get32(stub + 28) == 75 && memcmp(stub + 32, tower, 75) == 0 && get32(stub + 128) == 4,
	       "epm: object, tower (conformance 75), handle, max_towers 4");
	free(stub);

	/* a response with the port 49667 (0xc203) in one tower */
	{
		uint8_t r[256];
		size_t off = 0, n;
		bool all = true;

		memset(r, 0, sizeof(r));
		off = 20;
		put32(r + off, 1); put32(r + off + 4, 4); put32(r + off + 8, 0); put32(r + off + 12, 1);
		off += 16;
		put32(r + off, 3); off += 4;
		put32(r + off, 75); put32(r + off + 4, 75); off += 8;
		memcpy(r + off, tower, 75);
		r[off + 64] = 0xc2; r[off + 65] = 0x03; /* floor 4's rhs */
		off += 76;
		put32(r + off, 0);
		n = off + 4;
		tap_ok(ae_rpc_epm_parse_map(ctx, r, n, &port, &status) == AE_OK && port == 49667 && status == 0,
		       "epm: port from the first tower (%u)", port);
		for (size_t cut = 0; cut < n; cut++)
			if (ae_rpc_epm_parse_map(ctx, r, cut, &port, &status) == AE_OK)
				all = false;
		tap_ok(all, "epm: every truncation rejected");
		put32(r + 20 + 8, 1);
		tap_ok(ae_rpc_epm_parse_map(ctx, r, n, &port, &status) == AE_ERR_INVALID, "epm: non-zero offset rejected");
		put32(r + 20 + 8, 0);
		put32(r + 40 + 4, 300);
		tap_ok(ae_rpc_epm_parse_map(ctx, r, n, &port, &status) == AE_ERR_INVALID, "epm: tower length beyond the stub rejected");
		put32(r + 40 + 4, 75);
		r[40 + 8] = 200; /* floor count */
		tap_ok(ae_rpc_epm_parse_map(ctx, r, n, &port, &status) == AE_ERR_INVALID, "epm: absurd floor count rejected");
	}
	{
		uint8_t r[48];
		memset(r, 0, sizeof(r));
		put32(r + 20, 0); put32(r + 24, 4); put32(r + 28, 0); put32(r + 32, 0);
		put32(r + 36, 0x16c9a0d6);
		tap_ok(ae_rpc_epm_parse_map(ctx, r, 40, &port, &status) == AE_ERR_NOTFOUND && status == 0x16c9a0d6 &&
		       strstr(ae_get_message(ctx), "not registered") != NULL, "epm: EPT_S_NOT_REGISTERED (%s)", ae_get_message(ctx));
		put32(r + 36, 0);
		tap_ok(ae_rpc_epm_parse_map(ctx, r, 40, &port, &status) == AE_ERR_NOTFOUND, "epm: no tower");
	}
	free(tower);
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();

	test_pdu_parse(ctx);
	test_bind(ctx);
	test_bind_ack(ctx);
	test_spnego(ctx);
	test_fragments(ctx);
	test_call(ctx);
	test_epm(ctx);
	ae_ctx_free(ctx);
	return tap_done();
}
