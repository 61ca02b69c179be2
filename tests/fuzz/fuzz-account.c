/*
 * fuzz-account.c - what a DC (or a forged one) says about the caller, as
 * LDIF (tests/unit/ldif.c): the rootDSE (the entry with the empty DN:
 * naming contexts through the extended-DN control and the forest root's
 * objectGUID, the session's tokenGroups), the account search's entries
 * (objectSid, sAMAccountName, userPrincipalName, mail, dNSHostName,
 * primaryGroupID, userCertificate; this host's computer account), and the
 * account's tokenGroups (the last other entry that has them).  Read as
 * policy/account.c and core/attrs.c read them, for a user and for the
 * machine; each userCertificate value decoded as the pulse decodes it.
 */
#include "config.h"

#include "account.h"
#include "attrs.h"
#include "ldif.h"
#include "pki.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openssl-setup.h"

static bool
has_ctl(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static void
account(const ldif_file *f, const ae_entry *groups, bool machine)
{
	ae_ctx *ctx = ae_ctx_new();
	const ae_entry *acct = NULL;
	ae_account a;
	char name[256];

	if (ctx == NULL)
		return;
	memset(&a, 0, sizeof(a));
	ae_token_init(&a.token);
	a.machine = machine;
	a.netbios_domain = strdup("CORP");
	if (ae_account_take_entry(ctx, &a, machine ? "WS1$" : "alice", machine ? NULL : "WS1$", f->entries, f->count,
	                          "DC=corp,DC=test", &acct) == AE_OK) {
		if (acct == NULL || a.dn == NULL || a.sam == NULL || !ae_token_has(&a.token, &a.sid))
			__builtin_trap();
		/* Text that goes into requests holds no control character. */
		if (has_ctl(a.sam) || has_ctl(a.upn) || has_ctl(a.mail) || has_ctl(a.dns_host_name) ||
		    has_ctl(a.host_dns_name))
			__builtin_trap();
		if (ae_account_add_groups(ctx, &a, acct, groups) == AE_OK) {
			if (a.display == NULL || a.token.count < 4 || !ae_token_has(&a.token, &a.sid))
				__builtin_trap(); /* the account, Everyone, Authenticated Users, This Organization */
			for (size_t i = 0; i < a.token.count; i++)
				if (ae_account_sid_name(&a, &a.token.sids[i], name, sizeof(name)) != name || name[0] == '\0')
					__builtin_trap();
		}
		for (size_t i = 0; i < a.ds_cert_count; i++) {
			X509 *x = NULL;
			if (ae_x509_from_der(ctx, a.ds_certs[i], a.ds_cert_lens[i], &x) == AE_OK && x == NULL)
				__builtin_trap();
			X509_free(x);
		}
	} else if (acct != NULL) {
		__builtin_trap();
	}
	ae_account_clear(&a);
	ae_ctx_free(ctx);
}

static int
fuzz_one(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	ldif_file f = { 0 };
	const ae_entry *groups = NULL;
	char err[256];

	if (ctx == NULL || ldif_parse((const char *)data, size, &f, err, sizeof(err)) != 0)
		goto out;
	for (size_t i = 0; i < f.count; i++) {
		const ae_entry *e = &f.entries[i];
		if (e->dn[0] == '\0') {
			ae_root_dse r;
			const ae_attr *tg = ae_entry_get(e, "tokenGroups");
			if (ae_root_dse_parse(ctx, "dc1.corp.test", e, &r) == AE_OK) {
				size_t g = strlen(r.root_domain_guid);
				if (r.config_nc == NULL || r.default_nc == NULL || r.root_domain_nc == NULL ||
				    (g != 0 && g != 36))
					__builtin_trap();
			} else if (r.config_nc != NULL || r.default_nc != NULL || r.dns_host_name != NULL) {
				__builtin_trap(); /* outputs stay empty on error */
			}
			ae_root_dse_clear(&r);
			for (size_t k = 0; tg != NULL && k < tg->nvalues; k++) {
				ae_sid sid;
				(void)ae_sid_from_bytes(ctx, tg->values[k].data, tg->values[k].len, &sid, NULL);
			}
			ae_clear_message(ctx);
		} else if (ae_entry_get(e, "tokenGroups") != NULL) {
			groups = e;
		}
	}
	account(&f, groups, false);
	account(&f, groups, true);
out:
	ldif_free(&f);
	ae_ctx_free(ctx);
	return 0;
}
