/*
 * crl.c - revocation by the CRL distribution points of a certificate (see
 * crl.h): where the CRLs are (the CDP and Freshest CRL extensions), getting
 * them (ldap:// through the caller's LDAP session, http:// and https://
 * through net/http.c), and the checks that make a CRL worth believing.
 *
 * Everything that comes off the network or out of the certificate is
 * untrusted: the URLs, the LDAP values, the CRLs.  Only a CRL's signature
 * makes its content count, so plain HTTP and any DC are enough.
 */
#include "config.h"

#include "crl.h"
#include "http.h"
#include "pki.h"
#include "util.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define AE_CRL_MAX_BYTES (16 * 1024 * 1024)
#define AE_LDAP_URL_MAX 2048
#define AE_LDAP_DN_MAX 1024
/* A CRL whose thisUpdate is this far ahead of our clock is refused: more
 * than clock skew, it means one of the two clocks is wrong. */
#define AE_CRL_MAX_SKEW 300
#define AE_URL_SHOWN 160
/* RFC 5280 5.3.1 */
#define AE_REASON_HOLD 6
#define AE_REASON_REMOVE 8

/* --- ldap:// locations --- */

/* The attributes an AD CS location names, as AD spells them. */
static const char *const ldap_url_attrs[] = {
	"certificateRevocationList", "deltaRevocationList", "authorityRevocationList", "cACertificate", NULL,
};

/* Percent-decodes the LEN bytes at S into a new string; NULL and a
 * message for a bad escape or a control character (NUL included). */
