/*
 * fuzz-regpol.c - the Registry.pol parser (MS-GPREG 2.2.1) on arbitrary
 * bytes (what SYSVOL, or whoever can write a GPO's files, can serve), the
 * typed readers over every entry it returns, and the settings worked out
 * from it (policy/gpsettings.c: deletion markers, certificate blobs).
 */
#include "config.h"

#include "gpsettings.h"
#include "regpol.h"
#include "util.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "openssl-setup.h"

static int
fuzz_one(const uint8_t *data, size_t size)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_regpol *pol = NULL;

	if (ctx == NULL)
		return 0;
	if (ae_regpol_parse(ctx, data, size, &pol) == AE_OK) {
		for (size_t i = 0; i < pol->n; i++) {
			const ae_regpol_entry *e = &pol->entries[i];
			uint32_t d;
			uint64_t q;
			bool ok;

			if (e->key == NULL || e->key[0] == '\0' || e->value == NULL || e->offset + 12 > size ||
			    e->size > AE_REGPOL_MAX_DATA)
				__builtin_trap();
			(void)ae_regpol_dword(e, &d);
			(void)ae_regpol_qword(e, &q);
			free(ae_regpol_string(e));
			ae_strv_free(ae_regpol_multi(e, &ok));
		}
		{
			ae_gp_input in = { "fuzz", pol };
			ae_gp_settings *s = NULL;

			if (ae_gp_settings_compute(ctx, &in, 1, &s) == AE_OK) {
				for (size_t i = 0; i < s->n_servers; i++)
					if (s->servers[i].url == NULL)
						__builtin_trap();
			}
			ae_gp_settings_free(s);
		}
	} else if (pol != NULL) {
		__builtin_trap();
	}
	ae_regpol_free(pol);
	ae_ctx_free(ctx);
	return 0;
}
