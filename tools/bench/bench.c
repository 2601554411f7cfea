/*
 * bench.c — uns-bench, the benchmarks that run server parts in-process,
 * and `uns-bench rpc`: our RPC against bare NNG, in one run.
 *
 * Which bench lives where (the one rule): a benchmark that starts the
 * server parts it measures inside its own process (the store, the
 * committer, the delivery engine, the JSON mapping, an RPC server child it
 * forks), so that it can put a baseline beside them in the same run, lives
 * here and links the server's libraries. unsctl links libuns alone: it may
 * only drive a running server over RPC, and has no benchmark today.
 *
 * `uns-bench post|fetch|mixed|delete` run the service with its store
 * against Echo the same way; `scale` (bench_scale.c) fills a store and
 * reads the server's memory and History latency; `commit`, `taps`,
 * `webpush`, `json` are in bench_*.c.
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
#include <dirent.h>
#include <ftw.h>
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

#include "auth.h"
#include "devcert.h"
#include "jwt.h"
#include "rpc_server.h"
#include "service.h"
#include "store.h"
#include "fairness.h"
#include "store_postgres.h"
#include "store_rocksdb.h"
#include "token_cache.h"
#include "uns/v1/rpc.pb-c.h"
#include "uns_stubs.h"
#include "bench.h"

static const uns_opt bench_options[] = {
    {"--seconds", UNS_OPT_INT, offsetof(bench_opts, seconds), "N",
     "length of one round (default 3)"},
    {"--threads", UNS_OPT_INT, offsetof(bench_opts, threads), "N",
     "client connections (default 2); post, fetch, mixed, delete: their last "
     "level is --threads x --inflight"},
    {"--inflight", UNS_OPT_INT, offsetof(bench_opts, inflight), "M",
     "calls in flight per connection (default 32)"},
    {"--size", UNS_OPT_INT, offsetof(bench_opts, size), "BYTES",
     "echo payload (default 64)"},
    {"--rounds", UNS_OPT_INT, offsetof(bench_opts, rounds), "N",
     "interleaved rounds per stack (default 3)"},
    {"--transports", UNS_OPT_STR, offsetof(bench_opts, transports), "LIST",
     "tcp,tls (default both)"},
    {"--blocking", UNS_OPT_FLAG, offsetof(bench_opts, blocking), NULL,
     "rpc: run Echo on the worker pool, as blocking handlers do;"
     " post, fetch, mixed, delete: reads and writes on the worker pool too"
     " (inline_reads = async_writes = false)"},
    {"--users", UNS_OPT_INT, offsetof(bench_opts, users), "N",
     "scale: users, one subscription each (default 100000)"},
    {"--notifications", UNS_OPT_INT, offsetof(bench_opts, notifications), "N",
     "scale: notifications spread over them (default 1000000)"},
    {"--heavy", UNS_OPT_INT, offsetof(bench_opts, heavy), "N",
     "scale: notifications of the user whose History is timed (1000)"},
    {"--entries", UNS_OPT_INT, offsetof(bench_opts, entries), "N",
     "fetch, mixed: changes each Fetch returns, 1 to 20 (default 1: a "
     "device catching up after a tap)"},
    {"--commit-wait", UNS_OPT_INT, offsetof(bench_opts, commit_wait_us), "US",
     "the store's commit_max_wait in microseconds (default 0)"},
    {"--answer-thread", UNS_OPT_FLAG, offsetof(bench_opts, answer_thread), NULL,
     "the store's commit_answer_thread = true"},
    {"--store", UNS_OPT_STR, offsetof(bench_opts, store), "NAME",
     "post, fetch, mixed, delete, scale: the store backend (rocksdb, "
     "postgres)"},
    {"--postgres-url", UNS_OPT_STR, offsetof(bench_opts, postgres_url), "URL",
     "--store postgres: the database (a fresh schema per run; the CPU of "
     "its cluster's processes, found by the Unix socket's lock file, is "
     "reported beside the server's)"},
    {"--help", UNS_OPT_FLAG, offsetof(bench_opts, help), NULL, "this text"},
};
#define N_BENCH_OPTS (sizeof(bench_options) / sizeof(bench_options[0]))

#define BENCH_USERS 64
#define BENCH_FILL  20 /* notifications per user before `bench fetch` */

static const uint8_t bench_secret[] = "uns-bench-hs256-secret-0123456789abcdef";

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

/* Our RPC server for svc on tcp:// and tls+tcp://; ports[0..1]. */
static int
rpc_pair(uns_service *svc, const char *cert, const char *const *inl,
         unsigned flags, int ports[2])
{
	uns_rpc_server *tcp = NULL, *tls = NULL;
	uns_rpc_service rs = uns_service_rpc(svc, flags);
	rs.inline_methods = inl;
	uns_rpc_config cfg = {.url = "tcp://127.0.0.1:0"};
	if (uns_rpc_server_open(&tcp, &cfg, &rs) != UNS_OK) {
		return -1;
	}
	cfg.url = "tls+tcp://127.0.0.1:0";
	cfg.cert_key_file = cert;
	if (uns_rpc_server_open(&tls, &cfg, &rs) != UNS_OK) {
		return -1;
	}
	uns_rpc_server_start(tcp);
	uns_rpc_server_start(tls);
	ports[0] = uns_rpc_server_port(tcp);
	ports[1] = uns_rpc_server_port(tls);
	return 0;
}

