/*
 * test_sse.c — the event stream (GET /me/notifications/delta with Accept:
 * text/event-stream) through the standalone uns-gateway in front of a real
 * unsd: events arrive in the order of the feed, each with its cursor as
 * id; a deletion arrives as a "removed" event; a bad token is answered
 * like delta (401, JSON), not streamed; a heartbeat comes when nothing
 * happens; and a reconnect with Last-Event-ID to a gateway started again
 * (what changed while it was down included) loses and repeats nothing.
 *
 * Seen failing: with every event's id set to the page's first cursor (the
 * resume repeated an event), with tombstones skipped, and with the
 * heartbeat off.
 */
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

#define HOST "contoso.example.com"

static char g_dir[256], g_data[320], g_rpc[128], g_gw_conf[400];
static ut_proc g_unsd;

typedef struct event {
	char id[64], type[32];
	char data[2048];
} event;

typedef struct sse {
	CURLM *multi;
	CURL *easy;
	struct curl_slist *hdrs;
	char buf[1 << 16];
	size_t len;
	int done;
	long status;
} sse;

static size_t
keep(char *p, size_t size, size_t n, void *arg)
{
	sse *s = arg;
	size_t len = size * n;
	if (s->len + len < sizeof(s->buf)) {
		memcpy(s->buf + s->len, p, len);
		s->len += len;
		s->buf[s->len] = '\0';
	}
	return len;
}

/* Opens a stream of user's feed at base (Last-Event-ID: last, if any). */
static void
sse_open(sse *s, const char *base, const char *token, const char *last)
{
	char url[256], h[1200];
	memset(s, 0, sizeof(*s));
	snprintf(url, sizeof(url), "%s/beta/me/notifications/delta", base);
	s->hdrs = curl_slist_append(NULL, "Accept: text/event-stream");
	snprintf(h, sizeof(h), "Authorization: Bearer %s", token);
	s->hdrs = curl_slist_append(s->hdrs, h);
	if (last != NULL) {
		snprintf(h, sizeof(h), "Last-Event-ID: %s", last);
		s->hdrs = curl_slist_append(s->hdrs, h);
	}
	s->multi = curl_multi_init();
	s->easy = curl_easy_init();
	curl_easy_setopt(s->easy, CURLOPT_URL, url);
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hdrs);
	curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
	curl_multi_add_handle(s->multi, s->easy);
}

static void
sse_run(sse *s, int ms)
{
	double until = ut_now_ms() + ms;
	do {
		int running;
		curl_multi_perform(s->multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(s->multi, &left))) {
			s->done = 1;
		}
		curl_multi_poll(s->multi, NULL, 0, 20, NULL);
	} while (!s->done && ut_now_ms() < until);
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
}

static void
sse_close(sse *s)
{
	curl_multi_remove_handle(s->multi, s->easy);
	curl_easy_cleanup(s->easy);
	curl_multi_cleanup(s->multi);
	curl_slist_free_all(s->hdrs);
}

/* The events in the buffer (comments skipped) into ev; how many. */
static int
sse_events(const sse *s, event *ev, int max, int *comments)
{
	int n = 0;
	*comments = 0;
	for (const char *p = s->buf; *p && n < max;) {
		const char *end = strstr(p, "\n\n");
		if (end == NULL) {
			break;
		}
		event e;
		memset(&e, 0, sizeof(e));
		int fields = 0;
		for (const char *l = p; l < end;) {
			const char *nl = memchr(l, '\n', (size_t)(end - l));
			size_t len = (size_t)((nl ? nl : end) - l);
			if (len > 0 && l[0] == ':') {
				(*comments)++;
			} else if (strncmp(l, "id: ", 4) == 0) {
				snprintf(e.id, sizeof(e.id), "%.*s",
				         (int)len - 4, l + 4);
				fields++;
			} else if (strncmp(l, "event: ", 7) == 0) {
				snprintf(e.type, sizeof(e.type), "%.*s",
				         (int)len - 7, l + 7);
				fields++;
			} else if (strncmp(l, "data: ", 6) == 0) {
				snprintf(e.data, sizeof(e.data), "%.*s",
				         (int)len - 6, l + 6);
				fields++;
			}
			l = nl ? nl + 1 : end;
		}
		if (fields > 0 && e.type[0] != '\0') {
			ev[n++] = e;
		}
		p = end + 2;
	}
	return n;
}

