/*
 * test_gateway_operations.c — the gateway's operational routes end to end
 * through libcurl against a real unsd with its embedded HTTPS gateway: the
 * OAuth2 token endpoint (form and Basic credentials, identical answers for
 * unknown app and wrong secret, OAuth2 error bodies, and a token that then
 * posts), GET /metrics after traffic, GET /openapi.json, and the per-user
 * rate limit answering 429 with Retry-After, and the standalone
 * uns-gateway's own metrics and limits.
 *
 * The user limit is 1 request/s with a burst of 3, so a user's first three
 * requests always pass and one of the next seven is refused unless they
 * take more than seven seconds; that keeps the test sound on a busy
 * machine. The app limit is off, so the app's requests never throttle.
 *
 * test_token_flood has an unsd of its own (token_fail_burst = 3): a flood
 * of wrong secrets for one client id is refused without checks after the
 * third, while another app's token request is answered, and so is the
 * flooded app's from another address; the gateway's limit per source
 * address refuses an address after three wrong secrets under any client
 * ids.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <curl/curl.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "b64url.h"
#include "crypto.h"
#include "gateway_openapi.h"
#include "testutil.h"
#include "uthttp.h"
#include "uns_stubs.h"

#define APP    "contoso-svc"
#define SECRET "s3cret-value-0123456"
#define HOST   "contoso.example.com"
#define FORM   "Content-Type: application/x-www-form-urlencoded"

static char g_dir[256], g_data[320], g_ca[400], g_base[128];
static ut_proc g_unsd;
static int g_rpc_port;

static int
run(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A temporary dir (256 bytes) with data (320), its CA's path (400) and
 * conf (400) written with text; APP and other-svc registered. */
static void
make_data(char *dir, char *data, char *ca, char *conf, const char *text)
{
	char cmd[1024];
	ut_mkdtemp(dir, 256);
	snprintf(data, 320, "%s/data", dir);
	snprintf(ca, 400, "%s/tls/ca.pem", data);
	mkdir(data, 0700);
	snprintf(cmd, sizeof(cmd),
	         "%s app add --data %s --id " APP " --hosts " HOST
	         " --secret " SECRET " >/dev/null && "
	         "%s app add --data %s --id other-svc --hosts o.example.com "
	         "--secret other-secret-0123456 >/dev/null",
	         UNS_UNSCTL_PATH, data, UNS_UNSCTL_PATH, data);
	assert_int_equal(run(cmd), 0);
	snprintf(conf, 400, "%s/unsd.conf", dir);
	ut_write_file(conf, text);
}

static int
setup_unsd(void **state)
{
	char conf[400];
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_ALL);
	make_data(g_dir, g_data, g_ca, conf,
	          "rate_limit_user = 1\nrate_limit_user_burst = 3\n"
	          "rate_limit_app = 0\ntoken_lifetime = 10m\n");
	int ports[2] = {0, 0};
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

/* POST /oauth2/v2.0/token with a form body; extra: more header lines. */
static long
token_request(ut_http *h, const char *form, const char *extra, ut_http_resp *r)
{
	const char *hdrs[] = {FORM, extra, NULL};
	return ut_http_do(h, "POST", "/oauth2/v2.0/token", NULL, form, 0, hdrs,
	                  r);
}

/* ---- token endpoint -------------------------------------------------- */

