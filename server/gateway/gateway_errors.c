/*
 * gateway_errors.c — see gateway_errors.h.
 *
 * The codes are the ones Graph answers with (BadRequest, Unauthorized,
 * Forbidden, NotFound, PreconditionFailed, TooManyRequests, ...), so that
 * Graph SDKs raise their usual error types.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gateway_errors.h"

static const struct {
	uns_err err;
	uns_gw_status st;
} rpc_statuses[] = {
    {UNS_CANCELLED, {499, "RequestCancelled"}},
    {UNS_INVALID_ARGUMENT, {400, "BadRequest"}},
    {UNS_OUT_OF_RANGE, {400, "BadRequest"}},
    {UNS_DEADLINE_EXCEEDED, {504, "GatewayTimeout"}},
    {UNS_NOT_FOUND, {404, "NotFound"}},
    {UNS_ALREADY_EXISTS, {409, "Conflict"}},
    {UNS_ABORTED, {409, "Conflict"}},
    {UNS_PERMISSION_DENIED, {403, "Forbidden"}},
    {UNS_UNAUTHENTICATED, {401, "Unauthorized"}},
    {UNS_RESOURCE_EXHAUSTED, {429, "TooManyRequests"}},
    {UNS_FAILED_PRECONDITION, {412, "PreconditionFailed"}},
    {UNS_UNIMPLEMENTED, {501, "NotImplemented"}},
    {UNS_UNAVAILABLE, {503, "ServiceUnavailable"}},
    {UNS_ECONNECT, {503, "ServiceUnavailable"}},
    {UNS_ECLOSED, {503, "ServiceUnavailable"}},
    {UNS_ETLS, {503, "ServiceUnavailable"}},
};

/* Size limits say so in their messages ("exceeds the limit of", "bytes,
 * at most"); counts and rates do not. */
static const char *const size_words[] = {"exceeds the limit", "too large",
                                         "bytes, at most"};

static int
is_size_limit(const char *message)
{
	for (size_t i = 0;
	     message && i < sizeof(size_words) / sizeof(size_words[0]); i++) {
		if (strstr(message, size_words[i]) != NULL) {
			return 1;
		}
	}
	return 0;
}

/* RPC request fields and what the HTTP client called them. */
static const struct {
	const char *rpc, *http;
} field_names[] = {
    {"notification.", ""},
    {"pageSize", "$top"},
    {"pageToken", "$skiptoken"},
    {"cursor", "$deltatoken"},
    {"waitMs", "wait"},
    {"limit", "$top"},
    {"ifVersion", "If-Match"},
    {"unsid", "X-UNS-ID"},
    {"idempotencyKey", "Idempotency-Key"},
};

/* Answers that depend on what failed, not only on the status: the key of
 * the Idempotency-Key draft reused for another request is 422. Matched on
 * the HTTP message's start (field_names has renamed the field). */
static const struct {
	uns_err err;
	const char *prefix;
	uns_gw_status st;
} field_statuses[] = {
    {UNS_ALREADY_EXISTS, "Idempotency-Key:", {422, "UnprocessableEntity"}},
};

/* Messages worded for RPC callers and what an HTTP client reads instead:
 * a message starting with rpc becomes http (whole). */
static const struct {
	const char *rpc, *http;
} phrases[] = {
    {"no bearer token in metadata \"authorization\"",
     "no bearer token: send the header \"Authorization: Bearer TOKEN\""},
    {"app tokens may not call ", "an app token may not use this route"},
    {"user tokens may not call ", "a user token may not use this route"},
    {"operator tokens may not call ",
     "an operator token may not use this route"},
};

