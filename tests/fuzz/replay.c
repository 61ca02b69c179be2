/*
 * replay.c - runs a fuzz target over corpus directories without libFuzzer,
 * so that make check exercises every seed with any compiler.
 *
 * Arguments are directories (or single files); with none, the corpus
 * compiled in as AE_FUZZ_CORPUS is used.  Prints TAP: one test per
 * argument, with the number of inputs replayed.  A crash is the failure
 * mode, as under libFuzzer.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Targets that set something up once define it, as under libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Reads PATH whole into a buffer of exactly its size, so that sanitizers
 * catch reads past the input as they would under libFuzzer. */
static int
replay_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;
	int rc = -1;

	if (fp == NULL)
		return -1;
	if (fseek(fp, 0, SEEK_END) != 0 || (len = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0)
		goto cleanup;
	buf = malloc(len > 0 ? (size_t)len : 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, fp) != (size_t)len)
		goto cleanup;
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	rc = 0;
cleanup:
	free(buf);
	fclose(fp);
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every regular file of DIR in name order; returns the count, or
 * -1 when DIR cannot be read. */
static long
replay_dir(const char *dir, char *err, size_t errsize)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	long count = 0;

	if (d == NULL) {
		snprintf(err, errsize, "cannot open %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn;
			cap = cap ? cap * 2 : 64;
			nn = realloc(names, cap * sizeof(*names));
			if (nn == NULL)
				break;
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (names[n] != NULL)
			n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) != 0) {
				snprintf(err, errsize, "cannot read %s", path);
				count = -1;
				break;
			}
			count++;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return count;
}

int
main(int argc, char **argv)
{
	char **args = argv + 1;
	int nargs = argc - 1, failed = 0;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);

#ifdef AE_FUZZ_CORPUS
	static const char *def[] = { AE_FUZZ_CORPUS, NULL };
	if (nargs == 0) {
		args = (char **)def;
		nargs = 1;
	}
#endif
	if (nargs == 0) {
		fprintf(stderr, "usage: %s CORPUS-DIR|FILE...\n", argv[0]);
		return 2;
	}
	printf("1..%d\n", nargs);
	for (int i = 0; i < nargs; i++) {
		struct stat st;
		char err[4200] = "";
		long count;

		if (stat(args[i], &st) == 0 && S_ISREG(st.st_mode))
			count = replay_file(args[i]) == 0 ? 1 : -1;
		else
			count = replay_dir(args[i], err, sizeof(err));
		if (count < 0) {
			printf("not ok %d - %s: %s\n", i + 1, args[i], err[0] ? err : "cannot read");
			failed++;
		} else if (count == 0) {
			printf("not ok %d - %s: empty corpus\n", i + 1, args[i]);
			failed++;
		} else {
			printf("ok %d - %s: %ld inputs replayed\n", i + 1, args[i], count);
		}
		fflush(stdout);
	}
	return failed ? 1 : 0;
}
