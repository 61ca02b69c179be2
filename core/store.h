/*
 * store.h - the local certificate store: what autoenrollment remembers.
 *
 * The whitepaper's stores, one record per key: the REQUEST store (requests
 * being made, written for manual submission, or pending at a CA), the
 * Personal store (current certificates) and archived certificates.  Each
 * record knows its template (name, OID, major.minor), the policy server
 * and CA it came from, and where its key is.
 *
 * Every change is written to a temporary file, flushed, renamed over the
 * old one and the directory flushed: a crash leaves the old or the new
 * state, never a torn one.  A record is written before its key is made,
 * so a key can always be found from its record; records still in state
 * "new" at the next run belong to a run that died before its request was
 * written or sent, and are removed with their keys.
 */
#ifndef AE_STORE_H
#define AE_STORE_H

#include "error.h"
#include "testhooks.h"

#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum {
	AE_REC_NEW = 0,     /* key being made, request not yet written or sent */
	AE_REC_REQUESTED,   /* request written for manual submission (certreq -new) */
	AE_REC_PENDING,     /* submitted; the CA keeps it pending (request_id) */
	AE_REC_ISSUED,      /* current certificate (Personal store) */
	AE_REC_ARCHIVED,    /* replaced by a renewal, kept */
} ae_rec_state;

typedef struct {
	char *id;               /* hex; also the key's id */
	ae_rec_state state;
	char *template_name;
	char *template_oid;
	uint32_t major, minor;
	int64_t renewal_seconds;   /* template's renewal period when requested; 0 unknown */
	char *policy_server;    /* "LDAP:" */
	char *policy_id;
	char *ca;
	char *ca_host;
	uint32_t request_id;    /* 0: none */
	char *key_store;        /* keystore spec without PIN */
	char *key_uri;
	char *renewal_of;       /* id of the record this one renews */
	char *scep_subject;     /* SCEP: the request's subject, DER in hex, for CertPoll (RFC 8894 3.3.3); NULL otherwise */
	char *scep_profile;     /* SCEP: the [scep NAME] profile it was enrolled for; NULL: by hand (enroll --scep URL) */
	int64_t created;        /* unix time */
	int64_t updated;
	/* loaded, not stored in the record file */
	X509 *cert;             /* issued/archived: from certs/<id>.pem */
} ae_record;

typedef struct ae_store ae_store;

/* The default state directory of a context: machine /var/lib/autoenroll,
 * user $XDG_DATA_HOME/autoenroll (~/.local/share/autoenroll).  Caller
 * frees; NULL if HOME is unknown. */
char *ae_store_default_dir(bool machine);

/* Opens (creating with 0700 when CREATE) the state directory DIR.  A
 * directory writable by others, or owned by another user, is refused. */
ae_err ae_store_open(ae_ctx *ctx, const char *dir, bool create, ae_store **out);
void ae_store_free(ae_store *st);
const char *ae_store_dir(const ae_store *st);

/* All records, sorted by creation time.  A record file that cannot be
 * parsed is reported through the log and left in place (nothing is lost);
 * it is not returned. */
ae_err ae_store_load(ae_ctx *ctx, ae_store *st, ae_record ***recs_out, size_t *count_out);
void ae_records_free(ae_record **recs, size_t count);

ae_err ae_store_save(ae_ctx *ctx, ae_store *st, ae_record *rec);
/* Writes the certificate (and chain) of record ID as PEM. */
ae_err ae_store_save_cert(ae_ctx *ctx, ae_store *st, const char *id, X509 *cert, STACK_OF(X509) *chain);
/* Removes the record and its certificate file. */
ae_err ae_store_remove(ae_ctx *ctx, ae_store *st, const char *id);

/* Record files (untrusted on read: anyone with write access, a bad disk). */
ae_err ae_record_parse(ae_ctx *ctx, const char *text, size_t len, const char *name, ae_record **out);
char *ae_record_format(const ae_record *rec);
ae_record *ae_record_new(void);
void ae_record_free(ae_record *rec);

const char *ae_rec_state_name(ae_rec_state s);
/* The Windows store a state belongs to: "REQUEST", "MY", "ARCHIVED". */
const char *ae_rec_store_name(ae_rec_state s);

/* When renewal becomes due for a certificate valid from NOT_BEFORE to
 * NOT_AFTER with the template's RENEWAL period (the whitepaper's rule):
 * when 80 % of the lifetime has passed or the renewal period before
 * expiry is reached, whichever leaves the smaller timeframe; so a renewal
 * period over 20 % of the lifetime waits for the 80 % mark. */
int64_t ae_renewal_due(int64_t not_before, int64_t not_after, int64_t renewal);

/* Whether a certificate valid from NOT_BEFORE to NOT_AFTER is, at NOW,
 * within the offline expiry warning: not expired, with PERCENT or less of
 * its lifetime left (Group Policy's OfflineExpirationPercent; 0: never). */
bool ae_expiry_warning(int64_t not_before, int64_t not_after, int64_t now, int percent);


/* Writes DATA to PATH atomically (temporary file, fsync, rename, fsync of
 * the directory) with MODE.  The directory of PATH must not be a symbolic
 * link, must belong to this user or root and be writable by no one else;
 * the temporary file has a new random name (O_EXCL, O_NOFOLLOW), so a
 * file or link planted in the directory is never written through, and a
 * link at PATH is replaced, not followed. */
ae_err ae_write_file_atomic(ae_ctx *ctx, const char *path, const void *data, size_t len, mode_t mode);

#endif
