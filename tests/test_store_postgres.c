/*
 * test_store_postgres.c — the PostgreSQL store: the shared conformance
 * suite (store_conformance.h, unchanged, each test in a schema of its own
 * on one throwaway cluster, tests/support/utpg.h), plus what only this
 * backend has: migrations, two delivery engines claiming one outbox,
 * faults (database down at open, restarted under load, a stuck statement,
 * a synchronous standby away, a primary turned read-only) and a stress of
 * feed cursors under concurrent commits.
 *
 * Skipped (exit 77, CTest's SKIP_RETURN_CODE) only when the PostgreSQL
 * binaries are missing, saying so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

static void conf_backend_config(uns_store_config *cfg);
static void conf_backend_destroy(const uns_store_config *cfg);

#include "store_conformance.h"
#include "store_postgres.h"
#include "utpg.h"

static ut_pg pg;

#define ID_CAP 23 /* a minted id and its NUL */

/* --- backend glue ------------------------------------------------------ */

struct pgconf {
	uns_store_postgres_config pc;
	char schema[64];
};

static void
conf_backend_config(uns_store_config *cfg)
{
	struct pgconf *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	ut_pg_schema(p->schema, sizeof(p->schema));
	p->pc.url = pg.url;
	p->pc.schema = p->schema;
	memset(cfg, 0, sizeof(*cfg));
	cfg->backend = "postgres";
	cfg->postgres = &p->pc;
}

static void
conf_backend_destroy(const uns_store_config *cfg)
{
	struct pgconf *p = (struct pgconf *)cfg->postgres;
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE",
	         p->schema);
	assert_int_equal(ut_pg_sql(&pg, sql), 0);
	free(p);
}

/* --- what only PostgreSQL has ------------------------------------------- */

/* A store of these tests, and what one may set otherwise; 0 or NULL = the
 * tests' default: a new schema on the test cluster, the default node id
 * (the lease owner), open failing at once when the database is down, no
 * background reclaim, the store's defaults for the rest. */
struct pgstore {
	uns_store_postgres_config pc;
	uns_store_config cfg;
	char schema[64];
	uns_store *st;
};

struct pgs_settings {
	const char *schema; /* an existing one (may be s->schema) */
	const char *node;
	const char *url;     /* another cluster, several hosts */
	int connect_wait_ms; /* open's retries while the database is down */
	int statement_timeout_ms; /* 0 = the store's default */
	unsigned committers;      /* 0 = the store's default */
	int64_t commit_max_wait_us;
};

static uns_err
pgs_open(struct pgstore *s, const struct pgs_settings *o)
{
	static const struct pgs_settings none;
	char schema[sizeof(s->schema)];

	o = o != NULL ? o : &none;
	if (o->schema == NULL) {
		ut_pg_schema(schema, sizeof(schema));
	} else {
		snprintf(schema, sizeof(schema), "%s", o->schema);
	}
	memset(s, 0, sizeof(*s));
	memcpy(s->schema, schema, sizeof(schema));
	s->pc = (uns_store_postgres_config){
	    .url = o->url != NULL ? o->url : pg.url,
	    .schema = s->schema,
	    .node = o->node,
	    .connect_wait_ms =
	        o->connect_wait_ms != 0 ? o->connect_wait_ms : -1,
	    .statement_timeout_ms = o->statement_timeout_ms,
	    .committers = o->committers};
	s->cfg = (uns_store_config){.backend = "postgres",
	                            .postgres = &s->pc,
	                            .commit_max_wait_us = o->commit_max_wait_us,
	                            .reclaim_interval_ms = -1};
	return uns_store_open(&s->st, &s->cfg);
}

static void
pgs_drop(const char *schema)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
	assert_int_equal(ut_pg_sql(&pg, sql), 0);
}

static Uns__V1__Notification *
pg_post(uns_store *st, const char *user, const char *app_id, uns_err *rc)
{
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT, *out = NULL;
	bool created;

	n.app_notification_id = (char *)app_id;
	n.group_name = "";
	*rc = uns_store_post(st, user, CONF_HOST, &n, &out, &created);
	return out;
}

