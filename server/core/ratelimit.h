/*
 * ratelimit.h — token buckets keyed by a string (an app id, a user id),
 * for the gateway's 429 answers (SPEC §3: "Throttling answers 429 with
 * Retry-After").
 *
 * Each key has a bucket of `burst` tokens refilled at `rate` tokens per
 * second; a request takes one token or is refused with the time until one
 * is there. rate 0 turns the limiter off (every take succeeds). Time comes
 * from an injectable monotonic clock, so tests step it by hand.
 *
 * Memory: at most max_keys buckets. A bucket that has refilled to full is
 * the same as no bucket, so when the table is full such buckets are swept
 * out; if every bucket is still in use the request is let through (the
 * limiter fails open rather than refusing keys it cannot track) and
 * counted in uns_ratelimit_untracked.
 *
 * Thread-safe: one mutex around the table; a take is a hash lookup and a
 * little arithmetic.
 */
#ifndef UNS_RATELIMIT_H
#define UNS_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"

typedef struct uns_ratelimit uns_ratelimit;

typedef struct uns_ratelimit_config {
	uint32_t rate;                /* tokens per per_s; 0 = no limit */
	uint32_t per_s;               /* seconds rate counts over; 0 = 1 */
	uint32_t burst;               /* bucket size; 0 = rate */
	size_t max_keys;              /* buckets kept; 0 = 100000 */
	int64_t (*now_us)(void *arg); /* monotonic µs; NULL = CLOCK_MONOTONIC */
	void *now_arg;
} uns_ratelimit_config;

/* UNS_ENOMEM. */
uns_err uns_ratelimit_open(uns_ratelimit **out,
                           const uns_ratelimit_config *cfg);
/* NULL is fine. */
void uns_ratelimit_close(uns_ratelimit *rl);

/*
 * Takes one token from key's bucket: 1 when granted; 0 when refused, with
 * *retry_after_ms (if not NULL) the wait until a token is there (≥ 1). A
 * NULL limiter or rate 0 always grants.
 */
int uns_ratelimit_take(uns_ratelimit *rl, const char *key,
                       uint32_t *retry_after_ms);
/* The same answer without taking the token: for limits that charge only
 * what failed (the token endpoint's wrong secrets), asked before the work
 * and charged with uns_ratelimit_take after it. */
int uns_ratelimit_peek(uns_ratelimit *rl, const char *key,
                       uint32_t *retry_after_ms);

/*
 * Takes n tokens at once (n = 0 as 1; more than the burst takes the whole
 * bucket): one request of a node that enforces 1/n of a rate shared by n
 * nodes, so the bucket refills n times slower and holds n times fewer.
 */
int uns_ratelimit_take_n(uns_ratelimit *rl, const char *key, uint32_t n,
                         uint32_t *retry_after_ms);

/* Buckets held now, and requests let through untracked (table full). */
size_t uns_ratelimit_keys(uns_ratelimit *rl);
uint64_t uns_ratelimit_untracked(uns_ratelimit *rl);

#endif /* UNS_RATELIMIT_H */
