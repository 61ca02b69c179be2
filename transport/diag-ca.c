/*
 * diag-ca.c - the per-CA checks of `autoenroll diagnose` (see diag-ca.h).
 */
#include "config.h"

#include "diag-ca.h"
#include "diag-net.h"
#include "hresult.h"
#include "net.h"
#include "sid.h"
#include "transport.h"
#include "util.h"

#include <ctype.h>
#include <netdb.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* "ca.NAME.WHAT" into BUF. */
static const char *
ca_id(const ae_ca *ca, const char *what, char *buf, size_t size)
{
	snprintf(buf, size, "ca.%s.%s", ca->name, what);
	return buf;
}

static void
diag_cert(const ae_ca *ca, bool named, ae_diag_report *r)
{
	char id[300], tbuf[64];
	ae_diag_check *c;
	time_t now = time(NULL);

	ae_diag_begin(r);
	ca_id(ca, "certificate", id, sizeof(id));
	if (!ca->valid) {
		/* A CA whose certificate does not validate is not used, as on
		 * Windows: a problem of its own only when asked about it. */
		c = ae_diag_add(r, id, "CA: certificate chains to AD's roots", named ? AE_DIAG_FAIL : AE_DIAG_SKIP,
		                "%s is not used: %s", ca->name, ca->invalid_reason ? ca->invalid_reason : "unknown reason");
		if (named)
			ae_diag_fix(c, "certutil -dspublish -f ROOT.cer RootCA",
		            "publish the CA's root in AD (Certification Authorities container) and its chain (AIA), or renew the CA's certificate, or remove its enrollment service from AD");
	} else if (ca->not_after - now < 30 * 86400) {
		c = ae_diag_add(r, id, "CA: certificate chains to AD's roots", AE_DIAG_WARN,
		                "the certificate of %s chains to a root in AD but expires in %lld days", ca->name,
		                (long long)(ca->not_after - now) / 86400);
		ae_diag_fix(c, "certutil -renewCert ReuseKeys", "renew the CA's certificate");
	} else {
		c = ae_diag_add(r, id, "CA: certificate chains to AD's roots", AE_DIAG_PASS,
		                "the certificate of %s is valid and chains to a root published in AD", ca->name);
	}
	ae_diag_detail(c, "subject", "%s", ca->subject ? ca->subject : "-");
	ae_diag_detail(c, "thumbprint", "%s", ca->thumbprint ? ca->thumbprint : "-");
	if (ca->not_after)
		ae_diag_detail(c, "not_after", "%s", ae_diag_time_string(ca->not_after, tbuf, sizeof(tbuf)));
}

static X509 *
issuer_of(const ae_pki *pki, X509 *cert)
{
	STACK_OF(X509) *stacks[2] = { pki->roots, pki->intermediates };

	if (X509_check_issued(cert, cert) == X509_V_OK)
		return cert;
	for (size_t s = 0; s < 2; s++)
		for (int i = 0; stacks[s] != NULL && i < sk_X509_num(stacks[s]); i++)
			if (X509_check_issued(sk_X509_value(stacks[s], i), cert) == X509_V_OK)
				return sk_X509_value(stacks[s], i);
	return NULL;
}

