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
#include <pthread.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <mbedtls/md.h>

#include "b64url.h"
#include "config.h"
#include "errors.h"
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
	assert_int_equal(uns_push_add_keys(&c), UNS_OK);
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

/* dir/name holding text; the path stays valid for eight more calls. */
static const char *
write_file(const char *name, const char *text)
{
	static char paths[8][160];
	static int slot;
	char *path = paths[slot++ % 8];

	snprintf(path, 160, "%s/%s", dir, name);
	ut_write_file(path, text);
	return path;
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

/* One response and what classify() must make of it. */
typedef struct classify_case {
	long status;
	const char *body, *hname, *hvalue;
	uns_push_outcome want;
	int64_t retry_ms; /* the retry delay expected; 0 = not checked */
} classify_case;

#define N_CASES(a) (sizeof(a) / sizeof((a)[0]))

static void
check_classify(const uns_push_transport_ops *ops, const classify_case *c,
               size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t retry = 0;
		uns_push_outcome o = classify(ops, NULL, c[i].status, c[i].body,
		                              c[i].hname, c[i].hvalue, &retry);
		if (o != c[i].want ||
		    (c[i].retry_ms != 0 && retry != c[i].retry_ms)) {
			fail_msg("case %zu (%ld %s %s): outcome %d retry %lld, "
			         "expected %d retry %lld",
			         i, c[i].status, c[i].body ? c[i].body : "",
			         c[i].hvalue ? c[i].hvalue : "", o,
			         (long long)retry, c[i].want,
			         (long long)c[i].retry_ms);
		}
	}
}

/* ---- shared checks ------------------------------------------------------- */

/* Which addresses are allowed: the SSRF table, test_ssrf.c. */

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
	expect_webhook(strict, "https://[::1]x/hook", "junk");
	expect_webhook(strict, "https://[push.example]/hook", "bad host");
	expect_webhook(strict, "https://a]b.example/hook", "bad host");
	expect_webhook(strict, "https://93.184.216.34:019449/", "port");
	expect_webhook(strict, "https://93.184.216.34\\@evil.example/",
	               "backslash");
	expect_webhook(strict, "https://93.184.216.34/#frag", "fragment");
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
	    {UNS__V1__PLATFORM__PLATFORM_IOS, "apns"},
	    {UNS__V1__PLATFORM__PLATFORM_ANDROID, "fcm"},
	    {UNS__V1__PLATFORM__PLATFORM_WINDOWS, "wns"},
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

/* "v1=" hex HMAC-SHA256(secret, "1700000000." body), with mbedTLS
 * directly rather than through the code under test. */
static void
hook_signature(const char *secret, const char *body, char out[70])
{
	char msg[256];
	uint8_t mac[32];

	snprintf(msg, sizeof(msg), "1700000000.%s", body);
	assert_int_equal(
	    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
	                    (const unsigned char *)secret, strlen(secret),
	                    (const unsigned char *)msg, strlen(msg), mac),
	    0);
	strcpy(out, "v1=");
	for (int i = 0; i < 32; i++) {
		snprintf(out + 3 + 2 * i, 3, "%02x", mac[i]);
	}
}

/* The UNS-Signature header of a tap built with the config kv. */
static void
hook_build(const char *const *kv, uns_push_request *r)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEBHOOK);
	uns_push_config *cfg = make_cfg(true, kv);
	uns_push_transport *t;
	Uns__V1__Subscription sub;
	uns_tap tap;

	assert_int_equal(ops->open(&t, cfg), UNS_OK);
	webhook_tap(&tap, &sub, "https://hooks.example.com/uns?x=1");
	assert_int_equal(ops->build(t, &tap, r), UNS_OK);
	ops->close(t);
	uns_push_config_free(cfg);
}

static void
t_webhook_build(void **state)
{
	static const char body[] = "{\"unsid\":\"unsid-1\",\"cursor\":\"c42\"}";
	static const char secret[] = "an-hmac-secret-of-some-length";
	static const char next[] = "the-next-hmac-secret-after-it";
	const char *old_path =
	    write_file("hook.secret", "an-hmac-secret-of-some-length\n");
	const char *next_path = write_file("hook-next.secret", next);
	char want[150], sig_old[70], sig_next[70];
	uns_push_request r = {0};

	(void)state;
	hook_build((const char *const[]){"webhook_secret", old_path, NULL}, &r);
	assert_string_equal(r.url, "https://hooks.example.com/uns?x=1");
	assert_false(r.http2);
	assert_int_equal(r.body_len, strlen(body));
	assert_memory_equal(r.body, body, r.body_len);
	assert_int_equal(r.nheaders, 3);
	assert_string_equal(header_of(&r, "Content-Type"), "application/json");
	assert_string_equal(header_of(&r, "UNS-Timestamp"), "1700000000");
	hook_signature(secret, body, sig_old);
	assert_string_equal(header_of(&r, "UNS-Signature"), sig_old);
	uns_push_request_free(&r);
	/* Rotation: signed with the new key first, then the retiring one. */
	hook_build((const char *const[]){"webhook_secret", next_path,
	                                 "webhook_secret_previous", old_path,
	                                 NULL},
	           &r);
	hook_signature(next, body, sig_next);
	snprintf(want, sizeof(want), "%s,%s", sig_next, sig_old);
	assert_string_equal(header_of(&r, "UNS-Signature"), want);
	uns_push_request_free(&r);
}

static void
t_webhook_classify(void **state)
{
	static const classify_case cases[] = {
	    {200, NULL, 0, 0, UNS_PUSH_DELIVERED, -1},
	    {204, NULL, 0, 0, UNS_PUSH_DELIVERED, 0},
	    {410, NULL, 0, 0, UNS_PUSH_DEAD, 0},
	    {404, NULL, 0, 0, UNS_PUSH_DEAD, 0},
	    {429, NULL, "Retry-After", "7", UNS_PUSH_RETRY, 7000},
	    /* An HTTP-date 90 s after NOW_MS. */
	    {503, NULL, "Retry-After", "Tue, 14 Nov 2023 22:14:50 GMT",
	     UNS_PUSH_RETRY, 90000},
	    {500, NULL, 0, 0, UNS_PUSH_RETRY, -1},
	    {0, NULL, 0, 0, UNS_PUSH_RETRY, 0},
	    {408, NULL, 0, 0, UNS_PUSH_RETRY, 0},
	    {401, NULL, 0, 0, UNS_PUSH_REJECTED, 0},
	    {400, NULL, 0, 0, UNS_PUSH_REJECTED, 0},
	    {413, NULL, 0, 0, UNS_PUSH_REJECTED, 0},
	};

	(void)state;
	check_classify(uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEBHOOK),
	               cases, N_CASES(cases));
}

/* build() to the Node receiver through curl; it checks the signature. */
/* A server moving to a new key while the receiver still knows only the
 * old one (old_path): both signatures go out and the tap is accepted; a
 * server that dropped the old key too early is refused. */
