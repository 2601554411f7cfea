/*
 * expiry.c — see expiry.h. One mutex guards the stop flag and the hints;
 * the store is called without it. Waits are on CLOCK_MONOTONIC, and a
 * wait in store time (now_ms, maybe a test clock) is bounded by RECHECK_MS
 * of real time, so a clock that jumps is noticed within it.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "expiry.h"

#define RECHECK_MS 1000
#define NEVER      INT64_MAX

struct uns_expiry {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a sooner hint, or stop */
	bool stop;
	int64_t hint;  /* the earliest hint since the store was last asked */
	int64_t until; /* what the thread waits for now (store time) */
	uns_store *st;
	int64_t (*now_ms)(void *arg);
	void *now_arg;
	uint32_t resolution_ms;
	pthread_t thread;
};

static int64_t
now_of(const uns_expiry *e)
{
	if (e->now_ms != NULL) {
		return e->now_ms(e->now_arg);
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits (mu held) up to ms of real time, or until signalled. */
static void
wait_ms(uns_expiry *e, int64_t ms)
{
	struct timespec until;
	uns_deadline_after_us(&until, (uint64_t)ms * 1000);
	pthread_cond_timedwait(&e->cv, &e->mu, &until);
}

/* Waits (mu held) out the resolution after a reclaim; only stop ends it. */
static void
rest(uns_expiry *e)
{
	uint64_t end = uns_mono_us() + e->resolution_ms * 1000ull;

	e->until = INT64_MIN; /* no hint signals now */
	for (uint64_t t; !e->stop && (t = uns_mono_us()) < end;) {
		wait_ms(e, (int64_t)((end - t + 999) / 1000));
	}
}

/*
 * The store is the truth and hints only make the thread look sooner: a
 * hint may come before its post is durable (or for a post that fails), so
 * a hint is kept until its time has come, and then one reclaim is run for
 * it even if the store did not show it yet; the store shows it at the
 * next ask.
 */
static void *
run(void *arg)
{
	uns_expiry *e = arg;

	pthread_mutex_lock(&e->mu);
	while (!e->stop) {
		int64_t next = NEVER, now;
		pthread_mutex_unlock(&e->mu);
		if (uns_store_next_expiry(e->st, &next) != UNS_OK) {
			next = NEVER; /* none, or an error: ask again later */
		}
		now = now_of(e);
		pthread_mutex_lock(&e->mu);
		if (e->hint <= now) {
			next = e->hint < next ? e->hint : next;
			e->hint = NEVER; /* served by the reclaim below */
		}
		if (next <= now) {
			pthread_mutex_unlock(&e->mu);
			/* A failed reclaim is the periodic one's to retry;
			 * the rest below keeps this from spinning. */
			(void)uns_store_reclaim(e->st, now, NULL);
			pthread_mutex_lock(&e->mu);
			rest(e);
			continue;
		}
		if (e->stop) {
			break;
		}
		e->until = e->hint < next ? e->hint : next;
		wait_ms(e, e->until - now < RECHECK_MS ? e->until - now
		                                       : RECHECK_MS);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

uns_err
uns_expiry_open(uns_expiry **out, uns_store *st, int64_t (*now_ms)(void *arg),
                void *now_arg, uint32_t resolution_ms)
{
	uns_expiry *e = calloc(1, sizeof(*e));
	pthread_condattr_t attr;

	if (e == NULL || st == NULL || resolution_ms == 0) {
		free(e);
		return e == NULL ? UNS_ENOMEM : UNS_EINVAL;
	}
	e->st = st;
	e->now_ms = now_ms;
	e->now_arg = now_arg;
	e->resolution_ms = resolution_ms;
	e->hint = e->until = NEVER;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&e->thread, NULL, run, e) != 0) {
		pthread_mutex_destroy(&e->mu);
		pthread_cond_destroy(&e->cv);
		free(e);
		return UNS_ENOMEM;
	}
	*out = e;
	return UNS_OK;
}

void
uns_expiry_close(uns_expiry *e)
{
	if (e == NULL) {
		return;
	}
	pthread_mutex_lock(&e->mu);
	e->stop = true;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
	pthread_join(e->thread, NULL);
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->cv);
	free(e);
}

void
uns_expiry_hint(uns_expiry *e, int64_t when_ms)
{
	if (e == NULL || when_ms <= 0) {
		return;
	}
	pthread_mutex_lock(&e->mu);
	if (when_ms < e->hint) {
		e->hint = when_ms;
	}
	if (when_ms < e->until) {
		e->until = when_ms;
		pthread_cond_signal(&e->cv);
	}
	pthread_mutex_unlock(&e->mu);
}
