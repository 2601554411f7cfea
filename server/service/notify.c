/*
 * notify.c — the notification RPCs of SPEC §2 on top of the store: who may
 * call (auth.c), what is valid (validate.c), then one store operation.
 *
 * "Not yours" and "does not exist" are one answer: every lookup through a
 * UNSID or an id that belongs to another user, host or app ends in the same
 * NOT_FOUND message as a missing one.
 *
 * Store results are malloc'd protobuf messages; handlers put them straight
 * into the response and register their release with uns_call_defer, so
 * nothing is copied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "b64url.h"
#include "crypto.h"
#include "push.h"
#include "service_impl.h"
#include "store_util.h"

#define USER UNS_PRINCIPAL_USER
#define APP  UNS_PRINCIPAL_APP

static uns_service *
svc_of(uns_call *call)
{
	return uns_call_ctx(call);
}

/*
 * A store failure the caller cannot act on (the disk, the database, a
 * damaged record) answers a fixed message: the status, what failed and
 * the request id. The store's own text (RocksDB's or PostgreSQL's, with
 * paths, hosts and table names) goes to stderr with that id, never to
 * the caller. The statuses stay what they mean: UNAVAILABLE (retry),
 * DATA_LOSS, INTERNAL for the rest.
 */
static const struct internal_failure {
	uns_err store;
	uns_err status;
	const char *message; /* %s: what failed, then the request id */
} internal_failures[] = {
    {UNS_UNAVAILABLE, UNS_UNAVAILABLE,
     "store unavailable: the %s cannot be read or written now, try again "
     "later; request-id %s"},
    {UNS_DATA_LOSS, UNS_DATA_LOSS,
     "store: the stored %s is damaged; request-id %s"},
    {UNS_OK, UNS_INTERNAL,
     "store: the server could not read or write the %s; request-id %s"},
};

static uns_err
store_internal(uns_call *call, uns_err err, const char *what)
{
	const struct internal_failure *f = internal_failures;
	while (f->store != UNS_OK && f->store != err) {
		f++;
	}
	const char *id = uns_call_request_id(call);
	fprintf(stderr, "unsd: request %s: %s: %s: %s: %s\n", id,
	        call->method ? call->method->name : "?",
	        uns_status_name(f->status), what, uns_store_errmsg());
	return uns_call_fail(call, f->status, NULL, f->message, what, id);
}

/* The one conversion of store errors into call statuses. The messages of
 * the first five are the store's own words about the request (a cursor
 * ahead of the feed, a malformed page token, a limit reached). */
static uns_err
store_fail(uns_call *call, uns_err err, const char *what)
{
	const char *detail = uns_store_errmsg();
	switch (err) {
	case UNS_EINVAL:
		return uns_call_fail(call, UNS_INVALID_ARGUMENT, NULL, "%s: %s",
		                     what, detail);
	case UNS_NOT_FOUND:
		return uns_call_fail(call, UNS_NOT_FOUND, NULL, "%s not found",
		                     what);
	case UNS_FAILED_PRECONDITION:
		return uns_call_fail(call, UNS_FAILED_PRECONDITION, "ifVersion",
		                     "the notification has another version");
	case UNS_RESOURCE_EXHAUSTED:
		return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL, "%s",
		                     detail[0] ? detail : "limit reached");
	case UNS_ALREADY_EXISTS: /* only a keyed Post's (store.h) */
		return uns_call_fail(call, UNS_ALREADY_EXISTS, "idempotencyKey",
		                     "already used for another request");
	case UNS_UNIMPLEMENTED:
		return uns_call_fail(call, UNS_UNIMPLEMENTED, NULL, "%s",
		                     detail);
	default:
		return store_internal(call, err, what);
	}
}

static void
free_message(void *m)
{
	protobuf_c_message_free_unpacked(m, NULL);
}

/* Hands a store message to the response; frees it at once on failure. */
static uns_err
keep(uns_call *call, void *msg)
{
	if (uns_call_defer(call, free_message, msg) != UNS_OK) {
		free_message(msg);
		return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                     "out of memory");
	}
	return UNS_OK;
}

static uns_err
need_store(uns_call *call)
{
	if (svc_of(call)->store == NULL) {
		return uns_call_fail(call, UNS_UNAVAILABLE, NULL,
		                     "no store configured");
	}
	return UNS_OK;
}

