/*
 * oauth.c — see oauth.h. The form has four fields we know, so a table of
 * (name, offset) drives the parse; the error mapping is a table too, keyed
 * by status and, for INVALID_ARGUMENT, by the field the message names.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "oauth.h"

static const struct form_field {
	const char *name;
	size_t offset;
} fields[] = {
    {"grant_type", offsetof(uns_oauth_request, grant_type)},
    {"client_id", offsetof(uns_oauth_request, client_id)},
    {"client_secret", offsetof(uns_oauth_request, client_secret)},
    {"scope", offsetof(uns_oauth_request, scope)},
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

static int
hexval(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

/* Decodes in[0..n) into out (cap bytes with the NUL); -1 when malformed or
 * too long. */
static int
form_decode(const char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)in[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (i + 2 >= n) {
				return -1;
			}
			int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0) {
				return -1;
			}
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == '\0' || o + 1 >= cap) {
			return -1;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* Standard base64 (RFC 4648 §4) with optional padding, as HTTP Basic
 * sends it; -1 for anything else or more than cap bytes. */
static long
base64_decode(const char *in, unsigned char *out, size_t cap)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                               "abcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0, len = strlen(in);
	while (len > 0 && in[len - 1] == '=') {
		len--;
	}
	if (strlen(in) - len > 2 || len % 4 == 1) {
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		const char *p = strchr(alphabet, in[i]);
		if (p == NULL || in[i] == '\0') {
			return -1;
		}
		acc = (acc << 6) | (uint32_t)(p - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap) {
				return -1;
			}
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)n;
}

static const struct form_field *
field_named(const char *name, size_t n)
{
	for (size_t i = 0; i < N_FIELDS; i++) {
		if (strlen(fields[i].name) == n &&
		    memcmp(fields[i].name, name, n) == 0) {
			return &fields[i];
		}
	}
	return NULL;
}

uns_err
uns_oauth_parse_form(const char *body, size_t len, uns_oauth_request *out,
                     char *why, size_t whylen)
{
	uns_oauth_request r;
	int seen[N_FIELDS] = {0};
	memset(&r, 0, sizeof(r));
	for (size_t pos = 0; pos < len;) {
		const char *pair = body + pos;
		size_t plen = 0;
		while (pos + plen < len && pair[plen] != '&') {
			plen++;
		}
		pos += plen + 1;
		const char *eq = memchr(pair, '=', plen);
		size_t nlen = eq ? (size_t)(eq - pair) : plen;
		const struct form_field *f = field_named(pair, nlen);
		if (f == NULL) {
			continue; /* unknown fields are ignored (RFC 6749 §3.2)
			           */
		}
		size_t idx = (size_t)(f - fields);
		char *dst = (char *)&r + f->offset;
		const char *val = eq ? eq + 1 : pair + plen;
		size_t vlen = eq ? plen - nlen - 1 : 0;
		if (seen[idx]++) {
			snprintf(why, whylen, "%s: given more than once",
			         f->name);
			return UNS_INVALID_ARGUMENT;
		}
		if (form_decode(val, vlen, dst, UNS_OAUTH_FIELD_MAX) != 0) {
			snprintf(why, whylen,
			         "%s: bad percent-encoding or longer than %d "
			         "bytes",
			         f->name, UNS_OAUTH_FIELD_MAX - 1);
			return UNS_INVALID_ARGUMENT;
		}
	}
	*out = r;
	return UNS_OK;
}

uns_err
uns_oauth_parse_basic(const char *authorization, uns_oauth_request *out,
                      char *why, size_t whylen)
{
	unsigned char plain[2 * UNS_OAUTH_FIELD_MAX];
	const char *b64 = authorization;
	if (strncasecmp(b64, "Basic ", 6) != 0) {
		snprintf(why, whylen, "Authorization: expected Basic");
		return UNS_INVALID_ARGUMENT;
	}
	b64 += 6 + strspn(b64 + 6, " ");
	long decoded = base64_decode(b64, plain, sizeof(plain) - 1);
	if (decoded < 0) {
		snprintf(why, whylen, "Authorization: bad base64");
		return UNS_INVALID_ARGUMENT;
	}
	size_t n = (size_t)decoded;
	const char *colon = memchr(plain, ':', n);
	char id[UNS_OAUTH_FIELD_MAX], secret[UNS_OAUTH_FIELD_MAX];
	if (colon == NULL ||
	    form_decode((const char *)plain, (size_t)(colon - (char *)plain),
	                id, sizeof(id)) != 0 ||
	    form_decode(colon + 1, n - (size_t)(colon + 1 - (char *)plain),
	                secret, sizeof(secret)) != 0) {
		snprintf(why, whylen,
		         "Authorization: expected base64(client_id:secret)");
		return UNS_INVALID_ARGUMENT;
	}
	memcpy(out->client_id, id, sizeof(id));
	memcpy(out->client_secret, secret, sizeof(secret));
	return UNS_OK;
}

/* INVALID_ARGUMENT by the field its message starts with. */
static const struct field_error {
	const char *prefix;
	const char *error;
} field_errors[] = {
    {"grant_type: required", "invalid_request"},
    {"grant_type:", "unsupported_grant_type"},
    {"scope:", "invalid_scope"},
};

static const struct status_error {
	uns_err status;
	uns_oauth_error answer;
} status_errors[] = {
    {UNS_INVALID_ARGUMENT, {400, "invalid_request"}},
    {UNS_UNAUTHENTICATED, {401, "invalid_client"}},
    {UNS_PERMISSION_DENIED, {400, "unauthorized_client"}},
    {UNS_RESOURCE_EXHAUSTED, {429, "temporarily_unavailable"}},
    {UNS_UNAVAILABLE, {503, "temporarily_unavailable"}},
    {UNS_DEADLINE_EXCEEDED, {503, "temporarily_unavailable"}},
    {UNS_FAILED_PRECONDITION, {400, "unsupported_grant_type"}},
};

uns_oauth_error
uns_oauth_error_of(uns_err err, const char *message)
{
	uns_oauth_error e = {500, "server_error"};
	for (size_t i = 0; i < sizeof(status_errors) / sizeof(status_errors[0]);
	     i++) {
		if (status_errors[i].status == err) {
			e = status_errors[i].answer;
		}
	}
	if (err != UNS_INVALID_ARGUMENT || message == NULL) {
		return e;
	}
	for (size_t i = 0; i < sizeof(field_errors) / sizeof(field_errors[0]);
	     i++) {
		const char *p = field_errors[i].prefix;
		if (strncmp(message, p, strlen(p)) == 0) {
			e.error = field_errors[i].error;
			break;
		}
	}
	return e;
}
