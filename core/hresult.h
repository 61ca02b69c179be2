/*
 * hresult.h - names and explanations for the status codes a CA sends back:
 * CERTSRV_E_* HRESULTs in pdwDisposition, Win32/RPC codes in fault PDUs
 * (nca_s_*, ERROR_ACCESS_DENIED, RPC_S_*), SEC_E_* from the security
 * provider, and endpoint-mapper statuses.
 *
 * The explanation is written for an administrator: it says what to check,
 * with the template, CA and caller filled in where they matter.
 */
#ifndef AE_HRESULT_H
#define AE_HRESULT_H

#include <stdint.h>

/* Known HRESULTs and statuses used by the code. */
#define AE_HR_E_ACCESSDENIED              0x80070005u
#define AE_HR_E_ACCESSDENIED_OLE          0x80000009u
#define AE_HR_E_INVALIDARG                0x80070057u
#define AE_HR_CERTSRV_E_PROPERTY_EMPTY    0x80094004u
#define AE_HR_CERTSRV_E_ENROLL_DENIED     0x80094011u
#define AE_HR_CERTSRV_E_TEMPLATE_DENIED   0x80094012u
#define AE_HR_CERTSRV_E_UNSUPPORTED_CERT_TYPE 0x80094800u
#define AE_HR_RPC_S_SERVER_UNAVAILABLE    0x800706BAu
#define AE_HR_RPC_S_SEC_PKG_ERROR         0x80070721u
#define AE_HR_NO_SUCH_LOGON_SESSION       0x80070520u
#define AE_HR_DS_SERVER_DOWN              0x8007203Au
#define AE_HR_NO_SUCH_DOMAIN              0x8007054Bu
#define AE_HR_SEC_E_TIME_SKEW             0x80090324u
#define AE_HR_ACCOUNT_DISABLED            0x80070533u
#define AE_NCA_S_OP_RNG_ERROR             0x1C010002u
#define AE_NCA_S_UNK_IF                   0x1C010003u
#define AE_NCA_S_PROTO_ERROR              0x1C01000Bu
#define AE_EPT_S_NOT_REGISTERED           0x16C9A0D6u

/* The symbolic name ("CERTSRV_E_UNSUPPORTED_CERT_TYPE", "nca_s_op_rng_error",
 * "ERROR_ACCESS_DENIED"), or NULL if the code is not in the table.  Static. */
const char *ae_hresult_name(uint32_t hr);

/* A sentence that says what the code means here and what to check, with
 * TPL (template cn), CA (CA name) and CALLER ("CORP\alice", "WS1$") filled
 * in; any of them may be NULL ("the template", "the CA", "the caller" are
 * used then).  Unknown codes get a generic sentence with the number.
 * Returns a heap string (free()), or NULL when out of memory. */
char *ae_hresult_explain(uint32_t hr, const char *tpl, const char *ca, const char *caller);

/* The HRESULT Windows logs with CertEnroll events 67, 68 and 70 and
 * AutoEnrollment 6 for a policy server that could not be reached or
 * authenticated to, from our error ERR (ae_err) and its message MSG:
 * ERROR_NO_SUCH_LOGON_SESSION (0x80070520) for Kerberos credentials,
 * SEC_E_TIME_SKEW, ERROR_ACCOUNT_DISABLED, ERROR_NO_SUCH_DOMAIN,
 * ERROR_DS_SERVER_DOWN; 0 when none fits. */
uint32_t ae_hresult_of_policy_failure(int err, const char *msg);

/* "CERTSRV_E_TEMPLATE_DENIED (0x80094012)" or "0x12345678" into BUF. */
const char *ae_hresult_format(uint32_t hr, char *buf, unsigned size);

#endif
