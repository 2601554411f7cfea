/*
 * gateway_ops.c — see gateway_ops.h.
 *
 * Metric names follow Prometheus conventions (base units, _total for
 * counters): uns_http_requests_total{route,code},
 * uns_http_request_duration_seconds{route}, uns_http_requests_in_flight,
 * uns_http_throttled_total{kind}, uns_gateway_rpc_errors_total{route,status},
 * uns_http_hangups_total, uns_http_long_polls_parked, uns_http_feed_waits.
 * Latency buckets run from 1 ms to 60 s, the longest long poll.
 *
 * Verifying a token costs a JSON parse and, for ES256/RS256, a public-key
 * operation (about a millisecond here); the RPC verifies it again anyway.
 * So verified tokens are remembered in the same kind of cache the server's
 * auth keeps (token_cache.h), until their exp: a client that sends one
 * token a thousand times is verified here once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include "auth.h"
#include "gateway_ops.h"
#include "ratelimit.h"
#include "token_cache.h"

typedef struct caller {
	int is_app;
	char id[257]; /* app id or sub */
} caller;

struct uns_gw_ops {
	uns_gw_ops_config cfg;
	uns_token_cache *tokens; /* verified tokens */
	uns_metric *requests, *latency, *in_flight, *throttled, *rpc_errors,
	    *hangups, *parked, *feed_waits;
	uns_ratelimit *apps, *users;
	uns_ratelimit *token_sources; /* wrong secrets per address */
};

static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,  0.1,    0.25,  0.5,  1,
                                        2.5,   5,      10,    30,   60};

static uns_err
register_metrics(uns_gw_ops *ops)
{
	uns_metrics *m = ops->cfg.metrics;
	const char *route_code[] = {"route", "code"};
	const char *route_status[] = {"route", "status"};
	const char *kind[] = {"kind"};
	uns_err err;
	if ((err = uns_metrics_counter(m, "uns_http_requests_total",
	                               "HTTP requests answered, by route and "
	                               "status code.",
	                               route_code, 2, &ops->requests)) !=
	        UNS_OK ||
	    (err = uns_metrics_histogram(
	         m, "uns_http_request_duration_seconds",
	         "Time from request headers to response, by route.", route_code,
	         1, latency_bounds,
	         sizeof(latency_bounds) / sizeof(latency_bounds[0]),
	         &ops->latency)) != UNS_OK ||
	    (err = uns_metrics_gauge(m, "uns_http_requests_in_flight",
	                             "HTTP requests being served.", NULL, 0,
	                             &ops->in_flight)) != UNS_OK ||
	    (err = uns_metrics_counter(m, "uns_http_throttled_total",
	                               "Requests answered 429 by the rate "
	                               "limits, by limit (app, user).",
	                               kind, 1, &ops->throttled)) != UNS_OK) {
		return err;
	}
	if ((err = uns_metrics_counter(m, "uns_http_hangups_total",
	                               "Parked long polls and event streams "
	                               "whose client closed first.",
	                               NULL, 0, &ops->hangups)) != UNS_OK ||
	    (err = uns_metrics_gauge(m, "uns_http_long_polls_parked",
	                             "HTTP long polls parked at the gateway "
	                             "on their feed.",
	                             NULL, 0, &ops->parked)) != UNS_OK ||
	    (err = uns_metrics_gauge(m, "uns_http_feed_waits",
	                             "Upstream Fetch waits the parked long "
	                             "polls share (one per feed).",
	                             NULL, 0, &ops->feed_waits)) != UNS_OK) {
		return err;
	}
	uns_metric_gauge_set(ops->parked, NULL, 0); /* shown from the start */
	uns_metric_gauge_set(ops->feed_waits, NULL, 0);
	return uns_metrics_counter(m, "uns_gateway_rpc_errors_total",
	                           "RPCs made by the gateway that failed, by "
	                           "route and RPC status.",
	                           route_status, 2, &ops->rpc_errors);
}

static uns_err
open_limiter(uns_ratelimit **out, const uns_gw_ops_config *c, uint32_t rate,
             uint32_t burst)
{
	uns_ratelimit_config rc = {.rate = rate,
	                           .burst = burst,
	                           .now_us = c->now_us,
	                           .now_arg = c->now_arg};
	if (rate == 0 || c->keys == NULL) {
		*out = NULL;
		return UNS_OK;
	}
	return uns_ratelimit_open(out, &rc);
}

void
uns_gw_ops_close(uns_gw_ops *ops)
{
	if (ops == NULL) {
		return;
	}
	uns_ratelimit_close(ops->apps);
	uns_ratelimit_close(ops->users);
	uns_ratelimit_close(ops->token_sources);
	uns_token_cache_free(ops->tokens);
	free(ops);
}

uns_err
uns_gw_ops_open(uns_gw_ops **out, const uns_gw_ops_config *cfg)
{
	uns_err err = UNS_ENOMEM;
	uns_gw_ops *ops = calloc(1, sizeof(*ops));
	if (ops == NULL) {
		goto out;
	}
	ops->cfg = *cfg;
	if ((err = uns_token_cache_alloc(&ops->tokens, cfg->token_cache)) !=
	        UNS_OK ||
	    (cfg->metrics != NULL && (err = register_metrics(ops)) != UNS_OK) ||
	    (err = open_limiter(&ops->apps, cfg, cfg->app_rate,
	                        cfg->app_burst)) != UNS_OK ||
	    (err = open_limiter(&ops->users, cfg, cfg->user_rate,
	                        cfg->user_burst)) != UNS_OK) {
		goto out;
	}
	if (cfg->token_fail_burst > 0) {
		uns_ratelimit_config rc = {.rate =
		                               cfg->token_fail_per_minute
		                                   ? cfg->token_fail_per_minute
		                                   : cfg->token_fail_burst,
		                           .per_s = 60,
		                           .burst = cfg->token_fail_burst,
		                           .now_us = cfg->now_us,
		                           .now_arg = cfg->now_arg};
		if ((err = uns_ratelimit_open(&ops->token_sources, &rc)) !=
		    UNS_OK) {
			goto out;
		}
	}
	*out = ops;
	ops = NULL;
	err = UNS_OK;
out:
	uns_gw_ops_close(ops);
	return err;
}

