/*
 * fuzz_push_url.c — libFuzzer target for the push endpoint URL parser and
 * host allow-lists (server/push/push_url.c, compiled into this file because
 * fuzz targets link only libuns).
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
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_push_url
 *   build-fuzz/fuzz_push_url -max_total_time=60 tests/fuzz/corpus/push_url
 */
#include <stdio.h>

#include "../../server/push/push_url.c"

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
	}
	free(url);
	return 0;
}
