/*
 * test-conf.c - the autoenroll.conf parser: values, defaults, and clear
 * errors for bad input.
 */
#include "config.h"

#include "conf.h"
#include "tap.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int warnings;

static void
count_log(void *data, ae_log_level level, const char *msg)
{
	(void)data;
	(void)msg;
	if (level <= AE_LOG_WARNING)
		warnings++;
}

static ae_conf *
parse(ae_ctx *ctx, const char *text, ae_err *err)
{
	ae_conf *c = NULL;
	*err = ae_conf_parse(ctx, text, strlen(text), "test.conf", &c);
	return c;
}

static void
expect_error(ae_ctx *ctx, const char *text, const char *needle, const char *what)
{
	ae_err err;
	ae_conf *c = parse(ctx, text, &err);
	tap_ok(c == NULL && err == AE_ERR_CONFIG && strstr(ae_get_message(ctx), needle) != NULL,
	       "%s: error mentions \"%s\"", what, needle);
	if (c != NULL || strstr(ae_get_message(ctx), needle) == NULL)
		tap_diag("  message: %s", ae_get_message(ctx));
	ae_conf_free(c);
}

/* The checker: every problem, one per line, in line order, parsing on. */
static void
check_all(ae_ctx *ctx)
{
	const char *text = "[global]\n"              /* 1 */
	                   "ldap_timeout = 0\n"       /* 2: out of range */
	                   "domian = x\n"             /* 3: unknown key */
	                   "dns_timeout = 5\n"        /* 4 */
	                   "dns_timeout = 7\n"        /* 5: set again */
	                   "x-local = fine\n"         /* 6: extension, silent */
	                   "[user]\n"                 /* 7 */
	                   "aepolicy = enroll, bogus\n" /* 8: bad word */
	                   "store = pkcs11:token=A\n" /* 9 */
	                   "[nope]\n"                 /* 10: unknown section */
	                   "foo = bar\n"              /* 11: reported with its section */
	                   "[machine]\n"              /* 12 */
	                   "words without equals\n"   /* 13 */
	                   "[global\n"                /* 14: bad header */
	                   "domain = after.bad\n";    /* 15: in no known section */
	static const unsigned want[] = { 2, 3, 5, 8, 10, 13, 14 };
	ae_conf_report *rep = ae_conf_report_new();
	ae_conf *c = NULL;
	ae_err err;
	bool lines_ok = true;

	err = ae_conf_parse_checked(ctx, text, strlen(text), "bad.conf", rep, &c);
	tap_ok(err == AE_OK && c != NULL, "checker: parses on through every problem");
	tap_is_int((long long)ae_conf_report_count(rep), 7, "checker: all 7 problems reported, not just the first");
	ae_conf_report_sort(rep);
	for (size_t i = 0; i < ae_conf_report_count(rep) && i < 7; i++)
		if (ae_conf_report_get(rep, i)->line != want[i]) {
			lines_ok = false;
			tap_diag("  problem %zu: %s", i, ae_conf_report_get(rep, i)->message);
		}
	tap_ok(lines_ok, "checker: each problem names its line");
	tap_ok(ae_conf_report_count(rep) >= 3 && strstr(ae_conf_report_get(rep, 0)->message, "bad.conf:2: ldap_timeout") &&
	       strstr(ae_conf_report_get(rep, 2)->message, "set again (first at line 4)") &&
	       strcmp(ae_conf_report_get(rep, 2)->key, "dns_timeout") == 0 &&
	       strcmp(ae_conf_report_get(rep, 2)->section, "global") == 0,
	       "checker: FILE:LINE: KEY in [SECTION] ..., key and section given apart");
	tap_ok(c != NULL && c->ldap_timeout == 10 && c->dns_timeout == 7, "checker: a bad value keeps the default, the last of two applies");
	tap_is_int(ae_conf_report_line(rep, "user", "store"), 9, "checker: where each key was set");
	tap_is_int(ae_conf_report_line(rep, "global", "domain"), 0, "checker: a key in no known section is not set");
	tap_is_int(ae_conf_report_line(rep, "global", "ldap_timeout"), 0, "checker: a bad value sets nothing");
	ae_conf_free(c);
	ae_conf_report_free(rep);

	rep = ae_conf_report_new();
	c = NULL;
	err = ae_conf_parse_checked(ctx, "[global]\ndomain = corp.test\n", 27, "ok.conf", rep, &c);
	tap_ok(err == AE_OK && ae_conf_report_count(rep) == 0, "checker: a good file has no problem");
	ae_conf_free(c);
	ae_conf_report_free(rep);

	/* Loading warns about a key set twice, and the last one applies. */
	warnings = 0;
	c = parse(ctx, "[global]\ndns_timeout = 5\ndns_timeout = 6\n", &err);
	tap_ok(c != NULL && c->dns_timeout == 6 && warnings == 1, "a key set twice: warned, the last one applies");
	ae_conf_free(c);
}

