/*
 * delivery.h — the delivery engine (SPEC §5): takes due taps from the
 * store's outbox, has the transport of each subscription's platform build
 * the provider request (push.h), sends every request through one curl
 * multi handle, and settles each tap with the store from the provider's
 * answer: delivered, retried later (exponential backoff with jitter,
 * Retry-After honoured), dropped, or the subscription marked dead.
 *
 * Threads: a feeder claims and builds (builds may fetch OAuth tokens, so
 * they stay off the event loop), one event loop runs curl (HTTP/2
 * multiplexing where the provider speaks it, a bounded number of
 * connections per host, connect and total timeouts), and a few settle
 * workers write outcomes to the store: each settle is a synced write, and
 * several in flight share one group commit. The feeder sleeps until the
 * engine's store observer kicks it (a write queued taps) or the earliest due
 * retry or fallback check comes up: no polling for new taps.
 *
 * Circuit breaker, per provider host (the URL's authority): after
 * breaker_failures consecutive failures without an answer or with a 5xx it
 * opens for breaker_open_ms, and taps for that host are deferred without
 * counting an attempt; then one probe goes out (half-open): success closes
 * it, failure opens it again.
 *
 * Metrics (with cfg.metrics): uns_delivery_taps_total{provider,outcome}
 * (outcome: delivered, retry, deferred, dropped, dead),
 * uns_delivery_latency_seconds{provider} (queued to delivered),
 * uns_delivery_inflight, uns_delivery_breaker_opened_total,
 * uns_delivery_fallbacks_total.
 */
#ifndef UNS_SERVER_DELIVERY_H
#define UNS_SERVER_DELIVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "push.h"
#include "store.h"
#include "tapstream.h"

typedef struct uns_delivery uns_delivery;

typedef struct uns_delivery_config {
	uns_store *store;
	/* NULL-terminated; platforms without an entry are not pushed to. */
	const uns_push_transport_ops *const *transports;
	const uns_push_config *push; /* handed to each transport's open() */
	uns_tapstream *stream;       /* NULL = no live tap stream */
	uns_metrics *metrics;        /* NULL = no /metrics families; not written
	                                after uns_delivery_close (a gauge reads the
	                                engine) */
	unsigned max_inflight;       /* claimed, unsettled taps; 0 = 1024 */
	unsigned host_connections;   /* per provider host; 0 = 8 */
	unsigned workers;            /* settle threads; 0 = 4 */
	int64_t connect_timeout_ms;  /* 0 = 5 s */
	int64_t timeout_ms;          /* whole request; 0 = 15 s */
	int64_t backoff_base_ms;     /* first retry; 0 = 1 s */
	int64_t backoff_max_ms;      /* 0 = 1 h */
	unsigned max_attempts;       /* then the tap is dropped; 0 = 25 */
	unsigned breaker_failures;   /* 0 = 10 */
	int64_t breaker_open_ms;     /* 0 = 30 s */
	int64_t lease_ms;            /* claim lease; 0 = 5 min */
	int64_t drain_ms;            /* close waits for in-flight; 0 = 2 s */
	unsigned max_app_labels;     /* app hosts with their own series in
	                                uns_delivery_app_taps_total; 0 = 100 */
	/* The store's clock (due times are compared with it); NULL =
	 * CLOCK_REALTIME, as the store's default. */
	int64_t (*clock)(void *arg);
	void *clock_arg;
} uns_delivery_config;

/* Counters since open, for /metrics and tests. */
typedef struct uns_delivery_stats {
	uint64_t claimed;   /* taps taken from the outbox */
	uint64_t sent;      /* requests handed to curl */
	uint64_t delivered; /* 2xx */
	uint64_t retried;   /* rescheduled after a failure */
	uint64_t deferred;  /* held back by an open breaker */
	uint64_t dropped;   /* refused, no transport, or out of attempts */
	uint64_t dead;      /* subscriptions marked dead */
	uint64_t fallbacks; /* iOS fallback alerts queued */
	uint64_t breaker_opened;
	uint64_t settle_errors; /* store writes that failed (tap re-sent) */
	uint64_t inflight;
	uint64_t latency_ms_sum; /* queued → delivered, over delivered */
	uint64_t latency_ms_max;
} uns_delivery_stats;

/* Opens the transports, adds its store observer and starts the
 * threads. Errors: UNS_EINVAL, UNS_ENOMEM, UNS_INTERNAL (curl), or what a
 * transport's open() returned. */
uns_err uns_delivery_open(uns_delivery **out, const uns_delivery_config *cfg);

/* Stops claiming, waits up to drain_ms for requests in flight, abandons
 * the rest (their taps stay in the outbox and go out after a restart),
 * stops the threads. Call before closing the store. NULL is a no-op. */
void uns_delivery_close(uns_delivery *d);

/* Makes the feeder look at the outbox now. */
void uns_delivery_kick(uns_delivery *d);

void uns_delivery_stats_get(uns_delivery *d, uns_delivery_stats *out);

#endif /* UNS_SERVER_DELIVERY_H */
