/*
 * crl.h - revocation of an issued certificate by its CRL distribution
 * point: the CRL fetched over HTTP (RFC 5280 CDP, http:// only; a CRL is
 * signed, so the transport needs no protection), its signature checked
 * against the issuer, the serial looked up.
 *
 * As the whitepaper says, revocation errors are ignored when the
 * certificate has no CDP or the revocation status is offline: the answer
 * is then AE_REVOCATION_UNKNOWN, with the reason.
 */
#ifndef AE_CRL_H
#define AE_CRL_H

#include "conf.h"
#include "error.h"

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	AE_REVOCATION_GOOD = 0,
	AE_REVOCATION_REVOKED,
	AE_REVOCATION_UNKNOWN, /* no CDP, offline, or a CRL we could not use */
} ae_revocation;

/* Checks CERT (issued by ISSUER) against the CRL of its first http:// CDP.
 * Each fetch is bounded by conf->crl_timeout seconds (the message names
 * the setting).  *REASON_OUT (caller frees; may be NULL) says why the
 * answer is unknown, or the revocation date and reason.  Errors only for
 * memory; everything else is UNKNOWN with a reason. */
ae_err ae_crl_check(ae_ctx *ctx, const ae_conf *conf, X509 *cert, X509 *issuer, time_t now,
                    ae_revocation *out, char **reason_out);

/* Parses an HTTP/1.x response (untrusted) of LEN bytes: status 200
 * required; body after the headers (Content-Length honoured when present,
 * chunked refused).  *BODY points into DATA. */
ae_err ae_http_parse_response(ae_ctx *ctx, const uint8_t *data, size_t len, const uint8_t **body,
                              size_t *body_len);

/* Splits "http://host[:port]/path" (untrusted: from a certificate). */
ae_err ae_http_split_url(ae_ctx *ctx, const char *url, char **host, char **port, char **path);

#endif
