/*
 * csr.c - certificate requests as a Windows client builds them.
 *
 * A PKCS#10 request carries the template identification and the key usage
 * the template asks for as requested extensions, and the Microsoft
 * attributes (client info, OS version, CSP) a CA logs and some policy
 * modules look at (MS-WCCE 2.2.2.7, 3.1.1.4.3.1.1).  Renewals put the
 * request inside CMC PKIData signed with the new key and then the old one
 * (3.1.1.4.3.2.2), or for schema 1 inside CMS signed with the old key.
 *
 * The keys may live on a token: we only sign through X509_REQ_sign and
 * CMS, and only read public parts.  The small Microsoft structures are
 * built as DER from OpenSSL's primitive encoders plus a SEQUENCE wrapper,
 * which keeps each layout readable next to its ASN.1.
 */
#include "config.h"

#include "csr.h"

#include "util.h"

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#define OID_TEMPLATE          "1.3.6.1.4.1.311.21.7"  /* szOID_CERTIFICATE_TEMPLATE */
#define OID_TEMPLATE_NAME     "1.3.6.1.4.1.311.20.2"  /* szOID_ENROLL_CERTTYPE_EXTENSION */
#define OID_APP_POLICIES      "1.3.6.1.4.1.311.21.10" /* szOID_APPLICATION_CERT_POLICIES */
#define OID_CLIENT_INFO       "1.3.6.1.4.1.311.21.20" /* szOID_REQUEST_CLIENT_INFO */
#define OID_OS_VERSION        "1.3.6.1.4.1.311.13.2.3"
#define OID_CSP_PROVIDER      "1.3.6.1.4.1.311.13.2.2"
#define OID_RENEWAL_CERT      "1.3.6.1.4.1.311.13.1"
#define OID_UPN               "1.3.6.1.4.1.311.20.2.3"
#define OID_PKIDATA           "1.3.6.1.5.5.7.12.2"    /* id-cct-PKIData */
#define OID_PKCS7_DATA        "1.2.840.113549.1.7.1"  /* id-data */
#define OID_KEY_USAGE         "2.5.29.15"
#define OID_EKU               "2.5.29.37"
#define OID_SAN               "2.5.29.17"
#define OID_SKI               "2.5.29.14"
#define OID_CERT_POLICIES     "2.5.29.32"
#define OID_BASIC_CONSTRAINTS "2.5.29.19"
#define OID_SMIME_CAPS        "1.2.840.113549.1.9.15" /* SMIMECapabilities */
#define OID_CMC_ADD_ATTRS     "1.3.6.1.4.1.311.10.10.1" /* szOID_CMC_ADD_ATTRIBUTES */
#define OID_NAME_VALUE_PAIR   "1.3.6.1.4.1.311.13.2.1"  /* szOID_ENROLLMENT_NAME_VALUE_PAIR */
#define OID_KP_CA_EXCHANGE    "1.3.6.1.4.1.311.21.5"    /* szOID_KP_CA_EXCHANGE */
#define OID_ARCHIVED_KEY      "1.3.6.1.4.1.311.21.13"   /* szOID_ARCHIVED_KEY_ATTR */
#define OID_ENCRYPTED_KEY_HASH "1.3.6.1.4.1.311.21.21"  /* szOID_ENCRYPTED_KEY_HASH */

/* Name of the "CSP" in szOID_ENROLLMENT_CSP_PROVIDER: there is no Windows
 * CSP here, and CAs only log the name. */
#define AE_CSP_NAME "autoenroll PKCS#11"

/* The last OpenSSL error, for messages. */
static ae_err
ossl_fail(ae_ctx *ctx, ae_err code, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256] = "no further detail";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return ae_set_message(ctx, code, "%s (%s)", what, buf);
}

/* ---- the Microsoft structures, as OpenSSL ASN.1 templates ---- */

/* szOID_CERTIFICATE_TEMPLATE (MS-WCCE 2.2.2.7.7.2): SEQUENCE { templateID
 * OID, majorVersion INTEGER OPTIONAL, minorVersion INTEGER OPTIONAL };
 * we always send both. */
typedef struct {
	ASN1_OBJECT *id;
	ASN1_INTEGER *major;
	ASN1_INTEGER *minor;
} AE_TEMPLATE_ID;

ASN1_SEQUENCE(AE_TEMPLATE_ID) = {
	ASN1_SIMPLE(AE_TEMPLATE_ID, id, ASN1_OBJECT),
	ASN1_OPT(AE_TEMPLATE_ID, major, ASN1_INTEGER),
	ASN1_OPT(AE_TEMPLATE_ID, minor, ASN1_INTEGER),
} static_ASN1_SEQUENCE_END(AE_TEMPLATE_ID)

/* szOID_REQUEST_CLIENT_INFO (2.2.2.7.4): SEQUENCE { INTEGER clientId,
 * UTF8String machine, UTF8String user, UTF8String process } */
typedef struct {
	ASN1_INTEGER *client_id;
	ASN1_UTF8STRING *machine;
	ASN1_UTF8STRING *user;
	ASN1_UTF8STRING *process;
} AE_CLIENT_INFO;

ASN1_SEQUENCE(AE_CLIENT_INFO) = {
	ASN1_SIMPLE(AE_CLIENT_INFO, client_id, ASN1_INTEGER),
	ASN1_SIMPLE(AE_CLIENT_INFO, machine, ASN1_UTF8STRING),
	ASN1_SIMPLE(AE_CLIENT_INFO, user, ASN1_UTF8STRING),
	ASN1_SIMPLE(AE_CLIENT_INFO, process, ASN1_UTF8STRING),
} static_ASN1_SEQUENCE_END(AE_CLIENT_INFO)

/* szOID_ENROLLMENT_CSP_PROVIDER (2.2.2.7.2): SEQUENCE { INTEGER keySpec,
 * BMPString cspName, BIT STRING signature } */
typedef struct {
	ASN1_INTEGER *key_spec;
	ASN1_BMPSTRING *name;
	ASN1_BIT_STRING *signature;
} AE_CSP;