static void
test_token_then_post(void **state)
{
	(void)state;
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char hv[256], unsid_hdr[512];
	ut_http_open(&h, g_base, g_ca);
	assert_int_equal(
	    token_request(&h,
	                  "grant_type=client_credentials&client_id=" APP
	                  "&client_secret=" SECRET "&scope=https%3A%2F%2F"
	                  "graph.microsoft.com%2F.default",
	                  NULL, r),
	    200);
	assert_true(ut_http_header(r, "Cache-Control", hv, sizeof(hv)));
	assert_string_equal(hv, "no-store");
	json_t *t = ut_http_json(r);
	assert_string_equal(ut_json_str(t, "token_type"), "Bearer");
	assert_int_equal(json_integer_value(json_object_get(t, "expires_in")),
	                 600);
	char *app_token = strdup(ut_json_str(t, "access_token"));
	json_decref(t);

	/* The user subscribes; the app posts with the issued token. */
	char *user = ut_mint(g_data, "user", "token-user", HOST);
	assert_int_equal(
	    ut_http_do(&h, "POST", "/beta/me/notifications/subscriptions", user,
	               "{\"deviceId\":\"d1\",\"platform\":\"polling\"}", 0,
	               NULL, r),
	    201);
	json_t *s = ut_http_json(r);
	snprintf(unsid_hdr, sizeof(unsid_hdr), "X-UNS-ID: %s",
	         ut_json_str(s, "id"));
	json_decref(s);
	const char *hdrs[] = {unsid_hdr, NULL};
	long st = ut_http_do(&h, "POST", "/beta/me/notifications", app_token,
	                     "{\"targetHostName\":\"" HOST
	                     "\",\"appNotificationId\":\"t1\","
	                     "\"payload\":{\"rawContent\":\"hi\"}}",
	                     0, hdrs, r);
	if (st != 201) {
		fail_msg("post with the issued token: %ld %s", st, r->body);
	}
	free(app_token);
	free(user);
	free(r);
	ut_http_close(&h);
}

/* The body without trace_id and timestamp, which differ per request. */
static char *
stable_error(const ut_http_resp *r)
{
	json_t *v = ut_http_json(r);
	json_object_del(v, "trace_id");
	json_object_del(v, "timestamp");
	char *s = json_dumps(v, JSON_SORT_KEYS);
	json_decref(v);
	return s;
}

static void
test_bad_credentials_answer_alike(void **state)
{
	(void)state;
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	ut_http_open(&h, g_base, g_ca);
	assert_int_equal(token_request(&h,
	                               "grant_type=client_credentials&client_"
	                               "id=" APP "&client_secret=wrong",
	                               NULL, r),
	                 401);
	char *wrong = stable_error(r);
	assert_int_equal(token_request(&h,
	                               "grant_type=client_credentials&client_"
	                               "id=ghost&client_secret=" SECRET,
	                               NULL, r),
	                 401);
	char *unknown = stable_error(r);
	assert_int_equal(token_request(&h,
	                               "grant_type=client_credentials&client_"
	                               "id=" APP
	                               "&client_secret=other-secret-0123456",
	                               NULL, r),
	                 401);
	char *other = stable_error(r);
	assert_string_equal(wrong, unknown);
	assert_string_equal(wrong, other);
	assert_non_null(strstr(wrong, "\"error\": \"invalid_client\""));
	free(wrong);
	free(unknown);
	free(other);
	free(r);
	ut_http_close(&h);
}

static void
test_basic_credentials(void **state)
{
	(void)state;
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char hv[256];
	ut_http_open(&h, g_base, g_ca);
	/* base64("contoso-svc:s3cret-value-0123456") */
	assert_int_equal(
	    token_request(&h, "grant_type=client_credentials",
	                  "Authorization: Basic "
	                  "Y29udG9zby1zdmM6czNjcmV0LXZhbHVlLTAxMjM0NTY=",
	                  r),
	    200);
	/* base64("contoso-svc:nope"): 401 with a Basic challenge. */
	assert_int_equal(token_request(&h, "grant_type=client_credentials",
	                               "Authorization: Basic "
	                               "Y29udG9zby1zdmM6bm9wZQ==",
	                               r),
	                 401);
	assert_true(ut_http_header(r, "WWW-Authenticate", hv, sizeof(hv)));
	assert_non_null(strstr(hv, "Basic"));
	/* Credentials in both places are refused. */
	assert_int_equal(
	    token_request(&h, "grant_type=client_credentials&client_secret=x",
	                  "Authorization: Basic Y29udG9zby1zdmM6bm9wZQ==", r),
	    400);
	free(r);
	ut_http_close(&h);
}

