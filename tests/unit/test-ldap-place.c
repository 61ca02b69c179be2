/*
 * test-ldap-place.c - the policy from the one search of the configuration
 * NC: every entry taken by its place (a certificationAuthority under
 * CN=AIA is an intermediate, under CN=Certification Authorities a root),
 * decoys elsewhere ignored, the domain's NetBIOS name from its crossRef;
 * the extended-DN values of the rootDSE (the policy ID).
 */
#include "config.h"

#include "ldap-place.h"
#include "ldapconn.h"
#include "ldif.h"
#include "tap.h"
#include "util.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define CFG "CN=Configuration,DC=dom,DC=local"
#define PKS "CN=Public Key Services,CN=Services," CFG

/* The synthetic entries, around the real CA certificate (B64). */
static char *
synthetic_ldif(const char *b64)
{
	return ae_strdup_printf(
		/* by place: root, intermediate, NTAuth */
		"dn: CN=dom-ADCS-CA,CN=Certification Authorities," PKS "\n"
		"objectClass: top\nobjectClass: certificationAuthority\ncn: dom-ADCS-CA\ncACertificate:: %s\n\n"
		"dn: CN=dom-ADCS-CA,CN=AIA," PKS "\n"
		"objectClass: certificationAuthority\ncn: dom-ADCS-CA\ncACertificate:: %s\n\n"
		"dn: CN=NTAuthCertificates," PKS "\n"
		"objectClass: certificationAuthority\ncACertificate:: %s\n\n"
		/* the DN suffix compared without regard to case, as AD does */
		"dn: CN=Other-CA,cn=aia,cn=public key services,CN=Services," CFG "\n"
		"objectClass: certificationAuthority\ncACertificate:: %s\n\n"
		/* decoys: a CA two levels down, one whose RDN hides "CN=AIA"
		 * behind an escaped comma, one in CN=KRA, one in another forest */
		"dn: CN=Deep,CN=Sub,CN=Certification Authorities," PKS "\n"
		"objectClass: certificationAuthority\ncACertificate:: %s\n\n"
		"dn: CN=Evil\\,CN=AIA," PKS "\n"
		"objectClass: certificationAuthority\ncACertificate:: %s\n\n"
		"dn: CN=Agent,CN=KRA," PKS "\n"
		"objectClass: certificationAuthority\ncACertificate:: %s\n\n"
		"dn: CN=Foreign,CN=Certification Authorities,CN=Public Key Services,CN=Services,CN=Configuration,DC=other,DC=local\n"
		"objectClass: certificationAuthority\ncACertificate:: %s\n\n"
		/* a template outside CN=Certificate Templates, an enrollment
		 * service among the templates, a template without its class */
		"dn: CN=Stray,CN=OID," PKS "\n"
		"objectClass: pKICertificateTemplate\ncn: Stray\n\n"
		"dn: CN=FakeCA,CN=Certificate Templates," PKS "\n"
		"objectClass: pKIEnrollmentService\ncn: FakeCA\n\n"
		"dn: CN=Classless,CN=Certificate Templates," PKS "\n"
		"cn: Classless\n\n"
		/* OIDs: the container (forest root), two levels of registrations */
		"dn: CN=OID," PKS "\n"
		"objectClass: msPKI-Enterprise-Oid\nmsPKI-Cert-Template-OID: 1.3.6.1.4.1.311.21.8.1.2\n\n"
		"dn: CN=400.ABC,CN=OID," PKS "\n"
		"objectClass: msPKI-Enterprise-Oid\ndisplayName: Low Assurance\nflags: 2\n"
		"msPKI-Cert-Template-OID: 1.3.6.1.4.1.311.21.8.1.2.1.400\n\n"
		"dn: CN=14.DEF,CN=Sub,CN=OID," PKS "\n"
		"objectClass: msPKI-Enterprise-Oid\ndisplayName: Computer\nflags: 1\n"
		"msPKI-Cert-Template-OID: 1.3.6.1.4.1.311.21.8.1.2.1.14\n\n"
		"dn: CN=OID,CN=Other," PKS "\n"
		"objectClass: msPKI-Enterprise-Oid\nmsPKI-Cert-Template-OID: 9.9.9\n\n"
		/* crossRefs: another domain's, ours, one outside CN=Partitions */
		"dn: CN=CHILD,CN=Partitions," CFG "\n"
		"objectClass: crossRef\nnCName: DC=child,DC=dom,DC=local\nnETBIOSName: CHILD\n\n"
		"dn: CN=DOM,CN=Partitions," CFG "\n"
		"objectClass: top\nobjectClass: crossRef\nnCName: DC=dom,DC=local\nnETBIOSName: DOM\n\n"
		"dn: CN=Fake,CN=Services," CFG "\n"
		"objectClass: crossRef\nnCName: DC=dom,DC=local\nnETBIOSName: FAKE\n",
		b64, b64, b64, b64, b64, b64, b64, b64);
}

