/*
 * pg_cluster.c — several nodes on one database: each node's identity and
 * heartbeat, the jobs that run on one node at a time, and the end of a
 * dead node's leases (migrations/0003_cluster.sql).
 *
 * Identity: a node id (the `node_id` knob; by default host:pid:xxxx, xxxx
 * random per open, so two stores of one process are two nodes) owns the
 * outbox leases it takes. Open registers it in uns_node, and only when no
 * live node has it: a node restarted under a fixed id waits (up to
 * node_timeout) for its previous life's heartbeat to go stale, and a second
 * live node configured with the same id is refused. Only then does open end
 * the leases the id held before, so one node starting never steals the
 * leases of a live one (before, open released every lease of "its" id, and
 * the default id host:pid was shared by every store of a process).
 *
 * Jobs: a lease row per job in uns_job (owner, until), the outbox's own
 * mechanism: an UPDATE that succeeds for the holder or once the lease has
 * ended. The holder renews it when half of node_timeout is left, so a
 * node checks at most every round and renews about every node_timeout / 2;
 * another node takes it over node_timeout after the holder's last renewal.
 * Chosen over an advisory lock held on a dedicated connection (one more
 * connection per node, invisible in the tables, and not through pgbouncer's
 * transaction pooling) and over transaction-scoped advisory locks or SKIP
 * LOCKED work units (every node would still scan for work every round, and
 * reclaim's chunks of one round could interleave across nodes). Measured in
 * docs/benchmarks/cluster.md.
 *
 * Dead nodes: the holder of the reclaim job removes nodes whose beat is
 * older than node_timeout and ends their outbox leases (and job leases),
 * so a killed node's taps are delivered by a live node within about
 * node_timeout instead of delivery_lease. All times are UNS's clock: the
 * nodes' clocks must agree to well within node_timeout (docs/cluster.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "pg_impl.h"

/* One statement on a pool connection (autocommit); *r as pg_exec. */
static uns_err
run(pgs *st, const char *sql, int n, const char *const *v, PGresult **r)
{
	PGconn *c;
	uns_err rc = pg_pool_get(st, &c);

	if (rc != UNS_OK) {
		return rc;
	}
	rc = pg_exec(st, c, sql, n, v, NULL, NULL,
	             r != NULL ? PGRES_TUPLES_OK : PGRES_COMMAND_OK, r);
	pg_pool_put(st, c, rc == UNS_UNAVAILABLE || pg_broken(c));
	return rc;
}

uns_err
pg_node_register(pgs *st, PGconn *c)
{
	uint64_t end =
	    uns_mono_us() + (uint64_t)(st->pc.node_timeout_ms + 1000) * 1000u;
	char now[PG_NUM], cut[PG_NUM];
	const char *v[] = {st->node, now, cut};
	bool said = false;
	uns_err rc;

	for (;;) {
		PGresult *r = NULL;
		int64_t t = pg_now(st), ago;
		snprintf(now, sizeof(now), "%lld", (long long)t);
		snprintf(cut, sizeof(cut), "%lld",
		         (long long)(t - st->pc.node_timeout_ms));
		if ((rc = pg_exec(
		         st, c,
		         "WITH n AS (INSERT INTO uns_node AS o (id, started, "
		         "beat) VALUES ($1, $2::bigint, $2::bigint) ON "
		         "CONFLICT "
		         "(id) DO UPDATE SET started = excluded.started, beat "
		         "= "
		         "excluded.beat WHERE o.beat <= $3::bigint RETURNING "
		         "beat) SELECT (SELECT count(*) FROM n), (SELECT beat "
		         "FROM uns_node WHERE id = $1)",
		         3, v, NULL, NULL, PGRES_TUPLES_OK, &r)) != UNS_OK) {
			return rc;
		}
		ago = t - pg_int(r, 0, 1);
		if (pg_int(r, 0, 0) == 1) {
			PQclear(r);
			break;
		}
		PQclear(r);
		if (uns_mono_us() >= end) {
			return uns_store_seterr(
			    UNS_FAILED_PRECONDITION,
			    "node id \"%s\" is in use by a live node (its last "
			    "heartbeat %lld ms ago): give each node its own "
			    "node_id",
			    st->node, (long long)ago);
		}
		if (!said) {
			fprintf(
			    stderr,
			    "unsd: node id \"%s\": a node with this id "
			    "beat %lld ms ago; waiting for it to time out\n",
			    st->node, (long long)ago);
			said = true;
		}
		pg_sleep_ms(st->pc.node_heartbeat_ms > 0
		                ? st->pc.node_heartbeat_ms
		                : 1000);
	}
	/* No live node has this id now: what it held before is due at once,
	 * as after a crash on RocksDB. */
	atomic_store(&st->nodes_live, 1);
	return pg_exec(st, c,
	               "UPDATE uns_outbox SET lease_owner = NULL, "
	               "lease_until = 0 WHERE lease_owner = $1",
	               1, v, NULL, NULL, PGRES_COMMAND_OK, NULL);
}

void
pg_node_leave(pgs *st)
{
	const char *v[] = {st->node};

	(void)run(st,
	          "WITH j AS (UPDATE uns_job SET owner = NULL, until = 0 "
	          "WHERE owner = $1), o AS (UPDATE uns_outbox SET "
	          "lease_owner = NULL, lease_until = 0 WHERE lease_owner = "
	          "$1) DELETE FROM uns_node WHERE id = $1",
	          1, v, NULL);
}

