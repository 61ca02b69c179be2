/*
 * ces.c - the CES transport (ces.h): MS-WSTEP RequestSecurityToken, the
 * Issue request (MS-WSTEP 3.1.4.2.1.1, a PKCS#10, CMS or CMC request as
 * a BinarySecurityToken, the request attributes as AdditionalContext
 * ContextItems) and QueryTokenStatus (3.1.4.2.1.2, by RequestID).
 */
#include "config.h"

#include "ces.h"
#include "http.h"
#include "soap.h"
#include "util.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACT_RST "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep"
#define RT_ISSUE AE_NS_WST "/Issue"
#define RT_QUERY AE_NS_WSTEP "/QueryTokenStatus"
/* MS-WSTEP 3.1.4.2.2, 4.1.2.1: the key exchange token request */
#define ACT_KET AE_NS_WST "/RST/KET"
#define RT_KET AE_NS_WST "/KET"
#define VT_X509 "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
#define NS_AUTH "http://schemas.xmlsoap.org/ws/2006/12/authorization"
#define CERTSRV_E_PROPERTY_EMPTY 0x80094004u
#define CERTSRV_E_ADMIN_DENIED_REQUEST 0x80094014u
#define E_FAIL 0x80004005u
#define AE_CES_MAX_ANSWER (1024 * 1024)

typedef struct {
	char *url;
	char **fallback_urls; /* tried in order when URL does not answer */
	char *trust_pem;
	char *username, *password; /* user name and password authentication */
	char *client_cert, *client_key; /* else a TLS client certificate; else Kerberos */
	ae_cep_token_cred token;        /* with CLIENT_CERT: its key on a token */
	X509 *as_x509;                  /* renewal-only: the certificate being renewed, for one call */
	EVP_PKEY *as_pkey;              /* ... and its key (borrowed) */
	bool renewal_only;
	bool channel_binding;           /* Kerberos with the TLS channel binding */
	int timeout;
	char setting[256];
	unsigned trips;
} ces_link;

/* The CES URI that last did not answer, in this process: later links to
 * the same CA try it last, so that one hung server costs one timeout per
 * run, not one per request (the links of a run are reopened after a
 * refusal).  One pulse per process, one thread. */
static char *ces_unanswered;

static char *
b64_encode(const uint8_t *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

static ae_cep_password_fn password_prompt;

void
ae_cep_set_password_prompt(ae_cep_password_fn prompt)
{
	password_prompt = prompt;
}

ae_err
ae_cep_password(ae_ctx *ctx, const ae_conf *conf, const char *what, char **out)
{
	char setting[256];

	*out = NULL;
	if (conf->cep_username == NULL)
		return ae_set_message(ctx, AE_ERR_CONFIG,
		                      "%s is reached with a user name and password: set cep_username, and cep_password_file or cep_password = pinentry",
		                      what);
	if (conf->cep_password_file != NULL)
		return ae_read_password_file(ctx, conf->cep_password_file,
		                             ae_conf_setting(conf, "global", "cep_password_file", setting, sizeof(setting)),
		                             out);
	ae_conf_setting(conf, "global", "cep_password", setting, sizeof(setting));
	if (conf->cep_password == NULL || strcmp(conf->cep_password, "pinentry") != 0)
		return ae_set_message(ctx, AE_ERR_CONFIG, "%s needs the password of %s: set cep_password_file, or cep_password = pinentry (%s)",
		                      what, conf->cep_username, setting);
	if (password_prompt == NULL)
		return ae_set_message(ctx, AE_ERR_NEEDPIN,
		                      "%s needs the password of %s, which is asked through pinentry (%s) in interactive runs only (autoenroll enroll, policy), never in the background pulse: set cep_password_file for pulses",
		                      what, conf->cep_username, setting);
	return password_prompt(ctx, conf, conf->cep_username, out);
}

static ae_cep_key_open_fn key_open;
static ae_cep_key_close_fn key_close;

void
ae_cep_set_key_opener(ae_cep_key_open_fn open, ae_cep_key_close_fn close)
{
	key_open = open;
	key_close = close;
}

bool
ae_cep_key_on_token(const ae_conf *conf)
{
	return conf->cep_client_key != NULL && strncmp(conf->cep_client_key, "pkcs11:", 7) == 0;
}

bool
ae_cep_client_cert_configured(const ae_conf *conf)
{
	return conf->cep_client_cert != NULL || ae_cep_key_on_token(conf);
}

/* The id= attribute of a pkcs11: URI (RFC 7512 2.3) as written, its
 * length in *LEN; NULL without one. */
static const char *
uri_id(const char *uri, size_t *len)
{
	const char *p = uri + 7;

	for (;;) {
		if (strncmp(p, "id=", 3) == 0) {
			*len = strcspn(p + 3, ";?");
			return p + 3;
		}
		p += strcspn(p, ";?");
		if (*p != ';')
			return NULL;
		p++;
	}
}

/* The certificate from cep_client_cert's PEM file into OUT->x509. */
static ae_err
read_cert_file(ae_ctx *ctx, const ae_conf *conf, const char *setting, ae_cep_token_cred *out)
{
	FILE *f;

	if ((f = fopen(conf->cep_client_cert, "re")) == NULL)
		return ae_set_message(ctx, AE_ERR_CONFIG, "cannot read the client certificate %s (%s): %s",
		                      conf->cep_client_cert, setting, strerror(errno));
	out->x509 = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (out->x509 == NULL)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s (%s) holds no PEM certificate", conf->cep_client_cert,
		                      setting);
	return AE_OK;
}

