/*
 * fuzz_gw_headers.c — libFuzzer target for the checks the gateway makes
 * on a request's head before any work (server/gateway/gateway_head.c):
 * framing (Content-Length, Transfer-Encoding, Expect), the sizes, Host,
 * %00 in the target, OData options, unsupported headers, then after the
 * route (gateway_routes.c) Content-Encoding, Content-Type and the body's
 * length; and the header values UNS parses itself (If-Match, Accept).
 *
 * The input is a request head as a client writes it: "METHOD TARGET
 * VERSION", then "Name: value" lines up to an empty line (LF or CRLF).
 * The target is split and decoded as libmicrohttpd does before the checks
 * see it (path percent-decoded up to a NUL; query arguments split at '&'
 * and '=', '+' as a space). Promises checked, a broken one aborts:
 *  - a refusal has a known status and code, a message that fits and can
 *    be written in Graph's error envelope (non-ASCII as '?', as
 *    uns_gw_fail does), and goes before the body only for framing or a
 *    body over the drain limit;
 *  - a head taken has no second different Content-Length, not both
 *    Content-Length and Transfer-Encoding, no Expect but 100-continue, one
 *    valid Host (present in HTTP/1.1), no %00, no OData option UNS does
 *    not take, no If-Modified-Since or If-Range;
 *  - If-Match taken is absent, "*", or a positive decimal, quoted or not.
 *
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_gw_headers
 *   build-fuzz/fuzz_gw_headers -max_total_time=60 \
 *     tests/fuzz/corpus/gw_headers
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway_errors.h"
#include "gateway_exchange.h"
#include "gateway_head.h"
#include "gateway_routes.h"
#include "gateway_url.h"
#include "json_value.h"

#define MAX_FIELDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_gw_headers: %s\n", what);
		abort();
	}
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

/* Percent-decodes s in place ('+' as a space when plus), up to a NUL. */
static void
unescape(char *s, int plus)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		int hi, lo;
		if (*p == '%' && (hi = hexval(p[1])) >= 0 &&
		    (lo = hexval(p[2])) >= 0) {
			*o++ = (char)(hi << 4 | lo);
			p += 2;
		} else {
			*o++ = plus && *p == '+' ? ' ' : *p;
		}
	}
	*o = '\0';
}

/* The next line of [*p, end) (CR LF or LF), NUL-terminated in place. */
static char *
next_line(char **p, char *end)
{
	char *s = *p, *nl;
	if (s >= end) {
		return NULL;
	}
	nl = memchr(s, '\n', (size_t)(end - s));
	nl = nl ? nl : end;
	*p = nl < end ? nl + 1 : end;
	if (nl > s && nl[-1] == '\r') {
		nl--;
	}
	*nl = '\0';
	return s;
}

/* What uns_gw_fail writes: the envelope, else with '?' for non-ASCII. */
static void
check_refusal(const uns_gw_refusal *no, int after_route)
{
	static const unsigned statuses[] = {400, 412, 413, 414, 415, 417, 431};
	int known = 0;
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		known |= no->status == statuses[i];
	}
	must(known && no->code != NULL, "unknown status");
	must(memchr(no->message, '\0', sizeof(no->message)) != NULL &&
	         no->message[0] != '\0',
	     "message not terminated");
	must(!no->now || (after_route ? no->status == 413
	                              : no->status == 400 || no->status == 417),
	     "answered before the body for no framing reason");
	char msg[sizeof(no->message)];
	memcpy(msg, no->message, sizeof(msg));
	uns_jv *env = uns_gw_error_envelope(no->code, msg, "rid", 0);
	if (env == NULL) {
		for (char *s = msg; *s; s++) {
			if ((unsigned char)*s >= 0x80 ||
			    (unsigned char)*s < 0x20) {
				*s = '?';
			}
		}
		env = uns_gw_error_envelope(no->code, msg, "rid", 0);
	}
	char *text = NULL;
	must(env != NULL && uns_jv_dump(env, 0, &text, NULL) == UNS_OK,
	     "no error envelope");
	uns_jv_free(env);
	free(text);
}

