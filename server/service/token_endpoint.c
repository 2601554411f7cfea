/*
 * token_endpoint.c — IssueToken, the OAuth2 client credentials grant
 * (RFC 6749 §4.4) as the Microsoft identity platform answers it: an app
 * trades its id and secret for an app token (token_issuer.c).
 *
 * An unknown app, an app without a secret and a wrong secret are one
 * answer, UNAUTHENTICATED "invalid client credentials", and take the same
 * time (auth.c hashes a dummy for unknown apps), so the endpoint does not
 * tell which app ids exist. Field checks come first and name the field.
 *
 * Each secret check costs a PBKDF2 (~45 ms of CPU), so checks pass the
 * token guard first (token_guard.h): a source address (the RPC peer) or a
 * client id with too many wrong secrets, or no free check within
 * token_check_wait, is answered RESOURCE_EXHAUSTED "… retry after N s"
 * (the gateway's 429 and Retry-After) before any hashing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service_impl.h"
#include "token_issuer.h"

#define GRANT_CLIENT_CREDENTIALS "client_credentials"

/* A scope word we accept: Graph's "…/.default" forms or our role. */
static int
scope_word_ok(const char *w, size_t n)
{
	static const char dflt[] = ".default";
	size_t dn = sizeof(dflt) - 1;
	if (n >= dn && memcmp(w + n - dn, dflt, dn) == 0 &&
	    (n == dn || w[n - dn - 1] == '/')) {
		return 1;
	}
	return n == strlen(UNS_SCOPE_APP) && memcmp(w, UNS_SCOPE_APP, n) == 0;
}

static int
scope_ok(const char *scope)
{
	const char *p = scope;
	while (*p) {
		size_t n = strcspn(p, " ");
		if (n > 0 && !scope_word_ok(p, n)) {
			return 0;
		}
		p += n + strspn(p + n, " ");
	}
	return 1;
}

static uns_err
validate(uns_call *call, const Uns__V1__IssueTokenRequest *req)
{
	if (req->grant_type[0] == '\0') {
		return uns_call_fail(call, UNS_INVALID_ARGUMENT, "grant_type",
		                     "required (" GRANT_CLIENT_CREDENTIALS ")");
	}
	if (strcmp(req->grant_type, GRANT_CLIENT_CREDENTIALS) != 0) {
		return uns_call_fail(
		    call, UNS_INVALID_ARGUMENT, "grant_type",
		    "unsupported grant type, only " GRANT_CLIENT_CREDENTIALS);
	}
	if (req->client_id[0] == '\0') {
		return uns_call_fail(call, UNS_INVALID_ARGUMENT, "client_id",
		                     "required");
	}
	if (req->client_secret[0] == '\0') {
		return uns_call_fail(call, UNS_INVALID_ARGUMENT,
		                     "client_secret", "required");
	}
	if (!scope_ok(req->scope)) {
		return uns_call_fail(
		    call, UNS_INVALID_ARGUMENT, "scope",
		    "expected \".default\" (or "
		    "\"<resource>/.default\") or " UNS_SCOPE_APP);
	}
	return UNS_OK;
}

uns_err
uns_token_issue(uns_call *call, const Uns__V1__IssueTokenRequest *req,
                Uns__V1__IssueTokenResponse *resp)
{
	uns_service *svc = uns_call_ctx(call);
	char why[256];
	char *token = NULL;
	int64_t expires_in = 0;
	uns_err err;
	if ((err = validate(call, req)) != UNS_OK) {
		return err;
	}
	if (svc->issuer == NULL || svc->auth == NULL) {
		return uns_call_fail(call, UNS_FAILED_PRECONDITION, NULL,
		                     "this server issues no tokens (no "
		                     "token_signing_key)");
	}
	uint32_t retry_s = 1;
	const char *no = "";
	char source[64];
	uns_call_source(call, source, sizeof(source));
	if (uns_token_guard_enter(svc->token_guard, req->client_id, source,
	                          &retry_s, &no) != UNS_OK) {
		return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                     "%s; retry after %u s", no, retry_s);
	}
	int ok = uns_auth_check_secret(svc->auth, req->client_id,
	                               req->client_secret);
	uns_token_guard_leave(svc->token_guard, req->client_id, source, ok);
	if (!ok) {
		return uns_call_fail(call, UNS_UNAUTHENTICATED, NULL,
		                     "invalid client credentials");
	}
	if (uns_token_issuer_mint_app(
	        svc->issuer, req->client_id, uns_service_now_ms(svc) / 1000,
	        &token, &expires_in, why, sizeof(why)) != UNS_OK) {
		/* The key's trouble is the operator's, not the caller's. */
		fprintf(stderr, "unsd: request %s: IssueToken: %s\n",
		        uns_call_request_id(call), why);
		return uns_call_fail(call, UNS_INTERNAL, NULL,
		                     "cannot sign the token; request-id %s",
		                     uns_call_request_id(call));
	}
	resp->access_token = uns_call_strdup(call, token);
	free(token);
	if (resp->access_token == NULL) {
		return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                     "out of memory");
	}
	resp->token_type = "Bearer";
	resp->expires_in = expires_in;
	return UNS_OK;
}
