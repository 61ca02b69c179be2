/*
 * template.c - certificate templates from their LDAP attributes.
 *
 * Values come straight off the wire: they are not NUL-terminated, integers
 * are LDAP's signed decimal text, periods are 8-byte FILETIME intervals.
 * Every error names the attribute and shows the offending value, because
 * the person reading it is an AD administrator looking at ADSI Edit.
 */
#include "config.h"

#include "template.h"
#include "util.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ATTR_SCHEMA_VERSION "msPKI-Template-Schema-Version"
#define ATTR_RA_APP_POLICIES "msPKI-RA-Application-Policies"

const char *const ae_template_attributes[] = {
	"cn",
	"displayName",
	"flags",
	"revision",
	"msPKI-Template-Minor-Revision",
	ATTR_SCHEMA_VERSION,
	"msPKI-Cert-Template-OID",
	"msPKI-Enrollment-Flag",
	"msPKI-Certificate-Name-Flag",
	"msPKI-Private-Key-Flag",
	"msPKI-RA-Signature",
	ATTR_RA_APP_POLICIES,
	"msPKI-RA-Policies",
	"msPKI-Supersede-Templates",
	"pKIExpirationPeriod",
	"pKIOverlapPeriod",
	"msPKI-Minimal-Key-Size",
	"pKIDefaultKeySpec",
	"pKIKeyUsage",
	"pKIMaxIssuingDepth",
	"pKIExtendedKeyUsage",
	"msPKI-Certificate-Application-Policy",
	"msPKI-Certificate-Policy",
	"pKICriticalExtensions",
	"pKIDefaultCSPs",
	"nTSecurityDescriptor",
	NULL,
};

/* A printable rendering of a wire value for messages: at most 40 bytes,
 * anything outside printable ASCII escaped so logs stay one line. */
static const char *
show_value(const ae_value *v, char *buf, size_t size)
{
	size_t o = 0, i;

	for (i = 0; i < v->len && i < 40 && o + 5 < size; i++) {
		uint8_t c = v->data[i];
		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
	}
	if (i < v->len && o + 4 < size) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

ae_err
ae_parse_ldap_uint32(ae_ctx *ctx, const char *attr, const ae_value *v, uint32_t *out)
{
	char shown[200];
	bool neg = false;
	uint64_t mag = 0;
	size_t i = 0;

	ae_return_val_if_fail(v != NULL && out != NULL, AE_ERR_INTERNAL);
	*out = 0;
	if (v->len > 0 && v->data[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == v->len)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s value \"%s\" is not an integer",
		                      attr, show_value(v, shown, sizeof(shown)));
	for (; i < v->len; i++) {
		uint8_t c = v->data[i];
		if (c < '0' || c > '9')
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "%s value \"%s\" is not an integer",
			                      attr, show_value(v, shown, sizeof(shown)));
		/* Saturate: anything this large is out of range anyway. */
		if (mag <= UINT32_MAX)
			mag = mag * 10 + (uint64_t)(c - '0');
	}
	/* AD stores 32-bit flags as signed integers, so both -2^31..-1 and
	 * 0..2^32-1 name a valid 32-bit pattern. */
	if ((neg && mag > 0x80000000u) || (!neg && mag > UINT32_MAX))
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s value \"%s\" is out of range for a 32-bit integer",
		                      attr, show_value(v, shown, sizeof(shown)));
	*out = neg ? (uint32_t)(0x100000000ull - mag) : (uint32_t)mag;
	return AE_OK;
}

ae_err
ae_parse_period(ae_ctx *ctx, const char *attr, const ae_value *v, int64_t *seconds_out)
{
	uint64_t raw = 0;
	int64_t ticks;

	ae_return_val_if_fail(v != NULL && seconds_out != NULL, AE_ERR_INTERNAL);
	*seconds_out = 0;
	if (v->len != 8)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s has %zu bytes; a FILETIME interval has 8", attr, v->len);
	for (int i = 7; i >= 0; i--)
		raw = (raw << 8) | v->data[i];
	ticks = (int64_t)raw;
	/* Intervals are stored negated, in 100-ns units. */
	if (ticks >= 0)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s is %" PRId64 "; a period is a negative count of 100-ns intervals",
		                      attr, ticks);
	/* Division first so INT64_MIN cannot overflow on negation. */
	*seconds_out = -(ticks / 10000000);
	if (*seconds_out == 0)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s is %" PRId64 " (less than one second)", attr, ticks);
	return AE_OK;
}

