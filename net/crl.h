/*
 * crl.h - revocation of an issued certificate by its CRL distribution
 * points (RFC 5280 4.2.1.13), as Windows checks it:
 *
 *  - the locations are tried in the order the certificate lists them
 *    (AD CS lists its ldap:/// location first, then http://); the first
 *    one that yields a usable CRL wins.  ldap:// locations are read through
 *    the caller's LDAP session (ae_crl_fetch: the policy source's sealed
 *    session), http:// and https:// ones through net/http.h;
 *  - a CRL counts when its issuer name is the certificate's issuer's, its
 *    signature is the issuer's key's, its thisUpdate is not ahead of our
 *    clock and its nextUpdate not behind it (a CRL past its nextUpdate
 *    says nothing any more: the status is then unknown);
 *  - delta CRLs (RFC 5280 5.2.4, 5.2.6): when the base CRL (or else the
 *    certificate) carries a Freshest CRL extension, the delta CRL is fetched
 *    from there, checked the same way, and must be for this base (its
 *    BaseCRLNumber at most the base's CRL number, its own number above
 *    it).  Its entries revoke; removeFromCRL (reason 8) releases a
 *    certificate from hold.  A delta that cannot be had, or is past its
 *    nextUpdate, leaves the status unknown unless the base alone already
 *    says revoked for good (any reason but certificateHold).
 *
 * As the whitepaper says, revocation errors are ignored when the status is
 * offline: the answer is then AE_REVOCATION_UNKNOWN, with the reason.
 */
#ifndef AE_CRL_H
#define AE_CRL_H

#include "attrs.h"
#include "conf.h"
#include "error.h"
#include "http.h"

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum {
	AE_REVOCATION_GOOD = 0,
	AE_REVOCATION_REVOKED,
	AE_REVOCATION_UNKNOWN, /* no CDP, offline, or a CRL we could not use */
} ae_revocation;

/* Reads the values of ATTR of the object DN (a base search) for an
 * ldap:// location; *VALUES (ae_values_free) and *COUNT stay NULL/0 on
 * error.  The policy source's session fills this (ae_policy_source_crl_fetch
 * in policy/source.h): net/ knows nothing of policy sources. */
typedef ae_err (*ae_crl_ldap_read_fn)(ae_ctx *ctx, void *arg, const char *dn, const char *attr, ae_value **values,
                                      size_t *count);

typedef struct {
	ae_crl_ldap_read_fn ldap_read; /* NULL: ldap:// locations are skipped, with a reason */
	void *arg;
} ae_crl_fetch;

/* Checks CERT (issued by ISSUER) against its CRLs (see above).  FETCH may
 * be NULL.  Each HTTP download is bounded by conf->crl_timeout seconds,
 * each LDAP read by conf->ldap_timeout (the messages name the setting).
 * *REASON_OUT (caller frees; may be NULL) says why the answer is unknown,
 * or the revocation date and reason.  Errors only for memory; everything
 * else is UNKNOWN with a reason. */
ae_err ae_crl_check(ae_ctx *ctx, const ae_conf *conf, const ae_crl_fetch *fetch, X509 *cert, X509 *issuer,
                    time_t now, ae_revocation *out, char **reason_out);

/* An HTTP or HTTPS download for revocation and chain checks (CRLs, AIA
 * CA certificates): bounded by conf->crl_timeout, which the timeout
 * message names. */
ae_err ae_crl_download(ae_ctx *ctx, const ae_conf *conf, const char *url, const char *accept, size_t max_body,
                       const char *what, ae_http_response **out);

/* --- the pieces, for tests and fuzzers (all inputs untrusted) --- */

/* Splits an ldap:// CRL or CA certificate location as AD CS writes it,
 * ldap:///CN=CA,CN=host,CN=CDP,...?certificateRevocationList?base?objectClass=cRLDistributionPoint
 * (RFC 4516: host optional and ignored, since any DC serves the
 * configuration partition; percent-decoding; one attribute among
 * certificateRevocationList, deltaRevocationList, authorityRevocationList,
 * cACertificate, with or without ";binary"; scope base; the filter is not
 * used; critical extensions refused).  *DN and *ATTR (caller frees) stay
 * NULL on error. */
ae_err ae_crl_ldap_url(ae_ctx *ctx, const char *url, char **dn, char **attr);

/* A CRL from bytes: DER as RFC 5280 says a CDP serves, PEM because some
 * servers do.  SHOWN names the location in messages. */
ae_err ae_crl_decode(ae_ctx *ctx, const uint8_t *data, size_t len, const char *shown, X509_CRL **out);

/* The CRL among the values of an LDAP attribute: the first value that is
 * one (AD keeps a single value; empty or one-byte placeholders are
 * skipped). */
ae_err ae_crl_from_values(ae_ctx *ctx, const ae_value *values, size_t count, const char *shown, X509_CRL **out);

/* Whether CRL can be believed about ISSUER's certificates at NOW (issuer
 * name, signature, thisUpdate, nextUpdate) and is of the kind wanted: a
 * full CRL, or with DELTA a delta CRL. */
ae_err ae_crl_usable(ae_ctx *ctx, X509_CRL *crl, X509 *issuer, time_t now, const char *shown, bool delta);

/* Whether DELTA (usable) can be applied to BASE (usable): its BaseCRLNumber
 * at most BASE's CRL number, and its own CRL number above it. */
ae_err ae_crl_delta_fits(ae_ctx *ctx, X509_CRL *base, X509_CRL *delta, const char *delta_shown);

/* CERT's status according to BASE and, if not NULL, DELTA (both usable and
 * fitting).  *REASON_OUT (caller frees) for REVOKED only. */
ae_err ae_crl_status(ae_ctx *ctx, X509 *cert, X509_CRL *base, const char *base_shown, X509_CRL *delta,
                     const char *delta_shown, ae_revocation *out, char **reason_out);

/* The Freshest CRL locations of CRL, else of CERT (either may be NULL):
 * where the delta CRL is.  *URLS (ae_strv_free) stays NULL when there is
 * none. */
ae_err ae_crl_delta_locations(ae_ctx *ctx, X509_CRL *crl, X509 *cert, char ***urls);

#endif
