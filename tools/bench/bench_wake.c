/*
 * bench_wake.c — `uns-bench wake`: how long a Post through one unsd takes
 * to wake a long poll on another (or the same) unsd, and what it costs
 * each process in CPU. The nodes, PostgreSQL and nats-server are started
 * by tools/bench_cluster.sh, which runs this three times: across two
 * nodes, within one node of the cluster, and on a node without NATS (the
 * baseline); this only drives them over RPC.
 *
 * One try: a Fetch of the user's feed with wait_ms on --wait (async), a
 * short pause so it parks, then a Post on --post, timed from just before
 * the Post to the Fetch's answer. Tries run one after another (latency,
 * not throughput: the machine has two cores). CPU per try of every pid in
 * --pids is read from /proc before and after (10 ms ticks: hence hundreds
 * of tries).
 *
 * Tokens come from the environment (UNS_BENCH_USER_TOKEN,
 * UNS_BENCH_APP_TOKEN: the script mints them with unsctl), so the nodes
 * need no secret of ours.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "uns/client.h"
#include "uns_stubs.h"

#define MAX_PIDS 8

typedef struct wake_opts {
	const char *post_url, *wait_url, *pids, *label;
	int tries;
	int help;
} wake_opts;

static const uns_opt wake_options[] = {
    {"--post", UNS_OPT_STR, offsetof(wake_opts, post_url), "URL",
     "the node Posts go to (tcp://…)"},
    {"--wait", UNS_OPT_STR, offsetof(wake_opts, wait_url), "URL",
     "the node the long poll waits on (default: --post)"},
    {"--tries", UNS_OPT_INT, offsetof(wake_opts, tries), "N",
     "Posts, one at a time (default 300)"},
    {"--pids", UNS_OPT_STR, offsetof(wake_opts, pids), "NAME=PID,…",
     "processes whose CPU per try is reported"},
    {"--label", UNS_OPT_STR, offsetof(wake_opts, label), "TEXT",
     "what this run is, for the output"},
    {"--help", UNS_OPT_FLAG, offsetof(wake_opts, help), NULL, "this text"},
};
#define N_WAKE_OPTS (sizeof(wake_options) / sizeof(wake_options[0]))

typedef struct fetch_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	uns_err err;
	int64_t at_us;
	size_t n;
	char cursor[128];
} fetch_wait;

static void
fetch_done(uns_err err, const char *message, Uns__V1__FetchResponse *resp,
           void *arg)
{
	fetch_wait *w = arg;
	(void)message;
	int64_t now = bench_now_us();
	pthread_mutex_lock(&w->mu);
	w->err = err;
	w->at_us = now;
	if (resp != NULL) {
		w->n = resp->n_changes;
		snprintf(w->cursor, sizeof(w->cursor), "%s", resp->next_cursor);
		uns__v1__fetch_response__free_unpacked(resp, NULL);
	}
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static char *
subscribe(uns_client *c, const char *token)
{
	Uns__V1__SubscribeRequest req = UNS__V1__SUBSCRIBE_REQUEST__INIT;
	Uns__V1__SubscribeResponse *resp = NULL;
	req.device_id = "bench-wake";
	req.platform = UNS__V1__PLATFORM__PLATFORM_POLLING;
	uns_call_opts o = {.token = token, .timeout_ms = 10000};
	if (uns_notifications_subscribe(c, &req, &resp, &o) != UNS_OK) {
		return NULL;
	}
	char *unsid = strdup(resp->subscription->unsid);
	uns__v1__subscribe_response__free_unpacked(resp, NULL);
	return unsid;
}

typedef struct proc {
	char name[32];
	pid_t pid;
	double before, after;
} proc;

static int
parse_pids(const char *s, proc *p, int max)
{
	int n = 0;
	while (s != NULL && *s && n < max) {
		const char *eq = strchr(s, '='), *comma = strchr(s, ',');
		if (eq == NULL) {
			return -1;
		}
		snprintf(p[n].name, sizeof(p[n].name), "%.*s", (int)(eq - s),
		         s);
		p[n].pid = (pid_t)atoi(eq + 1);
		n++;
		s = comma ? comma + 1 : NULL;
	}
	return n;
}

static int
cmp_us(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int
run(const wake_opts *o, const char *user, const char *app)
{
	uns_client *cp = NULL, *cw = NULL;
	proc procs[MAX_PIDS];
	int n_procs = parse_pids(o->pids, procs, MAX_PIDS);
	int64_t *lat = calloc((size_t)o->tries, sizeof(*lat));
	fetch_wait w;
	int rc = 1;
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	if (lat == NULL || n_procs < 0 ||
	    uns_client_open(&cp, o->post_url, NULL) != UNS_OK ||
	    uns_client_open(&cw, o->wait_url, NULL) != UNS_OK) {
		fprintf(stderr, "uns-bench wake: cannot connect: %s\n",
		        uns_last_message());
		goto out;
	}
	char *unsid = subscribe(cw, user);
	if (unsid == NULL) {
		fprintf(stderr, "uns-bench wake: subscribe: %s\n",
		        uns_last_message());
		goto out;
	}
	char cursor[128] = "latest";
	for (int i = 0; i < n_procs; i++) {
		procs[i].before = bench_proc_cpu_us(procs[i].pid);
	}
	int64_t t_start = bench_now_us();
	for (int i = 0; i < o->tries; i++) {
		Uns__V1__FetchRequest req = UNS__V1__FETCH_REQUEST__INIT;
		req.cursor = cursor;
		req.wait_ms = 10000;
		req.limit = 16;
		uns_call_opts co = {.token = user, .timeout_ms = 20000};
		w.done = 0;
		w.n = 0;
		if (uns_notifications_fetch_async(cw, &req, &co, fetch_done,
		                                  &w) != UNS_OK) {
			fprintf(stderr, "uns-bench wake: fetch: %s\n",
			        uns_last_message());
			goto out;
		}
		usleep(3000); /* let it park */
		int64_t t0 = bench_now_us();
		if (bench_post_call(cp, app, unsid, NULL, NULL, NULL) !=
		    UNS_OK) {
			fprintf(stderr, "uns-bench wake: post: %s\n",
			        uns_last_message());
			goto out;
		}
		pthread_mutex_lock(&w.mu);
		while (!w.done) {
			pthread_cond_wait(&w.cv, &w.mu);
		}
		pthread_mutex_unlock(&w.mu);
		if (w.err != UNS_OK || w.n == 0) {
			fprintf(stderr, "uns-bench wake: the poll was not "
			                "woken by the Post\n");
			goto out;
		}
		lat[i] = w.at_us - t0;
		snprintf(cursor, sizeof(cursor), "%s", w.cursor);
	}
	double wall_s = (double)(bench_now_us() - t_start) / 1e6;
	for (int i = 0; i < n_procs; i++) {
		procs[i].after = bench_proc_cpu_us(procs[i].pid);
	}
	qsort(lat, (size_t)o->tries, sizeof(*lat), cmp_us);
	printf("%s: %d tries in %.1f s: wake latency p50 %.2f ms, p99 %.2f "
	       "ms, max %.2f ms\n",
	       o->label ? o->label : "wake", o->tries, wall_s,
	       lat[o->tries / 2] / 1e3,
	       lat[(99 * o->tries + 99) / 100 - 1] / 1e3,
	       lat[o->tries - 1] / 1e3);
	printf("  CPU per try (a Post and the wake it causes):");
	for (int i = 0; i < n_procs; i++) {
		printf(" %s %.0f us%s", procs[i].name,
		       (procs[i].after - procs[i].before) / o->tries,
		       i + 1 < n_procs ? "," : "\n");
	}
	rc = 0;
	free(unsid);
