/*
 * call.c — see call.h.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>

#include "call.h"
#include "envelope.h"

void *
uns_call_alloc(uns_call *call, size_t n)
{
	void *p = uns_arena_alloc(call->arena, n);
	if (p) {
		memset(p, 0, n);
	}
	return p;
}

char *
uns_call_strdup(uns_call *call, const char *s)
{
	return uns_arena_strdup(call->arena, s);
}

struct uns_call_cleanup {
	struct uns_call_cleanup *next;
	uns_call_cleanup_fn fn;
	void *arg;
};

uns_err
uns_call_defer(uns_call *call, uns_call_cleanup_fn fn, void *arg)
{
	struct uns_call_cleanup *c = uns_arena_alloc(call->arena, sizeof(*c));
	if (c == NULL) {
		return UNS_ENOMEM;
	}
	c->fn = fn;
	c->arg = arg;
	c->next = call->cleanups;
	call->cleanups = c;
	return UNS_OK;
}

uns_err
uns_call_suspend(uns_call *call)
{
	atomic_store(&call->holds, 2);
	return UNS_CALL_PENDING;
}

void
uns_call_resume(uns_call *call, uns_err code)
{
	call->resumed(call, code);
}

void
uns_call_on_hangup(uns_call *call, uns_call_cleanup_fn fn, void *arg)
{
	call->hangup_fn = fn;
	call->hangup_arg = arg;
	if (call->watch_hangup != NULL) {
		call->watch_hangup(call);
	}
}

void
uns_call_run_cleanups(uns_call *call)
{
	while (call->cleanups) {
		struct uns_call_cleanup *c = call->cleanups;
		call->cleanups = c->next;
		c->fn(c->arg);
	}
}

void *
uns_call_ctx(uns_call *call)
{
	return call->service_ctx;
}

const char *
uns_call_metadata(uns_call *call, const char *key)
{
	const ProtobufCBinaryData *v = uns_request_metadata(call->env, key);
	if (v == NULL) {
		return NULL;
	}
	char *s = uns_arena_alloc(call->arena, v->len + 1);
	if (s == NULL) {
		return NULL;
	}
	memcpy(s, v->data, v->len);
	s[v->len] = '\0';
	return s;
}

const char *
uns_call_bearer(uns_call *call)
{
	const char *v = uns_call_metadata(call, UNS_MD_AUTHORIZATION);
	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0) {
		return NULL;
	}
	return v + 7;
}

const char *
uns_call_request_id(uns_call *call)
{
	return call->env ? call->env->request_id : "";
}

uint32_t
uns_call_time_left(uns_call *call)
{
	nng_time now = nng_clock();
	return now >= call->deadline ? 0 : (uint32_t)(call->deadline - now);
}

int
uns_call_peer_verified(uns_call *call)
{
	bool verified = false;
	if (nng_pipe_get_bool(call->pipe, NNG_OPT_TLS_VERIFIED, &verified) !=
	    0) {
		return 0;
	}
	return verified;
}

/* An IPv4 address as it is, an IPv6 one cut to its /64 (one host's share
 * of an IPv6 network), into out; "" when cap is too small. */
static void
address_key(int family, const void *addr, char *out, size_t cap)
{
	uint8_t a6[16];
	if (family == AF_INET6) {
		memcpy(a6, addr, 8);
		memset(a6 + 8, 0, 8);
		addr = a6;
	}
	if (inet_ntop(family, addr, out, (socklen_t)cap) == NULL && cap > 0) {
		out[0] = '\0';
	}
}

/* The embedded gateway's word for its HTTP client (UNS_MD_CLIENT_ADDRESS),
 * as address_key writes it; "" when it sent none or not an address. */
static void
forwarded_key(uns_call *call, char *out, size_t cap)
{
	const char *v = uns_call_metadata(call, UNS_MD_CLIENT_ADDRESS);
	uint8_t a[16];
	snprintf(out, cap, "%s", "");
	if (v != NULL && inet_pton(AF_INET, v, a) == 1) {
		address_key(AF_INET, a, out, cap);
	} else if (v != NULL && inet_pton(AF_INET6, v, a) == 1) {
		address_key(AF_INET6, a, out, cap);
	}
}

void
uns_call_source(uns_call *call, char *out, size_t cap)
{
	nng_sockaddr sa;
	uint64_t uid = 0;
	if (nng_pipe_get_addr(call->pipe, NNG_OPT_REMADDR, &sa) != 0) {
		snprintf(out, cap, "%s", "?");
		return;
	}
	switch (sa.s_family) {
	case NNG_AF_INPROC: /* only this process dials inproc:// */
		forwarded_key(call, out, cap);
		break;
	case NNG_AF_INET:
		address_key(AF_INET, &sa.s_in.sa_addr, out, cap);
		break;
	case NNG_AF_INET6:
		address_key(AF_INET6, sa.s_in6.sa_addr, out, cap);
		break;
	case NNG_AF_IPC:
	case NNG_AF_ABSTRACT:
		if (nng_pipe_get_uint64(call->pipe, NNG_OPT_IPC_PEER_UID,
		                        &uid) == 0) {
			snprintf(out, cap, "ipc:uid=%llu",
			         (unsigned long long)uid);
		} else {
			snprintf(out, cap, "%s", "ipc");
		}
		break;
	default:
		snprintf(out, cap, "%s", "?");
	}
}

uns_err
uns_call_fail(uns_call *call, uns_err code, const char *field, const char *fmt,
              ...)
{
	char reason[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (field) {
		snprintf(call->message, sizeof(call->message), "%s: %s", field,
		         reason);
	} else {
		snprintf(call->message, sizeof(call->message), "%s", reason);
	}
	if (field && call->n_details < UNS_CALL_MAX_DETAILS) {
		Uns__V1__ErrorDetail *d = &call->details[call->n_details];
		uns__v1__error_detail__init(d);
		d->field = uns_call_strdup(call, field);
		d->reason = uns_call_strdup(call, reason);
		if (d->field && d->reason) {
			call->detail_ptrs[call->n_details++] = d;
		}
	}
	return code;
}
