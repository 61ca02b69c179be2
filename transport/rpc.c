/*
 * rpc.c - connection-oriented DCE/RPC over TCP with SPNEGO/Kerberos (DCE style) at packet privacy.
 *
 * The wire follows C706 chapter 12 and MS-RPCE 2.2.2: a 16-byte common
 * header, bind/bind_ack/alter_context for the three Kerberos legs wrapped
 * in SPNEGO, and request/response fragments each carrying a sec_trailer
 * and a gss_wrap_iov token (HEADER | EMPTY | DATA | EMPTY: no header
 * signing, so only the stub and its padding are protected, encrypted in
 * place).  The layout of the sealed fragment is Samba's
 * (dcerpc_ncacn_push_pkt_auth / gssapi_seal_packet), written anew here.
 */
#include "config.h"

#include "hresult.h"
#include "krb.h"
#include "net.h"
#include "rpc.h"
#include "spnego.h"
#include "testhooks.h"

#include <errno.h>
#include <fcntl.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define AE_RPC_EPM_PORT 135
#define AE_RPC_MIN_FRAG 256
#define AE_RPC_AUTH_CTX_ID 1
#define AE_RPC_EPM_MAX_TOWERS 4

const ae_rpc_iface ae_rpc_epm_iface = {
	{ 0x08, 0x83, 0xaf, 0xe1, 0x1f, 0x5d, 0xc9, 0x11, 0x91, 0xa4, 0x08, 0x00, 0x2b, 0x14, 0xa0, 0xfa },
	3, 0, "the endpoint mapper"
};
const ae_rpc_iface ae_rpc_ndr_syntax = {
	{ 0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60 },
	2, 0, "NDR"
};

struct ae_rpc {
	int fd;
	char *host;
	uint16_t port;
	int timeout;
	char setting[512];
	char *service;          /* "ICertPassage", for messages */
	uint16_t max_xmit;      /* largest fragment we send */
	uint16_t offer;         /* max_xmit/max_recv we offered in the bind */
	uint32_t next_call_id;
	uint16_t ctx_id;
	unsigned round_trips;
	uint32_t last_fault;
	bool have_sealer;
	ae_rpc_sealer sealer;
	gss_ctx_id_t gctx;
	gss_name_t target;
	char *principal;        /* "host/HOST" */
};

/* --- little-endian helpers --- */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void
buf_u16(ae_buf *b, uint16_t v)
{
	uint8_t t[2];
	put16(t, v);
	ae_buf_append(b, t, 2);
}

static void
buf_u32(ae_buf *b, uint32_t v)
{
	uint8_t t[4];
	put32(t, v);
	ae_buf_append(b, t, 4);
}

static void
buf_zero(ae_buf *b, size_t n)
{
	static const uint8_t z[32];
	while (n > 0) {
		size_t k = n < sizeof(z) ? n : sizeof(z);
		ae_buf_append(b, z, k);
		n -= k;
	}
}

/* The 16-byte common header; frag_length and auth_length are filled in. */
static void
buf_hdr(ae_buf *b, uint8_t ptype, uint8_t flags, uint16_t frag_len, uint16_t auth_len, uint32_t call_id)
{
	uint8_t h[AE_RPC_HDR_LEN] = { 5, 0, ptype, flags, 0x10, 0, 0, 0 };
	put16(h + 8, frag_len);
	put16(h + 10, auth_len);
	put32(h + 12, call_id);
	ae_buf_append(b, h, sizeof(h));
}

static const char *
ptype_name(uint8_t t)
{
	switch (t) {
	case AE_RPC_REQUEST: return "request";
	case AE_RPC_RESPONSE: return "response";
	case AE_RPC_FAULT: return "fault";
	case AE_RPC_BIND: return "bind";
	case AE_RPC_BIND_ACK: return "bind_ack";
	case AE_RPC_BIND_NAK: return "bind_nak";
	case AE_RPC_ALTER_CONTEXT: return "alter_context";
	case AE_RPC_ALTER_CONTEXT_RESP: return "alter_context_resp";
	case AE_RPC_AUTH3: return "auth3";
	case AE_RPC_SHUTDOWN: return "shutdown";
	default: return "unknown";
	}
}

/* --- PDU parsing --- */

ae_err
ae_rpc_pdu_parse(ae_ctx *ctx, const uint8_t *buf, size_t len, ae_rpc_pdu *out)
{
	size_t trailer;

	memset(out, 0, sizeof(*out));
	if (len < AE_RPC_HDR_LEN)
		return ae_set_message(ctx, AE_ERR_INVALID, "RPC PDU of %zu bytes is shorter than its header", len);
	if (buf[0] != 5 || buf[1] > 1)
		return ae_set_message(ctx, AE_ERR_INVALID, "not a DCE/RPC 5.0 PDU (version %u.%u)", buf[0], buf[1]);
	if ((buf[4] & 0xf0) != 0x10 || (buf[4] & 0x0f) != 0 || buf[5] != 0)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED,
		                      "RPC PDU uses data representation %02x %02x: only little-endian ASCII/IEEE is supported",
		                      buf[4], buf[5]);
	out->ptype = buf[2];
	out->flags = buf[3];
	out->frag_len = get16(buf + 8);
	out->auth_len = get16(buf + 10);
	out->call_id = get32(buf + 12);
	if (out->frag_len != len)
		return ae_set_message(ctx, AE_ERR_INVALID, "RPC PDU says %u bytes but has %zu", out->frag_len, len);
	if (out->auth_len == 0) {
		out->body = buf + AE_RPC_HDR_LEN;
		out->body_len = len - AE_RPC_HDR_LEN;
		return AE_OK;
	}
	if ((size_t)out->auth_len + AE_RPC_TRAILER_LEN > len - AE_RPC_HDR_LEN)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "RPC %s PDU: auth_length %u does not fit in %zu bytes",
		                      ptype_name(out->ptype), out->auth_len, len);
	trailer = len - out->auth_len - AE_RPC_TRAILER_LEN;
	out->body = buf + AE_RPC_HDR_LEN;
	out->body_len = trailer - AE_RPC_HDR_LEN;
	out->auth_type = buf[trailer];
	out->auth_level = buf[trailer + 1];
	out->auth_pad = buf[trailer + 2];
	out->auth_ctx_id = get32(buf + trailer + 4);
	out->auth = buf + trailer + AE_RPC_TRAILER_LEN;
	return AE_OK;
}

/* --- bind / alter_context --- */

void
ae_rpc_build_bind(ae_buf *out, uint8_t ptype, uint32_t call_id, uint16_t max_frag,
                  uint32_t assoc_group, uint16_t ctx_id, const ae_rpc_iface *iface,
                  uint8_t auth_type, uint8_t auth_level, uint32_t auth_ctx_id,
                  const uint8_t *auth, size_t auth_len)
{
	/* header 16 + 8 + context list 4 + element 4 + 20 + 20 = 72: the
	 * sec_trailer lands 8-aligned without padding. */
	size_t body = 8 + 4 + 4 + 20 + 20;
	size_t frag = AE_RPC_HDR_LEN + body + (auth != NULL ? AE_RPC_TRAILER_LEN + auth_len : 0);

	if (frag > 0xffff || auth_len > 0xffff) {
		out->failed = true; /* caller checks; tokens are a few KB */
		return;
	}
	buf_hdr(out, ptype, AE_RPC_PFC_FIRST_FRAG | AE_RPC_PFC_LAST_FRAG, (uint16_t)frag,
	        auth != NULL ? (uint16_t)auth_len : 0, call_id);
	buf_u16(out, max_frag);     /* max_xmit_frag */
	buf_u16(out, max_frag);     /* max_recv_frag */
	buf_u32(out, assoc_group);
	ae_buf_append(out, "\x01\x00\x00\x00", 4); /* n_context_elem 1 + reserved */
	buf_u16(out, ctx_id);
	ae_buf_append(out, "\x01\x00", 2);         /* n_transfer_syn 1, reserved */
	ae_buf_append(out, iface->uuid, 16);
	buf_u16(out, iface->major);
	buf_u16(out, iface->minor);
	ae_buf_append(out, ae_rpc_ndr_syntax.uuid, 16);
	buf_u16(out, ae_rpc_ndr_syntax.major);
	buf_u16(out, ae_rpc_ndr_syntax.minor);
	if (auth != NULL) {
		uint8_t t[AE_RPC_TRAILER_LEN] = { auth_type, auth_level, 0, 0 };
		put32(t + 4, auth_ctx_id);
		ae_buf_append(out, t, sizeof(t));
		ae_buf_append(out, auth, auth_len);
	}
}