static void
test_token_request_errors(void **state)
{
	(void)state;
	static const struct {
		const char *form;
		long status;
		const char *error, *mentions;
	} cases[] = {
	    {"client_id=" APP "&client_secret=" SECRET, 400, "invalid_request",
	     "grant_type"},
	    {"grant_type=password&client_id=" APP "&client_secret=" SECRET, 400,
	     "unsupported_grant_type", "grant_type"},
	    {"grant_type=client_credentials&client_secret=" SECRET, 400,
	     "invalid_request", "client_id"},
	    {"grant_type=client_credentials&client_id=" APP, 400,
	     "invalid_request", "client_secret"},
	    {"grant_type=client_credentials&client_id=" APP
	     "&client_secret=" SECRET "&scope=User.Read",
	     400, "invalid_scope", "scope"},
	    {"grant_type=client_credentials&grant_type=client_credentials", 400,
	     "invalid_request", "grant_type"},
	    {"grant_type=client_credentials&client_id=%zz", 400,
	     "invalid_request", "client_id"},
	};
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	ut_http_open(&h, g_base, g_ca);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long st = token_request(&h, cases[i].form, NULL, r);
		json_t *v = ut_http_json(r);
		if (st != cases[i].status ||
		    strcmp(ut_json_str(v, "error"), cases[i].error) != 0 ||
		    strstr(ut_json_str(v, "error_description"),
		           cases[i].mentions) == NULL) {
			fail_msg("%s: %ld %s", cases[i].form, st, r->body);
		}
		json_decref(v);
	}
	/* A JSON body is not the OAuth2 form. */
	const char *json_hdr[] = {"Content-Type: application/json", NULL};
	assert_int_equal(ut_http_do(&h, "POST", "/oauth2/v2.0/token", NULL,
	                            "{\"grant_type\":\"client_credentials\"}",
	                            0, json_hdr, r),
	                 415);
	assert_int_equal(
	    ut_http_do(&h, "GET", "/oauth2/v2.0/token", NULL, NULL, 0, NULL, r),
	    405);
	free(r);
	ut_http_close(&h);
}

/* ---- rate limits ----------------------------------------------------- */

static void
test_user_rate_limit_429(void **state)
{
	(void)state;
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char hv[64];
	ut_http_open(&h, g_base, g_ca);
	char *user = ut_mint(g_data, "user", "limited-user", HOST);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ut_http_do(&h, "GET", "/beta/me/notifications",
		                            user, NULL, 0, NULL, r),
		                 200);
	}
	long st = 0;
	for (int i = 0; i < 7 && st != 429; i++) {
		st = ut_http_do(&h, "GET", "/beta/me/notifications", user, NULL,
		                0, NULL, r);
	}
	assert_int_equal(st, 429);
	assert_true(ut_http_header(r, "Retry-After", hv, sizeof(hv)));
	assert_true(atoi(hv) >= 1);
	json_t *v = ut_http_json(r);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(v, "error"), "code")),
	                    "TooManyRequests");
	json_decref(v);
	/* Another user has a bucket of its own; the throttled answer kept the
	 * keep-alive connection (no new TLS handshake for the next call). */
	char *other = ut_mint(g_data, "user", "unlimited-user", HOST);
	assert_int_equal(ut_http_do(&h, "GET", "/beta/me/notifications", other,
	                            NULL, 0, NULL, r),
	                 200);
	assert_int_equal(r->connects, 0);
	/* A forged token for the limited user is not limited here: it
	 * reaches the RPC, which refuses it. */
	assert_int_equal(ut_http_do(&h, "GET", "/beta/me/notifications",
	                            "eyJhbGciOiJIUzI1NiJ9.e30.c2ln", NULL, 0,
	                            NULL, r),
	                 401);
	free(user);
	free(other);
	free(r);
	ut_http_close(&h);
}

/* ---- /metrics and /openapi.json ---------------------------------------- */

