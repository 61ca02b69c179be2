/*
 * ldif.c - the tests' LDIF reader (see ldif.h for what it supports).
 */
#include "config.h"

#include "ldif.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Mutable mirrors of the ae_* types while building. */
typedef struct {
	char *name;
	ae_value *values;
	size_t nvalues;
} build_attr;

typedef struct {
	char *dn;
	build_attr *attrs;
	size_t nattrs;
} build_entry;

static void
set_err(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errsize == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
}

static int
b64_digit(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decodes base64 S (N chars) into a new buffer; NULL on bad input. */
static uint8_t *
b64_decode(const char *s, size_t n, size_t *out_len)
{
	uint8_t *out = malloc(n / 4 * 3 + 4);
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0, i;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		int d;
		if (s[i] == '=')
			break;
		if (s[i] == ' ')
			continue;
		d = b64_digit((unsigned char)s[i]);
		if (d < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	for (; i < n; i++) {
		if (s[i] != '=' && s[i] != ' ') {
			free(out);
			return NULL;
		}
	}
	out[o] = 0;
	*out_len = o;
	return out;
}

static void
free_build(build_entry *e)
{
	free(e->dn);
	for (size_t i = 0; i < e->nattrs; i++) {
		for (size_t j = 0; j < e->attrs[i].nvalues; j++)
			free((void *)e->attrs[i].values[j].data);
		free(e->attrs[i].values);
		free(e->attrs[i].name);
	}
	free(e->attrs);
	memset(e, 0, sizeof(*e));
}

static int
add_value(build_entry *e, const char *name, size_t nlen, uint8_t *data, size_t len)
{
	build_attr *a = NULL;
	ae_value *nv;

	for (size_t i = 0; i < e->nattrs; i++) {
		if (strlen(e->attrs[i].name) == nlen &&
		    strncasecmp(e->attrs[i].name, name, nlen) == 0) {
			a = &e->attrs[i];
			break;
		}
	}
	if (a == NULL) {
		build_attr *na = realloc(e->attrs, (e->nattrs + 1) * sizeof(*na));
		if (na == NULL)
			return -1;
		e->attrs = na;
		a = &e->attrs[e->nattrs];
		memset(a, 0, sizeof(*a));
		a->name = strndup(name, nlen);
		if (a->name == NULL)
			return -1;
		e->nattrs++;
	}
	nv = realloc(a->values, (a->nvalues + 1) * sizeof(*nv));
	if (nv == NULL)
		return -1;
	a->values = nv;
	a->values[a->nvalues].data = data;
	a->values[a->nvalues].len = len;
	a->nvalues++;
	return 0;
}

static int
finish_entry(ldif_file *f, build_entry *e)
{
	ae_entry *ne;
	ae_attr *attrs = NULL;

	if (e->dn == NULL)
		return 0;
	ne = realloc(f->entries, (f->count + 1) * sizeof(*ne));
	if (ne == NULL)
		return -1;
	f->entries = ne;
	if (e->nattrs > 0) {
		attrs = calloc(e->nattrs, sizeof(*attrs));
		if (attrs == NULL)
			return -1;
		for (size_t i = 0; i < e->nattrs; i++) {
			attrs[i].name = e->attrs[i].name;
			attrs[i].values = e->attrs[i].values;
			attrs[i].nvalues = e->attrs[i].nvalues;
		}
	}
	f->entries[f->count].dn = e->dn;
	f->entries[f->count].attrs = attrs;
	f->entries[f->count].nattrs = e->nattrs;
	f->count++;
	free(e->attrs);
	memset(e, 0, sizeof(*e));
	return 0;
}

/* Handles one unfolded logical line. */
static int
handle_line(ldif_file *f, build_entry *cur, const char *line, size_t len,
            size_t lineno, char *err, size_t errsize)
{
	const char *colon = memchr(line, ':', len);
	const char *v;
	size_t nlen, vlen;
	uint8_t *data;
	size_t dlen;

	if (colon == NULL || colon == line) {
		set_err(err, errsize, "line %zu: expected \"attribute: value\"", lineno);
		return -1;
	}
	nlen = (size_t)(colon - line);
	v = colon + 1;
	vlen = len - nlen - 1;
	if (vlen > 0 && *v == ':') {
		v++;
		vlen--;
		while (vlen > 0 && *v == ' ') {
			v++;
			vlen--;
		}
		data = b64_decode(v, vlen, &dlen);
		if (data == NULL) {
			set_err(err, errsize, "line %zu: bad base64", lineno);
			return -1;
		}
	} else if (vlen > 0 && *v == '<') {
		set_err(err, errsize, "line %zu: URL values are not supported", lineno);
		return -1;
	} else {
		while (vlen > 0 && *v == ' ') {
			v++;
			vlen--;
		}
		data = malloc(vlen + 1);
		if (data == NULL)
			return -1;
		memcpy(data, v, vlen);
		data[vlen] = 0;
		dlen = vlen;
	}

	if (nlen == 2 && strncasecmp(line, "dn", 2) == 0) {
		if (finish_entry(f, cur) != 0) {
			free(data);
			return -1;
		}
		cur->dn = (char *)data;
		return 0;
	}
	if (cur->dn == NULL) {
		free(data);
		if (nlen == 7 && strncasecmp(line, "version", 7) == 0)
			return 0;
		set_err(err, errsize, "line %zu: attribute before any dn", lineno);
		return -1;
	}
	if (nlen == 10 && strncasecmp(line, "changetype", 10) == 0) {
		free(data);
		return 0;
	}
	if (add_value(cur, line, nlen, data, dlen) != 0) {
		free(data);
		return -1;
	}
	return 0;
}

int
ldif_parse(const char *text, size_t len, ldif_file *out, char *err, size_t errsize)
{
	ldif_file f = { NULL, 0 };
	build_entry cur;
	char *logical = NULL;
	size_t llen = 0, lcap = 0, lineno = 0, start_line = 0;
	bool in_comment = false, have_logical = false;
	size_t pos = 0;
	int rc = -1;

	memset(&cur, 0, sizeof(cur));
	memset(out, 0, sizeof(*out));
	if (err != NULL && errsize > 0)
		err[0] = '\0';
	for (;;) {
		const char *line = text + pos;
		const char *nl;
		size_t n = 0;
		bool eof = pos >= len;

		if (!eof) {
			nl = memchr(line, '\n', len - pos);
			n = nl != NULL ? (size_t)(nl - line) : len - pos;
			pos += n + (nl != NULL ? 1 : 0);
			if (n > 0 && line[n - 1] == '\r')
				n--;
			lineno++;
			/* A leading space continues the previous line. */
			if (n > 0 && line[0] == ' ' && (have_logical || in_comment)) {
				if (in_comment)
					continue;
				if (llen + n > lcap) {
					char *nb;
					lcap = (llen + n) * 2;
					nb = realloc(logical, lcap);
					if (nb == NULL)
						goto cleanup;
					logical = nb;
				}
				memcpy(logical + llen, line + 1, n - 1);
				llen += n - 1;
				continue;
			}
		}
		/* A new logical line starts: handle the finished one. */
		if (have_logical) {
			if (handle_line(&f, &cur, logical, llen, start_line, err, errsize) != 0)
				goto cleanup;
			have_logical = false;
		}
		in_comment = false;
		if (eof)
			break;
		if (n == 0) {
			if (finish_entry(&f, &cur) != 0)
				goto cleanup;
			continue;
		}
		if (line[0] == '#') {
			in_comment = true;
			continue;
		}
		if (n > lcap) {
			char *nb;
			lcap = n * 2;
			nb = realloc(logical, lcap);
			if (nb == NULL)
				goto cleanup;
			logical = nb;
		}
		memcpy(logical, line, n);
		llen = n;
		have_logical = true;
		start_line = lineno;
	}
	if (finish_entry(&f, &cur) != 0)
		goto cleanup;
	*out = f;
	memset(&f, 0, sizeof(f));
	rc = 0;
cleanup:
	if (rc != 0 && (err == NULL || err[0] == '\0'))
		set_err(err, errsize, "out of memory");
	free_build(&cur);
	ldif_free(&f);
	free(logical);
	return rc;
}

int
ldif_read_file(const char *path, ldif_file *out, char *err, size_t errsize)
{
	FILE *fp;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	int rc;

	if (err != NULL && errsize > 0)
		err[0] = '\0';
	fp = fopen(path, "rb");
	if (fp == NULL) {
		set_err(err, errsize, "cannot open %s", path);
		return -1;
	}
	for (;;) {
		if (len + 4096 > cap) {
			char *nb;
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				fclose(fp);
				set_err(err, errsize, "out of memory");
				return -1;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	fclose(fp);
	rc = ldif_parse(buf, len, out, err, errsize);
	if (rc != 0) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "%s", err != NULL ? err : "");
		set_err(err, errsize, "%s: %s", path, tmp);
	}
	free(buf);
	return rc;
}

void
ldif_free(ldif_file *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->count; i++) {
		ae_entry *e = &f->entries[i];
		for (size_t j = 0; j < e->nattrs; j++) {
			const ae_attr *a = &e->attrs[j];
			for (size_t k = 0; k < a->nvalues; k++)
				free((void *)a->values[k].data);
			free((void *)a->values);
			free((void *)a->name);
		}
		free((void *)e->attrs);
		free((void *)e->dn);
	}
	free(f->entries);
	f->entries = NULL;
	f->count = 0;
}

const ae_entry *
ldif_find(const ldif_file *f, const char *cn)
{
	for (size_t i = 0; i < f->count; i++) {
		const ae_attr *a = ae_entry_get(&f->entries[i], "cn");
		if (a != NULL && a->nvalues > 0 && strlen(cn) == a->values[0].len &&
		    memcmp(a->values[0].data, cn, a->values[0].len) == 0)
			return &f->entries[i];
	}
	return NULL;
}
