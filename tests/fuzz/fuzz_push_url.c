/*
 * fuzz_push_url.c — libFuzzer target for the push endpoint URL parser, host
 * allow-lists and the SSRF guard (server/push/push_url.c and push_ssrf.c,
 * compiled into this file to reach their statics).
 *
 * Each input is a URL (NUL added). Whatever parses must keep its
 * promises: scheme http or https, a non-empty host of at most 255 bytes
 * without '@', '/', '\\', space or control characters, a port of 1 to 5
 * digits from 1 to 65535 or none, a path inside the input that starts
 * with '/', '?' or is the default "/", and the input must be exactly the
 * URL put back together from those parts. Allow-list matching of the host
 * must agree with a simple reference. A broken promise aborts (not assert:
 * RelWithDebInfo defines NDEBUG).
 *
 * A host that is an address literal also goes through the SSRF guard
 * (server/push/push_ssrf.c, compiled in too): push_allow_private opens
 * only loopback on top of what is open without it; no IPv6 form that
 * carries an IPv4 address (mapped, SIIT, IPv4-compatible, 6to4, NAT64) is
 * open when that IPv4 address is not; private, link-local and special
 * IPv4 ranges of a reference list are never open; and uns_push_pin agrees
 * with the guard and pins the transfer to exactly that address. An input
 * that is not a URL is read as an address (first byte even: the next 4
 * bytes as IPv4, odd: the next 16 as IPv6), so the whole address space
 * is reached without the fuzzer having to spell URLs.
 */
#include <stdio.h>

#include <arpa/inet.h>

#include "../../server/push/push_url.c"
#include "../../server/push/push_ssrf.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must(int cond, const char *what, const char *url)
{
	if (!cond) {
		fprintf(stderr, "fuzz_push_url: %s: %s\n", what, url);
		abort();
	}
}

/* The URL from its parts, as the parser promises it was written. */
static void
rebuild(const push_url *u, const char *url, char *out, size_t cap)
{
	int v6 = strchr(u->host, ':') != NULL;
	const char *path = u->path;

	/* An absent path parses as "/" but is not in the input. */
	if (path < url || path > url + strlen(url)) {
		path = "";
	}
	snprintf(out, cap, "%.*s://%s%s%s%s%s%s", (int)strlen(u->scheme), url,
	         v6 ? "[" : "", u->host, v6 ? "]" : "", u->port[0] ? ":" : "",
	         u->port, path);
}

static int
ref_match(const push_hosts *h, const char *host)
{
	size_t hl = strlen(host);

	for (int i = 0; i < h->n; i++) {
		const char *a = h->v[i];
		if (strcasecmp(a, host) == 0) {
			return 1;
		}
		if (a[0] == '*' && a[1] == '.' && hl > strlen(a + 1) &&
		    strcasecmp(host + hl - strlen(a + 1), a + 1) == 0) {
			return 1;
		}
	}
	return h->n == 0;
}

static bool
open_to(const uns_push_config *cfg, const struct sockaddr_storage *sa)
{
	return uns_push_addr_allowed(cfg, (const struct sockaddr *)sa);
}

/* 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104 */
static bool
is_loopback(const struct sockaddr_storage *sa)
{
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
	const uint8_t *a;

	if (sa->ss_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)
		        ->sin_addr;
		return a[0] == 127;
	}
	a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	return (memcmp(a, in6addr_loopback.s6_addr, 16) == 0) ||
	       (memcmp(a, mapped, 12) == 0 && a[12] == 127);
}

/* The reference list: IPv4 ranges that must never be open. */
static bool
v4_private(const uint8_t *a)
{
	return a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224 ||
	       (a[0] == 100 && (a[1] & 0xc0) == 64) ||
	       (a[0] == 169 && a[1] == 254) ||
	       (a[0] == 172 && (a[1] & 0xf0) == 16) ||
	       (a[0] == 192 && a[1] == 168);
}

/* The IPv4 address an IPv6 form carries, if it is one of those forms;
 * *never: the form is refused whatever it carries. */
static const uint8_t *
carried_v4(const uint8_t *a, bool *never)
{
	static const uint8_t zero[12];
	static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};

	*never = false;
	if (memcmp(a, zero, 10) == 0 &&
	    ((a[10] == 0xff && a[11] == 0xff) || (a[10] == 0 && a[11] == 0))) {
		*never = a[10] == 0 && memcmp(a, zero, 12) == 0;
		return a + 12; /* mapped, or IPv4-compatible */
	}
	if (memcmp(a, zero, 8) == 0 && a[8] == 0xff && a[9] == 0xff &&
	    a[10] == 0 && a[11] == 0) {
		return a + 12; /* SIIT */
	}
	if (memcmp(a, nat64, 12) == 0) {
		return a + 12;
	}
	if (memcmp(a, nat64, 4) == 0 && a[4] == 0 && a[5] == 1) {
		*never = true; /* NAT64 local-use */
		return a + 12;
	}
	if (a[0] == 0x20 && a[1] == 0x02) {
		return a + 2; /* 6to4 */
	}
	return NULL;
}

