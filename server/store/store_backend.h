/*
 * store_backend.h — what a store backend implements (its table of
 * operations) and what store.c keeps for every backend (the handle's
 * common head: configuration, clock, hooks). For backends only; users of
 * the store include store.h.
 *
 * A backend's handle starts with struct uns_store (its first member), so
 * store.c can dispatch on st->ops and the backend gets its own struct back
 * with a cast. Like push.h's transports, one const table per backend and
 * no if-chains on a backend's name: store.c's table of backends is the
 * one place that lists them.
 *
 * Writes: each write is implemented once. Those that have an asynchronous
 * form in store.h (post, update state, the deletes, unsubscribe, fetched)
 * are implemented only in that form; store.c makes the blocking form of
 * each (the write plus a wait on a semaphore). The rest (subscribe,
 * settles, fallback, reclaim) exist only blocking. Arguments: store.c
 * rejects a NULL st; the backend checks everything else as store.h says.
 * Rejected: a backend implementing both forms (two paths to keep equal,
 * which is how RocksDB's grew its own wait helpers).
 */
#ifndef UNS_SERVER_STORE_BACKEND_H
#define UNS_SERVER_STORE_BACKEND_H

#include <pthread.h>

#include "store.h"

typedef struct uns_store_ops {
	const char *name; /* as in the configuration's "store" */
	/* Its keys in unsd's configuration (config.h), NULL = none. */
	const struct uns_config_section *keys;
	/* Allocates the backend's handle, calls uns_store_base_init on its
	 * head first, opens; *stp only on success. */
	uns_err (*open)(const uns_store_config *cfg, uns_store **stp);
	void (*close)(uns_store *st);
	uns_err (*stats_get)(uns_store *st, uns_store_stats *out);

	uns_err (*sub_put)(uns_store *st, const char *user, const char *host,
	                   const Uns__V1__Subscription *in,
	                   Uns__V1__Subscription **out, bool *created);
	uns_err (*sub_get)(uns_store *st, const char *unsid, char **user,
	                   Uns__V1__Subscription **out);
	void (*sub_delete_async)(uns_store *st, const char *user,
	                         const char *host, const char *unsid,
	                         uns_store_write_done_fn done, void *arg);
	uns_err (*sub_list)(uns_store *st, const char *user, const char *host,
	                    uns_store_subs *out);

	void (*post_async)(uns_store *st, const char *user, const char *host,
	                   const Uns__V1__Notification *in,
	                   uns_store_write_done_fn done, void *arg);
	/* A post with an idempotency key (store.h, uns_store_idem; idem
	 * never NULL here). NULL in a backend that has none: such a post
	 * fails with UNS_UNIMPLEMENTED. */
	void (*post_keyed_async)(uns_store *st, const char *user,
	                         const char *host,
	                         const Uns__V1__Notification *in,
	                         const uns_store_idem *idem,
	                         uns_store_write_done_fn done, void *arg);
	void (*update_state_async)(uns_store *st, const char *user,
	                           const char *host, const char *id,
	                           const uns_store_change *chg,
	                           uns_store_write_done_fn done, void *arg);
	uns_err (*get)(uns_store *st, const char *user, const char *host,
	               const char *id, Uns__V1__Notification **out);
	void (*delete_in_hosts_async)(uns_store *st, const char *user,
	                              const char *const *hosts, size_t n_hosts,
	                              const char *id,
	                              uns_store_write_done_fn done, void *arg);
	void (*delete_by_app_id_async)(uns_store *st, const char *user,
	                               const char *host, const char *app_id,
	                               uns_store_write_done_fn done, void *arg);

	uns_err (*feed_read)(uns_store *st, const char *user, const char *host,
	                     const char *cursor, uint32_t limit,
	                     uns_store_feed_page *out);
	uns_err (*feed_head)(uns_store *st, const char *user, const char *host,
	                     char **cursor);
	uns_err (*history)(uns_store *st, const char *user, const char *host,
	                   const uns_store_history_query *q,
	                   uns_store_history_page *out);

	uns_err (*outbox_claim)(uns_store *st, size_t max, int64_t lease_ms,
	                        uns_store_taps *out);
	uns_err (*outbox_next_due)(uns_store *st, int64_t *due_ms);
	uns_err (*outbox_settle)(uns_store *st, const uns_store_tap *t,
	                         uns_store_tap_result res, int64_t due_ms,
	                         const char *error, bool *newer);
	uns_err (*outbox_settle_many)(uns_store *st, uns_store_settle *v,
	                              size_t n);
	uns_err (*outbox_count)(uns_store *st, size_t *n);
	void (*fetched_async)(uns_store *st, const char *user, const char *host,
	                      const char *unsid, const char *const *ids,
	                      size_t n, uns_store_write_done_fn done,
	                      void *arg);
	uns_err (*fallback_run)(uns_store *st, size_t *queued);
	uns_err (*reclaim)(uns_store *st, int64_t now, size_t *reclaimed);
	uns_err (*next_expiry)(uns_store *st, int64_t *when_ms);
	/* 1 when writes can be made; why not into note (NULL: always 1). */
	int (*health)(uns_store *st, char *note, size_t cap);
	/* The background thread's timed round (store_base.c): runs what is
	 * due (reclaim; on PostgreSQL also the node's heartbeat and the
	 * cluster's jobs) and answers the ms until the next round (< 0:
	 * none). NULL: no timed rounds. */
	int64_t (*jobs_round)(uns_store *st);
	/* The live nodes sharing this store (1 for an embedded one), as the
	 * last round saw them. NULL: 1. */
	unsigned (*nodes_live)(uns_store *st);
} uns_store_ops;