const char *
ae_rpc_bind_nak_reason(uint16_t reason)
{
	static const char *const names[] = {
		"reason_not_specified", "temporary_congestion", "local_limit_exceeded",
		"called_paddr_unknown", "protocol_version_not_supported",
		"default_context_not_supported", "user_data_not_readable", "no_psap_available",
		"authentication_type_not_recognized", "invalid_checksum",
	};
	return reason < sizeof(names) / sizeof(names[0]) ? names[reason] : "unknown reason";
}

static const char *
ctx_reject_reason(uint16_t reason)
{
	switch (reason) {
	case 0: return "reason_not_specified";
	case 1: return "abstract_syntax_not_supported";
	case 2: return "proposed_transfer_syntaxes_not_supported";
	case 3: return "local_limit_exceeded";
	default: return "unknown reason";
	}
}

ae_err
ae_rpc_parse_bind_ack(ae_ctx *ctx, const ae_rpc_pdu *pdu, ae_rpc_bind_ack *out)
{
	const uint8_t *b = pdu->body;
	size_t n = pdu->body_len, off, sec_len;

	memset(out, 0, sizeof(*out));
	if (pdu->ptype == AE_RPC_BIND_NAK) {
		uint16_t reason = n >= 2 ? get16(b) : 0;
		return ae_set_message(ctx, AE_ERR_DENIED, "the server rejected the bind (bind_nak: %s, %u)%s",
		                      ae_rpc_bind_nak_reason(reason), reason,
		                      reason == 8 ? ": it does not accept SPNEGO authentication here"
		                      : reason == 9 ? ": its security provider could not check our Kerberos token" : "");
	}
	if (pdu->ptype != AE_RPC_BIND_ACK && pdu->ptype != AE_RPC_ALTER_CONTEXT_RESP)
		return ae_set_message(ctx, AE_ERR_INVALID, "expected a bind_ack, got a %s PDU (type %u)",
		                      ptype_name(pdu->ptype), pdu->ptype);
	/* max_xmit 2, max_recv 2, assoc 4, sec_addr length 2 */
	if (n < 10)
		return ae_set_message(ctx, AE_ERR_INVALID, "truncated %s", ptype_name(pdu->ptype));
	out->max_xmit = get16(b);
	out->max_recv = get16(b + 2);
	out->assoc_group = get32(b + 4);
	sec_len = get16(b + 8);
	off = 10;
	if (sec_len > n - off)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s: secondary address overruns the PDU",
		                      ptype_name(pdu->ptype));
	off += sec_len;
	/* pad to 4 relative to the start of the PDU (body starts at 16) */
	off = (off + 3) & ~(size_t)3;
	if (off + 4 > n)
		return ae_set_message(ctx, AE_ERR_INVALID, "truncated %s result list", ptype_name(pdu->ptype));
	if (b[off] < 1)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s has no result for our context", ptype_name(pdu->ptype));
	off += 4;
	if (off + 24 > n)
		return ae_set_message(ctx, AE_ERR_INVALID, "truncated %s result", ptype_name(pdu->ptype));
	out->result = get16(b + off);
	out->reason = get16(b + off + 2);
	if (out->result != 0)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED,
		                      "the server rejected the presentation context (%s, result %u, reason %u)",
		                      ctx_reject_reason(out->reason), out->result, out->reason);
	if (memcmp(b + off + 4, ae_rpc_ndr_syntax.uuid, 16) != 0 ||
	    get16(b + off + 20) != ae_rpc_ndr_syntax.major)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED, "the server accepted a transfer syntax other than NDR 2.0");
	if (pdu->auth != NULL) {
		out->auth = pdu->auth;
		out->auth_len = pdu->auth_len;
	}
	return AE_OK;
}

/* --- the rpc object, sockets and timeouts --- */

ae_rpc *
ae_rpc_new_fd(int fd, const char *host, uint16_t port, int timeout, const ae_rpc_sealer *sealer)
{
	ae_rpc *rpc = calloc(1, sizeof(*rpc));

	if (rpc == NULL)
		return NULL;
	rpc->fd = fd;
	rpc->host = strdup(host != NULL ? host : "localhost");
	rpc->service = strdup("the RPC server");
	if (rpc->host == NULL || rpc->service == NULL) {
		rpc->fd = -1;
		ae_rpc_free(rpc);
		return NULL;
	}
	rpc->port = port;
	rpc->timeout = timeout > 0 ? timeout : 30;
	snprintf(rpc->setting, sizeof(rpc->setting), "rpc_timeout");
	rpc->max_xmit = AE_RPC_DEFAULT_FRAG;
	rpc->offer = AE_RPC_DEFAULT_FRAG;
	rpc->next_call_id = 1;
	rpc->gctx = GSS_C_NO_CONTEXT;
	rpc->target = GSS_C_NO_NAME;
	if (sealer != NULL) {
		rpc->sealer = *sealer;
		rpc->have_sealer = true;
	}
	if (fd >= 0)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return rpc;
}

void
ae_rpc_free(ae_rpc *rpc)
{
	OM_uint32 minor;

	if (rpc == NULL)
		return;
	if (rpc->fd >= 0)
		close(rpc->fd);
	if (rpc->gctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&minor, &rpc->gctx, GSS_C_NO_BUFFER);
	if (rpc->target != GSS_C_NO_NAME)
		gss_release_name(&minor, &rpc->target);
	free(rpc->host);
	free(rpc->service);
	free(rpc->principal);
	free(rpc);
}

void
ae_rpc_set_max_frag(ae_rpc *rpc, uint16_t max)
{
	if (max < AE_RPC_MIN_FRAG)
		max = AE_RPC_MIN_FRAG;
	if (max < rpc->max_xmit)
		rpc->max_xmit = max;
}

unsigned ae_rpc_round_trips(const ae_rpc *rpc) { return rpc->round_trips; }
uint32_t ae_rpc_last_fault(const ae_rpc *rpc) { return rpc->last_fault; }
const char *ae_rpc_host(const ae_rpc *rpc) { return rpc->host; }
uint16_t ae_rpc_port(const ae_rpc *rpc) { return rpc->port; }

static ae_err
timeout_error(ae_ctx *ctx, ae_rpc *rpc, const char *what)
{
	return ae_set_message(ctx, AE_ERR_TIMEOUT, "%s %s on %s port %u: no answer within %d s (%s)",
	                      what, rpc->service, rpc->host, rpc->port, rpc->timeout, rpc->setting);
}

ae_err
ae_rpc_send(ae_ctx *ctx, ae_rpc *rpc, const uint8_t *buf, size_t len)
{
	int e = 0;

	switch (ae_net_send_all(rpc->fd, buf, len, ae_monotonic_seconds() + rpc->timeout, &e)) {
	case AE_NET_OK:
		return AE_OK;
	case AE_NET_TIMEOUT:
		return timeout_error(ctx, rpc, "sending to");
	default:
		return ae_set_message(ctx, AE_ERR_NETWORK, "sending to %s on %s port %u: %s", rpc->service, rpc->host,
		                      rpc->port, strerror(e));
	}
}

