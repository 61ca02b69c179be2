/*
 * test-gpo.c - which GPOs apply (MS-GPOL 3.2.5.1.3-6), on scopes of
 * management and GPO objects made here: gPLink parsing, the SOM list of a
 * DN, link order across OU / domain / site, enforced links, disabled
 * links, blocked inheritance, the flags halves, security filtering with
 * the Apply Group Policy right, empty and unreadable GPOs, WMI filters,
 * loopback replace and merge.
 */
#include "config.h"

#include "gpo.h"
#include "tap.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define POL ",CN=Policies,CN=System,DC=corp,DC=test"
#define DN(g) "CN={" g "}" POL
#define AU "S-1-5-11"
#define STAFF_DENY "S-1-5-21-1-2-3-1200"

static ae_ace
ace(uint8_t type, const char *sid)
{
	static const uint8_t apply[16] = { 0x8f, 0xfd, 0xac, 0xed, 0xb3, 0xff, 0xd1, 0x11,
		                           0xb4, 0x1d, 0x00, 0xa0, 0xc9, 0x68, 0xf9, 0x39 };
	ae_ace a;

	memset(&a, 0, sizeof(a));
	a.type = type;
	a.mask = AE_RIGHT_DS_CONTROL_ACCESS;
	a.object_flags = AE_ACE_OBJECT_TYPE_PRESENT;
	memcpy(a.object_type, apply, 16);
	ae_sid_from_string(NULL, sid, &a.sid);
	return a;
}

/* Authenticated Users may apply it; DENY_GROUP (when not NULL) is denied
 * first, as GPMC orders a deny. */
static ae_secdesc *
sd(const char *deny_group)
{
	ae_secdesc *s = calloc(1, sizeof(*s));

	s->has_dacl = true;
	s->aces = calloc(2, sizeof(ae_ace));
	if (deny_group != NULL)
		s->aces[s->ace_count++] = ace(AE_ACE_DENIED_OBJECT, deny_group);
	s->aces[s->ace_count++] = ace(AE_ACE_ALLOWED_OBJECT, AU);
	return s;
}

static void
object(ae_gpo_object *o, const char *guid, uint32_t flags, uint32_t version, const char *deny)
{
	memset(o, 0, sizeof(*o));
	o->guid = ae_strdup_printf("{%s}", guid);
	o->dn = ae_strdup_printf("CN={%s}%s", guid, POL);
	o->name = strdup(guid);
	o->flags = flags;
	o->version = version;
	o->functionality_version = 2;
	o->sd = sd(deny);
}

static const char *
order(const ae_gpo_list *l)
{
	static char buf[256];

	buf[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		const ae_gpo_result *r = &l->items[i];

		if (r->status == AE_GPO_APPLIED)
			strcat(buf, r->obj->name);
		else
			strcat(buf, "-");
		if (i + 1 < l->n)
			strcat(buf, i + 1 == l->n_ordered ? " | " : " ");
	}
	return buf;
}

static const ae_gpo_result *
find(const ae_gpo_list *l, const char *name_in_dn)
{
	for (size_t i = 0; i < l->n; i++)
		if (strstr(l->items[i].dn, name_in_dn) != NULL)
			return &l->items[i];
	return NULL;
}

static void
test_gplink(ae_ctx *ctx)
{
	ae_gplink *l = NULL;
	size_t n = 0;

	tap_ok(ae_gplink_parse(ctx, "[LDAP://cn={A},cn=policies,cn=system,DC=corp,DC=test;0]"
	                            "[LDAP://dc1.corp.test/cn={B},cn=policies,cn=system,DC=corp,DC=test;2]",
	                       &l, &n) == AE_OK && n == 2,
	       "gPLink: two links");
	tap_ok(n == 2 && strcmp(l[0].dn, "cn={A},cn=policies,cn=system,DC=corp,DC=test") == 0 && l[0].options == 0 &&
	               strcmp(l[1].dn, "cn={B},cn=policies,cn=system,DC=corp,DC=test") == 0 && l[1].options == 2,
	       "gPLink: DNs (a server part dropped) and options");
	ae_gplinks_free(l, n);
	tap_ok(ae_gplink_parse(ctx, "", &l, &n) == AE_OK && n == 0 && l == NULL, "an empty gPLink: no link");
	tap_ok(ae_gplink_parse(ctx, "[LDAP://cn=x;1x]", &l, &n) == AE_ERR_INVALID && l == NULL,
	       "options that are not a number: refused");
	tap_diag("%s", ae_get_message(ctx));
	tap_ok(ae_gplink_parse(ctx, "[LDAP://cn=x;0", &l, &n) == AE_ERR_INVALID, "no closing bracket: refused");
	tap_ok(ae_gplink_parse(ctx, "[cn=x;0]", &l, &n) == AE_ERR_INVALID, "no LDAP://: refused");
	tap_ok(ae_gplink_parse(ctx, "[LDAP://;0]", &l, &n) == AE_ERR_INVALID, "no DN: refused");
	tap_ok(ae_gplink_parse(ctx, "[LDAP://dc1/;0]", &l, &n) == AE_ERR_INVALID, "a server and no DN: refused");
}

