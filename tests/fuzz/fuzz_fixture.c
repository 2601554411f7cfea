/*
 * fuzz_fixture.c — libFuzzer target for the fixture parser and binder:
 * the code that reads a file a tester hands to unsctl replay. Parses the
 * input as a fixture; a parse that fails must say why (with an offset for
 * byte-level faults) and return nothing. An accepted fixture is walked as
 * replay walks it: each exchange's request is built (bindings applied,
 * placeholders "minted" to a constant) and its own expected reply is
 * compared against itself, binding names as replay does (hand-made files
 * may reuse a name at two paths, so differences are allowed, crashes are
 * not); every request that could be built is recorded again through the
 * recorder, which must accept it.
 */
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "fixture_bind.h"

/* Not assert(): RelWithDebInfo defines NDEBUG, and checks must always run. */
#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			abort();                                               \
		}                                                              \
	} while (0)

static uns_err
mint(void *arg, const uns_fixture_token *t, char **jwt, char *why,
     size_t whylen)
{
	(void)arg;
	(void)why;
	(void)whylen;
	CHECK(t->subject[0] != '\0');
	*jwt = strdup("a.b.c");
	return *jwt ? UNS_OK : UNS_ENOMEM;
}

static void
walk(const Uns__V1__Fixture *f)
{
	uns_fixture_binder *b = NULL;
	uns_fixture_recorder *rec = NULL;
	char why[512];
	CHECK(uns_fixture_binder_alloc(&b) == UNS_OK);
	CHECK(uns_fixture_recorder_open(&rec, NULL, "fuzz") == UNS_OK);
	for (size_t i = 0; i < f->n_exchanges; i++) {
		const Uns__V1__FixtureExchange *ex = f->exchanges[i];
		uint8_t *req = NULL, *resp = NULL;
		size_t req_len = 0, resp_len = 0;
		uns_err err = uns_fixture_request(b, ex, mint, NULL, &req,
		                                  &req_len, why, sizeof(why));
		CHECK(err == UNS_OK || why[0] != '\0');
		CHECK(uns_fixture_pack(&ex->expected->base, &resp, &resp_len) ==
		      UNS_OK);
		uns_fixture_binder *fresh = NULL;
		CHECK(uns_fixture_binder_alloc(&fresh) == UNS_OK);
		size_t n =
		    uns_fixture_compare(fresh, ex, resp, resp_len, NULL, NULL);
		(void)n;
		uns_fixture_binder_free(fresh);
		(void)uns_fixture_compare(b, ex, resp, resp_len, NULL, NULL);
		if (err == UNS_OK) {
			CHECK(uns_fixture_recorder_add(rec, req, req_len, resp,
			                               resp_len, NULL,
			                               NULL) == UNS_OK);
		}
		free(req);
		free(resp);
	}
	uns_fixture_binder_free(b);
	uns_fixture_recorder_close(rec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[512] = "";
	Uns__V1__Fixture *f = NULL;
	if (uns_fixture_parse(data, size, &f, why, sizeof(why)) != UNS_OK) {
		CHECK(f == NULL && why[0] != '\0');
		return 0;
	}
	walk(f);
	uns__v1__fixture__free_unpacked(f, NULL);
	return 0;
}