/* Migrations: a second open finds the schema current; a database whose
 * schema is newer than the binary is refused, naming both versions; a
 * migration that fails leaves nothing of the ones before it (all are one
 * transaction). */
static void
pg_migrations(void **state)
{
	struct pgstore s, again, bad;
	char sql[512];

	(void)state;
	/* A table in the way of 0002: 0001 applies, then 0002 fails. */
	ut_pg_schema(bad.schema, sizeof(bad.schema));
	snprintf(sql, sizeof(sql),
	         "CREATE SCHEMA %s; CREATE TABLE %s.uns_idem (x int)",
	         bad.schema, bad.schema);
	assert_int_equal(ut_pg_sql(&pg, sql), 0);
	assert_int_not_equal(
	    pgs_open(&again, &(struct pgs_settings){.schema = bad.schema}),
	    UNS_OK);
	assert_non_null(strstr(uns_store_errmsg(), "0002_idempotency.sql"));
	snprintf(sql, sizeof(sql), /* fails (1/0) if 0001 stayed */
	         "SELECT 1 / (to_regclass('%s.uns_owner') IS NULL)::int",
	         bad.schema);
	assert_int_equal(ut_pg_sql(&pg, sql), 0);
	pgs_drop(bad.schema);
	assert_int_equal(pgs_open(&s, NULL), UNS_OK);
	uns_store_close(s.st);
	assert_int_equal(
	    pgs_open(&again, &(struct pgs_settings){.schema = s.schema}),
	    UNS_OK);
	uns_store_close(again.st);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO %s.uns_schema_version VALUES (%d, 'future', 0)",
	         s.schema, uns_store_postgres_schema_version() + 1);
	assert_int_equal(ut_pg_sql(&pg, sql), 0);
	assert_int_equal(
	    pgs_open(&again, &(struct pgs_settings){.schema = s.schema}),
	    UNS_FAILED_PRECONDITION);
	assert_non_null(strstr(uns_store_errmsg(), "newer than this unsd"));
	pgs_drop(s.schema);
}

/* Two delivery engines (two stores, two lease owners) claim one outbox at
 * once: every tap is claimed, none by both. */
#define ENGINE_TAPS 60

struct engine {
	uns_store *st;
	char refs[ENGINE_TAPS][UNS_STORE_TAP_REF_MAX];
	size_t n;
	bool overflow; /* claimed more than there are: some twice */
	uns_err rc;
	uns_store_taps held[ENGINE_TAPS];
	size_t nheld;
};

static void *
engine_main(void *arg)
{
	struct engine *e = arg;

	for (int idle = 0; idle < 20 && e->rc == UNS_OK;) {
		uns_store_taps l = {0};
		if ((e->rc = uns_store_outbox_claim(e->st, 3, 60000, &l)) !=
		    UNS_OK) {
			break;
		}
		idle = l.n == 0 ? idle + 1 : 0;
		if (e->n + l.n > ENGINE_TAPS) {
			e->overflow = true;
			uns_store_taps_free(&l);
			break;
		}
		for (size_t i = 0; i < l.n; i++) {
			snprintf(e->refs[e->n++], UNS_STORE_TAP_REF_MAX, "%s",
			         l.taps[i].ref);
		}
		e->held[e->nheld++] = l;
	}
	return NULL;
}

