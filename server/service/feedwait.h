/*
 * feedwait.h — long polls on a (user, host) feed that hold no thread and no
 * RPC context while they wait, woken by the store's feed-moved hook.
 *
 * A waiter is a small struct the caller owns (in its call's arena). To
 * wait, the caller reads the generation of the feed (uns_feedwait_gen),
 * reads the feed, and when nothing is new parks the waiter with that
 * generation. If the generation moved in between, park says so at once and
 * the caller reads again; so no write is ever missed. A parked waiter's
 * callback runs exactly once, on the feedwait's own thread: woken (the
 * feed moved), timed out, or the feedwait shut down. It may park again.
 *
 * Waiters hang in a hash table keyed by (user, host); a notify walks only
 * its key's chain and wakes only that feed's waiters, so a wake costs the
 * same with ten parked clients as with a hundred thousand. Generations
 * live per hash bucket: a collision costs another feed's waiter a spurious
 * re-read only if it was between gen and park at that moment. Deadlines
 * are a binary heap (O(log n) per park and per expiry) served by the one
 * thread, which also runs the callbacks; notify (the store's committer)
 * only moves waiters to a ready list and signals it. With a re-check
 * interval (a cluster: uns_feedwait_set_recheck) a waiter's place in the
 * heap is the earlier of its end and its next re-check.
 *
 * Rejected: a thread (or a worker) blocked per long poll, the former
 * design — it tied each waiting client to a context of the RPC server —
 * and one condition variable per bucket broadcast to all its waiters.
 */
#ifndef UNS_FEEDWAIT_H
#define UNS_FEEDWAIT_H

#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"

typedef struct uns_feedwait uns_feedwait;

/* moved: 1 when the feed moved (or may have: a re-check), 0 on timeout or
 * shutdown. */
typedef void (*uns_feedwait_fn)(void *arg, int moved);

/* Owned by the caller, opaque to it, zeroed before its first park; valid
 * until its callback ran. */
typedef struct uns_feedwait_waiter {
	struct uns_feedwait_waiter *next, *prev; /* chain, or ready list */
	const char *user, *host;                 /* borrowed */
	uint64_t hash;
	uint64_t deadline_us; /* monotonic: the next wake-up, in the heap */
	uint64_t until_us;    /* monotonic: the wait's end */
	size_t heap_at;       /* index in the deadline heap */
	int moved;
	int cancelled; /* uns_feedwait_cancel ran: parks no more */
	uns_feedwait_fn fn;
	void *arg;
} uns_feedwait_waiter;

enum uns_feedwait_park {
	UNS_FEEDWAIT_PARKED, /* fn will run once */
	UNS_FEEDWAIT_MOVED,  /* not parked: the feed moved, read again */
	UNS_FEEDWAIT_CLOSED, /* not parked: shutting down (or no memory) */
};

uns_err uns_feedwait_open(uns_feedwait **out);
/* After uns_feedwait_shutdown; joins the thread. */
void uns_feedwait_close(uns_feedwait *w);

uint64_t uns_feedwait_gen(uns_feedwait *w, const char *user, const char *host);
/* The feed of (user, host) moved: wakes its waiters, and only them. */
void uns_feedwait_notify(uns_feedwait *w, const char *user, const char *host);
/* Parks wt until the feed of (user, host) moves past gen or ms pass.
 * user and host must outlive the wait. */
enum uns_feedwait_park uns_feedwait_park(uns_feedwait *w,
                                         uns_feedwait_waiter *wt,
                                         const char *user, const char *host,
                                         uint64_t gen, uint32_t ms,
                                         uns_feedwait_fn fn, void *arg);
/* Ends wt's wait at once (its callback sees moved = 0) if it is parked,
 * and makes its later parks return UNS_FEEDWAIT_CLOSED: its caller went
 * away. wt must be valid (its call not yet answered). */
void uns_feedwait_cancel(uns_feedwait *w, uns_feedwait_waiter *wt);
/* Every parked waiter also wakes (moved = 1, whether or not its feed
 * moved) each ms while it waits, to re-read its feed: with other nodes
 * writing the same feeds, their hints (server/cluster) may be lost or
 * late, and the re-check bounds the delay. 0 (the default) = never. */
void uns_feedwait_set_recheck(uns_feedwait *w, uint32_t ms);

/* Waiters parked now. */
size_t uns_feedwait_parked(uns_feedwait *w);
/* Ends every wait (callbacks see moved = 0) and makes later parks return
 * UNS_FEEDWAIT_CLOSED (drain). Returns once every callback has run. */
void uns_feedwait_shutdown(uns_feedwait *w);

#endif /* UNS_FEEDWAIT_H */
