/*
 * test_cluster.c — several unsd nodes on one PostgreSQL with NATS between
 * them, every part a real process started here (tests/support/utcluster.h).
 *
 * The harness itself: two nodes on one schema serve one user (a post
 * through A is read through B); a node killed with -9 and started again
 * comes back on its ports with the data; a graceful stop exits 0;
 * nats-server killed and restarted keeps its port.
 *
 * Wake-ups across nodes (issue 17, docs/cluster.md): a post through A
 * wakes a long poll on B and an event stream through B's gateway, p99
 * under 100 ms over 100 tries each, counted from the Post's answer (the
 * write is acknowledged once durable; a wake that beats the answer counts
 * 0; the time from sending the Post, commit included, is printed beside)
 * (WAKE_P99_MS; times 3 under ASan;
 * UNS_CLUSTER_P99_MS overrides it), the median far below what re-checks
 * alone would give (RECHECK_MS / 2). The machine is shared with other builds,
 * so a round of 100 whose p99 misses is measured again, up to ROUNDS times: a
 * broken wake misses every round (each try waits for the re-check). A read on A
 * reaches B's long poll; neither node hears its own hints back; with NATS
 * killed B still wakes, within the re-check interval; NATS back, the hints flow
 * again; a post through A reaches a subscriber of B's live tap stream.
 *
 * Skipped (exit 77) only when the PostgreSQL binaries or nats-server are
 * missing, saying which.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <jansson.h>

#include "testutil.h"
#include "utcluster.h"
#include "uthttp.h"
#include "utpg.h"

#define HOST "contoso.example.com"
#define APP  "contoso-svc"
#define APPS                                                                   \
	APP " " HOST ",graphnotifications.sample.windows.com,"                 \
	    "PleaseEnterValue -\n"

static ut_pg g_pg;
static ut_nats g_nats;
static char g_dir[256];

/* The number of notifications a delta from the start returns on node i. */
static size_t
count_on(const ut_cluster *c, int i, const char *user)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	ut_http_open(&h, c->node[i].http_base, NULL);
	assert_int_equal(ut_http_do(&h, "GET", "/beta/me/notifications/delta",
	                            user, NULL, 0, NULL, r),
	                 200);
	json_t *v = ut_http_json(r);
	size_t n = json_array_size(json_object_get(v, "value"));
	json_decref(v);
	free(r);
	ut_http_close(&h);
	return n;
}

static void
test_harness(void **state)
{
	ut_cluster c;
	char why[512];
	(void)state;
	assert_int_equal(ut_nats_start(&g_nats, g_dir, why, sizeof(why)), 0);
	ut_cluster_opts o = {
	    .nodes = 2, .gateway = true, .nats_url = g_nats.url, .apps = APPS};
	if (ut_cluster_open(&c, &g_pg, &o, why, sizeof(why)) != 0) {
		fail_msg("%s", why);
	}
	assert_int_not_equal(c.node[0].rpc_port, c.node[1].rpc_port);

	/* One token is good on both nodes; the data is shared. */
	char *user = ut_mint(ut_cluster_data(&c, 1), "user", "u-h", HOST);
	char *app = ut_mint(ut_cluster_data(&c, 0), "app", APP, NULL);
	ut_http a;
	ut_http_open(&a, c.node[0].http_base, NULL);
	char *unsid = ut_gw_subscribe(&a, user, "laptop");
	free(ut_gw_post(&a, app, unsid, HOST, "h-1", 201));
	assert_int_equal(count_on(&c, 1, user), 1);

	/* kill -9 and back, on the same ports, with the data. */
	int port = c.node[1].http_port;
	assert_int_equal(ut_cluster_stop(&c, 1, SIGKILL), -SIGKILL);
	assert_int_equal(ut_cluster_start(&c, 1, NULL), 0);
	assert_int_equal(c.node[1].http_port, port);
	free(ut_gw_post(&a, app, unsid, HOST, "h-2", 201));
	assert_int_equal(count_on(&c, 1, user), 2);
	assert_true(ut_cluster_log_has(&c, 1, "unsd: serving"));

	/* A graceful stop drains and exits 0. */
	ut_http_close(&a);
	assert_int_equal(ut_cluster_stop(&c, 0, SIGTERM), 0);

	/* NATS killed and restarted: the same port. */
	port = g_nats.port;
	ut_nats_kill(&g_nats);
	assert_int_equal(g_nats.pid, 0);
	assert_int_equal(ut_nats_restart(&g_nats), 0);
	assert_int_equal(g_nats.port, port);
	ut_nats_stop(&g_nats);

	free(unsid);
	free(app);
	free(user);
	ut_cluster_close(&c);
}

