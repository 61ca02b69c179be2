/*
 * fuzz-rpc.c - what a CA host (or anyone on the path) can send to the RPC
 * client: PDU headers, bind_ack / alter_context_resp / bind_nak, sealed
 * response and fault fragments, SPNEGO NegTokenResp, ept_map answers.
 *
 * The first byte picks the parser; the rest is its input.  Sealed
 * fragments use a stand-in sealer (XOR and a 16-byte token with a length
 * check), so the fuzzer reaches the code after unsealing.
 */
#include "config.h"

#include "rpc.h"
#include "spnego.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
sig(void *d, size_t len)
{
	(void)d;
	(void)len;
	return 16;
}

static ae_err
seal(ae_ctx *ctx, void *d, uint8_t *buf, size_t len, uint8_t *tok, size_t tlen)
{
	(void)ctx;
	(void)d;
	for (size_t i = 0; i < len; i++)
		buf[i] ^= 0x5c;
	memset(tok, 0, tlen);
	return AE_OK;
}

static ae_err
unseal(ae_ctx *ctx, void *d, uint8_t *buf, size_t len, const uint8_t *tok, size_t tlen)
{
	(void)d;
	if (tlen != 16 || tok[0] != 0)
		return ae_set_message(ctx, AE_ERR_KERBEROS, "bad token");
	for (size_t i = 0; i < len; i++)
		buf[i] ^= 0x5c;
	return AE_OK;
}

static const ae_rpc_sealer fake = { sig, seal, unseal, NULL, 9, 6, 1 };

static void
check_spnego(ae_ctx *ctx, const uint8_t *p, size_t n)
{
	ae_spnego_resp r;

	if (ae_spnego_parse_resp(ctx, p, n, &r) == AE_OK) {
		/* the copies are the input's bytes; a DER token re-encodes to
		 * no more than the input */
		if (r.token != NULL && (r.token_len >= n || memmem(p, n, r.token, r.token_len) == NULL))
			__builtin_trap();
		if (r.mic != NULL && (r.mic_len >= n || memmem(p, n, r.mic, r.mic_len) == NULL))
			__builtin_trap();
		if (r.neg_state < AE_SPNEGO_ABSENT || r.neg_state > AE_SPNEGO_REQUEST_MIC)
			__builtin_trap();
		if (r.token != NULL && r.mic != NULL && r.neg_state == AE_SPNEGO_ABSENT && r.mech == AE_SPNEGO_MECH_NONE) {
			uint8_t *enc = NULL;
			size_t enc_len = 0;
			if (ae_spnego_resp_token(ctx, r.token, r.token_len, r.mic, r.mic_len, &enc, &enc_len) != AE_OK ||
			    enc_len != n || memcmp(enc, p, n) != 0)
				__builtin_trap();
			free(enc);
		}
	}
	ae_spnego_resp_clear(&r);
}

/* A run of fragments of call 1, as ae_rpc_call would see them. */
static void
fragments(ae_ctx *ctx, const uint8_t *data, size_t size, bool sealed)
{
	ae_rpc *rpc = ae_rpc_new_fd(-1, "fuzz", 1, 1, sealed ? &fake : NULL);
	ae_buf stub;
	bool last = false, first = true;
	size_t off = 0;

	if (rpc == NULL)
		return;
	ae_buf_init(&stub);
	while (!last && size - off >= 16) {
		size_t frag = (size_t)(data[off + 8] | (data[off + 9] << 8));
		uint8_t *copy;
		if (frag < 16 || frag > size - off)
			break;
		copy = malloc(frag);
		if (copy == NULL)
			break;
		memcpy(copy, data + off, frag);
		if (ae_rpc_take_fragment(ctx, rpc, copy, frag, AE_RPC_RESPONSE, 1, first, &stub, &last) != AE_OK) {
			free(copy);
			break;
		}
		free(copy);
		/* never a fragment above the max_recv_frag offered in the bind */
		if (frag > AE_RPC_DEFAULT_FRAG)
			__builtin_trap();
		first = false;
		off += frag;
	}
	if (stub.len > AE_RPC_MAX_STUB)
		__builtin_trap();
	ae_buf_clear(&stub);
	ae_rpc_free(rpc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ae_ctx *ctx;
	const uint8_t *p = data + 1;
	size_t n = size > 0 ? size - 1 : 0;

	if (size < 1)
		return 0;
	ctx = ae_ctx_new();
	if (ctx == NULL)
		return 0;
	switch (data[0] % 6) {
	case 0: { /* bind_ack / alter_context_resp / bind_nak */
		ae_rpc_pdu pdu;
		ae_rpc_bind_ack ack;
		if (ae_rpc_pdu_parse(ctx, p, n, &pdu) == AE_OK) {
			if (pdu.body + pdu.body_len > p + n)
				__builtin_trap();
			if (ae_rpc_parse_bind_ack(ctx, &pdu, &ack) == AE_OK && ack.auth != NULL)
				check_spnego(ctx, ack.auth, ack.auth_len);
		}
		break;
	}
	case 1:
		check_spnego(ctx, p, n);
		break;
	case 2: {
		uint16_t port;
		uint32_t status;
		if (ae_rpc_epm_parse_map(ctx, p, n, &port, &status) == AE_OK && (port == 0 || status != 0))
			__builtin_trap();
		break;
	}
	case 3: {
		uint16_t port;
		(void)ae_rpc_epm_tower_port(ctx, p, n, &port);
		break;
	}
	case 4:
		fragments(ctx, p, n, true);
		break;
	case 5:
		fragments(ctx, p, n, false);
		break;
	}
	ae_ctx_free(ctx);
	return 0;
}