ASN1_SEQUENCE(AE_CSP) = {
	ASN1_SIMPLE(AE_CSP, key_spec, ASN1_INTEGER),
	ASN1_SIMPLE(AE_CSP, name, ASN1_BMPSTRING),
	ASN1_SIMPLE(AE_CSP, signature, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(AE_CSP)

/* CMC PKIData (RFC 5272 3.2) with TaggedRequests only:
 *   PKIData ::= SEQUENCE { controlSequence SEQUENCE OF TaggedAttribute,
 *     reqSequence SEQUENCE OF TaggedRequest, cmsSequence SEQUENCE OF
 *     TaggedContentInfo, otherMsgSequence SEQUENCE OF OtherMsg }
 *   TaggedRequest ::= CHOICE { tcr [0] TaggedCertificationRequest, ... }
 *   TaggedCertificationRequest ::= SEQUENCE { bodyPartID INTEGER,
 *     certificationRequest CertificationRequest } */
typedef struct {
	ASN1_INTEGER *body_part_id;
	X509_REQ *request;
} AE_TCR;

ASN1_SEQUENCE(AE_TCR) = {
	ASN1_SIMPLE(AE_TCR, body_part_id, ASN1_INTEGER),
	ASN1_SIMPLE(AE_TCR, request, X509_REQ),
} static_ASN1_SEQUENCE_END(AE_TCR)

typedef struct {
	int type;
	union {
		AE_TCR *tcr;
	} value;
} AE_TAGGED_REQUEST;

ASN1_CHOICE(AE_TAGGED_REQUEST) = {
	ASN1_IMP(AE_TAGGED_REQUEST, value.tcr, AE_TCR, 0),
} static_ASN1_CHOICE_END(AE_TAGGED_REQUEST)

DEFINE_STACK_OF(AE_TAGGED_REQUEST)

typedef struct {
	STACK_OF(ASN1_TYPE) *controls;
	STACK_OF(AE_TAGGED_REQUEST) *requests;
	STACK_OF(ASN1_TYPE) *cms;
	STACK_OF(ASN1_TYPE) *other;
} AE_PKIDATA;

ASN1_SEQUENCE(AE_PKIDATA) = {
	ASN1_SEQUENCE_OF(AE_PKIDATA, controls, ASN1_ANY),
	ASN1_SEQUENCE_OF(AE_PKIDATA, requests, AE_TAGGED_REQUEST),
	ASN1_SEQUENCE_OF(AE_PKIDATA, cms, ASN1_ANY),
	ASN1_SEQUENCE_OF(AE_PKIDATA, other, ASN1_ANY),
} static_ASN1_SEQUENCE_END(AE_PKIDATA)

/* UTF-8 text as an ASN.1 string of the character set MASK allows
 * (B_ASN1_BMPSTRING, B_ASN1_UTF8STRING); NULL when it does not fit. */
static ASN1_STRING *
mb_string(const char *utf8, unsigned long mask)
{
	ASN1_STRING *s = NULL;

	if (ASN1_mbstring_copy(&s, (const unsigned char *)utf8, -1, MBSTRING_UTF8, mask) < 0) {
		ERR_clear_error();
		return NULL;
	}
	return s;
}

/* ITEM's DER into *DER (OPENSSL_malloc'd) and *LEN; false on failure. */
static bool
item_der(const void *value, const ASN1_ITEM *item, unsigned char **der, size_t *len)
{
	int n;

	*der = NULL;
	n = ASN1_item_i2d((const ASN1_VALUE *)value, der, item);
	if (n <= 0) {
		*der = NULL;
		return false;
	}
	*len = (size_t)n;
	return true;
}

/* ---- subject ---- */

static const struct {
	const char *name;
	int nid;
} subject_types[] = {
	{ "CN", NID_commonName },
	{ "O", NID_organizationName },
	{ "OU", NID_organizationalUnitName },
	{ "C", NID_countryName },
	{ "L", NID_localityName },
	{ "ST", NID_stateOrProvinceName },
	{ "S", NID_stateOrProvinceName },      /* as Windows writes it */
	{ "STREET", NID_streetAddress },
	{ "DC", NID_domainComponent },
	{ "E", NID_pkcs9_emailAddress },       /* as Windows writes it */
	{ "EMAIL", NID_pkcs9_emailAddress },
	{ "EMAILADDRESS", NID_pkcs9_emailAddress },
	{ "UID", NID_userId },
	{ "SERIALNUMBER", NID_serialNumber },
	{ "T", NID_title },
	{ "TITLE", NID_title },
	{ "G", NID_givenName },
	{ "GN", NID_givenName },
	{ "GIVENNAME", NID_givenName },
	{ "SN", NID_surname },
	{ "SURNAME", NID_surname },
};

static ASN1_OBJECT *
subject_type(const char *type)
{
	for (size_t i = 0; i < sizeof(subject_types) / sizeof(subject_types[0]); i++)
		if (strcasecmp(type, subject_types[i].name) == 0)
			return OBJ_nid2obj(subject_types[i].nid);
	if (isdigit((unsigned char)type[0]))
		return OBJ_txt2obj(type, 1);
	return NULL;
}


ae_err
ae_csr_parse_subject(ae_ctx *ctx, const char *s, X509_NAME **out)
{
	X509_NAME *name = NULL;
	ASN1_OBJECT *obj = NULL;
	ae_buf type, value;
	const char *p = s;
	ae_err err;

	*out = NULL;
	ae_buf_init(&type);
	ae_buf_init(&value);
	name = X509_NAME_new();
	if (name == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (*s == '\0') {
		err = ae_set_message(ctx, AE_ERR_INVALID,
		                     "the subject is empty; leave it unset for an empty subject");
		goto cleanup;
	}
	for (;;) {
		const char *rdn = p;

		while (*p == ' ')
			p++;
		while (*p != '\0' && *p != '=' && *p != ',' && *p != '+')
			ae_buf_append(&type, p++, 1);
		while (type.len > 0 && type.data[type.len - 1] == ' ')
			type.data[--type.len] = '\0';
		if (*p != '=' || type.len == 0) {
			err = ae_set_message(ctx, AE_ERR_INVALID,
			                     "subject \"%s\": \"%.40s\" is not TYPE=value", s, rdn);
			goto cleanup;
		}
		p++;
		while (*p != '\0' && *p != ',') {
			if (*p == '+') {
				err = ae_set_message(ctx, AE_ERR_UNSUPPORTED,
				                     "subject \"%s\": multi-valued RDNs (\"+\") are not supported; escape a literal plus as \\+",
				                     s);
				goto cleanup;
			}
			if (*p == '\\') {
				int hi = ae_hex_digit(p[1]), lo = hi >= 0 ? ae_hex_digit(p[2]) : -1;

				if (hi >= 0 && lo >= 0) {
					char c = (char)(hi * 16 + lo);
					ae_buf_append(&value, &c, 1);
					p += 3;
				} else if (p[1] != '\0' && strchr(",+\"\\<>;=# ", p[1]) != NULL) {
					ae_buf_append(&value, p + 1, 1);
					p += 2;
				} else {
					err = ae_set_message(ctx, AE_ERR_INVALID,
					                     "subject \"%s\": bad escape \"\\%.1s\" (escape one of ,+\"\\<>;=# or write \\XX in hex)",
					                     s, p + 1);
					goto cleanup;
				}
				continue;
			}
			if (strchr("\"<>;", *p) != NULL) {
				err = ae_set_message(ctx, AE_ERR_INVALID,
				                     "subject \"%s\": unescaped '%c'; write \\%c", s, *p, *p);
				goto cleanup;
			}
			ae_buf_append(&value, p++, 1);
		}
		if (type.failed || value.failed) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		if (value.len == 0) {
			err = ae_set_message(ctx, AE_ERR_INVALID, "subject \"%s\": %s has an empty value",
			                     s, type.data);
			goto cleanup;
		}
		obj = subject_type(type.data);
		if (obj == NULL) {
			err = ae_set_message(ctx, AE_ERR_INVALID,
			                     "subject \"%s\": unknown attribute type \"%s\" (use CN, O, OU, C, L, ST, DC, E, ... or a dotted OID)",
			                     s, type.data);
			goto cleanup;
		}
		/* Prepending turns the RFC 4514 order into the DER order. */
		if (!X509_NAME_add_entry_by_OBJ(name, obj, MBSTRING_UTF8, (const unsigned char *)value.data,
		                                (int)value.len, 0, 0)) {
			char what[200];
			snprintf(what, sizeof(what), "subject \"%s\": cannot use %s=%s", s, type.data, value.data);
			err = ossl_fail(ctx, AE_ERR_INVALID, what);
			goto cleanup;
		}
		ASN1_OBJECT_free(obj);
		obj = NULL;
		ae_buf_clear(&type);
		ae_buf_clear(&value);
		if (*p == '\0')
			break;
		p++; /* the comma */
	}
	*out = name;
	name = NULL;
	err = AE_OK;

cleanup:
	ASN1_OBJECT_free(obj);
	ae_buf_clear(&type);
	ae_buf_clear(&value);
	X509_NAME_free(name);
	return err;
}

typedef struct {
	const uint8_t *p;
	size_t len;
} der_span;

/* Takes one TLV (low tag number, definite length) off *IN: returns the
 * tag, or -1 when IN does not start with a complete one. */
static int
der_next(der_span *in, der_span *content, der_span *whole)
{
	size_t l, hdr = 2;

	if (in->len < 2 || (in->p[0] & 0x1f) == 0x1f)
		return -1;
	l = in->p[1];
	if (l & 0x80) {
		size_t n = l & 0x7f;
		if (n == 0 || n > 4 || in->len < 2 + n)
			return -1;
		l = 0;
		for (size_t i = 0; i < n; i++)
			l = (l << 8) | in->p[2 + i];
		hdr += n;
	}
	if (in->len - hdr < l)
		return -1;
	content->p = in->p + hdr;
	content->len = l;
	if (whole != NULL) {
		whole->p = in->p;
		whole->len = hdr + l;
	}
	{
		int tag = in->p[0];
		in->p += hdr + l;
		in->len -= hdr + l;
		return tag;
	}
}

/* ---- extensions ---- */

static bool
is_critical(const ae_template *tpl, const char *oid)
{
	return ae_strv_contains(tpl->critical_extensions, oid);
}

/* Appends extension OID with value DER (LEN bytes) to *EXTS. */
static ae_err
add_ext(ae_ctx *ctx, STACK_OF(X509_EXTENSION) **exts, const char *oid, bool critical,
        const void *der, size_t len)
{
	ASN1_OBJECT *obj = NULL;
	ASN1_OCTET_STRING *os = NULL;
	X509_EXTENSION *ext = NULL;
	ae_err err = AE_OK;

	obj = OBJ_txt2obj(oid, 1);
	os = ASN1_OCTET_STRING_new();
	if (obj == NULL || os == NULL || len > INT_MAX || !ASN1_OCTET_STRING_set(os, der, (int)len) ||
	    (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, critical, os)) == NULL ||
	    X509v3_add_ext(exts, ext, -1) == NULL) {
		char what[80];
		snprintf(what, sizeof(what), "cannot add extension %s", oid);
		err = ossl_fail(ctx, AE_ERR_CRYPTO, what);
	}
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	return err;
}

/* As add_ext, with the value from an i2d function; FAILED set when the
 * encoding failed. */
#define add_ext_i2d(ctx, exts, oid, critical, fn, x, errvar)                          \
	do {                                                                          \
		unsigned char *d_ = NULL;                                             \
		int n_ = fn((x), &d_);                                                \
		if (n_ <= 0)                                                          \
			errvar = ossl_fail((ctx), AE_ERR_CRYPTO, "cannot encode extension " oid); \
		else                                                                  \
			errvar = add_ext((ctx), (exts), oid, (critical), d_, (size_t)n_); \
		OPENSSL_free(d_);                                                     \
	} while (0)

/* Template identification: by OID for schema >= 2, by name for v1. */
static ae_err
add_template_ext(ae_ctx *ctx, const ae_template *tpl, STACK_OF(X509_EXTENSION) **exts)
{
	AE_TEMPLATE_ID *id = NULL;
	ASN1_STRING *name = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	ae_err err;

	if (tpl->schema_version >= 2) {
		id = (AE_TEMPLATE_ID *)ASN1_item_new(ASN1_ITEM_rptr(AE_TEMPLATE_ID));
		if (id == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		ASN1_OBJECT_free(id->id);
		if (tpl->oid == NULL || (id->id = OBJ_txt2obj(tpl->oid, 1)) == NULL) {
			ERR_clear_error();
			err = ae_set_message(ctx, AE_ERR_INVALID,
			                     "template %s is schema version %u but has %s msPKI-Cert-Template-OID%s%s%s; the CA needs the OID to identify it",
			                     tpl->name, (unsigned)tpl->schema_version,
			                     tpl->oid == NULL ? "no" : "an invalid",
			                     tpl->oid == NULL ? "" : " (\"", tpl->oid == NULL ? "" : tpl->oid,
			                     tpl->oid == NULL ? "" : "\")");
			goto cleanup;
		}
		if ((id->major = ASN1_INTEGER_new()) == NULL || (id->minor = ASN1_INTEGER_new()) == NULL ||
		    !ASN1_INTEGER_set_uint64(id->major, tpl->major) || !ASN1_INTEGER_set_uint64(id->minor, tpl->minor) ||
		    !item_der(id, ASN1_ITEM_rptr(AE_TEMPLATE_ID), &der, &len)) {
			err = ossl_fail(ctx, AE_ERR_NOMEM, "cannot encode the template extension");
			goto cleanup;
		}
		err = add_ext(ctx, exts, OID_TEMPLATE, is_critical(tpl, OID_TEMPLATE), der, len);
	} else {
		/* A bare BMPString, as Windows sends it (not the SEQUENCE {
		 * UTF8String } of MS-WCCE's ASN.1; see protocols.md 2.2). */
		if ((name = mb_string(tpl->name, B_ASN1_BMPSTRING)) == NULL) {
			err = ae_set_message(ctx, AE_ERR_INVALID,
			                     "template name \"%s\" cannot be written as a BMPString", tpl->name);
			goto cleanup;
		}
		if (!item_der(name, ASN1_ITEM_rptr(ASN1_BMPSTRING), &der, &len)) {
			err = ossl_fail(ctx, AE_ERR_NOMEM, "cannot encode the template name extension");
			goto cleanup;
		}
		err = add_ext(ctx, exts, OID_TEMPLATE_NAME, is_critical(tpl, OID_TEMPLATE_NAME), der, len);
	}

cleanup:
	OPENSSL_free(der);
	ASN1_STRING_free(name);
	ASN1_item_free((ASN1_VALUE *)id, ASN1_ITEM_rptr(AE_TEMPLATE_ID));
	return err;
}

/* A list of OIDs from the template as OBJECTs; the attribute names the
 * list in errors. */
static ae_err
oid_stack(ae_ctx *ctx, char *const *oids, const char *attr, STACK_OF(ASN1_OBJECT) **out)
{
	STACK_OF(ASN1_OBJECT) *st = NULL;
	ASN1_OBJECT *obj = NULL;
	ae_err err = AE_OK;

	*out = NULL;
	st = sk_ASN1_OBJECT_new_null();
	if (st == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; oids != NULL && oids[i] != NULL; i++) {
		obj = OBJ_txt2obj(oids[i], 1);
		if (obj == NULL) {
			ERR_clear_error();
			err = ae_set_message(ctx, AE_ERR_INVALID, "%s value \"%s\" is not an OID", attr, oids[i]);
			goto cleanup;
		}
		if (!sk_ASN1_OBJECT_push(st, obj)) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		obj = NULL;
	}
	*out = st;
	st = NULL;

cleanup:
	ASN1_OBJECT_free(obj);
	sk_ASN1_OBJECT_pop_free(st, ASN1_OBJECT_free);
	return err;
}

static ae_err
add_eku(ae_ctx *ctx, const ae_template *tpl, STACK_OF(X509_EXTENSION) **exts)
{
	STACK_OF(ASN1_OBJECT) *st = NULL;
	ae_err err;

	if (ae_strv_len(tpl->ekus) == 0)
		return AE_OK;
	err = oid_stack(ctx, tpl->ekus, "pKIExtendedKeyUsage", &st);
	if (err == AE_OK)
		add_ext_i2d(ctx, exts, OID_EKU, is_critical(tpl, OID_EKU), i2d_EXTENDED_KEY_USAGE, st, err);
	sk_ASN1_OBJECT_pop_free(st, ASN1_OBJECT_free);
	return err;
}

/* A certificatePolicies-shaped extension EXT_OID from the OIDs in the
 * template attribute ATTR: one PolicyInformation without qualifiers per
 * OID (MS-WCCE 2.2.2.7.7.3, 3.1.2.4.2.2.2.9). */
static ae_err
add_policies(ae_ctx *ctx, const ae_template *tpl, char *const *list, const char *attr, const char *ext_oid,
             STACK_OF(X509_EXTENSION) **exts)
{
	STACK_OF(ASN1_OBJECT) *oids = NULL;
	CERTIFICATEPOLICIES *pols = NULL;
	POLICYINFO *pi = NULL;
	ae_err err;

	if (ae_strv_len(list) == 0)
		return AE_OK;
	err = oid_stack(ctx, list, attr, &oids);
	if (err != AE_OK)
		goto cleanup;
	pols = sk_POLICYINFO_new_null();
	if (pols == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	while (sk_ASN1_OBJECT_num(oids) > 0) {
		pi = POLICYINFO_new();
		if (pi == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		ASN1_OBJECT_free(pi->policyid);
		pi->policyid = sk_ASN1_OBJECT_shift(oids);
		if (!sk_POLICYINFO_push(pols, pi)) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		pi = NULL;
	}
	{
		unsigned char *d = NULL;
		int n = i2d_CERTIFICATEPOLICIES(pols, &d);
		if (n <= 0)
			err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot encode a policies extension");
		else
			err = add_ext(ctx, exts, ext_oid, is_critical(tpl, ext_oid), d, (size_t)n);
		OPENSSL_free(d);
	}

cleanup:
	POLICYINFO_free(pi);
	sk_POLICYINFO_pop_free(pols, POLICYINFO_free);
	sk_ASN1_OBJECT_pop_free(oids, ASN1_OBJECT_free);
	return err;
}

/* Application policies for schema >= 2; the issuance policies of
 * msPKI-Certificate-Policy always, as the client MUST (3.1.2.4.2.2.2.9):
 * a CA takes them from the request when the template has
 * CT_FLAG_ISSUANCE_POLICIES_FROM_REQUEST, and issues none otherwise. */
static ae_err
add_template_policies(ae_ctx *ctx, const ae_template *tpl, STACK_OF(X509_EXTENSION) **exts)
{
	ae_err err = AE_OK;

	if (tpl->schema_version >= 2)
		err = add_policies(ctx, tpl, tpl->application_policies, "msPKI-Certificate-Application-Policy",
		                   OID_APP_POLICIES, exts);
	if (err == AE_OK)
		err = add_policies(ctx, tpl, tpl->certificate_policies, "msPKI-Certificate-Policy", OID_CERT_POLICIES,
		                   exts);
	return err;
}

/* S/MIME capabilities (RFC 4262) when the template has
 * CT_FLAG_INCLUDE_SYMMETRIC_ALGORITHMS: the client MUST send them
 * (MS-WCCE 3.1.2.4.2.2.2.7) and AD CS refuses a request without them
 * (CERTSRV_E_SMIME_REQUIRED).  The template's own msPKI-Symmetric-Algorithm
 * (schema 3) first, then AES-256, AES-192, AES-128 and 3DES, the ciphers
 * a current Windows offers; RC2 and RC4 are left out. */
static ae_err
add_smime(ae_ctx *ctx, const ae_template *tpl, STACK_OF(X509_EXTENSION) **exts)
{
	static const int order[] = { NID_aes_256_cbc, NID_aes_192_cbc, NID_aes_128_cbc, NID_des_ede3_cbc };
	STACK_OF(X509_ALGOR) *caps = NULL;
	unsigned char *d = NULL;
	int first = NID_undef, n;
	ae_err err;

	if ((tpl->enrollment_flags & AE_EF_INCLUDE_SYMMETRIC_ALGORITHMS) == 0)
		return AE_OK;
	if (tpl->symmetric_alg != NULL) {
		if (strcasecmp(tpl->symmetric_alg, "AES") == 0)
			first = tpl->symmetric_key_length == 128 ? NID_aes_128_cbc
			        : tpl->symmetric_key_length == 192 ? NID_aes_192_cbc : NID_aes_256_cbc;
		else if (strcasecmp(tpl->symmetric_alg, "3DES") == 0)
			first = NID_des_ede3_cbc;
	}
	caps = sk_X509_ALGOR_new_null();
	if (caps == NULL || (first != NID_undef && !PKCS7_simple_smimecap(caps, first, -1))) {
		err = ossl_fail(ctx, AE_ERR_NOMEM, "cannot build the S/MIME capabilities");
		goto cleanup;
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (order[i] != first && !PKCS7_simple_smimecap(caps, order[i], -1)) {
			err = ossl_fail(ctx, AE_ERR_NOMEM, "cannot build the S/MIME capabilities");
			goto cleanup;
		}
	}
	n = ASN1_item_i2d((ASN1_VALUE *)caps, &d, ASN1_ITEM_rptr(X509_ALGORS));
	if (n <= 0) {
		err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot encode the S/MIME capabilities");
		goto cleanup;
	}
	err = add_ext(ctx, exts, OID_SMIME_CAPS, is_critical(tpl, OID_SMIME_CAPS), d, (size_t)n);

cleanup:
	OPENSSL_free(d);
	sk_X509_ALGOR_pop_free(caps, X509_ALGOR_free);
	return err;
}

/* Basic constraints cA FALSE without pathLen when the template has
 * CT_FLAG_INCLUDE_BASIC_CONSTRAINTS_FOR_EE_CERTS (3.1.2.4.2.2.2.7). */
static ae_err
add_ee_constraints(ae_ctx *ctx, const ae_template *tpl, STACK_OF(X509_EXTENSION) **exts)
{
	BASIC_CONSTRAINTS *bc;
	ae_err err = AE_OK;

	if ((tpl->enrollment_flags & AE_EF_INCLUDE_BASIC_CONSTRAINTS_FOR_EE_CERTS) == 0)
		return AE_OK;
	bc = BASIC_CONSTRAINTS_new();
	if (bc == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	add_ext_i2d(ctx, exts, OID_BASIC_CONSTRAINTS, is_critical(tpl, OID_BASIC_CONSTRAINTS),
	            i2d_BASIC_CONSTRAINTS, bc, err);
	BASIC_CONSTRAINTS_free(bc);
	return err;
}

static ae_err
add_key_usage(ae_ctx *ctx, const ae_template *tpl, STACK_OF(X509_EXTENSION) **exts)
{
	ASN1_BIT_STRING *bits = NULL;
	ae_err err;

	if (tpl->key_usage_len == 0)
		return AE_OK;
	/* pKIKeyUsage holds the BIT STRING's content bytes; OpenSSL drops
	 * the trailing zero bits as DER wants. */
	bits = ASN1_BIT_STRING_new();
	if (bits == NULL || !ASN1_BIT_STRING_set(bits, (unsigned char *)tpl->key_usage,
	                                         (int)tpl->key_usage_len)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	add_ext_i2d(ctx, exts, OID_KEY_USAGE, is_critical(tpl, OID_KEY_USAGE), i2d_ASN1_BIT_STRING, bits,
	            err);

cleanup:
	ASN1_BIT_STRING_free(bits);
	return err;
}

/* SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2 method 1), as
 * Windows computes it. */
static ae_err
add_ski(ae_ctx *ctx, X509_REQ *req, STACK_OF(X509_EXTENSION) **exts)
{
	const unsigned char *pk = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	ASN1_OCTET_STRING *os = NULL;
	int pklen = 0;
	ae_err err;

	if (!X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, X509_REQ_get_X509_PUBKEY(req)) ||
	    !EVP_Digest(pk, (size_t)pklen, md, &mdlen, EVP_sha1(), NULL)) {
		err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot hash the public key for the subject key identifier");
		goto cleanup;
	}
	os = ASN1_OCTET_STRING_new();
	if (os == NULL || !ASN1_OCTET_STRING_set(os, md, (int)mdlen)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	add_ext_i2d(ctx, exts, OID_SKI, false, i2d_ASN1_OCTET_STRING, os, err);

cleanup:
	ASN1_OCTET_STRING_free(os);
	return err;
}

static bool
is_printable_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80 || (unsigned char)*s < 0x20)
			return false;
	return true;
}

/* An IA5String general name (dNSName, rfc822Name). */
static ae_err
push_ia5_name(ae_ctx *ctx, GENERAL_NAMES *names, int type, const char *what, const char *v)
{
	GENERAL_NAME *gn = NULL;
	ASN1_IA5STRING *s = NULL;
	ae_err err = AE_OK;

	if (*v == '\0' || !is_printable_ascii(v))
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s \"%s\" must be non-empty printable ASCII (write international names in their ASCII form)",
		                      what, v);
	gn = GENERAL_NAME_new();
	s = ASN1_IA5STRING_new();
	if (gn == NULL || s == NULL || !ASN1_STRING_set(s, v, -1)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	GENERAL_NAME_set0_value(gn, type, s);
	s = NULL;
	if (!sk_GENERAL_NAME_push(names, gn)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	gn = NULL;

cleanup:
	ASN1_IA5STRING_free(s);
	GENERAL_NAME_free(gn);
	return err;
}

/* otherName { 1.3.6.1.4.1.311.20.2.3, [0] UTF8String } */
static ae_err
push_upn(ae_ctx *ctx, GENERAL_NAMES *names, const char *upn)
{
	GENERAL_NAME *gn = NULL;
	ASN1_OBJECT *oid = NULL;
	ASN1_TYPE *val = NULL;
	ASN1_UTF8STRING *s = NULL;
	ae_err err = AE_OK;

	if (*upn == '\0' || ASN1_mbstring_copy(&s, (const unsigned char *)upn, -1, MBSTRING_UTF8,
	                                       B_ASN1_UTF8STRING) < 0) {
		ERR_clear_error();
		err = ae_set_message(ctx, AE_ERR_INVALID, "UPN \"%s\" is empty or not UTF-8", upn);
		goto cleanup;
	}
	gn = GENERAL_NAME_new();
	oid = OBJ_txt2obj(OID_UPN, 1);
	val = ASN1_TYPE_new();
	if (gn == NULL || oid == NULL || val == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	ASN1_TYPE_set(val, V_ASN1_UTF8STRING, s);
	s = NULL;
	if (!GENERAL_NAME_set0_othername(gn, oid, val)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	oid = NULL;
	val = NULL;
	if (!sk_GENERAL_NAME_push(names, gn)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	gn = NULL;

cleanup:
	ASN1_UTF8STRING_free(s);
	ASN1_TYPE_free(val);
	ASN1_OBJECT_free(oid);
	GENERAL_NAME_free(gn);
	return err;
}

static ae_err
add_san(ae_ctx *ctx, const ae_csr_params *params, bool empty_subject,
        STACK_OF(X509_EXTENSION) **exts)
{
	GENERAL_NAMES *names = NULL;
	ae_err err = AE_OK;

	names = sk_GENERAL_NAME_new_null();
	if (names == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; err == AE_OK && params->san_dns != NULL && params->san_dns[i] != NULL; i++)
		err = push_ia5_name(ctx, names, GEN_DNS, "DNS name", params->san_dns[i]);
	for (size_t i = 0; err == AE_OK && params->san_upn != NULL && params->san_upn[i] != NULL; i++)
		err = push_upn(ctx, names, params->san_upn[i]);
	for (size_t i = 0; err == AE_OK && params->san_email != NULL && params->san_email[i] != NULL; i++)
		err = push_ia5_name(ctx, names, GEN_EMAIL, "e-mail address", params->san_email[i]);
	/* RFC 5280 4.2.1.6: critical when the subject is empty. */
	if (err == AE_OK && sk_GENERAL_NAME_num(names) > 0)
		add_ext_i2d(ctx, exts, OID_SAN, empty_subject || is_critical(params->tpl, OID_SAN),
		            i2d_GENERAL_NAMES, names, err);
	GENERAL_NAMES_free(names);
	return err;
}

/* ---- attributes ---- */

static ae_err
add_attr(ae_ctx *ctx, X509_REQ *req, const char *oid, int type, const void *data, size_t len)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ae_err err = AE_OK;

	if (obj == NULL || len > INT_MAX ||
	    !X509_REQ_add1_attr_by_OBJ(req, obj, type, data, (int)len)) {
		char what[80];
		snprintf(what, sizeof(what), "cannot add attribute %s", oid);
		err = ossl_fail(ctx, AE_ERR_CRYPTO, what);
	}
	ASN1_OBJECT_free(obj);
	return err;
}

/* szOID_REQUEST_CLIENT_INFO: client id, machine, user, process. */
static ae_err
add_client_info(ae_ctx *ctx, const ae_csr_params *params, X509_REQ *req)
{
	const char *fields[3] = { params->machine, params->user, params->process };
	static const char *const names[3] = { "machine name", "user name", "process name" };
	AE_CLIENT_INFO *ci = NULL;
	ASN1_UTF8STRING **slots[3];
	unsigned char *der = NULL;
	size_t len = 0;
	ae_err err;

	if (params->client_id < 0)
		return ae_set_message(ctx, AE_ERR_INVALID, "client id %d is negative", params->client_id);
	ci = (AE_CLIENT_INFO *)ASN1_item_new(ASN1_ITEM_rptr(AE_CLIENT_INFO));
	if (ci == NULL || !ASN1_INTEGER_set_uint64(ci->client_id, (uint64_t)params->client_id)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	slots[0] = &ci->machine;
	slots[1] = &ci->user;
	slots[2] = &ci->process;
	for (size_t i = 0; i < 3; i++) {
		const char *v = fields[i] != NULL ? fields[i] : "";
		ASN1_STRING *s = mb_string(v, B_ASN1_UTF8STRING);
		if (s == NULL) {
			err = ae_set_message(ctx, AE_ERR_INVALID, "the %s \"%s\" is not UTF-8", names[i], v);
			goto cleanup;
		}
		ASN1_STRING_free(*slots[i]);
		*slots[i] = s;
	}
	if (!item_der(ci, ASN1_ITEM_rptr(AE_CLIENT_INFO), &der, &len)) {
		err = ossl_fail(ctx, AE_ERR_NOMEM, "cannot encode the client info attribute");
		goto cleanup;
	}
	err = add_attr(ctx, req, OID_CLIENT_INFO, V_ASN1_SEQUENCE, der, len);

cleanup:
	OPENSSL_free(der);
	ASN1_item_free((ASN1_VALUE *)ci, ASN1_ITEM_rptr(AE_CLIENT_INFO));
	return err;
}

/* SEQUENCE { INTEGER keySpec, BMPString cspName, BIT STRING signature }
 * with the empty signature Windows sends (03 01 00).  keySpec is the
 * template's (AT_KEYEXCHANGE 1 / AT_SIGNATURE 2) only for what Windows
 * would make a CAPI RSA key: an RSA key for a template that names no Key
 * Storage Provider; CNG keys (ECC, schema 3 KSP templates) say 0. */
static ae_err
add_csp(ae_ctx *ctx, const ae_template *tpl, EVP_PKEY *key, X509_REQ *req)
{
	AE_CSP *csp = (AE_CSP *)ASN1_item_new(ASN1_ITEM_rptr(AE_CSP));
	ASN1_STRING *name = mb_string(AE_CSP_NAME, B_ASN1_BMPSTRING);
	unsigned char *der = NULL;
	size_t len = 0;
	uint32_t spec = 0;
	ae_err err;

	if (EVP_PKEY_base_id(key) == EVP_PKEY_RSA && !ae_template_wants_ksp(tpl))
		spec = tpl->key_spec == 1 || tpl->key_spec == 2 ? tpl->key_spec : 1;
	if (csp == NULL || name == NULL || !ASN1_INTEGER_set_uint64(csp->key_spec, spec)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	ASN1_STRING_free(csp->name);
	csp->name = name;
	name = NULL;
	if (!item_der(csp, ASN1_ITEM_rptr(AE_CSP), &der, &len)) {
		err = ossl_fail(ctx, AE_ERR_NOMEM, "cannot encode the CSP attribute");
		goto cleanup;
	}
	err = add_attr(ctx, req, OID_CSP_PROVIDER, V_ASN1_SEQUENCE, der, len);

cleanup:
	OPENSSL_free(der);
	ASN1_STRING_free(name);
	ASN1_item_free((ASN1_VALUE *)csp, ASN1_ITEM_rptr(AE_CSP));
	return err;
}

ae_err
ae_csr_attributes(ae_ctx *ctx, const char *template_name, const char *rmd, const char *cdc, char **out)
{
	const char *names[3] = { "CertificateTemplate", "rmd", "cdc" };
	const char *values[3] = { template_name, rmd, cdc };
	ae_buf b;

	*out = NULL;
	ae_buf_init(&b);
	for (size_t i = 0; i < 3; i++) {
		if (values[i] == NULL)
			continue;
		for (const unsigned char *c = (const unsigned char *)values[i]; *c != '\0'; c++) {
			if (*c < 0x20 || *c == 0x7f) {
				ae_buf_clear(&b);
				return ae_set_message(ctx, AE_ERR_INVALID,
				                      "the %s request attribute \"%.60s\" has a control character",
				                      names[i], values[i]);
			}
		}
		ae_buf_printf(&b, "%s%s:%s", b.len > 0 ? "\n" : "", names[i], values[i]);
	}
	if (b.failed) {
		ae_buf_clear(&b);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	*out = ae_buf_steal(&b);
	return *out != NULL ? AE_OK : ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
}

char *
ae_csr_os_version(void)
{
	struct utsname u;
	unsigned a = 0, b = 0, c = 0;
	char *out = NULL;

	if (uname(&u) != 0 || sscanf(u.release, "%u.%u.%u", &a, &b, &c) < 2)
		return strdup("0.0.0.2");
	if (asprintf(&out, "%u.%u.%u.2", a, b, c) < 0)
		out = NULL;
	return out;
}

/* ---- the request ---- */

static ae_err
pick_digest(ae_ctx *ctx, const ae_csr_params *params, const EVP_MD **md_out)
{
	static const struct {
		const char *name;
		const EVP_MD *(*fn)(void);
	} names[] = {
		{ "SHA256", EVP_sha256 }, { "SHA384", EVP_sha384 },
		{ "SHA512", EVP_sha512 }, { "SHA1", EVP_sha1 },
	};
	const char *h = params->tpl->hash_alg;

	*md_out = NULL;
	if (params->md != NULL) {
		*md_out = params->md;
		return AE_OK;
	}
	if (h == NULL) {
		*md_out = EVP_sha256();
		return AE_OK;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(h, names[i].name) == 0) {
			*md_out = names[i].fn();
			return AE_OK;
		}
	}
	return ae_set_message(ctx, AE_ERR_UNSUPPORTED,
	                      "template %s asks for hash algorithm \"%s\"; only SHA256, SHA384, SHA512 and SHA1 are supported",
	                      params->tpl->name, h);
}

/* The request for PARAMS with KEY; RENEWING, when given, goes in as
 * szOID_RENEWAL_CERTIFICATE before signing. */
static ae_err
build_request(ae_ctx *ctx, const ae_csr_params *params, EVP_PKEY *key, X509 *renewing,
              const EVP_MD **md_out, X509_REQ **out)
{
	const ae_template *tpl = params->tpl;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_REQ *req = NULL;
	X509_NAME *subject = NULL;
	unsigned char *cert_der = NULL;
	char *osv = NULL;
	const EVP_MD *md = NULL;
	GENERAL_NAMES *old_san = NULL;
	bool want_subject, want_san, have_san;
	ae_err err;

	*out = NULL;
	want_subject = params->scep || (tpl->name_flags & AE_NF_ENROLLEE_SUPPLIES_SUBJECT) != 0;
	want_san = want_subject || (tpl->name_flags & AE_NF_ENROLLEE_SUPPLIES_SUBJECT_ALT_NAME) != 0;
	have_san = ae_strv_len(params->san_dns) + ae_strv_len(params->san_upn) +
	           ae_strv_len(params->san_email) > 0;

	err = pick_digest(ctx, params, &md);
	if (err != AE_OK)
		goto cleanup;
	if (want_subject && params->subject == NULL && !have_san && renewing != NULL) {
		/* A renewal reuses the subject and alternative names of the
		 * certificate it renews (the whitepaper's "Renew manually
		 * enrolled certificates"; the CA's side: MS-WCCE 3.2.2.6.2.1.4.8,
		 * CT_FLAG_OLD_CERT_SUPPLIES_SUBJECT_AND_ALT_NAME). */
		old_san = X509_get_ext_d2i(renewing, NID_subject_alt_name, NULL, NULL);
		if (X509_NAME_entry_count(X509_get_subject_name(renewing)) > 0 &&
		    (subject = X509_NAME_dup(X509_get_subject_name(renewing))) == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		if (subject == NULL && old_san == NULL) {
			err = ae_set_message(ctx, AE_ERR_INVALID,
			                     "the %s certificate being renewed has neither subject nor alternative names to reuse",
			                     tpl->name);
			goto cleanup;
		}
	} else if (want_subject && params->subject == NULL && !have_san) {
		err = ae_set_message(ctx, AE_ERR_INVALID,
		                     "template %s has the enrollee supply the subject (ENROLLEE_SUPPLIES_SUBJECT); give a subject or subject alternative names",
		                     tpl->name);
		goto cleanup;
	}
	if (want_subject && params->subject != NULL) {
		err = ae_csr_parse_subject(ctx, params->subject, &subject);
		if (err != AE_OK)
			goto cleanup;
	} else if (subject == NULL && params->subject != NULL) {
		ae_log(ctx, AE_LOG_DEBUG, "template %s builds the subject from AD; ignoring subject \"%s\"",
		       tpl->name, params->subject);
	}
	if (have_san && !want_san)
		ae_log(ctx, AE_LOG_DEBUG, "template %s builds the alternative names from AD; ignoring those given",
		       tpl->name);

	req = X509_REQ_new();
	if (req == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) || !X509_REQ_set_pubkey(req, key) ||
	    (subject != NULL && !X509_REQ_set_subject_name(req, subject))) {
		err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot set up the request");
		goto cleanup;
	}

	err = params->scep ? AE_OK : add_template_ext(ctx, tpl, &exts);
	if (err == AE_OK)
		err = add_eku(ctx, tpl, &exts);
	if (err == AE_OK)
		err = add_template_policies(ctx, tpl, &exts);
	if (err == AE_OK)
		err = add_smime(ctx, tpl, &exts);
	if (err == AE_OK)
		err = add_ee_constraints(ctx, tpl, &exts);
	if (err == AE_OK)
		err = add_key_usage(ctx, tpl, &exts);
	if (err == AE_OK && want_san && have_san)
		err = add_san(ctx, params, subject == NULL, &exts);
	else if (err == AE_OK && old_san != NULL && sk_GENERAL_NAME_num(old_san) > 0)
		add_ext_i2d(ctx, &exts, OID_SAN, subject == NULL || is_critical(tpl, OID_SAN), i2d_GENERAL_NAMES, old_san,
		            err);
	if (err == AE_OK)
		err = add_ski(ctx, req, &exts);
	if (err != AE_OK)
		goto cleanup;
	if (!X509_REQ_add_extensions(req, exts)) {
		err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot add the requested extensions");
		goto cleanup;
	}

	err = add_client_info(ctx, params, req);
	if (err != AE_OK)
		goto cleanup;
	/* Every request says the OS version (2.2.2.7.1): the kernel's, or
	 * the caller's when it gives one. */
	osv = params->os_version != NULL ? strdup(params->os_version) : ae_csr_os_version();
	if (osv == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (!is_printable_ascii(osv)) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "OS version \"%s\" is not ASCII", osv);
		goto cleanup;
	}
	err = add_attr(ctx, req, OID_OS_VERSION, V_ASN1_IA5STRING, osv, strlen(osv));
	if (err != AE_OK)
		goto cleanup;
	err = add_csp(ctx, tpl, key, req);
	if (err != AE_OK)
		goto cleanup;
	if (params->challenge != NULL) {
		err = add_attr(ctx, req, "1.2.840.113549.1.9.7", V_ASN1_UTF8STRING, params->challenge,
		               strlen(params->challenge));
		if (err != AE_OK)
			goto cleanup;
	}
	if (renewing != NULL && !params->scep) {
		int n = i2d_X509(renewing, &cert_der);
		if (n <= 0) {
			err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot encode the certificate being renewed");
			goto cleanup;
		}
		err = add_attr(ctx, req, OID_RENEWAL_CERT, V_ASN1_SEQUENCE, cert_der, (size_t)n);
		if (err != AE_OK)
			goto cleanup;
	}

	if (X509_REQ_sign(req, key, md) <= 0) {
		err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot sign the request with the new key");
		goto cleanup;
	}
	if (md_out != NULL)
		*md_out = md;
	*out = req;
	req = NULL;
	err = AE_OK;

cleanup:
	GENERAL_NAMES_free(old_san);
	free(osv);
	OPENSSL_free(cert_der);
	X509_NAME_free(subject);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return err;
}

ae_err
ae_csr_build(ae_ctx *ctx, const ae_csr_params *params, EVP_PKEY *key, X509_REQ **out)
{
	ae_return_val_if_fail(out != NULL, AE_ERR_INTERNAL);
	*out = NULL;
	ae_return_val_if_fail(params != NULL && params->tpl != NULL && key != NULL, AE_ERR_INTERNAL);
	return build_request(ctx, params, key, NULL, NULL, out);
}

ae_err
ae_csr_build_scep(ae_ctx *ctx, const ae_csr_params *params, EVP_PKEY *key, X509 *renewing, X509_REQ **out)
{
	ae_return_val_if_fail(out != NULL, AE_ERR_INTERNAL);
	*out = NULL;
	ae_return_val_if_fail(params != NULL && params->tpl != NULL && params->scep && key != NULL, AE_ERR_INTERNAL);
	return build_request(ctx, params, key, renewing, NULL, out);
}

/* DER TLV with a short or long length into B. */
static void
der_put(ae_buf *b, uint8_t tag, const void *content, size_t len)
{
	uint8_t hdr[6] = { tag };
	size_t n = 1;

	if (len < 0x80) {
		hdr[n++] = (uint8_t)len;
	} else {
		int bytes = len > 0xffffff ? 4 : len > 0xffff ? 3 : len > 0xff ? 2 : 1;
		hdr[n++] = (uint8_t)(0x80 | bytes);
		for (int i = bytes - 1; i >= 0; i--)
			hdr[n++] = (uint8_t)(len >> (8 * i));
	}
	ae_buf_append(b, hdr, n);
	ae_buf_append(b, content, len);
}

/* B's contents wrapped in TAG, back into B. */
static void
der_wrap(ae_buf *b, uint8_t tag)
{
	ae_buf inner = *b;

	ae_buf_init(b);
	if (inner.failed) {
		b->failed = true;
		return;
	}
	der_put(b, tag, inner.data, inner.len);
	ae_buf_clear(&inner);
}

/* The CMC control Windows puts its request attributes in:
 *   TaggedAttribute { bodyPartID 2, szOID_CMC_ADD_ATTRIBUTES,
 *     { CmcAddAttributesInfo { dataReference 0, certReferences { 1 },
 *       attributes } } }
 * with, for an enroll-on-behalf request (REQUESTER not NULL), the subject
 * it is for (MS-WCCE 3.1.1.4.3.3.3: the requestername name-value pair,
 * whose value the CA uses for the subject, 3.2.2.6.2.1.2.1.2):
 *   { szOID_ENROLLMENT_NAME_VALUE_PAIR (2.2.2.7.10),
 *     { { "requestername" BMPString, NAME BMPString } } }
 * and for key archival (KEY_HASH not NULL) the hash of the archived key
 * (3.1.1.4.3.6.1): { szOID_ENCRYPTED_KEY_HASH (2.2.2.7.9), { OCTET STRING } } */
static ae_err
attrs_control(ae_ctx *ctx, const char *name, const uint8_t *key_hash, size_t hash_len, ASN1_TYPE **out)
{
	static const uint8_t zero[] = { 0x02, 0x01, 0x00 }, one[] = { 0x02, 0x01, 0x01 }, two[] = { 0x02, 0x01, 0x02 };
	ASN1_STRING *k = NULL, *v = NULL;
	ASN1_OBJECT *nvp = OBJ_txt2obj(OID_NAME_VALUE_PAIR, 1), *add = OBJ_txt2obj(OID_CMC_ADD_ATTRS, 1);
	ASN1_OBJECT *kh = OBJ_txt2obj(OID_ENCRYPTED_KEY_HASH, 1);
	unsigned char *kd = NULL, *vd = NULL, *nd = NULL, *ad = NULL, *hd = NULL;
	int kn = 0, vn = 0, nn, an, hn;
	ae_buf b, attr, attrs, info;
	const unsigned char *p;
	ae_err err = AE_OK;

	*out = NULL;
	ae_buf_init(&b);
	ae_buf_init(&attr);
	ae_buf_init(&attrs);
	ae_buf_init(&info);
	if (name != NULL) {
		k = mb_string("requestername", B_ASN1_BMPSTRING);
		v = mb_string(name, B_ASN1_BMPSTRING);
	}
	if (nvp == NULL || add == NULL || kh == NULL || (name != NULL && (k == NULL || v == NULL)) ||
	    (name != NULL && ((kn = i2d_ASN1_BMPSTRING(k, &kd)) <= 0 || (vn = i2d_ASN1_BMPSTRING(v, &vd)) <= 0)) ||
	    (nn = i2d_ASN1_OBJECT(nvp, &nd)) <= 0 || (an = i2d_ASN1_OBJECT(add, &ad)) <= 0 ||
	    (hn = i2d_ASN1_OBJECT(kh, &hd)) <= 0) {
		err = name != NULL && v == NULL ? ae_set_message(ctx, AE_ERR_INVALID, "requester name \"%s\" is not UTF-8", name)
		                                : ossl_fail(ctx, AE_ERR_NOMEM, "cannot encode the CMC attributes");
		goto cleanup;
	}
	if (name != NULL) {
		/* { { "requestername", NAME } } : the attribute's SET of values */
		ae_buf_append(&b, kd, (size_t)kn);
		ae_buf_append(&b, vd, (size_t)vn);
		der_wrap(&b, 0x30);
		der_wrap(&b, 0x31);
		/* Attribute { OID, SET } */
		ae_buf_append(&attr, nd, (size_t)nn);
		ae_buf_append(&attr, b.data, b.len);
		der_wrap(&attr, 0x30);
		ae_buf_append(&attrs, attr.data, attr.len);
		ae_buf_clear(&b);
		ae_buf_clear(&attr);
	}
	if (key_hash != NULL) {
		der_put(&b, 0x04, key_hash, hash_len);
		der_wrap(&b, 0x31);
		ae_buf_append(&attr, hd, (size_t)hn);
		ae_buf_append(&attr, b.data, b.len);
		der_wrap(&attr, 0x30);
		ae_buf_append(&attrs, attr.data, attr.len);
		ae_buf_clear(&b);
	}
	der_wrap(&attrs, 0x31);
	/* CmcAddAttributesInfo, in the TaggedAttribute's SET of values */
	ae_buf_append(&info, zero, sizeof(zero));
	der_put(&info, 0x30, one, sizeof(one));
	ae_buf_append(&info, attrs.data, attrs.len);
	der_wrap(&info, 0x30);
	der_wrap(&info, 0x31);
	/* TaggedAttribute */
	ae_buf_append(&b, two, sizeof(two));
	ae_buf_append(&b, ad, (size_t)an);
	ae_buf_append(&b, info.data, info.len);
	der_wrap(&b, 0x30);
	p = (const unsigned char *)b.data;
	if (b.failed || attrs.failed || attr.failed || b.len > LONG_MAX ||
	    (*out = d2i_ASN1_TYPE(NULL, &p, (long)b.len)) == NULL)
		err = ossl_fail(ctx, AE_ERR_NOMEM, "cannot encode the CMC attributes");
cleanup:
	ae_buf_clear(&b);
	ae_buf_clear(&attr);
	ae_buf_clear(&attrs);
	ae_buf_clear(&info);
	OPENSSL_free(kd);
	OPENSSL_free(vd);
	OPENSSL_free(nd);
	OPENSSL_free(ad);
	OPENSSL_free(hd);
	ASN1_OBJECT_free(nvp);
	ASN1_OBJECT_free(add);
	ASN1_OBJECT_free(kh);
	ASN1_STRING_free(k);
	ASN1_STRING_free(v);
	return err;
}

/* PKIData with REQ as the only TaggedRequest, bodyPartID 1 as Windows
 * numbers it; the attributes control (attrs_control) when REQUESTER or
 * KEY_HASH is not NULL, the other sequences empty.  REQ is lent to the
 * structure for the encoding, not copied.  *DER OPENSSL_malloc'd. */
static ae_err
pkidata(ae_ctx *ctx, X509_REQ *req, const char *requester, const uint8_t *key_hash, size_t hash_len,
        unsigned char **der, size_t *len)
{
	AE_PKIDATA *pd = (AE_PKIDATA *)ASN1_item_new(ASN1_ITEM_rptr(AE_PKIDATA));
	AE_TAGGED_REQUEST *tr = (AE_TAGGED_REQUEST *)ASN1_item_new(ASN1_ITEM_rptr(AE_TAGGED_REQUEST));
	AE_TCR *tcr = (AE_TCR *)ASN1_item_new(ASN1_ITEM_rptr(AE_TCR));
	AE_TCR *lent = NULL; /* the one holding REQ, whoever owns it */
	ae_err err = AE_OK;

	*der = NULL;
	if (pd == NULL || tr == NULL || tcr == NULL || !ASN1_INTEGER_set_uint64(tcr->body_part_id, 1)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	X509_REQ_free(tcr->request);
	tcr->request = req;
	lent = tcr;
	tr->type = 0;
	tr->value.tcr = tcr; /* tr owns it now */
	tcr = NULL;
	if (!sk_AE_TAGGED_REQUEST_push(pd->requests, tr)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	tr = NULL; /* pd owns it now */
	if (requester != NULL || key_hash != NULL) {
		ASN1_TYPE *control = NULL;
		if ((err = attrs_control(ctx, requester, key_hash, hash_len, &control)) != AE_OK)
			goto cleanup;
		if (!sk_ASN1_TYPE_push(pd->controls, control)) {
			ASN1_TYPE_free(control);
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
	}
	if (!item_der(pd, ASN1_ITEM_rptr(AE_PKIDATA), der, len))
		err = ossl_fail(ctx, AE_ERR_NOMEM, "cannot encode the CMC request");

cleanup:
	if (lent != NULL)
		lent->request = NULL;
	ASN1_item_free((ASN1_VALUE *)tcr, ASN1_ITEM_rptr(AE_TCR));
	ASN1_item_free((ASN1_VALUE *)tr, ASN1_ITEM_rptr(AE_TAGGED_REQUEST));
	ASN1_item_free((ASN1_VALUE *)pd, ASN1_ITEM_rptr(AE_PKIDATA));
	return err;
}

/* A certificate that only carries NEW_KEY's public key and the subject
 * key identifier the request has (add_ski), so that CMS can name the new
 * key's signer by that identifier.  It is never sent; OpenSSL only reads
 * a well-formed certificate, so a throwaway key signs it (never the
 * token's). */
static ae_err
keyid_holder(ae_ctx *ctx, X509_REQ *req, EVP_PKEY *new_key, X509 **out)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	EVP_PKEY *throwaway = NULL;
	X509 *x = NULL;
	ae_err err;

	*out = NULL;
	if ((err = add_ski(ctx, req, &exts)) != AE_OK)
		goto cleanup;
	x = X509_new();
	throwaway = EVP_EC_gen("P-256");
	if (x == NULL || throwaway == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) || !X509_set_pubkey(x, new_key) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) || !X509_gmtime_adj(X509_getm_notAfter(x), 0) ||
	    !X509_add_ext(x, sk_X509_EXTENSION_value(exts, 0), -1) ||
	    !X509_sign(x, throwaway, EVP_sha256())) {
		err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot name the new key for the CMS signer");
		goto cleanup;
	}
	*out = x;
	x = NULL;
	err = AE_OK;

cleanup:
	EVP_PKEY_free(throwaway);
	X509_free(x);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return err;
}

/* OpenSSL writes SignerInfos as a DER SET OF, sorted by encoding, which
 * can put the old key's signer first (a larger new key, a shorter
 * issuer), or an agent's before the old certificate's.  MS-WCCE
 * 3.1.1.4.3.2.2 wants the new key's (subjectKeyIdentifier, sid [0])
 * first and the old certificate's second (3.1.1.4.3.3.3: the agent's
 * second when there is no old certificate): put them there, the others
 * after in their order.  Only the order of the SET's elements changes,
 * and no signature covers it.  DER is our own encoding. */
static ae_err
order_signers(ae_ctx *ctx, uint8_t *der, size_t len, X509 *second)
{
	der_span in = { der, len }, c, w, sd, set = { NULL, 0 }, si[8];
	size_t n = 0, order[8], k = 0;
	unsigned char *iss = NULL, *ser = NULL;
	int ni = 0, ns = 0;
	uint8_t *copy, *o;
	ae_err err = AE_OK;

	/* ContentInfo { contentType, [0] { SignedData { ..., signerInfos } } } */
	if (der_next(&in, &c, NULL) != 0x30)
		goto bad;
	in = c;
	if (der_next(&in, &c, NULL) != 0x06 || der_next(&in, &c, NULL) != 0xa0)
		goto bad;
	in = c;
	if (der_next(&in, &sd, NULL) != 0x30)
		goto bad;
	while (sd.len > 0) {
		int tag = der_next(&sd, &c, &w);
		if (tag < 0)
			goto bad;
		if (tag == 0x31)
			set = c; /* the last SET is signerInfos */
	}
	if (set.p == NULL)
		goto bad;
	in = set;
	while (in.len > 0 && n < sizeof(si) / sizeof(si[0]))
		if (der_next(&in, &c, &si[n++]) != 0x30)
			goto bad;
	if (in.len > 0)
		goto bad;
	/* The sid the second signer has: IssuerAndSerialNumber of SECOND */
	if (second != NULL && ((ni = i2d_X509_NAME(X509_get_issuer_name(second), &iss)) <= 0 ||
	                       (ns = i2d_ASN1_INTEGER(X509_get0_serialNumber(second), &ser)) <= 0)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < n; i++) {
			der_span whole = si[i], body, v, sid;
			int tag;
			bool is_first, is_second = false, taken = false;
			for (size_t m = 0; m < k; m++)
				taken = taken || order[m] == i;
			if (taken || der_next(&whole, &body, NULL) != 0x30 || der_next(&body, &v, NULL) != 0x02 ||
			    (tag = der_next(&body, &v, &sid)) < 0)
				continue;
			is_first = tag == 0x80;
			if (second != NULL && tag == 0x30) {
				ae_buf b;
				ae_buf_init(&b);
				ae_buf_append(&b, iss, (size_t)ni);
				ae_buf_append(&b, ser, (size_t)ns);
				der_wrap(&b, 0x30);
				is_second = !b.failed && b.len == sid.len && memcmp(b.data, sid.p, sid.len) == 0;
				ae_buf_clear(&b);
			}
			if ((pass == 0 && is_first) || (pass == 1 && is_second) || pass == 2)
				order[k++] = i;
		}
		if (pass == 0 && k != 1)
			goto bad;
	}
	if (k != n)
		goto bad;
	if ((copy = malloc(set.len)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	o = copy;
	for (size_t i = 0; i < n; i++) {
		memcpy(o, si[order[i]].p, si[order[i]].len);
		o += si[order[i]].len;
	}
	memcpy((uint8_t *)set.p, copy, set.len);
	free(copy);
	goto cleanup;
bad:
	err = ae_set_message(ctx, AE_ERR_INTERNAL, "the CMS request has no signer for the new key");
cleanup:
	OPENSSL_free(iss);
	OPENSSL_free(ser);
	return err;
}

ae_err
ae_csr_check_exchange(ae_ctx *ctx, X509 *xchg, X509 *ca_cert, const char *ca_name, time_t now)
{
	EXTENDED_KEY_USAGE *eku = NULL;
	EVP_PKEY *ca_pub = ca_cert != NULL ? X509_get0_pubkey(ca_cert) : NULL;
	ASN1_OBJECT *want = OBJ_txt2obj(OID_KP_CA_EXCHANGE, 1);
	bool has = false;
	ae_err err = AE_OK;

	if (want == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	if (ca_pub == NULL)
		err = ae_set_message(ctx, AE_ERR_CRYPTO,
		                     "CA %s's exchange certificate cannot be checked: the policy gives no certificate for the CA",
		                     ca_name);
	else if (X509_check_issued(ca_cert, xchg) != X509_V_OK || X509_verify(xchg, ca_pub) != 1)
		err = ae_set_message(ctx, AE_ERR_CRYPTO,
		                     "CA %s's exchange certificate was not issued by the CA: the private key is not sent to it",
		                     ca_name);
	else if (X509_cmp_time(X509_get0_notBefore(xchg), &now) >= 0 || X509_cmp_time(X509_get0_notAfter(xchg), &now) <= 0)
		err = ae_set_message(ctx, AE_ERR_CRYPTO, "CA %s's exchange certificate is not valid now", ca_name);
	if (err == AE_OK) {
		eku = X509_get_ext_d2i(xchg, NID_ext_key_usage, NULL, NULL);
		for (int i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++)
			has = has || OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), want) == 0;
		if (!has)
			err = ae_set_message(ctx, AE_ERR_CRYPTO,
			                     "CA %s's exchange certificate lacks the CA exchange extended key usage (" OID_KP_CA_EXCHANGE
			                     "): the private key is not sent to it",
			                     ca_name);
		/* the key transports the content key (RSA PKCS#1 v1.5): a key
		 * usage, when there is one, must allow it (RFC 5280 4.2.1.3; AD CS's
		 * exchange certificates carry keyEncipherment, critical) */
		else if ((X509_get_extension_flags(xchg) & EXFLAG_KUSAGE) &&
		         !(X509_get_key_usage(xchg) & KU_KEY_ENCIPHERMENT))
			err = ae_set_message(ctx, AE_ERR_CRYPTO,
			                     "CA %s's exchange certificate's key usage does not allow key encipherment: the "
			                     "private key is not sent to it",
			                     ca_name);
		else if (EVP_PKEY_get_base_id(X509_get0_pubkey(xchg)) != EVP_PKEY_RSA)
			err = ae_set_message(ctx, AE_ERR_UNSUPPORTED,
			                     "CA %s's exchange certificate has no RSA key: autoenroll encrypts archived keys to RSA only",
			                     ca_name);
	}
	ERR_clear_error();
	EXTENDED_KEY_USAGE_free(eku);
	ASN1_OBJECT_free(want);
	return err;
}

/* The content cipher for archiving a key under TPL: its
 * msPKI-Symmetric-Algorithm and -Key-Length (MS-WCCE 3.1.2.4.2.2.2.5:
 * "the client MUST use the algorithm specified"), else AES-256 (Windows'
 * own default, 3DES, is only taken when the template names it). */
static const EVP_CIPHER *
archive_cipher(const ae_template *tpl)
{
	const char *alg = tpl->symmetric_alg;
	uint32_t bits = tpl->symmetric_key_length;

	if (alg != NULL && strcasecmp(alg, "3DES") == 0)
		return EVP_des_ede3_cbc();
	if (alg != NULL && strcasecmp(alg, "AES") == 0 && bits == 128)
		return EVP_aes_128_cbc();
	if (alg != NULL && strcasecmp(alg, "AES") == 0 && bits == 192)
		return EVP_aes_192_cbc();
	if (alg == NULL || strcasecmp(alg, "AES") == 0)
		return EVP_aes_256_cbc();
	return NULL;
}

/* The EnvelopedData ContentInfo that carries KEY to XCHG (MS-WCCE
 * 3.1.1.4.3.6.1): KEY as a PRIVATEKEYBLOB (2.2.2.9.1, CryptoAPI's format:
 * OpenSSL's MSBLOB writer gives bType 7, bVersion 2, CALG_RSA_KEYX,
 * "RSA2"), a KeyTransRecipientInfo for XCHG (RSA PKCS#1 v1.5, by issuer
 * and serial number).  *DER_OUT OPENSSL_malloc'd; the blob is wiped. */
static ae_err
archived_key(ae_ctx *ctx, const ae_template *tpl, EVP_PKEY *key, X509 *xchg, unsigned char **der_out,
             size_t *len_out)
{
	const EVP_CIPHER *cipher = archive_cipher(tpl);
	STACK_OF(X509) *to = sk_X509_new_null();
	BIO *blob = BIO_new(BIO_s_mem());
	CMS_ContentInfo *env = NULL;
	char *data;
	long n;
	int len;
	ae_err err = AE_OK;

	*der_out = NULL;
	if (cipher == NULL) {
		err = ae_set_message(ctx, AE_ERR_UNSUPPORTED,
		                     "%s asks for the archived key to be encrypted with %s, which autoenroll does not offer",
		                     tpl->name, tpl->symmetric_alg);
		goto cleanup;
	}
	if (to == NULL || blob == NULL || !sk_X509_push(to, xchg)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || i2b_PrivateKey_bio(blob, key) <= 0) {
		err = ossl_fail(ctx, AE_ERR_UNSUPPORTED,
		                "the private key cannot be read out for archival (an RSA key in a file store is needed)");
		goto cleanup;
	}
	if ((env = CMS_encrypt(to, blob, cipher, CMS_BINARY)) == NULL ||
	    (len = i2d_CMS_ContentInfo(env, der_out)) <= 0) {
		err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot encrypt the private key to the CA exchange certificate");
		goto cleanup;
	}
	*len_out = (size_t)len;

cleanup:
	if (blob != NULL && (n = BIO_get_mem_data(blob, &data)) > 0)
		OPENSSL_cleanse(data, (size_t)n);
	BIO_free(blob);
	sk_X509_free(to);
	CMS_ContentInfo_free(env);
	return err;
}

/*
 * Renewals (MS-WCCE 3.1.1.4.3.2): the PKCS#10 for the new key, with the
 * old certificate in szOID_RENEWAL_CERTIFICATE, inside CMS SignedData
 * that carries the old certificate.
 *  - Schema 2 and later: CMC PKIData (3.1.1.4.3.2.2) with two SignerInfos,
 *    the first naming the new key by subjectKeyIdentifier and signed with
 *    it, the second signed with the old certificate's key.
 *  - Schema 1: the PKCS#10 as id-data (3.1.1.4.3.2.1), whose first (only)
 *    SignerInfo is the old certificate's key; a version 1 template knows
 *    no CMC.
 * Co-signed requests (an enrollment agent's signature, MS-WCCE
 * 3.1.1.4.3.3.3, the RA signatures of 3.2.2.6.2.1.4.5.1) are always CMC:
 * the new key's SignerInfo first, then the old certificate's (renewals),
 * then the agent's, whose certificate goes into certificates; on behalf
 * of someone else the PKIData carries the requestername control.
 */
ae_err
ae_csr_build_signed(ae_ctx *ctx, const ae_csr_params *params, EVP_PKEY *new_key, X509 *old_cert, EVP_PKEY *old_key,
                    const ae_csr_agent *agent, uint8_t **der_out, size_t *len_out)
{
	X509_REQ *req = NULL;
	X509 *holder = NULL;
	const EVP_MD *md = NULL;
	ASN1_OBJECT *ctype = NULL;
	CMS_ContentInfo *cms = NULL;
	BIO *content = NULL;
	unsigned char *der = NULL;
	bool cmc = params != NULL && params->tpl != NULL && params->tpl->schema_version >= 2;
	unsigned char *body = NULL, *env_der = NULL;
	size_t body_len = 0, env_len = 0, hash_len = 0;
	unsigned char key_hash[EVP_MAX_MD_SIZE];
	CMS_SignerInfo *first = NULL;
	ASN1_OBJECT *archived = NULL;
	int n;
	ae_err err;

	ae_return_val_if_fail(der_out != NULL && len_out != NULL, AE_ERR_INTERNAL);
	*der_out = NULL;
	*len_out = 0;
	ae_return_val_if_fail(params != NULL && params->tpl != NULL && new_key != NULL &&
	                      (old_cert == NULL) == (old_key == NULL) &&
	                      (old_cert != NULL || agent != NULL || params->archive_to != NULL) &&
	                      (agent == NULL || (agent->cert != NULL && agent->key != NULL)), AE_ERR_INTERNAL);

	if ((agent != NULL || params->archive_to != NULL) && !cmc) {
		err = ae_set_message(ctx, AE_ERR_UNSUPPORTED,
		                     "%s is a version 1 template: autoenroll %s requests as CMC, which needs version 2 or later",
		                     params->tpl->name, agent != NULL ? "co-signs" : "archives keys in");
		goto cleanup;
	}
	if (old_cert != NULL && !X509_check_private_key(old_cert, old_key)) {
		ERR_clear_error();
		err = ae_set_message(ctx, AE_ERR_CRYPTO,
		                     "the key given for renewal does not belong to the certificate being renewed");
		goto cleanup;
	}
	if (agent != NULL && !X509_check_private_key(agent->cert, agent->key)) {
		ERR_clear_error();
		err = ae_set_message(ctx, AE_ERR_CRYPTO, "the enrollment agent's key does not belong to its certificate");
		goto cleanup;
	}
	err = build_request(ctx, params, new_key, old_cert, &md, &req);
	if (err != AE_OK)
		goto cleanup;
	if (params->archive_to != NULL) {
		/* MS-WCCE 3.1.1.4.3.6.1: the hash of the EnvelopedData with the
		 * request's own digest */
		unsigned int hl = 0;
		if ((err = archived_key(ctx, params->tpl, params->archive_key ? params->archive_key : new_key,
		                        params->archive_to, &env_der, &env_len)) != AE_OK)
			goto cleanup;
		if (!EVP_Digest(env_der, env_len, key_hash, &hl, md, NULL)) {
			err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot hash the archived key");
			goto cleanup;
		}
		hash_len = hl;
	}
	if (cmc) {
		err = pkidata(ctx, req, agent ? agent->requester_name : NULL, hash_len ? key_hash : NULL, hash_len,
		              &body, &body_len);
		if (err == AE_OK)
			err = keyid_holder(ctx, req, new_key, &holder);
	} else if (!item_der(req, ASN1_ITEM_rptr(X509_REQ), &body, &body_len)) {
		err = ossl_fail(ctx, AE_ERR_NOMEM, "cannot encode the renewal request");
	}
	if (err != AE_OK)
		goto cleanup;

	ctype = OBJ_txt2obj(cmc ? OID_PKIDATA : OID_PKCS7_DATA, 1);
	content = body_len <= INT_MAX ? BIO_new_mem_buf(body, (int)body_len) : NULL;
	cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
	if (ctype == NULL || content == NULL || cms == NULL || !CMS_set1_eContentType(cms, ctype)) {
		err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot set up the CMS request");
		goto cleanup;
	}
	/* No S/MIME capabilities: Windows' renewal signers do not carry them. */
	if (cmc && (first = CMS_add1_signer(cms, holder, new_key, md,
	                                    CMS_BINARY | CMS_NOSMIMECAP | CMS_USE_KEYID | CMS_NOCERTS)) == NULL) {
		err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot add the new key as CMS signer");
		goto cleanup;
	}
	if (old_cert != NULL && CMS_add1_signer(cms, old_cert, old_key, md, CMS_BINARY | CMS_NOSMIMECAP) == NULL) {
		err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot add the old certificate as CMS signer");
		goto cleanup;
	}
	if (agent != NULL && CMS_add1_signer(cms, agent->cert, agent->key, md, CMS_BINARY | CMS_NOSMIMECAP) == NULL) {
		err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot add the enrollment agent as CMS signer");
		goto cleanup;
	}
	if (!CMS_final(cms, content, NULL, CMS_BINARY)) {
		err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot sign the request");
		goto cleanup;
	}
	/* 3.1.1.4.3.6.1: the EnvelopedData as the new key's unauthenticated
	 * szOID_ARCHIVED_KEY_ATTR (not covered by the signature) */
	if (env_der != NULL && (env_len > INT_MAX || (archived = OBJ_txt2obj(OID_ARCHIVED_KEY, 1)) == NULL ||
	                        !CMS_unsigned_add1_attr_by_OBJ(first, archived, V_ASN1_SEQUENCE, env_der, (int)env_len))) {
		err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot add the archived key to the request");
		goto cleanup;
	}
	n = i2d_CMS_ContentInfo(cms, &der);
	if (n <= 0) {
		err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot encode the request");
		goto cleanup;
	}
	if (cmc && (err = order_signers(ctx, der, (size_t)n, old_cert ? old_cert : agent ? agent->cert : NULL)) != AE_OK)
		goto cleanup;
	/* Copy into malloc'd memory: callers free() what core returns. */
	*der_out = malloc((size_t)n);
	if (*der_out == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	memcpy(*der_out, der, (size_t)n);
	*len_out = (size_t)n;
	err = AE_OK;

cleanup:
	OPENSSL_free(der);
	OPENSSL_free(env_der);
	ASN1_OBJECT_free(archived);
	CMS_ContentInfo_free(cms);
	BIO_free(content);
	ASN1_OBJECT_free(ctype);
	OPENSSL_free(body);
	X509_free(holder);
	X509_REQ_free(req);
	return err;
}

ae_err
ae_csr_build_renewal(ae_ctx *ctx, const ae_csr_params *params, EVP_PKEY *new_key,
                     X509 *old_cert, EVP_PKEY *old_key, uint8_t **der_out, size_t *len_out)
{
	ae_return_val_if_fail(old_cert != NULL && old_key != NULL && der_out != NULL, AE_ERR_INTERNAL);
	return ae_csr_build_signed(ctx, params, new_key, old_cert, old_key, NULL, der_out, len_out);
}

/* ---- describing a request (untrusted DER) ---- */

/* Appends LEN bytes of untrusted text with control characters escaped;
 * newlines stay when KEEP_NL (OpenSSL's multi-line output). */
static void
put_text(ae_buf *b, const uint8_t *s, size_t len, bool keep_nl)
{
	for (size_t i = 0; i < len; i++) {
		if ((s[i] < 0x20 && !(keep_nl && s[i] == '\n')) || s[i] == 0x7f)
			ae_buf_printf(b, "\\x%02x", s[i]);
		else
			ae_buf_append(b, &s[i], 1);
	}
}

/* Appends and empties what OpenSSL printed into BIO. */
static void
put_bio(ae_buf *b, BIO *bio)
{
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);

	if (n > 0)
		put_text(b, (const uint8_t *)data, (size_t)n, true);
	(void)BIO_reset(bio);
}

static void
put_oid(ae_buf *b, const ASN1_OBJECT *obj)
{
	char buf[128];
	int nid = OBJ_obj2nid(obj);

	if (OBJ_obj2txt(buf, sizeof(buf), obj, 1) <= 0)
		snprintf(buf, sizeof(buf), "(bad OID)");
	if (nid != NID_undef)
		ae_buf_printf(b, "%s (%s)", OBJ_nid2ln(nid), buf);
	else
		ae_buf_puts(b, buf);
}

/* A non-negative INTEGER in decimal. */
static void
put_int(ae_buf *b, const ASN1_INTEGER *i)
{
	uint64_t v;

	if (ASN1_INTEGER_get_uint64(&v, i))
		ae_buf_printf(b, "%llu", (unsigned long long)v);
	else
		ae_buf_printf(b, "(INTEGER of %d bytes)", ASN1_STRING_length(i));
	ERR_clear_error();
}

/* A string (BMPString, UTF8String, IA5String...) as quoted UTF-8. */
static void
put_str(ae_buf *b, const ASN1_STRING *s)
{
	unsigned char *utf8 = NULL;
	int n = ASN1_STRING_to_UTF8(&utf8, s);

	if (n < 0) {
		ERR_clear_error();
		ae_buf_printf(b, "(bad string of %d bytes)", ASN1_STRING_length(s));
	} else {
		ae_buf_puts(b, "\"");
		put_text(b, utf8, (size_t)n, false);
		ae_buf_puts(b, "\"");
	}
	OPENSSL_free(utf8);
}

/* LEN bytes of untrusted DER as one ITEM that fills them; NULL otherwise. */
static void *
unpack(const uint8_t *der, size_t len, const ASN1_ITEM *item)
{
	const unsigned char *p = der;
	ASN1_VALUE *v = len <= LONG_MAX ? ASN1_item_d2i(NULL, &p, (long)len, item) : NULL;

	if (v != NULL && (size_t)(p - der) != len) {
		ASN1_item_free(v, item);
		v = NULL;
	}
	ERR_clear_error();
	return v;
}

static void
describe_ext(ae_buf *b, BIO *bio, X509_EXTENSION *ext, const char *in)
{
	const ASN1_OBJECT *obj = X509_EXTENSION_get_object(ext);
	ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(ext);
	char oid[128] = "";

	OBJ_obj2txt(oid, sizeof(oid), obj, 1);
	ae_buf_printf(b, "%s  ", in);
	if (strcmp(oid, OID_TEMPLATE) == 0) {
		AE_TEMPLATE_ID *id = unpack(os->data, (size_t)os->length, ASN1_ITEM_rptr(AE_TEMPLATE_ID));

		ae_buf_puts(b, "template:");
		if (id == NULL) {
			ae_buf_puts(b, " (malformed)");
		} else {
			ae_buf_puts(b, " ");
			put_oid(b, id->id);
			for (int i = 0; i < 2 && (i == 0 ? id->major : id->minor) != NULL; i++) {
				ae_buf_puts(b, i == 0 ? ", major " : ", minor ");
				put_int(b, i == 0 ? id->major : id->minor);
			}
		}
		ASN1_item_free((ASN1_VALUE *)id, ASN1_ITEM_rptr(AE_TEMPLATE_ID));
	} else if (strcmp(oid, OID_TEMPLATE_NAME) == 0) {
		ASN1_TYPE *name = unpack(os->data, (size_t)os->length, ASN1_ITEM_rptr(ASN1_ANY));
		int type = name != NULL ? ASN1_TYPE_get(name) : -1;

		ae_buf_puts(b, "template name: ");
		if (type == V_ASN1_BMPSTRING || type == V_ASN1_UTF8STRING)
			put_str(b, name->value.asn1_string);
		else
			ae_buf_printf(b, "(not a BMPString: %zu bytes)", (size_t)os->length);
		ASN1_TYPE_free(name);
	} else if (strcmp(oid, OID_APP_POLICIES) == 0) {
		const unsigned char *p = os->data;
		CERTIFICATEPOLICIES *pols = d2i_CERTIFICATEPOLICIES(NULL, &p, os->length);

		ae_buf_puts(b, "application policies:");
		if (pols == NULL) {
			ERR_clear_error();
			ae_buf_puts(b, " (malformed)");
		}
		for (int i = 0; i < sk_POLICYINFO_num(pols); i++) {
			ae_buf_puts(b, i == 0 ? " " : ", ");
			put_oid(b, sk_POLICYINFO_value(pols, i)->policyid);
		}
		CERTIFICATEPOLICIES_free(pols);
	} else {
		put_oid(b, obj);
		ae_buf_puts(b, ": ");
		if (X509V3_EXT_print(bio, ext, X509V3_EXT_DEFAULT, 0) > 0)
			put_bio(b, bio);
		else
			ae_buf_printf(b, "%zu bytes", (size_t)os->length);
		ERR_clear_error();
		(void)BIO_reset(bio);
	}
	ae_buf_printf(b, "%s\n", X509_EXTENSION_get_critical(ext) ? " (critical)" : "");
}

static void
describe_attr(ae_buf *b, BIO *bio, X509_ATTRIBUTE *attr, const char *in)
{
	const ASN1_OBJECT *obj = X509_ATTRIBUTE_get0_object(attr);
	ASN1_TYPE *t = X509_ATTRIBUTE_get0_type(attr, 0);
	const ASN1_STRING *v = t != NULL && t->type == V_ASN1_SEQUENCE ? t->value.sequence : NULL;
	char oid[128] = "";

	OBJ_obj2txt(oid, sizeof(oid), obj, 1);
	ae_buf_printf(b, "%s  ", in);
	if ((strcmp(oid, OID_CLIENT_INFO) == 0 || strcmp(oid, OID_CSP_PROVIDER) == 0) && v != NULL) {
		bool is_csp = strcmp(oid, OID_CSP_PROVIDER) == 0;
		const ASN1_ITEM *item = is_csp ? ASN1_ITEM_rptr(AE_CSP) : ASN1_ITEM_rptr(AE_CLIENT_INFO);
		void *x = unpack(v->data, (size_t)v->length, item);
		const AE_CLIENT_INFO *ci = x;
		const AE_CSP *csp = x;

		ae_buf_puts(b, is_csp ? "CSP:" : "client info:");
		if (x == NULL) {
			ae_buf_puts(b, " (malformed)");
		} else if (is_csp) {
			ae_buf_puts(b, " keySpec ");
			put_int(b, csp->key_spec);
			ae_buf_puts(b, ", ");
			put_str(b, csp->name);
		} else {
			ae_buf_puts(b, " id ");
			put_int(b, ci->client_id);
			ae_buf_puts(b, ", machine ");
			put_str(b, ci->machine);
			ae_buf_puts(b, ", user ");
			put_str(b, ci->user);
			ae_buf_puts(b, ", process ");
			put_str(b, ci->process);
		}
		ASN1_item_free(x, item);
	} else if (strcmp(oid, OID_OS_VERSION) == 0 && t != NULL && t->type == V_ASN1_IA5STRING) {
		ae_buf_puts(b, "OS version: ");
		put_str(b, t->value.ia5string);
	} else if (strcmp(oid, OID_RENEWAL_CERT) == 0 && v != NULL) {
		X509 *x = unpack(v->data, (size_t)v->length, ASN1_ITEM_rptr(X509));

		ae_buf_puts(b, "renewing certificate: ");
		if (x == NULL) {
			ae_buf_printf(b, "(not a certificate: %d bytes)", v->length);
		} else {
			ae_buf_puts(b, "subject ");
			X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
			BIO_puts(bio, ", serial ");
			i2a_ASN1_INTEGER(bio, X509_get0_serialNumber(x));
			put_bio(b, bio);
			X509_free(x);
		}
	} else {
		ae_buf_puts(b, "attribute ");
		put_oid(b, obj);
		ae_buf_printf(b, ": %d value(s)", X509_ATTRIBUTE_count(attr));
	}
	ae_buf_puts(b, "\n");
}

static ae_err
describe_req(ae_ctx *ctx, ae_buf *b, BIO *bio, X509_REQ *req, const char *in)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
	int verified;

	(void)ctx;
	ae_buf_printf(b, "%sPKCS#10 request, version %ld\n", in, X509_REQ_get_version(req) + 1);
	ae_buf_printf(b, "%s  subject: ", in);
	if (X509_NAME_entry_count(X509_REQ_get_subject_name(req)) == 0) {
		ae_buf_puts(b, "(empty: the CA builds it from the directory)");
	} else {
		X509_NAME_print_ex(bio, X509_REQ_get_subject_name(req), 0, XN_FLAG_RFC2253);
		put_bio(b, bio);
	}
	ae_buf_printf(b, "\n%s  public key: ", in);
	if (pub == NULL)
		ae_buf_puts(b, "(unreadable)");
	else
		ae_buf_printf(b, "%s, %d bits", EVP_PKEY_get0_type_name(pub) != NULL ?
		              EVP_PKEY_get0_type_name(pub) : "unknown type", EVP_PKEY_get_bits(pub));
	verified = pub != NULL ? X509_REQ_verify(req, pub) : -1;
	ERR_clear_error();
	ae_buf_printf(b, "\n%s  signature: %s, %s\n", in,
	              OBJ_nid2ln(X509_REQ_get_signature_nid(req)) != NULL ?
	              OBJ_nid2ln(X509_REQ_get_signature_nid(req)) : "unknown algorithm",
	              verified == 1 ? "verifies with the request's key" : "DOES NOT VERIFY");
	exts = X509_REQ_get_extensions(req);
	ERR_clear_error();
	for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++)
		describe_ext(b, bio, sk_X509_EXTENSION_value(exts, i), in);
	for (int i = 0; i < X509_REQ_get_attr_count(req); i++) {
		X509_ATTRIBUTE *a = X509_REQ_get_attr(req, i);
		int nid = OBJ_obj2nid(X509_ATTRIBUTE_get0_object(a));
		if (nid != NID_ext_req && nid != NID_ms_ext_req)
			describe_attr(b, bio, a, in);
	}
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return AE_OK;
}

/* The request inside CMS content C: the content itself (id-data), or the
 * first TaggedRequest of PKIData.  NULL when there is none. */
static X509_REQ *
first_request(const ASN1_OCTET_STRING *c, bool pkidata)
{
	AE_PKIDATA *pd;
	X509_REQ *req = NULL;

	if (!pkidata)
		return unpack(c->data, (size_t)c->length, ASN1_ITEM_rptr(X509_REQ));
	pd = unpack(c->data, (size_t)c->length, ASN1_ITEM_rptr(AE_PKIDATA));
	if (pd != NULL && sk_AE_TAGGED_REQUEST_num(pd->requests) > 0) {
		AE_TCR *tcr = sk_AE_TAGGED_REQUEST_value(pd->requests, 0)->value.tcr;
		req = tcr->request;
		tcr->request = NULL;
	}
	ASN1_item_free((ASN1_VALUE *)pd, ASN1_ITEM_rptr(AE_PKIDATA));
	return req;
}

/* PKIData: counts of each sequence, and each tcr TaggedRequest. */
static void
describe_pkidata(ae_ctx *ctx, ae_buf *b, BIO *bio, const ASN1_OCTET_STRING *c)
{
	AE_PKIDATA *pd = unpack(c->data, (size_t)c->length, ASN1_ITEM_rptr(AE_PKIDATA));

	if (pd == NULL) {
		ae_buf_puts(b, "  PKIData: malformed, or with requests other than tcr TaggedRequests\n");
		return;
	}
	ae_buf_printf(b, "  PKIData controls: %d\n  PKIData requests: %d\n  PKIData CMS contents: %d\n"
	              "  PKIData other messages: %d\n", sk_ASN1_TYPE_num(pd->controls),
	              sk_AE_TAGGED_REQUEST_num(pd->requests), sk_ASN1_TYPE_num(pd->cms), sk_ASN1_TYPE_num(pd->other));
	for (int i = 0; i < sk_AE_TAGGED_REQUEST_num(pd->requests); i++) {
		AE_TCR *tcr = sk_AE_TAGGED_REQUEST_value(pd->requests, i)->value.tcr;

		ae_buf_puts(b, "  TaggedRequest bodyPartID ");
		put_int(b, tcr->body_part_id);
		ae_buf_puts(b, ":\n");
		describe_req(ctx, b, bio, tcr->request, "    ");
	}
	ASN1_item_free((ASN1_VALUE *)pd, ASN1_ITEM_rptr(AE_PKIDATA));
}

static ae_err
describe_cms(ae_ctx *ctx, ae_buf *b, BIO *bio, CMS_ContentInfo *cms)
{
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *certs = NULL;
	ASN1_OCTET_STRING **content;
	const ASN1_OBJECT *ect;
	int verified;

	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed)
		return ae_set_message(ctx, AE_ERR_INVALID, "a CMS message, but not SignedData");
	ect = CMS_get0_eContentType(cms);
	ae_buf_puts(b, "CMS SignedData, content ");
	put_oid(b, ect);
	ae_buf_puts(b, "\n");
	sis = CMS_get0_SignerInfos(cms);
	for (int i = 0; i < sk_CMS_SignerInfo_num(sis); i++) {
		CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, i);
		ASN1_OCTET_STRING *keyid = NULL;
		X509_NAME *issuer = NULL;
		ASN1_INTEGER *serial = NULL;
		X509_ALGOR *dig = NULL, *sig = NULL;

		ae_buf_printf(b, "  signer %d: ", i + 1);
		if (CMS_SignerInfo_get0_signer_id(si, &keyid, &issuer, &serial) != 1) {
			ae_buf_puts(b, "(unreadable id)");
		} else if (keyid != NULL) {
			ae_buf_puts(b, "subjectKeyIdentifier ");
			for (int k = 0; k < keyid->length; k++)
				ae_buf_printf(b, "%02x", keyid->data[k]);
		} else {
			ae_buf_puts(b, "issuer ");
			X509_NAME_print_ex(bio, issuer, 0, XN_FLAG_RFC2253);
			BIO_puts(bio, ", serial ");
			i2a_ASN1_INTEGER(bio, serial);
			put_bio(b, bio);
		}
		CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
		if (dig != NULL) {
			ae_buf_puts(b, ", digest ");
			put_oid(b, dig->algorithm);
		}
		ae_buf_printf(b, ", %d signed attributes\n", CMS_signed_get_attr_count(si));
	}
	certs = CMS_get1_certs(cms);
	for (int i = 0; i < sk_X509_num(certs); i++) {
		ae_buf_printf(b, "  certificate %d: ", i + 1);
		X509_NAME_print_ex(bio, X509_get_subject_name(sk_X509_value(certs, i)), 0, XN_FLAG_RFC2253);
		put_bio(b, bio);
		ae_buf_puts(b, "\n");
	}
	sk_X509_pop_free(certs, X509_free);
	content = CMS_get0_content(cms);
	{
		/* A signer named by subjectKeyIdentifier is the request's new
		 * key (3.1.1.4.3.2.2): verify it with the request's key. */
		STACK_OF(X509) *holders = sk_X509_new_null();
		X509 *holder = NULL;
		X509_REQ *inner = NULL;

		if (content != NULL && *content != NULL)
			inner = first_request(*content, OBJ_obj2nid(ect) != NID_pkcs7_data);
		if (inner != NULL && holders != NULL &&
		    keyid_holder(ctx, inner, X509_REQ_get0_pubkey(inner), &holder) == AE_OK &&
		    !sk_X509_push(holders, holder))
			X509_free(holder);
		ae_clear_message(ctx);
		verified = CMS_verify(cms, holders, NULL, NULL, NULL, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY);
		ERR_clear_error();
		sk_X509_pop_free(holders, X509_free);
		X509_REQ_free(inner);
	}
	ae_buf_printf(b, "  signatures: %s\n", verified == 1 ? "verify with the included certificates and the request's key"
	                                                     : "do not verify with the included certificates and the request's key");

	if (content == NULL || *content == NULL) {
		ae_buf_puts(b, "  (no content)\n");
		return AE_OK;
	}
	{
		int nid = OBJ_obj2nid(ect);
		char oid[64] = "";

		OBJ_obj2txt(oid, sizeof(oid), ect, 1);
		if (nid == NID_pkcs7_data) {
			X509_REQ *req = first_request(*content, false);
			if (req == NULL) {
				ae_buf_puts(b, "  (content is not a PKCS#10 request)\n");
				return AE_OK;
			}
			describe_req(ctx, b, bio, req, "  ");
			X509_REQ_free(req);
		} else if (strcmp(oid, OID_PKIDATA) == 0) {
			describe_pkidata(ctx, b, bio, *content);
		} else {
			ae_buf_printf(b, "  (%d bytes of content not described)\n", (*content)->length);
		}
	}
	return AE_OK;
}

ae_err
ae_csr_describe(ae_ctx *ctx, const uint8_t *der, size_t len, char **text_out)
{
	X509_REQ *req = NULL;
	CMS_ContentInfo *cms = NULL;
	BIO *bio = NULL;
	ae_buf b;
	ae_err err;

	ae_return_val_if_fail(text_out != NULL, AE_ERR_INTERNAL);
	*text_out = NULL;
	ae_return_val_if_fail(der != NULL || len == 0, AE_ERR_INTERNAL);
	ae_buf_init(&b);
	if (len == 0 || len > 1024 * 1024) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "a request of %zu bytes: expected 1 byte to 1 MiB", len);
		goto cleanup;
	}
	if (der[0] != 0x30) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "not DER (first byte 0x%02x%s)", der[0],
		                     der[0] == '-' ? ": this looks like PEM" : "");
		goto cleanup;
	}
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	req = unpack(der, len, ASN1_ITEM_rptr(X509_REQ));
	if (req != NULL) {
		err = describe_req(ctx, &b, bio, req, "");
	} else {
		const unsigned char *p = der;
		cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
		ERR_clear_error();
		if (cms == NULL || (size_t)(p - der) != len) {
			err = ae_set_message(ctx, AE_ERR_INVALID,
			                     "neither a PKCS#10 request nor a CMS message");
			goto cleanup;
		}
		err = describe_cms(ctx, &b, bio, cms);
	}
	if (err != AE_OK)
		goto cleanup;
	*text_out = ae_buf_steal(&b);
	if (*text_out == NULL)
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");

cleanup:
	ERR_clear_error();
	ae_buf_clear(&b);
	BIO_free(bio);
	CMS_ContentInfo_free(cms);
	X509_REQ_free(req);
	return err;
}

ae_err
ae_csr_to_der(ae_ctx *ctx, X509_REQ *req, uint8_t **der_out, size_t *len_out)
{
	unsigned char *der = NULL;
	int n;

	ae_return_val_if_fail(der_out != NULL && len_out != NULL, AE_ERR_INTERNAL);
	*der_out = NULL;
	*len_out = 0;
	ae_return_val_if_fail(req != NULL, AE_ERR_INTERNAL);
	n = i2d_X509_REQ(req, &der);
	if (n <= 0)
		return ossl_fail(ctx, AE_ERR_CRYPTO, "cannot encode the request");
	*der_out = malloc((size_t)n);
	if (*der_out == NULL) {
		OPENSSL_free(der);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	memcpy(*der_out, der, (size_t)n);
	*len_out = (size_t)n;
	OPENSSL_free(der);
	return AE_OK;
}

ae_err
ae_csr_to_pem(ae_ctx *ctx, X509_REQ *req, char **pem_out)
{
	BIO *bio = NULL;
	char *data = NULL, *pem = NULL;
	long n;
	ae_err err;

	ae_return_val_if_fail(pem_out != NULL, AE_ERR_INTERNAL);
	*pem_out = NULL;
	ae_return_val_if_fail(req != NULL, AE_ERR_INTERNAL);
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || !PEM_write_bio_X509_REQ(bio, req)) {
		err = ossl_fail(ctx, AE_ERR_CRYPTO, "cannot write the request as PEM");
		goto cleanup;
	}
	n = BIO_get_mem_data(bio, &data);
	pem = malloc((size_t)n + 1);
	if (pem == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	memcpy(pem, data, (size_t)n);
	pem[n] = '\0';
	*pem_out = pem;
	pem = NULL;
	err = AE_OK;

cleanup:
	free(pem);
	BIO_free(bio);
	return err;
}
