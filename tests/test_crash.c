/*
 * test_crash.c — durability across kill -9: unsd runs as a child on one
 * data directory; four threads post to it until it is killed with SIGKILL
 * at a random moment; after each restart every post the server acknowledged
 * is fetched by id, and the whole change feed is read back: each
 * acknowledged notification appears in it exactly once, and every entry is
 * whole (an id, an app notification id and the title posted with it).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "testutil.h"

#include "auth.h"
#include "jwt.h"
#include "uns_stubs.h"

#define HOST    "crash.example.com"
#define APP     "crash-app"
#define ROUNDS  5
#define THREADS 4

/* One acknowledged post: the server's id and the app notification id. */
typedef struct ack {
	char *id;
	char *app_id;
} ack;

typedef struct acklist {
	ack *v;
	size_t n, cap;
} acklist;

static void
acks_add(acklist *l, const char *id, const char *app_id)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (l->v == NULL) {
			abort();
		}
	}
	l->v[l->n].id = strdup(id);
	l->v[l->n].app_id = strdup(app_id);
	l->n++;
}

static void
acks_free(acklist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].id);
		free(l->v[i].app_id);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
ack_cmp(const void *a, const void *b)
{
	return strcmp(((const ack *)a)->id, ((const ack *)b)->id);
}

/* --- the load ------------------------------------------------------------ */

typedef struct poster {
	const char *url, *token, *unsid;
	int round, thread;
	atomic_int *killed;
	acklist acks;
	uns_err err;         /* the error that stopped the thread */
	int err_before_kill; /* it came before the kill was sent */
	int bad_reply;       /* an OK reply without a matching notification */
	char msg[256];
} poster;

static void *
post_main(void *arg)
{
	poster *p = arg;
	uns_client *c = NULL;
	p->err = uns_client_open(&c, p->url, NULL);
	if (p->err != UNS_OK) {
		p->err_before_kill = !atomic_load(p->killed);
		snprintf(p->msg, sizeof(p->msg), "open: %s",
		         uns_last_message());
		return NULL;
	}
	for (unsigned n = 0;; n++) {
		char app_id[64];
		snprintf(app_id, sizeof(app_id), "r%d-t%d-%u", p->round,
		         p->thread, n);
		Uns__V1__PostRequest req = UNS__V1__POST_REQUEST__INIT;
		Uns__V1__Notification nt = UNS__V1__NOTIFICATION__INIT;
		Uns__V1__Payload pl = UNS__V1__PAYLOAD__INIT;
		Uns__V1__VisualContent v = UNS__V1__VISUAL_CONTENT__INIT;
		v.title = app_id;
		pl.visual_content = &v;
		nt.payload = &pl;
		nt.app_notification_id = app_id;
		nt.group_name = "crash";
		req.notification = &nt;
		req.unsid = (char *)p->unsid;
		uns_call_opts o = {.token = p->token, .timeout_ms = 5000};
		Uns__V1__PostResponse *resp = NULL;
		uns_err err = uns_notifications_post(c, &req, &resp, &o);
		if (err != UNS_OK) {
			p->err = err;
			p->err_before_kill = !atomic_load(p->killed);
			snprintf(p->msg, sizeof(p->msg), "%s",
			         uns_last_message());
			break;
		}
		const Uns__V1__Notification *got = resp->notification;
		if (got == NULL || got->id == NULL || got->id[0] == '\0' ||
		    strcmp(got->app_notification_id, app_id) != 0 ||
		    !resp->created) {
			p->bad_reply = 1;
			uns__v1__post_response__free_unpacked(resp, NULL);
			break;
		}
		acks_add(&p->acks, got->id, app_id);
		uns__v1__post_response__free_unpacked(resp, NULL);
	}
	uns_client_close(c);
	return NULL;
}

/* --- checks after a restart ---------------------------------------------- */

static uns_client *
dial(int port)
{
	char url[64];
	uns_client *c = NULL;
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	if (uns_client_open(&c, url, NULL) != UNS_OK) {
		fail_msg("client: %s", uns_last_message());
	}
	return c;
}

