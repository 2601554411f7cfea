/*
 * bench_commit.c — `uns-bench commit`: group commit on its own,
 * the store without RPC, against the floor it must beat.
 *
 * In this process, on fresh stores in a temp dir: the floor (bare RocksDB,
 * one writer, sync=1 puts), then durable posts from 1, 8 and 64 threads
 * that each wait for their write (uns_store_post), then one thread keeping
 * 64 and 1,024 posts in flight without waiting (uns_store_post_async, the
 * path an RPC Post takes). Posts go round-robin to 64 users per writer (as
 * many as are in flight for the async runs), as independent users do: one
 * user's writes are serialised by design, one per sync. Per
 * level: posts/s, writes per synced batch, the ratio to the floor and the
 * process's CPU time per post (user + system, all threads: the committer,
 * RocksDB's own, the writers), and of it the committer thread's and
 * RocksDB's background threads' shares: the committer is the serial
 * resource, so its share bounds posts/s. --commit-wait and --answer-thread
 * set the store's knobs as for `bench post`. Levels alternate with the
 * floor over --rounds; medians.
 */
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include "store.h"
#include "store_rocksdb.h"
#include "bench.h"

#define COMMIT_USERS 64

typedef struct commit_run {
	uns_store *st;
	atomic_bool stop;
	atomic_ullong posts;
	atomic_int failures;
	sem_t slots;         /* async: posts that may start */
	unsigned long users; /* per writer */
} commit_run;

typedef struct commit_writer {
	commit_run *run;
	int index;
} commit_writer;

/* One post's notification; lives until its write ended. */
typedef struct commit_post {
	commit_run *run;
	Uns__V1__VisualContent vc;
	Uns__V1__Payload pl;
	Uns__V1__Notification n;
	char app[32];
} commit_post;

static void
post_init(commit_post *p, commit_run *run, unsigned long i)
{
	uns__v1__visual_content__init(&p->vc);
	uns__v1__payload__init(&p->pl);
	uns__v1__notification__init(&p->n);
	p->run = run;
	p->vc.title = "Your order has shipped";
	p->vc.body = "Order 1234 left the warehouse and arrives on Thursday. "
	             "Track it in the app or on the web site.";
	p->pl.visual_content = &p->vc;
	p->n.payload = &p->pl;
	snprintf(p->app, sizeof(p->app), "n%lu", i);
	p->n.app_notification_id = p->app;
	p->n.group_name = "";
}

static void
user_of(char *user, size_t cap, const commit_run *run, int writer,
        unsigned long i)
{
	snprintf(user, cap, "bench-user-%d-%lu", writer, i % run->users);
}

static void *
blocking_writer(void *arg)
{
	commit_writer *w = arg;
	commit_post p;
	char user[48];

	for (unsigned long i = 0; !atomic_load(&w->run->stop); i++) {
		Uns__V1__Notification *out = NULL;
		bool created;
		post_init(&p, w->run, i);
		user_of(user, sizeof(user), w->run, w->index, i);
		if (uns_store_post(w->run->st, user, BENCH_HOST, &p.n, &out,
		                   &created) != UNS_OK) {
			atomic_fetch_add(&w->run->failures, 1);
			return NULL;
		}
		uns__v1__notification__free_unpacked(out, NULL);
		atomic_fetch_add(&w->run->posts, 1);
	}
	return NULL;
}

/* Not a store write (done may not write): frees the slot for the issuer. */
static void
async_done(void *arg, uns_err rc, Uns__V1__Notification *n, bool created)
{
	commit_post *p = arg;
	commit_run *run = p->run;

	(void)created;
	if (rc == UNS_OK) {
		uns__v1__notification__free_unpacked(n, NULL);
		atomic_fetch_add(&run->posts, 1);
	} else {
		atomic_fetch_add(&run->failures, 1);
	}
	free(p);
	sem_post(&run->slots);
}

static void *
async_issuer(void *arg)
{
	commit_writer *w = arg;
	char user[48];

	for (unsigned long i = 0; !atomic_load(&w->run->stop); i++) {
		while (sem_wait(&w->run->slots) != 0) {
		}
		commit_post *p = malloc(sizeof(*p));
		if (p == NULL) {
			atomic_fetch_add(&w->run->failures, 1);
			return NULL;
		}
		post_init(p, w->run, i);
		user_of(user, sizeof(user), w->run, w->index, i);
		uns_store_post_async(w->run->st, user, BENCH_HOST, &p->n,
		                     async_done, p);
	}
	return NULL;
}

typedef struct level {
	const char *name;
	int threads;  /* blocking writers; 0 = one async issuer */
	int inflight; /* async: posts in flight */
	double rate[16], batch[16], cpu_us[16], commit_us[16], engine_us[16];
	int n;
} level;

