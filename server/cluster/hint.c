/*
 * hint.c — see hint.h.
 *
 * The queue is a singly linked list of malloc'd, already encoded hints
 * with a count cap, taken whole by the publisher thread: the writer's cost
 * is one encode, one malloc and one uncontended lock (measured in
 * docs/benchmarks/cluster.md). libnats' own flusher thread turns the
 * publishes of one drain into a few socket writes.
 *
 * Received hints arrive on the subscription's libnats thread, in order,
 * and go straight to cfg.fn (which only wakes things). NATS drops what a
 * slow subscriber does not take (pending limits); those are counted from
 * the subscription at metrics time.
 *
 * Rejected: publishing on the committer's thread (a NATS socket that is
 * full or reconnecting would stall every write of the node) and a
 * subscription per bucket of the users waiting here (a node with tap-stream
 * subscribers or a delivery engine needs every hint anyway; measured,
 * docs/cluster.md).
 *
 * libnats keeps global state (nats_Open/nats_Close); handles in one
 * process count their opens and the last close releases it.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "errors.h"
#include "hint.h"
#include "hint_wire.h"

#define DEFAULT_QUEUE        8192
#define DEFAULT_RECONNECT_MS 250
#define RECONNECT_BUF        (256 * 1024) /* hints held while away */
#define PENDING_MSGS         65536        /* received, not yet handled */
#define PENDING_BYTES        (64 * 1024 * 1024)
#define CLOSE_FLUSH_MS       500

typedef struct queued {
	struct queued *next;
	char subject[UNS_HINT_SUBJECT_MAX];
	size_t len;
	uint8_t data[];
} queued;

struct uns_hint {
	uns_hint_config cfg;
	char *url;
	char *name;
	natsOptions *opts;
	natsConnection *conn;
	natsSubscription *sub;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	queued *head, *tail;
	unsigned queued_n;
	bool stopping;
	pthread_t thread;
	bool started;
	bool lib_held;

	atomic_uint_fast64_t published, received;
	atomic_uint_fast64_t dropped_queue, dropped_publish, malformed;
	uns_metric *m_published, *m_received, *m_dropped;
};

static pthread_mutex_t lib_mu = PTHREAD_MUTEX_INITIALIZER;
static int lib_users;

/* ---- the libnats library, shared by the handles of a process ---------- */

static bool
lib_hold(void)
{
	pthread_mutex_lock(&lib_mu);
	bool ok = lib_users > 0 || nats_Open(-1) == NATS_OK;
	lib_users += ok;
	pthread_mutex_unlock(&lib_mu);
	return ok;
}

static void
lib_release(void)
{
	pthread_mutex_lock(&lib_mu);
	if (--lib_users == 0) {
		(void)nats_CloseAndWait(2000);
	}
	pthread_mutex_unlock(&lib_mu);
}

/* A counter += 1, when there are metrics (label: its one value, or
 * NULL). */
static void
count(uns_metric *m, const char *label)
{
	if (m != NULL) {
		uns_metric_add(m, label != NULL ? &label : NULL, 1);
	}
}

/* ---- connection events: said once each, on libnats' threads ---------- */

static void
say_connected(natsConnection *nc, void *arg)
{
	uns_hint *h = arg;
	char url[256] = "";
	(void)natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	fprintf(stderr, "unsd: nats: connected to %s\n", url[0] ? url : h->url);
}

static void
say_disconnected(natsConnection *nc, void *arg)
{
	(void)nc;
	(void)arg;
	fprintf(stderr, "unsd: nats: disconnected; retrying (waiters re-check "
	                "their feeds meanwhile)\n");
}

static void
say_closed(natsConnection *nc, void *arg)
{
	uns_hint *h = arg;
	(void)nc;
	pthread_mutex_lock(&h->mu);
	bool expected = h->stopping;
	pthread_mutex_unlock(&h->mu);
	if (!expected) {
		fprintf(stderr, "unsd: nats: connection closed\n");
	}
}

/* ---- receiving ------------------------------------------------------- */

static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
	uns_hint *h = arg;
	uns_hint_msg m;
	(void)nc;
	(void)sub;
	if (uns_hint_decode(natsMsg_GetData(msg),
	                    (size_t)natsMsg_GetDataLength(msg), &m) != UNS_OK) {
		atomic_fetch_add(&h->malformed, 1);
		count(h->m_dropped, "malformed");
	} else {
		atomic_fetch_add(&h->received, 1);
		count(h->m_received, NULL);
		if (h->cfg.fn != NULL) {
			h->cfg.fn(h->cfg.arg, m.user, m.host, m.head, m.taps);
		}
	}
	natsMsg_Destroy(msg);
}

/* ---- publishing ------------------------------------------------------ */

