/*
 * rpc_server.c — see rpc_server.h.
 *
 * Each context runs a three-state machine driven by its aio callback:
 * RECV (waiting for a request) → WORK (queued to or running on a worker) →
 * SEND (reply handed to NNG) → RECV. The envelope is decoded on the NNG
 * thread; handlers that may block (fsync, long poll) then run on our worker
 * pool, never on NNG's few task threads, and the worker starts the send
 * itself. A handler may also suspend its call (call.h) and resume it from
 * another thread — a durable Post is answered by the store's committer
 * right after its sync — and the resuming thread packs and sends. Calls that
 * cannot block — malformed or unknown ones, and methods the service lists as
 * inline (Health, Echo) — are answered on the spot: a thread hop costs more
 * than they do. The request message is reused for the reply, so a call
 * allocates no NNG message of its own.
 *
 * Decoding, deadline check, lookup, unpack, text check (every string field
 * UTF-8 without a NUL), handler, pack: every failure on
 * the way becomes a status in the reply; nothing a peer sends can stop the
 * loop. A request whose deadline has passed by the time a worker takes it
 * is answered DEADLINE_EXCEEDED without running.
 *
 * Contexts on demand: cfg.contexts of them are "slots" that receive. A
 * call that suspends (a parked long poll, a write waiting for its sync)
 * gives up its slot before it waits, and a spare context (or a new one)
 * takes the slot and receives; when the suspended call's reply has gone,
 * its context becomes a spare. So waiting calls never keep others from
 * being received, and the number of them is bounded only by memory and by
 * cfg.max_contexts; spares beyond cfg.contexts are freed, so the memory of
 * a burst of waits comes back. Measured: a parked call costs its context
 * (this struct, mostly the arena's inline block, touched only as far as
 * the call used it), an NNG context and aio, and its request message;
 * see BENCHMARKS.md ("Waiting clients").
 *
 * Rejected: rep0's raw mode (one receive loop, replies addressed by the
 * backtrace header). It would save the NNG context and aio per waiting
 * call (a few hundred bytes of a ~4 KiB call) but moves the request-id
 * bookkeeping, the per-pipe send queueing and the cancellation that
 * rep0's contexts do for us into this file; and a fixed pool that merely
 * grew (the former design with 128) would still let waits fill it.
 *
 * Hang-ups: a suspended call that may wait long (uns_call_on_hangup) is
 * kept in two hash tables, by pipe id and by request id, so that a pipe's
 * removal (NNG_PIPE_EV_REM_POST) or uns_rpc_server_hangup finds its calls
 * without walking every waiting one (with one list, N clients leaving at
 * once cost O(N^2) steps, each a cache miss), and their hooks run
 * under the lock that finish() takes first, so a call cannot be answered
 * and recycled while its hook runs.
 *
 * Draining holds the lock while it cancels only contexts still in RECV, so
 * a reply already on its way is never cancelled; listeners and pipes close
 * only after the last reply has had drain_linger_ms to leave.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>

#include "call.h"
#include "envelope.h"
#include "errors.h"
#include "fnv.h"
#include "pbtext.h"
#include "handshake_guard.h"
#include "rpc_server.h"
#include "wire.h"
#include "workers.h"

#define DEFAULT_MAX_MESSAGE (4u << 20)
#define DEFAULT_CONTEXTS    128
#define DEFAULT_MAX_CTXS    200000
#define DEFAULT_TIMEOUT_MS  30000u
#define DEFAULT_LINGER_MS   200u
#define DEFAULT_HANDSHAKE   5000u
#define MAX_LISTENERS       8
#define HUP_BUCKETS         4096

enum ctx_state { CTX_IDLE, CTX_RECV, CTX_WORK, CTX_SEND };

typedef struct rpc_ctx {
	uns_rpc_server *server;
	struct rpc_ctx *all_next, *all_prev; /* s->all */
	struct rpc_ctx *spare_next;          /* s->spares, when a spare */
	bool slot;                           /* one of the receiving slots */
	nng_ctx ctx;
	nng_aio *aio;
	enum ctx_state state;
	nng_msg *msg;
	nng_time received;
	uns_arena arena;
	ProtobufCMessage *req; /* decoded while preparing */
	ProtobufCMessage *resp;
	uns_call call;
	uns_err code;         /* a failure found while preparing, else UNS_OK */
	uns_err resumed_code; /* of a suspended call, set by its resume */
	/* When listed (uns_call_on_hangup): in a chain of s->by_pipe and one
	 * of s->by_id. */
	struct rpc_ctx *pipe_next, *pipe_prev, *id_next, *id_prev;
	bool hup_listed;
} rpc_ctx;

