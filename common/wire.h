/*
 * wire.h — packs RPC envelopes straight into NNG messages.
 *
 * An envelope is packed without its payload; then the payload field's tag
 * and length are written, and the payload message is packed in place after
 * them. Protobuf parsers accept fields in any order, so this yields a valid
 * envelope while the payload is serialised exactly once, with no copy.
 */
#ifndef UNS_WIRE_H
#define UNS_WIRE_H

#include <nng/nng.h>

#include "arena.h"
#include "uns/client.h"
#include "uns/v1/rpc.pb-c.h"

typedef struct uns_wire_request {
	const char *method;
	const char *request_id;
	uint32_t timeout_ms;
	const char *token; /* sent as metadata "authorization: Bearer …" */
	const uns_metadata *metadata;
	size_t n_metadata;
} uns_wire_request;

/* Builds a request message; RESOURCE_EXHAUSTED if it would exceed max
 * bytes (nothing is sent then). Scratch memory comes from a. */
uns_err uns_wire_pack_request(const uns_wire_request *h,
                              const ProtobufCMessage *payload, uns_arena *a,
                              size_t max, nng_msg **out);

/* Writes a response envelope (payload may be NULL) into m, replacing its
 * body. RESOURCE_EXHAUSTED if it would exceed max bytes. */
uns_err uns_wire_pack_response(nng_msg *m, const Uns__V1__ResponseEnvelope *env,
                               const ProtobufCMessage *payload, size_t max);

#endif /* UNS_WIRE_H */
