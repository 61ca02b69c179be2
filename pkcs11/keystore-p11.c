/*
 * keystore-p11.c - the PKCS#11 backend: keys generated and kept on a token
 * reached through p11-kit, and EVP_PKEYs whose private operations are
 * C_Sign calls on that token.
 *
 * OpenSSL 3.0 still routes "foreign" legacy keys (an RSA or EC_KEY whose
 * method is not the default) to the legacy signing code, which calls the
 * key's method; that is how tokens work without an engine or a provider.
 * This file therefore uses the deprecated RSA_METHOD / EC_KEY_METHOD API
 * and is built with deprecation warnings off (pkcs11/Makefile.am).
 *
 * One module instance and one R/W session per keystore, shared with every
 * key handed out: each EVP_PKEY holds a reference (ex_data) so that it may
 * outlive the keystore and the ae_key it came from.
 */
#include "config.h"

#include "keystore-int.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIN_MAX 256
/* Tries of a PIN typed by the user before giving up: the token's own
 * counter is often as low as 3, so more would lock it. */
#define PIN_PROMPT_TRIES 3

typedef struct {
	CK_FUNCTION_LIST *module;
	CK_SESSION_HANDLE session;
	CK_SLOT_ID slot;
	CK_TOKEN_INFO tinfo;
	char *token;        /* label, trailing spaces removed */
	/* How to log in again when the token asks later (key generation):
	 * the pin-source path (not the PIN) and the user prompt. */
	char *pin_source;
	ae_pin_prompt_fn prompt;
	void *prompt_data;
	pthread_mutex_t lock; /* one session: one find/sign at a time */
	int refs;
} p11_conn;

/* What an EVP_PKEY's ex_data points to. */
typedef struct {
	p11_conn *conn;
	CK_OBJECT_HANDLE obj;
} p11_keyref;

/* ---- return codes ---- */

static const struct {
	CK_RV rv;
	const char *name;
} rv_names[] = {
#define RV(x) { x, #x }
	RV(CKR_OK), RV(CKR_CANCEL), RV(CKR_HOST_MEMORY), RV(CKR_SLOT_ID_INVALID),
	RV(CKR_GENERAL_ERROR), RV(CKR_FUNCTION_FAILED), RV(CKR_ARGUMENTS_BAD),
	RV(CKR_ATTRIBUTE_READ_ONLY), RV(CKR_ATTRIBUTE_SENSITIVE),
	RV(CKR_ATTRIBUTE_TYPE_INVALID), RV(CKR_ATTRIBUTE_VALUE_INVALID),
	RV(CKR_DATA_INVALID), RV(CKR_DATA_LEN_RANGE), RV(CKR_DEVICE_ERROR),
	RV(CKR_DEVICE_MEMORY), RV(CKR_DEVICE_REMOVED), RV(CKR_FUNCTION_CANCELED),
	RV(CKR_FUNCTION_NOT_SUPPORTED), RV(CKR_KEY_HANDLE_INVALID), RV(CKR_KEY_SIZE_RANGE),
	RV(CKR_KEY_TYPE_INCONSISTENT), RV(CKR_KEY_FUNCTION_NOT_PERMITTED),
	RV(CKR_MECHANISM_INVALID), RV(CKR_MECHANISM_PARAM_INVALID),
	RV(CKR_OBJECT_HANDLE_INVALID), RV(CKR_OPERATION_ACTIVE),
	RV(CKR_OPERATION_NOT_INITIALIZED), RV(CKR_PIN_INCORRECT), RV(CKR_PIN_INVALID),
	RV(CKR_PIN_LEN_RANGE), RV(CKR_PIN_EXPIRED), RV(CKR_PIN_LOCKED),
	RV(CKR_SESSION_CLOSED), RV(CKR_SESSION_COUNT), RV(CKR_SESSION_HANDLE_INVALID),
	RV(CKR_SESSION_READ_ONLY), RV(CKR_SIGNATURE_INVALID), RV(CKR_SIGNATURE_LEN_RANGE),
	RV(CKR_TEMPLATE_INCOMPLETE), RV(CKR_TEMPLATE_INCONSISTENT),
	RV(CKR_TOKEN_NOT_PRESENT), RV(CKR_TOKEN_NOT_RECOGNIZED),
	RV(CKR_TOKEN_WRITE_PROTECTED), RV(CKR_USER_ALREADY_LOGGED_IN),
	RV(CKR_USER_NOT_LOGGED_IN), RV(CKR_USER_PIN_NOT_INITIALIZED),
	RV(CKR_USER_TYPE_INVALID), RV(CKR_DOMAIN_PARAMS_INVALID), RV(CKR_CURVE_NOT_SUPPORTED),
	RV(CKR_BUFFER_TOO_SMALL), RV(CKR_CRYPTOKI_NOT_INITIALIZED),
	RV(CKR_CRYPTOKI_ALREADY_INITIALIZED), RV(CKR_FUNCTION_REJECTED),
#undef RV
};

static const char *
rv_name(CK_RV rv)
{
	static __thread char buf[32];
	size_t i;

	for (i = 0; i < sizeof(rv_names) / sizeof(rv_names[0]); i++) {
		if (rv_names[i].rv == rv)
			return rv_names[i].name;
	}
	snprintf(buf, sizeof(buf), "CKR_0x%lx", (unsigned long)rv);
	return buf;
}

/* Sets "<formatted text>: CKR_NAME (p11-kit's text)" on CTX. */
static ae_err p11_message(ae_ctx *ctx, ae_err code, CK_RV rv, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static ae_err
p11_message(ae_ctx *ctx, ae_err code, CK_RV rv, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return ae_set_message(ctx, code, "%s: %s (%s)", text, rv_name(rv), p11_kit_strerror(rv));
}

/* The token's storage ran out; tokens report it as either. */
static bool
rv_is_full(CK_RV rv)
{
	return rv == CKR_DEVICE_MEMORY || rv == CKR_HOST_MEMORY;
}

/* ---- connection ---- */

static void
conn_ref(p11_conn *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_SEQ_CST);
}

static void
conn_unref(void *priv)
{
	p11_conn *c = priv;

	if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_SEQ_CST) > 0)
		return;
	/* Closing our last session ends the login; no C_Logout, which would
	 * also log out other users of the same module in this process. */
	if (c->session != CK_INVALID_HANDLE)
		c->module->C_CloseSession(c->session);
	p11_kit_module_finalize(c->module);
	p11_kit_module_release(c->module);
	pthread_mutex_destroy(&c->lock);
	free(c->token);
	free(c->pin_source);
	free(c);
}

static char *
padded_string(const unsigned char *s, size_t max)
{
	return strndup((const char *)s, p11_kit_space_strlen(s, max));
}

/* A copy of the URI fit for messages: the value of pin-value= replaced. */
static char *
redact_uri(const char *spec)
{
	ae_buf b;
	const char *p = spec, *pin;

	ae_buf_init(&b);
	while ((pin = strstr(p, "pin-value=")) != NULL) {
		ae_buf_append(&b, p, (size_t)(pin - p));
		ae_buf_puts(&b, "pin-value=***");
		p = pin + strlen("pin-value=");
		p += strcspn(p, ";&?");
	}
	ae_buf_puts(&b, p);
	return ae_buf_steal(&b);
}

/* RFC 7512 puts module-path, module-name, pin-source and pin-value in the
 * query ("?module-path=..."), but people write them in the path after a
 * ";" as well, which p11-kit then rejects as unknown: move them. */
static char *
normalize_uri(const char *spec)
{
	static const char *const query_only[] = { "module-path=", "module-name=", "pin-source=",
	                                          "pin-value=", NULL };
	const char *path = spec + strlen("pkcs11:");
	const char *query = strchr(path, '?');
	size_t path_len = query != NULL ? (size_t)(query - path) : strlen(path);
	ae_buf kept, moved;
	const char *p = path, *end = path + path_len;

	ae_buf_init(&kept);
	ae_buf_init(&moved);
	ae_buf_puts(&kept, "pkcs11:");
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		size_t len = semi != NULL ? (size_t)(semi - p) : (size_t)(end - p);
		bool is_query = false;
		int i;

		for (i = 0; query_only[i] != NULL; i++) {
			if (len >= strlen(query_only[i]) && strncmp(p, query_only[i], strlen(query_only[i])) == 0)
				is_query = true;
		}
		if (len > 0 && is_query) {
			if (moved.len > 0)
				ae_buf_puts(&moved, "&");
			ae_buf_append(&moved, p, len);
		} else if (len > 0) {
			if (kept.len > strlen("pkcs11:"))
				ae_buf_puts(&kept, ";");
			ae_buf_append(&kept, p, len);
		}
		p += len + (semi != NULL ? 1 : 0);
	}
	if (moved.len > 0 || query != NULL) {
		ae_buf_puts(&kept, "?");
		if (moved.len > 0)
			ae_buf_append(&kept, moved.data, moved.len);
		if (query != NULL && query[1] != '\0') {
			if (moved.len > 0)
				ae_buf_puts(&kept, "&");
			ae_buf_puts(&kept, query + 1);
		}
	}
	ae_buf_clear(&moved);
	return ae_buf_steal(&kept);
}

