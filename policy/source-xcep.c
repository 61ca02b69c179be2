/*
 * source-xcep.c - the enrollment policy of a CEP (MS-XCEP 3.1.4.1
 * GetPolicies) as a policy source, and the policy servers of a context
 * (xcep.h).
 *
 * What differs from AD: no security descriptor travels over MS-XCEP; the
 * server evaluates the caller's rights, lists only the templates the
 * caller may enroll for (MS-XCEP 3.1.4.1.3.24 EnrollmentPermission) and
 * says whether AutoEnroll is granted.  The CAs come with their CES URIs
 * (3.1.4.1.3.2 CAURI) and no name: the CA certificate's CN names them, as
 * certutil shows them.  CA certificates and the servers' TLS are checked
 * against the roots the machine took from AD (the trust directory's
 * roots.pem, core/trust.h) and the system's trust.
 */
#include "config.h"

#include "ces.h"
#include "http.h"
#include "krb.h"
#include "store.h"
#include "soap.h"
#include "transport.h"
#include "util.h"
#include "xcep.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#define ACT_GETPOLICIES AE_NS_XCEP "/IPolicy/GetPolicies"
#define XCEP_MAX_ANSWER (4 * 1024 * 1024)
#define ROOTS_MAX (4 * 1024 * 1024)

/* ---- the source: one CEP ---- */

typedef struct {
	const ae_conf *conf;
	ae_krb *krb;        /* Kerberos; NULL with a user name and password */
	char *password;     /* cep_password_file's, with conf->cep_username */
	char *cert_subject; /* cep_client_cert's subject, with a client certificate */
	ae_cep_token_cred token; /* its key on a token (cep_client_key = pkcs11:...) */
	char *url;
	char *cache;        /* file of the last answer, NULL: none */
	char *trust_pem;    /* AD's roots as the machine keeps them, NULL: none */
	unsigned trips;
} xcep_source;

/* The roots the machine took from AD (trust_dir/roots.pem): trusted for
 * the CAs and the servers' TLS beside the system's. */
static char *
read_roots(ae_ctx *ctx, const ae_conf *conf)
{
	char *path = NULL, *pem = NULL, *dir = NULL;
	size_t len;

	(void)ctx;
	if (conf->trust_dir != NULL)
		path = ae_strdup_printf("%s/roots.pem", conf->trust_dir);
	else if ((dir = conf->machine_state_dir ? strdup(conf->machine_state_dir) : ae_store_default_dir(true)) != NULL)
		path = ae_strdup_printf("%s/trust/roots.pem", dir);
	free(dir);
	if (path != NULL)
		pem = ae_read_file(path, ROOTS_MAX, &len);
	free(path);
	return pem;
}

