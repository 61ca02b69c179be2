/*
 * cmd-gpo.c - "autoenroll gpo": Group Policy as autoenroll reads it.
 * "--file PATH" decodes one Registry.pol (MS-GPREG 2.2.1): every entry's
 * key, value name, type and data, or the offset where the file is
 * damaged.  Reads the file only: no network.
 */
#include "config.h"

#include "cli.h"
#include "json.h"
#include "regpol.h"
#include "util.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
gpo_usage(FILE *f)
{
	fprintf(f, "Usage: autoenroll gpo --file PATH [--json]\n"
	           "\n"
	           "Decodes a Registry.pol file (Group Policy registry settings, MS-GPREG):\n"
	           "every entry's key, value name, type and data.  A damaged file is an\n"
	           "error naming the byte offset of the damage (exit 1).\n");
}

/* Hex of LEN bytes, at most MAX of them shown ("..." after). */
static void
put_hex(ae_buf *b, const uint8_t *p, size_t len, size_t max)
{
	for (size_t i = 0; i < len && i < max; i++)
		ae_buf_printf(b, "%02x", p[i]);
	if (len > max)
		ae_buf_puts(b, "...");
}

/* The entry's data as text: numbers in decimal (and hex), strings as
 * they are, lists joined by "; ", anything else in hex.  Caller frees. */
static char *
data_text(const ae_regpol_entry *e, size_t hex_max)
{
	ae_buf b;
	uint32_t d;
	uint64_t q;
	char *s, **v;
	bool ok;

	ae_buf_init(&b);
	ae_buf_append(&b, "", 0);
	if (ae_regpol_dword(e, &d)) {
		ae_buf_printf(&b, "%" PRIu32 " (0x%" PRIx32 ")", d, d);
	} else if (ae_regpol_qword(e, &q)) {
		ae_buf_printf(&b, "%" PRIu64 " (0x%" PRIx64 ")", q, q);
	} else if ((s = ae_regpol_string(e)) != NULL) {
		ae_buf_printf(&b, "\"%s\"", s);
		free(s);
	} else if ((v = ae_regpol_multi(e, &ok)), ok) {
		for (size_t i = 0; v != NULL && v[i] != NULL; i++)
			ae_buf_printf(&b, "%s\"%s\"", i ? "; " : "", v[i]);
		ae_strv_free(v);
	} else {
		put_hex(&b, e->data, e->size, hex_max);
		ae_buf_printf(&b, " (%zu bytes)", e->size);
	}
	return ae_buf_steal(&b);
}

static void
print_json(const char *path, const ae_regpol *pol)
{
	ae_json j;

	ae_json_init(&j);
	ae_json_begin_object(&j, NULL);
	ae_json_string(&j, "file", path);
	ae_json_int(&j, "version", pol->version);
	ae_json_begin_array(&j, "entries");
	for (size_t i = 0; i < pol->n; i++) {
		const ae_regpol_entry *e = &pol->entries[i];
		uint32_t d;
		uint64_t q;
		char *s, **v;
		bool ok;

		ae_json_begin_object(&j, NULL);
		ae_json_int(&j, "offset", (long long)e->offset);
		ae_json_string(&j, "key", e->key);
		ae_json_string(&j, "value", e->value);
		ae_json_string(&j, "type", ae_reg_type_name(e->type));
		ae_json_int(&j, "size", (long long)e->size);
		if (ae_regpol_dword(e, &d)) {
			ae_json_int(&j, "data", d);
		} else if (ae_regpol_qword(e, &q)) {
			ae_json_int(&j, "data", (long long)q);
		} else if ((s = ae_regpol_string(e)) != NULL) {
			ae_json_string(&j, "data", s);
			free(s);
		} else if ((v = ae_regpol_multi(e, &ok)), ok) {
			ae_json_strv(&j, "data", v);
			ae_strv_free(v);
		} else {
			ae_buf b;

			ae_buf_init(&b);
			ae_buf_append(&b, "", 0);
			put_hex(&b, e->data, e->size, SIZE_MAX);
			s = ae_buf_steal(&b);
			ae_json_string(&j, "data", s);
			free(s);
		}
		ae_json_end_object(&j);
	}
	ae_json_end_array(&j);
	ae_json_end_object(&j);
	ae_cli_print_json(&j);
}

static void
print_text(const char *path, const ae_regpol *pol)
{
	const char *last_key = NULL;

	printf("%s: Registry.pol version %" PRIu32 ", %zu entr%s\n", path, pol->version, pol->n,
	       pol->n == 1 ? "y" : "ies");
	for (size_t i = 0; i < pol->n; i++) {
		const ae_regpol_entry *e = &pol->entries[i];
		char *data;

		if (last_key == NULL || strcmp(last_key, e->key) != 0)
			printf("%s\n", e->key);
		last_key = e->key;
		if (e->type == AE_REG_NONE && e->value[0] == '\0' && e->size == 0) {
			printf("  (key only)\n");
			continue;
		}
		data = data_text(e, 32);
		printf("  %-32s %-14s %s\n", e->value[0] ? e->value : "(default)", ae_reg_type_name(e->type),
		       data ? data : "?");
		free(data);
	}
}

int
ae_cmd_gpo(ae_ctx *ctx, ae_cli_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	bool json = false;
	ae_regpol *pol = NULL;
	int c;

	(void)g;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'j': json = true; break;
		case 'h': gpo_usage(stdout); return AE_EXIT_OK;
		default: gpo_usage(stderr); return AE_EXIT_USAGE;
		}
	}
	if (optind < argc || file == NULL) {
		gpo_usage(stderr);
		return AE_EXIT_USAGE;
	}
	if (ae_regpol_load(ctx, file, &pol) != AE_OK) {
		ae_cli_error(ctx);
		return AE_EXIT_FAILURE;
	}
	if (json)
		print_json(file, pol);
	else
		print_text(file, pol);
	ae_regpol_free(pol);
	return AE_EXIT_OK;
}
