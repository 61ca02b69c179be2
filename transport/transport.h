/*
 * transport.h - how a request reaches a CA.  Every way Windows uses (MS-ICPR
 * over DCE/RPC today; CES over WS-Trust, SCEP and DCOM next) is one
 * ae_transport_ops table; the policy source says which one reaches each CA
 * (ae_ca.transport) and the enrollment transaction (core/txn.h) calls it
 * without naming a protocol.
 *
 * A link is one open connection to a CA's endpoint, reused for every call
 * to that endpoint in a pulse.
 */
#ifndef AE_TRANSPORT_H
#define AE_TRANSPORT_H

#include "conf.h"
#include "error.h"
#include "pki.h"

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a CA answered to a submission or a retrieval. */
typedef enum {
	AE_CA_ISSUED,   /* the certificate is in cert */
	AE_CA_PENDING,  /* taken, waiting for a CA manager */
	AE_CA_REFUSED,  /* hresult says why */
} ae_ca_outcome;

typedef struct {
	ae_ca_outcome outcome;
	uint32_t request_id;
	uint32_t hresult;        /* the code that explains a refusal */
	const char *refusal;     /* a plain disposition ("denied", "error") when that is the whole answer, else NULL */
	bool final;              /* a refused retrieval: the CA denied the request or does not know it */
	uint8_t *cert;           /* DER, issued only */
	size_t cert_len;
	uint8_t *chain;          /* PKCS#7 / CMC with the chain, when the CA sent one */
	size_t chain_len;
	char *message;           /* the CA's own words, UTF-8, NULL if none */
} ae_ca_answer;

void ae_ca_answer_clear(ae_ca_answer *a);

typedef struct ae_ca_link ae_ca_link;

typedef struct ae_transport_ops {
	const char *name;        /* "MS-ICPR": for messages and --json */
	/* Opens a link to CA's endpoint (CA->host, CA->url). */
	ae_err (*open)(ae_ctx *ctx, const ae_conf *conf, const ae_ca *ca, void **state_out);
	/* Submits a request (PKCS#10, CMS or CMC) with the request attributes
	 * ATTRS ("Name:Value" lines).  AE_OK: the CA answered, in *OUT. */
	ae_err (*submit)(ae_ctx *ctx, void *state, const ae_ca *ca, const char *attrs, const uint8_t *req,
	                 size_t len, ae_ca_answer *out);
	/* Submits a request the transport signs and wraps itself (SCEP): REQ
	 * is a plain PKCS#10 for KEY; a renewal is signed with OLD_CERT and
	 * OLD_KEY, a new request with KEY.  NULL: submit serves. */
	ae_err (*submit_keyed)(ae_ctx *ctx, void *state, const ae_ca *ca, const uint8_t *req, size_t len, EVP_PKEY *key,
	                       X509 *old_cert, EVP_PKEY *old_key, ae_ca_answer *out);
	/* submit, authenticated at the TLS layer with CLIENT_CERT and its key
	 * CLIENT_KEY (a renewal-only CES: the certificate being renewed).
	 * NULL: the transport has no such endpoints. */
	ae_err (*submit_as)(ae_ctx *ctx, void *state, const ae_ca *ca, const char *attrs, const uint8_t *req, size_t len,
	                    X509 *client_cert, EVP_PKEY *client_key, ae_ca_answer *out);
	/* Asks for the state of a pending request. */
	ae_err (*retrieve)(ae_ctx *ctx, void *state, const ae_ca *ca, uint32_t request_id, ae_ca_answer *out);
	/* Polls a pending request the transport signed itself (SCEP CertPoll):
	 * SUBJECT is the request's subject (DER), KEY its key.  NULL: retrieve
	 * serves. */
	ae_err (*retrieve_keyed)(ae_ctx *ctx, void *state, const ae_ca *ca, const uint8_t *subject, size_t subject_len,
	                         EVP_PKEY *key, ae_ca_answer *out);
	/* The CA's certificates (the CA's own first).  NULL: the transport has
	 * no such call, the policy's ae_ca.cert serves. */
	ae_err (*ca_certs)(ae_ctx *ctx, void *state, const ae_ca *ca, STACK_OF(X509) **out);
	/* The CA exchange certificate, for key archival.  NULL: none. */
	ae_err (*exchange_cert)(ae_ctx *ctx, void *state, const ae_ca *ca, X509 **out);
	/* What the CA can do (SCEP GetCACaps words).  NULL: nothing to say. */
	ae_err (*capabilities)(ae_ctx *ctx, void *state, const ae_ca *ca, char ***out);
	unsigned (*round_trips)(void *state);
	void (*close)(void *state);
} ae_transport_ops;