static uns_err
authorize(uns_call *call, int kinds, uns_principal *p)
{
	uns_err err = need_store(call);
	if (err != UNS_OK || (err = uns_auth_check(svc_of(call)->auth, call,
	                                           kinds, p)) != UNS_OK) {
		return err;
	}
	return uns_fairness_admit(svc_of(call)->fair, call, p);
}

/* --- subscriptions ------------------------------------------------------ */

/* The transport's own check of the channel (push.h): SSRF guard, host
 * allow-list, key sizes, token shapes; may resolve host names. */
static uns_err
check_channel(uns_call *call, const uns_service *svc,
              const Uns__V1__Subscription *in)
{
	const uns_push_transport_ops *ops = uns_push_find(in->platform);
	const char *field = NULL;
	char why[512] = "";

	if (svc->push == NULL || ops == NULL ||
	    ops->check(svc->push, in, &field, why, sizeof(why)) == UNS_OK) {
		return UNS_OK;
	}
	return uns_call_fail(call, UNS_INVALID_ARGUMENT, field, "%s", why);
}

uns_err
uns_notify_subscribe(uns_call *call, const Uns__V1__SubscribeRequest *req,
                     Uns__V1__SubscribeResponse *resp)
{
	uns_service *svc = svc_of(call);
	uns_principal p;
	uns_err err;
	if ((err = authorize(call, USER, &p)) != UNS_OK ||
	    (err = uns_validate_subscribe(call, &svc->limits, req)) != UNS_OK) {
		return err;
	}
	if (req->target_host_name[0] &&
	    strcasecmp(req->target_host_name, p.host) != 0) {
		return uns_call_fail(call, UNS_PERMISSION_DENIED,
		                     "targetHostName",
		                     "the token is for host %s", p.host);
	}
	Uns__V1__Subscription in = UNS__V1__SUBSCRIPTION__INIT;
	Uns__V1__Subscription *out = NULL;
	protobuf_c_boolean created = 0;
	bool c = false;
	in.device_id = req->device_id;
	in.platform = req->platform;
	in.push_channel = req->push_channel;
	in.web_push = req->web_push;
	in.app_display_name = req->app_display_name;
	if ((err = check_channel(call, svc, &in)) != UNS_OK) {
		return err;
	}
	err = uns_store_sub_put(svc->store, p.user, p.host, &in, &out, &c);
	if (err != UNS_OK) {
		return store_fail(call, err, "subscription");
	}
	created = c;
	resp->subscription = out;
	resp->created = created;
	return keep(call, out);
}

static void
free_subs(void *arg)
{
	uns_store_subs_free(arg);
}

/* (user, host)'s subscriptions with their delivery state, into resp. */
static uns_err
list_subs(uns_call *call, const char *user, const char *host,
          Uns__V1__ListSubscriptionsResponse *resp)
{
	uns_store_subs *l = uns_call_alloc(call, sizeof(*l));
	uns_err err;
	if (l == NULL) {
		return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                     "out of memory");
	}
	err = uns_store_sub_list(svc_of(call)->store, user, host, l);
	if (err != UNS_OK) {
		return store_fail(call, err, "subscription");
	}
	if (uns_call_defer(call, free_subs, l) != UNS_OK) {
		uns_store_subs_free(l);
		return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                     "out of memory");
	}
	resp->subscriptions = l->subs;
	resp->n_subscriptions = l->n;
	return UNS_OK;
}

/* The caller's subscriptions with their delivery state (SPEC §5). */
uns_err
uns_notify_list_subscriptions(uns_call *call,
                              const Uns__V1__ListSubscriptionsRequest *req,
                              Uns__V1__ListSubscriptionsResponse *resp)
{
	uns_principal p;
	uns_err err = authorize(call, USER, &p);
	(void)req;
	return err != UNS_OK ? err : list_subs(call, p.user, p.host, resp);
}

/* An operator's view of one user's subscriptions of one host, with their
 * delivery state (token scope uns.operator only). */
