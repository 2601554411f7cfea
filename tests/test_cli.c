/*
 * test_cli.c — the README's first session, run as a newcomer would: in a
 * fresh directory, `unsctl app add`, unsd on ./uns-data, tokens from
 * `unsctl token`, two devices subscribed, a post fetched from both, a read
 * on one seen by the other, history paged, a notification expiring and an
 * app-side delete — all through the unsctl binary and its printed output.
 * Then the CLI's errors: a bad option value or enum is named and nothing is
 * sent; a server status comes back with its name.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "testutil.h"

#define HOST "contoso.example.com"

typedef struct session {
	char dir[256];
	ut_proc unsd;
	char alice[2048];
	char app[2048];
} session;

/* Runs `unsctl ARGS` in s->dir against its unsd; returns the exit status,
 * stdout+stderr in out. */
static int
unsctl(const session *s, char *out, size_t cap, const char *fmt, ...)
{
	char args[4096], cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd),
	         "cd %s && UNS_URL=tls+tcp://localhost:%d %s %s 2>&1", s->dir,
	         s->unsd.port, UNS_UNSCTL_PATH, args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t len = fread(out, 1, cap - 1, p);
	out[len] = '\0';
	int st = pclose(p);
	int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (rc < 0 || rc > 2) { /* a crash, not an answer: show it */
		fprintf(stderr, "unsctl %s exited %d:\n%s\n", args, rc, out);
	}
	return rc;
}

/* The first word of the line of out that contains needle. */
static void
word_of_line(const char *out, const char *needle, char *word, size_t cap)
{
	const char *hit = strstr(out, needle);
	assert_non_null(hit);
	while (hit > out && hit[-1] != '\n') {
		hit--;
	}
	size_t len = strcspn(hit, " \n");
	assert_true(len > 0 && len < cap);
	memcpy(word, hit, len);
	word[len] = '\0';
}

/* The value after "cursor " in a fetch output. */
static void
cursor_of(const char *out, char *cursor, size_t cap)
{
	const char *c = strstr(out, "cursor ");
	assert_non_null(c);
	c += strlen("cursor ");
	size_t len = strcspn(c, " \n");
	assert_true(len > 0 && len < cap);
	memcpy(cursor, c, len);
	cursor[len] = '\0';
}

static size_t
count(const char *out, const char *needle)
{
	size_t n = 0;
	for (const char *p = out; (p = strstr(p, needle)) != NULL; p++) {
		n++;
	}
	return n;
}

static int
setup(void **state)
{
	session *s = calloc(1, sizeof(*s));
	char cmd[1024], data[320], out[4096];
	ut_mkdtemp(s->dir, sizeof(s->dir));
	/* Registering before the first start creates ./uns-data. */
	snprintf(cmd, sizeof(cmd),
	         "cd %s && %s app add --id contoso-svc --hosts " HOST " 2>&1",
	         s->dir, UNS_UNSCTL_PATH);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	out[fread(out, 1, sizeof(out) - 1, p)] = '\0';
	assert_int_equal(pclose(p), 0);
	assert_non_null(strstr(out, "client secret"));

	snprintf(data, sizeof(data), "%s/uns-data", s->dir);
	const char *args[] = {"--data", data, NULL};
	assert_int_equal(ut_unsd_start(&s->unsd, "tls+tcp://127.0.0.1:0", args),
	                 0);
	assert_int_equal(unsctl(s, s->alice, sizeof(s->alice),
	                        "token user --sub alice --host " HOST),
	                 0);
	s->alice[strcspn(s->alice, "\n")] = '\0';
	assert_int_equal(
	    unsctl(s, s->app, sizeof(s->app), "token app --app contoso-svc"),
	    0);
	s->app[strcspn(s->app, "\n")] = '\0';
	*state = s;
	return 0;
}

static int
teardown(void **state)
{
	session *s = *state;
	assert_int_equal(ut_unsd_stop(&s->unsd, SIGTERM, NULL, 0), 0);
	ut_rmdir(s->dir);
	free(s);
	return 0;
}

