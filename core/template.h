/*
 * template.h - certificate templates (pKICertificateTemplate, MS-CRTD 2)
 * parsed from their LDAP attributes.
 */
#ifndef AE_TEMPLATE_H
#define AE_TEMPLATE_H

#include "attrs.h"
#include "error.h"
#include "secdesc.h"

#include <stdbool.h>
#include <stdint.h>

/* flags (MS-CRTD 2.4) */
#define AE_CT_FLAG_AUTO_ENROLLMENT        0x00000020
#define AE_CT_FLAG_MACHINE_TYPE           0x00000040
#define AE_CT_FLAG_IS_CA                  0x00000080
#define AE_CT_FLAG_ADD_TEMPLATE_NAME      0x00000200
#define AE_CT_FLAG_IS_CROSS_CA            0x00000800
#define AE_CT_FLAG_IS_DEFAULT             0x00010000
#define AE_CT_FLAG_IS_MODIFIED            0x00020000
/* msPKI-Enrollment-Flag (MS-CRTD 2.26) */
#define AE_EF_INCLUDE_SYMMETRIC_ALGORITHMS 0x00000001
#define AE_EF_PEND_ALL_REQUESTS           0x00000002
#define AE_EF_PUBLISH_TO_KRA_CONTAINER    0x00000004
#define AE_EF_PUBLISH_TO_DS               0x00000008
#define AE_EF_CHECK_USER_DS_CERTIFICATE   0x00000010
#define AE_EF_AUTO_ENROLLMENT             0x00000020
#define AE_EF_PREVIOUS_APPROVAL_VALIDATE_REENROLLMENT 0x00000040
#define AE_EF_USER_INTERACTION_REQUIRED   0x00000100
#define AE_EF_REMOVE_INVALID_CERTIFICATE  0x00000400
#define AE_EF_ALLOW_ENROLL_ON_BEHALF_OF   0x00000800
#define AE_EF_INCLUDE_BASIC_CONSTRAINTS_FOR_EE_CERTS 0x00008000
#define AE_EF_ISSUANCE_POLICIES_FROM_REQUEST 0x00020000
#define AE_EF_SKIP_AUTO_RENEWAL           0x00040000
/* msPKI-Certificate-Name-Flag (MS-CRTD 2.28) */
#define AE_NF_ENROLLEE_SUPPLIES_SUBJECT   0x00000001
#define AE_NF_OLD_CERT_SUPPLIES_SUBJECT_AND_ALT_NAME 0x00000008
#define AE_NF_ENROLLEE_SUPPLIES_SUBJECT_ALT_NAME 0x00010000
#define AE_NF_SAN_REQUIRE_DOMAIN_DNS      0x00400000
#define AE_NF_SAN_REQUIRE_SPN             0x00800000
#define AE_NF_SAN_REQUIRE_DIRECTORY_GUID  0x01000000
#define AE_NF_SAN_REQUIRE_UPN             0x02000000
#define AE_NF_SAN_REQUIRE_EMAIL           0x04000000
#define AE_NF_SAN_REQUIRE_DNS             0x08000000
#define AE_NF_SUBJECT_REQUIRE_DNS_AS_CN   0x10000000
#define AE_NF_SUBJECT_REQUIRE_EMAIL       0x20000000
#define AE_NF_SUBJECT_REQUIRE_COMMON_NAME 0x40000000
#define AE_NF_SUBJECT_REQUIRE_DIRECTORY_PATH 0x80000000u
/* msPKI-Private-Key-Flag (MS-CRTD 2.27) */
#define AE_PK_REQUIRE_PRIVATE_KEY_ARCHIVAL 0x00000001
#define AE_PK_EXPORTABLE_KEY              0x00000010
#define AE_PK_STRONG_KEY_PROTECTION_REQUIRED 0x00000020
#define AE_PK_REQUIRE_ALTERNATE_SIGNATURE_ALGORITHM 0x00000040
#define AE_PK_REQUIRE_SAME_KEY_RENEWAL    0x00000080
#define AE_PK_USE_LEGACY_PROVIDER         0x00000100
#define AE_PK_ATTEST_PREFERRED            0x00001000
#define AE_PK_ATTEST_REQUIRED             0x00002000

typedef enum {
	AE_KEY_ALG_RSA = 0,   /* default when the template names none */
	AE_KEY_ALG_ECDSA_P256,
	AE_KEY_ALG_ECDSA_P384,
	AE_KEY_ALG_ECDSA_P521,
	AE_KEY_ALG_ECDH_P256, /* and friends: not for signing requests */
	AE_KEY_ALG_ECDH_P384,
	AE_KEY_ALG_ECDH_P521,
	AE_KEY_ALG_DSA,
	AE_KEY_ALG_UNKNOWN,
} ae_key_alg;

