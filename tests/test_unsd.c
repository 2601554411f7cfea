/*
 * test_unsd.c — unsd and unsctl as processes: first run on the embedded
 * defaults (dev certificates made, TLS health answered, the URL to dial
 * printed, the failed TLS check named), the CLI's error reporting, --set, and
 * SIGTERM under load: every reply the server sent arrives, the process exits 0,
 * and calls after the drain fail instead of hanging.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "testutil.h"
#include "utpg.h"
#include "uns_stubs.h"

static void
test_first_run_makes_certs_and_serves_tls(void **state)
{
	(void)state;
	char dir[256], data[300], ca[400], cmd[1024], out[4096];
	ut_mkdtemp(dir, sizeof(dir));
	snprintf(data, sizeof(data), "%s/data", dir);
	const char *args[] = {"--data", data, NULL};
	ut_proc p;
	assert_int_equal(ut_unsd_start(&p, "tls+tcp://127.0.0.1:0", args), 0);
	snprintf(ca, sizeof(ca), "%s/tls/ca.pem", data);
	struct stat st, st_ca;
	assert_int_equal(stat(ca, &st_ca), 0);
	snprintf(cmd, sizeof(cmd), "%s/tls/server.pem", data);
	assert_int_equal(stat(cmd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	snprintf(cmd, sizeof(cmd),
	         "%s health --url tls+tcp://localhost:%d --ca %s 2>&1",
	         UNS_UNSCTL_PATH, p.port, ca);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "SERVING version=" UNS_VERSION));
	/* The store names its own backend (test_unsd_pg: PostgreSQL). */
	assert_non_null(strstr(out, ut_pg_shared_url() != NULL
	                                ? " store=postgres"
	                                : " store=rocksdb"));

	/* The generic call reaches any method, JSON in and out. */
	snprintf(cmd, sizeof(cmd),
	         "%s call Echo --json '{\"data\":\"aGk=\"}' "
	         "--url tls+tcp://localhost:%d --ca %s 2>&1",
	         UNS_UNSCTL_PATH, p.port, ca);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "\"data\": \"aGk=\""));

	/* A JSON value of the wrong type is named before anything is sent. */
	snprintf(cmd, sizeof(cmd),
	         "%s call Health --json '{\"service\":5}' "
	         "--url tls+tcp://localhost:%d --ca %s 2>&1",
	         UNS_UNSCTL_PATH, p.port, ca);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "service"));

	/* A server status comes back with its name and message. */
	snprintf(cmd, sizeof(cmd),
	         "%s call Post --url tls+tcp://localhost:%d --ca %s 2>&1",
	         UNS_UNSCTL_PATH, p.port, ca);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "UNAUTHENTICATED: no bearer token"));

	/* Dialling by IP fails the name check: the cert is for localhost. */
	snprintf(cmd, sizeof(cmd),
	         "%s health --url tls+tcp://127.0.0.1:%d --ca %s 2>&1",
	         UNS_UNSCTL_PATH, p.port, ca);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "tls handshake"));
	/* ... and unsctl says which check failed, and what to dial. */
	char want[256];
	snprintf(want, sizeof(want),
	         "the check that failed: the server's certificate names "
	         "localhost, not 127.0.0.1: dial tls+tcp://localhost:%d",
	         p.port);
	if (strstr(out, want) == NULL) {
		fail_msg("%s", out);
	}
	/* A CA that did not sign the server's certificate. */
	snprintf(cmd, sizeof(cmd),
	         "%s cert ca --dir %s/other >/dev/null && %s health --url "
	         "tls+tcp://localhost:%d --ca %s/other/ca.pem 2>&1",
	         UNS_UNSCTL_PATH, dir, UNS_UNSCTL_PATH, p.port, dir);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 1);
	if (strstr(out, "the check that failed: the server's certificate is "
	                "not signed by a CA in") == NULL) {
		fail_msg("%s", out);
	}

	char log[4096];
	assert_int_equal(ut_unsd_stop(&p, SIGTERM, log, sizeof(log)), 0);
	assert_non_null(strstr(log, "draining"));
	/* unsd printed what a client should dial: the certificate's name. */
	snprintf(want, sizeof(want), "unsd: dial tls+tcp://localhost:%d with",
	         p.port);
	if (strstr(log, want) == NULL) {
		fail_msg("%s", log);
	}

	/* Second run: the certificates are reused, not remade. It wants
	 * client certificates, which unsctl names as the failed check. */
	struct stat st2;
	const char *args2[] = {"--data", data, "--require-client-cert", NULL};
	assert_int_equal(ut_unsd_start(&p, "tls+tcp://127.0.0.1:0", args2), 0);
	snprintf(cmd, sizeof(cmd),
	         "%s health --url tls+tcp://localhost:%d --ca %s 2>&1",
	         UNS_UNSCTL_PATH, p.port, ca);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 1);
	if (strstr(out, "it wants a client certificate") == NULL) {
		fail_msg("%s", out);
	}
	assert_int_equal(stat(ca, &st2), 0);
	assert_int_equal(st2.st_ino, st_ca.st_ino);
	assert_int_equal(st2.st_mtim.tv_nsec, st_ca.st_mtim.tv_nsec);
	assert_int_equal(ut_unsd_stop(&p, SIGINT, NULL, 0), 0);
	ut_rmdir(dir);
}

