/*
 * rocksdb_write.c — the RocksDB backend, writes: notifications (post, update
 * state, delete) as operations no thread waits for, and subscriptions (design
 * in rocksdb_impl.h).
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
 * Notifications: loading and writing
 * ====================================================================== */

bool
rdb_rid_ok(const char *id)
{
	return id != NULL &&
	       strnlen(id, UNS_STORE_RID_LEN + 1) == UNS_STORE_RID_LEN;
}

/* Loads the record of id, its message unpacked through pb (NULL = malloc);
 * UNS_NOT_FOUND for a malformed or absent id. */
uns_err
rdb_notif_load_with(rdb *st, const rocksdb_readoptions_t *ro, const char *id,
                    ProtobufCAllocator *pb, uns_store_nrec *r)
{
	char *v = NULL;
	size_t vlen;
	uns_err rc;

	if (!rdb_rid_ok(id)) {
		return UNS_NOT_FOUND;
	}
	rc = rdb_db_get(st, ro, CF_NOTIF, id, UNS_STORE_RID_LEN, &v, &vlen);
	if (rc == UNS_OK) {
		rc = uns_store_nrec_decode_with(v, vlen, pb, r);
		rocksdb_free(v);
	}
	return rc;
}

uns_err
rdb_notif_load(rdb *st, const rocksdb_readoptions_t *ro, const char *id,
               uns_store_nrec *r)
{
	return rdb_notif_load_with(st, ro, id, NULL, r);
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
uns_err
rdb_notif_load_visible(rdb *st, const char *user, const char *host,
                       const char *id, int64_t now, uns_store_nrec *r)
{
	uns_err rc = rdb_notif_load(st, NULL, id, r);

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
uint64_t
rdb_feed_move(struct batch *b, struct owner *o, uint64_t old_seq,
              Uns__V1__RemovedReason why, uint64_t version, const char *id)
{
	uns_store_feedval fv = {.removed = why, .version = version};
	unsigned char v[UNS_STORE_FEEDVAL_MAX];
	uns_store_key k;

	if (old_seq != 0) {
		rdb_key_feed(&k, &o->uh, old_seq);
		rdb_batch_del(b, CF_FEED, &k);
	}
	snprintf(fv.id, sizeof(fv.id), "%s", id);
	o->head++;
	o->dirty = o->moved = true;
	rdb_key_feed(&k, &o->uh, o->head);
	rdb_batch_put(b, CF_FEED, &k, v, uns_store_feedval_encode(&fv, v));
	return o->head;
}

static void
expiry_put(struct batch *b, int64_t when, char kind, const char *ref, bool del)
{
	uns_store_key k;

	rdb_key_expiry(&k, when, kind, ref, strlen(ref));
	if (del) {
		rdb_batch_del(b, CF_EXPIRY, &k);
	} else {
		rdb_batch_put(b, CF_EXPIRY, &k, "", 0);
	}
}

void
rdb_expiry_tombstone(struct batch *b, const struct owner *o, int64_t when,
                     uint64_t seq)
{
	uns_store_key ref, k;

	rdb_key_feed(&ref, &o->uh, seq);
	rdb_key_expiry(&k, when, EXP_TOMBSTONE, ref.b, ref.len);
	rdb_batch_put(b, CF_EXPIRY, &k, "", 0);
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
	uint64_t seq = rdb_feed_move(b, o, old != NULL ? old->feed_seq : 0, why,
	                             n->version, n->id);
	size_t len;
	uns_store_key k;
	uns_err rc;

	if ((rc = uns_store_nrec_encode(o->user, seq, n, &rec, &len)) !=
	    UNS_OK) {
		return rc;
	}
	rdb_key_id(&k, n->id);
	rdb_batch_put(b, CF_NOTIF, &k, rec, len);
	rc = out != NULL ? notif_from_rec(rec, len, out) : UNS_OK;
	free(rec);
	rdb_key_hist(&k, o, n->created_time_ms, n->id);
	rdb_batch_put(b, CF_HIST, &k, hv, uns_store_histval_encode(n, hv));
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

/* The live notification that (owner, app id) names, if any. */
static uns_err
appid_find(struct wctx *w, const char *app_id, uns_store_nrec *r, bool *found)
{
	char *v = NULL, id[UNS_STORE_RID_LEN + 1];
	size_t vlen;
	uns_store_key k;
	uns_err rc;

	*found = false;
	rdb_key_owned(&k, &w->o, app_id);
	rc = rdb_db_get(w->st, NULL, CF_APPID, k.b, k.len, &v, &vlen);
	if (rc != UNS_OK) {
		return rc == UNS_NOT_FOUND ? UNS_OK : rc;
	}
	snprintf(id, sizeof(id), "%.*s", (int)vlen, v);
	rocksdb_free(v);
	rc = rdb_notif_load_visible(w->st, w->o.user, w->o.host, id, w->now, r);
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
		rc = rdb_taps_enqueue(w->st, &w->b, &w->o, w->now, n, false,
		                      NULL);
	}
	return rc == UNS_OK ? rdb_fallback_schedule(w, n, old) : rc;
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
created_after_newest(rdb *st, struct owner *o, int64_t now, int64_t *created)
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
	if ((rc = rdb_scan_open(st, &s, NULL, CF_HIST)) == UNS_OK &&
	    rdb_scan_valid(&s)) {
		size_t klen;
		const unsigned char *k = rdb_scan_key(&s, &klen);
		if (klen >= o->uh.len + 8) {
			int64_t newest =
			    (int64_t)~uns_store_be64_get(k + o->uh.len);
			*created = newest >= now ? newest + 1 : now;
		}
	}
	uns_err close_rc = rdb_scan_close(&s);
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

	if (w->o.live >= w->st->base.cfg.max_live) {
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
	rdb_key_owned(&k, &w->o, in->app_notification_id);
	rdb_batch_put(&w->b, CF_APPID, &k, id, UNS_STORE_RID_LEN);
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
rdb_get(uns_store *base, const char *user, const char *host, const char *id,
        Uns__V1__Notification **out)
{
	rdb *st = (rdb *)base;
	uns_store_nrec r = {0};
	uns_err rc;

	if (st == NULL || out == NULL || !uns_store_id_ok(user) ||
	    !uns_store_id_ok(host)) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	rc = rdb_notif_load_visible(st, user, host, id, now_ms(st), &r);
	if (rc == UNS_OK) {
		*out = r.n;
		r.n = NULL;
	}
	return rc;
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

	rc =
	    rdb_notif_load_visible(w->st, w->o.user, w->o.host, id, w->now, &r);
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
			rdb_key_owned(&k, &w->o, n.app_notification_id);
			rdb_batch_del(&w->b, CF_APPID, &k);
		}
		rc = notif_write(
		    &w->b, &w->o, &r, &n,
		    c->delete_ ? UNS__V1__REMOVED_REASON__REMOVED_REASON_DELETED
		               : 0,
		    out);
		if (rc == UNS_OK) {
			rc = rdb_taps_enqueue(w->st, &w->b, &w->o, w->now, &n,
			                      true, c->by_unsid);
		}
	}
	uns_store_nrec_clear(&r);
	return rc;
}

/* ======================================================================
 * Writes no thread waits for: Post and UpdateState
 * ====================================================================== */

static void write_op_start(struct write_op *op);

static void write_op_retry(uns_store_job *j, bool closing);

/* The post found its owner at max_live: the store's thread reclaims
 * expired notifications and runs it once more (write_op_retry). Not here:
 * reclaim waits for stripes, and this may be the committer thread, which
 * must never wait. */
static bool
write_op_retry_later(struct write_op *op)
{
	op->retry.run = write_op_retry;
	return uns_store_jobs_add(&op->w.st->base, &op->retry);
}

/* Lets the owner's next write run (if holding its stripe), wakes the
 * feed's watchers and reports rc, in the order a blocking write has: the
 * watchers know before the writer returns. A failure is reported before
 * the stripe goes, so that no other write's error message (thread-local;
 * the next write may run on this thread) replaces this one's before done
 * reads it. */
void
rdb_write_op_finish(struct write_op *op, uns_err rc, bool holding)
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
		rdb_stripe_unlock(w->lock);
	}
	if (rc == UNS_OK) {
		rdb_fire_hook(w->st, &w->o);
		op->done(op->arg, rc, op->res, op->created);
	}
	rdb_batch_free(&w->b);
	free(op->owned);
	free(op);
}