static int
uns_server(const char *cert, int blocking, int ports[2])
{
	uns_service *svc = NULL;
	uns_service_open(&svc, NULL);
	return rpc_pair(svc, cert, blocking ? NULL : uns_service_inline_methods,
	                blocking ? 0 : UNS_SERVICE_DEFAULT, ports);
}

/* Runs in the child until the parent closes the pipe. */
static void
child_main(const char *cert, int blocking, int wfd, int rfd)
{
	int ports[4] = {0};
	if (bare_server(cert, ports) != 0 ||
	    uns_server(cert, blocking, ports + 2) != 0) {
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

/* A full service (store, HS256 auth, one app) in dir/store. */
static uns_store *
svc_open(const char *dir, const char *cert, const bench_opts *o, int ports[2])
{
	static const char *const hosts[] = {BENCH_HOST};
	char path[512];
	uns_store *st = NULL;
	uns_jwt_keys *keys = NULL;
	uns_auth *auth = NULL;
	uns_service *svc = NULL;
	char schema[32];
	snprintf(path, sizeof(path), "%s/store", dir);
	snprintf(schema, sizeof(schema), "bench_%d", (int)getpid());
	uns_store_postgres_config pc = {.url = o->postgres_url,
	                                .schema = schema};
	uns_store_config sc = {.backend = o->store,
	                       .dir = path,
	                       .postgres = &pc,
	                       .max_live = 1u << 30,
	                       .commit_max_wait_us =
	                           (unsigned)o->commit_wait_us,
	                       .commit_answer_thread = o->answer_thread};
	if (uns_store_open(&st, &sc) != UNS_OK ||
	    uns_jwt_keys_alloc(&keys) != UNS_OK ||
	    uns_jwt_keys_add_secret(keys, NULL, bench_secret,
	                            sizeof(bench_secret) - 1) != UNS_OK) {
		return NULL;
	}
	uns_auth_config ac = {.keys = keys,
	                      .audience = "uns",
	                      .skew_seconds = 60,
	                      .token_cache = UNS_TOKEN_CACHE_DEFAULT};
	if (uns_auth_open(&auth, &ac) != UNS_OK ||
	    uns_auth_add_app(auth, BENCH_APP, hosts, 1) != UNS_OK) {
		return NULL;
	}
	/* No rate limits or caps on calls in progress: they would answer
	 * the load, not the store (the benchmark's users and app exceed
	 * the defaults on purpose). */
	uns_fairness_config fc;
	uns_fairness_defaults(&fc);
	fc.rate_app = fc.rate_user = 0;
	fc.calls_per_user = fc.calls_per_app = 0;
	uns_service_config cfg = {.store = st, .auth = auth, .fairness = &fc};
	if (uns_service_open(&svc, &cfg) != UNS_OK ||
	    rpc_pair(svc, cert, uns_service_inline_methods,
	             o->blocking ? 0 : UNS_SERVICE_DEFAULT, ports) != 0) {
		return NULL;
	}
	return st;
}

/* The store child: each byte from the parent asks for the group-commit
 * counters; a closed pipe ends it. */
static void
svc_child_main(const char *dir, const char *cert, const bench_opts *o, int wfd,
               int rfd)
{
	int ports[4] = {0};
	uns_store *st = svc_open(dir, cert, o, ports);
	if (st == NULL) {
		fprintf(stderr, "uns-bench: store child: %s\n",
		        uns_store_errmsg());
		_exit(1);
	}
	if (write(wfd, ports, sizeof(ports)) != sizeof(ports)) {
		_exit(1);
	}
	char c;
	while (read(rfd, &c, 1) > 0) {
		uns_store_stats s = {0};
		uns_store_stats_get(st, &s);
		if (write(wfd, &s, sizeof(s)) != sizeof(s)) {
			break;
		}
	}
	uns_store_close(st);
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
	unsigned rng; /* picks the user of a Post or Fetch */
	/* bench delete: the notification this slot created, to delete next */
	int deleting, user;
	char app_id[32];
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
	int mode; /* LOAD_* */
	const struct bench_users *users;
	atomic_ullong items; /* feed entries Fetch returned */
	atomic_int warned;
	pid_t server; /* the child, whose CPU time each round reads */
} load_run;

enum { LOAD_ECHO, LOAD_POST, LOAD_FETCH, LOAD_MIXED, LOAD_DELETE };

/* The method each store benchmark mode drives, by mode. */
static const char *const load_names[] = {
    [LOAD_ECHO] = "echo",   [LOAD_POST] = "post",     [LOAD_FETCH] = "fetch",
    [LOAD_MIXED] = "mixed", [LOAD_DELETE] = "delete",
};

/* The simulated users of `bench post` and `bench fetch`. */
typedef struct bench_users {
	char *tokens[BENCH_USERS];
	char *unsids[BENCH_USERS];
	char *cursors[BENCH_USERS]; /* Fetch from here returns `entries` */
	int entries;
	char *app_token;
} bench_users;

static atomic_ullong post_seq; /* makes app notification ids unique */

int64_t
bench_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
slot_done(load_slot *s, int ok)
{
	load_run *r = s->run;
	if (ok) {
		atomic_fetch_add(&r->calls, 1);
		lat_add(r->lat, (uint32_t)(bench_now_us() - s->started_us));
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
call_done(load_slot *s, uns_err err, const char *message)
{
	load_run *r = s->run;
	slot_done(s, err == UNS_OK);
	if (err != UNS_OK && atomic_exchange(&r->warned, 1) == 0) {
		fprintf(stderr, "uns-bench: %s\n", message ? message : "");
	}
	if (nng_clock() >= r->end || err != UNS_OK) {
		slot_retire(r);
		return;
	}
	uns_issue(s);
}

static void
echo_done(uns_err err, const char *message, Uns__V1__EchoResponse *resp,
          void *arg)
{
	if (resp) {
		uns__v1__echo_response__free_unpacked(resp, NULL);
	}
	call_done(arg, err, message);
}

static void
post_done(uns_err err, const char *message, Uns__V1__PostResponse *resp,
          void *arg)
{
	load_slot *s = arg;
	if (resp) {
		uns__v1__post_response__free_unpacked(resp, NULL);
	}
	/* bench delete: the slot's next call deletes what this one made. */
	s->deleting = s->run->mode == LOAD_DELETE && err == UNS_OK;
	call_done(s, err, message);
}

static void
delete_done(uns_err err, const char *message, Uns__V1__DeleteResponse *resp,
            void *arg)
{
	if (resp) {
		uns__v1__delete_response__free_unpacked(resp, NULL);
	}
	call_done(arg, err, message);
}

static void
fetch_done(uns_err err, const char *message, Uns__V1__FetchResponse *resp,
           void *arg)
{
	load_slot *s = arg;
	if (resp) {
		atomic_fetch_add(&s->run->items, resp->n_changes);
		uns__v1__fetch_response__free_unpacked(resp, NULL);
	}
	call_done(s, err, message);
}

uns_err
bench_post_call(uns_client *c, const char *token, const char *unsid,
                uns_notifications_post_cb cb, void *arg, char *app_id_out)
{
	char app_id[32];
	Uns__V1__PostRequest req = UNS__V1__POST_REQUEST__INIT;
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT;
	Uns__V1__Payload p = UNS__V1__PAYLOAD__INIT;
	Uns__V1__VisualContent v = UNS__V1__VISUAL_CONTENT__INIT;
	snprintf(app_id, sizeof(app_id), "n%llu",
	         (unsigned long long)atomic_fetch_add(&post_seq, 1));
	if (app_id_out != NULL) {
		memcpy(app_id_out, app_id, sizeof(app_id));
	}
	v.title = "A benchmark notification";
	v.body = "Sent by uns-bench to measure durable posts.";
	p.visual_content = &v;
	n.payload = &p;
	n.app_notification_id = app_id;
	n.group_name = "bench";
	req.notification = &n;
	req.unsid = (char *)unsid;
	uns_call_opts o = {.token = token, .timeout_ms = 10000};
	if (cb == NULL) {
		Uns__V1__PostResponse *resp = NULL;
		uns_err err = uns_notifications_post(c, &req, &resp, &o);
		if (resp) {
			uns__v1__post_response__free_unpacked(resp, NULL);
		}
		return err;
	}
	return uns_notifications_post_async(c, &req, &o, cb, arg);
}

static uns_err
fetch_issue(load_slot *s, int user)
{
	load_run *r = s->run;
	Uns__V1__FetchRequest req = UNS__V1__FETCH_REQUEST__INIT;
	req.cursor = r->users->cursors[user] ? r->users->cursors[user] : "";
	req.limit = (uint32_t)r->users->entries;
	uns_call_opts o = {.token = r->users->tokens[user],
	                   .timeout_ms = 10000};
	return uns_notifications_fetch_async(r->clients[s->conn], &req, &o,
	                                     fetch_done, s);
}

/* bench delete: the app deletes (by UNSID and app notification id) the
 * notification this slot created in its previous call. */
static uns_err
delete_issue(load_slot *s)
{
	load_run *r = s->run;
	Uns__V1__DeleteRequest req = UNS__V1__DELETE_REQUEST__INIT;
	req.unsid = r->users->unsids[s->user];
	req.app_notification_id = s->app_id;
	uns_call_opts o = {.token = r->users->app_token, .timeout_ms = 10000};
	s->deleting = 0;
	return uns_notifications_delete_async(r->clients[s->conn], &req, &o,
	                                      delete_done, s);
}

static void
uns_issue(load_slot *s)
{
	load_run *r = s->run;
	int user = (int)(rand_r(&s->rng) % BENCH_USERS);
	uns_err err;
	int mode = r->mode;
	if (mode == LOAD_MIXED) {
		/* One write in five: a device-heavy mix of pulls and posts. */
		mode = rand_r(&s->rng) % 5 == 0 ? LOAD_POST : LOAD_FETCH;
	}
	s->started_us = bench_now_us();
	if (mode == LOAD_DELETE && s->deleting) {
		err = delete_issue(s);
	} else if (mode == LOAD_POST || mode == LOAD_DELETE) {
		s->user = user;
		err = bench_post_call(r->clients[s->conn], r->users->app_token,
		                      r->users->unsids[user], post_done, s,
		                      s->app_id);
	} else if (mode == LOAD_FETCH) {
		err = fetch_issue(s, user);
	} else {
		err = uns_notifications_echo_async(r->clients[s->conn], &r->req,
		                                   &r->opts, echo_done, s);
	}
	if (err != UNS_OK) {
		slot_done(s, 0);
		slot_retire(r);
	}
}

static void
bare_issue(load_slot *s)
{
	nng_msg *m;
	s->started_us = bench_now_us();
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
	double cpu_us, calls; /* the server's CPU time and calls, all rounds */
	double client_cpu_us; /* this process's (the client's), same rounds */
	double commit_cpu_us, engine_cpu_us; /* server's committer, RocksDB */
	double db_cpu_us; /* the cluster's processes (--store postgres) */
} stack_result;

/* utime + stime of one /proc stat file in µs, its command into comm (if
 * asked); -1 if unreadable. */
static double
stat_cpu_us(const char *path, char *comm, size_t comm_cap)
{
	char buf[1024];
	unsigned long long ut, st;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		return -1;
	}
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *open = strchr(buf, '(');
	const char *p = strrchr(buf, ')'); /* the command may hold spaces */
	if (open == NULL || p == NULL ||
	    sscanf(p + 2,
	           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
	           "%*u %llu %llu",
	           &ut, &st) != 2) {
		return -1;
	}
	if (comm != NULL) {
		snprintf(comm, comm_cap, "%.*s", (int)(p - open - 1), open + 1);
	}
	return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

double
bench_proc_cpu_us(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return stat_cpu_us(path, NULL, 0);
}

double
bench_threads_cpu_us(pid_t pid, const char *prefix)
{
	char path[300], comm[64];
	double sum = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL) {
		return -1;
	}
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.') {
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid,
		         e->d_name);
		double us = stat_cpu_us(path, comm, sizeof(comm));
		if (us >= 0 && strncmp(comm, prefix, strlen(prefix)) == 0) {
			sum += us;
		}
	}
	closedir(d);
	return sum;
}

/* The postmaster of the cluster url names by its Unix socket ("host=DIR
 * port=N"): the first line of DIR/.s.PGSQL.N.lock; 0 when there is none
 * (no url, TCP, not on this machine). */
static long
db_postmaster(const char *url)
{
	char dir[256] = "", path[320], line[32] = "";
	const char *h = url != NULL ? strstr(url, "host=") : NULL;
	const char *p = url != NULL ? strstr(url, "port=") : NULL;
	FILE *f;

	if (h == NULL || h[5] != '/') {
		return 0;
	}
	snprintf(dir, sizeof(dir), "%.*s", (int)strcspn(h + 5, " "), h + 5);
	snprintf(path, sizeof(path), "%s/.s.PGSQL.%ld.lock", dir,
	         p != NULL ? strtol(p + 5, NULL, 10) : 5432L);
	if ((f = fopen(path, "r")) == NULL) {
		return 0;
	}
	if (fgets(line, sizeof(line), f) == NULL) {
		line[0] = '\0';
	}
	fclose(f);
	return strtol(line, NULL, 10);
}

/* The CPU time of the cluster whose postmaster is pm: it and its children
 * (backends, WAL writer, checkpointer…), with the time of the children it
 * reaped (a backend that exits hands its time to the postmaster's cutime);
 * 0 when pm is 0. Other clusters on the machine are not counted. */
double
bench_db_cpu_us(long pm)
{
	char path[300], buf[1024];
	unsigned long long t[4];
	long ppid;
	double sum = 0;
	DIR *d = pm > 0 ? opendir("/proc") : NULL;

	if (d == NULL) {
		return 0;
	}
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		FILE *f;
		size_t n;
		const char *p;
		if (e->d_name[0] < '0' || e->d_name[0] > '9') {
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) == NULL) {
			continue;
		}
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		if (strstr(buf, "(postgres)") == NULL ||
		    (p = strrchr(buf, ')')) == NULL ||
		    sscanf(p + 2,
		           "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
		           "%llu %llu %llu",
		           &ppid, &t[0], &t[1], &t[2], &t[3]) != 5 ||
		    (strtol(e->d_name, NULL, 10) != pm && ppid != pm)) {
			continue;
		}
		sum += (double)(t[0] + t[1] + t[2] + t[3]) * 1e6 /
		       (double)sysconf(_SC_CLK_TCK);
	}
	closedir(d);
	return sum;
}

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
		s->rng = (unsigned)i * 2654435761u + 1;
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

