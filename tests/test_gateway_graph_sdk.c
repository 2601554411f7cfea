/*
 * test_gateway_graph_sdk.c — a real third-party client: the Microsoft
 * Graph JavaScript SDK (@microsoft/microsoft-graph-client from npm, run by
 * Node with baseUrl at the gateway and localhost in customHosts) against a
 * real unsd with its embedded HTTPS gateway. The script,
 * tests/node/graph_sdk_client.js, gets an app token from the token
 * endpoint, subscribes a user's device, creates a notification as the app,
 * lists, reads, patches and fetches the delta as the user, and checks the
 * SDK's GraphErrors for 404 and 401.
 *
 * Node and tests/node/node_modules are required: without them this test
 * fails (it does not skip), naming the command that installs them.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "uthttp.h"

#define APP        "sdk-svc"
#define SECRET     "sdk-secret-0123456789"
#define HOST       "sdk.example.com"
#define NODE_DIR   UNS_SOURCE_DIR "/tests/node"
#define SDK_MODULE NODE_DIR "/node_modules/@microsoft/microsoft-graph-client"

static int
run(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void
test_graph_sdk_against_gateway(void **state)
{
	(void)state;
	char dir[256], data[320], ca[400], conf[400], cmd[2048], tok[4096];
	char base[128], out[16384];
	ut_proc unsd;
	struct stat st;
	if (stat(SDK_MODULE, &st) != 0) {
		fail_msg("%s is missing: run `npm ci` in tests/node (tools/"
		         "setup.sh test does)",
		         SDK_MODULE);
	}
	if (run("node --version >/dev/null 2>&1") != 0) {
		fail_msg("node is not installed (tools/setup.sh test installs "
		         "it)");
	}
	signal(SIGPIPE, SIG_IGN);
	ut_mkdtemp(dir, sizeof(dir));
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(ca, sizeof(ca), "%s/tls/ca.pem", data);
	mkdir(data, 0700);
	snprintf(cmd, sizeof(cmd),
	         "%s app add --data %s --id " APP " --hosts " HOST
	         " --secret " SECRET " >/dev/null",
	         UNS_UNSCTL_PATH, data);
	assert_int_equal(run(cmd), 0);
	snprintf(conf, sizeof(conf), "%s/unsd.conf", dir);
	ut_write_file(conf, "rate_limit_user = 0\n");
	int ports[2] = {0, 0};
	assert_int_equal(
	    ut_unsd_gateway_start(&unsd, conf, data, ports, base, sizeof(base)),
	    0);

	char *user = ut_mint(data, "user", "sdk-user", HOST);
	snprintf(tok, sizeof(tok), "%s", user);
	free(user);

	setenv("UNS_GW_URL", base, 1);
	setenv("UNS_USER_TOKEN", tok, 1);
	setenv("UNS_APP_ID", APP, 1);
	setenv("UNS_APP_SECRET", SECRET, 1);
	setenv("UNS_HOST", HOST, 1);
	setenv("NODE_EXTRA_CA_CERTS", ca, 1);
	snprintf(cmd, sizeof(cmd),
	         "cd " NODE_DIR " && node graph_sdk_client.js 2>&1");
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	int rc = pclose(p);
	fprintf(stderr, "%s", out);

	char log[8192];
	int unsd_rc = ut_unsd_stop(&unsd, SIGTERM, log, sizeof(log));
	ut_rmdir(dir);
	if (rc != 0 || strstr(out, "all ok") == NULL) {
		fail_msg(
		    "the Graph SDK script failed (exit %d); unsd said:\n%s", rc,
		    log);
	}
	assert_int_equal(unsd_rc, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_graph_sdk_against_gateway),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
