/*
 * hresult.c - names and administrator-facing explanations of CA statuses.
 *
 * Explanations use placeholders, replaced by ae_hresult_explain():
 * "{T}" "template NAME" (or "the template"), "{t}" the bare template name,
 * "{C}" "CA NAME" (or "the CA"), "{U}" the caller (or "the caller").
 */
#include "config.h"

#include "error.h"
#include "hresult.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	uint32_t code;
	const char *name;
	const char *explain; /* NULL: generic sentence with the name */
} hr_entry;

static const hr_entry table[] = {
	/* --- generic COM / Win32 as HRESULT --- */
	{ 0x80070005u, "E_ACCESSDENIED",
	  "the CA refused {U}: check Enroll on {T} and membership of the Certificate Service DCOM Access group on {C}" },
	{ 0x80000009u, "E_ACCESSDENIED",
	  "the CA refused {U}: check Enroll on {T} and membership of the Certificate Service DCOM Access group on {C} (the CA also answers this when the RPC connection is not encrypted)" },
	{ 0x80070057u, "E_INVALIDARG",
	  "{C} rejected the call's parameters (an attribute string or request it could not read): a client bug, report it with the request" },
	{ 0x80004005u, "E_FAIL",
	  "{C} failed without saying why: see the CA's application event log" },
	{ 0x8007000Eu, "E_OUTOFMEMORY", "{C} ran out of memory: see the CA's event log" },
	{ 0x8000FFFFu, "E_UNEXPECTED", "{C} hit an unexpected error: see the CA's application event log" },
	{ 0x80070002u, "ERROR_FILE_NOT_FOUND",
	  "{C} could not find an object it needed (often {T} in Active Directory): check replication of CN=Certificate Templates" },
	{ 0x8007052Eu, "ERROR_LOGON_FAILURE", "the CA could not log {U} on: check the account and the domain trust" },
	/* --- the policy server could not be reached or authenticated to
	 * (CertEnroll events 67, 68, 70 and AutoEnrollment 6) --- */
	{ 0x80070520u, "ERROR_NO_SUCH_LOGON_SESSION",
	  "no Kerberos logon session for {U}: for the machine, the keytab's keys no longer match the computer account (its key version, or AES missing from msDS-SupportedEncryptionTypes), or the clocks differ by more than 5 minutes; for a user, no valid ticket: run autoenroll diagnose" },
	{ 0x8007203Au, "ERROR_DS_SERVER_DOWN",
	  "no domain controller answered LDAP: check DNS (the _ldap._tcp.dc._msdcs SRV records), the network and ldap_timeout; run autoenroll diagnose" },
	{ 0x8007054Bu, "ERROR_NO_SUCH_DOMAIN",
	  "the domain could not be found: no DC in DNS for it, or this host is not joined; run autoenroll diagnose" },
	{ 0x80070533u, "ERROR_ACCOUNT_DISABLED", "{U}'s account is disabled in Active Directory" },
	{ 0x80070775u, "ERROR_ACCOUNT_LOCKED_OUT", "{U}'s account is locked out in Active Directory" },
	{ 0x800706BAu, "RPC_S_SERVER_UNAVAILABLE",
	  "the CA host does not answer RPC, or {C} refuses ICertPassage (InterfaceFlags IF_NORPCICERTREQUEST): check that the Certificate Services service runs and that TCP 135 and the dynamic RPC ports are open" },
	{ 0x80070721u, "RPC_S_SEC_PKG_ERROR",
	  "the CA host's security provider failed the Kerberos authentication: check the CA computer's SPNs (host/NAME), its keytab/password and the clocks" },
	{ 0x800706D9u, "EPT_S_NOT_REGISTERED",
	  "the endpoint mapper on the CA host does not know ICertPassage: is AD CS (CertSvc) running there?" },
	{ 0x800706D1u, "RPC_S_PROCNUM_OUT_OF_RANGE", "the server does not implement the called operation: is this really an AD CS CA?" },
	{ 0x800706F7u, "RPC_X_BAD_STUB_DATA", "the server could not decode the request (bad NDR): a client bug, report it" },
	/* --- Win32 / RPC statuses as they appear in fault PDUs --- */
	{ 0x00000005u, "ERROR_ACCESS_DENIED",
	  "the CA host refused the call (access denied): check that {U} may use {C} (Certificate Service DCOM Access group, Request Certificates permission) and that the connection is encrypted" },
	{ 0x00000006u, "ERROR_INVALID_HANDLE", "the server rejected the call's handle: retry; if it persists, report it" },
	{ 0x00000057u, "ERROR_INVALID_PARAMETER", "the server rejected a parameter of the call: a client bug, report it" },
	{ 0x000006A6u, "RPC_S_INVALID_BINDING", "the server rejected the binding: a protocol mismatch, report it" },
	{ 0x000006B5u, "RPC_S_UNKNOWN_IF", "the server does not offer the ICertPassage interface on that port: is AD CS running there?" },
	{ 0x000006BAu, "RPC_S_SERVER_UNAVAILABLE", "the RPC server is unavailable: check that the CA service runs and its ports are open" },
	{ 0x000006BEu, "RPC_S_CALL_FAILED", "the call failed on the server: see the CA host's event log" },
	{ 0x000006BFu, "RPC_S_CALL_FAILED_DNE", "the server did not run the call: retry later" },
	{ 0x000006C0u, "RPC_S_PROTOCOL_ERROR", "the server saw an RPC protocol error: a client bug, report it" },
	{ 0x000006D1u, "RPC_S_PROCNUM_OUT_OF_RANGE", "the server does not implement the called operation" },
	{ 0x000006F7u, "RPC_X_BAD_STUB_DATA", "the server could not decode the request (bad NDR): a client bug, report it" },
	{ 0x0000071Du, "RPC_S_UNSUPPORTED_AUTHN_LEVEL", "the server refused the authentication level: it requires packet privacy" },
	{ 0x00000721u, "RPC_S_SEC_PKG_ERROR",
	  "the server's security provider failed (Kerberos): check the CA computer's SPNs (host/NAME), its keys and the clocks" },
	/* --- NCA statuses (C706 N.2) in fault PDUs --- */
	{ 0x1C010001u, "nca_s_comm_failure", "communication with the server failed: retry" },
	{ 0x1C010002u, "nca_s_op_rng_error", "the server does not implement the called operation number: is this really ICertPassage?" },
	{ 0x1C010003u, "nca_s_unk_if", "the server does not know the ICertPassage interface: is AD CS running on that host and port?" },
	{ 0x1C010006u, "nca_s_wrong_boot_time", "the server restarted during the call: retry" },
	{ 0x1C010009u, "nca_s_you_crashed", "the server reports a client failure: retry" },
	{ 0x1C01000Bu, "nca_s_proto_error", "the server saw an RPC protocol error in our request: a client bug, report it" },
	{ 0x1C010013u, "nca_s_out_args_too_big", "the answer is too big for the server to send" },
	{ 0x1C010014u, "nca_s_server_too_busy", "the server is too busy: retry later" },
	{ 0x1C010015u, "nca_s_fault_string_too_long", "a string in the call is too long for the server" },
	{ 0x1C010017u, "nca_s_unsupported_type", "the server does not support a type in the call" },
	{ 0x1C000001u, "nca_s_fault_int_div_by_zero", NULL },
	{ 0x1C000002u, "nca_s_fault_addr_error", NULL },
	{ 0x1C000003u, "nca_s_fault_fp_div_zero", NULL },
	{ 0x1C000004u, "nca_s_fault_fp_underflow", NULL },
	{ 0x1C000005u, "nca_s_fault_fp_overflow", NULL },
	{ 0x1C000006u, "nca_s_fault_invalid_tag", NULL },
	{ 0x1C000007u, "nca_s_fault_invalid_bound", "the server found an invalid bound in the request (bad NDR): a client bug, report it" },
	{ 0x1C000008u, "nca_s_rpc_version_mismatch", "the server does not speak this RPC version" },
	{ 0x1C000009u, "nca_s_unspec_reject", "the server rejected the call without a reason" },
	{ 0x1C00000Au, "nca_s_bad_actid", NULL },
	{ 0x1C00000Bu, "nca_s_who_are_you_failed", NULL },
	{ 0x1C00000Cu, "nca_s_manager_not_entered", "the server did not run the call" },
	{ 0x1C00000Du, "nca_s_fault_cancel", "the call was cancelled" },
	{ 0x1C00000Eu, "nca_s_fault_ill_inst", NULL },
	{ 0x1C00000Fu, "nca_s_fault_fp_error", NULL },
	{ 0x1C000010u, "nca_s_fault_int_overflow", NULL },
	{ 0x1C000012u, "nca_s_fault_unspec", "the call failed on the server: see the CA host's event log" },
	{ 0x1C000013u, "nca_s_fault_remote_comm_failure", NULL },
	{ 0x1C000014u, "nca_s_fault_pipe_empty", NULL },
	{ 0x1C000015u, "nca_s_fault_pipe_closed", NULL },
	{ 0x1C000016u, "nca_s_fault_pipe_order", NULL },
	{ 0x1C000017u, "nca_s_fault_pipe_discipline", NULL },
	{ 0x1C000018u, "nca_s_fault_pipe_comm_error", NULL },
	{ 0x1C000019u, "nca_s_fault_pipe_memory", NULL },
	{ 0x1C00001Au, "nca_s_fault_context_mismatch", NULL },
	{ 0x1C00001Bu, "nca_s_fault_remote_no_memory", "the server ran out of memory" },
	{ 0x1C00001Cu, "nca_s_invalid_pres_context_id", "the server rejected the presentation context: a client bug, report it" },
	{ 0x1C00001Du, "nca_s_unsupported_authn_level", "the server refused the authentication level" },
	{ 0x1C00001Fu, "nca_s_invalid_checksum", "the server could not verify the sealed request: a Kerberos key or sealing mismatch" },
	{ 0x1C000020u, "nca_s_invalid_crc", NULL },
	{ 0x1C000021u, "nca_s_fault_user_defined", NULL },
	{ 0x1C000022u, "nca_s_fault_tx_open_failed", NULL },
	{ 0x1C000023u, "nca_s_fault_codeset_conv_error", NULL },
	{ 0x1C000024u, "nca_s_fault_object_not_found", NULL },
	{ 0x1C000025u, "nca_s_fault_no_client_stub", NULL },
	/* --- endpoint mapper --- */
	{ 0x16C9A0D6u, "EPT_S_NOT_REGISTERED",
	  "the endpoint mapper does not know ICertPassage: is AD CS (CertSvc) running on the CA host?" },
	{ 0x16C9A0D0u, "EPT_S_CANT_PERFORM_OP", "the endpoint mapper could not perform the lookup" },
	{ 0x16C9A0D8u, "EPT_S_INVALID_ENTRY", "the endpoint mapper rejected the lookup" },
	/* --- security provider (Kerberos) --- */
	{ 0x80090302u, "SEC_E_UNSUPPORTED_FUNCTION", "the security provider does not support the request" },
	{ 0x80090303u, "SEC_E_TARGET_UNKNOWN",
	  "the KDC does not know the CA's service principal: check the CA computer's SPNs (host/NAME) and the name used" },
	{ 0x80090304u, "SEC_E_INTERNAL_ERROR", "the security provider failed: see the CA host's System event log" },
	{ 0x80090308u, "SEC_E_INVALID_TOKEN", "the server could not read our Kerberos token: a client or interop bug, report it" },
	{ 0x8009030Cu, "SEC_E_LOGON_DENIED", "the CA host refused {U}'s logon: check the account (disabled, locked, expired)" },
	{ 0x8009030Eu, "SEC_E_NO_CREDENTIALS", "no Kerberos credentials: log in again or run kinit (machine: check the keytab)" },
	{ 0x8009030Fu, "SEC_E_MESSAGE_ALTERED", "a sealed message failed its integrity check: network tampering or a Kerberos key mismatch" },
	{ 0x80090310u, "SEC_E_OUT_OF_SEQUENCE", "sealed messages arrived out of order: retry" },
	{ 0x80090311u, "SEC_E_NO_AUTHENTICATING_AUTHORITY", "the CA host could not reach a domain controller to check {U}" },
	{ 0x80090317u, "SEC_E_CONTEXT_EXPIRED", "the Kerberos ticket expired during the exchange: get a new ticket and retry" },
	{ 0x80090322u, "SEC_E_WRONG_PRINCIPAL",
	  "the service ticket is for another principal than the CA host (duplicate or wrong SPN): check setspn -Q host/NAME" },
	{ 0x80090324u, "SEC_E_TIME_SKEW", "the clocks differ by more than 5 minutes: check time synchronisation here and on the CA" },
	{ 0x80090330u, "SEC_E_DECRYPT_FAILURE", "a sealed message could not be decrypted: a Kerberos key mismatch" },
	{ 0x80090331u, "SEC_E_ALGORITHM_MISMATCH", "no common encryption type: check the supported encryption types of the CA's computer account" },
	{ 0x80090342u, "SEC_E_KDC_UNKNOWN_ETYPE", "the KDC does not support the requested encryption type: check msDS-SupportedEncryptionTypes and krb5.conf" },
	/* --- CA (MS-WCCE 3.2.1.4.2.1, winerror.h) --- */
	{ 0x80094001u, "CERTSRV_E_BAD_REQUESTSUBJECT", "{C} rejected the request's subject name (invalid or too long)" },
	{ 0x80094002u, "CERTSRV_E_NO_REQUEST", "{C} has no such request" },
	{ 0x80094003u, "CERTSRV_E_BAD_REQUESTSTATUS", "the request is in a state that does not allow this operation on {C}" },
	{ 0x80094004u, "CERTSRV_E_PROPERTY_EMPTY",
	  "{C} has no such request (unknown request id, or it was deleted): submit a new request" },
	{ 0x80094005u, "CERTSRV_E_INVALID_CA_CERTIFICATE", "{C}'s own certificate is invalid: the CA administrator must renew or fix it" },
	{ 0x80094006u, "CERTSRV_E_SERVER_SUSPENDED", "{C} is suspended: retry later" },
	{ 0x80094007u, "CERTSRV_E_ENCODING_LENGTH", "a value in the request is too long for {C}" },
	{ 0x80094008u, "CERTSRV_E_ROLECONFLICT", "{U} holds conflicting CA roles on {C}" },
	{ 0x80094009u, "CERTSRV_E_RESTRICTEDOFFICER", "a restricted certificate manager on {C} may not act for {U}" },
	{ 0x8009400Au, "CERTSRV_E_KEY_ARCHIVAL_NOT_CONFIGURED", "{T} requires key archival but {C} has no key recovery agent configured" },
	{ 0x8009400Bu, "CERTSRV_E_NO_VALID_KRA", "{C} has no valid key recovery agent certificate" },
	{ 0x8009400Cu, "CERTSRV_E_BAD_REQUEST_KEY_ARCHIVAL", "{C} could not read the archived private key in the request for {T}" },
	{ 0x8009400Du, "CERTSRV_E_NO_CAADMIN_DEFINED", "{C} has no administrator defined" },
	{ 0x8009400Eu, "CERTSRV_E_BAD_RENEWAL_CERT_ATTRIBUTE", "the renewal request's certificate attribute is invalid for {C}" },
	{ 0x8009400Fu, "CERTSRV_E_NO_DB_SESSIONS", "{C} has no free database sessions: retry later" },
	{ 0x80094010u, "CERTSRV_E_ALIGNMENT_FAULT", NULL },
	{ 0x80094011u, "CERTSRV_E_ENROLL_DENIED",
	  "{C} does not let {U} enroll: check Request Certificates in the CA's security settings (and InterfaceFlags IF_NOREMOTEICERTREQUEST)" },
	{ 0x80094012u, "CERTSRV_E_TEMPLATE_DENIED",
	  "{U} has no Enroll right on {T} ({C}'s check): check the template's security and the caller's groups (log in again after a group change)" },
	{ 0x80094013u, "CERTSRV_E_DOWNLEVEL_DC_SSL_OR_UPGRADE", "{C} cannot sign its LDAP traffic with the DC it uses" },
	{ 0x80094014u, "CERTSRV_E_ADMIN_DENIED_REQUEST", "a certificate manager of {C} denied the request" },
	{ 0x80094015u, "CERTSRV_E_NO_POLICY_SERVER", "{C} could not reach a policy server" },
	{ 0x80094016u, "CERTSRV_E_WEAK_SIGNATURE_OR_KEY", "{C} rejected a weak key or signature algorithm in the request" },
	{ 0x80094017u, "CERTSRV_E_KEY_ATTESTATION_NOT_SUPPORTED", "{C} does not support key attestation for {T}" },
	{ 0x80094018u, "CERTSRV_E_ENCRYPTION_CERT_REQUIRED", "the request needs an encryption certificate {C} does not have" },
	{ 0x80094800u, "CERTSRV_E_UNSUPPORTED_CERT_TYPE",
	  "{T} is not published on {C}: add it to the CA's Certificate Templates (certutil -SetCATemplates +{t}) or pick another CA" },
	{ 0x80094801u, "CERTSRV_E_NO_CERT_TYPE", "the request names no template: it must carry CertificateTemplate:{t} or a template extension" },
	{ 0x80094802u, "CERTSRV_E_TEMPLATE_CONFLICT", "the request names {T} in conflicting ways (attribute and extension disagree)" },
	{ 0x80094803u, "CERTSRV_E_SUBJECT_ALT_NAME_REQUIRED",
	  "{T} requires a subject alternative name that {C} could not build: check {U}'s directory attributes (dNSHostName, userPrincipalName, mail)" },
	{ 0x80094804u, "CERTSRV_E_ARCHIVED_KEY_REQUIRED", "{T} requires the private key to be archived with {C}" },
	{ 0x80094805u, "CERTSRV_E_SMIME_REQUIRED", "{T} requires an S/MIME capabilities extension in the request" },
	{ 0x80094806u, "CERTSRV_E_BAD_RENEWAL_SUBJECT", "the renewal is for another subject than {U}: {T} must require a signature to allow it" },
	{ 0x80094807u, "CERTSRV_E_BAD_TEMPLATE_VERSION", "{T} has a version {C} does not support" },
	{ 0x80094808u, "CERTSRV_E_TEMPLATE_POLICY_REQUIRED", "{T} requires a policy the request does not carry" },
	{ 0x80094809u, "CERTSRV_E_SIGNATURE_POLICY_REQUIRED",
	  "{T} requires an authorized signature (msPKI-RA-Signature) and the request has none: enroll through an enrollment agent, or renew with an existing certificate" },
	{ 0x8009480Au, "CERTSRV_E_SIGNATURE_COUNT", "{T} requires more authorized signatures (msPKI-RA-Signature) than the request has" },
	{ 0x8009480Bu, "CERTSRV_E_SIGNATURE_REJECTED", "a signature on the request was rejected by {C}" },
	{ 0x8009480Cu, "CERTSRV_E_ISSUANCE_POLICY_REQUIRED", "{T} requires an issuance policy the request's signer does not have" },
	{ 0x8009480Du, "CERTSRV_E_SUBJECT_UPN_REQUIRED", "{T} needs a userPrincipalName, but {U} has none in Active Directory" },
	{ 0x8009480Eu, "CERTSRV_E_SUBJECT_DIRECTORY_GUID_REQUIRED", "{T} needs {U}'s directory GUID" },
	{ 0x8009480Fu, "CERTSRV_E_SUBJECT_DNS_REQUIRED", "{T} needs a DNS name, but the computer account ({U}) has no dNSHostName in Active Directory" },
	{ 0x80094810u, "CERTSRV_E_ARCHIVED_KEY_UNEXPECTED", "the request carries a key for archival that {T} does not ask for" },
	{ 0x80094811u, "CERTSRV_E_KEY_LENGTH", "the key is shorter than {T} requires (msPKI-Minimal-Key-Size)" },
	{ 0x80094812u, "CERTSRV_E_SUBJECT_EMAIL_REQUIRED", "{T} needs an e-mail address, but {U} has no mail attribute in Active Directory" },
	{ 0x80094813u, "CERTSRV_E_UNKNOWN_CERT_TYPE", "{C} does not know {T}: check that it exists and has replicated to the CA's DC" },
	{ 0x80094814u, "CERTSRV_E_CERT_TYPE_OVERLAP",
	  "{C} can issue {T} only for less time than the template's renewal period (the CA's own certificate or its maximum validity period cuts it short), so the certificate would be due for renewal at once: shorten the template's renewal period, or renew the CA certificate or raise the CA's validity period" },
	{ 0x80094815u, "CERTSRV_E_TOO_MANY_SIGNATURES", "the request has more signatures than {T} allows" },
	{ 0x80094816u, "CERTSRV_E_RENEWAL_BAD_PUBLIC_KEY", "the renewal uses a different key than the certificate it renews, which {T} forbids" },
	{ 0x80094817u, "CERTSRV_E_INVALID_EK", "{C} rejected the TPM endorsement key" },
	{ 0x8009481Au, "CERTSRV_E_KEY_ATTESTATION",
	  "{T} requires key attestation (a TPM key and its attestation statement), which the request does not carry" },
	/* --- crypto / chain --- */
	{ 0x80090005u, "NTE_BAD_DATA", "{C} could not decode the request" },
	{ 0x80090006u, "NTE_BAD_SIGNATURE", "the request's signature does not verify (proof of possession failed)" },
	{ 0x80090008u, "NTE_BAD_ALGID", "the request uses an algorithm {C} does not support" },
	{ 0x80090009u, "NTE_BAD_FLAGS", NULL },
	{ 0x80091004u, "CRYPT_E_INVALID_MSG_TYPE", "{C} could not read the request's CMS/PKCS#7 wrapper" },
	{ 0x80092004u, "CRYPT_E_NOT_FOUND", "{C} did not find an object it needed" },
	{ 0x80092010u, "CRYPT_E_REVOKED", "a certificate used for the request was revoked" },
	{ 0x80092012u, "CRYPT_E_NO_REVOCATION_CHECK", "{C} could not check revocation of a certificate in the request" },
	{ 0x80092013u, "CRYPT_E_REVOCATION_OFFLINE", "{C} could not reach a CRL for a certificate in the request" },
	{ 0x80093100u, "CRYPT_E_ASN1_ERROR", "{C} could not parse the request (ASN.1 error)" },
	{ 0x80093102u, "CRYPT_E_ASN1_EOD", "{C} could not parse the request (truncated ASN.1)" },
	{ 0x800B0101u, "CERT_E_EXPIRED", "a certificate used for the request has expired" },
	{ 0x800B0109u, "CERT_E_UNTRUSTEDROOT", "a certificate in the request chains to a root {C} does not trust" },
	{ 0x800B010Au, "CERT_E_CHAINING", "{C} could not build a chain for a certificate in the request" },
	{ 0x800B0112u, "CERT_E_UNTRUSTEDCA", "a certificate in the request is issued by a CA not in NTAuth" },
	{ 0x800B0114u, "CERT_E_INVALID_NAME", "a name in the request violates {C}'s name constraints" },
};