static void
test_metrics_after_traffic(void **state)
{
	(void)state;
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char hv[256];
	ut_http_open(&h, g_base, g_ca);
	char *user = ut_mint(g_data, "user", "metrics-user", HOST);
	assert_int_equal(ut_http_do(&h, "GET", "/beta/me/notifications/nope",
	                            user, NULL, 0, NULL, r),
	                 404);
	assert_int_equal(
	    ut_http_do(&h, "GET", "/no/such/route", NULL, NULL, 0, NULL, r),
	    404);
	assert_int_equal(
	    ut_http_do(&h, "GET", "/metrics", NULL, NULL, 0, NULL, r), 200);
	assert_true(ut_http_header(r, "Content-Type", hv, sizeof(hv)));
	assert_non_null(strstr(hv, "text/plain"));
	assert_non_null(strstr(hv, "version=0.0.4"));
	static const char *const want[] = {
	    "# TYPE uns_http_requests_total counter\n",
	    "uns_http_requests_total{route=\"notifications.get\",code=\"404\"}"
	    " ",
	    "uns_http_requests_total{route=\"unmatched\",code=\"404\"} ",
	    "uns_gateway_rpc_errors_total{route=\"notifications.get\","
	    "status=\"NOT_FOUND\"} ",
	    "# TYPE uns_http_request_duration_seconds histogram\n",
	    "uns_http_request_duration_seconds_bucket{route=\"notifications."
	    "get\",le=\"+Inf\"} ",
	    "\nuns_http_requests_in_flight 1\n", /* this request */
	    "uns_rpc_calls_total{method=\"Fetch\",status=\"NOT_FOUND\"} ",
	    "uns_rpc_calls_total{method=\"IssueToken\",status=\"OK\"} ",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (strstr(r->body, want[i]) == NULL) {
			fail_msg("missing \"%s\" in:\n%s", want[i], r->body);
		}
	}
	free(user);
	free(r);
	ut_http_close(&h);
}

static void
test_openapi_served(void **state)
{
	(void)state;
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	ut_http_open(&h, g_base, g_ca);
	assert_int_equal(
	    ut_http_do(&h, "GET", "/openapi.json", NULL, NULL, 0, NULL, r),
	    200);
	json_t *served = ut_http_json(r);
	json_t *built = json_loads(uns_gw_openapi_json, 0, NULL);
	assert_non_null(built);
	assert_true(json_equal(served, built));
	json_decref(served);
	json_decref(built);
	free(r);
	ut_http_close(&h);
}

/* The JWT header of token, decoded, into out. */
static void
jwt_header(const char *token, char *out, size_t cap)
{
	size_t n = strcspn(token, ".");
	long got = uns_b64url_decode(token, n, (uint8_t *)out, cap - 1);
	assert_true(got > 0);
	out[got] = '\0';
}

/* Production keys: ES256, public half in jwt_key, private half as
 * token_signing_key. The endpoint signs with it and the service accepts
 * the token; without token_signing_key there is no token endpoint. */
static void
test_es256_signing_key(void **state)
{
	(void)state;
	char dir[256], data[320], ca[400], conf[400], text[1200], cmd[1024];
	char base[128], header[512];
	ut_proc unsd;
	ut_mkdtemp(dir, sizeof(dir));
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(ca, sizeof(ca), "%s/tls/ca.pem", data);
	mkdir(data, 0700);
	snprintf(cmd, sizeof(cmd),
	         "%s token keygen --out %s >/dev/null && %s app add --data %s "
	         "--id " APP " --hosts " HOST " --secret " SECRET " >/dev/null",
	         UNS_UNSCTL_PATH, dir, UNS_UNSCTL_PATH, data);
	assert_int_equal(run(cmd), 0);
	for (int with_key = 1; with_key >= 0; with_key--) {
		snprintf(conf, sizeof(conf), "%s/unsd.conf", dir);
		snprintf(
		    text, sizeof(text), "jwt_key = %s/jwt-es256.pub\n%s%s%s",
		    dir, with_key ? "token_signing_key = " : "",
		    with_key ? dir : "", with_key ? "/jwt-es256.key\n" : "");
		ut_write_file(conf, text);
		int ports[2] = {0, 0};
		assert_int_equal(ut_unsd_gateway_start(&unsd, conf, data, ports,
		                                       base, sizeof(base)),
		                 0);
		ut_http h;
		ut_http_resp *r = ut_http_resp_new();
		ut_http_open(&h, base, ca);
		long st = token_request(&h,
		                        "grant_type=client_credentials&client_"
		                        "id=" APP "&client_secret=" SECRET,
		                        NULL, r);
		json_t *v = ut_http_json(r);
		if (with_key) {
			assert_int_equal(st, 200);
			const char *tok = ut_json_str(v, "access_token");
			jwt_header(tok, header, sizeof(header));
			assert_non_null(strstr(header, "\"ES256\""));
			/* Authenticated: an unknown UNSID is 404, not 401. */
			const char *hdrs[] = {"X-UNS-ID: no-such-unsid", NULL};
			assert_int_equal(
			    ut_http_do(&h, "POST", "/beta/me/notifications",
			               tok,
			               "{\"payload\":{\"rawContent\":\"x\"}}",
			               0, hdrs, r),
			    404);
		} else {
			assert_int_equal(st, 400);
			assert_string_equal(ut_json_str(v, "error"),
			                    "unsupported_grant_type");
			assert_non_null(
			    strstr(ut_json_str(v, "error_description"),
			           "token_signing_key"));
		}
		json_decref(v);
		free(r);
		ut_http_close(&h);
		char log[4096];
		assert_int_equal(ut_unsd_stop(&unsd, SIGTERM, log, sizeof(log)),
		                 0);
	}
	ut_rmdir(dir);
}

