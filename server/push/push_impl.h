/*
 * push_impl.h — what the transports (push_*.c) share with push.c and
 * nothing else includes: the push configuration's layout, the endpoint
 * checks, request building helpers and response helpers.
 */
#ifndef UNS_SERVER_PUSH_IMPL_H
#define UNS_SERVER_PUSH_IMPL_H

#include <pthread.h>
#include <stdarg.h>
#include <sys/socket.h>

#include "b64url.h"
#include "config.h"
#include "crypto.h"
#include "json_value.h"
#include "push.h"

#define PUSH_STR      UNS_CONFIG_STR_MAX
#define PUSH_MAX_URL  2048
#define PUSH_MAX_HOST 16 /* entries of one allow-list */
/* for the transports' key tables */
#define PUSH_STRLEN (UNS_CONFIG_STR_MAX - 1)
#define PUSH_MIN_S  60LL
#define PUSH_HOUR_S (60 * PUSH_MIN_S)
#define PUSH_DAY_S  (24 * PUSH_HOUR_S)

/* A host allow-list: exact names, or "*.example.com" for subdomains.
 * Empty: every host. */
typedef struct push_hosts {
	int n;
	char v[PUSH_MAX_HOST][256];
} push_hosts;

#define PUSH_MAX_TRANSPORTS 16
#define PUSH_MAX_ADDRS      32 /* addresses of one host name kept */

/* How host names become addresses: 0 with n addresses in out (at most
 * cap), or a getaddrinfo error (EAI_*). The system resolver unless a test
 * sets another (to play DNS rebinding). */
typedef int (*push_resolve_fn)(void *arg, const char *host,
                               struct sockaddr_storage *out, size_t cap,
                               size_t *n);

/* What every transport shares (the "push" keys), and each transport's own
 * settings (its load() made them from its keys), by its place in
 * uns_push_transports. */
struct uns_push_config {
	bool allow_private;
	char ca_file[PUSH_STR];   /* "" = the system's */
	int64_t token_timeout_ms; /* OAuth token fetches */
	char data_dir[PUSH_STR];  /* for keys made on first use */
	void *settings[PUSH_MAX_TRANSPORTS];
	push_resolve_fn resolve; /* NULL: getaddrinfo */
	void *resolve_arg;
	int64_t pin_reuse_ms;        /* push_dns_cache */
	struct push_pin_cache *pins; /* NULL when pin_reuse_ms is 0 */
};

/* The pins uns_push_pin made, reused for pin_reuse_ms (push_ssrf.c). */
uns_err push_pin_cache_open(struct push_pin_cache **out);
void push_pin_cache_close(struct push_pin_cache *c);

/* ops's settings (what its load() made). */
const void *push_settings(const uns_push_config *cfg,
                          const uns_push_transport_ops *ops);

/* "a,b, *.c" (the value of key) into an allow-list; UNS_EINVAL naming key
 * for an oversized entry or list. */
uns_err push_hosts_parse(const char *csv, const char *key, push_hosts *out,
                         char *why, size_t whylen);

/* ---- files for credentials ------------------------------------------------
 */

/* Reads a file of at most cap - 1 bytes, NUL-terminated. UNS_EIO. */
uns_err push_read_text(const char *path, char *buf, size_t cap, size_t *len);

/* ---- endpoint checks ------------------------------------------------------
 */

typedef struct push_url {
	char scheme[8];   /* "https" */
	char host[256];   /* without brackets */
	char port[8];     /* "" = default */
	const char *path; /* inside the parsed string, "/" if none */
} push_url;

/* Splits an absolute http(s) URL; no userinfo, no fragment. */
uns_err push_url_parse(const char *url, push_url *out, char *why,
                       size_t whylen);
bool push_hosts_match(const push_hosts *allow, const char *host);
/*
 * Resolves host and checks every address (uns_push_addr_allowed) into out
 * (PUSH_MAX_ADDRS), *n of them. UNS_INVALID_ARGUMENT (a refused address,
 * or no such name) or UNS_UNAVAILABLE (the resolver failed for now), with
 * the reason in why.
 */
uns_err push_resolve_checked(const uns_push_config *cfg, const char *host,
                             struct sockaddr_storage *out, size_t *n, char *why,
                             size_t whylen);
