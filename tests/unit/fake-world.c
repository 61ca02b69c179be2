/*
 * fake-world.c - an enrollment world in memory for the engine's unit
 * tests (see fake-world.h).
 */
#include "config.h"

#include "fake-world.h"
#include "keystore.h"
#include "policy.h"
#include "secdesc.h"
#include "source.h"
#include "transport.h"
#include "util.h"

#include <ftw.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DOM "S-1-5-21-1047456448-2337630968-2720937775"
#define CA_NAME "Fake-CA"
#define TEMPLATE_OID_ARC "1.3.6.1.4.1.311.21.8.7.7"
#define OID_CMC_PKIDATA "1.3.6.1.5.5.7.12.2"
#define MAX_PENDING 64

/* A request the CA keeps pending. */
typedef struct {
	uint32_t id;
	char template_name[FAKE_NAME_MAX];
	X509_REQ *req;
} fake_pending;

struct fake_ca {
	EVP_PKEY *root_key, *key;
	X509 *root, *cert;
	long next_serial;
	uint32_t next_id;
	fake_pending pending[MAX_PENDING];
	size_t npending;
};

/* The world the transport serves (one at a time). */
static fake_world *the_world;

/* ---- the CA ---- */

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (e != NULL)
		X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A CA certificate for KEY named CN, signed by ISSUER_KEY (ISSUER NULL:
 * self-signed), valid from a day ago for 20 years. */
X509 *
fake_ca_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, long serial)
{
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 20L * 365 * 86400);
	X509_set_pubkey(x, key);
	add_ext(x, issuer ? issuer : x, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(x, issuer ? issuer : x, NID_key_usage, "critical,keyCertSign,cRLSign");
	X509_sign(x, issuer_key, EVP_sha256());
	return x;
}

static void
ca_keys_free(struct fake_ca *ca)
{
	EVP_PKEY_free(ca->root_key);
	EVP_PKEY_free(ca->key);
	X509_free(ca->root);
	X509_free(ca->cert);
}

static void
ca_keys_new(struct fake_ca *ca)
{
	static long generation;

	generation++;
	ca->root_key = EVP_EC_gen("P-256");
	ca->key = EVP_EC_gen("P-256");
	ca->root = fake_ca_cert("Fake Root", ca->root_key, NULL, ca->root_key, generation);
	ca->cert = fake_ca_cert("Fake Issuing CA", ca->key, ca->root, ca->root_key, 1000 + generation);
}

static fake_template *
spec(fake_world *w, const char *name)
{
	for (size_t i = 0; name != NULL && i < w->ntemplates; i++)
		if (strcasecmp(w->templates[i].name, name) == 0)
			return &w->templates[i];
	return NULL;
}

/* The template name of the request attributes ("CertificateTemplate:NAME"). */
static void
attr_template(const char *attrs, char *out, size_t size)
{
	const char *p = attrs ? strstr(attrs, "CertificateTemplate:") : NULL;
	size_t n;

	out[0] = '\0';
	if (p == NULL)
		return;
	p += strlen("CertificateTemplate:");
	n = strcspn(p, "\r\n");
	snprintf(out, size, "%.*s", (int)n, p);
}

/* The PKCS#10 inside CMC PKIData (RFC 5272 3.2): SEQUENCE { controlSequence,
 * reqSequence, ... }, the first TaggedRequest being tcr [0] { bodyPartID,
 * certificationRequest }. */
static X509_REQ *
req_from_pkidata(const unsigned char *p, long len)
{
	const unsigned char *end = p + len;
	long l;
	int tag, cls;

	if ((ASN1_get_object(&p, &l, &tag, &cls, end - p) & 0x80) || tag != V_ASN1_SEQUENCE)
		return NULL;
	if ((ASN1_get_object(&p, &l, &tag, &cls, end - p) & 0x80) || tag != V_ASN1_SEQUENCE)
		return NULL;
	p += l; /* controlSequence */
	if ((ASN1_get_object(&p, &l, &tag, &cls, end - p) & 0x80) || tag != V_ASN1_SEQUENCE)
		return NULL;
	if ((ASN1_get_object(&p, &l, &tag, &cls, end - p) & 0x80) || cls != V_ASN1_CONTEXT_SPECIFIC || tag != 0)
		return NULL;
	if ((ASN1_get_object(&p, &l, &tag, &cls, end - p) & 0x80) || tag != V_ASN1_INTEGER)
		return NULL;
	p += l; /* bodyPartID */
	return d2i_X509_REQ(NULL, &p, end - p);
}