char *
ae_period_to_string(int64_t seconds, char *buf, size_t size)
{
	static const struct {
		int64_t len;
		const char *one, *many;
	} units[] = {
		/* Windows (certtmpl.msc, certutil) counts a year as 365 days
		 * and a month as 30. */
		{ 365 * 86400LL, "year", "years" },
		{ 30 * 86400LL, "month", "months" },
		{ 7 * 86400LL, "week", "weeks" },
		{ 86400LL, "day", "days" },
		{ 3600LL, "hour", "hours" },
		{ 60LL, "minute", "minutes" },
		{ 1LL, "second", "seconds" },
	};

	if (buf == NULL || size == 0)
		return buf;
	if (seconds <= 0) {
		snprintf(buf, size, "0 seconds");
		return buf;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (seconds % units[i].len == 0) {
			int64_t n = seconds / units[i].len;
			snprintf(buf, size, "%" PRId64 " %s", n, n == 1 ? units[i].one : units[i].many);
			break;
		}
	}
	return buf;
}

/* The one value of a single-valued attribute, NULL when absent.  Several
 * values are an error: we would not know which one the CA uses. */
static ae_err
single_value(ae_ctx *ctx, const ae_entry *entry, const char *name, const ae_value **out)
{
	const ae_attr *a = ae_entry_get(entry, name);

	*out = NULL;
	if (a == NULL || a->nvalues == 0)
		return AE_OK;
	if (a->nvalues > 1)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s has %zu values; it is single-valued", name, a->nvalues);
	if (a->values == NULL)
		return ae_set_message(ctx, AE_ERR_INTERNAL, "%s has no value array", name);
	*out = &a->values[0];
	return AE_OK;
}

/* A heap copy of a wire string; embedded NULs would silently truncate
 * what we compare and print, so they are refused. */
static ae_err
copy_string(ae_ctx *ctx, const char *name, const ae_value *v, char **out)
{
	char *s;
	size_t at = 0;

	*out = NULL;
	if (v->len > 0 && memchr(v->data, '\0', v->len) != NULL)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s contains a NUL byte (value of %zu bytes)", name, v->len);
	/* Names and OIDs go into records, request attributes and events:
	 * a newline could add fields of its own, a carriage return make a
	 * record unreadable. */
	if (ae_has_control((const char *)v->data, v->len, &at))
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s has a control character (0x%02x at byte %zu): refused, it could forge "
		                      "local records or request attributes",
		                      name, v->data[at], at);
	s = malloc(v->len + 1);
	if (s == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory copying %s", name);
	if (v->len > 0)
		memcpy(s, v->data, v->len);
	s[v->len] = '\0';
	*out = s;
	return AE_OK;
}

static ae_err
get_string(ae_ctx *ctx, const ae_entry *entry, const char *name, char **out)
{
	const ae_value *v;
	ae_err err;

	*out = NULL;
	err = single_value(ctx, entry, name, &v);
	if (err != AE_OK || v == NULL)
		return err;
	return copy_string(ctx, name, v, out);
}

static ae_err
get_uint32(ae_ctx *ctx, const ae_entry *entry, const char *name, uint32_t *out, bool *present)
{
	const ae_value *v;
	ae_err err;

	*out = 0;
	if (present != NULL)
		*present = false;
	err = single_value(ctx, entry, name, &v);
	if (err != AE_OK || v == NULL)
		return err;
	if (present != NULL)
		*present = true;
	return ae_parse_ldap_uint32(ctx, name, v, out);
}

static ae_err
get_period(ae_ctx *ctx, const ae_entry *entry, const char *name, int64_t *out, bool *present)
{
	const ae_value *v;
	ae_err err;

	*out = 0;
	*present = false;
	err = single_value(ctx, entry, name, &v);
	if (err != AE_OK || v == NULL)
		return err;
	err = ae_parse_period(ctx, name, v, out);
	if (err == AE_OK)
		*present = true;
	return err;
}

static ae_err
strv_add(ae_ctx *ctx, const char *name, char ***v, const char *s)
{
	if (!ae_strv_append(v, s))
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory copying %s", name);
	return AE_OK;
}

/* All values of a multi-valued string attribute; an empty vector (not
 * NULL) when present without values, NULL when absent. */
