/*
 * store_conformance.h — the conformance suite of the storage interface,
 * written against server/store/store.h only, so every backend (RocksDB today,
 * PostgreSQL later) runs the same tests unchanged.
 *
 * Use: before including this file, define
 *   static void conf_backend_config(uns_store_config *cfg);
 *       fill cfg's location fields (cfg->dir) for a fresh, empty store;
 *   static void conf_backend_destroy(const uns_store_config *cfg);
 *       remove that store's data;
 * then put UNS_STORE_CONFORMANCE_TESTS into a cmocka test array.
 *
 * Each test gets a fresh store with an injected clock (conf_clock), no
 * background reclaim, and the default limits. Tests move time by setting
 * c->now; expiry is checked against that clock on every read.
 */
#ifndef UNS_TESTS_STORE_CONFORMANCE_H
#define UNS_TESTS_STORE_CONFORMANCE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

#define CONF_T0    1700000000000LL /* 2023-11-14, in ms */
#define CONF_DAY   (24LL * 3600 * 1000)
#define CONF_HOST  "contoso.example.com"
#define CONF_HOST2 "fabrikam.example.com"

#define RS(x)  UNS__V1__READ_STATE__READ_STATE_##x
#define UAS(x) UNS__V1__USER_ACTION_STATE__USER_ACTION_STATE_##x
#define NST(x) UNS__V1__NOTIFICATION_STATUS__NOTIFICATION_STATUS_##x
#define RMV(x) UNS__V1__REMOVED_REASON__REMOVED_REASON_##x

struct conf {
	uns_store_config cfg;
	uns_store *st;
	_Atomic int64_t now;
	atomic_int hook_calls;
	_Atomic uint64_t hook_head;
};

static int64_t
conf_clock(void *arg)
{
	struct conf *c = arg;

	return atomic_load(&c->now);
}

static void
conf_open(struct conf *c)
{
	assert_int_equal(uns_store_open(&c->st, &c->cfg), UNS_OK);
}

static void
conf_reopen(struct conf *c)
{
	uns_store_close(c->st);
	c->st = NULL;
	conf_open(c);
}

static int
conf_setup(void **state)
{
	struct conf *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	conf_backend_config(&c->cfg);
	c->cfg.clock = conf_clock;
	c->cfg.clock_arg = c;
	c->cfg.reclaim_interval_ms = -1;
	atomic_store(&c->now, CONF_T0);
	conf_open(c);
	*state = c;
	return 0;
}

static int
conf_teardown(void **state)
{
	struct conf *c = *state;

	uns_store_close(c->st);
	conf_backend_destroy(&c->cfg);
	free(c);
	return 0;
}

/* --- helpers ---------------------------------------------------------- */

static uns_err
conf_try_post(struct conf *c, const char *user, const char *host,
              const char *app_id, const char *group, const char *title,
              int64_t expiration, Uns__V1__Notification **out, bool *created)
{
	Uns__V1__VisualContent vc = UNS__V1__VISUAL_CONTENT__INIT;
	Uns__V1__Payload pl = UNS__V1__PAYLOAD__INIT;
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT;

	vc.title = (char *)title;
	vc.body = "body text";
	pl.visual_content = &vc;
	n.app_notification_id = (char *)app_id;
	n.group_name = (char *)group;
	n.payload = &pl;
	n.priority = UNS__V1__PRIORITY__PRIORITY_HIGH;
	n.expiration_time_ms = expiration;
	return uns_store_post(c->st, user, host, &n, out, created);
}

static Uns__V1__Notification *
conf_post(struct conf *c, const char *user, const char *host,
          const char *app_id, const char *group)
{
	Uns__V1__Notification *n = NULL;
	bool created;

	assert_int_equal(conf_try_post(c, user, host, app_id, group, "hello", 0,
	                               &n, &created),
	                 UNS_OK);
	assert_non_null(n);
	return n;
}

static void
conf_free(Uns__V1__Notification *n)
{
	uns__v1__notification__free_unpacked(n, NULL);
}

static uns_err
conf_update(struct conf *c, const char *user, const char *id,
            Uns__V1__ReadState rs, Uns__V1__UserActionState uas, bool del,
            uint64_t if_version, uint64_t *version)
{
	uns_store_change chg = {rs, uas, del, if_version, NULL};
	Uns__V1__Notification *n = NULL;
	uns_err rc =
	    uns_store_update_state(c->st, user, CONF_HOST, id, &chg, &n);

	if (rc == UNS_OK) {
		if (version != NULL) {
			*version = n->version;
		}
		conf_free(n);
	}
	return rc;
}

static char *
conf_head(struct conf *c, const char *user, const char *host)
{
	char *cur = NULL;

	assert_int_equal(uns_store_feed_head(c->st, user, host, &cur), UNS_OK);
	return cur;
}

/* A heap copy of a message, freed with its free_unpacked(NULL). */
static void *
conf_msg_copy(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len + 1);
	protobuf_c_message_pack(m, buf);
	void *copy = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
	free(buf);
	assert_non_null(copy);
	return copy;
}

/* Reads the whole feed after cursor (following "more") into one page of
 * heap copies (arena NULL); the caller frees it with
 * uns_store_feed_page_free. */
static uns_store_feed_page
conf_feed_all(struct conf *c, const char *user, const char *cursor)
{
	uns_store_feed_page all = {0}, p;
	char *cur = strdup(cursor != NULL ? cursor : "");

	do {
		assert_int_equal(
		    uns_store_feed_read(c->st, user, CONF_HOST, cur, 7, &p),
		    UNS_OK);
		all.entries = realloc(all.entries,
		                      (all.n + p.n + 1) * sizeof(*all.entries));
		for (size_t i = 0; i < p.n; i++) { /* heap copies */
			all.entries[all.n++] =
			    conf_msg_copy(&p.entries[i]->base);
		}
		free(cur);
		cur = strdup(p.next_cursor);
		all.more = p.more;
		uns_store_feed_page_free(&p);
	} while (all.more);
	all.next_cursor = cur;
	return all;
}

static const Uns__V1__FeedEntry *
conf_feed_find(const uns_store_feed_page *p, const char *id)
{
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->entries[i]->notification->id, id) == 0) {
			return p->entries[i];
		}
	}
	return NULL;
}

/* --- subscriptions ---------------------------------------------------- */

static uns_err
conf_sub(struct conf *c, const char *user, const char *host, const char *device,
         const char *channel, Uns__V1__Subscription **out, bool *created)
{
	Uns__V1__Subscription in = UNS__V1__SUBSCRIPTION__INIT;

	in.device_id = (char *)device;
	in.platform = UNS__V1__PLATFORM__PLATFORM_WEBHOOK;
	in.push_channel = (char *)channel;
	return uns_store_sub_put(c->st, user, host, &in, out, created);
}

static void
conf_sub_lifecycle(void **state)
{
	struct conf *c = *state;
	Uns__V1__Subscription *s1, *s1b, *s2, *got;
	uns_store_subs l;
	char *user;
	bool created;

	assert_int_equal(
	    conf_sub(c, "alice", CONF_HOST, "d1", "https://a/1", &s1, &created),
	    UNS_OK);
	assert_true(created);
	assert_int_equal(strlen(s1->unsid), 22);
	assert_string_equal(s1->target_host_name, CONF_HOST);
	assert_true(s1->expiration_time_ms == CONF_T0 + 30 * CONF_DAY);

	atomic_store(&c->now, CONF_T0 + CONF_DAY); /* renew a day later */
	assert_int_equal(conf_sub(c, "alice", CONF_HOST, "d1", "https://a/2",
	                          &s1b, &created),
	                 UNS_OK);
	assert_false(created);
	assert_string_equal(s1b->unsid, s1->unsid);
	assert_true(s1b->created_time_ms == CONF_T0);
	assert_true(s1b->expiration_time_ms == CONF_T0 + 31 * CONF_DAY);
	assert_string_equal(s1b->push_channel, "https://a/2");

	assert_int_equal(uns_store_sub_get(c->st, s1->unsid, &user, &got),
	                 UNS_OK);
	assert_string_equal(user, "alice");
	assert_string_equal(got->target_host_name, CONF_HOST);
	assert_string_equal(got->push_channel, "https://a/2");
	free(user);
	uns__v1__subscription__free_unpacked(got, NULL);

	assert_int_equal(
	    conf_sub(c, "alice", CONF_HOST, "d2", "", &s2, &created), UNS_OK);
	assert_true(created);
	assert_string_not_equal(s2->unsid, s1->unsid);

	assert_int_equal(uns_store_sub_list(c->st, "alice", CONF_HOST, &l),
	                 UNS_OK);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.subs[0]->device_id, "d1");
	assert_string_equal(l.subs[1]->device_id, "d2");
	uns_store_subs_free(&l);
	assert_int_equal(uns_store_sub_list(c->st, "alice", CONF_HOST2, &l),
	                 UNS_OK);
	assert_int_equal(l.n, 0);
	uns_store_subs_free(&l);

	/* Someone else's UNSID is not found, exactly like a missing one. */
	assert_int_equal(
	    uns_store_sub_delete(c->st, "bob", CONF_HOST, s1->unsid),
	    UNS_NOT_FOUND);
	assert_int_equal(
	    uns_store_sub_delete(c->st, "alice", CONF_HOST2, s1->unsid),
	    UNS_NOT_FOUND);
	assert_int_equal(uns_store_sub_delete(c->st, "alice", CONF_HOST,
	                                      "AAAAAAAAAAAAAAAAAAAAAA"),
	                 UNS_NOT_FOUND);
	assert_int_equal(
	    uns_store_sub_delete(c->st, "alice", CONF_HOST, s1->unsid), UNS_OK);
	assert_int_equal(uns_store_sub_get(c->st, s1->unsid, &user, &got),
	                 UNS_NOT_FOUND);
	assert_int_equal(
	    uns_store_sub_delete(c->st, "alice", CONF_HOST, s1->unsid),
	    UNS_NOT_FOUND);
	assert_int_equal(uns_store_sub_list(c->st, "alice", CONF_HOST, &l),
	                 UNS_OK);
	assert_int_equal(l.n, 1);
	uns_store_subs_free(&l);

	uns__v1__subscription__free_unpacked(s1, NULL);
	uns__v1__subscription__free_unpacked(s1b, NULL);
	uns__v1__subscription__free_unpacked(s2, NULL);
}

