/*
 * test-policy.c - the autoenrollment decision for each template, from the
 * real Windows default templates and enrollment service, for a domain
 * controller's machine context and a Domain Users member, then with one
 * condition of the whitepaper changed at a time.
 */
#include "config.h"

#include "ldif.h"
#include "policy.h"
#include "tap.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define DOM "S-1-5-21-1047456448-2337630968-2720937775"

static ldif_file templates_ldif, es_ldif;

static ae_policy *
new_policy(ae_ctx *ctx, ae_context context, const char *const *sids, const char *display)
{
	ae_policy *p = calloc(1, sizeof(*p));

	p->context = context;
	p->account.display = strdup(display);
	ae_token_init(&p->account.token);
	for (size_t i = 0; sids[i] != NULL; i++)
		ae_token_add_string(ctx, &p->account.token, sids[i]);
	ae_sid_from_string(ctx, sids[0], &p->account.sid);
	p->pki.cas = calloc(1, sizeof(ae_ca));
	if (ae_ca_from_entry(ctx, &es_ldif.entries[0], &p->pki.cas[0]) == AE_OK)
		p->pki.ca_count = 1;
	p->pki.cas[0].valid = true; /* validation itself is test-pki's job */
	p->templates = calloc(templates_ldif.count, sizeof(ae_template *));
	for (size_t i = 0; i < templates_ldif.count; i++) {
		ae_template *t = NULL;
		if (ae_template_from_entry(ctx, &templates_ldif.entries[i], &t) == AE_OK)
			p->templates[p->template_count++] = t;
	}
	return p;
}

static ae_template *
tpl(ae_policy *p, const char *name)
{
	for (size_t i = 0; i < p->template_count; i++)
		if (strcmp(p->templates[i]->name, name) == 0)
			return p->templates[i];
	return NULL;
}

static const ae_policy_item *
item(const ae_policy *p, const char *name)
{
	for (size_t i = 0; i < p->item_count; i++)
		if (strcmp(p->items[i].name, name) == 0)
			return &p->items[i];
	return NULL;
}

static void
expect(ae_ctx *ctx, ae_policy *p, const char *name, ae_decision d, const char *reason_part,
       const char *what)
{
	const ae_policy_item *it;

	if (ae_policy_decide(ctx, p) != AE_OK) {
		tap_ok(0, "%s: decide failed: %s", what, ae_get_message(ctx));
		return;
	}
	it = item(p, name);
	tap_ok(it != NULL && it->decision == d && strstr(it->reason, reason_part) != NULL,
	       "%s: %s is %s (%s)", what, name, ae_decision_name(d), reason_part);
	if (it != NULL && (it->decision != d || strstr(it->reason, reason_part) == NULL))
		tap_diag("  got %s: %s", ae_decision_name(it->decision), it->reason);
}