static void
pg_two_engines(void **state)
{
	struct pgstore a, b;
	struct engine ea = {0}, eb = {0};
	pthread_t ta, tb;
	size_t n = 0;

	(void)state;
	assert_int_equal(
	    pgs_open(&a, &(struct pgs_settings){.node = "engine-a"}), UNS_OK);
	assert_int_equal(
	    pgs_open(&b, &(struct pgs_settings){.schema = a.schema,
	                                        .node = "engine-b"}),
	    UNS_OK);
	for (int i = 0; i < ENGINE_TAPS; i++) {
		Uns__V1__Subscription in = UNS__V1__SUBSCRIPTION__INIT, *out;
		char user[32];
		bool created;
		uns_err rc;
		snprintf(user, sizeof(user), "user%d", i);
		in.device_id = "d";
		in.platform = UNS__V1__PLATFORM__PLATFORM_WEBHOOK;
		in.push_channel = "https://push.example/x";
		assert_int_equal(uns_store_sub_put(a.st, user, CONF_HOST, &in,
		                                   &out, &created),
		                 UNS_OK);
		uns__v1__subscription__free_unpacked(out, NULL);
		conf_free(pg_post(i % 2 ? a.st : b.st, user, "a", &rc));
		assert_int_equal(rc, UNS_OK);
	}
	ea.st = a.st;
	eb.st = b.st;
	pthread_create(&ta, NULL, engine_main, &ea);
	pthread_create(&tb, NULL, engine_main, &eb);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(ea.rc, UNS_OK);
	assert_int_equal(eb.rc, UNS_OK);
	assert_false(ea.overflow || eb.overflow);
	assert_int_equal(ea.n + eb.n, ENGINE_TAPS);
	for (size_t i = 0; i < ea.n; i++) {
		for (size_t j = 0; j < eb.n; j++) {
			assert_string_not_equal(ea.refs[i], eb.refs[j]);
		}
	}
	print_message("engine a claimed %zu, engine b %zu\n", ea.n, eb.n);
	for (size_t i = 0; i < ea.nheld; i++) {
		for (size_t j = 0; j < ea.held[i].n; j++) {
			assert_int_equal(
			    uns_store_outbox_settle(a.st, &ea.held[i].taps[j],
			                            UNS_STORE_TAP_DELIVERED, 0,
			                            NULL, NULL),
			    UNS_OK);
		}
		uns_store_taps_free(&ea.held[i]);
	}
	for (size_t i = 0; i < eb.nheld; i++) {
		uns_store_settle v[ENGINE_TAPS];
		for (size_t j = 0; j < eb.held[i].n; j++) {
			v[j] = (uns_store_settle){.tap = &eb.held[i].taps[j],
			                          .result =
			                              UNS_STORE_TAP_DELIVERED};
		}
		assert_int_equal(
		    uns_store_outbox_settle_many(b.st, v, eb.held[i].n),
		    UNS_OK);
		uns_store_taps_free(&eb.held[i]);
	}
	assert_int_equal(uns_store_outbox_count(a.st, &n), UNS_OK);
	assert_int_equal(n, 0);
	uns_store_close(a.st);
	uns_store_close(b.st);
	pgs_drop(a.schema);
}

/* One bad write in a group fails alone: a group of posts, one of them
 * with an app id the database refuses (not UTF-8), sent together (the
 * committer lingers to gather them): the group is rolled back and each
 * post runs alone, so the bad one fails with EINVAL and the rest are
 * acknowledged and there. */
#define GROUP_POSTS 8

struct group_done {
	atomic_int left;
	uns_err rc[GROUP_POSTS];
	char id[GROUP_POSTS][ID_CAP];
};

struct group_slot {
	struct group_done *g;
	int i;
};

static void
group_post_done(void *arg, uns_err rc, Uns__V1__Notification *n, bool created)
{
	struct group_slot *s = arg;

	(void)created;
	s->g->rc[s->i] = rc;
	if (n != NULL) {
		snprintf(s->g->id[s->i], ID_CAP, "%s", n->id);
		conf_free(n);
	}
	atomic_fetch_sub(&s->g->left, 1);
}

