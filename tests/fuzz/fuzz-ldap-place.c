/*
 * fuzz-ldap-place.c - the entries of the LDAP policy's one search of the
 * configuration naming context, as LDIF (tests/unit/ldif.c): each entry
 * placed by its DN (policy/ldap-place.c: templates, enrollment services,
 * roots, AIA, NTAuth, OIDs, the crossRef), and each DN and string value
 * read as the extended-DN control writes them (core/attrs.c), as a DC or
 * a forged object can hold them.
 */
#include "config.h"

#include "attrs.h"
#include "ldap-place.h"
#include "ldif.h"
#include "policy.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openssl-setup.h"

#define CFG "CN=Configuration,DC=dom,DC=local" /* as the fixtures in tests/data */

static int
fuzz_one(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	ldif_file f = { 0 };
	char err[256], guid[37];
	ae_policy *p = calloc(1, sizeof(*p));
	char *netbios = NULL;

	if (ctx == NULL || p == NULL || ldif_parse((const char *)data, size, &f, err, sizeof(err)) != 0)
		goto out;
	for (size_t i = 0; i < f.count; i++) {
		char *dn = ae_ldap_extended_dn(f.entries[i].dn, guid);
		if (strlen(guid) != 0 && strlen(guid) != 36)
			__builtin_trap();
		free(dn);
	}
	if (ae_ldap_place(ctx, CFG, "DC=dom,DC=local", f.entries, f.count, p, &netbios) == AE_OK) {
		/* The stores exist once placed, even when empty. */
		if (p->pki.roots == NULL || p->pki.intermediates == NULL || p->pki.ntauth == NULL)
			__builtin_trap();
		for (size_t i = 0; i < p->template_count; i++)
			if (p->templates[i] == NULL || p->templates[i]->name == NULL)
				__builtin_trap();
		/* The decisions take whatever was placed. */
		ae_policy_decide(ctx, p);
	}
out:
	free(netbios);
	ldif_free(&f);
	ae_policy_free(p);
	ae_ctx_free(ctx);
	return 0;
}
