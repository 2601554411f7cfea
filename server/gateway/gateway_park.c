/*
 * gateway_park.c — see gateway_park.h.
 *
 * The table is a hash of feeds (chained, doubled as it fills) under one
 * mutex; each feed lists its waiters (newest last) and owns its upstream
 * Fetch while one is in flight. Deadlines are one list of every waiter in
 * deadline order, kept by one thread that sleeps until the first: waits
 * mostly share one length, so a new waiter goes at (or next to) the tail.
 * Rejected: a timer per waiter (an nng_aio is ~400 bytes, more than the
 * waiter), and the watchdog's quarter-second tick (a 1 s long poll would
 * answer up to 25 % late).
 *
 * The table is counted: the gateway holds one reference, each upstream
 * Fetch in flight another, so a Fetch ending after the gateway closed
 * frees its feed (and, last, the table) and touches nothing else.
 *
 * Lock order: the watchdog's lock, then the table's (the hang-up callback
 * runs under the watchdog's); so arm and disarm are never called with the
 * table locked, nor is the server's hang-up hook (it may end the upstream
 * call on another thread, whose completion takes the table's lock), nor is
 * an upstream Fetch started (claimed under the lock, started after it).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "clock.h"
#include "errors.h"
#include "gateway_ops.h"
#include "gateway_park.h"
#include "gateway_watchdog.h"
#include "jwt.h"
#include "uns_stubs.h"

#define MIN_BUCKETS 64
#define ID_MAX      48

typedef struct uns_gw_feed {
	struct uns_gw_feed *hnext; /* the bucket's chain */
	uns_gw_feeds *table;
	uint64_t hash;
	char *key;    /* sub "\n" host */
	char *cursor; /* the upstream wait's */
	uint64_t cursor_us;
	uns_gw_waiter *first, *last;
	unsigned n;
	int in_flight; /* an upstream Fetch */
	int cancelled; /* its wait was ended for want of waiters */
	uint32_t wait_ms;
	char request_id[ID_MAX];
} uns_gw_feed;

/* The shared wait's answer, handed to the waiters that may take it. */
typedef struct uns_gw_page {
	atomic_int refs;
	ProtobufCMessage *resp;
} uns_gw_page;

struct uns_gw_feeds {
	uns_gw_feeds_config cfg;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* the deadline thread's */
	pthread_t thread;
	int started, stop, closing;
	int refs; /* the gateway's, and one per upstream Fetch */
	uns_gw_feed **buckets;
	size_t n_buckets, n_feeds;
	uns_gw_waiter *tfirst, *tlast; /* by deadline */
	uint64_t next_id;
};

/* ---- small helpers --------------------------------------------------------
 */

static uint64_t
hash_of(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++) {
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	}
	return h;
}

/* The feed key of a token the server accepted: "sub\nhost"; NULL when it
 * names no user or host (or out of memory). */
static char *
key_of(const char *token)
{
	char why[64];
	char *key = NULL;
	uns_jwt_parsed *p = malloc(sizeof(*p));
	if (p != NULL && token != NULL &&
	    uns_jwt_parse(token, strlen(token), p, why, sizeof(why)) ==
	        UNS_OK &&
	    p->claims.sub[0] != '\0' && p->claims.host[0] != '\0') {
		size_t a = strlen(p->claims.sub), b = strlen(p->claims.host);
		if ((key = malloc(a + b + 2)) != NULL) {
			memcpy(key, p->claims.sub, a);
			key[a] = '\n';
			memcpy(key + a + 1, p->claims.host, b + 1);
		}
	}
	free(p);
	return key;
}

static void
gauges(uns_gw_feeds *f, double waiters, double feeds)
{
	if (!f->closing) { /* ops may be gone after the gateway */
		uns_gw_ops_parked(f->cfg.ops, waiters, feeds);
	}
}

static void
table_release(uns_gw_feeds *f)
{
	int last = --f->refs == 0;
	pthread_mutex_unlock(&f->mu);
	if (last) {
		free(f->buckets);
		pthread_cond_destroy(&f->cv);
		pthread_mutex_destroy(&f->mu);
		free(f);
	}
}

