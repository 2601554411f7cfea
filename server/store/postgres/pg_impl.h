/*
 * pg_impl.h — the PostgreSQL backend of store.h, private to its files (the
 * only ones that include libpq-fe.h).
 *
 * Schema and write logic: migrations/NNNN_*.sql, applied in one
 * transaction at open (pg_migrate.c). Each write is one call of a PL/pgSQL
 * function (uns_post, uns_update, uns_sub_put, …) that locks the owner's
 * row (its feed head) first, so one owner's writes serialise in the
 * database and its feed sequence follows commit order, across processes.
 *
 * Group commit: writes go to a group committer (store_commit.c), whose
 * flush sends the whole group to PostgreSQL as one pipeline (libpq
 * pipeline mode): BEGIN, every call ordered by (user, host), COMMIT, one
 * round trip and one WAL flush for the group. The calls are statements
 * prepared on the committer's connection when it connects (pg_write.c),
 * so a call is bound and run, never parsed or planned again. Ordering by
 * owner means two processes lock owner rows in the same order and cannot
 * deadlock. No
 * savepoints: arguments are validated before a write is queued and the
 * functions answer expected refusals (not found, version, limit) as codes,
 * so a failing statement is unexpected; then the group is rolled back and
 * each write is run again alone, so that one bad write fails alone. A
 * write is answered only after COMMIT returned (synchronous_commit on);
 * when the connection breaks first, it fails with UNAVAILABLE and the
 * committer connects again, with backoff. There are `committers` of them
 * (2), each with its connection, writes spread by a hash of the owner: one
 * connection runs its pipeline serially in one server process, so with
 * one the database's work per Post bounds the rate (measured below in
 * BENCHMARKS.md); an owner's writes all go to one committer, in order.
 *
 * Reads and claims use a small pool of connections (one statement each,
 * so one snapshot). Claims lease taps durably (owner, until) with
 * FOR UPDATE SKIP LOCKED, committed asynchronously (a lost claim only
 * re-delivers). Times are always parameters from UNS's clock.
 *
 * Files: pg_conn.c (connections, errors, the pool, waiting with a
 * deadline), pg_migrate.c (migrations), pg_write.c (the committer's flush
 * and every write), pg_read.c (reads, claims, reclaim, fallback),
 * pg_cluster.c (node ids, heartbeats, jobs once per cluster, dead nodes'
 * leases), pg_open.c (open and close, the ops table).
 */
#ifndef UNS_SERVER_PG_IMPL_H
#define UNS_SERVER_PG_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store.h"
#include "store_backend.h"
#include "store_commit.h"
#include "store_postgres.h"
#include "store_util.h"

#define PG_MAX_PARAMS  15
#define PG_NUM         24 /* a decimal int64 and NUL */
#define PG_RECLAIM     256
#define PG_FB_CHUNK    64
#define PG_BACKOFF_MIN 100  /* ms */
#define PG_BACKOFF_MAX 1000 /* ms */
#define PG_WAIT_SLACK  5000 /* ms past statement_timeout */

/* A connection of the pool. */
struct pg_slot {
	PGconn *conn;
	bool busy;
};

#define PG_COMMITTERS_MAX 16

/* A group committer and its connection. Writes are spread over the
 * committers by owner, so one owner's writes stay in order. */
struct pg_committer {
	struct pgs *st;
	uns_store_commit *commit;
	PGconn *wconn;             /* its thread only */
	uint64_t wconn_retry_mono; /* µs; no reconnect before */
	int wconn_backoff;         /* ms */
};

/* A job that runs on one node at a time (pg_cluster.c): this node's view
 * of its lease row, under maint_mu. Times in UNS's clock (ms). */
struct pg_joblease {
	const char *name;    /* its row in uns_job */
	int64_t mine_until;  /* this node holds it until then; 0 = not */
	int64_t other_until; /* another node does: no try before then */
};

