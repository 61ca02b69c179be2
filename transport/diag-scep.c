/*
 * diag-scep.c - the checks of `autoenroll diagnose` for one SCEP server
 * (see diag-scep.h): the SCEP transport's own GetCACaps and GetCACert
 * (transport/scep.c), each check read from the stage where it stopped
 * and the Windows code it recorded for event 86.
 */
#include "config.h"

#include "diag-scep.h"
#include "http.h"
#include "scep-msg.h"
#include "scep-setup.h"
#include "scep.h"
#include "util.h"

#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CODE_DNS 0x80072EE7u /* ERROR_WINHTTP_NAME_NOT_RESOLVED */
#define CODE_TLS 0x80072F8Fu /* ERROR_WINHTTP_SECURE_FAILURE */

static const char *
scep_id(const char *name, const char *what, char *buf, size_t size)
{
	snprintf(buf, size, "scep.%s.%s", name, what);
	return buf;
}

/* The failure's stage, method and code as details of C. */
static void
failure_details(ae_diag_check *c, const ae_scep_failure *f)
{
	ae_diag_detail(c, "stage", "%s", f->stage);
	ae_diag_detail(c, "method", "%s", f->method ? f->method : "GET");
	ae_diag_detail(c, "code", "0x%08X", f->code);
}

/* The RA certificates (not CAs) among CERTS: validity and key usage. */
static void
diag_ra(const char *name, STACK_OF(X509) *certs, ae_diag_report *r)
{
	char id[300], subj[256], tbuf[32];
	ae_diag_status worst = AE_DIAG_PASS;
	ae_diag_check *c;
	time_t now = time(NULL);
	int ras = 0, expiring = 0, expired = 0;
	char **notes = NULL;

	ae_diag_begin(r);
	scep_id(name, "ra-certificates", id, sizeof(id));
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		uint32_t ku = X509_get_key_usage(x);
		time_t end = ae_asn1_time(X509_get0_notAfter(x)), start = ae_asn1_time(X509_get0_notBefore(x));
		struct tm tm;
		char *note;

		if (X509_check_ca(x) > 0)
			continue;
		ras++;
		X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
		gmtime_r(&end, &tm);
		strftime(tbuf, sizeof(tbuf), "%Y-%m-%d", &tm);
		if (now < start || now > end)
			expired++;
		else if (end - now < 30 * 86400)
			expiring++;
		note = ae_strdup_printf("%s%s%s, valid until %s%s", subj,
		                        ku & KU_DIGITAL_SIGNATURE ? ", digitalSignature (signs the answers)" : "",
		                        ku & KU_KEY_ENCIPHERMENT ? ", keyEncipherment (takes the requests)" : "", tbuf,
		                        now < start ? " (not yet valid)" : now > end ? " (EXPIRED)" : "");
		if (note == NULL || !ae_strv_append(&notes, note)) {
			free(note);
			break;
		}
		free(note);
	}
	if (ras == 0) {
		c = ae_diag_add(r, id, "SCEP: RA certificates", AE_DIAG_PASS,
		                "no RA certificates: the CA signs the answers and takes the requests itself");
	} else if (expired > 0) {
		worst = AE_DIAG_FAIL;
		c = ae_diag_add(r, id, "SCEP: RA certificates", worst,
		                "%d of the %d RA certificates is outside its validity: the server's answers cannot be "
		                "verified or its requests not decrypted", expired, ras);
		ae_diag_fix(c, NULL, "renew NDES's RA certificates (templates Exchange Enrollment Agent (Offline request) and "
		                     "CEP Encryption) and restart NDES (iisreset)");
	} else if (expiring > 0) {
		worst = AE_DIAG_WARN;
		c = ae_diag_add(r, id, "SCEP: RA certificates", worst, "%d of the %d RA certificates expires within 30 days",
		                expiring, ras);
		ae_diag_fix(c, NULL, "renew NDES's RA certificates before they expire");
	} else {
		c = ae_diag_add(r, id, "SCEP: RA certificates", worst,
		                "%d RA certificate%s, valid, one signing (digitalSignature) and one encrypting (keyEncipherment)",
		                ras, ras == 1 ? "" : "s");
	}
	for (size_t i = 0; notes != NULL && notes[i] != NULL; i++) {
		char k[16];
		snprintf(k, sizeof(k), "ra%zu", i + 1);
		ae_diag_detail(c, k, "%s", notes[i]);
	}
	ae_strv_free(notes);
}

