/*
 * gateway_head.h — the checks the gateway makes on a request's head (the
 * request line and the headers, as libmicrohttpd hands them on) before any
 * work, and the header values UNS parses itself (If-Match, Accept).
 *
 * Pure: the head is a method, a path, a version and two lists of (name,
 * value) pairs, so the checks run the same in gateway.c (filled from MHD's
 * tables) and in tests/fuzz/fuzz_gw_headers.c (filled from any bytes). A
 * refusal is a status, a Graph error code, a message and when it goes:
 * before the body (MHD then closes: the body's end is unknown, or it is
 * too long to read and drop) or after the (bounded) body is read and
 * dropped, so a kept-alive connection survives.
 * Rejected: keeping them as statics of gateway.c reading MHD's tables
 * (no fuzz target could reach them without a daemon).
 */
#ifndef UNS_GATEWAY_HEAD_H
#define UNS_GATEWAY_HEAD_H

#include <stddef.h>
#include <stdint.h>

/* One header or query argument; value may be NULL (MHD's "no value"). */
typedef struct uns_gw_field {
	const char *name;
	const char *value;
} uns_gw_field;

/* on_uri's marks of the raw request target (uns_gw_head_marks). */
#define UNS_GW_HEAD_NUL  1 /* it holds %00 */
#define UNS_GW_HEAD_LONG 2 /* it is over max_uri */

typedef struct uns_gw_head {
	const char *method;          /* "POST" */
	const char *url;             /* the path, percent-decoded */
	const char *version;         /* "HTTP/1.1" */
	const uns_gw_field *headers; /* as received; names case-insensitive */
	size_t n_headers;
	const uns_gw_field *args; /* query arguments, decoded */
	size_t n_args;
	int marks; /* UNS_GW_HEAD_* of the raw target */
} uns_gw_head;

typedef struct uns_gw_head_limits {
	size_t max_uri;     /* gateway_max_uri */
	size_t max_header;  /* gateway_max_header: request line + headers */
	size_t max_body;    /* max_body */
	size_t drain_limit; /* an oversized body up to this is read, dropped */
} uns_gw_head_limits;

typedef struct uns_gw_refusal {
	unsigned status;  /* 400, 413, 414, 415, 417, 431 */
	const char *code; /* Graph's error code: "BadRequest" */
	int now;          /* answered before the body; MHD closes */
	char message[320];
} uns_gw_refusal;

/* The marks of a raw request target (before MHD decodes it: a %00 would
 * cut the path the checks see). */
int uns_gw_head_marks(const char *raw_target, size_t max_uri);

/* The first header named name (case-insensitive), or NULL. */
const char *uns_gw_head_header(const uns_gw_head *h, const char *name);

/*
 * The checks before the route is looked up, in order: framing (two
 * different Content-Lengths, Content-Length with Transfer-Encoding, an
 * Expect other than 100-continue: refused now), the target's and the
 * head's sizes, Host (one, required in HTTP/1.1, uns_gw_host_valid), %00 in the
 * target, OData options UNS does not take, headers UNS does not support.
 * 1 with *out filled when refused, else 0.
 */
int uns_gw_head_check(const uns_gw_head *h, const uns_gw_head_limits *l,
                      uns_gw_refusal *out);

/*
 * The checks after the route matched: Content-Encoding (gzip, deflate or
 * none), Content-Type (want, parameters aside) for POST and PATCH,
 * Content-Length over max_body (refused now beyond drain_limit; up to it
 * *drain is set: the body is read and dropped, then 413). 1 with *out
 * filled when refused, else 0.
 */
int uns_gw_head_check_body(const uns_gw_head *h, const char *want,
                           const uns_gw_head_limits *l, int *drain,
                           uns_gw_refusal *out);

/*
 * If-Match (v, NULL when absent): "7", 7 or * — 1 with *out set (0 = no
 * check). A weak tag (W/"7") never matches, as If-Match compares strongly
 * (RFC 9110 §13.1.1): 0 with a 412 in *r; anything else 0 with a 400.
 */
int uns_gw_if_match(const char *v, uint64_t *out, uns_gw_refusal *r);

/* 1 when an Accept value (NULL when absent) asks for text/event-stream. */
int uns_gw_accepts_events(const char *accept);

#endif /* UNS_GATEWAY_HEAD_H */
