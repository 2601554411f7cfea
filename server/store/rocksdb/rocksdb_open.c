/*
 * rocksdb_open.c — the RocksDB backend, reclaim and its round on the
 * store's thread, open and close, the benchmark floor (design in
 * rocksdb_impl.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "clock.h"
#include "errors.h"
#include "rocksdb_impl.h"
#include "rocksdb_wal.h"

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

/* The background thread's round (store_base.c): a reclaim every
 * reclaim_interval_ms (never when negative). */
static int64_t
rdb_jobs_round(uns_store *base)
{
	rdb *st = (rdb *)base;

	(void)rdb_reclaim(base, now_ms(st), NULL);
	return st->base.cfg.reclaim_interval_ms;
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
	/* The recovery mode is chosen at open (wal_decide). */
	rocksdb_options_set_paranoid_checks(st->dbopt, 1);
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
	rocksdb_readoptions_set_verify_checksums(st->ropt, 1);
	st->scratch = rocksdb_writebatch_create();
}

/* ======================================================================
 * The write-ahead log at open (docs/store.md, "Corruption")
 *
 * Every write is acknowledged only after its group's WAL sync, so a crash
 * can only tear what was written after the last sync: a torn last record
 * of the newest log is a write nobody was told succeeded. Damage with
 * intact records after it is not that: those records were synced, so
 * acknowledged, and RocksDB's point-in-time recovery would drop them
 * without a word. The log is scanned before RocksDB sees it
 * (rocksdb_wal.h): intact logs open with absolute consistency (any
 * corruption RocksDB finds refuses too); a torn tail of the newest log
 * opens with point-in-time recovery, which drops exactly that tail, said
 * in the open note; damage refuses to open, naming the file, unless the
 * store is opened to salvage it. A tail cut by hand looks like a torn one
 * and is treated as one: reported, not silent. RocksDB leaves an empty
 * log at a clean close (it flushes the memtables), so a torn tail only
 * ever follows a crash.
 * ====================================================================== */

#define MAX_WALS 64

struct wal {
	uint64_t number;
	char path[4096];
	uns_wal_scan scan;
};

struct wal_report {
	struct wal v[MAX_WALS];
	size_t n;
	int damaged; /* index of the first damaged log, or -1 */
	int torn;    /* index of a torn newest log, or -1 */
};

static int
wal_number(const char *name, uint64_t *n)
{
	char *end = NULL;
	if (name[0] < '0' || name[0] > '9') {
		return 0;
	}
	*n = strtoull(name, &end, 10);
	return end != NULL && strcmp(end, ".log") == 0;
}

static int
wal_cmp(const void *a, const void *b)
{
	const struct wal *x = a, *y = b;
	return x->number < y->number ? -1 : x->number > y->number;
}

static uns_err
wal_scan_file(struct wal *w)
{
	struct stat sb;
	int fd = open(w->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0) {
		if (fd >= 0) {
			close(fd);
		}
		return uns_store_seterr(UNS_EIO, "cannot read %s: %s", w->path,
		                        strerror(errno));
	}
	size_t n = (size_t)sb.st_size;
	void *p = n ? mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	close(fd);
	if (n && p == MAP_FAILED) {
		return uns_store_seterr(UNS_EIO, "cannot map %s: %s", w->path,
		                        strerror(errno));
	}
	uns_wal_scan_buf(p, n, &w->scan);
	if (n) {
		munmap(p, n);
	}
	return UNS_OK;
}

