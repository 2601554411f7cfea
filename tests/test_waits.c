/*
 * test_waits.c — waiting clients cost no context and no thread, fairly: a
 * real unsd (RPC on tls+tcp, its gateway on https) holds 2,000 parked long
 * polls over 500 users, half over RPC and half over the gateway, while
 * Health, another user's short Fetch and /healthz answer at once (goal
 * under 100 ms; asserted under 2 s so a loaded machine cannot fail it, the
 * figure is printed); a Post wakes only its user's waiters; SIGTERM
 * answers every parked poll. One user over its wait cap gets the clear
 * error (RESOURCE_EXHAUSTED, 429 with Retry-After) while another is
 * served; rapid calls over RPC meet the rate limit. 1,000 idle sockets
 * and 200 half-open TLS handshakes on each port delay no request and are
 * closed after their timeout. Clients that hang up while they wait (RPC
 * long polls, gateway long polls, event streams) end their waits at once:
 * the parked count drops long before the 60 s waits would end (the hang-up
 * tests give the gateway a 60 s header deadline, so that a loaded
 * machine's slow TLS handshakes are not cut).
 *
 * The test's own HTTP polls connect 100 at a time: one thread making a
 * thousand TLS handshakes at once takes longer than the gateway's header
 * deadline (TLS handshake included), which then rightly cuts the slow ones.
 *
 * Seen failing: with contexts capped at 128 (max_contexts; only 128 polls
 * parked, the rest queued as with the former fixed pool), with the wait
 * cap unchecked, with the rate limit left to the gateway, and without the
 * RPC port's handshake guard (NNG 1.5.2 kept the 1,200 RPC sockets open
 * past the 60 s bound); the hang-up tests with the pipe's hooks not run,
 * with long polls not armed in the gateway's watchdog, and with streams
 * not armed (each: 40 still parked after 30 s).
 *
 * HTTP long polls park per feed at the gateway (gateway_park.h): the
 * clients waiting are unsd's waits, less the gateway's shared ones, plus
 * the long polls parked there. test_shared_wait: six long polls of two
 * users are two waits in unsd; one hangs up and the rest wait on; a Post
 * wakes the user's four others (three take the shared wait's page, the
 * one with $top reads again with its own token and cursor); SIGTERM
 * answers the last one and unsd exits 0. Seen failing with parking per
 * feed off (six waits in unsd), with a hang-up ending its feed's other
 * waits (answered empty), without the close resuming the parked polls
 * (MHD aborted in MHD_stop_daemon: the poll got nothing), with the shared
 * page never handed over (the wake cost 5 Fetches, not 2) and handed to
 * the poll with $top too (1 Fetch); the cap's
 * 429 at the gateway with the per-feed cap unchecked (the fifth parked).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <curl/curl.h>
#include <jansson.h>

#include "jwt.h"
#include "testutil.h"
#include "uns/client.h"
#include "uns_stubs.h"
#include "uthttp.h"

#define HOST       "contoso.example.com"
#define SCOPE      "Notifications.ReadWrite"
#define PER_USER   4
#define RPC_USERS  250
#define HTTP_USERS 250
#define N_RPC      (RPC_USERS * PER_USER)
#define N_HTTP     (HTTP_USERS * PER_USER)
#define BOUND_MS   2000 /* the goal is 100 ms; see the top */

typedef struct env {
	char dir[256], data[320], ca[400], base[128], rpc_url[128];
	int ports[2];
	ut_proc p;
	uint8_t *secret;
	size_t secret_len;
} env;

static void
raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
env_start(env *e, const char *conf_text)
{
	char conf[400], why[256];
	memset(e, 0, sizeof(*e));
	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_ALL);
	ut_mkdtemp(e->dir, sizeof(e->dir));
	snprintf(e->data, sizeof(e->data), "%s/data", e->dir);
	snprintf(e->ca, sizeof(e->ca), "%s/tls/ca.pem", e->data);
	mkdir(e->data, 0700);
	snprintf(conf, sizeof(conf), "%s/unsd.conf", e->dir);
	ut_write_file(conf, conf_text);
	assert_int_equal(ut_unsd_gateway_start(&e->p, conf, e->data, e->ports,
	                                       e->base, sizeof(e->base)),
	                 0);
	snprintf(e->rpc_url, sizeof(e->rpc_url), "tls+tcp://localhost:%d",
	         e->ports[0]);
	char secret[400];
	snprintf(secret, sizeof(secret), "%s/jwt-hs256.secret", e->data);
	if (uns_jwt_read_secret_file(secret, &e->secret, &e->secret_len, why,
	                             sizeof(why)) != UNS_OK) {
		fail_msg("%s", why);
	}
}

