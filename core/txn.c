/*
 * txn.c - one enrollment transaction (see txn.h).
 */
#include "config.h"

#include "csr.h"
#include "hresult.h"
#include "issued.h"
#include "testhooks.h"
#include "txn.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* The test builds' crash points, "<who>-after-<step>". */
static void
crash_point(const ae_txn_env *env, const char *step)
{
#ifdef AE_TEST_HOOKS
	char point[64];

	snprintf(point, sizeof(point), "%s-after-%s", env->who ? env->who : "txn", step);
	ae_test_crash_point(point);
#else
	(void)env;
	(void)step;
#endif
}

void
ae_txn_result_clear(ae_txn_result *r)
{
	if (r == NULL)
		return;
	free(r->why);
	free(r->ca_message);
	free(r->record_id);
	free(r->key_uri);
	X509_free(r->cert);
	memset(r, 0, sizeof(*r));
}

/* ---- record and key ---- */

static ae_record *
new_record(const ae_txn_env *env, const ae_txn_request *rq)
{
	const ae_template *t = rq->tpl;
	const ae_ca *ca = rq->ca;
	ae_record *rec = ae_record_new();

	if (rec == NULL)
		return NULL;
	rec->id = ae_keystore_new_id();
	rec->state = AE_REC_NEW;
	rec->template_name = strdup(t->name);
	rec->template_oid = t->oid ? strdup(t->oid) : NULL;
	rec->major = t->major;
	rec->minor = t->minor;
	rec->renewal_seconds = t->has_renewal ? t->renewal_seconds : 0;
	rec->policy_server = strdup(env->policy->url);
	rec->policy_id = env->policy->policy_id ? strdup(env->policy->policy_id) : NULL;
	rec->ca = ca ? strdup(ca->name) : NULL;
	rec->ca_host = ca && ca->host ? strdup(ca->host) : NULL;
	rec->key_store = strdup(env->local->store_safe);
	rec->renewal_of = rq->renew ? strdup(rq->renew->id) : NULL;
	rec->scep_profile = rq->scep_profile ? strdup(rq->scep_profile) : NULL;
	if ((rq->scep_profile && !rec->scep_profile) || rec->id == NULL || rec->template_name == NULL || rec->policy_server == NULL || rec->key_store == NULL ||
	    (t->oid && !rec->template_oid) || (ca && !rec->ca) || (rq->renew && !rec->renewal_of)) {
		ae_record_free(rec);
		return NULL;
	}
	return rec;
}

/* The key as template T asks: algorithm, size at least 2048 or the
 * template's minimum, exportable or not, a label naming the template. */
static ae_err
make_key(ae_ctx *ctx, ae_keystore *ks, const ae_template *t, const ae_record *rec, bool archival, ae_key **out)
{
	char *label = NULL;
	ae_keygen gen = {
		.alg = t->key_alg == AE_KEY_ALG_UNKNOWN ? AE_KEY_ALG_RSA : t->key_alg,
		.bits = t->min_key_size > 2048 ? t->min_key_size : 2048,
		.id_hex = rec->id,
		/* an archived key leaves the store once, for the CA */
		.exportable = (t->private_key_flags & AE_PK_EXPORTABLE_KEY) != 0 || archival,
	};
	ae_err err;

	*out = NULL;
	if (gen.alg != AE_KEY_ALG_RSA && gen.alg != AE_KEY_ALG_ECDSA_P256 && gen.alg != AE_KEY_ALG_ECDSA_P384 &&
	    gen.alg != AE_KEY_ALG_ECDSA_P521)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED,
		                      "%s asks for a key algorithm autoenroll cannot sign requests with (ECDH or DSA)",
		                      t->name);
	if (asprintf(&label, AE_KEY_LABEL_PREFIX "%s", t->name) < 0)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	gen.label = label;
	err = ae_keystore_generate(ctx, ks, &gen, out);
	free(label);
	return err;
}

/* Key archival (MS-WCCE 3.1.1.4.3.6): the CA exchange certificate of
 * RQ's CA, fetched through its link and checked (issued by the CA, the CA
 * exchange EKU); the store must give private keys out.  *OUT NULL on
 * error. */
