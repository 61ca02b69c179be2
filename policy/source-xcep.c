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
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
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
#define XCEP_MAX_TEMPLATES 4096
#define XCEP_MAX_CAS 256
#define XCEP_MAX_URIS 16
#define XCEP_AUTH_KERBEROS 2 /* MS-XCEP 3.1.4.1.3.2 clientAuthentication */
#define ROOTS_MAX (4 * 1024 * 1024)

/* ---- parsing (untrusted) ---- */

typedef struct {
	char *ref;    /* oIDReferenceID */
	char *value;
	char *name;   /* defaultName */
	uint32_t group;
} xoid;

typedef struct {
	char *id;     /* cAReferenceID */
	ae_ca ca;
	unsigned best; /* priority of ca.url */
} xca;

typedef struct {
	ae_ctx *ctx;
	const char *what;
	xoid *oids;
	size_t noids;
	xca *cas;
	size_t ncas;
	bool nomem;
} xparse;

static char *
text_of(xparse *x, const xmlNode *parent, const char *name)
{
	return ae_soap_text(ae_soap_child(parent, AE_NS_XCEP, name), &x->nomem);
}

static const xoid *
oid_by_ref(const xparse *x, const char *ref)
{
	for (size_t i = 0; ref != NULL && i < x->noids; i++)
		if (x->oids[i].ref != NULL && strcmp(x->oids[i].ref, ref) == 0)
			return &x->oids[i];
	return NULL;
}

static ae_err
parse_oids(xparse *x, const xmlNode *list)
{
	for (const xmlNode *n = list ? list->children : NULL; n != NULL; n = n->next) {
		xoid *o;
		char *g;
		if (n->type != XML_ELEMENT_NODE || x->noids >= XCEP_MAX_TEMPLATES * 4)
			continue;
		o = realloc(x->oids, (x->noids + 1) * sizeof(*x->oids));
		if (o == NULL)
			return ae_set_message(x->ctx, AE_ERR_NOMEM, "out of memory");
		x->oids = o;
		o = &x->oids[x->noids++];
		memset(o, 0, sizeof(*o));
		o->ref = text_of(x, n, "oIDReferenceID");
		o->value = text_of(x, n, "value");
		o->name = text_of(x, n, "defaultName");
		g = text_of(x, n, "group");
		o->group = g ? (uint32_t)strtoul(g, NULL, 10) : 0;
		free(g);
		if (x->nomem)
			return ae_set_message(x->ctx, AE_ERR_NOMEM, "out of memory");
	}
	return AE_OK;
}

/* The CA's CN, else its whole subject. */
static char *
ca_name_of(X509 *cert)
{
	char cn[256];
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));

	if (n > 0 && (size_t)n == strlen(cn))
		return strdup(cn);
	return ae_x509_name_string(X509_get_subject_name(cert));
}

