/*
 * gateway_notifications.c — the route handlers: each turns one HTTP
 * request into RPCs through the typed stubs and the answer into Graph's
 * shape (SPEC §3). Request and response messages go through the Graph
 * mapping of gateway_json.c; what is not JSON (path ids, If-Match,
 * X-UNS-ID, Idempotency-Key, $top, wait) is read here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "clock.h"
#include "gateway_handlers.h"
#include "gateway_head.h"
#include "gateway_json.h"
#include "gateway_stream.h"
#include "gateway_url.h"
#include "errors.h"
#include "uns_stubs.h"

#define MAX_WAIT_S  60
#define DEFAULT_TOP 20

/* ---- helpers ----------------------------------------------------------- */

static const char *
unsid_header(const uns_gw_exchange *x)
{
	const char *v = uns_gw_header(x, "X-UNS-ID");
	return v ? v : "";
}

static void
fail_body(uns_gw_exchange *x, const char *why)
{
	uns_gw_fail(x, 400, "BadRequest", "%s", why);
}

/* Parses a decimal query argument in [lo, hi]; 1 when absent (def kept). */
static int
query_uint(uns_gw_exchange *x, const char *name, unsigned lo, unsigned hi,
           unsigned *out)
{
	const char *v = uns_gw_query(x, name);
	char *end;
	if (v == NULL) {
		return 1;
	}
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || errno || n < lo || n > hi) {
		uns_gw_fail(x, 400, "BadRequest",
		            "%s: expected an integer from %u to %u, got "
		            "\"%.40s\"",
		            name, lo, hi, v);
		return 0;
	}
	*out = (unsigned)n;
	return 1;
}

/* "@odata.context" of the collection under this API version. */
static void
context_text(const uns_gw_exchange *x, const char *what, char ctx[768])
{
	snprintf(ctx, 768, "%s/%s/$metadata#%s", x->base_url,
	         x->version[0] ? x->version : "beta", what);
}

/* base/VERSION/me/notifications + suffix + the query arguments into url;
 * 0 when it does not fit (the link is then left out). */
static int
link_text(const uns_gw_exchange *x, const char *suffix, const char *const *kv,
          size_t n_kv, char url[4096])
{
	size_t len = (size_t)snprintf(url, 4096, "%s/%s/me/notifications%s",
	                              x->base_url, x->version, suffix);
	for (size_t i = 0; i + 1 < n_kv && len < 4096; i += 2) {
		if (kv[i + 1] == NULL || kv[i + 1][0] == '\0') {
			continue;
		}
		len += (size_t)snprintf(url + len, 4096 - len,
		                        "%c%s=", strchr(url, '?') ? '&' : '?',
		                        kv[i]);
		if (len < 4096) {
			len += uns_gw_url_encode(kv[i + 1], strlen(kv[i + 1]),
			                         url + len, 4096 - len);
		}
	}
	return len < 4096;
}

/* The body of a collection answer, written as text (json_buf.h):
 * {"@odata.context":…,"value":[…],"@odata.nextLink"|"deltaLink":…}, the
 * shape and bytes the jansson tree gave. An entry JSON cannot carry is
 * left out, as the tree builder left it out before. */
typedef uns_err (*entry_writer)(uns_json_buf *, const void *);

static void
collection_open(uns_json_buf *b, const uns_gw_exchange *x, const char *what)
{
	char ctx[768];
	context_text(x, what, ctx);
	uns_json_buf_lit(b, "{\"@odata.context\":");
	uns_json_buf_str(b, ctx, strlen(ctx));
	uns_json_buf_lit(b, ",\"value\":[");
}

