/*
 * options.c - the arguments of pam_autoenroll.so.
 */
#include "config.h"

#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
ae_pam_in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	if (list == NULL || n == 0)
		return false;
	while (*p != '\0') {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return false;
}

static bool
parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end = NULL;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

/* A printable value without spaces: it ends up in argv of the helper and
 * in log lines. */
static bool
clean_value(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

int
ae_pam_parse_opts(int argc, const char **argv, ae_pam_opts *opts, char *err, size_t errlen)
{
	int rc = 0;

	memset(opts, 0, sizeof(*opts));
	opts->delay = -1;
	opts->min_uid = AE_PAM_DEFAULT_MIN_UID;
	if (errlen > 0)
		err[0] = '\0';
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = strchr(a, '=');
		unsigned long n;
		bool ok = true;

		if (v != NULL)
			v++;
		if (strcmp(a, "debug") == 0)
			opts->debug = true;
		else if (strcmp(a, "express") == 0)
			opts->express = true;
		else if (strcmp(a, "no_notify") == 0)
			opts->no_notify = true;
		else if (strcmp(a, "machine_pulse") == 0)
			opts->machine_pulse = true;
		else if (strcmp(a, "strict") == 0)
			opts->strict = true;
		else if (strncmp(a, "delay=", 6) == 0) {
			if ((ok = parse_ulong(v, AE_PAM_MAX_DELAY, &n)))
				opts->delay = (int)n;
		} else if (strncmp(a, "min_uid=", 8) == 0) {
			if ((ok = parse_ulong(v, 0xffffffffUL, &n)))
				opts->min_uid = n;
		} else if (strncmp(a, "conf=", 5) == 0) {
			/* Relative paths would depend on the application's cwd. */
			if ((ok = v[0] == '/' && clean_value(v)))
				opts->conf = v;
		} else if (strncmp(a, "services=", 9) == 0) {
			if ((ok = clean_value(v)))
				opts->services = v;
		} else if (strncmp(a, "skip_services=", 14) == 0) {
			if ((ok = clean_value(v)))
				opts->skip_services = v;
		} else if (strncmp(a, "users=", 6) == 0) {
			if ((ok = clean_value(v)))
				opts->users = v;
		} else if (strncmp(a, "skip_users=", 11) == 0) {
			if ((ok = clean_value(v)))
				opts->skip_users = v;
		} else {
			if (rc == 0)
				snprintf(err, errlen, "unknown option \"%.64s\" ignored (see pam_autoenroll(8))", a);
			rc = -1;
			continue;
		}
		if (!ok) {
			if (rc == 0)
				snprintf(err, errlen, "bad value in \"%.64s\" ignored (see pam_autoenroll(8))", a);
			rc = -1;
		}
	}
	return rc;
}
