/*
 * error.h - the one error type of autoenroll, and the context that carries
 * the message explaining it.
 *
 * core/ never prints and never exits: every function that can fail returns
 * an ae_err and, through ae_set_message(), leaves a sentence on the context
 * that says what went wrong and what to check.  Programs decide where that
 * sentence goes (terminal, journal, PAM log).
 */
#ifndef AE_ERROR_H
#define AE_ERROR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef int ae_err;

/* Project codes live above a base of their own so they never collide with
 * errno, krb5_error_code or LDAP result codes that we also report. */
#define AE_ERR_BASE 0x0AE00000
enum {
	AE_OK = 0,
	AE_ERR_NOMEM = AE_ERR_BASE + 1, /* out of memory */
	AE_ERR_INVALID,                 /* malformed input (network, file, attribute) */
	AE_ERR_CONFIG,                  /* configuration file or value */
	AE_ERR_IO,                      /* local file or system call */
	AE_ERR_TIMEOUT,                 /* a network step took longer than its setting */
	AE_ERR_NETWORK,                 /* cannot reach or talk to a server */
	AE_ERR_KERBEROS,                /* Kerberos / GSS-API failure */
	AE_ERR_NOCREDS,                 /* no credentials for the context */
	AE_ERR_LDAP,                    /* LDAP operation failed */
	AE_ERR_NOTFOUND,                /* an object that must exist does not */
	AE_ERR_DENIED,                  /* refused by the server or by policy */
	AE_ERR_UNSUPPORTED,             /* valid, but not something we do (yet) */
	AE_ERR_CRYPTO,                  /* certificate, key or signature problem */
	AE_ERR_INTERNAL,                /* a bug: precondition failed */
	AE_ERR_NEEDPIN,                 /* a token needs a PIN that nobody gave */
	AE_ERR_TOKEN,                   /* PKCS#11 token full or failing */
	AE_ERR_NOTOKEN,                 /* the token is not there: a smartcard to insert */
	AE_ERR_MAX_
};

/* Log levels follow syslog's ordering. */
typedef enum {
	AE_LOG_ERR = 3,
	AE_LOG_WARNING = 4,
	AE_LOG_NOTICE = 5,
	AE_LOG_INFO = 6,
	AE_LOG_DEBUG = 7,
} ae_log_level;

typedef void (*ae_log_fn)(void *data, ae_log_level level, const char *msg);

typedef struct ae_ctx ae_ctx;

/* A new context; NULL when out of memory.  Free with ae_ctx_free(). */
ae_ctx *ae_ctx_new(void);
void ae_ctx_free(ae_ctx *ctx);

/* Where log lines go.  Without a sink, log lines are dropped. */
void ae_ctx_set_log(ae_ctx *ctx, ae_log_fn fn, void *data, ae_log_level max_level);

/* Sets the context's message and returns CODE, so that callers can write
 * `return ae_set_message(ctx, AE_ERR_INVALID, "...", ...);`.  ctx may be
 * NULL (the message is then dropped). */
ae_err ae_set_message(ae_ctx *ctx, ae_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
ae_err ae_set_vmessage(ae_ctx *ctx, ae_err code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Prefixes the current message: "PREFIX: old message".  Returns CODE. */
ae_err ae_prefix_message(ae_ctx *ctx, ae_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The last message set, or the generic text of the last code; never NULL.
 * Owned by the context, valid until the next message is set. */
const char *ae_get_message(const ae_ctx *ctx);
ae_err ae_get_code(const ae_ctx *ctx);
void ae_clear_message(ae_ctx *ctx);

/* A short generic description of a code; never NULL, static. */
const char *ae_strerror(ae_err code);

void ae_log(ae_ctx *ctx, ae_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool ae_log_enabled(const ae_ctx *ctx, ae_log_level level);

/* Programmer errors: log and return, or abort under AE_STRICT (tests). */
void ae_precondition_failed(const char *expr, const char *func);
#define ae_return_val_if_fail(expr, val)                              \
	do {                                                          \
		if (!(expr)) {                                        \
			ae_precondition_failed(#expr, __func__);      \
			return (val);                                 \
		}                                                     \
	} while (0)

#endif
