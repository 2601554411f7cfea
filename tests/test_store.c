/*
 * test_store.c — tests of the RocksDB store: the shared conformance suite
 * (store_conformance.h) plus what only this backend has: the codec, crash
 * recovery after kill -9, and group commit.
 *
 * The crash test re-executes this binary (/proc/self/exe --crash-child) as
 * the victim instead of forking: RocksDB keeps process-wide background
 * threads, and a forked child of a process that already used RocksDB would
 * inherit its mutexes but not its threads. The victim posts from 8 threads
 * and writes each acknowledged id to a pipe; the parent kills it with
 * SIGKILL after a random number of acknowledgements, then reopens the store
 * and checks that every acknowledged post is there and complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"

static void conf_backend_config(uns_store_config *cfg);
static void conf_backend_destroy(const uns_store_config *cfg);

#include "store_conformance.h"
#include "rocksdb_codec.h"
#include "store_rocksdb.h"

/* --- backend glue ------------------------------------------------------ */

static char *
temp_dir(void)
{
	const char *base = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	char *dir = NULL;

	assert_true(asprintf(&dir, "%s/uns-store-XXXXXX", base) > 0);
	assert_non_null(mkdtemp(dir));
	return dir;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_rf(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
conf_backend_config(uns_store_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	static const uns_store_rocksdb_config knobs = {.block_cache_bytes =
	                                                   8u << 20};

	cfg->dir = temp_dir(); /* freed in conf_backend_destroy */
	cfg->rocksdb = &knobs;
}

static void
conf_backend_destroy(const uns_store_config *cfg)
{
	rm_rf(cfg->dir);
	free((char *)cfg->dir);
}

/* --- codec ------------------------------------------------------------- */

static void
test_codec_base64url(void **state)
{
	unsigned char raw[16], back[16];
	char text[32];

	(void)state;
	for (int n = 0; n < 200; n++) {
		for (size_t i = 0; i < sizeof(raw); i++) {
			raw[i] = (unsigned char)(n * 31 + i * 7);
		}
		uns_store_b64url_encode(raw, sizeof(raw), text);
		assert_int_equal(strlen(text), 22);
		assert_true(uns_store_b64url_decode(text, back, sizeof(back)));
		assert_memory_equal(raw, back, sizeof(raw));
	}
	assert_false(
	    uns_store_b64url_decode("AAAAAAAAAAAAAAAAAAAAA=", back, 16));
	assert_false(
	    uns_store_b64url_decode("AAAAAAAAAAAAAAAAAAAAAB", back, 16));
	assert_false(uns_store_b64url_decode("short", back, 16));
}

static void
test_codec_keys(void **state)
{
	uns_store_key a, b, succ;
	uint64_t seq = 0;
	char cur[16];

	(void)state;
	/* Same hash input split differently must give different keys. */
	assert_int_equal(uns_store_key_uh(&a, "ab", "c"), UNS_OK);
	assert_int_equal(uns_store_key_uh(&b, "a", "bc"), UNS_OK);
	assert_true(a.len == b.len);
	assert_true(memcmp(a.b, b.b, a.len) != 0);
	uns_store_key_successor(&a, &succ);
	assert_true(memcmp(succ.b, a.b, a.len) > 0);
	assert_int_equal(uns_store_key_uh(&a, "", "c"), UNS_EINVAL);
	uns_store_cursor_encode(123456789, cur);
	assert_int_equal(uns_store_cursor_decode(cur, &seq), UNS_OK);
	assert_true(seq == 123456789);
	assert_int_equal(uns_store_cursor_decode("latest", &seq), UNS_EINVAL);
	assert_int_equal(uns_store_cursor_decode("", &seq), UNS_OK);
	assert_true(seq == 0);
}

/* The meta record with the newest creation time, and the 12-byte records
 * written before it was kept (newest unknown), and nothing else. */
static void
test_codec_meta(void **state)
{
	(void)state;
	unsigned char v[UNS_STORE_METAVAL_LEN];
	uns_store_meta in = {.head = 0x0102030405060708ULL,
	                     .live = 70000,
	                     .newest = 1700000000123LL},
	               out;

	uns_store_metaval_encode(&in, v);
	assert_int_equal(uns_store_metaval_decode(v, sizeof(v), &out), UNS_OK);
	assert_true(out.head == in.head && out.live == in.live &&
	            out.newest == in.newest);
	assert_int_equal(
	    uns_store_metaval_decode(v, UNS_STORE_METAVAL_LEN_OLD, &out),
	    UNS_OK);
	assert_true(out.head == in.head && out.live == in.live &&
	            out.newest == -1);
	assert_int_equal(uns_store_metaval_decode(v, 13, &out), UNS_DATA_LOSS);
	assert_int_equal(uns_store_metaval_decode(v, 0, &out), UNS_DATA_LOSS);
}

static void
test_open_errors(void **state)
{
	char *dir = temp_dir(), *file = NULL;
	uns_store_config cfg = {0};
	uns_store *st = NULL;
	int fd;

	(void)state;
	assert_true(asprintf(&file, "%s/plain-file", dir) > 0);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	cfg.dir = file;
	uns_err rc = uns_store_open(&st, &cfg);
	assert_int_not_equal(rc, UNS_OK);
	assert_null(st);
	assert_true(strlen(uns_store_errmsg()) > 0);
	free(file);

	/* A store already open (here: by this process) is UNAVAILABLE. */
	uns_store *st2 = NULL;
	cfg.dir = dir;
	assert_int_equal(uns_store_open(&st, &cfg), UNS_OK);
	assert_int_equal(uns_store_open(&st2, &cfg), UNS_UNAVAILABLE);
	assert_null(st2);
	uns_store_close(st);
	rm_rf(dir);
	free(dir);
}

/* --- group commit ----------------------------------------------------------
 */

#define GC_THREADS 32
#define GC_POSTS   20

struct gc_worker {
	uns_store *st;
	int index;
};

static void *
gc_worker_main(void *arg)
{
	struct gc_worker *w = arg;
	Uns__V1__VisualContent vc = UNS__V1__VISUAL_CONTENT__INIT;
	Uns__V1__Payload pl = UNS__V1__PAYLOAD__INIT;
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT;
	char user[32], app[32];

	vc.title = "group commit";
	pl.visual_content = &vc;
	n.payload = &pl;
	n.app_notification_id = app;
	snprintf(user, sizeof(user), "user-%d", w->index);
	for (int i = 0; i < GC_POSTS; i++) {
		Uns__V1__Notification *out;
		bool created;
		snprintf(app, sizeof(app), "a%d", i);
		if (uns_store_post(w->st, user, CONF_HOST, &n, &out,
		                   &created) != UNS_OK) {
			return (void *)1;
		}
		uns__v1__notification__free_unpacked(out, NULL);
	}
	return NULL;
}

static void
test_group_commit_batches(void **state)
{
	uns_store_config cfg;
	uns_store *st;
	uns_store_stats before, after;
	pthread_t t[GC_THREADS];
	struct gc_worker w[GC_THREADS];
	void *ret;

	(void)state;
	conf_backend_config(&cfg);
	assert_int_equal(uns_store_open(&st, &cfg), UNS_OK);
	assert_int_equal(uns_store_stats_get(st, &before), UNS_OK);
	for (int i = 0; i < GC_THREADS; i++) {
		w[i] = (struct gc_worker){.st = st, .index = i};
		assert_int_equal(
		    pthread_create(&t[i], NULL, gc_worker_main, &w[i]), 0);
	}
	for (int i = 0; i < GC_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(uns_store_stats_get(st, &after), UNS_OK);
	uint64_t writes = after.commit_writes - before.commit_writes;
	uint64_t batches = after.commit_batches - before.commit_batches;
	double avg = (double)writes / (double)batches;
	print_message("group commit: %llu writes in %llu synced batches, "
	              "%.1f per batch\n",
	              (unsigned long long)writes, (unsigned long long)batches,
	              avg);
	assert_int_equal(writes, GC_THREADS * GC_POSTS);
	assert_true(avg > 1.0);
	uns_store_close(st);
	conf_backend_destroy(&cfg);
}

/* --- crash recovery ---------------------------------------------------------
 */

#define CRASH_THREADS 8
#define CRASH_ROUNDS  6

/* One acknowledged post, as written to the pipe (atomic: < PIPE_BUF). */
struct ack {
	char id[24];
	int32_t thread;
	int32_t round;
};

struct victim {
	uns_store *st;
	int fd, thread, round;
};

static void *
victim_main(void *arg)
{
	struct victim *v = arg;
	Uns__V1__VisualContent vc = UNS__V1__VISUAL_CONTENT__INIT;
	Uns__V1__Payload pl = UNS__V1__PAYLOAD__INIT;
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT;
	char user[32], app[48];

	vc.title = "crash";
	vc.body = "a body long enough to make the write batch non-trivial, "
	          "about one hundred bytes of it in all.";
	pl.visual_content = &vc;
	n.payload = &pl;
	n.app_notification_id = app;
	snprintf(user, sizeof(user), "crash-%d", v->thread);
	for (int i = 0;; i++) {
		Uns__V1__Notification *out;
		struct ack a = {.thread = v->thread, .round = v->round};
		bool created;
		snprintf(app, sizeof(app), "r%d-%d", v->round, i);
		if (uns_store_post(v->st, user, CONF_HOST, &n, &out,
		                   &created) != UNS_OK) {
			_exit(3);
		}
		snprintf(a.id, sizeof(a.id), "%s", out->id);
		uns__v1__notification__free_unpacked(out, NULL);
		if (write(v->fd, &a, sizeof(a)) != (ssize_t)sizeof(a)) {
			_exit(4);
		}
	}
	return NULL;
}

/* The victim process: posts until killed. */
static int
crash_child(const char *dir, int fd, int round)
{
	uns_store_config cfg = {.dir = dir, .reclaim_interval_ms = -1};
	struct victim v[CRASH_THREADS];
	pthread_t t[CRASH_THREADS];
	uns_store *st;

	if (uns_store_open(&st, &cfg) != UNS_OK) {
		return 2;
	}
	for (int i = 0; i < CRASH_THREADS; i++) {
		v[i] = (struct victim){
		    .st = st, .fd = fd, .thread = i, .round = round};
		pthread_create(&t[i], NULL, victim_main, &v[i]);
	}
	for (;;) {
		pause();
	}
}

static bool
read_ack(int fd, struct ack *a)
{
	size_t got = 0;

	while (got < sizeof(*a)) {
		ssize_t n = read(fd, (char *)a + got, sizeof(*a) - got);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return false;
		}
		got += (size_t)n;
	}
	return true;
}

/* Runs one victim, kills it after `target` acks; appends acks to *acks. */
static void
crash_round(const char *dir, int round, int target, struct ack **acks,
            size_t *nacks)
{
	int p[2], status;
	char fdarg[16], roundarg[16];
	pid_t pid;
	struct ack a;

	assert_int_equal(pipe(p), 0);
	snprintf(fdarg, sizeof(fdarg), "%d", p[1]);
	snprintf(roundarg, sizeof(roundarg), "%d", round);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		execl("/proc/self/exe", "test_store", "--crash-child", dir,
		      fdarg, roundarg, (char *)NULL);
		_exit(5);
	}
	close(p[1]);
	for (int n = 0; read_ack(p[0], &a); n++) {
		*acks = realloc(*acks, (*nacks + 1) * sizeof(**acks));
		(*acks)[(*nacks)++] = a;
		if (n + 1 == target) {
			usleep((useconds_t)(rand() % 3000));
			kill(pid, SIGKILL);
		}
	}
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* Every present notification of user is complete: its history record
 * parses and its feed entry names it. Returns how many there are. */
static size_t
crash_check_user(uns_store *st, const char *user)
{
	uns_store_history_query q = {.page_size = 100};
	uns_store_history_page h;
	uns_store_feed_page f;
	char *token = NULL, *head;
	size_t n = 0;

	assert_int_equal(
	    uns_store_feed_read(st, user, CONF_HOST, NULL, 1000, &f), UNS_OK);
	assert_false(f.more);
	assert_int_equal(uns_store_feed_head(st, user, CONF_HOST, &head),
	                 UNS_OK);
	assert_string_equal(f.next_cursor, head); /* head = last entry */
	free(head);
	do {
		q.page_token = token;
		assert_int_equal(uns_store_history(st, user, CONF_HOST, &q, &h),
		                 UNS_OK);
		for (size_t i = 0; i < h.n; i++) {
			assert_string_equal(
			    h.items[i]->payload->visual_content->title,
			    "crash");
			assert_non_null(conf_feed_find(&f, h.items[i]->id));
		}
		n += h.n;
		free(token);
		token = h.next_page_token ? strdup(h.next_page_token) : NULL;
		uns_store_history_page_free(&h);
	} while (token != NULL);
	assert_int_equal(n, f.n); /* no feed entry without a notification */
	uns_store_feed_page_free(&f);
	return n;
}

static void
crash_verify(const char *dir, const struct ack *acks, size_t nacks, int rounds)
{
	uns_store_config cfg = {.dir = dir, .reclaim_interval_ms = -1};
	uns_store *st;
	char user[32];
	size_t present = 0;

	assert_int_equal(uns_store_open(&st, &cfg), UNS_OK);
	for (size_t i = 0; i < nacks; i++) {
		Uns__V1__Notification *n;
		snprintf(user, sizeof(user), "crash-%d", acks[i].thread);
		assert_int_equal(
		    uns_store_get(st, user, CONF_HOST, acks[i].id, &n), UNS_OK);
		uns__v1__notification__free_unpacked(n, NULL);
	}
	for (int t = 0; t < CRASH_THREADS; t++) {
		snprintf(user, sizeof(user), "crash-%d", t);
		present += crash_check_user(st, user);
	}
	/* Acked ⊆ present; a post in flight at a kill may be present too. */
	assert_true(present >= nacks);
	assert_true(present <= nacks + (size_t)(CRASH_THREADS * rounds));
	uns_store_close(st);
}

static void
test_crash_recovery(void **state)
{
	char *dir = temp_dir();
	struct ack *acks = NULL;
	size_t nacks = 0;

	(void)state;
	srand((unsigned)getpid());
	for (int round = 0; round < CRASH_ROUNDS; round++) {
		size_t before = nacks;
		crash_round(dir, round, 1 + rand() % 400, &acks, &nacks);
		print_message("crash round %d: %zu acknowledged posts before "
		              "SIGKILL\n",
		              round, nacks - before);
		crash_verify(dir, acks, nacks, round + 1);
	}
	free(acks);
	rm_rf(dir);
	free(dir);
}

/* The conformance tests that end writes on the committer, again with the
 * committer's answers on a thread of their own (commit_answer_thread). */
static int
conf_setup_answering(void **state)
{
	int rc = conf_setup(state);
	struct conf *c = *state;

	c->cfg.commit_answer_thread = 1;
	conf_reopen(c);
	return rc;
}

#define CONF_ANSWERING(f)                                                      \
	cmocka_unit_test_setup_teardown(f, conf_setup_answering, conf_teardown)

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_codec_base64url),
	    cmocka_unit_test(test_codec_keys),
	    cmocka_unit_test(test_codec_meta),
	    cmocka_unit_test(test_open_errors),
	    UNS_STORE_CONFORMANCE_TESTS,
	    CONF_ANSWERING(conf_post_async_order),
	    CONF_ANSWERING(conf_delete_async),
	    CONF_ANSWERING(conf_no_lost_updates),
	    CONF_ANSWERING(conf_live_limit),
	    CONF_ANSWERING(conf_feed_hook),
	    cmocka_unit_test(test_group_commit_batches),
	    cmocka_unit_test(test_crash_recovery),
	};

	if (argc == 5 && strcmp(argv[1], "--crash-child") == 0) {
		return crash_child(argv[2], atoi(argv[3]), atoi(argv[4]));
	}
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
