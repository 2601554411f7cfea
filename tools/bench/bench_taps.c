/*
 * bench_taps.c — `uns-bench taps`: the delivery engine's
 * throughput and latency, in one process, against a local receiver.
 *
 * Set-up per endpoint count E (1, 100, 10000 by default): a fresh store,
 * E users with one webhook subscription each, the real webhook transport
 * (HMAC-signed), the engine, and a receiver: by default an in-process
 * libmicrohttpd sink (HTTP/1.1) answering 204; with --receiver URL an
 * external one (latency is then not measured; --ca for an https://
 * one, which also gives HTTP/2 over ALPN when the receiver offers it).
 * Poster threads post for
 * --seconds to their own users, round robin, each post acknowledged after its
 * synced write.
 *
 * Figures: posts/s, taps/s delivered (coalescing makes taps < posts when
 * an endpoint is busy), and as a baseline measured in the same run, bare
 * libcurl multi POSTs of the same bodies to the same receiver with the
 * same concurrency (the engine's ceiling: no store, no claim, no settle);
 * the ratio is taps/s over bare requests/s. Latency is Post acknowledged →
 * tap received by the sink for the newest change each tap announces (the
 * in-process sink decodes the cursor; a tap may overtake the Post reply,
 * which counts as 0). Fan-out: one post to a user with 100 endpoints, time
 * until all 100 taps arrived, against 100 bare concurrent POSTs.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include "config.h"
#include "delivery.h"
#include "store.h"
#include "store_util.h"
#include "bench.h"

#define HOST       "bench.example.com"
#define POSTERS    4
#define MAX_POSTS  400000 /* per run, bounds the latency tables */
#define FANOUT     100
#define MAX_ENDPTS 100000

typedef struct taps_opts {
	int seconds;
	int rounds;
	const char *endpoints;
	const char *receiver;
	const char *ca;
	int help;
} taps_opts;

static const uns_opt taps_options[] = {
    {"--seconds", UNS_OPT_INT, offsetof(taps_opts, seconds), "N",
     "posting time per endpoint count (default 3)"},
    {"--rounds", UNS_OPT_INT, offsetof(taps_opts, rounds), "N",
     "fan-out rounds (default 20)"},
    {"--endpoints", UNS_OPT_STR, offsetof(taps_opts, endpoints), "LIST",
     "endpoint counts (default 1,100,10000)"},
    {"--receiver", UNS_OPT_STR, offsetof(taps_opts, receiver), "URL",
     "external receiver base URL (default: in-process HTTP/1.1 sink)"},
    {"--ca", UNS_OPT_STR, offsetof(taps_opts, ca), "FILE",
     "CA that signed an https:// receiver's certificate"},
    {"--help", UNS_OPT_FLAG, offsetof(taps_opts, help), NULL, "this text"},
};
#define N_TAPS_OPTS (sizeof(taps_options) / sizeof(taps_options[0]))

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- per-endpoint latency tables ---------------------------------------- */

/* Endpoint e is user e; the feed seq of its k-th post is k + 1, since
 * only one poster posts to it and each post makes one feed change. */
typedef struct endpoint {
	char unsid[32];
	int64_t *ack_us; /* by seq: when the Post returned */
	int64_t *rx_us;  /* by seq: when a tap announcing it arrived */
	size_t cap;
	size_t posts;
} endpoint;

typedef struct bench {
	const taps_opts *o;
	char dir[128];
	uns_store *st;
	uns_delivery *d;
	uns_push_config *push;
	struct MHD_Daemon *sink;
	int port;
	char base[256];
	endpoint *ep;
	size_t n;
	atomic_uint_fast64_t received;
	atomic_int stop;
	char **by_unsid; /* sorted unsids, for the sink's lookup */
	size_t *by_unsid_ep;
} bench;

static int
unsid_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
index_unsids(bench *b)
{
	char **v = calloc(b->n, sizeof(*v));
	size_t *ix = calloc(b->n, sizeof(*ix));

	for (size_t i = 0; i < b->n; i++) {
		v[i] = b->ep[i].unsid;
	}
	qsort(v, b->n, sizeof(*v), unsid_cmp);
	for (size_t i = 0; i < b->n; i++) {
		ix[i] = (size_t)(((endpoint *)((char *)v[i] -
		                               offsetof(endpoint, unsid))) -
		                 b->ep);
	}
	b->by_unsid = v;
	b->by_unsid_ep = ix;
}

