/*
 * test-template.c - certificate templates from LDAP attributes: the 33
 * real Windows Server 2016 defaults, synthetic v4 templates, and bad
 * values that must be refused with a message naming the attribute.
 */
#include "config.h"

#include "ldif.h"
#include "tap.h"
#include "template.h"
#include "util.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define FIXTURE SRCDIR "/tests/data/windows-default-templates.ldif"
#define DAY 86400LL

static ldif_file fixture;

/* Parses the single entry in LDIF text. */
static ae_err
parse_text(ae_ctx *ctx, const char *text, ae_template **out)
{
	ldif_file f;
	char err[256];
	ae_err rc;

	*out = NULL;
	if (ldif_parse(text, strlen(text), &f, err, sizeof(err)) != 0 || f.count != 1) {
		tap_diag("test LDIF does not parse: %s", err);
		return AE_ERR_INTERNAL;
	}
	rc = ae_template_from_entry(ctx, &f.entries[0], out);
	ldif_free(&f);
	return rc;
}

static const ae_template *
real(ae_template **all, const char *cn)
{
	for (size_t i = 0; i < fixture.count; i++)
		if (all[i] != NULL && strcmp(all[i]->name, cn) == 0)
			return all[i];
	return NULL;
}

static bool
strv_is(char **v, const char *const *want)
{
	size_t n = 0;

	for (; want[n] != NULL; n++)
		if (v == NULL || v[n] == NULL || strcmp(v[n], want[n]) != 0)
			return false;
	return v != NULL && v[n] == NULL;
}