/* Which certificate of the CMS signed it (its signature verified), by
 * serial; -1 when none of its certificates did. */
static long
cms_signer_serial(struct fake_ca *ca, CMS_ContentInfo *cms, unsigned *signers)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	STACK_OF(X509) *certs = CMS_get1_certs(cms);
	long serial = -1;

	*signers = (unsigned)sk_CMS_SignerInfo_num(sis);
	for (int i = 0; i < sk_CMS_SignerInfo_num(sis); i++) {
		CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, i);
		for (int j = 0; j < sk_X509_num(certs); j++) {
			X509 *c = sk_X509_value(certs, j);
			if (CMS_SignerInfo_cert_cmp(si, c) != 0)
				continue;
			CMS_SignerInfo_set1_signer_cert(si, c);
			if (CMS_SignerInfo_verify(si) == 1 && X509_check_issued(ca->cert, c) == X509_V_OK)
				serial = fake_serial(c);
		}
	}
	sk_X509_pop_free(certs, X509_free);
	ERR_clear_error();
	return serial;
}

/* Reads what a client submitted: a PKCS#10, or a renewal in CMS around
 * a PKCS#10 (id-data) or around CMC PKIData. */
static X509_REQ *
read_request(struct fake_ca *ca, const uint8_t *der, size_t len, fake_call *call)
{
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
	CMS_ContentInfo *cms;
	ASN1_OCTET_STRING **content;
	char type[80] = "";

	if (req != NULL && p == der + len) {
		snprintf(call->format, sizeof(call->format), "pkcs10");
		return req;
	}
	X509_REQ_free(req);
	req = NULL;
	p = der;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (cms == NULL) {
		ERR_clear_error();
		return NULL;
	}
	content = CMS_get0_content(cms);
	OBJ_obj2txt(type, sizeof(type), CMS_get0_eContentType(cms), 1);
	if (content != NULL && *content != NULL) {
		const unsigned char *c = ASN1_STRING_get0_data(*content);
		long clen = ASN1_STRING_length(*content);
		if (strcmp(type, OID_CMC_PKIDATA) == 0) {
			snprintf(call->format, sizeof(call->format), "cmc");
			req = req_from_pkidata(c, clen);
		} else {
			snprintf(call->format, sizeof(call->format), "cms");
			req = d2i_X509_REQ(NULL, &c, clen);
		}
	}
	call->renewal_serial = cms_signer_serial(ca, cms, &call->signers);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return req;
}

/* Copies the template extensions (1.3.6.1.4.1.311.21.7, .20.2) the
 * request asks for into X, as AD CS does. */
static void
copy_template_exts(X509 *x, X509_REQ *req)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	static const char *const oids[] = { "1.3.6.1.4.1.311.21.7", "1.3.6.1.4.1.311.20.2" };

	for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
		char oid[80];
		OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(e), 1);
		for (size_t k = 0; k < sizeof(oids) / sizeof(oids[0]); k++)
			if (strcmp(oid, oids[k]) == 0)
				X509_add_ext(x, e, -1);
	}
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

/* The certificate for REQ of template T, from now (the shifted clock) for
 * the template's validity, as DER in *OUT (malloc'd). */
static ae_err
issue(ae_ctx *ctx, fake_world *w, X509_REQ *req, const fake_template *t, ae_ca_answer *out)
{
	struct fake_ca *ca = w->ca;
	X509 *x = X509_new();
	int64_t nb = ae_now() - 60;
	unsigned char *p;
	int len;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), ca->next_serial++);
	X509_set_issuer_name(x, X509_get_subject_name(ca->cert));
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)(w->machine ? "ws1.corp.test" : "alice"), -1, -1, 0);
	ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb);
	ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(nb + t->validity));
	X509_set_pubkey(x, X509_REQ_get0_pubkey(req));
	copy_template_exts(x, req);
	if (X509_sign(x, ca->key, EVP_sha256()) <= 0 || (len = i2d_X509(x, NULL)) <= 0 ||
	    (out->cert = malloc((size_t)len)) == NULL) {
		X509_free(x);
		return ae_set_message(ctx, AE_ERR_CRYPTO, "fake CA: cannot issue");
	}
	p = out->cert;
	out->cert_len = (size_t)i2d_X509(x, &p);
	out->outcome = AE_CA_ISSUED;
	X509_free(x);
	return AE_OK;
}

