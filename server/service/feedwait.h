/*
 * feedwait.h — long polls on a (user, host) feed, woken by the store's
 * feed-moved hook rather than by polling the store.
 *
 * Feeds hash into a fixed set of buckets, each a mutex, a condition
 * variable and a generation counter. A waiter reads the generation, reads
 * the feed, and if nothing is new waits for the generation to move; then it
 * reads again. A collision in a bucket costs a spurious re-read, never a
 * missed wake-up, because the generation is read before the feed.
 */
#ifndef UNS_FEEDWAIT_H
#define UNS_FEEDWAIT_H

#include <stdint.h>

#include "uns/uns.h"

typedef struct uns_feedwait uns_feedwait;

uns_err uns_feedwait_open(uns_feedwait **out);
void uns_feedwait_close(uns_feedwait *w);

uint64_t uns_feedwait_gen(uns_feedwait *w, const char *user, const char *host);
/* The feed of (user, host) moved: wakes its waiters. */
void uns_feedwait_notify(uns_feedwait *w, const char *user, const char *host);
/* Waits until the generation differs from gen (returns 1) or ms pass or
 * shutdown begins (returns 0). */
int uns_feedwait_wait(uns_feedwait *w, const char *user, const char *host,
                      uint64_t gen, uint32_t ms);
/* Wakes every waiter and makes later waits return at once (drain). */
void uns_feedwait_shutdown(uns_feedwait *w);

#endif /* UNS_FEEDWAIT_H */