/* One run of a level on a fresh store under dir. */
static int
run_level(level *l, const char *dir, const bench_opts *o)
{
	char path[256];
	commit_run run = {0};
	int writers = l->threads > 0 ? l->threads : 1;
	pthread_t *t = calloc((size_t)writers, sizeof(*t));
	commit_writer *w = calloc((size_t)writers, sizeof(*w));
	uns_store_stats s0, s1;

	snprintf(path, sizeof(path), "%s/%s-%d", dir, l->name, l->n);
	uns_store_config cfg = {
	    .dir = path,
	    .reclaim_interval_ms = -1,
	    .commit_max_wait_us = (unsigned)o->commit_wait_us,
	    .commit_answer_thread = o->answer_thread,
	};
	if (t == NULL || w == NULL || uns_store_open(&run.st, &cfg) != UNS_OK) {
		fprintf(stderr, "uns-bench commit: %s\n", uns_store_errmsg());
		free(t);
		free(w);
		return -1;
	}
	sem_init(&run.slots, 0, (unsigned)l->inflight);
	/* As many users as posts in flight: one user's writes share no sync. */
	run.users = l->inflight > COMMIT_USERS ? (unsigned long)l->inflight
	                                       : COMMIT_USERS;
	uns_store_stats_get(run.st, &s0);
	int64_t t0 = bench_now_us();
	double c0 = bench_proc_cpu_us(getpid());
	double k0 = bench_threads_cpu_us(getpid(), "uns-commit");
	double e0 = bench_threads_cpu_us(getpid(), "rocksdb:");
	for (int i = 0; i < writers; i++) {
		w[i] = (commit_writer){.run = &run, .index = i};
		pthread_create(&t[i], NULL,
		               l->threads > 0 ? blocking_writer : async_issuer,
		               &w[i]);
	}
	sleep((unsigned)o->seconds);
	atomic_store(&run.stop, true);
	for (int i = 0; i < writers; i++) {
		pthread_join(t[i], NULL);
	}
	for (int i = 0; i < l->inflight; i++) { /* the async posts' ends */
		while (sem_wait(&run.slots) != 0) {
		}
	}
	double secs = (double)(bench_now_us() - t0) / 1e6;
	double cpu_us = bench_proc_cpu_us(getpid()) - c0;
	double commit_us = bench_threads_cpu_us(getpid(), "uns-commit") - k0;
	double engine_us = bench_threads_cpu_us(getpid(), "rocksdb:") - e0;
	uns_store_stats_get(run.st, &s1);
	unsigned long long posts = atomic_load(&run.posts);
	l->rate[l->n] = (double)posts / secs;
	l->batch[l->n] = (double)(s1.commit_writes - s0.commit_writes) /
	                 (double)(s1.commit_batches - s0.commit_batches + 1e-9);
	l->cpu_us[l->n] = posts ? cpu_us / (double)posts : 0;
	l->commit_us[l->n] = posts ? commit_us / (double)posts : 0;
	l->engine_us[l->n] = posts ? engine_us / (double)posts : 0;
	l->n++;
	uns_store_close(run.st);
	sem_destroy(&run.slots);
	bench_rm_tree(path);
	free(t);
	free(w);
	if (atomic_load(&run.failures) != 0) {
		fprintf(stderr, "uns-bench commit: %d posts failed\n",
		        atomic_load(&run.failures));
		return -1;
	}
	return 0;
}

int
bench_commit(bench_opts *o)
{
	level levels[] = {
	    {.name = "wait-1", .threads = 1, .inflight = 0},
	    {.name = "wait-8", .threads = 8, .inflight = 0},
	    {.name = "wait-64", .threads = 64, .inflight = 0},
	    {.name = "async-64", .threads = 0, .inflight = 64},
	    {.name = "async-1024", .threads = 0, .inflight = 1024},
	};
	size_t nl = sizeof(levels) / sizeof(levels[0]);
	double floor[16];
	int rounds = o->rounds < 1 ? 1 : o->rounds > 16 ? 16 : o->rounds;
	char dir[] = "/tmp/uns-bench-commit-XXXXXX";
	int rc = 0;

	if (mkdtemp(dir) == NULL) {
		perror("uns-bench commit: mkdtemp");
		return 1;
	}
	for (int r = 0; r < rounds && rc == 0; r++) {
		char fdir[300];
		snprintf(fdir, sizeof(fdir), "%s/floor-%d", dir, r);
		if (uns_store_bench_raw_synced_puts(fdir, o->seconds,
		                                    &floor[r]) != UNS_OK) {
			fprintf(stderr, "uns-bench commit: floor: %s\n",
			        uns_store_errmsg());
			rc = 1;
		}
		bench_rm_tree(fdir);
		for (size_t i = 0; i < nl && rc == 0; i++) {
			rc = run_level(&levels[i], dir, o) ? 1 : 0;
		}
	}
	if (rc == 0) {
		double f = bench_median(floor, rounds);
		printf("group commit, store only (no RPC), %d rounds of %d s; "
		       "medians\n",
		       rounds, o->seconds);
		printf("  floor: raw RocksDB, 1 writer, sync=1: %.0f puts/s\n",
		       f);
		for (size_t i = 0; i < nl; i++) {
			level *l = &levels[i];
			double rate = bench_median(l->rate, l->n);
			printf("  %-11s %8.0f posts/s  %6.1f writes/sync  "
			       "%5.1fx floor  CPU %5.1f us/post "
			       "(committer %4.1f, RocksDB's threads %4.1f)\n",
			       l->name, rate, bench_median(l->batch, l->n),
			       rate / f, bench_median(l->cpu_us, l->n),
			       bench_median(l->commit_us, l->n),
			       bench_median(l->engine_us, l->n));
		}
	}
	rmdir(dir);
	return rc;
}
