/*
 * token_cache.c — see token_cache.h. A set-associative table: the token's
 * hash picks a set of WAYS entries, each entry one malloc holding the token
 * and the claim strings. Set-associative rather than a global LRU list, so
 * a hit touches one set under one stripe lock and threads on other sets do
 * not meet; recency is a per-set counter, not a shared atomic.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "token_cache.h"

#define WAYS         4
#define STRIPES      64
#define DEFAULT_SKEW 60

typedef struct entry {
	uint64_t hash;
	int64_t exp, nbf, iat;
	uint32_t used; /* the set's tick at the last hit or put */
	size_t len;    /* of the token at data[0] */
	const char *sub, *app_id, *host, *scopes; /* into data, after it */
	char data[];
} entry;

typedef struct set {
	entry *way[WAYS];
	uint32_t tick;
} set;

struct uns_token_cache {
	set *sets;
	size_t n_sets;
	pthread_mutex_t locks[STRIPES];
};

uns_err
uns_token_cache_alloc(uns_token_cache **out, size_t capacity)
{
	uns_token_cache *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return UNS_ENOMEM;
	}
	c->n_sets = (capacity + WAYS - 1) / WAYS;
	if (c->n_sets > 0 &&
	    (c->sets = calloc(c->n_sets, sizeof(*c->sets))) == NULL) {
		free(c);
		return UNS_ENOMEM;
	}
	for (size_t i = 0; i < STRIPES; i++) {
		pthread_mutex_init(&c->locks[i], NULL);
	}
	*out = c;
	return UNS_OK;
}

void
uns_token_cache_free(uns_token_cache *c)
{
	if (c == NULL) {
		return;
	}
	uns_token_cache_clear(c);
	for (size_t i = 0; i < STRIPES; i++) {
		pthread_mutex_destroy(&c->locks[i]);
	}
	free(c->sets);
	free(c);
}

/* FNV-1a over 8-byte words, with a final mix: spreads tokens over sets at
 * a word per multiply (a byte at a time was 1.6% of a Fetch's CPU).
 * Equality is always a memcmp, so the hash need not resist attack. */
static uint64_t
token_hash(const char *token, size_t len)
{
	uint64_t h = 14695981039346656037ULL, w;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, token + i, 8);
		h = (h ^ w) * 1099511628211ULL;
	}
	for (; i < len; i++) {
		h = (h ^ (unsigned char)token[i]) * 1099511628211ULL;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 32);
}

static pthread_mutex_t *
lock_of(uns_token_cache *c, size_t set_index)
{
	return &c->locks[set_index % STRIPES];
}

static entry **
find(set *s, uint64_t hash, const char *token, size_t len)
{
	for (size_t i = 0; i < WAYS; i++) {
		entry *e = s->way[i];
		if (e != NULL && e->hash == hash && e->len == len &&
		    memcmp(e->data, token, len) == 0) {
			return &s->way[i];
		}
	}
	return NULL;
}

static void
claims_from(const entry *e, uns_jwt_claims *out)
{
	memcpy(out->sub, e->sub, strlen(e->sub) + 1);
	memcpy(out->app_id, e->app_id, strlen(e->app_id) + 1);
	memcpy(out->host, e->host, strlen(e->host) + 1);
	memcpy(out->scopes, e->scopes, strlen(e->scopes) + 1);
	out->iss[0] = out->aud[0] = '\0';
	out->exp = e->exp;
	out->nbf = e->nbf;
	out->iat = e->iat;
}

