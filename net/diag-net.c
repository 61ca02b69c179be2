/*
 * diag-net.c - DNS, time, credentials and LDAP checks of `autoenroll
 * diagnose` (see diag-net.h).
 */
#include "config.h"

#include "diag-net.h"
#include "dns.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* msDS-SupportedEncryptionTypes bits (MS-KILE 2.2.7). */
#define ET_RC4 0x4u
#define ET_AES128 0x8u
#define ET_AES256 0x10u
/* Kerberos enctype numbers (RFC 3961, 8429). */
#define ENCTYPE_AES128 17
#define ENCTYPE_AES256 18
#define ENCTYPE_RC4 23

void
ae_diag_net_clear(ae_diag_net *n)
{
	free(n->domain);
	ae_strv_free(n->dcs);
	ae_ldap_free(n->ld);
	ae_krb_free(n->krb);
	ae_keytab_keys_free(n->keys, n->key_count);
	memset(n, 0, sizeof(*n));
}

const char *
ae_diag_time_string(time_t t, char *buf, size_t size)
{
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL)
		return "?";
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

bool
ae_diag_resolve(const char *host, char *buf, size_t size, int *gai)
{
	struct addrinfo hints, *res = NULL;
	size_t used = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	buf[0] = '\0';
	*gai = getaddrinfo(host, NULL, &hints, &res);
	if (*gai != 0)
		return false;
	for (struct addrinfo *a = res; a != NULL && used + 2 < size; a = a->ai_next) {
		char addr[INET6_ADDRSTRLEN] = "";
		getnameinfo(a->ai_addr, a->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST);
		if (strstr(buf, addr) != NULL)
			continue;
		used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "", addr);
	}
	freeaddrinfo(res);
	return true;
}

bool
ae_diag_reverse(const char *addr, char *buf, size_t size)
{
	struct addrinfo hints, *res = NULL;
	bool ok;

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(addr, NULL, &hints, &res) != 0)
		return false;
	ok = getnameinfo(res->ai_addr, res->ai_addrlen, buf, size, NULL, 0, NI_NAMEREQD) == 0;
	freeaddrinfo(res);
	return ok;
}

