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
	ae_ctx_free(ctx);
	return tap_done();
}
