/*
 * spnego.h - the few SPNEGO (RFC 4178, MS-SPNG) tokens a DCE/RPC client
 * with Kerberos needs: NegTokenInit carrying the AP-REQ, NegTokenResp
 * carrying the client's third leg, and a defensive parser for the
 * server's NegTokenResp (untrusted input).
 */
#ifndef AE_SPNEGO_H
#define AE_SPNEGO_H

#include "error.h"

#include <stddef.h>
#include <stdint.h>

/* negState values (RFC 4178 4.2.2); AE_SPNEGO_ABSENT when not sent. */
enum {
	AE_SPNEGO_ACCEPT_COMPLETED = 0,
	AE_SPNEGO_ACCEPT_INCOMPLETE = 1,
	AE_SPNEGO_REJECT = 2,
	AE_SPNEGO_REQUEST_MIC = 3,
	AE_SPNEGO_ABSENT = -1,
};

/* Which mechanism the server selected (supportedMech). */
enum {
	AE_SPNEGO_MECH_NONE = 0,   /* not sent */
	AE_SPNEGO_MECH_KRB5,       /* 1.2.840.113554.1.2.2 */
	AE_SPNEGO_MECH_MS_KRB5,    /* 1.2.840.48018.1.2.2 */
	AE_SPNEGO_MECH_OTHER,      /* anything else: we did not offer it */
};

/* A parsed NegTokenResp; it owns token and mic (ae_spnego_resp_clear). */
typedef struct {
	int neg_state;               /* AE_SPNEGO_* state or AE_SPNEGO_ABSENT */
	int mech;                    /* AE_SPNEGO_MECH_* */
	uint8_t *token;              /* responseToken, NULL if absent */
	size_t token_len;
	uint8_t *mic;                /* mechListMIC, NULL if absent */
	size_t mic_len;
} ae_spnego_resp;

/* The DER MechTypeList we offer: SEQUENCE { MS-KRB5, KRB5 }.  This is also
 * what a mechListMIC is computed over.  Static, *LEN set. */
const uint8_t *ae_spnego_mech_list(size_t *len);

/* GSS-framed NegTokenInit:
 *   [APPLICATION 0] { 1.3.6.1.5.5.2, [0] { [0] mechTypes, [2] mechToken } }
 * *OUT is malloc'd (free()). */
ae_err ae_spnego_init_token(ae_ctx *ctx, const uint8_t *mech_token, size_t len,
                            uint8_t **out, size_t *out_len);

/* NegTokenResp [1] { [2] responseToken, [3] mechListMIC if MIC != NULL }
 * without negState (the initiator's continuation).  *OUT malloc'd. */
ae_err ae_spnego_resp_token(ae_ctx *ctx, const uint8_t *token, size_t len,
                            const uint8_t *mic, size_t mic_len,
                            uint8_t **out, size_t *out_len);

/* Parses a NegTokenResp from the server (untrusted): all of BUF must be one
 * NegTokenResp in DER (tags, field order, definite minimal lengths, nothing
 * trailing) with a known negState.  *OUT is overwritten, empty on failure
 * (message on CTX); its copies are freed by ae_spnego_resp_clear. */
ae_err ae_spnego_parse_resp(ae_ctx *ctx, const uint8_t *buf, size_t len, ae_spnego_resp *out);

/* Frees what a parse put in R and empties it; R may be NULL. */
void ae_spnego_resp_clear(ae_spnego_resp *r);

/* "accept-completed", "reject", ...; never NULL. */
const char *ae_spnego_state_name(int state);

#endif
