/*
 * regpol.h - Registry.pol, the file in which Group Policy carries registry
 * settings (MS-GPREG 2.2.1): "PReg", version 1, then instructions
 * [key;value;type;size;data] in UTF-16LE.
 *
 * The file comes from SYSVOL, so from the network: the parser is written
 * by hand, checks every length against what is left, and refuses a
 * damaged file as a whole (the message names the byte offset), so that
 * nothing of it is applied (MS-GPREG 3.2.5.1.2: an invalid file is
 * skipped).
 */
#ifndef AE_REGPOL_H
#define AE_REGPOL_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Registry value types (MS-GPREG 2.2.1 Type; 0 is the key-only entry GPMC
 * writes, with an empty value name). */
enum {
	AE_REG_NONE = 0,
	AE_REG_SZ = 1,
	AE_REG_EXPAND_SZ = 2,
	AE_REG_BINARY = 3,
	AE_REG_DWORD = 4,
	AE_REG_DWORD_BIG_ENDIAN = 5,
	AE_REG_LINK = 6,
	AE_REG_MULTI_SZ = 7,
	AE_REG_RESOURCE_LIST = 8,
	AE_REG_FULL_RESOURCE_DESCRIPTOR = 9,
	AE_REG_RESOURCE_REQUIREMENTS_LIST = 10,
	AE_REG_QWORD = 11,
};

/* Bounds of what a file may hold: the spec's Size (0..65535) and Value
 * (259 characters); keys as the registry bounds them (255 per level, 512
 * levels: 32 KiB of UTF-16 is more than any policy uses). */
#define AE_REGPOL_MAX_DATA 65535u
#define AE_REGPOL_MAX_VALUE_CHARS 259u
#define AE_REGPOL_MAX_KEY_CHARS 16383u
/* A whole file: SYSVOL's Registry.pol files are kilobytes. */
#define AE_REGPOL_MAX_FILE (16u * 1024 * 1024)

typedef struct {
	char *key;       /* UTF-8, as in the file (no HKLM/HKCU): "Software\Policies\..." */
	char *value;     /* UTF-8 value name; "" for the key's default value or a key-only entry */
	uint32_t type;   /* AE_REG_* */
	uint8_t *data;   /* SIZE bytes as in the file (NULL when 0) */
	size_t size;
	size_t offset;   /* byte offset of the entry's '[' in the file */
} ae_regpol_entry;

typedef struct {
	uint32_t version; /* 1 */
	ae_regpol_entry *entries;
	size_t n;
} ae_regpol;

/* Parses the LEN bytes at DATA.  *OUT stays NULL on error; the message
 * names the offset of the damage ("at byte N").  Free with
 * ae_regpol_free(). */
ae_err ae_regpol_parse(ae_ctx *ctx, const uint8_t *data, size_t len, ae_regpol **out);
/* Reads and parses the file at PATH (the message names the file). */
ae_err ae_regpol_load(ae_ctx *ctx, const char *path, ae_regpol **out);
void ae_regpol_free(ae_regpol *pol);

/* "REG_DWORD"..., or NULL for a type outside the table. */
const char *ae_reg_type_name(uint32_t type);

/* The entry's data read as its type says; false when the type differs or
 * the size does not fit it.  DWORD: REG_DWORD (LE) or REG_DWORD_BIG_ENDIAN. */
bool ae_regpol_dword(const ae_regpol_entry *e, uint32_t *out);
bool ae_regpol_qword(const ae_regpol_entry *e, uint64_t *out);
/* REG_SZ / REG_EXPAND_SZ as UTF-8 (to the first NUL; a missing
 * terminator is tolerated); NULL when the type differs, the UTF-16 is
 * malformed, or out of memory.  Caller frees. */
char *ae_regpol_string(const ae_regpol_entry *e);
/* REG_MULTI_SZ as a NULL-terminated vector (ae_strv_free()); *OK false
 * when the type differs or the UTF-16 is malformed. */
char **ae_regpol_multi(const ae_regpol_entry *e, bool *ok);

/* UTF-16LE (LEN bytes) to UTF-8, stopping at the first NUL.  Code points
 * below 0x20 are refused when NO_CONTROLS.  NULL on malformed UTF-16
 * (unpaired surrogate, odd length) or out of memory. */
char *ae_utf16le_decode(const uint8_t *s, size_t len, bool no_controls);

#endif
