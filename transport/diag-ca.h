/*
 * diag-ca.h - the checks of `autoenroll diagnose` for one CA: its
 * certificate and CRL, its host in DNS and its SPN in AD, the endpoint
 * mapper and ICertPassage's port within rpc_timeout, the Kerberos bind at
 * packet privacy, an access probe with no side effect, and the caller's
 * membership of BUILTIN\Certificate Service DCOM Access.
 */
#ifndef AE_DIAG_CA_H
#define AE_DIAG_CA_H

#include "conf.h"
#include "crl.h"
#include "diag.h"
#include "ldapconn.h"
#include "pki.h"

#include <stdbool.h>

/* The request ID the access probe asks for: AD CS numbers requests from 1
 * up in its database, so this one never exists; a CA that lets the
 * caller in answers CERTSRV_E_PROPERTY_EMPTY (MS-WCCE 3.2.1.4.2.1.3),
 * one that does not E_ACCESSDENIED. */
#define AE_DIAG_PROBE_REQUEST_ID 0xFFFFFFF0u

/* BUILTIN\Certificate Service DCOM Access. */
#define AE_SID_CERT_DCOM_ACCESS "S-1-5-32-574"

typedef struct {
	const ae_conf *conf;
	const ae_pki *pki;          /* roots and intermediates from AD */
	const char *caller;         /* "CORP\alice" */
	const ae_crl_fetch *fetch;  /* ldap:// CRLs over the policy's session; may be NULL */
	ae_ldap *ld;                /* the caller's session: SPN look-ups, its logon token; NULL: skipped */
	bool named;                 /* the CA was named (--ca): one that is not used fails */
} ae_diag_ca_env;

/* Adds the checks ca.NAME.*; *USABLE: the probe says the CA takes the
 * caller's requests. */
void ae_diag_ca(ae_ctx *ctx, const ae_diag_ca_env *env, const ae_ca *ca, ae_diag_report *r, bool *usable);

#endif
