/*
 * attrs.c - lookups in an attribute bag.
 */
#include "config.h"

#include "attrs.h"
#include "util.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const ae_attr *
ae_entry_get(const ae_entry *entry, const char *name)
{
	if (entry == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < entry->nattrs; i++)
		if (entry->attrs[i].name != NULL && strcasecmp(entry->attrs[i].name, name) == 0)
			return &entry->attrs[i];
	return NULL;
}

char *
ae_entry_string(const ae_entry *entry, const char *attr)
{
	const ae_attr *a = ae_entry_get(entry, attr);

	if (a == NULL || a->nvalues == 0 || a->values[0].len == 0 ||
	    memchr(a->values[0].data, '\0', a->values[0].len) != NULL)
		return NULL;
	return strndup((const char *)a->values[0].data, a->values[0].len);
}

ae_err
ae_entry_text(ae_ctx *ctx, const ae_entry *entry, const char *attr, char **out)
{
	const ae_attr *a = ae_entry_get(entry, attr);
	size_t at = 0;

	*out = NULL;
	if (a != NULL && a->nvalues > 0 && ae_has_control((const char *)a->values[0].data, a->values[0].len, &at)) {
		ae_buf dn;
		char *shown;
		ae_err err;

		ae_buf_init(&dn);
		ae_buf_escaped(&dn, entry->dn != NULL ? entry->dn : "(no DN)");
		shown = ae_buf_steal(&dn);
		err = ae_set_message(ctx, AE_ERR_INVALID,
		                     "%s of %s has a control character (0x%02x at byte %zu): refused, it could forge "
		                     "local records or request attributes",
		                     attr, shown ? shown : "(no DN)", a->values[0].data[at], at);
		free(shown);
		return err;
	}
	*out = ae_entry_string(entry, attr);
	return AE_OK;
}

bool
ae_entry_has_value(const ae_entry *entry, const char *attr, const char *value)
{
	const ae_attr *a = ae_entry_get(entry, attr);
	size_t len = strlen(value);

	for (size_t i = 0; a != NULL && i < a->nvalues; i++)
		if (a->values[i].len == len && strncasecmp((const char *)a->values[i].data, value, len) == 0)
			return true;
	return false;
}

void
ae_values_free(ae_value *values, size_t count)
{
	for (size_t i = 0; values != NULL && i < count; i++)
		free((void *)values[i].data);
	free(values);
}

static int
hexval(char c)
{
	return isdigit((unsigned char)c) ? c - '0' : tolower((unsigned char)c) - 'a' + 10;
}

/* GUID text (8-4-4-4-12 hex digits) of an extended-DN component, from
 * either form the control gives: the string form, or the 32 hex digits of
 * the objectGUID bytes (whose first three fields are little-endian). */
static bool
extended_guid(const char *v, size_t n, char guid[37])
{
	static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
	size_t o = 0;

	if (n == 36) {
		for (size_t i = 0; i < 36; i++) {
			bool dash = i == 8 || i == 13 || i == 18 || i == 23;
			if (dash ? v[i] != '-' : !isxdigit((unsigned char)v[i]))
				return false;
			guid[i] = (char)toupper((unsigned char)v[i]);
		}
		guid[36] = '\0';
		return true;
	}
	if (n != 32)
		return false;
	for (size_t i = 0; i < 32; i++)
		if (!isxdigit((unsigned char)v[i]))
			return false;
	for (size_t i = 0; i < 16; i++) {
		int b = hexval(v[2 * order[i]]) * 16 + hexval(v[2 * order[i] + 1]);
		if (i == 4 || i == 6 || i == 8 || i == 10)
			guid[o++] = '-';
		o += (size_t)snprintf(guid + o, 37 - o, "%02X", (unsigned)b);
	}
	return true;
}

char *
ae_ldap_extended_dn(const char *value, char guid[37])
{
	const char *p = value;

	guid[0] = '\0';
	/* "<GUID=...>;<SID=...>;DN" (MS-ADTS 3.1.1.3.4.1.5), or a plain DN */
	while (*p == '<') {
		const char *end = strchr(p, '>');
		if (end == NULL || end[1] != ';')
			goto bad;
		if (strncasecmp(p + 1, "GUID=", 5) == 0 && !extended_guid(p + 6, (size_t)(end - p - 6), guid))
			goto bad;
		p = end + 2;
	}
	if (*p != '\0')
		return strdup(p);
bad:
	guid[0] = '\0'; /* it may hold part of a GUID: nothing of a malformed value is kept */
	return NULL;
}

void
ae_root_dse_clear(ae_root_dse *r)
{
	if (r == NULL)
		return;
	free(r->config_nc);
	free(r->default_nc);
	free(r->root_domain_nc);
	free(r->dns_host_name);
	memset(r, 0, sizeof(*r));
}

ae_err
ae_root_dse_parse(ae_ctx *ctx, const char *host, const ae_entry *entry, ae_root_dse *out)
{
	static const char *const ncs[] = {
		"configurationNamingContext", "defaultNamingContext", "rootDomainNamingContext"
	};
	ae_root_dse r = { 0 };
	char **dst[3] = { &r.config_nc, &r.default_nc, &r.root_domain_nc };
	char guid[37];

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < 3; i++) {
		char *v = ae_entry_string(entry, ncs[i]);
		*dst[i] = v != NULL ? ae_ldap_extended_dn(v, guid) : NULL;
		if (dst[i] == &r.root_domain_nc && *dst[i] != NULL)
			memcpy(r.root_domain_guid, guid, sizeof(guid));
		free(v);
	}
	r.dns_host_name = ae_entry_string(entry, "dnsHostName");
	if (r.config_nc == NULL || r.default_nc == NULL || r.root_domain_nc == NULL) {
		ae_root_dse_clear(&r);
		return ae_set_message(ctx, AE_ERR_LDAP,
		                      "the rootDSE of %s has no configurationNamingContext/defaultNamingContext: not an Active Directory DC",
		                      host);
	}
	*out = r;
	return AE_OK;
}
