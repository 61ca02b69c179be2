/*
 * csr.h - certificate requests as a Windows client builds them: PKCS#10
 * with the Microsoft attributes and the template extension (MS-WCCE
 * 2.2.2.7), and renewal requests as CMC signed with the old key.
 */
#ifndef AE_CSR_H
#define AE_CSR_H

#include "error.h"
#include "template.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* szOID_REQUEST_CLIENT_INFO client ids.  1-9 and 1000 are Windows' own
 * and reserved (MS-WCCE 2.2.2.7.4, <11>); ours follow ClientIdUserStart. */
#define AE_CLIENT_ID_AUTOENROLL 1001 /* the pulse helpers */
#define AE_CLIENT_ID_CLI 1002        /* autoenroll request / enroll */

typedef struct {
	const ae_template *tpl;
	/* Only used when the template says the enrollee supplies them
	 * (ENROLLEE_SUPPLIES_SUBJECT / _ALT_NAME); otherwise the subject is
	 * empty and no SAN is requested: the CA builds them from AD. */
	const char *subject;      /* RFC 4514 string, e.g. "CN=ws1.corp.test" */
	char *const *san_dns;
	char *const *san_upn;
	char *const *san_email;
	/* szOID_REQUEST_CLIENT_INFO */
	int client_id;
	const char *machine;      /* "ws1.corp.test" */
	const char *user;         /* "CORP\\alice" */
	const char *process;      /* "autoenroll" */
	/* szOID_OS_VERSION, e.g. "10.0.20348.2"; NULL: ae_csr_os_version() */
	const char *os_version;
	/* SCEP (RFC 8894 3.3.1): the challengePassword attribute when not
	 * NULL, and no template identification (the server picks the
	 * template); the subject and names are the enrollee's */
	const char *challenge;
	bool scep;
	/* digest: NULL means SHA-256, or the template's msPKI-Hash-Algorithm */
	const EVP_MD *md;
	/* Key archival (MS-WCCE 3.1.1.4.3.6): the CA exchange certificate the
	 * private key is encrypted to, already checked (ae_csr_check_exchange);
	 * NULL: none.  Only ae_csr_build_signed takes it. */
	X509 *archive_to;
	/* the key archived: NULL, the request's own (another only in tests,
	 * to see the CA refuse it) */
	EVP_PKEY *archive_key;
} ae_csr_params;

/* Builds and signs (with KEY, which may be a token key) a PKCS#10 request:
 *  - extensionRequest with: for schema >= 2 the certificate template
 *    extension 1.3.6.1.4.1.311.21.7 {OID, major, minor}; for schema 1 the
 *    template name extension 1.3.6.1.4.1.311.20.2 (BMPString); key usage
 *    (pKIKeyUsage, critical when listed in pKICriticalExtensions); EKU
 *    (pKIExtendedKeyUsage) and application policies 1.3.6.1.4.1.311.21.10
 *    for schema >= 2 (msPKI-Certificate-Application-Policy); subject key
 *    identifier; SAN only where supplied by the enrollee;
 *    issuance policies (msPKI-Certificate-Policy) as certificatePolicies;
 *    S/MIME capabilities 1.2.840.113549.1.9.15 when the template has
 *    CT_FLAG_INCLUDE_SYMMETRIC_ALGORITHMS; basic constraints cA FALSE
 *    under CT_FLAG_INCLUDE_BASIC_CONSTRAINTS_FOR_EE_CERTS;
 *  - attributes: client info 1.3.6.1.4.1.311.21.20, OS version
 *    1.3.6.1.4.1.311.13.2.3, and the enrollment CSP provider
 *    1.3.6.1.4.1.311.13.2.2 {keySpec (0 for CNG keys), name, empty BIT STRING}.
 * *OUT stays NULL on error. */
ae_err ae_csr_build(ae_ctx *ctx, const ae_csr_params *params, EVP_PKEY *key, X509_REQ **out);

/* An SCEP PKCS#10 (PARAMS->scep): as ae_csr_build, and when RENEWING is
 * not NULL and PARAMS gives no subject or names, those of RENEWING again. */
ae_err ae_csr_build_scep(ae_ctx *ctx, const ae_csr_params *params, EVP_PKEY *key, X509 *renewing, X509_REQ **out);

/* Renewal (MS-WCCE 3.1.1.4.3.2): the request for NEW_KEY with the
 * szOID_RENEWAL_CERTIFICATE 1.3.6.1.4.1.311.13.1 attribute holding
 * OLD_CERT, in CMS SignedData with OLD_CERT in certificates.  Schema 2+
 * templates: CMC PKIData (id-cct-PKIData, one TaggedRequest, bodyPartID 1)
 * with two SignerInfos, the new key by subjectKeyIdentifier first, then
 * OLD_KEY (3.1.1.4.3.2.2).  Schema 1: the PKCS#10 as id-data signed with
 * OLD_KEY (3.1.1.4.3.2.1).  NEW_KEY may be OLD_KEY (same-key renewal).
 * *DER_OUT (malloc'd) stays NULL on error. */