uns_err
uns_notify_admin_list_subscriptions(
    uns_call *call, const Uns__V1__AdminListSubscriptionsRequest *req,
    Uns__V1__ListSubscriptionsResponse *resp)
{
	uns_service *svc = svc_of(call);
	uns_principal p;
	uns_err err;
	if ((err = authorize(call, UNS_PRINCIPAL_OPERATOR, &p)) != UNS_OK ||
	    (err = uns_validate_id(call, &svc->limits, "user", req->user)) !=
	        UNS_OK ||
	    (err = uns_validate_id(call, &svc->limits, "host", req->host)) !=
	        UNS_OK) {
		return err;
	}
	return list_subs(call, req->user, req->host, resp);
}

/* --- post ---------------------------------------------------------------- */

/* The (user, host) a UNSID names, if the caller may use it. */
static uns_err
target_of_unsid(uns_call *call, const uns_principal *p, const char *unsid,
                char *user, char *host)
{
	uns_service *svc = svc_of(call);
	Uns__V1__Subscription *sub = NULL;
	char *owner = NULL;
	uns_err err = uns_validate_id(call, &svc->limits, "unsid", unsid);
	if (err != UNS_OK) {
		return err;
	}
	err = uns_store_sub_get(svc->store, unsid, &owner, &sub);
	if (err != UNS_OK) {
		return store_fail(call, err, "subscription");
	}
	int mine = p->kind == APP
	               ? uns_auth_app_owns_host(svc->auth, p->app_id,
	                                        sub->target_host_name)
	               : strcmp(owner, p->user) == 0 &&
	                     strcasecmp(sub->target_host_name, p->host) == 0;
	snprintf(user, 257, "%s", owner);
	snprintf(host, 257, "%s", sub->target_host_name);
	free(owner);
	uns__v1__subscription__free_unpacked(sub, NULL);
	if (!mine) {
		return uns_call_fail(call, UNS_NOT_FOUND, NULL,
		                     "subscription not found");
	}
	return UNS_OK;
}

/* An app notification id for posts that give none: "uns-" and a fresh
 * random id, minted as the store mints server ids. */
static char *
mint_app_id(uns_call *call)
{
	char rid[UNS_STORE_RID_LEN + 1];
	char *id = uns_call_alloc(call, sizeof(rid) + 4);
	if (id == NULL || uns_store_mint_id(rid) != UNS_OK) {
		return NULL;
	}
	snprintf(id, sizeof(rid) + 4, "uns-%s", rid);
	return id;
}

/* Checks a Post and names its (user, host) and caller; the notification,
 * completed (a minted app notification id), stays in req. */
static uns_err
post_check(uns_call *call, const Uns__V1__PostRequest *req, char *user,
           char *host, uns_principal *caller)
{
	uns_service *svc = svc_of(call);
	uns_principal p;
	uns_err err = authorize(call, USER | APP, &p);
	if (err != UNS_OK) {
		return err;
	}
	*caller = p;
	if (p.kind == APP && req->unsid[0] == '\0') {
		return uns_call_fail(call, UNS_INVALID_ARGUMENT, "unsid",
		                     "required with an app token");
	}
	snprintf(user, 257, "%s", p.user);
	snprintf(host, 257, "%s", p.host);
	if (req->unsid[0] && (err = target_of_unsid(call, &p, req->unsid, user,
	                                            host)) != UNS_OK) {
		return err;
	}
	Uns__V1__Notification *n = req->notification;
	if ((err = uns_validate_notification(
	         call, &svc->limits, n, uns_service_now_ms(svc))) != UNS_OK) {
		return err;
	}
	if (n->target_host_name[0] &&
	    strcasecmp(n->target_host_name, host) != 0) {
		return uns_call_fail(call, UNS_INVALID_ARGUMENT,
		                     "notification.targetHostName",
		                     "does not match the subscription's host");
	}
	if (n->app_notification_id[0] == '\0' &&
	    (n->app_notification_id = mint_app_id(call)) == NULL) {
		return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                     "out of memory");
	}
	return UNS_OK;
}

/* The store's answer to a Post, as the call's status and response. */
static uns_err
post_answer(uns_call *call, Uns__V1__PostResponse *resp, uns_err err,
            Uns__V1__Notification *out, bool created)
{
	if (err != UNS_OK) {
		return store_fail(call, err, "notification");
	}
	resp->notification = out;
	resp->created = created;
	return keep(call, out);
}

/* A suspended write and where its answer goes: a Post's or UpdateState's
 * response, or none (Delete, Unsubscribe). */
