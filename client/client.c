/*
 * client.c — the libuns client: one req0 socket, one NNG context per call.
 *
 * Each in-flight call owns a "slot" (context, aio, arena) taken from a free
 * list, so a call allocates nothing but its NNG message and the reply the
 * caller keeps. A slot's aio callback is a two-state machine (SEND, then
 * RECV); synchronous calls are asynchronous calls plus a wait on the slot's
 * condition variable, so both share one path.
 *
 * The request envelope is packed without its payload, then the payload
 * field's tag and length are appended and the request message is packed
 * straight into the NNG message: the payload is never copied.
 *
 * Transport resends are off (NNG_OPT_REQ_RESENDTIME infinite): NNG would
 * otherwise replay a Post on reconnect, and an oversized request would set
 * off a reconnect storm. Sizes are checked here before sending instead.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>

#include "arena.h"
#include "envelope.h"
#include "errors.h"
#include "uns/client.h"
#include "wire.h"

#define DEFAULT_MAX_MESSAGE (4u << 20)
#define DEFAULT_TIMEOUT_MS  10000u

enum phase { PHASE_SEND, PHASE_RECV };

typedef struct slot {
	uns_client *client;
	nng_ctx ctx;
	nng_aio *aio;
	struct slot *next_free;
	uns_arena arena;
	enum phase phase;
	nng_time deadline;
	const uns_method *method;
	/* async completion */
	uns_call_done done;
	uns_generic_fn fn;
	void *arg;
	/* sync completion */
	int sync;
	int finished;
	uns_err err;
	ProtobufCMessage *resp;
	char message[512];
	pthread_cond_t cv;
	/* recording: a copy of the request as sent */
	uint8_t *sent;
	size_t sent_len;
	/* raw calls (replay): the reply envelope's bytes, not decoded */
	int raw;
	uint8_t *raw_reply;
	size_t raw_len;
} slot;

struct uns_client {
	nng_socket sock;
	nng_dialer dialer;
	pthread_mutex_t mu;
	pthread_cond_t idle_cv;
	slot *free_slots;
	slot **all_slots;
	size_t n_slots, cap_slots;
	int inflight;
	int closing;
	size_t max_message;
	uint32_t default_timeout_ms;
	unsigned long long next_id;
	char id_prefix[12];
	char url[256];
	uns_exchange_fn on_exchange; /* NULL = not recording */
	void *on_exchange_arg;
};

static uns_exchange_fn default_recorder;
static void *default_recorder_arg;

void
uns_set_default_recorder(uns_exchange_fn fn, void *arg)
{
	default_recorder = fn;
	default_recorder_arg = arg;
}

/* --- slots ------------------------------------------------------------- */

static void slot_cb(void *arg);

static uns_err
slot_new(uns_client *c, slot **out)
{
	/* Zeroed but for the arena's inline block (uns_arena_init sets the
	 * rest): a call touches only what it uses of it, and untouched pages
	 * cost no memory while the call waits (a long poll). */
	slot *s = malloc(sizeof(*s));
	if (s == NULL) {
		return UNS_ENOMEM;
	}
	memset(s, 0, offsetof(slot, arena));
	memset(&s->arena + 1, 0,
	       sizeof(*s) - offsetof(slot, arena) - sizeof(s->arena));
	int rv = nng_ctx_open(&s->ctx, c->sock);
	if (rv == 0 && (rv = nng_aio_alloc(&s->aio, slot_cb, s)) != 0) {
		nng_ctx_close(s->ctx);
	}
	if (rv != 0) {
		free(s);
		return uns_err_from_nng(rv);
	}
	s->client = c;
	uns_arena_init(&s->arena, 0);
	pthread_cond_init(&s->cv, NULL);
	*out = s;
	return UNS_OK;
}