static CK_RV
find_objects(p11_conn *c, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE **objs_out,
             CK_ULONG *count_out)
{
	CK_OBJECT_HANDLE *objs = NULL, *grown;
	CK_ULONG count = 0, cap = 0, got;
	CK_RV rv;

	*objs_out = NULL;
	*count_out = 0;
	pthread_mutex_lock(&c->lock);
	rv = c->module->C_FindObjectsInit(c->session, tmpl, n);
	if (rv != CKR_OK)
		goto cleanup;
	for (;;) {
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(objs, cap * sizeof(*objs));
			if (grown == NULL) {
				rv = CKR_HOST_MEMORY;
				break;
			}
			objs = grown;
		}
		rv = c->module->C_FindObjects(c->session, objs + count, cap - count, &got);
		if (rv != CKR_OK || got == 0)
			break;
		count += got;
	}
	c->module->C_FindObjectsFinal(c->session);
	if (rv == CKR_OK) {
		*objs_out = objs;
		*count_out = count;
		objs = NULL;
	}
cleanup:
	pthread_mutex_unlock(&c->lock);
	free(objs);
	return rv;
}

/* Reads attribute TYPE of OBJ into a new buffer (NUL-terminated for
 * convenience, the NUL not counted). */
static CK_RV
get_attr(p11_conn *c, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type, unsigned char **val_out,
         size_t *len_out)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	unsigned char *val = NULL;
	CK_RV rv;

	*val_out = NULL;
	*len_out = 0;
	rv = c->module->C_GetAttributeValue(c->session, obj, &a, 1);
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	val = malloc(a.ulValueLen + 1);
	if (val == NULL)
		return CKR_HOST_MEMORY;
	a.pValue = val;
	rv = c->module->C_GetAttributeValue(c->session, obj, &a, 1);
	if (rv != CKR_OK) {
		free(val);
		return rv;
	}
	val[a.ulValueLen] = '\0';
	*val_out = val;
	*len_out = a.ulValueLen;
	return CKR_OK;
}

static bool
has_our_label(p11_conn *c, CK_OBJECT_HANDLE obj, char **label_out)
{
	unsigned char *label = NULL;
	size_t len;
	bool ours;

	if (label_out != NULL)
		*label_out = NULL;
	if (get_attr(c, obj, CKA_LABEL, &label, &len) != CKR_OK)
		return false;
	ours = len >= strlen(AE_KEY_LABEL_PREFIX) &&
	       memcmp(label, AE_KEY_LABEL_PREFIX, strlen(AE_KEY_LABEL_PREFIX)) == 0;
	if (ours && label_out != NULL) {
		*label_out = (char *)label;
		label = NULL;
	}
	free(label);
	return ours;
}

/* ---- opening ---- */

