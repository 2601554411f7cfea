/*
 * delivery.c — the delivery engine (delivery.h).
 *
 * A tap travels feeder → ready queue → event loop → done queue → settle
 * worker, inside one struct xfer that owns everything about it (the claimed
 * tap, the built request, the curl handle, the answer, the outcome). The
 * in-flight count covers the whole trip, so max_inflight bounds memory and
 * leases alike. Taps that need no request (subscription gone, no transport,
 * open breaker) skip the loop and go straight to the done queue.
 *
 * libcurl is the only HTTP code; its CURLcode becomes an error string at
 * one place (finish). Rejected: one thread per provider (no connection
 * sharing across providers' hosts is needed, but one multi handle already
 * gives per-host limits and HTTP/2 multiplexing, with fewer threads).
 */
#include "delivery.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#define DEF_INFLIGHT    1024
#define DEF_HOST_CONNS  8
#define DEF_WORKERS     4
#define DEF_CONNECT_MS  5000
#define DEF_TIMEOUT_MS  15000
#define DEF_BACKOFF_MS  1000
#define DEF_BACKOFF_MAX (3600 * 1000)
#define DEF_ATTEMPTS    25
#define DEF_BREAKER_N   10
#define DEF_BREAKER_MS  30000
#define DEF_LEASE_MS    (5 * 60 * 1000)
#define DEF_DRAIN_MS    2000
#define IDLE_WAIT_MS    60000 /* longest feeder sleep with nothing due */
#define BODY_MAX        16384 /* of a provider's answer kept for classify */
#define HDRS_MAX        8192
#define HOST_MAX        256
#define ERROR_MAX       200
#define SETTLE_BATCH    64 /* outcomes per store write */

struct breaker {
	char host[HOST_MAX];
	unsigned failures;
	int64_t open_until;
	bool open, probing;
};

struct xfer {
	struct xfer *next;          /* in a queue */
	struct xfer *rprev, *rnext; /* in the loop's running list */
	uns_delivery *d;
	uns_store_tap tap;
	const uns_push_transport_ops *ops;
	uns_push_transport *tp;
	struct breaker *br;
	bool probe;
	uns_push_request req;
	struct curl_slist *hdrs;
	struct curl_slist *resolve; /* the pinned addresses (uns_push_pin) */
	CURL *easy;
	char errbuf[CURL_ERROR_SIZE];
	char *body, *hdr;
	size_t body_len, hdr_len;
	/* the outcome, for the settle worker */
	uns_store_tap_result result;
	int64_t due_ms;
	char error[ERROR_MAX];
};

struct queue {
	struct xfer *head, *tail;
};

struct slot {
	const uns_push_transport_ops *ops;
	uns_push_transport *tp;
};

struct uns_delivery {
	uns_delivery_config cfg;
	struct slot *slots;
	size_t nslots;
	CURLM *multi;
	pthread_t feeder, loop, *workers;
	size_t nworkers;
	bool feeder_up, loop_up;
	pthread_mutex_t mu;
	pthread_cond_t feeder_cv, settle_cv, idle_cv;
	struct queue ready, done;
	size_t inflight;
	bool kicked, stopping, loop_stop, workers_stop;
	struct breaker **breakers;
	size_t nbreakers;
	struct xfer *running;            /* loop thread only */
	unsigned feeder_seed, loop_seed; /* each used by one thread */
	struct {
		uns_metric *taps, *latency, *breaker, *fallbacks, *app_taps;
	} m;                      /* NULL without cfg.metrics */
	uns_metrics_capped *apps; /* app_taps' app_host label, capped */
	atomic_uint_fast64_t inflight_copy; /* for the gauge, lock-free */
	struct {
		atomic_uint_fast64_t claimed, sent, delivered, retried,
		    deferred, dropped, dead, fallbacks, breaker_opened,
		    settle_errors, latency_sum, latency_max;
	} st;
};

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Now on the store's clock, which due times are compared with. */
static int64_t
now_of(const uns_delivery *d)
{
	return d->cfg.clock != NULL ? d->cfg.clock(d->cfg.clock_arg)
	                            : wall_ms();
}