static void
test_real(void)
{
	ae_template *all[64] = { NULL };
	const ae_template *t;
	int ok = 0;
	char buf[64];

	for (size_t i = 0; i < fixture.count && i < 64; i++) {
		ae_ctx *ctx = ae_ctx_new();
		if (ae_template_from_entry(ctx, &fixture.entries[i], &all[i]) == AE_OK &&
		    all[i]->sd != NULL && all[i]->sd_error == NULL)
			ok++;
		else
			tap_diag("entry %zu: %s", i, ae_get_message(ctx));
		ae_ctx_free(ctx);
	}
	tap_is_int(ok, 33, "all 33 real templates parse, each with its descriptor");

	t = real(all, "User");
	tap_ok(t != NULL, "User found");
	if (t != NULL) {
		static const char *const ekus[] = {
			"1.3.6.1.4.1.311.10.3.4", "1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.2", NULL,
		};
		static const char *const csps[] = {
			"2,Microsoft Base Cryptographic Provider v1.0",
			"1,Microsoft Enhanced Cryptographic Provider v1.0", NULL,
		};
		static const char *const crit[] = { "2.5.29.15", NULL };

		tap_is_str(t->dn, "CN=User,CN=Certificate Templates,CN=Public Key Services,"
		           "CN=Services,CN=Configuration,DC=dom,DC=local", "User dn");
		tap_is_str(t->display_name, "User", "User displayName");
		tap_is_str(t->oid, "1.3.6.1.4.1.311.21.8.14022710.8053821.4148415.11041814.15190471.213.1.1",
		           "User OID");
		tap_is_int(t->schema_version, 1, "User schema version 1");
		tap_is_int(t->major, 3, "User revision 3");
		tap_is_int(t->minor, 1, "User minor revision 1");
		tap_ok(t->has_validity && t->validity_seconds == 365 * DAY, "User validity 365 days");
		tap_ok(t->has_renewal && t->renewal_seconds == 42 * DAY, "User renewal 42 days");
		tap_is_str(ae_period_to_string(t->validity_seconds, buf, sizeof(buf)), "1 year",
		           "User validity reads \"1 year\"");
		tap_is_str(ae_period_to_string(t->renewal_seconds, buf, sizeof(buf)), "6 weeks",
		           "User renewal reads \"6 weeks\"");
		tap_is_int(t->name_flags, 0xA6000000u, "User name flags 0xA6000000 (LDAP -1509949440)");
		tap_is_int(t->enrollment_flags, 0x29, "User enrollment flags 0x29");
		tap_is_int(t->flags, 0x1023a, "User flags 0x1023A");
		tap_is_int(t->private_key_flags, AE_PK_EXPORTABLE_KEY, "User private key flags 0x10");
		tap_is_int(t->ra_signatures, 0, "User needs no RA signature");
		tap_is_int(t->min_key_size, 2048, "User minimal key size 2048");
		tap_is_int(t->key_spec, 1, "User key spec AT_KEYEXCHANGE");
		tap_ok(t->key_usage_len == 2 && t->key_usage[0] == 0xa0 && t->key_usage[1] == 0,
		       "User key usage a0 00");
		tap_is_int(t->max_issuing_depth, 0, "User max issuing depth 0");
		tap_ok(strv_is(t->ekus, ekus), "User EKUs in LDAP order");
		tap_ok(strv_is(t->csps, csps), "User CSPs");
		tap_ok(strv_is(t->critical_extensions, crit), "User critical extensions");
		tap_ok(t->supersedes == NULL && t->ra_application_policies == NULL &&
		       t->application_policies == NULL, "User has no supersedes/RA/application policies");
		tap_ok(t->key_alg == AE_KEY_ALG_RSA && t->hash_alg == NULL, "User key algorithm RSA by default");
		tap_is_int(t->sd != NULL ? t->sd->ace_count : 0, 6, "User descriptor has 6 ACEs");
	}

	t = real(all, "DomainControllerAuthentication");
	if (t != NULL) {
		static const char *const sup[] = { "DomainController", NULL };
		tap_ok(strv_is(t->supersedes, sup), "DomainControllerAuthentication supersedes DomainController");
		tap_ok(t->schema_version == 2 && t->major == 110 && t->minor == 0,
		       "DomainControllerAuthentication is v2, revision 110.0");
		tap_ok(t->flags & AE_CT_FLAG_MACHINE_TYPE, "DomainControllerAuthentication is a machine template");
	} else {
		tap_ok(false, "DomainControllerAuthentication found");
	}
	t = real(all, "DirectoryEmailReplication");
	tap_ok(t != NULL && ae_strv_contains(t->supersedes, "DomainController") &&
	       ae_strv_len(t->supersedes) == 1, "DirectoryEmailReplication supersedes DomainController");
	t = real(all, "KerberosAuthentication");
	tap_ok(t != NULL && t->supersedes == NULL, "KerberosAuthentication supersedes nothing");

	t = real(all, "CrossCA");
	if (t != NULL) {
		static const char *const ra[] = { "1.3.6.1.4.1.311.10.3.10", NULL };
		tap_is_int(t->ra_signatures, 1, "CrossCA needs 1 RA signature");
		tap_ok(strv_is(t->ra_application_policies, ra),
		       "CrossCA syntax-1 RA application policy kept as an OID");
		tap_ok(t->key_alg == AE_KEY_ALG_RSA && t->hash_alg == NULL, "CrossCA: no syntax-2 algorithm");
		tap_is_str(ae_period_to_string(t->validity_seconds, buf, sizeof(buf)), "5 years",
		           "CrossCA validity \"5 years\"");
	} else {
		tap_ok(false, "CrossCA found");
	}

	t = real(all, "OCSPResponseSigning");
	if (t != NULL) {
		tap_is_int(t->schema_version, 3, "OCSPResponseSigning is schema 3");
		tap_is_int(t->key_alg, AE_KEY_ALG_RSA, "OCSPResponseSigning syntax-2 key algorithm RSA");
		tap_is_str(t->hash_alg, "SHA1", "OCSPResponseSigning hash SHA1");
		tap_ok(t->ra_application_policies == NULL,
		       "OCSPResponseSigning: syntax-2 value without RA policies leaves the list empty");
		tap_is_str(ae_period_to_string(t->validity_seconds, buf, sizeof(buf)), "2 weeks",
		           "OCSPResponseSigning validity \"2 weeks\"");
		tap_is_str(ae_period_to_string(t->renewal_seconds, buf, sizeof(buf)), "2 days",
		           "OCSPResponseSigning renewal \"2 days\"");
	} else {
		tap_ok(false, "OCSPResponseSigning found");
	}
	t = real(all, "CAExchange");
	tap_ok(t != NULL && t->validity_seconds == 7 * DAY && t->renewal_seconds == DAY,
	       "CAExchange: 1 week / 1 day");
	t = real(all, "EnrollmentAgent");
	tap_is_str(t != NULL ? ae_period_to_string(t->validity_seconds, buf, sizeof(buf)) : NULL,
	           "2 years", "EnrollmentAgent validity \"2 years\"");
	t = real(all, "CA");
	tap_ok(t != NULL && t->key_usage[0] == 0x86 && (t->flags & AE_CT_FLAG_IS_CA),
	       "CA: key usage 86 00, IS_CA");
	t = real(all, "WebServer");
	tap_ok(t != NULL && (t->name_flags & AE_NF_ENROLLEE_SUPPLIES_SUBJECT) &&
	       t->enrollment_flags == 0, "WebServer: enrollee supplies subject");

	for (size_t i = 0; i < 64; i++)
		ae_template_free(all[i]);
}

