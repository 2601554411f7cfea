/*
 * unsctl_bench.c — `unsctl bench rpc`: our RPC against bare NNG, in one run.
 *
 * The process forks before any NNG use; the child serves both a UNS RPC
 * server (Echo) and a bare rep0 echo (replies from the aio callback, the
 * least work NNG allows) on tcp:// and tls+tcp://, and reports its ports
 * through a pipe. The parent drives each with T client connections × M
 * calls in flight for a fixed time, in interleaved rounds (bare, ours,
 * bare, ours, …), so machine noise hits both alike; it prints the median
 * calls/s per stack and the latency percentiles of all rounds, and our rate
 * as a ratio of bare NNG. The bare echo carries exactly as many bytes as
 * our request envelope, so the ratio isolates our per-call work: envelope,
 * dispatch, worker hop, arena, packing.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>

#include "devcert.h"
#include "rpc_server.h"
#include "service.h"
#include "uns/v1/rpc.pb-c.h"
#include "uns_stubs.h"
#include "unsctl.h"

typedef struct bench_opts {
	int seconds;
	int threads;
	int inflight;
	int size;
	int rounds;
	const char *transports;
	int blocking;
	int help;
} bench_opts;

static const uns_opt bench_options[] = {
    {"--seconds", UNS_OPT_INT, offsetof(bench_opts, seconds), "N",
     "length of one round (default 3)"},
    {"--threads", UNS_OPT_INT, offsetof(bench_opts, threads), "N",
     "client connections (default 2)"},
    {"--inflight", UNS_OPT_INT, offsetof(bench_opts, inflight), "M",
     "calls in flight per connection (default 32)"},
    {"--size", UNS_OPT_INT, offsetof(bench_opts, size), "BYTES",
     "echo payload (default 64)"},
    {"--rounds", UNS_OPT_INT, offsetof(bench_opts, rounds), "N",
     "interleaved rounds per stack (default 3)"},
    {"--transports", UNS_OPT_STR, offsetof(bench_opts, transports), "LIST",
     "tcp,tls (default both)"},
    {"--blocking", UNS_OPT_FLAG, offsetof(bench_opts, blocking), NULL,
     "run Echo on the worker pool, as blocking handlers (Post …) do"},
    {"--help", UNS_OPT_FLAG, offsetof(bench_opts, help), NULL, "this text"},
};
#define N_BENCH_OPTS (sizeof(bench_options) / sizeof(bench_options[0]))

/* --- the server child -------------------------------------------------- */

typedef struct echo_ctx {
	nng_ctx ctx;
	nng_aio *aio;
	int sending;
} echo_ctx;

static void
echo_cb(void *arg)
{
	echo_ctx *e = arg;
	int rv = nng_aio_result(e->aio);
	if (e->sending) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(e->aio));
		}
		e->sending = 0;
		nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	if (rv != 0) {
		if (rv != NNG_ECLOSED) {
			nng_ctx_recv(e->ctx, e->aio);
		}
		return;
	}
	e->sending = 1;
	nng_ctx_send(e->ctx, e->aio);
}

static int
listener_port(nng_listener l)
{
	nng_sockaddr sa;
	nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa);
	return sa.s_family == NNG_AF_INET ? ntohs(sa.s_in.sa_port) : 0;
}

static int
bare_listen(nng_socket s, const char *url, const char *cert)
{
	nng_listener l;
	nng_listener_create(&l, s, url);
	nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, 4u << 20);
	if (strncmp(url, "tls", 3) == 0) {
		nng_tls_config *cfg;
		nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER);
		nng_tls_config_cert_key_file(cfg, cert, NULL);
		nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg);
	}
	if (nng_listener_start(l, 0) != 0) {
		return 0;
	}
	return listener_port(l);
}