static char *
url_decode(ae_ctx *ctx, const char *s, size_t len, const char *part, const char *shown)
{
	char *out = malloc(len + 1);
	size_t n = 0;

	if (out == NULL) {
		ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			int hi = i + 1 < len ? ae_hex_digit(s[i + 1]) : -1;
			int lo = i + 2 < len ? ae_hex_digit(s[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				free(out);
				ae_set_message(ctx, AE_ERR_INVALID, "the LDAP URL %s has a malformed %%-escape in its %s",
				               shown, part);
				return NULL;
			}
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f) {
			free(out);
			ae_set_message(ctx, AE_ERR_INVALID, "the LDAP URL %s has a control character in its %s", shown,
			               part);
			return NULL;
		}
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return out;
}

ae_err
ae_crl_ldap_url(ae_ctx *ctx, const char *url, char **dn_out, char **attr_out)
{
	char shown[AE_URL_SHOWN], *dn = NULL, *attrs = NULL, *scope = NULL, *filter = NULL, *exts = NULL;
	const char *p, *slash, *field[5] = { 0 };
	size_t flen[5] = { 0 }, nfields = 0, len;
	const char *attr = NULL;
	ae_err err = AE_OK;

	ae_return_val_if_fail(url != NULL && dn_out != NULL && attr_out != NULL, AE_ERR_INTERNAL);
	*dn_out = NULL;
	*attr_out = NULL;
	ae_url_shown(url, shown, sizeof(shown));
	len = strnlen(url, AE_LDAP_URL_MAX + 1);
	if (len > AE_LDAP_URL_MAX)
		return ae_set_message(ctx, AE_ERR_INVALID, "the LDAP URL %s is longer than %d characters", shown,
		                      AE_LDAP_URL_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];
		/* An IA5String; AD CS writes spaces as %20, but a literal one
		 * harms nobody. */
		if (c < 0x20 || c >= 0x7f)
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "the LDAP URL %s contains a control character or a non-ASCII byte (at %zu)",
			                      shown, i);
	}
	if (strncasecmp(url, "ldap://", 7) != 0)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s is not an ldap:// URL", shown);
	/* The host, if any, is not used: the configuration partition, where
	 * AD CS publishes, is on every DC, and ours is already bound. */
	slash = strchr(url + 7, '/');
	if (slash == NULL)
		return ae_set_message(ctx, AE_ERR_INVALID, "the LDAP URL %s names no object", shown);
	for (p = url + 7; p < slash; p++)
		if (strchr("?#", *p) != NULL)
			return ae_set_message(ctx, AE_ERR_INVALID, "the LDAP URL %s names no object", shown);
	for (p = slash + 1; nfields < 5;) {
		const char *q = strchr(p, '?');
		field[nfields] = p;
		flen[nfields] = q != NULL ? (size_t)(q - p) : strlen(p);
		nfields++;
		if (q == NULL)
			break;
		p = q + 1;
		if (nfields == 5)
			return ae_set_message(ctx, AE_ERR_INVALID, "the LDAP URL %s has more than 5 parts", shown);
	}
	if ((dn = url_decode(ctx, field[0], flen[0], "DN", shown)) == NULL ||
	    (attrs = url_decode(ctx, field[1] ? field[1] : "", flen[1], "attributes", shown)) == NULL ||
	    (scope = url_decode(ctx, field[2] ? field[2] : "", flen[2], "scope", shown)) == NULL ||
	    (filter = url_decode(ctx, field[3] ? field[3] : "", flen[3], "filter", shown)) == NULL ||
	    (exts = url_decode(ctx, field[4] ? field[4] : "", flen[4], "extensions", shown)) == NULL) {
		err = ae_get_code(ctx);
		goto cleanup;
	}
	if (dn[0] == '\0' || strchr(dn, '=') == NULL) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "the LDAP URL %s names no object", shown);
		goto cleanup;
	}
	if (strlen(dn) > AE_LDAP_DN_MAX) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "the LDAP URL %s names a DN longer than %d characters",
		                     shown, AE_LDAP_DN_MAX);
		goto cleanup;
	}
	/* One attribute, an option ";binary" allowed. */
	{
		char *semi = strchr(attrs, ';');
		if (semi != NULL && strcasecmp(semi, ";binary") == 0)
			*semi = '\0';
		for (size_t i = 0; ldap_url_attrs[i] != NULL; i++)
			if (strcasecmp(attrs, ldap_url_attrs[i]) == 0)
				attr = ldap_url_attrs[i];
	}
	if (attr == NULL) {
		err = ae_set_message(ctx, AE_ERR_INVALID,
		                     "the LDAP URL %s does not name one attribute among certificateRevocationList, deltaRevocationList, authorityRevocationList and cACertificate",
		                     shown);
		goto cleanup;
	}
	if (scope[0] != '\0' && strcasecmp(scope, "base") != 0) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "the LDAP URL %s asks for a %s search, not a base one",
		                     shown, scope);
		goto cleanup;
	}
	/* Extensions: "!" marks a critical one, which we would have to
	 * understand. */
	for (char *e = exts; *e != '\0';) {
		size_t n = strcspn(e, ",");
		if (e[0] == '!') {
			err = ae_set_message(ctx, AE_ERR_UNSUPPORTED, "the LDAP URL %s has a critical extension", shown);
			goto cleanup;
		}
		e += n;
		if (*e == ',')
			e++;
	}
	if ((*attr_out = strdup(attr)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	*dn_out = dn;
	dn = NULL;
cleanup:
	free(dn);
	free(attrs);
	free(scope);
	free(filter);
	free(exts);
	return err;
}

/* --- the CRLs --- */

/* "2024-05-01 12:00:00 UTC", or "an unreadable date". */
static const char *
format_time(const ASN1_TIME *t, char *buf, size_t size)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "an unreadable date");
	return buf;
}

ae_err
ae_crl_decode(ae_ctx *ctx, const uint8_t *data, size_t len, const char *shown, X509_CRL **out)
{
	const unsigned char *p = data;
	X509_CRL *crl = NULL;

	ae_return_val_if_fail(out != NULL && (data != NULL || len == 0), AE_ERR_INTERNAL);
	*out = NULL;
	if (len > 0 && len <= AE_CRL_MAX_BYTES)
		crl = d2i_X509_CRL(NULL, &p, (long)len);
	if (crl != NULL && p != data + len) {
		X509_CRL_free(crl);
		crl = NULL;
	}
	if (crl == NULL && len > 0 && len <= AE_CRL_MAX_BYTES) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);
		if (bio == NULL) {
			ERR_clear_error();
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
		crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	ERR_clear_error();
	if (crl == NULL)
		return ae_set_message(ctx, AE_ERR_INVALID, "the CRL at %s: %zu bytes that are not a CRL", shown, len);
	*out = crl;
	return AE_OK;
}