ae_err
ae_cep_token_cred_open(ae_ctx *ctx, const ae_conf *conf, ae_cep_token_cred *out)
{
	char setting[256], key_setting[256], *subject = NULL;
	const char *cid, *kid;
	size_t clen = 0, klen = 0;
	bool on_token = conf->cep_client_cert == NULL || strncmp(conf->cep_client_cert, "pkcs11:", 7) == 0;
	ae_err err;

	memset(out, 0, sizeof(*out));
	ae_conf_setting(conf, "global", "cep_client_cert", setting, sizeof(setting));
	ae_conf_setting(conf, "global", "cep_client_key", key_setting, sizeof(key_setting));
	if (key_open == NULL)
		return ae_set_message(ctx, AE_ERR_CONFIG, "%s: this program has no PKCS#11 key store", key_setting);
	/* a certificate URI names the certificate object with the key's id:
	 * one CKA_ID for both halves, as on a smart card */
	if (on_token && conf->cep_client_cert != NULL && (cid = uri_id(conf->cep_client_cert, &clen)) != NULL &&
	    (kid = uri_id(conf->cep_client_key, &klen)) != NULL && (klen != clen || memcmp(cid, kid, clen) != 0))
		return ae_set_message(ctx, AE_ERR_CONFIG,
		                      "%s names another id= than %s: the certificate used is the one with the key's id on its token",
		                      setting, key_setting);
	if (!on_token && (err = read_cert_file(ctx, conf, setting, out)) != AE_OK)
		goto cleanup;
	if ((err = key_open(ctx, conf, conf->cep_client_key, key_setting, on_token ? &out->x509 : NULL, &out->pkey,
	                    &out->handle)) != AE_OK)
		goto cleanup;
	if (X509_check_private_key(out->x509, out->pkey) != 1) {
		err = ae_set_message(ctx, AE_ERR_CONFIG, "the key of %s is not the key of the certificate %s", key_setting,
		                     on_token ? "on its token" : conf->cep_client_cert);
		goto cleanup;
	}
	if (on_token && (subject = ae_x509_name_string(X509_get_subject_name(out->x509))) != NULL)
		out->shown = ae_strdup_printf("%s (on the token of cep_client_key)", subject);
	else if (!on_token)
		out->shown = strdup(conf->cep_client_cert);
	if (out->shown == NULL)
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
cleanup:
	free(subject);
	if (err != AE_OK)
		ae_cep_token_cred_clear(out);
	return err;
}

void
ae_cep_token_cred_clear(ae_cep_token_cred *cred)
{
	X509_free(cred->x509);
	if (cred->handle != NULL && key_close != NULL)
		key_close(cred->handle);
	free(cred->shown);
	memset(cred, 0, sizeof(*cred));
}

static ae_err
bad(ae_ctx *ctx, const char *what, const char *detail)
{
	return ae_set_message(ctx, AE_ERR_INVALID, "%s answered a RequestSecurityToken with %s (MS-WSTEP 3.1.4.1)", what,
	                      detail);
}

