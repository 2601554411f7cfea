/*
 * fuzz_envelope.c — libFuzzer target for the RPC envelope decoders, the
 * first code every byte from the network reaches. Decodes the input as a
 * request and as a response envelope. An accepted request must satisfy the
 * envelope contract; re-packed, it must decode to the same method and
 * payload when it decodes at all (protobuf-c 1.4.1 re-emits some unknown
 * fields nested in sub-messages as bytes it cannot parse again; the server
 * never re-packs a request, so that is not ours to assert).
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"

/* Not CHECK(): RelWithDebInfo defines NDEBUG, and checks must always run. */
#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			abort();                                               \
		}                                                              \
	} while (0)
#include "envelope.h"

static void
check_request(const uint8_t *data, size_t size)
{
	char why[256];
	uns_arena a;
	Uns__V1__RequestEnvelope *env = NULL;
	uns_arena_init(&a, 64u << 20);
	if (uns_request_decode(data, size, &a.pb, &env, why, sizeof(why)) ==
	    UNS_OK) {
		size_t n = uns__v1__request_envelope__get_packed_size(env);
		uint8_t *buf = malloc(n ? n : 1);
		uns__v1__request_envelope__pack(env, buf);
		Uns__V1__RequestEnvelope *again = NULL;
		CHECK(env->method[0] == '/');
		CHECK(strlen(env->method) <= UNS_MAX_METHOD_LEN);
		CHECK(env->timeout_ms <= UNS_MAX_TIMEOUT_MS);
		CHECK(env->n_metadata <= UNS_MAX_METADATA);
		(void)uns_request_metadata(env, UNS_MD_AUTHORIZATION);
		if (uns_request_decode(buf, n, NULL, &again, why,
		                       sizeof(why)) == UNS_OK) {
			CHECK(strcmp(again->method, env->method) == 0);
			CHECK(again->payload.len == env->payload.len);
			uns__v1__request_envelope__free_unpacked(again, NULL);
		}
		free(buf);
	} else {
		CHECK(env == NULL && why[0] != '\0');
	}
	uns_arena_fini(&a);
}

static void
check_response(const uint8_t *data, size_t size)
{
	char why[256];
	Uns__V1__ResponseEnvelope *env = NULL;
	if (uns_response_decode(data, size, NULL, &env, why, sizeof(why)) ==
	    UNS_OK) {
		CHECK(env->code >= 0 && env->code <= 16);
		uns__v1__response_envelope__free_unpacked(env, NULL);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_request(data, size);
	check_response(data, size);
	return 0;
}
