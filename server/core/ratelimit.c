/*
 * ratelimit.c — see ratelimit.h.
 *
 * Tokens are counted in millionths (one token = 1e6 units) so that a
 * refill is an integer product, elapsed µs × rate / per_s, with no
 * floating point (the division drops under a millionth of a token). Buckets
 * live in a chained hash table of fixed width (FNV-1a of the key); a sweep on a
 * full table drops buckets that have refilled. Rejected: a timer thread
 * refilling buckets (refill on take needs none), and GCRA (equivalent; the
 * bucket reads more plainly).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ratelimit.h"

#define UNIT         1000000LL /* units per token */
#define DEFAULT_KEYS 100000
#define SLOTS        4096 /* hash chains; a power of two */

typedef struct bucket {
	struct bucket *next;
	int64_t units;   /* tokens × UNIT at `updated` */
	int64_t updated; /* µs */
	char key[];
} bucket;

struct uns_ratelimit {
	uns_ratelimit_config cfg;
	int64_t capacity; /* burst × UNIT */
	pthread_mutex_t mu;
	bucket *slots[SLOTS];
	size_t n_keys;
	uint64_t untracked;
};

static int64_t
mono_us(void *arg)
{
	(void)arg;
	return (int64_t)uns_mono_us();
}

uns_err
uns_ratelimit_open(uns_ratelimit **out, const uns_ratelimit_config *cfg)
{
	uns_ratelimit *rl = calloc(1, sizeof(*rl));
	if (rl == NULL) {
		return UNS_ENOMEM;
	}
	rl->cfg = *cfg;
	if (rl->cfg.burst == 0) {
		rl->cfg.burst = rl->cfg.rate;
	}
	if (rl->cfg.per_s == 0) {
		rl->cfg.per_s = 1;
	}
	if (rl->cfg.max_keys == 0) {
		rl->cfg.max_keys = DEFAULT_KEYS;
	}
	if (rl->cfg.now_us == NULL) {
		rl->cfg.now_us = mono_us;
	}
	rl->capacity = (int64_t)rl->cfg.burst * UNIT;
	pthread_mutex_init(&rl->mu, NULL);
	*out = rl;
	return UNS_OK;
}

void
uns_ratelimit_close(uns_ratelimit *rl)
{
	if (rl == NULL) {
		return;
	}
	for (size_t i = 0; i < SLOTS; i++) {
		for (bucket *b = rl->slots[i], *next; b; b = next) {
			next = b->next;
			free(b);
		}
	}
	pthread_mutex_destroy(&rl->mu);
	free(rl);
}

static size_t
slot_of(const char *key)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h = (h ^ *p) * 16777619u;
	}
	return h & (SLOTS - 1);
}

/* Brings b up to now; the product cannot overflow: elapsed is capped at
 * the time a refill from empty takes. */
static void
refill(const uns_ratelimit *rl, bucket *b, int64_t now)
{
	int64_t elapsed = now - b->updated;
	int64_t full_after =
	    rl->capacity / rl->cfg.rate * (int64_t)rl->cfg.per_s + 1;
	if (elapsed > full_after) {
		elapsed = full_after;
	}
	if (elapsed > 0) {
		b->units +=
		    elapsed * (int64_t)rl->cfg.rate / (int64_t)rl->cfg.per_s;
		if (b->units > rl->capacity) {
			b->units = rl->capacity;
		}
	}
	b->updated = now;
}

/* Drops the buckets that are full again (they mean nothing). */
static void
sweep(uns_ratelimit *rl, int64_t now)
{
	for (size_t i = 0; i < SLOTS; i++) {
		bucket **pp = &rl->slots[i];
		while (*pp) {
			bucket *b = *pp;
			refill(rl, b, now);
			if (b->units >= rl->capacity) {
				*pp = b->next;
				free(b);
				rl->n_keys--;
			} else {
				pp = &b->next;
			}
		}
	}
}

/* key's bucket, made full when new; NULL when none can be kept. */
static bucket *
bucket_of(uns_ratelimit *rl, const char *key, int64_t now)
{
	size_t s = slot_of(key);
	for (bucket *b = rl->slots[s]; b; b = b->next) {
		if (strcmp(b->key, key) == 0) {
			refill(rl, b, now);
			return b;
		}
	}
	if (rl->n_keys >= rl->cfg.max_keys) {
		sweep(rl, now);
	}
	size_t len = strlen(key);
	bucket *b = NULL;
	if (rl->n_keys >= rl->cfg.max_keys ||
	    (b = malloc(sizeof(*b) + len + 1)) == NULL) {
		return NULL;
	}
	memcpy(b->key, key, len + 1);
	b->units = rl->capacity;
	b->updated = now;
	b->next = rl->slots[s];
	rl->slots[s] = b;
	rl->n_keys++;
	return b;
}

/* The one bucket step: n tokens (1 at least, at most a full bucket) are
 * there, and taken when take is set; else how long until they are. */
static int
decide(uns_ratelimit *rl, const char *key, uint32_t n, int take,
       uint32_t *retry_after_ms)
{
	if (rl == NULL || rl->cfg.rate == 0) {
		return 1;
	}
	int granted = 1;
	int64_t wait_ms = 0;
	int64_t cost = (int64_t)(n > 0 ? n : 1) * UNIT;
	if (cost > rl->capacity) {
		cost = rl->capacity;
	}
	pthread_mutex_lock(&rl->mu);
	int64_t now = rl->cfg.now_us(rl->cfg.now_arg);
	bucket *b = bucket_of(rl, key, now);
	if (b == NULL) {
		rl->untracked++;
	} else if (b->units >= cost) {
		b->units -= take ? cost : 0;
	} else {
		granted = 0;
		int64_t missing = cost - b->units; /* units */
		int64_t us =
		    (missing * (int64_t)rl->cfg.per_s + rl->cfg.rate - 1) /
		    rl->cfg.rate;
		wait_ms = (us + 999) / 1000;
	}
	pthread_mutex_unlock(&rl->mu);
	if (!granted && retry_after_ms != NULL) {
		*retry_after_ms = (uint32_t)(wait_ms > 0 ? wait_ms : 1);
	}
	return granted;
}

int
uns_ratelimit_take(uns_ratelimit *rl, const char *key, uint32_t *retry_after_ms)
{
	return decide(rl, key, 1, 1, retry_after_ms);
}

int
uns_ratelimit_take_n(uns_ratelimit *rl, const char *key, uint32_t n,
                     uint32_t *retry_after_ms)
{
	return decide(rl, key, n, 1, retry_after_ms);
}

int
uns_ratelimit_peek(uns_ratelimit *rl, const char *key, uint32_t *retry_after_ms)
{
	return decide(rl, key, 1, 0, retry_after_ms);
}

size_t
uns_ratelimit_keys(uns_ratelimit *rl)
{
	pthread_mutex_lock(&rl->mu);
	size_t n = rl->n_keys;
	pthread_mutex_unlock(&rl->mu);
	return n;
}

uint64_t
uns_ratelimit_untracked(uns_ratelimit *rl)
{
	pthread_mutex_lock(&rl->mu);
	uint64_t n = rl->untracked;
	pthread_mutex_unlock(&rl->mu);
	return n;
}