static void call_resumed(uns_call *call, uns_err code);
static void watch_hangup(uns_call *call);

struct uns_rpc_server {
	uns_rpc_config cfg;
	uns_rpc_service svc;
	uns_rpc_hooks hooks;
	nng_socket sock;
	nng_listener listeners[MAX_LISTENERS];
	int n_listeners;
	rpc_ctx *all;    /* every context */
	rpc_ctx *spares; /* idle contexts beyond the slots */
	int n_ctxs, n_slots, n_spares;
	uns_workers *workers;
	uns_hs_guard *guard;         /* connections that never become pipes */
	unsigned char *inline_flags; /* per method of svc.desc: run inline */
	pthread_mutex_t mu;
	pthread_cond_t idle_cv;
	int n_idle;
	int started, draining, drained;
	nng_pipe *pipes; /* open pipes, closed explicitly after a drain */
	size_t n_pipes, cap_pipes;
	/* Suspended calls with a hang-up hook, by pipe id and by request id
	 * (hash chains): a hang-up finds its calls without a walk of all. */
	rpc_ctx *by_pipe[HUP_BUCKETS], *by_id[HUP_BUCKETS];
	_Atomic uint64_t received, replied, failed, rejected;
};

/* --- the call ---------------------------------------------------------- */

static void
reply_status(rpc_ctx *rc, uns_call *call, uns_err code,
             const ProtobufCMessage *resp)
{
	uns_rpc_server *s = rc->server;
	Uns__V1__ResponseEnvelope env = UNS__V1__RESPONSE_ENVELOPE__INIT;
	env.code = (int32_t)code;
	env.message = call->message;
	env.request_id = (char *)uns_call_request_id(call);
	env.n_details = call->n_details;
	env.details = call->detail_ptrs;
	uns_err err =
	    uns_wire_pack_response(rc->msg, &env, code == UNS_OK ? resp : NULL,
	                           s->cfg.max_message_bytes);
	if (err != UNS_OK) {
		/* The reply itself is too large: say so, without payload. */
		env.code = UNS_RESOURCE_EXHAUSTED;
		snprintf(call->message, sizeof(call->message), "%s",
		         uns_last_message());
		env.n_details = 0;
		uns_wire_pack_response(rc->msg, &env, NULL, SIZE_MAX);
	}
	if (env.code != UNS_OK) {
		atomic_fetch_add(&s->failed, 1);
	}
	if (s->hooks.on_reply != NULL) {
		s->hooks.on_reply(s->hooks.on_reply_arg, call->method,
		                  (uns_err)env.code);
	}
}

/* Runs the prepared call's method; returns its status. */
static uns_err
run_method(rpc_ctx *rc)
{
	uns_rpc_server *s = rc->server;
	uns_call *call = &rc->call;
	const uns_method *m = call->method;
	const Uns__V1__RequestEnvelope *env = call->env;
	if (nng_clock() >= call->deadline) {
		return uns_call_fail(call, UNS_DEADLINE_EXCEEDED, NULL,
		                     "deadline of %u ms passed before %s ran",
		                     env->timeout_ms, env->method);
	}
	ProtobufCMessage *resp =
	    uns_call_alloc(call, m->output->sizeof_message);
	if (resp == NULL) {
		return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                     "out of memory");
	}
	m->output->message_init(resp);
	rc->resp = resp;
	if (s->hooks.before_call) {
		s->hooks.before_call(s->hooks.before_call_arg, env);
	}
	uns_err code = m->invoke(s->svc.handlers, call, rc->req, resp);
	if (code == UNS_UNIMPLEMENTED && call->message[0] == '\0') {
		uns_call_fail(call, code, NULL, "%s is not implemented",
		              m->name);
	}
	return code;
}

/* Every string field of the request is UTF-8 without a NUL (pbtext.h):
 * a bad one is refused naming its field before any handler sees it. */
static uns_err
check_text(rpc_ctx *rc)
{
	uns_call *call = &rc->call;
	const Uns__V1__RequestEnvelope *env = call->env;
	char field[256], why[128];
	if (uns_pb_check_text(call->method->input, env->payload.data,
	                      env->payload.len, NULL, UNS_PB_NAMES_CAMEL, field,
	                      sizeof(field), why, sizeof(why)) == UNS_OK) {
		return UNS_OK;
	}
	rc->code = uns_call_fail(call, UNS_INVALID_ARGUMENT, field, "%s", why);
	return rc->code;
}

