/*
 * rocksdb_outbox.c — the RocksDB backend, the outbox: taps, leases, claiming,
 * settling, the iOS fallback (design in rocksdb_impl.h).
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
lease_find(rdb *st, const char *ref)
{
	struct lease **p = &st->leases[lease_slot(ref)];

	while (*p != NULL && strcmp((*p)->ref, ref) != 0) {
		p = &(*p)->next;
	}
	return p;
}

static bool
lease_held(rdb *st, const char *ref, int64_t now)
{
	bool held;

	pthread_mutex_lock(&st->lease_mu);
	struct lease *l = *lease_find(st, ref);
	held = l != NULL && l->until > now;
	pthread_mutex_unlock(&st->lease_mu);
	return held;
}

static bool
lease_take(rdb *st, const char *ref, int64_t until)
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
lease_release(rdb *st, const char *ref)
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

void
rdb_leases_free(rdb *st)
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
tap_get(rdb *st, const char *ref, uns_store_tapval *t, bool *found)
{
	char *v = NULL;
	size_t vlen;
	uns_store_key k;
	uns_err rc;

	*found = false;
	key_ob(&k, OB_TAP, -1, ref);
	if ((rc = rdb_db_get(st, NULL, CF_OUTBOX, k.b, k.len, &v, &vlen)) !=
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
	rdb_batch_put(b, CF_OUTBOX, &k, v, uns_store_tapval_encode(t, v));
	key_ob(&k, OB_DUE, t->due_ms, ref);
	rdb_batch_put(b, CF_OUTBOX, &k, "", 0);
}

/* Removes ref's due index entry, and the tap itself if whole. */
static void
tap_unqueue(struct batch *b, const char *ref, int64_t due, bool whole)
{
	uns_store_key k;

	key_ob(&k, OB_DUE, due, ref);
	rdb_batch_del(b, CF_OUTBOX, &k);
	if (whole) {
		key_ob(&k, OB_TAP, -1, ref);
		rdb_batch_del(b, CF_OUTBOX, &k);
	}
}

/* Queues a tap of ref announcing o's (new) head; a pending one coalesces:
 * it keeps its due time and attempts, takes the new cursor and subject. */
static uns_err
tap_put(rdb *st, struct batch *b, struct owner *o, int64_t now, const char *ref,
        unsigned flags, const char *subject)
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
uns_err
rdb_taps_drop(rdb *st, struct batch *b, const char *unsid)
{
	struct scan s = {0};
	uns_err rc;

	key_ob(&s.lo, OB_TAP, -1, unsid);
	uns_store_key_successor(&s.lo, &s.hi);
	rc = rdb_scan_open(st, &s, NULL, CF_OUTBOX);
	for (; rc == UNS_OK && rdb_scan_valid(&s); rocksdb_iter_next(s.it)) {
		size_t klen, vlen;
		const unsigned char *k = rdb_scan_key(&s, &klen);
		const char *v = rdb_scan_value(&s, &vlen);
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
	uns_err rc2 = rdb_scan_close(&s);
	return rc != UNS_OK ? rc : rc2;
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
subs_each(rdb *st, const struct owner *o, int64_t now, sub_fn fn, void *arg)
{
	struct scan s = {0};
	uns_err rc;

	s.lo = o->uh;
	uns_store_key_successor(&o->uh, &s.hi);
	rc = rdb_scan_open(st, &s, NULL, CF_SUBDEV);
	for (; rc == UNS_OK && rdb_scan_valid(&s); rocksdb_iter_next(s.it)) {
		size_t vlen;
		const char *val = rdb_scan_value(&s, &vlen);
		char unsid[UNS_STORE_RID_LEN + 1];
		uns_store_srec r = {0};
		snprintf(unsid, sizeof(unsid), "%.*s", (int)vlen, val);
		if ((rc = rdb_sub_load(st, NULL, unsid, &r)) == UNS_NOT_FOUND) {
			rc = UNS_OK;
			continue;
		}
		if (rc == UNS_OK &&
		    rdb_sub_visible(&r, o->user, o->host, now)) {
			rc = fn(arg, r.s);
		}
		uns_store_srec_clear(&r);
	}
	uns_err rc2 = rdb_scan_close(&s);
	return rc != UNS_OK ? rc : rc2;
}

struct enqueue {
	rdb *st;
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
	     !uns_store_platform_listed(tp->platform_types,
	                                tp->n_platform_types, s->platform)) ||
	    (e->state && s->platform == PLATFORM(WEB_PUSH)) ||
	    (e->by != NULL && strcmp(e->by, s->unsid) == 0)) {
		return UNS_OK;
	}
	return tap_put(e->st, e->b, e->o, e->now, s->unsid,
	               e->state ? UNS_STORE_TAP_STATE : 0, e->n->id);
}

