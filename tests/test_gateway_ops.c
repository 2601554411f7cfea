/*
 * test_gateway_ops.c — the gateway's metrics and rate limits without HTTP:
 * an app and a user each get their burst then a Retry-After, refilled by
 * an injected clock; buckets are per caller; a forged token spends nobody's
 * bucket; request, latency, in-flight, throttle and RPC-error series land
 * on the registry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#include "auth.h"
#include "gateway_ops.h"
#include "jwt.h"

static const uint8_t secret[] = "0123456789abcdef0123456789abcdef-test";
static const uint8_t other[] = "another-secret-another-secret-another";
static int64_t now_us;

static int64_t
clock_us(void *arg)
{
	(void)arg;
	return now_us;
}

static char *
mint(const uint8_t *key, size_t len, const char *sub, const char *app)
{
	uns_jwt_claims c;
	char *tok = NULL, why[256];
	memset(&c, 0, sizeof(c));
	snprintf(c.sub, sizeof(c.sub), "%s", sub ? sub : "");
	snprintf(c.app_id, sizeof(c.app_id), "%s", app ? app : "");
	snprintf(c.aud, sizeof(c.aud), "uns");
	snprintf(c.scopes, sizeof(c.scopes), "%s",
	         app ? UNS_SCOPE_APP : UNS_SCOPE_USER);
	c.iat = time(NULL);
	c.exp = c.iat + 600;
	assert_int_equal(
	    uns_jwt_mint("HS256", NULL, key, len, &c, &tok, why, sizeof(why)),
	    UNS_OK);
	return tok;
}

typedef struct env {
	uns_metrics *m;
	uns_jwt_keys *keys;
	uns_gw_ops *ops;
} env;

static int
setup(void **state)
{
	env *e = calloc(1, sizeof(*e));
	assert_int_equal(uns_metrics_open(&e->m), UNS_OK);
	assert_int_equal(uns_jwt_keys_alloc(&e->keys), UNS_OK);
	assert_int_equal(
	    uns_jwt_keys_add_secret(e->keys, NULL, secret, sizeof(secret) - 1),
	    UNS_OK);
	uns_gw_ops_config c = {.metrics = e->m,
	                       .keys = e->keys,
	                       .audience = "uns",
	                       .skew_seconds = 60,
	                       .token_cache = 64,
	                       .app_rate = 2,
	                       .app_burst = 4,
	                       .user_rate = 1,
	                       .user_burst = 2,
	                       .now_us = clock_us};
	assert_int_equal(uns_gw_ops_open(&e->ops, &c), UNS_OK);
	now_us = 1000000;
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	env *e = *state;
	uns_gw_ops_close(e->ops);
	uns_jwt_keys_free(e->keys);
	uns_metrics_close(e->m);
	free(e);
	return 0;
}

static int
burst(uns_gw_ops *ops, const char *tok, uint32_t *retry)
{
	int n = 0;
	while (n < 100 && uns_gw_ops_admit(ops, tok, retry)) {
		n++;
	}
	return n;
}

static void
test_limits_per_app_and_user(void **state)
{
	env *e = *state;
	char *app = mint(secret, sizeof(secret) - 1, NULL, "contoso");
	char *app2 = mint(secret, sizeof(secret) - 1, NULL, "fabrikam");
	char *alice = mint(secret, sizeof(secret) - 1, "alice", NULL);
	char *bob = mint(secret, sizeof(secret) - 1, "bob", NULL);
	uint32_t retry = 0;
	assert_int_equal(burst(e->ops, app, &retry), 4);
	assert_int_equal(retry, 1); /* 500 ms rounds up to 1 s */
	assert_int_equal(burst(e->ops, app2, &retry), 4);
	assert_int_equal(burst(e->ops, alice, &retry), 2);
	assert_int_equal(retry, 1);
	assert_int_equal(burst(e->ops, bob, &retry), 2);
	/* Half a second: one more app request, no user request. */
	now_us += 500000;
	assert_int_equal(burst(e->ops, app, &retry), 1);
	assert_int_equal(burst(e->ops, alice, &retry), 0);
	now_us += 500000;
	assert_int_equal(burst(e->ops, alice, &retry), 1);

	char *t = NULL;
	size_t len;
	assert_int_equal(uns_metrics_write(e->m, &t, &len), UNS_OK);
	assert_non_null(
	    strstr(t, "uns_http_throttled_total{kind=\"app\"} 3\n"));
	assert_non_null(
	    strstr(t, "uns_http_throttled_total{kind=\"user\"} 4\n"));
	free(t);
	free(app);
	free(app2);
	free(alice);
	free(bob);
}

