/*
 * spnego.c - SPNEGO NegTokenInit / NegTokenResp (RFC 4178) as OpenSSL ASN.1
 * templates.
 *
 * Only what the three-leg Kerberos exchange of DCE/RPC needs.  The server's
 * token is hostile: OpenSSL's template decoder checks tags, lengths and
 * field order; on top of that the whole input must be one NegTokenResp in
 * DER (re-encoding it gives the same bytes: no indefinite or padded
 * lengths, nothing trailing) with a negState RFC 4178 knows.
 */
#include "config.h"

#include "spnego.h"
#include "util.h"

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include <stdlib.h>
#include <string.h>

#define OID_SPNEGO "1.3.6.1.5.5.2"
#define OID_KRB5 "1.2.840.113554.1.2.2"
#define OID_MS_KRB5 "1.2.840.48018.1.2.2" /* Windows 2000's mistaken krb5 OID */

/* MechTypeList SEQUENCE OF MechType { MS-KRB5, KRB5 }: these bytes are
 * what a mechListMIC covers, so the NegTokenInit is built from them. */
static const uint8_t mech_list[] = {
	0x30, 0x16,
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02,
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02,
};

/* Nested tokens are at most a few KB; a bound well above that keeps sizes
 * far from overflow. */
#define AE_SPNEGO_MAX_TOKEN (1u << 20)

/* NegTokenInit ::= SEQUENCE { mechTypes [0] MechTypeList, reqFlags [1],
 * mechToken [2] OCTET STRING OPTIONAL, mechListMIC [3] } (explicit tags):
 * we send neither reqFlags nor mechListMIC. */
typedef struct {
	STACK_OF(ASN1_OBJECT) *mech_types;
	ASN1_OCTET_STRING *mech_token;
} AE_NEG_TOKEN_INIT;

ASN1_SEQUENCE(AE_NEG_TOKEN_INIT) = {
	ASN1_EXP_SEQUENCE_OF(AE_NEG_TOKEN_INIT, mech_types, ASN1_OBJECT, 0),
	ASN1_EXP_OPT(AE_NEG_TOKEN_INIT, mech_token, ASN1_OCTET_STRING, 2),
} static_ASN1_SEQUENCE_END(AE_NEG_TOKEN_INIT)

/* NegTokenResp ::= SEQUENCE { negState [0] ENUMERATED OPTIONAL,
 * supportedMech [1] MechType OPTIONAL, responseToken [2] OCTET STRING
 * OPTIONAL, mechListMIC [3] OCTET STRING OPTIONAL } */
typedef struct {
	ASN1_ENUMERATED *neg_state;
	ASN1_OBJECT *supported_mech;
	ASN1_OCTET_STRING *response_token;
	ASN1_OCTET_STRING *mech_list_mic;
} AE_NEG_TOKEN_RESP;

ASN1_SEQUENCE(AE_NEG_TOKEN_RESP) = {
	ASN1_EXP_OPT(AE_NEG_TOKEN_RESP, neg_state, ASN1_ENUMERATED, 0),
	ASN1_EXP_OPT(AE_NEG_TOKEN_RESP, supported_mech, ASN1_OBJECT, 1),
	ASN1_EXP_OPT(AE_NEG_TOKEN_RESP, response_token, ASN1_OCTET_STRING, 2),
	ASN1_EXP_OPT(AE_NEG_TOKEN_RESP, mech_list_mic, ASN1_OCTET_STRING, 3),
} static_ASN1_SEQUENCE_END(AE_NEG_TOKEN_RESP)

/* NegotiationToken ::= CHOICE { negTokenInit [0], negTokenResp [1] } */
typedef struct {
	int type;
	union {
		AE_NEG_TOKEN_INIT *init;
		AE_NEG_TOKEN_RESP *resp;
	} value;
} AE_NEGOTIATION_TOKEN;

