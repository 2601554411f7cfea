/*
 * test_push.c — the push transports (server/push*.c) on their own, without
 * the delivery engine: the shared endpoint checks (SSRF guard, allow-lists,
 * URL shapes), each transport's build() (every header, token claims and
 * signature, body bytes, checked with mbedTLS or by hand rather than with
 * the code under test) and classify() (each status and error code), and a
 * round trip per transport: build() output sent with a plain curl easy
 * handle to the transport's Node reference receiver (tests/node/), which
 * checks every byte independently and records what it accepted.
 *
 * The group setup makes a temporary directory with development TLS
 * certificates for "localhost"; the receivers use them, and the push
 * configuration trusts their CA (push_ca_file).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <cmocka.h>

#include <jansson.h>
#include <mbedtls/md.h>

#include "config.h"
#include "crypto.h"
#include "push.h"
#include "receivers.h"
#include "testutil.h"

#define NOW_MS INT64_C(1700000000000)
#define WHY    512

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	ut_mkdtemp(dir, sizeof(dir));
	ut_make_certs(dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	ut_rmdir(dir);
	return 0;
}

/* A push configuration over the defaults, data_dir = dir, the test CA
 * trusted, and pairs of key, value (NULL-terminated). */
static uns_push_config *
make_cfg(bool allow_private, const char *const *kv)
{
	static uns_config c;
	uns_push_config *p = NULL;
	char why[WHY], ca[128];

	uns_config_defaults(&c);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	assert_int_equal(uns_config_set(&c, "data_dir", dir, why, WHY), UNS_OK);
	assert_int_equal(uns_config_set(&c, "push_ca_file", ca, why, WHY),
	                 UNS_OK);
	assert_int_equal(uns_config_set(&c, "push_allow_private",
	                                allow_private ? "true" : "false", why,
	                                WHY),
	                 UNS_OK);
	for (int i = 0; kv != NULL && kv[i] != NULL; i += 2) {
		if (uns_config_set(&c, kv[i], kv[i + 1], why, WHY) != UNS_OK) {
			fail_msg("%s: %s", kv[i], why);
		}
	}
	if (uns_push_config_alloc(&p, &c, why, WHY) != UNS_OK) {
		fail_msg("uns_push_config_alloc: %s", why);
	}
	return p;
}

/* The value of header name in r, or NULL. */
static const char *
header_of(const uns_push_request *r, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < r->nheaders; i++) {
		if (strncasecmp(r->headers[i], name, nl) == 0 &&
		    r->headers[i][nl] == ':') {
			return r->headers[i] + nl + 2;
		}
	}
	return NULL;
}

/* A response with a status, a body and one optional header. */
typedef struct fake {
	const char *hname, *hvalue;
} fake;

static const char *
fake_header(void *arg, const char *name)
{
	fake *f = arg;

	return f->hname && strcasecmp(name, f->hname) == 0 ? f->hvalue : NULL;
}

static uns_push_outcome
classify(const uns_push_transport_ops *ops, uns_push_transport *t, long status,
         const char *body, const char *hname, const char *hvalue,
         int64_t *retry)
{
	fake f = {hname, hvalue};
	uns_push_response r = {status,      body, body ? strlen(body) : 0,
	                       fake_header, &f,   NOW_MS};

	return ops->classify(t, &r, retry);
}

/* ---- shared checks ------------------------------------------------------- */

static bool
allowed(const uns_push_config *cfg, const char *ip)
{
	struct sockaddr_in in4 = {.sin_family = AF_INET};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};

	if (inet_pton(AF_INET, ip, &in4.sin_addr) == 1) {
		return uns_push_addr_allowed(cfg, (struct sockaddr *)&in4);
	}
	assert_int_equal(inet_pton(AF_INET6, ip, &in6.sin6_addr), 1);
	return uns_push_addr_allowed(cfg, (struct sockaddr *)&in6);
}

