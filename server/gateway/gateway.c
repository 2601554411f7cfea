/*
 * gateway.c — see gateway.h. The HTTP side: libmicrohttpd daemon, request
 * life cycle, limits, request ids, the response and the completion hook.
 *
 * MHD calls the access handler several times per request: once when the
 * headers are complete (checks that need no body decide here, before any
 * work: framing (one Content-Length, not with Transfer-Encoding; Expect),
 * Host, %00 in the target, OData options, unknown route, forbidden
 * headers, bad encoding or type, Content-Length over the limit), once per
 * chunk of body (collected up to max_body; beyond it, and after an answer
 * decided from the headers, the rest is read and dropped so the answer
 * reaches the client on a kept-alive connection), and once at the end
 * (decode, dispatch to the route's handler). MHD handles chunked request
 * bodies and "Expect: 100-continue" itself. Links are built from the
 * configured public URL, never from Host.
 *
 * A handler ends with uns_gw_call: the RPC starts asynchronously and the
 * connection is suspended (MHD_suspend_connection) inside the access
 * handler, before the call can end, since resuming a connection that is
 * not suspended is undefined. The completion (an NNG thread) stores the
 * result and calls MHD_resume_connection, which in MHD's daemon.c only
 * marks the connection (under the daemon's cleanup mutex) and wakes its
 * polling thread; the connection is moved back and processed on that
 * thread, after the access handler that suspended it has returned, so a
 * completion racing the handler is safe. MHD then calls the access handler once
 * more; it runs the route's finish and queues the answer there.
 *
 * The state a call shares with its completion (gw_call) is counted: the
 * request holds one reference, the completion the other, so a completion
 * after the request is gone (or the gateway closed) touches only the call.
 * Parked calls are listed under gw->mu: the close resumes each one (long
 * polls at once with a 503, the rest after up to one RPC deadline), as
 * MHD_stop_daemon requires no suspended connection. Connections the
 * kernel accepted after the quiesce are handed to MHD before the listen
 * socket closes, so none is reset with its request unanswered.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "clock.h"
#include "gateway.h"
#include "gateway_cors.h"
#include "gateway_encoding.h"
#include "gateway_errors.h"
#include "gateway_exchange.h"
#include "gateway_head.h"
#include "gateway_ops.h"
#include "gateway_park.h"
#include "gateway_routes.h"
#include "gateway_url.h"
#include "gateway_stream.h"
#include "errors.h"
#include "files.h"
#include "gateway_watchdog.h"

#define DEFAULT_MAX_BODY   (64 * 1024)
#define DEFAULT_MAX_CONNS  100000
#define FD_RESERVE         64 /* descriptors kept for files, RPC, logs */
#define LISTEN_BACKLOG     4096
#define DEFAULT_MAX_HEADER (32 * 1024)
#define DEFAULT_MAX_URI    (8 * 1024)
#define JSON_TYPE          "application/json; charset=utf-8"

/* GnuTLS priorities of the https listener: TLS 1.2 and 1.3 only, AEAD
 * ciphers only (AES-GCM, ChaCha20-Poly1305; no CBC, so no SHA-1 MAC), and
 * forward-secret key exchange only on TLS 1.2 (TLS 1.3 has no other). */
#define TLS_PRIORITIES                                                         \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:"              \
	"+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:"         \
	"-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

struct uns_gateway {
	uns_gateway_config cfg;
	struct MHD_Daemon *daemon;
	char *cert_pem, *key_pem;
	char scheme[8];
	char listen_host[256];
	char public_url[512]; /* the base of links; Host is never used */
	/* on_uri's marks: the address of marks[m] is the mark m
	 * (UNS_GW_HEAD_*), marks[0] is never used (no mark is NULL) */
	char marks[4];
	int port;
	int quiesced_fd;   /* the listen socket after quiesce, or -1 */
	atomic_int active; /* requests from headers to response sent */
	uns_gw_watchdog *watchdog;
	uns_gw_streams *streams; /* event streams open */
	uns_gw_feeds *feeds;     /* long polls parked per feed */
	pthread_mutex_t mu;      /* closing, parked */
	int closing;             /* no new RPCs: they answer 503 */
	struct gw_call *parked;  /* calls whose connection is suspended */
};

/* An RPC in flight for a parked request (see the top of this file). */
typedef struct gw_call {
	pthread_mutex_t mu;
	int refs;      /* the request's and the completion's */
	int done;      /* the RPC ended: err, message, resp are set */
	int abandoned; /* the close resumed the connection first */
	int hung_up;   /* the client closed first (and resumed it) */
	int long_poll;
	struct MHD_Connection *conn;
	uns_gateway *gw;
	uns_gw_watched *watched; /* armed for the hang-up, or NULL */
	const char *request_id;  /* the exchange's */
	uns_err err;
	char message[512];
	ProtobufCMessage *resp;
	uns_gw_finish_fn finish;
	struct gw_call *prev, *next; /* gw->parked */
} gw_call;

/* One request, from its headers to its answer (MHD's con_cls). */
typedef struct gw_request {
	uns_gw_exchange x; /* first: uns_gw_call finds the request from it */
	uns_gateway *gw;
	const uns_gw_route *route;
	gw_call *call;       /* parked on this RPC, or NULL */
	uint64_t started_us; /* monotonic; nng_clock() counts whole ms */
	uint64_t called_us;  /* when the last RPC was sent */
	/* parked on its feed (uns_gw_park): the waiter, the route's wake,
	 * the cursor and deadline it gave */
	uns_gw_waiter waiter;
	uns_gw_wake_fn wake;
	char *park_cursor;
	int parked;
	char *raw; /* body as received */
	size_t raw_len, raw_cap;
	int no_memory; /* a chunk could not be kept: 500 */
	int too_large; /* body over max_body: the rest is dropped */
	int marks;     /* UNS_GW_HEAD_* of the raw request target */
	int answered;  /* answered from the headers alone */
	int sent;      /* the answer is queued */
} gw_request;

/* ---- small helpers ----------------------------------------------------- */

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A random UUID (version 4), as Graph's request ids are. */
static void
make_request_id(char *out, size_t cap)
{
	uint32_t r[4];
	for (int i = 0; i < 4; i++) {
		r[i] = nng_random();
	}
	snprintf(out, cap, "%08x-%04x-4%03x-%04x-%04x%08x", r[0], r[1] >> 16,
	         r[1] & 0xfff, (r[2] >> 16 & 0x3fff) | 0x8000, r[2] & 0xffff,
	         r[3]);
}

