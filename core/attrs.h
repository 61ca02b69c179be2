/*
 * attrs.h - an LDAP entry as a plain bag of attributes, so that parsers of
 * template, CA and account objects do not depend on libldap and can be
 * fed by tests and fuzzers directly.
 */
#ifndef AE_ATTRS_H
#define AE_ATTRS_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
	const uint8_t *data;
	size_t len;
} ae_value;

typedef struct {
	const char *name;      /* attribute name, compared case-insensitively */
	const ae_value *values;
	size_t nvalues;
} ae_attr;

typedef struct {
	const char *dn;
	const ae_attr *attrs;
	size_t nattrs;
} ae_entry;

/* The attribute NAME of ENTRY, or NULL; values may be empty. */
const ae_attr *ae_entry_get(const ae_entry *entry, const char *name);

/* The first value of ATTR as a new NUL-terminated string (NULL if absent,
 * empty or containing NUL); caller frees. */
char *ae_entry_string(const ae_entry *entry, const char *attr);

/* ae_entry_string() for text that names things in record files, request
 * attributes and events (CA and template names, host names, OIDs): a
 * value with a control character is refused with AE_ERR_INVALID and a
 * message naming the object and the attribute, as it could add lines of
 * its own.  *OUT NULL when absent, empty or holding NUL. */
ae_err ae_entry_text(ae_ctx *ctx, const ae_entry *entry, const char *attr, char **out);

/* Whether ATTR of ENTRY has the value VALUE, compared case-insensitively
 * (objectClass, sAMAccountName). */
bool ae_entry_has_value(const ae_entry *entry, const char *attr, const char *value);

/* Frees COUNT values whose data were allocated with malloc, and the
 * array (values read for a caller, e.g. ae_ldap_read_attribute). */
void ae_values_free(ae_value *values, size_t count);

/* A DN value as the extended-DN control gives it, "<GUID=...>;<SID=...>;DN"
 * (MS-ADTS 3.1.1.3.4.1.5), or a plain DN: returns the plain DN (caller
 * frees), NULL if VALUE is malformed or has no DN.  GUID gets the GUID's
 * text in upper case ("XXXXXXXX-XXXX-...") if VALUE has one, else "". */
char *ae_ldap_extended_dn(const char *value, char guid[37]);

/* What the client takes from a DC's rootDSE (MS-ADTS 3.1.1.3.2), read
 * with the extended-DN control: the naming contexts as plain DNs, the
 * forest root domain's objectGUID ("" unless given), the DC's name. */
typedef struct {
	char *config_nc;
	char *default_nc;
	char *root_domain_nc;
	char *dns_host_name; /* NULL when absent */
	char root_domain_guid[37];
} ae_root_dse;

/* Reads ENTRY, the rootDSE of HOST, into *OUT (ae_root_dse_clear): an
 * error, *OUT cleared, unless it has the three naming contexts. */
ae_err ae_root_dse_parse(ae_ctx *ctx, const char *host, const ae_entry *entry, ae_root_dse *out);
void ae_root_dse_clear(ae_root_dse *r);

#endif
