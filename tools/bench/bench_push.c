/*
 * bench_push.c — `uns-bench webpush`: what a Web Push tap costs
 * the server in CPU, against baselines measured in the same run.
 *
 * One thread, no network, timed in thread CPU time (so other load on a
 * shared machine does not count): each case runs for a fixed slice, cases
 * interleaved over rounds (so machine noise hits all alike), and the
 * median rate per case is printed with its cost relative to the
 * HMAC-SHA256 baseline (a webhook tap's whole crypto). Cases:
 *   hmac       HMAC-SHA256 over a tap-sized body (the baseline)
 *   aes-gcm    AES-128-GCM of the same bytes, fixed key
 *   webhook    the webhook transport's build() (HMAC, JSON, headers)
 *   es256      one ES256 signature with the VAPID key (a VAPID token
 *              when the cache misses: once per push service per 11 h)
 *   encrypt    RFC 8291 encryption alone: ephemeral P-256 key, ECDH,
 *              HKDF, AES-GCM
 *   webpush    the Web Push transport's build(): payload JSON,
 *              encryption, cached VAPID token, headers
 * The plaintext is what build() encrypts for a typical post (cursor,
 * title, a 100-byte body), about 200 bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "b64url.h"
#include "config.h"
#include "crypto.h"
#include "push.h"
#include "bench.h"

#define SLICE_NS   (400 * 1000 * 1000LL)
#define MAX_ROUNDS 16

typedef struct bench_env {
	uns_push_config *cfg;
	uns_push_transport *webpush, *webhook;
	uns_tap tap, hook_tap;
	Uns__V1__Subscription sub, hook_sub;
	Uns__V1__WebPushSubscription w;
	Uns__V1__Notification n;
	Uns__V1__Payload p;
	Uns__V1__VisualContent v;
	uns_key *vapid;
	uint8_t ua_pub[65], auth[16], plain[256], out[512];
	size_t plain_len;
	char p256dh[96], authb64[32], dir[64];
} bench_env;

typedef struct bench_case {
	const char *name;
	int (*op)(void *env);
	double rate[MAX_ROUNDS];
} bench_case;

static int
op_hmac(void *arg)
{
	bench_env *e = arg;
	uint8_t mac[32];

	return uns_hmac_sha256(e->auth, 16, e->plain, e->plain_len, mac);
}

static int
op_gcm(void *arg)
{
	bench_env *e = arg;
	static const uint8_t key[16], nonce[12];

	return uns_aes128gcm_seal(key, nonce, e->plain, e->plain_len, e->out);
}

static int
op_es256(void *arg)
{
	bench_env *e = arg;
	uint8_t sig[UNS_KEY_MAX_SIG];
	size_t n;

	return uns_key_sign_sha256(e->vapid, e->plain, e->plain_len, sig,
	                           sizeof(sig), &n);
}

static int
op_encrypt(void *arg)
{
	bench_env *e = arg;
	size_t n;

	return uns_webpush_encrypt(e->ua_pub, e->auth, e->plain, e->plain_len,
	                           NULL, NULL, e->out, sizeof(e->out), &n);
}

static int
op_build(uns_push_transport *t, const uns_push_transport_ops *ops,
         const uns_tap *tap)
{
	uns_push_request r = {0};
	uns_err err = ops->build(t, tap, &r);

	uns_push_request_free(&r);
	return err;
}

static int
op_webpush(void *arg)
{
	bench_env *e = arg;
	return op_build(e->webpush,
	                uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEB_PUSH),
	                &e->tap);
}

static int
op_webhook(void *arg)
{
	bench_env *e = arg;
	return op_build(e->webhook,
	                uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEBHOOK),
	                &e->hook_tap);
}

static int
env_config(bench_env *e)
{
	static uns_config c;
	char why[512];

	uns_config_defaults(&c);
	(void)uns_push_add_keys(&c);
	snprintf(e->dir, sizeof(e->dir), "/tmp/uns-bench-push-XXXXXX");
	if (mkdtemp(e->dir) == NULL ||
	    uns_config_set(&c, "data_dir", e->dir, why, sizeof(why)) !=
	        UNS_OK ||
	    uns_push_config_alloc(&e->cfg, &c, why, sizeof(why)) != UNS_OK) {
		fprintf(stderr, "uns-bench webpush: %s\n", why);
		return -1;
	}
	return 0;
}

static void
env_tap(bench_env *e)
{
	static const char body[] = "Your order 42 left the warehouse and "
	                           "will arrive on Thursday between 9 and "
	                           "12; track it in the app.";

	e->sub = (Uns__V1__Subscription)UNS__V1__SUBSCRIPTION__INIT;
	e->w =
	    (Uns__V1__WebPushSubscription)UNS__V1__WEB_PUSH_SUBSCRIPTION__INIT;
	e->n = (Uns__V1__Notification)UNS__V1__NOTIFICATION__INIT;
	e->p = (Uns__V1__Payload)UNS__V1__PAYLOAD__INIT;
	e->v = (Uns__V1__VisualContent)UNS__V1__VISUAL_CONTENT__INIT;
	e->sub.unsid = "AAAAAAAAAAAAAAAAAAAAAA";
	e->sub.platform = UNS__V1__PLATFORM__PLATFORM_WEB_PUSH;
	e->sub.web_push = &e->w;
	e->w.endpoint =
	    "https://fcm.googleapis.com/fcm/send/dGVzdC1lbmRwb2ludA";
	e->w.p256dh = e->p256dh;
	e->w.auth = e->authb64;
	e->v.title = "Order shipped";
	e->v.body = (char *)body;
	e->p.visual_content = &e->v;
	e->n.id = "BBBBBBBBBBBBBBBBBBBBBB";
	e->n.payload = &e->p;
	e->tap.user = "alice";
	e->tap.host = "contoso.example.com";
	e->tap.cursor = "0000000000000042";
	e->tap.sub = &e->sub;
	e->tap.subject = &e->n;
	e->tap.now_ms = (int64_t)time(NULL) * 1000;
	e->hook_sub = e->sub;
	e->hook_sub.platform = UNS__V1__PLATFORM__PLATFORM_WEBHOOK;
	e->hook_sub.push_channel = "https://hooks.contoso.example.com/uns";
	e->hook_tap = e->tap;
	e->hook_tap.sub = &e->hook_sub;
	e->plain_len = (size_t)snprintf((char *)e->plain, sizeof(e->plain),
	                                "{\"unsid\":\"%s\",\"cursor\":\"%s\","
	                                "\"id\":\"%s\",\"title\":\"%s\","
	                                "\"body\":\"%s\"}",
	                                e->sub.unsid, e->tap.cursor, e->n.id,
	                                e->v.title, body);
}

static int
env_open(bench_env *e)
{
	uint8_t priv[32];
	char path[128], *pub = NULL, why[256];

	memset(e, 0, sizeof(*e));
	if (env_config(e) != 0 || uns_p256_keygen(priv, e->ua_pub) != UNS_OK ||
	    uns_random(e->auth, sizeof(e->auth)) != UNS_OK) {
		return -1;
	}
	uns_b64url_encode(e->ua_pub, 65, e->p256dh);
	uns_b64url_encode(e->auth, 16, e->authb64);
	snprintf(path, sizeof(path), "%s/push/vapid.pem", e->dir);
	if (uns_vapid_key(path, false, &pub, why, sizeof(why)) != UNS_OK ||
	    uns_key_read_file(&e->vapid, path, why, sizeof(why)) != UNS_OK) {
		fprintf(stderr, "uns-bench webpush: %s\n", why);
		free(pub);
		return -1;
	}
	free(pub);
	env_tap(e);
	if (uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEB_PUSH)
	            ->open(&e->webpush, e->cfg) != UNS_OK ||
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEBHOOK)
	            ->open(&e->webhook, e->cfg) != UNS_OK) {
		return -1;
	}
	return 0;
}

static void
env_close(bench_env *e)
{
	char cmd[128];

	uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEB_PUSH)->close(e->webpush);
	uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEBHOOK)->close(e->webhook);
	uns_key_free(e->vapid);
	uns_push_config_free(e->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "uns-bench webpush: cannot remove %s\n",
		        e->dir);
	}
}

/* Runs op for one slice; returns operations per second, or -1. */
int
bench_webpush_run(int rounds)
{
	bench_case cases[] = {
	    {"hmac", op_hmac, {0}},       {"aes-gcm", op_gcm, {0}},
	    {"webhook", op_webhook, {0}}, {"es256", op_es256, {0}},
	    {"encrypt", op_encrypt, {0}}, {"webpush", op_webpush, {0}},
	};
	const int ncases = (int)(sizeof(cases) / sizeof(cases[0]));
	bench_env e;
	double base;

	rounds = rounds < 1 ? 1 : rounds > MAX_ROUNDS ? MAX_ROUNDS : rounds;
	if (env_open(&e) != 0) {
		fprintf(stderr, "uns-bench webpush: setup failed\n");
		return 1;
	}
	for (int r = 0; r < rounds; r++) {
		for (int c = 0; c < ncases; c++) {
			if ((cases[c].rate[r] = bench_cpu_rate(cases[c].op, &e,
			                                       SLICE_NS)) < 0) {
				fprintf(stderr,
				        "uns-bench webpush: %s "
				        "failed\n",
				        cases[c].name);
				env_close(&e);
				return 1;
			}
		}
	}
	printf("web push tap cost, one thread, %zu-byte plaintext, %d rounds "
	       "of %lld ms CPU per case (median)\n",
	       e.plain_len, rounds, SLICE_NS / 1000000);
	printf("%-9s %12s %10s %10s\n", "case", "ops/cpu-s", "us/op", "x hmac");
	base = bench_median(cases[0].rate, rounds);
	for (int c = 0; c < ncases; c++) {
		double m = bench_median(cases[c].rate, rounds);
		printf("%-9s %12.0f %10.2f %10.1f\n", cases[c].name, m, 1e6 / m,
		       base / m);
	}
	env_close(&e);
	return 0;
}
