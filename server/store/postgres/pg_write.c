/*
 * pg_write.c — every write of the PostgreSQL backend, and the committer's
 * flush that sends a group of them as one pipelined transaction (design
 * in pg_impl.h).
 *
 * A write is a struct pg_write holding one or more calls of the schema's
 * functions (uns_post, uns_update, …) with their parameters. Asynchronous
 * writes are answered from their finish function on the committer thread
 * after the group's COMMIT returned; blocking ones (subscribe, settles,
 * fetched) wait in uns_store_commit_submit. Arguments are checked before a
 * write is queued, as store.h says, so the database refuses only what it
 * alone can know (not found, version, the live limit), as codes.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "pg_impl.h"

struct pg_call {
	const struct pg_stmt *stmt;
	int n;
	const char *v[PG_MAX_PARAMS];
	int len[PG_MAX_PARAMS];
	int fmt[PG_MAX_PARAMS];
	const char *user, *host; /* the owner: calls run in owner order */
	size_t order;            /* then in the order they came */
	PGresult *res;
};

struct pg_write {
	uns_store_commit_req req;
	pgs *st;
	struct pg_call *calls;
	size_t ncalls;
	struct pg_call one;
	uns_err rc; /* this write's own failure, set by the flush */
	char msg[256];
	void (*finish)(struct pg_write *w, uns_err rc);
	uns_store_write_done_fn done;
	void *arg;
	char user[UNS_STORE_ID_MAX + 1], host[UNS_STORE_ID_MAX + 1];
	char num[8][PG_NUM];
	char id[UNS_STORE_ID_MAX + 1];
	unsigned char *body;
	size_t body_len;
	char *text; /* an array literal */
	int64_t now, expires;
};

/* ==== the statements ======================================================
 *
 * Every call of the committer is one of these, prepared on its connection
 * when it connects (wconn_get, so again after every reconnect): a flush
 * sends only Bind and Execute for each call, never a Parse, and the server
 * does not plan the call again (issue 16; before and after in
 * docs/benchmarks/postgres.md). Parameter types come from the casts in the
 * text, as when they were sent unnamed.
 */

struct pg_stmt {
	const char *name, *sql;
};

enum {
	W_POST,
	W_POST_KEYED,
	W_UPDATE,
	W_SUB_PUT,
	W_SUB_DELETE,
	W_SETTLE,
	W_FETCHED,
	W_NSTMTS
};

static const struct pg_stmt stmts[W_NSTMTS] = {
    [W_POST] = {"uns_w_post",
                "SELECT rc, id, created, version, head, taps, was_new "
                "FROM uns_post($1, $2, $3::bigint, $4, $5, $6, $7::bytea, "
                "$8::smallint[], $9::bigint, $10::bigint, $11::integer, "
                "$12::bigint)"},
    [W_POST_KEYED] = {"uns_w_post_keyed",
                      "SELECT rc, id, created, version, head, taps, "
                      "was_new, replay, id, $2::text, body, created, "
                      "modified, expires, version, 1, 1, 1 "
                      "FROM uns_post_keyed($1, $2, $3::bigint, $4, $5, $6, "
                      "$7::bytea, $8::smallint[], $9::bigint, $10::bigint, "
                      "$11::integer, $12::bigint, $13::bytea, $14::bytea, "
                      "$15::bigint)"},
    [W_UPDATE] = {"uns_w_update",
                  "SELECT rc, version, moved, head, taps, id, $2::text, "
                  "body, created, modified, expires, version, read_state, "
                  "action_state, status FROM uns_update($1, $2, "
                  "$3::bigint, $4, $5, $6::smallint, $7::smallint, "
                  "$8::boolean, $9::bigint, $10)"},
    [W_SUB_PUT] = {"uns_w_sub_put",
                   "SELECT was_new, (s).unsid, (s).host, (s).device_id, "
                   "(s).platform, (s).body, (s).created, (s).expires, "
                   "(s).has_delivery, (s).last_attempt, (s).last_success, "
                   "(s).failures, (s).last_error, (s).dead, (s).delivered, "
                   "(s).failed FROM uns_sub_put($1, $2, $3::bigint, $4, "
                   "$5, $6::smallint, $7::bytea, $8::bigint)"},
    [W_SUB_DELETE] = {"uns_w_sub_delete",
                      "SELECT uns_sub_delete($1, $2, $3::bigint, $4)"},
    [W_SETTLE] = {"uns_w_settle",
                  "SELECT newer, lost FROM uns_settle($1, $2, $3::bigint, "
                  "$4, $5, $6::bigint, $7::integer, $8::bigint, $9, $10, "
                  "$11::bigint)"},
    [W_FETCHED] = {"uns_w_fetched", "SELECT uns_fetched($1, $2::text[])"},
};

uns_err
pg_write_prepare(pgs *st, PGconn *c)
{
	uns_err rc = UNS_OK;

	for (size_t i = 0; i < W_NSTMTS && rc == UNS_OK; i++) {
		rc = pg_prepare(st, c, stmts[i].name, stmts[i].sql);
	}
	return rc;
}

/* ==== the flush ==========================================================
 */