struct write_call {
	uns_call *call;
	Uns__V1__PostResponse *post;
	Uns__V1__UpdateStateResponse *update;
	const char *what; /* what a failure names: "notification" or
	                     "subscription" */
};

/* The end of an asynchronous write, on the store's committer thread (or
 * wherever the store finished it); answers the suspended call. */
static void
write_ended(void *arg, uns_err err, Uns__V1__Notification *out, bool created)
{
	struct write_call *wc = arg;
	if (wc->post != NULL) {
		err = post_answer(wc->call, wc->post, err, out, created);
	} else if (err != UNS_OK) {
		err = store_fail(wc->call, err, wc->what);
	} else if (wc->update != NULL) {
		wc->update->notification = out;
		err = keep(wc->call, out);
	} else if (out != NULL) { /* a Delete's, which answers nothing */
		uns__v1__notification__free_unpacked(out, NULL);
	}
	uns_call_resume(wc->call, err);
}

/* Suspends call for a write that will end in write_ended; NULL when out
 * of memory (the call failed). */
static struct write_call *
write_suspend(uns_call *call, uns_err *pending)
{
	struct write_call *wc = uns_call_alloc(call, sizeof(*wc));
	if (wc == NULL) {
		*pending = uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                         "out of memory");
		return NULL;
	}
	wc->call = call;
	wc->what = "notification";
	*pending = uns_call_suspend(call);
	return wc;
}

uns_err
uns_notify_unsubscribe(uns_call *call, const Uns__V1__UnsubscribeRequest *req,
                       Uns__V1__UnsubscribeResponse *resp)
{
	uns_service *svc = svc_of(call);
	uns_principal p;
	uns_err err;
	(void)resp;
	if ((err = authorize(call, USER, &p)) != UNS_OK ||
	    (err = uns_validate_id(call, &svc->limits, "unsid", req->unsid)) !=
	        UNS_OK) {
		return err;
	}
	if (svc->rpc_flags & UNS_SERVICE_ASYNC_WRITES) {
		struct write_call *wc = write_suspend(call, &err);
		if (wc != NULL) {
			wc->what = "subscription";
			/* As in Post: the call may be gone once this starts. */
			uns_store_sub_delete_async(svc->store, p.user, p.host,
			                           req->unsid, write_ended, wc);
		}
		return err;
	}
	err = uns_store_sub_delete(svc->store, p.user, p.host, req->unsid);
	return err == UNS_OK ? UNS_OK : store_fail(call, err, "subscription");
}

/*
 * A Post's idempotency key (store.h, uns_store_idem), in the call's memory,
 * or NULL when the request has none. The fingerprint is SHA-256 of the
 * request as sent (unsid, then the packed notification), taken before the
 * notification is completed (a minted app id), so a repeat matches. The
 * store's key is base64url(SHA-256(caller ‖ client key)): an app's and a
 * user's keys, or two apps', never meet, at a fixed length.
 */
static uns_err
idem_fingerprint(uns_call *call, const Uns__V1__PostRequest *req,
                 unsigned char fp[32])
{
	const Uns__V1__Notification *n = req->notification;
	size_t ulen = strlen(req->unsid) + 1;
	size_t nlen = n ? protobuf_c_message_get_packed_size(&n->base) : 0;
	uint8_t *buf = uns_call_alloc(call, ulen + nlen + 1);
	if (buf == NULL) {
		return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                     "out of memory");
	}
	memcpy(buf, req->unsid, ulen);
	if (n != NULL) {
		protobuf_c_message_pack(&n->base, buf + ulen);
	}
	return uns_sha256(buf, ulen + nlen, fp) == UNS_OK
	           ? UNS_OK
	           : uns_call_fail(call, UNS_INTERNAL, NULL, "sha256 failed");
}

static uns_err
idem_key(uns_call *call, const uns_principal *p, const char *client_key,
         uns_store_idem *idem)
{
	char scope[1100];
	uint8_t h[32];
	char *key = uns_call_alloc(call, UNS_STORE_IDEM_KEY_MAX + 1);
	int n = snprintf(scope, sizeof(scope), "%s%c%s%c%s",
	                 p->kind == APP ? "app" : "user", 0,
	                 p->kind == APP ? p->app_id : p->user, 0, client_key);
	if (key == NULL || n < 0 || (size_t)n >= sizeof(scope) ||
	    uns_sha256(scope, (size_t)n, h) != UNS_OK) {
		return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                     "out of memory");
	}
	key[uns_b64url_encode(h, sizeof(h), key)] = '\0';
	idem->key = key;
	idem->window_ms = svc_of(call)->limits.idempotency_window_ms;
	return UNS_OK;
}

