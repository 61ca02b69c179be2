/*
 * test-pcache.c - the policy cache file: what is written reads back the
 * same; damaged files are refused with a message (the pulse then reads
 * the policy again), never half-read.
 */
#include "config.h"

#include "pcache.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ae_err
parse(ae_ctx *ctx, const char *text, ae_pcache **out)
{
	return ae_pcache_parse(ctx, text, strlen(text), out);
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_pcache *c = NULL, *d = NULL;
	char *text;
	char dir[] = "/tmp/ae-pcache.XXXXXX";
	static const char *const bad[] = {
		"",
		"autoenroll-policy-cache 2\nloaded\t1\n",
		"autoenroll-policy-cache 1\n",                       /* no loaded line */
		"autoenroll-policy-cache 1\nloaded\t1",              /* unterminated */
		"autoenroll-policy-cache 1\nloaded\t-1\n",
		"autoenroll-policy-cache 1\nloaded\tx\n",
		"autoenroll-policy-cache 1\nloaded\t1\ntemplate\tA\t-\t1\t0\tmaybe\t0\n",
		"autoenroll-policy-cache 1\nloaded\t1\ntemplate\tA\t-\t1\t0\tskip\n",
		"autoenroll-policy-cache 1\nloaded\t1\ntemplate\tA\t-\t4294967296\t0\tskip\t0\n",
		"autoenroll-policy-cache 1\nloaded\t1\ntemplate\t\t-\t1\t0\tskip\t0\n",
		"autoenroll-policy-cache 1\nloaded\t1\ntemplate\tA\t-\t1\t0\tskip\t0\textra\n",
		"autoenroll-policy-cache 1\nloaded\t1\nunknown\t1\n",
		"autoenroll-policy-cache 1\nloaded\t1\nrefused\tA\t1\t0\tCA\t2148026388\n",
		"autoenroll-policy-cache 1\nloaded\t1\nrefused\tA\t1\t0\tCA\t4294967296\t5\n",
		"autoenroll-policy-cache 1\nloaded\t1\nrefused\tA\t1\t0\t\t2148026388\t5\n",
	};

	tap_ok(parse(ctx, "autoenroll-policy-cache 1\nloaded\t1795000000\nprincipal\tWS1$@CORP.TEST\naepolicy\t7\n"
	                  "template\tLabMachine\t1.3.6.1.4.1.311.21.8.1.1.102\t100\t3\tautoenroll\t3628800\n"
	                  "template\tLabRA\t-\t2\t0\tmanual-renew-only\t0\n",
	                  &c) == AE_OK,
	       "a cache file parses");
	tap_ok(c != NULL && c->loaded == 1795000000 && c->aepolicy == 7 && c->count == 2 &&
	               strcmp(c->principal, "WS1$@CORP.TEST") == 0,
	       "header fields");
	tap_ok(c != NULL && strcmp(c->templates[0].name, "LabMachine") == 0 && c->templates[0].major == 100 &&
	               c->templates[0].minor == 3 && c->templates[0].decision == AE_DECISION_AUTOENROLL &&
	               c->templates[0].renewal_seconds == 3628800,
	       "template fields");
	tap_ok(c != NULL && c->templates[1].oid == NULL && c->templates[1].decision == AE_DECISION_MANUAL_RENEW_ONLY,
	       "no OID, manual-renew-only");
	text = c ? ae_pcache_format(c) : NULL;
	tap_ok(text != NULL && parse(ctx, text, &d) == AE_OK && d->count == 2 && d->loaded == c->loaded &&
	               strcmp(d->templates[1].name, "LabRA") == 0,
	       "format then parse gives the same cache");
	free(text);
	ae_pcache_free(d);
	d = NULL;

	/* Refusals the CA will repeat: kept 24 hours for the same version. */
	{
		const int64_t t0 = 1795000000;
		tap_ok(ae_pcache_lasting_refusal(0x80094814u) && ae_pcache_lasting_refusal(0x8009481Au) &&
		               !ae_pcache_lasting_refusal(0x80094012u) && !ae_pcache_lasting_refusal(2),
		       "CERT_TYPE_OVERLAP and KEY_ATTESTATION last; TEMPLATE_DENIED and a denial do not");
		tap_ok(ae_pcache_add_refusal(ctx, c, "LabMachine", 100, 3, "CORP-CA1", 0x80094814u, t0) == AE_OK &&
		               ae_pcache_add_refusal(ctx, c, "Lab\nEvil", 1, 0, "CORP-CA1", 0x80094814u, t0) == AE_OK &&
		               c->nrefusals == 1,
		       "a refusal is remembered; a name with a newline is not");
		tap_ok(ae_pcache_find_refusal(c, "labmachine", 100, 3, "corp-ca1", t0 + 3600) != NULL &&
		               ae_pcache_find_refusal(c, "LabMachine", 100, 3, NULL, t0 + 3600) != NULL,
		       "found an hour later, names without case, any CA");
		tap_ok(ae_pcache_find_refusal(c, "LabMachine", 100, 4, "CORP-CA1", t0 + 3600) == NULL &&
		               ae_pcache_find_refusal(c, "LabMachine", 100, 3, "CORP-CA2", t0 + 3600) == NULL &&
		               ae_pcache_find_refusal(c, "LabMachine", 100, 3, "CORP-CA1", t0 + AE_PCACHE_REFUSAL_TTL) == NULL &&
		               ae_pcache_find_refusal(c, "LabMachine", 100, 3, "CORP-CA1", t0 - 1) == NULL,
		       "not for a new version, another CA, after 24 hours, or from the future");
		text = ae_pcache_format(c);
		tap_ok(text != NULL && parse(ctx, text, &d) == AE_OK && d->nrefusals == 1 &&
		               d->refusals[0].hresult == 0x80094814u && d->refusals[0].at == t0 &&
		               strcmp(d->refusals[0].ca, "CORP-CA1") == 0,
		       "refusals are written and read back");
		free(text);
		ae_pcache_free(d);
		d = NULL;
	}

	/* Enrollment flags (SKIP_AUTO_RENEWAL) and templates waiting for the
	 * user: written, read back; a cache of before has no flags. */
	c->templates[0].enrollment_flags = 0x40000;
	tap_ok(ae_pcache_add_wait(ctx, c, "LabRA", "LabRA needs the user's consent") == AE_OK &&
	               ae_pcache_add_wait(ctx, c, "LabRA", "again") == AE_OK &&
	               ae_pcache_add_wait(ctx, c, "LabX", "tab\there") == AE_OK && c->nwaits == 1,
	       "a wait is remembered once; words with a tab are not");
	text = ae_pcache_format(c);
	tap_ok(text != NULL && parse(ctx, text, &d) == AE_OK && d->templates[0].enrollment_flags == 0x40000 &&
	               d->templates[1].enrollment_flags == 0 && ae_pcache_find_wait(d, "labra") != NULL &&
	               strcmp(ae_pcache_find_wait(d, "LabRA")->message, "LabRA needs the user's consent") == 0 &&
	               ae_pcache_find_wait(d, "LabMachine") == NULL,
	       "enrollment flags and waits are written and read back");
	free(text);
	ae_pcache_free(d);
	d = NULL;
	tap_ok(parse(ctx, "autoenroll-policy-cache 1\nloaded\t1\nwaits\tA\n", &d) == AE_ERR_INVALID && d == NULL,
	       "a waits line without words is refused");

	tap_ok(mkdtemp(dir) != NULL, "temporary directory");
	tap_ok(ae_pcache_load(ctx, dir, &d) == AE_ERR_NOTFOUND && d == NULL, "no cache file: NOTFOUND");
	tap_ok(ae_pcache_save(ctx, dir, c) == AE_OK && ae_pcache_load(ctx, dir, &d) == AE_OK && d->count == 2,
	       "saved and loaded back");
	ae_pcache_free(d);
	d = NULL;
	ae_pcache_remove(dir);
	tap_ok(ae_pcache_load(ctx, dir, &d) == AE_ERR_NOTFOUND, "removed");
	rmdir(dir);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ae_pcache *x = NULL;
		ae_err e = parse(ctx, bad[i], &x);
		tap_ok(e == AE_ERR_INVALID && x == NULL && strstr(ae_get_message(ctx), "policy cache") != NULL,
		       "damaged cache %zu refused with a message", i);
		ae_pcache_free(x);
	}
	tap_ok(ae_pcache_parse(ctx, "autoenroll-policy-cache 1\0x", 27, &d) == AE_ERR_INVALID, "NUL byte refused");
	ae_pcache_free(c);
	ae_ctx_free(ctx);
	return tap_done();
}