static void
abs_deadline(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static void
push(struct queue *q, struct xfer *x)
{
	x->next = NULL;
	if (q->tail != NULL) {
		q->tail->next = x;
	} else {
		q->head = x;
	}
	q->tail = x;
}

static struct xfer *
pop(struct queue *q)
{
	struct xfer *x = q->head;

	if (x != NULL) {
		q->head = x->next;
		if (q->head == NULL) {
			q->tail = NULL;
		}
	}
	return x;
}

static void
xfer_free(struct xfer *x)
{
	if (x == NULL) {
		return;
	}
	if (x->easy != NULL) {
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->hdrs);
	curl_slist_free_all(x->resolve);
	uns_push_request_free(&x->req);
	uns_store_tap_clear(&x->tap);
	free(x->body);
	free(x->hdr);
	free(x);
}

/* ======================================================================
 * Backoff and the circuit breaker
 * ====================================================================== */

/* base · 2^attempts, at most max, with jitter: uniform in [d/2, d]. */
static int64_t
backoff_ms(const uns_delivery *d, uint64_t attempts, unsigned *seed)
{
	int64_t b = d->cfg.backoff_base_ms;

	for (uint64_t i = 0; i < attempts && b < d->cfg.backoff_max_ms; i++) {
		b *= 2;
	}
	if (b > d->cfg.backoff_max_ms) {
		b = d->cfg.backoff_max_ms;
	}
	return b / 2 + (int64_t)(rand_r(seed) % (unsigned)(b / 2 + 1));
}

/* The authority of url ("host:port"), which names the provider. */
static void
url_authority(const char *url, char out[HOST_MAX])
{
	const char *p = strstr(url, "://"), *at;
	size_t n;

	p = p != NULL ? p + 3 : url;
	n = strcspn(p, "/?#");
	at = memchr(p, '@', n);
	if (at != NULL) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	snprintf(out, HOST_MAX, "%.*s", (int)n, p);
}

/* The breaker of url's host, made on first use; mu held. */
static struct breaker *
breaker_of(uns_delivery *d, const char *url)
{
	char host[HOST_MAX];
	struct breaker **nb, *b;

	url_authority(url, host);
	for (size_t i = 0; i < d->nbreakers; i++) {
		if (strcmp(d->breakers[i]->host, host) == 0) {
			return d->breakers[i];
		}
	}
	nb = realloc(d->breakers, (d->nbreakers + 1) * sizeof(*nb));
	if (nb == NULL || (b = calloc(1, sizeof(*b))) == NULL) {
		if (nb != NULL) {
			d->breakers = nb;
		}
		return NULL;
	}
	d->breakers = nb;
	snprintf(b->host, sizeof(b->host), "%s", host);
	d->breakers[d->nbreakers++] = b;
	return b;
}

/* 0 if x may go out now (maybe as the half-open probe), else the time to
 * defer it to; mu held. */
static int64_t
breaker_admit(uns_delivery *d, struct xfer *x, int64_t now)
{
	struct breaker *b = x->br;
	int64_t probe_wait = d->cfg.breaker_open_ms / 4 + 1;

	if (b == NULL || !b->open) {
		return 0;
	}
	if (now < b->open_until) {
		return b->open_until;
	}
	if (!b->probing) {
		b->probing = true;
		x->probe = true;
		return 0;
	}
	return now + probe_wait;
}

static void
breaker_note(uns_delivery *d, struct xfer *x, bool failed, int64_t now)
{
	struct breaker *b = x->br;

	if (b == NULL) {
		return;
	}
	pthread_mutex_lock(&d->mu);
	if (failed) {
		b->failures++;
		if (x->probe || b->failures >= d->cfg.breaker_failures) {
			if (!b->open) {
				atomic_fetch_add(&d->st.breaker_opened, 1);
				if (d->m.breaker != NULL) {
					uns_metric_add(d->m.breaker, NULL, 1);
				}
			}
			b->open = true;
			b->open_until = now + d->cfg.breaker_open_ms;
		}
	} else {
		b->failures = 0;
		b->open = false;
	}
	if (x->probe) {
		b->probing = false;
	}
	pthread_mutex_unlock(&d->mu);
}

/* ======================================================================
 * Feeder: claim, build, hand to the loop
 * ====================================================================== */

static void outcome(struct xfer *x, uns_store_tap_result r, int64_t due,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
outcome(struct xfer *x, uns_store_tap_result r, int64_t due, const char *fmt,
        ...)
{
	va_list ap;

	x->result = r;
	x->due_ms = due;
	va_start(ap, fmt);
	vsnprintf(x->error, sizeof(x->error), fmt, ap);
	va_end(ap);
}

static const struct slot *
slot_of(const uns_delivery *d, Uns__V1__Platform p)
{
	for (size_t i = 0; i < d->nslots; i++) {
		if (d->slots[i].ops->platform == p) {
			return &d->slots[i];
		}
	}
	return NULL;
}

static size_t
on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n, take = len;
	char *nb;

	if (x->body_len + take > BODY_MAX) {
		take = BODY_MAX - x->body_len;
	}
	if (take > 0 &&
	    (nb = realloc(x->body, x->body_len + take + 1)) != NULL) {
		memcpy(nb + x->body_len, buf, take);
		x->body = nb;
		x->body_len += take;
		x->body[x->body_len] = '\0';
	}
	return len;
}

/* Keeps the last response's headers as "name\0value\0" pairs. */
static size_t
on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n, nlen, vlen;
	const char *colon = memchr(buf, ':', len), *v;
	char *nh;

	if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		x->hdr_len = 0; /* a new response (after 1xx or a retry) */
		return len;
	}
	if (colon == NULL) {
		return len;
	}
	nlen = (size_t)(colon - buf);
	for (v = colon + 1; v < buf + len && (*v == ' ' || *v == '\t'); v++) {
	}
	vlen = (size_t)(buf + len - v);
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
	                    v[vlen - 1] == ' ')) {
		vlen--;
	}
	if (x->hdr_len + nlen + vlen + 2 > HDRS_MAX ||
	    (nh = realloc(x->hdr, x->hdr_len + nlen + vlen + 2)) == NULL) {
		return len;
	}
	x->hdr = nh;
	memcpy(nh + x->hdr_len, buf, nlen);
	nh[x->hdr_len + nlen] = '\0';
	memcpy(nh + x->hdr_len + nlen + 1, v, vlen);
	nh[x->hdr_len + nlen + 1 + vlen] = '\0';
	x->hdr_len += nlen + vlen + 2;
	return len;
}

