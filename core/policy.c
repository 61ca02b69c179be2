/*
 * policy.c - deciding, template by template, what autoenrollment does for
 * the caller (no network: the policy sources in policy/ read).
 */
#include "config.h"

#include "policy.h"
#include "transport.h"
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *
ae_decision_name(ae_decision d)
{
	switch (d) {
	case AE_DECISION_AUTOENROLL: return "autoenroll";
	case AE_DECISION_MANUAL_RENEW_ONLY: return "manual-renew-only";
	case AE_DECISION_SKIP: break;
	}
	return "skip";
}

const char *
ae_context_name(ae_context c)
{
	return c == AE_CONTEXT_MACHINE ? "machine" : "user";
}

static void
item_clear(ae_policy_item *it)
{
	free(it->name);
	free(it->display_name);
	free(it->reason);
	ae_strv_free(it->cas);
}

void
ae_policy_free(ae_policy *p)
{
	if (p == NULL)
		return;
	ae_policy_clear(p);
	free(p);
}

void
ae_policy_clear(ae_policy *p)
{
	free(p->url);
	free(p->policy_id);
	free(p->friendly_name);
	free(p->domain);
	free(p->origin.server);
	free(p->origin.config_nc);
	free(p->origin.failover);
	free(p->principal);
	ae_account_clear(&p->account);
	ae_pki_clear(&p->pki);
	free(p->forest_oid);
	for (size_t i = 0; i < p->oid_count; i++) {
		free(p->oids[i].oid);
		free(p->oids[i].display_name);
	}
	free(p->oids);
	for (size_t i = 0; i < p->template_count; i++)
		ae_template_free(p->templates[i]);
	free(p->templates);
	ae_strv_free(p->invalid_templates);
	for (size_t i = 0; i < p->item_count; i++)
		item_clear(&p->items[i]);
	free(p->items);
	memset(p, 0, sizeof(*p));
}

const ae_policy_item *
ae_policy_find_item(const ae_policy *p, const char *name)
{
	for (size_t i = 0; i < p->item_count; i++)
		if (strcasecmp(p->items[i].name, name) == 0)
			return &p->items[i];
	for (size_t i = 0; i < p->item_count; i++)
		if (p->items[i].display_name && strcasecmp(p->items[i].display_name, name) == 0)
			return &p->items[i];
	return NULL;
}

const ae_ca *
ae_policy_find_ca(const ae_policy *p, const char *name)
{
	for (size_t i = 0; i < p->pki.ca_count; i++)
		if (strcasecmp(p->pki.cas[i].name, name) == 0)
			return &p->pki.cas[i];
	return NULL;
}

/* ---- decisions (no network) ---- */

static char *
right_reason(const ae_policy *p, const char *right, const ae_access *acc)
{
	char who[256];

	if (acc->by_deny && acc->ace_index >= 0)
		return ae_strdup_printf("%s denied to %s by a deny entry for %s", right,
		                 p->account.display ? p->account.display : "the caller",
		                 ae_account_sid_name(&p->account, &acc->sid, who, sizeof(who)));
	return ae_strdup_printf("no %s right for %s", right,
	                 p->account.display ? p->account.display : "the caller");
}

static bool
ca_publishes(const ae_ca *ca, const char *tpl)
{
	return ae_strv_contains_nocase(ca->templates, tpl);
}

/* Key archival (the whitepaper: "requires private key archival in CA
 * database and CA ... fails validation check"): the first of CAS that is
 * reached through a transport that serves the CA exchange certificate
 * (MS-WCCE 3.1.1.4.3.6: DCOM or CES), or NULL. */
static const ae_ca *
archival_ca(const ae_policy *p, char *const *cas)
{
	for (size_t k = 0; cas != NULL && cas[k] != NULL; k++)
		for (size_t i = 0; i < p->pki.ca_count; i++) {
			const ae_ca *ca = &p->pki.cas[i];
			if (strcmp(ca->name, cas[k]) == 0 && ca->transport != NULL && ca->transport->exchange_cert != NULL)
				return ca;
		}
	return NULL;
}

static const char *
ca_transport_name(const ae_policy *p, const char *name)
{
	for (size_t i = 0; i < p->pki.ca_count; i++)
		if (strcmp(p->pki.cas[i].name, name) == 0 && p->pki.cas[i].transport != NULL)
			return p->pki.cas[i].transport->name;
	return "MS-ICPR";
}

/* First pass: everything but supersedence, which depends on the other
 * templates' outcome. */
