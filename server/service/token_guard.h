/*
 * token_guard.h — what keeps the token endpoint's secret checks from
 * starving the server. Each check is a PBKDF2 of 100,000 rounds (about
 * 45 ms of CPU on a quiet core, 180 ms on a loaded one), so a flood of
 * wrong secrets would otherwise take every core the workers can reach.
 *
 * Two limits, both before any hashing:
 *  - wrong secrets per client id: a bucket of `fail_burst` failures that
 *    refills `fail_per_minute` a minute (ratelimit.h, charged only when a
 *    check fails). An empty bucket refuses the client id at once,
 *    RESOURCE_EXHAUSTED "retry after N s", the right secret included:
 *    the limit cannot tell who is sending it.
 *  - checks at once: at most `checks` secret checks run at a time, and at
 *    most one per client id, so a flood under one id holds one slot and
 *    the other apps share the rest. A request waits up to `wait_ms` for a
 *    slot, then is refused the same way (retry after 1 s).
 * Rejected: a cache of verified (client, secret) pairs (it needs the
 * reload of apps.conf to reach it, and the limits alone bound the CPU).
 */
#ifndef UNS_TOKEN_GUARD_H
#define UNS_TOKEN_GUARD_H

#include <stdint.h>

#include "uns/uns.h"

typedef struct uns_token_guard uns_token_guard;

typedef struct uns_token_guard_config {
	uint32_t fail_burst;          /* wrong secrets in a row; 0 = no limit */
	uint32_t fail_per_minute;     /* refill; 0 = fail_burst */
	uint32_t checks;              /* at once, all clients; 0 = no bound */
	uint32_t wait_ms;             /* for a slot before refusing */
	int64_t (*now_us)(void *arg); /* monotonic; NULL = real (tests) */
	void *now_arg;
} uns_token_guard_config;

/* The defaults (docs/unsd.conf.example has the same). */
void uns_token_guard_defaults(uns_token_guard_config *c);

uns_err uns_token_guard_open(uns_token_guard **out,
                             const uns_token_guard_config *cfg);
void uns_token_guard_close(uns_token_guard *g);

/*
 * Admits a secret check for client_id: UNS_OK with a slot held (give it
 * back with uns_token_guard_leave), or UNS_RESOURCE_EXHAUSTED with
 * *retry_after_s (≥ 1) when the client id has failed too often or no slot
 * came within wait_ms. NULL g admits everything.
 */
uns_err uns_token_guard_enter(uns_token_guard *g, const char *client_id,
                              uint32_t *retry_after_s);
/* Gives the slot back; a failed check (ok = 0) is charged to client_id. */
void uns_token_guard_leave(uns_token_guard *g, const char *client_id, int ok);

#endif /* UNS_TOKEN_GUARD_H */
