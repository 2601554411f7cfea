/*
 * push_ssrf.c — where a push request may go (push.h, push_impl.h).
 *
 * Endpoint URLs come from devices, so an attacker who can subscribe
 * chooses where the server sends requests (server-side request forgery).
 * Four guards: the scheme is https only; the host must be on the
 * provider's allow-list when one is configured (Web Push and WNS have
 * defaults naming the real services); every address the host resolves to
 * must be public, checked at subscribe time (push_check_url) and again for
 * every request (uns_push_pin); and the request goes to the addresses just
 * checked and no others: the engine hands curl the pinned list
 * (CURLOPT_RESOLVE), so a name that resolves elsewhere a moment later (DNS
 * rebinding) is not asked again, and every socket curl opens is checked
 * once more (uns_push_addr_allowed from CURLOPT_OPENSOCKETFUNCTION).
 *
 * An address is public unless a row of the tables below says otherwise.
 * IPv6 forms that carry an IPv4 address are judged by that address:
 * IPv4-mapped (the address itself: loopback stays loopback), SIIT
 * ::ffff:0:0/96, 6to4 2002::/16 and the NAT64 well-known prefix
 * 64:ff9b::/96 (public only when the IPv4 address is). Refused whole:
 * IPv4-compatible ::/96 (deprecated since RFC 4291), the NAT64 local-use
 * prefix 64:ff9b:1::/48 (RFC 8215: a private network's, with no fixed
 * place for the IPv4 address) and Teredo 2001::/32.
 *
 * Resolving for every request would put a DNS lookup (a millisecond or
 * more, uncached; 0.07 ms for localhost from /etc/hosts) on the feeder
 * thread for every tap, so a pin is reused for push_dns_cache (30 s) per
 * host and port: within that time a name that moves is not followed, and
 * requests keep going to the addresses checked before, never to the new
 * ones.
 *
 * push_allow_private, the testing knob, opens loopback (127.0.0.0/8, ::1,
 * ::ffff:127.0.0.0/104) and nothing else: never link-local (169.254.0.0/16
 * holds the cloud metadata service), private or special ranges.
 *
 * Rejected: resolving once at subscribe time and storing the address (the
 * providers' addresses change; a stored one goes stale), and checking only
 * the socket curl opens (a name resolving to a public and a private address
 * would be allowed through its public one; subscribe refuses such a name,
 * and so does the request).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "errors.h"
#include "push_impl.h"

typedef enum addr_class {
	ADDR_PUBLIC,
	ADDR_LOOPBACK, /* opened by push_allow_private */
	ADDR_REFUSED,
} addr_class;

/* IPv4 ranges that are not public (RFC 6890 and its updates). */
static const struct {
	uint8_t net[4];
	int bits;
	addr_class cls;
} v4_ranges[] = {
    {{127, 0, 0, 0}, 8, ADDR_LOOPBACK},    {{0, 0, 0, 0}, 8, ADDR_REFUSED},
    {{10, 0, 0, 0}, 8, ADDR_REFUSED},      {{100, 64, 0, 0}, 10, ADDR_REFUSED},
    {{169, 254, 0, 0}, 16, ADDR_REFUSED},  {{172, 16, 0, 0}, 12, ADDR_REFUSED},
    {{192, 0, 0, 0}, 24, ADDR_REFUSED},    {{192, 0, 2, 0}, 24, ADDR_REFUSED},
    {{192, 168, 0, 0}, 16, ADDR_REFUSED},  {{198, 18, 0, 0}, 15, ADDR_REFUSED},
    {{198, 51, 100, 0}, 24, ADDR_REFUSED}, {{203, 0, 113, 0}, 24, ADDR_REFUSED},
    {{224, 0, 0, 0}, 4, ADDR_REFUSED},     {{240, 0, 0, 0}, 4, ADDR_REFUSED},
};

/* What an IPv6 prefix means: a class, or "the IPv4 address at byte at". */
typedef enum v6_rule {
	V6_CLASS,
	V6_V4_ITSELF, /* IPv4-mapped: the IPv4 address's class */
	V6_V4_PUBLIC, /* public if the IPv4 address is, else refused */
} v6_rule;

