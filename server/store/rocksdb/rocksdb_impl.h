/*
 * rocksdb_impl.h — the RocksDB backend of store.h, private to its files
 * (the only ones that include rocksdb/c.h). Column families per entity
 * (cf_names), key and value layouts in store_codec.h. Every write builds a list
 * of operations and hands it to the group committer (store_commit.c), which
 * merges the lists that arrived during the previous sync into one WriteBatch
 * written with sync=1.
 *
 * Read-modify-write vs group commit: a write takes the lock stripe of its
 * (user, host) and holds it until its batch is durable. Everything a write
 * reads and changes belongs to that owner (feed head and live count, app-id
 * index, the notification and its feed, history and expiry entries), so no
 * batch of the same owner can be queued-but-unwritten while another reads:
 * replace, CAS and feed sequence allocation see committed state and cannot
 * lose updates. Owners on other stripes share each sync, so durable
 * throughput grows with concurrency; one owner gets one write per sync.
 * A Post need not block a thread meanwhile (uns_store_post_async): it
 * queues on its stripe, runs when the stripe is handed to it, and ends on
 * the committer thread, which hands the stripe on (struct stripe).
 * Rejected: TransactionDB + get_for_update (each commit syncs alone, so no
 * application group commit); RMW on the committer thread over a
 * WriteBatchWithIndex (all writers' CPU work on one thread).
 * Reclaim locks the stripes it needs in ascending order (writers hold one),
 * so it cannot deadlock, and removes a whole chunk in one batch.
 *
 * Files: rocksdb_engine.c (errors, reads and scans, operation lists and the
 * committer's flush, owners and lock stripes, keys), rocksdb_write.c
 * (notifications and subscriptions), rocksdb_read.c (feed, history),
 * rocksdb_outbox.c (taps, leases, the iOS fallback), rocksdb_open.c
 * (reclaim, the background thread, open with the log check and salvage,
 * close, health), rocksdb_codec.c (key and value layouts), rocksdb_wal.c
 * (the write-ahead log read without RocksDB). Functions shared between
 * them are rdb_*, declared at the end of this header.
 */
#ifndef UNS_SERVER_ROCKSDB_IMPL_H
#define UNS_SERVER_ROCKSDB_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rocksdb/c.h>

#include "rocksdb_codec.h"
#include "store.h"
#include "store_backend.h"
#include "store_commit.h"
#include "store_rocksdb.h"

#define NSTRIPES         1024
#define RECLAIM_CHUNK    256
#define HIST_SUFFIX_LEN  (8 + UNS_STORE_RID_LEN)
#define EXP_NOTIFICATION 'N'
#define EXP_SUBSCRIPTION 'S'
#define EXP_TOMBSTONE    'T'
#define EXP_IDEM         'I' /* ref: the CF_IDEM key */
#define EXP_PREFIX_LEN   9

#define LEASE_BUCKETS 1024

/*
 * A lock stripe that can change hands between threads. A write holds its
 * owner's stripe from its first read until its batch is durable; for an
 * asynchronous write (uns_store_post_async) that end comes on the committer
 * thread, so a stripe cannot be a mutex (only its locker may unlock one).
 * Waiters queue in arrival order and release hands the stripe straight to
 * the first, calling its resume on the releasing thread: a blocked thread
 * wakes, an asynchronous write runs its body there. A stripe is never free
 * while someone waits, and no thread that resumes a waiter blocks for it.
 */
struct stripe_waiter {
	struct stripe_waiter *next;
	void (*resume)(struct stripe_waiter *w); /* runs holding the stripe */
};

struct stripe {
	pthread_mutex_t mu; /* guards the fields below, never held long */
	bool held;
	struct stripe_waiter *head, *tail;
};

/* An in-memory claim of a tap (see the outbox section). */
struct lease {
	struct lease *next;
	int64_t until;
	char ref[UNS_STORE_TAP_REF_MAX];
};