/* ==== wake-ups across nodes ============================================ */

#define RECHECK_MS  2000
#define WAKE_P99_MS 100
#define TRIES       100
#define ROUNDS      3
#if defined(__SANITIZE_ADDRESS__)
#define SLOW 3 /* ASan: every malloc and thread switch costs more */
#else
#define SLOW 1
#endif

static ut_cluster g_c; /* two nodes with gateways, NATS between them */
static char *g_user;

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Sorts the n samples and prints them as p50/p99/max; p99 back. */
static double
report(const char *what, double *ms, int n)
{
	qsort(ms, (size_t)n, sizeof(*ms), cmp_double);
	double p99 = ms[(99 * n + 99) / 100 - 1];
	printf("%s over %d: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", what, n,
	       ms[n / 2], p99, ms[n - 1]);
	return p99;
}

static double
p99_limit(void)
{
	const char *e = getenv("UNS_CLUSTER_P99_MS");
	return e != NULL ? atof(e) : WAKE_P99_MS * SLOW;
}

/* A series' value from node i's /metrics ("name" or "name{labels}"), or
 * -1 when absent. */
static double
metric(int i, const char *series)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	double v = -1;
	ut_http_open(&h, g_c.node[i].http_base, NULL);
	if (ut_http_try(&h, "GET", "/metrics", NULL, NULL, 0, NULL, r) == 200) {
		size_t n = strlen(series);
		for (const char *p = r->body; p != NULL && *p;) {
			if (strncmp(p, series, n) == 0 && p[n] == ' ') {
				v = atof(p + n + 1);
				break;
			}
			p = strchr(p, '\n');
			p = p ? p + 1 : NULL;
		}
	}
	ut_http_close(&h);
	free(r);
	return v;
}

/* Waits until node i's series is at least want (up to ms); its value. */
static double
metric_wait(int i, const char *series, double want, int ms)
{
	double v = metric(i, series);
	for (double until = ut_now_ms() + ms;
	     v < want && ut_now_ms() < until;) {
		usleep(50 * 1000);
		v = metric(i, series);
	}
	return v;
}

/* A long poll on node 1's gateway, on a thread of its own. */
typedef struct poller {
	char path[1024]; /* in: the delta link (with &wait=) */
	long status;
	size_t n;        /* changes in the answer */
	char next[1024]; /* its delta link, without the host */
	char first[256]; /* the first change's readState, or "" */
	double done_ms;
	pthread_t t;
} poller;

/* "/beta/…" of an absolute link into out. */
static void
link_path(const char *link, char *out, size_t cap)
{
	const char *p = link ? strstr(link, "/beta/") : NULL;
	snprintf(out, cap, "%s", p ? p : "");
}

static void *
poll_main(void *arg)
{
	poller *p = arg;
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	ut_http_open(&h, g_c.node[1].http_base, NULL);
	p->status = ut_http_try(&h, "GET", p->path, g_user, NULL, 0, NULL, r);
	p->done_ms = ut_now_ms();
	json_t *v = json_loadb(r->body, r->len, 0, NULL);
	json_t *value = json_object_get(v, "value");
	p->n = json_array_size(value);
	link_path(json_string_value(json_object_get(v, "@odata.deltaLink")),
	          p->next, sizeof(p->next));
	const char *rs = json_string_value(
	    json_object_get(json_array_get(value, 0), "readState"));
	snprintf(p->first, sizeof(p->first), "%s", rs ? rs : "");
	json_decref(v);
	ut_http_close(&h);
	free(r);
	return NULL;
}