static int64_t
thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double
bench_cpu_rate(int (*op)(void *env), void *env, int64_t slice_ns)
{
	int64_t start = thread_cpu_ns(), end = start + slice_ns, t;
	long n = 0;
	do {
		for (int i = 0; i < 16; i++, n++) {
			if (op(env) != 0) {
				return -1;
			}
		}
		t = thread_cpu_ns();
	} while (t < end);
	return (double)n * 1e9 / (double)(t - start);
}

double
bench_median(double *v, int n)
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
	       "  errors %llu",
	       name, bench_median(res->rate, res->n_rates), pct(&res->lat, 0.5),
	       pct(&res->lat, 0.99), pct(&res->lat, 0.999), res->errors);
	if (res->calls > 0 && res->cpu_us >= 0) {
		printf("  server CPU %.1f us/call", res->cpu_us / res->calls);
		if (res->commit_cpu_us > 0) { /* writes only */
			printf(" (committer %.1f, rocksdb %.1f)",
			       res->commit_cpu_us / res->calls,
			       res->engine_cpu_us / res->calls);
		}
		printf("  client CPU %.1f us/call",
		       res->client_cpu_us / res->calls);
		if (res->db_cpu_us > 0) {
			printf("  postgres CPU %.1f us/call",
			       res->db_cpu_us / res->calls);
		}
	}
	printf("\n");
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
			fprintf(stderr, "uns-bench: %s\n", uns_last_message());
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