enum cf_id {
	CF_DEFAULT,
	CF_SUBS,   /* unsid → subscription record */
	CF_SUBDEV, /* uh ‖ device id → unsid */
	CF_NOTIF,  /* server id → notification record */
	CF_APPID,  /* uh ‖ app notification id → server id */
	CF_FEED,   /* uh ‖ seq → feed value (one per notification) */
	CF_HIST,   /* uh ‖ ~created ‖ id → history value */
	CF_EXPIRY, /* time ‖ kind ‖ ref → "" */
	CF_OUTBOX, /* taps, due index, fallback checks (outbox section) */
	CF_META,   /* uh → feed head ‖ live count */
	CF_IDEM,   /* uh ‖ idempotency key → first answer (codec) */
	CF_COUNT
};

extern const char *const rdb_cf_names[CF_COUNT];

/* Column families keyed by a fixed 8-byte prefix (rocksdb_engine.c). */
extern const bool rdb_cf_prefixed[CF_COUNT];

/* The backend's handle. */
typedef struct rdb {
	uns_store base; /* first: store.c's head (store_backend.h) */
	rocksdb_t *db;
	rocksdb_column_family_handle_t *cf[CF_COUNT];
	rocksdb_options_t *dbopt, *plainopt, *prefixopt;
	rocksdb_cache_t *cache;
	rocksdb_writeoptions_t *wsync;
	rocksdb_readoptions_t *ropt;
	rocksdb_writebatch_t *scratch; /* committer thread only */
	uns_store_commit *commit;
	char *dir;
	uns_store_rocksdb_config knobs; /* with defaults */
	struct stripe stripes[NSTRIPES];
	pthread_mutex_t lease_mu;
	struct lease *leases[LEASE_BUCKETS];
	pthread_mutex_t reclaim_mu; /* one reclaim pass at a time */
	_Atomic int disk_full;      /* the last check found < min_free_bytes */
} rdb;

/* A read view: a snapshot and read options on it, for multi-key reads. */
struct view {
	const rocksdb_snapshot_t *snap;
	rocksdb_readoptions_t *ro;
};

/* A bounded scan over [lo, hi) of one column family. The bounds live here
 * because RocksDB keeps pointers to them. */
struct scan {
	rocksdb_readoptions_t *ro;
	rocksdb_iterator_t *it;
	uns_store_key lo, hi;
};

/* ======================================================================
 * Operation lists (what callers hand to the committer)
 * ====================================================================== */

struct op {
	uint8_t cf, del;
	uint32_t klen, vlen;
	size_t off; /* key then value, in batch.buf */
};

struct batch {
	struct op *ops;
	size_t n, cap;
	unsigned char *buf;
	size_t len, bcap;
	bool nomem; /* sticky: checked once, at commit */
};

/* ======================================================================
 * Owners: a (user, host), its feed head and live count
 * ====================================================================== */

struct owner {
	uns_store_key uh;
	char user[UNS_STORE_ID_MAX + 1], host[UNS_STORE_ID_MAX + 1];
	uint64_t head;
	uint32_t live;
	int64_t newest; /* newest creation time; -1 unknown (old meta record) */
	bool dirty, moved;
	size_t taps; /* queued by this write */
};

/* A write of one owner: its stripe is held from begin to end, so every
 * read in between sees all of the owner's earlier writes, durable. */
struct wctx {
	rdb *st;
	struct owner o;
	struct batch b;
	struct stripe *lock;
	int64_t now;
};

/*
 * A Post or UpdateState runs as an operation that no thread waits for:
 * queued on its owner's stripe if that is held, its body (reads, checks,
 * the batch) runs on whichever thread gets the stripe for it, and it ends
 * on the committer thread once its batch is durable. Blocking callers wait
 * for it (uns_store_post, uns_store_update_state); the RPC answers from
 * done (the _async variants).
 */
struct write_op {
	struct stripe_waiter wait; /* first: resume casts back */
	uns_store_commit_req commit;
	struct wctx w;
	/* With the stripe held and the owner loaded: adds the write to w.b,
	 * sets res (and created). */
	uns_err (*body)(struct write_op *op);
	const Uns__V1__Notification *in; /* post */
	const uns_store_idem *idem;      /* post: NULL = no key */
	const char
	    *id; /* update, delete: the id (or app id); unsubscribe: UNSID */
	uns_store_change chg; /* update */
	uns_store_write_done_fn done;
	void *arg;
	Uns__V1__Notification *res;
	bool created, retried, may_retry;
	uns_store_job retry; /* waiting for a reclaim on the store's thread */
	/* fetched: the ids, in one block with their strings (op->id is the
	 * UNSID, in it too), freed with op */
	const char **ids;
	size_t n_ids;
	void *owned;
};