static void
test_attributes_list(void)
{
	int missing = 0;
	bool has_sd = false;
	size_t n = 0;

	for (; ae_template_attributes[n] != NULL; n++)
		if (strcmp(ae_template_attributes[n], "nTSecurityDescriptor") == 0)
			has_sd = true;
	tap_ok(has_sd, "attribute list asks for nTSecurityDescriptor");
	/* Every attribute of the real templates that we use must be asked
	 * for (objectClass is the search filter's business). */
	for (size_t i = 0; i < fixture.count; i++) {
		const ae_entry *e = &fixture.entries[i];
		for (size_t j = 0; j < e->nattrs; j++) {
			bool found = strcasecmp(e->attrs[j].name, "objectClass") == 0;
			for (size_t k = 0; k < n && !found; k++)
				found = strcasecmp(ae_template_attributes[k], e->attrs[j].name) == 0;
			if (!found) {
				tap_diag("not requested: %s", e->attrs[j].name);
				missing++;
			}
		}
	}
	tap_is_int(missing, 0, "every fixture attribute is in ae_template_attributes (%zu names)", n);
}

#define V4_HEAD \
	"dn: CN=LinuxEC,CN=Certificate Templates,CN=Public Key Services,CN=Services,CN=Configuration,DC=dom,DC=local\n" \
	"cn: LinuxEC\n" \
	"flags: 131680\n" \
	"revision: 100\n" \
	"msPKI-Template-Minor-Revision: 4\n" \
	"msPKI-Template-Schema-Version: 4\n" \
	"msPKI-Private-Key-Flag: 101056512\n" \
	"msPKI-Minimal-Key-Size: 256\n" \
	"pKIExpirationPeriod:: AEA5hy7h/v8=\n" \
	"pKIOverlapPeriod:: AICmCv/e//8=\n"