/* Scans every log of dir (none when dir does not exist yet). */
static uns_err
wal_survey(const char *dir, struct wal_report *r)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	uns_err rc = UNS_OK;
	r->n = 0;
	r->damaged = r->torn = -1;
	if (d == NULL) {
		return UNS_OK;
	}
	while ((e = readdir(d)) != NULL && r->n < MAX_WALS) {
		struct wal *w = &r->v[r->n];
		if (wal_number(e->d_name, &w->number)) {
			snprintf(w->path, sizeof(w->path), "%s/%s", dir,
			         e->d_name);
			r->n++;
		}
	}
	closedir(d);
	qsort(r->v, r->n, sizeof(r->v[0]), wal_cmp);
	for (size_t i = 0; i < r->n && rc == UNS_OK; i++) {
		rc = wal_scan_file(&r->v[i]);
		uns_wal_state s = r->v[i].scan.state;
		bool newest = i + 1 == r->n;
		if (r->damaged < 0 && (s == UNS_WAL_DAMAGED ||
		                       (s == UNS_WAL_TORN_TAIL && !newest))) {
			r->damaged = (int)i;
		} else if (s == UNS_WAL_TORN_TAIL && newest) {
			r->torn = (int)i;
		}
	}
	return rc;
}

/* What point-in-time recovery drops from the damaged log on: the rest of
 * it and every later log. */
static void
wal_dropped(const struct wal_report *r, uint64_t *batches, uint64_t *writes)
{
	const uns_wal_scan *d = &r->v[r->damaged].scan;
	*batches = d->after_batches;
	*writes = d->after_writes;
	for (size_t i = (size_t)r->damaged + 1; i < r->n; i++) {
		*batches += r->v[i].scan.batches;
		*writes += r->v[i].scan.writes;
	}
}

