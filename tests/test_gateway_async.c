/*
 * test_gateway_async.c — the gateway's event loop: requests parked on
 * their RPC hold no thread. Real HTTP through libcurl's multi interface
 * (one connection per poll) against a real unsd, its embedded gateway and
 * the standalone uns-gateway, both with gateway_threads = 2.
 *
 * More long polls than polling threads (50 on 2) are parked at once; a
 * create still goes through while they wait, and wakes every one of them;
 * polls whose client hung up while parked leave the gateway serving; the
 * close (uns-gateway's SIGTERM, unsd's) answers every poll still parked at
 * once and exits 0 (clean under ASan: no late completion touches a freed
 * request).
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "testutil.h"
#include "uthttp.h"

#define APP     "contoso-svc"
#define HOST    "contoso.example.com"
#define N_POLLS 50

static char g_dir[256], g_data[320], g_ca[400], g_base[128];
static ut_proc g_unsd;
static int g_rpc_port;

static int
setup_unsd(void **state)
{
	char conf[400], apps[400];
	int ports[2] = {0, 0};
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_ALL);
	ut_mkdtemp(g_dir, sizeof(g_dir));
	snprintf(g_data, sizeof(g_data), "%s/data", g_dir);
	snprintf(g_ca, sizeof(g_ca), "%s/tls/ca.pem", g_data);
	mkdir(g_data, 0700);
	snprintf(apps, sizeof(apps), "%s/apps.conf", g_data);
	ut_write_file(apps, APP " " HOST " -\n");
	snprintf(conf, sizeof(conf), "%s/unsd.conf", g_dir);
	ut_write_file(conf, "rate_limit_user = 0\nrate_limit_app = 0\n"
	                    "max_waits_per_user = 100\ngateway_threads = 2\n");
	if (ut_unsd_gateway_start(&g_unsd, conf, g_data, ports, g_base,
	                          sizeof(g_base)) != 0) {
		return -1;
	}
	g_rpc_port = ports[0];
	return 0;
}

static int
teardown_unsd(void **state)
{
	(void)state;
	return ut_unsd_gateway_stop(&g_unsd, g_dir);
}

/* ---- many polls through curl's multi interface --------------------------- */

typedef struct poll_set {
	CURLM *multi;
	CURL *easy[N_POLLS];
	char body[N_POLLS][4096];
	long status[N_POLLS];
	int done[N_POLLS];
	struct curl_slist *hdrs;
} poll_set;

static size_t
keep_body(char *data, size_t size, size_t n, void *arg)
{
	char *buf = arg; /* 4096 bytes, NUL-terminated */
	size_t have = strlen(buf), add = size * n;
	if (have + add >= 4096) {
		add = 4095 - have;
	}
	memcpy(buf + have, data, add);
	buf[have + add] = '\0';
	return size * n;
}

/* Starts N_POLLS GETs of base+path, each on a connection of its own. */
static void
polls_start(poll_set *ps, const char *base, const char *ca, const char *token,
            const char *path)
{
	char url[2048], auth[2048];
	memset(ps, 0, sizeof(*ps));
	ps->multi = curl_multi_init();
	snprintf(url, sizeof(url), "%s%s", base, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	ps->hdrs = curl_slist_append(NULL, auth);
	for (int i = 0; i < N_POLLS; i++) {
		CURL *k = curl_easy_init();
		curl_easy_setopt(k, CURLOPT_URL, url);
		curl_easy_setopt(k, CURLOPT_HTTPHEADER, ps->hdrs);
		curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, keep_body);
		curl_easy_setopt(k, CURLOPT_WRITEDATA, ps->body[i]);
		curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, 120000L);
		curl_easy_setopt(k, CURLOPT_FORBID_REUSE, 1L);
		curl_easy_setopt(k, CURLOPT_PRIVATE, (char *)NULL + i);
		if (ca) {
			curl_easy_setopt(k, CURLOPT_CAINFO, ca);
		}
		curl_multi_add_handle(ps->multi, k);
		ps->easy[i] = k;
	}
}

