/*
 * caps.c — see caps.h. Each shard chains its entries in 256 buckets that
 * never grow: 64 × 256 = 16,384 chains keep a walk short up to tens of
 * thousands of active callers, and a table that never rehashes never
 * stalls a caller.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "fnv.h"

#define N_SHARDS  64
#define N_BUCKETS 256

typedef struct entry {
	struct entry *next;
	uint64_t hash;
	uint32_t held;
	char key[]; /* NUL-terminated */
} entry;

typedef struct shard {
	pthread_mutex_t mu;
	size_t n;
	entry *buckets[N_BUCKETS];
} shard;

struct uns_caps {
	uint32_t cap;
	shard shards[N_SHARDS];
};

static uint64_t
hash_of(const char *s)
{
	return uns_fnv_str(UNS_FNV_OFFSET, s);
}

uns_err
uns_caps_open(uns_caps **out, uint32_t cap)
{
	uns_caps *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return UNS_ENOMEM;
	}
	c->cap = cap;
	for (int i = 0; i < N_SHARDS; i++) {
		pthread_mutex_init(&c->shards[i].mu, NULL);
	}
	*out = c;
	return UNS_OK;
}

void
uns_caps_close(uns_caps *c)
{
	if (c == NULL) {
		return;
	}
	for (int i = 0; i < N_SHARDS; i++) {
		for (int b = 0; b < N_BUCKETS; b++) {
			for (entry *e = c->shards[i].buckets[b], *n; e; e = n) {
				n = e->next;
				free(e);
			}
		}
		pthread_mutex_destroy(&c->shards[i].mu);
	}
	free(c);
}

/* The entry's link for key in its shard (locked), or the NULL link at the
 * end of its chain. */
static entry **
find(shard *s, uint64_t h, const char *key)
{
	entry **p = &s->buckets[(h >> 6) % N_BUCKETS];
	while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0)) {
		p = &(*p)->next;
	}
	return p;
}

int
uns_caps_acquire(uns_caps *c, const char *key)
{
	return uns_caps_acquire_max(c, key, c != NULL ? c->cap : 0);
}

int
uns_caps_acquire_max(uns_caps *c, const char *key, uint32_t cap)
{
	if (c == NULL || c->cap == 0) {
		return 1;
	}
	cap = cap > 0 && cap < c->cap ? cap : c->cap;
	uint64_t h = hash_of(key);
	shard *s = &c->shards[h % N_SHARDS];
	int ok = 1;
	pthread_mutex_lock(&s->mu);
	entry **p = find(s, h, key);
	if (*p == NULL) {
		size_t len = strlen(key);
		entry *e = malloc(sizeof(*e) + len + 1);
		if (e != NULL) { /* out of memory: let it through uncounted */
			e->next = NULL;
			e->hash = h;
			e->held = 1;
			memcpy(e->key, key, len + 1);
			*p = e;
			s->n++;
		}
	} else if ((*p)->held >= cap) {
		ok = 0;
	} else {
		(*p)->held++;
	}
	pthread_mutex_unlock(&s->mu);
	return ok;
}

void
uns_caps_release(uns_caps *c, const char *key)
{
	if (c == NULL || c->cap == 0) {
		return;
	}
	uint64_t h = hash_of(key);
	shard *s = &c->shards[h % N_SHARDS];
	pthread_mutex_lock(&s->mu);
	entry **p = find(s, h, key);
	entry *e = *p;
	if (e != NULL && --e->held == 0) {
		*p = e->next;
		s->n--;
		free(e);
	}
	pthread_mutex_unlock(&s->mu);
}

uint32_t
uns_caps_held(uns_caps *c, const char *key)
{
	if (c == NULL || c->cap == 0) {
		return 0;
	}
	uint64_t h = hash_of(key);
	shard *s = &c->shards[h % N_SHARDS];
	pthread_mutex_lock(&s->mu);
	entry *e = *find(s, h, key);
	uint32_t n = e ? e->held : 0;
	pthread_mutex_unlock(&s->mu);
	return n;
}

size_t
uns_caps_keys(uns_caps *c)
{
	size_t n = 0;
	for (int i = 0; c != NULL && i < N_SHARDS; i++) {
		pthread_mutex_lock(&c->shards[i].mu);
		n += c->shards[i].n;
		pthread_mutex_unlock(&c->shards[i].mu);
	}
	return n;
}

uint32_t
uns_caps_cap(const uns_caps *c)
{
	return c ? c->cap : 0;
}
