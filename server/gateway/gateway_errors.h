/*
 * gateway_errors.h — RPC status to HTTP status, and Graph's error envelope.
 *
 * One table maps each uns_err to an HTTP status and a Graph error code
 * (SPEC §3, issue 4): INVALID_ARGUMENT 400, UNAUTHENTICATED 401,
 * PERMISSION_DENIED 403, NOT_FOUND 404, ALREADY_EXISTS 409 (422 for an
 * Idempotency-Key reused), FAILED_PRECONDITION 412,
 * RESOURCE_EXHAUSTED 429 (413 when the limit was a size), UNAVAILABLE 503,
 * DEADLINE_EXCEEDED 504; anything else 500. Pure functions, no I/O.
 */
#ifndef UNS_GATEWAY_ERRORS_H
#define UNS_GATEWAY_ERRORS_H

#include <stddef.h>

#include "json_value.h"
#include "uns/uns.h"

typedef struct uns_gw_status {
	unsigned http;
	const char *code; /* Graph's error code, "BadRequest" */
} uns_gw_status;

/* The HTTP answer for err; message (HTTP-worded, uns_gw_http_message)
 * decides 413 vs 429 for RESOURCE_EXHAUSTED (a size limit says "too
 * large") and 422 vs 409 for ALREADY_EXISTS (an Idempotency-Key reused for
 * another request). */
uns_gw_status uns_gw_status_of(uns_err err, const char *message);

/*
 * Rewrites an RPC message that starts with a request field the HTTP client
 * never saw into the name it did send: "pageSize: at most 100" becomes
 * "$top: at most 100", "notification.priority: ..." becomes "priority:
 * ..." (the body is the notification), "unsid: ..." becomes "X-UNS-ID:
 * ...". Messages worded for RPC callers (no bearer token "in metadata",
 * "tokens may not call uns.v1.…") become their HTTP wording, from one
 * table. Other messages are copied as they are.
 */
void uns_gw_http_message(const char *rpc_message, char *out, size_t cap);

/*
 * 1 when an RPC message must not reach the HTTP client: a server fault
 * (st.http 500), or a store failure's text whatever the status (RocksDB's
 * errors name files by absolute path). The gateway then logs it with the
 * request id and answers a plain message instead.
 */
int uns_gw_message_is_internal(uns_gw_status st, const char *message);

/*
 * The WWW-Authenticate value of a 401 (RFC 6750 §3): "Bearer" alone when
 * the request had no token (token NULL or ""), else Bearer
 * error="invalid_token", error_description="MESSAGE" with the bytes a
 * quoted string may not hold as '?'. Truncated to cap, still quoted.
 */
void uns_gw_www_authenticate(const char *token, const char *message, char *out,
                             size_t cap);

/* {"error":{"code","message","innerError":{"request-id","date"}}}; a new
 * reference, or NULL when out of memory. now_ms stamps "date". */
uns_jv *uns_gw_error_envelope(const char *code, const char *message,
                              const char *request_id, int64_t now_ms);

#endif /* UNS_GATEWAY_ERRORS_H */
