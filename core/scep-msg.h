/*
 * scep-msg.h - what an SCEP server (RFC 8894; Microsoft NDES) answers
 * before any PKIOperation: its capabilities (GetCACaps), its CA and RA
 * certificates (GetCACert), and the one-time challenge on NDES's admin
 * page (mscep_admin).  All of it is untrusted input: parsed here, trusted
 * only after the certificates are verified against AD's roots or a
 * configured anchor (the caller's job).
 */
#ifndef AE_SCEP_MSG_H
#define AE_SCEP_MSG_H

#include "error.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* GetCACaps keywords (RFC 8894 3.5.2). */
enum {
	AE_SCEP_CAP_AES = 1u << 0,
	AE_SCEP_CAP_DES3 = 1u << 1,
	AE_SCEP_CAP_GETNEXTCACERT = 1u << 2,
	AE_SCEP_CAP_POST = 1u << 3,          /* POSTPKIOperation */
	AE_SCEP_CAP_RENEWAL = 1u << 4,
	AE_SCEP_CAP_SHA1 = 1u << 5,
	AE_SCEP_CAP_SHA256 = 1u << 6,
	AE_SCEP_CAP_SHA512 = 1u << 7,
	AE_SCEP_CAP_SCEPSTANDARD = 1u << 8,  /* implies AES, POSTPKIOperation, SHA-256 */
	AE_SCEP_CAP_UPDATE = 1u << 9,
};

/* Parses a GetCACaps body: one keyword a line (LF or CRLF), compared
 * without case; unknown keywords are ignored, SCEPStandard adds the three
 * it implies.  An empty body is valid: a server that offers nothing
 * (RFC 8894 3.5.1).  Binary or oversized bodies are AE_ERR_INVALID. */
ae_err ae_scep_caps_parse(ae_ctx *ctx, const char *text, size_t len, unsigned *caps);

/* The caps as text, "AES DES3 POSTPKIOperation ...", for messages. */
void ae_scep_caps_str(unsigned caps, char *buf, size_t size);

/* The strongest content cipher and digest CAPS allow: AES-128-CBC, else
 * DES3-CBC, else single DES; SHA-256, else SHA-512, else SHA-1 (RFC 8894
 * 3.5.2 prefers AES-128 and SHA-256).  *WEAK is set for anything below
 * AES and SHA-256, so that the caller warns.  MD5 is never chosen. */
const EVP_CIPHER *ae_scep_cipher(unsigned caps, bool *weak);
const EVP_MD *ae_scep_digest(unsigned caps, bool *weak);

/* The certificates of a GetCACert answer, each in its role. */
typedef struct {
	X509 *ca;          /* the CA that issues (and issued the RA certificates) */
	X509 *ra_sign;     /* signs CertRep: the RA signing certificate, or the CA */
	X509 *ra_encrypt;  /* requests are encrypted to it: keyEncipherment, or the CA */
	STACK_OF(X509) *all; /* every certificate received (chain building) */
} ae_scep_ca_certs;

/* Parses a GetCACert body by its Content-Type (RFC 8894 4.2.1):
 * application/x-x509-ca-cert is one DER certificate, a CA that plays every
 * role; application/x-x509-ca-ra-cert a certs-only PKCS#7 with the CA and
 * RA certificates (NDES: a signing one with digitalSignature and an
 * encryption one with keyEncipherment, same subject), told apart by key
 * usage, never by name.  Another or no Content-Type: whichever of the two
 * the bytes are.  OUT is zeroed first; clear it with
 * ae_scep_ca_certs_clear. */
ae_err ae_scep_ca_certs_parse(ae_ctx *ctx, const char *content_type, const uint8_t *der, size_t len,
                              ae_scep_ca_certs *out);
void ae_scep_ca_certs_clear(ae_scep_ca_certs *c);