/* Most specific first: the first matching row decides. */
static const struct {
	uint8_t net[16];
	int bits;
	v6_rule rule;
	addr_class cls; /* V6_CLASS */
	int at;         /* V6_V4_*: where the IPv4 address is */
} v6_ranges[] = {
    {{0}, 128, V6_CLASS, ADDR_REFUSED, 0},                 /* :: */
    {{[15] = 1}, 128, V6_CLASS, ADDR_LOOPBACK, 0},         /* ::1 */
    {{[10] = 0xff, [11] = 0xff}, 96, V6_V4_ITSELF, 0, 12}, /* mapped */
    {{[8] = 0xff, [9] = 0xff}, 96, V6_V4_PUBLIC, 0, 12},   /* SIIT */
    {{0}, 96, V6_CLASS, ADDR_REFUSED, 0},                  /* compat */
    {{0, 0x64, 0xff, 0x9b}, 96, V6_V4_PUBLIC, 0, 12},      /* NAT64 */
    {{0, 0x64, 0xff, 0x9b, 0, 1}, 48, V6_CLASS, ADDR_REFUSED, 0},
    {{1, 0}, 64, V6_CLASS, ADDR_REFUSED, 0},                   /* discard */
    {{0x20, 0x01, 0, 0}, 32, V6_CLASS, ADDR_REFUSED, 0},       /* Teredo */
    {{0x20, 0x01, 0, 2}, 48, V6_CLASS, ADDR_REFUSED, 0},       /* bench */
    {{0x20, 0x01, 0x0d, 0xb8}, 32, V6_CLASS, ADDR_REFUSED, 0}, /* doc */
    {{0x20, 0x02}, 16, V6_V4_PUBLIC, 0, 2},                    /* 6to4 */
    {{0xfc}, 7, V6_CLASS, ADDR_REFUSED, 0},                    /* ULA */
    {{0xfe, 0x80}, 10, V6_CLASS, ADDR_REFUSED, 0},             /* link */
    {{0xfe, 0xc0}, 10, V6_CLASS, ADDR_REFUSED, 0},             /* site */
    {{0xff}, 8, V6_CLASS, ADDR_REFUSED, 0},                    /* multicast */
};

/* Whether the first bits of a equal those of net. */
static bool
prefix_is(const uint8_t *a, const uint8_t *net, int bits)
{
	int whole = bits / 8, rest = bits % 8;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));

	return memcmp(a, net, (size_t)whole) == 0 &&
	       (rest == 0 || (a[whole] & mask) == (net[whole] & mask));
}

static addr_class
v4_class(const uint8_t a[4])
{
	for (size_t i = 0; i < sizeof(v4_ranges) / sizeof(v4_ranges[0]); i++) {
		if (prefix_is(a, v4_ranges[i].net, v4_ranges[i].bits)) {
			return v4_ranges[i].cls;
		}
	}
	return ADDR_PUBLIC;
}

static addr_class
v6_class(const uint8_t a[16])
{
	for (size_t i = 0; i < sizeof(v6_ranges) / sizeof(v6_ranges[0]); i++) {
		addr_class v4;
		if (!prefix_is(a, v6_ranges[i].net, v6_ranges[i].bits)) {
			continue;
		}
		switch (v6_ranges[i].rule) {
		case V6_CLASS:
			return v6_ranges[i].cls;
		case V6_V4_ITSELF:
			return v4_class(a + v6_ranges[i].at);
		case V6_V4_PUBLIC:
			v4 = v4_class(a + v6_ranges[i].at);
			return v4 == ADDR_PUBLIC ? ADDR_PUBLIC : ADDR_REFUSED;
		}
	}
	return ADDR_PUBLIC;
}

