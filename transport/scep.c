/*
 * scep.c - the SCEP transport (scep.h): RFC 8894 4.1 GetCACaps, 4.2
 * GetCACert, 4.3 PKIOperation (PKCSReq 19, RenewalReq 17) and 3.3.3
 * CertPoll (20), over libcurl (net/http.h); messages built and CertReps
 * parsed in core/scep-msg.c.
 */
#include "config.h"

#include "http.h"
#include "pki.h"
#include "scep-msg.h"
#include "scep.h"
#include "util.h"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCEP_MAX_ANSWER (1024 * 1024)

typedef struct {
	char *url;
	char *trust_pem;
	int timeout;
	char setting[256];
	unsigned trips;
	unsigned caps;
	bool plain;             /* http://, allowed by scep_allow_http: unprotected */
	ae_scep_ca_certs certs;
} scep_link;

static ae_scep_failure last_failure;

const ae_scep_failure *
ae_scep_last_failure(void)
{
	return &last_failure;
}

/* Records where a call failed, for event 86; returns ERR. */
static ae_err
failed(ae_ctx *ctx, ae_err err, const char *stage, const char *method, long status)
{
	const char *msg = ae_get_message(ctx);

	last_failure.failed = true;
	last_failure.stage = stage;
	last_failure.method = method;
	/* WinHTTP's codes as the Windows SCEP client reports them */
	if (status >= 100)
		last_failure.code = 0x80190000u + (uint32_t)status; /* HTTP_E_STATUS_* */
	else if (err == AE_ERR_CRYPTO && msg != NULL && strstr(msg, "TLS") != NULL)
		last_failure.code = 0x80072F8Fu; /* ERROR_WINHTTP_SECURE_FAILURE */
	else if (err == AE_ERR_TIMEOUT)
		last_failure.code = 0x80072EE2u; /* ERROR_WINHTTP_TIMEOUT */
	else if (msg != NULL && strstr(msg, "cannot resolve") != NULL)
		last_failure.code = 0x80072EE7u; /* ERROR_WINHTTP_NAME_NOT_RESOLVED */
	else if (msg != NULL && strstr(msg, "cannot connect") != NULL)
		last_failure.code = 0x80072EFDu; /* ERROR_WINHTTP_CANNOT_CONNECT */
	else if (err == AE_ERR_CRYPTO)
		last_failure.code = 0x80096004u; /* TRUST_E_CERT_SIGNATURE: the RA or CA certificates */
	else
		last_failure.code = 0x80004005u; /* E_FAIL */
	return err;
}

/* One HTTP exchange with the SCEP server: OPERATION with MESSAGE (GET,
 * base64 in the query) or BODY (POST).  Non-2xx answers are errors that
 * say what the status usually means at NDES. */
