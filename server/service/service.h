/*
 * service.h — the state behind uns.v1.Notifications and its handler table.
 *
 * Without a store (cfg NULL or cfg->store NULL) the service answers Health
 * and Echo, and UNAVAILABLE for everything else.
 */
#ifndef UNS_SERVICE_H
#define UNS_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "rpc_server.h"
#include "uns_methods.h"

typedef struct uns_service uns_service;
struct uns_store;
struct uns_auth;
struct uns_limits;
struct uns_token_issuer;
struct uns_push_config;
struct uns_fairness_config;

typedef struct uns_service_config {
	struct uns_store *store; /* borrowed */
	struct uns_auth *auth;   /* borrowed */
	/* borrowed; NULL = IssueToken answers FAILED_PRECONDITION */
	const struct uns_token_issuer *issuer;
	const struct uns_limits *limits; /* NULL = SPEC §3 defaults */
	/* Subscribe checks push channels with the transports' check()
	 * (push.h); NULL = shape checks only. Borrowed. */
	const struct uns_push_config *push;
	/* What one user or app may hold at once (fairness.h); NULL = the
	 * defaults. */
	const struct uns_fairness_config *fairness;
	/* The token endpoint's limits (token_guard.h); NULL = defaults. */
	const struct uns_token_guard_config *token_guard;
	int64_t (*now_ms)(void *arg); /* NULL = real time */
	void *now_arg;
	/* Reclaim when expiries come, at most this often (expiry.h), so that
	 * long polls see them then; 0 = only the store's periodic reclaim. */
	uint32_t expiry_resolution_ms;
	/* Long polls re-read their feed this often while they wait, for
	 * writes by other nodes whose hint was lost (cluster_recheck);
	 * 0 = never (one node: every write is this process's). */
	uint32_t recheck_ms;
} uns_service_config;

uns_err uns_service_open(uns_service **out, const uns_service_config *cfg);
void uns_service_close(uns_service *svc);
/* Health answers NOT_SERVING once this is set to 0, and long polls end
 * (during drain). */
void uns_service_set_serving(uns_service *svc, int serving);

/* The feed of (user, host) moved on another node (its hint came over
 * NATS, server/cluster): wakes this node's long polls on it, as the
 * service's store observer does for this node's writes. Never blocks. */
void uns_service_feed_moved(uns_service *svc, const char *user,
                            const char *host);

/* Long polls parked now (metrics: uns_long_polls_waiting). */
size_t uns_service_waiting(uns_service *svc);

extern const uns_notifications_handlers uns_service_handlers;
/* The methods whose handlers never block (for uns_rpc_service). */
extern const char *const uns_service_inline_methods[];

/*
 * How the RPC server runs the service (flags of uns_service_rpc).
 *
 * UNS_SERVICE_INLINE_READS: reads that cannot wait (History, Fetch by id or
 * without a long poll) run on the NNG thread that received them, saving two
 * thread switches per call; turn it off when reads go to disk often (a
 * store much bigger than memory), so they cannot hold up NNG's few threads.
 *
 * UNS_SERVICE_ASYNC_WRITES: Post, UpdateState, Delete and Unsubscribe run
 * on the NNG thread up to their store write, which no thread waits for
 * (uns_store_*_async); the store's committer answers them right after the
 * synced write. Without it, they run on a worker that blocks until the
 * write is durable: two more thread switches per write. Same reads (owner's
 * stripe) and the same durability either way; the same caveat about disk
 * reads as for inline reads.
 */
enum {
	UNS_SERVICE_INLINE_READS = 1,
	UNS_SERVICE_ASYNC_WRITES = 2,
	UNS_SERVICE_DEFAULT =
	    UNS_SERVICE_INLINE_READS | UNS_SERVICE_ASYNC_WRITES,
};
uns_rpc_service uns_service_rpc(uns_service *svc, unsigned flags);

#endif /* UNS_SERVICE_H */
