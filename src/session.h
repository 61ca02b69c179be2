/*
 * session.h - what the commands that enroll (request, enroll, retrieve)
 * open for a context: configuration, credentials and policy from the
 * context's policy source, the local store and key store after recovery,
 * and the enrollment transaction's environment (core/txn.h).
 */
#ifndef AE_CLI_SESSION_H
#define AE_CLI_SESSION_H

#include "cli.h"
#include "local.h"
#include "policy.h"
#include "source.h"
#include "txn.h"

typedef struct {
	ae_conf *conf;
	ae_local local;
	ae_policy_source *src;
	ae_policy *policy;
	ae_store *st;
	ae_keystore *ks;
	ae_ca_links links;
	ae_txn_env env;
	unsigned recovered;       /* interrupted requests removed on opening */
} ae_cli_session;

/* Opens S for the machine or the user; WHO names the command ("enroll",
 * "request") in requests' crash points. */
ae_err ae_cli_session_open(ae_ctx *ctx, ae_cli_globals *g, bool machine, const char *who, ae_cli_session *s);
void ae_cli_session_clear(ae_cli_session *s);

/* The policy's item for template NAME when it can be used in S's context:
 * known, readable, and a machine template for --machine, a user template
 * otherwise.  *OUT stays NULL on error. */
ae_err ae_cli_session_template(ae_ctx *ctx, const ae_cli_session *s, const char *name, bool machine,
                               const ae_policy_item **out);

#endif
