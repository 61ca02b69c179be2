/*
 * issued.h - checks on a certificate a CA returned, before anything is
 * stored: it is for our key, it chains to the CA we asked, and it is of
 * the template we asked for.  Anything else is rejected.
 */
#ifndef AE_ISSUED_H
#define AE_ISSUED_H

#include "error.h"
#include "template.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

typedef struct {
	char *template_oid;     /* from 1.3.6.1.4.1.311.21.7, or NULL */
	char *template_name;    /* from 1.3.6.1.4.1.311.20.2, or NULL */
	uint32_t major, minor;  /* from 1.3.6.1.4.1.311.21.7 */
} ae_cert_template;

/* Reads the template identification of CERT (either extension); the
 * strings are malloc'd (free with ae_cert_template_clear). */
ae_err ae_cert_template_read(ae_ctx *ctx, X509 *cert, ae_cert_template *out);
void ae_cert_template_clear(ae_cert_template *t);

/* CERT must carry KEY's public key, be signed by CA_CERT and chain from it
 * to one of ROOTS (with INTERMEDIATES), be valid now, and name template
 * TPL (NULL: any template, the server chose it).  The message says which check failed. */
ae_err ae_issued_verify(ae_ctx *ctx, X509 *cert, EVP_PKEY *key, const ae_template *tpl, X509 *ca_cert,
                        STACK_OF(X509) *roots, STACK_OF(X509) *intermediates);

/* ae_issued_verify, and on success *CHAIN_OUT (when not NULL) is the path
 * that verified without the leaf: issuing CA first, trusted root last.
 * Only this chain is stored: a certificate the CA's PKCS#7 carried that is
 * not on it is dropped (issue 19). */
ae_err ae_issued_verify_chain(ae_ctx *ctx, X509 *cert, EVP_PKEY *key, const ae_template *tpl, X509 *ca_cert,
                              STACK_OF(X509) *roots, STACK_OF(X509) *intermediates, STACK_OF(X509) **chain_out);

/* The certificates of a PKCS#7 / CMS certs-only blob (pctbCert), or an
 * empty stack; never NULL on success. */
ae_err ae_certs_from_pkcs7(ae_ctx *ctx, const uint8_t *der, size_t len, STACK_OF(X509) **out);

#endif