static ae_err
archival_target(ae_ctx *ctx, const ae_txn_env *env, const ae_txn_request *rq, X509 **out)
{
	ae_ca_link *link = NULL;
	ae_err err;

	*out = NULL;
	if (env->ks != NULL && ae_keystore_is_token(env->ks))
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED,
		                      "%s requires private key archival at the CA, and the key store %s keeps private keys "
		                      "on the token (they cannot be exported to the CA): configure a file key store for it",
		                      rq->tpl->name, ae_keystore_describe(env->ks));
	if (rq->ca == NULL || env->links == NULL)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED,
		                      "%s requires private key archival: the request is encrypted to one CA's exchange "
		                      "certificate, so it must be made for a CA it is sent to (enroll, not request)",
		                      rq->tpl->name);
	if ((err = ae_ca_links_get(ctx, env->links, rq->ca, &link)) != AE_OK)
		return err;
	if ((err = ae_ca_link_exchange_cert(ctx, link, rq->ca, out)) != AE_OK) {
		if (err != AE_ERR_UNSUPPORTED)
			ae_ca_links_drop(env->links); /* unusable after a failed call */
		return err;
	}
	if ((err = ae_csr_check_exchange(ctx, *out, rq->ca->cert, rq->ca->name, time(NULL))) != AE_OK) {
		X509_free(*out);
		*out = NULL;
	}
	return err;
}

/* Undoes a request no CA took: its key and record go now rather than at
 * the next run.  Quiet: the caller reports what failed. */
static void
abandon(const ae_txn_env *env, const ae_record *rec)
{
	ae_ctx *quiet;

	if (env->st == NULL || rec == NULL || rec->id == NULL || rec->state != AE_REC_NEW)
		return;
	quiet = ae_ctx_new();
	if (env->ks != NULL)
		ae_keystore_delete(quiet, env->ks, rec->id);
	ae_store_remove(quiet, env->st, rec->id);
	ae_ctx_free(quiet);
}

/* The name the request and its attributes give for this host (rmd:
 * MS-WCCE 2.2.2.7.10, "the requesting machine FQDN"): the dNSHostName of
 * its computer object, for the machine and for its users; the host name
 * only when AD has none. */
static void
machine_name(const ae_txn_env *env, char *buf, size_t size)
{
	const ae_account *a = &env->policy->account;
	const char *dns = a->machine ? a->dns_host_name : a->host_dns_name;

	if (dns != NULL) {
		snprintf(buf, size, "%s", dns);
		return;
	}
	if (gethostname(buf, size - 1) != 0)
		snprintf(buf, size, "localhost");
	buf[size - 1] = '\0';
}

/* What a CertPoll for this request names (RFC 8894 3.3.3,
 * IssuerAndSubject): the request's subject, kept in the record as hex DER. */
