/*
 * sid.h - Windows security identifiers (MS-DTYP 2.4.2) and the set of SIDs
 * that stands for a caller ("token") in access checks.
 */
#ifndef AE_SID_H
#define AE_SID_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AE_SID_MAX_SUBAUTH 15
/* "S-1-" + 48-bit authority + 15 * ("-" + 10 digits) + NUL fits easily. */
#define AE_SID_STRLEN 200

typedef struct {
	uint8_t revision;
	uint8_t count;            /* number of sub-authorities used */
	uint64_t authority;       /* 48-bit identifier authority */
	uint32_t sub[AE_SID_MAX_SUBAUTH];
} ae_sid;

/* Parses a binary SID at DATA (LEN bytes available).  On success stores the
 * number of bytes used in *CONSUMED (if not NULL). */
ae_err ae_sid_from_bytes(ae_ctx *ctx, const uint8_t *data, size_t len,
                         ae_sid *out, size_t *consumed);
/* Parses "S-1-5-21-...". */
ae_err ae_sid_from_string(ae_ctx *ctx, const char *str, ae_sid *out);
/* Formats into BUF (at least AE_SID_STRLEN bytes); returns BUF. */
char *ae_sid_to_string(const ae_sid *sid, char *buf, size_t size);
bool ae_sid_equal(const ae_sid *a, const ae_sid *b);
/* The domain part of a domain account SID with RID appended: used to build
 * "Domain Users" (-513) and friends from an account SID. */
bool ae_sid_compose(const ae_sid *domain, uint32_t rid, ae_sid *out);
/* Copies SID without its last sub-authority (the RID) into OUT. */
bool ae_sid_domain_of(const ae_sid *sid, ae_sid *out);

/* A total order on SIDs (for sorting and searching); 0 when equal. */
int ae_sid_cmp(const ae_sid *a, const ae_sid *b);

/* The caller's SIDs: account, groups, well-known.  A token may hold
 * thousands of groups and every ACE of every template is looked up in it:
 * lookups search a sorted index, the SIDs themselves stay in the order
 * they were added. */
typedef struct {
	ae_sid *sids;       /* in the order added */
	size_t count;
	size_t cap;
	size_t *by_value;   /* indexes into sids, sorted by ae_sid_cmp */
} ae_token;

void ae_token_init(ae_token *tok);
void ae_token_clear(ae_token *tok);
/* Adds SID unless already present. */
ae_err ae_token_add(ae_ctx *ctx, ae_token *tok, const ae_sid *sid);
ae_err ae_token_add_string(ae_ctx *ctx, ae_token *tok, const char *sid);
bool ae_token_has(const ae_token *tok, const ae_sid *sid);

/* Well-known SIDs Windows puts in every network logon token of a domain
 * account: Everyone S-1-1-0, Authenticated Users S-1-5-11, This
 * Organization S-1-5-15. */
ae_err ae_token_add_wellknown(ae_ctx *ctx, ae_token *tok);

#endif