bool
pg_job_hold(pgs *st, struct pg_joblease *j, int64_t now)
{
	char until[PG_NUM], now_s[PG_NUM];
	const char *v[] = {st->node, until, j->name, now_s};
	int64_t half = st->pc.node_timeout_ms / 2;
	PGresult *r = NULL;
	bool mine;

	if (j->mine_until - now > half) {
		return true;
	}
	if (j->other_until > now) {
		return false;
	}
	snprintf(until, sizeof(until), "%lld",
	         (long long)(now + st->pc.node_timeout_ms));
	snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
	atomic_fetch_add(&st->job_statements, 1);
	if (run(st,
	        "WITH t AS (UPDATE uns_job SET owner = $1, until = $2::bigint "
	        "WHERE name = $3 AND (owner = $1 OR until <= $4::bigint) "
	        "RETURNING until) SELECT (SELECT count(*) FROM t), j.until "
	        "FROM uns_job j WHERE j.name = $3",
	        4, v, &r) != UNS_OK ||
	    PQntuples(r) != 1) {
		PQclear(r);
		j->mine_until = 0;
		return false; /* the database will say more to the next user */
	}
	mine = pg_int(r, 0, 0) == 1;
	j->mine_until = mine ? now + st->pc.node_timeout_ms : 0;
	j->other_until = mine ? 0 : pg_int(r, 0, 1);
	PQclear(r);
	return mine;
}

/* The beat, and how many nodes are live. */
static void
beat(pgs *st, int64_t now)
{
	char now_s[PG_NUM], cut[PG_NUM];
	const char *v[] = {st->node, now_s, cut};
	PGresult *r = NULL;

	snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
	snprintf(cut, sizeof(cut), "%lld",
	         (long long)(now - st->pc.node_timeout_ms));
	if (run(st,
	        "WITH b AS (INSERT INTO uns_node AS o (id, started, beat) "
	        "VALUES ($1, $2::bigint, $2::bigint) ON CONFLICT (id) DO "
	        "UPDATE SET beat = excluded.beat) SELECT count(*) FROM "
	        "uns_node WHERE beat > $3::bigint AND id <> $1",
	        3, v, &r) == UNS_OK) {
		atomic_store(&st->nodes_live, 1u + (unsigned)pg_int(r, 0, 0));
	}
	PQclear(r);
}

/* Nodes whose beat is older than node_timeout: removed, their leases
 * ended. Two statements so that the outbox is touched only when a node
 * died. */
static void
sweep(pgs *st, int64_t now)
{
	char cut[PG_NUM];
	const char *v[] = {st->node, cut};
	PGresult *r = NULL;

	snprintf(cut, sizeof(cut), "%lld",
	         (long long)(now - st->pc.node_timeout_ms));
	if (run(st,
	        "WITH d AS (DELETE FROM uns_node WHERE beat <= $2::bigint AND "
	        "id <> $1 RETURNING id) SELECT coalesce(array_agg(id), '{}') "
	        "FROM d",
	        2, v, &r) == UNS_OK &&
	    strcmp(PQgetvalue(r, 0, 0), "{}") != 0) {
		const char *ids[] = {PQgetvalue(r, 0, 0)};
		fprintf(stderr,
		        "unsd: node %s: nodes %s stopped beating; "
		        "their leases end now\n",
		        st->node, ids[0]);
		(void)run(
		    st,
		    "WITH j AS (UPDATE uns_job SET until = 0 WHERE owner = "
		    "ANY ($1::text[])) UPDATE uns_outbox SET lease_owner = "
		    "NULL, lease_until = 0 WHERE lease_owner = ANY "
		    "($1::text[])",
		    1, ids, NULL);
	}
	PQclear(r);
}

int64_t
pg_jobs_round(uns_store *base)
{
	pgs *st = (pgs *)base;
	int64_t now = pg_now(st), every = st->base.cfg.reclaim_interval_ms;
	uint64_t mono = uns_mono_us();
	bool held;

	beat(st, now);
	pthread_mutex_lock(&st->maint_mu);
	held = pg_job_hold(st, &st->job_reclaim, now);
	if (st->job_fallback.mine_until > 0) { /* kept while alive */
		(void)pg_job_hold(st, &st->job_fallback, now);
	}
	pthread_mutex_unlock(&st->maint_mu);
	if (held) {
		sweep(st, now);
		if (every >= 0 &&
		    mono - st->reclaim_last_mono >= (uint64_t)every * 1000u) {
			st->reclaim_last_mono = mono;
			(void)pg_reclaim_job(st, now);
		}
	}
	return pg_round_ms(st);
}

int64_t
pg_round_ms(const pgs *st)
{
	int64_t beat_ms = st->pc.node_heartbeat_ms;
	int64_t every = st->base.cfg.reclaim_interval_ms;

	if (beat_ms < 0) {
		return -1; /* a node that never beats (tests) */
	}
	return every > 0 && every < beat_ms ? every : beat_ms;
}

unsigned
pg_nodes_live(uns_store *base)
{
	return atomic_load(&((pgs *)base)->nodes_live);
}