static void
conf_sub_expiry(void **state)
{
	struct conf *c = *state;
	Uns__V1__Subscription *s, *s2, *got = NULL;
	uns_store_subs l;
	char *user = NULL;
	size_t n;
	bool created;

	assert_int_equal(
	    conf_sub(c, "alice", CONF_HOST, "d1", "", &s, &created), UNS_OK);
	atomic_store(&c->now,
	             CONF_T0 + 30 * CONF_DAY); /* expiry is exclusive */
	assert_int_equal(uns_store_sub_get(c->st, s->unsid, &user, &got),
	                 UNS_NOT_FOUND);
	assert_null(got);
	assert_null(user);
	assert_int_equal(uns_store_sub_list(c->st, "alice", CONF_HOST, &l),
	                 UNS_OK);
	assert_int_equal(l.n, 0);
	uns_store_subs_free(&l);
	assert_int_equal(uns_store_reclaim(c->st, atomic_load(&c->now), &n),
	                 UNS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(
	    conf_sub(c, "alice", CONF_HOST, "d1", "", &s2, &created), UNS_OK);
	assert_true(created);
	assert_string_not_equal(s2->unsid, s->unsid);
	uns__v1__subscription__free_unpacked(s, NULL);
	uns__v1__subscription__free_unpacked(s2, NULL);
}

static void
conf_sub_invalid(void **state)
{
	struct conf *c = *state;
	Uns__V1__Subscription *s = NULL;
	bool created;

	assert_int_equal(conf_sub(c, "alice", CONF_HOST, "", "", &s, &created),
	                 UNS_EINVAL);
	assert_int_equal(conf_sub(c, "", CONF_HOST, "d", "", &s, &created),
	                 UNS_EINVAL);
	assert_int_equal(conf_sub(c, "alice", NULL, "d", "", &s, &created),
	                 UNS_EINVAL);
	assert_null(s);
}

/* --- post, get, replace ---------------------------------------------- */

static void
conf_post_get(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *n, *got;
	bool created = false;

	assert_int_equal(conf_try_post(c, "alice", CONF_HOST, "app-1", "grp",
	                               "hi", 0, &n, &created),
	                 UNS_OK);
	assert_true(created);
	assert_int_equal(strlen(n->id), 22);
	assert_int_equal(strspn(n->id,
	                        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	                        "qrstuvwxyz0123456789-_"),
	                 22);
	assert_string_equal(n->target_host_name, CONF_HOST);
	assert_string_equal(n->app_notification_id, "app-1");
	assert_string_equal(n->payload->visual_content->title, "hi");
	assert_int_equal(n->read_state, RS(UNREAD));
	assert_int_equal(n->user_action_state, UAS(NO_INTERACTION));
	assert_int_equal(n->status, NST(ACTIVE));
	assert_int_equal(n->version, 1);
	assert_true(n->created_time_ms == CONF_T0);
	assert_true(n->last_modified_time_ms == CONF_T0);
	assert_true(n->expiration_time_ms == CONF_T0 + 7 * CONF_DAY);

	assert_int_equal(uns_store_get(c->st, "alice", CONF_HOST, n->id, &got),
	                 UNS_OK);
	assert_string_equal(got->id, n->id);
	assert_string_equal(got->group_name, "grp");
	assert_int_equal(got->priority, UNS__V1__PRIORITY__PRIORITY_HIGH);
	conf_free(got);
	got = NULL;
	assert_int_equal(uns_store_get(c->st, "alice", CONF_HOST,
	                               "AAAAAAAAAAAAAAAAAAAAAA", &got),
	                 UNS_NOT_FOUND);
	assert_int_equal(
	    uns_store_get(c->st, "alice", CONF_HOST, "short", &got),
	    UNS_NOT_FOUND);
	assert_null(got);
	conf_free(n);
}

static void
conf_post_invalid(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *n = NULL;
	char big[300];
	bool created = false;
	char *head = conf_head(c, "alice", CONF_HOST), *head2;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(
	    conf_try_post(c, "alice", CONF_HOST, "", "", "t", 0, &n, &created),
	    UNS_EINVAL);
	assert_int_equal(
	    conf_try_post(c, "alice", CONF_HOST, big, "", "t", 0, &n, &created),
	    UNS_EINVAL);
	assert_int_equal(
	    conf_try_post(c, big, CONF_HOST, "a", "", "t", 0, &n, &created),
	    UNS_EINVAL);
	assert_int_equal(
	    conf_try_post(c, "alice", "", "a", "", "t", 0, &n, &created),
	    UNS_EINVAL);
	assert_int_equal(conf_try_post(c, "alice", CONF_HOST, "a", "", "t",
	                               CONF_T0, &n, &created),
	                 UNS_EINVAL);
	assert_int_equal(
	    uns_store_post(c->st, "alice", CONF_HOST, NULL, &n, &created),
	    UNS_EINVAL);
	assert_null(n);
	assert_false(created);
	head2 = conf_head(c, "alice", CONF_HOST);
	assert_string_equal(head, head2); /* failed calls changed nothing */
	free(head);
	free(head2);
}

static void
conf_replace_resets_state(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *n = conf_post(c, "alice", CONF_HOST, "a1", "g");
	Uns__V1__Notification *r = NULL;
	uint64_t v;
	bool created = true;

	assert_int_equal(conf_update(c, "alice", n->id, RS(READ),
	                             UAS(DISMISSED), false, 0, &v),
	                 UNS_OK);
	assert_int_equal(v, 2);
	atomic_store(&c->now, CONF_T0 + 5000);
	assert_int_equal(conf_try_post(c, "alice", CONF_HOST, "a1", "g2",
	                               "replaced", 0, &r, &created),
	                 UNS_OK);
	assert_false(created);
	assert_string_equal(r->id, n->id);
	assert_int_equal(r->version, 3);
	assert_int_equal(r->read_state, RS(UNREAD));
	assert_int_equal(r->user_action_state, UAS(NO_INTERACTION));
	assert_string_equal(r->payload->visual_content->title, "replaced");
	assert_string_equal(r->group_name, "g2");
	assert_true(r->created_time_ms == CONF_T0);
	assert_true(r->last_modified_time_ms == CONF_T0 + 5000);
	conf_free(r);
	assert_int_equal(uns_store_get(c->st, "alice", CONF_HOST, n->id, &r),
	                 UNS_OK);
	assert_int_equal(r->version, 3);
	assert_string_equal(r->payload->visual_content->title, "replaced");
	conf_free(r);
	conf_free(n);
}

/* --- feed ------------------------------------------------------------ */

static void
conf_two_devices_share_feed(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *a = conf_post(c, "alice", CONF_HOST, "a", "");
	Uns__V1__Notification *b = conf_post(c, "alice", CONF_HOST, "b", "");
	uns_store_feed_page d1 = conf_feed_all(c, "alice", NULL);
	uns_store_feed_page d2 = conf_feed_all(c, "alice", "");
	uns_store_feed_page d1b, d2b;

	assert_int_equal(d1.n, 2);
	assert_int_equal(d2.n, 2);
	for (size_t i = 0; i < d1.n; i++) {
		assert_string_equal(d1.entries[i]->notification->id,
		                    d2.entries[i]->notification->id);
	}
	assert_string_equal(d1.entries[0]->notification->id, a->id);
	assert_string_equal(d1.next_cursor, d2.next_cursor);

	/* Device 1 reads b; both devices see the change on their next read. */
	assert_int_equal(
	    conf_update(c, "alice", b->id, RS(READ), 0, false, 0, NULL),
	    UNS_OK);
	d1b = conf_feed_all(c, "alice", d1.next_cursor);
	d2b = conf_feed_all(c, "alice", d2.next_cursor);
	assert_int_equal(d1b.n, 1);
	assert_int_equal(d2b.n, 1);
	assert_string_equal(d2b.entries[0]->notification->id, b->id);
	assert_int_equal(d2b.entries[0]->notification->read_state, RS(READ));
	assert_int_equal(d2b.entries[0]->removed, RMV(NONE));
	uns_store_feed_page_free(&d1);
	uns_store_feed_page_free(&d2);
	uns_store_feed_page_free(&d1b);
	uns_store_feed_page_free(&d2b);
	conf_free(a);
	conf_free(b);
}

static void
conf_feed_compaction(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *a = conf_post(c, "alice", CONF_HOST, "a", "");
	Uns__V1__Notification *b = conf_post(c, "alice", CONF_HOST, "b", "");
	char *cur = conf_head(c, "alice", CONF_HOST);
	uns_store_feed_page p;

	assert_int_equal(
	    conf_update(c, "alice", a->id, RS(READ), 0, 0, 0, NULL), UNS_OK);
	assert_int_equal(
	    conf_update(c, "alice", a->id, RS(UNREAD), 0, 0, 0, NULL), UNS_OK);
	assert_int_equal(
	    conf_update(c, "alice", a->id, 0, UAS(ACTIVATED), 0, 0, NULL),
	    UNS_OK);
	assert_int_equal(
	    conf_update(c, "alice", a->id, 0, UAS(DISMISSED), 0, 0, NULL),
	    UNS_OK);
	assert_int_equal(
	    conf_update(c, "alice", a->id, RS(READ), 0, 0, 0, NULL), UNS_OK);
	p = conf_feed_all(c, "alice", cur);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.entries[0]->notification->id, a->id);
	assert_int_equal(p.entries[0]->notification->version, 6);
	assert_int_equal(p.entries[0]->notification->read_state, RS(READ));
	assert_int_equal(p.entries[0]->notification->user_action_state,
	                 UAS(DISMISSED));
	uns_store_feed_page_free(&p);
	p = conf_feed_all(c, "alice", NULL); /* from the start: each once */
	assert_int_equal(p.n, 2);
	assert_string_equal(p.entries[0]->notification->id, b->id);
	assert_string_equal(p.entries[1]->notification->id, a->id);
	uns_store_feed_page_free(&p);
	free(cur);
	conf_free(a);
	conf_free(b);
}

static void
conf_feed_cursors(void **state)
{
	struct conf *c = *state;
	uns_store_feed_page p;
	char app[16], *latest, *ahead;
	size_t total = 0;

	for (int i = 0; i < 5; i++) {
		snprintf(app, sizeof(app), "a%d", i);
		conf_free(conf_post(c, "alice", CONF_HOST, app, ""));
	}
	assert_int_equal(
	    uns_store_feed_read(c->st, "alice", CONF_HOST, "latest", 0, &p),
	    UNS_OK);
	assert_int_equal(p.n, 0);
	assert_false(p.more);
	latest = strdup(p.next_cursor);
	uns_store_feed_page_free(&p);
	conf_free(conf_post(c, "alice", CONF_HOST, "a5", ""));
	p = conf_feed_all(c, "alice", latest);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.entries[0]->notification->app_notification_id,
	                    "a5");
	uns_store_feed_page_free(&p);

	/* Paging with a limit: "more" until the end, each entry once. */
	char *cur = strdup("");
	do {
		assert_int_equal(
		    uns_store_feed_read(c->st, "alice", CONF_HOST, cur, 2, &p),
		    UNS_OK);
		assert_true(p.n <= 2);
		total += p.n;
		free(cur);
		cur = strdup(p.next_cursor);
		bool more = p.more;
		uns_store_feed_page_free(&p);
		if (!more) {
			break;
		}
	} while (1);
	assert_int_equal(total, 6);
	/* At the head: nothing, and the same cursor back. */
	assert_int_equal(
	    uns_store_feed_read(c->st, "alice", CONF_HOST, cur, 0, &p), UNS_OK);
	assert_int_equal(p.n, 0);
	assert_false(p.more);
	assert_string_equal(p.next_cursor, cur);
	uns_store_feed_page_free(&p);

	ahead = conf_head(c, "bob", CONF_HOST); /* bob's head is 0 */
	assert_int_equal(
	    uns_store_feed_read(c->st, "bob", CONF_HOST, cur, 0, &p),
	    UNS_EINVAL); /* alice's cursor is ahead of bob's feed */
	assert_int_equal(
	    uns_store_feed_read(c->st, "alice", CONF_HOST, "!!", 0, &p),
	    UNS_EINVAL);
	assert_int_equal(
	    uns_store_feed_read(c->st, "alice", CONF_HOST, ahead, 100000, &p),
	    UNS_EINVAL);
	free(ahead);
	free(cur);
	free(latest);
}

