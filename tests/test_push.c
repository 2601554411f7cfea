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
	    {UNS__V1__PLATFORM__PLATFORM_WEB_PUSH, "webpush"},
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

/* ---- Web Push ------------------------------------------------------------ */

typedef struct ua_keys {
	uint8_t priv[32], pub[65], auth[16];
	char p256dh[96], authb64[32];
} ua_keys;

static void
ua_make(ua_keys *k)
{
	assert_int_equal(uns_p256_keygen(k->priv, k->pub), UNS_OK);
	assert_int_equal(uns_random(k->auth, sizeof(k->auth)), UNS_OK);
	uns_b64url_encode(k->pub, 65, k->p256dh);
	uns_b64url_encode(k->auth, 16, k->authb64);
}

static void
expect_webpush(const uns_push_config *cfg, const char *endpoint,
               const char *p256dh, const char *auth, const char *want_field,
               const char *frag)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEB_PUSH);
	Uns__V1__Subscription sub = UNS__V1__SUBSCRIPTION__INIT;
	Uns__V1__WebPushSubscription w = UNS__V1__WEB_PUSH_SUBSCRIPTION__INIT;
	const char *field = NULL;
	char why[WHY] = "";
	uns_err err;

	sub.platform = UNS__V1__PLATFORM__PLATFORM_WEB_PUSH;
	w.endpoint = (char *)endpoint;
	w.p256dh = (char *)p256dh;
	w.auth = (char *)auth;
	sub.web_push = &w;
	err = ops->check(cfg, &sub, &field, why, sizeof(why));
	if (want_field == NULL) {
		if (err != UNS_OK) {
			fail_msg("%s refused: %s: %s", endpoint, field, why);
		}
		return;
	}
	if (err != UNS_INVALID_ARGUMENT || strcmp(field, want_field) != 0 ||
	    strstr(why, frag) == NULL) {
		fail_msg("%s: got %d %s \"%s\", expected %s \"%s\"", endpoint,
		         err, field ? field : "-", why, want_field, frag);
	}
}

static void
t_webpush_check(void **state)
{
	static const char *const local[] = {"webpush_hosts", "localhost", NULL};
	uns_push_config *strict = make_cfg(false, NULL);
	uns_push_config *lax = make_cfg(true, local);
	ua_keys k;
	char bad[96], padded[40];
	uint8_t off[65];

	(void)state;
	ua_make(&k);
	expect_webpush(lax, "https://localhost:9/push/1", k.p256dh, k.authb64,
	               NULL, NULL);
	/* Padded base64url (some clients) is tolerated. */
	snprintf(padded, sizeof(padded), "%s==", k.authb64);
	expect_webpush(lax, "https://localhost:9/push/1", k.p256dh, padded,
	               NULL, NULL);
	/* The default allow-list names the browsers' push services. */
	expect_webpush(strict, "https://push.evil.example/x", k.p256dh,
	               k.authb64, "webPush.endpoint", "allow-list");
	expect_webpush(strict, "https://localhost/x", k.p256dh, k.authb64,
	               "webPush.endpoint", "allow-list");
	expect_webpush(lax, "http://localhost:9/push/1", k.p256dh, k.authb64,
	               "webPush.endpoint", "https");
	/* Keys: wrong length, not base64url, not on the curve. */
	expect_webpush(lax, "https://localhost/x", "BAAA", k.authb64,
	               "webPush.keys.p256dh", "65 bytes");
	expect_webpush(lax, "https://localhost/x", "B+//", k.authb64,
	               "webPush.keys.p256dh", "65 bytes");
	memcpy(off, k.pub, 65);
	off[64] ^= 1;
	uns_b64url_encode(off, 65, bad);
	expect_webpush(lax, "https://localhost/x", bad, k.authb64,
	               "webPush.keys.p256dh", "P-256");
	expect_webpush(lax, "https://localhost/x", k.p256dh,
	               "AAECAwQFBgcICQoLDA0O", "webPush.keys.auth", "16 bytes");
	uns_push_config_free(strict);
	uns_push_config_free(lax);
}

typedef struct wp_fixture {
	Uns__V1__Subscription sub;
	Uns__V1__WebPushSubscription w;
	Uns__V1__Notification n;
	Uns__V1__Payload p;
	Uns__V1__VisualContent v;
	uns_tap tap;
} wp_fixture;