/* The CPU time of the server child's threads named prefix…; 0 without a
 * child. */
static double
server_threads_cpu_us(const load_run *r, const char *prefix)
{
	return r->server > 0 ? bench_threads_cpu_us(r->server, prefix) : 0;
}

/* One round of o->seconds; adds its rate and latencies to sr, and the CPU
 * time the server (in all, the committer's and RocksDB's threads) and this
 * client spent on it. */
static void
timed_round(load_run *r, const bench_opts *o, int bare, stack_result *sr)
{
	r->lat = &sr->lat;
	atomic_store(&r->calls, 0);
	atomic_store(&r->errors, 0);
	double cpu0 = r->server > 0 ? bench_proc_cpu_us(r->server) : -1;
	double mine0 = bench_proc_cpu_us(getpid());
	double k0 = server_threads_cpu_us(r, "uns-commit");
	double e0 = server_threads_cpu_us(r, "rocksdb:");
	long pm = db_postmaster(o->postgres_url);
	double db0 = bench_db_cpu_us(pm);
	nng_time t0 = nng_clock();
	run_round(r, o->threads, o->inflight, bare, o->seconds);
	double secs = (double)(nng_clock() - t0) / 1000.0;
	double cpu1 = r->server > 0 ? bench_proc_cpu_us(r->server) : -1;
	double mine1 = bench_proc_cpu_us(getpid());
	double k1 = server_threads_cpu_us(r, "uns-commit");
	double e1 = server_threads_cpu_us(r, "rocksdb:");
	double db1 = bench_db_cpu_us(pm);
	sr->rate[sr->n_rates++] = (double)atomic_load(&r->calls) / secs;
	sr->errors += atomic_load(&r->errors);
	if (cpu0 < 0 || cpu1 < 0 || sr->cpu_us < 0) {
		sr->cpu_us = -1;
	} else {
		sr->cpu_us += cpu1 - cpu0;
		sr->client_cpu_us += mine1 - mine0;
		sr->commit_cpu_us += k1 - k0;
		sr->engine_cpu_us += e1 - e0;
		sr->db_cpu_us += db1 - db0;
		sr->calls += (double)atomic_load(&r->calls);
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
                int uns_port, const char *ca, pid_t server)
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
	load_run r = {.server = server};
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
			timed_round(&r, o, bare, sr);
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
		       bench_median(res[1].rate, res[1].n_rates) /
		           bench_median(res[0].rate, res[0].n_rates));
	}
	for (int k = 0; k < 2; k++) {
		free(res[k].lat.us);
	}
	free(r.clients);
	free(r.socks);
	free(payload);
	return rc;
}