static void
conf_delete_tombstone(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *a = conf_post(c, "alice", CONF_HOST, "a", "");
	Uns__V1__Notification *d = NULL, *got = NULL;
	char *cur = conf_head(c, "alice", CONF_HOST);
	uns_store_change del = {.delete_ = true};
	uns_store_history_query q = {.status = NST(DELETED)};
	uns_store_history_page h;
	uns_store_feed_page p;

	assert_int_equal(
	    uns_store_update_state(c->st, "alice", CONF_HOST, a->id, &del, &d),
	    UNS_OK);
	assert_int_equal(d->status, NST(DELETED));
	assert_int_equal(d->version, 2);
	p = conf_feed_all(c, "alice", cur);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.entries[0]->removed, RMV(DELETED));
	assert_string_equal(p.entries[0]->notification->id, a->id);
	assert_int_equal(p.entries[0]->notification->version, 2);
	uns_store_feed_page_free(&p);
	assert_int_equal(uns_store_get(c->st, "alice", CONF_HOST, a->id, &got),
	                 UNS_NOT_FOUND);
	assert_int_equal(uns_store_update_state(c->st, "alice", CONF_HOST,
	                                        a->id, &del, &got),
	                 UNS_NOT_FOUND);
	assert_null(got);
	assert_int_equal(uns_store_history(c->st, "alice", CONF_HOST, &q, &h),
	                 UNS_OK);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.items[0]->id, a->id);
	uns_store_history_page_free(&h);
	q.status = 0;
	assert_int_equal(uns_store_history(c->st, "alice", CONF_HOST, &q, &h),
	                 UNS_OK);
	assert_int_equal(h.n, 0);
	uns_store_history_page_free(&h);
	free(cur);
	conf_free(a);
	conf_free(d);
}

static void
conf_expiry_tombstone(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *a = NULL, *b, *got = NULL;
	uns_store_history_query q = {0};
	uns_store_history_page h;
	uns_store_feed_page p;
	char *cur0 = conf_head(c, "alice", CONF_HOST), *cur1;
	size_t n;
	bool created;

	assert_int_equal(conf_try_post(c, "alice", CONF_HOST, "short", "", "t",
	                               CONF_T0 + 1000, &a, &created),
	                 UNS_OK);
	b = conf_post(c, "alice", CONF_HOST, "long", "");
	atomic_store(&c->now, CONF_T0 + 1000);
	/* Invisible at once, before any reclaim. */
	assert_int_equal(uns_store_get(c->st, "alice", CONF_HOST, a->id, &got),
	                 UNS_NOT_FOUND);
	assert_int_equal(
	    conf_update(c, "alice", a->id, RS(READ), 0, 0, 0, NULL),
	    UNS_NOT_FOUND);
	assert_int_equal(uns_store_history(c->st, "alice", CONF_HOST, &q, &h),
	                 UNS_OK);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.items[0]->id, b->id);
	uns_store_history_page_free(&h);
	p = conf_feed_all(c, "alice", cur0);
	assert_int_equal(conf_feed_find(&p, a->id)->removed, RMV(EXPIRED));
	assert_int_equal(conf_feed_find(&p, b->id)->removed, RMV(NONE));
	cur1 = strdup(p.next_cursor);
	uns_store_feed_page_free(&p);

	/* Reclaim appends the "expired" tombstone to the feed. */
	assert_int_equal(uns_store_reclaim(c->st, atomic_load(&c->now), &n),
	                 UNS_OK);
	assert_int_equal(n, 1);
	p = conf_feed_all(c, "alice", cur1);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.entries[0]->removed, RMV(EXPIRED));
	assert_string_equal(p.entries[0]->notification->id, a->id);
	uns_store_feed_page_free(&p);
	assert_int_equal(uns_store_reclaim(c->st, atomic_load(&c->now), &n),
	                 UNS_OK);
	assert_int_equal(n, 0);

	/* Long after, b expires too and old tombstones are dropped. */
	atomic_store(&c->now, CONF_T0 + 40 * CONF_DAY);
	assert_int_equal(uns_store_reclaim(c->st, atomic_load(&c->now), &n),
	                 UNS_OK);
	assert_int_equal(uns_store_reclaim(c->st, CONF_T0 + 80 * CONF_DAY, &n),
	                 UNS_OK);
	p = conf_feed_all(c, "alice", NULL);
	assert_int_equal(p.n, 0);
	uns_store_feed_page_free(&p);
	free(cur0);
	free(cur1);
	conf_free(a);
	conf_free(b);
}

/* The next expiry is the earliest thing reclaim will remove, and moves on
 * once reclaim removed it (the service reclaims at that time). */
static void
conf_next_expiry(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *a = NULL, *b;
	int64_t when = 0;
	bool created;

	assert_int_equal(uns_store_next_expiry(c->st, &when), UNS_NOT_FOUND);
	assert_int_equal(uns_store_next_expiry(NULL, &when), UNS_EINVAL);
	b = conf_post(c, "alice", CONF_HOST, "long", "");
	assert_int_equal(uns_store_next_expiry(c->st, &when), UNS_OK);
	assert_int_equal(when, b->expiration_time_ms);
	assert_int_equal(conf_try_post(c, "bob", CONF_HOST, "short", "", "t",
	                               CONF_T0 + 1000, &a, &created),
	                 UNS_OK);
	assert_int_equal(uns_store_next_expiry(c->st, &when), UNS_OK);
	assert_int_equal(when, CONF_T0 + 1000);
	/* Reclaimed, it leaves b's expiry or the tombstone's end, later. */
	atomic_store(&c->now, CONF_T0 + 1000);
	assert_int_equal(uns_store_reclaim(c->st, CONF_T0 + 1000, NULL),
	                 UNS_OK);
	assert_int_equal(uns_store_next_expiry(c->st, &when), UNS_OK);
	assert_true(when > CONF_T0 + 1000);
	assert_true(when <= b->expiration_time_ms);
	conf_free(a);
	conf_free(b);
}

static void
conf_cas_conflict(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *a = conf_post(c, "alice", CONF_HOST, "a", "");
	Uns__V1__Notification *got;
	char *h1 = conf_head(c, "alice", CONF_HOST), *h2;
	uint64_t v = 0;

	assert_int_equal(conf_update(c, "alice", a->id, RS(READ), 0, 0, 5, &v),
	                 UNS_FAILED_PRECONDITION);
	assert_int_equal(v, 0);
	h2 = conf_head(c, "alice", CONF_HOST);
	assert_string_equal(h1, h2);
	assert_int_equal(uns_store_get(c->st, "alice", CONF_HOST, a->id, &got),
	                 UNS_OK);
	assert_int_equal(got->version, 1);
	assert_int_equal(got->read_state, RS(UNREAD));
	conf_free(got);
	assert_int_equal(conf_update(c, "alice", a->id, RS(READ), 0, 0, 1, &v),
	                 UNS_OK);
	assert_int_equal(v, 2);
	assert_int_equal(
	    conf_update(c, "alice", a->id, 0, UAS(DISMISSED), 0, 1, &v),
	    UNS_FAILED_PRECONDITION);
	assert_int_equal(conf_update(c, "alice", a->id, 0, 0, true, 1, &v),
	                 UNS_FAILED_PRECONDITION);
	free(h1);
	free(h2);
	conf_free(a);
}

static void
conf_noop_and_bad_update(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *a = conf_post(c, "alice", CONF_HOST, "a", "");
	char *h1, *h2;
	uint64_t v;

	assert_int_equal(conf_update(c, "alice", a->id, RS(READ), 0, 0, 0, &v),
	                 UNS_OK);
	h1 = conf_head(c, "alice", CONF_HOST);
	assert_int_equal(conf_update(c, "alice", a->id, RS(READ), 0, 0, 0, &v),
	                 UNS_OK);
	assert_int_equal(v, 2); /* nothing changed: no version, no feed entry */
	h2 = conf_head(c, "alice", CONF_HOST);
	assert_string_equal(h1, h2);
	assert_int_equal(conf_update(c, "alice", a->id, 0, 0, false, 0, &v),
	                 UNS_EINVAL);
	assert_int_equal(conf_update(c, "alice", a->id, 7, 0, false, 0, &v),
	                 UNS_EINVAL);
	free(h1);
	free(h2);
	conf_free(a);
}

/* --- history ------------------------------------------------------------ */

#define HN 250

/* Pages through history with q; checks the result is exactly the ids i
 * with want(i) true, newest first. */
static void
conf_history_expect(struct conf *c, uns_store_history_query q, char ids[HN][23],
                    bool (*want)(int))
{
	uns_store_history_page h;
	char *token = NULL;
	int i = HN - 1, pages = 0;

	do {
		q.page_token = token;
		assert_int_equal(
		    uns_store_history(c->st, "alice", CONF_HOST, &q, &h),
		    UNS_OK);
		for (size_t k = 0; k < h.n; k++, i--) {
			while (i >= 0 && !want(i)) {
				i--;
			}
			assert_true(i >= 0);
			assert_string_equal(h.items[k]->id, ids[i]);
		}
		assert_true(h.n <= (q.page_size ? q.page_size : 20));
		free(token);
		token = h.next_page_token != NULL ? strdup(h.next_page_token)
		                                  : NULL;
		uns_store_history_page_free(&h);
		pages++;
	} while (token != NULL);
	while (i >= 0 && !want(i)) {
		i--;
	}
	assert_int_equal(i, -1); /* nothing left out */
	assert_true(pages >= 1);
}

static bool
want_active(int i)
{
	return i % 7 != 0;
}
static bool
want_deleted(int i)
{
	return i % 7 == 0;
}
static bool
want_read(int i)
{
	return i % 3 == 0 && i % 7 != 0;
}
static bool
want_unread(int i)
{
	return i % 3 != 0 && i % 7 != 0;
}
static bool
want_dismissed(int i)
{
	return i % 5 == 0 && i % 7 != 0;
}
static bool
want_g1(int i)
{
	return i % 4 == 1 && i % 7 != 0;
}
static bool
want_g1_read(int i)
{
	return want_g1(i) && want_read(i);
}

static void
conf_history_paging_filters(void **state)
{
	struct conf *c = *state;
	static char ids[HN][23];
	uns_store_history_query q = {.page_size = 100};
	uns_store_history_page h;
	char app[16], grp[8];

	for (int i = 0; i < HN; i++) {
		atomic_store(&c->now, CONF_T0 + i);
		snprintf(app, sizeof(app), "a%d", i);
		snprintf(grp, sizeof(grp), "g%d", i % 4);
		Uns__V1__Notification *n =
		    conf_post(c, "alice", CONF_HOST, app, grp);
		snprintf(ids[i], sizeof(ids[i]), "%s", n->id);
		conf_free(n);
	}
	for (int i = 0; i < HN; i++) {
		if (i % 3 == 0) {
			assert_int_equal(conf_update(c, "alice", ids[i],
			                             RS(READ), 0, 0, 0, NULL),
			                 UNS_OK);
		}
		if (i % 5 == 0) {
			assert_int_equal(conf_update(c, "alice", ids[i], 0,
			                             UAS(DISMISSED), 0, 0,
			                             NULL),
			                 UNS_OK);
		}
		if (i % 7 == 0) {
			assert_int_equal(conf_update(c, "alice", ids[i], 0, 0,
			                             true, 0, NULL),
			                 UNS_OK);
		}
	}
	conf_history_expect(c, q, ids, want_active); /* 100, 100, 14 */
	q.page_size = 0;
	conf_history_expect(c, q, ids, want_active);
	q = (uns_store_history_query){.page_size = 30, .status = NST(DELETED)};
	conf_history_expect(c, q, ids, want_deleted);
	q = (uns_store_history_query){.page_size = 30, .read_state = RS(READ)};
	conf_history_expect(c, q, ids, want_read);
	q.read_state = RS(UNREAD);
	conf_history_expect(c, q, ids, want_unread);
	q = (uns_store_history_query){.page_size = 7,
	                              .user_action_state = UAS(DISMISSED)};
	conf_history_expect(c, q, ids, want_dismissed);
	q = (uns_store_history_query){.page_size = 30, .group_name = "g1"};
	conf_history_expect(c, q, ids, want_g1);
	q.read_state = RS(READ);
	conf_history_expect(c, q, ids, want_g1_read);

	q = (uns_store_history_query){.page_size = 101};
	assert_int_equal(uns_store_history(c->st, "alice", CONF_HOST, &q, &h),
	                 UNS_EINVAL);
	q = (uns_store_history_query){.page_token = "not-a-token"};
	assert_int_equal(uns_store_history(c->st, "alice", CONF_HOST, &q, &h),
	                 UNS_EINVAL);
}

