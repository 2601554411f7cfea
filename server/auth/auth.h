/*
 * auth.h — who is calling (SPEC §4): a bearer token becomes a principal,
 * a user (sub + the host named in the token) or an app (azp/appid, with
 * the host names registered for it), and each method admits one kind.
 *
 * Apps are registered in DATA/apps.conf (appsconf.h has the line format),
 * which `unsctl app` writes; secret hashes are crypto.h's uns_secret_hash
 * (the older "sha256:SALT:HEX" still verifies).
 */
#ifndef UNS_AUTH_H
#define UNS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appsconf.h"
#include "call.h"
#include "jwt.h"

#define UNS_MAX_APP_HOSTS UNS_APP_MAX_HOSTS

typedef enum uns_principal_kind {
	UNS_PRINCIPAL_USER = 1,
	UNS_PRINCIPAL_APP = 2,
	/* Any token with the operator scope (below), a user's or an app's:
	 * it may call the admin methods and nothing else. */
	UNS_PRINCIPAL_OPERATOR = 4,
} uns_principal_kind;

typedef struct uns_principal {
	uns_principal_kind kind;
	char user[257];   /* users: sub */
	char host[257];   /* users: the token's uns_host claim */
	char app_id[257]; /* apps: azp or appid */
} uns_principal;

/* Scopes a token must carry (in scp or roles). */
#define UNS_SCOPE_USER "Notifications.ReadWrite"
#define UNS_SCOPE_APP  "Notifications.Send"
/* The operator role: read any user's subscriptions and delivery state
 * (AdminListSubscriptions). Issued by the operator's own identity
 * provider; IssueToken never grants it. */
#define UNS_SCOPE_OPERATOR "uns.operator"

typedef struct uns_auth uns_auth;

typedef struct uns_auth_config {
	const uns_jwt_keys *keys; /* borrowed; NULL = every token is refused */
	const char *audience;     /* required aud; NULL = not checked */
	const char *issuer;       /* required iss; NULL = not checked */
	int skew_seconds;
	int64_t (*now_s)(void *arg); /* NULL = real time */
	void *now_arg;
	size_t token_cache;     /* verified tokens remembered (token_cache.h);
	                           0 = every call verifies its token */
	size_t token_max_bytes; /* longer tokens refused unparsed; 0 = 8 KiB */
} uns_auth_config;

uns_err uns_auth_open(uns_auth **out, const uns_auth_config *cfg);
void uns_auth_close(uns_auth *a);

/* Registers an app and its hosts (replacing an earlier entry). */
uns_err uns_auth_add_app(uns_auth *a, const char *app_id,
                         const char *const *hosts, size_t n_hosts);
/*
 * 1 when app_id is registered with a secret and secret is it, or is its
 * previous secret within the grace that `unsctl app rotate-secret` gave,
 * else 0. An unknown app, an app without a secret and a wrong secret take
 * the same path and about the same time (the token endpoint answers them
 * alike).
 */
int uns_auth_check_secret(const uns_auth *a, const char *app_id,
                          const char *secret);

/* Reads an apps file (missing file = no apps); why names file and line.
 * The file's apps replace, all at once, those of its last reading (an app
 * removed from the file is forgotten); a file with a bad line changes
 * nothing. Also forgets every cached token: a reload starts from verified
 * tokens only. */
uns_err uns_auth_load_apps(uns_auth *a, const char *path, char *why,
                           size_t whylen);
int uns_auth_app_owns_host(const uns_auth *a, const char *app_id,
                           const char *host);

/* Copies up to max of the app's hosts into hosts; returns how many. */
size_t uns_auth_app_hosts(const uns_auth *a, const char *app_id,
                          char (*hosts)[257], size_t max);

/*
 * Verifies the call's bearer token and checks that its kind may call this
 * method (kinds: a mask of uns_principal_kind). Fails through uns_call_fail:
 * UNAUTHENTICATED (no token, bad token), PERMISSION_DENIED (wrong kind,
 * missing scope, unknown app, user token without uns_host). A token with
 * UNS_SCOPE_OPERATOR is an operator's whatever else it names: it passes
 * only where kinds has UNS_PRINCIPAL_OPERATOR.
 */
uns_err uns_auth_check(uns_auth *a, uns_call *call, int kinds,
                       uns_principal *out);

/*
 * The app-token rule, the one place it is written: a token that names an
 * app (azp, else appid) and no subject (sub) is an app's; any other token
 * is a user's. uns_auth_check applies it to verified claims; the gateway
 * also applies it to a token it has not verified (uns_auth_token_is_app:
 * parsed, signature not checked) only to choose which RPC to make, which
 * then verifies the token.
 */
bool uns_auth_is_app(const uns_jwt_claims *c);
bool uns_auth_token_is_app(const char *token);

/* Tokens in the verified-token cache now (tests, metrics). */
size_t uns_auth_cached_tokens(uns_auth *a);

#endif /* UNS_AUTH_H */