static void
wp_tap(wp_fixture *f, const char *endpoint, const char *p256dh,
       const char *auth)
{
	memset(f, 0, sizeof(*f));
	f->sub = (Uns__V1__Subscription)UNS__V1__SUBSCRIPTION__INIT;
	f->w =
	    (Uns__V1__WebPushSubscription)UNS__V1__WEB_PUSH_SUBSCRIPTION__INIT;
	f->n = (Uns__V1__Notification)UNS__V1__NOTIFICATION__INIT;
	f->p = (Uns__V1__Payload)UNS__V1__PAYLOAD__INIT;
	f->v = (Uns__V1__VisualContent)UNS__V1__VISUAL_CONTENT__INIT;
	f->sub.unsid = "unsid-web";
	f->sub.platform = UNS__V1__PLATFORM__PLATFORM_WEB_PUSH;
	f->sub.web_push = &f->w;
	f->w.endpoint = (char *)endpoint;
	f->w.p256dh = (char *)p256dh;
	f->w.auth = (char *)auth;
	f->v.title = "Order shipped";
	f->v.body = "Your order \"42\" left the warehouse";
	f->p.visual_content = &f->v;
	f->n.id = "n-1";
	f->n.payload = &f->p;
	f->n.priority = UNS__V1__PRIORITY__PRIORITY_HIGH;
	f->tap.user = "alice";
	f->tap.host = "contoso.example.com";
	f->tap.cursor = "c7";
	f->tap.sub = &f->sub;
	f->tap.subject = &f->n;
	f->tap.now_ms = NOW_MS;
}

/* Splits "vapid t=JWT, k=KEY" and checks the JWT with k; returns its
 * claims (json_decref them). */
static json_t *
vapid_claims(const char *auth, const uint8_t want_k[65], char *jwt_out)
{
	char t[1024], k[128], *dot;
	uint8_t pub[65], sig[64], hash[32], claims[512];
	long n;

	assert_int_equal(sscanf(auth, "vapid t=%1023[^,], k=%127s", t, k), 2);
	assert_int_equal(uns_b64url_decode(k, strlen(k), pub, 65), 65);
	assert_memory_equal(pub, want_k, 65);
	dot = strrchr(t, '.');
	assert_int_equal(uns_b64url_decode(dot + 1, strlen(dot + 1), sig, 64),
	                 64);
	assert_int_equal(uns_sha256(t, (size_t)(dot - t), hash), UNS_OK);
	assert_int_equal(uns_p256_verify(pub, hash, sig), UNS_OK);
	assert_true(strncmp(t, "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.", 37) ==
	            0); /* {"typ":"JWT","alg":"ES256"} */
	n = uns_b64url_decode(t + 37, (size_t)(dot - t - 37), claims,
	                      sizeof(claims) - 1);
	assert_true(n > 0);
	claims[n] = '\0';
	if (jwt_out != NULL) {
		strcpy(jwt_out, t);
	}
	return json_loads((char *)claims, 0, NULL);
}

