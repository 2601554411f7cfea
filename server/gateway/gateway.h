/*
 * gateway.h — the REST gateway: Graph's notifications HTTP/JSON API (SPEC
 * §3) served by libmicrohttpd and mapped onto the RPC service through
 * libuns, the way grpc-gateway fronts gRPC.
 *
 * The gateway owns no state of the service: every route is one RPC on the
 * uns_client it is given (inproc:// inside unsd, tls+tcp:// in the
 * standalone uns-gateway); a long poll is a read, then a wait shared with
 * the other long polls of its feed (gateway_park.h). It runs on an event loop:
 * MHD's epoll with a small pool of polling threads (cfg.threads), and every RPC
 * asynchronous, its connection suspended meanwhile, so a waiting request (a
 * minute-long poll too) holds no thread and the completion does not wake a
 * blocked one. A watchdog closes connections whose headers or body take longer
 * than their deadlines (slowloris), which MHD's own inactivity timeout does
 * not catch.
 *
 * Rejected: thread per connection with blocking RPCs (the former design:
 * a thread per connection and per long poll, and a third of unsd's time in
 * the scheduler handing each answer from an NNG thread to a blocked one),
 * and nng_http_server (no chunked request bodies, no header timeouts, a
 * 40 ms stall per keep-alive TLS response; see stack-notes §3.4).
 */
#ifndef UNS_GATEWAY_H
#define UNS_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "uns/client.h"

typedef struct uns_gateway uns_gateway;
struct uns_gw_ops;

/* Called once per answered request, on an MHD polling thread: the route
 * name ("notifications.create", "unmatched" when no route matched), the
 * HTTP status, and the time from the request's headers to the response. */
typedef void (*uns_gateway_done_fn)(void *arg, const char *route,
                                    unsigned status, uint64_t latency_us);

typedef struct uns_gateway_config {
	const char *listen;         /* http://HOST:PORT or https://HOST:PORT */
	const char *cert_file;      /* PEM certificate, for https:// */
	const char *key_file;       /* PEM key; NULL or "" = in cert_file */
	uns_client *rpc;            /* borrowed; outlives the gateway */
	size_t max_body;            /* request body, decoded too; 0 = 64 KiB */
	size_t max_header;          /* request line + headers; 0 = 32 KiB */
	size_t max_uri;             /* request target; 0 = 8 KiB */
	unsigned max_connections;   /* 0 = 100000 (less if fds are short) */
	unsigned threads;           /* MHD polling threads; 0 = CPUs */
	uint32_t idle_timeout_ms;   /* keep-alive idle; 0 = 60 s */
	uint32_t header_timeout_ms; /* headers complete; 0 = 5 s */
	uint32_t body_timeout_ms;   /* body complete; 0 = 30 s */
	uint32_t rpc_timeout_ms;    /* per RPC, long polls add wait; 0 = 10 s */
	/* The base of every link the gateway writes ("https://uns.example.com",
	 * no path); NULL or "" = scheme://HOST:PORT of listen. Host is never
	 * reflected. */
	const char *public_url;
	/* A body announced over max_body but at most this long is read and
	 * dropped before the 413 (the client then reads it); 0 = 1 MiB. */
	size_t drain_limit;
	uint32_t stream_heartbeat_ms; /* event streams; 0 = 15 s */
	/* long polls parked at once on one feed (user and host); more get
	 * 429 with Retry-After. 0 = no cap. unsd and uns-gateway set it to
	 * max_waits_per_user. */
	unsigned max_waits_per_feed;
	uns_gateway_done_fn on_done; /* optional */
	/* optional: metrics, rate limits, /metrics (gateway_ops.h) */
	struct uns_gw_ops *ops;
	void *on_done_arg;
	/* optional: a parked long poll's client hung up (its connection
	 * closed); request_id is its RPC's. unsd ends that RPC's wait. Runs
	 * on the gateway's watchdog thread, and must not block. */
	void (*hangup)(void *arg, const char *request_id);
	void *hangup_arg;
	/* web apps (gateway_cors.h, gateway_web.c); NULL or "" = off */
	const char *cors_origins; /* "https://a.example …" or "*" */
	const char *web_root;     /* folder served at /web/ */
} uns_gateway_config;

/*
 * Starts serving. Errors: UNS_EINVAL (bad URL or missing rpc client),
 * UNS_EIO (certificate files unreadable, or the address cannot be bound;
 * uns_last_message() says which), UNS_ENOMEM.
 */
uns_err uns_gateway_open(uns_gateway **out, const uns_gateway_config *cfg);

/* The bound TCP port (useful with port 0). */
int uns_gateway_port(const uns_gateway *gw);

/* Stops taking new connections (the port closes at uns_gateway_close);
 * open connections go on being served, but event streams end (cleanly:
 * the client reconnects, elsewhere if it can). For a drain: quiesce, let the
 * RPC side finish, then close. */
void uns_gateway_quiesce(uns_gateway *gw);

/* Stops listening and taking RPCs, answers the parked long polls at once
 * (503), gives other requests up to rpc_timeout_ms to be answered (then
 * 503 too), closes every connection and frees the gateway. Completions
 * arriving later touch nothing freed. NULL is a no-op. */
void uns_gateway_close(uns_gateway *gw);

#endif /* UNS_GATEWAY_H */