/* The backend's handle. */
typedef struct pgs {
	uns_store base; /* first: store.c's head (store_backend.h) */
	uns_store_postgres_config pc; /* with defaults; strings below */
	char *url, *schema, *node;
	char *setup; /* the SET statements every session runs */
	struct pg_committer cm[PG_COMMITTERS_MAX];
	PGconn *first; /* the connection open migrates with */
	pthread_mutex_t pool_mu;
	pthread_cond_t pool_cv;
	struct pg_slot *pool;
	pthread_mutex_t maint_mu; /* one reclaim or fallback pass at a time */
	struct pg_joblease job_reclaim, job_fallback; /* under maint_mu */
	uint64_t reclaim_last_mono; /* µs; the store's thread only */
	atomic_uint nodes_live;     /* as the last beat counted them */
	bool joined; /* registered and running: close makes it leave */
	atomic_uint_fast64_t job_statements; /* job lease statements sent */
} pgs;

/* --- pg_conn.c ---------------------------------------------------------- */

/* A new session on st's database, set up (search path, timeouts); NULL
 * with the error set (UNAVAILABLE when the database cannot be reached). */
PGconn *pg_connect(pgs *st, uns_err *rc);

/* rc for a failed result or connection, with the message set. */
uns_err pg_fail(PGconn *c, const PGresult *r, const char *what);

/* Whether a failure left c unusable (connection lost or timed out). */
bool pg_broken(PGconn *c);

/* Waits until c has a whole result ready (or its connection fails), at
 * most st's statement timeout plus slack; false on timeout. */
bool pg_wait(pgs *st, PGconn *c);

/* Runs one statement (text results; params as in PQexecParams) and waits
 * for it with the deadline; *out gets the result on success (PQclear it).
 * want is the status that means success (COMMAND_OK or TUPLES_OK). */
uns_err pg_exec(pgs *st, PGconn *c, const char *sql, int n,
                const char *const *values, const int *lengths,
                const int *formats, ExecStatusType want, PGresult **out);

/* Prepares sql on c under name (parameter types as the text says). */
uns_err pg_prepare(pgs *st, PGconn *c, const char *name, const char *sql);

/* pg_exec (no lengths or formats: text parameters) through a statement
 * prepared on c: prepared at its first use on c, when the server says it
 * does not know its name (SQLSTATE 26000, so also after a reconnect or on
 * another server), then only bound and run, not parsed and planned again.
 * Not inside a transaction block (the first use's error would abort it). */
uns_err pg_exec_prepared(pgs *st, PGconn *c, const char *sql, int n,
                         const char *const *values, ExecStatusType want,
                         PGresult **out);

/* A pool connection (connecting it if needed), and back. broken: close
 * it, the next user connects again. */
uns_err pg_pool_get(pgs *st, PGconn **c);
void pg_pool_put(pgs *st, PGconn *c, bool broken);

/* Sleeps ms milliseconds (the backoffs at open). */
void pg_sleep_ms(int ms);

/* An int64 column of row r (0 when NULL), a bool column. */
int64_t pg_int(const PGresult *r, int row, int col);
bool pg_bool(const PGresult *r, int row, int col);

/* --- pg_migrate.c -------------------------------------------------------- */

/* Applies the migrations the database lacks, in one transaction; refuses
 * (FAILED_PRECONDITION) a database newer than this binary. */
uns_err pg_migrate(pgs *st, PGconn *c);

/* --- pg_write.c ------------------------------------------------------------
 */

uns_err pg_flush(void *arg, void *const *payloads, size_t n);
/* Prepares the committer's statements on c, a connection it will use. */
uns_err pg_write_prepare(pgs *st, PGconn *c);
void pg_post_async(uns_store *base, const char *user, const char *host,
                   const Uns__V1__Notification *in,
                   uns_store_write_done_fn done, void *arg);
void pg_post_keyed_async(uns_store *base, const char *user, const char *host,
                         const Uns__V1__Notification *in,
                         const uns_store_idem *idem,
                         uns_store_write_done_fn done, void *arg);
void pg_update_state_async(uns_store *base, const char *user, const char *host,
                           const char *id, const uns_store_change *chg,
                           uns_store_write_done_fn done, void *arg);
void pg_delete_in_hosts_async(uns_store *base, const char *user,
                              const char *const *hosts, size_t n_hosts,
                              const char *id, uns_store_write_done_fn done,
                              void *arg);
void pg_delete_by_app_id_async(uns_store *base, const char *user,
                               const char *host, const char *app_id,
                               uns_store_write_done_fn done, void *arg);
