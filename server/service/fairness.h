/*
 * fairness.h — what one caller may hold of the server at once, so that one
 * user or app can never slow another: calls in progress and long polls
 * waiting, per user and per app (caps.h), and requests per second, per
 * user and per app (ratelimit.h; the gateway's limits, on the RPC path).
 *
 * In a cluster (several unsd on one PostgreSQL store), nodes() answers the
 * live node count and each node enforces 1/n of the per-user limits (calls
 * in progress, long polls waiting: ceil(cap / n); the user's rate: each
 * request takes n tokens), so a user's total over the cluster stays near
 * the configured limit (docs/cluster.md says how near). Per-app limits
 * stay per node.
 *
 * A refusal is RESOURCE_EXHAUSTED with a message that names the limit and
 * ends "retry after N s" (the gateway turns it into 429 and Retry-After).
 * What a call holds is given back after its reply is packed (uns_call_defer).
 */
#ifndef UNS_FAIRNESS_H
#define UNS_FAIRNESS_H

#include <stdint.h>

#include "auth.h"
#include "call.h"

typedef struct uns_fairness uns_fairness;

typedef struct uns_fairness_config {
	uint32_t calls_per_user; /* calls in progress; 0 = no cap */
	uint32_t calls_per_app;
	uint32_t waits_per_user; /* long polls waiting; 0 = no cap */
	uint32_t waits_per_app;
	uint32_t rate_app, rate_app_burst; /* per second; 0 = no limit */
	uint32_t rate_user, rate_user_burst;
	/* The live nodes sharing the per-user limits; NULL = 1 (each node
	 * the whole limits). */
	unsigned (*nodes)(void *arg);
	void *nodes_arg;
} uns_fairness_config;

/* The defaults (docs/unsd.conf.example has the same). */
void uns_fairness_defaults(uns_fairness_config *c);

uns_err uns_fairness_open(uns_fairness **out, const uns_fairness_config *cfg);
void uns_fairness_close(uns_fairness *f);

/* Admits an authorized call of p: its rate, then a slot among its calls in
 * progress, held until the reply is packed. NULL f admits everything. */
uns_err uns_fairness_admit(uns_fairness *f, uns_call *call,
                           const uns_principal *p);
/* A slot among the long polls waiting of (user, host), held until the
 * reply is packed. */
uns_err uns_fairness_wait(uns_fairness *f, uns_call *call, const char *user,
                          const char *host);

#endif /* UNS_FAIRNESS_H */
