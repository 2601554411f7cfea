/*
 * push_apns.c — the APNs transport: HTTP/2 requests with token-based
 * authentication to {apns_url}/3/device/{token}.
 *
 * A tap is a background push: apns-push-type background, apns-priority
 * 5, {"aps":{"content-available":1},"unsid":…,"cursor":…}; the app wakes,
 * pulls its feed and shows what it finds. Apple throttles background
 * pushes and may drop them, which is why SPEC §5 has the fallback: for
 * a tap with fallback set, a visible alert (push type alert, priority
 * 10, the fallback's title and body, mutable-content so a Notification
 * Service Extension may pull first), collapsed on the notification id
 * so a repeat replaces rather than stacks. Background taps share the
 * collapse id "feed".
 *
 * The provider token is an ES256 JWT {"alg","kid"}{"iss":team,"iat"}
 * signed with the .p8 key. Apple wants it reused (renewing more than
 * every 20 minutes gets TooManyProviderTokenUpdates) and refuses it
 * after an hour (ExpiredProviderToken), so one token is kept per
 * transport and renewed at apns_token_refresh (40 min), or at once after
 * APNs refused it (classify marks it stale; the engine retries).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "push_impl.h"

extern const uns_push_transport_ops uns_push_apns; /* below */

#define MIN_TOKEN_HEX 32
#define MAX_TOKEN_HEX 200
#define MAX_COLLAPSE  64

typedef struct apns_vals {
	char url[UNS_CONFIG_STR_MAX];
	char key[UNS_CONFIG_STR_MAX]; /* .p8 file */
	char key_id[UNS_CONFIG_STR_MAX];
	char team_id[UNS_CONFIG_STR_MAX];
	char topic[UNS_CONFIG_STR_MAX];
	int64_t token_refresh_s;
	int64_t ttl_s;
} apns_vals;

static const uns_config_key apns_keys[] = {
    UNS_CONFIG_KEY("push: apns", "apns_url", URL, apns_vals, url, 1,
                   PUSH_STRLEN, "https://api.push.apple.com",
                   "APNs base URL (https://api.sandbox.push.apple.com for\n"
                   "development builds)."),
    UNS_CONFIG_KEY("push: apns", "apns_key", PATH, apns_vals, key, 0,
                   PUSH_STRLEN, "",
                   "APNs token-auth key (.p8, PKCS#8 EC P-256). \"\" = "
                   "APNs off."),
    UNS_CONFIG_KEY("push: apns", "apns_key_id", STRING, apns_vals, key_id, 0,
                   64, "", "Key ID of apns_key (the JWT \"kid\")."),
    UNS_CONFIG_KEY("push: apns", "apns_team_id", STRING, apns_vals, team_id, 0,
                   64, "", "Apple developer Team ID (the JWT \"iss\")."),
    UNS_CONFIG_KEY("push: apns", "apns_topic", STRING, apns_vals, topic, 0, 255,
                   "", "The app's bundle id (apns-topic)."),
    UNS_CONFIG_KEY("push: apns", "apns_token_refresh", DURATION_S, apns_vals,
                   token_refresh_s, 20 * PUSH_MIN_S, 60 * PUSH_MIN_S, "40m",
                   "Age at which the APNs provider token is signed anew "
                   "(Apple\n"
                   "refuses tokens older than an hour, and too frequent "
                   "renewals)."),
    UNS_CONFIG_KEY("push: apns", "apns_ttl", DURATION_S, apns_vals, ttl_s, 0,
                   28 * PUSH_DAY_S, "1d",
                   "How long APNs keeps an undelivered tap "
                   "(apns-expiration)."),
};

static const uns_config_section apns_section = {
    apns_keys, sizeof(apns_keys) / sizeof(apns_keys[0]), sizeof(apns_vals)};

typedef struct apns_settings {
	apns_vals v;
	uns_key *key; /* NULL: not configured */
} apns_settings;

struct uns_push_transport {
	const apns_settings *s;
	pthread_mutex_t lock; /* the provider token */
	char *jwt;
	int64_t jwt_iat_s;
	bool stale;
};