/* Drives s until it holds want events (or ms pass); how many it holds. */
static int
sse_wait(sse *s, event *ev, int want, int ms)
{
	int n = 0, comments;
	for (double until = ut_now_ms() + ms;
	     (n = sse_events(s, ev, 64, &comments)) < want && !s->done &&
	     ut_now_ms() < until;) {
		sse_run(s, 50);
	}
	return n;
}

static char *
post(const char *base, const char *token, const char *aid)
{
	ut_http h;
	char body[256];
	ut_http_open(&h, base, NULL);
	ut_http_resp *r = ut_http_resp_new();
	snprintf(body, sizeof(body),
	         "{\"targetHostName\":\"" HOST "\",\"appNotificationId\":"
	         "\"%s\",\"payload\":{\"visualContent\":{\"title\":\"%s\"}}}",
	         aid, aid);
	long st = ut_http_do(&h, "POST", "/beta/me/notifications", token, body,
	                     0, NULL, r);
	if (st != 201) {
		fail_msg("post %s: %ld %s", aid, st, r->body);
	}
	json_t *v = ut_http_json(r);
	char *id = strdup(ut_json_str(v, "id"));
	json_decref(v);
	free(r);
	ut_http_close(&h);
	return id;
}

static void
delete_one(const char *base, const char *token, const char *id)
{
	ut_http h;
	char path[256];
	ut_http_open(&h, base, NULL);
	ut_http_resp *r = ut_http_resp_new();
	snprintf(path, sizeof(path), "/beta/me/notifications/%s", id);
	assert_int_equal(
	    ut_http_do(&h, "DELETE", path, token, NULL, 0, NULL, r), 204);
	free(r);
	ut_http_close(&h);
}

/* The title of a notification event's data. */
static void
title_of(const event *e, char *out, size_t cap)
{
	json_t *v = json_loads(e->data, 0, NULL);
	assert_non_null(v);
	json_t *t = json_object_get(
	    json_object_get(json_object_get(v, "payload"), "visualContent"),
	    "title");
	snprintf(out, cap, "%s", json_string_value(t));
	json_decref(v);
}

static int
setup(void **state)
{
	char conf[400];
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_ALL);
	ut_mkdtemp(g_dir, sizeof(g_dir));
	snprintf(g_data, sizeof(g_data), "%s/data", g_dir);
	mkdir(g_data, 0700);
	snprintf(conf, sizeof(conf), "%s/unsd.conf", g_dir);
	ut_write_file(conf, "rate_limit_user = 0\nrate_limit_app = 0\n");
	snprintf(g_gw_conf, sizeof(g_gw_conf), "%s/gw.conf", g_dir);
	ut_write_file(g_gw_conf, "rate_limit_user = 0\nrate_limit_app = 0\n"
	                         "gateway_stream_heartbeat = 500ms\n");
	const char *args[] = {"--config", conf, "--data", g_data, NULL};
	if (ut_unsd_start(&g_unsd, "tcp://127.0.0.1:0", args) != 0) {
		return -1;
	}
	snprintf(g_rpc, sizeof(g_rpc), "tcp://127.0.0.1:%d", g_unsd.port);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	int rc = ut_unsd_stop(&g_unsd, SIGTERM, NULL, 0);
	ut_rmdir(g_dir);
	curl_global_cleanup();
	return rc == 0 ? 0 : -1;
}

static void
test_order_tombstone_auth(void **state)
{
	ut_proc gw;
	char base[128], title[64];
	static event ev[64];
	sse s;
	(void)state;
	ut_gateway_start(&gw, g_rpc, NULL, g_gw_conf, base, sizeof(base));
	char *token = ut_mint(g_data, "user", "ada", HOST);

	/* A bad token is delta's answer, not a stream. */
	sse_open(&s, base, "not-a-token", NULL);
	sse_run(&s, 10000);
	assert_int_equal(s.status, 401);
	assert_non_null(strstr(s.buf, "\"error\""));
	sse_close(&s);

	sse_open(&s, base, token, NULL);
	sse_run(&s, 1500);
	assert_int_equal(s.status, 200);
	int comments = 0;
	assert_int_equal(sse_events(&s, ev, 64, &comments), 0);
	assert_true(comments >= 1); /* heartbeats while nothing happens */
	char *ids[5];
	char aid[16];
	for (int i = 0; i < 5; i++) {
		snprintf(aid, sizeof(aid), "n%d", i);
		ids[i] = post(base, token, aid);
	}
	delete_one(base, token, ids[2]);
	assert_int_equal(sse_wait(&s, ev, 6, 20000), 6);
	for (int i = 0; i < 5; i++) {
		assert_string_equal(ev[i].type, "notification");
		snprintf(aid, sizeof(aid), "n%d", i);
		title_of(&ev[i], title, sizeof(title));
		assert_string_equal(title, aid);
		if (i > 0) { /* cursors grow with the feed */
			assert_true(strcmp(ev[i].id, ev[i - 1].id) > 0);
		}
	}
	assert_string_equal(ev[5].type, "removed");
	assert_non_null(strstr(ev[5].data, ids[2]));
	assert_non_null(strstr(ev[5].data, "\"reason\":\"deleted\""));
	sse_close(&s);
	for (int i = 0; i < 5; i++) {
		free(ids[i]);
	}
	free(token);
	assert_int_equal(ut_unsd_stop(&gw, SIGTERM, NULL, 0), 0);
}