ASN1_CHOICE(AE_NEGOTIATION_TOKEN) = {
	ASN1_EXP(AE_NEGOTIATION_TOKEN, value.init, AE_NEG_TOKEN_INIT, 0),
	ASN1_EXP(AE_NEGOTIATION_TOKEN, value.resp, AE_NEG_TOKEN_RESP, 1),
} static_ASN1_CHOICE_END(AE_NEGOTIATION_TOKEN)

/* InitialContextToken ::= [APPLICATION 0] IMPLICIT SEQUENCE { thisMech,
 * innerContextToken } (RFC 2743 3.1), here with SPNEGO's inner token.
 * The APPLICATION tag is an implicit tag on the SEQUENCE item. */
typedef struct {
	ASN1_OBJECT *this_mech;
	AE_NEGOTIATION_TOKEN *inner;
} AE_GSS_TOKEN;

ASN1_SEQUENCE(AE_GSS_TOKEN) = {
	ASN1_SIMPLE(AE_GSS_TOKEN, this_mech, ASN1_OBJECT),
	ASN1_SIMPLE(AE_GSS_TOKEN, inner, AE_NEGOTIATION_TOKEN),
} static_ASN1_SEQUENCE_END(AE_GSS_TOKEN)

ASN1_ITEM_TEMPLATE(AE_GSS_FRAMED) =
	ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_IMPTAG | ASN1_TFLG_APPLICATION, 0, token, AE_GSS_TOKEN)
static_ASN1_ITEM_TEMPLATE_END(AE_GSS_FRAMED)

ASN1_ITEM_TEMPLATE(AE_MECH_TYPES) =
	ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, mechTypes, ASN1_OBJECT)
static_ASN1_ITEM_TEMPLATE_END(AE_MECH_TYPES)

const uint8_t *
ae_spnego_mech_list(size_t *len)
{
	*len = sizeof(mech_list);
	return mech_list;
}

const char *
ae_spnego_state_name(int state)
{
	switch (state) {
	case AE_SPNEGO_ACCEPT_COMPLETED: return "accept-completed";
	case AE_SPNEGO_ACCEPT_INCOMPLETE: return "accept-incomplete";
	case AE_SPNEGO_REJECT: return "reject";
	case AE_SPNEGO_REQUEST_MIC: return "request-mic";
	case AE_SPNEGO_ABSENT: return "absent";
	default: return "unknown";
	}
}

/* --- writer --- */

/* An OCTET STRING holding LEN bytes of P (P NULL: NULL, no error). */
static bool
octets(const uint8_t *p, size_t len, ASN1_OCTET_STRING **out)
{
	*out = NULL;
	if (p == NULL)
		return true;
	*out = ASN1_OCTET_STRING_new();
	return *out != NULL && ASN1_OCTET_STRING_set(*out, p, (int)len);
}

