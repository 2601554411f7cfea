/*
 * gateway_openapi.h — the gateway's OpenAPI 3 document, served as GET
 * /openapi.json. It is edited as JSON in docs/openapi.json (the published
 * contract, kept apart from the route table on purpose) and compiled in by
 * tools/embed.cmake; test_gateway_openapi checks that the document and the
 * route table name the same routes. Versioned paths are written once, under
 * the servers /v1.0 and /beta; unversioned ones carry their own server "/".
 */
#ifndef UNS_GATEWAY_OPENAPI_H
#define UNS_GATEWAY_OPENAPI_H

/* NUL-terminated JSON text. */
extern const char uns_gw_openapi_json[];

#endif /* UNS_GATEWAY_OPENAPI_H */