static void
collection_entries(uns_json_buf *b, entry_writer put,
                   const void *const *entries, size_t n)
{
	int any = 0;
	for (size_t i = 0; i < n && b->err == UNS_OK; i++) {
		size_t mark = b->len;
		if (any) {
			uns_json_buf_raw(b, ",", 1);
		}
		uns_err err = put(b, entries[i]);
		if (err == UNS_OK) {
			any = 1;
			continue;
		}
		uns_json_buf_rewind(b, mark); /* its comma too */
		if (err != UNS_INVALID_ARGUMENT) {
			b->err = err; /* out of memory: the answer is a 500 */
		}
	}
	uns_json_buf_raw(b, "]", 1);
}

/* Closes the object, with the link named name when url is not NULL. */
static void
collection_close(uns_json_buf *b, const char *name, const char *url)
{
	if (url != NULL) {
		uns_json_buf_lit(b, ",\"");
		uns_json_buf_lit(b, name);
		uns_json_buf_lit(b, "\":");
		uns_json_buf_str(b, url, strlen(url));
	}
	uns_json_buf_raw(b, "}", 1);
}

static uns_err
write_notification(uns_json_buf *b, const void *n)
{
	return uns_gw_write_notification(b, n);
}

static uns_err
write_feed_entry(uns_json_buf *b, const void *e)
{
	return uns_gw_write_feed_entry(b, e);
}

static void
reply_notification(uns_gw_exchange *x, unsigned status,
                   const Uns__V1__Notification *n)
{
	char etag[32], ctx[768];
	uns_json_buf b;
	uns_json_buf_init(&b);
	/* The context goes last, inside the notification's object, where
	 * the tree builder put it. */
	uns_err err = uns_gw_write_notification(&b, n);
	if (err == UNS_OK) {
		uns_json_buf_rewind(&b, b.len - 1); /* its '}' */
		if (b.data[b.len - 1] != '{') {
			uns_json_buf_raw(&b, ",", 1);
		}
		context_text(x, "notifications/$entity", ctx);
		uns_json_buf_lit(&b, "\"@odata.context\":");
		uns_json_buf_str(&b, ctx, strlen(ctx));
		uns_json_buf_raw(&b, "}", 1);
	} else {
		b.err = err; /* answered 500, as before */
	}
	snprintf(etag, sizeof(etag), "\"%" PRIu64 "\"", n->version);
	uns_gw_set_header(x, "ETag", etag);
	uns_gw_reply_json_buf(x, status, &b);
}

/* ---- routes ------------------------------------------------------------ */

/* Each route is a prepare half (the handler: parse, check, start the RPC
 * with uns_gw_call, or answer an error at once) and a finish half (the
 * answer from the RPC's reply or status; gateway_exchange.h). */

static void
healthz_done(uns_gw_exchange *x, uns_err err, ProtobufCMessage *m)
{
	const Uns__V1__HealthResponse *resp = (Uns__V1__HealthResponse *)m;
	if (err != UNS_OK) {
		uns_gw_fail_rpc(x, err);
		return;
	}
	int serving =
	    resp->status == UNS__V1__SERVING_STATUS__SERVING_STATUS_SERVING;
	uns_jv *v = uns_jv_new_object();
	if (uns_jv_set_str(v, "status", serving ? "SERVING" : "NOT_SERVING") !=
	        UNS_OK ||
	    uns_jv_set_str(v, "version", resp->version) != UNS_OK ||
	    uns_jv_set_str(v, "store", resp->store_status) != UNS_OK) {
		uns_jv_free(v);
		v = NULL;
	}
	uns_gw_reply_json(x, serving ? 200 : 503, v);
}

void
uns_gw_healthz(uns_gw_exchange *x)
{
	static const uns_gw_call_spec spec = {
	    .method = &uns_notifications_method_health, .finish = healthz_done};
	Uns__V1__HealthRequest req = UNS__V1__HEALTH_REQUEST__INIT;
	uns_gw_call(x, &spec, &req.base);
}

/* The Idempotency-Key header's key: the draft writes it as a structured
 * field string ("8e03…"), which is unquoted; a bare token is taken as
 * it is. "" when absent. */
