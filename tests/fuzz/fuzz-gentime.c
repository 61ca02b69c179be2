/*
 * fuzz-gentime.c - the GeneralizedTime parser (core/util.c) on arbitrary
 * bytes: the rootDSE's currentTime, which diagnose's time check reads
 * from a DC before any bind.
 */
#include "config.h"

#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	time_t t = 1;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (!ae_parse_generalized_time(s, &t) && t != 0)
		__builtin_trap();
	free(s);
	return 0;
}