/* Makes certificates, forks the child (rpc or store) and reads its ports. */
int
bench_proc_start(bench_proc *p, const bench_opts *o, int store)
{
	char why[256];
	int to_parent[2], to_child[2];
	snprintf(p->dir, sizeof(p->dir), "/tmp/uns-bench-XXXXXX");
	if (mkdtemp(p->dir) == NULL ||
	    uns_devcert_make_ca(p->dir, 1, why, sizeof(why)) != UNS_OK ||
	    uns_devcert_make_server(p->dir, NULL, 0, 1, why, sizeof(why)) !=
	        UNS_OK) {
		fprintf(stderr, "uns-bench: cannot make certificates\n");
		return -1;
	}
	snprintf(p->cert, sizeof(p->cert), "%s/server.pem", p->dir);
	snprintf(p->ca, sizeof(p->ca), "%s/ca.pem", p->dir);
	if (pipe(to_parent) != 0 || pipe(to_child) != 0) {
		return -1;
	}
	p->pid = fork();
	if (p->pid == 0) {
		close(to_parent[0]);
		close(to_child[1]);
		if (store) {
			svc_child_main(p->dir, p->cert, o, to_parent[1],
			               to_child[0]);
		}
		child_main(p->cert, o->blocking, to_parent[1], to_child[0]);
	}
	close(to_parent[1]);
	close(to_child[0]);
	p->rfd = to_parent[0];
	p->wfd = to_child[1];
	if (read(p->rfd, p->ports, sizeof(p->ports)) != sizeof(p->ports)) {
		fprintf(stderr, "uns-bench: server child failed\n");
		return -1;
	}
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void
bench_rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void
bench_proc_stop(bench_proc *p)
{
	close(p->wfd);
	waitpid(p->pid, NULL, 0);
	close(p->rfd);
	bench_rm_tree(p->dir);
}

/* 0 tcp, 1 tls, -1 unknown (with a message). */
static int
transport_index(const char *t)
{
	int k = strcmp(t, "tls") == 0 ? 1 : strcmp(t, "tcp") == 0 ? 0 : -1;
	if (k < 0) {
		fprintf(stderr, "uns-bench: unknown transport %s\n", t);
	}
	return k;
}

static int
bench_rpc(bench_opts *o)
{
	bench_proc p;
	if (bench_proc_start(&p, o, 0) != 0) {
		return 1;
	}
	int rc = 0;
	char list[64];
	snprintf(list, sizeof(list), "%s",
	         o->transports ? o->transports : "tcp,tls");
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		int k = transport_index(t);
		rc |= k < 0 ? 1
		            : bench_transport(o, t, p.ports[k], p.ports[2 + k],
		                              p.ca, p.pid);
	}
	bench_proc_stop(&p);
	return rc ? 1 : 0;
}