uns_err
uns_notify_post(uns_call *call, const Uns__V1__PostRequest *req,
                Uns__V1__PostResponse *resp)
{
	uns_service *svc = svc_of(call);
	char user[257], host[257];
	uns_store_idem *idem = NULL;
	uns_principal caller;
	uns_err err = UNS_OK;
	if (req->idempotency_key[0] != '\0' &&
	    ((idem = uns_call_alloc(call, sizeof(*idem))) == NULL ||
	     (err = idem_fingerprint(call, req, idem->fingerprint)) !=
	         UNS_OK)) {
		return idem ? err
		            : uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                            "out of memory");
	}
	if ((err = post_check(call, req, user, host, &caller)) != UNS_OK ||
	    (idem != NULL &&
	     ((err = uns_validate_id(call, &svc->limits, "idempotencyKey",
	                             req->idempotency_key)) != UNS_OK ||
	      (err = idem_key(call, &caller, req->idempotency_key, idem)) !=
	          UNS_OK))) {
		return err;
	}
	uns_expiry_hint(svc->expiry, req->notification->expiration_time_ms);
	if (svc->rpc_flags & UNS_SERVICE_ASYNC_WRITES) {
		struct write_call *wc = write_suspend(call, &err);
		if (wc != NULL) {
			wc->post = resp;
			/* From here on the call may be answered (and gone) at
			 * any moment: nothing below touches it. */
			uns_store_post_keyed_async(svc->store, user, host,
			                           req->notification, idem,
			                           write_ended, wc);
		}
		return err;
	}
	Uns__V1__Notification *out = NULL;
	bool created = false;
	err = uns_store_post_keyed(svc->store, user, host, req->notification,
	                           idem, &out, &created);
	return post_answer(call, resp, err, out, created);
}

/* --- fetch ---------------------------------------------------------------- */

static uns_err
fetch_one(uns_call *call, const uns_principal *p, const char *id,
          Uns__V1__FetchResponse *resp)
{
	Uns__V1__Notification *n = NULL;
	uns_err err =
	    uns_store_get(svc_of(call)->store, p->user, p->host, id, &n);
	if (err != UNS_OK) {
		return store_fail(call, err, "notification");
	}
	resp->notification = n;
	return keep(call, n);
}

/*
 * Long poll (feedwait.h): read the feed; while it has nothing new and time
 * is left, park on the feed and read again when it moves. The call is
 * suspended while parked, so it holds no thread and no RPC context; the
 * feedwait's thread reads again and answers. The wait ends at wait_ms or
 * at the caller's deadline less a margin for the reply, whichever is first.
 */
typedef struct feed_wait {
	uns_feedwait_waiter waiter;
	uns_call *call;
	const char *user, *host; /* in the call's arena */
	const char *cursor;      /* "latest" resolves once, at the first read */
	const char *unsid;
	uint32_t limit;
	nng_time until;
	uns_store_feed_page *page; /* the last read */
	Uns__V1__FetchResponse *resp;
} feed_wait;

static void mark_fetched(uns_call *call, const char *user, const char *host,
                         const char *unsid, const Uns__V1__FetchResponse *resp);

static uns_err
feed_answer(feed_wait *fw)
{
	Uns__V1__FetchResponse *resp = fw->resp;
	resp->changes = fw->page->entries;
	resp->n_changes = fw->page->n;
	resp->next_cursor = fw->page->next_cursor;
	resp->more = fw->page->more;
	if (fw->unsid[0] != '\0') {
		mark_fetched(fw->call, fw->user, fw->host, fw->unsid, resp);
	}
	return UNS_OK;
}

static void feed_moved_cb(void *arg, int moved);

/* Reads until there is something to answer or the wait is parked;
 * returns the answer's status, or UNS_CALL_PENDING when parked. */