static void
env_stop(env *e)
{
	if (e->p.pid > 0) {
		ut_unsd_gateway_stop(&e->p, e->dir);
	} else {
		ut_rmdir(e->dir);
		curl_global_cleanup();
	}
	free(e->secret);
}

static void
mint_user(const env *e, const char *user, char *out, size_t cap)
{
	ut_mint_hs256(e->secret, e->secret_len, time(NULL) - 5, user, NULL,
	              HOST, SCOPE, out, cap);
}

static uns_client *
rpc_client(const env *e)
{
	uns_client *c = NULL;
	uns_client_opts o = {.ca_file = e->ca};
	assert_int_equal(uns_client_open(&c, e->rpc_url, &o), UNS_OK);
	return c;
}

/* Metrics of unsd's /metrics, read at once (-1 when absent). */
static void
metrics(const env *e, const char *const *names, double *v, int n)
{
	ut_http h;
	char key[128];
	ut_http_open(&h, e->base, e->ca);
	ut_http_resp *r = ut_http_resp_new();
	int ok =
	    ut_http_do(&h, "GET", "/metrics", NULL, NULL, 0, NULL, r) == 200;
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "\n%s ", names[i]);
		const char *p = ok ? strstr(r->body, key) : NULL;
		v[i] = p ? atof(p + strlen(key)) : -1;
	}
	free(r);
	ut_http_close(&h);
}

static double
metric(const env *e, const char *name)
{
	double v;
	metrics(e, &name, &v, 1);
	return v;
}

/* Clients waiting: unsd's parked calls, less the upstream waits the
 * gateway's parked long polls share, plus those long polls. */
static double
waiting(const env *e)
{
	static const char *const names[] = {"uns_long_polls_waiting",
	                                    "uns_http_feed_waits",
	                                    "uns_http_long_polls_parked"};
	double v[3];
	metrics(e, names, v, 3);
	return v[0] - v[1] + v[2];
}

/* ---- RPC long polls -------------------------------------------------------
 */

typedef struct rpc_poll {
	char token[1024];
	atomic_int done;
	uns_err err;
	size_t changes;
	char message[256];
} rpc_poll;

static void
rpc_poll_done(uns_err err, const char *message, Uns__V1__FetchResponse *resp,
              void *arg)
{
	rpc_poll *p = arg;
	p->err = err;
	p->changes = resp ? resp->n_changes : 0;
	snprintf(p->message, sizeof(p->message), "%s", message ? message : "");
	if (resp) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	}
	atomic_store(&p->done, 1);
}

static void
rpc_poll_start(uns_client *c, rpc_poll *p, uint32_t wait_ms)
{
	Uns__V1__FetchRequest req = UNS__V1__FETCH_REQUEST__INIT;
	req.cursor = "latest";
	req.wait_ms = wait_ms;
	uns_call_opts o = {.token = p->token, .timeout_ms = wait_ms + 30000};
	assert_int_equal(
	    uns_notifications_fetch_async(c, &req, &o, rpc_poll_done, p),
	    UNS_OK);
}

static int
rpc_done(rpc_poll *p, int n)
{
	int k = 0;
	for (int i = 0; i < n; i++) {
		k += atomic_load(&p[i].done);
	}
	return k;
}

/* ---- HTTP long polls (libcurl multi: one connection each) ---------------- */

typedef struct http_polls {
	CURLM *multi;
	CURL *easy[N_HTTP + 1];
	struct curl_slist *hdrs[N_HTTP + 1];
	long status[N_HTTP + 1];
	char retry_after[N_HTTP + 1][16];
	char body[N_HTTP + 1][256]; /* the answer's start */
	int n, done;
} http_polls;

static size_t
keep_body(char *p, size_t size, size_t n, void *arg)
{
	char *body = arg;
	size_t len = strlen(body), add = size * n;
	if (len + 1 < 256) {
		size_t k = add < 255 - len ? add : 255 - len;
		memcpy(body + len, p, k);
		body[len + k] = '\0';
	}
	return size * n;
}

static size_t
keep_retry_after(char *p, size_t size, size_t n, void *arg)
{
	size_t len = size * n;
	if (len > 13 && strncasecmp(p, "Retry-After: ", 13) == 0) {
		snprintf(arg, 16, "%.*s", (int)(len - 13 > 15 ? 15 : len - 13),
		         p + 13);
		((char *)arg)[strcspn(arg, "\r\n")] = '\0';
	}
	return len;
}

static void http_add(http_polls *hp, const env *e, const char *token,
                     int wait_s, int stream);

static void
http_poll_add(http_polls *hp, const env *e, const char *token, int wait_s)
{
	http_add(hp, e, token, wait_s, 0);
}