static const char *
header_of(void *arg, const char *name)
{
	const struct xfer *x = arg;
	const char *p = x->hdr, *end = x->hdr + x->hdr_len;

	while (p != NULL && p < end) {
		const char *v = p + strlen(p) + 1;
		if (strcasecmp(p, name) == 0) {
			return v;
		}
		p = v + strlen(v) + 1;
	}
	return NULL;
}

/* Every connection is checked against the SSRF guard: a host checked at
 * subscribe time may resolve elsewhere now (DNS rebinding). */
static curl_socket_t
open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	const uns_delivery *d = arg;

	if (d->cfg.push != NULL &&
	    !uns_push_addr_allowed(d->cfg.push, &a->addr)) {
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

/* The curl handle for x's built request. */
static bool
easy_setup(uns_delivery *d, struct xfer *x)
{
	const uns_push_request *r = &x->req;
	bool cleartext = strncasecmp(r->url, "http:", 5) == 0;
	CURL *e = curl_easy_init();

	if (e == NULL) {
		return false;
	}
	x->easy = e;
	for (size_t i = 0; i < r->nheaders; i++) {
		struct curl_slist *h =
		    curl_slist_append(x->hdrs, r->headers[i]);
		if (h == NULL) {
			return false;
		}
		x->hdrs = h;
	}
	struct curl_slist *h = curl_slist_append(x->hdrs, "Expect:");
	if (h == NULL) {
		return false;
	}
	x->hdrs = h;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS,
	                 r->body != NULL ? (const void *)r->body
	                                 : (const void *)"");
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	                 r->http2 && cleartext
	                     ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
	                     : (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)d->cfg.connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)d->cfg.timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	if (x->resolve != NULL) {
		curl_easy_setopt(e, CURLOPT_RESOLVE, x->resolve);
	}
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, d);
	if (d->cfg.push != NULL && uns_push_ca_file(d->cfg.push) != NULL) {
		curl_easy_setopt(e, CURLOPT_CAINFO,
		                 uns_push_ca_file(d->cfg.push));
	}
	return true;
}

/* Pins x's request to the addresses its host has now, each checked
 * (uns_push_pin): an address refused drops the tap, a resolver that
 * failed for now retries it. False if x has its outcome. */
static bool
pin(uns_delivery *d, struct xfer *x, int64_t now)
{
	char why[ERROR_MAX], *entry = NULL;
	uns_err rc;

	rc = uns_push_pin(d->cfg.push, x->req.url, &entry, why, sizeof(why));
	if (rc == UNS_OK) {
		x->resolve = curl_slist_append(NULL, entry);
		free(entry);
		if (x->resolve != NULL) {
			return true;
		}
		rc = UNS_ENOMEM;
		snprintf(why, sizeof(why), "out of memory");
	}
	outcome(x,
	        rc == UNS_INVALID_ARGUMENT ? UNS_STORE_TAP_DROP
	                                   : UNS_STORE_TAP_RETRY,
	        now + backoff_ms(d, x->tap.attempts, &d->feeder_seed), "%s: %s",
	        x->ops->name, why);
	return false;
}

/* Builds x's request; false if x already has its outcome. */
static bool
prepare(uns_delivery *d, struct xfer *x, int64_t now)
{
	const struct slot *s;
	uns_tap tap = {0};
	uns_err rc;

	if (x->tap.sub == NULL) {
		outcome(x, UNS_STORE_TAP_DROP, 0, "subscription gone");
		return false;
	}
	if ((s = slot_of(d, x->tap.sub->platform)) == NULL) {
		outcome(x, UNS_STORE_TAP_DROP, 0,
		        "no transport for platform %d",
		        (int)x->tap.sub->platform);
		return false;
	}
	x->ops = s->ops;
	x->tp = s->tp;
	tap.user = x->tap.user;
	tap.host = x->tap.host;
	tap.cursor = x->tap.cursor;
	tap.sub = x->tap.sub;
	tap.subject = x->tap.subject;
	tap.state_change = x->tap.state_change;
	tap.fallback = x->tap.fallback;
	tap.now_ms = now;
	if ((rc = s->ops->build(s->tp, &tap, &x->req)) != UNS_OK) {
		bool transient = rc == UNS_UNAVAILABLE || rc == UNS_EIO;
		outcome(x, transient ? UNS_STORE_TAP_RETRY : UNS_STORE_TAP_DROP,
		        now + backoff_ms(d, x->tap.attempts, &d->feeder_seed),
		        "%s: build: %s", s->ops->name, uns_strerror(rc));
		return false;
	}
	if (d->cfg.push != NULL && !pin(d, x, now)) {
		return false;
	}
	pthread_mutex_lock(&d->mu);
	x->br = breaker_of(d, x->req.url);
	int64_t defer = breaker_admit(d, x, now);
	pthread_mutex_unlock(&d->mu);
	if (defer != 0) {
		outcome(x, UNS_STORE_TAP_DEFER, defer, "breaker open");
		return false;
	}
	if (!easy_setup(d, x)) {
		outcome(x, UNS_STORE_TAP_RETRY,
		        now + backoff_ms(d, x->tap.attempts, &d->feeder_seed),
		        "out of memory");
		return false;
	}
	return true;
}

