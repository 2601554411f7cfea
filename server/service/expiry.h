/*
 * expiry.h — reclaims when the store's next expiry comes, so that an
 * expiry reaches its feed, and wakes the long polls on it (unsctl fetch
 * --follow, the gateway's waits), when it happens rather than at the
 * store's next periodic reclaim (reclaim_interval, 10 s by default).
 *
 * One thread asks the store for its next expiry (uns_store_next_expiry,
 * one index read), sleeps until then and reclaims; the reclaim writes the
 * "expired" feed entries and the service's store observer wakes exactly the
 * feeds they are in. A post tells the thread of its expiration
 * (uns_expiry_hint) so that a sooner one is not missed; the thread also
 * asks again every second (a test clock moved, a post through another
 * node sharing the store). Reclaims are at least `resolution` apart, so
 * that expiries spread over time cost one write per resolution rather
 * than one per notification: an expiry shows at most that late.
 *
 * Rejected: bounding each parked long poll by the earliest expiry of its
 * feed. The wake alone shows nothing (a follower's cursor is past the
 * notification, and the feed gets its "expired" entry only from reclaim),
 * and the earliest expiry of one feed is a scan of its live notifications
 * (up to max_live) per park where the store's next expiry is one index
 * read. Also rejected: feed reads that make up "expired" entries behind
 * the cursor (a cursor carries no time, so the same entry would come back
 * on every read).
 */
#ifndef UNS_EXPIRY_H
#define UNS_EXPIRY_H

#include <stdint.h>

#include "store.h"

typedef struct uns_expiry uns_expiry;

/* Starts the thread. now_ms (NULL = real time) is the store's clock.
 * resolution_ms: least time between two reclaims, > 0. */
uns_err uns_expiry_open(uns_expiry **out, uns_store *st,
                        int64_t (*now_ms)(void *arg), void *now_arg,
                        uint32_t resolution_ms);
/* Stops and joins the thread; NULL is a no-op. */
void uns_expiry_close(uns_expiry *e);
/* Something expires at when_ms (store clock); 0 and NULL e: nothing. */
void uns_expiry_hint(uns_expiry *e, int64_t when_ms);

#endif /* UNS_EXPIRY_H */