/* A SOAP fault: refused with the CA's HRESULT when it carries
 * CertificateEnrollmentWSDetail (MS-WSTEP 3.1.4.1.3.7), else the server's
 * own failure. */
static ae_err
parse_fault(ae_ctx *ctx, const char *what, const xmlNode *fault, bool retrieval, ae_ca_answer *out)
{
	xmlNode *detail = ae_soap_find(fault, AE_NS_WSTEP, "CertificateEnrollmentWSDetail");
	bool nomem = false;
	char *reason = ae_soap_text(ae_soap_find(fault, AE_NS_SOAP, "Text"), &nomem);
	char *code = NULL, *rid = NULL, *invalid = NULL, *end;
	long long v;
	ae_err err = AE_OK;

	if (nomem)
		goto nomem;
	if (detail == NULL) {
		err = ae_set_message(ctx, AE_ERR_NETWORK, "%s failed: %s", what,
		                     reason ? reason : "a SOAP fault without a reason");
		goto cleanup;
	}
	code = ae_soap_text(ae_soap_child(detail, AE_NS_WSTEP, "ErrorCode"), &nomem);
	rid = ae_soap_text(ae_soap_child(detail, AE_NS_WSTEP, "RequestID"), &nomem);
	invalid = ae_soap_text(ae_soap_child(detail, AE_NS_WSTEP, "InvalidRequest"), &nomem);
	if (nomem)
		goto nomem;
	out->outcome = AE_CA_REFUSED;
	out->hresult = E_FAIL;
	if (code != NULL) {
		v = strtoll(code, &end, 10);
		if (*end != '\0' || v < INT32_MIN || v > UINT32_MAX) {
			err = bad(ctx, what, "an ErrorCode that is not an xs:int");
			goto cleanup;
		}
		out->hresult = (uint32_t)v;
	}
	if (rid != NULL) {
		v = strtoll(rid, &end, 10);
		if (*end == '\0' && v >= 0 && v <= UINT32_MAX)
			out->request_id = (uint32_t)v;
	}
	out->final = retrieval && ((invalid != NULL && strcmp(invalid, "true") == 0) ||
	                           out->hresult == CERTSRV_E_ADMIN_DENIED_REQUEST ||
	                           out->hresult == CERTSRV_E_PROPERTY_EMPTY);
	out->message = reason;
	reason = NULL;
	goto cleanup;
nomem:
	err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
cleanup:
	free(reason);
	free(code);
	free(rid);
	free(invalid);
	return err;
}

static ae_err
parse_rstr(ae_ctx *ctx, const char *what, const xmlNode *coll, ae_ca_answer *out)
{
	xmlNode *rstr = ae_soap_child(coll, AE_NS_WST, "RequestSecurityTokenResponse");
	xmlNode *rst, *bst, *chain;
	char *rid = NULL, *txt = NULL, *end;
	bool nomem = false;
	long long v;
	ae_err err = AE_OK;

	if (rstr == NULL)
		return bad(ctx, what, "a collection without a RequestSecurityTokenResponse");
	rid = ae_soap_text(ae_soap_child(rstr, AE_NS_WSTEP, "RequestID"), &nomem);
	out->message = ae_soap_text(ae_soap_child(rstr, AE_NS_WSTEP, "DispositionMessage"), &nomem);
	if (nomem)
		goto nomem;
	if (rid == NULL || (v = strtoll(rid, &end, 10), *end != '\0') || v < 0 || v > UINT32_MAX) {
		err = bad(ctx, what, "no RequestID, or one that is not a number");
		goto cleanup;
	}
	out->request_id = (uint32_t)v;
	rst = ae_soap_child(rstr, AE_NS_WST, "RequestedSecurityToken");
	bst = ae_soap_child(rst, AE_NS_WSSE, "BinarySecurityToken");
	if (bst == NULL) {
		/* MS-WSTEP 3.1.4.1.3.2: a pending request refers to where it
		 * can be retrieved */
		if (ae_soap_child(rst, AE_NS_WSSE, "SecurityTokenReference") == NULL) {
			err = bad(ctx, what, "neither a certificate nor a token reference (pending)");
			goto cleanup;
		}
		out->outcome = AE_CA_PENDING;
		goto cleanup;
	}
	txt = ae_soap_text(bst, &nomem);
	if (nomem)
		goto nomem;
	if (txt == NULL || !ae_b64_decode_folded(txt, &out->cert, &out->cert_len, &nomem)) {
		if (nomem)
			goto nomem;
		err = bad(ctx, what, "an issued certificate that is not base64");
		goto cleanup;
	}
	free(txt);
	txt = NULL;
	out->outcome = AE_CA_ISSUED;
	/* the CMC full PKI response / PKCS#7 with the chain, beside it */
	chain = ae_soap_child(rstr, AE_NS_WSSE, "BinarySecurityToken");
	if (chain != NULL && (txt = ae_soap_text(chain, &nomem)) != NULL &&
	    !ae_b64_decode_folded(txt, &out->chain, &out->chain_len, &nomem)) {
		if (nomem)
			goto nomem;
		err = bad(ctx, what, "a PKCS#7 response that is not base64");
	}
	goto cleanup;
nomem:
	err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
cleanup:
	free(rid);
	free(txt);
	return err;
}