static int
bare_server(const char *cert, int ports[2])
{
	nng_socket s;
	if (nng_rep0_open(&s) != 0) {
		return -1;
	}
	ports[0] = bare_listen(s, "tcp://127.0.0.1:0", cert);
	ports[1] = bare_listen(s, "tls+tcp://127.0.0.1:0", cert);
	for (int i = 0; i < 128; i++) {
		echo_ctx *e = calloc(1, sizeof(*e));
		nng_ctx_open(&e->ctx, s);
		nng_aio_alloc(&e->aio, echo_cb, e);
		nng_ctx_recv(e->ctx, e->aio);
	}
	return 0;
}

static uns_rpc_server *
uns_server(const char *cert, int blocking, int ports[2])
{
	uns_service *svc = NULL;
	uns_rpc_server *tcp = NULL, *tls = NULL;
	uns_service_open(&svc, NULL);
	uns_rpc_service rs = {&uns_notifications_service, &uns_service_handlers,
	                      svc,
	                      blocking ? NULL : uns_service_inline_methods};
	uns_rpc_config cfg = {.url = "tcp://127.0.0.1:0"};
	if (uns_rpc_server_open(&tcp, &cfg, &rs) != UNS_OK) {
		return NULL;
	}
	cfg.url = "tls+tcp://127.0.0.1:0";
	cfg.cert_key_file = cert;
	if (uns_rpc_server_open(&tls, &cfg, &rs) != UNS_OK) {
		return NULL;
	}
	uns_rpc_server_start(tcp);
	uns_rpc_server_start(tls);
	ports[0] = uns_rpc_server_port(tcp);
	ports[1] = uns_rpc_server_port(tls);
	return tcp;
}

/* Runs in the child until the parent closes the pipe. */
static void
child_main(const char *cert, int blocking, int wfd, int rfd)
{
	int ports[4] = {0};
	if (bare_server(cert, ports) != 0 ||
	    uns_server(cert, blocking, ports + 2) == NULL) {
		_exit(1);
	}
	if (write(wfd, ports, sizeof(ports)) != sizeof(ports)) {
		_exit(1);
	}
	char c;
	while (read(rfd, &c, 1) > 0) {
	}
	_exit(0);
}

/* --- the load ---------------------------------------------------------- */

typedef struct lat_buf {
	uint32_t *us;
	size_t n, cap;
	pthread_mutex_t mu;
} lat_buf;

static void
lat_add(lat_buf *b, uint32_t us)
{
	pthread_mutex_lock(&b->mu);
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 65536;
		uint32_t *n = realloc(b->us, cap * sizeof(*n));
		if (n == NULL) {
			pthread_mutex_unlock(&b->mu);
			return;
		}
		b->us = n;
		b->cap = cap;
	}
	b->us[b->n++] = us;
	pthread_mutex_unlock(&b->mu);
}

/* One in-flight slot of the load; loops until the round ends. */
typedef struct load_slot {
	struct load_run *run;
	int conn;
	uint64_t started_us;
	/* bare */
	nng_ctx ctx;
	nng_aio *aio;
	int phase;
} load_slot;

typedef struct load_run {
	nng_time end;
	atomic_ullong calls;
	atomic_ullong errors;
	atomic_int active;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	lat_buf *lat;
	size_t size;
	uns_client **clients;
	Uns__V1__EchoRequest req;
	uns_call_opts opts;
	nng_socket *socks;
} load_run;

static uint64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
slot_done(load_slot *s, int ok)
{
	load_run *r = s->run;
	if (ok) {
		atomic_fetch_add(&r->calls, 1);
		lat_add(r->lat, (uint32_t)(now_us() - s->started_us));
	} else {
		atomic_fetch_add(&r->errors, 1);
	}
}