uns_metrics *
uns_gw_ops_metrics(const uns_gw_ops *ops)
{
	return ops ? ops->cfg.metrics : NULL;
}

void
uns_gw_ops_begin(uns_gw_ops *ops)
{
	if (ops != NULL && ops->in_flight != NULL) {
		uns_metric_gauge_add(ops->in_flight, NULL, 1);
	}
}

void
uns_gw_ops_end(uns_gw_ops *ops)
{
	if (ops != NULL && ops->in_flight != NULL) {
		uns_metric_gauge_add(ops->in_flight, NULL, -1);
	}
}

void
uns_gw_ops_done(uns_gw_ops *ops, const char *route, unsigned status,
                uint64_t latency_us)
{
	char code[16];
	if (ops == NULL || ops->requests == NULL) {
		return;
	}
	snprintf(code, sizeof(code), "%u", status);
	const char *rc[] = {route, code};
	uns_metric_add(ops->requests, rc, 1);
	uns_metric_observe(ops->latency, rc, (double)latency_us / 1e6);
}

void
uns_gw_ops_hangup(uns_gw_ops *ops)
{
	if (ops != NULL && ops->hangups != NULL) {
		uns_metric_add(ops->hangups, NULL, 1);
	}
}

void
uns_gw_ops_parked(uns_gw_ops *ops, double waiters, double feed_waits)
{
	if (ops != NULL && ops->parked != NULL) {
		uns_metric_gauge_add(ops->parked, NULL, waiters);
		uns_metric_gauge_add(ops->feed_waits, NULL, feed_waits);
	}
}

void
uns_gw_ops_rpc_error(uns_gw_ops *ops, const char *route, uns_err err)
{
	if (ops == NULL || ops->rpc_errors == NULL || err == UNS_OK) {
		return;
	}
	const char *rs[] = {route, uns_status_name(err)};
	uns_metric_add(ops->rpc_errors, rs, 1);
}

/* The verified caller of token, from the cache or verified now; 0 when
 * the token does not verify. */
static int
caller_of(uns_gw_ops *ops, const char *token, caller *out)
{
	uns_jwt_claims c;
	uns_jwt_policy pol = {
	    .audience = ops->cfg.audience && ops->cfg.audience[0]
	                    ? ops->cfg.audience
	                    : NULL,
	    .issuer =
	        ops->cfg.issuer && ops->cfg.issuer[0] ? ops->cfg.issuer : NULL,
	    .now = (int64_t)time(NULL),
	    .skew_seconds = ops->cfg.skew_seconds,
	    .max_token_bytes = ops->cfg.token_max_bytes};
	if (token == NULL || ops->cfg.keys == NULL) {
		return 0;
	}
	size_t len = strnlen(token, UNS_TOKEN_CACHE_MAX_TOKEN + 1);
	if (!uns_token_cache_get(ops->tokens, token, len, pol.now,
	                         pol.skew_seconds, &c)) {
		if (uns_jwt_verify(ops->cfg.keys, token, &pol, &c, NULL, 0) !=
		    UNS_OK) {
			return 0;
		}
		uns_token_cache_put(ops->tokens, token, len, &c);
	}
	out->is_app = uns_auth_is_app(&c);
	memcpy(out->id, out->is_app ? c.app_id : c.sub, sizeof(out->id));
	return 1;
}

int
uns_gw_ops_admit(uns_gw_ops *ops, const char *token, uint32_t *retry_after_s)
{
	caller c;
	if (ops == NULL || (ops->apps == NULL && ops->users == NULL) ||
	    !caller_of(ops, token, &c)) {
		return 1;
	}
	uns_ratelimit *rl = c.is_app ? ops->apps : ops->users;
	uint32_t retry_ms = 0;
	if (uns_ratelimit_take(rl, c.id, &retry_ms)) {
		return 1;
	}
	if (ops->throttled != NULL) {
		const char *kind[] = {c.is_app ? "app" : "user"};
		uns_metric_add(ops->throttled, kind, 1);
	}
	*retry_after_s = (retry_ms + 999) / 1000;
	return 0;
}

int
uns_gw_ops_token_admit(uns_gw_ops *ops, const char *source,
                       uint32_t *retry_after_s)
{
	uint32_t retry_ms = 0;
	if (ops == NULL || source == NULL ||
	    uns_ratelimit_peek(ops->token_sources, source, &retry_ms)) {
		return 1;
	}
	if (ops->throttled != NULL) {
		const char *kind[] = {"token_source"};
		uns_metric_add(ops->throttled, kind, 1);
	}
	*retry_after_s = (retry_ms + 999) / 1000;
	return 0;
}

void
uns_gw_ops_token_failed(uns_gw_ops *ops, const char *source)
{
	if (ops != NULL && source != NULL) {
		uns_ratelimit_take(ops->token_sources, source, NULL);
	}
}