static void
t_webpush_build(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEB_PUSH);
	static const char *const kv[] = {"vapid_subject",
	                                 "mailto:ops@contoso.example.com",
	                                 "webpush_ttl", "2h", NULL};
	uns_push_config *cfg = make_cfg(true, kv);
	uns_push_transport *t;
	uns_push_request r = {0}, r2 = {0};
	char path[128], *pubb64 = NULL, why[WHY], jwt1[1024], jwt2[1024];
	uint8_t vapid_pub[65], plain[4096];
	size_t plen = 0;
	wp_fixture f;
	ua_keys k;
	json_t *claims, *doc;

	(void)state;
	ua_make(&k);
	snprintf(path, sizeof(path), "%s/push/vapid.pem", dir);
	assert_int_equal(uns_push_vapid_key(path, false, &pubb64, why, WHY),
	                 UNS_OK);
	assert_int_equal(
	    uns_b64url_decode(pubb64, strlen(pubb64), vapid_pub, 65), 65);
	free(pubb64);
	assert_int_equal(ops->open(&t, cfg), UNS_OK);
	wp_tap(&f, "https://push.example.net:8443/wpush/v2/abc", k.p256dh,
	       k.authb64);
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_string_equal(r.url,
	                    "https://push.example.net:8443/wpush/v2/abc");
	assert_int_equal(r.nheaders, 6);
	assert_string_equal(header_of(&r, "TTL"), "7200");
	assert_string_equal(header_of(&r, "Urgency"), "high");
	assert_string_equal(header_of(&r, "Topic"), "feed");
	assert_string_equal(header_of(&r, "Content-Encoding"), "aes128gcm");
	assert_string_equal(header_of(&r, "Content-Type"),
	                    "application/octet-stream");
	claims = vapid_claims(header_of(&r, "Authorization"), vapid_pub, jwt1);
	assert_non_null(claims);
	assert_string_equal(json_string_value(json_object_get(claims, "aud")),
	                    "https://push.example.net:8443");
	assert_string_equal(json_string_value(json_object_get(claims, "sub")),
	                    "mailto:ops@contoso.example.com");
	assert_int_equal(json_integer_value(json_object_get(claims, "exp")),
	                 NOW_MS / 1000 + 12 * 3600);
	json_decref(claims);
	/* The body decrypts, as a browser would, to cursor and content. */
	assert_int_equal(uns_webpush_decrypt(k.priv, k.auth, r.body, r.body_len,
	                                     plain, sizeof(plain), &plen),
	                 UNS_OK);
	assert_int_equal(r.body_len, plen + 103);
	plain[plen] = '\0';
	assert_string_equal((char *)plain,
	                    "{\"unsid\":\"unsid-web\",\"cursor\":\"c7\","
	                    "\"id\":\"n-1\",\"title\":\"Order shipped\","
	                    "\"body\":\"Your order \\\"42\\\" left the "
	                    "warehouse\"}");
	/* The same origin reuses the token; the expiry caps TTL; Low
	 * priority is low urgency. */
	f.n.expiration_time_ms = NOW_MS + 90 * 1000;
	f.n.priority = UNS__V1__PRIORITY__PRIORITY_LOW;
	f.tap.now_ms += 60 * 1000;
	assert_int_equal(ops->build(t, &f.tap, &r2), UNS_OK);
	assert_string_equal(header_of(&r2, "TTL"), "30");
	assert_string_equal(header_of(&r2, "Urgency"), "low");
	json_decref(
	    vapid_claims(header_of(&r2, "Authorization"), vapid_pub, jwt2));
	assert_string_equal(jwt1, jwt2);
	assert_memory_not_equal(r.body, r2.body, 64); /* fresh key, salt */
	uns_push_request_free(&r2);
	/* Eleven hours later the token is renewed. */
	f.tap.now_ms = NOW_MS + 11 * 3600 * 1000 + 1000;
	f.n.expiration_time_ms = 0;
	assert_int_equal(ops->build(t, &f.tap, &r2), UNS_OK);
	json_decref(
	    vapid_claims(header_of(&r2, "Authorization"), vapid_pub, jwt2));
	assert_string_not_equal(jwt1, jwt2);
	uns_push_request_free(&r2);
	/* A long body is dropped rather than overflow one push. */
	{
		static char big[3000];
		memset(big, '"', sizeof(big) - 1); /* escapes double it */
		f.v.body = big;
		assert_int_equal(ops->build(t, &f.tap, &r2), UNS_OK);
		assert_true(r2.body_len <= 4096);
		assert_int_equal(uns_webpush_decrypt(k.priv, k.auth, r2.body,
		                                     r2.body_len, plain,
		                                     sizeof(plain), &plen),
		                 UNS_OK);
		plain[plen] = '\0';
		doc = json_loads((char *)plain, 0, NULL);
		assert_null(json_object_get(doc, "body"));
		assert_string_equal(
		    json_string_value(json_object_get(doc, "title")),
		    "Order shipped");
		json_decref(doc);
		uns_push_request_free(&r2);
	}
	/* State changes are never pushed to browsers. */
	f.tap.state_change = true;
	assert_int_equal(ops->build(t, &f.tap, &r2), UNS_FAILED_PRECONDITION);
	uns_push_request_free(&r);
	ops->close(t);
	uns_push_config_free(cfg);
}

static void
t_webpush_classify(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEB_PUSH);
	int64_t retry = 0;

	(void)state;
	assert_int_equal(classify(ops, NULL, 201, NULL, 0, 0, &retry),
	                 UNS_PUSH_DELIVERED);
	assert_int_equal(classify(ops, NULL, 404, NULL, 0, 0, &retry),
	                 UNS_PUSH_DEAD);
	assert_int_equal(classify(ops, NULL, 410, NULL, 0, 0, &retry),
	                 UNS_PUSH_DEAD);
	assert_int_equal(
	    classify(ops, NULL, 429, NULL, "Retry-After", "120", &retry),
	    UNS_PUSH_RETRY);
	assert_int_equal(retry, 120000);
	assert_int_equal(classify(ops, NULL, 502, NULL, 0, 0, &retry),
	                 UNS_PUSH_RETRY);
	assert_int_equal(classify(ops, NULL, 413, NULL, 0, 0, &retry),
	                 UNS_PUSH_REJECTED);
	assert_int_equal(classify(ops, NULL, 400, NULL, 0, 0, &retry),
	                 UNS_PUSH_REJECTED);
	assert_int_equal(classify(ops, NULL, 401, NULL, 0, 0, &retry),
	                 UNS_PUSH_REJECTED);
	assert_int_equal(classify(ops, NULL, 403, NULL, 0, 0, &retry),
	                 UNS_PUSH_REJECTED);
}