static void
test_extended_dn(void)
{
	char guid[37], *dn;

	dn = ae_ldap_extended_dn("<GUID=65facac6-071b-4ac5-806f-a937dc0f2aeb>;<SID=S-1-5-21-1-2-3>;DC=corp,DC=test",
	                         guid);
	tap_is_str(dn, "DC=corp,DC=test", "extended DN: the DN after GUID and SID");
	tap_is_str(guid, "65FACAC6-071B-4AC5-806F-A937DC0F2AEB", "extended DN: string GUID, upper case");
	free(dn);
	/* the hex form: the objectGUID bytes, first three fields little-endian */
	dn = ae_ldap_extended_dn("<GUID=c6cafa651b07c54a806fa937dc0f2aeb>;DC=corp,DC=test", guid);
	tap_is_str(guid, "65FACAC6-071B-4AC5-806F-A937DC0F2AEB", "extended DN: hex GUID read as Windows writes GUIDs");
	free(dn);
	dn = ae_ldap_extended_dn("CN=Configuration,DC=corp,DC=test", guid);
	tap_ok(dn != NULL && strcmp(dn, "CN=Configuration,DC=corp,DC=test") == 0 && guid[0] == '\0',
	       "plain DN (a DC without the control): as is, no GUID");
	free(dn);
	dn = ae_ldap_extended_dn("<SID=S-1-5-21-1-2-3>;DC=corp,DC=test", guid);
	tap_ok(dn != NULL && guid[0] == '\0', "SID only: no GUID");
	free(dn);
	static const char *const bad[] = {
		"<GUID=65facac6-071b-4ac5-806f-a937dc0f2aeZ>;DC=x",
		"<GUID=65facac6-071b-4ac5-\x18" "06f-a937dc0f2aeb>;DC=x", /* found by fuzz-ldap-place */
		"<GUID=65facac6+071b-4ac5-806f-a937dc0f2aeb>;DC=x",
		"<GUID=65fa>;DC=x",
		"<GUID=65facac6-071b-4ac5-806f-a937dc0f2aeb>DC=x",
		"<GUID=65facac6-071b-4ac5-806f-a937dc0f2aeb>;",
		"<GUID=65facac6-071b-4ac5-806f-a937dc0f2aeb;DC=x",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dn = ae_ldap_extended_dn(bad[i], guid);
		tap_ok(dn == NULL && guid[0] == '\0', "malformed extended DN refused, no GUID kept: \"%s\"", bad[i]);
		free(dn);
	}
}

static void
test_attributes(void)
{
	const char *attrs[64];
	size_t n = ae_ldap_place_attributes(attrs, 64);
	bool all = true, unique = true;

	for (size_t i = 0; ae_template_attributes[i] != NULL; i++) {
		bool found = false;
		for (size_t j = 0; j < n; j++)
			found = found || strcasecmp(attrs[j], ae_template_attributes[i]) == 0;
		all = all && found;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			unique = unique && strcasecmp(attrs[i], attrs[j]) != 0;
	tap_ok(all && unique && attrs[n] == NULL, "the search asks for every template attribute, each once");
	static const char *const more[] = { "objectClass", "cACertificate", "certificateTemplates", "dNSHostName",
	                                    "nCName", "nETBIOSName" };
	for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
		bool found = false;
		for (size_t j = 0; j < n; j++)
			found = found || strcmp(attrs[j], more[i]) == 0;
		tap_ok(found, "the search asks for %s", more[i]);
	}
}