static void
test_soms(void)
{
	size_t n = 0;
	ae_som *s = ae_som_list("CN=alice,OU=Sub\\,Team,OU=Staff,CN=Users,DC=corp,DC=test", &n);

	tap_ok(s != NULL && n == 3 && strcmp(s[0].dn, "OU=Sub\\,Team,OU=Staff,CN=Users,DC=corp,DC=test") == 0 &&
	               s[0].kind == AE_SOM_OU && strcmp(s[1].dn, "OU=Staff,CN=Users,DC=corp,DC=test") == 0 &&
	               strcmp(s[2].dn, "DC=corp,DC=test") == 0 && s[2].kind == AE_SOM_DOMAIN,
	       "SOMs: the OUs nearest first (escaped comma kept), CN= containers skipped, the domain last");
	ae_soms_free(s, n);
	tap_ok(ae_som_list("CN=x,O=nowhere", &n) == NULL, "a DN without DC=: no SOMs");
}

static void
test_order(ae_ctx *ctx)
{
	ae_som soms[3] = {
		{ (char *)"OU=Staff,DC=corp,DC=test", AE_SOM_OU, (char *)"[LDAP://" DN("A") ";0][LDAP://" DN("B") ";0][LDAP://" DN("X") ";1]", false },
		{ (char *)"DC=corp,DC=test", AE_SOM_DOMAIN, (char *)"[LDAP://" DN("D") ";0][LDAP://" DN("E") ";2]", false },
		{ (char *)"CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=corp,DC=test", AE_SOM_SITE,
		  (char *)"[LDAP://" DN("S") ";0][LDAP://" DN("F") ";2]", false },
	};
	ae_gpo_object objs[8];
	ae_token tok;
	ae_gpo_list *l = NULL;
	const char *names[] = { "A", "B", "X", "D", "E", "S", "F" };
	const ae_gpo_result *r;

	ae_token_init(&tok);
	ae_token_add_string(ctx, &tok, "S-1-5-21-1-2-3-1105");
	ae_token_add_string(ctx, &tok, AU);
	for (size_t i = 0; i < 7; i++)
		object(&objs[i], names[i], 0, 0x10001, NULL);

	tap_ok(ae_gpo_compute(ctx, soms, 3, objs, 7, &tok, false, &l) == AE_OK, "computed");
	/* non-enforced: site, domain, the OU's (first in gPLink last); then
	 * enforced: the domain's, then the site's (the farthest wins) */
	tap_is_str(order(l), "S D B A E F | -", "application order: site, domain, OU, then enforced by distance");
	r = find(l, "{X}");
	tap_ok(r && r->status == AE_GPO_LINK_DISABLED && strcmp(r->som, soms[0].dn) == 0,
	       "a disabled link is considered, not applied");
	ae_gpo_list_free(l);

	/* blocked inheritance at the OU: the domain's and the site's
	 * non-enforced links are left out, enforced ones still apply */
	soms[0].block_inheritance = true;
	tap_ok(ae_gpo_compute(ctx, soms, 3, objs, 7, &tok, false, &l) == AE_OK, "computed with blocked inheritance");
	tap_is_str(order(l), "B A E F | - - -", "blocked at the OU: its own links and the enforced ones apply");
	r = find(l, "{D}");
	tap_ok(r && r->status == AE_GPO_BLOCKED && strcmp(r->blocked_at, soms[0].dn) == 0,
	       "the domain's link is blocked at the OU");
	ae_gpo_list_free(l);
	soms[0].block_inheritance = false;

	/* the objects' own rules */
	objs[0].flags = AE_GPO_FLAG_USER_DISABLED;
	objs[1].flags = AE_GPO_FLAG_MACHINE_DISABLED;
	ae_secdesc_free(objs[3].sd);
	objs[3].sd = sd(STAFF_DENY);
	objs[4].version = 0;
	objs[5].functionality_version = 1;
	free(objs[6].wmi_filter);
	objs[6].wmi_filter = strdup("[corp.test;{W};0]");
	ae_token_add_string(ctx, &tok, STAFF_DENY);
	tap_ok(ae_gpo_compute(ctx, soms, 3, objs, 6, &tok, false, &l) == AE_OK, "computed for the user half");
	tap_is_str(order(l), "- - B - - - | -", "user mode: user half disabled, denied, empty, bad version, missing");
	tap_ok(find(l, "{A}")->status == AE_GPO_HALF_DISABLED, "A: user settings disabled");
	r = find(l, "{D}");
	tap_ok(r->status == AE_GPO_DENIED && r->access.by_deny, "D: Apply Group Policy denied by the deny entry");
	tap_ok(find(l, "{E}")->status == AE_GPO_EMPTY, "E: versionNumber 0 is empty");
	tap_ok(find(l, "{S}")->status == AE_GPO_BAD_VERSION, "S: gPCFunctionalityVersion 1");
	tap_ok(find(l, "{F}")->status == AE_GPO_NOT_READABLE && find(l, "{F}")->obj == NULL,
	       "F: not returned by the DC");
	ae_gpo_list_free(l);
	tap_ok(ae_gpo_compute(ctx, soms, 3, objs, 7, &tok, true, &l) == AE_OK, "computed for the computer half");
	tap_is_str(order(l), "- - - A - F | -", "computer mode: computer half disabled; WMI filter applied");
	tap_ok(find(l, "{F}")->wmi_unevaluated, "F: applied with its WMI filter not evaluated");
	ae_gpo_list_free(l);

	/* no entry for the token at all */
	ae_token_clear(&tok);
	ae_token_init(&tok);
	ae_token_add_string(ctx, &tok, "S-1-5-21-9-9-9-500");
	tap_ok(ae_gpo_compute(ctx, soms, 3, objs, 7, &tok, false, &l) == AE_OK &&
	               find(l, "{B}")->status == AE_GPO_DENIED && !find(l, "{B}")->access.by_deny,
	       "no entry grants Apply Group Policy: denied");
	ae_gpo_list_free(l);

	soms[1].gplink = (char *)"[LDAP://cn=x;zz]";
	tap_ok(ae_gpo_compute(ctx, soms, 3, objs, 7, &tok, false, &l) == AE_ERR_INVALID && l == NULL &&
	               strstr(ae_get_message(ctx), "gPLink of DC=corp,DC=test") != NULL,
	       "a malformed gPLink fails the computation, naming the SOM");
	ae_token_clear(&tok);
	for (size_t i = 0; i < 7; i++) {
		free(objs[i].guid);
		free(objs[i].dn);
		free(objs[i].name);
		free(objs[i].wmi_filter);
		ae_secdesc_free(objs[i].sd);
	}
}

