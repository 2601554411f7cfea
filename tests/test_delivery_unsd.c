/*
 * test_delivery_unsd.c — delivery through a real unsd: Subscribe a webhook
 * over RPC, Post, and the Node reference webhook receiver (TLS, HMAC
 * checked) gets the tap; `unsctl delivery` shows the delivery state; the
 * live tap stream (tap_stream_listen) carries the change; and kill -9 of
 * unsd while the provider fails (taps pending, some claimed) loses none:
 * after the restart the receiver gets the newest cursor.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/util/platform.h>

#include "auth.h"
#include "jwt.h"
#include "receivers.h"
#include "testutil.h"
#include "uns_stubs.h"

#define HOST "contoso.example.com"

struct env {
	char tmp[128], data[160], conf[192], secret[192], taps[192];
	ut_proc p;
	bool running;
	ut_receiver rc;
	bool rc_running;
	char token[2048];
};

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char text[1024];

	assert_non_null(e);
	ut_mkdtemp(e->tmp, sizeof(e->tmp));
	ut_make_certs(e->tmp);
	snprintf(e->data, sizeof(e->data), "%s/data", e->tmp);
	assert_int_equal(mkdir(e->data, 0700), 0);
	snprintf(e->secret, sizeof(e->secret), "%s/webhook.secret", e->tmp);
	ut_write_file(e->secret, "test-webhook-secret-0123456789abcdef\n");
	snprintf(e->taps, sizeof(e->taps), "ipc://%s/taps.ipc", e->tmp);
	snprintf(e->conf, sizeof(e->conf), "%s/unsd.conf", e->tmp);
	snprintf(text, sizeof(text),
	         "push_allow_private = true\n"
	         "push_ca_file = %s/ca.pem\n"
	         "webhook_secret = %s\n"
	         "delivery_backoff = 100ms\n"
	         "delivery_backoff_max = 300ms\n"
	         "delivery_breaker_failures = 1000\n"
	         "tap_stream_listen = %s\n",
	         e->tmp, e->secret, e->taps);
	ut_write_file(e->conf, text);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	if (e->running) {
		ut_unsd_stop(&e->p, SIGKILL, NULL, 0);
	}
	if (e->rc_running) {
		ut_receiver_stop(&e->rc);
	}
	ut_rmdir(e->tmp);
	free(e);
	return 0;
}

static void
unsd_start(struct env *e)
{
	const char *args[] = {"--config", e->conf, "--data", e->data, NULL};

	assert_int_equal(ut_unsd_start(&e->p, "tcp://127.0.0.1:0", args), 0);
	e->running = true;
}

/* A user token for alice, signed with the secret unsd made. */
static void
mint_user(struct env *e)
{
	uint8_t *secret = NULL;
	size_t len = 0;
	char path[256], why[256];

	snprintf(path, sizeof(path), "%s/jwt-hs256.secret", e->data);
	if (uns_jwt_read_secret_file(path, &secret, &len, why, sizeof(why)) !=
	    UNS_OK) {
		fail_msg("secret: %s", why);
	}
	ut_mint_hs256(secret, len, time(NULL), "alice", NULL, HOST,
	              UNS_SCOPE_USER, e->token, sizeof(e->token));
	free(secret);
}

static uns_client *
dial(const struct env *e)
{
	char url[64];
	uns_client *c = NULL;

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", e->p.port);
	if (uns_client_open(&c, url, NULL) != UNS_OK) {
		fail_msg("client: %s", uns_last_message());
	}
	return c;
}

static char *
subscribe_webhook(struct env *e)
{
	Uns__V1__SubscribeRequest req = UNS__V1__SUBSCRIBE_REQUEST__INIT;
	Uns__V1__SubscribeResponse *resp = NULL;
	uns_call_opts o = {.token = e->token, .timeout_ms = 10000};
	uns_client *c = dial(e);
	char url[256];

	snprintf(url, sizeof(url), "%s/hooks/alice", e->rc.base);
	req.device_id = "hook";
	req.platform = UNS__V1__PLATFORM__PLATFORM_WEBHOOK;
	req.push_channel = url;
	if (uns_notifications_subscribe(c, &req, &resp, &o) != UNS_OK) {
		fail_msg("subscribe: %s", uns_last_message());
	}
	char *unsid = strdup(resp->subscription->unsid);
	uns__v1__subscribe_response__free_unpacked(resp, NULL);
	uns_client_close(c);
	return unsid;
}

/* Posts to alice herself; returns the feed's new head (free()). */
static char *
post(struct env *e, const char *app_id)
{
	Uns__V1__PostRequest req = UNS__V1__POST_REQUEST__INIT;
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT;
	Uns__V1__Payload pl = UNS__V1__PAYLOAD__INIT;
	Uns__V1__PostResponse *resp = NULL;
	Uns__V1__FetchRequest freq = UNS__V1__FETCH_REQUEST__INIT;
	Uns__V1__FetchResponse *fresp = NULL;
	uns_call_opts o = {.token = e->token, .timeout_ms = 10000};
	uns_client *c = dial(e);
	char *cursor;

	pl.raw_content = "{}";
	n.app_notification_id = (char *)app_id;
	n.payload = &pl;
	req.notification = &n;
	if (uns_notifications_post(c, &req, &resp, &o) != UNS_OK) {
		fail_msg("post: %s", uns_last_message());
	}
	uns__v1__post_response__free_unpacked(resp, NULL);
	freq.cursor = "latest";
	if (uns_notifications_fetch(c, &freq, &fresp, &o) != UNS_OK) {
		fail_msg("fetch: %s", uns_last_message());
	}
	cursor = strdup(fresp->next_cursor);
	uns__v1__fetch_response__free_unpacked(fresp, NULL);
	uns_client_close(c);
	return cursor;
}