out:
	uns_client_close(cp);
	uns_client_close(cw);
	free(lat);
	return rc;
}

int
bench_wake_main(int argc, char **argv)
{
	wake_opts o = {.tries = 300};
	char why[256];
	const char *user = getenv("UNS_BENCH_USER_TOKEN");
	const char *app = getenv("UNS_BENCH_APP_TOKEN");
	int n = uns_opts_parse(wake_options, N_WAKE_OPTS, &o, argc, argv, why,
	                       sizeof(why));
	if (n != 1 || o.help || o.post_url == NULL || o.tries < 1 ||
	    user == NULL || app == NULL) {
		FILE *f = o.help ? stdout : stderr;
		if (n < 0) {
			fprintf(stderr, "uns-bench wake: %s\n", why);
		}
		fprintf(f, "usage: uns-bench wake --post URL [--wait URL] "
		           "[options]\n(tokens in UNS_BENCH_USER_TOKEN and "
		           "UNS_BENCH_APP_TOKEN; tools/bench_cluster.sh runs "
		           "it)\n");
		uns_opts_usage(f, wake_options, N_WAKE_OPTS);
		return o.help ? 0 : 2;
	}
	if (o.wait_url == NULL) {
		o.wait_url = o.post_url;
	}
	return run(&o, user, app);
}