void
uns_hint_publish(uns_hint *h, const char *user, const char *host, uint64_t head,
                 size_t taps)
{
	uint8_t buf[UNS_HINT_MAX];
	size_t len =
	    uns_hint_encode(user, host, head, taps > 0, buf, sizeof(buf));
	queued *q = len > 0 ? malloc(sizeof(*q) + len) : NULL;
	if (q == NULL) {
		goto dropped;
	}
	q->next = NULL;
	q->len = len;
	memcpy(q->data, buf, len);
	uns_hint_subject(user, q->subject);
	pthread_mutex_lock(&h->mu);
	if (h->stopping || h->queued_n >= h->cfg.queue) {
		pthread_mutex_unlock(&h->mu);
		free(q);
		goto dropped;
	}
	if (h->tail != NULL) {
		h->tail->next = q;
	} else {
		h->head = q;
		pthread_cond_signal(&h->cv);
	}
	h->tail = q;
	h->queued_n++;
	pthread_mutex_unlock(&h->mu);
	return;
dropped:
	atomic_fetch_add(&h->dropped_queue, 1);
	count(h->m_dropped, "queue");
}

static void
hint_hook(void *arg, const char *user, const char *host, uint64_t head,
          size_t taps)
{
	uns_hint_publish(arg, user, host, head, taps);
}

static void
publish_list(uns_hint *h, queued *q)
{
	while (q != NULL) {
		queued *next = q->next;
		if (natsConnection_Publish(h->conn, q->subject, q->data,
		                           (int)q->len) == NATS_OK) {
			atomic_fetch_add(&h->published, 1);
			count(h->m_published, NULL);
		} else {
			atomic_fetch_add(&h->dropped_publish, 1);
			count(h->m_dropped, "publish");
		}
		free(q);
		q = next;
	}
}

static void *
publisher(void *arg)
{
	uns_hint *h = arg;
	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (h->head == NULL && !h->stopping) {
			pthread_cond_wait(&h->cv, &h->mu);
		}
		queued *list = h->head;
		h->head = h->tail = NULL;
		h->queued_n = 0;
		bool stop = h->stopping;
		pthread_mutex_unlock(&h->mu);
		publish_list(h, list);
		if (stop) {
			return NULL;
		}
		pthread_mutex_lock(&h->mu);
	}
}

/* ---- metrics ------------------------------------------------------------ */

static double
connected_gauge(void *arg)
{
	return uns_hint_connected(arg);
}

static double
slow_gauge(void *arg)
{
	uns_hint_stats st;
	uns_hint_stats_get(arg, &st);
	return (double)st.slow;
}

static uns_err
open_metrics(uns_hint *h)
{
	uns_metrics *m = h->cfg.metrics;
	const char *reason[] = {"reason"};
	if (m == NULL) {
		return UNS_OK;
	}
	if (uns_metrics_counter(m, "uns_cluster_hints_published_total",
	                        "Wake-up hints this node sent to NATS.", NULL,
	                        0, &h->m_published) != UNS_OK ||
	    uns_metrics_counter(m, "uns_cluster_hints_received_total",
	                        "Wake-up hints of other nodes received.", NULL,
	                        0, &h->m_received) != UNS_OK ||
	    uns_metrics_counter(m, "uns_cluster_hints_dropped_total",
	                        "Hints dropped: queue (full), publish (NATS "
	                        "refused), malformed (received).",
	                        reason, 1, &h->m_dropped) != UNS_OK ||
	    uns_metrics_gauge_func(m, "uns_cluster_hints_slow_dropped",
	                           "Received hints libnats dropped because "
	                           "this node took them too slowly.",
	                           slow_gauge, h) != UNS_OK ||
	    uns_metrics_gauge_func(m, "uns_cluster_nats_connected",
	                           "1 while connected to a NATS server.",
	                           connected_gauge, h) != UNS_OK) {
		return UNS_ENOMEM;
	}
	return UNS_OK;
}

/* ---- open and close ---------------------------------------------------- */

static uns_err
nats_fail(natsStatus s, const char *what)
{
	return uns_fail(s == NATS_NO_MEMORY ? UNS_ENOMEM : UNS_EINVAL,
	                "nats: %s: %s", what, natsStatus_GetText(s));
}

