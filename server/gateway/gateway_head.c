/*
 * gateway_head.c — see gateway_head.h. Each check is a few string
 * compares over lists of a few dozen pairs at most (MHD's memory pool
 * bounds the head), so lists are scanned, not indexed. The order of the
 * checks is the order of the answers: what leaves the body's end unknown
 * first (a client must not be told 404 for a request that may be two).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway_encoding.h"
#include "gateway_head.h"
#include "gateway_url.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Headers UNS does not implement: refused rather than ignored. */
static const char *const forbidden_headers[] = {"If-Modified-Since",
                                                "If-Range"};

/* The OData query options UNS implements; any other $option is 400, as
 * Graph answers, rather than silently ignored. */
static const char *const odata_options[] = {"$top", "$filter", "$skiptoken",
                                            "$deltatoken"};

static int refuse(uns_gw_refusal *r, unsigned status, const char *code, int now,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
refuse(uns_gw_refusal *r, unsigned status, const char *code, int now,
       const char *fmt, ...)
{
	va_list ap;
	r->status = status;
	r->code = code;
	r->now = now;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
	return 1;
}

int
uns_gw_head_marks(const char *raw_target, size_t max_uri)
{
	return (strstr(raw_target, "%00") != NULL ? UNS_GW_HEAD_NUL : 0) |
	       (strlen(raw_target) > max_uri ? UNS_GW_HEAD_LONG : 0);
}

const char *
uns_gw_head_header(const uns_gw_head *h, const char *name)
{
	for (size_t i = 0; i < h->n_headers; i++) {
		if (strcasecmp(h->headers[i].name, name) == 0) {
			return h->headers[i].value;
		}
	}
	return NULL;
}

/* How the body is framed and announced: ambiguity is answered before the
 * body, since no one can tell where this request ends. */
static int
check_framing(const uns_gw_head *h, uns_gw_refusal *r)
{
	const char *length = NULL;
	for (size_t i = 0; i < h->n_headers; i++) {
		const char *v = h->headers[i].value ? h->headers[i].value : "";
		if (strcasecmp(h->headers[i].name, "Content-Length") != 0) {
			continue;
		}
		if (length == NULL) {
			length = v;
		} else if (strcmp(length, v) != 0) {
			return refuse(r, 400, "BadRequest", 1,
			              "two Content-Length headers with "
			              "different values");
		}
	}
	if (length != NULL &&
	    uns_gw_head_header(h, "Transfer-Encoding") != NULL) {
		/* RFC 9112 §6.1: a sender must not send both; a server in
		 * front may have framed it the other way (smuggling). */
		return refuse(r, 400, "BadRequest", 1,
		              "both Content-Length and Transfer-Encoding");
	}
	const char *expect = uns_gw_head_header(h, "Expect");
	if (expect != NULL && strcasecmp(expect, "100-continue") != 0) {
		return refuse(r, 417, "ExpectationFailed", 1,
		              "Expect: only 100-continue is supported");
	}
	return 0;
}

/* Our limits on the request target and the headers, below MHD's memory,
 * so that the answer carries the envelope. */
static int
check_sizes(const uns_gw_head *h, const uns_gw_head_limits *l,
            uns_gw_refusal *r)
{
	if (h->marks & UNS_GW_HEAD_LONG) {
		return refuse(r, 414, "UriTooLong", 0,
		              "the request target is longer than %zu bytes "
		              "(gateway_max_uri)",
		              l->max_uri);
	}
	size_t n = strlen(h->method) + 1 + strlen(h->url) + 11;
	for (size_t i = 0; i < h->n_headers; i++) {
		const char *v = h->headers[i].value;
		n += strlen(h->headers[i].name) + 2 + (v ? strlen(v) : 0) + 2;
	}
	if (n > l->max_header) {
		return refuse(r, 431, "RequestHeaderFieldsTooLarge", 0,
		              "the request line and headers are longer than "
		              "%zu bytes (gateway_max_header)",
		              l->max_header);
	}
	return 0;
}

static int
known_option(const char *name)
{
	for (size_t i = 0; i < N_OF(odata_options); i++) {
		if (strcmp(name, odata_options[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

/* The request line and Host. */
static int
check_target(const uns_gw_head *h, uns_gw_refusal *r)
{
	const char *host = uns_gw_head_header(h, "Host");
	size_t hosts = 0;
	for (size_t i = 0; i < h->n_headers; i++) {
		hosts += strcasecmp(h->headers[i].name, "Host") == 0;
	}
	if (hosts > 1) { /* RFC 9112 §3.2: which would a proxy have used? */
		return refuse(r, 400, "BadRequest", 0,
		              "more than one Host header");
	}
	if (host == NULL && strcmp(h->version, "HTTP/1.1") == 0) {
		return refuse(r, 400, "BadRequest", 0,
		              "an HTTP/1.1 request needs a Host header");
	}
	if (host != NULL && !uns_gw_host_valid(host)) {
		return refuse(r, 400, "BadRequest", 0,
		              "the Host header is not a host name with an "
		              "optional port");
	}
	if (h->marks & UNS_GW_HEAD_NUL) {
		return refuse(r, 400, "BadRequest", 0,
		              "%%00 (a NUL byte) is not allowed in the path or "
		              "the query");
	}
	for (size_t i = 0; i < h->n_args; i++) {
		const char *name = h->args[i].name;
		if (name[0] == '$' && !known_option(name)) {
			return refuse(r, 400, "BadRequest", 0,
			              "the OData query option %.40s is not "
			              "supported (UNS takes $top, $filter, "
			              "$skiptoken, $deltatoken)",
			              name);
		}
	}
	return 0;
}

int
uns_gw_head_check(const uns_gw_head *h, const uns_gw_head_limits *l,
                  uns_gw_refusal *out)
{
	if (check_framing(h, out) || check_sizes(h, l, out) ||
	    check_target(h, out)) {
		return 1;
	}
	for (size_t i = 0; i < N_OF(forbidden_headers); i++) {
		if (uns_gw_head_header(h, forbidden_headers[i]) != NULL) {
			return refuse(out, 400, "BadRequest", 0,
			              "the %s header is not supported",
			              forbidden_headers[i]);
		}
	}
	return 0;
}

/* type is want, parameters (";charset=…") aside. */
static int
has_type(const char *type, const char *want)
{
	size_t n = strlen(want);
	return type != NULL && strncasecmp(type, want, n) == 0 &&
	       (type[n] == '\0' || type[n] == ';' || type[n] == ' ');
}

static int
has_body_method(const char *method)
{
	return strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0;
}

int
uns_gw_head_check_body(const uns_gw_head *h, const char *want,
                       const uns_gw_head_limits *l, int *drain,
                       uns_gw_refusal *out)
{
	const char *enc = uns_gw_head_header(h, "Content-Encoding");
	if (uns_gw_coding_of(enc) == UNS_GW_CODING_UNSUPPORTED) {
		return refuse(out, 415, "UnsupportedMediaType", 0,
		              "Content-Encoding \"%.64s\" is not supported; "
		              "use gzip or deflate",
		              enc);
	}
	const char *type = uns_gw_head_header(h, "Content-Type");
	if (has_body_method(h->method) && !has_type(type, want)) {
		return refuse(out, 415, "UnsupportedMediaType", 0,
		              "Content-Type must be %s, got \"%.64s\"", want,
		              type ? type : "");
	}
	const char *clen = uns_gw_head_header(h, "Content-Length");
	unsigned long long n = clen ? strtoull(clen, NULL, 10) : 0;
	if (n > l->max_body && n <= l->drain_limit) {
		*drain = 1; /* read and dropped; 413 at the end */
	} else if (n > l->max_body) {
		return refuse(out, 413, "PayloadTooLarge", 1,
		              "the body of %.20s bytes exceeds the limit of "
		              "%zu bytes",
		              clen, l->max_body);
	}
	return 0;
}

int
uns_gw_if_match(const char *v, uint64_t *out, uns_gw_refusal *r)
{
	char *end;
	*out = 0;
	if (v == NULL || strcmp(v, "*") == 0) {
		return 1;
	}
	if (strncmp(v, "W/", 2) == 0) {
		refuse(r, 412, "PreconditionFailed", 0,
		       "If-Match: a weak entity tag never matches; send the "
		       "ETag as given, such as \"3\"");
		return 0;
	}
	const char *p = v;
	int quoted = *p == '"';
	p += quoted;
	errno = 0;
	unsigned long long n = strtoull(p, &end, 10);
	if (*p < '0' || *p > '9' || errno || n == 0 ||
	    (quoted && *end++ != '"') || *end != '\0') {
		refuse(r, 400, "BadRequest", 0,
		       "If-Match: expected the ETag of a notification, such "
		       "as \"3\", got %.40s",
		       v);
		return 0;
	}
	*out = n;
	return 1;
}

int
uns_gw_accepts_events(const char *accept)
{
	return accept != NULL &&
	       strcasestr(accept, "text/event-stream") != NULL;
}
