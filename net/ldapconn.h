/*
 * ldapconn.h - LDAP to a domain controller over SASL/GSSAPI with integrity and
 * confidentiality (Kerberos sealing), as Windows reads the enrollment
 * policy.  Unprotected binds are refused.
 */
#ifndef AE_LDAPCONN_H
#define AE_LDAPCONN_H

#include "attrs.h"
#include "conf.h"
#include "error.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef struct ae_ldap ae_ldap;

typedef struct {
	ae_entry *entries;
	size_t count;
	void *storage_;   /* owned copies behind entries */
} ae_ldap_result;

enum {
	AE_LDAP_SD_DACL = 1 << 0, /* ask for nTSecurityDescriptor's DACL only (SD flags 0x4) */
	AE_LDAP_EXTENDED_DN = 1 << 1, /* DN values as "<GUID=...>;<SID=...>;DN" (not critical) */
};

/* Connects to HOST (a DNS name: it names the ldap/HOST service principal),
 * binds with the current Kerberos credentials (GSS-SPNEGO as Windows does,
 * else GSSAPI), requires the peer to prove it is a domain controller (its
 * service ticket is ok-as-delegate; AE_ERR_DENIED otherwise, before
 * anything is read) and reads the rootDSE.  Every step is bounded by
 * conf->ldap_timeout. */
ae_err ae_ldap_connect(ae_ctx *ctx, const ae_conf *conf, const char *host, ae_ldap **out);
/* The same; *UNPROVEN (may be NULL) is true when HOST bound but did not
 * prove it is a domain controller (its ldap/HOST ticket is not
 * ok-as-delegate: ldapconn.c says why that holds), which another DC may. */
ae_err ae_ldap_connect_dc(ae_ctx *ctx, const ae_conf *conf, const char *host, ae_ldap **out, bool *unproven);
void ae_ldap_free(ae_ldap *ld);
/* The DC's clock: the rootDSE's currentTime, read without a bind (so that
 * it works when Kerberos does not, e.g. with a skewed clock), bounded by
 * ldap_timeout. */
ae_err ae_ldap_current_time(ae_ctx *ctx, const ae_conf *conf, const char *host, time_t *out);

/* From the rootDSE, read at connect time. */
const char *ae_ldap_host(const ae_ldap *ld);
const char *ae_ldap_config_nc(const ae_ldap *ld);
const char *ae_ldap_default_nc(const ae_ldap *ld);
const char *ae_ldap_root_domain_nc(const ae_ldap *ld);
const char *ae_ldap_dns_host_name(const ae_ldap *ld);
/* The forest root domain's objectGUID as "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"
 * when the DC gave it with rootDomainNamingContext, else NULL. */
const char *ae_ldap_root_domain_guid(const ae_ldap *ld);
/* The rootDSE entry as read (untrusted), with tokenGroups: the SIDs of
 * this session's token.  NULL before the read. */
const ae_entry *ae_ldap_root_dse(const ae_ldap *ld);
/* The SASL mechanism of the bind: "GSS-SPNEGO" or "GSSAPI". */
const char *ae_ldap_mechanism(const ae_ldap *ld);
/* Security strength factor of the session (>= 56: sealed). */
int ae_ldap_ssf(const ae_ldap *ld);
/* The local address of the connection (the host's address as the DC sees
 * it, for its site): *FAMILY AF_INET (4 bytes to ADDR) or AF_INET6 (16;
 * an IPv4-mapped one as AF_INET); false when there is none. */
bool ae_ldap_local_address(const ae_ldap *ld, int *family, uint8_t addr[16]);
/* LDAP request/response exchanges made so far: each bind step, each page
 * of each search, each modification. */
unsigned ae_ldap_round_trips(const ae_ldap *ld);

/* scope: "base", "one" or "sub".  Paged.  *OUT stays empty on error. */
ae_err ae_ldap_search(ae_ctx *ctx, ae_ldap *ld, const char *base, const char *scope,
                      const char *filter, const char *const *attrs, int flags,
                      ae_ldap_result *out);
void ae_ldap_result_free(ae_ldap_result *res);

/* The values of ATTR of the object DN (a base search), copied into
 * *VALUES (ae_values_free) and *COUNT (0 when the object has none).
 * AE_ERR_NOTFOUND when there is no such object. */
ae_err ae_ldap_read_attribute(ae_ctx *ctx, ae_ldap *ld, const char *dn, const char *attr, ae_value **values,
                              size_t *count);

/* Removes one VALUE of ATTR from DN (a value already gone is fine). */
ae_err ae_ldap_delete_value(ae_ctx *ctx, ae_ldap *ld, const char *dn, const char *attr, const uint8_t *value,
                            size_t len);


/* Escapes VALUE for use in a filter (RFC 4515); caller frees. */
char *ae_ldap_escape(const char *value);

#endif