static fake_call *
new_call(fake_world *w, fake_call_kind kind)
{
	fake_call *grown = realloc(w->calls, (w->ncalls + 1) * sizeof(*grown));
	fake_call *c;

	if (grown == NULL)
		abort();
	w->calls = grown;
	c = &w->calls[w->ncalls++];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->renewal_serial = -1;
	return c;
}

/* ---- the transport ---- */

static ae_err
t_open(ae_ctx *ctx, const ae_conf *conf, const ae_ca *ca, void **state_out)
{
	(void)ctx;
	(void)conf;
	(void)ca;
	*state_out = the_world;
	return AE_OK;
}

static ae_err
t_submit(ae_ctx *ctx, void *state, const ae_ca *ca, const char *attrs, const uint8_t *der, size_t len,
         ae_ca_answer *out)
{
	fake_world *w = state;
	fake_call *call;
	const fake_template *t;
	X509_REQ *req;
	ae_err err = AE_OK;

	if (strcmp(ca->name, w->unreachable) == 0)
		return ae_set_message(ctx, AE_ERR_TIMEOUT, "fake CA %s: no answer within rpc_timeout", ca->name);
	call = new_call(w, FAKE_CALL_SUBMIT);
	snprintf(call->ca, sizeof(call->ca), "%s", ca->name);

	attr_template(attrs, call->template_name, sizeof(call->template_name));
	t = spec(w, call->template_name);
	req = read_request(w->ca, der, len, call);
	call->request_signed = req != NULL && X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) == 1;
	ERR_clear_error();
	call->request_id = out->request_id = w->ca->next_id++;
	call->answer = t ? t->on_submit : FAKE_DENY;
	if (t == NULL || req == NULL) {
		out->outcome = AE_CA_REFUSED;
		out->hresult = 0x80094800u; /* CERTSRV_E_UNSUPPORTED_CERT_TYPE */
	} else if (t->on_submit == FAKE_FAIL) {
		out->request_id = 0;
		err = ae_set_message(ctx, AE_ERR_NETWORK, "fake CA %s: connection reset", ca->name);
	} else if (t->on_submit == FAKE_ISSUE) {
		err = issue(ctx, w, req, t, out);
	} else if (t->on_submit == FAKE_PEND && w->ca->npending < MAX_PENDING) {
		fake_pending *pd = &w->ca->pending[w->ca->npending++];
		pd->id = out->request_id;
		snprintf(pd->template_name, sizeof(pd->template_name), "%s", t->name);
		pd->req = req;
		req = NULL;
		out->outcome = AE_CA_PENDING;
	} else {
		out->outcome = AE_CA_REFUSED;
		out->hresult = t->hresult;
	}
	X509_REQ_free(req);
	return err;
}

static ae_err
t_retrieve(ae_ctx *ctx, void *state, const ae_ca *ca, uint32_t request_id, ae_ca_answer *out)
{
	fake_world *w = state;
	struct fake_ca *fca = w->ca;
	fake_call *call = new_call(w, FAKE_CALL_RETRIEVE);
	fake_pending *pd = NULL;
	const fake_template *t;
	ae_err err = AE_OK;
	bool over = false;

	call->request_id = out->request_id = request_id;
	for (size_t i = 0; i < fca->npending; i++)
		if (fca->pending[i].id == request_id)
			pd = &fca->pending[i];
	if (pd == NULL) {
		out->outcome = AE_CA_REFUSED;
		out->hresult = 0x80094002u; /* CERTSRV_E_NO_REQUEST */
		out->final = true;
		call->answer = FAKE_DENY;
		return AE_OK;
	}
	snprintf(call->template_name, sizeof(call->template_name), "%s", pd->template_name);
	t = spec(w, pd->template_name);
	if (t == NULL)
		return ae_set_message(ctx, AE_ERR_INVALID, "fake CA: template %s is gone", pd->template_name);
	call->answer = t->on_retrieve;
	switch (t->on_retrieve) {
	case FAKE_ISSUE:
		err = issue(ctx, w, pd->req, t, out);
		over = err == AE_OK;
		break;
	case FAKE_PEND:
		out->outcome = AE_CA_PENDING;
		break;
	case FAKE_DENY:
	case FAKE_ERROR:
		out->outcome = AE_CA_REFUSED;
		out->hresult = t->hresult;
		out->final = over = t->on_retrieve == FAKE_DENY;
		break;
	case FAKE_FAIL:
		err = ae_set_message(ctx, AE_ERR_NETWORK, "fake CA %s: connection reset", ca->name);
		break;
	}
	if (over) {
		X509_REQ_free(pd->req);
		*pd = fca->pending[--fca->npending];
	}
	return err;
}