/* Claims up to room taps; returns how many. */
static size_t
feed(uns_delivery *d, size_t room)
{
	uns_store_taps l = {0};
	size_t fb = 0;
	int64_t now = now_of(d);

	if (uns_store_fallback_run(d->cfg.store, &fb) == UNS_OK && fb > 0) {
		atomic_fetch_add(&d->st.fallbacks, fb);
		if (d->m.fallbacks != NULL) {
			uns_metric_add(d->m.fallbacks, NULL, fb);
		}
	}
	if (uns_store_outbox_claim(d->cfg.store, room, d->cfg.lease_ms, &l) !=
	        UNS_OK ||
	    l.n == 0) {
		return 0;
	}
	atomic_fetch_add(&d->st.claimed, l.n);
	pthread_mutex_lock(&d->mu);
	d->inflight += l.n;
	atomic_store(&d->inflight_copy, d->inflight);
	pthread_mutex_unlock(&d->mu);
	for (size_t i = 0; i < l.n; i++) {
		struct xfer *x = calloc(1, sizeof(*x));
		if (x == NULL) {
			uns_store_tap_clear(&l.taps[i]); /* lease runs out */
			pthread_mutex_lock(&d->mu);
			d->inflight--;
			atomic_store(&d->inflight_copy, d->inflight);
			pthread_mutex_unlock(&d->mu);
			continue;
		}
		x->d = d;
		x->tap = l.taps[i];
		bool go = prepare(d, x, now);
		pthread_mutex_lock(&d->mu);
		push(go ? &d->ready : &d->done, x);
		pthread_cond_signal(&d->settle_cv);
		pthread_mutex_unlock(&d->mu);
	}
	free(l.taps);
	curl_multi_wakeup(d->multi);
	return l.n;
}

/* How long the feeder may sleep: until the next due tap or check. */
static int64_t
sleep_ms(uns_delivery *d)
{
	int64_t due = 0, wait;

	if (uns_store_outbox_next_due(d->cfg.store, &due) != UNS_OK) {
		return IDLE_WAIT_MS;
	}
	wait = due - now_of(d);
	return wait < 10 ? 10 : wait > IDLE_WAIT_MS ? IDLE_WAIT_MS : wait;
}