static ae_err
parse_ca(xparse *x, const xmlNode *n, xca *c)
{
	char *cert = text_of(x, n, "certificate"), *uri = NULL, *auth = NULL, *prio = NULL, *renew = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	ae_err err = AE_OK;
	unsigned nuris = 0;
	struct { char *u; unsigned p; } uris[XCEP_MAX_URIS];

	c->id = text_of(x, n, "cAReferenceID");
	c->best = ~0u;
	if (x->nomem)
		goto nomem;
	if (c->id == NULL) {
		err = ae_set_message(x->ctx, AE_ERR_INVALID, "%s lists a CA without a cAReferenceID (MS-XCEP 3.1.4.1.3.3)",
		                     x->what);
		goto cleanup;
	}
	if (cert == NULL || !ae_b64_decode_folded(cert, &der, &len, &x->nomem) ||
	    ae_x509_from_der(x->ctx, der, len, &c->ca.cert) != AE_OK) {
		if (x->nomem)
			goto nomem;
		err = ae_set_message(x->ctx, AE_ERR_INVALID, "%s lists CA %s with a certificate that is not one DER certificate",
		                     x->what, c->id);
		goto cleanup;
	}
	if ((c->ca.name = ca_name_of(c->ca.cert)) == NULL ||
	    (c->ca.display_name = strdup(c->ca.name)) == NULL ||
	    (c->ca.subject = ae_x509_name_string(X509_get_subject_name(c->ca.cert))) == NULL)
		goto nomem;
	c->ca.not_before = ae_asn1_time(X509_get0_notBefore(c->ca.cert));
	c->ca.not_after = ae_asn1_time(X509_get0_notAfter(c->ca.cert));
	/* The Kerberos URIs, by priority (lower first); renewal-only URIs
	 * need certificate authentication, which we do not do yet. */
	for (const xmlNode *u = ae_soap_child(ae_soap_child(n, AE_NS_XCEP, "uris"), AE_NS_XCEP, "cAURI"); u != NULL;
	     u = u->next) {
		unsigned long a, pr;
		if (u->type != XML_ELEMENT_NODE || nuris >= XCEP_MAX_URIS)
			continue;
		uri = text_of(x, u, "uri");
		auth = text_of(x, u, "clientAuthentication");
		prio = text_of(x, u, "priority");
		renew = text_of(x, u, "renewalOnly");
		if (x->nomem)
			goto nomem;
		a = auth ? strtoul(auth, NULL, 10) : 0;
		pr = prio ? strtoul(prio, NULL, 10) : 0;
		if (uri != NULL && strncasecmp(uri, "https://", 8) == 0 && (a & XCEP_AUTH_KERBEROS) &&
		    !(renew != NULL && strcmp(renew, "true") == 0)) {
			size_t k = nuris++;
			while (k > 0 && uris[k - 1].p > pr) {
				uris[k] = uris[k - 1];
				k--;
			}
			uris[k].u = uri;
			uris[k].p = (unsigned)pr;
			uri = NULL;
		}
		free(uri);
		free(auth);
		free(prio);
		free(renew);
		uri = auth = prio = renew = NULL;
	}
	for (unsigned i = 0; i < nuris; i++) {
		if (i == 0) {
			c->ca.url = uris[0].u;
			c->best = uris[0].p;
		} else {
			if (!ae_strv_append(&c->ca.fallback_urls, uris[i].u))
				x->nomem = true;
			free(uris[i].u);
		}
	}
	if (x->nomem)
		goto nomem;
	c->ca.host = c->ca.url ? strdup(c->ca.url + 8) : NULL;
	if (c->ca.host != NULL)
		c->ca.host[strcspn(c->ca.host, "/:")] = '\0';
	c->ca.transport = c->ca.url ? &ae_transport_ces : NULL;
	goto cleanup;
nomem:
	err = ae_set_message(x->ctx, AE_ERR_NOMEM, "out of memory");
cleanup:
	free(cert);
	free(der);
	free(uri);
	free(auth);
	free(prio);
	free(renew);
	return err;
}

/* An LDAP-shaped template entry built from MS-XCEP attributes, so that one
 * parser (core/template.h) reads templates from both. */
#define ENTRY_MAX 24
#define VALUES_MAX 96
typedef struct {
	ae_attr attrs[ENTRY_MAX];
	ae_value values[VALUES_MAX];
	char *owned[VALUES_MAX];
	size_t nattrs, nvalues;
	bool nomem;
} tentry;

static void
add_value(tentry *e, const char *name, char *owned, size_t len)
{
	ae_attr *a = NULL;

	if (owned == NULL) {
		e->nomem = true;
		return;
	}
	if (e->nvalues >= VALUES_MAX) {
		free(owned);
		return;
	}
	e->owned[e->nvalues] = owned;
	e->values[e->nvalues] = (ae_value){ (const uint8_t *)owned, len };
	if (e->nattrs > 0 && strcmp(e->attrs[e->nattrs - 1].name, name) == 0)
		a = &e->attrs[e->nattrs - 1];
	else if (e->nattrs < ENTRY_MAX) {
		a = &e->attrs[e->nattrs++];
		a->name = name;
		a->values = &e->values[e->nvalues];
		a->nvalues = 0;
	}
	if (a != NULL)
		a->nvalues++;
	e->nvalues++;
}

