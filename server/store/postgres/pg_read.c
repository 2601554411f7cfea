/*
 * pg_read.c — reads of the PostgreSQL backend (get, feed, history,
 * subscriptions), the outbox's claims and counts, reclaim and the iOS
 * fallback pass, and the reconstruction of messages from rows.
 *
 * A read is one statement on a pool connection, so it sees one snapshot:
 * the feed's head and the entries up to it come from the same instant,
 * and an entry the head covers is always committed (its owner's writes
 * commit in sequence order). Messages are the stored body (what the app
 * or device gave) with the server's columns set on it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "clock.h"
#include "pg_impl.h"

#define NOTIF_COLS                                                             \
	"id, host, body, created, modified, expires, version, read_state, "    \
	"action_state, status"

/* ==== messages from rows ================================================ */

static char *
dup_with(ProtobufCAllocator *pb, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = pb != NULL ? pb->alloc(pb->allocator_data, n) : malloc(n);

	if (p != NULL) {
		memcpy(p, s, n);
	}
	return p;
}

/* The bytea column of row r unpacked as desc through pb, or NULL. */
static ProtobufCMessage *
unpack_col(const PGresult *r, int row, int col,
           const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *pb)
{
	size_t len = 0;
	unsigned char *raw = PQunescapeBytea(
	    (const unsigned char *)PQgetvalue(r, row, col), &len);
	ProtobufCMessage *m = NULL;

	if (raw != NULL) {
		m = protobuf_c_message_unpack(desc, pb, len, raw);
		PQfreemem(raw);
	}
	return m;
}

