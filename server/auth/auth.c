/*
 * auth.c — see auth.h. The app table is small and read-mostly: a linear
 * scan under a read lock is simpler than a hash and fast at tens of apps.
 * Tokens that verified are remembered (token_cache.h), so a repeat caller
 * costs a lookup instead of a JSON parse and a signature check; the
 * principal is still made, and the app registry still consulted, on every
 * call.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "crypto.h"
#include "token_cache.h"

typedef struct app_entry {
	char id[257];
	char hosts[UNS_MAX_APP_HOSTS][257];
	size_t n_hosts;
	char secret_hash[UNS_SECRET_HASH_MAX]; /* "" = none: never matches */
} app_entry;

struct uns_auth {
	uns_auth_config cfg;
	pthread_rwlock_t lock;
	app_entry *apps;
	size_t n_apps, cap_apps;
	uns_token_cache *tokens;
};

uns_err
uns_auth_open(uns_auth **out, const uns_auth_config *cfg)
{
	uns_auth *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		return UNS_ENOMEM;
	}
	a->cfg = *cfg;
	if (uns_token_cache_alloc(&a->tokens, cfg->token_cache) != UNS_OK) {
		free(a);
		return UNS_ENOMEM;
	}
	pthread_rwlock_init(&a->lock, NULL);
	*out = a;
	return UNS_OK;
}

void
uns_auth_close(uns_auth *a)
{
	if (a == NULL) {
		return;
	}
	pthread_rwlock_destroy(&a->lock);
	uns_token_cache_free(a->tokens);
	free(a->apps);
	free(a);
}

static app_entry *
find_app(const uns_auth *a, const char *id)
{
	for (size_t i = 0; i < a->n_apps; i++) {
		if (strcmp(a->apps[i].id, id) == 0) {
			return &a->apps[i];
		}
	}
	return NULL;
}

uns_err
uns_auth_add_app(uns_auth *a, const char *app_id, const char *const *hosts,
                 size_t n_hosts)
{
	if (strlen(app_id) == 0 || strlen(app_id) > 256 ||
	    n_hosts > UNS_MAX_APP_HOSTS) {
		return UNS_EINVAL;
	}
	pthread_rwlock_wrlock(&a->lock);
	app_entry *e = find_app(a, app_id);
	if (e == NULL && a->n_apps == a->cap_apps) {
		size_t cap = a->cap_apps ? a->cap_apps * 2 : 8;
		app_entry *n = realloc(a->apps, cap * sizeof(*n));
		if (n == NULL) {
			pthread_rwlock_unlock(&a->lock);
			return UNS_ENOMEM;
		}
		a->apps = n;
		a->cap_apps = cap;
	}
	if (e == NULL) {
		e = &a->apps[a->n_apps++];
	}
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", app_id);
	for (size_t i = 0; i < n_hosts; i++) {
		snprintf(e->hosts[i], sizeof(e->hosts[i]), "%s", hosts[i]);
	}
	e->n_hosts = n_hosts;
	pthread_rwlock_unlock(&a->lock);
	return UNS_OK;
}

uns_err
uns_auth_set_app_secret_hash(uns_auth *a, const char *app_id, const char *hash)
{
	if (strcmp(hash, "-") == 0) {
		hash = "";
	}
	if (hash[0] != '\0' && uns_secret_hash_check(hash) != UNS_OK) {
		return UNS_EINVAL;
	}
	pthread_rwlock_wrlock(&a->lock);
	app_entry *e = find_app(a, app_id);
	if (e != NULL) {
		snprintf(e->secret_hash, sizeof(e->secret_hash), "%s", hash);
	}
	pthread_rwlock_unlock(&a->lock);
	return e != NULL ? UNS_OK : UNS_NOT_FOUND;
}

int
uns_auth_check_secret(const uns_auth *a, const char *app_id, const char *secret)
{
	/* An unknown app or one without a secret is checked against no hash,
	 * which costs what a wrong secret costs (crypto.h). */
	char hash[UNS_SECRET_HASH_MAX];
	pthread_rwlock_rdlock((pthread_rwlock_t *)&a->lock);
	const app_entry *e = find_app(a, app_id);
	int usable = e != NULL && e->secret_hash[0] != '\0';
	if (usable) {
		memcpy(hash, e->secret_hash, sizeof(hash));
	}
	pthread_rwlock_unlock((pthread_rwlock_t *)&a->lock);
	return uns_secret_verify(usable ? hash : NULL, secret) && usable;
}

