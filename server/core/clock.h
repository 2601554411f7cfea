/*
 * clock.h — the monotonic clock for the server's waits and timings: now
 * in microseconds, and an absolute deadline for pthread_cond_timedwait on a
 * condition variable set to CLOCK_MONOTONIC. Used by the group committer
 * (linger, busy-time counters), the store's background thread (reclaim
 * timer), the long-poll waits (feedwait.c), and the gateway's latency,
 * timeouts and rate limits. Header-only: each is a clock_gettime and a
 * little arithmetic, and the committer calls them per group.
 */
#ifndef UNS_SERVER_CLOCK_H
#define UNS_SERVER_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in microseconds. */
static inline uint64_t
uns_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* *ts = CLOCK_MONOTONIC now plus us microseconds (normalised). */
static inline void
uns_deadline_after_us(struct timespec *ts, uint64_t us)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(us / 1000000u);
	ts->tv_nsec += (long)(us % 1000000u) * 1000;
	ts->tv_sec += ts->tv_nsec / 1000000000;
	ts->tv_nsec %= 1000000000;
}

#endif /* UNS_SERVER_CLOCK_H */