static void
pg_group_retry(void **state)
{
	struct pgstore s;
	struct group_done g = {.left = GROUP_POSTS};
	struct group_slot slots[GROUP_POSTS];
	Uns__V1__Notification in[GROUP_POSTS];
	char apps[GROUP_POSTS][16];
	uns_store_stats stats;

	(void)state;
	assert_int_equal(
	    pgs_open(&s, &(struct pgs_settings){.committers = 1,
	                                        .commit_max_wait_us = 200000}),
	    UNS_OK);
	for (int i = 0; i < GROUP_POSTS; i++) {
		uns__v1__notification__init(&in[i]);
		snprintf(apps[i], sizeof(apps[i]), i == 3 ? "bad\xff" : "a%d",
		         i);
		in[i].app_notification_id = apps[i];
		in[i].group_name = "";
		slots[i] = (struct group_slot){&g, i};
		uns_store_post_async(s.st, "alice", CONF_HOST, &in[i],
		                     group_post_done, &slots[i]);
	}
	while (atomic_load(&g.left) > 0) {
		usleep(10 * 1000);
	}
	assert_int_equal(uns_store_stats_get(s.st, &stats), UNS_OK);
	print_message("group: %llu writes in %llu batches\n",
	              (unsigned long long)stats.commit_writes,
	              (unsigned long long)stats.commit_batches);
	assert_true(stats.commit_batches < GROUP_POSTS); /* shared a group */
	for (int i = 0; i < GROUP_POSTS; i++) {
		Uns__V1__Notification *n = NULL;
		if (i == 3) {
			assert_int_equal(g.rc[i], UNS_EINVAL);
			continue;
		}
		assert_int_equal(g.rc[i], UNS_OK);
		assert_int_equal(
		    uns_store_get(s.st, "alice", CONF_HOST, g.id[i], &n),
		    UNS_OK);
		conf_free(n);
	}
	uns_store_close(s.st);
	pgs_drop(s.schema);
}

/* Cursors under concurrent commits: three stores (three committer
 * connections) post and update the notifications of a few owners while a
 * reader pages each feed by cursor; a trigger sleeps in every feed insert
 * so commits overlap long. The reader must see every notification's
 * latest version in the end (no change missed) and never the same
 * version twice (none returned twice). */
#define STRESS_OWNERS  3
#define STRESS_WRITERS 3
#define STRESS_APPS    8
#define STRESS_SECONDS 3

struct stress {
	atomic_bool stop;
	atomic_int writes, failures;
};

struct writer {
	uns_store *st;
	struct stress *s;
	unsigned seed;
};

struct seen {
	char id[ID_CAP];
	uint64_t version;
};

static void *
stress_writer(void *arg)
{
	struct writer *w = arg;
	uns_store **st = &w->st;
	unsigned seed = w->seed;
	struct stress *s = w->s;

	while (!atomic_load(&s->stop)) {
		char user[16], app[16];
		uns_err rc;
		snprintf(user, sizeof(user), "u%d",
		         rand_r(&seed) % STRESS_OWNERS);
		snprintf(app, sizeof(app), "a%d", rand_r(&seed) % STRESS_APPS);
		Uns__V1__Notification *n = pg_post(*st, user, app, &rc);
		if (rc != UNS_OK) {
			atomic_fetch_add(&s->failures, 1);
			continue;
		}
		if (rand_r(&seed) % 2) {
			uns_store_change chg = {
			    .read_state = 1 + rand_r(&seed) % 2,
			    .user_action_state = 1 + rand_r(&seed) % 4};
			Uns__V1__Notification *m = NULL;
			rc = uns_store_update_state(*st, user, CONF_HOST, n->id,
			                            &chg, &m);
			if (rc != UNS_OK && rc != UNS_NOT_FOUND) {
				atomic_fetch_add(&s->failures, 1);
			}
			conf_free(m);
		}
		conf_free(n);
		atomic_fetch_add(&s->writes, 1);
	}
	return NULL;
}

/* Reads owner's feed after *cursor, checking each entry against seen. */
static void
stress_read(uns_store *st, const char *user, char cursor[16], struct seen *seen,
            size_t *nseen)
{
	uns_store_feed_page p;

	do {
		assert_int_equal(
		    uns_store_feed_read(st, user, CONF_HOST, cursor, 7, &p),
		    UNS_OK);
		for (size_t i = 0; i < p.n; i++) {
			const Uns__V1__Notification *n =
			    p.entries[i]->notification;
			size_t k = 0;
			while (k < *nseen && strcmp(seen[k].id, n->id) != 0) {
				k++;
			}
			if (k == *nseen) {
				snprintf(seen[k].id, sizeof(seen[k].id), "%s",
				         n->id);
				seen[k].version = 0;
				(*nseen)++;
			}
			assert_true(n->version >
			            seen[k].version); /* not twice */
			seen[k].version = n->version;
		}
		snprintf(cursor, 16, "%s", p.next_cursor);
		bool more = p.more;
		uns_store_feed_page_free(&p);
		if (!more) {
			break;
		}
	} while (1);
}

