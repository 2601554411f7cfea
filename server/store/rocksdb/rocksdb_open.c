/*
 * rocksdb_open.c — the RocksDB backend, reclaim, the background thread, open
 * and close, the benchmark floor (design in rocksdb_impl.h).
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "clock.h"
#include "rocksdb_impl.h"

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
reclaim_collect(rdb *st, struct reclaim *r, int64_t now)
{
	struct scan s = {0};
	uns_err rc;

	uns_store_key_u64(&s.lo, 0);
	uns_store_key_u64(&s.hi, (uint64_t)now + 1);
	rc = rdb_scan_open(st, &s, NULL, CF_EXPIRY);
	for (; rc == UNS_OK && rdb_scan_valid(&s) && r->ndue < RECLAIM_CHUNK;
	     rocksdb_iter_next(s.it)) {
		size_t klen;
		const unsigned char *k = rdb_scan_key(&s, &klen);
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
	uns_err rc2 = rdb_scan_close(&s);
	return rc != UNS_OK ? rc : rc2;
}

static int
reclaim_owner(struct reclaim *r, const char *user, const char *host)
{
	struct owner o;

	if (rdb_owner_init(&o, user, host) != UNS_OK) {
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
reclaim_resolve(rdb *st, struct reclaim *r)
{
	char ref[UNS_STORE_RID_LEN + 1];
	uns_err rc = UNS_OK;

	for (size_t i = 0; i < r->ndue && rc == UNS_OK; i++) {
		struct due *d = &r->due[i];
		uns_store_nrec n = {0};
		uns_store_srec s = {0};
		due_ref(d, ref);
		if (d->kind == EXP_NOTIFICATION &&
		    (rc = rdb_notif_load(st, NULL, ref, &n)) == UNS_OK) {
			d->owner =
			    reclaim_owner(r, n.user, n.n->target_host_name);
		} else if (d->kind == EXP_SUBSCRIPTION &&
		           (rc = rdb_sub_load(st, NULL, ref, &s)) == UNS_OK) {
			d->owner =
			    reclaim_owner(r, s.user, s.s->target_host_name);
		} else if (d->kind == EXP_IDEM &&
		           d->key.len >= EXP_PREFIX_LEN + UNS_STORE_HASH_LEN) {
			/* Its key starts with the owner's uh: only the
			 * owner's stripe is needed, not its meta. */
			r->locked[uns_store_key_hash(d->key.b +
			                             EXP_PREFIX_LEN) %
			          NSTRIPES] = true;
		}
		rc = rc == UNS_NOT_FOUND ? UNS_OK : rc;
		uns_store_nrec_clear(&n);
		uns_store_srec_clear(&s);
	}
	return rc;
}

/* Locks the owners' stripes in ascending order, then loads their meta. */
static uns_err
reclaim_lock(rdb *st, struct reclaim *r)
{
	uns_err rc = UNS_OK;

	for (size_t i = 0; i < r->nowners; i++) {
		r->locked[uns_store_key_hash(r->owners[i].uh.b) % NSTRIPES] =
		    true;
	}
	for (size_t i = 0; i < NSTRIPES; i++) {
		if (r->locked[i]) {
			rdb_stripe_lock(&st->stripes[i]);
		}
	}
	for (size_t i = 0; i < r->nowners && rc == UNS_OK; i++) {
		rc = rdb_owner_load(st, NULL, &r->owners[i]);
	}
	return rc;
}

static void
reclaim_unlock(rdb *st, struct reclaim *r)
{
	for (size_t i = 0; i < NSTRIPES; i++) {
		if (r->locked[i]) {
			rdb_stripe_unlock(&st->stripes[i]);
			r->locked[i] = false;
		}
	}
}

/* Removes an expired notification; an active one leaves an "expired"
 * tombstone, a deleted one keeps its "deleted" tombstone. */
static uns_err
reclaim_notif(rdb *st, struct reclaim *r, struct due *d)
{
	struct owner *o = &r->owners[d->owner];
	char ref[UNS_STORE_RID_LEN + 1], *v = NULL;
	uns_store_nrec n = {0};
	uint64_t tomb;
	size_t vlen;
	uns_store_key k;
	uns_err rc;

	due_ref(d, ref);
	if ((rc = rdb_notif_load(st, NULL, ref, &n)) != UNS_OK ||
	    n.n->expiration_time_ms != d->when) {
		goto out; /* gone or moved: just drop the stale entry */
	}
	rdb_key_id(&k, ref);
	rdb_batch_del(&r->b, CF_NOTIF, &k);
	rdb_key_hist(&k, o, n.n->created_time_ms, ref);
	rdb_batch_del(&r->b, CF_HIST, &k);
	rdb_key_owned(&k, o, n.n->app_notification_id);
	if ((rc = rdb_db_get(st, NULL, CF_APPID, k.b, k.len, &v, &vlen)) ==
	        UNS_OK &&
	    vlen == UNS_STORE_RID_LEN && memcmp(v, ref, vlen) == 0) {
		rdb_batch_del(&r->b, CF_APPID, &k);
	}
	tomb = n.feed_seq;
	if (n.n->status ==
	    UNS__V1__NOTIFICATION_STATUS__NOTIFICATION_STATUS_ACTIVE) {
		o->live -= o->live > 0;
		tomb = rdb_feed_move(
		    &r->b, o, n.feed_seq,
		    UNS__V1__REMOVED_REASON__REMOVED_REASON_EXPIRED,
		    n.n->version, ref);
		if (rc == UNS_OK || rc == UNS_NOT_FOUND) {
			rc = rdb_taps_enqueue(st, &r->b, o, r->now, n.n, true,
			                      NULL);
		}
	}
	rdb_expiry_tombstone(&r->b, o, r->now + st->base.cfg.tombstone_ttl_ms,
	                     tomb);
out:
	rocksdb_free(v);
	uns_store_nrec_clear(&n);
	return rc == UNS_NOT_FOUND ? UNS_OK : rc;
}