/*
 * Decodes the envelope and the request and finds the method, on the NNG
 * thread. Returns 1 when the call must go to a worker (its handler may
 * block), 0 when it can be answered right here: undecodable, unknown
 * method, deadline passed, or a handler the service declared non-blocking
 * (always, or for this request).
 */
static int
prepare(rpc_ctx *rc)
{
	uns_rpc_server *s = rc->server;
	uns_call *call = &rc->call;
	Uns__V1__RequestEnvelope *env = NULL;
	memset(call, 0, sizeof(*call));
	call->arena = &rc->arena;
	call->service_ctx = s->svc.ctx;
	call->resumed = call_resumed;
	call->watch_hangup = watch_hangup;
	call->pipe = nng_msg_get_pipe(rc->msg);
	call->received = rc->received;
	rc->req = NULL;
	rc->resp = NULL;
	rc->code = uns_request_decode(nng_msg_body(rc->msg),
	                              nng_msg_len(rc->msg), &rc->arena.pb, &env,
	                              call->message, sizeof(call->message));
	if (rc->code != UNS_OK) {
		atomic_fetch_add(&s->rejected, 1);
		return 0;
	}
	call->env = env;
	uint32_t t =
	    env->timeout_ms ? env->timeout_ms : s->cfg.default_timeout_ms;
	call->deadline = rc->received + t;
	call->method = uns_service_find(s->svc.desc, env->method);
	if (call->method == NULL) {
		rc->code = uns_call_fail(call, UNS_UNIMPLEMENTED, NULL,
		                         "unknown method %s", env->method);
		return 0;
	}
	if (nng_clock() >= call->deadline) {
		return 0; /* run_method answers DEADLINE_EXCEEDED */
	}
	const uns_method *m = call->method;
	rc->req = protobuf_c_message_unpack(
	    m->input, &rc->arena.pb, env->payload.len, env->payload.data);
	if (rc->req == NULL) {
		rc->code = uns_call_fail(call, UNS_INVALID_ARGUMENT, "payload",
		                         "not a valid %s", m->input->name);
		return 0;
	}
	if (check_text(rc) != UNS_OK) {
		return 0;
	}
	if (s->inline_flags[m - s->svc.desc->methods]) {
		return 0;
	}
	return !(s->svc.runs_inline &&
	         s->svc.runs_inline(s->svc.ctx, m, rc->req));
}

/* Hands the exchange to the service's on_exchange hook. */
static void
show_exchange(rpc_ctx *rc)
{
	const uns_rpc_hooks *h = &rc->server->hooks;
	const ProtobufCMessage *env = &rc->call.env->base;
	size_t n = protobuf_c_message_get_packed_size(env);
	uint8_t *req = malloc(n ? n : 1);
	if (req != NULL) {
		protobuf_c_message_pack(env, req);
		h->on_exchange(h->on_exchange_arg, req, n,
		               nng_msg_body(rc->msg), nng_msg_len(rc->msg));
		free(req);
	}
}

/* --- hang-ups --------------------------------------------------------- */

/* The chains of a call, by its pipe and by its request id. */
static rpc_ctx **
pipe_chain(uns_rpc_server *s, nng_pipe p)
{
	return &s->by_pipe[(uint32_t)nng_pipe_id(p) % HUP_BUCKETS];
}

static rpc_ctx **
id_chain(uns_rpc_server *s, const char *request_id)
{
	return &s->by_id[uns_fnv_str(UNS_FNV_OFFSET, request_id) % HUP_BUCKETS];
}

/* Lists a suspended call whose hook (uns_call_on_hangup) must run if its
 * pipe goes away, or uns_rpc_server_hangup names its request id. */
static void
watch_hangup(uns_call *call)
{
	rpc_ctx *rc = (rpc_ctx *)((char *)call - offsetof(rpc_ctx, call));
	uns_rpc_server *s = rc->server;
	pthread_mutex_lock(&s->mu);
	rpc_ctx **pc = pipe_chain(s, call->pipe);
	rpc_ctx **ic = id_chain(s, uns_call_request_id(call));
	rc->pipe_prev = rc->id_prev = NULL;
	if ((rc->pipe_next = *pc) != NULL) {
		(*pc)->pipe_prev = rc;
	}
	*pc = rc;
	if ((rc->id_next = *ic) != NULL) {
		(*ic)->id_prev = rc;
	}
	*ic = rc;
	rc->hup_listed = true;
	pthread_mutex_unlock(&s->mu);
}

