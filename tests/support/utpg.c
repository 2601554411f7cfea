/*
 * utpg.c — see utpg.h. Commands run through /bin/sh (paths are ours, made
 * by mkdtemp, no quoting needed beyond the SQL, which is single-quoted and
 * never holds a quote). As root, everything that touches the cluster runs
 * as "postgres" (initdb refuses root) through runuser.
 */
#include "utpg.h"

#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PG_PORT 5432 /* in our own socket folder: never taken */

static const char *
as_postgres(void)
{
	return geteuid() == 0 ? "runuser -u postgres -- " : "";
}

static bool
find_bindir(ut_pg *pg)
{
	const char *cand[] = {getenv("UNS_PG_BINDIR"),
	                      "/usr/lib/postgresql/15/bin"};
	char path[400];

	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
		if (cand[i] == NULL || cand[i][0] == '\0') {
			continue;
		}
		snprintf(path, sizeof(path), "%s/pg_ctl", cand[i]);
		if (access(path, X_OK) == 0) {
			snprintf(pg->bindir, sizeof(pg->bindir), "%s", cand[i]);
			return true;
		}
	}
	return false;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd) == 0 ? 0 : -1;
}

bool
ut_pg_start(ut_pg *pg, char *why, size_t cap)
{
	char tmpl[] = "/tmp/uns-pg.XXXXXX";
	struct passwd *pw = geteuid() == 0 ? getpwnam("postgres") : NULL;

	memset(pg, 0, sizeof(*pg));
	if (!find_bindir(pg)) {
		snprintf(why, cap,
		         "PostgreSQL 15 binaries not found (install "
		         "postgresql-15, or set UNS_PG_BINDIR)");
		return false;
	}
	if (geteuid() == 0 && pw == NULL) {
		snprintf(why, cap, "running as root without a postgres user");
		return false;
	}
	if (mkdtemp(tmpl) == NULL) {
		snprintf(why, cap, "mkdtemp failed");
		return false;
	}
	snprintf(pg->dir, sizeof(pg->dir), "%s", tmpl);
	if (pw != NULL && chown(pg->dir, pw->pw_uid, pw->pw_gid) != 0) {
		snprintf(why, cap, "chown %s failed", pg->dir);
		return false;
	}
	if (run("%s%s/initdb -D %s/data -A trust -U postgres --no-sync "
	        ">%s/initdb.log 2>&1",
	        as_postgres(), pg->bindir, pg->dir, pg->dir) != 0) {
		snprintf(why, cap, "initdb failed: see %s/initdb.log", pg->dir);
		return false;
	}
	snprintf(pg->url, sizeof(pg->url),
	         "host=%s port=%d user=postgres dbname=postgres", pg->dir,
	         PG_PORT);
	if (ut_pg_ctl(pg, "start", NULL) != 0) {
		snprintf(why, cap, "pg_ctl start failed: see %s/log", pg->dir);
		return false;
	}
	pg->up = true;
	return true;
}

int
ut_pg_ctl(ut_pg *pg, const char *action, const char *mode)
{
	char m[64] = "";

	if (mode != NULL) {
		snprintf(m, sizeof(m), "-m %s", mode);
	}
	return run("%s%s/pg_ctl -D %s/data -l %s/log -w -t 120 %s "
	           "-o \"-k %s -c listen_addresses='' -p %d\" %s >/dev/null",
	           as_postgres(), pg->bindir, pg->dir, pg->dir, m, pg->dir,
	           PG_PORT, action);
}

void
ut_pg_stop(ut_pg *pg)
{
	if (pg->up) {
		(void)ut_pg_ctl(pg, "stop", "fast");
		pg->up = false;
	}
	if (pg->dir[0] != '\0') {
		(void)run("rm -rf %s", pg->dir);
		pg->dir[0] = '\0';
	}
}

int
ut_pg_sql(const ut_pg *pg, const char *sql)
{
	return run("%s/psql -q -X -v ON_ERROR_STOP=1 -h %s -p %d -U postgres "
	           "-d postgres -c \"SET client_min_messages = warning; %s\" "
	           ">/dev/null",
	           pg->bindir, pg->dir, PG_PORT, sql);
}

long
ut_pg_int(const ut_pg *pg, const char *sql)
{
	char cmd[2048], out[64] = "";
	long v = -1;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
	         "%s/psql -q -X -At -v ON_ERROR_STOP=1 -h %s -p %d -U postgres "
	         "-d postgres -c \"%s\"",
	         pg->bindir, pg->dir, PG_PORT, sql);
	if ((f = popen(cmd, "r")) == NULL) {
		return -1;
	}
	if (fgets(out, sizeof(out), f) != NULL && out[0] != '\0') {
		v = strtol(out, NULL, 10);
	}
	return pclose(f) == 0 ? v : -1;
}

void
ut_pg_schema(char *out, size_t cap)
{
	static atomic_int n;

	snprintf(out, cap, "uns_t%d_%d", (int)getpid(),
	         atomic_fetch_add(&n, 1));
}

/* --- the shared cluster of the suites that run on either backend ------- */

static ut_pg shared;
static pid_t shared_pid;

static void
shared_stop(void)
{
	if (getpid() == shared_pid) { /* not in a forked child */
		ut_pg_stop(&shared);
	}
}

const char *
ut_pg_shared_url(void)
{
	const char *want = getenv("UNS_TEST_STORE");
	char why[256];

	if (want == NULL || strcmp(want, "postgres") != 0) {
		return NULL;
	}
	if (!shared.up) {
		if (!ut_pg_start(&shared, why, sizeof(why))) {
			fprintf(stderr, "UNS_TEST_STORE=postgres: %s\n", why);
			exit(shared.bindir[0] == '\0' ? 77 : 1);
		}
		shared_pid = getpid();
		atexit(shared_stop);
		fprintf(stderr, "the store is on PostgreSQL: %s\n", shared.url);
	}
	return shared.url;
}

void
ut_pg_schema_of(const char *dir, char *out, size_t cap)
{
	uint64_t h = 14695981039346656037u;

	for (const char *p = dir; *p != '\0'; p++) {
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	}
	snprintf(out, cap, "uns_d%016" PRIx64, h);
}

int
ut_pg_unsd_args(const char **argv, int n, int cap)
{
	static char url[600], schema[64];
	const char *data = "";
	const char *u = ut_pg_shared_url();

	if (u == NULL || n + 6 > cap) {
		return n;
	}
	for (int i = 1; i + 1 < n; i++) {
		if (strcmp(argv[i], "--data") == 0) {
			data = argv[i + 1];
		}
	}
	snprintf(url, sizeof(url), "postgres_url=%s", u);
	snprintf(schema, sizeof(schema), "postgres_schema=");
	ut_pg_schema_of(data, schema + strlen(schema),
	                sizeof(schema) - strlen(schema));
	argv[n++] = "--set";
	argv[n++] = "store=postgres";
	argv[n++] = "--set";
	argv[n++] = url;
	argv[n++] = "--set";
	argv[n++] = schema;
	return n;
}