/* With the stripe held: ends op, or hands it to a reclaim and retry. */
static void
write_op_end(struct write_op *op, uns_err rc)
{
	if (rc != UNS_RESOURCE_EXHAUSTED || !op->may_retry || op->retried) {
		rdb_write_op_finish(op, rc, true);
		return;
	}
	rdb_stripe_unlock(op->w.lock);
	rdb_batch_free(&op->w.b);
	if (!write_op_retry_later(op)) {
		rdb_write_op_finish(
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

/* ======================================================================
 * Idempotency keys (store.h, uns_store_idem): a record under the owner's
 * key, read and written under the owner's stripe in the post's own batch,
 * so the check and the post are one atomic step and survive a crash alike.
 * ====================================================================== */

static void
idem_key(uns_store_key *k, const struct owner *o, const uns_store_idem *idem)
{
	rdb_key_owned(k, o, idem->key);
}

/* The live record of op's key, if any: its first answer goes to op (and
 * *replay is set), or another fingerprint fails it. */
static uns_err
idem_find(struct write_op *op, bool *replay)
{
	struct wctx *w = &op->w;
	uns_store_idemrec r;
	uns_store_key k;
	char *v = NULL;
	size_t vlen;
	uns_err rc;

	*replay = false;
	idem_key(&k, &w->o, op->idem);
	rc = rdb_db_get(w->st, NULL, CF_IDEM, k.b, k.len, &v, &vlen);
	if (rc != UNS_OK) {
		return rc == UNS_NOT_FOUND ? UNS_OK : rc;
	}
	rc = uns_store_idemrec_decode(v, vlen, false, &r);
	if (rc == UNS_OK && r.expires_ms <= w->now) {
		goto out; /* forgotten: this post starts anew */
	}
	if (rc == UNS_OK &&
	    memcmp(r.fingerprint, op->idem->fingerprint, 32) != 0) {
		rc = uns_store_seterr(UNS_ALREADY_EXISTS,
		                      "the idempotency key was used for "
		                      "another request");
		goto out;
	}
	if (rc == UNS_OK &&
	    (rc = uns_store_idemrec_decode(v, vlen, true, &r)) == UNS_OK) {
		op->res = r.n;
		op->created = r.created;
		*replay = true;
	}
out:
	rocksdb_free(v);
	return rc;
}

/* The record of a post that just succeeded (op->res), in its batch. */
static uns_err
idem_write(struct write_op *op)
{
	struct wctx *w = &op->w;
	uns_store_idemrec r = {.expires_ms = w->now + op->idem->window_ms,
	                       .created = op->created,
	                       .n = op->res};
	uns_store_key k, e;
	unsigned char *v = NULL;
	size_t vlen;
	uns_err rc;

	memcpy(r.fingerprint, op->idem->fingerprint, 32);
	if ((rc = uns_store_idemrec_encode(&r, &v, &vlen)) != UNS_OK) {
		return rc;
	}
	idem_key(&k, &w->o, op->idem);
	rdb_batch_put(&w->b, CF_IDEM, &k, v, vlen);
	free(v);
	rdb_key_expiry(&e, r.expires_ms, EXP_IDEM, k.b, k.len);
	rdb_batch_put(&w->b, CF_EXPIRY, &e, "", 0);
	return UNS_OK;
}

/* A Post: create or replace. */
static uns_err
post_body(struct write_op *op)
{
	struct wctx *w = &op->w;
	uns_store_nrec old = {0};
	int64_t expiration = 0;
	bool found = false, replay = false;
	uns_err rc;

	if (op->idem != NULL &&
	    ((rc = idem_find(op, &replay)) != UNS_OK || replay)) {
		return rc; /* refused, or the first answer: nothing to write */
	}
	if ((rc = uns_store_post_check(&w->st->base, op->in, w->now,
	                               &expiration)) == UNS_OK &&
	    (rc = appid_find(w, op->in->app_notification_id, &old, &found)) ==
	        UNS_OK) {
		rc = found ? post_replace(w, &old, op->in, expiration, &op->res)
		           : post_create(w, op->in, expiration, &op->res);
	}
	uns_store_nrec_clear(&old);
	op->created = !found;
	if (rc == UNS_OK && op->idem != NULL) {
		rc = idem_write(op);
	}
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

	if ((rc = rdb_wctx_load(w)) == UNS_OK &&
	    (rc = op->body(op)) == UNS_OK) {
		rdb_owner_save(&w->b, &w->o);
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
	if (rdb_stripe_take_or_queue(op->w.lock, &op->wait)) {
		write_op_body(op);
	}
}

/* On the store's thread: reclaim, then the post's second and last try
 * (or, closing, its end). */
static void
write_op_retry(uns_store_job *j, bool closing)
{
	struct write_op *op =
	    (struct write_op *)((char *)j - offsetof(struct write_op, retry));
	uns_err rc = closing
	                 ? uns_store_seterr(UNS_UNAVAILABLE, "store closing")
	                 : rdb_reclaim(&op->w.st->base, now_ms(op->w.st), NULL);

	op->retried = true;
	if (rc != UNS_OK) {
		rdb_write_op_finish(op, rc, false);
		return;
	}
	write_op_start(op);
}

/* A new write_op for (user, host), or NULL after done has been told why
 * not (args_ok false: the caller's other arguments were bad). */
static struct write_op *
write_op_new(rdb *st, const char *user, const char *host, bool args_ok,
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
	if ((rc = rdb_wctx_init(st, &op->w, user, host)) != UNS_OK) {
		free(op);
		done(arg, rc, NULL, false);
		return NULL;
	}
	return op;
}

void
rdb_post_keyed_async(uns_store *base, const char *user, const char *host,
                     const Uns__V1__Notification *in,
                     const uns_store_idem *idem, uns_store_write_done_fn done,
                     void *arg)
{
	rdb *st = (rdb *)base;
	struct write_op *op =
	    write_op_new(st, user, host, in != NULL, done, arg);

	if (op != NULL) {
		op->body = post_body;
		op->in = in;
		op->idem = idem; /* NULL: a plain post */
		op->may_retry = true;
		write_op_start(op);
	}
}

void
rdb_post_async(uns_store *base, const char *user, const char *host,
               const Uns__V1__Notification *in, uns_store_write_done_fn done,
               void *arg)
{
	rdb_post_keyed_async(base, user, host, in, NULL, done, arg);
}

void
rdb_update_state_async(uns_store *base, const char *user, const char *host,
                       const char *id, const uns_store_change *chg,
                       uns_store_write_done_fn done, void *arg)
{
	rdb *st = (rdb *)base;
	struct write_op *op =
	    write_op_new(st, user, host, uns_store_change_ok(chg), done, arg);

	if (op != NULL) {
		op->body = update_body;
		op->id = id;
		op->chg = *chg;
		write_op_start(op);
	}
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
rdb_delete_in_hosts_async(uns_store *base, const char *user,
                          const char *const *hosts, size_t n_hosts,
                          const char *id, uns_store_write_done_fn done,
                          void *arg)
{
	rdb *st = (rdb *)base;
	uns_store_nrec r = {0};
	struct write_op *op;
	const char *host = NULL;
	uns_err rc;

	if (st == NULL || id == NULL || done == NULL ||
	    !uns_store_hosts_ok(hosts, n_hosts) ||
	    (user != NULL && !uns_store_id_ok(user))) {
		(void)write_op_new(st, user, "", false, done, arg);
		return;
	}
	/* The owner of an id never changes, so reading it unlocked is safe;
	 * liveness is checked again under the lock. */
	if ((rc = rdb_notif_load(st, NULL, id, &r)) == UNS_OK &&
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
rdb_delete_by_app_id_async(uns_store *base, const char *user, const char *host,
                           const char *app_id, uns_store_write_done_fn done,
                           void *arg)
{
	rdb *st = (rdb *)base;
	struct write_op *op =
	    write_op_new(st, user, host,
	                 app_id != NULL && uns_store_id_ok(app_id), done, arg);

	if (op != NULL) {
		op->body = delete_by_app_id_body;
		op->id = app_id;
		write_op_start(op);
	}
}

/* A fetch mark: unsid and the ids copied into one block the op owns. */
void
rdb_fetched_async(uns_store *base, const char *user, const char *host,
                  const char *unsid, const char *const *ids, size_t n,
                  uns_store_write_done_fn done, void *arg)
{
	rdb *st = (rdb *)base;
	size_t bytes = (n + 1) * sizeof(char *) + UNS_STORE_RID_LEN + 1;
	bool ok = unsid != NULL && rdb_rid_ok(unsid) && (n == 0 || ids != NULL);

	for (size_t i = 0; ok && i < n; i++) {
		ok = ids[i] != NULL;
		bytes += ok ? strlen(ids[i]) + 1 : 0;
	}
	struct write_op *op = write_op_new(st, user, host, ok, done, arg);
	if (op == NULL) {
		return;
	}
	if ((op->owned = malloc(bytes)) == NULL) {
		rdb_write_op_finish(
		    op, uns_store_seterr(UNS_ENOMEM, "out of memory"), false);
		return;
	}
	op->ids = op->owned;
	char *p = (char *)(op->ids + n + 1);
	memcpy(p, unsid, UNS_STORE_RID_LEN + 1);
	op->id = p;
	p += UNS_STORE_RID_LEN + 1;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(ids[i]) + 1;
		memcpy(p, ids[i], len);
		op->ids[i] = p;
		p += len;
	}
	op->n_ids = n;
	op->body = rdb_fetched_body;
	write_op_start(op);
}

/* ======================================================================
 * Subscriptions
 * ====================================================================== */

uns_err
rdb_sub_load(rdb *st, const rocksdb_readoptions_t *ro, const char *unsid,
             uns_store_srec *r)
{
	char *v = NULL;
	size_t vlen;
	uns_err rc;

	if (!rdb_rid_ok(unsid)) {
		return UNS_NOT_FOUND;
	}
	rc = rdb_db_get(st, ro, CF_SUBS, unsid, UNS_STORE_RID_LEN, &v, &vlen);
	if (rc == UNS_OK) {
		rc = uns_store_srec_decode(v, vlen, r);
		rocksdb_free(v);
	}
	return rc;
}

bool
rdb_sub_visible(const uns_store_srec *r, const char *user, const char *host,
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
	rdb_key_owned(&k, &w->o, device);
	if ((rc = rdb_db_get(w->st, NULL, CF_SUBDEV, k.b, k.len, &v, &vlen)) !=
	    UNS_OK) {
		return rc == UNS_NOT_FOUND ? UNS_OK : rc;
	}
	snprintf(unsid, sizeof(unsid), "%.*s", (int)vlen, v);
	rocksdb_free(v);
	if ((rc = rdb_sub_load(w->st, NULL, unsid, r)) == UNS_NOT_FOUND) {
		return UNS_OK;
	}
	if (rc == UNS_OK && !rdb_sub_visible(r, w->o.user, w->o.host, w->now)) {
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
	rdb_key_id(&k, s->unsid);
	rdb_batch_put(&w->b, CF_SUBS, &k, rec, len);
	free(rec);
	*out = msg_dup(&s->base);
	rdb_key_owned(&k, &w->o, s->device_id);
	rdb_batch_put(&w->b, CF_SUBDEV, &k, s->unsid, UNS_STORE_RID_LEN);
	if (old != NULL) {
		expiry_put(&w->b, old->s->expiration_time_ms, EXP_SUBSCRIPTION,
		           s->unsid, true);
	}
	expiry_put(&w->b, s->expiration_time_ms, EXP_SUBSCRIPTION, s->unsid,
	           false);
	return *out != NULL ? UNS_OK
	                    : uns_store_seterr(UNS_ENOMEM, "out of memory");
}

/* A new subscription of w's owner must stay within max_subs live ones.
 * Keys are counted first (no record read); only an owner at the cap has
 * its records read, so expired ones not yet reclaimed do not count. */
static uns_err
sub_cap_check(struct wctx *w)
{
	struct scan s = {0};
	uint32_t cap = w->st->base.cfg.max_subs, n = 0, live = 0;
	uns_err rc;

	s.lo = w->o.uh;
	uns_store_key_successor(&w->o.uh, &s.hi);
	rc = rdb_scan_open(w->st, &s, NULL, CF_SUBDEV);
	for (; rc == UNS_OK && rdb_scan_valid(&s) && n < cap;
	     rocksdb_iter_next(s.it)) {
		n++;
	}
	uns_err rc2 = rdb_scan_close(&s);
	if (rc != UNS_OK || rc2 != UNS_OK || n < cap) {
		return rc != UNS_OK ? rc : rc2;
	}
	/* At the cap by keys: count the live ones. */
	s = (struct scan){0};
	s.lo = w->o.uh;
	uns_store_key_successor(&w->o.uh, &s.hi);
	rc = rdb_scan_open(w->st, &s, NULL, CF_SUBDEV);
	for (; rc == UNS_OK && rdb_scan_valid(&s) && live < cap;
	     rocksdb_iter_next(s.it)) {
		size_t vlen;
		const char *val = rdb_scan_value(&s, &vlen);
		char unsid[UNS_STORE_RID_LEN + 1];
		uns_store_srec r = {0};
		snprintf(unsid, sizeof(unsid), "%.*s", (int)vlen, val);
		if (rdb_sub_load(w->st, NULL, unsid, &r) == UNS_OK &&
		    rdb_sub_visible(&r, w->o.user, w->o.host, w->now)) {
			live++;
		}
		uns_store_srec_clear(&r);
	}
	rc2 = rdb_scan_close(&s);
	if (rc == UNS_OK && rc2 == UNS_OK && live >= cap) {
		return uns_store_seterr(
		    UNS_RESOURCE_EXHAUSTED,
		    "%u live subscriptions of this user for this host, the "
		    "most allowed (max_subscriptions_per_user): unsubscribe a "
		    "device first",
		    (unsigned)cap);
	}
	return rc != UNS_OK ? rc : rc2;
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

	if ((rc = sub_find(w, in->device_id, &old, found)) != UNS_OK ||
	    (!*found && (rc = sub_cap_check(w)) != UNS_OK)) {
		uns_store_srec_clear(&old);
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
	s.expiration_time_ms = w->now + w->st->base.cfg.sub_lifetime_ms;
	rc = sub_write(w, *found ? &old : NULL, &s, out);
	uns_store_srec_clear(&old);
	return rc;
}

uns_err
rdb_sub_put(uns_store *base, const char *user, const char *host,
            const Uns__V1__Subscription *in, Uns__V1__Subscription **out,
            bool *created)
{
	rdb *st = (rdb *)base;
	Uns__V1__Subscription *res = NULL;
	struct wctx w;
	bool found = false;
	uns_err rc;

	if (st == NULL || in == NULL || out == NULL || created == NULL ||
	    !uns_store_id_ok(in->device_id)) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if ((rc = rdb_wctx_begin(st, &w, user, host)) == UNS_OK &&
	    (rc = sub_put_locked(&w, in, &res, &found)) == UNS_OK &&
	    (rc = rdb_wctx_commit(&w)) == UNS_OK) {
		*out = res;
		*created = !found;
		res = NULL;
	}
	rdb_wctx_end(&w, rc);
	if (res != NULL) {
		uns__v1__subscription__free_unpacked(res, NULL);
	}
	return rc;
}

uns_err
rdb_sub_get(uns_store *base, const char *unsid, char **user,
            Uns__V1__Subscription **out)
{
	rdb *st = (rdb *)base;
	uns_store_srec r = {0};
	char *u;
	uns_err rc;

	if (st == NULL || user == NULL || out == NULL || unsid == NULL) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if ((rc = rdb_sub_load(st, NULL, unsid, &r)) != UNS_OK) {
		return rc;
	}
	if (!rdb_sub_visible(&r, NULL, NULL, now_ms(st))) {
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
	uns_err rc = rdb_sub_load(w->st, NULL, op->id, &r);

	if (rc != UNS_OK) {
		return rc;
	}
	if (!rdb_sub_visible(&r, w->o.user, w->o.host, w->now)) {
		uns_store_srec_clear(&r);
		return UNS_NOT_FOUND;
	}
	rdb_key_id(&k, op->id);
	rdb_batch_del(&w->b, CF_SUBS, &k);
	rdb_key_owned(&k, &w->o, r.s->device_id);
	rdb_batch_del(&w->b, CF_SUBDEV, &k);
	expiry_put(&w->b, r.s->expiration_time_ms, EXP_SUBSCRIPTION, op->id,
	           true);
	uns_store_srec_clear(&r);
	return rdb_taps_drop(w->st, &w->b, op->id);
}

void
rdb_sub_delete_async(uns_store *base, const char *user, const char *host,
                     const char *unsid, uns_store_write_done_fn done, void *arg)
{
	rdb *st = (rdb *)base;
	struct write_op *op =
	    write_op_new(st, user, host, unsid != NULL, done, arg);

	if (op != NULL) {
		op->body = sub_delete_body;
		op->id = unsid;
		write_op_start(op);
	}
}

/* Appends the live subscription unsid (in view v) to l. */
static uns_err
sub_list_take(rdb *st, const struct view *v, const struct owner *o,
              const char *unsid, int64_t now, uns_store_subs *l, size_t *cap)
{
	uns_store_srec r = {0};
	uns_err rc = rdb_sub_load(st, v->ro, unsid, &r);

	if (rc == UNS_NOT_FOUND) {
		return UNS_OK; /* replaced while expired: reclaim will tidy */
	}
	if (rc == UNS_OK && rdb_sub_visible(&r, o->user, o->host, now)) {
		if (!rdb_grow((void **)&l->subs, cap, l->n + 1,
		              sizeof(*l->subs), 8)) {
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
rdb_sub_list(uns_store *base, const char *user, const char *host,
             uns_store_subs *out)
{
	rdb *st = (rdb *)base;
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
	if ((rc = rdb_owner_init(&o, user, host)) != UNS_OK ||
	    (rc = rdb_view_open(st, &v)) != UNS_OK) {
		goto out;
	}
	now = now_ms(st);
	s.lo = o.uh;
	uns_store_key_successor(&o.uh, &s.hi);
	rc = rdb_scan_open(st, &s, &v, CF_SUBDEV);
	for (; rc == UNS_OK && rdb_scan_valid(&s); rocksdb_iter_next(s.it)) {
		size_t vlen;
		const char *val = rdb_scan_value(&s, &vlen);
		char unsid[UNS_STORE_RID_LEN + 1];
		snprintf(unsid, sizeof(unsid), "%.*s", (int)vlen, val);
		rc = sub_list_take(st, &v, &o, unsid, now, &l, &cap);
	}
	uns_err rc2 = rdb_scan_close(&s);
	rc = rc != UNS_OK ? rc : rc2;
	if (rc == UNS_OK) {
		*out = l;
		memset(&l, 0, sizeof(l));
	}
out:
	rdb_view_close(st, &v);
	uns_store_subs_free(&l);
	return rc;
}