void
ae_diag_dns(ae_ctx *ctx, const ae_conf *conf, ae_diag_report *r, ae_diag_net *n)
{
	char name[512], setting[512], addrs[512];
	ae_diag_check *c;
	ae_srv *srv = NULL;
	size_t nsrv = 0, resolved = 0;
	char **good = NULL, **bad = NULL;
	ae_buf failed;

	if (n->domain == NULL) {
		char *realm = conf->domain ? NULL : ae_krb_default_realm(ctx);
		n->domain = strdup(conf->domain ? conf->domain : realm ? realm : "");
		for (char *p = n->domain; p && *p; p++)
			*p = (char)tolower((unsigned char)*p);
		free(realm);
	}
	ae_diag_begin(r);
	snprintf(name, sizeof(name), "_ldap._tcp.dc._msdcs.%s", n->domain ? n->domain : "");
	if (conf->servers != NULL) {
		n->dcs = ae_strv_dup(conf->servers);
		c = ae_diag_add(r, "dns.srv", "DNS: domain controllers", AE_DIAG_PASS,
		                "the domain controllers are configured (servers in [global]), DNS SRV is not used");
	} else if (n->domain == NULL || n->domain[0] == '\0') {
		c = ae_diag_add(r, "dns.srv", "DNS: domain controllers", AE_DIAG_FAIL,
		                "no AD domain: domain in [global] is not set and krb5.conf has no default_realm");
		ae_diag_fix(c, NULL, "join the host (adcli join, realm join) or set domain in [global] of %s",
		            conf->path ? conf->path : AE_CONF_DEFAULT_PATH);
	} else if (ae_dns_srv(ctx, name, conf->dns_timeout,
	                      ae_conf_setting(conf, "global", "dns_timeout", setting, sizeof(setting)), &srv,
	                      &nsrv) != AE_OK) {
		c = ae_diag_add(r, "dns.srv", "DNS: domain controllers", AE_DIAG_FAIL,
		                "no domain controller found for %s: %s", n->domain, ae_get_message(ctx));
		ae_diag_fix(c, NULL,
		            "point /etc/resolv.conf (or systemd-resolved) at the AD DNS servers, which publish %s", name);
	} else {
		c = ae_diag_add(r, "dns.srv", "DNS: domain controllers", AE_DIAG_PASS,
		                "%s lists %zu domain controller%s", name, nsrv, nsrv == 1 ? "" : "s");
		for (size_t i = 0; i < nsrv; i++) {
			ae_diag_detail(c, srv[i].host, "port %u, priority %u, weight %u", srv[i].port, srv[i].priority,
			               srv[i].weight);
			ae_strv_append(&n->dcs, srv[i].host);
		}
		ae_srv_free(srv, nsrv);
	}
	ae_diag_detail(c, "query", "%s", name);

	ae_diag_begin(r);
	if (n->dcs == NULL) {
		ae_diag_add(r, "dns.dc", "DNS: domain controllers' addresses", AE_DIAG_SKIP,
		            "no domain controller to resolve");
		return;
	}
	ae_buf_init(&failed);
	for (size_t i = 0; n->dcs[i] != NULL; i++) {
		int gai;
		if (ae_diag_resolve(n->dcs[i], addrs, sizeof(addrs), &gai)) {
			ae_strv_append(&good, n->dcs[i]);
			resolved++;
		} else {
			ae_strv_append(&bad, n->dcs[i]);
			ae_buf_printf(&failed, "%s%s (%s)", failed.len ? ", " : "", n->dcs[i], gai_strerror(gai));
		}
	}
	if (resolved == 0)
		c = ae_diag_add(r, "dns.dc", "DNS: domain controllers' addresses", AE_DIAG_FAIL,
		                "no domain controller name resolves: %s", failed.data ? failed.data : "");
	else if (failed.len > 0)
		c = ae_diag_add(r, "dns.dc", "DNS: domain controllers' addresses", AE_DIAG_WARN,
		                "%zu of %zu domain controllers resolve; not: %s", resolved, ae_strv_len(n->dcs),
		                failed.data);
	else
		c = ae_diag_add(r, "dns.dc", "DNS: domain controllers' addresses", AE_DIAG_PASS,
		                "every domain controller's name resolves");
	if (resolved < ae_strv_len(n->dcs))
		ae_diag_fix(c, NULL, "add the missing A records in the AD DNS zone %s, or remove the stale SRV records",
		            n->domain ? n->domain : "");
	for (size_t i = 0; good != NULL && good[i] != NULL; i++) {
		int gai;
		ae_diag_resolve(good[i], addrs, sizeof(addrs), &gai);
		ae_diag_detail(c, good[i], "%s", addrs);
	}
	ae_buf_clear(&failed);
	/* Resolvable DCs first: the later checks try them in this order. */
	for (size_t i = 0; bad != NULL && bad[i] != NULL; i++)
		ae_strv_append(&good, bad[i]);
	ae_strv_free(n->dcs);
	ae_strv_free(bad);
	n->dcs = good;
}

