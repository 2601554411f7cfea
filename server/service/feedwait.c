/*
 * feedwait.c — see feedwait.h. Condition variables use CLOCK_MONOTONIC so
 * a wall-clock step cannot stretch or cut a long poll.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "feedwait.h"

#define N_BUCKETS 256

typedef struct bucket {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t gen;
} bucket;

struct uns_feedwait {
	bucket buckets[N_BUCKETS];
	atomic_int shutting_down;
};

uns_err
uns_feedwait_open(uns_feedwait **out)
{
	uns_feedwait *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return UNS_ENOMEM;
	}
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	for (int i = 0; i < N_BUCKETS; i++) {
		pthread_mutex_init(&w->buckets[i].mu, NULL);
		pthread_cond_init(&w->buckets[i].cv, &attr);
	}
	pthread_condattr_destroy(&attr);
	*out = w;
	return UNS_OK;
}

void
uns_feedwait_close(uns_feedwait *w)
{
	if (w == NULL) {
		return;
	}
	for (int i = 0; i < N_BUCKETS; i++) {
		pthread_mutex_destroy(&w->buckets[i].mu);
		pthread_cond_destroy(&w->buckets[i].cv);
	}
	free(w);
}

/* FNV-1a over user, a separator, and host. */
static bucket *
bucket_of(uns_feedwait *w, const char *user, const char *host)
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = user; *p; p++) {
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	}
	h = (h ^ 0xff) * 1099511628211ULL;
	for (const char *p = host; *p; p++) {
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	}
	return &w->buckets[h % N_BUCKETS];
}

uint64_t
uns_feedwait_gen(uns_feedwait *w, const char *user, const char *host)
{
	bucket *b = bucket_of(w, user, host);
	pthread_mutex_lock(&b->mu);
	uint64_t gen = b->gen;
	pthread_mutex_unlock(&b->mu);
	return gen;
}

void
uns_feedwait_notify(uns_feedwait *w, const char *user, const char *host)
{
	bucket *b = bucket_of(w, user, host);
	pthread_mutex_lock(&b->mu);
	b->gen++;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

int
uns_feedwait_wait(uns_feedwait *w, const char *user, const char *host,
                  uint64_t gen, uint32_t ms)
{
	bucket *b = bucket_of(w, user, host);
	struct timespec until;
	uns_deadline_after_us(&until, (uint64_t)ms * 1000u);
	pthread_mutex_lock(&b->mu);
	int rc = 0;
	while (b->gen == gen && !atomic_load(&w->shutting_down) && rc == 0) {
		rc = pthread_cond_timedwait(&b->cv, &b->mu, &until);
	}
	int moved = b->gen != gen;
	pthread_mutex_unlock(&b->mu);
	return moved;
}

void
uns_feedwait_shutdown(uns_feedwait *w)
{
	atomic_store(&w->shutting_down, 1);
	for (int i = 0; i < N_BUCKETS; i++) {
		pthread_mutex_lock(&w->buckets[i].mu);
		pthread_cond_broadcast(&w->buckets[i].cv);
		pthread_mutex_unlock(&w->buckets[i].mu);
	}
}