/* Every acknowledged id is there by id, with its app notification id. */
static void
check_by_id(uns_client *c, const char *token, const acklist *all)
{
	for (size_t i = 0; i < all->n; i++) {
		Uns__V1__FetchRequest req = UNS__V1__FETCH_REQUEST__INIT;
		Uns__V1__FetchResponse *resp = NULL;
		req.id = all->v[i].id;
		uns_call_opts o = {.token = token, .timeout_ms = 10000};
		uns_err err = uns_notifications_fetch(c, &req, &resp, &o);
		if (err != UNS_OK) {
			fail_msg("acknowledged %s (%s) lost: %s: %s",
			         all->v[i].id, all->v[i].app_id,
			         uns_strerror(err), uns_last_message());
		}
		assert_non_null(resp->notification);
		assert_string_equal(resp->notification->id, all->v[i].id);
		assert_string_equal(resp->notification->app_notification_id,
		                    all->v[i].app_id);
		uns__v1__fetch_response__free_unpacked(resp, NULL);
	}
}

/*
 * Reads the whole feed from the beginning; every entry must be a whole live
 * notification, no id may appear twice, and every acknowledged id must be
 * among them with its app notification id. Returns the number of entries.
 */
static size_t
check_feed(uns_client *c, const char *token, const acklist *all)
{
	acklist feed = {0};
	char *cursor = strdup("");
	for (int pages = 0;; pages++) {
		assert_true(pages < 10000);
		Uns__V1__FetchRequest req = UNS__V1__FETCH_REQUEST__INIT;
		Uns__V1__FetchResponse *resp = NULL;
		req.cursor = cursor;
		req.limit = 1000;
		uns_call_opts o = {.token = token, .timeout_ms = 10000};
		uns_err err = uns_notifications_fetch(c, &req, &resp, &o);
		if (err != UNS_OK) {
			fail_msg("feed: %s: %s", uns_strerror(err),
			         uns_last_message());
		}
		for (size_t i = 0; i < resp->n_changes; i++) {
			const Uns__V1__FeedEntry *fe = resp->changes[i];
			const Uns__V1__Notification *n = fe->notification;
			assert_non_null(n);
			assert_int_equal(fe->removed, 0);
			assert_non_null(n->id);
			assert_true(n->id[0] != '\0');
			assert_non_null(n->app_notification_id);
			assert_true(n->app_notification_id[0] == 'r');
			assert_non_null(n->payload);
			assert_non_null(n->payload->visual_content);
			assert_string_equal(n->payload->visual_content->title,
			                    n->app_notification_id);
			acks_add(&feed, n->id, n->app_notification_id);
		}
		int more = resp->more;
		free(cursor);
		cursor = strdup(resp->next_cursor);
		uns__v1__fetch_response__free_unpacked(resp, NULL);
		if (!more) {
			break;
		}
	}
	free(cursor);
	qsort(feed.v, feed.n, sizeof(*feed.v), ack_cmp);
	for (size_t i = 1; i < feed.n; i++) {
		if (strcmp(feed.v[i - 1].id, feed.v[i].id) == 0) {
			fail_msg("feed lists %s twice", feed.v[i].id);
		}
	}
	for (size_t i = 0; i < all->n; i++) {
		const ack *f = bsearch(&all->v[i], feed.v, feed.n,
		                       sizeof(*feed.v), ack_cmp);
		if (f == NULL) {
			fail_msg("acknowledged %s (%s) missing from the feed",
			         all->v[i].id, all->v[i].app_id);
		}
		assert_string_equal(f->app_id, all->v[i].app_id);
	}
	size_t n = feed.n;
	acks_free(&feed);
	return n;
}

/* --- the test ------------------------------------------------------------ */

static char *
subscribe(int port, const char *token)
{
	uns_client *c = dial(port);
	Uns__V1__SubscribeRequest req = UNS__V1__SUBSCRIBE_REQUEST__INIT;
	Uns__V1__SubscribeResponse *resp = NULL;
	req.device_id = "crash-device";
	req.platform = UNS__V1__PLATFORM__PLATFORM_POLLING;
	uns_call_opts o = {.token = token, .timeout_ms = 10000};
	if (uns_notifications_subscribe(c, &req, &resp, &o) != UNS_OK) {
		fail_msg("subscribe: %s", uns_last_message());
	}
	char *unsid = strdup(resp->subscription->unsid);
	uns__v1__subscribe_response__free_unpacked(resp, NULL);
	uns_client_close(c);
	return unsid;
}

/* The development HS256 secret unsd made in data. */
static void
load_secret(const char *data, uint8_t **secret, size_t *len)
{
	char path[400], why[256];
	snprintf(path, sizeof(path), "%s/jwt-hs256.secret", data);
	if (uns_jwt_read_secret_file(path, secret, len, why, sizeof(why)) !=
	    UNS_OK) {
		fail_msg("secret: %s", why);
	}
}

