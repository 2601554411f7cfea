/*
 * gateway_stream.h — Server-Sent Events: GET /me/notifications/delta with
 * "Accept: text/event-stream" streams the user's feed changes for as long
 * as the client stays (docs/gateway.md, "Event stream").
 *
 * A stream is the delta long poll run in a loop on one connection: the
 * first Fetch answers like delta (its error, if any, is the HTTP answer);
 * from then on the response is a chunked text/event-stream whose content
 * reader hands out what is buffered and otherwise starts the next Fetch
 * (a long poll of heartbeat_ms) and suspends the connection; the Fetch's
 * completion writes its events (or a heartbeat comment) and resumes it. So
 * a waiting stream holds no thread, like a parked long poll. A client that
 * closes while its stream waits ends the stream and its Fetch's wait at
 * once (gateway_watchdog.h's hang-ups).
 *
 * Each event is one change, its id the cursor just after it: the stream
 * reads the feed one change at a time (limit 1), so an id never covers a
 * change the client has not been given, and a reconnect with Last-Event-ID
 * loses and repeats nothing. Rejected: one event per page (ids would be
 * exact but a client would get tombstones and notifications mixed in one
 * event) and per-change cursors computed in the gateway (the cursor's
 * format is the store's).
 */
#ifndef UNS_GATEWAY_STREAM_H
#define UNS_GATEWAY_STREAM_H

#include <stdint.h>

#include "gateway_exchange.h"
#include "uns/v1/notifications.pb-c.h"

typedef struct uns_gw_streams uns_gw_streams;
struct uns_gw_watchdog;

/* What a stream whose client closes while it waits tells (gateway.h's
 * hangup hook, the metric); all optional. */
typedef struct uns_gw_streams_hangup {
	struct uns_gw_watchdog *watchdog; /* watches the waiting streams */
	struct uns_gw_ops *ops;
	void (*fn)(void *arg, const char *request_id);
	void *arg;
} uns_gw_streams_hangup;

uns_err uns_gw_streams_open(uns_gw_streams **out, uint32_t heartbeat_ms,
                            const uns_gw_streams_hangup *hup);
/* The gateway is closing: every stream ends (its buffered events first),
 * those waiting are resumed to do so, and a stream that starts later (its
 * first Fetch was in flight) ends after its first events. */
void uns_gw_streams_end_all(uns_gw_streams *s);
/* Streams open now. */
size_t uns_gw_streams_count(uns_gw_streams *s);
/* After MHD stopped (no stream is left). */
void uns_gw_streams_close(uns_gw_streams *s);

/* Whether x asks for an event stream (Accept: text/event-stream). */
int uns_gw_wants_stream(const uns_gw_exchange *x);
/* Starts streaming the feed from req's cursor (Last-Event-ID wins over
 * it); the handler's last call, like uns_gw_call. */
void uns_gw_stream_start(uns_gw_exchange *x, Uns__V1__FetchRequest *req);

#endif /* UNS_GATEWAY_STREAM_H */
