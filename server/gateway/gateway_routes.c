/*
 * gateway_routes.c — see gateway_routes.h. The table is the API (SPEC §3).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_handlers.h"
#include "gateway_routes.h"

const uns_gw_route uns_gw_routes[] = {
    {"GET", "/healthz", 0, "healthz", uns_gw_healthz, NULL},
    {"POST", "/oauth2/v2.0/token", 0, "token", uns_gw_token, NULL},
    {"GET", "/metrics", 0, "metrics", uns_gw_metrics, NULL},
    {"GET", "/openapi.json", 0, "openapi", uns_gw_openapi, NULL},
    {"GET", "/web", 0, "web", uns_gw_web, NULL},
    {"GET", "/web/{}", 0, "web", uns_gw_web, NULL},
    {"GET", "/admin/users/{}/hosts/{}/subscriptions", 0, "admin.subscriptions",
     uns_gw_admin_subscriptions, NULL},
    {"POST", "/me/notifications/subscriptions", 1, "subscriptions.create",
     uns_gw_subscribe, NULL},
    {"GET", "/me/notifications/subscriptions", 1, "subscriptions.list",
     uns_gw_subscriptions, NULL},
    {"GET", "/me/notifications/subscriptions/{}", 1, "subscriptions.get",
     uns_gw_subscription, NULL},
    {"DELETE", "/me/notifications/subscriptions/{}", 1, "subscriptions.delete",
     uns_gw_unsubscribe, NULL},
    {"GET", "/me/notifications/delta", 1, "notifications.delta", uns_gw_delta,
     "X-UNS-ID, Last-Event-ID"},
    {"POST", "/me/notifications", 1, "notifications.create", uns_gw_create,
     "X-UNS-ID, Idempotency-Key"},
    {"GET", "/me/notifications", 1, "notifications.list", uns_gw_list, NULL},
    {"GET", "/me/notifications/{}", 1, "notifications.get", uns_gw_get,
     "X-UNS-ID"},
    {"PATCH", "/me/notifications/{}", 1, "notifications.update", uns_gw_patch,
     "If-Match, X-UNS-ID"},
    {"DELETE", "/me/notifications/{}", 1, "notifications.delete", uns_gw_delete,
     "If-Match, X-UNS-ID"},
};
const size_t uns_gw_n_routes = sizeof(uns_gw_routes) / sizeof(uns_gw_routes[0]);

/* Routes whose body is not JSON. */
static const struct {
	const char *route, *type;
} body_types[] = {
    {"token", "application/x-www-form-urlencoded"},
};

const char *
uns_gw_route_body_type(const uns_gw_route *route)
{
	for (size_t i = 0; i < sizeof(body_types) / sizeof(body_types[0]);
	     i++) {
		if (strcmp(route->name, body_types[i].route) == 0) {
			return body_types[i].type;
		}
	}
	return "application/json";
}

static const char *const versions[] = {"beta", "v1.0"};

/* Strips "/beta" or "/v1.0"; returns the rest, or NULL. */
static const char *
strip_version(const char *url, const char **version)
{
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		size_t n = strlen(versions[i]);
		if (url[0] == '/' && strncmp(url + 1, versions[i], n) == 0 &&
		    url[n + 1] == '/') {
			*version = versions[i];
			return url + n + 1;
		}
	}
	return NULL;
}

/* Matches path against pattern segment by segment; captures {} into x. */
static int
path_matches(const char *pattern, const char *path, uns_gw_exchange *x)
{
	int n_params = 0;
	while (*pattern != '\0') {
		if (strncmp(pattern, "{}", 2) == 0) {
			size_t len = strcspn(path, "/");
			if (len == 0 || len >= UNS_GW_PARAM_MAX ||
			    n_params >= UNS_GW_MAX_PARAMS) {
				return 0;
			}
			if (x->params == NULL &&
			    (x->params = calloc(UNS_GW_MAX_PARAMS,
			                        UNS_GW_PARAM_MAX)) == NULL) {
				return 0; /* out of memory: no route (404) */
			}
			memcpy(x->params[n_params], path, len);
			x->params[n_params++][len] = '\0';
			pattern += 2;
			path += len;
			continue;
		}
		if (*pattern++ != *path++) {
			return 0;
		}
	}
	return *path == '\0' || (path[0] == '/' && path[1] == '\0');
}