/* --- bench post / bench fetch ------------------------------------------ */

char *
bench_mint(const char *sub, const char *app, const char *scope)
{
	uns_jwt_claims c;
	char *tok = NULL, why[256];
	memset(&c, 0, sizeof(c));
	snprintf(c.sub, sizeof(c.sub), "%s", sub ? sub : "");
	snprintf(c.app_id, sizeof(c.app_id), "%s", app ? app : "");
	snprintf(c.host, sizeof(c.host), "%s", sub ? BENCH_HOST : "");
	snprintf(c.aud, sizeof(c.aud), "uns");
	snprintf(c.scopes, sizeof(c.scopes), "%s", scope);
	c.iat = (int64_t)time(NULL);
	c.exp = c.iat + 3600;
	if (uns_jwt_mint("HS256", NULL, bench_secret, sizeof(bench_secret) - 1,
	                 &c, &tok, why, sizeof(why)) != UNS_OK) {
		fprintf(stderr, "uns-bench: mint: %s\n", why);
	}
	return tok;
}

static int
subscribe_user(uns_client *c, bench_users *u, int i)
{
	char sub[32];
	snprintf(sub, sizeof(sub), "bench-user-%d", i);
	u->tokens[i] = bench_mint(sub, NULL, "Notifications.ReadWrite");
	Uns__V1__SubscribeRequest req = UNS__V1__SUBSCRIBE_REQUEST__INIT;
	Uns__V1__SubscribeResponse *resp = NULL;
	req.device_id = "bench-device";
	req.platform = UNS__V1__PLATFORM__PLATFORM_POLLING;
	uns_call_opts o = {.token = u->tokens[i], .timeout_ms = 10000};
	if (u->tokens[i] == NULL ||
	    uns_notifications_subscribe(c, &req, &resp, &o) != UNS_OK) {
		fprintf(stderr, "uns-bench: subscribe: %s\n",
		        uns_last_message());
		return -1;
	}
	u->unsids[i] = strdup(resp->subscription->unsid);
	uns__v1__subscribe_response__free_unpacked(resp, NULL);
	return 0;
}

/* The cursor after the first `skip` changes of user i: a Fetch from it
 * returns the last `entries` of the filled feed. */
static int
cursor_before(uns_client *c, bench_users *u, int i, int skip)
{
	Uns__V1__FetchRequest req = UNS__V1__FETCH_REQUEST__INIT;
	Uns__V1__FetchResponse *resp = NULL;
	req.limit = (uint32_t)skip;
	uns_call_opts o = {.token = u->tokens[i], .timeout_ms = 10000};
	if (skip == 0) {
		return 0; /* "" is the beginning */
	}
	if (uns_notifications_fetch(c, &req, &resp, &o) != UNS_OK) {
		fprintf(stderr, "uns-bench: fetch: %s\n", uns_last_message());
		return -1;
	}
	u->cursors[i] = strdup(resp->next_cursor);
	uns__v1__fetch_response__free_unpacked(resp, NULL);
	return 0;
}

/* Mints the tokens, subscribes every user, and for Fetch fills the feeds. */
static int
users_setup(const char *url, const char *ca, bench_users *u, int fill)
{
	uns_client *c = NULL;
	uns_client_opts co = {.ca_file = ca, .server_name = "localhost"};
	if (uns_client_open(&c, url, &co) != UNS_OK) {
		return -1;
	}
	int rc =
	    (u->app_token = bench_mint(NULL, BENCH_APP, "Notifications.Send"))
	        ? 0
	        : -1;
	for (int i = 0; i < BENCH_USERS && rc == 0; i++) {
		rc = subscribe_user(c, u, i);
	}
	for (int k = 0; k < fill * BENCH_USERS && rc == 0; k++) {
		if (bench_post_call(c, u->app_token, u->unsids[k % BENCH_USERS],
		                    NULL, NULL, NULL) != UNS_OK) {
			fprintf(stderr, "uns-bench: post: %s\n",
			        uns_last_message());
			rc = -1;
		}
	}
	for (int i = 0; i < BENCH_USERS && rc == 0 && fill > 0; i++) {
		rc = cursor_before(c, u, i, fill - u->entries);
	}
	uns_client_close(c);
	return rc;
}

static void
users_free(bench_users *u)
{
	for (int i = 0; i < BENCH_USERS; i++) {
		free(u->tokens[i]);
		free(u->cursors[i]);
		free(u->unsids[i]);
	}
	free(u->app_token);
}

/* The child's group-commit counters. */
static void
child_stats(const bench_proc *p, uns_store_stats *s)
{
	memset(s, 0, sizeof(*s));
	if (write(p->wfd, "s", 1) != 1 ||
	    read(p->rfd, s, sizeof(*s)) != sizeof(*s)) {
		memset(s, 0, sizeof(*s));
	}
}

typedef struct store_bench {
	const bench_opts *o;
	const bench_proc *proc;
	load_run run;
	const char *url, *name;
	double floor, rate[3];
} store_bench;

/* What the child's committer did during the method's rounds. */
typedef struct commit_delta {
	uint64_t writes, batches, flush_us, done_us;
	double wall_us;
} commit_delta;

