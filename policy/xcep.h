/*
 * xcep.h - enrollment policy from a Certificate Enrollment Policy web
 * service (CEP, MS-XCEP GetPolicies over HTTPS with Kerberos through HTTP
 * Negotiate), as a policy source (source.h), and the policy servers of a
 * context (the config's policy_servers; Group Policy's PolicyServers
 * later), grouped by policy ID and tried by cost with failover.
 */
#ifndef AE_XCEP_H
#define AE_XCEP_H

#include "policy.h"
#include "source.h"

#include <stdbool.h>
#include <time.h>

/* What a GetPoliciesResponse says beside the policy. */
typedef struct {
	unsigned next_update_hours;   /* 0: the server gave none */
	bool not_changed;             /* policiesNotChanged: the client's copy holds */
} ae_xcep_info;

/* MS-XCEP 3.1.4.1.3.5 clientAuthentication */
#define AE_XCEP_AUTH_KERBEROS 2
#define AE_XCEP_AUTH_PASSWORD AE_CA_AUTH_PASSWORD
#define AE_XCEP_AUTH_CERTIFICATE AE_CA_AUTH_CERTIFICATE

/* Reads a GetPoliciesResponse (MS-XCEP 3.1.4.1.2.2) of LEN bytes from WHAT
 * ("the CEP at URL") into P: policy_id, friendly_name, the templates
 * (their attributes as ae_template, the server's Enroll and AutoEnroll
 * word as server_permission), the CAs (certificate, name from its
 * subject's CN, the https CES URIs of authentication AUTH (AE_XCEP_AUTH_*)
 * by priority as url and
 * fallback_urls, the templates each serves) and the OIDs.  Nothing of P is
 * touched on error; a template that does not parse is listed in
 * invalid_templates.  Untrusted input: fuzzed (tests/fuzz/fuzz-xcep.c). */
ae_err ae_xcep_parse(ae_ctx *ctx, const char *what, const char *xml, size_t len, unsigned auth, ae_policy *p,
                     ae_xcep_info *info);

/* A policy server of a context: "LDAP:" or a CEP URL, with its cost
 * (lower first).  POLICY_ID, when known beforehand (Group Policy gives
 * it), groups servers without asking them. */
typedef struct {
	char *url;
	unsigned cost;
	char *policy_id;
} ae_policy_server;

/* Parses the config's policy_servers entries ("URL" or "URL@COST"; an
 * entry without a cost costs 10 times its place in the list) into *OUT,
 * cheapest first.  *OUT stays NULL on error. */
ae_err ae_policy_servers_parse(ae_ctx *ctx, char *const *entries, ae_policy_server **out, size_t *count);
void ae_policy_servers_free(ae_policy_server *servers, size_t count);

/* The source of a CEP URL alone (autoenroll policy --policy-server URL).
 * STATE_DIR (NULL: no cache) keeps the last answer, reused for its
 * nextUpdateHours and then offered as lastUpdate. */
ae_err ae_policy_source_xcep(ae_ctx *ctx, const ae_conf *conf, ae_context context, const char *url,
                             const char *state_dir, ae_policy_source **out);

/* A source over SERVERS (cheapest first): each read asks them in order; a
 * server that does not answer is passed over for the next (failover,
 * logged); the first policy of each policy ID is taken, later servers
 * with an ID already read are not asked; policies of different IDs are
 * merged (a template name already read stays as it was).  LDAP: keeps its
 * place among them. */
ae_err ae_policy_source_servers(ae_ctx *ctx, const ae_conf *conf, ae_context context,
                                const ae_policy_server *servers, size_t count, const char *state_dir,
                                ae_policy_source **out);

#endif
