/*
 * regpol.c - Registry.pol parser (MS-GPREG 2.2.1), by hand and bounds
 * checked: every read is checked against what is left of the file before
 * it happens.  The grammar:
 *
 *   PolicyFile  = "PReg" Version(uint32 LE, 1) *Instruction
 *   Instruction = "[" Key ";" Value ";" Type ";" Size ";" Data "]"
 *
 * where "[", ";" and "]" are UTF-16LE characters, Key and Value are
 * NUL-terminated UTF-16LE strings, Type and Size 32-bit little-endian, and
 * Data Size bytes.  A damaged file is an error for the whole file
 * (MS-GPREG 3.2.5.1.2: a file that cannot be read is skipped), naming the
 * byte offset where the damage is.
 */
#include "config.h"

#include "regpol.h"

#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {
	[AE_REG_NONE] = "REG_NONE",
	[AE_REG_SZ] = "REG_SZ",
	[AE_REG_EXPAND_SZ] = "REG_EXPAND_SZ",
	[AE_REG_BINARY] = "REG_BINARY",
	[AE_REG_DWORD] = "REG_DWORD",
	[AE_REG_DWORD_BIG_ENDIAN] = "REG_DWORD_BIG_ENDIAN",
	[AE_REG_LINK] = "REG_LINK",
	[AE_REG_MULTI_SZ] = "REG_MULTI_SZ",
	[AE_REG_RESOURCE_LIST] = "REG_RESOURCE_LIST",
	[AE_REG_FULL_RESOURCE_DESCRIPTOR] = "REG_FULL_RESOURCE_DESCRIPTOR",
	[AE_REG_RESOURCE_REQUIREMENTS_LIST] = "REG_RESOURCE_REQUIREMENTS_LIST",
	[AE_REG_QWORD] = "REG_QWORD",
};

