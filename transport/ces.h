/*
 * ces.h - enrollment over the Certificate Enrollment Web Service (CES):
 * MS-WSTEP RequestSecurityToken over HTTPS, Kerberos through HTTP
 * Negotiate (GSS-API with the TLS channel binding, the context's default
 * ccache; net/soap.h), or a user name and password, or a client
 * certificate, as the policy says the CES takes them.  The
 * server's TLS certificate is validated against AD's roots (ae_ca.
 * endpoint_trust) and the system's trust; plain http is refused.
 */
#ifndef AE_CES_H
#define AE_CES_H

#include "transport.h"

/* Reads a RequestSecurityToken answer (MS-WSTEP 3.1.4.2.1) of LEN bytes
 * from WHAT ("the CES at URL") into *OUT: issued (certificate and PKCS#7
 * chain), pending (RequestID), or refused (a SOAP fault's
 * CertificateEnrollmentWSDetail: ErrorCode as the HRESULT, RequestID).
 * RETRIEVAL: the answer to a QueryTokenStatus.  Errors for anything else
 * (a fault without detail is the server's failure).  *OUT is cleared on
 * error.  Untrusted input: fuzzed (tests/fuzz/fuzz-wstep.c). */
ae_err ae_wstep_parse(ae_ctx *ctx, const char *what, const char *xml, size_t len, bool retrieval, ae_ca_answer *out);

/* Reads the answer to a key exchange token request (MS-WSTEP 3.1.4.2.2,
 * the sample of 4.1.2.2): the CA exchange certificate in the
 * KeyExchangeToken's BinarySecurityToken, into *OUT (NULL on error).  A
 * SOAP fault is an error with the server's reason and HRESULT.  Untrusted
 * input: fuzzed (tests/fuzz/fuzz-wstep.c). */
ae_err ae_wstep_parse_ket(ae_ctx *ctx, const char *what, const char *xml, size_t len, X509 **out);

/* AD's roots (PKI->roots) as PEM, the trust ae_ca.endpoint_trust holds
 * for a CES (caller frees).  *OUT stays NULL on error. */
ae_err ae_ces_trust(ae_ctx *ctx, const ae_pki *pki, char **out);

/* The password of cep_username: from cep_password_file, or with
 * cep_password = pinentry from the prompt the interactive commands set
 * (ae_cep_set_password_prompt: autoenroll enroll, policy...); without one
 * (the background pulse) AE_ERR_NEEDPIN, a skip reason that says so.
 * WHAT names the server ("CA CORP-CA1", "policy server URL"); caller
 * cleanses and frees *OUT. */
typedef ae_err (*ae_cep_password_fn)(ae_ctx *ctx, const ae_conf *conf, const char *user, char **out);
void ae_cep_set_password_prompt(ae_cep_password_fn prompt);
ae_err ae_cep_password(ae_ctx *ctx, const ae_conf *conf, const char *what, char **out);
/* A TLS client certificate whose key is on a token: cep_client_key a
 * pkcs11: URI (a key.uri); cep_client_cert the certificate's PEM file, or
 * a pkcs11: URI with the key's id=, or not set: then the certificate with
 * the key's CKA_ID on its token.  libaecore has no PKCS#11: the programs
 * that link the key store set the opener (over ae_key_open_uri_evp) with
 * ae_cep_set_key_opener; interactive commands' opener asks a missing PIN
 * through CONF's pinentry, the background pulse's never does (its skip
 * reason says so).  CERT_OUT NULL: the certificate is not wanted. */
typedef ae_err (*ae_cep_key_open_fn)(ae_ctx *ctx, const ae_conf *conf, const char *uri, const char *setting,
                                     X509 **cert_out, EVP_PKEY **pkey_out, void **handle_out);
typedef void (*ae_cep_key_close_fn)(void *handle);
void ae_cep_set_key_opener(ae_cep_key_open_fn open, ae_cep_key_close_fn close);
typedef struct {
	X509 *x509;
	EVP_PKEY *pkey;        /* owned by HANDLE: signs through the token */
	void *handle;
	char *shown;           /* the certificate in messages: its file, or its subject on the token */
} ae_cep_token_cred;
/* Whether CONF's client key is on a token (cep_client_key = pkcs11:...). */
bool ae_cep_key_on_token(const ae_conf *conf);
/* Whether CONF authenticates with a TLS client certificate (cep_client_cert
 * set, or left out because cep_client_key is on a token). */
bool ae_cep_client_cert_configured(const ae_conf *conf);
/* Opens it (the PIN from the URI's pin-source=, else the opener's prompt).
 * *OUT is cleared on error. */
ae_err ae_cep_token_cred_open(ae_ctx *ctx, const ae_conf *conf, ae_cep_token_cred *out);
void ae_cep_token_cred_clear(ae_cep_token_cred *cred);
#endif
