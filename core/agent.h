/*
 * agent.h - the enrollment agent certificate that co-signs a request for
 * a template whose issuance requirements ask for one RA signature
 * (msPKI-RA-Signature = 1; MS-CRTD 2.21-2.23, the CA's checks MS-WCCE
 * 3.2.2.6.2.1.4.5.1 and, on behalf of someone else, 3.2.2.6.2.1.2.1).
 */
#ifndef AE_AGENT_H
#define AE_AGENT_H

#include "error.h"
#include "store.h"
#include "template.h"

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AE_OID_CERT_REQUEST_AGENT "1.3.6.1.4.1.311.20.2.1" /* szOID_ENROLLMENT_AGENT */

/* Whether CERT may co-sign TPL's requests at NOW: valid then, its EKU
 * has every application policy of msPKI-RA-Application-Policies (and the
 * Certificate Request Agent EKU when ON_BEHALF: 3.2.2.6.2.1.2.1.2), its
 * certificatePolicies every msPKI-RA-Policies OID.  False with *WHY
 * (malloc'd, may be NULL when out of memory) saying what is missing. */
bool ae_agent_suits(const ae_template *tpl, X509 *cert, int64_t now, bool on_behalf, char **why);

/* The one of RECS (issued, with a certificate, not of TPL itself) that
 * suits TPL (ae_agent_suits), the one valid longest when several do; NULL
 * when none does or TPL names no RA application or issuance policy to
 * match. */
ae_record *ae_agent_find(ae_record **recs, size_t n, const ae_template *tpl, int64_t now);

/* The application policies TPL asks of its RA signers, for messages:
 * "1.3.6.1.4.1.311.20.2.1 (Certificate Request Agent)" or "any";
 * malloc'd, NULL when out of memory. */
char *ae_agent_wanted(const ae_template *tpl);

#endif
