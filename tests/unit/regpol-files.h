/*
 * regpol-files.h - the Registry.pol files Samba's encoder wrote
 * (tests/data/regpol/make-regpol.py), loaded for test-regpol and
 * test-gpsettings.
 */
#ifndef AE_TEST_REGPOL_FILES_H
#define AE_TEST_REGPOL_FILES_H

#include "regpol.h"
#include "tap.h"
#include "util.h"

#define DATA SRCDIR "/tests/data/regpol/"

/* tests/data/regpol/NAME parsed, or NULL (the message as a diagnostic). */
static inline ae_regpol *
load(ae_ctx *ctx, const char *name)
{
	ae_regpol *pol = NULL;
	char *path = ae_strdup_printf(DATA "%s", name);

	if (ae_regpol_load(ctx, path, &pol) != AE_OK)
		tap_diag("%s: %s", name, ae_get_message(ctx));
	free(path);
	return pol;
}

#endif