/* Records a webhook body {"unsid":"…","cursor":"…"} arriving now. */
static void
note_tap(bench *b, const char *body, size_t len)
{
	char unsid[32], cursor[32], *key = unsid, **hit;
	uint64_t seq;
	const char *u = strstr(body, "\"unsid\":\""),
	           *c = strstr(body, "\"cursor\":\"");

	atomic_fetch_add(&b->received, 1);
	if (u == NULL || c == NULL || b->by_unsid == NULL ||
	    sscanf(u + 9, "%31[^\"]", unsid) != 1 ||
	    sscanf(c + 10, "%31[^\"]", cursor) != 1 ||
	    uns_store_cursor_decode(cursor, &seq) != UNS_OK) {
		return;
	}
	hit = bsearch(&key, b->by_unsid, b->n, sizeof(*hit), unsid_cmp);
	if (hit != NULL) {
		endpoint *e = &b->ep[b->by_unsid_ep[hit - b->by_unsid]];
		if (seq >= 1 && seq <= e->cap) {
			e->rx_us[seq - 1] = bench_now_us();
		}
	}
	(void)len;
}

/* ---- the in-process sink ------------------------------------------------ */

struct sink_req {
	char body[512];
	size_t len;
};

static enum MHD_Result
sink_handle(void *cls, struct MHD_Connection *c, const char *url,
            const char *method, const char *version, const char *data,
            size_t *size, void **state)
{
	static char empty[] = "";
	struct sink_req *r = *state;
	struct MHD_Response *resp;
	enum MHD_Result rv;

	if (r == NULL) {
		*state = r = calloc(1, sizeof(*r));
		return r != NULL ? MHD_YES : MHD_NO;
	}
	if (*size > 0) {
		size_t take = *size;
		if (take > sizeof(r->body) - 1 - r->len) {
			take = sizeof(r->body) - 1 - r->len;
		}
		memcpy(r->body + r->len, data, take);
		r->len += take;
		*size = 0;
		return MHD_YES;
	}
	note_tap(cls, r->body, r->len);
	resp =
	    MHD_create_response_from_buffer(0, empty, MHD_RESPMEM_PERSISTENT);
	rv = MHD_queue_response(c, 204, resp);
	MHD_destroy_response(resp);
	return rv;
}

static void
sink_done(void *cls, struct MHD_Connection *c, void **state,
          enum MHD_RequestTerminationCode why)
{
	free(*state);
	*state = NULL;
}

static int
sink_start(bench *b)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	b->sink = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
	    sink_handle, b, MHD_OPTION_SOCK_ADDR, &sa,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)2,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
	    MHD_OPTION_NOTIFY_COMPLETED, sink_done, b, MHD_OPTION_END);
	if (b->sink == NULL) {
		fprintf(stderr, "uns-bench taps: cannot start the sink\n");
		return -1;
	}
	b->port = MHD_get_daemon_info(b->sink, MHD_DAEMON_INFO_BIND_PORT)->port;
	snprintf(b->base, sizeof(b->base), "http://127.0.0.1:%d", b->port);
	return 0;
}

/* ---- store, subscriptions, engine --------------------------------------- */

static int
push_open(bench *b)
{
	static uns_config c;
	char why[512];

	uns_config_defaults(&c);
	(void)uns_push_add_keys(&c);
	if (uns_config_set(&c, "data_dir", b->dir, why, sizeof(why)) !=
	        UNS_OK ||
	    uns_config_set(&c, "push_allow_private", "true", why,
	                   sizeof(why)) != UNS_OK ||
	    (b->o->ca != NULL && uns_config_set(&c, "push_ca_file", b->o->ca,
	                                        why, sizeof(why)) != UNS_OK) ||
	    uns_push_config_alloc(&b->push, &c, why, sizeof(why)) != UNS_OK) {
		fprintf(stderr, "uns-bench taps: push: %s\n", why);
		return -1;
	}
	return 0;
}

