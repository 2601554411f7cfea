/*
 * rpc_metrics.h — the RPC server's calls by method and status as a
 * Prometheus counter, uns_rpc_calls_total{method,status}, fed by the
 * server's reply hook (uns_rpc_hooks.on_reply). Errors by status are the
 * series with status other than "OK". Labels come from closed sets: the
 * generated method table ("unknown" for anything else) and the status
 * names.
 */
#ifndef UNS_RPC_METRICS_H
#define UNS_RPC_METRICS_H

#include "metrics.h"
#include "uns/method.h"

typedef struct uns_rpc_metrics uns_rpc_metrics;

/* Registers the family on m (borrowed; outlives the result). */
uns_err uns_rpc_metrics_open(uns_rpc_metrics **out, uns_metrics *m);
void uns_rpc_metrics_close(uns_rpc_metrics *rm);

/* The reply hook: pass uns_rpc_metrics_on_reply with rm as its arg. */
void uns_rpc_metrics_on_reply(void *rm, const uns_method *method, uns_err code);

#endif /* UNS_RPC_METRICS_H */