static bool
hex_token(const char *s)
{
	size_t n = strlen(s);

	if (n < MIN_TOKEN_HEX || n > MAX_TOKEN_HEX || n % 2 != 0) {
		return false;
	}
	return strspn(s, "0123456789abcdefABCDEF") == n;
}

static void
apns_unload(void *settings)
{
	apns_settings *s = settings;

	if (s == NULL) {
		return;
	}
	uns_key_free(s->key);
	free(s);
}

static uns_err
apns_load(void **out, const void *vals, const uns_push_config *cfg, char *why,
          size_t whylen)
{
	apns_settings *s = calloc(1, sizeof(*s));
	char inner[400];

	(void)cfg;
	if (s == NULL) {
		return UNS_ENOMEM;
	}
	s->v = *(const apns_vals *)vals;
	*out = s;
	if (s->v.key[0] == '\0') {
		return UNS_OK;
	}
	if (s->v.key_id[0] == '\0' || s->v.team_id[0] == '\0' ||
	    s->v.topic[0] == '\0') {
		uns_say(why, whylen,
		        "apns_key needs apns_key_id, apns_team_id and "
		        "apns_topic");
		return UNS_EINVAL;
	}
	if (uns_key_read_file(&s->key, s->v.key, inner, sizeof(inner)) !=
	        UNS_OK ||
	    uns_key_type_of(s->key) != UNS_KEY_P256 ||
	    !uns_key_is_private(s->key)) {
		uns_say(why, whylen, "apns_key: %s",
		        s->key ? "not an ec p-256 private key" : inner);
		return UNS_EINVAL;
	}
	return UNS_OK;
}

static uns_err
apns_check(const uns_push_config *cfg, const Uns__V1__Subscription *sub,
           const char **field, char *why, size_t whylen)
{
	*field = "pushChannel";
	if (!hex_token(sub->push_channel)) {
		uns_say(why, whylen,
		        "an APNs device token is %d to %d hex digits",
		        MIN_TOKEN_HEX, MAX_TOKEN_HEX);
		return UNS_INVALID_ARGUMENT;
	}
	return UNS_OK;
}

static uns_err
apns_open(uns_push_transport **tp, const uns_push_config *cfg)
{
	uns_push_transport *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		return UNS_ENOMEM;
	}
	t->s = push_settings(cfg, &uns_push_apns);
	pthread_mutex_init(&t->lock, NULL);
	*tp = t;
	return UNS_OK;
}