/* --- isolation, limits, reopen ----------------------------------------- */

static void
conf_isolation(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *x = conf_post(c, "xavier", CONF_HOST, "a", "");
	Uns__V1__Notification *sentinel = (Uns__V1__Notification *)0x1;
	Uns__V1__Notification *got = sentinel;
	uns_store_change chg = {.read_state = RS(READ)};
	uns_store_history_query q = {0};
	uns_store_history_page h;
	uns_store_feed_page p;
	const char *missing = "AAAAAAAAAAAAAAAAAAAAAA";

	/* Another user's id answers exactly like a missing one. */
	assert_int_equal(
	    uns_store_get(c->st, "yvonne", CONF_HOST, x->id, &got),
	    uns_store_get(c->st, "yvonne", CONF_HOST, missing, &got));
	assert_int_equal(uns_store_get(c->st, "yvonne", CONF_HOST, x->id, &got),
	                 UNS_NOT_FOUND);
	assert_int_equal(
	    uns_store_get(c->st, "xavier", CONF_HOST2, x->id, &got),
	    UNS_NOT_FOUND);
	assert_ptr_equal(got, sentinel);
	assert_int_equal(uns_store_update_state(c->st, "yvonne", CONF_HOST,
	                                        x->id, &chg, &got),
	                 UNS_NOT_FOUND);
	assert_int_equal(uns_store_update_state(c->st, "yvonne", CONF_HOST,
	                                        missing, &chg, &got),
	                 UNS_NOT_FOUND);
	assert_int_equal(uns_store_delete(c->st, "yvonne", CONF_HOST, x->id),
	                 UNS_NOT_FOUND);
	assert_int_equal(uns_store_delete(c->st, NULL, CONF_HOST2, x->id),
	                 UNS_NOT_FOUND);
	assert_int_equal(
	    uns_store_delete_by_app_id(c->st, "yvonne", CONF_HOST, "a"),
	    UNS_NOT_FOUND);
	assert_ptr_equal(got, sentinel);
	assert_int_equal(uns_store_history(c->st, "yvonne", CONF_HOST, &q, &h),
	                 UNS_OK);
	assert_int_equal(h.n, 0);
	assert_null(h.next_page_token);
	uns_store_history_page_free(&h);
	p = conf_feed_all(c, "yvonne", NULL);
	assert_int_equal(p.n, 0);
	uns_store_feed_page_free(&p);
	/* Yvonne's page token does not open xavier's history either. */
	conf_free(conf_post(c, "xavier", CONF_HOST, "b", ""));
	q.page_size = 1;
	assert_int_equal(uns_store_history(c->st, "xavier", CONF_HOST, &q, &h),
	                 UNS_OK);
	assert_non_null(h.next_page_token);
	q.page_token = h.next_page_token;
	uns_store_history_page h2;
	assert_int_equal(uns_store_history(c->st, "yvonne", CONF_HOST, &q, &h2),
	                 UNS_OK);
	assert_int_equal(h2.n, 0);
	uns_store_history_page_free(&h2);
	uns_store_history_page_free(&h);
	/* Xavier's notification is untouched. */
	assert_int_equal(uns_store_get(c->st, "xavier", CONF_HOST, x->id, &got),
	                 UNS_OK);
	assert_int_equal(got->version, 1);
	assert_int_equal(got->read_state, RS(UNREAD));
	conf_free(got);
	conf_free(x);
}

static void
conf_live_limit(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *n[3], *r = NULL;
	char *h1, *h2;
	bool created;

	c->cfg.max_live = 3;
	conf_reopen(c);
	n[0] = conf_post(c, "alice", CONF_HOST, "a0", "");
	n[1] = conf_post(c, "alice", CONF_HOST, "a1", "");
	assert_int_equal(conf_try_post(c, "alice", CONF_HOST, "a2", "", "t",
	                               CONF_T0 + 1000, &n[2], &created),
	                 UNS_OK);
	h1 = conf_head(c, "alice", CONF_HOST);
	assert_int_equal(conf_try_post(c, "alice", CONF_HOST, "a3", "", "t", 0,
	                               &r, &created),
	                 UNS_RESOURCE_EXHAUSTED);
	assert_null(r);
	h2 = conf_head(c, "alice", CONF_HOST);
	assert_string_equal(h1, h2);
	/* Another owner is not affected; a replace is not a new one. */
	conf_free(conf_post(c, "bob", CONF_HOST, "a3", ""));
	conf_free(conf_post(c, "alice", CONF_HOST2, "a3", ""));
	conf_free(conf_post(c, "alice", CONF_HOST, "a0", ""));
	/* A delete frees a slot. */
	assert_int_equal(conf_update(c, "alice", n[1]->id, 0, 0, true, 0, NULL),
	                 UNS_OK);
	conf_free(conf_post(c, "alice", CONF_HOST, "a3", ""));
	assert_int_equal(conf_try_post(c, "alice", CONF_HOST, "a4", "", "t", 0,
	                               &r, &created),
	                 UNS_RESOURCE_EXHAUSTED);
	/* So does expiry, even before the background reclaim ran. */
	atomic_store(&c->now, CONF_T0 + 1000);
	assert_int_equal(conf_try_post(c, "alice", CONF_HOST, "a4", "", "t", 0,
	                               &r, &created),
	                 UNS_OK);
	assert_true(created);
	conf_free(r);
	for (int i = 0; i < 3; i++) {
		conf_free(n[i]);
	}
	free(h1);
	free(h2);
}

static void
conf_reopen_keeps_everything(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *a = conf_post(c, "alice", CONF_HOST, "a", "g");
	Uns__V1__Notification *got;
	Uns__V1__Subscription *s, *sg;
	uns_store_feed_page p1, p2;
	char *head, *head2, *user;
	bool created;

	assert_int_equal(
	    conf_update(c, "alice", a->id, RS(READ), 0, 0, 0, NULL), UNS_OK);
	assert_int_equal(
	    conf_sub(c, "alice", CONF_HOST, "d1", "x", &s, &created), UNS_OK);
	p1 = conf_feed_all(c, "alice", NULL);
	head = conf_head(c, "alice", CONF_HOST);
	conf_reopen(c);
	assert_int_equal(uns_store_get(c->st, "alice", CONF_HOST, a->id, &got),
	                 UNS_OK);
	assert_int_equal(got->version, 2);
	assert_int_equal(got->read_state, RS(READ));
	assert_string_equal(got->group_name, "g");
	conf_free(got);
	assert_int_equal(uns_store_sub_get(c->st, s->unsid, &user, &sg),
	                 UNS_OK);
	assert_string_equal(user, "alice");
	free(user);
	uns__v1__subscription__free_unpacked(sg, NULL);
	head2 = conf_head(c, "alice", CONF_HOST);
	assert_string_equal(head, head2);
	p2 = conf_feed_all(c, "alice", NULL);
	assert_int_equal(p1.n, p2.n);
	assert_string_equal(p2.entries[0]->notification->id, a->id);
	/* The feed continues where it was. */
	conf_free(conf_post(c, "alice", CONF_HOST, "b", ""));
	uns_store_feed_page p3 = conf_feed_all(c, "alice", head2);
	assert_int_equal(p3.n, 1);
	uns_store_feed_page_free(&p1);
	uns_store_feed_page_free(&p2);
	uns_store_feed_page_free(&p3);
	uns__v1__subscription__free_unpacked(s, NULL);
	free(head);
	free(head2);
	conf_free(a);
}

static void
conf_delete_by_app(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *a1 = conf_post(c, "alice", CONF_HOST, "a1", "");
	Uns__V1__Notification *a2 = conf_post(c, "alice", CONF_HOST, "a2", "");
	Uns__V1__Notification *a2b, *got;
	bool created;

	const char *other[] = {CONF_HOST2};
	assert_int_equal(
	    uns_store_delete_in_hosts(c->st, NULL, other, 1, a1->id),
	    UNS_NOT_FOUND);
	assert_int_equal(uns_store_delete(c->st, NULL, CONF_HOST, a1->id),
	                 UNS_OK);
	assert_int_equal(uns_store_get(c->st, "alice", CONF_HOST, a1->id, &got),
	                 UNS_NOT_FOUND);
	assert_int_equal(uns_store_delete(c->st, NULL, CONF_HOST, a1->id),
	                 UNS_NOT_FOUND);
	assert_int_equal(uns_store_delete(c->st, "alice", CONF_HOST2, a2->id),
	                 UNS_NOT_FOUND);
	assert_int_equal(
	    uns_store_delete_by_app_id(c->st, "alice", CONF_HOST, "a2"),
	    UNS_OK);
	assert_int_equal(
	    uns_store_delete_by_app_id(c->st, "alice", CONF_HOST, "a2"),
	    UNS_NOT_FOUND);
	assert_int_equal(
	    uns_store_delete_by_app_id(c->st, "alice", CONF_HOST, ""),
	    UNS_EINVAL);
	/* A deleted notification is not revived: its app id posts a new one. */
	assert_int_equal(conf_try_post(c, "alice", CONF_HOST, "a2", "", "t", 0,
	                               &a2b, &created),
	                 UNS_OK);
	assert_true(created);
	assert_string_not_equal(a2b->id, a2->id);
	assert_int_equal(a2b->version, 1);
	conf_free(a1);
	conf_free(a2);
	conf_free(a2b);
}

static void
conf_hook(void *arg, const char *user, const char *host, uint64_t head,
          size_t taps)
{
	struct conf *c = arg;

	(void)taps;
	if (strcmp(user, "alice") == 0 && strcmp(host, CONF_HOST) == 0) {
		atomic_fetch_add(&c->hook_calls, 1);
		atomic_store(&c->hook_head, head);
	}
}

/* A second observer: counts alice's moves, and those the first observer
 * (conf_hook, added before it) had already seen. */
struct conf_second {
	struct conf *c;
	atomic_int calls, first_before;
};

static void
conf_second_hook(void *arg, const char *user, const char *host, uint64_t head,
                 size_t taps)
{
	struct conf_second *two = arg;

	(void)host;
	(void)taps;
	if (two->c == NULL || strcmp(user, "alice") != 0) {
		return; /* a filler (no conf), or another user */
	}
	atomic_fetch_add(&two->calls, 1);
	if (atomic_load(&two->c->hook_head) == head) {
		atomic_fetch_add(&two->first_before, 1);
	}
}

