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

#endif