/* Called with s->mu held. */
static void
unwatch(uns_rpc_server *s, rpc_ctx *rc)
{
	if (rc->pipe_prev) {
		rc->pipe_prev->pipe_next = rc->pipe_next;
	} else {
		*pipe_chain(s, rc->call.pipe) = rc->pipe_next;
	}
	if (rc->pipe_next) {
		rc->pipe_next->pipe_prev = rc->pipe_prev;
	}
	if (rc->id_prev) {
		rc->id_prev->id_next = rc->id_next;
	} else {
		*id_chain(s, uns_call_request_id(&rc->call)) = rc->id_next;
	}
	if (rc->id_next) {
		rc->id_next->id_prev = rc->id_prev;
	}
	rc->hup_listed = false;
}

/* The pipe went away: the hooks of its watched calls run (under s->mu,
 * so none of those calls can finish meanwhile). */
static void
hang_up(uns_rpc_server *s, nng_pipe p)
{
	rpc_ctx *next;
	for (rpc_ctx *rc = *pipe_chain(s, p); rc != NULL; rc = next) {
		next = rc->pipe_next;
		if (nng_pipe_id(rc->call.pipe) == nng_pipe_id(p)) {
			unwatch(s, rc);
			rc->call.hangup_fn(rc->call.hangup_arg);
		}
	}
}

void
uns_rpc_server_hangup(uns_rpc_server *s, const char *request_id)
{
	rpc_ctx *next;
	pthread_mutex_lock(&s->mu);
	for (rpc_ctx *rc = *id_chain(s, request_id); rc != NULL; rc = next) {
		next = rc->id_next;
		if (strcmp(uns_call_request_id(&rc->call), request_id) == 0) {
			unwatch(s, rc);
			rc->call.hangup_fn(rc->call.hangup_arg);
		}
	}
	pthread_mutex_unlock(&s->mu);
}

/* Packs the reply of code into the request's message and forgets the
 * call. */
static void
finish(rpc_ctx *rc, uns_err code)
{
	uns_call *call = &rc->call;
	if (call->hangup_fn != NULL) { /* its hook must not run from now */
		pthread_mutex_lock(&rc->server->mu);
		if (rc->hup_listed) {
			unwatch(rc->server, rc);
		}
		pthread_mutex_unlock(&rc->server->mu);
	}
	if (code != UNS_OK && call->message[0] == '\0') {
		snprintf(call->message, sizeof(call->message), "%s",
		         uns_strerror(code));
	}
	reply_status(rc, call, code, rc->resp);
	if (rc->server->hooks.on_exchange && call->env) {
		show_exchange(rc);
	}
	uns_call_run_cleanups(call);
	uns_arena_reset(&rc->arena);
}

static void leave_slot(rpc_ctx *rc);

/* Of a suspended call's handler return and resume, the second is true. */
static bool
last_hold(rpc_ctx *rc)
{
	return atomic_fetch_sub(&rc->call.holds, 1) == 1;
}

/* Runs the call if preparing found nothing wrong and packs the reply;
 * false when the handler suspended the call and resume will finish it. */
static bool
process(rpc_ctx *rc)
{
	uns_err code = rc->code == UNS_OK ? run_method(rc) : rc->code;
	if (code == UNS_CALL_PENDING) {
		leave_slot(rc); /* before the resume can send and recycle */
		if (!last_hold(rc)) {
			return false;
		}
		code = rc->resumed_code;
	}
	finish(rc, code);
	return true;
}

/* --- the context state machine ----------------------------------------- */

static void ctx_cb(void *arg);

/* A new context, or NULL (out of memory, or cfg.max_contexts reached).
 * Called with s->mu held. */