/* What teardown must undo even when a check fails midway: a failing test
 * must not leave a server running (it holds the test's stdout open). */
typedef struct crash_env {
	char tmp[256];
	ut_proc p;
	int running;
	acklist all;
	char *unsid;
} crash_env;

static int
setup(void **state)
{
	crash_env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	ut_mkdtemp(e->tmp, sizeof(e->tmp));
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	crash_env *e = *state;
	if (e->running) {
		ut_unsd_stop(&e->p, SIGKILL, NULL, 0);
	}
	acks_free(&e->all);
	free(e->unsid);
	ut_rmdir(e->tmp);
	free(e);
	return 0;
}

static void
test_kill9_keeps_acknowledged_posts(void **state)
{
	crash_env *e = *state;
	char data[300], path[400], conf[400], log[8192];
	char user[2048], app[2048];
	snprintf(data, sizeof(data), "%s/data", e->tmp);
	assert_int_equal(mkdir(data, 0700), 0);
	snprintf(path, sizeof(path), "%s/apps.conf", data);
	ut_write_file(path, APP " " HOST " -\n");
	/* The default cap (10000 live per user) could end a round early. */
	snprintf(conf, sizeof(conf), "%s/unsd.conf", e->tmp);
	ut_write_file(conf, "max_live_per_user = 1000000\nrate_limit_user = 0\n"
	                    "rate_limit_app = 0\n");
	const char *args[] = {"--config", conf, "--data", data, NULL};

	assert_int_equal(ut_unsd_start(&e->p, "tcp://127.0.0.1:0", args), 0);
	e->running = 1;
	uint8_t *secret = NULL;
	size_t secret_len = 0;
	load_secret(data, &secret, &secret_len);
	assert_int_equal(secret_len, 64);
	ut_mint_hs256(secret, secret_len, time(NULL), "u1", NULL, HOST,
	              UNS_SCOPE_USER, user, sizeof(user));
	ut_mint_hs256(secret, secret_len, time(NULL), NULL, APP, NULL,
	              UNS_SCOPE_APP, app, sizeof(app));
	free(secret);
	e->unsid = subscribe(e->p.port, user);

	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	srand(seed);
	printf("crash: seed %u\n", seed);
	fflush(stdout);
	acklist *all = &e->all;
	for (int round = 0; round < ROUNDS; round++) {
		char url[64];
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", e->p.port);
		atomic_int killed = 0;
		poster ps[THREADS];
		pthread_t th[THREADS];
		for (int t = 0; t < THREADS; t++) {
			ps[t] = (poster){.url = url,
			                 .token = app,
			                 .unsid = e->unsid,
			                 .round = round,
			                 .thread = t,
			                 .killed = &killed};
			if (pthread_create(&th[t], NULL, post_main, &ps[t]) !=
			    0) {
				abort(); /* cannot fail with threads running */
			}
		}
		int delay = 200 + rand() % 501;
		nng_msleep((nng_duration)delay);
		atomic_store(&killed, 1);
		int status = ut_unsd_stop(&e->p, SIGKILL, log, sizeof(log));
		e->running = 0;
		/* The threads end on their first failed call after the kill. */
		for (int t = 0; t < THREADS; t++) {
			pthread_join(th[t], NULL);
		}
		size_t round_acked = 0;
		for (int t = 0; t < THREADS; t++) {
			for (size_t i = 0; i < ps[t].acks.n; i++) {
				acks_add(all, ps[t].acks.v[i].id,
				         ps[t].acks.v[i].app_id);
			}
			round_acked += ps[t].acks.n;
			acks_free(&ps[t].acks);
		}
		assert_int_equal(status, -SIGKILL);
		for (int t = 0; t < THREADS; t++) {
			if (ps[t].bad_reply) {
				fail_msg("round %d thread %d: a Post reply "
				         "without its notification",
				         round, t);
			}
			if (ps[t].err_before_kill) {
				fail_msg("round %d thread %d: %s before the "
				         "kill: %s",
				         round, t, uns_strerror(ps[t].err),
				         ps[t].msg);
			}
		}
		/* Not vacuous: the kill landed on a server under load. */
		assert_true(round_acked > 0);

		assert_int_equal(
		    ut_unsd_start(&e->p, "tcp://127.0.0.1:0", args), 0);
		e->running = 1;
		nng_time t0 = nng_clock();
		uns_client *c = dial(e->p.port);
		check_by_id(c, user, all);
		size_t in_feed = check_feed(c, user, all);
		uns_client_close(c);
		printf("crash: round %d: killed after %d ms, acknowledged %zu "
		       "(total %zu), feed %zu (%zu stored unacknowledged), "
		       "checked in %d ms\n",
		       round, delay, round_acked, all->n, in_feed,
		       in_feed - all->n, (int)(nng_clock() - t0));
		fflush(stdout);
	}
	e->running = 0;
	assert_int_equal(ut_unsd_stop(&e->p, SIGTERM, log, sizeof(log)), 0);
}