/* Drives the transfers for up to ms; returns how many are still running. */
static int
polls_run(poll_set *ps, int ms)
{
	int running = 0;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		curl_multi_perform(ps->multi, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(ps->multi, &left))) {
			char *priv = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			                  &priv);
			int i = (int)(priv - (char *)NULL);
			ps->done[i] = 1;
			if (msg->data.result == CURLE_OK) {
				curl_easy_getinfo(msg->easy_handle,
				                  CURLINFO_RESPONSE_CODE,
				                  &ps->status[i]);
			} else {
				ps->status[i] = -1;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		long el = (t.tv_sec - t0.tv_sec) * 1000 +
		          (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (running == 0 || el >= ms) {
			return running;
		}
		curl_multi_poll(ps->multi, NULL, 0, 50, NULL);
	}
}

/* Hangs up the first n polls (the client goes away while parked). */
static void
polls_abort(poll_set *ps, int n)
{
	for (int i = 0; i < n; i++) {
		curl_multi_remove_handle(ps->multi, ps->easy[i]);
		curl_easy_cleanup(ps->easy[i]);
		ps->easy[i] = NULL;
		ps->done[i] = 1;
		ps->status[i] = -2;
	}
}

static void
polls_free(poll_set *ps)
{
	for (int i = 0; i < N_POLLS; i++) {
		if (ps->easy[i]) {
			curl_multi_remove_handle(ps->multi, ps->easy[i]);
			curl_easy_cleanup(ps->easy[i]);
		}
	}
	curl_multi_cleanup(ps->multi);
	curl_slist_free_all(ps->hdrs);
}

/* The path of the user's current deltaLink plus "&wait=S". */
static void
delta_cursor(ut_http *h, const char *user, int wait_s, char *out, size_t cap)
{
	ut_http_resp *r = ut_http_resp_new();
	assert_int_equal(ut_http_do(h, "GET", "/beta/me/notifications/delta",
	                            user, NULL, 0, NULL, r),
	                 200);
	json_t *v = ut_http_json(r);
	const char *link = ut_json_str(v, "@odata.deltaLink");
	const char *path = strstr(link, "/beta/");
	assert_non_null(path);
	snprintf(out, cap, "%s&wait=%d", path, wait_s);
	json_decref(v);
	free(r);
}

/* uns_http_requests_in_flight from /metrics (this request included). */
static long
in_flight(ut_http *h)
{
	ut_http_resp *r = ut_http_resp_new();
	long n = -1;
	if (ut_http_do(h, "GET", "/metrics", NULL, NULL, 0, NULL, r) == 200) {
		const char *p =
		    strstr(r->body, "\nuns_http_requests_in_flight ");
		if (p) {
			n = atol(p + strlen("\nuns_http_requests_in_flight "));
		}
	}
	free(r);
	return n;
}

/* Waits until at least want requests are in flight in the gateway. */
static void
wait_in_flight(ut_http *h, poll_set *ps, long want)
{
	long n = 0;
	for (int i = 0; i < 400 && (n = in_flight(h)) < want; i++) {
		polls_run(ps, 50);
	}
	if (n < want) {
		fail_msg("%ld requests in flight, want %ld", n, want);
	}
}

/* The threads of process pid (/proc/PID/task). */
static int
thread_count(pid_t pid)
{
	char path[64];
	int n = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		n += e->d_name[0] != '.';
	}
	closedir(d);
	return n;
}

/* ---- tests ---------------------------------------------------------------
 */

/* 50 long polls on a gateway of 2 threads: all parked at once, a create
 * is served meanwhile, and it answers every poll (hung-up ones aside). */
