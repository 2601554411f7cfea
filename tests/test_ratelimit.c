/*
 * test_ratelimit.c — token buckets with an injected clock: burst then
 * refusal, Retry-After arithmetic, refill at the rate and never above the
 * burst, keys independent, rate 0 off, the key cap sweeping full buckets
 * and failing open, a clock that stands still or jumps far; a node's share
 * of limits split across n nodes (a take of n tokens, a caps acquire under
 * a lower cap).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "caps.h"
#include "ratelimit.h"

static int64_t now_us;

static int64_t
clock_us(void *arg)
{
	(void)arg;
	return now_us;
}

static uns_ratelimit *
limiter(uint32_t rate, uint32_t burst, size_t max_keys)
{
	uns_ratelimit *rl = NULL;
	uns_ratelimit_config c = {.rate = rate,
	                          .burst = burst,
	                          .max_keys = max_keys,
	                          .now_us = clock_us};
	assert_int_equal(uns_ratelimit_open(&rl, &c), UNS_OK);
	return rl;
}

static void
test_burst_then_refuse_with_retry_after(void **state)
{
	(void)state;
	now_us = 1000000;
	uns_ratelimit *rl = limiter(10, 3, 0); /* 10/s: one per 100 ms */
	uint32_t retry = 0;
	for (int i = 0; i < 3; i++) {
		assert_true(uns_ratelimit_take(rl, "app-a", &retry));
	}
	assert_false(uns_ratelimit_take(rl, "app-a", &retry));
	assert_int_equal(retry, 100);
	now_us += 40000; /* 40 ms: 0.4 token there, 60 ms to go */
	assert_false(uns_ratelimit_take(rl, "app-a", &retry));
	assert_int_equal(retry, 60);
	now_us += 60000;
	assert_true(uns_ratelimit_take(rl, "app-a", &retry));
	assert_false(uns_ratelimit_take(rl, "app-a", &retry));
	uns_ratelimit_close(rl);
}

static void
test_refill_is_capped_at_burst(void **state)
{
	(void)state;
	now_us = 5;
	uns_ratelimit *rl = limiter(100, 5, 0);
	for (int i = 0; i < 5; i++) {
		assert_true(uns_ratelimit_take(rl, "u", NULL));
	}
	assert_false(uns_ratelimit_take(rl, "u", NULL));
	now_us += 3600LL * 1000000; /* an hour: full, not 360000 tokens */
	int granted = 0;
	while (uns_ratelimit_take(rl, "u", NULL)) {
		granted++;
	}
	assert_int_equal(granted, 5);
	/* A clock that stands still refills nothing. */
	assert_false(uns_ratelimit_take(rl, "u", NULL));
	/* Steady state: exactly the rate over a second of 10 ms steps. */
	granted = 0;
	for (int i = 0; i < 100; i++) {
		now_us += 10000;
		granted += uns_ratelimit_take(rl, "u", NULL);
		granted += uns_ratelimit_take(rl, "u", NULL);
	}
	assert_int_equal(granted, 100);
	uns_ratelimit_close(rl);
}

static void
test_keys_are_independent(void **state)
{
	(void)state;
	now_us = 0;
	uns_ratelimit *rl = limiter(1, 1, 0);
	assert_true(uns_ratelimit_take(rl, "alice", NULL));
	assert_false(uns_ratelimit_take(rl, "alice", NULL));
	assert_true(uns_ratelimit_take(rl, "bob", NULL));
	assert_int_equal(uns_ratelimit_keys(rl), 2);
	uint32_t retry = 0;
	assert_false(uns_ratelimit_take(rl, "alice", &retry));
	assert_int_equal(retry, 1000);
	uns_ratelimit_close(rl);
}

static void
test_rate_zero_is_off(void **state)
{
	(void)state;
	uns_ratelimit *rl = limiter(0, 5, 0);
	for (int i = 0; i < 1000; i++) {
		assert_true(uns_ratelimit_take(rl, "x", NULL));
	}
	assert_int_equal(uns_ratelimit_keys(rl), 0);
	uns_ratelimit_close(rl);
	assert_true(uns_ratelimit_take(NULL, "x", NULL));
}