static int
call_cmp(const void *a, const void *b)
{
	const struct pg_call *x = *(const struct pg_call *const *)a;
	const struct pg_call *y = *(const struct pg_call *const *)b;
	int c = strcmp(x->user, y->user);

	if (c == 0) {
		c = strcmp(x->host, y->host);
	}
	return c != 0 ? c : (x->order > y->order) - (x->order < y->order);
}

/* The next result of c, waiting at most the deadline; NULL also when the
 * connection failed or timed out (*lost then). */
static PGresult *
next_result(pgs *st, PGconn *c, bool *lost)
{
	if (!pg_wait(st, c)) {
		*lost = true;
		return NULL;
	}
	return PQgetResult(c);
}

/* Sends what libpq has buffered, reading meanwhile so the server never
 * blocks on a full socket; false on failure or timeout. */
static bool
flush_out(pgs *st, PGconn *c)
{
	int64_t limit = (int64_t)st->pc.statement_timeout_ms + PG_WAIT_SLACK;
	uint64_t end = uns_mono_us() + (uint64_t)limit * 1000u;
	int r;

	while ((r = PQflush(c)) == 1) {
		struct pollfd p = {.fd = PQsocket(c),
		                   .events = POLLIN | POLLOUT};
		uint64_t now = uns_mono_us();
		if (now >= end) {
			return false;
		}
		if (poll(&p, 1, (int)((end - now) / 1000u) + 1) > 0 &&
		    (p.revents & POLLIN) != 0 && PQconsumeInput(c) == 0) {
			return false;
		}
	}
	return r == 0;
}

/* Reads one query's results up to its NULL: *status the first one's
 * (PGRES_FATAL_ERROR with *first kept for the message), the rest
 * dropped. A call's tuples go to *keep. */
static ExecStatusType
read_one(pgs *st, PGconn *c, PGresult **keep, PGresult **err, bool *lost)
{
	PGresult *r = next_result(st, c, lost), *more;
	ExecStatusType s = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;

	if (r == NULL) {
		*lost = true;
		return s;
	}
	if (s == PGRES_TUPLES_OK && keep != NULL) {
		*keep = r;
	} else if (s == PGRES_FATAL_ERROR && *err == NULL) {
		*err = r;
	} else {
		PQclear(r);
	}
	while (!*lost && (more = next_result(st, c, lost)) != NULL) {
		PQclear(more);
	}
	return s;
}

static bool
send_all(PGconn *c, struct pg_call **calls, size_t n)
{
	bool ok = PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);

	for (size_t i = 0; ok && i < n; i++) {
		ok = PQsendQueryPrepared(c, calls[i]->stmt->name, calls[i]->n,
		                         calls[i]->v, calls[i]->len,
		                         calls[i]->fmt, 0) != 0;
	}
	return ok &&
	       PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) &&
	       PQpipelineSync(c);
}

/* The results of a sent pipeline: BEGIN, the calls, COMMIT, the sync. */
static uns_err
read_all(pgs *st, PGconn *c, struct pg_call **calls, size_t n, bool *lost)
{
	PGresult *err = NULL, *sync;
	ExecStatusType s = read_one(st, c, NULL, &err, lost);
	bool ok = s == PGRES_COMMAND_OK;
	uns_err rc;

	for (size_t i = 0; i < n && !*lost; i++) {
		s = read_one(st, c, &calls[i]->res, &err, lost);
		ok = ok && s == PGRES_TUPLES_OK;
	}
	if (!*lost) {
		s = read_one(st, c, NULL, &err, lost);
		ok = ok && s == PGRES_COMMAND_OK;
	}
	if (!*lost && (sync = next_result(st, c, lost)) != NULL) {
		ok = ok && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
		PQclear(sync);
	}
	if (ok && !*lost) {
		return UNS_OK;
	}
	rc = pg_fail(c, err, *lost ? "write (connection lost)" : "write");
	if (*lost && rc != UNS_UNAVAILABLE) {
		rc =
		    uns_store_seterr(UNS_UNAVAILABLE, "%s", uns_store_errmsg());
	}
	PQclear(err);
	return rc;
}

/* One transaction of calls on c; *lost when c is unusable after. */
static uns_err
pipeline(pgs *st, PGconn *c, struct pg_call **calls, size_t n, bool *lost)
{
	uns_err rc;

	*lost = false;
	if (PQenterPipelineMode(c) != 1 || PQsetnonblocking(c, 1) != 0 ||
	    !send_all(c, calls, n) || !flush_out(st, c)) {
		*lost = true;
		return pg_fail(c, NULL, "write (send)");
	}
	rc = read_all(st, c, calls, n, lost);
	if (!*lost) {
		(void)PQexitPipelineMode(c);
		(void)PQsetnonblocking(c, 0);
		if (PQtransactionStatus(c) != PQTRANS_IDLE) {
			char msg[256];
			snprintf(msg, sizeof(msg), "%s", uns_store_errmsg());
			*lost = pg_exec(st, c, "ROLLBACK", 0, NULL, NULL, NULL,
			                PGRES_COMMAND_OK, NULL) != UNS_OK;
			uns_store_seterr(rc, "%s", msg);
		}
	}
	if (rc != UNS_OK) {
		for (size_t i = 0; i < n; i++) {
			PQclear(calls[i]->res);
			calls[i]->res = NULL;
		}
	}
	return rc;
}