static const hr_entry *
lookup(uint32_t hr)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].code == hr && table[i].name != NULL)
			return &table[i];
	return NULL;
}

const char *
ae_hresult_name(uint32_t hr)
{
	const hr_entry *e = lookup(hr);
	return e != NULL ? e->name : NULL;
}

const char *
ae_hresult_format(uint32_t hr, char *buf, unsigned size)
{
	const char *name = ae_hresult_name(hr);

	if (name != NULL)
		snprintf(buf, size, "%s (0x%08x)", name, (unsigned)hr);
	else
		snprintf(buf, size, "0x%08x", (unsigned)hr);
	return buf;
}

/* "PREFIX VALUE", or FALLBACK when there is no value. */
static void
put_or(ae_buf *b, const char *prefix, const char *value, const char *fallback)
{
	if (value != NULL && value[0] != '\0') {
		ae_buf_puts(b, prefix);
		ae_buf_puts(b, value);
	} else {
		ae_buf_puts(b, fallback);
	}
}

char *
ae_hresult_explain(uint32_t hr, const char *tpl, const char *ca, const char *caller)
{
	const hr_entry *e = lookup(hr);
	ae_buf b;

	ae_buf_init(&b);
	if (e == NULL) {
		if ((hr & 0xFFFF0000u) == 0x80070000u)
			ae_buf_printf(&b, "the CA answered Win32 error %u (0x%08x): see the CA's event log",
			              (unsigned)(hr & 0xFFFFu), (unsigned)hr);
		else
			ae_buf_printf(&b, "the CA answered 0x%08x, a status this program does not know: see the CA's event log",
			              (unsigned)hr);
		return ae_buf_steal(&b);
	}
	if (e->explain == NULL) {
		ae_buf_printf(&b, "the server answered %s (0x%08x)", e->name, (unsigned)hr);
		return ae_buf_steal(&b);
	}
	for (const char *p = e->explain; *p != '\0'; p++) {
		if (p[0] == '{' && p[1] != '\0' && p[2] == '}') {
			switch (p[1]) {
			case 'T': put_or(&b, "template ", tpl, "the template"); p += 2; continue;
			case 't': put_or(&b, "", tpl, "TEMPLATE"); p += 2; continue;
			case 'C': put_or(&b, "CA ", ca, "the CA"); p += 2; continue;
			case 'U': put_or(&b, "", caller, "the caller"); p += 2; continue;
			default: break;
			}
		}
		ae_buf_append(&b, p, 1);
	}
	return ae_buf_steal(&b);
}

uint32_t
ae_hresult_of_policy_failure(int err, const char *msg)
{
	if (msg != NULL && strstr(msg, "Clock skew") != NULL)
		return AE_HR_SEC_E_TIME_SKEW;
	if (msg != NULL && strstr(msg, "revoked") != NULL)
		return AE_HR_ACCOUNT_DISABLED;
	if (err == AE_ERR_NOCREDS || err == AE_ERR_KERBEROS)
		return AE_HR_NO_SUCH_LOGON_SESSION;
	if (msg != NULL && strstr(msg, "no domain controller found") != NULL)
		return AE_HR_NO_SUCH_DOMAIN;
	if (err == AE_ERR_NETWORK || err == AE_ERR_TIMEOUT)
		return AE_HR_DS_SERVER_DOWN;
	return 0;
}
