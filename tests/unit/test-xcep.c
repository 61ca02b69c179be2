/*
 * test-xcep.c - MS-XCEP GetPoliciesResponse (ae_xcep_parse), from answers
 * of the lab CEP shortened to four templates: the policy ID and
 * nextUpdateHours, templates with their attributes and the server's word
 * on the rights, the CA named by its certificate's CN with its Kerberos
 * https CES URIs by priority (http:// and password URIs left out), the key
 * algorithm from algorithmOIDReference, a template that does not parse
 * listed as invalid, renewal-only URIs kept apart, policiesNotChanged, a
 * fault, a missing policyID; then the decisions on that policy.  The files are also the seeds of
 * tests/fuzz/corpus/xcep.
 */
#include "config.h"

#include "tap.h"
#include "transport.h"
#include "util.h"
#include "xcep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ae_err
parse(ae_ctx *ctx, const char *name, ae_policy *p, ae_xcep_info *info)
{
	size_t len = 0;
	char *xml = tap_slurp("tests/fuzz/corpus/xcep", name, &len);
	ae_err err;

	if (xml == NULL)
		return AE_ERR_NOTFOUND;
	err = ae_xcep_parse(ctx, "the CEP", xml, len, AE_XCEP_AUTH_KERBEROS, p, info);
	free(xml);
	return err;
}