static rpc_ctx *
ctx_new(uns_rpc_server *s)
{
	if (s->n_ctxs >= s->cfg.max_contexts) {
		return NULL;
	}
	/* Zeroed but for the arena's inline block, which a call touches
	 * only as far as it uses it: untouched pages cost no memory, and a
	 * waiting call uses a few hundred bytes of the 8 KiB. */
	rpc_ctx *rc = malloc(sizeof(*rc));
	if (rc == NULL) {
		return NULL;
	}
	memset(rc, 0, offsetof(rpc_ctx, arena));
	memset(&rc->arena + 1, 0,
	       sizeof(*rc) - offsetof(rpc_ctx, arena) - sizeof(rc->arena));
	rc->server = s;
	uns_arena_init(&rc->arena, s->cfg.max_message_bytes * 4);
	int rv = nng_ctx_open(&rc->ctx, s->sock);
	if (rv == 0 && (rv = nng_aio_alloc(&rc->aio, ctx_cb, rc)) != 0) {
		nng_ctx_close(rc->ctx);
	}
	if (rv != 0) {
		uns_arena_fini(&rc->arena);
		free(rc);
		return NULL;
	}
	rc->state = CTX_IDLE;
	rc->all_next = s->all;
	if (s->all) {
		s->all->all_prev = rc;
	}
	s->all = rc;
	s->n_ctxs++;
	s->n_idle++;
	return rc;
}

/* Frees an idle context that is no longer listed (no lock needed). */
static void
ctx_free(rpc_ctx *rc)
{
	nng_aio_free(rc->aio);
	nng_ctx_close(rc->ctx);
	uns_arena_fini(&rc->arena);
	free(rc);
}

/* Unlists an idle context for ctx_free. Called with s->mu held. */
static void
ctx_unlist(uns_rpc_server *s, rpc_ctx *rc)
{
	if (rc->all_prev) {
		rc->all_prev->all_next = rc->all_next;
	} else {
		s->all = rc->all_next;
	}
	if (rc->all_next) {
		rc->all_next->all_prev = rc->all_prev;
	}
	s->n_ctxs--;
	s->n_idle--;
}

/* Called with s->mu held. */
static void
go_idle(rpc_ctx *rc)
{
	rc->state = CTX_IDLE;
	rc->server->n_idle++;
	pthread_cond_broadcast(&rc->server->idle_cv);
}

/* Called with s->mu held. */
static void
start_recv(rpc_ctx *rc)
{
	if (rc->server->draining) {
		go_idle(rc);
		return;
	}
	rc->state = CTX_RECV;
	nng_ctx_recv(rc->ctx, rc->aio);
}

/* Fills the receiving slots from the spares, or with new contexts.
 * Called with s->mu held. */
static void
fill_slots(uns_rpc_server *s)
{
	while (s->started && !s->draining && s->n_slots < s->cfg.contexts) {
		rpc_ctx *rc = s->spares;
		if (rc != NULL) {
			s->spares = rc->spare_next;
			s->n_spares--;
		} else if ((rc = ctx_new(s)) == NULL) {
			return; /* tried again at the next reply */
		}
		rc->slot = true;
		s->n_slots++;
		s->n_idle--;
		start_recv(rc);
	}
}

/* A suspended call gives its slot to another context. */
static void
leave_slot(rpc_ctx *rc)
{
	uns_rpc_server *s = rc->server;
	pthread_mutex_lock(&s->mu);
	if (rc->slot) {
		rc->slot = false;
		s->n_slots--;
		fill_slots(s);
	}
	pthread_mutex_unlock(&s->mu);
}

/* After a reply has gone: a slot receives again; a context that gave its
 * slot away becomes a spare, unless a slot is free (or there are spares
 * enough: then it is freed). Called with s->mu held; returns a context to
 * free once the lock is let go, or NULL. */
static rpc_ctx *
recycle(rpc_ctx *rc)
{
	uns_rpc_server *s = rc->server;
	if (!rc->slot && !s->draining && s->n_slots < s->cfg.contexts) {
		rc->slot = true;
		s->n_slots++;
	}
	if (rc->slot) {
		start_recv(rc);
		return NULL;
	}
	go_idle(rc);
	rc->spare_next = s->spares;
	s->spares = rc;
	s->n_spares++;
	if (s->n_spares <= s->cfg.contexts || s->draining) {
		return NULL;
	}
	/* One spare too many: free another (this one's callback is still
	 * running, and NNG cannot free an aio from its own callback). */
	rpc_ctx *old = rc->spare_next;
	rc->spare_next = old->spare_next;
	s->n_spares--;
	ctx_unlist(s, old);
	return old;
}

static void
send_reply(rpc_ctx *rc)
{
	pthread_mutex_lock(&rc->server->mu);
	rc->state = CTX_SEND;
	nng_aio_set_msg(rc->aio, rc->msg);
	rc->msg = NULL;
	nng_ctx_send(rc->ctx, rc->aio);
	pthread_mutex_unlock(&rc->server->mu);
}