static void
check_address(const struct sockaddr_storage *sa, const char *url)
{
	static uns_push_config strict, lax = {.allow_private = true};
	bool s = open_to(&strict, sa), l = open_to(&lax, sa), never;
	const uint8_t *v4;

	must(!s || l, "the testing knob closes an address", url);
	must(s == l || is_loopback(sa), "the testing knob opens non-loopback",
	     url);
	if (sa->ss_family == AF_INET) {
		v4 = (const uint8_t *)&((const struct sockaddr_in *)sa)
		         ->sin_addr;
		must(!s || !v4_private(v4), "a private IPv4 address open", url);
		return;
	}
	v4 = carried_v4(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr,
	                &never);
	if (v4 != NULL) {
		struct sockaddr_storage in;
		struct sockaddr_in *in4 = (struct sockaddr_in *)&in;
		memset(&in, 0, sizeof(in));
		in4->sin_family = AF_INET;
		memcpy(&in4->sin_addr, v4, 4);
		must(!s || (!never && open_to(&strict, &in)),
		     "an IPv6 form opens its closed IPv4 address", url);
	}
}

/* A literal host: the guard's answer, and uns_push_pin agreeing. */
static void
check_literal(const push_url *u, const char *url)
{
	static uns_push_config strict;
	struct sockaddr_storage sa;
	char want[600], why[256], *entry = NULL, text[INET6_ADDRSTRLEN];
	uns_err err;

	if (!literal(u->host, &sa)) {
		return;
	}
	check_address(&sa, url);
	err = uns_push_pin(&strict, url, &entry, why, sizeof(why));
	must((err == UNS_OK) == open_to(&strict, &sa), "pin and guard differ",
	     url);
	if (err == UNS_OK) {
		addr_text(&sa, text, sizeof(text));
		snprintf(want, sizeof(want), "%s:%s:%s%s%s", u->host,
		         u->port[0]                        ? u->port
		         : strcmp(u->scheme, "https") == 0 ? "443"
		                                           : "80",
		         sa.ss_family == AF_INET6 ? "[" : "", text,
		         sa.ss_family == AF_INET6 ? "]" : "");
		must(strcmp(entry, want) == 0, "pin entry", url);
	}
	free(entry);
}

/* Inputs that are not URLs: bytes as an address (first byte even: IPv4,
 * odd: IPv6), so the guard sees every corner of both spaces. */
static void
check_raw(const uint8_t *data, size_t size)
{
	struct sockaddr_storage sa;

	memset(&sa, 0, sizeof(sa));
	if (size >= 5 && data[0] % 2 == 0) {
		struct sockaddr_in *in = (struct sockaddr_in *)&sa;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, data + 1, 4);
		check_address(&sa, "(raw IPv4)");
	} else if (size >= 17) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, data + 1, 16);
		check_address(&sa, "(raw IPv6)");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const push_hosts hosts = {
	    3, {"push.example.com", "*.notify.windows.com", "[::1]"}};
	char *url = malloc(size + 1), again[4200], why[256];
	push_url u;

	if (url == NULL || size > 4096) {
		free(url);
		return 0;
	}
	memcpy(url, data, size);
	url[size] = '\0';
	if (push_url_parse(url, &u, why, sizeof(why)) == UNS_OK) {
		size_t hl = strlen(u.host);
		must(strcmp(u.scheme, "http") == 0 ||
		         strcmp(u.scheme, "https") == 0,
		     "scheme", url);
		must(hl > 0 && hl < 256, "host length", url);
		must(strpbrk(u.host, "@/\\ ?#") == NULL, "host characters",
		     url);
		for (size_t i = 0; i < hl; i++) {
			must((unsigned char)u.host[i] > 0x20 &&
			         u.host[i] != 0x7f,
			     "host control character", url);
		}
		must(u.port[0] == '\0' ||
		         (strspn(u.port, "0123456789") == strlen(u.port) &&
		          strlen(u.port) <= 5 && atoi(u.port) >= 1 &&
		          atoi(u.port) <= 65535),
		     "port", url);
		must(u.path[0] == '/' || u.path[0] == '?', "path start", url);
		rebuild(&u, url, again, sizeof(again));
		must(strcmp(again, url) == 0, "round trip", url);
		must(push_hosts_match(&hosts, u.host) ==
		         (bool)ref_match(&hosts, u.host),
		     "allow-list", url);
		check_literal(&u, url);
	} else {
		check_raw(data, size);
	}
	free(url);
	return 0;
}