/* "APP_ID HOST[,HOST…] SECRET" → add_app. */
static int
parse_app_line(uns_auth *a, char *line)
{
	char *save = NULL;
	char *id = strtok_r(line, " \t\r\n", &save);
	char *hostlist = strtok_r(NULL, " \t\r\n", &save);
	char *hash = NULL;
	if (id == NULL || id[0] == '#') {
		return 0;
	}
	if (hostlist == NULL ||
	    (hash = strtok_r(NULL, " \t\r\n", &save)) == NULL) {
		return -1;
	}
	const char *hosts[UNS_MAX_APP_HOSTS];
	size_t n = 0;
	char *hsave = NULL;
	for (char *h = strtok_r(hostlist, ",", &hsave); h;
	     h = strtok_r(NULL, ",", &hsave)) {
		if (n == UNS_MAX_APP_HOSTS) {
			return -1;
		}
		hosts[n++] = h;
	}
	if (uns_auth_add_app(a, id, hosts, n) != UNS_OK) {
		return -1;
	}
	return uns_auth_set_app_secret_hash(a, id, hash) == UNS_OK ? 0 : -1;
}

uns_err
uns_auth_load_apps(uns_auth *a, const char *path, char *why, size_t whylen)
{
	uns_token_cache_clear(a->tokens);
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		if (errno == ENOENT) {
			return UNS_OK;
		}
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return UNS_EIO;
	}
	char line[8192];
	int n = 0;
	uns_err err = UNS_OK;
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (parse_app_line(a, line) != 0) {
			snprintf(why, whylen,
			         "%s:%d: expected APP_ID HOST[,HOST...] SECRET",
			         path, n);
			err = UNS_INVALID_ARGUMENT;
			break;
		}
	}
	fclose(f);
	return err;
}

int
uns_auth_app_owns_host(const uns_auth *a, const char *app_id, const char *host)
{
	int owns = 0;
	pthread_rwlock_rdlock((pthread_rwlock_t *)&a->lock);
	const app_entry *e = find_app(a, app_id);
	for (size_t i = 0; e && i < e->n_hosts && !owns; i++) {
		owns = strcasecmp(e->hosts[i], host) == 0;
	}
	pthread_rwlock_unlock((pthread_rwlock_t *)&a->lock);
	return owns;
}

size_t
uns_auth_app_hosts(const uns_auth *a, const char *app_id, char (*hosts)[257],
                   size_t max)
{
	size_t n = 0;
	pthread_rwlock_rdlock((pthread_rwlock_t *)&a->lock);
	const app_entry *e = find_app(a, app_id);
	for (size_t i = 0; e && i < e->n_hosts && n < max; i++) {
		memcpy(hosts[n++], e->hosts[i], sizeof(hosts[0]));
	}
	pthread_rwlock_unlock((pthread_rwlock_t *)&a->lock);
	return n;
}

