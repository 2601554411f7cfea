/*
 * test_hardening_store.c — hardening, class "store" (issue 14 items 1, 3,
 * 10): a damaged write-ahead log refuses to open (naming the file and the
 * way out) instead of dropping acknowledged writes; salvage keeps a copy
 * and says what it dropped; a torn tail opens, said; a full disk answers
 * 503 and NOT_SERVING and comes back by itself; a start on a full disk is
 * a clear error; subscriptions per (user, host) are capped.
 *
 * A crash is taken as a copy of the store's files while it is open: every
 * Post returned only after its group's sync, so the copy holds every
 * acknowledged write in the log, as a kill -9 would leave it.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "store.h"
#include "testutil.h"
#include "uthttp.h"
#include "uns_stubs.h"

#define USER  "u-wal"
#define HOST  "contoso.example.com"
#define POSTS 300

static void
post_n(uns_store *st, int from, int n)
{
	for (int i = from; i < from + n; i++) {
		char aid[32], title[64];
		Uns__V1__Notification in = UNS__V1__NOTIFICATION__INIT;
		Uns__V1__Payload p = UNS__V1__PAYLOAD__INIT;
		snprintf(aid, sizeof(aid), "n-%d", i);
		snprintf(title, sizeof(title), "acknowledged write %d", i);
		p.raw_content = title;
		in.payload = &p;
		in.app_notification_id = aid;
		Uns__V1__Notification *out = NULL;
		bool created;
		assert_int_equal(
		    uns_store_post(st, USER, HOST, &in, &out, &created),
		    UNS_OK);
		protobuf_c_message_free_unpacked(&out->base, NULL);
	}
}

/* Live notifications of USER in store dir (opened and closed here), or -1
 * when it does not open; the open's error or note into note. */
static int
count_live(const char *dir, int salvage, char *note, size_t cap)
{
	uns_store_config sc = {
	    .dir = dir, .reclaim_interval_ms = -1, .salvage = salvage};
	uns_store *st = NULL;
	int n = 0;
	if (uns_store_open(&st, &sc) != UNS_OK) {
		snprintf(note, cap, "%s", uns_store_errmsg());
		return -1;
	}
	assert_int_equal(uns_store_health(st, note, cap), 1);
	uns_store_history_query q = {.page_size = 100};
	char token[512] = "";
	for (;;) {
		uns_store_history_page pg;
		q.page_token = token;
		assert_int_equal(uns_store_history(st, USER, HOST, &q, &pg),
		                 UNS_OK);
		n += (int)pg.n;
		int more = pg.next_page_token != NULL;
		if (more) {
			snprintf(token, sizeof(token), "%s",
			         pg.next_page_token);
		}
		uns_store_history_page_free(&pg);
		if (!more) {
			break;
		}
	}
	uns_store_close(st);
	return n;
}

/* The newest log file of dir, into path. */
static void
newest_log(const char *dir, char *path, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned long best = 0;
	assert_non_null(d);
	path[0] = '\0';
	while ((e = readdir(d)) != NULL) {
		char *end;
		unsigned long n = strtoul(e->d_name, &end, 10);
		if (end != e->d_name && strcmp(end, ".log") == 0 && n >= best) {
			best = n;
			snprintf(path, cap, "%s/%s", dir, e->d_name);
		}
	}
	closedir(d);
	assert_true(path[0] != '\0');
}

static long
file_size(const char *path)
{
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	return (long)sb.st_size;
}

/* A store with POSTS acknowledged Posts, "crashed": copied while open
 * into copies[i] for each of n copies. */
static void
crashed_copies(const char *root, char copies[][300], int n)
{
	char live[300], cmd[2048];
	snprintf(live, sizeof(live), "%s/live", root);
	uns_store_config sc = {.dir = live, .reclaim_interval_ms = -1};
	uns_store *st = NULL;
	assert_int_equal(uns_store_open(&st, &sc), UNS_OK);
	post_n(st, 0, POSTS);
	for (int i = 0; i < n; i++) {
		snprintf(copies[i], 300, "%s/copy%d", root, i);
		snprintf(cmd, sizeof(cmd), "cp -r %s %s", live, copies[i]);
		assert_int_equal(ut_run(cmd, NULL, 0), 0);
	}
	uns_store_close(st);
}

