/*
 * util.h - small helpers shared by core/: NULL-terminated string vectors and
 * a growable byte buffer.
 */
#ifndef AE_UTIL_H
#define AE_UTIL_H

#include "error.h"

#include <stdbool.h>
#include <time.h>
#include <stddef.h>
#include <stdint.h>

/* NULL-terminated vector of heap strings.  NULL is a valid empty vector. */
size_t ae_strv_len(char *const *v);
void ae_strv_free(char **v);
/* Appends a copy of S; returns false when out of memory (V unchanged). */
bool ae_strv_append(char ***v, const char *s);
bool ae_strv_contains(char *const *v, const char *s);
bool ae_strv_contains_nocase(char *const *v, const char *s);
char **ae_strv_dup(char *const *v);

/* Growable buffer. */
typedef struct {
	char *data;
	size_t len;
	size_t cap;
	bool failed; /* set once an allocation failed; further appends do nothing */
} ae_buf;

void ae_buf_init(ae_buf *b);
void ae_buf_clear(ae_buf *b);
void ae_buf_append(ae_buf *b, const void *data, size_t len);
void ae_buf_puts(ae_buf *b, const char *s);
void ae_buf_printf(ae_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The code point of the UTF-16LE text S (LEN bytes) at byte I (I + 1 < LEN)
 * into *CP: returns the bytes it takes (2, or 4 for a surrogate pair), 0
 * for an unpaired surrogate. */
size_t ae_utf16le_next(const uint8_t *s, size_t len, size_t i, uint32_t *cp);
/* Appends the code point CP (at most 0x10FFFF) encoded in UTF-8. */
void ae_buf_put_utf8(ae_buf *b, uint32_t cp);
/* A formatted heap string (free()), or NULL when out of memory. */
char *ae_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Takes the NUL-terminated contents (NULL if an allocation failed) and
 * resets the buffer. */
char *ae_buf_steal(ae_buf *b);

/* Whether LEN bytes at S hold a control character (below 0x20, or DEL);
 * its offset in *AT when not NULL.  Text from AD or a CA with one could
 * add lines to record files, request attributes or logs. */
bool ae_has_control(const char *s, size_t len, size_t *at);
/* Appends S with every byte a line-based file cannot hold escaped: "\\",
 * "\n", "\r", "\t", other control characters as "\xNN"; other bytes as
 * they are.  ae_unescape() undoes it. */
void ae_buf_escaped(ae_buf *b, const char *s);
/* Undoes ae_buf_escaped() in place; false (S then undefined) on a bad
 * escape or one that would make a NUL byte. */
bool ae_unescape(char *s);
/* The value of a hexadecimal digit, or -1. */
int ae_hex_digit(char c);

/* The whole file at PATH, NUL-terminated (the length without the NUL in
 * *LEN_OUT when not NULL), at most MAX bytes read; NULL when it cannot be
 * opened (errno says why) or out of memory.  Caller frees. */
char *ae_read_file(const char *path, size_t max, size_t *len_out);

/* Seconds on the monotonic clock: for measuring waits against timeouts. */
double ae_monotonic_seconds(void);
/* An LDAP GeneralizedTime (RFC 4517 3.3.13) in UTC as AD writes it,
 * "YYYYMMDDHHMMSS[.f]Z" (the rootDSE's currentTime; untrusted), into *OUT;
 * false when S is not one. */
bool ae_parse_generalized_time(const char *s, time_t *out);

/* The time autoenrollment decisions use: time(NULL); in test builds
 * shifted by $AE_TEST_NOW_OFFSET seconds (testhooks.h) so that the lab
 * can show renewal at 81 % of a lifetime without waiting for it. */
int64_t ae_now(void);
/* True when ae_now() is shifted (chain checks must then use it too). */
bool ae_now_shifted(void);

/* Whether NAME is a temporary file of an atomic write whose writer is
 * gone (killed before its rename): "<file>.tmp.<pid>.<random>"
 * (ae_write_file_atomic) or "<file>.<pid>.tmp" (the file key store), with
 * no process <pid>.  A live writer's file is not stale. */
bool ae_tmp_name_stale(const char *name);
/* Removes the stale temporary files (above) in DIR; how many. */
unsigned ae_remove_stale_tmp(const char *dir);

/* Free a pointer and set it to NULL. */
#define ae_free_ptr(p) do { free(p); (p) = NULL; } while (0)

/* The secret in PATH (a password; for a key file, the check alone): a
 * regular file of the caller's (or root's), not
 * readable or writable by group or others, its first line (at most 1 KiB).
 * *OUT (caller cleanses and frees) stays NULL on error; errors name
 * SETTING ("cep_password_file in [global] of FILE"). */
ae_err ae_read_password_file(ae_ctx *ctx, const char *path, const char *setting, char **out);

#endif