ae_err
ae_crl_from_values(ae_ctx *ctx, const ae_value *values, size_t count, const char *shown, X509_CRL **out)
{
	ae_return_val_if_fail(out != NULL && (values != NULL || count == 0), AE_ERR_INTERNAL);
	*out = NULL;
	for (size_t i = 0; i < count; i++) {
		ae_err err;

		/* AD CS leaves a single zero byte where there is no CRL yet. */
		if (values[i].len <= 1)
			continue;
		err = ae_crl_decode(ctx, values[i].data, values[i].len, shown, out);
		if (err == AE_OK || err == AE_ERR_NOMEM)
			return err;
		ae_clear_message(ctx);
	}
	return ae_set_message(ctx, AE_ERR_NOTFOUND, "the CRL at %s: the attribute holds no CRL (%zu value%s)", shown,
	                      count, count == 1 ? "" : "s");
}

/* An INTEGER extension of CRL (CRL number, delta CRL indicator), or NULL;
 * an unreadable or repeated one is an error. */
static ae_err
crl_int_ext(ae_ctx *ctx, X509_CRL *crl, int nid, const char *name, const char *shown, ASN1_INTEGER **out)
{
	int crit = -1;

	*out = X509_CRL_get_ext_d2i(crl, nid, &crit, NULL);
	ERR_clear_error();
	if (*out == NULL && crit != -1)
		return ae_set_message(ctx, AE_ERR_INVALID, "the CRL at %s has %s %s extension", shown,
		                      crit == -2 ? "more than one" : "an unreadable", name);
	return AE_OK;
}

ae_err
ae_crl_usable(ae_ctx *ctx, X509_CRL *crl, X509 *issuer, time_t now, const char *shown, bool delta)
{
	const ASN1_TIME *this_update = X509_CRL_get0_lastUpdate(crl);
	const ASN1_TIME *next_update = X509_CRL_get0_nextUpdate(crl);
	const char *kind = delta ? "delta CRL" : "CRL";
	EVP_PKEY *key = X509_get0_pubkey(issuer);
	ASN1_INTEGER *indicator = NULL;
	char when[64], *a = NULL, *b = NULL;
	ae_err err = AE_OK;

	ae_return_val_if_fail(crl != NULL && issuer != NULL, AE_ERR_INTERNAL);
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0) {
		a = ae_x509_name_string(X509_CRL_get_issuer(crl));
		b = ae_x509_name_string(X509_get_subject_name(issuer));
		if (a == NULL || b == NULL)
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		else
			err = ae_set_message(ctx, AE_ERR_CRYPTO,
			                     "the %s at %s is issued by \"%s\", not by the certificate's issuer \"%s\"",
			                     kind, shown, a, b);
		goto cleanup;
	}
	if (key == NULL || X509_CRL_verify(crl, key) != 1) {
		ERR_clear_error();
		err = ae_set_message(ctx, AE_ERR_CRYPTO, "the %s at %s is not signed by the key of the certificate's issuer",
		                     kind, shown);
		goto cleanup;
	}
	/* A delta CRL lists only what changed since its base: absence from it
	 * says nothing on its own. */
	if ((err = crl_int_ext(ctx, crl, NID_delta_crl, "delta CRL indicator", shown, &indicator)) != AE_OK)
		goto cleanup;
	if (!delta && indicator != NULL) {
		err = ae_set_message(ctx, AE_ERR_UNSUPPORTED, "the CRL at %s is a delta CRL, not a full one", shown);
		goto cleanup;
	}
	if (delta && indicator == NULL) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "the delta CRL at %s has no delta CRL indicator", shown);
		goto cleanup;
	}
	if (this_update == NULL || ASN1_TIME_cmp_time_t(this_update, now + AE_CRL_MAX_SKEW) != -1) {
		err = ae_set_message(ctx, AE_ERR_CRYPTO,
		                     "the %s at %s is not valid yet (thisUpdate %s): check this computer's clock", kind,
		                     shown, format_time(this_update, when, sizeof(when)));
		goto cleanup;
	}
	/* No nextUpdate breaks RFC 5280 but promises nothing false: accepted.
	 * Past it, the CRL says nothing about today. */
	if (next_update != NULL && ASN1_TIME_cmp_time_t(next_update, now) != 1) {
		err = ae_set_message(ctx, AE_ERR_CRYPTO,
		                     "the %s at %s is past its nextUpdate (%s): the CA has not published a newer one there",
		                     kind, shown, format_time(next_update, when, sizeof(when)));
		goto cleanup;
	}
