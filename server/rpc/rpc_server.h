/*
 * rpc_server.h — the RPC server: one rep0 socket, N NNG contexts receiving
 * (more opened on demand for calls that suspend: long polls and writes
 * waiting for their sync hold none of the N), a worker pool for the
 * handlers, and the generated method table of one service.
 *
 * Life cycle: open (socket + first listener) → listen (more URLs, e.g. an
 * inproc:// one for the embedded gateway) → start → drain → close.
 */
#ifndef UNS_RPC_SERVER_H
#define UNS_RPC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "uns/method.h"
#include "uns/v1/rpc.pb-c.h"

typedef struct uns_rpc_server uns_rpc_server;

typedef struct uns_rpc_config {
	const char *url;           /* tls+tcp://, tcp://, ipc://, inproc:// */
	const char *cert_key_file; /* server cert + key (PEM), for tls+tcp */
	const char *ca_file;       /* CA for client certificates */
	int require_client_cert;   /* mutual TLS: refuse peers without one */
	size_t max_message_bytes;  /* 0 = 4 MiB, both directions */
	int contexts;              /* contexts receiving at once; 0 = 128 */
	int max_contexts;          /* with the suspended calls; 0 = 200000 */
	int workers; /* handler threads; 0 = one per receiving context */
	uint32_t default_timeout_ms; /* calls that give none; 0 = 30 s */
	uint32_t drain_linger_ms;    /* after the last reply; 0 = 200 ms */
	/* A TCP connection must be a pipe (TLS handshake and SP header done)
	 * this long after it was accepted, or it is shut down
	 * (handshake_guard.h); 0 = 5 s. */
	uint32_t handshake_timeout_ms;
} uns_rpc_config;

typedef struct uns_rpc_service {
	const uns_service_desc
	    *desc;            /* generated, e.g. &uns_notifications_service */
	const void *handlers; /* the generated handler struct */
	void *ctx;            /* reaches handlers as uns_call_ctx() */
	/* Full names of methods whose handlers never block, answered on the
	 * NNG thread without a worker hop; NULL-terminated, or NULL. */
	const char *const *inline_methods;
	/* Per call, for the other methods: nonzero runs this request's
	 * handler on the NNG thread too (a read that will not wait, a write
	 * that suspends instead of waiting). NULL = never. */
	int (*runs_inline)(void *ctx, const uns_method *m,
	                   const ProtobufCMessage *req);
} uns_rpc_service;

typedef struct uns_rpc_stats {
	uint64_t received; /* requests taken off the wire */
	uint64_t replied;  /* replies handed to the transport */
	uint64_t failed;   /* replies with a non-OK status */
	uint64_t rejected; /* undecodable requests */
	uint64_t contexts; /* open now: receiving, working, waiting, spare */
} uns_rpc_stats;

/* Optional hooks (unsd --record, the test clock, metrics); unset ones cost one
 * test per call. before_call runs just before a handler, on its thread.
 * on_exchange sees every call whose envelope decoded, once its reply is
 * packed: the request envelope re-packed, the reply as it will be sent; it
 * runs on the worker or NNG thread that answered, so it must be quick and
 * thread-safe. on_reply sees every reply with its status (metrics);
 * method is NULL for requests that named none we know; it must not
 * block. */
typedef struct uns_rpc_hooks {
	void (*before_call)(void *arg, const Uns__V1__RequestEnvelope *req);
	void *before_call_arg;
	void (*on_exchange)(void *arg, const uint8_t *req, size_t req_len,
	                    const uint8_t *resp, size_t resp_len);
	void *on_exchange_arg;
	void (*on_reply)(void *arg, const uns_method *method, uns_err code);
	void *on_reply_arg;
} uns_rpc_hooks;

uns_err uns_rpc_server_open(uns_rpc_server **out, const uns_rpc_config *cfg,
                            const uns_rpc_service *svc);
/* Adds a listener (same TLS settings for tls+tcp URLs); before start. */
uns_err uns_rpc_server_listen(uns_rpc_server *s, const char *url);
/* Sets the hooks (copied); before start. */
void uns_rpc_server_set_hooks(uns_rpc_server *s, const uns_rpc_hooks *h);
uns_err uns_rpc_server_start(uns_rpc_server *s);
/* The TCP port of the first listener (useful with port 0); 0 if none. */
int uns_rpc_server_port(uns_rpc_server *s);
/*
 * Stops taking requests and finishes the ones it has: idle
 * contexts stop receiving, every request already received is answered,
 * the replies get drain_linger_ms to leave, then listeners and pipes close.
 */
void uns_rpc_server_drain(uns_rpc_server *s);
/* Drains if not yet drained, then frees everything. */
void uns_rpc_server_close(uns_rpc_server *s);
/* The caller of the waiting calls (uns_call_on_hangup) with this request
 * id went away without its connection closing (a client of the embedded
 * gateway): their hooks run, as when a pipe goes away. */
void uns_rpc_server_hangup(uns_rpc_server *s, const char *request_id);
void uns_rpc_server_stats(uns_rpc_server *s, uns_rpc_stats *out);

#endif /* UNS_RPC_SERVER_H */