/* Starts a long poll on node 1 from link (wait 30 s) and waits until it
 * is parked there (uns_long_polls_waiting), so what follows wakes it. */
static void
poll_start(poller *p, const char *link)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "%s&wait=30", link);
	double before = metric(1, "uns_long_polls_waiting");
	assert_int_equal(pthread_create(&p->t, NULL, poll_main, p), 0);
	assert_true(metric_wait(1, "uns_long_polls_waiting", before + 1,
	                        10000) >= before + 1);
}

/* The delta link of "now" on node 1. */
static void
latest(char *out, size_t cap)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	ut_http_open(&h, g_c.node[1].http_base, NULL);
	assert_int_equal(ut_http_do(&h, "GET",
	                            "/beta/me/notifications/delta?"
	                            "$deltatoken=latest",
	                            g_user, NULL, 0, NULL, r),
	                 200);
	json_t *v = ut_http_json(r);
	link_path(ut_json_str(v, "@odata.deltaLink"), out, cap);
	json_decref(v);
	ut_http_close(&h);
	free(r);
}

/* Posts (as the user, to itself) through h; the new id into id. */
static void
post(ut_http *h, const char *aid, char *id, size_t cap)
{
	char body[256];
	ut_http_resp *r = ut_http_resp_new();
	snprintf(body, sizeof(body),
	         "{\"targetHostName\":\"" HOST "\",\"appNotificationId\":"
	         "\"%s\",\"payload\":{\"visualContent\":{\"title\":\"%s\"}}}",
	         aid, aid);
	long st = ut_http_do(h, "POST", "/beta/me/notifications", g_user, body,
	                     0, NULL, r);
	if (st != 201) {
		fail_msg("post %s: %ld %s", aid, st, r->body);
	}
	if (id != NULL) {
		json_t *v = ut_http_json(r);
		snprintf(id, cap, "%s", ut_json_str(v, "id"));
		json_decref(v);
	}
	free(r);
}

/* One post through A waking a long poll on B: ms from the Post's answer
 * to the wake (0 if the wake came first), and from sending the Post into
 * *from_post (may be NULL); the link moves on. */
static double
wake_once(ut_http *a, char *link, size_t cap, const char *aid,
          double *from_post)
{
	poller p;
	poll_start(&p, link);
	double t0 = ut_now_ms();
	post(a, aid, NULL, 0);
	double acked = ut_now_ms();
	pthread_join(p.t, NULL);
	assert_int_equal(p.status, 200);
	assert_int_equal(p.n, 1);
	snprintf(link, cap, "%s", p.next);
	if (from_post != NULL) {
		*from_post = p.done_ms - t0;
	}
	return p.done_ms > acked ? p.done_ms - acked : 0;
}

static void
test_long_poll_wakes_across(void **state)
{
	ut_http a;
	char link[1024], aid[32];
	double ms[TRIES], from_post[TRIES];
	(void)state;
	ut_http_open(&a, g_c.node[0].http_base, NULL);
	latest(link, sizeof(link));
	double p99 = 1e9;
	for (int round = 0; round < ROUNDS && p99 >= p99_limit(); round++) {
		for (int i = 0; i < TRIES; i++) {
			snprintf(aid, sizeof(aid), "lp-%d-%d", round, i);
			ms[i] = wake_once(&a, link, sizeof(link), aid,
			                  &from_post[i]);
		}
		report("  (from sending the Post)", from_post, TRIES);
		p99 = report("long poll on B, post on A", ms, TRIES);
		assert_true(ms[TRIES / 2] < RECHECK_MS / 4); /* hints */
	}
	ut_http_close(&a);
	assert_true(p99 < p99_limit());
}

/* ---- an event stream through B's gateway ---- */

typedef struct stream {
	pthread_mutex_t mu;
	char buf[1 << 20];
	size_t len, scanned;
	int events;
	double at[8 * TRIES]; /* when each notification event came */
	int stop;
} stream;

