/*
 * local.c - state directory, key store and crash recovery of a context.
 */
#include "config.h"

#include "local.h"
#include "hresult.h"
#include "issued.h"
#include "util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
ae_spec_without_pin(const char *spec)
{
	ae_buf b;
	const char *p;

	if (strncmp(spec, "pkcs11:", 7) != 0)
		return strdup(spec);
	/* Attributes are separated by ';' (path) and '&' or '?' (query):
	 * copy every one but pin-value, with the separator after it. */
	ae_buf_init(&b);
	ae_buf_puts(&b, "pkcs11:");
	for (p = spec + 7; *p != '\0';) {
		size_t n = strcspn(p, ";&?");
		bool drop = strncmp(p, "pin-value=", 10) == 0;
		if (!drop)
			ae_buf_append(&b, p, n + (p[n] != '\0'));
		else if (p[n] == '?')
			ae_buf_puts(&b, "?"); /* keep the start of the query */
		p += n + (p[n] != '\0');
	}
	while (b.len > 7 && strchr(";&?", b.data[b.len - 1]) != NULL)
		b.data[--b.len] = '\0';
	return ae_buf_steal(&b);
}

void
ae_local_clear(ae_local *l)
{
	free(l->state_dir);
	free(l->store_spec);
	free(l->store_safe);
	memset(l, 0, sizeof(*l));
}

