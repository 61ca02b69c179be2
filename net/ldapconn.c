/*
 * ldapconn.c - OpenLDAP client with SASL/GSSAPI, SD-flags and paged results.
 */
#include "config.h"

#include "krb.h"
#include "ldapconn.h"
#include "testhooks.h"
#include "util.h"

#include <lber.h>
#include <ldap.h>
#include <sasl/sasl.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define AE_LDAP_PAGE_SIZE 256
#define AE_LDAP_MAX_ENTRIES 100000
/* Kerberos sealing gives at least 56; anything less is integrity only. */
#define AE_LDAP_MIN_SSF 56

struct ae_ldap {
	LDAP *ld;
	char *host;
	char *config_nc;
	char *default_nc;
	char *root_domain_nc;
	char *dns_host_name;
	char root_domain_guid[37]; /* "" unless the rootDSE gave it */
	ae_ldap_result root_dse;
	const char *mech;
	int ssf;
	int timeout;
	int page_size;
	char setting[512];
	unsigned round_trips;
};

typedef struct {
	char *dn;
	ae_attr *attrs;
	size_t nattrs;
} entry_store;

const char *ae_ldap_host(const ae_ldap *ld) { return ld->host; }
const char *ae_ldap_config_nc(const ae_ldap *ld) { return ld->config_nc; }
const char *ae_ldap_default_nc(const ae_ldap *ld) { return ld->default_nc; }
const char *ae_ldap_root_domain_nc(const ae_ldap *ld) { return ld->root_domain_nc; }
const char *ae_ldap_dns_host_name(const ae_ldap *ld) { return ld->dns_host_name; }
const char *ae_ldap_root_domain_guid(const ae_ldap *ld) { return ld->root_domain_guid[0] ? ld->root_domain_guid : NULL; }
const ae_entry *ae_ldap_root_dse(const ae_ldap *ld) { return ld->root_dse.count ? &ld->root_dse.entries[0] : NULL; }
const char *ae_ldap_mechanism(const ae_ldap *ld) { return ld->mech; }
int ae_ldap_ssf(const ae_ldap *ld) { return ld->ssf; }
unsigned ae_ldap_round_trips(const ae_ldap *ld) { return ld->round_trips; }

bool
ae_ldap_local_address(const ae_ldap *ld, int *family, uint8_t addr[16])
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = -1;

	if (ld == NULL || ld->ld == NULL || ldap_get_option(ld->ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS || fd < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return false;
	if (ss.ss_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)&ss)->sin_addr, 4);
		*family = AF_INET;
		return true;
	}
	if (ss.ss_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			memcpy(addr, a + 12, 4);
			*family = AF_INET;
		} else {
			memcpy(addr, a, 16);
			*family = AF_INET6;
		}
		return true;
	}
	return false;
}

void
ae_ldap_free(ae_ldap *ld)
{
	if (ld == NULL)
		return;
	if (ld->ld != NULL)
		ldap_unbind_ext_s(ld->ld, NULL, NULL);
	free(ld->host);
	free(ld->config_nc);
	free(ld->default_nc);
	free(ld->root_domain_nc);
	free(ld->dns_host_name);
	ae_ldap_result_free(&ld->root_dse);
	free(ld);
}

char *
ae_ldap_escape(const char *value)
{
	ae_buf b;

	ae_buf_init(&b);
	for (const char *p = value; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c == 0x7f)
			ae_buf_printf(&b, "\\%02x", c);
		else
			ae_buf_append(&b, p, 1);
	}
	return ae_buf_steal(&b);
}

static int
sasl_interact(LDAP *ld, unsigned flags, void *defaults, void *in)
{
	/* GSSAPI needs no prompts; answer defaults (empty authzid). */
	for (sasl_interact_t *i = in; i != NULL && i->id != SASL_CB_LIST_END; i++) {
		i->result = "";
		i->len = 0;
	}
	(void)ld;
	(void)flags;
	(void)defaults;
	return LDAP_SUCCESS;
}

