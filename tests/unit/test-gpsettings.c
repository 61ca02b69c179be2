/*
 * test-gpsettings.c - Group Policy's autoenrollment settings from GPOs'
 * Registry.pol files in precedence order: the files Samba's encoder wrote
 * (tests/data/regpol), and instructions made here for the rules one at a
 * time (last writer wins, **del., **delvals., **DeleteValues,
 * **DeleteKeys relative and full, **soft., wrong types, certificate
 * blobs, policy server order).
 */
#include "config.h"

#include "gpsettings.h"
#include "regpol-files.h"
#include "tap.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define AE "Software\\Policies\\Microsoft\\Cryptography\\AutoEnrollment"
#define PS "Software\\Policies\\Microsoft\\Cryptography\\PolicyServers"


/* A file made here: up to 16 instructions. */
typedef struct {
	ae_regpol pol;
	ae_regpol_entry e[16];
} made;

static void
add(made *m, const char *key, const char *value, uint32_t type, const void *data, size_t size)
{
	ae_regpol_entry *e = &m->e[m->pol.n++];

	m->pol.entries = m->e;
	e->key = strdup(key);
	e->value = strdup(value);
	e->type = type;
	e->size = size;
	e->data = size ? malloc(size) : NULL;
	if (size)
		memcpy(e->data, data, size);
}

static void
add_dword(made *m, const char *key, const char *value, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	add(m, key, value, AE_REG_DWORD, b, 4);
}

static void
add_sz(made *m, const char *key, const char *value, const char *s)
{
	size_t n = strlen(s);
	uint8_t *b = calloc(1, 2 * n + 2);

	for (size_t i = 0; i < n; i++)
		b[2 * i] = (uint8_t)s[i];
	add(m, key, value, AE_REG_SZ, b, 2 * n + 2);
	free(b);
}

static void
made_clear(made *m)
{
	for (size_t i = 0; i < m->pol.n; i++) {
		free(m->e[i].key);
		free(m->e[i].value);
		free(m->e[i].data);
	}
	memset(m, 0, sizeof(*m));
}

static ae_gp_settings *
compute(ae_ctx *ctx, const ae_gp_input *in, size_t n)
{
	ae_gp_settings *s = NULL;

	if (ae_gp_settings_compute(ctx, in, n, &s) != AE_OK)
		tap_diag("%s", ae_get_message(ctx));
	return s;
}

static void
test_real_file(ae_ctx *ctx)
{
	ae_regpol *pol = load(ctx, "autoenroll.pol");
	ae_gp_input in[] = { { "Autoenrollment (domain)", pol } };
	ae_gp_settings *s = compute(ctx, in, 1);
	const ae_gp_server *ldap;

	tap_ok(s != NULL, "settings of the GPMC-shaped file");
	if (s == NULL)
		return;
	tap_ok(s->aepolicy.set && s->aepolicy.value == 7, "AEPolicy 7");
	tap_is_str(s->aepolicy.gpo, "Autoenrollment (domain)", "AEPolicy names its GPO");
	tap_ok(s->offline_expiration_percent.set && s->offline_expiration_percent.value == 10,
	       "OfflineExpirationPercent 10");
	tap_is_str(s->offline_store_names, "MY", "OfflineExpirationStoreNames MY");
	tap_is_str(s->default_policy_id, "{A5E9BF57-71C6-443A-B7FC-79EFA6F73EBD}", "the default server's PolicyID");
	tap_ok(s->policy_servers_flags.set && s->policy_servers_flags.value == 0, "PolicyServers Flags 0");
	tap_is_int(s->n_servers, 1, "one policy server");
	ldap = ae_gp_settings_ldap_server(s);
	tap_ok(ldap != NULL && strcmp(ldap->url, "LDAP:") == 0 && ldap->flags == 0x14 && ldap->auth_flags == 2 &&
	               ldap->cost == 0x7ffffffd && strcmp(ldap->friendly_name, "Active Directory Enrollment Policy") == 0 &&
	               strcmp(ldap->id, "37c9dc30f207f27f61a2f7c3aed598a6e2920b54") == 0,
	       "the LDAP: server: URL, flags 0x14, Kerberos, cost, friendly name, id");
	tap_ok(s->n_certs[AE_GP_STORE_ROOT] + s->n_certs[AE_GP_STORE_DISALLOWED] == 0,
	       "key-only SystemCertificates entries are no certificates");
	tap_ok(s->problems == NULL, "no problem");
	ae_gp_settings_free(s);
	ae_regpol_free(pol);
}