static ae_err
call(ae_ctx *ctx, scep_link *l, const char *operation, const char *message, const uint8_t *body, size_t body_len,
     ae_http_response **out)
{
	const char *method = body != NULL ? "POST" : "GET";
	char shown[200], *url = NULL, *esc = NULL;
	ae_http_response *resp = NULL;
	ae_err err;

	*out = NULL;
	ae_url_shown(l->url, shown, sizeof(shown));
	if (message != NULL) {
		/* base64 in a query: + / = escaped (RFC 8894 4.1) */
		ae_buf b;
		ae_buf_init(&b);
		for (const char *p = message; *p != '\0'; p++)
			if (*p == '+' || *p == '/' || *p == '=')
				ae_buf_printf(&b, "%%%02X", (unsigned char)*p);
			else
				ae_buf_append(&b, p, 1);
		ae_buf_append(&b, "", 1);
		esc = ae_buf_steal(&b);
	}
	url = ae_strdup_printf("%s%soperation=%s%s%s", l->url, strchr(l->url, '?') ? "&" : "?", operation,
	                       esc ? "&message=" : "", esc ? esc : "");
	if (url == NULL || (message != NULL && esc == NULL)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	{
		char what[96];
		snprintf(what, sizeof(what), "SCEP %s", operation);
		ae_http_request rq = { .method = method, .url = url, .body = body, .body_len = body_len,
			               .content_type = body ? "application/x-pki-message" : NULL,
			               .max_body = SCEP_MAX_ANSWER, .max_url = 64 * 1024, .timeout = l->timeout, .timeout_setting = l->setting,
			               .what = what, .any_status = true, .https_only = !l->plain, .trust_pem = l->trust_pem };
		err = ae_http_fetch(ctx, &rq, &resp);
	}
	if (err != AE_OK) {
		if (err == AE_ERR_CRYPTO)
			ae_prefix_message(ctx, err,
			                  "the SCEP server's TLS certificate does not chain to a root published in AD (nor the system's trust or a configured anchor)");
		failed(ctx, err, operation, method, 0);
		goto cleanup;
	}
	l->trips += resp->answers ? resp->answers : 1;
	if (resp->status < 200 || resp->status > 299) {
		const char *why = resp->status == 404 ? ": no SCEP server at this path (NDES: /certsrv/mscep/mscep.dll)"
		                  : resp->status == 401 || resp->status == 403
		                          ? ": access refused (NDES wants no authentication on mscep.dll)"
		                  : resp->status == 405 ? ": method not allowed (the server does not take POST)"
		                  : resp->status >= 500 ? ": the server failed (NDES: see its Application log)"
		                                        : "";
		err = failed(ctx,
		             ae_set_message(ctx, resp->status == 404 ? AE_ERR_NOTFOUND : AE_ERR_NETWORK,
		                            "SCEP %s by %s at %s answered HTTP %ld%s", operation, method, shown,
		                            resp->status, why),
		             operation, method, resp->status);
		goto cleanup;
	}
	*out = resp;
	resp = NULL;
cleanup:
	ae_http_response_free(resp);
	free(url);
	free(esc);
	return err;
}

/* The RA and CA certificates must chain to the roots of L's trust: never
 * accepted on first use (Samba's CVE-2026-3012). */
static ae_err
verify_certs(ae_ctx *ctx, scep_link *l)
{
	X509 *check[3] = { l->certs.ca, l->certs.ra_sign, l->certs.ra_encrypt };
	const char *role[3] = { "CA", "RA signing", "RA encryption" };
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *vctx = X509_STORE_CTX_new();
	STACK_OF(X509) *roots = NULL;
	int nroots = ae_certs_from_pem(l->trust_pem, &roots);
	ae_err err = AE_OK;

	if (store == NULL || vctx == NULL || nroots < 0) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	for (int i = 0; i < nroots; i++)
		X509_STORE_add_cert(store, sk_X509_value(roots, i));
	for (int i = 0; i < 3; i++) {
		char name[256];
		int e;
		if (i > 0 && check[i] == check[i - 1])
			continue;
		X509_STORE_CTX_cleanup(vctx);
		if (X509_STORE_CTX_init(vctx, store, check[i], l->certs.all) != 1) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		if (X509_verify_cert(vctx) == 1)
			continue;
		e = X509_STORE_CTX_get_error(vctx);
		X509_NAME_oneline(X509_get_subject_name(check[i]), name, sizeof(name));
		err = ae_set_message(ctx, AE_ERR_CRYPTO,
		                     "the %s certificate %s from GetCACert does not chain to %s: %s; it must chain to a root published in AD (or the anchor given)",
		                     role[i], name, nroots ? "the trusted roots" : "any trusted root (none known)",
		                     X509_verify_cert_error_string(e));
		goto cleanup;
	}
cleanup:
	sk_X509_pop_free(roots, X509_free);
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(store);
	return err;
}

static void scep_close(void *state);

#define UNPROTECTED "over plain HTTP, unprotected (scep_allow_http)"

/* Every failure of a plain-HTTP link says that it is unprotected. */
static ae_err
unprotected(ae_ctx *ctx, const scep_link *l, ae_err err)
{
	if (err != AE_OK && l->plain)
		ae_prefix_message(ctx, err, "SCEP %s", UNPROTECTED);
	return err;
}

static ae_err
scep_open(ae_ctx *ctx, const ae_conf *conf, const ae_ca *ca, void **state_out)
{
	scep_link *l;
	ae_http_response *resp = NULL;
	char shown[200], capstr[160];
	bool weak_c = false, weak_d = false;
	ae_err err;

	*state_out = NULL;
	last_failure.failed = false;
	if (ca->url == NULL)
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "no SCEP URL for %s", ca->name);
	if ((l = calloc(1, sizeof(*l))) == NULL || (l->url = strdup(ca->url)) == NULL ||
	    (ca->endpoint_trust != NULL && (l->trust_pem = strdup(ca->endpoint_trust)) == NULL)) {
		scep_close(l);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	if (strncasecmp(l->url, "http://", 7) == 0) {
		/* never by default: anyone on the path reads and changes it */
		if (!conf->scep_allow_http) {
			err = ae_set_message(ctx, AE_ERR_INVALID,
			                     "SCEP over plain HTTP at %s is unprotected and refused: use https://, or allow it with scep_allow_http = yes in [global] or --insecure-http",
			                     ae_url_shown(l->url, shown, sizeof(shown)));
			scep_close(l);
			return err;
		}
		l->plain = true;
	}
	l->timeout = conf->rpc_timeout;
	ae_conf_setting(conf, "global", "rpc_timeout", l->setting, sizeof(l->setting));
	ae_url_shown(l->url, shown, sizeof(shown));
	if (l->plain)
		ae_log(ctx, AE_LOG_WARNING, "SCEP server %s: %s; the RA and CA certificates must still chain to AD's roots or the anchor",
		       shown, UNPROTECTED);
	/* RFC 8894 4.1: GetCACaps */
	if ((err = call(ctx, l, "GetCACaps", NULL, NULL, 0, &resp)) != AE_OK)
		goto fail;
	if ((err = ae_scep_caps_parse(ctx, (const char *)resp->body, resp->body_len, &l->caps)) != AE_OK) {
		failed(ctx, err, "GetCACaps", "GET", 0);
		goto fail;
	}
	ae_http_response_free(resp);
	resp = NULL;
	ae_scep_caps_str(l->caps, capstr, sizeof(capstr));
	ae_log(ctx, AE_LOG_DEBUG, "SCEP server %s offers: %s", shown, capstr);
	(void)ae_scep_cipher(l->caps, &weak_c);
	(void)ae_scep_digest(l->caps, &weak_d);
	if (weak_c || weak_d)
		ae_log(ctx, AE_LOG_WARNING, "SCEP server %s offers only %s%s%s: using it (GetCACaps: %s)", shown,
		       weak_c ? "DES3 or DES instead of AES" : "", weak_c && weak_d ? " and " : "",
		       weak_d ? "SHA-1 instead of SHA-256" : "", capstr);
	/* 4.2: GetCACert; the message names the CA instance (NDES ignores it) */
	if ((err = call(ctx, l, "GetCACert", "CA", NULL, 0, &resp)) != AE_OK)
		goto fail;
	err = ae_scep_ca_certs_parse(ctx, ae_http_header(resp, "Content-Type"), resp->body, resp->body_len,
	                             &l->certs);
	if (err == AE_OK)
		err = verify_certs(ctx, l);
	if (err != AE_OK) {
		failed(ctx, err, "GetCACert", "GET", 0);
		goto fail;
	}
	ae_http_response_free(resp);
	*state_out = l;
	return AE_OK;
fail:
	ae_prefix_message(ctx, err, "SCEP server %s", shown);
	unprotected(ctx, l, err);
	ae_http_response_free(resp);
	scep_close(l);
	return err;
}

/* transactionID (RFC 8894 3.2.1.1): the SHA-256 of the public key, in
 * hex, so that a CertPoll for the same key finds the same transaction. */
static ae_err
transaction_id(ae_ctx *ctx, EVP_PKEY *key, char out[65])
{
	unsigned char *der = NULL, md[32];
	int n = i2d_PUBKEY(key, &der);

	if (n <= 0 || SHA256(der, (size_t)n, md) == NULL) {
		OPENSSL_free(der);
		return ae_set_message(ctx, AE_ERR_CRYPTO, "cannot encode the request's public key");
	}
	OPENSSL_free(der);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02X", md[i]);
	return AE_OK;
}

/* The self-signed certificate a new request is signed with (RFC 8894
 * 2.3): the request's subject SUBJ and key, valid for a day. */
static ae_err
self_signed(ae_ctx *ctx, const X509_NAME *subj, EVP_PKEY *key, const EVP_MD *md, X509 **out)
{
	X509 *x = X509_new();
	X509_NAME *cn = NULL;
	uint8_t serial[8];
	BIGNUM *bn = NULL;

	*out = NULL;
	if (X509_NAME_entry_count(subj) == 0) {
		/* a subject only in the alternative names: a name for the signer */
		if ((cn = X509_NAME_new()) == NULL ||
		    !X509_NAME_add_entry_by_txt(cn, "CN", MBSTRING_ASC, (const unsigned char *)"SCEP request", -1, -1, 0))
			goto fail;
		subj = cn;
	}
	if (x == NULL || RAND_bytes(serial, sizeof(serial)) != 1 || (serial[0] &= 0x7f, 0) ||
	    (bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_subject_name(x, subj) || !X509_set_issuer_name(x, subj) || !X509_set_pubkey(x, key) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL || X509_sign(x, key, md) <= 0)
		goto fail;
	BN_free(bn);
	X509_NAME_free(cn);
	*out = x;
	return AE_OK;
fail:
	BN_free(bn);
	X509_NAME_free(cn);
	X509_free(x);
	ERR_clear_error();
	return ae_set_message(ctx, AE_ERR_CRYPTO, "cannot make the self-signed certificate that signs the SCEP request");
}

/* One PKIOperation: CONTENT as message TYPE, signed by SIGNER/SKEY; the
 * CertRep, checked (RA signature, transactionID, recipientNonce), acted on
 * into *OUT: the certificate for WANT, pending, or the failure. */
static ae_err
pki_operation(ae_ctx *ctx, scep_link *l, int type, const char *tid, const uint8_t *content, size_t len,
              X509 *signer, EVP_PKEY *skey, EVP_PKEY *want, ae_ca_answer *out)
{
	bool weak;
	const EVP_CIPHER *cipher = ae_scep_cipher(l->caps, &weak);
	const EVP_MD *md = ae_scep_digest(l->caps, &weak);
	uint8_t nonce[16], *msg = NULL;
	size_t msg_len = 0;
	char *b64 = NULL, shown[200];
	ae_http_response *resp = NULL;
	ae_scep_certrep rep = { 0 };
	bool post = (l->caps & AE_SCEP_CAP_POST) != 0;
	ae_err err;

	ae_url_shown(l->url, shown, sizeof(shown));
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return ae_set_message(ctx, AE_ERR_CRYPTO, "no random bytes for the senderNonce");
	if ((err = ae_scep_pkimessage(ctx, type, tid, nonce, content, len, l->certs.ra_encrypt, cipher, signer, skey,
	                              md, &msg, &msg_len)) != AE_OK)
		goto cleanup;
	/* 4.3: POST where the server offers POSTPKIOperation, else GET */
	if (!post) {
		if ((b64 = malloc(4 * ((msg_len + 2) / 3) + 1)) == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		EVP_EncodeBlock((unsigned char *)b64, msg, (int)msg_len);
	}
	if ((err = call(ctx, l, "PKIOperation", b64, post ? msg : NULL, post ? msg_len : 0, &resp)) != AE_OK)
		goto cleanup;
	if ((err = ae_scep_certrep_parse(ctx, resp->body, resp->body_len, &rep)) != AE_OK ||
	    (err = ae_scep_certrep_verify(ctx, &rep, l->certs.ra_sign)) != AE_OK) {
		failed(ctx, err, "PKIOperation", post ? "POST" : "GET", 0);
		goto cleanup;
	}
	if (strcmp(rep.tid, tid) != 0 || (rep.has_recipient_nonce && memcmp(rep.recipient_nonce, nonce, 16) != 0)) {
		err = failed(ctx,
		             ae_set_message(ctx, AE_ERR_CRYPTO,
		                            "the SCEP server's CertRep answers another transaction (transactionID or recipientNonce differ): ignored"),
		             "PKIOperation", post ? "POST" : "GET", 0);
		goto cleanup;
	}
	if (rep.status == AE_SCEP_SUCCESS) {
		out->outcome = AE_CA_ISSUED;
		err = ae_scep_certrep_open(ctx, &rep, signer, skey, want, &out->cert, &out->cert_len, &out->chain,
		                           &out->chain_len);
		if (err != AE_OK)
			failed(ctx, err, "PKIOperation", post ? "POST" : "GET", 0);
	} else if (rep.status == AE_SCEP_PENDING) {
		out->outcome = AE_CA_PENDING;
		out->message = ae_strdup_printf("pending at the SCEP server (transaction %.16s...)%s%s", tid,
		                                l->plain ? ", " : "", l->plain ? UNPROTECTED : "");
	} else {
		out->outcome = AE_CA_REFUSED;
		out->refusal = ae_scep_fail_info_str(rep.fail_info);
		out->final = true;
		failed(ctx, AE_ERR_DENIED, "PKIOperation", post ? "POST" : "GET", 0);
	}
cleanup:
	ae_scep_certrep_clear(&rep);
	ae_http_response_free(resp);
	free(msg);
	free(b64);
	return err;
}

static ae_err
scep_submit_keyed(ae_ctx *ctx, void *state, const ae_ca *ca, const uint8_t *req_der, size_t len, EVP_PKEY *key,
                  X509 *old_cert, EVP_PKEY *old_key, ae_ca_answer *out)
{
	scep_link *l = state;
	const unsigned char *p = req_der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
	X509 *self = NULL;
	char tid[65];
	bool weak;
	int type = AE_SCEP_PKCSREQ;
	ae_err err;

	(void)ca;
	if (req == NULL)
		return ae_set_message(ctx, AE_ERR_INTERNAL, "the SCEP request is not a PKCS#10");
	if ((err = transaction_id(ctx, key, tid)) != AE_OK)
		goto cleanup;
	if (old_cert != NULL) {
		/* RFC 8894 3.3.1.2: RenewalReq signed with the current
		 * certificate where offered; else a PKCSReq signed with it,
		 * which NDES also takes as a renewal */
		if (l->caps & AE_SCEP_CAP_RENEWAL)
			type = AE_SCEP_RENEWALREQ;
		err = pki_operation(ctx, l, type, tid, req_der, len, old_cert, old_key, key, out);
	} else if ((err = self_signed(ctx, X509_REQ_get_subject_name(req), key, ae_scep_digest(l->caps, &weak), &self)) ==
	           AE_OK) {
		err = pki_operation(ctx, l, type, tid, req_der, len, self, key, key, out);
	}
cleanup:
	X509_free(self);
	X509_REQ_free(req);
	return unprotected(ctx, l, err);
}

/* RFC 8894 3.3.3: CertPoll (GetCertInitial) for the pending request of
 * KEY, whose subject is SUBJECT (DER): IssuerAndSubject ::= SEQUENCE {
 * issuer Name (the CA's), subject Name }, in a pkiMessage with the
 * request's transactionID, signed like the request with a self-signed
 * certificate for KEY. */
static ae_err
scep_retrieve_keyed(ae_ctx *ctx, void *state, const ae_ca *ca, const uint8_t *subject, size_t subject_len,
                    EVP_PKEY *key, ae_ca_answer *out)
{
	scep_link *l = state;
	const unsigned char *p = subject;
	X509_NAME *subj = d2i_X509_NAME(NULL, &p, (long)subject_len);
	unsigned char *issuer = NULL;
	int issuer_len = i2d_X509_NAME(X509_get_subject_name(l->certs.ca), &issuer);
	uint8_t *ias = NULL;
	size_t body, hdr, ias_len = 0;
	X509 *self = NULL;
	char tid[65];
	bool weak;
	ae_err err;

	(void)ca;
	if (subj == NULL || p != subject + subject_len) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "the record's subject for the CertPoll is not a DER Name");
		goto cleanup;
	}
	if (issuer_len <= 0) {
		err = ae_set_message(ctx, AE_ERR_CRYPTO, "cannot encode the SCEP CA's name");
		goto cleanup;
	}
	body = (size_t)issuer_len + subject_len;
	hdr = body < 0x80 ? 2 : body < 0x100 ? 3 : body < 0x10000 ? 4 : 0;
	if (hdr == 0 || (ias = malloc(hdr + body)) == NULL) {
		err = ae_set_message(ctx, hdr == 0 ? AE_ERR_INVALID : AE_ERR_NOMEM,
		                     hdr == 0 ? "the CertPoll's names are too long" : "out of memory");
		goto cleanup;
	}
	ias[0] = 0x30; /* SEQUENCE, DER length */
	if (hdr == 2)
		ias[1] = (uint8_t)body;
	else if (hdr == 3)
		ias[1] = 0x81, ias[2] = (uint8_t)body;
	else
		ias[1] = 0x82, ias[2] = (uint8_t)(body >> 8), ias[3] = (uint8_t)body;
	memcpy(ias + hdr, issuer, (size_t)issuer_len);
	memcpy(ias + hdr + issuer_len, subject, subject_len);
	ias_len = hdr + body;
	if ((err = transaction_id(ctx, key, tid)) != AE_OK ||
	    (err = self_signed(ctx, subj, key, ae_scep_digest(l->caps, &weak), &self)) != AE_OK)
		goto cleanup;
	err = pki_operation(ctx, l, AE_SCEP_CERTPOLL, tid, ias, ias_len, self, key, key, out);
cleanup:
	X509_free(self);
	free(ias);
	OPENSSL_free(issuer);
	X509_NAME_free(subj);
	return unprotected(ctx, l, err);
}

static ae_err
scep_ca_certs(ae_ctx *ctx, void *state, const ae_ca *ca, STACK_OF(X509) **out)
{
	scep_link *l = state;
	STACK_OF(X509) *sk = sk_X509_new_null();

	(void)ca;
	*out = NULL;
	if (sk == NULL || sk_X509_push(sk, l->certs.ca) <= 0) {
		sk_X509_free(sk);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	X509_up_ref(l->certs.ca);
	for (int i = 0; i < sk_X509_num(l->certs.all); i++) {
		X509 *x = sk_X509_value(l->certs.all, i);
		if (x == l->certs.ca)
			continue;
		if (sk_X509_push(sk, x) <= 0) {
			sk_X509_pop_free(sk, X509_free);
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
		X509_up_ref(x);
	}
	*out = sk;
	return AE_OK;
}

static ae_err
scep_capabilities(ae_ctx *ctx, void *state, const ae_ca *ca, char ***out)
{
	char buf[160], *save = NULL;
	char **v = NULL;

	(void)ca;
	*out = NULL;
	ae_scep_caps_str(((scep_link *)state)->caps, buf, sizeof(buf));
	for (char *w = strtok_r(buf, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save))
		if (!ae_strv_append(&v, w)) {
			ae_strv_free(v);
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
	*out = v;
	return AE_OK;
}

static ae_err
scep_submit(ae_ctx *ctx, void *state, const ae_ca *ca, const char *attrs, const uint8_t *req, size_t len,
            ae_ca_answer *out)
{
	(void)state;
	(void)attrs;
	(void)req;
	(void)len;
	(void)out;
	return ae_set_message(ctx, AE_ERR_INTERNAL, "an SCEP request for %s must be signed by its key (submit_keyed)",
	                      ca->name);
}

static unsigned
scep_round_trips(void *state)
{
	return ((scep_link *)state)->trips;
}

static void
scep_close(void *state)
{
	scep_link *l = state;

	if (l == NULL)
		return;
	ae_scep_ca_certs_clear(&l->certs);
	free(l->url);
	free(l->trust_pem);
	free(l);
}

const ae_transport_ops ae_transport_scep = {
	.name = "SCEP",
	.open = scep_open,
	.submit = scep_submit,
	.submit_keyed = scep_submit_keyed,
	.retrieve_keyed = scep_retrieve_keyed,
	.ca_certs = scep_ca_certs,
	.capabilities = scep_capabilities,
	.round_trips = scep_round_trips,
	.close = scep_close,
};