/* Work handed to the background thread (uns_store_jobs_add), embedded in
 * the backend's own record: run there in the order added, or, when the
 * store closes first, with closing set (to fail it). */
typedef struct uns_store_job uns_store_job;
struct uns_store_job {
	uns_store_job *next;
	void (*run)(uns_store_job *j, bool closing);
};

/* The background thread every backend has (one per store). */
struct uns_store_jobs {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool stop, running;
	uns_store_job *head, *tail; /* queued work, under mu */
	int64_t first_ms;           /* until the first round */
};

/* The head of every backend's handle. */
struct uns_store {
	const uns_store_ops *ops;
	uns_store_config cfg; /* with the defaults every backend shares;
	                         pointers in it are the caller's */
	pthread_mutex_t observers_mu;
	struct uns_store_observer {
		uns_store_observer_fn fn;
		void *arg;
	} observers[UNS_STORE_OBSERVERS_MAX]; /* in the order added */
	size_t n_observers;
	char opened[512];    /* what open had to do (a recovery), or "" */
	const char *node_id; /* the backend's, or NULL (store.h) */
	struct uns_store_jobs jobs;
};

/* The backends store.c knows (each in its own folder beneath). */
extern const uns_store_ops uns_store_rocksdb_ops;
extern const uns_store_ops uns_store_postgres_ops;

/* Fills st's head: ops, a copy of cfg with the shared defaults (max_live,
 * lifetimes, reclaim interval), no observers. */
void uns_store_base_init(uns_store *st, const uns_store_ops *ops,
                         const uns_store_config *cfg);
void uns_store_base_fini(uns_store *st);

/* Starts the background thread: its first timed round after first_ms
 * (< 0: none; later ones as jobs_round answers), queued work at once.
 * The backend calls it last in open. */
uns_err uns_store_jobs_start(uns_store *st, int64_t first_ms);

/* Stops the thread (waiting for a round in progress) after it has run
 * the queued work with closing set. The backend calls it first in close;
 * a thread never started is fine. */
void uns_store_jobs_stop(uns_store *st);

/* Queues j for the thread and wakes it; false (nothing queued) once the
 * store is closing: the caller ends j itself. */
bool uns_store_jobs_add(uns_store *st, uns_store_job *j);

/* Now, in Unix ms, from the configured clock (CLOCK_REALTIME if none). */
int64_t uns_store_now(const uns_store *st);

/* After a durable write moved (user, host)'s feed to head, queuing taps:
 * calls the observers (store.h) in order, on the calling thread. */
void uns_store_moved(uns_store *st, const char *user, const char *host,
                     uint64_t head, size_t taps);

/* --- what every backend checks the same way (store_base.c) -------------- */

/* A Post's arguments (app id, group name) and its expiration: the given
 * one, or now + default_ttl_ms; UNS_EINVAL (with the message) when it is
 * not in the future. */
uns_err uns_store_post_check(const uns_store *st,
                             const Uns__V1__Notification *in, int64_t now,
                             int64_t *expiration);

/* A change for uns_store_update_state: known states, and not empty. */
bool uns_store_change_ok(const uns_store_change *c);

/* At least one host, and each an id. */
bool uns_store_hosts_ok(const char *const *hosts, size_t n_hosts);

/* Settles of distinct subscriptions, each with a tap, owner and result. */
bool uns_store_settles_ok(const uns_store_settle *v, size_t n);

/* Whether platform p is in list[0..n) (empty = every platform). */
bool uns_store_platform_listed(const Uns__V1__Platform *list, size_t n,
                               Uns__V1__Platform p);

/* The delay of n's iOS fallback alert (ms), 0 when it has none (SPEC §5:
 * only a High-priority raw notification with a visual fallback that
 * allows iOS falls back to a visible alert). */
int64_t uns_store_fallback_ms(const Uns__V1__Notification *n);

#endif /* UNS_SERVER_STORE_BACKEND_H */