ae_err
ae_p11_read_pin_source(ae_ctx *ctx, const char *token, const char *source, char *pin, size_t size)
{
	const char *path = source;
	size_t len = 0;
	ssize_t r;
	int fd;
	ae_err err = AE_OK;

	if (strncmp(path, "file://", 7) == 0)
		path += 7;
	else if (strncmp(path, "file:", 5) == 0)
		path += 5;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ae_set_message(ctx, AE_ERR_CONFIG, "cannot read the PIN of token \"%s\" from %s: %s",
		                      token, path, strerror(errno));
	while (len < size - 1) {
		r = read(fd, pin + len, size - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = ae_set_message(ctx, AE_ERR_CONFIG,
			                     "cannot read the PIN of token \"%s\" from %s: %s",
			                     token, path, strerror(errno));
			goto cleanup;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	pin[len] = '\0';
	/* Files written by editors and echo end in a newline the PIN lacks. */
	if (len > 0 && pin[len - 1] == '\n')
		pin[--len] = '\0';
	if (len > 0 && pin[len - 1] == '\r')
		pin[--len] = '\0';
cleanup:
	close(fd);
	return err;
}

/* Sets the message for a failed C_Login with RV. */
static ae_err
login_failed(ae_ctx *ctx, p11_conn *c, CK_RV rv)
{
	switch (rv) {
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
		return p11_message(ctx, AE_ERR_DENIED, rv, "wrong PIN for token \"%s\"", c->token);
	case CKR_PIN_LOCKED:
		return p11_message(ctx, AE_ERR_DENIED, rv,
		                   "the user PIN of token \"%s\" is locked; unlock it with the SO PIN",
		                   c->token);
	case CKR_PIN_EXPIRED:
		return p11_message(ctx, AE_ERR_DENIED, rv,
		                   "the user PIN of token \"%s\" has expired; change it first", c->token);
	case CKR_USER_PIN_NOT_INITIALIZED:
		return p11_message(ctx, AE_ERR_TOKEN, rv, "token \"%s\" has no user PIN set", c->token);
	default:
		return p11_message(ctx, AE_ERR_TOKEN, rv, "cannot log in to token \"%s\"", c->token);
	}
}

static CK_RV
c_login(p11_conn *c, const char *pin, size_t len)
{
	CK_RV rv;

	/* Keys handed out share the session: no C_Sign in the middle. */
	pthread_mutex_lock(&c->lock);
	rv = c->module->C_Login(c->session, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)len);
	pthread_mutex_unlock(&c->lock);
	return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
}

/* Why the user is asked again after RV, for the dialog.  The token's
 * flags tell only "few tries left" and "last try", not a number. */
static void
retry_reason(p11_conn *c, CK_RV rv, int tries_left, char *buf, size_t size)
{
	CK_TOKEN_INFO ti;
	const char *warn = "";

	if (c->module->C_GetTokenInfo(c->slot, &ti) == CKR_OK) {
		if (ti.flags & CKF_USER_PIN_FINAL_TRY)
			warn = " One more wrong PIN locks the token.";
		else if (ti.flags & CKF_USER_PIN_COUNT_LOW)
			warn = " A few more wrong PINs lock the token.";
	}
	snprintf(buf, size, "%s, %d %s left.%s",
	         rv == CKR_OK ? "No PIN entered" :
	         rv == CKR_PIN_INCORRECT ? "Wrong PIN" : "The token does not accept this PIN",
	         tries_left, tries_left == 1 ? "try" : "tries", warn);
}

/* Asks the user (c->prompt) and logs in: PIN_PROMPT_TRIES tries, each
 * retry with the reason of the last refusal. */
static ae_err
login_prompt(ae_ctx *ctx, p11_conn *c)
{
	char pin[PIN_MAX], reason[160] = "";
	CK_RV rv = CKR_OK;
	bool asked_empty = false;
	int n;
	ae_err err = AE_OK;

	for (n = 1; n <= PIN_PROMPT_TRIES; n++) {
		pin[0] = '\0';
		err = c->prompt(ctx, c->prompt_data, c->token, n > 1 ? reason : NULL, pin, sizeof(pin));
		pin[sizeof(pin) - 1] = '\0';
		if (err != AE_OK)
			goto cleanup; /* cancelled, timed out, no dialog: the prompt's message */
		if (pin[0] == '\0') {
			/* An empty PIN is a slip of the Enter key: not worth one of
			 * the token's tries. */
			asked_empty = true;
			rv = CKR_OK;
		} else {
			asked_empty = false;
			rv = c_login(c, pin, strlen(pin));
			explicit_bzero(pin, sizeof(pin));
			if (rv == CKR_OK)
				goto cleanup;
			if (rv != CKR_PIN_INCORRECT && rv != CKR_PIN_INVALID && rv != CKR_PIN_LEN_RANGE)
				break; /* locked, expired, device error: asking again is no help */
		}
		if (n < PIN_PROMPT_TRIES)
			retry_reason(c, rv, PIN_PROMPT_TRIES - n, reason, sizeof(reason));
	}
	if (asked_empty)
		err = ae_set_message(ctx, AE_ERR_NEEDPIN, "no PIN was entered for token \"%s\"", c->token);
	else if (n > PIN_PROMPT_TRIES)
		err = p11_message(ctx, AE_ERR_DENIED, rv, "wrong PIN for token \"%s\" (%d tries)", c->token,
		                  PIN_PROMPT_TRIES);
	else
		err = login_failed(ctx, c, rv);
cleanup:
	explicit_bzero(pin, sizeof(pin));
	return err;
}

/* Logs in with PIN_VALUE, else the PIN in the file PIN_SOURCE, else the
 * PIN pad, else the user's answer to c->prompt. */
static ae_err
login_with(ae_ctx *ctx, p11_conn *c, const char *pin_value, const char *pin_source)
{
	char pin[PIN_MAX];
	CK_RV rv;
	ae_err err = AE_OK;

	pin[0] = '\0';
	if (pin_value != NULL) {
		rv = c_login(c, pin_value, strlen(pin_value));
	} else if (pin_source != NULL) {
		err = ae_p11_read_pin_source(ctx, c->token, pin_source, pin, sizeof(pin));
		if (err != AE_OK)
			goto cleanup;
		rv = c_login(c, pin, strlen(pin));
	} else if ((c->tinfo.flags & CKF_PROTECTED_AUTHENTICATION_PATH) != 0) {
		rv = c_login(c, NULL, 0); /* the PIN pad asks */
	} else if (c->prompt != NULL) {
		err = login_prompt(ctx, c);
		goto cleanup;
	} else {
		err = ae_set_message(ctx, AE_ERR_NEEDPIN,
		                     "token \"%s\" needs a PIN: add pin-source=FILE to the store URI "
		                     "(or the notification helper asks for it)", c->token);
		goto cleanup;
	}
	if (rv != CKR_OK)
		err = login_failed(ctx, c, rv);
cleanup:
	explicit_bzero(pin, sizeof(pin));
	return err;
}

static ae_err
login(ae_ctx *ctx, p11_conn *c, P11KitUri *uri)
{
	CK_SESSION_INFO si;

	if ((c->tinfo.flags & CKF_LOGIN_REQUIRED) == 0)
		return AE_OK;
	/* Already logged in by another open store on this token (login is
	 * the application's, shared by its sessions: PKCS#11 2.40 5.6): no
	 * second PIN dialog. */
	if (c->module->C_GetSessionInfo(c->session, &si) == CKR_OK &&
	    (si.state == CKS_RO_USER_FUNCTIONS || si.state == CKS_RW_USER_FUNCTIONS))
		return AE_OK;
	return login_with(ctx, c, p11_kit_uri_get_pin_value(uri), p11_kit_uri_get_pin_source(uri));
}

static void
append_token_name(ae_buf *names, const CK_TOKEN_INFO *ti)
{
	char *label = padded_string(ti->label, sizeof(ti->label));

	ae_buf_printf(names, "%s\"%s\"", names->len > 0 ? ", " : "", label ? label : "?");
	free(label);
}

static ae_err p11_generate(ae_ctx *, ae_keystore *, const ae_keygen *, ae_key **);
static ae_err p11_find(ae_ctx *, ae_keystore *, const char *, ae_key **);
static ae_err p11_find_cert(ae_ctx *, ae_keystore *, const char *, X509 **);
static ae_err p11_delete(ae_ctx *, ae_keystore *, const char *);
static ae_err p11_store_cert(ae_ctx *, ae_keystore *, const char *, const char *, X509 *,
                             STACK_OF(X509) *);
static ae_err p11_list(ae_ctx *, ae_keystore *, char ***);
static ae_err p11_copy(ae_ctx *, ae_keystore *, const char *, const char *, const char *, ae_key **);

static const ae_keystore_ops p11_ops = {
	.generate = p11_generate,
	.find = p11_find,
	.find_cert = p11_find_cert,
	.delete_key = p11_delete,
	.store_cert = p11_store_cert,
	.list = p11_list,
	.copy = p11_copy,
	.free = conn_unref,
};

/* Parses NORMAL (the store spec, normalized) into URI; SHOWN (without a
 * PIN) is what messages say. */
static ae_err
parse_store_uri(ae_ctx *ctx, const char *normal, const char *shown, P11KitUri *uri)
{
	int r = p11_kit_uri_parse(normal, P11_KIT_URI_FOR_ANY, uri);

	if (r != P11_KIT_URI_OK)
		return ae_set_message(ctx, AE_ERR_CONFIG, "key store \"%s\" is not a PKCS#11 URI: %s",
		                      shown, p11_kit_uri_message(r));
	if (p11_kit_uri_any_unrecognized(uri))
		/* p11-kit would then match no token at all: say why. */
		return ae_set_message(ctx, AE_ERR_CONFIG,
		                      "key store \"%s\" has an attribute p11-kit does not know", shown);
	return AE_OK;
}

ae_err
ae_keystore_p11_check(ae_ctx *ctx, const char *spec)
{
	char *shown = redact_uri(spec), *normal = normalize_uri(spec);
	P11KitUri *uri = p11_kit_uri_new();
	ae_err err;

	if (shown == NULL || normal == NULL || uri == NULL)
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	else
		err = parse_store_uri(ctx, normal, shown, uri);
	if (uri != NULL)
		p11_kit_uri_free(uri);
	free(shown);
	free(normal);
	return err;
}

static ae_err
p11_open(ae_ctx *ctx, const char *spec, ae_pin_prompt_fn prompt, void *prompt_data, ae_keystore *ks)
{
	P11KitUri *uri = NULL;
	CK_FUNCTION_LIST **mods = NULL;
	CK_SLOT_ID *slots = NULL;
	p11_conn *c = NULL;
	char *shown = NULL, *normal = NULL, *modname = NULL, *chosen_name = NULL;
	const char *mpath, *mname;
	ae_buf names, desc;
	size_t nmods = 0, i, chosen = (size_t)-1;
	bool name_matched = false;
	CK_RV rv;
	ae_err err = AE_OK;

	ae_buf_init(&names);
	shown = redact_uri(spec);
	normal = normalize_uri(spec);
	c = calloc(1, sizeof(*c));
	uri = p11_kit_uri_new();
	if (shown == NULL || normal == NULL || c == NULL || uri == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	c->refs = 1;
	c->session = CK_INVALID_HANDLE;
	c->prompt = prompt;
	c->prompt_data = prompt_data;
	pthread_mutex_init(&c->lock, NULL);

	err = parse_store_uri(ctx, normal, shown, uri);
	if (err != AE_OK)
		goto cleanup;

	mpath = p11_kit_uri_get_module_path(uri);
	mname = p11_kit_uri_get_module_name(uri);
	if (mpath != NULL) {
		CK_FUNCTION_LIST *m = p11_kit_module_load(mpath, 0);
		if (m == NULL) {
			err = ae_set_message(ctx, AE_ERR_TOKEN, "cannot load PKCS#11 module %s: %s",
			                     mpath, p11_kit_message() ? p11_kit_message() : "unknown error");
			goto cleanup;
		}
		rv = p11_kit_module_initialize(m);
		if (rv != CKR_OK) {
			p11_kit_module_release(m);
			err = p11_message(ctx, AE_ERR_TOKEN, rv, "cannot initialize PKCS#11 module %s",
			                  mpath);
			goto cleanup;
		}
		mods = calloc(2, sizeof(*mods));
		if (mods == NULL) {
			p11_kit_module_finalize(m);
			p11_kit_module_release(m);
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		mods[0] = m;
	} else {
		mods = p11_kit_modules_load_and_initialize(0);
		if (mods == NULL) {
			err = ae_set_message(ctx, AE_ERR_TOKEN,
			                     "cannot load the PKCS#11 modules registered with p11-kit: %s",
			                     p11_kit_message() ? p11_kit_message() : "unknown error");
			goto cleanup;
		}
	}
	while (mods[nmods] != NULL)
		nmods++;

	for (i = 0; i < nmods && chosen == (size_t)-1; i++) {
		CK_FUNCTION_LIST *m = mods[i];
		CK_INFO info;
		CK_ULONG nslots = 0, s;

		free(modname);
		modname = p11_kit_module_get_name(m);
		if (mname != NULL && (modname == NULL || strcmp(modname, mname) != 0))
			continue;
		name_matched = true;
		if (m->C_GetInfo(&info) != CKR_OK || !p11_kit_uri_match_module_info(uri, &info))
			continue;
		free(slots);
		slots = NULL;
		if (m->C_GetSlotList(CK_TRUE, NULL, &nslots) != CKR_OK || nslots == 0)
			continue;
		slots = calloc(nslots, sizeof(*slots));
		if (slots == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		if (m->C_GetSlotList(CK_TRUE, slots, &nslots) != CKR_OK)
			continue;
		for (s = 0; s < nslots; s++) {
			CK_SLOT_INFO si;
			CK_TOKEN_INFO ti;
			CK_SLOT_ID want = p11_kit_uri_get_slot_id(uri);

			if (m->C_GetTokenInfo(slots[s], &ti) != CKR_OK)
				continue;
			/* Blank tokens (SoftHSM2's free slot) are no help in the
			 * "available" list. */
			if ((ti.flags & CKF_TOKEN_INITIALIZED) != 0)
				append_token_name(&names, &ti);
			if (want != (CK_SLOT_ID)-1 && want != slots[s])
				continue;
			if (m->C_GetSlotInfo(slots[s], &si) != CKR_OK ||
			    !p11_kit_uri_match_slot_info(uri, &si) ||
			    !p11_kit_uri_match_token_info(uri, &ti) ||
			    (ti.flags & CKF_TOKEN_INITIALIZED) == 0)
				continue;
			/* "pkcs11:" matches every token, read-only trust stores
			 * included: take the first we can write to. */
			if ((ti.flags & CKF_WRITE_PROTECTED) != 0)
				continue;
			chosen = i;
			c->slot = slots[s];
			c->tinfo = ti;
			chosen_name = modname;
			modname = NULL;
			break;
		}
	}

	if (chosen == (size_t)-1) {
		if (mname != NULL && !name_matched)
			err = ae_set_message(ctx, AE_ERR_TOKEN,
			                     "no PKCS#11 module named \"%s\" is registered with p11-kit "
			                     "(see p11-kit list-modules); store URI %s", mname, shown);
		else
			/* Most often a smartcard that is not inserted: the
			 * user can fix that, so it is not a plain failure. */
			err = ae_set_message(ctx, AE_ERR_NOTOKEN,
			                     "no PKCS#11 token matches URI %s: insert the smartcard or token (available: %s)",
			                     shown, names.len > 0 ? names.data : "no tokens at all");
		goto cleanup;
	}
	c->module = mods[chosen];
	mods[chosen] = NULL;
	c->token = padded_string(c->tinfo.label, sizeof(c->tinfo.label));
	if (p11_kit_uri_get_pin_source(uri) != NULL)
		c->pin_source = strdup(p11_kit_uri_get_pin_source(uri));
	if (c->token == NULL ||
	    (p11_kit_uri_get_pin_source(uri) != NULL && c->pin_source == NULL)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}

	rv = c->module->C_OpenSession(c->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
	                              &c->session);
	if (rv != CKR_OK) {
		c->session = CK_INVALID_HANDLE;
		err = p11_message(ctx, AE_ERR_TOKEN, rv, "cannot open a read-write session on token \"%s\"",
		                  c->token);
		goto cleanup;
	}
	err = login(ctx, c, uri);
	if (err != AE_OK)
		goto cleanup;

	ae_buf_init(&desc);
	ae_buf_printf(&desc, "PKCS#11 token \"%s\" (%s)", c->token,
	              mpath != NULL ? mpath : chosen_name != NULL ? chosen_name : "p11-kit module");
	ks->description = ae_buf_steal(&desc);
	if (ks->description == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	ks->ops = &p11_ops;
	ks->priv = c;
	c = NULL;
cleanup:
	/* Every module but the chosen one goes back. */
	for (i = 0; mods != NULL && i < nmods; i++) {
		if (mods[i] != NULL) {
			p11_kit_module_finalize(mods[i]);
			p11_kit_module_release(mods[i]);
		}
	}
	free(mods);
	if (c != NULL) {
		if (c->module == NULL) {
			pthread_mutex_destroy(&c->lock);
			free(c->token);
			free(c->pin_source);
			free(c);
		} else {
			conn_unref(c);
		}
	}
	if (uri != NULL)
		p11_kit_uri_free(uri);
	ae_buf_clear(&names);
	free(slots);
	free(modname);
	free(chosen_name);
	free(shown);
	if (normal != NULL)
		OPENSSL_cleanse(normal, strlen(normal)); /* may hold pin-value */
	free(normal);
	return err;
}

ae_err
ae_keystore_p11_open(ae_ctx *ctx, const char *spec, ae_keystore *ks)
{
	return p11_open(ctx, spec, NULL, NULL, ks);
}

/* Here rather than next to ae_keystore_open in keystore.c: only tokens
 * take a prompt, and the backends' shared constructor stays as it is. */
ae_err
ae_keystore_open_prompt(ae_ctx *ctx, const char *spec, ae_pin_prompt_fn prompt, void *data,
                        ae_keystore **out)
{
	ae_keystore *ks = NULL;
	ae_err err;

	ae_return_val_if_fail(out != NULL, AE_ERR_INTERNAL);
	*out = NULL;
	ae_return_val_if_fail(spec != NULL, AE_ERR_INTERNAL);
	if (prompt == NULL || strncmp(spec, "pkcs11:", 7) != 0)
		return ae_keystore_open(ctx, spec, out);

	ks = calloc(1, sizeof(*ks));
	if (ks == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	ks->is_token = true;
	err = p11_open(ctx, spec, prompt, data, ks);
	if (err != AE_OK)
		goto cleanup;
	*out = ks;
	ks = NULL;
cleanup:
	ae_keystore_free(ks);
	return err;
}

/* ---- the EVP_PKEY: methods that sign on the token ---- */

static pthread_once_t methods_once = PTHREAD_ONCE_INIT;
static RSA_METHOD *rsa_method;
static EC_KEY_METHOD *ec_method;
static int rsa_ex_index = -1;
static int ec_ex_index = -1;

static void
keyref_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	p11_keyref *ref = ptr;

	if (ref == NULL)
		return;
	conn_unref(ref->conn);
	free(ref);
}

/* RSA_dup / EC_KEY_dup copy the ex_data pointer: give the copy its own
 * reference, or the second free would be a double one. */
static int
keyref_dup_cb(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
              long argl, void *argp)
{
	p11_keyref *ref = *from_d, *copy;

	if (ref == NULL)
		return 1;
	copy = malloc(sizeof(*copy));
	if (copy == NULL)
		return 0;
	*copy = *ref;
	conn_ref(copy->conn);
	*from_d = copy;
	return 1;
}

static CK_RV
token_op(p11_keyref *ref, CK_MECHANISM_TYPE mtype, bool decrypt, const unsigned char *in,
         size_t in_len, unsigned char *out, size_t *out_len)
{
	p11_conn *c = ref->conn;
	CK_MECHANISM mech = { mtype, NULL, 0 };
	CK_ULONG len = *out_len;
	CK_RV rv;

	pthread_mutex_lock(&c->lock);
	if (decrypt) {
		rv = c->module->C_DecryptInit(c->session, &mech, ref->obj);
		if (rv == CKR_OK)
			rv = c->module->C_Decrypt(c->session, (CK_BYTE_PTR)in, in_len, out, &len);
	} else {
		rv = c->module->C_SignInit(c->session, &mech, ref->obj);
		if (rv == CKR_OK)
			rv = c->module->C_Sign(c->session, (CK_BYTE_PTR)in, in_len, out, &len);
	}
	pthread_mutex_unlock(&c->lock);
	if (rv == CKR_OK)
		*out_len = len;
	else
		ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "PKCS#11 %s on token \"%s\": %s",
		               decrypt ? "C_Decrypt" : "C_Sign", c->token, rv_name(rv));
	return rv;
}

static int
rsa_token_op(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding,
             bool decrypt)
{
	p11_keyref *ref = RSA_get_ex_data(rsa, rsa_ex_index);
	size_t out_len = (size_t)RSA_size(rsa);
	CK_MECHANISM_TYPE mech;

	if (ref == NULL || flen < 0)
		return -1;
	switch (padding) {
	case RSA_PKCS1_PADDING:
		mech = CKM_RSA_PKCS; /* OpenSSL hands us the DigestInfo */
		break;
	case RSA_NO_PADDING:
		mech = CKM_RSA_X_509; /* PSS: OpenSSL has already padded */
		break;
	default:
		ERR_raise(ERR_LIB_RSA, RSA_R_UNKNOWN_PADDING_TYPE);
		return -1;
	}
	if (token_op(ref, mech, decrypt, from, (size_t)flen, to, &out_len) != CKR_OK)
		return -1;
	return (int)out_len;
}

static int
rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
	return rsa_token_op(flen, from, to, rsa, padding, false);
}

static int
rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
	return rsa_token_op(flen, from, to, rsa, padding, true);
}

static ECDSA_SIG *
ec_sign_sig(const unsigned char *dgst, int dgst_len, const BIGNUM *kinv, const BIGNUM *rp,
            EC_KEY *ec)
{
	p11_keyref *ref = EC_KEY_get_ex_data(ec, ec_ex_index);
	unsigned char raw[2 * 66]; /* r || s, P-521 at most */
	size_t raw_len = sizeof(raw);
	ECDSA_SIG *sig = NULL;
	BIGNUM *r = NULL, *s = NULL;

	if (ref == NULL || dgst_len < 0)
		return NULL;
	if (token_op(ref, CKM_ECDSA, false, dgst, (size_t)dgst_len, raw, &raw_len) != CKR_OK)
		return NULL;
	if (raw_len == 0 || raw_len % 2 != 0)
		return NULL;
	sig = ECDSA_SIG_new();
	r = BN_bin2bn(raw, (int)(raw_len / 2), NULL);
	s = BN_bin2bn(raw + raw_len / 2, (int)(raw_len / 2), NULL);
	if (sig == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(sig, r, s)) {
		ECDSA_SIG_free(sig);
		BN_free(r);
		BN_free(s);
		return NULL;
	}
	return sig;
}

static void
init_methods(void)
{
	int (*def_sign)(int, const unsigned char *, int, unsigned char *, unsigned int *,
	                const BIGNUM *, const BIGNUM *, EC_KEY *) = NULL;
	int (*def_setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **) = NULL;

	rsa_ex_index = RSA_get_ex_new_index(0, "autoenroll p11", NULL, keyref_dup_cb,
	                                    keyref_free_cb);
	ec_ex_index = EC_KEY_get_ex_new_index(0, "autoenroll p11", NULL, keyref_dup_cb,
	                                      keyref_free_cb);
	rsa_method = RSA_meth_dup(RSA_get_default_method());
	if (rsa_method != NULL) {
		RSA_meth_set1_name(rsa_method, "autoenroll PKCS#11");
		RSA_meth_set_flags(rsa_method, RSA_meth_get_flags(rsa_method) | RSA_FLAG_EXT_PKEY);
		RSA_meth_set_priv_enc(rsa_method, rsa_priv_enc);
		RSA_meth_set_priv_dec(rsa_method, rsa_priv_dec);
	}
	ec_method = EC_KEY_METHOD_new(EC_KEY_get_default_method());
	if (ec_method != NULL) {
		/* Keep the default sign(), which DER-encodes what sign_sig()
		 * returns; a NULL there would make ECDSA_sign fail. */
		EC_KEY_METHOD_get_sign(ec_method, &def_sign, &def_setup, NULL);
		EC_KEY_METHOD_set_sign(ec_method, def_sign, def_setup, ec_sign_sig);
	}
}

/* evp_rsa and evp_ec take REF in every case: attached to the key's
 * ex_data with a reference on C, or freed. */
static ae_err
evp_rsa(ae_ctx *ctx, p11_conn *c, p11_keyref *ref, const unsigned char *n, size_t n_len,
        const unsigned char *e, size_t e_len, EVP_PKEY **out)
{
	RSA *rsa = NULL;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	EVP_PKEY *pkey = NULL;
	ae_err err = AE_OK;

	rsa = RSA_new();
	bn_n = BN_bin2bn(n, (int)n_len, NULL);
	bn_e = BN_bin2bn(e, (int)e_len, NULL);
	pkey = EVP_PKEY_new();
	if (rsa == NULL || bn_n == NULL || bn_e == NULL || pkey == NULL ||
	    !RSA_set_method(rsa, rsa_method) || !RSA_set0_key(rsa, bn_n, bn_e, NULL)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	bn_n = bn_e = NULL;
	conn_ref(c);
	if (!RSA_set_ex_data(rsa, rsa_ex_index, ref)) {
		conn_unref(c);
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	ref = NULL; /* freed with RSA, by keyref_free_cb */
	if (!EVP_PKEY_assign_RSA(pkey, rsa)) {
		err = ae_set_message(ctx, AE_ERR_CRYPTO, "cannot wrap the RSA key of token \"%s\"",
		                     c->token);
		goto cleanup;
	}
	rsa = NULL;
	*out = pkey;
	pkey = NULL;
cleanup:
	free(ref);
	RSA_free(rsa);
	BN_free(bn_n);
	BN_free(bn_e);
	EVP_PKEY_free(pkey);
	return err;
}

ae_err
ae_p11_ec_decode(ae_ctx *ctx, const char *token, const unsigned char *params, size_t params_len,
                 const unsigned char *point, size_t point_len, EC_GROUP **group_out, EC_POINT **point_out)
{
	const unsigned char *p = params;
	EC_GROUP *group = NULL;
	EC_POINT *pt = NULL;
	ASN1_OCTET_STRING *os = NULL;
	ae_err err = AE_OK;

	*group_out = NULL;
	*point_out = NULL;
	group = d2i_ECPKParameters(NULL, &p, (long)params_len);
	if (group == NULL) {
		err = ae_set_message(ctx, AE_ERR_CRYPTO,
		                     "the EC key on token \"%s\" has CKA_EC_PARAMS OpenSSL cannot read", token);
		goto cleanup;
	}
	/* PKCS#11 says CKA_EC_POINT is a DER OCTET STRING; some tokens give
	 * the bare point. */
	p = point;
	os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)point_len);
	if (os != NULL && p == point + point_len) {
		point = ASN1_STRING_get0_data(os);
		point_len = (size_t)ASN1_STRING_length(os);
	}
	if ((pt = EC_POINT_new(group)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (!EC_POINT_oct2point(group, pt, point, point_len, NULL)) {
		err = ae_set_message(ctx, AE_ERR_CRYPTO,
		                     "the EC public key on token \"%s\" is not a point of its curve", token);
		goto cleanup;
	}
	*group_out = group;
	*point_out = pt;
	group = NULL;
	pt = NULL;
cleanup:
	EC_POINT_free(pt);
	EC_GROUP_free(group);
	ASN1_OCTET_STRING_free(os);
	return err;
}

static ae_err
evp_ec(ae_ctx *ctx, p11_conn *c, p11_keyref *ref, const unsigned char *params,
       size_t params_len, const unsigned char *point, size_t point_len, EVP_PKEY **out)
{
	EC_GROUP *group = NULL;
	EC_KEY *ec = NULL;
	EC_POINT *pt = NULL;
	EVP_PKEY *pkey = NULL;
	ae_err err;

	err = ae_p11_ec_decode(ctx, c->token, params, params_len, point, point_len, &group, &pt);
	if (err != AE_OK)
		goto cleanup;
	ec = EC_KEY_new();
	pkey = EVP_PKEY_new();
	if (ec == NULL || pkey == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (!EC_KEY_set_method(ec, ec_method) || !EC_KEY_set_group(ec, group) || !EC_KEY_set_public_key(ec, pt)) {
		err = ae_set_message(ctx, AE_ERR_CRYPTO,
		                     "the EC public key on token \"%s\" is not a point of its curve",
		                     c->token);
		goto cleanup;
	}
	conn_ref(c);
	if (!EC_KEY_set_ex_data(ec, ec_ex_index, ref)) {
		conn_unref(c);
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	ref = NULL; /* freed with EC_KEY, by keyref_free_cb */
	if (!EVP_PKEY_assign_EC_KEY(pkey, ec)) {
		err = ae_set_message(ctx, AE_ERR_CRYPTO, "cannot wrap the EC key of token \"%s\"",
		                     c->token);
		goto cleanup;
	}
	ec = NULL;
	*out = pkey;
	pkey = NULL;
cleanup:
	free(ref);
	EC_KEY_free(ec);
	EC_POINT_free(pt);
	EC_GROUP_free(group);
	EVP_PKEY_free(pkey);
	return err;
}

/* First object of CLASS with CKA_ID = ID, or CK_INVALID_HANDLE. */
static CK_OBJECT_HANDLE
find_one(p11_conn *c, CK_OBJECT_CLASS cls, const unsigned char *id, size_t id_len)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)id, id_len },
	};
	CK_OBJECT_HANDLE *objs = NULL, h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;

	if (find_objects(c, tmpl, 2, &objs, &n) == CKR_OK && n > 0)
		h = objs[0];
	free(objs);
	return h;
}

/* The certificate object with CKA_ID = ID, decoded; NULL if there is
 * none or it does not decode. */
static X509 *
read_cert(p11_conn *c, const unsigned char *id, size_t id_len)
{
	CK_OBJECT_HANDLE cert = find_one(c, CKO_CERTIFICATE, id, id_len);
	unsigned char *der = NULL;
	size_t der_len = 0;
	const unsigned char *p;
	X509 *x = NULL;

	if (cert != CK_INVALID_HANDLE && get_attr(c, cert, CKA_VALUE, &der, &der_len) == CKR_OK) {
		p = der;
		x = d2i_X509(NULL, &p, (long)der_len);
	}
	free(der);
	return x;
}

/* The EVP_PKEY for private key PRIV: public half read from the token (the
 * private object for RSA; the public object, or else the certificate,
 * with the same CKA_ID for EC). */
static ae_err
make_evp(ae_ctx *ctx, p11_conn *c, CK_OBJECT_HANDLE priv, const unsigned char *id,
         size_t id_len, EVP_PKEY **out)
{
	p11_keyref *ref = NULL;
	unsigned char *a = NULL, *b = NULL, *kt = NULL;
	size_t a_len = 0, b_len = 0, kt_len = 0;
	CK_KEY_TYPE type;
	CK_OBJECT_HANDLE pub;
	CK_RV rv;
	ae_err err = AE_OK;

	*out = NULL;
	pthread_once(&methods_once, init_methods);
	if (rsa_method == NULL || ec_method == NULL || rsa_ex_index < 0 || ec_ex_index < 0)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");

	rv = get_attr(c, priv, CKA_KEY_TYPE, &kt, &kt_len);
	if (rv != CKR_OK || kt_len != sizeof(type)) {
		err = p11_message(ctx, AE_ERR_TOKEN, rv, "cannot read the key type on token \"%s\"",
		                  c->token);
		goto cleanup;
	}
	memcpy(&type, kt, sizeof(type));
	ref = malloc(sizeof(*ref));
	if (ref == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	ref->conn = c;
	ref->obj = priv;

	if (type == CKK_RSA) {
		rv = get_attr(c, priv, CKA_MODULUS, &a, &a_len);
		if (rv == CKR_OK)
			rv = get_attr(c, priv, CKA_PUBLIC_EXPONENT, &b, &b_len);
		if (rv != CKR_OK) {
			err = p11_message(ctx, AE_ERR_TOKEN, rv,
			                  "cannot read the RSA public key on token \"%s\"", c->token);
			goto cleanup;
		}
		err = evp_rsa(ctx, c, ref, a, a_len, b, b_len, out);
		ref = NULL;
	} else if (type == CKK_EC) {
		pub = find_one(c, CKO_PUBLIC_KEY, id, id_len);
		rv = pub != CK_INVALID_HANDLE ? CKR_OK : CKR_KEY_HANDLE_INVALID;
		if (rv == CKR_OK)
			rv = get_attr(c, pub, CKA_EC_PARAMS, &a, &a_len);
		if (rv == CKR_OK)
			rv = get_attr(c, pub, CKA_EC_POINT, &b, &b_len);
		if (rv == CKR_OK) {
			err = evp_ec(ctx, c, ref, a, a_len, b, b_len, out);
			ref = NULL;
		} else {
			/* No public object: the certificate carries the key too. */
			X509 *x = read_cert(c, id, id_len);
			const EC_KEY *xec;
			unsigned char *pt = NULL, *par = NULL, *pp;
			int pt_len = 0, par_len = 0;

			xec = x != NULL ? EVP_PKEY_get0_EC_KEY(X509_get0_pubkey(x)) : NULL;
			if (xec != NULL) {
				pt_len = i2o_ECPublicKey(xec, &pt);
				par_len = i2d_ECPKParameters(EC_KEY_get0_group(xec), NULL);
				par = par_len > 0 ? malloc((size_t)par_len) : NULL;
				pp = par;
				if (par != NULL)
					par_len = i2d_ECPKParameters(EC_KEY_get0_group(xec), &pp);
			}
			if (pt_len > 0 && par != NULL && par_len > 0) {
				err = evp_ec(ctx, c, ref, par, (size_t)par_len, pt, (size_t)pt_len, out);
				ref = NULL;
			} else
				err = p11_message(ctx, AE_ERR_TOKEN, rv,
				                  "cannot find the EC public key for a private key on "
				                  "token \"%s\"", c->token);
			OPENSSL_free(pt);
			free(par);
			X509_free(x);
		}
	} else {
		err = ae_set_message(ctx, AE_ERR_UNSUPPORTED,
		                     "key on token \"%s\" has key type 0x%lx; only RSA and EC keys "
		                     "can sign requests", c->token, (unsigned long)type);
		goto cleanup;
	}
cleanup:
	free(ref);
	free(kt);
	free(a);
	free(b);
	return err;
}

/* ---- keys ---- */

/* RFC 7512 URI of the private key: token, id, label, type=private. */
static char *
key_uri(p11_conn *c, const unsigned char *id, size_t id_len, const char *label)
{
	P11KitUri *u = p11_kit_uri_new();
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE a_cls = { CKA_CLASS, &cls, sizeof(cls) };
	CK_ATTRIBUTE a_id = { CKA_ID, (void *)id, id_len };
	CK_ATTRIBUTE a_label = { CKA_LABEL, (void *)label, label != NULL ? strlen(label) : 0 };
	char *s = NULL;

	if (u == NULL)
		return NULL;
	memcpy(p11_kit_uri_get_token_info(u), &c->tinfo, sizeof(c->tinfo));
	if (p11_kit_uri_set_attribute(u, &a_cls) != P11_KIT_URI_OK ||
	    p11_kit_uri_set_attribute(u, &a_id) != P11_KIT_URI_OK ||
	    (label != NULL && p11_kit_uri_set_attribute(u, &a_label) != P11_KIT_URI_OK) ||
	    p11_kit_uri_format(u, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &s) != P11_KIT_URI_OK)
		s = NULL;
	p11_kit_uri_free(u);
	return s;
}

/* The ae_key for private key PRIV (CKA_ID = ID, CKA_LABEL = LABEL). */
static ae_err
make_key(ae_ctx *ctx, p11_conn *c, CK_OBJECT_HANDLE priv, const unsigned char *id,
         size_t id_len, const char *id_hex, const char *label, ae_key **out)
{
	EVP_PKEY *pkey = NULL;
	unsigned char *ext = NULL;
	size_t ext_len = 0;
	char *uri = NULL;
	bool extractable = false;
	ae_key *key = NULL;
	ae_err err;

	err = make_evp(ctx, c, priv, id, id_len, &pkey);
	if (err != AE_OK)
		goto cleanup;
	/* Ask the token rather than trusting the template: it has the last
	 * word on CKA_EXTRACTABLE. */
	if (get_attr(c, priv, CKA_EXTRACTABLE, &ext, &ext_len) == CKR_OK && ext_len == 1)
		extractable = ext[0] == CK_TRUE;
	uri = key_uri(c, id, id_len, label);
	if (uri == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	key = ae_key_new_int(pkey, id_hex, uri, extractable);
	pkey = NULL;
	if (key == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	*out = key;
cleanup:
	EVP_PKEY_free(pkey);
	free(ext);
	free(uri);
	return err;
}

static const unsigned char oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const unsigned char oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const unsigned char oid_p521[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 };

static ae_err
p11_generate(ae_ctx *ctx, ae_keystore *ks, const ae_keygen *gen, ae_key **out)
{
	static const CK_BYTE exponent[] = { 0x01, 0x00, 0x01 }; /* 65537 */
	p11_conn *c = ks->priv;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BBOOL exportable = gen->exportable ? CK_TRUE : CK_FALSE;
	CK_ULONG bits = gen->bits != 0 ? gen->bits : 2048;
	CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_MECHANISM_INFO mi;
	CK_ATTRIBUTE pub[8], priv[9];
	CK_ULONG npub = 0, npriv = 0;
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	const unsigned char *oid = NULL;
	size_t oid_len = 0;
	unsigned char *id = NULL;
	size_t id_len = 0;
	char what[48];
	CK_RV rv;
	ae_err err = AE_OK;

	switch (gen->alg) {
	case AE_KEY_ALG_RSA:
		snprintf(what, sizeof(what), "RSA %lu-bit", (unsigned long)bits);
		break;
	case AE_KEY_ALG_ECDSA_P256:
		oid = oid_p256, oid_len = sizeof(oid_p256);
		snprintf(what, sizeof(what), "ECDSA P-256");
		break;
	case AE_KEY_ALG_ECDSA_P384:
		oid = oid_p384, oid_len = sizeof(oid_p384);
		snprintf(what, sizeof(what), "ECDSA P-384");
		break;
	case AE_KEY_ALG_ECDSA_P521:
		oid = oid_p521, oid_len = sizeof(oid_p521);
		snprintf(what, sizeof(what), "ECDSA P-521");
		break;
	default:
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED,
		                      "key algorithm %d cannot sign requests; only RSA and "
		                      "ECDSA P-256/P-384/P-521 keys are generated", (int)gen->alg);
	}
	if (oid != NULL)
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;

	/* Ask first, so that "not supported" and "too big" name the limits
	 * instead of a bare CKR_ from C_GenerateKeyPair. */
	rv = c->module->C_GetMechanismInfo(c->slot, mech.mechanism, &mi);
	if (rv == CKR_MECHANISM_INVALID || (rv == CKR_OK && (mi.flags & CKF_GENERATE_KEY_PAIR) == 0))
		return p11_message(ctx, AE_ERR_UNSUPPORTED, rv == CKR_OK ? CKR_MECHANISM_INVALID : rv,
		                   "token \"%s\" cannot generate %s keys (%s)", c->token, what,
		                   oid != NULL ? "CKM_EC_KEY_PAIR_GEN" : "CKM_RSA_PKCS_KEY_PAIR_GEN");
	if (rv == CKR_OK && oid == NULL && mi.ulMaxKeySize != 0 &&
	    (bits < mi.ulMinKeySize || bits > mi.ulMaxKeySize))
		return p11_message(ctx, AE_ERR_UNSUPPORTED, CKR_KEY_SIZE_RANGE,
		                   "token \"%s\" refuses %s keys: it makes RSA keys of %lu to %lu bits",
		                   c->token, what, (unsigned long)mi.ulMinKeySize,
		                   (unsigned long)mi.ulMaxKeySize);

	if (!ae_hex_decode(gen->id_hex, &id, &id_len))
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");

#define ADD(t, type, ptr, len) (t[n##t++] = (CK_ATTRIBUTE){ type, (void *)(ptr), len })
	ADD(pub, CKA_TOKEN, &yes, sizeof(yes));
	ADD(pub, CKA_PRIVATE, &no, sizeof(no));
	ADD(pub, CKA_VERIFY, &yes, sizeof(yes));
	ADD(pub, CKA_ID, id, id_len);
	ADD(pub, CKA_LABEL, gen->label, strlen(gen->label));
	ADD(priv, CKA_TOKEN, &yes, sizeof(yes));
	ADD(priv, CKA_PRIVATE, &yes, sizeof(yes));
	ADD(priv, CKA_SENSITIVE, &yes, sizeof(yes));
	ADD(priv, CKA_EXTRACTABLE, &exportable, sizeof(exportable));
	ADD(priv, CKA_SIGN, &yes, sizeof(yes));
	ADD(priv, CKA_ID, id, id_len);
	ADD(priv, CKA_LABEL, gen->label, strlen(gen->label));
	if (oid == NULL) {
		ADD(pub, CKA_MODULUS_BITS, &bits, sizeof(bits));
		ADD(pub, CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent));
		ADD(priv, CKA_DECRYPT, &yes, sizeof(yes));
	} else {
		ADD(pub, CKA_EC_PARAMS, oid, oid_len);
	}
#undef ADD

	pthread_mutex_lock(&c->lock);
	rv = c->module->C_GenerateKeyPair(c->session, &mech, pub, npub, priv, npriv, &hpub, &hpriv);
	pthread_mutex_unlock(&c->lock);
	if (rv == CKR_USER_NOT_LOGGED_IN &&
	    (c->pin_source != NULL || c->prompt != NULL ||
	     (c->tinfo.flags & CKF_PROTECTED_AUTHENTICATION_PATH) != 0)) {
		/* The token said no login was required when opened, or the login
		 * ended (another user of the module logged out): log in now and
		 * try once more. */
		err = login_with(ctx, c, NULL, c->pin_source);
		if (err != AE_OK)
			goto cleanup;
		pthread_mutex_lock(&c->lock);
		rv = c->module->C_GenerateKeyPair(c->session, &mech, pub, npub, priv, npriv, &hpub,
		                                  &hpriv);
		pthread_mutex_unlock(&c->lock);
	}
	if (exportable && (rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT)) {
		/* The template allows export; it does not demand it.  Tokens whose
		 * keys never leave them (tpm2-pkcs11: "Cannot mark object both
		 * extractable AND sensitive") refuse the flag: keep the key in. */
		exportable = CK_FALSE;
		pthread_mutex_lock(&c->lock);
		rv = c->module->C_GenerateKeyPair(c->session, &mech, pub, npub, priv, npriv, &hpub,
		                                  &hpriv);
		pthread_mutex_unlock(&c->lock);
	}
	switch (rv) {
	case CKR_OK:
		break;
	case CKR_DEVICE_MEMORY:
	case CKR_HOST_MEMORY:
		err = p11_message(ctx, AE_ERR_TOKEN, rv, "token \"%s\" is full: no room for a %s key",
		                  c->token, what);
		goto cleanup;
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
	case CKR_CURVE_NOT_SUPPORTED:
	case CKR_DOMAIN_PARAMS_INVALID:
		err = p11_message(ctx, AE_ERR_UNSUPPORTED, rv, "token \"%s\" cannot generate %s keys",
		                  c->token, what);
		goto cleanup;
	case CKR_KEY_SIZE_RANGE:
	case CKR_TEMPLATE_INCONSISTENT:
	case CKR_ATTRIBUTE_VALUE_INVALID:
		err = p11_message(ctx, AE_ERR_UNSUPPORTED, rv,
		                  "token \"%s\" refused to generate a %s key", c->token, what);
		goto cleanup;
	case CKR_USER_NOT_LOGGED_IN:
		err = p11_message(ctx, AE_ERR_NEEDPIN, rv,
		                  "token \"%s\" needs a login to generate keys: add pin-source=FILE "
		                  "to the store URI", c->token);
		goto cleanup;
	default:
		err = p11_message(ctx, AE_ERR_TOKEN, rv, "cannot generate a %s key on token \"%s\"",
		                  what, c->token);
		goto cleanup;
	}

	err = make_key(ctx, c, hpriv, id, id_len, gen->id_hex, gen->label, out);
	if (err != AE_OK) {
		/* A key pair nobody can use would only fill the token. */
		c->module->C_DestroyObject(c->session, hpriv);
		c->module->C_DestroyObject(c->session, hpub);
	}
cleanup:
	free(id);
	return err;
}

static ae_err
p11_find(ae_ctx *ctx, ae_keystore *ks, const char *id_hex, ae_key **out)
{
	p11_conn *c = ks->priv;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_OBJECT_HANDLE *objs = NULL;
	CK_ULONG n = 0, i;
	unsigned char *id = NULL;
	size_t id_len = 0;
	char *label = NULL;
	CK_RV rv;
	ae_err err;

	if (!ae_hex_decode(id_hex, &id, &id_len))
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	{
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_ID, id, id_len },
		};
		rv = find_objects(c, tmpl, 2, &objs, &n);
	}
	if (rv != CKR_OK) {
		err = p11_message(ctx, AE_ERR_TOKEN, rv, "cannot search token \"%s\"", c->token);
		goto cleanup;
	}
	/* Only our keys: another application's key with the same id is not
	 * the one we are looking for. */
	for (i = 0; i < n; i++) {
		if (has_our_label(c, objs[i], &label))
			break;
	}
	if (i == n) {
		err = ae_set_message(ctx, AE_ERR_NOTFOUND, "no autoenroll key with id %s on token \"%s\"",
		                     id_hex, c->token);
		goto cleanup;
	}
	err = make_key(ctx, c, objs[i], id, id_len, id_hex, label, out);
cleanup:
	free(objs);
	free(id);
	free(label);
	return err;
}

static ae_err
p11_find_cert(ae_ctx *ctx, ae_keystore *ks, const char *id_hex, X509 **out)
{
	p11_conn *c = ks->priv;
	unsigned char *id = NULL;
	size_t id_len = 0;

	if (!ae_hex_decode(id_hex, &id, &id_len))
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	*out = read_cert(c, id, id_len);
	free(id);
	if (*out == NULL)
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "no certificate with id %s on token \"%s\"", id_hex,
		                      c->token);
	return AE_OK;
}

