/*
 * test-secdesc.c - security descriptor parsing and the Enroll / AutoEnroll
 * check, against the real default descriptors of a Windows Server 2016 CA
 * and against variants made by editing those bytes.
 */
#include "config.h"

#include "ldif.h"
#include "secdesc.h"
#include "tap.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DOM "S-1-5-21-1047456448-2337630968-2720937775"
#define FIXTURE SRCDIR "/tests/data/windows-default-templates.ldif"

/* The 33 templates in fixture order. */
static const char *const all_templates[] = {
	"User", "UserSignature", "SmartcardUser", "ClientAuth", "SmartcardLogon",
	"EFS", "Administrator", "EFSRecovery", "CodeSigning", "CTLSigning",
	"EnrollmentAgent", "EnrollmentAgentOffline", "MachineEnrollmentAgent",
	"Machine", "DomainController", "WebServer", "CA", "SubCA",
	"IPSECIntermediateOnline", "IPSECIntermediateOffline", "OfflineRouter",
	"CEPEncryption", "ExchangeUser", "ExchangeUserSignature", "CrossCA",
	"CAExchange", "KeyRecoveryAgent", "DomainControllerAuthentication",
	"DirectoryEmailReplication", "Workstation", "RASAndIASServer",
	"OCSPResponseSigning", "KerberosAuthentication", NULL,
};

/*
 * Expected results, written down by hand from the decoded ACE lists of
 * shared/data/windows-default-templates.json (the real descriptors,
 * captured from a Windows Server 2016 CA; see ad-data.md 3.2 and 5):
 * - every template has OA Enroll (RP|WP|CR) for Domain Admins (-512) and
 *   Enterprise Admins (-519), plus plain 0xF00FF (no CR) for both;
 * - Domain Users (-513) have OA Enroll on User, UserSignature, ClientAuth
 *   and EFS only;
 * - Domain Computers (-515) have OA Enroll on Machine, Workstation and
 *   IPSECIntermediateOnline;
 * - Domain Controllers (-516) have OA Enroll on DomainController,
 *   IPSECIntermediateOnline and the three DC templates, and OA AutoEnroll
 *   on DomainControllerAuthentication, DirectoryEmailReplication and
 *   KerberosAuthentication; Enterprise Domain Controllers (S-1-5-9) have
 *   the same except IPSECIntermediateOnline;
 * - Enterprise RODCs (-498) have RP|CR (0x110) on Enroll for the four DC
 *   templates and on AutoEnroll for the three newer ones;
 * - RAS and IAS Servers (-553) have OA Enroll on RASAndIASServer;
 * - no AutoEnroll ACE exists for any other group, and there are no deny
 *   ACEs at all.
 */
static const char *const du_enroll[] = { "User", "UserSignature", "ClientAuth", "EFS", NULL };
static const char *const du_autoenroll[] = { NULL };
static const char *const dc_enroll[] = { "Machine", "IPSECIntermediateOnline", "Workstation", NULL };
static const char *const dc_autoenroll[] = { NULL };
static const char *const dd_enroll[] = {
	"DomainController", "IPSECIntermediateOnline", "DomainControllerAuthentication",
	"DirectoryEmailReplication", "KerberosAuthentication", NULL,
};
static const char *const dc3[] = {
	"DomainControllerAuthentication", "DirectoryEmailReplication", "KerberosAuthentication", NULL,
};
static const char *const rodc_enroll[] = {
	"DomainController", "DomainControllerAuthentication", "DirectoryEmailReplication",
	"KerberosAuthentication", NULL,
};
static const char *const none[] = { NULL };

static ldif_file fixture;

static const ae_value *
sd_value(const char *cn)
{
	const ae_entry *e = ldif_find(&fixture, cn);
	const ae_attr *a = e != NULL ? ae_entry_get(e, "nTSecurityDescriptor") : NULL;
	return a != NULL && a->nvalues == 1 ? &a->values[0] : NULL;
}

static void
make_token(ae_token *tok, const char *const *sids)
{
	ae_token_init(tok);
	for (size_t i = 0; sids[i] != NULL; i++)
		if (ae_token_add_string(NULL, tok, sids[i]) != AE_OK)
			tap_diag("bad SID %s in test", sids[i]);
	ae_token_add_wellknown(NULL, tok);
}