/* rocksdb_engine.c */
uns_err rdb_err(char *err, const char *what);
/* Errors RocksDB called corruption since the process started (a read
 * whose checksum failed, a damaged file): health reports them. */
uint64_t rdb_corruptions(void);
/* UNS_OK while the store's disk has min_free_bytes free, else
 * UNAVAILABLE with the figures; sets st->disk_full either way. */
uns_err rdb_disk_check(rdb *st);
uns_err rdb_db_get(rdb *st, const rocksdb_readoptions_t *ro, int cf,
                   const void *k, size_t klen, char **v, size_t *vlen);
uns_err rdb_view_open(rdb *st, struct view *v);
void rdb_view_close(rdb *st, struct view *v);
uns_err rdb_scan_open(rdb *st, struct scan *s, const struct view *v, int cf);
bool rdb_scan_valid(const struct scan *s);
const unsigned char *rdb_scan_key(const struct scan *s, size_t *len);
const char *rdb_scan_value(const struct scan *s, size_t *len);
uns_err rdb_scan_close(struct scan *s);
bool rdb_grow(void **p, size_t *cap, size_t need, size_t elem, size_t min);
void rdb_batch_op(struct batch *b, int cf, bool del, const void *k, size_t klen,
                  const void *v, size_t vlen);
void rdb_batch_put(struct batch *b, int cf, const uns_store_key *k,
                   const void *v, size_t vlen);
void rdb_batch_del(struct batch *b, int cf, const uns_store_key *k);
void rdb_batch_free(struct batch *b);
uns_err rdb_flush_group(void *arg, void *const *payloads, size_t n);
uns_err rdb_owner_init(struct owner *o, const char *user, const char *host);
uns_err rdb_owner_load(rdb *st, const rocksdb_readoptions_t *ro,
                       struct owner *o);
void rdb_owner_save(struct batch *b, const struct owner *o);
bool rdb_stripe_take_or_queue(struct stripe *s, struct stripe_waiter *w);
void rdb_stripe_lock(struct stripe *s);
void rdb_stripe_unlock(struct stripe *s);
uns_err rdb_wctx_init(rdb *st, struct wctx *w, const char *user,
                      const char *host);
uns_err rdb_wctx_load(struct wctx *w);
uns_err rdb_wctx_begin(rdb *st, struct wctx *w, const char *user,
                       const char *host);
uns_err rdb_wctx_commit(struct wctx *w);
void rdb_wctx_end(struct wctx *w, uns_err rc);
void rdb_key_owned(uns_store_key *k, const struct owner *o, const char *s);
void rdb_key_feed(uns_store_key *k, const uns_store_key *uh, uint64_t seq);
void rdb_key_hist(uns_store_key *k, const struct owner *o, int64_t created,
                  const char *id);
void rdb_key_expiry(uns_store_key *k, int64_t when, char kind, const void *ref,
                    size_t len);
void rdb_key_id(uns_store_key *k, const char *id);

/* rocksdb_write.c */
bool rdb_rid_ok(const char *id);
uns_err rdb_notif_load_with(rdb *st, const rocksdb_readoptions_t *ro,
                            const char *id, ProtobufCAllocator *pb,
                            uns_store_nrec *r);
uns_err rdb_notif_load(rdb *st, const rocksdb_readoptions_t *ro, const char *id,
                       uns_store_nrec *r);
uns_err rdb_notif_load_visible(rdb *st, const char *user, const char *host,
                               const char *id, int64_t now, uns_store_nrec *r);
uint64_t rdb_feed_move(struct batch *b, struct owner *o, uint64_t old_seq,
                       Uns__V1__RemovedReason why, uint64_t version,
                       const char *id);
void rdb_expiry_tombstone(struct batch *b, const struct owner *o, int64_t when,
                          uint64_t seq);