static void
webhook_rotation(const char *old_path)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEBHOOK);
	const char *next = write_file("rotated.secret",
	                              "a-new-key-the-receiver-has-not-got\n");
	const char *args[] = {"--secret", old_path, NULL};
	const char *const rotating[] = {
	    "webhook_secret", next, "webhook_secret_previous", old_path, NULL};
	const char *const dropped[] = {"webhook_secret", next, NULL};
	const char *const *cfgs[] = {rotating, dropped};
	const unsigned want[] = {204, 401};
	Uns__V1__Subscription sub;
	char url[256];
	ut_receiver rc;
	uns_tap tap;

	ut_receiver_start(&rc, "webhook_receiver.js", dir, args);
	snprintf(url, sizeof(url), "%s/hooks/rotating", rc.base);
	for (int i = 0; i < 2; i++) {
		uns_push_config *cfg = make_cfg(true, cfgs[i]);
		uns_push_transport *t;
		uns_push_request r = {0};
		ut_answer a;

		assert_int_equal(ops->open(&t, cfg), UNS_OK);
		webhook_tap(&tap, &sub, url);
		tap.now_ms = (int64_t)time(NULL) * 1000;
		assert_int_equal(ops->build(t, &tap, &r), UNS_OK);
		assert_true(ut_send(&r, rc.ca, &a));
		assert_int_equal(a.status, want[i]);
		uns_push_request_free(&r);
		ops->close(t);
		uns_push_config_free(cfg);
	}
	ut_receiver_stop(&rc);
}

static void
t_webhook_receiver(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEBHOOK);
	char secret_path[128], url[256], log_path[128], line[1024];
	const char *args[] = {"--secret", secret_path, "--log", log_path, NULL};
	FILE *log;
	int lines = 0;
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
	snprintf(log_path, sizeof(log_path), "%s/webhook.log", dir);
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
	/* --log kept the same records as JSON lines. */
	log = fopen(log_path, "r");
	assert_non_null(log);
	while (fgets(line, sizeof(line), log) != NULL) {
		json_t *j = json_loads(line, 0, NULL);
		assert_non_null(j);
		json_decref(j);
		lines++;
	}
	fclose(log);
	assert_int_equal(lines, 4);
	ops->close(t);
	webhook_rotation(secret_path);
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
	assert_int_equal(uns_vapid_key(path, false, &pubb64, why, WHY), UNS_OK);
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
	/* vapid_token_lifetime sets exp. */
	{
		static const char *const kv3[] = {"vapid_token_lifetime", "3h",
		                                  NULL};
		cfg = make_cfg(true, kv3);
		assert_int_equal(ops->open(&t, cfg), UNS_OK);
		f.tap.state_change = false;
		f.tap.now_ms = NOW_MS;
		f.v.body = "short";
		assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
		claims = vapid_claims(header_of(&r, "Authorization"), vapid_pub,
		                      NULL);
		assert_int_equal(
		    json_integer_value(json_object_get(claims, "exp")),
		    NOW_MS / 1000 + 3 * 3600);
		json_decref(claims);
		uns_push_request_free(&r);
		ops->close(t);
		uns_push_config_free(cfg);
	}
}

static void
t_webpush_classify(void **state)
{
	static const classify_case cases[] = {
	    {201, NULL, 0, 0, UNS_PUSH_DELIVERED, 0},
	    {404, NULL, 0, 0, UNS_PUSH_DEAD, 0},
	    {410, NULL, 0, 0, UNS_PUSH_DEAD, 0},
	    {429, NULL, "Retry-After", "120", UNS_PUSH_RETRY, 120000},
	    {502, NULL, 0, 0, UNS_PUSH_RETRY, 0},
	    {413, NULL, 0, 0, UNS_PUSH_REJECTED, 0},
	    {400, NULL, 0, 0, UNS_PUSH_REJECTED, 0},
	    {401, NULL, 0, 0, UNS_PUSH_REJECTED, 0},
	    {403, NULL, 0, 0, UNS_PUSH_REJECTED, 0},
	};

	(void)state;
	check_classify(uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEB_PUSH),
	               cases, N_CASES(cases));
}

static void
t_webpush_receiver(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEB_PUSH);
	static const char *const kv[] = {"webpush_hosts", "localhost", NULL};
	uns_push_config *cfg = make_cfg(true, kv);
	char path[128], *pubb64 = NULL, why[WHY];
	const char *args[] = {"--vapid-key", NULL, "--subscriptions", "2",
	                      NULL};
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
	assert_int_equal(uns_vapid_key(path, false, &pubb64, why, WHY), UNS_OK);
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
	/* The second browser has its own keys; an unknown one is gone. */
	s = json_array_get(json_object_get(rc.info, "subscriptions"), 1);
	wp_tap(&f, json_string_value(json_object_get(s, "endpoint")),
	       json_string_value(
	           json_object_get(json_object_get(s, "keys"), "p256dh")),
	       json_string_value(
	           json_object_get(json_object_get(s, "keys"), "auth")));
	f.tap.now_ms = (int64_t)time(NULL) * 1000;
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	assert_int_equal(a.status, 201);
	uns_push_request_free(&r);
	snprintf(why, sizeof(why), "%s/push/sub3", rc.base);
	f.w.endpoint = why;
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	ut_answer_response(&a, &resp, f.tap.now_ms);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_DEAD);
	uns_push_request_free(&r);
	ut_receiver_stop(&rc);
	free(pubb64);
	ops->close(t);
	uns_push_config_free(cfg);
}

/* ---- APNs ------------------------------------------------------------------
 */

#define DEVICE_TOKEN                                                           \
	"a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"