static uns_err
feed_step(feed_wait *fw)
{
	uns_service *svc = svc_of(fw->call);
	for (;;) {
		uint64_t gen = uns_feedwait_gen(svc->waits, fw->user, fw->host);
		uns_err err =
		    uns_store_feed_read(svc->store, fw->user, fw->host,
		                        fw->cursor, fw->limit, fw->page);
		if (err != UNS_OK) {
			return store_fail(fw->call, err, "cursor");
		}
		nng_time now = nng_clock();
		if (fw->page->n > 0 || now >= fw->until) {
			return feed_answer(fw);
		}
		fw->cursor = uns_call_strdup(fw->call, fw->page->next_cursor);
		uns_store_feed_page_free(fw->page);
		if (fw->cursor == NULL) {
			return uns_call_fail(fw->call, UNS_RESOURCE_EXHAUSTED,
			                     NULL, "out of memory");
		}
		switch (uns_feedwait_park(
		    svc->waits, &fw->waiter, fw->user, fw->host, gen,
		    (uint32_t)(fw->until - now), feed_moved_cb, fw)) {
		case UNS_FEEDWAIT_PARKED:
			return UNS_CALL_PENDING;
		case UNS_FEEDWAIT_MOVED:
			continue;
		case UNS_FEEDWAIT_CLOSED:
			if (fw->waiter.cancelled) {
				return uns_call_fail(fw->call, UNS_CANCELLED,
				                     NULL,
				                     "the caller went away");
			}
			fw->until = now; /* one last read, then answer */
			continue;
		}
	}
}

/* On the feedwait's thread: the feed moved, or the wait is over. A wait
 * whose caller hung up ends without reading (nobody would get the page, and
 * marking it fetched would hold back a fallback alert). */
static void
feed_moved_cb(void *arg, int moved)
{
	feed_wait *fw = arg;
	if (fw->waiter.cancelled) {
		uns_call_resume(fw->call,
		                uns_call_fail(fw->call, UNS_CANCELLED, NULL,
		                              "the caller went away"));
		return;
	}
	if (!moved) {
		fw->until = nng_clock();
	}
	uns_err err = feed_step(fw);
	if (err != UNS_CALL_PENDING) {
		uns_call_resume(fw->call, err);
	}
}

/* The caller's connection closed (uns_call_on_hangup). */
static void
feed_hung_up(void *arg)
{
	feed_wait *fw = arg;
	uns_feedwait_cancel(svc_of(fw->call)->waits, &fw->waiter);
}

static void
free_feed_page(void *arg)
{
	uns_store_feed_page_free(arg);
}

static uns_err
fetch_feed(uns_call *call, const uns_principal *p,
           const Uns__V1__FetchRequest *req, Uns__V1__FetchResponse *resp)
{
	uns_service *svc = svc_of(call);
	feed_wait *fw = uns_call_alloc(call, sizeof(*fw));
	uns_store_feed_page *page = uns_call_alloc(call, sizeof(*page));
	if (fw == NULL || page == NULL) {
		return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                     "out of memory");
	}
	memset(fw, 0, sizeof(*fw));
	memset(page, 0, sizeof(*page));
	fw->call = call;
	fw->user = uns_call_strdup(call, p->user);
	fw->host = uns_call_strdup(call, p->host);
	fw->cursor = req->cursor;
	fw->unsid = req->unsid;
	fw->limit = req->limit;
	fw->page = page;
	fw->resp = resp;
	uint32_t left = uns_call_time_left(call);
	uint32_t wait = req->wait_ms;
	if (left < 100 + wait) {
		wait = left > 100 ? left - 100 : 0;
	}
	fw->until = nng_clock() + wait;
	if (fw->user == NULL || fw->host == NULL ||
	    uns_call_defer(call, free_feed_page, page) != UNS_OK) {
		return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                     "out of memory");
	}
	if (wait == 0) {
		return feed_step(fw);
	}
	uns_err err = uns_fairness_wait(svc->fair, call, fw->user, fw->host);
	if (err != UNS_OK) {
		return err;
	}
	/* From the park on, the feedwait's thread may answer (and end) the
	 * call at any moment: nothing below touches it. */
	uns_call_suspend(call);
	uns_call_on_hangup(call, feed_hung_up, fw);
	err = feed_step(fw);
	if (err != UNS_CALL_PENDING) {
		uns_call_resume(call, err);
	}
	return UNS_CALL_PENDING;
}

