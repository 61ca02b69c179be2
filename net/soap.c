/*
 * soap.c - SOAP 1.2 parsing with libxml2 (see soap.h).
 */
#include "config.h"

#include "http.h"
#include "soap.h"
#include "util.h"

#include <libxml/parser.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <gssapi/gssapi.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AE_NS_XSI "http://www.w3.org/2001/XMLSchema-instance"

/* libxml2 reports through a global handler by default: silence it, the
 * caller gets one message on the context. */
static void
quiet(void *arg, const char *fmt, ...)
{
	(void)arg;
	(void)fmt;
}

static bool
is(const xmlNode *n, const char *ns, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0 &&
	       (ns == NULL ? n->ns == NULL : n->ns != NULL && strcmp((const char *)n->ns->href, ns) == 0);
}

xmlNode *
ae_soap_child(const xmlNode *node, const char *ns, const char *name)
{
	for (xmlNode *c = node ? node->children : NULL; c != NULL; c = c->next)
		if (is(c, ns, name))
			return c;
	return NULL;
}

xmlNode *
ae_soap_find(const xmlNode *node, const char *ns, const char *name)
{
	xmlNode *found;

	if (node == NULL)
		return NULL;
	if (is(node, ns, name))
		return (xmlNode *)node;
	for (xmlNode *c = node->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE && (found = ae_soap_find(c, ns, name)) != NULL)
			return found;
	return NULL;
}

char *
ae_soap_text(const xmlNode *node, bool *nomem)
{
	xmlChar *nil, *raw;
	char *out;
	size_t b, e;

	if (node == NULL)
		return NULL;
	nil = xmlGetNsProp(node, (const xmlChar *)"nil", (const xmlChar *)AE_NS_XSI);
	if (nil != NULL) {
		bool yes = strcmp((const char *)nil, "true") == 0 || strcmp((const char *)nil, "1") == 0;
		xmlFree(nil);
		if (yes)
			return NULL;
	}
	if ((raw = xmlNodeGetContent(node)) == NULL) {
		if (nomem)
			*nomem = true;
		return NULL;
	}
	e = strlen((const char *)raw);
	for (b = 0; b < e && strchr(" \t\r\n", raw[b]) != NULL; b++)
		;
	while (e > b && strchr(" \t\r\n", raw[e - 1]) != NULL)
		e--;
	out = strndup((const char *)raw + b, e - b);
	xmlFree(raw);
	if (out == NULL && nomem)
		*nomem = true;
	return out;
}

char *
ae_xml_escape(const char *text)
{
	ae_buf b;

	ae_buf_init(&b);
	for (const char *p = text; *p != '\0'; p++) {
		switch (*p) {
		case '&': ae_buf_append(&b, "&amp;", 5); break;
		case '<': ae_buf_append(&b, "&lt;", 4); break;
		case '>': ae_buf_append(&b, "&gt;", 4); break;
		case '"': ae_buf_append(&b, "&quot;", 6); break;
		default: ae_buf_append(&b, p, 1); break;
		}
	}
	ae_buf_append(&b, "", 1);
	return ae_buf_steal(&b);
}