static size_t
stream_write(char *p, size_t size, size_t n, void *arg)
{
	stream *s = arg;
	size_t len = size * n;
	double t = ut_now_ms();
	pthread_mutex_lock(&s->mu);
	if (s->len + len < sizeof(s->buf)) {
		memcpy(s->buf + s->len, p, len);
		s->len += len;
		s->buf[s->len] = '\0';
	}
	const char *q;
	while ((q = strstr(s->buf + s->scanned, "event: notification\n"))) {
		if (s->events < (int)(sizeof(s->at) / sizeof(s->at[0]))) {
			s->at[s->events] = t;
		}
		s->events++;
		s->scanned = (size_t)(q - s->buf) + 1;
	}
	pthread_mutex_unlock(&s->mu);
	return len;
}

static int
stream_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
                curl_off_t d)
{
	stream *s = arg;
	(void)a, (void)b, (void)c, (void)d;
	pthread_mutex_lock(&s->mu);
	int stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	return stop;
}

static void *
stream_main(void *arg)
{
	stream *s = arg;
	char url[1200], auth[1200];
	snprintf(url, sizeof(url), "%s/beta/me/notifications/delta",
	         g_c.node[1].http_base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", g_user);
	struct curl_slist *hdrs =
	    curl_slist_append(NULL, "Accept: text/event-stream");
	hdrs = curl_slist_append(hdrs, auth);
	CURL *e = curl_easy_init();
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, stream_progress);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 300L);
	(void)curl_easy_perform(e);
	curl_easy_cleanup(e);
	curl_slist_free_all(hdrs);
	return NULL;
}

static int
stream_events(stream *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->events;
	pthread_mutex_unlock(&s->mu);
	return n;
}

static void
test_event_stream_wakes_across(void **state)
{
	ut_http a;
	pthread_t t;
	char aid[32];
	double ms[TRIES], from_post[TRIES];
	(void)state;
	stream *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	pthread_mutex_init(&s->mu, NULL);
	/* The stream replays the feed so far: wait until that is in. */
	assert_int_equal(pthread_create(&t, NULL, stream_main, s), 0);
	assert_true(metric_wait(1, "uns_long_polls_waiting", 1, 10000) >= 1);
	int base = stream_events(s);
	ut_http_open(&a, g_c.node[0].http_base, NULL);
	double p99 = 1e9;
	for (int round = 0; round < ROUNDS && p99 >= p99_limit(); round++) {
		for (int i = 0; i < TRIES; i++, base++) {
			snprintf(aid, sizeof(aid), "sse-%d-%d", round, i);
			double t0 = ut_now_ms();
			post(&a, aid, NULL, 0);
			double acked = ut_now_ms(), until = t0 + 10000;
			while (stream_events(s) < base + 1 &&
			       ut_now_ms() < until) {
				usleep(500);
			}
			assert_int_equal(stream_events(s), base + 1);
			pthread_mutex_lock(&s->mu);
			from_post[i] = s->at[base] - t0;
			ms[i] = s->at[base] > acked ? s->at[base] - acked : 0;
			pthread_mutex_unlock(&s->mu);
			/* the stream's next wait parks before the next post */
			assert_true(metric_wait(1, "uns_long_polls_waiting", 1,
			                        10000) >= 1);
		}
		report("  (from sending the Post)", from_post, TRIES);
		p99 = report("event stream on B, post on A", ms, TRIES);
		assert_true(ms[TRIES / 2] < RECHECK_MS / 4); /* hints */
	}
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_mutex_unlock(&s->mu);
	pthread_join(t, NULL);
	ut_http_close(&a);
	pthread_mutex_destroy(&s->mu);
	free(s);
	assert_true(p99 < p99_limit());
}