bool
uns_token_cache_get(uns_token_cache *c, const char *token, size_t len,
                    int64_t now, int skew, uns_jwt_claims *out)
{
	int64_t leeway = skew < 0 ? DEFAULT_SKEW : skew;
	entry *dropped = NULL;
	bool hit = false;

	if (c == NULL || c->n_sets == 0) {
		return false;
	}
	uint64_t h = token_hash(token, len);
	size_t i = h % c->n_sets;
	set *s = &c->sets[i];
	pthread_mutex_lock(lock_of(c, i));
	entry **slot = find(s, h, token, len);
	if (slot != NULL && (*slot)->exp < now - leeway) {
		dropped = *slot; /* expired for good: make room */
		*slot = NULL;
	} else if (slot != NULL && (*slot)->nbf <= now + leeway) {
		(*slot)->used = ++s->tick;
		claims_from(*slot, out);
		hit = true;
	}
	pthread_mutex_unlock(lock_of(c, i));
	free(dropped);
	return hit;
}

/* One malloc: the token, then sub, app_id, host and scopes, each with its
 * NUL. */
static entry *
entry_new(const char *token, size_t len, const uns_jwt_claims *cl)
{
	const char *parts[4] = {cl->sub, cl->app_id, cl->host, cl->scopes};
	size_t lens[4], total = len + 1;
	for (size_t i = 0; i < 4; i++) {
		total += (lens[i] = strlen(parts[i])) + 1;
	}
	entry *e = malloc(sizeof(*e) + total);
	if (e == NULL) {
		return NULL;
	}
	e->hash = token_hash(token, len);
	e->exp = cl->exp;
	e->nbf = cl->nbf;
	e->iat = cl->iat;
	e->len = len;
	memcpy(e->data, token, len);
	e->data[len] = '\0';
	char *p = e->data + len + 1;
	const char **dst[4] = {&e->sub, &e->app_id, &e->host, &e->scopes};
	for (size_t i = 0; i < 4; i++) {
		memcpy(p, parts[i], lens[i] + 1);
		*dst[i] = p;
		p += lens[i] + 1;
	}
	return e;
}

/* The slot a new entry goes to: the same token's, a free one, or the
 * least recently used. */
static entry **
victim(set *s, const entry *e)
{
	entry **slot = find(s, e->hash, e->data, e->len);
	size_t oldest = 0;

	if (slot != NULL) {
		return slot;
	}
	for (size_t i = 0; i < WAYS; i++) {
		if (s->way[i] == NULL) {
			return &s->way[i];
		}
		if ((uint32_t)(s->tick - s->way[i]->used) >
		    (uint32_t)(s->tick - s->way[oldest]->used)) {
			oldest = i;
		}
	}
	return &s->way[oldest];
}

void
uns_token_cache_put(uns_token_cache *c, const char *token, size_t len,
                    const uns_jwt_claims *claims)
{
	entry *e, *old;

	if (c == NULL || c->n_sets == 0 || len > UNS_TOKEN_CACHE_MAX_TOKEN ||
	    (e = entry_new(token, len, claims)) == NULL) {
		return;
	}
	size_t i = e->hash % c->n_sets;
	set *s = &c->sets[i];
	pthread_mutex_lock(lock_of(c, i));
	entry **slot = victim(s, e);
	old = *slot;
	e->used = ++s->tick;
	*slot = e;
	pthread_mutex_unlock(lock_of(c, i));
	free(old);
}

void
uns_token_cache_clear(uns_token_cache *c)
{
	for (size_t i = 0; c != NULL && i < c->n_sets; i++) {
		entry *gone[WAYS];
		pthread_mutex_lock(lock_of(c, i));
		memcpy(gone, c->sets[i].way, sizeof(gone));
		memset(c->sets[i].way, 0, sizeof(gone));
		pthread_mutex_unlock(lock_of(c, i));
		for (size_t k = 0; k < WAYS; k++) {
			free(gone[k]);
		}
	}
}

size_t
uns_token_cache_count(uns_token_cache *c)
{
	size_t n = 0;
	for (size_t i = 0; c != NULL && i < c->n_sets; i++) {
		pthread_mutex_lock(lock_of(c, i));
		for (size_t k = 0; k < WAYS; k++) {
			n += c->sets[i].way[k] != NULL;
		}
		pthread_mutex_unlock(lock_of(c, i));
	}
	return n;
}