typedef struct subscriber {
	bench *b;
	size_t first, step, users;
	int failed;
} subscriber;

/* Subscribes endpoints first, first + step, …: endpoint i is device di of
 * user ui (or of u0 when there is one user). */
static void *
subscriber_main(void *arg)
{
	subscriber *s = arg;
	bench *b = s->b;
	char user[32], device[32], url[512];

	for (size_t i = s->first; i < b->n && !s->failed; i += s->step) {
		Uns__V1__Subscription in = UNS__V1__SUBSCRIPTION__INIT, *out;
		bool created;
		snprintf(user, sizeof(user), "u%zu", s->users == 1 ? 0 : i);
		snprintf(device, sizeof(device), "d%zu", i);
		snprintf(url, sizeof(url), "%s/e%zu",
		         b->o->receiver ? b->o->receiver : b->base, i);
		in.device_id = device;
		in.platform = UNS__V1__PLATFORM__PLATFORM_WEBHOOK;
		in.push_channel = url;
		if (uns_store_sub_put(b->st, user, HOST, &in, &out, &created) !=
		    UNS_OK) {
			s->failed = 1;
			break;
		}
		snprintf(b->ep[i].unsid, sizeof(b->ep[i].unsid), "%s",
		         out->unsid);
		uns__v1__subscription__free_unpacked(out, NULL);
	}
	return NULL;
}

/* E users with one webhook endpoint each, or (users == 1) one user with E
 * endpoints; posts per endpoint at most cap. Subscribes from 16 threads
 * (each subscription is a synced write; group commit shares the syncs). */
static int
setup_endpoints(bench *b, size_t e, size_t users, size_t cap)
{
	char path[256];
	uns_store_config sc = {
	    .dir = path, .reclaim_interval_ms = -1, .max_live = 10000000};
	subscriber ss[16];
	pthread_t th[16];
	int failed = 0;

	snprintf(path, sizeof(path), "%s/store", b->dir);
	if (uns_store_open(&b->st, &sc) != UNS_OK) {
		fprintf(stderr, "uns-bench taps: store: %s\n",
		        uns_store_errmsg());
		return -1;
	}
	b->ep = calloc(e, sizeof(*b->ep));
	b->n = e;
	for (size_t i = 0; i < e; i++) {
		b->ep[i].cap = cap;
		b->ep[i].ack_us = calloc(cap, sizeof(int64_t));
		b->ep[i].rx_us = calloc(cap, sizeof(int64_t));
	}
	for (size_t t = 0; t < 16; t++) {
		ss[t] = (subscriber){b, t, 16, users, 0};
		pthread_create(&th[t], NULL, subscriber_main, &ss[t]);
	}
	for (size_t t = 0; t < 16; t++) {
		pthread_join(th[t], NULL);
		failed |= ss[t].failed;
	}
	if (failed) {
		fprintf(stderr, "uns-bench taps: subscribe failed\n");
		return -1;
	}
	index_unsids(b);
	return 0;
}

static int
engine_open(bench *b)
{
	uns_delivery_config dc = {
	    .store = b->st, .transports = uns_push_transports, .push = b->push};

	if (uns_delivery_open(&b->d, &dc) != UNS_OK) {
		fprintf(stderr, "uns-bench taps: engine did not start\n");
		return -1;
	}
	return 0;
}

static void
teardown(bench *b)
{
	uns_delivery_close(b->d);
	uns_store_close(b->st);
	for (size_t i = 0; i < b->n; i++) {
		free(b->ep[i].ack_us);
		free(b->ep[i].rx_us);
	}
	free(b->ep);
	free(b->by_unsid);
	free(b->by_unsid_ep);
	b->d = NULL;
	b->st = NULL;
	b->ep = NULL;
	b->by_unsid = NULL;
	b->by_unsid_ep = NULL;
	b->n = 0;
	bench_rm_tree(b->dir);
	mkdir(b->dir, 0700);
}

/* ---- posting ----------------------------------------------------------- */

typedef struct poster {
	bench *b;
	size_t first, step; /* endpoints first, first + step, … */
	uint64_t posts;
	bool once; /* one post per endpoint, then stop */
} poster;