static void
test_damaged_wal_refused_then_salvaged(void **state)
{
	(void)state;
	char root[256], copies[3][300], wal[400], note[1024], cmd[2048];
	ut_mkdtemp(root, sizeof(root));
	crashed_copies(root, copies, 3);

	/* Intact: every acknowledged write back, nothing to say. */
	assert_int_equal(count_live(copies[0], 0, note, sizeof(note)), POSTS);
	assert_string_equal(note, "");

	/* 56 bytes overwritten in the middle of the log. */
	newest_log(copies[1], wal, sizeof(wal));
	long size = file_size(wal);
	snprintf(cmd, sizeof(cmd),
	         "printf '%%056d' 0 | dd of=%s bs=1 seek=%ld conv=notrunc "
	         "2>/dev/null && cp %s %s/damaged.log",
	         wal, size / 2, wal, root);
	assert_int_equal(ut_run(cmd, NULL, 0), 0);
	assert_int_equal(count_live(copies[1], 0, note, sizeof(note)), -1);
	if (strstr(note, wal) == NULL || strstr(note, "damaged") == NULL ||
	    strstr(note, "unsd --salvage") == NULL) {
		fail_msg("refusal does not name the file and the way out: %s",
		         note);
	}
	/* Refusing changed nothing. */
	snprintf(cmd, sizeof(cmd), "cmp -s %s %s/damaged.log", wal, root);
	assert_int_equal(ut_run(cmd, NULL, 0), 0);

	/* Salvage: a copy first, then every write before the damage. */
	int got = count_live(copies[1], 1, note, sizeof(note));
	assert_true(got > 0 && got < POSTS);
	if (strstr(note, "salvaged") == NULL ||
	    strstr(note, "dropped") == NULL) {
		fail_msg("salvage note: %s", note);
	}
	char kept[400];
	const char *in = strstr(note, "is in ");
	assert_non_null(in);
	snprintf(kept, sizeof(kept), "%s", in + 6);
	snprintf(cmd, sizeof(cmd), "cmp -s %s/%s %s/damaged.log", kept,
	         strrchr(wal, '/') + 1, root);
	assert_int_equal(ut_run(cmd, NULL, 0), 0);
	/* The salvaged store opens as any other afterwards. */
	assert_int_equal(count_live(copies[1], 0, note, sizeof(note)), got);

	/* A tail cut by 1 KB: a torn last record, opened, and said. */
	newest_log(copies[2], wal, sizeof(wal));
	assert_int_equal(truncate(wal, file_size(wal) - 1024), 0);
	got = count_live(copies[2], 0, note, sizeof(note));
	assert_true(got >= POSTS - 10 && got < POSTS);
	if (strstr(note, "torn last record") == NULL) {
		fail_msg("torn tail note: %s", note);
	}
	/* Once recovered, the store opens quietly (no old torn log left to
	 * look like damage). */
	assert_int_equal(count_live(copies[2], 0, note, sizeof(note)), got);
	assert_string_equal(note, "");
	ut_rmdir(root);
}

/* --- subscriptions per (user, host) ------------------------------------ */

static uns_err
subscribe(uns_store *st, const char *host, const char *device)
{
	Uns__V1__Subscription in = UNS__V1__SUBSCRIPTION__INIT;
	Uns__V1__Subscription *out = NULL;
	bool created;
	in.device_id = (char *)device;
	in.platform = UNS__V1__PLATFORM__PLATFORM_POLLING;
	uns_err rc = uns_store_sub_put(st, USER, host, &in, &out, &created);
	if (rc == UNS_OK) {
		uns__v1__subscription__free_unpacked(out, NULL);
	}
	return rc;
}