static char *
idempotency_key(const uns_gw_exchange *x, char *buf, size_t cap)
{
	const char *v = uns_gw_header(x, "Idempotency-Key");
	size_t n = v ? strlen(v) : 0;
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"' && n - 2 < cap) {
		memcpy(buf, v + 1, n - 2);
		buf[n - 2] = '\0';
		return buf;
	}
	return (char *)(v ? v : "");
}

static void
create_done(uns_gw_exchange *x, uns_err err, ProtobufCMessage *m)
{
	const Uns__V1__PostResponse *resp = (Uns__V1__PostResponse *)m;
	if (err != UNS_OK) {
		uns_gw_fail_rpc(x, err);
		return;
	}
	if (resp->created && resp->notification) {
		char loc[1024];
		snprintf(loc, sizeof(loc), "%s/%s/me/notifications/%s",
		         x->base_url, x->version, resp->notification->id);
		uns_gw_set_header(x, "Location", loc);
	}
	reply_notification(x, resp->created ? 201 : 200, resp->notification);
}

void
uns_gw_create(uns_gw_exchange *x)
{
	static const uns_gw_call_spec spec = {
	    .method = &uns_notifications_method_post, .finish = create_done};
	Uns__V1__PostRequest req = UNS__V1__POST_REQUEST__INIT;
	ProtobufCMessage *n = NULL;
	char why[512];
	if (uns_gw_parse_body(&uns__v1__notification__descriptor, x->body,
	                      x->body_len, &n, why, sizeof(why)) != UNS_OK) {
		fail_body(x, why);
		return;
	}
	char key[UNS_GW_PARAM_MAX];
	req.unsid = (char *)unsid_header(x);
	req.notification = (Uns__V1__Notification *)n;
	req.idempotency_key = idempotency_key(x, key, sizeof(key));
	uns_gw_call(x, &spec, &req.base);
	protobuf_c_message_free_unpacked(n, NULL);
}

static void
get_done(uns_gw_exchange *x, uns_err err, ProtobufCMessage *m)
{
	const Uns__V1__FetchResponse *resp = (Uns__V1__FetchResponse *)m;
	if (err != UNS_OK) {
		uns_gw_fail_rpc(x, err);
	} else if (resp->notification == NULL) {
		uns_gw_fail(x, 404, "NotFound", "notification not found");
	} else {
		reply_notification(x, 200, resp->notification);
	}
}

void
uns_gw_get(uns_gw_exchange *x)
{
	static const uns_gw_call_spec spec = {
	    .method = &uns_notifications_method_fetch, .finish = get_done};
	Uns__V1__FetchRequest req = UNS__V1__FETCH_REQUEST__INIT;
	req.id = x->params[0];
	req.unsid = (char *)unsid_header(x);
	uns_gw_call(x, &spec, &req.base);
}

static void
list_done(uns_gw_exchange *x, uns_err err, ProtobufCMessage *m)
{
	const Uns__V1__HistoryResponse *resp = (Uns__V1__HistoryResponse *)m;
	unsigned top = DEFAULT_TOP;
	const char *filter = uns_gw_query(x, "$filter");
	if (err != UNS_OK) {
		uns_gw_fail_rpc(x, err);
		return;
	}
	if (!query_uint(x, "$top", 1, 100000, &top)) {
		return; /* checked by uns_gw_list already */
	}
	uns_json_buf b;
	char url[4096];
	int linked = 0;
	uns_json_buf_init(&b);
	collection_open(&b, x, "notifications");
	collection_entries(&b, write_notification,
	                   (const void *const *)resp->notifications,
	                   resp->n_notifications);
	if (resp->next_page_token[0]) {
		char stop[16];
		snprintf(stop, sizeof(stop), "%u", top);
		const char *kv[] = {"$top",       stop,
		                    "$filter",    filter,
		                    "$skiptoken", resp->next_page_token};
		linked = link_text(x, "", kv, 6, url);
	}
	collection_close(&b, "@odata.nextLink", linked ? url : NULL);
	uns_gw_reply_json_buf(x, 200, &b);
}

