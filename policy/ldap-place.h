/*
 * ldap-place.h - the enrollment policy from the entries of one search of
 * the configuration naming context (policy/source-ldap.c): each entry is
 * taken for what its place in the tree says it is, never for what it
 * claims.  No libldap: tests and fuzzers feed entries directly.
 *
 * Places, under PKS = CN=Public Key Services,CN=Services,<config NC>:
 *   CN=Certificate Templates,PKS       children: templates (pKICertificateTemplate)
 *   CN=Enrollment Services,PKS         children: enrollment services (pKIEnrollmentService)
 *   CN=Certification Authorities,PKS   children: trusted roots (certificationAuthority)
 *   CN=AIA,PKS                         children: intermediates (certificationAuthority)
 *   CN=NTAuthCertificates,PKS          the object itself: NTAuth certificates
 *   CN=OID,PKS                         the object: the forest OID root; below it: OIDs
 *   CN=Partitions,<config NC>          the crossRef of the default NC: its NetBIOS name
 * Anything else is ignored.
 */
#ifndef AE_LDAP_PLACE_H
#define AE_LDAP_PLACE_H

#include "attrs.h"
#include "error.h"
#include "policy.h"

#include <stddef.h>

/* The attributes the places need (the union of what templates, CAs, OIDs
 * and the crossRef are read for) into OUT, NULL-terminated, at most MAX
 * entries with the NULL; returns how many. */
size_t ae_ldap_place_attributes(const char **out, size_t max);

/* Places ENTRIES into P (CAs, roots, intermediates, NTAuth, OIDs, forest
 * OID, templates and invalid templates, in that order; the certificate
 * stores exist afterwards even when empty) and sets *NETBIOS to the
 * NetBIOS name of DEFAULT_NC's domain, or NULL when no entry gave it.  A
 * malformed entry is logged and skipped, or listed in
 * P->invalid_templates; only running out of memory fails. */
ae_err ae_ldap_place(ae_ctx *ctx, const char *config_nc, const char *default_nc, const ae_entry *entries,
                     size_t count, ae_policy *p, char **netbios);

#endif
