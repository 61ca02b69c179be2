/*
 * krb.h - the Kerberos credentials a context runs with.
 *
 * User context: the user's own credential cache (KRB5CCNAME or the
 * default), never touched.  Machine context: a TGT obtained from the
 * machine keytab into a private in-memory cache, so that a user's cache is
 * never read or written; GSS-API calls of this process then use it.
 */
#ifndef AE_KRB_H
#define AE_KRB_H

#include "conf.h"
#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef struct ae_krb ae_krb;

/* Checks that the user's cache holds a TGT that has not expired. */
ae_err ae_krb_user(ae_ctx *ctx, ae_krb **out);
/* pam_autoenroll's private copy of the user's FILE ticket cache, PATH
 * (the module made it at login because pam_krb5 destroys the cache when
 * a short session ends): its credentials are moved into a MEMORY cache of
 * this process, named in *MEMNAME (caller frees), and the file is deleted
 * whatever happens, so that no copy outlives the helper's start. */
ae_err ae_krb_adopt_copy(ae_ctx *ctx, const char *path, char **memname);
/* Gets a TGT for the machine from the keytab named by CONF. */
ae_err ae_krb_machine(ae_ctx *ctx, const ae_conf *conf, ae_krb **out);
void ae_krb_free(ae_krb *krb);
/* This host's computer account (sAMAccountName, "WS1$"), as the machine
 * context finds it: principal in [machine], else the keytab's NAME$
 * principal when the caller can read the keytab, else the short host
 * name in capitals, 15 characters at most (as adcli and realmd name the
 * account).  Caller frees; NULL when out of memory. */
char *ae_krb_host_account(const ae_conf *conf);
/* Copies the context's credentials (the machine's MEMORY cache, or the
 * user's default cache) into a new FILE cache at PATH (0600), for a
 * library with a Kerberos of its own (libsmbclient, Samba's Heimdal, sees
 * neither MIT MEMORY nor KEYRING caches).  The caller deletes the file. */
ae_err ae_krb_export_file(ae_ctx *ctx, ae_krb *krb, const char *path);

/* "alice@CORP.TEST" */
const char *ae_krb_principal(const ae_krb *krb);
/* "CORP.TEST" */
const char *ae_krb_realm(const ae_krb *krb);
/* The first component: "alice", "WS1$" */
const char *ae_krb_account(const ae_krb *krb);
/* The process default realm from krb5.conf, or NULL (caller frees). */
char *ae_krb_default_realm(ae_ctx *ctx);

/* The context's ticket-granting ticket: when it ends, until when it can
 * be renewed (0: not renewable), and the cache's type ("FILE", "KEYRING",
 * "KCM", "MEMORY"). */
void ae_krb_tgt_times(const ae_krb *krb, time_t *end, time_t *renew_till);
const char *ae_krb_cache_type(const ae_krb *krb);

/* One key of a keytab. */
typedef struct {
	char *principal;
	unsigned kvno;
	int enctype;
	char enctype_name[64];   /* "aes256-cts-hmac-sha1-96" */
} ae_keytab_key;

/* Every key of the keytab PATH, in its order.  *OUT (ae_keytab_keys_free)
 * stays NULL on error. */
ae_err ae_krb_keytab_keys(ae_ctx *ctx, const char *path, ae_keytab_key **out, size_t *count);
void ae_keytab_keys_free(ae_keytab_key *keys, size_t count);

/* The service tickets for SERVICE/HOST (any realm) in the credential cache
 * GSS-API initiates with in this thread (the machine's MEMORY cache that
 * ae_krb_machine selected, else the default cache: the one a GSSAPI bind
 * to HOST just used).
 * *FOUND counts them, *OK_AS_DELEGATE tells whether the KDC marked every
 * one ok-as-delegate (RFC 4120 2.8; read from the KDC reply's encrypted
 * part, which the service cannot forge), *SERVER (caller frees) names the
 * first one's server principal, NULL when there is none. */
ae_err ae_krb_service_ok_as_delegate(ae_ctx *ctx, const char *service, const char *host, size_t *found,
                                     bool *ok_as_delegate, char **server);

/* Turns a GSS-API / SASL failure text into advice on what to check. */
const char *ae_krb_advice(const char *text);

#endif