static void
work_job(void *arg)
{
	rpc_ctx *rc = arg;
	if (process(rc)) {
		send_reply(rc);
	}
}

static void
call_resumed(uns_call *call, uns_err code)
{
	rpc_ctx *rc = (rpc_ctx *)((char *)call - offsetof(rpc_ctx, call));
	rc->resumed_code = code;
	if (last_hold(rc)) {
		finish(rc, code);
		send_reply(rc);
	}
}

static void
on_recv(rpc_ctx *rc, int rv)
{
	uns_rpc_server *s = rc->server;
	if (rv != 0) {
		pthread_mutex_lock(&s->mu);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED || s->draining) {
			go_idle(rc);
		} else {
			start_recv(rc);
		}
		pthread_mutex_unlock(&s->mu);
		return;
	}
	rc->msg = nng_aio_get_msg(rc->aio);
	rc->received = nng_clock();
	atomic_fetch_add(&s->received, 1);
	pthread_mutex_lock(&s->mu);
	rc->state = CTX_WORK;
	pthread_mutex_unlock(&s->mu);
	if (!prepare(rc) ||
	    uns_workers_submit(s->workers, work_job, rc) != UNS_OK) {
		work_job(rc); /* inline; the queue cannot be full (one job per
		                 context at most) */
	}
}

static void
on_send(rpc_ctx *rc, int rv)
{
	uns_rpc_server *s = rc->server;
	if (rv != 0) {
		nng_msg_free(nng_aio_get_msg(rc->aio));
	} else {
		atomic_fetch_add(&s->replied, 1);
	}
	rpc_ctx *old = NULL;
	pthread_mutex_lock(&s->mu);
	if (rv == NNG_ECLOSED) {
		go_idle(rc);
	} else {
		old = recycle(rc);
	}
	pthread_mutex_unlock(&s->mu);
	if (old != NULL) {
		ctx_free(old);
	}
}

static void
ctx_cb(void *arg)
{
	rpc_ctx *rc = arg;
	int rv = nng_aio_result(rc->aio);
	if (rc->state == CTX_RECV) {
		on_recv(rc, rv);
	} else {
		on_send(rc, rv);
	}
}

/* --- pipes -------------------------------------------------------------- */

/* Tracks open pipes. NNG 1.5.2's nng_close can wait forever on pipes whose
 * peers keep sending after a drain (seen with clients under load), so the
 * drain closes every pipe itself before the socket goes. */
static void
pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	uns_rpc_server *s = arg;
	nng_sockaddr peer;
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &peer) == 0) {
		uns_hs_guard_pipe(s->guard, &peer, ev == NNG_PIPE_EV_ADD_POST);
	}
	pthread_mutex_lock(&s->mu);
	if (ev == NNG_PIPE_EV_ADD_POST) {
		if (s->n_pipes == s->cap_pipes) {
			size_t cap = s->cap_pipes ? s->cap_pipes * 2 : 16;
			nng_pipe *np = realloc(s->pipes, cap * sizeof(*np));
			if (np == NULL) {
				pthread_mutex_unlock(&s->mu);
				return;
			}
			s->pipes = np;
			s->cap_pipes = cap;
		}
		s->pipes[s->n_pipes++] = p;
	} else {
		for (size_t i = 0; i < s->n_pipes; i++) {
			if (nng_pipe_id(s->pipes[i]) == nng_pipe_id(p)) {
				s->pipes[i] = s->pipes[--s->n_pipes];
				break;
			}
		}
		hang_up(s, p);
	}
	pthread_mutex_unlock(&s->mu);
}

static void
close_pipes(uns_rpc_server *s)
{
	pthread_mutex_lock(&s->mu);
	size_t n = s->n_pipes;
	nng_pipe *copy = n ? malloc(n * sizeof(*copy)) : NULL;
	if (copy) {
		memcpy(copy, s->pipes, n * sizeof(*copy));
	}
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; copy && i < n; i++) {
		nng_pipe_close(copy[i]);
	}
	free(copy);
}

/* --- set-up ------------------------------------------------------------ */

