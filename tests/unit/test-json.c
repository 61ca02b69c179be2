/*
 * test-json.c - the JSON writer: structure, escaping, and bytes that are
 * not UTF-8 (attribute values from the network).
 */
#include "config.h"

#include "json.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

int
main(void)
{
	ae_json j;
	char *out;
	char *v[] = { "a", "b", NULL };

	ae_json_init(&j);
	ae_json_begin_object(&j, NULL);
	ae_json_string(&j, "s", "quote\" back\\ nl\n tab\t");
	ae_json_int(&j, "n", -42);
	ae_json_bool(&j, "t", true);
	ae_json_null(&j, "z");
	ae_json_string(&j, "null", NULL);
	ae_json_strv(&j, "list", v);
	ae_json_begin_array(&j, "empty");
	ae_json_end_array(&j);
	ae_json_begin_object(&j, "o");
	ae_json_end_object(&j);
	ae_json_end_object(&j);
	out = ae_json_finish(&j);
	tap_is_str(out,
	           "{\n"
	           "  \"s\": \"quote\\\" back\\\\ nl\\u000a tab\\u0009\",\n"
	           "  \"n\": -42,\n"
	           "  \"t\": true,\n"
	           "  \"z\": null,\n"
	           "  \"null\": null,\n"
	           "  \"list\": [\n"
	           "    \"a\",\n"
	           "    \"b\"\n"
	           "  ],\n"
	           "  \"empty\": [],\n"
	           "  \"o\": {}\n"
	           "}\n",
	           "document layout and escapes");
	free(out);

	ae_json_init(&j);
	ae_json_string(&j, NULL, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
	out = ae_json_finish(&j);
	tap_is_str(out, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91\"\n", "valid UTF-8 passes through");
	free(out);

	ae_json_init(&j);
	ae_json_string(&j, NULL, "a\xff" "b\xc3" "c\xe0\x80\x80" "d\xed\xa0\x80");
	out = ae_json_finish(&j);
	tap_is_str(out, "\"a\\ufffdb\\ufffdc\\ufffd\\ufffd\\ufffdd\\ufffd\\ufffd\\ufffd\"\n",
	           "invalid, truncated, overlong and surrogate sequences become U+FFFD");
	free(out);
	return tap_done();
}