/* ---- the hash -------------------------------------------------------------
 */

static uns_gw_feed **
slot_of(uns_gw_feeds *f, uint64_t hash, const char *key)
{
	uns_gw_feed **p = &f->buckets[hash & (f->n_buckets - 1)];
	while (*p != NULL && ((*p)->hash != hash || strcmp((*p)->key, key))) {
		p = &(*p)->hnext;
	}
	return p;
}

static void
grow(uns_gw_feeds *f)
{
	size_t n = f->n_buckets * 2;
	uns_gw_feed **b = calloc(n, sizeof(*b));
	if (b == NULL) {
		return; /* longer chains, still right */
	}
	for (size_t i = 0; i < f->n_buckets; i++) {
		uns_gw_feed *fd, *next;
		for (fd = f->buckets[i]; fd != NULL; fd = next) {
			next = fd->hnext;
			fd->hnext = b[fd->hash & (n - 1)];
			b[fd->hash & (n - 1)] = fd;
		}
	}
	free(f->buckets);
	f->buckets = b;
	f->n_buckets = n;
}

static void
feed_free(uns_gw_feeds *f, uns_gw_feed *fd)
{
	uns_gw_feed **p = slot_of(f, fd->hash, fd->key);
	if (*p == fd) {
		*p = fd->hnext;
	}
	f->n_feeds--;
	free(fd->key);
	free(fd->cursor);
	free(fd);
}

/* ---- waiters --------------------------------------------------------------
 */

static void
link_waiter(uns_gw_feeds *f, uns_gw_feed *fd, uns_gw_waiter *w)
{
	w->feed = fd;
	w->next = NULL;
	w->prev = fd->last;
	*(fd->last ? &fd->last->next : &fd->first) = w;
	fd->last = w;
	fd->n++;
	/* Deadlines: from the tail, where equal waits land. */
	uns_gw_waiter *t = f->tlast;
	while (t != NULL && t->deadline_us > w->deadline_us) {
		t = t->tprev;
	}
	w->tprev = t;
	w->tnext = t ? t->tnext : f->tfirst;
	*(w->tnext ? &w->tnext->tprev : &f->tlast) = w;
	*(t ? &t->tnext : &f->tfirst) = w;
	w->linked = 1;
}

static void
unlink_waiter(uns_gw_feeds *f, uns_gw_waiter *w)
{
	uns_gw_feed *fd = w->feed;
	*(w->prev ? &w->prev->next : &fd->first) = w->next;
	*(w->next ? &w->next->prev : &fd->last) = w->prev;
	fd->n--;
	*(w->tprev ? &w->tprev->tnext : &f->tfirst) = w->tnext;
	*(w->tnext ? &w->tnext->tprev : &f->tlast) = w->tprev;
	w->linked = 0;
	w->feed = NULL;
	gauges(f, -1, 0);
}

/* Takes w out and resumes its connection, which then learns why. */
static void
wake(uns_gw_feeds *f, uns_gw_waiter *w, uns_gw_park_state why)
{
	unlink_waiter(f, w);
	w->state = why;
	MHD_resume_connection(w->conn);
}

/* ---- the upstream wait ----------------------------------------------------
 */

static void upstream_done(uns_err err, const char *message,
                          ProtobufCMessage *resp, uns_generic_fn fn, void *arg);

/* What an upstream Fetch starts with, copied under the lock: the call is
 * made without it (libuns may end a call that fails to start on the
 * calling thread, and the completion takes the lock). */
typedef struct upstream_args {
	char *token, *cursor;
	char request_id[ID_MAX];
	uint32_t wait_ms;
} upstream_args;

/* With f->mu held: fd's Fetch (its cursor, the newest waiter's token) is
 * in flight from now on, and a holds what upstream_go needs. 0 when out
 * of memory (nothing claimed). */
