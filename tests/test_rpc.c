/*
 * test_rpc.c — the RPC layer over real sockets: every status path of the
 * runtime, TLS (wrong CA, wrong name, mutual TLS), many concurrent calls,
 * oversized messages, the async contract.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "testutil.h"

#include "call.h"
#include "envelope.h"
#include "uns_stubs.h"
#include "wire.h"

static char cert_dir[256];

static int
setup_certs(void **state)
{
	(void)state;
	ut_mkdtemp(cert_dir, sizeof(cert_dir));
	ut_make_certs(cert_dir);
	return 0;
}

static int
teardown_certs(void **state)
{
	(void)state;
	ut_rmdir(cert_dir);
	return 0;
}

/* --- raw access, for what the typed client refuses to send ------------ */

static nng_socket
raw_dial(const char *url)
{
	nng_socket s;
	assert_int_equal(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
	assert_int_equal(nng_dial(s, url, NULL, 0), 0);
	return s;
}

/* Sends bytes, returns the decoded response envelope. */
static Uns__V1__ResponseEnvelope *
raw_call(nng_socket s, const void *bytes, size_t len)
{
	char why[256];
	nng_msg *m;
	assert_int_equal(nng_msg_alloc(&m, len), 0);
	memcpy(nng_msg_body(m), bytes, len);
	assert_int_equal(nng_sendmsg(s, m, 0), 0);
	assert_int_equal(nng_recvmsg(s, &m, 0), 0);
	Uns__V1__ResponseEnvelope *env = NULL;
	assert_int_equal(uns_response_decode(nng_msg_body(m), nng_msg_len(m),
	                                     NULL, &env, why, sizeof(why)),
	                 UNS_OK);
	nng_msg_free(m);
	return env;
}

static Uns__V1__ResponseEnvelope *
raw_envelope_call(nng_socket s, const char *method, uint32_t timeout_ms,
                  const uint8_t *payload, size_t len)
{
	Uns__V1__RequestEnvelope env = UNS__V1__REQUEST_ENVELOPE__INIT;
	env.method = (char *)method;
	env.request_id = "raw-1";
	env.timeout_ms = timeout_ms;
	env.payload.data = (uint8_t *)payload;
	env.payload.len = len;
	size_t n = uns__v1__request_envelope__get_packed_size(&env);
	uint8_t *buf = malloc(n);
	uns__v1__request_envelope__pack(&env, buf);
	Uns__V1__ResponseEnvelope *r = raw_call(s, buf, n);
	free(buf);
	return r;
}

static void
expect_serving(uns_client *c)
{
	Uns__V1__HealthRequest req = UNS__V1__HEALTH_REQUEST__INIT;
	Uns__V1__HealthResponse *resp = NULL;
	assert_int_equal(uns_notifications_health(c, &req, &resp, NULL),
	                 UNS_OK);
	assert_int_equal(resp->status,
	                 UNS__V1__SERVING_STATUS__SERVING_STATUS_SERVING);
	assert_string_equal(resp->version, UNS_VERSION);
	uns__v1__health_response__free_unpacked(resp, NULL);
}

/* --- status paths ------------------------------------------------------ */

static void
test_health_and_echo(void **state)
{
	(void)state;
	ut_server ts;
	ut_server_start(&ts, "tcp", NULL, 0, NULL);
	uns_client *c = ut_client(&ts, NULL);
	expect_serving(c);

	Uns__V1__EchoRequest req = UNS__V1__ECHO_REQUEST__INIT;
	Uns__V1__EchoResponse *resp = NULL;
	req.data.data = (uint8_t *)"hello";
	req.data.len = 5;
	assert_int_equal(uns_notifications_echo(c, &req, &resp, NULL), UNS_OK);
	assert_int_equal(resp->data.len, 5);
	assert_memory_equal(resp->data.data, "hello", 5);
	uns__v1__echo_response__free_unpacked(resp, NULL);

	Uns__V1__HealthRequest h = UNS__V1__HEALTH_REQUEST__INIT;
	Uns__V1__HealthResponse *hr = NULL;
	h.service = "no.such.Service";
	assert_int_equal(uns_notifications_health(c, &h, &hr, NULL),
	                 UNS_NOT_FOUND);
	assert_string_equal(uns_last_message(),
	                    "service: unknown service \"no.such.Service\"");
	uns_client_close(c);
	ut_server_stop(&ts);
}

/* A server of our own handlers (no store) and one client of it. */
typedef struct custom {
	uns_service *svc;
	uns_rpc_server *rpc;
	uns_client *c;
	char url[64];
} custom;

static void
custom_start(custom *x, const uns_notifications_handlers *h, int workers,
             int (*runs_inline)(void *, const uns_method *,
                                const ProtobufCMessage *))
{
	assert_int_equal(uns_service_open(&x->svc, NULL), UNS_OK);
	uns_rpc_config cfg = {.url = "tcp://127.0.0.1:0", .workers = workers};
	uns_rpc_service rs = {.desc = &uns_notifications_service,
	                      .handlers = h,
	                      .ctx = x->svc,
	                      .runs_inline = runs_inline};
	assert_int_equal(uns_rpc_server_open(&x->rpc, &cfg, &rs), UNS_OK);
	uns_rpc_server_start(x->rpc);
	snprintf(x->url, sizeof(x->url), "tcp://127.0.0.1:%d",
	         uns_rpc_server_port(x->rpc));
	x->c = NULL;
	assert_int_equal(uns_client_open(&x->c, x->url, NULL), UNS_OK);
}

static void
custom_stop(custom *x)
{
	uns_client_close(x->c);
	uns_rpc_server_close(x->rpc);
	uns_service_close(x->svc);
}

static const uns_notifications_handlers health_only;

static void
test_unimplemented(void **state)
{
	(void)state;
	custom x;
	custom_start(&x, &health_only, 0, NULL);
	uns_client *c = x.c;
	/* A method of the service whose handler slot is empty. */
	Uns__V1__EchoRequest req = UNS__V1__ECHO_REQUEST__INIT;
	Uns__V1__EchoResponse *resp = NULL;
	assert_int_equal(uns_notifications_echo(c, &req, &resp, NULL),
	                 UNS_UNIMPLEMENTED);
	assert_string_equal(uns_last_message(),
	                    "/uns.v1.Notifications/Echo is not implemented");

	/* A method the service does not have at all. */
	nng_socket s = raw_dial(x.url);
	Uns__V1__ResponseEnvelope *r =
	    raw_envelope_call(s, "/uns.v1.Notifications/Nope", 0, NULL, 0);
	assert_int_equal(r->code, UNS_UNIMPLEMENTED);
	assert_string_equal(r->message,
	                    "unknown method /uns.v1.Notifications/Nope");
	assert_string_equal(r->request_id, "raw-1");
	uns__v1__response_envelope__free_unpacked(r, NULL);
	nng_close(s);
	custom_stop(&x);
}

static void
test_no_store_is_unavailable(void **state)
{
	(void)state;
	ut_server ts;
	ut_server_start(&ts, "tcp", NULL, 0, NULL);
	uns_client *c = ut_client(&ts, NULL);
	Uns__V1__PostRequest req = UNS__V1__POST_REQUEST__INIT;
	Uns__V1__PostResponse *resp = NULL;
	assert_int_equal(uns_notifications_post(c, &req, &resp, NULL),
	                 UNS_UNAVAILABLE);
	assert_string_equal(uns_last_message(), "no store configured");
	uns_client_close(c);
	ut_server_stop(&ts);
}

static void
test_garbage_keeps_serving(void **state)
{
	(void)state;
	ut_server ts;
	ut_server_start(&ts, "tcp", NULL, 0, NULL);
	nng_socket s = raw_dial(ts.url);
	for (int i = 0; i < 50; i++) {
		uint8_t junk[64];
		for (size_t j = 0; j < sizeof(junk); j++) {
			junk[j] = (uint8_t)(nng_random() | 0x80);
		}
		Uns__V1__ResponseEnvelope *r =
		    raw_call(s, junk, 1 + (size_t)i % sizeof(junk));
		assert_int_equal(r->code, UNS_INVALID_ARGUMENT);
		assert_non_null(strstr(r->message, "envelope"));
		uns__v1__response_envelope__free_unpacked(r, NULL);
	}
	/* A valid envelope whose payload is not the method's message. */
	const uint8_t bad_payload[] = {0x0a, 0xff, 0xff, 0xff};
	Uns__V1__ResponseEnvelope *r =
	    raw_envelope_call(s, "/uns.v1.Notifications/Echo", 0, bad_payload,
	                      sizeof(bad_payload));
	assert_int_equal(r->code, UNS_INVALID_ARGUMENT);
	assert_string_equal(r->message,
	                    "payload: not a valid uns.v1.EchoRequest");
	assert_int_equal(r->n_details, 1);
	assert_string_equal(r->details[0]->field, "payload");
	uns__v1__response_envelope__free_unpacked(r, NULL);
	nng_close(s);

	uns_client *c = ut_client(&ts, NULL);
	expect_serving(c);
	uns_client_close(c);
	uns_rpc_stats st;
	uns_rpc_server_stats(ts.rpc, &st);
	assert_int_equal(st.rejected, 50);
	ut_server_stop(&ts);
}

/* Health that sleeps, so that the next call waits in the queue; long
 * enough that a loaded machine cannot blur the deadlines below. */
static uns_err
slow_health(uns_call *call, const Uns__V1__HealthRequest *req,
            Uns__V1__HealthResponse *resp)
{
	(void)req;
	(void)call;
	nng_msleep(1000);
	resp->status = UNS__V1__SERVING_STATUS__SERVING_STATUS_SERVING;
	return UNS_OK;
}

static const uns_notifications_handlers slow_handlers = {
    .health = slow_health,
};

static void *
slow_call(void *arg)
{
	uns_client *c = arg;
	Uns__V1__HealthRequest req = UNS__V1__HEALTH_REQUEST__INIT;
	Uns__V1__HealthResponse *resp = NULL;
	assert_int_equal(uns_notifications_health(c, &req, &resp, NULL),
	                 UNS_OK);
	uns__v1__health_response__free_unpacked(resp, NULL);
	return NULL;
}

/* Waits until the server took n requests off the wire: a slow call sent
 * from another thread holds the only worker (or waits first in line). */
static void
wait_received(uns_rpc_server *rpc, uint64_t n)
{
	uns_rpc_stats st;
	for (int i = 0; i < 1000; i++) {
		uns_rpc_server_stats(rpc, &st);
		if (st.received >= n) {
			return;
		}
		nng_msleep(5);
	}
	fail_msg("the server never received request %llu",
	         (unsigned long long)n);
}

static void
test_deadline_exceeded(void **state)
{
	(void)state;
	custom x;
	custom_start(&x, &slow_handlers, 1, NULL);
	uns_client *c = x.c;
	uns_rpc_server *rpc = x.rpc;

	/* Occupy the only worker, then send a call with a 50 ms deadline: the
	 * server must answer DEADLINE_EXCEEDED without running it. */
	pthread_t t;
	pthread_create(&t, NULL, slow_call, c);
	wait_received(rpc, 1);
	nng_socket s = raw_dial(x.url);
	Uns__V1__ResponseEnvelope *r =
	    raw_envelope_call(s, "/uns.v1.Notifications/Health", 50, NULL, 0);
	assert_int_equal(r->code, UNS_DEADLINE_EXCEEDED);
	assert_non_null(strstr(r->message, "deadline of 50 ms passed"));
	uns__v1__response_envelope__free_unpacked(r, NULL);
	pthread_join(t, NULL);

	/* Client side: the typed call gives up at its own deadline. */
	pthread_create(&t, NULL, slow_call, c);
	wait_received(rpc, 3);
	Uns__V1__HealthRequest req = UNS__V1__HEALTH_REQUEST__INIT;
	Uns__V1__HealthResponse *resp = NULL;
	uns_call_opts o = {.timeout_ms = 100};
	nng_time t0 = nng_clock();
	assert_int_equal(uns_notifications_health(c, &req, &resp, &o),
	                 UNS_DEADLINE_EXCEEDED);
	assert_true(nng_clock() - t0 < 900); /* not the handler's 1000 ms */
	assert_non_null(
	    strstr(uns_last_message(), "no reply before the deadline"));
	pthread_join(t, NULL);

	nng_close(s);
	custom_stop(&x);
}

/* Counts pipes a socket opens, to tell a reconnect storm. */
static void
count_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	atomic_fetch_add((atomic_int *)arg, 1);
}

