/*
 * conf.h - autoenroll.conf: the one configuration parser shared by every
 * program (and later by the PAM module's options).
 *
 * Format: INI.  "[section]" lines, "key = value" lines, "#" or ";"
 * comments.  Sections: [global], [user], [machine], and one [scep NAME]
 * for each SCEP profile (ae_scep_profile).  Unknown keys are
 * logged and ignored ("x-" keys silently: reserved for extensions); bad
 * values are errors that name the file, the line and the key.
 */
#ifndef AE_CONF_H
#define AE_CONF_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* AEPolicy bits (Group Policy "Certificate Services Client - Auto-Enrollment"). */
#define AE_AEPOLICY_ENROLL           0x0001u /* update certificates that use templates */
#define AE_AEPOLICY_MANAGE           0x0002u /* renew expired, remove revoked, manual renewals */
#define AE_AEPOLICY_RETRIEVE_PENDING 0x0004u /* update pending requests */
#define AE_AEPOLICY_DISABLED         0x8000u

/* Root's, world-readable: the computer's DN and UserPolicyMode (gpread.h);
 * with a machine state_dir, next to it instead. */
#define AE_COMPUTER_GP_FILE AE_STATEDIR "-public/computer-gp"
#define AE_CONF_DEFAULT_PATH SYSCONFDIR "/autoenroll/autoenroll.conf"

/* An SCEP profile, "[scep NAME]": a certificate the pulse of its context
 * enrolls and renews over SCEP like a template's (autoenroll.conf(5)). */
typedef struct {
	char *name;               /* NAME: records and events name it */
	unsigned line;            /* where its section starts */
	bool user;                /* context = user (the user's pulse); else the machine's */
	char *url;                /* the SCEP URL (NDES: .../certsrv/mscep/mscep.dll) */
	char *subject;            /* the subject DN */
	char **dns, **upn, **email; /* subjectAltName entries; NULL: none */
	char *key_type;           /* "rsa" (default), "ecdsa-p256", "ecdsa-p384" */
	int key_size;             /* RSA bits (2048) */
	char *store;              /* where its key goes; NULL: the context's store */
	char *challenge_file;     /* the static challenge on the file's first line, or */
	bool challenge_admin;     /* "challenge = admin": from NDES's mscep_admin with Kerberos, before each request */
	int renew_percent;        /* renewed when this % of the lifetime has passed (80) */
	char *anchor;             /* PEM roots besides AD's; NULL: scep_anchor of [global] */
	int allow_http;           /* -1: scep_allow_http of [global]; else 0 or 1 */
	bool renewal_challenge;   /* the challenge goes with renewals too (micromdm's scepserver wants it) */
	unsigned set_mask;        /* keys set in the section (duplicates) */
} ae_scep_profile;

typedef struct {
	char *path;               /* where it was read from, or NULL for defaults */
	/* [global] */
	char *domain;             /* DNS domain of the AD domain; NULL: from krb5 default realm */
	char **servers;           /* DCs to use, in order; NULL: DNS SRV discovery */
	int ldap_timeout;         /* seconds per LDAP connect/operation */
	int dns_timeout;          /* seconds per DNS query */
	int rpc_timeout;          /* seconds per RPC connect/send/receive (CA) */
	int crl_timeout;          /* seconds per CRL download (revocation check) */
	int policy_refresh;       /* seconds the enrollment policy is reused (600) */
	int hook_timeout;         /* seconds a renewal hook may run (60) */
	int expiry_warning_percent; /* warn when this % of a certificate's lifetime is left and nothing renewed it (10; 0: never) */
	bool group_policy;        /* Group Policy read and applied over this file (yes) */
	char *computer_gp_file;   /* what the machine's Group Policy publishes for users' loopback; NULL: <machine state_dir>-public/computer-gp */
	bool scep_allow_http;     /* SCEP over plain http:// allowed, every message saying it is unprotected (no) */
	char *scep_anchor;        /* PEM file of roots SCEP servers' RA and CA certificates may chain to, besides AD's; NULL: none */
	/* CEP/CES user name and password authentication (WS-Security
	 * UsernameToken over TLS) instead of Kerberos; the password only in
	 * a file; NULL: Kerberos */
	char *cep_username;
	char *cep_password_file;
	char *cep_password;       /* "pinentry": asked in interactive runs (src/pinentry.c), never in pulses */
	/* ... or a TLS client certificate and its key (PEM files) */
	char *cep_client_cert;
	char *cep_client_key;
	/* Kerberos to CEP/CES with the TLS channel binding (Extended
	 * Protection), yes by default */
	bool cep_channel_binding;
	/* autoenrollment options, the AEPolicy bits of Group Policy */
	uint32_t user_aepolicy;
	uint32_t machine_aepolicy;
	/* trust from AD (machine): where it goes */
	char *trust_dir;          /* default <machine state_dir>/trust */
	char *system_trust;       /* "none" (default), "p11-kit", "update-ca-certificates" */
	/* [machine] */
	char *machine_keytab;     /* default /etc/krb5.keytab */
	char *machine_principal;  /* default: the keytab's NAME$ principal */
	/* [user] and [machine]: where keys go ("pkcs11:URI" or "file:/dir")
	 * and where the records are; NULL: the context's default directory */
	char *user_store;
	char *user_state_dir;
	int notify_delay;         /* seconds from logon to the notification (60) */
	int notify_expire;        /* seconds the notification stays offered (7 h) */
	char *pinentry;           /* program that asks for token PINs (/usr/bin/pinentry) */
	char *machine_store;
	char *machine_state_dir;
	/* [user] and [machine]: certificates for services (publish.h); NULL:
	 * the defaults, "none": off */
	char *user_cert_dir;      /* <state_dir>/live */
	char *user_hooks_dir;     /* $XDG_CONFIG_HOME/autoenroll/hooks.d */
	char *machine_cert_dir;   /* <state_dir>/live */
	char *machine_hooks_dir;  /* /etc/autoenroll/hooks.d */
	/* [user] and [machine]: policy servers ("LDAP:" or CEP URLs, each
	 * "URL" or "URL@COST"; policy/xcep.h); NULL: LDAP: alone */
	char **user_policy_servers;
	char **machine_policy_servers;
	uint64_t set_in_file;     /* the options the file sets, by table index (ae_conf_is_set) */
	ae_scep_profile *scep;    /* [scep NAME] sections, in file order */
	size_t n_scep;
} ae_conf;