cleanup:
	ASN1_INTEGER_free(indicator);
	free(a);
	free(b);
	return err;
}

ae_err
ae_crl_delta_fits(ae_ctx *ctx, X509_CRL *base, X509_CRL *delta, const char *delta_shown)
{
	ASN1_INTEGER *base_number = NULL, *delta_base = NULL, *delta_number = NULL;
	ae_err err;

	ae_return_val_if_fail(base != NULL && delta != NULL, AE_ERR_INTERNAL);
	if ((err = crl_int_ext(ctx, base, NID_crl_number, "CRL number", "(the base CRL)", &base_number)) != AE_OK ||
	    (err = crl_int_ext(ctx, delta, NID_delta_crl, "delta CRL indicator", delta_shown, &delta_base)) != AE_OK ||
	    (err = crl_int_ext(ctx, delta, NID_crl_number, "CRL number", delta_shown, &delta_number)) != AE_OK)
		goto cleanup;
	if (base_number == NULL || delta_base == NULL || delta_number == NULL) {
		err = ae_set_message(ctx, AE_ERR_INVALID,
		                     "the delta CRL at %s cannot be matched with its base: %s has no CRL number",
		                     delta_shown, base_number == NULL ? "the base CRL" : "the delta CRL");
		goto cleanup;
	}
	/* RFC 5280 5.2.4: the base must be at least as new as the one the
	 * delta was made against. */
	if (ASN1_INTEGER_cmp(delta_base, base_number) > 0) {
		err = ae_set_message(ctx, AE_ERR_INVALID,
		                     "the delta CRL at %s is for base CRL %ld, newer than the base CRL we have (%ld)",
		                     delta_shown, ASN1_INTEGER_get(delta_base), ASN1_INTEGER_get(base_number));
		goto cleanup;
	}
	/* A delta older than the base has nothing the base lacks, and an old
	 * removeFromCRL would undo a newer hold. */
	if (ASN1_INTEGER_cmp(delta_number, base_number) <= 0) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "the delta CRL at %s (number %ld) is older than its base CRL (%ld)",
		                     delta_shown, ASN1_INTEGER_get(delta_number), ASN1_INTEGER_get(base_number));
		goto cleanup;
	}
cleanup:
	ASN1_INTEGER_free(base_number);
	ASN1_INTEGER_free(delta_base);
	ASN1_INTEGER_free(delta_number);
	return err;
}

static const char *
reason_name(long code)
{
	/* RFC 5280 5.3.1 CRLReason; 7 is not used. */
	static const char *const names[] = {
		"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
		"cessationOfOperation", "certificateHold", NULL, "removeFromCRL", "privilegeWithdrawn",
		"aACompromise",
	};
	if (code < 0 || code >= (long)(sizeof(names) / sizeof(names[0])) || names[code] == NULL)
		return NULL;
	return names[code];
}

/* CERT's entry in CRL, or NULL; *CODE its CRLReason (-1: none). */
static X509_REVOKED *
crl_entry(X509_CRL *crl, X509 *cert, long *code)
{
	X509_REVOKED *rev = NULL;
	ASN1_ENUMERATED *e;
	int crit = -1;

	*code = -1;
	if (X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(cert)) == 0 || rev == NULL) {
		ERR_clear_error();
		return NULL;
	}
	e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
	if (e != NULL) {
		*code = ASN1_ENUMERATED_get(e);
		ASN1_ENUMERATED_free(e);
	}
	ERR_clear_error();
	return rev;
}