static void
many_polls_one_post(const char *base, const char *ca, const char *user_id,
                    pid_t pid)
{
	ut_http h;
	poll_set ps;
	char path[2048];
	ut_http_open(&h, base, ca);
	char *user = ut_mint(g_data, "user", user_id, HOST);
	char *app = ut_mint(g_data, "app", APP, NULL);
	char *unsid = ut_gw_subscribe(&h, user, "d");
	delta_cursor(&h, user, 50, path, sizeof(path));

	int threads = thread_count(pid);
	polls_start(&ps, base, ca, user, path);
	wait_in_flight(&h, &ps, N_POLLS + 1);
	/* Parked, not answered: nothing new for them yet, and no thread
	 * each (thread per connection would add 50). */
	assert_int_equal(polls_run(&ps, 300), N_POLLS);
	if (thread_count(pid) - threads >= 10) {
		fail_msg("%d threads with %d polls parked, %d before",
		         thread_count(pid), N_POLLS, threads);
	}
	polls_abort(&ps, 5);
	/* Served although 45 polls wait on 2 threads. */
	char *id = ut_gw_post(&h, app, unsid, HOST, user_id, 201);
	assert_int_equal(polls_run(&ps, 30000), 0);
	for (int i = 5; i < N_POLLS; i++) {
		if (ps.status[i] != 200 || strstr(ps.body[i], id) == NULL) {
			fail_msg("poll %d: %ld %.300s", i, ps.status[i],
			         ps.body[i]);
		}
	}
	polls_free(&ps);
	/* The hung-up polls' connections are gone: still serving. */
	free(ut_gw_post(&h, app, unsid, HOST, "after", 201));
	assert_true(in_flight(&h) >= 1);
	free(id);
	free(unsid);
	free(app);
	free(user);
	ut_http_close(&h);
}

static void
test_many_polls_embedded(void **state)
{
	(void)state;
	many_polls_one_post(g_base, g_ca, "u-many-embedded", g_unsd.pid);
}

/* Starts uns-gateway over the suite's unsd with 2 threads and the extra
 * config lines; fills base. */
static void
start_gateway_with(ut_proc *gw, const char *extra, char *base, size_t cap)
{
	char conf[400], rpc[128], text[512];
	snprintf(conf, sizeof(conf), "%s/gw.conf", g_dir);
	snprintf(text, sizeof(text),
	         "gateway_threads = 2\nrate_limit_user = 0\n"
	         "rate_limit_app = 0\nmax_waits_per_user = 100\n%s",
	         extra);
	ut_write_file(conf, text);
	snprintf(rpc, sizeof(rpc), "tls+tcp://localhost:%d", g_rpc_port);
	ut_gateway_start(gw, rpc, g_ca, conf, base, cap);
}

static void
start_gateway(ut_proc *gw, char *base, size_t cap)
{
	/* A close that waited for the RPC deadline would take 30 s. */
	start_gateway_with(gw, "gateway_rpc_timeout = 30s\n", base, cap);
}

/* A poll parked longer than the connection's idle timeout is not timed
 * out while it waits (MHD keeps no timeout on a suspended connection),
 * nor at once when resumed: its empty answer arrives after its wait. */
static void
test_poll_outlasts_idle_timeout(void **state)
{
	ut_proc gw;
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char base[128], out[8192], path[2048];
	(void)state;
	start_gateway_with(&gw, "gateway_idle_timeout = 1s\n", base,
	                   sizeof(base));
	ut_http_open(&h, base, NULL);
	char *user = ut_mint(g_data, "user", "u-idle", HOST);
	delta_cursor(&h, user, 3, path, sizeof(path));
	time_t start = time(NULL);
	assert_int_equal(ut_http_do(&h, "GET", path, user, NULL, 0, NULL, r),
	                 200);
	assert_true(time(NULL) - start >= 2);
	json_t *v = ut_http_json(r);
	assert_int_equal(json_array_size(json_object_get(v, "value")), 0);
	json_decref(v);
	ut_http_close(&h);
	assert_int_equal(ut_unsd_stop(&gw, SIGTERM, out, sizeof(out)), 0);
	free(user);
	free(r);
}

