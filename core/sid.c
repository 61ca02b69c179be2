/*
 * sid.c - security identifiers: binary and string forms, and tokens.
 *
 * Binary SIDs arrive inside security descriptors read from the network,
 * so every length is checked before it is used.  String SIDs come from
 * configuration and from the lab; both directions follow MS-DTYP 2.4.2.
 */
#include "config.h"

#include "sid.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Revision, count and the 6-byte authority. */
#define SID_HEADER_LEN 8
#define SID_AUTHORITY_MAX 0xFFFFFFFFFFFFull

ae_err
ae_sid_from_bytes(ae_ctx *ctx, const uint8_t *data, size_t len,
                  ae_sid *out, size_t *consumed)
{
	ae_sid sid;
	size_t need;

	ae_return_val_if_fail(out != NULL, AE_ERR_INTERNAL);
	if (consumed != NULL)
		*consumed = 0;
	memset(out, 0, sizeof(*out));
	if (data == NULL || len < SID_HEADER_LEN)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "SID needs at least %d bytes, %zu available",
		                      SID_HEADER_LEN, data == NULL ? (size_t)0 : len);

	memset(&sid, 0, sizeof(sid));
	sid.revision = data[0];
	sid.count = data[1];
	if (sid.revision != 1)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "SID revision is %u; only revision 1 exists",
		                      (unsigned)sid.revision);
	if (sid.count > AE_SID_MAX_SUBAUTH)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "SID has %u sub-authorities; at most %d are allowed",
		                      (unsigned)sid.count, AE_SID_MAX_SUBAUTH);
	need = SID_HEADER_LEN + 4 * (size_t)sid.count;
	if (len < need)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "SID with %u sub-authorities needs %zu bytes, %zu available",
		                      (unsigned)sid.count, need, len);

	/* The authority is the one big-endian field of a SID. */
	for (int i = 0; i < 6; i++)
		sid.authority = (sid.authority << 8) | data[2 + i];
	for (unsigned i = 0; i < sid.count; i++) {
		const uint8_t *p = data + SID_HEADER_LEN + 4 * i;
		sid.sub[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
		             (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	}
	*out = sid;
	if (consumed != NULL)
		*consumed = need;
	return AE_OK;
}

/* Reads decimal digits at *P into *OUT (at most MAX); no sign, no leading
 * zeros per MS-DTYP 2.4.2.1 (a lone "0" is fine). */
static bool
parse_decimal(const char **p, uint64_t max, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return false;
	if (s[0] == '0' && s[1] >= '0' && s[1] <= '9')
		return false;
	while (*s >= '0' && *s <= '9') {
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
		s++;
	}
	*p = s;
	*out = v;
	return true;
}

static bool
parse_hex_authority(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int n = 0;

	for (; n < 12; n++, s++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		v = (v << 4) | (uint64_t)d;
	}
	/* The ABNF demands exactly 12 digits; tolerate fewer, but not more. */
	if (n == 0 || (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
	    (*s >= 'A' && *s <= 'F'))
		return false;
	*p = s;
	*out = v;
	return true;
}

ae_err
ae_sid_from_string(ae_ctx *ctx, const char *str, ae_sid *out)
{
	ae_sid sid;
	const char *p;
	uint64_t v;

	ae_return_val_if_fail(out != NULL, AE_ERR_INTERNAL);
	memset(out, 0, sizeof(*out));
	if (str == NULL)
		return ae_set_message(ctx, AE_ERR_INVALID, "no SID given");

	memset(&sid, 0, sizeof(sid));
	p = str;
	if ((p[0] != 'S' && p[0] != 's') || p[1] != '-' || p[2] != '1' || p[3] != '-')
		goto bad;
	p += 4;
	sid.revision = 1;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
		if (!parse_hex_authority(&p, &v))
			goto bad;
	} else if (!parse_decimal(&p, SID_AUTHORITY_MAX, &v)) {
		goto bad;
	}
	sid.authority = v;
	while (*p == '-') {
		p++;
		if (sid.count >= AE_SID_MAX_SUBAUTH)
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "SID \"%.*s\" has more than %d sub-authorities",
			                      AE_SID_STRLEN, str, AE_SID_MAX_SUBAUTH);
		if (!parse_decimal(&p, UINT32_MAX, &v))
			goto bad;
		sid.sub[sid.count++] = (uint32_t)v;
	}
	if (*p != '\0')
		goto bad;
	*out = sid;
	return AE_OK;

bad:
	return ae_set_message(ctx, AE_ERR_INVALID,
	                      "\"%.*s\" is not a SID (expected S-1-<authority>-<sub>-...)",
	                      AE_SID_STRLEN, str);
}

char *
ae_sid_to_string(const ae_sid *sid, char *buf, size_t size)
{
	size_t off;
	int n;

	if (buf == NULL || size == 0)
		return buf;
	buf[0] = '\0';
	if (sid == NULL)
		return buf;
	/* MS-DTYP 2.4.2.1: decimal below 2^32, 12 hex digits above. */
	if (sid->authority < 0x100000000ull)
		n = snprintf(buf, size, "S-%u-%" PRIu64, (unsigned)sid->revision, sid->authority);
	else
		n = snprintf(buf, size, "S-%u-0x%012" PRIX64, (unsigned)sid->revision,
		             sid->authority);
	if (n < 0 || (size_t)n >= size)
		return buf;
	off = (size_t)n;
	for (unsigned i = 0; i < sid->count && i < AE_SID_MAX_SUBAUTH; i++) {
		n = snprintf(buf + off, size - off, "-%" PRIu32, sid->sub[i]);
		if (n < 0 || (size_t)n >= size - off)
			break;
		off += (size_t)n;
	}
	return buf;
}

