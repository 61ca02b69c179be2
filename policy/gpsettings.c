/*
 * gpsettings.c - Group Policy's autoenrollment settings from the GPOs'
 * Registry.pol files: the files played in order on one registry
 * (MS-GPREG 3.2.5.1.2), then the values autoenrollment reads taken out
 * with the GPO that wrote each.  See gpsettings.h.
 */
#include "config.h"

#include "gpsettings.h"

#include "util.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KEY_AE "Software\\Policies\\Microsoft\\Cryptography\\AutoEnrollment"
#define KEY_PS "Software\\Policies\\Microsoft\\Cryptography\\PolicyServers"
#define KEY_SC "Software\\Policies\\Microsoft\\SystemCertificates"
#define KEY_SYSTEM "Software\\Policies\\Microsoft\\Windows\\System"

/* A value of the registry being built: it points into the inputs, which
 * outlive the computation. */
typedef struct {
	const char *key;
	const char *value;
	const ae_regpol_entry *e;
	const char *gpo;
	bool alive;
} rec;

/* Values kept at most: what autoenrollment reads is a few dozen; a file
 * from SYSVOL with more under these keys is hostile, and lookups are
 * linear. */
#define MAX_VALUES 8192

typedef struct {
	rec *r;
	size_t n, cap;
	bool nomem;
	const char *full; /* the GPO whose values were too many, else NULL */
} reg;

/* Only the keys autoenrollment reads are kept (and deletions of their
 * parents honoured). */
static bool
relevant(const char *key)
{
	static const char *const roots[] = { "Software\\Policies\\Microsoft\\Cryptography", KEY_SC, KEY_SYSTEM };

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		size_t l = strlen(roots[i]);

		if (strncasecmp(key, roots[i], l) == 0 && (key[l] == '\\' || key[l] == '\0'))
			return true;
	}
	return false;
}

static rec *
reg_find(reg *g, const char *key, const char *value)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->r[i].alive && strcasecmp(g->r[i].key, key) == 0 && strcasecmp(g->r[i].value, value) == 0)
			return &g->r[i];
	return NULL;
}

static void
reg_delete(reg *g, const char *key, const char *value)
{
	rec *r = reg_find(g, key, value);

	if (r != NULL)
		r->alive = false;
}

static void
reg_set(reg *g, const char *key, const char *value, const ae_regpol_entry *e, const char *gpo)
{
	reg_delete(g, key, value);
	if (g->n == g->cap) {
		size_t live = 0;

		for (size_t i = 0; i < g->n; i++) /* compact first */
			if (g->r[i].alive)
				g->r[live++] = g->r[i];
		g->n = live;
	}
	if (g->n >= MAX_VALUES) {
		g->full = gpo;
		return;
	}
	if (g->n == g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 64;
		rec *n = realloc(g->r, ncap * sizeof(*n));

		if (n == NULL) {
			g->nomem = true;
			return;
		}
		g->r = n;
		g->cap = ncap;
	}
	g->r[g->n++] = (rec){ key, value, e, gpo, true };
}

/* KEY is PATH or below it. */
static bool
under(const char *key, const char *path, size_t plen)
{
	return strncasecmp(key, path, plen) == 0 && (key[plen] == '\0' || key[plen] == '\\');
}

/* **DeleteKeys: each item of the list is a subkey of KEY (MS-GPREG) or,
 * as GPMC writes it, a full path. */
static void
delete_keys(reg *g, const char *key, const char *list)
{
	char *copy = strdup(list), *save = NULL;

	if (copy == NULL) {
		g->nomem = true;
		return;
	}
	for (char *item = strtok_r(copy, ";", &save); item != NULL; item = strtok_r(NULL, ";", &save)) {
		char *path = strchr(item, '\\') ? strdup(item) : ae_strdup_printf("%s\\%s", key, item);
		size_t plen;

		if (path == NULL) {
			g->nomem = true;
			break;
		}
		plen = strlen(path);
		while (plen > 0 && path[plen - 1] == '\\')
			path[--plen] = '\0';
		for (size_t i = 0; i < g->n; i++)
			if (g->r[i].alive && under(g->r[i].key, path, plen))
				g->r[i].alive = false;
		free(path);
	}
	free(copy);
}

static void
delete_values(reg *g, const char *key, const char *list)
{
	char *copy = strdup(list), *save = NULL;

	if (copy == NULL) {
		g->nomem = true;
		return;
	}
	for (char *item = strtok_r(copy, ";", &save); item != NULL; item = strtok_r(NULL, ";", &save))
		reg_delete(g, key, item);
	free(copy);
}