/* Writes text to dir/name; returns the path (static buffer per slot). */
/* Decodes a JWT segment into a JSON object. */
static json_t *
jwt_part(const char *jwt, int part)
{
	const char *s = jwt, *e;
	uint8_t buf[2048];
	long n;

	for (int i = 0; i < part; i++) {
		s = strchr(s, '.') + 1;
	}
	e = strchr(s, '.');
	n = uns_b64url_decode(s, e ? (size_t)(e - s) : strlen(s), buf,
	                      sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	return json_loads((char *)buf, 0, NULL);
}

/* Checks jwt's ES256 signature with pub. */
static void
assert_es256(const char *jwt, const uint8_t pub[65])
{
	const char *dot = strrchr(jwt, '.');
	uint8_t sig[64], hash[32];

	assert_int_equal(uns_b64url_decode(dot + 1, strlen(dot + 1), sig, 64),
	                 64);
	assert_int_equal(uns_sha256(jwt, (size_t)(dot - jwt), hash), UNS_OK);
	assert_int_equal(uns_p256_verify(pub, hash, sig), UNS_OK);
}

typedef struct ios_fixture {
	Uns__V1__Subscription sub;
	Uns__V1__Notification n;
	Uns__V1__Payload p;
	Uns__V1__VisualContent v, fv;
	Uns__V1__FallbackPolicy fp;
	Uns__V1__EndpointFallback ef;
	uns_tap tap;
} ios_fixture;

static void
ios_tap(ios_fixture *f, Uns__V1__Platform platform, const char *channel)
{
	memset(f, 0, sizeof(*f));
	f->sub = (Uns__V1__Subscription)UNS__V1__SUBSCRIPTION__INIT;
	f->n = (Uns__V1__Notification)UNS__V1__NOTIFICATION__INIT;
	f->p = (Uns__V1__Payload)UNS__V1__PAYLOAD__INIT;
	f->v = (Uns__V1__VisualContent)UNS__V1__VISUAL_CONTENT__INIT;
	f->fv = (Uns__V1__VisualContent)UNS__V1__VISUAL_CONTENT__INIT;
	f->fp = (Uns__V1__FallbackPolicy)UNS__V1__FALLBACK_POLICY__INIT;
	f->ef = (Uns__V1__EndpointFallback)UNS__V1__ENDPOINT_FALLBACK__INIT;
	f->sub.unsid = "unsid-dev";
	f->sub.platform = platform;
	f->sub.push_channel = (char *)channel;
	f->v.title = "Order shipped";
	f->v.body = "secret content";
	f->fv.title = "You have a new message";
	f->fv.body = "Open the app to read it";
	f->p.visual_content = &f->v;
	f->ef.visual_content = &f->fv;
	f->fp.endpoint_fallback = &f->ef;
	f->n.id = "n-9";
	f->n.payload = &f->p;
	f->n.fallback_policy = &f->fp;
	f->tap.user = "alice";
	f->tap.host = "contoso.example.com";
	f->tap.cursor = "c9";
	f->tap.sub = &f->sub;
	f->tap.subject = &f->n;
	f->tap.now_ms = NOW_MS;
}

static void
t_apns_check(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_IOS);
	static const char *const bad[] = {"", "xyz", "abc", DEVICE_TOKEN "0",
	                                  "g1b2c3d4e5f60718293a4b5c6d7e8f90"};
	uns_push_config *cfg = make_cfg(false, NULL);
	ios_fixture f;
	const char *field = NULL;
	char why[WHY];

	(void)state;
	ios_tap(&f, UNS__V1__PLATFORM__PLATFORM_IOS, DEVICE_TOKEN);
	assert_int_equal(ops->check(cfg, &f.sub, &field, why, WHY), UNS_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f.sub.push_channel = (char *)bad[i];
		assert_int_equal(ops->check(cfg, &f.sub, &field, why, WHY),
		                 UNS_INVALID_ARGUMENT);
		assert_string_equal(field, "pushChannel");
		assert_non_null(strstr(why, "hex digits"));
	}
	uns_push_config_free(cfg);
}

static void
t_apns_build(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_IOS);
	uns_key *key = NULL;
	char *pem = NULL;
	uint8_t pub[65];
	const char *kv[] = {"apns_key",
	                    NULL,
	                    "apns_key_id",
	                    "ABC123DEFG",
	                    "apns_team_id",
	                    "DEF123GHIJ",
	                    "apns_topic",
	                    "com.contoso.app",
	                    "apns_url",
	                    "https://api.sandbox.push.apple.com",
	                    NULL};
	uns_push_config *cfg, *off = make_cfg(false, NULL);
	uns_push_transport *t;
	uns_push_request r = {0}, r2 = {0};
	ios_fixture f;
	json_t *h, *c;
	char jwt1[1024];
	int64_t retry;

	(void)state;
	assert_int_equal(uns_key_gen_p256(&key), UNS_OK);
	assert_int_equal(uns_key_write_pem(key, true, &pem), UNS_OK);
	assert_int_equal(uns_key_p256_public(key, pub), UNS_OK);
	kv[1] = write_file("apns.p8", pem);
	cfg = make_cfg(false, kv);
	/* Without apns_key the transport is off. */
	assert_int_equal(ops->open(&t, off), UNS_OK);
	ios_tap(&f, UNS__V1__PLATFORM__PLATFORM_IOS, DEVICE_TOKEN);
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_FAILED_PRECONDITION);
	ops->close(t);

	assert_int_equal(ops->open(&t, cfg), UNS_OK);
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_string_equal(r.url, "https://api.sandbox.push.apple.com/3/"
	                           "device/" DEVICE_TOKEN);
	assert_true(r.http2);
	assert_int_equal(r.nheaders, 7);
	assert_string_equal(header_of(&r, "apns-topic"), "com.contoso.app");
	assert_string_equal(header_of(&r, "apns-push-type"), "background");
	assert_string_equal(header_of(&r, "apns-priority"), "5");
	assert_string_equal(header_of(&r, "apns-collapse-id"), "feed");
	assert_string_equal(header_of(&r, "apns-expiration"), "1700086400");
	assert_string_equal(header_of(&r, "content-type"), "application/json");
	assert_int_equal(r.body_len, strlen((char *)r.body));
	assert_string_equal((char *)r.body,
	                    "{\"aps\":{\"content-available\":1},\"unsid\":"
	                    "\"unsid-dev\",\"cursor\":\"c9\"}");
	assert_true(strncmp(header_of(&r, "authorization"), "bearer ", 7) == 0);
	strcpy(jwt1, header_of(&r, "authorization") + 7);
	assert_es256(jwt1, pub);
	h = jwt_part(jwt1, 0);
	c = jwt_part(jwt1, 1);
	assert_string_equal(json_string_value(json_object_get(h, "alg")),
	                    "ES256");
	assert_string_equal(json_string_value(json_object_get(h, "kid")),
	                    "ABC123DEFG");
	assert_string_equal(json_string_value(json_object_get(c, "iss")),
	                    "DEF123GHIJ");
	assert_int_equal(json_integer_value(json_object_get(c, "iat")),
	                 NOW_MS / 1000);
	assert_int_equal(json_object_size(c), 2);
	json_decref(h);
	json_decref(c);
	/* 30 minutes later: the same token. */
	f.tap.now_ms = NOW_MS + 30 * 60 * 1000;
	assert_int_equal(ops->build(t, &f.tap, &r2), UNS_OK);
	assert_string_equal(header_of(&r2, "authorization") + 7, jwt1);
	uns_push_request_free(&r2);
	/* 40 minutes (apns_token_refresh): a new one. */
	f.tap.now_ms = NOW_MS + 40 * 60 * 1000;
	assert_int_equal(ops->build(t, &f.tap, &r2), UNS_OK);
	assert_string_not_equal(header_of(&r2, "authorization") + 7, jwt1);
	strcpy(jwt1, header_of(&r2, "authorization") + 7);
	uns_push_request_free(&r2);
	/* APNs refusing it makes the next build sign anew at once. */
	assert_int_equal(classify(ops, t, 403,
	                          "{\"reason\":\"ExpiredProviderToken\"}", 0, 0,
	                          &retry),
	                 UNS_PUSH_REAUTH);
	f.tap.now_ms += 1000;
	assert_int_equal(ops->build(t, &f.tap, &r2), UNS_OK);
	assert_string_not_equal(header_of(&r2, "authorization") + 7, jwt1);
	uns_push_request_free(&r2);
	/* The fallback alert: visible, priority 10, the fallback's content,
	 * collapsed on the notification id. */
	f.tap.fallback = true;
	assert_int_equal(ops->build(t, &f.tap, &r2), UNS_OK);
	assert_string_equal(header_of(&r2, "apns-push-type"), "alert");
	assert_string_equal(header_of(&r2, "apns-priority"), "10");
	assert_string_equal(header_of(&r2, "apns-collapse-id"), "n-9");
	assert_string_equal(
	    (char *)r2.body,
	    "{\"aps\":{\"alert\":{\"title\":\"You have a new "
	    "message\",\"body\":"
	    "\"Open the app to read it\"},\"sound\":\"default\","
	    "\"mutable-content\":1},\"unsid\":\"unsid-dev\",\"cursor\":\"c9\","
	    "\"id\":\"n-9\"}");
	uns_push_request_free(&r2);
	/* A long id is hashed into a collapse id of at most 64 bytes. */
	{
		static char long_id[200];
		memset(long_id, 'x', sizeof(long_id) - 1);
		f.n.id = long_id;
		assert_int_equal(ops->build(t, &f.tap, &r2), UNS_OK);
		assert_int_equal(strlen(header_of(&r2, "apns-collapse-id")),
		                 43);
		uns_push_request_free(&r2);
	}
	uns_push_request_free(&r);
	ops->close(t);
	uns_key_free(key);
	free(pem);
	uns_push_config_free(cfg);
	uns_push_config_free(off);
}