const char *
ae_reg_type_name(uint32_t type)
{
	if (type >= sizeof(type_names) / sizeof(type_names[0]))
		return NULL;
	return type_names[type];
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

char *
ae_utf16le_decode(const uint8_t *s, size_t len, bool no_controls)
{
	ae_buf b;
	size_t i;

	ae_buf_init(&b);
	ae_buf_append(&b, "", 0);
	for (i = 0; i + 1 < len;) {
		uint32_t cp;
		size_t n = ae_utf16le_next(s, len, i, &cp);

		if (cp == 0)
			return ae_buf_steal(&b);
		if (n == 0 || (no_controls && (cp < 0x20 || cp == 0x7f)))
			goto bad;
		ae_buf_put_utf8(&b, cp);
		i += n;
	}
	if (i != len) /* an odd byte left over */
		goto bad;
	return ae_buf_steal(&b);
bad:
	ae_buf_clear(&b);
	return NULL;
}

typedef struct {
	ae_ctx *ctx;
	const uint8_t *p;
	size_t len;
	size_t off;
} reader;

static ae_err damaged(reader *r, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static ae_err
damaged(reader *r, size_t at, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return ae_set_message(r->ctx, AE_ERR_INVALID, "Registry.pol damaged at byte %zu: %s; nothing of it is applied",
	                      at, why);
}

/* One UTF-16LE punctuation character ('[', ';' or ']'). */
static ae_err
expect(reader *r, char c, const char *where)
{
	if (r->len - r->off < 2)
		return damaged(r, r->off, "the file ends where '%c' was expected %s", c, where);
	if (r->p[r->off] != (uint8_t)c || r->p[r->off + 1] != 0)
		return damaged(r, r->off, "'%c' expected %s, found 0x%02x%02x", c, where, r->p[r->off + 1],
		               r->p[r->off]);
	r->off += 2;
	return AE_OK;
}

/* A NUL-terminated UTF-16LE string of at most MAX characters. */
static ae_err
string(reader *r, const char *what, size_t max, char **out)
{
	size_t start = r->off, i;

	for (i = start; i + 1 < r->len; i += 2) {
		if (r->p[i] == 0 && r->p[i + 1] == 0)
			break;
		if ((i - start) / 2 >= max)
			return damaged(r, start, "the %s is longer than %zu characters", what, max);
	}
	if (i + 1 >= r->len)
		return damaged(r, start, "the %s has no terminating NUL before the end of the file", what);
	*out = ae_utf16le_decode(r->p + start, i - start, true);
	if (*out == NULL)
		return damaged(r, start, "the %s is not valid UTF-16 text (control character or lone surrogate)",
		               what);
	r->off = i + 2;
	return AE_OK;
}

static ae_err
u32(reader *r, const char *what, uint32_t *out)
{
	if (r->len - r->off < 4)
		return damaged(r, r->off, "the file ends inside the %s field", what);
	*out = le32(r->p + r->off);
	r->off += 4;
	return AE_OK;
}

static void
entry_clear(ae_regpol_entry *e)
{
	free(e->key);
	free(e->value);
	free(e->data);
}

static ae_err
parse_entry(reader *r, ae_regpol_entry *e)
{
	ae_err rc;
	size_t size_at;
	uint32_t size;

	e->offset = r->off;
	if ((rc = expect(r, '[', "at the start of an entry")) != AE_OK ||
	    (rc = string(r, "key", AE_REGPOL_MAX_KEY_CHARS, &e->key)) != AE_OK)
		return rc;
	if (e->key[0] == '\0')
		return damaged(r, e->offset + 2, "the key is empty");
	if ((rc = expect(r, ';', "after the key")) != AE_OK ||
	    (rc = string(r, "value name", AE_REGPOL_MAX_VALUE_CHARS, &e->value)) != AE_OK ||
	    (rc = expect(r, ';', "after the value name")) != AE_OK)
		return rc;
	if ((rc = u32(r, "type", &e->type)) != AE_OK)
		return rc;
	if (ae_reg_type_name(e->type) == NULL)
		return damaged(r, r->off - 4, "type %u is not a registry type", (unsigned)e->type);
	if ((rc = expect(r, ';', "after the type")) != AE_OK)
		return rc;
	size_at = r->off;
	if ((rc = u32(r, "size", &size)) != AE_OK)
		return rc;
	if (size > AE_REGPOL_MAX_DATA)
		return damaged(r, size_at, "the size field says %u bytes, more than the 65535 MS-GPREG allows",
		               (unsigned)size);
	if ((rc = expect(r, ';', "after the size")) != AE_OK)
		return rc;
	/* Data, then "]": the size must leave room for both. */
	if (r->len - r->off < (size_t)size + 2)
		return damaged(r, size_at, "the size field says %u bytes, more than the %zu the file has left",
		               (unsigned)size, r->len - r->off);
	if (size > 0) {
		e->data = malloc(size);
		if (e->data == NULL)
			return ae_set_message(r->ctx, AE_ERR_NOMEM, "out of memory");
		memcpy(e->data, r->p + r->off, size);
	}
	e->size = size;
	r->off += size;
	if (r->p[r->off] != ']' || r->p[r->off + 1] != 0)
		return damaged(r, size_at, "the size field (%u bytes) does not end at the entry's ']'", (unsigned)size);
	r->off += 2;
	return AE_OK;
}

ae_err
ae_regpol_parse(ae_ctx *ctx, const uint8_t *data, size_t len, ae_regpol **out)
{
	reader r = { ctx, data, len, 0 };
	ae_regpol *pol = NULL;
	size_t cap = 0;
	ae_err rc;

	ae_return_val_if_fail(out != NULL && (data != NULL || len == 0), AE_ERR_INTERNAL);
	*out = NULL;
	if (len < 8 || memcmp(data, "PReg", 4) != 0)
		return damaged(&r, 0, "no \"PReg\" signature and version");
	pol = calloc(1, sizeof(*pol));
	if (pol == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	pol->version = le32(data + 4);
	if (pol->version != 1) {
		rc = damaged(&r, 4, "version %u, only version 1 exists", (unsigned)pol->version);
		goto out;
	}
	r.off = 8;
	while (r.off < len) {
		if (pol->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			ae_regpol_entry *n = realloc(pol->entries, ncap * sizeof(*n));

			if (n == NULL) {
				rc = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
				goto out;
			}
			pol->entries = n;
			cap = ncap;
		}
		memset(&pol->entries[pol->n], 0, sizeof(pol->entries[0]));
		rc = parse_entry(&r, &pol->entries[pol->n]);
		pol->n++;
		if (rc != AE_OK)
			goto out;
	}
	*out = pol;
	pol = NULL;
	rc = AE_OK;
out:
	ae_regpol_free(pol);
	return rc;
}

ae_err
ae_regpol_load(ae_ctx *ctx, const char *path, ae_regpol **out)
{
	size_t len = 0;
	char *raw;
	ae_err rc;

	*out = NULL;
	errno = 0;
	raw = ae_read_file(path, AE_REGPOL_MAX_FILE + 1, &len);
	if (raw == NULL)
		return ae_set_message(ctx, errno == ENOMEM ? AE_ERR_NOMEM : AE_ERR_IO, "cannot read %s: %s", path,
		                      strerror(errno ? errno : ENOMEM));
	if (len > AE_REGPOL_MAX_FILE) {
		free(raw);
		return ae_set_message(ctx, AE_ERR_INVALID, "%s: larger than %u bytes, not a Registry.pol", path,
		                      AE_REGPOL_MAX_FILE);
	}
	rc = ae_regpol_parse(ctx, (const uint8_t *)raw, len, out);
	free(raw);
	if (rc != AE_OK)
		return ae_prefix_message(ctx, rc, "%s", path);
	return AE_OK;
}

void
ae_regpol_free(ae_regpol *pol)
{
	if (pol == NULL)
		return;
	for (size_t i = 0; i < pol->n; i++)
		entry_clear(&pol->entries[i]);
	free(pol->entries);
	free(pol);
}

bool
ae_regpol_dword(const ae_regpol_entry *e, uint32_t *out)
{
	if (e->size != 4)
		return false;
	if (e->type == AE_REG_DWORD)
		*out = le32(e->data);
	else if (e->type == AE_REG_DWORD_BIG_ENDIAN)
		*out = (uint32_t)e->data[0] << 24 | (uint32_t)e->data[1] << 16 | (uint32_t)e->data[2] << 8 |
		       (uint32_t)e->data[3];
	else
		return false;
	return true;
}

bool
ae_regpol_qword(const ae_regpol_entry *e, uint64_t *out)
{
	if (e->type != AE_REG_QWORD || e->size != 8)
		return false;
	*out = (uint64_t)le32(e->data) | (uint64_t)le32(e->data + 4) << 32;
	return true;
}

char *
ae_regpol_string(const ae_regpol_entry *e)
{
	if (e->type != AE_REG_SZ && e->type != AE_REG_EXPAND_SZ)
		return NULL;
	return ae_utf16le_decode(e->data, e->size & ~(size_t)1, false);
}

char **
ae_regpol_multi(const ae_regpol_entry *e, bool *ok)
{
	char **v = NULL;
	size_t i = 0, n = e->size & ~(size_t)1;

	*ok = false;
	if (e->type != AE_REG_MULTI_SZ)
		return NULL;
	while (i < n) {
		size_t j = i;
		char *s;

		while (j < n && (e->data[j] != 0 || e->data[j + 1] != 0))
			j += 2;
		if (j == i) /* the empty string ends the list */
			break;
		s = ae_utf16le_decode(e->data + i, j - i, false);
		if (s == NULL || !ae_strv_append(&v, s)) {
			free(s);
			ae_strv_free(v);
			return NULL;
		}
		free(s);
		i = j + 2;
	}
	*ok = true;
	return v;
}