static void *
feeder_main(void *arg)
{
	uns_delivery *d = arg;
	struct timespec wake, idle; /* wake: the next due time, if timed */
	bool timed = false;

	pthread_mutex_lock(&d->mu);
	while (!d->stopping) {
		if (!d->kicked &&
		    (timed || d->inflight >= d->cfg.max_inflight)) {
			/* An absolute deadline: settles signalling capacity
			 * must not push a due retry further out. */
			abs_deadline(&idle, IDLE_WAIT_MS);
			if (pthread_cond_timedwait(&d->feeder_cv, &d->mu,
			                           timed ? &wake : &idle) ==
			    ETIMEDOUT) {
				timed = false; /* the due time came */
			}
			continue;
		}
		d->kicked = false;
		size_t room = d->cfg.max_inflight - d->inflight;
		pthread_mutex_unlock(&d->mu);
		size_t got = room > 0 ? feed(d, room) : 0;
		int64_t w = got < room ? sleep_ms(d) : 0;
		pthread_mutex_lock(&d->mu);
		if ((timed = w > 0)) {
			abs_deadline(&wake, w);
		}
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/* ======================================================================
 * Event loop: curl multi
 * ====================================================================== */

static void
running_add(uns_delivery *d, struct xfer *x)
{
	x->rprev = NULL;
	x->rnext = d->running;
	if (d->running != NULL) {
		d->running->rprev = x;
	}
	d->running = x;
}

static void
running_del(uns_delivery *d, struct xfer *x)
{
	if (x->rprev != NULL) {
		x->rprev->rnext = x->rnext;
	} else {
		d->running = x->rnext;
	}
	if (x->rnext != NULL) {
		x->rnext->rprev = x->rprev;
	}
}

/* The provider answered (or did not): classify, note, queue for settle. */
static void
finish(uns_delivery *d, struct xfer *x, CURLcode code)
{
	int64_t now = now_of(d), retry_after = -1;
	long status = 0;
	uns_push_outcome o;

	if (code == CURLE_OK) {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	}
	uns_push_response resp = {.status = status,
	                          .body = x->body != NULL ? x->body : "",
	                          .body_len = x->body_len,
	                          .header = header_of,
	                          .header_arg = x,
	                          .now_ms = now};
	o = x->ops->classify(x->tp, &resp, &retry_after);
	breaker_note(d, x, status == 0 || status >= 500, now);
	if (code != CURLE_OK) {
		snprintf(x->error, sizeof(x->error), "%.40s: %.150s",
		         x->ops->name,
		         x->errbuf[0] ? x->errbuf : curl_easy_strerror(code));
	} else {
		snprintf(x->error, sizeof(x->error), "%.40s: HTTP %ld",
		         x->ops->name, status);
	}
	switch (o) {
	case UNS_PUSH_DELIVERED:
		x->result = UNS_STORE_TAP_DELIVERED;
		break;
	case UNS_PUSH_DEAD:
		x->result = UNS_STORE_TAP_DEAD;
		break;
	case UNS_PUSH_REJECTED:
		x->result = UNS_STORE_TAP_DROP;
		break;
	case UNS_PUSH_REAUTH:
		x->result = UNS_STORE_TAP_RETRY;
		x->due_ms = now;
		break;
	case UNS_PUSH_RETRY:
	default:
		x->result = UNS_STORE_TAP_RETRY;
		x->due_ms =
		    retry_after >= 0
		        ? now + retry_after
		        : now + backoff_ms(d, x->tap.attempts, &d->loop_seed);
		break;
	}
	if (x->result == UNS_STORE_TAP_RETRY &&
	    x->tap.attempts + 1 >= d->cfg.max_attempts) {
		x->result = UNS_STORE_TAP_DROP;
		size_t n = strlen(x->error);
		snprintf(x->error + n, sizeof(x->error) - n, " (gave up)");
	}
	curl_multi_remove_handle(d->multi, x->easy);
	running_del(d, x);
	pthread_mutex_lock(&d->mu);
	push(&d->done, x);
	pthread_cond_signal(&d->settle_cv);
	pthread_mutex_unlock(&d->mu);
}

/* Adds the ready transfers; returns false once the loop should end. */
static bool
take_ready(uns_delivery *d, int *added)
{
	struct xfer *x;
	bool stop;

	pthread_mutex_lock(&d->mu);
	stop = d->loop_stop;
	while ((x = pop(&d->ready)) != NULL) {
		pthread_mutex_unlock(&d->mu);
		if (stop) {
			xfer_free(x); /* abandoned: re-sent after a restart */
		} else if (curl_multi_add_handle(d->multi, x->easy) !=
		           CURLM_OK) {
			outcome(x, UNS_STORE_TAP_RETRY, now_of(d) + 1000,
			        "curl refused the request");
			pthread_mutex_lock(&d->mu);
			push(&d->done, x);
			pthread_cond_signal(&d->settle_cv);
			pthread_mutex_unlock(&d->mu);
		} else {
			atomic_fetch_add(&d->st.sent, 1);
			running_add(d, x);
			(*added)++;
		}
		pthread_mutex_lock(&d->mu);
	}
	pthread_mutex_unlock(&d->mu);
	return !stop;
}

/* At stop: frees the transfers still running (their taps stay queued). */
static void
abandon_running(uns_delivery *d)
{
	struct xfer *x;
	CURLMsg *m;
	int left;

	curl_multi_perform(d->multi, &left);
	while ((m = curl_multi_info_read(d->multi, &left)) != NULL) {
		if (m->msg == CURLMSG_DONE) {
			x = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &x);
			finish(d, x, m->data.result);
		}
	}
	while ((x = d->running) != NULL) {
		running_del(d, x);
		curl_multi_remove_handle(d->multi, x->easy);
		xfer_free(x);
	}
}

static void *
loop_main(void *arg)
{
	uns_delivery *d = arg;
	int running = 0, added = 0, left;
	CURLMsg *m;

	while (take_ready(d, &added)) {
		int done = 0;
		curl_multi_perform(d->multi, &running);
		while ((m = curl_multi_info_read(d->multi, &left)) != NULL) {
			if (m->msg == CURLMSG_DONE) {
				struct xfer *x = NULL;
				curl_easy_getinfo(m->easy_handle,
				                  CURLINFO_PRIVATE, &x);
				finish(d, x, m->data.result);
				done++;
			}
		}
		/* A finished transfer frees a connection that transfers
		 * queued behind max_host_connections can take; they start
		 * on a perform, and no socket event may come to end the
		 * poll (fan-out rounds showed 1 s stalls, the poll's
		 * timeout): perform again first. */
		if (done == 0) {
			curl_multi_poll(d->multi, NULL, 0, 1000, NULL);
		}
	}
	abandon_running(d);
	return NULL;
}

/* ======================================================================
 * Settle workers
 * ====================================================================== */

static void
count(uns_delivery *d, const struct xfer *x)
{
	static const size_t field[] = {
	    [UNS_STORE_TAP_DELIVERED] =
	        offsetof(struct uns_delivery, st.delivered),
	    [UNS_STORE_TAP_RETRY] = offsetof(struct uns_delivery, st.retried),
	    [UNS_STORE_TAP_DEFER] = offsetof(struct uns_delivery, st.deferred),
	    [UNS_STORE_TAP_DROP] = offsetof(struct uns_delivery, st.dropped),
	    [UNS_STORE_TAP_DEAD] = offsetof(struct uns_delivery, st.dead),
	};
	static const char *const outcome[] = {
	    [UNS_STORE_TAP_DELIVERED] = "delivered",
	    [UNS_STORE_TAP_RETRY] = "retry",
	    [UNS_STORE_TAP_DEFER] = "deferred",
	    [UNS_STORE_TAP_DROP] = "dropped",
	    [UNS_STORE_TAP_DEAD] = "dead",
	};
	atomic_uint_fast64_t *c =
	    (atomic_uint_fast64_t *)((char *)d + field[x->result]);
	const char *labels[2] = {x->ops != NULL ? x->ops->name : "none",
	                         outcome[x->result]};

	atomic_fetch_add(c, 1);
	if (d->m.taps != NULL) {
		uns_metric_add(d->m.taps, labels, 1);
	}
	if (d->m.app_taps != NULL) {
		const char *app[2] = {
		    uns_metrics_capped_label(d->apps, x->tap.host),
		    outcome[x->result]};
		uns_metric_add(d->m.app_taps, app, 1);
	}
	if (x->result == UNS_STORE_TAP_DELIVERED) {
		int64_t lat = now_of(d) - x->tap.enqueued_ms;
		uint64_t l = lat > 0 ? (uint64_t)lat : 0, max;
		if (d->m.latency != NULL) {
			uns_metric_observe(d->m.latency, labels,
			                   (double)l / 1000.0);
		}
		atomic_fetch_add(&d->st.latency_sum, l);
		max = atomic_load(&d->st.latency_max);
		while (l > max && !atomic_compare_exchange_weak(
		                      &d->st.latency_max, &max, l)) {
		}
	}
}

/* Whether two tap refs ("UNSID" or "UNSID:ID") name one subscription. */
static bool
same_sub(const char *a, const char *b)
{
	size_t la = strcspn(a, ":"), lb = strcspn(b, ":");

	return la == lb && memcmp(a, b, la) == 0;
}

/* Takes up to SETTLE_BATCH done transfers of distinct subscriptions (a
 * batch settles in one store write; two outcomes for one subscription
 * would race on its delivery state); mu held. */
static size_t
take_done(uns_delivery *d, struct xfer **batch)
{
	struct queue rest = {0};
	struct xfer *x;
	size_t n = 0;

	while (n < SETTLE_BATCH && (x = pop(&d->done)) != NULL) {
		bool dup = false;
		for (size_t i = 0; i < n && !dup; i++) {
			dup = same_sub(batch[i]->tap.ref, x->tap.ref);
		}
		if (dup) {
			push(&rest, x);
		} else {
			batch[n++] = x;
		}
	}
	if (rest.head != NULL) { /* back to the front, in order */
		rest.tail->next = d->done.head;
		d->done.head = rest.head;
		if (d->done.tail == NULL) {
			d->done.tail = rest.tail;
		}
	}
	return n;
}

/* Settles a batch in one store write; counts and frees it. Returns
 * whether the feeder should look again (a retry or a newer tap is due). */
static bool
settle(uns_delivery *d, struct xfer **batch, size_t n)
{
	uns_store_settle v[SETTLE_BATCH];
	bool again = false, ok;

	for (size_t i = 0; i < n; i++) {
		v[i] = (uns_store_settle){.tap = &batch[i]->tap,
		                          .result = batch[i]->result,
		                          .due_ms = batch[i]->due_ms,
		                          .error = batch[i]->error};
	}
	ok = uns_store_outbox_settle_many(d->cfg.store, v, n) == UNS_OK;
	for (size_t i = 0; i < n; i++) {
		struct xfer *x = batch[i];
		if (ok) {
			count(d, x);
		} else {
			atomic_fetch_add(&d->st.settle_errors, 1);
		}
		again = again || v[i].newer ||
		        x->result == UNS_STORE_TAP_RETRY ||
		        x->result == UNS_STORE_TAP_DEFER;
		xfer_free(x);
	}
	return again;
}

static void *
worker_main(void *arg)
{
	uns_delivery *d = arg;
	struct xfer *batch[SETTLE_BATCH];
	size_t n;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		while (d->done.head == NULL && !d->workers_stop) {
			pthread_cond_wait(&d->settle_cv, &d->mu);
		}
		if ((n = take_done(d, batch)) == 0) {
			break;
		}
		pthread_mutex_unlock(&d->mu);
		bool again = settle(d, batch, n);
		pthread_mutex_lock(&d->mu);
		d->inflight -= n;
		atomic_store(&d->inflight_copy, d->inflight);
		/* A rescheduled tap may be due before the feeder's timer. */
		d->kicked = d->kicked || again;
		pthread_cond_signal(&d->feeder_cv);
		pthread_cond_broadcast(&d->idle_cv);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/* ======================================================================
 * Lifecycle
 * ====================================================================== */

static void
tap_hook(void *arg, const char *user, const char *host, uint64_t head,
         size_t taps)
{
	uns_delivery *d = arg;

	uns_tapstream_publish(d->cfg.stream, user, host, head);
	if (taps > 0) {
		uns_delivery_kick(d);
	}
}

void
uns_delivery_kick(uns_delivery *d)
{
	if (d == NULL) {
		return;
	}
	pthread_mutex_lock(&d->mu);
	d->kicked = true;
	pthread_cond_signal(&d->feeder_cv);
	pthread_mutex_unlock(&d->mu);
}

static void
config_defaults(uns_delivery_config *c)
{
#define DEF(f, v)                                                              \
	if (c->f == 0) {                                                       \
		c->f = v;                                                      \
	}
	DEF(max_inflight, DEF_INFLIGHT);
	DEF(host_connections, DEF_HOST_CONNS);
	DEF(workers, DEF_WORKERS);
	DEF(connect_timeout_ms, DEF_CONNECT_MS);
	DEF(timeout_ms, DEF_TIMEOUT_MS);
	DEF(backoff_base_ms, DEF_BACKOFF_MS);
	DEF(backoff_max_ms, DEF_BACKOFF_MAX);
	DEF(max_attempts, DEF_ATTEMPTS);
	DEF(breaker_failures, DEF_BREAKER_N);
	DEF(breaker_open_ms, DEF_BREAKER_MS);
	DEF(lease_ms, DEF_LEASE_MS);
	DEF(drain_ms, DEF_DRAIN_MS);
	DEF(max_app_labels, 100);
#undef DEF
	if (c->backoff_max_ms < c->backoff_base_ms) {
		c->backoff_max_ms = c->backoff_base_ms;
	}
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static double
inflight_gauge(void *arg)
{
	uns_delivery *d = arg;

	return (double)atomic_load(&d->inflight_copy);
}

/* The engine's families on cfg.metrics (metrics.h); none without it. */
static uns_err
metrics_register(uns_delivery *d)
{
	static const char *const taps[] = {"provider", "outcome"};
	static const char *const provider[] = {"provider"};
	static const char *const app_taps[] = {"app_host", "outcome"};
	static const double bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1,
	                                0.5,   1,     5,    30,   300};
	uns_metrics *m = d->cfg.metrics;
	uns_err rc;

	if (m == NULL) {
		return UNS_OK;
	}
	if ((rc = uns_metrics_counter(m, "uns_delivery_taps_total",
	                              "Taps settled, by provider and outcome.",
	                              taps, 2, &d->m.taps)) != UNS_OK ||
	    (rc = uns_metrics_histogram(
	         m, "uns_delivery_latency_seconds",
	         "Time from a tap queued (the feed change) to delivered.",
	         provider, 1, bounds, sizeof(bounds) / sizeof(bounds[0]),
	         &d->m.latency)) != UNS_OK ||
	    (rc = uns_metrics_counter(m, "uns_delivery_breaker_opened_total",
	                              "Provider circuit breakers opened.", NULL,
	                              0, &d->m.breaker)) != UNS_OK ||
	    (rc = uns_metrics_counter(m, "uns_delivery_fallbacks_total",
	                              "iOS fallback alerts queued.", NULL, 0,
	                              &d->m.fallbacks)) != UNS_OK ||
	    (rc = uns_metrics_counter(
	         m, "uns_delivery_app_taps_total",
	         "Taps settled, by the app's host (the first "
	         "delivery_metrics_max_apps hosts; later ones are \"other\") "
	         "and outcome.",
	         app_taps, 2, &d->m.app_taps)) != UNS_OK ||
	    (rc = uns_metrics_capped_open(&d->apps, d->cfg.max_app_labels)) !=
	        UNS_OK) {
		return rc;
	}
	return uns_metrics_gauge_func(m, "uns_delivery_inflight",
	                              "Taps claimed and not yet settled.",
	                              inflight_gauge, d);
}

static uns_err
transports_open(uns_delivery *d)
{
	size_t n = 0;
	uns_err rc;

	while (d->cfg.transports != NULL && d->cfg.transports[n] != NULL) {
		n++;
	}
	if (n > 0 && (d->slots = calloc(n, sizeof(*d->slots))) == NULL) {
		return UNS_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const uns_push_transport_ops *ops = d->cfg.transports[i];
		if ((rc = ops->open(&d->slots[i].tp, d->cfg.push)) != UNS_OK) {
			return rc;
		}
		d->slots[i].ops = ops;
		d->nslots++;
	}
	return UNS_OK;
}

static uns_err
threads_start(uns_delivery *d)
{
	if ((d->workers = calloc(d->cfg.workers, sizeof(*d->workers))) ==
	    NULL) {
		return UNS_ENOMEM;
	}
	for (; d->nworkers < d->cfg.workers; d->nworkers++) {
		if (pthread_create(&d->workers[d->nworkers], NULL, worker_main,
		                   d) != 0) {
			return UNS_INTERNAL;
		}
	}
	if (pthread_create(&d->loop, NULL, loop_main, d) != 0) {
		return UNS_INTERNAL;
	}
	d->loop_up = true;
	if (pthread_create(&d->feeder, NULL, feeder_main, d) != 0) {
		return UNS_INTERNAL;
	}
	d->feeder_up = true;
	return UNS_OK;
}

static uns_delivery *
alloc(const uns_delivery_config *cfg)
{
	uns_delivery *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		return NULL;
	}
	d->cfg = *cfg;
	config_defaults(&d->cfg);
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->feeder_cv, NULL);
	pthread_cond_init(&d->settle_cv, NULL);
	pthread_cond_init(&d->idle_cv, NULL);
	d->feeder_seed = (unsigned)wall_ms();
	d->loop_seed = d->feeder_seed ^ 0x9e3779b9u;
	d->kicked = true; /* look at the outbox once at start */
	return d;
}

