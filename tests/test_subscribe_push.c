/*
 * test_subscribe_push.c — Subscribe over RPC checks each push channel
 * with its transport (server/service/notify.c -> push.h check()): a bad channel
 * is INVALID_ARGUMENT whose message starts with the field at fault
 * ("pushChannel", "webPush.endpoint", "webPush.keys.p256dh",
 * "webPush.keys.auth"), and it stores nothing: the same device
 * subscribing afterwards with a good channel is created, not renewed.
 *
 * The server runs with the production rules (no private addresses,
 * default allow-lists) except that the Web Push and WNS allow-lists name
 * a public IPv4 literal, so good subscriptions check out without DNS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "utservice.h"

#include "auth.h"
#include "b64url.h"
#include "config.h"
#include "crypto.h"
#include "jwt.h"
#include "push.h"
#include "store.h"
#include "uns_stubs.h"

#define HOST   "a.example.com"
#define PUBLIC "93.184.216.34"

typedef struct env {
	char dir[256];
	uns_push_config *push;
	ut_service s;
	char token[2048];
	char p256dh[96], auth_secret[32];
} env;

static void
open_push(env *e)
{
	static uns_config c;
	char why[512];

	uns_config_defaults(&c);
	assert_int_equal(uns_push_add_keys(&c), UNS_OK);
	assert_int_equal(uns_config_set(&c, "data_dir", e->dir, why, 512),
	                 UNS_OK);
	assert_int_equal(
	    uns_config_set(&c, "webpush_hosts", PUBLIC, why, sizeof(why)),
	    UNS_OK);
	assert_int_equal(uns_config_set(&c, "wns_hosts",
	                                "*.notify.windows.com," PUBLIC, why,
	                                sizeof(why)),
	                 UNS_OK);
	if (uns_push_config_alloc(&e->push, &c, why, sizeof(why)) != UNS_OK) {
		fail_msg("push config: %s", why);
	}
}

static int
setup(void **state)
{
	env *e = calloc(1, sizeof(*e));
	uint8_t priv[32], pub[65], auth[16];

	ut_mkdtemp(e->dir, sizeof(e->dir));
	open_push(e);
	ut_service_opts o = {.push = e->push};
	ut_service_start(&e->s, e->dir, &o);
	ut_service_mint(e->token, sizeof(e->token), time(NULL), "alice", NULL,
	                HOST, UNS_SCOPE_USER);
	assert_int_equal(uns_p256_keygen(priv, pub), UNS_OK);
	assert_int_equal(uns_random(auth, sizeof(auth)), UNS_OK);
	uns_b64url_encode(pub, sizeof(pub), e->p256dh);
	uns_b64url_encode(auth, sizeof(auth), e->auth_secret);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	env *e = *state;

	ut_service_stop(&e->s);
	uns_push_config_free(e->push);
	ut_rmdir(e->dir);
	free(e);
	return 0;
}

/* Subscribes device; returns the status, *created when OK. */
static uns_err
subscribe(env *e, const char *device, Uns__V1__Platform platform,
          const char *channel, const Uns__V1__WebPushSubscription *web,
          int *created)
{
	Uns__V1__SubscribeRequest req = UNS__V1__SUBSCRIBE_REQUEST__INIT;
	Uns__V1__SubscribeResponse *resp = NULL;
	uns_call_opts o = {.token = e->token, .timeout_ms = 20000};
	uns_err err;

	req.device_id = (char *)device;
	req.platform = platform;
	req.push_channel = (char *)(channel ? channel : "");
	req.web_push = (Uns__V1__WebPushSubscription *)web;
	err = uns_notifications_subscribe(e->s.client, &req, &resp, &o);
	if (err == UNS_OK) {
		if (created != NULL) {
			*created = resp->created;
		}
		uns__v1__subscribe_response__free_unpacked(resp, NULL);
	}
	return err;
}

/* A refused subscription: INVALID_ARGUMENT, "field: …frag…". */
static void
expect_refused(env *e, const char *device, Uns__V1__Platform platform,
               const char *channel, const Uns__V1__WebPushSubscription *web,
               const char *field, const char *frag)
{
	uns_err err = subscribe(e, device, platform, channel, web, NULL);
	const char *msg = uns_last_message();
	size_t fl = strlen(field);

	if (err != UNS_INVALID_ARGUMENT || strncmp(msg, field, fl) != 0 ||
	    msg[fl] != ':' || strstr(msg, frag) == NULL) {
		fail_msg("%s: got %s \"%s\", expected %s: …%s…", device,
		         uns_status_name(err), msg, field, frag);
	}
}

