/*
 * gpo.h - which Group Policy Objects apply to an account, as Windows works
 * it out (MS-GPOL 3.2.5.1.2-3.2.5.1.6): the scopes of management from the
 * account's OU up to the domain, then the site; their gPLink and
 * gPOptions; link order, enforced and disabled links, blocked
 * inheritance; then each GPO's functionality version, its computer or
 * user half disabled (flags), security filtering (the Apply Group Policy
 * extended right checked against the account's token) and empty GPOs.
 * WMI filters are not evaluated: a GPO with one applies, as Windows does
 * when the filter cannot be read (MS-GPOL 3.2.5.1.7), and says so.
 *
 * ae_gpo_compute() is a pure function of what was read; ae_gpo_read()
 * reads it over the policy's sealed LDAP session in three searches.
 */
#ifndef AE_GPO_H
#define AE_GPO_H

#include "error.h"
#include "ldapconn.h"
#include "secdesc.h"
#include "sid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* GPLinkOptions (MS-GPOL 2.2.2). */
#define AE_GPLINK_DISABLED 0x1u
#define AE_GPLINK_ENFORCED 0x2u
/* The GPO's flags attribute (MS-GPOL 2.2.4). */
#define AE_GPO_FLAG_USER_DISABLED 0x1u
#define AE_GPO_FLAG_MACHINE_DISABLED 0x2u

typedef struct {
	char *dn;
	uint32_t options;
} ae_gplink;

/* Parses a gPLink value, "[LDAP://<GPO DN>;<options>]..." (MS-GPOL
 * 2.2.2), into *OUT (*N links, in the order of the value).  A malformed
 * value is AE_ERR_INVALID naming the offset; *OUT stays NULL. */
ae_err ae_gplink_parse(ae_ctx *ctx, const char *value, ae_gplink **out, size_t *n);
void ae_gplinks_free(ae_gplink *links, size_t n);

typedef enum {
	AE_SOM_OU,
	AE_SOM_DOMAIN,
	AE_SOM_SITE,
} ae_som_kind;

/* A scope of management as read: the account's OUs nearest first, the
 * domain, then the site. */
typedef struct {
	char *dn;
	ae_som_kind kind;
	char *gplink;            /* NULL: none */
	bool block_inheritance;  /* gPOptions 1 */
	char *subnet;            /* the site's: the subnet that chose it; NULL: the DC's site */
} ae_som;

/* A GPO's groupPolicyContainer as read. */
typedef struct {
	char *dn;
	char *guid;          /* cn: "{31B2F340-...}" */
	char *name;          /* displayName (the GUID when it has none) */
	char *path;          /* gPCFileSysPath */
	uint32_t flags;
	uint32_t version;    /* versionNumber: user half << 16 | machine half */
	int functionality_version;
	char *wmi_filter;    /* gPCWQLFilter, NULL: none */
	ae_secdesc *sd;      /* NULL: not readable (then nothing is granted) */
} ae_gpo_object;

typedef enum {
	AE_GPO_APPLIED,
	AE_GPO_LINK_DISABLED,   /* the link is disabled */
	AE_GPO_BLOCKED,         /* inheritance blocked below its SOM */
	AE_GPO_NOT_READABLE,    /* the DC did not return it: no Read, or gone */
	AE_GPO_BAD_VERSION,     /* gPCFunctionalityVersion is not 2 */
	AE_GPO_HALF_DISABLED,   /* the computer or user half is disabled */
	AE_GPO_DENIED,          /* security filtering: no Apply Group Policy */
	AE_GPO_EMPTY,           /* versionNumber 0 */
} ae_gpo_status;

typedef struct {
	char *dn;                    /* the GPO's, from the link */
	const char *som;             /* the SOM's DN (points into the SOMs) */
	ae_som_kind som_kind;
	bool enforced;
	const ae_gpo_object *obj;    /* NULL when not returned (points into the objects); links
	                              * left out have it too, for their name */
	ae_gpo_status status;
	ae_access access;            /* the Apply Group Policy check */
	const char *blocked_at;      /* AE_GPO_BLOCKED: the SOM that blocks */
	bool wmi_unevaluated;        /* applied with a WMI filter not evaluated */
} ae_gpo_result;

typedef struct {
	/* the GPOs considered: first those that the link rules keep, in the
	 * order they apply (lowest precedence first: the last one wins), then
	 * the links left out (disabled, blocked) */
	ae_gpo_result *items;
	size_t n;
	size_t n_ordered;  /* items[0..n_ordered) are the kept links, in order */
} ae_gpo_list;