static uns_err
reclaim_sub(rdb *st, struct reclaim *r, struct due *d)
{
	struct owner *o = &r->owners[d->owner];
	char ref[UNS_STORE_RID_LEN + 1], *v = NULL;
	uns_store_srec s = {0};
	size_t vlen;
	uns_store_key k;
	uns_err rc;

	due_ref(d, ref);
	if ((rc = rdb_sub_load(st, NULL, ref, &s)) != UNS_OK ||
	    s.s->expiration_time_ms != d->when) {
		goto out;
	}
	rdb_key_id(&k, ref);
	rdb_batch_del(&r->b, CF_SUBS, &k);
	rdb_key_owned(&k, o, s.s->device_id);
	if ((rc = rdb_db_get(st, NULL, CF_SUBDEV, k.b, k.len, &v, &vlen)) ==
	        UNS_OK &&
	    vlen == UNS_STORE_RID_LEN && memcmp(v, ref, vlen) == 0) {
		rdb_batch_del(&r->b, CF_SUBDEV, &k);
	}
	rc = rc == UNS_NOT_FOUND ? UNS_OK : rc;
	rc = rc == UNS_OK ? rdb_taps_drop(st, &r->b, ref) : rc;
out:
	rocksdb_free(v);
	uns_store_srec_clear(&s);
	return rc == UNS_NOT_FOUND ? UNS_OK : rc;
}

/* An idempotency record past its window, unless a post wrote a newer
 * one under the same key since (its expiry is another entry). */
static uns_err
reclaim_idem(rdb *st, struct reclaim *r, const struct due *d)
{
	uns_store_idemrec rec;
	uns_store_key k;
	char *v = NULL;
	size_t vlen;
	uns_err rc;

	k.len = 0;
	uns_store_key_bytes(&k, d->key.b + EXP_PREFIX_LEN,
	                    d->key.len - EXP_PREFIX_LEN);
	rc = rdb_db_get(st, NULL, CF_IDEM, k.b, k.len, &v, &vlen);
	if (rc == UNS_OK &&
	    (uns_store_idemrec_decode(v, vlen, false, &rec) != UNS_OK ||
	     rec.expires_ms == d->when)) {
		rdb_batch_del(&r->b, CF_IDEM, &k);
	}
	rocksdb_free(v);
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
	rdb_batch_del(&r->b, CF_FEED, &k);
}

static uns_err
reclaim_apply(rdb *st, struct reclaim *r)
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
		} else if (d->kind == EXP_IDEM) {
			rc = reclaim_idem(st, r, d);
		}
		rdb_batch_del(&r->b, CF_EXPIRY, &d->key);
	}
	for (size_t i = 0; i < r->nowners; i++) {
		rdb_owner_save(&r->b, &r->owners[i]);
	}
	if (rc == UNS_OK && r->b.nomem) {
		rc = uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	return rc == UNS_OK ? uns_store_commit_submit(st->commit, &r->b) : rc;
}

/* One chunk: collect, resolve, lock, remove in one batch, unlock. */
static uns_err
reclaim_chunk(rdb *st, int64_t now, size_t *n)
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
		rdb_fire_hook(st, &r->owners[i]);
	}
	*n = r->ndue;
	rdb_batch_free(&r->b);
	free(r);
	return rc;
}

uns_err
rdb_reclaim(uns_store *base, int64_t now, size_t *reclaimed)
{
	rdb *st = (rdb *)base;
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
retries_take(rdb *st)
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
			rdb_write_op_finish(
			    op,
			    uns_store_seterr(UNS_UNAVAILABLE, "store closing"),
			    false);
		} else {
			rdb_write_op_retry(op);
		}
	}
}

/* The background thread: reclaims every reclaim_interval_ms (never when
 * negative) and retries posts that found their owner full. */
