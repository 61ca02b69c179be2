/*
 * fuzz-template.c - fuzz target: an attribute bag decoded from the input,
 * turned into a certificate template.
 *
 * Input format (make-corpus.py writes it), repeated until the input ends:
 *   u8 name_len; name_len bytes of name, or when name_len is 0 one byte
 *   indexing ae_template_attributes (so mutations reach real names);
 *   u8 nvalues; nvalues times: u16 little-endian length, that many bytes.
 * A truncated record ends the bag; what was decoded so far is used.
 */
#include "config.h"

#include "template.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ATTRS 40
#define MAX_VALUES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ae_attr attrs[MAX_ATTRS];
	ae_value values[MAX_ATTRS][MAX_VALUES];
	char names[MAX_ATTRS][256];
	size_t nattrs = 0, pos = 0, nknown = 0;
	ae_entry entry;
	ae_template *tpl = NULL;
	ae_ctx *ctx;

	while (ae_template_attributes[nknown] != NULL)
		nknown++;
	while (nattrs < MAX_ATTRS && pos < size) {
		size_t nlen = data[pos++];
		size_t nv;

		if (nlen == 0) {
			if (pos >= size)
				break;
			strcpy(names[nattrs], ae_template_attributes[data[pos++] % nknown]);
		} else {
			if (size - pos < nlen)
				break;
			memcpy(names[nattrs], data + pos, nlen);
			names[nattrs][nlen] = '\0';
			pos += nlen;
		}
		if (pos >= size)
			break;
		nv = data[pos++] % (MAX_VALUES + 1);
		attrs[nattrs].name = names[nattrs];
		attrs[nattrs].values = values[nattrs];
		attrs[nattrs].nvalues = 0;
		for (size_t i = 0; i < nv; i++) {
			size_t vlen;
			if (size - pos < 2)
				break;
			vlen = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
			pos += 2;
			if (size - pos < vlen)
				break;
			values[nattrs][i].data = data + pos;
			values[nattrs][i].len = vlen;
			attrs[nattrs].nvalues++;
			pos += vlen;
		}
		nattrs++;
	}

	entry.dn = "CN=Fuzz,CN=Certificate Templates,CN=Public Key Services,CN=Services,"
	           "CN=Configuration,DC=example,DC=com";
	entry.attrs = attrs;
	entry.nattrs = nattrs;

	ctx = ae_ctx_new();
	if (ctx == NULL)
		return 0;
	if (ae_template_from_entry(ctx, &entry, &tpl) == AE_OK) {
		char buf[64];
		/* Exercise what callers do with a parsed template. */
		if (tpl->name == NULL || tpl->display_name == NULL ||
		    (tpl->sd == NULL) == (tpl->sd_error == NULL) ||
		    tpl->schema_version < 1 || tpl->schema_version > 4)
			abort();
		ae_period_to_string(tpl->validity_seconds, buf, sizeof(buf));
		ae_period_to_string(tpl->renewal_seconds, buf, sizeof(buf));
		ae_template_free(tpl);
	} else if (tpl != NULL) {
		abort();
	}
#ifdef AE_FUZZ_DEBUG
	fprintf(stderr, "%s\n", ae_get_message(ctx));
#endif
	ae_ctx_free(ctx);
	return 0;
}
