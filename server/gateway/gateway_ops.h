/*
 * gateway_ops.h — the gateway's operational side: its metrics (requests by
 * route and code, latency, in flight, RPC errors by status) on the
 * server's registry, and its rate limits (token buckets per app and per
 * user, 429 with Retry-After).
 *
 * Callers are told apart by their verified token: an app token's app id,
 * a user token's subject. Tokens are verified here with the server's keys
 * (the RPC verifies them again) so that a forged token cannot spend
 * somebody else's bucket; a token that does not verify is not limited
 * here and fails at the RPC. Without keys (a standalone gateway without
 * jwt_key) nothing is rate limited.
 *
 * Thread-safe: the gateway calls these from every connection thread.
 */
#ifndef UNS_GATEWAY_OPS_H
#define UNS_GATEWAY_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "jwt.h"
#include "metrics.h"

typedef struct uns_gw_ops uns_gw_ops;

typedef struct uns_gw_ops_config {
	uns_metrics *metrics;     /* borrowed; NULL = no metrics */
	const uns_jwt_keys *keys; /* borrowed; NULL = no rate limits */
	const char *audience;     /* as the server's auth checks them */
	const char *issuer;
	int skew_seconds;
	size_t token_cache;             /* verified tokens kept; 0 = none */
	size_t token_max_bytes;         /* longer tokens: no caller; 0 = 8K */
	uint32_t app_rate, app_burst;   /* per app id; rate 0 = off */
	uint32_t user_rate, user_burst; /* per user; rate 0 = off */
	/* wrong secrets at the token endpoint per source address: a burst
	 * refilled token_fail_per_minute a minute; burst 0 = off (unsd's
	 * token_source_fail_burst and _per_minute) */
	uint32_t token_fail_burst, token_fail_per_minute;
	int64_t (*now_us)(void *arg); /* monotonic; NULL = real */
	void *now_arg;
} uns_gw_ops_config;

uns_err uns_gw_ops_open(uns_gw_ops **out, const uns_gw_ops_config *cfg);
void uns_gw_ops_close(uns_gw_ops *ops);

/* The registry GET /metrics writes (NULL when none). */
uns_metrics *uns_gw_ops_metrics(const uns_gw_ops *ops);

/*
 * A request came in (begin), was answered (done: route name, HTTP status,
 * time from headers to response), and is gone (end). begin and end pair
 * up for the in-flight gauge; done comes once per answer. Every function
 * here takes a NULL ops and then does nothing.
 */
void uns_gw_ops_begin(uns_gw_ops *ops);
void uns_gw_ops_done(uns_gw_ops *ops, const char *route, unsigned status,
                     uint64_t latency_us);
void uns_gw_ops_end(uns_gw_ops *ops);

/* A parked request's client closed before its answer. */
void uns_gw_ops_hangup(uns_gw_ops *ops);

/* Long polls parked per feed (gateway_park.h) and the upstream waits they
 * share went up or down by these. */
void uns_gw_ops_parked(uns_gw_ops *ops, double waiters, double feed_waits);

/* An RPC the gateway made for route failed with err. */
void uns_gw_ops_rpc_error(uns_gw_ops *ops, const char *route, uns_err err);

/*
 * Rate limits: 1 to serve the request, 0 to answer 429 with
 * Retry-After: *retry_after_s (≥ 1). token may be NULL.
 */
int uns_gw_ops_admit(uns_gw_ops *ops, const char *token,
                     uint32_t *retry_after_s);

/*
 * The token endpoint's limit per source address (the server keeps one per
 * client id): 1 to pass the request on, 0 to answer 429 with Retry-After:
 * *retry_after_s, before the server spends a secret check on it. Only
 * wrong secrets are charged (uns_gw_ops_token_failed).
 */
int uns_gw_ops_token_admit(uns_gw_ops *ops, const char *source,
                           uint32_t *retry_after_s);
void uns_gw_ops_token_failed(uns_gw_ops *ops, const char *source);

#endif /* UNS_GATEWAY_OPS_H */