static void
apns_close(uns_push_transport *t)
{
	if (t == NULL) {
		return;
	}
	free(t->jwt);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static uns_err
provider_mint(const apns_settings *s, int64_t now_s, char **out)
{
	uns_jv *h = uns_jv_new_object(), *c = uns_jv_new_object();
	char *hs = NULL, *cs = NULL;
	uns_err err = UNS_ENOMEM;

	if (h == NULL || c == NULL || uns_jv_set_str(h, "alg", "ES256") ||
	    uns_jv_set_str(h, "kid", s->v.key_id) ||
	    uns_jv_set_str(c, "iss", s->v.team_id) ||
	    uns_jv_set_int(c, "iat", now_s)) {
		uns_jv_free(h);
		uns_jv_free(c);
		return UNS_ENOMEM;
	}
	hs = push_json_text(h);
	cs = push_json_text(c);
	if (hs != NULL && cs != NULL) {
		err = push_jwt_sign(s->key, hs, cs, out);
	}
	free(hs);
	free(cs);
	return err;
}

/* A copy of the provider token, renewed when old or refused. */
static uns_err
provider_token(uns_push_transport *t, int64_t now_s, char **out)
{
	uns_err err = UNS_OK;
	char *jwt = NULL;

	pthread_mutex_lock(&t->lock);
	if (t->jwt == NULL || t->stale ||
	    now_s - t->jwt_iat_s >= t->s->v.token_refresh_s ||
	    now_s < t->jwt_iat_s) {
		if ((err = provider_mint(t->s, now_s, &jwt)) != UNS_OK) {
			goto out;
		}
		free(t->jwt);
		t->jwt = jwt;
		t->jwt_iat_s = now_s;
		t->stale = false;
	}
	if ((*out = strdup(t->jwt)) == NULL) {
		err = UNS_ENOMEM;
	}
out:
	pthread_mutex_unlock(&t->lock);
	return err;
}

/* The visual content of the fallback alert: the fallback's own, else
 * the notification's. */
static const Uns__V1__VisualContent *
fallback_visual(const Uns__V1__Notification *n)
{
	const Uns__V1__EndpointFallback *f =
	    n && n->fallback_policy ? n->fallback_policy->endpoint_fallback
	                            : NULL;

	if (f != NULL && f->visual_content != NULL) {
		return f->visual_content;
	}
	return n && n->payload ? n->payload->visual_content : NULL;
}

/* {"aps":{"alert":{"title","body"},"sound":"default",
 * "mutable-content":1}} for a fallback alert, {"aps":{"content-available":
 * 1}} for a tap; then unsid, cursor, and the alert's notification id. */
static char *
apns_payload(const uns_tap *tap)
{
	const Uns__V1__VisualContent *v = fallback_visual(tap->subject);
	uns_jv *doc = uns_jv_new_object(), *aps = uns_jv_new_object(), *alert;
	bool bad = uns_jv_set(doc, "aps", aps) != UNS_OK; /* aps: doc's */

	if (!bad && tap->fallback) {
		alert = uns_jv_new_object();
		bad = uns_jv_set(aps, "alert", alert) ||
		      uns_jv_set_str(alert, "title", v ? v->title : "") ||
		      uns_jv_set_str(alert, "body", v ? v->body : "") ||
		      uns_jv_set_str(aps, "sound", "default") ||
		      uns_jv_set_int(aps, "mutable-content", 1);
	} else if (!bad) {
		bad = uns_jv_set_int(aps, "content-available", 1);
	}
	if (bad || uns_jv_set_str(doc, "unsid", tap->sub->unsid) ||
	    uns_jv_set_str(doc, "cursor", tap->cursor)) {
		uns_jv_free(doc);
		return NULL;
	}
	if (tap->fallback && tap->subject != NULL) { /* left out if not UTF-8 */
		(void)uns_jv_set_str(doc, "id", tap->subject->id);
	}
	return push_json_text(doc);
}

/* apns-collapse-id: "feed" for taps; the notification id for a
 * fallback alert, hashed when over 64 bytes. */
static void
collapse_id(const uns_tap *tap, char *out, size_t cap)
{
	const char *id = tap->subject ? tap->subject->id : "";
	uint8_t h[32];

	if (!tap->fallback || id[0] == '\0') {
		snprintf(out, cap, "feed");
	} else if (strlen(id) <= MAX_COLLAPSE) {
		snprintf(out, cap, "%s", id);
	} else if (uns_sha256(id, strlen(id), h) == UNS_OK) {
		uns_b64url_encode(h, sizeof(h), out); /* 43 characters */
	}
}

static int64_t
expiration_of(const apns_settings *s, const uns_tap *tap)
{
	int64_t exp = tap->now_ms / 1000 + s->v.ttl_s;
	const Uns__V1__Notification *n = tap->subject;

	if (n != NULL && n->expiration_time_ms > 0 &&
	    n->expiration_time_ms / 1000 < exp) {
		exp = n->expiration_time_ms / 1000;
	}
	return exp;
}

static uns_err
apns_build(uns_push_transport *t, const uns_tap *tap, uns_push_request *out)
{
	const apns_settings *s = t->s;
	uns_push_request r = {0};
	char collapse[72], *jwt = NULL, *body = NULL;
	uns_err err = UNS_ENOMEM;

	if (s->key == NULL) {
		return UNS_FAILED_PRECONDITION; /* apns_key not set */
	}
	if (!hex_token(tap->sub->push_channel)) {
		return UNS_INVALID_ARGUMENT;
	}
	collapse_id(tap, collapse, sizeof(collapse));
	if ((body = apns_payload(tap)) == NULL ||
	    (err = provider_token(t, tap->now_ms / 1000, &jwt)) != UNS_OK ||
	    (err = push_set_url(&r, "%s/3/device/%s", s->v.url,
	                        tap->sub->push_channel)) != UNS_OK ||
	    (err = push_header(&r, "authorization: bearer %s", jwt)) !=
	        UNS_OK ||
	    (err = push_header(&r, "apns-topic: %s", s->v.topic)) != UNS_OK ||
	    (err = push_header(&r, "apns-push-type: %s",
	                       tap->fallback ? "alert" : "background")) !=
	        UNS_OK ||
	    (err = push_header(&r, "apns-priority: %s",
	                       tap->fallback ? "10" : "5")) != UNS_OK ||
	    (err = push_header(&r, "apns-expiration: %lld",
	                       (long long)expiration_of(s, tap))) != UNS_OK ||
	    (err = push_header(&r, "apns-collapse-id: %s", collapse)) !=
	        UNS_OK ||
	    (err = push_header(&r, "content-type: application/json")) !=
	        UNS_OK) {
		goto out;
	}
	push_set_body(&r, (unsigned char *)body, strlen(body));
	body = NULL;
	r.http2 = true;
	*out = r;
	memset(&r, 0, sizeof(r));
out:
	free(body);
	free(jwt);
	uns_push_request_free(&r);
	return err;
}

/* What APNs's {"reason"} means for the device token. */
static const struct {
	long status;
	const char *reason;
	uns_push_outcome outcome;
} reasons[] = {
    {400, "BadDeviceToken", UNS_PUSH_DEAD},
    {400, "DeviceTokenNotForTopic", UNS_PUSH_DEAD},
    {403, "ExpiredProviderToken", UNS_PUSH_REAUTH},
    {403, "InvalidProviderToken", UNS_PUSH_REAUTH},
    {410, "Unregistered", UNS_PUSH_DEAD},
    {410, "ExpiredToken", UNS_PUSH_DEAD},
    {429, "TooManyProviderTokenUpdates", UNS_PUSH_RETRY},
};

/*
 * 200 delivered; 410 and a token APNs calls bad or foreign: dead; 403
 * provider token refused: renew it and retry (REAUTH); 429 and 5xx:
 * retry; anything else (400 BadCollapseId, 404 BadPath, 413...) is our
 * request's fault: drop the tap.
 */
static uns_push_outcome
apns_classify(uns_push_transport *t, const uns_push_response *resp,
              int64_t *retry_after_ms)
{
	char reason[64];
	uns_push_outcome o = UNS_PUSH_REJECTED;

	*retry_after_ms = -1;
	push_json_string(resp, "reason", reason, sizeof(reason));
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (resp->status == reasons[i].status &&
		    strcmp(reason, reasons[i].reason) == 0) {
			o = reasons[i].outcome;
			goto found;
		}
	}
	if (resp->status == 200) {
		return UNS_PUSH_DELIVERED;
	}
	if (resp->status == 410) {
		return UNS_PUSH_DEAD;
	}
	if (resp->status == 0 || resp->status == 429 || resp->status >= 500) {
		o = UNS_PUSH_RETRY;
	}
found:
	if (o == UNS_PUSH_RETRY) {
		*retry_after_ms = push_retry_after(resp);
	}
	if (o == UNS_PUSH_REAUTH && t != NULL) {
		pthread_mutex_lock(&t->lock);
		t->stale = true;
		pthread_mutex_unlock(&t->lock);
	}
	return o;
}

const uns_push_transport_ops uns_push_apns = {
    .name = "apns",
    .platform = UNS__V1__PLATFORM__PLATFORM_IOS,
    .keys = &apns_section,
    .load = apns_load,
    .unload = apns_unload,
    .check = apns_check,
    .open = apns_open,
    .close = apns_close,
    .build = apns_build,
    .classify = apns_classify,
};