/* A long poll, or an event stream (stream: Accept: text/event-stream). */
static void
http_add(http_polls *hp, const env *e, const char *token, int wait_s,
         int stream)
{
	char url[256], auth[1100];
	int i = hp->n++;
	snprintf(url, sizeof(url),
	         "%s/beta/me/notifications/delta?$deltatoken=latest&wait=%d",
	         e->base, wait_s);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	hp->hdrs[i] = curl_slist_append(NULL, auth);
	if (stream) {
		hp->hdrs[i] =
		    curl_slist_append(hp->hdrs[i], "Accept: text/event-stream");
	}
	CURL *k = curl_easy_init();
	curl_easy_setopt(k, CURLOPT_URL, url);
	curl_easy_setopt(k, CURLOPT_HTTPHEADER, hp->hdrs[i]);
	curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(k, CURLOPT_WRITEDATA, hp->body[i]);
	curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, keep_retry_after);
	curl_easy_setopt(k, CURLOPT_HEADERDATA, hp->retry_after[i]);
	curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, 180000L);
	curl_easy_setopt(k, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(k, CURLOPT_CAINFO, e->ca);
	curl_easy_setopt(k, CURLOPT_PRIVATE, (char *)NULL + i);
	curl_multi_add_handle(hp->multi, k);
	hp->easy[i] = k;
}

/* Drives the transfers for ms. */
static void
http_run(http_polls *hp, int ms)
{
	double until = ut_now_ms() + ms;
	int running;
	do {
		curl_multi_perform(hp->multi, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(hp->multi, &left))) {
			char *priv = NULL;
			long st = 0;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			                  &priv);
			curl_easy_getinfo(msg->easy_handle,
			                  CURLINFO_RESPONSE_CODE, &st);
			hp->status[priv - (char *)NULL] =
			    st ? st : -(long)msg->data.result;
			hp->done++;
		}
		curl_multi_poll(hp->multi, NULL, 0, 20, NULL);
	} while (ut_now_ms() < until);
}

static void
http_free(http_polls *hp)
{
	for (int i = 0; i < hp->n; i++) {
		if (hp->easy[i] != NULL) {
			curl_multi_remove_handle(hp->multi, hp->easy[i]);
			curl_easy_cleanup(hp->easy[i]);
		}
		curl_slist_free_all(hp->hdrs[i]);
	}
	curl_multi_cleanup(hp->multi);
}

/* Poll i's client hangs up (its connection closes). */
static void
http_hang_up(http_polls *hp, int i)
{
	curl_multi_remove_handle(hp->multi, hp->easy[i]);
	curl_easy_cleanup(hp->easy[i]);
	hp->easy[i] = NULL;
}

/* Drives the HTTP polls until unsd has want long polls parked. */
static void
wait_parked(const env *e, http_polls *hp, double want)
{
	double n = 0;
	for (double until = ut_now_ms() + 180000;
	     (n = waiting(e)) < want && ut_now_ms() < until;) {
		http_run(hp, 200);
	}
	if (n < want) {
		int ok = 0;
		long other = 0;
		for (int i = 0; i < hp->n; i++) {
			if (hp->status[i] == 200) {
				ok++;
			} else if (hp->status[i] != 0) {
				other = hp->status[i];
			}
		}
		fail_msg("%.0f long polls parked, want %.0f (%d of %d HTTP "
		         "polls done: %d with 200, another %ld)",
		         n, want, hp->done, hp->n, ok, other);
	}
}

/* ---- the quick calls, timed ---------------------------------------------- */

static double
time_health(const env *e)
{
	uns_client *c = rpc_client(e);
	Uns__V1__HealthRequest req = UNS__V1__HEALTH_REQUEST__INIT;
	Uns__V1__HealthResponse *resp = NULL;
	uns_call_opts o = {.timeout_ms = 30000};
	double t0 = ut_now_ms();
	assert_int_equal(uns_notifications_health(c, &req, &resp, &o), UNS_OK);
	double ms = ut_now_ms() - t0;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	uns_client_close(c);
	return ms;
}

static double
time_fetch(const env *e, const char *user)
{
	char token[1024];
	mint_user(e, user, token, sizeof(token));
	uns_client *c = rpc_client(e);
	Uns__V1__FetchRequest req = UNS__V1__FETCH_REQUEST__INIT;
	Uns__V1__FetchResponse *resp = NULL;
	uns_call_opts o = {.token = token, .timeout_ms = 30000};
	double t0 = ut_now_ms();
	assert_int_equal(uns_notifications_fetch(c, &req, &resp, &o), UNS_OK);
	double ms = ut_now_ms() - t0;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	uns_client_close(c);
	return ms;
}

static double
time_healthz(const env *e)
{
	ut_http h;
	ut_http_open(&h, e->base, e->ca);
	ut_http_resp *r = ut_http_resp_new();
	double t0 = ut_now_ms();
	assert_int_equal(
	    ut_http_do(&h, "GET", "/healthz", NULL, NULL, 0, NULL, r), 200);
	double ms = ut_now_ms() - t0;
	free(r);
	ut_http_close(&h);
	return ms;
}