/* GET /me/notifications: History, newest first. */
void
uns_gw_list(uns_gw_exchange *x)
{
	static const uns_gw_call_spec spec = {
	    .method = &uns_notifications_method_history, .finish = list_done};
	Uns__V1__HistoryRequest req = UNS__V1__HISTORY_REQUEST__INIT;
	unsigned top = DEFAULT_TOP;
	char group[1024], why[512];
	const char *filter = uns_gw_query(x, "$filter");
	const char *skip = uns_gw_query(x, "$skiptoken");
	if (!query_uint(x, "$top", 1, 100000, &top)) {
		return;
	}
	if (filter && uns_gw_apply_filter(filter, &req, group, sizeof(group),
	                                  why, sizeof(why)) != UNS_OK) {
		fail_body(x, why);
		return;
	}
	req.page_size = top;
	req.page_token = (char *)(skip ? skip : "");
	uns_gw_call(x, &spec, &req.base);
}

static void
delta_done(uns_gw_exchange *x, uns_err err, ProtobufCMessage *m)
{
	const Uns__V1__FetchResponse *resp = (Uns__V1__FetchResponse *)m;
	if (err != UNS_OK) {
		uns_gw_fail_rpc(x, err);
		return;
	}
	uns_json_buf b;
	char url[4096];
	const char *kv[] = {resp->more ? "$skiptoken" : "$deltatoken",
	                    resp->next_cursor};
	uns_json_buf_init(&b);
	collection_open(&b, x, "Collection(notification)");
	collection_entries(&b, write_feed_entry,
	                   (const void *const *)resp->changes, resp->n_changes);
	collection_close(&b,
	                 resp->more ? "@odata.nextLink" : "@odata.deltaLink",
	                 link_text(x, "/delta", kv, 2, url) ? url : NULL);
	uns_gw_reply_json_buf(x, 200, &b);
}

static void delta_woken(uns_gw_exchange *x, uns_gw_wake why, const char *cursor,
                        uint64_t deadline_us, const ProtobufCMessage *page);

/* A long poll's read (wait_ms 0): answered when it has something or the
 * deadline passed, else parked on the feed (uns_gw_park). */
static void
delta_step_done(uns_gw_exchange *x, uns_err err, ProtobufCMessage *m)
{
	const Uns__V1__FetchResponse *resp = (Uns__V1__FetchResponse *)m;
	if (err != UNS_OK || resp->n_changes > 0 || resp->more ||
	    uns_mono_us() >= x->wait_until_us) {
		delta_done(x, err, m);
		return;
	}
	/* The shared wait reads with the server's default page size and
	 * marks nothing fetched: its page is this request's answer unless
	 * it names a page size or a device. */
	int shareable =
	    uns_gw_query(x, "$top") == NULL && unsid_header(x)[0] == '\0';
	uns_gw_park(x, resp->next_cursor, x->wait_until_us, shareable,
	            delta_woken);
}

/* Fetch from cursor: waiting wait_ms upstream (alone), or not at all (a
 * step of a parked long poll) with finish. */
static void
delta_fetch(uns_gw_exchange *x, const char *cursor, uint32_t wait_ms,
            uns_gw_finish_fn finish)
{
	Uns__V1__FetchRequest req = UNS__V1__FETCH_REQUEST__INIT;
	unsigned top = 0;
	(void)query_uint(x, "$top", 1, 100000, &top); /* checked before */
	req.cursor = (char *)cursor;
	req.wait_ms = wait_ms;
	req.limit = top;
	req.unsid = (char *)unsid_header(x);
	uns_gw_call_spec spec = {.method = &uns_notifications_method_fetch,
	                         .extra_ms = wait_ms,
	                         .long_poll = wait_ms > 0,
	                         .finish = finish};
	uns_gw_call(x, &spec, &req.base);
}