/* The watchdog's handle of conn (MHD's socket context). */
static uns_gw_watched *
watched_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* ---- the exchange API (gateway_exchange.h) ------------------------------ */

const char *
uns_gw_header(const uns_gw_exchange *x, const char *name)
{
	return MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, name);
}

void
uns_gw_client_address(const uns_gw_exchange *x, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
	    x->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	socklen_t len = sa && sa->sa_family == AF_INET6
	                    ? sizeof(struct sockaddr_in6)
	                    : sizeof(struct sockaddr_in);
	if (sa == NULL || getnameinfo(sa, len, out, (socklen_t)cap, NULL, 0,
	                              NI_NUMERICHOST) != 0) {
		snprintf(out, cap, "%s", "");
	}
}

const char *
uns_gw_query(const uns_gw_exchange *x, const char *name)
{
	return MHD_lookup_connection_value(x->conn, MHD_GET_ARGUMENT_KIND,
	                                   name);
}

void
uns_gw_set_header(uns_gw_exchange *x, const char *name, const char *value)
{
	if (x->n_resp_hdrs >= UNS_GW_MAX_RESP_HDRS ||
	    (x->resp_hdrs == NULL &&
	     (x->resp_hdrs = calloc(UNS_GW_MAX_RESP_HDRS,
	                            sizeof(*x->resp_hdrs))) == NULL)) {
		return;
	}
	snprintf(x->resp_hdrs[x->n_resp_hdrs].name,
	         sizeof(x->resp_hdrs[0].name), "%s", name);
	snprintf(x->resp_hdrs[x->n_resp_hdrs].value,
	         sizeof(x->resp_hdrs[0].value), "%s", value);
	x->n_resp_hdrs++;
}

static void
set_body_len(uns_gw_exchange *x, unsigned status, char *body, size_t len,
             const char *type)
{
	free(x->resp_body);
	x->status = status;
	x->resp_body = body;
	x->resp_len = len;
	x->resp_type = type;
}

static void
set_body(uns_gw_exchange *x, unsigned status, char *body, const char *type)
{
	set_body_len(x, status, body, body ? strlen(body) : 0, type);
}

void
uns_gw_reply_json(uns_gw_exchange *x, unsigned status, uns_jv *value)
{
	char *text = NULL;
	if (value == NULL || uns_jv_dump(value, 0, &text, NULL) != UNS_OK) {
		text = NULL;
	}
	uns_jv_free(value);
	if (text == NULL) {
		uns_gw_fail(x, 500, "InternalServerError",
		            "the response could not be written as JSON");
		return;
	}
	set_body(x, status, text, JSON_TYPE);
}

void
uns_gw_reply_json_buf(uns_gw_exchange *x, unsigned status, uns_json_buf *b)
{
	char *text = NULL;
	size_t len = 0;
	if (uns_json_buf_take(b, &text, &len) != UNS_OK) {
		uns_gw_fail(x, 500, "InternalServerError",
		            "the response could not be written as JSON");
		return;
	}
	set_body_len(x, status, text, len, JSON_TYPE);
}

void
uns_gw_reply_text(uns_gw_exchange *x, unsigned status, const char *type,
                  char *body)
{
	set_body(x, status, body, type);
}

void
uns_gw_reply_empty(uns_gw_exchange *x, unsigned status)
{
	set_body(x, status, NULL, NULL);
}

/* Bytes JSON cannot carry (from a client's input quoted in a message)
 * become '?', so the envelope can always be written. */
static void
ascii_only(char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s >= 0x80 || (unsigned char)*s < 0x20) {
			*s = '?';
		}
	}
}

void
uns_gw_fail(uns_gw_exchange *x, unsigned status, const char *code,
            const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	uns_jv *env = uns_gw_error_envelope(code, msg, x->request_id, now_ms());
	if (env == NULL) {
		ascii_only(msg);
		env = uns_gw_error_envelope(code, msg, x->request_id, now_ms());
	}
	char *text = NULL;
	if (env == NULL || uns_jv_dump(env, 0, &text, NULL) != UNS_OK) {
		text = NULL;
	}
	uns_jv_free(env);
	set_body(x, status, text, JSON_TYPE);
	if (text == NULL) {
		x->status = 500;
	}
}

void
uns_gw_fail_rpc(uns_gw_exchange *x, uns_err err)
{
	char msg[1024];
	uns_gw_http_message(x->rpc_message, msg, sizeof(msg));
	uns_gw_status st = uns_gw_status_of(err, msg);
	uns_gw_ops_rpc_error(x->ops, x->route ? x->route : "unmatched", err);
	if (st.http == 429) { /* the server's "retry after N s", else 1 */
		const char *ra = strstr(msg, "retry after ");
		unsigned long secs = ra ? strtoul(ra + 12, NULL, 10) : 0;
		char v[24];
		snprintf(v, sizeof(v), "%lu", secs ? secs : 1);
		uns_gw_set_header(x, "Retry-After", v);
	}
	if (st.http == 503) { /* unsd or its database is away for now:
		               * a database failover takes seconds */
		uns_gw_set_header(x, "Retry-After", "1");
	}
	if (st.http == 401) {
		char v[600];
		uns_gw_www_authenticate(x->token, msg, v, sizeof(v));
		uns_gw_set_header(x, "WWW-Authenticate", v);
	}
	if (uns_gw_message_is_internal(st, msg)) {
		/* The operator's log gets the text, the client the id. */
		fprintf(stderr, "gateway: request %s: %u %s: %s\n",
		        x->request_id, st.http, uns_strerror(err), msg);
		uns_gw_fail(x, st.http, st.code,
		            "the server could not complete the request; "
		            "request-id %s",
		            x->request_id);
		return;
	}
	uns_gw_fail(x, st.http, st.code, "%s",
	            msg[0] ? msg : uns_strerror(err));
}

uns_call_opts
uns_gw_call_opts(const uns_gw_exchange *x, uint32_t extra_ms)
{
	uns_call_opts o = {
	    .timeout_ms = x->rpc_timeout_ms + extra_ms,
	    .token = x->token,
	    .request_id = x->request_id,
	};
	return o;
}

/* ---- parked calls ------------------------------------------------------ */

#define SHUTTING_DOWN "the gateway is shutting down"

/* Drops one reference with c->mu held (and unlocks it). */
static void
call_release(gw_call *c)
{
	int last = --c->refs == 0;
	pthread_mutex_unlock(&c->mu);
	if (last) {
		if (c->resp) {
			protobuf_c_message_free_unpacked(c->resp, NULL);
		}
		pthread_mutex_destroy(&c->mu);
		free(c);
	}
}

