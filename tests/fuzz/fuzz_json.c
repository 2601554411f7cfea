/*
 * fuzz_json.c — libFuzzer target for the JSON value API
 * (common/json/json_value.c) and the JSON codec (common/json/json_codec.c).
 *
 * The value API first: the input is parsed under every flag combination;
 * a parse that fails must say where (line >= 1) and why, and one that
 * succeeds is walked with every getter (each type's getter agreeing with
 * uns_jv_typeof, iteration agreeing with length and index), copied, and
 * dumped compact, pretty and sorted; each dump must parse again to a
 * value that dumps to the same bytes, and uns_jv_write must write what
 * uns_jv_dump does.
 *
 * Then the codec:
 * Decodes the input as each of a few request types with the default
 * mapping, then as a PostRequest with a small mapping that exercises the
 * converters (ISO 8601 times, numeric strings, enum spellings). Whatever
 * decodes must survive a round trip under the same mapping: encode (compact,
 * and again with defaults emitted), decode that, and pack to the same
 * protobuf bytes. The text writer (uns_json_write) must give the same bytes
 * as the jansson encoder. A mismatch aborts, so the fuzzer reports it with
 * the input.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -Iclient/include -Iclient \
 *     -Igen tests/fuzz/fuzz_json.c common/json/json_codec.c
 * common/json/json_buf.c gen/uns/v1/\*.pb-c.c \ -ljansson -lprotobuf-c -o
 * /tmp/fuzz_json /tmp/fuzz_json -max_total_time=60 tests/fuzz/corpus/json
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_codec.h"
#include "json_value.h"
#include "uns/v1/notifications.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uns_json_field_rule fuzz_fields[] = {
    {"uns.v1.Notification", "expiration_time_ms", "expirationDateTime",
     UNS_JSON_CONV_TIME_MS, 0},
    {"uns.v1.Notification", "display_time_to_live", NULL,
     UNS_JSON_CONV_NUMBER_OR_STRING, 0},
    {"uns.v1.Notification", "version", NULL, UNS_JSON_CONV_INT64_AS_NUMBER, 0},
    {"uns.v1.PostRequest", "unsid", NULL, UNS_JSON_CONV_NONE, 1},
};
static const uns_json_enum_name fuzz_platforms[] = {
    {UNS__V1__PLATFORM__PLATFORM_WINDOWS, "windows"},
    {UNS__V1__PLATFORM__PLATFORM_IOS, "iOS"},
};
static const uns_json_enum_rule fuzz_enums[] = {
    {"uns.v1.Platform", fuzz_platforms, 2},
};
static const uns_json_mapping fuzz_map = {fuzz_fields, 4, fuzz_enums, 1};

static const struct {
	const ProtobufCMessageDescriptor *desc;
	const uns_json_mapping *map;
} passes[] = {
    {&uns__v1__post_request__descriptor, NULL},
    {&uns__v1__subscribe_request__descriptor, NULL},
    {&uns__v1__fetch_request__descriptor, NULL},
    {&uns__v1__post_request__descriptor, &fuzz_map},
};

static uint8_t *
pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(m);
	buf = malloc(*len + 1);
	if (buf == NULL || protobuf_c_message_pack(m, buf) != *len) {
		abort();
	}
	return buf;
}

/* The text writer must write what the jansson encoder wrote. */
static void
same_as_writer(const ProtobufCMessage *msg, const uns_json_mapping *map,
               int flags, const char *json)
{
	uns_json_buf b;

	if (flags & UNS_JSON_PRETTY) {
		return;
	}
	uns_json_buf_init(&b);
	if (uns_json_write(msg, map, flags, &b) != UNS_OK ||
	    strcmp(b.data, json) != 0) {
		fprintf(stderr, "writer differs:\n%s\n%s\n", json,
		        b.data ? b.data : "(failed)");
		abort();
	}
	uns_json_buf_free(&b);
}

/* msg -> JSON -> message2; packed bytes must match. */
static void
round_trip(const ProtobufCMessage *msg, const uns_json_mapping *map,
           const uint8_t *want, size_t want_len, int flags)
{
	ProtobufCMessage *back = NULL;
	uns_json_error err;
	uint8_t *got;
	size_t got_len;
	char *json = NULL;

	if (uns_json_encode(msg, map, flags, &json) != UNS_OK) {
		/* Only unrepresentable content may fail, and decoded input
		 * has none: strings came from valid JSON, times in range. */
		abort();
	}
	same_as_writer(msg, map, flags, json);
	if (uns_json_decode(msg->descriptor, json, strlen(json), map, &back,
	                    &err) != UNS_OK) {
		fprintf(stderr, "re-decode failed: %s: %s\n%s\n", err.path,
		        err.message, json);
		abort();
	}
	got = pack(back, &got_len);
	if (got_len != want_len || memcmp(got, want, want_len) != 0) {
		fprintf(stderr, "round trip changed the message:\n%s\n", json);
		abort();
	}
	free(got);
	protobuf_c_message_free_unpacked(back, NULL);
	free(json);
}

