/*
 * push.c — see push.h: the transport table (one row per transport; each
 * transport's file holds the rest: its keys, credentials, checks and wire
 * format; its platform's name is in common/platform.h) and what every
 * transport shares (push_impl.h): endpoint checks against
 * SSRF, request building, Retry-After, and OAuth token fetches.
 *
 * Endpoint URLs come from devices; the guards against SSRF are in
 * push_ssrf.c.
 *
 * Credentials are read once, when the configuration is built (each
 * transport's load(), push_config.c); build() never opens files. Rejected:
 * per-subscription webhook secrets (the Subscription message has no field for
 * one, and one secret per server is what receivers configure).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "errors.h"
#include "push_impl.h"

#define SECRET_BYTES 32
#define TOKEN_BODY   (64 * 1024)

/* The transports, one line each (each is defined in its push_NAME.c). */
extern const uns_push_transport_ops uns_push_webhook, uns_push_webpush,
    uns_push_apns, uns_push_fcm, uns_push_wns;

const uns_push_transport_ops *const uns_push_transports[] = {
    &uns_push_webhook, &uns_push_webpush, &uns_push_apns,
    &uns_push_fcm,     &uns_push_wns,     NULL,
};

const uns_push_transport_ops *
uns_push_find(Uns__V1__Platform platform)
{
	for (size_t i = 0; uns_push_transports[i] != NULL; i++) {
		if (uns_push_transports[i]->platform == platform) {
			return uns_push_transports[i];
		}
	}
	return NULL;
}

void
uns_push_request_free(uns_push_request *r)
{
	if (r == NULL) {
		return;
	}
	free(r->url);
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i]);
	}
	free(r->headers);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* ---- building requests ----------------------------------------------------
 */

static char *
vformat(const char *fmt, va_list ap)
{
	char *s = NULL;

	return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

uns_err
push_header(uns_push_request *r, const char *fmt, ...)
{
	char **v, *h;
	va_list ap;

	va_start(ap, fmt);
	h = vformat(fmt, ap);
	va_end(ap);
	if (h == NULL ||
	    (v = realloc(r->headers, (r->nheaders + 1) * sizeof(*v))) == NULL) {
		free(h);
		return UNS_ENOMEM;
	}
	v[r->nheaders++] = h;
	r->headers = v;
	return UNS_OK;
}

uns_err
push_set_url(uns_push_request *r, const char *fmt, ...)
{
	va_list ap;
	char *u;

	va_start(ap, fmt);
	u = vformat(fmt, ap);
	va_end(ap);
	if (u == NULL) {
		return UNS_ENOMEM;
	}
	free(r->url);
	r->url = u;
	return UNS_OK;
}

void
push_set_body(uns_push_request *r, unsigned char *body, size_t len)
{
	free(r->body);
	r->body = body;
	r->body_len = len;
}

uns_err
push_jwt_sign(uns_key *key, const char *header, const char *claims, char **out)
{
	size_t hl = strlen(header), cl = strlen(claims), used, sig_len = 0;
	uint8_t sig[UNS_KEY_MAX_SIG];
	char *tok;
	uns_err err;

	tok = malloc(UNS_B64URL_LEN(hl) + UNS_B64URL_LEN(cl) +
	             UNS_B64URL_LEN(sizeof(sig)) + 2);
	if (tok == NULL) {
		return UNS_ENOMEM;
	}
	used = uns_b64url_encode(header, hl, tok);
	tok[used++] = '.';
	used += uns_b64url_encode(claims, cl, tok + used);
	if ((err = uns_key_sign_sha256(key, tok, used, sig, sizeof(sig),
	                               &sig_len)) != UNS_OK) {
		free(tok);
		return err;
	}
	tok[used++] = '.';
	uns_b64url_encode(sig, sig_len, tok + used);
	*out = tok;
	return UNS_OK;
}

/* ---- answers
 * -------------------------------------------------------------------- */

int64_t
push_retry_after(const uns_push_response *resp)
{
	const char *v =
	    resp->header ? resp->header(resp->header_arg, "retry-after") : NULL;
	struct tm tm;
	char *end;
	long long s;

	if (v == NULL) {
		return -1;
	}
	while (*v == ' ') {
		v++;
	}
	if (*v >= '0' && *v <= '9') {
		errno = 0;
		s = strtoll(v, &end, 10);
		if (errno != 0 || s < 0 || s > 86400LL * 365) {
			return -1;
		}
		return (int64_t)s * 1000;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL) {
		return -1;
	}
	s = (long long)timegm(&tm) * 1000 - resp->now_ms;
	return s < 0 ? 0 : (int64_t)s;
}

void
push_json_string(const uns_push_response *resp, const char *name, char *out,
                 size_t cap)
{
	uns_jv *root = NULL;
	const char *v;

	out[0] = '\0';
	if (resp->body == NULL || resp->body_len == 0 ||
	    uns_jv_parse(resp->body, resp->body_len, UNS_JV_DUPLICATES, &root,
	                 NULL) != UNS_OK) {
		return;
	}
	if ((v = uns_jv_string(uns_jv_get(root, name))) != NULL) {
		snprintf(out, cap, "%s", v);
	}
	uns_jv_free(root);
}

char *
push_json_text(uns_jv *v)
{
	char *text = NULL;

	if (v != NULL && uns_jv_dump(v, 0, &text, NULL) != UNS_OK) {
		text = NULL;
	}
	uns_jv_free(v);
	return text;
}

char *
push_tap_json(const uns_tap *tap)
{
	uns_jv *doc = uns_jv_new_object();

	if (doc == NULL || uns_jv_set_str(doc, "unsid", tap->sub->unsid) ||
	    uns_jv_set_str(doc, "cursor", tap->cursor)) {
		uns_jv_free(doc);
		return NULL;
	}
	return push_json_text(doc);
}

uns_push_outcome
push_classify_common(const uns_push_response *resp, int64_t *retry_after_ms)
{
	long st = resp->status;

	*retry_after_ms = -1;
	if (st >= 200 && st < 300) {
		return UNS_PUSH_DELIVERED;
	}
	if (st == 404 || st == 410) {
		return UNS_PUSH_DEAD;
	}
	if (st == 0 || st == 408 || st == 429 || st >= 500) {
		*retry_after_ms = push_retry_after(resp);
		return UNS_PUSH_RETRY;
	}
	if (st == 401) {
		return UNS_PUSH_REAUTH;
	}
	return UNS_PUSH_REJECTED;
}

/* ---- OAuth tokens
 * ------------------------------------------------------------------ */

uns_err
push_form_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (o + 4 > cap) {
			return UNS_EINVAL;
		}
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return UNS_OK;
}