/* Text from AD with a control character is refused where it enters, with
 * a message naming the object and the attribute: a template whose cn
 * would add a key_uri line to its record, a CA whose host would end in a
 * carriage return, an OID, a NetBIOS name. */
static void
test_control_characters(ae_ctx *ctx, const char *b64)
{
	ldif_file f = { 0 };
	ae_policy *p = calloc(1, sizeof(*p));
	char err[256], *netbios = NULL;
	char *text = ae_strdup_printf(
		"dn: CN=Forged,CN=Certificate Templates," PKS "\n"
		"objectClass: pKICertificateTemplate\ncn:: TGFiVXNlcgprZXlfdXJpID0gZmlsZTovZXRjL3NoYWRvdw==\n\n"
		"dn: CN=CA1,CN=Enrollment Services," PKS "\n"
		"objectClass: pKIEnrollmentService\ncn: CA1\ndNSHostName:: Y2ExLmNvcnAudGVzdA0=\ncACertificate:: %s\n\n"
		"dn: CN=CA2,CN=Enrollment Services," PKS "\n"
		"objectClass: pKIEnrollmentService\ncn: CA2\ndNSHostName: ca2.corp.test\ncACertificate:: %s\n\n"
		"dn: CN=1.FOO,CN=OID," PKS "\n"
		"objectClass: msPKI-Enterprise-Oid\nmsPKI-Cert-Template-OID:: MS4yLjMKNA==\n\n"
		"dn: CN=DOM,CN=Partitions," CFG "\n"
		"objectClass: crossRef\nnCName: DC=dom,DC=local\nnETBIOSName:: RE9NClg=\n",
		b64, b64);

	if (ldif_parse(text, strlen(text), &f, err, sizeof(err)) != 0) {
		tap_ok(0, "forged LDIF: %s", err);
		free(text);
		return;
	}
	tap_ok(ae_ldap_place(ctx, CFG, "DC=dom,DC=local", f.entries, f.count, p, &netbios) == AE_OK,
	       "forged values: placed");
	tap_is_int(p->template_count, 0, "the template with a newline in its cn is not taken");
	tap_ok(ae_strv_len(p->invalid_templates) == 1 && strchr(p->invalid_templates[0], '\n') == NULL &&
	       strstr(p->invalid_templates[0], "LabUser\\nkey_uri") != NULL &&
	       strstr(p->invalid_templates[0], "cn has a control character (0x0a") != NULL,
	       "it is listed, its name escaped, with the attribute at fault: %s",
	       p->invalid_templates ? p->invalid_templates[0] : "(none)");
	tap_ok(p->pki.ca_count == 2 && strcmp(p->pki.cas[0].name, "CA1") == 0 && p->pki.cas[0].host == NULL &&
	       p->pki.cas[0].cert == NULL && p->pki.cas[0].invalid_reason != NULL &&
	       strstr(p->pki.cas[0].invalid_reason, "dNSHostName of CN=CA1,CN=Enrollment Services,") != NULL &&
	       strstr(p->pki.cas[0].invalid_reason, "control character (0x0d") != NULL,
	       "the CA whose dNSHostName ends in a carriage return: listed, no host, not valid, the attribute named");
	tap_ok(p->pki.ca_count == 2 && strcmp(p->pki.cas[1].name, "CA2") == 0 && p->pki.cas[1].cert != NULL &&
	       p->pki.cas[1].invalid_reason == NULL, "the other CA as it was");
	tap_is_int(p->oid_count, 0, "the OID with a newline is not taken");
	tap_ok(netbios == NULL, "the NetBIOS name with a newline is not taken");
	ae_policy_free(p);
	free(netbios);
	ldif_free(&f);
	free(text);
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();
	ldif_file templates = { 0 }, es = { 0 }, syn = { 0 };
	ae_entry *all = NULL;
	ae_policy *p = calloc(1, sizeof(*p));
	const ae_attr *cert;
	char err[256], *b64 = NULL, *text = NULL, *netbios = NULL;
	size_t n = 0;

	test_extended_dn();
	test_attributes();

	if (ldif_read_file(SRCDIR "/tests/data/windows-default-templates.ldif", &templates, err, sizeof(err)) != 0 ||
	    ldif_read_file(SRCDIR "/tests/data/windows-enrollment-service.ldif", &es, err, sizeof(err)) != 0) {
		tap_ok(0, "fixtures: %s", err);
		return tap_done();
	}
	cert = ae_entry_get(&es.entries[0], "cACertificate");
	b64 = calloc(1, 4 * ((cert->values[0].len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)b64, cert->values[0].data, (int)cert->values[0].len);
	text = synthetic_ldif(b64);
	if (ldif_parse(text, strlen(text), &syn, err, sizeof(err)) != 0) {
		tap_ok(0, "synthetic LDIF: %s", err);
		return tap_done();
	}
	/* in one list, as the search returns them, shuffled by kind */
	all = calloc(templates.count + es.count + syn.count, sizeof(*all));
	for (size_t i = 0; i < syn.count; i++) {
		all[n++] = syn.entries[i];
		if (i < templates.count)
			all[n++] = templates.entries[i];
		if (i == 3)
			all[n++] = es.entries[0];
	}
	for (size_t i = syn.count; i < templates.count; i++)
		all[n++] = templates.entries[i];

	tap_ok(ae_ldap_place(ctx, CFG, "DC=dom,DC=local", all, n, p, &netbios) == AE_OK, "placed");
	tap_is_int(p->template_count, 33, "the 33 templates under CN=Certificate Templates, no other");
	tap_ok(p->invalid_templates == NULL, "no template invalid");
	tap_is_int(p->pki.ca_count, 1, "one enrollment service (not the one among the templates)");
	tap_is_str(p->pki.ca_count ? p->pki.cas[0].name : NULL, "dom-ADCS-CA", "the enrollment service");
	tap_is_int(sk_X509_num(p->pki.roots), 1, "one root: CN=Certification Authorities's child, no decoy");
	tap_is_int(sk_X509_num(p->pki.intermediates), 2, "two intermediates: CN=AIA's children (any case)");
	tap_is_int(sk_X509_num(p->pki.ntauth), 1, "NTAuth: the CN=NTAuthCertificates object itself");
	tap_is_str(p->forest_oid, "1.3.6.1.4.1.311.21.8.1.2", "forest OID root from the CN=OID container");
	tap_is_int(p->oid_count, 2, "OIDs: everything below CN=OID, not a container elsewhere");
	tap_ok(p->oid_count == 2 && p->oids[0].flags == 2 && p->oids[1].flags == 1 &&
	       strcmp(p->oids[0].display_name, "Low Assurance") == 0, "OID flags and names");
	tap_is_str(netbios, "DOM", "NetBIOS name from the default NC's crossRef in CN=Partitions");
	ae_policy_free(p);
	free(netbios);

	/* Nothing found: the stores exist, empty; no name. */
	p = calloc(1, sizeof(*p));
	tap_ok(ae_ldap_place(ctx, CFG, "DC=dom,DC=local", NULL, 0, p, &netbios) == AE_OK && netbios == NULL &&
	       p->template_count == 0 && p->pki.ca_count == 0 && sk_X509_num(p->pki.roots) == 0 &&
	       sk_X509_num(p->pki.intermediates) == 0 && sk_X509_num(p->pki.ntauth) == 0 && p->oid_count == 0,
	       "no entries: empty policy, empty certificate stores");
	ae_policy_free(p);

	test_control_characters(ctx, b64);
	free(all);
	free(text);
	free(b64);
	ldif_free(&templates);
	ldif_free(&es);
	ldif_free(&syn);
	ae_ctx_free(ctx);
	return tap_done();
}
