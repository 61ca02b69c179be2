/*
 * attrs.c - lookups in an attribute bag.
 */
#include "config.h"

#include "attrs.h"

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