static int
upstream_claim(uns_gw_feeds *f, uns_gw_feed *fd, upstream_args *a)
{
	uint64_t now = uns_mono_us(), until = fd->last->deadline_us;
	uint64_t left_us = until > now + 1000000 ? until - now : 1000000;
	a->token = strdup(fd->last->token ? fd->last->token : "");
	a->cursor = strdup(fd->cursor);
	if (a->token == NULL || a->cursor == NULL) {
		free(a->token);
		free(a->cursor);
		return 0;
	}
	a->wait_ms = (uint32_t)(left_us / 1000) + 1;
	/* Unguessable, as the server ends waits by request id. */
	snprintf(fd->request_id, sizeof(fd->request_id),
	         "gw-feed-%08x%08x-%llu", nng_random(), nng_random(),
	         (unsigned long long)++f->next_id);
	memcpy(a->request_id, fd->request_id, ID_MAX);
	fd->in_flight = 1;
	fd->cancelled = 0;
	fd->wait_ms = a->wait_ms;
	f->refs++; /* the call's, released by upstream_done */
	gauges(f, 0, 1);
	return 1;
}

/* Without f->mu: starts the Fetch upstream_claim prepared; one that cannot
 * start ends at once, as a failed one (its waiters get the error). */
static void
upstream_go(uns_gw_feeds *f, uns_gw_feed *fd, upstream_args *a)
{
	Uns__V1__FetchRequest req = UNS__V1__FETCH_REQUEST__INIT;
	req.cursor = a->cursor;
	req.limit = 0; /* the server's default page: a shareable answer */
	req.wait_ms = a->wait_ms;
	uns_call_opts o = {.timeout_ms = f->cfg.rpc_timeout_ms + req.wait_ms,
	                   .token = a->token,
	                   .request_id = a->request_id};
	uns_err err =
	    uns_client_call_async(f->cfg.rpc, &uns_notifications_method_fetch,
	                          &req.base, &o, upstream_done, NULL, fd);
	free(a->token);
	free(a->cursor);
	if (err != UNS_OK) {
		upstream_done(err, uns_last_message(), NULL, NULL, fd);
	}
}

/* Wakes every waiter of fd with why (and err, message when it failed);
 * page (one reference per waiter that takes it) goes to the shareable
 * waiters whose cursor is the feed's. */
static void
wake_all(uns_gw_feeds *f, uns_gw_feed *fd, uns_gw_park_state why, uns_err err,
         const char *message, uns_gw_page *page)
{
	while (fd->first != NULL) {
		uns_gw_waiter *w = fd->first;
		w->err = err;
		if (page != NULL && w->shareable &&
		    strcmp(w->cursor, fd->cursor) == 0) {
			atomic_fetch_add(&page->refs, 1);
			w->page = page;
		}
		if (why == UNS_GW_FAILED) {
			snprintf(w->message, 512, "%s", message ? message : "");
		}
		wake(f, w, why);
	}
}

/* On an NNG thread: the shared wait ended. A change wakes the feed's
 * waiters to read again; a wait that ran out empty (or was ended while
 * nobody waited) starts again for those who wait now; a failure is every
 * waiter's answer. */