static bool
in_list(const char *const *list, const char *s)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* Checks RIGHT for TOK on all 33 real descriptors against WANT. */
static void
check_real(const char *who, const char *const *sids, ae_right right,
           const char *const *want)
{
	ae_token tok;
	int wrong = 0, granted = 0, nwant = 0;

	make_token(&tok, sids);
	for (size_t i = 0; want[i] != NULL; i++)
		nwant++;
	for (size_t i = 0; all_templates[i] != NULL; i++) {
		const ae_value *v = sd_value(all_templates[i]);
		ae_secdesc *sd = NULL;
		ae_access acc;
		bool expect = in_list(want, all_templates[i]);

		if (v == NULL || ae_secdesc_parse(NULL, v->data, v->len, &sd) != AE_OK) {
			tap_diag("%s: descriptor missing or unparsable", all_templates[i]);
			wrong++;
			continue;
		}
		acc = ae_secdesc_check(sd, &tok, right);
		if (acc.allowed)
			granted++;
		if (acc.allowed != expect) {
			tap_diag("%s: %s %s got %s, want %s", who, all_templates[i],
			         right == AE_RIGHT_ENROLL ? "Enroll" : "AutoEnroll",
			         acc.allowed ? "allowed" : "denied", expect ? "allowed" : "denied");
			wrong++;
		}
		/* Nothing in the defaults denies: a grant is by an allow ACE,
		 * a refusal is "no ACE matched". */
		if (acc.by_deny || (acc.allowed && acc.ace_index < 0) ||
		    (!acc.allowed && acc.ace_index >= 0))
			wrong++;
		ae_secdesc_free(sd);
	}
	tap_ok(wrong == 0 && granted == nwant, "%s: %s on exactly %d of 33 real templates",
	       who, right == AE_RIGHT_ENROLL ? "Enroll" : "AutoEnroll", nwant);
	ae_token_clear(&tok);
}

static void
test_real(void)
{
	static const char *const du[] = { DOM "-1105", DOM "-513", NULL };
	static const char *const dc[] = { DOM "-1106", DOM "-515", NULL };
	static const char *const da[] = { DOM "-500", DOM "-512", DOM "-513", NULL };
	static const char *const ea[] = { DOM "-500", DOM "-519", DOM "-513", NULL };
	static const char *const dd[] = { DOM "-1000", DOM "-516", "S-1-5-9", NULL };
	static const char *const ed_only[] = { DOM "-1000", "S-1-5-9", NULL };
	static const char *const rodc[] = { DOM "-1001", DOM "-521", DOM "-498", NULL };
	static const char *const ras[] = { DOM "-1107", DOM "-515", DOM "-553", NULL };
	static const char *const ipsec_less[] = {
		"DomainController", "DomainControllerAuthentication",
		"DirectoryEmailReplication", "KerberosAuthentication", NULL,
	};
	static const char *const ras_dc[] = {
		"Machine", "IPSECIntermediateOnline", "Workstation", "RASAndIASServer", NULL,
	};
	int parsed = 0;

	for (size_t i = 0; all_templates[i] != NULL; i++) {
		const ae_value *v = sd_value(all_templates[i]);
		ae_secdesc *sd = NULL;
		ae_ctx *ctx = ae_ctx_new();
		if (v != NULL && ae_secdesc_parse(ctx, v->data, v->len, &sd) == AE_OK &&
		    sd->has_dacl && sd->has_owner && sd->has_group && sd->control == 0x9c04)
			parsed++;
		else
			tap_diag("%s: %s", all_templates[i], ae_get_message(ctx));
		ae_secdesc_free(sd);
		ae_ctx_free(ctx);
	}
	tap_is_int(parsed, 33, "all 33 real descriptors parse (control 0x9C04, owner, group, DACL)");

	check_real("Domain Users member", du, AE_RIGHT_ENROLL, du_enroll);
	check_real("Domain Users member", du, AE_RIGHT_AUTOENROLL, du_autoenroll);
	check_real("Domain Computers member", dc, AE_RIGHT_ENROLL, dc_enroll);
	check_real("Domain Computers member", dc, AE_RIGHT_AUTOENROLL, dc_autoenroll);
	check_real("Domain Admins member", da, AE_RIGHT_ENROLL, all_templates);
	check_real("Domain Admins member", da, AE_RIGHT_AUTOENROLL, none);
	check_real("Enterprise Admins member", ea, AE_RIGHT_ENROLL, all_templates);
	check_real("Enterprise Admins member", ea, AE_RIGHT_AUTOENROLL, none);
	check_real("domain controller", dd, AE_RIGHT_ENROLL, dd_enroll);
	check_real("domain controller", dd, AE_RIGHT_AUTOENROLL, dc3);
	check_real("Enterprise DCs only", ed_only, AE_RIGHT_ENROLL, ipsec_less);
	check_real("Enterprise DCs only", ed_only, AE_RIGHT_AUTOENROLL, dc3);
	check_real("read-only DC (0x110 masks)", rodc, AE_RIGHT_ENROLL, rodc_enroll);
	check_real("read-only DC (0x110 masks)", rodc, AE_RIGHT_AUTOENROLL, dc3);
	check_real("RAS server", ras, AE_RIGHT_ENROLL, ras_dc);
	check_real("RAS server", ras, AE_RIGHT_AUTOENROLL, none);
	check_real("well-known SIDs only", (const char *const[]){ NULL }, AE_RIGHT_ENROLL, none);

	/* What decided, on the worked example of ad-data.md 3.2. */
	{
		const ae_value *v = sd_value("User");
		ae_secdesc *sd = NULL;
		ae_token tok;
		ae_access acc;
		ae_sid want;
		char buf[AE_SID_STRLEN];

		ae_secdesc_parse(NULL, v->data, v->len, &sd);
		tap_is_int(sd->ace_count, 6, "User DACL has 6 ACEs");
		tap_ok(sd->aces[3].type == AE_ACE_ALLOWED && sd->aces[3].mask == 0x000F00FF,
		       "ACE 3 is the plain 0xF00FF ACE for Domain Admins");
		tap_ok(sd->aces[0].type == AE_ACE_ALLOWED_OBJECT && sd->aces[0].mask == 0x130 &&
		       sd->aces[0].object_flags == 1 &&
		       memcmp(sd->aces[0].object_type, ae_right_guid(AE_RIGHT_ENROLL), 16) == 0,
		       "ACE 0 is OA RP|WP|CR on the Enroll GUID");
		tap_is_str(ae_sid_to_string(&sd->owner, buf, sizeof(buf)), DOM "-519",
		           "owner is Enterprise Admins");
		make_token(&tok, du);
		acc = ae_secdesc_check(sd, &tok, AE_RIGHT_ENROLL);
		ae_sid_from_string(NULL, DOM "-513", &want);
		tap_ok(acc.allowed && acc.ace_index == 1 && !acc.by_deny && ae_sid_equal(&acc.sid, &want),
		       "Domain Users get Enroll on User through ACE 1 (SID -513)");
		ae_token_clear(&tok);
		make_token(&tok, da);
		acc = ae_secdesc_check(sd, &tok, AE_RIGHT_AUTOENROLL);
		tap_ok(!acc.allowed && acc.ace_index == -1,
		       "Domain Admins: 0xF00FF (full control without CR) does not grant AutoEnroll");
		ae_token_clear(&tok);
		ae_secdesc_free(sd);
	}
}

