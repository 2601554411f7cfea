/*
 * bench_scale.c — `uns-bench scale`: how big the server gets and
 * how fast History stays when the store is full.
 *
 * The service runs in a forked child on a fresh store with its defaults
 * (RocksDB, or --store postgres in a fresh schema). The parent subscribes
 * --users users (one device each) and posts --notifications notifications
 * round-robin over them with 64 calls in flight, then reads the child's
 * resident memory from /proc (VmRSS now, VmHWM peak) and the store's size on
 * disk. One more user gets --heavy notifications; History's first page (20) and
 * a walk over every page (100 each) are timed one call at a time, beside Echo
 * on the same connection as the baseline of one round trip.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uns_stubs.h"
#include "bench.h"

#define SCALE_THREADS 64

typedef struct scale_run {
	const bench_opts *o;
	uns_client *client;
	char **unsids; /* one per user */
	char *app_token;
	atomic_int next;
	int total;
	atomic_int failed;
	int (*step)(struct scale_run *r, int i);
} scale_run;

static int
subscribe_step(scale_run *r, int i)
{
	char sub[32];
	snprintf(sub, sizeof(sub), "scale-user-%d", i);
	char *token = bench_mint(sub, NULL, "Notifications.ReadWrite");
	Uns__V1__SubscribeRequest req = UNS__V1__SUBSCRIBE_REQUEST__INIT;
	Uns__V1__SubscribeResponse *resp = NULL;
	req.device_id = "scale-device";
	req.platform = UNS__V1__PLATFORM__PLATFORM_POLLING;
	uns_call_opts co = {.token = token, .timeout_ms = 30000};
	int rc = -1;
	if (token != NULL && uns_notifications_subscribe(r->client, &req, &resp,
	                                                 &co) == UNS_OK) {
		r->unsids[i] = strdup(resp->subscription->unsid);
		uns__v1__subscribe_response__free_unpacked(resp, NULL);
		rc = 0;
	}
	free(token);
	return rc;
}

static int
post_to(scale_run *r, const char *unsid, int seq)
{
	char app_id[32];
	Uns__V1__PostRequest req = UNS__V1__POST_REQUEST__INIT;
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT;
	Uns__V1__Payload p = UNS__V1__PAYLOAD__INIT;
	Uns__V1__VisualContent v = UNS__V1__VISUAL_CONTENT__INIT;
	Uns__V1__PostResponse *resp = NULL;
	snprintf(app_id, sizeof(app_id), "s%d", seq);
	v.title = "A notification of the scale benchmark";
	v.body = "About the size of a real one: a title, a sentence of body "
	         "text, a group name.";
	p.visual_content = &v;
	n.payload = &p;
	n.app_notification_id = app_id;
	n.group_name = seq % 3 ? "orders" : "news";
	req.notification = &n;
	req.unsid = (char *)unsid;
	uns_call_opts co = {.token = r->app_token, .timeout_ms = 30000};
	if (uns_notifications_post(r->client, &req, &resp, &co) != UNS_OK) {
		return -1;
	}
	uns__v1__post_response__free_unpacked(resp, NULL);
	return 0;
}

static int
post_step(scale_run *r, int i)
{
	return post_to(r, r->unsids[i % r->o->users], i);
}

static void *
scale_worker(void *arg)
{
	scale_run *r = arg;
	int i;
	while ((i = atomic_fetch_add(&r->next, 1)) < r->total) {
		if (r->step(r, i) != 0 &&
		    atomic_fetch_add(&r->failed, 1) == 0) {
			fprintf(stderr, "uns-bench scale: %s\n",
			        uns_last_message());
		}
	}
	return NULL;
}

/* Runs step(0 .. total-1) on 64 threads; returns calls/s or -1. */
static double
scale_phase(scale_run *r, int total, int (*step)(scale_run *, int))
{
	pthread_t t[SCALE_THREADS];
	r->step = step;
	r->total = total;
	atomic_store(&r->next, 0);
	atomic_store(&r->failed, 0);
	uint64_t t0 = bench_now_us();
	for (int k = 0; k < SCALE_THREADS; k++) {
		pthread_create(&t[k], NULL, scale_worker, r);
	}
	for (int k = 0; k < SCALE_THREADS; k++) {
		pthread_join(t[k], NULL);
	}
	double secs = (double)(bench_now_us() - t0) / 1e6;
	return atomic_load(&r->failed) ? -1 : total / secs;
}