static ae_err
get_strv(ae_ctx *ctx, const ae_entry *entry, const char *name, char ***out)
{
	const ae_attr *a = ae_entry_get(entry, name);
	char **v = NULL;
	char *s = NULL;
	ae_err err = AE_OK;

	*out = NULL;
	if (a == NULL)
		return AE_OK;
	for (size_t i = 0; i < a->nvalues; i++) {
		err = copy_string(ctx, name, &a->values[i], &s);
		if (err != AE_OK)
			goto cleanup;
		err = strv_add(ctx, name, &v, s);
		if (err != AE_OK)
			goto cleanup;
		ae_free_ptr(s);
	}
	if (v == NULL) {
		v = calloc(1, sizeof(char *));
		if (v == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory copying %s", name);
			goto cleanup;
		}
	}
	*out = v;
	v = NULL;
cleanup:
	free(s);
	ae_strv_free(v);
	return err;
}

static ae_key_alg
key_alg_from_name(const char *name)
{
	static const struct {
		const char *name;
		ae_key_alg alg;
	} algs[] = {
		{ "RSA", AE_KEY_ALG_RSA },
		{ "ECDSA_P256", AE_KEY_ALG_ECDSA_P256 },
		{ "ECDSA_P384", AE_KEY_ALG_ECDSA_P384 },
		{ "ECDSA_P521", AE_KEY_ALG_ECDSA_P521 },
		{ "ECDH_P256", AE_KEY_ALG_ECDH_P256 },
		{ "ECDH_P384", AE_KEY_ALG_ECDH_P384 },
		{ "ECDH_P521", AE_KEY_ALG_ECDH_P521 },
		{ "DSA", AE_KEY_ALG_DSA },
	};

	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcasecmp(name, algs[i].name) == 0)
			return algs[i].alg;
	return AE_KEY_ALG_UNKNOWN;
}

/* Splits a comma-separated OID list (syntax 2 msPKI-RA-Application-Policies
 * value) into TPL->ra_application_policies. */
static ae_err
add_oid_list(ae_ctx *ctx, ae_template *tpl, const char *list)
{
	const char *p = list;
	ae_err err;

	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n > 0) {
			char *oid = strndup(p, n);
			if (oid == NULL)
				return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory copying %s",
				                      ATTR_RA_APP_POLICIES);
			err = strv_add(ctx, ATTR_RA_APP_POLICIES, &tpl->ra_application_policies, oid);
			free(oid);
			if (err != AE_OK)
				return err;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return AE_OK;
}

/* Syntax 2 (MS-CRTD 2.23.2): Name`Type`Value` triplets.  S is modified. */
static ae_err
parse_ra_syntax2(ae_ctx *ctx, ae_template *tpl, char *s)
{
	char *fields[3];
	char *p = s;
	ae_err err;

	while (*p != '\0') {
		const char *start = p;

		for (int i = 0; i < 3; i++) {
			char *tick = strchr(p, '`');
			fields[i] = p;
			if (tick != NULL) {
				*tick = '\0';
				p = tick + 1;
			} else if (i == 2) {
				/* The last value may lack its closing grave accent. */
				p += strlen(p);
			} else {
				return ae_set_message(ctx, AE_ERR_INVALID,
				                      "%s has an incomplete Name`Type`Value triplet starting with \"%.40s\"",
				                      ATTR_RA_APP_POLICIES, start);
			}
		}
		if (strcmp(fields[1], "DWORD") != 0 && strcmp(fields[1], "PZPWSTR") != 0)
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "%s property %.60s has type \"%.20s\"; expected DWORD or PZPWSTR",
			                      ATTR_RA_APP_POLICIES, fields[0], fields[1]);
		if (strcasecmp(fields[0], "msPKI-Asymmetric-Algorithm") == 0) {
			tpl->key_alg = key_alg_from_name(fields[2]);
		} else if (strcasecmp(fields[0], "msPKI-Hash-Algorithm") == 0) {
			free(tpl->hash_alg);
			tpl->hash_alg = strdup(fields[2]);
			if (tpl->hash_alg == NULL)
				return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory copying %s",
				                      ATTR_RA_APP_POLICIES);
		} else if (strcasecmp(fields[0], "msPKI-Symmetric-Algorithm") == 0) {
			free(tpl->symmetric_alg);
			tpl->symmetric_alg = strdup(fields[2]);
			if (tpl->symmetric_alg == NULL)
				return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory copying %s",
				                      ATTR_RA_APP_POLICIES);
		} else if (strcasecmp(fields[0], "msPKI-Symmetric-Key-Length") == 0) {
			/* A bad number only loses the preference, not the request. */
			char *end = NULL;
			unsigned long v = strtoul(fields[2], &end, 10);
			tpl->symmetric_key_length = end != fields[2] && *end == '\0' && v <= 4096 ? (uint32_t)v : 0;
		} else if (strcasecmp(fields[0], ATTR_RA_APP_POLICIES) == 0) {
			err = add_oid_list(ctx, tpl, fields[2]);
			if (err != AE_OK)
				return err;
		}
		/* Other properties (key security descriptor, key usage) do
		 * not change what we request. */
	}
	return AE_OK;
}

