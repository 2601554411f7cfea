/*
 * pg_conn.c — sessions with PostgreSQL: connecting and setting a session
 * up, turning failures into uns_err, waiting for results with a deadline,
 * and the pool of connections that reads and claims share.
 *
 * Every wait has a deadline (statement_timeout plus slack): the server
 * cancels a stuck statement itself, and a server that does not answer at
 * all (stopped, network gone) costs the caller UNAVAILABLE after the
 * deadline, never a hang. Rejected: PQexec everywhere (blocks without
 * limit on a dead peer).
 *
 * Failover: postgres_url names every host with
 * target_session_attrs=read-write, so each new session asks the hosts in
 * turn for the primary. A session that broke, or that failed with
 * UNAVAILABLE while still up (a node that is a standby now, a shutdown
 * under way), is dropped rather than kept: the next user connects again
 * (the committers with backoff, 100 ms doubling to 1 s), and writes in
 * flight fail with UNAVAILABLE, never acknowledged.
 */
#include <errno.h>
#include <time.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "pg_impl.h"

/* SQLSTATE classes and codes that mean "try again later", not "bug". */
static const struct {
	const char *state; /* a prefix of the SQLSTATE */
	uns_err rc;
} sqlstates[] = {
    {"08", UNS_UNAVAILABLE},    /* connection exception */
    {"57P", UNS_UNAVAILABLE},   /* admin shutdown, crash, cannot connect */
    {"57014", UNS_UNAVAILABLE}, /* statement timeout, cancel */
    {"53", UNS_UNAVAILABLE},    /* insufficient resources */
    {"40", UNS_UNAVAILABLE},    /* serialization failure, deadlock */
    {"25006", UNS_UNAVAILABLE}, /* read-only transaction (a standby) */
    {"22", UNS_EINVAL},         /* data exception */
};

uns_err
pg_fail(PGconn *c, const PGresult *r, const char *what)
{
	const char *state =
	    r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r != NULL ? PQresultErrorMessage(r) : "";
	uns_err rc = UNS_INTERNAL;

	if (msg == NULL || msg[0] == '\0') {
		msg = c != NULL ? PQerrorMessage(c) : "no connection";
	}
	if (c == NULL || PQstatus(c) == CONNECTION_BAD) {
		rc = UNS_UNAVAILABLE;
	}
	for (size_t i = 0; state != NULL && rc == UNS_INTERNAL &&
	                   i < sizeof(sqlstates) / sizeof(sqlstates[0]);
	     i++) {
		if (strncmp(state, sqlstates[i].state,
		            strlen(sqlstates[i].state)) == 0) {
			rc = sqlstates[i].rc;
		}
	}
	return uns_store_seterr(rc, "postgres %s: %.*s", what,
	                        (int)strcspn(msg, "\n"), msg);
}

bool
pg_broken(PGconn *c)
{
	return c == NULL || PQstatus(c) == CONNECTION_BAD;
}