static ae_err
revoked_reason(ae_ctx *ctx, X509_REVOKED *rev, long code, const char *kind, const char *shown, char **out)
{
	const char *name = reason_name(code);
	char when[64];
	ae_buf b;

	ae_buf_init(&b);
	ae_buf_printf(&b, "revoked on %s", format_time(X509_REVOKED_get0_revocationDate(rev), when, sizeof(when)));
	if (name != NULL)
		ae_buf_printf(&b, " (reason: %s)", name);
	else if (code >= 0)
		ae_buf_printf(&b, " (reason: code %ld)", code);
	ae_buf_printf(&b, " according to %s%s", kind, shown);
	if ((*out = ae_buf_steal(&b)) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	return AE_OK;
}

ae_err
ae_crl_status(ae_ctx *ctx, X509 *cert, X509_CRL *base, const char *base_shown, X509_CRL *delta,
              const char *delta_shown, ae_revocation *out, char **reason_out)
{
	X509_REVOKED *rev;
	long code;

	ae_return_val_if_fail(cert != NULL && base != NULL && out != NULL && reason_out != NULL, AE_ERR_INTERNAL);
	*out = AE_REVOCATION_GOOD;
	*reason_out = NULL;
	/* The delta is newer: what it says wins.  removeFromCRL takes a
	 * certificate off hold (RFC 5280 5.3.1). */
	if (delta != NULL && (rev = crl_entry(delta, cert, &code)) != NULL) {
		if (code == AE_REASON_REMOVE)
			return AE_OK;
		*out = AE_REVOCATION_REVOKED;
		return revoked_reason(ctx, rev, code, "the delta CRL at ", delta_shown, reason_out);
	}
	/* removeFromCRL has no business in a full CRL; it revokes nothing. */
	if ((rev = crl_entry(base, cert, &code)) == NULL || code == AE_REASON_REMOVE)
		return AE_OK;
	*out = AE_REVOCATION_REVOKED;
	return revoked_reason(ctx, rev, code, "", base_shown, reason_out);
}

/* The URIs of the full names of DPS, in order, for points that cover all
 * reasons and whose CRL the certificate's issuer signs (others cannot say
 * that a certificate is good); ldap://, http:// and https:// only. */
static ae_err
dp_urls(ae_ctx *ctx, CRL_DIST_POINTS *dps, char ***urls)
{
	for (int i = 0; i < sk_DIST_POINT_num(dps); i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
		GENERAL_NAMES *names;

		if (dp->distpoint == NULL || dp->distpoint->type != 0 || dp->reasons != NULL || dp->CRLissuer != NULL)
			continue;
		names = dp->distpoint->name.fullname;
		for (int j = 0; j < sk_GENERAL_NAME_num(names); j++) {
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, j);
			const char *s;
			char *url;
			int n;

			if (gn->type != GEN_URI)
				continue;
			s = (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
			n = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
			/* file:// and others are skipped; an embedded NUL would
			 * cut the URL we check from the one the CA meant. */
			if (n < 7 || memchr(s, '\0', (size_t)n) != NULL ||
			    !(strncasecmp(s, "ldap://", 7) == 0 || strncasecmp(s, "http://", 7) == 0 ||
			      (n >= 8 && strncasecmp(s, "https://", 8) == 0)))
				continue;
			url = strndup(s, (size_t)n);
			if (url == NULL || !ae_strv_append(urls, url)) {
				free(url);
				return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			}
			free(url);
		}
	}
	return AE_OK;
}

/* The CDP (NID_crl_distribution_points) or Freshest CRL locations of
 * CERT or CRL (one of them); *URLS NULL when there is none. */
static ae_err
ext_urls(ae_ctx *ctx, X509 *cert, X509_CRL *crl, int nid, char ***urls)
{
	CRL_DIST_POINTS *dps;
	int crit = -1;
	ae_err err;

	*urls = NULL;
	dps = cert != NULL ? X509_get_ext_d2i(cert, nid, &crit, NULL) : X509_CRL_get_ext_d2i(crl, nid, &crit, NULL);
	ERR_clear_error();
	if (dps == NULL) {
		if (crit == -1)
			return AE_OK;
		return ae_set_message(ctx, AE_ERR_INVALID, "the %s has %s %s extension", cert ? "certificate" : "CRL",
		                      crit == -2 ? "more than one" : "an unreadable",
		                      nid == NID_freshest_crl ? "Freshest CRL" : "CRL distribution points");
	}
	err = dp_urls(ctx, dps, urls);
	CRL_DIST_POINTS_free(dps);
	if (err != AE_OK) {
		ae_strv_free(*urls);
		*urls = NULL;
	}
	return err;
}

ae_err
ae_crl_delta_locations(ae_ctx *ctx, X509_CRL *crl, X509 *cert, char ***urls)
{
	ae_err err = AE_OK;

	ae_return_val_if_fail(urls != NULL, AE_ERR_INTERNAL);
	*urls = NULL;
	if (crl != NULL)
		err = ext_urls(ctx, NULL, crl, NID_freshest_crl, urls);
	if (err == AE_OK && *urls == NULL && cert != NULL)
		err = ext_urls(ctx, cert, NULL, NID_freshest_crl, urls);
	return err;
}

/* --- getting them --- */

static ae_err
fetch_ldap(ae_ctx *ctx, const ae_crl_fetch *fetch, const char *url, const char *shown, bool delta,
           X509_CRL **out)
{
	ae_value *values = NULL;
	size_t count = 0;
	char *dn = NULL, *attr = NULL;
	ae_err err;

	if (fetch == NULL || fetch->ldap_read == NULL)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED, "the CRL at %s: no LDAP session to read it", shown);
	if ((err = ae_crl_ldap_url(ctx, url, &dn, &attr)) != AE_OK)
		return err;
	if (strcmp(attr, delta ? "deltaRevocationList" : "certificateRevocationList") != 0 &&
	    (delta || strcmp(attr, "authorityRevocationList") != 0)) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "the %s at %s: %s holds no %s", delta ? "delta CRL" : "CRL",
		                     shown, attr, delta ? "delta CRL" : "CRL");
		goto cleanup;
	}
	ae_log(ctx, AE_LOG_DEBUG, "reading %s of %s", attr, dn);
	err = fetch->ldap_read(ctx, fetch->arg, dn, attr, &values, &count);
	if (err != AE_OK) {
		err = ae_prefix_message(ctx, err, "the %s at %s", delta ? "delta CRL" : "CRL", shown);
		goto cleanup;
	}
	err = ae_crl_from_values(ctx, values, count, shown, out);
