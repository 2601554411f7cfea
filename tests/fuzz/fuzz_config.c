/*
 * fuzz_config.c — libFuzzer target for unsd's configuration parser
 * (server/core/config.c, included here: fuzz targets link only libuns, and this
 * way the checks can walk the parser's own key table).
 *
 * Parses the input over the defaults. A failure must say why. A success
 * must leave every field within its row's range (strings terminated and of
 * an allowed length, URLs well-formed, lists within capacity) and pass the
 * cross-key check; written back with uns_config_write and parsed again
 * over the defaults, it must give the same struct byte for byte. The input
 * is also tried as one "key=value" override for uns_config_set, which must
 * leave the struct alone when it fails.
 *
 *   CC=clang cmake -S . -B build-config-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-config-fuzz --target fuzz_config
 *   build-config-fuzz/fuzz_config -max_total_time=60 tests/fuzz/corpus/config
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/core/config.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Not assert(): RelWithDebInfo defines NDEBUG, and checks must always run. */
#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "check failed: %s\n", #cond);          \
			abort();                                               \
		}                                                              \
	} while (0)

static void
check_string(const cfg_key *k, const char *s)
{
	const char *nul = memchr(s, '\0', UNS_CONFIG_STR_MAX);
	int64_t len;

	CHECK(nul != NULL);
	len = nul - s;
	CHECK(len >= k->min && len <= k->max);
	for (int64_t i = 0; i < len; i++) {
		CHECK(!is_control((unsigned char)s[i]));
	}
	CHECK(k->kind != CFG_URL || is_url(s));
}

static void
check_key(const cfg_key *k, const uns_config *c)
{
	const void *f = cfield_of(c, k);

	switch (k->kind) {
	case CFG_STRING:
	case CFG_PATH:
	case CFG_URL:
		check_string(k, f);
		break;
	case CFG_PATH_LIST: {
		const uns_config_list *l = f;
		CHECK(l->n >= 0 && l->n <= UNS_CONFIG_LIST_MAX);
		for (int i = 0; i < l->n; i++) {
			check_string(k, l->v[i]);
		}
		break;
	}
	case CFG_BOOL:
		CHECK(*(const int *)f == 0 || *(const int *)f == 1);
		break;
	case CFG_INT:
		CHECK(*(const int *)f >= k->min && *(const int *)f <= k->max);
		break;
	case CFG_SIZE:
		CHECK(*(const uint64_t *)f >= (uint64_t)k->min &&
		      *(const uint64_t *)f <= (uint64_t)k->max);
		break;
	case CFG_DURATION_US:
	case CFG_DURATION_MS:
	case CFG_DURATION_S:
		CHECK(*(const int64_t *)f >= k->min &&
		      *(const int64_t *)f <= k->max);
		break;
	}
}

/* c written out and parsed over the defaults gives c again. */
static void
check_round_trip(const uns_config *c)
{
	static uns_config back;
	char why[MSGMAX], *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CHECK(f != NULL);
	uns_config_write(f, c);
	CHECK(fclose(f) == 0);
	uns_config_defaults(&back);
	if (uns_config_parse(&back, text, len, why, sizeof(why)) != UNS_OK) {
		fprintf(stderr, "re-parse failed: %s\n%s", why, text);
		abort();
	}
	CHECK(memcmp(&back, c, sizeof(back)) == 0);
	free(text);
}

/* The input as "key=value" for uns_config_set. */
static void
check_set(const uint8_t *data, size_t size, const uns_config *c)
{
	static uns_config before, after;
	char *arg = malloc(size + 1), *eq, why[MSGMAX] = "";

	CHECK(arg != NULL);
	memcpy(arg, data, size);
	arg[size] = '\0';
	if ((eq = strchr(arg, '=')) != NULL) {
		*eq = '\0';
		memcpy(&before, c, sizeof(before));
		memcpy(&after, c, sizeof(after));
		if (uns_config_set(&after, arg, eq + 1, why, sizeof(why)) ==
		    UNS_OK) {
			for (size_t i = 0; i < N_KEYS; i++) {
				check_key(&keys[i], &after);
			}
		} else {
			CHECK(why[0] != '\0');
			CHECK(memcmp(&after, &before, sizeof(after)) == 0);
		}
	}
	free(arg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uns_config c;
	char why[MSGMAX] = "";

	uns_config_defaults(&c);
	if (uns_config_parse(&c, (const char *)data, size, why, sizeof(why)) !=
	    UNS_OK) {
		CHECK(why[0] != '\0');
		check_set(data, size, &c);
		return 0;
	}
	for (size_t i = 0; i < N_KEYS; i++) {
		check_key(&keys[i], &c);
	}
	CHECK(uns_config_check(&c, why, sizeof(why)) == UNS_OK);
	check_round_trip(&c);
	check_set(data, size, &c);
	return 0;
}