static void
upstream_done(uns_err err, const char *message, ProtobufCMessage *resp,
              uns_generic_fn fn, void *arg)
{
	uns_gw_feed *fd = arg;
	uns_gw_feeds *f = fd->table;
	const Uns__V1__FetchResponse *r = (Uns__V1__FetchResponse *)resp;
	uns_gw_page *page = NULL;
	(void)fn;
	if (err == UNS_OK && r != NULL && (r->n_changes > 0 || r->more) &&
	    (page = malloc(sizeof(*page))) != NULL) {
		atomic_init(&page->refs, 1); /* this function's */
		page->resp = resp;
		resp = NULL;
	}
	upstream_args again;
	int restart = 0;
	pthread_mutex_lock(&f->mu);
	fd->in_flight = 0;
	gauges(f, 0, -1);
	if (err == UNS_OK && r != NULL && (r->n_changes > 0 || r->more)) {
		wake_all(f, fd, UNS_GW_WOKEN, UNS_OK, NULL, page);
	} else if (err == UNS_OK || (err == UNS_CANCELLED && fd->cancelled)) {
		if (fd->first != NULL && !f->closing &&
		    !(restart = upstream_claim(f, fd, &again))) {
			wake_all(f, fd, UNS_GW_FAILED, UNS_ENOMEM,
			         "out of memory", NULL);
		}
	} else {
		wake_all(f, fd, UNS_GW_FAILED, err, message, NULL);
	}
	if (fd->first == NULL && !fd->in_flight) {
		feed_free(f, fd);
	}
	table_release(f); /* the claim keeps f and fd for the restart */
	if (resp != NULL) {
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	uns_gw_page_release(page);
	if (restart) {
		upstream_go(f, fd, &again);
	}
}

const ProtobufCMessage *
uns_gw_page_message(const uns_gw_page *p)
{
	return p->resp;
}

void
uns_gw_page_release(uns_gw_page *p)
{
	if (p != NULL && atomic_fetch_sub(&p->refs, 1) == 1) {
		protobuf_c_message_free_unpacked(p->resp, NULL);
		free(p);
	}
}

/* With f->mu held: fd lost its last waiter. Its wait upstream is ended
 * (after the unlock: *id is set) when the server offers the hook. */
static int
orphaned(uns_gw_feeds *f, uns_gw_feed *fd, char id[ID_MAX])
{
	if (fd->first != NULL || !fd->in_flight || fd->cancelled ||
	    f->cfg.hangup == NULL) {
		return 0;
	}
	fd->cancelled = 1;
	memcpy(id, fd->request_id, ID_MAX);
	return 1;
}

/* ---- the deadline thread --------------------------------------------------
 */

static void *
deadlines(void *arg)
{
	uns_gw_feeds *f = arg;
	char id[ID_MAX];
	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		uint64_t now = uns_mono_us();
		uns_gw_waiter *w = f->tfirst;
		if (w != NULL && w->deadline_us <= now) {
			uns_gw_feed *fd = w->feed;
			wake(f, w, UNS_GW_EXPIRED);
			if (orphaned(f, fd, id)) {
				pthread_mutex_unlock(&f->mu);
				f->cfg.hangup(f->cfg.hangup_arg, id);
				pthread_mutex_lock(&f->mu);
			}
			continue;
		}
		uint64_t until = w ? w->deadline_us : now + 1000000;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t at = (uint64_t)ts.tv_sec * 1000000 +
		              (uint64_t)ts.tv_nsec / 1000 + (until - now);
		ts.tv_sec = (time_t)(at / 1000000);
		ts.tv_nsec = (long)(at % 1000000) * 1000;
		pthread_cond_timedwait(&f->cv, &f->mu, &ts);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* ---- the API --------------------------------------------------------------
 */

uns_err
uns_gw_feeds_open(uns_gw_feeds **out, const uns_gw_feeds_config *cfg)
{
	pthread_condattr_t ca;
	uns_gw_feeds *f = calloc(1, sizeof(*f));
	if (f == NULL ||
	    (f->buckets = calloc(MIN_BUCKETS, sizeof(*f->buckets))) == NULL) {
		free(f);
		return uns_fail(UNS_ENOMEM, "out of memory");
	}
	f->cfg = *cfg;
	f->n_buckets = MIN_BUCKETS;
	f->refs = 1;
	pthread_mutex_init(&f->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&f->thread, NULL, deadlines, f) != 0) {
		pthread_mutex_lock(&f->mu);
		table_release(f);
		return uns_fail(UNS_ENOMEM, "gateway: no thread for deadlines");
	}
	f->started = 1;
	*out = f;
	return UNS_OK;
}

uns_gw_park_result
uns_gw_feeds_park(uns_gw_feeds *f, uns_gw_waiter *w, uint64_t read_sent_us)
{
	char *key = key_of(w->token);
	uns_gw_park_result res = UNS_GW_PARK_OK;
	upstream_args args;
	int start = 0;
	if (key == NULL) {
		return UNS_GW_PARK_NO_KEY;
	}
	uint64_t hash = hash_of(key);
	pthread_mutex_lock(&f->mu);
	uns_gw_feed **slot = slot_of(f, hash, key);
	uns_gw_feed *fd = *slot;
	if (f->closing) {
		res = UNS_GW_PARK_CLOSING;
	} else if (fd != NULL && f->cfg.cap > 0 && fd->n >= f->cfg.cap) {
		res = UNS_GW_PARK_FULL;
	} else if (fd != NULL && read_sent_us < fd->cursor_us &&
	           strcmp(w->cursor, fd->cursor) != 0) {
		res = UNS_GW_PARK_STALE;
	} else if (fd == NULL) {
		if ((fd = calloc(1, sizeof(*fd))) == NULL ||
		    (fd->cursor = strdup(w->cursor)) == NULL) {
			free(fd);
			res = UNS_GW_PARK_NO_KEY;
		} else {
			fd->table = f;
			fd->key = key;
			fd->hash = hash;
			fd->cursor_us = uns_mono_us();
			*slot = fd;
			key = NULL;
			if (++f->n_feeds > f->n_buckets) {
				grow(f);
			}
		}
	}
	if (res == UNS_GW_PARK_OK) {
		/* Suspended before anyone can resume it. */
		MHD_suspend_connection(w->conn);
		w->table = f;
		w->state = UNS_GW_PARKED;
		link_waiter(f, fd, w);
		gauges(f, 1, 0);
		if (w->tprev == NULL) {
			pthread_cond_signal(&f->cv); /* a new first deadline */
		}
		if (!fd->in_flight && !(start = upstream_claim(f, fd, &args))) {
			wake_all(f, fd, UNS_GW_FAILED, UNS_ENOMEM,
			         "out of memory", NULL);
			feed_free(f, fd);
		}
	}
	pthread_mutex_unlock(&f->mu);
	free(key);
	if (start) {
		upstream_go(f, fd, &args);
	}
	return res;
}

void
uns_gw_feeds_hung_up(void *arg)
{
	uns_gw_waiter *w = arg;
	uns_gw_feeds *f = w->table;
	char id[ID_MAX];
	int cancel = 0;
	pthread_mutex_lock(&f->mu);
	if (w->linked && w->state == UNS_GW_PARKED) {
		uns_gw_feed *fd = w->feed;
		wake(f, w, UNS_GW_HUNG_UP);
		cancel = orphaned(f, fd, id);
	}
	pthread_mutex_unlock(&f->mu);
	uns_gw_ops_hangup(f->cfg.ops);
	if (cancel) {
		f->cfg.hangup(f->cfg.hangup_arg, id);
	}
}

uns_gw_park_state
uns_gw_feeds_leave(uns_gw_feeds *f, uns_gw_waiter *w)
{
	char id[ID_MAX];
	int cancel = 0;
	uns_gw_watchdog_disarm(f->cfg.watchdog, w->watched);
	w->watched = NULL;
	pthread_mutex_lock(&f->mu);
	uns_gw_park_state st = w->state;
	if (w->linked) { /* the request ends parked */
		uns_gw_feed *fd = w->feed;
		unlink_waiter(f, w);
		cancel = orphaned(f, fd, id);
		w->state = UNS_GW_HUNG_UP;
	}
	pthread_mutex_unlock(&f->mu);
	if (cancel) {
		f->cfg.hangup(f->cfg.hangup_arg, id);
	}
	return st;
}

void
uns_gw_feeds_end_all(uns_gw_feeds *f)
{
	if (f == NULL) {
		return;
	}
	pthread_mutex_lock(&f->mu);
	while (f->tfirst != NULL) {
		wake(f, f->tfirst, UNS_GW_CLOSED);
	}
	f->closing = 1;
	pthread_mutex_unlock(&f->mu);
}

void
uns_gw_feeds_close(uns_gw_feeds *f)
{
	if (f == NULL) {
		return;
	}
	uns_gw_feeds_end_all(f);
	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	if (f->started) {
		pthread_join(f->thread, NULL);
	}
	pthread_mutex_lock(&f->mu);
	/* Feeds without a Fetch in flight go now; the others with it. */
	for (size_t i = 0; i < f->n_buckets; i++) {
		uns_gw_feed *fd = f->buckets[i], *next;
		for (; fd != NULL; fd = next) {
			next = fd->hnext;
			if (!fd->in_flight) {
				feed_free(f, fd);
			}
		}
	}
	table_release(f);
}