/* The committer's connection, connecting with backoff after failures. */
static uns_err
wconn_get(struct pg_committer *cm)
{
	uns_err rc = UNS_OK;

	if (cm->wconn != NULL) {
		return UNS_OK;
	}
	if (uns_mono_us() < cm->wconn_retry_mono) {
		return uns_store_seterr(UNS_UNAVAILABLE,
		                        "postgres unavailable: reconnecting");
	}
	if ((cm->wconn = pg_connect(cm->st, &rc)) != NULL &&
	    (rc = pg_write_prepare(cm->st, cm->wconn)) != UNS_OK) {
		PQfinish(cm->wconn);
		cm->wconn = NULL;
	}
	if (cm->wconn == NULL) {
		cm->wconn_backoff = cm->wconn_backoff == 0
		                        ? PG_BACKOFF_MIN
		                        : cm->wconn_backoff * 2;
		if (cm->wconn_backoff > PG_BACKOFF_MAX) {
			cm->wconn_backoff = PG_BACKOFF_MAX;
		}
		cm->wconn_retry_mono =
		    uns_mono_us() + (uint64_t)cm->wconn_backoff * 1000u;
		return rc;
	}
	cm->wconn_backoff = 0;
	return UNS_OK;
}

/* calls as one transaction; *lost when the connection went. */
static uns_err
group_run(struct pg_committer *cm, struct pg_call **calls, size_t n, bool *lost)
{
	uns_err rc;

	*lost = false;
	qsort(calls, n, sizeof(*calls), call_cmp);
	if ((rc = wconn_get(cm)) != UNS_OK) {
		*lost = true;
		return rc;
	}
	rc = pipeline(cm->st, cm->wconn, calls, n, lost);
	/* UNAVAILABLE on a live connection (a read-only node, a shutdown
	 * under way, a timeout): that session is not worth keeping; the next
	 * one asks the URL's hosts again for the primary. */
	*lost = *lost || rc == UNS_UNAVAILABLE;
	if (*lost) {
		PQfinish(cm->wconn);
		cm->wconn = NULL;
	}
	return rc;
}

static void
write_fail(struct pg_write *w, uns_err rc)
{
	w->rc = rc;
	snprintf(w->msg, sizeof(w->msg), "%s", uns_store_errmsg());
}

/* Runs each write of the group alone, after the group failed. */
static void
one_by_one(struct pg_committer *cm, struct pg_write *const *ws, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct pg_call **calls = malloc(ws[i]->ncalls * sizeof(*calls));
		bool lost;
		uns_err rc;
		if (calls == NULL) {
			write_fail(ws[i], uns_store_seterr(UNS_ENOMEM,
			                                   "out of memory"));
			continue;
		}
		for (size_t j = 0; j < ws[i]->ncalls; j++) {
			calls[j] = &ws[i]->calls[j];
		}
		if ((rc = group_run(cm, calls, ws[i]->ncalls, &lost)) !=
		    UNS_OK) {
			write_fail(ws[i], rc);
		}
		free(calls);
	}
}

uns_err
pg_flush(void *arg, void *const *payloads, size_t n)
{
	struct pg_committer *cm = arg;
	struct pg_write *const *ws = (struct pg_write *const *)payloads;
	struct pg_call **calls;
	size_t total = 0, k = 0;
	bool lost;
	uns_err rc;

	for (size_t i = 0; i < n; i++) {
		ws[i]->rc = UNS_OK;
		ws[i]->msg[0] = '\0';
		total += ws[i]->ncalls;
	}
	if ((calls = malloc((total + 1) * sizeof(*calls))) == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < ws[i]->ncalls; j++, k++) {
			calls[k] = &ws[i]->calls[j];
			calls[k]->order = k;
		}
	}
	rc = group_run(cm, calls, total, &lost);
	free(calls);
	if (rc != UNS_OK && !lost && n > 1) {
		one_by_one(cm, ws, n);
		return UNS_OK;
	}
	for (size_t i = 0; rc != UNS_OK && i < n; i++) {
		write_fail(ws[i], rc);
	}
	return rc;
}

/* ==== writes ============================================================== */

static struct pg_write *
write_alloc(pgs *st, const char *user, const char *host)
{
	struct pg_write *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		uns_store_seterr(UNS_ENOMEM, "out of memory");
		return NULL;
	}
	w->st = st;
	w->calls = &w->one;
	w->ncalls = 1;
	w->now = pg_now(st);
	snprintf(w->user, sizeof(w->user), "%s", user);
	snprintf(w->host, sizeof(w->host), "%s", host);
	w->one.user = w->user;
	w->one.host = w->host;
	return w;
}

static void
write_free(struct pg_write *w)
{
	for (size_t i = 0; i < w->ncalls; i++) {
		PQclear(w->calls[i].res);
	}
	if (w->calls != &w->one) {
		free(w->calls);
	}
	free(w->body);
	free(w->text);
	free(w);
}

/* Sets param i of call c: text s (NULL = SQL NULL). */
static void
param(struct pg_call *c, int i, const char *s)
{
	c->v[i] = s;
	c->len[i] = 0;
	c->fmt[i] = 0;
	if (i >= c->n) {
		c->n = i + 1;
	}
}