static void
pg_cursor_stress(void **state)
{
	struct pgstore ws[STRESS_WRITERS], rs;
	struct stress s = {0};
	struct writer args[STRESS_WRITERS];
	pthread_t t[STRESS_WRITERS];
	struct seen seen[STRESS_OWNERS][STRESS_OWNERS * STRESS_APPS * 4];
	size_t nseen[STRESS_OWNERS] = {0};
	char cursor[STRESS_OWNERS][16] = {{0}}, sql[512], node[32];
	time_t end;

	(void)state;
	assert_int_equal(
	    pgs_open(&rs, &(struct pgs_settings){.node = "reader"}), UNS_OK);
	snprintf(
	    sql, sizeof(sql),
	    "CREATE FUNCTION %s.slow() RETURNS trigger LANGUAGE plpgsql AS "
	    "\\$\\$ BEGIN PERFORM pg_sleep(random() * 0.004); RETURN NEW; END "
	    "\\$\\$; CREATE TRIGGER slow AFTER INSERT ON %s.uns_feed FOR EACH "
	    "ROW EXECUTE FUNCTION %s.slow()",
	    rs.schema, rs.schema, rs.schema);
	assert_int_equal(ut_pg_sql(&pg, sql), 0);
	for (int i = 0; i < STRESS_WRITERS; i++) {
		snprintf(node, sizeof(node), "writer%d", i);
		assert_int_equal(
		    pgs_open(&ws[i], &(struct pgs_settings){.schema = rs.schema,
		                                            .node = node}),
		    UNS_OK);
		args[i] = (struct writer){ws[i].st, &s, (unsigned)i + 1};
		pthread_create(&t[i], NULL, stress_writer, &args[i]);
	}
	end = time(NULL) + STRESS_SECONDS;
	while (time(NULL) < end) {
		for (int o = 0; o < STRESS_OWNERS; o++) {
			char user[16];
			snprintf(user, sizeof(user), "u%d", o);
			stress_read(rs.st, user, cursor[o], seen[o], &nseen[o]);
		}
	}
	atomic_store(&s.stop, true);
	for (int i = 0; i < STRESS_WRITERS; i++) {
		pthread_join(t[i], NULL);
	}
	assert_int_equal(atomic_load(&s.failures), 0);
	/* Catch up, then compare with a read from the start. */
	for (int o = 0; o < STRESS_OWNERS; o++) {
		struct seen all[STRESS_OWNERS * STRESS_APPS * 4];
		size_t nall = 0;
		char user[16], from0[16] = "";
		snprintf(user, sizeof(user), "u%d", o);
		stress_read(rs.st, user, cursor[o], seen[o], &nseen[o]);
		stress_read(rs.st, user, from0, all, &nall);
		assert_int_equal(nall, nseen[o]);
		for (size_t i = 0; i < nall; i++) {
			size_t k = 0;
			while (k < nseen[o] &&
			       strcmp(seen[o][k].id, all[i].id)) {
				k++;
			}
			assert_true(k < nseen[o]);
			assert_int_equal(seen[o][k].version, all[i].version);
		}
	}
	print_message("cursor stress: %d writes by %d stores, no change "
	              "missed or repeated\n",
	              atomic_load(&s.writes), STRESS_WRITERS);
	for (int i = 0; i < STRESS_WRITERS; i++) {
		uns_store_close(ws[i].st);
	}
	uns_store_close(rs.st);
	pgs_drop(rs.schema);
}