static ae_err
add_roots(ae_ctx *ctx, const char *pem, ae_pki *pki)
{
	BIO *bio;
	X509 *c;

	if (pem == NULL)
		return AE_OK;
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL ||
	    (pki->roots == NULL && (pki->roots = sk_X509_new_null()) == NULL)) {
		BIO_free(bio);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	while ((c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(pki->roots, c) <= 0)
			X509_free(c);
	BIO_free(bio);
	return AE_OK;
}

static char *
iso_time(time_t t)
{
	struct tm tm;
	char buf[32];

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return NULL;
	return strdup(buf);
}

/* One GetPolicies (MS-XCEP 3.1.4.1.1) with the client's lastUpdate. */
static ae_err
get_policies(ae_ctx *ctx, xcep_source *xs, time_t last_update, ae_http_response **out)
{
	char setting[256], what[300], shown[240], *body = NULL, *last = NULL;
	ae_err err;

	*out = NULL;
	snprintf(what, sizeof(what), "the CEP at %s", ae_url_shown(xs->url, shown, sizeof(shown)));
	last = last_update ? iso_time(last_update) : strdup("0001-01-01T00:00:00");
	if (last == NULL ||
	    (body = ae_strdup_printf("<GetPolicies xmlns=\"" AE_NS_XCEP "\"><client><lastUpdate>%s</lastUpdate>"
	                             "<preferredLanguage xsi:nil=\"true\"/></client><requestFilter xsi:nil=\"true\"/>"
	                             "</GetPolicies>",
	                             last)) == NULL) {
		free(last);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	{
		ae_soap_call call = { .url = xs->url, .action = ACT_GETPOLICIES, .body = body, .what = what,
			              .http_what = "the CEP", .username = xs->conf->cep_username,
			              .password = xs->password, .trust_pem = xs->trust_pem,
			              .client_cert = xs->password ? NULL : xs->token.shown ? xs->token.shown : xs->conf->cep_client_cert,
			              .client_key = xs->conf->cep_client_key, .client_x509 = xs->token.x509,
			              .client_pkey = xs->token.pkey,
			              .channel_binding = xs->conf->cep_channel_binding,
			              .timeout = xs->conf->rpc_timeout,
			              .timeout_setting = ae_conf_setting(xs->conf, "global", "rpc_timeout", setting,
			                                                 sizeof(setting)),
			              .max_answer = XCEP_MAX_ANSWER };
		err = ae_soap_post(ctx, &call, out, &xs->trips);
	}
	free(body);
	free(last);
	return err;
}

static void
write_cache(ae_ctx *ctx, const char *path, const void *data, size_t len)
{
	char *tmp = ae_strdup_printf("%s.tmp", path), *dir = strdup(path);
	FILE *f;
	bool ok;

	/* the state directory and its parents, as the store makes them
	 * (0700), if not there yet */
	if (dir != NULL && strrchr(dir, '/') != NULL && strrchr(dir, '/') != dir) {
		*strrchr(dir, '/') = '\0';
		for (char *s = strchr(dir + 1, '/');; s = strchr(s + 1, '/')) {
			if (s != NULL)
				*s = '\0';
			(void)mkdir(dir, 0700);
			if (s == NULL)
				break;
			*s = '/';
		}
	}
	free(dir);
	f = tmp ? fopen(tmp, "we") : NULL;
	if (f != NULL)
		(void)fchmod(fileno(f), 0600);
	ok = f != NULL && fwrite(data, 1, len, f) == len;
	if (f != NULL && fclose(f) != 0)
		ok = false;
	if (ok && rename(tmp, path) == 0) {
		struct utimbuf ut = { (time_t)ae_now(), (time_t)ae_now() };
		utime(path, &ut);
	} else if (tmp != NULL) {
		ae_log(ctx, AE_LOG_WARNING, "cannot keep the policy server's answer in %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
}

/* Who the caller is without Kerberos: the user name, or the client
 * certificate's subject. */
static const char *
src_principal(const xcep_source *xs)
{
	return xs->password != NULL ? xs->conf->cep_username : xs->cert_subject ? xs->cert_subject : "?";
}

static unsigned
xs_auth(const xcep_source *xs)
{
	return xs->password != NULL ? AE_XCEP_AUTH_PASSWORD
	       : ae_cep_client_cert_configured(xs->conf) ? AE_XCEP_AUTH_CERTIFICATE : AE_XCEP_AUTH_KERBEROS;
}

static ae_err
xcep_read(ae_ctx *ctx, ae_policy_source *src, ae_context context, ae_policy **out)
{
	xcep_source *xs = src->data;
	ae_policy *p = NULL;
	ae_xcep_info info, cinfo = { 0 };
	ae_http_response *resp = NULL;
	char *cached = NULL, what[300], shown[240];
	size_t clen = 0;
	struct stat st;
	time_t fetched = 0, now = (time_t)ae_now();
	bool use_cache = false;
	ae_err err;

	*out = NULL;
	snprintf(what, sizeof(what), "the CEP at %s", ae_url_shown(xs->url, shown, sizeof(shown)));
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	p->context = context;
	/* The cached answer: reused for its nextUpdateHours (MS-XCEP
	 * 3.1.4.1.3.23), then offered as lastUpdate. */
	if (xs->cache != NULL && stat(xs->cache, &st) == 0 &&
	    (cached = ae_read_file(xs->cache, XCEP_MAX_ANSWER, &clen)) != NULL) {
		ae_policy probe = { .context = context };
		if (ae_xcep_parse(ctx, what, cached, clen, xs_auth(xs), &probe, &cinfo) == AE_OK && !cinfo.not_changed) {
			fetched = st.st_mtime;
			use_cache = cinfo.next_update_hours > 0 && now >= fetched &&
			            now - fetched < (time_t)cinfo.next_update_hours * 3600;
		} else {
			free(cached);
			cached = NULL;
		}
		ae_policy_clear(&probe);
	}
	if (!use_cache) {
		if ((err = get_policies(ctx, xs, cached ? fetched : 0, &resp)) != AE_OK)
			goto cleanup;
		if ((err = ae_xcep_parse(ctx, what, (const char *)resp->body, resp->body_len, xs_auth(xs), p, &info)) != AE_OK)
			goto cleanup;
		if (info.not_changed && cached != NULL) {
			ae_policy_clear(p);
			p->context = context;
			use_cache = true;
			struct utimbuf ut = { now, now };
			utime(xs->cache, &ut);
		} else if (info.not_changed) {
			err = ae_set_message(ctx, AE_ERR_INVALID, "%s said the policies had not changed, but we hold none", what);
			goto cleanup;
		} else if (xs->cache != NULL) {
			write_cache(ctx, xs->cache, resp->body, resp->body_len);
		}
	}
	if (use_cache) {
		if ((err = ae_xcep_parse(ctx, what, cached, clen, xs_auth(xs), p, &info)) != AE_OK)
			goto cleanup;
		p->origin.from_cache = true;
	}
	p->url = strdup(xs->url);
	p->principal = strdup(xs->krb != NULL ? ae_krb_principal(xs->krb) : src_principal(xs));
	p->origin.server = strdup(xs->url);
	if (p->url == NULL || p->principal == NULL || p->origin.server == NULL ||
	    (p->friendly_name == NULL && (p->friendly_name = strdup(xs->url)) == NULL)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	p->origin.next_update_hours = info.next_update_hours;
	p->origin.filtered_by_server = true;
	p->origin.round_trips = xs->trips;
	/* The caller, as far as a CEP knows it: the Kerberos principal, or
	 * the user name. */
	if ((p->account.display = strdup(p->principal)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if ((err = add_roots(ctx, xs->trust_pem, &p->pki)) != AE_OK)
		goto cleanup;
	ae_pki_validate(ctx, &p->pki, ae_now_shifted() ? (time_t)ae_now() : 0);
	for (size_t i = 0; i < p->pki.ca_count; i++) {
		ae_ca *ca = &p->pki.cas[i];
		if ((ca->url != NULL || ca->renewal_urls != NULL) &&
		    (err = ae_ces_trust(ctx, &p->pki, &ca->endpoint_trust)) != AE_OK)
			goto cleanup;
		/* a CA with only renewal-only URIs stays: it renews (txn.h) */
		if (ca->url == NULL && ca->renewal_urls == NULL && ca->valid) {
			ca->valid = false;
			free(ca->invalid_reason);
			if ((ca->invalid_reason = strdup("no CES URI with Kerberos authentication in the policy")) == NULL) {
				err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
				goto cleanup;
			}
		}
	}
	ae_log(ctx, AE_LOG_DEBUG, "policy %s read from %s%s: %zu templates, %zu CAs, %zu OIDs, next update in %u hours",
	       p->policy_id, xs->url, p->origin.from_cache ? " (cached)" : "", p->template_count, p->pki.ca_count,
	       p->oid_count, info.next_update_hours);
	*out = p;
	p = NULL;
cleanup:
	ae_http_response_free(resp);
	free(cached);
	ae_policy_free(p);
	return err;
}

static unsigned
xcep_round_trips(const ae_policy_source *src)
{
	return ((const xcep_source *)src->data)->trips;
}

static void
xcep_free(ae_policy_source *src)
{
	xcep_source *xs = src->data;

	if (xs == NULL)
		return;
	ae_krb_free(xs->krb);
	ae_cep_token_cred_clear(&xs->token);
	if (xs->password != NULL)
		OPENSSL_cleanse(xs->password, strlen(xs->password));
	free(xs->password);
	free(xs->cert_subject);
	free(xs->url);
	free(xs->cache);
	free(xs->trust_pem);
	free(xs);
}

static const ae_policy_source_ops xcep_ops = {
	.name = "MS-XCEP",
	.where = "the policy server",
	.read = xcep_read,
	.round_trips = xcep_round_trips,
	.free = xcep_free,
};

/* The configured client certificate's subject; it and its key must be
 * there (the key a file of the caller's, as the password file). */
static ae_err
client_cert_subject(ae_ctx *ctx, const ae_conf *conf, char **out)
{
	char setting[256], *pem, *key = NULL;
	size_t len;
	BIO *bio;
	X509 *c = NULL;
	ae_err err;

	*out = NULL;
	ae_conf_setting(conf, "global", "cep_client_cert", setting, sizeof(setting));
	if (conf->cep_client_key == NULL)
		return ae_set_message(ctx, AE_ERR_CONFIG, "cep_client_cert is set but not cep_client_key (%s)", setting);
	/* the key: a file only the caller reads (the reader checks that) */
	if ((err = ae_read_password_file(ctx, conf->cep_client_key, "cep_client_key", &key)) != AE_OK)
		return err;
	OPENSSL_cleanse(key, strlen(key));
	free(key);
	if ((pem = ae_read_file(conf->cep_client_cert, 1 << 20, &len)) == NULL)
		return ae_set_message(ctx, AE_ERR_IO, "cannot read the client certificate %s (%s)", conf->cep_client_cert,
		                      setting);
	if ((bio = BIO_new_mem_buf(pem, (int)len)) != NULL)
		c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	free(pem);
	if (c == NULL)
		return ae_set_message(ctx, AE_ERR_INVALID, "%s (%s) holds no PEM certificate", conf->cep_client_cert, setting);
	*out = ae_x509_name_string(X509_get_subject_name(c));
	X509_free(c);
	return *out != NULL ? AE_OK : ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
}

ae_err
ae_policy_source_xcep(ae_ctx *ctx, const ae_conf *conf, ae_context context, const char *url, const char *state_dir,
                      ae_policy_source **out)
{
	ae_policy_source *src;
	xcep_source *xs;
	ae_err err;

	*out = NULL;
	if (strncasecmp(url, "https://", 8) != 0)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "policy server %s: only https:// policy servers are used (MS-XCEP over TLS), or LDAP:",
		                      url);
	src = calloc(1, sizeof(*src));
	xs = calloc(1, sizeof(*xs));
	if (src == NULL || xs == NULL || (xs->url = strdup(url)) == NULL) {
		free(src);
		if (xs != NULL)
			free(xs->url);
		free(xs);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	src->ops = &xcep_ops;
	src->data = xs;
	xs->conf = conf;
	xs->trust_pem = read_roots(ctx, conf);
	if (state_dir != NULL) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned mdlen = 0;
		char hex[17];
		EVP_Digest(url, strlen(url), md, &mdlen, EVP_sha256(), NULL);
		for (int i = 0; i < 8; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		xs->cache = ae_strdup_printf("%s/cep-%s.xml", state_dir, hex);
	}
	if (conf->cep_username != NULL) {
		/* user name and password (WS-Security UsernameToken over TLS),
		 * as a host outside the domain authenticates */
		char what[300], shown[200];
		snprintf(what, sizeof(what), "policy server %s", ae_url_shown(url, shown, sizeof(shown)));
		err = ae_cep_password(ctx, conf, what, &xs->password);
		if (err == AE_OK && (src->principal = strdup(conf->cep_username)) == NULL)
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	} else if (ae_cep_client_cert_configured(conf)) {
		/* a TLS client certificate (the CEP's Certificate endpoint) */
		if (!ae_cep_key_on_token(conf))
			err = client_cert_subject(ctx, conf, &xs->cert_subject);
		else if ((err = ae_cep_token_cred_open(ctx, conf, &xs->token)) == AE_OK &&
		         (xs->cert_subject = ae_x509_name_string(X509_get_subject_name(xs->token.x509))) == NULL)
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		if (err == AE_OK && (src->principal = strdup(xs->cert_subject)) == NULL)
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	} else {
		err = ae_policy_source_credentials(ctx, conf, context, src, &xs->krb);
	}
	if (err != AE_OK) {
		ae_policy_source_free(src);
		return err;
	}
	*out = src;
	return AE_OK;
}

/* ---- the policy servers of a context ---- */

ae_err
ae_policy_servers_parse(ae_ctx *ctx, char *const *entries, ae_policy_server **out, size_t *count)
{
	size_t n = ae_strv_len(entries);
	ae_policy_server *s;

	*out = NULL;
	*count = 0;
	if ((s = calloc(n ? n : 1, sizeof(*s))) == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *at = strrchr(entries[i], '@');
		char *end = NULL;
		unsigned long cost = 10 * (unsigned long)i;
		size_t k = i;
		if (at != NULL) {
			cost = strtoul(at + 1, &end, 10);
			if (at[1] == '\0' || *end != '\0' || cost > 2147483647ul) {
				ae_policy_servers_free(s, i);
				return ae_set_message(ctx, AE_ERR_CONFIG,
				                      "policy server %s: the cost after @ must be a number up to 2147483647",
				                      entries[i]);
			}
		}
		/* insertion by cost, ties in list order */
		while (k > 0 && s[k - 1].cost > cost) {
			s[k] = s[k - 1];
			k--;
		}
		s[k] = (ae_policy_server){ .url = at ? strndup(entries[i], (size_t)(at - entries[i])) : strdup(entries[i]),
			                   .cost = (unsigned)cost };
		if (s[k].url == NULL) {
			ae_policy_servers_free(s, i + 1);
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
	}
	*out = s;
	*count = n;
	return AE_OK;
}

void
ae_policy_servers_free(ae_policy_server *servers, size_t count)
{
	for (size_t i = 0; servers != NULL && i < count; i++) {
		free(servers[i].url);
		free(servers[i].policy_id);
	}
	free(servers);
}

typedef struct {
	ae_policy_source **members;   /* one per server, same order */
	ae_policy_server *servers;
	size_t count;
	ae_policy_source *ldap;       /* the LDAP: member, for what only AD does */
} multi_source;

static bool
is_ldap(const char *url)
{
	return strcasecmp(url, "LDAP:") == 0;
}

/* Moves what OTHER has that P has not into P: templates by name, CAs by
 * name, OIDs; AD's account and trust when OTHER came from AD. */
static ae_err
merge(ae_ctx *ctx, ae_policy *p, ae_policy *o)
{
	ae_template **t = realloc(p->templates, (p->template_count + o->template_count + 1) * sizeof(*t));
	ae_ca *c = t ? realloc(p->pki.cas, (p->pki.ca_count + o->pki.ca_count + 1) * sizeof(*c)) : NULL;

	if (t != NULL)
		p->templates = t;
	if (c == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	p->pki.cas = c;
	for (size_t i = 0; i < o->template_count; i++) {
		bool dup = false;
		for (size_t j = 0; j < p->template_count && !dup; j++)
			dup = strcasecmp(p->templates[j]->name, o->templates[i]->name) == 0;
		if (!dup) {
			p->templates[p->template_count++] = o->templates[i];
			o->templates[i] = NULL;
		}
	}
	for (size_t i = 0; i < o->pki.ca_count; i++)
		if (ae_policy_find_ca(p, o->pki.cas[i].name) == NULL) {
			p->pki.cas[p->pki.ca_count++] = o->pki.cas[i];
			memset(&o->pki.cas[i], 0, sizeof(o->pki.cas[i]));
		}
	if (o->origin.config_nc != NULL && p->origin.config_nc == NULL) {
		ae_account a = p->account;
		STACK_OF(X509) *r = p->pki.roots, *im = p->pki.intermediates, *nt = p->pki.ntauth;
		char *nc = p->origin.config_nc, *dom = p->domain;
		p->account = o->account;
		o->account = a;
		p->pki.roots = o->pki.roots;
		p->pki.intermediates = o->pki.intermediates;
		p->pki.ntauth = o->pki.ntauth;
		o->pki.roots = r;
		o->pki.intermediates = im;
		o->pki.ntauth = nt;
		p->origin.config_nc = o->origin.config_nc;
		o->origin.config_nc = nc;
		p->domain = o->domain;
		o->domain = dom;
	}
	p->origin.round_trips += o->origin.round_trips;
	return AE_OK;
}

static ae_err
multi_read(ae_ctx *ctx, ae_policy_source *src, ae_context context, ae_policy **out)
{
	multi_source *ms = src->data;
	ae_policy *p = NULL;
	char **ids = NULL;
	ae_buf failed;
	ae_err err = AE_OK, last = AE_OK;

	*out = NULL;
	ae_buf_init(&failed);
	for (size_t i = 0; i < ms->count; i++) {
		ae_policy *q = NULL;
		if (ms->servers[i].policy_id != NULL && ae_strv_contains_nocase(ids, ms->servers[i].policy_id))
			continue;
		err = ms->members[i]->ops->read(ctx, ms->members[i], context, &q);
		if (err == AE_ERR_NOMEM)
			goto cleanup;
		if (err != AE_OK) {
			/* failover: the next server by cost (whitepaper: policy
			 * servers are tried in cost order) */
			ae_log(ctx, AE_LOG_WARNING, "policy server %s (cost %u) failed: %s", ms->servers[i].url,
			       ms->servers[i].cost, ae_get_message(ctx));
			ae_buf_printf(&failed, "%s%s: %s", failed.len ? "; " : "", ms->servers[i].url, ae_get_message(ctx));
			last = err;
			continue;
		}
		if (q->policy_id != NULL && ae_strv_contains_nocase(ids, q->policy_id)) {
			ae_policy_free(q);
			continue;
		}
		if (q->policy_id != NULL && !ae_strv_append(&ids, q->policy_id)) {
			ae_policy_free(q);
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		if (p == NULL) {
			p = q;
			continue;
		}
		err = merge(ctx, p, q);
		ae_policy_free(q);
		if (err != AE_OK)
			goto cleanup;
	}
	if (p == NULL) {
		err = ae_set_message(ctx, last != AE_OK ? last : AE_ERR_NOTFOUND, "no policy server answered: %s",
		                     failed.data ? failed.data : "none configured");
		goto cleanup;
	}
	if (failed.len > 0 && (p->origin.failover = ae_buf_steal(&failed)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	*out = p;
	p = NULL;
	err = AE_OK;
cleanup:
	ae_buf_clear(&failed);
	ae_strv_free(ids);
	ae_policy_free(p);
	return err;
}

static ae_err
multi_remove_ds_cert(ae_ctx *ctx, ae_policy_source *src, const char *dn, const uint8_t *der, size_t len)
{
	multi_source *ms = src->data;

	if (ms->ldap == NULL)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED, "no LDAP: policy server: no directory to remove a certificate from");
	return ae_policy_source_remove_ds_cert(ctx, ms->ldap, dn, der, len);
}

static ae_err
multi_read_attribute(ae_ctx *ctx, ae_policy_source *src, const char *dn, const char *attr, ae_value **values,
                     size_t *count)
{
	multi_source *ms = src->data;

	if (ms->ldap == NULL)
		return ae_policy_source_read_attribute(ctx, ms->members[0], dn, attr, values, count);
	return ae_policy_source_read_attribute(ctx, ms->ldap, dn, attr, values, count);
}

static unsigned
multi_round_trips(const ae_policy_source *src)
{
	const multi_source *ms = src->data;
	unsigned n = 0;

	for (size_t i = 0; i < ms->count; i++)
		n += ae_policy_source_round_trips(ms->members[i]);
	return n;
}

static void
multi_free(ae_policy_source *src)
{
	multi_source *ms = src->data;

	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->count; i++)
		ae_policy_source_free(ms->members[i]);
	free(ms->members);
	ae_policy_servers_free(ms->servers, ms->count);
	free(ms);
}

static const ae_policy_source_ops multi_ops = {
	.name = "policy servers",
	.where = "the policy servers",
	.read = multi_read,
	.remove_ds_cert = multi_remove_ds_cert,
	.read_attribute = multi_read_attribute,
	.round_trips = multi_round_trips,
	.free = multi_free,
};

ae_err
ae_policy_source_servers(ae_ctx *ctx, const ae_conf *conf, ae_context context, const ae_policy_server *servers,
                         size_t count, const char *state_dir, ae_policy_source **out)
{
	ae_policy_source *src = calloc(1, sizeof(*src));
	multi_source *ms = calloc(1, sizeof(*ms));
	ae_err err = AE_OK;

	*out = NULL;
	if (src == NULL || ms == NULL || (ms->members = calloc(count ? count : 1, sizeof(*ms->members))) == NULL ||
	    (ms->servers = calloc(count ? count : 1, sizeof(*ms->servers))) == NULL) {
		if (ms != NULL)
			free(ms->members);
		free(ms);
		free(src);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	src->ops = &multi_ops;
	src->data = ms;
	for (size_t i = 0; i < count && err == AE_OK; i++) {
		ms->servers[i].cost = servers[i].cost;
		if ((ms->servers[i].url = strdup(servers[i].url)) == NULL ||
		    (servers[i].policy_id != NULL && (ms->servers[i].policy_id = strdup(servers[i].policy_id)) == NULL)) {
			err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
			break;
		}
		ms->count = i + 1;
		if (is_ldap(servers[i].url)) {
			err = ae_policy_source_ldap(ctx, conf, context, &ms->members[i]);
			if (ms->ldap == NULL)
				ms->ldap = ms->members[i];
		} else {
			err = ae_policy_source_xcep(ctx, conf, context, servers[i].url, state_dir, &ms->members[i]);
		}
	}
	if (err == AE_OK && count == 0)
		err = ae_set_message(ctx, AE_ERR_CONFIG, "no policy server configured");
	if (err == AE_OK && ms->members[0]->principal != NULL &&
	    (src->principal = strdup(ms->members[0]->principal)) == NULL)
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	if (err != AE_OK) {
		ae_policy_source_free(src);
		return err;
	}
	*out = src;
	return AE_OK;
}