static void
t_apns_classify(void **state)
{
#define REASON(r) "{\"reason\":\"" r "\"}"
	static const classify_case cases[] = {
	    {200, "", 0, 0, UNS_PUSH_DELIVERED, 0},
	    {410, "{\"reason\":\"Unregistered\",\"timestamp\":1700000000000}",
	     0, 0, UNS_PUSH_DEAD, 0},
	    {410, REASON("ExpiredToken"), 0, 0, UNS_PUSH_DEAD, 0},
	    {400, REASON("BadDeviceToken"), 0, 0, UNS_PUSH_DEAD, 0},
	    {400, REASON("DeviceTokenNotForTopic"), 0, 0, UNS_PUSH_DEAD, 0},
	    {400, REASON("BadCollapseId"), 0, 0, UNS_PUSH_REJECTED, 0},
	    {400, REASON("BadPriority"), 0, 0, UNS_PUSH_REJECTED, 0},
	    {403, REASON("ExpiredProviderToken"), 0, 0, UNS_PUSH_REAUTH, 0},
	    {403, REASON("InvalidProviderToken"), 0, 0, UNS_PUSH_REAUTH, 0},
	    {403, REASON("BadCertificate"), 0, 0, UNS_PUSH_REJECTED, 0},
	    {404, REASON("BadPath"), 0, 0, UNS_PUSH_REJECTED, 0},
	    {413, REASON("PayloadTooLarge"), 0, 0, UNS_PUSH_REJECTED, 0},
	    {429, REASON("TooManyRequests"), 0, 0, UNS_PUSH_RETRY, 0},
	    {429, REASON("TooManyProviderTokenUpdates"), 0, 0, UNS_PUSH_RETRY,
	     0},
	    {500, REASON("InternalServerError"), 0, 0, UNS_PUSH_RETRY, 0},
	    {503, REASON("ServiceUnavailable"), 0, 0, UNS_PUSH_RETRY, 0},
	    {0, NULL, 0, 0, UNS_PUSH_RETRY, 0},
	    {503, "not json", 0, 0, UNS_PUSH_RETRY, 0},
	    {503, "{}", "retry-after", "10", UNS_PUSH_RETRY, 10000},
	};
#undef REASON

	(void)state;
	check_classify(uns_push_find(UNS__V1__PLATFORM__PLATFORM_IOS), cases,
	               N_CASES(cases));
}

static void
t_apns_receiver(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_IOS);
	const char *kv[] = {"apns_key",     NULL, "apns_key_id", NULL,
	                    "apns_team_id", NULL, "apns_topic",  NULL,
	                    "apns_url",     NULL, NULL};
	uns_push_config *cfg;
	uns_push_transport *t;
	uns_push_request r = {0};
	uns_push_response resp;
	ut_receiver rc;
	ut_answer a;
	ios_fixture f;
	json_t *recs, *rec;
	int64_t retry, now = (int64_t)time(NULL) * 1000;

	(void)state;
	ut_receiver_start(&rc, "apns_receiver.js", dir, NULL);
	kv[1] = write_file("rc.p8",
	                   json_string_value(json_object_get(rc.info, "p8")));
	kv[3] = json_string_value(json_object_get(rc.info, "keyId"));
	kv[5] = json_string_value(json_object_get(rc.info, "team"));
	kv[7] = json_string_value(json_object_get(rc.info, "topic"));
	kv[9] = rc.base;
	cfg = make_cfg(true, kv);
	assert_int_equal(ops->open(&t, cfg), UNS_OK);
	ios_tap(&f, UNS__V1__PLATFORM__PLATFORM_IOS, DEVICE_TOKEN);
	f.tap.now_ms = now;
	/* A background tap over HTTP/2, then the fallback alert. */
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	if (a.status != 200) {
		fail_msg("apns receiver answered %ld: %s", a.status, a.body);
	}
	assert_int_equal(a.http_version, CURL_HTTP_VERSION_2_0);
	assert_non_null(strstr(a.headers, "apns-id: "));
	ut_answer_response(&a, &resp, now);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_DELIVERED);
	uns_push_request_free(&r);
	f.tap.fallback = true;
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	assert_int_equal(a.status, 200);
	uns_push_request_free(&r);
	/* Unregistered, as Apple says it. */
	ut_receiver_script(&rc, 410, 1, NULL,
	                   "{\"reason\":\"Unregistered\",\"timestamp\":1}");
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	ut_answer_response(&a, &resp, now);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_DEAD);
	uns_push_request_free(&r);
	/* A token signed two hours ago: ExpiredProviderToken, REAUTH, and
	 * the next build signs a fresh one that passes. */
	ops->close(t);
	assert_int_equal(ops->open(&t, cfg), UNS_OK);
	f.tap.now_ms = now - 2 * 3600 * 1000;
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	assert_int_equal(a.status, 403);
	ut_answer_response(&a, &resp, now);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_REAUTH);
	uns_push_request_free(&r);
	f.tap.now_ms = now;
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	assert_int_equal(a.status, 200);
	uns_push_request_free(&r);
	recs = ut_receiver_records(&rc);
	assert_int_equal(json_array_size(recs), 5);
	rec = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "pushType")),
	                    "background");
	assert_string_equal(
	    json_string_value(json_object_get(rec, "httpVersion")), "2.0");
	assert_int_equal(json_integer_value(json_object_get(rec, "iat")),
	                 now / 1000);
	rec = json_array_get(recs, 1);
	assert_string_equal(json_string_value(json_object_get(rec, "pushType")),
	                    "alert");
	/* The same provider token for both (reuse). */
	assert_int_equal(json_integer_value(json_object_get(rec, "iat")),
	                 json_integer_value(
	                     json_object_get(json_array_get(recs, 0), "iat")));
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(recs, 3), "reason")),
	                    "ExpiredProviderToken");
	json_decref(recs);
	ut_receiver_stop(&rc);
	ops->close(t);
	uns_push_config_free(cfg);
}

/* ---- FCM -------------------------------------------------------------------
 */

#define FCM_TOKEN "dQw4w9WgXcQ:APA91bH-example_registration.token-1"

/* Records of kind in recs. */
static size_t
count_kind(json_t *recs, const char *kind)
{
	size_t i, n = 0;
	json_t *rec;

	json_array_foreach(recs, i, rec)
	{
		const char *k = json_string_value(json_object_get(rec, "kind"));
		n += k != NULL && strcmp(k, kind) == 0;
	}
	return n;
}