void rdb_write_op_finish(struct write_op *op, uns_err rc, bool holding);
uns_err rdb_sub_load(rdb *st, const rocksdb_readoptions_t *ro,
                     const char *unsid, uns_store_srec *r);
bool rdb_sub_visible(const uns_store_srec *r, const char *user,
                     const char *host, int64_t now);

/* rocksdb_outbox.c */
void rdb_leases_free(rdb *st);
uns_err rdb_taps_drop(rdb *st, struct batch *b, const char *unsid);
uns_err rdb_taps_enqueue(rdb *st, struct batch *b, struct owner *o, int64_t now,
                         const Uns__V1__Notification *n, bool state,
                         const char *by);
uns_err rdb_fallback_schedule(struct wctx *w, const Uns__V1__Notification *n,
                              const uns_store_nrec *old);
uns_err rdb_fetched_body(struct write_op *op);

/* The operations of uns_store_rocksdb_ops (rocksdb_open.c). */
uns_err rdb_get(uns_store *base, const char *user, const char *host,
                const char *id, Uns__V1__Notification **out);
void rdb_post_async(uns_store *base, const char *user, const char *host,
                    const Uns__V1__Notification *in,
                    uns_store_write_done_fn done, void *arg);
void rdb_post_keyed_async(uns_store *base, const char *user, const char *host,
                          const Uns__V1__Notification *in,
                          const uns_store_idem *idem,
                          uns_store_write_done_fn done, void *arg);
void rdb_update_state_async(uns_store *base, const char *user, const char *host,
                            const char *id, const uns_store_change *chg,
                            uns_store_write_done_fn done, void *arg);
void rdb_delete_in_hosts_async(uns_store *base, const char *user,
                               const char *const *hosts, size_t n_hosts,
                               const char *id, uns_store_write_done_fn done,
                               void *arg);
void rdb_delete_by_app_id_async(uns_store *base, const char *user,
                                const char *host, const char *app_id,
                                uns_store_write_done_fn done, void *arg);
uns_err rdb_sub_put(uns_store *base, const char *user, const char *host,
                    const Uns__V1__Subscription *in,
                    Uns__V1__Subscription **out, bool *created);
uns_err rdb_sub_get(uns_store *base, const char *unsid, char **user,
                    Uns__V1__Subscription **out);
void rdb_sub_delete_async(uns_store *base, const char *user, const char *host,
                          const char *unsid, uns_store_write_done_fn done,
                          void *arg);
uns_err rdb_sub_list(uns_store *base, const char *user, const char *host,
                     uns_store_subs *out);
uns_err rdb_feed_read(uns_store *base, const char *user, const char *host,
                      const char *cursor, uint32_t limit,
                      uns_store_feed_page *out);
uns_err rdb_feed_head(uns_store *base, const char *user, const char *host,
                      char **cursor);
uns_err rdb_history(uns_store *base, const char *user, const char *host,
                    const uns_store_history_query *q,
                    uns_store_history_page *out);
uns_err rdb_outbox_claim(uns_store *base, size_t max, int64_t lease_ms,
                         uns_store_taps *out);
uns_err rdb_outbox_next_due(uns_store *base, int64_t *due_ms);
uns_err rdb_outbox_count(uns_store *base, size_t *n);
uns_err rdb_outbox_settle(uns_store *base, const uns_store_tap *t,
                          uns_store_tap_result res, int64_t due_ms,
                          const char *error, bool *newer);
uns_err rdb_outbox_settle_many(uns_store *base, uns_store_settle *v, size_t n);
void rdb_fetched_async(uns_store *base, const char *user, const char *host,
                       const char *unsid, const char *const *ids, size_t n,
                       uns_store_write_done_fn done, void *arg);
uns_err rdb_fallback_run(uns_store *base, size_t *queued);
uns_err rdb_reclaim(uns_store *base, int64_t now, size_t *reclaimed);
uns_err rdb_next_expiry(uns_store *base, int64_t *when_ms);

/* Calls the store's hooks if the write moved o's feed (rocksdb_engine.c). */
void rdb_fire_hook(rdb *st, const struct owner *o);

static inline int64_t
now_ms(const rdb *st)
{
	return uns_store_now(&st->base);
}

#endif /* UNS_SERVER_ROCKSDB_IMPL_H */