/* Subscribes alice's polling device; its UNSID into unsid. */
static void
subscribe_polling(const session *s, const char *device, char *unsid, size_t cap)
{
	char out[8192], needle[64];
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "subscribe --token %s --device %s "
	                        "--platform polling",
	                        s->alice, device),
	                 0);
	snprintf(needle, sizeof(needle), "device=%s", device);
	word_of_line(out, needle, unsid, cap);
}

static void
test_two_devices_post_sync_history(void **state)
{
	session *s = *state;
	char out[16384], phone[64], laptop[64], again[64], id[64], cur[128];

	/* Two devices; subscribing again renews the same UNSID. */
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "subscribe --token %s --device phone "
	                        "--platform polling",
	                        s->alice),
	                 0);
	assert_non_null(strstr(out, " created device=phone platform=polling"));
	word_of_line(out, "device=phone", phone, sizeof(phone));
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "subscribe --token %s --device laptop "
	                        "--platform polling",
	                        s->alice),
	                 0);
	word_of_line(out, "device=laptop", laptop, sizeof(laptop));
	assert_string_not_equal(phone, laptop);
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "subscribe --token %s --device phone "
	                        "--platform polling",
	                        s->alice),
	                 0);
	assert_non_null(strstr(out, " renewed "));
	word_of_line(out, "device=phone", again, sizeof(again));
	assert_string_equal(phone, again);

	/* The laptop starts watching from now. */
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "fetch --token %s --cursor latest", s->alice),
	                 0);
	cursor_of(out, cur, sizeof(cur));

	/* The app posts through the phone's UNSID; again = replace. */
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "post --token %s --unsid %s --app-id order-42 "
	                        "--title 'Order shipped' --group orders",
	                        s->app, phone),
	                 0);
	assert_true(strncmp(out, "created ", 8) == 0);
	sscanf(out + 8, "%63s", id);
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "post --token %s --unsid %s --app-id order-42 "
	                        "--title 'Order shipped, arrives Friday'",
	                        s->app, phone),
	                 0);
	assert_true(strncmp(out, "replaced ", 9) == 0);
	assert_non_null(strstr(out, id));
	assert_non_null(strstr(out, " v2 unread noInteraction active"));

	/* Both devices see it: the phone from the beginning, the laptop since
	 * its cursor (a long poll that returns at once). */
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "fetch --token %s --unsid %s", s->alice, phone),
	                 0);
	assert_non_null(strstr(out, "title=\"Order shipped, arrives Friday\""));
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "fetch --token %s --cursor %s --wait 5",
	                        s->alice, cur),
	                 0);
	assert_non_null(strstr(out, id));
	cursor_of(out, cur, sizeof(cur));

	/* Read on the phone; the laptop's next fetch shows it. */
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "update %s --read --unsid %s --token %s", id,
	                        phone, s->alice),
	                 0);
	assert_non_null(strstr(out, " v3 read noInteraction"));
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "fetch --token %s --cursor %s", s->alice, cur),
	                 0);
	assert_non_null(strstr(out, " v3 read "));

	/* Compare-and-set on a stale version fails and names the field. */
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "update %s --action dismissed --if-version 2 "
	                        "--token %s",
	                        id, s->alice),
	                 1);
	assert_non_null(strstr(out, "FAILED_PRECONDITION: ifVersion"));

	/* History: three more, paged two at a time with --all. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
		    unsctl(s, out, sizeof(out),
		           "post --token %s --unsid %s --app-id n%d "
		           "--title t%d",
		           s->app, laptop, i, i),
		    0);
	}
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "history --token %s --page-size 2", s->alice),
	                 0);
	assert_int_equal(count(out, "app-id="), 2);
	assert_non_null(strstr(out, "next page "));
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "history --token %s --page-size 2 --all",
	                        s->alice),
	                 0);
	assert_int_equal(count(out, "app-id="), 4);
	assert_true(strstr(out, "app-id=n2") < strstr(out, "app-id=n0"));
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "history --token %s --read-state read",
	                        s->alice),
	                 0);
	assert_int_equal(count(out, "app-id="), 1);
	assert_non_null(strstr(out, id));

	/* --json prints the reply through the codec. */
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "fetch %s --json --token %s", id, s->alice),
	                 0);
	json_error_t jerr;
	json_t *doc = json_loads(out, 0, &jerr);
	assert_non_null(doc);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(doc, "notification"), "readState")),
	    "READ_STATE_READ");
	json_decref(doc);

	/* The app deletes; the feed shows a tombstone, history hides it. */
	assert_int_equal(
	    unsctl(s, out, sizeof(out), "delete %s --token %s", id, s->app), 0);
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "fetch --token %s --cursor %s", s->alice, cur),
	                 0);
	assert_non_null(strstr(out, "removed (deleted)"));
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "history --token %s --status deleted",
	                        s->alice),
	                 0);
	assert_non_null(strstr(out, id));
}