static void
add_text(tentry *e, const char *name, char *text)
{
	if (text != NULL)
		add_value(e, name, text, strlen(text));
}

/* SECONDS as pKIExpirationPeriod stores it: a negative FILETIME interval,
 * 8 bytes little-endian (MS-CRTD 2.18). */
static void
add_period(tentry *e, const char *name, const char *seconds)
{
	char *v;
	unsigned long long s;
	int64_t ft;

	if (seconds == NULL)
		return;
	s = strtoull(seconds, NULL, 10);
	if (s > 100ull * 366 * 86400)
		s = 100ull * 366 * 86400;
	ft = -(int64_t)s * 10000000;
	if ((v = malloc(8)) == NULL) {
		e->nomem = true;
		return;
	}
	for (int i = 0; i < 8; i++)
		v[i] = (char)(((uint64_t)ft >> (8 * i)) & 0xff);
	add_value(e, name, v, 8);
}

/* Extensions the template's attributes come from: EKU. */
static void
add_extensions(xparse *x, tentry *e, const xmlNode *exts)
{
	for (const xmlNode *n = ae_soap_child(exts, AE_NS_XCEP, "extension"); n != NULL; n = n->next) {
		char *ref, *val;
		const xoid *o;
		uint8_t *der = NULL;
		size_t len = 0;
		if (n->type != XML_ELEMENT_NODE)
			continue;
		ref = text_of(x, n, "oIDReference");
		val = text_of(x, n, "value");
		o = oid_by_ref(x, ref);
		if (o != NULL && o->value != NULL && strcmp(o->value, "2.5.29.37") == 0 && val != NULL &&
		    ae_b64_decode_folded(val, &der, &len, &x->nomem)) {
			const unsigned char *p = der;
			EXTENDED_KEY_USAGE *eku = d2i_EXTENDED_KEY_USAGE(NULL, &p, (long)len);
			for (int i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++) {
				char buf[128];
				if (OBJ_obj2txt(buf, sizeof(buf), sk_ASN1_OBJECT_value(eku, i), 1) > 0 &&
				    strlen(buf) < sizeof(buf) - 1)
					add_text(e, "pKIExtendedKeyUsage", strdup(buf));
			}
			EXTENDED_KEY_USAGE_free(eku);
		}
		free(der);
		free(ref);
		free(val);
	}
}