static void
test_subscriptions_capped(void **state)
{
	(void)state;
	char root[256], dir[300];
	ut_mkdtemp(root, sizeof(root));
	snprintf(dir, sizeof(dir), "%s/store", root);
	uns_store_config sc = {
	    .dir = dir, .reclaim_interval_ms = -1, .max_subs = 3};
	uns_store *st = NULL;
	assert_int_equal(uns_store_open(&st, &sc), UNS_OK);
	assert_int_equal(subscribe(st, HOST, "d1"), UNS_OK);
	assert_int_equal(subscribe(st, HOST, "d2"), UNS_OK);
	assert_int_equal(subscribe(st, HOST, "d3"), UNS_OK);
	assert_int_equal(subscribe(st, HOST, "d4"), UNS_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(uns_store_errmsg(), "max_subscriptions"));
	/* A renewal is not a new one; another host has its own count. */
	assert_int_equal(subscribe(st, HOST, "d2"), UNS_OK);
	assert_int_equal(subscribe(st, "other.example.com", "d4"), UNS_OK);
	/* One gone, one more may come. */
	uns_store_subs l;
	assert_int_equal(uns_store_sub_list(st, USER, HOST, &l), UNS_OK);
	assert_int_equal(l.n, 3);
	assert_int_equal(uns_store_sub_delete(st, USER, HOST, l.subs[0]->unsid),
	                 UNS_OK);
	uns_store_subs_free(&l);
	assert_int_equal(subscribe(st, HOST, "d4"), UNS_OK);
	uns_store_close(st);
	ut_rmdir(root);
}

/* --- a Fetch's mark never waits (item 15) ------------------------------ */

typedef struct holder {
	sem_t entered, release, marked;
	uns_store *st;
	const char *unsid;
} holder;

/* A failed write's done runs with its owner's stripe still held: block
 * there, as a writer holding the stripe through its fsync would. */
static void
hold_done(void *arg, uns_err rc, Uns__V1__Notification *n, bool created)
{
	holder *h = arg;
	(void)created;
	assert_true(rc == UNS_NOT_FOUND && n == NULL);
	sem_post(&h->entered);
	while (sem_wait(&h->release) != 0) {
	}
}

static void *
hold_stripe(void *arg)
{
	holder *h = arg;
	uns_store_change chg = {.read_state = 2};
	uns_store_update_state_async(
	    h->st, USER, HOST, "AAAAAAAAAAAAAAAAAAAAAA", &chg, hold_done, h);
	return NULL;
}

static void
marked(void *arg, uns_err rc, Uns__V1__Notification *n, bool created)
{
	(void)created;
	(void)n;
	assert_int_equal(rc, UNS_OK);
	sem_post(&((holder *)arg)->marked);
}

static int
wait_s(sem_t *s, int seconds)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += seconds;
	while (sem_timedwait(s, &t) != 0) {
		if (errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

static void *
mark(void *arg)
{
	holder *h = arg;
	const char *ids[] = {"AAAAAAAAAAAAAAAAAAAAAB"};
	uns_store_fetched_async(h->st, USER, HOST, h->unsid, ids, 1, marked, h);
	sem_post(&h->entered); /* returned */
	return NULL;
}

static void
test_fetch_mark_never_waits(void **state)
{
	(void)state;
	char root[256], dir[300];
	pthread_t a, b;
	holder h;
	ut_mkdtemp(root, sizeof(root));
	snprintf(dir, sizeof(dir), "%s/store", root);
	uns_store_config sc = {.dir = dir, .reclaim_interval_ms = -1};
	assert_int_equal(uns_store_open(&h.st, &sc), UNS_OK);
	Uns__V1__Subscription in = UNS__V1__SUBSCRIPTION__INIT;
	Uns__V1__Subscription *sub = NULL;
	bool created;
	in.device_id = "phone";
	in.platform = UNS__V1__PLATFORM__PLATFORM_IOS;
	assert_int_equal(
	    uns_store_sub_put(h.st, USER, HOST, &in, &sub, &created), UNS_OK);
	h.unsid = sub->unsid;
	sem_init(&h.entered, 0, 0);
	sem_init(&h.release, 0, 0);
	sem_init(&h.marked, 0, 0);
	pthread_create(&a, NULL, hold_stripe, &h);
	assert_int_equal(wait_s(&h.entered, 30), 0);
	/* The owner's stripe is held: the mark must return at once, not
	 * wait for it (10 s is far more than a hand-off takes). */
	pthread_create(&b, NULL, mark, &h);
	int returned = wait_s(&h.entered, 10) == 0;
	sem_post(&h.release);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	assert_true(returned);
	/* And it ends once the stripe is free. */
	assert_int_equal(wait_s(&h.marked, 30), 0);
	uns__v1__subscription__free_unpacked(sub, NULL);
	uns_store_close(h.st);
	ut_rmdir(root);
}

/* --- a full disk -------------------------------------------------------- */

static char g_mnt[300]; /* mounted by test_full_disk, for its teardown */
static ut_proc g_unsd;  /* its unsd, while it runs */

/* Unmounts and removes what test_full_disk made, failed or not. */
static int
teardown_mount(void **state)
{
	(void)state;
	if (g_unsd.pid > 0) {
		ut_unsd_stop(&g_unsd, SIGKILL, NULL, 0);
		g_unsd.pid = 0;
	}
	if (g_mnt[0] != '\0') {
		umount(g_mnt);
		*strrchr(g_mnt, '/') = '\0';
		ut_rmdir(g_mnt);
		g_mnt[0] = '\0';
	}
	return 0;
}

static int
mounted_tmpfs(const char *mnt, const char *size)
{
	char opts[64];
	snprintf(opts, sizeof(opts), "size=%s,mode=0700", size);
	if (geteuid() != 0 || mkdir(mnt, 0700) != 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, opts) != 0) {
		return 0;
	}
	return 1;
}

/* Fills fs at dir until fewer than left bytes are free. */
static void
fill(const char *path, long long left)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "avail=$(df -B1 --output=avail $(dirname %s) | tail -1); "
	         "fallocate -l $((avail - %lld)) %s",
	         path, left, path);
	assert_int_equal(ut_run(cmd, NULL, 0), 0);
}