/* The objects of class CLS with CKA_ID = ID that carry our label prefix,
 * in *OBJS_OUT (caller frees) and *N_OUT. */
static ae_err
find_ours(ae_ctx *ctx, p11_conn *c, CK_OBJECT_CLASS cls, const unsigned char *id, size_t id_len,
          CK_OBJECT_HANDLE **objs_out, CK_ULONG *n_out)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)id, id_len },
	};
	CK_ULONG n = 0, ours = 0;
	CK_RV rv;

	rv = find_objects(c, tmpl, 2, objs_out, &n);
	if (rv != CKR_OK)
		return p11_message(ctx, AE_ERR_TOKEN, rv, "cannot search token \"%s\"", c->token);
	for (CK_ULONG i = 0; i < n; i++)
		if (has_our_label(c, (*objs_out)[i], NULL))
			(*objs_out)[ours++] = (*objs_out)[i];
	*n_out = ours;
	return AE_OK;
}

/* Destroys the objects of class CLS with CKA_ID = ID that carry our
 * label prefix. */
static ae_err
destroy_ours(ae_ctx *ctx, p11_conn *c, CK_OBJECT_CLASS cls, const unsigned char *id,
             size_t id_len)
{
	CK_OBJECT_HANDLE *objs = NULL;
	CK_ULONG n = 0, i;
	CK_RV rv;
	ae_err err;

	if ((err = find_ours(ctx, c, cls, id, id_len, &objs, &n)) != AE_OK)
		return err;
	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&c->lock);
		rv = c->module->C_DestroyObject(c->session, objs[i]);
		pthread_mutex_unlock(&c->lock);
		if (rv != CKR_OK && rv != CKR_OBJECT_HANDLE_INVALID) {
			err = p11_message(ctx, AE_ERR_TOKEN, rv, "cannot delete an object on token \"%s\"",
			                  c->token);
			break;
		}
	}
	free(objs);
	return err;
}