ae_err ae_csr_build_renewal(ae_ctx *ctx, const ae_csr_params *params, EVP_PKEY *new_key,
                            X509 *old_cert, EVP_PKEY *old_key, uint8_t **der_out, size_t *len_out);

/* An enrollment agent co-signing a request (an RA signature, MS-WCCE
 * 3.2.2.6.2.1.4.5.1), for its holder or, with REQUESTER_NAME
 * ("DOMAIN\\user"), on behalf of that account (3.1.1.4.3.3.3). */
typedef struct {
	X509 *cert;
	EVP_PKEY *key;
	const char *requester_name;  /* NULL: the request is the caller's own */
} ae_csr_agent;

/* CMS requests signed by more than the new key: a renewal (OLD_CERT and
 * OLD_KEY, as ae_csr_build_renewal), co-signed by AGENT (either or both),
 * or carrying the new key for archival (PARAMS->archive_to, with or
 * without the others: MS-WCCE 3.1.1.4.3.6.1, CMC only): the key as a
 * PRIVATEKEYBLOB (2.2.2.9.1) in an EnvelopedData to the exchange
 * certificate (the template's msPKI-Symmetric-Algorithm, else AES-256-CBC)
 * in the new key's SignerInfo as the unauthenticated attribute
 * szOID_ARCHIVED_KEY_ATTR, its hash (the request's digest) as
 * szOID_ENCRYPTED_KEY_HASH in the CMC controls; NEW_KEY must be an RSA key
 * whose private half can be read (not a token's).
 * With AGENT: CMC for schema 2+ templates, SignerInfos new key, old
 * certificate, agent; schema 1 is AE_ERR_UNSUPPORTED.  A renewal of a
 * template whose enrollee supplies the subject reuses OLD_CERT's subject
 * and alternative names when PARAMS gives none.  *DER_OUT (malloc'd)
 * stays NULL on error. */
ae_err ae_csr_build_signed(ae_ctx *ctx, const ae_csr_params *params, EVP_PKEY *new_key, X509 *old_cert,
                           EVP_PKEY *old_key, const ae_csr_agent *agent, uint8_t **der_out, size_t *len_out);

/* Whether XCHG may carry a private key to CA_CERT for archival (MS-WCCE
 * 3.1.1.4.3.6, 5.1.9: "verify the public key of the server"): issued and
 * signed by CA_CERT, valid at NOW, the CA exchange EKU
 * (szOID_KP_CA_EXCHANGE 1.3.6.1.4.1.311.21.5), an RSA key.  CA_NAME
 * names the CA in the message. */
ae_err ae_csr_check_exchange(ae_ctx *ctx, X509 *xchg, X509 *ca_cert, const char *ca_name, time_t now);

/* A readable description of DER, which may be a PKCS#10 request or a CMS
 * SignedData around one (id-data) or around CMC PKIData: subject, key,
 * signature, template identification, extensions, the Microsoft
 * attributes, and for CMS the eContentType, signers and certificates.
 * For `autoenroll request --print` and debug logs.  DER is untrusted:
 * anything else is AE_ERR_INVALID with a message.  *TEXT_OUT (malloc'd,
 * several lines) stays NULL on error. */
ae_err ae_csr_describe(ae_ctx *ctx, const uint8_t *der, size_t len, char **text_out);

/* The request attributes (pwszAttributes, MS-WCCE 3.2.1.4.2.1.2) sent
 * with every request: "CertificateTemplate:NAME", "rmd:MACHINE" (the
 * requesting machine, when not NULL) and "cdc:DC" (the DC the policy was
 * read from, so the CA reads the account there too, 3.2.2.1.3; when not
 * NULL), separated by "\n".  Values come from AD: one with a control
 * character is refused (it could add attributes of its own).  *OUT
 * malloc'd, NULL on error. */
ae_err ae_csr_attributes(ae_ctx *ctx, const char *template_name, const char *rmd, const char *cdc, char **out);

/* The subject S of --subject, "CN=x,O=y" (RFC 4514 order: most specific
 * first), into a Name: backslash escapes of special characters and \XX
 * hex pairs; multi-valued RDNs and anything that is not TYPE=value are
 * refused.  S is untrusted (the command line, a renewal's old subject).
 * *OUT NULL on error. */
ae_err ae_csr_parse_subject(ae_ctx *ctx, const char *s, X509_NAME **out);

/* The OS version a request carries: the kernel release as
 * major.minor.build.2 ("6.1.0.2"), malloc'd; NULL when out of memory. */
char *ae_csr_os_version(void);

/* DER / PEM of a request; malloc'd. */
ae_err ae_csr_to_der(ae_ctx *ctx, X509_REQ *req, uint8_t **der_out, size_t *len_out);
ae_err ae_csr_to_pem(ae_ctx *ctx, X509_REQ *req, char **pem_out);

#endif