uns_err pg_sub_put(uns_store *base, const char *user, const char *host,
                   const Uns__V1__Subscription *in, Uns__V1__Subscription **out,
                   bool *created);
void pg_sub_delete_async(uns_store *base, const char *user, const char *host,
                         const char *unsid, uns_store_write_done_fn done,
                         void *arg);
uns_err pg_outbox_settle(uns_store *base, const uns_store_tap *t,
                         uns_store_tap_result res, int64_t due_ms,
                         const char *error, bool *newer);
uns_err pg_outbox_settle_many(uns_store *base, uns_store_settle *v, size_t n);
void pg_fetched_async(uns_store *base, const char *user, const char *host,
                      const char *unsid, const char *const *ids, size_t n,
                      uns_store_write_done_fn done, void *arg);

/* --- pg_cluster.c -------------------------------------------------------
 */

/* Registers st->node in uns_node on c once no live node has that id
 * (waiting up to node_timeout for a previous life's beat to go stale;
 * then UNS_FAILED_PRECONDITION), and ends the leases the id held. */
uns_err pg_node_register(pgs *st, PGconn *c);

/* At a clean close: the node's row goes, its job and outbox leases end. */
void pg_node_leave(pgs *st);

/* Whether this node holds job j at now, taking or renewing its lease
 * when due (a statement at most every round); under maint_mu. */
bool pg_job_hold(pgs *st, struct pg_joblease *j, int64_t now);

/* The store's thread's round: the beat; with the reclaim job held, the
 * sweep of dead nodes and a reclaim when reclaim_interval has passed.
 * Answers the ms until the next (pg_round_ms). */
int64_t pg_jobs_round(uns_store *base);
int64_t pg_round_ms(const pgs *st);
unsigned pg_nodes_live(uns_store *base);

/* --- pg_read.c -------------------------------------------------------------
 */

uns_err pg_get(uns_store *base, const char *user, const char *host,
               const char *id, Uns__V1__Notification **out);
uns_err pg_feed_read(uns_store *base, const char *user, const char *host,
                     const char *cursor, uint32_t limit,
                     uns_store_feed_page *out);
uns_err pg_feed_head(uns_store *base, const char *user, const char *host,
                     char **cursor);
uns_err pg_history(uns_store *base, const char *user, const char *host,
                   const uns_store_history_query *q,
                   uns_store_history_page *out);
uns_err pg_sub_get(uns_store *base, const char *unsid, char **user,
                   Uns__V1__Subscription **out);
uns_err pg_sub_list(uns_store *base, const char *user, const char *host,
                    uns_store_subs *out);
uns_err pg_outbox_claim(uns_store *base, size_t max, int64_t lease_ms,
                        uns_store_taps *out);
uns_err pg_outbox_next_due(uns_store *base, int64_t *due_ms);
uns_err pg_outbox_count(uns_store *base, size_t *n);
uns_err pg_reclaim(uns_store *base, int64_t now, size_t *reclaimed);
uns_err pg_next_expiry(uns_store *base, int64_t *when_ms);
/* The round's reclaim: like pg_reclaim, while this node holds the job. */
uns_err pg_reclaim_job(pgs *st, int64_t now);
uns_err pg_fallback_run(uns_store *base, size_t *queued);

/* A notification from the columns of row r starting at col: id, host,
 * body, created, modified, expires, version, read, action, status;
 * unpacked through pb (NULL = malloc). */
uns_err pg_notification(const PGresult *r, int row, int col,
                        ProtobufCAllocator *pb, Uns__V1__Notification **out);

/* A subscription from the columns of row r starting at col, in the
 * order of uns_subscription's columns (PG_SUB_COLS). */
#define PG_SUB_COLS                                                            \
	"unsid, host, device_id, platform, body, created, expires, "           \
	"has_delivery, last_attempt, last_success, failures, last_error, "     \
	"dead, delivered, failed"
#define PG_SUB_NCOLS 15
uns_err pg_subscription(const PGresult *r, int row, int col,
                        Uns__V1__Subscription **out);

static inline int64_t
pg_now(const pgs *st)
{
	return uns_store_now(&st->base);
}

#endif /* UNS_SERVER_PG_IMPL_H */
