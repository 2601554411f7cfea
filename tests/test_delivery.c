/*
 * test_delivery.c — the delivery engine with a real store, real curl and
 * real HTTP receivers on 127.0.0.1: the scenarios of issue 5 (fan-out to
 * five platforms, a read tapping the others but not web push, 429 with
 * Retry-After, 410 marking dead, a provider down then up, kill -9 with
 * pending taps, iOS fallback sent and not sent, coalescing), the live tap
 * stream over NNG pub/sub, and the real webhook transport against the Node
 * reference receiver (which checks its HMAC signature).
 *
 * Most scenarios use a small transport defined here for every platform
 * ("probe"): the engine's job is the same whatever the wire format, and
 * the probe puts what the engine handed it (cursor, state change,
 * fallback) into the body so the receiver can show it. Backoff and breaker
 * knobs are shortened so that "down for a while" takes about a second.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "config.h"
#include "crypto.h"
#include "delivery.h"
#include "push_impl.h"
#include "receiver.h"
#include "receivers.h"
#include "store.h"
#include "tapstream.h"
#include "testutil.h"

#define HOST    "contoso.example.com"
#define WAIT_MS 15000
#define PLAT(x) UNS__V1__PLATFORM__PLATFORM_##x

/* ---- the probe transport ------------------------------------------------ */

static char probe_base[128]; /* http://127.0.0.1:PORT of the receiver */

static uns_err
probe_check(const uns_push_config *cfg, const Uns__V1__Subscription *sub,
            const char **field, char *why, size_t whylen)
{
	return UNS_OK;
}

static uns_err
probe_open(uns_push_transport **tp, const uns_push_config *cfg)
{
	*tp = (uns_push_transport *)probe_base; /* any non-NULL handle */
	return UNS_OK;
}

static void
probe_close(uns_push_transport *t)
{
}

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
dupf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		s = NULL;
	}
	va_end(ap);
	return s;
}

/* POST base + push_channel, body {"unsid","cursor","state","fallback"}. */
static uns_err
probe_build(uns_push_transport *t, const uns_tap *tap, uns_push_request *out)
{
	const char *title = "";
	uns_push_request r = {0};

	if (tap->fallback) {
		title = tap->subject->fallback_policy->endpoint_fallback
		            ->visual_content->title;
	}
	r.url = dupf("%s%s", probe_base, tap->sub->push_channel);
	r.body = (unsigned char *)dupf(
	    "{\"unsid\":\"%s\",\"cursor\":\"%s\",\"state\":%s,"
	    "\"fallback\":%s,\"title\":\"%s\"}",
	    tap->sub->unsid, tap->cursor, tap->state_change ? "true" : "false",
	    tap->fallback ? "true" : "false", title);
	r.headers = calloc(1, sizeof(char *));
	if (r.url == NULL || r.body == NULL || r.headers == NULL ||
	    (r.headers[0] = strdup("Content-Type: application/json")) == NULL) {
		free(r.headers);
		free(r.url);
		free(r.body);
		return UNS_ENOMEM;
	}
	r.nheaders = 1;
	r.body_len = strlen((char *)r.body);
	*out = r;
	return UNS_OK;
}

static uns_push_outcome
probe_classify(uns_push_transport *t, const uns_push_response *resp,
               int64_t *retry_after_ms)
{
	const char *ra = resp->header(resp->header_arg, "retry-after");

	*retry_after_ms = ra != NULL ? atoll(ra) * 1000 : -1;
	if (resp->status >= 200 && resp->status < 300) {
		return UNS_PUSH_DELIVERED;
	}
	if (resp->status == 404 || resp->status == 410) {
		return UNS_PUSH_DEAD;
	}
	if (resp->status == 0 || resp->status == 429 || resp->status >= 500) {
		return UNS_PUSH_RETRY;
	}
	return UNS_PUSH_REJECTED;
}

#define PROBE(n, p)                                                            \
	static const uns_push_transport_ops probe_##n = {.name = #n,           \
	                                                 .platform = PLAT(p),  \
	                                                 .check = probe_check, \
	                                                 .open = probe_open,   \
	                                                 .close = probe_close, \
	                                                 .build = probe_build, \
	                                                 .classify =           \
	                                                     probe_classify}
PROBE(wns, WINDOWS);
PROBE(apns, IOS);
PROBE(fcm, ANDROID);
PROBE(webpush, WEB_PUSH);
PROBE(webhook, WEBHOOK);

static const uns_push_transport_ops *const probes[] = {
    &probe_wns, &probe_apns, &probe_fcm, &probe_webpush, &probe_webhook, NULL,
};

/* ---- fixture ------------------------------------------------------------ */

struct fx {
	char dir[64];
	uns_store *st;
	uns_delivery *d;
	ut_rx *rx;
	uns_delivery_config dc;
};

