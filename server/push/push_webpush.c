/*
 * push_webpush.c — the Web Push transport: RFC 8030 delivery, RFC 8291
 * message encryption (aes128gcm), RFC 8292 VAPID.
 *
 * A browser must show a notification for every push it gets (Chrome's
 * userVisibleOnly), so Web Push carries the visual content of a post,
 * end-to-end encrypted to the browser's p256dh key, next to the cursor
 * the service worker pulls from:
 *   {"unsid":"…","cursor":"…","id":"…","title":"…","body":"…"}
 * State changes (read, dismissed, deleted) are never sent: there is
 * nothing to show. The engine skips them; build() refuses them too.
 *
 * Headers: TTL (webpush_ttl, capped by the notification's expiry),
 * Urgency (high for High priority, low for Low, else normal), Topic
 * "feed" (an undelivered tap of a subscription is replaced by the next:
 * the service worker pulls the whole feed since its cursor anyway),
 * Content-Encoding aes128gcm, and Authorization: vapid t=JWT, k=KEY.
 *
 * The VAPID JWT names the push service's origin, so one token serves
 * every endpoint there; tokens are cached per origin (a few push
 * services exist) for vapid_token_lifetime (12 h) and renewed an hour
 * before they end.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "push_impl.h"

extern const uns_push_transport_ops uns_push_webpush; /* below */

#define VAPID_RENEW_S 3600 /* before exp */
#define VAPID_CACHE   16
#define TOPIC         "feed"

typedef struct vapid_entry {
	char origin[300];
	char *jwt;
	int64_t exp_s;
} vapid_entry;

typedef struct webpush_vals {
	char hosts[UNS_CONFIG_STR_MAX];
	char vapid_key[UNS_CONFIG_STR_MAX]; /* file */
	char vapid_subject[UNS_CONFIG_STR_MAX];
	int64_t ttl_s;
	int64_t vapid_lifetime_s;
} webpush_vals;

static const uns_config_key webpush_keys[] = {
    UNS_CONFIG_KEY(
        "push: web push", "webpush_hosts", STRING, webpush_vals, hosts, 0,
        PUSH_STRLEN,
        "*.googleapis.com,*.mozilla.com,*.apple.com,*.notify.windows.com",
        "Push services a Web Push endpoint may point at, comma-separated;\n"
        "\"*.example.com\" admits subdomains. \"\" = any public host."),
    UNS_CONFIG_KEY("push: web push", "vapid_key", PATH, webpush_vals, vapid_key,
                   0, PUSH_STRLEN, "",
                   "VAPID signing key (PEM, EC P-256) for Web Push. \"\" =\n"
                   "data_dir/push/vapid.pem, made on first run; \"unsctl "
                   "vapid\"\n"
                   "prints its public key (the applicationServerKey)."),
    UNS_CONFIG_KEY("push: web push", "vapid_subject", STRING, webpush_vals,
                   vapid_subject, 1, PUSH_STRLEN, "mailto:admin@localhost",
                   "VAPID \"sub\" claim: a mailto: or https: contact for "
                   "push\n"
                   "services."),
    UNS_CONFIG_KEY("push: web push", "webpush_ttl", DURATION_S, webpush_vals,
                   ttl_s, 0, 28 * PUSH_DAY_S, "1d",
                   "TTL of Web Push messages (how long the service keeps "
                   "them)."),
    UNS_CONFIG_KEY("push: web push", "vapid_token_lifetime", DURATION_S,
                   webpush_vals, vapid_lifetime_s, 2 * PUSH_HOUR_S,
                   24 * PUSH_HOUR_S, "12h",
                   "Lifetime (exp) of a VAPID token; one is signed per push "
                   "service\n"
                   "and reused until an hour before it ends."),
};

static const uns_config_section webpush_section = {
    webpush_keys, sizeof(webpush_keys) / sizeof(webpush_keys[0]),
    sizeof(webpush_vals)};

typedef struct webpush_settings {
	webpush_vals v;
	push_hosts hosts;
	uns_key *vapid; /* NULL: no key (build fails) */
	uint8_t vapid_public[UNS_P256_PUBLEN];
} webpush_settings;

struct uns_push_transport {
	const webpush_settings *s;
	pthread_mutex_t lock; /* the cache */
	vapid_entry cache[VAPID_CACHE];
	size_t next; /* slot replaced next when the cache is full */
};

/* A base64url key of exactly want bytes; trailing "=" padding tolerated
 * (some clients pad). */