static void
fetched_ended(void *arg, uns_err rc, Uns__V1__Notification *n, bool created)
{
	(void)arg;
	(void)rc; /* best effort: a failure only means an extra alert */
	(void)created;
	if (n != NULL) {
		uns__v1__notification__free_unpacked(n, NULL);
	}
}

/* Records what the device req->unsid fetched, for the iOS fallback
 * (SPEC §5). Best effort: a failure only means an extra fallback alert. */
static void
mark_fetched(uns_call *call, const char *user, const char *host,
             const char *unsid, const Uns__V1__FetchResponse *resp)
{
	size_t n = resp->notification != NULL ? 1 : resp->n_changes;
	const char **ids = uns_call_alloc(call, (n + 1) * sizeof(*ids));
	size_t k = 0;

	if (ids == NULL) {
		return;
	}
	if (resp->notification != NULL) {
		ids[k++] = resp->notification->id;
	}
	for (size_t i = 0; resp->notification == NULL && i < n; i++) {
		const Uns__V1__FeedEntry *e = resp->changes[i];
		if (e->removed == 0 && e->notification != NULL) {
			ids[k++] = e->notification->id;
		}
	}
	if (k > 0) {
		/* Asynchronous like the other writes: this may run on the
		 * thread that received the call, and a write that must sync
		 * (a pending iOS fallback check) would hold it for the fsync
		 * and wait for the owner's stripe behind writers. The store
		 * copies what it needs; nobody waits for the end. */
		uns_store_fetched_async(svc_of(call)->store, user, host, unsid,
		                        ids, k, fetched_ended, NULL);
	}
}

uns_err
uns_notify_fetch(uns_call *call, const Uns__V1__FetchRequest *req,
                 Uns__V1__FetchResponse *resp)
{
	uns_principal p;
	uns_err err;
	if ((err = authorize(call, USER, &p)) != UNS_OK ||
	    (err = uns_validate_fetch(call, &svc_of(call)->limits, req)) !=
	        UNS_OK) {
		return err;
	}
	if (req->id[0] == '\0') {
		return fetch_feed(call, &p, req, resp);
	}
	err = fetch_one(call, &p, req->id, resp);
	if (err == UNS_OK && req->unsid[0] != '\0') {
		mark_fetched(call, p.user, p.host, req->unsid, resp);
	}
	return err;
}

/* --- state, history, delete ---------------------------------------------- */

uns_err
uns_notify_update_state(uns_call *call, const Uns__V1__UpdateStateRequest *req,
                        Uns__V1__UpdateStateResponse *resp)
{
	uns_principal p;
	uns_err err;
	if ((err = authorize(call, USER, &p)) != UNS_OK ||
	    (err = uns_validate_update(call, req)) != UNS_OK) {
		return err;
	}
	uns_store_change chg = {.read_state = req->read_state,
	                        .user_action_state = req->user_action_state,
	                        .delete_ = req->delete_,
	                        .if_version = req->if_version,
	                        .by_unsid = req->unsid[0] ? req->unsid : NULL};
	uns_service *svc = svc_of(call);
	if (svc->rpc_flags & UNS_SERVICE_ASYNC_WRITES) {
		struct write_call *wc = write_suspend(call, &err);
		if (wc != NULL) {
			wc->update = resp;
			/* As in Post: the call may be gone once this starts. */
			uns_store_update_state_async(svc->store, p.user, p.host,
			                             req->id, &chg, write_ended,
			                             wc);
		}
		return err;
	}
	Uns__V1__Notification *out = NULL;
	err = uns_store_update_state(svc->store, p.user, p.host, req->id, &chg,
	                             &out);
	if (err != UNS_OK) {
		return store_fail(call, err, "notification");
	}
	resp->notification = out;
	return keep(call, out);
}

static void
free_history_page(void *arg)
{
	uns_store_history_page_free(arg);
}