/* One tap per subscription of o that n's change should reach. */
uns_err
rdb_taps_enqueue(rdb *st, struct batch *b, struct owner *o, int64_t now,
                 const Uns__V1__Notification *n, bool state, const char *by)
{
	struct enqueue e = {st, b, o, now, n, state, by};

	return subs_each(st, o, now, enqueue_one, &e);
}

/* Fills tap's subscription and subject (each NULL when gone). */
static uns_err
tap_load(rdb *st, uns_store_tap *tap, const char *subject, int64_t now)
{
	char unsid[UNS_STORE_RID_LEN + 1];
	uns_store_srec s = {0};
	uns_store_nrec n = {0};
	uns_err rc;

	ref_unsid(tap->ref, unsid);
	rc = rdb_sub_load(st, NULL, unsid, &s);
	if (rc == UNS_OK && rdb_sub_visible(&s, tap->user, tap->host, now)) {
		tap->sub = s.s;
		s.s = NULL;
	}
	uns_store_srec_clear(&s);
	if (rc != UNS_OK && rc != UNS_NOT_FOUND) {
		return rc;
	}
	rc = subject[0] != '\0' ? rdb_notif_load(st, NULL, subject, &n)
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
claim_one(rdb *st, const char *ref, int64_t due, uns_store_taps *l, size_t *cap,
          int64_t now, int64_t until)
{
	uns_store_tapval t;
	uns_store_tap *tap;
	bool found = false;
	uns_err rc = tap_get(st, ref, &t, &found);

	if (rc != UNS_OK || !found || t.due_ms != due) {
		return rc; /* settled or moved since the index was read */
	}
	if (!rdb_grow((void **)&l->taps, cap, l->n + 1, sizeof(*l->taps), 16)) {
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
	tap->lease_until_ms = until;
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
rdb_outbox_claim(uns_store *base, size_t max, int64_t lease_ms,
                 uns_store_taps *out)
{
	rdb *st = (rdb *)base;
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
	rc = rdb_scan_open(st, &s, NULL, CF_OUTBOX);
	for (; rc == UNS_OK && rdb_scan_valid(&s) && l.n < max;
	     rocksdb_iter_next(s.it)) {
		size_t klen;
		const unsigned char *k = rdb_scan_key(&s, &klen);
		char ref[UNS_STORE_TAP_REF_MAX];
		if (timed_ref(k, klen, ref) && !lease_held(st, ref, now)) {
			rc = claim_one(st, ref,
			               (int64_t)uns_store_be64_get(k + 1), &l,
			               &cap, now, now + lease_ms);
		}
	}
	uns_err rc2 = rdb_scan_close(&s);
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
first_due(rdb *st, char kind, int64_t now, int64_t *due, bool *found)
{
	struct scan s = {0};
	uns_err rc;

	scan_kind(&s, kind);
	rc = rdb_scan_open(st, &s, NULL, CF_OUTBOX);
	for (; rc == UNS_OK && rdb_scan_valid(&s) && !*found;
	     rocksdb_iter_next(s.it)) {
		size_t klen;
		const unsigned char *k = rdb_scan_key(&s, &klen);
		char ref[UNS_STORE_TAP_REF_MAX];
		if (klen > OB_TIMED &&
		    (kind != OB_DUE ||
		     (timed_ref(k, klen, ref) && !lease_held(st, ref, now)))) {
			*due = (int64_t)uns_store_be64_get(k + 1);
			*found = true;
		}
	}
	uns_err rc2 = rdb_scan_close(&s);
	return rc != UNS_OK ? rc : rc2;
}

uns_err
rdb_outbox_next_due(uns_store *base, int64_t *due_ms)
{
	rdb *st = (rdb *)base;
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
rdb_outbox_count(uns_store *base, size_t *n)
{
	rdb *st = (rdb *)base;
	struct scan s = {0};
	size_t count = 0;
	uns_err rc;

	if (st == NULL || n == NULL) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	scan_kind(&s, OB_TAP);
	rc = rdb_scan_open(st, &s, NULL, CF_OUTBOX);
	for (; rc == UNS_OK && rdb_scan_valid(&s); rocksdb_iter_next(s.it)) {
		count++;
	}
	uns_err rc2 = rdb_scan_close(&s);
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
	uns_err rc = rdb_sub_load(w->st, NULL, unsid, &r);

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
		rdb_key_id(&k, unsid);
		rdb_batch_put(&w->b, CF_SUBS, &k, rec, len);
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
		rc = rdb_taps_drop(w->st, &w->b, unsid);
		break;
	}
	if (rc == UNS_OK && res != UNS_STORE_TAP_DEFER) {
		rc = delivery_note(w, unsid, res, error);
	}
	return rc;
}

uns_err
rdb_outbox_settle(uns_store *base, const uns_store_tap *t,
                  uns_store_tap_result res, int64_t due_ms, const char *error,
                  bool *newer)
{
	rdb *st = (rdb *)base;
	bool pending = false;
	struct wctx w;
	uns_err rc;

	if (st == NULL || t == NULL || t->user == NULL || t->host == NULL ||
	    (unsigned)res > UNS_STORE_TAP_DEAD) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if ((rc = rdb_wctx_begin(st, &w, t->user, t->host)) == UNS_OK &&
	    (rc = settle_locked(&w, t, res, due_ms, error, &pending)) ==
	        UNS_OK &&
	    (rc = rdb_wctx_commit(&w)) == UNS_OK) {
		lease_release(st, t->ref);
		if (newer != NULL) {
			*newer = pending;
		}
	}
	rdb_wctx_end(&w, rc);
	return rc;
}

/* Locks the stripes of every settled tap's owner, in ascending order
 * (as reclaim does), so no writer of those owners runs meanwhile. */
static uns_err
settle_lock(rdb *st, const uns_store_settle *v, size_t n, bool *locked)
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
			rdb_stripe_lock(&st->stripes[i]);
		}
	}
	return UNS_OK;
}

uns_err
rdb_outbox_settle_many(uns_store *base, uns_store_settle *v, size_t n)
{
	rdb *st = (rdb *)base;
	bool *locked = NULL;
	struct wctx w = {0};
	uns_err rc;

	if (st == NULL || (n > 0 && v == NULL) || !uns_store_settles_ok(v, n)) {
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
		v[i].newer = v[i].lost = false;
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
			rdb_stripe_unlock(&st->stripes[i]);
		}
	}
	for (size_t i = 0; rc == UNS_OK && i < n; i++) {
		lease_release(st, v[i].tap->ref);
	}
	rdb_batch_free(&w.b);
	free(locked);
	return rc;
}