static void
t_fcm_check_classify(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_ANDROID);
	static const char *const bad[] = {"", "short", "has space in it 123456",
	                                  "https://x.example/aaaaaaaaaaaa"};
	static const struct {
		long status;
		const char *code;
		uns_push_outcome want;
	} cases[] = {
	    {200, NULL, UNS_PUSH_DELIVERED},
	    {404, "UNREGISTERED", UNS_PUSH_DEAD},
	    {404, NULL, UNS_PUSH_DEAD},
	    {403, "SENDER_ID_MISMATCH", UNS_PUSH_DEAD},
	    {400, "INVALID_ARGUMENT", UNS_PUSH_REJECTED},
	    {429, "QUOTA_EXCEEDED", UNS_PUSH_RETRY},
	    {503, "UNAVAILABLE", UNS_PUSH_RETRY},
	    {500, "INTERNAL", UNS_PUSH_RETRY},
	    {401, "THIRD_PARTY_AUTH_ERROR", UNS_PUSH_REJECTED},
	    {401, NULL, UNS_PUSH_REAUTH},
	    {0, NULL, UNS_PUSH_RETRY},
	};
	uns_push_config *cfg = make_cfg(false, NULL);
	ios_fixture f;
	const char *field;
	char why[WHY], body[512];
	int64_t retry;

	(void)state;
	ios_tap(&f, UNS__V1__PLATFORM__PLATFORM_ANDROID, FCM_TOKEN);
	assert_int_equal(ops->check(cfg, &f.sub, &field, why, WHY), UNS_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f.sub.push_channel = (char *)bad[i];
		assert_int_equal(ops->check(cfg, &f.sub, &field, why, WHY),
		                 UNS_INVALID_ARGUMENT);
		assert_string_equal(field, "pushChannel");
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(
		    body, sizeof(body),
		    "{\"error\":{\"code\":%ld,\"status\":\"X\",\"details\":["
		    "{\"@type\":\"type.googleapis.com/google.firebase.fcm."
		    "v1.FcmError\",\"errorCode\":\"%s\"}]}}",
		    cases[i].status, cases[i].code ? cases[i].code : "");
		if (classify(ops, NULL, cases[i].status,
		             cases[i].code ? body : "{}", 0, 0,
		             &retry) != cases[i].want) {
			fail_msg("%ld %s", cases[i].status, cases[i].code);
		}
	}
	assert_int_equal(
	    classify(ops, NULL, 429, "{}", "Retry-After", "30", &retry),
	    UNS_PUSH_RETRY);
	assert_int_equal(retry, 30000);
	uns_push_config_free(cfg);
}

/* A push configuration for the FCM receiver rc. */
static uns_push_config *
fcm_cfg(ut_receiver *rc, const char *name)
{
	const char *kv[] = {"fcm_credentials", NULL, "fcm_url", rc->base, NULL};
	char *sa = json_dumps(json_object_get(rc->info, "serviceAccount"), 0);
	uns_push_config *cfg;

	kv[1] = write_file(name, sa);
	free(sa);
	cfg = make_cfg(true, kv);
	return cfg;
}

static void
t_fcm_receiver(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_ANDROID);
	uns_push_config *cfg, *off = make_cfg(false, NULL);
	uns_push_transport *t;
	uns_push_request r = {0};
	uns_push_response resp;
	ut_receiver rc;
	ut_answer a;
	ios_fixture f;
	json_t *recs, *rec;
	char url[256], want[512];
	int64_t retry, now = (int64_t)time(NULL) * 1000;

	(void)state;
	ios_tap(&f, UNS__V1__PLATFORM__PLATFORM_ANDROID, FCM_TOKEN);
	f.tap.now_ms = now;
	/* Off without fcm_credentials. */
	assert_int_equal(ops->open(&t, off), UNS_OK);
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_FAILED_PRECONDITION);
	ops->close(t);
	uns_push_config_free(off);

	ut_receiver_start(&rc, "fcm_receiver.js", dir, NULL);
	cfg = fcm_cfg(&rc, "sa.json");
	assert_int_equal(ops->open(&t, cfg), UNS_OK);
	f.n.priority = UNS__V1__PRIORITY__PRIORITY_HIGH;
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	snprintf(url, sizeof(url), "%s/v1/projects/uns-test/messages:send",
	         rc.base);
	assert_string_equal(r.url, url);
	assert_false(r.http2);
	assert_int_equal(r.nheaders, 2);
	assert_true(
	    strncmp(header_of(&r, "Authorization"), "Bearer ya29.", 12) == 0);
	assert_string_equal(header_of(&r, "Content-Type"), "application/json");
	snprintf(want, sizeof(want),
	         "{\"message\":{\"token\":\"%s\",\"data\":{\"unsid\":"
	         "\"unsid-dev\",\"cursor\":\"c9\"},\"android\":{\"priority\":"
	         "\"high\",\"ttl\":\"86400s\",\"collapse_key\":\"feed\"}}}",
	         FCM_TOKEN);
	assert_string_equal((char *)r.body, want);
	assert_true(ut_send(&r, rc.ca, &a));
	if (a.status != 200) {
		fail_msg("fcm answered %ld: %s", a.status, a.body);
	}
	assert_non_null(strstr(a.body, "projects/uns-test/messages/"));
	ut_answer_response(&a, &resp, now);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_DELIVERED);
	uns_push_request_free(&r);
	/* A state change goes out at normal priority, same token. */
	f.tap.state_change = true;
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_non_null(strstr((char *)r.body, "\"priority\":\"normal\""));
	assert_true(ut_send(&r, rc.ca, &a));
	assert_int_equal(a.status, 200);
	uns_push_request_free(&r);
	/* UNREGISTERED as FCM words it: dead. */
	ut_receiver_script(
	    &rc, 404, 1, NULL,
	    "{\"error\":{\"code\":404,\"status\":\"NOT_FOUND\",\"details\":[{"
	    "\"@type\":\"type.googleapis.com/google.firebase.fcm.v1.FcmError\","
	    "\"errorCode\":\"UNREGISTERED\"}]}}");
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	ut_answer_response(&a, &resp, now);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_DEAD);
	uns_push_request_free(&r);
	/* 401: the cached token is dropped; the next build gets another. */
	ut_receiver_script(&rc, 401, 1, NULL,
	                   "{\"error\":{\"code\":401,\"status\":"
	                   "\"UNAUTHENTICATED\"}}");
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	ut_answer_response(&a, &resp, now);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_REAUTH);
	uns_push_request_free(&r);
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	assert_int_equal(a.status, 200);
	uns_push_request_free(&r);
	/* 429 with Retry-After. */
	ut_receiver_script(&rc, 429, 1, "17",
	                   "{\"error\":{\"code\":429,\"details\":[{"
	                   "\"errorCode\":\"QUOTA_EXCEEDED\"}]}}");
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	ut_answer_response(&a, &resp, now);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_RETRY);
	assert_int_equal(retry, 17000);
	uns_push_request_free(&r);
	recs = ut_receiver_records(&rc);
	/* Six sends, two token fetches (the first, and after the 401). */
	assert_int_equal(count_kind(recs, "fcm-token"), 2);
	assert_int_equal(count_kind(recs, "fcm"), 6);
	rec = json_array_get(recs, 1);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(rec, "data"), "cursor")),
	                    "c9");
	json_decref(recs);
	ops->close(t);
	uns_push_config_free(cfg);
	ut_receiver_stop(&rc);

	/* A token that ends within the minute is fetched again each time. */
	{
		const char *args[] = {"--expires-in", "30", NULL};
		ut_receiver_start(&rc, "fcm_receiver.js", dir, args);
		cfg = fcm_cfg(&rc, "sa2.json");
		assert_int_equal(ops->open(&t, cfg), UNS_OK);
		for (int i = 0; i < 2; i++) {
			assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
			uns_push_request_free(&r);
		}
		recs = ut_receiver_records(&rc);
		assert_int_equal(count_kind(recs, "fcm-token"), 2);
		json_decref(recs);
		ops->close(t);
		uns_push_config_free(cfg);
		ut_receiver_stop(&rc);
	}
}