/* The completion: on an NNG thread, or on the handler's when the call
 * could not start. The connection is resumed only while still parked;
 * once the close abandoned the call, conn may be gone. */
static void
call_done(uns_err err, const char *message, ProtobufCMessage *resp,
          uns_generic_fn fn, void *arg)
{
	gw_call *c = arg;
	(void)fn;
	pthread_mutex_lock(&c->mu);
	c->err = err;
	c->resp = resp;
	snprintf(c->message, sizeof(c->message), "%s", message ? message : "");
	c->done = 1;
	if (!c->abandoned) {
		MHD_resume_connection(c->conn);
	}
	call_release(c);
}

/* On the watchdog's thread: a parked long poll's client closed. Its
 * connection is resumed (and closed, unanswered: on_request), and the
 * server, when it offers the hook, ends the wait the RPC holds there. The
 * request's reference keeps c until disarm (finish_call, drop_call). */
static void
call_hung_up(void *arg)
{
	gw_call *c = arg;
	uns_gateway *gw = c->gw;
	pthread_mutex_lock(&c->mu);
	int resume = !c->done && !c->abandoned;
	if (resume) {
		c->abandoned = c->hung_up = 1;
		MHD_resume_connection(c->conn);
	}
	pthread_mutex_unlock(&c->mu);
	uns_gw_ops_hangup(gw->cfg.ops);
	if (resume && gw->cfg.hangup != NULL) {
		gw->cfg.hangup(gw->cfg.hangup_arg, c->request_id);
	}
}

static void
park(uns_gateway *gw, gw_call *c)
{
	c->prev = NULL;
	c->next = gw->parked;
	if (gw->parked) {
		gw->parked->prev = c;
	}
	gw->parked = c;
}

static void
unpark(uns_gateway *gw, gw_call *c)
{
	pthread_mutex_lock(&gw->mu);
	if (c->prev) {
		c->prev->next = c->next;
	} else {
		gw->parked = c->next;
	}
	if (c->next) {
		c->next->prev = c->prev;
	}
	pthread_mutex_unlock(&gw->mu);
}

void
uns_gw_call(uns_gw_exchange *x, const uns_gw_call_spec *spec,
            const ProtobufCMessage *req)
{
	gw_request *r = (gw_request *)x;
	uns_gateway *gw = r->gw;
	gw_call *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		uns_gw_fail(x, 500, "InternalServerError", "out of memory");
		return;
	}
	pthread_mutex_init(&c->mu, NULL);
	c->refs = 2;
	c->conn = x->conn;
	c->long_poll = spec->long_poll;
	c->finish = spec->finish;
	c->gw = gw;
	c->request_id = x->request_id;
	r->called_us = uns_mono_us();
	pthread_mutex_lock(&gw->mu);
	if (gw->closing) {
		pthread_mutex_unlock(&gw->mu);
		pthread_mutex_destroy(&c->mu);
		free(c);
		uns_gw_fail(x, 503, "ServiceUnavailable", SHUTTING_DOWN);
		return;
	}
	park(gw, c);
	r->call = c;
	/* Suspended before the call starts: its completion resumes. */
	MHD_suspend_connection(x->conn);
	pthread_mutex_unlock(&gw->mu);
	if (spec->long_poll) {
		c->watched = watched_of(x->conn);
		uns_gw_watchdog_arm(gw->watchdog, c->watched, call_hung_up, c);
	}
	uns_call_opts o = uns_gw_call_opts(x, spec->extra_ms);
	if (spec->anonymous) {
		o.token = NULL;
	}
	o.metadata = spec->metadata;
	o.n_metadata = spec->n_metadata;
	uns_err err = uns_client_call_async(x->rpc, spec->method, req, &o,
	                                    call_done, NULL, c);
	if (err != UNS_OK) { /* the completion will not run: be it */
		call_done(err, uns_last_message(), NULL, NULL, c);
	}
}

void
uns_gw_park(uns_gw_exchange *x, const char *cursor, uint64_t deadline_us,
            int shareable, uns_gw_wake_fn wake)
{
	gw_request *r = (gw_request *)x;
	uns_gateway *gw = r->gw;
	char *copy = strdup(cursor);
	if (copy == NULL) {
		uns_gw_fail(x, 500, "InternalServerError", "out of memory");
		return;
	}
	free(r->park_cursor);
	r->park_cursor = copy;
	r->wake = wake;
	r->waiter = (uns_gw_waiter){.conn = x->conn,
	                            .watched = watched_of(x->conn),
	                            .token = x->token,
	                            .cursor = r->park_cursor,
	                            .message = x->rpc_message,
	                            .deadline_us = deadline_us,
	                            .shareable = shareable};
	switch (uns_gw_feeds_park(gw->feeds, &r->waiter, r->called_us)) {
	case UNS_GW_PARK_OK:
		r->parked = 1;
		uns_gw_watchdog_arm(gw->watchdog, r->waiter.watched,
		                    uns_gw_feeds_hung_up, &r->waiter);
		return;
	case UNS_GW_PARK_FULL:
		uns_gw_set_header(x, "Retry-After", "1");
		uns_gw_fail(
		    x, 429, "TooManyRequests",
		    "too many long polls wait for this feed at the "
		    "gateway (max_waits_per_user = %u); retry after 1 s",
		    gw->cfg.max_waits_per_feed);
		return;
	case UNS_GW_PARK_CLOSING:
		snprintf(x->rpc_message, sizeof(x->rpc_message), "%s",
		         SHUTTING_DOWN);
		uns_gw_fail_rpc(x, UNS_UNAVAILABLE);
		return;
	case UNS_GW_PARK_STALE:
		wake(x, UNS_GW_WAKE_READ, r->park_cursor, deadline_us, NULL);
		return;
	case UNS_GW_PARK_NO_KEY:
		wake(x, UNS_GW_WAKE_ALONE, r->park_cursor, deadline_us, NULL);
		return;
	}
}

/* On the MHD thread, once a request parked on its feed is resumed: the
 * route reads again or answers, or the gateway answers for it. 0 when
 * nobody is left to answer. */
