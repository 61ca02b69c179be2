/*
 * fuzz-gpo.c - gPLink values and account DNs as a DC returns them (any
 * bytes): the gPLink parser, the SOM list of a DN, the GPO list worked
 * out from both, and its loopback merge; and the same bytes as a GPT.INI,
 * as the computer file users read for loopback, and as a subnet's name.
 */
#include "config.h"

#include "gpo.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	char *s = malloc(size + 1);
	ae_gplink *links = NULL;
	ae_som *soms = NULL;
	ae_gpo_list *list = NULL;
	ae_token tok;
	size_t n = 0, n_soms = 0;

	if (ctx == NULL || s == NULL)
		goto out;
	memcpy(s, data, size);
	s[size] = '\0';
	{
		uint32_t v;

		ae_gp_computer c;
		ae_subnet sn;
		static const uint8_t addr[16] = { 10, 1, 2, 3 };

		(void)ae_gptini_version((const char *)data, size, &v); /* the same bytes as a GPT.INI */
		if (ae_gp_computer_parse((const char *)data, size, &c)) {
			char *again = ae_gp_computer_format(&c);
			ae_gp_computer back;

			/* what parses, formats and parses again the same */
			if (again != NULL && (!ae_gp_computer_parse(again, strlen(again), &back) ||
			                      strcmp(back.computer_dn, c.computer_dn) != 0 || back.mode != c.mode))
				__builtin_trap();
			if (again != NULL)
				ae_gp_computer_clear(&back);
			free(again);
			ae_gp_computer_clear(&c);
		} else if (c.computer_dn != NULL || c.mode_gpo != NULL) {
			__builtin_trap();
		}
		if (ae_subnet_parse(s, &sn) && (sn.prefix > (sn.family == AF_INET ? 32u : 128u) ||
		                                (sn.prefix == 0 && !ae_subnet_contains(&sn, sn.family, addr))))
			__builtin_trap();
	}
	if (ae_gplink_parse(ctx, s, &links, &n) == AE_OK) {
		for (size_t i = 0; i < n; i++)
			if (links[i].dn == NULL || links[i].dn[0] == '\0')
				__builtin_trap();
	} else if (links != NULL) {
		__builtin_trap();
	}
	/* the same bytes as an account's DN, each SOM carrying them as gPLink */
	soms = ae_som_list(s, &n_soms);
	ae_token_init(&tok);
	for (size_t i = 0; i < n_soms; i++)
		soms[i].gplink = strdup(s);
	if (n_soms > 0 && ae_gpo_compute(ctx, soms, n_soms, NULL, 0, &tok, false, &list) == AE_OK) {
		ae_gpo_list *merged = NULL;

		for (size_t i = 0; i < list->n_ordered; i++)
			if (list->items[i].status != AE_GPO_NOT_READABLE)
				__builtin_trap();
		/* loopback merge of the list with itself: twice the items */
		if (ae_gpo_loopback(ctx, list, list, AE_GPO_LOOPBACK_MERGE, &merged) == AE_OK &&
		    (merged->n != 2 * list->n || merged->n_ordered != 2 * list->n_ordered))
			__builtin_trap();
		ae_gpo_list_free(merged);
	}
	ae_gpo_list_free(list);
	ae_soms_free(soms, n_soms);
	ae_token_clear(&tok);
out:
	ae_gplinks_free(links, n);
	free(s);
	ae_ctx_free(ctx);
	return 0;
}