uns_err
uns_delivery_open(uns_delivery **out, const uns_delivery_config *cfg)
{
	uns_delivery *d;
	uns_err rc;

	if (out == NULL || cfg == NULL || cfg->store == NULL) {
		return UNS_EINVAL;
	}
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		return UNS_INTERNAL;
	}
	if ((d = alloc(cfg)) == NULL) {
		return UNS_ENOMEM;
	}
	if ((d->multi = curl_multi_init()) == NULL) {
		uns_delivery_close(d);
		return UNS_INTERNAL;
	}
	curl_multi_setopt(d->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	                  (long)d->cfg.host_connections);
	if ((rc = metrics_register(d)) != UNS_OK ||
	    (rc = transports_open(d)) != UNS_OK ||
	    (rc = threads_start(d)) != UNS_OK) {
		uns_delivery_close(d);
		return rc;
	}
	if (d->cfg.store != NULL &&
	    (rc = uns_store_observe(d->cfg.store, tap_hook, d)) != UNS_OK) {
		uns_delivery_close(d);
		return rc;
	}
	*out = d;
	return UNS_OK;
}

/* Waits until nothing is in flight or drain_ms passed. */
static void
drain(uns_delivery *d)
{
	struct timespec ts;

	abs_deadline(&ts, d->cfg.drain_ms);
	pthread_mutex_lock(&d->mu);
	while (d->inflight > 0 &&
	       pthread_cond_timedwait(&d->idle_cv, &d->mu, &ts) == 0) {
	}
	d->loop_stop = true;
	pthread_mutex_unlock(&d->mu);
}