static void
store_open(struct fx *f)
{
	uns_store_config sc = {.dir = f->dir, .reclaim_interval_ms = -1};
	char path[128];

	snprintf(path, sizeof(path), "%s/store", f->dir);
	sc.dir = path;
	assert_int_equal(uns_store_open(&f->st, &sc), UNS_OK);
}

static void
engine_start(struct fx *f)
{
	f->dc.store = f->st;
	assert_int_equal(uns_delivery_open(&f->d, &f->dc), UNS_OK);
}

static void
engine_stop(struct fx *f)
{
	uns_delivery_close(f->d);
	f->d = NULL;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	ut_mkdtemp(f->dir, sizeof(f->dir));
	f->rx = ut_rx_open(0);
	snprintf(probe_base, sizeof(probe_base), "http://127.0.0.1:%d",
	         ut_rx_port(f->rx));
	f->dc = (uns_delivery_config){
	    .transports = probes,
	    .connect_timeout_ms = 1000,
	    .timeout_ms = 5000,
	    .backoff_base_ms = 50,
	    .backoff_max_ms = 400,
	    .breaker_failures = 3,
	    .breaker_open_ms = 300,
	    .lease_ms = 20000,
	    .workers = 2,
	};
	store_open(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	engine_stop(f);
	uns_store_close(f->st);
	ut_rx_close(f->rx);
	ut_rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static const struct {
	const char *device;
	Uns__V1__Platform platform;
} devices[] = {
    {"pc", PLAT(WINDOWS)},     {"phone", PLAT(IOS)},
    {"tablet", PLAT(ANDROID)}, {"browser", PLAT(WEB_PUSH)},
    {"hook", PLAT(WEBHOOK)},   {"poller", PLAT(POLLING)},
};
#define NDEV 6

/* Subscribes alice's device; its receiver path is "/device". */
static void
subscribe(struct fx *f, const char *device, Uns__V1__Platform p, char unsid[32])
{
	Uns__V1__Subscription in = UNS__V1__SUBSCRIPTION__INIT, *out = NULL;
	char channel[64];
	bool created;

	snprintf(channel, sizeof(channel), "/%s", device);
	in.device_id = (char *)device;
	in.platform = p;
	in.push_channel = channel;
	assert_int_equal(
	    uns_store_sub_put(f->st, "alice", HOST, &in, &out, &created),
	    UNS_OK);
	if (unsid != NULL) {
		snprintf(unsid, 32, "%s", out->unsid);
	}
	uns__v1__subscription__free_unpacked(out, NULL);
}

static Uns__V1__Notification *
post(struct fx *f, const char *app_id)
{
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT, *out = NULL;
	bool created;

	n.app_notification_id = (char *)app_id;
	n.group_name = "";
	assert_int_equal(
	    uns_store_post(f->st, "alice", HOST, &n, &out, &created), UNS_OK);
	return out;
}

static void
sleep_ms(int ms)
{
	usleep((useconds_t)ms * 1000);
}

/* Waits until the outbox is empty and nothing is in flight. */
static void
wait_settled(struct fx *f)
{
	uns_delivery_stats s;
	size_t n = 1;

	for (int i = 0; i < WAIT_MS / 10; i++) {
		assert_int_equal(uns_store_outbox_count(f->st, &n), UNS_OK);
		uns_delivery_stats_get(f->d, &s);
		if (n == 0 && s.inflight == 0) {
			return;
		}
		sleep_ms(10);
	}
	fail_msg("outbox still holds %zu taps", n);
}

static Uns__V1__Subscription *
sub_get(struct fx *f, const char *unsid)
{
	Uns__V1__Subscription *s = NULL;
	char *user = NULL;

	assert_int_equal(uns_store_sub_get(f->st, unsid, &user, &s), UNS_OK);
	free(user);
	return s;
}

static char *
head(struct fx *f)
{
	char *c = NULL;

	assert_int_equal(uns_store_feed_head(f->st, "alice", HOST, &c), UNS_OK);
	return c;
}

/* ---- scenarios ---------------------------------------------------------- */

/* A post to alice with five pushed endpoints (and one polling) taps each
 * once; a read on the Windows device taps the others but web push. */
static void
t_fanout_and_read(void **state)
{
	struct fx *f = *state;
	char unsids[NDEV][32], body[512], *cur;
	uns_store_change chg = {.read_state = 2 /* read */};
	Uns__V1__Notification *n, *upd = NULL;

	for (int i = 0; i < NDEV; i++) {
		subscribe(f, devices[i].device, devices[i].platform, unsids[i]);
	}
	engine_start(f);
	n = post(f, "a");
	for (int i = 0; i < NDEV - 1; i++) {
		char path[32];
		snprintf(path, sizeof(path), "/%s", devices[i].device);
		assert_true(ut_rx_wait(f->rx, path, 1, WAIT_MS));
	}
	wait_settled(f);
	assert_int_equal(ut_rx_total(f->rx), 5);
	assert_int_equal(ut_rx_count(f->rx, "/poller"), 0);
	cur = head(f);
	ut_rx_body(f->rx, "/hook", body, sizeof(body));
	assert_non_null(strstr(body, cur));
	assert_non_null(strstr(body, "\"state\":false"));
	free(cur);

	chg.by_unsid = unsids[0];
	assert_int_equal(
	    uns_store_update_state(f->st, "alice", HOST, n->id, &chg, &upd),
	    UNS_OK);
	assert_true(ut_rx_wait(f->rx, "/phone", 2, WAIT_MS));
	assert_true(ut_rx_wait(f->rx, "/tablet", 2, WAIT_MS));
	assert_true(ut_rx_wait(f->rx, "/hook", 2, WAIT_MS));
	wait_settled(f);
	assert_int_equal(ut_rx_count(f->rx, "/pc"), 1);      /* the reader */
	assert_int_equal(ut_rx_count(f->rx, "/browser"), 1); /* web push */
	assert_int_equal(ut_rx_total(f->rx), 8);
	ut_rx_body(f->rx, "/phone", body, sizeof(body));
	assert_non_null(strstr(body, "\"state\":true"));
	Uns__V1__Subscription *s = sub_get(f, unsids[4]);
	assert_int_equal(s->delivery->delivered, 2);
	assert_int_equal(s->delivery->consecutive_failures, 0);
	assert_true(s->delivery->last_success_ms > 0);
	uns__v1__subscription__free_unpacked(s, NULL);
	uns__v1__notification__free_unpacked(upd, NULL);
	uns__v1__notification__free_unpacked(n, NULL);
}

/* 429 with Retry-After: 1, then success about a second later. */
static void
t_retry_after(void **state)
{
	struct fx *f = *state;
	char hook[32];
	uns_delivery_stats st;

	uns_metrics *m = NULL;
	char *text = NULL;
	size_t len;

	assert_int_equal(uns_metrics_open(&m), UNS_OK);
	f->dc.metrics = m;
	subscribe(f, "hook", PLAT(WEBHOOK), hook);
	ut_rx_script(f->rx, "/hook", 1, 429, 1);
	engine_start(f);
	uns__v1__notification__free_unpacked(post(f, "a"), NULL);
	assert_true(ut_rx_wait(f->rx, "/hook", 2, WAIT_MS));
	wait_settled(f);
	assert_true(ut_rx_last_ms(f->rx, "/hook") -
	                ut_rx_first_ms(f->rx, "/hook") >=
	            900);
	assert_int_equal(ut_rx_count(f->rx, "/hook"), 2);
	Uns__V1__Subscription *s = sub_get(f, hook);
	assert_int_equal(s->delivery->delivered, 1);
	assert_int_equal(s->delivery->failed, 1);
	assert_int_equal(s->delivery->consecutive_failures, 0);
	assert_non_null(strstr(s->delivery->last_error, "HTTP 429"));
	uns__v1__subscription__free_unpacked(s, NULL);
	uns_delivery_stats_get(f->d, &st);
	assert_int_equal(st.retried, 1);
	assert_int_equal(st.delivered, 1);
	/* The same on /metrics. */
	assert_int_equal(uns_metrics_write(m, &text, &len), UNS_OK);
	assert_non_null(strstr(text, "uns_delivery_taps_total{provider="
	                             "\"webhook\",outcome=\"retry\"} 1\n"));
	assert_non_null(strstr(text, "uns_delivery_taps_total{provider="
	                             "\"webhook\",outcome=\"delivered\"} 1\n"));
	assert_non_null(strstr(text, "uns_delivery_inflight 0\n"));
	assert_non_null(
	    strstr(text, "# TYPE uns_delivery_leases_lost_total counter\n"));
	/* Per app: its host, and no other series. */
	assert_non_null(strstr(text,
	                       "uns_delivery_app_taps_total{app_host="
	                       "\"" HOST "\",outcome=\"delivered\"} 1\n"));
	assert_null(strstr(text, "app_host=\"other\""));
	assert_non_null(strstr(
	    text,
	    "uns_delivery_latency_seconds_count{provider=\"webhook\"} 1"));
	free(text);
	engine_stop(f);
	uns_metrics_close(m);
}

/* 410 marks the subscription dead; it gets no more taps. */
static void
t_gone_marks_dead(void **state)
{
	struct fx *f = *state;
	char hook[32];

	subscribe(f, "hook", PLAT(WEBHOOK), hook);
	subscribe(f, "pc", PLAT(WINDOWS), NULL);
	ut_rx_script(f->rx, "/hook", 1, 410, -1);
	engine_start(f);
	uns__v1__notification__free_unpacked(post(f, "a"), NULL);
	assert_true(ut_rx_wait(f->rx, "/hook", 1, WAIT_MS));
	wait_settled(f);
	Uns__V1__Subscription *s = sub_get(f, hook);
	assert_true(s->delivery->dead);
	assert_non_null(strstr(s->delivery->last_error, "HTTP 410"));
	uns__v1__subscription__free_unpacked(s, NULL);
	uns__v1__notification__free_unpacked(post(f, "b"), NULL);
	assert_true(ut_rx_wait(f->rx, "/pc", 2, WAIT_MS));
	wait_settled(f);
	assert_int_equal(ut_rx_count(f->rx, "/hook"), 1);
}

/* A provider that refuses connections for a while: retries back off, the
 * breaker opens, and once it listens again the tap arrives. */
static void
t_down_then_up(void **state)
{
	struct fx *f = *state;
	uns_delivery_stats st;
	char hook[32];

	subscribe(f, "hook", PLAT(WEBHOOK), hook);
	engine_start(f);
	ut_rx_stop(f->rx);
	uns__v1__notification__free_unpacked(post(f, "a"), NULL);
	for (int i = 0; i < WAIT_MS / 10; i++) {
		uns_delivery_stats_get(f->d, &st);
		if (st.breaker_opened > 0 && st.retried >= 3) {
			break; /* the third failure is settled a bit later */
		}
		sleep_ms(10);
	}
	assert_true(st.breaker_opened > 0);
	assert_true(st.retried >= 3);
	sleep_ms(500);
	ut_rx_start(f->rx);
	assert_true(ut_rx_wait(f->rx, "/hook", 1, WAIT_MS));
	wait_settled(f);
	Uns__V1__Subscription *s = sub_get(f, hook);
	assert_int_equal(s->delivery->delivered, 1);
	assert_true(s->delivery->failed >= 3);
	assert_false(s->delivery->dead);
	uns__v1__subscription__free_unpacked(s, NULL);
}

/* kill -9 of a process whose taps were claimed and sent to a provider that
 * never answered: after a restart they are delivered. */
static void
t_crash_redelivers(void **state)
{
	struct fx *f = *state;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int hole = socket(AF_INET, SOCK_STREAM, 0), p[2], status;
	char ok;
	pid_t pid;

	for (int i = 0; i < NDEV; i++) {
		subscribe(f, devices[i].device, devices[i].platform, NULL);
	}
	/* A "provider" that accepts connections and never answers. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(hole, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(hole, 64), 0);
	assert_int_equal(getsockname(hole, (struct sockaddr *)&sa, &len), 0);
	assert_int_equal(pipe(p), 0);
	uns_store_close(f->st);
	f->st = NULL;
	if ((pid = fork()) == 0) {
		uns_delivery_stats st = {0};
		snprintf(probe_base, sizeof(probe_base), "http://127.0.0.1:%d",
		         ntohs(sa.sin_port));
		f->dc.timeout_ms = 60000;
		store_open(f);
		engine_start(f);
		uns__v1__notification__free_unpacked(post(f, "a"), NULL);
		while (st.sent < 5) {
			sleep_ms(5);
			uns_delivery_stats_get(f->d, &st);
		}
		(void)!write(p[1], "x", 1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(p[0], &ok, 1), 1);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	close(hole);
	close(p[0]);
	close(p[1]);
	store_open(f);
	size_t n = 0;
	assert_int_equal(uns_store_outbox_count(f->st, &n), UNS_OK);
	assert_int_equal(n, 5);
	engine_start(f);
	for (int i = 0; i < NDEV - 1; i++) {
		char path[32];
		snprintf(path, sizeof(path), "/%s", devices[i].device);
		assert_true(ut_rx_wait(f->rx, path, 1, WAIT_MS));
	}
	wait_settled(f);
	assert_int_equal(ut_rx_total(f->rx), 5);
}

/* 100 quick posts to a slow provider: few taps per endpoint, the last one
 * with the newest cursor. */
static void
t_coalescing(void **state)
{
	struct fx *f = *state;
	char app[16], body[512], *cur;
	int n;

	subscribe(f, "hook", PLAT(WEBHOOK), NULL);
	subscribe(f, "pc", PLAT(WINDOWS), NULL);
	ut_rx_delay(f->rx, 100);
	engine_start(f);
	for (int i = 0; i < 100; i++) {
		snprintf(app, sizeof(app), "n%d", i);
		uns__v1__notification__free_unpacked(post(f, app), NULL);
	}
	wait_settled(f);
	cur = head(f);
	ut_rx_body(f->rx, "/hook", body, sizeof(body));
	assert_non_null(strstr(body, cur));
	n = ut_rx_count(f->rx, "/hook");
	print_message("100 posts: %d taps to /hook, %d to /pc\n", n,
	              ut_rx_count(f->rx, "/pc"));
	assert_true(n >= 1 && n < 50);
	assert_true(ut_rx_count(f->rx, "/pc") < 50);
	free(cur);
}

static Uns__V1__Notification *
post_fallback(struct fx *f)
{
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT, *out = NULL;
	Uns__V1__Payload pl = UNS__V1__PAYLOAD__INIT;
	Uns__V1__FallbackPolicy fp = UNS__V1__FALLBACK_POLICY__INIT;
	Uns__V1__EndpointFallback ef = UNS__V1__ENDPOINT_FALLBACK__INIT;
	Uns__V1__VisualContent vc = UNS__V1__VISUAL_CONTENT__INIT;
	Uns__V1__Platform ios = PLAT(IOS);
	bool created;

	vc.title = "Order shipped";
	ef.n_platform_types = 1;
	ef.platform_types = &ios;
	ef.fallback_delay_in_seconds = 1; /* the service allows 60-600 */
	ef.visual_content = &vc;
	fp.endpoint_fallback = &ef;
	pl.raw_content = "{\"order\":42}";
	n.app_notification_id = "order-42";
	n.group_name = "";
	n.payload = &pl;
	n.priority = UNS__V1__PRIORITY__PRIORITY_HIGH;
	n.fallback_policy = &fp;
	assert_int_equal(
	    uns_store_post(f->st, "alice", HOST, &n, &out, &created), UNS_OK);
	return out;
}

/* After the delay, the iOS device that did not fetch gets a visible alert;
 * the one that fetched gets none. */
static void
t_fallback(void **state)
{
	struct fx *f = *state;
	char a[32], b[32], body[512];
	Uns__V1__Notification *n;
	uns_delivery_stats st;

	subscribe(f, "phone-a", PLAT(IOS), a);
	subscribe(f, "phone-b", PLAT(IOS), b);
	engine_start(f);
	n = post_fallback(f);
	assert_true(ut_rx_wait(f->rx, "/phone-a", 1, WAIT_MS));
	const char *ids[] = {n->id};
	assert_int_equal(uns_store_fetched(f->st, "alice", HOST, a, ids, 1),
	                 UNS_OK);
	assert_true(ut_rx_wait(f->rx, "/phone-b", 2, WAIT_MS));
	wait_settled(f);
	ut_rx_body(f->rx, "/phone-b", body, sizeof(body));
	assert_non_null(strstr(body, "\"fallback\":true"));
	assert_non_null(strstr(body, "Order shipped"));
	assert_int_equal(ut_rx_count(f->rx, "/phone-a"), 1);
	assert_int_equal(ut_rx_count(f->rx, "/phone-b"), 2);
	uns_delivery_stats_get(f->d, &st);
	assert_int_equal(st.fallbacks, 1);
	uns__v1__notification__free_unpacked(n, NULL);
}

/* The live tap stream: a sub0 subscriber to one host gets its changes
 * (host, user, cursor) and not another host's. */
static void
t_tap_stream(void **state)
{
	struct fx *f = *state;
	uns_tapstream *ts = NULL;
	nng_socket sub;
	char url[128], *cur;
	nng_msg *m;
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT, *out = NULL;
	bool created;

	snprintf(url, sizeof(url), "ipc://%s/taps.ipc", f->dir);
	assert_int_equal(uns_tapstream_open(&ts, url), UNS_OK);
	f->dc.stream = ts;
	engine_start(f);
	assert_int_equal(nng_sub0_open(&sub), 0);
	assert_int_equal(nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, HOST,
	                                sizeof(HOST)), /* with its NUL */
	                 0);
	assert_int_equal(nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 5000), 0);
	assert_int_equal(nng_dial(sub, url, NULL, 0), 0);
	/* pub/sub drops what is sent before the pipe is up: post until the
	 * first message arrives. */
	n.app_notification_id = "x";
	n.group_name = "";
	assert_int_equal(uns_store_post(f->st, "bob", "contoso.example.org", &n,
	                                &out, &created),
	                 UNS_OK);
	uns__v1__notification__free_unpacked(out, NULL);
	int rv = NNG_ETIMEDOUT;
	for (int i = 0; i < 50 && rv != 0; i++) {
		uns__v1__notification__free_unpacked(post(f, "a"), NULL);
		nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 100);
		rv = nng_recvmsg(sub, &m, 0);
	}
	assert_int_equal(rv, 0);
	nng_msg_free(m);
	nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 5000);
	while (nng_recvmsg(sub, &m, NNG_FLAG_NONBLOCK) == 0) {
		nng_msg_free(m); /* drain the warm-up messages */
	}
	uns__v1__notification__free_unpacked(post(f, "b"), NULL);
	assert_int_equal(nng_recvmsg(sub, &m, 0), 0);
	cur = head(f);
	const char *body = nng_msg_body(m);
	size_t len = nng_msg_len(m);
	assert_int_equal(len, sizeof(HOST) + strlen("alice") + 1 + strlen(cur));
	assert_string_equal(body, HOST);
	assert_string_equal(body + sizeof(HOST), "alice");
	assert_memory_equal(body + sizeof(HOST) + 6, cur, strlen(cur));
	nng_msg_free(m);
	free(cur);
	assert_true(uns_tapstream_published(ts) >= 3);
	nng_close(sub);
	engine_stop(f);
	uns_tapstream_close(ts);
}

