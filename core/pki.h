/*
 * pki.h - the certification authorities that Active Directory publishes:
 * enrollment services (the CAs clients submit to), trusted roots
 * (Certification Authorities), intermediates (AIA) and NTAuth.
 *
 * Every enrollment service's certificate is validated to a root from AD
 * (RFC 5280 path validation through OpenSSL); a CA that fails is kept with
 * the reason and serves no template.
 */
#ifndef AE_PKI_H
#define AE_PKI_H

#include "attrs.h"
#include "error.h"

#include <openssl/x509.h>
#include <stdbool.h>
#include <time.h>

/* MS-XCEP 3.1.4.1.3.5 clientAuthentication 4: WS-Security UsernameToken */
#define AE_CA_AUTH_PASSWORD 4
/* ... 8: a TLS client certificate */
#define AE_CA_AUTH_CERTIFICATE 8

typedef struct {
	char *dn;
	char *name;           /* cn: what certreq/certutil call the CA name */
	char *display_name;
	char *host;           /* dNSHostName */
	char *url;            /* the endpoint, for transports that take one (CES, SCEP); NULL for MS-ICPR */
	unsigned endpoint_auth; /* MS-XCEP clientAuthentication of the URLs: AE_CA_AUTH_PASSWORD, else Kerberos */
	bool renewal_only;    /* the endpoint takes only renewals, authenticated by the certificate being renewed
	                       * and its key (MS-XCEP 3.1.4.1.3.5 renewalOnly: key-based renewal) */
	char **fallback_urls; /* more endpoints of the same CA, tried in order when URL does not answer (CES URIs by priority) */
	char **renewal_urls;  /* the CA's renewal-only CES URIs by priority (MS-XCEP 3.1.4.1.3.5 renewalOnly = true,
	                       * clientAuthentication 8): renewals only, authenticated by the certificate being
	                       * renewed, when URL cannot be used (or is NULL); never new requests */
	/* How the CA is reached (transport/transport.h), set by the policy
	 * source; NULL: not reachable by any transport we have. */
	const struct ae_transport_ops *transport;
	char *endpoint_trust; /* PEM: AD's roots, trusted (with the system's) for the endpoint's TLS (CES); NULL: system only */
	char **templates;     /* certificateTemplates (template cn values) */
	uint32_t flags;
	X509 *cert;           /* NULL when cACertificate is missing or not DER */
	char *subject;        /* of the certificate, RFC 2253 */
	char *thumbprint;     /* SHA-1, uppercase hex, as Windows shows it */
	time_t not_before, not_after;
	bool valid;           /* chains to a root from AD, now */
	char *invalid_reason; /* why not */
} ae_ca;

typedef struct {
	ae_ca *cas;
	size_t ca_count;
	STACK_OF(X509) *roots;          /* CN=Certification Authorities */
	STACK_OF(X509) *intermediates;  /* CN=AIA */
	STACK_OF(X509) *ntauth;         /* CN=NTAuthCertificates */
} ae_pki;

/* Parses one pKIEnrollmentService entry.  A cACertificate that is not a
 * single DER certificate leaves cert NULL and valid false with the reason:
 * the CA stays listed so the admin sees why it is not used.  Errors only
 * for a missing cn or memory. */
ae_err ae_ca_from_entry(ae_ctx *ctx, const ae_entry *entry, ae_ca *out);
void ae_ca_clear(ae_ca *ca);

/* Decodes exactly one DER certificate of LEN bytes (no trailing data). */
ae_err ae_x509_from_der(ae_ctx *ctx, const uint8_t *der, size_t len, X509 **out);

/* Appends every PEM certificate in PEM (a trust anchor file's text, or
 * an SCEP link's trust) to *STACK (created when NULL); returns how many,
 * or -1 when out of memory. */
int ae_certs_from_pem(const char *pem, STACK_OF(X509) **stack);

/* An ASN1_TIME as Unix time (0 when absent or unreadable). */
time_t ae_asn1_time(const ASN1_TIME *t);
/* NAME in RFC 2253 form (caller frees); NULL when out of memory. */
char *ae_x509_name_string(const X509_NAME *name);

/* Adds every DER value of ATTR in ENTRY to STACK; values that are not
 * certificates are logged and skipped. */
ae_err ae_pki_add_certs(ae_ctx *ctx, STACK_OF(X509) **stack, const ae_entry *entry, const char *attr);

/* Decodes one crossCertificatePair value (X.509 CertificatePair, RFC 4523:
 * SEQUENCE { forward [0] Certificate OPTIONAL, reverse [1] Certificate
 * OPTIONAL }, at least one) of LEN bytes, no trailing data.  *FORWARD and
 * *REVERSE (either may be NULL) belong to the caller. */
ae_err ae_cert_pair_from_der(ae_ctx *ctx, const uint8_t *der, size_t len, X509 **forward, X509 **reverse);

/* Adds both certificates of every crossCertificatePair value of ENTRY (a
 * cross-certificate in CN=AIA) to STACK; bad values are logged and
 * skipped. */
ae_err ae_pki_add_cross_certs(ae_ctx *ctx, STACK_OF(X509) **stack, const ae_entry *entry);

/* Makes VCTX (initialised) accept what Windows accepts: certificates
 * whose critical extensions OpenSSL does not handle, when each such
 * extension is one Windows defines and processes (application policies
 * 1.3.6.1.4.1.311.21.10, which the template editor can mark critical,
 * the template extensions, the CA version, the SID extension, S/MIME
 * capabilities).  Any other unhandled critical extension still fails. */
void ae_pki_accept_windows_extensions(X509_STORE_CTX *vctx);

/* Validates every CA in PKI against PKI's roots and intermediates at time
 * NOW (0: the current time). */
void ae_pki_validate(ae_ctx *ctx, ae_pki *pki, time_t now);

void ae_pki_clear(ae_pki *pki);

/* The enterprise CA of PKI whose certificate validates (valid) and whose
 * key verifies CERT's signature, or NULL.  Data from a certificate that no
 * such CA signed (its CRL locations) drives no network fetch (issue 19). */
X509 *ae_pki_trusted_issuer(const ae_pki *pki, X509 *cert);

/* How many of the account's published certificates (userCertificate) and
 * how many CRL checks one pulse considers (issue 19): an account with
 * thousands of values, or certificates naming CRL locations, cannot make
 * a pulse decode and fetch without end.  Beyond: skipped, said once. */
#define AE_PULSE_MAX_DS_CERTS 128
#define AE_PULSE_MAX_CRL_CHECKS 256
#define AE_STR_(x) #x
#define AE_STR(x) AE_STR_(x)

typedef struct {
	unsigned crl_checks;
	bool certs_said, crls_said;
} ae_pulse_budget;

/* How many of COUNT published certificates to consider; *SAID is the
 * message the first time the cap cuts, else NULL. */
size_t ae_budget_ds_certs(ae_pulse_budget *b, size_t count, const char **said);
/* Whether one more CRL check may run; *SAID is the message the first
 * time it may not, else NULL. */
bool ae_budget_crl_check(ae_pulse_budget *b, const char **said);

#endif