static int
finish_park(gw_request *r)
{
	uns_gw_exchange *x = &r->x;
	r->parked = 0;
	switch (uns_gw_feeds_leave(r->gw->feeds, &r->waiter)) {
	case UNS_GW_PARKED: /* not reached: resumed means woken */
	case UNS_GW_HUNG_UP:
		return 0;
	case UNS_GW_CLOSED:
		snprintf(x->rpc_message, sizeof(x->rpc_message), "%s",
		         SHUTTING_DOWN);
		uns_gw_fail_rpc(x, UNS_UNAVAILABLE);
		return 1;
	case UNS_GW_FAILED:
		uns_gw_fail_rpc(x, r->waiter.err);
		return 1;
	case UNS_GW_WOKEN: {
		struct uns_gw_page *page = r->waiter.page;
		r->waiter.page = NULL;
		r->wake(x, page ? UNS_GW_WAKE_ANSWER : UNS_GW_WAKE_READ,
		        r->park_cursor, r->waiter.deadline_us,
		        page ? uns_gw_page_message(page) : NULL);
		uns_gw_page_release(page);
		return 1;
	}
	case UNS_GW_EXPIRED:
		r->wake(x, UNS_GW_WAKE_EXPIRED, r->park_cursor,
		        r->waiter.deadline_us, NULL);
		return 1;
	}
	return 1;
}

/* On the MHD thread, once the parked request is resumed: the route's
 * finish writes the answer from the call's result. */
static void
finish_call(gw_request *r)
{
	gw_call *c = r->call;
	uns_gw_exchange *x = &r->x;
	uns_gw_watchdog_disarm(r->gw->watchdog, c->watched);
	unpark(r->gw, c);
	r->call = NULL;
	pthread_mutex_lock(&c->mu);
	uns_gw_finish_fn finish = c->finish;
	uns_err err = c->done ? c->err : UNS_UNAVAILABLE;
	ProtobufCMessage *resp = c->done ? c->resp : NULL;
	snprintf(x->rpc_message, sizeof(x->rpc_message), "%s",
	         c->done ? c->message : SHUTTING_DOWN);
	c->resp = NULL;
	call_release(c);
	finish(x, err, err == UNS_OK ? resp : NULL);
	if (resp) {
		protobuf_c_message_free_unpacked(resp, NULL);
	}
}

static int
hung_up(gw_call *c)
{
	pthread_mutex_lock(&c->mu);
	int h = c->hung_up;
	pthread_mutex_unlock(&c->mu);
	return h;
}

/* A request that goes away parked (its connection closed after the
 * resume, before MHD called the handler again) lets go of its call. */
static void
drop_call(gw_request *r)
{
	gw_call *c = r->call;
	if (c != NULL) {
		uns_gw_watchdog_disarm(r->gw->watchdog, c->watched);
		unpark(r->gw, c);
		r->call = NULL;
		pthread_mutex_lock(&c->mu);
		call_release(c);
	}
}

/* Resumes the parked calls (only the long polls unless all): their
 * answer is a 503. Returns how many were still parked. */
static int
abandon_parked(uns_gateway *gw, int all)
{
	int n = 0;
	pthread_mutex_lock(&gw->mu);
	gw->closing = 1;
	for (gw_call *c = gw->parked; c != NULL; c = c->next) {
		pthread_mutex_lock(&c->mu);
		if (!c->done && !c->abandoned && (all || c->long_poll)) {
			c->abandoned = 1;
			MHD_resume_connection(c->conn);
		}
		n++;
		pthread_mutex_unlock(&c->mu);
	}
	pthread_mutex_unlock(&gw->mu);
	return n;
}

/* ---- answering ----------------------------------------------------------- */

static void
add_header(void *resp, const char *name, const char *value)
{
	MHD_add_response_header(resp, name, value);
}

static enum MHD_Result
send_answer(uns_gateway *gw, struct MHD_Connection *conn, gw_request *r)
{
	uns_gw_exchange *x = &r->x;
	if (x->status == 0) {
		uns_gw_fail(x, 500, "InternalServerError",
		            "the route gave no answer");
	}
	int streaming = x->resp_stream != NULL;
	struct MHD_Response *resp =
	    streaming ? x->resp_stream
	              : MHD_create_response_from_buffer(
	                    x->resp_len, x->resp_body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		return MHD_NO;
	}
	x->resp_stream = NULL;
	if (!streaming) {
		x->resp_body = NULL; /* MHD owns it now */
	}
	if (x->resp_type) {
		MHD_add_response_header(resp, "Content-Type", x->resp_type);
	}
	MHD_add_response_header(resp, "request-id", x->request_id);
	const char *crid = uns_gw_header(x, "client-request-id");
	if (crid && strlen(crid) < 128) {
		MHD_add_response_header(resp, "client-request-id", crid);
	}
	for (int i = 0; i < x->n_resp_hdrs; i++) {
		MHD_add_response_header(resp, x->resp_hdrs[i].name,
		                        x->resp_hdrs[i].value);
	}
	uns_gw_cors_headers(x, gw->cfg.cors_origins, add_header, resp);
	enum MHD_Result rc = MHD_queue_response(conn, x->status, resp);
	MHD_destroy_response(resp);
	uint64_t us = uns_mono_us() - r->started_us;
	uns_gw_ops_done(gw->cfg.ops, r->route ? r->route->name : "unmatched",
	                x->status, us);
	if (gw->cfg.on_done) {
		gw->cfg.on_done(gw->cfg.on_done_arg,
		                r->route ? r->route->name : "unmatched",
		                x->status, us);
	}
	return rc;
}

/* ---- checks on the headers alone ------------------------------------------
 */

/* What the checks on the headers decided. */
enum verdict {
	GO_ON,             /* read the body, run the route */
	ANSWER_AFTER_BODY, /* answered: the (bounded) body is read and
	                      dropped, so the connection is kept */
	ANSWER_NOW,        /* answered before the body, and MHD closes */
};

/* MHD's headers or query arguments as a list (gateway_head.h). */
struct field_list {
	uns_gw_field *v;
	size_t n, cap;
};

static enum MHD_Result
add_field(void *arg, enum MHD_ValueKind kind, const char *key,
          const char *value)
{
	struct field_list *l = arg;
	(void)kind;
	if (l->n < l->cap) {
		l->v[l->n] = (uns_gw_field){key, value};
	}
	l->n++;
	return MHD_YES;
}

/* The fields of kind into a new array (*out, freed by the caller); 0, or
 * -1 when out of memory. */