/* --- iOS fallback -------------------------------------------------------- */

/* (Re)schedules the fallback check of n (old: its stored state, or NULL). */
uns_err
rdb_fallback_schedule(struct wctx *w, const Uns__V1__Notification *n,
                      const uns_store_nrec *old)
{
	unsigned char due8[8];
	char *v = NULL;
	size_t vlen;
	uns_store_key k;
	int64_t due;
	uns_err rc;

	if (uns_store_fallback_ms(n) == 0 &&
	    (old == NULL || uns_store_fallback_ms(old->n) == 0)) {
		return UNS_OK;
	}
	key_ob(&k, OB_PENDING, -1, n->id);
	rc = rdb_db_get(w->st, NULL, CF_OUTBOX, k.b, k.len, &v, &vlen);
	if (rc == UNS_OK && vlen == 8) {
		uns_store_key b;
		key_ob(&b, OB_FB,
		       (int64_t)uns_store_be64_get((const unsigned char *)v),
		       n->id);
		rdb_batch_del(&w->b, CF_OUTBOX, &b);
	}
	rocksdb_free(v);
	if (rc != UNS_OK && rc != UNS_NOT_FOUND) {
		return rc;
	}
	rdb_batch_del(&w->b, CF_OUTBOX, &k);
	if (uns_store_fallback_ms(n) > 0) {
		due = w->now + uns_store_fallback_ms(n);
		uns_store_be64_put(due8, (uint64_t)due);
		rdb_batch_put(&w->b, CF_OUTBOX, &k, due8, sizeof(due8));
		key_ob(&k, OB_FB, due, n->id);
		rdb_batch_put(&w->b, CF_OUTBOX, &k, w->o.uh.b, w->o.uh.len);
	}
	return UNS_OK;
}