void
ae_diag_time(ae_ctx *ctx, const ae_conf *conf, ae_diag_report *r, ae_diag_net *n)
{
	char tbuf[64], setting[512];
	const char *err_dc = NULL, *dc = NULL;
	ae_diag_check *c;
	time_t dc_time = 0;
	long long offset;

	ae_diag_begin(r);
	for (size_t i = 0; n->dcs != NULL && n->dcs[i] != NULL; i++) {
		if (ae_ldap_current_time(ctx, conf, n->dcs[i], &dc_time) == AE_OK) {
			dc = n->dcs[i];
			break;
		}
		err_dc = n->dcs[i];
	}
	if (dc == NULL) {
		if (err_dc == NULL) {
			ae_diag_add(r, "time.offset", "Time: clock against the DC", AE_DIAG_SKIP,
			            "no domain controller to compare with");
			return;
		}
		c = ae_diag_add(r, "time.offset", "Time: clock against the DC", AE_DIAG_FAIL,
		                "cannot read the clock of any domain controller: %s", ae_get_message(ctx));
		ae_diag_fix(c, NULL, "check that the domain controllers answer LDAP on port 389 (%s)",
		            ae_conf_setting(conf, "global", "ldap_timeout", setting, sizeof(setting)));
		return;
	}
	offset = (long long)dc_time - (long long)time(NULL);
	if (llabs(offset) >= AE_DIAG_SKEW_LIMIT) {
		c = ae_diag_add(r, "time.offset", "Time: clock against the DC", AE_DIAG_FAIL,
		                "this host's clock is %lld s %s %s's, beyond the Kerberos skew limit of %d s: every Kerberos authentication fails (KRB_AP_ERR_SKEW)",
		                llabs(offset), offset > 0 ? "behind" : "ahead of", dc, AE_DIAG_SKEW_LIMIT);
		ae_diag_fix(c, "chronyc makestep",
		            "synchronise the clocks: this host with the domain's time source (chrony or systemd-timesyncd pointed at the DCs), and the DCs with the forest root PDC emulator");
	} else if (llabs(offset) >= AE_DIAG_SKEW_WARN) {
		c = ae_diag_add(r, "time.offset", "Time: clock against the DC", AE_DIAG_WARN,
		                "this host's clock is %lld s %s %s's: Kerberos fails at %d s", llabs(offset),
		                offset > 0 ? "behind" : "ahead of", dc, AE_DIAG_SKEW_LIMIT);
		ae_diag_fix(c, "chronyc makestep",
		            "synchronise this host's clock with the domain's time source (chrony or systemd-timesyncd pointed at the DCs)");
	} else {
		c = ae_diag_add(r, "time.offset", "Time: clock against the DC", AE_DIAG_PASS,
		                "this host's clock is within %lld s of %s's (Kerberos limit %d s)", llabs(offset), dc,
		                AE_DIAG_SKEW_LIMIT);
	}
	ae_diag_detail(c, "dc", "%s", dc);
	ae_diag_detail(c, "dc_time", "%s", ae_diag_time_string(dc_time, tbuf, sizeof(tbuf)));
	ae_diag_detail(c, "offset_seconds", "%lld", offset);
	ae_diag_detail(c, "skew_limit_seconds", "%d", AE_DIAG_SKEW_LIMIT);
}

static bool
keys_refused(const char *msg)
{
	return strstr(msg, "Preauthentication failed") || strstr(msg, "Key version") ||
	       strstr(msg, "Decrypt integrity");
}

/* The fix for a machine ticket the KDC refused. */
static void
machine_tgt_fix(ae_diag_check *c, const char *msg, const char *cmd)
{
	const char *advice = ae_krb_advice(msg);

	if (keys_refused(msg))
		ae_diag_fix(c, cmd,
		            "the keytab's keys are not the computer account's: refresh them (adcli update; if the account's password was reset in AD, rejoin with adcli join)");
	else if (strstr(msg, "Clock skew"))
		ae_diag_fix(c, "chronyc makestep", "synchronise this host's clock with the DCs");
	else if (strstr(msg, "revoked"))
		ae_diag_fix(c, NULL, "enable the computer account in Active Directory");
	else
		ae_diag_fix(c, NULL, "%s", advice ? advice : "check the KDCs and krb5.conf");
}