static ae_err
ldap_failure(ae_ctx *ctx, ae_ldap *l, int rc, const char *what, double elapsed)
{
	char *diag = NULL;
	const char *advice;
	ae_err err;

	if (l->ld != NULL)
		ldap_get_option(l->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (rc == LDAP_TIMEOUT || (rc == LDAP_SERVER_DOWN && elapsed >= l->timeout - 0.5)) {
		err = ae_set_message(ctx, AE_ERR_TIMEOUT,
		                     "%s: the LDAP server %s did not answer within %d s (%s)",
		                     what, l->host, l->timeout, l->setting);
	} else if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR) {
		err = ae_set_message(ctx, AE_ERR_NETWORK,
		                     "%s: cannot reach the LDAP server %s on port 389 (%s)",
		                     what, l->host, diag && *diag ? diag : ldap_err2string(rc));
	} else if ((advice = ae_krb_advice(diag)) != NULL) {
		err = ae_set_message(ctx, AE_ERR_KERBEROS, "%s: %s: %s (service ldap/%s)",
		                     what, advice, diag, l->host);
	} else if (rc == LDAP_INSUFFICIENT_ACCESS || rc == LDAP_INVALID_CREDENTIALS ||
	           rc == LDAP_STRONG_AUTH_REQUIRED) {
		err = ae_set_message(ctx, AE_ERR_DENIED, "%s: %s%s%s", what, ldap_err2string(rc),
		                     diag && *diag ? ": " : "", diag ? diag : "");
	} else {
		err = ae_set_message(ctx, AE_ERR_LDAP, "%s: %s%s%s", what, ldap_err2string(rc),
		                     diag && *diag ? ": " : "", diag ? diag : "");
	}
	ldap_memfree(diag);
	return err;
}


/* The rootDSE: the naming contexts and, with the extended-DN control, the
 * forest root domain's objectGUID (the policy ID) in the same answer; and
 * tokenGroups, the SIDs of this session's own token (MS-ADTS 3.1.1.3.2.41),
 * which lets the account's groups be named in the account's search. */
static ae_err
read_root_dse(ae_ctx *ctx, ae_ldap *l)
{
	static const char *const attrs[] = {
		"configurationNamingContext", "defaultNamingContext", "rootDomainNamingContext",
		"dnsHostName", "tokenGroups", "serverName", NULL
	};
	static const char *const ncs[] = {
		"configurationNamingContext", "defaultNamingContext", "rootDomainNamingContext"
	};
	char **dst[3] = { &l->config_nc, &l->default_nc, &l->root_domain_nc };
	char guid[37];
	ae_err err;

	err = ae_ldap_search(ctx, l, "", "base", "(objectClass=*)", attrs, AE_LDAP_EXTENDED_DN, &l->root_dse);
	if (err != AE_OK)
		return ae_prefix_message(ctx, err, "reading the rootDSE of %s", l->host);
	if (l->root_dse.count != 1)
		return ae_set_message(ctx, AE_ERR_LDAP, "%s returned no rootDSE: is it an Active Directory DC?",
		                      l->host);
	for (size_t i = 0; i < 3; i++) {
		char *v = ae_entry_string(&l->root_dse.entries[0], ncs[i]);
		*dst[i] = v != NULL ? ae_ldap_extended_dn(v, guid) : NULL;
		if (dst[i] == &l->root_domain_nc && *dst[i] != NULL)
			memcpy(l->root_domain_guid, guid, sizeof(guid));
		free(v);
	}
	l->dns_host_name = ae_entry_string(&l->root_dse.entries[0], "dnsHostName");
	if (l->config_nc == NULL || l->default_nc == NULL || l->root_domain_nc == NULL)
		return ae_set_message(ctx, AE_ERR_LDAP,
		                      "the rootDSE of %s has no configurationNamingContext/defaultNamingContext: not an Active Directory DC",
		                      l->host);
	return AE_OK;
}

/* One SASL bind with MECH.  Every request it sends is a round trip: GSSAPI
 * takes three (the Kerberos exchange, then RFC 4752's security-layer
 * negotiation), GSS-SPNEGO one (AD derives the layer from the Kerberos
 * context, MS-ADTS 5.1.1.1.2).  Each answer is awaited at most
 * ldap_timeout.  Returns an LDAP result code; *SENT counts the requests. */
