/*
 * fuzz-xcep.c - ae_xcep_parse on arbitrary bytes: the GetPoliciesResponse a
 * CEP (or whoever answers in its name) sends, through the SOAP parser
 * (libxml2, net/soap.c) into templates (core/template.c), CAs and OIDs.
 */
#include "config.h"

#include "xcep.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "openssl-setup.h"

static int
fuzz_one(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_policy p = { 0 };
	ae_xcep_info info;

	if (ctx == NULL)
		return 0;
	if (ae_xcep_parse(ctx, "the CEP", (const char *)data, size, size % 2 ? AE_XCEP_AUTH_PASSWORD : AE_XCEP_AUTH_KERBEROS, &p, &info) == AE_OK) {
		if (p.policy_id == NULL || p.template_count > 4096 || p.pki.ca_count > 256)
			__builtin_trap();
		for (size_t i = 0; i < p.pki.ca_count; i++) {
			const ae_ca *ca = &p.pki.cas[i];
			if (ca->name == NULL || ca->cert == NULL ||
			    (ca->url == NULL && ca->renewal_urls == NULL) != (ca->transport == NULL) ||
			    (ca->url != NULL && strncmp(ca->url, "https://", 8) != 0))
				__builtin_trap();
			/* renewal-only URIs: https too */
			for (size_t k = 0; ca->renewal_urls != NULL && ca->renewal_urls[k] != NULL; k++)
				if (strncmp(ca->renewal_urls[k], "https://", 8) != 0)
					__builtin_trap();
		}
		for (size_t i = 0; i < p.template_count; i++)
			if (p.templates[i]->sd != NULL || !p.templates[i]->server_permission)
				__builtin_trap();
		/* what the source does next */
		if (ae_policy_decide(ctx, &p) != AE_OK)
			__builtin_trap();
	} else if (p.policy_id != NULL || p.templates != NULL || p.pki.cas != NULL) {
		__builtin_trap();
	}
	ae_policy_clear(&p);
	ae_ctx_free(ctx);
	return 0;
}
