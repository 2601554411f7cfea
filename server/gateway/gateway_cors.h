/*
 * gateway_cors.h — Cross-Origin Resource Sharing, so that web apps on
 * other origins can call the gateway (Fetch standard, CORS protocol).
 *
 * Off unless configured: the allowed origins are a list ("https://a.example
 * https://b.example", spaces or commas between) or "*". A preflight
 * (OPTIONS with Access-Control-Request-Method) is answered for every route
 * from the route table: Access-Control-Allow-Methods lists the methods of
 * the rows at that path, Access-Control-Allow-Headers the headers every
 * route takes plus those the rows name (gateway_routes.h); a plain OPTIONS
 * gets Allow. Every answer to an allowed origin, errors too, carries
 * Access-Control-Allow-Origin (that origin, or * for "*") and exposes
 * Location, ETag, Retry-After and the request ids, so a page reads what a
 * native client reads. Tokens travel in Authorization only: no cookie is
 * read, so Access-Control-Allow-Credentials is never sent.
 *
 * An origin not allowed gets no Access-Control-* header and the browser
 * refuses the answer; the gateway itself answers it as it answers any
 * client (a cross-origin request is not a threat to a bearer-token API,
 * and curl sends no Origin).
 */
#ifndef UNS_GATEWAY_CORS_H
#define UNS_GATEWAY_CORS_H

#include "gateway_exchange.h"

/* How long a browser may cache a preflight answer (Access-Control-Max-Age). */
#define UNS_GW_CORS_MAX_AGE_S 600

/* 1 when origin (the Origin header; NULL = none) is in allowed. */
int uns_gw_cors_allowed(const char *allowed, const char *origin);

/* Answers OPTIONS url: 404 when no route is there, else 204 with Allow
 * and, for a preflight from an allowed origin, Access-Control-Allow-*. */
void uns_gw_cors_preflight(uns_gw_exchange *x, const char *url,
                           const char *allowed);

/* The CORS headers of any answer to x, each given to add (name, value). */
void uns_gw_cors_headers(const uns_gw_exchange *x, const char *allowed,
                         void (*add)(void *arg, const char *name,
                                     const char *value),
                         void *arg);

#endif /* UNS_GATEWAY_CORS_H */