ae_err
ae_soap_parse(ae_ctx *ctx, const char *what, const char *xml, size_t len, xmlDoc **doc, xmlNode **body)
{
	xmlParserCtxt *pc = NULL;
	xmlDoc *d = NULL;
	xmlNode *root, *b, *only = NULL;
	ae_err err = AE_OK;

	*doc = NULL;
	*body = NULL;
	if (len == 0)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s answered with an empty body, not a SOAP message", what);
	if (len > AE_SOAP_MAX)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s answered with %zu bytes, more than the %d a SOAP message may have",
		                      what, len, AE_SOAP_MAX);
	/* UTF-8 only (what WCF sends): a UTF-16 answer could hide a DTD from
	 * the check below. */
	if (len >= 2 && ((xml[0] == '\xff' && xml[1] == '\xfe') || (xml[0] == '\xfe' && xml[1] == '\xff') || xml[0] == '\0' ||
	                 xml[1] == '\0'))
		return ae_set_message(ctx, AE_ERR_INVALID, "%s answered in UTF-16: only UTF-8 SOAP is accepted", what);
	for (size_t i = 0; i + 9 <= len; i++)
		if (xml[i] == '<' && xml[i + 1] == '!' && strncasecmp(xml + i + 2, "DOCTYPE", 7) == 0)
			return ae_set_message(ctx, AE_ERR_INVALID, "%s answered with a DTD, which SOAP forbids: refused", what);
	xmlSetGenericErrorFunc(NULL, quiet);
	if ((pc = xmlNewParserCtxt()) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	d = xmlCtxtReadMemory(pc, xml, (int)len, "soap.xml", "UTF-8", XML_PARSE_NONET | XML_PARSE_NOCDATA);
	if (d == NULL) {
		const xmlError *xe = xmlCtxtGetLastError(pc);
		err = ae_set_message(ctx, AE_ERR_INVALID, "%s answered with malformed XML%s%.*s", what, xe ? ": " : "",
		                     xe && xe->message ? (int)strcspn(xe->message, "\n") : 0,
		                     xe && xe->message ? xe->message : "");
		goto cleanup;
	}
	if (d->intSubset != NULL || d->extSubset != NULL) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "%s answered with a DTD, which SOAP forbids: refused", what);
		goto cleanup;
	}
	root = xmlDocGetRootElement(d);
	if (root == NULL || !is(root, AE_NS_SOAP, "Envelope")) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "%s answered with XML that is not a SOAP 1.2 envelope", what);
		goto cleanup;
	}
	if ((b = ae_soap_child(root, AE_NS_SOAP, "Body")) == NULL) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "%s answered with a SOAP envelope without a Body", what);
		goto cleanup;
	}
	for (xmlNode *c = b->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (only != NULL) {
			err = ae_set_message(ctx, AE_ERR_INVALID, "%s answered with more than one element in the SOAP Body",
			                     what);
			goto cleanup;
		}
		only = c;
	}
	if (only == NULL) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "%s answered with an empty SOAP Body", what);
		goto cleanup;
	}
	*doc = d;
	*body = only;
	d = NULL;
cleanup:
	if (d != NULL)
		xmlFreeDoc(d);
	xmlFreeParserCtxt(pc);
	return err;
}

bool
ae_b64_decode_folded(const char *text, uint8_t **out, size_t *len, bool *nomem)
{
	size_t n = 0, tlen = strlen(text), pad = 0;
	char *clean = malloc(tlen + 1);
	uint8_t *buf = NULL;
	int got;

	*out = NULL;
	*len = 0;
	if (clean == NULL) {
		*nomem = true;
		return false;
	}
	for (size_t i = 0; i < tlen; i++)
		if (strchr(" \t\r\n", text[i]) == NULL)
			clean[n++] = text[i];
	clean[n] = '\0';
	if (n == 0 || n % 4 != 0 || n > (size_t)AE_SOAP_MAX) {
		free(clean);
		return false;
	}
	if (clean[n - 1] == '=')
		pad++;
	if (n > 1 && clean[n - 2] == '=')
		pad++;
	if ((buf = malloc(n / 4 * 3)) == NULL) {
		free(clean);
		*nomem = true;
		return false;
	}
	got = EVP_DecodeBlock(buf, (unsigned char *)clean, (int)n);
	free(clean);
	if (got < 0 || (size_t)got < pad) {
		free(buf);
		return false;
	}
	*out = buf;
	*len = (size_t)got - pad;
	return true;
}