uns_err
uns_notify_history(uns_call *call, const Uns__V1__HistoryRequest *req,
                   Uns__V1__HistoryResponse *resp)
{
	uns_principal p;
	uns_err err;
	if ((err = authorize(call, USER, &p)) != UNS_OK ||
	    (err = uns_validate_history(call, &svc_of(call)->limits, req)) !=
	        UNS_OK) {
		return err;
	}
	uns_store_history_query q = {.page_size = req->page_size,
	                             .page_token = req->page_token,
	                             .status = req->status,
	                             .read_state = req->read_state,
	                             .user_action_state =
	                                 req->user_action_state,
	                             .group_name = req->group_name};
	uns_store_history_page *page = uns_call_alloc(call, sizeof(*page));
	if (page == NULL) {
		return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                     "out of memory");
	}
	err = uns_store_history(svc_of(call)->store, p.user, p.host, &q, page);
	if (err != UNS_OK) {
		return store_fail(call, err, "pageToken");
	}
	if (uns_call_defer(call, free_history_page, page) != UNS_OK) {
		uns_store_history_page_free(page);
		return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                     "out of memory");
	}
	resp->notifications = page->items;
	resp->n_notifications = page->n;
	resp->next_page_token = page->next_page_token
	                            ? page->next_page_token
	                            : (char *)protobuf_c_empty_string;
	return UNS_OK;
}

/* The hosts a Delete may touch (*n of them): the target's, for one naming
 * an UNSID (user set too), else all of the app's (user ""): a server id is
 * unique, and the store checks the notification's host against them, so
 * another app's notification is never touched. */
static uns_err
delete_scope(uns_call *call, const uns_principal *p,
             const Uns__V1__DeleteRequest *req, char user[257],
             char (*hosts)[257], size_t *n)
{
	uns_service *svc = svc_of(call);
	if (req->unsid[0] != '\0') {
		*n = 1;
		return target_of_unsid(call, p, req->unsid, user, hosts[0]);
	}
	user[0] = '\0';
	*n = uns_auth_app_hosts(svc->auth, p->app_id, hosts, UNS_MAX_APP_HOSTS);
	return *n > 0 ? UNS_OK
	              : store_fail(call, UNS_NOT_FOUND, "notification");
}

/* The Delete's write, waited for on this (worker) thread. */
static uns_err
delete_blocking(uns_call *call, const Uns__V1__DeleteRequest *req,
                const char *user, const char *const *hosts, size_t n)
{
	uns_store *st = svc_of(call)->store;
	uns_err err =
	    req->id[0] ? uns_store_delete_in_hosts(st, user, hosts, n, req->id)
	               : uns_store_delete_by_app_id(st, user, hosts[0],
	                                            req->app_notification_id);
	return err == UNS_OK ? UNS_OK : store_fail(call, err, "notification");
}

/* The Delete's write, answered by the committer (the call suspends). */
static uns_err
delete_async(uns_call *call, const Uns__V1__DeleteRequest *req,
             const char *user, const char *const *hosts, size_t n)
{
	uns_store *st = svc_of(call)->store;
	uns_err err;
	struct write_call *wc = write_suspend(call, &err);
	/* As in Post: the call may be gone once these start. */
	if (wc != NULL && req->id[0]) {
		uns_store_delete_in_hosts_async(st, user, hosts, n, req->id,
		                                write_ended, wc);
	} else if (wc != NULL) {
		uns_store_delete_by_app_id_async(st, user, hosts[0],
		                                 req->app_notification_id,
		                                 write_ended, wc);
	}
	return err;
}

uns_err
uns_notify_delete(uns_call *call, const Uns__V1__DeleteRequest *req,
                  Uns__V1__DeleteResponse *resp)
{
	uns_principal p;
	char user[257], hosts[UNS_MAX_APP_HOSTS][257];
	(void)resp;
	uns_err err = authorize(call, APP, &p);
	if (err != UNS_OK) {
		return err;
	}
	if (req->id[0] == '\0' && req->app_notification_id[0] == '\0') {
		return uns_call_fail(call, UNS_INVALID_ARGUMENT, "id",
		                     "give id, or unsid and appNotificationId");
	}
	if (req->unsid[0] == '\0' && req->id[0] == '\0') {
		return uns_call_fail(call, UNS_INVALID_ARGUMENT, "unsid",
		                     "required with appNotificationId");
	}
	size_t n = 0;
	if ((err = delete_scope(call, &p, req, user, hosts, &n)) != UNS_OK) {
		return err;
	}
	const char *list[UNS_MAX_APP_HOSTS];
	for (size_t i = 0; i < n; i++) {
		list[i] = hosts[i];
	}
	const char *u = user[0] ? user : NULL;
	return svc_of(call)->rpc_flags & UNS_SERVICE_ASYNC_WRITES
	           ? delete_async(call, req, u, list, n)
	           : delete_blocking(call, req, u, list, n);
}