static void
test_many_polls_standalone(void **state)
{
	ut_proc gw;
	char base[128], out[8192];
	(void)state;
	start_gateway(&gw, base, sizeof(base));
	many_polls_one_post(base, NULL, "u-many-standalone", gw.pid);
	assert_int_equal(ut_unsd_stop(&gw, SIGTERM, out, sizeof(out)), 0);
}

/* Parks N_POLLS long polls of user at base, sends p SIGTERM, and checks
 * that every poll ended and p exited 0 within max_s seconds; ps holds the
 * polls' answers. */
static void
polls_through_sigterm(ut_proc *p, const char *base, const char *user,
                      poll_set *ps, int max_s)
{
	ut_http h;
	char out[8192], path[2048];
	ut_http_open(&h, base, NULL);
	delta_cursor(&h, user, 50, path, sizeof(path));
	polls_start(ps, base, NULL, user, path);
	wait_in_flight(&h, ps, N_POLLS + 1);
	ut_http_close(&h);
	time_t start = time(NULL);
	kill(p->pid, SIGTERM);
	assert_int_equal(polls_run(ps, 30000), 0);
	assert_int_equal(ut_unsd_stop(p, 0, out, sizeof(out)), 0);
	assert_true(time(NULL) - start < max_s);
}

/* SIGTERM to uns-gateway with 50 polls parked: each is answered 503
 * ("shutting down") at once and the process exits 0, long before the
 * polls' 50 s wait. */
static void
test_standalone_close_with_polls(void **state)
{
	ut_proc gw;
	poll_set ps;
	char base[128];
	(void)state;
	start_gateway(&gw, base, sizeof(base));
	char *user = ut_mint(g_data, "user", "u-close-standalone", HOST);
	polls_through_sigterm(&gw, base, user, &ps, 15);
	for (int i = 0; i < N_POLLS; i++) {
		if (ps.status[i] != 503 ||
		    strstr(ps.body[i], "shutting down") == NULL) {
			fail_msg("poll %d: %ld %.300s", i, ps.status[i],
			         ps.body[i]);
		}
	}
	polls_free(&ps);
	free(user);
}

/* unsd's SIGTERM with 50 polls parked in its gateway: each is answered
 * (the RPC drain ends them: 200, or 503 from the gateway) and unsd
 * exits 0 at once. */
static void
test_unsd_close_with_polls(void **state)
{
	ut_proc p;
	poll_set ps;
	char data[300], conf[400], base[128];
	int ports[2] = {0, 0};
	(void)state;
	snprintf(data, sizeof(data), "%.250s/drain", g_dir);
	mkdir(data, 0700);
	snprintf(conf, sizeof(conf), "%s/drain.conf", g_dir);
	ut_write_file(conf, "gateway_threads = 2\nmax_waits_per_user = 100\n");
	ut_unsd_http_start(&p, conf, data, ports, base, sizeof(base));
	char *user = ut_mint(data, "user", "u-drain", HOST);
	polls_through_sigterm(&p, base, user, &ps, 20);
	for (int i = 0; i < N_POLLS; i++) {
		if (ps.status[i] != 200 && ps.status[i] != 503) {
			fail_msg("poll %d: %ld %.300s", i, ps.status[i],
			         ps.body[i]);
		}
	}
	polls_free(&ps);
	free(user);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_many_polls_embedded),
	    cmocka_unit_test(test_many_polls_standalone),
	    cmocka_unit_test(test_poll_outlasts_idle_timeout),
	    cmocka_unit_test(test_standalone_close_with_polls),
	    cmocka_unit_test(test_unsd_close_with_polls),
	};
	return cmocka_run_group_tests(tests, setup_unsd, teardown_unsd);
}
