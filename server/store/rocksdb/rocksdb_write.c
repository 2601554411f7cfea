/*
 * store_rocksdb.c — the RocksDB backend of store.h; the only file that
 * includes rocksdb/c.h. Column families per entity (cf_names), key and value
 * layouts in store_codec.h. Every write builds a list of operations and hands
 * it to the group committer (store_commit.c), which merges the lists that
 * arrived during the previous sync into one WriteBatch written with sync=1.
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
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rocksdb/c.h>

#include "arena.h"
#include "clock.h"
#include "store_codec.h"
#include "store_commit.h"

#define NSTRIPES         1024
#define RECLAIM_CHUNK    256
#define DEFAULT_CACHE    (64u << 20)
#define DEFAULT_MAX_LIVE 10000
#define DAY_MS           (24LL * 3600 * 1000)
#define HISTORY_PAGE     20
#define HISTORY_PAGE_MAX 100
#define FEED_LIMIT       100
#define FEED_LIMIT_MAX   1000
#define HIST_SUFFIX_LEN  (8 + UNS_STORE_RID_LEN)
#define EXP_NOTIFICATION 'N'
#define EXP_SUBSCRIPTION 'S'
#define EXP_TOMBSTONE    'T'
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
	CF_COUNT
};

static const char *const cf_names[CF_COUNT] = {
    "default",       "subscriptions", "subscriptions_by_device",
    "notifications", "app_ids",       "feed",
    "history",       "expiry",        "outbox",
    "meta",
};

/*
 * Column families keyed by a fixed 8-byte prefix: the (user, host) hash or
 * the first characters of a random id. They get a prefix extractor (bloom
 * filters on the prefix, iterators bounded with prefix_same_as_start) and a
 * hash-skiplist memtable: one small skiplist per prefix instead of one big
 * one, so the committer's inserts, which land at random places, touch a few
 * cache lines instead of a path through ~10^5 nodes (measured: the big
 * skiplist was 72% of the committer's CPU; this is +35% posts/s at 64
 * writers; a memtable prefix bloom on top added nothing and was dropped).
 * Cost: a flush sorts the memtable, and only prefix-bounded scans are cheap,
 * which is all these families need. The expiry CF is scanned in time order
 * across owners and keeps the default skiplist.
 */
static const bool cf_prefixed[CF_COUNT] = {
    [CF_SUBS] = true, [CF_SUBDEV] = true, [CF_NOTIF] = true, [CF_APPID] = true,
    [CF_FEED] = true, [CF_HIST] = true,   [CF_META] = true,
};

struct uns_store {
	rocksdb_t *db;
	rocksdb_column_family_handle_t *cf[CF_COUNT];
	rocksdb_options_t *dbopt, *plainopt, *prefixopt;
	rocksdb_cache_t *cache;
	rocksdb_writeoptions_t *wsync;
	rocksdb_readoptions_t *ropt;
	rocksdb_writebatch_t *scratch; /* committer thread only */
	uns_store_commit *commit;
	uns_store_config cfg;
	char *dir;
	struct stripe stripes[NSTRIPES];
	pthread_mutex_t hook_mu;
	uns_store_feed_fn hook;
	void *hook_arg;
	uns_store_tap_fn tap_hook;
	void *tap_hook_arg;
	pthread_mutex_t lease_mu;
	struct lease *leases[LEASE_BUCKETS];
	pthread_mutex_t reclaim_mu; /* one reclaim pass at a time */
	pthread_mutex_t bg_mu;
	pthread_cond_t bg_cv;
	bool bg_stop, bg_running;
	struct write_op *retries; /* posts waiting for a reclaim; under bg_mu */
	pthread_t bg_thread;
};

/* ======================================================================
 * Errors and the engine
 * ====================================================================== */

/* The one place a RocksDB error string becomes a uns_err (and is freed). */
static uns_err
rdb_err(char *err, const char *what)
{
	static const struct {
		const char *prefix;
		uns_err rc;
	} map[] = {
	    /* Status::ToString() prefixes of RocksDB 7.8, most specific first.
	     */
	    {"Corruption", UNS_DATA_LOSS},
	    {"IO error: No space", UNS_RESOURCE_EXHAUSTED},
	    {"IO error: While lock file", UNS_UNAVAILABLE}, /* other process */
	    {"IO error: lock hold by current process", UNS_UNAVAILABLE},
	    {"IO error", UNS_EIO},
	    {"Invalid argument", UNS_EINVAL},
	    {"Resource busy", UNS_UNAVAILABLE},
	    {"Operation timed out", UNS_UNAVAILABLE},
	    {"Operation aborted", UNS_UNAVAILABLE},
	    {"Operation expired", UNS_UNAVAILABLE},
	    {"Operation failed. Try again", UNS_UNAVAILABLE},
	    {"Shutdown in progress", UNS_UNAVAILABLE},
	};
	uns_err rc = UNS_INTERNAL;

	if (err == NULL) {
		return UNS_OK;
	}
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strncmp(err, map[i].prefix, strlen(map[i].prefix)) == 0) {
			rc = map[i].rc;
			break;
		}
	}
	uns_store_seterr(rc, "rocksdb %s: %s", what, err);
	rocksdb_free(err);
	return rc;
}

