/*
 * pinentry.h - asking the user for a token PIN through pinentry, the PIN
 * dialog program of GnuPG (curses, GTK, Qt, GNOME), over its Assuan
 * protocol on the program's stdin and stdout.
 *
 * Used by interactive enrollment only (autoenroll-user --interactive):
 * ae_pinentry_prompt is the ae_pin_prompt_fn (pkcs11/keystore.h) handed
 * to the engine, with the path of the program ([user] pinentry) as data.
 */
#ifndef AE_PINENTRY_H
#define AE_PINENTRY_H

#include "conf.h"
#include "error.h"

#include <stddef.h>

/* Runs the pinentry program DATA (const char *, an absolute path) and asks
 * for the PIN of token TOKEN_LABEL, showing ERROR (NULL on a first try)
 * as the reason of a retry.  AE_OK: PIN holds the NUL-terminated PIN
 * (empty when the user entered none).  Errors, with a message on CTX:
 * AE_ERR_NEEDPIN the user cancelled; AE_ERR_TIMEOUT nobody answered
 * (names the step); AE_ERR_CONFIG the program is not an absolute path or
 * cannot be run; AE_ERR_INVALID it does not speak Assuan as expected;
 * AE_ERR_IO it failed (no terminal, no display) or ended early.  PIN is
 * wiped on every error, and every buffer that held it before returning;
 * the program is always waited for. */
ae_err ae_pinentry_prompt(ae_ctx *ctx, void *data, const char *token_label, const char *error,
                          char *pin, size_t pin_size);

/* The password of USER for the CEP/CES (cep_password = pinentry: the
 * ae_cep_password_fn of transport/ces.h, set by the interactive commands
 * only): asked through CONF's pinentry program once per process, kept
 * until exit (then wiped).  Caller cleanses and frees *OUT. */
ae_err ae_pinentry_cep_password(ae_ctx *ctx, const ae_conf *conf, const char *user, char **out);

/* How long pinentry may take to answer a command (default 10 s) and
 * GETPIN, where a person types (default 300 s), in milliseconds; 0 keeps
 * the default.  For tests, which cannot wait minutes. */
void ae_pinentry_set_timeouts(int command_ms, int getpin_ms);

/* One line of an Assuan response, for ae_pinentry_parse_line. */
typedef enum {
	AE_ASSUAN_OK,    /* "OK [text]": the command is done */
	AE_ASSUAN_ERR,   /* "ERR <code> [text]" */
	AE_ASSUAN_DATA,  /* "D <escaped data>" */
	AE_ASSUAN_SKIP,  /* "S ..." status, "# ..." comment: nothing for us */
} ae_assuan_kind;

/* Classifies LINE (LEN bytes, without its newline; untrusted).  For ERR,
 * *CODE_OUT is the error code.  For D lines, when DATA is not NULL, the
 * unescaped bytes are appended at DATA + *DATA_LEN and kept NUL-terminated
 * (DATA_SIZE bytes in all).  AE_ERR_INVALID, with a message that never
 * quotes the line (it may hold the PIN), for: a line over 1000 bytes, a
 * NUL byte, an unknown or malformed line, INQUIRE, a bad %XX escape, %00,
 * a raw CR in data, data that does not fit.  On error DATA may hold part
 * of the data: the caller wipes it. */
ae_err ae_pinentry_parse_line(ae_ctx *ctx, const char *line, size_t len, ae_assuan_kind *kind_out,
                              unsigned long *code_out, char *data, size_t data_size,
                              size_t *data_len);

#endif
