/*
 * uns.h — the public API of libuns, the UNS client library.
 *
 * Conventions, as in NNG and SQLite:
 *  1. Every function returns a uns_err; UNS_OK (0) is success.
 *  2. Results travel through out-parameters, written only on success.
 *  3. Handles are opaque and come with matched verbs (open/close).
 *  4. Status codes 0..16 are gRPC's and may come from the server; codes from
 *     100 up are local to this process and never travel on the wire.
 *  5. After a failed synchronous call, uns_last_message() tells the calling
 *     thread why (the server's status message, or a local reason). It stays
 *     valid until that thread's next call.
 *  6. Responses are protobuf-c messages unpacked with the default allocator;
 *     free them with protobuf_c_message_free_unpacked(msg, NULL) or the
 *     generated uns__v1__*__free_unpacked().
 *  7. NNG types never appear here, so moving to NNG 2.x stays a local change.
 */
#ifndef UNS_UNS_H
#define UNS_UNS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UNS_VERSION "0.1.0"

typedef enum uns_err {
	UNS_OK = 0,
	UNS_CANCELLED = 1,
	UNS_UNKNOWN = 2,
	UNS_INVALID_ARGUMENT = 3,
	UNS_DEADLINE_EXCEEDED = 4,
	UNS_NOT_FOUND = 5,
	UNS_ALREADY_EXISTS = 6,
	UNS_PERMISSION_DENIED = 7,
	UNS_RESOURCE_EXHAUSTED = 8,
	UNS_FAILED_PRECONDITION = 9,
	UNS_ABORTED = 10,
	UNS_OUT_OF_RANGE = 11,
	UNS_UNIMPLEMENTED = 12,
	UNS_INTERNAL = 13,
	UNS_UNAVAILABLE = 14,
	UNS_DATA_LOSS = 15,
	UNS_UNAUTHENTICATED = 16,

	/* Local errors: never sent on the wire. */
	UNS_ENOMEM = 100,   /* out of memory */
	UNS_EINVAL = 101,   /* bad argument to a library call */
	UNS_ETLS = 102,     /* TLS handshake or certificate failure */
	UNS_ECONNECT = 103, /* cannot connect (refused, unreachable, bad url) */
	UNS_ECLOSED = 104,  /* the handle is closed or closing */
	UNS_EPROTO = 105,   /* the peer sent bytes that are not our protocol */
	UNS_EIO = 106,      /* file or system error (see uns_last_message) */
} uns_err;

/* A short lowercase description of err, e.g. "deadline exceeded". */
const char *uns_strerror(uns_err err);

/* The canonical upper-case name of err, e.g. "DEADLINE_EXCEEDED". */
const char *uns_status_name(uns_err err);

/* Why the calling thread's last failed call failed; "" if unknown. */
const char *uns_last_message(void);

#ifdef __cplusplus
}
#endif

#endif /* UNS_UNS_H */
