/*
 * policy.h - an enrollment policy as it applies to one caller: which CAs
 * serve, which templates are set up for autoenrollment and why each other
 * template is not.  A policy source (policy/source.h) reads it; the
 * decisions here are pure functions of the templates, the CAs, the
 * caller's token and the time, with no network.
 *
 * Decisions follow the autoenrollment whitepaper (shared seed 001):
 * a template is set up for autoenrollment when the caller has Enroll and
 * AutoEnroll on it, a valid CA publishes it, and none of the excluding
 * conditions holds (machine template needing user interaction, two or more
 * RA signatures, key archival, supersedence, enrollee-supplied subject).
 */
#ifndef AE_POLICY_H
#define AE_POLICY_H

#include "account.h"
#include "conf.h"
#include "error.h"
#include "pki.h"
#include "template.h"

#include <stdbool.h>

typedef enum {
	AE_CONTEXT_USER,
	AE_CONTEXT_MACHINE,
} ae_context;

typedef enum {
	AE_DECISION_AUTOENROLL,        /* enrolled and renewed silently */
	AE_DECISION_SKIP,              /* not enrolled, not renewed */
	AE_DECISION_MANUAL_RENEW_ONLY, /* enroll by hand; renewed automatically under Manage */
} ae_decision;

typedef struct {
	char *name;
	char *display_name;
	const ae_template *tpl; /* NULL when the template could not be parsed */
	bool enroll;
	bool autoenroll;
	ae_decision decision;
	char *reason;           /* plain words; never NULL */
	char **cas;             /* valid CAs that publish it, cheapest first */
} ae_policy_item;

/* An enterprise OID registered in AD (CN=OID): template OIDs, issuance
 * and application policies, with their display names. */
typedef struct {
	char *oid;
	char *display_name;
	uint32_t flags;       /* 1 template, 2 issuance policy, 3 application policy */
} ae_oid;

/* Where a policy was read: what `autoenroll policy` shows of its
 * source.  Fields a source does not have stay NULL / 0. */
typedef struct {
	char *server;            /* the host that answered (the DC for LDAP) */
	char *config_nc;         /* LDAP: the configuration naming context */
	int ssf;                 /* LDAP: strength of the SASL protection */
	unsigned round_trips;    /* requests the read took */
	/* MS-XCEP policy servers (policy/xcep.h) */
	unsigned next_update_hours; /* how long the server's answer holds */
	bool filtered_by_server; /* the server lists only what the caller may enroll for, with
	                          * its own word on the rights (no security descriptor) */
	bool from_cache;         /* the cached answer, still fresh or not changed (lastUpdate) */
	char *failover;          /* servers that did not answer before this one, with why */
} ae_policy_origin;

typedef struct {
	ae_context context;
	/* policy server */
	char *url;               /* "LDAP:" or the CEP URL */
	char *policy_id;         /* "{GUID}" of the forest root domain */
	char *friendly_name;
	char *domain;
	ae_policy_origin origin;
	/* caller */
	char *principal;
	ae_account account;
	/* what AD publishes */
	ae_pki pki;
	char *forest_oid;        /* msPKI-Cert-Template-OID of the OID container */
	ae_oid *oids;
	size_t oid_count;
	ae_template **templates;
	size_t template_count;
	char **invalid_templates; /* "NAME: reason" for templates that did not parse */
	ae_policy_item *items;
	size_t item_count;
} ae_policy;

/* Decides every template of P for P->account (no network): fills items. */
ae_err ae_policy_decide(ae_ctx *ctx, ae_policy *p);

void ae_policy_free(ae_policy *p);
/* Frees what P holds, not P, and zeroes it. */
void ae_policy_clear(ae_policy *p);

/* The item of template NAME (its cn, or else its display name; case does
 * not matter), or NULL. */
const ae_policy_item *ae_policy_find_item(const ae_policy *p, const char *name);
/* The enrollment service named NAME, or NULL. */
const ae_ca *ae_policy_find_ca(const ae_policy *p, const char *name);

const char *ae_decision_name(ae_decision d);
const char *ae_context_name(ae_context c);

#endif
