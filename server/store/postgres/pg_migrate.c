/*
 * pg_migrate.c — brings the database's schema to this binary's version at
 * open: one transaction takes an advisory lock (two nodes starting at once
 * take turns), creates the schema and the version table if missing, reads
 * the version, refuses a database newer than the binary, and applies the
 * missing migrations in order. All or nothing: a failing migration leaves
 * the database as it was. Rejected: an external migration tool (one more
 * thing to install and run in the right order) and migrations outside a
 * transaction (a half-applied schema).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_impl.h"

/* migrations/NNNN_name.sql, compiled in as pg_sql_NNNN (CMakeLists.txt);
 * numbered from 1 without gaps, applied in this order. */
extern const char pg_sql_0001[];
extern const char pg_sql_0002[];
extern const char pg_sql_0003[];
extern const char pg_sql_0004[];

static const struct migration {
	int version;
	const char *name;
	const char *sql;
} pg_migrations[] = {
    {1, "0001_init.sql", pg_sql_0001},
    {2, "0002_idempotency.sql", pg_sql_0002},
    {3, "0003_cluster.sql", pg_sql_0003},
    {4, "0004_settle_lease.sql", pg_sql_0004},
};
static const int pg_n_migrations =
    (int)(sizeof(pg_migrations) / sizeof(pg_migrations[0]));

int
uns_store_postgres_schema_version(void)
{
	return pg_migrations[pg_n_migrations - 1].version;
}

static uns_err
simple(pgs *st, PGconn *c, const char *sql)
{
	return pg_exec(st, c, sql, 0, NULL, NULL, NULL, PGRES_COMMAND_OK, NULL);
}

/* The schema's version (0 = none yet), inside the open transaction. */
static uns_err
version_get(pgs *st, PGconn *c, int *version)
{
	PGresult *r = NULL;
	uns_err rc = pg_exec(
	    st, c, "SELECT coalesce(max(version), 0) FROM uns_schema_version",
	    0, NULL, NULL, NULL, PGRES_TUPLES_OK, &r);

	if (rc == UNS_OK) {
		*version = (int)pg_int(r, 0, 0);
		PQclear(r);
	}
	return rc;
}

static uns_err
apply(pgs *st, PGconn *c, const struct migration *m)
{
	char v[PG_NUM], now[PG_NUM];
	const char *params[] = {v, m->name, now};
	uns_err rc;

	snprintf(v, sizeof(v), "%d", m->version);
	snprintf(now, sizeof(now), "%lld", (long long)pg_now(st));
	if ((rc = simple(st, c, m->sql)) != UNS_OK) {
		return uns_store_seterr(rc, "migration %s: %s", m->name,
		                        uns_store_errmsg());
	}
	return pg_exec(st, c,
	               "INSERT INTO uns_schema_version (version, name, "
	               "applied_ms) VALUES ($1, $2, $3)",
	               3, params, NULL, NULL, PGRES_COMMAND_OK, NULL);
}

static uns_err
migrate_locked(pgs *st, PGconn *c)
{
	char sql[512];
	int have = 0, want = uns_store_postgres_schema_version();
	uns_err rc;

	/* The schema name is a checked plain identifier (pg_open.c). */
	snprintf(sql, sizeof(sql),
	         "SELECT pg_advisory_xact_lock(hashtext('uns.%s')); "
	         "CREATE SCHEMA IF NOT EXISTS \"%s\"; "
	         "CREATE TABLE IF NOT EXISTS uns_schema_version ("
	         "version integer PRIMARY KEY, name text NOT NULL, "
	         "applied_ms bigint NOT NULL)",
	         st->schema, st->schema);
	/* The lock is taken in a statement of its own, before the schema
	 * exists; the simple query protocol runs the three in order. */
	if ((rc = pg_exec(st, c, sql, 0, NULL, NULL, NULL, PGRES_COMMAND_OK,
	                  NULL)) != UNS_OK ||
	    (rc = version_get(st, c, &have)) != UNS_OK) {
		return rc;
	}
	if (have > want) {
		return uns_store_seterr(
		    UNS_FAILED_PRECONDITION,
		    "postgres schema \"%s\" is at version %d, "
		    "newer than this unsd (%d): refusing it",
		    st->schema, have, want);
	}
	for (int i = 0; i < pg_n_migrations && rc == UNS_OK; i++) {
		if (pg_migrations[i].version > have) {
			rc = apply(st, c, &pg_migrations[i]);
		}
	}
	return rc;
}

uns_err
pg_migrate(pgs *st, PGconn *c)
{
	uns_err rc = simple(st, c, "BEGIN");

	if (rc != UNS_OK) {
		return rc;
	}
	if ((rc = migrate_locked(st, c)) == UNS_OK) {
		return simple(st, c, "COMMIT");
	}
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", uns_store_errmsg());
	(void)simple(st, c, "ROLLBACK");
	return uns_store_seterr(rc, "%s", msg);
}
