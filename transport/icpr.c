/*
 * icpr.c - MS-ICPR CertServerRequest: NDR in, NDR out (untrusted), submit and retrieve.
 *
 * Wire layout (NDR 2.0, little-endian, MS-ICPR 3.2.4.1.1):
 *   in:  dwFlags | [unique, string] pwszAuthority | pdwRequestId |
 *        pctbAttribs {cb, [unique] pb} + deferred {max_count, bytes, pad} |
 *        pctbRequest  (same)
 *   out: pdwRequestId | pdwDisposition | pctbCert | pctbEncodedCert |
 *        pctbDispositionMessage (each {cb, ptr} + deferred bytes) | return
 */
#include "config.h"

#include "hresult.h"
#include "icpr.h"
#include "transport.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

const ae_rpc_iface ae_icpr_iface = {
	{ 0x20, 0x60, 0xae, 0x91, 0x3c, 0x9e, 0xcf, 0x11, 0x8d, 0x7c, 0x00, 0xaa, 0x00, 0xc0, 0x91, 0xbe },
	0, 0, "ICertPassage"
};

#define AE_ICPR_REFERENT_BASE 0x00020000u
#define AE_ICPR_MAX_STRING (64u * 1024)

static void
put_u32(ae_buf *b, uint32_t v)
{
	uint8_t t[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	ae_buf_append(b, t, 4);
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void
pad4(ae_buf *b)
{
	static const uint8_t z[4];
	ae_buf_append(b, z, (4 - b->len % 4) % 4);
}

/* UTF-8 -> UTF-16LE with a terminating NUL.  Returns false on invalid
 * UTF-8 (overlong, surrogates, > U+10FFFF, truncated). */
static bool
utf8_to_utf16le(const char *s, ae_buf *out)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		uint32_t cp;
		int n;

		if (p[0] < 0x80) {
			cp = p[0];
			n = 0;
		} else if ((p[0] & 0xe0) == 0xc0) {
			cp = p[0] & 0x1f;
			n = 1;
		} else if ((p[0] & 0xf0) == 0xe0) {
			cp = p[0] & 0x0f;
			n = 2;
		} else if ((p[0] & 0xf8) == 0xf0) {
			cp = p[0] & 0x07;
			n = 3;
		} else {
			return false;
		}
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
		if (cp >= 0x10000) {
			uint16_t hi = (uint16_t)(0xd800 + ((cp - 0x10000) >> 10));
			uint16_t lo = (uint16_t)(0xdc00 + ((cp - 0x10000) & 0x3ff));
			uint8_t t[4] = { (uint8_t)hi, (uint8_t)(hi >> 8), (uint8_t)lo, (uint8_t)(lo >> 8) };
			ae_buf_append(out, t, 4);
		} else {
			uint8_t t[2] = { (uint8_t)cp, (uint8_t)(cp >> 8) };
			ae_buf_append(out, t, 2);
		}
	}
	ae_buf_append(out, "\0\0", 2);
	return true;
}

/* UTF-16LE (LEN bytes, even) -> UTF-8, stopping at the first NUL.  Control
 * characters other than newline and tab become spaces (the text is shown
 * to people); trailing blanks are dropped.  Returns NULL with *BAD set on
 * an unpaired surrogate, NULL without when out of memory. */