/* A parked long poll is back: it reads again with its own token and
 * cursor, answers nothing new at its deadline, or waits on its own. */
static void
delta_woken(uns_gw_exchange *x, uns_gw_wake why, const char *cursor,
            uint64_t deadline_us, const ProtobufCMessage *page)
{
	uint64_t now = uns_mono_us();
	switch (why) {
	case UNS_GW_WAKE_ANSWER:
		delta_done(x, UNS_OK, (ProtobufCMessage *)page);
		return;
	case UNS_GW_WAKE_READ:
		delta_fetch(x, cursor, 0, delta_step_done);
		return;
	case UNS_GW_WAKE_ALONE:
		delta_fetch(x, cursor,
		            deadline_us > now
		                ? (uint32_t)((deadline_us - now) / 1000)
		                : 0,
		            delta_done);
		return;
	case UNS_GW_WAKE_EXPIRED: {
		Uns__V1__FetchResponse empty = UNS__V1__FETCH_RESPONSE__INIT;
		empty.next_cursor = (char *)cursor;
		delta_done(x, UNS_OK, &empty.base);
		return;
	}
	}
}

/* GET /me/notifications/delta: the feed since a cursor, long-polled. A
 * long poll reads once without waiting, then parks on its feed with the
 * others of the same user and host, sharing one upstream wait
 * (gateway_park.h); it holds no thread, and the gateway's close ends it
 * at once (503). */
void
uns_gw_delta(uns_gw_exchange *x)
{
	Uns__V1__FetchRequest req = UNS__V1__FETCH_REQUEST__INIT;
	unsigned wait_s = 0, top = 0;
	const char *cursor = uns_gw_query(x, "$deltatoken");
	if (cursor == NULL) {
		cursor = uns_gw_query(x, "$skiptoken");
	}
	if (!query_uint(x, "wait", 0, MAX_WAIT_S, &wait_s) ||
	    !query_uint(x, "$top", 1, 100000, &top)) {
		return;
	}
	req.cursor = (char *)(cursor ? cursor : "");
	req.wait_ms = wait_s * 1000;
	req.limit = top;
	req.unsid = (char *)unsid_header(x);
	if (uns_gw_wants_stream(x)) {
		uns_gw_stream_start(x, &req);
		return;
	}
	x->wait_until_us = uns_mono_us() + (uint64_t)wait_s * 1000000;
	delta_fetch(x, req.cursor, 0,
	            wait_s > 0 ? delta_step_done : delta_done);
}

/* If-Match (gateway_head.h); 0 when answered. */
static int
parse_if_match(uns_gw_exchange *x, uint64_t *out)
{
	uns_gw_refusal no;
	if (!uns_gw_if_match(uns_gw_header(x, "If-Match"), out, &no)) {
		uns_gw_fail(x, no.status, no.code, "%s", no.message);
		return 0;
	}
	return 1;
}

static void
patch_done(uns_gw_exchange *x, uns_err err, ProtobufCMessage *m)
{
	if (err != UNS_OK) {
		uns_gw_fail_rpc(x, err);
		return;
	}
	reply_notification(x, 200,
	                   ((Uns__V1__UpdateStateResponse *)m)->notification);
}