/* Loopback: the user's list from her OU, the computer's SOMs worked out
 * for her token in user mode; replace takes the computer's, merge both. */
static void
test_loopback(ae_ctx *ctx)
{
	ae_som user_soms[2] = {
		{ (char *)"OU=Staff,DC=corp,DC=test", AE_SOM_OU, (char *)"[LDAP://" DN("A") ";0]", false },
		{ (char *)"DC=corp,DC=test", AE_SOM_DOMAIN, (char *)"[LDAP://" DN("D") ";0][LDAP://" DN("X") ";1]", false },
	};
	ae_som computer_soms[2] = {
		{ (char *)"OU=Workstations,DC=corp,DC=test", AE_SOM_OU, (char *)"[LDAP://" DN("W") ";0]", false },
		user_soms[1],
	};
	ae_gpo_object objs[4];
	const char *names[] = { "A", "D", "W", "X" };
	ae_gpo_list *u = NULL, *c = NULL, *l = NULL;
	ae_token tok;

	ae_token_init(&tok);
	ae_token_add_string(ctx, &tok, AU);
	for (size_t i = 0; i < 4; i++)
		object(&objs[i], names[i], 0, 0x10001, NULL);
	ae_gpo_compute(ctx, user_soms, 2, objs, 4, &tok, false, &u);
	ae_gpo_compute(ctx, computer_soms, 2, objs, 4, &tok, false, &c);
	tap_ok(u && c && ae_gpo_loopback(ctx, u, c, AE_GPO_LOOPBACK_REPLACE, &l) == AE_OK, "loopback replace");
	tap_is_str(l ? order(l) : "", "D W | -", "replace: the computer's SOMs only, for the user");
	ae_gpo_list_free(l);
	tap_ok(ae_gpo_loopback(ctx, u, c, AE_GPO_LOOPBACK_MERGE, &l) == AE_OK, "loopback merge");
	tap_is_str(l ? order(l) : "", "D A D W | - -", "merge: the user's list, then the computer's (which wins)");
	ae_gpo_list_free(l);
	tap_ok(ae_gpo_loopback(ctx, u, c, AE_GPO_LOOPBACK_NONE, &l) == AE_OK, "no loopback");
	tap_is_str(l ? order(l) : "", "D A | -", "none: the user's own list");
	ae_gpo_list_free(l);
	ae_gpo_list_free(u);
	ae_gpo_list_free(c);
	ae_token_clear(&tok);
	for (size_t i = 0; i < 4; i++) {
		free(objs[i].guid);
		free(objs[i].dn);
		free(objs[i].name);
		ae_secdesc_free(objs[i].sd);
	}
}

