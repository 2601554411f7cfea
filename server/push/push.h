/*
 * push.h — the contract between the delivery engine and the push transports.
 *
 * A transport knows one provider's wire format (webhook, Web Push, FCM,
 * APNs, WNS): it turns one tap for one subscription into an HTTP request
 * (URL, headers, body) and the provider's answer into an outcome. It owns no
 * sockets: the engine (delivery.c) sends every request through one curl
 * multi handle, so connection reuse, HTTP/2 multiplexing, timeouts, retries,
 * backoff and circuit breaking live in one place. The only I/O a transport
 * may do is fetching its own OAuth access token (FCM, WNS) inside build(),
 * cached until near expiry; the engine calls build() off its event loop.
 *
 * Lifetimes: everything in a uns_tap is borrowed for the duration of the
 * call. A built uns_push_request is owned by the caller and released with
 * uns_push_request_free(). A uns_push_config outlives every transport
 * opened with it. check(), build() and classify() may run on several
 * threads at once, also on one transport (its caches have locks).
 *
 * Adding a transport: the Platform value in proto/ and gen/ regenerated
 * (make gen), its Graph name in common/platform.h (test_platform holds
 * docs/openapi.json to it), one file push_NAME.c with its ops (keys and
 * their load, check, open, close, build, classify) and its name in
 * push.c's table (declared and listed there); docs/unsd.conf.example is
 * regenerated from the keys (unsd --print-example-config; test_config
 * holds it fresh) and docs/configuration.md gets their rows (check_docs
 * holds it to the example). Nothing else names a transport: the gateway,
 * unsctl and validation take the platform from the table or treat every
 * pushChannel alike.
 *
 * For the engine: set CURLOPT_CAINFO to uns_push_ca_file() when it is not
 * NULL, pin each request to the addresses uns_push_pin() checked
 * (CURLOPT_RESOLVE), since a host checked at subscribe time may resolve
 * elsewhere later (DNS rebinding), and guard every connection with
 * uns_push_addr_allowed() (from CURLOPT_OPENSOCKETFUNCTION). A request with
 * http2 set wants CURL_HTTP_VERSION_2TLS.
 */
#ifndef UNS_SERVER_PUSH_H
#define UNS_SERVER_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "uns/uns.h"
#include "uns/v1/notifications.pb-c.h"

typedef struct uns_push_transport uns_push_transport;
typedef struct uns_push_config uns_push_config; /* push_impl.h */
struct uns_config;
struct uns_config_section;

/* One shoulder tap: "the feed of (user, host) moved; its head is cursor". */
typedef struct uns_tap {
	const char *user;
	const char *host;
	const char *cursor;                   /* feed head announced */
	const Uns__V1__Subscription *sub;     /* the endpoint */
	const Uns__V1__Notification *subject; /* newest change; NULL if none */
	bool state_change; /* read/dismiss/delete, not a post */
	bool fallback;     /* iOS visible fallback alert */
	int64_t now_ms;
} uns_tap;

typedef struct uns_push_request {
	char *url;
	char **headers; /* "Name: value" strings */
	size_t nheaders;
	unsigned char *body;
	size_t body_len;
	bool http2; /* the provider needs HTTP/2 (APNs) */
} uns_push_request;

void uns_push_request_free(uns_push_request *r);

/* The provider's answer as the engine received it. */
typedef struct uns_push_response {
	long status; /* HTTP status; 0 = no answer (connect error, timeout) */
	const char *body;
	size_t body_len;
	/* Value of a response header (case-insensitive name) or NULL. */
	const char *(*header)(void *arg, const char *name);
	void *header_arg;
	int64_t now_ms;
} uns_push_response;

typedef enum uns_push_outcome {
	UNS_PUSH_DELIVERED, /* 2xx: done */
	UNS_PUSH_RETRY,     /* transient (429, 5xx, no answer): back off */
	UNS_PUSH_DEAD,      /* endpoint gone (404/410, UNREGISTERED, …) */
	UNS_PUSH_REJECTED,  /* our request was refused (400, 413): drop it */
	UNS_PUSH_REAUTH,    /* access token refused: drop it, retry at once */
} uns_push_outcome;