static char *
utf16le_to_utf8(const uint8_t *s, size_t len, bool *bad, size_t *bad_at)
{
	ae_buf b;
	size_t i = 0;
	char *r;

	*bad = false;
	ae_buf_init(&b);
	while (i + 1 < len) {
		uint32_t cp;
		size_t n = ae_utf16le_next(s, len, i, &cp);

		if (cp == 0)
			break;
		if (n == 0)
			goto bad;
		i += n;
		if (cp == '\r')
			continue;
		if ((cp < 0x20 && cp != '\n' && cp != '\t') || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			cp = ' ';
		ae_buf_put_utf8(&b, cp);
	}
	while (b.len > 0 && (b.data[b.len - 1] == ' ' || b.data[b.len - 1] == '\n' ||
	                     b.data[b.len - 1] == '\t'))
		b.data[--b.len] = '\0';
	/* ae_buf_steal() of a buffer never appended to is not terminated */
	ae_buf_append(&b, "", 0);
	r = ae_buf_steal(&b);
	return r;
bad:
	*bad = true;
	*bad_at = i;
	ae_buf_clear(&b);
	return NULL;
}

/* A CERTTRANSBLOB whose pointee follows at once (top-level [ref]). */
static void
put_blob(ae_buf *b, const uint8_t *data, size_t len, uint32_t *ref)
{
	if (data == NULL || len == 0) {
		put_u32(b, 0);
		put_u32(b, 0);
		return;
	}
	put_u32(b, (uint32_t)len);
	put_u32(b, *ref);
	*ref += 4;
	put_u32(b, (uint32_t)len);
	ae_buf_append(b, data, len);
	pad4(b);
}

ae_err
ae_icpr_encode(ae_ctx *ctx, uint32_t flags, const char *authority, uint32_t request_id,
               const char *attributes, const uint8_t *request, size_t request_len,
               uint8_t **stub_out, size_t *len_out)
{
	uint32_t ref = AE_ICPR_REFERENT_BASE;
	ae_buf b, w;
	ae_err err = AE_OK;

	*stub_out = NULL;
	*len_out = 0;
	if (request_len > AE_ICPR_MAX_BLOB)
		return ae_set_message(ctx, AE_ERR_INVALID, "certificate request of %zu bytes is too large",
		                      request_len);
	ae_buf_init(&b);
	ae_buf_init(&w);
	put_u32(&b, flags);
	if (authority != NULL) {
		uint32_t n;
		if (!utf8_to_utf16le(authority, &w) || w.len / 2 > AE_ICPR_MAX_STRING) {
			err = ae_set_message(ctx, AE_ERR_INVALID, "the CA name is not valid UTF-8 (or too long)");
			goto cleanup;
		}
		n = (uint32_t)(w.len / 2);
		put_u32(&b, ref);
		ref += 4;
		put_u32(&b, n);   /* max_count */
		put_u32(&b, 0);   /* offset */
		put_u32(&b, n);   /* actual_count, NUL included */
		ae_buf_append(&b, w.data, w.len);
		pad4(&b);
	} else {
		put_u32(&b, 0);
	}
	put_u32(&b, request_id);
	ae_buf_clear(&w);
	if (attributes != NULL && attributes[0] != '\0') {
		if (!utf8_to_utf16le(attributes, &w) || w.len > AE_ICPR_MAX_BLOB) {
			err = ae_set_message(ctx, AE_ERR_INVALID, "the request attributes are not valid UTF-8 (or too long)");
			goto cleanup;
		}
		put_blob(&b, (const uint8_t *)w.data, w.len, &ref);
	} else {
		put_blob(&b, NULL, 0, &ref);
	}
	put_blob(&b, request, request_len, &ref);
	if (b.failed || w.failed) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	*len_out = b.len;
	*stub_out = (uint8_t *)ae_buf_steal(&b);
	if (*stub_out == NULL) {
		*len_out = 0;
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
cleanup:
	ae_buf_clear(&b);
	ae_buf_clear(&w);
	return err;
}

void
ae_icpr_result_clear(ae_icpr_result *res)
{
	if (res == NULL)
		return;
	free(res->cert);
	free(res->chain);
	free(res->message);
	memset(res, 0, sizeof(*res));
}

typedef struct {
	const uint8_t *p;
	size_t len, off;
} rd;

static bool
rd_u32(rd *r, uint32_t *v)
{
	if (r->len - r->off < 4)
		return false;
	*v = get_u32(r->p + r->off);
	r->off += 4;
	return true;
}

/* Reads one CERTTRANSBLOB with its deferred bytes.  *DATA points into the
 * stub (NULL for a NULL pointer). */
static ae_err
rd_blob(ae_ctx *ctx, rd *r, const char *what, const uint8_t **data, size_t *len)
{
	uint32_t cb, ptr, max;
	size_t pad;

	*data = NULL;
	*len = 0;
	if (!rd_u32(r, &cb) || !rd_u32(r, &ptr))
		goto trunc;
	if (ptr == 0) {
		if (cb != 0)
			return ae_set_message(ctx, AE_ERR_INVALID, "CA answer: %s has %u bytes but no data", what, cb);
		return AE_OK;
	}
	if (!rd_u32(r, &max))
		goto trunc;
	if (max != cb)
		return ae_set_message(ctx, AE_ERR_INVALID, "CA answer: %s has size %u but conformance %u", what, cb, max);
	if (cb > AE_ICPR_MAX_BLOB)
		return ae_set_message(ctx, AE_ERR_INVALID, "CA answer: %s of %u bytes is too large", what, cb);
	if (cb > r->len - r->off)
		goto trunc;
	*data = r->p + r->off;
	*len = cb;
	r->off += cb;
	pad = (4 - r->off % 4) % 4;
	if (pad > r->len - r->off)
		goto trunc;
	r->off += pad;
	return AE_OK;
trunc:
	*data = NULL;
	*len = 0;
	return ae_set_message(ctx, AE_ERR_INVALID, "CA answer of %zu bytes is truncated in %s", r->len, what);
}

static uint8_t *
dup_bytes(const uint8_t *p, size_t len)
{
	uint8_t *d = malloc(len > 0 ? len : 1);
	if (d != NULL && len > 0)
		memcpy(d, p, len);
	return d;
}

ae_err
ae_icpr_decode(ae_ctx *ctx, const uint8_t *stub, size_t len, ae_icpr_result *out)
{
	rd r = { stub, len, 0 };
	const uint8_t *chain, *cert, *msg;
	size_t chain_len, cert_len, msg_len;
	ae_icpr_result res;
	ae_err err;

	memset(out, 0, sizeof(*out));
	memset(&res, 0, sizeof(res));
	if (stub == NULL && len > 0)
		return ae_set_message(ctx, AE_ERR_INTERNAL, "no CA answer");
	if (!rd_u32(&r, &res.request_id) || !rd_u32(&r, &res.disposition))
		return ae_set_message(ctx, AE_ERR_INVALID, "CA answer of %zu bytes is truncated", len);
	err = rd_blob(ctx, &r, "the certificate chain (pctbCert)", &chain, &chain_len);
	if (err == AE_OK)
		err = rd_blob(ctx, &r, "the certificate (pctbEncodedCert)", &cert, &cert_len);
	if (err == AE_OK)
		err = rd_blob(ctx, &r, "the disposition message", &msg, &msg_len);
	if (err != AE_OK)
		return err;
	if (!rd_u32(&r, &res.status))
		return ae_set_message(ctx, AE_ERR_INVALID, "CA answer of %zu bytes is truncated before the return value", len);
	if (r.off != len) {
		/* The stub may carry NDR alignment at the end; anything else is
		 * a misreading on one side. */
		size_t extra = len - r.off;
		bool zeros = extra < 8;
		for (size_t i = r.off; zeros && i < len; i++)
			zeros = stub[i] == 0;
		if (!zeros)
			return ae_set_message(ctx, AE_ERR_INVALID, "CA answer has %zu unexpected bytes after the return value", extra);
	}
	if (msg != NULL && msg_len % 2 != 0)
		return ae_set_message(ctx, AE_ERR_INVALID, "CA answer: the disposition message has an odd length (%zu bytes)", msg_len);
	if (msg != NULL && msg_len > 0) {
		bool bad = false;
		size_t at = 0;
		res.message = utf16le_to_utf8(msg, msg_len, &bad, &at);
		if (bad)
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "CA answer: the disposition message has an unpaired UTF-16 surrogate at byte %zu",
			                      at);
		if (res.message == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		if (res.message[0] == '\0')
			ae_free_ptr(res.message);
	}
	if (cert != NULL && cert_len > 0) {
		res.cert = dup_bytes(cert, cert_len);
		res.cert_len = cert_len;
	}
	if (chain != NULL && chain_len > 0) {
		res.chain = dup_bytes(chain, chain_len);
		res.chain_len = chain_len;
	}
	if ((cert_len > 0 && res.cert == NULL) || (chain_len > 0 && res.chain == NULL)) {
		ae_icpr_result_clear(&res);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	*out = res;
	return AE_OK;
}

const char *
ae_icpr_disposition_name(uint32_t d)
{
	switch (d) {
	case AE_CR_DISP_INCOMPLETE: return "incomplete";
	case AE_CR_DISP_ERROR: return "error";
	case AE_CR_DISP_DENIED: return "denied";
	case AE_CR_DISP_ISSUED: return "issued";
	case AE_CR_DISP_ISSUED_OUT_OF_BAND: return "issued out of band";
	case AE_CR_DISP_UNDER_SUBMISSION: return "pending (under submission)";
	case AE_CR_DISP_REVOKED: return "revoked";
	default: return NULL;
	}
}

ae_icpr_outcome
ae_icpr_result_outcome(const ae_icpr_result *res)
{
	if (res->status != 0)
		return AE_ICPR_REFUSED;
	if (res->disposition == AE_CR_DISP_ISSUED || res->disposition == AE_CR_DISP_ISSUED_OUT_OF_BAND)
		return AE_ICPR_ISSUED;
	if (res->disposition == AE_CR_DISP_UNDER_SUBMISSION)
		return AE_ICPR_PENDING;
	return AE_ICPR_REFUSED;
}

uint32_t
ae_icpr_hresult(const ae_icpr_result *res)
{
	return res->status != 0 ? res->status : res->disposition;
}

bool
ae_icpr_retrieval_final(const ae_icpr_result *res)
{
	switch (ae_icpr_hresult(res)) {
	case AE_CR_DISP_DENIED:
	case AE_CR_DISP_REVOKED:
	case AE_CR_DISP_INCOMPLETE: /* a "foreign certificate": never ours to get */
	case 0x80094002u:           /* CERTSRV_E_NO_REQUEST */
	case 0x80094004u:           /* CERTSRV_E_PROPERTY_EMPTY: unknown request id */
	case 0x80094014u:           /* CERTSRV_E_ADMIN_DENIED_REQUEST */
		return true;
	default:
		return false;
	}
}

static ae_err
do_call(ae_ctx *ctx, ae_rpc *rpc, const char *what, const char *ca_name, uint32_t request_id,
        const char *attributes, const uint8_t *req, size_t len, ae_icpr_result *out)
{
	uint8_t *stub = NULL, *resp = NULL;
	size_t stub_len = 0, resp_len = 0;
	ae_err err;

	memset(out, 0, sizeof(*out));
	err = ae_icpr_encode(ctx, 0, ca_name, request_id, attributes, req, len, &stub, &stub_len);
	if (err == AE_OK)
		err = ae_rpc_call(ctx, rpc, 0, stub, stub_len, &resp, &resp_len);
	if (err == AE_OK)
		err = ae_icpr_decode(ctx, resp, resp_len, out);
	if (err != AE_OK) {
		ae_prefix_message(ctx, err, "%s CA %s on %s", what, ca_name != NULL ? ca_name : "(unnamed)",
		                  ae_rpc_host(rpc));
	} else {
		const char *name = ae_icpr_disposition_name(out->disposition);
		char hr[96];
		ae_log(ctx, AE_LOG_DEBUG, "icpr: %s %s: request id %u, disposition %s, status 0x%08x, cert %zu bytes, chain %zu bytes",
		       what, ca_name != NULL ? ca_name : "(unnamed)", (unsigned)out->request_id,
		       name != NULL ? name : ae_hresult_format(out->disposition, hr, sizeof(hr)),
		       (unsigned)out->status, out->cert_len, out->chain_len);
	}
	free(stub);
	free(resp);
	return err;
}

ae_err
ae_icpr_submit(ae_ctx *ctx, ae_rpc *rpc, const char *ca_name, const char *attributes,
               const uint8_t *req, size_t len, ae_icpr_result *out)
{
	if (req == NULL || len == 0) {
		memset(out, 0, sizeof(*out));
		return ae_set_message(ctx, AE_ERR_INTERNAL, "ae_icpr_submit without a request");
	}
	return do_call(ctx, rpc, "submitting to", ca_name, 0, attributes, req, len, out);
}

ae_err
ae_icpr_retrieve(ae_ctx *ctx, ae_rpc *rpc, const char *ca_name, uint32_t request_id,
                 ae_icpr_result *out)
{
	return do_call(ctx, rpc, "retrieving request from", ca_name, request_id, NULL, NULL, 0, out);
}

/* ---- the MS-ICPR transport (transport.h) ---- */

static ae_err
icpr_open(ae_ctx *ctx, const ae_conf *conf, const ae_ca *ca, void **state_out)
{
	ae_rpc *rpc = NULL;
	ae_err err;

	*state_out = NULL;
	if (ca->host == NULL)
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "CA %s has no host name (dNSHostName) in AD", ca->name);
	if ((err = ae_rpc_connect(ctx, conf, ca->host, &ae_icpr_iface, &rpc)) != AE_OK)
		return err;
	*state_out = rpc;
	return AE_OK;
}

void
ae_icpr_answer(ae_icpr_result *res, bool retrieval, ae_ca_answer *out)
{
	uint32_t hr = ae_icpr_hresult(res);

	memset(out, 0, sizeof(*out));
	switch (ae_icpr_result_outcome(res)) {
	case AE_ICPR_ISSUED: out->outcome = AE_CA_ISSUED; break;
	case AE_ICPR_PENDING: out->outcome = AE_CA_PENDING; break;
	case AE_ICPR_REFUSED:
		out->outcome = AE_CA_REFUSED;
		out->hresult = hr;
		if (hr == res->disposition)
			out->refusal = ae_icpr_disposition_name(hr);
		out->final = retrieval && ae_icpr_retrieval_final(res);
		break;
	}
	out->request_id = res->request_id;
	out->cert = res->cert;
	out->cert_len = res->cert_len;
	out->chain = res->chain;
	out->chain_len = res->chain_len;
	out->message = res->message;
	res->cert = res->chain = NULL;
	res->message = NULL;
	ae_icpr_result_clear(res);
}

static ae_err
icpr_submit(ae_ctx *ctx, void *state, const ae_ca *ca, const char *attrs, const uint8_t *req, size_t len,
            ae_ca_answer *out)
{
	ae_icpr_result res = { 0 };
	ae_err err = ae_icpr_submit(ctx, state, ca->name, attrs, req, len, &res);

	if (err == AE_OK)
		ae_icpr_answer(&res, false, out);
	return err;
}

static ae_err
icpr_retrieve(ae_ctx *ctx, void *state, const ae_ca *ca, uint32_t request_id, ae_ca_answer *out)
{
	ae_icpr_result res = { 0 };
	ae_err err = ae_icpr_retrieve(ctx, state, ca->name, request_id, &res);

	if (err == AE_OK)
		ae_icpr_answer(&res, true, out);
	return err;
}

static unsigned
icpr_round_trips(void *state)
{
	return ae_rpc_round_trips(state);
}

static void
icpr_close(void *state)
{
	ae_rpc_free(state);
}

/* MS-ICPR has one call, CertServerRequest: the CA's certificates come
 * from AD (cACertificate of the enrollment service), and there is no
 * exchange certificate or capability call over it. */
const ae_transport_ops ae_transport_icpr = {
	.name = "MS-ICPR",
	.open = icpr_open,
	.submit = icpr_submit,
	.retrieve = icpr_retrieve,
	.round_trips = icpr_round_trips,
	.close = icpr_close,
};
