/*
 * spnego.c - SPNEGO NegTokenInit / NegTokenResp in DER, written and read by hand.
 *
 * Only what the three-leg Kerberos exchange of DCE/RPC needs.  The parser
 * treats the server's token as hostile: every length is bounded by its
 * container, only definite lengths of up to four octets are accepted, the
 * optional fields must come in order, and nothing may trail.
 */
#include "config.h"

#include "spnego.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t oid_spnego[] = { 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02 };
static const uint8_t oid_ms_krb5_body[] = { 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02 };
static const uint8_t oid_krb5_body[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02 };

/* SEQUENCE OF MechType { 1.2.840.48018.1.2.2, 1.2.840.113554.1.2.2 } */
static const uint8_t mech_list[] = {
	0x30, 0x16,
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02,
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02,
};

/* Nested tokens are at most a few KB; a bound well above that keeps sizes
 * far from overflow. */
#define AE_SPNEGO_MAX_TOKEN (1u << 20)

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

static size_t
len_size(size_t len)
{
	if (len < 0x80)
		return 1;
	if (len < 0x100)
		return 2;
	if (len < 0x10000)
		return 3;
	return 4; /* callers keep LEN below 2^24 */
}

static size_t
tlv_size(size_t len)
{
	return 1 + len_size(len) + len;
}

static uint8_t *
put_hdr(uint8_t *p, uint8_t tag, size_t len)
{
	*p++ = tag;
	if (len < 0x80) {
		*p++ = (uint8_t)len;
	} else if (len < 0x100) {
		*p++ = 0x81;
		*p++ = (uint8_t)len;
	} else if (len < 0x10000) {
		*p++ = 0x82;
		*p++ = (uint8_t)(len >> 8);
		*p++ = (uint8_t)len;
	} else {
		*p++ = 0x83;
		*p++ = (uint8_t)(len >> 16);
		*p++ = (uint8_t)(len >> 8);
		*p++ = (uint8_t)len;
	}
	return p;
}