/* Called with c->mu held. */
static uns_err
slot_take(uns_client *c, slot **out)
{
	if (c->closing) {
		return UNS_ECLOSED;
	}
	slot *s = c->free_slots;
	if (s != NULL) {
		c->free_slots = s->next_free;
	} else {
		if (c->n_slots == c->cap_slots) {
			size_t cap = c->cap_slots ? c->cap_slots * 2 : 16;
			slot **all = realloc(c->all_slots, cap * sizeof(*all));
			if (all == NULL) {
				return UNS_ENOMEM;
			}
			c->all_slots = all;
			c->cap_slots = cap;
		}
		uns_err err = slot_new(c, &s);
		if (err != UNS_OK) {
			return err;
		}
		c->all_slots[c->n_slots++] = s;
	}
	c->inflight++;
	*out = s;
	return UNS_OK;
}

static void
slot_give(uns_client *c, slot *s)
{
	uns_arena_reset(&s->arena);
	pthread_mutex_lock(&c->mu);
	s->next_free = c->free_slots;
	c->free_slots = s;
	if (--c->inflight == 0) {
		pthread_cond_broadcast(&c->idle_cv);
	}
	pthread_mutex_unlock(&c->mu);
}

static void
slot_free(slot *s)
{
	nng_aio_free(s->aio);
	nng_ctx_close(s->ctx);
	uns_arena_fini(&s->arena);
	pthread_cond_destroy(&s->cv);
	free(s);
}

/* --- completion -------------------------------------------------------- */

/* Ends the call in slot s: wakes a synchronous caller, or runs the async
 * callback and returns the slot. */
static void
finish(slot *s, uns_err err, const char *message, ProtobufCMessage *resp)
{
	uns_client *c = s->client;
	free(s->sent);
	s->sent = NULL;
	if (s->sync) {
		pthread_mutex_lock(&c->mu);
		s->err = err;
		s->resp = resp;
		snprintf(s->message, sizeof(s->message), "%s", message);
		s->finished = 1;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&c->mu);
		return;
	}
	uns_call_done done = s->done;
	uns_generic_fn fn = s->fn;
	void *arg = s->arg;
	slot_give(c, s);
	done(err, message, resp, fn, arg);
}

static void
finish_nng(slot *s, int rv)
{
	char msg[300];
	uns_err err = uns_err_from_nng(rv);
	switch (err) {
	case UNS_DEADLINE_EXCEEDED:
		snprintf(msg, sizeof(msg), "%s: no reply before the deadline",
		         s->method->name);
		break;
	case UNS_UNAVAILABLE:
		snprintf(msg, sizeof(msg),
		         "%s: connection to %s lost before the reply",
		         s->method->name, s->client->url);
		break;
	default:
		snprintf(msg, sizeof(msg), "%s: %s", s->method->name,
		         nng_strerror(rv));
	}
	finish(s, err, msg, NULL);
}

/* A raw call's reply: a copy of the envelope bytes, checked only as an
 * envelope. */
static void
finish_raw(slot *s, nng_msg *m)
{
	char why[300];
	Uns__V1__ResponseEnvelope *env = NULL;
	uns_err err = uns_response_decode(nng_msg_body(m), nng_msg_len(m),
	                                  &s->arena.pb, &env, why, sizeof(why));
	s->raw_len = nng_msg_len(m);
	s->raw_reply =
	    err == UNS_OK ? malloc(s->raw_len ? s->raw_len : 1) : NULL;
	if (s->raw_reply) {
		memcpy(s->raw_reply, nng_msg_body(m), s->raw_len);
	} else if (err == UNS_OK) {
		err = UNS_ENOMEM;
		snprintf(why, sizeof(why), "out of memory");
	}
	nng_msg_free(m);
	finish(s, err == UNS_OK ? UNS_OK : UNS_EPROTO, err == UNS_OK ? "" : why,
	       NULL);
}