static int
collect(struct MHD_Connection *conn, enum MHD_ValueKind kind,
        struct field_list *out)
{
	int n = MHD_get_connection_values(conn, kind, NULL, NULL);
	*out = (struct field_list){0};
	if (n <= 0) {
		return 0;
	}
	if ((out->v = calloc((size_t)n, sizeof(*out->v))) == NULL) {
		return -1;
	}
	out->cap = (size_t)n;
	MHD_get_connection_values(conn, kind, add_field, out);
	out->n = out->n < out->cap ? out->n : out->cap;
	return 0;
}

/* Answers what needs no body (gateway_head.h's checks, the route, the
 * rate limit); the verdict says when the answer goes. */
static enum verdict
check_headers(uns_gateway *gw, gw_request *r, const char *url,
              const char *version)
{
	uns_gw_exchange *x = &r->x;
	struct field_list hdrs, args;
	uns_gw_refusal no;
	enum verdict v = ANSWER_AFTER_BODY;
	char allow[64];
	const uns_gw_head_limits lim = {.max_uri = gw->cfg.max_uri,
	                                .max_header = gw->cfg.max_header,
	                                .max_body = gw->cfg.max_body,
	                                .drain_limit = gw->cfg.drain_limit};
	if (collect(x->conn, MHD_HEADER_KIND, &hdrs) != 0 ||
	    collect(x->conn, MHD_GET_ARGUMENT_KIND, &args) != 0) {
		free(hdrs.v);
		uns_gw_fail(x, 500, "InternalServerError", "out of memory");
		return ANSWER_NOW;
	}
	const uns_gw_head h = {.method = x->method,
	                       .url = url,
	                       .version = version,
	                       .headers = hdrs.v,
	                       .n_headers = hdrs.n,
	                       .args = args.v,
	                       .n_args = args.n,
	                       .marks = r->marks};
	if (uns_gw_head_check(&h, &lim, &no)) {
		goto refused;
	}
	if (strcmp(x->method, "OPTIONS") == 0) {
		uns_gw_cors_preflight(x, url, gw->cfg.cors_origins);
		goto out;
	}
	switch (uns_gw_route_find(x->method, url, x, &r->route, allow,
	                          sizeof(allow))) {
	case UNS_GW_NO_ROUTE:
		uns_gw_fail(x, 404, "NotFound", "no resource at %.200s", url);
		goto out;
	case UNS_GW_NO_METHOD:
		uns_gw_set_header(x, "Allow", allow);
		uns_gw_fail(x, 405, "MethodNotAllowed",
		            "%s is not supported here; allowed: %s", x->method,
		            allow);
		goto out;
	case UNS_GW_MATCHED:
		break;
	}
	x->route = r->route->name;
	uint32_t retry_s = 0;
	if (!uns_gw_ops_admit(gw->cfg.ops, x->token, &retry_s)) {
		char s[16];
		snprintf(s, sizeof(s), "%u", retry_s);
		uns_gw_set_header(x, "Retry-After", s);
		uns_gw_fail(x, 429, "TooManyRequests",
		            "rate limit reached; retry after %u s", retry_s);
		goto out;
	}
	if (uns_gw_head_check_body(&h, uns_gw_route_body_type(r->route), &lim,
	                           &r->too_large, &no)) {
		goto refused;
	}
	v = GO_ON;
	goto out;
refused:
	uns_gw_fail(x, no.status, no.code, "%s", no.message);
	v = no.now ? ANSWER_NOW : ANSWER_AFTER_BODY;
out:
	free(hdrs.v);
	free(args.v);
	return v;
}

static void
fill_exchange(uns_gateway *gw, gw_request *r, struct MHD_Connection *conn,
              const char *method)
{
	uns_gw_exchange *x = &r->x;
	x->method = method;
	x->conn = conn;
	x->rpc = gw->cfg.rpc;
	x->rpc_timeout_ms = gw->cfg.rpc_timeout_ms;
	x->ops = gw->cfg.ops;
	x->web_root = gw->cfg.web_root;
	x->streams = gw->streams;
	make_request_id(x->request_id, sizeof(x->request_id));
	snprintf(x->base_url, sizeof(x->base_url), "%s", gw->public_url);
	const char *auth = uns_gw_header(x, "Authorization");
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
		x->token = auth + 7;
		while (*x->token == ' ') {
			x->token++;
		}
	}
}

/* ---- the body ---------------------------------------------------------- */

/* Appends a chunk of body; the buffer doubles, so a body sent in many
 * small chunks costs no more than one sent whole. */
static void
take_chunk(uns_gateway *gw, gw_request *r, const char *data, size_t len)
{
	if (r->too_large || r->no_memory ||
	    r->raw_len + len > gw->cfg.max_body) {
		r->too_large = !r->no_memory;
		return;
	}
	if (r->raw_len + len + 1 > r->raw_cap) {
		size_t cap = r->raw_cap ? r->raw_cap : 1024;
		while (cap < r->raw_len + len + 1) {
			cap *= 2;
		}
		char *p = realloc(r->raw, cap);
		if (p == NULL) {
			r->no_memory = 1;
			return;
		}
		r->raw = p;
		r->raw_cap = cap;
	}
	memcpy(r->raw + r->raw_len, data, len);
	r->raw_len += len;
}

/* Undoes Content-Encoding and runs the route. */
static void
run_route(uns_gateway *gw, gw_request *r)
{
	uns_gw_exchange *x = &r->x;
	char why[256];
	char *body = NULL;
	size_t len = 0;
	if (r->no_memory) {
		uns_gw_fail(x, 500, "InternalServerError", "out of memory");
		return;
	}
	if (r->too_large) {
		uns_gw_fail(x, 413, "PayloadTooLarge",
		            "the body exceeds the limit of %zu bytes",
		            gw->cfg.max_body);
		return;
	}
	uns_gw_coding c =
	    uns_gw_coding_of(uns_gw_header(x, "Content-Encoding"));
	uns_err err =
	    uns_gw_decode_body(c, r->raw ? r->raw : "", r->raw_len,
	                       gw->cfg.max_body, &body, &len, why, sizeof(why));
	if (err != UNS_OK) {
		uns_gw_status st = err == UNS_RESOURCE_EXHAUSTED
		                       ? (uns_gw_status){413, "PayloadTooLarge"}
		                       : uns_gw_status_of(err, why);
		uns_gw_fail(x, st.http, st.code, "%s",
		            err == UNS_ENOMEM ? "out of memory" : why);
		return;
	}
	x->body = len ? body : NULL;
	x->body_len = len;
	r->route->handler(x);
	x->body = NULL;
	free(body);
}