static ae_err
p11_delete(ae_ctx *ctx, ae_keystore *ks, const char *id_hex)
{
	p11_conn *c = ks->priv;
	unsigned char *id = NULL;
	size_t id_len = 0;
	ae_err err;

	if (!ae_hex_decode(id_hex, &id, &id_len))
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	/* Certificate first, private key last: an interruption leaves a key
	 * that list() still reports, so it can be deleted again. */
	err = destroy_ours(ctx, c, CKO_CERTIFICATE, id, id_len);
	if (err == AE_OK)
		err = destroy_ours(ctx, c, CKO_PUBLIC_KEY, id, id_len);
	if (err == AE_OK)
		err = destroy_ours(ctx, c, CKO_PRIVATE_KEY, id, id_len);
	free(id);
	return err;
}

/* Copies our object of class CLS with CKA_ID FROM under TO and LABEL;
 * *COPIED says whether there was one. */
static ae_err
copy_ours(ae_ctx *ctx, p11_conn *c, CK_OBJECT_CLASS cls, const unsigned char *from, size_t from_len,
          const unsigned char *to, size_t to_len, const char *label, bool *copied)
{
	CK_ATTRIBUTE set[] = {
		{ CKA_ID, (void *)to, to_len },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE *objs = NULL, made = CK_INVALID_HANDLE;
	CK_ULONG n = 0;
	CK_RV rv;
	ae_err err;

	*copied = false;
	if ((err = find_ours(ctx, c, cls, from, from_len, &objs, &n)) != AE_OK)
		return err;
	if (n > 0) {
		pthread_mutex_lock(&c->lock);
		rv = c->module->C_CopyObject(c->session, objs[0], set, 2, &made);
		pthread_mutex_unlock(&c->lock);
		if (rv != CKR_OK)
			err = p11_message(ctx, AE_ERR_TOKEN, rv,
			                  "token \"%s\" cannot copy the key for a renewal with the same key (C_CopyObject)",
			                  c->token);
		else
			*copied = true;
	}
	free(objs);
	return err;
}

static ae_err
p11_copy(ae_ctx *ctx, ae_keystore *ks, const char *from_hex, const char *to_hex, const char *label, ae_key **out)
{
	p11_conn *c = ks->priv;
	unsigned char *from = NULL, *to = NULL;
	size_t from_len = 0, to_len = 0;
	bool copied = false, pub = false;
	ae_err err;

	if (!ae_hex_decode(from_hex, &from, &from_len) || !ae_hex_decode(to_hex, &to, &to_len)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if (p11_find(ctx, ks, to_hex, out) == AE_OK) {
		ae_key_free(*out);
		*out = NULL;
		err = ae_set_message(ctx, AE_ERR_INVALID, "a key with id %s is already on token \"%s\"", to_hex, c->token);
		goto cleanup;
	}
	ae_clear_message(ctx);
	/* Private key first: a copy interrupted after it is a key that
	 * list() reports and the record's recovery deletes. */
	err = copy_ours(ctx, c, CKO_PRIVATE_KEY, from, from_len, to, to_len, label, &copied);
	if (err == AE_OK && !copied)
		err = ae_set_message(ctx, AE_ERR_NOTFOUND, "no autoenroll key with id %s on token \"%s\"", from_hex,
		                     c->token);
	if (err == AE_OK)
		err = copy_ours(ctx, c, CKO_PUBLIC_KEY, from, from_len, to, to_len, label, &pub);
	if (err == AE_OK)
		err = p11_find(ctx, ks, to_hex, out);
	if (err != AE_OK && copied) {
		ae_ctx *quiet = ae_ctx_new();
		if (quiet != NULL)
			p11_delete(quiet, ks, to_hex);
		ae_ctx_free(quiet);
	}
cleanup:
	free(from);
	free(to);
	return err;
}

/* DER of X's parts; all NULL (and false) when out of memory. */
typedef struct {
	unsigned char *value, *subject, *issuer, *serial;
	int value_len, subject_len, issuer_len, serial_len;
} cert_der;

static void
cert_der_clear(cert_der *d)
{
	OPENSSL_free(d->value);
	OPENSSL_free(d->subject);
	OPENSSL_free(d->issuer);
	OPENSSL_free(d->serial);
	memset(d, 0, sizeof(*d));
}

static bool
cert_der_fill(cert_der *d, X509 *x)
{
	memset(d, 0, sizeof(*d));
	d->value_len = i2d_X509(x, &d->value);
	d->subject_len = i2d_X509_NAME(X509_get_subject_name(x), &d->subject);
	d->issuer_len = i2d_X509_NAME(X509_get_issuer_name(x), &d->issuer);
	d->serial_len = i2d_ASN1_INTEGER(X509_get_serialNumber(x), &d->serial);
	if (d->value_len <= 0 || d->subject_len <= 0 || d->issuer_len <= 0 || d->serial_len <= 0) {
		cert_der_clear(d);
		return false;
	}
	return true;
}

static ae_err
create_cert(ae_ctx *ctx, p11_conn *c, const cert_der *d, const unsigned char *id, size_t id_len,
            const char *label, CK_ULONG category)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ctype = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_CERTIFICATE_TYPE, &ctype, sizeof(ctype) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &no, sizeof(no) }, /* readable before login, like the public key */
		{ CKA_ID, (void *)id, id_len },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_SUBJECT, d->subject, (CK_ULONG)d->subject_len },
		{ CKA_ISSUER, d->issuer, (CK_ULONG)d->issuer_len },
		{ CKA_SERIAL_NUMBER, d->serial, (CK_ULONG)d->serial_len },
		{ CKA_VALUE, d->value, (CK_ULONG)d->value_len },
		{ CKA_CERTIFICATE_CATEGORY, &category, sizeof(category) },
	};
	CK_OBJECT_HANDLE h;
	CK_RV rv;

	pthread_mutex_lock(&c->lock);
	rv = c->module->C_CreateObject(c->session, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &h);
	pthread_mutex_unlock(&c->lock);
	if (rv_is_full(rv))
		return p11_message(ctx, AE_ERR_TOKEN, rv, "token \"%s\" is full: no room for certificate \"%s\"",
		                   c->token, label);
	if (rv != CKR_OK)
		return p11_message(ctx, AE_ERR_TOKEN, rv, "cannot store certificate \"%s\" on token \"%s\"",
		                   label, c->token);
	return AE_OK;
}

