/*
 * oauth.h — the pure halves of the token endpoint (POST
 * /oauth2/v2.0/token): reading an application/x-www-form-urlencoded body
 * into an IssueToken request, and turning IssueToken's status into the
 * OAuth2 error the Microsoft identity platform would send (RFC 6749 §5.2:
 * {"error":"invalid_client","error_description":…}). No I/O.
 */
#ifndef UNS_OAUTH_H
#define UNS_OAUTH_H

#include <stddef.h>

#include "uns/uns.h"

/* Bytes of one decoded value, NUL included. */
#define UNS_OAUTH_FIELD_MAX 1024

/* The four fields of a client credentials request, decoded. */
typedef struct uns_oauth_request {
	char grant_type[UNS_OAUTH_FIELD_MAX];
	char client_id[UNS_OAUTH_FIELD_MAX];
	char client_secret[UNS_OAUTH_FIELD_MAX];
	char scope[UNS_OAUTH_FIELD_MAX];
} uns_oauth_request;

/*
 * Parses body[0..len) ("a=b&c=d", '+' = space, %XX escapes) into *out.
 * Unknown fields are ignored; absent ones are "". A bad escape, a value
 * too long, a repeated known field (RFC 6749 §3.1: "MUST NOT be included
 * more than once") or a NUL is UNS_INVALID_ARGUMENT, and why names the
 * field. *out is written only on success.
 */
uns_err uns_oauth_parse_form(const char *body, size_t len,
                             uns_oauth_request *out, char *why, size_t whylen);

/*
 * Client credentials from "Authorization: Basic base64(id:secret)" (RFC
 * 6749 §2.3.1, both parts form-urlencoded) into out->client_id and
 * out->client_secret. UNS_INVALID_ARGUMENT when malformed.
 */
uns_err uns_oauth_parse_basic(const char *authorization, uns_oauth_request *out,
                              char *why, size_t whylen);

typedef struct uns_oauth_error {
	unsigned http;     /* 400, 401, 500, 503 */
	const char *error; /* "invalid_request", "invalid_client", … */
} uns_oauth_error;

/*
 * The OAuth2 answer for a failed IssueToken: message is the RPC's status
 * message, which starts with the field at fault ("grant_type: …").
 */
uns_oauth_error uns_oauth_error_of(uns_err err, const char *message);

#endif /* UNS_OAUTH_H */
