/*
 * pcache.h - the policy cache: what the last full pulse learnt from AD,
 * kept in the state directory so that a pulse within policy_refresh
 * seconds (600, as Windows refreshes templates at most every 10 minutes)
 * can decide from local state alone that there is nothing to do.
 *
 * The file is untrusted on read (a bad disk, another writer): it is only
 * ever a reason to skip network work when everything local is current;
 * a cache that does not parse is ignored and the policy is read again.
 */
#ifndef AE_PCACHE_H
#define AE_PCACHE_H

#include "error.h"
#include "policy.h"

#include <stdint.h>

typedef struct {
	char *name;
	char *oid;            /* NULL: none */
	uint32_t major, minor;
	ae_decision decision;
	int64_t renewal_seconds;
} ae_pcache_template;

typedef struct {
	int64_t loaded;       /* unix time of the full read */
	char *principal;
	uint32_t aepolicy;
	ae_pcache_template *templates;
	size_t count;
} ae_pcache;

/* From a decided policy (autoenroll and manual-renew-only templates). */
ae_err ae_pcache_from_policy(ae_ctx *ctx, const ae_policy *p, uint32_t aepolicy, int64_t now, ae_pcache **out);
char *ae_pcache_format(const ae_pcache *c);
ae_err ae_pcache_parse(ae_ctx *ctx, const char *text, size_t len, ae_pcache **out);
void ae_pcache_free(ae_pcache *c);

/* DIR/policy-cache: load (AE_ERR_NOTFOUND when absent) and save. */
ae_err ae_pcache_load(ae_ctx *ctx, const char *dir, ae_pcache **out);
ae_err ae_pcache_save(ae_ctx *ctx, const char *dir, const ae_pcache *c);
void ae_pcache_remove(const char *dir);

#endif
