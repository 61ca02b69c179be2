/*
 * keystore.h - where private keys live and certificates go next to them:
 * a PKCS#11 token (through p11-kit) or a directory of files, behind one
 * interface.
 *
 * A key is named by its id (lower-case hex of CKA_ID on a token, of the
 * file name stem in a directory); a certificate stored for a key shares
 * its id.  Keys made by autoenroll carry the label prefix "autoenroll ",
 * so that keys of other applications on the same token are never touched.
 */
#ifndef AE_KEYSTORE_H
#define AE_KEYSTORE_H

#include "error.h"
#include "template.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>

#define AE_KEY_LABEL_PREFIX "autoenroll "

typedef struct ae_keystore ae_keystore;
typedef struct ae_key ae_key;

typedef struct {
	ae_key_alg alg;      /* RSA, ECDSA_P256, ECDSA_P384, ECDSA_P521 */
	unsigned bits;       /* RSA modulus size; ignored for EC */
	const char *label;   /* full label, starting with AE_KEY_LABEL_PREFIX */
	const char *id_hex;  /* id to give the key (from ae_keystore_new_id) */
	bool exportable;     /* the template allows export (CKA_EXTRACTABLE) */
} ae_keygen;

/* Opens SPEC:
 *  - "pkcs11:<RFC 7512 URI>": token attributes select the token (token=,
 *    manufacturer=, serial=, model=); module-path= or module-name= select
 *    a module, else every module registered with p11-kit is searched;
 *    pin-value= or pin-source= (a file) give the PIN.  A token that needs
 *    a login without a PIN fails with AE_ERR_NEEDPIN and a message that
 *    says so (interactive enrollment asks for it: ae_keystore_open_prompt);
 *    no matching token (a smartcard not inserted) is AE_ERR_NOTOKEN.
 *  - "file:/dir": keys as PKCS#8 PEM files (0600) in DIR/keys (0700),
 *    certificates as DIR/certs/<id>.pem.
 * Every failure says which token or directory and why (absent, wrong PIN,
 * unreadable). */
ae_err ae_keystore_open(ae_ctx *ctx, const char *spec, ae_keystore **out);

/* Asks the user for the PIN of token TOKEN_LABEL (src/pinentry.c does it
 * through pinentry).  ERROR is NULL on the first try, else why the last
 * PIN was refused ("Wrong PIN, 2 tries left.").  Returns AE_OK with a
 * NUL-terminated PIN in PIN (PIN_SIZE bytes, PIN_SIZE - 1 characters at
 * most); else an error with a message on CTX: AE_ERR_NEEDPIN when the user
 * cancelled (the PIN is still missing: enrollment waits for the user),
 * AE_ERR_TIMEOUT when nobody answered, others when the dialog failed. */
typedef ae_err (*ae_pin_prompt_fn)(ae_ctx *ctx, void *data, const char *token_label,
                                   const char *error, char *pin, size_t pin_size);

/* ae_keystore_open, but a token that needs a PIN when SPEC gives none
 * (no pin-value=, no pin-source=, no PIN pad) gets it from PROMPT (may be
 * NULL: as ae_keystore_open): up to 3 tries, each wrong PIN asked again
 * with the reason; after the third, the "wrong PIN" error.  The PIN is
 * never logged or kept: buffers that held it are wiped.  PROMPT may be
 * called again when the token turns out to need a login later (key
 * generation), so DATA must stay valid as long as the store is open. */
ae_err ae_keystore_open_prompt(ae_ctx *ctx, const char *spec, ae_pin_prompt_fn prompt, void *data,
                               ae_keystore **out);
void ae_keystore_free(ae_keystore *ks);
/* The private key a RFC 7512 URI names (a key.uri autoenroll wrote: the
 * token's attributes and id=, pin-source= or pin-value= for its PIN), as
 * ae_keystore_open_prompt then ae_keystore_find: *KS_OUT must outlive
 * *KEY_OUT.  A URI without id= is AE_ERR_CONFIG; SETTING names where the
 * URI comes from in messages ("cep_client_key in [global] of FILE"). */
ae_err ae_key_open_uri(ae_ctx *ctx, const char *uri, const char *setting, ae_pin_prompt_fn prompt, void *data,
                       ae_keystore **ks_out, ae_key **key_out);
