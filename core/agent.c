/*
 * agent.c - the enrollment agent certificate that co-signs a request (see
 * agent.h).
 */
#include "config.h"

#include "agent.h"
#include "pki.h"
#include "util.h"

#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* msPKI-RA-Application-Policies holds OIDs (syntax 1) or, for schema 3+,
 * name`type`value` triples (MS-CRTD 2.23 syntax 2) where the RA's
 * application policies are the values of "msPKI-RA-Application-Policies"
 * itself.  Each OID of either form, in turn, to FN; false when FN says so. */
static bool
each_ra_app_policy(const ae_template *tpl, bool (*fn)(const char *oid, void *arg), void *arg)
{
	for (size_t i = 0; tpl->ra_application_policies && tpl->ra_application_policies[i]; i++) {
		const char *v = tpl->ra_application_policies[i];
		if (strchr(v, '`') == NULL) {
			if (!fn(v, arg))
				return false;
			continue;
		}
		/* syntax 2: name`type`value` ... */
		while (*v != '\0') {
			const char *n_end = strchr(v, '`'), *t_end, *v_end;
			if (n_end == NULL || (t_end = strchr(n_end + 1, '`')) == NULL ||
			    (v_end = strchr(t_end + 1, '`')) == NULL)
				break;
			if ((size_t)(n_end - v) == strlen("msPKI-RA-Application-Policies") &&
			    strncmp(v, "msPKI-RA-Application-Policies", (size_t)(n_end - v)) == 0) {
				char oid[128];
				size_t len = (size_t)(v_end - t_end - 1);
				if (len < sizeof(oid)) {
					memcpy(oid, t_end + 1, len);
					oid[len] = '\0';
					if (!fn(oid, arg))
						return false;
				}
			}
			v = v_end + 1;
		}
	}
	return true;
}

static bool
has_oid(STACK_OF(ASN1_OBJECT) *set, const char *oid)
{
	char buf[128];

	for (int i = 0; set != NULL && i < sk_ASN1_OBJECT_num(set); i++)
		if (OBJ_obj2txt(buf, sizeof(buf), sk_ASN1_OBJECT_value(set, i), 1) > 0 && strcmp(buf, oid) == 0)
			return true;
	return false;
}

typedef struct {
	STACK_OF(ASN1_OBJECT) *have;
	const char *missing;
} eku_check;

static bool
eku_has(const char *oid, void *arg)
{
	eku_check *c = arg;

	if (has_oid(c->have, oid))
		return true;
	c->missing = oid;
	return false;
}

bool
ae_agent_suits(const ae_template *tpl, X509 *cert, int64_t now, bool on_behalf, char **why)
{
	STACK_OF(ASN1_OBJECT) *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
	CERTIFICATEPOLICIES *cp = X509_get_ext_d2i(cert, NID_certificate_policies, NULL, NULL);
	eku_check c = { eku, NULL };
	bool ok = false;

	*why = NULL;
	if (now < (int64_t)ae_asn1_time(X509_get0_notBefore(cert)) ||
	    now >= (int64_t)ae_asn1_time(X509_get0_notAfter(cert))) {
		*why = ae_strdup_printf("it is not valid now");
		goto cleanup;
	}
	if (!each_ra_app_policy(tpl, eku_has, &c)) {
		*why = ae_strdup_printf("its extended key usage lacks %s, which %s asks of RA signers", c.missing,
		                        tpl->name);
		goto cleanup;
	}
	if (on_behalf && !has_oid(eku, AE_OID_CERT_REQUEST_AGENT)) {
		*why = ae_strdup_printf("it is not a Certificate Request Agent (%s), which enrolling on behalf of someone else needs",
		                        AE_OID_CERT_REQUEST_AGENT);
		goto cleanup;
	}
	for (size_t i = 0; tpl->ra_policies && tpl->ra_policies[i]; i++) {
		bool found = false;
		char buf[128];
		for (int k = 0; cp != NULL && k < sk_POLICYINFO_num(cp) && !found; k++)
			found = OBJ_obj2txt(buf, sizeof(buf), sk_POLICYINFO_value(cp, k)->policyid, 1) > 0 &&
			        strcmp(buf, tpl->ra_policies[i]) == 0;
		if (!found) {
			*why = ae_strdup_printf("its certificate policies lack %s, which %s asks of RA signers (msPKI-RA-Policies)",
			                        tpl->ra_policies[i], tpl->name);
			goto cleanup;
		}
	}
	ok = true;
cleanup:
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	CERTIFICATEPOLICIES_free(cp);
	return ok;
}

ae_record *
ae_agent_find(ae_record **recs, size_t n, const ae_template *tpl, int64_t now)
{
	ae_record *best = NULL;
	char *wanted = NULL;
	bool some;

	/* A template that names nothing an RA signer must have matches no
	 * certificate in particular: the pulse does not guess. */
	if ((wanted = ae_agent_wanted(tpl)) == NULL)
		return NULL;
	some = strcmp(wanted, "any application policy") != 0 || ae_strv_len(tpl->ra_policies) > 0;
	free(wanted);
	if (!some)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		ae_record *r = recs[i];
		char *why = NULL;
		bool own = r->template_oid != NULL && tpl->oid != NULL ? strcmp(r->template_oid, tpl->oid) == 0
		                                                       : r->template_name != NULL &&
		                                                                 strcasecmp(r->template_name, tpl->name) == 0;
		if (r->state != AE_REC_ISSUED || r->cert == NULL || own)
			continue;
		if (ae_agent_suits(tpl, r->cert, now, false, &why) &&
		    (best == NULL || ASN1_TIME_compare(X509_get0_notAfter(r->cert), X509_get0_notAfter(best->cert)) > 0))
			best = r;
		free(why);
	}
	return best;
}

static bool
list_oid(const char *oid, void *arg)
{
	ae_buf *b = arg;

	ae_buf_printf(b, "%s%s%s", b->len ? ", " : "", oid,
	              strcmp(oid, AE_OID_CERT_REQUEST_AGENT) == 0 ? " (Certificate Request Agent)" : "");
	return true;
}

char *
ae_agent_wanted(const ae_template *tpl)
{
	ae_buf b;

	ae_buf_init(&b);
	each_ra_app_policy(tpl, list_oid, &b);
	if (b.len == 0 && !b.failed)
		ae_buf_puts(&b, "any application policy");
	return ae_buf_steal(&b);
}