static void
conf_feed_hook(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *a;
	Uns__V1__Subscription *s;
	bool created;

	assert_int_equal(uns_store_observe(c->st, conf_hook, c), UNS_OK);
	a = conf_post(c, "alice", CONF_HOST, "a", "");
	assert_int_equal(atomic_load(&c->hook_calls), 1);
	assert_int_equal(atomic_load(&c->hook_head), 1);
	assert_int_equal(
	    conf_update(c, "alice", a->id, RS(READ), 0, 0, 0, NULL), UNS_OK);
	assert_int_equal(atomic_load(&c->hook_calls), 2);
	assert_int_equal(atomic_load(&c->hook_head), 2);
	/* Failed and no-op writes and subscriptions do not move the feed. */
	assert_int_equal(
	    conf_update(c, "alice", a->id, RS(READ), 0, 0, 0, NULL), UNS_OK);
	assert_int_equal(
	    conf_update(c, "alice", a->id, RS(UNREAD), 0, 0, 9, NULL),
	    UNS_FAILED_PRECONDITION);
	assert_int_equal(conf_sub(c, "alice", CONF_HOST, "d", "", &s, &created),
	                 UNS_OK);
	assert_int_equal(atomic_load(&c->hook_calls), 2);

	/* A second observer is called after the first; the same one twice
	 * and a ninth are refused; one removed is called no more. */
	struct conf_second two = {.c = c};
	assert_int_equal(uns_store_observe(c->st, conf_second_hook, &two),
	                 UNS_OK);
	assert_int_equal(uns_store_observe(c->st, conf_hook, c), UNS_EINVAL);
	struct conf_second fill[UNS_STORE_OBSERVERS_MAX] = {0};
	for (int i = 2; i < UNS_STORE_OBSERVERS_MAX; i++) {
		assert_int_equal(
		    uns_store_observe(c->st, conf_second_hook, &fill[i]),
		    UNS_OK);
	}
	assert_int_equal(uns_store_observe(c->st, conf_second_hook, &fill[0]),
	                 UNS_RESOURCE_EXHAUSTED);
	for (int i = 2; i < UNS_STORE_OBSERVERS_MAX; i++) {
		uns_store_unobserve(c->st, conf_second_hook, &fill[i]);
	}
	assert_int_equal(
	    conf_update(c, "alice", a->id, RS(UNREAD), 0, 0, 0, NULL), UNS_OK);
	assert_int_equal(atomic_load(&c->hook_calls), 3);
	assert_int_equal(atomic_load(&two.calls), 1);
	assert_int_equal(atomic_load(&two.first_before), 1);
	uns_store_unobserve(c->st, conf_hook, c);
	assert_int_equal(
	    conf_update(c, "alice", a->id, RS(READ), 0, 0, 0, NULL), UNS_OK);
	assert_int_equal(atomic_load(&c->hook_calls), 3);
	assert_int_equal(atomic_load(&two.calls), 2);
	uns_store_unobserve(c->st, conf_second_hook, &two);
	uns__v1__subscription__free_unpacked(s, NULL);
	conf_free(a);
}

/* --- concurrency -----------------------------------------------------------
 */

#define CONF_THREADS 8
#define CONF_ROUNDS  25

struct conf_worker {
	struct conf *c;
	const char *id;
	int index, conflicts;
};

/* CAS loop: read the version, update if it is still that version. */
static void *
conf_cas_worker(void *arg)
{
	struct conf_worker *w = arg;

	for (int i = 0; i < CONF_ROUNDS; i++) {
		for (;;) {
			Uns__V1__Notification *n;
			if (uns_store_get(w->c->st, "alice", CONF_HOST, w->id,
			                  &n) != UNS_OK) {
				return (void *)1;
			}
			Uns__V1__ReadState rs =
			    n->read_state == RS(READ) ? RS(UNREAD) : RS(READ);
			uint64_t v = n->version;
			conf_free(n);
			uns_err rc = conf_update(w->c, "alice", w->id, rs, 0, 0,
			                         v, NULL);
			if (rc == UNS_OK) {
				break;
			}
			if (rc != UNS_FAILED_PRECONDITION) {
				return (void *)1;
			}
			w->conflicts++;
		}
	}
	return NULL;
}

static void *
conf_post_worker(void *arg)
{
	struct conf_worker *w = arg;
	char app[32];

	for (int i = 0; i < CONF_ROUNDS; i++) {
		Uns__V1__Notification *n = NULL;
		bool created;
		snprintf(app, sizeof(app), "w%d-%d", w->index, i);
		if (conf_try_post(w->c, "alice", CONF_HOST2, app, "", "t", 0,
		                  &n, &created) != UNS_OK) {
			return (void *)1;
		}
		conf_free(n);
	}
	return NULL;
}

static void
conf_run_workers(struct conf *c, const char *id, void *(*fn)(void *))
{
	pthread_t t[CONF_THREADS];
	struct conf_worker w[CONF_THREADS];
	void *ret;

	for (int i = 0; i < CONF_THREADS; i++) {
		w[i] = (struct conf_worker){.c = c, .id = id, .index = i};
		assert_int_equal(pthread_create(&t[i], NULL, fn, &w[i]), 0);
	}
	for (int i = 0; i < CONF_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
}

static void
conf_no_lost_updates(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *a = conf_post(c, "alice", CONF_HOST, "a", "");
	Uns__V1__Notification *got;
	uns_store_feed_page p;

	conf_run_workers(c, a->id, conf_cas_worker);
	assert_int_equal(uns_store_get(c->st, "alice", CONF_HOST, a->id, &got),
	                 UNS_OK);
	assert_int_equal(got->version, 1 + CONF_THREADS * CONF_ROUNDS);
	conf_free(got);

	/* Concurrent posts of one owner: every one gets its own feed slot. */
	conf_run_workers(c, NULL, conf_post_worker);
	char *head = conf_head(c, "alice", CONF_HOST2);
	assert_int_equal(
	    uns_store_feed_read(c->st, "alice", CONF_HOST2, NULL, 1000, &p),
	    UNS_OK);
	assert_int_equal(p.n, CONF_THREADS * CONF_ROUNDS);
	assert_false(p.more);
	assert_string_equal(p.next_cursor, head);
	uns_store_feed_page_free(&p);
	free(head);
	conf_free(a);
}

static void
conf_null_arguments(void **state)
{
	struct conf *c = *state;
	uns_store *st = NULL;
	uns_store_config bad = {0};
	uns_store_feed_page p;
	uns_store_stats s;
	char *cur;

	assert_int_equal(uns_store_open(&st, &bad), UNS_EINVAL);
	assert_int_equal(uns_store_open(&st, NULL), UNS_EINVAL);
	assert_null(st);
	assert_int_equal(
	    uns_store_feed_read(c->st, NULL, CONF_HOST, NULL, 0, &p),
	    UNS_EINVAL);
	assert_int_equal(uns_store_feed_head(c->st, "a", NULL, &cur),
	                 UNS_EINVAL);
	assert_int_equal(uns_store_stats_get(c->st, NULL), UNS_EINVAL);
	assert_int_equal(uns_store_stats_get(c->st, &s), UNS_OK);
	assert_int_equal(uns_store_reclaim(NULL, 0, NULL), UNS_EINVAL);
	uns_store_close(NULL);
}

/* --- outbox ------------------------------------------------------------- */

#define PLAT(x) UNS__V1__PLATFORM__PLATFORM_##x

/* The five pushed platforms and polling, one device each, for alice. */
static const struct {
	const char *device;
	Uns__V1__Platform platform;
} conf_devices[] = {
    {"pc", PLAT(WINDOWS)},     {"phone", PLAT(IOS)},
    {"tablet", PLAT(ANDROID)}, {"browser", PLAT(WEB_PUSH)},
    {"hook", PLAT(WEBHOOK)},   {"poller", PLAT(POLLING)},
};
#define CONF_NDEV (sizeof(conf_devices) / sizeof(conf_devices[0]))

static void
conf_sub_as(struct conf *c, const char *device, Uns__V1__Platform platform,
            char unsid[32])
{
	Uns__V1__Subscription in = UNS__V1__SUBSCRIPTION__INIT, *out = NULL;
	bool created;

	in.device_id = (char *)device;
	in.platform = platform;
	in.push_channel = "https://push.example/x";
	assert_int_equal(
	    uns_store_sub_put(c->st, "alice", CONF_HOST, &in, &out, &created),
	    UNS_OK);
	snprintf(unsid, 32, "%s", out->unsid);
	uns__v1__subscription__free_unpacked(out, NULL);
}

static void
conf_sub_all(struct conf *c, char unsids[][32])
{
	for (size_t i = 0; i < CONF_NDEV; i++) {
		conf_sub_as(c, conf_devices[i].device, conf_devices[i].platform,
		            unsids[i]);
	}
}

static size_t
conf_outbox_n(struct conf *c)
{
	size_t n = 0;

	assert_int_equal(uns_store_outbox_count(c->st, &n), UNS_OK);
	return n;
}

static uns_store_taps
conf_claim(struct conf *c)
{
	uns_store_taps l = {0};

	assert_int_equal(uns_store_outbox_claim(c->st, 100, 30000, &l), UNS_OK);
	return l;
}

static const uns_store_tap *
conf_tap_of(const uns_store_taps *l, const char *ref)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->taps[i].ref, ref) == 0) {
			return &l->taps[i];
		}
	}
	return NULL;
}

static void
conf_settle_all(struct conf *c, uns_store_taps *l, uns_store_tap_result r)
{
	for (size_t i = 0; i < l->n; i++) {
		assert_int_equal(uns_store_outbox_settle(c->st, &l->taps[i], r,
		                                         0, "x", NULL),
		                 UNS_OK);
	}
	uns_store_taps_free(l);
}

static Uns__V1__Subscription *
conf_sub_get(struct conf *c, const char *unsid)
{
	Uns__V1__Subscription *s = NULL;
	char *user = NULL;

	assert_int_equal(uns_store_sub_get(c->st, unsid, &user, &s), UNS_OK);
	free(user);
	return s;
}

/* A post taps each pushed endpoint once (not polling), with the new head,
 * the subscription and the notification; delivering empties the outbox. */
static void
conf_outbox_post_taps(void **state)
{
	struct conf *c = *state;
	char unsids[CONF_NDEV][32], *head;
	Uns__V1__Notification *n;
	Uns__V1__Subscription *s;
	uns_store_taps l;

	conf_sub_all(c, unsids);
	assert_int_equal(conf_outbox_n(c), 0);
	n = conf_post(c, "alice", CONF_HOST, "a", "");
	head = conf_head(c, "alice", CONF_HOST);
	assert_int_equal(conf_outbox_n(c), 5);
	l = conf_claim(c);
	assert_int_equal(l.n, 5);
	for (size_t i = 0; i + 1 < CONF_NDEV; i++) {
		const uns_store_tap *t = conf_tap_of(&l, unsids[i]);
		assert_non_null(t);
		assert_string_equal(t->user, "alice");
		assert_string_equal(t->host, CONF_HOST);
		assert_string_equal(t->cursor, head);
		assert_non_null(t->sub);
		assert_int_equal(t->sub->platform, conf_devices[i].platform);
		assert_non_null(t->subject);
		assert_string_equal(t->subject->id, n->id);
		assert_false(t->state_change);
		assert_false(t->fallback);
		assert_int_equal(t->attempts, 0);
	}
	assert_null(conf_tap_of(&l, unsids[CONF_NDEV - 1])); /* polling */
	conf_settle_all(c, &l, UNS_STORE_TAP_DELIVERED);
	assert_int_equal(conf_outbox_n(c), 0);
	l = conf_claim(c);
	assert_int_equal(l.n, 0);
	s = conf_sub_get(c, unsids[0]);
	assert_non_null(s->delivery);
	assert_int_equal(s->delivery->delivered, 1);
	assert_int_equal(s->delivery->last_success_ms, CONF_T0);
	assert_int_equal(s->delivery->consecutive_failures, 0);
	uns__v1__subscription__free_unpacked(s, NULL);
	free(head);
	conf_free(n);
}

/* A read on one device taps the other pushed ones, but not web push. */
static void
conf_outbox_state_change(void **state)
{
	struct conf *c = *state;
	char unsids[CONF_NDEV][32];
	Uns__V1__Notification *n, *out = NULL;
	uns_store_change chg = {.read_state = RS(READ)};
	uns_store_taps l;

	conf_sub_all(c, unsids);
	n = conf_post(c, "alice", CONF_HOST, "a", "");
	l = conf_claim(c);
	conf_settle_all(c, &l, UNS_STORE_TAP_DELIVERED);
	chg.by_unsid = unsids[0]; /* the Windows device reads it */
	assert_int_equal(uns_store_update_state(c->st, "alice", CONF_HOST,
	                                        n->id, &chg, &out),
	                 UNS_OK);
	l = conf_claim(c);
	assert_int_equal(l.n, 3);
	assert_non_null(conf_tap_of(&l, unsids[1]));
	assert_non_null(conf_tap_of(&l, unsids[2]));
	assert_non_null(conf_tap_of(&l, unsids[4]));
	assert_true(l.taps[0].state_change);
	assert_int_equal(l.taps[0].subject->read_state, RS(READ));
	conf_settle_all(c, &l, UNS_STORE_TAP_DELIVERED);
	conf_free(out);
	conf_free(n);
}