static const ae_template *
tpl(const ae_policy *p, const char *name)
{
	for (size_t i = 0; i < p->template_count; i++)
		if (strcmp(p->templates[i]->name, name) == 0)
			return p->templates[i];
	return NULL;
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_policy p = { 0 };
	ae_xcep_info info;
	const ae_template *t;
	const ae_policy_item *it;

	tap_ok(parse(ctx, "policies.xml", &p, &info) == AE_OK, "policies.xml parses");
	tap_ok(p.policy_id && p.policy_id[0] == '{' && strlen(p.policy_id) == 38, "policy ID {GUID}");
	tap_ok(info.next_update_hours == 8 && !info.not_changed, "nextUpdateHours 8, changed");
	tap_ok(p.template_count == 4 && p.invalid_templates == NULL, "four templates");
	t = tpl(&p, "LabUser");
	tap_ok(t && t->schema_version == 2 && t->major == 100 && !(t->flags & AE_CT_FLAG_MACHINE_TYPE),
	   "LabUser: schema 2, version 100, a user template");
	tap_ok(t && t->server_permission && t->server_enroll && t->server_autoenroll && t->sd == NULL,
	   "LabUser: Enroll and AutoEnroll as the server says, no security descriptor");
	tap_ok(t && t->has_validity && t->validity_seconds > 0 && t->ekus && t->oid, "LabUser: validity, EKU, OID");
	t = tpl(&p, "User");
	tap_ok(t && t->schema_version == 1 && !t->server_autoenroll, "User: schema 1, no AutoEnroll");
	t = tpl(&p, "LabECDSA");
	tap_ok(t && t->key_alg == AE_KEY_ALG_ECDSA_P256, "LabECDSA: ECDSA_P256 from algorithmOIDReference");
	/* MS-XCEP 3.1.4.1.3.15 keyArchivalAttributes -> the archival cipher */
	tap_ok(t && t->symmetric_alg && strcmp(t->symmetric_alg, "3DES") == 0 && t->symmetric_key_length == 168,
	       "LabECDSA: keyArchivalAttributes des-ede3-cbc, 168 bits -> 3DES 168");
	t = tpl(&p, "LabUser");
	tap_ok(t && t->symmetric_alg && strcmp(t->symmetric_alg, "1.2.840.113549.3.2") == 0 &&
	           t->symmetric_key_length == 128,
	       "LabUser: an archival cipher autoenroll does not know (RC2) passes as its OID");
	t = tpl(&p, "User");
	tap_ok(t && t->symmetric_alg == NULL && t->symmetric_key_length == 0, "User: keyArchivalAttributes nil: none");
	t = tpl(&p, "LabShort");
	tap_ok(t && t->has_renewal && t->renewal_seconds == 2 * 3600 && t->validity_seconds == 86400,
	   "LabShort: 1 day, 2 h renewal period");
	tap_ok(t && t->symmetric_alg && strcmp(t->symmetric_alg, "AES") == 0 && t->symmetric_key_length == 256,
	       "LabShort: keyArchivalAttributes aes256-CBC -> AES 256");
	tap_ok(p.pki.ca_count == 1 && strcmp(p.pki.cas[0].name, "CORP-CA1") == 0 && p.pki.cas[0].cert != NULL,
	   "the CA, named by its certificate's CN");
	tap_ok(p.pki.cas[0].url && strcmp(p.pki.cas[0].url, "https://ces2.corp.test/CORP-CA1_CES_Kerberos/service.svc/CES") == 0 &&
	           ae_strv_len(p.pki.cas[0].fallback_urls) == 1 &&
	           strstr(p.pki.cas[0].fallback_urls[0], "https://ces.corp.test/") == p.pki.cas[0].fallback_urls[0],
	   "CES URIs by priority, https and Kerberos only");
	tap_ok(p.pki.cas[0].transport == &ae_transport_ces && ae_strv_contains(p.pki.cas[0].templates, "LabUser"),
	   "the CA is reached over MS-WSTEP and publishes LabUser");
	tap_ok(p.oid_count > 0, "OIDs");
	/* decisions: the CA must chain, so without roots it is not usable */
	p.context = AE_CONTEXT_USER;
	tap_ok(ae_policy_decide(ctx, &p) == AE_OK, "decided");
	it = ae_policy_find_item(&p, "User");
	tap_ok(it && it->decision == AE_DECISION_SKIP && strstr(it->reason, "as the policy server reports it"),
	   "User: skipped, no AutoEnroll right as the server reports it");
	p.pki.cas[0].valid = true;
	tap_ok(ae_policy_decide(ctx, &p) == AE_OK && (it = ae_policy_find_item(&p, "LabUser")) &&
	           it->decision == AE_DECISION_AUTOENROLL,
	   "LabUser: autoenroll once the CA validates");
	ae_policy_clear(&p);

	/* renewalOnly URIs (MS-XCEP 3.1.4.1.3.5): apart, by priority, https
	 * with certificate authentication only, whatever the wanted mode */
	tap_ok(parse(ctx, "renewal-only.xml", &p, &info) == AE_OK && p.pki.ca_count == 1, "renewal-only.xml parses");
	tap_ok(p.pki.cas[0].url && strcmp(p.pki.cas[0].url, "https://ces.corp.test/CORP-CA1_CES_Kerberos/service.svc/CES") == 0 &&
	           p.pki.cas[0].fallback_urls == NULL && ae_strv_len(p.pki.cas[0].renewal_urls) == 2 &&
	           strcmp(p.pki.cas[0].renewal_urls[0], "https://kbr0.corp.test/CES") == 0 &&
	           strstr(p.pki.cas[0].renewal_urls[1], "/KeyBasedRenewal_CORP-CA1_CES_Certificate/") != NULL,
	   "Kerberos: the Kerberos URI, and apart the https certificate renewal-only URIs by priority");
	ae_policy_clear(&p);
	{
		size_t len = 0;
		char *xml = tap_slurp("tests/fuzz/corpus/xcep", "renewal-only.xml", &len);
		tap_ok(xml && ae_xcep_parse(ctx, "the CEP", xml, len, AE_XCEP_AUTH_PASSWORD, &p, &info) == AE_OK &&
		           p.pki.cas[0].url == NULL && ae_strv_len(p.pki.cas[0].renewal_urls) == 2 &&
		           p.pki.cas[0].transport == &ae_transport_ces && p.pki.cas[0].host &&
		           strcmp(p.pki.cas[0].host, "kbr0.corp.test") == 0,
		   "no URI of the wanted authentication: only the renewal-only ones, still over MS-WSTEP");
		free(xml);
		ae_policy_clear(&p);
	}

	tap_ok(parse(ctx, "not-changed.xml", &p, &info) == AE_OK && info.not_changed && p.template_count == 0,
	   "policiesNotChanged: no templates");
	ae_policy_clear(&p);
	tap_ok(parse(ctx, "bad-template.xml", &p, &info) == AE_OK && p.template_count == 3 &&
	           ae_strv_len(p.invalid_templates) == 1 && strncmp(p.invalid_templates[0], "LabShort\t", 9) == 0,
	   "a template whose policySchema is not a number: listed as invalid, the rest applies");
	ae_policy_clear(&p);
	tap_ok(parse(ctx, "fault.xml", &p, &info) == AE_ERR_NETWORK && strstr(ae_get_message(ctx), "internal error"),
	   "a SOAP fault: the server's failure, with its reason");
	tap_ok(parse(ctx, "no-policy-id.xml", &p, &info) == AE_ERR_INVALID && strstr(ae_get_message(ctx), "policyID") &&
	           p.templates == NULL,
	   "no policyID: refused, nothing kept");
	ae_policy_clear(&p);
	{
		ae_policy_server *s = NULL;
		size_t n = 0;
		char *entries[] = { "https://b/CEP", "LDAP:@5", "https://a/CEP@1", NULL };
		tap_ok(ae_policy_servers_parse(ctx, entries, &s, &n) == AE_OK && n == 3 && strcmp(s[0].url, "https://b/CEP") == 0 &&
		           s[0].cost == 0 && strcmp(s[1].url, "https://a/CEP") == 0 && strcmp(s[2].url, "LDAP:") == 0 &&
		           s[2].cost == 5,
		   "policy_servers: by cost, ties in list order, @COST taken off the URL");
		ae_policy_servers_free(s, n);
	}
	ae_ctx_free(ctx);
	return tap_done();
}