const char uns_gw_common_headers[] =
    "Authorization, Content-Type, Content-Encoding, client-request-id";

/* Adds each name of the ", " separated names to the list in out unless
 * it is there already. */
static void
add_allowed(char *out, size_t cap, const char *names)
{
	while (names != NULL && *names != '\0') {
		size_t n = strcspn(names, ","), len = strlen(out);
		int have = 0;
		for (const char *p = out; *p != '\0'; p += strcspn(p, ",")) {
			p += *p == ',' ? 2 : 0;
			have |= strncmp(p, names, n) == 0 &&
			        (p[n] == ',' || p[n] == '\0');
		}
		if (!have) {
			snprintf(out + len, cap - len, "%s%.*s",
			         len ? ", " : "", (int)n, names);
		}
		names += n;
		names += *names == ',' ? 2 : 0;
	}
}

/*
 * How literal a pattern is, segment by segment: bit 31-i is set when
 * segment i is a word, not "{}". Of the rows a path matches, the highest
 * wins, so "/me/notifications/subscriptions" beats "/me/notifications/{}"
 * wherever the two rows sit in the table (a word is never read as an id).
 */
static uint32_t
literalness(const char *pattern)
{
	uint32_t bits = 0;
	int seg = -1;
	for (const char *p = pattern; *p != '\0' && seg < 31; p++) {
		if (*p == '/') {
			seg++;
			if (strncmp(p + 1, "{}", 2) != 0) {
				bits |= 1u << (31 - seg);
			}
		}
	}
	return bits;
}

uns_gw_match
uns_gw_route_find(const char *method, const char *url, uns_gw_exchange *x,
                  const uns_gw_route **route, char *allow, size_t allow_cap)
{
	const char *version = "";
	const char *rest = strip_version(url, &version);
	const uns_gw_route *best = NULL;
	uint32_t best_bits = 0;
	int found = 0;

	/* First the most literal pattern the path matches, then, among its
	 * rows, the method. */
	for (size_t i = 0; i < uns_gw_n_routes; i++) {
		const uns_gw_route *r = &uns_gw_routes[i];
		const char *path = r->versioned ? rest : url;
		uint32_t bits = literalness(r->pattern);
		if (path == NULL || (found && bits < best_bits) ||
		    !path_matches(r->pattern, path, x)) {
			continue;
		}
		found = 1;
		best_bits = bits;
	}
	allow[0] = '\0';
	if (!found) {
		return UNS_GW_NO_ROUTE;
	}
	for (size_t i = 0; i < uns_gw_n_routes; i++) {
		const uns_gw_route *r = &uns_gw_routes[i];
		const char *path = r->versioned ? rest : url;
		if (path == NULL || literalness(r->pattern) != best_bits ||
		    !path_matches(r->pattern, path, x)) {
			continue;
		}
		if (strcmp(r->method, method) != 0) {
			add_allowed(allow, allow_cap, r->method);
			continue;
		}
		best = r;
		x->path = path;
		x->version = r->versioned ? version : "";
		break;
	}
	if (best == NULL) {
		return UNS_GW_NO_METHOD;
	}
	*route = best;
	return UNS_GW_MATCHED;
}

int
uns_gw_route_allows(const char *url, char *methods, size_t methods_cap,
                    char *headers, size_t headers_cap)
{
	uns_gw_exchange x = {0}; /* the captures, unused */
	const uns_gw_route *r = NULL;
	char one[16], scratch[128];
	/* No row takes OPTIONS: the rows of the pattern that owns url list
	 * their methods, each then found as uns_gw_route_find finds it. */
	headers[0] = '\0';
	if (uns_gw_route_find("OPTIONS", url, &x, &r, methods, methods_cap) !=
	    UNS_GW_NO_METHOD) {
		methods[0] = '\0';
		free(x.params);
		return 0;
	}
	add_allowed(headers, headers_cap, uns_gw_common_headers);
	for (const char *p = methods; *p != '\0';) {
		size_t n = strcspn(p, ",");
		snprintf(one, sizeof(one), "%.*s", (int)n, p);
		if (uns_gw_route_find(one, url, &x, &r, scratch,
		                      sizeof(scratch)) == UNS_GW_MATCHED) {
			add_allowed(headers, headers_cap, r->headers);
		}
		p += n;
		p += *p == ',' ? 2 : 0;
	}
	free(x.params);
	return 1;
}
