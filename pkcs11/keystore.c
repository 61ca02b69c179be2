/*
 * keystore.c - picks the key store backend from the store spec and checks
 * what callers hand to it; the backends are keystore-p11.c (PKCS#11
 * through p11-kit) and keystore-file.c (a directory of PEM files).
 */
#include "config.h"

#include "keystore-int.h"
#include "util.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define AE_KEY_ID_BYTES 20

static ae_err
unknown_kind(ae_ctx *ctx, const char *spec)
{
	return ae_set_message(ctx, AE_ERR_CONFIG,
	                      "key store \"%s\" is neither \"pkcs11:<RFC 7512 URI>\" "
	                      "nor \"file:/directory\"", spec);
}

ae_err
ae_keystore_open(ae_ctx *ctx, const char *spec, ae_keystore **out)
{
	ae_keystore *ks = NULL;
	ae_err err;

	ae_return_val_if_fail(out != NULL, AE_ERR_INTERNAL);
	*out = NULL;
	ae_return_val_if_fail(spec != NULL, AE_ERR_INTERNAL);

	ks = calloc(1, sizeof(*ks));
	if (ks == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");

	if (strncmp(spec, "pkcs11:", 7) == 0) {
		ks->is_token = true;
		err = ae_keystore_p11_open(ctx, spec, ks);
	} else if (strncmp(spec, "file:", 5) == 0) {
		err = ae_keystore_file_open(ctx, spec + 5, ks);
	} else {
		err = unknown_kind(ctx, spec);
	}
	if (err != AE_OK)
		goto cleanup;

	*out = ks;
	ks = NULL;
cleanup:
	ae_keystore_free(ks);
	return err;
}

ae_err
ae_keystore_check_spec(ae_ctx *ctx, const char *spec, bool check_owner)
{
	ae_return_val_if_fail(spec != NULL, AE_ERR_INTERNAL);
	if (strncmp(spec, "pkcs11:", 7) == 0)
		return ae_keystore_p11_check(ctx, spec);
	if (strncmp(spec, "file:", 5) == 0)
		return ae_keystore_file_check(ctx, spec + 5, check_owner);
	return unknown_kind(ctx, spec);
}

/* The id= attribute of a pkcs11: URI (percent-encoded bytes, RFC 7512
 * 2.3) as lower-case hex; NULL if there is none or it is malformed. */
static char *
uri_id_hex(const char *uri)
{
	const char *p = uri + 7, *end;
	unsigned char id[AE_KEY_ID_MAX_HEX / 2];
	size_t n = 0;

	for (;;) {
		if (strncmp(p, "id=", 3) == 0)
			break;
		p += strcspn(p, ";?");
		if (*p != ';')
			return NULL;
		p++;
	}
	p += 3;
	end = p + strcspn(p, ";?");
	while (p < end) {
		int hi, lo;
		if (n == sizeof(id))
			return NULL;
		if (*p != '%') {
			id[n++] = (unsigned char)*p++;
			continue;
		}
		if (end - p < 3 || (hi = ae_hex_digit(p[1])) < 0 || (lo = ae_hex_digit(p[2])) < 0)
			return NULL;
		id[n++] = (unsigned char)(hi << 4 | lo);
		p += 3;
	}
	return n > 0 ? ae_hex_encode(id, n) : NULL;
}

ae_err
ae_key_open_uri(ae_ctx *ctx, const char *uri, const char *setting, ae_pin_prompt_fn prompt, void *data,
                ae_keystore **ks_out, ae_key **key_out)
{
	ae_keystore *ks = NULL;
	ae_key *key = NULL;
	char *id = NULL;
	ae_err err;

	ae_return_val_if_fail(ks_out != NULL && key_out != NULL && uri != NULL, AE_ERR_INTERNAL);
	*ks_out = NULL;
	*key_out = NULL;
	if (strncmp(uri, "pkcs11:", 7) != 0 || (id = uri_id_hex(uri)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_CONFIG, "%s: \"%s\" is not a pkcs11: URI with the key's id= (its key.uri)",
		                     setting, uri);
		goto cleanup;
	}
	if ((err = ae_keystore_open_prompt(ctx, uri, prompt, data, &ks)) != AE_OK ||
	    (err = ae_keystore_find(ctx, ks, id, &key)) != AE_OK) {
		err = ae_prefix_message(ctx, err, "the key of %s", setting);
		goto cleanup;
	}
	*ks_out = ks;
	*key_out = key;
	ks = NULL;
cleanup:
	ae_keystore_free(ks);
	free(id);
	return err;
}

typedef struct {
	ae_keystore *ks;
	ae_key *key;
} uri_key;

ae_err
ae_key_open_uri_evp(ae_ctx *ctx, const char *uri, const char *setting, ae_pin_prompt_fn prompt, void *data,
                    X509 **cert_out, EVP_PKEY **pkey_out, void **handle_out)
{
	uri_key *h;
	ae_err err;

	*pkey_out = NULL;
	*handle_out = NULL;
	if (cert_out != NULL)
		*cert_out = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	if ((err = ae_key_open_uri(ctx, uri, setting, prompt, data, &h->ks, &h->key)) == AE_OK && cert_out != NULL &&
	    (err = ae_keystore_find_cert(ctx, h->ks, ae_key_id(h->key), cert_out)) != AE_OK)
		err = ae_prefix_message(ctx, err, "the certificate of %s", setting);
	if (err != AE_OK) {
		ae_key_uri_close(h);
		return err;
	}
	*pkey_out = ae_key_evp(h->key);
	*handle_out = h;
	return AE_OK;
}

void
ae_key_uri_close(void *handle)
{
	uri_key *h = handle;

	if (h == NULL)
		return;
	ae_key_free(h->key);
	ae_keystore_free(h->ks);
	free(h);
}

void
ae_keystore_free(ae_keystore *ks)
{
	if (ks == NULL)
		return;
	if (ks->ops != NULL && ks->ops->free != NULL)
		ks->ops->free(ks->priv);
	free(ks->description);
	free(ks);
}

const char *
ae_keystore_describe(const ae_keystore *ks)
{
	ae_return_val_if_fail(ks != NULL, "");
	return ks->description != NULL ? ks->description : "key store";
}

bool
ae_keystore_is_token(const ae_keystore *ks)
{
	ae_return_val_if_fail(ks != NULL, false);
	return ks->is_token;
}

char *
ae_hex_encode(const unsigned char *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(len * 2 + 1);
	size_t i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		s[2 * i] = digits[data[i] >> 4];
		s[2 * i + 1] = digits[data[i] & 0xf];
	}
	s[2 * len] = '\0';
	return s;
}