static ae_err
parse_ra_application_policies(ae_ctx *ctx, const ae_entry *entry, ae_template *tpl)
{
	const ae_attr *a = ae_entry_get(entry, ATTR_RA_APP_POLICIES);
	char *s = NULL;
	ae_err err = AE_OK;

	if (a == NULL)
		return AE_OK;
	for (size_t i = 0; i < a->nvalues; i++) {
		err = copy_string(ctx, ATTR_RA_APP_POLICIES, &a->values[i], &s);
		if (err != AE_OK)
			goto cleanup;
		/* The syntax is announced by the schema version and the legacy
		 * provider flag (MS-CRTD 2.23), but the value itself tells: only
		 * syntax 2 has grave accents, and OIDs never do. */
		if (strchr(s, '`') != NULL)
			err = parse_ra_syntax2(ctx, tpl, s);
		else
			err = strv_add(ctx, ATTR_RA_APP_POLICIES, &tpl->ra_application_policies, s);
		if (err != AE_OK)
			goto cleanup;
		ae_free_ptr(s);
	}
cleanup:
	free(s);
	return err;
}

static ae_err
parse_security_descriptor(ae_ctx *ctx, const ae_entry *entry, ae_template *tpl)
{
	const ae_attr *a = ae_entry_get(entry, "nTSecurityDescriptor");
	ae_ctx *sdctx = NULL;
	ae_err err;

	if (a == NULL || a->nvalues == 0) {
		tpl->sd_error = strdup("the DC returned no nTSecurityDescriptor");
		goto done;
	}
	/* A bad descriptor is not an error of the template: it only means
	 * the rights are unknown.  Keep its message apart from CTX. */
	sdctx = ae_ctx_new();
	if (sdctx == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	err = ae_secdesc_parse(sdctx, a->values[0].data, a->values[0].len, &tpl->sd);
	if (err == AE_ERR_NOMEM) {
		ae_ctx_free(sdctx);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory parsing nTSecurityDescriptor");
	}
	if (err != AE_OK)
		tpl->sd_error = strdup(ae_get_message(sdctx));
	ae_ctx_free(sdctx);
done:
	if (tpl->sd == NULL && tpl->sd_error == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	return AE_OK;
}

static ae_err
parse_key_usage(ae_ctx *ctx, const ae_entry *entry, ae_template *tpl)
{
	const ae_value *v;
	ae_err err;

	err = single_value(ctx, entry, "pKIKeyUsage", &v);
	if (err != AE_OK || v == NULL)
		return err;
	/* The contents of a KeyUsage BIT STRING: one or two bytes. */
	if (v->len < 1 || v->len > 2)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "pKIKeyUsage has %zu bytes; expected 1 or 2", v->len);
	memcpy(tpl->key_usage, v->data, v->len);
	tpl->key_usage_len = v->len;
	return AE_OK;
}

ae_err
ae_template_from_entry(ae_ctx *ctx, const ae_entry *entry, ae_template **out)
{
	ae_template *tpl = NULL;
	bool present;
	ae_err err;
	static const struct {
		const char *name;
		size_t off;
	} ints[] = {
		{ "revision", offsetof(ae_template, major) },
		{ "msPKI-Template-Minor-Revision", offsetof(ae_template, minor) },
		{ "flags", offsetof(ae_template, flags) },
		{ "msPKI-Enrollment-Flag", offsetof(ae_template, enrollment_flags) },
		{ "msPKI-Certificate-Name-Flag", offsetof(ae_template, name_flags) },
		{ "msPKI-Private-Key-Flag", offsetof(ae_template, private_key_flags) },
		{ "msPKI-RA-Signature", offsetof(ae_template, ra_signatures) },
		{ "msPKI-Minimal-Key-Size", offsetof(ae_template, min_key_size) },
		{ "pKIDefaultKeySpec", offsetof(ae_template, key_spec) },
		{ "pKIMaxIssuingDepth", offsetof(ae_template, max_issuing_depth) },
	};
	static const struct {
		const char *name;
		size_t off;
	} strvs[] = {
		{ "msPKI-RA-Policies", offsetof(ae_template, ra_policies) },
		{ "msPKI-Supersede-Templates", offsetof(ae_template, supersedes) },
		{ "pKIExtendedKeyUsage", offsetof(ae_template, ekus) },
		{ "msPKI-Certificate-Application-Policy", offsetof(ae_template, application_policies) },
		{ "msPKI-Certificate-Policy", offsetof(ae_template, certificate_policies) },
		{ "pKICriticalExtensions", offsetof(ae_template, critical_extensions) },
		{ "pKIDefaultCSPs", offsetof(ae_template, csps) },
	};

	ae_return_val_if_fail(out != NULL, AE_ERR_INTERNAL);
	*out = NULL;
	ae_return_val_if_fail(entry != NULL, AE_ERR_INTERNAL);

	tpl = calloc(1, sizeof(*tpl));
	if (tpl == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (entry->dn != NULL && (tpl->dn = strdup(entry->dn)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}

	err = get_string(ctx, entry, "cn", &tpl->name);
	if (err != AE_OK)
		goto cleanup;
	if (tpl->name == NULL || tpl->name[0] == '\0') {
		err = ae_set_message(ctx, AE_ERR_INVALID, "the template has no cn");
		goto cleanup;
	}
	err = get_string(ctx, entry, "displayName", &tpl->display_name);
	if (err != AE_OK)
		goto cleanup;
	if (tpl->display_name == NULL && (tpl->display_name = strdup(tpl->name)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	err = get_string(ctx, entry, "msPKI-Cert-Template-OID", &tpl->oid);
	if (err != AE_OK)
		goto cleanup;

	err = get_uint32(ctx, entry, ATTR_SCHEMA_VERSION, &tpl->schema_version, &present);
	if (err != AE_OK)
		goto cleanup;
	if (!present) {
		tpl->schema_version = 1; /* v1 templates may lack the attribute */
	} else if (tpl->schema_version < 1 || tpl->schema_version > 4) {
		err = ae_set_message(ctx, AE_ERR_INVALID,
		                     "unknown " ATTR_SCHEMA_VERSION " %" PRIu32 " (this client knows 1 to 4)",
		                     tpl->schema_version);
		goto cleanup;
	}

	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		uint32_t *field = (uint32_t *)(void *)((char *)tpl + ints[i].off);
		err = get_uint32(ctx, entry, ints[i].name, field, NULL);
		if (err != AE_OK)
			goto cleanup;
	}

	err = get_period(ctx, entry, "pKIExpirationPeriod", &tpl->validity_seconds,
	                 &tpl->has_validity);
	if (err != AE_OK)
		goto cleanup;
	err = get_period(ctx, entry, "pKIOverlapPeriod", &tpl->renewal_seconds,
	                 &tpl->has_renewal);
	if (err != AE_OK)
		goto cleanup;
	err = parse_key_usage(ctx, entry, tpl);
	if (err != AE_OK)
		goto cleanup;

	for (size_t i = 0; i < sizeof(strvs) / sizeof(strvs[0]); i++) {
		char ***field = (char ***)(void *)((char *)tpl + strvs[i].off);
		err = get_strv(ctx, entry, strvs[i].name, field);
		if (err != AE_OK)
			goto cleanup;
	}

	tpl->key_alg = AE_KEY_ALG_RSA;
	err = parse_ra_application_policies(ctx, entry, tpl);
	if (err != AE_OK)
		goto cleanup;

	err = parse_security_descriptor(ctx, entry, tpl);
	if (err != AE_OK)
		goto cleanup;

	*out = tpl;
	tpl = NULL;
	err = AE_OK;
cleanup:
	/* Say which template, so a message in a log of 30 templates can be
	 * traced back to its object. */
	if (err != AE_OK && err != AE_ERR_NOMEM && tpl != NULL)
		ae_prefix_message(ctx, err, "certificate template %s",
		                  tpl->name != NULL && tpl->name[0] != '\0' ? tpl->name
		                  : entry->dn != NULL ? entry->dn : "(no dn)");
	ae_template_free(tpl);
	return err;
}

void
ae_template_free(ae_template *tpl)
{
	if (tpl == NULL)
		return;
	free(tpl->dn);
	free(tpl->name);
	free(tpl->display_name);
	free(tpl->oid);
	ae_strv_free(tpl->ra_application_policies);
	ae_strv_free(tpl->ra_policies);
	ae_strv_free(tpl->supersedes);
	free(tpl->hash_alg);
	free(tpl->symmetric_alg);
	ae_strv_free(tpl->ekus);
	ae_strv_free(tpl->application_policies);
	ae_strv_free(tpl->certificate_policies);
	ae_strv_free(tpl->critical_extensions);
	ae_strv_free(tpl->csps);
	ae_secdesc_free(tpl->sd);
	free(tpl->sd_error);
	free(tpl);
}