/* VALUE's DER in a malloc'd *OUT. */
static ae_err
encode(ae_ctx *ctx, const void *value, const ASN1_ITEM *item, bool ok, uint8_t **out, size_t *out_len)
{
	int n = ok ? ASN1_item_i2d((const ASN1_VALUE *)value, NULL, item) : -1;
	uint8_t *buf, *p;

	ERR_clear_error();
	if (n <= 0)
		return ae_set_message(ctx, AE_ERR_NOMEM, "cannot encode a SPNEGO token (out of memory?)");
	buf = malloc((size_t)n);
	if (buf == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	p = buf;
	if (ASN1_item_i2d((const ASN1_VALUE *)value, &p, item) != n) {
		ERR_clear_error();
		free(buf);
		return ae_set_message(ctx, AE_ERR_INTERNAL, "SPNEGO encoder size mismatch");
	}
	*out = buf;
	*out_len = (size_t)n;
	return AE_OK;
}

ae_err
ae_spnego_init_token(ae_ctx *ctx, const uint8_t *mech_token, size_t len,
                     uint8_t **out, size_t *out_len)
{
	AE_GSS_TOKEN *gss = NULL;
	AE_NEG_TOKEN_INIT *init = NULL;
	const unsigned char *p = mech_list;
	ae_err err;
	bool ok;

	*out = NULL;
	*out_len = 0;
	if (len > AE_SPNEGO_MAX_TOKEN)
		return ae_set_message(ctx, AE_ERR_INVALID, "Kerberos token of %zu bytes is too large for SPNEGO", len);
	gss = (AE_GSS_TOKEN *)ASN1_item_new(ASN1_ITEM_rptr(AE_GSS_TOKEN));
	ok = gss != NULL && (gss->this_mech = OBJ_txt2obj(OID_SPNEGO, 1)) != NULL &&
	     (init = (AE_NEG_TOKEN_INIT *)ASN1_item_new(ASN1_ITEM_rptr(AE_NEG_TOKEN_INIT))) != NULL;
	if (ok) {
		gss->inner->type = 0;
		gss->inner->value.init = init;
		sk_ASN1_OBJECT_free(init->mech_types);
		init->mech_types = (STACK_OF(ASN1_OBJECT) *)ASN1_item_d2i(NULL, &p, sizeof(mech_list),
		                                                          ASN1_ITEM_rptr(AE_MECH_TYPES));
		ok = init->mech_types != NULL && octets(mech_token != NULL ? mech_token : (const uint8_t *)"", len,
		                                        &init->mech_token);
	}
	err = encode(ctx, gss, ASN1_ITEM_rptr(AE_GSS_FRAMED), ok, out, out_len);
	ASN1_item_free((ASN1_VALUE *)gss, ASN1_ITEM_rptr(AE_GSS_TOKEN));
	return err;
}

ae_err
ae_spnego_resp_token(ae_ctx *ctx, const uint8_t *token, size_t len,
                     const uint8_t *mic, size_t mic_len, uint8_t **out, size_t *out_len)
{
	AE_NEGOTIATION_TOKEN *neg = NULL;
	AE_NEG_TOKEN_RESP *resp = NULL;
	ae_err err;
	bool ok;

	*out = NULL;
	*out_len = 0;
	if (len > AE_SPNEGO_MAX_TOKEN || mic_len > AE_SPNEGO_MAX_TOKEN)
		return ae_set_message(ctx, AE_ERR_INVALID, "Kerberos token of %zu bytes is too large for SPNEGO", len);
	neg = (AE_NEGOTIATION_TOKEN *)ASN1_item_new(ASN1_ITEM_rptr(AE_NEGOTIATION_TOKEN));
	ok = neg != NULL && (resp = (AE_NEG_TOKEN_RESP *)ASN1_item_new(ASN1_ITEM_rptr(AE_NEG_TOKEN_RESP))) != NULL;
	if (ok) {
		neg->type = 1;
		neg->value.resp = resp;
		ok = octets(token, len, &resp->response_token) && octets(mic, mic_len, &resp->mech_list_mic);
	}
	err = encode(ctx, neg, ASN1_ITEM_rptr(AE_NEGOTIATION_TOKEN), ok, out, out_len);
	ASN1_item_free((ASN1_VALUE *)neg, ASN1_ITEM_rptr(AE_NEGOTIATION_TOKEN));
	return err;
}

/* --- reader --- */

/* A malloc'd copy of S (never NULL for an empty one) into *OUT. */
static bool
copy_octets(const ASN1_OCTET_STRING *s, uint8_t **out, size_t *out_len)
{
	size_t n;

	if (s == NULL)
		return true;
	n = (size_t)ASN1_STRING_length(s);
	*out = malloc(n > 0 ? n : 1);
	if (*out == NULL)
		return false;
	memcpy(*out, ASN1_STRING_get0_data(s), n);
	*out_len = n;
	return true;
}

/* The whole of BUF decodes as NEG and re-encodes to the same bytes. */
static bool
is_der(const AE_NEGOTIATION_TOKEN *neg, const uint8_t *buf, size_t len)
{
	unsigned char *der = NULL;
	int n = ASN1_item_i2d((const ASN1_VALUE *)neg, &der, ASN1_ITEM_rptr(AE_NEGOTIATION_TOKEN));
	bool same = n > 0 && (size_t)n == len && memcmp(der, buf, len) == 0;

	OPENSSL_free(der);
	return same;
}

ae_err
ae_spnego_parse_resp(ae_ctx *ctx, const uint8_t *buf, size_t len, ae_spnego_resp *out)
{
	AE_NEGOTIATION_TOKEN *neg = NULL;
	AE_NEG_TOKEN_RESP *resp;
	ae_spnego_resp r = { .neg_state = AE_SPNEGO_ABSENT, .mech = AE_SPNEGO_MECH_NONE };
	const unsigned char *p = buf;
	const char *why = NULL;
	char oid[64];
	long state;
	ae_err err = AE_ERR_INVALID;

	memset(out, 0, sizeof(*out));
	out->neg_state = AE_SPNEGO_ABSENT;
	if (buf == NULL || len == 0 || len > AE_SPNEGO_MAX_TOKEN) {
		why = len == 0 ? "empty token" : "too large";
		goto cleanup;
	}
	neg = (AE_NEGOTIATION_TOKEN *)ASN1_item_d2i(NULL, &p, (long)len, ASN1_ITEM_rptr(AE_NEGOTIATION_TOKEN));
	if (buf[0] == 0x60 || (neg != NULL && neg->type != 1))
		why = "a NegTokenInit where a NegTokenResp belongs";
	else if (neg == NULL)
		why = "not a NegTokenResp ([1] SEQUENCE { [0] negState, [1] supportedMech, [2] responseToken, [3] mechListMIC })";
	else if ((size_t)(p - buf) != len)
		why = "bytes after the NegTokenResp";
	else if (!is_der(neg, buf, len))
		why = "not DER (indefinite or padded lengths)";
	if (why != NULL)
		goto cleanup;
	resp = neg->value.resp;
	if (resp->neg_state != NULL) {
		state = ASN1_ENUMERATED_get(resp->neg_state);
		if (state < AE_SPNEGO_ACCEPT_COMPLETED || state > AE_SPNEGO_REQUEST_MIC) {
			why = "unknown negState";
			goto cleanup;
		}
		r.neg_state = (int)state;
	}
	if (resp->supported_mech != NULL) {
		if (OBJ_obj2txt(oid, sizeof(oid), resp->supported_mech, 1) <= 0)
			oid[0] = '\0';
		r.mech = strcmp(oid, OID_KRB5) == 0 ? AE_SPNEGO_MECH_KRB5
		         : strcmp(oid, OID_MS_KRB5) == 0 ? AE_SPNEGO_MECH_MS_KRB5 : AE_SPNEGO_MECH_OTHER;
	}
	if (!copy_octets(resp->response_token, &r.token, &r.token_len) ||
	    !copy_octets(resp->mech_list_mic, &r.mic, &r.mic_len)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	*out = r;
	memset(&r, 0, sizeof(r));
	err = AE_OK;

cleanup:
	if (why != NULL)
		err = ae_set_message(ctx, AE_ERR_INVALID, "malformed SPNEGO answer from the server: %s", why);
	ERR_clear_error();
	ae_spnego_resp_clear(&r);
	ASN1_item_free((ASN1_VALUE *)neg, ASN1_ITEM_rptr(AE_NEGOTIATION_TOKEN));
	return err;
}

void
ae_spnego_resp_clear(ae_spnego_resp *r)
{
	if (r == NULL)
		return;
	free(r->token);
	free(r->mic);
	memset(r, 0, sizeof(*r));
	r->neg_state = AE_SPNEGO_ABSENT;
}