/* unsd --migrate-only creates the store (or brings its schema up to
 * date) and exits 0, at first and again; on PostgreSQL (the _pg run) in
 * the shared cluster's schema for this data folder (utpg.h). */
static void
test_migrate_only(void **state)
{
	(void)state;
	char dir[256], data[300], cmd[2048], out[4096];
	const char *argv[16] = {UNS_UNSD_PATH, "--data", data};
	int n = ut_pg_unsd_args(argv, 3, 15);
	ut_mkdtemp(dir, sizeof(dir));
	snprintf(data, sizeof(data), "%s/data", dir);
	for (int round = 0; round < 2; round++) {
		size_t len = 0;
		for (int i = 0; i < n; i++) { /* args hold no single quote */
			len += (size_t)snprintf(cmd + len, sizeof(cmd) - len,
			                        "'%s' ", argv[i]);
		}
		snprintf(cmd + len, sizeof(cmd) - len, "--migrate-only 2>&1");
		assert_int_equal(ut_run(cmd, out, sizeof(out)), 0);
		assert_non_null(strstr(out, "store is at the current schema"));
	}
	ut_rmdir(dir);
}

static void
test_cli_usage_errors(void **state)
{
	(void)state;
	char cmd[512], out[4096];
	snprintf(cmd, sizeof(cmd), "%s nope 2>&1", UNS_UNSCTL_PATH);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "unknown command nope"));
	snprintf(cmd, sizeof(cmd), "%s call NoSuchMethod 2>&1",
	         UNS_UNSCTL_PATH);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "no method NoSuchMethod"));
	snprintf(cmd, sizeof(cmd), "%s health --timeout abc 2>&1",
	         UNS_UNSCTL_PATH);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "--timeout: not an integer"));
	snprintf(cmd, sizeof(cmd), "%s --bogus 2>&1", UNS_UNSD_PATH);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "unknown option --bogus"));
	snprintf(cmd, sizeof(cmd), "%s health --url tcp://127.0.0.1:1 2>&1",
	         UNS_UNSCTL_PATH);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "cannot connect"));

	/* unsd --set KEY=VALUE sets any key, after the named flags. */
	snprintf(cmd, sizeof(cmd),
	         "%s --contexts 5 --set contexts=7 --set "
	         "'gateway_listen=' --require-client-cert --set "
	         "require_client_cert=no --print-config 2>&1",
	         UNS_UNSD_PATH);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "\ncontexts = 7\n"));
	assert_non_null(strstr(out, "\ngateway_listen = \"\"\n"));
	assert_non_null(strstr(out, "\nrequire_client_cert = false\n"));
	snprintf(cmd, sizeof(cmd), "%s --set nope=1 --print-config 2>&1",
	         UNS_UNSD_PATH);
	assert_int_not_equal(ut_run(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "--set: unknown key \"nope\""));
	snprintf(cmd, sizeof(cmd), "%s --set contexts --print-config 2>&1",
	         UNS_UNSD_PATH);
	assert_int_not_equal(ut_run(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "--set contexts: expected KEY=VALUE"));
}

/* --- SIGTERM under load ------------------------------------------------ */

typedef struct load {
	char url[64];
	atomic_int stop;
	atomic_ullong ok;
	atomic_ullong bad_reply;
	atomic_ullong failed;
} load;

static void *
load_main(void *arg)
{
	load *l = arg;
	uns_client *c = NULL;
	if (uns_client_open(&c, l->url, NULL) != UNS_OK) {
		atomic_fetch_add(&l->failed, 1);
		return NULL;
	}
	char payload[32];
	unsigned n = 0;
	uns_call_opts o = {.timeout_ms = 3000};
	while (!atomic_load(&l->stop)) {
		Uns__V1__EchoRequest req = UNS__V1__ECHO_REQUEST__INIT;
		Uns__V1__EchoResponse *resp = NULL;
		snprintf(payload, sizeof(payload), "%p-%u", (void *)&n, n++);
		req.data.data = (uint8_t *)payload;
		req.data.len = strlen(payload);
		uns_err err = uns_notifications_echo(c, &req, &resp, &o);
		if (err == UNS_OK) {
			int same =
			    resp->data.len == req.data.len &&
			    memcmp(resp->data.data, payload, req.data.len) == 0;
			atomic_fetch_add(same ? &l->ok : &l->bad_reply, 1);
			uns__v1__echo_response__free_unpacked(resp, NULL);
		} else {
			/* Refused or cut off: never a hang past the deadline.
			 */
			assert_true(err == UNS_UNAVAILABLE ||
			            err == UNS_DEADLINE_EXCEEDED);
			atomic_fetch_add(&l->failed, 1);
			break;
		}
	}
	uns_client_close(c);
	return NULL;
}