bool
uns_push_addr_allowed(const uns_push_config *cfg, const struct sockaddr *sa)
{
	addr_class c;

	if (sa == NULL) {
		return false;
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		c = v4_class((const uint8_t *)&in->sin_addr);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)sa;
		c = v6_class(in->sin6_addr.s6_addr);
	} else {
		return false;
	}
	return c == ADDR_PUBLIC ||
	       (c == ADDR_LOOPBACK && cfg != NULL && cfg->allow_private);
}

/* ---- resolving and pinning ---------------------------------------------- */

static void
addr_text(const struct sockaddr_storage *sa, char *out, size_t cap)
{
	const void *a =
	    sa->ss_family == AF_INET
	        ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
	        : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;

	if (inet_ntop(sa->ss_family, a, out, (socklen_t)cap) == NULL) {
		snprintf(out, cap, "?");
	}
}

/* The system resolver: every TCP address of host. */
static int
system_resolve(void *arg, const char *host, struct sockaddr_storage *out,
               size_t cap, size_t *n)
{
	struct addrinfo hints, *res = NULL, *ai;
	int rc;

	(void)arg;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		return rc;
	}
	*n = 0;
	for (ai = res; ai != NULL && *n < cap; ai = ai->ai_next) {
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    ai->ai_addrlen <= sizeof(*out)) {
			memset(&out[*n], 0, sizeof(out[*n]));
			memcpy(&out[*n], ai->ai_addr, ai->ai_addrlen);
			(*n)++;
		}
	}
	freeaddrinfo(res);
	return *n > 0 ? 0 : EAI_NONAME;
}

/* An address literal (IPv4, or IPv6 without brackets) as the one address
 * it is, without asking a resolver; false for a name. */
static bool
literal(const char *host, struct sockaddr_storage *out)
{
	struct sockaddr_in *in = (struct sockaddr_in *)out;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		return true;
	}
	return false;
}

uns_err
push_resolve_checked(const uns_push_config *cfg, const char *host,
                     struct sockaddr_storage *out, size_t *n, char *why,
                     size_t whylen)
{
	push_resolve_fn resolve =
	    cfg->resolve != NULL ? cfg->resolve : system_resolve;
	char shown[INET6_ADDRSTRLEN];
	int rc;

	if (literal(host, &out[0])) {
		*n = 1;
	} else if ((rc = resolve(cfg->resolve_arg, host, out, PUSH_MAX_ADDRS,
	                         n)) != 0) {
		uns_say(why, whylen, "host %s does not resolve: %s", host,
		        gai_strerror(rc));
		return rc == EAI_AGAIN ? UNS_UNAVAILABLE : UNS_INVALID_ARGUMENT;
	}
	for (size_t i = 0; i < *n; i++) {
		if (!uns_push_addr_allowed(cfg, (struct sockaddr *)&out[i])) {
			addr_text(&out[i], shown, sizeof(shown));
			uns_say(why, whylen,
			        "host %s resolves to %s, a private, loopback "
			        "or link-local address",
			        host, shown);
			return UNS_INVALID_ARGUMENT;
		}
	}
	return UNS_OK;
}

/* ---- the pin cache ------------------------------------------------------- */

#define PIN_SLOTS 256 /* hosts remembered; the oldest slot goes first */

struct push_pin_cache {
	pthread_mutex_t lock;
	struct {
		char *entry; /* "HOST:PORT:..." as uns_push_pin made it */
		int64_t until_ms;
	} slot[PIN_SLOTS];
	size_t next;
};

static int64_t
mono_ms(void)
{
	return (int64_t)(uns_mono_us() / 1000);
}

uns_err
push_pin_cache_open(struct push_pin_cache **out)
{
	struct push_pin_cache *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		return UNS_ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return UNS_OK;
}

