/*
 * fuzz_b64url.c — libFuzzer target for the one base64url codec
 * (common/b64url.c).
 *
 * Each input is tried both ways. As text: whatever decodes must encode back
 * to exactly the input (one accepted spelling per byte string), decode to
 * uns_b64url_decoded_len bytes, and fail with a cap one byte short. As
 * bytes: the encoding has the promised length, only alphabet characters,
 * and decodes back to the input. A broken promise aborts (not assert:
 * RelWithDebInfo defines NDEBUG).
 *
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_b64url
 *   build-fuzz/fuzz_b64url -max_total_time=60 tests/fuzz/corpus/b64url
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"

#define MAX_IN 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_b64url: %s\n", what);
		abort();
	}
}

static void
as_text(const uint8_t *data, size_t size)
{
	uint8_t raw[MAX_IN];
	char back[UNS_B64URL_LEN(MAX_IN)];
	long n = uns_b64url_decode((const char *)data, size, raw, sizeof(raw));

	if (n < 0) {
		return;
	}
	must((size_t)n == uns_b64url_decoded_len(size), "decoded length");
	must(uns_b64url_encode(raw, (size_t)n, back) == size,
	     "re-encoded length");
	must(memcmp(back, data, size) == 0, "a second spelling decoded");
	must(n == 0 || uns_b64url_decode((const char *)data, size, raw,
	                                 (size_t)n - 1) == -1,
	     "cap not enforced");
}

static void
as_bytes(const uint8_t *data, size_t size)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr"
	                          "stuvwxyz0123456789-_";
	char text[UNS_B64URL_LEN(MAX_IN)];
	uint8_t raw[MAX_IN];
	size_t len = uns_b64url_encode(data, size, text);

	must(len == (4 * size + 2) / 3, "encoded length");
	must(text[len] == '\0' && strspn(text, abc) == len, "alphabet");
	must(uns_b64url_decode(text, len, raw, size) == (long)size,
	     "round trip length");
	must(memcmp(raw, data, size) == 0, "round trip bytes");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_IN) {
		return 0;
	}
	as_text(data, size);
	as_bytes(data, size);
	return 0;
}