ae_err
ae_wstep_parse(ae_ctx *ctx, const char *what, const char *xml, size_t len, bool retrieval, ae_ca_answer *out)
{
	xmlDoc *doc = NULL;
	xmlNode *body = NULL;
	ae_err err;

	memset(out, 0, sizeof(*out));
	if ((err = ae_soap_parse(ctx, what, xml, len, &doc, &body)) != AE_OK)
		return err;
	if (ae_soap_find(body, AE_NS_SOAP, "Fault") == body)
		err = parse_fault(ctx, what, body, retrieval, out);
	else if (ae_soap_find(body, AE_NS_WST, "RequestSecurityTokenResponseCollection") == body)
		err = parse_rstr(ctx, what, body, out);
	else
		err = bad(ctx, what, "an element that is neither a response collection nor a fault");
	xmlFreeDoc(doc);
	if (err != AE_OK)
		ae_ca_answer_clear(out);
	return err;
}

ae_err
ae_wstep_parse_ket(ae_ctx *ctx, const char *what, const char *xml, size_t len, X509 **out)
{
	xmlDoc *doc = NULL;
	xmlNode *body = NULL, *n;
	X509 *x = NULL;
	ae_ca_answer fault = { 0 };
	char *txt = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	bool nomem = false;
	const unsigned char *p;
	ae_err err;

	*out = NULL;
	if ((err = ae_soap_parse(ctx, what, xml, len, &doc, &body)) != AE_OK)
		return err;
	if (ae_soap_find(body, AE_NS_SOAP, "Fault") == body) {
		if ((err = parse_fault(ctx, what, body, false, &fault)) == AE_OK)
			err = ae_set_message(ctx, AE_ERR_DENIED,
			                     "%s did not give the CA exchange certificate: %s (0x%08x)", what,
			                     fault.message ? fault.message : "a fault without a reason", fault.hresult);
		goto cleanup;
	}
	if (ae_soap_find(body, AE_NS_WST, "RequestSecurityTokenResponseCollection") != body) {
		err = bad(ctx, what, "an element that is neither a response collection nor a fault");
		goto cleanup;
	}
	n = ae_soap_child(body, AE_NS_WST, "RequestSecurityTokenResponse");
	n = ae_soap_child(n, AE_NS_WST, "RequestedSecurityToken");
	n = ae_soap_child(n, AE_NS_WST, "KeyExchangeToken");
	n = ae_soap_child(n, AE_NS_WSSE, "BinarySecurityToken");
	if (n == NULL) {
		err = bad(ctx, what, "no KeyExchangeToken certificate (MS-WSTEP 3.1.4.2.2)");
		goto cleanup;
	}
	txt = ae_soap_text(n, &nomem);
	if (txt == NULL || !ae_b64_decode_folded(txt, &der, &der_len, &nomem) || der_len > LONG_MAX) {
		err = nomem ? ae_set_message(ctx, AE_ERR_NOMEM, "out of memory")
		            : bad(ctx, what, "a key exchange token that is not base64");
		goto cleanup;
	}
	p = der;
	if ((x = d2i_X509(NULL, &p, (long)der_len)) == NULL || p != der + der_len) {
		ERR_clear_error();
		err = bad(ctx, what, "a key exchange token that is not one DER certificate");
		goto cleanup;
	}
	*out = x;
	x = NULL;
cleanup:
	X509_free(x);
	ae_ca_answer_clear(&fault);
	free(txt);
	free(der);
	xmlFreeDoc(doc);
	return err;
}