static void
diag_keytab(ae_ctx *ctx, const ae_conf *conf, ae_diag_report *r, ae_diag_net *n)
{
	ae_diag_check *c;
	char cmd[300];
	size_t machine_keys = 0;

	ae_diag_begin(r);
	snprintf(cmd, sizeof(cmd), "adcli join --domain=%s", n->domain ? n->domain : "DOMAIN");
	if (access(conf->machine_keytab, R_OK) != 0) {
		c = ae_diag_add(r, "machine.keytab", "Machine: keytab", AE_DIAG_FAIL,
		                "cannot read the machine keytab %s (keytab in [machine]): %s", conf->machine_keytab,
		                geteuid() != 0 ? "the machine context needs root" : "it is missing");
		ae_diag_fix(c, geteuid() != 0 ? NULL : cmd, "%s",
		            geteuid() != 0 ? "run diagnose --machine as root" : "join the host to the domain");
		return;
	}
	if (ae_krb_keytab_keys(ctx, conf->machine_keytab, &n->keys, &n->key_count) != AE_OK) {
		c = ae_diag_add(r, "machine.keytab", "Machine: keytab", AE_DIAG_FAIL, "%s", ae_get_message(ctx));
		ae_diag_fix(c, cmd, "the keytab is unreadable: rejoin the host to the domain");
		return;
	}
	for (size_t i = 0; i < n->key_count; i++) {
		const char *at = strchr(n->keys[i].principal, '@');
		size_t l = at ? (size_t)(at - n->keys[i].principal) : strlen(n->keys[i].principal);
		if (l > 1 && n->keys[i].principal[l - 1] == '$')
			machine_keys++;
	}
	if (machine_keys == 0) {
		c = ae_diag_add(r, "machine.keytab", "Machine: keytab", AE_DIAG_FAIL,
		                "the keytab %s holds %zu keys and none for a machine account (NAME$@REALM)",
		                conf->machine_keytab, n->key_count);
		ae_diag_fix(c, cmd, "join the host to the domain");
	} else {
		c = ae_diag_add(r, "machine.keytab", "Machine: keytab", AE_DIAG_PASS,
		                "the keytab %s is readable and holds %zu keys of the machine account",
		                conf->machine_keytab, machine_keys);
	}
	ae_diag_detail(c, "path", "%s", conf->machine_keytab);
	for (size_t i = 0; i < n->key_count; i++) {
		char name[32];
		snprintf(name, sizeof(name), "key%zu", i + 1);
		ae_diag_detail(c, name, "%s kvno %u %s", n->keys[i].principal, n->keys[i].kvno,
		               n->keys[i].enctype_name);
	}
}

static void
diag_machine_tgt(ae_ctx *ctx, const ae_conf *conf, ae_diag_report *r, ae_diag_net *n)
{
	size_t keytab = r->count - 1; /* machine.keytab, just added */
	char tbuf[64], cmd[300];
	time_t end = 0, renew = 0;
	ae_diag_check *c, *k;
	const char *msg;

	ae_diag_begin(r);
	if (r->checks[keytab].status == AE_DIAG_FAIL) {
		ae_diag_add(r, "machine.tgt", "Machine: Kerberos ticket", AE_DIAG_SKIP, "no usable keytab");
		return;
	}
	if (ae_krb_machine(ctx, conf, &n->krb) == AE_OK) {
		ae_krb_tgt_times(n->krb, &end, &renew);
		c = ae_diag_add(r, "machine.tgt", "Machine: Kerberos ticket", AE_DIAG_PASS,
		                "a ticket-granting ticket for %s was obtained from the keytab", ae_krb_principal(n->krb));
		ae_diag_detail(c, "principal", "%s", ae_krb_principal(n->krb));
		ae_diag_detail(c, "expires", "%s", ae_diag_time_string(end, tbuf, sizeof(tbuf)));
		return;
	}
	msg = ae_get_message(ctx);
	snprintf(cmd, sizeof(cmd), "adcli update --domain=%s", n->domain ? n->domain : "DOMAIN");
	c = ae_diag_add(r, "machine.tgt", "Machine: Kerberos ticket", AE_DIAG_FAIL, "%s", msg);
	machine_tgt_fix(c, msg, cmd);
	if (!keys_refused(msg))
		return;
	/* The keytab is at fault when the KDC refuses its keys. */
	k = &r->checks[keytab];
	k->status = AE_DIAG_FAIL;
	free(k->cause);
	k->cause = ae_strdup_printf("the KDC refuses the keys of the keytab %s: the computer account's password changed in AD after the keytab was written (its key version is newer)",
	                            conf->machine_keytab);
	ae_diag_fix(k, cmd, "refresh the keytab (adcli update; if the account's password was reset in AD, rejoin with adcli join)");
}

