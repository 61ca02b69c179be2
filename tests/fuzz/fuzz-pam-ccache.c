/*
 * fuzz-pam-ccache.c - KRB5CCNAME as pam_autoenroll.so reads it (from the
 * PAM environment, partly the client's under sshd) and the copy's name.
 * Checks the promises: a FILE result is an absolute path that fits, with
 * no control character, and is what follows "FILE:" or the whole name.
 */
#include "config.h"

#include "ccache.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[256], out[512];
	char *name = malloc(size + 1);
	ae_pam_cc_kind k;

	if (name == NULL)
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';
	memset(path, 'x', sizeof(path));
	k = ae_pam_ccache_parse(name, path, sizeof(path));
	if (k == AE_PAM_CC_FILE) {
		size_t n = strnlen(path, sizeof(path));
		if (n == sizeof(path) || path[0] != '/')
			__builtin_trap();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)path[i] < ' ' || path[i] == 0x7f)
				__builtin_trap();
		if (strcmp(name, path) != 0 && (strncmp(name, "FILE:", 5) != 0 || strcmp(name + 5, path) != 0))
			__builtin_trap();
		if (ae_pam_ccache_copy_path(path, 1000, 42, out, sizeof(out)) == 0 &&
		    strstr(out, AE_PAM_CCACHE_PREFIX) == NULL)
			__builtin_trap();
	} else if (k != AE_PAM_CC_OTHER && k != AE_PAM_CC_INVALID) {
		__builtin_trap();
	}
	free(name);
	return 0;
}
