/*
 * bench_store.c — the numbers behind `unsctl bench post` (not a CTest test).
 *
 * Prints the floor (bare RocksDB, one writer, sync=1 puts of 200 bytes),
 * then store posts/s at 1, 8 and 64 concurrent threads with the average
 * group-commit batch size and the ratio to the floor. Each thread posts to
 * its own 64 users in turn, as independent users do in production (one
 * user's writes are serialized by design, see server/store_rocksdb.c, and
 * one user holds at most 10,000 live notifications). Every run uses a fresh
 * store in $TMPDIR.
 * Usage: bench_store [seconds per run, default 3] [thread counts, default
 * 1 8 64]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ftw.h>
#include <unistd.h>

#include "store.h"

struct run {
	uns_store *st;
	atomic_bool stop;
	atomic_ullong posts;
	atomic_int failures;
};

struct worker {
	struct run *run;
	int index;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	Uns__V1__VisualContent vc = UNS__V1__VISUAL_CONTENT__INIT;
	Uns__V1__Payload pl = UNS__V1__PAYLOAD__INIT;
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT;
	char user[32], app[32];

	vc.title = "Your order has shipped";
	vc.body = "Order 1234 left the warehouse and arrives on Thursday. "
	          "Track it in the app or on the web site.";
	pl.visual_content = &vc;
	n.payload = &pl;
	n.app_notification_id = app;
	for (unsigned long i = 0; !atomic_load(&w->run->stop); i++) {
		Uns__V1__Notification *out;
		bool created;
		/* 64 users per thread keeps each under the live limit. */
		snprintf(user, sizeof(user), "bench-user-%d-%lu", w->index,
		         i % 64);
		snprintf(app, sizeof(app), "n%lu", i);
		if (uns_store_post(w->run->st, user, "bench.example.com", &n,
		                   &out, &created) != UNS_OK) {
			fprintf(stderr, "post: %s\n", uns_store_errmsg());
			atomic_fetch_add(&w->run->failures, 1);
			return NULL;
		}
		uns__v1__notification__free_unpacked(out, NULL);
		atomic_fetch_add(&w->run->posts, 1);
	}
	return NULL;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static char *
fresh_dir(const char *tag)
{
	const char *base = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	char *dir = NULL;

	if (asprintf(&dir, "%s/uns-bench-%s-XXXXXX", base, tag) < 0 ||
	    mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	return dir;
}

/* Posts from `threads` threads for `seconds`; returns posts/s. */
static double
bench_posts(int threads, int seconds, double *avg_batch)
{
	char *dir = fresh_dir("store");
	uns_store_config cfg = {.dir = dir, .reclaim_interval_ms = -1};
	struct run run = {0};
	pthread_t *t = calloc((size_t)threads, sizeof(*t));
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	uns_store_stats s0, s1;
	double start, elapsed;

	if (uns_store_open(&run.st, &cfg) != UNS_OK) {
		fprintf(stderr, "open: %s\n", uns_store_errmsg());
		exit(1);
	}
	uns_store_stats_get(run.st, &s0);
	start = now_s();
	for (int i = 0; i < threads; i++) {
		w[i] = (struct worker){.run = &run, .index = i};
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	struct timespec nap = {.tv_sec = seconds};
	nanosleep(&nap, NULL);
	atomic_store(&run.stop, true);
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
	}
	elapsed = now_s() - start;
	uns_store_stats_get(run.st, &s1);
	*avg_batch = (double)(s1.commit_writes - s0.commit_writes) /
	             (double)(s1.commit_batches - s0.commit_batches);
	if (atomic_load(&run.failures) != 0) {
		fprintf(stderr, "%d threads stopped on a failed post\n",
		        atomic_load(&run.failures));
	}
	uns_store_close(run.st);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
	free(t);
	free(w);
	return (double)atomic_load(&run.posts) / elapsed;
}

int
main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 3;
	int threads[16] = {1, 8, 64}, nthreads = 3;
	char *dir = fresh_dir("raw");
	double raw = 0;

	if (argc > 2) {
		nthreads = 0;
		for (int i = 2; i < argc && nthreads < 16; i++) {
			threads[nthreads++] = atoi(argv[i]);
		}
	}
	for (int i = 0; i < nthreads; i++) {
		if (threads[i] <= 0) {
			seconds = 0;
		}
	}
	if (seconds <= 0) {
		fprintf(stderr, "usage: bench_store [seconds] [threads...]\n");
		return 2;
	}
	if (uns_store_bench_raw_synced_puts(dir, seconds, &raw) != UNS_OK) {
		fprintf(stderr, "raw bench: %s\n", uns_store_errmsg());
		return 1;
	}
	rmdir(dir);
	free(dir);
	printf("raw RocksDB, 1 writer, sync=1, 200 B puts: %8.0f puts/s\n",
	       raw);
	for (int i = 0; i < nthreads; i++) {
		double avg = 0, rate = bench_posts(threads[i], seconds, &avg);
		printf("store posts, %2d threads: %8.0f posts/s, %5.1f "
		       "writes/batch, "
		       "%5.1fx the raw floor\n",
		       threads[i], rate, avg, rate / raw);
	}
	return 0;
}
