/*
 * icpr.h - MS-ICPR ICertPassage::CertServerRequest (opnum 0): NDR
 * marshalling of the request, defensive unmarshalling of the answer, and
 * the submit / retrieve calls over an ae_rpc connection.
 */
#ifndef AE_ICPR_H
#define AE_ICPR_H

#include "error.h"
#include "rpc.h"
#include "transport.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Dispositions (MS-WCCE 3.2.1.4.2.1); anything else is an HRESULT. */
#define AE_CR_DISP_INCOMPLETE 0
#define AE_CR_DISP_ERROR 1
#define AE_CR_DISP_DENIED 2
#define AE_CR_DISP_ISSUED 3
#define AE_CR_DISP_ISSUED_OUT_OF_BAND 4
#define AE_CR_DISP_UNDER_SUBMISSION 5
#define AE_CR_DISP_REVOKED 6

/* Largest request and largest answer blob we handle. */
#define AE_ICPR_MAX_BLOB (8u * 1024 * 1024)

typedef struct {
	uint32_t request_id;
	uint32_t disposition;   /* CR_DISP_* or an HRESULT */
	uint8_t *cert;          /* pctbEncodedCert (DER), NULL if empty */
	size_t cert_len;
	uint8_t *chain;         /* pctbCert (PKCS#7 / CMC), NULL if empty */
	size_t chain_len;
	char *message;          /* pctbDispositionMessage as UTF-8, NULL if empty */
	uint32_t status;        /* the call's return value */
} ae_icpr_result;

extern const ae_rpc_iface ae_icpr_iface; /* 91ae6020-9e3c-11cf-8d7c-00aa00c091be v0.0 */

/* Marshals the [in] parameters of CertServerRequest.  AUTHORITY (the CA
 * name) may be NULL; ATTRIBUTES is UTF-8, lines separated by "\n", NULL or
 * "" for none; REQUEST NULL/0 for a retrieval (status inspection).
 * Referent ids are 0x00020000, +4, +8 ... in order.  *STUB_OUT malloc'd. */
ae_err ae_icpr_encode(ae_ctx *ctx, uint32_t flags, const char *authority, uint32_t request_id,
                      const char *attributes, const uint8_t *request, size_t request_len,
                      uint8_t **stub_out, size_t *len_out);

/* Unmarshals the [out] parameters; STUB is untrusted.  On error OUT is
 * left cleared.  Clear OUT with ae_icpr_result_clear(). */
ae_err ae_icpr_decode(ae_ctx *ctx, const uint8_t *stub, size_t len, ae_icpr_result *out);

/* Submits REQ (PKCS#10, CMS or CMC; dwFlags 0 lets the CA detect the
 * format) to CA_NAME with ATTRIBUTES.  AE_OK means the CA answered: look at
 * out->disposition (and ae_hresult_explain() for HRESULTs). */
ae_err ae_icpr_submit(ae_ctx *ctx, ae_rpc *rpc, const char *ca_name, const char *attributes,
                      const uint8_t *req, size_t len, ae_icpr_result *out);

/* Asks CA_NAME for the state of REQUEST_ID (empty request and attributes). */
ae_err ae_icpr_retrieve(ae_ctx *ctx, ae_rpc *rpc, const char *ca_name, uint32_t request_id,
                        ae_icpr_result *out);

void ae_icpr_result_clear(ae_icpr_result *res);

/* RES as a transport answer (transport.h): what its outcome, code and
 * finality mean; the blobs move to *OUT and RES is cleared.  RETRIEVAL:
 * RES answers a retrieval. */
void ae_icpr_answer(ae_icpr_result *res, bool retrieval, ae_ca_answer *out);

/* What an answer means.  A nonzero return value is the answer whatever
 * the disposition says: AD CS returns an unknown request id
 * (CERTSRV_E_PROPERTY_EMPTY) and, since Windows Server 2008 R2, a denied
 * request's retrieval (CERTSRV_E_ADMIN_DENIED_REQUEST) that way, with a
 * disposition of 0 or 1 (MS-WCCE 3.2.1.4.2.1.3, <86>). */
typedef enum {
	AE_ICPR_ISSUED,   /* issued (or issued out of band): the certificate is there */
	AE_ICPR_PENDING,  /* under submission */
	AE_ICPR_REFUSED,  /* anything else: ae_icpr_hresult() says why */
} ae_icpr_outcome;

ae_icpr_outcome ae_icpr_result_outcome(const ae_icpr_result *res);

/* The code that explains a refusal: the return value when nonzero, else
 * the disposition (a CR_DISP_* or an HRESULT). */
uint32_t ae_icpr_hresult(const ae_icpr_result *res);

/* Whether a refused retrieval of a pending request is final (the CA
 * denied it or does not know it), so that its key may go; otherwise the
 * request stays pending and is asked again. */
bool ae_icpr_retrieval_final(const ae_icpr_result *res);

/* "issued", "pending (under submission)", "denied", ... or NULL for an
 * HRESULT.  Ask this first: small dispositions (0-6) are not HRESULTs, and
 * ae_hresult_name(5) would name the Win32 ERROR_ACCESS_DENIED. */
const char *ae_icpr_disposition_name(uint32_t disposition);

#endif