/* PATCH /me/notifications/{id}: readState, userActionState. */
void
uns_gw_patch(uns_gw_exchange *x)
{
	static const uns_gw_call_spec spec = {
	    .method = &uns_notifications_method_update_state,
	    .finish = patch_done};
	ProtobufCMessage *m = NULL;
	uint64_t if_version;
	char why[512];
	if (!parse_if_match(x, &if_version)) {
		return;
	}
	if (uns_gw_parse_body(&uns__v1__update_state_request__descriptor,
	                      x->body, x->body_len, &m, why,
	                      sizeof(why)) != UNS_OK) {
		fail_body(x, why);
		return;
	}
	Uns__V1__UpdateStateRequest *req = (Uns__V1__UpdateStateRequest *)m;
	if (req->read_state == 0 && req->user_action_state == 0) {
		protobuf_c_message_free_unpacked(m, NULL);
		uns_gw_fail(x, 400, "BadRequest",
		            "nothing to change: give readState and/or "
		            "userActionState");
		return;
	}
	char *saved_id = req->id, *saved_unsid = req->unsid;
	req->id = x->params[0];
	req->unsid = (char *)unsid_header(x);
	req->if_version = if_version;
	uns_gw_call(x, &spec, m);
	req->id = saved_id;
	req->unsid = saved_unsid;
	protobuf_c_message_free_unpacked(m, NULL);
}

static void
empty_done(uns_gw_exchange *x, uns_err err, ProtobufCMessage *m)
{
	(void)m;
	if (err != UNS_OK) {
		uns_gw_fail_rpc(x, err);
		return;
	}
	uns_gw_reply_empty(x, 204);
}

/* DELETE /me/notifications/{id}: UpdateState(delete) for a user,
 * Delete for an app; 204 either way. */
void
uns_gw_delete(uns_gw_exchange *x)
{
	static const uns_gw_call_spec app_spec = {
	    .method = &uns_notifications_method_delete, .finish = empty_done};
	static const uns_gw_call_spec user_spec = {
	    .method = &uns_notifications_method_update_state,
	    .finish = empty_done};
	if (uns_auth_token_is_app(x->token)) {
		Uns__V1__DeleteRequest req = UNS__V1__DELETE_REQUEST__INIT;
		req.id = x->params[0];
		uns_gw_call(x, &app_spec, &req.base);
		return;
	}
	Uns__V1__UpdateStateRequest req = UNS__V1__UPDATE_STATE_REQUEST__INIT;
	uint64_t if_version;
	if (!parse_if_match(x, &if_version)) {
		return;
	}
	req.id = x->params[0];
	req.delete_ = 1;
	req.if_version = if_version;
	req.unsid = (char *)unsid_header(x);
	uns_gw_call(x, &user_spec, &req.base);
}

static void
subscribe_done(uns_gw_exchange *x, uns_err err, ProtobufCMessage *m)
{
	const Uns__V1__SubscribeResponse *resp =
	    (Uns__V1__SubscribeResponse *)m;
	if (err != UNS_OK) {
		uns_gw_fail_rpc(x, err);
		return;
	}
	if (resp->created && resp->subscription) {
		char loc[1024];
		snprintf(loc, sizeof(loc),
		         "%s/%s/me/notifications/subscriptions/%s", x->base_url,
		         x->version, resp->subscription->unsid);
		uns_gw_set_header(x, "Location", loc);
	}
	uns_gw_reply_json(x, resp->created ? 201 : 200,
	                  uns_gw_subscription_json(resp->subscription));
}