static void
test_oversized(void **state)
{
	(void)state;
	ut_server ts;
	uns_rpc_config cfg = {.max_message_bytes = 64 * 1024};
	ut_server_start(&ts, "tcp", NULL, 0, &cfg);
	size_t big = 100 * 1024;
	uint8_t *buf = calloc(1, big);

	/* Our client refuses to send what its limit forbids. */
	uns_client *c = NULL;
	uns_client_opts co = {.max_message_bytes = 64 * 1024};
	assert_int_equal(uns_client_open(&c, ts.url, &co), UNS_OK);
	Uns__V1__EchoRequest req = UNS__V1__ECHO_REQUEST__INIT;
	Uns__V1__EchoResponse *resp = NULL;
	req.data.data = buf;
	req.data.len = big;
	assert_int_equal(uns_notifications_echo(c, &req, &resp, NULL),
	                 UNS_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(uns_last_message(), "exceeds the limit"));
	expect_serving(c);
	uns_client_close(c);

	/* A client with a larger limit sends it anyway: the server drops the
	 * connection, the call fails at once (no resend, no storm), and the
	 * same client works again after reconnecting by itself. */
	co.max_message_bytes = 1 << 20;
	assert_int_equal(uns_client_open(&c, ts.url, &co), UNS_OK);
	nng_time t0 = nng_clock();
	assert_int_equal(uns_notifications_echo(c, &req, &resp, NULL),
	                 UNS_UNAVAILABLE);
	assert_true(nng_clock() - t0 < 2000);
	req.data.len = 16;
	int ok = 0;
	for (int i = 0; i < 50 && !ok; i++) {
		ok = uns_notifications_echo(c, &req, &resp, NULL) == UNS_OK;
		if (ok) {
			uns__v1__echo_response__free_unpacked(resp, NULL);
		} else {
			nng_msleep(20);
		}
	}
	assert_true(ok);
	uns_client_close(c);

	/* The same at the NNG level, counting connections for a second. */
	atomic_int pipes = 0;
	nng_socket s;
	assert_int_equal(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 1000);
	nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, count_pipe, &pipes);
	assert_int_equal(nng_dial(s, ts.url, NULL, 0), 0);
	assert_int_equal(nng_send(s, buf, big, 0), 0);
	char *reply;
	size_t rlen;
	assert_int_not_equal(nng_recv(s, &reply, &rlen, NNG_FLAG_ALLOC), 0);
	nng_msleep(1000);
	assert_true(atomic_load(&pipes) <= 3);
	nng_close(s);
	free(buf);
	ut_server_stop(&ts);
}

