/*
 * gateway_url.c — see gateway_url.h. A 256-entry table says which bytes
 * pass as they are; everything else is %XX.
 */
#include <string.h>

#include "gateway_url.h"

/* 1 for RFC 3986's unreserved characters. */
static const unsigned char unreserved[256] = {
    ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1,
    ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1,
    ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1,
    ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static const char hex[] = "0123456789ABCDEF";

int
uns_gw_host_valid(const char *host)
{
	const char *p = host, *port;
	size_t n = 0;

	if (*p == '[') { /* an IPv6 literal: hex digits, ':' and '.' */
		for (p++; *p != ']'; p++, n++) {
			if (strchr("0123456789abcdefABCDEF:.", *p) == NULL ||
			    *p == '\0') {
				return 0; /* also the missing ']' */
			}
		}
		p++;
	} else {
		for (; *p != '\0' && *p != ':'; p++, n++) {
			if (!unreserved[(unsigned char)*p]) {
				return 0;
			}
		}
	}
	if (n == 0 || n > 253) {
		return 0;
	}
	if (*p == '\0') {
		return 1;
	}
	if (*p++ != ':') {
		return 0;
	}
	unsigned long v = 0;
	for (port = p; *p >= '0' && *p <= '9' && p - port < 5; p++) {
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return *p == '\0' && p > port && v >= 1 && v <= 65535;
}

size_t
uns_gw_url_encode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
		size_t w = unreserved[c] ? 1 : 3;
		for (size_t k = 0; k < w; k++, o++) {
			if (o + 1 < cap) {
				out[o] = w == 1 ? (char)c : enc[k];
			}
		}
	}
	if (cap > 0) {
		out[o < cap ? o : cap - 1] = '\0';
	}
	return o;
}
