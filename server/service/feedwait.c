/*
 * feedwait.c — see feedwait.h. One mutex guards the table, the heap and the
 * ready list: every step under it is O(1) or O(log n) and never runs a
 * callback. The thread's condition variable uses CLOCK_MONOTONIC so a
 * wall-clock step cannot stretch or cut a long poll.
 *
 * 65,536 buckets (a megabyte of address space, touched as used) keep the
 * chains short up to a few hundred thousand parked waiters.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "feedwait.h"
#include "fnv.h"

#define N_BUCKETS (1u << 16)

typedef struct bucket {
	uns_feedwait_waiter *head;
	uint64_t gen;
} bucket;

struct uns_feedwait {
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* the thread: ready, new earliest, stop */
	pthread_cond_t idle_cv; /* shutdown: every callback has run */
	pthread_t thread;
	bool started, stopping, shutting_down;
	bucket *buckets;
	uns_feedwait_waiter **heap; /* by deadline_us */
	size_t n_heap, cap_heap;
	uns_feedwait_waiter *ready, *ready_tail;
	size_t running; /* callbacks taken off the ready list, not yet done */
	uint64_t recheck_us; /* 0 = never; see uns_feedwait_set_recheck */
};

/* FNV-1a over user, a separator, and host. */
static uint64_t
hash_of(const char *user, const char *host)
{
	static const unsigned char sep = 0xff;
	uint64_t h = uns_fnv_str(UNS_FNV_OFFSET, user);
	return uns_fnv_str(uns_fnv(h, &sep, 1), host);
}

static bucket *
bucket_of(uns_feedwait *w, uint64_t hash)
{
	return &w->buckets[hash % N_BUCKETS];
}

/* ---- the deadline heap -------------------------------------------------- */

static void
heap_set(uns_feedwait *w, size_t i, uns_feedwait_waiter *wt)
{
	w->heap[i] = wt;
	wt->heap_at = i;
}

static void
heap_up(uns_feedwait *w, size_t i)
{
	uns_feedwait_waiter *wt = w->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (w->heap[parent]->deadline_us <= wt->deadline_us) {
			break;
		}
		heap_set(w, i, w->heap[parent]);
		i = parent;
	}
	heap_set(w, i, wt);
}

static void
heap_down(uns_feedwait *w, size_t i)
{
	uns_feedwait_waiter *wt = w->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= w->n_heap) {
			break;
		}
		if (c + 1 < w->n_heap &&
		    w->heap[c + 1]->deadline_us < w->heap[c]->deadline_us) {
			c++;
		}
		if (wt->deadline_us <= w->heap[c]->deadline_us) {
			break;
		}
		heap_set(w, i, w->heap[c]);
		i = c;
	}
	heap_set(w, i, wt);
}

static bool
heap_push(uns_feedwait *w, uns_feedwait_waiter *wt)
{
	if (w->n_heap == w->cap_heap) {
		size_t cap = w->cap_heap ? w->cap_heap * 2 : 1024;
		uns_feedwait_waiter **h = realloc(w->heap, cap * sizeof(*h));
		if (h == NULL) {
			return false;
		}
		w->heap = h;
		w->cap_heap = cap;
	}
	heap_set(w, w->n_heap++, wt);
	heap_up(w, w->n_heap - 1);
	return true;
}

static void
heap_remove(uns_feedwait *w, uns_feedwait_waiter *wt)
{
	size_t i = wt->heap_at;
	uns_feedwait_waiter *last = w->heap[--w->n_heap];
	if (i == w->n_heap) {
		return;
	}
	heap_set(w, i, last);
	heap_down(w, i);
	heap_up(w, last->heap_at);
}

/* ---- chains and the ready list --------------------------------------- */

static void
chain_remove(uns_feedwait *w, uns_feedwait_waiter *wt)
{
	if (wt->prev) {
		wt->prev->next = wt->next;
	} else {
		bucket_of(w, wt->hash)->head = wt->next;
	}
	if (wt->next) {
		wt->next->prev = wt->prev;
	}
}

/* Takes a parked waiter out of the table and the heap onto the ready
 * list. */
static void
make_ready(uns_feedwait *w, uns_feedwait_waiter *wt, int moved)
{
	chain_remove(w, wt);
	heap_remove(w, wt);
	wt->moved = moved;
	wt->next = NULL;
	if (w->ready_tail) {
		w->ready_tail->next = wt;
	} else {
		w->ready = wt;
	}
	w->ready_tail = wt;
}

/* ---- the thread ---------------------------------------------------------- */

static void
run_ready(uns_feedwait *w)
{
	uns_feedwait_waiter *list = w->ready;
	size_t n = 0;
	w->ready = w->ready_tail = NULL;
	for (uns_feedwait_waiter *p = list; p; p = p->next) {
		n++;
	}
	w->running += n;
	pthread_mutex_unlock(&w->mu);
	while (list != NULL) {
		uns_feedwait_waiter *wt = list;
		list = wt->next; /* before fn: it may park wt again */
		wt->fn(wt->arg, wt->moved);
	}
	pthread_mutex_lock(&w->mu);
	w->running -= n;
	if (w->n_heap == 0 && w->ready == NULL && w->running == 0) {
		pthread_cond_broadcast(&w->idle_cv);
	}
}