/* A POST as the app to unsid; fails the test unless it answers want. */
static void
post_http(ut_http *h, const char *app, const char *unsid, int i, long want)
{
	char body[512], hdr[300];
	const char *hdrs[] = {hdr, NULL};
	ut_http_resp *r = ut_http_resp_new();
	snprintf(hdr, sizeof(hdr), "X-UNS-ID: %s", unsid);
	snprintf(body, sizeof(body),
	         "{\"targetHostName\":\"" HOST "\",\"appNotificationId\":"
	         "\"d-%d\",\"payload\":{\"rawContent\":\"x\"}}",
	         i);
	long st = ut_http_do(h, "POST", "/beta/me/notifications", app, body, 0,
	                     hdrs, r);
	if (st != want) {
		fail_msg("post %d: %ld, want %ld: %s", i, st, want, r->body);
	}
	free(r);
}

/* A Post over RPC that the full disk refuses: UNAVAILABLE with a fixed
 * message naming what failed and the request id, none of the store's own
 * text (before: "store unavailable: disk full: 3712 KiB free where the
 * store is …"). The id goes into id (cap bytes) to find the log line. */
static void
post_rpc_refused(int port, const char *app, const char *unsid, char *id,
                 size_t cap)
{
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	uns_client *c = NULL;
	assert_int_equal(uns_client_open(&c, url, NULL), UNS_OK);
	Uns__V1__PostRequest req = UNS__V1__POST_REQUEST__INIT;
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT;
	Uns__V1__Payload p = UNS__V1__PAYLOAD__INIT;
	p.raw_content = "x";
	n.payload = &p;
	n.app_notification_id = "rpc-1";
	req.notification = &n;
	req.unsid = (char *)unsid;
	uns_call_opts o = {.token = app, .timeout_ms = 10000};
	Uns__V1__PostResponse *resp = NULL;
	uns_err err = uns_notifications_post(c, &req, &resp, &o);
	const char *msg = err == UNS_OK ? "" : uns_last_message();
	const char *rid = strstr(msg, "request-id ");
	if (err != UNS_UNAVAILABLE || rid == NULL ||
	    strncmp(msg, "store unavailable: the notification ", 36) != 0 ||
	    strstr(msg, "disk") != NULL || strstr(msg, "KiB") != NULL ||
	    strchr(msg, '/') != NULL) {
		fail_msg("RPC post on a full disk: %s: %s",
		         uns_status_name(err), msg);
	}
	snprintf(id, cap, "%s", rid + 11);
	if (resp != NULL) {
		uns__v1__post_response__free_unpacked(resp, NULL);
	}
	uns_client_close(c);
}

