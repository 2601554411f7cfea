/*
 * test_token_cache.c — the verified-token cache on its own: hits give back
 * the claims, only the exact token hits, exp and nbf are honoured with the
 * skew, clear forgets, the size stays bounded and the most recent tokens
 * survive eviction, and many threads at once. The cache inside the RPC
 * path (forged signatures, reload, expiry) is in test_service.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "token_cache.h"

#define NOW 1764000000LL

static uns_jwt_claims
claims_for(const char *sub, int64_t exp, int64_t nbf)
{
	uns_jwt_claims c;
	memset(&c, 0, sizeof(c));
	snprintf(c.sub, sizeof(c.sub), "%s", sub);
	snprintf(c.host, sizeof(c.host), "a.example.com");
	snprintf(c.scopes, sizeof(c.scopes), "Notifications.ReadWrite");
	snprintf(c.iss, sizeof(c.iss), "issuer");
	c.exp = exp;
	c.nbf = nbf;
	c.iat = NOW - 10;
	return c;
}

static bool
get(uns_token_cache *c, const char *tok, int64_t now, uns_jwt_claims *out)
{
	return uns_token_cache_get(c, tok, strlen(tok), now, 60, out);
}

static void
put(uns_token_cache *c, const char *tok, const uns_jwt_claims *cl)
{
	uns_token_cache_put(c, tok, strlen(tok), cl);
}

static void
test_hit_returns_claims(void **state)
{
	(void)state;
	uns_token_cache *c = NULL;
	uns_jwt_claims in = claims_for("alice", NOW + 3600, 0), out;
	assert_int_equal(uns_token_cache_alloc(&c, 16), UNS_OK);
	assert_false(get(c, "h.p.s", NOW, &out));
	put(c, "h.p.s", &in);
	memset(&out, 'x', sizeof(out));
	assert_true(get(c, "h.p.s", NOW, &out));
	assert_string_equal(out.sub, "alice");
	assert_string_equal(out.app_id, "");
	assert_string_equal(out.host, "a.example.com");
	assert_string_equal(out.scopes, "Notifications.ReadWrite");
	assert_string_equal(out.iss, "");
	assert_string_equal(out.aud, "");
	assert_int_equal(out.exp, NOW + 3600);
	assert_int_equal(out.iat, NOW - 10);
	/* Only the whole token matches: a prefix, an extension or one other
	 * byte (another signature) misses. */
	assert_false(get(c, "h.p.", NOW, &out));
	assert_false(get(c, "h.p.sx", NOW, &out));
	assert_false(get(c, "h.p.t", NOW, &out));
	assert_false(uns_token_cache_get(c, "h.p.s", 4, NOW, 60, &out));
	assert_int_equal(uns_token_cache_count(c), 1);
	uns_token_cache_free(c);
}

static void
test_exp_and_nbf_with_skew(void **state)
{
	(void)state;
	uns_token_cache *c = NULL;
	uns_jwt_claims out, a = claims_for("a", NOW + 100, 0),
	                    b = claims_for("b", NOW + 3600, NOW + 500);
	assert_int_equal(uns_token_cache_alloc(&c, 16), UNS_OK);
	put(c, "tok-a", &a);
	put(c, "tok-b", &b);
	/* exp + skew is the last good second, as in uns_jwt_verify. */
	assert_true(get(c, "tok-a", NOW + 160, &out));
	assert_false(get(c, "tok-a", NOW + 161, &out));
	/* An expired token is dropped, not just refused. */
	assert_int_equal(uns_token_cache_count(c), 1);
	assert_false(get(c, "tok-a", NOW, &out));
	/* nbf - skew is the first good second. */
	assert_false(get(c, "tok-b", NOW + 439, &out));
	assert_true(get(c, "tok-b", NOW + 440, &out));
	/* A negative skew means the default, 60. */
	assert_true(uns_token_cache_get(c, "tok-b", 5, NOW + 440, -1, &out));
	assert_false(uns_token_cache_get(c, "tok-b", 5, NOW + 440, 0, &out));
	uns_token_cache_free(c);
}