/* POST /me/notifications/subscriptions: Subscribe; 201, 200 on renewal. */
void
uns_gw_subscribe(uns_gw_exchange *x)
{
	static const uns_gw_call_spec spec = {
	    .method = &uns_notifications_method_subscribe,
	    .finish = subscribe_done};
	ProtobufCMessage *m = NULL;
	char why[512];
	if (uns_gw_parse_body(&uns__v1__subscribe_request__descriptor, x->body,
	                      x->body_len, &m, why, sizeof(why)) != UNS_OK) {
		fail_body(x, why);
		return;
	}
	uns_gw_call(x, &spec, m);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* DELETE /me/notifications/subscriptions/{unsid}: Unsubscribe; 204. */
void
uns_gw_unsubscribe(uns_gw_exchange *x)
{
	static const uns_gw_call_spec spec = {
	    .method = &uns_notifications_method_unsubscribe,
	    .finish = empty_done};
	Uns__V1__UnsubscribeRequest req = UNS__V1__UNSUBSCRIBE_REQUEST__INIT;
	req.unsid = x->params[0];
	uns_gw_call(x, &spec, &req.base);
}

static void
subscriptions_done(uns_gw_exchange *x, uns_err err, ProtobufCMessage *m)
{
	const Uns__V1__ListSubscriptionsResponse *resp =
	    (Uns__V1__ListSubscriptionsResponse *)m;
	if (err != UNS_OK) {
		uns_gw_fail_rpc(x, err);
		return;
	}
	uns_jv *list = uns_jv_new_array(), *v = uns_jv_new_object();
	char ctx[768];
	context_text(x, "subscriptions", ctx);
	int ok = list != NULL && v != NULL &&
	         uns_jv_set_str(v, "@odata.context", ctx) == UNS_OK;
	for (size_t i = 0; ok && i < resp->n_subscriptions; i++) {
		uns_jv *s = uns_gw_subscription_json(resp->subscriptions[i]);
		ok = s != NULL && uns_jv_append(list, s) == UNS_OK;
	}
	if (!ok || uns_jv_set(v, "value", uns_jv_ref(list)) != UNS_OK) {
		uns_jv_free(v);
		v = NULL;
	}
	uns_jv_free(list);
	uns_gw_reply_json(x, 200, v);
}

/* GET /me/notifications/subscriptions: ListSubscriptions, the caller's
 * devices of the token's host with their delivery state. */
void
uns_gw_subscriptions(uns_gw_exchange *x)
{
	static const uns_gw_call_spec spec = {
	    .method = &uns_notifications_method_list_subscriptions,
	    .finish = subscriptions_done};
	Uns__V1__ListSubscriptionsRequest req =
	    UNS__V1__LIST_SUBSCRIPTIONS_REQUEST__INIT;
	uns_gw_call(x, &spec, &req.base);
}

static void
subscription_done(uns_gw_exchange *x, uns_err err, ProtobufCMessage *m)
{
	const Uns__V1__ListSubscriptionsResponse *resp =
	    (Uns__V1__ListSubscriptionsResponse *)m;
	if (err != UNS_OK) {
		uns_gw_fail_rpc(x, err);
		return;
	}
	for (size_t i = 0; i < resp->n_subscriptions; i++) {
		if (strcmp(resp->subscriptions[i]->unsid, x->params[0]) == 0) {
			uns_gw_reply_json(
			    x, 200,
			    uns_gw_subscription_json(resp->subscriptions[i]));
			return;
		}
	}
	uns_gw_fail(x, 404, "NotFound", "subscription not found");
}

/* GET /me/notifications/subscriptions/{unsid}: one of the caller's
 * subscriptions (the list, filtered: a user has a handful). */
void
uns_gw_subscription(uns_gw_exchange *x)
{
	static const uns_gw_call_spec spec = {
	    .method = &uns_notifications_method_list_subscriptions,
	    .finish = subscription_done};
	Uns__V1__ListSubscriptionsRequest req =
	    UNS__V1__LIST_SUBSCRIPTIONS_REQUEST__INIT;
	uns_gw_call(x, &spec, &req.base);
}

/* GET /admin/users/{user}/hosts/{host}/subscriptions: an operator's view
 * (AdminListSubscriptions; the token needs the uns.operator scope). */
void
uns_gw_admin_subscriptions(uns_gw_exchange *x)
{
	static const uns_gw_call_spec spec = {
	    .method = &uns_notifications_method_admin_list_subscriptions,
	    .finish = subscriptions_done};
	Uns__V1__AdminListSubscriptionsRequest req =
	    UNS__V1__ADMIN_LIST_SUBSCRIPTIONS_REQUEST__INIT;
	req.user = x->params[0];
	req.host = x->params[1];
	uns_gw_call(x, &spec, &req.base);
}