/* The real webhook transport through the engine to the Node reference
 * receiver over TLS, which checks the HMAC signature and the body. */
static void
t_webhook_node(void **state)
{
	struct fx *f = *state;
	uns_push_config *pc = NULL;
	static uns_config c;
	char why[256], ca[128], secret[128], channel[256], *cur;
	const char *args[] = {"--secret", secret, NULL};
	Uns__V1__Subscription in = UNS__V1__SUBSCRIPTION__INIT, *sub = NULL;
	ut_receiver rc;
	json_t *recs = NULL;
	bool created;

	ut_require_node();
	ut_make_certs(f->dir);
	uns_config_defaults(&c);
	assert_int_equal(uns_push_add_keys(&c), UNS_OK);
	snprintf(ca, sizeof(ca), "%s/ca.pem", f->dir);
	assert_int_equal(uns_config_set(&c, "data_dir", f->dir, why, 256),
	                 UNS_OK);
	assert_int_equal(uns_config_set(&c, "push_ca_file", ca, why, 256),
	                 UNS_OK);
	assert_int_equal(
	    uns_config_set(&c, "push_allow_private", "true", why, 256), UNS_OK);
	assert_int_equal(uns_push_config_alloc(&pc, &c, why, 256), UNS_OK);
	snprintf(secret, sizeof(secret), "%s/push/webhook.secret", f->dir);
	ut_receiver_start(&rc, "webhook_receiver.js", f->dir, args);
	snprintf(channel, sizeof(channel), "%s/hooks/alice", rc.base);
	in.device_id = "hook";
	in.platform = PLAT(WEBHOOK);
	in.push_channel = channel;
	assert_int_equal(
	    uns_store_sub_put(f->st, "alice", HOST, &in, &sub, &created),
	    UNS_OK);
	f->dc.transports = uns_push_transports;
	f->dc.push = pc;
	engine_start(f);
	uns__v1__notification__free_unpacked(post(f, "a"), NULL);
	wait_settled(f);
	recs = ut_receiver_records(&rc);
	assert_int_equal(json_array_size(recs), 1);
	cur = head(f);
	json_t *r0 = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(r0, "unsid")),
	                    sub->unsid);
	assert_string_equal(json_string_value(json_object_get(r0, "cursor")),
	                    cur);
	Uns__V1__Subscription *s = sub_get(f, sub->unsid);
	assert_int_equal(s->delivery->delivered, 1);
	uns__v1__subscription__free_unpacked(s, NULL);
	free(cur);
	json_decref(recs);
	engine_stop(f);
	ut_receiver_stop(&rc);
	uns_push_config_free(pc);
	uns__v1__subscription__free_unpacked(sub, NULL);
}