/* What a head the checks took must not hold (an independent reading). */
static void
check_taken(const uns_gw_head *h)
{
	const char *length = NULL, *te = NULL, *expect = NULL, *host = NULL;
	size_t hosts = 0;
	for (size_t i = 0; i < h->n_headers; i++) {
		const char *n = h->headers[i].name, *v = h->headers[i].value;
		hosts += strcasecmp(n, "Host") == 0;
		if (strcasecmp(n, "Content-Length") == 0) {
			must(length == NULL || strcmp(length, v) == 0,
			     "two different Content-Lengths taken");
			length = v;
		}
		te = te ? te : strcasecmp(n, "Transfer-Encoding") ? NULL : v;
		expect = expect ? expect : strcasecmp(n, "Expect") ? NULL : v;
		host = host ? host : strcasecmp(n, "Host") ? NULL : v;
		must(strcasecmp(n, "If-Modified-Since") != 0 &&
		         strcasecmp(n, "If-Range") != 0,
		     "unsupported header taken");
	}
	must(!(length && te), "Content-Length with Transfer-Encoding taken");
	must(!expect || strcasecmp(expect, "100-continue") == 0,
	     "Expect taken");
	must(hosts <= 1 && (host ? uns_gw_host_valid(host)
	                         : strcmp(h->version, "HTTP/1.1") != 0),
	     "Host taken");
	must(!(h->marks & UNS_GW_HEAD_NUL), "%00 taken");
	for (size_t i = 0; i < h->n_args; i++) {
		const char *n = h->args[i].name;
		must(n[0] != '$' || strcmp(n, "$top") == 0 ||
		         strcmp(n, "$filter") == 0 ||
		         strcmp(n, "$skiptoken") == 0 ||
		         strcmp(n, "$deltatoken") == 0,
		     "OData option taken");
	}
}

static void
check_if_match(const char *v)
{
	uns_gw_refusal no;
	uint64_t n = 99;
	if (uns_gw_if_match(v, &n, &no)) {
		if (v == NULL || strcmp(v, "*") == 0) {
			must(n == 0, "If-Match * with a version");
			return;
		}
		size_t len = strlen(v), q = v[0] == '"';
		must(n > 0 && len > 2 * q && (!q || v[len - 1] == '"') &&
		         strspn(v + q, "0123456789") == len - 2 * q,
		     "If-Match taken");
	} else {
		check_refusal(&no, 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uns_gw_field hdrs[MAX_FIELDS], args[MAX_FIELDS];
	size_t nh = 0, na = 0;
	char *buf = malloc(size + 1), *p = buf, *end = buf + size;
	must(buf != NULL, "out of memory");
	memcpy(buf, data, size);
	buf[size] = '\0';

	/* the request line: METHOD TARGET VERSION */
	char *line = next_line(&p, end), *target, *version, *q;
	if (line == NULL || (target = strchr(line, ' ')) == NULL ||
	    (version = strchr(target + 1, ' ')) == NULL) {
		free(buf);
		return 0;
	}
	*target++ = '\0';
	*version++ = '\0';
	int marks = uns_gw_head_marks(target, 256);
	if ((q = strchr(target, '?')) != NULL) {
		*q++ = '\0';
		while (q != NULL && na < MAX_FIELDS) {
			char *amp = strchr(q, '&'), *eq;
			if (amp) {
				*amp = '\0';
			}
			if ((eq = strchr(q, '=')) != NULL) {
				*eq++ = '\0';
				unescape(eq, 1);
			}
			unescape(q, 1);
			args[na++] = (uns_gw_field){q, eq};
			q = amp ? amp + 1 : NULL;
		}
	}
	unescape(target, 0);

	/* the headers, up to an empty line */
	while ((line = next_line(&p, end)) != NULL && line[0] != '\0' &&
	       nh < MAX_FIELDS) {
		char *colon = strchr(line, ':'), *v;
		if (colon == NULL || colon == line) {
			continue; /* MHD refuses such a line itself */
		}
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++) {
		}
		hdrs[nh++] = (uns_gw_field){line, v};
	}

	const uns_gw_head h = {.method = buf,
	                       .url = target,
	                       .version = version,
	                       .headers = hdrs,
	                       .n_headers = nh,
	                       .args = args,
	                       .n_args = na,
	                       .marks = marks};
	const uns_gw_head_limits lim = {.max_uri = 256,
	                                .max_header = 1024,
	                                .max_body = 64,
	                                .drain_limit = 4096};
	uns_gw_refusal no;
	int drain = 0;
	if (uns_gw_head_check(&h, &lim, &no)) {
		check_refusal(&no, 0);
	} else {
		check_taken(&h);
		uns_gw_exchange *x = calloc(1, sizeof(*x));
		const uns_gw_route *r = NULL;
		char allow[128];
		must(x != NULL, "out of memory");
		if (uns_gw_route_find(h.method, h.url, x, &r, allow,
		                      sizeof(allow)) == UNS_GW_MATCHED) {
			if (uns_gw_head_check_body(&h,
			                           uns_gw_route_body_type(r),
			                           &lim, &drain, &no)) {
				check_refusal(&no, 1);
			}
		}
		free(x->params); /* the captures, allocated by the match */
		free(x);
	}
	check_if_match(uns_gw_head_header(&h, "If-Match"));
	(void)uns_gw_accepts_events(uns_gw_head_header(&h, "Accept"));
	free(buf);
	return 0;
}
