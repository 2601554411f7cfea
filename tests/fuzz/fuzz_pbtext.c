/*
 * fuzz_pbtext.c — libFuzzer target for the RPC border's text check
 * (common/pbtext.c): the walk over packed bytes beside the descriptors
 * that refuses invalid UTF-8 and NUL in any string field.
 *
 * The first byte picks a method of the service; the rest is that method's
 * request payload. The walk must never read outside the input (ASan) and
 * must agree with protobuf-c: when the payload unpacks and the walk passes,
 * every string of the unpacked message (at any depth) is well-formed UTF-8;
 * when the walk refuses, the field it names is non-empty and the reason
 * says UTF-8 or NUL. The envelope decoder (which runs the same walk on the
 * envelope) gets the same bytes. A broken promise aborts.
 *
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_pbtext
 *   build-fuzz/fuzz_pbtext -max_total_time=60 tests/fuzz/corpus/pbtext
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "pbtext.h"
#include "uns_methods.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_pbtext: %s\n", what);
		abort();
	}
}

static int
utf8_ok(const char *s)
{
	size_t n = strlen(s), k;
	for (size_t i = 0; i < n; i += k) {
		k = uns_utf8_len((const unsigned char *)s + i, n - i);
		if (k == 0) {
			return 0;
		}
	}
	return 1;
}

/* Every string below m is UTF-8. */
static void
check_strings(const ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	must(depth < 40, "nesting");
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		const char *at = (const char *)m + fd->offset;
		size_t n = 1;
		if (fd->type != PROTOBUF_C_TYPE_STRING &&
		    fd->type != PROTOBUF_C_TYPE_MESSAGE) {
			continue;
		}
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)((const char *)m +
			                      fd->quantifier_offset);
			at = *(char *const *)at;
		}
		for (size_t k = 0; k < n; k++) {
			void *v = ((void *const *)at)[k];
			if (v == NULL) {
				continue;
			}
			if (fd->type == PROTOBUF_C_TYPE_STRING) {
				must(utf8_ok(v),
				     "a passed string is not UTF-8");
			} else {
				check_strings(v, depth + 1);
			}
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uns_service_desc *svc = &uns_notifications_service;
	char field[256], why[128];
	if (size == 0) {
		return 0;
	}
	const uns_method *m = &svc->methods[data[0] % svc->n_methods];
	const ProtobufCMessageDescriptor *d =
	    data[0] & 0x80 ? m->output : m->input;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	uns_err err = uns_pb_check_text(d, p, n, "x", UNS_PB_NAMES_CAMEL, field,
	                                sizeof(field), why, sizeof(why));
	must(err == UNS_OK || err == UNS_INVALID_ARGUMENT, "error code");
	if (err != UNS_OK) {
		must(strncmp(field, "x.", 2) == 0 && field[2] != '\0',
		     "a refusal names no field");
		must(strstr(why, "UTF-8") || strstr(why, "NUL"),
		     "a refusal says neither UTF-8 nor NUL");
	} else {
		ProtobufCMessage *msg =
		    protobuf_c_message_unpack(d, NULL, n, p);
		if (msg) {
			check_strings(msg, 0);
			protobuf_c_message_free_unpacked(msg, NULL);
		}
	}
	Uns__V1__RequestEnvelope *env = NULL;
	if (uns_request_decode(data, size, NULL, &env, why, sizeof(why)) ==
	    UNS_OK) {
		must(utf8_ok(env->method) && utf8_ok(env->request_id),
		     "an accepted envelope has bad text");
		uns__v1__request_envelope__free_unpacked(env, NULL);
	}
	return 0;
}