/* ---- the token endpoint under a flood of wrong secrets --------------- */

typedef struct flood {
	char url[64];
	const char *ca;
	atomic_int stop;
	atomic_int wrong, refused,
	    other;              /* UNAUTHENTICATED, RESOURCE_EXHAUSTED */
	atomic_int retry_named; /* refusals that say "retry after" */
} flood;

static uns_err
issue_token(uns_client *c, const char *id, const char *secret)
{
	Uns__V1__IssueTokenRequest req = UNS__V1__ISSUE_TOKEN_REQUEST__INIT;
	req.grant_type = "client_credentials";
	req.client_id = (char *)id;
	req.client_secret = (char *)secret;
	Uns__V1__IssueTokenResponse *resp = NULL;
	uns_call_opts o = {.timeout_ms = 30000};
	uns_err err = uns_notifications_issue_token(c, &req, &resp, &o);
	if (resp != NULL) {
		uns__v1__issue_token_response__free_unpacked(resp, NULL);
	}
	return err;
}

/* One attacker thread: wrong secrets for APP over RPC, as fast as the
 * server answers. */
static void *
flood_main(void *arg)
{
	flood *f = arg;
	uns_client_opts co = {.ca_file = f->ca};
	uns_client *c = NULL;
	assert_int_equal(uns_client_open(&c, f->url, &co), UNS_OK);
	while (!atomic_load(&f->stop)) {
		uns_err err = issue_token(c, APP, "wrong-secret-0123456789");
		if (err == UNS_UNAUTHENTICATED) {
			atomic_fetch_add(&f->wrong, 1);
		} else if (err == UNS_RESOURCE_EXHAUSTED) {
			atomic_fetch_add(&f->refused, 1);
			if (strstr(uns_last_message(), "retry after ") !=
			    NULL) {
				atomic_fetch_add(&f->retry_named, 1);
			}
		} else {
			atomic_fetch_add(&f->other, 1);
		}
	}
	uns_client_close(c);
	return NULL;
}

/* What a failing test_token_flood leaves: its threads and its unsd. */
static flood g_flood;
static pthread_t g_flood_threads[8];
static int g_flood_started;
static ut_proc g_flood_unsd;
static char g_flood_dir[256];

static int
teardown_flood(void **state)
{
	(void)state;
	atomic_store(&g_flood.stop, 1);
	for (int i = 0; i < g_flood_started; i++) {
		pthread_join(g_flood_threads[i], NULL);
	}
	g_flood_started = 0;
	if (g_flood_unsd.pid > 0) {
		kill(g_flood_unsd.pid, SIGKILL);
		waitpid(g_flood_unsd.pid, NULL, 0);
		g_flood_unsd.pid = 0;
	}
	if (g_flood_dir[0] != '\0') {
		ut_rmdir(g_flood_dir);
		g_flood_dir[0] = '\0';
	}
	return 0;
}