static void
test_burst_zero_means_rate(void **state)
{
	(void)state;
	now_us = 0;
	uns_ratelimit *rl = limiter(4, 0, 0);
	int granted = 0;
	while (uns_ratelimit_take(rl, "k", NULL)) {
		granted++;
	}
	assert_int_equal(granted, 4);
	uns_ratelimit_close(rl);
}

static void
test_key_cap_sweeps_then_fails_open(void **state)
{
	(void)state;
	now_us = 0;
	uns_ratelimit *rl = limiter(1, 2, 2);
	assert_true(uns_ratelimit_take(rl, "a", NULL));
	assert_true(uns_ratelimit_take(rl, "b", NULL));
	/* Both buckets in use: c cannot be tracked and is let through. */
	assert_true(uns_ratelimit_take(rl, "c", NULL));
	assert_true(uns_ratelimit_take(rl, "c", NULL));
	assert_true(uns_ratelimit_take(rl, "c", NULL));
	assert_int_equal(uns_ratelimit_untracked(rl), 3);
	assert_int_equal(uns_ratelimit_keys(rl), 2);
	/* A second later a and b are full again, swept; c gets a bucket. */
	now_us += 1000000;
	assert_true(uns_ratelimit_take(rl, "c", NULL));
	assert_true(uns_ratelimit_take(rl, "c", NULL));
	assert_false(uns_ratelimit_take(rl, "c", NULL));
	assert_int_equal(uns_ratelimit_keys(rl), 1);
	uns_ratelimit_close(rl);
}

static void
test_many_keys_and_high_rate(void **state)
{
	(void)state;
	now_us = 0;
	uns_ratelimit *rl = limiter(1000000, 1, 0);
	char key[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "user-%d", i);
		assert_true(uns_ratelimit_take(rl, key, NULL));
		assert_false(uns_ratelimit_take(rl, key, NULL));
	}
	assert_int_equal(uns_ratelimit_keys(rl), 20000);
	now_us += 1; /* one µs is one token at 1e6/s */
	assert_true(uns_ratelimit_take(rl, "user-7", NULL));
	uns_ratelimit_close(rl);
}

/* One node of 4 sharing 40/s with a burst of 80: each request takes 4
 * tokens, so this node grants 20 at once and then 10/s; a take above the
 * burst takes the whole bucket (never refused forever). Caps: 32 split over
 * 4 nodes is 8 here; the lower cap never raises the table's. */
static void
test_split_across_nodes(void **state)
{
	(void)state;
	now_us = 0;
	uns_ratelimit *rl = limiter(40, 80, 0);
	uint32_t retry = 0;
	int granted = 0;
	for (int i = 0; i < 100; i++) {
		granted += uns_ratelimit_take_n(rl, "u", 4, &retry);
	}
	assert_int_equal(granted, 20);
	assert_int_equal(retry, 100); /* 4 tokens at 40/s */
	now_us += 100000;
	assert_true(uns_ratelimit_take_n(rl, "u", 4, &retry));
	assert_false(uns_ratelimit_take_n(rl, "u", 4, &retry));
	now_us += 3600LL * 1000000;
	assert_true(uns_ratelimit_take_n(rl, "u", 1000, &retry));
	assert_false(uns_ratelimit_take_n(rl, "u", 1000, &retry));
	uns_ratelimit_close(rl);

	uns_caps *c = NULL;
	assert_int_equal(uns_caps_open(&c, 32), UNS_OK);
	for (int i = 0; i < 8; i++) {
		assert_true(uns_caps_acquire_max(c, "u", 8));
	}
	assert_false(uns_caps_acquire_max(c, "u", 8));
	assert_true(uns_caps_acquire_max(c, "u", 100)); /* = the table's */
	assert_int_equal(uns_caps_held(c, "u"), 9);
	for (int i = 0; i < 9; i++) {
		uns_caps_release(c, "u");
	}
	assert_int_equal(uns_caps_keys(c), 0);
	uns_caps_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_refuse_with_retry_after),
	    cmocka_unit_test(test_refill_is_capped_at_burst),
	    cmocka_unit_test(test_keys_are_independent),
	    cmocka_unit_test(test_rate_zero_is_off),
	    cmocka_unit_test(test_burst_zero_means_rate),
	    cmocka_unit_test(test_key_cap_sweeps_then_fails_open),
	    cmocka_unit_test(test_many_keys_and_high_rate),
	    cmocka_unit_test(test_split_across_nodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