static unsigned
t_round_trips(void *state)
{
	(void)state;
	return 0;
}

static void
t_close(void *state)
{
	(void)state;
}

static const ae_transport_ops fake_transport = {
	.name = "fake",
	.open = t_open,
	.submit = t_submit,
	.retrieve = t_retrieve,
	.round_trips = t_round_trips,
	.close = t_close,
};

/* ---- the policy source ---- */

/* A descriptor that allows the rights asked for to SID. */
static ae_secdesc *
grant(const ae_sid *sid, bool enroll, bool autoenroll)
{
	ae_secdesc *sd = calloc(1, sizeof(*sd));
	const ae_right rights[2] = { AE_RIGHT_ENROLL, AE_RIGHT_AUTOENROLL };
	const bool wanted[2] = { enroll, autoenroll };

	if (sd == NULL || (sd->aces = calloc(2, sizeof(*sd->aces))) == NULL)
		abort();
	sd->control = AE_SD_DACL_PRESENT;
	sd->has_dacl = true;
	for (size_t i = 0; i < 2; i++) {
		ae_ace *a;
		if (!wanted[i])
			continue;
		a = &sd->aces[sd->ace_count++];
		a->type = AE_ACE_ALLOWED_OBJECT;
		a->mask = AE_RIGHT_DS_CONTROL_ACCESS;
		a->object_flags = AE_ACE_OBJECT_TYPE_PRESENT;
		memcpy(a->object_type, ae_right_guid(rights[i]), sizeof(a->object_type));
		a->sid = *sid;
	}
	return sd;
}

static ae_template *
build_template(const fake_world *w, size_t index, const ae_sid *sid)
{
	const fake_template *f = &w->templates[index];
	ae_template *t = calloc(1, sizeof(*t));

	if (t == NULL)
		abort();
	t->dn = ae_strdup_printf("CN=%s,CN=Certificate Templates,CN=Public Key Services", f->name);
	t->name = strdup(f->name);
	t->display_name = strdup(f->name);
	t->oid = ae_strdup_printf(TEMPLATE_OID_ARC ".%zu", index + 1);
	t->schema_version = f->schema;
	t->major = f->major;
	t->minor = f->minor;
	t->flags = f->machine ? AE_CT_FLAG_MACHINE_TYPE : 0;
	t->enrollment_flags = f->enrollment_flags;
	t->name_flags = f->name_flags;
	t->private_key_flags = f->private_key_flags;
	t->ra_signatures = f->ra_signatures;
	if (f->supersedes[0] != '\0')
		ae_strv_append(&t->supersedes, f->supersedes);
	t->has_validity = true;
	t->validity_seconds = f->validity;
	t->has_renewal = f->renewal > 0;
	t->renewal_seconds = f->renewal;
	t->key_alg = AE_KEY_ALG_ECDSA_P256;
	t->key_spec = 1;
	t->key_usage[0] = f->key_usage;
	t->key_usage_len = 1;
	t->sd = grant(sid, f->enroll, f->autoenroll);
	if (t->dn == NULL || t->name == NULL || t->display_name == NULL || t->oid == NULL)
		abort();
	return t;
}

static STACK_OF(X509) *
one_cert(X509 *x)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	if (x != NULL) {
		X509_up_ref(x);
		sk_X509_push(sk, x);
	}
	return sk;
}