/* One instruction (MS-GPREG 3.2.5.1.2's table for the special names). */
static void
play(reg *g, const ae_regpol_entry *e, const char *gpo)
{
	const char *v = e->value;
	char *list;

	if (strncasecmp(v, "**", 2) != 0) {
		/* a key-only entry sets nothing */
		if (!(v[0] == '\0' && e->type == AE_REG_NONE) && relevant(e->key))
			reg_set(g, e->key, v, e, gpo);
		return;
	}
	if (strncasecmp(v, "**del.", 6) == 0) {
		reg_delete(g, e->key, v + 6);
	} else if (strcasecmp(v, "**delvals.") == 0) {
		for (size_t i = 0; i < g->n; i++)
			if (g->r[i].alive && strcasecmp(g->r[i].key, e->key) == 0)
				g->r[i].alive = false;
	} else if (strncasecmp(v, "**soft.", 7) == 0) {
		if (relevant(e->key) && reg_find(g, e->key, v + 7) == NULL)
			reg_set(g, e->key, v + 7, e, gpo);
	} else if (strcasecmp(v, "**DeleteValues") == 0 || strcasecmp(v, "**DeleteKeys") == 0) {
		list = ae_regpol_string(e);
		if (list == NULL)
			return; /* not REG_SZ: MS-GPREG says it must be; nothing to do */
		if (strcasecmp(v, "**DeleteValues") == 0)
			delete_values(g, e->key, list);
		else
			delete_keys(g, e->key, list);
		free(list);
	}
	/* **SecureKey and names we do not know change no value */
}

typedef struct {
	ae_gp_settings *s;
	bool nomem;
} out_state;

static void
problem(out_state *o, const rec *r, const char *what)
{
	char *p = ae_strdup_printf("%s: %s\\%s %s: left out", r->gpo, r->key, r->value, what);

	if (p == NULL || !ae_strv_append(&o->s->problems, p))
		o->nomem = true;
	free(p);
}

static char *
dup_or_flag(out_state *o, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		o->nomem = true;
	return d;
}

static void
take_dword(out_state *o, const rec *r, ae_gp_dword *d)
{
	uint32_t v;

	if (!ae_regpol_dword(r->e, &v)) {
		problem(o, r, "is not a REG_DWORD");
		return;
	}
	free(d->gpo);
	d->set = true;
	d->value = v;
	d->gpo = dup_or_flag(o, r->gpo);
}

static char *
take_string(out_state *o, const rec *r, char **gpo)
{
	char *v = ae_regpol_string(r->e);

	if (v == NULL) {
		problem(o, r, "is not a REG_SZ");
		return NULL;
	}
	free(*gpo);
	*gpo = dup_or_flag(o, r->gpo);
	return v;
}

static ae_gp_server *
server_for(out_state *o, const char *id)
{
	ae_gp_settings *s = o->s;
	ae_gp_server *n;

	for (size_t i = 0; i < s->n_servers; i++)
		if (strcasecmp(s->servers[i].id, id) == 0)
			return &s->servers[i];
	n = realloc(s->servers, (s->n_servers + 1) * sizeof(*n));
	if (n == NULL) {
		o->nomem = true;
		return NULL;
	}
	s->servers = n;
	n = &s->servers[s->n_servers++];
	memset(n, 0, sizeof(*n));
	n->cost = 0xffffffffu;
	n->id = dup_or_flag(o, id);
	return n;
}

static void
take_server_value(out_state *o, const rec *r, const char *id)
{
	ae_gp_server *sv = server_for(o, id);
	ae_gp_dword d = { 0 };
	char *str, *gpo = NULL;
	char **slot = NULL;
	uint32_t *num = NULL;

	if (sv == NULL)
		return;
	if (strcasecmp(r->value, "URL") == 0)
		slot = &sv->url;
	else if (strcasecmp(r->value, "FriendlyName") == 0)
		slot = &sv->friendly_name;
	else if (strcasecmp(r->value, "PolicyID") == 0)
		slot = &sv->policy_id;
	else if (strcasecmp(r->value, "Flags") == 0)
		num = &sv->flags;
	else if (strcasecmp(r->value, "AuthFlags") == 0)
		num = &sv->auth_flags;
	else if (strcasecmp(r->value, "Cost") == 0)
		num = &sv->cost;
	if (slot != NULL && (str = take_string(o, r, &gpo)) != NULL) {
		free(*slot);
		*slot = str;
		if (slot == &sv->url) {
			free(sv->gpo);
			sv->gpo = gpo;
			gpo = NULL;
		}
	} else if (num != NULL) {
		take_dword(o, r, &d);
		if (d.set)
			*num = d.value;
	}
	free(d.gpo);
	free(gpo);
}

/* The DER certificate inside a registry certificate blob: a serialized
 * store element, properties {id, reserved, length, data} one after the
 * other; CERT_CERT_PROP_ID (32) holds the certificate. */