/* MS-ICPR ICertPassage over DCE/RPC with Kerberos sealing (transport/icpr.c). */
extern const ae_transport_ops ae_transport_icpr;
/* MS-WSTEP RequestSecurityToken to a CES over HTTPS with Negotiate (transport/ces.c). */
extern const ae_transport_ops ae_transport_ces;

/* Opens a link to CA through its transport.  *OUT stays NULL on error. */
ae_err ae_ca_link_open(ae_ctx *ctx, const ae_conf *conf, const ae_ca *ca, ae_ca_link **out);
/* Whether LINK reaches CA (same transport, same endpoint): reusable. */
bool ae_ca_link_reaches(const ae_ca_link *link, const ae_ca *ca);
ae_err ae_ca_link_submit(ae_ctx *ctx, ae_ca_link *link, const ae_ca *ca, const char *attrs, const uint8_t *req,
                         size_t len, ae_ca_answer *out);
ae_err ae_ca_link_submit_keyed(ae_ctx *ctx, ae_ca_link *link, const ae_ca *ca, const uint8_t *req, size_t len,
                               EVP_PKEY *key, X509 *old_cert, EVP_PKEY *old_key, ae_ca_answer *out);
ae_err ae_ca_link_submit_as(ae_ctx *ctx, ae_ca_link *link, const ae_ca *ca, const char *attrs, const uint8_t *req,
                            size_t len, X509 *client_cert, EVP_PKEY *client_key, ae_ca_answer *out);
ae_err ae_ca_link_retrieve(ae_ctx *ctx, ae_ca_link *link, const ae_ca *ca, uint32_t request_id,
                           ae_ca_answer *out);
ae_err ae_ca_link_retrieve_keyed(ae_ctx *ctx, ae_ca_link *link, const ae_ca *ca, const uint8_t *subject,
                                 size_t subject_len, EVP_PKEY *key, ae_ca_answer *out);
/* The CA's certificates: the transport's call, or else the policy's. */
ae_err ae_ca_link_ca_certs(ae_ctx *ctx, ae_ca_link *link, const ae_ca *ca, STACK_OF(X509) **out);
/* The CA exchange certificate (key archival), unchecked: AE_ERR_UNSUPPORTED
 * from a transport that does not serve it. */
ae_err ae_ca_link_exchange_cert(ae_ctx *ctx, ae_ca_link *link, const ae_ca *ca, X509 **out);
unsigned ae_ca_link_round_trips(const ae_ca_link *link);
void ae_ca_link_free(ae_ca_link *link);

/* A cache of links for one run: the link to the last endpoint is kept
 * while calls go to it, and dropped after a failed call. */
typedef struct {
	const ae_conf *conf;
	ae_ca_link *link;
	unsigned closed_trips;   /* round trips of links already closed */
} ae_ca_links;

ae_err ae_ca_links_get(ae_ctx *ctx, ae_ca_links *links, const ae_ca *ca, ae_ca_link **out);
void ae_ca_links_drop(ae_ca_links *links);
unsigned ae_ca_links_round_trips(const ae_ca_links *links);

#endif
