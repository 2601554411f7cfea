/*
 * push_wns.c — the WNS transport: a raw notification POSTed to the
 * channel URI the Windows app got from WNS:
 *   X-WNS-Type: wns/raw, Content-Type: application/octet-stream,
 *   X-WNS-Cache-Policy: cache (one tap is kept while the device is
 *   offline: enough, the app pulls everything since its cursor),
 *   X-WNS-TTL, body {"unsid":…,"cursor":…} (at most 5000 bytes).
 * Raw notifications reach a running app or its background task; taps
 * need no toast.
 *
 * Authorization is an OAuth 2 client-credentials token from
 * wns_token_url (login.live.com for Store apps, Entra ID for Windows App
 * SDK apps), cached until a minute before it ends or until WNS answers
 * 401. The channel URI comes from the device and the bearer token goes
 * to it, so the host allow-list (wns_hosts, *.notify.windows.com) is
 * what keeps the token from leaving for another host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "push_impl.h"

extern const uns_push_transport_ops uns_push_wns; /* below */

#define MAX_RAW 5000

#define SECRET_MAX 512

typedef struct wns_vals {
	char hosts[UNS_CONFIG_STR_MAX];
	char token_url[UNS_CONFIG_STR_MAX];
	char client_id[UNS_CONFIG_STR_MAX];
	char client_secret[UNS_CONFIG_STR_MAX]; /* file */
	char scope[UNS_CONFIG_STR_MAX];
	int64_t ttl_s;
} wns_vals;

static const uns_config_key wns_keys[] = {
    UNS_CONFIG_KEY("push: wns", "wns_hosts", STRING, wns_vals, hosts, 0,
                   PUSH_STRLEN, "*.notify.windows.com",
                   "Hosts a WNS channel URI may point at (the bearer token "
                   "goes\n"
                   "there), comma-separated. \"\" = any public host."),
    UNS_CONFIG_KEY("push: wns", "wns_token_url", URL, wns_vals, token_url, 1,
                   PUSH_STRLEN, "https://login.live.com/accesstoken.srf",
                   "WNS OAuth token endpoint (client credentials). For "
                   "Windows App\n"
                   "SDK apps: "
                   "https://login.microsoftonline.com/TENANT/oauth2/v2.0/\n"
                   "token with wns_scope https://wns.windows.com/.default."),
    UNS_CONFIG_KEY("push: wns", "wns_client_id", STRING, wns_vals, client_id, 0,
                   PUSH_STRLEN, "",
                   "WNS client id (Package SID or Entra application id)."),
    UNS_CONFIG_KEY("push: wns", "wns_client_secret", PATH, wns_vals,
                   client_secret, 0, PUSH_STRLEN, "",
                   "File holding the WNS client secret. \"\" = WNS off."),
    UNS_CONFIG_KEY("push: wns", "wns_scope", STRING, wns_vals, scope, 1,
                   PUSH_STRLEN, "notify.windows.com",
                   "Scope asked for in the WNS token request."),
    UNS_CONFIG_KEY("push: wns", "wns_ttl", DURATION_S, wns_vals, ttl_s, 0,
                   28 * PUSH_DAY_S, "1d", "X-WNS-TTL of WNS taps."),
};

static const uns_config_section wns_section = {
    wns_keys, sizeof(wns_keys) / sizeof(wns_keys[0]), sizeof(wns_vals)};

typedef struct wns_settings {
	wns_vals v;
	push_hosts hosts;
	char secret[SECRET_MAX]; /* "" = not configured */
} wns_settings;

struct uns_push_transport {
	push_oauth_transport o; /* all of it: push_oauth_open allocates it */
};

static void
wns_unload(void *settings)
{
	if (settings != NULL) {
		uns_wipe(settings, sizeof(wns_settings));
	}
	free(settings);
}

static uns_err
read_secret(wns_settings *s, char *why, size_t whylen)
{
	const char *path = s->v.client_secret;
	size_t len = 0;

	if (s->v.client_id[0] == '\0') {
		uns_say(why, whylen, "wns_client_secret needs wns_client_id");
		return UNS_EINVAL;
	}
	if (push_read_text(path, s->secret, sizeof(s->secret), &len) !=
	    UNS_OK) {
		uns_say(why, whylen, "wns_client_secret: cannot read %s", path);
		return UNS_EIO;
	}
	while (len > 0 &&
	       (s->secret[len - 1] == '\n' || s->secret[len - 1] == '\r')) {
		s->secret[--len] = '\0';
	}
	if (len == 0) {
		uns_say(why, whylen, "wns_client_secret: %s is empty", path);
		return UNS_EINVAL;
	}
	return UNS_OK;
}

static uns_err
wns_load(void **out, const void *vals, const uns_push_config *cfg, char *why,
         size_t whylen)
{
	wns_settings *s = calloc(1, sizeof(*s));
	uns_err err;

	(void)cfg;
	if (s == NULL) {
		return UNS_ENOMEM;
	}
	s->v = *(const wns_vals *)vals;
	*out = s;
	if ((err = push_hosts_parse(s->v.hosts, "wns_hosts", &s->hosts, why,
	                            whylen)) != UNS_OK ||
	    s->v.client_secret[0] == '\0') {
		return err;
	}
	return read_secret(s, why, whylen);
}

