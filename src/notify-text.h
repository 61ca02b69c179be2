/*
 * notify-text.h - the body of autoenroll-notify's notification, built from
 * untrusted text (template names and the engine's sentences, which quote
 * AD and CA data).
 */
#ifndef AE_NOTIFY_TEXT_H
#define AE_NOTIFY_TEXT_H

#include <stdbool.h>

/* One line per ITEM ("TEMPLATE=REASON"; at most 8, then "and N more"):
 * the template and a few words on what it needs (consent, the PIN of a
 * token, a smartcard), then what to do (select Enroll when the server has
 * ACTIONS).  Control and invisible format characters are dropped, bad
 * UTF-8 is replaced, lengths are capped, and &, <, > are escaped when the
 * server parses MARKUP (the only markup is our own <b>).  A heap string,
 * or NULL when out of memory. */
char *ae_notify_body(char *const *items, int n_items, bool markup, bool actions);

/* The body of the expiry warning: one line per ITEM ("TEMPLATE=REASON",
 * REASON the engine's sentence, cleaned and capped as above), then what
 * to do.  A heap string, or NULL when out of memory. */
char *ae_notify_expiry_body(char *const *items, int n_items, bool markup);

#endif