static void
post_to(const env *e, uns_client *c, const char *user)
{
	char token[1024];
	mint_user(e, user, token, sizeof(token));
	Uns__V1__PostRequest req = UNS__V1__POST_REQUEST__INIT;
	Uns__V1__Notification nt = UNS__V1__NOTIFICATION__INIT;
	Uns__V1__Payload pl = UNS__V1__PAYLOAD__INIT;
	Uns__V1__VisualContent v = UNS__V1__VISUAL_CONTENT__INIT;
	v.title = "wake";
	pl.visual_content = &v;
	nt.payload = &pl;
	nt.app_notification_id = "wake-1";
	req.notification = &nt;
	Uns__V1__PostResponse *resp = NULL;
	uns_call_opts o = {.token = token, .timeout_ms = 30000};
	uns_err err = uns_notifications_post(c, &req, &resp, &o);
	if (err != UNS_OK) {
		fail_msg("post to %s: %s: %s", user, uns_strerror(err),
		         uns_last_message());
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
}

/* ---- the tests ------------------------------------------------------------
 */

static void
test_parked_many(void **state)
{
	static env e;
	static rpc_poll rp[N_RPC];
	static http_polls hp;
	char user[64], token[1024];
	(void)state;
	env_start(&e, "rate_limit_user = 0\nrate_limit_app = 0\n"
	              "max_waits_per_user = 4\ngateway_threads = 2\n"
	              "gateway_header_timeout = 60s\n");
	uns_client *c = rpc_client(&e);
	for (int i = 0; i < N_RPC; i++) {
		snprintf(user, sizeof(user), "r-%d", i / PER_USER);
		mint_user(&e, user, rp[i].token, sizeof(rp[i].token));
		rpc_poll_start(c, &rp[i], 60000);
	}
	memset(&hp, 0, sizeof(hp));
	hp.multi = curl_multi_init();
	/* In steps of 100, so the test's own handshakes do not starve. */
	for (int i = 0; i < N_HTTP; i++) {
		snprintf(user, sizeof(user), "h-%d", i / PER_USER);
		mint_user(&e, user, token, sizeof(token));
		http_poll_add(&hp, &e, token, 60);
		if (hp.n % 100 == 0) {
			wait_parked(&e, &hp, N_RPC + hp.n);
		}
	}
	wait_parked(&e, &hp, N_RPC + N_HTTP);
	assert_int_equal(rpc_done(rp, N_RPC), 0);
	assert_int_equal(hp.done, 0);
	/* The gateway's long polls wait upstream once per user. */
	assert_int_equal((int)metric(&e, "uns_http_long_polls_parked"), N_HTTP);
	assert_int_equal((int)metric(&e, "uns_http_feed_waits"), HTTP_USERS);

	double health = time_health(&e);
	double fetch = time_fetch(&e, "someone-else");
	double healthz = time_healthz(&e);
	printf("# %d parked: Health %.1f ms, Fetch %.1f ms, /healthz %.1f "
	       "ms; %.0f RPC contexts\n",
	       N_RPC + N_HTTP, health, fetch, healthz,
	       metric(&e, "uns_rpc_contexts"));
	assert_true(health < BOUND_MS);
	assert_true(fetch < BOUND_MS);
	assert_true(healthz < BOUND_MS);

	/* A Post wakes its user's waiters, and only those. */
	post_to(&e, c, "r-7");
	post_to(&e, c, "h-7");
	for (double until = ut_now_ms() + 30000;
	     (rpc_done(rp, N_RPC) < PER_USER || hp.done < PER_USER) &&
	     ut_now_ms() < until;) {
		http_run(&hp, 50);
	}
	http_run(&hp, 300);
	if (rpc_done(rp, N_RPC) != PER_USER) {
		int cancelled = 0, empty = 0;
		for (int i = 0; i < N_RPC; i++) {
			cancelled += atomic_load(&rp[i].done) &&
			             rp[i].err == UNS_CANCELLED;
			empty += atomic_load(&rp[i].done) &&
			         rp[i].err == UNS_OK && rp[i].changes == 0;
		}
		fail_msg("%d RPC polls answered, want %d: %d cancelled, %d "
		         "empty (their wait ended: a slow parking phase)",
		         rpc_done(rp, N_RPC), PER_USER, cancelled, empty);
	}
	assert_int_equal(hp.done, PER_USER);
	for (int i = 7 * PER_USER; i < 8 * PER_USER; i++) {
		assert_int_equal(atomic_load(&rp[i].done), 1);
		assert_int_equal(rp[i].err, UNS_OK);
		assert_int_equal(rp[i].changes, 1);
		assert_int_equal(hp.status[i], 200);
	}

	/* SIGTERM answers every parked poll, and unsd exits 0. */
	kill(e.p.pid, SIGTERM);
	for (double until = ut_now_ms() + 60000;
	     (rpc_done(rp, N_RPC) < N_RPC || hp.done < N_HTTP) &&
	     ut_now_ms() < until;) {
		http_run(&hp, 50);
	}
	assert_int_equal(rpc_done(rp, N_RPC), N_RPC);
	assert_int_equal(hp.done, N_HTTP);
	for (int i = 0; i < N_RPC; i++) {
		assert_int_equal(rp[i].err, UNS_OK);
		if (hp.status[i] != 200 && hp.status[i] != 503) {
			fail_msg("poll %d: %ld", i, hp.status[i]);
		}
	}
	uns_client_close(c);
	http_free(&hp);
	char out[8192];
	assert_int_equal(ut_unsd_stop(&e.p, SIGTERM, out, sizeof(out)), 0);
	e.p.pid = 0;
	env_stop(&e);
}

/* The cap: unsd counts RPC long polls (the gateway's shared wait of a
 * feed is one of them), the gateway its long polls parked per feed; each
 * refuses the fifth (max_waits_per_user = 4) while others are served. */
static void
test_wait_cap(void **state)
{
	static env e;
	static rpc_poll rp[PER_USER + 2];
	static http_polls hp;
	char token[1024];
	(void)state;
	env_start(&e, "rate_limit_user = 0\nrate_limit_app = 0\n"
	              "max_waits_per_user = 4\n");
	uns_client *c = rpc_client(&e);
	/* Three RPC long polls and four over the gateway (one shared wait
	 * upstream): four waits in unsd. */
	for (int i = 0; i < 3; i++) {
		mint_user(&e, "greedy", rp[i].token, sizeof(rp[i].token));
		rpc_poll_start(c, &rp[i], 60000);
	}
	memset(&hp, 0, sizeof(hp));
	hp.multi = curl_multi_init();
	wait_parked(&e, &hp, 3); /* before the shared wait takes the 4th */
	mint_user(&e, "greedy", token, sizeof(token));
	for (int i = 0; i < PER_USER; i++) {
		http_poll_add(&hp, &e, token, 60);
	}
	wait_parked(&e, &hp, 3 + PER_USER);
	assert_int_equal((int)metric(&e, "uns_long_polls_waiting"), 4);
	/* A fifth, either way: refused at once, with a retry time. */
	mint_user(&e, "greedy", rp[3].token, sizeof(rp[3].token));
	rpc_poll_start(c, &rp[3], 60000);
	http_poll_add(&hp, &e, token, 60);
	for (double until = ut_now_ms() + 30000;
	     (!atomic_load(&rp[3].done) || hp.done < 1) &&
	     ut_now_ms() < until;) {
		http_run(&hp, 50);
	}
	assert_int_equal(atomic_load(&rp[3].done), 1);
	assert_int_equal(rp[3].err, UNS_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(rp[3].message, "long polls waiting"));
	assert_non_null(strstr(rp[3].message, "retry after 1 s"));
	assert_int_equal(hp.done, 1);
	assert_int_equal(hp.status[PER_USER], 429);
	assert_string_equal(hp.retry_after[PER_USER], "1");
	assert_non_null(strstr(hp.body[PER_USER], "max_waits_per_user"));
	/* Everyone else is served: another user's poll parks and is woken,
	 * and the user's own short calls still go through. */
	mint_user(&e, "modest", rp[4].token, sizeof(rp[4].token));
	rpc_poll_start(c, &rp[4], 60000);
	wait_parked(&e, &hp, 3 + PER_USER + 1);
	assert_true(time_fetch(&e, "greedy") < BOUND_MS);
	post_to(&e, c, "modest");
	for (double until = ut_now_ms() + 30000;
	     !atomic_load(&rp[4].done) && ut_now_ms() < until;) {
		http_run(&hp, 50);
	}
	assert_int_equal(rp[4].err, UNS_OK);
	assert_int_equal(rp[4].changes, 1);
	assert_int_equal(rpc_done(rp, 3), 0);
	assert_int_equal(hp.done, 1);
	uns_client_close(c);
	http_free(&hp);
	env_stop(&e);
}

/* Long polls of one feed share one upstream wait: five clients of a user
 * (two tokens) and one of another park as two waits in unsd; one client
 * hangs up and the others wait on; a Post wakes the user's other four
 * (the shared page, or a read with their own token and cursor); SIGTERM
 * answers the one left
 * and unsd exits 0 (no connection left suspended in MHD). */
static void
test_shared_wait(void **state)
{
	static env e;
	static http_polls hp;
	char tokens[2][1024], other[1024];
	static const char *const names[] = {
	    "uns_long_polls_waiting", "uns_http_feed_waits",
	    "uns_http_long_polls_parked", "uns_http_hangups_total"};
	double v[4];
	(void)state;
	env_start(&e, "rate_limit_user = 0\nrate_limit_app = 0\n"
	              "gateway_header_timeout = 60s\n");
	for (int i = 0; i < 2; i++) {
		ut_mint_hs256(e.secret, e.secret_len, time(NULL) - 5 - i,
		              "sharer", NULL, HOST, SCOPE, tokens[i],
		              sizeof(tokens[i]));
	}
	assert_string_not_equal(tokens[0], tokens[1]);
	mint_user(&e, "loner", other, sizeof(other));
	memset(&hp, 0, sizeof(hp));
	hp.multi = curl_multi_init();
	for (int i = 0; i < 5; i++) {
		http_poll_add(&hp, &e, tokens[i % 2], 60);
	}
	http_poll_add(&hp, &e, other, 60);
	/* The last of the user's names a page size: it reads again when
	 * woken, where the others take the shared wait's page. */
	char top[256];
	snprintf(top, sizeof(top),
	         "%s/beta/me/notifications/delta?$deltatoken=latest&wait=60"
	         "&$top=5",
	         e.base);
	curl_multi_remove_handle(hp.multi, hp.easy[4]);
	curl_easy_setopt(hp.easy[4], CURLOPT_URL, top);
	curl_multi_add_handle(hp.multi, hp.easy[4]);
	wait_parked(&e, &hp, 6);
	metrics(&e, names, v, 4);
	printf("# 6 long polls of 2 users: %.0f parked at the gateway, %.0f "
	       "upstream waits, %.0f waits in unsd\n",
	       v[2], v[1], v[0]);
	assert_int_equal((int)v[2], 6);
	assert_int_equal((int)v[1], 2);
	assert_int_equal((int)v[0], 2);

	/* One hangs up: the others of its feed wait on. */
	http_hang_up(&hp, 0);
	for (double until = ut_now_ms() + 30000; ut_now_ms() < until;) {
		metrics(&e, names, v, 4);
		if (v[2] <= 5 && v[3] >= 1) {
			break;
		}
		http_run(&hp, 100);
	}
	assert_int_equal((int)v[2], 5);
	assert_int_equal((int)v[3], 1);
	assert_int_equal((int)v[1], 2);
	http_run(&hp, 300);
	assert_int_equal(hp.done, 0);

	/* A Post wakes the four left of the user, not the other: the shared
	 * Fetch's answer and one read again (the $top one) are the only
	 * Fetches it costs; three take the shared page. */
	static const char *const fetches[] = {
	    "uns_rpc_calls_total{method=\"Fetch\",status=\"OK\"}"};
	double f0, f1;
	metrics(&e, fetches, &f0, 1);
	uns_client *c = rpc_client(&e);
	post_to(&e, c, "sharer");
	uns_client_close(c);
	for (double until = ut_now_ms() + 30000;
	     hp.done < 4 && ut_now_ms() < until;) {
		http_run(&hp, 50);
	}
	http_run(&hp, 300);
	assert_int_equal(hp.done, 4);
	for (int i = 1; i < 5; i++) {
		if (hp.status[i] != 200 || strstr(hp.body[i], "wake") == NULL) {
			fail_msg("poll %d: %ld %s", i, hp.status[i],
			         hp.body[i]);
		}
	}
	assert_int_equal(hp.status[5], 0);
	metrics(&e, fetches, &f1, 1);
	printf("# the wake of 4 parked long polls cost %.0f Fetches\n",
	       f1 - f0);
	assert_true(f1 - f0 >= 2 && f1 - f0 <= 3);
	metrics(&e, names, v, 4);
	assert_int_equal((int)v[2], 1);
	assert_int_equal((int)v[1], 1);

	/* SIGTERM answers the one still parked. */
	kill(e.p.pid, SIGTERM);
	for (double until = ut_now_ms() + 60000;
	     hp.done < 5 && ut_now_ms() < until;) {
		http_run(&hp, 50);
	}
	assert_int_equal(hp.done, 5);
	if (hp.status[5] != 503 && hp.status[5] != 200) {
		fail_msg("the parked poll at SIGTERM: %ld", hp.status[5]);
	}
	http_free(&hp);
	char out[8192];
	assert_int_equal(ut_unsd_stop(&e.p, SIGTERM, out, sizeof(out)), 0);
	e.p.pid = 0;
	env_stop(&e);
}

static void
test_rpc_rate_limit(void **state)
{
	static env e;
	char token[1024];
	(void)state;
	env_start(&e, "rate_limit_user = 10\nrate_limit_user_burst = 10\n");
	mint_user(&e, "hasty", token, sizeof(token));
	uns_client *c = rpc_client(&e);
	int refused = 0;
	char message[512] = "";
	for (int i = 0; i < 30; i++) {
		Uns__V1__HistoryRequest req = UNS__V1__HISTORY_REQUEST__INIT;
		Uns__V1__HistoryResponse *resp = NULL;
		uns_call_opts o = {.token = token, .timeout_ms = 30000};
		uns_err err = uns_notifications_history(c, &req, &resp, &o);
		if (err == UNS_OK) {
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		} else {
			assert_int_equal(err, UNS_RESOURCE_EXHAUSTED);
			snprintf(message, sizeof(message), "%s",
			         uns_last_message());
			refused++;
		}
	}
	printf("# 30 rapid History calls: %d refused (%s)\n", refused, message);
	assert_true(refused >= 10);
	assert_non_null(strstr(message, "rate limit of the user"));
	/* Another user is not slowed. */
	assert_true(time_fetch(&e, "patient") < BOUND_MS);
	uns_client_close(c);
	env_stop(&e);
}

/* ---- hang-ups ---------------------------------------------------------------
 */

#define N_HUP 40

/* Waits until at most want clients wait (and, at 0, unsd holds no wait
 * either: the gateway's shared ones are gone too); the milliseconds it
 * took, or -1 after limit_ms. */
static double
wait_parked_below(const env *e, double want, double limit_ms)
{
	double t0 = ut_now_ms();
	while (waiting(e) > want ||
	       (want == 0 && metric(e, "uns_long_polls_waiting") > 0)) {
		if (ut_now_ms() - t0 > limit_ms) {
			return -1;
		}
		usleep(100000);
	}
	return ut_now_ms() - t0;
}

/* A client whose connection closes while its long polls wait: they end at
 * once (60 s waits, gone within the bound), not at their deadline. */
static void
test_rpc_hangup(void **state)
{
	static env e;
	static rpc_poll rp[N_HUP];
	char user[64];
	(void)state;
	env_start(&e, "rate_limit_user = 0\nrate_limit_app = 0\n"
	              "gateway_header_timeout = 60s\n");
	uns_client *c = rpc_client(&e);
	for (int i = 0; i < N_HUP; i++) {
		snprintf(user, sizeof(user), "hup-%d", i / PER_USER);
		mint_user(&e, user, rp[i].token, sizeof(rp[i].token));
		rpc_poll_start(c, &rp[i], 60000);
	}
	for (double until = ut_now_ms() + 60000;
	     metric(&e, "uns_long_polls_waiting") < N_HUP &&
	     ut_now_ms() < until;) {
		usleep(100000);
	}
	assert_int_equal((int)metric(&e, "uns_long_polls_waiting"), N_HUP);
	uns_client_close(c); /* its pipe goes away */
	double ms = wait_parked_below(&e, 0, 30000);
	printf("# %d RPC long polls hung up: parked count 0 after %.0f ms\n",
	       N_HUP, ms);
	assert_true(ms >= 0);
	/* The server still serves. */
	assert_true(time_health(&e) < BOUND_MS);
	env_stop(&e);
}

/* N_HUP gateway clients (long polls, or event streams when stream) park,
 * then close their connections: their RPC waits end at once too. */
static void
gateway_hangup(const char *conf, int stream, const char *what)
{
	static env e;
	static http_polls hp;
	char user[64], token[1024];
	env_start(&e, conf);
	memset(&hp, 0, sizeof(hp));
	hp.multi = curl_multi_init();
	for (int i = 0; i < N_HUP; i++) {
		snprintf(user, sizeof(user), "hup-%d", i / PER_USER);
		mint_user(&e, user, token, sizeof(token));
		http_add(&hp, &e, token, stream ? 0 : 60, stream);
	}
	wait_parked(&e, &hp, N_HUP);
	assert_int_equal(hp.done, 0);
	http_free(&hp); /* closes every connection */
	double ms = wait_parked_below(&e, 0, 30000);
	printf("# %d %s hung up: parked count 0 after %.0f ms, %.0f hang-ups "
	       "counted\n",
	       N_HUP, what, ms, metric(&e, "uns_http_hangups_total"));
	assert_true(ms >= 0);
	assert_int_equal((int)metric(&e, "uns_http_hangups_total"), N_HUP);
	assert_true(time_healthz(&e) < BOUND_MS);
	env_stop(&e);
}

/* Long polls: MHD does not watch a suspended connection's socket. */
static void
test_http_hangup(void **state)
{
	(void)state;
	gateway_hangup("rate_limit_user = 0\nrate_limit_app = 0\n"
	               "gateway_header_timeout = 60s\n",
	               0, "HTTP long polls");
}

/* Event streams: a stream's Fetch waits a heartbeat (60 s here). */
static void
test_stream_hangup(void **state)
{
	(void)state;
	gateway_hangup("rate_limit_user = 0\nrate_limit_app = 0\n"
	               "gateway_stream_heartbeat = 60s\n"
	               "gateway_header_timeout = 60s\n",
	               1, "event streams");
}

/* ---- idle sockets and half-open TLS handshakes --------------------------- */

#define N_IDLE 1000
#define N_TLS  200

/* Connects n sockets to port from 127.0.0.x sources; each sends hello
 * (len bytes) if given. */
static void
open_idle(int *fds, int n, int port, const void *hello, size_t len)
{
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fd >= 0);
		struct sockaddr_in src = {.sin_family = AF_INET};
		src.sin_addr.s_addr =
		    htonl(0x7f000000u | (uint32_t)(2 + i % 200));
		bind(fd, (struct sockaddr *)&src, sizeof(src));
		struct sockaddr_in sa = {.sin_family = AF_INET,
		                         .sin_port = htons((uint16_t)port)};
		sa.sin_addr.s_addr = htonl(0x7f000001u);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			fail_msg("connect %d: %s", i, strerror(errno));
		}
		if (hello && write(fd, hello, len) != (ssize_t)len) {
			fail_msg("write %d: %s", i, strerror(errno));
		}
		fcntl(fd, F_SETFL, O_NONBLOCK);
		fds[i] = fd;
	}
}

