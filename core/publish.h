/*
 * publish.h - certificates for services: a stable place per template, as
 * certbot and certmonger give them, and the renewal hooks run when one
 * changes.
 *
 * <cert_dir>/<Template>/ (<cert_dir>/<profile>/ for the certificates of
 * an SCEP profile, [scep NAME]; <cert_dir>/SCEP/ for those enrolled over
 * SCEP by hand) holds cert.pem (the certificate), chain.pem (the
 * CA certificates above it), fullchain.pem (both, leaf first) and the key
 * in the form a consumer can take: key.pem (a PKCS#8 PEM copy of the file
 * store's key, 0600) for the file backend, key.uri (the RFC 7512 PKCS#11
 * URI of the private key, one line) for a token.  Every file is replaced
 * by a temporary file and a rename, so that a reader sees the old or the
 * new file, never a torn one; the key is written before the certificate.
 * Directories are 0755; everything is owned by whoever runs the pulse (root
 * for the machine, the user for the user helper).
 *
 * Template names come from AD and are not trusted: a name that is empty,
 * starts with ".", holds "/", "\\", ".." or a control character, or is
 * longer than 64 bytes (cn of a template) is refused.
 *
 * Hooks: the executables of the hooks directory, in run-parts order (names
 * of letters, digits, "_" and "-" only, sorted bytewise), each run after a
 * template's certificate changed with AE_HOOK_* in its environment, as
 * the process running the pulse, bounded by hook_timeout.  A file runs
 * only when it is a regular file (symlinks followed), executable by its
 * owner, owned by root or by the user running the pulse, and not writable
 * by group or others; the directory must pass the same owner and mode
 * check.  Anything else is skipped with a warning that says why.
 */
#ifndef AE_PUBLISH_H
#define AE_PUBLISH_H

#include "conf.h"
#include "error.h"
#include "events.h"
#include "store.h"

#include <openssl/x509.h>
#include <stdbool.h>

/* The longest template name published (cn of a template in AD). */
#define AE_PUBLISH_NAME_MAX 64

/* One template's published certificate. */
typedef struct {
	char *template_name;
	char *scep_profile; /* an SCEP profile's certificate: the profile; else NULL */
	char *dir;          /* <cert_dir>/<template> (or <profile>) */
	char *cert;         /* .../cert.pem */
	char *chain;        /* .../chain.pem */
	char *fullchain;    /* .../fullchain.pem */
	char *key;          /* .../key.pem, file backend; else NULL */
	char *key_uri_file; /* .../key.uri, token; else NULL */
	char *key_uri;      /* the URI itself, token; else NULL */
	char *old_serial;   /* hex serial of the certificate replaced; NULL: none was there */
	char *new_serial;   /* hex serial of the certificate published */
	bool changed;       /* files were written (else they already held it) */
} ae_published;

void ae_published_clear(ae_published *pub);

/* The serial number of CERT in hexadecimal, as the hooks get it
 * (BN_bn2hex: upper case, whole bytes, as openssl x509 -serial prints
 * it); NULL when out of memory.  Caller frees. */
char *ae_publish_serial_hex(X509 *cert);

/* Whether NAME may be a directory name under cert_dir (see above). */
bool ae_publish_name_ok(const char *name);

/* The name of R's place under cert_dir: its SCEP profile when it has one
 * (two profiles must not share a place), else its template; NULL when it
 * has neither. */
const char *ae_publish_name(const ae_record *r);

/* Publishes CERT with CHAIN (may be NULL) for template TNAME under
 * CERT_DIR (created 0755 with its parents when missing).  The key is
 * KEY_FILE (a PEM private key file, copied to key.pem 0600 after checking
 * that it matches CERT) or KEY_URI (written to key.uri): exactly one of
 * them.  Nothing is written when the place already holds CERT and that
 * form of key (OUT->changed false).  On success *OUT is filled (clear it
 * with ae_published_clear); on error the message is on CTX. */
ae_err ae_publish_cert(ae_ctx *ctx, const char *cert_dir, const char *tname, X509 *cert, STACK_OF(X509) *chain,
                       const char *key_file, const char *key_uri, ae_published *out);

/* The directories of a context from CONF: cert_dir (default
 * <state_dir>/live) and hooks_dir (machine: /etc/autoenroll/hooks.d;
 * user: $XDG_CONFIG_HOME/autoenroll/hooks.d).  "none" gives NULL: nothing
 * published, no hooks.  Caller frees both. */
ae_err ae_publish_dirs(ae_ctx *ctx, const ae_conf *conf, bool machine, const char *state_dir,
                       char **cert_dir_out, char **hooks_dir_out);

/* The hooks of HOOKS_DIR that pass the checks above, as full paths in run
 * order (NULL-terminated; ae_strv_free).  A missing directory has none;
 * skipped files and a directory that fails the checks are logged on CTX
 * as warnings. */
ae_err ae_hooks_list(ae_ctx *ctx, const char *hooks_dir, char ***paths_out);

/* Told of each hook run: its path, its exit status (-1: it did not exit:
 * killed, timed out, could not start) and the outcome in words. */
typedef void (*ae_hook_report_fn)(void *data, const ae_published *pub, const char *hook, int status,
                                  const char *what);

/* Runs every hook of HOOKS_DIR for PUB, one after the other, each within
 * TIMEOUT seconds (killed with its process group after that; the message
 * names TIMEOUT_SETTING, "hook_timeout in [global] of PATH"), with stdin
 * from /dev/null, stdout to stderr and this environment: PATH,
 * AE_HOOK_CONTEXT (machine or user), AE_HOOK_TEMPLATE, AE_HOOK_SCEP_PROFILE
 * (only for an SCEP profile's certificate), AE_HOOK_DIR,
 * AE_HOOK_CERT, AE_HOOK_CHAIN, AE_HOOK_FULLCHAIN, AE_HOOK_KEY (key.pem) or
 * AE_HOOK_KEY_URI (the URI) with AE_HOOK_KEY_URI_FILE (key.uri),
 * AE_HOOK_OLD_SERIAL (empty for a first certificate), AE_HOOK_NEW_SERIAL.
 * Returns the number of hooks run; a failing hook is reported, not an
 * error. */
unsigned ae_hooks_run(ae_ctx *ctx, const char *hooks_dir, int timeout, const char *timeout_setting, bool machine,
                      const ae_published *pub, ae_hook_report_fn report, void *data);

/* Told of what publishing a pulse's certificates did: KIND is
 * AE_EV_PUBLISHED, AE_EV_PUBLISH_FAILED, AE_EV_HOOK_RAN or AE_EV_HOOK_FAILED;
 * PROFILE is the record's SCEP profile (NULL: none). */
typedef void (*ae_publish_report_fn)(void *data, ae_event_kind kind, const char *tname, const char *profile,
                                     const char *record_id, const char *message);

/* After a pulse: for each template (or SCEP profile) with a current certificate (MY) whose
 * key is in the store STORE_SAFE (the context's store, without PIN),
 * publishes the newest one (latest notAfter) under the context's
 * cert_dir, and when that changed the place runs the hooks.  Everything is
 * reported through REPORT; returns an error only when out of memory. */
ae_err ae_publish_pulse(ae_ctx *ctx, const ae_conf *conf, bool machine, ae_store *st, const char *store_safe,
                        ae_publish_report_fn report, void *data);

#endif