/* Every getter on v and below; they must agree with uns_jv_typeof. */
static void
walk(const uns_jv *v, int depth)
{
	uns_jv_type t = uns_jv_typeof(v);
	const char *s, *key;
	size_t n, count = 0;
	int64_t i;
	double d;
	bool b;
	uns_jv_iter it;
	uns_jv *e;

	if ((uns_jv_str(v, &s, &n) == UNS_OK) != (t == UNS_JV_STRING) ||
	    (t == UNS_JV_STRING && (strlen(s) != n || uns_jv_string(v) != s)) ||
	    (uns_jv_int(v, INT64_MIN, INT64_MAX, &i) == UNS_OK) !=
	        (t == UNS_JV_INT) ||
	    (uns_jv_number(v, &d) == UNS_OK) !=
	        (t == UNS_JV_INT || t == UNS_JV_REAL) ||
	    (uns_jv_bool(v, &b) == UNS_OK) != (t == UNS_JV_BOOL) ||
	    uns_jv_kind(v) == NULL) {
		abort();
	}
	/* an integer is in [i, i] and out of [i + 1, max] */
	if (t == UNS_JV_INT &&
	    (uns_jv_int(v, i, i, &i) != UNS_OK ||
	     (i < INT64_MAX &&
	      uns_jv_int(v, i + 1, INT64_MAX, &i) != UNS_OUT_OF_RANGE))) {
		abort();
	}
	uns_jv_iter_init(&it, v);
	while (uns_jv_iter_next(&it, &key, &e)) {
		if (t == UNS_JV_OBJECT
		        ? key == NULL || uns_jv_get(v, key) != e
		        : key != NULL || uns_jv_at(v, count) != e) {
			abort();
		}
		if (depth < 64) {
			walk(e, depth + 1);
		}
		count++;
	}
	if (count != uns_jv_len(v)) {
		abort();
	}
}

/* dump(v, flags) parses again to a value with the same dump. */
static void
dump_round_trip(const uns_jv *v, int flags)
{
	char *text = NULL, *again = NULL;
	size_t len, len2;
	uns_jv *back = NULL;
	uns_jv_error err;

	if (uns_jv_dump(v, flags, &text, &len) != UNS_OK) {
		abort();
	}
	if (uns_jv_parse(text, len, UNS_JV_ANY, &back, &err) != UNS_OK) {
		fprintf(stderr, "re-parse failed: %d:%d %s\n%s\n", err.line,
		        err.column, err.reason, text);
		abort();
	}
	if (uns_jv_dump(back, flags, &again, &len2) != UNS_OK || len != len2 ||
	    memcmp(text, again, len) != 0) {
		fprintf(stderr, "dump changed:\n%s\n%s\n", text, again);
		abort();
	}
	if (flags == 0) {
		uns_json_buf b;
		uns_json_buf_init(&b);
		uns_jv_write(v, &b);
		if (b.err != UNS_OK || b.len != len ||
		    memcmp(b.data, text, len) != 0) {
			abort();
		}
		uns_json_buf_free(&b);
	}
	free(text);
	free(again);
	uns_jv_free(back);
}

static void
fuzz_values(const uint8_t *data, size_t size)
{
	static const int flags[] = {0, UNS_JV_ANY, UNS_JV_DUPLICATES,
	                            UNS_JV_ANY | UNS_JV_DUPLICATES};

	for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
		uns_jv *v = NULL, *c;
		uns_jv_error err;
		uns_err rv =
		    uns_jv_parse((const char *)data, size, flags[f], &v, &err);

		if (rv != UNS_OK) {
			if (v != NULL || rv != UNS_INVALID_ARGUMENT ||
			    err.line < 1 || err.reason[0] == '\0' ||
			    err.position < 0 || (size_t)err.position > size) {
				abort();
			}
			continue;
		}
		walk(v, 0);
		if ((c = uns_jv_copy(v)) == NULL) {
			abort();
		}
		dump_round_trip(c, 0);
		dump_round_trip(v, UNS_JV_PRETTY);
		dump_round_trip(v, UNS_JV_SORT_KEYS);
		uns_jv_free(c);
		uns_jv_free(v);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i, len;

	fuzz_values(data, size);

	for (i = 0; i < sizeof(passes) / sizeof(passes[0]); i++) {
		const uns_json_mapping *map = passes[i].map;
		ProtobufCMessage *msg = NULL;
		uns_json_error err;
		uint8_t *packed;

		if (uns_json_decode(passes[i].desc, (const char *)data, size,
		                    map, &msg, &err) != UNS_OK) {
			continue;
		}
		packed = pack(msg, &len);
		round_trip(msg, map, packed, len, 0);
		round_trip(msg, map, packed, len, UNS_JSON_EMIT_DEFAULTS);
		free(packed);
		protobuf_c_message_free_unpacked(msg, NULL);
	}
	return 0;
}
