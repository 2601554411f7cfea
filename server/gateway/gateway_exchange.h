/*
 * gateway_exchange.h — one HTTP request and its response, as the gateway's
 * route handlers see it (internal to server/gateway*.c).
 *
 * The core (gateway.c) fills the request half: method, path, captured path
 * parameters, the decoded body, the bearer token, the request id; handlers
 * read headers and query arguments through uns_gw_header/uns_gw_query and
 * answer with exactly one uns_gw_reply_* or uns_gw_fail* call, or hand the
 * request to its RPC with uns_gw_call (the answer is then written by the
 * finish function when the RPC ends). A handler that answers nothing gets
 * a 500, so a forgotten branch is visible.
 */
#ifndef UNS_GATEWAY_EXCHANGE_H
#define UNS_GATEWAY_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "json_buf.h"
#include "json_value.h"
#include "uns/client.h"
#include "uns/method.h"

#define UNS_GW_MAX_PARAMS     2
#define UNS_GW_PARAM_MAX      1024
#define UNS_GW_MAX_RESP_HDRS  6
#define UNS_GW_REQUEST_ID_MAX 40

typedef struct uns_gw_exchange {
	/* request */
	const char *method;  /* "GET" */
	const char *path;    /* after the version prefix: "/me/notifications" */
	const char *version; /* "beta", "v1.0", or "" for unversioned routes */
	/* {} captures, UNS_GW_MAX_PARAMS of them: allocated by the route
	 * match that captures (free()d with the exchange), else NULL */
	char (*params)[UNS_GW_PARAM_MAX];
	const char *body; /* decoded (Content-Encoding undone); may be NULL */
	size_t body_len;
	const char *token; /* bearer token, or NULL */
	char request_id[UNS_GW_REQUEST_ID_MAX];
	char base_url[512]; /* "https://host:port", for links */
	uns_client *rpc;
	uint32_t rpc_timeout_ms;
	void *conn;                     /* struct MHD_Connection * */
	struct uns_gw_ops *ops;         /* metrics and limits, or NULL */
	const char *route;              /* the route's name, once matched */
	char rpc_message[512];          /* the status message of a failed RPC */
	const char *web_root;           /* GET /web/'s folder; "" = off */
	struct uns_gw_streams *streams; /* event streams (gateway_stream.h) */
	uint64_t wait_until_us; /* a long poll's deadline (clock.h), or 0 */

	/* response */
	unsigned status; /* 0 until answered */
	char *resp_body; /* malloc'd, or NULL */
	size_t resp_len;
	const char *resp_type;
	void *resp_stream; /* struct MHD_Response * of an event stream, or
	                      NULL: resp_body is the answer */
	/* UNS_GW_MAX_RESP_HDRS, allocated at the first (free()d with the
	 * exchange): a parked long poll carries none of these 6 KiB */
	struct uns_gw_resp_hdr {
		char name[32];
		char value[1024];
	} * resp_hdrs;
	int n_resp_hdrs;
} uns_gw_exchange;

/* A request header (case-insensitive name) or query argument (decoded);
 * NULL when absent. */
const char *uns_gw_header(const uns_gw_exchange *x, const char *name);
const char *uns_gw_query(const uns_gw_exchange *x, const char *name);
/* The client's address, numeric ("127.0.0.1", "::1"); "" when unknown. */
void uns_gw_client_address(const uns_gw_exchange *x, char *out, size_t cap);

/* Adds a response header (copied; silently dropped beyond the limit). */
void uns_gw_set_header(uns_gw_exchange *x, const char *name, const char *value);

/* Answers with value as JSON (steals the reference). */
void uns_gw_reply_json(uns_gw_exchange *x, unsigned status, uns_jv *value);
/* Answers with the JSON text written into b (taken: b is empty after);
 * a failure kept in b answers 500 as uns_gw_reply_json does. */
void uns_gw_reply_json_buf(uns_gw_exchange *x, unsigned status,
                           uns_json_buf *b);
/* Answers with body (malloc'd, NUL-terminated; taken) of the given type. */
void uns_gw_reply_text(uns_gw_exchange *x, unsigned status, const char *type,
                       char *body);