/* --- TLS --------------------------------------------------------------- */

static void
test_tls_ok_and_failures(void **state)
{
	(void)state;
	ut_server ts;
	ut_server_start(&ts, "tls", cert_dir, 0, NULL);
	uns_client *c = ut_client(&ts, cert_dir);
	expect_serving(c);
	uns_client_close(c);

	/* A CA that did not sign the server's certificate. */
	char other[256], ca[512];
	ut_mkdtemp(other, sizeof(other));
	ut_make_certs(other);
	snprintf(ca, sizeof(ca), "%s/ca.pem", other);
	uns_client_opts o = {.ca_file = ca};
	c = NULL;
	assert_int_equal(uns_client_open(&c, ts.url, &o), UNS_ETLS);
	assert_null(c);
	assert_non_null(strstr(uns_last_message(), "tls handshake"));

	/* The right CA, but a name the certificate does not carry. */
	snprintf(ca, sizeof(ca), "%s/ca.pem", cert_dir);
	o.ca_file = ca;
	o.server_name = "wrong.example.com";
	assert_int_equal(uns_client_open(&c, ts.url, &o), UNS_ETLS);
	assert_null(c);

	/* No CA at all for a TLS URL. */
	uns_client_opts none = {0};
	assert_int_equal(uns_client_open(&c, ts.url, &none), UNS_EINVAL);
	assert_non_null(strstr(uns_last_message(), "CA file"));
	ut_rmdir(other);
	ut_server_stop(&ts);
}

