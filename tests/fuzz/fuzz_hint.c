/*
 * fuzz_hint.c — libFuzzer target for the wake-up hint decoder
 * (uns_hint_decode, server/cluster/hint_wire.c): the bytes another node
 * (or anything that can publish on the NATS subjects) sends this node.
 * A bad hint must be refused without a crash; a good one must encode back
 * to the same bytes and fit the limits the decoder promises.
 *
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_hint
 *   build-fuzz/fuzz_hint -max_total_time=60 tests/fuzz/corpus/hint
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hint_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_hint: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uns_hint_msg m;
	uint8_t again[UNS_HINT_MAX];
	if (uns_hint_decode(data, size, &m) != UNS_OK) {
		return 0;
	}
	size_t ul = strlen(m.user), hl = strlen(m.host);
	must(ul > 0 && ul < UNS_HINT_FIELD_MAX, "user length");
	must(hl > 0 && hl < UNS_HINT_FIELD_MAX, "host length");
	size_t n = uns_hint_encode(m.user, m.host, m.head, m.taps, again,
	                           sizeof(again));
	must(n == size && memcmp(again, data, size) == 0, "round trip");
	return 0;
}