static void
test_synthetic(void)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_template *t = NULL;
	ae_err err;

	err = parse_text(ctx, V4_HEAD
	                 "msPKI-RA-Application-Policies: msPKI-Asymmetric-Algorithm`PZPWSTR`ECDSA_P256`"
	                 "msPKI-Hash-Algorithm`PZPWSTR`SHA256`msPKI-Key-Usage`DWORD`16777215`"
	                 "msPKI-Symmetric-Algorithm`PZPWSTR`3DES`msPKI-Symmetric-Key-Length`DWORD`168`"
	                 "msPKI-RA-Application-Policies`PZPWSTR`1.3.6.1.4.1.311.20.2.1,1.3.6.1.5.5.7.3.2`\n",
	                 &t);
	tap_ok(err == AE_OK, "synthetic v4 ECDSA template parses: %s", ae_get_message(ctx));
	if (t != NULL) {
		static const char *const ra[] = { "1.3.6.1.4.1.311.20.2.1", "1.3.6.1.5.5.7.3.2", NULL };
		tap_is_int(t->key_alg, AE_KEY_ALG_ECDSA_P256, "key algorithm ECDSA_P256");
		tap_is_str(t->hash_alg, "SHA256", "hash SHA256");
		tap_ok(strv_is(t->ra_application_policies, ra), "syntax-2 RA policies split at commas");
		tap_is_str(t->display_name, "LinuxEC", "displayName falls back to cn");
		tap_is_int(t->schema_version, 4, "schema 4");
		tap_is_int(t->private_key_flags, 0x06060000, "private key flags 0x06060000");
		tap_ok(t->sd == NULL && t->sd_error != NULL &&
		       strcmp(t->sd_error, "the DC returned no nTSecurityDescriptor") == 0,
		       "no descriptor: sd NULL, sd_error says why");
		tap_ok(t->oid == NULL && t->ekus == NULL && t->key_usage_len == 0,
		       "absent optional attributes stay empty");
	}
	ae_template_free(t);

	{
		static const struct {
			const char *name;
			ae_key_alg alg;
		} algs[] = {
			{ "ECDSA_P384", AE_KEY_ALG_ECDSA_P384 }, { "ECDSA_P521", AE_KEY_ALG_ECDSA_P521 },
			{ "ECDH_P256", AE_KEY_ALG_ECDH_P256 }, { "ECDH_P384", AE_KEY_ALG_ECDH_P384 },
			{ "ECDH_P521", AE_KEY_ALG_ECDH_P521 }, { "DSA", AE_KEY_ALG_DSA },
			{ "RSA", AE_KEY_ALG_RSA }, { "Kyber", AE_KEY_ALG_UNKNOWN },
		};
		int wrong = 0;
		for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
			char text[2048];
			snprintf(text, sizeof(text), V4_HEAD
			         "msPKI-RA-Application-Policies: msPKI-Asymmetric-Algorithm`PZPWSTR`%s`"
			         "msPKI-Hash-Algorithm`PZPWSTR`SHA384\n", algs[i].name);
			if (parse_text(ctx, text, &t) != AE_OK || t->key_alg != algs[i].alg)
				wrong++;
			ae_template_free(t);
		}
		tap_is_int(wrong, 0, "all asymmetric algorithm names map (and a missing final ` is fine)");
	}

	/* A v4 template with the legacy flag still uses syntax 1. */
	err = parse_text(ctx, V4_HEAD "msPKI-RA-Application-Policies: 1.3.6.1.4.1.311.20.2.1\n"
	                 "msPKI-RA-Application-Policies: 1.3.6.1.5.5.7.3.2\n", &t);
	tap_ok(err == AE_OK && t != NULL && ae_strv_len(t->ra_application_policies) == 2 &&
	       t->key_alg == AE_KEY_ALG_RSA, "syntax-1 values kept as OIDs");
	ae_template_free(t);

	/* A bad descriptor is not an error of the template. */
	err = parse_text(ctx, V4_HEAD "nTSecurityDescriptor:: AQAEnA==\n", &t);
	tap_ok(err == AE_OK && t != NULL && t->sd == NULL && t->sd_error != NULL &&
	       strstr(t->sd_error, "security descriptor") != NULL,
	       "malformed descriptor: template parses, sd_error \"%s\"", t != NULL ? t->sd_error : "");
	ae_template_free(t);

	/* Schema version absent means 1. */
	err = parse_text(ctx, "dn: CN=Old\ncn: Old\n", &t);
	tap_ok(err == AE_OK && t != NULL && t->schema_version == 1 && !t->has_validity &&
	       t->dn != NULL && strcmp(t->dn, "CN=Old") == 0,
	       "a v1 template without the schema attribute is schema 1");
	ae_template_free(t);
	ae_ctx_free(ctx);
}

/* Parses TEXT expecting an error whose message contains every WANT. */
static void
expect_error(const char *text, const char *want, const char *want2, const char *what)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_template *t = (ae_template *)&t;
	ae_err err = parse_text(ctx, text, &t);
	const char *msg = ae_get_message(ctx);

	tap_ok(err == AE_ERR_INVALID && t == NULL && strstr(msg, want) != NULL &&
	       (want2 == NULL || strstr(msg, want2) != NULL), "%s: %s", what, msg);
	ae_ctx_free(ctx);
}