/* A read (PATCH readState) through A reaches B's long poll, by hint. */
static void
test_read_reaches_other_node(void **state)
{
	ut_http a;
	ut_http_resp *r = ut_http_resp_new();
	char link[1024], id[128], path[256];
	poller p;
	(void)state;
	ut_http_open(&a, g_c.node[0].http_base, NULL);
	post(&a, "read-1", id, sizeof(id));
	latest(link, sizeof(link));
	poll_start(&p, link);
	double t0 = ut_now_ms();
	snprintf(path, sizeof(path), "/beta/me/notifications/%s", id);
	assert_int_equal(ut_http_do(&a, "PATCH", path, g_user,
	                            "{\"readState\":\"Read\"}", 0, NULL, r),
	                 200);
	pthread_join(p.t, NULL);
	double ms = p.done_ms - t0;
	printf("read on A seen on B in %.1f ms\n", ms);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.first, "read");
	assert_true(ms < RECHECK_MS / 2); /* a hint, not the re-check */
	ut_http_close(&a);
	free(r);
}

/* Each node hears the other's hints and never its own. */
static void
test_no_echo(void **state)
{
	ut_http b;
	(void)state;
	ut_http_open(&b, g_c.node[1].http_base, NULL);
	post(&b, "from-b", NULL, 0);
	ut_http_close(&b);
	assert_true(
	    metric_wait(1, "uns_cluster_hints_published_total", 1, 5000) == 1);
	double pub0 = metric(0, "uns_cluster_hints_published_total");
	double pub1 = metric(1, "uns_cluster_hints_published_total");
	assert_true(pub0 >= 2 * TRIES);
	/* hints in flight settle */
	double rec1 =
	    metric_wait(1, "uns_cluster_hints_received_total", pub0, 5000);
	double rec0 =
	    metric_wait(0, "uns_cluster_hints_received_total", pub1, 5000);
	printf("A published %.0f, received %.0f; B published %.0f, received "
	       "%.0f\n",
	       pub0, rec0, pub1, rec1);
	assert_true(rec1 == pub0);
	assert_true(rec0 == pub1);
	assert_true(metric(0, "uns_cluster_nats_connected") == 1);
}

/* NATS killed: B still wakes, by its re-check; NATS back: by hints. */
static void
test_nats_down_then_back(void **state)
{
	ut_http a;
	char link[1024], aid[32];
	double ms[9];
	(void)state;
	ut_http_open(&a, g_c.node[0].http_base, NULL);
	latest(link, sizeof(link));

	ut_nats_kill(&g_nats);
	assert_true(metric_wait(0, "uns_cluster_nats_connected", 1, 100) <= 1 &&
	            metric_wait(1, "uns_cluster_nats_connected", 1, 100) <= 1);
	double down = wake_once(&a, link, sizeof(link), "down-1", NULL);
	printf("NATS down: woke after %.0f ms (re-check every %d ms)\n", down,
	       RECHECK_MS);
	assert_true(down < RECHECK_MS + 3000 * SLOW);
	assert_true(ut_cluster_log_has(&g_c, 1, "nats: disconnected"));

	assert_int_equal(ut_nats_restart(&g_nats), 0);
	assert_true(metric_wait(0, "uns_cluster_nats_connected", 1, 30000) ==
	            1);
	assert_true(metric_wait(1, "uns_cluster_nats_connected", 1, 30000) ==
	            1);
	for (int i = 0; i < 9; i++) {
		snprintf(aid, sizeof(aid), "back-%d", i);
		ms[i] = wake_once(&a, link, sizeof(link), aid, NULL);
	}
	/* By re-check alone the median would be near RECHECK_MS / 2. */
	qsort(ms, 9, sizeof(ms[0]), cmp_double);
	printf("NATS back: median wake %.1f ms\n", ms[4]);
	assert_true(ms[4] < RECHECK_MS / 10 * SLOW);
	ut_http_close(&a);
}

/* B restarted with a live tap stream: a post through A reaches its
 * subscriber (host, user, cursor), by hint. */