/* ae_key_open_uri for a TLS client key (transport/ces.h's openers; PROMPT
 * as there, NULL: never asks): *PKEY_OUT is owned by *HANDLE_OUT, freed by
 * ae_key_uri_close.  CERT_OUT (may be NULL) gets the certificate stored
 * with the key's id on its token (ae_keystore_find_cert; caller frees). */
ae_err ae_key_open_uri_evp(ae_ctx *ctx, const char *uri, const char *setting, ae_pin_prompt_fn prompt, void *data,
                           X509 **cert_out, EVP_PKEY **pkey_out, void **handle_out);
void ae_key_uri_close(void *handle);
/* Checks the store SPEC without opening it or making anything (autoenroll
 * config check): a pkcs11: URI must parse (RFC 7512, with attributes
 * p11-kit knows); a file: store must name an absolute directory that is
 * private (not writable by others; ours unless !CHECK_OWNER) where it
 * exists, or that can be made. */
ae_err ae_keystore_check_spec(ae_ctx *ctx, const char *spec, bool check_owner);

/* "PKCS#11 token \"NAME\" (MODULE)" or "directory /var/lib/autoenroll". */
const char *ae_keystore_describe(const ae_keystore *ks);
bool ae_keystore_is_token(const ae_keystore *ks);

/* A fresh random id (20 bytes, hex) for a new key; caller frees. */
char *ae_keystore_new_id(void);

/* Generates a key pair in the store, as GEN says: on a token private,
 * sensitive, not extractable unless exportable, CKA_TOKEN true, CKA_ID
 * and CKA_LABEL set on both halves.  Token full, unsupported mechanism and
 * key size refused by the token are errors that say so. */
ae_err ae_keystore_generate(ae_ctx *ctx, ae_keystore *ks, const ae_keygen *gen, ae_key **out);
/* The private key with ID; AE_ERR_NOTFOUND if none. */
ae_err ae_keystore_find(ae_ctx *ctx, ae_keystore *ks, const char *id_hex, ae_key **out);
/* The certificate stored with ID (on a token: the CKO_CERTIFICATE object
 * with that CKA_ID, whoever put it there); AE_ERR_NOTFOUND if none,
 * AE_ERR_UNSUPPORTED for a file store.  Caller frees *OUT. */
ae_err ae_keystore_find_cert(ae_ctx *ctx, ae_keystore *ks, const char *id_hex, X509 **out);
/* Removes the key pair and any certificate with ID (missing ones are not
 * an error). */
ae_err ae_keystore_delete(ae_ctx *ctx, ae_keystore *ks, const char *id_hex);
/* Stores CERT next to the key ID (CKO_CERTIFICATE with the same CKA_ID,
 * CKA_LABEL, CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER), and CHAIN (may
 * be NULL) as CA certificates (CKA_CERTIFICATE_CATEGORY 2, not trusted). */
ae_err ae_keystore_store_cert(ae_ctx *ctx, ae_keystore *ks, const char *id_hex, const char *label,
                              X509 *cert, STACK_OF(X509) *chain);
/* The key pair FROM again under the id TO and LABEL, for a renewal that
 * keeps the key (CT_FLAG_REQUIRE_SAME_KEY_RENEWAL): the same key material
 * (on a token C_CopyObject, so a key that is not extractable stays on the
 * token; in files a copy of the file), so that each record keeps a key of
 * its own to delete.  TO must not exist yet. */
ae_err ae_keystore_copy(ae_ctx *ctx, ae_keystore *ks, const char *from_hex, const char *to_hex, const char *label,
                        ae_key **out);
/* Ids of the private keys whose label starts with AE_KEY_LABEL_PREFIX;
 * *IDS_OUT is a NULL-terminated vector (free with ae_strv_free). */
ae_err ae_keystore_list(ae_ctx *ctx, ae_keystore *ks, char ***ids_out);

/* The key as an EVP_PKEY for OpenSSL signing APIs (X509_REQ_sign_ctx,
 * CMS_add1_signer, EVP_DigestSign): private-key operations go to the
 * token (C_Sign).  Owned by KEY. */
EVP_PKEY *ae_key_evp(const ae_key *key);
const char *ae_key_id(const ae_key *key);
/* RFC 7512 URI of the private key (token, id, type=private), or the
 * file's path. */
const char *ae_key_uri(const ae_key *key);
bool ae_key_extractable(const ae_key *key);
void ae_key_free(ae_key *key);

#endif