static void
test_resume_across_restart(void **state)
{
	ut_proc gw;
	char base[128], title[64], last[64];
	static event ev[64];
	sse s;
	(void)state;
	ut_gateway_start(&gw, g_rpc, NULL, g_gw_conf, base, sizeof(base));
	char *token = ut_mint(g_data, "user", "grace", HOST);
	sse_open(&s, base, token, NULL);
	sse_run(&s, 300);
	free(post(base, token, "a"));
	free(post(base, token, "b"));
	assert_int_equal(sse_wait(&s, ev, 2, 20000), 2);
	snprintf(last, sizeof(last), "%s", ev[1].id);

	/* The gateway stops: the stream ends cleanly. */
	assert_int_equal(ut_unsd_stop(&gw, SIGTERM, NULL, 0), 0);
	sse_run(&s, 10000);
	assert_true(s.done);
	assert_int_equal(sse_wait(&s, ev, 64, 0), 2);
	sse_close(&s);

	/* A new gateway; changes the client has not seen yet; it comes
	 * back with the last id it saw. */
	ut_proc gw2;
	char base2[128];
	ut_gateway_start(&gw2, g_rpc, NULL, g_gw_conf, base2, sizeof(base2));
	free(post(base2, token, "c"));
	free(post(base2, token, "d"));
	sse_open(&s, base2, token, last);
	assert_int_equal(sse_wait(&s, ev, 2, 20000), 2);
	free(post(base2, token, "e"));
	assert_int_equal(sse_wait(&s, ev, 3, 20000), 3);
	sse_run(&s, 1200); /* nothing more comes */
	int comments;
	assert_int_equal(sse_events(&s, ev, 64, &comments), 3);
	const char *want[] = {"c", "d", "e"};
	for (int i = 0; i < 3; i++) {
		title_of(&ev[i], title, sizeof(title));
		assert_string_equal(title, want[i]);
	}
	sse_close(&s);
	free(token);
	assert_int_equal(ut_unsd_stop(&gw2, SIGTERM, NULL, 0), 0);
}

/* A stream whose first Fetch is still in flight when SIGTERM comes (unsd
 * stopped meanwhile, so the Fetch waits) starts after the close ended the
 * streams: it gets its first events and ends, and the gateway exits 0.
 * Seen failing without the registry's ending flag: the late stream kept
 * fetching, stayed suspended, and MHD_stop_daemon aborted the gateway
 * ("called while we have suspended connections") after 10 s. */
static void
test_stop_while_opening(void **state)
{
	ut_proc gw;
	char base[128], out[8192];
	sse s;
	(void)state;
	ut_gateway_start(&gw, g_rpc, NULL, g_gw_conf, base, sizeof(base));
	char *token = ut_mint(g_data, "user", "linus", HOST);
	free(post(base, token, "before"));
	kill(g_unsd.pid, SIGSTOP);
	sse_open(&s, base, token, NULL);
	sse_run(&s, 300); /* the request is parked on its first Fetch */
	kill(gw.pid, SIGTERM);
	struct timespec ts = {0, 300 * 1000 * 1000};
	nanosleep(&ts, NULL); /* the close has ended the streams it had */
	kill(g_unsd.pid, SIGCONT);
	sse_run(&s, 20000);
	int rc = ut_unsd_stop(&gw, 0, out, sizeof(out));
	if (rc != 0) {
		fail_msg("uns-gateway exited %d:\n%s", rc, out);
	}
	assert_true(s.done);
	assert_int_equal(s.status, 200);
	event ev[4];
	assert_int_equal(sse_wait(&s, ev, 4, 0), 1);
	assert_string_equal(ev[0].type, "notification");
	sse_close(&s);
	free(token);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_tombstone_auth),
	    cmocka_unit_test(test_resume_across_restart),
	    cmocka_unit_test(test_stop_while_opening),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