static void
test_precedence(ae_ctx *ctx)
{
	ae_regpol *dom = load(ctx, "autoenroll.pol"), *ou = load(ctx, "disabled.pol");
	ae_regpol *del = load(ctx, "deletions.pol");
	ae_gp_input in[] = { { "Domain", dom }, { "Workstations OU", ou } };
	ae_gp_input in2[] = { { "Domain", dom }, { "Cleanup", del } };
	ae_gp_input in3[] = { { "Cleanup", del }, { "Domain", dom } };
	ae_gp_settings *s;

	s = compute(ctx, in, 2);
	tap_ok(s && s->aepolicy.value == 0x8000 && strcmp(s->aepolicy.gpo, "Workstations OU") == 0,
	       "the OU's AEPolicy 0x8000 applied after the domain's 7 wins");
	tap_ok(s && s->offline_expiration_percent.value == 10 &&
	               strcmp(s->offline_expiration_percent.gpo, "Domain") == 0,
	       "what the OU does not set stays the domain's");
	ae_gp_settings_free(s);

	s = compute(ctx, in2, 2);
	tap_ok(s && !s->aepolicy.set && !s->offline_expiration_percent.set && s->offline_store_names == NULL,
	       "**del., **delvals. and **DeleteValues of a later GPO remove the earlier one's values");
	tap_ok(s && s->n_servers == 0 && s->default_policy_id == NULL,
	       "**DeleteKeys with a full path (as GPMC writes it) removes PolicyServers and below");
	ae_gp_settings_free(s);

	s = compute(ctx, in3, 2);
	tap_ok(s && s->aepolicy.set && s->aepolicy.value == 7 && s->n_servers == 1,
	       "deletions before the values delete nothing");
	ae_gp_settings_free(s);
	ae_regpol_free(dom);
	ae_regpol_free(ou);
	ae_regpol_free(del);
}