/* ---- byte editing helpers for synthetic variants ---- */

typedef struct {
	uint8_t *data;
	size_t len;
} bytes;

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static bytes
copy_sd(const char *cn)
{
	const ae_value *v = sd_value(cn);
	bytes b;

	b.len = v->len;
	b.data = malloc(v->len);
	memcpy(b.data, v->data, v->len);
	return b;
}

static uint32_t
dacl_off(const bytes *b)
{
	return rd32(b->data + 16);
}

/* Offset of ACE I inside B (valid descriptors only). */
static size_t
ace_off(const bytes *b, unsigned idx)
{
	size_t off = dacl_off(b) + 8;
	for (unsigned i = 0; i < idx; i++)
		off += rd16(b->data + off + 2);
	return off;
}

/* Inserts LEN bytes at AT, fixing the header offsets after it and, when
 * AT is inside the DACL, its AclSize. */
static void
insert_bytes(bytes *b, size_t at, const uint8_t *data, size_t len)
{
	uint8_t *n = malloc(b->len + len);
	uint32_t doff = dacl_off(b);

	memcpy(n, b->data, at);
	memcpy(n + at, data, len);
	memcpy(n + at + len, b->data + at, b->len - at);
	for (int f = 4; f <= 16; f += 4) {
		uint32_t o = rd32(n + f);
		if (o != 0 && o >= at)
			wr32(n + f, o + (uint32_t)len);
	}
	if (at > doff && at <= doff + rd16(n + doff + 2))
		wr16(n + doff + 2, (uint16_t)(rd16(n + doff + 2) + len));
	free(b->data);
	b->data = n;
	b->len += len;
}