static ae_err
parse_policy(xparse *x, const xmlNode *n, ae_policy *p, bool *server_autoenroll, char ***ca_refs)
{
	const xmlNode *at = ae_soap_child(n, AE_NS_XCEP, "attributes");
	const xmlNode *perm = ae_soap_child(at, AE_NS_XCEP, "permission");
	const xmlNode *val = ae_soap_child(at, AE_NS_XCEP, "certificateValidity");
	const xmlNode *rev = ae_soap_child(at, AE_NS_XCEP, "revision");
	const xmlNode *pk = ae_soap_child(at, AE_NS_XCEP, "privateKeyAttributes");
	const xmlNode *ra = ae_soap_child(at, AE_NS_XCEP, "rARequirements");
	char *ref = text_of(x, n, "policyOIDReference"), *cn = text_of(x, at, "commonName"), *autoe;
	const xoid *o = oid_by_ref(x, ref);
	tentry e = { 0 };
	ae_template *t = NULL;
	ae_entry ent;
	ae_err err = AE_OK;

	autoe = text_of(x, perm, "autoEnroll");
	*server_autoenroll = autoe != NULL && strcmp(autoe, "true") == 0;
	free(autoe);
	if (cn == NULL) {
		free(ref);
		return x->nomem ? ae_set_message(x->ctx, AE_ERR_NOMEM, "out of memory") : AE_OK;
	}
	for (const xmlNode *r = ae_soap_child(ae_soap_child(n, AE_NS_XCEP, "cAs"), AE_NS_XCEP, "cAReference");
	     r != NULL; r = r->next) {
		char *id = r->type == XML_ELEMENT_NODE ? ae_soap_text(r, &x->nomem) : NULL;
		if (id != NULL && !ae_strv_append(ca_refs, id))
			x->nomem = true;
		free(id);
	}
	add_text(&e, "cn", strdup(cn));
	if (o != NULL && o->name != NULL)
		add_text(&e, "displayName", strdup(o->name));
	if (o != NULL && o->value != NULL)
		add_text(&e, "msPKI-Cert-Template-OID", strdup(o->value));
	add_text(&e, "msPKI-Template-Schema-Version", text_of(x, at, "policySchema"));
	add_text(&e, "revision", text_of(x, rev, "majorRevision"));
	add_text(&e, "msPKI-Template-Minor-Revision", text_of(x, rev, "minorRevision"));
	add_text(&e, "flags", text_of(x, at, "generalFlags"));
	add_text(&e, "msPKI-Enrollment-Flag", text_of(x, at, "enrollmentFlags"));
	add_text(&e, "msPKI-Certificate-Name-Flag", text_of(x, at, "subjectNameFlags"));
	add_text(&e, "msPKI-Private-Key-Flag", text_of(x, at, "privateKeyFlags"));
	add_text(&e, "msPKI-RA-Signature", text_of(x, ra, "rASignatures"));
	add_text(&e, "msPKI-Minimal-Key-Size", text_of(x, pk, "minimalKeyLength"));
	add_text(&e, "pKIDefaultKeySpec", text_of(x, pk, "keySpec"));
	{
		/* MS-XCEP 3.1.4.1.3.20 algorithmOIDReference: a public key OID
		 * (group 3) named by its CNG algorithm, as schema 3 templates
		 * name it in msPKI-RA-Application-Policies (MS-CRTD 2.23) */
		char *aref = text_of(x, pk, "algorithmOIDReference");
		const xoid *ao = oid_by_ref(x, aref);
		bool word = ao != NULL && ao->group == 3 && ao->name != NULL && ao->name[0] != '\0' &&
		            strspn(ao->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") ==
		                strlen(ao->name) && strlen(ao->name) < 32;
		if (word)
			add_text(&e, "msPKI-RA-Application-Policies",
			         ae_strdup_printf("msPKI-Asymmetric-Algorithm`PZPWSTR`%s`", ao->name));
		free(aref);
	}
	{
		char *v = text_of(x, val, "validityPeriodSeconds"), *r = text_of(x, val, "renewalPeriodSeconds");
		add_period(&e, "pKIExpirationPeriod", v);
		add_period(&e, "pKIOverlapPeriod", r);
		free(v);
		free(r);
	}
	for (const xmlNode *s = ae_soap_child(ae_soap_child(at, AE_NS_XCEP, "supersededPolicies"), AE_NS_XCEP,
	                                      "commonName");
	     s != NULL; s = s->next)
		if (s->type == XML_ELEMENT_NODE)
			add_text(&e, "msPKI-Supersede-Templates", ae_soap_text(s, &x->nomem));
	add_extensions(x, &e, ae_soap_child(at, AE_NS_XCEP, "extensions"));
	if (e.nomem || x->nomem) {
		err = ae_set_message(x->ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	ent = (ae_entry){ .dn = cn, .attrs = e.attrs, .nattrs = e.nattrs };
	if (ae_template_from_entry(x->ctx, &ent, &t) != AE_OK) {
		char *bad = ae_strdup_printf("%s\t%s", cn, ae_get_message(x->ctx));
		if (bad == NULL || !ae_strv_append(&p->invalid_templates, bad))
			err = ae_set_message(x->ctx, AE_ERR_NOMEM, "out of memory");
		free(bad);
		goto cleanup;
	}
	free(t->sd_error);
	t->sd_error = strdup("MS-XCEP carries no security descriptor");
	t->server_permission = true;
	t->server_enroll = true; /* listed: the server found the Enroll right */
	t->server_autoenroll = *server_autoenroll;
	{
		ae_template **a = realloc(p->templates, (p->template_count + 1) * sizeof(*a));
		if (a == NULL || t->sd_error == NULL) {
			if (a != NULL)
				p->templates = a;
			ae_template_free(t);
			err = ae_set_message(x->ctx, AE_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		p->templates = a;
		p->templates[p->template_count++] = t;
	}
cleanup:
	for (size_t i = 0; i < e.nvalues; i++)
		free(e.owned[i]);
	free(ref);
	free(cn);
	return err;
}

ae_err
ae_xcep_parse(ae_ctx *ctx, const char *what, const char *xml, size_t len, ae_policy *out, ae_xcep_info *info)
{
	xparse x = { .ctx = ctx, .what = what };
	ae_policy p = { .context = out->context };
	xmlDoc *doc = NULL;
	xmlNode *body = NULL, *resp, *n;
	char *nuh = NULL, *nc = NULL;
	ae_err err;

	memset(info, 0, sizeof(*info));
	if ((err = ae_soap_parse(ctx, what, xml, len, &doc, &body)) != AE_OK)
		return err;
	if (ae_soap_find(body, AE_NS_SOAP, "Fault") == body) {
		char *reason = ae_soap_text(ae_soap_find(body, AE_NS_SOAP, "Text"), &x.nomem);
		err = ae_set_message(ctx, AE_ERR_NETWORK, "%s failed: %s", what, reason ? reason : "a SOAP fault");
		free(reason);
		goto cleanup;
	}
	if (ae_soap_find(body, AE_NS_XCEP, "GetPoliciesResponse") != body ||
	    (resp = ae_soap_child(body, AE_NS_XCEP, "response")) == NULL) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "%s answered GetPolicies without a GetPoliciesResponse (MS-XCEP 3.1.4.1.2.2)",
		                     what);
		goto cleanup;
	}
	p.policy_id = text_of(&x, resp, "policyID");
	p.friendly_name = text_of(&x, resp, "policyFriendlyName");
	nuh = text_of(&x, resp, "nextUpdateHours");
	nc = text_of(&x, resp, "policiesNotChanged");
	if (x.nomem)
		goto nomem;
	if (p.policy_id == NULL) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "%s answered GetPolicies without a policyID (MS-XCEP 3.1.4.1.3.23)",
		                     what);
		goto cleanup;
	}
	info->next_update_hours = nuh ? (unsigned)strtoul(nuh, NULL, 10) : 0;
	if (info->next_update_hours > 24 * 366)
		info->next_update_hours = 24 * 366;
	info->not_changed = nc != NULL && strcmp(nc, "true") == 0;
	if ((err = parse_oids(&x, ae_soap_child(body, AE_NS_XCEP, "oIDs"))) != AE_OK)
		goto cleanup;
	for (n = ae_soap_child(ae_soap_child(body, AE_NS_XCEP, "cAs"), AE_NS_XCEP, "cA"); n != NULL; n = n->next) {
		xca *c;
		if (n->type != XML_ELEMENT_NODE || x.ncas >= XCEP_MAX_CAS)
			continue;
		if ((c = realloc(x.cas, (x.ncas + 1) * sizeof(*x.cas))) == NULL)
			goto nomem;
		x.cas = c;
		c = &x.cas[x.ncas++];
		memset(c, 0, sizeof(*c));
		if ((err = parse_ca(&x, n, c)) != AE_OK)
			goto cleanup;
	}
	for (n = ae_soap_child(ae_soap_child(resp, AE_NS_XCEP, "policies"), AE_NS_XCEP, "policy"); n != NULL;
	     n = n->next) {
		char **refs = NULL;
		bool autoe;
		size_t before = p.template_count;
		if (n->type != XML_ELEMENT_NODE || p.template_count >= XCEP_MAX_TEMPLATES)
			continue;
		err = parse_policy(&x, n, &p, &autoe, &refs);
		for (size_t r = 0; err == AE_OK && p.template_count > before && refs && refs[r]; r++)
			for (size_t i = 0; i < x.ncas; i++)
				if (strcmp(x.cas[i].id, refs[r]) == 0 &&
				    !ae_strv_contains_nocase(x.cas[i].ca.templates, p.templates[before]->name) &&
				    !ae_strv_append(&x.cas[i].ca.templates, p.templates[before]->name))
					err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		ae_strv_free(refs);
		if (err != AE_OK)
			goto cleanup;
	}
	if (x.ncas > 0) {
		if ((p.pki.cas = calloc(x.ncas, sizeof(*p.pki.cas))) == NULL)
			goto nomem;
		for (size_t i = 0; i < x.ncas; i++) {
			p.pki.cas[p.pki.ca_count++] = x.cas[i].ca;
			memset(&x.cas[i].ca, 0, sizeof(x.cas[i].ca));
		}
	}
	for (size_t i = 0; i < x.noids; i++) {
		ae_oid *o;
		if (x.oids[i].value == NULL)
			continue;
		if ((o = realloc(p.oids, (p.oid_count + 1) * sizeof(*o))) == NULL)
			goto nomem;
		p.oids = o;
		o = &p.oids[p.oid_count++];
		o->oid = x.oids[i].value;
		o->display_name = x.oids[i].name;
		/* MS-XCEP 3.1.4.1.3.16 groups: 9 enrollment object (template),
		 * 8 certificate policy (issuance), 7 EKU (application) */
		o->flags = x.oids[i].group == 9 ? 1 : x.oids[i].group == 8 ? 2 : x.oids[i].group == 7 ? 3 : 0;
		x.oids[i].value = x.oids[i].name = NULL;
	}
	/* Move into OUT. */
	free(out->policy_id);
	free(out->friendly_name);
	out->policy_id = p.policy_id;
	out->friendly_name = p.friendly_name;
	out->templates = p.templates;
	out->template_count = p.template_count;
	out->invalid_templates = p.invalid_templates;
	out->pki.cas = p.pki.cas;
	out->pki.ca_count = p.pki.ca_count;
	out->oids = p.oids;
	out->oid_count = p.oid_count;
	memset(&p, 0, sizeof(p));
	goto cleanup;
nomem:
	err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
cleanup:
	for (size_t i = 0; i < x.noids; i++) {
		free(x.oids[i].ref);
		free(x.oids[i].value);
		free(x.oids[i].name);
	}
	free(x.oids);
	for (size_t i = 0; i < x.ncas; i++) {
		free(x.cas[i].id);
		ae_ca_clear(&x.cas[i].ca);
	}
	free(x.cas);
	free(nuh);
	free(nc);
	xmlFreeDoc(doc);
	ae_policy_clear(&p);
	return err;
}

/* ---- the source: one CEP ---- */

typedef struct {
	const ae_conf *conf;
	ae_krb *krb;
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
	uint8_t id[16];
	char msgid[64], setting[256], *url = NULL, *xml = NULL, *last = NULL;
	ae_err err;

	*out = NULL;
	if (RAND_bytes(id, sizeof(id)) != 1)
		return ae_set_message(ctx, AE_ERR_CRYPTO, "no random bytes for a MessageID");
	snprintf(msgid, sizeof(msgid), "urn:uuid:%02x%02x%02x%02x-%02x%02x-4%x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         id[0], id[1], id[2], id[3], id[4], id[5], id[6] & 0x0f, id[7], (id[8] & 0x3f) | 0x80, id[9], id[10],
	         id[11], id[12], id[13], id[14], id[15]);
	last = last_update ? iso_time(last_update) : strdup("0001-01-01T00:00:00");
	if (last == NULL || (url = ae_xml_escape(xs->url)) == NULL ||
	    (xml = ae_strdup_printf(
	             "<s:Envelope xmlns:s=\"" AE_NS_SOAP "\" xmlns:a=\"" AE_NS_WSA "\"><s:Header>"
	             "<a:Action s:mustUnderstand=\"1\">" ACT_GETPOLICIES "</a:Action><a:MessageID>%s</a:MessageID>"
	             "<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>"
	             "<a:To s:mustUnderstand=\"1\">%s</a:To></s:Header>"
	             "<s:Body xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
	             "<GetPolicies xmlns=\"" AE_NS_XCEP "\"><client><lastUpdate>%s</lastUpdate>"
	             "<preferredLanguage xsi:nil=\"true\"/></client><requestFilter xsi:nil=\"true\"/></GetPolicies>"
	             "</s:Body></s:Envelope>",
	             msgid, url, last)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	{
		ae_http_request rq = { .method = "POST", .url = xs->url, .body = (const uint8_t *)xml,
			               .body_len = strlen(xml), .content_type = "application/soap+xml; charset=utf-8",
			               .max_body = XCEP_MAX_ANSWER, .timeout = xs->conf->rpc_timeout,
			               .timeout_setting = ae_conf_setting(xs->conf, "global", "rpc_timeout", setting,
			                                                  sizeof(setting)),
			               .what = "the CEP", .any_status = true, .https_only = true, .negotiate = true,
			               .trust_pem = xs->trust_pem };
		err = ae_http_fetch(ctx, &rq, out);
	}
	if (err == AE_OK) {
		xs->trips += (*out)->answers ? (*out)->answers : 1;
		if ((*out)->status == 401 || (*out)->status == 403)
			err = ae_set_message(ctx, AE_ERR_DENIED,
			                     "the CEP at %s refused the Kerberos authentication (HTTP %ld): check the ticket (klist) and that the server's SPN HTTP/host exists",
			                     xs->url, (*out)->status);
		else if ((*out)->status != 200 && (*out)->status != 500)
			err = ae_set_message(ctx, AE_ERR_NETWORK, "the CEP at %s answered HTTP %ld", xs->url,
			                     (*out)->status);
		if (err != AE_OK) {
			ae_http_response_free(*out);
			*out = NULL;
		}
	}
cleanup:
	free(url);
	free(xml);
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
		if (ae_xcep_parse(ctx, what, cached, clen, &probe, &cinfo) == AE_OK && !cinfo.not_changed) {
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
		if ((err = ae_xcep_parse(ctx, what, (const char *)resp->body, resp->body_len, p, &info)) != AE_OK)
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
		if ((err = ae_xcep_parse(ctx, what, cached, clen, p, &info)) != AE_OK)
			goto cleanup;
		p->origin.from_cache = true;
	}
	p->url = strdup(xs->url);
	p->principal = strdup(ae_krb_principal(xs->krb));
	p->origin.server = strdup(xs->url);
	if (p->url == NULL || p->principal == NULL || p->origin.server == NULL ||
	    (p->friendly_name == NULL && (p->friendly_name = strdup(xs->url)) == NULL)) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	p->origin.next_update_hours = info.next_update_hours;
	p->origin.filtered_by_server = true;
	p->origin.round_trips = xs->trips;
	/* The caller, as far as a CEP knows it: the Kerberos principal. */
	if ((p->account.display = strdup(p->principal)) == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	if ((err = add_roots(ctx, xs->trust_pem, &p->pki)) != AE_OK)
		goto cleanup;
	ae_pki_validate(ctx, &p->pki, ae_now_shifted() ? (time_t)ae_now() : 0);
	for (size_t i = 0; i < p->pki.ca_count; i++) {
		ae_ca *ca = &p->pki.cas[i];
		if (ca->url != NULL && (err = ae_ces_trust(ctx, &p->pki, &ca->endpoint_trust)) != AE_OK)
			goto cleanup;
		if (ca->url == NULL && ca->valid) {
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
	err = context == AE_CONTEXT_MACHINE ? ae_krb_machine(ctx, conf, &xs->krb) : ae_krb_user(ctx, &xs->krb);
	if (err == AE_OK && (src->principal = strdup(ae_krb_principal(xs->krb))) == NULL)
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
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
			ae_log(ctx, AE_LOG_WARNING, "policy server %s (cost %u) did not answer: %s", ms->servers[i].url,
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
