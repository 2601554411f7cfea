/*
 * service.c — the service's state, Health and Echo, and the handler table
 * (the notification RPCs live in notify.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "call.h"
#include "service_impl.h"

#define SERVICE_NAME "uns.v1.Notifications"

static void
feed_moved(void *arg, const char *user, const char *host, uint64_t head,
           size_t taps)
{
	uns_service *svc = arg;
	(void)head;
	(void)taps;
	uns_feedwait_notify(svc->waits, user, host);
}

uns_err
uns_service_open(uns_service **out, const uns_service_config *cfg)
{
	uns_service *svc = calloc(1, sizeof(*svc));
	uns_fairness_config fc;
	uns_fairness_defaults(&fc);
	if (cfg != NULL && cfg->fairness != NULL) {
		fc = *cfg->fairness;
	}
	uns_token_guard_config gc;
	uns_token_guard_defaults(&gc);
	if (cfg != NULL && cfg->token_guard != NULL) {
		gc = *cfg->token_guard;
	}
	if (svc == NULL || uns_feedwait_open(&svc->waits) != UNS_OK ||
	    uns_fairness_open(&svc->fair, &fc) != UNS_OK ||
	    uns_token_guard_open(&svc->token_guard, &gc) != UNS_OK) {
		if (svc != NULL) {
			uns_feedwait_close(svc->waits);
			uns_fairness_close(svc->fair);
		}
		free(svc);
		return UNS_ENOMEM;
	}
	atomic_store(&svc->serving, 1);
	uns_limits_defaults(&svc->limits);
	if (cfg != NULL) {
		svc->store = cfg->store;
		svc->auth = cfg->auth;
		svc->issuer = cfg->issuer;
		svc->push = cfg->push;
		svc->now_ms = cfg->now_ms;
		svc->now_arg = cfg->now_arg;
		if (cfg->limits) {
			svc->limits = *cfg->limits;
		}
	}
	if (cfg != NULL && cfg->recheck_ms > 0) {
		uns_feedwait_set_recheck(svc->waits, cfg->recheck_ms);
	}
	uns_err err;
	if (svc->store &&
	    (err = uns_store_observe(svc->store, feed_moved, svc)) != UNS_OK) {
		uns_service_close(svc);
		return err;
	}
	if (svc->store && cfg->expiry_resolution_ms > 0 &&
	    uns_expiry_open(&svc->expiry, svc->store, svc->now_ms, svc->now_arg,
	                    cfg->expiry_resolution_ms) != UNS_OK) {
		uns_service_close(svc);
		return UNS_ENOMEM;
	}
	*out = svc;
	return UNS_OK;
}

void
uns_service_close(uns_service *svc)
{
	if (svc == NULL) {
		return;
	}
	uns_expiry_close(svc->expiry);
	if (svc->store) {
		uns_store_unobserve(svc->store, feed_moved, svc);
	}
	uns_feedwait_close(svc->waits);
	uns_fairness_close(svc->fair);
	uns_token_guard_close(svc->token_guard);
	free(svc);
}

void
uns_service_set_serving(uns_service *svc, int serving)
{
	atomic_store(&svc->serving, serving);
	if (!serving) {
		uns_feedwait_shutdown(svc->waits);
	}
}

void
uns_service_feed_moved(uns_service *svc, const char *user, const char *host)
{
	uns_feedwait_notify(svc->waits, user, host);
}

size_t
uns_service_waiting(uns_service *svc)
{
	return uns_feedwait_parked(svc->waits);
}

int64_t
uns_service_now_ms(const uns_service *svc)
{
	if (svc->now_ms) {
		return svc->now_ms(svc->now_arg);
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uns_err
health(uns_call *call, const Uns__V1__HealthRequest *req,
       Uns__V1__HealthResponse *resp)
{
	uns_service *svc = uns_call_ctx(call);
	if (req->service[0] != '\0' &&
	    strcmp(req->service, SERVICE_NAME) != 0) {
		return uns_call_fail(call, UNS_NOT_FOUND, "service",
		                     "unknown service \"%s\"", req->service);
	}
	/* Not serving while the store cannot take writes (a full disk):
	 * checked afresh each time, so it comes back by itself. The store's
	 * note (why not, or what its open had to recover) goes along. */
	char note[600];
	int writable =
	    svc->store ? uns_store_health(svc->store, note, sizeof(note)) : 1;
	resp->status =
	    atomic_load(&svc->serving) && writable
	        ? UNS__V1__SERVING_STATUS__SERVING_STATUS_SERVING
	        : UNS__V1__SERVING_STATUS__SERVING_STATUS_NOT_SERVING;
	resp->version = UNS_VERSION;
	resp->store_status = svc->store ? "rocksdb" : "none";
	if (svc->store && note[0] != '\0') {
		size_t n = strlen(note) + 16;
		char *s = uns_call_alloc(call, n);
		if (s != NULL) {
			snprintf(s, n, "rocksdb: %s", note);
			resp->store_status = s;
		}
	}
	return UNS_OK;
}

static uns_err
echo(uns_call *call, const Uns__V1__EchoRequest *req,
     Uns__V1__EchoResponse *resp)
{
	(void)call;
	resp->data = req->data; /* lives in the call's arena until packed */
	return UNS_OK;
}

const uns_notifications_handlers uns_service_handlers = {
    .subscribe = uns_notify_subscribe,
    .unsubscribe = uns_notify_unsubscribe,
    .post = uns_notify_post,
    .fetch = uns_notify_fetch,
    .update_state = uns_notify_update_state,
    .history = uns_notify_history,
    .delete = uns_notify_delete,
    .health = health,
    .echo = echo,
    .list_subscriptions = uns_notify_list_subscriptions,
    .issue_token = uns_token_issue,
    .admin_list_subscriptions = uns_notify_admin_list_subscriptions,
};

const char *const uns_service_inline_methods[] = {
    "/uns.v1.Notifications/Health",
    "/uns.v1.Notifications/Echo",
    NULL,
};

/* Which calls run on the NNG thread (see uns_service_rpc). */
static int
runs_inline(void *ctx, const uns_method *m, const ProtobufCMessage *req)
{
	unsigned flags = ((const uns_service *)ctx)->rpc_flags;

	if (m->input == &uns__v1__post_request__descriptor ||
	    m->input == &uns__v1__update_state_request__descriptor ||
	    m->input == &uns__v1__delete_request__descriptor ||
	    m->input == &uns__v1__unsubscribe_request__descriptor) {
		return (flags & UNS_SERVICE_ASYNC_WRITES) != 0;
	}
	if (!(flags & UNS_SERVICE_INLINE_READS)) {
		return 0;
	}
	if (m->input == &uns__v1__history_request__descriptor) {
		return 1;
	}
	return m->input == &uns__v1__fetch_request__descriptor &&
	       ((const Uns__V1__FetchRequest *)req)->wait_ms == 0;
}

uns_rpc_service
uns_service_rpc(uns_service *svc, unsigned flags)
{
	svc->rpc_flags = flags;
	uns_rpc_service rs = {
	    .desc = &uns_notifications_service,
	    .handlers = &uns_service_handlers,
	    .ctx = svc,
	    .inline_methods = uns_service_inline_methods,
	    .runs_inline = runs_inline,
	};
	return rs;
}