static void
slot_retire(load_run *r)
{
	pthread_mutex_lock(&r->mu);
	if (atomic_fetch_sub(&r->active, 1) == 1) {
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
}

static void uns_issue(load_slot *s);

static void
uns_done(uns_err err, const char *message, Uns__V1__EchoResponse *resp,
         void *arg)
{
	load_slot *s = arg;
	(void)message;
	slot_done(s, err == UNS_OK);
	if (resp) {
		uns__v1__echo_response__free_unpacked(resp, NULL);
	}
	if (nng_clock() >= s->run->end || err != UNS_OK) {
		slot_retire(s->run);
		return;
	}
	uns_issue(s);
}

static void
uns_issue(load_slot *s)
{
	load_run *r = s->run;
	s->started_us = now_us();
	if (uns_notifications_echo_async(r->clients[s->conn], &r->req, &r->opts,
	                                 uns_done, s) != UNS_OK) {
		slot_done(s, 0);
		slot_retire(r);
	}
}

static void
bare_issue(load_slot *s)
{
	nng_msg *m;
	s->started_us = now_us();
	nng_msg_alloc(&m, s->run->size);
	memset(nng_msg_body(m), 'x', s->run->size);
	s->phase = 0;
	nng_aio_set_msg(s->aio, m);
	nng_ctx_send(s->ctx, s->aio);
}

static void
bare_cb(void *arg)
{
	load_slot *s = arg;
	int rv = nng_aio_result(s->aio);
	if (rv == 0 && s->phase == 0) {
		s->phase = 1;
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	if (rv != 0 && s->phase == 0) {
		nng_msg_free(nng_aio_get_msg(s->aio));
	}
	if (rv == 0) {
		nng_msg_free(nng_aio_get_msg(s->aio));
	}
	slot_done(s, rv == 0);
	if (nng_clock() >= s->run->end || rv != 0) {
		slot_retire(s->run);
		return;
	}
	bare_issue(s);
}

/* --- connections ------------------------------------------------------- */

static int
bare_dial(nng_socket *s, const char *url, const char *ca)
{
	nng_dialer d;
	if (nng_req0_open(s) != 0) {
		return -1;
	}
	nng_socket_set_ms(*s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_dialer_create(&d, *s, url);
	if (strncmp(url, "tls", 3) == 0) {
		nng_tls_config *cfg;
		nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT);
		nng_tls_config_ca_file(cfg, ca);
		nng_tls_config_server_name(cfg, "localhost");
		nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg);
	}
	return nng_dialer_start(d, 0);
}

typedef struct stack_result {
	double rate[16];
	int n_rates;
	lat_buf lat;
	unsigned long long errors;
} stack_result;

static void
run_round(load_run *r, int conns, int inflight, int bare, int seconds)
{
	int n = conns * inflight;
	load_slot *slots = calloc((size_t)n, sizeof(*slots));
	atomic_store(&r->active, n);
	r->end = nng_clock() + (nng_time)seconds * 1000;
	for (int i = 0; i < n; i++) {
		load_slot *s = &slots[i];
		s->run = r;
		s->conn = i % conns;
		if (bare) {
			nng_ctx_open(&s->ctx, r->socks[s->conn]);
			nng_aio_alloc(&s->aio, bare_cb, s);
		}
	}
	for (int i = 0; i < n; i++) {
		bare ? bare_issue(&slots[i]) : uns_issue(&slots[i]);
	}
	pthread_mutex_lock(&r->mu);
	while (atomic_load(&r->active) > 0) {
		pthread_cond_wait(&r->cv, &r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	for (int i = 0; bare && i < n; i++) {
		nng_aio_free(slots[i].aio);
		nng_ctx_close(slots[i].ctx);
	}
	free(slots);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint32_t
pct(lat_buf *b, double p)
{
	if (b->n == 0) {
		return 0;
	}
	size_t i = (size_t)(p * (double)(b->n - 1));
	return b->us[i];
}

static void
print_stack(const char *name, stack_result *res)
{
	qsort(res->lat.us, res->lat.n, sizeof(uint32_t), cmp_u32);
	printf("  %-10s %9.0f calls/s  p50 %6u us  p99 %6u us  p999 %6u us"
	       "  errors %llu\n",
	       name, median(res->rate, res->n_rates), pct(&res->lat, 0.5),
	       pct(&res->lat, 0.99), pct(&res->lat, 0.999), res->errors);
}

static int
open_stack(load_run *r, const bench_opts *o, int bare, const char *url,
           const char *ca)
{
	for (int i = 0; i < o->threads; i++) {
		if (bare) {
			if (bare_dial(&r->socks[i], url, ca) != 0) {
				return -1;
			}
			continue;
		}
		uns_client_opts co = {.ca_file = ca,
		                      .server_name = "localhost"};
		if (uns_client_open(&r->clients[i], url, &co) != UNS_OK) {
			fprintf(stderr, "unsctl bench: %s\n",
			        uns_last_message());
			return -1;
		}
	}
	return 0;
}

static void
close_stack(load_run *r, const bench_opts *o, int bare)
{
	for (int i = 0; i < o->threads; i++) {
		if (bare) {
			nng_close(r->socks[i]);
		} else {
			uns_client_close(r->clients[i]);
		}
	}
}

/* The size of our request envelope for this Echo, so bare NNG carries the
 * same bytes. */
static size_t
request_bytes(const Uns__V1__EchoRequest *req)
{
	size_t pay = protobuf_c_message_get_packed_size(&req->base);
	/* method + request id + timeout + payload field, as client.c builds
	 * it; measured once rather than hard-coded. */
	Uns__V1__RequestEnvelope env = UNS__V1__REQUEST_ENVELOPE__INIT;
	env.method = (char *)uns_notifications_method_echo.name;
	env.request_id = "0123abcd-1000000";
	env.timeout_ms = 10000;
	env.payload.len = pay;
	env.payload.data = (uint8_t *)"";
	return protobuf_c_message_get_packed_size(&env.base);
}

static int
bench_transport(const bench_opts *o, const char *tname, int bare_port,
                int uns_port, const char *ca)
{
	char bare_url[128], uns_url[128];
	const char *scheme = strcmp(tname, "tls") == 0 ? "tls+tcp" : "tcp";
	const char *host =
	    strcmp(tname, "tls") == 0 ? "localhost" : "127.0.0.1";
	snprintf(bare_url, sizeof(bare_url), "%s://%s:%d", scheme, host,
	         bare_port);
	snprintf(uns_url, sizeof(uns_url), "%s://%s:%d", scheme, host,
	         uns_port);

	uint8_t *payload = calloc(1, (size_t)o->size + 1);
	stack_result res[2];
	memset(res, 0, sizeof(res));
	load_run r = {0};
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);
	uns__v1__echo_request__init(&r.req);
	r.req.data.data = payload;
	r.req.data.len = (size_t)o->size;
	r.size = request_bytes(&r.req);
	r.clients = calloc((size_t)o->threads, sizeof(*r.clients));
	r.socks = calloc((size_t)o->threads, sizeof(*r.socks));
	for (int k = 0; k < 2; k++) {
		pthread_mutex_init(&res[k].lat.mu, NULL);
	}
	int rc = 0;
	for (int round = 0; round < o->rounds && rc == 0; round++) {
		for (int bare = 1; bare >= 0 && rc == 0; bare--) {
			stack_result *sr = &res[bare ? 0 : 1];
			if (open_stack(&r, o, bare, bare ? bare_url : uns_url,
			               ca) != 0) {
				rc = -1;
				break;
			}
			r.lat = &sr->lat;
			atomic_store(&r.calls, 0);
			atomic_store(&r.errors, 0);
			nng_time t0 = nng_clock();
			run_round(&r, o->threads, o->inflight, bare,
			          o->seconds);
			double secs = (double)(nng_clock() - t0) / 1000.0;
			sr->rate[sr->n_rates++] =
			    (double)atomic_load(&r.calls) / secs;
			sr->errors += atomic_load(&r.errors);
			close_stack(&r, o, bare);
		}
	}
	if (rc == 0) {
		printf("%s: %d connections x %d in flight, %d-byte payload "
		       "(%zu-byte messages), %d rounds of %d s, echo %s\n",
		       tname, o->threads, o->inflight, o->size, r.size,
		       o->rounds, o->seconds,
		       o->blocking ? "on workers" : "inline");
		print_stack("bare-nng", &res[0]);
		print_stack("uns-rpc", &res[1]);
		printf("  ratio uns/bare: %.2f\n",
		       median(res[1].rate, res[1].n_rates) /
		           median(res[0].rate, res[0].n_rates));
	}
	for (int k = 0; k < 2; k++) {
		free(res[k].lat.us);
	}
	free(r.clients);
	free(r.socks);
	free(payload);
	return rc;
}

static int
bench_rpc(bench_opts *o)
{
	char dir[] = "/tmp/uns-bench-XXXXXX", cert[256], ca[256], why[256];
	int to_parent[2], to_child[2], ports[4];
	if (mkdtemp(dir) == NULL ||
	    uns_devcert_make_ca(dir, 1, why, sizeof(why)) != UNS_OK ||
	    uns_devcert_make_server(dir, NULL, 0, 1, why, sizeof(why)) !=
	        UNS_OK) {
		fprintf(stderr, "unsctl bench: cannot make certificates\n");
		return 1;
	}
	snprintf(cert, sizeof(cert), "%s/server.pem", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	if (pipe(to_parent) != 0 || pipe(to_child) != 0) {
		return 1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(to_parent[0]);
		close(to_child[1]);
		child_main(cert, o->blocking, to_parent[1], to_child[0]);
	}
	close(to_parent[1]);
	close(to_child[0]);
	if (read(to_parent[0], ports, sizeof(ports)) != sizeof(ports)) {
		fprintf(stderr, "unsctl bench: server child failed\n");
		return 1;
	}
	int rc = 0;
	char list[64];
	snprintf(list, sizeof(list), "%s",
	         o->transports ? o->transports : "tcp,tls");
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		int k = strcmp(t, "tls") == 0   ? 1
		        : strcmp(t, "tcp") == 0 ? 0
		                                : -1;
		if (k < 0) {
			fprintf(stderr, "unsctl bench: unknown transport %s\n",
			        t);
			rc = 1;
			continue;
		}
		rc |= bench_transport(o, t, ports[k], ports[2 + k], ca);
	}
	close(to_child[1]);
	waitpid(pid, NULL, 0);
	return rc ? 1 : 0;
}

typedef struct bench_kind {
	const char *name;
	int (*run)(bench_opts *o);
} bench_kind;

static const bench_kind bench_kinds[] = {
    {"rpc", bench_rpc},
};

static const bench_kind *
find_bench(const char *name)
{
	for (size_t i = 0; i < sizeof(bench_kinds) / sizeof(bench_kinds[0]);
	     i++) {
		if (strcmp(bench_kinds[i].name, name) == 0) {
			return &bench_kinds[i];
		}
	}
	return NULL;
}

int
unsctl_bench_main(int argc, char **argv)
{
	bench_opts o = {.seconds = 3,
	                .threads = 2,
	                .inflight = 32,
	                .size = 64,
	                .rounds = 3};
	char why[256];
	int n = uns_opts_parse(bench_options, N_BENCH_OPTS, &o, argc, argv, why,
	                       sizeof(why));
	const bench_kind *kind = n == 1 ? find_bench(argv[0]) : NULL;
	if (kind == NULL || o.help || o.threads < 1 || o.inflight < 1 ||
	    o.rounds < 1 || o.rounds > 16 || o.seconds < 1 || o.size < 0) {
		FILE *f = o.help ? stdout : stderr;
		if (n < 0) {
			fprintf(stderr, "unsctl: %s\n", why);
		}
		fprintf(f, "usage: unsctl bench rpc [options]\n");
		uns_opts_usage(f, bench_options, N_BENCH_OPTS);
		return o.help ? 0 : 2;
	}
	signal(SIGPIPE, SIG_IGN);
	return kind->run(&o);
}
