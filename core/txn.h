/*
 * txn.h - one enrollment transaction: record, key, request, submit, check
 * the answer, store.  Pulses (engine.c) and the commands request, enroll,
 * enroll --renew and retrieve all go through it, so that a certificate is
 * made, checked and stored the same way whoever asks, over whichever
 * transport reaches the CA (transport/transport.h).
 *
 * Crash safety: the record is saved (state "new") before its key exists,
 * and marked issued only once the certificate is on the token and in the
 * store; ae_local_recover removes what a run that died leaves.
 */
#ifndef AE_TXN_H
#define AE_TXN_H

#include "error.h"
#include "keystore.h"
#include "local.h"
#include "policy.h"
#include "store.h"
#include "transport.h"

#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>

/* What every transaction of a run shares. */
typedef struct {
	const ae_local *local;
	ae_store *st;
	ae_keystore *ks;
	const ae_policy *policy;
	ae_ca_links *links;       /* open CA links, reused through the run */
	uint32_t client_id;       /* AE_CLIENT_ID_AUTOENROLL or AE_CLIENT_ID_CLI */
	const char *process;      /* the requesting program, as the request says */
	const char *who;          /* "pulse", "enroll", "request": names the crash points */
} ae_txn_env;

/* What to ask for. */
typedef struct {
	const ae_template *tpl;
	const ae_ca *ca;          /* where it goes (request: may be NULL) */
	ae_record *renew;         /* the certificate this one replaces, or NULL */
	ae_key *renew_key;        /* its key: the request is a renewal signed with it; NULL: a new request */
	bool same_key;            /* the renewal keeps renew_key (CT_FLAG_REQUIRE_SAME_KEY_RENEWAL): the new
	                           * record's key is a copy of it (ae_keystore_copy) instead of a new key */
	const char *subject;      /* enrollee-supplied subject DN, or NULL (renewals: the old certificate's) */
	char *const *san_dns;     /* enrollee-supplied DNS names, or NULL */
	char *const *san_upn;     /* ... UPNs */
	char *const *san_email;   /* ... e-mail addresses */
	X509 *agent_cert;         /* an enrollment agent co-signs (RA signature), or NULL */
	ae_key *agent_key;        /* its key */
	const char *on_behalf_of; /* "DOMAIN\\user": enroll on behalf (with an agent), or NULL */
	const char *challenge;    /* SCEP: the challenge password, or NULL */
	const char *scep_profile; /* SCEP: the profile's name, kept in the record, or NULL */
} ae_txn_request;

/* A transaction under way: its record (state "new"), key and request. */
typedef struct {
	ae_record *rec;
	ae_key *key;
	X509_REQ *req;            /* the PKCS#10 (NULL for a renewal, which is CMS) */
	uint8_t *der;             /* what goes to the CA */
	size_t der_len;
	const ae_template *tpl;
	const ae_ca *ca;
	bool renewal;             /* signed with the replaced certificate's key */
	bool archival;            /* carries its key encrypted to the CA's exchange certificate (bound to that CA) */
	bool reached;             /* the last ae_txn_submit got an answer from the CA */
	X509 *renew_cert;         /* a renewal: the current certificate, which signs SCEP's envelope or
	                           * authenticates to a renewal-only endpoint (TLS client authentication) */
	ae_key *renew_key;        /* ... and its key (both borrowed from the ae_txn_request) */
} ae_txn;

typedef struct {
	ae_ca_outcome outcome;
	uint32_t request_id;
	uint32_t hresult;         /* refused: the code that explains it */
	bool final;               /* refused retrieval: the request is over, its key and record are gone */
	char *why;                /* refused: the CA's refusal in plain words */
	char *ca_message;         /* the CA's own words, if any */
	X509 *cert;               /* issued */
	char *record_id;          /* issued or pending: the new record */
	char *key_uri;            /* ... and its key */
} ae_txn_result;

void ae_txn_result_clear(ae_txn_result *r);

/* Saves a record, makes the key as the template asks and builds the
 * request.  A template that requires key archival (MS-WCCE 3.1.1.4.3.6)
 * first gets the CA exchange certificate through the CA's link and checks
 * it; the key store must be able to give the private key (files, not a
 * token), else AE_ERR_UNSUPPORTED says so.  *OUT stays NULL on error, and
 * nothing is left behind. */
ae_err ae_txn_begin(ae_ctx *ctx, const ae_txn_env *env, const ae_txn_request *rq, ae_txn **out);

/* Submits T to its CA and acts on the answer: issued, the certificate is
 * checked (chain to the policy's roots, key, template) and stored next to
 * the key; pending, the record keeps the key; refused, record and key go.
 * AE_OK when the CA answered (*OUT says what); an error when it could not
 * be asked or what it issued could not be installed. */
ae_err ae_txn_submit(ae_ctx *ctx, const ae_txn_env *env, ae_txn *t, ae_txn_result *out);

/* Points T, not yet taken by a CA, at CA instead: the same request goes
 * to the next CA that publishes the template when one cannot be reached
 * (the whitepaper's "Submitting a new request"; the request names no CA). */
ae_err ae_txn_retarget(ae_ctx *ctx, ae_txn *t, const ae_ca *ca);

/* Keeps T as a request made for another channel (autoenroll request):
 * the record says "requested" and names the key. */
ae_err ae_txn_keep_as_request(ae_ctx *ctx, const ae_txn_env *env, ae_txn *t);

/* Ends T.  A record still "new" (nothing taken by a CA) goes with its key. */
void ae_txn_free(const ae_txn_env *env, ae_txn *t);

/* begin + submit + free. */
ae_err ae_txn_enroll(ae_ctx *ctx, const ae_txn_env *env, const ae_txn_request *rq, ae_txn_result *out);

/* Asks REC's CA about its pending request and acts on the answer like
 * ae_txn_submit; a final refusal removes the record and its key.  REC is
 * updated (state, certificate). */
ae_err ae_txn_retrieve(ae_ctx *ctx, const ae_txn_env *env, ae_record *rec, const ae_template *tpl,
                       const ae_ca *ca, ae_txn_result *out);

/* A refusal in plain words ("CA X did not issue T: ...") on CTX, as
 * AE_ERR_DENIED; *HR_OUT (optional) gets the code that explains it. */
ae_err ae_txn_refusal(ae_ctx *ctx, const ae_ca_answer *a, const char *tpl, const char *ca, const char *caller,
                      uint32_t *hr_out);

#endif