bool
ae_hex_decode(const char *hex, unsigned char **data_out, size_t *len_out)
{
	size_t n = strlen(hex), i;
	unsigned char *data = NULL;

	*data_out = NULL;
	*len_out = 0;
	if (n % 2 != 0)
		return false;
	data = malloc(n / 2 + 1); /* +1: never malloc(0) */
	if (data == NULL)
		return false;
	for (i = 0; i < n / 2; i++) {
		int hi = ae_hex_digit(hex[2 * i]), lo = ae_hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(data);
			return false;
		}
		data[i] = (unsigned char)(hi << 4 | lo);
	}
	*data_out = data;
	*len_out = n / 2;
	return true;
}

bool
ae_key_id_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strlen(s);
	if (n == 0 || n % 2 != 0 || n > AE_KEY_ID_MAX_HEX)
		return false;
	/* Lower case only: ids double as file names, and one spelling per id
	 * keeps "is this the same key" a string comparison. */
	return strspn(s, "0123456789abcdef") == n;
}

char *
ae_keystore_new_id(void)
{
	unsigned char raw[AE_KEY_ID_BYTES];

	if (RAND_bytes(raw, sizeof(raw)) != 1 &&
	    getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return NULL;
	return ae_hex_encode(raw, sizeof(raw));
}

static ae_err
check_id(ae_ctx *ctx, const char *id_hex)
{
	if (!ae_key_id_valid(id_hex))
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "key id \"%s\" is not lower-case hex of at most %d digits",
		                      id_hex != NULL ? id_hex : "(none)", AE_KEY_ID_MAX_HEX);
	return AE_OK;
}

ae_err
ae_keystore_generate(ae_ctx *ctx, ae_keystore *ks, const ae_keygen *gen, ae_key **out)
{
	ae_err err;

	ae_return_val_if_fail(out != NULL, AE_ERR_INTERNAL);
	*out = NULL;
	ae_return_val_if_fail(ks != NULL && gen != NULL, AE_ERR_INTERNAL);
	if ((err = check_id(ctx, gen->id_hex)) != AE_OK)
		return err;
	if (gen->label == NULL || strncmp(gen->label, AE_KEY_LABEL_PREFIX,
	                                  strlen(AE_KEY_LABEL_PREFIX)) != 0)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "key label \"%s\" does not start with \"" AE_KEY_LABEL_PREFIX "\"",
		                      gen->label != NULL ? gen->label : "(none)");
	return ks->ops->generate(ctx, ks, gen, out);
}