/* ---- DNS rebinding ------------------------------------------------------ */

static const char *rebind_to; /* what rebind.test resolves to now */

static int
fake_resolve(void *arg, const char *host, struct sockaddr_storage *out,
             size_t cap, size_t *n)
{
	struct sockaddr_in *in = (struct sockaddr_in *)out;

	(void)arg;
	if (strcmp(host, "rebind.test") != 0 || cap < 1) {
		return EAI_NONAME;
	}
	memset(out, 0, sizeof(*out));
	in->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, rebind_to, &in->sin_addr), 1);
	*n = 1;
	return 0;
}

/*
 * A name that resolves to a loopback receiver (push_allow_private on) and
 * then elsewhere: each tap goes to the address checked for it, pinned
 * (rebind.test is in no DNS: only the pin gets the tap there), and once
 * the name points at the metadata service or a private network the tap
 * is dropped, naming the address, and nothing is sent.
 */
static void
t_dns_rebinding(void **state)
{
	struct fx *f = *state;
	static uns_config c;
	uns_push_config *pc = NULL;
	char why[256], hook[32];
	static const char *const refused[] = {"169.254.169.254", "10.0.0.1"};

	uns_config_defaults(&c);
	assert_int_equal(uns_push_add_keys(&c), UNS_OK);
	assert_int_equal(uns_config_set(&c, "data_dir", f->dir, why, 256),
	                 UNS_OK);
	assert_int_equal(
	    uns_config_set(&c, "push_allow_private", "true", why, 256), UNS_OK);
	assert_int_equal(uns_config_set(&c, "push_dns_cache", "0", why, 256),
	                 UNS_OK); /* resolve for every tap */
	assert_int_equal(uns_push_config_alloc(&pc, &c, why, 256), UNS_OK);
	pc->resolve = fake_resolve;
	snprintf(probe_base, sizeof(probe_base), "http://rebind.test:%d",
	         ut_rx_port(f->rx));
	subscribe(f, "hook", PLAT(WEBHOOK), hook);
	f->dc.push = pc;
	rebind_to = "127.0.0.1";
	engine_start(f);
	uns__v1__notification__free_unpacked(post(f, "a"), NULL);
	assert_true(ut_rx_wait(f->rx, "/hook", 1, WAIT_MS));
	wait_settled(f);
	for (size_t i = 0; i < 2; i++) {
		rebind_to = refused[i];
		uns__v1__notification__free_unpacked(post(f, refused[i]), NULL);
		wait_settled(f);
		Uns__V1__Subscription *s = sub_get(f, hook);
		assert_int_equal(s->delivery->delivered, 1);
		assert_int_equal(s->delivery->failed, i + 1);
		assert_non_null(strstr(s->delivery->last_error, refused[i]));
		uns__v1__subscription__free_unpacked(s, NULL);
	}
	assert_int_equal(ut_rx_count(f->rx, "/hook"), 1);
	engine_stop(f);
	uns_push_config_free(pc);
}