static ae_err
recv_exact(ae_ctx *ctx, ae_rpc *rpc, uint8_t *buf, size_t len, double deadline)
{
	size_t done = 0;

	while (done < len) {
		size_t got = 0;
		int e = 0;
		switch (ae_net_recv_some(rpc->fd, buf + done, len - done, deadline, &got, &e)) {
		case AE_NET_OK:
			done += got;
			break;
		case AE_NET_CLOSED:
			return ae_set_message(ctx, AE_ERR_NETWORK, "%s on %s port %u closed the connection%s",
			                      rpc->service, rpc->host, rpc->port,
			                      done > 0 ? " in the middle of a PDU" : "");
		case AE_NET_TIMEOUT:
			return timeout_error(ctx, rpc, "waiting for");
		default:
			return ae_set_message(ctx, AE_ERR_NETWORK, "receiving from %s on %s port %u: %s", rpc->service,
			                      rpc->host, rpc->port, strerror(e));
		}
	}
	return AE_OK;
}

/* One PDU, read by DEADLINE (monotonic seconds). */
static ae_err
recv_pdu_by(ae_ctx *ctx, ae_rpc *rpc, double deadline, uint8_t **buf_out, size_t *len_out)
{
	uint8_t hdr[AE_RPC_HDR_LEN], *buf;
	uint16_t frag;
	ae_err err;

	*buf_out = NULL;
	*len_out = 0;
	err = recv_exact(ctx, rpc, hdr, sizeof(hdr), deadline);
	if (err != AE_OK)
		return err;
	if (hdr[0] != 5)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s on %s port %u does not speak DCE/RPC (first byte 0x%02x)",
		                      rpc->service, rpc->host, rpc->port, hdr[0]);
	frag = get16(hdr + 8);
	if ((hdr[4] & 0xf0) != 0x10)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED,
		                      "%s on %s port %u answered in big-endian data representation",
		                      rpc->service, rpc->host, rpc->port);
	if (frag < AE_RPC_HDR_LEN)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s on %s port %u sent a PDU of %u bytes",
		                      rpc->service, rpc->host, rpc->port, frag);
	buf = malloc(frag);
	if (buf == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	memcpy(buf, hdr, sizeof(hdr));
	err = recv_exact(ctx, rpc, buf + AE_RPC_HDR_LEN, frag - AE_RPC_HDR_LEN, deadline);
	if (err != AE_OK) {
		free(buf);
		return err;
	}
	*buf_out = buf;
	*len_out = frag;
	return AE_OK;
}

ae_err
ae_rpc_recv_pdu(ae_ctx *ctx, ae_rpc *rpc, uint8_t **buf_out, size_t *len_out)
{
	return recv_pdu_by(ctx, rpc, ae_monotonic_seconds() + rpc->timeout, buf_out, len_out);
}

/* --- fragments --- */

ae_err
ae_rpc_build_frags(ae_ctx *ctx, ae_buf *out, uint8_t ptype, uint32_t call_id, uint16_t ctx_id,
                   uint16_t opnum, const uint8_t *stub, size_t len, uint16_t max_frag,
                   const ae_rpc_sealer *sealer, unsigned *nfrags)
{
	size_t sig = 0, room, done = 0;
	unsigned count = 0;
	ae_err err;

	*nfrags = 0;
	if (len > AE_RPC_MAX_STUB)
		return ae_set_message(ctx, AE_ERR_INVALID, "RPC call of %zu bytes is too large", len);
	if (sealer != NULL) {
		sig = sealer->sig_size(sealer->data, max_frag);
		if (sig == 0)
			return ae_set_message(ctx, AE_ERR_KERBEROS, "cannot size the GSS-API seal token");
		if ((size_t)max_frag < AE_RPC_REQ_HDR_LEN + AE_RPC_TRAILER_LEN + sig + 16)
			return ae_set_message(ctx, AE_ERR_INTERNAL, "fragment size %u too small for a sealed PDU", max_frag);
		room = (max_frag - AE_RPC_REQ_HDR_LEN - AE_RPC_TRAILER_LEN - sig) & ~(size_t)15;
	} else {
		if (max_frag < AE_RPC_REQ_HDR_LEN + 8)
			return ae_set_message(ctx, AE_ERR_INTERNAL, "fragment size %u too small", max_frag);
		room = (max_frag - AE_RPC_REQ_HDR_LEN) & ~(size_t)7;
	}
	do {
		size_t chunk = len - done < room ? len - done : room;
		size_t pad = sealer != NULL ? (16 - chunk % 16) % 16 : 0;
		size_t start = out->len, tok_sig = 0, frag;
		uint8_t flags = 0;

		if (sealer != NULL) {
			tok_sig = sealer->sig_size(sealer->data, chunk + pad);
			if (tok_sig == 0)
				return ae_set_message(ctx, AE_ERR_KERBEROS, "cannot size the GSS-API seal token");
		}
		frag = AE_RPC_REQ_HDR_LEN + chunk + pad + (sealer != NULL ? AE_RPC_TRAILER_LEN + tok_sig : 0);
		if (frag > 0xffff)
			return ae_set_message(ctx, AE_ERR_INTERNAL, "RPC fragment of %zu bytes", frag);
		if (done == 0)
			flags |= AE_RPC_PFC_FIRST_FRAG;
		if (done + chunk == len)
			flags |= AE_RPC_PFC_LAST_FRAG;
		buf_hdr(out, ptype, flags, (uint16_t)frag, (uint16_t)tok_sig, call_id);
		buf_u32(out, (uint32_t)(len - done));     /* alloc_hint: what remains */
		buf_u16(out, ctx_id);
		if (ptype == AE_RPC_REQUEST)
			buf_u16(out, opnum);
		else
			buf_u16(out, 0);                  /* cancel_count, reserved */
		if (chunk > 0)
			ae_buf_append(out, stub + done, chunk);
		buf_zero(out, pad);
		if (sealer != NULL) {
			uint8_t t[AE_RPC_TRAILER_LEN] = { sealer->auth_type, sealer->auth_level, (uint8_t)pad, 0 };
			put32(t + 4, sealer->auth_ctx_id);
			ae_buf_append(out, t, sizeof(t));
			buf_zero(out, tok_sig);
		}
		if (out->failed)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		if (sealer != NULL) {
			uint8_t *p = (uint8_t *)out->data + start;
			err = sealer->seal(ctx, sealer->data, p + AE_RPC_REQ_HDR_LEN, chunk + pad,
			                   p + frag - tok_sig, tok_sig);
			if (err != AE_OK)
				return err;
		}
		done += chunk;
		count++;
	} while (done < len);
	*nfrags = count;
	return AE_OK;
}

static ae_err
fault_error(ae_ctx *ctx, ae_rpc *rpc, uint32_t status)
{
	char name[96];
	char *why = ae_hresult_explain(status, NULL, NULL, NULL);
	ae_err code = AE_ERR_NETWORK;

	rpc->last_fault = status;
	if (status == 5 || status == AE_HR_E_ACCESSDENIED || status == AE_HR_E_ACCESSDENIED_OLE)
		code = AE_ERR_DENIED;
	else if (status == AE_NCA_S_OP_RNG_ERROR || status == AE_NCA_S_UNK_IF || status == 0x6d1 ||
	         status == 0x6b5)
		code = AE_ERR_UNSUPPORTED;
	ae_set_message(ctx, code, "%s on %s port %u answered the call with a fault: %s: %s",
	               rpc->service, rpc->host, rpc->port, ae_hresult_format(status, name, sizeof(name)),
	               why != NULL ? why : "out of memory");
	free(why);
	return code;
}

