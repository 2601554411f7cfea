/*
 * gateway_config.h — the gateway's settings from the configuration
 * (config.h), one mapping for the embedded gateway (server/main.c) and
 * uns-gateway (gateway_main.c), so a new gateway_* key is wired once.
 * What is not in the configuration (the RPC client, ops, metrics, token
 * keys, a certificate made at start) stays the caller's to set.
 */
#ifndef UNS_GATEWAY_CONFIG_H
#define UNS_GATEWAY_CONFIG_H

#include "config.h"
#include "gateway.h"
#include "gateway_ops.h"

/* *gc from c's gateway_* keys and max_body; the rest of *gc zeroed. c must
 * outlive the gateway (strings are borrowed). */
void uns_gateway_opts_from_config(uns_gateway_config *gc, const uns_config *c);

/* *oc's token checks and rate limits from c; metrics, keys and the clock
 * zeroed. */
void uns_gw_ops_opts_from_config(uns_gw_ops_config *oc, const uns_config *c);

#endif /* UNS_GATEWAY_CONFIG_H */