ae_err
ae_local_init(ae_ctx *ctx, const ae_conf *conf, bool machine, ae_local *l)
{
	const char *dir = machine ? conf->machine_state_dir : conf->user_state_dir;
	const char *spec = machine ? conf->machine_store : conf->user_store;

	memset(l, 0, sizeof(*l));
	l->machine = machine;
	l->state_dir = dir ? strdup(dir) : ae_store_default_dir(machine);
	if (l->state_dir == NULL)
		return ae_set_message(ctx, AE_ERR_CONFIG,
		                      "no state directory for the user: set state_dir in [user] (HOME is unknown)");
	if (spec != NULL)
		l->store_spec = strdup(spec);
	else if (asprintf(&l->store_spec, "file:%s", l->state_dir) < 0)
		l->store_spec = NULL;
	if (l->store_spec == NULL || (l->store_safe = ae_spec_without_pin(l->store_spec)) == NULL) {
		ae_local_clear(l);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	return AE_OK;
}

ae_err
ae_local_recover(ae_ctx *ctx, ae_store *st, ae_keystore *ks, const ae_local *l, unsigned *removed)
{
	ae_record **recs = NULL;
	size_t n = 0;
	ae_err err;

	*removed = 0;
	err = ae_store_load(ctx, st, &recs, &n);
	if (err != AE_OK)
		return err;
	for (size_t i = 0; i < n; i++) {
		ae_record *r = recs[i];
		if (r->state != AE_REC_NEW)
			continue;
		/* The key is in the store the record names; a record from
		 * another store waits until that store is configured again. */
		if (r->key_store != NULL && strcmp(r->key_store, l->store_safe) != 0) {
			ae_log(ctx, AE_LOG_WARNING,
			       "interrupted request %s (%s) has its key in %s, not in the configured store: left as it is",
			       r->id, r->template_name ? r->template_name : "?", r->key_store);
			continue;
		}
		err = ae_keystore_delete(ctx, ks, r->id);
		if (err != AE_OK)
			break;
		ae_test_crash_point("recover-after-key-delete");
		err = ae_store_remove(ctx, st, r->id);
		if (err != AE_OK)
			break;
		ae_log(ctx, AE_LOG_NOTICE, "removed the key and record of an interrupted request for %s (%s)",
		       r->template_name ? r->template_name : "?", r->id);
		(*removed)++;
	}
	ae_records_free(recs, n);
	return err;
}

ae_record *
ae_local_new_record(const ae_local *l, const ae_policy *p, const ae_template *t, const ae_ca *ca)
{
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
	rec->policy_server = strdup(p->url);
	rec->policy_id = p->policy_id ? strdup(p->policy_id) : NULL;
	rec->ca = ca ? strdup(ca->name) : NULL;
	rec->ca_host = ca && ca->host ? strdup(ca->host) : NULL;
	rec->key_store = strdup(l->store_safe);
	if (rec->id == NULL || rec->template_name == NULL || rec->policy_server == NULL ||
	    rec->key_store == NULL || (t->oid && !rec->template_oid) || (ca && !rec->ca)) {
		ae_record_free(rec);
		return NULL;
	}
	return rec;
}

ae_err
ae_local_make_key(ae_ctx *ctx, ae_keystore *ks, const ae_template *t, const ae_record *rec, ae_key **out)
{
	char *label = NULL;
	ae_keygen gen = {
		.alg = t->key_alg == AE_KEY_ALG_UNKNOWN ? AE_KEY_ALG_RSA : t->key_alg,
		.bits = t->min_key_size > 2048 ? t->min_key_size : 2048,
		.id_hex = rec->id,
		.exportable = (t->private_key_flags & AE_PK_EXPORTABLE_KEY) != 0,
	};
	ae_err err;

	*out = NULL;
	if (gen.alg != AE_KEY_ALG_RSA && gen.alg != AE_KEY_ALG_ECDSA_P256 &&
	    gen.alg != AE_KEY_ALG_ECDSA_P384 && gen.alg != AE_KEY_ALG_ECDSA_P521)
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

void
ae_local_abandon(ae_store *st, ae_keystore *ks, const ae_record *rec)
{
	ae_ctx *quiet;

	if (st == NULL || rec == NULL || rec->id == NULL || rec->state != AE_REC_NEW)
		return;
	quiet = ae_ctx_new();
	if (ks != NULL)
		ae_keystore_delete(quiet, ks, rec->id);
	ae_store_remove(quiet, st, rec->id);
	ae_ctx_free(quiet);
}

ae_err
ae_local_install(ae_ctx *ctx, ae_store *st, ae_keystore *ks, const ae_policy *p, ae_record *rec, ae_key *key,
                 const ae_template *tpl, const ae_ca *ca, const ae_icpr_result *res, X509 **cert_out)
{
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	ae_cert_template ct = { 0 };
	char *label = NULL, *uri = NULL;
	ae_err err;

	if (cert_out != NULL)
		*cert_out = NULL;
	if (res->cert == NULL || res->cert_len == 0)
		return ae_set_message(ctx, AE_ERR_INVALID, "CA %s says issued but returned no certificate", ca->name);
	err = ae_x509_from_der(ctx, res->cert, res->cert_len, &cert);
	if (err != AE_OK)
		return ae_prefix_message(ctx, err, "the certificate from CA %s", ca->name);
	err = ae_issued_verify(ctx, cert, ae_key_evp(key), tpl, ca->cert, p->pki.roots, p->pki.intermediates);
	if (err != AE_OK)
		goto cleanup;
	if (ae_certs_from_pkcs7(ctx, res->chain, res->chain_len, &chain) != AE_OK) {
		ae_log(ctx, AE_LOG_WARNING, "%s; storing the certificate without its chain", ae_get_message(ctx));
		ae_clear_message(ctx);
	}
	if (chain != NULL) {
		/* The chain without the leaf itself. */
		for (int i = sk_X509_num(chain) - 1; i >= 0; i--)
			if (X509_cmp(sk_X509_value(chain, i), cert) == 0)
				X509_free(sk_X509_delete(chain, i));
	}
	if (asprintf(&label, AE_KEY_LABEL_PREFIX "%s", tpl->name) < 0)
		label = NULL;
	uri = strdup(ae_key_uri(key));
	if (label == NULL || uri == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if ((err = ae_keystore_store_cert(ctx, ks, rec->id, label, cert, chain)) != AE_OK)
		goto cleanup;
	ae_test_crash_point("enroll-after-token-cert");
	if ((err = ae_store_save_cert(ctx, st, rec->id, cert, chain)) != AE_OK)
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
	err = ae_store_save(ctx, st, rec);
	if (err == AE_OK && cert_out != NULL) {
		*cert_out = cert;
		cert = NULL;
	}
cleanup:
	free(uri);
	free(label);
	sk_X509_pop_free(chain, X509_free);
	X509_free(cert);
	return err;
}

ae_err
ae_local_refusal(ae_ctx *ctx, const ae_icpr_result *res, const char *tpl, const char *ca, const char *caller,
                 uint32_t *hr_out)
{
	uint32_t hr = ae_icpr_hresult(res);
	char *why = ae_hresult_explain(hr, tpl, ca, caller);
	const char *name = ae_hresult_name(hr);
	const char *disp = ae_icpr_disposition_name(res->disposition);
	ae_err err;

	if (hr_out != NULL)
		*hr_out = hr;
	if (disp != NULL && hr == res->disposition)
		err = ae_set_message(ctx, AE_ERR_DENIED, "CA %s did not issue %s: %s%s%s", ca, tpl, disp,
		                     res->message && *res->message ? "; the CA says: " : "",
		                     res->message ? res->message : "");
	else
		err = ae_set_message(ctx, AE_ERR_DENIED, "CA %s did not issue %s: %s (0x%08X%s%s)%s%s", ca, tpl,
		                     why ? why : "refused", hr, name ? " " : "", name ? name : "",
		                     res->message && *res->message ? "; the CA says: " : "",
		                     res->message ? res->message : "");
	free(why);
	return err;
}