/* ---- the five real transports ------------------------------------------- */

/* Accepted taps a reference receiver recorded (its checks passed, 2xx;
 * OAuth token requests, kinds "…-token", are not taps). */
static int
accepted(ut_receiver *rc)
{
	json_t *recs = ut_receiver_records(rc), *r;
	size_t i;
	int n = 0;

	json_array_foreach(recs, i, r)
	{
		json_int_t st =
		    json_integer_value(json_object_get(r, "status"));
		const char *kind =
		    json_string_value(json_object_get(r, "kind"));
		n += json_is_true(json_object_get(r, "ok")) && st >= 200 &&
		     st < 300 && kind != NULL && strstr(kind, "-token") == NULL;
	}
	json_decref(recs);
	return n;
}

static bool
wait_accepted(ut_receiver *rc, int n)
{
	for (int i = 0; i < WAIT_MS / 20; i++) {
		if (accepted(rc) >= n) {
			return true;
		}
		sleep_ms(20);
	}
	return false;
}

static const char *
fx_file(struct fx *f, const char *name, const char *text)
{
	static char paths[4][192];
	static int slot;
	char *path = paths[slot++ % 4];
	FILE *fp;

	snprintf(path, 192, "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	return path;
}

static void
sub_real(struct fx *f, const char *device, Uns__V1__Platform p,
         const char *channel, Uns__V1__WebPushSubscription *wp, char unsid[32])
{
	Uns__V1__Subscription in = UNS__V1__SUBSCRIPTION__INIT, *out = NULL;
	bool created;

	in.device_id = (char *)device;
	in.platform = p;
	in.push_channel = (char *)(channel != NULL ? channel : "");
	in.web_push = wp;
	assert_int_equal(
	    uns_store_sub_put(f->st, "alice", HOST, &in, &out, &created),
	    UNS_OK);
	snprintf(unsid, 32, "%s", out->unsid);
	uns__v1__subscription__free_unpacked(out, NULL);
}

/* A post to five endpoints on five platforms, each through its real
 * transport to its Node reference receiver (which checks signatures,
 * tokens, encryption and headers): each gets one tap; a read on the
 * Windows device taps iOS, Android and the webhook, not web push. */
static void
t_five_real_transports(void **state)
{
	struct fx *f = *state;
	enum { WNS, APNS, FCM, WEBPUSH, HOOK, N };
	ut_receiver rc[N];
	static uns_config c;
	uns_push_config *pc = NULL;
	char why[512], ca[160], vapid[160], hook[256], *pub = NULL;
	char unsids[N][32];
	const char *secret;
	uns_store_change chg = {.read_state = 2};
	Uns__V1__Notification *n, *upd = NULL;

	ut_require_node();
	ut_make_certs(f->dir);
	snprintf(vapid, sizeof(vapid), "%s/push/vapid.pem", f->dir);
	assert_int_equal(uns_vapid_key(vapid, true, &pub, why, 512), UNS_OK);
	secret = fx_file(f, "webhook.secret", "five-transports-secret\n");
	const char *hook_args[] = {"--secret", secret, NULL};
	const char *wp_args[] = {"--vapid-key", pub, NULL};
	ut_receiver_start(&rc[HOOK], "webhook_receiver.js", f->dir, hook_args);
	ut_receiver_start(&rc[WEBPUSH], "webpush_receiver.js", f->dir, wp_args);
	ut_receiver_start(&rc[APNS], "apns_receiver.js", f->dir, NULL);
	ut_receiver_start(&rc[FCM], "fcm_receiver.js", f->dir, NULL);
	ut_receiver_start(&rc[WNS], "wns_receiver.js", f->dir, NULL);

	char *sa =
	    json_dumps(json_object_get(rc[FCM].info, "serviceAccount"), 0);
	const char *kv[] = {
	    "data_dir",
	    f->dir,
	    "push_ca_file",
	    ca,
	    "push_allow_private",
	    "true",
	    "webhook_secret",
	    secret,
	    "webpush_hosts",
	    "localhost",
	    "apns_key",
	    fx_file(f, "apns.p8",
	            json_string_value(json_object_get(rc[APNS].info, "p8"))),
	    "apns_key_id",
	    json_string_value(json_object_get(rc[APNS].info, "keyId")),
	    "apns_team_id",
	    json_string_value(json_object_get(rc[APNS].info, "team")),
	    "apns_topic",
	    json_string_value(json_object_get(rc[APNS].info, "topic")),
	    "apns_url",
	    rc[APNS].base,
	    "fcm_credentials",
	    fx_file(f, "sa.json", sa),
	    "fcm_url",
	    rc[FCM].base,
	    "wns_token_url",
	    json_string_value(json_object_get(rc[WNS].info, "tokenUrl")),
	    "wns_client_id",
	    json_string_value(json_object_get(rc[WNS].info, "clientId")),
	    "wns_client_secret",
	    fx_file(f, "wns.secret",
	            json_string_value(
	                json_object_get(rc[WNS].info, "clientSecret"))),
	    "wns_hosts",
	    "localhost",
	    NULL};
	free(sa);
	snprintf(ca, sizeof(ca), "%s/ca.pem", f->dir);
	uns_config_defaults(&c);
	assert_int_equal(uns_push_add_keys(&c), UNS_OK);
	for (int i = 0; kv[i] != NULL; i += 2) {
		if (uns_config_set(&c, kv[i], kv[i + 1], why, 512) != UNS_OK) {
			fail_msg("%s: %s", kv[i], why);
		}
	}
	if (uns_push_config_alloc(&pc, &c, why, 512) != UNS_OK) {
		fail_msg("push config: %s", why);
	}

	json_t *wps = json_object_get(rc[WEBPUSH].info, "subscription");
	Uns__V1__WebPushSubscription wp = UNS__V1__WEB_PUSH_SUBSCRIPTION__INIT;
	wp.endpoint =
	    (char *)json_string_value(json_object_get(wps, "endpoint"));
	wp.p256dh = (char *)json_string_value(
	    json_object_get(json_object_get(wps, "keys"), "p256dh"));
	wp.auth = (char *)json_string_value(
	    json_object_get(json_object_get(wps, "keys"), "auth"));
	snprintf(hook, sizeof(hook), "%s/hooks/alice", rc[HOOK].base);
	sub_real(f, "pc", PLAT(WINDOWS),
	         json_string_value(json_object_get(rc[WNS].info, "channel")),
	         NULL, unsids[WNS]);
	sub_real(
	    f, "phone", PLAT(IOS),
	    "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
	    NULL, unsids[APNS]);
	sub_real(f, "tablet", PLAT(ANDROID),
	         "dQw4w9WgXcQ:APA91bH-example_registration.token-1", NULL,
	         unsids[FCM]);
	sub_real(f, "browser", PLAT(WEB_PUSH), NULL, &wp, unsids[WEBPUSH]);
	sub_real(f, "hook", PLAT(WEBHOOK), hook, NULL, unsids[HOOK]);

	f->dc.transports = uns_push_transports;
	f->dc.push = pc;
	engine_start(f);
	n = post(f, "a");
	for (int i = 0; i < N; i++) {
		assert_true(wait_accepted(&rc[i], 1));
	}
	wait_settled(f);
	for (int i = 0; i < N; i++) {
		assert_int_equal(accepted(&rc[i]), 1);
		Uns__V1__Subscription *s = sub_get(f, unsids[i]);
		if (s->delivery == NULL || s->delivery->delivered != 1) {
			fail_msg("endpoint %d: %s", i,
			         s->delivery ? s->delivery->last_error
			                     : "none");
		}
		uns__v1__subscription__free_unpacked(s, NULL);
	}
	chg.by_unsid = unsids[WNS];
	assert_int_equal(
	    uns_store_update_state(f->st, "alice", HOST, n->id, &chg, &upd),
	    UNS_OK);
	assert_true(wait_accepted(&rc[APNS], 2));
	assert_true(wait_accepted(&rc[FCM], 2));
	assert_true(wait_accepted(&rc[HOOK], 2));
	wait_settled(f);
	assert_int_equal(accepted(&rc[WNS]), 1);
	assert_int_equal(accepted(&rc[WEBPUSH]), 1);
	engine_stop(f);
	for (int i = 0; i < N; i++) {
		ut_receiver_stop(&rc[i]);
	}
	uns_push_config_free(pc);
	free(pub);
	uns__v1__notification__free_unpacked(upd, NULL);
	uns__v1__notification__free_unpacked(n, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(t_fanout_and_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_retry_after, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_gone_marks_dead, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_down_then_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_crash_redelivers, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(t_coalescing, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_fallback, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_tap_stream, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_webhook_node, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_dns_rebinding, setup, teardown),
	    cmocka_unit_test_setup_teardown(t_five_real_transports, setup,
	                                    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