/* The GPOs that apply, from the N_SOMS scopes (nearest OU first, the
 * domain, the site last) and the N_OBJS GPO objects the DC returned, for
 * TOKEN in the computer (MACHINE) or user mode.  *OUT is NULL until
 * success; a malformed gPLink fails the whole computation, as MS-GPOL
 * terminates policy application. */
ae_err ae_gpo_compute(ae_ctx *ctx, const ae_som *soms, size_t n_soms, const ae_gpo_object *objs, size_t n_objs,
                      const ae_token *token, bool machine, ae_gpo_list **out);
void ae_gpo_list_free(ae_gpo_list *list);

/* Loopback processing of user policy: the computer's UserPolicyMode
 * (MS-GPOL 3.2.1.2 and its note <9>). */
#define AE_GPO_LOOPBACK_NONE 0u
#define AE_GPO_LOOPBACK_MERGE 1u
#define AE_GPO_LOOPBACK_REPLACE 2u

/* The user's GPO list under loopback MODE (MS-GPOL 3.2.5.1, Policy Source
 * Mode): USER is the list of the user's own SOMs, COMPUTER the list of the
 * computer's SOMs worked out for the user's token in user mode.  REPLACE
 * gives COMPUTER's, MERGE USER's then COMPUTER's (which so wins), NONE (or
 * any other value) USER's.  The kept links of both come first, then the
 * links left out.  Items are copied; their SOM and object pointers still
 * point into what the two lists were computed from. */
ae_err ae_gpo_loopback(ae_ctx *ctx, const ae_gpo_list *user, const ae_gpo_list *computer, unsigned mode,
                       ae_gpo_list **out);

/* The Version of a GPT.INI ("[General]" ... "Version=N", MS-GPOL 2.2.4),
 * LEN bytes at DATA; false when there is none or it is not a number. */
bool ae_gptini_version(const char *data, size_t len, uint32_t *out);

/* "applied", "link disabled", ... */
const char *ae_gpo_status_text(ae_gpo_status status);
const char *ae_som_kind_text(ae_som_kind kind);

/* The scopes of management of the account ACCOUNT_DN (MS-GPOL 3.2.5.1.3):
 * its parent OUs, nearest first, then the domain; *N of them.  NULL when
 * out of memory or the DN has no DC= part. */
ae_som *ae_som_list(const char *account_dn, size_t *n);
void ae_soms_free(ae_som *soms, size_t n);

/* What ae_gpo_compute() needs, read over LD for the account ACCOUNT_DN:
 * gPLink and gPOptions of its OUs and domain (one search), of the host's
 * site (one search: the subnets, the longest prefix holding the address
 * this host reaches the DC from, else the DC's site), then the linked GPOs (one search, the DACL of their
 * descriptor with them).  *SOMS, *OBJS stay NULL on error. */
ae_err ae_gpo_read(ae_ctx *ctx, ae_ldap *ld, const char *account_dn, ae_som **soms, size_t *n_soms,
                   ae_gpo_object **objs, size_t *n_objs);
void ae_gpo_objects_free(ae_gpo_object *objs, size_t n);

/* What the machine's Group Policy publishes for users' pulses (loopback,
 * MS-GPOL 3.2.5.1: Windows keeps UserPolicyMode in HKLM, which user policy
 * processing reads): the computer account's DN and its UserPolicyMode.
 * The file is root's, world-readable, "key = value" lines. */
typedef struct {
	char *computer_dn;
	unsigned mode;      /* AE_GPO_LOOPBACK_* (0: none) */
	char *mode_gpo;     /* the GPO that set UserPolicyMode; NULL: none */
} ae_gp_computer;

/* Parses LEN bytes at TEXT (untrusted shape: any bytes); false when a
 * line is malformed, a value has a control character or there is no
 * computer_dn.  OUT is cleared first and left cleared on failure. */
bool ae_gp_computer_parse(const char *text, size_t len, ae_gp_computer *out);
/* The file's text; NULL when out of memory. */
char *ae_gp_computer_format(const ae_gp_computer *c);
void ae_gp_computer_clear(ae_gp_computer *c);

/* An AD subnet object's name (cn, "10.1.0.0/16" or "2001:db8::/32",
 * MS-ADTS 6.1.1.2.2.1.2.1.1): its family (AF_INET, AF_INET6), address and
 * prefix length; false when it is not one. */
typedef struct {
	int family;
	uint8_t addr[16];
	unsigned prefix;
} ae_subnet;
bool ae_subnet_parse(const char *cn, ae_subnet *out);
/* Whether ADDR (FAMILY's, 4 or 16 bytes) is inside SUBNET. */
bool ae_subnet_contains(const ae_subnet *subnet, int family, const uint8_t *addr);

#endif