ae_err
ae_keystore_find(ae_ctx *ctx, ae_keystore *ks, const char *id_hex, ae_key **out)
{
	ae_err err;

	ae_return_val_if_fail(out != NULL, AE_ERR_INTERNAL);
	*out = NULL;
	ae_return_val_if_fail(ks != NULL, AE_ERR_INTERNAL);
	if ((err = check_id(ctx, id_hex)) != AE_OK)
		return err;
	return ks->ops->find(ctx, ks, id_hex, out);
}

ae_err
ae_keystore_find_cert(ae_ctx *ctx, ae_keystore *ks, const char *id_hex, X509 **out)
{
	ae_err err;

	ae_return_val_if_fail(out != NULL, AE_ERR_INTERNAL);
	*out = NULL;
	ae_return_val_if_fail(ks != NULL, AE_ERR_INTERNAL);
	if ((err = check_id(ctx, id_hex)) != AE_OK)
		return err;
	if (ks->ops->find_cert == NULL)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED, "%s keeps no certificates to read back",
		                      ae_keystore_describe(ks));
	return ks->ops->find_cert(ctx, ks, id_hex, out);
}

ae_err
ae_keystore_delete(ae_ctx *ctx, ae_keystore *ks, const char *id_hex)
{
	ae_err err;

	ae_return_val_if_fail(ks != NULL, AE_ERR_INTERNAL);
	if ((err = check_id(ctx, id_hex)) != AE_OK)
		return err;
	return ks->ops->delete_key(ctx, ks, id_hex);
}

ae_err
ae_keystore_store_cert(ae_ctx *ctx, ae_keystore *ks, const char *id_hex, const char *label,
                       X509 *cert, STACK_OF(X509) *chain)
{
	ae_err err;

	ae_return_val_if_fail(ks != NULL && cert != NULL, AE_ERR_INTERNAL);
	if ((err = check_id(ctx, id_hex)) != AE_OK)
		return err;
	return ks->ops->store_cert(ctx, ks, id_hex, label, cert, chain);
}

ae_err
ae_keystore_copy(ae_ctx *ctx, ae_keystore *ks, const char *from_hex, const char *to_hex, const char *label,
                 ae_key **out)
{
	ae_err err;

	ae_return_val_if_fail(out != NULL, AE_ERR_INTERNAL);
	*out = NULL;
	ae_return_val_if_fail(ks != NULL, AE_ERR_INTERNAL);
	if ((err = check_id(ctx, from_hex)) != AE_OK || (err = check_id(ctx, to_hex)) != AE_OK)
		return err;
	if (label == NULL || strncmp(label, AE_KEY_LABEL_PREFIX, strlen(AE_KEY_LABEL_PREFIX)) != 0)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "key label \"%s\" does not start with \"" AE_KEY_LABEL_PREFIX "\"",
		                      label != NULL ? label : "(none)");
	return ks->ops->copy(ctx, ks, from_hex, to_hex, label, out);
}

ae_err
ae_keystore_list(ae_ctx *ctx, ae_keystore *ks, char ***ids_out)
{
	ae_return_val_if_fail(ids_out != NULL, AE_ERR_INTERNAL);
	*ids_out = NULL;
	ae_return_val_if_fail(ks != NULL, AE_ERR_INTERNAL);
	return ks->ops->list(ctx, ks, ids_out);
}

ae_key *
ae_key_new_int(EVP_PKEY *pkey, const char *id_hex, const char *uri, bool extractable)
{
	ae_key *key = calloc(1, sizeof(*key));

	if (key == NULL) {
		EVP_PKEY_free(pkey);
		return NULL;
	}
	key->pkey = pkey;
	key->id = strdup(id_hex);
	key->uri = strdup(uri);
	key->extractable = extractable;
	if (key->id == NULL || key->uri == NULL) {
		ae_key_free(key);
		return NULL;
	}
	return key;
}

EVP_PKEY *
ae_key_evp(const ae_key *key)
{
	ae_return_val_if_fail(key != NULL, NULL);
	return key->pkey;
}

const char *
ae_key_id(const ae_key *key)
{
	ae_return_val_if_fail(key != NULL, NULL);
	return key->id;
}

const char *
ae_key_uri(const ae_key *key)
{
	ae_return_val_if_fail(key != NULL, NULL);
	return key->uri;
}

bool
ae_key_extractable(const ae_key *key)
{
	ae_return_val_if_fail(key != NULL, false);
	return key->extractable;
}

void
ae_key_free(ae_key *key)
{
	if (key == NULL)
		return;
	/* A token key's EVP_PKEY holds its own reference on the session (in
	 * ex_data), so callers that up-ref it may keep it past this point. */
	EVP_PKEY_free(key->pkey);
	free(key->id);
	free(key->uri);
	free(key);
}