static void
test_mutual_tls(void **state)
{
	(void)state;
	ut_server ts;
	ut_server_start(&ts, "tls", cert_dir, 1, NULL);
	char ca[512], client_cert[512];
	snprintf(ca, sizeof(ca), "%s/ca.pem", cert_dir);
	snprintf(client_cert, sizeof(client_cert), "%s/client-svc.pem",
	         cert_dir);
	uns_client *c = NULL;
	uns_client_opts o = {.ca_file = ca};
	assert_int_equal(uns_client_open(&c, ts.url, &o), UNS_ETLS);
	assert_non_null(strstr(uns_last_message(), "client certificate"));

	o.cert_key_file = client_cert;
	assert_int_equal(uns_client_open(&c, ts.url, &o), UNS_OK);
	expect_serving(c);
	uns_client_close(c);
	ut_server_stop(&ts);
}

static void
test_connect_refused_and_bad_url(void **state)
{
	(void)state;
	uns_client *c = NULL;
	assert_int_equal(uns_client_open(&c, "tcp://127.0.0.1:1", NULL),
	                 UNS_ECONNECT);
	assert_non_null(strstr(uns_last_message(), "cannot connect"));
	assert_int_equal(uns_client_open(&c, "bogus://x", NULL), UNS_EINVAL);
	assert_null(c);
}