static void
t_webpush_receiver(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEB_PUSH);
	static const char *const kv[] = {"webpush_hosts", "localhost", NULL};
	uns_push_config *cfg = make_cfg(true, kv);
	char path[128], *pubb64 = NULL, why[WHY];
	const char *args[] = {"--vapid-key", NULL, NULL};
	uns_push_transport *t;
	uns_push_request r = {0};
	uns_push_response resp;
	ut_receiver rc;
	ut_answer a;
	wp_fixture f;
	json_t *s, *recs, *rec, *payload;
	int64_t retry;

	(void)state;
	snprintf(path, sizeof(path), "%s/push/vapid.pem", dir);
	assert_int_equal(uns_push_vapid_key(path, false, &pubb64, why, WHY),
	                 UNS_OK);
	args[1] = pubb64;
	ut_receiver_start(&rc, "webpush_receiver.js", dir, args);
	s = json_object_get(rc.info, "subscription");
	wp_tap(&f, json_string_value(json_object_get(s, "endpoint")),
	       json_string_value(
	           json_object_get(json_object_get(s, "keys"), "p256dh")),
	       json_string_value(
	           json_object_get(json_object_get(s, "keys"), "auth")));
	f.tap.now_ms = (int64_t)time(NULL) * 1000;
	assert_int_equal(
	    ops->check(cfg, &f.sub, &(const char *){NULL}, why, WHY), UNS_OK);
	assert_int_equal(ops->open(&t, cfg), UNS_OK);
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	if (a.status != 201) {
		fail_msg("receiver answered %ld: %s", a.status, a.body);
	}
	ut_answer_response(&a, &resp, f.tap.now_ms);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_DELIVERED);
	ut_receiver_script(&rc, 410, 1, NULL, NULL);
	assert_true(ut_send(&r, rc.ca, &a));
	ut_answer_response(&a, &resp, f.tap.now_ms);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_DEAD);
	/* A body altered on the way does not decrypt at the browser. */
	r.body[r.body_len - 1] ^= 1;
	assert_true(ut_send(&r, rc.ca, &a));
	assert_int_equal(a.status, 400);
	/* A VAPID signature altered on the way is refused. */
	for (size_t i = 0; i < r.nheaders; i++) {
		char *comma = strstr(r.headers[i], ", k=");
		if (strncmp(r.headers[i], "Authorization:", 14) == 0) {
			comma[-2] = comma[-2] == 'A' ? 'B' : 'A';
		}
	}
	assert_true(ut_send(&r, rc.ca, &a));
	assert_int_equal(a.status, 403);
	recs = ut_receiver_records(&rc);
	assert_int_equal(json_array_size(recs), 4);
	assert_non_null(strstr(json_string_value(json_object_get(
	                           json_array_get(recs, 3), "reason")),
	                       "signature"));
	rec = json_array_get(recs, 0);
	assert_true(json_is_true(json_object_get(rec, "ok")));
	assert_string_equal(json_string_value(json_object_get(rec, "urgency")),
	                    "high");
	assert_string_equal(json_string_value(json_object_get(rec, "topic")),
	                    "feed");
	payload = json_object_get(rec, "payload");
	assert_string_equal(
	    json_string_value(json_object_get(payload, "cursor")), "c7");
	assert_string_equal(
	    json_string_value(json_object_get(payload, "title")),
	    "Order shipped");
	assert_string_equal(json_string_value(json_object_get(payload, "body")),
	                    "Your order \"42\" left the warehouse");
	assert_non_null(strstr(json_string_value(json_object_get(
	                           json_array_get(recs, 2), "reason")),
	                       "decrypt"));
	json_decref(recs);
	uns_push_request_free(&r);
	ut_receiver_stop(&rc);
	free(pubb64);
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
	    cmocka_unit_test(t_webpush_check),
	    cmocka_unit_test(t_webpush_build),
	    cmocka_unit_test(t_webpush_classify),
	    cmocka_unit_test(t_webpush_receiver),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
