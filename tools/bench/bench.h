/*
 * bench.h — what uns-bench's files share: options, the forked server
 * child, and dev tokens for it (bench.c says which bench lives where).
 */
#ifndef UNS_BENCH_H
#define UNS_BENCH_H

#include <stdint.h>
#include <sys/types.h>

#include "cli_opts.h"
#include "uns_stubs.h"

#define BENCH_HOST "bench.example.com"
#define BENCH_APP  "bench-app"

typedef struct bench_opts {
	int seconds;
	int threads;
	int inflight;
	int size;
	int rounds;
	const char *transports;
	int blocking;
	int users;
	int notifications;
	int heavy;
	int entries;
	int commit_wait_us;
	int answer_thread;
	const char *store;        /* "rocksdb" (NULL) or "postgres" */
	const char *postgres_url; /* store = postgres */
	int help;
} bench_opts;

/* The server child and the parent's ends of its pipes. */
typedef struct bench_proc {
	char dir[32], cert[256], ca[256];
	int rfd, wfd;
	pid_t pid;
	int ports[4]; /* rpc: bare tcp, bare tls, ours tcp, ours tls;
	                 store: ours tcp, ours tls */
} bench_proc;

/* CLOCK_MONOTONIC in microseconds, for every benchmark's timing. */
int64_t bench_now_us(void);
/*
 * Runs op(env) in batches of 16 until slice_ns of this thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID: other load on the shared cores stretches wall
 * time, not the work) have passed; returns ops per CPU second, or -1 when
 * op failed (returned nonzero).
 */
double bench_cpu_rate(int (*op)(void *env), void *env, int64_t slice_ns);
/* CPU time (user + system) process pid has used, in microseconds; -1 if
 * unknown. Ticks of 10 ms: fine over rounds of seconds. Unlike calls/s,
 * CPU per call hardly moves when other work shares the cores. */
double bench_proc_cpu_us(pid_t pid);
/* The same, summed over pid's threads whose name starts with prefix (0 if
 * none; -1 if unknown). A thread's time ends with it: read it while the
 * threads run. */
double bench_threads_cpu_us(pid_t pid, const char *prefix);
/* The median of v[0..n-1] (sorts v). */
double bench_median(double *v, int n);
/* Removes dir and everything under it (a benchmark's scratch store). */
void bench_rm_tree(const char *dir);

/* Makes certificates, forks the child (store: the full service on a
 * RocksDB store; else Echo and bare NNG) and reads its ports. */
int bench_proc_start(bench_proc *p, const bench_opts *o, int store);
/* Ends the child and removes its directory. */
void bench_proc_stop(bench_proc *p);
/* A token signed with the child's HS256 secret: a user token when sub is
 * set, else an app token for app (malloc'd; NULL on failure). */
char *bench_mint(const char *sub, const char *app, const char *scope);

/* A Post that creates (to unsid, as the app of token): a fresh app
 * notification id every time, written to app_id_out (32 bytes) when that
 * is not NULL. With cb NULL it waits for the answer. */
uns_err bench_post_call(uns_client *c, const char *token, const char *unsid,
                        uns_notifications_post_cb cb, void *arg,
                        char *app_id_out);

/* `uns-bench scale` (bench_scale.c). */
int bench_scale(bench_opts *o);
/* The CPU time (µs) of the PostgreSQL cluster whose postmaster is pm: it
 * and its children, with their reaped children's; 0 when pm is 0. */
double bench_db_cpu_us(long pm);
/* `uns-bench claims` (bench_cluster.c). */
int bench_claims(bench_opts *o);
/* `uns-bench commit` (bench_commit.c). */
int bench_commit(bench_opts *o);

/* `uns-bench taps` (bench_taps.c): its own options; argv[1] is "taps". */
int bench_taps_main(int argc, char **argv);
/* `uns-bench wake` (bench_wake.c): its own options; argv[1] is "wake". */
int bench_wake_main(int argc, char **argv);
/* `uns-bench webpush` (bench_push.c); returns the exit status. */
int bench_webpush_run(int rounds);
/* `uns-bench json` (bench_json.c). */
int bench_json_run(int rounds, int entries);

#endif /* UNS_BENCH_H */
