/*
 * fuzz_gateway_json.c — libFuzzer target for the gateway's Graph JSON
 * mapping (server/gateway/gateway_json.c), its $filter parser and its body
 * decoder (server/gateway/gateway_encoding.c): the parts that read what an HTTP
 * client sends.
 *
 * The input is parsed as each request body the gateway accepts
 * (notification, subscription, PATCH); what parses must survive a round
 * trip through the Graph mapping (encode, parse again, pack to the same
 * protobuf bytes), and the text writer the gateway answers with must give
 * the bytes jansson's tree gives (uns_gw_write_*). The same bytes are then
 * tried as a $filter and as gzip and deflate bodies; a decoded body must
 * respect its limit. A failed check aborts (not assert: NDEBUG is set), so the
 * fuzzer reports it.
 *
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_gateway_json
 *   build-fuzz/fuzz_gateway_json -max_total_time=60 \
 *     tests/fuzz/corpus/gateway_json
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_encoding.h"
#include "gateway_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DECODED_MAX 4096

static const ProtobufCMessageDescriptor *const bodies[] = {
    &uns__v1__notification__descriptor,
    &uns__v1__subscribe_request__descriptor,
    &uns__v1__update_state_request__descriptor,
};

static uint8_t *
pack(const ProtobufCMessage *m, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(*len + 1);
	if (buf == NULL || protobuf_c_message_pack(m, buf) != *len) {
		abort();
	}
	return buf;
}

/* The writer's text is the tree's dump, or both refuse. */
static void
same_as_writer(const ProtobufCMessage *m)
{
	char *want = NULL;
	uns_json_buf b;
	uns_json_buf_init(&b);
	uns_err tree = uns_json_encode(m, &uns_gw_graph_mapping, 0, &want);
	uns_err text = uns_json_write(m, &uns_gw_graph_mapping, 0, &b);
	if (tree != text || (tree == UNS_OK && strcmp(want, b.data) != 0)) {
		fprintf(stderr, "writer differs:\n%s\n%s\n",
		        want ? want : "(failed)", b.data ? b.data : "(failed)");
		abort();
	}
	free(want);
	uns_json_buf_free(&b);
}

static void
feed_entry_as_writer(Uns__V1__Notification *n)
{
	for (int removed = 0; removed < 3; removed++) {
		Uns__V1__FeedEntry e = UNS__V1__FEED_ENTRY__INIT;
		e.notification = n;
		e.removed = removed;
		uns_jv *v = uns_gw_feed_entry_json(&e);
		char *want = NULL;
		if (v != NULL && uns_jv_dump(v, 0, &want, NULL) != UNS_OK) {
			abort();
		}
		uns_json_buf b;
		uns_json_buf_init(&b);
		uns_err rv = uns_gw_write_feed_entry(&b, &e);
		if ((want == NULL) != (rv != UNS_OK) ||
		    (want != NULL && strcmp(want, b.data) != 0)) {
			abort();
		}
		uns_jv_free(v);
		free(want);
		uns_json_buf_free(&b);
	}
}

static void
round_trip(const ProtobufCMessage *m)
{
	char *text = NULL, why[512];
	ProtobufCMessage *again = NULL;
	size_t a_len, b_len;
	if (uns_json_encode(m, &uns_gw_graph_mapping, 0, &text) != UNS_OK) {
		return; /* e.g. invalid UTF-8 inside a string: refused, fine */
	}
	if (uns_gw_parse_body(m->descriptor, text, strlen(text), &again, why,
	                      sizeof(why)) != UNS_OK) {
		fprintf(stderr, "re-parse failed: %s\n%s\n", why, text);
		abort();
	}
	uint8_t *a = pack(m, &a_len);
	uint8_t *b = pack(again, &b_len);
	if (a_len != b_len || memcmp(a, b, a_len) != 0) {
		fprintf(stderr, "round trip changed the message: %s\n", text);
		abort();
	}
	free(a);
	free(b);
	free(text);
	protobuf_c_message_free_unpacked(again, NULL);
}

static void
try_bodies(const uint8_t *data, size_t size)
{
	char why[512];
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		ProtobufCMessage *m = NULL;
		if (uns_gw_parse_body(bodies[i], (const char *)data, size, &m,
		                      why, sizeof(why)) != UNS_OK) {
			if (m != NULL || why[0] == '\0') {
				abort(); /* failed without a reason */
			}
			continue;
		}
		round_trip(m);
		same_as_writer(m);
		if (bodies[i] == &uns__v1__notification__descriptor) {
			uns_jv_free(uns_gw_notification_json(
			    (const Uns__V1__Notification *)m));
			feed_entry_as_writer((Uns__V1__Notification *)m);
		}
		protobuf_c_message_free_unpacked(m, NULL);
	}
}

static void
try_filter(const uint8_t *data, size_t size)
{
	Uns__V1__HistoryRequest req = UNS__V1__HISTORY_REQUEST__INIT;
	char group[64], why[256];
	char *text = malloc(size + 1);
	if (text == NULL) {
		return;
	}
	memcpy(text, data, size);
	text[size] = '\0';
	if (uns_gw_apply_filter(text, &req, group, sizeof(group), why,
	                        sizeof(why)) == UNS_OK &&
	    req.group_name != protobuf_c_empty_string &&
	    (req.group_name != group || strlen(group) >= sizeof(group))) {
		abort();
	}
	free(text);
}

static void
try_decoding(const uint8_t *data, size_t size)
{
	static const uns_gw_coding codings[] = {UNS_GW_CODING_GZIP,
	                                        UNS_GW_CODING_DEFLATE};
	char why[256];
	for (size_t i = 0; i < 2; i++) {
		char *out = NULL;
		size_t len = 0;
		if (uns_gw_decode_body(codings[i], (const char *)data, size,
		                       DECODED_MAX, &out, &len, why,
		                       sizeof(why)) == UNS_OK) {
			if (len > DECODED_MAX || out[len] != '\0') {
				abort();
			}
			free(out);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	try_bodies(data, size);
	try_filter(data, size);
	try_decoding(data, size);
	return 0;
}