int
main(void)
{
	ae_ctx *ctx = ae_ctx_new();
	ae_conf *c;
	ae_err err;
	char buf[256];

	ae_ctx_set_log(ctx, count_log, NULL, AE_LOG_DEBUG);

	c = parse(ctx, "", &err);
	tap_ok(c != NULL && err == AE_OK, "empty file gives defaults");
	tap_is_int(c->ldap_timeout, 10, "default ldap_timeout");
	tap_is_int(c->dns_timeout, 5, "default dns_timeout");
	tap_is_str(c->machine_keytab, "/etc/krb5.keytab", "default keytab");
	tap_ok(c->domain == NULL && c->servers == NULL, "no domain, no servers by default");
	ae_conf_free(c);

	c = parse(ctx,
	          "# comment\n"
	          "; another\n"
	          "[global]\n"
	          "  domain = corp.test  \r\n"
	          "servers = dc1.corp.test, dc2.corp.test dc3.corp.test\n"
	          "ldap_timeout = 3\n"
	          "[machine]\n"
	          "keytab = /var/lib/ae/ws1.keytab\n"
	          "principal = WS1$@CORP.TEST\n"
	          "[user]\n",
	          &err);
	tap_ok(c != NULL, "full file parses");
	tap_is_str(c->domain, "corp.test", "domain trimmed (CRLF too)");
	tap_is_int(ae_strv_len(c->servers), 3, "three servers, comma or space separated");
	tap_is_str(c->servers[2], "dc3.corp.test", "third server");
	tap_is_int(c->ldap_timeout, 3, "ldap_timeout");
	tap_is_str(c->machine_keytab, "/var/lib/ae/ws1.keytab", "keytab");
	tap_is_str(c->machine_principal, "WS1$@CORP.TEST", "principal");
	ae_conf_setting(c, "global", "ldap_timeout", buf, sizeof(buf));
	tap_is_str(buf, "ldap_timeout in [global] of test.conf", "setting names key, section and file");
	ae_conf_free(c);

	warnings = 0;
	c = parse(ctx, "[global]\nfrobnicate = 1\nx-site = lab\n[weird]\nkey = v\n", &err);
	tap_ok(c != NULL && warnings == 2, "unknown key and section warn (x- keys do not), file still loads");
	ae_conf_free(c);

	c = parse(ctx, "[GLOBAL]\nDomain = Corp.Test\n", &err);
	tap_ok(c != NULL && c->domain && strcmp(c->domain, "Corp.Test") == 0,
	       "sections and keys are case-insensitive, values kept");
	ae_conf_free(c);

	expect_error(ctx, "[global]\nldap_timeout = ten\n", "ldap_timeout", "non-numeric timeout");
	expect_error(ctx, "[global]\nldap_timeout = 0\n", "from 1 to 3600", "zero timeout");
	expect_error(ctx, "[global]\nldap_timeout = 99999999999999999999\n", "test.conf:2",
	             "overflowing timeout names the line");
	expect_error(ctx, "domain = corp.test\n", "outside any section", "key before any section");
	expect_error(ctx, "[global\n", "bad section header", "unclosed section");
	expect_error(ctx, "[global]\njust words\n", "expected \"key = value\"", "line without =");
	expect_error(ctx, "[global]\ndomain =\n", "is empty", "empty string value");
	expect_error(ctx, "[global]\nservers = , ,\n", "lists nothing", "empty list");
	{
		const char nul[] = "[global]\ndomain = a\0b\n";
		c = NULL;
		err = ae_conf_parse(ctx, nul, sizeof(nul) - 1, "nul.conf", &c);
		tap_ok(c == NULL && strstr(ae_get_message(ctx), "NUL") != NULL, "embedded NUL rejected");
	}

	/* Files: missing optional file gives defaults; explicit one must exist. */
	err = ae_conf_load(ctx, "/nonexistent/autoenroll.conf", false, &c);
	tap_ok(err == AE_OK && c != NULL && c->path == NULL, "missing default file: defaults");
	ae_conf_free(c);
	err = ae_conf_load(ctx, "/nonexistent/autoenroll.conf", true, &c);
	tap_ok(err == AE_ERR_CONFIG && c == NULL && strstr(ae_get_message(ctx), "/nonexistent/autoenroll.conf"),
	       "missing explicit file: error names it");
	err = ae_conf_load(ctx, "/", true, &c);
	tap_ok(err == AE_ERR_CONFIG && c == NULL, "a directory is not a configuration file");
	{
		char path[] = "/tmp/ae-test-conf-XXXXXX";
		int fd = mkstemp(path);
		const char *text = "[global]\ndomain = file.test\n";
		tap_ok(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "temp file written");
		close(fd);
		err = ae_conf_load(ctx, path, true, &c);
		tap_ok(err == AE_OK && c && c->domain && strcmp(c->domain, "file.test") == 0 &&
		       c->path && strcmp(c->path, path) == 0, "file loads and remembers its path");
		ae_conf_free(c);
		unlink(path);
	}
	{
		/* where an option comes from: the file, or its default */
		c = parse(ctx, "[global]\nexpiry_warning_percent = 10\n[machine]\naepolicy = 7\n", &err);
		tap_ok(c && ae_conf_is_set(c, "global", "expiry_warning_percent") && ae_conf_is_set(c, "machine", "aepolicy") &&
		               !ae_conf_is_set(c, "user", "aepolicy") && !ae_conf_is_set(c, "machine", "policy_servers") &&
		               !ae_conf_is_set(c, "machine", "no_such_key"),
		       "ae_conf_is_set: the options the file sets, also at their default value; not the others");
		ae_conf_free(c);
	}
	{
		/* [scep NAME] profiles */
		const ae_scep_profile *sp;
		ae_conf_report *rep = ae_conf_report_new();

		c = parse(ctx, "[scep dev1]\nurl = https://ndes.corp.test/certsrv/mscep/mscep.dll\nsubject = CN=dev1,O=Corp\n"
		               "dns = dev1.corp.test, dev1\nchallenge = admin\nrenew_percent = 70\ncontext = user\n"
		               "[global]\ndns_timeout = 3\n", &err);
		sp = c ? ae_conf_scep_profile(c, "DEV1") : NULL;
		tap_ok(sp && c->n_scep == 1 && strcmp(sp->subject, "CN=dev1,O=Corp") == 0 && sp->dns && sp->dns[1] &&
		               strcmp(sp->dns[1], "dev1") == 0 && sp->challenge_admin && sp->renew_percent == 70 && sp->user &&
		               sp->key_size == 2048 && sp->allow_http == -1 && c->dns_timeout == 3,
		       "a [scep NAME] profile: its keys, defaults, and the next section read as before");
		ae_conf_free(c);
		c = parse(ctx, "[scep m]\nurl = http://mdm.test:8080/scep\nsubject = CN=m\nallow_http = yes\n"
		               "renewal_challenge = yes\n", &err);
		sp = c ? ae_conf_scep_profile(c, "m") : NULL;
		tap_ok(sp && sp->allow_http == 1 && sp->renewal_challenge, "allow_http and renewal_challenge = yes");
		ae_conf_free(c);
		c = parse(ctx, "[scep m]\nurl = https://x/\nsubject = CN=m\nrenewal_challenge = maybe\n", &err);
		tap_ok(c == NULL && err == AE_ERR_CONFIG && strstr(ae_get_message(ctx), "renewal_challenge in [scep m] is yes or no"),
		       "renewal_challenge = maybe: an error naming the key");
		c = parse(ctx, "[scep a]\nsubject = CN=a\n", &err);
		tap_ok(c == NULL && err == AE_ERR_CONFIG && strstr(ae_get_message(ctx), "has no url") != NULL,
		       "a profile without url: an error naming it");
		c = parse(ctx, "[scep a]\nurl = https://x/\nsubject = CN=a\n[scep A]\nurl = https://y/\nsubject = CN=b\n", &err);
		tap_ok(c == NULL && strstr(ae_get_message(ctx), "profile names are unique") != NULL, "profile names are unique");
		ae_conf_free(c);
		c = NULL;
		{
			const char *t = "[scep a]\nurl = ftp://x\nkey_type = dsa\nchallenge_file = rel\nfoo = 1\n"
			                "[scep ok]\nurl = https://x/\nsubject = CN=a\n";
			err = ae_conf_parse_checked(ctx, t, strlen(t), "t.conf", rep, &c);
		}
		tap_ok(err == AE_OK && c && ae_conf_report_count(rep) == 5 && c->n_scep == 1 &&
		               strcmp(c->scep[0].name, "ok") == 0,
		       "config check: each bad key of a profile, and the incomplete profile left out");
		ae_conf_free(c);
		ae_conf_report_free(rep);
	}
	check_all(ctx);
	ae_ctx_free(ctx);
	return tap_done();
}