static bool
blob_der(const ae_regpol_entry *e, const uint8_t **der, size_t *len)
{
	size_t off = 0;

	if (e->type != AE_REG_BINARY)
		return false;
	while (e->size - off >= 12) {
		const uint8_t *p = e->data + off;
		uint32_t id = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		uint32_t n = (uint32_t)p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 | (uint32_t)p[11] << 24;

		if (n > e->size - off - 12)
			return false;
		if (id == 32) {
			*der = p + 12;
			*len = n;
			return true;
		}
		off += 12 + (size_t)n;
	}
	return false;
}

static void
take_cert(out_state *o, const rec *r, int store, const char *thumb)
{
	ae_gp_settings *s = o->s;
	const uint8_t *der = NULL, *p;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	size_t len = 0;
	X509 *x;
	ae_gp_cert *n, *c;

	if (!blob_der(r->e, &der, &len)) {
		problem(o, r, "is not a certificate blob");
		return;
	}
	p = der;
	x = d2i_X509(NULL, &p, (long)len);
	X509_free(x);
	if (x == NULL || p != der + len) {
		problem(o, r, "holds no DER certificate");
		return;
	}
	if (!EVP_Digest(der, len, md, &mdlen, EVP_sha1(), NULL)) {
		o->nomem = true;
		return;
	}
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02X", md[i]);
	if (strcasecmp(hex, thumb) != 0) {
		problem(o, r, "holds a certificate whose SHA-1 is not the key's name");
		return;
	}
	n = realloc(s->certs[store], (s->n_certs[store] + 1) * sizeof(*n));
	if (n == NULL) {
		o->nomem = true;
		return;
	}
	s->certs[store] = n;
	c = &n[s->n_certs[store]++];
	c->thumbprint = dup_or_flag(o, hex);
	c->gpo = dup_or_flag(o, r->gpo);
	c->der = malloc(len);
	c->len = len;
	if (c->der == NULL)
		o->nomem = true;
	else
		memcpy(c->der, der, len);
}

static const char *const store_names[AE_GP_STORE_N] = { "Root", "CA", "Trust", "Disallowed" };

const char *
ae_gp_store_name(int store)
{
	return store >= 0 && store < AE_GP_STORE_N ? store_names[store] : NULL;
}

/* KEY_SC\<Store>\Certificates\<thumbprint> */
static void
take_sc(out_state *o, const rec *r, const char *rest)
{
	for (int st = 0; st < AE_GP_STORE_N; st++) {
		size_t l = strlen(store_names[st]);
		const char *t;

		if (strncasecmp(rest, store_names[st], l) != 0 || strncasecmp(rest + l, "\\Certificates\\", 14) != 0)
			continue;
		t = rest + l + 14;
		if (strchr(t, '\\') == NULL && strcasecmp(r->value, "Blob") == 0)
			take_cert(o, r, st, t);
	}
}

static int
auth_rank(uint32_t auth)
{
	return auth == AE_GP_AUTH_KERBEROS ? 0 : auth == AE_GP_AUTH_ANONYMOUS ? 1 : 2;
}

/* MS-CAESO 4.4.5.3.2.3 as Samba cites it: by cost, then Kerberos,
 * Anonymous, the rest. */
static int
server_cmp(const void *a, const void *b)
{
	const ae_gp_server *x = a, *y = b;

	if (x->cost != y->cost)
		return x->cost < y->cost ? -1 : 1;
	return auth_rank(x->auth_flags) - auth_rank(y->auth_flags);
}

static void
extract(out_state *o, const reg *g)
{
	ae_gp_settings *s = o->s;
	size_t lps = strlen(KEY_PS), lsc = strlen(KEY_SC);

	for (size_t i = 0; i < g->n; i++) {
		const rec *r = &g->r[i];
		char *str;

		if (!r->alive)
			continue;
		if (strcasecmp(r->key, KEY_AE) == 0) {
			if (strcasecmp(r->value, "AEPolicy") == 0) {
				take_dword(o, r, &s->aepolicy);
			} else if (strcasecmp(r->value, "OfflineExpirationPercent") == 0) {
				take_dword(o, r, &s->offline_expiration_percent);
			} else if (strcasecmp(r->value, "OfflineExpirationStoreNames") == 0 &&
			           (str = take_string(o, r, &s->offline_store_names_gpo)) != NULL) {
				free(s->offline_store_names);
				s->offline_store_names = str;
			}
		} else if (strcasecmp(r->key, KEY_SYSTEM) == 0) {
			if (strcasecmp(r->value, "UserPolicyMode") == 0)
				take_dword(o, r, &s->user_policy_mode);
		} else if (strcasecmp(r->key, KEY_PS) == 0) {
			if (r->value[0] == '\0' && (str = take_string(o, r, &s->default_policy_id_gpo)) != NULL) {
				free(s->default_policy_id);
				s->default_policy_id = str;
			} else if (strcasecmp(r->value, "Flags") == 0) {
				take_dword(o, r, &s->policy_servers_flags);
			}
		} else if (under(r->key, KEY_PS, lps) && r->key[lps] == '\\' && strchr(r->key + lps + 1, '\\') == NULL) {
			take_server_value(o, r, r->key + lps + 1);
		} else if (under(r->key, KEY_SC, lsc) && r->key[lsc] == '\\') {
			take_sc(o, r, r->key + lsc + 1);
		}
	}
	/* a server is one with a URL */
	for (size_t i = 0; i < s->n_servers;) {
		ae_gp_server *sv = &s->servers[i];

		if (sv->url != NULL) {
			i++;
			continue;
		}
		free(sv->id);
		free(sv->friendly_name);
		free(sv->policy_id);
		free(sv->gpo);
		memmove(sv, sv + 1, (s->n_servers - i - 1) * sizeof(*sv));
		s->n_servers--;
	}
	if (s->n_servers > 1)
		qsort(s->servers, s->n_servers, sizeof(*s->servers), server_cmp);
}

