/*
 * fuzz_oauth.c — libFuzzer target for the token endpoint's parsers
 * (server/auth/oauth.c, included here: fuzz targets link only libuns).
 *
 * The input is a form body. A failure must say why and leave the output
 * alone. A success must give four NUL-terminated fields; percent-encoding
 * them again and parsing that must give the same four. The input is also
 * tried as an Authorization header value (Basic credentials) and as an
 * IssueToken status message for the error mapping, which must always
 * name an OAuth2 error.
 *
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_oauth
 *   build-fuzz/fuzz_oauth -max_total_time=60 tests/fuzz/corpus/oauth
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/auth/oauth.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Not assert(): RelWithDebInfo defines NDEBUG, and checks must always run. */
#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "check failed: %s\n", #cond);          \
			abort();                                               \
		}                                                              \
	} while (0)

static size_t
encode(const char *s, char *out)
{
	size_t o = 0;
	for (; *s; s++) {
		o += (size_t)sprintf(out + o, "%%%02X", (unsigned char)*s);
	}
	return o;
}

static void
check_round_trip(const uns_oauth_request *r)
{
	static char body[4 * 3 * UNS_OAUTH_FIELD_MAX + 128];
	size_t n = 0;
	for (size_t i = 0; i < N_FIELDS; i++) {
		const char *v = (const char *)r + fields[i].offset;
		CHECK(memchr(v, '\0', UNS_OAUTH_FIELD_MAX) != NULL);
		n += (size_t)sprintf(body + n, "%s%s=", i ? "&" : "",
		                     fields[i].name);
		n += encode(v, body + n);
	}
	uns_oauth_request again;
	char why[256];
	CHECK(uns_oauth_parse_form(body, n, &again, why, sizeof(why)) ==
	      UNS_OK);
	CHECK(memcmp(&again, r, sizeof(again)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uns_oauth_request r, sentinel;
	char why[256] = "";
	memset(&r, 0xa5, sizeof(r));
	memset(&sentinel, 0xa5, sizeof(sentinel));
	uns_err err = uns_oauth_parse_form((const char *)data, size, &r, why,
	                                   sizeof(why));
	if (err == UNS_OK) {
		/* Unwritten parts of each field are zero, not sentinel. */
		check_round_trip(&r);
	} else {
		CHECK(err == UNS_INVALID_ARGUMENT);
		CHECK(why[0] != '\0');
		CHECK(memcmp(&r, &sentinel, sizeof(r)) == 0);
	}

	char *text = malloc(size + 1);
	CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	uns_oauth_request b;
	memset(&b, 0, sizeof(b));
	if (uns_oauth_parse_basic(text, &b, why, sizeof(why)) == UNS_OK) {
		CHECK(memchr(b.client_id, '\0', sizeof(b.client_id)) != NULL);
		CHECK(memchr(b.client_secret, '\0', sizeof(b.client_secret)) !=
		      NULL);
	}
	for (int code = 0; code <= 16; code++) {
		uns_oauth_error e = uns_oauth_error_of((uns_err)code, text);
		CHECK(e.error != NULL && e.http >= 400 && e.http < 600);
	}
	free(text);
	return 0;
}