/* A zeroed request: 1.4 KiB, its large buffers (captures, response
 * headers) allocated when used, so that a request parked on a long poll
 * costs little resident memory. Its text buffers (base URL, RPC message)
 * are written before they are read. */
static gw_request *
request_new(void)
{
	return calloc(1, sizeof(gw_request));
}

static int
is_mark(const uns_gateway *gw, const void *p)
{
	return (const char *)p >= gw->marks &&
	       (const char *)p < gw->marks + sizeof(gw->marks);
}

static enum MHD_Result
on_request(void *arg, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_size, void **con_cls)
{
	uns_gateway *gw = arg;
	gw_request *r = *con_cls;
	if (r == NULL || is_mark(gw, r)) { /* on_uri's mark */
		int mark = r != NULL ? (int)((char *)r - gw->marks) : 0;
		if ((r = request_new()) == NULL) {
			return MHD_NO;
		}
		r->started_us = uns_mono_us();
		r->gw = gw;
		r->marks = mark;
		*con_cls = r;
		uns_gw_ops_begin(gw->cfg.ops);
		atomic_fetch_add(&gw->active, 1);
		uns_gw_watchdog_phase(gw->watchdog, watched_of(conn),
		                      UNS_GW_PHASE_BODY);
		fill_exchange(gw, r, conn, method);
		enum verdict v = check_headers(gw, r, url, version);
		r->answered = v != GO_ON;
		/* An answer queued before the body is read makes MHD close the
		 * connection: only what leaves the body's end unknown (two
		 * lengths, an Expect we do not meet) or a body too long to
		 * read and drop is refused that early. Other answers from the
		 * headers (404, 405, 415, 429, a 413 within the drain limit
		 * …) wait for the end of the (bounded) body, so the client
		 * reads its answer and a keep-alive connection, and its TLS
		 * session, survives: a throttled client must not pay a
		 * handshake per retry. */
		if (v == ANSWER_NOW) {
			r->sent = 1;
			return send_answer(gw, conn, r);
		}
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!r->answered) {
			take_chunk(gw, r, upload, *upload_size);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->sent) {
		return MHD_YES;
	}
	if (r->call != NULL && hung_up(r->call)) {
		drop_call(r);
		return MHD_NO; /* nobody to answer: MHD closes */
	}
	if (r->parked) { /* resumed: its feed moved, or it is over */
		if (!finish_park(r)) {
			return MHD_NO; /* hung up: MHD closes */
		}
	} else if (r->call != NULL) { /* resumed: its RPC ended */
		finish_call(r);
	} else if (!r->answered) {
		uns_gw_watchdog_phase(gw->watchdog, watched_of(conn),
		                      UNS_GW_PHASE_BUSY);
		run_route(gw, r);
	}
	if (r->call != NULL || r->parked) {
		return MHD_YES; /* parked until the RPC ends or the feed moves
		                 */
	}
	r->answered = 1;
	r->sent = 1;
	return send_answer(gw, conn, r);
}

static void
on_completed(void *arg, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
	uns_gateway *gw = arg;
	gw_request *r = *con_cls;
	(void)toe;
	if (r != NULL && !is_mark(gw, r)) {
		drop_call(r);
		if (r->parked) {
			uns_gw_feeds_leave(gw->feeds, &r->waiter);
		}
		uns_gw_page_release(r->waiter.page); /* woken, never read */
		free(r->park_cursor);
		free(r->x.params);
		free(r->x.resp_hdrs);
		uns_gw_ops_end(gw->cfg.ops);
		free(r->x.resp_body);
		if (r->x.resp_stream) { /* made, never queued */
			MHD_destroy_response(r->x.resp_stream);
		}
		free(r->raw);
		free(r);
		*con_cls = NULL;
		atomic_fetch_sub(&gw->active, 1);
	}
	uns_gw_watchdog_phase(gw->watchdog, watched_of(conn),
	                      UNS_GW_PHASE_HEADERS);
}

static void
on_connection(void *arg, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
	uns_gateway *gw = arg;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		    conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_context =
		    uns_gw_watchdog_add(gw->watchdog, ci ? ci->connect_fd : -1);
	} else {
		uns_gw_watchdog_remove(gw->watchdog, *socket_context);
		*socket_context = NULL;
	}
}

/* Called with the raw request target, before MHD decodes it (a %00
 * would cut the path the access handler sees): marks the request. */
static void *
on_uri(void *arg, const char *uri, struct MHD_Connection *conn)
{
	uns_gateway *gw = arg;
	(void)conn;
	int mark = uns_gw_head_marks(uri, gw->cfg.max_uri);
	return mark ? &gw->marks[mark] : NULL;
}

static void
log_mhd(void *arg, const char *fmt, va_list ap)
{
	(void)arg;
	(void)fmt;
	(void)ap; /* MHD's own messages are per connection and noisy */
}

/* ---- open / close ------------------------------------------------------ */