static void
test_full_disk(void **state)
{
	(void)state;
	char root[256], mnt[300], data[400], conf[400], apps[500], base[128],
	    filler[400], out[8192];
	ut_mkdtemp(root, sizeof(root));
	snprintf(mnt, sizeof(mnt), "%s/mnt", root);
	if (!mounted_tmpfs(mnt, "48m")) {
		fprintf(stderr,
		        "test_full_disk: skipped: needs root to mount "
		        "a small tmpfs (uid %d)\n",
		        (int)geteuid());
		ut_rmdir(root);
		skip();
	}
	snprintf(g_mnt, sizeof(g_mnt), "%s", mnt);
	snprintf(data, sizeof(data), "%s/data", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	mkdir(data, 0700);
	snprintf(apps, sizeof(apps), "%s/apps.conf", data);
	ut_write_file(apps, "svc " HOST " -\n");
	snprintf(conf, sizeof(conf), "%s/unsd.conf", root);
	ut_write_file(conf, "write_buffer = 4M\nblock_cache = 4M\n"
	                    "min_free = 8M\nrate_limit_user = 0\n"
	                    "rate_limit_app = 0\n");
	ut_proc *unsd = &g_unsd;
	int ports[2];
	signal(SIGPIPE, SIG_IGN);
	ut_unsd_http_start(unsd, conf, data, ports, base, sizeof(base));
	char *user = ut_mint(data, "user", USER, HOST);
	char *app = ut_mint(data, "app", "svc", NULL);
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	ut_http_open(&h, base, NULL);
	char *unsid = ut_gw_subscribe(&h, user, "phone");
	post_http(&h, app, unsid, 0, 201);

	/* Below min_free: 503 (not 429), and NOT_SERVING. */
	fill(filler, 4 << 20);
	post_http(&h, app, unsid, 1, 503);
	char rid[128];
	post_rpc_refused(ports[0], app, unsid, rid, sizeof(rid));
	assert_int_equal(
	    ut_http_do(&h, "GET", "/healthz", NULL, NULL, 0, NULL, r), 503);
	assert_non_null(strstr(r->body, "NOT_SERVING"));
	assert_non_null(strstr(r->body, "disk full"));
	assert_int_equal(
	    ut_http_do(&h, "GET", "/metrics", NULL, NULL, 0, NULL, r), 200);
	assert_non_null(strstr(r->body, "\nuns_store_writable 0"));

	/* Space back: writes and health come back by themselves. */
	assert_int_equal(unlink(filler), 0);
	post_http(&h, app, unsid, 2, 201);
	assert_int_equal(
	    ut_http_do(&h, "GET", "/healthz", NULL, NULL, 0, NULL, r), 200);
	assert_int_equal(
	    ut_http_do(&h, "GET", "/metrics", NULL, NULL, 0, NULL, r), 200);
	assert_non_null(strstr(r->body, "\nuns_store_writable 1"));
	free(unsid);
	free(user);
	free(app);
	ut_http_close(&h);
	int stopped = ut_unsd_stop(unsd, SIGTERM, out, sizeof(out));
	unsd->pid = 0;
	assert_int_equal(stopped, 0);
	/* The store's text is in unsd's log, with the request id. */
	char line[256];
	snprintf(line, sizeof(line), "unsd: request %s: ", rid);
	const char *logged = strstr(out, line);
	if (logged == NULL || strstr(logged, "disk full") == NULL) {
		fail_msg("no log line for request %s: %s", rid, out);
	}

	/* A start on a full disk: a clear error and exit 1, no SIGABRT. */
	fill(filler, 1 << 20);
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
	         "%s --config %s --data %s --listen tcp://127.0.0.1:0 "
	         "--gateway-listen '' 2>&1",
	         UNS_UNSD_PATH, conf, data);
	int rc = ut_run(cmd, out, sizeof(out));
	if (rc != 1 || strstr(out, "disk full") == NULL) {
		fail_msg("start on a full disk: status %d: %s", rc, out);
	}
	/* Even with nothing free at all. */
	unlink(filler);
	fill(filler, 0);
	rc = ut_run(cmd, out, sizeof(out));
	if (rc != 1) {
		fail_msg("start on a disk with nothing free: status %d: %s", rc,
		         out);
	}
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_damaged_wal_refused_then_salvaged),
	    cmocka_unit_test(test_subscriptions_capped),
	    cmocka_unit_test(test_fetch_mark_never_waits),
	    cmocka_unit_test_teardown(test_full_disk, teardown_mount),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