static bool
decode_key(const char *s, uint8_t *out, size_t want)
{
	size_t n = strlen(s);
	long got;

	while (n > 0 && s[n - 1] == '=') {
		n--;
	}
	got = uns_b64url_decode(s, n, out, want);
	return got == (long)want;
}

static uns_err
load_vapid(webpush_settings *s, const char *data_dir, char *why, size_t whylen)
{
	char path[PUSH_STR + 32], *b64 = NULL, inner[400];
	const char *key = s->v.vapid_key;
	uns_err err;

	if (key[0] != '\0') {
		snprintf(path, sizeof(path), "%s", key);
	} else {
		snprintf(path, sizeof(path), "%s/push/vapid.pem", data_dir);
	}
	if ((err = uns_vapid_key(path, key[0] == '\0', &b64, inner,
	                         sizeof(inner))) != UNS_OK) {
		uns_say(why, whylen, "vapid_key: %s", inner);
		return err;
	}
	free(b64);
	if ((err = uns_key_read_file(&s->vapid, path, inner, sizeof(inner))) !=
	        UNS_OK ||
	    (err = uns_key_p256_public(s->vapid, s->vapid_public)) != UNS_OK) {
		uns_say(why, whylen, "vapid_key: %s", inner);
	}
	return err;
}

static void
webpush_unload(void *settings)
{
	webpush_settings *s = settings;

	if (s == NULL) {
		return;
	}
	uns_key_free(s->vapid);
	free(s);
}

static uns_err
webpush_load(void **out, const void *vals, const uns_push_config *cfg,
             char *why, size_t whylen)
{
	webpush_settings *s = calloc(1, sizeof(*s));
	uns_err err;

	if (s == NULL) {
		return UNS_ENOMEM;
	}
	s->v = *(const webpush_vals *)vals;
	if ((err = push_hosts_parse(s->v.hosts, "webpush_hosts", &s->hosts, why,
	                            whylen)) != UNS_OK ||
	    (err = load_vapid(s, cfg->data_dir, why, whylen)) != UNS_OK) {
		webpush_unload(s);
		return err;
	}
	*out = s;
	return UNS_OK;
}

static uns_err
webpush_check(const uns_push_config *cfg, const Uns__V1__Subscription *sub,
              const char **field, char *why, size_t whylen)
{
	const webpush_settings *s = push_settings(cfg, &uns_push_webpush);
	const Uns__V1__WebPushSubscription *w = sub->web_push;
	uint8_t pub[UNS_P256_PUBLEN], auth[UNS_WEBPUSH_AUTHLEN];

	*field = "webPush";
	if (w == NULL) {
		uns_say(why, whylen, "required");
		return UNS_INVALID_ARGUMENT;
	}
	*field = "webPush.keys.p256dh";
	if (!decode_key(w->p256dh, pub, sizeof(pub)) ||
	    uns_p256_check_public(pub, sizeof(pub)) != UNS_OK) {
		uns_say(why, whylen,
		        "must be an uncompressed P-256 point (65 bytes, "
		        "base64url)");
		return UNS_INVALID_ARGUMENT;
	}
	*field = "webPush.keys.auth";
	if (!decode_key(w->auth, auth, sizeof(auth))) {
		uns_say(why, whylen, "must be 16 bytes, base64url");
		return UNS_INVALID_ARGUMENT;
	}
	*field = "webPush.endpoint";
	return push_check_url(cfg, w->endpoint, &s->hosts, why, whylen);
}

static uns_err
webpush_open(uns_push_transport **tp, const uns_push_config *cfg)
{
	uns_push_transport *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		return UNS_ENOMEM;
	}
	t->s = push_settings(cfg, &uns_push_webpush);
	pthread_mutex_init(&t->lock, NULL);
	*tp = t;
	return UNS_OK;
}