int
main(void)
{
	static const char *const dc_token[] = {
		DOM "-1001", DOM "-516", "S-1-5-9", "S-1-1-0", "S-1-5-11", "S-1-5-15", NULL
	};
	static const char *const du_token[] = {
		DOM "-1105", DOM "-513", "S-1-1-0", "S-1-5-11", "S-1-5-15", NULL
	};
	ae_ctx *ctx = ae_ctx_new();
	char err[256];
	ae_policy *p;
	size_t n_auto = 0;

	if (ldif_read_file(SRCDIR "/tests/data/windows-default-templates.ldif", &templates_ldif, err, sizeof(err)) != 0 ||
	    ldif_read_file(SRCDIR "/tests/data/windows-enrollment-service.ldif", &es_ldif, err, sizeof(err)) != 0) {
		tap_ok(0, "fixtures: %s", err);
		return tap_done();
	}

	/* A domain controller, machine context, real defaults. */
	p = new_policy(ctx, AE_CONTEXT_MACHINE, dc_token, "DOM\\DC1$");
	tap_is_int(p->template_count, 33, "33 default templates");
	tap_ok(ae_policy_decide(ctx, p) == AE_OK && p->item_count == 33, "decided for all");
	for (size_t i = 0; i < p->item_count; i++)
		if (p->items[i].decision == AE_DECISION_AUTOENROLL)
			n_auto++;
	tap_is_int(n_auto, 3, "a DC autoenrolls three default templates");
	expect(ctx, p, "DomainControllerAuthentication", AE_DECISION_AUTOENROLL, "from dom-ADCS-CA", "DC");
	expect(ctx, p, "KerberosAuthentication", AE_DECISION_AUTOENROLL, "set up for autoenrollment", "DC");
	expect(ctx, p, "DirectoryEmailReplication", AE_DECISION_AUTOENROLL, "set up", "DC");
	expect(ctx, p, "DomainController", AE_DECISION_SKIP, "no AutoEnroll right for DOM\\DC1$", "DC");
	expect(ctx, p, "Machine", AE_DECISION_SKIP, "no Enroll right", "DC (not a Domain Computers member)");
	expect(ctx, p, "User", AE_DECISION_SKIP, "user template", "DC machine context");
	tap_ok(item(p, "KerberosAuthentication")->enroll && item(p, "KerberosAuthentication")->autoenroll,
	       "enroll and autoenroll flags reported");
	tap_ok(!item(p, "DomainController")->autoenroll && item(p, "DomainController")->enroll,
	       "DomainController: Enroll but not AutoEnroll");

	/* One condition at a time, on KerberosAuthentication. */
	{
		ae_template *k = tpl(p, "KerberosAuthentication");
		ae_ca *ca = &p->pki.cas[0];
		char **saved = ca->templates;

		ca->templates = NULL;
		ae_strv_append(&ca->templates, "DomainControllerAuthentication");
		expect(ctx, p, "KerberosAuthentication", AE_DECISION_SKIP, "not published by any CA", "unpublished");
		ae_strv_free(ca->templates);
		ca->templates = saved;

		ca->valid = false;
		ca->invalid_reason = strdup("expired");
		expect(ctx, p, "KerberosAuthentication", AE_DECISION_SKIP,
		       "published only by CA dom-ADCS-CA, which is not usable: expired", "CA invalid");
		ca->valid = true;

		k->enrollment_flags |= AE_EF_USER_INTERACTION_REQUIRED;
		expect(ctx, p, "KerberosAuthentication", AE_DECISION_SKIP,
		       "machine template requires user interaction", "machine + user interaction");
		k->enrollment_flags &= ~(uint32_t)AE_EF_USER_INTERACTION_REQUIRED;

		k->ra_signatures = 2;
		expect(ctx, p, "KerberosAuthentication", AE_DECISION_SKIP, "requires 2 RA signatures", "RA 2");
		k->ra_signatures = 1;
		expect(ctx, p, "KerberosAuthentication", AE_DECISION_MANUAL_RENEW_ONLY, "RA signature", "RA 1");
		k->ra_signatures = 0;

		k->private_key_flags |= AE_PK_REQUIRE_PRIVATE_KEY_ARCHIVAL;
		expect(ctx, p, "KerberosAuthentication", AE_DECISION_SKIP, "key archival", "archival");
		k->private_key_flags &= ~(uint32_t)AE_PK_REQUIRE_PRIVATE_KEY_ARCHIVAL;

		k->name_flags |= AE_NF_ENROLLEE_SUPPLIES_SUBJECT;
		expect(ctx, p, "KerberosAuthentication", AE_DECISION_SKIP, "enrollee supplies the subject",
		       "subject from request");
		k->name_flags |= AE_NF_OLD_CERT_SUPPLIES_SUBJECT_AND_ALT_NAME;
		expect(ctx, p, "KerberosAuthentication", AE_DECISION_MANUAL_RENEW_ONLY, "renewals reuse",
		       "subject from request, renewal reuses old subject");
		k->name_flags &= ~(uint32_t)(AE_NF_ENROLLEE_SUPPLIES_SUBJECT |
		                             AE_NF_OLD_CERT_SUPPLIES_SUBJECT_AND_ALT_NAME);

		k->schema_version = 1;
		expect(ctx, p, "KerberosAuthentication", AE_DECISION_SKIP, "schema version 1", "schema 1");
		k->schema_version = 2;

		k->enrollment_flags |= AE_EF_PEND_ALL_REQUESTS;
		expect(ctx, p, "KerberosAuthentication", AE_DECISION_AUTOENROLL, "CA manager's approval", "pending");
		k->enrollment_flags &= ~(uint32_t)AE_EF_PEND_ALL_REQUESTS;

		/* Supersedence: KerberosAuthentication superseding
		 * DomainControllerAuthentication takes its place. */
		ae_strv_append(&k->supersedes, "DomainControllerAuthentication");
		expect(ctx, p, "DomainControllerAuthentication", AE_DECISION_SKIP,
		       "superseded by KerberosAuthentication", "supersede");
		expect(ctx, p, "KerberosAuthentication", AE_DECISION_AUTOENROLL, "set up", "superseding one stays");
		/* ...but not when the superseding template is not enrolled itself. */
		k->ra_signatures = 2;
		expect(ctx, p, "DomainControllerAuthentication", AE_DECISION_AUTOENROLL, "set up",
		       "superseded by a template that is skipped: still enrolled");
		k->ra_signatures = 0;

		ae_secdesc_free(k->sd);
		k->sd = NULL;
		k->sd_error = strdup("descriptor truncated");
		expect(ctx, p, "KerberosAuthentication", AE_DECISION_SKIP,
		       "cannot evaluate permissions: descriptor truncated", "malformed SD");
	}
	ae_policy_free(p);

	/* A Domain Users member: enroll but never autoenroll on defaults. */
	p = new_policy(ctx, AE_CONTEXT_USER, du_token, "DOM\\alice");
	expect(ctx, p, "User", AE_DECISION_SKIP, "no AutoEnroll right for DOM\\alice", "DU");
	expect(ctx, p, "Administrator", AE_DECISION_SKIP, "no Enroll right for DOM\\alice", "DU");
	expect(ctx, p, "Machine", AE_DECISION_SKIP, "machine template", "DU user context");
	n_auto = 0;
	for (size_t i = 0; i < p->item_count; i++)
		if (p->items[i].decision != AE_DECISION_SKIP)
			n_auto++;
	tap_is_int(n_auto, 0, "no default template is autoenrolled by a user");
	tap_ok(item(p, "User")->enroll && !item(p, "User")->autoenroll, "User: Enroll without AutoEnroll");
	ae_policy_free(p);

	/* A template that did not parse is listed with its reason. */
	p = new_policy(ctx, AE_CONTEXT_USER, du_token, "DOM\\alice");
	ae_strv_append(&p->invalid_templates, "Broken\tpKIExpirationPeriod has 7 bytes");
	expect(ctx, p, "Broken", AE_DECISION_SKIP, "invalid template: pKIExpirationPeriod has 7 bytes",
	       "invalid template");
	tap_ok(item(p, "Broken")->tpl == NULL && !item(p, "Broken")->enroll, "no rights for it");
	ae_policy_free(p);

	ldif_free(&templates_ldif);
	ldif_free(&es_ldif);
	ae_ctx_free(ctx);
	return tap_done();
}
