/*
 * keystore-int.h - what the keystore dispatcher and its backends
 * (keystore-p11.c, keystore-file.c) share; not for other callers.
 *
 * A backend fills an ae_keystore with its ops and private state; keys are
 * made with ae_key_new_int() so that every backend hands out the same
 * struct.  Ids reaching a backend have been checked by the dispatcher
 * (lower-case hex, bounded length), so backends may use them in file names.
 */
#ifndef AE_KEYSTORE_INT_H
#define AE_KEYSTORE_INT_H

#include "keystore.h"

/* Longest id accepted (hex digits); CKA_ID values beyond this are not ours. */
#define AE_KEY_ID_MAX_HEX 128

typedef struct {
	ae_err (*generate)(ae_ctx *ctx, ae_keystore *ks, const ae_keygen *gen, ae_key **out);
	ae_err (*find)(ae_ctx *ctx, ae_keystore *ks, const char *id_hex, ae_key **out);
	/* NULL: the store does not keep certificates it can hand back */
	ae_err (*find_cert)(ae_ctx *ctx, ae_keystore *ks, const char *id_hex, X509 **out);
	ae_err (*delete_key)(ae_ctx *ctx, ae_keystore *ks, const char *id_hex);
	ae_err (*store_cert)(ae_ctx *ctx, ae_keystore *ks, const char *id_hex, const char *label,
	                     X509 *cert, STACK_OF(X509) *chain);
	ae_err (*list)(ae_ctx *ctx, ae_keystore *ks, char ***ids_out);
	ae_err (*copy)(ae_ctx *ctx, ae_keystore *ks, const char *from_hex, const char *to_hex, const char *label,
	               ae_key **out);
	void (*free)(void *priv);
} ae_keystore_ops;

struct ae_keystore {
	const ae_keystore_ops *ops;
	void *priv;          /* backend state, freed by ops->free */
	char *description;   /* for ae_keystore_describe() and messages */
	bool is_token;
};

struct ae_key {
	EVP_PKEY *pkey;
	char *id;
	char *uri;
	bool extractable;
};

/* Backends' constructors: fill KS (ops, priv, description) or fail with
 * a message.  SPEC is the whole "pkcs11:..." URI; PATH is the part after
 * "file:". */
ae_err ae_keystore_p11_open(ae_ctx *ctx, const char *spec, ae_keystore *ks);
ae_err ae_keystore_file_open(ae_ctx *ctx, const char *path, ae_keystore *ks);
ae_err ae_keystore_p11_check(ae_ctx *ctx, const char *spec);
ae_err ae_keystore_file_check(ae_ctx *ctx, const char *path, bool check_owner);

/* A key taking ownership of PKEY (also on failure); copies ID and URI.
 * NULL when out of memory. */
ae_key *ae_key_new_int(EVP_PKEY *pkey, const char *id_hex, const char *uri, bool extractable);

/* Lower-case hex of LEN bytes; NULL when out of memory. */
char *ae_hex_encode(const unsigned char *data, size_t len);
/* Decodes hex (either case) into a new buffer; false if malformed or out
 * of memory. */
bool ae_hex_decode(const char *hex, unsigned char **data_out, size_t *len_out);
/* True if S is a non-empty run of lower-case hex digits of even length,
 * at most AE_KEY_ID_MAX_HEX long. */
bool ae_key_id_valid(const char *s);

/* PKCS#11 readers of what a token holds (keystore-p11.c; fuzzed by
 * tests/fuzz/fuzz-p11.c).  ae_p11_read_pin_source reads the PIN of TOKEN
 * from SOURCE (pin-source=: a path or file: URI) into PIN (SIZE bytes,
 * NUL-terminated; a final newline, CR-LF too, dropped).
 * ae_p11_ec_decode reads CKA_EC_PARAMS and CKA_EC_POINT (a DER OCTET
 * STRING, or the bare point) into the curve and the point on it. */
ae_err ae_p11_read_pin_source(ae_ctx *ctx, const char *token, const char *source, char *pin, size_t size);
ae_err ae_p11_ec_decode(ae_ctx *ctx, const char *token, const unsigned char *params, size_t params_len,
                        const unsigned char *point, size_t point_len, EC_GROUP **group_out, EC_POINT **point_out);

#endif
