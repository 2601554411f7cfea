/*
 * test_cluster_store.c — several nodes on one PostgreSQL store, as store
 * handles of one process (each its own node id, connections and thread) on
 * a throwaway cluster (tests/support/utpg.h): node ids and their
 * registration, a dead node's leases taken over, the jobs that run on one
 * node at a time and move when their holder stops, the live node count.
 * The same across processes (kill -9 of an unsd) is in tests of the
 * cluster harness.
 *
 * A node "that stops" is a store opened with node_heartbeat_ms < 0: it
 * registers at open and never beats again, as a killed or stuck node. What
 * a test checks in the database is counted through psql (ut_pg_int).
 *
 * Skipped (exit 77) only when the PostgreSQL binaries are missing.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "store_postgres.h"
#include "utpg.h"

static ut_pg pg;

#define HOST     "contoso.example.com"
#define TAPS     30
#define TIMEOUT  1000 /* node_timeout_ms of the tests' nodes */
#define WAIT_MAX 30   /* s, for anything that comes with a round */

struct node {
	uns_store_postgres_config pc;
	uns_store_config cfg;
	char schema[64];
	uns_store *st;
};

/* A node on schema (fresh when NULL) named id (NULL = the default);
 * beat_ms < 0: a node that stops beating after open. */
static uns_err
node_open(struct node *n, const char *schema, const char *id, int beat_ms)
{
	memset(n, 0, sizeof(*n));
	if (schema == NULL) {
		ut_pg_schema(n->schema, sizeof(n->schema));
	} else {
		snprintf(n->schema, sizeof(n->schema), "%s", schema);
	}
	n->pc.url = pg.url;
	n->pc.schema = n->schema;
	n->pc.node = id;
	n->pc.connect_wait_ms = -1;
	n->pc.node_heartbeat_ms = beat_ms;
	n->pc.node_timeout_ms = TIMEOUT;
	n->cfg.backend = "postgres";
	n->cfg.postgres = &n->pc;
	n->cfg.reclaim_interval_ms = 100;
	return uns_store_open(&n->st, &n->cfg);
}

static void
schema_drop(const char *schema)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
	assert_int_equal(ut_pg_sql(&pg, sql), 0);
}

