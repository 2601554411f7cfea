/*
 * token_guard.h — what keeps the token endpoint's secret checks from
 * starving the server, and a guesser from guessing for long. Each check
 * is a PBKDF2 of 100,000 rounds (about 45 ms of CPU on a quiet core, 180
 * ms on a loaded one), so a flood of wrong secrets would otherwise take
 * every core the workers can reach.
 *
 * Limits, all before any hashing, each a bucket (ratelimit.h) charged
 * only when a check fails:
 *  - wrong secrets per source address (the RPC peer; the gateway keeps
 *    its own per HTTP peer): `source_fail_burst`, refilled
 *    `source_fail_per_minute` a minute. An empty bucket refuses the
 *    address under every client id, RESOURCE_EXHAUSTED "retry after N s".
 *    A source of "" (an inproc:// caller that names no client address)
 *    is not limited here, and never reaches a flooded id's spill.
 *  - wrong secrets per client id: `fail_burst`, refilled
 *    `fail_per_minute` a minute. An empty bucket marks the id flooded;
 *    it stays open to sources that have not failed against it since the
 *    id's bucket would have refilled whole, through a second bucket of
 *    the same size per id (the spill). So a flood from one address, or
 *    from fewer than it takes to drain both, leaves the id to the holder
 *    of the secret elsewhere; a flood from many addresses drains the
 *    spill too and locks the id for everyone, as before (the
 *    approximation: a guesser and the holder cannot be told apart but by
 *    where they send from). A guesser gets at most twice fail_burst per
 *    refill under one id.
 *  - checks at once: at most `checks` secret checks run at a time, and at
 *    most one per client id, so a flood under one id holds one slot and
 *    the other apps share the rest. A request waits up to `wait_ms` for a
 *    slot, then is refused the same way (retry after 1 s).
 * Rejected: a cache of verified (client, secret) pairs (it needs the
 * reload of apps.conf to reach it, and the limits alone bound the CPU);
 * keying the id's lockout by (id, source) alone (a guesser with many
 * addresses would get fail_burst guesses from each).
 */
#ifndef UNS_TOKEN_GUARD_H
#define UNS_TOKEN_GUARD_H

#include <stdint.h>

#include "uns/uns.h"

typedef struct uns_token_guard uns_token_guard;

typedef struct uns_token_guard_config {
	uint32_t fail_burst;             /* wrong secrets per client id; 0 = no
	                                    limit */
	uint32_t fail_per_minute;        /* refill; 0 = fail_burst */
	uint32_t source_fail_burst;      /* per source address; 0 = no limit */
	uint32_t source_fail_per_minute; /* refill; 0 = source_fail_burst */
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
 * Admits a secret check for client_id from source (the caller's address;
 * "" = not limited per source): UNS_OK with a slot held (give it back with
 * uns_token_guard_leave), or UNS_RESOURCE_EXHAUSTED with *retry_after_s
 * (≥ 1) and *why (a static text, "from this address" …) when the source
 * or the client id has failed too often or no slot came within wait_ms.
 * NULL g admits everything.
 */
uns_err uns_token_guard_enter(uns_token_guard *g, const char *client_id,
                              const char *source, uint32_t *retry_after_s,
                              const char **why);
/* Gives the slot back; a failed check (ok = 0) is charged to client_id
 * and source. */
void uns_token_guard_leave(uns_token_guard *g, const char *client_id,
                           const char *source, int ok);

#endif /* UNS_TOKEN_GUARD_H */
