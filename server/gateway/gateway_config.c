/*
 * gateway_config.c — see gateway_config.h. Field by field, with the casts
 * from the key table's integer types; the key table's ranges keep every
 * value within its field.
 */
#include "gateway_config.h"

void
uns_gateway_opts_from_config(uns_gateway_config *gc, const uns_config *c)
{
	*gc = (uns_gateway_config){
	    .listen = c->gateway_listen,
	    .cert_file = c->gateway_cert,
	    .key_file = c->gateway_key,
	    .max_body = (size_t)c->max_body,
	    .max_header = (size_t)c->gateway_max_header,
	    .max_uri = (size_t)c->gateway_max_uri,
	    .max_connections = (unsigned)c->gateway_max_connections,
	    .threads = (unsigned)c->gateway_threads,
	    .idle_timeout_ms = (uint32_t)c->gateway_idle_timeout_ms,
	    .header_timeout_ms = (uint32_t)c->gateway_header_timeout_ms,
	    .body_timeout_ms = (uint32_t)c->gateway_body_timeout_ms,
	    .rpc_timeout_ms = (uint32_t)c->gateway_rpc_timeout_ms,
	    .public_url = c->gateway_public_url,
	    .drain_limit = (size_t)c->gateway_drain_limit,
	    .stream_heartbeat_ms = (uint32_t)c->gateway_stream_heartbeat_ms,
	    .max_waits_per_feed = (unsigned)c->max_waits_per_user,
	    .cors_origins = c->gateway_cors_origins,
	    .web_root = c->gateway_web_root,
	};
}

void
uns_gw_ops_opts_from_config(uns_gw_ops_config *oc, const uns_config *c)
{
	*oc = (uns_gw_ops_config){
	    .audience = c->jwt_audience,
	    .issuer = c->jwt_issuer,
	    .skew_seconds = (int)c->jwt_clock_skew_s,
	    .token_cache = (size_t)c->token_cache,
	    .token_max_bytes = (size_t)c->token_max_bytes,
	    .app_rate = (uint32_t)c->rate_limit_app,
	    .app_burst = (uint32_t)c->rate_limit_app_burst,
	    .user_rate = (uint32_t)c->rate_limit_user,
	    .user_burst = (uint32_t)c->rate_limit_user_burst,
	    .token_fail_burst = (uint32_t)c->token_source_fail_burst,
	    .token_fail_per_minute = (uint32_t)c->token_source_fail_per_minute,
	};
}