void
push_pin_cache_close(struct push_pin_cache *c)
{
	if (c == NULL) {
		return;
	}
	for (size_t i = 0; i < PIN_SLOTS; i++) {
		free(c->slot[i].entry);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* The slot whose entry starts with key ("HOST:PORT:"), or PIN_SLOTS. */
static size_t
pin_slot(const struct push_pin_cache *c, const char *key)
{
	size_t kl = strlen(key);

	for (size_t i = 0; i < PIN_SLOTS; i++) {
		if (c->slot[i].entry != NULL &&
		    strncmp(c->slot[i].entry, key, kl) == 0) {
			return i;
		}
	}
	return PIN_SLOTS;
}

/* A copy of key's entry while it is fresh, or NULL. */
static char *
pin_cached(struct push_pin_cache *c, const char *key)
{
	char *copy = NULL;
	size_t at;

	pthread_mutex_lock(&c->lock);
	at = pin_slot(c, key);
	if (at < PIN_SLOTS && c->slot[at].until_ms > mono_ms()) {
		copy = strdup(c->slot[at].entry);
	}
	pthread_mutex_unlock(&c->lock);
	return copy;
}

/* Keeps a copy of entry under key for reuse_ms. */
static void
pin_keep(struct push_pin_cache *c, const char *key, const char *entry,
         int64_t reuse_ms)
{
	char *copy = strdup(entry);
	size_t at;

	if (copy == NULL) {
		return;
	}
	pthread_mutex_lock(&c->lock);
	if ((at = pin_slot(c, key)) == PIN_SLOTS) {
		at = c->next;
		c->next = (c->next + 1) % PIN_SLOTS;
	}
	free(c->slot[at].entry);
	c->slot[at].entry = copy;
	c->slot[at].until_ms = mono_ms() + reuse_ms;
	pthread_mutex_unlock(&c->lock);
}

/* ---- pinning --------------------------------------------------------------
 */

/* "HOST:PORT:ADDR,[ADDR6],..." (curl's CURLOPT_RESOLVE form) of the n
 * checked addresses, after key "HOST:PORT:". */
static char *
pin_entry(const char *key, const struct sockaddr_storage *addrs, size_t n)
{
	size_t cap = strlen(key) + 1 + n * (INET6_ADDRSTRLEN + 3), used;
	char *e = malloc(cap);

	if (e == NULL) {
		return NULL;
	}
	used = (size_t)snprintf(e, cap, "%s", key);
	for (size_t i = 0; i < n; i++) {
		char a[INET6_ADDRSTRLEN];
		bool v6 = addrs[i].ss_family == AF_INET6;
		addr_text(&addrs[i], a, sizeof(a));
		used += (size_t)snprintf(e + used, cap - used, "%s%s%s%s",
		                         i > 0 ? "," : "", v6 ? "[" : "", a,
		                         v6 ? "]" : "");
	}
	return e;
}

uns_err
uns_push_pin(const uns_push_config *cfg, const char *url, char **entry,
             char *why, size_t whylen)
{
	struct sockaddr_storage addrs[PUSH_MAX_ADDRS];
	char key[PUSH_MAX_URL + 16], *e;
	size_t n = 0;
	push_url u;
	uns_err err;

	if ((err = push_url_parse(url, &u, why, whylen)) != UNS_OK) {
		return err;
	}
	snprintf(key, sizeof(key), "%s:%s:", u.host,
	         u.port[0]                        ? u.port
	         : strcmp(u.scheme, "https") == 0 ? "443"
	                                          : "80");
	if (cfg->pins != NULL && (e = pin_cached(cfg->pins, key)) != NULL) {
		*entry = e;
		return UNS_OK;
	}
	if ((err = push_resolve_checked(cfg, u.host, addrs, &n, why, whylen)) !=
	    UNS_OK) {
		return err;
	}
	if ((e = pin_entry(key, addrs, n)) == NULL) {
		return UNS_ENOMEM;
	}
	if (cfg->pins != NULL) {
		pin_keep(cfg->pins, key, e, cfg->pin_reuse_ms);
	}
	*entry = e;
	return UNS_OK;
}

uns_err
push_check_url(const uns_push_config *cfg, const char *url,
               const push_hosts *allow, char *why, size_t whylen)
{
	struct sockaddr_storage addrs[PUSH_MAX_ADDRS];
	size_t n = 0;
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
	err = push_resolve_checked(cfg, u.host, addrs, &n, why, whylen);
	return err == UNS_UNAVAILABLE ? UNS_INVALID_ARGUMENT : err;
}
