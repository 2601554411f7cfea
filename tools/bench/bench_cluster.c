/*
 * bench_cluster.c — `uns-bench claims`: what sharing one PostgreSQL outbox
 * costs when several nodes deliver, in one process.
 *
 * For 1 and then 3 nodes (store handles on one fresh schema, each its own
 * node id and connections): --users subscriptions with one post each (so
 * as many pending taps), then one thread per node claims 64 at a time and
 * settles them delivered in one write, until the outbox is empty. Figures:
 * taps/s, CPU µs per tap of this process and of the database's processes,
 * and taps claimed twice (0 expected: SKIP LOCKED under leases). The
 * 1-node run is the baseline, measured in the same run on the same
 * database.
 *
 * Then the job rounds alone: the same nodes idle with a 100 ms heartbeat
 * for --seconds (each round: the beat, the job leases when due, the sweep
 * of dead nodes by the reclaim job's holder, a reclaim that finds
 * nothing): CPU µs per round, of this process and of the database.
 *
 * The database's CPU: with UNS_BENCH_PG_PID set to the postmaster's pid,
 * that process and its children only (other PostgreSQL clusters on the
 * machine left out); otherwise every process named postgres.
 */
#include <dirent.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "store.h"
#include "store_postgres.h"

#define MAX_NODES  3
#define SETUP_THR  8
#define CLAIM_MAX  64
#define ROUND_BEAT 100 /* ms, for the idle rounds */

struct node {
	uns_store_postgres_config pc;
	uns_store_config cfg;
	uns_store *st;
	size_t claimed;
	uns_err rc;
};

struct setup {
	uns_store *st;
	int from, to;
	sem_t window;
	atomic_int fails;
};

static double
self_cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* The database's CPU (µs): the postmaster UNS_BENCH_PG_PID names and its
 * children; 0 without it. */
static double
db_cpu_us(void)
{
	const char *pm = getenv("UNS_BENCH_PG_PID");
	return bench_db_cpu_us(pm != NULL ? strtol(pm, NULL, 10) : 0);
}

static void
post_done(void *arg, uns_err rc, Uns__V1__Notification *n, bool created)
{
	struct setup *s = arg;

	(void)created;
	if (rc != UNS_OK) {
		atomic_fetch_add(&s->fails, 1);
	}
	if (n != NULL) {
		uns__v1__notification__free_unpacked(n, NULL);
	}
	sem_post(&s->window);
}

/* Users from..to: a webhook subscription each, then a post each (64 in
 * flight). */
static void *
setup_main(void *arg)
{
	struct setup *s = arg;
	char user[32];

	for (int i = s->from; i < s->to; i++) {
		Uns__V1__Subscription in = UNS__V1__SUBSCRIPTION__INIT, *out;
		bool created;
		snprintf(user, sizeof(user), "u%d", i);
		in.device_id = "d";
		in.platform = UNS__V1__PLATFORM__PLATFORM_WEBHOOK;
		in.push_channel = "https://push.example/x";
		if (uns_store_sub_put(s->st, user, BENCH_HOST, &in, &out,
		                      &created) != UNS_OK) {
			atomic_fetch_add(&s->fails, 1);
			continue;
		}
		uns__v1__subscription__free_unpacked(out, NULL);
	}
	for (int i = s->from; i < s->to; i++) {
		Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT;
		snprintf(user, sizeof(user), "u%d", i);
		n.app_notification_id = "a";
		n.group_name = "";
		sem_wait(&s->window);
		uns_store_post_async(s->st, user, BENCH_HOST, &n, post_done, s);
	}
	for (int i = 0; i < 64; i++) {
		sem_wait(&s->window);
	}
	return NULL;
}

static int
fill(uns_store *st, int users)
{
	struct setup s[SETUP_THR];
	pthread_t t[SETUP_THR];
	int fails = 0;

	for (int i = 0; i < SETUP_THR; i++) {
		s[i].st = st;
		s[i].from = users * i / SETUP_THR;
		s[i].to = users * (i + 1) / SETUP_THR;
		sem_init(&s[i].window, 0, 64);
		atomic_init(&s[i].fails, 0);
		pthread_create(&t[i], NULL, setup_main, &s[i]);
	}
	for (int i = 0; i < SETUP_THR; i++) {
		pthread_join(t[i], NULL);
		fails += atomic_load(&s[i].fails);
		sem_destroy(&s[i].window);
	}
	return fails;
}

