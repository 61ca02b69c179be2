/*
 * error.c - error codes, messages on a context, and the log sink.
 */
#include "config.h"

#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AE_MSG_MAX 2048

struct ae_ctx {
	ae_err code;
	char message[AE_MSG_MAX];
	ae_log_fn log_fn;
	void *log_data;
	ae_log_level log_max;
};

ae_ctx *
ae_ctx_new(void)
{
	ae_ctx *ctx = calloc(1, sizeof(*ctx));
	if (ctx != NULL)
		ctx->log_max = AE_LOG_INFO;
	return ctx;
}

void
ae_ctx_free(ae_ctx *ctx)
{
	free(ctx);
}

void
ae_ctx_set_log(ae_ctx *ctx, ae_log_fn fn, void *data, ae_log_level max_level)
{
	if (ctx == NULL)
		return;
	ctx->log_fn = fn;
	ctx->log_data = data;
	ctx->log_max = max_level;
}

ae_err
ae_set_vmessage(ae_ctx *ctx, ae_err code, const char *fmt, va_list ap)
{
	if (ctx == NULL)
		return code;
	ctx->code = code;
	vsnprintf(ctx->message, sizeof(ctx->message), fmt, ap);
	return code;
}

ae_err
ae_set_message(ae_ctx *ctx, ae_err code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ae_set_vmessage(ctx, code, fmt, ap);
	va_end(ap);
	return code;
}

ae_err
ae_prefix_message(ae_ctx *ctx, ae_err code, const char *fmt, ...)
{
	char prefix[512];
	char old[AE_MSG_MAX];
	va_list ap;

	if (ctx == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, ae_get_message(ctx), sizeof(old));
	old[sizeof(old) - 1] = '\0';
	ctx->code = code;
	snprintf(ctx->message, sizeof(ctx->message), "%.500s: %.1500s", prefix, old);
	return code;
}

const char *
ae_get_message(const ae_ctx *ctx)
{
	if (ctx == NULL)
		return "no context";
	if (ctx->message[0] != '\0')
		return ctx->message;
	return ae_strerror(ctx->code);
}

ae_err
ae_get_code(const ae_ctx *ctx)
{
	return ctx == NULL ? AE_ERR_INTERNAL : ctx->code;
}

void
ae_clear_message(ae_ctx *ctx)
{
	if (ctx == NULL)
		return;
	ctx->code = AE_OK;
	ctx->message[0] = '\0';
}

/* Kept next to the enum, indexed by explicit designators so that a new code
 * cannot silently shift the table. */
static const char *const ae_err_text[] = {
	[AE_ERR_NOMEM - AE_ERR_BASE] = "out of memory",
	[AE_ERR_INVALID - AE_ERR_BASE] = "malformed input",
	[AE_ERR_CONFIG - AE_ERR_BASE] = "configuration error",
	[AE_ERR_IO - AE_ERR_BASE] = "input/output error",
	[AE_ERR_TIMEOUT - AE_ERR_BASE] = "timed out",
	[AE_ERR_NETWORK - AE_ERR_BASE] = "network error",
	[AE_ERR_KERBEROS - AE_ERR_BASE] = "Kerberos error",
	[AE_ERR_NOCREDS - AE_ERR_BASE] = "no credentials",
	[AE_ERR_LDAP - AE_ERR_BASE] = "LDAP error",
	[AE_ERR_NOTFOUND - AE_ERR_BASE] = "not found",
	[AE_ERR_DENIED - AE_ERR_BASE] = "access denied",
	[AE_ERR_UNSUPPORTED - AE_ERR_BASE] = "not supported",
	[AE_ERR_CRYPTO - AE_ERR_BASE] = "certificate or key error",
	[AE_ERR_INTERNAL - AE_ERR_BASE] = "internal error",
	[AE_ERR_NEEDPIN - AE_ERR_BASE] = "needs a PIN",
	[AE_ERR_TOKEN - AE_ERR_BASE] = "token error",
	[AE_ERR_NOTOKEN - AE_ERR_BASE] = "token not present",
};

const char *
ae_strerror(ae_err code)
{
	if (code == AE_OK)
		return "success";
	if (code > AE_ERR_BASE && code < AE_ERR_MAX_) {
		const char *t = ae_err_text[code - AE_ERR_BASE];
		if (t != NULL)
			return t;
	}
	return "unknown error";
}

bool
ae_log_enabled(const ae_ctx *ctx, ae_log_level level)
{
	return ctx != NULL && ctx->log_fn != NULL && level <= ctx->log_max;
}

void
ae_log(ae_ctx *ctx, ae_log_level level, const char *fmt, ...)
{
	char buf[AE_MSG_MAX];
	va_list ap;

	if (!ae_log_enabled(ctx, level))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ctx->log_fn(ctx->log_data, level, buf);
}

void
ae_precondition_failed(const char *expr, const char *func)
{
	/* No context here: this is a programming error.  Tests run with
	 * AE_STRICT so that it cannot pass unnoticed. */
	if (secure_getenv("AE_STRICT") != NULL)
		abort();
	(void)expr;
	(void)func;
}
