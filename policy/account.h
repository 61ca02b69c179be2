/*
 * account.h - the AD account a context acts as (user or computer) and its
 * token: the SIDs Windows would put in its logon token, used for the
 * Enroll / AutoEnroll checks.
 */
#ifndef AE_ACCOUNT_H
#define AE_ACCOUNT_H

#include "error.h"
#include "ldapconn.h"
#include "sid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
	char *dn;
	char *sam;            /* sAMAccountName: "alice", "WS1$" */
	char *netbios_domain; /* "CORP" */
	char *display;        /* "CORP\alice" */
	char *upn;
	char *mail;
	char *dns_host_name;  /* computers */
	char *host_dns_name;  /* users: dNSHostName of this host's computer account (the requests' rmd) */
	ae_sid sid;
	ae_token token;       /* sid + tokenGroups + primary group + well-known */
	char **token_names;   /* "S-1-...=CORP\Domain Users" for the token's SIDs we could name */
	bool machine;
	/* userCertificate: DER values as AD holds them (untrusted) */
	uint8_t **ds_certs;
	size_t *ds_cert_lens;
	size_t ds_cert_count;
} ae_account;

/* Finds the account SAM in the DC's default naming context and builds its
 * token: two searches (the account by name, with the groups of the
 * session's token for their names; then tokenGroups, base scope on the
 * account), a third only for groups of the account's token that the
 * session's lacks.  NETBIOS (may be NULL) is the domain's NetBIOS name,
 * for "CORP\alice".  HOST_SAM (users; may be NULL) is this host's computer
 * account, whose dNSHostName the first search also asks for
 * (host_dns_name; MS-WCCE 2.2.2.7.10 rmd).  *OUT is filled only on
 * success. */
ae_err ae_account_lookup(ae_ctx *ctx, ae_ldap *ld, const char *sam, bool machine, const char *netbios,
                         const char *host_sam,
                         ae_account *out);
/* The steps of ae_account_lookup that read what the DC returned (no
 * network; fuzzed by tests/fuzz/fuzz-account.c).  A is zeroed with its
 * token initialised, machine and netbios_domain set.
 * ae_account_take_entry picks from ENTRIES (the account search's answer)
 * the one account SAM (exactly one, else an error naming WHERE), and, for
 * a user, the dNSHostName of this host's computer account HOST_SAM (NULL:
 * none); fills A's names, userCertificate values, SID and token, and
 * points *ACCT_OUT at the entry.  ae_account_add_groups adds the SIDs of
 * GROUPS' tokenGroups (the base search on the account; NULL: none), the
 * primary group (primaryGroupID of ACCT) and the well-known SIDs, and the
 * display name.  On error A holds what was filled (ae_account_clear). */
ae_err ae_account_take_entry(ae_ctx *ctx, ae_account *a, const char *sam, const char *host_sam,
                             const ae_entry *entries, size_t count, const char *where, const ae_entry **acct_out);
ae_err ae_account_add_groups(ae_ctx *ctx, ae_account *a, const ae_entry *acct, const ae_entry *groups);
void ae_account_clear(ae_account *acct);

/* A readable name for SID: "CORP\CertDenied" when the lookup named it,
 * else the SID string.  Writes into BUF. */
const char *ae_account_sid_name(const ae_account *acct, const ae_sid *sid, char *buf, size_t size);

#endif