ae_err
ae_rpc_take_fragment(ae_ctx *ctx, ae_rpc *rpc, uint8_t *buf, size_t len, uint8_t ptype,
                     uint32_t call_id, bool first, ae_buf *stub, bool *last)
{
	ae_rpc_pdu pdu;
	size_t data_len;
	uint8_t *data;
	ae_err err;

	*last = false;
	/* no fragment may exceed the max_recv_frag we offered in the bind
	 * (C706 section 12.6, the bind PDU): a larger one is a protocol error,
	 * refused before it is parsed */
	if (len > rpc->offer)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s on %s port %u sent a fragment of %zu bytes, larger than the %u we accept",
		                      rpc->service, rpc->host, rpc->port, len, rpc->offer);
	err = ae_rpc_pdu_parse(ctx, buf, len, &pdu);
	if (err != AE_OK)
		return ae_prefix_message(ctx, err, "%s on %s port %u", rpc->service, rpc->host, rpc->port);
	if (pdu.ptype == AE_RPC_FAULT && ptype == AE_RPC_RESPONSE) {
		if (pdu.body_len < 12)
			return ae_set_message(ctx, AE_ERR_INVALID, "%s on %s port %u sent a truncated fault",
			                      rpc->service, rpc->host, rpc->port);
		return fault_error(ctx, rpc, get32(pdu.body + 8));
	}
	if (pdu.ptype != ptype)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s on %s port %u sent a %s PDU (type %u) where a %s belongs",
		                      rpc->service, rpc->host, rpc->port, ptype_name(pdu.ptype), pdu.ptype,
		                      ptype_name(ptype));
	if (pdu.call_id != call_id)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s on %s port %u answered call %u while we wait for call %u",
		                      rpc->service, rpc->host, rpc->port, pdu.call_id, call_id);
	if (first != ((pdu.flags & AE_RPC_PFC_FIRST_FRAG) != 0))
		return ae_set_message(ctx, AE_ERR_INVALID, "%s on %s port %u: %s fragment %s the FIRST_FRAG flag",
		                      rpc->service, rpc->host, rpc->port, first ? "the first" : "a later",
		                      first ? "lacks" : "carries");
	if (pdu.body_len < 8)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s on %s port %u sent a truncated %s",
		                      rpc->service, rpc->host, rpc->port, ptype_name(pdu.ptype));
	if (get16(pdu.body + 4) != rpc->ctx_id)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s on %s port %u answered for presentation context %u",
		                      rpc->service, rpc->host, rpc->port, get16(pdu.body + 4));
	data = buf + AE_RPC_REQ_HDR_LEN;
	data_len = pdu.body_len - 8;
	if (rpc->have_sealer) {
		const ae_rpc_sealer *s = &rpc->sealer;
		if (pdu.auth == NULL)
			return ae_set_message(ctx, AE_ERR_DENIED,
			                      "%s on %s port %u sent an unprotected %s on a sealed connection",
			                      rpc->service, rpc->host, rpc->port, ptype_name(pdu.ptype));
		if (pdu.auth_type != s->auth_type || pdu.auth_level != s->auth_level ||
		    pdu.auth_ctx_id != s->auth_ctx_id)
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "%s on %s port %u: sec_trailer has auth_type %u level %u context %u, not %u/%u/%u",
			                      rpc->service, rpc->host, rpc->port, pdu.auth_type, pdu.auth_level,
			                      (unsigned)pdu.auth_ctx_id, s->auth_type, s->auth_level,
			                      (unsigned)s->auth_ctx_id);
		if (pdu.auth_pad > data_len)
			return ae_set_message(ctx, AE_ERR_INVALID, "%s on %s port %u: auth padding %u exceeds the stub",
			                      rpc->service, rpc->host, rpc->port, pdu.auth_pad);
		err = s->unseal(ctx, s->data, data, data_len, pdu.auth, pdu.auth_len);
		if (err != AE_OK)
			return ae_prefix_message(ctx, err, "unsealing the %s from %s on %s port %u",
			                         ptype_name(pdu.ptype), rpc->service, rpc->host, rpc->port);
		data_len -= pdu.auth_pad;
	} else if (pdu.auth != NULL) {
		return ae_set_message(ctx, AE_ERR_INVALID, "%s on %s port %u sent auth data on an unauthenticated connection",
		                      rpc->service, rpc->host, rpc->port);
	}
	if (data_len > AE_RPC_MAX_STUB - stub->len)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s on %s port %u sent more than %u bytes for one call",
		                      rpc->service, rpc->host, rpc->port, AE_RPC_MAX_STUB);
	ae_buf_append(stub, data, data_len);
	if (stub->failed)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	*last = (pdu.flags & AE_RPC_PFC_LAST_FRAG) != 0;
	return AE_OK;
}