static void
test_token_flood(void **state)
{
	(void)state;
	char data[320], ca[400], conf[400], base[128], hv[64], form[256];
	ut_proc *unsd = &g_flood_unsd;
	make_data(g_flood_dir, data, ca, conf,
	          "token_fail_burst = 3\ntoken_fail_per_minute = 1\n"
	          "token_source_fail_burst = 3\n"
	          "token_source_fail_per_minute = 1\ntoken_lifetime = 10m\n");
	int ports[2] = {0, 0};
	assert_int_equal(
	    ut_unsd_gateway_start(unsd, conf, data, ports, base, sizeof(base)),
	    0);

	/* Eight threads send wrong secrets for one client id over RPC. */
	flood *fl = &g_flood;
	memset(fl, 0, sizeof(*fl));
	fl->ca = ca;
	snprintf(fl->url, sizeof(fl->url), "tls+tcp://localhost:%d", ports[0]);
	for (; g_flood_started < 8; g_flood_started++) {
		pthread_create(&g_flood_threads[g_flood_started], NULL,
		               flood_main, fl);
	}
	for (int i = 0; i < 3000 && atomic_load(&fl->refused) < 50; i++) {
		nng_msleep(10);
	}
	/* Meanwhile another app gets its token through the gateway, and
	 * promptly: the flood holds no check. Generous: a loaded machine.
	 * This client sends from 127.0.0.2, another address than the
	 * flood's 127.0.0.1 (Linux's loopback holds all of 127/8). */
	ut_http h, same;
	ut_http_resp *r = ut_http_resp_new();
	ut_http_open(&h, base, ca);
	snprintf(h.from, sizeof(h.from), "%s", "127.0.0.2");
	ut_http_open(&same, base, ca);
	nng_time t0 = nng_clock();
	long st = token_request(&h,
	                        "grant_type=client_credentials&client_id="
	                        "other-svc&client_secret=other-secret-0123456",
	                        NULL, r);
	nng_time took = nng_clock() - t0;
	if (st != 200 || took > 5000) {
		fail_msg("other app during the flood: %ld after %u ms: %s", st,
		         (unsigned)took, r->body);
	}
	/* The flooded id is refused to the flood's address even with its
	 * right secret, Retry-After with the 429; from another address that
	 * has not failed against it, the holder of the secret still gets
	 * its token (the gateway names its client's address to unsd). */
	assert_int_equal(token_request(&same,
	                               "grant_type=client_credentials&client_"
	                               "id=" APP "&client_secret=" SECRET,
	                               NULL, r),
	                 429);
	assert_true(ut_http_header(r, "Retry-After", hv, sizeof(hv)));
	assert_true(atoi(hv) >= 1);
	st = token_request(&h,
	                   "grant_type=client_credentials&client_id=" APP
	                   "&client_secret=" SECRET,
	                   NULL, r);
	if (st != 200) {
		fail_msg("the holder elsewhere during the flood: %ld %s", st,
		         r->body);
	}
	ut_http_close(&same);
	atomic_store(&fl->stop, 1);
	for (; g_flood_started > 0; g_flood_started--) {
		pthread_join(g_flood_threads[g_flood_started - 1], NULL);
	}
	/* Three wrong secrets checked (a fourth if a minute passed), the
	 * rest refused unchecked, each naming when to come back. */
	if (atomic_load(&fl->wrong) > 4 || atomic_load(&fl->other) != 0 ||
	    atomic_load(&fl->retry_named) != atomic_load(&fl->refused)) {
		fail_msg("flood: %d checked, %d refused (%d naming a retry), "
		         "%d other",
		         atomic_load(&fl->wrong), atomic_load(&fl->refused),
		         atomic_load(&fl->retry_named),
		         atomic_load(&fl->other));
	}

	/* The gateway's own limit, per source address: three wrong secrets
	 * from here under three client ids, then this address is refused
	 * before the server checks anything, whatever the client id. */
	for (int i = 0; i < 4; i++) {
		snprintf(form, sizeof(form),
		         "grant_type=client_credentials&client_id=ghost-%d"
		         "&client_secret=nope-0123456789",
		         i);
		st = token_request(&h, form, NULL, r);
		if (st != (i < 3 ? 401 : 429)) {
			fail_msg("wrong secret %d from one address: %ld %s", i,
			         st, r->body);
		}
	}
	assert_true(ut_http_header(r, "Retry-After", hv, sizeof(hv)));
	json_t *v = ut_http_json(r);
	assert_string_equal(ut_json_str(v, "error"), "temporarily_unavailable");
	json_decref(v);
	free(r);
	ut_http_close(&h);
	char log[4096];
	int stopped = ut_unsd_stop(unsd, SIGTERM, log, sizeof(log));
	unsd->pid = 0;
	assert_int_equal(stopped, 0);
}