static void
test_sigterm_under_load(void **state)
{
	(void)state;
	ut_proc p;
	assert_int_equal(ut_unsd_start(&p, "tcp://127.0.0.1:0", NULL), 0);
	load l = {0};
	snprintf(l.url, sizeof(l.url), "tcp://127.0.0.1:%d", p.port);
	pthread_t th[6];
	for (int i = 0; i < 6; i++) {
		pthread_create(&th[i], NULL, load_main, &l);
	}
	nng_msleep(500);
	/* Calls are flowing right up to the signal: wait for one more. */
	unsigned long long before = atomic_load(&l.ok);
	for (int i = 0; i < 1000 && atomic_load(&l.ok) <= before; i++) {
		nng_msleep(5);
	}
	assert_true(atomic_load(&l.ok) > before);
	char log[4096];
	int status = ut_unsd_stop(&p, SIGTERM, log, sizeof(log));
	nng_msleep(200);
	atomic_store(&l.stop, 1);
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
	}
	assert_int_equal(status, 0);
	assert_int_equal(atomic_load(&l.bad_reply), 0);
	const char *s = strstr(log, "replied ");
	assert_non_null(s);
	unsigned long long replied = strtoull(s + 8, NULL, 10);
	/* Every reply the server handed to the transport reached a client. */
	assert_int_equal(replied, atomic_load(&l.ok));
}

/* A user's ListSubscriptions with a token of about len bytes (its scope
 * padded), signed with key; the status, the message into msg. */
static uns_err
list_with_token_of(uns_client *c, const char *key, size_t len, char *msg,
                   size_t cap)
{
	char scopes[1100], tok[2048];
	size_t n = snprintf(scopes, sizeof(scopes), "Notifications.ReadWrite");
	/* base64url makes 3 bytes 4: pad the claims to about 3/4 of len. */
	while (n + 2 < len * 3 / 4 - 150 && n + 2 < sizeof(scopes)) {
		n += snprintf(scopes + n, sizeof(scopes) - n, " x");
	}
	ut_mint_hs256((const uint8_t *)key, strlen(key), (int64_t)time(NULL),
	              "user-1", NULL, "contoso.example.com", scopes, tok,
	              sizeof(tok));
	Uns__V1__ListSubscriptionsRequest req =
	    UNS__V1__LIST_SUBSCRIPTIONS_REQUEST__INIT;
	Uns__V1__ListSubscriptionsResponse *resp = NULL;
	uns_call_opts o = {.token = tok, .timeout_ms = 10000};
	uns_err err = uns_notifications_list_subscriptions(c, &req, &resp, &o);
	snprintf(msg, cap, "%s (token of %zu bytes)",
	         err == UNS_OK ? "" : uns_last_message(), strlen(tok));
	if (resp != NULL) {
		uns__v1__list_subscriptions_response__free_unpacked(resp, NULL);
	}
	return err;
}

/* token_max_bytes reaches the verifier: at 1K a 1.3 KB token is refused
 * unparsed and a 0.9 KB one is accepted (before, the verifier kept its
 * fixed 8 KiB whatever the key said). */
static void
test_token_max_bytes(void **state)
{
	(void)state;
	char dir[256], data[300], path[400], key[128], msg[512];
	ut_mkdtemp(dir, sizeof(dir));
	snprintf(data, sizeof(data), "%s/data", dir);
	const char *args[] = {"--data", data, "--set", "token_max_bytes=1K",
	                      NULL};
	ut_proc p;
	assert_int_equal(ut_unsd_start(&p, "tcp://127.0.0.1:0", args), 0);
	/* The development secret: 64 hex digits, used as they are. */
	snprintf(path, sizeof(path), "%s/jwt-hs256.secret", data);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(key, sizeof(key), f));
	fclose(f);
	key[strcspn(key, "\r\n")] = '\0';
	char url[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", p.port);
	uns_client *c = NULL;
	assert_int_equal(uns_client_open(&c, url, NULL), UNS_OK);

	char msg2[512];
	uns_err small = list_with_token_of(c, key, 900, msg, sizeof(msg));
	uns_err big = list_with_token_of(c, key, 1300, msg2, sizeof(msg2));
	uns_client_close(c);
	/* Stopped before any check, so a failure leaves no unsd behind. */
	assert_int_equal(ut_unsd_stop(&p, SIGTERM, NULL, 0), 0);
	ut_rmdir(dir);
	if (small != UNS_OK) {
		fail_msg("a 0.9 KB token: %s", msg);
	}
	if (big != UNS_UNAUTHENTICATED ||
	    strstr(msg2, "longer than 1024 bytes") == NULL) {
		fail_msg("a 1.3 KB token: %s: %s", uns_status_name(big), msg2);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_run_makes_certs_and_serves_tls),
	    cmocka_unit_test(test_migrate_only),
	    cmocka_unit_test(test_cli_usage_errors),
	    cmocka_unit_test(test_sigterm_under_load),
	    cmocka_unit_test(test_token_max_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