static int
post_one(bench *b, size_t user, uint64_t n)
{
	Uns__V1__Notification in = UNS__V1__NOTIFICATION__INIT, *out = NULL;
	char u[32], app[48];
	bool created;

	snprintf(u, sizeof(u), "u%zu", user);
	snprintf(app, sizeof(app), "a%zu-%llu", user, (unsigned long long)n);
	in.app_notification_id = app;
	in.group_name = "";
	if (uns_store_post(b->st, u, HOST, &in, &out, &created) != UNS_OK) {
		return -1;
	}
	uns__v1__notification__free_unpacked(out, NULL);
	return 0;
}

static void *
poster_main(void *arg)
{
	poster *p = arg;
	bench *b = p->b;

	while (!atomic_load(&b->stop)) {
		bool any = false;
		for (size_t i = p->first; i < b->n && !atomic_load(&b->stop);
		     i += p->step) {
			endpoint *e = &b->ep[i];
			if (e->posts == e->cap) {
				continue;
			}
			any = true;
			if (post_one(b, i, e->posts) != 0) {
				return NULL;
			}
			e->ack_us[e->posts++] = bench_now_us();
			p->posts++;
		}
		if (!any || p->once) {
			break;
		}
	}
	return NULL;
}

/* ---- latency ------------------------------------------------------------ */

static int
i64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Post ack → the endpoint told about it: for each post s, the first tap
 * announcing s or later (a tap covers every change before its cursor). */
static void
latency(const bench *b, double *p50, double *p99, size_t *n)
{
	size_t k = 0, cap = 0;
	int64_t *v = NULL;

	for (size_t i = 0; i < b->n; i++) {
		const endpoint *e = &b->ep[i];
		int64_t first = 0; /* earliest rx among seqs >= s */
		for (size_t s = e->posts; s-- > 0;) {
			if (e->rx_us[s] != 0 &&
			    (first == 0 || e->rx_us[s] < first)) {
				first = e->rx_us[s];
			}
			if (first == 0) {
				continue;
			}
			if (k == cap) {
				cap = cap ? 2 * cap : 1024;
				v = realloc(v, cap * sizeof(*v));
			}
			int64_t d = first - e->ack_us[s];
			v[k++] = d > 0 ? d : 0;
		}
	}
	qsort(v, k, sizeof(*v), i64_cmp);
	*p50 = k ? (double)v[k / 2] / 1000.0 : 0;
	*p99 = k ? (double)v[(k * 99) / 100] / 1000.0 : 0;
	*n = k;
	free(v);
}

/* ---- the bare-curl baseline -------------------------------------------- */

/* POSTs bodies like the webhook's to the receiver, conc at once, for
 * seconds; returns requests/s. */
static double
bare_rate(const bench *b, size_t conc, int seconds)
{
	static const char body[] =
	    "{\"unsid\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"cursor\":\"AAAAAAAAAAE\"}";
	CURLM *m = curl_multi_init();
	struct curl_slist *h = curl_slist_append(
	    curl_slist_append(NULL, "Content-Type: application/json"),
	    "Expect:");
	char url[512];
	uint64_t done = 0, ok = 0; /* ok: 2xx answers, what the rate counts */
	int running = 0, left;
	int64_t end = mono_ms() + seconds * 1000LL, t0 = mono_ms();
	size_t added = 0; /* seconds == 0: one wave of conc requests */

	curl_multi_setopt(m, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
	for (;;) {
		while (running < (int)conc &&
		       (seconds == 0 ? added < conc : mono_ms() < end)) {
			added++;
			CURL *e = curl_easy_init();
			snprintf(url, sizeof(url), "%s/e%zu",
			         b->o->receiver ? b->o->receiver : b->base,
			         done % (b->n ? b->n : 1));
			curl_easy_setopt(e, CURLOPT_URL, url);
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
			curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
			if (b->o->ca != NULL) {
				curl_easy_setopt(e, CURLOPT_CAINFO, b->o->ca);
			}
			curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
			                 (long)CURL_HTTP_VERSION_2TLS);
			curl_multi_add_handle(m, e);
			running++;
		}
		int still = 0;
		curl_multi_perform(m, &still);
		CURLMsg *msg;
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg == CURLMSG_DONE) {
				CURL *e = msg->easy_handle;
				long status = 0;
				curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE,
				                  &status);
				ok += msg->data.result == CURLE_OK &&
				      status >= 200 && status < 300;
				curl_multi_remove_handle(m, e);
				curl_easy_cleanup(e);
				running--;
				done++;
			}
		}
		bool more = seconds == 0 ? added < conc : mono_ms() < end;
		if (running == 0 && !more) {
			break;
		}
		if (running >= (int)conc || !more) {
			curl_multi_poll(m, NULL, 0, 100, NULL);
		}
	}
	double secs = (double)(mono_ms() - t0) / 1000.0;
	curl_slist_free_all(h);
	curl_multi_cleanup(m);
	return (double)ok / secs;
}

