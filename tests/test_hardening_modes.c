/*
 * test_hardening_modes.c — hardening, class "file modes" (issue 14 item
 * 12): under umask 000, what unsd and `unsctl app add` create is the
 * owner's alone (apps.conf, the token secret, TLS keys, every store file:
 * no group or other bit), and a data directory left open by an older
 * version (0755, files 0644) is tightened on start, each change said.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "files.h"
#include "testutil.h"

/* Counts entries under dir (dir included) with any group/other bit, and
 * all entries; names the first open one in first. */
static void
count_open(const char *dir, int *open_n, int *all, char *first, size_t cap)
{
	struct stat st;
	if (lstat(dir, &st) != 0 || S_ISLNK(st.st_mode)) {
		return;
	}
	(*all)++;
	if ((st.st_mode & 077) != 0 && (*open_n)++ == 0) {
		snprintf(first, cap, "%s %04o", dir,
		         (unsigned)(st.st_mode & 07777));
	}
	if (!S_ISDIR(st.st_mode)) {
		return;
	}
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char path[1024];
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			count_open(path, open_n, all, first, cap);
		}
	}
	closedir(d);
}

static void
assert_private(const char *dir, int min_entries)
{
	int open_n = 0, all = 0;
	char first[1200] = "";
	count_open(dir, &open_n, &all, first, sizeof(first));
	if (open_n != 0) {
		fail_msg("%d of %d entries open to others, first: %s", open_n,
		         all, first);
	}
	assert_true(all >= min_entries);
}

/* Starts unsd on data (TLS, so keys are made too), then stops it; its
 * stderr after the start goes to out. */
static void
unsd_once(const char *data, char *out, size_t cap)
{
	ut_proc p;
	const char *args[] = {"--data", data, NULL};
	assert_int_equal(ut_unsd_start(&p, "tls+tcp://127.0.0.1:0", args), 0);
	assert_int_equal(ut_unsd_stop(&p, SIGTERM, out, cap), 0);
}

static void
test_created_private_under_umask_000(void **state)
{
	(void)state;
	char dir[256], data[320], cmd[1024], out[8192];
	mode_t old = umask(0);
	ut_mkdtemp(dir, sizeof(dir));
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(cmd, sizeof(cmd),
	         "%s app add --data %s --id svc --hosts h.example >/dev/null",
	         UNS_UNSCTL_PATH, data);
	assert_int_equal(ut_run(cmd, NULL, 0), 0);
	/* A second app appends to the same file: still 0600. */
	snprintf(cmd, sizeof(cmd),
	         "%s app add --data %s --id svc2 --hosts h2.example "
	         ">/dev/null",
	         UNS_UNSCTL_PATH, data);
	assert_int_equal(ut_run(cmd, NULL, 0), 0);
	char apps[400];
	struct stat st;
	snprintf(apps, sizeof(apps), "%s/apps.conf", data);
	assert_int_equal(stat(apps, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	unsd_once(data, out, sizeof(out));
	/* data, apps.conf, the secret, tls/ and its keys, the store's
	 * directory and RocksDB's files. */
	assert_private(data, 12);
	umask(old);
	ut_rmdir(dir);
}

static void
note(void *arg, const char *path, unsigned old_mode, unsigned new_mode)
{
	(void)path;
	assert_int_equal(new_mode, old_mode & 0700);
	(*(int *)arg)++;
}

static void
test_open_data_dir_tightened(void **state)
{
	(void)state;
	char dir[256], data[320], cmd[1024], out[8192], why[512];
	int open_n = 0, all = 0, changed = 0;
	ut_mkdtemp(dir, sizeof(dir));
	snprintf(data, sizeof(data), "%s/data", dir);
	unsd_once(data, out, sizeof(out));
	/* As an older version under umask 022 left it, or cp -r. */
	snprintf(cmd, sizeof(cmd), "chmod -R go+rX %s", data);
	assert_int_equal(ut_run(cmd, NULL, 0), 0);
	count_open(data, &open_n, &all, out, sizeof(out));
	assert_true(open_n >= 12);
	/* A start that stops early (bad listen URL) shows what it changed. */
	snprintf(cmd, sizeof(cmd),
	         "%s --data %s --listen bogus://x --gateway-listen '' 2>&1",
	         UNS_UNSD_PATH, data);
	ut_run(cmd, out, sizeof(out));
	assert_non_null(strstr(out, "was mode 0755, open to other users: now "
	                            "0700"));
	assert_private(data, 12);
	/* And a full start leaves it so. */
	snprintf(cmd, sizeof(cmd), "chmod -R go+rX %s", data);
	assert_int_equal(ut_run(cmd, NULL, 0), 0);
	unsd_once(data, out, sizeof(out));
	assert_private(data, 12);
	/* The walk alone: every open entry once, then nothing. */
	assert_int_equal(ut_run(cmd, NULL, 0), 0);
	open_n = all = 0;
	count_open(data, &open_n, &all, out, sizeof(out));
	assert_int_equal(
	    uns_private_tree(data, note, &changed, why, sizeof(why)), UNS_OK);
	assert_int_equal(changed, open_n);
	changed = 0;
	assert_int_equal(
	    uns_private_tree(data, note, &changed, why, sizeof(why)), UNS_OK);
	assert_int_equal(changed, 0);
	ut_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_created_private_under_umask_000),
	    cmocka_unit_test(test_open_data_dir_tightened),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
