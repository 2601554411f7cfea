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

#endif /* UNS_TESTS_UTPG_H */