/* Credentials the token endpoint refuses: build fails with a reason. */
static void
t_fcm_bad_credentials(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_ANDROID);
	uns_push_config *cfg;
	uns_push_transport *t;
	uns_push_request r = {0};
	ut_receiver rc;
	ios_fixture f;
	json_t *sa;

	(void)state;
	ut_receiver_start(&rc, "fcm_receiver.js", dir, NULL);
	sa = json_object_get(rc.info, "serviceAccount");
	json_object_set_new(sa, "client_email",
	                    json_string("someone-else@x.iam.example"));
	cfg = fcm_cfg(&rc, "sa-bad.json");
	assert_int_equal(ops->open(&t, cfg), UNS_OK);
	ios_tap(&f, UNS__V1__PLATFORM__PLATFORM_ANDROID, FCM_TOKEN);
	f.tap.now_ms = (int64_t)time(NULL) * 1000;
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_UNAUTHENTICATED);
	assert_non_null(strstr(uns_last_message(), "answered 400"));
	ops->close(t);
	uns_push_config_free(cfg);
	ut_receiver_stop(&rc);
}

/* ---- WNS -------------------------------------------------------------------
 */

static void
t_wns_check_classify(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WINDOWS);
	static const classify_case cases[] = {
	    {200, "", "X-WNS-Status", "received", UNS_PUSH_DELIVERED, 0},
	    {200, "", "X-WNS-Status", "channelthrottled", UNS_PUSH_RETRY, 0},
	    {404, "", 0, 0, UNS_PUSH_DEAD, 0},
	    {410, "", 0, 0, UNS_PUSH_DEAD, 0},
	    {406, "", 0, 0, UNS_PUSH_RETRY, 0},
	    {429, "", "Retry-After", "5", UNS_PUSH_RETRY, 5000},
	    {503, "", 0, 0, UNS_PUSH_RETRY, 0},
	    {401, "", 0, 0, UNS_PUSH_REAUTH, 0},
	    {403, "", 0, 0, UNS_PUSH_REJECTED, 0},
	    {413, "", 0, 0, UNS_PUSH_REJECTED, 0},
	    {400, "", 0, 0, UNS_PUSH_REJECTED, 0},
	};
	uns_push_config *cfg = make_cfg(false, NULL);
	ios_fixture f;
	const char *field;
	char why[WHY];

	(void)state;
	/* The bearer token only goes to *.notify.windows.com. */
	ios_tap(&f, UNS__V1__PLATFORM__PLATFORM_WINDOWS,
	        "https://evil.example.com/?token=AwYAAAB");
	assert_int_equal(ops->check(cfg, &f.sub, &field, why, WHY),
	                 UNS_INVALID_ARGUMENT);
	assert_string_equal(field, "pushChannel");
	assert_non_null(strstr(why, "allow-list"));
	f.sub.push_channel = "http://db5.notify.windows.com/?token=AwYAAAB";
	assert_int_equal(ops->check(cfg, &f.sub, &field, why, WHY),
	                 UNS_INVALID_ARGUMENT);
	check_classify(ops, cases, N_CASES(cases));
	uns_push_config_free(cfg);
}

static void
t_wns_receiver(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WINDOWS);
	const char *kv[] = {"wns_token_url",
	                    NULL,
	                    "wns_client_id",
	                    NULL,
	                    "wns_client_secret",
	                    NULL,
	                    "wns_hosts",
	                    "localhost",
	                    NULL};
	uns_push_config *cfg;
	uns_push_transport *t;
	uns_push_request r = {0};
	uns_push_response resp;
	ut_receiver rc;
	ut_answer a;
	ios_fixture f;
	json_t *recs, *rec;
	const char *field;
	char why[WHY];
	int64_t retry, now = (int64_t)time(NULL) * 1000;

	(void)state;
	ut_receiver_start(&rc, "wns_receiver.js", dir, NULL);
	kv[1] = json_string_value(json_object_get(rc.info, "tokenUrl"));
	kv[3] = json_string_value(json_object_get(rc.info, "clientId"));
	kv[5] = write_file("wns.secret", json_string_value(json_object_get(
	                                     rc.info, "clientSecret")));
	cfg = make_cfg(true, kv);
	assert_int_equal(ops->open(&t, cfg), UNS_OK);
	ios_tap(&f, UNS__V1__PLATFORM__PLATFORM_WINDOWS,
	        json_string_value(json_object_get(rc.info, "channel")));
	f.tap.now_ms = now;
	f.n.expiration_time_ms = now + 600 * 1000;
	assert_int_equal(ops->check(cfg, &f.sub, &field, why, WHY), UNS_OK);
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_string_equal(r.url, f.sub.push_channel);
	assert_int_equal(r.nheaders, 5);
	assert_string_equal(header_of(&r, "X-WNS-Type"), "wns/raw");
	assert_string_equal(header_of(&r, "Content-Type"),
	                    "application/octet-stream");
	assert_string_equal(header_of(&r, "X-WNS-Cache-Policy"), "cache");
	assert_string_equal(header_of(&r, "X-WNS-TTL"), "600");
	assert_true(strncmp(header_of(&r, "Authorization"), "Bearer ", 7) == 0);
	assert_string_equal((char *)r.body,
	                    "{\"unsid\":\"unsid-dev\",\"cursor\":\"c9\"}");
	assert_true(ut_send(&r, rc.ca, &a));
	if (a.status != 200) {
		fail_msg("wns answered %ld: %s", a.status, a.body);
	}
	assert_non_null(strstr(a.headers, "x-wns-status: received"));
	ut_answer_response(&a, &resp, now);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_DELIVERED);
	uns_push_request_free(&r);
	/* An expired channel (410), then a 401 that makes a new token. */
	ut_receiver_script(&rc, 410, 1, NULL, NULL);
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	ut_answer_response(&a, &resp, now);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_DEAD);
	uns_push_request_free(&r);
	ut_receiver_script(&rc, 401, 1, NULL, NULL);
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	ut_answer_response(&a, &resp, now);
	assert_int_equal(ops->classify(t, &resp, &retry), UNS_PUSH_REAUTH);
	uns_push_request_free(&r);
	assert_int_equal(ops->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	assert_int_equal(a.status, 200);
	uns_push_request_free(&r);
	recs = ut_receiver_records(&rc);
	assert_int_equal(count_kind(recs, "wns-token"), 2);
	assert_int_equal(count_kind(recs, "wns"), 4);
	rec = json_array_get(recs, 1);
	assert_string_equal(json_string_value(json_object_get(rec, "type")),
	                    "wns/raw");
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(rec, "payload"), "cursor")),
	                    "c9");
	json_decref(recs);
	ops->close(t);
	uns_push_config_free(cfg);
	ut_receiver_stop(&rc);
}