void
ae_diag_credentials(ae_ctx *ctx, const ae_conf *conf, bool machine, ae_diag_report *r, ae_diag_net *n)
{
	char tbuf[64];
	time_t end = 0, renew = 0, now = time(NULL);
	ae_diag_check *c;

	if (machine) {
		diag_keytab(ctx, conf, r, n);
		diag_machine_tgt(ctx, conf, r, n);
		ae_diag_begin(r);
		ae_diag_add(r, "user.tgt", "User: Kerberos ticket", AE_DIAG_SKIP,
		            "the machine context uses the keytab, not a user's ticket");
		return;
	}
	ae_diag_begin(r);
	ae_diag_add(r, "machine.keytab", "Machine: keytab", AE_DIAG_SKIP, "the user context uses the user's ticket");
	ae_diag_add(r, "machine.tgt", "Machine: Kerberos ticket", AE_DIAG_SKIP,
	            "the user context uses the user's ticket");
	if (ae_krb_user(ctx, &n->krb) != AE_OK) {
		c = ae_diag_add(r, "user.tgt", "User: Kerberos ticket", AE_DIAG_FAIL, "%s", ae_get_message(ctx));
		ae_diag_fix(c, "kinit", "get a ticket: log in through pam_sss or pam_krb5, or run kinit");
		return;
	}
	ae_krb_tgt_times(n->krb, &end, &renew);
	if (end - now < 3600 && renew <= end) {
		c = ae_diag_add(r, "user.tgt", "User: Kerberos ticket", AE_DIAG_WARN,
		                "the ticket of %s expires in %lld min and cannot be renewed",
		                ae_krb_principal(n->krb), (long long)(end - now) / 60);
		ae_diag_fix(c, "kinit -r 7d", "get a renewable ticket (kinit -r, or renew_lifetime in krb5.conf)");
	} else {
		c = ae_diag_add(r, "user.tgt", "User: Kerberos ticket", AE_DIAG_PASS,
		                "%s has a ticket-granting ticket in a %s cache, valid for %lld min%s",
		                ae_krb_principal(n->krb), ae_krb_cache_type(n->krb), (long long)(end - now) / 60,
		                renew > end ? ", renewable" : ", not renewable");
	}
	ae_diag_detail(c, "principal", "%s", ae_krb_principal(n->krb));
	ae_diag_detail(c, "cache_type", "%s", ae_krb_cache_type(n->krb));
	ae_diag_detail(c, "expires", "%s", ae_diag_time_string(end, tbuf, sizeof(tbuf)));
	if (renew > 0)
		ae_diag_detail(c, "renew_until", "%s", ae_diag_time_string(renew, tbuf, sizeof(tbuf)));
}

/* msDS-SupportedEncryptionTypes with the names of its RC4/AES bits. */
static const char *
enctype_bits(unsigned v, char *buf, size_t size)
{
	snprintf(buf, size, "0x%x (%s%s%s%s)", v, v & ET_RC4 ? "RC4 " : "", v & ET_AES128 ? "AES128 " : "",
	         v & ET_AES256 ? "AES256" : "", v & (ET_RC4 | ET_AES128 | ET_AES256) ? "" : "none of RC4, AES");
	return buf;
}

static void
diag_password_age(ae_diag_report *r, long long pwd_last_set, const char *cmd)
{
	ae_diag_check *c;
	char tbuf[64];

	ae_diag_begin(r);
	if (pwd_last_set <= 0) {
		c = ae_diag_add(r, "machine.password-age", "Machine: account password age", AE_DIAG_WARN,
		                "the computer account has no pwdLastSet: its password must be changed");
		ae_diag_fix(c, cmd, "set a new machine password (adcli update)");
		return;
	}
	/* FILETIME: 100 ns units since 1601-01-01 */
	time_t set = (time_t)(pwd_last_set / 10000000LL - 11644473600LL);
	long long days = ((long long)time(NULL) - (long long)set) / 86400;
	if (days > 30) {
		c = ae_diag_add(r, "machine.password-age", "Machine: account password age", AE_DIAG_WARN,
		                "the computer account's password is %lld days old (Windows changes it every 30 days)",
		                days);
		ae_diag_fix(c, cmd,
		            "change the machine password regularly (adcli update, or sssd's ad_maximum_machine_account_password_age)");
	} else {
		c = ae_diag_add(r, "machine.password-age", "Machine: account password age", AE_DIAG_PASS,
		                "the computer account's password is %lld days old", days);
	}
	ae_diag_detail(c, "pwd_last_set", "%s", ae_diag_time_string(set, tbuf, sizeof(tbuf)));
}

