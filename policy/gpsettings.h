/*
 * gpsettings.h - the autoenrollment settings Group Policy carries, worked
 * out from the Registry.pol files of the GPOs that apply: a pure function,
 * no I/O.
 *
 * The GPOs come in the order Windows applies them, lowest precedence
 * first (local, site, domain, OUs from the top down, enforced links
 * last): each file's instructions are played in order on one registry
 * (MS-GPREG 3.2.5.1.2: values set, **del.NAME, **delvals., **DeleteValues,
 * **DeleteKeys, **soft.NAME), so the GPO that writes a value last wins, as
 * on Windows.  Then the values autoenrollment reads are taken from it:
 *
 *   Software\Policies\Microsoft\Cryptography\AutoEnrollment
 *       AEPolicy, OfflineExpirationPercent, OfflineExpirationStoreNames
 *   Software\Policies\Microsoft\Cryptography\PolicyServers
 *       (default) the default server's PolicyID, Flags; per subkey URL,
 *       PolicyID, FriendlyName, Flags, AuthFlags, Cost
 *   Software\Policies\Microsoft\SystemCertificates\{Root,CA,Trust,Disallowed}
 *       \Certificates\<SHA-1>\Blob: certificates
 *   Software\Policies\Microsoft\Windows\System
 *       UserPolicyMode: loopback processing of user policy (computer
 *       settings only; MS-GPOL 3.2.1.2 and its note <9>)
 *
 * Each setting remembers the GPO it came from.  A value of the wrong type
 * or a certificate blob that does not parse is left out, with a problem
 * naming the GPO; the rest applies.
 */
#ifndef AE_GPSETTINGS_H
#define AE_GPSETTINGS_H

#include "error.h"
#include "events.h"
#include "regpol.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One GPO's file, in application order (lowest precedence first). */
typedef struct {
	const char *gpo;       /* the GPO's display name (events, "where from") */
	const ae_regpol *pol;  /* its Machine or User Registry.pol; NULL: none */
} ae_gp_input;

typedef struct {
	bool set;
	uint32_t value;
	char *gpo; /* the GPO that set it */
} ae_gp_dword;

/* AEPolicy bits (ad-data.md 6.2; adsys and Samba use the same masks). */
#define AE_GP_AEPOLICY_ENROLL 0x1u     /* update certificates that use templates */
#define AE_GP_AEPOLICY_MANAGE 0x2u     /* renew expired, update pending, remove revoked */
#define AE_GP_AEPOLICY_PENDING 0x4u    /* pending requests retrieved */
#define AE_GP_AEPOLICY_DISABLED 0x8000u /* Configuration Model: Disabled */

/* PolicyServerUrlFlags and X509EnrollmentAuthFlags. */
#define AE_GP_PSF_AUTOENROLLMENT 0x10u
#define AE_GP_AUTH_ANONYMOUS 0x1u
#define AE_GP_AUTH_KERBEROS 0x2u

typedef struct {
	char *id;             /* the subkey's name */
	char *url;            /* "LDAP:" or a CEP URL */
	char *friendly_name;  /* NULL when absent */
	char *policy_id;      /* NULL when absent */
	uint32_t flags, auth_flags, cost; /* 0, 0, 0xffffffff when absent */
	char *gpo;            /* the GPO that set its URL */
} ae_gp_server;

enum {
	AE_GP_STORE_ROOT,
	AE_GP_STORE_CA,
	AE_GP_STORE_TRUST,
	AE_GP_STORE_DISALLOWED,
	AE_GP_STORE_N
};

typedef struct {
	char *thumbprint; /* the subkey's name, upper-case hex SHA-1 of DER */
	uint8_t *der;
	size_t len;
	char *gpo;
} ae_gp_cert;

typedef struct {
	ae_gp_dword aepolicy;
	ae_gp_dword user_policy_mode; /* AE_GPO_LOOPBACK_* of gpo.h */
	ae_gp_dword offline_expiration_percent;
	char *offline_store_names; /* NULL when not set */
	char *offline_store_names_gpo;
	char *default_policy_id;   /* PolicyServers' default value */
	char *default_policy_id_gpo;
	ae_gp_dword policy_servers_flags;
	ae_gp_server *servers; /* by Cost, then Kerberos, Anonymous, the rest */
	size_t n_servers;
	ae_gp_cert *certs[AE_GP_STORE_N];
	size_t n_certs[AE_GP_STORE_N];
	char **problems; /* values left out, each naming its GPO */
} ae_gp_settings;

/* The settings of the N files IN (in application order).  *OUT is NULL
 * until success (only out of memory fails). */
ae_err ae_gp_settings_compute(ae_ctx *ctx, const ae_gp_input *in, size_t n, ae_gp_settings **out);
void ae_gp_settings_free(ae_gp_settings *s);

/* The policy server LDAP: names, enabled for autoenrollment (flag 0x10),
 * the first by cost; NULL when Group Policy names none. */
const ae_gp_server *ae_gp_settings_ldap_server(const ae_gp_settings *s);

/* Group Policy's PolicyServers as policy_servers entries of the config
 * (core/conf.h; without a cost, so in list order): the servers enabled for autoenrollment
 * (PolicyServerUrlFlags 0x10), in Group Policy's order (by Cost, then
 * Kerberos, Anonymous, the rest), the LDAP: entry in its place; *GPO
 * names the GPO of the first.  *OUT NULL when Group Policy names none
 * (only out of memory fails). */
ae_err ae_gp_settings_policy_servers(ae_ctx *ctx, const ae_gp_settings *s, char ***out, const char **gpo);

/* What Group Policy's step has to say in the journal: one GPO read anew
 * (AE_EV_GP_APPLIED) or not usable (AE_EV_GP_READ_FAILED). */
typedef struct {
	ae_event_kind kind;
	char *gpo;     /* its display name */
	char *message;
} ae_gp_note;

void ae_gp_notes_free(ae_gp_note *notes, size_t n);

/* "Root", "CA", "Trust", "Disallowed". */
const char *ae_gp_store_name(int store);

#endif