static void
echo_over(const char *url)
{
	uns_service *svc;
	uns_rpc_server *rpc;
	uns_client *c = NULL;
	assert_int_equal(uns_service_open(&svc, NULL), UNS_OK);
	uns_rpc_config cfg = {.url = url};
	uns_rpc_service rs = uns_service_rpc(svc, UNS_SERVICE_DEFAULT);
	assert_int_equal(uns_rpc_server_open(&rpc, &cfg, &rs), UNS_OK);
	uns_rpc_server_start(rpc);
	assert_int_equal(uns_client_open(&c, url, NULL), UNS_OK);
	expect_serving(c);
	uns_client_close(c);
	uns_rpc_server_close(rpc);
	uns_service_close(svc);
}

static void
test_ipc_and_inproc(void **state)
{
	(void)state;
	char url[300];
	snprintf(url, sizeof(url), "ipc://%s/rpc.sock", cert_dir);
	echo_over(url);
	echo_over("inproc://uns-test-rpc");
}

/* --- concurrency ------------------------------------------------------- */

#define N_THREADS 8
#define N_CALLS   1000

typedef struct conc_thread {
	uns_client *c;
	int id;
	atomic_int done;
	atomic_int good;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char payload[N_CALLS][24];
} conc_thread;

typedef struct conc_call {
	conc_thread *t;
	int i;
} conc_call;

static void
conc_done(uns_err err, const char *message, Uns__V1__EchoResponse *resp,
          void *arg)
{
	conc_call *cc = arg;
	conc_thread *t = cc->t;
	(void)message;
	if (err == UNS_OK && resp->data.len == strlen(t->payload[cc->i]) &&
	    memcmp(resp->data.data, t->payload[cc->i], resp->data.len) == 0) {
		atomic_fetch_add(&t->good, 1);
	}
	if (resp) {
		uns__v1__echo_response__free_unpacked(resp, NULL);
	}
	pthread_mutex_lock(&t->mu);
	if (atomic_fetch_add(&t->done, 1) + 1 == N_CALLS) {
		pthread_cond_signal(&t->cv);
	}
	pthread_mutex_unlock(&t->mu);
}