static void
remove_bytes(bytes *b, size_t at, size_t len)
{
	uint32_t doff = dacl_off(b);

	if (at > doff && at < doff + rd16(b->data + doff + 2))
		wr16(b->data + doff + 2, (uint16_t)(rd16(b->data + doff + 2) - len));
	memmove(b->data + at, b->data + at + len, b->len - at - len);
	b->len -= len;
	for (int f = 4; f <= 16; f += 4) {
		uint32_t o = rd32(b->data + f);
		if (o != 0 && o > at)
			wr32(b->data + f, o - (uint32_t)len);
	}
}

static void
insert_ace(bytes *b, unsigned idx, const uint8_t *ace, size_t len)
{
	uint32_t doff = dacl_off(b);

	insert_bytes(b, ace_off(b, idx), ace, len);
	wr16(b->data + doff + 4, (uint16_t)(rd16(b->data + doff + 4) + 1));
}

static void
remove_ace(bytes *b, unsigned idx)
{
	size_t off = ace_off(b, idx);
	uint32_t doff = dacl_off(b);

	remove_bytes(b, off, rd16(b->data + off + 2));
	wr16(b->data + doff + 4, (uint16_t)(rd16(b->data + doff + 4) - 1));
}

/* Builds an ACE: plain when GUID is NULL and !OBJECT, else object. */
static size_t
build_ace(uint8_t *out, uint8_t type, uint8_t flags, uint32_t mask, bool object,
          const uint8_t *guid, const uint8_t *inherited, const char *sidstr)
{
	ae_sid sid;
	size_t pos = 8;
	uint32_t oflags = 0;

	ae_sid_from_string(NULL, sidstr, &sid);
	memset(out, 0, 128);
	out[0] = type;
	out[1] = flags;
	wr32(out + 4, mask);
	if (object) {
		pos = 12;
		if (guid != NULL) {
			oflags |= 1;
			memcpy(out + pos, guid, 16);
			pos += 16;
		}
		if (inherited != NULL) {
			oflags |= 2;
			memcpy(out + pos, inherited, 16);
			pos += 16;
		}
		wr32(out + 8, oflags);
	}
	out[pos] = 1;
	out[pos + 1] = sid.count;
	for (int i = 0; i < 6; i++)
		out[pos + 2 + i] = (uint8_t)(sid.authority >> (8 * (5 - i)));
	for (unsigned i = 0; i < sid.count; i++)
		wr32(out + pos + 8 + 4 * i, sid.sub[i]);
	pos += 8 + 4 * (size_t)sid.count;
	wr16(out + 2, (uint16_t)pos);
	return pos;
}

typedef struct {
	bool parsed;
	ae_access enroll, autoenroll;
} outcome;

static outcome
evaluate(const bytes *b, const char *const *sids)
{
	outcome o;
	ae_secdesc *sd = NULL;
	ae_token tok;
	ae_ctx *ctx = ae_ctx_new();

	memset(&o, 0, sizeof(o));
	o.enroll.ace_index = o.autoenroll.ace_index = -2;
	if (ae_secdesc_parse(ctx, b->data, b->len, &sd) != AE_OK) {
		tap_diag("variant does not parse: %s", ae_get_message(ctx));
		ae_ctx_free(ctx);
		return o;
	}
	o.parsed = true;
	make_token(&tok, sids);
	o.enroll = ae_secdesc_check(sd, &tok, AE_RIGHT_ENROLL);
	o.autoenroll = ae_secdesc_check(sd, &tok, AE_RIGHT_AUTOENROLL);
	ae_token_clear(&tok);
	ae_secdesc_free(sd);
	ae_ctx_free(ctx);
	return o;
}

