/*
 * diag-net.h - the checks of `autoenroll diagnose` that need only the
 * network and the credentials: DNS, the clock against the DC's, the
 * machine's keytab and ticket or the user's ticket, the sealed LDAP bind
 * and the computer account's keys in AD.  Each adds checks to a report
 * (core/diag.h) and never stops at a failure; what later checks need
 * (the DCs, the credentials, the LDAP session) is kept in ae_diag_net.
 */
#ifndef AE_DIAG_NET_H
#define AE_DIAG_NET_H

#include "conf.h"
#include "diag.h"
#include "krb.h"
#include "ldapconn.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* The Kerberos clock skew limit (MIT krb5's and AD's default, 5 min),
 * and where the time check starts to warn. */
#define AE_DIAG_SKEW_LIMIT 300
#define AE_DIAG_SKEW_WARN 60

typedef struct {
	char *domain;      /* the AD domain (DNS) */
	char **dcs;        /* configured or from SRV, resolvable ones first */
	ae_krb *krb;       /* the context's credentials, when they could be had */
	ae_ldap *ld;       /* a sealed session with a DC, when it could be had */
	ae_keytab_key *keys;  /* machine: the keytab's keys */
	size_t key_count;
} ae_diag_net;

void ae_diag_net_clear(ae_diag_net *n);

/* The addresses of HOST, "a, b" into BUF; false when it does not resolve
 * (*GAI the getaddrinfo code). */
bool ae_diag_resolve(const char *host, char *buf, size_t size, int *gai);
/* The name of the numeric address ADDR (PTR), false when there is none. */
bool ae_diag_reverse(const char *addr, char *buf, size_t size);
/* T as "2026-12-04T22:15:00Z" into BUF. */
const char *ae_diag_time_string(time_t t, char *buf, size_t size);

/* dns.srv, dns.dc */
void ae_diag_dns(ae_ctx *ctx, const ae_conf *conf, ae_diag_report *r, ae_diag_net *n);
/* time.offset */
void ae_diag_time(ae_ctx *ctx, const ae_conf *conf, ae_diag_report *r, ae_diag_net *n);
/* machine.keytab, machine.tgt (MACHINE), or user.tgt */
void ae_diag_credentials(ae_ctx *ctx, const ae_conf *conf, bool machine, ae_diag_report *r, ae_diag_net *n);
/* ldap.bind; for the machine machine.keys and machine.password-age */
void ae_diag_ldap(ae_ctx *ctx, const ae_conf *conf, bool machine, ae_diag_report *r, ae_diag_net *n);

#endif