static uns_err
tls_config(uns_rpc_server *s, nng_tls_config **out)
{
	nng_tls_config *cfg = NULL;
	const uns_rpc_config *c = &s->cfg;
	int rv;
	if (c->cert_key_file == NULL) {
		return uns_fail(UNS_EINVAL, "tls needs a certificate file");
	}
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) != 0) {
		return uns_fail(uns_err_from_nng(rv), "tls: %s",
		                nng_strerror(rv));
	}
	if ((rv = nng_tls_config_cert_key_file(cfg, c->cert_key_file, NULL)) !=
	    0) {
		nng_tls_config_free(cfg);
		return uns_fail(UNS_ETLS, "cannot load %s: %s",
		                c->cert_key_file, nng_strerror(rv));
	}
	if (c->ca_file && (rv = nng_tls_config_ca_file(cfg, c->ca_file)) != 0) {
		nng_tls_config_free(cfg);
		return uns_fail(UNS_ETLS, "cannot load CA %s: %s", c->ca_file,
		                nng_strerror(rv));
	}
	nng_tls_config_auth_mode(cfg, c->require_client_cert
	                                  ? NNG_TLS_AUTH_MODE_REQUIRED
	                              : c->ca_file ? NNG_TLS_AUTH_MODE_OPTIONAL
	                                           : NNG_TLS_AUTH_MODE_NONE);
	*out = cfg;
	return UNS_OK;
}

uns_err
uns_rpc_server_listen(uns_rpc_server *s, const char *url)
{
	nng_listener l;
	int rv;
	if (s->n_listeners == MAX_LISTENERS || s->started) {
		return uns_fail(UNS_EINVAL, "cannot add listener %s", url);
	}
	if ((rv = nng_listener_create(&l, s->sock, url)) != 0) {
		return uns_fail(UNS_EINVAL, "bad listen url %s: %s", url,
		                nng_strerror(rv));
	}
	nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, s->cfg.max_message_bytes);
	if (strncmp(url, "tls+", 4) == 0) {
		nng_tls_config *cfg = NULL;
		uns_err err = tls_config(s, &cfg);
		if (err != UNS_OK) {
			nng_listener_close(l);
			return err;
		}
		rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg);
	}
	if (rv == 0) {
		rv = nng_listener_start(l, 0);
	}
	if (rv != 0) {
		nng_listener_close(l);
		return uns_fail(uns_err_from_nng(rv), "cannot listen on %s: %s",
		                url, nng_strerror(rv));
	}
	s->listeners[s->n_listeners++] = l;
	nng_sockaddr sa;
	if (nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) == 0) {
		if (sa.s_family == NNG_AF_INET) {
			uns_hs_guard_port(s->guard, ntohs(sa.s_in.sa_port));
		} else if (sa.s_family == NNG_AF_INET6) {
			uns_hs_guard_port(s->guard, ntohs(sa.s_in6.sa_port));
		}
	}
	return UNS_OK;
}

static void
apply_defaults(uns_rpc_config *c)
{
	if (c->max_message_bytes == 0) {
		c->max_message_bytes = DEFAULT_MAX_MESSAGE;
	}
	if (c->contexts <= 0) {
		c->contexts = DEFAULT_CONTEXTS;
	}
	if (c->max_contexts <= 0) {
		c->max_contexts = DEFAULT_MAX_CTXS;
	}
	if (c->max_contexts < c->contexts) {
		c->max_contexts = c->contexts;
	}
	if (c->workers <= 0) {
		/* One per slot: a handler may block on an fsync (blocking
		 * writes) while the other slots' calls wait for a worker. */
		c->workers = c->contexts;
	}
	if (c->default_timeout_ms == 0) {
		c->default_timeout_ms = DEFAULT_TIMEOUT_MS;
	}
	if (c->drain_linger_ms == 0) {
		c->drain_linger_ms = DEFAULT_LINGER_MS;
	}
	if (c->handshake_timeout_ms == 0) {
		c->handshake_timeout_ms = DEFAULT_HANDSHAKE;
	}
}

static uns_err
set_inline_methods(uns_rpc_server *s)
{
	const uns_service_desc *d = s->svc.desc;
	s->inline_flags = calloc(d->n_methods ? d->n_methods : 1, 1);
	if (s->inline_flags == NULL) {
		return UNS_ENOMEM;
	}
	for (size_t i = 0; s->svc.inline_methods && s->svc.inline_methods[i];
	     i++) {
		const uns_method *m =
		    uns_service_find(d, s->svc.inline_methods[i]);
		if (m != NULL) {
			s->inline_flags[m - d->methods] = 1;
		}
	}
	return UNS_OK;
}