static void
test_variants(void)
{
	static const char *const du[] = { DOM "-1105", DOM "-513", NULL };
	static const char *const dc[] = { DOM "-1106", DOM "-515", NULL };
	static const char *const da[] = { DOM "-500", DOM "-512", DOM "-513", NULL };
	const uint8_t *enroll = ae_right_guid(AE_RIGHT_ENROLL);
	const uint8_t *autoenroll = ae_right_guid(AE_RIGHT_AUTOENROLL);
	static const uint8_t tpl_class[16] = {
		0xa2, 0x9c, 0x20, 0xe5, 0xba, 0x3b, 0xd2, 0x11,
		0x90, 0xcc, 0x00, 0xc0, 0x4f, 0xd9, 0x1a, 0xb1,
	};
	uint8_t ace[128];
	size_t n;
	bytes b;
	outcome o;

	/* Deny object ACE for DU before its allow: denied by the deny. */
	b = copy_sd("User");
	n = build_ace(ace, AE_ACE_DENIED_OBJECT, 0, 0x100, true, enroll, NULL, DOM "-513");
	insert_ace(&b, 1, ace, n);
	o = evaluate(&b, du);
	tap_ok(o.parsed && !o.enroll.allowed && o.enroll.by_deny && o.enroll.ace_index == 1,
	       "deny OA (Enroll) before the allow: Domain Users denied by ACE 1");
	o = evaluate(&b, da);
	tap_ok(o.parsed && o.enroll.allowed && o.enroll.ace_index == 0,
	       "the same deny does not touch Domain Admins (allowed by ACE 0)");
	free(b.data);

	/* Deny after the allow: first match wins, still allowed. */
	b = copy_sd("User");
	insert_ace(&b, 2, ace, n);
	o = evaluate(&b, du);
	tap_ok(o.parsed && o.enroll.allowed && !o.enroll.by_deny && o.enroll.ace_index == 1,
	       "deny OA after the allow: the allow (ACE 1) decides");
	free(b.data);

	/* A deny for another right does not apply. */
	b = copy_sd("User");
	n = build_ace(ace, AE_ACE_DENIED_OBJECT, 0, 0x100, true, autoenroll, NULL, DOM "-513");
	insert_ace(&b, 0, ace, n);
	o = evaluate(&b, du);
	tap_ok(o.parsed && o.enroll.allowed && o.enroll.ace_index == 2 &&
	       !o.autoenroll.allowed && o.autoenroll.by_deny && o.autoenroll.ace_index == 0,
	       "deny OA on AutoEnroll: Enroll still allowed, AutoEnroll denied by ACE 0");
	free(b.data);

	/* Deny without CR (write property only) is not about our rights. */
	b = copy_sd("User");
	n = build_ace(ace, AE_ACE_DENIED_OBJECT, 0, 0x20, true, enroll, NULL, DOM "-513");
	insert_ace(&b, 0, ace, n);
	o = evaluate(&b, du);
	tap_ok(o.parsed && o.enroll.allowed && o.enroll.ace_index == 2,
	       "deny OA with WP but not CR is ignored");
	free(b.data);

	/* Plain deny with CR for Everyone at the front stops everyone. */
	b = copy_sd("User");
	n = build_ace(ace, AE_ACE_DENIED, 0, 0x100, false, NULL, NULL, "S-1-1-0");
	insert_ace(&b, 0, ace, n);
	o = evaluate(&b, da);
	tap_ok(o.parsed && !o.enroll.allowed && o.enroll.by_deny && o.enroll.ace_index == 0 &&
	       !o.autoenroll.allowed && o.autoenroll.by_deny,
	       "plain deny CR for Everyone denies every right, even to Domain Admins");
	free(b.data);

	/* Replace DU's OA by plain ACEs with various masks. */
	{
		static const struct {
			uint32_t mask;
			bool grants;
			const char *what;
		} masks[] = {
			{ 0x000F01FF, true, "plain ACE 0xF01FF (GenericAll as stored)" },
			{ 0x10000000, true, "plain ACE GENERIC_ALL (0x10000000)" },
			{ 0x00000100, true, "plain ACE 0x100 (CR alone)" },
			{ 0x00000110, true, "plain ACE 0x110 (RP|CR)" },
			{ 0x000F00FF, false, "plain ACE 0xF00FF (full control without CR)" },
			{ 0x00020094, false, "plain ACE 0x20094 (generic read)" },
		};
		for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
			b = copy_sd("User");
			remove_ace(&b, 1);
			n = build_ace(ace, AE_ACE_ALLOWED, 0, masks[i].mask, false, NULL, NULL, DOM "-513");
			insert_ace(&b, 1, ace, n);
			o = evaluate(&b, du);
			if (masks[i].grants)
				tap_ok(o.parsed && o.enroll.allowed && o.autoenroll.allowed &&
				       o.enroll.ace_index == 1 && o.autoenroll.ace_index == 1,
				       "%s grants Enroll and AutoEnroll", masks[i].what);
			else
				tap_ok(o.parsed && !o.enroll.allowed && !o.autoenroll.allowed &&
				       o.enroll.ace_index == -1,
				       "%s grants neither", masks[i].what);
			free(b.data);
		}
	}

	/* OA without ObjectType: every extended right. */
	b = copy_sd("User");
	remove_ace(&b, 1);
	n = build_ace(ace, AE_ACE_ALLOWED_OBJECT, 0, 0x130, true, NULL, NULL, DOM "-513");
	insert_ace(&b, 1, ace, n);
	o = evaluate(&b, du);
	tap_ok(o.parsed && o.enroll.allowed && o.autoenroll.allowed && o.autoenroll.ace_index == 1,
	       "OA with CR and no ObjectType grants Enroll and AutoEnroll");
	free(b.data);

	/* OA with only an InheritedObjectType: the SID follows that GUID. */
	b = copy_sd("User");
	remove_ace(&b, 1);
	n = build_ace(ace, AE_ACE_ALLOWED_OBJECT, 0, 0x100, true, NULL, tpl_class, DOM "-513");
	insert_ace(&b, 1, ace, n);
	o = evaluate(&b, du);
	tap_ok(o.parsed && o.enroll.allowed && o.autoenroll.allowed,
	       "OA with only InheritedObjectType (flags 2) parses and grants");
	free(b.data);

	/* Both GUIDs present. */
	b = copy_sd("User");
	remove_ace(&b, 1);
	n = build_ace(ace, AE_ACE_ALLOWED_OBJECT, 0, 0x100, true, autoenroll, tpl_class, DOM "-513");
	insert_ace(&b, 1, ace, n);
	o = evaluate(&b, du);
	tap_ok(o.parsed && !o.enroll.allowed && o.autoenroll.allowed,
	       "OA with ObjectType AutoEnroll and InheritedObjectType grants AutoEnroll only");
	free(b.data);

	/* Clearing the ObjectType flag without removing the GUID moves the
	 * SID onto the GUID bytes: the descriptor is then malformed. */
	{
		ae_ctx *ctx = ae_ctx_new();
		ae_secdesc *sd = NULL;
		ae_err err;
		b = copy_sd("User");
		wr32(b.data + ace_off(&b, 1) + 8, 0);
		err = ae_secdesc_parse(ctx, b.data, b.len, &sd);
		tap_ok(err == AE_ERR_INVALID && sd == NULL &&
		       strstr(ae_get_message(ctx), "ACE 1") != NULL &&
		       strstr(ae_get_message(ctx), "revision") != NULL,
		       "GUID presence follows the flags: %s", ae_get_message(ctx));
		free(b.data);
		ae_ctx_free(ctx);
	}

	/* INHERIT_ONLY on the only granting ACE. */
	b = copy_sd("User");
	b.data[ace_off(&b, 1) + 1] |= AE_ACE_FLAG_INHERIT_ONLY;
	o = evaluate(&b, du);
	tap_ok(o.parsed && !o.enroll.allowed && o.enroll.ace_index == -1,
	       "INHERIT_ONLY on Domain Users' ACE: not granted");
	o = evaluate(&b, da);
	tap_ok(o.parsed && o.enroll.allowed, "other ACEs still apply");
	free(b.data);

	/* An INHERIT_ONLY deny is skipped too. */
	b = copy_sd("User");
	n = build_ace(ace, AE_ACE_DENIED_OBJECT, AE_ACE_FLAG_INHERIT_ONLY | 0x02, 0x100, true,
	              enroll, NULL, DOM "-513");
	insert_ace(&b, 0, ace, n);
	o = evaluate(&b, du);
	tap_ok(o.parsed && o.enroll.allowed && o.enroll.ace_index == 2,
	       "INHERIT_ONLY deny is skipped");
	free(b.data);

	/* Callback object ACEs: a conditional deny counts, a conditional
	 * allow does not. */
	b = copy_sd("User");
	n = build_ace(ace, AE_ACE_DENIED_CALLBACK_OBJ, 0, 0x100, true, enroll, NULL, DOM "-513");
	insert_ace(&b, 0, ace, n);
	o = evaluate(&b, du);
	tap_ok(o.parsed && !o.enroll.allowed && o.enroll.by_deny && o.enroll.ace_index == 0,
	       "callback deny object ACE (0x0C) is treated as a deny");
	free(b.data);
	b = copy_sd("User");
	n = build_ace(ace, AE_ACE_ALLOWED_CALLBACK_OBJ, 0, 0x100, true, enroll, NULL, DOM "-515");
	insert_ace(&b, 0, ace, n);
	o = evaluate(&b, dc);
	tap_ok(o.parsed && !o.enroll.allowed && o.enroll.ace_index == -1,
	       "callback allow object ACE (0x0B) is not relied on");
	free(b.data);

	/* Unknown ACE types are kept (indexes stay binary) and ignored. */
	{
		static const uint8_t label[] = {
			0x11, 0x00, 0x14, 0x00, 0x01, 0x00, 0x00, 0x00,
			0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x10, 0x00, 0x00,
		};
		ae_secdesc *sd = NULL;
		b = copy_sd("User");
		insert_ace(&b, 0, label, sizeof(label));
		o = evaluate(&b, du);
		tap_ok(o.parsed && o.enroll.allowed && o.enroll.ace_index == 2,
		       "unknown ACE type 0x11 kept and ignored");
		ae_secdesc_parse(NULL, b.data, b.len, &sd);
		tap_ok(sd != NULL && sd->ace_count == 7 && sd->aces[0].type == 0x11,
		       "it is listed as ACE 0");
		ae_secdesc_free(sd);
		free(b.data);
	}

	/* A DACL with no ACEs denies everyone. */
	b = copy_sd("User");
	wr16(b.data + dacl_off(&b) + 4, 0);
	o = evaluate(&b, da);
	tap_ok(o.parsed && !o.enroll.allowed && !o.autoenroll.allowed && o.enroll.ace_index == -1,
	       "empty DACL (0 ACEs) denies, even Domain Admins");
	free(b.data);

	/* No DACL at all (DP clear) grants. */
	b = copy_sd("User");
	wr16(b.data + 2, (uint16_t)(rd16(b.data + 2) & ~AE_SD_DACL_PRESENT));
	o = evaluate(&b, dc);
	tap_ok(o.parsed && o.enroll.allowed && o.autoenroll.allowed && o.enroll.ace_index == -1,
	       "DP clear: no DACL, everything granted");
	free(b.data);

	/* DP set but a zero DACL offset is also "no DACL". */
	b = copy_sd("User");
	wr32(b.data + 16, 0);
	o = evaluate(&b, dc);
	tap_ok(o.parsed && o.enroll.allowed, "DACL offset 0: no DACL, granted");
	free(b.data);

	/* ACL revision 2 is accepted too. */
	b = copy_sd("User");
	b.data[dacl_off(&b)] = 2;
	o = evaluate(&b, du);
	tap_ok(o.parsed && o.enroll.allowed, "ACL revision 2 accepted");
	free(b.data);

	/* NULL descriptor: nothing is granted. */
	{
		ae_access acc = ae_secdesc_check(NULL, NULL, AE_RIGHT_ENROLL);
		tap_ok(!acc.allowed && acc.ace_index == -1, "NULL descriptor: not granted");
	}
}