/* ---- configuration errors --------------------------------------------------
 */

/* uns_push_config_alloc over the defaults plus kv fails naming frag. */
static void
expect_config_error(const char *const *kv, const char *frag)
{
	static uns_config c;
	uns_push_config *p = NULL;
	char why[WHY] = "";

	uns_config_defaults(&c);
	assert_int_equal(uns_push_add_keys(&c), UNS_OK);
	assert_int_equal(uns_config_set(&c, "data_dir", dir, why, WHY), UNS_OK);
	for (int i = 0; kv[i] != NULL; i += 2) {
		assert_int_equal(uns_config_set(&c, kv[i], kv[i + 1], why, WHY),
		                 UNS_OK);
	}
	if (uns_push_config_alloc(&p, &c, why, WHY) == UNS_OK) {
		uns_push_config_free(p);
		fail_msg("accepted, expected \"%s\"", frag);
	}
	if (strstr(why, frag) == NULL) {
		fail_msg("\"%s\", expected \"%s\"", why, frag);
	}
}

static void
t_config_errors(void **state)
{
	uns_key *rsa = NULL, *ec = NULL;
	char *rsa_pem = NULL, *ec_pem = NULL;
	const char *rsa_path, *ec_path, *short_path, *no_key;

	(void)state;
	assert_int_equal(uns_key_gen_rsa(&rsa, 2048), UNS_OK);
	assert_int_equal(uns_key_write_pem(rsa, true, &rsa_pem), UNS_OK);
	assert_int_equal(uns_key_gen_p256(&ec), UNS_OK);
	assert_int_equal(uns_key_write_pem(ec, true, &ec_pem), UNS_OK);
	rsa_path = write_file("rsa.pem", rsa_pem);
	ec_path = write_file("ec.pem", ec_pem);
	short_path = write_file("short.secret", "too-short\n");
	no_key = write_file("sa-nokey.json",
	                    "{\"client_email\":\"a@b\",\"token_uri\":"
	                    "\"https://t/\",\"project_id\":\"p\"}");
	expect_config_error(
	    (const char *const[]){"apns_key", ec_path, "apns_topic", "x", NULL},
	    "apns_key needs apns_key_id");
	expect_config_error(
	    (const char *const[]){"apns_key", rsa_path, "apns_key_id", "K",
	                          "apns_team_id", "T", "apns_topic", "x", NULL},
	    "apns_key: not an ec p-256 private key");
	expect_config_error((const char *const[]){"fcm_credentials",
	                                          "/nonexistent/sa.json", NULL},
	                    "fcm_credentials: /nonexistent/sa.json");
	expect_config_error(
	    (const char *const[]){"fcm_credentials", no_key, NULL},
	    "needs client_email, private_key");
	expect_config_error(
	    (const char *const[]){"fcm_credentials",
	                          write_file("sa-ec.json",
	                                     "{\"client_email\":\"a@b\","
	                                     "\"token_uri\":\"https://t/\","
	                                     "\"project_id\":\"p\","
	                                     "\"private_key\":\"junk\"}"),
	                          NULL},
	    "private_key is not an rsa private key");
	expect_config_error(
	    (const char *const[]){"wns_client_secret", short_path, NULL},
	    "wns_client_secret needs wns_client_id");
	expect_config_error(
	    (const char *const[]){"webhook_secret", short_path, NULL},
	    "webhook_secret: ");
	expect_config_error(
	    (const char *const[]){"webhook_secret_previous", short_path, NULL},
	    "webhook_secret_previous: ");
	expect_config_error((const char *const[]){"webhook_secret_previous",
	                                          "/nonexistent/old", NULL},
	                    "webhook_secret_previous: cannot read "
	                    "/nonexistent/old");
	expect_config_error(
	    (const char *const[]){"webhook_secret", "/nonexistent/s", NULL},
	    "webhook_secret: cannot read /nonexistent/s");
	expect_config_error((const char *const[]){"vapid_key", rsa_path, NULL},
	                    "vapid_key: ");
	expect_config_error(
	    (const char *const[]){"webhook_hosts",
	                          "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", NULL},
	    "webhook_hosts: at most 16 hosts");
	uns_key_free(rsa);
	uns_key_free(ec);
	free(rsa_pem);
	free(ec_pem);
}

/* ---- unsctl vapid -----------------------------------------------------------
 */