void
ae_diag_scep(ae_ctx *ctx, const ae_conf *conf, const ae_pki *pki, const char *name, const char *url,
             const char *anchor, bool allow_http, ae_diag_report *r)
{
	ae_conf own = *conf; /* read only: the profile's allow_http */
	ae_template tpl;
	ae_ca ca;
	void *state = NULL;
	const ae_scep_failure *f;
	bool plain = strncasecmp(url, "http://", 7) == 0, reached, at_caps, at_cert;
	char id[300], shown[200], capstr[160], **caps = NULL;
	STACK_OF(X509) *certs = NULL;
	ae_diag_check *c;
	ae_err err;

	own.scep_allow_http = allow_http;
	ae_url_shown(url, shown, sizeof(shown));
	ae_diag_begin(r);
	if (ae_scep_target(ctx, url, NULL, 0, pki, anchor, &tpl, &ca) != AE_OK) {
		c = ae_diag_add(r, scep_id(name, "setup", id, sizeof(id)), "SCEP: trust anchor", AE_DIAG_FAIL, "%s",
		                ae_get_message(ctx));
		ae_diag_fix(c, "autoenroll config check", "correct scep_anchor, or the anchor of the profile");
		ae_clear_message(ctx);
		return;
	}
	err = ae_transport_scep.open(ctx, &own, &ca, &state);
	f = ae_scep_last_failure();
	/* where it stopped: nowhere (AE_OK), before the network (plain HTTP
	 * refused), at GetCACaps or at GetCACert */
	reached = err == AE_OK || (f->failed && f->code != CODE_DNS);
	at_caps = err != AE_OK && f->failed && strcmp(f->stage, "GetCACaps") == 0;
	at_cert = err != AE_OK && f->failed && strcmp(f->stage, "GetCACert") == 0;

	/* DNS */
	ae_diag_begin(r);
	scep_id(name, "dns", id, sizeof(id));
	if (err != AE_OK && !f->failed)
		c = ae_diag_add(r, id, "SCEP: host in DNS", AE_DIAG_SKIP, "not tried: %s", ae_get_message(ctx));
	else if (!reached) {
		c = ae_diag_add(r, id, "SCEP: host in DNS", AE_DIAG_FAIL, "%s (0x%08X, as event 86 says)", ae_get_message(ctx),
		                f->code);
		ae_diag_fix(c, NULL, "correct the host in the SCEP URL, or add its A record to the domain's DNS");
		failure_details(c, f);
	} else
		c = ae_diag_add(r, id, "SCEP: host in DNS", AE_DIAG_PASS, "the host of %s resolves and answers", shown);
	ae_diag_detail(c, "url", "%s", shown);

	/* TLS */
	ae_diag_begin(r);
	scep_id(name, "tls", id, sizeof(id));
	if (plain && !allow_http) {
		c = ae_diag_add(r, id, "SCEP: TLS certificate", AE_DIAG_FAIL, "%s", ae_get_message(ctx));
		ae_diag_fix(c, NULL, "use the server's https:// URL, or allow plain HTTP for it (allow_http = yes in its "
		                     "profile, scep_allow_http = yes in [global]) knowing it is unprotected");
	} else if (plain) {
		c = ae_diag_add(r, id, "SCEP: TLS certificate", AE_DIAG_WARN,
		                "plain HTTP, allowed by the configuration: unprotected, only the RA and CA certificates' chain "
		                "protects the exchange");
		ae_diag_fix(c, NULL, "use the server's https:// URL where it has one");
	} else if (at_caps && f->code == CODE_TLS) {
		c = ae_diag_add(r, id, "SCEP: TLS certificate", AE_DIAG_FAIL, "%s (0x%08X, as event 86 says)",
		                ae_get_message(ctx), f->code);
		ae_diag_fix(c, NULL, "give the server a TLS certificate from the domain's CA for its name (NDES: IIS's "
		                     "https binding), or name the root it chains to as the anchor (scep_anchor)");
		failure_details(c, f);
	} else if (!reached || (at_caps && f->code != CODE_TLS && f->code < 0x80190000u)) {
		c = ae_diag_add(r, id, "SCEP: TLS certificate", AE_DIAG_SKIP, "no TLS handshake happened");
	} else {
		c = ae_diag_add(r, id, "SCEP: TLS certificate", AE_DIAG_PASS,
		                "the TLS certificate of the host chains to a root published in AD (or the anchor)");
	}

	/* GetCACaps */
	ae_diag_begin(r);
	scep_id(name, "getcacaps", id, sizeof(id));
	if (at_caps && reached && f->code != CODE_TLS) {
		c = ae_diag_add(r, id, "SCEP: GetCACaps", AE_DIAG_FAIL, "%s", ae_get_message(ctx));
		ae_diag_fix(c, NULL, "correct the SCEP URL (NDES: https://HOST/certsrv/mscep/mscep.dll) and check that "
		                     "the service runs");
		failure_details(c, f);
	} else if (!reached || at_caps || (err != AE_OK && !f->failed)) {
		c = ae_diag_add(r, id, "SCEP: GetCACaps", AE_DIAG_SKIP, "not reached");
	} else {
		/* read again from the link: the caps of a failed GetCACert */
		unsigned bits = 0;
		bool weak_c = false, weak_d = false;
		ae_buf b;

		ae_buf_init(&b);
		if (state != NULL && ae_transport_scep.capabilities(ctx, state, &ca, &caps) == AE_OK)
			for (size_t i = 0; caps != NULL && caps[i] != NULL; i++)
				ae_buf_printf(&b, "%s\n", caps[i]);
		ae_buf_append(&b, "", 1);
		if (b.data != NULL)
			(void)ae_scep_caps_parse(ctx, b.data, strlen(b.data), &bits);
		ae_buf_clear(&b);
		ae_scep_caps_str(bits, capstr, sizeof(capstr));
		(void)ae_scep_cipher(bits, &weak_c);
		(void)ae_scep_digest(bits, &weak_d);
		if (state == NULL)
			c = ae_diag_add(r, id, "SCEP: GetCACaps", AE_DIAG_PASS, "answered");
		else if (weak_c || weak_d) {
			c = ae_diag_add(r, id, "SCEP: GetCACaps", AE_DIAG_WARN, "offers only %s%s%s: requests use it",
			                weak_c ? "DES3 or DES instead of AES" : "", weak_c && weak_d ? " and " : "",
			                weak_d ? "SHA-1 instead of SHA-256" : "");
			ae_diag_fix(c, NULL, "NDES offers AES and SHA-256 from Windows Server 2012 R2 on: update the server");
		} else
			c = ae_diag_add(r, id, "SCEP: GetCACaps", AE_DIAG_PASS, "offers AES and SHA-256; PKIOperation by %s%s",
			                bits & AE_SCEP_CAP_POST ? "POST" : "GET",
			                bits & AE_SCEP_CAP_RENEWAL ? "; RenewalReq" : "");
		if (state != NULL)
			ae_diag_detail(c, "capabilities", "%s", capstr);
	}

	/* GetCACert */
	ae_diag_begin(r);
	scep_id(name, "getcacert", id, sizeof(id));
	if (at_cert) {
		c = ae_diag_add(r, id, "SCEP: GetCACert", AE_DIAG_FAIL, "%s", ae_get_message(ctx));
		ae_diag_fix(c, NULL, "the CA and RA certificates must chain to a root published in AD, or to the anchor "
		                     "given (scep_anchor, anchor of the profile); NDES needs both RA certificates, the "
		                     "signing one with digitalSignature and the encryption one with keyEncipherment");
		failure_details(c, f);
	} else if (err != AE_OK) {
		c = ae_diag_add(r, id, "SCEP: GetCACert", AE_DIAG_SKIP, "not reached");
	} else if (ae_transport_scep.ca_certs(ctx, state, &ca, &certs) != AE_OK || sk_X509_num(certs) < 1) {
		c = ae_diag_add(r, id, "SCEP: GetCACert", AE_DIAG_FAIL, "%s", ae_get_message(ctx));
	} else {
		char subj[256];
		X509_NAME_oneline(X509_get_subject_name(sk_X509_value(certs, 0)), subj, sizeof(subj));
		c = ae_diag_add(r, id, "SCEP: GetCACert", AE_DIAG_PASS,
		                "%d certificate%s, the CA %s; all chain to a root published in AD or the anchor",
		                sk_X509_num(certs), sk_X509_num(certs) == 1 ? "" : "s", subj);
	}

	/* the RA certificates */
	if (certs != NULL)
		diag_ra(name, certs, r);
	else {
		ae_diag_begin(r);
		ae_diag_add(r, scep_id(name, "ra-certificates", id, sizeof(id)), "SCEP: RA certificates", AE_DIAG_SKIP,
		            "GetCACert gave none to check");
	}
	if (state != NULL)
		ae_transport_scep.close(state);
	sk_X509_pop_free(certs, X509_free);
	ae_strv_free(caps);
	free(ca.endpoint_trust);
	ae_clear_message(ctx);
}
