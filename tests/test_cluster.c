/*
 * test_cluster.c — several unsd nodes on one PostgreSQL with NATS between
 * them, every part a real process started here (tests/support/utcluster.h).
 *
 * The harness itself: two nodes on one schema serve one user (a post
 * through A is read through B); a node killed with -9 and started again
 * comes back on its ports with the data; a graceful stop exits 0;
 * nats-server killed and restarted keeps its port.
 *
 * Skipped (exit 77) only when the PostgreSQL binaries or nats-server are
 * missing, saying which.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "testutil.h"
#include "utcluster.h"
#include "uthttp.h"
#include "utpg.h"

#define HOST "contoso.example.com"
#define APP  "contoso-svc"
#define APPS                                                                   \
	APP " " HOST ",graphnotifications.sample.windows.com,"                 \
	    "PleaseEnterValue -\n"

static ut_pg g_pg;
static ut_nats g_nats;
static char g_dir[256];

/* The number of notifications a delta from the start returns on node i. */
static size_t
count_on(const ut_cluster *c, int i, const char *user)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	ut_http_open(&h, c->node[i].http_base, NULL);
	assert_int_equal(ut_http_do(&h, "GET", "/beta/me/notifications/delta",
	                            user, NULL, 0, NULL, r),
	                 200);
	json_t *v = ut_http_json(r);
	size_t n = json_array_size(json_object_get(v, "value"));
	json_decref(v);
	free(r);
	ut_http_close(&h);
	return n;
}

static void
test_harness(void **state)
{
	ut_cluster c;
	char why[512];
	(void)state;
	assert_int_equal(ut_nats_start(&g_nats, g_dir, why, sizeof(why)), 0);
	ut_cluster_opts o = {
	    .nodes = 2, .gateway = true, .nats_url = g_nats.url, .apps = APPS};
	if (ut_cluster_open(&c, &g_pg, &o, why, sizeof(why)) != 0) {
		fail_msg("%s", why);
	}
	assert_int_not_equal(c.node[0].rpc_port, c.node[1].rpc_port);

	/* One token is good on both nodes; the data is shared. */
	char *user = ut_mint(ut_cluster_data(&c, 1), "user", "u-h", HOST);
	char *app = ut_mint(ut_cluster_data(&c, 0), "app", APP, NULL);
	ut_http a;
	ut_http_open(&a, c.node[0].http_base, NULL);
	char *unsid = ut_gw_subscribe(&a, user, "laptop");
	free(ut_gw_post(&a, app, unsid, HOST, "h-1", 201));
	assert_int_equal(count_on(&c, 1, user), 1);

	/* kill -9 and back, on the same ports, with the data. */
	int port = c.node[1].http_port;
	assert_int_equal(ut_cluster_stop(&c, 1, SIGKILL), -SIGKILL);
	assert_int_equal(ut_cluster_start(&c, 1, NULL), 0);
	assert_int_equal(c.node[1].http_port, port);
	free(ut_gw_post(&a, app, unsid, HOST, "h-2", 201));
	assert_int_equal(count_on(&c, 1, user), 2);
	assert_true(ut_cluster_log_has(&c, 1, "unsd: serving"));

	/* A graceful stop drains and exits 0. */
	ut_http_close(&a);
	assert_int_equal(ut_cluster_stop(&c, 0, SIGTERM), 0);

	/* NATS killed and restarted: the same port. */
	port = g_nats.port;
	ut_nats_kill(&g_nats);
	assert_int_equal(g_nats.pid, 0);
	assert_int_equal(ut_nats_restart(&g_nats), 0);
	assert_int_equal(g_nats.port, port);
	ut_nats_stop(&g_nats);

	free(unsid);
	free(app);
	free(user);
	ut_cluster_close(&c);
}

int
main(void)
{
	char why[512];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_harness),
	};
	signal(SIGPIPE, SIG_IGN);
	if (!ut_nats_found(&g_nats, why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	if (!ut_pg_start(&g_pg, why, sizeof(why))) {
		int missing = strstr(why, "not found") != NULL;
		printf("%s: %s\n", missing ? "SKIP" : "FAIL", why);
		ut_pg_stop(&g_pg);
		return missing ? 77 : 1;
	}
	curl_global_init(CURL_GLOBAL_ALL);
	ut_mkdtemp(g_dir, sizeof(g_dir));
	int rc = cmocka_run_group_tests_name("cluster", tests, NULL, NULL);
	ut_rmdir(g_dir);
	ut_pg_stop(&g_pg);
	curl_global_cleanup();
	return rc;
}