/* Copies the regular files of dir into a new to (the store is flat). */
static uns_err
copy_dir(const char *dir, const char *to)
{
	char src[4096], dst[4096], buf[1 << 16];
	struct dirent *e;
	uns_err rc = UNS_OK;
	DIR *d;
	if (mkdir(to, 0700) != 0 || (d = opendir(dir)) == NULL) {
		return uns_store_seterr(UNS_EIO, "cannot copy %s to %s: %s",
		                        dir, to, strerror(errno));
	}
	while (rc == UNS_OK && (e = readdir(d)) != NULL) {
		struct stat sb;
		snprintf(src, sizeof(src), "%s/%s", dir, e->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", to, e->d_name);
		if (lstat(src, &sb) != 0 || !S_ISREG(sb.st_mode)) {
			continue;
		}
		int in = open(src, O_RDONLY | O_CLOEXEC);
		int out =
		    open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		ssize_t got = 0;
		while (in >= 0 && out >= 0 &&
		       (got = read(in, buf, sizeof(buf))) > 0) {
			if (write(out, buf, (size_t)got) != got) {
				got = -1;
				break;
			}
		}
		if (in < 0 || out < 0 || got < 0 || fsync(out) != 0) {
			rc = uns_store_seterr(UNS_EIO, "cannot copy %s: %s",
			                      src, strerror(errno));
		}
		if (in >= 0) {
			close(in);
		}
		if (out >= 0) {
			close(out);
		}
	}
	closedir(d);
	return rc;
}

/* Chooses the recovery mode, or refuses; fills st->base.opened. */
static uns_err
wal_decide(rdb *st, int *mode)
{
	struct wal_report *r = calloc(1, sizeof(*r));
	char copy[4200], stamp[32];
	uint64_t batches = 0, writes = 0;
	uns_err rc;
	*mode = 1; /* absolute consistency */
	if (r == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	if ((rc = wal_survey(st->dir, r)) != UNS_OK) {
		goto out;
	}
	if (r->damaged >= 0) {
		const struct wal *w = &r->v[r->damaged];
		wal_dropped(r, &batches, &writes);
		if (!st->base.cfg.salvage) {
			rc = uns_store_seterr(
			    UNS_DATA_LOSS,
			    "write-ahead log %s is damaged at byte %zu of %zu "
			    "(%s); %llu intact write batches (%llu writes) "
			    "after it, acknowledged, would be lost: refusing "
			    "to "
			    "open, nothing changed. To keep a copy and recover "
			    "every write before the damage, start once with "
			    "unsd --salvage (docs/store.md)",
			    w->path, w->scan.good_end, w->scan.size,
			    w->scan.why, (unsigned long long)batches,
			    (unsigned long long)writes);
			goto out;
		}
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
		snprintf(copy, sizeof(copy), "%s.salvage-%s", st->dir, stamp);
		if ((rc = copy_dir(st->dir, copy)) != UNS_OK) {
			goto out;
		}
		*mode = 2; /* point in time: up to the damage */
		uns_say(st->base.opened, sizeof(st->base.opened),
		        "salvaged: %s was damaged at byte %zu (%s); dropped "
		        "%llu write batches (%llu writes) from there on; the "
		        "store as it was is in %s",
		        w->path, w->scan.good_end, w->scan.why,
		        (unsigned long long)batches + 1,
		        (unsigned long long)writes, copy);
	} else if (r->torn >= 0) {
		const struct wal *w = &r->v[r->torn];
		*mode = 2;
		uns_say(st->base.opened, sizeof(st->base.opened),
		        "dropped a torn last record of %s (%zu bytes from byte "
		        "%zu: %s), written after the last sync by a write "
		        "never acknowledged",
		        w->path, w->scan.size - w->scan.good_end,
		        w->scan.good_end, w->scan.why);
	}
out:
	free(r);
	return rc;
}

static uns_err
db_open(rdb *st)
{
	const rocksdb_options_t *cfopts[CF_COUNT];
	char *err = NULL;
	int mode = 1;
	uns_err rc;

	options_create(st);
	(void)mkdir(st->dir, 0700);
	if ((rc = rdb_disk_check(st)) != UNS_OK ||
	    (rc = wal_decide(st, &mode)) != UNS_OK) {
		return rc;
	}
	rocksdb_options_set_wal_recovery_mode(st->dbopt, mode);
	for (int i = 0; i < CF_COUNT; i++) {
		cfopts[i] = rdb_cf_prefixed[i] ? st->prefixopt : st->plainopt;
	}
	st->db = rocksdb_open_column_families(
	    st->dbopt, st->dir, CF_COUNT, rdb_cf_names, cfopts, st->cf, &err);
	rc = rdb_err(err, "open");
	if (rc == UNS_DATA_LOSS && mode == 1) {
		/* Damage the scan did not see (a file other than the log):
		 * RocksDB's own words, and the way out. */
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", uns_store_errmsg());
		rc = uns_store_seterr(
		    UNS_DATA_LOSS, "%s: refusing to open (docs/store.md)", msg);
	}
	return rc;
}

/* Writes can be made unless the disk is below min_free_bytes; the note
 * says so, or tells what open did and whether reads met corruption. */
static int
rdb_health(uns_store *base, char *note, size_t cap)
{
	rdb *st = (rdb *)base;
	uint64_t bad = rdb_corruptions();
	if (rdb_disk_check(st) != UNS_OK) {
		snprintf(note, cap, "%s", uns_store_errmsg());
		return 0;
	}
	if (bad > 0) {
		snprintf(note, cap,
		         "%llu reads found corruption since start (checksums "
		         "are verified on every read)%s%s",
		         (unsigned long long)bad, base->opened[0] ? "; " : "",
		         base->opened);
		return 1;
	}
	note[0] = '\0';
	return 1;
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
	uns_store_base_fini(&st->base);
	free(st->dir);
	free(st);
}

static rdb *
store_alloc(const uns_store_config *cfg)
{
	rdb *st = calloc(1, sizeof(*st));

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
	return uns_store_jobs_start(&st->base,
	                            st->base.cfg.reclaim_interval_ms);
}

static void
rdb_close(uns_store *base)
{
	rdb *st = (rdb *)base;

	uns_store_jobs_stop(&st->base);
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
    .fetched_async = rdb_fetched_async,
    .fallback_run = rdb_fallback_run,
    .reclaim = rdb_reclaim,
    .next_expiry = rdb_next_expiry,
    .keys = &uns_store_rocksdb_keys,
    .jobs_round = rdb_jobs_round,
    .health = rdb_health,
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
