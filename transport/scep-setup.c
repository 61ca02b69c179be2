/*
 * scep-setup.c - the SCEP enrollment's trust, target and challenge
 * (scep-setup.h).
 */
#include "config.h"

#include "ces.h"
#include "http.h"
#include "scep-msg.h"
#include "scep-setup.h"
#include "scep.h"
#include "util.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define CHALLENGE_MAX 256

bool
ae_scep_record(const ae_record *rec)
{
	return rec->template_name != NULL && strcmp(rec->template_name, AE_SCEP_TEMPLATE) == 0 && rec->ca != NULL &&
	       (strncmp(rec->ca, "https://", 8) == 0 || strncmp(rec->ca, "http://", 7) == 0);
}

/* The configured anchor (scep_anchor, --scep-anchor, anchor of a
 * profile): PEM roots added to *TRUST, for SCEP servers outside the
 * domain. */
static ae_err
add_anchor(ae_ctx *ctx, const char *path, char **trust)
{
	size_t len = 0;
	char *pem = ae_read_file(path, 1024 * 1024, &len), *both;

	if (pem == NULL)
		return ae_set_message(ctx, AE_ERR_NOTFOUND,
		                      "cannot read the SCEP trust anchor %s (scep_anchor, --scep-anchor, anchor of an SCEP profile): %m",
		                      path);
	if (strstr(pem, "-----BEGIN CERTIFICATE-----") == NULL) {
		free(pem);
		return ae_set_message(ctx, AE_ERR_INVALID, "the SCEP trust anchor %s has no PEM certificate", path);
	}
	both = ae_strdup_printf("%s\n%s", *trust ? *trust : "", pem);
	free(pem);
	if (both == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	free(*trust);
	*trust = both;
	return AE_OK;
}

ae_err
ae_scep_target(ae_ctx *ctx, const char *url, const char *key_type, int key_size, const ae_pki *pki,
               const char *anchor, ae_template *tpl, ae_ca *ca)
{
	char *trust = NULL;
	ae_err err;

	memset(tpl, 0, sizeof(*tpl));
	memset(ca, 0, sizeof(*ca));
	if ((err = ae_ces_trust(ctx, pki, &trust)) != AE_OK ||
	    (anchor != NULL && (err = add_anchor(ctx, anchor, &trust)) != AE_OK)) {
		free(trust);
		return err;
	}
	tpl->name = (char *)AE_SCEP_TEMPLATE;
	tpl->key_alg = key_type == NULL || strcasecmp(key_type, "rsa") == 0 ? AE_KEY_ALG_RSA
	               : strcasecmp(key_type, "ecdsa-p384") == 0         ? AE_KEY_ALG_ECDSA_P384
	                                                                 : AE_KEY_ALG_ECDSA_P256;
	tpl->min_key_size = key_size > 0 ? (uint32_t)key_size : 2048;
	ca->name = (char *)url;
	ca->url = (char *)url;
	ca->transport = &ae_transport_scep;
	ca->valid = true;
	ca->endpoint_trust = trust;
	return AE_OK;
}

/* NDES's admin page next to its SCEP URL: .../certsrv/mscep/mscep.dll ->
 * .../certsrv/mscep_admin/ */
static char *
admin_url(const char *url)
{
	const char *at = strstr(url, "/certsrv/mscep");

	if (at == NULL)
		return NULL;
	return ae_strdup_printf("%.*s/certsrv/mscep_admin/", (int)(at - url), url);
}

ae_err
ae_scep_challenge_admin(ae_ctx *ctx, const char *url, const char *trust, char **out)
{
	char *admin = admin_url(url), shown[200];
	ae_http_response *resp = NULL;
	ae_err err;

	*out = NULL;
	if (admin == NULL)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s is not an NDES URL (.../certsrv/mscep/mscep.dll): give a challenge file instead",
		                      ae_url_shown(url, shown, sizeof(shown)));
	ae_url_shown(admin, shown, sizeof(shown));
	{
		ae_http_request rq = { .url = admin, .max_body = 256 * 1024, .timeout = 30,
			               .timeout_setting = "the 30 s of the NDES admin page", .what = "NDES's admin page",
			               .any_status = true, .https_only = true, .negotiate = true, .trust_pem = trust };
		if ((err = ae_http_fetch(ctx, &rq, &resp)) != AE_OK)
			goto cleanup;
	}
	if (resp->status == 401) {
		err = ae_set_message(ctx, AE_ERR_DENIED,
		                     "NDES's admin page %s refused the Kerberos authentication (HTTP 401): check the ticket (klist) and that the SPN HTTP/host of the NDES server exists",
		                     shown);
	} else if (resp->status == 404) {
		err = ae_set_message(ctx, AE_ERR_NOTFOUND, "no NDES admin page at %s (HTTP 404)", shown);
	} else if (resp->status == 200 || resp->status == 403) {
		err = ae_scep_admin_challenge(ctx, (const char *)resp->body, resp->body_len, out);
		if (err != AE_OK)
			ae_prefix_message(ctx, err, "NDES's admin page %s (HTTP %ld)", shown, resp->status);
	} else {
		err = ae_set_message(ctx, AE_ERR_NETWORK, "NDES's admin page %s answered HTTP %ld", shown, resp->status);
	}
cleanup:
	ae_http_response_free(resp);
	free(admin);
	return err;
}

ae_err
ae_scep_challenge_file(ae_ctx *ctx, const char *path, char **out, long *age)
{
	FILE *f = fopen(path, "re");
	char buf[CHALLENGE_MAX + 2];
	struct stat st;
	size_t n;

	*out = NULL;
	*age = -1;
	if (f == NULL)
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "cannot read the challenge file %s: %m", path);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	*age = fstat(fileno(f), &st) == 0 ? (long)(time(NULL) - st.st_mtime) : -1;
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0' || strlen(buf) > CHALLENGE_MAX)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "the challenge file %s has no challenge on its first line (at most %d characters)", path,
		                      CHALLENGE_MAX);
	*out = strdup(buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (*out == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	return AE_OK;
}