/* Param i as a number, kept in w->num[slot]. */
static void
param_int(struct pg_write *w, struct pg_call *c, int i, int slot, int64_t v)
{
	snprintf(w->num[slot], PG_NUM, "%lld", (long long)v);
	param(c, i, w->num[slot]);
}

static void
param_bytes(struct pg_call *c, int i, const unsigned char *p, size_t n)
{
	param(c, i, (const char *)p);
	c->len[i] = (int)n;
	c->fmt[i] = 1;
}

/* The answer of a write that was queued: its own failure or the group's,
 * with the message set on this thread (done may read it). */
static uns_err
write_result(struct pg_write *w, uns_err rc)
{
	if (rc == UNS_OK) {
		rc = w->rc;
	}
	if (rc != UNS_OK && w->msg[0] != '\0') {
		uns_store_seterr(rc, "%s", w->msg);
	}
	return rc;
}

static void
write_committed(uns_store_commit_req *req, uns_err rc)
{
	struct pg_write *w = (struct pg_write *)req;

	w->finish(w, write_result(w, rc));
}

/* The committer of w's (first) owner: FNV-1a of user and host. */
static uns_store_commit *
committer_of(const struct pg_write *w)
{
	const char *s[] = {w->calls[0].user, w->calls[0].host};
	uint32_t h = 2166136261u;

	for (int i = 0; i < 2; i++) {
		for (const char *p = s[i]; *p != '\0'; p++) {
			h = (h ^ (unsigned char)*p) * 16777619u;
		}
		h = (h ^ 0xffu) *
		    16777619u; /* "ab","c" differs from "a","bc" */
	}
	return w->st->cm[h % w->st->pc.committers].commit;
}

static void
write_submit_async(struct pg_write *w)
{
	w->req.payload = w;
	w->req.done = write_committed;
	uns_store_commit_submit_async(committer_of(w), &w->req);
}

static uns_err
write_submit_wait(struct pg_write *w)
{
	return write_result(w, uns_store_commit_submit(committer_of(w), w));
}

/* Early failures of an asynchronous write: done hears rc here. */
static void
early(uns_store_write_done_fn done, void *arg, uns_err rc)
{
	if (done != NULL) {
		done(arg, rc, NULL, false);
	}
}

static bool
owner_ok(const char *user, const char *host)
{
	return uns_store_id_ok(user) && uns_store_id_ok(host);
}

/* A copy of msg without unknown fields, packed; NULL when out of memory. */
static unsigned char *
pack(const ProtobufCMessage *m, size_t *len)
{
	unsigned char *p;

	*len = protobuf_c_message_get_packed_size(m);
	if ((p = malloc(*len != 0 ? *len : 1)) != NULL) {
		protobuf_c_message_pack(m, p);
	}
	return p;
}

/* "{2,5}": the target platforms as an array literal ("{}" = all). */
static char *
targets_literal(const Uns__V1__Notification *n)
{
	size_t k =
	    n->target_policy != NULL ? n->target_policy->n_platform_types : 0;
	char *s = malloc(2 + 12 * k + 1), *p = s;

	if (s == NULL) {
		return NULL;
	}
	*p++ = '{';
	for (size_t i = 0; i < k; i++) {
		p += sprintf(p, "%s%d", i > 0 ? "," : "",
		             (int)n->target_policy->platform_types[i]);
	}
	strcpy(p, "}");
	return s;
}

