/*
 * store.c — store.h over the backends: picks the backend the configuration
 * names, dispatches every call to its table of operations, and makes the
 * blocking writes out of the asynchronous ones (a write plus a wait), so a
 * backend implements each write once. What frees results is here too:
 * results are protobuf messages and arenas, whatever the backend.
 */
#include "store.h"

#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "store_backend.h"
#include "store_util.h"

static const uns_store_ops *const backends[] = {
    &uns_store_rocksdb_ops,
    &uns_store_postgres_ops,
};

static const uns_store_ops *
backend_find(const char *name)
{
	if (name == NULL || name[0] == '\0') {
		return backends[0];
	}
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (strcmp(backends[i]->name, name) == 0) {
			return backends[i];
		}
	}
	return NULL;
}

uns_err
uns_store_add_keys(struct uns_config *c)
{
	uns_err err = UNS_OK;

	for (size_t i = 0;
	     err == UNS_OK && i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (backends[i]->keys != NULL) {
			err = uns_config_add(c, backends[i]->keys);
		}
	}
	return err;
}

static uns_err
bad_argument(void)
{
	return uns_store_seterr(UNS_EINVAL, "bad argument");
}

/* --- lifecycle -------------------------------------------------------- */

uns_err
uns_store_open(uns_store **stp, const uns_store_config *cfg)
{
	const uns_store_ops *ops;

	if (stp == NULL || cfg == NULL) {
		return bad_argument();
	}
	if ((ops = backend_find(cfg->backend)) == NULL) {
		return uns_store_seterr(
		    UNS_EINVAL, "unknown store backend \"%s\"", cfg->backend);
	}
	return ops->open(cfg, stp);
}

void
uns_store_close(uns_store *st)
{
	if (st != NULL) {
		st->ops->close(st);
	}
}

uns_err
uns_store_observe(uns_store *st, uns_store_observer_fn fn, void *arg)
{
	uns_err err = UNS_OK;

	if (st == NULL || fn == NULL) {
		return UNS_EINVAL;
	}
	pthread_mutex_lock(&st->observers_mu);
	for (size_t i = 0; i < st->n_observers; i++) {
		if (st->observers[i].fn == fn && st->observers[i].arg == arg) {
			err = UNS_EINVAL;
		}
	}
	if (err == UNS_OK && st->n_observers == UNS_STORE_OBSERVERS_MAX) {
		err = UNS_RESOURCE_EXHAUSTED;
	}
	if (err == UNS_OK) {
		st->observers[st->n_observers++] =
		    (struct uns_store_observer){fn, arg};
	}
	pthread_mutex_unlock(&st->observers_mu);
	return err;
}

void
uns_store_unobserve(uns_store *st, uns_store_observer_fn fn, void *arg)
{
	if (st == NULL) {
		return;
	}
	pthread_mutex_lock(&st->observers_mu);
	for (size_t i = 0; i < st->n_observers; i++) {
		if (st->observers[i].fn == fn && st->observers[i].arg == arg) {
			memmove(&st->observers[i], &st->observers[i + 1],
			        (st->n_observers - i - 1) *
			            sizeof(st->observers[0]));
			st->n_observers--;
			break;
		}
	}
	pthread_mutex_unlock(&st->observers_mu);
}

uns_err
uns_store_stats_get(uns_store *st, uns_store_stats *out)
{
	if (st == NULL || out == NULL) {
		return bad_argument();
	}
	return st->ops->stats_get(st, out);
}

int
uns_store_health(uns_store *st, char *note, size_t cap)
{
	if (st == NULL || note == NULL || cap == 0) {
		return 0;
	}
	note[0] = '\0';
	int ok = st->ops->health != NULL ? st->ops->health(st, note, cap) : 1;
	if (ok && note[0] == '\0') {
		snprintf(note, cap, "%s", st->opened);
	}
	return ok;
}

/* --- blocking writes: the asynchronous write plus a wait ---------------- */

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
		return bad_argument();
	}
	write_wait_init(&ww);
	st->ops->post_async(st, user, host, in, write_wait_done, &ww);
	return write_wait_end(&ww, out, created);
}

uns_err
uns_store_post_keyed(uns_store *st, const char *user, const char *host,
                     const Uns__V1__Notification *in,
                     const uns_store_idem *idem, Uns__V1__Notification **out,
                     bool *created)
{
	struct write_wait ww;

	if (st == NULL || out == NULL || created == NULL) {
		return bad_argument();
	}
	write_wait_init(&ww);
	uns_store_post_keyed_async(st, user, host, in, idem, write_wait_done,
	                           &ww);
	return write_wait_end(&ww, out, created);
}