/* "http://HOST:PORT" into scheme, host (256 bytes), a socket address. */
static uns_err
parse_listen(const char *url, char *scheme, size_t scheme_cap, char *host,
             struct sockaddr_storage *sa)
{
	unsigned port = 0;
	int n = 0;
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char sport[8];
	if (sscanf(url, "%7[a-z]://%255[^:/]:%u%n", scheme, host, &port, &n) !=
	        3 ||
	    url[n] != '\0' || port > 65535 ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		return uns_fail(UNS_EINVAL,
		                "gateway_listen: expected http://HOST:PORT or "
		                "https://HOST:PORT, got \"%s\"",
		                url);
	}
	(void)scheme_cap;
	snprintf(sport, sizeof(sport), "%u", port);
	if (getaddrinfo(host, sport, &hints, &ai) != 0 || ai == NULL) {
		return uns_fail(UNS_EINVAL, "gateway_listen: cannot resolve %s",
		                host);
	}
	memcpy(sa, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return UNS_OK;
}

static uns_err
load_tls(uns_gateway *gw)
{
	const char *cert = gw->cfg.cert_file;
	const char *key =
	    gw->cfg.key_file && gw->cfg.key_file[0] ? gw->cfg.key_file : cert;
	if (cert == NULL || cert[0] == '\0') {
		return uns_fail(UNS_EINVAL,
		                "gateway: https needs a certificate");
	}
	char why[512];
	size_t len;
	uns_err err;
	if ((err = uns_file_read(cert, 1 << 20, &gw->cert_pem, &len, why,
	                         sizeof(why))) != UNS_OK ||
	    (err = uns_file_read(key, 1 << 20, &gw->key_pem, &len, why,
	                         sizeof(why))) != UNS_OK) {
		return uns_fail(err, "gateway: %s", why);
	}
	return UNS_OK;
}

/* The configured base of links: http(s)://authority, no path, query or
 * fragment (a trailing '/' is dropped); "" until the port is known. */
static uns_err
set_public_url(uns_gateway *gw)
{
	const char *u = gw->cfg.public_url ? gw->cfg.public_url : "";
	size_t n = strlen(u);
	const char *auth = strncmp(u, "https://", 8) == 0  ? u + 8
	                   : strncmp(u, "http://", 7) == 0 ? u + 7
	                                                   : NULL;
	while (n > 0 && u[n - 1] == '/') {
		n--;
	}
	if (n == 0) {
		return UNS_OK;
	}
	char authority[256];
	size_t an = auth ? (size_t)(u + n - auth) : 0;
	if (auth == NULL || an == 0 || an >= sizeof(authority) ||
	    n >= sizeof(gw->public_url)) {
		return uns_fail(
		    UNS_EINVAL,
		    "gateway_public_url: expected http(s)://HOST[:PORT]"
		    ", got \"%.200s\"",
		    u);
	}
	memcpy(authority, auth, an);
	authority[an] = '\0';
	if (!uns_gw_host_valid(authority)) {
		return uns_fail(UNS_EINVAL,
		                "gateway_public_url: \"%.200s\" is not "
		                "http(s)://HOST[:PORT]",
		                u);
	}
	memcpy(gw->public_url, u, n);
	gw->public_url[n] = '\0';
	return UNS_OK;
}

/* scheme://NAME:PORT of the listen address: its host as written when it
 * is a name; for an address, the name it resolves back to (127.0.0.1 is
 * "localhost", the development certificate's name), the host's name for a
 * wildcard, the address itself when it has no name. */
static void
default_public_url(uns_gateway *gw, const struct sockaddr_storage *sa)
{
	char name[256], buf[16];
	const char *host = gw->listen_host;
	int v6 = sa->ss_family == AF_INET6;
	int numeric = inet_pton(v6 ? AF_INET6 : AF_INET, host, buf) == 1;
	int wildcard = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
	socklen_t len =
	    v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (numeric && wildcard && gethostname(name, sizeof(name)) == 0) {
		host = name;
	} else if (numeric && !wildcard &&
	           getnameinfo((const struct sockaddr *)sa, len, name,
	                       sizeof(name), NULL, 0, NI_NAMEREQD) == 0) {
		host = name;
	}
	name[sizeof(name) - 1] = '\0';
	v6 = strchr(host, ':') != NULL;
	snprintf(gw->public_url, sizeof(gw->public_url), "%s://%s%s%s:%d",
	         gw->scheme, v6 ? "[" : "", host, v6 ? "]" : "", gw->port);
}

static void
apply_defaults(uns_gateway_config *c)
{
	c->max_body = c->max_body ? c->max_body : DEFAULT_MAX_BODY;
	c->max_header = c->max_header ? c->max_header : DEFAULT_MAX_HEADER;
	c->max_uri = c->max_uri ? c->max_uri : DEFAULT_MAX_URI;
	c->max_connections =
	    c->max_connections ? c->max_connections : DEFAULT_MAX_CONNS;
	c->idle_timeout_ms = c->idle_timeout_ms ? c->idle_timeout_ms : 60000;
	c->header_timeout_ms =
	    c->header_timeout_ms ? c->header_timeout_ms : 5000;
	c->body_timeout_ms = c->body_timeout_ms ? c->body_timeout_ms : 30000;
	c->rpc_timeout_ms = c->rpc_timeout_ms ? c->rpc_timeout_ms : 10000;
	c->drain_limit = c->drain_limit ? c->drain_limit : 1024 * 1024;
}

/* The connection limit the descriptors allow: MHD refuses connections at
 * its limit (they wait in the backlog) but fails badly at EMFILE. */
static unsigned
connection_limit(unsigned want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)want + FD_RESERVE) {
		return rl.rlim_cur > 2 * FD_RESERVE
		           ? (unsigned)(rl.rlim_cur - FD_RESERVE)
		           : (unsigned)(rl.rlim_cur / 2);
	}
	return want;
}

static unsigned
pool_size(unsigned threads)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return threads ? threads : cpus > 0 ? (unsigned)cpus : 1;
}

/*
 * MHD's memory per connection, which holds the request line and headers:
 * twice our limits, so that a request over them still fits and reaches
 * check_headers, which answers 414 or 431 with the Graph envelope and the
 * request id. Only a request over this gets MHD's own bare answer. The
 * pool is mapped at its full size but touched as it fills.
 */
static size_t
mhd_memory(const uns_gateway_config *c)
{
	return 2 * c->max_header + c->max_uri;
}