static void *
deliver_main(void *arg)
{
	struct node *n = arg;

	for (int idle = 0; idle < 3 && n->rc == UNS_OK;) {
		uns_store_taps l = {0};
		uns_store_settle v[CLAIM_MAX];
		if ((n->rc = uns_store_outbox_claim(n->st, CLAIM_MAX, 60000,
		                                    &l)) != UNS_OK) {
			break;
		}
		idle = l.n == 0 ? idle + 1 : 0;
		for (size_t i = 0; i < l.n; i++) {
			v[i] = (uns_store_settle){.tap = &l.taps[i],
			                          .result =
			                              UNS_STORE_TAP_DELIVERED};
		}
		if (l.n > 0) {
			n->rc = uns_store_outbox_settle_many(n->st, v, l.n);
		}
		n->claimed += l.n;
		uns_store_taps_free(&l);
	}
	return NULL;
}

static int
run_nodes(const bench_opts *o, int nodes, int users, int run)
{
	struct node nd[MAX_NODES];
	pthread_t t[MAX_NODES];
	char schema[48];
	size_t claimed = 0;
	int rc = 1;

	memset(nd, 0, sizeof(nd));
	snprintf(schema, sizeof(schema), "bench_claims_%d_%d", (int)getpid(),
	         run);
	for (int i = 0; i < nodes; i++) {
		nd[i].pc = (uns_store_postgres_config){.url = o->postgres_url,
		                                       .schema = schema,
		                                       .node_heartbeat_ms =
		                                           ROUND_BEAT};
		nd[i].cfg = (uns_store_config){.backend = "postgres",
		                               .postgres = &nd[i].pc,
		                               .max_live = 1u << 30};
		if (uns_store_open(&nd[i].st, &nd[i].cfg) != UNS_OK) {
			fprintf(stderr, "claims: %s\n", uns_store_errmsg());
			goto out;
		}
	}
	if (fill(nd[0].st, users) != 0) {
		fprintf(stderr, "claims: set-up failed\n");
		goto out;
	}
	double cpu0 = self_cpu_us(), db0 = db_cpu_us();
	int64_t t0 = bench_now_us();
	for (int i = 0; i < nodes; i++) {
		pthread_create(&t[i], NULL, deliver_main, &nd[i]);
	}
	for (int i = 0; i < nodes; i++) {
		pthread_join(t[i], NULL);
		claimed += nd[i].claimed;
		rc = rc && nd[i].rc == UNS_OK ? 1 : 0;
	}
	double secs = (double)(bench_now_us() - t0) / 1e6;
	double cpu = self_cpu_us() - cpu0, db = db_cpu_us() - db0;
	printf("%d node%s: %zu taps in %.2f s = %.0f taps/s; CPU per tap: "
	       "unsd %.1f µs + postgres %.1f µs; claimed twice: %zd\n",
	       nodes, nodes > 1 ? "s" : " ", claimed, secs,
	       (double)claimed / secs, cpu / (double)claimed,
	       db / (double)claimed, (ssize_t)claimed - users);

	/* The job rounds alone, idle. */
	cpu0 = self_cpu_us();
	db0 = db_cpu_us();
	t0 = bench_now_us();
	sleep((unsigned)o->seconds);
	secs = (double)(bench_now_us() - t0) / 1e6;
	double rounds = secs * 1000.0 / ROUND_BEAT * nodes;
	printf("%d node%s idle, a round every %d ms each: %.0f rounds; CPU "
	       "per round: unsd %.0f µs + postgres %.0f µs\n",
	       nodes, nodes > 1 ? "s" : " ", ROUND_BEAT, rounds,
	       (self_cpu_us() - cpu0) / rounds, (db_cpu_us() - db0) / rounds);
	rc = rc ? 0 : 1;
out:
	for (int i = 0; i < nodes; i++) {
		uns_store_close(nd[i].st);
	}
	return rc;
}

int
bench_claims(bench_opts *o)
{
	int users = o->users > 0 && o->users != 100000 ? o->users : 20000;

	if (o->postgres_url == NULL) {
		fprintf(stderr,
		        "claims: --postgres-url is required (a "
		        "database this benchmark may make schemas in)\n");
		return 2;
	}
	o->seconds = o->seconds > 0 ? o->seconds : 5;
	printf("claims: %d taps, claimed 64 at a time and settled delivered "
	       "in one write, by 1 then 3 nodes on one database\n",
	       users);
	return run_nodes(o, 1, users, 1) || run_nodes(o, MAX_NODES, users, 3);
}