PGconn *
pg_connect(pgs *st, uns_err *rc)
{
	/* Defaults first: the URL (expanded from dbname, last) overrides
	 * them. connect_timeout bounds each host of a multi-host URL; TCP
	 * keepalives find a silent peer (a host gone with its network) on an
	 * idle connection in about 20 s instead of at its next use. */
	const char *keys[] = {"application_name",
	                      "connect_timeout",
	                      "keepalives_idle",
	                      "keepalives_interval",
	                      "keepalives_count",
	                      "dbname",
	                      NULL};
	const char *vals[] = {"unsd", "5", "10", "3", "3", st->url, NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	PGresult *r = NULL;

	if (c == NULL) {
		*rc = uns_store_seterr(UNS_ENOMEM, "out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		*rc = pg_fail(c, NULL, "connect");
		PQfinish(c);
		return NULL;
	}
	r = PQexec(c, st->setup);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		*rc = pg_fail(c, r, "session setup");
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	*rc = UNS_OK;
	return c;
}

bool
pg_wait(pgs *st, PGconn *c)
{
	int64_t limit = (int64_t)st->pc.statement_timeout_ms + PG_WAIT_SLACK;
	uint64_t end = uns_mono_us() + (uint64_t)limit * 1000u;

	while (PQisBusy(c)) {
		struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
		uint64_t now = uns_mono_us();
		int n;
		if (now >= end) {
			return false;
		}
		n = poll(&p, 1, (int)((end - now) / 1000u) + 1);
		if (n < 0 && errno != EINTR) {
			return false;
		}
		if (n > 0 && PQconsumeInput(c) == 0) {
			return true; /* the failure is the next result */
		}
	}
	return true;
}

/* Every result of what was sent on c, up to idle: the last is the answer,
 * any error fails (its SQLSTATE into state, "" if none). */
static uns_err
collect(pgs *st, PGconn *c, ExecStatusType want, PGresult **out, char state[6])
{
	PGresult *r = NULL, *err = NULL, *next;
	const char *s;
	uns_err rc;

	state[0] = '\0';
	for (;;) {
		if (!pg_wait(st, c)) {
			PQclear(r);
			PQclear(err);
			return uns_store_seterr(
			    UNS_UNAVAILABLE, "postgres: no answer within %d ms",
			    st->pc.statement_timeout_ms + PG_WAIT_SLACK);
		}
		if ((next = PQgetResult(c)) == NULL) {
			break;
		}
		if (PQresultStatus(next) == PGRES_FATAL_ERROR && err == NULL) {
			err = next;
			continue;
		}
		PQclear(r);
		r = next;
	}
	if (err != NULL || PQresultStatus(r) != want) {
		s = PQresultErrorField(err != NULL ? err : r, PG_DIAG_SQLSTATE);
		snprintf(state, 6, "%s", s != NULL ? s : "");
		rc = pg_fail(c, err != NULL ? err : r, "query");
		PQclear(r);
		PQclear(err);
		return rc;
	}
	if (out != NULL) {
		*out = r;
	} else {
		PQclear(r);
	}
	return UNS_OK;
}

uns_err
pg_exec(pgs *st, PGconn *c, const char *sql, int n, const char *const *values,
        const int *lengths, const int *formats, ExecStatusType want,
        PGresult **out)
{
	char state[6];
	int sent = n == 0 && values == NULL
	               ? PQsendQuery(c, sql) /* may hold several statements */
	               : PQsendQueryParams(c, sql, n, NULL, values, lengths,
	                                   formats, 0);

	if (!sent) {
		return pg_fail(c, NULL, "send");
	}
	return collect(st, c, want, out, state);
}

/* The name a statement is prepared under: "uns_" and a hash of its text. */
#define PG_STMT_NAME 24

static void
stmt_name(const char *sql, char name[PG_STMT_NAME])
{
	uint64_t h = 14695981039346656037u;

	for (const char *p = sql; *p != '\0'; p++) {
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	}
	snprintf(name, PG_STMT_NAME, "uns_%016llx", (unsigned long long)h);
}

uns_err
pg_prepare(pgs *st, PGconn *c, const char *name, const char *sql)
{
	char state[6];

	if (!PQsendPrepare(c, name, sql, 0, NULL)) {
		return pg_fail(c, NULL, "send");
	}
	return collect(st, c, PGRES_COMMAND_OK, NULL, state);
}

uns_err
pg_exec_prepared(pgs *st, PGconn *c, const char *sql, int n,
                 const char *const *values, ExecStatusType want, PGresult **out)
{
	char name[PG_STMT_NAME], state[6];
	uns_err rc;

	stmt_name(sql, name);
	for (int tries = 0;; tries++) {
		if (!PQsendQueryPrepared(c, name, n, values, NULL, NULL, 0)) {
			return pg_fail(c, NULL, "send");
		}
		rc = collect(st, c, want, out, state);
		/* 26000: not prepared on this session yet. */
		if (rc == UNS_OK || tries > 0 || strcmp(state, "26000") != 0) {
			return rc;
		}
		if ((rc = pg_prepare(st, c, name, sql)) != UNS_OK) {
			return rc;
		}
	}
}

uns_err
pg_pool_get(pgs *st, PGconn **out)
{
	struct pg_slot *s = NULL;
	uns_err rc = UNS_OK;

	pthread_mutex_lock(&st->pool_mu);
	for (;;) {
		for (unsigned i = 0; i < st->pc.connections && s == NULL; i++) {
			if (!st->pool[i].busy) {
				s = &st->pool[i];
			}
		}
		if (s != NULL) {
			break;
		}
		pthread_cond_wait(&st->pool_cv, &st->pool_mu);
	}
	s->busy = true;
	pthread_mutex_unlock(&st->pool_mu);
	if (s->conn == NULL) {
		s->conn = pg_connect(st, &rc);
	}
	if (rc != UNS_OK) {
		pg_pool_put(st, NULL, true);
		return rc;
	}
	*out = s->conn;
	return UNS_OK;
}

void
pg_pool_put(pgs *st, PGconn *c, bool broken)
{
	pthread_mutex_lock(&st->pool_mu);
	for (unsigned i = 0; i < st->pc.connections; i++) {
		struct pg_slot *s = &st->pool[i];
		if (s->busy && s->conn == c) {
			if (broken && s->conn != NULL) {
				PQfinish(s->conn);
				s->conn = NULL;
			}
			s->busy = false;
			break;
		}
	}
	pthread_cond_signal(&st->pool_cv);
	pthread_mutex_unlock(&st->pool_mu);
}

void
pg_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
	                      .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

int64_t
pg_int(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col)
	           ? 0
	           : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool
pg_bool(const PGresult *r, int row, int col)
{
	return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}
