/*
 * trust.h - trust from Active Directory for a domain member: the roots
 * (CN=Certification Authorities), intermediates (CN=AIA) and NTAuth
 * certificates read over the sealed LDAP session, written as PEM files
 * into a trust directory, and (when configured) the roots into the
 * system trust.  What AD no longer lists is removed again.
 *
 * Group Policy's certificates join AD's (Software\Policies\Microsoft\
 * SystemCertificates: Root with the roots, CA with the intermediates,
 * Trust in enterprise-trust/), and its Disallowed ones are distrusted:
 * listed in disallowed/, and left out of (so removed from) every other
 * part and the system trust, whether AD or a GPO lists them.
 *
 * Layout: TRUST_DIR/{roots,intermediates,ntauth,enterprise-trust,
 * disallowed}/<sha256>.pem and TRUST_DIR/roots.pem (all roots, one bundle
 * for applications).
 */
#ifndef AE_TRUST_H
#define AE_TRUST_H

#include "conf.h"
#include "error.h"
#include "gpsettings.h"
#include "pki.h"

typedef struct {
	unsigned added, removed;          /* files in the trust directory */
	unsigned system_added, system_removed;
	unsigned roots, intermediates, ntauth;
	unsigned gp_certs;   /* Group Policy's Root, CA and Trust certificates kept */
	unsigned disallowed; /* Group Policy's Disallowed certificates */
} ae_trust_changes;

/* Brings DIR in line with PKI and GP (Group Policy's settings; NULL:
 * none).  A GPO certificate blob that is not DER is left out.  SYSTEM is conf->system_trust (NULL or
 * "none": leave the system alone).  A root the system update could not
 * take is not kept in DIR either, so the next pulse tries it again; the
 * error says which part failed. */
ae_err ae_trust_update(ae_ctx *ctx, const char *dir, const char *system, const ae_pki *pki,
                       const ae_gp_settings *gp, ae_trust_changes *changes);

/* Where update-ca-certificates picks up local roots. */
#define AE_TRUST_UCC_DIR "/usr/local/share/ca-certificates/autoenroll"

#endif