/* Whether "SELECT count(*) FROM <schema>.<from_where>" is above 0. */
static bool
sql_any(const char *schema, const char *fmt, ...)
{
	char from[512], sql[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(from, sizeof(from), fmt, ap);
	va_end(ap);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.%s", schema, from);
	return ut_pg_int(&pg, sql) > 0;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
	                      .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* TAPS users, each with a webhook subscription and one post: TAPS taps. */
static void
taps_make(uns_store *st, const char *prefix, int priority_fallback)
{
	for (int i = 0; i < TAPS; i++) {
		Uns__V1__Subscription in = UNS__V1__SUBSCRIPTION__INIT, *out;
		Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT, *res;
		Uns__V1__Payload pl = UNS__V1__PAYLOAD__INIT;
		Uns__V1__FallbackPolicy fp = UNS__V1__FALLBACK_POLICY__INIT;
		Uns__V1__EndpointFallback ef = UNS__V1__ENDPOINT_FALLBACK__INIT;
		Uns__V1__VisualContent vc = UNS__V1__VISUAL_CONTENT__INIT;
		Uns__V1__Platform ios = UNS__V1__PLATFORM__PLATFORM_IOS;
		char user[32];
		bool created;
		snprintf(user, sizeof(user), "%s%d", prefix, i);
		in.device_id = "d";
		in.platform = priority_fallback
		                  ? UNS__V1__PLATFORM__PLATFORM_IOS
		                  : UNS__V1__PLATFORM__PLATFORM_WEBHOOK;
		in.push_channel = priority_fallback ? "token-0123456789abcdef"
		                                    : "https://push.example/x";
		assert_int_equal(
		    uns_store_sub_put(st, user, HOST, &in, &out, &created),
		    UNS_OK);
		uns__v1__subscription__free_unpacked(out, NULL);
		n.app_notification_id = "a";
		n.group_name = "";
		if (priority_fallback) {
			pl.raw_content = "{\"m\":1}";
			ef.fallback_delay_in_seconds = 1;
			vc.title = "You have mail";
			ef.visual_content = &vc;
			ef.n_platform_types = 1;
			ef.platform_types = &ios;
			fp.endpoint_fallback = &ef;
			n.payload = &pl;
			n.priority = UNS__V1__PRIORITY__PRIORITY_HIGH;
			n.fallback_policy = &fp;
		}
		assert_int_equal(
		    uns_store_post(st, user, HOST, &n, &res, &created), UNS_OK);
		uns__v1__notification__free_unpacked(res, NULL);
	}
}

/* Claims until nothing is due; the taps claimed are kept in *all. */
static size_t
claim_all(uns_store *st, uns_store_taps *all)
{
	uns_store_taps l = {0};

	assert_int_equal(uns_store_outbox_claim(st, 1000, 3600 * 1000, &l),
	                 UNS_OK);
	*all = l;
	return l.n;
}

static void
settle_all(uns_store *st, uns_store_taps *l)
{
	for (size_t i = 0; i < l->n; i++) {
		assert_int_equal(uns_store_outbox_settle(
		                     st, &l->taps[i], UNS_STORE_TAP_DELIVERED,
		                     0, NULL, NULL),
		                 UNS_OK);
	}
	uns_store_taps_free(l);
}

/* Settles l's taps as delivered in one write; each must come back lost
 * (its lease passed to another claim) or not, as lost says. */
static void
settle_many_all(uns_store *st, uns_store_taps *l, bool lost)
{
	uns_store_settle v[TAPS];

	assert_true(l->n <= TAPS);
	for (size_t i = 0; i < l->n; i++) {
		v[i] = (uns_store_settle){.tap = &l->taps[i],
		                          .result = UNS_STORE_TAP_DELIVERED};
	}
	assert_int_equal(uns_store_outbox_settle_many(st, v, l->n), UNS_OK);
	for (size_t i = 0; i < l->n; i++) {
		assert_int_equal(v[i].lost, lost);
	}
	uns_store_taps_free(l);
}

/* Default node ids differ between two stores of one process, and a store
 * opening never ends the leases of a live node: a claims every tap, a
 * third store opened afterwards finds none to claim. (Before: the default
 * id was host:pid, shared by every store of the process, and open ended
 * all of that id's leases.) */
static void
cluster_node_ids(void **state)
{
	struct node a, b, c;
	uns_store_taps la, lc;

	(void)state;
	assert_int_equal(node_open(&a, NULL, NULL, 100), UNS_OK);
	assert_int_equal(node_open(&b, a.schema, NULL, 100), UNS_OK);
	print_message("node ids: %s, %s\n", uns_store_node_id(a.st),
	              uns_store_node_id(b.st));
	assert_true(uns_store_node_id(a.st)[0] != '\0');
	assert_string_not_equal(uns_store_node_id(a.st),
	                        uns_store_node_id(b.st));
	taps_make(a.st, "ids", 0);
	assert_int_equal(claim_all(a.st, &la), TAPS);
	assert_int_equal(node_open(&c, a.schema, NULL, 100), UNS_OK);
	assert_int_equal(claim_all(c.st, &lc), 0);
	assert_int_equal(claim_all(b.st, &lc), 0);
	settle_all(a.st, &la);
	uns_store_close(c.st);
	uns_store_close(b.st);
	uns_store_close(a.st);
	schema_drop(a.schema);
}

/* A fixed node id: a second live node with it is refused, naming it; a
 * node restarted under its id (the old one stopped beating) waits for the
 * old beat to go stale, then ends the old life's leases, so its taps are
 * due again at once. */
static void
cluster_node_id_in_use(void **state)
{
	struct node a, dup, old, again;
	uns_store_taps l;

	(void)state;
	assert_int_equal(node_open(&a, NULL, "node-a", 100), UNS_OK);
	assert_int_equal(node_open(&dup, a.schema, "node-a", 100),
	                 UNS_FAILED_PRECONDITION);
	assert_non_null(strstr(uns_store_errmsg(), "in use by a live node"));
	assert_non_null(strstr(uns_store_errmsg(), "node-a"));

	assert_int_equal(node_open(&old, a.schema, "node-r", -1), UNS_OK);
	taps_make(old.st, "restart", 0);
	assert_int_equal(claim_all(old.st, &l), TAPS);
	uns_store_taps_free(&l);
	assert_int_equal(node_open(&again, a.schema, "node-r", 100), UNS_OK);
	assert_int_equal(claim_all(again.st, &l), TAPS);
	settle_all(again.st, &l);
	uns_store_close(again.st);
	uns_store_close(old.st);
	uns_store_close(a.st);
	schema_drop(a.schema);
}

/* A node that stops beating (killed, stuck) holding leases for an hour:
 * within about node_timeout a live node removes it, its leases end and the
 * live node claims and settles its taps; a settled tap is never claimed
 * again, and the stopped node's late settle changes nothing. */
static void
cluster_dead_node_leases(void **state)
{
	struct node dead, live;
	uns_store_taps ld, ll = {0};
	size_t got = 0;
	time_t end = time(NULL) + WAIT_MAX;

	(void)state;
	assert_int_equal(node_open(&dead, NULL, "node-dead", -1), UNS_OK);
	taps_make(dead.st, "dead", 0);
	assert_int_equal(claim_all(dead.st, &ld), TAPS);
	assert_int_equal(node_open(&live, dead.schema, "node-live", 100),
	                 UNS_OK);
	while (got < TAPS && time(NULL) < end) {
		uns_store_taps l;
		sleep_ms(100);
		if (claim_all(live.st, &l) == 0) {
			uns_store_taps_free(&l);
			continue;
		}
		got += l.n;
		settle_all(live.st, &l);
	}
	assert_int_equal(got, TAPS);
	assert_false(sql_any(dead.schema, "uns_node WHERE id = 'node-dead'"));
	settle_all(dead.st, &ld); /* late: the taps are gone already */
	assert_int_equal(claim_all(live.st, &ll), 0);
	uns_store_taps_free(&ll);
	assert_int_equal(uns_store_outbox_count(live.st, &got), UNS_OK);
	assert_int_equal(got, 0);
	uns_store_close(live.st);
	uns_store_close(dead.st);
	schema_drop(dead.schema);
}

/* A settle applies only under the lease its claim took (migrations/
 * 0004): node A claims every tap with a lease that runs out, node B claims
 * them; A's late settle answers OK, lost, and changes nothing: the taps
 * are still B's, no delivery is counted. B's settle removes them, each
 * counted once. The same for one node that claims its taps again after
 * its own lease ran out: the first claim's settle is lost. (With 0001's
 * uns_settle, A's late settle deleted the taps B held.) */
static void
cluster_late_settle(void **state)
{
	struct node a, b;
	uns_store_taps la, lb;
	size_t n;

	(void)state;
	assert_int_equal(node_open(&a, NULL, "node-a", 100), UNS_OK);
	assert_int_equal(node_open(&b, a.schema, "node-b", 100), UNS_OK);
	taps_make(a.st, "late", 0);
	assert_int_equal(uns_store_outbox_claim(a.st, TAPS, 50, &la), UNS_OK);
	assert_int_equal(la.n, TAPS);
	sleep_ms(150); /* A's lease runs out */
	assert_int_equal(claim_all(b.st, &lb), TAPS);
	settle_many_all(a.st, &la, true);
	assert_int_equal(uns_store_outbox_count(a.st, &n), UNS_OK);
	assert_int_equal(n, TAPS);
	assert_false(sql_any(a.schema, "uns_outbox WHERE lease_owner IS "
	                               "DISTINCT FROM 'node-b'"));
	assert_false(sql_any(a.schema, "uns_subscription WHERE delivered <> "
	                               "0 OR has_delivery"));
	settle_many_all(b.st, &lb, false);
	assert_int_equal(uns_store_outbox_count(a.st, &n), UNS_OK);
	assert_int_equal(n, 0);
	assert_false(
	    sql_any(a.schema, "uns_subscription WHERE delivered <> 1"));

	taps_make(a.st, "again", 0);
	assert_int_equal(uns_store_outbox_claim(a.st, TAPS, 50, &la), UNS_OK);
	assert_int_equal(la.n, TAPS);
	sleep_ms(150);
	assert_int_equal(claim_all(a.st, &lb), TAPS);
	settle_many_all(a.st, &la, true);
	assert_int_equal(uns_store_outbox_count(a.st, &n), UNS_OK);
	assert_int_equal(n, TAPS);
	settle_many_all(a.st, &lb, false);
	assert_int_equal(uns_store_outbox_count(a.st, &n), UNS_OK);
	assert_int_equal(n, 0);
	uns_store_close(b.st);
	uns_store_close(a.st);
	schema_drop(a.schema);
}

/* The jobs run on one node at a time: of two live nodes, one holds the
 * reclaim job and keeps it round after round; the fallback checks run on
 * the node that holds the fallback job (the other's call queues nothing
 * while due checks wait); both count two live nodes. When the holder
 * stops (leaving its lease row to run out, as a killed node does), the
 * other node takes the job over. */
static void
cluster_jobs_once(void **state)
{
	struct node a, b;
	size_t qa = 0, qb = 0;
	char owner[64];
	time_t end = time(NULL) + WAIT_MAX;

	(void)state;
	assert_int_equal(node_open(&a, NULL, "node-a", 100), UNS_OK);
	assert_int_equal(node_open(&b, a.schema, "node-b", 100), UNS_OK);
	while ((uns_store_nodes_live(a.st) != 2 ||
	        uns_store_nodes_live(b.st) != 2) &&
	       time(NULL) < end) {
		sleep_ms(50);
	}
	assert_int_equal(uns_store_nodes_live(a.st), 2);
	assert_int_equal(uns_store_nodes_live(b.st), 2);
	while (!sql_any(a.schema, "uns_job WHERE name = 'reclaim' AND owner "
	                          "IS NOT NULL") &&
	       time(NULL) < end) {
		sleep_ms(50);
	}
	snprintf(owner, sizeof(owner), "%s",
	         sql_any(a.schema, "uns_job WHERE name = 'reclaim' AND owner "
	                           "= 'node-a'")
	             ? "node-a"
	             : "node-b");
	for (int i = 0; i < 10; i++) {
		sleep_ms(100);
		assert_true(
		    sql_any(a.schema,
		            "uns_job WHERE name = 'reclaim' AND owner = "
		            "'%s'",
		            owner));
	}

	/* Fallback: a holds the job; due checks are b's to leave alone. */
	assert_int_equal(uns_store_fallback_run(a.st, &qa), UNS_OK);
	taps_make(a.st, "fb", 1);
	{
		uns_store_taps l;
		assert_int_equal(claim_all(a.st, &l), TAPS);
		settle_all(a.st, &l);
	}
	sleep_ms(1200); /* the checks are due */
	assert_int_equal(uns_store_fallback_run(b.st, &qb), UNS_OK);
	assert_int_equal(qb, 0);
	assert_true(sql_any(a.schema, "uns_fallback"));
	assert_int_equal(uns_store_fallback_run(a.st, &qa), UNS_OK);
	assert_int_equal(qa, TAPS);
	assert_false(sql_any(a.schema, "uns_fallback"));

	/* Reclaims at expiry time (the service's expiry thread): only the
	 * reclaim job's holder names a next expiry, so they run on one node. */
	{
		int64_t when;
		uns_store *h = strcmp(owner, "node-a") == 0 ? a.st : b.st;
		assert_int_equal(uns_store_next_expiry(h, &when), UNS_OK);
		assert_int_equal(
		    uns_store_next_expiry(h == a.st ? b.st : a.st, &when),
		    UNS_NOT_FOUND);
	}

	/* The reclaim job's holder closes: the other takes it over. */
	uns_store *holder = strcmp(owner, "node-a") == 0 ? a.st : b.st;
	const char *other = strcmp(owner, "node-a") == 0 ? "node-b" : "node-a";
	uns_store_close(holder);
	while (!sql_any(a.schema,
	                "uns_job WHERE name = 'reclaim' AND owner = "
	                "'%s'",
	                other) &&
	       time(NULL) < end) {
		sleep_ms(50);
	}
	assert_true(sql_any(a.schema,
	                    "uns_job WHERE name = 'reclaim' AND owner = '%s'",
	                    other));
	uns_store_close(holder == a.st ? b.st : a.st);
	schema_drop(a.schema);
}

/* A job whose holder was killed (its lease row left as it was, its node
 * row stale): once the lease ends, a live node takes the job over and
 * sweeps the dead node away. */
static void
cluster_job_moves_on_death(void **state)
{
	struct node a;
	char sql[512], schema[64];
	time_t end = time(NULL) + WAIT_MAX;

	(void)state;
	assert_int_equal(node_open(&a, NULL, "node-a", -1), UNS_OK);
	snprintf(schema, sizeof(schema), "%s", a.schema);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO %s.uns_node VALUES ('ghost', 0, 0); UPDATE "
	         "%s.uns_job SET owner = 'ghost', until = (extract(epoch from "
	         "clock_timestamp()) * 1000)::bigint + 1500",
	         a.schema, a.schema);
	assert_int_equal(ut_pg_sql(&pg, sql), 0);
	uns_store_close(a.st);
	assert_int_equal(node_open(&a, schema, "node-a", 100), UNS_OK);
	sleep_ms(500);
	assert_true(sql_any(a.schema,
	                    "uns_job WHERE name = 'reclaim' AND owner = "
	                    "'ghost'"));
	while (!sql_any(a.schema, "uns_job WHERE name = 'reclaim' AND owner = "
	                          "'node-a'") &&
	       time(NULL) < end) {
		sleep_ms(50);
	}
	assert_true(sql_any(a.schema, "uns_job WHERE name = 'reclaim' AND "
	                              "owner = 'node-a'"));
	while (sql_any(a.schema, "uns_node WHERE id = 'ghost'") &&
	       time(NULL) < end) {
		sleep_ms(50);
	}
	assert_false(sql_any(a.schema, "uns_node WHERE id = 'ghost'"));
	uns_store_close(a.st);
	schema_drop(a.schema);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(cluster_node_ids),
	    cmocka_unit_test(cluster_node_id_in_use),
	    cmocka_unit_test(cluster_dead_node_leases),
	    cmocka_unit_test(cluster_late_settle),
	    cmocka_unit_test(cluster_jobs_once),
	    cmocka_unit_test(cluster_job_moves_on_death),
	};
	char why[256];
	int rc;

	if (!ut_pg_start(&pg, why, sizeof(why))) {
		bool missing = strstr(why, "not found") != NULL;
		fprintf(stderr, "test_cluster_store: %s: %s\n",
		        missing ? "SKIPPED" : "FAILED", why);
		ut_pg_stop(&pg);
		return missing ? 77 : 1;
	}
	if (getenv("UNS_TEST_FILTER") != NULL) {
		cmocka_set_test_filter(getenv("UNS_TEST_FILTER"));
	}
	rc = cmocka_run_group_tests_name("cluster_store", tests, NULL, NULL);
	ut_pg_stop(&pg);
	return rc;
}