static ae_err
source_read(ae_ctx *ctx, ae_policy_source *src, ae_context context, ae_policy **out)
{
	fake_world *w = src->data;
	ae_policy *p = calloc(1, sizeof(*p));
	ae_account *a;
	ae_ca *ca;

	if (p == NULL)
		abort();
	p->context = context;
	p->url = strdup("LDAP:");
	p->policy_id = strdup("{5D3F1E2A-0000-4000-8000-000000000001}");
	p->domain = strdup("corp.test");
	p->origin.server = strdup("dc1.corp.test");
	p->principal = strdup(src->principal);
	a = &p->account;
	a->machine = w->machine;
	a->sam = strdup(w->machine ? "WS1$" : "alice");
	a->display = strdup(w->machine ? "CORP\\WS1$" : "CORP\\alice");
	a->dn = strdup(w->machine ? "CN=WS1,CN=Computers,DC=corp,DC=test" : "CN=alice,CN=Users,DC=corp,DC=test");
	a->dns_host_name = w->machine ? strdup("ws1.corp.test") : NULL;
	ae_token_init(&a->token);
	if (ae_sid_from_string(ctx, w->machine ? DOM "-1104" : DOM "-1105", &a->sid) != AE_OK ||
	    ae_token_add(ctx, &a->token, &a->sid) != AE_OK || ae_token_add_string(ctx, &a->token, "S-1-1-0") != AE_OK ||
	    ae_token_add_string(ctx, &a->token, "S-1-5-11") != AE_OK)
		abort();

	if (w->ds_cert != NULL) {
		a->ds_certs = calloc(1, sizeof(*a->ds_certs));
		a->ds_cert_lens = calloc(1, sizeof(*a->ds_cert_lens));
		if (a->ds_certs == NULL || a->ds_cert_lens == NULL || (a->ds_certs[0] = malloc(w->ds_cert_len)) == NULL)
			abort();
		memcpy(a->ds_certs[0], w->ds_cert, w->ds_cert_len);
		a->ds_cert_lens[0] = w->ds_cert_len;
		a->ds_cert_count = 1;
	}

	p->pki.cas = calloc(2, sizeof(*p->pki.cas));
	p->pki.ca_count = w->second_ca[0] ? 2 : 1;
	for (size_t i = 0; i < p->pki.ca_count; i++) {
		const char *name = i == 0 ? CA_NAME : w->second_ca;
		ca = &p->pki.cas[i];
		ca->dn = ae_strdup_printf("CN=%s,CN=Enrollment Services,CN=Public Key Services", name);
		ca->name = strdup(name);
		ca->display_name = strdup(name);
		ca->host = ae_strdup_printf("ca%zu.corp.test", i + 1);
		ca->transport = &fake_transport;
		X509_up_ref(w->ca->cert);
		ca->cert = w->ca->cert;
		ca->subject = ae_x509_name_string(X509_get_subject_name(ca->cert));
		ca->valid = true;
		for (size_t j = 0; j < w->ntemplates; j++)
			if (w->templates[j].published)
				ae_strv_append(&ca->templates, w->templates[j].name);
	}
	ca = &p->pki.cas[0];
	p->pki.roots = one_cert(w->ca->root);
	p->pki.intermediates = one_cert(NULL);
	p->pki.ntauth = one_cert(w->ca->cert);

	p->templates = calloc(w->ntemplates + 1, sizeof(*p->templates));
	for (size_t i = 0; i < w->ntemplates; i++)
		p->templates[p->template_count++] = build_template(w, i, &a->sid);
	*out = p;
	return AE_OK;
}

static const ae_policy_source_ops fake_source = {
	.name = "fake",
	.where = "the fake world",
	.read = source_read,
};

static ae_err
source_open(ae_ctx *ctx, const ae_conf *conf, ae_context context, void *arg, ae_policy_source **out)
{
	fake_world *w = arg;
	ae_policy_source *src = calloc(1, sizeof(*src));

	(void)ctx;
	(void)conf;
	(void)context;
	if (src == NULL)
		abort();
	src->ops = &fake_source;
	src->principal = strdup(w->machine ? "WS1$@CORP.TEST" : "alice@CORP.TEST");
	src->data = w;
	w->source_opens++;
	*out = src;
	return AE_OK;
}

/* ---- the world ---- */

static void
log_to_tap(void *data, ae_log_level level, const char *msg)
{
	(void)data;
	(void)level;
	printf("#   log: %s\n", msg);
}