/* The challenge password on NDES's admin page (/certsrv/mscep_admin/;
 * NDES sends it in UTF-16LE, "The enrollment challenge password is:
 * <B> 0123456789ABCDEF </B>").  *OUT is malloc'd.  The page that says the
 * caller may not enroll, or that the password cache is full, is
 * AE_ERR_DENIED with NDES's reason; any other page AE_ERR_INVALID. */
ae_err ae_scep_admin_challenge(ae_ctx *ctx, const char *page, size_t len, char **out);


/* ---- PKIOperation (RFC 8894 3.2, 3.3) ---- */

/* messageType (RFC 8894 3.2.1.2) */
enum {
	AE_SCEP_CERTREP = 3,
	AE_SCEP_RENEWALREQ = 17,
	AE_SCEP_PKCSREQ = 19,
	AE_SCEP_CERTPOLL = 20,
};

/* pkiStatus (3.2.1.3) */
enum {
	AE_SCEP_SUCCESS = 0,
	AE_SCEP_FAILURE = 2,
	AE_SCEP_PENDING = 3,
};

/* A pkiMessage: CONTENT (a PKCS#10, or an IssuerAndSubject) in a
 * pkcsPKIEnvelope encrypted with CIPHER to RA_ENCRYPT, inside SignedData
 * signed by SIGNER_KEY (SIGNER_CERT in certificates) with MD, with the
 * messageType TYPE, transactionID TID and senderNonce NONCE (16 bytes).
 * *OUT (malloc'd) stays NULL on error. */
ae_err ae_scep_pkimessage(ae_ctx *ctx, int type, const char *tid, const uint8_t nonce[16], const uint8_t *content,
                          size_t len, X509 *ra_encrypt, const EVP_CIPHER *cipher, X509 *signer_cert,
                          EVP_PKEY *signer_key, const EVP_MD *md, uint8_t **out, size_t *out_len);

/* A CertRep (3.3.2), parsed; not yet trusted. */
typedef struct {
	int status;                /* AE_SCEP_SUCCESS, _FAILURE, _PENDING */
	int fail_info;             /* FAILURE: 0..4 (3.2.1.4), -1 when absent */
	char *tid;                 /* transactionID */
	uint8_t recipient_nonce[16];
	bool has_recipient_nonce;
	uint8_t *envelope;         /* SUCCESS: the pkcsPKIEnvelope (DER) */
	size_t envelope_len;
	void *cms_;                /* the SignedData, for ae_scep_certrep_verify */
} ae_scep_certrep;

/* Parses a CertRep: SignedData with one signer whose authenticated
 * attributes say messageType 3, a pkiStatus, a failInfo for FAILURE,
 * the transactionID and the recipientNonce; SUCCESS has the envelope as
 * content.  OUT is zeroed first; clear it with ae_scep_certrep_clear. */
ae_err ae_scep_certrep_parse(ae_ctx *ctx, const uint8_t *der, size_t len, ae_scep_certrep *out);
void ae_scep_certrep_clear(ae_scep_certrep *rep);

/* Whether REP's signature verifies with RA_SIGN's key (and no other). */
ae_err ae_scep_certrep_verify(ae_ctx *ctx, const ae_scep_certrep *rep, X509 *ra_sign);

/* Decrypts REP's envelope with KEY (whose certificate RECIP_CERT the
 * request was signed with) and finds, in the degenerate PKCS#7 inside,
 * the certificate for public key WANT.  *CERT_OUT (DER) and *P7_OUT (the
 * whole certs-only PKCS#7, for the chain) are malloc'd. */
ae_err ae_scep_certrep_open(ae_ctx *ctx, const ae_scep_certrep *rep, X509 *recip_cert, EVP_PKEY *key,
                            EVP_PKEY *want, uint8_t **cert_out, size_t *cert_len, uint8_t **p7_out,
                            size_t *p7_len);

/* failInfo in words, with what it usually means at NDES. */
const char *ae_scep_fail_info_str(int fail_info);

#endif