static void
diag_machine_account(ae_ctx *ctx, ae_diag_report *r, ae_diag_net *n)
{
	static const char *const attrs[] = {
		"msDS-KeyVersionNumber", "msDS-SupportedEncryptionTypes", "pwdLastSet", NULL
	};
	const char *account = ae_krb_account(n->krb), *principal = ae_krb_principal(n->krb);
	char *filter = NULL, *esc = ae_ldap_escape(account), *v;
	ae_ldap_result res = { 0 };
	unsigned ad_kvno = 0, ad_et = 0, kt_kvno = 0;
	bool has_et = false, kt_aes = false, kt_rc4 = false;
	long long pwd_last_set = 0;
	ae_diag_check *c;
	char et[64], cmd[300], enc_cmd[300];

	ae_diag_begin(r);
	snprintf(cmd, sizeof(cmd), "adcli update --domain=%s", n->domain ? n->domain : "DOMAIN");
	snprintf(enc_cmd, sizeof(enc_cmd), "net ads enctypes set %s 24", account);
	if (esc == NULL || asprintf(&filter, "(&(objectClass=computer)(sAMAccountName=%s))", esc) < 0)
		filter = NULL;
	if (filter == NULL ||
	    ae_ldap_search(ctx, n->ld, ae_ldap_default_nc(n->ld), "sub", filter, attrs, 0, &res) != AE_OK ||
	    res.count != 1) {
		c = ae_diag_add(r, "machine.keys", "Machine: keytab against AD", AE_DIAG_FAIL,
		                "cannot read the computer account %s in AD: %s", account,
		                filter != NULL && res.count == 0 ? "not found" : ae_get_message(ctx));
		ae_diag_fix(c, NULL, "rejoin the host (adcli join)");
		ae_diag_add(r, "machine.password-age", "Machine: account password age", AE_DIAG_SKIP,
		            "the computer account could not be read");
		goto cleanup;
	}
	if ((v = ae_entry_string(&res.entries[0], "msDS-KeyVersionNumber")) != NULL)
		ad_kvno = (unsigned)strtoul(v, NULL, 10);
	free(v);
	if ((v = ae_entry_string(&res.entries[0], "msDS-SupportedEncryptionTypes")) != NULL) {
		ad_et = (unsigned)strtoul(v, NULL, 10);
		has_et = true;
	}
	free(v);
	if ((v = ae_entry_string(&res.entries[0], "pwdLastSet")) != NULL)
		pwd_last_set = strtoll(v, NULL, 10);
	free(v);
	for (size_t i = 0; i < n->key_count; i++)
		if (strcasecmp(n->keys[i].principal, principal) == 0 && n->keys[i].kvno > kt_kvno)
			kt_kvno = n->keys[i].kvno;
	for (size_t i = 0; i < n->key_count; i++) {
		if (strcasecmp(n->keys[i].principal, principal) != 0 || n->keys[i].kvno != kt_kvno)
			continue;
		kt_aes |= n->keys[i].enctype == ENCTYPE_AES128 || n->keys[i].enctype == ENCTYPE_AES256;
		kt_rc4 |= n->keys[i].enctype == ENCTYPE_RC4;
	}
	if (ad_kvno != 0 && kt_kvno != ad_kvno) {
		c = ae_diag_add(r, "machine.keys", "Machine: keytab against AD", AE_DIAG_FAIL,
		                "the keytab's newest key for %s has version %u, the computer account in AD is at %u: its password changed without the keytab",
		                principal, kt_kvno, ad_kvno);
		ae_diag_fix(c, cmd, "refresh the keytab from the account's current password");
	} else if (has_et && (ad_et & (ET_AES128 | ET_AES256)) == 0 && kt_aes && !kt_rc4) {
		c = ae_diag_add(r, "machine.keys", "Machine: keytab against AD", AE_DIAG_FAIL,
		                "encryption types do not match: the keytab has only AES keys, and the computer account's msDS-SupportedEncryptionTypes is %s, without AES",
		                enctype_bits(ad_et, et, sizeof(et)));
		ae_diag_fix(c, enc_cmd, "allow AES on the computer account (msDS-SupportedEncryptionTypes 0x18, as Windows sets it)");
	} else if (has_et && (ad_et & (ET_AES128 | ET_AES256)) == 0) {
		c = ae_diag_add(r, "machine.keys", "Machine: keytab against AD", AE_DIAG_WARN,
		                "the computer account allows no AES encryption type (msDS-SupportedEncryptionTypes %s)",
		                enctype_bits(ad_et, et, sizeof(et)));
		ae_diag_fix(c, enc_cmd, "allow AES on the computer account (msDS-SupportedEncryptionTypes 0x18)");
	} else {
		c = ae_diag_add(r, "machine.keys", "Machine: keytab against AD", AE_DIAG_PASS,
		                "the keytab's key version %u is the computer account's, with encryption types AD allows",
		                kt_kvno);
	}
	ae_diag_detail(c, "keytab_kvno", "%u", kt_kvno);
	ae_diag_detail(c, "ad_kvno", "%u", ad_kvno);
	ae_diag_detail(c, "ad_supported_enctypes", "%s", has_et ? enctype_bits(ad_et, et, sizeof(et)) : "not set");
	diag_password_age(r, pwd_last_set, cmd);
cleanup:
	ae_ldap_result_free(&res);
	free(filter);
	free(esc);
}

