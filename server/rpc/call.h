/*
 * call.h — what a handler sees of one RPC: its arena, its metadata, its
 * deadline, its peer, and the way to fail with a status that names a field.
 *
 * Everything a handler allocates for its response comes from the call's
 * arena (uns_call_alloc, uns_call_strdup) and dies when the reply is packed,
 * so handlers never free.
 */
#ifndef UNS_CALL_H
#define UNS_CALL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "arena.h"
#include "uns/method.h"
#include "uns/v1/rpc.pb-c.h"

#define UNS_CALL_MAX_DETAILS 8

/* What a handler returns after uns_call_suspend: "answered later". Not a
 * status; it never reaches the wire. */
#define UNS_CALL_PENDING ((uns_err)999)

typedef void (*uns_call_cleanup_fn)(void *arg);
struct uns_call_cleanup;

struct uns_call {
	uns_arena *arena;
	const Uns__V1__RequestEnvelope *env;
	const uns_method *method;
	nng_time received;
	nng_time deadline;
	nng_pipe pipe;
	void *service_ctx;
	char message[512];
	Uns__V1__ErrorDetail details[UNS_CALL_MAX_DETAILS];
	Uns__V1__ErrorDetail *detail_ptrs[UNS_CALL_MAX_DETAILS];
	size_t n_details;
	struct uns_call_cleanup *cleanups;
	/* Set by the server: finishes a suspended call (uns_call_resume). */
	void (*resumed)(uns_call *call, uns_err code);
	/* Set by the server: starts watching for the caller's hang-up. */
	void (*watch_hangup)(uns_call *call);
	uns_call_cleanup_fn hangup_fn; /* uns_call_on_hangup's */
	void *hangup_arg;
	atomic_int holds; /* of a suspended call: handler return + resume */
};

void *uns_call_alloc(uns_call *call, size_t n);
char *uns_call_strdup(uns_call *call, const char *s);

/*
 * Runs fn(arg) after the reply is packed (last registered, first run), so a
 * handler can put memory it does not own by the arena, such as messages
 * from the store, into its response. On failure (UNS_ENOMEM) nothing is
 * registered and the caller still owns arg.
 */
uns_err uns_call_defer(uns_call *call, uns_call_cleanup_fn fn, void *arg);
/* Runs and forgets the registered cleanups (the server calls this). */
void uns_call_run_cleanups(uns_call *call);

/*
 * Lets a handler answer later, from any thread: it calls uns_call_suspend,
 * starts its asynchronous work and returns what uns_call_suspend returned
 * (UNS_CALL_PENDING); the work ends with exactly one uns_call_resume, which
 * may come before the handler has returned. The call, its arena, request
 * and response stay valid until resume; the server packs and sends the
 * reply then, on the resuming thread (whichever of handler return and
 * resume comes last finishes the call). Resume with the status the handler
 * would have returned, after uns_call_fail if it failed.
 */
uns_err uns_call_suspend(uns_call *call);
void uns_call_resume(uns_call *call, uns_err code);

/*
 * For a suspended call that may wait long (a long poll): fn(arg) runs at
 * most once, on another thread, if the caller goes away first (its
 * connection closes) while the call is not yet resumed, so the work can end
 * at once rather than at its deadline. fn must not resume the call itself
 * (it runs under the server's lock): it makes the work end, and the work
 * resumes the call as usual. Only between uns_call_suspend and the resume.
 */
void uns_call_on_hangup(uns_call *call, uns_call_cleanup_fn fn, void *arg);

/* The service context given to the server (uns_rpc_service.ctx). */
void *uns_call_ctx(uns_call *call);

/* Metadata value for key as a NUL-terminated string in the arena; NULL if
 * absent. */
const char *uns_call_metadata(uns_call *call, const char *key);

/* The bearer token from "authorization: Bearer …", or NULL. */
const char *uns_call_bearer(uns_call *call);

const char *uns_call_request_id(uns_call *call);

/* Milliseconds left before the caller's deadline; 0 when passed. */
uint32_t uns_call_time_left(uns_call *call);

/*
 * The caller's source address as a key for limits, into out (cap ≥ 64):
 * an IPv4 address ("192.0.2.7"), an IPv6 address cut to its /64
 * ("2001:db8:1:2::"), "ipc:uid=N" for a local socket; for an inproc://
 * caller (the embedded gateway) the HTTP client's address it names in
 * UNS_MD_CLIENT_ADDRESS (envelope.h), the same way, or "" when it names
 * none; "?" when NNG names no peer (the pipe closed).
 */
void uns_call_source(uns_call *call, char *out, size_t cap);

/* Nonzero when the call arrived over TLS with a verified client cert. */
int uns_call_peer_verified(uns_call *call);

/*
 * Records a failure: the status message becomes "field: reason" (or just
 * reason when field is NULL), field is added to the reply's details, and
 * code is returned so a handler can `return uns_call_fail(...)`.
 */
uns_err uns_call_fail(uns_call *call, uns_err code, const char *field,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* UNS_CALL_H */