static void
diag_crl(ae_ctx *ctx, const ae_diag_ca_env *env, const ae_ca *ca, ae_diag_report *r)
{
	ae_revocation rev = AE_REVOCATION_UNKNOWN;
	char id[300], *reason = NULL;
	ae_diag_check *c;
	X509 *issuer;

	ae_diag_begin(r);
	ca_id(ca, "crl", id, sizeof(id));
	issuer = ca->cert ? issuer_of(env->pki, ca->cert) : NULL;
	if (issuer == NULL) {
		ae_diag_add(r, id, "CA: revocation (CRL)", AE_DIAG_SKIP, "the CA's issuer is not in AD");
		return;
	}
	if (issuer == ca->cert) {
		ae_diag_add(r, id, "CA: revocation (CRL)", AE_DIAG_PASS,
		            "the certificate of %s is a root: no CRL covers it", ca->name);
		return;
	}
	if (ae_crl_check(ctx, env->conf, env->fetch, ca->cert, issuer, time(NULL), &rev, &reason) != AE_OK) {
		c = ae_diag_add(r, id, "CA: revocation (CRL)", AE_DIAG_WARN, "%s", ae_get_message(ctx));
		return;
	}
	if (rev == AE_REVOCATION_UNKNOWN && reason != NULL && strstr(reason, "names no") != NULL) {
		c = ae_diag_add(r, id, "CA: revocation (CRL)", AE_DIAG_SKIP,
		                "the certificate of %s names no CRL distribution point: no CRL to check", ca->name);
	} else if (rev == AE_REVOCATION_GOOD) {
		c = ae_diag_add(r, id, "CA: revocation (CRL)", AE_DIAG_PASS,
		                "its issuer's CRL is current and does not list the certificate of %s", ca->name);
	} else if (rev == AE_REVOCATION_REVOKED) {
		c = ae_diag_add(r, id, "CA: revocation (CRL)", AE_DIAG_FAIL, "the certificate of %s is revoked: %s",
		                ca->name, reason ? reason : "");
		ae_diag_fix(c, NULL, "renew the CA's certificate with its issuer and publish it in AD");
	} else {
		c = ae_diag_add(r, id, "CA: revocation (CRL)", AE_DIAG_WARN,
		                "the revocation of the certificate of %s cannot be checked: %s", ca->name,
		                reason ? reason : "no usable CRL");
		ae_diag_fix(c, "certutil -crl",
		            "publish a fresh CRL from the issuing CA where its certificates' CRL distribution points say");
	}
	free(reason);
}

static void
diag_dns(const ae_ca *ca, ae_diag_report *r, bool *resolves)
{
	char id[300], addrs[512], first[128], rev[300];
	ae_diag_check *c;
	int gai;

	*resolves = false;
	ae_diag_begin(r);
	ca_id(ca, "dns", id, sizeof(id));
	if (ca->host == NULL) {
		c = ae_diag_add(r, id, "CA: host in DNS", AE_DIAG_FAIL, "the enrollment service of %s has no dNSHostName",
		                ca->name);
		ae_diag_fix(c, NULL, "set dNSHostName on the CA's pKIEnrollmentService object (certutil -dsPublish on the CA)");
		return;
	}
	if (!ae_diag_resolve(ca->host, addrs, sizeof(addrs), &gai)) {
		c = ae_diag_add(r, id, "CA: host in DNS", AE_DIAG_FAIL, "the CA host %s does not resolve: %s", ca->host,
		                gai_strerror(gai));
		ae_diag_fix(c, NULL, "register the CA host's A record in the AD DNS zone (ipconfig /registerdns on the CA)");
		return;
	}
	*resolves = true;
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(addrs, ","), addrs);
	if (!ae_diag_reverse(first, rev, sizeof(rev))) {
		c = ae_diag_add(r, id, "CA: host in DNS", AE_DIAG_WARN,
		                "the CA host %s resolves to %s, which has no reverse (PTR) record", ca->host, first);
		ae_diag_fix(c, NULL, "add the PTR record of %s in the reverse zone", first);
	} else if (strcasecmp(rev, ca->host) != 0) {
		c = ae_diag_add(r, id, "CA: host in DNS", AE_DIAG_WARN,
		                "the CA host %s resolves to %s, whose reverse name is %s", ca->host, first, rev);
		ae_diag_fix(c, NULL, "correct the PTR record of %s to name %s", first, ca->host);
	} else {
		c = ae_diag_add(r, id, "CA: host in DNS", AE_DIAG_PASS, "the CA host %s resolves to %s and back",
		                ca->host, addrs);
	}
	ae_diag_detail(c, "host", "%s", ca->host);
	ae_diag_detail(c, "addresses", "%s", addrs);
	ae_diag_detail(c, "reverse", "%s", rev[0] ? rev : "-");
}