static void
test_gptini(void)
{
	uint32_t v = 0;
	const char *real = "[General]\r\nVersion=65537\r\ndisplayName=New Group Policy Object\r\n";

	tap_ok(ae_gptini_version(real, strlen(real), &v) && v == 65537, "GPT.INI: Version of [General], CRLF lines");
	tap_ok(ae_gptini_version("[general]\nversion=3", 19, &v) && v == 3, "GPT.INI: names in any case, no final newline");
	tap_ok(!ae_gptini_version("[Other]\nVersion=3\n", 18, &v), "GPT.INI: Version outside [General] is not it");
	tap_ok(!ae_gptini_version("[General]\nVersion=4294967296\n", 29, &v), "GPT.INI: a version over 32 bits is refused");
	tap_ok(!ae_gptini_version("[General]\nVersion=1x\n", 21, &v), "GPT.INI: a version that is not a number is refused");
	tap_ok(!ae_gptini_version("", 0, &v), "GPT.INI: empty, no version");
}

static void
test_subnets(void)
{
	ae_subnet sn;
	uint8_t a4[4] = { 10, 1, 2, 3 }, b4[4] = { 10, 2, 0, 1 }, a6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0 };

	tap_ok(ae_subnet_parse("10.1.0.0/16", &sn) && sn.family == AF_INET && sn.prefix == 16, "subnet: IPv4 prefix");
	tap_ok(ae_subnet_contains(&sn, AF_INET, a4) && !ae_subnet_contains(&sn, AF_INET, b4),
	       "subnet: 10.1.2.3 in 10.1.0.0/16, 10.2.0.1 not");
	tap_ok(!ae_subnet_contains(&sn, AF_INET6, a6), "subnet: another family is never inside");
	tap_ok(ae_subnet_parse("10.0.0.0/9", &sn) && ae_subnet_contains(&sn, AF_INET, a4) &&
	       !ae_subnet_contains(&sn, AF_INET, (const uint8_t[]){ 10, 128, 0, 1 }), "subnet: a prefix inside a byte");
	tap_ok(ae_subnet_parse("0.0.0.0/0", &sn) && ae_subnet_contains(&sn, AF_INET, b4), "subnet: /0 holds everything");
	tap_ok(ae_subnet_parse("2001:db8::/32", &sn) && sn.family == AF_INET6 && ae_subnet_contains(&sn, AF_INET6, a6),
	       "subnet: IPv6");
	tap_ok(!ae_subnet_parse("10.0.0.0/33", &sn) && !ae_subnet_parse("10.0.0.0", &sn) &&
	       !ae_subnet_parse("10.0.0.0/", &sn) && !ae_subnet_parse("10.0.0.0/8x", &sn) &&
	       !ae_subnet_parse("Default-First-Site-Name/8", &sn) && !ae_subnet_parse("2001:db8::/129", &sn),
	       "subnet: a prefix too long, missing or not a number, a host that is not an address: refused");
}

static void
test_computer_file(void)
{
	ae_gp_computer c = { .computer_dn = strdup("CN=WS1,OU=Workstations,DC=corp,DC=test"), .mode = 2,
		             .mode_gpo = strdup("Kiosk loopback") }, back;
	char *text = ae_gp_computer_format(&c);

	tap_ok(text != NULL && ae_gp_computer_parse(text, strlen(text), &back) &&
	       strcmp(back.computer_dn, c.computer_dn) == 0 && back.mode == 2 && strcmp(back.mode_gpo, "Kiosk loopback") == 0,
	       "computer file: what the machine writes, the user reads back");
	ae_gp_computer_clear(&back);
	tap_ok(!ae_gp_computer_parse("user_policy_mode = 2\n", 21, &back) && back.computer_dn == NULL,
	       "computer file: no DN, refused");
	tap_ok(!ae_gp_computer_parse("computer_dn = CN=A\nuser_policy_mode = x\n", 41, &back),
	       "computer file: a mode that is not a number, refused");
	tap_ok(!ae_gp_computer_parse("computer_dn = CN=A\x01\n", 20, &back), "computer file: a control character, refused");
	tap_ok(ae_gp_computer_parse("computer_dn = CN=A\nlater_key = 1\n", 33, &back) && back.mode == 0,
	       "computer file: keys of later versions ignored");
	ae_gp_computer_clear(&back);
	ae_gp_computer_clear(&c);
	free(text);
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();

	test_gplink(ctx);
	test_soms();
	test_order(ctx);
	test_loopback(ctx);
	test_gptini();
	test_subnets();
	test_computer_file();
	ae_ctx_free(ctx);
	return tap_done();
}