static char *
ca_label(X509 *x)
{
	X509_NAME *subj = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	ASN1_STRING *cn = i >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)) : NULL;
	unsigned char *utf8 = NULL;
	ae_buf b;

	ae_buf_init(&b);
	if (cn != NULL && ASN1_STRING_to_UTF8(&utf8, cn) >= 0)
		ae_buf_printf(&b, AE_KEY_LABEL_PREFIX "CA %s", utf8);
	else
		ae_buf_puts(&b, AE_KEY_LABEL_PREFIX "CA");
	OPENSSL_free(utf8);
	return ae_buf_steal(&b);
}

static ae_err
p11_store_cert(ae_ctx *ctx, ae_keystore *ks, const char *id_hex, const char *label,
               X509 *cert, STACK_OF(X509) *chain)
{
	p11_conn *c = ks->priv;
	unsigned char *id = NULL;
	size_t id_len = 0;
	char *full_label = NULL, *ca = NULL;
	cert_der d;
	ae_buf b;
	int i;
	ae_err err;

	memset(&d, 0, sizeof(d));
	if (!ae_hex_decode(id_hex, &id, &id_len))
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	/* delete() removes only objects with our prefix: make sure this one
	 * has it. */
	ae_buf_init(&b);
	if (label == NULL)
		ae_buf_printf(&b, AE_KEY_LABEL_PREFIX "%s", id_hex);
	else if (strncmp(label, AE_KEY_LABEL_PREFIX, strlen(AE_KEY_LABEL_PREFIX)) != 0)
		ae_buf_printf(&b, AE_KEY_LABEL_PREFIX "%s", label);
	else
		ae_buf_puts(&b, label);
	full_label = ae_buf_steal(&b);
	if (full_label == NULL || !cert_der_fill(&d, cert)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	/* A second store for the same key replaces the certificate (renewal
	 * with the same key). */
	err = destroy_ours(ctx, c, CKO_CERTIFICATE, id, id_len);
	if (err != AE_OK)
		goto cleanup;
	err = create_cert(ctx, c, &d, id, id_len, full_label, 1 /* token user */);
	if (err != AE_OK)
		goto cleanup;

	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);
		unsigned char ca_id[SHA_DIGEST_LENGTH];

		cert_der_clear(&d);
		if (!cert_der_fill(&d, x)) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		/* CA certificates are shared by every key they issued: one copy,
		 * found by its SHA-1. */
		SHA1(d.value, (size_t)d.value_len, ca_id);
		if (find_one(c, CKO_CERTIFICATE, ca_id, sizeof(ca_id)) != CK_INVALID_HANDLE)
			continue;
		free(ca);
		ca = ca_label(x);
		if (ca == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		err = create_cert(ctx, c, &d, ca_id, sizeof(ca_id), ca, 2 /* authority */);
		if (err != AE_OK)
			goto cleanup;
	}
cleanup:
	cert_der_clear(&d);
	free(id);
	free(full_label);
	free(ca);
	return err;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static ae_err
p11_list(ae_ctx *ctx, ae_keystore *ks, char ***ids_out)
{
	p11_conn *c = ks->priv;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_OBJECT_HANDLE *objs = NULL;
	CK_ULONG n = 0, i;
	char **ids = NULL;
	CK_RV rv;
	ae_err err = AE_OK;

	rv = find_objects(c, tmpl, 1, &objs, &n);
	if (rv != CKR_OK) {
		err = p11_message(ctx, AE_ERR_TOKEN, rv, "cannot search token \"%s\"", c->token);
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		unsigned char *id = NULL;
		size_t id_len = 0;
		char *hex;

		if (!has_our_label(c, objs[i], NULL) ||
		    get_attr(c, objs[i], CKA_ID, &id, &id_len) != CKR_OK)
			continue;
		hex = id_len > 0 ? ae_hex_encode(id, id_len) : NULL;
		free(id);
		if (hex != NULL && ae_key_id_valid(hex) && !ae_strv_contains(ids, hex) &&
		    !ae_strv_append(&ids, hex)) {
			free(hex);
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		free(hex);
	}
	if (ids == NULL && (ids = calloc(1, sizeof(*ids))) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	qsort(ids, ae_strv_len(ids), sizeof(*ids), cmp_str);
	*ids_out = ids;
	ids = NULL;
cleanup:
	free(objs);
	ae_strv_free(ids);
	return err;
}