static void *
conc_main(void *arg)
{
	conc_thread *t = arg;
	conc_call *calls = calloc(N_CALLS, sizeof(*calls));
	Uns__V1__EchoRequest *reqs = calloc(N_CALLS, sizeof(*reqs));
	uns_call_opts o = {.timeout_ms = 60000};
	for (int i = 0; i < N_CALLS; i++) {
		snprintf(t->payload[i], sizeof(t->payload[i]), "t%d-call%d",
		         t->id, i);
		uns__v1__echo_request__init(&reqs[i]);
		reqs[i].data.data = (uint8_t *)t->payload[i];
		reqs[i].data.len = strlen(t->payload[i]);
		calls[i] = (conc_call){t, i};
		assert_int_equal(uns_notifications_echo_async(
		                     t->c, &reqs[i], &o, conc_done, &calls[i]),
		                 UNS_OK);
	}
	pthread_mutex_lock(&t->mu);
	while (atomic_load(&t->done) < N_CALLS) {
		pthread_cond_wait(&t->cv, &t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	free(calls);
	free(reqs);
	return NULL;
}

static void
test_concurrent_calls(void **state)
{
	(void)state;
	ut_server ts;
	ut_server_start(&ts, "tls", cert_dir, 0, NULL);
	uns_client *c = ut_client(&ts, cert_dir); /* one client, shared */
	conc_thread *ts_threads = calloc(N_THREADS, sizeof(*ts_threads));
	pthread_t th[N_THREADS];
	for (int i = 0; i < N_THREADS; i++) {
		ts_threads[i].c = c;
		ts_threads[i].id = i;
		pthread_mutex_init(&ts_threads[i].mu, NULL);
		pthread_cond_init(&ts_threads[i].cv, NULL);
		pthread_create(&th[i], NULL, conc_main, &ts_threads[i]);
	}
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(atomic_load(&ts_threads[i].good), N_CALLS);
	}
	/* The server counts a reply when its send completes, which may be
	 * after the client has read it: wait for the count (10 s at most). */
	uns_rpc_stats st;
	for (int tries = 0; tries < 1000; tries++) {
		uns_rpc_server_stats(ts.rpc, &st);
		if (st.replied >= (uint64_t)N_THREADS * N_CALLS) {
			break;
		}
		usleep(10 * 1000);
	}
	assert_int_equal(st.replied, N_THREADS * N_CALLS);
	free(ts_threads);
	uns_client_close(c);
	ut_server_stop(&ts);
}

/* --- async contract ------------------------------------------------------ */

static void
never_called(uns_err err, const char *message, Uns__V1__EchoResponse *resp,
             void *arg)
{
	(void)err;
	(void)message;
	(void)resp;
	atomic_fetch_add((atomic_int *)arg, 1);
}

static void
test_async_contract(void **state)
{
	(void)state;
	ut_server ts;
	ut_server_start(&ts, "tcp", NULL, 0, NULL);
	uns_client *c = ut_client(&ts, NULL);
	atomic_int calls = 0;
	/* A request of the wrong type is refused, and the callback never
	 * runs. */
	Uns__V1__HealthRequest wrong = UNS__V1__HEALTH_REQUEST__INIT;
	assert_int_equal(
	    uns_client_call_async(c, &uns_notifications_method_echo,
	                          &wrong.base, NULL, NULL, NULL, &calls),
	    UNS_EINVAL);
	Uns__V1__EchoResponse *resp = NULL;
	assert_int_equal(uns_client_call(c, &uns_notifications_method_echo,
	                                 &wrong.base,
	                                 (ProtobufCMessage **)&resp, NULL),
	                 UNS_EINVAL);
	assert_non_null(
	    strstr(uns_last_message(), "takes a uns.v1.EchoRequest"));
	Uns__V1__EchoRequest req = UNS__V1__ECHO_REQUEST__INIT;
	uns_client_close(c);
	assert_int_equal(atomic_load(&calls), 0);
	(void)req;
	(void)never_called;
	ut_server_stop(&ts);
}

/* --- suspended calls ------------------------------------------------------ */

/* An Echo that suspends its call and resumes it as its data says: "now"
 * before the handler returns, "later" from another thread after the
 * handler returned (most of the time), "fail" later with a status. */
struct resumer {
	uns_call *call;
	Uns__V1__EchoResponse *resp;
	ProtobufCBinaryData data;
	int fail;
};

static void *
resume_later(void *arg)
{
	struct resumer *r = arg;
	nng_msleep(2);
	if (r->fail) {
		uns_call_resume(
		    r->call, uns_call_fail(r->call, UNS_FAILED_PRECONDITION,
		                           "data", "resumed with a failure"));
	} else {
		r->resp->data = r->data;
		uns_call_resume(r->call, UNS_OK);
	}
	return NULL;
}

static uns_err
suspending_echo(uns_call *call, const Uns__V1__EchoRequest *req,
                Uns__V1__EchoResponse *resp)
{
	struct resumer *r = uns_call_alloc(call, sizeof(*r));
	pthread_t t;
	assert_non_null(r);
	*r = (struct resumer){.call = call, .resp = resp, .data = req->data};
	uns_err pending = uns_call_suspend(call);
	if (req->data.len == 3 && memcmp(req->data.data, "now", 3) == 0) {
		resume_later(r);
		return pending;
	}
	r->fail = req->data.len == 4 && memcmp(req->data.data, "fail", 4) == 0;
	assert_int_equal(pthread_create(&t, NULL, resume_later, r), 0);
	pthread_detach(t);
	return pending;
}

static const uns_notifications_handlers suspending_handlers = {
    .echo = suspending_echo,
};

static int
always_inline(void *ctx, const uns_method *m, const ProtobufCMessage *req)
{
	(void)ctx;
	(void)m;
	(void)req;
	return 1;
}

struct echo_burst {
	uns_client *c;
	int id;
	atomic_int good;
};

static void *
echo_burst_main(void *arg)
{
	struct echo_burst *b = arg;
	for (int i = 0; i < 50; i++) {
		char data[32];
		int n = snprintf(data, sizeof(data), "%s %d %d",
		                 i % 2 ? "now" : "later", b->id, i);
		Uns__V1__EchoRequest req = UNS__V1__ECHO_REQUEST__INIT;
		Uns__V1__EchoResponse *resp = NULL;
		req.data.data = (uint8_t *)data;
		req.data.len = (size_t)n;
		if (uns_notifications_echo(b->c, &req, &resp, NULL) == UNS_OK &&
		    resp->data.len == (size_t)n &&
		    memcmp(resp->data.data, data, (size_t)n) == 0) {
			atomic_fetch_add(&b->good, 1);
		}
		uns__v1__echo_response__free_unpacked(resp, NULL);
	}
	return NULL;
}

static void
echo_expect(uns_client *c, const char *data, uns_err want)
{
	Uns__V1__EchoRequest req = UNS__V1__ECHO_REQUEST__INIT;
	Uns__V1__EchoResponse *resp = NULL;
	req.data.data = (uint8_t *)data;
	req.data.len = strlen(data);
	assert_int_equal(uns_notifications_echo(c, &req, &resp, NULL), want);
	if (want == UNS_OK) {
		assert_int_equal(resp->data.len, strlen(data));
		assert_memory_equal(resp->data.data, data, strlen(data));
		uns__v1__echo_response__free_unpacked(resp, NULL);
	} else {
		assert_string_equal(uns_last_message(),
		                    "data: resumed with a failure");
	}
}

/* Suspended calls are answered with what their resume says, whether the
 * resume comes before or after the handler returned, on the NNG thread
 * and on the worker pool, and many at once keep their own replies. */
static void
test_suspended_calls(void **state)
{
	(void)state;
	for (int on_nng = 0; on_nng < 2; on_nng++) {
		custom x;
		custom_start(&x, &suspending_handlers, 0,
		             on_nng ? always_inline : NULL);
		uns_client *c = x.c;
		echo_expect(c, "now", UNS_OK);
		echo_expect(c, "later", UNS_OK);
		echo_expect(c, "fail", UNS_FAILED_PRECONDITION);
		struct echo_burst b[4];
		pthread_t th[4];
		for (int i = 0; i < 4; i++) {
			b[i] = (struct echo_burst){.c = c, .id = i};
			pthread_create(&th[i], NULL, echo_burst_main, &b[i]);
		}
		for (int i = 0; i < 4; i++) {
			pthread_join(th[i], NULL);
			assert_int_equal(atomic_load(&b[i].good), 50);
		}
		/* The last send's completion may trail its reply a little. */
		uns_rpc_stats st;
		for (int i = 0; i < 200; i++) {
			uns_rpc_server_stats(x.rpc, &st);
			if (st.replied == 3 + 4 * 50) {
				break;
			}
			nng_msleep(5);
		}
		assert_int_equal(st.replied, 3 + 4 * 50);
		assert_int_equal(st.failed, 1);
		custom_stop(&x);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_health_and_echo),
	    cmocka_unit_test(test_unimplemented),
	    cmocka_unit_test(test_no_store_is_unavailable),
	    cmocka_unit_test(test_garbage_keeps_serving),
	    cmocka_unit_test(test_deadline_exceeded),
	    cmocka_unit_test(test_oversized),
	    cmocka_unit_test(test_tls_ok_and_failures),
	    cmocka_unit_test(test_mutual_tls),
	    cmocka_unit_test(test_connect_refused_and_bad_url),
	    cmocka_unit_test(test_ipc_and_inproc),
	    cmocka_unit_test(test_concurrent_calls),
	    cmocka_unit_test(test_async_contract),
	    cmocka_unit_test(test_suspended_calls),
	};
	return cmocka_run_group_tests(tests, setup_certs, teardown_certs);
}