static void
test_unverified_tokens_are_not_limited(void **state)
{
	env *e = *state;
	char *forged = mint(other, sizeof(other) - 1, "alice", NULL);
	char *alice = mint(secret, sizeof(secret) - 1, "alice", NULL);
	uint32_t retry = 0;
	/* A forged alice token neither is limited nor spends alice's. */
	assert_int_equal(burst(e->ops, forged, &retry), 100);
	assert_int_equal(burst(e->ops, "not a token", &retry), 100);
	assert_int_equal(burst(e->ops, NULL, &retry), 100);
	assert_int_equal(burst(e->ops, alice, &retry), 2);
	free(forged);
	free(alice);
}

static void
test_request_metrics(void **state)
{
	env *e = *state;
	uns_gw_ops_begin(e->ops);
	uns_gw_ops_begin(e->ops);
	uns_gw_ops_begin(e->ops);
	uns_gw_ops_done(e->ops, "notifications.create", 201, 1500);
	uns_gw_ops_done(e->ops, "notifications.create", 201, 30000);
	uns_gw_ops_rpc_error(e->ops, "notifications.get", UNS_NOT_FOUND);
	uns_gw_ops_done(e->ops, "notifications.get", 404, 800);
	uns_gw_ops_end(e->ops);
	uns_gw_ops_end(e->ops);
	uns_gw_ops_end(e->ops);
	uns_gw_ops_rpc_error(e->ops, "notifications.get", UNS_OK); /* no-op */
	uns_gw_ops_begin(e->ops);
	char *t = NULL;
	size_t len;
	assert_int_equal(uns_metrics_write(e->m, &t, &len), UNS_OK);
	assert_non_null(strstr(t, "uns_http_requests_total{route=\"notificati"
	                          "ons.create\",code=\"201\"} 2\n"));
	assert_non_null(strstr(t, "uns_http_requests_total{route=\"notificati"
	                          "ons.get\",code=\"404\"} 1\n"));
	assert_non_null(strstr(t, "uns_http_request_duration_seconds_bucket{"
	                          "route=\"notifications.create\",le=\"0."
	                          "0025\"} 1\n"));
	assert_non_null(strstr(t, "uns_http_request_duration_seconds_bucket{"
	                          "route=\"notifications.create\",le=\"0.05\"} "
	                          "2\n"));
	assert_non_null(strstr(t, "uns_http_request_duration_seconds_sum{"
	                          "route=\"notifications.create\"} 0.0315\n"));
	assert_non_null(strstr(t, "uns_http_requests_in_flight 1\n"));
	assert_non_null(strstr(t, "uns_gateway_rpc_errors_total{route=\"notif"
	                          "ications.get\",status=\"NOT_FOUND\"} 1\n"));
	free(t);
}

static void
test_without_keys_nothing_is_limited(void **state)
{
	(void)state;
	uns_gw_ops *ops = NULL;
	uns_gw_ops_config c = {.app_rate = 1, .user_rate = 1};
	assert_int_equal(uns_gw_ops_open(&ops, &c), UNS_OK);
	char *alice = mint(secret, sizeof(secret) - 1, "alice", NULL);
	uint32_t retry = 0;
	assert_int_equal(burst(ops, alice, &retry), 100);
	assert_null(uns_gw_ops_metrics(ops));
	uns_gw_ops_done(ops, "x", 200, 1); /* no registry: nothing happens */
	uns_gw_ops_begin(NULL);
	uns_gw_ops_done(NULL, "x", 200, 1);
	uns_gw_ops_end(NULL);
	uns_gw_ops_rpc_error(NULL, "x", UNS_INTERNAL);
	assert_int_equal(uns_gw_ops_admit(NULL, alice, &retry), 1);
	free(alice);
	uns_gw_ops_close(ops);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_limits_per_app_and_user, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_unverified_tokens_are_not_limited, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_request_metrics, setup,
	                                    teardown),
	    cmocka_unit_test(test_without_keys_nothing_is_limited),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