typedef struct grow_buf {
	char *p;
	size_t n;
	bool over;
} grow_buf;

static size_t
collect(char *data, size_t size, size_t nmemb, void *arg)
{
	grow_buf *b = arg;
	size_t len = size * nmemb;
	char *p;

	if (b->n + len > TOKEN_BODY ||
	    (p = realloc(b->p, b->n + len + 1)) == NULL) {
		b->over = true;
		return 0;
	}
	memcpy(p + b->n, data, len);
	b->n += len;
	p[b->n] = '\0';
	b->p = p;
	return len;
}

static int
open_guard(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)purpose;
	if (!uns_push_addr_allowed(arg, &a->addr)) {
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

static uns_err
token_from_json(const grow_buf *b, int64_t now_ms, push_token *out, char *why,
                size_t whylen)
{
	uns_jv *root = NULL;
	const char *tok = NULL;
	size_t tok_len = 0;
	int64_t exp = 0;
	uns_err err = UNS_UNAVAILABLE;

	if (uns_jv_parse(b->p ? b->p : "", b->n, UNS_JV_DUPLICATES, &root,
	                 NULL) != UNS_OK ||
	    uns_jv_str(uns_jv_get(root, "access_token"), &tok, &tok_len) !=
	        UNS_OK ||
	    tok_len >= sizeof(out->value) ||
	    uns_jv_int(uns_jv_get(root, "expires_in"), 1, INT64_MAX / 1000,
	               &exp) != UNS_OK) {
		uns_say(why, whylen,
		        "token endpoint answered without access_token and "
		        "expires_in");
		goto out;
	}
	snprintf(out->value, sizeof(out->value), "%s", tok);
	out->expires_ms = now_ms + exp * 1000;
	err = UNS_OK;
out:
	uns_jv_free(root);
	return err;
}

/* ---- the token cache ---- */

#define TOKEN_MARGIN_MS (60 * 1000) /* renew a minute before the end */

void
push_token_cache_init(push_token_cache *c)
{
	memset(&c->token, 0, sizeof(c->token));
	pthread_mutex_init(&c->lock, NULL);
}

void
push_token_cache_fini(push_token_cache *c)
{
	uns_wipe(&c->token, sizeof(c->token));
	pthread_mutex_destroy(&c->lock);
}

uns_err
push_oauth_open(uns_push_transport **tp, const uns_push_config *cfg)
{
	push_oauth_transport *o = calloc(1, sizeof(*o));

	if (o == NULL) {
		return UNS_ENOMEM;
	}
	o->cfg = cfg;
	push_token_cache_init(&o->token);
	*tp = (uns_push_transport *)o;
	return UNS_OK;
}

void
push_oauth_close(uns_push_transport *t)
{
	push_oauth_transport *o = (push_oauth_transport *)t;

	if (o == NULL) {
		return;
	}
	push_token_cache_fini(&o->token);
	free(o);
}

uns_err
push_token_cache_authorize(push_token_cache *c, const char *provider,
                           int64_t now_ms, push_token_fetch_fn fetch, void *arg,
                           uns_push_request *r)
{
	char why[256];
	uns_err err = UNS_OK;

	pthread_mutex_lock(&c->lock);
	if (c->token.expires_ms - TOKEN_MARGIN_MS <= now_ms &&
	    (err = fetch(arg, now_ms, &c->token, why, sizeof(why))) != UNS_OK) {
		memset(&c->token, 0, sizeof(c->token));
		uns_fail(err, "%s: %s", provider, why);
		goto out;
	}
	err = push_header(r, "Authorization: Bearer %s", c->token.value);
out:
	pthread_mutex_unlock(&c->lock);
	return err;
}

void
push_token_cache_drop(push_token_cache *c)
{
	pthread_mutex_lock(&c->lock);
	uns_wipe(&c->token, sizeof(c->token));
	pthread_mutex_unlock(&c->lock);
}

uns_err
push_fetch_token(const uns_push_config *cfg, const char *url, const char *form,
                 int64_t now_ms, push_token *out, char *why, size_t whylen)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = NULL, *pinned = NULL;
	char *entry = NULL;
	grow_buf b = {NULL, 0, false};
	long status = 0;
	uns_err err = UNS_UNAVAILABLE;
	CURLcode rc;

	if (h == NULL) {
		return UNS_ENOMEM;
	}
	/* The token endpoint is configured, not chosen by a device, but it
	 * is held to the same addresses (push_ssrf.c). */
	if ((err = uns_push_pin(cfg, url, &entry, why, whylen)) != UNS_OK) {
		curl_easy_cleanup(h);
		return err == UNS_INVALID_ARGUMENT ? UNS_UNAVAILABLE : err;
	}
	pinned = curl_slist_append(NULL, entry);
	free(entry);
	err = UNS_UNAVAILABLE;
	curl_easy_setopt(h, CURLOPT_RESOLVE, pinned);
	hdr = curl_slist_append(hdr, "Content-Type: "
	                             "application/x-www-form-urlencoded");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)cfg->token_timeout_ms);
	/* Token endpoints are configured, not chosen by devices; plain
	 * http only in test mode (push_allow_private). */
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
	                 cfg->allow_private ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_guard);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, (void *)cfg);
	if (cfg->ca_file[0] != '\0') {
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
	}
	if ((rc = curl_easy_perform(h)) != CURLE_OK) {
		uns_say(why, whylen, "token endpoint %s: %s", url,
		        curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		uns_say(why, whylen, "token endpoint %s answered %ld", url,
		        status);
		err = status == 400 || status == 401 || status == 403
		          ? UNS_UNAUTHENTICATED
		          : UNS_UNAVAILABLE;
		goto out;
	}
	err = token_from_json(&b, now_ms, out, why, whylen);
out:
	curl_easy_cleanup(h);
	curl_slist_free_all(hdr);
	curl_slist_free_all(pinned);
	free(b.p);
	return err;
}

/* ---- the configuration
 * ---------------------------------------------------------- */

const char *
uns_push_ca_file(const uns_push_config *cfg)
{
	return cfg->ca_file[0] != '\0' ? cfg->ca_file : NULL;
}