ae_err
ae_rpc_call(ae_ctx *ctx, ae_rpc *rpc, uint16_t opnum, const uint8_t *stub, size_t len,
            uint8_t **resp, size_t *resp_len)
{
	ae_buf out, in;
	uint32_t call_id = rpc->next_call_id++;
	unsigned nfrags = 0, nresp = 0;
	bool last = false, first = true;
	double deadline;
	ae_err err;

	*resp = NULL;
	*resp_len = 0;
	ae_buf_init(&out);
	ae_buf_init(&in);
	err = ae_rpc_build_frags(ctx, &out, AE_RPC_REQUEST, call_id, rpc->ctx_id, opnum, stub, len,
	                         rpc->max_xmit, rpc->have_sealer ? &rpc->sealer : NULL, &nfrags);
	if (err != AE_OK)
		goto cleanup;
	ae_log(ctx, AE_LOG_DEBUG, "rpc: call %u opnum %u to %s port %u: %zu stub bytes in %u fragment(s)",
	       (unsigned)call_id, opnum, rpc->host, rpc->port, len, nfrags);
	err = ae_rpc_send(ctx, rpc, (const uint8_t *)out.data, out.len);
	if (err != AE_OK)
		goto cleanup;
	rpc->round_trips++;
	/* the whole answer within rpc_timeout, not each fragment: a CA that
	 * drips fragments cannot hold the call longer */
	deadline = ae_monotonic_seconds() + rpc->timeout;
	while (!last) {
		uint8_t *pdu = NULL;
		size_t pdu_len = 0;

		err = recv_pdu_by(ctx, rpc, deadline, &pdu, &pdu_len);
		if (err != AE_OK)
			goto cleanup;
		err = ae_rpc_take_fragment(ctx, rpc, pdu, pdu_len, AE_RPC_RESPONSE, call_id, first, &in, &last);
		free(pdu);
		if (err != AE_OK)
			goto cleanup;
		first = false;
		nresp++;
	}
	ae_log(ctx, AE_LOG_DEBUG, "rpc: call %u answered with %zu stub bytes in %u fragment(s)",
	       (unsigned)call_id, in.len, nresp);
	*resp_len = in.len;
	*resp = (uint8_t *)ae_buf_steal(&in);
	if (*resp == NULL) {
		*resp_len = 0;
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
cleanup:
	ae_buf_clear(&out);
	ae_buf_clear(&in);
	return err;
}

/* --- endpoint mapper --- */

ae_err
ae_rpc_epm_tower(ae_ctx *ctx, const ae_rpc_iface *iface, uint8_t **tower, size_t *len)
{
	ae_buf b;

	*tower = NULL;
	*len = 0;
	ae_buf_init(&b);
	buf_u16(&b, 5);                         /* floor count */
	/* 1: interface UUID and major version; minor version */
	buf_u16(&b, 19);
	ae_buf_append(&b, "\x0d", 1);
	ae_buf_append(&b, iface->uuid, 16);
	buf_u16(&b, iface->major);
	buf_u16(&b, 2);
	buf_u16(&b, iface->minor);
	/* 2: transfer syntax NDR 2.0 */
	buf_u16(&b, 19);
	ae_buf_append(&b, "\x0d", 1);
	ae_buf_append(&b, ae_rpc_ndr_syntax.uuid, 16);
	buf_u16(&b, ae_rpc_ndr_syntax.major);
	buf_u16(&b, 2);
	buf_u16(&b, ae_rpc_ndr_syntax.minor);
	/* 3: RPC connection-oriented, minor version 0 */
	ae_buf_append(&b, "\x01\x00\x0b\x02\x00\x00\x00", 7);
	/* 4: TCP port 0 (big-endian) */
	ae_buf_append(&b, "\x01\x00\x07\x02\x00\x00\x00", 7);
	/* 5: IPv4 0.0.0.0 */
	ae_buf_append(&b, "\x01\x00\x09\x04\x00\x00\x00\x00\x00", 9);
	*len = b.len;
	*tower = (uint8_t *)ae_buf_steal(&b);
	if (*tower == NULL) {
		*len = 0;
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	return AE_OK;
}

ae_err
ae_rpc_epm_map_stub(ae_ctx *ctx, const ae_rpc_iface *iface, uint8_t **stub, size_t *len)
{
	uint8_t *tower = NULL;
	size_t tower_len = 0;
	ae_buf b;
	ae_err err;

	*stub = NULL;
	*len = 0;
	err = ae_rpc_epm_tower(ctx, iface, &tower, &tower_len);
	if (err != AE_OK)
		return err;
	ae_buf_init(&b);
	buf_u32(&b, 1);                          /* object: referent */
	buf_zero(&b, 16);                        /* nil UUID */
	buf_u32(&b, 2);                          /* map_tower: referent */
	buf_u32(&b, (uint32_t)tower_len);        /* conformance */
	buf_u32(&b, (uint32_t)tower_len);        /* tower_length */
	ae_buf_append(&b, tower, tower_len);
	buf_zero(&b, (4 - tower_len % 4) % 4);
	buf_zero(&b, 20);                        /* entry_handle */
	buf_u32(&b, AE_RPC_EPM_MAX_TOWERS);
	free(tower);
	*len = b.len;
	*stub = (uint8_t *)ae_buf_steal(&b);
	if (*stub == NULL) {
		*len = 0;
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	return AE_OK;
}

ae_err
ae_rpc_epm_tower_port(ae_ctx *ctx, const uint8_t *t, size_t len, uint16_t *port)
{
	size_t off = 2;
	unsigned floors, i;
	bool co = false;

	*port = 0;
	if (len < 2)
		return ae_set_message(ctx, AE_ERR_INVALID, "endpoint mapper tower too short");
	floors = get16(t);
	if (floors < 4 || floors > 16)
		return ae_set_message(ctx, AE_ERR_INVALID, "endpoint mapper tower has %u floors", floors);
	for (i = 0; i < floors; i++) {
		size_t lhs, rhs;
		const uint8_t *l, *r;

		if (len - off < 2)
			goto trunc;
		lhs = get16(t + off);
		off += 2;
		if (lhs < 1 || len - off < lhs)
			goto trunc;
		l = t + off;
		off += lhs;
		if (len - off < 2)
			goto trunc;
		rhs = get16(t + off);
		off += 2;
		if (len - off < rhs)
			goto trunc;
		r = t + off;
		off += rhs;
		if (l[0] == 0x0b)
			co = true;
		if (l[0] == 0x07 && lhs == 1) {
			if (rhs != 2)
				return ae_set_message(ctx, AE_ERR_INVALID, "endpoint mapper tower: TCP floor of %zu bytes", rhs);
			*port = (uint16_t)((r[0] << 8) | r[1]);
		}
	}
	if (!co || *port == 0) {
		*port = 0;
		return ae_set_message(ctx, AE_ERR_INVALID, "endpoint mapper tower has no %s",
		                      co ? "TCP port" : "connection-oriented RPC floor");
	}
	return AE_OK;
trunc:
	return ae_set_message(ctx, AE_ERR_INVALID, "endpoint mapper tower floor %u is truncated", i + 1);
}

ae_err
ae_rpc_epm_parse_map(ae_ctx *ctx, const uint8_t *s, size_t len, uint16_t *port, uint32_t *status)
{
	size_t off = 20, i;
	uint32_t num, max, offset, actual, first_ref = 0;
	uint32_t refs[64];
	const uint8_t *first = NULL;
	size_t first_len = 0;

	*port = 0;
	*status = 0;
	if (len < off + 16)
		goto trunc;
	num = get32(s + off);
	max = get32(s + off + 4);
	offset = get32(s + off + 8);
	actual = get32(s + off + 12);
	off += 16;
	if (offset != 0 || actual > max || actual != num || actual > 64)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "endpoint mapper answer has an inconsistent tower array (%u towers, max %u, offset %u, count %u)",
		                      num, max, offset, actual);
	if ((len - off) / 4 < actual)
		goto trunc;
	for (i = 0; i < actual; i++, off += 4)
		refs[i] = get32(s + off);
	for (i = 0; i < actual; i++) {
		uint32_t conf, tlen;

		if (refs[i] == 0)
			continue;
		if (len - off < 8)
			goto trunc;
		conf = get32(s + off);
		tlen = get32(s + off + 4);
		off += 8;
		if (conf != tlen || tlen > len - off)
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "endpoint mapper answer: tower %zu of %u bytes (conformance %u) does not fit",
			                      i + 1, tlen, conf);
		if (first == NULL) {
			first = s + off;
			first_len = tlen;
			first_ref = refs[i];
		}
		off += tlen;
		off = (off + 3) & ~(size_t)3;
		if (off > len)
			goto trunc;
	}
	if (len - off < 4)
		goto trunc;
	*status = get32(s + off);
	off += 4;
	(void)first_ref;
	if (*status != 0) {
		char name[96];
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "endpoint mapper: %s",
		                      *status == AE_EPT_S_NOT_REGISTERED ? "not registered"
		                      : ae_hresult_format(*status, name, sizeof(name)));
	}
	if (first == NULL)
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "endpoint mapper: no tower returned");
	return ae_rpc_epm_tower_port(ctx, first, first_len, port);
trunc:
	return ae_set_message(ctx, AE_ERR_INVALID, "endpoint mapper answer of %zu bytes is truncated", len);
}

/* --- TCP --- */

static ae_err
tcp_connect(ae_ctx *ctx, ae_rpc *rpc)
{
	char portstr[8];
	int e = 0;

	snprintf(portstr, sizeof(portstr), "%u", rpc->port);
	switch (ae_net_connect(rpc->host, portstr, AI_ADDRCONFIG | AI_NUMERICSERV, rpc->timeout, false, &rpc->fd, &e)) {
	case AE_NET_OK:
		return AE_OK;
	case AE_NET_RESOLVE:
		return ae_set_message(ctx, AE_ERR_NETWORK, "cannot resolve the CA host name %s: %s", rpc->host,
		                      gai_strerror(e));
	case AE_NET_TIMEOUT:
		return ae_set_message(ctx, AE_ERR_TIMEOUT,
		                      "connecting to %s on %s port %u: no answer within %d s (%s): check the firewall",
		                      rpc->service, rpc->host, rpc->port, rpc->timeout, rpc->setting);
	default:
		return ae_set_message(ctx, AE_ERR_NETWORK,
		                      "cannot connect to %s on %s port %u: %s: check that the host is the CA and that the firewall lets TCP %u through",
		                      rpc->service, rpc->host, rpc->port, strerror(e), rpc->port);
	}
}