/* ---- the runs ----------------------------------------------------------- */

/* Taps the current engine delivered (2xx, settled); the count works with
 * an external receiver too. */
static uint64_t
delivered(bench *b)
{
	uns_delivery_stats s;

	uns_delivery_stats_get(b->d, &s);
	return s.delivered;
}

static void
wait_drained(bench *b, int64_t max_ms)
{
	int64_t end = mono_ms() + max_ms;
	uns_delivery_stats s;
	size_t n = 1;

	while (mono_ms() < end) {
		uns_store_outbox_count(b->st, &n);
		uns_delivery_stats_get(b->d, &s);
		if (n == 0 && s.inflight == 0) {
			return;
		}
		usleep(20 * 1000);
	}
}

static void
post_all(bench *b, bool once, int seconds, uint64_t *posts)
{
	poster ps[POSTERS];
	pthread_t th[POSTERS];

	atomic_store(&b->stop, 0);
	for (int i = 0; i < POSTERS; i++) {
		ps[i] = (poster){b, (size_t)i, POSTERS, 0, once};
		pthread_create(&th[i], NULL, poster_main, &ps[i]);
	}
	if (!once) {
		usleep((useconds_t)seconds * 1000000);
		atomic_store(&b->stop, 1);
	}
	*posts = 0;
	for (int i = 0; i < POSTERS; i++) {
		pthread_join(th[i], NULL);
		*posts += ps[i].posts;
	}
}

/* With the engine stopped, one post per endpoint leaves E pending taps;
 * then the time for a fresh engine to deliver them all. */
static double
drain_rate(bench *b)
{
	uint64_t posts, want;
	int64_t t0;

	uns_delivery_close(b->d);
	b->d = NULL;
	post_all(b, true, 0, &posts);
	want = b->n; /* the fresh engine's delivered count */
	t0 = bench_now_us();
	if (engine_open(b) != 0) {
		return 0;
	}
	while (delivered(b) < want && bench_now_us() - t0 < 120000000) {
		usleep(200);
	}
	return (double)b->n / ((double)(bench_now_us() - t0) / 1e6);
}

static int
run_endpoints(bench *b, size_t e)
{
	uns_delivery_stats s0, s1;
	size_t cap = MAX_POSTS / e + 2, nlat;
	uint64_t posts = 0, rx0, rx1;
	double p50, p99, bare, drain;
	int64_t t0, t1;

	if (setup_endpoints(b, e, e, cap) != 0) {
		return -1;
	}
	bare = bare_rate(b, e < 1024 ? e : 1024, b->o->seconds);
	atomic_store(&b->received, 0);
	if (engine_open(b) != 0) {
		return -1;
	}
	uns_delivery_stats_get(b->d, &s0);
	rx0 = delivered(b);
	t0 = mono_ms();
	post_all(b, false, b->o->seconds, &posts);
	t1 = mono_ms();
	uns_delivery_stats_get(b->d, &s1);
	rx1 = delivered(b);
	wait_drained(b, 60000);
	latency(b, &p50, &p99, &nlat);
	drain = drain_rate(b);
	double secs = (double)(t1 - t0) / 1000.0;
	double taps = (double)(rx1 - rx0) / secs;
	char lat[96] = "post->tap n/a (external receiver)";
	if (b->o->receiver == NULL) {
		snprintf(lat, sizeof(lat),
		         "post->tap p50 %.1f ms p99 %.1f ms (%zu posts)", p50,
		         p99, nlat);
	}
	printf("%6zu endpoints: live %6.0f posts/s -> %6.0f taps/s, %s, %llu "
	       "retried; backlog of %zu taps: %6.0f taps/s; bare curl %6.0f "
	       "req/s; backlog/bare %.2f\n",
	       e, (double)posts / secs, taps, lat,
	       (unsigned long long)(s1.retried - s0.retried), e, drain, bare,
	       drain / bare);
	fflush(stdout);
	teardown(b);
	return 0;
}