typedef struct {
	char *dn;
	char *name;           /* cn */
	char *display_name;   /* displayName, or cn when absent */
	char *oid;            /* msPKI-Cert-Template-OID, NULL on some v1 */
	uint32_t schema_version; /* 1..4; 1 when the attribute is absent */
	uint32_t major;       /* revision */
	uint32_t minor;       /* msPKI-Template-Minor-Revision */
	uint32_t flags;
	uint32_t enrollment_flags;
	uint32_t name_flags;
	uint32_t private_key_flags;
	uint32_t ra_signatures;      /* msPKI-RA-Signature */
	char **ra_application_policies; /* syntax 1 OIDs, or syntax 2 msPKI-RA-Application-Policies values */
	char **ra_policies;          /* msPKI-RA-Policies */
	char **supersedes;           /* msPKI-Supersede-Templates (cn values) */
	bool has_validity, has_renewal;
	int64_t validity_seconds;    /* pKIExpirationPeriod as a positive span */
	int64_t renewal_seconds;     /* pKIOverlapPeriod as a positive span */
	uint32_t min_key_size;       /* msPKI-Minimal-Key-Size; 0 when absent */
	ae_key_alg key_alg;          /* from syntax-2 RA application policies */
	char *hash_alg;              /* msPKI-Hash-Algorithm, NULL when absent */
	char *symmetric_alg;         /* msPKI-Symmetric-Algorithm ("AES", "3DES"), NULL when absent */
	uint32_t symmetric_key_length; /* msPKI-Symmetric-Key-Length; 0 when absent */
	uint32_t key_spec;           /* pKIDefaultKeySpec */
	uint8_t key_usage[2];        /* pKIKeyUsage bits */
	size_t key_usage_len;
	uint32_t max_issuing_depth;
	char **ekus;                 /* pKIExtendedKeyUsage */
	char **application_policies; /* msPKI-Certificate-Application-Policy */
	char **certificate_policies; /* msPKI-Certificate-Policy */
	char **critical_extensions;  /* pKICriticalExtensions */
	char **csps;                 /* pKIDefaultCSPs, "prio,name" */
	ae_secdesc *sd;              /* NULL when absent or malformed */
	char *sd_error;              /* why sd is NULL */
	/* A policy server's word instead of a security descriptor (MS-XCEP
	 * 3.1.4.1.3.24 EnrollmentPermission: the server evaluated the
	 * caller's rights); false for templates read from AD. */
	bool server_permission;
	bool server_enroll, server_autoenroll;
} ae_template;

/* Builds a template from ENTRY.  Malformed values (a period that is not 8
 * bytes, a flag that is not a 32-bit integer, an unknown schema version, a
 * missing cn) are errors: *OUT stays NULL and CTX says which attribute is
 * wrong and why.  A missing or malformed nTSecurityDescriptor is not an
 * error: sd is NULL and sd_error says why. */
ae_err ae_template_from_entry(ae_ctx *ctx, const ae_entry *entry, ae_template **out);
void ae_template_free(ae_template *tpl);

/* Whether a Windows client makes the key with a CNG Key Storage Provider
 * for TPL: schema 3 and later unless CT_FLAG_USE_LEGACY_PROVIDER
 * (MS-WCCE 3.1.2.4.2.2.2.8); otherwise with a legacy CAPI CSP. */
static inline bool
ae_template_wants_ksp(const ae_template *tpl)
{
	return tpl->schema_version >= 3 && (tpl->private_key_flags & AE_PK_USE_LEGACY_PROVIDER) == 0;
}

/* LDAP's signed decimal integer syntax, masked to 32 bits; errors name ATTR. */
ae_err ae_parse_ldap_uint32(ae_ctx *ctx, const char *attr, const ae_value *v, uint32_t *out);
/* An 8-byte FILETIME interval into positive seconds; errors name ATTR. */
ae_err ae_parse_period(ae_ctx *ctx, const char *attr, const ae_value *v, int64_t *seconds_out);

/* Human text for a period: "1 year", "6 weeks", "2 days". Static buffer-free: writes to BUF. */
char *ae_period_to_string(int64_t seconds, char *buf, size_t size);

/* The attribute names a template query must ask for. */
extern const char *const ae_template_attributes[];

#endif