cleanup:
	ae_values_free(values, count);
	free(dn);
	free(attr);
	return err;
}

ae_err
ae_crl_download(ae_ctx *ctx, const ae_conf *conf, const char *url, const char *accept, size_t max_body,
                const char *what, ae_http_response **out)
{
	char setting[512];
	ae_http_request req = {
		.url = url,
		.accept = accept,
		.max_body = max_body,
		.timeout = conf != NULL && conf->crl_timeout > 0 ? conf->crl_timeout : 15,
		.timeout_setting = ae_conf_setting(conf, "global", "crl_timeout", setting, sizeof(setting)),
		.what = what,
	};

	return ae_http_fetch(ctx, &req, out);
}

static ae_err
fetch_http(ae_ctx *ctx, const ae_conf *conf, const char *url, const char *shown, bool delta, X509_CRL **out)
{
	ae_http_response *resp = NULL;
	ae_err err;

	err = ae_crl_download(ctx, conf, url, "application/pkix-crl, */*", AE_CRL_MAX_BYTES,
	                      delta ? "the delta CRL" : "the CRL", &resp);
	if (err != AE_OK)
		return err;
	err = ae_crl_decode(ctx, resp->body, resp->body_len, shown, out);
	ae_http_response_free(resp);
	return err;
}

/* The first usable CRL (a full one, or with DELTA a delta fitting BASE)
 * among URLS; *SHOWN_OUT its location for messages.  When none is, the
 * message holds every location's problem. */
static ae_err
first_usable(ae_ctx *ctx, const ae_conf *conf, const ae_crl_fetch *fetch, char **urls, X509 *issuer, time_t now,
             X509_CRL *base, X509_CRL **out, char *shown_out, size_t shown_size)
{
	bool delta = base != NULL;
	ae_err err = AE_ERR_NOTFOUND, worst = AE_ERR_NOTFOUND;
	ae_buf why;

	*out = NULL;
	ae_buf_init(&why);
	for (size_t i = 0; urls != NULL && urls[i] != NULL; i++) {
		X509_CRL *crl = NULL;

		ae_url_shown(urls[i], shown_out, shown_size);
		if (strncasecmp(urls[i], "ldap:", 5) == 0)
			err = fetch_ldap(ctx, fetch, urls[i], shown_out, delta, &crl);
		else
			err = fetch_http(ctx, conf, urls[i], shown_out, delta, &crl);
		if (err == AE_OK)
			err = ae_crl_usable(ctx, crl, issuer, now, shown_out, delta);
		if (err == AE_OK && delta)
			err = ae_crl_delta_fits(ctx, base, crl, shown_out);
		if (err == AE_OK) {
			*out = crl;
			break;
		}
		X509_CRL_free(crl);
		if (err == AE_ERR_NOMEM)
			break;
		ae_log(ctx, AE_LOG_DEBUG, "%s", ae_get_message(ctx));
		ae_buf_printf(&why, "%s%s", why.len ? "; " : "", ae_get_message(ctx));
		worst = err;
	}
	if (err != AE_OK && err != AE_ERR_NOMEM) {
		if (why.failed)
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		else if (why.len == 0)
			err = ae_set_message(ctx, AE_ERR_NOTFOUND,
			                     "the certificate names no ldap://, http:// or https:// CRL distribution point");
		else
			err = ae_set_message(ctx, worst, "%s", why.data);
	}
	ae_buf_clear(&why);
	return err;
}