static void
t_addr_allowed(void **state)
{
	static const char *const blocked[] = {
	    "127.0.0.1",
	    "10.1.2.3",
	    "172.16.0.1",
	    "172.31.255.255",
	    "192.168.1.1",
	    "169.254.169.254",
	    "100.64.0.1",
	    "0.0.0.0",
	    "224.0.0.1",
	    "255.255.255.255",
	    "::1",
	    "::",
	    "fe80::1",
	    "fc00::1",
	    "fd12:3456::1",
	    "ff02::1",
	    "::ffff:127.0.0.1",
	    "::ffff:10.0.0.1",
	    "64:ff9b::a00:1",
	};
	static const char *const open[] = {
	    "8.8.8.8",         "93.184.216.34",  "172.32.0.1",
	    "2606:4700::1111", "::ffff:8.8.8.8",
	};
	uns_push_config *strict = make_cfg(false, NULL);
	uns_push_config *lax = make_cfg(true, NULL);

	(void)state;
	for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++) {
		if (allowed(strict, blocked[i])) {
			fail_msg("%s was allowed", blocked[i]);
		}
		assert_true(allowed(lax, blocked[i]));
	}
	for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++) {
		if (!allowed(strict, open[i])) {
			fail_msg("%s was refused", open[i]);
		}
	}
	uns_push_config_free(strict);
	uns_push_config_free(lax);
}

/* check() of a webhook URL: OK or the reason's fragment. */
static void
expect_webhook(const uns_push_config *cfg, const char *url, const char *frag)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEBHOOK);
	Uns__V1__Subscription sub = UNS__V1__SUBSCRIPTION__INIT;
	const char *field = NULL;
	char why[WHY] = "";
	uns_err err;

	sub.platform = UNS__V1__PLATFORM__PLATFORM_WEBHOOK;
	sub.push_channel = (char *)url;
	err = ops->check(cfg, &sub, &field, why, sizeof(why));
	if (frag == NULL) {
		if (err != UNS_OK) {
			fail_msg("%s refused: %s", url, why);
		}
		return;
	}
	if (err != UNS_INVALID_ARGUMENT || strstr(why, frag) == NULL) {
		fail_msg("%s: got %d \"%s\", expected \"%s\"", url, err, why,
		         frag);
	}
	assert_string_equal(field, "pushChannel");
}

static void
t_webhook_check(void **state)
{
	static const char *const hosts[] = {
	    "webhook_hosts", "hooks.example.com, *.corp.example", NULL};
	uns_push_config *strict = make_cfg(false, NULL);
	uns_push_config *lax = make_cfg(true, NULL);
	uns_push_config *listed = make_cfg(true, hosts);

	(void)state;
	expect_webhook(strict, "https://127.0.0.1/hook", "loopback");
	expect_webhook(strict, "https://localhost:8443/hook", "resolves to");
	expect_webhook(strict, "https://10.0.0.7/hook", "private");
	expect_webhook(strict, "https://[::1]:9/hook", "private");
	expect_webhook(strict, "https://169.254.169.254/latest", "link-local");
	expect_webhook(strict, "https://93.184.216.34/hook", NULL);
	expect_webhook(strict, "http://93.184.216.34/hook", "https");
	expect_webhook(strict, "ftp://93.184.216.34/hook", "http(s)");
	expect_webhook(strict, "https://user:pw@93.184.216.34/", "user");
	expect_webhook(strict, "https://93.184.216.34:0/", "port");
	expect_webhook(strict, "https://93.184.216.34:99999/", "port");
	expect_webhook(strict, "https:///nohost", "no host");
	expect_webhook(strict, "https://93.184.216.34/a b", "space");
	expect_webhook(strict, "https://no-such-host.invalid/", "resolve");
	expect_webhook(lax, "https://localhost:8443/hook", NULL);
	expect_webhook(lax, "https://127.0.0.1/hook", NULL);
	expect_webhook(listed, "https://hooks.example.com/x", "resolve");
	expect_webhook(listed, "https://evil.example.org/x", "allow-list");
	expect_webhook(listed, "https://corp.example/x", "allow-list");
	expect_webhook(listed, "https://a.b.corp.example/x", "resolve");
	expect_webhook(listed, "https://localhost/x", "allow-list");
	uns_push_config_free(strict);
	uns_push_config_free(lax);
	uns_push_config_free(listed);
}

