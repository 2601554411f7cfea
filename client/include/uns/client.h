/*
 * client.h — libuns client handle and generic calls.
 *
 * A uns_client holds one NNG req0 socket and dials one server URL
 * (tls+tcp://, tcp://, ipc://, inproc://). It is thread-safe: every call runs
 * on its own NNG context, so many calls may be in flight at once on one
 * connection. Requests are never resent by the transport (a Post must not be
 * replayed); a dropped connection fails the calls on it with UNS_UNAVAILABLE.
 *
 * NNG may write to a socket whose peer has gone; a process using libuns
 * should ignore SIGPIPE (unsd and unsctl do).
 *
 * Typed calls (uns_notifications_post() ...) are generated into
 * gen/uns_stubs.h on top of uns_client_call().
 */
#ifndef UNS_CLIENT_H
#define UNS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "uns/method.h"
#include "uns/uns.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uns_client uns_client;

/* Sees one finished exchange: the request and the reply envelope exactly as
 * they crossed the wire. Runs on the thread that finished the call. */
typedef void (*uns_exchange_fn)(void *arg, const uint8_t *req, size_t req_len,
                                const uint8_t *resp, size_t resp_len);

typedef struct uns_client_opts {
	/* TLS, for tls+tcp:// URLs. ca_file is required there. */
	const char *ca_file;
	/* Certificate and key in one PEM file, for mutual TLS; optional. */
	const char *cert_key_file;
	/* Name checked against the server certificate; NULL = the URL's host.
	 * The name is always checked. mbedTLS 2.28 does not match IP SANs, so
	 * dial a DNS name (tls+tcp://localhost:7443). */
	const char *server_name;
	/* Largest reply accepted; 0 = 4 MiB. Requests are held to it too. */
	size_t max_message_bytes;
	/* Deadline of calls whose options give none; 0 = 10 s. */
	uint32_t default_timeout_ms;
	/* Nonzero: return from open without waiting for the first connection
	 * (calls then wait for it, within their deadline). */
	int lazy_connect;
	/* Recording (unsctl record): called for every call that got a
	 * reply. NULL = the process default (uns_set_default_recorder), which
	 * is none. Off costs one NULL test per call. */
	uns_exchange_fn on_exchange;
	void *on_exchange_arg;
} uns_client_opts;

/* Makes fn the recorder of every client opened afterwards whose options
 * name none (NULL turns it off). Set it before opening clients; not
 * synchronised with uns_client_open. */
void uns_set_default_recorder(uns_exchange_fn fn, void *arg);

typedef struct uns_metadata {
	const char *key; /* lower case */
	const char *value;
} uns_metadata;

typedef struct uns_call_opts {
	uint32_t timeout_ms;    /* 0 = the client's default */
	const char *token;      /* bearer token (JWT), or NULL */
	const char *request_id; /* NULL = generated */
	const uns_metadata *metadata;
	size_t n_metadata;
} uns_call_opts;

/*
 * Opens a client and, unless opts->lazy_connect, connects once to surface
 * errors early: UNS_ETLS for an untrusted certificate or a name mismatch (or
 * a server that requires a client certificate we lack), UNS_ECONNECT when
 * nobody listens, UNS_EINVAL for a bad URL. opts may be NULL for non-TLS
 * URLs. After the first connection the client reconnects by itself.
 */
uns_err uns_client_open(uns_client **out, const char *url,
                        const uns_client_opts *opts);

/* Closes the client. Calls still in flight fail with UNS_ECLOSED; async
 * callbacks have all returned when this returns. */
void uns_client_close(uns_client *c);

/*
 * Sends one request and waits for its reply. On UNS_OK, *resp is a message
 * of method->output that the caller frees with
 * protobuf_c_message_free_unpacked(*resp, NULL). On any other code the
 * server's status message (or the local reason) is in uns_last_message().
 */
uns_err uns_client_call(uns_client *c, const uns_method *method,
                        const ProtobufCMessage *req, ProtobufCMessage **resp,
                        const uns_call_opts *opts);

typedef void (*uns_generic_fn)(void);

/* Completion of an async call: err, the status message ("" on OK), the reply
 * (NULL unless UNS_OK; the callback owns it), and the user's fn and arg. */
typedef void (*uns_call_done)(uns_err err, const char *message,
                              ProtobufCMessage *resp, uns_generic_fn fn,
                              void *arg);

/*
 * Starts a call; done(…, fn, arg) runs exactly once on an NNG thread when it
 * ends. If this returns an error, done is never called. Generated typed
 * wrappers pass their typed callback as fn and a trampoline as done.
 */
uns_err uns_client_call_async(uns_client *c, const uns_method *method,
                              const ProtobufCMessage *req,
                              const uns_call_opts *opts, uns_call_done done,
                              uns_generic_fn fn, void *arg);

/*
 * Sends a packed RequestEnvelope exactly as given and waits for the reply
 * (for replaying fixtures). On UNS_OK *resp is the packed ResponseEnvelope
 * (malloc'd; the caller frees it), whatever status it carries. Errors are
 * the transport's, as for uns_client_call, and UNS_EPROTO for a reply that
 * is not an envelope. timeout_ms 0 = the client's default.
 */
uns_err uns_client_call_raw(uns_client *c, const uint8_t *req, size_t req_len,
                            uint32_t timeout_ms, uint8_t **resp,
                            size_t *resp_len);

#ifdef __cplusplus
}
#endif

#endif /* UNS_CLIENT_H */
