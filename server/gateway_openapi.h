/*
 * gateway_openapi.h — the gateway's OpenAPI 3 document (JSON text), served
 * as GET /openapi.json.
 */
#ifndef UNS_GATEWAY_OPENAPI_H
#define UNS_GATEWAY_OPENAPI_H

extern const char uns_gw_openapi_json[];

#endif /* UNS_GATEWAY_OPENAPI_H */
