/*
 * utpg.h — a throwaway PostgreSQL cluster for tests: initdb and pg_ctl, as
 * the "postgres" user when run as root, in a fresh folder under /tmp,
 * listening on a Unix socket in that folder only (no TCP port to collide
 * with). One cluster per test program; each test uses a schema of its own.
 *
 * Binaries are looked up in $UNS_PG_BINDIR, then /usr/lib/postgresql/15/bin
 * (Debian's postgresql-15). When they are missing, ut_pg_start says so and
 * the caller skips its PostgreSQL tests with that message. Used by the
 * store's PostgreSQL tests and by anything that needs a database.
 */
#ifndef UNS_TESTS_UTPG_H
#define UNS_TESTS_UTPG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ut_pg {
	char bindir[256];
	char dir[128]; /* the cluster's folder: data/, log, the socket */
	char url[512]; /* a libpq connection string to it */
	bool up;
} ut_pg;

/* Creates and starts a cluster. false with why (cap bytes) filled when it
 * cannot: binaries missing (skip) or initdb/pg_ctl failed (fail). */
bool ut_pg_start(ut_pg *pg, char *why, size_t cap);

/* pg_ctl stop -m fast, and the folder removed. */
void ut_pg_stop(ut_pg *pg);

/* pg_ctl stop/start/restart with mode ("fast", "immediate"); 0 on success. */
int ut_pg_ctl(ut_pg *pg, const char *action, const char *mode);

/* Runs sql through psql on the cluster; 0 on success. */
int ut_pg_sql(const ut_pg *pg, const char *sql);

/* Runs a query through psql and answers the integer in its first
 * column of its first row; -1 when it fails. */
long ut_pg_int(const ut_pg *pg, const char *sql);

/* A schema name unique in this process ("uns_t<pid>_<n>"), into out. */
void ut_pg_schema(char *out, size_t cap);

/*
 * The suites that run on either backend (service, gateway, fixture; see
 * tests/README.md) ask here which one: UNS_TEST_STORE=postgres in the
 * environment (CTest's *_pg tests set it) puts them on PostgreSQL, one
 * cluster per test process, started at the first call and stopped at
 * exit, each store in a schema of its own named after its data folder (so
 * a restart on the same folder finds its data again).
 */

/* The shared cluster's connection string, or NULL on RocksDB. Exits 77
 * (CTest's skip) when PostgreSQL's binaries are missing, 1 when the
 * cluster cannot start. */
const char *ut_pg_shared_url(void);

/* The schema of the store whose data folder is dir ("uns_d" and a hash of
 * the path), into out. */
void ut_pg_schema_of(const char *dir, char *out, size_t cap);

/* On PostgreSQL, appends to argv[n..cap) unsd's options that put its
 * store in the shared cluster (--set store=postgres, the url, the schema
 * of argv's --data folder); returns the new count (n on RocksDB). The
 * strings live until the next call. */
int ut_pg_unsd_args(const char **argv, int n, int cap);

#endif /* UNS_TESTS_UTPG_H */
