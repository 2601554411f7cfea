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
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "files.h"
#include "push_impl.h"

extern const uns_push_transport_ops uns_push_webhook; /* below */

#define KEY_MAX 256 /* bytes of a signing key */

typedef struct webhook_vals {
	char hosts[UNS_CONFIG_STR_MAX];
	char secret[UNS_CONFIG_STR_MAX];          /* file */
	char secret_previous[UNS_CONFIG_STR_MAX]; /* file */
} webhook_vals;

static const uns_config_key webhook_keys[] = {
    UNS_CONFIG_KEY("push: webhook", "webhook_hosts", STRING, webhook_vals,
                   hosts, 0, PUSH_STRLEN, "",
                   "Hosts webhooks may point at, comma-separated; "
                   "\"*.example.com\"\n"
                   "admits subdomains. \"\" = any public host."),
    UNS_CONFIG_KEY("push: webhook", "webhook_secret", PATH, webhook_vals,
                   secret, 0, PUSH_STRLEN, "",
                   "File with the HMAC-SHA256 key that signs webhook "
                   "requests (its\n"
                   "bytes, one final newline ignored). \"\" = data_dir/push/\n"
                   "webhook.secret, made on first run (64 hex digits)."),
    UNS_CONFIG_KEY("push: webhook", "webhook_secret_previous", PATH,
                   webhook_vals, secret_previous, 0, PUSH_STRLEN, "",
                   "File with the webhook key being retired. While set, "
                   "every webhook\n"
                   "carries a second signature made with it, so receivers "
                   "can move to\n"
                   "the new key without refusing a tap. \"\" = none."),
};

static const uns_config_section webhook_section = {
    webhook_keys, sizeof(webhook_keys) / sizeof(webhook_keys[0]),
    sizeof(webhook_vals)};

typedef struct webhook_settings {
	push_hosts hosts;
	uint8_t secret[KEY_MAX];
	size_t secret_len;
	uint8_t previous[KEY_MAX]; /* the key being retired */
	size_t previous_len;       /* 0: none */
} webhook_settings;

struct uns_push_transport {
	const webhook_settings *s;
};

/* A webhook key from path into key (KEY_MAX bytes): the file's bytes,
 * one final newline off; key_name is the config key the errors name. */
static uns_err
read_key(const char *path, const char *key_name, uint8_t *key, size_t *len_out,
         char *why, size_t whylen)
{
	char text[KEY_MAX + 3];
	size_t len = 0;

	if (push_read_text(path, text, sizeof(text), &len) != UNS_OK) {
		uns_say(why, whylen, "%s: cannot read %s (at most 256 bytes)",
		        key_name, path);
		return UNS_EIO;
	}
	if (len > 0 && text[len - 1] == '\n') {
		len--;
	}
	if (len > 0 && text[len - 1] == '\r') {
		len--;
	}
	if (len < 16 || len > KEY_MAX) {
		uns_say(why, whylen, "%s: %s holds %zu bytes, needs 16 to %d",
		        key_name, path, len, KEY_MAX);
		uns_wipe(text, sizeof(text));
		return UNS_EINVAL;
	}
	memcpy(key, text, len);
	*len_out = len;
	uns_wipe(text, sizeof(text));
	return UNS_OK;
}

/* DATA/push/webhook.secret, 64 random hex digits, unless it exists. */
static uns_err
make_secret(const char *path, char *why, size_t whylen)
{
	uint8_t raw[32];
	char hex[65];

	if (uns_random(raw, sizeof(raw)) != UNS_OK) {
		return UNS_INTERNAL;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	}
	hex[64] = '\n';
	if (uns_file_write_new(path, hex, 65) != UNS_OK) {
		uns_say(why, whylen, "webhook_secret: cannot write %s: %s",
		        path, strerror(errno));
		return UNS_EIO;
	}
	return UNS_OK;
}

/* The signing key, and the retired one while webhook_secret_previous
 * names it. */
static uns_err
load_secrets(webhook_settings *s, const webhook_vals *v, const char *data_dir,
             char *why, size_t whylen)
{
	char path[PUSH_STR + 32];
	uns_err err;

	if (v->secret[0] != '\0') {
		snprintf(path, sizeof(path), "%s", v->secret);
	} else {
		snprintf(path, sizeof(path), "%s/push/webhook.secret",
		         data_dir);
		if ((err = make_secret(path, why, whylen)) != UNS_OK) {
			return err;
		}
	}
	err = read_key(path, "webhook_secret", s->secret, &s->secret_len, why,
	               whylen);
	if (err != UNS_OK || v->secret_previous[0] == '\0') {
		return err;
	}
	return read_key(v->secret_previous, "webhook_secret_previous",
	                s->previous, &s->previous_len, why, whylen);
}

static void
webhook_unload(void *settings)
{
	if (settings != NULL) {
		uns_wipe(settings, sizeof(webhook_settings));
	}
	free(settings);
}

static uns_err
webhook_load(void **out, const void *vals, const uns_push_config *cfg,
             char *why, size_t whylen)
{
	const webhook_vals *v = vals;
	webhook_settings *s = calloc(1, sizeof(*s));
	uns_err err;

	if (s == NULL) {
		return UNS_ENOMEM;
	}
	if ((err = push_hosts_parse(v->hosts, "webhook_hosts", &s->hosts, why,
	                            whylen)) != UNS_OK ||
	    (err = load_secrets(s, v, cfg->data_dir, why, whylen)) != UNS_OK) {
		webhook_unload(s);
		return err;
	}
	*out = s;
	return UNS_OK;
}

static uns_err
webhook_check(const uns_push_config *cfg, const Uns__V1__Subscription *sub,
              const char **field, char *why, size_t whylen)
{
	const webhook_settings *s = push_settings(cfg, &uns_push_webhook);

	*field = "pushChannel";
	return push_check_url(cfg, sub->push_channel, &s->hosts, why, whylen);
}

static uns_err
webhook_open(uns_push_transport **tp, const uns_push_config *cfg)
{
	uns_push_transport *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		return UNS_ENOMEM;
	}
	t->s = push_settings(cfg, &uns_push_webhook);
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
webhook_signature(const webhook_settings *s, const char *ts, const char *body,
                  char out[140])
{
	char now[65], old[65];
	uns_err err = webhook_sign(s->secret, s->secret_len, ts, body, now);

	if (err != UNS_OK || s->previous_len == 0) {
		snprintf(out, 140, "v1=%s", now);
		return err;
	}
	err = webhook_sign(s->previous, s->previous_len, ts, body, old);
	snprintf(out, 140, "v1=%s,v1=%s", now, old);
	return err;
}

static uns_err
webhook_build(uns_push_transport *t, const uns_tap *tap, uns_push_request *out)
{
	uns_push_request r = {0};
	char ts[24], sig[140];
	char *body = push_tap_json(tap);
	uns_err err = UNS_ENOMEM;

	if (body == NULL) {
		goto out;
	}
	snprintf(ts, sizeof(ts), "%lld", (long long)(tap->now_ms / 1000));
	if ((err = webhook_signature(t->s, ts, body, sig)) != UNS_OK ||
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
    .keys = &webhook_section,
    .load = webhook_load,
    .unload = webhook_unload,
    .check = webhook_check,
    .open = webhook_open,
    .close = webhook_close,
    .build = webhook_build,
    .classify = webhook_classify,
};
