/*
 * rpc.h - a small connection-oriented DCE/RPC client (ncacn_ip_tcp):
 * endpoint-mapper lookup, bind with SPNEGO/Kerberos in DCE style at packet
 * privacy, sealed and fragmented calls.
 *
 * Enough for ICertPassage (MS-ICPR): one presentation context, NDR 2.0,
 * no header signing, no verification trailer, no multiplexing.  Everything
 * the server sends is treated as hostile and bounds-checked.
 */
#ifndef AE_RPC_H
#define AE_RPC_H

#include "conf.h"
#include "error.h"
#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ae_rpc ae_rpc;

/* An abstract (or transfer) syntax: UUID in wire layout (first three fields
 * little-endian, as in a bind PDU), major and minor version. */
typedef struct {
	uint8_t uuid[16];
	uint16_t major, minor;
	const char *name; /* for messages ("ICertPassage"); may be NULL */
} ae_rpc_iface;

extern const ae_rpc_iface ae_rpc_epm_iface;  /* e1af8308-5d1f-11c9-91a4-08002b14a0fa v3.0 */
extern const ae_rpc_iface ae_rpc_ndr_syntax; /* 8a885d04-1ceb-11c9-9fe8-08002b104860 v2 */

typedef struct {
	uint16_t max_frag; /* 0: 5840; else the max_xmit/max_recv we offer (>= 256) */
	uint16_t port;     /* 0: ask the endpoint mapper on port 135; else connect here */
} ae_rpc_opts;

/* Resolves the dynamic port of IFACE on HOST through the endpoint mapper
 * (TCP 135, unauthenticated bind, ept_map), connects, and binds with SPNEGO
 * (auth_type 9) carrying Kerberos in DCE style to host/HOST at packet
 * privacy, with the process's current Kerberos credentials.  Every
 * connect/send/receive is bounded by conf->rpc_timeout.  Errors name the
 * step, host and port, and for Kerberos the principal and advice.
 * *OUT is freed with ae_rpc_free(). */
ae_err ae_rpc_connect(ae_ctx *ctx, const ae_conf *conf, const char *host,
                      const ae_rpc_iface *iface, ae_rpc **out);
/* The same with options (OPTS may be NULL). */
ae_err ae_rpc_connect_opts(ae_ctx *ctx, const ae_conf *conf, const char *host,
                           const ae_rpc_iface *iface, const ae_rpc_opts *opts, ae_rpc **out);

/* One call: marshalled STUB in, the response stub out (*RESP malloc'd,
 * free()).  Fragments both ways, each fragment sealed separately.  A fault
 * becomes AE_ERR_DENIED (access denied), AE_ERR_UNSUPPORTED (unknown
 * interface or operation) or AE_ERR_NETWORK, with the status named;
 * ae_rpc_last_fault() has the number. */
ae_err ae_rpc_call(ae_ctx *ctx, ae_rpc *rpc, uint16_t opnum, const uint8_t *stub, size_t len,
                   uint8_t **resp, size_t *resp_len);

/* Lowers the largest fragment we send (e.g. 1024 to exercise
 * fragmentation); never above what the server accepts. */
void ae_rpc_set_max_frag(ae_rpc *rpc, uint16_t max);
/* Request/answer exchanges so far, the endpoint-mapper lookup (bind +
 * ept_map) and the bind/alter_context included. */
unsigned ae_rpc_round_trips(const ae_rpc *rpc);
/* The status of the last fault PDU received, 0 if none. */
uint32_t ae_rpc_last_fault(const ae_rpc *rpc);
const char *ae_rpc_host(const ae_rpc *rpc);
uint16_t ae_rpc_port(const ae_rpc *rpc);
void ae_rpc_free(ae_rpc *rpc);

/* ------------------------------------------------------------------
 * Building blocks, exposed for the unit tests and fuzz targets.
 * ------------------------------------------------------------------ */

enum {
	AE_RPC_REQUEST = 0,
	AE_RPC_RESPONSE = 2,
	AE_RPC_FAULT = 3,
	AE_RPC_BIND = 11,
	AE_RPC_BIND_ACK = 12,
	AE_RPC_BIND_NAK = 13,
	AE_RPC_ALTER_CONTEXT = 14,
	AE_RPC_ALTER_CONTEXT_RESP = 15,
	AE_RPC_AUTH3 = 16,
	AE_RPC_SHUTDOWN = 17,
};
#define AE_RPC_PFC_FIRST_FRAG 0x01
#define AE_RPC_PFC_LAST_FRAG 0x02
#define AE_RPC_AUTH_SPNEGO 9
#define AE_RPC_AUTH_LEVEL_PRIVACY 6
#define AE_RPC_HDR_LEN 16
#define AE_RPC_REQ_HDR_LEN 24
#define AE_RPC_TRAILER_LEN 8
#define AE_RPC_DEFAULT_FRAG 5840
/* Reassembled responses larger than this are refused. */
#define AE_RPC_MAX_STUB (16u * 1024 * 1024)

/* One PDU, parsed; pointers point into the parsed buffer. */
typedef struct {
	uint8_t ptype, flags;
	uint16_t frag_len, auth_len;
	uint32_t call_id;
	const uint8_t *body;   /* after the 16-byte header, up to the sec_trailer */
	size_t body_len;
	/* sec_trailer, when auth_len > 0 */
	uint8_t auth_type, auth_level, auth_pad;
	uint32_t auth_ctx_id;
	const uint8_t *auth;   /* auth_value (auth_len bytes), NULL without */
} ae_rpc_pdu;