/* A stuck database: a session holds the owner table locked; a Post fails
 * with UNAVAILABLE after the statement timeout instead of hanging, and
 * works again once the lock is gone. */
static void
pg_statement_timeout(void **state)
{
	struct pgstore s;
	char cmd[1024];
	uns_err rc;

	(void)state;
	assert_int_equal(
	    pgs_open(&s, &(struct pgs_settings){.statement_timeout_ms = 500}),
	    UNS_OK);
	conf_free(pg_post(s.st, "alice", "before", &rc));
	assert_int_equal(rc, UNS_OK);
	snprintf(cmd, sizeof(cmd),
	         "%s/psql -q -X -h %s -p 5432 -U postgres -d postgres -c "
	         "\"BEGIN; LOCK TABLE %s.uns_owner; SELECT pg_sleep(2.5); "
	         "COMMIT\" >/dev/null 2>&1 &",
	         pg.bindir, pg.dir, s.schema);
	assert_int_equal(system(cmd), 0);
	sleep(1); /* the lock is taken */
	assert_null(pg_post(s.st, "alice", "stuck", &rc));
	assert_int_equal(rc, UNS_UNAVAILABLE);
	print_message("stuck: %s\n", uns_store_errmsg());
	sleep(3); /* the lock is gone */
	conf_free(pg_post(s.st, "alice", "after", &rc));
	assert_int_equal(rc, UNS_OK);
	uns_store_close(s.st);
	pgs_drop(s.schema);
}

/* A commit waiting for a synchronous standby that does not answer (here:
 * one named that never connects, as when a Patroni standby died) is never
 * acknowledged: the Post fails with UNAVAILABLE after unsd's own deadline
 * (the statement timeout does not end a wait for a standby; a cancel
 * would, answering COMMIT with a mere WARNING), and Posts work again once
 * the standby requirement is gone. A session that acknowledged on the
 * primary alone (synchronous_commit = local) fails this test. */
/* Runs sql (an ALTER SYSTEM) on the test cluster and reloads its
 * configuration; works while the cluster is read-only too. */
static int
alter_system(const char *sql)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
	         "%s/psql -q -X -h %s -p 5432 -U postgres -d postgres "
	         "-c \"SET default_transaction_read_only = off\" -c \"%s\" "
	         "-c \"SELECT pg_reload_conf()\" >/dev/null",
	         pg.bindir, pg.dir, sql);
	return system(cmd);
}

static int
sync_standby(const char *names)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "ALTER SYSTEM SET synchronous_standby_names = '%s'", names);
	return alter_system(sql);
}

static int
sync_standby_reset(void **state)
{
	(void)state;
	return sync_standby("") == 0 ? 0 : -1; /* even when the test failed */
}

static void
pg_sync_standby_away(void **state)
{
	struct pgstore s;
	uns_err rc;

	(void)state;
	assert_int_equal(
	    pgs_open(&s, &(struct pgs_settings){.statement_timeout_ms = 500}),
	    UNS_OK);
	conf_free(pg_post(s.st, "alice", "before", &rc));
	assert_int_equal(rc, UNS_OK);
	assert_int_equal(sync_standby("nobody"), 0);
	sleep(1); /* the reload took */
	assert_null(pg_post(s.st, "alice", "unreplicated", &rc));
	assert_int_equal(rc, UNS_UNAVAILABLE);
	assert_int_equal(sync_standby(""), 0);
	sleep(1);
	conf_free(pg_post(s.st, "alice", "after", &rc));
	assert_int_equal(rc, UNS_OK);
	uns_store_close(s.st);
	pgs_drop(s.schema);
}

/* A primary that turns read-only while up (a node demoted without a
 * restart): the committer drops its session at the first UNAVAILABLE, and
 * the next one asks the URL's hosts again (target_session_attrs =
 * read-write) and finds the writable one. A second throwaway cluster
 * stands for the other host. Seen failing, every Post after the switch
 * refused, with the committer keeping its session. */
static ut_pg other;

static int
read_only_reset(void **state)
{
	(void)state;
	ut_pg_stop(&other);
	return alter_system(
	           "ALTER SYSTEM RESET default_transaction_read_only") == 0
	           ? 0
	           : -1;
}