static void *
background_main(void *arg)
{
	rdb *st = arg;
	struct timespec until;
	int64_t every = st->base.cfg.reclaim_interval_ms;
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
			(void)rdb_reclaim(&st->base, now_ms(st), NULL);
			uns_deadline_after_us(&until, every_us);
			pthread_mutex_lock(&st->bg_mu);
		}
	}
	list = retries_take(st);
	pthread_mutex_unlock(&st->bg_mu);
	retries_run(list, true);
	return NULL;
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
options_create(rdb *st)
{
	st->cache = rocksdb_cache_create_lru(st->knobs.block_cache_bytes);
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
	                                         st->knobs.write_buffer_bytes);
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
db_open(rdb *st)
{
	const rocksdb_options_t *cfopts[CF_COUNT];
	char *err = NULL;

	options_create(st);
	for (int i = 0; i < CF_COUNT; i++) {
		cfopts[i] = rdb_cf_prefixed[i] ? st->prefixopt : st->plainopt;
	}
	st->db = rocksdb_open_column_families(
	    st->dbopt, st->dir, CF_COUNT, rdb_cf_names, cfopts, st->cf, &err);
	return rdb_err(err, "open");
}

static void
store_free(rdb *st)
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
	pthread_mutex_destroy(&st->reclaim_mu);
	rdb_leases_free(st);
	pthread_mutex_destroy(&st->lease_mu);
	pthread_mutex_destroy(&st->bg_mu);
	pthread_cond_destroy(&st->bg_cv);
	uns_store_base_fini(&st->base);
	free(st->dir);
	free(st);
}

static rdb *
store_alloc(const uns_store_config *cfg)
{
	rdb *st = calloc(1, sizeof(*st));
	pthread_condattr_t ca;

	if (st == NULL) {
		return NULL;
	}
	uns_store_base_init(&st->base, &uns_store_rocksdb_ops, cfg);
	if (cfg->rocksdb != NULL) {
		st->knobs = *cfg->rocksdb;
	}
	if (st->knobs.block_cache_bytes == 0) {
		st->knobs.block_cache_bytes = UNS_STORE_ROCKSDB_BLOCK_CACHE;
	}
	if (st->knobs.write_buffer_bytes == 0) {
		st->knobs.write_buffer_bytes = UNS_STORE_ROCKSDB_WRITE_BUFFER;
	}
	for (int i = 0; i < NSTRIPES; i++) {
		pthread_mutex_init(&st->stripes[i].mu, NULL);
	}
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
	st->base.cfg.dir = st->dir;
	st->base.cfg.rocksdb = &st->knobs;
	return st;
}

static uns_err
threads_start(rdb *st)
{
	uns_store_commit_config cc = {
	    .max_batch = st->base.cfg.commit_max_batch,
	    .max_wait_us = st->base.cfg.commit_max_wait_us,
	    .answer_thread = st->base.cfg.commit_answer_thread,
	    .flush = rdb_flush_group,
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

static void
rdb_close(uns_store *base)
{
	rdb *st = (rdb *)base;

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

static uns_err
rdb_open(const uns_store_config *cfg, uns_store **stp)
{
	rdb *st = NULL;
	uns_err rc;

	if (cfg->dir == NULL || cfg->dir[0] == '\0') {
		return uns_store_seterr(UNS_EINVAL, "no data directory");
	}
	if ((st = store_alloc(cfg)) == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	if ((rc = db_open(st)) != UNS_OK ||
	    (rc = threads_start(st)) != UNS_OK) {
		rdb_close(&st->base);
		return rc;
	}
	*stp = &st->base;
	return UNS_OK;
}

static uns_err
rdb_stats_get(uns_store *base, uns_store_stats *out)
{
	rdb *st = (rdb *)base;
	uns_store_commit_counts c;

	if (out == NULL) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	uns_store_commit_stats(st->commit, &c);
	out->commit_batches = c.batches;
	out->commit_writes = c.writes;
	out->commit_flush_us = c.flush_us;
	out->commit_done_us = c.done_us;
	return UNS_OK;
}

const uns_store_ops uns_store_rocksdb_ops = {
    .name = "rocksdb",
    .open = rdb_open,
    .close = rdb_close,
    .stats_get = rdb_stats_get,
    .sub_put = rdb_sub_put,
    .sub_get = rdb_sub_get,
    .sub_delete_async = rdb_sub_delete_async,
    .sub_list = rdb_sub_list,
    .post_async = rdb_post_async,
    .post_keyed_async = rdb_post_keyed_async,
    .update_state_async = rdb_update_state_async,
    .get = rdb_get,
    .delete_in_hosts_async = rdb_delete_in_hosts_async,
    .delete_by_app_id_async = rdb_delete_by_app_id_async,
    .feed_read = rdb_feed_read,
    .feed_head = rdb_feed_head,
    .history = rdb_history,
    .outbox_claim = rdb_outbox_claim,
    .outbox_next_due = rdb_outbox_next_due,
    .outbox_settle = rdb_outbox_settle,
    .outbox_settle_many = rdb_outbox_settle_many,
    .outbox_count = rdb_outbox_count,
    .fetched = rdb_fetched,
    .fallback_run = rdb_fallback_run,
    .reclaim = rdb_reclaim,
};

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