static ae_err
new_conn(ae_ctx *ctx, const ae_conf *conf, const char *host, uint16_t port, const char *service,
         ae_rpc **out)
{
	ae_rpc *rpc;
	ae_err err;

	*out = NULL;
	rpc = ae_rpc_new_fd(-1, host, port, conf != NULL ? conf->rpc_timeout : 30, NULL);
	if (rpc == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	ae_conf_setting(conf, "global", "rpc_timeout", rpc->setting, sizeof(rpc->setting));
	free(rpc->service);
	rpc->service = strdup(service);
	if (rpc->service == NULL) {
		ae_rpc_free(rpc);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	err = tcp_connect(ctx, rpc);
	if (err != AE_OK) {
		ae_rpc_free(rpc);
		return err;
	}
	*out = rpc;
	return AE_OK;
}

/* Sends a bind/alter_context and reads its answer (call id CALL_ID). */
static ae_err
bind_exchange(ae_ctx *ctx, ae_rpc *rpc, ae_buf *pdu_out, uint32_t call_id, uint8_t **ans,
              size_t *ans_len, ae_rpc_pdu *pdu, ae_rpc_bind_ack *ack)
{
	ae_err err;

	*ans = NULL;
	if (pdu_out->failed)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory (or a token too large for a bind)");
	err = ae_rpc_send(ctx, rpc, (const uint8_t *)pdu_out->data, pdu_out->len);
	if (err != AE_OK)
		return err;
	rpc->round_trips++;
	err = ae_rpc_recv_pdu(ctx, rpc, ans, ans_len);
	if (err != AE_OK)
		return err;
	err = ae_rpc_pdu_parse(ctx, *ans, *ans_len, pdu);
	if (err == AE_OK && pdu->call_id != call_id && pdu->ptype != AE_RPC_BIND_NAK)
		err = ae_set_message(ctx, AE_ERR_INVALID, "the answer is for call %u, not %u",
		                     (unsigned)pdu->call_id, (unsigned)call_id);
	if (err == AE_OK)
		err = ae_rpc_parse_bind_ack(ctx, pdu, ack);
	if (err == AE_OK && ack->max_recv < AE_RPC_MIN_FRAG)
		err = ae_set_message(ctx, AE_ERR_INVALID, "the server accepts fragments of only %u bytes",
		                     ack->max_recv);
	return err;
}

static ae_err
epm_lookup(ae_ctx *ctx, const ae_conf *conf, const char *host, const ae_rpc_iface *iface,
           uint16_t *port, unsigned *round_trips)
{
	ae_rpc *rpc = NULL;
	ae_buf bind;
	uint8_t *ans = NULL, *stub = NULL, *resp = NULL;
	size_t ans_len = 0, stub_len = 0, resp_len = 0;
	ae_rpc_pdu pdu;
	ae_rpc_bind_ack ack;
	uint32_t status = 0;
	const char *name = iface->name != NULL ? iface->name : "the interface";
	ae_err err;

	*port = 0;
	ae_buf_init(&bind);
	err = new_conn(ctx, conf, host, AE_RPC_EPM_PORT, "the endpoint mapper", &rpc);
	if (err != AE_OK)
		return ae_prefix_message(ctx, err, "looking up %s on %s", name, host);
	ae_rpc_build_bind(&bind, AE_RPC_BIND, rpc->next_call_id++, AE_RPC_DEFAULT_FRAG, 0, 0,
	                  &ae_rpc_epm_iface, 0, 0, 0, NULL, 0);
	err = bind_exchange(ctx, rpc, &bind, 1, &ans, &ans_len, &pdu, &ack);
	if (err != AE_OK) {
		ae_prefix_message(ctx, err, "binding to the endpoint mapper on %s port %u", host, AE_RPC_EPM_PORT);
		goto cleanup;
	}
	if (ack.max_recv < rpc->max_xmit)
		rpc->max_xmit = ack.max_recv;
	err = ae_rpc_epm_map_stub(ctx, iface, &stub, &stub_len);
	if (err == AE_OK)
		err = ae_rpc_call(ctx, rpc, 3, stub, stub_len, &resp, &resp_len);
	if (err != AE_OK) {
		ae_prefix_message(ctx, err, "asking the endpoint mapper on %s port %u for %s", host,
		                  AE_RPC_EPM_PORT, name);
		goto cleanup;
	}
	err = ae_rpc_epm_parse_map(ctx, resp, resp_len, port, &status);
	if (err == AE_ERR_NOTFOUND) {
		char st[96];
		ae_set_message(ctx, err, "the CA host %s does not offer %s (endpoint mapper: %s): is AD CS running there?",
		               host, name, status == AE_EPT_S_NOT_REGISTERED ? "not registered"
		               : status != 0 ? ae_hresult_format(status, st, sizeof(st)) : "no tower returned");
		goto cleanup;
	}
	if (err != AE_OK) {
		ae_prefix_message(ctx, err, "looking up %s on %s port %u", name, host, AE_RPC_EPM_PORT);
		goto cleanup;
	}
	ae_log(ctx, AE_LOG_DEBUG, "rpc: %s on %s is at TCP port %u", name, host, *port);
cleanup:
	if (rpc != NULL)
		*round_trips += rpc->round_trips;
	ae_buf_clear(&bind);
	free(ans);
	free(stub);
	free(resp);
	ae_rpc_free(rpc);
	return err;
}

/* --- GSS-API --- */

static void
text_gss(ae_buf *b, OM_uint32 code, int type, gss_OID mech)
{
	OM_uint32 minor, ctxv = 0;
	gss_buffer_desc msg;

	do {
		if (gss_display_status(&minor, code, type, mech, &ctxv, &msg) != GSS_S_COMPLETE)
			break;
		if (b->len > 0)
			ae_buf_puts(b, ": ");
		ae_buf_append(b, msg.value, msg.length);
		gss_release_buffer(&minor, &msg);
	} while (ctxv != 0);
}

static ae_err
fail_gss(ae_ctx *ctx, ae_rpc *rpc, OM_uint32 major, OM_uint32 minor, const char *what)
{
	ae_buf b;
	char *text;
	const char *advice;
	ae_err code = major == GSS_S_NO_CRED ? AE_ERR_NOCREDS : AE_ERR_KERBEROS;

	ae_buf_init(&b);
	text_gss(&b, major, GSS_C_GSS_CODE, GSS_C_NO_OID);
	if (minor != 0)
		text_gss(&b, minor, GSS_C_MECH_CODE, (gss_OID)gss_mech_krb5);
	ae_buf_append(&b, "", 0); /* terminated even when GSS-API said nothing */
	text = ae_buf_steal(&b);
	advice = text != NULL && text[0] != '\0' ? ae_krb_advice(text) : NULL;
	if (advice != NULL && strstr(advice, "no ticket-granting") != NULL)
		code = AE_ERR_NOCREDS;
	ae_set_message(ctx, code, "%s: Kerberos to %s for %s on %s port %u failed: %s%s%s%s",
	               what, rpc->principal, rpc->service, rpc->host, rpc->port,
	               text != NULL && text[0] != '\0' ? text : "unknown GSS-API error",
	               advice ? " (" : "", advice ? advice : "", advice ? ")" : "");
	free(text);
	return code;
}

static size_t
sig_size_gss(void *data, size_t len)
{
	ae_rpc *rpc = data;
	gss_iov_buffer_desc iov[2];
	OM_uint32 major, minor;

	memset(iov, 0, sizeof(iov));
	iov[0].type = GSS_IOV_BUFFER_TYPE_HEADER;
	iov[1].type = GSS_IOV_BUFFER_TYPE_DATA;
	iov[1].buffer.length = len;
	major = gss_wrap_iov_length(&minor, rpc->gctx, 1, GSS_C_QOP_DEFAULT, NULL, iov, 2);
	if (GSS_ERROR(major))
		return 0;
	return iov[0].buffer.length;
}

static void
fill_iov(gss_iov_buffer_desc iov[4], uint8_t *buf, size_t len, const uint8_t *token, size_t token_len)
{
	memset(iov, 0, 4 * sizeof(*iov));
	iov[0].type = GSS_IOV_BUFFER_TYPE_HEADER;
	iov[0].buffer.value = (void *)token;
	iov[0].buffer.length = token_len;
	iov[1].type = GSS_IOV_BUFFER_TYPE_EMPTY;   /* PDU header: not signed (no header signing) */
	iov[2].type = GSS_IOV_BUFFER_TYPE_DATA;    /* stub + auth padding */
	iov[2].buffer.value = buf;
	iov[2].buffer.length = len;
	iov[3].type = GSS_IOV_BUFFER_TYPE_EMPTY;   /* sec_trailer: not signed */
}

static ae_err
seal_gss(ae_ctx *ctx, void *data, uint8_t *buf, size_t len, uint8_t *token, size_t token_len)
{
	ae_rpc *rpc = data;
	gss_iov_buffer_desc iov[4];
	OM_uint32 major, minor;
	int conf = 0;

	fill_iov(iov, buf, len, token, token_len);
	major = gss_wrap_iov(&minor, rpc->gctx, 1, GSS_C_QOP_DEFAULT, &conf, iov, 4);
	if (GSS_ERROR(major))
		return fail_gss(ctx, rpc, major, minor, "sealing a request");
	if (!conf || iov[0].buffer.length != token_len)
		return ae_set_message(ctx, AE_ERR_KERBEROS,
		                      "GSS-API sealed without confidentiality or with a %zu-byte token (%zu expected)",
		                      (size_t)iov[0].buffer.length, token_len);
	return AE_OK;
}

static ae_err
unseal_gss(ae_ctx *ctx, void *data, uint8_t *buf, size_t len, const uint8_t *token, size_t token_len)
{
	ae_rpc *rpc = data;
	gss_iov_buffer_desc iov[4];
	OM_uint32 major, minor;
	gss_qop_t qop = 0;
	int conf = 0;

	fill_iov(iov, buf, len, token, token_len);
	major = gss_unwrap_iov(&minor, rpc->gctx, &conf, &qop, iov, 4);
	if (GSS_ERROR(major))
		return fail_gss(ctx, rpc, major, minor, "checking a sealed response");
	if (!conf)
		return ae_set_message(ctx, AE_ERR_DENIED,
		                      "%s on %s port %u sent a response that is signed but not encrypted",
		                      rpc->service, rpc->host, rpc->port);
	return AE_OK;
}

/* Checks the server's SPNEGO answer to our bind or alter_context. */
static ae_err
check_spnego(ae_ctx *ctx, ae_rpc *rpc, const ae_rpc_pdu *pdu, const ae_rpc_bind_ack *ack,
             ae_spnego_resp *sp, const char *what)
{
	ae_err err;

	if (ack->auth == NULL)
		return ae_set_message(ctx, AE_ERR_KERBEROS,
		                      "%s: %s on %s port %u answered without authentication data",
		                      what, rpc->service, rpc->host, rpc->port);
	if (pdu->auth_type != AE_RPC_AUTH_SPNEGO || pdu->auth_level != AE_RPC_AUTH_LEVEL_PRIVACY ||
	    pdu->auth_ctx_id != AE_RPC_AUTH_CTX_ID)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s: the answer's sec_trailer has auth_type %u level %u context %u, not 9/6/%u",
		                      what, pdu->auth_type, pdu->auth_level, (unsigned)pdu->auth_ctx_id,
		                      AE_RPC_AUTH_CTX_ID);
	err = ae_spnego_parse_resp(ctx, ack->auth, ack->auth_len, sp);
	if (err != AE_OK)
		return ae_prefix_message(ctx, err, "%s", what);
	if (sp->neg_state == AE_SPNEGO_REJECT)
		return ae_set_message(ctx, AE_ERR_DENIED,
		                      "%s: %s on %s port %u rejected our Kerberos authentication (SPNEGO reject): check the CA computer's SPN %s and that the caller may log on to it",
		                      what, rpc->service, rpc->host, rpc->port, rpc->principal);
	if (sp->mech == AE_SPNEGO_MECH_OTHER)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s: the server selected a mechanism we did not offer", what);
	return AE_OK;
}

/* Checks the server's mechListMIC, when it sent one, over our mechanism
 * list (RFC 4178 5: it protects the negotiation from downgrades). */
static ae_err
verify_mic(ae_ctx *ctx, ae_rpc *rpc, const ae_spnego_resp *sp)
{
	size_t ml_len;
	const uint8_t *ml = ae_spnego_mech_list(&ml_len);
	gss_buffer_desc msg = { ml_len, (void *)ml }, tokm = { sp->mic_len, (void *)sp->mic };
	OM_uint32 major, minor;

	if (sp->mic == NULL)
		return AE_OK;
	major = gss_verify_mic(&minor, rpc->gctx, &msg, &tokm, NULL);
	if (GSS_ERROR(major))
		return fail_gss(ctx, rpc, major, minor, "checking the server's SPNEGO mechListMIC");
	return AE_OK;
}

static ae_err
authenticate(ae_ctx *ctx, ae_rpc *rpc, const ae_rpc_iface *iface)
{
	OM_uint32 major, minor, ret_flags = 0;
	OM_uint32 want = GSS_C_MUTUAL_FLAG | GSS_C_REPLAY_FLAG | GSS_C_SEQUENCE_FLAG |
	                 GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG | GSS_C_DCE_STYLE;
	gss_buffer_desc name_buf, tok = GSS_C_EMPTY_BUFFER, in = GSS_C_EMPTY_BUFFER;
	gss_buffer_desc mic = GSS_C_EMPTY_BUFFER;
	char *svc = NULL;
	uint8_t *neg = NULL, *ans = NULL;
	size_t neg_len = 0, ans_len = 0, ml_len;
	const uint8_t *ml = ae_spnego_mech_list(&ml_len);
	ae_buf pdu_out;
	ae_rpc_pdu pdu;
	ae_rpc_bind_ack ack;
	ae_spnego_resp sp = { .neg_state = AE_SPNEGO_ABSENT };
	bool send_mic = false;
	uint32_t call_id;
	char step[256];
	ae_err err;

	ae_buf_init(&pdu_out);
	snprintf(step, sizeof(step), "binding to %s on %s port %u", rpc->service, rpc->host, rpc->port);
	if (asprintf(&svc, "host@%s", rpc->host) < 0) {
		svc = NULL;
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	name_buf.value = svc;
	name_buf.length = strlen(svc);
	major = gss_import_name(&minor, &name_buf, GSS_C_NT_HOSTBASED_SERVICE, &rpc->target);
	if (GSS_ERROR(major)) {
		err = fail_gss(ctx, rpc, major, minor, step);
		goto cleanup;
	}
	/* leg 1: AP-REQ (bare, DCE style) in a NegTokenInit */
	major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &rpc->gctx, rpc->target,
	                             (gss_OID)gss_mech_krb5, want, 0, GSS_C_NO_CHANNEL_BINDINGS,
	                             GSS_C_NO_BUFFER, NULL, &tok, &ret_flags, NULL);
	if (GSS_ERROR(major)) {
		err = fail_gss(ctx, rpc, major, minor, step);
		goto cleanup;
	}
	if (major != GSS_S_CONTINUE_NEEDED || tok.length == 0) {
		err = ae_set_message(ctx, AE_ERR_KERBEROS,
		                     "%s: GSS-API did not start a mutual (DCE-style) Kerberos exchange", step);
		goto cleanup;
	}
	err = ae_spnego_init_token(ctx, tok.value, tok.length, &neg, &neg_len);
	gss_release_buffer(&minor, &tok);
	if (err != AE_OK)
		goto cleanup;
	call_id = rpc->next_call_id++;
	ae_rpc_build_bind(&pdu_out, AE_RPC_BIND, call_id, rpc->offer, 0, rpc->ctx_id, iface,
	                  AE_RPC_AUTH_SPNEGO, AE_RPC_AUTH_LEVEL_PRIVACY, AE_RPC_AUTH_CTX_ID, neg, neg_len);
	err = bind_exchange(ctx, rpc, &pdu_out, call_id, &ans, &ans_len, &pdu, &ack);
	if (err == AE_OK)
		err = check_spnego(ctx, rpc, &pdu, &ack, &sp, step);
	if (err != AE_OK) {
		if (strncmp(ae_get_message(ctx), step, strlen(step)) != 0)
			ae_prefix_message(ctx, err, "%s", step);
		goto cleanup;
	}
	if (sp.token == NULL || sp.token_len == 0) {
		err = ae_set_message(ctx, AE_ERR_KERBEROS, "%s: the bind_ack carries no Kerberos AP-REP (SPNEGO %s)",
		                     step, ae_spnego_state_name(sp.neg_state));
		goto cleanup;
	}
	rpc->max_xmit = ack.max_recv < rpc->offer ? ack.max_recv : rpc->offer;
	/* leg 2 -> leg 3: the server's AP-REP gives our final AP-REP */
	in.value = (void *)sp.token;
	in.length = sp.token_len;
	major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &rpc->gctx, rpc->target,
	                             (gss_OID)gss_mech_krb5, want, 0, GSS_C_NO_CHANNEL_BINDINGS,
	                             &in, NULL, &tok, &ret_flags, NULL);
	if (GSS_ERROR(major)) {
		err = fail_gss(ctx, rpc, major, minor, step);
		goto cleanup;
	}
	if (major != GSS_S_COMPLETE) {
		err = ae_set_message(ctx, AE_ERR_KERBEROS, "%s: the Kerberos exchange did not complete after the server's AP-REP", step);
		goto cleanup;
	}
	if (!(ret_flags & GSS_C_CONF_FLAG) || !(ret_flags & GSS_C_MUTUAL_FLAG) || !(ret_flags & GSS_C_INTEG_FLAG)) {
		err = ae_set_message(ctx, AE_ERR_KERBEROS,
		                     "%s: the Kerberos context lacks %s, which packet privacy needs",
		                     step, !(ret_flags & GSS_C_CONF_FLAG) ? "confidentiality"
		                     : !(ret_flags & GSS_C_MUTUAL_FLAG) ? "mutual authentication" : "integrity");
		goto cleanup;
	}
	if ((err = verify_mic(ctx, rpc, &sp)) != AE_OK)
		goto cleanup;
	send_mic = sp.neg_state == AE_SPNEGO_REQUEST_MIC || sp.mic != NULL;
	if (send_mic) {
		gss_buffer_desc msg = { ml_len, (void *)ml };
		major = gss_get_mic(&minor, rpc->gctx, GSS_C_QOP_DEFAULT, &msg, &mic);
		if (GSS_ERROR(major)) {
			err = fail_gss(ctx, rpc, major, minor, "computing the SPNEGO mechListMIC");
			goto cleanup;
		}
	}
	free(neg);
	neg = NULL;
	err = ae_spnego_resp_token(ctx, tok.length > 0 ? tok.value : (const uint8_t *)"", tok.length,
	                           send_mic ? mic.value : NULL, mic.length, &neg, &neg_len);
	if (err != AE_OK)
		goto cleanup;
	/* leg 3 in an alter_context */
	ae_buf_clear(&pdu_out);
	free(ans);
	ans = NULL;
	snprintf(step, sizeof(step), "completing Kerberos (alter_context) with %s on %s port %u",
	         rpc->service, rpc->host, rpc->port);
	call_id = rpc->next_call_id++;
	ae_rpc_build_bind(&pdu_out, AE_RPC_ALTER_CONTEXT, call_id, rpc->offer, ack.assoc_group,
	                  rpc->ctx_id, iface, AE_RPC_AUTH_SPNEGO, AE_RPC_AUTH_LEVEL_PRIVACY,
	                  AE_RPC_AUTH_CTX_ID, neg, neg_len);
	err = bind_exchange(ctx, rpc, &pdu_out, call_id, &ans, &ans_len, &pdu, &ack);
	if (err != AE_OK) {
		ae_prefix_message(ctx, err, "%s", step);
		goto cleanup;
	}
	if (ack.auth != NULL) {
		ae_spnego_resp_clear(&sp);
		err = check_spnego(ctx, rpc, &pdu, &ack, &sp, step);
		if (err != AE_OK)
			goto cleanup;
		if (sp.neg_state != AE_SPNEGO_ACCEPT_COMPLETED && sp.neg_state != AE_SPNEGO_ABSENT) {
			err = ae_set_message(ctx, AE_ERR_KERBEROS, "%s: SPNEGO ended in state %s, not accept-completed",
			                     step, ae_spnego_state_name(sp.neg_state));
			goto cleanup;
		}
		if ((err = verify_mic(ctx, rpc, &sp)) != AE_OK)
			goto cleanup;
	}
	rpc->sealer.sig_size = sig_size_gss;
	rpc->sealer.seal = seal_gss;
	rpc->sealer.unseal = unseal_gss;
	rpc->sealer.data = rpc;
	rpc->sealer.auth_type = AE_RPC_AUTH_SPNEGO;
	rpc->sealer.auth_level = AE_RPC_AUTH_LEVEL_PRIVACY;
	rpc->sealer.auth_ctx_id = AE_RPC_AUTH_CTX_ID;
	rpc->have_sealer = true;
	if (sig_size_gss(rpc, 16) == 0) {
		err = ae_set_message(ctx, AE_ERR_KERBEROS, "%s: GSS-API cannot size a seal token", step);
		goto cleanup;
	}
	ae_log(ctx, AE_LOG_DEBUG, "rpc: bound to %s on %s port %u with Kerberos (%s), max fragment %u, seal token %zu bytes",
	       rpc->service, rpc->host, rpc->port, rpc->principal, rpc->max_xmit, sig_size_gss(rpc, 16));
cleanup:
	gss_release_buffer(&minor, &tok);
	gss_release_buffer(&minor, &mic);
	ae_buf_clear(&pdu_out);
	free(svc);
	free(neg);
	free(ans);
	ae_spnego_resp_clear(&sp);
	return err;
}