static void
test_expiry_seen_from_the_cli(void **state)
{
	session *s = *state;
	char out[8192], unsid[64], id[64];
	subscribe_polling(s, "tablet", unsid, sizeof(unsid));
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "post --token %s --unsid %s --app-id flash "
	                        "--title 'Gone soon' --expires-in 5s",
	                        s->app, unsid),
	                 0);
	sscanf(out + strlen("created "), "%63s", id);
	/* Live right after the post (5 s leave room for a slow start of
	 * unsctl under the sanitizers), then gone once it expired: polled,
	 * since how long after the post that is depends on the machine. */
	assert_int_equal(
	    unsctl(s, out, sizeof(out), "fetch %s --token %s", id, s->alice),
	    0);
	int rc = 0;
	for (int i = 0; i < 80 && rc == 0; i++) {
		usleep(250 * 1000);
		rc = unsctl(s, out, sizeof(out), "fetch %s --token %s", id,
		            s->alice);
	}
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "NOT_FOUND"));
	assert_int_equal(
	    unsctl(s, out, sizeof(out), "fetch --token %s", s->alice), 0);
	assert_non_null(strstr(out, "removed (expired)"));
	assert_int_equal(
	    unsctl(s, out, sizeof(out), "history --token %s --all", s->alice),
	    0);
	assert_null(strstr(out, id));
}

static void
test_bad_input_is_named_and_nothing_is_sent(void **state)
{
	session *s = *state;
	char out[8192], unsid[64];
	subscribe_polling(s, "watch", unsid, sizeof(unsid));

	static const struct {
		const char *args;
		const char *says;
	} cases[] = {
	    {"--expires-in 3q", "--expires-in: expected a duration"},
	    {"--priority urgent", "notification.priority: unknown enum value"},
	    {"--display-ttl -5", "--display-ttl: expected a non-negative"},
	    {"--platforms windows,toaster",
	     "notification.targetPolicy.platformTypes[1]"},
	    {"--colour red", "unknown option --colour"},
	    {"extra", "unexpected argument extra"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		    unsctl(s, out, sizeof(out),
		           "post --token %s --unsid %s --app-id bad "
		           "--title x %s",
		           s->app, unsid, cases[i].args),
		    2);
		if (strstr(out, cases[i].says) == NULL) {
			fail_msg("%s: got %s", cases[i].args, out);
		}
	}
	/* None of them reached the server. */
	assert_int_equal(
	    unsctl(s, out, sizeof(out), "fetch --token %s", s->alice), 0);
	assert_null(strstr(out, "app-id=bad"));

	assert_int_equal(
	    unsctl(s, out, sizeof(out), "update --token %s --read", s->alice),
	    2);
	assert_non_null(strstr(out, "missing id"));
	/* A server-side rule: the status name and the field come back. */
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "post --token %s --unsid %s --app-id big "
	                        "--title %0300d",
	                        s->app, unsid, 0),
	                 1);
	assert_non_null(strstr(out, "INVALID_ARGUMENT"));
	assert_non_null(strstr(out, "title"));
	/* A user cannot delete as an app. */
	assert_int_equal(
	    unsctl(s, out, sizeof(out), "delete x --token %s", s->alice), 1);
	assert_non_null(strstr(out, "PERMISSION_DENIED"));
}

/* Post's fallback flags reach the request (the server's range check names
 * the field), compound durations parse (and the server's 30-day limit is
 * what refuses 720h1s), and `token --expires-in -2m` mints a token the
 * server refuses as expired. */