static void
test_errors(void)
{
	expect_error(V4_HEAD "pKIExpirationPeriod:: AEA5hy7h/g==\n", "single-valued", NULL,
	             "two expiration periods");
	expect_error("dn: CN=X\ncn: X\npKIExpirationPeriod:: AEA5hy7h/g==\n",
	             "pKIExpirationPeriod has 7 bytes; a FILETIME interval has 8",
	             "certificate template X", "7-byte period");
	expect_error("dn: CN=X\ncn: X\npKIOverlapPeriod:: AEA5hy7h/v8A\n",
	             "pKIOverlapPeriod has 9 bytes", NULL, "9-byte period");
	expect_error("dn: CN=X\ncn: X\npKIOverlapPeriod:: AAA8RVI6AQA=\n",
	             "pKIOverlapPeriod is 345600000000000", "negative", "positive period");
	expect_error("dn: CN=X\ncn: X\npKIExpirationPeriod:: AAAAAAAAAAA=\n",
	             "pKIExpirationPeriod is 0", NULL, "zero period");
	expect_error("dn: CN=X\ncn: X\nflags: 0x20\n",
	             "flags value \"0x20\" is not an integer", NULL, "hex flags");
	expect_error("dn: CN=X\ncn: X\nmsPKI-Enrollment-Flag: twelve\n",
	             "msPKI-Enrollment-Flag value \"twelve\" is not an integer", NULL, "word flags");
	expect_error("dn: CN=X\ncn: X\nmsPKI-Certificate-Name-Flag: 4294967296\n",
	             "msPKI-Certificate-Name-Flag value \"4294967296\" is out of range", NULL,
	             "2^32");
	expect_error("dn: CN=X\ncn: X\nrevision: -2147483649\n",
	             "revision value \"-2147483649\" is out of range", NULL, "below -2^31");
	expect_error("dn: CN=X\ncn: X\nrevision: 99999999999999999999999999\n",
	             "is out of range", NULL, "beyond int64");
	expect_error("dn: CN=X\ncn: X\nmsPKI-RA-Signature:\n",
	             "msPKI-RA-Signature value \"\" is not an integer", NULL, "empty integer");
	expect_error("dn: CN=X\ncn: X\nmsPKI-Minimal-Key-Size: -\n",
	             "msPKI-Minimal-Key-Size value \"-\" is not an integer", NULL, "lone minus");
	expect_error("dn: CN=X\ncn: X\nflags:: MTIAMw==\n",
	             "flags value \"12\\x003\" is not an integer", NULL, "NUL inside an integer");
	expect_error("dn: CN=X\ncn: X\nmsPKI-Template-Schema-Version: 7\n",
	             "unknown msPKI-Template-Schema-Version 7 (this client knows 1 to 4)", NULL,
	             "schema version 7");
	expect_error("dn: CN=X\ncn: X\nmsPKI-Template-Schema-Version: 0\n",
	             "unknown msPKI-Template-Schema-Version 0", NULL, "schema version 0");
	expect_error("dn: CN=X\ndisplayName: X\nflags: 1\n", "the template has no cn", "CN=X",
	             "missing cn");
	expect_error("dn: CN=X\ncn:\n", "certificate template CN=X: the template has no cn", NULL,
	             "empty cn");
	expect_error("dn: CN=X\ncn:: VXMAZXI=\n", "cn contains a NUL byte", NULL, "NUL in cn");
	expect_error("dn: CN=X\ncn: X\npKIExtendedKeyUsage: 1.2\npKIExtendedKeyUsage:: MS4AMg==\n",
	             "pKIExtendedKeyUsage contains a NUL byte", NULL, "NUL in a multi-valued string");
	expect_error("dn: CN=X\ncn: X\npKIKeyUsage:: oAAA\n", "pKIKeyUsage has 3 bytes", NULL,
	             "3-byte key usage");
	expect_error("dn: CN=X\ncn: X\nmsPKI-RA-Application-Policies: msPKI-Hash-Algorithm`SHA1\n",
	             "msPKI-RA-Application-Policies has an incomplete", NULL, "incomplete triplet");
	expect_error("dn: CN=X\ncn: X\nmsPKI-RA-Application-Policies: msPKI-Hash-Algorithm`STRING`SHA1`\n",
	             "expected DWORD or PZPWSTR", NULL, "unknown triplet type");
}