static uns_err
start_daemon(uns_gateway *gw, const struct sockaddr_storage *sa)
{
	/* ITC: for MHD_quiesce_daemon and to wake a polling thread on
	 * MHD_resume_connection. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	                 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
	                 MHD_USE_ITC;
	unsigned idle_s = (gw->cfg.idle_timeout_ms + 999) / 1000;
	struct MHD_OptionItem tls[] = {
	    {MHD_OPTION_HTTPS_MEM_CERT, 0, gw->cert_pem},
	    {MHD_OPTION_HTTPS_MEM_KEY, 0, gw->key_pem},
	    {MHD_OPTION_HTTPS_PRIORITIES, 0, TLS_PRIORITIES},
	    {MHD_OPTION_END, 0, NULL},
	};
	if (strcmp(gw->scheme, "https") == 0) {
		flags |= MHD_USE_TLS;
	}
	gw->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, gw, MHD_OPTION_SOCK_ADDR, sa,
	    MHD_OPTION_CONNECTION_LIMIT,
	    connection_limit(gw->cfg.max_connections),
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)LISTEN_BACKLOG,
	    MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, mhd_memory(&gw->cfg),
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, gw,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, gw,
	    MHD_OPTION_EXTERNAL_LOGGER, log_mhd, gw,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_THREAD_POOL_SIZE,
	    pool_size(gw->cfg.threads), MHD_OPTION_ARRAY,
	    (flags & MHD_USE_TLS) ? tls : tls + 3, MHD_OPTION_URI_LOG_CALLBACK,
	    on_uri, gw, MHD_OPTION_END);
	if (gw->daemon == NULL) {
		return uns_fail(
		    UNS_EIO,
		    "gateway: cannot serve %s (address in use, or a "
		    "bad certificate or key)",
		    gw->cfg.listen);
	}
	const union MHD_DaemonInfo *di =
	    MHD_get_daemon_info(gw->daemon, MHD_DAEMON_INFO_BIND_PORT);
	gw->port = di ? di->port : 0;
	return UNS_OK;
}

uns_err
uns_gateway_open(uns_gateway **out, const uns_gateway_config *cfg)
{
	struct sockaddr_storage sa;
	uns_err err;
	uns_gateway *gw = NULL;
	if (out == NULL || cfg == NULL || cfg->rpc == NULL ||
	    cfg->listen == NULL) {
		return uns_fail(UNS_EINVAL, "gateway: missing configuration");
	}
	if ((gw = calloc(1, sizeof(*gw))) == NULL) {
		return uns_fail(UNS_ENOMEM, "out of memory");
	}
	gw->cfg = *cfg;
	gw->quiesced_fd = -1;
	pthread_mutex_init(&gw->mu, NULL);
	apply_defaults(&gw->cfg);
	if ((err = parse_listen(cfg->listen, gw->scheme, sizeof(gw->scheme),
	                        gw->listen_host, &sa)) != UNS_OK ||
	    (err = set_public_url(gw)) != UNS_OK ||
	    (strcmp(gw->scheme, "https") == 0 &&
	     (err = load_tls(gw)) != UNS_OK) ||
	    (err =
	         uns_gw_watchdog_open(&gw->watchdog, gw->cfg.header_timeout_ms,
	                              gw->cfg.body_timeout_ms)) != UNS_OK ||
	    (err =
	         uns_gw_streams_open(&gw->streams, gw->cfg.stream_heartbeat_ms,
	                             &(uns_gw_streams_hangup){
	                                 .watchdog = gw->watchdog,
	                                 .ops = gw->cfg.ops,
	                                 .fn = gw->cfg.hangup,
	                                 .arg = gw->cfg.hangup_arg,
	                             })) != UNS_OK ||
	    (err =
	         uns_gw_feeds_open(&gw->feeds,
	                           &(uns_gw_feeds_config){
	                               .rpc = gw->cfg.rpc,
	                               .rpc_timeout_ms = gw->cfg.rpc_timeout_ms,
	                               .cap = gw->cfg.max_waits_per_feed,
	                               .watchdog = gw->watchdog,
	                               .ops = gw->cfg.ops,
	                               .hangup = gw->cfg.hangup,
	                               .hangup_arg = gw->cfg.hangup_arg,
	                           })) != UNS_OK ||
	    (err = start_daemon(gw, &sa)) != UNS_OK) {
		goto out;
	}
	if (gw->public_url[0] == '\0') {
		default_public_url(gw, &sa);
	}
	*out = gw;
	gw = NULL;
out:
	uns_gateway_close(gw);
	return err;
}

int
uns_gateway_port(const uns_gateway *gw)
{
	return gw->port;
}

void
uns_gateway_quiesce(uns_gateway *gw)
{
	if (gw != NULL && gw->daemon != NULL && gw->quiesced_fd < 0) {
		gw->quiesced_fd = MHD_quiesce_daemon(gw->daemon);
	}
	if (gw != NULL && gw->streams != NULL) {
		uns_gw_streams_end_all(gw->streams); /* cleanly, before the
		                                        RPC side drains */
	}
}

/* Waits up to limit_ms for the requests in progress to be answered. */
static void
wait_answered(uns_gateway *gw, uint32_t limit_ms)
{
	for (uint32_t waited = 0;
	     atomic_load(&gw->active) > 0 && waited < limit_ms; waited += 10) {
		nng_msleep(10);
	}
}

/* MHD_stop_daemon shuts every socket down at once, answers unsent, and
 * must find no connection suspended: first stop taking connections and
 * new RPCs, end the long polls (503), give the other requests in
 * progress up to one RPC deadline to finish and be sent, then resume
 * what is still parked (503 too) and let those answers go out. */
/* Hands MHD the connections the kernel accepted since the quiesce (their
 * requests may be on the way already): closing the listen socket would
 * reset them unanswered. They are served like the others (503 once the
 * gateway is closing). */
static void
adopt_backlog(uns_gateway *gw)
{
	struct pollfd p = {.fd = gw->quiesced_fd, .events = POLLIN};
	while (gw->quiesced_fd >= 0 && poll(&p, 1, 0) == 1) {
		struct sockaddr_storage sa;
		socklen_t len = sizeof(sa);
		int fd = accept4(gw->quiesced_fd, (struct sockaddr *)&sa, &len,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			break;
		}
		(void)MHD_add_connection(gw->daemon, fd, (struct sockaddr *)&sa,
		                         len);
	}
}

static void
finish_requests(uns_gateway *gw)
{
	uns_gateway_quiesce(gw); /* ends the event streams too */
	abandon_parked(gw, 0);
	uns_gw_feeds_end_all(gw->feeds);
	adopt_backlog(gw);
	/* The adopted connections' requests are not "active" until MHD has
	 * read their headers: give new connections up to a second to get
	 * there, so the stop does not close them unanswered. */
	for (int ms = 0; ms < 1000 && uns_gw_watchdog_fresh(gw->watchdog) > 0;
	     ms += 10) {
		nng_msleep(10);
	}
	wait_answered(gw, gw->cfg.rpc_timeout_ms);
	if (abandon_parked(gw, 1) > 0) {
		wait_answered(gw, 1000);
	}
}

void
uns_gateway_close(uns_gateway *gw)
{
	if (gw == NULL) {
		return;
	}
	finish_requests(gw);
	if (gw->daemon) {
		/* Whatever the bounded waits left suspended is resumed now
		 * (the flags set above keep it from suspending again): MHD
		 * moves resumed connections back before its check, and a
		 * connection still suspended there aborts the process. */
		if (gw->streams != NULL) {
			uns_gw_streams_end_all(gw->streams);
		}
		abandon_parked(gw, 1);
		uns_gw_feeds_end_all(gw->feeds);
		MHD_stop_daemon(gw->daemon);
	}
	if (gw->quiesced_fd >= 0) { /* ours since the quiesce; after stop */
		close(gw->quiesced_fd);
	}
	uns_gw_watchdog_close(gw->watchdog);
	uns_gw_streams_close(gw->streams);
	uns_gw_feeds_close(gw->feeds);
	pthread_mutex_destroy(&gw->mu);
	free(gw->cert_pem);
	free(gw->key_pem);
	free(gw);
}