static int64_t
now_ms(const uns_store *st)
{
	struct timespec ts;

	if (st->cfg.clock != NULL) {
		return st->cfg.clock(st->cfg.clock_arg);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* *v is rocksdb-allocated: rocksdb_free() it. UNS_NOT_FOUND if absent. */
static uns_err
db_get(uns_store *st, const rocksdb_readoptions_t *ro, int cf, const void *k,
       size_t klen, char **v, size_t *vlen)
{
	char *err = NULL;
	char *val = rocksdb_get_cf(st->db, ro != NULL ? ro : st->ropt,
	                           st->cf[cf], k, klen, vlen, &err);

	if (err != NULL) {
		return rdb_err(err, "get");
	}
	if (val == NULL) {
		return UNS_NOT_FOUND;
	}
	*v = val;
	return UNS_OK;
}

/* A read view: a snapshot and read options on it, for multi-key reads. */
struct view {
	const rocksdb_snapshot_t *snap;
	rocksdb_readoptions_t *ro;
};

static uns_err
view_open(uns_store *st, struct view *v)
{
	if ((v->ro = rocksdb_readoptions_create()) == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	v->snap = rocksdb_create_snapshot(st->db);
	rocksdb_readoptions_set_snapshot(v->ro, v->snap);
	return UNS_OK;
}

static void
view_close(uns_store *st, struct view *v)
{
	if (v->ro != NULL) {
		rocksdb_readoptions_destroy(v->ro);
		rocksdb_release_snapshot(st->db, v->snap);
		v->ro = NULL;
	}
}

/* A bounded scan over [lo, hi) of one column family. The bounds live here
 * because RocksDB keeps pointers to them. */
struct scan {
	rocksdb_readoptions_t *ro;
	rocksdb_iterator_t *it;
	uns_store_key lo, hi;
};

static uns_err
scan_open(uns_store *st, struct scan *s, const struct view *v, int cf)
{
	if ((s->ro = rocksdb_readoptions_create()) == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	if (v != NULL) {
		rocksdb_readoptions_set_snapshot(s->ro, v->snap);
	}
	rocksdb_readoptions_set_iterate_lower_bound(s->ro, (char *)s->lo.b,
	                                            s->lo.len);
	rocksdb_readoptions_set_iterate_upper_bound(s->ro, (char *)s->hi.b,
	                                            s->hi.len);
	rocksdb_readoptions_set_prefix_same_as_start(s->ro, cf_prefixed[cf]);
	s->it = rocksdb_create_iterator_cf(st->db, s->ro, st->cf[cf]);
	rocksdb_iter_seek(s->it, (const char *)s->lo.b, s->lo.len);
	return UNS_OK;
}

static bool
scan_valid(const struct scan *s)
{
	return rocksdb_iter_valid(s->it) != 0;
}

static const unsigned char *
scan_key(const struct scan *s, size_t *len)
{
	return (const unsigned char *)rocksdb_iter_key(s->it, len);
}

static const char *
scan_value(const struct scan *s, size_t *len)
{
	return rocksdb_iter_value(s->it, len);
}

/* Closes the scan; returns the iterator's error, if any. */
static uns_err
scan_close(struct scan *s)
{
	char *err = NULL;

	if (s->it != NULL) {
		rocksdb_iter_get_error(s->it, &err);
		rocksdb_iter_destroy(s->it);
		s->it = NULL;
	}
	if (s->ro != NULL) {
		rocksdb_readoptions_destroy(s->ro);
		s->ro = NULL;
	}
	return rdb_err(err, "iterate");
}

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

/* Grows *p to hold need elements; first allocation holds at least min. */
static bool
grow(void **p, size_t *cap, size_t need, size_t elem, size_t min)
{
	size_t ncap = *cap != 0 ? *cap : min;
	void *np;

	if (need <= *cap) {
		return true;
	}
	while (ncap < need) {
		ncap *= 2;
	}
	if ((np = realloc(*p, ncap * elem)) == NULL) {
		return false;
	}
	*p = np;
	*cap = ncap;
	return true;
}

static void
batch_op(struct batch *b, int cf, bool del, const void *k, size_t klen,
         const void *v, size_t vlen)
{
	if (b->nomem ||
	    !grow((void **)&b->ops, &b->cap, b->n + 1, sizeof(*b->ops), 16) ||
	    !grow((void **)&b->buf, &b->bcap, b->len + klen + vlen, 1, 2048)) {
		b->nomem = true;
		return;
	}
	b->ops[b->n++] = (struct op){.cf = (uint8_t)cf,
	                             .del = del,
	                             .klen = (uint32_t)klen,
	                             .vlen = (uint32_t)vlen,
	                             .off = b->len};
	memcpy(b->buf + b->len, k, klen);
	if (vlen > 0) {
		memcpy(b->buf + b->len + klen, v, vlen);
	}
	b->len += klen + vlen;
}

static void
batch_put(struct batch *b, int cf, const uns_store_key *k, const void *v,
          size_t vlen)
{
	batch_op(b, cf, false, k->b, k->len, v, vlen);
}

static void
batch_del(struct batch *b, int cf, const uns_store_key *k)
{
	batch_op(b, cf, true, k->b, k->len, NULL, 0);
}

static void
batch_free(struct batch *b)
{
	free(b->ops);
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

/* The committer's flush: every batch of the group into one synced write. */
static uns_err
flush_group(void *arg, void *const *payloads, size_t n)
{
	uns_store *st = arg;
	char *err = NULL;

	rocksdb_writebatch_clear(st->scratch);
	for (size_t i = 0; i < n; i++) {
		const struct batch *b = payloads[i];
		for (size_t j = 0; j < b->n; j++) {
			const struct op *o = &b->ops[j];
			const char *k = (const char *)b->buf + o->off;
			if (o->del) {
				rocksdb_writebatch_delete_cf(
				    st->scratch, st->cf[o->cf], k, o->klen);
			} else {
				rocksdb_writebatch_put_cf(
				    st->scratch, st->cf[o->cf], k, o->klen,
				    k + o->klen, o->vlen);
			}
		}
	}
	rocksdb_write(st->db, st->wsync, st->scratch, &err);
	return rdb_err(err, "write");
}

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

static uns_err
owner_init(struct owner *o, const char *user, const char *host)
{
	uns_err rc = uns_store_key_uh(&o->uh, user, host);

	if (rc == UNS_OK) {
		strcpy(o->user, user);
		strcpy(o->host, host);
		o->head = 0;
		o->live = 0;
		o->newest = -1;
		o->dirty = o->moved = false;
		o->taps = 0;
	}
	return rc;
}

static uns_err
owner_load(uns_store *st, const rocksdb_readoptions_t *ro, struct owner *o)
{
	char *v = NULL;
	size_t vlen;
	uns_err rc = db_get(st, ro, CF_META, o->uh.b, o->uh.len, &v, &vlen);

	uns_store_meta m;

	if (rc == UNS_NOT_FOUND) {
		/* Meta is never deleted: this owner never had a notification.
		 */
		o->head = 0;
		o->live = 0;
		o->newest = 0;
		return UNS_OK;
	}
	if (rc == UNS_OK) {
		rc = uns_store_metaval_decode(v, vlen, &m);
		rocksdb_free(v);
	}
	if (rc == UNS_OK) {
		o->head = m.head;
		o->live = m.live;
		o->newest = m.newest;
	}
	return rc;
}

static void
owner_save(struct batch *b, const struct owner *o)
{
	unsigned char v[UNS_STORE_METAVAL_LEN];

	if (o->dirty) {
		uns_store_meta m = {
		    .head = o->head, .live = o->live, .newest = o->newest};
		uns_store_metaval_encode(&m, v);
		batch_put(b, CF_META, &o->uh, v, sizeof(v));
	}
}

static struct stripe *
owner_stripe(uns_store *st, const uns_store_key *uh)
{
	return &st->stripes[uns_store_key_hash(uh->b) % NSTRIPES];
}

/* Takes s for w if it is free (true: the caller holds it now); else queues
 * w, whose resume runs once s is handed to it. */
static bool
stripe_take_or_queue(struct stripe *s, struct stripe_waiter *w)
{
	bool taken;

	pthread_mutex_lock(&s->mu);
	if ((taken = !s->held)) {
		s->held = true;
	} else {
		w->next = NULL;
		if (s->tail != NULL) {
			s->tail->next = w;
		} else {
			s->head = w;
		}
		s->tail = w;
	}
	pthread_mutex_unlock(&s->mu);
	return taken;
}

struct stripe_sleeper {
	struct stripe_waiter w;
	sem_t handed;
};

static void
sleeper_resume(struct stripe_waiter *w)
{
	sem_post(&((struct stripe_sleeper *)w)->handed);
}

/* Blocks until the calling thread holds s. */
static void
stripe_lock(struct stripe *s)
{
	struct stripe_sleeper z = {.w.resume = sleeper_resume};

	sem_init(&z.handed, 0, 0);
	if (!stripe_take_or_queue(s, &z.w)) {
		while (sem_wait(&z.handed) != 0) {
		}
	}
	sem_destroy(&z.handed);
}

/* Hands s to its first waiter (running its resume here) or frees it. */
static void
stripe_unlock(struct stripe *s)
{
	struct stripe_waiter *next;

	pthread_mutex_lock(&s->mu);
	if ((next = s->head) != NULL) {
		s->head = next->next;
		if (s->head == NULL) {
			s->tail = NULL;
		}
	} else {
		s->held = false;
	}
	pthread_mutex_unlock(&s->mu);
	if (next != NULL) {
		next->resume(next);
	}
}

static void
fire_hook(uns_store *st, const struct owner *o)
{
	uns_store_feed_fn fn;
	uns_store_tap_fn tfn;
	void *arg, *targ;

	if (!o->moved) {
		return;
	}
	pthread_mutex_lock(&st->hook_mu);
	fn = st->hook;
	arg = st->hook_arg;
	tfn = st->tap_hook;
	targ = st->tap_hook_arg;
	pthread_mutex_unlock(&st->hook_mu);
	if (fn != NULL) {
		fn(arg, o->user, o->host, o->head);
	}
	if (tfn != NULL) {
		tfn(targ, o->user, o->host, o->head, o->taps);
	}
}

/* A write of one owner: its stripe is held from begin to end, so every
 * read in between sees all of the owner's earlier writes, durable. */
struct wctx {
	uns_store *st;
	struct owner o;
	struct batch b;
	struct stripe *lock;
	int64_t now;
};

/* The outbox (its section below) hooks into the writes above it. */
static uns_err taps_enqueue(uns_store *st, struct batch *b, struct owner *o,
                            int64_t now, const Uns__V1__Notification *n,
                            bool state, const char *by);
static uns_err taps_drop(uns_store *st, struct batch *b, const char *unsid);
static uns_err fallback_schedule(struct wctx *w, const Uns__V1__Notification *n,
                                 const uns_store_nrec *old);
static void leases_free(uns_store *st);

/* Names w's owner and stripe; takes nothing yet. */
static uns_err
wctx_init(uns_store *st, struct wctx *w, const char *user, const char *host)
{
	uns_err rc;

	memset(&w->b, 0, sizeof(w->b));
	w->st = st;
	w->lock = NULL;
	if ((rc = owner_init(&w->o, user, host)) == UNS_OK) {
		w->lock = owner_stripe(st, &w->o.uh);
	}
	return rc;
}

/* With w's stripe held: the owner's committed feed head and live count,
 * and nothing changed yet (a retried write starts over). */
static uns_err
wctx_load(struct wctx *w)
{
	w->now = now_ms(w->st);
	w->o.dirty = w->o.moved = false;
	w->o.taps = 0;
	return owner_load(w->st, NULL, &w->o);
}

static uns_err
wctx_begin(uns_store *st, struct wctx *w, const char *user, const char *host)
{
	uns_err rc = wctx_init(st, w, user, host);

	if (rc == UNS_OK) {
		stripe_lock(w->lock);
		rc = wctx_load(w);
	}
	return rc;
}

static uns_err
wctx_commit(struct wctx *w)
{
	owner_save(&w->b, &w->o);
	if (w->b.nomem) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	if (w->b.n == 0) {
		return UNS_OK;
	}
	return uns_store_commit_submit(w->st->commit, &w->b);
}

/* Unlocks; after a successful commit, tells the hook the feed moved. */
static void
wctx_end(struct wctx *w, uns_err rc)
{
	if (w->lock != NULL) {
		stripe_unlock(w->lock);
	}
	batch_free(&w->b);
	if (rc == UNS_OK) {
		fire_hook(w->st, &w->o);
	}
}

/* ======================================================================
 * Keys
 * ====================================================================== */

static void
key_owned(uns_store_key *k, const struct owner *o, const char *s)
{
	*k = o->uh;
	uns_store_key_str(k, s);
}

static void
key_feed(uns_store_key *k, const uns_store_key *uh, uint64_t seq)
{
	*k = *uh;
	uns_store_key_u64(k, seq);
}

static void
key_hist(uns_store_key *k, const struct owner *o, int64_t created,
         const char *id)
{
	*k = o->uh;
	uns_store_key_u64(k, ~(uint64_t)created);
	uns_store_key_str(k, id);
}

static void
key_expiry(uns_store_key *k, int64_t when, char kind, const void *ref,
           size_t len)
{
	k->len = 0;
	uns_store_key_u64(k, (uint64_t)when);
	k->b[k->len++] = (unsigned char)kind;
	uns_store_key_bytes(k, ref, len);
}

static void
key_id(uns_store_key *k, const char *id)
{
	k->len = 0;
	uns_store_key_str(k, id);
}

/* ======================================================================
 * Notifications: loading and writing
 * ====================================================================== */

static bool
rid_ok(const char *id)
{
	return id != NULL &&
	       strnlen(id, UNS_STORE_RID_LEN + 1) == UNS_STORE_RID_LEN;
}

/* Loads the record of id, its message unpacked through pb (NULL = malloc);
 * UNS_NOT_FOUND for a malformed or absent id. */
static uns_err
notif_load_with(uns_store *st, const rocksdb_readoptions_t *ro, const char *id,
                ProtobufCAllocator *pb, uns_store_nrec *r)
{
	char *v = NULL;
	size_t vlen;
	uns_err rc;

	if (!rid_ok(id)) {
		return UNS_NOT_FOUND;
	}
	rc = db_get(st, ro, CF_NOTIF, id, UNS_STORE_RID_LEN, &v, &vlen);
	if (rc == UNS_OK) {
		rc = uns_store_nrec_decode_with(v, vlen, pb, r);
		rocksdb_free(v);
	}
	return rc;
}

static uns_err
notif_load(uns_store *st, const rocksdb_readoptions_t *ro, const char *id,
           uns_store_nrec *r)
{
	return notif_load_with(st, ro, id, NULL, r);
}

static bool
notif_visible(const uns_store_nrec *r, const char *user, const char *host,
              int64_t now)
{
	return strcmp(r->user, user) == 0 &&
	       strcmp(r->n->target_host_name, host) == 0 &&
	       r->n->status ==
	           UNS__V1__NOTIFICATION_STATUS__NOTIFICATION_STATUS_ACTIVE &&
	       r->n->expiration_time_ms > now;
}

/* Loads id if it is a live notification of (user, host): else NOT_FOUND,
 * the same answer for missing, expired, deleted and someone else's. */
static uns_err
notif_load_visible(uns_store *st, const char *user, const char *host,
                   const char *id, int64_t now, uns_store_nrec *r)
{
	uns_err rc = notif_load(st, NULL, id, r);

	if (rc == UNS_OK && !notif_visible(r, user, host, now)) {
		uns_store_nrec_clear(r);
		rc = UNS_NOT_FOUND;
	}
	return rc;
}

/* An independent heap copy of any message (free_unpacked(NULL) frees it);
 * NULL when out of memory. */
static void *
msg_dup(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len != 0 ? len : 1);
	ProtobufCMessage *copy = NULL;

	if (buf != NULL) {
		protobuf_c_message_pack(m, buf);
		copy = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
		free(buf);
	}
	if (copy == NULL) {
		uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	return copy;
}

static uns_err
notif_dup(const Uns__V1__Notification *n, Uns__V1__Notification **out)
{
	Uns__V1__Notification *copy = msg_dup(&n->base);

	if (copy == NULL) {
		return UNS_ENOMEM;
	}
	*out = copy;
	return UNS_OK;
}

/* Moves a notification's feed entry to the new head: one feed change. */
static uint64_t
feed_move(struct batch *b, struct owner *o, uint64_t old_seq,
          Uns__V1__RemovedReason why, uint64_t version, const char *id)
{
	uns_store_feedval fv = {.removed = why, .version = version};
	unsigned char v[UNS_STORE_FEEDVAL_MAX];
	uns_store_key k;

	if (old_seq != 0) {
		key_feed(&k, &o->uh, old_seq);
		batch_del(b, CF_FEED, &k);
	}
	snprintf(fv.id, sizeof(fv.id), "%s", id);
	o->head++;
	o->dirty = o->moved = true;
	key_feed(&k, &o->uh, o->head);
	batch_put(b, CF_FEED, &k, v, uns_store_feedval_encode(&fv, v));
	return o->head;
}

static void
expiry_put(struct batch *b, int64_t when, char kind, const char *ref, bool del)
{
	uns_store_key k;

	key_expiry(&k, when, kind, ref, strlen(ref));
	if (del) {
		batch_del(b, CF_EXPIRY, &k);
	} else {
		batch_put(b, CF_EXPIRY, &k, "", 0);
	}
}

static void
expiry_tombstone(struct batch *b, const struct owner *o, int64_t when,
                 uint64_t seq)
{
	uns_store_key ref, k;

	key_feed(&ref, &o->uh, seq);
	key_expiry(&k, when, EXP_TOMBSTONE, ref.b, ref.len);
	batch_put(b, CF_EXPIRY, &k, "", 0);
}

/* The caller's copy of a notification just encoded into rec: unpacked
 * from rec's bytes, not packed once more (msg_dup). */
static uns_err
notif_from_rec(const unsigned char *rec, size_t len,
               Uns__V1__Notification **out)
{
	uns_store_nrec r;

	if (uns_store_nrec_decode(rec, len, &r) != UNS_OK) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	*out = r.n;
	return UNS_OK;
}

/*
 * Queues the new state n of a notification of o: one feed change (reason
 * why), the record, its history entry and its expiry entry. old is the
 * stored state (NULL on create). *out, if asked, gets a copy of n.
 */
static uns_err
notif_write(struct batch *b, struct owner *o, const uns_store_nrec *old,
            const Uns__V1__Notification *n, Uns__V1__RemovedReason why,
            Uns__V1__Notification **out)
{
	unsigned char hv[UNS_STORE_HISTVAL_MAX], *rec = NULL;
	uint64_t seq = feed_move(b, o, old != NULL ? old->feed_seq : 0, why,
	                         n->version, n->id);
	size_t len;
	uns_store_key k;
	uns_err rc;

	if ((rc = uns_store_nrec_encode(o->user, seq, n, &rec, &len)) !=
	    UNS_OK) {
		return rc;
	}
	key_id(&k, n->id);
	batch_put(b, CF_NOTIF, &k, rec, len);
	rc = out != NULL ? notif_from_rec(rec, len, out) : UNS_OK;
	free(rec);
	key_hist(&k, o, n->created_time_ms, n->id);
	batch_put(b, CF_HIST, &k, hv, uns_store_histval_encode(n, hv));
	if (old == NULL ||
	    old->n->expiration_time_ms != n->expiration_time_ms) {
		if (old != NULL) {
			expiry_put(b, old->n->expiration_time_ms,
			           EXP_NOTIFICATION, n->id, true);
		}
		expiry_put(b, n->expiration_time_ms, EXP_NOTIFICATION, n->id,
		           false);
	}
	return rc;
}

/* ======================================================================
 * Post
 * ====================================================================== */

static uns_err
post_check(const uns_store *st, const Uns__V1__Notification *in, int64_t now,
           int64_t *expiration)
{
	if (in == NULL || !uns_store_id_ok(in->app_notification_id) ||
	    in->group_name == NULL ||
	    strlen(in->group_name) > UNS_STORE_ID_MAX) {
		return uns_store_seterr(UNS_EINVAL, "bad app id or group name");
	}
	*expiration = in->expiration_time_ms != 0
	                  ? in->expiration_time_ms
	                  : now + st->cfg.default_ttl_ms;
	if (*expiration <= now) {
		return uns_store_seterr(UNS_EINVAL,
		                        "expiration is not in the future");
	}
	return UNS_OK;
}

/* The live notification that (owner, app id) names, if any. */
static uns_err
appid_find(struct wctx *w, const char *app_id, uns_store_nrec *r, bool *found)
{
	char *v = NULL, id[UNS_STORE_RID_LEN + 1];
	size_t vlen;
	uns_store_key k;
	uns_err rc;

	*found = false;
	key_owned(&k, &w->o, app_id);
	rc = db_get(w->st, NULL, CF_APPID, k.b, k.len, &v, &vlen);
	if (rc != UNS_OK) {
		return rc == UNS_NOT_FOUND ? UNS_OK : rc;
	}
	snprintf(id, sizeof(id), "%.*s", (int)vlen, v);
	rocksdb_free(v);
	rc = notif_load_visible(w->st, w->o.user, w->o.host, id, w->now, r);
	*found = rc == UNS_OK;
	return rc == UNS_NOT_FOUND ? UNS_OK : rc;
}

/* Sets the server-owned fields of a fresh or replaced notification. */
static void
post_state(Uns__V1__Notification *n, const struct owner *o, int64_t now,
           int64_t expiration)
{
	n->base.n_unknown_fields = 0; /* keep only what we understand */
	n->base.unknown_fields = NULL;
	n->target_host_name = (char *)o->host;
	n->expiration_time_ms = expiration;
	n->read_state = UNS__V1__READ_STATE__READ_STATE_UNREAD;
	n->user_action_state =
	    UNS__V1__USER_ACTION_STATE__USER_ACTION_STATE_NO_INTERACTION;
	n->status = UNS__V1__NOTIFICATION_STATUS__NOTIFICATION_STATUS_ACTIVE;
	n->last_modified_time_ms = now;
}

/* A post's record, feed change, taps and fallback check, in w's batch. */
static uns_err
post_write(struct wctx *w, const uns_store_nrec *old,
           const Uns__V1__Notification *n, Uns__V1__Notification **out)
{
	uns_err rc = notif_write(&w->b, &w->o, old, n, 0, out);

	if (rc == UNS_OK) {
		rc = taps_enqueue(w->st, &w->b, &w->o, w->now, n, false, NULL);
	}
	return rc == UNS_OK ? fallback_schedule(w, n, old) : rc;
}

/*
 * The creation time a new notification of o gets: now, or just after o's
 * newest one when that is not older (several posts in one millisecond), so
 * creation times of one owner are distinct and increase in posting order
 * and History's "newest first" is the order the app posted in. Runs under
 * o's stripe, which serialises o's writes until they are durable. The
 * newest time is in o's meta record; one written before it was kept there
 * costs a seek to o's newest History entry, once.
 */
static uns_err
created_after_newest(uns_store *st, struct owner *o, int64_t now,
                     int64_t *created)
{
	struct scan s = {0};
	uns_err rc;

	if (o->newest >= 0) {
		*created = o->newest >= now ? o->newest + 1 : now;
		return UNS_OK;
	}
	s.lo = o->uh;
	uns_store_key_successor(&o->uh, &s.hi);
	*created = now;
	if ((rc = scan_open(st, &s, NULL, CF_HIST)) == UNS_OK &&
	    scan_valid(&s)) {
		size_t klen;
		const unsigned char *k = scan_key(&s, &klen);
		if (klen >= o->uh.len + 8) {
			int64_t newest =
			    (int64_t)~uns_store_be64_get(k + o->uh.len);
			*created = newest >= now ? newest + 1 : now;
		}
	}
	uns_err close_rc = scan_close(&s);
	return rc != UNS_OK ? rc : close_rc;
}

static uns_err
post_create(struct wctx *w, const Uns__V1__Notification *in, int64_t expiration,
            Uns__V1__Notification **out)
{
	Uns__V1__Notification n = *in;
	char id[UNS_STORE_RID_LEN + 1];
	uns_store_key k;
	uns_err rc;

	if (w->o.live >= w->st->cfg.max_live) {
		return uns_store_seterr(UNS_RESOURCE_EXHAUSTED,
		                        "too many live notifications");
	}
	if ((rc = uns_store_mint_id(id)) != UNS_OK) {
		return rc;
	}
	post_state(&n, &w->o, w->now, expiration);
	n.id = id;
	if ((rc = created_after_newest(w->st, &w->o, w->now,
	                               &n.created_time_ms)) != UNS_OK) {
		return rc;
	}
	n.version = 1;
	w->o.live++;
	w->o.newest = n.created_time_ms;
	w->o.dirty = true;
	key_owned(&k, &w->o, in->app_notification_id);
	batch_put(&w->b, CF_APPID, &k, id, UNS_STORE_RID_LEN);
	return post_write(w, NULL, &n, out);
}

static uns_err
post_replace(struct wctx *w, const uns_store_nrec *old,
             const Uns__V1__Notification *in, int64_t expiration,
             Uns__V1__Notification **out)
{
	Uns__V1__Notification n = *in;

	post_state(&n, &w->o, w->now, expiration);
	n.id = old->n->id;
	n.created_time_ms = old->n->created_time_ms;
	n.version = old->n->version + 1;
	return post_write(w, old, &n, out);
}

/* ======================================================================
 * Get, update state, delete
 * ====================================================================== */

uns_err
uns_store_get(uns_store *st, const char *user, const char *host, const char *id,
              Uns__V1__Notification **out)
{
	uns_store_nrec r = {0};
	uns_err rc;

	if (st == NULL || out == NULL || !uns_store_id_ok(user) ||
	    !uns_store_id_ok(host)) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	rc = notif_load_visible(st, user, host, id, now_ms(st), &r);
	if (rc == UNS_OK) {
		*out = r.n;
		r.n = NULL;
	}
	return rc;
}

static bool
change_ok(const uns_store_change *c)
{
	return c != NULL && (unsigned)c->read_state <= 2 &&
	       (unsigned)c->user_action_state <= 4 &&
	       (c->read_state != 0 || c->user_action_state != 0 || c->delete_);
}

/* Applies c to n; false if that alters nothing. */
static bool
change_apply(const uns_store_change *c, Uns__V1__Notification *n)
{
	bool changed = false;

	if (c->read_state != 0 && c->read_state != n->read_state) {
		n->read_state = c->read_state;
		changed = true;
	}
	if (c->user_action_state != 0 &&
	    c->user_action_state != n->user_action_state) {
		n->user_action_state = c->user_action_state;
		changed = true;
	}
	if (c->delete_) {
		n->status =
		    UNS__V1__NOTIFICATION_STATUS__NOTIFICATION_STATUS_DELETED;
		changed = true;
	}
	return changed;
}

/* Under w's stripe: the change of one live notification of w's owner. */
static uns_err
update_locked(struct wctx *w, const char *id, const uns_store_change *c,
              Uns__V1__Notification **out)
{
	Uns__V1__Notification n;
	uns_store_nrec r = {0};
	uns_store_key k;
	uns_err rc;

	rc = notif_load_visible(w->st, w->o.user, w->o.host, id, w->now, &r);
	if (rc != UNS_OK) {
		return rc;
	}
	n = *r.n;
	if (c->if_version != 0 && c->if_version != n.version) {
		rc =
		    uns_store_seterr(UNS_FAILED_PRECONDITION, "version is %llu",
		                     (unsigned long long)n.version);
	} else if (!change_apply(c, &n)) {
		rc = notif_dup(&n, out); /* nothing to write */
	} else {
		n.version++;
		n.last_modified_time_ms = w->now;
		if (c->delete_) {
			w->o.live -= w->o.live > 0;
			w->o.dirty = true;
			key_owned(&k, &w->o, n.app_notification_id);
			batch_del(&w->b, CF_APPID, &k);
		}
		rc = notif_write(
		    &w->b, &w->o, &r, &n,
		    c->delete_ ? UNS__V1__REMOVED_REASON__REMOVED_REASON_DELETED
		               : 0,
		    out);
		if (rc == UNS_OK) {
			rc = taps_enqueue(w->st, &w->b, &w->o, w->now, &n, true,
			                  c->by_unsid);
		}
	}
	uns_store_nrec_clear(&r);
	return rc;
}

/* ======================================================================
 * Writes no thread waits for: Post and UpdateState
 * ====================================================================== */

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
	const char
	    *id; /* update, delete: the id (or app id); unsubscribe: UNSID */
	uns_store_change chg; /* update */
	uns_store_write_done_fn done;
	void *arg;
	Uns__V1__Notification *res;
	bool created, retried, may_retry;
	struct write_op *next_retry;
};

static void write_op_start(struct write_op *op);

/* The post found its owner at max_live: the background thread reclaims
 * expired notifications and runs it once more. Not here: reclaim waits for
 * stripes, and this may be the committer thread, which must never wait. */
static bool
write_op_retry_later(struct write_op *op)
{
	uns_store *st = op->w.st;
	bool queued = false;

	pthread_mutex_lock(&st->bg_mu);
	if (!st->bg_stop) {
		op->next_retry = st->retries;
		st->retries = op;
		queued = true;
		pthread_cond_signal(&st->bg_cv);
	}
	pthread_mutex_unlock(&st->bg_mu);
	return queued;
}

/* Lets the owner's next write run (if holding its stripe), wakes the
 * feed's watchers and reports rc, in the order a blocking write has: the
 * watchers know before the writer returns. A failure is reported before
 * the stripe goes, so that no other write's error message (thread-local;
 * the next write may run on this thread) replaces this one's before done
 * reads it. */
static void
write_op_finish(struct write_op *op, uns_err rc, bool holding)
{
	struct wctx *w = &op->w;

	if (rc != UNS_OK) {
		if (op->res != NULL) {
			uns__v1__notification__free_unpacked(op->res, NULL);
			op->res = NULL;
		}
		op->done(op->arg, rc, NULL, false);
	}
	if (holding) {
		stripe_unlock(w->lock);
	}
	if (rc == UNS_OK) {
		fire_hook(w->st, &w->o);
		op->done(op->arg, rc, op->res, op->created);
	}
	batch_free(&w->b);
	free(op);
}

/* With the stripe held: ends op, or hands it to a reclaim and retry. */
static void
write_op_end(struct write_op *op, uns_err rc)
{
	if (rc != UNS_RESOURCE_EXHAUSTED || !op->may_retry || op->retried) {
		write_op_finish(op, rc, true);
		return;
	}
	stripe_unlock(op->w.lock);
	batch_free(&op->w.b);
	if (!write_op_retry_later(op)) {
		write_op_finish(
		    op, uns_store_seterr(UNS_UNAVAILABLE, "store closing"),
		    false);
	}
}

static void
write_op_committed(uns_store_commit_req *req, uns_err rc)
{
	write_op_end((struct write_op *)((char *)req -
	                                 offsetof(struct write_op, commit)),
	             rc);
}

/* A Post: create or replace. */
static uns_err
post_body(struct write_op *op)
{
	struct wctx *w = &op->w;
	uns_store_nrec old = {0};
	int64_t expiration = 0;
	bool found = false;
	uns_err rc;

	if ((rc = post_check(w->st, op->in, w->now, &expiration)) == UNS_OK &&
	    (rc = appid_find(w, op->in->app_notification_id, &old, &found)) ==
	        UNS_OK) {
		rc = found ? post_replace(w, &old, op->in, expiration, &op->res)
		           : post_create(w, op->in, expiration, &op->res);
	}
	uns_store_nrec_clear(&old);
	op->created = !found;
	return rc;
}

static uns_err
update_body(struct write_op *op)
{
	return update_locked(&op->w, op->id, &op->chg, &op->res);
}

static const uns_store_change delete_change = {.delete_ = true};

/* A delete by server id; op->id's owner was found before the stripe. */
static uns_err
delete_body(struct write_op *op)
{
	return update_locked(&op->w, op->id, &delete_change, &op->res);
}

/* A delete by app notification id (op->id). */
static uns_err
delete_by_app_id_body(struct write_op *op)
{
	uns_store_nrec r = {0};
	bool found = false;
	uns_err rc = appid_find(&op->w, op->id, &r, &found);

	if (rc == UNS_OK) {
		rc = found ? update_locked(&op->w, r.n->id, &delete_change,
		                           &op->res)
		           : UNS_NOT_FOUND;
	}
	uns_store_nrec_clear(&r);
	return rc;
}

/* With the owner's stripe held: the body, then the batch to the committer
 * (a write that changes nothing ends here). */
static void
write_op_body(struct write_op *op)
{
	struct wctx *w = &op->w;
	uns_err rc;

	if ((rc = wctx_load(w)) == UNS_OK && (rc = op->body(op)) == UNS_OK) {
		owner_save(&w->b, &w->o);
		if (w->b.nomem) {
			rc = uns_store_seterr(UNS_ENOMEM, "out of memory");
		}
	}
	if (rc != UNS_OK || w->b.n == 0) {
		write_op_end(op, rc);
		return;
	}
	op->commit.payload = &w->b;
	op->commit.done = write_op_committed;
	uns_store_commit_submit_async(w->st->commit, &op->commit);
}

static void
write_op_resume(struct stripe_waiter *wt)
{
	write_op_body((struct write_op *)wt);
}

static void
write_op_start(struct write_op *op)
{
	op->wait.resume = write_op_resume;
	if (stripe_take_or_queue(op->w.lock, &op->wait)) {
		write_op_body(op);
	}
}

/* On the background thread: reclaim, then the post's second and last try. */
static void
write_op_retry(struct write_op *op)
{
	uns_err rc = uns_store_reclaim(op->w.st, now_ms(op->w.st), NULL);

	op->retried = true;
	if (rc != UNS_OK) {
		write_op_finish(op, rc, false);
		return;
	}
	write_op_start(op);
}

/* A new write_op for (user, host), or NULL after done has been told why
 * not (args_ok false: the caller's other arguments were bad). */
static struct write_op *
write_op_new(uns_store *st, const char *user, const char *host, bool args_ok,
             uns_store_write_done_fn done, void *arg)
{
	struct write_op *op;
	uns_err rc;

	if (st == NULL || !args_ok || done == NULL) {
		if (done != NULL) {
			done(arg, uns_store_seterr(UNS_EINVAL, "bad argument"),
			     NULL, false);
		}
		return NULL;
	}
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		done(arg, uns_store_seterr(UNS_ENOMEM, "out of memory"), NULL,
		     false);
		return NULL;
	}
	op->done = done;
	op->arg = arg;
	if ((rc = wctx_init(st, &op->w, user, host)) != UNS_OK) {
		free(op);
		done(arg, rc, NULL, false);
		return NULL;
	}
	return op;
}

void
uns_store_post_async(uns_store *st, const char *user, const char *host,
                     const Uns__V1__Notification *in,
                     uns_store_write_done_fn done, void *arg)
{
	struct write_op *op =
	    write_op_new(st, user, host, in != NULL, done, arg);

	if (op != NULL) {
		op->body = post_body;
		op->in = in;
		op->may_retry = true;
		write_op_start(op);
	}
}

void
uns_store_update_state_async(uns_store *st, const char *user, const char *host,
                             const char *id, const uns_store_change *chg,
                             uns_store_write_done_fn done, void *arg)
{
	struct write_op *op =
	    write_op_new(st, user, host, change_ok(chg), done, arg);

	if (op != NULL) {
		op->body = update_body;
		op->id = id;
		op->chg = *chg;
		write_op_start(op);
	}
}

/* Whether there is a host and every one is an id. */
static bool
hosts_ok(const char *const *hosts, size_t n_hosts)
{
	for (size_t i = 0; i < n_hosts; i++) {
		if (!uns_store_id_ok(hosts[i])) {
			return false;
		}
	}
	return n_hosts > 0;
}

/* The entry of hosts equal to host, or NULL. */
static const char *
host_among(const char *host, const char *const *hosts, size_t n_hosts)
{
	for (size_t i = 0; i < n_hosts; i++) {
		if (strcmp(hosts[i], host) == 0) {
			return hosts[i];
		}
	}
	return NULL;
}

void
uns_store_delete_in_hosts_async(uns_store *st, const char *user,
                                const char *const *hosts, size_t n_hosts,
                                const char *id, uns_store_write_done_fn done,
                                void *arg)
{
	uns_store_nrec r = {0};
	struct write_op *op;
	const char *host = NULL;
	uns_err rc;

	if (st == NULL || id == NULL || done == NULL ||
	    !hosts_ok(hosts, n_hosts) ||
	    (user != NULL && !uns_store_id_ok(user))) {
		(void)write_op_new(st, user, "", false, done, arg);
		return;
	}
	/* The owner of an id never changes, so reading it unlocked is safe;
	 * liveness is checked again under the lock. */
	if ((rc = notif_load(st, NULL, id, &r)) == UNS_OK &&
	    ((host = host_among(r.n->target_host_name, hosts, n_hosts)) ==
	         NULL ||
	     (user != NULL && strcmp(r.user, user) != 0))) {
		rc = UNS_NOT_FOUND;
	}
	op = rc == UNS_OK ? write_op_new(st, r.user, host, true, done, arg)
	                  : NULL;
	uns_store_nrec_clear(&r);
	if (rc != UNS_OK) {
		done(arg, rc, NULL, false);
	} else if (op != NULL) {
		op->body = delete_body;
		op->id = id;
		write_op_start(op);
	}
}

void
uns_store_delete_async(uns_store *st, const char *user, const char *host,
                       const char *id, uns_store_write_done_fn done, void *arg)
{
	const char *hosts[] = {host};

	uns_store_delete_in_hosts_async(st, user, hosts, host != NULL ? 1 : 0,
	                                id, done, arg);
}

void
uns_store_delete_by_app_id_async(uns_store *st, const char *user,
                                 const char *host, const char *app_id,
                                 uns_store_write_done_fn done, void *arg)
{
	struct write_op *op =
	    write_op_new(st, user, host,
	                 app_id != NULL && uns_store_id_ok(app_id), done, arg);

	if (op != NULL) {
		op->body = delete_by_app_id_body;
		op->id = app_id;
		write_op_start(op);
	}
}

/* The blocking calls' wait for their asynchronous write. */
struct write_wait {
	sem_t ended;
	uns_err rc;
	Uns__V1__Notification *n;
	bool created;
	char msg[256];
};

static void
write_wait_done(void *arg, uns_err rc, Uns__V1__Notification *n, bool created)
{
	struct write_wait *ww = arg;

	ww->rc = rc;
	ww->n = n;
	ww->created = created;
	if (rc != UNS_OK) {
		snprintf(ww->msg, sizeof(ww->msg), "%s", uns_store_errmsg());
	}
	sem_post(&ww->ended);
}

static void
write_wait_init(struct write_wait *ww)
{
	ww->rc = UNS_INTERNAL;
	sem_init(&ww->ended, 0, 0);
}

/* Waits for the write's end: its result, or its failure with the details
 * (written on the thread that failed) copied to this thread. */
static uns_err
write_wait_end(struct write_wait *ww, Uns__V1__Notification **out,
               bool *created)
{
	while (sem_wait(&ww->ended) != 0) {
	}
	sem_destroy(&ww->ended);
	if (ww->rc != UNS_OK) {
		return uns_store_seterr(ww->rc, "%s", ww->msg);
	}
	*out = ww->n;
	if (created != NULL) {
		*created = ww->created;
	}
	return UNS_OK;
}

/* write_wait_end for a write whose caller wants no notification back. */
static uns_err
write_wait_end_discard(struct write_wait *ww)
{
	Uns__V1__Notification *n = NULL;
	uns_err rc = write_wait_end(ww, &n, NULL);

	if (n != NULL) {
		uns__v1__notification__free_unpacked(n, NULL);
	}
	return rc;
}

uns_err
uns_store_post(uns_store *st, const char *user, const char *host,
               const Uns__V1__Notification *in, Uns__V1__Notification **out,
               bool *created)
{
	struct write_wait ww;

	if (st == NULL || out == NULL || created == NULL) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	write_wait_init(&ww);
	uns_store_post_async(st, user, host, in, write_wait_done, &ww);
	return write_wait_end(&ww, out, created);
}

uns_err
uns_store_update_state(uns_store *st, const char *user, const char *host,
                       const char *id, const uns_store_change *chg,
                       Uns__V1__Notification **out)
{
	struct write_wait ww;

	if (st == NULL || out == NULL || !change_ok(chg)) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	write_wait_init(&ww);
	uns_store_update_state_async(st, user, host, id, chg, write_wait_done,
	                             &ww);
	return write_wait_end(&ww, out, NULL);
}

uns_err
uns_store_delete_in_hosts(uns_store *st, const char *user,
                          const char *const *hosts, size_t n_hosts,
                          const char *id)
{
	struct write_wait ww;

	write_wait_init(&ww);
	uns_store_delete_in_hosts_async(st, user, hosts, n_hosts, id,
	                                write_wait_done, &ww);
	return write_wait_end_discard(&ww);
}

uns_err
uns_store_delete(uns_store *st, const char *user, const char *host,
                 const char *id)
{
	const char *hosts[] = {host};

	return uns_store_delete_in_hosts(st, user, hosts, host != NULL ? 1 : 0,
	                                 id);
}

uns_err
uns_store_delete_by_app_id(uns_store *st, const char *user, const char *host,
                           const char *app_id)
{
	struct write_wait ww;

	write_wait_init(&ww);
	uns_store_delete_by_app_id_async(st, user, host, app_id,
	                                 write_wait_done, &ww);
	return write_wait_end_discard(&ww);
}

/* ======================================================================
 * Feed
 * ====================================================================== */

/*
 * Feed and history pages are built in one arena each (common/arena.h):
 * every notification they hold is unpacked into it, so a page costs one
 * malloc and one free instead of a dozen per notification, and freeing
 * it walks no descriptors.
 */
static uns_arena *
page_arena_new(void)
{
	uns_arena *a = malloc(sizeof(*a));

	if (a == NULL) {
		uns_store_seterr(UNS_ENOMEM, "out of memory");
		return NULL;
	}
	uns_arena_init(a, 0);
	return a;
}

static void
page_arena_free(void *arena)
{
	if (arena != NULL) {
		uns_arena_fini(arena);
		free(arena);
	}
}

/* The notification a tombstone or an expired entry carries: id and
 * version only. */
static uns_err
feed_tombstone(uns_arena *a, const uns_store_feedval *fv,
               Uns__V1__Notification **out)
{
	Uns__V1__Notification *t = uns_arena_alloc(a, sizeof(*t));
	char *id = uns_arena_strdup(a, fv->id);

	if (t == NULL || id == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	uns__v1__notification__init(t);
	t->id = id;
	t->version = fv->version;
	*out = t;
	return UNS_OK;
}

/* A FeedEntry for one feed value, read in view v, built in arena a. */
static uns_err
feed_entry(uns_store *st, const struct view *v, const uns_store_feedval *fv,
           int64_t now, uns_arena *a, Uns__V1__FeedEntry **out)
{
	Uns__V1__FeedEntry *e = uns_arena_alloc(a, sizeof(*e));
	uns_store_nrec r = {0};
	uns_err rc;

	if (e == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	uns__v1__feed_entry__init(e);
	e->removed = fv->removed;
	if (fv->removed == UNS__V1__REMOVED_REASON__REMOVED_REASON_NONE) {
		rc = notif_load_with(st, v->ro, fv->id, &a->pb, &r);
		if (rc != UNS_OK) {
			return rc == UNS_NOT_FOUND
			           ? uns_store_seterr(UNS_DATA_LOSS,
			                              "feed names a "
			                              "missing notification")
			           : rc;
		}
		if (r.n->expiration_time_ms > now) {
			e->notification = r.n;
		} else {
			e->removed =
			    UNS__V1__REMOVED_REASON__REMOVED_REASON_EXPIRED;
		}
	}
	if (e->notification == NULL &&
	    (rc = feed_tombstone(a, fv, &e->notification)) != UNS_OK) {
		return rc;
	}
	*out = e;
	return UNS_OK;
}

void
uns_store_feed_page_free(uns_store_feed_page *p)
{
	if (p == NULL) {
		return;
	}
	if (p->arena != NULL) {
		page_arena_free(p->arena);
	} else { /* put together by a caller: see store.h */
		for (size_t i = 0; i < p->n; i++) {
			uns__v1__feed_entry__free_unpacked(p->entries[i], NULL);
		}
		free(p->entries);
		free(p->next_cursor);
	}
	memset(p, 0, sizeof(*p));
}

/* Where a read starts: after the cursor's seq, which must not pass head. */
static uns_err
feed_start(const char *cursor, uint64_t head, uint64_t *after)
{
	uns_err rc;

	if (cursor != NULL && strcmp(cursor, "latest") == 0) {
		*after = head;
		return UNS_OK;
	}
	if ((rc = uns_store_cursor_decode(cursor, after)) == UNS_OK &&
	    *after > head) {
		rc =
		    uns_store_seterr(UNS_EINVAL, "cursor is ahead of the feed");
	}
	return rc;
}

/* Reads up to limit entries after `after` into p (p->entries has room).
 * No feed key passes the head read in the same view, so the head bounds
 * the scan: the iterator stops there instead of probing the rest of the
 * owner's prefix in every level, and a cursor at the head reads nothing. */
static uns_err
feed_scan(uns_store *st, const struct view *v, const struct owner *o,
          uint64_t after, uint32_t limit, uns_store_feed_page *p,
          uint64_t *last)
{
	struct scan s = {0};
	int64_t now = now_ms(st);
	uns_store_feedval fv;
	uns_err rc;

	*last = after;
	if (after >= o->head) {
		return UNS_OK;
	}
	key_feed(&s.lo, &o->uh, after + 1);
	key_feed(&s.hi, &o->uh, o->head + 1);
	rc = scan_open(st, &s, v, CF_FEED);
	for (; rc == UNS_OK && scan_valid(&s); rocksdb_iter_next(s.it)) {
		size_t klen, vlen;
		const unsigned char *k = scan_key(&s, &klen);
		const char *val = scan_value(&s, &vlen);
		if (p->n == limit) {
			p->more = true;
			break;
		}
		if (klen != o->uh.len + 8) {
			rc = uns_store_seterr(UNS_DATA_LOSS, "bad feed key");
		} else if ((rc = uns_store_feedval_decode(val, vlen, &fv)) ==
		               UNS_OK &&
		           (rc = feed_entry(st, v, &fv, now, p->arena,
		                            &p->entries[p->n])) == UNS_OK) {
			p->n++;
			*last = uns_store_be64_get(k + klen - 8);
		}
	}
	uns_err rc2 = scan_close(&s);
	return rc != UNS_OK ? rc : rc2;
}

uns_err
uns_store_feed_read(uns_store *st, const char *user, const char *host,
                    const char *cursor, uint32_t limit,
                    uns_store_feed_page *out)
{
	uns_store_feed_page p = {0};
	struct view v = {0};
	struct owner o;
	uint64_t after, last;
	uns_err rc;

	limit = limit != 0 ? limit : FEED_LIMIT;
	if (st == NULL || out == NULL || limit > FEED_LIMIT_MAX) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if ((rc = owner_init(&o, user, host)) != UNS_OK ||
	    (rc = view_open(st, &v)) != UNS_OK ||
	    (rc = owner_load(st, v.ro, &o)) != UNS_OK ||
	    (rc = feed_start(cursor, o.head, &after)) != UNS_OK) {
		goto out;
	}
	if ((p.arena = page_arena_new()) == NULL ||
	    (p.entries = uns_arena_alloc(p.arena,
	                                 limit * sizeof(*p.entries))) == NULL ||
	    (p.next_cursor = uns_arena_alloc(p.arena, 16)) == NULL) {
		rc = uns_store_seterr(UNS_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = feed_scan(st, &v, &o, after, limit, &p, &last)) == UNS_OK) {
		uns_store_cursor_encode(last, p.next_cursor);
		*out = p;
		memset(&p, 0, sizeof(p));
	}
out:
	view_close(st, &v);
	uns_store_feed_page_free(&p);
	return rc;
}

uns_err
uns_store_feed_head(uns_store *st, const char *user, const char *host,
                    char **cursor)
{
	struct owner o;
	char *c;
	uns_err rc;

	if (st == NULL || cursor == NULL) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if ((rc = owner_init(&o, user, host)) != UNS_OK ||
	    (rc = owner_load(st, NULL, &o)) != UNS_OK) {
		return rc;
	}
	if ((c = malloc(16)) == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	uns_store_cursor_encode(o.head, c);
	*cursor = c;
	return UNS_OK;
}

/* ======================================================================
 * History
 * ====================================================================== */

static bool
hist_match(const uns_store_history_query *q, const uns_store_histval *h,
           int64_t now)
{
	Uns__V1__NotificationStatus want =
	    q->status != 0
	        ? q->status
	        : UNS__V1__NOTIFICATION_STATUS__NOTIFICATION_STATUS_ACTIVE;

	return h->expiration_ms > now && h->status == want &&
	       (q->read_state == 0 || h->read_state == q->read_state) &&
	       (q->user_action_state == 0 ||
	        h->user_action_state == q->user_action_state) &&
	       (q->group_name == NULL || q->group_name[0] == '\0' ||
	        (strlen(q->group_name) == h->group_len &&
	         memcmp(q->group_name, h->group, h->group_len) == 0));
}

void
uns_store_history_page_free(uns_store_history_page *p)
{
	if (p == NULL) {
		return;
	}
	page_arena_free(p->arena);
	memset(p, 0, sizeof(*p));
}

/* The first key of the page: just after the token's key, or the start. */
static uns_err
hist_start(const struct owner *o, const char *token, uns_store_key *lo)
{
	unsigned char suffix[HIST_SUFFIX_LEN];

	*lo = o->uh;
	if (token == NULL || token[0] == '\0') {
		return UNS_OK;
	}
	if (!uns_store_b64url_decode(token, suffix, sizeof(suffix))) {
		return uns_store_seterr(UNS_EINVAL, "malformed page token");
	}
	uns_store_key_bytes(lo, suffix, sizeof(suffix));
	lo->b[lo->len++] = 0; /* strictly after the token's own key */
	return UNS_OK;
}

static uns_err
hist_token(uns_arena *a, const unsigned char *key, size_t klen, char **token)
{
	if (klen < HIST_SUFFIX_LEN) {
		return uns_store_seterr(UNS_DATA_LOSS, "bad history key");
	}
	if ((*token = uns_arena_alloc(a, HIST_SUFFIX_LEN * 4 / 3 + 2)) ==
	    NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	uns_store_b64url_encode(key + klen - HIST_SUFFIX_LEN, HIST_SUFFIX_LEN,
	                        *token);
	return UNS_OK;
}

/* Appends the notification a matching history key names. */
static uns_err
hist_take(uns_store *st, const struct view *v, const unsigned char *key,
          size_t klen, uns_store_history_page *p)
{
	char id[UNS_STORE_RID_LEN + 1];
	uns_store_nrec r = {0};
	uns_err rc;

	snprintf(id, sizeof(id), "%.*s", UNS_STORE_RID_LEN,
	         (const char *)key + klen - UNS_STORE_RID_LEN);
	rc = notif_load_with(st, v->ro, id, &p->arena->pb, &r);
	if (rc == UNS_NOT_FOUND) {
		return uns_store_seterr(UNS_DATA_LOSS,
		                        "history names a missing "
		                        "notification");
	}
	if (rc == UNS_OK) {
		p->items[p->n++] = r.n;
	}
	return rc;
}

static uns_err
hist_scan(uns_store *st, const struct view *v, const struct owner *o,
          const uns_store_history_query *q, uint32_t size,
          uns_store_history_page *p)
{
	struct scan s = {0};
	int64_t now = now_ms(st);
	uns_store_key last = {
	    0}; /* the last key taken: the next page's start */
	uns_store_histval h;
	uns_err rc;

	if ((rc = hist_start(o, q->page_token, &s.lo)) != UNS_OK) {
		return rc;
	}
	uns_store_key_successor(&o->uh, &s.hi);
	rc = scan_open(st, &s, v, CF_HIST);
	for (; rc == UNS_OK && scan_valid(&s); rocksdb_iter_next(s.it)) {
		size_t klen, vlen;
		const unsigned char *k = scan_key(&s, &klen);
		const char *val = scan_value(&s, &vlen);
		if ((rc = uns_store_histval_decode(val, vlen, &h)) != UNS_OK ||
		    !hist_match(q, &h, now)) {
			continue;
		}
		if (p->n == size) { /* one more match exists: page on */
			rc = hist_token(p->arena, last.b, last.len,
			                &p->next_page_token);
			break;
		}
		if (klen != o->uh.len + HIST_SUFFIX_LEN) {
			rc = uns_store_seterr(UNS_DATA_LOSS, "bad history key");
			break;
		}
		rc = hist_take(st, v, k, klen, p);
		memcpy(last.b, k, klen);
		last.len = klen;
	}
	uns_err rc2 = scan_close(&s);
	return rc != UNS_OK ? rc : rc2;
}

uns_err
uns_store_history(uns_store *st, const char *user, const char *host,
                  const uns_store_history_query *q, uns_store_history_page *out)
{
	uns_store_history_page p = {0};
	struct view v = {0};
	struct owner o;
	uint32_t size;
	uns_err rc;

	if (st == NULL || q == NULL || out == NULL ||
	    q->page_size > HISTORY_PAGE_MAX || (unsigned)q->status > 2 ||
	    (unsigned)q->read_state > 2 || (unsigned)q->user_action_state > 4) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	size = q->page_size != 0 ? q->page_size : HISTORY_PAGE;
	if ((rc = owner_init(&o, user, host)) != UNS_OK ||
	    (rc = view_open(st, &v)) != UNS_OK) {
		goto out;
	}
	if ((p.arena = page_arena_new()) == NULL ||
	    (p.items = uns_arena_alloc(p.arena, size * sizeof(*p.items))) ==
	        NULL) {
		rc = uns_store_seterr(UNS_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = hist_scan(st, &v, &o, q, size, &p)) == UNS_OK) {
		*out = p;
		memset(&p, 0, sizeof(p));
	}
out:
	view_close(st, &v);
	uns_store_history_page_free(&p);
	return rc;
}

/* ======================================================================
 * Subscriptions
 * ====================================================================== */

static uns_err
sub_load(uns_store *st, const rocksdb_readoptions_t *ro, const char *unsid,
         uns_store_srec *r)
{
	char *v = NULL;
	size_t vlen;
	uns_err rc;

	if (!rid_ok(unsid)) {
		return UNS_NOT_FOUND;
	}
	rc = db_get(st, ro, CF_SUBS, unsid, UNS_STORE_RID_LEN, &v, &vlen);
	if (rc == UNS_OK) {
		rc = uns_store_srec_decode(v, vlen, r);
		rocksdb_free(v);
	}
	return rc;
}

static bool
sub_visible(const uns_store_srec *r, const char *user, const char *host,
            int64_t now)
{
	return (user == NULL || strcmp(r->user, user) == 0) &&
	       (host == NULL || strcmp(r->s->target_host_name, host) == 0) &&
	       r->s->expiration_time_ms > now;
}

/* The live subscription of (owner, device), if any. */
static uns_err
sub_find(struct wctx *w, const char *device, uns_store_srec *r, bool *found)
{
	char *v = NULL, unsid[UNS_STORE_RID_LEN + 1];
	size_t vlen;
	uns_store_key k;
	uns_err rc;

	*found = false;
	key_owned(&k, &w->o, device);
	if ((rc = db_get(w->st, NULL, CF_SUBDEV, k.b, k.len, &v, &vlen)) !=
	    UNS_OK) {
		return rc == UNS_NOT_FOUND ? UNS_OK : rc;
	}
	snprintf(unsid, sizeof(unsid), "%.*s", (int)vlen, v);
	rocksdb_free(v);
	if ((rc = sub_load(w->st, NULL, unsid, r)) == UNS_NOT_FOUND) {
		return UNS_OK;
	}
	if (rc == UNS_OK && !sub_visible(r, w->o.user, w->o.host, w->now)) {
		uns_store_srec_clear(r);
		return UNS_OK;
	}
	*found = rc == UNS_OK;
	return rc;
}

/* Queues subscription s (new state) of w's owner; old is the stored one. */
static uns_err
sub_write(struct wctx *w, const uns_store_srec *old,
          const Uns__V1__Subscription *s, Uns__V1__Subscription **out)
{
	unsigned char *rec = NULL;
	size_t len;
	uns_store_key k;
	uns_err rc = uns_store_srec_encode(w->o.user, s, &rec, &len);

	if (rc != UNS_OK) {
		return rc;
	}
	key_id(&k, s->unsid);
	batch_put(&w->b, CF_SUBS, &k, rec, len);
	free(rec);
	*out = msg_dup(&s->base);
	key_owned(&k, &w->o, s->device_id);
	batch_put(&w->b, CF_SUBDEV, &k, s->unsid, UNS_STORE_RID_LEN);
	if (old != NULL) {
		expiry_put(&w->b, old->s->expiration_time_ms, EXP_SUBSCRIPTION,
		           s->unsid, true);
	}
	expiry_put(&w->b, s->expiration_time_ms, EXP_SUBSCRIPTION, s->unsid,
	           false);
	return *out != NULL ? UNS_OK
	                    : uns_store_seterr(UNS_ENOMEM, "out of memory");
}

static uns_err
sub_put_locked(struct wctx *w, const Uns__V1__Subscription *in,
               Uns__V1__Subscription **out, bool *found)
{
	Uns__V1__Subscription s = *in;
	Uns__V1__DeliveryState ds;
	char unsid[UNS_STORE_RID_LEN + 1];
	uns_store_srec old = {0};
	uns_err rc;

	if ((rc = sub_find(w, in->device_id, &old, found)) != UNS_OK) {
		return rc;
	}
	s.delivery = NULL;
	if (*found && old.s->delivery != NULL) {
		/* Subscribing again revives a dead endpoint. */
		ds = *old.s->delivery;
		ds.dead = false;
		ds.consecutive_failures = 0;
		s.delivery = &ds;
	}
	if (*found) {
		snprintf(unsid, sizeof(unsid), "%s", old.s->unsid);
		s.created_time_ms = old.s->created_time_ms;
	} else if ((rc = uns_store_mint_id(unsid)) != UNS_OK) {
		return rc;
	} else {
		s.created_time_ms = w->now;
	}
	s.base.n_unknown_fields = 0;
	s.base.unknown_fields = NULL;
	s.unsid = unsid;
	s.target_host_name = w->o.host;
	s.expiration_time_ms = w->now + w->st->cfg.sub_lifetime_ms;
	rc = sub_write(w, *found ? &old : NULL, &s, out);
	uns_store_srec_clear(&old);
	return rc;
}

uns_err
uns_store_sub_put(uns_store *st, const char *user, const char *host,
                  const Uns__V1__Subscription *in, Uns__V1__Subscription **out,
                  bool *created)
{
	Uns__V1__Subscription *res = NULL;
	struct wctx w;
	bool found = false;
	uns_err rc;

	if (st == NULL || in == NULL || out == NULL || created == NULL ||
	    !uns_store_id_ok(in->device_id)) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if ((rc = wctx_begin(st, &w, user, host)) == UNS_OK &&
	    (rc = sub_put_locked(&w, in, &res, &found)) == UNS_OK &&
	    (rc = wctx_commit(&w)) == UNS_OK) {
		*out = res;
		*created = !found;
		res = NULL;
	}
	wctx_end(&w, rc);
	if (res != NULL) {
		uns__v1__subscription__free_unpacked(res, NULL);
	}
	return rc;
}

uns_err
uns_store_sub_get(uns_store *st, const char *unsid, char **user,
                  Uns__V1__Subscription **out)
{
	uns_store_srec r = {0};
	char *u;
	uns_err rc;

	if (st == NULL || user == NULL || out == NULL || unsid == NULL) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if ((rc = sub_load(st, NULL, unsid, &r)) != UNS_OK) {
		return rc;
	}
	if (!sub_visible(&r, NULL, NULL, now_ms(st))) {
		rc = UNS_NOT_FOUND;
	} else if ((u = strdup(r.user)) == NULL) {
		rc = uns_store_seterr(UNS_ENOMEM, "out of memory");
	} else {
		*user = u;
		*out = r.s;
		r.s = NULL;
	}
	uns_store_srec_clear(&r);
	return rc;
}

/* An unsubscribe; op->id is the UNSID. */
static uns_err
sub_delete_body(struct write_op *op)
{
	struct wctx *w = &op->w;
	uns_store_srec r = {0};
	uns_store_key k;
	uns_err rc = sub_load(w->st, NULL, op->id, &r);

	if (rc != UNS_OK) {
		return rc;
	}
	if (!sub_visible(&r, w->o.user, w->o.host, w->now)) {
		uns_store_srec_clear(&r);
		return UNS_NOT_FOUND;
	}
	key_id(&k, op->id);
	batch_del(&w->b, CF_SUBS, &k);
	key_owned(&k, &w->o, r.s->device_id);
	batch_del(&w->b, CF_SUBDEV, &k);
	expiry_put(&w->b, r.s->expiration_time_ms, EXP_SUBSCRIPTION, op->id,
	           true);
	uns_store_srec_clear(&r);
	return taps_drop(w->st, &w->b, op->id);
}

void
uns_store_sub_delete_async(uns_store *st, const char *user, const char *host,
                           const char *unsid, uns_store_write_done_fn done,
                           void *arg)
{
	struct write_op *op =
	    write_op_new(st, user, host, unsid != NULL, done, arg);

	if (op != NULL) {
		op->body = sub_delete_body;
		op->id = unsid;
		write_op_start(op);
	}
}

uns_err
uns_store_sub_delete(uns_store *st, const char *user, const char *host,
                     const char *unsid)
{
	struct write_wait ww;

	write_wait_init(&ww);
	uns_store_sub_delete_async(st, user, host, unsid, write_wait_done, &ww);
	return write_wait_end_discard(&ww);
}

void
uns_store_subs_free(uns_store_subs *l)
{
	if (l == NULL) {
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		uns__v1__subscription__free_unpacked(l->subs[i], NULL);
	}
	free(l->subs);
	memset(l, 0, sizeof(*l));
}

/* Appends the live subscription unsid (in view v) to l. */
static uns_err
sub_list_take(uns_store *st, const struct view *v, const struct owner *o,
              const char *unsid, int64_t now, uns_store_subs *l, size_t *cap)
{
	uns_store_srec r = {0};
	uns_err rc = sub_load(st, v->ro, unsid, &r);

	if (rc == UNS_NOT_FOUND) {
		return UNS_OK; /* replaced while expired: reclaim will tidy */
	}
	if (rc == UNS_OK && sub_visible(&r, o->user, o->host, now)) {
		if (!grow((void **)&l->subs, cap, l->n + 1, sizeof(*l->subs),
		          8)) {
			rc = uns_store_seterr(UNS_ENOMEM, "out of memory");
		} else {
			l->subs[l->n++] = r.s;
			r.s = NULL;
		}
	}
	uns_store_srec_clear(&r);
	return rc;
}

uns_err
uns_store_sub_list(uns_store *st, const char *user, const char *host,
                   uns_store_subs *out)
{
	uns_store_subs l = {0};
	struct scan s = {0};
	struct view v = {0};
	struct owner o;
	size_t cap = 0;
	int64_t now;
	uns_err rc;

	if (st == NULL || out == NULL) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if ((rc = owner_init(&o, user, host)) != UNS_OK ||
	    (rc = view_open(st, &v)) != UNS_OK) {
		goto out;
	}
	now = now_ms(st);
	s.lo = o.uh;
	uns_store_key_successor(&o.uh, &s.hi);
	rc = scan_open(st, &s, &v, CF_SUBDEV);
	for (; rc == UNS_OK && scan_valid(&s); rocksdb_iter_next(s.it)) {
		size_t vlen;
		const char *val = scan_value(&s, &vlen);
		char unsid[UNS_STORE_RID_LEN + 1];
		snprintf(unsid, sizeof(unsid), "%.*s", (int)vlen, val);
		rc = sub_list_take(st, &v, &o, unsid, now, &l, &cap);
	}
	uns_err rc2 = scan_close(&s);
	rc = rc != UNS_OK ? rc : rc2;
	if (rc == UNS_OK) {
		*out = l;
		memset(&l, 0, sizeof(l));
	}
out:
	view_close(st, &v);
	uns_store_subs_free(&l);
	return rc;
}

/* ======================================================================
 * Outbox (store.h "outbox"). Keys in CF_OUTBOX, by their first byte:
 *   'T' ‖ ref             → tap value (store_codec.h)
 *   'D' ‖ BE64 due ‖ ref  → ""  the due index that claims scan
 *   'P' ‖ id              → BE64 due of id's pending fallback check
 *   'B' ‖ BE64 due ‖ id   → uh key of id's owner (the fallback schedule)
 *   'F' ‖ id ‖ unsid      → ""  unsid fetched id (no fallback for it)
 * ref is "UNSID" or "UNSID:ID". All of them change under the owner's
 * stripe and in the owner's batches, so a tap is queued in the same atomic
 * write as the feed change that caused it. Leases live in memory, a hash of
 * refs: claiming costs no write, and a restart forgets them, which is what
 * re-delivers claimed but unsettled taps after a crash. Rejected: durable
 * leases (a synced write per claim, and after a crash taps would wait for
 * their lease to run out).
 * ====================================================================== */

#define OB_TAP      'T'
#define OB_DUE      'D'
#define OB_PENDING  'P'
#define OB_FB       'B'
#define OB_FETCHED  'F'
#define OB_TIMED    9 /* kind ‖ BE64 time */
#define FB_CHUNK    64
#define PLATFORM(x) UNS__V1__PLATFORM__PLATFORM_##x

static void
key_ob(uns_store_key *k, char kind, int64_t when, const char *s)
{
	k->len = 0;
	k->b[k->len++] = (unsigned char)kind;
	if (when >= 0) {
		uns_store_key_u64(k, (uint64_t)when);
	}
	if (s != NULL) {
		uns_store_key_str(k, s);
	}
}

/* The [kind, kind + 1) range of one key space. */
static void
scan_kind(struct scan *s, char kind)
{
	s->lo.len = s->hi.len = 1;
	s->lo.b[0] = (unsigned char)kind;
	s->hi.b[0] = (unsigned char)(kind + 1);
}

/* The UNSID at the front of a tap ref. */
static void
ref_unsid(const char *ref, char unsid[UNS_STORE_RID_LEN + 1])
{
	size_t n = strnlen(ref, UNS_STORE_RID_LEN);

	memcpy(unsid, ref, n);
	unsid[n] = '\0';
}

/* --- leases ------------------------------------------------------------ */

static size_t
lease_slot(const char *ref)
{
	uint32_t h = 2166136261u;

	for (; *ref != '\0'; ref++) {
		h = (h ^ (unsigned char)*ref) * 16777619u;
	}
	return h % LEASE_BUCKETS;
}

/* The lease of ref, or the link that would hold it; lease_mu held. */
static struct lease **
lease_find(uns_store *st, const char *ref)
{
	struct lease **p = &st->leases[lease_slot(ref)];

	while (*p != NULL && strcmp((*p)->ref, ref) != 0) {
		p = &(*p)->next;
	}
	return p;
}

static bool
lease_held(uns_store *st, const char *ref, int64_t now)
{
	bool held;

	pthread_mutex_lock(&st->lease_mu);
	struct lease *l = *lease_find(st, ref);
	held = l != NULL && l->until > now;
	pthread_mutex_unlock(&st->lease_mu);
	return held;
}

static bool
lease_take(uns_store *st, const char *ref, int64_t until)
{
	struct lease **p, *l;

	pthread_mutex_lock(&st->lease_mu);
	p = lease_find(st, ref);
	if ((l = *p) == NULL && (l = calloc(1, sizeof(*l))) != NULL) {
		snprintf(l->ref, sizeof(l->ref), "%s", ref);
		*p = l;
	}
	if (l != NULL) {
		l->until = until;
	}
	pthread_mutex_unlock(&st->lease_mu);
	return l != NULL;
}

static void
lease_release(uns_store *st, const char *ref)
{
	struct lease **p, *l;

	pthread_mutex_lock(&st->lease_mu);
	p = lease_find(st, ref);
	if ((l = *p) != NULL) {
		*p = l->next;
		free(l);
	}
	pthread_mutex_unlock(&st->lease_mu);
}

static void
leases_free(uns_store *st)
{
	for (size_t i = 0; i < LEASE_BUCKETS; i++) {
		while (st->leases[i] != NULL) {
			struct lease *l = st->leases[i];
			st->leases[i] = l->next;
			free(l);
		}
	}
}

/* --- queueing ------------------------------------------------------------ */

/* The tap value of ref, if any. */
static uns_err
tap_get(uns_store *st, const char *ref, uns_store_tapval *t, bool *found)
{
	char *v = NULL;
	size_t vlen;
	uns_store_key k;
	uns_err rc;

	*found = false;
	key_ob(&k, OB_TAP, -1, ref);
	if ((rc = db_get(st, NULL, CF_OUTBOX, k.b, k.len, &v, &vlen)) !=
	    UNS_OK) {
		return rc == UNS_NOT_FOUND ? UNS_OK : rc;
	}
	rc = uns_store_tapval_decode(v, vlen, t);
	rocksdb_free(v);
	*found = rc == UNS_OK;
	return rc;
}

/* Queues (or rewrites) the tap value t of ref and its due index entry. */
static void
tap_write(struct batch *b, const char *ref, const uns_store_tapval *t)
{
	unsigned char v[UNS_STORE_TAPVAL_MAX];
	uns_store_key k;

	key_ob(&k, OB_TAP, -1, ref);
	batch_put(b, CF_OUTBOX, &k, v, uns_store_tapval_encode(t, v));
	key_ob(&k, OB_DUE, t->due_ms, ref);
	batch_put(b, CF_OUTBOX, &k, "", 0);
}

/* Removes ref's due index entry, and the tap itself if whole. */
static void
tap_unqueue(struct batch *b, const char *ref, int64_t due, bool whole)
{
	uns_store_key k;

	key_ob(&k, OB_DUE, due, ref);
	batch_del(b, CF_OUTBOX, &k);
	if (whole) {
		key_ob(&k, OB_TAP, -1, ref);
		batch_del(b, CF_OUTBOX, &k);
	}
}

/* Queues a tap of ref announcing o's (new) head; a pending one coalesces:
 * it keeps its due time and attempts, takes the new cursor and subject. */
static uns_err
tap_put(uns_store *st, struct batch *b, struct owner *o, int64_t now,
        const char *ref, unsigned flags, const char *subject)
{
	uns_store_tapval t = {0};
	bool found = false;
	uns_err rc = tap_get(st, ref, &t, &found);

	if (rc != UNS_OK) {
		return rc;
	}
	if (found) {
		t.flags = (t.flags & flags & UNS_STORE_TAP_STATE) |
		          (flags & UNS_STORE_TAP_FALLBACK);
	} else {
		t.flags = flags;
		t.due_ms = t.enqueued_ms = now;
	}
	t.seq = o->head;
	strcpy(t.user, o->user);
	strcpy(t.host, o->host);
	snprintf(t.subject, sizeof(t.subject), "%s", subject);
	tap_write(b, ref, &t);
	o->taps++;
	return UNS_OK;
}

/* Removes every pending tap of unsid (its fallback alerts included). */
static uns_err
taps_drop(uns_store *st, struct batch *b, const char *unsid)
{
	struct scan s = {0};
	uns_err rc;

	key_ob(&s.lo, OB_TAP, -1, unsid);
	uns_store_key_successor(&s.lo, &s.hi);
	rc = scan_open(st, &s, NULL, CF_OUTBOX);
	for (; rc == UNS_OK && scan_valid(&s); rocksdb_iter_next(s.it)) {
		size_t klen, vlen;
		const unsigned char *k = scan_key(&s, &klen);
		const char *v = scan_value(&s, &vlen);
		char ref[UNS_STORE_TAP_REF_MAX];
		uns_store_tapval t;
		if (klen < 2 || klen - 1 >= sizeof(ref)) {
			continue;
		}
		snprintf(ref, sizeof(ref), "%.*s", (int)(klen - 1), k + 1);
		if ((rc = uns_store_tapval_decode(v, vlen, &t)) == UNS_OK) {
			tap_unqueue(b, ref, t.due_ms, true);
		}
	}
	uns_err rc2 = scan_close(&s);
	return rc != UNS_OK ? rc : rc2;
}

static bool
platform_listed(const Uns__V1__Platform *list, size_t n, Uns__V1__Platform p)
{
	for (size_t i = 0; i < n; i++) {
		if (list[i] == p) {
			return true;
		}
	}
	return n == 0; /* empty = every platform */
}

static bool
sub_dead(const Uns__V1__Subscription *s)
{
	return s->delivery != NULL && s->delivery->dead;
}

/* A live, not dead subscription with a push transport. */
static bool
sub_tappable(const Uns__V1__Subscription *s)
{
	return !sub_dead(s) && s->platform != PLATFORM(UNSPECIFIED) &&
	       s->platform != PLATFORM(POLLING);
}

typedef uns_err (*sub_fn)(void *arg, const Uns__V1__Subscription *s);

/* Calls fn for each live subscription of o. */
static uns_err
subs_each(uns_store *st, const struct owner *o, int64_t now, sub_fn fn,
          void *arg)
{
	struct scan s = {0};
	uns_err rc;

	s.lo = o->uh;
	uns_store_key_successor(&o->uh, &s.hi);
	rc = scan_open(st, &s, NULL, CF_SUBDEV);
	for (; rc == UNS_OK && scan_valid(&s); rocksdb_iter_next(s.it)) {
		size_t vlen;
		const char *val = scan_value(&s, &vlen);
		char unsid[UNS_STORE_RID_LEN + 1];
		uns_store_srec r = {0};
		snprintf(unsid, sizeof(unsid), "%.*s", (int)vlen, val);
		if ((rc = sub_load(st, NULL, unsid, &r)) == UNS_NOT_FOUND) {
			rc = UNS_OK;
			continue;
		}
		if (rc == UNS_OK && sub_visible(&r, o->user, o->host, now)) {
			rc = fn(arg, r.s);
		}
		uns_store_srec_clear(&r);
	}
	uns_err rc2 = scan_close(&s);
	return rc != UNS_OK ? rc : rc2;
}

struct enqueue {
	uns_store *st;
	struct batch *b;
	struct owner *o;
	int64_t now;
	const Uns__V1__Notification *n;
	bool state;
	const char *by;
};

static uns_err
enqueue_one(void *arg, const Uns__V1__Subscription *s)
{
	const struct enqueue *e = arg;
	const Uns__V1__TargetPolicy *tp = e->n->target_policy;

	if (!sub_tappable(s) ||
	    (tp != NULL &&
	     !platform_listed(tp->platform_types, tp->n_platform_types,
	                      s->platform)) ||
	    (e->state && s->platform == PLATFORM(WEB_PUSH)) ||
	    (e->by != NULL && strcmp(e->by, s->unsid) == 0)) {
		return UNS_OK;
	}
	return tap_put(e->st, e->b, e->o, e->now, s->unsid,
	               e->state ? UNS_STORE_TAP_STATE : 0, e->n->id);
}

/* One tap per subscription of o that n's change should reach. */
static uns_err
taps_enqueue(uns_store *st, struct batch *b, struct owner *o, int64_t now,
             const Uns__V1__Notification *n, bool state, const char *by)
{
	struct enqueue e = {st, b, o, now, n, state, by};

	return subs_each(st, o, now, enqueue_one, &e);
}

/* --- claiming ------------------------------------------------------------ */

void
uns_store_tap_clear(uns_store_tap *t)
{
	if (t == NULL) {
		return;
	}
	free(t->user);
	free(t->host);
	if (t->sub != NULL) {
		uns__v1__subscription__free_unpacked(t->sub, NULL);
	}
	if (t->subject != NULL) {
		uns__v1__notification__free_unpacked(t->subject, NULL);
	}
	t->user = t->host = NULL;
	t->sub = NULL;
	t->subject = NULL;
}

void
uns_store_taps_free(uns_store_taps *l)
{
	if (l == NULL) {
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		uns_store_tap_clear(&l->taps[i]);
	}
	free(l->taps);
	memset(l, 0, sizeof(*l));
}

/* Fills tap's subscription and subject (each NULL when gone). */
static uns_err
tap_load(uns_store *st, uns_store_tap *tap, const char *subject, int64_t now)
{
	char unsid[UNS_STORE_RID_LEN + 1];
	uns_store_srec s = {0};
	uns_store_nrec n = {0};
	uns_err rc;

	ref_unsid(tap->ref, unsid);
	rc = sub_load(st, NULL, unsid, &s);
	if (rc == UNS_OK && sub_visible(&s, tap->user, tap->host, now)) {
		tap->sub = s.s;
		s.s = NULL;
	}
	uns_store_srec_clear(&s);
	if (rc != UNS_OK && rc != UNS_NOT_FOUND) {
		return rc;
	}
	rc = subject[0] != '\0' ? notif_load(st, NULL, subject, &n)
	                        : UNS_NOT_FOUND;
	if (rc == UNS_OK && strcmp(n.user, tap->user) == 0) {
		tap->subject = n.n;
		n.n = NULL;
	}
	uns_store_nrec_clear(&n);
	return rc == UNS_NOT_FOUND ? UNS_OK : rc;
}

/* Claims ref if its tap is still due at due. */
static uns_err
claim_one(uns_store *st, const char *ref, int64_t due, uns_store_taps *l,
          size_t *cap, int64_t now, int64_t until)
{
	uns_store_tapval t;
	uns_store_tap *tap;
	bool found = false;
	uns_err rc = tap_get(st, ref, &t, &found);

	if (rc != UNS_OK || !found || t.due_ms != due) {
		return rc; /* settled or moved since the index was read */
	}
	if (!grow((void **)&l->taps, cap, l->n + 1, sizeof(*l->taps), 16)) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	tap = &l->taps[l->n++];
	memset(tap, 0, sizeof(*tap));
	snprintf(tap->ref, sizeof(tap->ref), "%s", ref);
	tap->user = strdup(t.user);
	tap->host = strdup(t.host);
	uns_store_cursor_encode(t.seq, tap->cursor);
	tap->seq = t.seq;
	tap->state_change = (t.flags & UNS_STORE_TAP_STATE) != 0;
	tap->fallback = (t.flags & UNS_STORE_TAP_FALLBACK) != 0;
	tap->attempts = t.attempts;
	tap->enqueued_ms = t.enqueued_ms;
	tap->due_ms = t.due_ms;
	if (tap->user == NULL || tap->host == NULL ||
	    !lease_take(st, ref, until)) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	return tap_load(st, tap, t.subject, now);
}

/* The ref after a timed key's prefix (kind ‖ BE64), or false. */
static bool
timed_ref(const unsigned char *k, size_t klen, char ref[UNS_STORE_TAP_REF_MAX])
{
	if (klen <= OB_TIMED || klen - OB_TIMED >= UNS_STORE_TAP_REF_MAX) {
		return false;
	}
	snprintf(ref, UNS_STORE_TAP_REF_MAX, "%.*s", (int)(klen - OB_TIMED),
	         k + OB_TIMED);
	return true;
}

uns_err
uns_store_outbox_claim(uns_store *st, size_t max, int64_t lease_ms,
                       uns_store_taps *out)
{
	uns_store_taps l = {0};
	struct scan s = {0};
	size_t cap = 0;
	int64_t now;
	uns_err rc;

	if (st == NULL || out == NULL || max == 0 || lease_ms <= 0) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	now = now_ms(st);
	key_ob(&s.lo, OB_DUE, 0, NULL);
	key_ob(&s.hi, OB_DUE, now + 1, NULL);
	rc = scan_open(st, &s, NULL, CF_OUTBOX);
	for (; rc == UNS_OK && scan_valid(&s) && l.n < max;
	     rocksdb_iter_next(s.it)) {
		size_t klen;
		const unsigned char *k = scan_key(&s, &klen);
		char ref[UNS_STORE_TAP_REF_MAX];
		if (timed_ref(k, klen, ref) && !lease_held(st, ref, now)) {
			rc = claim_one(st, ref,
			               (int64_t)uns_store_be64_get(k + 1), &l,
			               &cap, now, now + lease_ms);
		}
	}
	uns_err rc2 = scan_close(&s);
	rc = rc != UNS_OK ? rc : rc2;
	if (rc == UNS_OK) {
		*out = l;
		memset(&l, 0, sizeof(l));
	}
	for (size_t i = 0; i < l.n; i++) {
		lease_release(st, l.taps[i].ref);
	}
	uns_store_taps_free(&l);
	return rc;
}

/* The first key of a kind whose ref is not leased (any, for 'B'). */
static uns_err
first_due(uns_store *st, char kind, int64_t now, int64_t *due, bool *found)
{
	struct scan s = {0};
	uns_err rc;

	scan_kind(&s, kind);
	rc = scan_open(st, &s, NULL, CF_OUTBOX);
	for (; rc == UNS_OK && scan_valid(&s) && !*found;
	     rocksdb_iter_next(s.it)) {
		size_t klen;
		const unsigned char *k = scan_key(&s, &klen);
		char ref[UNS_STORE_TAP_REF_MAX];
		if (klen > OB_TIMED &&
		    (kind != OB_DUE ||
		     (timed_ref(k, klen, ref) && !lease_held(st, ref, now)))) {
			*due = (int64_t)uns_store_be64_get(k + 1);
			*found = true;
		}
	}
	uns_err rc2 = scan_close(&s);
	return rc != UNS_OK ? rc : rc2;
}

uns_err
uns_store_outbox_next_due(uns_store *st, int64_t *due_ms)
{
	int64_t tap = 0, fb = 0, now;
	bool have_tap = false, have_fb = false;
	uns_err rc;

	if (st == NULL || due_ms == NULL) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	now = now_ms(st);
	if ((rc = first_due(st, OB_DUE, now, &tap, &have_tap)) != UNS_OK ||
	    (rc = first_due(st, OB_FB, now, &fb, &have_fb)) != UNS_OK) {
		return rc;
	}
	if (!have_tap && !have_fb) {
		return UNS_NOT_FOUND;
	}
	*due_ms = !have_fb ? tap : !have_tap ? fb : tap < fb ? tap : fb;
	return UNS_OK;
}

uns_err
uns_store_outbox_count(uns_store *st, size_t *n)
{
	struct scan s = {0};
	size_t count = 0;
	uns_err rc;

	if (st == NULL || n == NULL) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	scan_kind(&s, OB_TAP);
	rc = scan_open(st, &s, NULL, CF_OUTBOX);
	for (; rc == UNS_OK && scan_valid(&s); rocksdb_iter_next(s.it)) {
		count++;
	}
	uns_err rc2 = scan_close(&s);
	rc = rc != UNS_OK ? rc : rc2;
	if (rc == UNS_OK) {
		*n = count;
	}
	return rc;
}

/* --- settling ------------------------------------------------------------ */

/* Rewrites unsid's subscription record with the outcome of one attempt. */
static uns_err
delivery_note(struct wctx *w, const char *unsid, uns_store_tap_result res,
              const char *error)
{
	Uns__V1__DeliveryState ds = UNS__V1__DELIVERY_STATE__INIT;
	Uns__V1__Subscription s;
	uns_store_srec r = {0};
	unsigned char *rec = NULL;
	size_t len;
	uns_store_key k;
	uns_err rc = sub_load(w->st, NULL, unsid, &r);

	if (rc != UNS_OK) {
		return rc == UNS_NOT_FOUND ? UNS_OK : rc; /* unsubscribed */
	}
	if (r.s->delivery != NULL) {
		ds = *r.s->delivery;
	}
	ds.last_attempt_ms = w->now;
	if (res == UNS_STORE_TAP_DELIVERED) {
		ds.last_success_ms = w->now;
		ds.consecutive_failures = 0;
		ds.delivered++;
	} else {
		ds.consecutive_failures++;
		ds.failed++;
		ds.last_error = (char *)(error != NULL ? error : "");
		ds.dead = ds.dead || res == UNS_STORE_TAP_DEAD;
	}
	s = *r.s;
	s.delivery = &ds;
	if ((rc = uns_store_srec_encode(r.user, &s, &rec, &len)) == UNS_OK) {
		key_id(&k, unsid);
		batch_put(&w->b, CF_SUBS, &k, rec, len);
		free(rec);
	}
	uns_store_srec_clear(&r);
	return rc;
}

static uns_err
settle_locked(struct wctx *w, const uns_store_tap *t, uns_store_tap_result res,
              int64_t due_ms, const char *error, bool *newer)
{
	char unsid[UNS_STORE_RID_LEN + 1];
	uns_store_tapval cur;
	bool have = false;
	uns_err rc = tap_get(w->st, t->ref, &cur, &have);

	ref_unsid(t->ref, unsid);
	if (rc != UNS_OK) {
		return rc;
	}
	switch (res) {
	case UNS_STORE_TAP_DELIVERED:
	case UNS_STORE_TAP_DROP:
		if (have && cur.seq == t->seq) {
			tap_unqueue(&w->b, t->ref, cur.due_ms, true);
		}
		*newer = have && cur.seq != t->seq;
		break;
	case UNS_STORE_TAP_RETRY:
	case UNS_STORE_TAP_DEFER:
		if (have) {
			tap_unqueue(&w->b, t->ref, cur.due_ms, false);
			cur.due_ms = due_ms;
			cur.attempts += res == UNS_STORE_TAP_RETRY;
			tap_write(&w->b, t->ref, &cur);
		}
		break;
	case UNS_STORE_TAP_DEAD:
		rc = taps_drop(w->st, &w->b, unsid);
		break;
	}
	if (rc == UNS_OK && res != UNS_STORE_TAP_DEFER) {
		rc = delivery_note(w, unsid, res, error);
	}
	return rc;
}

uns_err
uns_store_outbox_settle(uns_store *st, const uns_store_tap *t,
                        uns_store_tap_result res, int64_t due_ms,
                        const char *error, bool *newer)
{
	bool pending = false;
	struct wctx w;
	uns_err rc;

	if (st == NULL || t == NULL || t->user == NULL || t->host == NULL ||
	    (unsigned)res > UNS_STORE_TAP_DEAD) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if ((rc = wctx_begin(st, &w, t->user, t->host)) == UNS_OK &&
	    (rc = settle_locked(&w, t, res, due_ms, error, &pending)) ==
	        UNS_OK &&
	    (rc = wctx_commit(&w)) == UNS_OK) {
		lease_release(st, t->ref);
		if (newer != NULL) {
			*newer = pending;
		}
	}
	wctx_end(&w, rc);
	return rc;
}

/* Locks the stripes of every settled tap's owner, in ascending order
 * (as reclaim does), so no writer of those owners runs meanwhile. */
static uns_err
settle_lock(uns_store *st, const uns_store_settle *v, size_t n, bool *locked)
{
	for (size_t i = 0; i < n; i++) {
		uns_store_key uh;
		if (uns_store_key_uh(&uh, v[i].tap->user, v[i].tap->host) !=
		    UNS_OK) {
			return uns_store_seterr(UNS_EINVAL, "bad tap owner");
		}
		locked[uns_store_key_hash(uh.b) % NSTRIPES] = true;
	}
	for (size_t i = 0; i < NSTRIPES; i++) {
		if (locked[i]) {
			stripe_lock(&st->stripes[i]);
		}
	}
	return UNS_OK;
}

static bool
settle_distinct(const uns_store_settle *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].tap == NULL || v[i].tap->user == NULL ||
		    v[i].tap->host == NULL ||
		    (unsigned)v[i].result > UNS_STORE_TAP_DEAD) {
			return false;
		}
		for (size_t j = 0; j < i; j++) {
			if (strncmp(v[i].tap->ref, v[j].tap->ref,
			            UNS_STORE_RID_LEN) == 0) {
				return false;
			}
		}
	}
	return true;
}

uns_err
uns_store_outbox_settle_many(uns_store *st, uns_store_settle *v, size_t n)
{
	bool *locked = NULL;
	struct wctx w = {0};
	uns_err rc;

	if (st == NULL || (n > 0 && v == NULL) || !settle_distinct(v, n)) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if ((locked = calloc(NSTRIPES, sizeof(*locked))) == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	w.st = st;
	if ((rc = settle_lock(st, v, n, locked)) != UNS_OK) {
		goto out;
	}
	w.now = now_ms(st);
	for (size_t i = 0; i < n && rc == UNS_OK; i++) {
		v[i].newer = false;
		rc = settle_locked(&w, v[i].tap, v[i].result, v[i].due_ms,
		                   v[i].error, &v[i].newer);
	}
	if (rc == UNS_OK && w.b.nomem) {
		rc = uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	if (rc == UNS_OK && w.b.n > 0) {
		rc = uns_store_commit_submit(st->commit, &w.b);
	}
out:
	for (size_t i = 0; i < NSTRIPES; i++) {
		if (locked[i]) {
			stripe_unlock(&st->stripes[i]);
		}
	}
	for (size_t i = 0; rc == UNS_OK && i < n; i++) {
		lease_release(st, v[i].tap->ref);
	}
	batch_free(&w.b);
	free(locked);
	return rc;
}

/* --- iOS fallback -------------------------------------------------------- */

/* SPEC §5: only a High-priority raw notification falls back to a visible
 * alert; on any other the policy is kept but inert (a visual one is shown
 * by the device anyway, a Low one is not worth waking the user for). */
static bool
fallback_wanted(const Uns__V1__Notification *n)
{
	const Uns__V1__EndpointFallback *ef =
	    n->fallback_policy != NULL ? n->fallback_policy->endpoint_fallback
	                               : NULL;

	return ef != NULL && n->priority == UNS__V1__PRIORITY__PRIORITY_HIGH &&
	       n->payload != NULL && n->payload->raw_content != NULL &&
	       n->payload->raw_content[0] != '\0' &&
	       ef->fallback_delay_in_seconds > 0 &&
	       ef->visual_content != NULL &&
	       platform_listed(ef->platform_types, ef->n_platform_types,
	                       PLATFORM(IOS));
}

/* (Re)schedules the fallback check of n (old: its stored state, or NULL). */
static uns_err
fallback_schedule(struct wctx *w, const Uns__V1__Notification *n,
                  const uns_store_nrec *old)
{
	unsigned char due8[8];
	char *v = NULL;
	size_t vlen;
	uns_store_key k;
	int64_t due;
	uns_err rc;

	if (!fallback_wanted(n) && (old == NULL || !fallback_wanted(old->n))) {
		return UNS_OK;
	}
	key_ob(&k, OB_PENDING, -1, n->id);
	rc = db_get(w->st, NULL, CF_OUTBOX, k.b, k.len, &v, &vlen);
	if (rc == UNS_OK && vlen == 8) {
		uns_store_key b;
		key_ob(&b, OB_FB,
		       (int64_t)uns_store_be64_get((const unsigned char *)v),
		       n->id);
		batch_del(&w->b, CF_OUTBOX, &b);
	}
	rocksdb_free(v);
	if (rc != UNS_OK && rc != UNS_NOT_FOUND) {
		return rc;
	}
	batch_del(&w->b, CF_OUTBOX, &k);
	if (fallback_wanted(n)) {
		due = w->now + 1000LL * n->fallback_policy->endpoint_fallback
		                            ->fallback_delay_in_seconds;
		uns_store_be64_put(due8, (uint64_t)due);
		batch_put(&w->b, CF_OUTBOX, &k, due8, sizeof(due8));
		key_ob(&k, OB_FB, due, n->id);
		batch_put(&w->b, CF_OUTBOX, &k, w->o.uh.b, w->o.uh.len);
	}
	return UNS_OK;
}

uns_err
uns_store_fetched(uns_store *st, const char *user, const char *host,
                  const char *unsid, const char *const *ids, size_t n)
{
	struct wctx w;
	uns_err rc;

	if (st == NULL || !rid_ok(unsid) || (n > 0 && ids == NULL)) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if ((rc = wctx_begin(st, &w, user, host)) != UNS_OK) {
		goto out;
	}
	for (size_t i = 0; i < n && rc == UNS_OK; i++) {
		char *v = NULL;
		size_t vlen;
		uns_store_key k;
		if (!rid_ok(ids[i])) {
			continue;
		}
		key_ob(&k, OB_PENDING, -1, ids[i]);
		rc = db_get(st, NULL, CF_OUTBOX, k.b, k.len, &v, &vlen);
		rocksdb_free(v);
		if (rc == UNS_OK) {
			key_ob(&k, OB_FETCHED, -1, ids[i]);
			uns_store_key_str(&k, unsid);
			batch_put(&w.b, CF_OUTBOX, &k, "", 0);
		}
		rc = rc == UNS_NOT_FOUND ? UNS_OK : rc;
	}
	rc = rc == UNS_OK ? wctx_commit(&w) : rc;
out:
	wctx_end(&w, rc);
	return rc;
}

struct fallback {
	uns_store *st;
	struct wctx *w;
	const char *id;
};

static uns_err
fallback_one(void *arg, const Uns__V1__Subscription *s)
{
	const struct fallback *f = arg;
	char ref[UNS_STORE_TAP_REF_MAX], *v = NULL;
	size_t vlen;
	uns_store_key k;
	uns_err rc;

	if (s->platform != PLATFORM(IOS) || !sub_tappable(s)) {
		return UNS_OK;
	}
	key_ob(&k, OB_FETCHED, -1, f->id);
	uns_store_key_str(&k, s->unsid);
	rc = db_get(f->st, NULL, CF_OUTBOX, k.b, k.len, &v, &vlen);
	rocksdb_free(v);
	if (rc != UNS_NOT_FOUND) {
		return rc == UNS_OK ? UNS_OK : rc; /* fetched: no alert */
	}
	snprintf(ref, sizeof(ref), "%s:%s", s->unsid, f->id);
	return tap_put(f->st, &f->w->b, &f->w->o, f->w->now, ref,
	               UNS_STORE_TAP_FALLBACK, f->id);
}

/* Removes id's pending check and fetched marks. */
static uns_err
fallback_forget(struct wctx *w, const char *id, int64_t due)
{
	struct scan s = {0};
	uns_store_key k;
	uns_err rc;

	key_ob(&k, OB_FB, due, id);
	batch_del(&w->b, CF_OUTBOX, &k);
	key_ob(&k, OB_PENDING, -1, id);
	batch_del(&w->b, CF_OUTBOX, &k);
	key_ob(&s.lo, OB_FETCHED, -1, id);
	uns_store_key_successor(&s.lo, &s.hi);
	rc = scan_open(w->st, &s, NULL, CF_OUTBOX);
	for (; rc == UNS_OK && scan_valid(&s); rocksdb_iter_next(s.it)) {
		size_t klen;
		const unsigned char *key = scan_key(&s, &klen);
		batch_op(&w->b, CF_OUTBOX, true, key, klen, NULL, 0);
	}
	uns_err rc2 = scan_close(&s);
	return rc != UNS_OK ? rc : rc2;
}

/* The due check of notification id, owner given by its uh key. */
static uns_err
fallback_check(uns_store *st, const char *id, int64_t due,
               const unsigned char *uh, size_t uhlen, size_t *queued)
{
	char user[UNS_STORE_ID_MAX + 1], host[UNS_STORE_ID_MAX + 1];
	const char *u, *h;
	size_t ulen, hlen;
	uns_store_nrec n = {0};
	struct wctx w;
	uns_err rc;

	if (uns_store_key_uh_parse(uh, uhlen, &u, &ulen, &h, &hlen) == 0) {
		return uns_store_seterr(UNS_DATA_LOSS, "bad fallback entry");
	}
	snprintf(user, sizeof(user), "%.*s", (int)ulen, u);
	snprintf(host, sizeof(host), "%.*s", (int)hlen, h);
	if ((rc = wctx_begin(st, &w, user, host)) != UNS_OK) {
		goto out;
	}
	rc = notif_load_visible(st, user, host, id, w.now, &n);
	if (rc == UNS_OK) {
		struct fallback f = {st, &w, id};
		rc = subs_each(st, &w.o, w.now, fallback_one, &f);
	}
	rc = rc == UNS_NOT_FOUND ? UNS_OK : rc;
	if (rc == UNS_OK && (rc = fallback_forget(&w, id, due)) == UNS_OK &&
	    (rc = wctx_commit(&w)) == UNS_OK) {
		*queued += w.o.taps;
	}
out:
	wctx_end(&w, rc);
	uns_store_nrec_clear(&n);
	return rc;
}

/* Runs up to FB_CHUNK due checks; *n gets how many were due. */
static uns_err
fallback_chunk(uns_store *st, int64_t now, size_t *n, size_t *queued)
{
	struct {
		char id[UNS_STORE_RID_LEN + 1];
		int64_t due;
		uns_store_key uh;
	} *due = calloc(FB_CHUNK, sizeof(*due));
	struct scan s = {0};
	size_t nd = 0;
	uns_err rc;

	if (due == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	key_ob(&s.lo, OB_FB, 0, NULL);
	key_ob(&s.hi, OB_FB, now + 1, NULL);
	rc = scan_open(st, &s, NULL, CF_OUTBOX);
	for (; rc == UNS_OK && scan_valid(&s) && nd < FB_CHUNK;
	     rocksdb_iter_next(s.it)) {
		size_t klen, vlen;
		const unsigned char *k = scan_key(&s, &klen);
		const char *v = scan_value(&s, &vlen);
		if (klen != OB_TIMED + UNS_STORE_RID_LEN ||
		    vlen > UNS_STORE_KEY_MAX) {
			continue;
		}
		snprintf(due[nd].id, sizeof(due[nd].id), "%.*s",
		         UNS_STORE_RID_LEN, k + OB_TIMED);
		due[nd].due = (int64_t)uns_store_be64_get(k + 1);
		memcpy(due[nd].uh.b, v, vlen);
		due[nd++].uh.len = vlen;
	}
	uns_err rc2 = scan_close(&s);
	rc = rc != UNS_OK ? rc : rc2;
	for (size_t i = 0; i < nd && rc == UNS_OK; i++) {
		rc = fallback_check(st, due[i].id, due[i].due, due[i].uh.b,
		                    due[i].uh.len, queued);
	}
	*n = nd;
	free(due);
	return rc;
}

uns_err
uns_store_fallback_run(uns_store *st, size_t *queued)
{
	size_t n = 0, total = 0;
	uns_err rc;

	if (st == NULL || queued == NULL) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	do {
		rc = fallback_chunk(st, now_ms(st), &n, &total);
	} while (rc == UNS_OK && n == FB_CHUNK);
	if (rc == UNS_OK) {
		*queued = total;
	}
	return rc;
}

/* ======================================================================
 * Reclaim
 * ====================================================================== */

/* One due expiry entry and the owner it needs, resolved before locking. */
struct due {
	uns_store_key key;
	char kind;
	int64_t when;
	int owner; /* index in reclaim.owners, -1 = none needed */
};

struct reclaim {
	struct due due[RECLAIM_CHUNK];
	struct owner owners[RECLAIM_CHUNK];
	size_t ndue, nowners;
	bool locked[NSTRIPES];
	struct batch b;
	int64_t now;
};

static uns_err
reclaim_collect(uns_store *st, struct reclaim *r, int64_t now)
{
	struct scan s = {0};
	uns_err rc;

	uns_store_key_u64(&s.lo, 0);
	uns_store_key_u64(&s.hi, (uint64_t)now + 1);
	rc = scan_open(st, &s, NULL, CF_EXPIRY);
	for (; rc == UNS_OK && scan_valid(&s) && r->ndue < RECLAIM_CHUNK;
	     rocksdb_iter_next(s.it)) {
		size_t klen;
		const unsigned char *k = scan_key(&s, &klen);
		struct due *d = &r->due[r->ndue];
		if (klen <= EXP_PREFIX_LEN || klen > UNS_STORE_KEY_MAX) {
			continue; /* not ours: skipped, never deleted */
		}
		memcpy(d->key.b, k, klen);
		d->key.len = klen;
		d->when = (int64_t)uns_store_be64_get(k);
		d->kind = (char)k[8];
		d->owner = -1;
		r->ndue++;
	}
	uns_err rc2 = scan_close(&s);
	return rc != UNS_OK ? rc : rc2;
}

static int
reclaim_owner(struct reclaim *r, const char *user, const char *host)
{
	struct owner o;

	if (owner_init(&o, user, host) != UNS_OK) {
		return -1;
	}
	for (size_t i = 0; i < r->nowners; i++) {
		if (r->owners[i].uh.len == o.uh.len &&
		    memcmp(r->owners[i].uh.b, o.uh.b, o.uh.len) == 0) {
			return (int)i;
		}
	}
	r->owners[r->nowners] = o;
	return (int)r->nowners++;
}

/* The reference (id or unsid) an N or S expiry key carries. */
static void
due_ref(const struct due *d, char ref[UNS_STORE_RID_LEN + 1])
{
	snprintf(ref, UNS_STORE_RID_LEN + 1, "%.*s",
	         (int)(d->key.len - EXP_PREFIX_LEN),
	         (const char *)d->key.b + EXP_PREFIX_LEN);
}

/* Finds each entry's owner (unlocked: owners of ids never change). */
static uns_err
reclaim_resolve(uns_store *st, struct reclaim *r)
{
	char ref[UNS_STORE_RID_LEN + 1];
	uns_err rc = UNS_OK;

	for (size_t i = 0; i < r->ndue && rc == UNS_OK; i++) {
		struct due *d = &r->due[i];
		uns_store_nrec n = {0};
		uns_store_srec s = {0};
		due_ref(d, ref);
		if (d->kind == EXP_NOTIFICATION &&
		    (rc = notif_load(st, NULL, ref, &n)) == UNS_OK) {
			d->owner =
			    reclaim_owner(r, n.user, n.n->target_host_name);
		} else if (d->kind == EXP_SUBSCRIPTION &&
		           (rc = sub_load(st, NULL, ref, &s)) == UNS_OK) {
			d->owner =
			    reclaim_owner(r, s.user, s.s->target_host_name);
		}
		rc = rc == UNS_NOT_FOUND ? UNS_OK : rc;
		uns_store_nrec_clear(&n);
		uns_store_srec_clear(&s);
	}
	return rc;
}

/* Locks the owners' stripes in ascending order, then loads their meta. */
static uns_err
reclaim_lock(uns_store *st, struct reclaim *r)
{
	uns_err rc = UNS_OK;

	for (size_t i = 0; i < r->nowners; i++) {
		r->locked[uns_store_key_hash(r->owners[i].uh.b) % NSTRIPES] =
		    true;
	}
	for (size_t i = 0; i < NSTRIPES; i++) {
		if (r->locked[i]) {
			stripe_lock(&st->stripes[i]);
		}
	}
	for (size_t i = 0; i < r->nowners && rc == UNS_OK; i++) {
		rc = owner_load(st, NULL, &r->owners[i]);
	}
	return rc;
}

static void
reclaim_unlock(uns_store *st, struct reclaim *r)
{
	for (size_t i = 0; i < NSTRIPES; i++) {
		if (r->locked[i]) {
			stripe_unlock(&st->stripes[i]);
			r->locked[i] = false;
		}
	}
}

/* Removes an expired notification; an active one leaves an "expired"
 * tombstone, a deleted one keeps its "deleted" tombstone. */
static uns_err
reclaim_notif(uns_store *st, struct reclaim *r, struct due *d)
{
	struct owner *o = &r->owners[d->owner];
	char ref[UNS_STORE_RID_LEN + 1], *v = NULL;
	uns_store_nrec n = {0};
	uint64_t tomb;
	size_t vlen;
	uns_store_key k;
	uns_err rc;

	due_ref(d, ref);
	if ((rc = notif_load(st, NULL, ref, &n)) != UNS_OK ||
	    n.n->expiration_time_ms != d->when) {
		goto out; /* gone or moved: just drop the stale entry */
	}
	key_id(&k, ref);
	batch_del(&r->b, CF_NOTIF, &k);
	key_hist(&k, o, n.n->created_time_ms, ref);
	batch_del(&r->b, CF_HIST, &k);
	key_owned(&k, o, n.n->app_notification_id);
	if ((rc = db_get(st, NULL, CF_APPID, k.b, k.len, &v, &vlen)) ==
	        UNS_OK &&
	    vlen == UNS_STORE_RID_LEN && memcmp(v, ref, vlen) == 0) {
		batch_del(&r->b, CF_APPID, &k);
	}
	tomb = n.feed_seq;
	if (n.n->status ==
	    UNS__V1__NOTIFICATION_STATUS__NOTIFICATION_STATUS_ACTIVE) {
		o->live -= o->live > 0;
		tomb =
		    feed_move(&r->b, o, n.feed_seq,
		              UNS__V1__REMOVED_REASON__REMOVED_REASON_EXPIRED,
		              n.n->version, ref);
		if (rc == UNS_OK || rc == UNS_NOT_FOUND) {
			rc =
			    taps_enqueue(st, &r->b, o, r->now, n.n, true, NULL);
		}
	}
	expiry_tombstone(&r->b, o, r->now + st->cfg.tombstone_ttl_ms, tomb);
out:
	rocksdb_free(v);
	uns_store_nrec_clear(&n);
	return rc == UNS_NOT_FOUND ? UNS_OK : rc;
}

static uns_err
reclaim_sub(uns_store *st, struct reclaim *r, struct due *d)
{
	struct owner *o = &r->owners[d->owner];
	char ref[UNS_STORE_RID_LEN + 1], *v = NULL;
	uns_store_srec s = {0};
	size_t vlen;
	uns_store_key k;
	uns_err rc;

	due_ref(d, ref);
	if ((rc = sub_load(st, NULL, ref, &s)) != UNS_OK ||
	    s.s->expiration_time_ms != d->when) {
		goto out;
	}
	key_id(&k, ref);
	batch_del(&r->b, CF_SUBS, &k);
	key_owned(&k, o, s.s->device_id);
	if ((rc = db_get(st, NULL, CF_SUBDEV, k.b, k.len, &v, &vlen)) ==
	        UNS_OK &&
	    vlen == UNS_STORE_RID_LEN && memcmp(v, ref, vlen) == 0) {
		batch_del(&r->b, CF_SUBDEV, &k);
	}
	rc = rc == UNS_NOT_FOUND ? UNS_OK : rc;
	rc = rc == UNS_OK ? taps_drop(st, &r->b, ref) : rc;
out:
	rocksdb_free(v);
	uns_store_srec_clear(&s);
	return rc == UNS_NOT_FOUND ? UNS_OK : rc;
}

/* A feed tombstone past its retention: its key follows the kind byte. */
static void
reclaim_tombstone(struct reclaim *r, const struct due *d)
{
	uns_store_key k;

	k.len = 0;
	uns_store_key_bytes(&k, d->key.b + EXP_PREFIX_LEN,
	                    d->key.len - EXP_PREFIX_LEN);
	batch_del(&r->b, CF_FEED, &k);
}

static uns_err
reclaim_apply(uns_store *st, struct reclaim *r)
{
	uns_err rc = UNS_OK;

	for (size_t i = 0; i < r->ndue && rc == UNS_OK; i++) {
		struct due *d = &r->due[i];
		if (d->kind == EXP_NOTIFICATION && d->owner >= 0) {
			rc = reclaim_notif(st, r, d);
		} else if (d->kind == EXP_SUBSCRIPTION && d->owner >= 0) {
			rc = reclaim_sub(st, r, d);
		} else if (d->kind == EXP_TOMBSTONE) {
			reclaim_tombstone(r, d);
		}
		batch_del(&r->b, CF_EXPIRY, &d->key);
	}
	for (size_t i = 0; i < r->nowners; i++) {
		owner_save(&r->b, &r->owners[i]);
	}
	if (rc == UNS_OK && r->b.nomem) {
		rc = uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	return rc == UNS_OK ? uns_store_commit_submit(st->commit, &r->b) : rc;
}

/* One chunk: collect, resolve, lock, remove in one batch, unlock. */
static uns_err
reclaim_chunk(uns_store *st, int64_t now, size_t *n)
{
	struct reclaim *r = calloc(1, sizeof(*r));
	uns_err rc;

	if (r == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	r->now = now;
	if ((rc = reclaim_collect(st, r, now)) == UNS_OK && r->ndue > 0 &&
	    (rc = reclaim_resolve(st, r)) == UNS_OK) {
		if ((rc = reclaim_lock(st, r)) == UNS_OK) {
			rc = reclaim_apply(st, r);
		}
		reclaim_unlock(st, r);
	}
	for (size_t i = 0; rc == UNS_OK && i < r->nowners; i++) {
		fire_hook(st, &r->owners[i]);
	}
	*n = r->ndue;
	batch_free(&r->b);
	free(r);
	return rc;
}

uns_err
uns_store_reclaim(uns_store *st, int64_t now, size_t *reclaimed)
{
	size_t total = 0, n = 0;
	uns_err rc;

	if (st == NULL) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	pthread_mutex_lock(&st->reclaim_mu);
	do {
		rc = reclaim_chunk(st, now, &n);
		total += rc == UNS_OK ? n : 0;
	} while (rc == UNS_OK && n == RECLAIM_CHUNK);
	pthread_mutex_unlock(&st->reclaim_mu);
	if (rc == UNS_OK && reclaimed != NULL) {
		*reclaimed = total;
	}
	return rc;
}

/* Takes the queued retries (under bg_mu). */
static struct write_op *
retries_take(uns_store *st)
{
	struct write_op *list = st->retries;

	st->retries = NULL;
	return list;
}

/* Runs the retries of list (without bg_mu), or fails them when closing. */
static void
retries_run(struct write_op *list, bool closing)
{
	for (struct write_op *op = list, *next; op != NULL; op = next) {
		next = op->next_retry;
		if (closing) {
			write_op_finish(
			    op,
			    uns_store_seterr(UNS_UNAVAILABLE, "store closing"),
			    false);
		} else {
			write_op_retry(op);
		}
	}
}

/* The background thread: reclaims every reclaim_interval_ms (never when
 * negative) and retries posts that found their owner full. */
static void *
background_main(void *arg)
{
	uns_store *st = arg;
	struct timespec until;
	int64_t every = st->cfg.reclaim_interval_ms;
	uint64_t every_us = every > 0 ? (uint64_t)every * 1000u : 0;
	struct write_op *list;

	uns_deadline_after_us(&until, every_us);
	pthread_mutex_lock(&st->bg_mu);
	while (!st->bg_stop) {
		int wr = 0;
		if ((list = retries_take(st)) != NULL) {
			pthread_mutex_unlock(&st->bg_mu);
			retries_run(list, false);
			pthread_mutex_lock(&st->bg_mu);
			continue;
		}
		if (every < 0) {
			pthread_cond_wait(&st->bg_cv, &st->bg_mu);
		} else {
			wr = pthread_cond_timedwait(&st->bg_cv, &st->bg_mu,
			                            &until);
		}
		if (wr == ETIMEDOUT && !st->bg_stop) {
			pthread_mutex_unlock(&st->bg_mu);
			(void)uns_store_reclaim(st, now_ms(st), NULL);
			uns_deadline_after_us(&until, every_us);
			pthread_mutex_lock(&st->bg_mu);
		}
	}
	list = retries_take(st);
	pthread_mutex_unlock(&st->bg_mu);
	retries_run(list, true);
	return NULL;
}

/* ======================================================================
 * Open, close, stats
 * ====================================================================== */

static void
config_defaults(uns_store_config *c)
{
	c->block_cache_bytes =
	    c->block_cache_bytes ? c->block_cache_bytes : DEFAULT_CACHE;
	c->write_buffer_bytes =
	    c->write_buffer_bytes ? c->write_buffer_bytes : DEFAULT_CACHE;
	c->max_live = c->max_live ? c->max_live : DEFAULT_MAX_LIVE;
	c->sub_lifetime_ms =
	    c->sub_lifetime_ms ? c->sub_lifetime_ms : 30 * DAY_MS;
	c->default_ttl_ms = c->default_ttl_ms ? c->default_ttl_ms : 7 * DAY_MS;
	c->tombstone_ttl_ms =
	    c->tombstone_ttl_ms ? c->tombstone_ttl_ms : 30 * DAY_MS;
	c->reclaim_interval_ms =
	    c->reclaim_interval_ms ? c->reclaim_interval_ms : 10000;
}

/* Options shared by every column family: bloom filters, the shared block
 * cache, LZ4 with ZSTD at the bottom, dynamic level sizes. */
static rocksdb_options_t *
options_base(rocksdb_cache_t *cache)
{
	rocksdb_block_based_table_options_t *t =
	    rocksdb_block_based_options_create();
	rocksdb_options_t *o = rocksdb_options_create();

	rocksdb_block_based_options_set_block_cache(t, cache);
	rocksdb_block_based_options_set_filter_policy(
	    t, rocksdb_filterpolicy_create_bloom_full(10));
	rocksdb_block_based_options_set_format_version(t, 5);
	rocksdb_block_based_options_set_cache_index_and_filter_blocks(t, 1);
	rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(
	    t, 1);
	rocksdb_options_set_block_based_table_factory(o, t);
	rocksdb_block_based_options_destroy(t);
	rocksdb_options_set_compression(o, rocksdb_lz4_compression);
	rocksdb_options_set_bottommost_compression(o, rocksdb_zstd_compression);
	rocksdb_options_set_level_compaction_dynamic_level_bytes(o, 1);
	return o;
}

static void
options_create(uns_store *st)
{
	st->cache = rocksdb_cache_create_lru(st->cfg.block_cache_bytes);
	st->plainopt = options_base(st->cache);
	st->prefixopt = rocksdb_options_create_copy(st->plainopt);
	rocksdb_options_set_prefix_extractor(
	    st->prefixopt,
	    rocksdb_slicetransform_create_fixed_prefix(UNS_STORE_HASH_LEN));
	/* Height 12, not RocksDB's 4: one owner's bucket holds every
	 * feed, history, app-id and meta entry it wrote since the last flush
	 * (thousands for a busy user), and a 4-level list degrades to a
	 * linear walk past ~4^4 entries. Measured through the gateway (8
	 * users, POST create, four 8 s rounds into one memtable): server CPU
	 * per request 118 -> 155 us with height 4, 103 -> 123 us with 12. */
	rocksdb_options_set_hash_skip_list_rep(st->prefixopt, 100000, 12, 4);
	st->dbopt = rocksdb_options_create_copy(st->plainopt);
	rocksdb_options_set_create_if_missing(st->dbopt, 1);
	rocksdb_options_set_create_missing_column_families(st->dbopt, 1);
	rocksdb_options_set_wal_recovery_mode(st->dbopt, 2); /* point in time */
	rocksdb_options_set_max_total_wal_size(st->dbopt, 256u << 20);
	/* One budget for the memtables of every column family: by default
	 * each family could hold 2 x 64 MiB (measured: 400 MiB RSS after 1M
	 * notifications without it). */
	rocksdb_options_set_db_write_buffer_size(st->dbopt,
	                                         st->cfg.write_buffer_bytes);
	rocksdb_options_set_bytes_per_sync(st->dbopt, 1u << 20);
	rocksdb_options_set_max_background_jobs(st->dbopt, 4);
	/* One writer (the committer), and hash memtables require it. */
	rocksdb_options_set_allow_concurrent_memtable_write(st->dbopt, 0);
	st->wsync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(st->wsync, 1);
	st->ropt = rocksdb_readoptions_create();
	st->scratch = rocksdb_writebatch_create();
}

static uns_err
db_open(uns_store *st)
{
	const rocksdb_options_t *cfopts[CF_COUNT];
	char *err = NULL;

	options_create(st);
	for (int i = 0; i < CF_COUNT; i++) {
		cfopts[i] = cf_prefixed[i] ? st->prefixopt : st->plainopt;
	}
	st->db = rocksdb_open_column_families(st->dbopt, st->dir, CF_COUNT,
	                                      cf_names, cfopts, st->cf, &err);
	return rdb_err(err, "open");
}

static void
store_free(uns_store *st)
{
	if (st->db != NULL) {
		for (int i = 0; i < CF_COUNT; i++) {
			rocksdb_column_family_handle_destroy(st->cf[i]);
		}
		rocksdb_close(st->db);
	}
	if (st->scratch != NULL) {
		rocksdb_writebatch_destroy(st->scratch);
		rocksdb_readoptions_destroy(st->ropt);
		rocksdb_writeoptions_destroy(st->wsync);
		rocksdb_options_destroy(st->dbopt);
		rocksdb_options_destroy(st->prefixopt);
		rocksdb_options_destroy(st->plainopt);
		rocksdb_cache_destroy(st->cache);
	}
	for (int i = 0; i < NSTRIPES; i++) {
		pthread_mutex_destroy(&st->stripes[i].mu);
	}
	pthread_mutex_destroy(&st->hook_mu);
	pthread_mutex_destroy(&st->reclaim_mu);
	leases_free(st);
	pthread_mutex_destroy(&st->lease_mu);
	pthread_mutex_destroy(&st->bg_mu);
	pthread_cond_destroy(&st->bg_cv);
	free(st->dir);
	free(st);
}

static uns_store *
store_alloc(const uns_store_config *cfg)
{
	uns_store *st = calloc(1, sizeof(*st));
	pthread_condattr_t ca;

	if (st == NULL) {
		return NULL;
	}
	st->cfg = *cfg;
	config_defaults(&st->cfg);
	for (int i = 0; i < NSTRIPES; i++) {
		pthread_mutex_init(&st->stripes[i].mu, NULL);
	}
	pthread_mutex_init(&st->hook_mu, NULL);
	pthread_mutex_init(&st->reclaim_mu, NULL);
	pthread_mutex_init(&st->lease_mu, NULL);
	pthread_mutex_init(&st->bg_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->bg_cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((st->dir = strdup(cfg->dir)) == NULL) {
		store_free(st);
		return NULL;
	}
	st->cfg.dir = st->dir;
	return st;
}

static uns_err
threads_start(uns_store *st)
{
	uns_store_commit_config cc = {.max_batch = st->cfg.commit_max_batch,
	                              .max_wait_us = st->cfg.commit_max_wait_us,
	                              .answer_thread =
	                                  st->cfg.commit_answer_thread,
	                              .flush = flush_group,
	                              .flush_arg = st};
	uns_err rc = uns_store_commit_start(&st->commit, &cc);

	if (rc != UNS_OK) {
		return rc;
	}
	if (pthread_create(&st->bg_thread, NULL, background_main, st) != 0) {
		return uns_store_seterr(UNS_EIO, "cannot start reclaim thread");
	}
	st->bg_running = true;
	return UNS_OK;
}

uns_err
uns_store_open(uns_store **stp, const uns_store_config *cfg)
{
	uns_store *st = NULL;
	uns_err rc;

	if (stp == NULL || cfg == NULL || cfg->dir == NULL ||
	    cfg->dir[0] == '\0') {
		return uns_store_seterr(UNS_EINVAL, "no data directory");
	}
	if ((st = store_alloc(cfg)) == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	if ((rc = db_open(st)) != UNS_OK ||
	    (rc = threads_start(st)) != UNS_OK) {
		uns_store_close(st);
		return rc;
	}
	*stp = st;
	return UNS_OK;
}

void
uns_store_close(uns_store *st)
{
	if (st == NULL) {
		return;
	}
	if (st->bg_running) {
		pthread_mutex_lock(&st->bg_mu);
		st->bg_stop = true;
		pthread_cond_signal(&st->bg_cv);
		pthread_mutex_unlock(&st->bg_mu);
		pthread_join(st->bg_thread, NULL);
	}
	uns_store_commit_stop(st->commit);
	store_free(st);
}

void
uns_store_set_feed_hook(uns_store *st, uns_store_feed_fn fn, void *arg)
{
	if (st == NULL) {
		return;
	}
	pthread_mutex_lock(&st->hook_mu);
	st->hook = fn;
	st->hook_arg = arg;
	pthread_mutex_unlock(&st->hook_mu);
}

void
uns_store_set_tap_hook(uns_store *st, uns_store_tap_fn fn, void *arg)
{
	if (st == NULL) {
		return;
	}
	pthread_mutex_lock(&st->hook_mu);
	st->tap_hook = fn;
	st->tap_hook_arg = arg;
	pthread_mutex_unlock(&st->hook_mu);
}

uns_err
uns_store_stats_get(uns_store *st, uns_store_stats *out)
{
	if (st == NULL || out == NULL) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	uns_store_commit_counts c;
	uns_store_commit_stats(st->commit, &c);
	out->commit_batches = c.batches;
	out->commit_writes = c.writes;
	out->commit_flush_us = c.flush_us;
	out->commit_done_us = c.done_us;
	return UNS_OK;
}

/* ======================================================================
 * Benchmark floor
 * ====================================================================== */

static double
mono_s(void)
{
	return (double)uns_mono_us() / 1e6;
}

static uns_err
bench_loop(rocksdb_t *db, int seconds, double *rate)
{
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	char value[200], key[8], *err = NULL;
	double start = mono_s(), elapsed = 0;
	uint64_t n = 0;

	memset(value, 'v', sizeof(value));
	rocksdb_writeoptions_set_sync(wo, 1);
	while (err == NULL && elapsed < seconds) {
		uns_store_be64_put((unsigned char *)key, n++);
		rocksdb_put(db, wo, key, sizeof(key), value, sizeof(value),
		            &err);
		elapsed = mono_s() - start;
	}
	rocksdb_writeoptions_destroy(wo);
	*rate = elapsed > 0 ? (double)n / elapsed : 0;
	return rdb_err(err, "put");
}

uns_err
uns_store_bench_raw_synced_puts(const char *dir, int seconds,
                                double *puts_per_sec)
{
	rocksdb_options_t *o;
	rocksdb_t *db;
	char *err = NULL;
	double rate = 0;
	uns_err rc;

	if (dir == NULL || seconds <= 0 || puts_per_sec == NULL) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	o = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(o, 1);
	db = rocksdb_open(o, dir, &err);
	if ((rc = rdb_err(err, "open")) == UNS_OK) {
		rc = bench_loop(db, seconds, &rate);
		rocksdb_close(db);
		rocksdb_destroy_db(o, dir, &err);
		(void)rdb_err(err, "destroy");
	}
	rocksdb_options_destroy(o);
	if (rc == UNS_OK) {
		*puts_per_sec = rate;
	}
	return rc;
}