static void
commit_add(commit_delta *d, const uns_store_stats *s0,
           const uns_store_stats *s1, double wall_us)
{
	d->writes += s1->commit_writes - s0->commit_writes;
	d->batches += s1->commit_batches - s0->commit_batches;
	d->flush_us += s1->commit_flush_us - s0->commit_flush_us;
	d->done_us += s1->commit_done_us - s0->commit_done_us;
	d->wall_us += wall_us;
}

static void
print_level(store_bench *b, stack_result res[2], const commit_delta *d,
            unsigned long long items)
{
	print_stack("echo", &res[0]);
	print_stack(b->name, &res[1]);
	double calls = 0;
	for (int i = 0; i < res[1].n_rates; i++) {
		calls += res[1].rate[i] * b->o->seconds;
	}
	printf("  ratio %s/echo: %.2f", b->name,
	       bench_median(res[1].rate, res[1].n_rates) /
	           bench_median(res[0].rate, res[0].n_rates));
	if (b->run.mode != LOAD_FETCH) {
		printf("  group commit: %.1f writes per synced batch",
		       d->batches ? (double)d->writes / (double)d->batches
		                  : 0.0);
		if (d->wall_us > 0) {
			printf("  committer busy %.0f%% (writing %.0f%%, "
			       "answering %.0f%%)",
			       100.0 * (double)(d->flush_us + d->done_us) /
			           d->wall_us,
			       100.0 * (double)d->flush_us / d->wall_us,
			       100.0 * (double)d->done_us / d->wall_us);
		}
	} else if (calls > 0) {
		printf("  entries per fetch: %.1f", (double)items / calls);
	}
	printf("\n");
}

/* Interleaved rounds, Echo then Post/Fetch, at conns × inflight. */
static double
store_level(store_bench *b, int conns, int inflight)
{
	bench_opts lo = *b->o;
	lo.threads = conns;
	lo.inflight = inflight;
	stack_result res[2];
	memset(res, 0, sizeof(res));
	commit_delta d = {0};
	int mode = b->run.mode;
	atomic_store(&b->run.items, 0);
	for (int round = 0; round < lo.rounds; round++) {
		for (int k = 0; k < 2; k++) {
			uns_store_stats s0, s1;
			b->run.mode = k ? mode : LOAD_ECHO;
			if (open_stack(&b->run, &lo, 0, b->url, b->proc->ca)) {
				return -1;
			}
			child_stats(b->proc, &s0);
			int64_t t0 = bench_now_us();
			timed_round(&b->run, &lo, 0, &res[k]);
			child_stats(b->proc, &s1);
			if (k) {
				commit_add(&d, &s0, &s1,
				           (double)(bench_now_us() - t0));
			}
			close_stack(&b->run, &lo, 0);
		}
	}
	printf("%d in flight (%d x %d):\n", conns * inflight, conns, inflight);
	print_level(b, res, &d, atomic_load(&b->run.items));
	double rate = bench_median(res[1].rate, res[1].n_rates);
	for (int k = 0; k < 2; k++) {
		free(res[k].lat.us);
	}
	return rate;
}

static void
print_summary(const store_bench *b)
{
	int top = b->o->threads * b->o->inflight;
	printf("%s calls/s at 1 / 8 / %d in flight: %.0f / %.0f / %.0f "
	       "(grows: %s)\n",
	       b->name, top, b->rate[0], b->rate[1], b->rate[2],
	       b->rate[0] < b->rate[1] && b->rate[1] < b->rate[2] ? "yes"
	                                                          : "no");
	if (b->run.mode == LOAD_POST) {
		printf("raw synced-put floor (RocksDB, 1 writer): %.0f puts/s; "
		       "post at %d / floor: %.1fx\n",
		       b->floor, top,
		       b->floor > 0 ? b->rate[2] / b->floor : 0.0);
	}
}

static int
store_transport(store_bench *b, const char *tname, int port)
{
	/* The last level is --threads x --inflight (default 2 x 32). */
	const int levels[3][2] = {
	    {1, 1}, {2, 4}, {b->o->threads, b->o->inflight}};
	char url[128];
	int tls = strcmp(tname, "tls") == 0;
	snprintf(url, sizeof(url), "%s://%s:%d", tls ? "tls+tcp" : "tcp",
	         tls ? "localhost" : "127.0.0.1", port);
	b->url = url;
	printf("%s: %s vs Echo (inline), %d users, %d rounds of %d s\n", tname,
	       b->name, BENCH_USERS, b->o->rounds, b->o->seconds);
	for (int i = 0; i < 3; i++) {
		b->rate[i] = store_level(b, levels[i][0], levels[i][1]);
		if (b->rate[i] < 0) {
			return -1;
		}
	}
	print_summary(b);
	return 0;
}

static void
store_run_init(load_run *r, const bench_opts *o, uint8_t *payload)
{
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	uns__v1__echo_request__init(&r->req);
	r->req.data.data = payload;
	r->req.data.len = (size_t)o->size;
	r->clients = calloc(2, sizeof(*r->clients));
}