static int
run_fanout(bench *b)
{
	int64_t *round_us = calloc((size_t)b->o->rounds, sizeof(int64_t));
	double bare_ms = 0;

	if (setup_endpoints(b, FANOUT, 1, 1) != 0 || engine_open(b) != 0) {
		free(round_us);
		return -1;
	}
	for (int r = 0; r < b->o->rounds; r++) {
		uint64_t want = delivered(b) + FANOUT;
		int64_t t0 = bench_now_us();
		if (post_one(b, 0, (uint64_t)r) != 0) {
			break;
		}
		while (delivered(b) < want && bench_now_us() - t0 < 30000000) {
			usleep(100);
		}
		round_us[r] = bench_now_us() - t0;
	}
	for (int r = 0; r < 5; r++) {
		int64_t t0 = bench_now_us();
		bare_rate(b, FANOUT, 0); /* 0 s: one wave of FANOUT */
		bare_ms += (double)(bench_now_us() - t0) / 1000.0 / 5;
	}
	qsort(round_us, (size_t)b->o->rounds, sizeof(int64_t), i64_cmp);
	printf("fan-out: one post to a user with %d endpoints: all taps in "
	       "%.1f ms (median of %d, worst %.1f ms); %d bare concurrent "
	       "POSTs: %.1f ms\n",
	       FANOUT, (double)round_us[b->o->rounds / 2] / 1000.0,
	       b->o->rounds, (double)round_us[b->o->rounds - 1] / 1000.0,
	       FANOUT, bare_ms);
	free(round_us);
	teardown(b);
	return 0;
}

int
bench_taps_main(int argc, char **argv)
{
	taps_opts o = {.seconds = 3, .rounds = 20};
	bench b = {.o = &o};
	char why[256], list[256], *save = NULL;
	int n = uns_opts_parse(taps_options, N_TAPS_OPTS, &o, argc, argv, why,
	                       sizeof(why));

	if (n != 1 || o.help || o.seconds < 1 || o.rounds < 1) {
		if (n < 0) {
			fprintf(stderr, "uns-bench: %s\n", why);
		}
		fprintf(o.help ? stdout : stderr,
		        "usage: uns-bench taps [options]\n");
		uns_opts_usage(o.help ? stdout : stderr, taps_options,
		               N_TAPS_OPTS);
		return o.help ? 0 : 2;
	}
	snprintf(b.dir, sizeof(b.dir), "/tmp/uns-bench-taps-XXXXXX");
	if (mkdtemp(b.dir) == NULL || push_open(&b) != 0 ||
	    (o.receiver == NULL && sink_start(&b) != 0)) {
		return 1;
	}
	printf("bench taps: webhook transport, receiver %s, %d posters, "
	       "%d s per count\n",
	       o.receiver ? o.receiver : "in-process HTTP/1.1 sink", POSTERS,
	       o.seconds);
	snprintf(list, sizeof(list), "%s",
	         o.endpoints ? o.endpoints : "1,100,10000");
	int rc = 0;
	for (char *t = strtok_r(list, ",", &save); t != NULL && rc == 0;
	     t = strtok_r(NULL, ",", &save)) {
		long e = strtol(t, NULL, 10);
		rc = e >= 1 && e <= MAX_ENDPTS ? run_endpoints(&b, (size_t)e)
		                               : 2;
	}
	if (rc == 0) {
		rc = run_fanout(&b);
	}
	if (b.sink != NULL) {
		MHD_stop_daemon(b.sink);
	}
	uns_push_config_free(b.push);
	bench_rm_tree(b.dir);
	return rc;
}