static uns_err
open_conn(uns_hint *h)
{
	natsStatus s;
	if ((s = natsOptions_Create(&h->opts)) != NATS_OK) {
		return nats_fail(s, "options");
	}
	if ((s = natsOptions_SetURL(h->opts, h->url)) != NATS_OK ||
	    (s = natsOptions_SetName(h->opts, h->name)) != NATS_OK ||
	    (s = natsOptions_SetNoEcho(h->opts, true)) != NATS_OK ||
	    (s = natsOptions_SetAllowReconnect(h->opts, true)) != NATS_OK ||
	    (s = natsOptions_SetMaxReconnect(h->opts, INT_MAX)) != NATS_OK ||
	    (s = natsOptions_SetReconnectWait(
	         h->opts, h->cfg.reconnect_wait_ms)) != NATS_OK ||
	    (s = natsOptions_SetReconnectBufSize(h->opts, RECONNECT_BUF)) !=
	        NATS_OK ||
	    (s = natsOptions_SetMaxPendingMsgs(h->opts, PENDING_MSGS)) !=
	        NATS_OK ||
	    (s = natsOptions_SetDisconnectedCB(h->opts, say_disconnected, h)) !=
	        NATS_OK ||
	    (s = natsOptions_SetReconnectedCB(h->opts, say_connected, h)) !=
	        NATS_OK ||
	    (s = natsOptions_SetClosedCB(h->opts, say_closed, h)) != NATS_OK ||
	    (s = natsOptions_SetRetryOnFailedConnect(
	         h->opts, true, say_connected, h)) != NATS_OK) {
		return nats_fail(s, h->url);
	}
	s = natsConnection_Connect(&h->conn, h->opts);
	if (s == NATS_OK) {
		say_connected(h->conn, h);
	} else if (s == NATS_NOT_YET_CONNECTED) {
		fprintf(stderr,
		        "unsd: nats: cannot reach %s yet; serving without "
		        "it and retrying every %d ms\n",
		        h->url, h->cfg.reconnect_wait_ms);
	} else {
		return nats_fail(s, h->url);
	}
	if ((s = natsConnection_Subscribe(&h->sub, h->conn,
	                                  UNS_HINT_SUBJECT_ALL, on_msg, h)) !=
	        NATS_OK ||
	    (s = natsSubscription_SetPendingLimits(h->sub, PENDING_MSGS,
	                                           PENDING_BYTES)) != NATS_OK) {
		return nats_fail(s, "subscribe");
	}
	return UNS_OK;
}

uns_err
uns_hint_open(uns_hint **out, const uns_hint_config *cfg)
{
	uns_hint *h = calloc(1, sizeof(*h));
	uns_err err = UNS_ENOMEM;
	if (h == NULL) {
		return uns_fail(UNS_ENOMEM, "out of memory");
	}
	h->cfg = *cfg;
	if (h->cfg.queue == 0) {
		h->cfg.queue = DEFAULT_QUEUE;
	}
	if (h->cfg.reconnect_wait_ms <= 0) {
		h->cfg.reconnect_wait_ms = DEFAULT_RECONNECT_MS;
	}
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->url = strdup(cfg->url != NULL ? cfg->url : "");
	h->name = strdup(cfg->name != NULL ? cfg->name : "unsd");
	if (h->url == NULL || h->name == NULL || !(h->lib_held = lib_hold())) {
		uns_fail(UNS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((err = open_metrics(h)) != UNS_OK) {
		uns_fail(err, "metrics: out of memory");
		goto fail;
	}
	if ((err = open_conn(h)) != UNS_OK) {
		goto fail;
	}
	if (pthread_create(&h->thread, NULL, publisher, h) != 0) {
		err = uns_fail(UNS_ENOMEM, "cannot start a thread");
		goto fail;
	}
	h->started = true;
	if (cfg->store != NULL &&
	    (err = uns_store_observe(cfg->store, hint_hook, h)) != UNS_OK) {
		goto fail;
	}
	*out = h;
	return UNS_OK;
fail:
	uns_hint_close(h);
	return err;
}

void
uns_hint_close(uns_hint *h)
{
	if (h == NULL) {
		return;
	}
	uns_store_unobserve(h->cfg.store, hint_hook, h);
	pthread_mutex_lock(&h->mu);
	h->stopping = true;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	if (h->started) {
		pthread_join(h->thread, NULL); /* publishes what was queued */
	}
	if (h->sub != NULL) {
		(void)natsSubscription_Unsubscribe(h->sub);
		natsSubscription_Destroy(h->sub);
	}
	if (h->conn != NULL) {
		if (natsConnection_Status(h->conn) ==
		    NATS_CONN_STATUS_CONNECTED) {
			(void)natsConnection_FlushTimeout(h->conn,
			                                  CLOSE_FLUSH_MS);
		}
		natsConnection_Close(h->conn);
		natsConnection_Destroy(h->conn);
	}
	natsOptions_Destroy(h->opts);
	if (h->lib_held) {
		lib_release();
	}
	for (queued *q = h->head, *next; q != NULL; q = next) {
		next = q->next;
		free(q);
	}
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h->url);
	free(h->name);
	free(h);
}

int
uns_hint_connected(uns_hint *h)
{
	return h != NULL && h->conn != NULL &&
	       natsConnection_Status(h->conn) == NATS_CONN_STATUS_CONNECTED;
}

void
uns_hint_stats_get(uns_hint *h, uns_hint_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->published = atomic_load(&h->published);
	out->received = atomic_load(&h->received);
	out->dropped_queue = atomic_load(&h->dropped_queue);
	out->dropped_publish = atomic_load(&h->dropped_publish);
	out->malformed = atomic_load(&h->malformed);
	if (h->sub != NULL) {
		int64_t dropped = 0;
		if (natsSubscription_GetDropped(h->sub, &dropped) == NATS_OK &&
		    dropped > 0) {
			out->slow = (uint64_t)dropped;
		}
	}
}
