/*
 * auth.c — see auth.h. The app table is small and read-mostly: a linear
 * scan under a read lock is simpler than a hash and fast at tens of apps.
 * Tokens that verified are remembered (token_cache.h), so a repeat caller
 * costs a lookup instead of a JSON parse and a signature check; the
 * principal is still made, and the app registry still consulted, on every
 * call.
 */
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "appsconf.h"
#include "auth.h"
#include "crypto.h"
#include "token_cache.h"

typedef struct app_entry {
	char id[257];
	char hosts[UNS_MAX_APP_HOSTS][257];
	size_t n_hosts;
	char secret_hash[UNS_SECRET_HASH_MAX]; /* "" = none: never matches */
	char old_hash[UNS_SECRET_HASH_MAX];    /* "" = none */
	int64_t old_until; /* old_hash matches until this second (Unix) */
	bool from_file;    /* a reload of apps.conf replaces it */
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

static int64_t
now_s(const uns_auth *a)
{
	if (a->cfg.now_s) {
		return a->cfg.now_s(a->cfg.now_arg);
	}
	return (int64_t)time(NULL);
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

/* The entry for id, made (zeroed) if there is none; NULL without
 * memory. Under the write lock. */
static app_entry *
entry_for(uns_auth *a, const char *id)
{
	app_entry *e = find_app(a, id);
	if (e == NULL && a->n_apps == a->cap_apps) {
		size_t cap = a->cap_apps ? a->cap_apps * 2 : 8;
		app_entry *n = realloc(a->apps, cap * sizeof(*n));
		if (n == NULL) {
			return NULL;
		}
		a->apps = n;
		a->cap_apps = cap;
	}
	if (e == NULL) {
		e = &a->apps[a->n_apps++];
	}
	memset(e, 0, sizeof(*e));
	return e;
}

static void
entry_fill(app_entry *e, const char *app_id, const char *const *hosts,
           size_t n_hosts)
{
	snprintf(e->id, sizeof(e->id), "%s", app_id);
	for (size_t i = 0; i < n_hosts; i++) {
		snprintf(e->hosts[i], sizeof(e->hosts[i]), "%s", hosts[i]);
	}
	e->n_hosts = n_hosts;
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
	app_entry *e = entry_for(a, app_id);
	if (e != NULL) {
		entry_fill(e, app_id, hosts, n_hosts);
	}
	pthread_rwlock_unlock(&a->lock);
	return e != NULL ? UNS_OK : UNS_ENOMEM;
}

int
uns_auth_check_secret(const uns_auth *a, const char *app_id, const char *secret)
{
	/* An unknown app or one without a secret is checked against no hash,
	 * which costs what a wrong secret costs (crypto.h). */
	char hash[UNS_SECRET_HASH_MAX], old_hash[UNS_SECRET_HASH_MAX];
	pthread_rwlock_rdlock((pthread_rwlock_t *)&a->lock);
	const app_entry *e = find_app(a, app_id);
	int usable = e != NULL && e->secret_hash[0] != '\0';
	if (usable) {
		memcpy(hash, e->secret_hash, sizeof(hash));
	}
	int old = usable && e->old_hash[0] != '\0' && now_s(a) < e->old_until;
	if (old) {
		memcpy(old_hash, e->old_hash, sizeof(old_hash));
	}
	pthread_rwlock_unlock((pthread_rwlock_t *)&a->lock);
	if (uns_secret_verify(usable ? hash : NULL, secret) && usable) {
		return 1;
	}
	/* After a rotation, the previous secret until its grace ends. */
	return old && uns_secret_verify(old_hash, secret);
}

/* One parsed apps.conf line into e; -1 with why for a bad hash. */
static int
entry_from_line(app_entry *e, const uns_app_line *l, char *why, size_t whylen)
{
	const char *hash = strcmp(l->hash, "-") == 0 ? "" : l->hash;
	memset(e, 0, sizeof(*e));
	entry_fill(e, l->id, l->hosts, l->n_hosts);
	if ((hash[0] != '\0' && uns_secret_hash_check(hash) != UNS_OK) ||
	    (l->old_hash != NULL &&
	     uns_secret_hash_check(l->old_hash) != UNS_OK)) {
		snprintf(why, whylen, "not a secret hash unsctl app writes");
		return -1;
	}
	snprintf(e->secret_hash, sizeof(e->secret_hash), "%s", hash);
	if (l->old_hash != NULL) {
		snprintf(e->old_hash, sizeof(e->old_hash), "%s", l->old_hash);
		e->old_until = l->old_until;
	}
	e->from_file = true;
	return 0;
}

/* Every app of the file at f into *out (malloc'd), or -1 with why naming
 * path and line. */
static int
read_apps(FILE *f, const char *path, app_entry **out, size_t *n_out, char *why,
          size_t whylen)
{
	char line[8192], inner[256];
	app_entry *v = NULL;
	size_t n = 0, cap = 0;
	uns_app_line l;
	for (int ln = 1; fgets(line, sizeof(line), f) != NULL; ln++) {
		int rc = uns_app_line_parse(line, &l, inner, sizeof(inner));
		if (rc == 1 && n == cap) {
			cap = cap ? 2 * cap : 8;
			app_entry *nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				snprintf(inner, sizeof(inner), "out of memory");
				rc = -1;
			} else {
				v = nv;
			}
		}
		if (rc == 1 &&
		    entry_from_line(&v[n], &l, inner, sizeof(inner)) == 0) {
			n++;
		} else if (rc != 0) {
			snprintf(why, whylen, "%s:%d: %s", path, ln, inner);
			free(v);
			return -1;
		}
	}
	*out = v;
	*n_out = n;
	return 0;
}

uns_err
uns_auth_load_apps(uns_auth *a, const char *path, char *why, size_t whylen)
{
	app_entry *v = NULL;
	size_t n = 0, kept = 0;
	FILE *f = fopen(path, "re");
	if (f == NULL && errno != ENOENT) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return UNS_EIO;
	}
	if (f != NULL) {
		int rc = read_apps(f, path, &v, &n, why, whylen);
		fclose(f);
		if (rc != 0) {
			return UNS_INVALID_ARGUMENT;
		}
	}
	/* The file's apps replace those of its last reading, all at once;
	 * apps added by uns_auth_add_app stay unless the file names them. */
	pthread_rwlock_wrlock(&a->lock);
	for (size_t i = 0; i < a->n_apps; i++) {
		if (!a->apps[i].from_file) {
			a->apps[kept++] = a->apps[i];
		}
	}
	a->n_apps = kept;
	uns_err err = UNS_OK;
	for (size_t i = 0; i < n && err == UNS_OK; i++) {
		app_entry *e = entry_for(a, v[i].id);
		if (e != NULL) {
			*e = v[i];
		} else {
			err = UNS_ENOMEM;
		}
	}
	pthread_rwlock_unlock(&a->lock);
	uns_token_cache_clear(a->tokens);
	free(v);
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
	                      .skew_seconds = a->cfg.skew_seconds,
	                      .max_token_bytes = a->cfg.token_max_bytes};
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