static void
test_clear_and_off(void **state)
{
	(void)state;
	uns_token_cache *c = NULL, *off = NULL;
	uns_jwt_claims out, in = claims_for("a", NOW + 100, 0);
	assert_int_equal(uns_token_cache_alloc(&c, 16), UNS_OK);
	put(c, "t1", &in);
	put(c, "t2", &in);
	assert_int_equal(uns_token_cache_count(c), 2);
	uns_token_cache_clear(c);
	assert_int_equal(uns_token_cache_count(c), 0);
	assert_false(get(c, "t1", NOW, &out));
	uns_token_cache_free(c);

	assert_int_equal(uns_token_cache_alloc(&off, 0), UNS_OK);
	put(off, "t1", &in);
	assert_false(get(off, "t1", NOW, &out));
	assert_int_equal(uns_token_cache_count(off), 0);
	uns_token_cache_free(off);
	/* A token over the limit is never kept. */
	size_t big = UNS_TOKEN_CACHE_MAX_TOKEN + 1;
	char *tok = malloc(big + 1);
	memset(tok, 'a', big);
	tok[big] = '\0';
	assert_int_equal(uns_token_cache_alloc(&c, 16), UNS_OK);
	put(c, tok, &in);
	assert_false(get(c, tok, NOW, &out));
	uns_token_cache_free(c);
	free(tok);
}

static void
test_bounded_and_recent_survive(void **state)
{
	(void)state;
	uns_token_cache *c = NULL;
	uns_jwt_claims out, in = claims_for("a", NOW + 100, 0);
	char tok[32];
	assert_int_equal(uns_token_cache_alloc(&c, 8), UNS_OK);
	put(c, "keep-me", &in);
	for (int i = 0; i < 1000; i++) {
		snprintf(tok, sizeof(tok), "token-%d", i);
		put(c, tok, &in);
		/* A token in use stays: a hit makes it the most recent of
		 * its set. */
		assert_true(get(c, "keep-me", NOW, &out));
		assert_true(uns_token_cache_count(c) <= 8);
	}
	/* The last token put is there. */
	assert_true(get(c, "token-999", NOW, &out));
	/* Putting a cached token again replaces it, not a second entry. */
	size_t n = uns_token_cache_count(c);
	put(c, "keep-me", &in);
	assert_int_equal(uns_token_cache_count(c), n);
	uns_token_cache_free(c);
}

typedef struct worker_arg {
	uns_token_cache *c;
	int id;
	int failures;
} worker_arg;

static void *
worker(void *p)
{
	worker_arg *w = p;
	char tok[64], want[32];
	uns_jwt_claims out;
	for (int i = 0; i < 20000; i++) {
		int k = (w->id * 7 + i) % 200;
		snprintf(tok, sizeof(tok), "tok-%d", k);
		snprintf(want, sizeof(want), "user-%d", k);
		uns_jwt_claims in = claims_for(want, NOW + 100, 0);
		if (!get(w->c, tok, NOW, &out)) {
			put(w->c, tok, &in);
		} else if (strcmp(out.sub, want) != 0) {
			w->failures++;
		}
		if (i % 5000 == 4999 && w->id == 0) {
			uns_token_cache_clear(w->c);
		}
	}
	return NULL;
}

static void
test_threads(void **state)
{
	(void)state;
	uns_token_cache *c = NULL;
	pthread_t t[4];
	worker_arg a[4];
	assert_int_equal(uns_token_cache_alloc(&c, 64), UNS_OK);
	for (int i = 0; i < 4; i++) {
		a[i] = (worker_arg){.c = c, .id = i};
		pthread_create(&t[i], NULL, worker, &a[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].failures, 0);
	}
	assert_true(uns_token_cache_count(c) <= 64);
	uns_token_cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hit_returns_claims),
	    cmocka_unit_test(test_exp_and_nbf_with_skew),
	    cmocka_unit_test(test_clear_and_off),
	    cmocka_unit_test(test_bounded_and_recent_survive),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
