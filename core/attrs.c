/*
 * attrs.c - lookups in an attribute bag.
 */
#include "config.h"

#include "attrs.h"

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