uns_err
uns_store_update_state(uns_store *st, const char *user, const char *host,
                       const char *id, const uns_store_change *chg,
                       Uns__V1__Notification **out)
{
	struct write_wait ww;

	if (st == NULL || out == NULL) {
		return bad_argument();
	}
	write_wait_init(&ww);
	st->ops->update_state_async(st, user, host, id, chg, write_wait_done,
	                            &ww);
	return write_wait_end(&ww, out, NULL);
}

uns_err
uns_store_delete_in_hosts(uns_store *st, const char *user,
                          const char *const *hosts, size_t n_hosts,
                          const char *id)
{
	struct write_wait ww;

	if (st == NULL) {
		return bad_argument();
	}
	write_wait_init(&ww);
	st->ops->delete_in_hosts_async(st, user, hosts, n_hosts, id,
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

	if (st == NULL) {
		return bad_argument();
	}
	write_wait_init(&ww);
	st->ops->delete_by_app_id_async(st, user, host, app_id, write_wait_done,
	                                &ww);
	return write_wait_end_discard(&ww);
}

uns_err
uns_store_sub_delete(uns_store *st, const char *user, const char *host,
                     const char *unsid)
{
	struct write_wait ww;

	if (st == NULL) {
		return bad_argument();
	}
	write_wait_init(&ww);
	st->ops->sub_delete_async(st, user, host, unsid, write_wait_done, &ww);
	return write_wait_end_discard(&ww);
}

/* --- asynchronous writes ------------------------------------------------ */

/* A NULL store: done hears why, on this thread. */
static bool
async_ok(uns_store *st, uns_store_write_done_fn done, void *arg)
{
	if (st == NULL && done != NULL) {
		done(arg, bad_argument(), NULL, false);
	}
	return st != NULL;
}

void
uns_store_post_async(uns_store *st, const char *user, const char *host,
                     const Uns__V1__Notification *in,
                     uns_store_write_done_fn done, void *arg)
{
	if (async_ok(st, done, arg)) {
		st->ops->post_async(st, user, host, in, done, arg);
	}
}

void
uns_store_post_keyed_async(uns_store *st, const char *user, const char *host,
                           const Uns__V1__Notification *in,
                           const uns_store_idem *idem,
                           uns_store_write_done_fn done, void *arg)
{
	if (!async_ok(st, done, arg)) {
		return;
	}
	if (idem == NULL) {
		st->ops->post_async(st, user, host, in, done, arg);
	} else if (st->ops->post_keyed_async == NULL) {
		done(arg,
		     uns_store_seterr(UNS_UNIMPLEMENTED,
		                      "the %s store has no idempotency keys",
		                      st->ops->name),
		     NULL, false);
	} else if (idem->key == NULL || idem->key[0] == '\0' ||
	           strlen(idem->key) > UNS_STORE_IDEM_KEY_MAX ||
	           idem->window_ms <= 0) {
		done(arg, bad_argument(), NULL, false);
	} else {
		st->ops->post_keyed_async(st, user, host, in, idem, done, arg);
	}
}

void
uns_store_update_state_async(uns_store *st, const char *user, const char *host,
                             const char *id, const uns_store_change *chg,
                             uns_store_write_done_fn done, void *arg)
{
	if (async_ok(st, done, arg)) {
		st->ops->update_state_async(st, user, host, id, chg, done, arg);
	}
}

void
uns_store_delete_in_hosts_async(uns_store *st, const char *user,
                                const char *const *hosts, size_t n_hosts,
                                const char *id, uns_store_write_done_fn done,
                                void *arg)
{
	if (async_ok(st, done, arg)) {
		st->ops->delete_in_hosts_async(st, user, hosts, n_hosts, id,
		                               done, arg);
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
	if (async_ok(st, done, arg)) {
		st->ops->delete_by_app_id_async(st, user, host, app_id, done,
		                                arg);
	}
}

void
uns_store_sub_delete_async(uns_store *st, const char *user, const char *host,
                           const char *unsid, uns_store_write_done_fn done,
                           void *arg)
{
	if (async_ok(st, done, arg)) {
		st->ops->sub_delete_async(st, user, host, unsid, done, arg);
	}
}

/* --- the rest: dispatch --------------------------------------------------
 */

uns_err
uns_store_sub_put(uns_store *st, const char *user, const char *host,
                  const Uns__V1__Subscription *in, Uns__V1__Subscription **out,
                  bool *created)
{
	return st != NULL ? st->ops->sub_put(st, user, host, in, out, created)
	                  : bad_argument();
}

uns_err
uns_store_sub_get(uns_store *st, const char *unsid, char **user,
                  Uns__V1__Subscription **out)
{
	return st != NULL ? st->ops->sub_get(st, unsid, user, out)
	                  : bad_argument();
}

uns_err
uns_store_sub_list(uns_store *st, const char *user, const char *host,
                   uns_store_subs *out)
{
	return st != NULL ? st->ops->sub_list(st, user, host, out)
	                  : bad_argument();
}

uns_err
uns_store_get(uns_store *st, const char *user, const char *host, const char *id,
              Uns__V1__Notification **out)
{
	return st != NULL ? st->ops->get(st, user, host, id, out)
	                  : bad_argument();
}

uns_err
uns_store_feed_read(uns_store *st, const char *user, const char *host,
                    const char *cursor, uint32_t limit,
                    uns_store_feed_page *out)
{
	return st != NULL
	           ? st->ops->feed_read(st, user, host, cursor, limit, out)
	           : bad_argument();
}

uns_err
uns_store_feed_head(uns_store *st, const char *user, const char *host,
                    char **cursor)
{
	return st != NULL ? st->ops->feed_head(st, user, host, cursor)
	                  : bad_argument();
}

uns_err
uns_store_history(uns_store *st, const char *user, const char *host,
                  const uns_store_history_query *q, uns_store_history_page *out)
{
	return st != NULL ? st->ops->history(st, user, host, q, out)
	                  : bad_argument();
}

uns_err
uns_store_outbox_claim(uns_store *st, size_t max, int64_t lease_ms,
                       uns_store_taps *out)
{
	return st != NULL ? st->ops->outbox_claim(st, max, lease_ms, out)
	                  : bad_argument();
}

uns_err
uns_store_outbox_next_due(uns_store *st, int64_t *due_ms)
{
	return st != NULL ? st->ops->outbox_next_due(st, due_ms)
	                  : bad_argument();
}

uns_err
uns_store_next_expiry(uns_store *st, int64_t *when_ms)
{
	return st != NULL && when_ms != NULL ? st->ops->next_expiry(st, when_ms)
	                                     : bad_argument();
}

uns_err
uns_store_outbox_settle(uns_store *st, const uns_store_tap *t,
                        uns_store_tap_result res, int64_t due_ms,
                        const char *error, bool *newer)
{
	return st != NULL
	           ? st->ops->outbox_settle(st, t, res, due_ms, error, newer)
	           : bad_argument();
}

uns_err
uns_store_outbox_settle_many(uns_store *st, uns_store_settle *v, size_t n)
{
	return st != NULL ? st->ops->outbox_settle_many(st, v, n)
	                  : bad_argument();
}

uns_err
uns_store_outbox_count(uns_store *st, size_t *n)
{
	return st != NULL ? st->ops->outbox_count(st, n) : bad_argument();
}

void
uns_store_fetched_async(uns_store *st, const char *user, const char *host,
                        const char *unsid, const char *const *ids, size_t n,
                        uns_store_write_done_fn done, void *arg)
{
	if (st == NULL) {
		if (done != NULL) {
			done(arg, bad_argument(), NULL, false);
		}
		return;
	}
	st->ops->fetched_async(st, user, host, unsid, ids, n, done, arg);
}

uns_err
uns_store_fetched(uns_store *st, const char *user, const char *host,
                  const char *unsid, const char *const *ids, size_t n)
{
	struct write_wait ww;

	if (st == NULL) {
		return bad_argument();
	}
	write_wait_init(&ww);
	st->ops->fetched_async(st, user, host, unsid, ids, n, write_wait_done,
	                       &ww);
	return write_wait_end_discard(&ww);
}

uns_err
uns_store_fallback_run(uns_store *st, size_t *queued)
{
	return st != NULL ? st->ops->fallback_run(st, queued) : bad_argument();
}

uns_err
uns_store_reclaim(uns_store *st, int64_t now, size_t *reclaimed)
{
	return st != NULL ? st->ops->reclaim(st, now, reclaimed)
	                  : bad_argument();
}

const char *
uns_store_node_id(const uns_store *st)
{
	return st != NULL && st->node_id != NULL ? st->node_id : "";
}

unsigned
uns_store_nodes_live(uns_store *st)
{
	unsigned n = st != NULL && st->ops->nodes_live != NULL
	                 ? st->ops->nodes_live(st)
	                 : 1;

	return n > 0 ? n : 1;
}

/* --- freeing results ------------------------------------------------------
 */

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

void
uns_store_feed_page_free(uns_store_feed_page *p)
{
	if (p == NULL) {
		return;
	}
	if (p->arena != NULL) {
		uns_store_arena_free(p->arena);
	} else { /* put together by a caller: see store.h */
		for (size_t i = 0; i < p->n; i++) {
			uns__v1__feed_entry__free_unpacked(p->entries[i], NULL);
		}
		free(p->entries);
		free(p->next_cursor);
	}
	memset(p, 0, sizeof(*p));
}

void
uns_store_history_page_free(uns_store_history_page *p)
{
	if (p == NULL) {
		return;
	}
	uns_store_arena_free(p->arena);
	memset(p, 0, sizeof(*p));
}

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
