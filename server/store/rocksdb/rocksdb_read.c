/*
 * rocksdb_read.c — the RocksDB backend, reads: the feed and history (design in
 * rocksdb_impl.h).
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
 * Feed
 * ====================================================================== */

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
feed_entry(rdb *st, const struct view *v, const uns_store_feedval *fv,
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
		rc = rdb_notif_load_with(st, v->ro, fv->id, &a->pb, &r);
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
feed_scan(rdb *st, const struct view *v, const struct owner *o, uint64_t after,
          uint32_t limit, uns_store_feed_page *p, uint64_t *last)
{
	struct scan s = {0};
	int64_t now = now_ms(st);
	uns_store_feedval fv;
	uns_err rc;

	*last = after;
	if (after >= o->head) {
		return UNS_OK;
	}
	rdb_key_feed(&s.lo, &o->uh, after + 1);
	rdb_key_feed(&s.hi, &o->uh, o->head + 1);
	rc = rdb_scan_open(st, &s, v, CF_FEED);
	for (; rc == UNS_OK && rdb_scan_valid(&s); rocksdb_iter_next(s.it)) {
		size_t klen, vlen;
		const unsigned char *k = rdb_scan_key(&s, &klen);
		const char *val = rdb_scan_value(&s, &vlen);
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
	uns_err rc2 = rdb_scan_close(&s);
	return rc != UNS_OK ? rc : rc2;
}

uns_err
rdb_feed_read(uns_store *base, const char *user, const char *host,
              const char *cursor, uint32_t limit, uns_store_feed_page *out)
{
	rdb *st = (rdb *)base;
	uns_store_feed_page p = {0};
	struct view v = {0};
	struct owner o;
	uint64_t after, last;
	uns_err rc;

	limit = limit != 0 ? limit : UNS_STORE_FEED_LIMIT;
	if (st == NULL || out == NULL || limit > UNS_STORE_FEED_LIMIT_MAX) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if ((rc = rdb_owner_init(&o, user, host)) != UNS_OK ||
	    (rc = rdb_view_open(st, &v)) != UNS_OK ||
	    (rc = rdb_owner_load(st, v.ro, &o)) != UNS_OK ||
	    (rc = feed_start(cursor, o.head, &after)) != UNS_OK) {
		goto out;
	}
	if ((p.arena = uns_store_arena_new()) == NULL ||
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
	rdb_view_close(st, &v);
	uns_store_feed_page_free(&p);
	return rc;
}

uns_err
rdb_feed_head(uns_store *base, const char *user, const char *host,
              char **cursor)
{
	rdb *st = (rdb *)base;
	struct owner o;
	char *c;
	uns_err rc;

	if (st == NULL || cursor == NULL) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if ((rc = rdb_owner_init(&o, user, host)) != UNS_OK ||
	    (rc = rdb_owner_load(st, NULL, &o)) != UNS_OK) {
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
hist_take(rdb *st, const struct view *v, const unsigned char *key, size_t klen,
          uns_store_history_page *p)
{
	char id[UNS_STORE_RID_LEN + 1];
	uns_store_nrec r = {0};
	uns_err rc;

	snprintf(id, sizeof(id), "%.*s", UNS_STORE_RID_LEN,
	         (const char *)key + klen - UNS_STORE_RID_LEN);
	rc = rdb_notif_load_with(st, v->ro, id, &p->arena->pb, &r);
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
hist_scan(rdb *st, const struct view *v, const struct owner *o,
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
	rc = rdb_scan_open(st, &s, v, CF_HIST);
	for (; rc == UNS_OK && rdb_scan_valid(&s); rocksdb_iter_next(s.it)) {
		size_t klen, vlen;
		const unsigned char *k = rdb_scan_key(&s, &klen);
		const char *val = rdb_scan_value(&s, &vlen);
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
	uns_err rc2 = rdb_scan_close(&s);
	return rc != UNS_OK ? rc : rc2;
}

uns_err
rdb_history(uns_store *base, const char *user, const char *host,
            const uns_store_history_query *q, uns_store_history_page *out)
{
	rdb *st = (rdb *)base;
	uns_store_history_page p = {0};
	struct view v = {0};
	struct owner o;
	uint32_t size;
	uns_err rc;

	if (st == NULL || q == NULL || out == NULL ||
	    q->page_size > UNS_STORE_HISTORY_PAGE_MAX ||
	    (unsigned)q->status > 2 || (unsigned)q->read_state > 2 ||
	    (unsigned)q->user_action_state > 4) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	size = q->page_size != 0 ? q->page_size : UNS_STORE_HISTORY_PAGE;
	if ((rc = rdb_owner_init(&o, user, host)) != UNS_OK ||
	    (rc = rdb_view_open(st, &v)) != UNS_OK) {
		goto out;
	}
	if ((p.arena = uns_store_arena_new()) == NULL ||
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
	rdb_view_close(st, &v);
	uns_store_history_page_free(&p);
	return rc;
}

/* ======================================================================
 * Next expiry
 * ====================================================================== */

/* The expiry family is in time order: its first key of ours is the next
 * thing reclaim removes (rocksdb_open.c's reclaim_collect reads the same). */
uns_err
rdb_next_expiry(uns_store *base, int64_t *when_ms)
{
	rdb *st = (rdb *)base;
	struct scan s = {0};
	bool found = false;
	uns_err rc;

	uns_store_key_u64(&s.lo, 0);
	uns_store_key_u64(&s.hi, UINT64_MAX);
	rc = rdb_scan_open(st, &s, NULL, CF_EXPIRY);
	for (; rc == UNS_OK && rdb_scan_valid(&s) && !found;
	     rocksdb_iter_next(s.it)) {
		size_t klen;
		const unsigned char *k = rdb_scan_key(&s, &klen);
		if (klen > EXP_PREFIX_LEN && klen <= UNS_STORE_KEY_MAX) {
			*when_ms = (int64_t)uns_store_be64_get(k);
			found = true;
		}
	}
	uns_err rc2 = rdb_scan_close(&s);
	rc = rc != UNS_OK ? rc : rc2;
	return rc == UNS_OK && !found ? UNS_NOT_FOUND : rc;
}
