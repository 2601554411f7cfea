/*
 * push_url.c — the URL shapes push endpoints may have (push_impl.h):
 * absolute http(s) URLs split into scheme, host, port and path, and host
 * allow-lists. A pure parser (no I/O, no DNS), fuzzed by
 * tests/fuzz/fuzz_push_url.c; push.c does the resolving.
 *
 * Refused outright: user information (https://user@host/ is a classic way
 * to smuggle a different host past a naive check), spaces, control
 * characters, backslashes (some parsers treat them as "/"), fragments,
 * ports outside 1..65535, hosts over 255 bytes.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "push_impl.h"

uns_err
push_url_parse(const char *url, push_url *out, char *why, size_t whylen)
{
	push_url u;
	const char *p, *auth, *end, *host_end, *colon;
	size_t n;

	memset(&u, 0, sizeof(u));
	if (strncasecmp(url, "https://", 8) == 0) {
		strcpy(u.scheme, "https");
		auth = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		strcpy(u.scheme, "http");
		auth = url + 7;
	} else {
		uns_say(why, whylen, "not an http(s) URL");
		return UNS_INVALID_ARGUMENT;
	}
	end = auth + strcspn(auth, "/?#");
	for (p = url; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '#' ||
		    *p == '\\') {
			uns_say(why, whylen,
			        "URL holds a space, control character, "
			        "backslash or fragment");
			return UNS_INVALID_ARGUMENT;
		}
	}
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL) {
		uns_say(why, whylen, "URL holds user information");
		return UNS_INVALID_ARGUMENT;
	}
	if (*auth == '[') {
		host_end = memchr(auth, ']', (size_t)(end - auth));
		if (host_end == NULL) {
			uns_say(why, whylen, "unterminated IPv6 address");
			return UNS_INVALID_ARGUMENT;
		}
		if (host_end + 1 < end && host_end[1] != ':') {
			uns_say(why, whylen, "junk after the IPv6 address");
			return UNS_INVALID_ARGUMENT;
		}
		auth++;
		colon = host_end + 1 < end ? host_end + 1 : NULL;
	} else {
		colon = memchr(auth, ':', (size_t)(end - auth));
		host_end = colon ? colon : end;
	}
	n = (size_t)(host_end - auth);
	if (n == 0 || n >= sizeof(u.host)) {
		uns_say(why, whylen,
		        "URL has no host or a host over 255 bytes");
		return UNS_INVALID_ARGUMENT;
	}
	/* Brackets hold an IPv6 literal and nothing else; names are DNS
	 * names or IPv4 literals (other programs' parsers would disagree
	 * about anything fancier). */
	if (auth[-1] == '['
	        ? memchr(auth, ':', n) == NULL ||
	              strspn(auth, "0123456789abcdefABCDEF:.") < n
	        : strspn(auth, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR"
	                       "STUVWXYZ0123456789.-_") < n) {
		uns_say(why, whylen, "bad host name or IPv6 address");
		return UNS_INVALID_ARGUMENT;
	}
	memcpy(u.host, auth, n);
	if (colon != NULL) {
		size_t pl = (size_t)(end - colon - 1);
		if (pl == 0 || pl > 5 || strspn(colon + 1, "0123456789") < pl ||
		    atoi(colon + 1) < 1 || atoi(colon + 1) > 65535) {
			uns_say(why, whylen, "bad port");
			return UNS_INVALID_ARGUMENT;
		}
		memcpy(u.port, colon + 1, pl);
	}
	u.path = *end == '\0' ? "/" : end;
	*out = u;
	return UNS_OK;
}

bool
push_hosts_match(const push_hosts *allow, const char *host)
{
	size_t hl = strlen(host);

	if (allow->n == 0) {
		return true;
	}
	for (int i = 0; i < allow->n; i++) {
		const char *a = allow->v[i];
		size_t al = strlen(a);
		if (a[0] == '*' && a[1] == '.' && hl > al - 1 &&
		    strcasecmp(host + hl - (al - 1), a + 1) == 0) {
			return true;
		}
		if (strcasecmp(host, a) == 0) {
			return true;
		}
	}
	return false;
}