static ae_err
decide_one(ae_ctx *ctx, const ae_policy *p, const ae_template *t, ae_policy_item *it)
{
	bool machine_tpl = (t->flags & AE_CT_FLAG_MACHINE_TYPE) != 0;
	bool machine_ctx = p->context == AE_CONTEXT_MACHINE;
	ae_access enroll = { 0 }, autoenroll = { 0 };
	char **invalid_cas = NULL;
	char *reason = NULL;
	const ae_ca *archive_ca = NULL;

	it->tpl = t;
	it->name = strdup(t->name);
	it->display_name = strdup(t->display_name ? t->display_name : t->name);
	if (it->name == NULL || it->display_name == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	if (t->sd != NULL) {
		enroll = ae_secdesc_check(t->sd, &p->account.token, AE_RIGHT_ENROLL);
		autoenroll = ae_secdesc_check(t->sd, &p->account.token, AE_RIGHT_AUTOENROLL);
	} else if (t->server_permission) {
		/* MS-XCEP: the policy server evaluated the rights */
		enroll.allowed = t->server_enroll;
		autoenroll.allowed = t->server_autoenroll;
		enroll.ace_index = autoenroll.ace_index = -1;
	}
	it->enroll = enroll.allowed;
	it->autoenroll = autoenroll.allowed;
	for (size_t i = 0; i < p->pki.ca_count; i++) {
		const ae_ca *ca = &p->pki.cas[i];
		if (!ca_publishes(ca, t->name))
			continue;
		if (!(ca->valid ? ae_strv_append(&it->cas, ca->name)
		                : ae_strv_append(&invalid_cas, ca->name))) {
			ae_strv_free(invalid_cas);
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
	}

	it->decision = AE_DECISION_SKIP;
	if (machine_tpl && !machine_ctx)
		reason = ae_strdup_printf("machine template: the machine context enrolls it, not users");
	else if (!machine_tpl && machine_ctx)
		reason = ae_strdup_printf("user template: users enroll it at logon, not the machine");
	else if (t->sd == NULL && t->server_permission && !enroll.allowed)
		reason = ae_strdup_printf("no Enroll right for %s, as the policy server reports it",
		                   p->principal ? p->principal : "the caller");
	else if (t->sd == NULL && t->server_permission && !autoenroll.allowed)
		reason = ae_strdup_printf("no AutoEnroll right for %s, as the policy server reports it",
		                   p->principal ? p->principal : "the caller");
	else if (t->sd == NULL && !t->server_permission)
		reason = ae_strdup_printf("cannot evaluate permissions: %s",
		                   t->sd_error ? t->sd_error : "no security descriptor");
	else if (!enroll.allowed)
		reason = right_reason(p, "Enroll", &enroll);
	else if (!autoenroll.allowed)
		reason = right_reason(p, "AutoEnroll", &autoenroll);
	else if (it->cas == NULL && invalid_cas != NULL) {
		const ae_ca *bad = NULL;
		for (size_t i = 0; i < p->pki.ca_count; i++)
			if (strcmp(p->pki.cas[i].name, invalid_cas[0]) == 0)
				bad = &p->pki.cas[i];
		reason = ae_strdup_printf("published only by CA %s, which is not usable: %s", invalid_cas[0],
		                   bad && bad->invalid_reason ? bad->invalid_reason : "invalid certificate");
	} else if (it->cas == NULL)
		reason = ae_strdup_printf("not published by any CA");
	else if (t->schema_version < 2)
		reason = ae_strdup_printf("schema version 1 template: Windows autoenrolls only version 2 and later templates");
	else if (machine_tpl && (t->enrollment_flags & AE_EF_USER_INTERACTION_REQUIRED))
		reason = ae_strdup_printf("machine template requires user interaction, which machine certificates cannot have");
	else if (t->ra_signatures >= 2)
		reason = ae_strdup_printf("requires %u RA signatures: never enrolled or renewed automatically",
		                   t->ra_signatures);
	else if ((t->private_key_flags & AE_PK_REQUIRE_PRIVATE_KEY_ARCHIVAL) && (archive_ca = archival_ca(p, it->cas)) == NULL)
		reason = ae_strdup_printf("requires private key archival at the CA, and %s is reached over %s, which does not serve "
		                          "the CA exchange certificate the key is encrypted to (only DCOM and CES do): enroll "
		                          "through the CA's enrollment web service (a CEP/CES policy server)",
		                          it->cas[0], ca_transport_name(p, it->cas[0]));
	else if (t->private_key_flags & AE_PK_ATTEST_REQUIRED)
		reason = ae_strdup_printf("requires key attestation (CT_FLAG_ATTEST_REQUIRED: a TPM key and its attestation statement), which autoenroll cannot provide; the CA would refuse the request (CERTSRV_E_KEY_ATTESTATION)");
	else if ((t->name_flags & AE_NF_ENROLLEE_SUPPLIES_SUBJECT) &&
	         !(t->name_flags & AE_NF_OLD_CERT_SUPPLIES_SUBJECT_AND_ALT_NAME))
		reason = ae_strdup_printf("the enrollee supplies the subject, and renewals may not reuse the old one: enroll and renew by hand");
	else if (t->name_flags & AE_NF_ENROLLEE_SUPPLIES_SUBJECT) {
		it->decision = AE_DECISION_MANUAL_RENEW_ONLY;
		reason = ae_strdup_printf("the enrollee supplies the subject: enroll by hand; renewals reuse the certificate's subject and are automatic");
	} else if (t->ra_signatures == 1) {
		it->decision = AE_DECISION_MANUAL_RENEW_ONLY;
		reason = ae_strdup_printf("requires an RA signature: enroll by hand through an enrollment agent; renewals signed with the existing certificate are automatic");
	} else {
		ae_buf b;
		it->decision = AE_DECISION_AUTOENROLL;
		ae_buf_init(&b);
		ae_buf_printf(&b, "set up for autoenrollment, from %s", it->cas[0]);
		if (t->enrollment_flags & AE_EF_PEND_ALL_REQUESTS)
			ae_buf_puts(&b, "; requests wait for a CA manager's approval");
		if (t->enrollment_flags & AE_EF_USER_INTERACTION_REQUIRED)
			ae_buf_puts(&b, "; asks the user first (notification after logon)");
		if (archive_ca != NULL)
			ae_buf_printf(&b, "; its private key is archived at %s (a file key store is needed)", archive_ca->name);
		reason = ae_buf_steal(&b);
	}
	ae_strv_free(invalid_cas);
	if (reason == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	it->reason = reason;
	return AE_OK;
}

static int
item_cmp(const void *a, const void *b)
{
	const ae_policy_item *x = a, *y = b;
	return strcasecmp(x->name, y->name);
}

ae_err
ae_policy_decide(ae_ctx *ctx, ae_policy *p)
{
	size_t n = p->template_count + ae_strv_len(p->invalid_templates);
	ae_policy_item *items;
	size_t k = 0;
	ae_err err;

	items = calloc(n ? n : 1, sizeof(*items));
	if (items == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < p->template_count; i++) {
		err = decide_one(ctx, p, p->templates[i], &items[k++]);
		if (err != AE_OK)
			goto fail;
	}
	for (size_t i = 0; p->invalid_templates && p->invalid_templates[i]; i++) {
		const char *s = p->invalid_templates[i];
		const char *colon = strchr(s, '\t');
		ae_policy_item *it = &items[k++];
		it->decision = AE_DECISION_SKIP;
		it->name = colon ? strndup(s, (size_t)(colon - s)) : strdup(s);
		it->display_name = it->name ? strdup(it->name) : NULL;
		it->reason = ae_strdup_printf("invalid template: %s", colon ? colon + 1 : "unparseable");
		if (it->name == NULL || it->display_name == NULL || it->reason == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto fail;
		}
	}
	/* Supersedence: a template that a template set up for autoenrollment
	 * supersedes is not enrolled; its holders move to the new one. */
	for (size_t i = 0; i < k; i++) {
		ae_policy_item *old = &items[i];
		if (old->decision == AE_DECISION_SKIP)
			continue;
		for (size_t j = 0; j < k; j++) {
			ae_policy_item *nw = &items[j];
			if (j == i || nw->tpl == NULL || nw->decision != AE_DECISION_AUTOENROLL ||
			    !ae_strv_contains_nocase(nw->tpl->supersedes, old->name))
				continue;
			free(old->reason);
			old->reason = ae_strdup_printf("superseded by %s", nw->name);
			old->decision = AE_DECISION_SKIP;
			if (old->reason == NULL) {
				err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
				goto fail;
			}
			break;
		}
	}
	qsort(items, k, sizeof(*items), item_cmp);
	for (size_t i = 0; i < p->item_count; i++)
		item_clear(&p->items[i]);
	free(p->items);
	p->items = items;
	p->item_count = k;
	return AE_OK;
fail:
	for (size_t i = 0; i < k; i++)
		item_clear(&items[i]);
	free(items);
	return err;
}

/* ---- reading the policy from AD ---- */