/* 100 posts leave one pending tap per endpoint, with the newest cursor;
 * a target policy limits the platforms tapped. */
static void
conf_outbox_coalesce(void **state)
{
	struct conf *c = *state;
	char unsids[CONF_NDEV][32], app[16], *head;
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT, *out = NULL;
	Uns__V1__TargetPolicy tp = UNS__V1__TARGET_POLICY__INIT;
	Uns__V1__Platform android = PLAT(ANDROID);
	uns_store_taps l;
	bool created;

	conf_sub_all(c, unsids);
	for (int i = 0; i < 100; i++) {
		snprintf(app, sizeof(app), "n%d", i);
		conf_free(conf_post(c, "alice", CONF_HOST, app, ""));
	}
	assert_int_equal(conf_outbox_n(c), 5);
	head = conf_head(c, "alice", CONF_HOST);
	l = conf_claim(c);
	assert_int_equal(l.n, 5);
	for (size_t i = 0; i < l.n; i++) {
		assert_string_equal(l.taps[i].cursor, head);
	}
	conf_settle_all(c, &l, UNS_STORE_TAP_DELIVERED);
	tp.n_platform_types = 1;
	tp.platform_types = &android;
	n.app_notification_id = "only-android";
	n.group_name = "";
	n.target_policy = &tp;
	assert_int_equal(
	    uns_store_post(c->st, "alice", CONF_HOST, &n, &out, &created),
	    UNS_OK);
	l = conf_claim(c);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.taps[0].ref, unsids[2]);
	conf_settle_all(c, &l, UNS_STORE_TAP_DELIVERED);
	conf_free(out);
	free(head);
}

/* Retry moves the due time and counts the attempt; a newer change keeps
 * that due time; a tap overwritten while out stays pending. */
static void
conf_outbox_retry(void **state)
{
	struct conf *c = *state;
	char unsid[32];
	uns_store_taps l;
	Uns__V1__Subscription *s;
	int64_t due = 0;

	conf_sub_as(c, "hook", PLAT(WEBHOOK), unsid);
	conf_free(conf_post(c, "alice", CONF_HOST, "a", ""));
	l = conf_claim(c);
	assert_int_equal(l.n, 1);
	assert_int_equal(
	    uns_store_outbox_claim(c->st, 10, 1000, &(uns_store_taps){0}),
	    UNS_OK); /* leased: nothing more to claim */
	assert_int_equal(
	    uns_store_outbox_settle(c->st, &l.taps[0], UNS_STORE_TAP_RETRY,
	                            CONF_T0 + 5000, "HTTP 503", NULL),
	    UNS_OK);
	uns_store_taps_free(&l);
	assert_int_equal(uns_store_outbox_next_due(c->st, &due), UNS_OK);
	assert_int_equal(due, CONF_T0 + 5000);
	conf_free(conf_post(c, "alice", CONF_HOST, "b", "")); /* coalesces */
	l = conf_claim(c);
	assert_int_equal(l.n, 0);
	s = conf_sub_get(c, unsid);
	assert_int_equal(s->delivery->consecutive_failures, 1);
	assert_string_equal(s->delivery->last_error, "HTTP 503");
	uns__v1__subscription__free_unpacked(s, NULL);
	atomic_store(&c->now, CONF_T0 + 5000);
	l = conf_claim(c);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.taps[0].attempts, 1);
	/* A post while the tap is out: delivering the old one keeps it. */
	conf_free(conf_post(c, "alice", CONF_HOST, "c", ""));
	bool newer = false;
	assert_int_equal(uns_store_outbox_settle(c->st, &l.taps[0],
	                                         UNS_STORE_TAP_DELIVERED, 0,
	                                         NULL, &newer),
	                 UNS_OK);
	assert_true(newer);
	uns_store_taps_free(&l);
	assert_int_equal(conf_outbox_n(c), 1);
	l = conf_claim(c);
	assert_int_equal(l.n, 1);
	conf_settle_all(c, &l, UNS_STORE_TAP_DELIVERED);
	assert_int_equal(conf_outbox_n(c), 0);
	assert_int_equal(uns_store_outbox_next_due(c->st, &due), UNS_NOT_FOUND);
	s = conf_sub_get(c, unsid);
	assert_int_equal(s->delivery->consecutive_failures, 0);
	assert_int_equal(s->delivery->delivered, 2);
	assert_int_equal(s->delivery->failed, 1);
	uns__v1__subscription__free_unpacked(s, NULL);
}

/* Dead stops a subscription's taps until it subscribes again;
 * unsubscribing drops its pending taps. */
static void
conf_outbox_dead(void **state)
{
	struct conf *c = *state;
	char hook[32], pc[32];
	uns_store_taps l;
	Uns__V1__Subscription *s;

	conf_sub_as(c, "hook", PLAT(WEBHOOK), hook);
	conf_sub_as(c, "pc", PLAT(WINDOWS), pc);
	conf_free(conf_post(c, "alice", CONF_HOST, "a", ""));
	l = conf_claim(c);
	assert_int_equal(l.n, 2);
	assert_int_equal(uns_store_outbox_settle(c->st, conf_tap_of(&l, hook),
	                                         UNS_STORE_TAP_DEAD, 0,
	                                         "HTTP 410", NULL),
	                 UNS_OK);
	s = conf_sub_get(c, hook);
	assert_true(s->delivery->dead);
	assert_string_equal(s->delivery->last_error, "HTTP 410");
	uns__v1__subscription__free_unpacked(s, NULL);
	conf_free(conf_post(c, "alice", CONF_HOST, "b", ""));
	assert_int_equal(conf_outbox_n(c), 1);       /* pc only */
	conf_sub_as(c, "hook", PLAT(WEBHOOK), hook); /* revives */
	s = conf_sub_get(c, hook);
	assert_false(s->delivery->dead);
	uns__v1__subscription__free_unpacked(s, NULL);
	conf_free(conf_post(c, "alice", CONF_HOST, "c", ""));
	assert_int_equal(conf_outbox_n(c), 2);
	assert_int_equal(uns_store_sub_delete(c->st, "alice", CONF_HOST, pc),
	                 UNS_OK);
	assert_int_equal(conf_outbox_n(c), 1);
	uns_store_taps_free(&l);
}

/* Leases are the claimer's only: they run out, and a restart forgets
 * them (a crash re-delivers claimed, unsettled taps). */
static void
conf_outbox_lease(void **state)
{
	struct conf *c = *state;
	char hook[32];
	uns_store_taps l, again;

	conf_sub_as(c, "hook", PLAT(WEBHOOK), hook);
	conf_free(conf_post(c, "alice", CONF_HOST, "a", ""));
	l = conf_claim(c);
	assert_int_equal(l.n, 1);
	again = conf_claim(c);
	assert_int_equal(again.n, 0);
	atomic_store(&c->now, CONF_T0 + 30001);
	again = conf_claim(c);
	assert_int_equal(again.n, 1);
	uns_store_taps_free(&again);
	uns_store_taps_free(&l);
	conf_reopen(c);
	l = conf_claim(c);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.taps[0].ref, hook);
	conf_settle_all(c, &l, UNS_STORE_TAP_DELIVERED);
	conf_reopen(c);
	assert_int_equal(conf_outbox_n(c), 0);
}

static Uns__V1__Notification *
conf_post_fallback_as(struct conf *c, const char *app_id,
                      Uns__V1__Priority priority, const char *raw)
{
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT, *out = NULL;
	Uns__V1__Payload pl = UNS__V1__PAYLOAD__INIT;
	Uns__V1__FallbackPolicy fp = UNS__V1__FALLBACK_POLICY__INIT;
	Uns__V1__EndpointFallback ef = UNS__V1__ENDPOINT_FALLBACK__INIT;
	Uns__V1__VisualContent vc = UNS__V1__VISUAL_CONTENT__INIT;
	Uns__V1__Platform ios = PLAT(IOS);
	bool created;

	vc.title = "You have mail";
	ef.n_platform_types = 1;
	ef.platform_types = &ios;
	ef.fallback_delay_in_seconds = 60;
	ef.visual_content = &vc;
	fp.endpoint_fallback = &ef;
	pl.raw_content = (char *)raw;
	pl.visual_content = raw[0] == '\0' ? &vc : NULL;
	n.app_notification_id = (char *)app_id;
	n.group_name = "";
	n.payload = &pl;
	n.priority = priority;
	n.fallback_policy = &fp;
	assert_int_equal(
	    uns_store_post(c->st, "alice", CONF_HOST, &n, &out, &created),
	    UNS_OK);
	return out;
}

static Uns__V1__Notification *
conf_post_fallback(struct conf *c, const char *app_id)
{
	return conf_post_fallback_as(
	    c, app_id, UNS__V1__PRIORITY__PRIORITY_HIGH, "{\"m\":1}");
}

/* Only a High-priority raw notification falls back (SPEC §5): on a Low
 * one, or a visual one, the policy schedules nothing. */
static void
conf_outbox_fallback_high_raw_only(void **state)
{
	struct conf *c = *state;
	char a[32];
	uns_store_taps l;
	size_t queued = 99;
	int64_t due = 0;

	conf_sub_as(c, "phone-a", PLAT(IOS), a);
	Uns__V1__Notification *low = conf_post_fallback_as(
	    c, "low", UNS__V1__PRIORITY__PRIORITY_LOW, "{\"m\":1}");
	Uns__V1__Notification *vis = conf_post_fallback_as(
	    c, "visual", UNS__V1__PRIORITY__PRIORITY_HIGH, "");
	l = conf_claim(c);
	conf_settle_all(c, &l, UNS_STORE_TAP_DELIVERED);
	assert_int_equal(uns_store_outbox_next_due(c->st, &due), UNS_NOT_FOUND);
	atomic_store(&c->now, CONF_T0 + 700000);
	assert_int_equal(uns_store_fallback_run(c->st, &queued), UNS_OK);
	assert_int_equal(queued, 0);
	conf_free(low);
	conf_free(vis);
}

/* After the delay, each iOS device that has not fetched the notification
 * gets one fallback alert; one that fetched it gets none. */