typedef struct uns_push_transport_ops {
	const char *name; /* "webhook", "webpush", "fcm", "apns", "wns" */
	Uns__V1__Platform platform;
	/* Subscribe-time check of sub's channel (scheme, host allow-list,
	 * no private or loopback address unless configured, key sizes). On
	 * UNS_INVALID_ARGUMENT, *field names the offending field (as in the
	 * JSON mapping, e.g. "webPush.keys.p256dh") and why says what is
	 * wrong. May resolve host names (blocking). */
	/* Its configuration keys, in its own file (NULL: none). */
	const struct uns_config_section *keys;
	/* Makes the transport's settings from its keys' values (vals,
	 * keys->size bytes), reading the credential files they name (cfg
	 * has data_dir for keys made on first use). Credentials not
	 * configured are not an error: build() then fails with
	 * UNS_FAILED_PRECONDITION. why names the key or file at fault. */
	uns_err (*load)(void **settings, const void *vals,
	                const uns_push_config *cfg, char *why, size_t whylen);
	void (*unload)(void *settings);
	uns_err (*check)(const uns_push_config *cfg,
	                 const Uns__V1__Subscription *sub, const char **field,
	                 char *why, size_t whylen);
	uns_err (*open)(uns_push_transport **tp, const uns_push_config *cfg);
	void (*close)(uns_push_transport *t);
	/* UNS_FAILED_PRECONDITION: the provider is not configured (or,
	 * for Web Push, a state change: never sent to browsers);
	 * UNS_INVALID_ARGUMENT: the subscription cannot be pushed to;
	 * UNS_UNAVAILABLE / UNS_UNAUTHENTICATED: the OAuth token could not
	 * be had (FCM, WNS; uns_last_message() says why). */
	uns_err (*build)(uns_push_transport *t, const uns_tap *tap,
	                 uns_push_request *out);
	/* *retry_after_ms: the provider's Retry-After, or -1. */
	uns_push_outcome (*classify)(uns_push_transport *t,
	                             const uns_push_response *resp,
	                             int64_t *retry_after_ms);
} uns_push_transport_ops;

/* The transport table, one entry per platform that is pushed to (polling
 * has none); NULL-terminated. */
extern const uns_push_transport_ops *const uns_push_transports[];

/* The transport for platform, or NULL (polling, unknown). */
const uns_push_transport_ops *uns_push_find(Uns__V1__Platform platform);

/*
 * Adds the push keys to c: push_* shared by every transport, then each
 * transport's own (webhook_*, webpush_*, vapid_*, apns_*, fcm_*, wns_*;
 * docs/unsd.conf.example), so that c parses and sets them. Call it after
 * uns_config_defaults, before parsing.
 */
uns_err uns_push_add_keys(struct uns_config *c);

/*
 * The push configuration from c's push keys (their defaults when c has
 * none: uns_push_add_keys was not called), each transport's by its load().
 * Reads the key and credential files it names; makes the webhook secret
 * (DATA/push/webhook.secret) and the VAPID key (DATA/push/vapid.pem) on
 * first use when their keys are "". A provider whose credentials are not
 * configured is not an error here: its build() fails with
 * UNS_FAILED_PRECONDITION. why names the key or file at fault.
 */
uns_err uns_push_config_alloc(uns_push_config **out, const struct uns_config *c,
                              char *why, size_t whylen);
void uns_push_config_free(uns_push_config *cfg);

/* The CA bundle for provider TLS (push_ca_file), or NULL for the system's. */
const char *uns_push_ca_file(const uns_push_config *cfg);

/* Whether a connection to sa is allowed: only to public addresses
 * (push_ssrf.c's tables; IPv6 forms carrying an IPv4 address judged by
 * it), and to loopback when push_allow_private is on. */
bool uns_push_addr_allowed(const uns_push_config *cfg,
                           const struct sockaddr *sa);

/*
 * Pins a request to url for the engine: resolves its host now, checks
 * every address as subscribe did, and gives (malloc'd) the
 * CURLOPT_RESOLVE entry "HOST:PORT:ADDR,..." that makes the transfer use
 * exactly those addresses (a name may resolve elsewhere by the time curl
 * would ask: DNS rebinding). UNS_INVALID_ARGUMENT: an address is refused,
 * or no such host; UNS_UNAVAILABLE: the resolver failed for now; why says
 * which.
 */
uns_err uns_push_pin(const uns_push_config *cfg, const char *url, char **entry,
                     char *why, size_t whylen);

#endif /* UNS_SERVER_PUSH_H */