void
uns_delivery_close(uns_delivery *d)
{
	if (d == NULL) {
		return;
	}
	uns_store_unobserve(d->cfg.store, tap_hook, d);
	pthread_mutex_lock(&d->mu);
	d->stopping = true;
	pthread_cond_signal(&d->feeder_cv);
	pthread_mutex_unlock(&d->mu);
	if (d->feeder_up) {
		pthread_join(d->feeder, NULL);
	}
	drain(d);
	if (d->loop_up) {
		curl_multi_wakeup(d->multi);
		pthread_join(d->loop, NULL);
	}
	pthread_mutex_lock(&d->mu);
	d->workers_stop = true;
	pthread_cond_broadcast(&d->settle_cv);
	pthread_mutex_unlock(&d->mu);
	for (size_t i = 0; i < d->nworkers; i++) {
		pthread_join(d->workers[i], NULL);
	}
	for (size_t i = 0; i < d->nslots; i++) {
		d->slots[i].ops->close(d->slots[i].tp);
	}
	for (size_t i = 0; i < d->nbreakers; i++) {
		free(d->breakers[i]);
	}
	if (d->multi != NULL) {
		curl_multi_cleanup(d->multi);
	}
	pthread_cond_destroy(&d->feeder_cv);
	pthread_cond_destroy(&d->settle_cv);
	pthread_cond_destroy(&d->idle_cv);
	pthread_mutex_destroy(&d->mu);
	free(d->breakers);
	free(d->workers);
	free(d->slots);
	uns_metrics_capped_close(d->apps);
	free(d);
}

void
uns_delivery_stats_get(uns_delivery *d, uns_delivery_stats *out)
{
	if (d == NULL || out == NULL) {
		return;
	}
	out->claimed = atomic_load(&d->st.claimed);
	out->sent = atomic_load(&d->st.sent);
	out->delivered = atomic_load(&d->st.delivered);
	out->retried = atomic_load(&d->st.retried);
	out->deferred = atomic_load(&d->st.deferred);
	out->dropped = atomic_load(&d->st.dropped);
	out->dead = atomic_load(&d->st.dead);
	out->fallbacks = atomic_load(&d->st.fallbacks);
	out->breaker_opened = atomic_load(&d->st.breaker_opened);
	out->settle_errors = atomic_load(&d->st.settle_errors);
	out->latency_ms_sum = atomic_load(&d->st.latency_sum);
	out->latency_ms_max = atomic_load(&d->st.latency_max);
	pthread_mutex_lock(&d->mu);
	out->inflight = d->inflight;
	pthread_mutex_unlock(&d->mu);
}
