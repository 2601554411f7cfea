/*
 * fuzz_gateway_url.c — libFuzzer target for the gateway's percent-encoding
 * (server/gateway/gateway_url.c).
 *
 * The input is encoded whole and into every smaller buffer. The encoding
 * must hold only unreserved characters and %XX in upper-case hex, be as
 * long as it says, decode back to the input byte for byte (a reference
 * decoder here), and a cut buffer must hold a NUL-terminated prefix of the
 * whole encoding. The input is also checked as a Host header: one taken
 * must be HOST[:PORT] with only the characters the check promises, and
 * the same input with a byte it refuses appended must be refused. A
 * broken promise aborts.
 *
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_gateway_url
 *   build-fuzz/fuzz_gateway_url -max_total_time=60 \
 *     tests/fuzz/corpus/gateway_url
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

static int
unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* What uns_gw_host_valid promises of a host it takes. */
static void
check_host(const uint8_t *data, size_t size)
{
	char *h = malloc(size + 2);
	if (h == NULL) {
		abort();
	}
	memcpy(h, data, size);
	h[size] = '\0';
	if (memchr(data, '\0', size) == NULL && uns_gw_host_valid(h)) {
		const char *colon = h[0] == '[' ? strchr(h, ']') : h;
		colon = colon ? strchr(colon, ':') : NULL;
		if (size == 0 || size > 253 + 2 + 6 ||
		    strspn(
		        h,
		        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		        "0123456789-._~[]:") != size ||
		    (colon && (colon[1] == '\0' ||
		               strtoul(colon + 1, NULL, 10) > 65535))) {
			abort();
		}
		h[size] = '/';
		h[size + 1] = '\0';
		if (uns_gw_host_valid(h)) {
			abort();
		}
	}
	free(h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap = size * 3 + 1, n, o = 0;
	char *out = malloc(cap), *cut = malloc(cap);

	if (out == NULL || cut == NULL) {
		abort();
	}
	n = uns_gw_url_encode((const char *)data, size, out, cap);
	if (n >= cap || strlen(out) != n) {
		abort();
	}
	for (size_t i = 0; i < n; o++) {
		if (o >= size) {
			abort();
		}
		if (out[i] == '%') {
			/* out is NUL-terminated: a cut escape ends in -1 */
			int hi = hexval(out[i + 1]);
			int lo = hi >= 0 ? hexval(out[i + 2]) : -1;
			if (lo < 0 || unreserved(data[o]) ||
			    (unsigned char)(hi << 4 | lo) != data[o]) {
				abort();
			}
			i += 3;
		} else if (!unreserved((unsigned char)out[i]) ||
		           out[i] != (char)data[o]) {
			abort();
		} else {
			i++;
		}
	}
	if (o != size) {
		abort();
	}
	for (size_t c = 0; c <= n && c < 64; c++) {
		if (uns_gw_url_encode((const char *)data, size, cut, c) != n ||
		    (c > 0 &&
		     (strlen(cut) != c - 1 || memcmp(cut, out, c - 1) != 0))) {
			abort();
		}
	}
	free(out);
	free(cut);
	check_host(data, size);
	return 0;
}
