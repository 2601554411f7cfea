/*
 * gateway_stream.c — see gateway_stream.h.
 *
 * A stream is shared by its response (MHD frees it through the response's
 * free callback once the connection is done with it) and by the Fetch in
 * flight, if any: two references under the stream's mutex, like a parked
 * call's. The connection is resumed only while the response lives, so a
 * completion after the client left touches the stream alone.
 *
 * Events:   id: CURSOR \n event: notification|removed \n data: JSON \n \n
 * Heartbeat: ": keep-alive" \n \n, each time a wait ends with nothing new.
 * An RPC failure ends the stream with   event: error \n data: {"error":…}.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "gateway_errors.h"
#include "gateway_head.h"
#include "gateway_json.h"
#include "gateway_ops.h"
#include "gateway_stream.h"
#include "gateway_watchdog.h"
#include "uns_stubs.h"

#define DEFAULT_HEARTBEAT_MS 15000u
#define MAX_HEARTBEAT_MS     60000u /* the longest long poll */
#define RETRY_MS             "2000" /* EventSource's reconnect delay */
#define READ_BLOCK           4096   /* MHD's buffer per stream */

struct uns_gw_streams {
	pthread_mutex_t mu;
	uint32_t heartbeat_ms;
	uns_gw_streams_hangup hup;
	struct gw_stream *head;
	size_t n;
	bool ending; /* end_all ran: a stream that starts later ends too */
};

typedef struct gw_stream {
	pthread_mutex_t mu;
	int refs;
	uns_gw_streams *reg;
	struct gw_stream *prev, *next; /* reg's list */
	struct MHD_Connection *conn;
	uns_gw_watched *watched; /* armed while waiting, or NULL */
	uns_client *rpc;
	uint32_t rpc_timeout_ms;
	char *token, *unsid, *cursor;
	char request_id[UNS_GW_REQUEST_ID_MAX];
	uns_json_buf out; /* events not yet handed to MHD */
	size_t off;
	bool in_flight, suspended, ended, gone;
} gw_stream;

/* ---- the registry ---------------------------------------------------------
 */

uns_err
uns_gw_streams_open(uns_gw_streams **out, uint32_t heartbeat_ms,
                    const uns_gw_streams_hangup *hup)
{
	uns_gw_streams *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return UNS_ENOMEM;
	}
	if (hup != NULL) {
		s->hup = *hup;
	}
	pthread_mutex_init(&s->mu, NULL);
	s->heartbeat_ms = heartbeat_ms == 0 ? DEFAULT_HEARTBEAT_MS
	                  : heartbeat_ms > MAX_HEARTBEAT_MS ? MAX_HEARTBEAT_MS
	                                                    : heartbeat_ms;
	*out = s;
	return UNS_OK;
}

void
uns_gw_streams_close(uns_gw_streams *s)
{
	if (s != NULL) {
		pthread_mutex_destroy(&s->mu);
		free(s);
	}
}