static void
test_tap_stream_across(void **state)
{
	char url[300], set[320], aid[32];
	nng_socket sub;
	nng_msg *m = NULL;
	ut_http a;
	(void)state;
	snprintf(url, sizeof(url), "ipc://%s/taps-b.ipc", g_c.dir);
	snprintf(set, sizeof(set), "tap_stream_listen=%s", url);
	const char *sets[] = {set, NULL};
	assert_int_equal(ut_cluster_stop(&g_c, 1, SIGTERM), 0);
	assert_int_equal(ut_cluster_start(&g_c, 1, sets), 0);
	assert_true(metric_wait(1, "uns_cluster_nats_connected", 1, 30000) ==
	            1);
	assert_int_equal(nng_sub0_open(&sub), 0);
	assert_int_equal(nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, HOST,
	                                sizeof(HOST)), /* with its NUL */
	                 0);
	assert_int_equal(nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 300), 0);
	assert_int_equal(nng_dial(sub, url, NULL, 0), 0);
	ut_http_open(&a, g_c.node[0].http_base, NULL);
	/* pub/sub drops what is sent before the pipe is up: post until a
	 * message comes. */
	int rv = NNG_ETIMEDOUT;
	for (int i = 0; i < 50 && rv != 0; i++) {
		snprintf(aid, sizeof(aid), "tap-%d", i);
		post(&a, aid, NULL, 0);
		rv = nng_recvmsg(sub, &m, 0);
	}
	assert_int_equal(rv, 0);
	const char *body = nng_msg_body(m);
	assert_true(nng_msg_len(m) > sizeof(HOST) + strlen("u-wake") + 1);
	assert_string_equal(body, HOST);
	assert_string_equal(body + sizeof(HOST), "u-wake");
	nng_msg_free(m);
	nng_close(sub);
	ut_http_close(&a);
}

static int
wake_setup(void **state)
{
	char why[512], recheck[64];
	(void)state;
	if (ut_nats_start(&g_nats, g_dir, why, sizeof(why)) != 0) {
		fprintf(stderr, "%s\n", why);
		return -1;
	}
	snprintf(recheck, sizeof(recheck), "cluster_recheck=%dms", RECHECK_MS);
	const char *sets[] = {recheck, "rate_limit_user=0", NULL};
	ut_cluster_opts o = {.nodes = 2,
	                     .gateway = true,
	                     .nats_url = g_nats.url,
	                     .apps = APPS,
	                     .sets = sets};
	if (ut_cluster_open(&g_c, &g_pg, &o, why, sizeof(why)) != 0) {
		fprintf(stderr, "%s\n", why);
		return -1;
	}
	g_user = ut_mint(ut_cluster_data(&g_c, 0), "user", "u-wake", HOST);
	return 0;
}

static int
wake_teardown(void **state)
{
	(void)state;
	free(g_user);
	ut_cluster_close(&g_c);
	ut_nats_stop(&g_nats);
	return 0;
}

int
main(void)
{
	char why[512];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_harness),
	};
	const struct CMUnitTest wake[] = {
	    cmocka_unit_test(test_long_poll_wakes_across),
	    cmocka_unit_test(test_event_stream_wakes_across),
	    cmocka_unit_test(test_read_reaches_other_node),
	    cmocka_unit_test(test_no_echo),
	    cmocka_unit_test(test_nats_down_then_back),
	    cmocka_unit_test(test_tap_stream_across),
	};
	signal(SIGPIPE, SIG_IGN);
	if (!ut_nats_found(&g_nats, why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	if (!ut_pg_start(&g_pg, why, sizeof(why))) {
		int missing = strstr(why, "not found") != NULL;
		printf("%s: %s\n", missing ? "SKIP" : "FAIL", why);
		ut_pg_stop(&g_pg);
		return missing ? 77 : 1;
	}
	curl_global_init(CURL_GLOBAL_ALL);
	ut_mkdtemp(g_dir, sizeof(g_dir));
	int rc = cmocka_run_group_tests_name("cluster", tests, NULL, NULL);
	rc |= cmocka_run_group_tests_name("wake", wake, wake_setup,
	                                  wake_teardown);
	ut_rmdir(g_dir);
	ut_pg_stop(&g_pg);
	curl_global_cleanup();
	return rc;
}