/* Checks the common header (version 5.0/5.1, little-endian NDR data
 * representation, frag_length == LEN, sec_trailer inside the PDU). */
ae_err ae_rpc_pdu_parse(ae_ctx *ctx, const uint8_t *buf, size_t len, ae_rpc_pdu *out);

/* Appends a bind or alter_context PDU (PTYPE) with one presentation
 * context (CTX_ID, IFACE over NDR 2.0) and, if AUTH != NULL, a sec_trailer
 * and auth_value.  pfc_flags FIRST|LAST, no header signing. */
void ae_rpc_build_bind(ae_buf *out, uint8_t ptype, uint32_t call_id, uint16_t max_frag,
                       uint32_t assoc_group, uint16_t ctx_id, const ae_rpc_iface *iface,
                       uint8_t auth_type, uint8_t auth_level, uint32_t auth_ctx_id,
                       const uint8_t *auth, size_t auth_len);

typedef struct {
	uint16_t max_xmit, max_recv;
	uint32_t assoc_group;
	uint16_t result, reason;   /* of the first (only) context */
	const uint8_t *auth;       /* auth_value, NULL without */
	size_t auth_len;
} ae_rpc_bind_ack;

/* Parses a bind_ack or alter_context_resp; a bind_nak, a context rejection
 * or a malformed answer becomes an error naming the reason. */
ae_err ae_rpc_parse_bind_ack(ae_ctx *ctx, const ae_rpc_pdu *pdu, ae_rpc_bind_ack *out);
/* "authentication_type_not_recognized", ...; never NULL. */
const char *ae_rpc_bind_nak_reason(uint16_t reason);

/* Per-fragment protection.  The GSS-API implementation lives in rpc.c;
 * tests supply their own. */
typedef struct {
	/* Size of the token sealing LEN bytes; 0 on failure. */
	size_t (*sig_size)(void *data, size_t len);
	/* Encrypts BUF in place, writes exactly TOKEN_LEN bytes of token. */
	ae_err (*seal)(ae_ctx *ctx, void *data, uint8_t *buf, size_t len,
	               uint8_t *token, size_t token_len);
	/* Decrypts BUF in place after checking TOKEN. */
	ae_err (*unseal)(ae_ctx *ctx, void *data, uint8_t *buf, size_t len,
	                 const uint8_t *token, size_t token_len);
	void *data;
	uint8_t auth_type, auth_level;
	uint32_t auth_ctx_id;
} ae_rpc_sealer;

/* Appends the fragments of one request (PTYPE AE_RPC_REQUEST, OPNUM) or
 * response (AE_RPC_RESPONSE) carrying STUB, each at most MAX_FRAG bytes,
 * sealed with SEALER (NULL: no auth).  *NFRAGS gets the count. */
ae_err ae_rpc_build_frags(ae_ctx *ctx, ae_buf *out, uint8_t ptype, uint32_t call_id,
                          uint16_t ctx_id, uint16_t opnum, const uint8_t *stub, size_t len,
                          uint16_t max_frag, const ae_rpc_sealer *sealer, unsigned *nfrags);

/* An ae_rpc over an already connected socket FD (taken over), sealing
 * with SEALER (copied; NULL: unauthenticated); TIMEOUT seconds per I/O. */
ae_rpc *ae_rpc_new_fd(int fd, const char *host, uint16_t port, int timeout,
                      const ae_rpc_sealer *sealer);

/* Handles one received fragment BUF (LEN bytes, unsealed in place) of a
 * PTYPE (AE_RPC_RESPONSE, or AE_RPC_REQUEST for a test server) with
 * CALL_ID: checks it, appends its stub to STUB, sets *LAST.  A fault is an
 * error naming the status. */
ae_err ae_rpc_take_fragment(ae_ctx *ctx, ae_rpc *rpc, uint8_t *buf, size_t len, uint8_t ptype,
                            uint32_t call_id, bool first, ae_buf *stub, bool *last);

/* Raw PDU I/O under the rpc's timeout: one whole PDU in (*BUF malloc'd). */
ae_err ae_rpc_recv_pdu(ae_ctx *ctx, ae_rpc *rpc, uint8_t **buf, size_t *len);
ae_err ae_rpc_send(ae_ctx *ctx, ae_rpc *rpc, const uint8_t *buf, size_t len);

/* ept_map (opnum 3) request stub for IFACE over ncacn_ip_tcp: object
 * (zero UUID), a 5-floor tower, zero entry handle, max_towers 4.
 * *STUB malloc'd. */
ae_err ae_rpc_epm_map_stub(ae_ctx *ctx, const ae_rpc_iface *iface, uint8_t **stub, size_t *len);
/* Parses the ept_map response stub: the TCP port of the first tower.
 * *STATUS gets the call's status (0, EPT_S_NOT_REGISTERED, ...); a non-zero
 * status or no tower is AE_ERR_NOTFOUND. */
ae_err ae_rpc_epm_parse_map(ae_ctx *ctx, const uint8_t *stub, size_t len, uint16_t *port,
                            uint32_t *status);
/* The 5-floor tower alone (for tests): *TOWER malloc'd. */
ae_err ae_rpc_epm_tower(ae_ctx *ctx, const ae_rpc_iface *iface, uint8_t **tower, size_t *len);
/* The TCP port in a tower's floors, or an error. */
ae_err ae_rpc_epm_tower_port(ae_ctx *ctx, const uint8_t *tower, size_t len, uint16_t *port);

#endif
