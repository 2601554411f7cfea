/*
 * push_webhook.c — the webhook transport: an HTTPS POST of
 * {"unsid":"…","cursor":"…"} to the subscription's URL, signed so the
 * receiver can tell it came from this server and is fresh.
 *
 * The scheme (README "Webhooks"), in the style of Stripe's and Slack's:
 *   UNS-Timestamp: <Unix seconds when the request was built>
 *   UNS-Signature: v1=<hex HMAC-SHA256(secret, timestamp "." body)>
 * and, while webhook_secret_previous is set, a second entry made with the
 * key being retired ("v1=<new>,v1=<old>"): a receiver accepts a tap when
 * any entry verifies, so it can switch keys at its own moment.
 * The receiver recomputes the HMAC over the raw body bytes, compares in
 * constant time, and refuses timestamps more than 5 minutes from its
 * clock (the replay window); a tap repeated inside the window is
 * harmless, since it only says "pull since your cursor". The secret is
 * webhook_secret (one per server, plus the retiring one). Taps carry no
 * content, so the body needs no encryption beyond TLS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "push_impl.h"

struct uns_push_transport {
	const uns_push_config *cfg;
};

static uns_err
webhook_check(const uns_push_config *cfg, const Uns__V1__Subscription *sub,
              const char **field, char *why, size_t whylen)
{
	*field = "pushChannel";
	return push_check_url(cfg, sub->push_channel, &cfg->webhook_hosts, why,
	                      whylen);
}

static uns_err
webhook_open(uns_push_transport **tp, const uns_push_config *cfg)
{
	uns_push_transport *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		return UNS_ENOMEM;
	}
	t->cfg = cfg;
	*tp = t;
	return UNS_OK;
}

static void
webhook_close(uns_push_transport *t)
{
	free(t);
}

/* hex HMAC-SHA256(key, ts "." body) */
static uns_err
webhook_sign(const uint8_t *key, size_t key_len, const char *ts,
             const char *body, char hex[65])
{
	size_t tl = strlen(ts), bl = strlen(body);
	uint8_t mac[32];
	char *msg = malloc(tl + 1 + bl);
	uns_err err;

	if (msg == NULL) {
		return UNS_ENOMEM;
	}
	memcpy(msg, ts, tl);
	msg[tl] = '.';
	memcpy(msg + tl + 1, body, bl);
	err = uns_hmac_sha256(key, key_len, msg, tl + 1 + bl, mac);
	free(msg);
	for (size_t i = 0; err == UNS_OK && i < sizeof(mac); i++) {
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	}
	return err;
}

/* "v1=<hex>", and ",v1=<hex>" with the retiring key while there is one */
static uns_err
webhook_signature(const uns_push_config *cfg, const char *ts, const char *body,
                  char out[140])
{
	char now[65], old[65];
	uns_err err = webhook_sign(cfg->webhook_secret, cfg->webhook_secret_len,
	                           ts, body, now);

	if (err != UNS_OK || cfg->webhook_previous_len == 0) {
		snprintf(out, 140, "v1=%s", now);
		return err;
	}
	err = webhook_sign(cfg->webhook_previous, cfg->webhook_previous_len, ts,
	                   body, old);
	snprintf(out, 140, "v1=%s,v1=%s", now, old);
	return err;
}

static uns_err
webhook_build(uns_push_transport *t, const uns_tap *tap, uns_push_request *out)
{
	uns_push_request r = {0};
	char ts[24], sig[140];
	json_t *doc = json_pack("{s:s, s:s}", "unsid", tap->sub->unsid,
	                        "cursor", tap->cursor);
	char *body =
	    doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	uns_err err = UNS_ENOMEM;

	json_decref(doc);
	if (body == NULL) {
		goto out;
	}
	snprintf(ts, sizeof(ts), "%lld", (long long)(tap->now_ms / 1000));
	if ((err = webhook_signature(t->cfg, ts, body, sig)) != UNS_OK ||
	    (err = push_set_url(&r, "%s", tap->sub->push_channel)) != UNS_OK ||
	    (err = push_header(&r, "Content-Type: application/json")) !=
	        UNS_OK ||
	    (err = push_header(&r, "UNS-Timestamp: %s", ts)) != UNS_OK ||
	    (err = push_header(&r, "UNS-Signature: %s", sig)) != UNS_OK) {
		goto out;
	}
	push_set_body(&r, (unsigned char *)body, strlen(body));
	body = NULL;
	*out = r;
	memset(&r, 0, sizeof(r));
out:
	free(body);
	uns_push_request_free(&r);
	return err;
}

/* Common rules, except that a webhook has no token to renew: 401/403
 * mean the receiver refused our signature. */
static uns_push_outcome
webhook_classify(uns_push_transport *t, const uns_push_response *resp,
                 int64_t *retry_after_ms)
{
	uns_push_outcome o = push_classify_common(resp, retry_after_ms);

	return o == UNS_PUSH_REAUTH ? UNS_PUSH_REJECTED : o;
}

const uns_push_transport_ops uns_push_webhook = {
    .name = "webhook",
    .platform = UNS__V1__PLATFORM__PLATFORM_WEBHOOK,
    .check = webhook_check,
    .open = webhook_open,
    .close = webhook_close,
    .build = webhook_build,
    .classify = webhook_classify,
};
