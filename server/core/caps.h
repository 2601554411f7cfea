/*
 * caps.h — counters of things in progress keyed by a string (a user, an
 * app), each under a cap: the fairness limits on concurrent long polls and
 * calls in progress, so one caller can never take what others need.
 *
 * A key's counter exists only while it is above zero: the table holds the
 * callers active now, not every caller ever seen, and its memory comes
 * back when they are done. Thread-safe: the keys hash into 64 shards, each
 * a mutex and a chained table, so callers of different shards never wait
 * for each other; an acquire or release is one hash and a short chain walk.
 *
 * Rejected: counters on the rate limiter's buckets (a bucket measures a
 * rate and may be swept; a count in progress must never be lost), and one
 * global mutex (every call of every user takes and releases twice).
 */
#ifndef UNS_CAPS_H
#define UNS_CAPS_H

#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"

typedef struct uns_caps uns_caps;

/* cap 0 turns the counter off: every acquire succeeds and counts
 * nothing. */
uns_err uns_caps_open(uns_caps **out, uint32_t cap);
/* NULL is fine. */
void uns_caps_close(uns_caps *c);

/* Counts one more for key: 1 when under the cap, 0 (nothing counted) when
 * key already holds cap. A NULL table always grants. */
int uns_caps_acquire(uns_caps *c, const char *key);
/* As uns_caps_acquire under a lower cap for this acquire (0 or above the
 * table's: the table's): a node's share of a cap split across nodes. */
int uns_caps_acquire_max(uns_caps *c, const char *key, uint32_t cap);
/* Gives back one acquired for key. */
void uns_caps_release(uns_caps *c, const char *key);
/* What key holds now, and how many keys hold anything. */
uint32_t uns_caps_held(uns_caps *c, const char *key);
size_t uns_caps_keys(uns_caps *c);
uint32_t uns_caps_cap(const uns_caps *c);

#endif /* UNS_CAPS_H */