static void
pg_read_only_moves(void **state)
{
	struct pgstore s;
	char why[256], url[700];
	uns_err rc = UNS_OK;
	int tries = 0;

	(void)state;
	assert_true(ut_pg_start(&other, why, sizeof(why)));
	assert_int_equal(pgs_open(&s, &(struct pgs_settings){.url = other.url}),
	                 UNS_OK); /* the schema on the other cluster */
	uns_store_close(s.st);
	snprintf(url, sizeof(url),
	         "host=%s,%s port=5432,5432 user=postgres dbname=postgres "
	         "target_session_attrs=read-write",
	         pg.dir, other.dir);
	assert_int_equal(pgs_open(&s, &(struct pgs_settings){.schema = s.schema,
	                                                     .url = url}),
	                 UNS_OK);
	conf_free(pg_post(s.st, "alice", "before", &rc));
	assert_int_equal(rc, UNS_OK);
	assert_int_equal(
	    alter_system("ALTER SYSTEM SET default_transaction_read_only = on"),
	    0);
	sleep(1); /* the reload took */
	do {
		char app[32];
		snprintf(app, sizeof(app), "after-%d", tries);
		conf_free(pg_post(s.st, "alice", app, &rc));
		if (rc != UNS_OK) {
			assert_int_equal(rc, UNS_UNAVAILABLE);
			usleep(200 * 1000);
		}
	} while (rc != UNS_OK && ++tries < 25);
	print_message("read-only: %d Posts refused before one went to the "
	              "other host\n",
	              tries);
	assert_int_equal(rc, UNS_OK);
	uns_store_close(s.st);
	assert_int_equal(
	    alter_system("ALTER SYSTEM RESET default_transaction_read_only"),
	    0);
	sleep(1);
	pgs_drop(s.schema);
}

/* Down at start: open retries with backoff while the database is down
 * (here: started 1.5 s later) instead of failing at once; with no wait it
 * fails with UNAVAILABLE, saying why. */
static void *
start_later(void *arg)
{
	(void)arg;
	usleep(1500 * 1000);
	assert_int_equal(ut_pg_ctl(&pg, "start", NULL), 0);
	return NULL;
}

static void
pg_down_at_start(void **state)
{
	struct pgstore s;
	pthread_t t;

	(void)state;
	assert_int_equal(ut_pg_ctl(&pg, "stop", "fast"), 0);
	assert_int_equal(pgs_open(&s, NULL), UNS_UNAVAILABLE);
	assert_non_null(strstr(uns_store_errmsg(), "connect"));
	pthread_create(&t, NULL, start_later, NULL);
	assert_int_equal(
	    pgs_open(&s, &(struct pgs_settings){.connect_wait_ms = 60000}),
	    UNS_OK);
	pthread_join(t, NULL);
	uns_store_close(s.st);
	pgs_drop(s.schema);
}

/* Restarted under a Post load (pg_ctl restart -m immediate: a crash and
 * recovery): posts in flight fail with UNAVAILABLE, none acknowledged is
 * lost, and posting works again once the database is back. */
#define LOAD_THREADS 8
#define LOAD_MAX     4000

struct load {
	uns_store *st;
	atomic_bool stop;
	atomic_int acked, failed, other;
	char ids[LOAD_MAX][ID_CAP];
	char users[LOAD_MAX][16];
};

static void *
load_main(void *arg)
{
	struct load *l = arg;
	int me = (int)(uintptr_t)pthread_self() & 0xffff, i = 0;

	while (!atomic_load(&l->stop)) {
		char user[16], app[24];
		uns_err rc;
		snprintf(user, sizeof(user), "load%d", me % 97);
		snprintf(app, sizeof(app), "p%d-%d", me, i++);
		Uns__V1__Notification *n = pg_post(l->st, user, app, &rc);
		if (rc == UNS_OK) {
			int k = atomic_fetch_add(&l->acked, 1);
			if (k < LOAD_MAX) {
				snprintf(l->ids[k], sizeof(l->ids[k]), "%s",
				         n->id);
				snprintf(l->users[k], sizeof(l->users[k]), "%s",
				         user);
			}
			conf_free(n);
		} else {
			atomic_fetch_add(
			    rc == UNS_UNAVAILABLE ? &l->failed : &l->other, 1);
			usleep(20 * 1000);
		}
	}
	return NULL;
}