static void
test_numbers(void)
{
	static const struct {
		const char *text;
		uint32_t want;
	} good[] = {
		{ "0", 0 }, { "41", 41 }, { "-1509949440", 0xA6000000u }, { "-1", 0xFFFFFFFFu },
		{ "4294967295", 0xFFFFFFFFu }, { "-2147483648", 0x80000000u }, { "2147483648", 0x80000000u },
		{ "00012", 12 },
	};
	static const struct {
		const uint8_t b[8];
		int64_t days;
	} periods[] = {
		/* The byte values of ad-data.md 2.7, all seen in the captured defaults. */
		{ { 0x00, 0x40, 0x39, 0x87, 0x2e, 0xe1, 0xfe, 0xff }, 365 },
		{ { 0x00, 0x80, 0x72, 0x0e, 0x5d, 0xc2, 0xfd, 0xff }, 730 },
		{ { 0x00, 0x40, 0x1e, 0xa4, 0xe8, 0x65, 0xfa, 0xff }, 1825 },
		{ { 0x00, 0x80, 0xa6, 0x0a, 0xff, 0xde, 0xff, 0xff }, 42 },
		{ { 0x00, 0x80, 0x37, 0xae, 0xff, 0xf4, 0xff, 0xff }, 14 },
		{ { 0x00, 0xc0, 0x1b, 0xd7, 0x7f, 0xfa, 0xff, 0xff }, 7 },
		{ { 0x00, 0x80, 0x2c, 0xab, 0x6d, 0xfe, 0xff, 0xff }, 2 },
		{ { 0x00, 0x40, 0x96, 0xd5, 0x36, 0xff, 0xff, 0xff }, 1 },
	};
	static const struct {
		int64_t s;
		const char *text;
	} texts[] = {
		{ 365 * DAY, "1 year" }, { 730 * DAY, "2 years" }, { 42 * DAY, "6 weeks" },
		{ 2 * DAY, "2 days" }, { 8 * 3600, "8 hours" }, { 90 * DAY, "3 months" },
		{ 7 * DAY, "1 week" }, { DAY, "1 day" }, { 3600, "1 hour" }, { 61, "61 seconds" },
		{ 0, "0 seconds" }, { 400 * DAY, "400 days" },
	};
	ae_ctx *ctx = ae_ctx_new();
	int wrong = 0;
	char buf[64];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ae_value v = { (const uint8_t *)good[i].text, strlen(good[i].text) };
		uint32_t got = 1;
		if (ae_parse_ldap_uint32(ctx, "flags", &v, &got) != AE_OK || got != good[i].want) {
			tap_diag("\"%s\" -> 0x%x", good[i].text, got);
			wrong++;
		}
	}
	tap_is_int(wrong, 0, "LDAP integers as 32-bit patterns");
	{
		/* Values are not NUL-terminated: only LEN bytes count. */
		ae_value v = { (const uint8_t *)"123456", 3 };
		uint32_t got = 0;
		tap_ok(ae_parse_ldap_uint32(ctx, "flags", &v, &got) == AE_OK && got == 123,
		       "only the value's length is read");
	}

	wrong = 0;
	for (size_t i = 0; i < sizeof(periods) / sizeof(periods[0]); i++) {
		ae_value v = { periods[i].b, 8 };
		int64_t s = 0;
		if (ae_parse_period(ctx, "pKIExpirationPeriod", &v, &s) != AE_OK ||
		    s != periods[i].days * DAY)
			wrong++;
	}
	tap_is_int(wrong, 0, "all real period encodings decode");
	{
		const uint8_t minval[8] = { 0, 0, 0, 0, 0, 0, 0, 0x80 };
		const uint8_t tiny[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
		ae_value v = { minval, 8 };
		int64_t s = 0;
		tap_ok(ae_parse_period(ctx, "pKIOverlapPeriod", &v, &s) == AE_OK && s == 922337203685LL,
		       "INT64_MIN period does not overflow");
		v.data = tiny;
		ae_err err = ae_parse_period(ctx, "pKIOverlapPeriod", &v, &s);
		tap_ok(err == AE_ERR_INVALID && strstr(ae_get_message(ctx), "pKIOverlapPeriod") != NULL,
		       "a sub-second period is refused: %s", ae_get_message(ctx));
	}

	wrong = 0;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (strcmp(ae_period_to_string(texts[i].s, buf, sizeof(buf)), texts[i].text) != 0) {
			tap_diag("%lld -> \"%s\", want \"%s\"", (long long)texts[i].s, buf, texts[i].text);
			wrong++;
		}
	}
	tap_is_int(wrong, 0, "periods in Windows-style words");
	ae_ctx_free(ctx);
}

int
main(void)
{
	char err[512];

	if (ldif_read_file(FIXTURE, &fixture, err, sizeof(err)) != 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	test_real();
	test_attributes_list();
	test_synthetic();
	test_errors();
	test_numbers();
	ldif_free(&fixture);
	return tap_done();
}
