/*
 * soap.h - SOAP 1.2 messages of the CEP/CES web services (MS-XCEP,
 * MS-WSTEP), parsed with libxml2 from untrusted answers: UTF-8 only, no
 * DTD (so no entities, internal or external), no network access, a size
 * limit, libxml2's own depth and text limits (no XML_PARSE_HUGE).
 */
#ifndef AE_SOAP_H
#define AE_SOAP_H

#include "error.h"
#include "http.h"

#include <openssl/x509.h>

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define AE_SOAP_MAX (4 * 1024 * 1024)

#define AE_NS_SOAP "http://www.w3.org/2003/05/soap-envelope"
#define AE_NS_WSA "http://www.w3.org/2005/08/addressing"
#define AE_NS_WST "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
#define AE_NS_WSSE "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define AE_NS_WSTEP "http://schemas.microsoft.com/windows/pki/2009/01/enrollment"
#define AE_NS_WSU "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
#define AE_NS_XCEP "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy"

/* Parses a SOAP envelope of LEN bytes; *BODY is the one child of its Body
 * (owned by *DOC, free with xmlFreeDoc).  WHAT names the sender in
 * messages ("the CES at URL").  *DOC and *BODY stay NULL on error. */
ae_err ae_soap_parse(ae_ctx *ctx, const char *what, const char *xml, size_t len, xmlDoc **doc, xmlNode **body);

/* The first child element of NODE named NAME in namespace NS, or NULL. */
xmlNode *ae_soap_child(const xmlNode *node, const char *ns, const char *name);
/* The first element named NAME in NS among NODE's descendants (NODE
 * included), depth first, or NULL. */
xmlNode *ae_soap_find(const xmlNode *node, const char *ns, const char *name);
/* NODE's text with surrounding white space removed (caller frees); NULL
 * for a missing node, xsi:nil, or out of memory (*NOMEM then true). */
char *ae_soap_text(const xmlNode *node, bool *nomem);

/* Base64 TEXT with white space anywhere (as WCF folds it) into *OUT
 * (caller frees) and *LEN; false for bad input or, with *NOMEM set, no
 * memory. */
bool ae_b64_decode_folded(const char *text, uint8_t **out, size_t *len, bool *nomem);

/* WS-Security for user name and password authentication (MS-XCEP 4.1.1.1,
 * WSS UsernameToken Profile 1.0 over TLS): the o:Security header block,
 * mustUnderstand, with a Timestamp of NOW to NOW + 5 minutes and the
 * UsernameToken (PasswordText).  Caller frees (and should cleanse). */
char *ae_soap_security_header(const char *user, const char *password, time_t now);

/* One SOAP 1.2 call of the CEP/CES web services over HTTPS (never http):
 * the envelope with WS-Addressing (Action, a new MessageID, ReplyTo
 * anonymous, To), the WS-Security header with a user name and password
 * when PASSWORD is set, else a TLS client certificate when CLIENT_CERT is
 * set, else Kerberos through HTTP Negotiate; BODY in
 * s:Body.  Answers 200 and 500 (SOAP faults) are returned in *OUT for the
 * caller to parse; refused authentication (401, 403, a WS-Security fault)
 * and other statuses are errors naming WHAT ("the CES at URL").
 * *TRIPS counts the HTTP answers. */
typedef struct {
	const char *url;
	const char *action;
	const char *body;
	const char *what;            /* "the CES at URL", for messages */
	const char *http_what;       /* "the CES", for the HTTP layer's messages */
	const char *username, *password; /* user name and password */
	const char *client_cert, *client_key; /* else a TLS client certificate (PEM files); else Kerberos */
	X509 *client_x509;           /* with CLIENT_CERT (then named in messages): the certificate and */
	EVP_PKEY *client_pkey;       /* its key when not in a file (a token's); CLIENT_KEY is then unused */
	bool channel_binding;        /* Kerberos: the tls-server-end-point channel binding (RFC 5929) in
	                              * the authenticator, for servers with Extended Protection */
	const char *trust_pem;
	int timeout;
	const char *timeout_setting;
	size_t max_answer;
} ae_soap_call;

ae_err ae_soap_post(ae_ctx *ctx, const ae_soap_call *call, ae_http_response **out, unsigned *trips);

/* TEXT with &, <, >, " escaped for XML (caller frees), NULL on no memory. */
char *ae_xml_escape(const char *text);

#endif