bool
ae_sid_equal(const ae_sid *a, const ae_sid *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (a->revision != b->revision || a->count != b->count ||
	    a->authority != b->authority || a->count > AE_SID_MAX_SUBAUTH)
		return false;
	return memcmp(a->sub, b->sub, sizeof(a->sub[0]) * a->count) == 0;
}

int
ae_sid_cmp(const ae_sid *a, const ae_sid *b)
{
	size_t n;

	if (a->revision != b->revision)
		return a->revision < b->revision ? -1 : 1;
	if (a->count != b->count)
		return a->count < b->count ? -1 : 1;
	if (a->authority != b->authority)
		return a->authority < b->authority ? -1 : 1;
	n = a->count <= AE_SID_MAX_SUBAUTH ? a->count : AE_SID_MAX_SUBAUTH;
	for (size_t i = 0; i < n; i++)
		if (a->sub[i] != b->sub[i])
			return a->sub[i] < b->sub[i] ? -1 : 1;
	return 0;
}

bool
ae_sid_compose(const ae_sid *domain, uint32_t rid, ae_sid *out)
{
	ae_sid sid;

	if (domain == NULL || out == NULL || domain->count >= AE_SID_MAX_SUBAUTH)
		return false;
	sid = *domain;
	sid.sub[sid.count++] = rid;
	*out = sid;
	return true;
}

bool
ae_sid_domain_of(const ae_sid *sid, ae_sid *out)
{
	ae_sid d;

	if (sid == NULL || out == NULL || sid->count == 0 || sid->count > AE_SID_MAX_SUBAUTH)
		return false;
	d = *sid;
	d.count--;
	d.sub[d.count] = 0;
	*out = d;
	return true;
}

void
ae_token_init(ae_token *tok)
{
	if (tok != NULL)
		memset(tok, 0, sizeof(*tok));
}

void
ae_token_clear(ae_token *tok)
{
	if (tok == NULL)
		return;
	free(tok->sids);
	free(tok->by_value);
	memset(tok, 0, sizeof(*tok));
}

/* Where SID is, or would go, in TOK's sorted index; *FOUND says which. */
static size_t
token_search(const ae_token *tok, const ae_sid *sid, bool *found)
{
	size_t lo = 0, hi = tok->count;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = ae_sid_cmp(&tok->sids[tok->by_value[mid]], sid);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool
ae_token_has(const ae_token *tok, const ae_sid *sid)
{
	bool found = false;

	if (tok == NULL || sid == NULL || tok->count == 0)
		return false;
	token_search(tok, sid, &found);
	return found;
}

ae_err
ae_token_add(ae_ctx *ctx, ae_token *tok, const ae_sid *sid)
{
	ae_return_val_if_fail(tok != NULL, AE_ERR_INTERNAL);
	ae_return_val_if_fail(sid != NULL, AE_ERR_INTERNAL);
	bool found;
	size_t at = token_search(tok, sid, &found);

	if (found)
		return AE_OK;
	if (tok->count == tok->cap) {
		size_t cap = tok->cap ? tok->cap * 2 : 16;
		ae_sid *n;
		size_t *idx;
		if (cap > SIZE_MAX / sizeof(ae_sid))
			return ae_set_message(ctx, AE_ERR_NOMEM, "too many SIDs in a token");
		n = realloc(tok->sids, cap * sizeof(ae_sid));
		if (n == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory adding a SID to a token");
		tok->sids = n;
		idx = realloc(tok->by_value, cap * sizeof(size_t));
		if (idx == NULL)
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory adding a SID to a token");
		tok->by_value = idx;
		tok->cap = cap;
	}
	memmove(&tok->by_value[at + 1], &tok->by_value[at], (tok->count - at) * sizeof(size_t));
	tok->by_value[at] = tok->count;
	tok->sids[tok->count++] = *sid;
	return AE_OK;
}

ae_err
ae_token_add_string(ae_ctx *ctx, ae_token *tok, const char *str)
{
	ae_sid sid;
	ae_err err;

	err = ae_sid_from_string(ctx, str, &sid);
	if (err != AE_OK)
		return err;
	return ae_token_add(ctx, tok, &sid);
}

ae_err
ae_token_add_wellknown(ae_ctx *ctx, ae_token *tok)
{
	static const char *const wellknown[] = {
		"S-1-1-0",  /* Everyone */
		"S-1-5-11", /* Authenticated Users */
		"S-1-5-15", /* This Organization */
	};
	ae_err err;

	for (size_t i = 0; i < sizeof(wellknown) / sizeof(wellknown[0]); i++) {
		err = ae_token_add_string(ctx, tok, wellknown[i]);
		if (err != AE_OK)
			return err;
	}
	return AE_OK;
}