static void
diag_spn(ae_ctx *ctx, const ae_diag_ca_env *env, const ae_ca *ca, ae_diag_report *r)
{
	static const char *const attrs[] = { "sAMAccountName", NULL };
	ae_ldap_result res = { 0 };
	char id[300], cmd[600], short_name[64], other[256];
	char *filter = NULL, *esc = NULL;
	ae_diag_check *c;
	ae_buf owners;

	ae_diag_begin(r);
	ca_id(ca, "spn", id, sizeof(id));
	if (ca->host == NULL || env->ld == NULL) {
		ae_diag_add(r, id, "CA: SPN host/NAME in AD", AE_DIAG_SKIP,
		            ca->host == NULL ? "the CA has no host name" : "no LDAP session");
		return;
	}
	esc = ae_ldap_escape(ca->host);
	if (esc == NULL || asprintf(&filter, "(servicePrincipalName=host/%s)", esc) < 0)
		filter = NULL;
	if (filter == NULL ||
	    ae_ldap_search(ctx, env->ld, ae_ldap_root_domain_nc(env->ld), "sub", filter, attrs, 0, &res) != AE_OK) {
		c = ae_diag_add(r, id, "CA: SPN host/NAME in AD", AE_DIAG_WARN, "cannot search for host/%s: %s", ca->host,
		                ae_get_message(ctx));
		goto cleanup;
	}
	snprintf(short_name, sizeof(short_name), "%.*s", (int)strcspn(ca->host, "."), ca->host);
	for (char *p = short_name; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	ae_buf_init(&owners);
	other[0] = '\0';
	for (size_t i = 0; i < res.count; i++) {
		char *sam = ae_entry_string(&res.entries[i], "sAMAccountName");
		ae_buf_printf(&owners, "%s%s (%s)", i ? ", " : "", sam ? sam : "?", res.entries[i].dn);
		/* The account that should not have it: not the CA host's. */
		if (sam != NULL && other[0] == '\0' &&
		    (strncasecmp(sam, short_name, strlen(short_name)) != 0 || strcmp(sam + strlen(short_name), "$") != 0))
			snprintf(other, sizeof(other), "%s", sam);
		free(sam);
	}
	if (res.count == 1) {
		c = ae_diag_add(r, id, "CA: SPN host/NAME in AD", AE_DIAG_PASS, "host/%s is registered once, on %s",
		                ca->host, owners.data);
	} else if (res.count == 0) {
		c = ae_diag_add(r, id, "CA: SPN host/NAME in AD", AE_DIAG_FAIL,
		                "no account has the SPN host/%s: the KDC cannot issue a ticket for the CA (KDC_ERR_S_PRINCIPAL_UNKNOWN)",
		                ca->host);
		snprintf(cmd, sizeof(cmd), "setspn -S host/%s %s", ca->host, short_name);
		ae_diag_fix(c, cmd, "register the SPN on the CA's computer account");
	} else {
		c = ae_diag_add(r, id, "CA: SPN host/NAME in AD", AE_DIAG_FAIL,
		                "the SPN host/%s is registered on %zu accounts: %s; the KDC encrypts the CA's ticket for one of them, and the CA cannot read it (KRB_AP_ERR_MODIFIED)",
		                ca->host, res.count, owners.data);
		snprintf(cmd, sizeof(cmd), "setspn -D host/%s %s", ca->host, other[0] ? other : "ACCOUNT");
		ae_diag_fix(c, cmd, "remove host/%s from every account but the CA's computer account %s$", ca->host,
		            short_name);
	}
	ae_buf_clear(&owners);
	ae_diag_detail(c, "spn", "host/%s", ca->host);
	ae_diag_detail(c, "searched", "%s", ae_ldap_root_domain_nc(env->ld));
cleanup:
	ae_ldap_result_free(&res);
	free(filter);
	free(esc);
}

/* The connection to TCP 135 alone, so that a stopped CA or a firewall
 * is told apart from a refused bind. */
static bool
diag_epm(const ae_diag_ca_env *env, const ae_ca *ca, ae_diag_report *r)
{
	char id[300], setting[512], addrs[512];
	ae_diag_check *c;
	ae_net_status st;
	int fd = -1, sys_err = 0, gai;

	ae_diag_begin(r);
	ca_id(ca, "endpoint-mapper", id, sizeof(id));
	ae_conf_setting(env->conf, "global", "rpc_timeout", setting, sizeof(setting));
	if (!ae_diag_resolve(ca->host, addrs, sizeof(addrs), &gai))
		snprintf(addrs, sizeof(addrs), "not resolved");
	st = ae_net_connect(ca->host, "135", 0, env->conf->rpc_timeout, true, &fd, &sys_err);
	if (fd >= 0)
		close(fd);
	if (st == AE_NET_OK) {
		c = ae_diag_add(r, id, "CA: endpoint mapper (TCP 135)", AE_DIAG_PASS,
		                "the endpoint mapper of %s answers on %s:135", ca->name, ca->host);
	} else if (st == AE_NET_TIMEOUT) {
		c = ae_diag_add(r, id, "CA: endpoint mapper (TCP 135)", AE_DIAG_FAIL,
		                "the endpoint mapper of %s at %s (%s) port 135 did not answer within %d s (%s)",
		                ca->name, ca->host, addrs, env->conf->rpc_timeout, setting);
		ae_diag_fix(c, NULL,
		            "start the CA's service (certsvc) and let TCP 135 and the dynamic RPC ports (49152-65535) through the firewalls between this host and the CA");
	} else {
		c = ae_diag_add(r, id, "CA: endpoint mapper (TCP 135)", AE_DIAG_FAIL,
		                "cannot reach the endpoint mapper of %s at %s (%s) port 135: %s (waiting at most %d s, %s)",
		                ca->name, ca->host, addrs, st == AE_NET_RESOLVE ? gai_strerror(sys_err) : strerror(sys_err),
		                env->conf->rpc_timeout, setting);
		ae_diag_fix(c, NULL,
		            "start the CA's service (certsvc) and let TCP 135 and the dynamic RPC ports (49152-65535) through the firewalls between this host and the CA");
	}
	ae_diag_detail(c, "address", "%s (%s) port 135", ca->host, addrs);
	ae_diag_detail(c, "timeout", "%d s (%s)", env->conf->rpc_timeout, setting);
	return st == AE_NET_OK;
}

static void
diag_probe(ae_ctx *ctx, const ae_diag_ca_env *env, const ae_ca *ca, ae_ca_link *link, ae_diag_report *r,
           bool *usable)
{
	ae_ca_answer a;
	char id[300], hr[64];
	ae_diag_check *c;
	ae_err err;

	ae_diag_begin(r);
	ca_id(ca, "access", id, sizeof(id));
	memset(&a, 0, sizeof(a));
	err = ae_ca_link_retrieve(ctx, link, ca, AE_DIAG_PROBE_REQUEST_ID, &a);
	if (err == AE_OK && a.outcome == AE_CA_REFUSED && a.hresult == AE_HR_CERTSRV_E_PROPERTY_EMPTY) {
		*usable = true;
		c = ae_diag_add(r, id, "CA: access probe", AE_DIAG_PASS,
		                "%s lets %s in: asked for request %u, which cannot exist, it answered %s", ca->name,
		                env->caller, AE_DIAG_PROBE_REQUEST_ID,
		                ae_hresult_format(a.hresult, hr, sizeof(hr)));
	} else if ((err == AE_OK && a.hresult == AE_HR_E_ACCESSDENIED) || err == AE_ERR_DENIED) {
		c = ae_diag_add(r, id, "CA: access probe", AE_DIAG_FAIL,
		                "%s refuses %s with E_ACCESSDENIED (0x80070005) before looking at any request: the CA's DCOM security or its Read permission lets the caller not in",
		                ca->name, env->caller);
		ae_diag_fix(c, "net localgroup \"Certificate Service DCOM Access\" \"NT AUTHORITY\\Authenticated Users\" /add",
		            "put the caller in BUILTIN\\Certificate Service DCOM Access of the CA's domain (Authenticated Users is its member by default), and check Read on the CA's security tab");
	} else if (err != AE_OK) {
		c = ae_diag_add(r, id, "CA: access probe", AE_DIAG_FAIL, "%s", ae_get_message(ctx));
	} else {
		char *why = ae_hresult_explain(a.hresult, NULL, ca->name, env->caller);
		*usable = a.hresult == 0 || a.outcome != AE_CA_REFUSED;
		c = ae_diag_add(r, id, "CA: access probe", *usable ? AE_DIAG_PASS : AE_DIAG_WARN,
		                "%s answered request %u with %s%s%s", ca->name, AE_DIAG_PROBE_REQUEST_ID,
		                ae_hresult_format(a.hresult, hr, sizeof(hr)), why ? ": " : "", why ? why : "");
		free(why);
	}
	ae_diag_detail(c, "request_id", "%u", AE_DIAG_PROBE_REQUEST_ID);
	if (err == AE_OK)
		ae_diag_detail(c, "hresult", "0x%08X", a.hresult);
	ae_ca_answer_clear(&a);
}

static bool
session_has(ae_ctx *ctx, ae_ldap *ld, const ae_sid *want)
{
	const ae_attr *tg = ae_entry_get(ae_ldap_root_dse(ld), "tokenGroups");
	ae_sid sid;

	for (size_t i = 0; tg != NULL && i < tg->nvalues; i++)
		if (ae_sid_from_bytes(ctx, tg->values[i].data, tg->values[i].len, &sid, NULL) == AE_OK &&
		    ae_sid_equal(&sid, want))
			return true;
	ae_clear_message(ctx);
	return false;
}

static void
diag_dcom(ae_ctx *ctx, const ae_diag_ca_env *env, const ae_ca *ca, ae_diag_report *r)
{
	char id[300];
	ae_sid sid;
	ae_diag_check *c;

	ae_diag_begin(r);
	ca_id(ca, "dcom-access", id, sizeof(id));
	if (env->ld == NULL || ae_sid_from_string(ctx, AE_SID_CERT_DCOM_ACCESS, &sid) != AE_OK) {
		ae_diag_add(r, id, "CA: Certificate Service DCOM Access", AE_DIAG_SKIP,
		            "no LDAP session: the caller's logon token is unknown");
		return;
	}
	/* The logon token as the DC builds it, aliases of its BUILTIN domain
	 * expanded (the rootDSE's tokenGroups, MS-ADTS 3.1.1.3.2.41): the
	 * account object's own tokenGroups leave out memberships through
	 * well-known SIDs such as Authenticated Users. */
	if (session_has(ctx, env->ld, &sid)) {
		c = ae_diag_add(r, id, "CA: Certificate Service DCOM Access", AE_DIAG_PASS,
		                "the token of %s holds BUILTIN\\Certificate Service DCOM Access (%s)", env->caller,
		                AE_SID_CERT_DCOM_ACCESS);
	} else {
		c = ae_diag_add(r, id, "CA: Certificate Service DCOM Access", AE_DIAG_FAIL,
		                "the token of %s lacks BUILTIN\\Certificate Service DCOM Access (%s): AD CS refuses its calls with E_ACCESSDENIED (0x80070005) and the pulse logs event 13",
		                env->caller, AE_SID_CERT_DCOM_ACCESS);
		ae_diag_fix(c,
		            "net localgroup \"Certificate Service DCOM Access\" \"NT AUTHORITY\\Authenticated Users\" /add",
		            "add Authenticated Users (as AD CS setup does), or the caller or one of its groups, to BUILTIN\\Certificate Service DCOM Access in the domain of %s",
		            ca->name);
	}
	ae_diag_detail(c, "group", "BUILTIN\\Certificate Service DCOM Access");
	ae_diag_detail(c, "sid", "%s", AE_SID_CERT_DCOM_ACCESS);
}

void
ae_diag_ca(ae_ctx *ctx, const ae_diag_ca_env *env, const ae_ca *ca, ae_diag_report *r, bool *usable)
{
	ae_ca_link *link = NULL;
	char id[300];
	bool resolves = false;
	ae_diag_check *c;

	*usable = false;
	diag_cert(ca, env->named, r);
	if (!ca->valid) {
		static const char *const rest[][2] = {
			{ "crl", "CA: revocation (CRL)" }, { "dns", "CA: host in DNS" }, { "spn", "CA: SPN host/NAME in AD" },
			{ "dcom-access", "CA: Certificate Service DCOM Access" },
			{ "endpoint-mapper", "CA: endpoint mapper (TCP 135)" },
			{ "bind", "CA: ICertPassage port and Kerberos bind" }, { "access", "CA: access probe" },
		};
		ae_diag_begin(r);
		for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
			ae_diag_add(r, ca_id(ca, rest[i][0], id, sizeof(id)), rest[i][1], AE_DIAG_SKIP,
			            "the CA is not used: its certificate does not validate");
		return;
	}
	diag_crl(ctx, env, ca, r);
	diag_dns(ca, r, &resolves);
	diag_spn(ctx, env, ca, r);
	diag_dcom(ctx, env, ca, r);
	if (!resolves || ca->transport == NULL) {
		const char *why = !resolves ? "the CA host does not resolve" : "no transport reaches this CA";
		ae_diag_begin(r);
		ae_diag_add(r, ca_id(ca, "endpoint-mapper", id, sizeof(id)), "CA: endpoint mapper (TCP 135)",
		            AE_DIAG_SKIP, "%s", why);
		ae_diag_add(r, ca_id(ca, "bind", id, sizeof(id)), "CA: ICertPassage port and Kerberos bind",
		            AE_DIAG_SKIP, "%s", why);
		ae_diag_add(r, ca_id(ca, "access", id, sizeof(id)), "CA: access probe", AE_DIAG_SKIP, "%s", why);
		return;
	}
	if (!diag_epm(env, ca, r)) {
		ae_diag_begin(r);
		ae_diag_add(r, ca_id(ca, "bind", id, sizeof(id)), "CA: ICertPassage port and Kerberos bind",
		            AE_DIAG_SKIP, "the endpoint mapper is unreachable");
		ae_diag_add(r, ca_id(ca, "access", id, sizeof(id)), "CA: access probe", AE_DIAG_SKIP,
		            "the endpoint mapper is unreachable");
		return;
	}
	ae_diag_begin(r);
	ca_id(ca, "bind", id, sizeof(id));
	if (ae_ca_link_open(ctx, env->conf, ca, &link) != AE_OK) {
		const char *msg = ae_get_message(ctx);
		c = ae_diag_add(r, id, "CA: ICertPassage port and Kerberos bind", AE_DIAG_FAIL, "%s", msg);
		ae_diag_fix(c, NULL, "%s",
		            strstr(msg, "Kerberos") || strstr(msg, "SPN") || strstr(msg, "principal")
		                ? "check the CA's SPN host/NAME and its keytab (the SPN check above)"
		                : "let the CA's dynamic RPC port through the firewalls (or fix it on the CA) and check the CA's service");
		ae_diag_add(r, ca_id(ca, "access", id, sizeof(id)), "CA: access probe", AE_DIAG_SKIP,
		            "no RPC binding to the CA");
		return;
	}
	c = ae_diag_add(r, id, "CA: ICertPassage port and Kerberos bind", AE_DIAG_PASS,
	                "bound to ICertPassage of %s on %s with Kerberos at packet privacy (%s)", ca->name, ca->host,
	                ca->transport->name);
	diag_probe(ctx, env, ca, link, r, usable);
	ae_ca_link_free(link);
}