ae_err
ae_rpc_connect_opts(ae_ctx *ctx, const ae_conf *conf, const char *host, const ae_rpc_iface *iface,
                    const ae_rpc_opts *opts, ae_rpc **out)
{
	ae_rpc *rpc = NULL;
	uint16_t port = opts != NULL ? opts->port : 0;
	unsigned epm_trips = 0;
	const char *name = iface->name != NULL ? iface->name : "the RPC interface";
	ae_err err;

	*out = NULL;
	ae_return_val_if_fail(host != NULL && iface != NULL, AE_ERR_INTERNAL);
	if (port == 0) {
		err = epm_lookup(ctx, conf, host, iface, &port, &epm_trips);
		if (err != AE_OK)
			return err;
	}
	err = new_conn(ctx, conf, host, port, name, &rpc);
	if (err != AE_OK)
		return err;
	rpc->round_trips = epm_trips;
	if (asprintf(&rpc->principal, "host/%s", host) < 0) {
		rpc->principal = NULL;
		ae_rpc_free(rpc);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	if (opts != NULL && opts->max_frag != 0) {
		rpc->offer = opts->max_frag < AE_RPC_MIN_FRAG ? AE_RPC_MIN_FRAG : opts->max_frag;
		rpc->max_xmit = rpc->offer;
	}
	err = authenticate(ctx, rpc, iface);
	if (err != AE_OK) {
		ae_rpc_free(rpc);
		return err;
	}
	*out = rpc;
	return AE_OK;
}

ae_err
ae_rpc_connect(ae_ctx *ctx, const ae_conf *conf, const char *host, const ae_rpc_iface *iface,
               ae_rpc **out)
{
	/* Test hook: $AE_TEST_RPC_MAX_FRAG forces small fragments so the lab
	 * tests exercise fragmentation end to end. */
	const char *forced = ae_test_env("RPC_MAX_FRAG");
	ae_rpc_opts opts = { 0 };

	if (forced != NULL) {
		long v = strtol(forced, NULL, 10);
		if (v >= 256 && v <= 5840) {
			opts.max_frag = (uint16_t)v;
			return ae_rpc_connect_opts(ctx, conf, host, iface, &opts, out);
		}
	}
	return ae_rpc_connect_opts(ctx, conf, host, iface, NULL, out);
}
