/*
 * aia.h - a certificate's issuers from its Authority Information Access
 * (RFC 5280 4.2.2.1, id-ad-caIssuers), for building a chain when AD's
 * stores (AIA container, enrollment services) lack a CA: ldap:/// locations
 * read over the policy source's sealed LDAP session (cACertificate), then
 * http:// and https:// ones through net/http.h, in the order the
 * certificate lists them, as Windows does.  What comes back is untrusted:
 * it only helps path building to AD's roots, and only certificates that
 * issued the certificate (name and signature) are kept.
 */
#ifndef AE_AIA_H
#define AE_AIA_H

#include "conf.h"
#include "crl.h"
#include "error.h"

#include <openssl/x509.h>

/* The caIssuers locations of CERT (ae_strv_free); *URLS stays NULL when
 * there is none. */
ae_err ae_aia_locations(ae_ctx *ctx, X509 *cert, char ***urls);

/* The certificates found at LOCATION's bytes: one DER or PEM certificate,
 * or a PKCS#7 certs-only bundle (what RFC 5280 says an AIA location
 * serves).  SHOWN names the location in messages. */
ae_err ae_aia_decode(ae_ctx *ctx, const uint8_t *data, size_t len, const char *shown, STACK_OF(X509) **out);

/* The issuers of CERT from its first caIssuers location that has one
 * (FETCH as for CRLs; may be NULL: ldap:/// locations are then skipped).
 * Each HTTP download is bounded by conf->crl_timeout.  *OUT stays NULL and
 * the message says why for every location when none has an issuer. */
ae_err ae_aia_issuers(ae_ctx *ctx, const ae_conf *conf, const ae_crl_fetch *fetch, X509 *cert,
                      STACK_OF(X509) **out);

#endif
