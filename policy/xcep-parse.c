/*
 * xcep-parse.c - a CEP's GetPoliciesResponse (MS-XCEP 3.1.4.1.2.2) read
 * into an ae_policy (xcep.h): untrusted input, fuzzed
 * (tests/fuzz/fuzz-xcep.c).
 */
#include "config.h"

#include "soap.h"
#include "transport.h"
#include "util.h"
#include "xcep.h"

#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define XCEP_MAX_TEMPLATES 4096
#define XCEP_MAX_CAS 256
#define XCEP_MAX_URIS 16

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
	unsigned auth;       /* the clientAuthentication wanted of CES URIs */
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

typedef struct {
	char *u;
	unsigned p;
} xuri;

/* Adds URI of priority PR to the N of URIS in priority order (lower
 * first, stable); takes it, or returns it when URIS is full. */
static char *
add_uri(xuri *uris, unsigned *n, char *uri, unsigned long pr)
{
	size_t k;

	if (*n >= XCEP_MAX_URIS)
		return uri;
	k = (*n)++;
	while (k > 0 && uris[k - 1].p > pr) {
		uris[k] = uris[k - 1];
		k--;
	}
	uris[k].u = uri;
	uris[k].p = pr > ~0u ? ~0u : (unsigned)pr;
	return NULL;
}

static ae_err
parse_ca(xparse *x, const xmlNode *n, xca *c)
{
	char *cert = text_of(x, n, "certificate"), *uri = NULL, *auth = NULL, *prio = NULL, *renew = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	ae_err err = AE_OK;
	unsigned nuris = 0, nrenew = 0;
	xuri uris[XCEP_MAX_URIS], renews[XCEP_MAX_URIS];

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
	/* The URIs of the wanted authentication, by priority (lower first),
	 * and apart the renewal-only ones (MS-XCEP 3.1.4.1.3.5 renewalOnly,
	 * an xs:boolean): whatever the wanted authentication, they take the
	 * certificate being renewed (clientAuthentication 8, key-based
	 * renewal), which any renewal has. */
	for (const xmlNode *u = ae_soap_child(ae_soap_child(n, AE_NS_XCEP, "uris"), AE_NS_XCEP, "cAURI"); u != NULL;
	     u = u->next) {
		unsigned long a, pr;
		bool only;
		if (u->type != XML_ELEMENT_NODE)
			continue;
		uri = text_of(x, u, "uri");
		auth = text_of(x, u, "clientAuthentication");
		prio = text_of(x, u, "priority");
		renew = text_of(x, u, "renewalOnly");
		if (x->nomem)
			goto nomem;
		a = auth ? strtoul(auth, NULL, 10) : 0;
		pr = prio ? strtoul(prio, NULL, 10) : 0;
		only = renew != NULL && (strcmp(renew, "true") == 0 || strcmp(renew, "1") == 0);
		if (uri != NULL && strncasecmp(uri, "https://", 8) == 0) {
			if (only && (a & AE_CA_AUTH_CERTIFICATE))
				uri = add_uri(renews, &nrenew, uri, pr);
			else if (!only && (a & x->auth))
				uri = add_uri(uris, &nuris, uri, pr);
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
	for (unsigned i = 0; i < nrenew; i++) {
		if (!ae_strv_append(&c->ca.renewal_urls, renews[i].u))
			x->nomem = true;
		free(renews[i].u);
	}
	if (x->nomem)
		goto nomem;
	{
		const char *any = c->ca.url ? c->ca.url : c->ca.renewal_urls ? c->ca.renewal_urls[0] : NULL;
		c->ca.host = any ? strdup(any + 8) : NULL;
	}
	if (c->ca.host != NULL)
		c->ca.host[strcspn(c->ca.host, "/:")] = '\0';
	c->ca.transport = c->ca.url || c->ca.renewal_urls ? &ae_transport_ces : NULL;
	c->ca.endpoint_auth = x->auth;
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

/* MS-XCEP 3.1.4.1.3.15 keyArchivalAttributes: the content cipher for key
 * archival, the template's msPKI-Symmetric-Algorithm and -Key-Length as
 * the CEP converted them to an OID (3.1.4.1.3.16, 2526: "converted to an
 * OID"), back into the msPKI-RA-Application-Policies syntax 2 pairs
 * (MS-CRTD 2.23) that the template parser reads, so that the client
 * honours what the CEP sends (MS-WCCE 3.1.2.4.2.2.2.5 "the client MUST
 * use the algorithm specified").  An OID autoenroll does not know passes
 * as itself, so the request is refused naming it.  Must follow the
 * asymmetric algorithm's value (the same attribute). */
static void
add_symmetric(xparse *x, tentry *e, const xmlNode *ka)
{
	static const struct {
		const char *oid, *name;
		unsigned bits;
	} algs[] = {
		{ "1.2.840.113549.3.7", "3DES", 168 },      /* des-ede3-cbc, Windows' default (MS-WCCE <51>) */
		{ "2.16.840.1.101.3.4.1.2", "AES", 128 },  /* aes128-CBC */
		{ "2.16.840.1.101.3.4.1.22", "AES", 192 }, /* aes192-CBC */
		{ "2.16.840.1.101.3.4.1.42", "AES", 256 }, /* aes256-CBC */
	};
	char *ref = text_of(x, ka, "symmetricAlgorithmOIDReference");
	char *len = text_of(x, ka, "symmetricAlgorithmKeyLength");
	const xoid *o = oid_by_ref(x, ref);
	const char *name = NULL;
	unsigned long bits = 0;
	char *end = NULL;

	if (o != NULL && o->value != NULL && o->value[0] != '\0' && strlen(o->value) < 64 &&
	    strspn(o->value, "0123456789.") == strlen(o->value)) {
		name = o->value;
		for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
			if (strcmp(o->value, algs[i].oid) == 0) {
				name = algs[i].name;
				bits = algs[i].bits;
			}
		/* the key length element, when valid, is the template's own */
		if (len != NULL) {
			unsigned long v = strtoul(len, &end, 10);
			if (end != len && *end == '\0' && v > 0 && v <= 4096)
				bits = v;
		}
		add_text(e, "msPKI-RA-Application-Policies",
		         bits ? ae_strdup_printf("msPKI-Symmetric-Algorithm`PZPWSTR`%s`msPKI-Symmetric-Key-Length`DWORD`%lu`",
		                                 name, bits)
		              : ae_strdup_printf("msPKI-Symmetric-Algorithm`PZPWSTR`%s`", name));
	}
	free(ref);
	free(len);
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
	add_symmetric(x, &e, ae_soap_child(at, AE_NS_XCEP, "keyArchivalAttributes"));
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
ae_xcep_parse(ae_ctx *ctx, const char *what, const char *xml, size_t len, unsigned auth, ae_policy *out,
              ae_xcep_info *info)
{
	xparse x = { .ctx = ctx, .what = what, .auth = auth };
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