static void
test_post_fallback_durations_expired_token(void **state)
{
	session *s = *state;
	char out[8192], unsid[64], old[2048];
	subscribe_polling(s, "tablet", unsid, sizeof(unsid));
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "post --token %s --unsid %s --app-id fb "
	                        "--priority high --raw r --fallback-delay "
	                        "1m30s --fallback-title T --fallback-body B "
	                        "--fallback-platforms iOS --json",
	                        s->app, unsid),
	                 0);
	if (strstr(out, "\"fallbackDelayInSeconds\": 90") == NULL ||
	    strstr(out, "\"PLATFORM_IOS\"") == NULL ||
	    strstr(out, "\"body\": \"B\"") == NULL) {
		fail_msg("%s", out);
	}
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "post --token %s --unsid %s --app-id fb2 "
	                        "--priority high --raw r --fallback-delay 30s "
	                        "--fallback-title T --fallback-platforms iOS",
	                        s->app, unsid),
	                 1);
	assert_non_null(strstr(out, "fallbackDelayInSeconds: must be from 60"));

	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "post --token %s --unsid %s --app-id d1 "
	                        "--title t --expires-in 1h30m --json",
	                        s->app, unsid),
	                 0);
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "post --token %s --unsid %s --app-id d2 "
	                        "--title t --expires-in 720h1s",
	                        s->app, unsid),
	                 1);
	assert_non_null(strstr(out, "more than 30 days ahead"));

	assert_int_equal(unsctl(s, old, sizeof(old),
	                        "token user --sub alice --host " HOST
	                        " --expires-in -2m"),
	                 0);
	old[strcspn(old, "\n")] = '\0';
	assert_int_equal(unsctl(s, out, sizeof(out), "fetch --token %s", old),
	                 1);
	assert_non_null(strstr(out, "UNAUTHENTICATED: token expired"));
	assert_int_equal(
	    unsctl(s, out, sizeof(out), "token user --sub a --expires-in 0"),
	    2);
}

/* An app registered while unsd runs is refused until SIGHUP makes unsd
 * read apps.conf again, and accepted after; removed, it is refused again
 * after the next SIGHUP. */
static void
test_app_added_while_running_loads_on_sighup(void **state)
{
	session *s = *state;
	char out[8192], user[2048], app[2048], unsid[64];
	int rc = -1;
	assert_int_equal(
	    unsctl(s, out, sizeof(out),
	           "app add --id late-svc --hosts late.example.com"),
	    0);
	assert_int_equal(unsctl(s, user, sizeof(user),
	                        "token user --sub bob --host late.example.com"),
	                 0);
	user[strcspn(user, "\n")] = '\0';
	assert_int_equal(
	    unsctl(s, app, sizeof(app), "token app --app late-svc"), 0);
	app[strcspn(app, "\n")] = '\0';
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "subscribe --token %s --device d1 "
	                        "--platform polling",
	                        user),
	                 0);
	word_of_line(out, "device=d1", unsid, sizeof(unsid));
	assert_int_equal(unsctl(s, out, sizeof(out),
	                        "post --token %s --unsid %s --app-id a1 "
	                        "--title hi",
	                        app, unsid),
	                 1);
	assert_non_null(strstr(out, "PERMISSION_DENIED: app late-svc is not "
	                            "registered"));
	assert_int_equal(kill(s->unsd.pid, SIGHUP), 0);
	for (int i = 0; i < 50 && rc != 0; i++) { /* the signal is async */
		rc = unsctl(s, out, sizeof(out),
		            "post --token %s --unsid %s --app-id a1 --title hi",
		            app, unsid);
		if (rc != 0) {
			usleep(100 * 1000);
		}
	}
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "created "));

	/* Removed from apps.conf, the app is forgotten on the next SIGHUP. */
	assert_int_equal(unsctl(s, out, sizeof(out), "app remove late-svc"), 0);
	assert_int_equal(kill(s->unsd.pid, SIGHUP), 0);
	for (int i = 0; i < 50 && rc == 0; i++) {
		rc = unsctl(s, out, sizeof(out),
		            "post --token %s --unsid %s --app-id a2 --title hi",
		            app, unsid);
		if (rc == 0) {
			usleep(100 * 1000);
		}
	}
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "PERMISSION_DENIED: app late-svc is not "
	                            "registered"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_two_devices_post_sync_history,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry_seen_from_the_cli,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_bad_input_is_named_and_nothing_is_sent, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_app_added_while_running_loads_on_sighup, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_post_fallback_durations_expired_token, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