static void
test_markers(ae_ctx *ctx)
{
	made a = { 0 }, b = { 0 };
	ae_gp_input in[] = { { "A", &a.pol }, { "B", &b.pol } };
	ae_gp_settings *s;

	add_dword(&a, AE, "AEPolicy", 7);
	add_dword(&a, AE, "OfflineExpirationPercent", 20);
	add_sz(&a, PS "\\srv1", "URL", "LDAP:");
	add_dword(&a, PS "\\srv1", "Flags", 0x10);
	add_sz(&b, "software\\policies\\microsoft\\cryptography\\autoenrollment", "**DEL.aepolicy", " ");
	add_dword(&b, AE, "**soft.OfflineExpirationPercent", 50);
	add_dword(&b, AE, "**soft.AEPolicy", 1);
	add_sz(&b, "Software\\Policies\\Microsoft\\Cryptography", "**DeleteKeys", "PolicyServers");
	add_dword(&b, "Software\\Policies\\Microsoft\\Windows\\System", "UserPolicyMode", 2);
	s = compute(ctx, in, 2);
	tap_ok(s && s->user_policy_mode.set && s->user_policy_mode.value == 2 &&
	               strcmp(s->user_policy_mode.gpo, "B") == 0,
	       "UserPolicyMode (loopback replace) from the computer's settings");
	tap_ok(s && s->aepolicy.set && s->aepolicy.value == 1 && strcmp(s->aepolicy.gpo, "B") == 0,
	       "**Del. (any case, key in any case) deletes; **soft. then sets what is absent");
	tap_ok(s && s->offline_expiration_percent.value == 20, "**soft. leaves a value that is there");
	tap_ok(s && s->n_servers == 0, "**DeleteKeys with a subkey name relative to its key");
	ae_gp_settings_free(s);
	made_clear(&a);
	made_clear(&b);

	add_sz(&a, AE, "AEPolicy", "7");
	add_dword(&a, AE, "OfflineExpirationStoreNames", 1);
	s = compute(ctx, in, 1);
	tap_ok(s && !s->aepolicy.set && s->offline_store_names == NULL && ae_strv_len(s->problems) == 2,
	       "values of the wrong type are left out, each a problem");
	tap_ok(s && s->problems && strstr(s->problems[0], "A: ") == s->problems[0] &&
	               strstr(s->problems[0], "AEPolicy is not a REG_DWORD") != NULL,
	       "the problem names the GPO and the value");
	if (s && s->problems)
		tap_diag("%s", s->problems[0]);
	ae_gp_settings_free(s);
	made_clear(&a);

	/* servers: by cost, then Kerberos, Anonymous, the rest */
	add_sz(&a, PS "\\x", "URL", "https://cep1/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP");
	add_dword(&a, PS "\\x", "Cost", 10);
	add_dword(&a, PS "\\x", "AuthFlags", 4);
	add_sz(&a, PS "\\y", "URL", "https://cep1/ADPolicyProvider_CEP_Kerberos/service.svc/CEP");
	add_dword(&a, PS "\\y", "Cost", 10);
	add_dword(&a, PS "\\y", "AuthFlags", 2);
	add_sz(&a, PS "\\z", "URL", "LDAP:");
	add_dword(&a, PS "\\z", "Cost", 1);
	add_dword(&a, PS "\\z", "Flags", 0x4);
	add_dword(&a, PS "\\w", "Cost", 0);
	s = compute(ctx, in, 1);
	tap_ok(s && s->n_servers == 3 && strcmp(s->servers[0].id, "z") == 0 && strcmp(s->servers[1].id, "y") == 0 &&
	               strcmp(s->servers[2].id, "x") == 0,
	       "servers by cost, then Kerberos first; a subkey without URL is no server");
	tap_ok(s && ae_gp_settings_ldap_server(s) == NULL, "LDAP: without PsfAutoEnrollmentEnabled is not used");
	ae_gp_settings_free(s);
	{
		/* as policy_servers: those enabled for autoenrollment, in order */
		char **list = NULL;
		const char *gpo = "x";
		add_dword(&a, PS "\\x", "Flags", 0x10);
		add_dword(&a, PS "\\z", "Flags", 0x14);
		s = compute(ctx, in, 1);
		tap_ok(s && ae_gp_settings_policy_servers(ctx, s, &list, &gpo) == AE_OK && ae_strv_len(list) == 2 &&
		               strcmp(list[0], "LDAP:") == 0 &&
		               strcmp(list[1], "https://cep1/ADPolicyProvider_CEP_UsernamePassword/service.svc/CEP") == 0 &&
		               gpo != NULL && strcmp(gpo, "A") == 0,
		       "PolicyServers as policy_servers: the enabled ones (not y) in Group Policy's order, the GPO named");
		ae_strv_free(list);
		ae_gp_settings_free(s);
		tap_ok(ae_gp_settings_policy_servers(ctx, NULL, &list, &gpo) == AE_OK && list == NULL && gpo == NULL,
		       "no Group Policy: no policy servers");
	}
	made_clear(&a);
}

