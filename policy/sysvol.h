/*
 * sysvol.h - a GPO's Registry.pol from SYSVOL (MS-GPREG 3.2.5.1.2), over
 * SMB with Kerberos through libsmbclient: signing required, sealing when
 * the server offers it, no NTLM fallback, every operation bounded by a
 * timeout.  Files are read from the DC the policy is read from (the GPO's
 * gPCFileSysPath with its server part replaced by that DC), and kept in a
 * cache: when the GPO's versionNumber in AD is the version cached, the
 * cached copy is used and SMB is not touched at all; otherwise GPT.INI
 * and the file are read and, when GPT.INI's version is AD's, cached.
 * When SYSVOL cannot be read, the last copy cached is used and said so.
 *
 * A library of its own (libaesysvol) so that only the programs that read
 * Group Policy load Samba's client libraries.
 */
#ifndef AE_SYSVOL_H
#define AE_SYSVOL_H

#include "error.h"
#include "gpo.h"
#include "regpol.h"

#include <stdbool.h>

typedef struct ae_sysvol ae_sysvol;

typedef struct {
	unsigned smb_files;     /* files read over SMB (GPT.INI, Registry.pol) */
	unsigned smb_sessions;  /* SMB connections made (negotiate, session setup, tree connect) */
	unsigned cached;        /* Registry.pol halves served from the cache */
	double seconds;         /* spent in ae_sysvol_registry_pol() */
} ae_sysvol_stats;

typedef enum {
	AE_SYSVOL_SMB,    /* read over SMB now */
	AE_SYSVOL_CACHE,  /* the cached copy of the same version */
	AE_SYSVOL_STALE,  /* SYSVOL could not be read: the last copy cached */
} ae_sysvol_source;

/* HOST: the DC; CCACHE: a FILE credential cache for libsmbclient (see
 * ae_krb_export_file()); CACHE_DIR: where copies are kept (made 0700);
 * TIMEOUT seconds per SMB operation, named by SETTING in messages.
 * Connects at the first need, not here. */
ae_err ae_sysvol_open(ae_ctx *ctx, const char *host, const char *ccache, const char *cache_dir, int timeout,
                      const char *setting, ae_sysvol **out);
/* The Registry.pol of OBJ's computer (MACHINE) or user half: *POL NULL
 * when the GPO has none.  A damaged file is an error naming the GPO. */
ae_err ae_sysvol_registry_pol(ae_ctx *ctx, ae_sysvol *sv, const ae_gpo_object *obj, bool machine, ae_regpol **pol,
                              ae_sysvol_source *source);
const ae_sysvol_stats *ae_sysvol_get_stats(const ae_sysvol *sv);
void ae_sysvol_free(ae_sysvol *sv);

#endif