static int
sasl_bind(ae_ctx *ctx, ae_ldap *l, const char *mech, unsigned *sent)
{
	LDAPMessage *res = NULL;
	const char *rmech = NULL;
	int msgid = -1, rc;

	*sent = 0;
	for (;;) {
		struct timeval tv = { l->timeout, 0 };

		rc = ldap_sasl_interactive_bind(l->ld, NULL, mech, NULL, NULL, LDAP_SASL_QUIET, sasl_interact,
		                                NULL, res, &rmech, &msgid);
		ldap_msgfree(res);
		res = NULL;
		if (rc != LDAP_SASL_BIND_IN_PROGRESS)
			return rc;
		(*sent)++;
		l->round_trips++;
		ae_log(ctx, AE_LOG_DEBUG, "LDAP round trip %u: SASL/%s bind, step %u", l->round_trips, mech, *sent);
		rc = ldap_result(l->ld, msgid, LDAP_MSG_ALL, &tv, &res);
		if (rc == 0)
			return LDAP_TIMEOUT;
		if (rc < 0 || res == NULL) {
			ldap_msgfree(res);
			if (ldap_get_option(l->ld, LDAP_OPT_RESULT_CODE, &rc) != LDAP_SUCCESS || rc == LDAP_SUCCESS)
				rc = LDAP_SERVER_DOWN;
			return rc;
		}
	}
}

/* GSS-SPNEGO as Windows binds (one round trip); GSSAPI when this host's
 * SASL has no GSS-SPNEGO or the DC refuses it. */
static int
bind_kerberos(ae_ctx *ctx, ae_ldap *l)
{
	const char *forced = ae_test_env("LDAP_SASL_MECH");
	unsigned sent;
	int rc;

	l->mech = forced != NULL ? forced : "GSS-SPNEGO";
	rc = sasl_bind(ctx, l, l->mech, &sent);
	if ((rc == LDAP_AUTH_UNKNOWN && sent == 0) || rc == LDAP_AUTH_METHOD_NOT_SUPPORTED) {
		l->mech = "GSSAPI";
		rc = sasl_bind(ctx, l, l->mech, &sent);
	}
	return rc;
}

/* A connected, not yet bound session with HOST, every step bounded by
 * ldap_timeout. */