static void
webpush_close(uns_push_transport *t)
{
	if (t == NULL) {
		return;
	}
	for (size_t i = 0; i < VAPID_CACHE; i++) {
		free(t->cache[i].jwt);
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* "https://host[:port]" of the endpoint. */
static uns_err
origin_of(const char *endpoint, char *out, size_t cap)
{
	push_url u;
	bool v6;

	if (push_url_parse(endpoint, &u, NULL, 0) != UNS_OK) {
		return UNS_INVALID_ARGUMENT;
	}
	v6 = strchr(u.host, ':') != NULL;
	snprintf(out, cap, "%s://%s%s%s%s%s", u.scheme, v6 ? "[" : "", u.host,
	         v6 ? "]" : "", u.port[0] ? ":" : "", u.port);
	return UNS_OK;
}

static uns_err
vapid_mint(const webpush_settings *s, const char *origin, int64_t exp_s,
           char **out)
{
	uns_jv *claims = uns_jv_new_object();
	char *c;
	uns_err err = UNS_ENOMEM;

	if (claims == NULL || uns_jv_set_str(claims, "aud", origin) ||
	    uns_jv_set_int(claims, "exp", exp_s) ||
	    uns_jv_set_str(claims, "sub", s->v.vapid_subject)) {
		uns_jv_free(claims);
		return UNS_ENOMEM;
	}
	if ((c = push_json_text(claims)) != NULL) {
		err = push_jwt_sign(
		    s->vapid, "{\"typ\":\"JWT\",\"alg\":\"ES256\"}", c, out);
	}
	free(c);
	return err;
}

/* A copy of the cached token for origin, minted when missing or old. */
static uns_err
vapid_token(uns_push_transport *t, const char *origin, int64_t now_s,
            char **out)
{
	vapid_entry *e = NULL;
	char *jwt = NULL, *copy;
	uns_err err = UNS_OK;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < VAPID_CACHE && e == NULL; i++) {
		if (strcmp(t->cache[i].origin, origin) == 0) {
			e = &t->cache[i];
		}
	}
	if (e == NULL || e->exp_s - VAPID_RENEW_S <= now_s) {
		if ((err = vapid_mint(t->s, origin,
		                      now_s + t->s->v.vapid_lifetime_s,
		                      &jwt)) != UNS_OK) {
			goto out;
		}
		if (e == NULL) {
			e = &t->cache[t->next];
			t->next = (t->next + 1) % VAPID_CACHE;
		}
		free(e->jwt);
		e->jwt = jwt;
		e->exp_s = now_s + t->s->v.vapid_lifetime_s;
		snprintf(e->origin, sizeof(e->origin), "%s", origin);
	}
	if ((copy = strdup(e->jwt)) == NULL) {
		err = UNS_ENOMEM;
		goto out;
	}
	*out = copy;
out:
	pthread_mutex_unlock(&t->lock);
	return err;
}

/* The plaintext: cursor and visual content, cut to fit one push. */
static char *
webpush_payload(const uns_tap *tap)
{
	const Uns__V1__Notification *n = tap->subject;
	const Uns__V1__VisualContent *v =
	    n && n->payload ? n->payload->visual_content : NULL;
	uns_jv *doc = uns_jv_new_object();
	char *text = NULL;

	if (doc == NULL || uns_jv_set_str(doc, "unsid", tap->sub->unsid) ||
	    uns_jv_set_str(doc, "cursor", tap->cursor)) {
		uns_jv_free(doc);
		return NULL;
	}
	/* What cannot be JSON (not UTF-8) is left out, not the push. */
	if (n != NULL) {
		(void)uns_jv_set_str(doc, "id", n->id);
	}
	if (v != NULL) {
		(void)uns_jv_set_str(doc, "title", v->title);
		(void)uns_jv_set_str(doc, "body", v->body);
	}
	/* Escaped text may outgrow a push: drop the body, then the title. */
	for (int pass = 0; pass < 3; pass++) {
		free(text);
		text = push_json_text(uns_jv_ref(doc));
		if (text == NULL || strlen(text) <= UNS_WEBPUSH_MAX_PLAINTEXT) {
			break;
		}
		(void)uns_jv_del(doc, pass == 0 ? "body" : "title");
	}
	uns_jv_free(doc);
	return text;
}

/* Seconds the push service should keep the message. */
static int64_t
ttl_of(const webpush_settings *s, const uns_tap *tap)
{
	int64_t ttl = s->v.ttl_s;
	const Uns__V1__Notification *n = tap->subject;

	if (n != NULL && n->expiration_time_ms > 0) {
		int64_t left = (n->expiration_time_ms - tap->now_ms) / 1000;
		ttl = left < ttl ? left : ttl;
	}
	return ttl < 0 ? 0 : ttl;
}

static const char *
urgency_of(const uns_tap *tap)
{
	Uns__V1__Priority p = tap->subject ? tap->subject->priority
	                                   : UNS__V1__PRIORITY__PRIORITY_NONE;

	return p == UNS__V1__PRIORITY__PRIORITY_HIGH  ? "high"
	       : p == UNS__V1__PRIORITY__PRIORITY_LOW ? "low"
	                                              : "normal";
}

static uns_err
encrypt_payload(const Uns__V1__WebPushSubscription *w, const char *text,
                uns_push_request *r)
{
	uint8_t pub[UNS_P256_PUBLEN], auth[UNS_WEBPUSH_AUTHLEN];
	size_t len = strlen(text), cap = len + UNS_WEBPUSH_OVERHEAD, n = 0;
	unsigned char *body;
	uns_err err;

	if (!decode_key(w->p256dh, pub, sizeof(pub)) ||
	    !decode_key(w->auth, auth, sizeof(auth))) {
		return UNS_INVALID_ARGUMENT;
	}
	if ((body = malloc(cap)) == NULL) {
		return UNS_ENOMEM;
	}
	err = uns_webpush_encrypt(pub, auth, (const uint8_t *)text, len, NULL,
	                          NULL, body, cap, &n);
	if (err != UNS_OK) {
		free(body);
		return err == UNS_EINVAL ? UNS_INVALID_ARGUMENT : err;
	}
	push_set_body(r, body, n);
	return UNS_OK;
}

static uns_err
webpush_build(uns_push_transport *t, const uns_tap *tap, uns_push_request *out)
{
	const Uns__V1__WebPushSubscription *w = tap->sub->web_push;
	uns_push_request r = {0};
	char origin[300], k[UNS_B64URL_LEN(UNS_P256_PUBLEN)];
	char *text = NULL, *jwt = NULL;
	uns_err err = UNS_ENOMEM;

	if (tap->state_change) {
		return UNS_FAILED_PRECONDITION; /* nothing to show */
	}
	if (t->s->vapid == NULL) {
		return UNS_FAILED_PRECONDITION;
	}
	if (w == NULL ||
	    origin_of(w->endpoint, origin, sizeof(origin)) != UNS_OK) {
		return UNS_INVALID_ARGUMENT;
	}
	uns_b64url_encode(t->s->vapid_public, UNS_P256_PUBLEN, k);
	if ((text = webpush_payload(tap)) == NULL ||
	    (err = encrypt_payload(w, text, &r)) != UNS_OK ||
	    (err = vapid_token(t, origin, tap->now_ms / 1000, &jwt)) !=
	        UNS_OK ||
	    (err = push_set_url(&r, "%s", w->endpoint)) != UNS_OK ||
	    (err = push_header(&r, "TTL: %lld",
	                       (long long)ttl_of(t->s, tap))) != UNS_OK ||
	    (err = push_header(&r, "Urgency: %s", urgency_of(tap))) != UNS_OK ||
	    (err = push_header(&r, "Topic: %s", TOPIC)) != UNS_OK ||
	    (err = push_header(&r, "Content-Encoding: aes128gcm")) != UNS_OK ||
	    (err = push_header(&r, "Content-Type: application/octet-stream")) !=
	        UNS_OK ||
	    (err = push_header(&r, "Authorization: vapid t=%s, k=%s", jwt,
	                       k)) != UNS_OK) {
		goto out;
	}
	*out = r;
	memset(&r, 0, sizeof(r));
out:
	if (text != NULL) {
		uns_wipe(text, strlen(text));
	}
	free(text);
	free(jwt);
	uns_push_request_free(&r);
	return err;
}

/*
 * 201 accepted; 404/410 gone; 429/5xx retry; 400 malformed and 413 too
 * big (our bug: drop the tap). 401/403 refuse our VAPID token; that is
 * also what a subscription made for an older applicationServerKey gets,
 * but a clock or configuration fault on our side would look the same, so
 * the tap is dropped and the subscription kept (REJECTED, not DEAD).
 */
static uns_push_outcome
webpush_classify(uns_push_transport *t, const uns_push_response *resp,
                 int64_t *retry_after_ms)
{
	uns_push_outcome o = push_classify_common(resp, retry_after_ms);

	return o == UNS_PUSH_REAUTH ? UNS_PUSH_REJECTED : o;
}

const uns_push_transport_ops uns_push_webpush = {
    .name = "webpush",
    .platform = UNS__V1__PLATFORM__PLATFORM_WEB_PUSH,
    .keys = &webpush_section,
    .load = webpush_load,
    .unload = webpush_unload,
    .check = webpush_check,
    .open = webpush_open,
    .close = webpush_close,
    .build = webpush_build,
    .classify = webpush_classify,
};