uns_err
uns_rpc_server_open(uns_rpc_server **out, const uns_rpc_config *cfg,
                    const uns_rpc_service *svc)
{
	uns_err err = UNS_ENOMEM;
	uns_rpc_server *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return uns_fail(UNS_ENOMEM, "out of memory");
	}
	s->cfg = *cfg;
	s->svc = *svc;
	apply_defaults(&s->cfg);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->idle_cv, NULL);
	int rv = nng_rep0_open(&s->sock);
	if (rv != 0) {
		err = uns_fail(uns_err_from_nng(rv), "rep socket: %s",
		               nng_strerror(rv));
		goto out;
	}
	if ((err = set_inline_methods(s)) != UNS_OK ||
	    (err = uns_hs_guard_open(&s->guard, s->cfg.handshake_timeout_ms)) !=
	        UNS_OK) {
		uns_fail(err, "out of memory");
		goto out;
	}
	nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_POST, pipe_event, s);
	nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, pipe_event, s);
	if ((err = uns_workers_open(&s->workers, s->cfg.workers,
	                            (size_t)s->cfg.contexts)) != UNS_OK) {
		uns_fail(err, "cannot set up %d contexts", s->cfg.contexts);
		goto out;
	}
	if (cfg->url && (err = uns_rpc_server_listen(s, cfg->url)) != UNS_OK) {
		goto out;
	}
	*out = s;
	return UNS_OK;
out:
	s->drained = 1;
	uns_rpc_server_close(s);
	return err;
}

void
uns_rpc_server_set_hooks(uns_rpc_server *s, const uns_rpc_hooks *h)
{
	s->hooks = *h;
}

uns_err
uns_rpc_server_start(uns_rpc_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->started = 1;
	fill_slots(s);
	int n = s->n_slots;
	pthread_mutex_unlock(&s->mu);
	if (n < s->cfg.contexts) {
		return uns_fail(UNS_ENOMEM, "cannot set up %d contexts",
		                s->cfg.contexts);
	}
	return UNS_OK;
}

int
uns_rpc_server_port(uns_rpc_server *s)
{
	nng_sockaddr sa;
	if (s->n_listeners == 0 ||
	    nng_listener_get_addr(s->listeners[0], NNG_OPT_LOCADDR, &sa) != 0) {
		return 0;
	}
	if (sa.s_family == NNG_AF_INET) {
		return ntohs(sa.s_in.sa_port);
	}
	if (sa.s_family == NNG_AF_INET6) {
		return ntohs(sa.s_in6.sa_port);
	}
	return 0;
}

void
uns_rpc_server_drain(uns_rpc_server *s)
{
	if (s->drained) {
		return;
	}
	pthread_mutex_lock(&s->mu);
	s->draining = 1;
	for (rpc_ctx *rc = s->all; rc != NULL; rc = rc->all_next) {
		if (rc->state == CTX_RECV) {
			nng_aio_cancel(rc->aio);
		}
	}
	while (s->n_idle < s->n_ctxs) {
		pthread_cond_wait(&s->idle_cv, &s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	if (s->started) {
		nng_msleep((nng_duration)s->cfg.drain_linger_ms);
	}
	/* Listeners close only now: closing one also closes the pipes it
	 * accepted, and rep0 then reports replies still queued on them as
	 * sent. Connections made during the drain are never read from. */
	for (int i = 0; i < s->n_listeners; i++) {
		nng_listener_close(s->listeners[i]);
	}
	close_pipes(s);
	s->drained = 1;
}

void
uns_rpc_server_close(uns_rpc_server *s)
{
	if (s == NULL) {
		return;
	}
	uns_rpc_server_drain(s);
	if (nng_socket_id(s->sock) > 0) {
		nng_close(s->sock);
	}
	uns_hs_guard_close(s->guard); /* no pipe events after the close */
	while (s->all != NULL) {
		rpc_ctx *rc = s->all;
		s->all = rc->all_next;
		nng_aio_free(rc->aio);
		uns_arena_fini(&rc->arena);
		free(rc);
	}
	uns_workers_close(s->workers);
	free(s->pipes);
	free(s->inline_flags);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->idle_cv);
	free(s);
}

void
uns_rpc_server_stats(uns_rpc_server *s, uns_rpc_stats *out)
{
	out->received = atomic_load(&s->received);
	out->replied = atomic_load(&s->replied);
	out->failed = atomic_load(&s->failed);
	out->rejected = atomic_load(&s->rejected);
	pthread_mutex_lock(&s->mu);
	out->contexts = (uint64_t)s->n_ctxs;
	pthread_mutex_unlock(&s->mu);
}