char *
ae_soap_security_header(const char *user, const char *password, time_t now)
{
	char created[32], expires[32];
	time_t later = now + 300;
	struct tm tm;
	char *u = ae_xml_escape(user), *pw = ae_xml_escape(password), *out = NULL;

	if (u != NULL && pw != NULL && gmtime_r(&now, &tm) != NULL &&
	    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0 && gmtime_r(&later, &tm) != NULL &&
	    strftime(expires, sizeof(expires), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		out = ae_strdup_printf(
		        "<o:Security s:mustUnderstand=\"1\" xmlns:o=\"" AE_NS_WSSE "\" xmlns:u=\"" AE_NS_WSU "\">"
		        "<u:Timestamp u:Id=\"_0\"><u:Created>%s</u:Created><u:Expires>%s</u:Expires></u:Timestamp>"
		        "<o:UsernameToken u:Id=\"uuid-1\"><o:Username>%s</o:Username>"
		        "<o:Password Type=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText\">%s</o:Password>"
		        "</o:UsernameToken></o:Security>",
		        created, expires, u, pw);
	free(u);
	if (pw != NULL)
		OPENSSL_cleanse(pw, strlen(pw));
	free(pw);
	return out;
}

/* ---- HTTP Negotiate with channel bindings (RFC 4559, RFC 5929) ---- */

/* tls-server-end-point (RFC 5929 4.1): the hash of the server's
 * certificate with its signature's hash, SHA-256 for MD5 and SHA-1. */
static ae_err
end_point_binding(ae_ctx *ctx, const char *what, const char *pem, uint8_t *out, size_t *len)
{
	BIO *bio = pem ? BIO_new_mem_buf(pem, -1) : NULL;
	X509 *c = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	static const char prefix[] = "tls-server-end-point:";
	const EVP_MD *md = NULL;
	int nid = NID_undef;
	unsigned n = 0;

	BIO_free(bio);
	if (c == NULL)
		return ae_set_message(ctx, AE_ERR_CRYPTO, "%s: no server certificate to bind the Kerberos authentication to",
		                      what);
	if (OBJ_find_sigid_algs(X509_get_signature_nid(c), &nid, NULL) != 1 || nid == NID_md5 || nid == NID_sha1 ||
	    (md = EVP_get_digestbynid(nid)) == NULL)
		md = EVP_sha256();
	memcpy(out, prefix, sizeof(prefix) - 1);
	if (X509_digest(c, md, out + sizeof(prefix) - 1, &n) != 1) {
		X509_free(c);
		return ae_set_message(ctx, AE_ERR_CRYPTO, "%s: cannot hash the server certificate", what);
	}
	X509_free(c);
	*len = sizeof(prefix) - 1 + n;
	return AE_OK;
}

/* The server's Negotiate token in RESP, decoded (caller frees); NULL when none. */
static uint8_t *
negotiate_token(const ae_http_response *resp, size_t *len)
{
	const char *h = ae_http_header(resp, "WWW-Authenticate");
	uint8_t *tok = NULL;
	bool nomem = false;

	*len = 0;
	if (h == NULL || strncasecmp(h, "Negotiate ", 10) != 0 || !ae_b64_decode_folded(h + 10, &tok, len, &nomem))
		return NULL;
	return tok;
}

/* RQ with Negotiate done here, not by libcurl, so that the authenticator
 * carries the channel binding (libcurl's GSS-API Negotiate sends none):
 * an answer without authentication first (the 401 and the server's
 * certificate), then the request with the SPNEGO token, then the
 * server's token checked (mutual authentication). */
static ae_err
negotiate_bound(ae_ctx *ctx, const ae_soap_call *call, ae_http_request *rq, ae_http_response **out, unsigned *trips)
{
	static gss_OID_desc spnego = { 6, (void *)"\x2b\x06\x01\x05\x05\x02" };
	uint8_t bind[EVP_MAX_MD_SIZE + 32], *srv = NULL;
	size_t bind_len = 0, srv_len = 0;
	char host[256], *header = NULL, *b64 = NULL;
	const char *hdrs[2] = { NULL, NULL };
	gss_ctx_id_t gctx = GSS_C_NO_CONTEXT;
	gss_name_t target = GSS_C_NO_NAME;
	gss_buffer_desc name_buf, in = GSS_C_EMPTY_BUFFER, tok = GSS_C_EMPTY_BUFFER;
	struct gss_channel_bindings_struct cb;
	OM_uint32 major, minor;
	ae_http_response *first = NULL;
	ae_err err;

	*out = NULL;
	rq->peer_cert = true;
	if ((err = ae_http_fetch(ctx, rq, &first)) != AE_OK)
		return err;
	*trips += first->answers ? first->answers : 1;
	if (first->status != 401) { /* no authentication asked for */
		*out = first;
		return AE_OK;
	}
	if ((err = end_point_binding(ctx, call->what, first->peer_cert_pem, bind, &bind_len)) != AE_OK)
		goto cleanup;
	{
		const char *h = strstr(call->url, "://") ? strstr(call->url, "://") + 3 : call->url;
		size_t n = strcspn(h, ":/");
		snprintf(host, sizeof(host), "HTTP@%.*s", (int)(n < 200 ? n : 200), h);
	}
	name_buf.value = host;
	name_buf.length = strlen(host);
	if (gss_import_name(&minor, &name_buf, GSS_C_NT_HOSTBASED_SERVICE, &target) != GSS_S_COMPLETE) {
		err = ae_set_message(ctx, AE_ERR_KERBEROS, "%s: cannot name the service %s", call->what, host);
		goto cleanup;
	}
	memset(&cb, 0, sizeof(cb));
	cb.application_data.value = bind;
	cb.application_data.length = bind_len;
	major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &gctx, target, &spnego, GSS_C_MUTUAL_FLAG, 0, &cb,
	                             GSS_C_NO_BUFFER, NULL, &tok, NULL, NULL);
	if (GSS_ERROR(major)) {
		err = ae_set_message(ctx, AE_ERR_KERBEROS,
		                     "%s: no Kerberos ticket for %s (GSS-API major 0x%x, minor %u): check the ticket (klist)",
		                     call->what, host, major, minor);
		goto cleanup;
	}
	if ((b64 = malloc(4 * ((tok.length + 2) / 3) + 1)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	EVP_EncodeBlock((unsigned char *)b64, tok.value, (int)tok.length);
	if ((header = ae_strdup_printf("Authorization: Negotiate %s", b64)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	hdrs[0] = header;
	rq->headers = hdrs;
	rq->peer_cert = false;
	if ((err = ae_http_fetch(ctx, rq, out)) != AE_OK)
		goto cleanup;
	if ((*out)->status == 401 || (*out)->status == 403)
		goto cleanup; /* the caller says it was refused */
	/* mutual authentication: the server's answer token */
	if ((srv = negotiate_token(*out, &srv_len)) != NULL) {
		in.value = srv;
		in.length = srv_len;
		gss_release_buffer(&minor, &tok);
		major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &gctx, target, &spnego, GSS_C_MUTUAL_FLAG, 0,
		                             &cb, &in, NULL, &tok, NULL, NULL);
	}
	if (srv == NULL || major != GSS_S_COMPLETE) {
		ae_http_response_free(*out);
		*out = NULL;
		err = ae_set_message(ctx, AE_ERR_KERBEROS, "%s did not prove itself as %s (mutual Kerberos authentication failed)",
		                     call->what, host);
	}
cleanup:
	ae_http_response_free(first);
	gss_release_buffer(&minor, &tok);
	if (gctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&minor, &gctx, GSS_C_NO_BUFFER);
	if (target != GSS_C_NO_NAME)
		gss_release_name(&minor, &target);
	free(srv);
	free(b64);
	free(header);
	rq->headers = NULL;
	return err;
}

ae_err
ae_soap_post(ae_ctx *ctx, const ae_soap_call *call, ae_http_response **out, unsigned *trips)
{
	uint8_t id[16];
	char msgid[64];
	char *url = NULL, *xml = NULL, *sec = NULL;
	ae_http_response *resp = NULL;
	ae_err err;

	*out = NULL;
	if (RAND_bytes(id, sizeof(id)) != 1)
		return ae_set_message(ctx, AE_ERR_CRYPTO, "no random bytes for a MessageID");
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
	id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
	snprintf(msgid, sizeof(msgid), "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7], id[8], id[9], id[10], id[11], id[12], id[13],
	         id[14], id[15]);
	if ((call->password != NULL &&
	     (sec = ae_soap_security_header(call->username, call->password, time(NULL))) == NULL) ||
	    (url = ae_xml_escape(call->url)) == NULL ||
	    (xml = ae_strdup_printf(
	             "<s:Envelope xmlns:s=\"" AE_NS_SOAP "\" xmlns:a=\"" AE_NS_WSA "\"><s:Header>"
	             "<a:Action s:mustUnderstand=\"1\">%s</a:Action><a:MessageID>%s</a:MessageID>"
	             "<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>"
	             "<a:To s:mustUnderstand=\"1\">%s</a:To>%s</s:Header>"
	             "<s:Body xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">%s</s:Body></s:Envelope>",
	             call->action, msgid, url, sec ? sec : "", call->body)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	{
		bool kerberos = call->password == NULL && call->client_cert == NULL;
		ae_http_request rq = { .method = "POST", .url = call->url, .body = (const uint8_t *)xml,
			               .body_len = strlen(xml), .content_type = "application/soap+xml; charset=utf-8",
			               .max_body = call->max_answer, .timeout = call->timeout,
			               .timeout_setting = call->timeout_setting, .what = call->http_what,
			               .any_status = true, .https_only = true,
			               .negotiate = kerberos && !call->channel_binding,
			               .trust_pem = call->trust_pem };
		if (call->client_pkey != NULL) {
			rq.client_x509 = call->client_x509;
			rq.client_pkey = call->client_pkey;
		} else {
			rq.client_cert = call->client_cert;
			rq.client_key = call->client_key;
		}
		err = kerberos && call->channel_binding ? negotiate_bound(ctx, call, &rq, &resp, trips)
		                                        : ae_http_fetch(ctx, &rq, &resp);
	}
	if (err != AE_OK)
		goto cleanup;
	*trips += resp->answers ? resp->answers : 1;
	if ((resp->status == 401 || resp->status == 403) && call->client_cert != NULL)
		err = ae_set_message(ctx, AE_ERR_DENIED,
		                     "%s refused the client certificate %s (HTTP %ld): it must be valid, from a CA the server trusts, for client authentication and name an account",
		                     call->what, call->client_cert, resp->status);
	else if (resp->status == 401 || resp->status == 403)
		err = ae_set_message(ctx, AE_ERR_DENIED,
		                     "%s refused the Kerberos authentication (HTTP %ld): check the ticket (klist) and that the server's SPN HTTP/host exists%s",
		                     call->what, resp->status,
		                     call->password == NULL && !call->channel_binding
		                             ? "; or the server requires Extended Protection, and cep_channel_binding = no leaves the TLS channel binding out of the Kerberos authenticator"
		                             : "");
	else if (resp->status != 200 && resp->status != 500)
		err = ae_set_message(ctx, AE_ERR_NETWORK, "%s answered HTTP %ld", call->what, resp->status);
	else if (resp->status == 500 && call->password != NULL &&
	         strstr((const char *)resp->body, "verifying security") != NULL)
		err = ae_set_message(ctx, AE_ERR_DENIED,
		                     "%s refused the user name and password of %s (a WS-Security fault): check cep_username and the password in cep_password_file",
		                     call->what, call->username);
	if (err == AE_OK) {
		*out = resp;
		resp = NULL;
	}
cleanup:
	ae_http_response_free(resp);
	if (sec != NULL)
		OPENSSL_cleanse(sec, strlen(sec));
	if (xml != NULL)
		OPENSSL_cleanse(xml, strlen(xml));
	free(sec);
	free(url);
	free(xml);
	return err;
}