ae_err
ae_spnego_init_token(ae_ctx *ctx, const uint8_t *mech_token, size_t len,
                     uint8_t **out, size_t *out_len)
{
	size_t tok, mechs, seq, ctx0, total;
	uint8_t *buf, *p;

	*out = NULL;
	*out_len = 0;
	if (len > AE_SPNEGO_MAX_TOKEN)
		return ae_set_message(ctx, AE_ERR_INVALID, "Kerberos token of %zu bytes is too large for SPNEGO", len);
	tok = tlv_size(tlv_size(len));              /* [2] { OCTET STRING } */
	mechs = tlv_size(sizeof(mech_list));        /* [0] { mechTypes } */
	seq = tlv_size(mechs + tok);                /* SEQUENCE NegTokenInit */
	ctx0 = tlv_size(seq);                       /* [0] NegotiationToken choice */
	total = tlv_size(sizeof(oid_spnego) + ctx0); /* [APPLICATION 0] */
	buf = malloc(total);
	if (buf == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	p = put_hdr(buf, 0x60, sizeof(oid_spnego) + ctx0);
	memcpy(p, oid_spnego, sizeof(oid_spnego));
	p += sizeof(oid_spnego);
	p = put_hdr(p, 0xa0, seq);
	p = put_hdr(p, 0x30, mechs + tok);
	p = put_hdr(p, 0xa0, sizeof(mech_list));
	memcpy(p, mech_list, sizeof(mech_list));
	p += sizeof(mech_list);
	p = put_hdr(p, 0xa2, tlv_size(len));
	p = put_hdr(p, 0x04, len);
	if (len > 0)
		memcpy(p, mech_token, len);
	p += len;
	if ((size_t)(p - buf) != total) {
		free(buf);
		return ae_set_message(ctx, AE_ERR_INTERNAL, "SPNEGO encoder size mismatch");
	}
	*out = buf;
	*out_len = total;
	return AE_OK;
}

ae_err
ae_spnego_resp_token(ae_ctx *ctx, const uint8_t *token, size_t len,
                     const uint8_t *mic, size_t mic_len, uint8_t **out, size_t *out_len)
{
	size_t f2, f3 = 0, seq, total;
	uint8_t *buf, *p;

	*out = NULL;
	*out_len = 0;
	if (len > AE_SPNEGO_MAX_TOKEN || mic_len > AE_SPNEGO_MAX_TOKEN)
		return ae_set_message(ctx, AE_ERR_INVALID, "Kerberos token of %zu bytes is too large for SPNEGO", len);
	f2 = token != NULL ? tlv_size(tlv_size(len)) : 0;
	if (mic != NULL)
		f3 = tlv_size(tlv_size(mic_len));
	seq = tlv_size(f2 + f3);
	total = tlv_size(seq);
	buf = malloc(total > 0 ? total : 1);
	if (buf == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	p = put_hdr(buf, 0xa1, seq);
	p = put_hdr(p, 0x30, f2 + f3);
	if (token != NULL) {
		p = put_hdr(p, 0xa2, tlv_size(len));
		p = put_hdr(p, 0x04, len);
		if (len > 0)
			memcpy(p, token, len);
		p += len;
	}
	if (mic != NULL) {
		p = put_hdr(p, 0xa3, tlv_size(mic_len));
		p = put_hdr(p, 0x04, mic_len);
		if (mic_len > 0)
			memcpy(p, mic, mic_len);
		p += mic_len;
	}
	if ((size_t)(p - buf) != total) {
		free(buf);
		return ae_set_message(ctx, AE_ERR_INTERNAL, "SPNEGO encoder size mismatch");
	}
	*out = buf;
	*out_len = total;
	return AE_OK;
}

/* --- reader --- */

typedef struct {
	const uint8_t *p;
	size_t len;
} der;

/* Reads one TLV with tag TAG from D; on success V holds its contents and D
 * advances past it.  Returns false on any malformation. */
static bool
der_take(der *d, uint8_t tag, der *v)
{
	size_t l, n, i;

	if (d->len < 2 || d->p[0] != tag)
		return false;
	l = d->p[1];
	n = 2;
	if (l & 0x80) {
		size_t octets = l & 0x7f;
		if (octets == 0 || octets > 4 || d->len < 2 + octets)
			return false; /* indefinite or absurd length */
		l = 0;
		for (i = 0; i < octets; i++)
			l = (l << 8) | d->p[2 + i];
		n += octets;
	}
	if (l > d->len - n)
		return false;
	v->p = d->p + n;
	v->len = l;
	d->p += n + l;
	d->len -= n + l;
	return true;
}

static bool
der_peek(const der *d, uint8_t tag)
{
	return d->len > 0 && d->p[0] == tag;
}

ae_err
ae_spnego_parse_resp(ae_ctx *ctx, const uint8_t *buf, size_t len, ae_spnego_resp *out)
{
	der all = { buf, len }, outer, seq, f, v;
	const char *why = NULL;

	memset(out, 0, sizeof(*out));
	out->neg_state = AE_SPNEGO_ABSENT;
	out->mech = AE_SPNEGO_MECH_NONE;
	if (buf == NULL || len == 0) {
		why = "empty token";
		goto bad;
	}
	if (!der_take(&all, 0xa1, &outer)) {
		why = der_peek(&all, 0x60) || der_peek(&all, 0xa0)
		      ? "a NegTokenInit where a NegTokenResp belongs" : "not a NegTokenResp ([1] expected)";
		goto bad;
	}
	if (all.len != 0) {
		why = "bytes after the NegTokenResp";
		goto bad;
	}
	if (!der_take(&outer, 0x30, &seq) || outer.len != 0) {
		why = "NegTokenResp is not one SEQUENCE";
		goto bad;
	}
	if (der_peek(&seq, 0xa0)) {
		if (!der_take(&seq, 0xa0, &f) || !der_take(&f, 0x0a, &v) || f.len != 0 || v.len != 1) {
			why = "malformed negState";
			goto bad;
		}
		if (v.p[0] > 3) {
			why = "unknown negState";
			goto bad;
		}
		out->neg_state = v.p[0];
	}
	if (der_peek(&seq, 0xa1)) {
		if (!der_take(&seq, 0xa1, &f) || !der_take(&f, 0x06, &v) || f.len != 0 || v.len == 0) {
			why = "malformed supportedMech";
			goto bad;
		}
		if (v.len == sizeof(oid_krb5_body) && memcmp(v.p, oid_krb5_body, v.len) == 0)
			out->mech = AE_SPNEGO_MECH_KRB5;
		else if (v.len == sizeof(oid_ms_krb5_body) && memcmp(v.p, oid_ms_krb5_body, v.len) == 0)
			out->mech = AE_SPNEGO_MECH_MS_KRB5;
		else
			out->mech = AE_SPNEGO_MECH_OTHER;
	}
	if (der_peek(&seq, 0xa2)) {
		if (!der_take(&seq, 0xa2, &f) || !der_take(&f, 0x04, &v) || f.len != 0) {
			why = "malformed responseToken";
			goto bad;
		}
		out->token = v.p;
		out->token_len = v.len;
	}
	if (der_peek(&seq, 0xa3)) {
		if (!der_take(&seq, 0xa3, &f) || !der_take(&f, 0x04, &v) || f.len != 0) {
			why = "malformed mechListMIC";
			goto bad;
		}
		out->mic = v.p;
		out->mic_len = v.len;
	}
	if (seq.len != 0) {
		why = "unexpected field in NegTokenResp";
		goto bad;
	}
	return AE_OK;
bad:
	memset(out, 0, sizeof(*out));
	out->neg_state = AE_SPNEGO_ABSENT;
	return ae_set_message(ctx, AE_ERR_INVALID, "malformed SPNEGO answer from the server: %s", why);
}