size_t
uns_gw_streams_count(uns_gw_streams *s)
{
	pthread_mutex_lock(&s->mu);
	size_t n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* Called with st->mu held. */
static void
wake(gw_stream *st)
{
	if (st->suspended && !st->gone) {
		st->suspended = false;
		MHD_resume_connection(st->conn);
	}
}

void
uns_gw_streams_end_all(uns_gw_streams *s)
{
	pthread_mutex_lock(&s->mu);
	s->ending = true;
	for (gw_stream *st = s->head; st != NULL; st = st->next) {
		pthread_mutex_lock(&st->mu);
		st->ended = true;
		wake(st);
		pthread_mutex_unlock(&st->mu);
	}
	pthread_mutex_unlock(&s->mu);
}

/* ---- one stream ------------------------------------------------------------
 */

/* Drops one reference with st->mu held (and unlocks it). */
static void
release(gw_stream *st)
{
	bool last = --st->refs == 0;
	pthread_mutex_unlock(&st->mu);
	if (last) {
		uns_json_buf_free(&st->out);
		free(st->token);
		free(st->unsid);
		free(st->cursor);
		pthread_mutex_destroy(&st->mu);
		free(st);
	}
}

/* Appends the events of resp (one per change) and moves the cursor; a
 * heartbeat when there is no change. Called with st->mu held. */
static void
put_changes(gw_stream *st, const Uns__V1__FetchResponse *resp)
{
	uns_json_buf *b = &st->out;
	if (resp->n_changes == 0) {
		uns_json_buf_lit(b, ": keep-alive\n\n");
	}
	for (size_t i = 0; i < resp->n_changes; i++) {
		const Uns__V1__FeedEntry *e = resp->changes[i];
		size_t mark = b->len;
		/* Exact only for the page's last change: pages hold one. */
		uns_json_buf_lit(b, "id: ");
		uns_json_buf_raw(b, resp->next_cursor,
		                 strlen(resp->next_cursor));
		uns_json_buf_lit(b, e->removed
		                        ? "\nevent: removed\ndata: "
		                        : "\nevent: notification\ndata: ");
		if (uns_gw_write_feed_entry(b, e) != UNS_OK) {
			uns_json_buf_rewind(b, mark); /* skipped, not stuck */
			b->err = UNS_OK;
			continue;
		}
		uns_json_buf_lit(b, "\n\n");
	}
	char *c = strdup(resp->next_cursor);
	if (c != NULL) {
		free(st->cursor);
		st->cursor = c;
	}
}

/* Appends the event that ends a stream whose Fetch failed. */
static void
put_error(gw_stream *st, uns_err err, const char *message)
{
	char msg[1024];
	uns_gw_http_message(message ? message : "", msg, sizeof(msg));
	uns_gw_status s = uns_gw_status_of(err, msg);
	const char *m = msg[0] ? msg : uns_strerror(err);
	uns_json_buf *b = &st->out;
	uns_json_buf_lit(b, "event: error\ndata: {\"error\":{\"code\":");
	uns_json_buf_str(b, s.code, strlen(s.code));
	uns_json_buf_lit(b, ",\"message\":");
	uns_json_buf_str(b, m, strlen(m));
	uns_json_buf_lit(b, "}}\n\n");
	st->ended = true;
}

/* The completion of a stream's Fetch, on an NNG thread. */
static void
fetched(uns_err err, const char *message, ProtobufCMessage *m,
        uns_generic_fn fn, void *arg)
{
	gw_stream *st = arg;
	(void)fn;
	pthread_mutex_lock(&st->mu);
	st->in_flight = false;
	if (err == UNS_OK) {
		put_changes(st, (const Uns__V1__FetchResponse *)m);
	} else if (!st->ended) {
		put_error(st, err, message);
	}
	wake(st);
	release(st);
	if (m != NULL) {
		protobuf_c_message_free_unpacked(m, NULL);
	}
}

/* Starts the next Fetch. Called with st->mu held; unlocks it. */
static void
fetch_next(gw_stream *st)
{
	Uns__V1__FetchRequest req = UNS__V1__FETCH_REQUEST__INIT;
	uns_call_opts o = {.token = st->token, .request_id = st->request_id};
	req.limit = 1;
	req.wait_ms = st->reg->heartbeat_ms;
	req.unsid = st->unsid;
	o.timeout_ms = st->rpc_timeout_ms + req.wait_ms;
	st->in_flight = true;
	st->refs++;
	/* The request is packed before the call returns; the completion
	 * may come at once, on this thread: no lock across the call. */
	char *cursor = strdup(st->cursor ? st->cursor : "");
	req.cursor = cursor ? cursor : "";
	pthread_mutex_unlock(&st->mu);
	uns_err err =
	    uns_client_call_async(st->rpc, &uns_notifications_method_fetch,
	                          &req.base, &o, fetched, NULL, st);
	free(cursor);
	if (err != UNS_OK) {
		fetched(err, uns_last_message(), NULL, NULL, st);
	}
}

/* On the watchdog's thread: the client closed while the stream waited. The
 * stream ends (the reader's next call says so, and MHD closes), and the
 * server's hook ends its Fetch's wait. The response's reference keeps st
 * until the disarm in stream_free. */
static void
stream_hung_up(void *arg)
{
	gw_stream *st = arg;
	uns_gw_streams *reg = st->reg;
	pthread_mutex_lock(&st->mu);
	bool waiting = !st->ended && st->in_flight;
	st->ended = true;
	wake(st);
	pthread_mutex_unlock(&st->mu);
	uns_gw_ops_hangup(reg->hup.ops);
	if (waiting && reg->hup.fn != NULL) {
		reg->hup.fn(reg->hup.arg, st->request_id);
	}
}

/* MHD's content reader: buffered events, else the end, else the next
 * Fetch while the connection sleeps (watched for the client's close). */
static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	gw_stream *st = cls;
	(void)pos;
	/* Not under st->mu: the watchdog calls stream_hung_up under its own
	 * lock, which then takes st->mu. */
	uns_gw_watchdog_disarm(st->reg->hup.watchdog, st->watched);
	pthread_mutex_lock(&st->mu);
	if (st->off < st->out.len) {
		size_t n = st->out.len - st->off;
		n = n < max ? n : max;
		memcpy(buf, st->out.data + st->off, n);
		st->off += n;
		if (st->off == st->out.len) {
			uns_json_buf_rewind(&st->out, 0);
			st->off = 0;
		}
		pthread_mutex_unlock(&st->mu);
		return (ssize_t)n;
	}
	if (st->ended) {
		pthread_mutex_unlock(&st->mu);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	/* Suspended inside the reader, as MHD allows, before the Fetch can
	 * end: its completion resumes. */
	MHD_suspend_connection(st->conn);
	st->suspended = true;
	if (st->in_flight) {
		pthread_mutex_unlock(&st->mu);
	} else {
		fetch_next(st);
	}
	uns_gw_watchdog_arm(st->reg->hup.watchdog, st->watched, stream_hung_up,
	                    st);
	return 0;
}

/* MHD is done with the response (the connection closed or the stream
 * ended). */
static void
stream_free(void *cls)
{
	gw_stream *st = cls;
	uns_gw_streams *reg = st->reg;
	uns_gw_watchdog_disarm(reg->hup.watchdog, st->watched);
	pthread_mutex_lock(&reg->mu);
	if (st->prev) {
		st->prev->next = st->next;
	} else {
		reg->head = st->next;
	}
	if (st->next) {
		st->next->prev = st->prev;
	}
	reg->n--;
	pthread_mutex_unlock(&reg->mu);
	pthread_mutex_lock(&st->mu);
	st->gone = true;
	release(st);
}

int
uns_gw_wants_stream(const uns_gw_exchange *x)
{
	return uns_gw_accepts_events(uns_gw_header(x, "Accept"));
}

static char *
dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

/* The first Fetch answered: its error is the HTTP answer; else the stream
 * starts with its events. */
static void
first_done(uns_gw_exchange *x, uns_err err, ProtobufCMessage *m)
{
	if (err != UNS_OK) {
		uns_gw_fail_rpc(x, err);
		return;
	}
	gw_stream *st = calloc(1, sizeof(*st));
	const char *unsid = uns_gw_header(x, "X-UNS-ID");
	if (st == NULL || (st->token = dup_or_empty(x->token)) == NULL ||
	    (st->unsid = dup_or_empty(unsid)) == NULL) {
		if (st) {
			free(st->token);
		}
		free(st);
		uns_gw_fail(x, 500, "InternalServerError", "out of memory");
		return;
	}
	pthread_mutex_init(&st->mu, NULL);
	st->refs = 1; /* the response's */
	st->reg = x->streams;
	st->conn = x->conn;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
	    x->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	st->watched = ci ? ci->socket_context : NULL;
	st->rpc = x->rpc;
	st->rpc_timeout_ms = x->rpc_timeout_ms;
	snprintf(st->request_id, sizeof(st->request_id), "%s", x->request_id);
	uns_json_buf_init(&st->out);
	uns_json_buf_lit(&st->out, "retry: " RETRY_MS "\n\n");
	put_changes(st, (const Uns__V1__FetchResponse *)m);
	struct MHD_Response *r = MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, READ_BLOCK, stream_read, st, stream_free);
	if (r == NULL) {
		pthread_mutex_lock(&st->mu);
		release(st);
		uns_gw_fail(x, 500, "InternalServerError", "out of memory");
		return;
	}
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	uns_gw_streams *reg = x->streams;
	pthread_mutex_lock(&reg->mu);
	/* A stream whose first Fetch was in flight when the close ended the
	 * others sends its first events and ends: it must never suspend
	 * after that, as MHD_stop_daemon aborts on a suspended connection. */
	st->ended = reg->ending;
	st->next = reg->head;
	if (reg->head) {
		reg->head->prev = st;
	}
	reg->head = st;
	reg->n++;
	pthread_mutex_unlock(&reg->mu);
	x->resp_stream = r;
	x->status = 200;
	x->resp_type = "text/event-stream";
}

void
uns_gw_stream_start(uns_gw_exchange *x, Uns__V1__FetchRequest *req)
{
	const char *last = uns_gw_header(x, "Last-Event-ID");
	if (last != NULL && last[0] != '\0') {
		req->cursor = (char *)last;
	}
	if (x->token == NULL) { /* a browser's EventSource sends no headers */
		x->token = uns_gw_query(x, "access_token");
	}
	req->limit = 1;
	req->wait_ms = 0; /* the stream opens at once */
	uns_gw_call_spec spec = {.method = &uns_notifications_method_fetch,
	                         .finish = first_done};
	uns_gw_call(x, &spec, &req->base);
}
