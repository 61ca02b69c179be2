/*
 * scep-setup.h - what an SCEP enrollment needs before the transport runs,
 * shared by "autoenroll enroll --scep" and the pulse's SCEP profiles
 * (conf.h ae_scep_profile): the trust the server must chain to, the
 * template and CA the enrollment transaction (core/txn.h) is given, and
 * the challenge, read or fetched right before each request, never kept.
 */
#ifndef AE_SCEP_SETUP_H
#define AE_SCEP_SETUP_H

#include "conf.h"
#include "pki.h"
#include "store.h"
#include "template.h"
#include "transport.h"

/* The template name SCEP records carry (the server picks the template). */
#define AE_SCEP_TEMPLATE "SCEP"

/* What the transaction is given for an SCEP request to URL: a template
 * named AE_SCEP_TEMPLATE with the key KEY_TYPE ("rsa", "ecdsa-p256",
 * "ecdsa-p384"; NULL: rsa) of KEY_SIZE bits (RSA; 0: 2048), and a CA
 * reached over the SCEP transport whose endpoint_trust is AD's roots
 * (PKI) and the PEM roots of ANCHOR (NULL: none).  CA->endpoint_trust is
 * malloc'd (the caller frees it); the rest points into URL. */
ae_err ae_scep_target(ae_ctx *ctx, const char *url, const char *key_type, int key_size, const ae_pki *pki,
                      const char *anchor, ae_template *tpl, ae_ca *ca);

/* The challenge on the first line of PATH; *AGE: the file's age in
 * seconds (-1 unknown), for the message when NDES says it expired. */
ae_err ae_scep_challenge_file(ae_ctx *ctx, const char *path, char **out, long *age);

/* A fresh single-use challenge from NDES's admin page next to URL
 * (.../certsrv/mscep_admin/), with the caller's Kerberos (HTTP
 * Negotiate), over HTTPS validated against TRUST. */
ae_err ae_scep_challenge_admin(ae_ctx *ctx, const char *url, const char *trust, char **out);

/* Whether REC was issued over SCEP (renewed and polled over SCEP again). */
bool ae_scep_record(const ae_record *rec);

#endif