/* Parses B expecting failure with a message containing WANT. */
static void
expect_bad(const bytes *b, const char *want, const char *what)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_secdesc *sd = (ae_secdesc *)&sd;
	ae_err err = ae_secdesc_parse(ctx, b->data, b->len, &sd);

	tap_ok(err == AE_ERR_INVALID && sd == NULL && strstr(ae_get_message(ctx), want) != NULL,
	       "%s: %s", what, ae_get_message(ctx));
	ae_ctx_free(ctx);
}

static void
test_bad(void)
{
	bytes b;
	int crashes_or_leaks = 0, failed = 0, total = 0;

	/* Every truncation of every real descriptor fails cleanly (the group
	 * SID sits at the very end, so none can succeed). */
	for (size_t t = 0; all_templates[t] != NULL; t++) {
		const ae_value *v = sd_value(all_templates[t]);
		for (size_t len = 0; len < v->len; len++) {
			/* A fresh heap copy of exactly LEN bytes, so that an
			 * over-read is caught by ASan/valgrind. */
			uint8_t *copy = malloc(len ? len : 1);
			ae_ctx *ctx = ae_ctx_new();
			ae_secdesc *sd = (ae_secdesc *)&sd;
			ae_err err;

			memcpy(copy, v->data, len);
			err = ae_secdesc_parse(ctx, copy, len, &sd);
			total++;
			if (err == AE_OK) {
				ae_secdesc_free(sd);
			} else {
				failed++;
				if (sd != NULL || ae_get_message(ctx)[0] == '\0' ||
				    strstr(ae_get_message(ctx), "descriptor") == NULL)
					crashes_or_leaks++;
			}
			free(copy);
			ae_ctx_free(ctx);
		}
	}
	tap_ok(failed == total && crashes_or_leaks == 0,
	       "%d truncated real descriptors all rejected with a message", total);

	b = copy_sd("User");
	expect_bad(&(bytes){ b.data, 19 }, "header alone needs 20", "19 bytes");
	b.data[0] = 2;
	expect_bad(&b, "(344 bytes): revision is 2; expected 1", "SD revision 2");
	b.data[0] = 1;
	wr16(b.data + 2, 0x1c04);
	expect_bad(&b, "SE_SELF_RELATIVE", "absolute descriptor");
	wr16(b.data + 2, 0x9c04);

	wr32(b.data + 4, (uint32_t)b.len + 10);
	expect_bad(&b, "owner offset 354 is outside the 344-byte descriptor", "owner offset outside");
	wr32(b.data + 4, 0x120);
	wr32(b.data + 8, (uint32_t)b.len - 4);
	expect_bad(&b, "group SID", "group SID cut by the buffer end");
	wr32(b.data + 8, 0x13c);
	wr32(b.data + 16, 0xFFFFFFFFu);
	expect_bad(&b, "DACL offset 4294967295", "DACL offset outside");
	wr32(b.data + 16, 8);
	expect_bad(&b, "DACL offset 8", "DACL offset inside the header");
	wr32(b.data + 16, 0x14);
	wr32(b.data + 12, 0x400);
	expect_bad(&b, "SACL offset 1024", "SACL offset outside");
	wr32(b.data + 12, 0);

	b.data[0x14] = 3;
	expect_bad(&b, "DACL revision is 3", "ACL revision 3");
	b.data[0x14] = 4;
	wr16(b.data + 0x16, 0x200);
	expect_bad(&b, "claims 512 bytes", "AclSize beyond the buffer");
	wr16(b.data + 0x16, 4);
	expect_bad(&b, "smaller than its 8-byte header", "AclSize 4");
	wr16(b.data + 0x16, 0x10c);

	wr16(b.data + 0x18, 7);
	expect_bad(&b, "ACE 6 of 7", "AceCount one larger than present");
	wr16(b.data + 0x18, 0xFFFF);
	expect_bad(&b, "65535 ACEs", "AceCount 65535");
	wr16(b.data + 0x18, 6);

	{
		size_t off = ace_off(&b, 2);
		uint16_t save = rd16(b.data + off + 2);
		wr16(b.data + off + 2, 0);
		expect_bad(&b, "ACE 2 (type 0x05) has AceSize 0", "AceSize 0");
		wr16(b.data + off + 2, 16);
		expect_bad(&b, "minimum for its type is 20", "object AceSize 16");
		wr16(b.data + off + 2, 0x3a);
		expect_bad(&b, "not a multiple of 4", "AceSize 58");
		wr16(b.data + off + 2, 0x200);
		expect_bad(&b, "runs past", "AceSize past the DACL");
		wr16(b.data + off + 2, 28);
		expect_bad(&b, "no room for its ObjectType", "AceSize too small for the GUID");
		wr16(b.data + off + 2, save);
	}
	{
		size_t off = ace_off(&b, 3);
		wr16(b.data + off + 2, 12);
		expect_bad(&b, "ACE 3 (type 0x00) has AceSize 12; the minimum for its type is 16",
		           "plain AceSize 12");
		wr16(b.data + off + 2, 0x24);
	}
	{
		/* SID with 16 sub-authorities inside ACE 1. */
		size_t sid = ace_off(&b, 1) + 28;
		b.data[sid + 1] = 16;
		expect_bad(&b, "16 sub-authorities", "ACE SID count 16");
		/* Count 6: the SID needs 32 bytes but the ACE leaves 28. */
		b.data[sid + 1] = 6;
		expect_bad(&b, "ACE 1", "ACE SID longer than its ACE");
		b.data[sid + 1] = 5;
		b.data[sid] = 0;
		expect_bad(&b, "SID revision is 0", "ACE SID revision 0");
		b.data[sid] = 1;
	}
	b.data[0x120 + 1] = 16;
	expect_bad(&b, "owner SID at offset 288", "owner SID count 16");
	b.data[0x120 + 1] = 5;
	{
		/* Untouched copy parses again: the edits above were undone. */
		ae_secdesc *sd = NULL;
		tap_ok(ae_secdesc_parse(NULL, b.data, b.len, &sd) == AE_OK, "restored bytes parse");
		ae_secdesc_free(sd);
	}
	free(b.data);
}

int
main(void)
{
	char err[512];

	if (ldif_read_file(FIXTURE, &fixture, err, sizeof(err)) != 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	tap_is_int(fixture.count, 33, "fixture has 33 templates");
	test_real();
	test_variants();
	test_bad();
	ldif_free(&fixture);
	return tap_done();
}