/* uns-gateway on its own: metrics of its own, and rate limits once its
 * config names the key tokens are signed with. */
static void
test_standalone_gateway_ops(void **state)
{
	(void)state;
	char conf[400], text[600], rpc[128], cert[400], base[128], hv[64];
	ut_proc gw;
	int port = 0;
	snprintf(conf, sizeof(conf), "%s/gateway.conf", g_dir);
	snprintf(text, sizeof(text),
	         "jwt_key = hs256:%s/jwt-hs256.secret\n"
	         "rate_limit_user = 1\nrate_limit_user_burst = 2\n",
	         g_data);
	ut_write_file(conf, text);
	snprintf(rpc, sizeof(rpc), "tls+tcp://localhost:%d", g_rpc_port);
	snprintf(cert, sizeof(cert), "%s/tls/server.pem", g_data);
	const char *argv[] = {UNS_GATEWAY_PATH,
	                      "--config",
	                      conf,
	                      "--rpc",
	                      rpc,
	                      "--ca",
	                      g_ca,
	                      "--listen",
	                      "https://127.0.0.1:0",
	                      "--cert",
	                      cert,
	                      NULL};
	const char *markers[] = {"serving", NULL};
	assert_int_equal(ut_proc_start(&gw, argv, markers, &port), 0);
	snprintf(base, sizeof(base), "https://localhost:%d", port);
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	ut_http_open(&h, base, g_ca);
	char *user = ut_mint(g_data, "user", "standalone-user", HOST);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ut_http_do(&h, "GET", "/beta/me/notifications",
		                            user, NULL, 0, NULL, r),
		                 200);
	}
	long st = 0;
	for (int i = 0; i < 7 && st != 429; i++) {
		st = ut_http_do(&h, "GET", "/beta/me/notifications", user, NULL,
		                0, NULL, r);
	}
	assert_int_equal(st, 429);
	assert_true(ut_http_header(r, "Retry-After", hv, sizeof(hv)));
	assert_int_equal(
	    ut_http_do(&h, "GET", "/metrics", NULL, NULL, 0, NULL, r), 200);
	assert_non_null(strstr(r->body,
	                       "uns_http_requests_total{route=\""
	                       "notifications.list\",code=\"200\"} 2\n"));
	assert_non_null(
	    strstr(r->body, "uns_http_throttled_total{kind=\"user\"} 1\n"));
	free(user);
	free(r);
	ut_http_close(&h);
	char log[4096];
	assert_int_equal(ut_unsd_stop(&gw, SIGTERM, log, sizeof(log)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_then_post),
	    cmocka_unit_test(test_bad_credentials_answer_alike),
	    cmocka_unit_test(test_basic_credentials),
	    cmocka_unit_test(test_token_request_errors),
	    cmocka_unit_test(test_user_rate_limit_429),
	    cmocka_unit_test(test_metrics_after_traffic),
	    cmocka_unit_test(test_openapi_served),
	    cmocka_unit_test(test_standalone_gateway_ops),
	    cmocka_unit_test(test_es256_signing_key),
	    cmocka_unit_test_teardown(test_token_flood, teardown_flood),
	};
	return cmocka_run_group_tests(tests, setup_unsd, teardown_unsd);
}
