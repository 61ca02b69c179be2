/*
 * events.h - what autoenrollment tells the admin: one event per outcome,
 * written to the systemd journal with structured fields (native protocol,
 * no libsystemd needed) and to syslog when no journal listens.
 *
 * Each kind has its own MESSAGE_ID (a fixed 128-bit id, so `journalctl
 * MESSAGE_ID=...` finds every event of that kind) and names the Windows
 * event an admin would look for in the Application log, where one exists.
 */
#ifndef AE_EVENTS_H
#define AE_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
	AE_EV_PULSE_STARTED = 0,  /* AutoEnrollment 2 */
	AE_EV_PULSE_COMPLETED,    /* AutoEnrollment 3 */
	AE_EV_PULSE_FAILED,       /* AutoEnrollment 6: the pulse as a whole failed (no DC, no KDC...) */
	AE_EV_DISABLED,           /* autoenrollment disabled by aepolicy: nothing done */
	AE_EV_NOTHING_TO_DO,      /* the cheap check found nothing to do */
	AE_EV_ENROLLED,           /* new certificate installed (Lifecycle-System 1006) */
	AE_EV_RENEWED,            /* certificate replaced by its renewal (Lifecycle-System 1001) */
	AE_EV_PENDING,            /* request pending at the CA (kept in the REQUEST store) */
	AE_EV_RETRIEVED,          /* a pending request was issued and installed */
	AE_EV_DENIED,             /* the CA denied a request (AutoEnrollment 13) */
	AE_EV_FAILED,             /* one template failed (AutoEnrollment 13) */
	AE_EV_SKIPPED,            /* a template set up for us was skipped, with the reason */
	AE_EV_PENDING_EXPIRED,    /* pending 60 days or more: deleted with its key */
	AE_EV_ARCHIVED,           /* old certificate archived (CertEnroll 10) */
	AE_EV_DELETED,            /* old certificate deleted with its key (CertEnroll 10) */
	AE_EV_TRUST_UPDATED,      /* roots, intermediates, NTAuth from AD written */
	AE_EV_TRUST_FAILED,       /* AutoEnrollment 1: downloading certificates from AD failed */
	AE_EV_DS_CERT_REMOVED,    /* a revoked certificate removed from userCertificate in AD */
	AE_EV_NEEDS_USER,         /* waits for the user: interaction, a PIN, a token */
	AE_EV_PUBLISHED,          /* a certificate for services written to its stable place (cert_dir) */
	AE_EV_PUBLISH_FAILED,     /* ... could not be written there */
	AE_EV_HOOK_RAN,           /* a renewal hook exited with status 0 */
	AE_EV_HOOK_FAILED,        /* a renewal hook failed, was killed or timed out (the pulse goes on) */
	AE_EV_EXPIRING,           /* close to expiry and not renewed (Lifecycle 1003; OfflineExpirationPercent) */
	AE_EV_POLICY_LOAD_FAILED, /* CertEnroll 67: the policy could not be loaded from the policy server */
	AE_EV_POLICY_AUTH_FAILED, /* CertEnroll 68: authentication to the policy server failed */
	AE_EV_POLICY_NONE,        /* CertEnroll 70: no valid policy from any policy server */
	AE_EV_SCEP_FAILED,        /* CertEnroll 86: an SCEP enrollment failed (URL, method, stage) */
	AE_EV_GP_APPLIED,         /* a GPO's settings read anew (new or changed version) and applied */
	AE_EV_GP_READ_FAILED,     /* a GPO's file unusable (damaged), or SYSVOL unreachable: the cached copy */
	AE_EV_MAX_
} ae_event_kind;

/* One event.  Any string may be NULL (the field is then left out). */
typedef struct {
	ae_event_kind kind;
	bool machine;              /* context: machine ("local system") or user */
	const char *user;          /* the user's name for user context ("alice@CORP.TEST") */
	const char *template_name;
	const char *ca;
	const char *record_id;     /* local store id (also the key's id) */
	uint32_t request_id;       /* 0: none */
	uint32_t hresult;          /* 0: none */
	const char *message;       /* the sentence the admin reads */
	const char *policy_server; /* the policy server's ID ("{GUID}" or "LDAP:"): events 67, 68, 70 */
	const char *url;           /* event 86: the SCEP server's URL */
	const char *method;        /* ... the HTTP method ("GET", "POST") */
	const char *stage;         /* ... "GetCACaps", "GetCACert", "PKIOperation" */
	const char *gpo;           /* Group Policy events: the GPO's display name */
	const char *scep_profile;  /* events of an SCEP profile's certificate: [scep NAME] */
} ae_event;

/* "enrolled", "renewed", ... (also the AUTOENROLL_EVENT field). */
const char *ae_event_name(ae_event_kind kind);
/* The MESSAGE_ID: 32 lowercase hex digits, fixed per kind. */
const char *ae_event_message_id(ae_event_kind kind);
/* The corresponding Windows event ID, 0 when there is none, and its
 * source ("Microsoft-Windows-CertificateServicesClient-AutoEnrollment"...). */
unsigned ae_event_windows_id(ae_event_kind kind);
const char *ae_event_windows_source(ae_event_kind kind);
/* syslog priority of a kind (LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO). */
int ae_event_priority(ae_event_kind kind);

/* Sends EV to the journal (socket /run/systemd/journal/socket, or the
 * path in $AE_JOURNAL_SOCKET read with secure_getenv, for tests); when no
 * journal takes it, to syslog (LOG_DAEMON for the machine, LOG_USER for
 * users) with the fields in the text.  IDENT is SYSLOG_IDENTIFIER.  Never
 * fails visibly: events are best effort and must not stop a pulse. */
void ae_event_emit(const char *ident, const ae_event *ev);

/* Formats the native-protocol datagram for EV (for tests and the fuzz
 * target); caller frees; NULL when out of memory. */
char *ae_event_format_native(const char *ident, const ae_event *ev, unsigned pid, size_t *len_out);

#endif
