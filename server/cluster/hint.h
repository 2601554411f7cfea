/*
 * hint.h — wake-ups across the nodes of a cluster: after every durable
 * write that moved a feed, this node tells the others over core NATS
 * ("the feed of (user, host) moved to head"), and hands the hints the
 * others send to a callback that wakes this node's waiters. The one user
 * of libnats.
 *
 * A hint is never the truth: the receiver re-reads the feed (so repeats
 * and reordering are harmless), and a lost one only delays a wake-up until
 * the waiters' re-check (cluster_recheck, feedwait.h). So core NATS, at
 * most once, is enough: no JetStream, no acknowledgements.
 *
 * Publishing never blocks the writer: its store observer (store.h)
 * encodes the hint onto a bounded queue (cfg.queue hints; a full queue
 * drops and counts) and one thread of ours hands the queue to the NATS
 * connection, which batches them into its socket writes. The connection
 * is opened with retries: unsd starts and serves while NATS is down (it
 * says so once) and keeps retrying every reconnect_wait_ms, forever;
 * what is published meanwhile waits in libnats' small reconnect buffer
 * or is dropped and counted. The server does not echo a node's own hints
 * back to it (NoEcho).
 *
 * Metrics (with cfg.metrics): uns_cluster_hints_published_total,
 * uns_cluster_hints_received_total, uns_cluster_hints_dropped_total
 * {reason: queue (our queue full), publish (NATS refused it), malformed
 * (a received hint that does not decode), slow (NATS dropped hints this
 * node did not take fast enough)}, uns_cluster_nats_connected (1 or 0).
 */
#ifndef UNS_HINT_H
#define UNS_HINT_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "store.h"
#include "uns/uns.h"

typedef struct uns_hint uns_hint;

/* A remote node's hint; on a NATS thread, so it must not block. taps: 1
 * when the write queued taps for delivery. */
typedef void (*uns_hint_fn)(void *arg, const char *user, const char *host,
                            uint64_t head, int taps);

typedef struct uns_hint_config {
	const char *url;  /* NATS server(s), comma-separated */
	uns_store *store; /* observed: its writes are published; NULL = none */
	uns_hint_fn fn;   /* remote hints; NULL = publish only */
	void *arg;
	uns_metrics *metrics;  /* NULL = no /metrics families */
	const char *name;      /* the connection's name at the server; NULL =
	                          "unsd" */
	unsigned queue;        /* hints waiting to be published; 0 = 8192 */
	int reconnect_wait_ms; /* between attempts; 0 = 250 */
} uns_hint_config;

typedef struct uns_hint_stats {
	uint64_t published, received;
	uint64_t dropped_queue, dropped_publish, malformed, slow;
} uns_hint_stats;

/* Connects (or starts retrying), subscribes, registers the store's hint
 * hook. UNS_EINVAL for a URL NATS cannot use; UNS_ENOMEM. The failure's
 * reason is in uns_last_message(). */
uns_err uns_hint_open(uns_hint **out, const uns_hint_config *cfg);

/* Unregisters the hook, publishes what is queued if connected, closes.
 * No callback runs after it returns. NULL is a no-op. */
void uns_hint_close(uns_hint *h);

/* Queues a hint (what the store hook does); never blocks. */
void uns_hint_publish(uns_hint *h, const char *user, const char *host,
                      uint64_t head, size_t taps);

/* 1 while connected to a NATS server. */
int uns_hint_connected(uns_hint *h);

void uns_hint_stats_get(uns_hint *h, uns_hint_stats *out);

#endif /* UNS_HINT_H */