fake_world *
fake_world_new(bool machine)
{
	fake_world *w = calloc(1, sizeof(*w));
	/* tmpfs when there is one: the store flushes every write (fsync),
	 * which costs a disk most of the tests' time. */
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	char *tmpl = ae_strdup_printf("%s/ae-engine-XXXXXX", tmp ? tmp : "/tmp");

	if (w == NULL || tmpl == NULL || (w->ca = calloc(1, sizeof(*w->ca))) == NULL || mkdtemp(tmpl) == NULL)
		abort();
	w->ctx = ae_ctx_new();
	if (getenv("AE_ENGINE_TEST_LOG") != NULL)
		ae_ctx_set_log(w->ctx, log_to_tap, NULL, AE_LOG_DEBUG);
	w->machine = machine;
	w->dir = tmpl;
	w->state_dir = ae_strdup_printf("%s/state", tmpl);
	if (ae_conf_defaults(w->ctx, &w->conf) != AE_OK)
		abort();
	w->conf->user_state_dir = strdup(w->state_dir);
	w->conf->machine_state_dir = strdup(w->state_dir);
	w->conf->user_aepolicy = w->conf->machine_aepolicy =
		AE_AEPOLICY_ENROLL | AE_AEPOLICY_MANAGE | AE_AEPOLICY_RETRIEVE_PENDING;
	w->conf->policy_refresh = 0;
	w->conf->group_policy = false; /* test_group_policy() turns it on */
	/* Never the host's hooks (/etc/autoenroll/hooks.d, ~/.config/...). */
	w->conf->user_hooks_dir = strdup("none");
	w->conf->machine_hooks_dir = strdup("none");
	ca_keys_new(w->ca);
	w->ca->next_serial = 100;
	w->ca->next_id = 1;
	the_world = w;
	fake_world_clock(w, 0);
	return w;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
fake_world_free(fake_world *w)
{
	if (w == NULL)
		return;
	nftw(w->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < w->ca->npending; i++)
		X509_REQ_free(w->ca->pending[i].req);
	ca_keys_free(w->ca);
	free(w->ca);
	free(w->calls);
	free(w->ds_cert);
	ae_conf_free(w->conf);
	ae_ctx_free(w->ctx);
	free(w->dir);
	free(w->state_dir);
	if (the_world == w)
		the_world = NULL;
	unsetenv("AE_TEST_NOW_OFFSET");
	free(w);
}

fake_template *
fake_world_template(fake_world *w, const char *name)
{
	fake_template *t;

	if (w->ntemplates >= sizeof(w->templates) / sizeof(w->templates[0]))
		abort();
	t = &w->templates[w->ntemplates++];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->schema = 2;
	t->major = 100;
	t->machine = w->machine;
	t->enroll = t->autoenroll = t->published = true;
	t->validity = 10 * 86400;
	t->renewal = 86400;
	t->key_usage = 0x80; /* digitalSignature */
	t->on_submit = t->on_retrieve = FAKE_ISSUE;
	return t;
}

fake_template *
fake_world_find(fake_world *w, const char *name)
{
	return spec(w, name);
}

void
fake_world_clock(fake_world *w, int64_t offset)
{
	char v[32];

	(void)w;
	snprintf(v, sizeof(v), "%lld", (long long)offset);
	setenv("AE_TEST_NOW_OFFSET", v, 1);
}

void
fake_world_new_ca(fake_world *w)
{
	ca_keys_free(w->ca);
	ca_keys_new(w->ca);
}

void
fake_world_publish_ds_cert(fake_world *w, X509 *cert)
{
	unsigned char *der = NULL;
	int len = i2d_X509(cert, &der);

	if (len <= 0 || (w->ds_cert = realloc(w->ds_cert, (size_t)len)) == NULL)
		abort();
	memcpy(w->ds_cert, der, (size_t)len);
	w->ds_cert_len = (size_t)len;
	OPENSSL_free(der);
}

void
fake_world_forget_record(fake_world *w, const char *id)
{
	ae_store *st = NULL;

	if (ae_store_open(w->ctx, w->state_dir, false, &st) != AE_OK || ae_store_remove(w->ctx, st, id) != AE_OK)
		abort();
	ae_store_free(st);
}

/* Group Policy as the world says (the source's data is the world). */
static ae_err
fake_group_policy(ae_ctx *ctx, const ae_conf *conf, ae_policy_source *src, const ae_policy *policy, bool machine,
                  uint32_t *aepolicy, char **gpo)
{
	fake_world *w = src->data;

	(void)conf, (void)policy, (void)machine;
	*gpo = NULL;
	if (w->gp_fail)
		return ae_set_message(ctx, AE_ERR_NETWORK, "Group Policy of the fake account: SYSVOL unreachable");
	if (w->gp_gpo[0] != '\0') {
		*aepolicy = w->gp_aepolicy;
		*gpo = strdup(w->gp_gpo);
	}
	return AE_OK;
}

ae_pulse_result *
fake_world_pulse(fake_world *w, unsigned flags)
{
	ae_engine_opts opts = {
		.machine = w->machine,
		.interactive = (flags & FAKE_PULSE_INTERACTIVE) != 0,
		.refresh_policy = (flags & FAKE_PULSE_REFRESH) != 0,
		.open_source = source_open,
		.source_arg = w,
		.group_policy = fake_group_policy,
	};
	ae_pulse_result *r = NULL;

	if (ae_engine_pulse(w->ctx, w->conf, &opts, &r) != AE_OK || r == NULL)
		abort();
	return r;
}

size_t
fake_events(const ae_pulse_result *r, ae_event_kind kind, const char *tpl)
{
	size_t n = 0;

	for (size_t i = 0; i < r->event_count; i++)
		if (r->events[i].kind == kind &&
		    (tpl == NULL || (r->events[i].template_name && strcasecmp(r->events[i].template_name, tpl) == 0)))
			n++;
	return n;
}

size_t
fake_calls(const fake_world *w, fake_call_kind kind, const char *tpl)
{
	size_t n = 0;

	for (size_t i = 0; i < w->ncalls; i++)
		if (w->calls[i].kind == kind && (tpl == NULL || strcasecmp(w->calls[i].template_name, tpl) == 0))
			n++;
	return n;
}

const fake_call *
fake_last_call(const fake_world *w, fake_call_kind kind, const char *tpl)
{
	for (size_t i = w->ncalls; i-- > 0;)
		if (w->calls[i].kind == kind && (tpl == NULL || strcasecmp(w->calls[i].template_name, tpl) == 0))
			return &w->calls[i];
	return NULL;
}

void
fake_forget_calls(fake_world *w)
{
	free(w->calls);
	w->calls = NULL;
	w->ncalls = 0;
}

void
fake_records_load(fake_world *w, fake_records *out)
{
	ae_store *st = NULL;

	memset(out, 0, sizeof(*out));
	if (ae_store_open(w->ctx, w->state_dir, true, &st) != AE_OK ||
	    ae_store_load(w->ctx, st, &out->recs, &out->n) != AE_OK)
		ae_clear_message(w->ctx);
	ae_store_free(st);
}

void
fake_records_clear(fake_records *r)
{
	ae_records_free(r->recs, r->n);
	memset(r, 0, sizeof(*r));
}

static bool
record_matches(const ae_record *rec, const char *tpl, ae_rec_state state)
{
	return rec->state == state && (tpl == NULL || (rec->template_name && strcasecmp(rec->template_name, tpl) == 0));
}

size_t
fake_records_count(const fake_records *r, const char *tpl, ae_rec_state state)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		if (record_matches(r->recs[i], tpl, state))
			n++;
	return n;
}

const ae_record *
fake_records_find(const fake_records *r, const char *tpl, ae_rec_state state)
{
	for (size_t i = r->n; i-- > 0;)
		if (record_matches(r->recs[i], tpl, state))
			return r->recs[i];
	return NULL;
}

const ae_record *
fake_records_by_id(const fake_records *r, const char *id)
{
	for (size_t i = 0; id != NULL && i < r->n; i++)
		if (strcmp(r->recs[i]->id, id) == 0)
			return r->recs[i];
	return NULL;
}

bool
fake_world_has_key(fake_world *w, const char *id)
{
	char *store_spec = ae_strdup_printf("file:%s", w->state_dir);
	ae_keystore *ks = NULL;
	ae_key *key = NULL;
	bool found;

	found = store_spec != NULL && ae_keystore_open(w->ctx, store_spec, &ks) == AE_OK &&
	        ae_keystore_find(w->ctx, ks, id, &key) == AE_OK;
	ae_clear_message(w->ctx);
	ae_key_free(key);
	ae_keystore_free(ks);
	free(store_spec);
	return found;
}

long
fake_serial(const X509 *cert)
{
	long v = ASN1_INTEGER_get(X509_get0_serialNumber(cert));

	ERR_clear_error();
	return v;
}
