/*
 * utservice.h — the whole service in one test process: a real RocksDB
 * store under dir/store, HS256 token keys from ut_secret, auth, the
 * service, an RPC server on tcp://127.0.0.1:0 and a client to it.
 *
 * The service tests differ only in what the options name (an injected
 * clock, an apps.conf, the token issuer, push transports, RPC hooks), so
 * they share this one start and stop instead of each wiring the same
 * seven parts in the same order.
 */
#ifndef UNS_UTSERVICE_H
#define UNS_UTSERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "jwt.h"
#include "push.h"
#include "rpc_server.h"
#include "service.h"
#include "store.h"
#include "token_issuer.h"
#include "uns/client.h"

/* The HS256 secret every token of these tests is signed with. */
extern const uint8_t ut_secret[];
extern const size_t ut_secret_len;

typedef struct ut_service_opts {
	int64_t (*clock_ms)(
	    void *arg); /* store, auth and service; NULL = real */
	void *clock_arg;
	const char *apps_conf;      /* loaded into auth, or NULL */
	size_t token_cache;         /* verified tokens remembered; 0 = off */
	int with_issuer;            /* an HS256 issuer with ut_secret */
	uns_push_config *push;      /* borrowed, or NULL */
	const uns_rpc_hooks *hooks; /* or NULL */
	int blocking; /* reads and writes on workers (no inline reads, no
	                 async writes), as unsd with both knobs off */
	/* the service's expiry thread (expiry.h); 0 = off. The store's
	 * periodic reclaim is always off here. */
	uint32_t expiry_resolution_ms;
	/* the token endpoint's limits (token_guard.h); NULL = defaults */
	const struct uns_token_guard_config *token_guard;
	const char *also_listen; /* a second RPC listener (ipc://…), or NULL */
} ut_service_opts;

typedef struct ut_service {
	uns_store *store;
	uns_jwt_keys *keys;
	uns_auth *auth;
	uns_token_issuer *issuer;
	uns_service *svc;
	uns_rpc_server *rpc;
	uns_client *client;
	int64_t (*clock_ms)(void *arg);
	void *clock_arg;
} ut_service;

/* Starts everything (o may be NULL) or fails the test; s must not move
 * until ut_service_stop (auth reads the clock through it). */
void ut_service_start(ut_service *s, const char *dir, const ut_service_opts *o);
void ut_service_stop(ut_service *s);

/* An HS256 token for audience "uns" signed with ut_secret, issued at
 * now_s and valid for an hour, into out (cap bytes); sub, app and host
 * may be NULL. */
void ut_service_mint(char *out, size_t cap, int64_t now_s, const char *sub,
                     const char *app, const char *host, const char *scopes);

#endif /* UNS_UTSERVICE_H */