/* Runs cmd; returns its exit status and its first output line in out. */
static int
run(const char *cmd, char *out, size_t cap)
{
	FILE *f = popen(cmd, "r");
	int st;

	assert_non_null(f);
	out[0] = '\0';
	if (fgets(out, (int)cap, f) != NULL) {
		out[strcspn(out, "\n")] = '\0';
	}
	while (fgetc(f) != EOF) {
	}
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
t_unsctl_vapid(void **state)
{
	char cmd[512], first[256], again[256], path[128], why[WHY];
	char *pub = NULL;
	uint8_t raw[65];
	struct stat st;

	(void)state;
	snprintf(cmd, sizeof(cmd), "%s vapid --data %s/cli", UNS_UNSCTL_PATH,
	         dir);
	assert_int_equal(run(cmd, first, sizeof(first)), 0);
	assert_int_equal(run(cmd, again, sizeof(again)), 0);
	assert_string_equal(first, again); /* made once, then read */
	assert_int_equal(strlen(first), 87);
	assert_int_equal(uns_b64url_decode(first, 87, raw, sizeof(raw)), 65);
	assert_int_equal(uns_p256_check_public(raw, 65), UNS_OK);
	snprintf(path, sizeof(path), "%s/cli/push/vapid.pem", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* The server reads the same key: same public key. */
	assert_int_equal(uns_vapid_key(path, false, &pub, why, WHY), UNS_OK);
	assert_string_equal(pub, first);
	free(pub);
	/* --key FILE reads, never makes; a missing file is exit 1. */
	snprintf(cmd, sizeof(cmd), "%s vapid --key %s/nope.pem 2>&1",
	         UNS_UNSCTL_PATH, dir);
	assert_int_equal(run(cmd, first, sizeof(first)), 1);
	assert_non_null(strstr(first, "nope.pem"));
}

/* ---- concurrency ------------------------------------------------------------
 */

typedef struct conc_arg {
	const uns_push_transport_ops *ops;
	uns_push_transport *t;
	const uns_tap *tap;
	const ua_keys *k; /* Web Push: decrypt what was built */
	int failures;
} conc_arg;

static void *
conc_worker(void *p)
{
	conc_arg *a = p;
	uint8_t plain[4096];

	for (int i = 0; i < 40; i++) {
		uns_push_request r = {0};
		size_t n = 0;
		if (a->ops->build(a->t, a->tap, &r) != UNS_OK) {
			a->failures++;
			continue;
		}
		if (a->k != NULL &&
		    uns_webpush_decrypt(a->k->priv, a->k->auth, r.body,
		                        r.body_len, plain, sizeof(plain),
		                        &n) != UNS_OK) {
			a->failures++;
		}
		uns_push_request_free(&r);
	}
	return NULL;
}

/* Four threads build on one transport at once (shared VAPID cache, APNs
 * provider token, keys): every request is whole (ASan/TSan builds). */
static void
t_concurrent_builds(void **state)
{
	const uns_push_transport_ops *wp =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEB_PUSH);
	const uns_push_transport_ops *ap =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_IOS);
	uns_key *key = NULL;
	char *pem = NULL;
	const char *kv[] = {"apns_key",   NULL,           "apns_key_id",
	                    "K1",         "apns_team_id", "T1",
	                    "apns_topic", "com.x",        NULL};
	uns_push_config *cfg;
	uns_push_transport *tw, *ta;
	conc_arg args[4];
	pthread_t th[4];
	wp_fixture wf;
	ios_fixture af;
	ua_keys k;

	(void)state;
	assert_int_equal(uns_key_gen_p256(&key), UNS_OK);
	assert_int_equal(uns_key_write_pem(key, true, &pem), UNS_OK);
	kv[1] = write_file("conc.p8", pem);
	cfg = make_cfg(true, kv);
	ua_make(&k);
	wp_tap(&wf, "https://push.example.net/x", k.p256dh, k.authb64);
	ios_tap(&af, UNS__V1__PLATFORM__PLATFORM_IOS, DEVICE_TOKEN);
	assert_int_equal(wp->open(&tw, cfg), UNS_OK);
	assert_int_equal(ap->open(&ta, cfg), UNS_OK);
	for (int i = 0; i < 4; i++) {
		args[i] =
		    (conc_arg){i % 2 ? ap : wp, i % 2 ? ta : tw,
		               i % 2 ? &af.tap : &wf.tap, i % 2 ? NULL : &k, 0};
		assert_int_equal(
		    pthread_create(&th[i], NULL, conc_worker, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	wp->close(tw);
	ap->close(ta);
	uns_key_free(key);
	free(pem);
	uns_push_config_free(cfg);
}

/* ---- cleartext receivers (--plain), for engines talking h2c -------------- */

static void
t_plain_receivers(void **state)
{
	const uns_push_transport_ops *hook =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEBHOOK);
	const uns_push_transport_ops *apns =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_IOS);
	const uns_push_transport_ops *fcm =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_ANDROID);
	char secret[128], url[256];
	const char *hargs[] = {"--plain", "--secret", secret, NULL};
	const char *pargs[] = {"--plain", NULL};
	const char *kv[] = {"apns_key",     NULL, "apns_key_id", NULL,
	                    "apns_team_id", NULL, "apns_topic",  NULL,
	                    "apns_url",     NULL, NULL};
	uns_push_config *cfg = make_cfg(true, NULL), *acfg, *fcfg;
	uns_push_transport *t;
	uns_push_request r = {0};
	Uns__V1__Subscription sub;
	ut_receiver rc;
	ut_answer a;
	uns_tap tap;
	ios_fixture f;
	json_t *recs;

	(void)state;
	/* Webhook over HTTP/1.1. */
	snprintf(secret, sizeof(secret), "%s/push/webhook.secret", dir);
	ut_receiver_start(&rc, "webhook_receiver.js", dir, hargs);
	assert_true(strncmp(rc.base, "http://", 7) == 0);
	snprintf(url, sizeof(url), "%s/hook", rc.base);
	assert_int_equal(hook->open(&t, cfg), UNS_OK);
	webhook_tap(&tap, &sub, url);
	tap.now_ms = (int64_t)time(NULL) * 1000;
	assert_int_equal(hook->build(t, &tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	assert_int_equal(a.status, 204);
	uns_push_request_free(&r);
	hook->close(t);
	ut_receiver_stop(&rc);
	/* APNs over h2c with prior knowledge. */
	ut_receiver_start(&rc, "apns_receiver.js", dir, pargs);
	assert_true(rc.h2);
	kv[1] = write_file("plain.p8",
	                   json_string_value(json_object_get(rc.info, "p8")));
	kv[3] = json_string_value(json_object_get(rc.info, "keyId"));
	kv[5] = json_string_value(json_object_get(rc.info, "team"));
	kv[7] = json_string_value(json_object_get(rc.info, "topic"));
	kv[9] = rc.base;
	acfg = make_cfg(true, kv);
	assert_int_equal(apns->open(&t, acfg), UNS_OK);
	ios_tap(&f, UNS__V1__PLATFORM__PLATFORM_IOS, DEVICE_TOKEN);
	f.tap.now_ms = (int64_t)time(NULL) * 1000;
	assert_int_equal(apns->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	assert_int_equal(a.status, 200);
	assert_int_equal(a.http_version, CURL_HTTP_VERSION_2_0);
	uns_push_request_free(&r);
	recs = ut_receiver_records(&rc); /* control over h2c too */
	assert_int_equal(count_kind(recs, "apns"), 1);
	json_decref(recs);
	apns->close(t);
	uns_push_config_free(acfg);
	ut_receiver_stop(&rc);
	/* FCM: the token endpoint over plain http in test mode. */
	ut_receiver_start(&rc, "fcm_receiver.js", dir, pargs);
	fcfg = fcm_cfg(&rc, "plain-sa.json");
	assert_int_equal(fcm->open(&t, fcfg), UNS_OK);
	ios_tap(&f, UNS__V1__PLATFORM__PLATFORM_ANDROID, FCM_TOKEN);
	f.tap.now_ms = (int64_t)time(NULL) * 1000;
	assert_int_equal(fcm->build(t, &f.tap, &r), UNS_OK);
	assert_true(ut_send(&r, rc.ca, &a));
	assert_int_equal(a.status, 200);
	uns_push_request_free(&r);
	fcm->close(t);
	uns_push_config_free(fcfg);
	ut_receiver_stop(&rc);
	uns_push_config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_table),
	    cmocka_unit_test(t_webhook_check),
	    cmocka_unit_test(t_webhook_build),
	    cmocka_unit_test(t_webhook_classify),
	    cmocka_unit_test(t_webhook_receiver),
	    cmocka_unit_test(t_webpush_check),
	    cmocka_unit_test(t_webpush_build),
	    cmocka_unit_test(t_webpush_classify),
	    cmocka_unit_test(t_webpush_receiver),
	    cmocka_unit_test(t_apns_check),
	    cmocka_unit_test(t_apns_build),
	    cmocka_unit_test(t_apns_classify),
	    cmocka_unit_test(t_apns_receiver),
	    cmocka_unit_test(t_fcm_check_classify),
	    cmocka_unit_test(t_fcm_receiver),
	    cmocka_unit_test(t_fcm_bad_credentials),
	    cmocka_unit_test(t_wns_check_classify),
	    cmocka_unit_test(t_wns_receiver),
	    cmocka_unit_test(t_config_errors),
	    cmocka_unit_test(t_unsctl_vapid),
	    cmocka_unit_test(t_concurrent_builds),
	    cmocka_unit_test(t_plain_receivers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