static void
t_table(void **state)
{
	static const struct {
		Uns__V1__Platform p;
		const char *name;
	} want[] = {
	    {UNS__V1__PLATFORM__PLATFORM_WEBHOOK, "webhook"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const uns_push_transport_ops *ops = uns_push_find(want[i].p);
		assert_non_null(ops);
		assert_string_equal(ops->name, want[i].name);
	}
	assert_null(uns_push_find(UNS__V1__PLATFORM__PLATFORM_POLLING));
	assert_null(uns_push_find(UNS__V1__PLATFORM__PLATFORM_UNSPECIFIED));
}

/* ---- webhook --------------------------------------------------------------
 */

static void
webhook_tap(uns_tap *tap, Uns__V1__Subscription *sub, const char *url)
{
	*sub = (Uns__V1__Subscription)UNS__V1__SUBSCRIPTION__INIT;
	sub->unsid = "unsid-1";
	sub->platform = UNS__V1__PLATFORM__PLATFORM_WEBHOOK;
	sub->push_channel = (char *)url;
	memset(tap, 0, sizeof(*tap));
	tap->user = "alice";
	tap->host = "contoso.example.com";
	tap->cursor = "c42";
	tap->sub = sub;
	tap->now_ms = NOW_MS;
}

static void
t_webhook_build(void **state)
{
	static const char *const kv[] = {"webhook_secret", NULL, NULL};
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEBHOOK);
	char secret_path[128], want[80], hex[65];
	const char *kv2[] = {"webhook_secret", secret_path, NULL};
	static const char body[] = "{\"unsid\":\"unsid-1\",\"cursor\":\"c42\"}";
	static const char secret[] = "an-hmac-secret-of-some-length";
	uint8_t mac[32];
	uns_push_config *cfg;
	uns_push_transport *t;
	uns_push_request r = {0};
	Uns__V1__Subscription sub;
	uns_tap tap;
	FILE *f;

	(void)state;
	(void)kv;
	snprintf(secret_path, sizeof(secret_path), "%s/hook.secret", dir);
	f = fopen(secret_path, "w");
	fprintf(f, "%s\n", secret);
	fclose(f);
	cfg = make_cfg(true, kv2);
	assert_int_equal(ops->open(&t, cfg), UNS_OK);
	webhook_tap(&tap, &sub, "https://hooks.example.com/uns?x=1");
	assert_int_equal(ops->build(t, &tap, &r), UNS_OK);
	assert_string_equal(r.url, "https://hooks.example.com/uns?x=1");
	assert_false(r.http2);
	assert_int_equal(r.body_len, strlen(body));
	assert_memory_equal(r.body, body, r.body_len);
	assert_int_equal(r.nheaders, 3);
	assert_string_equal(header_of(&r, "Content-Type"), "application/json");
	assert_string_equal(header_of(&r, "UNS-Timestamp"), "1700000000");
	/* HMAC-SHA256(secret, "1700000000." body), with mbedTLS directly. */
	snprintf(want, sizeof(want), "1700000000.");
	{
		char msg[256];
		snprintf(msg, sizeof(msg), "1700000000.%s", body);
		assert_int_equal(
		    mbedtls_md_hmac(
		        mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
		        (const unsigned char *)secret, strlen(secret),
		        (const unsigned char *)msg, strlen(msg), mac),
		    0);
	}
	for (int i = 0; i < 32; i++) {
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	}
	snprintf(want, sizeof(want), "v1=%s", hex);
	assert_string_equal(header_of(&r, "UNS-Signature"), want);
	uns_push_request_free(&r);
	ops->close(t);
	uns_push_config_free(cfg);
}

