/*
 * rocksdb_engine.c — the RocksDB backend, the engine (errors, reads, scans),
 * operation lists and the committer's flush, owners and their lock stripes,
 * keys (design in rocksdb_impl.h).
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "arena.h"
#include "clock.h"
#include "rocksdb_impl.h"

const char *const rdb_cf_names[CF_COUNT] = {
    "default",       "subscriptions", "subscriptions_by_device",
    "notifications", "app_ids",       "feed",
    "history",       "expiry",        "outbox",
    "meta",          "idempotency",
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
const bool rdb_cf_prefixed[CF_COUNT] = {
    [CF_SUBS] = true, [CF_SUBDEV] = true, [CF_NOTIF] = true, [CF_APPID] = true,
    [CF_FEED] = true, [CF_HIST] = true,   [CF_META] = true,  [CF_IDEM] = true,
};

/* ======================================================================
 * Errors and the engine
 * ====================================================================== */

static _Atomic uint64_t corruptions;

/* The one place a RocksDB error string becomes a uns_err (and is freed). */
uns_err
rdb_err(char *err, const char *what)
{
	static const struct {
		const char *prefix;
		uns_err rc;
	} map[] = {
	    /* Status::ToString() prefixes of RocksDB 7.8, most specific first.
	     */
	    {"Corruption", UNS_DATA_LOSS},
	    /* A full disk is the server unable to write, not the caller
	     * asking too much: 503, not 429 (rdb_disk_check keeps it from
	     * reaching RocksDB's log writes). */
	    {"IO error: No space", UNS_UNAVAILABLE},
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
	if (rc == UNS_DATA_LOSS) {
		atomic_fetch_add(&corruptions, 1);
	}
	uns_store_seterr(rc, "rocksdb %s: %s", what, err);
	rocksdb_free(err);
	return rc;
}

uint64_t
rdb_corruptions(void)
{
	return atomic_load(&corruptions);
}

uns_err
rdb_disk_check(rdb *st)
{
	struct statvfs v;
	uint64_t want = st->base.cfg.min_free_bytes;
	if (want == 0 || statvfs(st->dir, &v) != 0) {
		atomic_store(&st->disk_full, 0);
		return UNS_OK;
	}
	uint64_t free_bytes = (uint64_t)v.f_bavail * v.f_frsize;
	atomic_store(&st->disk_full, free_bytes < want);
	if (free_bytes >= want) {
		return UNS_OK;
	}
	return uns_store_seterr(UNS_UNAVAILABLE,
	                        "disk full: %llu KiB free where the store is, "
	                        "%llu KiB kept in reserve (min_free)",
	                        (unsigned long long)(free_bytes >> 10),
	                        (unsigned long long)(want >> 10));
}

/* *v is rocksdb-allocated: rocksdb_free() it. UNS_NOT_FOUND if absent. */
uns_err
rdb_db_get(rdb *st, const rocksdb_readoptions_t *ro, int cf, const void *k,
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

uns_err
rdb_view_open(rdb *st, struct view *v)
{
	if ((v->ro = rocksdb_readoptions_create()) == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	rocksdb_readoptions_set_verify_checksums(v->ro, 1);
	v->snap = rocksdb_create_snapshot(st->db);
	rocksdb_readoptions_set_snapshot(v->ro, v->snap);
	return UNS_OK;
}

void
rdb_view_close(rdb *st, struct view *v)
{
	if (v->ro != NULL) {
		rocksdb_readoptions_destroy(v->ro);
		rocksdb_release_snapshot(st->db, v->snap);
		v->ro = NULL;
	}
}

uns_err
rdb_scan_open(rdb *st, struct scan *s, const struct view *v, int cf)
{
	if ((s->ro = rocksdb_readoptions_create()) == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	rocksdb_readoptions_set_verify_checksums(s->ro, 1);
	if (v != NULL) {
		rocksdb_readoptions_set_snapshot(s->ro, v->snap);
	}
	rocksdb_readoptions_set_iterate_lower_bound(s->ro, (char *)s->lo.b,
	                                            s->lo.len);
	rocksdb_readoptions_set_iterate_upper_bound(s->ro, (char *)s->hi.b,
	                                            s->hi.len);
	rocksdb_readoptions_set_prefix_same_as_start(s->ro,
	                                             rdb_cf_prefixed[cf]);
	s->it = rocksdb_create_iterator_cf(st->db, s->ro, st->cf[cf]);
	rocksdb_iter_seek(s->it, (const char *)s->lo.b, s->lo.len);
	return UNS_OK;
}

bool
rdb_scan_valid(const struct scan *s)
{
	return rocksdb_iter_valid(s->it) != 0;
}

const unsigned char *
rdb_scan_key(const struct scan *s, size_t *len)
{
	return (const unsigned char *)rocksdb_iter_key(s->it, len);
}

const char *
rdb_scan_value(const struct scan *s, size_t *len)
{
	return rocksdb_iter_value(s->it, len);
}

/* Closes the scan; returns the iterator's error, if any. */
uns_err
rdb_scan_close(struct scan *s)
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

/* Grows *p to hold need elements; first allocation holds at least min. */
bool
rdb_grow(void **p, size_t *cap, size_t need, size_t elem, size_t min)
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

void
rdb_batch_op(struct batch *b, int cf, bool del, const void *k, size_t klen,
             const void *v, size_t vlen)
{
	if (b->nomem ||
	    !rdb_grow((void **)&b->ops, &b->cap, b->n + 1, sizeof(*b->ops),
	              16) ||
	    !rdb_grow((void **)&b->buf, &b->bcap, b->len + klen + vlen, 1,
	              2048)) {
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

void
rdb_batch_put(struct batch *b, int cf, const uns_store_key *k, const void *v,
              size_t vlen)
{
	rdb_batch_op(b, cf, false, k->b, k->len, v, vlen);
}

void
rdb_batch_del(struct batch *b, int cf, const uns_store_key *k)
{
	rdb_batch_op(b, cf, true, k->b, k->len, NULL, 0);
}

void
rdb_batch_free(struct batch *b)
{
	free(b->ops);
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

/* The committer's flush: every batch of the group into one synced write. */
uns_err
rdb_flush_group(void *arg, void *const *payloads, size_t n)
{
	rdb *st = arg;
	char *err = NULL;

	uns_err rc = rdb_disk_check(st);
	if (rc != UNS_OK) {
		return rc; /* every write of the group fails, none is lost */
	}
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

uns_err
rdb_owner_init(struct owner *o, const char *user, const char *host)
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

uns_err
rdb_owner_load(rdb *st, const rocksdb_readoptions_t *ro, struct owner *o)
{
	char *v = NULL;
	size_t vlen;
	uns_err rc = rdb_db_get(st, ro, CF_META, o->uh.b, o->uh.len, &v, &vlen);

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

void
rdb_owner_save(struct batch *b, const struct owner *o)
{
	unsigned char v[UNS_STORE_METAVAL_LEN];

	if (o->dirty) {
		uns_store_meta m = {
		    .head = o->head, .live = o->live, .newest = o->newest};
		uns_store_metaval_encode(&m, v);
		rdb_batch_put(b, CF_META, &o->uh, v, sizeof(v));
	}
}

static struct stripe *
owner_stripe(rdb *st, const uns_store_key *uh)
{
	return &st->stripes[uns_store_key_hash(uh->b) % NSTRIPES];
}

/* Takes s for w if it is free (true: the caller holds it now); else queues
 * w, whose resume runs once s is handed to it. */
bool
rdb_stripe_take_or_queue(struct stripe *s, struct stripe_waiter *w)
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
void
rdb_stripe_lock(struct stripe *s)
{
	struct stripe_sleeper z = {.w.resume = sleeper_resume};

	sem_init(&z.handed, 0, 0);
	if (!rdb_stripe_take_or_queue(s, &z.w)) {
		while (sem_wait(&z.handed) != 0) {
		}
	}
	sem_destroy(&z.handed);
}

/* Hands s to its first waiter (running its resume here) or frees it. */
void
rdb_stripe_unlock(struct stripe *s)
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

void
rdb_fire_hook(rdb *st, const struct owner *o)
{
	if (o->moved) {
		uns_store_moved(&st->base, o->user, o->host, o->head, o->taps);
	}
}

/* Names w's owner and stripe; takes nothing yet. */
uns_err
rdb_wctx_init(rdb *st, struct wctx *w, const char *user, const char *host)
{
	uns_err rc;

	memset(&w->b, 0, sizeof(w->b));
	w->st = st;
	w->lock = NULL;
	if ((rc = rdb_owner_init(&w->o, user, host)) == UNS_OK) {
		w->lock = owner_stripe(st, &w->o.uh);
	}
	return rc;
}

/* With w's stripe held: the owner's committed feed head and live count,
 * and nothing changed yet (a retried write starts over). */
uns_err
rdb_wctx_load(struct wctx *w)
{
	w->now = now_ms(w->st);
	w->o.dirty = w->o.moved = false;
	w->o.taps = 0;
	return rdb_owner_load(w->st, NULL, &w->o);
}

uns_err
rdb_wctx_begin(rdb *st, struct wctx *w, const char *user, const char *host)
{
	uns_err rc = rdb_wctx_init(st, w, user, host);

	if (rc == UNS_OK) {
		rdb_stripe_lock(w->lock);
		rc = rdb_wctx_load(w);
	}
	return rc;
}

uns_err
rdb_wctx_commit(struct wctx *w)
{
	rdb_owner_save(&w->b, &w->o);
	if (w->b.nomem) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	if (w->b.n == 0) {
		return UNS_OK;
	}
	return uns_store_commit_submit(w->st->commit, &w->b);
}

/* Unlocks; after a successful commit, tells the hook the feed moved. */
void
rdb_wctx_end(struct wctx *w, uns_err rc)
{
	if (w->lock != NULL) {
		rdb_stripe_unlock(w->lock);
	}
	rdb_batch_free(&w->b);
	if (rc == UNS_OK) {
		rdb_fire_hook(w->st, &w->o);
	}
}

/* ======================================================================
 * Keys
 * ====================================================================== */

void
rdb_key_owned(uns_store_key *k, const struct owner *o, const char *s)
{
	*k = o->uh;
	uns_store_key_str(k, s);
}

void
rdb_key_feed(uns_store_key *k, const uns_store_key *uh, uint64_t seq)
{
	*k = *uh;
	uns_store_key_u64(k, seq);
}

void
rdb_key_hist(uns_store_key *k, const struct owner *o, int64_t created,
             const char *id)
{
	*k = o->uh;
	uns_store_key_u64(k, ~(uint64_t)created);
	uns_store_key_str(k, id);
}

void
rdb_key_expiry(uns_store_key *k, int64_t when, char kind, const void *ref,
               size_t len)
{
	k->len = 0;
	uns_store_key_u64(k, (uint64_t)when);
	k->b[k->len++] = (unsigned char)kind;
	uns_store_key_bytes(k, ref, len);
}

void
rdb_key_id(uns_store_key *k, const char *id)
{
	k->len = 0;
	uns_store_key_str(k, id);
}
