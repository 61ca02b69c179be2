/*
 * ldif.h - a small LDIF reader for the tests: turns fixture files (and
 * string literals) into ae_entry arrays that the parsers take directly.
 *
 * Supports what the fixtures use: "dn:", "attr: value", "attr:: base64",
 * folded lines, comments, blank-line separated entries.  Not a general
 * LDIF implementation (no URLs, no change records beyond ignoring
 * "changetype", no "dn::" escaping rules beyond base64).
 */
#ifndef AE_TEST_LDIF_H
#define AE_TEST_LDIF_H

#include "attrs.h"

#include <stddef.h>

typedef struct {
	ae_entry *entries; /* owned; values are NUL-terminated for convenience
	                    * but len does not count the NUL */
	size_t count;
} ldif_file;

/* Parses TEXT (LEN bytes).  Returns 0, or -1 with a reason in ERR. */
int ldif_parse(const char *text, size_t len, ldif_file *out, char *err, size_t errsize);
/* Reads and parses PATH.  Returns 0, or -1 with a reason in ERR. */
int ldif_read_file(const char *path, ldif_file *out, char *err, size_t errsize);
void ldif_free(ldif_file *f);

/* The entry whose cn is CN, or NULL. */
const ae_entry *ldif_find(const ldif_file *f, const char *cn);

#endif