/* Answers with an empty body (204, or 200 with nothing to say). */
void uns_gw_reply_empty(uns_gw_exchange *x, unsigned status);

/* Answers with Graph's error envelope: code such as "BadRequest". */
void uns_gw_fail(uns_gw_exchange *x, unsigned status, const char *code,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Answers a failed RPC: its status mapped to HTTP (see gateway_errors.h),
 * x->rpc_message as the message. */
void uns_gw_fail_rpc(uns_gw_exchange *x, uns_err err);

/* Call options for an RPC made for x: its token, request id, timeout. */
uns_call_opts uns_gw_call_opts(const uns_gw_exchange *x, uint32_t extra_ms);

/* Writes the answer once the RPC started by uns_gw_call has ended: err is
 * its status (x->rpc_message the server's message), resp its reply (NULL
 * unless UNS_OK; the core frees it after). Runs on an MHD thread. */
typedef void (*uns_gw_finish_fn)(uns_gw_exchange *x, uns_err err,
                                 ProtobufCMessage *resp);

typedef struct uns_gw_call_spec {
	const uns_method *method;
	uint32_t extra_ms; /* added to the deadline (a long poll's wait) */
	int long_poll;     /* the gateway's close ends it at once (503) */
	int anonymous;     /* sent without x's token (the token endpoint) */
	const uns_metadata *metadata; /* sent with the call, or NULL */
	size_t n_metadata;
	uns_gw_finish_fn finish;
} uns_gw_call_spec;

/*
 * Starts spec->method's RPC with req (packed before this returns: req may
 * be freed then) and parks the request: the handler returns at once and
 * its connection is suspended, holding no thread, until the RPC ends and
 * spec->finish writes the answer. Once the gateway is closing, or when the
 * call cannot start, finish sees the error (UNS_UNAVAILABLE: "the gateway
 * is shutting down"). The last thing a handler does.
 */
void uns_gw_call(uns_gw_exchange *x, const uns_gw_call_spec *spec,
                 const ProtobufCMessage *req);

/* Why a long poll parked with uns_gw_park is back (on its MHD thread). */
typedef enum uns_gw_wake {
	UNS_GW_WAKE_READ,    /* the feed may have moved: read it again */
	UNS_GW_WAKE_ANSWER,  /* the shared wait's page is the answer: it read
	                        this feed from this cursor, and x may take it
	                        (uns_gw_park's shareable) */
	UNS_GW_WAKE_EXPIRED, /* the deadline came: answer with nothing new */
	UNS_GW_WAKE_ALONE,   /* it cannot share a wait (no user or host in
	                        its token): wait upstream on its own */
} uns_gw_wake;

/* cursor: the one given to uns_gw_park; deadline_us as given; page the
 * shared wait's answer (a Fetch response) for UNS_GW_WAKE_ANSWER, else
 * NULL, valid during the call. */
typedef void (*uns_gw_wake_fn)(uns_gw_exchange *x, uns_gw_wake why,
                               const char *cursor, uint64_t deadline_us,
                               const ProtobufCMessage *page);

/*
 * Parks a long poll whose read (a uns_gw_call of Fetch, wait_ms 0) came
 * back empty with cursor: it waits with the other long polls of its token's
 * feed on one upstream wait (gateway_park.h) until wake(x, …) runs. The
 * gateway answers the rest itself: 429 with Retry-After over the per-feed
 * cap, 503 when it closes, the shared wait's error, nothing when the
 * client hangs up. The last thing a finish function does; wake may run
 * before this returns (UNS_GW_WAKE_READ when the read predates the feed's
 * wait, ALONE when the token names no feed). shareable: the shared wait's
 * page (the feed from the same cursor, the server's default page size,
 * nothing marked as fetched by a device) would be x's own answer, so a
 * wake may hand it over (UNS_GW_WAKE_ANSWER) instead of a read again.
 */
void uns_gw_park(uns_gw_exchange *x, const char *cursor, uint64_t deadline_us,
                 int shareable, uns_gw_wake_fn wake);

#endif /* UNS_GATEWAY_EXCHANGE_H */
