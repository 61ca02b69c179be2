/*
 * source.h - where an enrollment policy comes from.  A policy source reads
 * what its policy server publishes (the server, the caller's account and
 * token, the CAs and how each is reached, the templates, the OIDs) into an
 * ae_policy; the decisions (core/policy.h) are then made on that alone.
 *
 * Sources: Active Directory over LDAP, the "LDAP:" policy server
 * (policy/source-ldap.c); a CEP, MS-XCEP (policy/source-xcep.c); the
 * context's policy servers by cost, each one of those (policy/xcep.h).
 * Group Policy (which policy servers apply) comes next.
 */
#ifndef AE_SOURCE_H
#define AE_SOURCE_H

#include "conf.h"
#include "crl.h"
#include "error.h"
#include "gpo.h"
#include "policy.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ae_policy_source ae_policy_source;

typedef struct {
	const char *name;    /* "LDAP" */
	const char *where;   /* "AD": "the enrollment policy from AD" */
	/* Reads the policy for CONTEXT, undecided.  *OUT stays NULL on error. */
	ae_err (*read)(ae_ctx *ctx, ae_policy_source *src, ae_context context, ae_policy **out);
	/* Removes one value (DER) of the userCertificate attribute of the
	 * account DN (Manage's cleanup of revoked certificates).  NULL: the
	 * source publishes no certificates. */
	ae_err (*remove_ds_cert)(ae_ctx *ctx, ae_policy_source *src, const char *dn, const uint8_t *der,
	                         size_t len);
	/* Reads the values of ATTR of the object DN (a base search) over the
	 * source's session: ldap:// CRL and CA certificate locations.  *VALUES
	 * (ae_values_free) and *COUNT stay NULL/0 on error.  NULL: the source
	 * has no directory. */
	ae_err (*read_attribute)(ae_ctx *ctx, ae_policy_source *src, const char *dn, const char *attr,
	                         ae_value **values, size_t *count);
	/* Reads what deciding which Group Policy Objects apply to the
	 * account ACCOUNT_DN needs (policy/gpo.h, ae_gpo_read()).  NULL: the
	 * source has no Group Policy. */
	ae_err (*read_gpo)(ae_ctx *ctx, ae_policy_source *src, const char *account_dn, ae_som **soms,
	                   size_t *n_soms, ae_gpo_object **objs, size_t *n_objs);
	/* Writes the source's Kerberos credentials to a new FILE cache at
	 * PATH (SYSVOL over SMB).  NULL: the source has none. */
	ae_err (*export_ccache)(ae_ctx *ctx, ae_policy_source *src, const char *path);
	/* Requests made so far. */
	unsigned (*round_trips)(const ae_policy_source *src);
	void (*free)(ae_policy_source *src);
} ae_policy_source_ops;

struct ae_policy_source {
	const ae_policy_source_ops *ops;
	char *principal;     /* who the source reads as, when known */
	void *data;          /* the source's own */
};

/* Opens the policy source of a context: Active Directory with the
 * context's Kerberos credentials (the user's ticket cache, or the machine
 * account's keytab).  The credentials stay in use, also by the CA
 * transports, until the source is freed. */
typedef ae_err (*ae_policy_source_open_fn)(ae_ctx *ctx, const ae_conf *conf, ae_context context, void *arg,
                                           ae_policy_source **out);
ae_err ae_policy_source_open(ae_ctx *ctx, const ae_conf *conf, ae_context context, void *arg,
                             ae_policy_source **out);

/* The same with the policy servers LIST ("URL" or "URL@COST"; NULL:
 * LDAP: alone) instead of the configuration's: Group Policy's
 * PolicyServers, which win over the file. */
ae_err ae_policy_source_open_servers(ae_ctx *ctx, const ae_conf *conf, ae_context context, char *const *list,
                                     ae_policy_source **out);

/* Reads the policy from SRC and decides every template (ae_policy_decide). */
ae_err ae_policy_source_load(ae_ctx *ctx, ae_policy_source *src, ae_context context, ae_policy **out);

/* Opens the context's source and loads its policy: for commands that need
 * nothing more from the source. */
ae_err ae_policy_load(ae_ctx *ctx, const ae_conf *conf, ae_context context, ae_policy **out);

/* Active Directory (policy/source-ldap.c): the context's Kerberos
 * credentials now, the DC at the first read. */
ae_err ae_policy_source_ldap(ae_ctx *ctx, const ae_conf *conf, ae_context context, ae_policy_source **out);

/* The context's Kerberos credentials for a source: the user's ticket
 * cache, or a TGT from the machine keytab; SRC->principal names them. */
struct ae_krb;
ae_err ae_policy_source_credentials(ae_ctx *ctx, const ae_conf *conf, ae_context context, ae_policy_source *src,
                                    struct ae_krb **krb);

ae_err ae_policy_source_remove_ds_cert(ae_ctx *ctx, ae_policy_source *src, const char *dn, const uint8_t *der,
                                       size_t len);
ae_err ae_policy_source_read_attribute(ae_ctx *ctx, ae_policy_source *src, const char *dn, const char *attr,
                                       ae_value **values, size_t *count);
/* The CRL fetcher (net/crl.h) whose ldap:// reads go through SRC's
 * session; SRC may be NULL (ldap:// locations are then skipped). */
void ae_policy_source_crl_fetch(ae_policy_source *src, ae_crl_fetch *out);
unsigned ae_policy_source_round_trips(const ae_policy_source *src);
/* ops->export_ccache, AE_ERR_UNSUPPORTED when the source has none. */
ae_err ae_policy_source_export_ccache(ae_ctx *ctx, ae_policy_source *src, const char *path);
/* ops->read_gpo, AE_ERR_UNSUPPORTED when the source has none. */
ae_err ae_policy_source_read_gpo(ae_ctx *ctx, ae_policy_source *src, const char *account_dn, ae_som **soms,
                                 size_t *n_soms, ae_gpo_object **objs, size_t *n_objs);
void ae_policy_source_free(ae_policy_source *src);

#endif