void
uns_gw_http_message(const char *rpc_message, char *out, size_t cap)
{
	for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++) {
		if (strncmp(rpc_message, phrases[i].rpc,
		            strlen(phrases[i].rpc)) == 0) {
			snprintf(out, cap, "%s", phrases[i].http);
			return;
		}
	}
	for (size_t i = 0; i < sizeof(field_names) / sizeof(field_names[0]);
	     i++) {
		size_t n = strlen(field_names[i].rpc);
		const char *rest = rpc_message + n;
		if (strncmp(rpc_message, field_names[i].rpc, n) == 0 &&
		    (field_names[i].rpc[n - 1] == '.' || rest[0] == ':')) {
			snprintf(out, cap, "%s%s", field_names[i].http, rest);
			return;
		}
	}
	snprintf(out, cap, "%s", rpc_message);
}

/* What a store failure's text holds: the service's prefixes for store
 * errors and RocksDB's Status names, whose text goes on with file paths. */
static const char *const internal_words[] = {
    "store: ",
    "store unavailable",
    "IO error",
    "Corruption",
    "Invalid argument",
    "Resource busy",
    "Operation timed out",
    "Operation aborted",
    "Operation expired",
    "Operation failed",
    "Shutdown in progress",
};

int
uns_gw_message_is_internal(uns_gw_status st, const char *message)
{
	if (st.http == 500) {
		return 1;
	}
	for (size_t i = 0;
	     message && i < sizeof(internal_words) / sizeof(internal_words[0]);
	     i++) {
		if (strstr(message, internal_words[i]) != NULL) {
			return 1;
		}
	}
	return 0;
}

uns_gw_status
uns_gw_status_of(uns_err err, const char *message)
{
	static const uns_gw_status too_large = {413, "PayloadTooLarge"};
	static const uns_gw_status internal = {500, "InternalServerError"};
	if (err == UNS_RESOURCE_EXHAUSTED && is_size_limit(message)) {
		return too_large;
	}
	for (size_t i = 0;
	     message && i < sizeof(field_statuses) / sizeof(field_statuses[0]);
	     i++) {
		if (field_statuses[i].err == err &&
		    strncmp(message, field_statuses[i].prefix,
		            strlen(field_statuses[i].prefix)) == 0) {
			return field_statuses[i].st;
		}
	}
	for (size_t i = 0; i < sizeof(rpc_statuses) / sizeof(rpc_statuses[0]);
	     i++) {
		if (rpc_statuses[i].err == err) {
			return rpc_statuses[i].st;
		}
	}
	return internal;
}

uns_jv *
uns_gw_error_envelope(const char *code, const char *message,
                      const char *request_id, int64_t now_ms)
{
	char date[32];
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;
	uns_jv *env = uns_jv_new_object(), *error = uns_jv_new_object();
	uns_jv *inner = uns_jv_new_object();

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (uns_jv_set_str(error, "code", code) != UNS_OK ||
	    uns_jv_set_str(error, "message", message) != UNS_OK ||
	    uns_jv_set_str(inner, "request-id", request_id) != UNS_OK ||
	    uns_jv_set_str(inner, "date", date) != UNS_OK ||
	    uns_jv_set(error, "innerError", uns_jv_ref(inner)) != UNS_OK ||
	    uns_jv_set(env, "error", uns_jv_ref(error)) != UNS_OK) {
		uns_jv_free(env);
		env = NULL;
	}
	uns_jv_free(inner);
	uns_jv_free(error);
	return env;
}

void
uns_gw_www_authenticate(const char *token, const char *message, char *out,
                        size_t cap)
{
	size_t o;
	if (token == NULL || token[0] == '\0') {
		snprintf(out, cap, "Bearer");
		return;
	}
	o = (size_t)snprintf(out, cap,
	                     "Bearer error=\"invalid_token\", "
	                     "error_description=\"");
	/* RFC 6750 §3: %x20-21 / %x23-5B / %x5D-7E; the rest becomes '?'. */
	for (const char *p = message; *p && o + 2 < cap; p++) {
		unsigned char c = (unsigned char)*p;
		out[o++] = c < 0x20 || c > 0x7e || c == '"' || c == '\\'
		               ? '?'
		               : (char)c;
	}
	if (o + 1 < cap) {
		out[o++] = '"';
	}
	out[o < cap ? o : cap - 1] = '\0';
}
