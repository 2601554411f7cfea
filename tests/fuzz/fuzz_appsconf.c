/*
 * fuzz_appsconf.c — libFuzzer target for the apps.conf line parser
 * (common/appsconf.c), the secret hash parser behind it
 * (common/crypto/secret_hash.c) and the command-line duration parser
 * (common/cli_opts.c).
 *
 * A line that parses must name an id and 1..16 hosts within their limits;
 * written back and parsed again it must give the same fields. A malformed
 * line must say why. A hash that uns_secret_hash_check accepts is tried
 * against a secret (a bounded iteration count keeps runs fast: counts over
 * 1000 are cut from the input first). A duration that parses is within
 * 100 years.
 *
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_appsconf
 *   build-fuzz/fuzz_appsconf -max_total_time=60 tests/fuzz/corpus/appsconf
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appsconf.h"
#include "cli_opts.h"
#include "crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "check failed: %s\n", #cond);          \
			abort();                                               \
		}                                                              \
	} while (0)

static void
check_line(const char *text)
{
	char *line = strdup(text), *again = NULL, why[256] = "";
	size_t len = 0;
	uns_app_line a, b;
	int rc = uns_app_line_parse(line, &a, why, sizeof(why));

	CHECK(rc >= -1 && rc <= 1);
	CHECK(rc != -1 || why[0] != '\0');
	if (rc == 1) {
		CHECK(a.id != NULL && strlen(a.id) <= UNS_APP_ID_MAX);
		CHECK(a.n_hosts >= 1 && a.n_hosts <= UNS_APP_MAX_HOSTS);
		FILE *f = open_memstream(&again, &len);
		CHECK(uns_app_line_write(f, &a) == 0);
		fclose(f);
		CHECK(uns_app_line_parse(again, &b, why, sizeof(why)) == 1);
		CHECK(strcmp(a.id, b.id) == 0 && a.n_hosts == b.n_hosts);
		CHECK(strcmp(a.hash, b.hash) == 0);
		CHECK((a.old_hash == NULL) == (b.old_hash == NULL));
		CHECK(a.old_hash == NULL || a.old_until == b.old_until);
		free(again);
	}
	free(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	int64_t s;

	memcpy(text, data, size);
	text[size] = '\0';
	check_line(text);
	if (uns_duration_parse(text, 1, &s) == 0) {
		CHECK(s >= -100LL * 365 * 86400 && s <= 100LL * 365 * 86400);
	}
	if (uns_secret_hash_check(text) == UNS_OK &&
	    (strncmp(text, "pbkdf2-sha256$", 14) != 0 ||
	     strtoul(text + 14, NULL, 10) <= 1000)) {
		(void)uns_secret_verify(text, "fuzz-secret-0123456789");
	}
	free(text);
	return 0;
}