/* What the app posted, the server's fields blank, packed into w->body. */
static uns_err
post_body(struct pg_write *w, const Uns__V1__Notification *in)
{
	Uns__V1__Notification n = *in;

	n.base.n_unknown_fields = 0;
	n.base.unknown_fields = NULL;
	n.id = (char *)"";
	n.target_host_name = (char *)"";
	n.expiration_time_ms = 0;
	n.read_state = 0;
	n.user_action_state = 0;
	n.status = 0;
	n.created_time_ms = n.last_modified_time_ms = 0;
	n.version = 0;
	if ((w->body = pack(&n.base, &w->body_len)) == NULL ||
	    (w->text = targets_literal(in)) == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	return UNS_OK;
}

/* The posted notification: w->body and what uns_post answered. */
static uns_err
post_result(struct pg_write *w, const PGresult *r, Uns__V1__Notification **out)
{
	Uns__V1__Notification *n =
	    uns__v1__notification__unpack(NULL, w->body_len, w->body);

	if (n == NULL || (n->id = strdup(PQgetvalue(r, 0, 1))) == NULL ||
	    (n->target_host_name = strdup(w->host)) == NULL) {
		if (n != NULL) {
			n->id = n->id != NULL ? n->id : (char *)"";
			n->target_host_name = (char *)"";
			uns__v1__notification__free_unpacked(n, NULL);
		}
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	n->created_time_ms = pg_int(r, 0, 2);
	n->version = (uint64_t)pg_int(r, 0, 3);
	n->last_modified_time_ms = w->now;
	n->expiration_time_ms = w->expires;
	n->read_state = UNS__V1__READ_STATE__READ_STATE_UNREAD;
	n->user_action_state =
	    UNS__V1__USER_ACTION_STATE__USER_ACTION_STATE_NO_INTERACTION;
	n->status = UNS__V1__NOTIFICATION_STATUS__NOTIFICATION_STATUS_ACTIVE;
	*out = n;
	return UNS_OK;
}

/* A code the database answered (uns_err values), with its message. */
static uns_err
code_of(const PGresult *r, int col)
{
	uns_err rc = (uns_err)pg_int(r, 0, col);

	switch (rc) {
	case UNS_OK:
	case UNS_NOT_FOUND:
		return rc;
	case UNS_ALREADY_EXISTS:
		return uns_store_seterr(rc, "the idempotency key was used for "
		                            "another request");
	case UNS_RESOURCE_EXHAUSTED:
		return uns_store_seterr(rc, "too many live notifications");
	case UNS_FAILED_PRECONDITION:
		return uns_store_seterr(rc, "version is %s",
		                        PQgetvalue(r, 0, col + 1));
	default:
		return uns_store_seterr(UNS_INTERNAL, "bad answer %d", rc);
	}
}

static void
post_finish(struct pg_write *w, uns_err rc)
{
	const PGresult *r = w->one.res;
	Uns__V1__Notification *n = NULL;
	bool created = false, replay = false;

	if (rc == UNS_OK && (rc = code_of(r, 0)) == UNS_OK) {
		/* A replay: the first answer, as the record kept it. */
		replay = PQnfields(r) > 7 && pg_bool(r, 0, 7);
		rc = replay ? pg_notification(r, 0, 8, NULL, &n)
		            : post_result(w, r, &n);
	}
	if (rc == UNS_OK) {
		created = pg_bool(r, 0, 6);
		if (!replay) {
			uns_store_moved(&w->st->base, w->user, w->host,
			                (uint64_t)pg_int(r, 0, 4),
			                (size_t)pg_int(r, 0, 5));
		}
	}
	w->done(w->arg, rc, n, created);
	write_free(w);
}

/* Queues uns_post, or uns_post_keyed when idem is not NULL (store.c
 * checked its key and window). */
static void
post_queue(pgs *st, const char *user, const char *host,
           const Uns__V1__Notification *in, const uns_store_idem *idem,
           uns_store_write_done_fn done, void *arg)
{
	struct pg_write *w;
	struct pg_call *c;
	uns_err rc;

	if (in == NULL || done == NULL || !owner_ok(user, host)) {
		early(done, arg, uns_store_seterr(UNS_EINVAL, "bad argument"));
		return;
	}
	if ((w = write_alloc(st, user, host)) == NULL) {
		early(done, arg, UNS_ENOMEM);
		return;
	}
	c = &w->one;
	if ((rc = uns_store_post_check(&st->base, in, w->now, &w->expires)) !=
	        UNS_OK ||
	    (rc = uns_store_mint_id(w->id)) != UNS_OK ||
	    (rc = post_body(w, in)) != UNS_OK) {
		write_free(w);
		early(done, arg, rc);
		return;
	}
	c->stmt = &stmts[idem == NULL ? W_POST : W_POST_KEYED];
	param(c, 0, w->user);
	param(c, 1, w->host);
	param_int(w, c, 2, 0, w->now);
	param(c, 3, w->id);
	param(c, 4, in->app_notification_id);
	param(c, 5, in->group_name);
	param_bytes(c, 6, w->body, w->body_len);
	param(c, 7, w->text);
	param_int(w, c, 8, 1, uns_store_fallback_ms(in));
	param_int(w, c, 9, 2, w->expires);
	param_int(w, c, 10, 3, st->base.cfg.max_live);
	param_int(w, c, 11, 4, st->base.cfg.tombstone_ttl_ms);
	if (idem != NULL) {
		/* idem stays valid until done runs (store.h). */
		param_bytes(c, 12, (const unsigned char *)idem->key,
		            strlen(idem->key));
		param_bytes(c, 13, idem->fingerprint,
		            sizeof(idem->fingerprint));
		param_int(w, c, 14, 5, idem->window_ms);
	}
	w->finish = post_finish;
	w->done = done;
	w->arg = arg;
	write_submit_async(w);
}

void
pg_post_async(uns_store *base, const char *user, const char *host,
              const Uns__V1__Notification *in, uns_store_write_done_fn done,
              void *arg)
{
	post_queue((pgs *)base, user, host, in, NULL, done, arg);
}

void
pg_post_keyed_async(uns_store *base, const char *user, const char *host,
                    const Uns__V1__Notification *in, const uns_store_idem *idem,
                    uns_store_write_done_fn done, void *arg)
{
	post_queue((pgs *)base, user, host, in, idem, done, arg);
}

static void
update_finish(struct pg_write *w, uns_err rc)
{
	const PGresult *r = w->one.res;
	Uns__V1__Notification *n = NULL;

	if (rc == UNS_OK && (rc = code_of(r, 0)) == UNS_OK &&
	    (rc = pg_notification(r, 0, 5, NULL, &n)) == UNS_OK &&
	    pg_bool(r, 0, 2)) {
		uns_store_moved(&w->st->base, w->user, w->host,
		                (uint64_t)pg_int(r, 0, 3),
		                (size_t)pg_int(r, 0, 4));
	}
	w->done(w->arg, rc, n, false);
	write_free(w);
}

/* Queues uns_update for (user, host): by id, or by app_id when id is
 * NULL. */
static void
update_queue(pgs *st, const char *user, const char *host, const char *id,
             const char *app_id, const uns_store_change *chg,
             uns_store_write_done_fn done, void *arg)
{
	struct pg_write *w = write_alloc(st, user, host);
	struct pg_call *c;

	if (w == NULL) {
		early(done, arg, UNS_ENOMEM);
		return;
	}
	c = &w->one;
	c->stmt = &stmts[W_UPDATE];
	param(c, 0, w->user);
	param(c, 1, w->host);
	param_int(w, c, 2, 0, w->now);
	param(c, 3, id);
	param(c, 4, app_id);
	param_int(w, c, 5, 1, chg->read_state);
	param_int(w, c, 6, 2, chg->user_action_state);
	param(c, 7, chg->delete_ ? "true" : "false");
	param_int(w, c, 8, 3, (int64_t)chg->if_version);
	param(c, 9, chg->by_unsid);
	if (id != NULL) {
		snprintf(w->id, sizeof(w->id), "%s", id);
		c->v[3] = w->id;
	}
	if (app_id != NULL) {
		snprintf(w->id, sizeof(w->id), "%s", app_id);
		c->v[4] = w->id;
	}
	if (chg->by_unsid != NULL) {
		w->text = strdup(chg->by_unsid);
		c->v[9] = w->text;
	}
	w->finish = update_finish;
	w->done = done;
	w->arg = arg;
	write_submit_async(w);
}

void
pg_update_state_async(uns_store *base, const char *user, const char *host,
                      const char *id, const uns_store_change *chg,
                      uns_store_write_done_fn done, void *arg)
{
	if (done == NULL || !uns_store_change_ok(chg) ||
	    !owner_ok(user, host)) {
		early(done, arg, uns_store_seterr(UNS_EINVAL, "bad argument"));
		return;
	}
	if (id == NULL || strlen(id) != UNS_STORE_RID_LEN) {
		early(done, arg, UNS_NOT_FOUND);
		return;
	}
	update_queue((pgs *)base, user, host, id, NULL, chg, done, arg);
}

static const uns_store_change delete_change = {.delete_ = true};

/* The owner of notification id, read before its write is queued (the
 * owner of an id never changes; liveness is checked in the write). */
static uns_err
owner_of(pgs *st, const char *id, char *user, char *host)
{
	const char *v[] = {id};
	PGresult *r = NULL;
	PGconn *c;
	uns_err rc;

	if (strlen(id) != UNS_STORE_RID_LEN) {
		return UNS_NOT_FOUND;
	}
	if ((rc = pg_pool_get(st, &c)) != UNS_OK) {
		return rc;
	}
	rc = pg_exec(st, c,
	             "SELECT usr, host FROM uns_notification WHERE id = $1", 1,
	             v, NULL, NULL, PGRES_TUPLES_OK, &r);
	pg_pool_put(st, c, rc == UNS_UNAVAILABLE || pg_broken(c));
	if (rc == UNS_OK && PQntuples(r) == 0) {
		rc = UNS_NOT_FOUND;
	} else if (rc == UNS_OK) {
		snprintf(user, UNS_STORE_ID_MAX + 1, "%s", PQgetvalue(r, 0, 0));
		snprintf(host, UNS_STORE_ID_MAX + 1, "%s", PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	return rc;
}

void
pg_delete_in_hosts_async(uns_store *base, const char *user,
                         const char *const *hosts, size_t n_hosts,
                         const char *id, uns_store_write_done_fn done,
                         void *arg)
{
	char u[UNS_STORE_ID_MAX + 1], h[UNS_STORE_ID_MAX + 1];
	bool among = false;
	uns_err rc;

	if (id == NULL || done == NULL || !uns_store_hosts_ok(hosts, n_hosts) ||
	    (user != NULL && !uns_store_id_ok(user))) {
		early(done, arg, uns_store_seterr(UNS_EINVAL, "bad argument"));
		return;
	}
	if ((rc = owner_of((pgs *)base, id, u, h)) != UNS_OK) {
		early(done, arg, rc);
		return;
	}
	for (size_t i = 0; i < n_hosts; i++) {
		among = among || strcmp(hosts[i], h) == 0;
	}
	if (!among || (user != NULL && strcmp(user, u) != 0)) {
		early(done, arg, UNS_NOT_FOUND);
		return;
	}
	update_queue((pgs *)base, u, h, id, NULL, &delete_change, done, arg);
}

void
pg_delete_by_app_id_async(uns_store *base, const char *user, const char *host,
                          const char *app_id, uns_store_write_done_fn done,
                          void *arg)
{
	if (done == NULL || !owner_ok(user, host) || !uns_store_id_ok(app_id)) {
		early(done, arg, uns_store_seterr(UNS_EINVAL, "bad argument"));
		return;
	}
	update_queue((pgs *)base, user, host, NULL, app_id, &delete_change,
	             done, arg);
}

/* --- subscriptions --------------------------------------------------------
 */

uns_err
pg_sub_put(uns_store *base, const char *user, const char *host,
           const Uns__V1__Subscription *in, Uns__V1__Subscription **out,
           bool *created)
{
	pgs *st = (pgs *)base;
	Uns__V1__Subscription s;
	struct pg_write *w;
	struct pg_call *c;
	uns_err rc;

	if (in == NULL || out == NULL || created == NULL ||
	    !uns_store_id_ok(in->device_id) || !owner_ok(user, host)) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if ((w = write_alloc(st, user, host)) == NULL) {
		return UNS_ENOMEM;
	}
	s = *in;
	s.base.n_unknown_fields = 0;
	s.base.unknown_fields = NULL;
	s.unsid = s.target_host_name = (char *)"";
	s.created_time_ms = s.expiration_time_ms = 0;
	s.delivery = NULL;
	if ((rc = uns_store_mint_id(w->id)) != UNS_OK) {
		goto out;
	}
	if ((w->body = pack(&s.base, &w->body_len)) == NULL) {
		rc = uns_store_seterr(UNS_ENOMEM, "out of memory");
		goto out;
	}
	c = &w->one;
	c->stmt = &stmts[W_SUB_PUT];
	param(c, 0, w->user);
	param(c, 1, w->host);
	param_int(w, c, 2, 0, w->now);
	param(c, 3, w->id);
	param(c, 4, in->device_id);
	param_int(w, c, 5, 1, in->platform);
	param_bytes(c, 6, w->body, w->body_len);
	param_int(w, c, 7, 2, st->base.cfg.sub_lifetime_ms);
	if ((rc = write_submit_wait(w)) == UNS_OK &&
	    (rc = pg_subscription(c->res, 0, 1, out)) == UNS_OK) {
		*created = pg_bool(c->res, 0, 0);
	}
out:
	write_free(w);
	return rc;
}

static void
sub_delete_finish(struct pg_write *w, uns_err rc)
{
	if (rc == UNS_OK) {
		rc = code_of(w->one.res, 0);
	}
	w->done(w->arg, rc, NULL, false);
	write_free(w);
}

void
pg_sub_delete_async(uns_store *base, const char *user, const char *host,
                    const char *unsid, uns_store_write_done_fn done, void *arg)
{
	struct pg_write *w;
	struct pg_call *c;

	if (unsid == NULL || done == NULL || !owner_ok(user, host)) {
		early(done, arg, uns_store_seterr(UNS_EINVAL, "bad argument"));
		return;
	}
	if ((w = write_alloc((pgs *)base, user, host)) == NULL) {
		early(done, arg, UNS_ENOMEM);
		return;
	}
	snprintf(w->id, sizeof(w->id), "%s", unsid);
	c = &w->one;
	c->stmt = &stmts[W_SUB_DELETE];
	param(c, 0, w->user);
	param(c, 1, w->host);
	param_int(w, c, 2, 0, w->now);
	param(c, 3, w->id);
	w->finish = sub_delete_finish;
	w->done = done;
	w->arg = arg;
	write_submit_async(w);
}

/* --- settling ---------------------------------------------------------------
 */

static bool
settle_ok(const uns_store_tap *t, uns_store_tap_result res)
{
	return t != NULL && t->user != NULL && t->host != NULL &&
	       (unsigned)res <= UNS_STORE_TAP_DEAD &&
	       strlen(t->ref) >= UNS_STORE_RID_LEN;
}

/* Numbers (seq, result, due, lease until) and the UNSID of one settle. */
#define SETTLE_TEXT (4 * PG_NUM + UNS_STORE_RID_LEN + 1)

/* Call i of w settles t under the lease its claim took (this node, the
 * tap's lease_until_ms; migrations/0004); its strings live in the tap and
 * in w->text. */
static void
settle_call(struct pg_write *w, size_t i, const uns_store_tap *t,
            uns_store_tap_result res, int64_t due_ms, const char *error)
{
	struct pg_call *c = &w->calls[i];
	char *nums = w->text + i * SETTLE_TEXT;
	char *unsid = nums + 4 * PG_NUM;

	c->stmt = &stmts[W_SETTLE];
	c->user = t->user;
	c->host = t->host;
	memcpy(unsid, t->ref, UNS_STORE_RID_LEN);
	unsid[UNS_STORE_RID_LEN] = '\0';
	snprintf(nums, PG_NUM, "%llu", (unsigned long long)t->seq);
	snprintf(nums + PG_NUM, PG_NUM, "%d", (int)res);
	snprintf(nums + 2 * PG_NUM, PG_NUM, "%lld", (long long)due_ms);
	snprintf(nums + 3 * PG_NUM, PG_NUM, "%lld",
	         (long long)t->lease_until_ms);
	param(c, 0, t->user);
	param(c, 1, t->host);
	param(c, 2, w->num[0]);
	param(c, 3, t->ref);
	param(c, 4, unsid);
	param(c, 5, nums);
	param(c, 6, nums + PG_NUM);
	param(c, 7, nums + 2 * PG_NUM);
	param(c, 8, error);
	param(c, 9, w->st->node);
	param(c, 10, nums + 3 * PG_NUM);
}

/* A write of n settles (calls and their number storage). */
static struct pg_write *
settle_alloc(pgs *st, size_t n)
{
	struct pg_write *w = write_alloc(st, "", "");

	if (w == NULL) {
		return NULL;
	}
	w->calls = calloc(n, sizeof(*w->calls));
	w->text = calloc(n, SETTLE_TEXT);
	w->ncalls = n;
	if (w->calls == NULL || w->text == NULL) {
		if (w->calls == NULL) {
			w->calls = &w->one;
		}
		w->ncalls = 1;
		write_free(w);
		uns_store_seterr(UNS_ENOMEM, "out of memory");
		return NULL;
	}
	snprintf(w->num[0], PG_NUM, "%lld", (long long)w->now);
	return w;
}

/* Settles that found their lease taken by another claim changed nothing
 * (migrations/0004): one line per write, naming the first tap. The
 * delivery engine counts them (uns_delivery_leases_lost_total). */
static void
settle_lost_note(const pgs *st, const uns_store_tap *first, size_t n)
{
	fprintf(stderr,
	        "unsd: node %s: %zu settle%s found the tap's lease taken by "
	        "another claim (this node's lease ran out first; tap %s%s): "
	        "nothing recorded, the newer claim settles it\n",
	        st->node, n, n == 1 ? "" : "s", first->ref,
	        n == 1 ? "" : " and others");
}

uns_err
pg_outbox_settle(uns_store *base, const uns_store_tap *t,
                 uns_store_tap_result res, int64_t due_ms, const char *error,
                 bool *newer)
{
	struct pg_write *w;
	uns_err rc;

	if (!settle_ok(t, res)) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if ((w = settle_alloc((pgs *)base, 1)) == NULL) {
		return UNS_ENOMEM;
	}
	settle_call(w, 0, t, res, due_ms, error);
	if ((rc = write_submit_wait(w)) == UNS_OK) {
		if (pg_bool(w->calls[0].res, 0, 1)) {
			settle_lost_note(w->st, t, 1);
		}
		if (newer != NULL) {
			*newer = pg_bool(w->calls[0].res, 0, 0);
		}
	}
	write_free(w);
	return rc;
}

uns_err
pg_outbox_settle_many(uns_store *base, uns_store_settle *v, size_t n)
{
	struct pg_write *w;
	uns_err rc;

	if ((n > 0 && v == NULL) || !uns_store_settles_ok(v, n)) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	if (n == 0) {
		return UNS_OK;
	}
	if ((w = settle_alloc((pgs *)base, n)) == NULL) {
		return UNS_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		settle_call(w, i, v[i].tap, v[i].result, v[i].due_ms,
		            v[i].error);
	}
	if ((rc = write_submit_wait(w)) == UNS_OK) {
		const uns_store_tap *first = NULL;
		size_t lost = 0;
		for (size_t i = 0; i < n; i++) {
			v[i].newer = pg_bool(w->calls[i].res, 0, 0);
			v[i].lost = pg_bool(w->calls[i].res, 0, 1);
			if (v[i].lost && lost++ == 0) {
				first = v[i].tap;
			}
		}
		if (lost > 0) {
			settle_lost_note(w->st, first, lost);
		}
	}
	write_free(w);
	return rc;
}

/* --- fetched -------------------------------------------------------------- */

/* "{id,id}" of the well-formed ids (minted ids need no quoting). */
static char *
ids_literal(const char *const *ids, size_t n)
{
	char *s = malloc(2 + n * (UNS_STORE_RID_LEN + 1) + 1), *p = s;

	if (s == NULL) {
		return NULL;
	}
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		const char *id = ids[i];
		bool ok =
		    id != NULL && strlen(id) == UNS_STORE_RID_LEN &&
		    strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
		               "qrstuvwxyz0123456789-_") == UNS_STORE_RID_LEN;
		if (ok) {
			p += sprintf(p, "%s%s", p[-1] == '{' ? "" : ",", id);
		}
	}
	strcpy(p, "}");
	return s;
}

static void
fetched_finish(struct pg_write *w, uns_err rc)
{
	w->done(w->arg, rc, NULL, false);
	write_free(w);
}

/* Asynchronous like the other writes (issue 14): the committer answers
 * done after the transaction that records the fetch has committed, so no
 * NNG thread waits for it. */
void
pg_fetched_async(uns_store *base, const char *user, const char *host,
                 const char *unsid, const char *const *ids, size_t n,
                 uns_store_write_done_fn done, void *arg)
{
	struct pg_write *w;
	struct pg_call *c;

	if (done == NULL || unsid == NULL ||
	    strlen(unsid) != UNS_STORE_RID_LEN || (n > 0 && ids == NULL) ||
	    !owner_ok(user, host)) {
		early(done, arg, uns_store_seterr(UNS_EINVAL, "bad argument"));
		return;
	}
	if ((w = write_alloc((pgs *)base, user, host)) == NULL) {
		early(done, arg, UNS_ENOMEM);
		return;
	}
	snprintf(w->id, sizeof(w->id), "%s", unsid);
	if ((w->text = ids_literal(ids, n)) == NULL) {
		write_free(w);
		early(done, arg, uns_store_seterr(UNS_ENOMEM, "out of memory"));
		return;
	}
	if (strcmp(w->text, "{}") == 0) {
		write_free(w);
		early(done, arg, UNS_OK);
		return;
	}
	c = &w->one;
	c->stmt = &stmts[W_FETCHED];
	param(c, 0, w->id);
	param(c, 1, w->text);
	w->finish = fetched_finish;
	w->done = done;
	w->arg = arg;
	write_submit_async(w);
}