static ae_err
ldap_open(ae_ctx *ctx, const ae_conf *conf, const char *host, ae_ldap **out)
{
	ae_ldap *l = NULL;
	char *uri = NULL;
	const char *forced;
	struct timeval tv;
	int version = LDAP_VERSION3, rc;
	double start;
	ae_err err;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	l->timeout = conf->ldap_timeout;
	l->page_size = AE_LDAP_PAGE_SIZE;
	/* Test hook: $AE_TEST_LDAP_PAGE_SIZE forces small pages so the lab
	 * tests exercise paging end to end. */
	if ((forced = ae_test_env("LDAP_PAGE_SIZE")) != NULL && atoi(forced) >= 1 && atoi(forced) <= 1000)
		l->page_size = atoi(forced);
	ae_conf_setting(conf, "global", "ldap_timeout", l->setting, sizeof(l->setting));
	l->host = strdup(host);
	if (l->host == NULL || asprintf(&uri, "ldap://%s", host) < 0) {
		uri = NULL;
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	rc = ldap_initialize(&l->ld, uri);
	if (rc != LDAP_SUCCESS) {
		err = ae_set_message(ctx, AE_ERR_CONFIG, "bad LDAP server name \"%s\": %s",
		                     host, ldap_err2string(rc));
		goto cleanup;
	}
	tv.tv_sec = l->timeout;
	tv.tv_usec = 0;
	ldap_set_option(l->ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(l->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(l->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(l->ld, LDAP_OPT_TIMEOUT, &tv);
	ldap_set_option(l->ld, LDAP_OPT_TIMELIMIT, &l->timeout);
	/* Use the name as given for the service principal: a reverse lookup
	 * would let DNS choose whom we authenticate to. */
	ldap_set_option(l->ld, LDAP_OPT_X_SASL_NOCANON, LDAP_OPT_ON);
	rc = ldap_set_option(l->ld, LDAP_OPT_X_SASL_SECPROPS, "minssf=56,noanonymous,noplain");
	if (rc != LDAP_SUCCESS) {
		err = ae_set_message(ctx, AE_ERR_LDAP, "cannot require a sealed SASL session: %s",
		                     ldap_err2string(rc));
		goto cleanup;
	}

	start = ae_monotonic_seconds();
	rc = ldap_connect(l->ld);
	if (rc != LDAP_SUCCESS) {
		err = ldap_failure(ctx, l, rc, "LDAP connect", ae_monotonic_seconds() - start);
		goto cleanup;
	}
	*out = l;
	l = NULL;
	err = AE_OK;
cleanup:
	free(uri);
	ae_ldap_free(l);
	return err;
}

/* The peer must prove it is a domain controller before anything it says
 * is read.  A sealed bind proves only that it holds the key of the account
 * with the SPN ldap/HOST, and any domain user may create a computer account
 * (ms-DS-MachineAccountQuota, 10 by default) and give it such an SPN; with
 * spoofed DNS it would then serve the policy, the templates and the CAs
 * whose roots the machine installs.  The proof: the KDC marked the service
 * ticket for ldap/HOST ok-as-delegate.  A Windows or Samba KDC sets that
 * flag exactly for service accounts trusted for delegation (MS-KILE
 * 3.1.5.4, 3.3.5.1: TrustedForDelegation is userAccountControl's
 * TRUSTED_FOR_DELEGATION), which every writable DC has (0x82000:
 * SERVER_TRUST_ACCOUNT | TRUSTED_FOR_DELEGATION) and which only holders of
 * SeEnableDelegationPrivilege (domain admins) can set: an account a user
 * created under MachineAccountQuota does not have it.  The flag travels in
 * the KDC reply's part encrypted with our TGT's session key, so the server
 * cannot forge it.  Limits: any server an admin trusted for unconstrained
 * delegation passes, read-only DCs (not trusted for delegation) do not, and
 * a stolen DC key defeats it; `servers` pinned in the configuration (no DNS)
 * is the stronger option. */
static ae_err
prove_dc(ae_ctx *ctx, ae_ldap *l)
{
	char *server = NULL;
	size_t found = 0;
	bool ok = false;
	ae_err err;

	err = ae_krb_service_ok_as_delegate(ctx, "ldap", l->host, &found, &ok, &server);
	if (err != AE_OK)
		return ae_prefix_message(ctx, err, "cannot verify that %s is a domain controller", l->host);
	if (found == 0)
		err = ae_set_message(ctx, AE_ERR_DENIED,
		                     "cannot verify that %s is a domain controller: no service ticket for ldap/%s in the credential cache after the bind; nothing from it is trusted",
		                     l->host, l->host);
	else if (!ok)
		err = ae_set_message(ctx, AE_ERR_DENIED,
		                     "%s is not a domain controller: the KDC's ticket for its principal %s lacks the ok-as-delegate flag, which it sets for every domain controller (the account is not trusted for delegation: userAccountControl without TRUSTED_FOR_DELEGATION); nothing from it is trusted. If DNS sent us there, pin the DCs with servers in [global]",
		                     l->host, server);
	else
		ae_log(ctx, AE_LOG_DEBUG, "%s proved a domain controller: its ticket %s is ok-as-delegate", l->host,
		       server);
	free(server);
	return err;
}

ae_err
ae_ldap_connect(ae_ctx *ctx, const ae_conf *conf, const char *host, ae_ldap **out)
{
	return ae_ldap_connect_dc(ctx, conf, host, out, NULL);
}

ae_err
ae_ldap_connect_dc(ae_ctx *ctx, const ae_conf *conf, const char *host, ae_ldap **out, bool *unproven)
{
	ae_ldap *l = NULL;
	ber_len_t ssf = 0;
	double start;
	int rc;
	ae_err err;

	*out = NULL;
	if (unproven != NULL)
		*unproven = false;
	err = ldap_open(ctx, conf, host, &l);
	if (err != AE_OK)
		return err;
	start = ae_monotonic_seconds();
	rc = bind_kerberos(ctx, l);
	if (rc != LDAP_SUCCESS) {
		char what[64];
		snprintf(what, sizeof(what), "LDAP SASL/%s bind", l->mech);
		err = ldap_failure(ctx, l, rc, what, ae_monotonic_seconds() - start);
		goto cleanup;
	}
	if (ldap_get_option(l->ld, LDAP_OPT_X_SASL_SSF, &ssf) != LDAP_SUCCESS || ssf < AE_LDAP_MIN_SSF) {
		err = ae_set_message(ctx, AE_ERR_DENIED,
		                     "the LDAP session with %s is not sealed (SSF %lu): refusing to read the enrollment policy without Kerberos confidentiality",
		                     host, (unsigned long)ssf);
		goto cleanup;
	}
	l->ssf = (int)ssf;
	if ((err = prove_dc(ctx, l)) != AE_OK) {
		if (unproven != NULL)
			*unproven = true;
		goto cleanup;
	}
	err = read_root_dse(ctx, l);
	if (err != AE_OK)
		goto cleanup;
	*out = l;
	l = NULL;
cleanup:
	ae_ldap_free(l);
	return err;
}

ae_err
ae_ldap_current_time(ae_ctx *ctx, const ae_conf *conf, const char *host, time_t *out)
{
	static const char *const attrs[] = { "currentTime", NULL };
	ae_ldap_result res = { 0 };
	ae_ldap *l = NULL;
	char *v = NULL;
	ae_err err;

	*out = 0;
	err = ldap_open(ctx, conf, host, &l);
	if (err != AE_OK)
		return err;
	/* The rootDSE is readable before any bind (MS-ADTS 3.1.1.3.2). */
	err = ae_ldap_search(ctx, l, "", "base", "(objectClass=*)", attrs, 0, &res);
	if (err != AE_OK)
		goto cleanup;
	v = res.count == 1 ? ae_entry_string(&res.entries[0], "currentTime") : NULL;
	if (!ae_parse_generalized_time(v, out)) {
		err = ae_set_message(ctx, AE_ERR_LDAP, "the rootDSE of %s has no currentTime (GeneralizedTime)", host);
		goto cleanup;
	}
	err = AE_OK;
cleanup:
	free(v);
	ae_ldap_result_free(&res);
	ae_ldap_free(l);
	return err;
}

static void
store_free(entry_store *st, size_t count)
{
	for (size_t i = 0; st != NULL && i < count; i++) {
		for (size_t j = 0; j < st[i].nattrs; j++) {
			for (size_t k = 0; k < st[i].attrs[j].nvalues; k++)
				free((void *)st[i].attrs[j].values[k].data);
			free((void *)st[i].attrs[j].values);
			free((void *)st[i].attrs[j].name);
		}
		free(st[i].attrs);
		free(st[i].dn);
	}
	free(st);
}

void
ae_ldap_result_free(ae_ldap_result *res)
{
	if (res == NULL)
		return;
	store_free(res->storage_, res->count);
	free(res->entries);
	memset(res, 0, sizeof(*res));
}

/* Copies one LDAP entry into ST. */
static ae_err
copy_entry(ae_ctx *ctx, LDAP *ld, LDAPMessage *msg, entry_store *st)
{
	BerElement *ber = NULL;
	char *dn, *name;
	ae_err err = AE_OK;

	dn = ldap_get_dn(ld, msg);
	st->dn = strdup(dn ? dn : "");
	ldap_memfree(dn);
	if (st->dn == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	for (name = ldap_first_attribute(ld, msg, &ber); name != NULL;
	     name = ldap_next_attribute(ld, msg, ber)) {
		struct berval **vals = ldap_get_values_len(ld, msg, name);
		size_t n = (size_t)ldap_count_values_len(vals);
		ae_attr *na = realloc(st->attrs, (st->nattrs + 1) * sizeof(*na));
		ae_value *values;

		if (na == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			ldap_value_free_len(vals);
			ldap_memfree(name);
			break;
		}
		st->attrs = na;
		values = calloc(n ? n : 1, sizeof(*values));
		st->attrs[st->nattrs].name = strdup(name);
		st->attrs[st->nattrs].values = values;
		st->attrs[st->nattrs].nvalues = 0;
		st->nattrs++;
		ldap_memfree(name);
		if (values == NULL || st->attrs[st->nattrs - 1].name == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			ldap_value_free_len(vals);
			break;
		}
		for (size_t k = 0; k < n; k++) {
			/* One spare NUL so string users are safe; len excludes it. */
			uint8_t *d = malloc(vals[k]->bv_len + 1);
			if (d == NULL) {
				err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
				break;
			}
			memcpy(d, vals[k]->bv_val, vals[k]->bv_len);
			d[vals[k]->bv_len] = 0;
			values[k].data = d;
			values[k].len = vals[k]->bv_len;
			st->attrs[st->nattrs - 1].nvalues++;
		}
		ldap_value_free_len(vals);
		if (err != AE_OK)
			break;
	}
	ber_free(ber, 0);
	return err;
}

ae_err
ae_ldap_search(ae_ctx *ctx, ae_ldap *l, const char *base, const char *scope_name,
               const char *filter, const char *const *attrs, int flags, ae_ldap_result *out)
{
	static const char sd_dacl[] = { 0x30, 0x03, 0x02, 0x01, 0x04 };
	static const char ext_dn_string[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	struct berval cookie = { 0, NULL };
	LDAPControl *page = NULL, sdctl, extdn, *ctrls[4];
	unsigned pages = 0;
	entry_store *st = NULL;
	size_t count = 0, cap = 0;
	struct timeval tv = { l->timeout, 0 };
	int scope, rc;
	double start;
	ae_err err = AE_OK;
	char what[768];

	memset(out, 0, sizeof(*out));
	if (strcmp(scope_name, "base") == 0)
		scope = LDAP_SCOPE_BASE;
	else if (strcmp(scope_name, "one") == 0)
		scope = LDAP_SCOPE_ONELEVEL;
	else
		scope = LDAP_SCOPE_SUBTREE;
	snprintf(what, sizeof(what), "LDAP search of %s", base[0] ? base : "the rootDSE");

	do {
		LDAPMessage *res = NULL, *msg;
		LDAPControl **rctrls = NULL;
		int n = 0, errcode = 0;
		ber_int_t estimate = 0;

		rc = ldap_create_page_control(l->ld, l->page_size, cookie.bv_val ? &cookie : NULL,
		                              0, &page);
		if (rc != LDAP_SUCCESS) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "cannot build the paged-results control");
			break;
		}
		ctrls[n++] = page;
		if (flags & AE_LDAP_SD_DACL) {
			/* DACL only: non-admins cannot read the SACL, and asking for
			 * it would make the DC drop the whole descriptor. */
			sdctl.ldctl_oid = (char *)"1.2.840.113556.1.4.801";
			sdctl.ldctl_value.bv_val = (char *)sd_dacl;
			sdctl.ldctl_value.bv_len = sizeof(sd_dacl);
			sdctl.ldctl_iscritical = 1;
			ctrls[n++] = &sdctl;
		}
		if (flags & AE_LDAP_EXTENDED_DN) {
			/* Not critical: a DC without it gives plain DNs. */
			extdn.ldctl_oid = (char *)LDAP_CONTROL_X_EXTENDED_DN;
			extdn.ldctl_value.bv_val = (char *)ext_dn_string;
			extdn.ldctl_value.bv_len = sizeof(ext_dn_string);
			extdn.ldctl_iscritical = 0;
			ctrls[n++] = &extdn;
		}
		ctrls[n] = NULL;
		start = ae_monotonic_seconds();
		rc = ldap_search_ext_s(l->ld, base, scope, filter, (char **)attrs, 0, ctrls, NULL,
		                       &tv, 0, &res);
		l->round_trips++;
		ae_log(ctx, AE_LOG_DEBUG, "LDAP round trip %u: %s search of %s, page %u", l->round_trips,
		       scope_name, base[0] ? base : "the rootDSE", ++pages);
		ldap_control_free(page);
		page = NULL;
		if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
			if (rc == LDAP_NO_SUCH_OBJECT)
				err = ae_set_message(ctx, AE_ERR_NOTFOUND, "%s: no such object", what);
			else
				err = ldap_failure(ctx, l, rc, what, ae_monotonic_seconds() - start);
			ldap_msgfree(res);
			break;
		}
		for (msg = ldap_first_entry(l->ld, res); msg != NULL; msg = ldap_next_entry(l->ld, msg)) {
			if (count >= AE_LDAP_MAX_ENTRIES) {
				err = ae_set_message(ctx, AE_ERR_LDAP, "%s: more than %d entries", what,
				                     AE_LDAP_MAX_ENTRIES);
				break;
			}
			if (count == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				entry_store *ns = realloc(st, ncap * sizeof(*ns));
				if (ns == NULL) {
					err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
					break;
				}
				memset(ns + cap, 0, (ncap - cap) * sizeof(*ns));
				st = ns;
				cap = ncap;
			}
			count++;
			err = copy_entry(ctx, l->ld, msg, &st[count - 1]);
			if (err != AE_OK)
				break;
		}
		if (err == AE_OK)
			rc = ldap_parse_result(l->ld, res, &errcode, NULL, NULL, NULL, &rctrls, 0);
		ldap_msgfree(res);
		if (err != AE_OK)
			break;
		ber_memfree(cookie.bv_val);
		cookie.bv_val = NULL;
		cookie.bv_len = 0;
		if (rc == LDAP_SUCCESS && rctrls != NULL) {
			LDAPControl *pr = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, rctrls, NULL);
			if (pr != NULL &&
			    ldap_parse_pageresponse_control(l->ld, pr, &estimate, &cookie) != LDAP_SUCCESS) {
				cookie.bv_val = NULL;
				cookie.bv_len = 0;
			}
		}
		ldap_controls_free(rctrls);
	} while (cookie.bv_val != NULL && cookie.bv_len > 0);
	ber_memfree(cookie.bv_val);

	if (err != AE_OK) {
		store_free(st, count);
		return err;
	}
	out->entries = calloc(count ? count : 1, sizeof(ae_entry));
	if (out->entries == NULL) {
		store_free(st, count);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < count; i++) {
		out->entries[i].dn = st[i].dn;
		out->entries[i].attrs = st[i].attrs;
		out->entries[i].nattrs = st[i].nattrs;
	}
	out->count = count;
	out->storage_ = st;
	return AE_OK;
}

ae_err
ae_ldap_delete_value(ae_ctx *ctx, ae_ldap *l, const char *dn, const char *attr, const uint8_t *value, size_t len)
{
	struct berval bv = { (ber_len_t)len, (char *)value };
	struct berval *vals[2] = { &bv, NULL };
	LDAPMod mod = { 0 }, *mods[2] = { &mod, NULL };
	char what[768];
	double start = ae_monotonic_seconds();
	int rc;

	mod.mod_op = LDAP_MOD_DELETE | LDAP_MOD_BVALUES;
	mod.mod_type = (char *)attr;
	mod.mod_bvalues = vals;
	snprintf(what, sizeof(what), "removing a value of %s from %s", attr, dn);
	rc = ldap_modify_ext_s(l->ld, dn, mods, NULL, NULL);
	l->round_trips++;
	if (rc == LDAP_NO_SUCH_ATTRIBUTE)
		return AE_OK; /* already gone */
	if (rc != LDAP_SUCCESS)
		return ldap_failure(ctx, l, rc, what, ae_monotonic_seconds() - start);
	return AE_OK;
}

ae_err
ae_ldap_read_attribute(ae_ctx *ctx, ae_ldap *l, const char *dn, const char *attr, ae_value **values_out,
                       size_t *count_out)
{
	const char *attrs[] = { attr, NULL };
	ae_ldap_result res = { 0 };
	const ae_attr *a;
	ae_value *values = NULL;
	size_t n = 0;
	ae_err err;

	*values_out = NULL;
	*count_out = 0;
	err = ae_ldap_search(ctx, l, dn, "base", "(objectClass=*)", attrs, 0, &res);
	if (err != AE_OK)
		return err;
	a = res.count > 0 ? ae_entry_get(&res.entries[0], attr) : NULL;
	if (a != NULL && a->nvalues > 0) {
		if ((values = calloc(a->nvalues, sizeof(*values))) == NULL) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		for (n = 0; n < a->nvalues; n++) {
			uint8_t *d = malloc(a->values[n].len + 1);
			if (d == NULL) {
				err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
				goto cleanup;
			}
			memcpy(d, a->values[n].data, a->values[n].len);
			d[a->values[n].len] = 0;
			values[n].data = d;
			values[n].len = a->values[n].len;
		}
	}
	*values_out = values;
	*count_out = n;
	values = NULL;
cleanup:
	if (values != NULL)
		ae_values_free(values, n);
	ae_ldap_result_free(&res);
	return err;
}