static void *
run(void *arg)
{
	uns_feedwait *w = arg;
	pthread_mutex_lock(&w->mu);
	while (!w->stopping || w->ready != NULL) {
		uint64_t now = uns_mono_us();
		while (w->n_heap > 0 && w->heap[0]->deadline_us <= now) {
			/* Before its end: a re-check, said as a move. */
			uns_feedwait_waiter *wt = w->heap[0];
			make_ready(w, wt, wt->deadline_us < wt->until_us);
		}
		if (w->ready != NULL) {
			run_ready(w);
			continue;
		}
		if (w->stopping) {
			break;
		}
		if (w->n_heap == 0) {
			pthread_cond_wait(&w->cv, &w->mu);
		} else {
			struct timespec until;
			uns_deadline_after_us(&until,
			                      w->heap[0]->deadline_us - now);
			pthread_cond_timedwait(&w->cv, &w->mu, &until);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* ---- the API --------------------------------------------------------- */

uns_err
uns_feedwait_open(uns_feedwait **out)
{
	uns_feedwait *w = calloc(1, sizeof(*w));
	if (w == NULL ||
	    (w->buckets = calloc(N_BUCKETS, sizeof(*w->buckets))) == NULL) {
		free(w);
		return UNS_ENOMEM;
	}
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, &attr);
	pthread_cond_init(&w->idle_cv, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&w->thread, NULL, run, w) != 0) {
		uns_feedwait_close(w);
		return UNS_ENOMEM;
	}
	w->started = true;
	*out = w;
	return UNS_OK;
}

void
uns_feedwait_close(uns_feedwait *w)
{
	if (w == NULL) {
		return;
	}
	uns_feedwait_shutdown(w);
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->started) {
		pthread_join(w->thread, NULL);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	pthread_cond_destroy(&w->idle_cv);
	free(w->heap);
	free(w->buckets);
	free(w);
}

uint64_t
uns_feedwait_gen(uns_feedwait *w, const char *user, const char *host)
{
	bucket *b = bucket_of(w, hash_of(user, host));
	pthread_mutex_lock(&w->mu);
	uint64_t gen = b->gen;
	pthread_mutex_unlock(&w->mu);
	return gen;
}

void
uns_feedwait_notify(uns_feedwait *w, const char *user, const char *host)
{
	uint64_t h = hash_of(user, host);
	bucket *b = bucket_of(w, h);
	bool woke = false;
	pthread_mutex_lock(&w->mu);
	b->gen++;
	for (uns_feedwait_waiter *wt = b->head, *next; wt; wt = next) {
		next = wt->next;
		if (wt->hash == h && strcmp(wt->user, user) == 0 &&
		    strcmp(wt->host, host) == 0) {
			make_ready(w, wt, 1);
			woke = true;
		}
	}
	if (woke) {
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
}

enum uns_feedwait_park
uns_feedwait_park(uns_feedwait *w, uns_feedwait_waiter *wt, const char *user,
                  const char *host, uint64_t gen, uint32_t ms,
                  uns_feedwait_fn fn, void *arg)
{
	wt->user = user;
	wt->host = host;
	wt->hash = hash_of(user, host);
	uint64_t now = uns_mono_us();
	wt->until_us = now + (uint64_t)ms * 1000u;
	wt->deadline_us = wt->until_us;
	wt->fn = fn;
	wt->arg = arg;
	bucket *b = bucket_of(w, wt->hash);
	pthread_mutex_lock(&w->mu);
	if (w->recheck_us > 0 && now + w->recheck_us < wt->until_us) {
		wt->deadline_us = now + w->recheck_us;
	}
	enum uns_feedwait_park r = w->shutting_down || wt->cancelled
	                               ? UNS_FEEDWAIT_CLOSED
	                           : b->gen != gen     ? UNS_FEEDWAIT_MOVED
	                           : !heap_push(w, wt) ? UNS_FEEDWAIT_CLOSED
	                                               : UNS_FEEDWAIT_PARKED;
	if (r == UNS_FEEDWAIT_PARKED) {
		wt->prev = NULL;
		wt->next = b->head;
		if (b->head) {
			b->head->prev = wt;
		}
		b->head = wt;
		if (wt->heap_at == 0) { /* the new earliest deadline */
			pthread_cond_signal(&w->cv);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return r;
}

void
uns_feedwait_cancel(uns_feedwait *w, uns_feedwait_waiter *wt)
{
	pthread_mutex_lock(&w->mu);
	wt->cancelled = 1;
	if (wt->heap_at < w->n_heap && w->heap[wt->heap_at] == wt) {
		make_ready(w, wt, 0);
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
}

size_t
uns_feedwait_parked(uns_feedwait *w)
{
	pthread_mutex_lock(&w->mu);
	size_t n = w->n_heap;
	pthread_mutex_unlock(&w->mu);
	return n;
}

void
uns_feedwait_shutdown(uns_feedwait *w)
{
	pthread_mutex_lock(&w->mu);
	w->shutting_down = true;
	while (w->n_heap > 0) {
		make_ready(w, w->heap[w->n_heap - 1], 0);
	}
	pthread_cond_signal(&w->cv);
	while (w->started && !w->stopping &&
	       (w->n_heap > 0 || w->ready != NULL || w->running > 0)) {
		pthread_cond_wait(&w->idle_cv, &w->mu);
	}
	pthread_mutex_unlock(&w->mu);
}

void
uns_feedwait_set_recheck(uns_feedwait *w, uint32_t ms)
{
	pthread_mutex_lock(&w->mu);
	w->recheck_us = (uint64_t)ms * 1000u;
	pthread_mutex_unlock(&w->mu);
}
