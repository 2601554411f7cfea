/*
 * method.h — the shape of one RPC method, shared by the generated client
 * stubs (which need its name and message types) and the generated server
 * table (which also needs a typed trampoline into the handler struct).
 */
#ifndef UNS_METHOD_H
#define UNS_METHOD_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "uns/uns.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Server-side per-call context; defined by the server (server/rpc/call.h). */
typedef struct uns_call uns_call;

/* Calls the typed handler for this method inside `handlers` (a generated
 * struct of function pointers); UNS_UNIMPLEMENTED if its slot is NULL. */
typedef uns_err (*uns_method_invoke)(const void *handlers, uns_call *call,
                                     const ProtobufCMessage *req,
                                     ProtobufCMessage *resp);

typedef struct uns_method {
	const char *name; /* full name, "/uns.v1.Notifications/Post" */
	const ProtobufCMessageDescriptor *input;
	const ProtobufCMessageDescriptor *output;
	uns_method_invoke invoke;
} uns_method;

typedef struct uns_service_desc {
	const char *name;          /* "uns.v1.Notifications" */
	const uns_method *methods; /* sorted by name, for bsearch */
	size_t n_methods;
} uns_service_desc;

/* Finds a method by full name in a service; NULL if there is none. */
const uns_method *uns_service_find(const uns_service_desc *svc,
                                   const char *name);

#ifdef __cplusplus
}
#endif

#endif /* UNS_METHOD_H */