/* "VmRSS" or "VmHWM" of pid, in KiB; 0 if unknown. */
static long
proc_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	long kib = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, strlen(field)) == 0) {
			kib = strtol(line + strlen(field) + 1, NULL, 10);
		}
	}
	if (f) {
		fclose(f);
	}
	return kib;
}

static long
dir_kib(const char *dir)
{
	char cmd[400], out[64] = "0";
	snprintf(cmd, sizeof(cmd), "du -sk %s 2>/dev/null", dir);
	FILE *p = popen(cmd, "r");
	if (p && fgets(out, sizeof(out), p) == NULL) {
		out[0] = '0';
	}
	if (p) {
		pclose(p);
	}
	return strtol(out, NULL, 10);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void
print_lat(const char *name, uint64_t *us, size_t n, double base_p50)
{
	qsort(us, n, sizeof(*us), cmp_u64);
	double p50 = (double)us[n / 2], p99 = (double)us[n * 99 / 100];
	printf("  %-28s p50 %6.0f us  p99 %6.0f us", name, p50, p99);
	if (base_p50 > 0) {
		printf("  (%.1fx echo)", p50 / base_p50);
	}
	printf("\n");
}

/* One History call; returns its latency and the next page token. */
static int
history_call(uns_client *c, const char *token, uint32_t size, const char *page,
             char **next, uint64_t *us)
{
	Uns__V1__HistoryRequest req = UNS__V1__HISTORY_REQUEST__INIT;
	Uns__V1__HistoryResponse *resp = NULL;
	req.page_size = size;
	req.page_token = (char *)(page ? page : "");
	uns_call_opts co = {.token = token, .timeout_ms = 30000};
	uint64_t t0 = bench_now_us();
	if (uns_notifications_history(c, &req, &resp, &co) != UNS_OK) {
		fprintf(stderr, "uns-bench scale: history: %s\n",
		        uns_last_message());
		return -1;
	}
	*us = bench_now_us() - t0;
	*next = resp->next_page_token[0] ? strdup(resp->next_page_token) : NULL;
	uns__v1__history_response__free_unpacked(resp, NULL);
	return 0;
}

static double
echo_p50(uns_client *c, int calls)
{
	uint64_t *us = calloc((size_t)calls, sizeof(*us));
	Uns__V1__EchoRequest req = UNS__V1__ECHO_REQUEST__INIT;
	for (int i = 0; i < calls; i++) {
		Uns__V1__EchoResponse *resp = NULL;
		uint64_t t0 = bench_now_us();
		if (uns_notifications_echo(c, &req, &resp, NULL) == UNS_OK) {
			uns__v1__echo_response__free_unpacked(resp, NULL);
		}
		us[i] = bench_now_us() - t0;
	}
	print_lat("Echo (one round trip)", us, (size_t)calls, 0);
	qsort(us, (size_t)calls, sizeof(*us), cmp_u64);
	double p50 = (double)us[calls / 2];
	free(us);
	return p50;
}

/* The heavy user's History: first pages, then whole walks. */
static int
history_latency(scale_run *r, double base)
{
	char *token =
	    bench_mint("scale-heavy", NULL, "Notifications.ReadWrite");
	enum { FIRST = 500, WALKS = 20 };
	size_t walk_cap = (size_t)WALKS * ((size_t)r->o->heavy / 100 + 2);
	uint64_t *first = calloc(FIRST, sizeof(uint64_t));
	uint64_t *pages = calloc(walk_cap, sizeof(uint64_t));
	size_t n_pages = 0;
	int rc = token && first && pages ? 0 : -1;
	for (int i = 0; i < FIRST && rc == 0; i++) {
		char *next = NULL;
		rc = history_call(r->client, token, 20, NULL, &next, &first[i]);
		free(next);
	}
	for (int w = 0; w < WALKS && rc == 0; w++) {
		char *page = NULL;
		do {
			char *next = NULL;
			uint64_t us = 0;
			rc = history_call(r->client, token, 100, page, &next,
			                  &us);
			free(page);
			page = next;
			if (rc == 0 && n_pages < walk_cap) {
				pages[n_pages++] = us;
			}
		} while (rc == 0 && page != NULL);
		free(page);
	}
	if (rc == 0) {
		print_lat("History first page (20)", first, FIRST, base);
		print_lat("History any page (100)", pages, n_pages, base);
	}
	free(first);
	free(pages);
	free(token);
	return rc;
}

/* Subscribes the heavy user and fills its history. */
static int
heavy_fill(scale_run *r)
{
	char *token =
	    bench_mint("scale-heavy", NULL, "Notifications.ReadWrite");
	Uns__V1__SubscribeRequest req = UNS__V1__SUBSCRIBE_REQUEST__INIT;
	Uns__V1__SubscribeResponse *resp = NULL;
	req.device_id = "scale-device";
	req.platform = UNS__V1__PLATFORM__PLATFORM_POLLING;
	uns_call_opts co = {.token = token, .timeout_ms = 30000};
	int rc = -1;
	if (token && uns_notifications_subscribe(r->client, &req, &resp, &co) ==
	                 UNS_OK) {
		rc = 0;
		for (int i = 0; i < r->o->heavy && rc == 0; i++) {
			rc = post_to(r, resp->subscription->unsid,
			             r->o->notifications + i);
		}
		uns__v1__subscribe_response__free_unpacked(resp, NULL);
	}
	free(token);
	return rc;
}

static int
scale_fill(scale_run *r, const bench_proc *p)
{
	printf("scale: %d users, %d notifications (+%d for one user), "
	       "store in %s, default block cache\n",
	       r->o->users, r->o->notifications, r->o->heavy, p->dir);
	long rss0 = proc_kib(p->pid, "VmRSS");
	double subs = scale_phase(r, r->o->users, subscribe_step);
	if (subs < 0) {
		return -1;
	}
	printf("  subscribe: %.0f calls/s\n", subs);
	double posts = scale_phase(r, r->o->notifications, post_step);
	if (posts < 0 || heavy_fill(r) != 0) {
		return -1;
	}
	printf("  post: %.0f calls/s (64 in flight)\n", posts);
	long rss = proc_kib(p->pid, "VmRSS"), hwm = proc_kib(p->pid, "VmHWM");
	printf("  server RSS: %.1f MiB idle before, %.1f MiB after, peak "
	       "%.1f MiB (goal <= 512)\n",
	       rss0 / 1024.0, rss / 1024.0, hwm / 1024.0);
	char store[300];
	if (r->o->store != NULL && strcmp(r->o->store, "postgres") == 0) {
		/* The child's schema (bench.c); its size is the database's
		 * to tell (tools/bench_postgres.sh asks it). */
		printf("  store: postgres schema bench_%d\n", (int)p->pid);
		return 0;
	}
	snprintf(store, sizeof(store), "%s/store", p->dir);
	printf("  store on disk: %.1f MiB\n", dir_kib(store) / 1024.0);
	return 0;
}

int
bench_scale(bench_opts *o)
{
	bench_proc p;
	if (bench_proc_start(&p, o, 1) != 0) {
		return 1;
	}
	scale_run r = {.o = o};
	char url[128];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", p.ports[0]);
	uns_client_opts co = {.ca_file = p.ca, .server_name = "localhost"};
	r.unsids = calloc((size_t)o->users, sizeof(char *));
	r.app_token = bench_mint(NULL, BENCH_APP, "Notifications.Send");
	int rc = r.unsids && r.app_token &&
	                 uns_client_open(&r.client, url, &co) == UNS_OK
	             ? 0
	             : -1;
	if (rc == 0) {
		rc = scale_fill(&r, &p);
	}
	if (rc == 0) {
		printf("one call at a time:\n");
		rc = history_latency(&r, echo_p50(r.client, 1000));
	}
	uns_client_close(r.client);
	for (int i = 0; r.unsids && i < o->users; i++) {
		free(r.unsids[i]);
	}
	free(r.unsids);
	free(r.app_token);
	bench_proc_stop(&p);
	return rc ? 1 : 0;
}