void
ae_diag_ldap(ae_ctx *ctx, const ae_conf *conf, bool machine, ae_diag_report *r, ae_diag_net *n)
{
	ae_diag_check *c;
	ae_buf errs;

	ae_diag_begin(r);
	if (n->krb == NULL || n->dcs == NULL) {
		ae_diag_add(r, "ldap.bind", "LDAP: sealed bind", AE_DIAG_SKIP,
		            n->krb == NULL ? "no Kerberos credentials to bind with" : "no domain controller");
	} else {
		ae_buf_init(&errs);
		for (size_t i = 0; n->dcs[i] != NULL && n->ld == NULL; i++)
			if (ae_ldap_connect(ctx, conf, n->dcs[i], &n->ld) != AE_OK)
				ae_buf_printf(&errs, "%s%s", errs.len ? "; " : "", ae_get_message(ctx));
		if (n->ld != NULL) {
			c = ae_diag_add(r, "ldap.bind", "LDAP: sealed bind", AE_DIAG_PASS,
			                "bound to %s with SASL/%s as %s, sealed (SSF %d)", ae_ldap_host(n->ld),
			                ae_ldap_mechanism(n->ld), ae_krb_principal(n->krb), ae_ldap_ssf(n->ld));
			ae_diag_detail(c, "dc", "%s", ae_ldap_host(n->ld));
			ae_diag_detail(c, "mechanism", "%s", ae_ldap_mechanism(n->ld));
			ae_diag_detail(c, "ssf", "%d", ae_ldap_ssf(n->ld));
		} else {
			const char *advice = ae_krb_advice(errs.data);
			c = ae_diag_add(r, "ldap.bind", "LDAP: sealed bind", AE_DIAG_FAIL, "%s",
			                errs.data ? errs.data : "no domain controller answered");
			ae_diag_fix(c, NULL, "%s",
			            advice ? advice : "check that the DCs answer on port 389, and the Kerberos checks above");
		}
		ae_buf_clear(&errs);
	}
	if (!machine)
		return;
	if (n->ld == NULL || n->krb == NULL) {
		ae_diag_begin(r);
		ae_diag_add(r, "machine.keys", "Machine: keytab against AD", AE_DIAG_SKIP,
		            "no LDAP session to read the computer account");
		ae_diag_add(r, "machine.password-age", "Machine: account password age", AE_DIAG_SKIP,
		            "no LDAP session to read the computer account");
		return;
	}
	diag_machine_account(ctx, r, n);
}