static void
pg_restart_under_load(void **state)
{
	struct pgstore s;
	struct load *l = calloc(1, sizeof(*l));
	pthread_t t[LOAD_THREADS];
	int before, after_restart;

	(void)state;
	assert_non_null(l);
	assert_int_equal(pgs_open(&s, NULL), UNS_OK);
	l->st = s.st;
	for (int i = 0; i < LOAD_THREADS; i++) {
		pthread_create(&t[i], NULL, load_main, l);
	}
	usleep(700 * 1000);
	before = atomic_load(&l->acked);
	assert_int_equal(ut_pg_ctl(&pg, "restart", "immediate"), 0);
	after_restart = atomic_load(&l->acked);
	sleep(2);
	atomic_store(&l->stop, true);
	for (int i = 0; i < LOAD_THREADS; i++) {
		pthread_join(t[i], NULL);
	}
	print_message("restart: %d posts acknowledged before, %d in all, %d "
	              "failed with UNAVAILABLE\n",
	              before, atomic_load(&l->acked), atomic_load(&l->failed));
	assert_int_equal(atomic_load(&l->other), 0); /* UNAVAILABLE only */
	assert_true(atomic_load(&l->acked) > after_restart); /* back */
	for (int k = 0; k < atomic_load(&l->acked) && k < LOAD_MAX; k++) {
		Uns__V1__Notification *n = NULL;
		assert_int_equal(
		    uns_store_get(s.st, l->users[k], CONF_HOST, l->ids[k], &n),
		    UNS_OK);
		conf_free(n);
	}
	uns_store_close(s.st);
	pgs_drop(s.schema);
	free(l);
}

static int
conf_setup_answering(void **state)
{
	int rc = conf_setup(state);
	struct conf *c = *state;

	c->cfg.commit_answer_thread = 1;
	conf_reopen(c);
	return rc;
}

#define CONF_ANSWERING(f)                                                      \
	cmocka_unit_test_setup_teardown(f, conf_setup_answering, conf_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    UNS_STORE_CONFORMANCE_TESTS,
	    CONF_ANSWERING(conf_post_async_order),
	    CONF_ANSWERING(conf_delete_async),
	    CONF_ANSWERING(conf_no_lost_updates),
	    CONF_ANSWERING(conf_feed_hook),
	    cmocka_unit_test(pg_migrations),
	    cmocka_unit_test(pg_two_engines),
	    cmocka_unit_test(pg_group_retry),
	    cmocka_unit_test(pg_cursor_stress),
	    cmocka_unit_test(pg_statement_timeout),
	    cmocka_unit_test_teardown(pg_sync_standby_away, sync_standby_reset),
	    cmocka_unit_test_teardown(pg_read_only_moves, read_only_reset),
	    /* Last: these stop and restart the cluster. */
	    cmocka_unit_test(pg_down_at_start),
	    cmocka_unit_test(pg_restart_under_load),
	};
	char why[256];
	int rc;

	if (!ut_pg_start(&pg, why, sizeof(why))) {
		bool missing = strstr(why, "not found") != NULL;
		fprintf(stderr, "test_store_postgres: %s: %s\n",
		        missing ? "SKIPPED" : "FAILED", why);
		ut_pg_stop(&pg);
		return missing ? 77 : 1;
	}
	if (getenv("UNS_TEST_FILTER") != NULL) { /* e.g. "pg_*" */
		cmocka_set_test_filter(getenv("UNS_TEST_FILTER"));
	}
	rc = cmocka_run_group_tests_name("store_postgres", tests, NULL, NULL);
	ut_pg_stop(&pg);
	return rc;
}