ae_err
ae_gp_settings_compute(ae_ctx *ctx, const ae_gp_input *in, size_t n, ae_gp_settings **out)
{
	reg g = { 0 };
	out_state o = { 0 };
	ae_err rc = AE_OK;

	ae_return_val_if_fail(out != NULL && (in != NULL || n == 0), AE_ERR_INTERNAL);
	*out = NULL;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; in[i].pol != NULL && j < in[i].pol->n; j++)
			play(&g, &in[i].pol->entries[j], in[i].gpo ? in[i].gpo : "?");
	o.s = calloc(1, sizeof(*o.s));
	if (g.nomem || o.s == NULL) {
		rc = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto out;
	}
	extract(&o, &g);
	if (g.full != NULL) {
		char *p = ae_strdup_printf("%s: more than %d values under the autoenrollment keys: the rest left out",
		                           g.full, MAX_VALUES);

		if (p == NULL || !ae_strv_append(&o.s->problems, p))
			o.nomem = true;
		free(p);
	}
	if (o.nomem) {
		rc = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		goto out;
	}
	*out = o.s;
	o.s = NULL;
out:
	ae_gp_settings_free(o.s);
	free(g.r);
	return rc;
}

const ae_gp_server *
ae_gp_settings_ldap_server(const ae_gp_settings *s)
{
	for (size_t i = 0; s != NULL && i < s->n_servers; i++)
		if (strcasecmp(s->servers[i].url, "LDAP:") == 0 && (s->servers[i].flags & AE_GP_PSF_AUTOENROLLMENT))
			return &s->servers[i];
	return NULL;
}

void
ae_gp_settings_free(ae_gp_settings *s)
{
	if (s == NULL)
		return;
	free(s->aepolicy.gpo);
	free(s->user_policy_mode.gpo);
	free(s->offline_expiration_percent.gpo);
	free(s->offline_store_names);
	free(s->offline_store_names_gpo);
	free(s->default_policy_id);
	free(s->default_policy_id_gpo);
	free(s->policy_servers_flags.gpo);
	for (size_t i = 0; i < s->n_servers; i++) {
		free(s->servers[i].id);
		free(s->servers[i].url);
		free(s->servers[i].friendly_name);
		free(s->servers[i].policy_id);
		free(s->servers[i].gpo);
	}
	free(s->servers);
	for (int st = 0; st < AE_GP_STORE_N; st++) {
		for (size_t i = 0; i < s->n_certs[st]; i++) {
			free(s->certs[st][i].thumbprint);
			free(s->certs[st][i].der);
			free(s->certs[st][i].gpo);
		}
		free(s->certs[st]);
	}
	ae_strv_free(s->problems);
	free(s);
}

void
ae_gp_notes_free(ae_gp_note *notes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(notes[i].gpo);
		free(notes[i].message);
	}
	free(notes);
}

ae_err
ae_gp_settings_policy_servers(ae_ctx *ctx, const ae_gp_settings *s, char ***out, const char **gpo)
{
	char **v = NULL;

	*out = NULL;
	*gpo = NULL;
	for (size_t i = 0; s != NULL && i < s->n_servers; i++) {
		if (!(s->servers[i].flags & AE_GP_PSF_AUTOENROLLMENT) || s->servers[i].url == NULL)
			continue;
		/* already in Group Policy's order, which entries without a
		 * cost keep */
		if (*gpo == NULL)
			*gpo = s->servers[i].gpo;
		if (!ae_strv_append(&v, s->servers[i].url)) {
			ae_strv_free(v);
			return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
		}
	}
	*out = v;
	if (v == NULL)
		*gpo = NULL;
	return AE_OK;
}