static void
finish_reply(slot *s, nng_msg *m)
{
	char why[300];
	Uns__V1__ResponseEnvelope *env = NULL;
	uns_err err = uns_response_decode(nng_msg_body(m), nng_msg_len(m),
	                                  &s->arena.pb, &env, why, sizeof(why));
	if (err != UNS_OK) {
		nng_msg_free(m);
		finish(s, UNS_EPROTO, why, NULL);
		return;
	}
	ProtobufCMessage *resp = NULL;
	err = (uns_err)env->code;
	if (err == UNS_OK) {
		resp = protobuf_c_message_unpack(s->method->output, NULL,
		                                 env->payload.len,
		                                 env->payload.data);
		if (resp == NULL) {
			snprintf(why, sizeof(why), "reply payload is not a %s",
			         s->method->output->name);
			err = UNS_EPROTO;
		}
	}
	const char *message = err == UNS_EPROTO ? why : env->message;
	nng_msg_free(m);
	finish(s, err, message, resp);
}

static nng_duration
remaining_ms(nng_time deadline)
{
	nng_time now = nng_clock();
	return now >= deadline ? 0 : (nng_duration)(deadline - now);
}

static void
slot_cb(void *arg)
{
	slot *s = arg;
	int rv = nng_aio_result(s->aio);
	if (s->phase == PHASE_SEND) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(s->aio));
			finish_nng(s, rv);
			return;
		}
		s->phase = PHASE_RECV;
		nng_duration left = remaining_ms(s->deadline);
		if (left == 0) {
			finish_nng(s, NNG_ETIMEDOUT);
			return;
		}
		nng_aio_set_timeout(s->aio, left);
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	if (rv != 0) {
		finish_nng(s, rv);
		return;
	}
	nng_msg *m = nng_aio_get_msg(s->aio);
	if (s->sent != NULL) {
		s->client->on_exchange(s->client->on_exchange_arg, s->sent,
		                       s->sent_len, nng_msg_body(m),
		                       nng_msg_len(m));
	}
	s->raw ? finish_raw(s, m) : finish_reply(s, m);
}

/* --- request building -------------------------------------------------- */

static uns_err
build_request(uns_client *c, slot *s, const ProtobufCMessage *req,
              const uns_call_opts *opts, uint32_t timeout_ms, nng_msg **out)
{
	char id[48];
	const char *request_id = opts ? opts->request_id : NULL;
	if (request_id == NULL) {
		pthread_mutex_lock(&c->mu);
		unsigned long long n = ++c->next_id;
		pthread_mutex_unlock(&c->mu);
		snprintf(id, sizeof(id), "%s-%llu", c->id_prefix, n);
		request_id = id;
	}
	uns_wire_request head = {
	    .method = s->method->name,
	    .request_id = request_id,
	    .timeout_ms = timeout_ms,
	    .token = opts ? opts->token : NULL,
	    .metadata = opts ? opts->metadata : NULL,
	    .n_metadata = opts ? opts->n_metadata : 0,
	};
	return uns_wire_pack_request(&head, req, &s->arena, c->max_message,
	                             out);
}

static uns_err
start_call(uns_client *c, const uns_method *method, const ProtobufCMessage *req,
           const uns_call_opts *opts, slot *s)
{
	uint32_t timeout_ms =
	    opts && opts->timeout_ms ? opts->timeout_ms : c->default_timeout_ms;
	nng_msg *m = NULL;
	s->method = method;
	s->phase = PHASE_SEND;
	s->deadline = nng_clock() + timeout_ms;
	s->finished = 0;
	s->resp = NULL;
	uns_err err = build_request(c, s, req, opts, timeout_ms, &m);
	if (err != UNS_OK) {
		return err;
	}
	if (c->on_exchange != NULL && (s->sent = malloc(nng_msg_len(m)))) {
		memcpy(s->sent, nng_msg_body(m), nng_msg_len(m));
		s->sent_len = nng_msg_len(m);
	}
	nng_aio_set_msg(s->aio, m);
	nng_aio_set_timeout(s->aio, (nng_duration)timeout_ms);
	nng_ctx_send(s->ctx, s->aio);
	return UNS_OK;
}

