/*
 * gateway_cors.c — see gateway_cors.h. The methods and headers of a
 * preflight come from the route table (uns_gw_route_allows), never from a
 * second list here; what this file adds is the answer's shape.
 */
#include <stdio.h>
#include <string.h>

#include "gateway_cors.h"
#include "gateway_routes.h"

/* Response headers a page may read (Access-Control-Expose-Headers). */
static const char exposed[] =
    "Location, ETag, Retry-After, request-id, client-request-id";

/* 1 when the list names s (n bytes). */
static int
listed(const char *list, const char *s, size_t n)
{
	for (const char *p = list ? list : ""; *p != '\0';) {
		p += strspn(p, " ,\t");
		size_t len = strcspn(p, " ,\t");
		if (len > 0 && len == n && strncmp(p, s, n) == 0) {
			return 1;
		}
		p += len;
	}
	return 0;
}

static int
any_origin(const char *allowed)
{
	return listed(allowed, "*", 1);
}

int
uns_gw_cors_allowed(const char *allowed, const char *origin)
{
	return origin != NULL && origin[0] != '\0' &&
	       (any_origin(allowed) || listed(allowed, origin, strlen(origin)));
}

void
uns_gw_cors_preflight(uns_gw_exchange *x, const char *url, const char *allowed)
{
	char methods[128], headers[512], age[16];
	if (!uns_gw_route_allows(url, methods, sizeof(methods), headers,
	                         sizeof(headers))) {
		uns_gw_fail(x, 404, "NotFound", "no resource at %.200s", url);
		return;
	}
	uns_gw_set_header(x, "Allow", methods);
	if (uns_gw_header(x, "Access-Control-Request-Method") != NULL &&
	    uns_gw_cors_allowed(allowed, uns_gw_header(x, "Origin"))) {
		snprintf(age, sizeof(age), "%d", UNS_GW_CORS_MAX_AGE_S);
		uns_gw_set_header(x, "Access-Control-Allow-Methods", methods);
		uns_gw_set_header(x, "Access-Control-Allow-Headers", headers);
		uns_gw_set_header(x, "Access-Control-Max-Age", age);
	}
	uns_gw_reply_empty(x, 204);
}

void
uns_gw_cors_headers(const uns_gw_exchange *x, const char *allowed,
                    void (*add)(void *arg, const char *name, const char *value),
                    void *arg)
{
	const char *origin = uns_gw_header(x, "Origin");
	if (allowed == NULL || allowed[0] == '\0') {
		return;
	}
	/* The answer depends on Origin unless every origin is allowed. */
	if (!any_origin(allowed)) {
		add(arg, "Vary", "Origin");
	}
	if (!uns_gw_cors_allowed(allowed, origin)) {
		return;
	}
	add(arg, "Access-Control-Allow-Origin",
	    any_origin(allowed) ? "*" : origin);
	if (strcmp(x->method, "OPTIONS") != 0) {
		add(arg, "Access-Control-Expose-Headers", exposed);
	}
}