static int
bench_store(bench_opts *o, int mode)
{
	bench_proc p;
	bench_users users = {0};
	store_bench b = {.o = o, .proc = &p};
	if (bench_proc_start(&p, o, 1) != 0) {
		return 1;
	}
	/* The floor runs after the fork: RocksDB's background threads would
	 * not survive into the child. */
	char floor_dir[64];
	snprintf(floor_dir, sizeof(floor_dir), "%s/floor", p.dir);
	if (mode == LOAD_POST &&
	    uns_store_bench_raw_synced_puts(floor_dir, 3, &b.floor) != UNS_OK) {
		fprintf(stderr, "uns-bench: floor: %s\n", uns_store_errmsg());
	}
	uint8_t *payload = calloc(1, (size_t)o->size + 1);
	store_run_init(&b.run, o, payload);
	b.run.server = p.pid;
	b.run.users = &users;
	users.entries = o->entries;
	b.run.mode = mode;
	b.name = load_names[mode];
	int rc = 0, setup = 0;
	char list[64];
	snprintf(list, sizeof(list), "%s",
	         o->transports ? o->transports : "tcp");
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t && rc == 0;
	     t = strtok_r(NULL, ",", &save)) {
		int k = transport_index(t);
		char url[128];
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", p.ports[0]);
		if (k >= 0 && !setup++ &&
		    users_setup(url, p.ca, &users,
		                mode == LOAD_FETCH || mode == LOAD_MIXED
		                    ? BENCH_FILL
		                    : 0) != 0) {
			k = -1;
		}
		rc = k < 0 ? 1 : store_transport(&b, t, p.ports[k]) ? 1 : 0;
	}
	users_free(&users);
	free(b.run.clients);
	free(payload);
	bench_proc_stop(&p);
	return rc;
}

static int
bench_post(bench_opts *o)
{
	return bench_store(o, LOAD_POST);
}

static int
bench_fetch(bench_opts *o)
{
	return bench_store(o, LOAD_FETCH);
}

static int
bench_mixed(bench_opts *o)
{
	return bench_store(o, LOAD_MIXED);
}

static int
bench_delete(bench_opts *o)
{
	return bench_store(o, LOAD_DELETE);
}

typedef struct bench_kind {
	const char *name;
	int (*run)(bench_opts *o);
	const char *summary;
} bench_kind;

static int
bench_webpush(bench_opts *o)
{
	return bench_webpush_run(o->rounds);
}

static int
bench_json(bench_opts *o)
{
	return bench_json_run(o->rounds, o->entries);
}

static const bench_kind bench_kinds[] = {
    {"rpc", bench_rpc, "our RPC against bare NNG (tcp, tls)"},
    {"post", bench_post,
     "durable Post at 1, 8, 64 in flight against Echo; group commit"},
    {"fetch", bench_fetch,
     "Fetch since a cursor (--entries) at 1, 8, 64 in flight against Echo"},
    {"mixed", bench_mixed, "1 Post : 4 Fetches against Echo"},
    {"delete", bench_delete,
     "a Post, then its Delete by UNSID and app id, in turn, against Echo"},
    {"commit", bench_commit,
     "group commit without RPC: store posts/s against the synced-put floor"},
    {"scale", bench_scale,
     "server RSS after --notifications over --users; History latency"},
    {"webpush", bench_webpush,
     "CPU cost of a Web Push tap against HMAC (--rounds)"},
    {"json", bench_json,
     "CPU cost of a gateway delta answer's JSON (--entries) against "
     "unpacking it"},
    {"claims", bench_claims,
     "the outbox on PostgreSQL: claim + settle CPU per tap with 1 and 3 "
     "nodes, and the cost of the cluster's job rounds (--postgres-url, "
     "--users taps)"},
    {"taps", NULL, /* dispatched before these options are parsed */
     "delivery engine: taps/s at 1, 100, 10000 endpoints, latency, fan-out "
     "(uns-bench taps --help)"},
    {"wake", NULL, /* dispatched before these options are parsed */
     "cross-node wake-up latency and CPU against running unsd nodes "
     "(tools/bench_cluster.sh; uns-bench wake --help)"},
};

#define N_BENCH_KINDS (sizeof(bench_kinds) / sizeof(bench_kinds[0]))

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
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "taps") == 0) {
		return bench_taps_main(argc, argv); /* its own options */
	}
	if (argc >= 2 && strcmp(argv[1], "wake") == 0) {
		return bench_wake_main(argc, argv); /* its own options */
	}
	bench_opts o = {.seconds = 3,
	                .threads = 2,
	                .inflight = 32,
	                .size = 64,
	                .rounds = 3,
	                .users = 100000,
	                .notifications = 1000000,
	                .heavy = 1000,
	                .entries = 1};
	char why[256];
	int n = uns_opts_parse(bench_options, N_BENCH_OPTS, &o, argc, argv, why,
	                       sizeof(why));
	const bench_kind *kind = n == 1 ? find_bench(argv[0]) : NULL;
	if (kind == NULL || o.help || o.threads < 1 || o.inflight < 1 ||
	    o.rounds < 1 || o.rounds > 16 || o.seconds < 1 || o.size < 0 ||
	    o.users < 1 || o.notifications < 0 || o.heavy < 1 ||
	    o.entries < 1 || o.entries > BENCH_FILL) {
		FILE *f = o.help ? stdout : stderr;
		if (n < 0) {
			fprintf(stderr, "uns-bench: %s\n", why);
		}
		fprintf(f, "usage: uns-bench KIND [options]\n");
		for (size_t i = 0; i < N_BENCH_KINDS; i++) {
			fprintf(f, "  %-8s %s\n", bench_kinds[i].name,
			        bench_kinds[i].summary);
		}
		uns_opts_usage(f, bench_options, N_BENCH_OPTS);
		return o.help ? 0 : 2;
	}
	signal(SIGPIPE, SIG_IGN);
	return kind->run(&o);
}