static void
conf_outbox_fallback(void **state)
{
	struct conf *c = *state;
	char a[32], b[32], pc[32], ref[64];
	Uns__V1__Notification *n;
	uns_store_taps l;
	size_t queued = 99;
	int64_t due = 0;

	conf_sub_as(c, "phone-a", PLAT(IOS), a);
	conf_sub_as(c, "phone-b", PLAT(IOS), b);
	conf_sub_as(c, "pc", PLAT(WINDOWS), pc);
	n = conf_post_fallback(c, "fb");
	l = conf_claim(c);
	assert_int_equal(l.n, 3); /* the ordinary taps */
	conf_settle_all(c, &l, UNS_STORE_TAP_DELIVERED);
	assert_int_equal(uns_store_outbox_next_due(c->st, &due), UNS_OK);
	assert_int_equal(due, CONF_T0 + 60000);
	assert_int_equal(uns_store_fallback_run(c->st, &queued), UNS_OK);
	assert_int_equal(queued, 0); /* not yet */
	const char *ids[] = {n->id};
	assert_int_equal(
	    uns_store_fetched(c->st, "alice", CONF_HOST, a, ids, 1), UNS_OK);
	atomic_store(&c->now, CONF_T0 + 60000);
	assert_int_equal(uns_store_fallback_run(c->st, &queued), UNS_OK);
	assert_int_equal(queued, 1);
	l = conf_claim(c);
	assert_int_equal(l.n, 1);
	snprintf(ref, sizeof(ref), "%s:%s", b, n->id);
	assert_string_equal(l.taps[0].ref, ref);
	assert_true(l.taps[0].fallback);
	assert_non_null(l.taps[0].subject);
	assert_string_equal(l.taps[0]
	                        .subject->fallback_policy->endpoint_fallback
	                        ->visual_content->title,
	                    "You have mail");
	assert_int_equal(l.taps[0].sub->platform, PLAT(IOS));
	conf_settle_all(c, &l, UNS_STORE_TAP_DELIVERED);
	assert_int_equal(uns_store_fallback_run(c->st, &queued), UNS_OK);
	assert_int_equal(queued, 0); /* once */
	assert_int_equal(uns_store_outbox_next_due(c->st, &due), UNS_NOT_FOUND);
	conf_free(n);
	/* Deleted before the delay: no alert. */
	n = conf_post_fallback(c, "fb2");
	conf_settle_all(c, &(uns_store_taps){0}, UNS_STORE_TAP_DELIVERED);
	l = conf_claim(c);
	conf_settle_all(c, &l, UNS_STORE_TAP_DELIVERED);
	assert_int_equal(uns_store_delete(c->st, "alice", CONF_HOST, n->id),
	                 UNS_OK);
	l = conf_claim(c);
	conf_settle_all(c, &l, UNS_STORE_TAP_DELIVERED);
	atomic_store(&c->now, CONF_T0 + 200000);
	assert_int_equal(uns_store_fallback_run(c->st, &queued), UNS_OK);
	assert_int_equal(queued, 0);
	conf_free(n);
}

/* Expiry is a feed change: it taps like a state change. */
static void
conf_outbox_expiry(void **state)
{
	struct conf *c = *state;
	char unsids[CONF_NDEV][32];
	Uns__V1__Notification *n = NULL;
	uns_store_taps l;
	bool created;

	conf_sub_all(c, unsids);
	assert_int_equal(conf_try_post(c, "alice", CONF_HOST, "a", "", "t",
	                               CONF_T0 + 1000, &n, &created),
	                 UNS_OK);
	l = conf_claim(c);
	conf_settle_all(c, &l, UNS_STORE_TAP_DELIVERED);
	atomic_store(&c->now, CONF_T0 + 1000);
	assert_int_equal(uns_store_reclaim(c->st, CONF_T0 + 1000, NULL),
	                 UNS_OK);
	l = conf_claim(c);
	assert_int_equal(l.n, 4); /* not web push, not polling */
	assert_null(conf_tap_of(&l, unsids[3]));
	assert_true(l.taps[0].state_change);
	assert_null(l.taps[0].subject); /* reclaimed */
	conf_settle_all(c, &l, UNS_STORE_TAP_DELIVERED);
	conf_free(n);
}

/* Several outcomes in one write: each applied as if settled alone; two
 * for one subscription are refused, and nothing changes. */
static void
conf_outbox_settle_many(void **state)
{
	struct conf *c = *state;
	char hook[32], pc[32];
	uns_store_taps l;
	uns_store_settle v[2];
	int64_t due = 0;

	conf_sub_as(c, "hook", PLAT(WEBHOOK), hook);
	conf_sub_as(c, "pc", PLAT(WINDOWS), pc);
	conf_free(conf_post(c, "alice", CONF_HOST, "a", ""));
	l = conf_claim(c);
	assert_int_equal(l.n, 2);
	v[0] = (uns_store_settle){.tap = conf_tap_of(&l, hook),
	                          .result = UNS_STORE_TAP_DELIVERED};
	v[1] = (uns_store_settle){.tap = conf_tap_of(&l, hook),
	                          .result = UNS_STORE_TAP_DROP};
	assert_int_equal(uns_store_outbox_settle_many(c->st, v, 2), UNS_EINVAL);
	assert_int_equal(conf_outbox_n(c), 2);
	v[1] = (uns_store_settle){.tap = conf_tap_of(&l, pc),
	                          .result = UNS_STORE_TAP_RETRY,
	                          .due_ms = CONF_T0 + 700,
	                          .error = "HTTP 503"};
	assert_int_equal(uns_store_outbox_settle_many(c->st, v, 2), UNS_OK);
	assert_false(v[0].newer);
	assert_int_equal(conf_outbox_n(c), 1);
	assert_int_equal(uns_store_outbox_next_due(c->st, &due), UNS_OK);
	assert_int_equal(due, CONF_T0 + 700);
	Uns__V1__Subscription *s = conf_sub_get(c, hook);
	assert_int_equal(s->delivery->delivered, 1);
	uns__v1__subscription__free_unpacked(s, NULL);
	s = conf_sub_get(c, pc);
	assert_int_equal(s->delivery->failed, 1);
	assert_string_equal(s->delivery->last_error, "HTTP 503");
	uns__v1__subscription__free_unpacked(s, NULL);
	uns_store_taps_free(&l);
	assert_int_equal(uns_store_outbox_settle_many(c->st, NULL, 0), UNS_OK);
}

static void
conf_outbox_invalid(void **state)
{
	struct conf *c = *state;
	uns_store_taps l;
	uns_store_tap t = {0};
	int64_t due;
	size_t n;

	assert_int_equal(uns_store_outbox_claim(NULL, 1, 1, &l), UNS_EINVAL);
	assert_int_equal(uns_store_outbox_claim(c->st, 0, 1, &l), UNS_EINVAL);
	assert_int_equal(uns_store_outbox_claim(c->st, 1, 0, &l), UNS_EINVAL);
	assert_int_equal(uns_store_outbox_next_due(c->st, NULL), UNS_EINVAL);
	assert_int_equal(uns_store_outbox_next_due(c->st, &due), UNS_NOT_FOUND);
	assert_int_equal(uns_store_outbox_count(c->st, NULL), UNS_EINVAL);
	assert_int_equal(uns_store_outbox_settle(
	                     c->st, &t, UNS_STORE_TAP_DELIVERED, 0, NULL, NULL),
	                 UNS_EINVAL);
	assert_int_equal(
	    uns_store_fetched(c->st, "alice", CONF_HOST, "short", NULL, 0),
	    UNS_EINVAL);
	assert_int_equal(uns_store_fallback_run(c->st, NULL), UNS_EINVAL);
	assert_int_equal(uns_store_outbox_count(c->st, &n), UNS_OK);
	assert_int_equal(n, 0);
	uns_store_taps_free(NULL);
}

/* Posts within one millisecond get distinct, increasing creation times,
 * so History lists them in posting order; a replace keeps its time. */
static void
conf_history_same_millisecond(void **state)
{
	struct conf *c = *state;
	char ids[5][23], app_id[8];
	uns_store_history_query q = {0};
	uns_store_history_page h;

	for (int i = 0; i < 5; i++) { /* the clock does not move */
		snprintf(app_id, sizeof(app_id), "ms-%d", i);
		Uns__V1__Notification *n =
		    conf_post(c, "alice", CONF_HOST, app_id, "g");
		assert_int_equal(n->created_time_ms, c->now + i);
		snprintf(ids[i], sizeof(ids[i]), "%s", n->id);
		conf_free(n);
	}
	Uns__V1__Notification *r =
	    conf_post(c, "alice", CONF_HOST, "ms-0", "g");
	assert_string_equal(r->id, ids[0]);
	assert_int_equal(r->created_time_ms, c->now);
	conf_free(r);
	assert_int_equal(uns_store_history(c->st, "alice", CONF_HOST, &q, &h),
	                 UNS_OK);
	assert_int_equal(h.n, 5);
	for (int i = 0; i < 5; i++) {
		assert_string_equal(h.items[i]->id, ids[4 - i]);
	}
	uns_store_history_page_free(&h);
}

/* --- asynchronous posts ---------------------------------------------- */

#define CONF_ASYNC 100

struct conf_async {
	atomic_int ended;
	uns_err rc[CONF_ASYNC + 1];
	Uns__V1__Notification *n[CONF_ASYNC + 1];
	bool created[CONF_ASYNC + 1];
	char msg[CONF_ASYNC + 1][64];
	int index[CONF_ASYNC + 1]; /* done's arg points here */
};

static struct conf_async *conf_async_of; /* one test at a time */

static void
conf_async_done(void *arg, uns_err rc, Uns__V1__Notification *n, bool created)
{
	struct conf_async *a = conf_async_of;
	int i = *(const int *)arg;

	a->rc[i] = rc;
	a->n[i] = n;
	a->created[i] = created;
	if (rc != UNS_OK) {
		snprintf(a->msg[i], sizeof(a->msg[i]), "%s",
		         uns_store_errmsg());
	}
	atomic_fetch_add(&a->ended, 1);
}

/* Waits up to 10 s for n asynchronous writes to end. */
static void
conf_async_wait(struct conf_async *a, int n)
{
	for (int t = 0; t < 1000 && atomic_load(&a->ended) < n; t++) {
		struct timespec ms = {0, 10 * 1000000};
		nanosleep(&ms, NULL);
	}
	assert_int_equal(atomic_load(&a->ended), n);
}

/*
 * Posts of one owner that nobody waits for: all but the first queue on the
 * owner's stripe and run as the one before them becomes durable, in the
 * order they were posted (creation times at one frozen millisecond
 * increase with it); a failing one reports its own error and details.
 */
static void
conf_post_async_order(void **state)
{
	struct conf *c = *state;
	struct conf_async *a = calloc(1, sizeof(*a));
	Uns__V1__Notification *in = calloc(CONF_ASYNC + 1, sizeof(*in));
	char(*ids)[16] = calloc(CONF_ASYNC + 1, sizeof(*ids));
	uns_store_feed_page p;

	assert_non_null(a);
	assert_non_null(in);
	assert_non_null(ids);
	conf_async_of = a;
	for (int i = 0; i <= CONF_ASYNC; i++) {
		uns__v1__notification__init(&in[i]);
		snprintf(ids[i], sizeof(ids[i]), "q%d", i);
		in[i].app_notification_id = ids[i];
		in[i].group_name = "";
		/* The last one expired before it was posted: refused. */
		in[i].expiration_time_ms = i == CONF_ASYNC ? CONF_T0 - 1 : 0;
		a->index[i] = i;
		uns_store_post_async(c->st, "alice", CONF_HOST, &in[i],
		                     conf_async_done, &a->index[i]);
	}
	conf_async_wait(a, CONF_ASYNC + 1);
	for (int i = 0; i < CONF_ASYNC; i++) {
		assert_int_equal(a->rc[i], UNS_OK);
		assert_true(a->created[i]);
		assert_string_equal(a->n[i]->app_notification_id, ids[i]);
		if (i > 0) {
			assert_true(a->n[i]->created_time_ms >
			            a->n[i - 1]->created_time_ms);
		}
	}
	assert_int_equal(a->rc[CONF_ASYNC], UNS_EINVAL);
	assert_null(a->n[CONF_ASYNC]);
	assert_true(a->msg[CONF_ASYNC][0] != '\0');
	assert_int_equal(
	    uns_store_feed_read(c->st, "alice", CONF_HOST, NULL, 1000, &p),
	    UNS_OK);
	assert_int_equal(p.n, CONF_ASYNC);
	uns_store_feed_page_free(&p);
	for (int i = 0; i < CONF_ASYNC; i++) {
		conf_free(a->n[i]);
	}
	free(ids);
	free(in);
	free(a);
}

/*
 * Deletes nobody waits for, by server id (for one host or any of several)
 * and by app id, queued behind each other on the owner's stripe: each ends
 * once with its own result, a success with the notification in its deleted
 * state, and the feed has their tombstones; the failures (another user's
 * id, an unknown app id, hosts that are not the notification's, a bad
 * host, no host) change nothing.
 */