static uns_err
wns_check(const uns_push_config *cfg, const Uns__V1__Subscription *sub,
          const char **field, char *why, size_t whylen)
{
	const wns_settings *s = push_settings(cfg, &uns_push_wns);

	*field = "pushChannel";
	return push_check_url(cfg, sub->push_channel, &s->hosts, why, whylen);
}

static uns_err
fetch(void *arg, int64_t now_ms, push_token *out, char *why, size_t whylen)
{
	uns_push_transport *t = arg;
	const wns_settings *s = push_settings(t->o.cfg, &uns_push_wns);
	char id[3 * PUSH_STR], secret[3 * SECRET_MAX], scope[3 * PUSH_STR];
	char *form;
	uns_err err;

	if (push_form_escape(s->v.client_id, id, sizeof(id)) != UNS_OK ||
	    push_form_escape(s->secret, secret, sizeof(secret)) != UNS_OK ||
	    push_form_escape(s->v.scope, scope, sizeof(scope)) != UNS_OK) {
		return UNS_EINVAL;
	}
	if (asprintf(&form,
	             "grant_type=client_credentials&client_id=%s&"
	             "client_secret=%s&scope=%s",
	             id, secret, scope) < 0) {
		return UNS_ENOMEM;
	}
	err = push_fetch_token(t->o.cfg, s->v.token_url, form, now_ms, out, why,
	                       whylen);
	uns_wipe(form, strlen(form));
	uns_wipe(secret, sizeof(secret));
	free(form);
	return err;
}

static int64_t
ttl_of(const wns_settings *s, const uns_tap *tap)
{
	const Uns__V1__Notification *n = tap->subject;
	int64_t ttl = s->v.ttl_s;

	if (n != NULL && n->expiration_time_ms > 0 &&
	    (n->expiration_time_ms - tap->now_ms) / 1000 < ttl) {
		ttl = (n->expiration_time_ms - tap->now_ms) / 1000;
	}
	return ttl < 0 ? 0 : ttl;
}

static uns_err
wns_build(uns_push_transport *t, const uns_tap *tap, uns_push_request *out)
{
	const wns_settings *s = push_settings(t->o.cfg, &uns_push_wns);
	uns_push_request r = {0};
	char *body = push_tap_json(tap);
	uns_err err = UNS_ENOMEM;

	if (s->secret[0] == '\0') {
		err = UNS_FAILED_PRECONDITION; /* wns_client_secret not set */
		goto out;
	}
	if (body == NULL) {
		goto out;
	}
	if (strlen(body) > MAX_RAW) {
		err = UNS_INVALID_ARGUMENT;
		goto out;
	}
	if ((err = push_set_url(&r, "%s", tap->sub->push_channel)) != UNS_OK ||
	    (err = push_token_cache_authorize(&t->o.token, "wns", tap->now_ms,
	                                      fetch, t, &r)) != UNS_OK ||
	    (err = push_header(&r, "X-WNS-Type: wns/raw")) != UNS_OK ||
	    (err = push_header(&r, "Content-Type: application/octet-stream")) !=
	        UNS_OK ||
	    (err = push_header(&r, "X-WNS-Cache-Policy: cache")) != UNS_OK ||
	    (err = push_header(&r, "X-WNS-TTL: %lld",
	                       (long long)ttl_of(s, tap))) != UNS_OK) {
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

/*
 * 200 delivered (X-WNS-Status: channelthrottled means retry); 404 invalid
 * and 410 expired channel: dead; 401 our token: renew and retry; 406
 * (throttled), 429 and 5xx: retry; 400, 403 (token of another app), 413:
 * our request's fault, drop the tap.
 */
static uns_push_outcome
wns_classify(uns_push_transport *t, const uns_push_response *resp,
             int64_t *retry_after_ms)
{
	const char *status =
	    resp->header ? resp->header(resp->header_arg, "x-wns-status")
	                 : NULL;
	uns_push_outcome o = push_classify_common(resp, retry_after_ms);

	if (resp->status == 406 ||
	    (o == UNS_PUSH_DELIVERED && status != NULL &&
	     strcasecmp(status, "channelthrottled") == 0)) {
		o = UNS_PUSH_RETRY;
		*retry_after_ms = push_retry_after(resp);
	}
	if (o == UNS_PUSH_REAUTH && t != NULL) {
		push_token_cache_drop(&t->o.token);
	}
	return o;
}

const uns_push_transport_ops uns_push_wns = {
    .name = "wns",
    .platform = UNS__V1__PLATFORM__PLATFORM_WINDOWS,
    .keys = &wns_section,
    .load = wns_load,
    .unload = wns_unload,
    .check = wns_check,
    .open = push_oauth_open,
    .close = push_oauth_close,
    .build = wns_build,
    .classify = wns_classify,
};