static int
has_scope(const char *scopes, const char *want)
{
	size_t n = strlen(want);
	for (const char *p = scopes; (p = strstr(p, want)) != NULL; p += n) {
		if ((p == scopes || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\0')) {
			return 1;
		}
	}
	return 0;
}

static int64_t
now_s(const uns_auth *a)
{
	if (a->cfg.now_s) {
		return a->cfg.now_s(a->cfg.now_arg);
	}
	return (int64_t)time(NULL);
}

bool
uns_auth_is_app(const uns_jwt_claims *c)
{
	return c->app_id[0] != '\0' && c->sub[0] == '\0';
}

bool
uns_auth_token_is_app(const char *token)
{
	uns_jwt_parsed p; /* about 5 KiB */

	return token != NULL &&
	       uns_jwt_parse(token, strlen(token), &p, NULL, 0) == UNS_OK &&
	       uns_auth_is_app(&p.claims);
}

static uns_err
principal_from(uns_auth *a, uns_call *call, const uns_jwt_claims *c,
               uns_principal *p)
{
	memset(p, 0, sizeof(*p));
	if (has_scope(c->scopes, UNS_SCOPE_OPERATOR)) {
		p->kind = UNS_PRINCIPAL_OPERATOR;
		snprintf(p->user, sizeof(p->user), "%s", c->sub);
		snprintf(p->app_id, sizeof(p->app_id), "%s", c->app_id);
		return UNS_OK;
	}
	if (uns_auth_is_app(c)) {
		p->kind = UNS_PRINCIPAL_APP;
		snprintf(p->app_id, sizeof(p->app_id), "%s", c->app_id);
		if (!has_scope(c->scopes, UNS_SCOPE_APP)) {
			return uns_call_fail(call, UNS_PERMISSION_DENIED, NULL,
			                     "app token lacks the %s role",
			                     UNS_SCOPE_APP);
		}
		pthread_rwlock_rdlock(&a->lock);
		int known = find_app(a, p->app_id) != NULL;
		pthread_rwlock_unlock(&a->lock);
		if (!known) {
			return uns_call_fail(call, UNS_PERMISSION_DENIED, NULL,
			                     "app %s is not registered",
			                     p->app_id);
		}
		return UNS_OK;
	}
	p->kind = UNS_PRINCIPAL_USER;
	snprintf(p->user, sizeof(p->user), "%s", c->sub);
	snprintf(p->host, sizeof(p->host), "%s", c->host);
	if (!has_scope(c->scopes, UNS_SCOPE_USER)) {
		return uns_call_fail(call, UNS_PERMISSION_DENIED, NULL,
		                     "user token lacks the %s scope",
		                     UNS_SCOPE_USER);
	}
	if (p->host[0] == '\0') {
		return uns_call_fail(
		    call, UNS_PERMISSION_DENIED, NULL,
		    "user token names no host (claim uns_host)");
	}
	return UNS_OK;
}

/* The token's claims: from the cache, or verified and then cached. */
static uns_err
verify(uns_auth *a, uns_call *call, const char *token, uns_jwt_claims *claims)
{
	char why[256];
	size_t len = strnlen(token, UNS_TOKEN_CACHE_MAX_TOKEN + 1);
	uns_jwt_policy pol = {.audience = a->cfg.audience,
	                      .issuer = a->cfg.issuer,
	                      .now = now_s(a),
	                      .skew_seconds = a->cfg.skew_seconds};
	if (uns_token_cache_get(a->tokens, token, len, pol.now,
	                        pol.skew_seconds, claims)) {
		return UNS_OK;
	}
	if (uns_jwt_verify(a->cfg.keys, token, &pol, claims, why,
	                   sizeof(why)) != UNS_OK) {
		return uns_call_fail(call, UNS_UNAUTHENTICATED, NULL, "%s",
		                     why);
	}
	uns_token_cache_put(a->tokens, token, len, claims);
	return UNS_OK;
}

size_t
uns_auth_cached_tokens(uns_auth *a)
{
	return uns_token_cache_count(a->tokens);
}

static const char *
kind_name(uns_principal_kind k)
{
	static const char *const names[] = {
	    [UNS_PRINCIPAL_USER] = "user",
	    [UNS_PRINCIPAL_APP] = "app",
	    [UNS_PRINCIPAL_OPERATOR] = "operator",
	};
	return (size_t)k < sizeof(names) / sizeof(names[0]) && names[k]
	           ? names[k]
	           : "these";
}

uns_err
uns_auth_check(uns_auth *a, uns_call *call, int kinds, uns_principal *out)
{
	const char *token = uns_call_bearer(call);
	uns_jwt_claims claims;
	uns_principal p;
	if (token == NULL) {
		return uns_call_fail(
		    call, UNS_UNAUTHENTICATED, NULL,
		    "no bearer token in metadata \"authorization\"");
	}
	if (a->cfg.keys == NULL) {
		return uns_call_fail(call, UNS_UNAUTHENTICATED, NULL,
		                     "the server has no token keys configured");
	}
	uns_err err = verify(a, call, token, &claims);
	if (err != UNS_OK) {
		return err;
	}
	err = principal_from(a, call, &claims, &p);
	if (err != UNS_OK) {
		return err;
	}
	if (!(kinds & (int)p.kind)) {
		return uns_call_fail(
		    call, UNS_PERMISSION_DENIED, NULL,
		    "%s tokens may not call %s", kind_name(p.kind),
		    call->method ? call->method->name : "this");
	}
	*out = p;
	return UNS_OK;
}