static void
conf_delete_async(void **state)
{
	struct conf *c = *state;
	struct conf_async *a = calloc(1, sizeof(*a));
	Uns__V1__Notification *n[3];
	char *cur = conf_head(c, "alice", CONF_HOST);
	uns_store_feed_page p;

	assert_non_null(a);
	conf_async_of = a;
	for (int i = 0; i < 3; i++) {
		char app_id[8];
		snprintf(app_id, sizeof(app_id), "d%d", i);
		n[i] = conf_post(c, "alice", CONF_HOST, app_id, "");
		a->index[i] = i;
	}
	for (int i = 3; i < 8; i++) {
		a->index[i] = i;
	}
	const char *other[] = {CONF_HOST2}, *both[] = {CONF_HOST2, CONF_HOST};
	uns_store_delete_async(c->st, "alice", CONF_HOST, n[0]->id,
	                       conf_async_done, &a->index[0]);
	uns_store_delete_by_app_id_async(c->st, "alice", CONF_HOST, "d1",
	                                 conf_async_done, &a->index[1]);
	uns_store_delete_async(c->st, "bob", CONF_HOST, n[2]->id,
	                       conf_async_done, &a->index[2]);
	uns_store_delete_by_app_id_async(c->st, "alice", CONF_HOST, "nope",
	                                 conf_async_done, &a->index[3]);
	uns_store_delete_async(c->st, "alice", "", n[2]->id, conf_async_done,
	                       &a->index[4]);
	uns_store_delete_in_hosts_async(c->st, NULL, other, 1, n[2]->id,
	                                conf_async_done, &a->index[5]);
	uns_store_delete_in_hosts_async(c->st, NULL, both, 0, n[2]->id,
	                                conf_async_done, &a->index[6]);
	uns_store_delete_in_hosts_async(c->st, NULL, both, 2, n[2]->id,
	                                conf_async_done, &a->index[7]);
	conf_async_wait(a, 8);
	static const int deleted[] = {0, 1, 7}, whose[] = {0, 1, 2};
	for (int k = 0; k < 3; k++) {
		int i = deleted[k];
		assert_int_equal(a->rc[i], UNS_OK);
		assert_string_equal(a->n[i]->id, n[whose[k]]->id);
		assert_int_equal(a->n[i]->status, NST(DELETED));
		assert_int_equal(a->n[i]->version, 2);
		conf_free(a->n[i]);
	}
	assert_int_equal(a->rc[2], UNS_NOT_FOUND);
	assert_int_equal(a->rc[3], UNS_NOT_FOUND);
	assert_int_equal(a->rc[4], UNS_EINVAL);
	assert_int_equal(a->rc[5], UNS_NOT_FOUND);
	assert_int_equal(a->rc[6], UNS_EINVAL);
	for (int i = 2; i < 7; i++) {
		assert_null(a->n[i]);
	}
	p = conf_feed_all(c, "alice", cur);
	assert_int_equal(p.n, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(conf_feed_find(&p, n[i]->id)->removed,
		                 RMV(DELETED));
	}
	uns_store_feed_page_free(&p);
	for (int i = 0; i < 3; i++) {
		conf_free(n[i]);
	}
	free(cur);
	free(a);
}

/* --- idempotency keys ---------------------------------------------------- */

#define CONF_HOUR (3600LL * 1000)

/* A keyed post of app id "k-APP" with title; fp is the fingerprint's first
 * byte (the rest zero). */
static uns_err
conf_keyed(struct conf *c, const char *key, int fp, const char *app_id,
           int64_t expiration, Uns__V1__Notification **out, bool *created)
{
	Uns__V1__Payload pl = UNS__V1__PAYLOAD__INIT;
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT;
	uns_store_idem idem = {.key = key, .window_ms = CONF_HOUR};

	idem.fingerprint[0] = (unsigned char)fp;
	pl.raw_content = "raw";
	n.app_notification_id = (char *)app_id;
	n.group_name = "";
	n.payload = &pl;
	n.expiration_time_ms = expiration;
	return uns_store_post_keyed(c->st, "alice", CONF_HOST, &n, &idem, out,
	                            created);
}

static size_t
conf_history_count(struct conf *c)
{
	uns_store_history_query q = {.page_size = 100};
	uns_store_history_page p;
	size_t n;

	assert_int_equal(uns_store_history(c->st, "alice", CONF_HOST, &q, &p),
	                 UNS_OK);
	n = p.n;
	uns_store_history_page_free(&p);
	return n;
}

static void
conf_idem_replay(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *first = NULL, *again = NULL, *other = NULL;
	char *head, *head2;
	bool created = false;

	assert_int_equal(conf_keyed(c, "K1", 1, "a1", 0, &first, &created),
	                 UNS_OK);
	assert_true(created);
	/* Changed since: the replay still answers the first answer. */
	assert_int_equal(
	    conf_update(c, "alice", first->id, RS(READ), 0, 0, 0, NULL),
	    UNS_OK);
	head = conf_head(c, "alice", CONF_HOST);
	/* Same key, same fingerprint, even another app id: nothing new. */
	assert_int_equal(conf_keyed(c, "K1", 1, "a2", 0, &again, &created),
	                 UNS_OK);
	assert_true(created);
	assert_string_equal(again->id, first->id);
	assert_int_equal(again->version, 1);
	assert_int_equal(again->read_state, RS(UNREAD));
	assert_string_equal(again->app_notification_id, "a1");
	head2 = conf_head(c, "alice", CONF_HOST);
	assert_string_equal(head, head2);
	assert_int_equal(conf_history_count(c), 1);
	conf_free(again);
	free(head2);
	/* Same key, another fingerprint: refused, nothing written. */
	again = NULL;
	assert_int_equal(conf_keyed(c, "K1", 2, "a1", 0, &again, &created),
	                 UNS_ALREADY_EXISTS);
	assert_null(again);
	head2 = conf_head(c, "alice", CONF_HOST);
	assert_string_equal(head, head2);
	free(head2);
	/* Another key, or another owner with the same key: new posts. */
	assert_int_equal(conf_keyed(c, "K2", 1, "a3", 0, &other, &created),
	                 UNS_OK);
	assert_true(created);
	assert_string_not_equal(other->id, first->id);
	conf_free(other);
	assert_int_equal(conf_history_count(c), 2);
	/* Kept across a restart like the notification itself. */
	conf_reopen(c);
	assert_int_equal(conf_keyed(c, "K1", 1, "a1", 0, &again, &created),
	                 UNS_OK);
	assert_string_equal(again->id, first->id);
	conf_free(again);
	assert_int_equal(conf_keyed(c, "K1", 2, "a1", 0, &again, &created),
	                 UNS_ALREADY_EXISTS);
	/* A plain post ignores keys; a NULL idem is a plain post. */
	assert_int_equal(uns_store_post_keyed(c->st, "alice", CONF_HOST, first,
	                                      NULL, &again, &created),
	                 UNS_OK);
	assert_false(created);
	conf_free(again);
	free(head);
	conf_free(first);
}

static void
conf_idem_window(void **state)
{
	struct conf *c = *state;
	Uns__V1__Notification *first = NULL, *n = NULL;
	bool created = false;
	size_t reclaimed = 0;

	/* A failed post leaves no key. */
	assert_int_equal(conf_keyed(c, "K", 1, "a1", CONF_T0 - 1, &n, &created),
	                 UNS_EINVAL);
	assert_int_equal(conf_keyed(c, "K", 2, "a1", 0, &first, &created),
	                 UNS_OK);
	assert_true(created);
	/* Past the window the key is forgotten: it posts anew. */
	atomic_store(&c->now, CONF_T0 + 2 * CONF_HOUR);
	assert_int_equal(conf_keyed(c, "K", 3, "a2", 0, &n, &created), UNS_OK);
	assert_true(created);
	assert_string_not_equal(n->id, first->id);
	conf_free(n);
	/* The first record's expiry, reclaimed now, leaves the second. */
	assert_int_equal(
	    uns_store_reclaim(c->st, atomic_load(&c->now), &reclaimed), UNS_OK);
	assert_true(reclaimed >= 1);
	n = NULL;
	assert_int_equal(conf_keyed(c, "K", 4, "a3", 0, &n, &created),
	                 UNS_ALREADY_EXISTS);
	assert_null(n);
	/* Once its window passed and reclaim ran, nothing is left of it. */
	atomic_store(&c->now, CONF_T0 + 4 * CONF_HOUR);
	assert_int_equal(
	    uns_store_reclaim(c->st, atomic_load(&c->now), &reclaimed), UNS_OK);
	assert_int_equal(conf_keyed(c, "K", 4, "a3", 0, &n, &created), UNS_OK);
	assert_true(created);
	conf_free(n);
	/* Bad keys and windows. */
	Uns__V1__Payload pl = UNS__V1__PAYLOAD__INIT;
	Uns__V1__Notification in = UNS__V1__NOTIFICATION__INIT;
	char longkey[UNS_STORE_IDEM_KEY_MAX + 2];
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	pl.raw_content = "raw";
	in.app_notification_id = "bad";
	in.group_name = "";
	in.payload = &pl;
	const uns_store_idem bad[] = {
	    {.key = "", .window_ms = CONF_HOUR},
	    {.key = NULL, .window_ms = CONF_HOUR},
	    {.key = longkey, .window_ms = CONF_HOUR},
	    {.key = "ok", .window_ms = 0},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(uns_store_post_keyed(c->st, "alice", CONF_HOST,
		                                      &in, &bad[i], &n,
		                                      &created),
		                 UNS_EINVAL);
	}
	conf_free(first);
}

#define CONF_TEST(f)                                                           \
	cmocka_unit_test_setup_teardown(f, conf_setup, conf_teardown)

#define UNS_STORE_CONFORMANCE_TESTS                                            \
	CONF_TEST(conf_sub_lifecycle), CONF_TEST(conf_sub_expiry),             \
	    CONF_TEST(conf_sub_invalid), CONF_TEST(conf_post_get),             \
	    CONF_TEST(conf_post_invalid),                                      \
	    CONF_TEST(conf_replace_resets_state),                              \
	    CONF_TEST(conf_two_devices_share_feed),                            \
	    CONF_TEST(conf_feed_compaction), CONF_TEST(conf_feed_cursors),     \
	    CONF_TEST(conf_delete_tombstone),                                  \
	    CONF_TEST(conf_expiry_tombstone), CONF_TEST(conf_next_expiry),     \
	    CONF_TEST(conf_cas_conflict), CONF_TEST(conf_noop_and_bad_update), \
	    CONF_TEST(conf_history_paging_filters),                            \
	    CONF_TEST(conf_history_same_millisecond),                          \
	    CONF_TEST(conf_isolation), CONF_TEST(conf_live_limit),             \
	    CONF_TEST(conf_reopen_keeps_everything),                           \
	    CONF_TEST(conf_delete_by_app), CONF_TEST(conf_feed_hook),          \
	    CONF_TEST(conf_no_lost_updates), CONF_TEST(conf_null_arguments),   \
	    CONF_TEST(conf_outbox_post_taps),                                  \
	    CONF_TEST(conf_outbox_state_change),                               \
	    CONF_TEST(conf_outbox_coalesce), CONF_TEST(conf_outbox_retry),     \
	    CONF_TEST(conf_outbox_dead), CONF_TEST(conf_outbox_lease),         \
	    CONF_TEST(conf_outbox_fallback),                                   \
	    CONF_TEST(conf_outbox_fallback_high_raw_only),                     \
	    CONF_TEST(conf_outbox_expiry), CONF_TEST(conf_outbox_settle_many), \
	    CONF_TEST(conf_outbox_invalid), CONF_TEST(conf_post_async_order),  \
	    CONF_TEST(conf_delete_async), CONF_TEST(conf_idem_replay),         \
	    CONF_TEST(conf_idem_window)

#endif /* UNS_TESTS_STORE_CONFORMANCE_H */