/* Marks what op->id (a UNSID) fetched: only ids with a pending fallback
 * check are written, so most Fetches write nothing and end at once. */
uns_err
rdb_fetched_body(struct write_op *op)
{
	struct wctx *w = &op->w;
	uns_err rc = UNS_OK;

	for (size_t i = 0; i < op->n_ids && rc == UNS_OK; i++) {
		char *v = NULL;
		size_t vlen;
		uns_store_key k;
		if (!rdb_rid_ok(op->ids[i])) {
			continue;
		}
		key_ob(&k, OB_PENDING, -1, op->ids[i]);
		rc = rdb_db_get(w->st, NULL, CF_OUTBOX, k.b, k.len, &v, &vlen);
		rocksdb_free(v);
		if (rc == UNS_OK) {
			key_ob(&k, OB_FETCHED, -1, op->ids[i]);
			uns_store_key_str(&k, op->id);
			rdb_batch_put(&w->b, CF_OUTBOX, &k, "", 0);
		}
		rc = rc == UNS_NOT_FOUND ? UNS_OK : rc;
	}
	return rc;
}

struct fallback {
	rdb *st;
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
	rc = rdb_db_get(f->st, NULL, CF_OUTBOX, k.b, k.len, &v, &vlen);
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
	rdb_batch_del(&w->b, CF_OUTBOX, &k);
	key_ob(&k, OB_PENDING, -1, id);
	rdb_batch_del(&w->b, CF_OUTBOX, &k);
	key_ob(&s.lo, OB_FETCHED, -1, id);
	uns_store_key_successor(&s.lo, &s.hi);
	rc = rdb_scan_open(w->st, &s, NULL, CF_OUTBOX);
	for (; rc == UNS_OK && rdb_scan_valid(&s); rocksdb_iter_next(s.it)) {
		size_t klen;
		const unsigned char *key = rdb_scan_key(&s, &klen);
		rdb_batch_op(&w->b, CF_OUTBOX, true, key, klen, NULL, 0);
	}
	uns_err rc2 = rdb_scan_close(&s);
	return rc != UNS_OK ? rc : rc2;
}

/* The due check of notification id, owner given by its uh key. */
static uns_err
fallback_check(rdb *st, const char *id, int64_t due, const unsigned char *uh,
               size_t uhlen, size_t *queued)
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
	if ((rc = rdb_wctx_begin(st, &w, user, host)) != UNS_OK) {
		goto out;
	}
	rc = rdb_notif_load_visible(st, user, host, id, w.now, &n);
	if (rc == UNS_OK) {
		struct fallback f = {st, &w, id};
		rc = subs_each(st, &w.o, w.now, fallback_one, &f);
	}
	rc = rc == UNS_NOT_FOUND ? UNS_OK : rc;
	if (rc == UNS_OK && (rc = fallback_forget(&w, id, due)) == UNS_OK &&
	    (rc = rdb_wctx_commit(&w)) == UNS_OK) {
		*queued += w.o.taps;
	}
out:
	rdb_wctx_end(&w, rc);
	uns_store_nrec_clear(&n);
	return rc;
}

/* Runs up to FB_CHUNK due checks; *n gets how many were due. */
static uns_err
fallback_chunk(rdb *st, int64_t now, size_t *n, size_t *queued)
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
	rc = rdb_scan_open(st, &s, NULL, CF_OUTBOX);
	for (; rc == UNS_OK && rdb_scan_valid(&s) && nd < FB_CHUNK;
	     rocksdb_iter_next(s.it)) {
		size_t klen, vlen;
		const unsigned char *k = rdb_scan_key(&s, &klen);
		const char *v = rdb_scan_value(&s, &vlen);
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
	uns_err rc2 = rdb_scan_close(&s);
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
rdb_fallback_run(uns_store *base, size_t *queued)
{
	rdb *st = (rdb *)base;
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