static ae_err
keep_scep_subject(ae_ctx *ctx, ae_record *rec, X509_REQ *req)
{
	unsigned char *der = NULL;
	int n = i2d_X509_NAME(X509_REQ_get_subject_name(req), &der);
	char *hex = n > 0 ? malloc(2 * (size_t)n + 1) : NULL;

	if (hex == NULL) {
		OPENSSL_free(der);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", der[i]);
	OPENSSL_free(der);
	free(rec->scep_subject);
	rec->scep_subject = hex;
	return AE_OK;
}

ae_err
ae_txn_begin(ae_ctx *ctx, const ae_txn_env *env, const ae_txn_request *rq, ae_txn **out)
{
	ae_txn *t;
	char host[256];
	X509 *xchg = NULL;
	ae_err err;

	*out = NULL;
	if (rq->ca != NULL && (rq->ca->renewal_only || (rq->ca->url == NULL && rq->ca->renewal_urls != NULL)) &&
	    (rq->renew == NULL || rq->renew_key == NULL || rq->renew->cert == NULL))
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s takes only renewals (renewalOnly, MS-XCEP 3.1.4.1.3.5): a new %s request goes to another of the CA's endpoints",
		                      rq->ca->url ? rq->ca->url : rq->ca->renewal_urls ? rq->ca->renewal_urls[0] : rq->ca->name,
		                      rq->tpl->name);
	t = calloc(1, sizeof(*t));
	if (t == NULL || (t->rec = new_record(env, rq)) == NULL) {
		free(t);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	t->tpl = rq->tpl;
	t->ca = rq->ca;
	t->renewal = rq->renew != NULL && rq->renew_key != NULL && rq->renew->cert != NULL;
	if (t->renewal) {
		/* for key-based renewal (the certificate being renewed
		 * authenticates) and SCEP (it signs the envelope) */
		t->renew_cert = rq->renew->cert;
		t->renew_key = rq->renew_key;
	}
	/* MS-WCCE 3.1.2.4.2.2.2.8 <58>: a same-key renewal does not archive again */
	t->archival = (rq->tpl->private_key_flags & AE_PK_REQUIRE_PRIVATE_KEY_ARCHIVAL) && !(t->renewal && rq->same_key);
	if (t->archival && (err = archival_target(ctx, env, rq, &xchg)) != AE_OK) {
		free(t->rec->id);
		t->rec->id = NULL; /* nothing saved yet */
		goto fail;
	}
	if ((err = ae_store_save(ctx, env->st, t->rec)) != AE_OK)
		goto fail;
	crash_point(env, "record");
	if (t->renewal && rq->same_key) {
		/* MS-WCCE 3.1.2.4.2.2.2.8: the request has the key of the
		 * certificate to be renewed. */
		char *label = ae_strdup_printf(AE_KEY_LABEL_PREFIX "%s", rq->tpl->name);
		err = label != NULL ? ae_keystore_copy(ctx, env->ks, rq->renew->id, t->rec->id, label, &t->key)
		                    : ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		free(label);
	} else {
		err = make_key(ctx, env->ks, rq->tpl, t->rec, t->archival, &t->key);
	}
	if (err != AE_OK)
		goto fail;
	crash_point(env, "keygen");
	machine_name(env, host, sizeof(host));
	{
		ae_csr_params params = {
			.tpl = rq->tpl,
			.subject = rq->subject,
			.san_dns = rq->san_dns,
			.san_upn = rq->san_upn,
			.san_email = rq->san_email,
			.client_id = env->client_id,
			.machine = host,
			.user = env->policy->account.display,
			.process = env->process,
			.archive_to = xchg,
		};
		ae_csr_agent agent = { rq->agent_cert, rq->agent_key ? ae_key_evp(rq->agent_key) : NULL,
			               rq->on_behalf_of };
		if (rq->ca != NULL && rq->ca->transport != NULL && rq->ca->transport->submit_keyed != NULL) {
			/* SCEP: a plain PKCS#10 with the challenge; the transport
			 * signs the envelope (the current certificate for a renewal) */
			params.scep = true;
			params.challenge = rq->challenge;
			if ((err = ae_csr_build_scep(ctx, &params, ae_key_evp(t->key), t->renew_cert, &t->req)) == AE_OK)
				err = ae_csr_to_der(ctx, t->req, &t->der, &t->der_len);
			if (err == AE_OK)
				err = keep_scep_subject(ctx, t->rec, t->req);
		} else if (t->renewal || rq->agent_cert != NULL || xchg != NULL)
			err = ae_csr_build_signed(ctx, &params, ae_key_evp(t->key), t->renewal ? rq->renew->cert : NULL,
			                          t->renewal ? ae_key_evp(rq->renew_key) : NULL,
			                          rq->agent_cert ? &agent : NULL, &t->der, &t->der_len);
		else if ((err = ae_csr_build(ctx, &params, ae_key_evp(t->key), &t->req)) == AE_OK)
			err = ae_csr_to_der(ctx, t->req, &t->der, &t->der_len);
		if (err != AE_OK)
			goto fail;
	}
	X509_free(xchg);
	*out = t;
	return AE_OK;
fail:
	X509_free(xchg);
	ae_txn_free(env, t);
	return err;
}

void
ae_txn_free(const ae_txn_env *env, ae_txn *t)
{
	if (t == NULL)
		return;
	abandon(env, t->rec);
	ae_record_free(t->rec);
	ae_key_free(t->key);
	X509_REQ_free(t->req);
	free(t->der);
	free(t);
}

/* ---- the answer ---- */

/* Installs what CA issued for REC (key KEY, template TPL): checks the
 * certificate (chain to the policy's roots, key, template), stores it on
 * the token next to the key, as a file, then marks the record issued.  A
 * crash in between leaves a new/pending record the next run retries,
 * never a record pointing at nothing. */
static ae_err
install(ae_ctx *ctx, const ae_txn_env *env, ae_record *rec, ae_key *key, const ae_template *tpl, const ae_ca *ca,
        const ae_ca_answer *a, X509 **cert_out)
{
	const ae_policy *p = env->policy;
	X509 *cert = NULL, *ca_cert = ca->cert;
	STACK_OF(X509) *chain = NULL, *link_certs = NULL, *offered = NULL, *anchors = NULL;
	ae_cert_template ct = { 0 };
	char *label = NULL, *uri = NULL;
	ae_err err;

	*cert_out = NULL;
	if (a->cert == NULL || a->cert_len == 0)
		return ae_set_message(ctx, AE_ERR_INVALID, "CA %s says issued but returned no certificate", ca->name);
	err = ae_x509_from_der(ctx, a->cert, a->cert_len, &cert);
	if (err != AE_OK)
		return ae_prefix_message(ctx, err, "the certificate from CA %s", ca->name);
	if (ca_cert == NULL && env->links->link != NULL) {
		/* a CA known only through its transport (SCEP GetCACert) */
		if ((err = ae_ca_link_ca_certs(ctx, env->links->link, ca, &link_certs)) != AE_OK)
			goto cleanup;
		ca_cert = sk_X509_num(link_certs) > 0 ? sk_X509_value(link_certs, 0) : NULL;
		/* and its trust: AD's roots and the configured anchor
		 * (scep_anchor), which the transport checked GetCACert with */
		if (ae_certs_from_pem(ca->endpoint_trust, &anchors) < 0) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
	}
	/* schema 0: a template the server chooses (SCEP), not checked */
	err = ae_issued_verify_chain(ctx, cert, ae_key_evp(key), tpl->schema_version ? tpl : NULL, ca_cert,
	                             anchors ? anchors : p->pki.roots, p->pki.intermediates, &chain);
	if (err != AE_OK)
		goto cleanup;
	/* Only the chain that verified is stored; what else the CA's PKCS#7
	 * carried is dropped, and said (issue 19). */
	if (ae_certs_from_pkcs7(ctx, a->chain, a->chain_len, &offered) == AE_OK) {
		int dropped = 0;
		for (int i = 0; i < sk_X509_num(offered); i++) {
			X509 *o = sk_X509_value(offered, i);
			int kept = X509_cmp(o, cert) == 0;
			for (int j = 0; !kept && j < sk_X509_num(chain); j++)
				kept = X509_cmp(o, sk_X509_value(chain, j)) == 0;
			dropped += !kept;
		}
		if (dropped > 0)
			ae_log(ctx, AE_LOG_INFO,
			       "CA %s sent %d certificate(s) that are not on the verified chain: not stored", ca->name,
			       dropped);
	}
	ae_clear_message(ctx);
	if (asprintf(&label, AE_KEY_LABEL_PREFIX "%s", tpl->name) < 0)
		label = NULL;
	uri = strdup(ae_key_uri(key));
	if (label == NULL || uri == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if ((err = ae_keystore_store_cert(ctx, env->ks, rec->id, label, cert, chain)) != AE_OK)
		goto cleanup;
	ae_test_crash_point("enroll-after-token-cert");
	if ((err = ae_store_save_cert(ctx, env->st, rec->id, cert, chain)) != AE_OK)
		goto cleanup;
	ae_test_crash_point("enroll-after-cert-file");
	if (ae_cert_template_read(ctx, cert, &ct) == AE_OK && ct.template_oid != NULL) {
		rec->major = ct.major;
		rec->minor = ct.minor;
	}
	ae_clear_message(ctx);
	ae_cert_template_clear(&ct);
	rec->state = AE_REC_ISSUED;
	free(rec->key_uri);
	rec->key_uri = uri;
	uri = NULL;
	err = ae_store_save(ctx, env->st, rec);
	if (err == AE_OK) {
		*cert_out = cert;
		cert = NULL;
	}
cleanup:
	free(uri);
	free(label);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(offered, X509_free);
	sk_X509_pop_free(link_certs, X509_free);
	sk_X509_pop_free(anchors, X509_free);
	X509_free(cert);
	return err;
}

ae_err
ae_txn_refusal(ae_ctx *ctx, const ae_ca_answer *a, const char *tpl, const char *ca, const char *caller,
               uint32_t *hr_out)
{
	uint32_t hr = a->hresult;
	const char *said = a->message && *a->message ? "; the CA says: " : "";
	const char *msg = a->message ? a->message : "";
	char *why;
	const char *name;
	ae_err err;

	if (hr_out != NULL)
		*hr_out = hr;
	if (a->refusal != NULL)
		return ae_set_message(ctx, AE_ERR_DENIED, "CA %s did not issue %s: %s%s%s", ca, tpl, a->refusal, said, msg);
	why = ae_hresult_explain(hr, tpl, ca, caller);
	name = ae_hresult_name(hr);
	err = ae_set_message(ctx, AE_ERR_DENIED, "CA %s did not issue %s: %s (0x%08X%s%s)%s%s", ca, tpl,
	                     why ? why : "refused", hr, name ? " " : "", name ? name : "", said, msg);
	free(why);
	return err;
}

/* Acts on the answer A about REC: see ae_txn_submit. */
static ae_err
conclude(ae_ctx *ctx, const ae_txn_env *env, ae_record *rec, ae_key *key, const ae_template *tpl,
         const ae_ca *ca, ae_ca_answer *a, bool retrieval, ae_txn_result *out)
{
	ae_err err = AE_OK;

	out->outcome = a->outcome;
	out->request_id = a->request_id ? a->request_id : rec->request_id;
	out->ca_message = a->message;
	a->message = NULL;
	if (a->outcome == AE_CA_ISSUED) {
		if ((err = install(ctx, env, rec, key, tpl, ca, a, &out->cert)) != AE_OK)
			return err;
	} else if (a->outcome == AE_CA_PENDING) {
		if (!retrieval) {
			rec->state = AE_REC_PENDING;
			free(rec->key_uri);
			if ((rec->key_uri = strdup(ae_key_uri(key))) == NULL)
				return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			if ((err = ae_store_save(ctx, env->st, rec)) != AE_OK)
				return err;
		}
	} else {
		/* The refusal in words, without failing the call: the CA answered,
		 * in its own words too (already moved to OUT). */
		ae_ca_answer said = *a;
		said.message = out->ca_message;
		ae_txn_refusal(ctx, &said, tpl->name, ca->name, env->policy->account.display, &out->hresult);
		out->why = strdup(ae_get_message(ctx));
		ae_clear_message(ctx);
		out->final = !retrieval || a->final;
		if (retrieval && a->final) {
			/* Denied, or unknown to the CA: the request is over, so are
			 * its key and record. */
			ae_ctx *quiet = ae_ctx_new();
			ae_keystore_delete(quiet, env->ks, rec->id);
			ae_store_remove(quiet, env->st, rec->id);
			ae_ctx_free(quiet);
			rec->state = AE_REC_ARCHIVED; /* gone: not looked at again */
		}
		if (out->why == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		return AE_OK;
	}
	if ((out->record_id = strdup(rec->id)) == NULL || (out->key_uri = strdup(ae_key_uri(key))) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	return AE_OK;
}

/* T's request to CA (T's CA, or its key-based view) as CA's transport
 * and endpoint take it. */
static ae_err
submit_to(ae_ctx *ctx, const ae_txn_env *env, ae_txn *t, const ae_ca *ca, const char *attrs, ae_ca_answer *a)
{
	ae_ca_link *link = NULL;
	ae_err err;

	if ((err = ae_ca_links_get(ctx, env->links, ca, &link)) != AE_OK)
		return err;
	if (ca->transport->submit_keyed != NULL)
		err = ae_ca_link_submit_keyed(ctx, link, ca, t->der, t->der_len, ae_key_evp(t->key), t->renew_cert,
		                              t->renew_key ? ae_key_evp(t->renew_key) : NULL, a);
	else if (ca->renewal_only)
		err = ae_ca_link_submit_as(ctx, link, ca, attrs, t->der, t->der_len, t->renew_cert,
		                           t->renew_key ? ae_key_evp(t->renew_key) : NULL, a);
	else
		err = ae_ca_link_submit(ctx, link, ca, attrs, t->der, t->der_len, a);
	if (err != AE_OK)
		ae_ca_links_drop(env->links); /* unusable after a failed call */
	return err;
}

ae_err
ae_txn_submit(ae_ctx *ctx, const ae_txn_env *env, ae_txn *t, ae_txn_result *out)
{
	ae_ca_answer a = { 0 };
	char *attrs = NULL;
	char host[256];
	bool kbr_only, kbr_ok;
	ae_err err;

	memset(out, 0, sizeof(*out));
	t->reached = false;
	if (t->ca == NULL)
		return ae_set_message(ctx, AE_ERR_INTERNAL, "a request without a CA was submitted");
	machine_name(env, host, sizeof(host));
	if ((err = ae_csr_attributes(ctx, t->tpl->name, host, env->policy->origin.server, &attrs)) != AE_OK)
		goto cleanup;
	kbr_only = t->ca->url == NULL && t->ca->renewal_urls != NULL;
	kbr_ok = t->renewal && t->renew_cert != NULL && t->renew_key != NULL && t->ca->renewal_urls != NULL &&
	         !t->ca->renewal_only;
	if (kbr_only && !kbr_ok) {
		err = ae_set_message(ctx, AE_ERR_INVALID,
		                     "CA %s has only renewal-only CES URIs (renewalOnly, MS-XCEP 3.1.4.1.3.5): a new %s request does not go there",
		                     t->ca->name, t->tpl->name);
		goto cleanup;
	}
	if (!kbr_only)
		err = submit_to(ctx, env, t, t->ca, attrs, &a);
	/* Key-based renewal (MS-XCEP 3.1.4.1.3.5 renewalOnly): a renewal the
	 * CA's other URIs could not take (no credential for them, no answer)
	 * goes to its renewal-only URIs, the TLS client authenticated by the
	 * certificate being renewed, and signed with its key (MS-WSTEP
	 * 3.1.4.2.1.1, 4.1.5.1: a renewal request is an Issue). */
	if (kbr_ok && (kbr_only || (err != AE_OK && err != AE_ERR_NOMEM))) {
		ae_ca kb = *t->ca;
		kb.url = t->ca->renewal_urls[0];
		kb.fallback_urls = t->ca->renewal_urls + 1;
		kb.renewal_urls = NULL;
		kb.renewal_only = true;
		kb.endpoint_auth = AE_CA_AUTH_CERTIFICATE;
		if (kbr_only)
			ae_log(ctx, AE_LOG_INFO, "%s: CA %s has only renewal-only URIs; the renewal goes to %s", t->tpl->name,
			       t->ca->name, kb.url);
		else
			ae_log(ctx, AE_LOG_WARNING,
			       "%s: %s; the renewal goes to the CA's renewal-only URI %s, authenticated by the certificate being renewed",
			       t->tpl->name, ae_get_message(ctx), kb.url);
		ae_clear_message(ctx);
		err = submit_to(ctx, env, t, &kb, attrs, &a);
	}
	if (err != AE_OK)
		goto cleanup;
	t->reached = true;
	crash_point(env, "submit");
	t->rec->request_id = a.request_id;
	err = conclude(ctx, env, t->rec, t->key, t->tpl, t->ca, &a, false, out);
	if (err != AE_OK)
		t->rec->state = AE_REC_NEW; /* the CA issued, we could not install: the request is over */
cleanup:
	ae_ca_answer_clear(&a);
	free(attrs);
	if (err != AE_OK)
		ae_txn_result_clear(out);
	return err;
}

ae_err
ae_txn_retarget(ae_ctx *ctx, ae_txn *t, const ae_ca *ca)
{
	char *name, *host;

	if (t->archival)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED,
		                      "the request's private key is encrypted to CA %s's exchange certificate: it cannot "
		                      "go to CA %s instead",
		                      t->ca->name, ca->name);
	name = strdup(ca->name);
	host = ca->host ? strdup(ca->host) : NULL;

	if (name == NULL || (ca->host != NULL && host == NULL)) {
		free(name);
		free(host);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	free(t->rec->ca);
	free(t->rec->ca_host);
	t->rec->ca = name;
	t->rec->ca_host = host;
	t->ca = ca;
	return AE_OK;
}

ae_err
ae_txn_keep_as_request(ae_ctx *ctx, const ae_txn_env *env, ae_txn *t)
{
	ae_err err;

	t->rec->state = AE_REC_REQUESTED;
	free(t->rec->key_uri);
	if ((t->rec->key_uri = strdup(ae_key_uri(t->key))) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	if ((err = ae_store_save(ctx, env->st, t->rec)) != AE_OK)
		return err;
	crash_point(env, "final");
	return AE_OK;
}

ae_err
ae_txn_enroll(ae_ctx *ctx, const ae_txn_env *env, const ae_txn_request *rq, ae_txn_result *out)
{
	ae_txn *t = NULL;
	ae_err err;

	memset(out, 0, sizeof(*out));
	if ((err = ae_txn_begin(ctx, env, rq, &t)) != AE_OK)
		return err;
	err = ae_txn_submit(ctx, env, t, out);
	ae_txn_free(env, t);
	return err;
}

ae_err
ae_txn_retrieve(ae_ctx *ctx, const ae_txn_env *env, ae_record *rec, const ae_template *tpl, const ae_ca *ca,
                ae_txn_result *out)
{
	ae_key *key = NULL;
	ae_ca_link *link = NULL;
	ae_ca_answer a = { 0 };
	ae_err err;

	memset(out, 0, sizeof(*out));
	if ((err = ae_keystore_find(ctx, env->ks, rec->id, &key)) != AE_OK)
		return ae_prefix_message(ctx, err, "the key of request %u", rec->request_id);
	if ((err = ae_ca_links_get(ctx, env->links, ca, &link)) != AE_OK)
		goto cleanup;
	if (ca->transport != NULL && ca->transport->retrieve_keyed != NULL) {
		/* SCEP: CertPoll signed with the request's key, naming its subject */
		long n = 0;
		unsigned char *subj = rec->scep_subject ? OPENSSL_hexstr2buf(rec->scep_subject, &n) : NULL;
		if (subj == NULL) {
			err = ae_set_message(ctx, AE_ERR_INVALID,
			                     "record %s does not keep the request's subject that a CertPoll names (made by an older autoenroll: enroll again)",
			                     rec->id);
			goto cleanup;
		}
		err = ae_ca_link_retrieve_keyed(ctx, link, ca, subj, (size_t)n, ae_key_evp(key), &a);
		OPENSSL_free(subj);
	} else
		err = ae_ca_link_retrieve(ctx, link, ca, rec->request_id, &a);
	if (err != AE_OK) {
		ae_ca_links_drop(env->links);
		goto cleanup;
	}
	err = conclude(ctx, env, rec, key, tpl, ca, &a, true, out);
cleanup:
	ae_ca_answer_clear(&a);
	ae_key_free(key);
	if (err != AE_OK)
		ae_txn_result_clear(out);
	return err;
}
