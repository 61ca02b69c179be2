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

#include <stdbool.h>
#include <stdint.h>

typedef struct {
	char *name;
	char *oid;            /* NULL: none */
	uint32_t major, minor;
	ae_decision decision;
	int64_t renewal_seconds;
	uint32_t enrollment_flags; /* msPKI-Enrollment-Flag (SKIP_AUTO_RENEWAL, USER_INTERACTION_REQUIRED) */
} ae_pcache_template;

/* A template the last full pulse left waiting for the user (a needs-user
 * event: consent, a PIN, a card): a pulse that cannot ask the user has
 * nothing more to do for it than to say so again. */
typedef struct {
	char *template_name;
	char *message;        /* the needs-user event's words */
} ae_pcache_wait;

/* A CA's refusal that asking again cannot change until the template or
 * the CA's configuration does (CERTSRV_E_CERT_TYPE_OVERLAP and the like):
 * the template is not requested again from that CA for
 * AE_PCACHE_REFUSAL_TTL seconds, nor while its version stays the same
 * (a new version asks at once). */
typedef struct {
	char *template_name;
	uint32_t major, minor;
	char *ca;
	uint32_t hresult;
	int64_t at;           /* unix time of the refusal */
} ae_pcache_refusal;

#define AE_PCACHE_REFUSAL_TTL (24 * 3600)

typedef struct {
	int64_t loaded;       /* unix time of the full read */
	char *principal;
	uint32_t aepolicy;
	ae_pcache_template *templates;
	size_t count;
	ae_pcache_refusal *refusals;
	size_t nrefusals;
	ae_pcache_wait *waits;
	size_t nwaits;
} ae_pcache;

/* From a decided policy (autoenroll and manual-renew-only templates). */
ae_err ae_pcache_from_policy(ae_ctx *ctx, const ae_policy *p, uint32_t aepolicy, int64_t now, ae_pcache **out);
char *ae_pcache_format(const ae_pcache *c);
ae_err ae_pcache_parse(ae_ctx *ctx, const char *text, size_t len, ae_pcache **out);
void ae_pcache_free(ae_pcache *c);

/* Whether HR is a refusal worth remembering (see ae_pcache_refusal). */
bool ae_pcache_lasting_refusal(uint32_t hr);
/* Remembers (or refreshes) a refusal in C; names with control characters
 * are not kept. */
ae_err ae_pcache_add_refusal(ae_ctx *ctx, ae_pcache *c, const char *template_name, uint32_t major,
                             uint32_t minor, const char *ca, uint32_t hr, int64_t at);
/* The refusal of TEMPLATE_NAME at version MAJOR.MINOR by CA (NULL: any
 * CA) still in force at NOW, or NULL. */
const ae_pcache_refusal *ae_pcache_find_refusal(const ae_pcache *c, const char *template_name, uint32_t major,
                                                uint32_t minor, const char *ca, int64_t now);

/* Remembers that TEMPLATE_NAME waits for the user, in MESSAGE's words;
 * fields with control characters are not kept. */
ae_err ae_pcache_add_wait(ae_ctx *ctx, ae_pcache *c, const char *template_name, const char *message);
/* The wait of TEMPLATE_NAME, or NULL. */
const ae_pcache_wait *ae_pcache_find_wait(const ae_pcache *c, const char *template_name);

/* DIR/policy-cache: load (AE_ERR_NOTFOUND when absent) and save. */
ae_err ae_pcache_load(ae_ctx *ctx, const char *dir, ae_pcache **out);
ae_err ae_pcache_save(ae_ctx *ctx, const char *dir, const ae_pcache *c);
void ae_pcache_remove(const char *dir);

#endif