static void
test_certs(ae_ctx *ctx)
{
	ae_regpol *root = load(ctx, "certs-root.pol"), *dis = load(ctx, "certs-disallowed.pol");
	ae_gp_input in[] = { { "Lab roots", root }, { "Distrust", dis } };
	ae_gp_settings *s = compute(ctx, in, 2);
	size_t len = 0;
	char *der = ae_read_file(DATA "root.der", 1 << 16, &len);
	made bad = { 0 };
	ae_gp_input in_bad[] = { { "Bad", &bad.pol } };

	tap_ok(s && s->n_certs[AE_GP_STORE_ROOT] == 1 && s->n_certs[AE_GP_STORE_DISALLOWED] == 1,
	       "one Root and one Disallowed certificate");
	tap_ok(s && s->n_certs[AE_GP_STORE_ROOT] == 1 && s->certs[AE_GP_STORE_ROOT][0].len == len &&
	               memcmp(s->certs[AE_GP_STORE_ROOT][0].der, der, len) == 0 &&
	               strcmp(s->certs[AE_GP_STORE_ROOT][0].gpo, "Lab roots") == 0,
	       "the Root certificate is root.der, from its GPO");
	tap_ok(s && s->n_certs[AE_GP_STORE_DISALLOWED] == 1 &&
	               strcmp(s->certs[AE_GP_STORE_DISALLOWED][0].thumbprint,
	                      s->certs[AE_GP_STORE_ROOT][0].thumbprint) == 0,
	       "Disallowed names the same thumbprint");
	ae_gp_settings_free(s);

	/* a blob whose certificate is not the one its key names */
	if (s != NULL && root != NULL && root->n == 1) {
		char *key = strdup(root->entries[0].key);

		key[strlen(key) - 1] = key[strlen(key) - 1] == '0' ? '1' : '0';
		add(&bad, key, "Blob", AE_REG_BINARY, root->entries[0].data, root->entries[0].size);
		add(&bad, root->entries[0].key, "Blob", AE_REG_BINARY, "\x20\0\0\0\1\0\0\0\xff\0\0\0", 12);
		free(key);
	}
	s = compute(ctx, in_bad, 1);
	tap_ok(s && s->n_certs[AE_GP_STORE_ROOT] == 0 && ae_strv_len(s->problems) == 2,
	       "a blob that runs past its value, or whose SHA-1 is not its key's name: left out");
	for (size_t i = 0; s && i < ae_strv_len(s->problems); i++)
		tap_diag("%s", s->problems[i]);
	ae_gp_settings_free(s);
	made_clear(&bad);
	free(der);
	ae_regpol_free(root);
	ae_regpol_free(dis);
}

/* A hostile file with more values under the autoenrollment keys than are
 * kept, and values elsewhere that are not kept at all. */
static void
test_too_many(ae_ctx *ctx)
{
	enum { N = 9000 };
	ae_regpol pol = { 1, calloc(N + 1, sizeof(ae_regpol_entry)), N + 1 };
	ae_gp_input in[] = { { "Flood", &pol } };
	uint8_t one[4] = { 1, 0, 0, 0 };
	ae_gp_settings *s;

	for (size_t i = 0; i < N; i++) {
		pol.entries[i].key = ae_strdup_printf(PS "\\s%zu", i);
		pol.entries[i].value = strdup("Cost");
		pol.entries[i].type = AE_REG_DWORD;
		pol.entries[i].size = 4;
		pol.entries[i].data = one;
	}
	pol.entries[N].key = strdup("Software\\Elsewhere");
	pol.entries[N].value = strdup("AEPolicy");
	pol.entries[N].type = AE_REG_DWORD;
	pol.entries[N].size = 4;
	pol.entries[N].data = one;
	s = compute(ctx, in, 1);
	tap_ok(s && s->n_servers == 0 && !s->aepolicy.set && ae_strv_len(s->problems) == 1 &&
	               strstr(s->problems[0], "Flood: more than 8192 values") != NULL,
	       "more than 8192 values under the autoenrollment keys: the rest left out, one problem; other keys ignored");
	ae_gp_settings_free(s);
	for (size_t i = 0; i <= N; i++) {
		free(pol.entries[i].key);
		free(pol.entries[i].value);
	}
	free(pol.entries);
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();

	test_real_file(ctx);
	test_precedence(ctx);
	test_markers(ctx);
	test_certs(ctx);
	test_too_many(ctx);
	tap_is_str(ae_gp_store_name(AE_GP_STORE_DISALLOWED), "Disallowed", "store names");
	ae_ctx_free(ctx);
	return tap_done();
}
