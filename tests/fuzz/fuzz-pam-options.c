/*
 * fuzz-pam-options.c - the arguments of pam_autoenroll.so (a PAM stack
 * line: NUL-separated words here) and its list matching.  Checks that
 * parsing keeps to its promises: values in range, paths absolute, the
 * message a terminated string, lists only matched by whole words.
 */
#include "config.h"

#include "options.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *argv[64];
	char *copy, err[128];
	ae_pam_opts o;
	int argc = 0;

	copy = malloc(size + 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (char *p = copy; p < copy + size && argc < 64; p += strlen(p) + 1)
		argv[argc++] = p;
	memset(err, 'x', sizeof(err));
	if (ae_pam_parse_opts(argc, argv, &o, err, sizeof(err)) < 0 && memchr(err, '\0', sizeof(err)) == NULL)
		__builtin_trap();
	if (o.delay < -1 || o.delay > AE_PAM_MAX_DELAY)
		__builtin_trap();
	if (o.conf != NULL && o.conf[0] != '/')
		__builtin_trap();
	/* Every word of a list matches itself, and no list matches a name
	 * with a comma in it. */
	if (o.services != NULL) {
		const char *c = strchr(o.services, ',');
		char first[256];
		size_t n = c ? (size_t)(c - o.services) : strlen(o.services);
		if (n > 0 && n < sizeof(first)) {
			memcpy(first, o.services, n);
			first[n] = '\0';
			if (!ae_pam_in_list(o.services, first))
				__builtin_trap();
		}
		if (c != NULL && ae_pam_in_list(o.services, o.services))
			__builtin_trap();
	}
	(void)ae_pam_in_list(o.users, argc > 0 ? argv[0] : "");
	free(copy);
	return 0;
}