/* The profile NAME (case-insensitive), or NULL. */
const ae_scep_profile *ae_conf_scep_profile(const ae_conf *conf, const char *name);

/* The configuration file to use when none is given: $AUTOENROLL_CONF
 * (read with secure_getenv, so setuid callers ignore it), else
 * AE_CONF_DEFAULT_PATH. */
const char *ae_conf_default_path(void);

/* Reads PATH.  A missing file is an error when MUST_EXIST, else defaults.
 * Run as root, the file must pass ae_conf_check_root_path().  *OUT stays
 * NULL on error. */
ae_err ae_conf_load(ae_ctx *ctx, const char *path, bool must_exist, ae_conf **out);
/* Parses TEXT (LEN bytes, need not be NUL-terminated); NAME is used in
 * messages. */
ae_err ae_conf_parse(ae_ctx *ctx, const char *text, size_t len, const char *name, ae_conf **out);
/* Defaults only. */
ae_err ae_conf_defaults(ae_ctx *ctx, ae_conf **out);
void ae_conf_free(ae_conf *conf);

/* What a check of the configuration found (autoenroll config check): every
 * problem, not just the first, and where each key was set. */
typedef struct {
	unsigned line;  /* 0: about the file as a whole */
	char *section;  /* lowercase; NULL when not about a section */
	char *key;      /* NULL when not about one key */
	char *message;  /* "FILE:LINE: ...", as loading would fail with it */
} ae_conf_problem;

typedef struct ae_conf_report ae_conf_report;

ae_conf_report *ae_conf_report_new(void);
void ae_conf_report_free(ae_conf_report *rep);
size_t ae_conf_report_count(const ae_conf_report *rep);
const ae_conf_problem *ae_conf_report_get(const ae_conf_report *rep, size_t i);
/* Orders the problems by line (the file's own problems first). */
void ae_conf_report_sort(ae_conf_report *rep);
/* The line where KEY of SECTION was (last) set to a valid value; 0 when it
 * was not. */
unsigned ae_conf_report_line(const ae_conf_report *rep, const char *section, const char *key);
/* Adds a problem found outside the parser (a store that cannot work...);
 * the message is "FILE:LINE: KEY in [SECTION] PROBLEM" (FILE NULL: PROBLEM
 * alone, for a message that names the file itself). */
bool ae_conf_report_add(ae_conf_report *rep, const char *file, unsigned line, const char *section,
                        const char *key, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Like ae_conf_parse, but a bad line, an unknown section or key and a key
 * set twice are problems added to REP, and parsing goes on (bad values
 * leave the default); *OUT gets what could be parsed.  Errors only for
 * what stops the whole file (too large, NUL bytes, out of memory). */
ae_err ae_conf_parse_checked(ae_ctx *ctx, const char *text, size_t len, const char *name, ae_conf_report *rep,
                             ae_conf **out);
/* sshd's StrictModes, for a file root reads (WHAT: "configuration",
 * "keytab"): when the effective user is root, PATH (links resolved) and
 * every directory above it must belong to root and not be writable by
 * group or others (a directory with the sticky bit, as /tmp, may be: no
 * one else can replace root's entries there), or another user could
 * change what root does.  AE_ERR_DENIED with a message naming the file
 * and the fix (chown, chmod); AE_OK for other users, and when PATH does
 * not exist (its reader says so). */
ae_err ae_conf_check_root_path(ae_ctx *ctx, const char *path, const char *what);

/* ae_conf_load (the file must exist) with ae_conf_parse_checked. */
ae_err ae_conf_load_checked(ae_ctx *ctx, const char *path, ae_conf_report *rep, ae_conf **out);

/* Whether the file sets KEY in SECTION (else it has its default):
 * "where each option came from" (autoenroll policy). */
bool ae_conf_is_set(const ae_conf *conf, const char *section, const char *key);

/* "ldap_timeout in [global] of PATH": used in timeout messages so that the
 * reader knows which knob to turn. */
const char *ae_conf_setting(const ae_conf *conf, const char *section, const char *key,
                            char *buf, size_t size);

#endif