static void
t_webhook(void **state)
{
	env *e = *state;
	int created = 0;

	expect_refused(e, "hook", UNS__V1__PLATFORM__PLATFORM_WEBHOOK,
	               "https://127.0.0.1:8443/hook", NULL, "pushChannel",
	               "loopback");
	expect_refused(e, "hook", UNS__V1__PLATFORM__PLATFORM_WEBHOOK,
	               "https://169.254.169.254/latest/meta-data", NULL,
	               "pushChannel", "link-local");
	expect_refused(e, "hook", UNS__V1__PLATFORM__PLATFORM_WEBHOOK,
	               "http://" PUBLIC "/hook", NULL, "pushChannel", "https");
	expect_refused(e, "hook", UNS__V1__PLATFORM__PLATFORM_WEBHOOK,
	               "https://u:p@" PUBLIC "/hook", NULL, "pushChannel",
	               "user information");
	/* Nothing was stored: the first good one is created. */
	assert_int_equal(subscribe(e, "hook",
	                           UNS__V1__PLATFORM__PLATFORM_WEBHOOK,
	                           "https://" PUBLIC "/hook", NULL, &created),
	                 UNS_OK);
	assert_true(created);
}

static void
t_webpush(void **state)
{
	env *e = *state;
	Uns__V1__WebPushSubscription w = UNS__V1__WEB_PUSH_SUBSCRIPTION__INIT;
	int created = 0;

	w.endpoint = "https://" PUBLIC "/push/abc";
	w.p256dh = "BAAAA";
	w.auth = e->auth_secret;
	expect_refused(e, "browser", UNS__V1__PLATFORM__PLATFORM_WEB_PUSH, NULL,
	               &w, "webPush.keys.p256dh", "P-256");
	w.p256dh = e->p256dh;
	w.auth = "c2hvcnQ";
	expect_refused(e, "browser", UNS__V1__PLATFORM__PLATFORM_WEB_PUSH, NULL,
	               &w, "webPush.keys.auth", "16 bytes");
	w.auth = e->auth_secret;
	w.endpoint = "https://push.attacker.example/x";
	expect_refused(e, "browser", UNS__V1__PLATFORM__PLATFORM_WEB_PUSH, NULL,
	               &w, "webPush.endpoint", "allow-list");
	w.endpoint = "https://" PUBLIC "/push/abc";
	assert_int_equal(subscribe(e, "browser",
	                           UNS__V1__PLATFORM__PLATFORM_WEB_PUSH, NULL,
	                           &w, &created),
	                 UNS_OK);
	assert_true(created);
}

static void
t_tokens(void **state)
{
	env *e = *state;
	int created = 0;

	expect_refused(e, "phone", UNS__V1__PLATFORM__PLATFORM_IOS,
	               "not-hex-at-all", NULL, "pushChannel", "hex digits");
	expect_refused(e, "droid", UNS__V1__PLATFORM__PLATFORM_ANDROID,
	               "bad token with spaces", NULL, "pushChannel",
	               "FCM registration token");
	expect_refused(e, "pc", UNS__V1__PLATFORM__PLATFORM_WINDOWS,
	               "https://collector.example.org/?token=x", NULL,
	               "pushChannel", "allow-list");
	assert_int_equal(subscribe(e, "phone", UNS__V1__PLATFORM__PLATFORM_IOS,
	                           "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5"
	                           "f60718293a4b5c6d7e8f90",
	                           NULL, &created),
	                 UNS_OK);
	assert_true(created);
	assert_int_equal(
	    subscribe(e, "droid", UNS__V1__PLATFORM__PLATFORM_ANDROID,
	              "dQw4w9WgXcQ:APA91bH-example_token", NULL, &created),
	    UNS_OK);
	assert_true(created);
	assert_int_equal(subscribe(e, "pc", UNS__V1__PLATFORM__PLATFORM_WINDOWS,
	                           "https://" PUBLIC "/?token=AwYAAAB", NULL,
	                           &created),
	                 UNS_OK);
	assert_true(created);
	/* Polling has no channel and no transport. */
	assert_int_equal(subscribe(e, "poll",
	                           UNS__V1__PLATFORM__PLATFORM_POLLING, NULL,
	                           NULL, &created),
	                 UNS_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_webhook),
	    cmocka_unit_test(t_webpush),
	    cmocka_unit_test(t_tokens),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
