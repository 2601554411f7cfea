/*
 * push.c — see push.h: the transport table (one row per transport; each
 * transport's file holds the rest: its keys, credentials, checks and wire
 * format; its platform's name is in common/platform.h) and what every
 * transport shares (push_impl.h): endpoint checks against
 * SSRF, request building, Retry-After, and OAuth token fetches.
 *
 * Endpoint URLs come from devices, so an attacker who can subscribe
 * chooses where the server sends requests. Three guards: the scheme is
 * https only; the host must be on the provider's allow-list when one is
 * configured (Web Push and WNS have defaults naming the real services);
 * and every address the host resolves to must be public. Subscribe
 * checks the addresses once; the engine checks each connection again
 * with uns_push_addr_allowed (a name may resolve elsewhere later).
 * push_allow_private lifts the address rule for tests on 127.0.0.1.
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

/* ---- endpoint checks --------------------------------------------------------
 */

static bool
v4_public(const uint8_t a[4])
{
	static const struct {
		uint8_t net[4];
		int bits;
	} blocked[] = {
	    {{0, 0, 0, 0}, 8},       {{10, 0, 0, 0}, 8},
	    {{100, 64, 0, 0}, 10},   {{127, 0, 0, 0}, 8},
	    {{169, 254, 0, 0}, 16},  {{172, 16, 0, 0}, 12},
	    {{192, 0, 0, 0}, 24},    {{192, 0, 2, 0}, 24},
	    {{192, 168, 0, 0}, 16},  {{198, 18, 0, 0}, 15},
	    {{198, 51, 100, 0}, 24}, {{203, 0, 113, 0}, 24},
	    {{224, 0, 0, 0}, 4},     {{240, 0, 0, 0}, 4},
	};
	uint32_t ip = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 |
	              (uint32_t)a[2] << 8 | a[3];

	for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++) {
		const uint8_t *n = blocked[i].net;
		uint32_t net = (uint32_t)n[0] << 24 | (uint32_t)n[1] << 16 |
		               (uint32_t)n[2] << 8 | n[3];
		uint32_t mask = ~0u << (32 - blocked[i].bits);
		if ((ip & mask) == net) {
			return false;
		}
	}
	return true;
}

static bool
v6_public(const uint8_t a[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
	                                   0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t zero[15] = {0};

	if (memcmp(a, mapped, 12) == 0) {
		return v4_public(a + 12);
	}
	if (memcmp(a, zero, 15) == 0) { /* :: and ::1 */
		return false;
	}
	if ((a[0] & 0xfe) == 0xfc || /* fc00::/7 unique local */
	    (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || /* fe80::/10 */
	    (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) || /* fec0::/10 */
	    a[0] == 0xff ||                            /* multicast */
	    (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)) {
		return false;
	}
	/* 64:ff9b::/96 (NAT64) carries an IPv4 address. */
	if (a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b &&
	    memcmp(a + 4, zero, 8) == 0) {
		return v4_public(a + 12);
	}
	return true;
}

bool
uns_push_addr_allowed(const uns_push_config *cfg, const struct sockaddr *sa)
{
	if (sa == NULL) {
		return false;
	}
	if (cfg != NULL && cfg->allow_private) {
		return sa->sa_family == AF_INET || sa->sa_family == AF_INET6;
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return v4_public((const uint8_t *)&in->sin_addr);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)sa;
		return v6_public(in->sin6_addr.s6_addr);
	}
	return false;
}

/* Every address of host must be allowed. */
static uns_err
check_addresses(const uns_push_config *cfg, const char *host, char *why,
                size_t whylen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char shown[INET6_ADDRSTRLEN] = "";
	uns_err err = UNS_OK;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		uns_say(why, whylen, "host %s does not resolve: %s", host,
		        gai_strerror(rc));
		return UNS_INVALID_ARGUMENT;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (!uns_push_addr_allowed(cfg, ai->ai_addr)) {
			const void *a =
			    ai->ai_family == AF_INET
			        ? (const void *)&(
			              (struct sockaddr_in *)ai->ai_addr)
			              ->sin_addr
			        : (const void *)&(
			              (struct sockaddr_in6 *)ai->ai_addr)
			              ->sin6_addr;
			inet_ntop(ai->ai_family, a, shown, sizeof(shown));
			uns_say(why, whylen,
			        "host %s resolves to %s, a private, loopback "
			        "or link-local address",
			        host, shown);
			err = UNS_INVALID_ARGUMENT;
			break;
		}
	}
	freeaddrinfo(res);
	return err;
}

uns_err
push_check_url(const uns_push_config *cfg, const char *url,
               const push_hosts *allow, char *why, size_t whylen)
{
	push_url u;
	uns_err err;

	if (strlen(url) > PUSH_MAX_URL) {
		uns_say(why, whylen, "URL is longer than %d bytes",
		        PUSH_MAX_URL);
		return UNS_INVALID_ARGUMENT;
	}
	if ((err = push_url_parse(url, &u, why, whylen)) != UNS_OK) {
		return err;
	}
	if (strcmp(u.scheme, "https") != 0) {
		uns_say(why, whylen, "must be an https URL");
		return UNS_INVALID_ARGUMENT;
	}
	if (!push_hosts_match(allow, u.host)) {
		uns_say(why, whylen, "host %s is not on the allow-list",
		        u.host);
		return UNS_INVALID_ARGUMENT;
	}
	return check_addresses(cfg, u.host, why, whylen);
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
push_token_cache_get(push_token_cache *c, const char *provider, int64_t now_ms,
                     push_token_fetch_fn fetch, void *arg, char **out)
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
	if ((*out = strdup(c->token.value)) == NULL) {
		err = UNS_ENOMEM;
	}
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
	struct curl_slist *hdr = NULL;
	grow_buf b = {NULL, 0, false};
	long status = 0;
	uns_err err = UNS_UNAVAILABLE;
	CURLcode rc;

	if (h == NULL) {
		return UNS_ENOMEM;
	}
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
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
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
