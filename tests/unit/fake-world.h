/*
 * fake-world.h - an enrollment world in memory for the engine's unit
 * tests (test-engine.c): a policy source that serves an account, its
 * templates and one CA without AD, and a CA transport that issues, keeps
 * pending, denies or fails as each template's script says and records
 * every call.  A pulse runs the real engine (core/engine.c), the real
 * decisions (core/policy.c) and the real enrollment transaction
 * (core/txn.c) against it, with keys in a file store in a temporary
 * directory; the clock moves through AE_TEST_NOW_OFFSET (core/util.c).
 *
 * The CA is a root and an issuing CA made in memory (ECDSA P-256) when
 * the world is made; what it issues chains to the root the policy
 * publishes, carries the requester's key and the template extension the
 * request asked for, and lives as long as the template says.
 *
 * One world at a time: the transport finds it through a static pointer
 * (an ae_ca has no slot for a transport's own data).  The engine's log
 * goes to the TAP output as comments when AE_ENGINE_TEST_LOG is set.
 */
#ifndef AE_TEST_FAKE_WORLD_H
#define AE_TEST_FAKE_WORLD_H

#include "conf.h"
#include "engine.h"
#include "store.h"

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the CA does with a submission or a retrieval of a template. */
typedef enum {
	FAKE_ISSUE,  /* issues the certificate */
	FAKE_PEND,   /* keeps the request for a CA manager */
	FAKE_DENY,   /* refuses with the template's hresult (a retrieval: the request is over) */
	FAKE_ERROR,  /* retrieval: an error that does not end the request (submission: as DENY) */
	FAKE_FAIL,   /* the call fails: the CA cannot be reached */
} fake_action;

#define FAKE_NAME_MAX 64

/* A template as the test wants it; the source builds an ae_template from
 * it at every read, so a change applies at the next pulse. */
typedef struct {
	char name[FAKE_NAME_MAX];
	uint32_t schema, major, minor;
	bool machine;                /* CT_FLAG_MACHINE_TYPE */
	bool enroll, autoenroll;     /* the account's rights on it */
	bool published;              /* the CA offers it */
	uint32_t enrollment_flags, name_flags, private_key_flags, ra_signatures;
	int64_t validity, renewal;   /* seconds; renewal 0: the template has no overlap period */
	uint8_t key_usage;           /* first byte of pKIKeyUsage */
	char supersedes[FAKE_NAME_MAX]; /* a template it supersedes, or "" */
	/* the CA's script */
	fake_action on_submit, on_retrieve;
	uint32_t hresult;            /* of DENY and ERROR */
} fake_template;

typedef enum { FAKE_CALL_SUBMIT, FAKE_CALL_RETRIEVE } fake_call_kind;

/* One call the CA saw. */
typedef struct {
	fake_call_kind kind;
	char template_name[FAKE_NAME_MAX]; /* CertificateTemplate: of the request attributes */
	char format[8];          /* submission: "pkcs10", "cms" (id-data) or "cmc" (PKIData) */
	bool request_signed;     /* the PKCS#10 inside verifies with its own key */
	unsigned signers;        /* CMS / CMC: how many SignerInfos */
	long renewal_serial;     /* serial of the certificate whose key signed (verified), -1: none */
	uint32_t request_id;
	fake_action answer;
	char ca[FAKE_NAME_MAX];  /* the CA it went to */
} fake_call;

typedef struct fake_world fake_world;

struct fake_world {
	ae_ctx *ctx;
	ae_conf *conf;             /* aepolicy 0x7 (Enroll, Manage, RetrievePending), policy_refresh 0, hooks_dir none */
	bool machine;              /* the context pulses run in */
	char *dir;                 /* the temporary directory (removed by fake_world_free) */
	char *state_dir;           /* records, and keys (file: store) */
	fake_template templates[16];
	size_t ntemplates;
	fake_call *calls;
	size_t ncalls;
	unsigned source_opens;     /* the policy source was opened (a full pulse reads the policy) */
	uint8_t *ds_cert;          /* the account's userCertificate in AD (DER), or NULL */
	size_t ds_cert_len;
	struct fake_ca *ca;
	/* A second enrollment service NAME ("": none) listed after the first,
	 * with the same key and templates; a CA named in UNREACHABLE answers
	 * no call (AE_ERR_TIMEOUT, recorded nowhere). */
	char second_ca[FAKE_NAME_MAX];
	char unreachable[FAKE_NAME_MAX];
	/* Group Policy's AEPolicy (ae_engine_opts.group_policy) when GP_GPO is
	 * not "" ; GP_FAIL: reading Group Policy fails */
	char gp_gpo[FAKE_NAME_MAX];
	uint32_t gp_aepolicy;
	bool gp_fail;
};

/* A CA certificate for KEY named CN, signed by ISSUER_KEY (ISSUER NULL:
 * self-signed), valid from a day ago for 20 years.  Caller frees. */
X509 *fake_ca_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, long serial);

/* A world for the machine or the user context, without templates. */
fake_world *fake_world_new(bool machine);
void fake_world_free(fake_world *w);

/* Adds template NAME set up for autoenrollment: schema 2, version 100.0
 * of the world's context, Enroll and AutoEnroll, published, ECDSA P-256,
 * digital signature, valid 10 days, renewal period 1 day; the CA issues. */
fake_template *fake_world_template(fake_world *w, const char *name);
fake_template *fake_world_find(fake_world *w, const char *name);

/* Moves the clock to OFFSET seconds from now (AE_TEST_NOW_OFFSET). */
void fake_world_clock(fake_world *w, int64_t offset);

/* The CA makes a new root and issuing CA key: what it issued before no
 * longer chains to a root the policy publishes. */
void fake_world_new_ca(fake_world *w);

/* Puts CERT in the account's userCertificate attribute. */
void fake_world_publish_ds_cert(fake_world *w, X509 *cert);
/* Removes record ID from the local store (its key stays). */
void fake_world_forget_record(fake_world *w, const char *id);

#define FAKE_PULSE_REFRESH     0x1u /* autoenroll pulse --refresh */
#define FAKE_PULSE_INTERACTIVE 0x2u /* a user at hand */

/* Runs one pulse (ae_engine_pulse) against the world; never NULL. */
ae_pulse_result *fake_world_pulse(fake_world *w, unsigned flags);

/* Events of KIND in R (for template TPL; NULL: any). */
size_t fake_events(const ae_pulse_result *r, ae_event_kind kind, const char *tpl);
/* Calls of KIND the CA saw (for TPL; NULL: any), and the last of them. */
size_t fake_calls(const fake_world *w, fake_call_kind kind, const char *tpl);
const fake_call *fake_last_call(const fake_world *w, fake_call_kind kind, const char *tpl);
void fake_forget_calls(fake_world *w);

/* The local store as ae_store_load reads it. */
typedef struct {
	ae_record **recs;
	size_t n;
} fake_records;

void fake_records_load(fake_world *w, fake_records *out);
void fake_records_clear(fake_records *r);
size_t fake_records_count(const fake_records *r, const char *tpl, ae_rec_state state);
/* The newest record of TPL in STATE, or NULL. */
const ae_record *fake_records_find(const fake_records *r, const char *tpl, ae_rec_state state);
const ae_record *fake_records_by_id(const fake_records *r, const char *id);

/* Whether the key store has the key of record ID. */
bool fake_world_has_key(fake_world *w, const char *id);
/* The serial number of CERT, -1 if it does not fit a long. */
long fake_serial(const X509 *cert);

#endif
