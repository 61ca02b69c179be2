/*
 * json.h - a small JSON writer for --json output.  Strings from the
 * network are escaped, and bytes that are not UTF-8 become U+FFFD.
 */
#ifndef AE_JSON_H
#define AE_JSON_H

#include "util.h"

#include <stdbool.h>

#define AE_JSON_MAX_DEPTH 32

typedef struct {
	ae_buf buf;
	int depth;
	bool need_comma[AE_JSON_MAX_DEPTH];
} ae_json;

void ae_json_init(ae_json *j);
/* KEY is NULL for array elements and the root value. */
void ae_json_begin_object(ae_json *j, const char *key);
void ae_json_end_object(ae_json *j);
void ae_json_begin_array(ae_json *j, const char *key);
void ae_json_end_array(ae_json *j);
void ae_json_string(ae_json *j, const char *key, const char *value); /* NULL: null */
void ae_json_int(ae_json *j, const char *key, long long value);
void ae_json_bool(ae_json *j, const char *key, bool value);
void ae_json_null(ae_json *j, const char *key);
void ae_json_strv(ae_json *j, const char *key, char *const *values);
/* The document with a final newline (NULL when out of memory); resets J. */
char *ae_json_finish(ae_json *j);

#endif