/* Waits up to ms for the server to close every socket (end of file or a
 * reset); returns how many it closed. */
static int
wait_closed(int *fds, int n, int ms)
{
	static struct pollfd pf[2 * (N_IDLE + N_TLS)];
	int closed = 0;
	char buf[4096];
	for (int i = 0; i < n; i++) {
		pf[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	}
	for (double until = ut_now_ms() + ms;
	     closed < n && ut_now_ms() < until;) {
		poll(pf, (nfds_t)n, 100);
		for (int i = 0; i < n; i++) {
			if (pf[i].fd < 0 ||
			    !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) {
				continue;
			}
			ssize_t r = read(pf[i].fd, buf, sizeof(buf));
			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				close(pf[i].fd);
				pf[i].fd = -1;
				fds[i] = -1;
				closed++;
			}
		}
	}
	return closed;
}

static void
test_idle_sockets(void **state)
{
	static env e;
	static int fds[2 * (N_IDLE + N_TLS)];
	/* A TLS record header announcing a ClientHello that never comes. */
	static const unsigned char half_hello[] = {0x16, 0x03, 0x01, 0x02,
	                                           0x00, 0x01, 0x00};
	(void)state;
	env_start(&e, "gateway_header_timeout = 2s\n");
	int n = 0;
	for (int port = 0; port < 2; port++) {
		open_idle(fds + n, N_IDLE, e.ports[port], NULL, 0);
		n += N_IDLE;
		open_idle(fds + n, N_TLS, e.ports[port], half_hello,
		          sizeof(half_hello));
		n += N_TLS;
	}
	double health = time_health(&e);
	double fetch = time_fetch(&e, "busy");
	double healthz = time_healthz(&e);
	printf("# %d idle sockets and %d half-open TLS handshakes per port: "
	       "Health %.1f ms, Fetch %.1f ms, /healthz %.1f ms\n",
	       N_IDLE, N_TLS, health, fetch, healthz);
	assert_true(health < BOUND_MS);
	assert_true(fetch < BOUND_MS);
	assert_true(healthz < BOUND_MS);
	/* Closed after their timeouts: the gateway's header deadline (2 s
	 * here) and the RPC port's handshake deadline (NNG's 10 s). */
	double t0 = ut_now_ms();
	int closed = wait_closed(fds, n, 60000);
	printf("# %d of %d closed by the server in %.1f s\n", closed, n,
	       (ut_now_ms() - t0) / 1000);
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0) {
			fail_msg("socket %d (port %s, %s) still open", i,
			         i < N_IDLE + N_TLS ? "RPC" : "gateway",
			         i % (N_IDLE + N_TLS) < N_IDLE ? "idle"
			                                       : "half TLS");
		}
	}
	env_stop(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parked_many),
	    cmocka_unit_test(test_wait_cap),
	    cmocka_unit_test(test_shared_wait),
	    cmocka_unit_test(test_rpc_rate_limit),
	    cmocka_unit_test(test_idle_sockets),
	    cmocka_unit_test(test_rpc_hangup),
	    cmocka_unit_test(test_http_hangup),
	    cmocka_unit_test(test_stream_hangup),
	};
	if (getenv("UNS_TEST_FILTER") != NULL) { /* one test, by name */
		cmocka_set_test_filter(getenv("UNS_TEST_FILTER"));
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