static void
t_webhook_classify(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEBHOOK);
	int64_t retry = 0;

	(void)state;
	assert_int_equal(classify(ops, NULL, 200, NULL, 0, 0, &retry),
	                 UNS_PUSH_DELIVERED);
	assert_int_equal(retry, -1);
	assert_int_equal(classify(ops, NULL, 204, NULL, 0, 0, &retry),
	                 UNS_PUSH_DELIVERED);
	assert_int_equal(classify(ops, NULL, 410, NULL, 0, 0, &retry),
	                 UNS_PUSH_DEAD);
	assert_int_equal(classify(ops, NULL, 404, NULL, 0, 0, &retry),
	                 UNS_PUSH_DEAD);
	assert_int_equal(
	    classify(ops, NULL, 429, NULL, "Retry-After", "7", &retry),
	    UNS_PUSH_RETRY);
	assert_int_equal(retry, 7000);
	/* An HTTP-date 90 s after NOW_MS. */
	assert_int_equal(classify(ops, NULL, 503, NULL, "Retry-After",
	                          "Tue, 14 Nov 2023 22:14:50 GMT", &retry),
	                 UNS_PUSH_RETRY);
	assert_int_equal(retry, 90000);
	assert_int_equal(classify(ops, NULL, 500, NULL, 0, 0, &retry),
	                 UNS_PUSH_RETRY);
	assert_int_equal(retry, -1);
	assert_int_equal(classify(ops, NULL, 0, NULL, 0, 0, &retry),
	                 UNS_PUSH_RETRY);
	assert_int_equal(classify(ops, NULL, 408, NULL, 0, 0, &retry),
	                 UNS_PUSH_RETRY);
	assert_int_equal(classify(ops, NULL, 401, NULL, 0, 0, &retry),
	                 UNS_PUSH_REJECTED);
	assert_int_equal(classify(ops, NULL, 400, NULL, 0, 0, &retry),
	                 UNS_PUSH_REJECTED);
	assert_int_equal(classify(ops, NULL, 413, NULL, 0, 0, &retry),
	                 UNS_PUSH_REJECTED);
}

/* build() to the Node receiver through curl; it checks the signature. */
static void
t_webhook_receiver(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEBHOOK);
	char secret_path[128], url[256];
	const char *args[] = {"--secret", secret_path, NULL};
	uns_push_config *cfg = make_cfg(true, NULL);
	uns_push_transport *t;
	uns_push_request r = {0};
	uns_push_response resp;
	Uns__V1__Subscription sub;
	ut_receiver rc;
	ut_answer a;
	uns_tap tap;
	int64_t retry;
	json_t *recs, *rec;

	(void)state;
	/* The secret unsd made on first use in DATA/push/. */
	snprintf(secret_path, sizeof(secret_path), "%s/push/webhook.secret",
	         dir);
	ut_receiver_start(&rc, "webhook_receiver.js", dir, args);
	snprintf(url, sizeof(url), "%s/hooks/alice", rc.base);
	assert_int_equal(ops->open(&t, cfg), UNS_OK);
	webhook_tap(&tap, &sub, url);
	tap.now_ms = (int64_t)time(NULL) * 1000;
	assert_int_equal(ops->build(t, &tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	assert_int_equal(a.status, 204);
	ut_answer_response(&a, &resp, tap.now_ms);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_DELIVERED);
	/* A scripted 429 with Retry-After, then a 410. */
	ut_receiver_script(&rc, 429, 1, "3", NULL);
	ut_receiver_script(&rc, 410, 1, NULL, NULL);
	assert_true(ut_send(&r, rc.ca, &a));
	ut_answer_response(&a, &resp, tap.now_ms);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_RETRY);
	assert_int_equal(retry, 3000);
	assert_true(ut_send(&r, rc.ca, &a));
	ut_answer_response(&a, &resp, tap.now_ms);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_DEAD);
	uns_push_request_free(&r);
	/* A stale timestamp is refused by the receiver (replay window). */
	tap.now_ms -= 3600 * 1000;
	assert_int_equal(ops->build(t, &tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	assert_int_equal(a.status, 401);
	uns_push_request_free(&r);
	/* The records: accepted, two scripted, one refused. */
	recs = ut_receiver_records(&rc);
	assert_int_equal(json_array_size(recs), 4);
	rec = json_array_get(recs, 0);
	assert_true(json_is_true(json_object_get(rec, "ok")));
	assert_string_equal(json_string_value(json_object_get(rec, "unsid")),
	                    "unsid-1");
	assert_string_equal(json_string_value(json_object_get(rec, "cursor")),
	                    "c42");
	assert_string_equal(json_string_value(json_object_get(rec, "path")),
	                    "/hooks/alice");
	rec = json_array_get(recs, 3);
	assert_true(json_is_false(json_object_get(rec, "ok")));
	assert_non_null(strstr(
	    json_string_value(json_object_get(rec, "reason")), "replay"));
	json_decref(recs);
	ut_receiver_stop(&rc);
	ops->close(t);
	uns_push_config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_table),
	    cmocka_unit_test(t_addr_allowed),
	    cmocka_unit_test(t_webhook_check),
	    cmocka_unit_test(t_webhook_build),
	    cmocka_unit_test(t_webhook_classify),
	    cmocka_unit_test(t_webhook_receiver),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