/* Waits for a record of the receiver with status 204 and this cursor. */
static bool
wait_delivered(struct env *e, const char *cursor, int timeout_ms)
{
	for (int i = 0; i < timeout_ms / 50; i++) {
		json_t *recs = ut_receiver_records(&e->rc), *r;
		size_t k;
		bool found = false;
		json_array_foreach(recs, k, r)
		{
			const char *c =
			    json_string_value(json_object_get(r, "cursor"));
			if (json_integer_value(json_object_get(r, "status")) ==
			        204 &&
			    c != NULL && strcmp(c, cursor) == 0) {
				found = true;
			}
		}
		json_decref(recs);
		if (found) {
			return true;
		}
		usleep(50 * 1000);
	}
	return false;
}

static void
t_webhook_through_unsd(void **state)
{
	struct env *e = *state;
	const char *args[] = {"--secret", e->secret, NULL};
	char cmd[4096], out[4096], *cur, *unsid;
	nng_socket sub;
	nng_msg *m;
	FILE *f;
	size_t n;

	ut_require_node();
	ut_receiver_start(&e->rc, "webhook_receiver.js", e->tmp, args);
	e->rc_running = true;
	unsd_start(e);
	mint_user(e);
	assert_int_equal(nng_sub0_open(&sub), 0);
	assert_int_equal(
	    nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, HOST, sizeof(HOST)), 0);
	assert_int_equal(nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 10000), 0);
	assert_int_equal(nng_dial(sub, e->taps, NULL, NNG_FLAG_NONBLOCK), 0);
	nng_msleep(300); /* the pipe must be up before the post */

	unsid = subscribe_webhook(e);
	cur = post(e, "order-1");
	assert_true(wait_delivered(e, cur, 15000));
	json_t *recs = ut_receiver_records(&e->rc);
	json_t *r0 = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(r0, "unsid")),
	                    unsid);
	assert_string_equal(json_string_value(json_object_get(r0, "path")),
	                    "/hooks/alice");
	json_decref(recs);

	assert_int_equal(nng_recvmsg(sub, &m, 0), 0);
	assert_string_equal((char *)nng_msg_body(m), HOST);
	assert_string_equal((char *)nng_msg_body(m) + sizeof(HOST), "alice");
	nng_msg_free(m);
	nng_close(sub);

	/* unsctl delivery shows the delivery state (settled just after the
	 * receiver answered: poll briefly). */
	snprintf(cmd, sizeof(cmd),
	         "%s delivery --url tcp://127.0.0.1:%d --token %s 2>&1",
	         UNS_UNSCTL_PATH, e->p.port, e->token);
	for (int i = 0; i < 100; i++) {
		f = popen(cmd, "r");
		assert_non_null(f);
		n = fread(out, 1, sizeof(out) - 1, f);
		out[n] = '\0';
		assert_int_equal(pclose(f), 0);
		if (strstr(out, " 1      0 ") != NULL) {
			break;
		}
		usleep(50 * 1000);
	}
	print_message("%s", out);
	assert_non_null(strstr(out, unsid));
	assert_non_null(strstr(out, "webhook"));
	assert_non_null(strstr(out, "live"));
	assert_non_null(strstr(out, " 1      0 ")); /* delivered 1, failed 0 */
	free(cur);
	free(unsid);
}

/* kill -9 while the provider answers 503: the taps wait in the outbox
 * (some claimed by the engine); after the restart the newest cursor is
 * delivered. */
static void
t_kill9_then_restart(void **state)
{
	struct env *e = *state;
	const char *args[] = {"--secret", e->secret, NULL};
	char *cur, *unsid, app[16];
	int failed = 0;

	ut_require_node();
	ut_receiver_start(&e->rc, "webhook_receiver.js", e->tmp, args);
	e->rc_running = true;
	unsd_start(e);
	mint_user(e);
	unsid = subscribe_webhook(e);
	ut_receiver_script(&e->rc, 503, 100000, NULL, NULL);
	for (int i = 0; i < 5; i++) {
		snprintf(app, sizeof(app), "n%d", i);
		free(post(e, app));
	}
	cur = post(e, "last");
	for (int i = 0; i < 300 && failed < 2; i++) {
		json_t *recs = ut_receiver_records(&e->rc);
		failed = (int)json_array_size(recs);
		json_decref(recs);
		usleep(20 * 1000);
	}
	assert_true(failed >= 2); /* the engine was retrying */
	assert_int_equal(ut_unsd_stop(&e->p, SIGKILL, NULL, 0), -SIGKILL);
	e->running = false;
	ut_receiver_reset(&e->rc);
	unsd_start(e);
	assert_true(wait_delivered(e, cur, 15000));
	json_t *recs = ut_receiver_records(&e->rc);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(recs, 0), "unsid")),
	                    unsid);
	json_decref(recs);
	free(cur);
	free(unsid);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(t_webhook_through_unsd, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(t_kill9_then_restart, setup,
	                                    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