ae_err
ae_ces_trust(ae_ctx *ctx, const ae_pki *pki, char **out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;

	*out = NULL;
	if (bio == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	for (int i = 0; pki->roots != NULL && i < sk_X509_num(pki->roots); i++)
		if (PEM_write_bio_X509(bio, sk_X509_value(pki->roots, i)) != 1) {
			BIO_free(bio);
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
	n = BIO_get_mem_data(bio, &data);
	*out = strndup(n > 0 ? data : "", n > 0 ? (size_t)n : 0);
	BIO_free(bio);
	return *out ? AE_OK : ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
}

/* ---- the transport ---- */

static void ces_close(void *state);

static ae_err
ces_open(ae_ctx *ctx, const ae_conf *conf, const ae_ca *ca, void **state_out)
{
	ces_link *l;

	*state_out = NULL;
	if (ca->url == NULL)
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "CA %s has no CES URL", ca->name);
	if ((l = calloc(1, sizeof(*l))) == NULL || (l->url = strdup(ca->url)) == NULL ||
	    (ca->endpoint_trust != NULL && (l->trust_pem = strdup(ca->endpoint_trust)) == NULL)) {
		if (l != NULL)
			free(l->url);
		free(l);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	if (ca->fallback_urls != NULL && (l->fallback_urls = ae_strv_dup(ca->fallback_urls)) == NULL) {
		free(l->url);
		free(l->trust_pem);
		free(l);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	if (ces_unanswered != NULL && l->fallback_urls != NULL && l->fallback_urls[0] != NULL &&
	    strcmp(l->url, ces_unanswered) == 0) {
		/* rotate: the URI that did not answer goes last */
		size_t n = ae_strv_len(l->fallback_urls);
		char *first = l->url;
		l->url = l->fallback_urls[0];
		memmove(l->fallback_urls, l->fallback_urls + 1, (n - 1) * sizeof(char *));
		l->fallback_urls[n - 1] = first;
	}
	if (ca->endpoint_auth == AE_CA_AUTH_PASSWORD) {
		char what[256];
		ae_err err;
		snprintf(what, sizeof(what), "CA %s", ca->name);
		if ((err = ae_cep_password(ctx, conf, what, &l->password)) == AE_OK &&
		    (l->username = strdup(conf->cep_username)) == NULL)
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		if (err != AE_OK) {
			ces_close(l);
			return err;
		}
	}
	l->renewal_only = ca->renewal_only;
	if (ca->endpoint_auth == AE_CA_AUTH_CERTIFICATE && !ca->renewal_only) {
		ae_err err = AE_OK;
		if (!ae_cep_client_cert_configured(conf) || conf->cep_client_key == NULL)
			err = ae_set_message(ctx, AE_ERR_CONFIG,
			                     "CA %s is reached with a client certificate: set cep_client_cert and cep_client_key (or only cep_client_key, a token's key URI)",
			                     ca->name);
		else if (ae_cep_key_on_token(conf))
			err = ae_cep_token_cred_open(ctx, conf, &l->token);
		if (err == AE_OK &&
		    ((l->client_cert = strdup(l->token.shown ? l->token.shown : conf->cep_client_cert)) == NULL ||
		     (l->client_key = strdup(conf->cep_client_key)) == NULL))
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		if (err != AE_OK) {
			ces_close(l);
			return err;
		}
	}
	l->channel_binding = conf->cep_channel_binding;
	l->timeout = conf->rpc_timeout;
	ae_conf_setting(conf, "global", "rpc_timeout", l->setting, sizeof(l->setting));
	*state_out = l;
	return AE_OK;
}

static ae_err rst_post(ae_ctx *ctx, ces_link *l, const char *action, const char *rtype, const char *body_xml,
                       char *what, size_t what_size, ae_http_response **resp);

/* One RequestSecurityToken (ACTION, RTYPE, BODY_XML inside it) to the
 * CA's CES URIs in priority order until one answers (MS-XCEP 3.1.4.1.3.2:
 * the client chooses among the URIs by priority); the one that answered
 * is tried first next time.  WHAT gets "the CES at URL" of the one that
 * answered; *RESP (NULL on error) its answer. */
static ae_err
rst_send(ae_ctx *ctx, ces_link *l, const char *action, const char *rtype, const char *body_xml, char *what,
         size_t what_size, ae_http_response **resp)
{
	ae_err err = rst_post(ctx, l, action, rtype, body_xml, what, what_size, resp);

	for (size_t i = 0; l->fallback_urls && l->fallback_urls[i] && (err == AE_ERR_NETWORK || err == AE_ERR_TIMEOUT);
	     i++) {
		char *next = l->fallback_urls[i];
		ae_log(ctx, AE_LOG_WARNING, "%s; trying the next CES URI %s", ae_get_message(ctx), next);
		free(ces_unanswered);
		ces_unanswered = strdup(l->url);
		l->fallback_urls[i] = l->url;
		l->url = next;
		err = rst_post(ctx, l, action, rtype, body_xml, what, what_size, resp);
	}
	return err;
}

/* An Issue or QueryTokenStatus: the answer in *OUT. */
static ae_err
rst_call(ae_ctx *ctx, ces_link *l, const char *rtype, const char *body_xml, bool retrieval, ae_ca_answer *out)
{
	char what[256];
	ae_http_response *resp = NULL;
	ae_err err;

	memset(out, 0, sizeof(*out));
	if ((err = rst_send(ctx, l, ACT_RST, rtype, body_xml, what, sizeof(what), &resp)) == AE_OK)
		err = ae_wstep_parse(ctx, what, (const char *)resp->body, resp->body_len, retrieval, out);
	ae_http_response_free(resp);
	return err;
}

/* One RequestSecurityToken to l->url. */
static ae_err
rst_post(ae_ctx *ctx, ces_link *l, const char *action, const char *rtype, const char *body_xml, char *what,
         size_t what_size, ae_http_response **resp)
{
	char shown[200];
	char *body = NULL;
	ae_err err;

	*resp = NULL;
	snprintf(what, what_size, "the CES at %s", ae_url_shown(l->url, shown, sizeof(shown)));
	if (l->renewal_only && l->as_pkey == NULL)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s takes only renewals, authenticated by the certificate being renewed (renewalOnly, MS-XCEP 3.1.4.1.3.5)",
		                      what);
	if ((body = ae_strdup_printf("<RequestSecurityToken PreferredLanguage=\"en-US\" xmlns=\"" AE_NS_WST "\">"
	                             "<TokenType>" VT_X509 "</TokenType><RequestType>%s</RequestType>%s"
	                             "</RequestSecurityToken>",
	                             rtype, body_xml)) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	{
		ae_soap_call call = { .url = l->url, .action = action, .body = body, .what = what,
			              .http_what = "the CES", .username = l->username, .password = l->password,
			              .client_cert = l->client_cert, .client_key = l->client_key,
			              .client_x509 = l->as_pkey ? l->as_x509 : l->token.x509,
			              .client_pkey = l->as_pkey ? l->as_pkey : l->token.pkey,
			              .channel_binding = l->channel_binding,
			              .trust_pem = l->trust_pem, .timeout = l->timeout, .timeout_setting = l->setting,
			              .max_answer = AE_CES_MAX_ANSWER };
		err = ae_soap_post(ctx, &call, resp, &l->trips);
	}
	free(body);
	return err;
}

static ae_err
ces_submit(ae_ctx *ctx, void *state, const ae_ca *ca, const char *attrs, const uint8_t *req, size_t len,
           ae_ca_answer *out)
{
	ae_buf body;
	char *b64 = b64_encode(req, len), *lines = NULL, *save = NULL, *xml;
	ae_err err;

	(void)ca;
	ae_buf_init(&body);
	if (b64 == NULL || (attrs != NULL && (lines = strdup(attrs)) == NULL)) {
		free(b64);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	ae_buf_printf(&body,
	              "<BinarySecurityToken ValueType=\"" AE_NS_WSSE "#PKCS7\" EncodingType=\"" AE_NS_WSSE
	              "#base64binary\" xmlns=\"" AE_NS_WSSE "\">%s</BinarySecurityToken>",
	              b64);
	/* the request attributes (MS-WCCE 3.2.1.4.2.1.2), each a ContextItem */
	if (lines != NULL && lines[0] != '\0') {
		ae_buf_printf(&body, "<AdditionalContext xmlns=\"" NS_AUTH "\">");
		for (char *ln = strtok_r(lines, "\n", &save); ln != NULL; ln = strtok_r(NULL, "\n", &save)) {
			char *colon = strchr(ln, ':'), *n, *v;
			if (colon == NULL)
				continue;
			*colon = '\0';
			n = ae_xml_escape(ln);
			v = ae_xml_escape(colon + 1);
			if (n != NULL && v != NULL)
				ae_buf_printf(&body, "<ContextItem Name=\"%s\"><Value>%s</Value></ContextItem>", n, v);
			else
				body.failed = true;
			free(n);
			free(v);
		}
		ae_buf_printf(&body, "</AdditionalContext>");
	}
	ae_buf_append(&body, "", 1);
	free(b64);
	free(lines);
	if ((xml = ae_buf_steal(&body)) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	err = rst_call(ctx, state, RT_ISSUE, xml, false, out);
	free(xml);
	return err;
}

static ae_err
ces_retrieve(ae_ctx *ctx, void *state, const ae_ca *ca, uint32_t request_id, ae_ca_answer *out)
{
	char body[160];

	(void)ca;
	snprintf(body, sizeof(body), "<RequestID xmlns=\"" AE_NS_WSTEP "\">%u</RequestID>", request_id);
	return rst_call(ctx, state, RT_QUERY, body, true, out);
}

/* MS-WSTEP 3.1.4.2.2: the CA exchange certificate as the key exchange
 * token, unchecked (the caller checks it against the CA). */
static ae_err
ces_exchange_cert(ae_ctx *ctx, void *state, const ae_ca *ca, X509 **out)
{
	char what[256];
	ae_http_response *resp = NULL;
	ae_err err;

	(void)ca;
	*out = NULL;
	if ((err = rst_send(ctx, state, ACT_KET, RT_KET,
	                    "<RequestKET/><RequestID xsi:nil=\"true\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
	                    "xmlns=\"" AE_NS_WSTEP "\"/>",
	                    what, sizeof(what), &resp)) == AE_OK)
		err = ae_wstep_parse_ket(ctx, what, (const char *)resp->body, resp->body_len, out);
	ae_http_response_free(resp);
	return err;
}

static unsigned
ces_round_trips(void *state)
{
	return ((ces_link *)state)->trips;
}

static void
ces_close(void *state)
{
	ces_link *l = state;

	if (l == NULL)
		return;
	free(l->url);
	ae_strv_free(l->fallback_urls);
	free(l->trust_pem);
	free(l->username);
	free(l->client_cert);
	free(l->client_key);
	ae_cep_token_cred_clear(&l->token);
	if (l->password != NULL)
		OPENSSL_cleanse(l->password, strlen(l->password));
	free(l->password);
	free(l);
}

/* A renewal to a renewal-only CES (key-based renewal): the certificate
 * being renewed and its key authenticate the TLS connection (MS-WSTEP
 * 3.1.1.1.2), the request is signed with the same key. */
static ae_err
ces_submit_as(ae_ctx *ctx, void *state, const ae_ca *ca, const char *attrs, const uint8_t *req, size_t len,
              X509 *client_cert, EVP_PKEY *client_key, ae_ca_answer *out)
{
	ces_link *l = state;
	char name[256];
	ae_err err;

	l->as_x509 = client_cert;
	l->as_pkey = client_key;
	/* for messages: which certificate */
	X509_NAME_oneline(X509_get_subject_name(client_cert), name, sizeof(name));
	free(l->client_cert);
	if ((l->client_cert = ae_strdup_printf("the certificate being renewed (%s)", name)) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	err = ces_submit(ctx, state, ca, attrs, req, len, out);
	l->as_x509 = NULL;
	l->as_pkey = NULL;
	return err;
}

const ae_transport_ops ae_transport_ces = {
	.name = "MS-WSTEP",
	.open = ces_open,
	.submit = ces_submit,
	.submit_as = ces_submit_as,
	.retrieve = ces_retrieve,
	.exchange_cert = ces_exchange_cert,
	.round_trips = ces_round_trips,
	.close = ces_close,
};