/*
 * The shared subscribe-time check of an endpoint URL: https only, at most
 * PUSH_MAX_URL bytes, host on the allow-list, and every address the host
 * resolves to public (unless allow_private). UNS_INVALID_ARGUMENT with a
 * reason in why.
 */
uns_err push_check_url(const uns_push_config *cfg, const char *url,
                       const push_hosts *allow, char *why, size_t whylen);

/* ---- building requests ------------------------------------------------------
 */

/* Adds a "Name: value" header. */
uns_err push_header(uns_push_request *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
uns_err push_set_url(uns_push_request *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Takes body (malloc'd) on success. */
void push_set_body(uns_push_request *r, unsigned char *body, size_t len);

/* A compact JWS: base64url(header) "." base64url(claims) "." signature,
 * signed with key (ES256 raw r||s or RS256). *out is malloc'd. */
uns_err push_jwt_sign(uns_key *key, const char *header, const char *claims,
                      char **out);

/* The compact JSON text of v (malloc'd), v dropped; NULL when v is NULL
 * or out of memory. */
char *push_json_text(uns_jv *v);
/* {"unsid":…,"cursor":…}, the body of a tap (webhook, WNS), or NULL. */
char *push_tap_json(const uns_tap *tap);

/* ---- answers
 * ------------------------------------------------------------------ */

/* Retry-After in milliseconds (delta seconds or HTTP-date), or -1. */
int64_t push_retry_after(const uns_push_response *resp);
/* A string member of the JSON object in the response body (e.g. APNs
 * "reason"), copied into out; "" when absent. */
void push_json_string(const uns_push_response *resp, const char *name,
                      char *out, size_t cap);
/* The outcome most providers share: 2xx delivered, 404/410 dead,
 * 408/429/5xx/no answer retry, 401 reauth, the rest rejected. */
uns_push_outcome push_classify_common(const uns_push_response *resp,
                                      int64_t *retry_after_ms);

/* ---- OAuth access tokens (FCM, WNS)
 * ------------------------------------------- */

/* A cached bearer token; the transports keep one each, behind a mutex. */
typedef struct push_token {
	char value[4096];
	int64_t expires_ms; /* 0 = none */
} push_token;

/*
 * POSTs form (application/x-www-form-urlencoded) to url with libcurl and
 * reads {"access_token","expires_in"} from a 200 answer. The one place a
 * transport does I/O (see push.h).
 */
uns_err push_fetch_token(const uns_push_config *cfg, const char *url,
                         const char *form, int64_t now_ms, push_token *out,
                         char *why, size_t whylen);

/*
 * One transport's OAuth access token, shared by its builds: fetched under
 * the lock when missing or within a minute of its end, so one fetch serves
 * every build waiting for it; dropped when the provider refuses it.
 */
typedef struct push_token_cache {
	pthread_mutex_t lock;
	push_token token;
} push_token_cache;

/* Gets a new token (e.g. through push_fetch_token) into *out. */
typedef uns_err (*push_token_fetch_fn)(void *arg, int64_t now_ms,
                                       push_token *out, char *why,
                                       size_t whylen);

void push_token_cache_init(push_token_cache *c);
/* Wipes the token. */
void push_token_cache_fini(push_token_cache *c);
/* Adds "Authorization: Bearer TOKEN" to r, the token fetched by
 * fetch(arg, …) first when needed; the one place FCM's and WNS's builds
 * get theirs (the token is never copied out of the cache). A failed fetch
 * is reported through uns_fail as "provider: why". */
uns_err push_token_cache_authorize(push_token_cache *c, const char *provider,
                                   int64_t now_ms, push_token_fetch_fn fetch,
                                   void *arg, uns_push_request *r);
/* Forgets the token (the provider answered 401/403 for it). */
void push_token_cache_drop(push_token_cache *c);

/*
 * The whole state of a transport that keeps only its config and its OAuth
 * token (FCM, WNS). Their files define struct uns_push_transport as this
 * one member, so one open and one close serve both.
 */
typedef struct push_oauth_transport {
	const uns_push_config *cfg;
	push_token_cache token;
} push_oauth_transport;

uns_err push_oauth_open(uns_push_transport **tp, const uns_push_config *cfg);
void push_oauth_close(uns_push_transport *t);

/* Percent-encodes s for a form value into out (cap bytes). */
uns_err push_form_escape(const char *s, char *out, size_t cap);

#endif /* UNS_SERVER_PUSH_IMPL_H */