/* The whole check; any error but AE_ERR_NOMEM becomes UNKNOWN above. */
static ae_err
check(ae_ctx *ctx, const ae_conf *conf, const ae_crl_fetch *fetch, X509 *cert, X509 *issuer, time_t now,
      ae_revocation *out, char **reason_out)
{
	char base_shown[AE_URL_SHOWN], delta_shown[AE_URL_SHOWN], **urls = NULL, **delta_urls = NULL;
	X509_CRL *base = NULL, *delta = NULL;
	ae_err err;

	if (X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(issuer)) != 0)
		return ae_set_message(ctx, AE_ERR_INTERNAL, "the certificate is not issued by the CA given to check it");
	if ((err = ext_urls(ctx, cert, NULL, NID_crl_distribution_points, &urls)) != AE_OK)
		goto cleanup;
	err = first_usable(ctx, conf, fetch, urls, issuer, now, NULL, &base, base_shown, sizeof(base_shown));
	if (err != AE_OK)
		goto cleanup;
	if ((err = ae_crl_delta_locations(ctx, base, cert, &delta_urls)) != AE_OK)
		goto cleanup;
	if (delta_urls != NULL) {
		err = first_usable(ctx, conf, fetch, delta_urls, issuer, now, base, &delta, delta_shown,
		                   sizeof(delta_shown));
		if (err == AE_ERR_NOMEM)
			goto cleanup;
		if (err != AE_OK) {
			long code = -1;
			/* Without the delta, only a revocation for good stands. */
			if (crl_entry(base, cert, &code) != NULL && code != AE_REASON_HOLD && code != AE_REASON_REMOVE) {
				ae_clear_message(ctx);
				err = ae_crl_status(ctx, cert, base, base_shown, NULL, NULL, out, reason_out);
			} else {
				ae_prefix_message(ctx, err, "the CRL at %s names a delta CRL that cannot be used", base_shown);
			}
			goto cleanup;
		}
	}
	err = ae_crl_status(ctx, cert, base, base_shown, delta, delta_shown, out, reason_out);
cleanup:
	X509_CRL_free(base);
	X509_CRL_free(delta);
	ae_strv_free(urls);
	ae_strv_free(delta_urls);
	return err;
}

ae_err
ae_crl_check(ae_ctx *ctx, const ae_conf *conf, const ae_crl_fetch *fetch, X509 *cert, X509 *issuer, time_t now,
             ae_revocation *out, char **reason_out)
{
	ae_revocation result = AE_REVOCATION_UNKNOWN;
	char *reason = NULL;
	ae_err err;

	ae_return_val_if_fail(cert != NULL && issuer != NULL && out != NULL, AE_ERR_INTERNAL);
	*out = AE_REVOCATION_UNKNOWN;
	if (reason_out != NULL)
		*reason_out = NULL;
	err = check(ctx, conf, fetch, cert, issuer, now, &result, &reason);
	if (err == AE_ERR_NOMEM)
		return err;
	if (err != AE_OK) {
		/* The whitepaper: revocation errors are ignored when the status
		 * is offline; the caller decides, with the reason in hand. */
		result = AE_REVOCATION_UNKNOWN;
		free(reason);
		reason = strdup(ae_get_message(ctx));
		if (reason == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		ae_log(ctx, AE_LOG_DEBUG, "revocation status unknown: %s", reason);
		ae_clear_message(ctx);
	}
	*out = result;
	if (reason_out != NULL)
		*reason_out = reason;
	else
		free(reason);
	return AE_OK;
}