/* A user's keyed Post of title; its reply's id into id (NULL: none). */
static uns_err
keyed_post(int port, const char *token, const char *key, const char *title,
           char *id, size_t cap, int *created)
{
	uns_client *c = dial(port);
	Uns__V1__PostRequest req = UNS__V1__POST_REQUEST__INIT;
	Uns__V1__Notification nt = UNS__V1__NOTIFICATION__INIT;
	Uns__V1__Payload pl = UNS__V1__PAYLOAD__INIT;
	Uns__V1__PostResponse *resp = NULL;
	uns_call_opts o = {.token = token, .timeout_ms = 10000};
	pl.raw_content = (char *)title;
	nt.payload = &pl;
	req.notification = &nt;
	req.idempotency_key = (char *)key;
	uns_err err = uns_notifications_post(c, &req, &resp, &o);
	if (err == UNS_OK) {
		snprintf(id, cap, "%s", resp->notification->id);
		*created = resp->created;
		uns__v1__post_response__free_unpacked(resp, NULL);
	}
	uns_client_close(c);
	return err;
}

static size_t
history_count(int port, const char *token)
{
	uns_client *c = dial(port);
	Uns__V1__HistoryRequest req = UNS__V1__HISTORY_REQUEST__INIT;
	Uns__V1__HistoryResponse *resp = NULL;
	uns_call_opts o = {.token = token, .timeout_ms = 10000};
	req.page_size = 100;
	assert_int_equal(uns_notifications_history(c, &req, &resp, &o), UNS_OK);
	size_t n = resp->n_notifications;
	uns__v1__history_response__free_unpacked(resp, NULL);
	uns_client_close(c);
	return n;
}

/* An acknowledged keyed Post is remembered across kill -9 like the
 * notification it made (issue 19): after the restart the same key and
 * request answer its id and create nothing; another request is refused. */
static void
test_kill9_keeps_idempotency_keys(void **state)
{
	crash_env *e = *state;
	char data[300], user[2048];
	char id[64], again[64];
	int created = 0;
	snprintf(data, sizeof(data), "%s/data", e->tmp);
	assert_int_equal(mkdir(data, 0700), 0);
	const char *args[] = {"--data", data, NULL};
	assert_int_equal(ut_unsd_start(&e->p, "tcp://127.0.0.1:0", args), 0);
	e->running = 1;
	uint8_t *secret = NULL;
	size_t secret_len = 0;
	load_secret(data, &secret, &secret_len);
	ut_mint_hs256(secret, secret_len, time(NULL), "u1", NULL, HOST,
	              UNS_SCOPE_USER, user, sizeof(user));
	free(secret);
	assert_int_equal(keyed_post(e->p.port, user, "key-1", "first", id,
	                            sizeof(id), &created),
	                 UNS_OK);
	assert_true(created);
	assert_int_equal(ut_unsd_stop(&e->p, SIGKILL, NULL, 0), -SIGKILL);
	e->running = 0;
	assert_int_equal(ut_unsd_start(&e->p, "tcp://127.0.0.1:0", args), 0);
	e->running = 1;
	assert_int_equal(keyed_post(e->p.port, user, "key-1", "first", again,
	                            sizeof(again), &created),
	                 UNS_OK);
	assert_string_equal(again, id);
	assert_true(created);
	assert_int_equal(keyed_post(e->p.port, user, "key-1", "changed", again,
	                            sizeof(again), &created),
	                 UNS_ALREADY_EXISTS);
	assert_int_equal(history_count(e->p.port, user), 1);
	e->running = 0;
	assert_int_equal(ut_unsd_stop(&e->p, SIGTERM, NULL, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_kill9_keeps_acknowledged_posts,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill9_keeps_idempotency_keys,
	                                    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
