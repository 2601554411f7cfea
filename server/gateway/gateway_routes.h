/*
 * gateway_routes.h — the gateway's route table: one row per (HTTP method,
 * path pattern). A word in a pattern beats a "{}" capture in the same
 * place whatever the rows' order: of the patterns a path matches, the one
 * with the earliest word where they differ wins ("/delta" and
 * "/subscriptions" are never read as notification ids), then its row for
 * the method (405 with the pattern's own methods when none).
 *
 * Versioned rows exist under /beta and /v1.0 alike; the others (/healthz,
 * and gwops' /oauth2/v2.0/token, /metrics, /openapi.json) at the root.
 * Adding a route is adding a row to uns_gw_routes[] in gateway_routes.c
 * and writing its handler; the row's name is what the completion hook
 * (uns_gateway_done_fn) reports. A row also names the request headers its
 * handler reads beyond those every route takes (uns_gw_common_headers):
 * the CORS preflight (gateway_cors.h) tells browsers what the table says.
 * Pure: no I/O.
 */
#ifndef UNS_GATEWAY_ROUTES_H
#define UNS_GATEWAY_ROUTES_H

#include <stddef.h>

#include "gateway_exchange.h"

typedef void (*uns_gw_handler)(uns_gw_exchange *x);

typedef struct uns_gw_route {
	const char *method;  /* "GET", "POST", "PATCH", "DELETE" */
	const char *pattern; /* "/me/notifications/{}"; {} = one segment */
	int versioned;       /* 1: under /beta and /v1.0 */
	const char *name;    /* "notifications.create", for metrics */
	uns_gw_handler handler;
	const char *headers; /* "If-Match, X-UNS-ID" read by the handler */
} uns_gw_route;

extern const uns_gw_route uns_gw_routes[];
extern const size_t uns_gw_n_routes;

/* The Content-Type a route's body must have: application/json but for
 * the few routes listed in gateway_routes.c (the OAuth2 form). */
const char *uns_gw_route_body_type(const uns_gw_route *route);

/* The request headers every route takes: "Authorization, …". */
extern const char uns_gw_common_headers[];

/* What the routes at url (raw path) take: their methods ("GET, PATCH")
 * into methods, and uns_gw_common_headers plus their own into headers.
 * 0 when no route is at url (both then empty). */
int uns_gw_route_allows(const char *url, char *methods, size_t methods_cap,
                        char *headers, size_t headers_cap);

typedef enum uns_gw_match {
	UNS_GW_MATCHED,
	UNS_GW_NO_ROUTE,  /* 404 */
	UNS_GW_NO_METHOD, /* 405; allow lists the methods */
} uns_gw_match;

/*
 * Finds the route for method and the raw (percent-encoded) url path. On
 * UNS_GW_MATCHED *route is set, x->path/x->version point into url and
 * x->params hold the percent-decoded captures (allocated when NULL: the
 * caller frees x->params). On UNS_GW_NO_METHOD, allow
 * gets "GET, PATCH" style text. A trailing slash is ignored.
 */
uns_gw_match uns_gw_route_find(const char *method, const char *url,
                               uns_gw_exchange *x, const uns_gw_route **route,
                               char *allow, size_t allow_cap);

#endif /* UNS_GATEWAY_ROUTES_H */