uns_err
pg_notification(const PGresult *r, int row, int col, ProtobufCAllocator *pb,
                Uns__V1__Notification **out)
{
	Uns__V1__Notification *n = (Uns__V1__Notification *)unpack_col(
	    r, row, col + 2, &uns__v1__notification__descriptor, pb);
	char *id, *host;

	if (n == NULL) {
		return uns_store_seterr(UNS_DATA_LOSS,
		                        "bad notification protobuf");
	}
	id = dup_with(pb, PQgetvalue(r, row, col));
	host = dup_with(pb, PQgetvalue(r, row, col + 1));
	if (id == NULL || host == NULL) {
		if (pb == NULL) {
			free(id);
			free(host);
			uns__v1__notification__free_unpacked(n, NULL);
		}
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	n->id = id;
	n->target_host_name = host;
	n->created_time_ms = pg_int(r, row, col + 3);
	n->last_modified_time_ms = pg_int(r, row, col + 4);
	n->expiration_time_ms = pg_int(r, row, col + 5);
	n->version = (uint64_t)pg_int(r, row, col + 6);
	n->read_state = (Uns__V1__ReadState)pg_int(r, row, col + 7);
	n->user_action_state =
	    (Uns__V1__UserActionState)pg_int(r, row, col + 8);
	n->status = (Uns__V1__NotificationStatus)pg_int(r, row, col + 9);
	*out = n;
	return UNS_OK;
}

static uns_err
delivery_of(const PGresult *r, int row, int col, Uns__V1__Subscription *s)
{
	Uns__V1__DeliveryState *d;

	if (!pg_bool(r, row, col + 7)) {
		return UNS_OK;
	}
	if ((d = malloc(sizeof(*d))) == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	uns__v1__delivery_state__init(d);
	if ((d->last_error = strdup(PQgetvalue(r, row, col + 11))) == NULL) {
		free(d);
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	d->last_attempt_ms = pg_int(r, row, col + 8);
	d->last_success_ms = pg_int(r, row, col + 9);
	d->consecutive_failures = (uint32_t)pg_int(r, row, col + 10);
	d->dead = pg_bool(r, row, col + 12);
	d->delivered = (uint64_t)pg_int(r, row, col + 13);
	d->failed = (uint64_t)pg_int(r, row, col + 14);
	s->delivery = d;
	return UNS_OK;
}

uns_err
pg_subscription(const PGresult *r, int row, int col,
                Uns__V1__Subscription **out)
{
	Uns__V1__Subscription *s = (Uns__V1__Subscription *)unpack_col(
	    r, row, col + 4, &uns__v1__subscription__descriptor, NULL);
	char *unsid, *host;

	if (s == NULL) {
		return uns_store_seterr(UNS_DATA_LOSS,
		                        "bad subscription protobuf");
	}
	unsid = strdup(PQgetvalue(r, row, col));
	host = strdup(PQgetvalue(r, row, col + 1));
	if (unsid == NULL || host == NULL) {
		free(unsid);
		free(host);
		uns__v1__subscription__free_unpacked(s, NULL);
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	s->unsid = unsid;
	s->target_host_name = host;
	s->created_time_ms = pg_int(r, row, col + 5);
	s->expiration_time_ms = pg_int(r, row, col + 6);
	if (delivery_of(r, row, col, s) != UNS_OK) {
		uns__v1__subscription__free_unpacked(s, NULL);
		return UNS_ENOMEM;
	}
	*out = s;
	return UNS_OK;
}

/* ==== one-statement reads ================================================= */

/* Runs a read on a pool connection, prepared there once: parsed and
 * planned at every call, a Fetch's reads cost the database 535-920 µs of
 * CPU, prepared 128-198 µs (docs/benchmarks/postgres.md); *out gets its
 * rows. */
static uns_err
query(pgs *st, const char *sql, int n, const char *const *values,
      PGresult **out)
{
	PGconn *c;
	uns_err rc = pg_pool_get(st, &c);

	if (rc != UNS_OK) {
		return rc;
	}
	rc = pg_exec_prepared(st, c, sql, n, values, PGRES_TUPLES_OK, out);
	pg_pool_put(st, c, rc == UNS_UNAVAILABLE || pg_broken(c));
	return rc;
}

/* A read of one time (a minimum): *out, or UNS_NOT_FOUND for NULL. */
static uns_err
query_time(pgs *st, const char *sql, int n, const char *const *values,
           int64_t *out)
{
	PGresult *r = NULL;
	uns_err rc = query(st, sql, n, values, &r);

	if (rc == UNS_OK) {
		if (PQgetisnull(r, 0, 0)) {
			rc = UNS_NOT_FOUND;
		} else {
			*out = pg_int(r, 0, 0);
		}
	}
	PQclear(r);
	return rc;
}

static bool
owner_ok(const char *user, const char *host)
{
	return uns_store_id_ok(user) && uns_store_id_ok(host);
}

static uns_err
bad_argument(void)
{
	return uns_store_seterr(UNS_EINVAL, "bad argument");
}

uns_err
pg_get(uns_store *base, const char *user, const char *host, const char *id,
       Uns__V1__Notification **out)
{
	pgs *st = (pgs *)base;
	char now[PG_NUM];
	const char *v[] = {id, user, host, now};
	PGresult *r = NULL;
	uns_err rc;

	if (out == NULL || !owner_ok(user, host)) {
		return bad_argument();
	}
	if (id == NULL || strlen(id) != UNS_STORE_RID_LEN) {
		return UNS_NOT_FOUND;
	}
	snprintf(now, sizeof(now), "%lld", (long long)pg_now(st));
	rc = query(st,
	           "SELECT " NOTIF_COLS " FROM uns_notification WHERE id = $1 "
	           "AND usr = $2 AND host = $3 AND status = 1 "
	           "AND expires > $4::bigint",
	           4, v, &r);
	if (rc == UNS_OK) {
		rc = PQntuples(r) == 0 ? UNS_NOT_FOUND
		                       : pg_notification(r, 0, 0, NULL, out);
	}
	PQclear(r);
	return rc;
}

/* ==== feed ================================================================ */

/* The notification a tombstone or an expired entry carries: id and
 * version only. */
static uns_err
tombstone(uns_arena *a, const char *id, uint64_t version,
          Uns__V1__Notification **out)
{
	Uns__V1__Notification *t = uns_arena_alloc(a, sizeof(*t));
	char *copy = uns_arena_strdup(a, id);

	if (t == NULL || copy == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	uns__v1__notification__init(t);
	t->id = copy;
	t->version = version;
	*out = t;
	return UNS_OK;
}

/* Row i of a feed read: seq, id, removed, version, then NOTIF_COLS. */
static uns_err
feed_entry(const PGresult *r, int i, int64_t now, uns_arena *a,
           Uns__V1__FeedEntry **out)
{
	Uns__V1__FeedEntry *e = uns_arena_alloc(a, sizeof(*e));
	uns_err rc = UNS_OK;

	if (e == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	uns__v1__feed_entry__init(e);
	e->removed = (Uns__V1__RemovedReason)pg_int(r, i, 3);
	if (e->removed == UNS__V1__REMOVED_REASON__REMOVED_REASON_NONE) {
		if (PQgetisnull(r, i, 5)) {
			return uns_store_seterr(UNS_DATA_LOSS,
			                        "feed names a missing "
			                        "notification");
		}
		if (pg_int(r, i, 5 + 5) > now) {
			rc = pg_notification(r, i, 5, &a->pb, &e->notification);
		} else {
			e->removed =
			    UNS__V1__REMOVED_REASON__REMOVED_REASON_EXPIRED;
		}
	}
	if (rc == UNS_OK && e->notification == NULL) {
		rc = tombstone(a, PQgetvalue(r, i, 2),
		               (uint64_t)pg_int(r, i, 4), &e->notification);
	}
	if (rc == UNS_OK) {
		*out = e;
	}
	return rc;
}

/* Fills p from the rows of a feed read after `after`. */
static uns_err
feed_fill(const PGresult *r, uint64_t after, uint32_t limit, int64_t now,
          uns_store_feed_page *p)
{
	uint64_t last = after;
	uns_err rc = UNS_OK;

	for (int i = 0; i < PQntuples(r) && rc == UNS_OK; i++) {
		if (PQgetisnull(r, i, 1)) {
			break; /* no entries: the one row carries the head */
		}
		if (p->n == limit) {
			p->more = true;
			break;
		}
		if ((rc = feed_entry(r, i, now, p->arena, &p->entries[p->n])) ==
		    UNS_OK) {
			p->n++;
			last = (uint64_t)pg_int(r, i, 1);
		}
	}
	uns_store_cursor_encode(last, p->next_cursor);
	return rc;
}

static uns_err
feed_page_new(uns_store_feed_page *p, uint32_t limit)
{
	memset(p, 0, sizeof(*p));
	if ((p->arena = uns_store_arena_new()) == NULL ||
	    (p->entries = uns_arena_alloc(
	         p->arena, limit * sizeof(*p->entries))) == NULL ||
	    (p->next_cursor = uns_arena_alloc(p->arena, 16)) == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	return UNS_OK;
}

uns_err
pg_feed_read(uns_store *base, const char *user, const char *host,
             const char *cursor, uint32_t limit, uns_store_feed_page *out)
{
	pgs *st = (pgs *)base;
	char after_s[PG_NUM], limit_s[PG_NUM];
	const char *v[] = {user, host, after_s, limit_s};
	bool latest = cursor != NULL && strcmp(cursor, "latest") == 0;
	uns_store_feed_page p = {0};
	PGresult *r = NULL;
	uint64_t after = 0, head;
	int64_t now = pg_now(st);
	uns_err rc;

	limit = limit != 0 ? limit : UNS_STORE_FEED_LIMIT;
	if (out == NULL || limit > UNS_STORE_FEED_LIMIT_MAX ||
	    !owner_ok(user, host)) {
		return bad_argument();
	}
	if (!latest &&
	    (rc = uns_store_cursor_decode(cursor, &after)) != UNS_OK) {
		return rc;
	}
	snprintf(after_s, sizeof(after_s), "%lld",
	         latest ? -1LL : (long long)after);
	snprintf(limit_s, sizeof(limit_s), "%u", limit);
	rc =
	    query(st,
	          "WITH h AS (SELECT coalesce((SELECT head FROM uns_owner "
	          "WHERE usr = $1 AND host = $2), 0) AS head) "
	          "SELECT h.head, f.seq, f.id, f.removed, f.version, "
	          "n.id, n.host, n.body, n.created, n.modified, n.expires, "
	          "n.version, n.read_state, n.action_state, n.status "
	          "FROM h LEFT JOIN LATERAL (SELECT * FROM uns_feed x "
	          "WHERE x.usr = $1 AND x.host = $2 AND x.seq > CASE WHEN "
	          "$3::bigint < 0 THEN h.head ELSE $3::bigint END AND x.seq <= "
	          "h.head ORDER BY x.seq LIMIT $4::integer + 1) f ON true "
	          "LEFT JOIN uns_notification n ON n.id = f.id AND "
	          "f.removed = 0 ORDER BY f.seq",
	          4, v, &r);
	if (rc != UNS_OK) {
		return rc;
	}
	head = (uint64_t)pg_int(r, 0, 0);
	after = latest ? head : after;
	if (after > head) {
		rc =
		    uns_store_seterr(UNS_EINVAL, "cursor is ahead of the feed");
	} else if ((rc = feed_page_new(&p, limit)) == UNS_OK &&
	           (rc = feed_fill(r, after, limit, now, &p)) == UNS_OK) {
		*out = p;
		memset(&p, 0, sizeof(p));
	}
	PQclear(r);
	uns_store_feed_page_free(&p);
	return rc;
}

uns_err
pg_feed_head(uns_store *base, const char *user, const char *host, char **cursor)
{
	const char *v[] = {user, host};
	PGresult *r = NULL;
	char *c;
	uns_err rc;

	if (cursor == NULL || !owner_ok(user, host)) {
		return bad_argument();
	}
	if ((rc = query((pgs *)base,
	                "SELECT coalesce((SELECT head FROM uns_owner WHERE "
	                "usr = $1 AND host = $2), 0)",
	                2, v, &r)) != UNS_OK) {
		return rc;
	}
	if ((c = malloc(16)) == NULL) {
		rc = uns_store_seterr(UNS_ENOMEM, "out of memory");
	} else {
		uns_store_cursor_encode((uint64_t)pg_int(r, 0, 0), c);
		*cursor = c;
	}
	PQclear(r);
	return rc;
}

/* ==== history ============================================================= */

#define HIST_TOKEN_LEN (8 + UNS_STORE_RID_LEN) /* BE64 ~created ‖ id */

static uns_err
hist_token_decode(const char *token, char *created, char *id)
{
	unsigned char raw[HIST_TOKEN_LEN];

	if (!uns_store_b64url_decode(token, raw, sizeof(raw))) {
		return uns_store_seterr(UNS_EINVAL, "malformed page token");
	}
	snprintf(created, PG_NUM, "%lld",
	         (long long)(int64_t)~uns_store_be64_get(raw));
	memcpy(id, raw + 8, UNS_STORE_RID_LEN);
	id[UNS_STORE_RID_LEN] = '\0';
	return UNS_OK;
}

static uns_err
hist_token_encode(uns_arena *a, int64_t created, const char *id, char **out)
{
	unsigned char raw[HIST_TOKEN_LEN] = {0};
	char *t = uns_arena_alloc(a, HIST_TOKEN_LEN * 4 / 3 + 2);

	if (t == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	uns_store_be64_put(raw, ~(uint64_t)created);
	memcpy(raw + 8, id, strnlen(id, UNS_STORE_RID_LEN));
	uns_store_b64url_encode(raw, sizeof(raw), t);
	*out = t;
	return UNS_OK;
}

static bool
hist_query_ok(const uns_store_history_query *q)
{
	return q != NULL && q->page_size <= UNS_STORE_HISTORY_PAGE_MAX &&
	       (unsigned)q->status <= 2 && (unsigned)q->read_state <= 2 &&
	       (unsigned)q->user_action_state <= 4;
}

static uns_err
hist_fill(const PGresult *r, uint32_t size, uns_store_history_page *p)
{
	uns_err rc = UNS_OK;
	int n = PQntuples(r);

	for (int i = 0; i < n && (uint32_t)i < size && rc == UNS_OK; i++) {
		rc = pg_notification(r, i, 0, &p->arena->pb, &p->items[p->n]);
		p->n += rc == UNS_OK;
	}
	if (rc == UNS_OK && (uint32_t)n > size) {
		rc = hist_token_encode(p->arena, pg_int(r, (int)size - 1, 3),
		                       PQgetvalue(r, (int)size - 1, 0),
		                       &p->next_page_token);
	}
	return rc;
}

uns_err
pg_history(uns_store *base, const char *user, const char *host,
           const uns_store_history_query *q, uns_store_history_page *out)
{
	pgs *st = (pgs *)base;
	char now[PG_NUM], status[PG_NUM], rs[PG_NUM], as[PG_NUM];
	/* No token: from the newest (created <= INT64_MAX, any id). */
	char tc[PG_NUM] = "9223372036854775807";
	char tid[UNS_STORE_RID_LEN + 1] = "", size_s[PG_NUM];
	bool token = q != NULL && q->page_token != NULL && q->page_token[0];
	const char *v[] = {user, host, now, status, rs,
	                   as,   "",   tc,  tid,    size_s};
	uns_store_history_page p = {0};
	PGresult *r = NULL;
	uint32_t size;
	uns_err rc;

	if (out == NULL || !hist_query_ok(q) || !owner_ok(user, host)) {
		return bad_argument();
	}
	if (token &&
	    (rc = hist_token_decode(q->page_token, tc, tid)) != UNS_OK) {
		return rc;
	}
	size = q->page_size != 0 ? q->page_size : UNS_STORE_HISTORY_PAGE;
	snprintf(now, sizeof(now), "%lld", (long long)pg_now(st));
	snprintf(status, sizeof(status), "%d", q->status != 0 ? q->status : 1);
	snprintf(rs, sizeof(rs), "%d", q->read_state);
	snprintf(as, sizeof(as), "%d", q->user_action_state);
	snprintf(size_s, sizeof(size_s), "%u", size);
	v[6] = q->group_name != NULL ? q->group_name : "";
	/* "created <= $8" is an index condition: a page starts at its
	 * token in the history index, whatever its depth (an OR of the
	 * token's two cases was only a filter, each page scanning from the
	 * newest). */
	rc = query(st,
	           "SELECT " NOTIF_COLS " FROM uns_notification WHERE usr = $1 "
	           "AND host = $2 AND expires > $3::bigint AND status = "
	           "$4::smallint AND ($5::smallint = 0 OR read_state = $5) AND "
	           "($6::smallint = 0 OR action_state = $6) AND ($7 = '' OR "
	           "group_name = $7) AND created <= $8::bigint AND (created < "
	           "$8::bigint OR id > $9) "
	           "ORDER BY created DESC, id LIMIT $10::integer + 1",
	           10, v, &r);
	if (rc != UNS_OK) {
		return rc;
	}
	if ((p.arena = uns_store_arena_new()) == NULL ||
	    (p.items = uns_arena_alloc(p.arena, size * sizeof(*p.items))) ==
	        NULL) {
		rc = uns_store_seterr(UNS_ENOMEM, "out of memory");
	} else if ((rc = hist_fill(r, size, &p)) == UNS_OK) {
		*out = p;
		memset(&p, 0, sizeof(p));
	}
	PQclear(r);
	uns_store_history_page_free(&p);
	return rc;
}

/* ==== subscriptions ========================================================
 */

uns_err
pg_sub_get(uns_store *base, const char *unsid, char **user,
           Uns__V1__Subscription **out)
{
	char now[PG_NUM];
	const char *v[] = {unsid, now};
	PGresult *r = NULL;
	char *u;
	uns_err rc;

	if (user == NULL || out == NULL || unsid == NULL) {
		return bad_argument();
	}
	snprintf(now, sizeof(now), "%lld", (long long)pg_now((pgs *)base));
	if ((rc = query((pgs *)base,
	                "SELECT usr, " PG_SUB_COLS " FROM uns_subscription "
	                "WHERE unsid = $1 AND expires > $2::bigint",
	                2, v, &r)) != UNS_OK) {
		return rc;
	}
	if (PQntuples(r) == 0) {
		rc = UNS_NOT_FOUND;
	} else if ((u = strdup(PQgetvalue(r, 0, 0))) == NULL) {
		rc = uns_store_seterr(UNS_ENOMEM, "out of memory");
	} else if ((rc = pg_subscription(r, 0, 1, out)) == UNS_OK) {
		*user = u;
	} else {
		free(u);
	}
	PQclear(r);
	return rc;
}

uns_err
pg_sub_list(uns_store *base, const char *user, const char *host,
            uns_store_subs *out)
{
	char now[PG_NUM];
	const char *v[] = {user, host, now};
	uns_store_subs l = {0};
	PGresult *r = NULL;
	uns_err rc;

	if (out == NULL || !owner_ok(user, host)) {
		return bad_argument();
	}
	snprintf(now, sizeof(now), "%lld", (long long)pg_now((pgs *)base));
	if ((rc = query((pgs *)base,
	                "SELECT " PG_SUB_COLS " FROM uns_subscription WHERE "
	                "usr = $1 AND host = $2 AND expires > $3::bigint "
	                "ORDER BY device_id",
	                3, v, &r)) != UNS_OK) {
		return rc;
	}
	if (PQntuples(r) > 0 &&
	    (l.subs = calloc((size_t)PQntuples(r), sizeof(*l.subs))) == NULL) {
		rc = uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	for (int i = 0; rc == UNS_OK && i < PQntuples(r); i++) {
		rc = pg_subscription(r, i, 0, &l.subs[l.n]);
		l.n += rc == UNS_OK;
	}
	if (rc == UNS_OK) {
		*out = l;
		memset(&l, 0, sizeof(l));
	}
	uns_store_subs_free(&l);
	PQclear(r);
	return rc;
}

/* ==== the outbox ============================================================
 */

/* A claimed tap from row i: ref, usr, host, seq, flags, attempts,
 * enqueued, due, then the subscription's PG_SUB_COLS (NULL when gone),
 * then the subject's NOTIF_COLS (NULL when gone). */
static uns_err
tap_of(const PGresult *r, int i, uns_store_tap *t)
{
	int sub = 8, subj = 8 + PG_SUB_NCOLS;
	unsigned flags = (unsigned)pg_int(r, i, 4);
	uns_err rc = UNS_OK;

	memset(t, 0, sizeof(*t));
	snprintf(t->ref, sizeof(t->ref), "%s", PQgetvalue(r, i, 0));
	t->user = strdup(PQgetvalue(r, i, 1));
	t->host = strdup(PQgetvalue(r, i, 2));
	t->seq = (uint64_t)pg_int(r, i, 3);
	uns_store_cursor_encode(t->seq, t->cursor);
	t->state_change = (flags & 1u) != 0;
	t->fallback = (flags & 2u) != 0;
	t->attempts = (uint64_t)pg_int(r, i, 5);
	t->enqueued_ms = pg_int(r, i, 6);
	t->due_ms = pg_int(r, i, 7);
	if (t->user == NULL || t->host == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	if (!PQgetisnull(r, i, sub)) {
		rc = pg_subscription(r, i, sub, &t->sub);
	}
	if (rc == UNS_OK && !PQgetisnull(r, i, subj)) {
		rc = pg_notification(r, i, subj, NULL, &t->subject);
	}
	return rc;
}

#define CLAIM_SQL                                                              \
	"WITH c AS (UPDATE uns_outbox o SET lease_owner = $1, lease_until = "  \
	"$3::bigint FROM (SELECT ref FROM uns_outbox WHERE due <= $2::bigint " \
	"AND lease_until <= $2::bigint ORDER BY due, ref LIMIT $4::integer "   \
	"FOR UPDATE SKIP LOCKED) d WHERE o.ref = d.ref RETURNING o.*) "        \
	"SELECT c.ref, c.usr, c.host, c.seq, c.flags, c.attempts, "            \
	"c.enqueued, c.due, s.unsid, s.host, s.device_id, s.platform, "        \
	"s.body, s.created, s.expires, s.has_delivery, s.last_attempt, "       \
	"s.last_success, s.failures, s.last_error, s.dead, s.delivered, "      \
	"s.failed, n.id, n.host, n.body, n.created, n.modified, n.expires, "   \
	"n.version, n.read_state, n.action_state, n.status FROM c "            \
	"LEFT JOIN uns_subscription s ON s.unsid = c.unsid AND s.usr = "       \
	"c.usr AND s.host = c.host AND s.expires > $2::bigint "                \
	"LEFT JOIN uns_notification n ON n.id = c.subject AND n.usr = c.usr "  \
	"ORDER BY c.due, c.ref"

/* The claim in a transaction committed without waiting for its WAL
 * flush: a claim lost in a crash only lets its taps be claimed again. */
static uns_err
claim_rows(pgs *st, PGconn *c, const char *const *v, PGresult **r)
{
	uns_err rc =
	    pg_exec(st, c, "BEGIN; SET LOCAL synchronous_commit TO off", 0,
	            NULL, NULL, NULL, PGRES_COMMAND_OK, NULL);

	if (rc == UNS_OK &&
	    (rc = pg_exec(st, c, CLAIM_SQL, 4, v, NULL, NULL, PGRES_TUPLES_OK,
	                  r)) == UNS_OK &&
	    (rc = pg_exec(st, c, "COMMIT", 0, NULL, NULL, NULL,
	                  PGRES_COMMAND_OK, NULL)) != UNS_OK) {
		PQclear(*r);
		*r = NULL;
	}
	if (rc != UNS_OK && !pg_broken(c) &&
	    PQtransactionStatus(c) != PQTRANS_IDLE) {
		(void)pg_exec(st, c, "ROLLBACK", 0, NULL, NULL, NULL,
		              PGRES_COMMAND_OK, NULL);
	}
	return rc;
}

uns_err
pg_outbox_claim(uns_store *base, size_t max, int64_t lease_ms,
                uns_store_taps *out)
{
	pgs *st = (pgs *)base;
	char now[PG_NUM], until[PG_NUM], max_s[PG_NUM];
	const char *v[] = {st->node, now, until, max_s};
	uns_store_taps l = {0};
	PGresult *r = NULL;
	PGconn *c;
	int64_t t = pg_now(st);
	uns_err rc;

	if (out == NULL || max == 0 || lease_ms <= 0) {
		return bad_argument();
	}
	snprintf(now, sizeof(now), "%lld", (long long)t);
	snprintf(until, sizeof(until), "%lld", (long long)(t + lease_ms));
	snprintf(max_s, sizeof(max_s), "%zu", max);
	if ((rc = pg_pool_get(st, &c)) != UNS_OK) {
		return rc;
	}
	rc = claim_rows(st, c, v, &r);
	pg_pool_put(st, c, rc == UNS_UNAVAILABLE || pg_broken(c));
	if (rc == UNS_OK && PQntuples(r) > 0 &&
	    (l.taps = calloc((size_t)PQntuples(r), sizeof(*l.taps))) == NULL) {
		rc = uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	for (int i = 0; rc == UNS_OK && i < PQntuples(r); i++) {
		rc = tap_of(r, i, &l.taps[l.n++]);
		l.taps[l.n - 1].lease_until_ms = t + lease_ms;
	}
	if (rc == UNS_OK) {
		*out = l;
		memset(&l, 0, sizeof(l));
	}
	uns_store_taps_free(&l);
	PQclear(r);
	return rc;
}

uns_err
pg_outbox_next_due(uns_store *base, int64_t *due_ms)
{
	char now[PG_NUM];
	const char *v[] = {now};

	if (due_ms == NULL) {
		return bad_argument();
	}
	snprintf(now, sizeof(now), "%lld", (long long)pg_now((pgs *)base));
	return query_time((pgs *)base,
	                  "SELECT least((SELECT min(due) FROM uns_outbox WHERE "
	                  "lease_until <= $1::bigint), (SELECT min(due) FROM "
	                  "uns_fallback))",
	                  1, v, due_ms);
}

uns_err
pg_outbox_count(uns_store *base, size_t *n)
{
	PGresult *r = NULL;
	uns_err rc;

	if (n == NULL) {
		return bad_argument();
	}
	if ((rc = query((pgs *)base, "SELECT count(*) FROM uns_outbox", 0, NULL,
	                &r)) == UNS_OK) {
		*n = (size_t)pg_int(r, 0, 0);
	}
	PQclear(r);
	return rc;
}

/* ==== maintenance: reclaim and the iOS fallback ============================
 */

/* One statement in a transaction of its own on a pool connection. */
static uns_err
txn(pgs *st, const char *sql, int n, const char *const *v, PGresult **r)
{
	PGconn *c;
	uns_err rc = pg_pool_get(st, &c);

	if (rc != UNS_OK) {
		return rc;
	}
	if ((rc = pg_exec(st, c, "BEGIN", 0, NULL, NULL, NULL, PGRES_COMMAND_OK,
	                  NULL)) == UNS_OK &&
	    (rc = pg_exec(st, c, sql, n, v, NULL, NULL, PGRES_TUPLES_OK, r)) ==
	        UNS_OK &&
	    (rc = pg_exec(st, c, "COMMIT", 0, NULL, NULL, NULL,
	                  PGRES_COMMAND_OK, NULL)) != UNS_OK) {
		PQclear(*r);
		*r = NULL;
	}
	if (rc != UNS_OK && !pg_broken(c) &&
	    PQtransactionStatus(c) != PQTRANS_IDLE) {
		(void)pg_exec(st, c, "ROLLBACK", 0, NULL, NULL, NULL,
		              PGRES_COMMAND_OK, NULL);
	}
	pg_pool_put(st, c, rc == UNS_UNAVAILABLE || pg_broken(c));
	return rc;
}

/* Calls the hooks once per owner whose feed a reclaim chunk moved, with
 * its last head and all its taps (rows: kind, usr, host, head, taps,
 * moved). */
static void
reclaim_hooks(pgs *st, const PGresult *r)
{
	int n = PQntuples(r);

	for (int i = 0; i < n; i++) {
		size_t taps = 0;
		bool last = true;
		if (!pg_bool(r, i, 5)) {
			continue;
		}
		for (int j = 0; j < n; j++) {
			bool same = pg_bool(r, j, 5) &&
			            strcmp(PQgetvalue(r, j, 1),
			                   PQgetvalue(r, i, 1)) == 0 &&
			            strcmp(PQgetvalue(r, j, 2),
			                   PQgetvalue(r, i, 2)) == 0;
			taps += same ? (size_t)pg_int(r, j, 4) : 0;
			last = last && !(same && j > i);
		}
		if (last) {
			uns_store_moved(&st->base, PQgetvalue(r, i, 1),
			                PQgetvalue(r, i, 2),
			                (uint64_t)pg_int(r, i, 3), taps);
		}
	}
}

/* What uns_reclaim removes first: each minimum reads one end of an index
 * (uns_notification_expires, uns_subscription_expires, uns_feed_drop).
 * With several live nodes only the holder of the reclaim job answers (the
 * others: nothing waits), so the service's reclaims at expiry time run on
 * one node, like the periodic ones (docs/cluster.md). */
uns_err
pg_next_expiry(uns_store *base, int64_t *when_ms)
{
	pgs *st = (pgs *)base;
	if (atomic_load(&st->nodes_live) > 1) {
		pthread_mutex_lock(&st->maint_mu);
		bool mine = st->job_reclaim.mine_until != 0;
		pthread_mutex_unlock(&st->maint_mu);
		if (!mine) {
			return UNS_NOT_FOUND;
		}
	}
	return query_time(
	    st,
	    "SELECT least((SELECT min(expires) FROM "
	    "uns_notification), (SELECT min(expires) FROM "
	    "uns_subscription), (SELECT min(drop_at) FROM uns_feed))",
	    0, NULL, when_ms);
}

/* Reclaim chunks until none is left, one pass at a time in this process;
 * with job, only while this node holds it (checked between chunks). */
static uns_err
reclaim_run(pgs *st, int64_t now, size_t *reclaimed, struct pg_joblease *job)
{
	char now_s[PG_NUM], ttl[PG_NUM], chunk[PG_NUM];
	const char *v[] = {now_s, ttl, chunk}, *vi[] = {now_s, chunk};
	size_t total = 0;
	int n;
	uns_err rc;

	snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
	snprintf(ttl, sizeof(ttl), "%lld",
	         (long long)st->base.cfg.tombstone_ttl_ms);
	snprintf(chunk, sizeof(chunk), "%d", PG_RECLAIM);
	pthread_mutex_lock(&st->maint_mu);
	do {
		PGresult *r = NULL;
		if (job != NULL && !pg_job_hold(st, job, pg_now(st))) {
			rc = UNS_OK;
			break;
		}
		rc = txn(st,
		         "SELECT * FROM uns_reclaim($1::bigint, $2::bigint, "
		         "$3::integer)",
		         3, v, &r);
		n = rc == UNS_OK ? PQntuples(r) : 0;
		if (rc == UNS_OK) {
			reclaim_hooks(st, r);
		}
		total += (size_t)n;
		PQclear(r);
	} while (rc == UNS_OK && n > 0);
	/* Idempotency records past their window (no owner lock: a post
	 * reads only live ones). */
	while (rc == UNS_OK) {
		PGresult *r = NULL;
		rc = txn(st, "SELECT uns_reclaim_idem($1::bigint, $2::integer)",
		         2, vi, &r);
		n = rc == UNS_OK ? (int)pg_int(r, 0, 0) : 0;
		total += (size_t)n;
		PQclear(r);
		if (n < PG_RECLAIM) {
			break;
		}
	}
	pthread_mutex_unlock(&st->maint_mu);
	if (rc == UNS_OK && reclaimed != NULL) {
		*reclaimed = total;
	}
	return rc;
}

uns_err
pg_reclaim(uns_store *base, int64_t now, size_t *reclaimed)
{
	return reclaim_run((pgs *)base, now, reclaimed, NULL);
}

uns_err
pg_reclaim_job(pgs *st, int64_t now)
{
	return reclaim_run(st, now, NULL, &st->job_reclaim);
}

/* The due checks, in chunks, while this node holds the fallback job (one
 * node at a time cluster-wide; another node's call queues nothing). */
uns_err
pg_fallback_run(uns_store *base, size_t *queued)
{
	pgs *st = (pgs *)base;
	char now[PG_NUM], chunk[PG_NUM];
	const char *v[] = {now, chunk};
	size_t total = 0;
	int64_t checks = 0, t = pg_now(st);
	uns_err rc = UNS_OK;

	if (queued == NULL) {
		return bad_argument();
	}
	snprintf(now, sizeof(now), "%lld", (long long)t);
	snprintf(chunk, sizeof(chunk), "%d", PG_FB_CHUNK);
	pthread_mutex_lock(&st->maint_mu);
	while (rc == UNS_OK && pg_job_hold(st, &st->job_fallback, pg_now(st))) {
		PGresult *r = NULL;
		rc = txn(
		    st,
		    "SELECT checks, queued FROM uns_fallback_run($1::bigint, "
		    "$2::integer)",
		    2, v, &r);
		checks = rc == UNS_OK ? pg_int(r, 0, 0) : 0;
		total += rc == UNS_OK ? (size_t)pg_int(r, 0, 1) : 0;
		PQclear(r);
		if (checks < PG_FB_CHUNK) {
			break;
		}
	}
	pthread_mutex_unlock(&st->maint_mu);
	if (rc == UNS_OK) {
		*queued = total;
	}
	return rc;
}
