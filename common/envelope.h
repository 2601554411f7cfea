/*
 * envelope.h — I/O-free checks around the RPC envelope
 * (proto/uns/v1/rpc.proto).
 *
 * protobuf-c does the byte-level work; this module adds what the wire
 * contract promises on top of it: a method name of the form /pkg.Service/M,
 * bounded ids and metadata, a status code within gRPC's range. Both the
 * server and the client decode through here, and the envelope fuzz target
 * drives these functions directly.
 */
#ifndef UNS_ENVELOPE_H
#define UNS_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"
#include "uns/v1/rpc.pb-c.h"

#define UNS_MAX_METHOD_LEN     256
#define UNS_MAX_REQUEST_ID_LEN 128
#define UNS_MAX_METADATA       64
#define UNS_MAX_MD_KEY_LEN     64
#define UNS_MAX_MD_VALUE_LEN   8192
#define UNS_MAX_TIMEOUT_MS     3600000u

/* Metadata key under which the bearer token travels. */
#define UNS_MD_AUTHORIZATION     "authorization"
#define UNS_MD_AUTHORIZATION_KEY ((char *)UNS_MD_AUTHORIZATION)
/* Metadata key under which the embedded gateway names its HTTP client's
 * address (numeric) for the token endpoint's limits; believed from
 * inproc:// callers only. */
#define UNS_MD_CLIENT_ADDRESS "uns-client-address"

/*
 * Decodes and checks a request envelope. On failure returns
 * UNS_INVALID_ARGUMENT and writes the reason (naming the field) to why;
 * *out is set only on success and is allocated from alloc (NULL = malloc;
 * free with uns__v1__request_envelope__free_unpacked(env, alloc)).
 */
uns_err uns_request_decode(const uint8_t *buf, size_t len,
                           ProtobufCAllocator *alloc,
                           Uns__V1__RequestEnvelope **out, char *why,
                           size_t whylen);

/* The same for a response envelope; the code must be 0..16. */
uns_err uns_response_decode(const uint8_t *buf, size_t len,
                            ProtobufCAllocator *alloc,
                            Uns__V1__ResponseEnvelope **out, char *why,
                            size_t whylen);

/* Looks up metadata key in env; returns NULL if absent. */
const ProtobufCBinaryData *
uns_request_metadata(const Uns__V1__RequestEnvelope *env, const char *key);

#endif /* UNS_ENVELOPE_H */