/* --- public calls ------------------------------------------------------ */

/* Waits for the synchronous call in s to finish, and then for its aio to
 * be idle: the reply can be stashed by NNG before the send's callback has
 * run, so that callback may still be inside nng_ctx_recv when the reply's
 * callback wakes us. Until it has returned, the slot must not be reused
 * and the client must not be closed (seen as an NNG mutex panic in
 * unsctl under the sanitizers). */
static void
wait_finished(uns_client *c, slot *s)
{
	pthread_mutex_lock(&c->mu);
	while (!s->finished) {
		pthread_cond_wait(&s->cv, &c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	nng_aio_wait(s->aio);
}

static uns_err
check_call_args(uns_client *c, const uns_method *method,
                const ProtobufCMessage *req)
{
	if (c == NULL || method == NULL || req == NULL) {
		return uns_fail(UNS_EINVAL,
		                "client, method and request needed");
	}
	if (req->descriptor != method->input) {
		return uns_fail(UNS_EINVAL, "%s takes a %s, not a %s",
		                method->name, method->input->name,
		                req->descriptor->name);
	}
	return UNS_OK;
}

uns_err
uns_client_call(uns_client *c, const uns_method *method,
                const ProtobufCMessage *req, ProtobufCMessage **resp,
                const uns_call_opts *opts)
{
	slot *s = NULL;
	uns_err err = check_call_args(c, method, req);
	if (err != UNS_OK) {
		return err;
	}
	pthread_mutex_lock(&c->mu);
	err = slot_take(c, &s);
	pthread_mutex_unlock(&c->mu);
	if (err != UNS_OK) {
		return uns_fail(err, "%s: %s", method->name, uns_strerror(err));
	}
	s->sync = 1;
	err = start_call(c, method, req, opts, s);
	if (err != UNS_OK) {
		s->sync = 0;
		slot_give(c, s);
		return err; /* the message is set by uns_wire_pack_request */
	}
	wait_finished(c, s);
	err = s->err;
	ProtobufCMessage *r = s->resp;
	if (err != UNS_OK) {
		uns_fail(err, "%s", s->message);
	} else {
		uns_clear_message();
	}
	s->sync = 0;
	slot_give(c, s);
	if (err == UNS_OK) {
		*resp = r;
	}
	return err;
}

uns_err
uns_client_call_async(uns_client *c, const uns_method *method,
                      const ProtobufCMessage *req, const uns_call_opts *opts,
                      uns_call_done done, uns_generic_fn fn, void *arg)
{
	slot *s = NULL;
	uns_err err = check_call_args(c, method, req);
	if (err != UNS_OK || done == NULL) {
		return err != UNS_OK ? err : UNS_EINVAL;
	}
	pthread_mutex_lock(&c->mu);
	err = slot_take(c, &s);
	pthread_mutex_unlock(&c->mu);
	if (err != UNS_OK) {
		return uns_fail(err, "%s: %s", method->name, uns_strerror(err));
	}
	s->sync = 0;
	s->done = done;
	s->fn = fn;
	s->arg = arg;
	err = start_call(c, method, req, opts, s);
	if (err != UNS_OK) {
		slot_give(c, s);
	}
	return err;
}

static const uns_method raw_method = {"(replayed request)", NULL, NULL, NULL};

uns_err
uns_client_call_raw(uns_client *c, const uint8_t *req, size_t req_len,
                    uint32_t timeout_ms, uint8_t **resp, size_t *resp_len)
{
	slot *s = NULL;
	nng_msg *m = NULL;
	if (c == NULL || req == NULL || resp == NULL || resp_len == NULL) {
		return uns_fail(UNS_EINVAL, "client, request and reply needed");
	}
	if (req_len > c->max_message) {
		return uns_fail(UNS_RESOURCE_EXHAUSTED,
		                "request of %zu bytes exceeds the limit of %zu "
		                "bytes",
		                req_len, c->max_message);
	}
	if (nng_msg_alloc(&m, 0) != 0) {
		return uns_fail(UNS_ENOMEM, "out of memory");
	}
	if (nng_msg_append(m, req, req_len) != 0) {
		nng_msg_free(m);
		return uns_fail(UNS_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&c->mu);
	uns_err err = slot_take(c, &s);
	pthread_mutex_unlock(&c->mu);
	if (err != UNS_OK) {
		nng_msg_free(m);
		return uns_fail(err, "%s", uns_strerror(err));
	}
	timeout_ms = timeout_ms ? timeout_ms : c->default_timeout_ms;
	s->sync = 1;
	s->raw = 1;
	s->method = &raw_method;
	s->phase = PHASE_SEND;
	s->deadline = nng_clock() + timeout_ms;
	s->finished = 0;
	s->raw_reply = NULL;
	if (c->on_exchange != NULL &&
	    (s->sent = malloc(req_len ? req_len : 1))) {
		memcpy(s->sent, req, req_len);
		s->sent_len = req_len;
	}
	nng_aio_set_msg(s->aio, m);
	nng_aio_set_timeout(s->aio, (nng_duration)timeout_ms);
	nng_ctx_send(s->ctx, s->aio);
	wait_finished(c, s);
	err = s->err;
	if (err == UNS_OK) {
		uns_clear_message();
		*resp = s->raw_reply;
		*resp_len = s->raw_len;
	} else {
		uns_fail(err, "%s", s->message);
	}
	s->raw_reply = NULL;
	s->raw = 0;
	s->sync = 0;
	slot_give(c, s);
	return err;
}

/* --- open / close ------------------------------------------------------ */

/* The host part of scheme://host:port, for the TLS server name. */
static void
url_host(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	const char *end;
	if (*p == '[') {
		p++;
		end = strchr(p, ']');
	} else {
		end = strrchr(p, ':');
	}
	size_t n = end ? (size_t)(end - p) : strlen(p);
	if (n >= cap) {
		n = cap - 1;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

static uns_err
setup_tls(uns_client *c, const char *url, const uns_client_opts *o)
{
	nng_tls_config *cfg = NULL;
	char host[256];
	int rv;
	if (o == NULL || o->ca_file == NULL) {
		return uns_fail(UNS_EINVAL, "%s: a CA file is needed for TLS",
		                url);
	}
	url_host(url, host, sizeof(host));
	const char *name = o->server_name ? o->server_name : host;
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0) {
		return uns_fail(uns_err_from_nng(rv), "tls: %s",
		                nng_strerror(rv));
	}
	if ((rv = nng_tls_config_ca_file(cfg, o->ca_file)) != 0) {
		nng_tls_config_free(cfg);
		return uns_fail(UNS_ETLS, "cannot load CA file %s: %s",
		                o->ca_file, nng_strerror(rv));
	}
	if (o->cert_key_file && (rv = nng_tls_config_cert_key_file(
	                             cfg, o->cert_key_file, NULL)) != 0) {
		nng_tls_config_free(cfg);
		return uns_fail(UNS_ETLS, "cannot load certificate %s: %s",
		                o->cert_key_file, nng_strerror(rv));
	}
	nng_tls_config_server_name(cfg, name);
	nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	rv = nng_dialer_set_ptr(c->dialer, NNG_OPT_TLS_CONFIG, cfg);
	nng_tls_config_free(cfg); /* the dialer holds its own reference */
	if (rv != 0) {
		return uns_fail(uns_err_from_nng(rv), "tls: %s",
		                nng_strerror(rv));
	}
	return UNS_OK;
}

static uns_err
dial_error(const char *url, int tls, int rv)
{
	uns_err err = uns_err_from_nng(rv);
	if (tls && (err == UNS_ETLS || rv == NNG_ECONNSHUT ||
	            rv == NNG_ECONNRESET || rv == NNG_ECLOSED)) {
		return uns_fail(
		    UNS_ETLS,
		    "tls handshake with %s failed: the server "
		    "certificate is not trusted or not valid for this "
		    "name, or the server requires a client "
		    "certificate (%s)",
		    url, nng_strerror(rv));
	}
	if (err == UNS_ECONNECT || err == UNS_UNAVAILABLE) {
		return uns_fail(UNS_ECONNECT, "cannot connect to %s: %s", url,
		                nng_strerror(rv));
	}
	return uns_fail(err, "cannot dial %s: %s", url, nng_strerror(rv));
}

static uns_err
client_dial(uns_client *c, const char *url, const uns_client_opts *o)
{
	int rv;
	int tls = strncmp(url, "tls+", 4) == 0;
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		return uns_fail(uns_err_from_nng(rv), "req socket: %s",
		                nng_strerror(rv));
	}
	nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
	                  NNG_DURATION_INFINITE);
	if ((rv = nng_dialer_create(&c->dialer, c->sock, url)) != 0) {
		return uns_fail(UNS_EINVAL, "bad url %s: %s", url,
		                nng_strerror(rv));
	}
	nng_dialer_set_size(c->dialer, NNG_OPT_RECVMAXSZ, c->max_message);
	nng_dialer_set_ms(c->dialer, NNG_OPT_RECONNMINT, 50);
	nng_dialer_set_ms(c->dialer, NNG_OPT_RECONNMAXT, 2000);
	if (tls) {
		uns_err err = setup_tls(c, url, o);
		if (err != UNS_OK) {
			return err;
		}
	}
	int lazy = o && o->lazy_connect;
	if ((rv = nng_dialer_start(c->dialer, lazy ? NNG_FLAG_NONBLOCK : 0)) !=
	    0) {
		return dial_error(url, tls, rv);
	}
	return UNS_OK;
}

uns_err
uns_client_open(uns_client **out, const char *url, const uns_client_opts *o)
{
	if (out == NULL || url == NULL) {
		return uns_fail(UNS_EINVAL, "uns_client_open: url needed");
	}
	uns_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return uns_fail(UNS_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->idle_cv, NULL);
	c->max_message = o && o->max_message_bytes ? o->max_message_bytes
	                                           : DEFAULT_MAX_MESSAGE;
	c->default_timeout_ms = o && o->default_timeout_ms
	                            ? o->default_timeout_ms
	                            : DEFAULT_TIMEOUT_MS;
	c->on_exchange =
	    o && o->on_exchange ? o->on_exchange : default_recorder;
	c->on_exchange_arg =
	    o && o->on_exchange ? o->on_exchange_arg : default_recorder_arg;
	snprintf(c->url, sizeof(c->url), "%s", url);
	snprintf(c->id_prefix, sizeof(c->id_prefix), "%08x",
	         (unsigned)nng_random());
	uns_err err = client_dial(c, url, o);
	if (err != UNS_OK) {
		uns_client_close(c);
		return err;
	}
	*out = c;
	return UNS_OK;
}

void
uns_client_close(uns_client *c)
{
	if (c == NULL) {
		return;
	}
	pthread_mutex_lock(&c->mu);
	c->closing = 1;
	pthread_mutex_unlock(&c->mu);
	if (nng_socket_id(c->sock) > 0) {
		nng_close(c->sock); /* fails in-flight calls with ECLOSED */
	}
	pthread_mutex_lock(&c->mu);
	while (c->inflight > 0) {
		pthread_cond_wait(&c->idle_cv, &c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	for (size_t i = 0; i < c->n_slots; i++) {
		slot_free(c->all_slots[i]);
	}
	free(c->all_slots);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->idle_cv);
	free(c);
}
