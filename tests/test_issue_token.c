/*
 * test_issue_token.c — IssueToken over RPC against a real store, real
 * JWTs and the app registry as `unsctl app add` writes it: the right
 * secret gets an app token that Posts; a wrong secret, an unknown app and
 * an app without a secret get one identical UNAUTHENTICATED answer; bad
 * fields are INVALID_ARGUMENT naming the field; no signing key is
 * FAILED_PRECONDITION.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "testutil.h"
#include "utservice.h"

#include "appsconf.h"
#include "auth.h"
#include "jwt.h"
#include "metrics.h"
#include "rpc_metrics.h"
#include "store.h"
#include "token_guard.h"
#include "token_issuer.h"
#include "uns_stubs.h"

#define HOST "contoso.example.com"

#define LEGACY_HASH                                                            \
	"sha256:00112233445566778899aabbccddeeff:"                             \
	"dd54336b05f38b582e2336670be02"                                        \
	"842b2b31b2478bb71a019b6a5131b2cbc78"

typedef struct env {
	char dir[256];
	char ipc[320]; /* a second listener, or "" */
	ut_service s;
	uns_metrics *metrics;
	uns_rpc_metrics *rpc_metrics;
} env;

/* `unsctl app add`, the real binary, into dir/apps.conf. */
static void
unsctl_app_add(const char *dir, const char *id, const char *app_secret)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "%s app add --data %s --id %s --hosts " HOST
	         " %s%s >/dev/null",
	         UNS_UNSCTL_PATH, dir, id, app_secret ? "--secret " : "",
	         app_secret ? app_secret : "");
	assert_int_equal(system(cmd), 0);
}

static void
start(env *e, int with_issuer, const uns_token_guard_config *guard)
{
	char apps[512];
	snprintf(apps, sizeof(apps), "%s/apps.conf", e->dir);
	assert_int_equal(uns_metrics_open(&e->metrics), UNS_OK);
	assert_int_equal(uns_rpc_metrics_open(&e->rpc_metrics, e->metrics),
	                 UNS_OK);
	uns_rpc_hooks hooks = {.on_reply = uns_rpc_metrics_on_reply,
	                       .on_reply_arg = e->rpc_metrics};
	ut_service_opts o = {.apps_conf = apps,
	                     .with_issuer = with_issuer,
	                     .hooks = &hooks,
	                     .token_guard = guard,
	                     .also_listen = e->ipc[0] ? e->ipc : NULL};
	ut_service_start(&e->s, e->dir, &o);
}

static int
setup_common(void **state, int with_issuer, const uns_token_guard_config *guard)
{
	env *e = calloc(1, sizeof(*e));
	ut_mkdtemp(e->dir, sizeof(e->dir));
	if (guard != NULL) {
		snprintf(e->ipc, sizeof(e->ipc), "ipc://%s/rpc.ipc", e->dir);
	}
	unsctl_app_add(e->dir, "contoso-svc", "s3cret-value-0123456");
	unsctl_app_add(e->dir, "other-svc", "another-secret-0123");
	/* A line without a secret ("-"): the endpoint refuses it. */
	char path[512];
	snprintf(path, sizeof(path), "%s/apps.conf", e->dir);
	FILE *f = fopen(path, "a");
	assert_non_null(f);
	fprintf(f, "nosecret-svc " HOST " -\n");
	/* A line written before PBKDF2: SHA-256("00112233…eeff" ‖ secret). */
	fprintf(f, "legacy-svc " HOST " " LEGACY_HASH "\n");
	fclose(f);
	start(e, with_issuer, guard);
	*state = e;
	return 0;
}

static int
setup(void **state)
{
	return setup_common(state, 1, NULL);
}

static int
setup_no_issuer(void **state)
{
	return setup_common(state, 0, NULL);
}

/* Small limits: 3 wrong secrets per source, 2 per client id. */
static int
setup_sources(void **state)
{
	static const uns_token_guard_config guard = {.fail_burst = 2,
	                                             .fail_per_minute = 1,
	                                             .source_fail_burst = 3,
	                                             .source_fail_per_minute =
	                                                 1,
	                                             .checks = 2,
	                                             .wait_ms = 5000};
	return setup_common(state, 1, &guard);
}

static int
teardown(void **state)
{
	env *e = *state;
	ut_service_stop(&e->s);
	uns_rpc_metrics_close(e->rpc_metrics);
	uns_metrics_close(e->metrics);
	ut_rmdir(e->dir);
	free(e);
	return 0;
}

/* IssueToken from client c; on success *out holds the reply, else msg
 * the message. */
static uns_err
issue_from(uns_client *c, const char *grant, const char *id, const char *sec,
           const char *scope, Uns__V1__IssueTokenResponse **out, char *msg,
           size_t cap)
{
	Uns__V1__IssueTokenRequest req = UNS__V1__ISSUE_TOKEN_REQUEST__INIT;
	req.grant_type = (char *)grant;
	req.client_id = (char *)id;
	req.client_secret = (char *)sec;
	req.scope = (char *)scope;
	uns_call_opts o = {.timeout_ms = 10000};
	Uns__V1__IssueTokenResponse *resp = NULL;
	uns_err err = uns_notifications_issue_token(c, &req, &resp, &o);
	snprintf(msg, cap, "%s", err == UNS_OK ? "" : uns_last_message());
	if (out != NULL && err == UNS_OK) {
		*out = resp;
	} else if (err == UNS_OK) {
		uns__v1__issue_token_response__free_unpacked(resp, NULL);
	}
	return err;
}

static uns_err
issue(env *e, const char *grant, const char *id, const char *sec,
      const char *scope, Uns__V1__IssueTokenResponse **out, char *msg,
      size_t cap)
{
	return issue_from(e->s.client, grant, id, sec, scope, out, msg, cap);
}

/* IssueToken (client_credentials) from c answers want, with has in its
 * message when has is not NULL. */
static void
expect_issue(uns_client *c, const char *id, const char *sec, uns_err want,
             const char *has)
{
	char msg[512];
	assert_int_equal(issue_from(c, "client_credentials", id, sec, "", NULL,
	                            msg, sizeof(msg)),
	                 want);
	if (has != NULL && strstr(msg, has) == NULL) {
		fail_msg("%s: no \"%s\" in \"%s\"", id, has, msg);
	}
}

/* A direct RPC caller is limited per source address: three wrong secrets
 * under three client ids from 127.0.0.1 refuse that address, the right
 * secret included, with a retry time; the local socket, another source,
 * still gets its token. (Before the source limit the fourth call got a
 * token: each id had one failure of two.) */
static void
test_source_limit(void **state)
{
	env *e = *state;
	uns_client *tcp = e->s.client, *local = NULL;
	const char *ids[] = {"contoso-svc", "other-svc", "ghost-svc"};
	for (int i = 0; i < 3; i++) {
		expect_issue(tcp, ids[i], "wrong-secret-0000",
		             UNS_UNAUTHENTICATED, NULL);
	}
	expect_issue(tcp, "other-svc", "another-secret-0123",
	             UNS_RESOURCE_EXHAUSTED, "from this address; retry after ");
	assert_int_equal(uns_client_open(&local, e->ipc, NULL), UNS_OK);
	expect_issue(local, "other-svc", "another-secret-0123", UNS_OK, NULL);
	uns_client_close(local);
}

/* A client id flooded from one address stays open to the holder of its
 * secret at another address that has not failed against it; the flooding
 * address is refused, the right secret included, and so is the other one
 * once it has failed too. (Before the spill the holder was refused.) */
static void
test_flooded_id_open_elsewhere(void **state)
{
	env *e = *state;
	uns_client *tcp = e->s.client, *local = NULL;
	const char *app = "contoso-svc", *right = "s3cret-value-0123456";
	for (int i = 0; i < 2; i++) {
		expect_issue(tcp, app, "wrong-secret-0000", UNS_UNAUTHENTICATED,
		             NULL);
	}
	expect_issue(tcp, app, right, UNS_RESOURCE_EXHAUSTED,
	             "for this client; retry after ");
	assert_int_equal(uns_client_open(&local, e->ipc, NULL), UNS_OK);
	expect_issue(local, app, right, UNS_OK, NULL);
	expect_issue(local, app, "wrong-secret-0000", UNS_UNAUTHENTICATED,
	             NULL);
	expect_issue(local, app, right, UNS_RESOURCE_EXHAUSTED, NULL);
	uns_client_close(local);
}

static void
test_right_secret_mints_app_token_that_posts(void **state)
{
	env *e = *state;
	Uns__V1__IssueTokenResponse *r = NULL;
	char msg[512], why[256];
	assert_int_equal(issue(e, "client_credentials", "contoso-svc",
	                       "s3cret-value-0123456",
	                       "https://graph.microsoft.com/.default", &r, msg,
	                       sizeof(msg)),
	                 UNS_OK);
	assert_string_equal(r->token_type, "Bearer");
	assert_int_equal(r->expires_in, 600);

	/* The token carries what `unsctl token app` puts in. */
	uns_jwt_claims c;
	uns_jwt_policy pol = {.audience = "uns", .now = time(NULL)};
	assert_int_equal(uns_jwt_verify(e->s.keys, r->access_token, &pol, &c,
	                                why, sizeof(why)),
	                 UNS_OK);
	assert_string_equal(c.app_id, "contoso-svc");
	assert_string_equal(c.sub, "");
	assert_string_equal(c.scopes, UNS_SCOPE_APP);
	assert_int_equal(c.exp - c.iat, 600);

	/* And the service takes it: a user subscribes, the app posts. */
	char user_tok[2048];
	ut_service_mint(user_tok, sizeof(user_tok), time(NULL), "alice", NULL,
	                HOST, UNS_SCOPE_USER);
	Uns__V1__SubscribeRequest sreq = UNS__V1__SUBSCRIBE_REQUEST__INIT;
	Uns__V1__SubscribeResponse *sresp = NULL;
	sreq.device_id = "phone";
	sreq.platform = UNS__V1__PLATFORM__PLATFORM_POLLING;
	uns_call_opts uo = {.token = user_tok, .timeout_ms = 10000};
	assert_int_equal(
	    uns_notifications_subscribe(e->s.client, &sreq, &sresp, &uo),
	    UNS_OK);

	Uns__V1__PostRequest preq = UNS__V1__POST_REQUEST__INIT;
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT;
	Uns__V1__Payload p = UNS__V1__PAYLOAD__INIT;
	p.raw_content = "hello";
	n.payload = &p;
	preq.notification = &n;
	preq.unsid = sresp->subscription->unsid;
	Uns__V1__PostResponse *presp = NULL;
	uns_call_opts ao = {.token = r->access_token, .timeout_ms = 10000};
	uns_err err = uns_notifications_post(e->s.client, &preq, &presp, &ao);
	if (err != UNS_OK) {
		fail_msg("post with the issued token: %s", uns_last_message());
	}
	assert_true(presp->created);
	uns__v1__post_response__free_unpacked(presp, NULL);
	uns__v1__subscribe_response__free_unpacked(sresp, NULL);
	uns__v1__issue_token_response__free_unpacked(r, NULL);
}

static void
test_bad_credentials_answer_alike(void **state)
{
	env *e = *state;
	char wrong[512], unknown[512], nosecret[512], other[512];
	assert_int_equal(issue(e, "client_credentials", "contoso-svc", "nope",
	                       "", NULL, wrong, sizeof(wrong)),
	                 UNS_UNAUTHENTICATED);
	assert_int_equal(issue(e, "client_credentials", "ghost-svc",
	                       "s3cret-value-0123456", "", NULL, unknown,
	                       sizeof(unknown)),
	                 UNS_UNAUTHENTICATED);
	assert_int_equal(issue(e, "client_credentials", "nosecret-svc", "-", "",
	                       NULL, nosecret, sizeof(nosecret)),
	                 UNS_UNAUTHENTICATED);
	/* Another app's secret is a wrong secret too. */
	assert_int_equal(issue(e, "client_credentials", "contoso-svc",
	                       "another-secret-0123", "", NULL, other,
	                       sizeof(other)),
	                 UNS_UNAUTHENTICATED);
	assert_string_equal(wrong, unknown);
	assert_string_equal(wrong, nosecret);
	assert_string_equal(wrong, other);

	/* The server's reply hook counted them by method and status. */
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(uns_metrics_write(e->metrics, &text, &len), UNS_OK);
	if (strstr(text, "uns_rpc_calls_total{method=\"IssueToken\","
	                 "status=\"UNAUTHENTICATED\"} 4\n") == NULL) {
		fail_msg("%s", text);
	}
	free(text);
	/* A prefix of the right secret is wrong. */
	assert_int_equal(issue(e, "client_credentials", "contoso-svc",
	                       "s3cret-valu", "", NULL, wrong, sizeof(wrong)),
	                 UNS_UNAUTHENTICATED);
	/* The other app still gets its token. */
	assert_int_equal(issue(e, "client_credentials", "other-svc",
	                       "another-secret-0123", ".default", NULL, other,
	                       sizeof(other)),
	                 UNS_OK);
}

/* apps.conf holds PBKDF2 hashes with their iteration count, and a hash of
 * the older SHA-256 form still gets its app a token. */
static void
test_hash_forms(void **state)
{
	env *e = *state;
	char path[512], line[512], msg[512];
	snprintf(path, sizeof(path), "%s/apps.conf", e->dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	if (strstr(line, " pbkdf2-sha256$100000$") == NULL) {
		fail_msg("apps.conf: %s", line);
	}
	assert_int_equal(issue(e, "client_credentials", "legacy-svc",
	                       "legacy-secret", "", NULL, msg, sizeof(msg)),
	                 UNS_OK);
	assert_int_equal(issue(e, "client_credentials", "legacy-svc",
	                       "legacy-secreT", "", NULL, msg, sizeof(msg)),
	                 UNS_UNAUTHENTICATED);
}

/* `unsctl app add` refuses a secret shorter than --min-secret-length
 * (default 16), says so, and writes nothing; the knob lowers the floor. */
static void
test_short_secret_refused(void **state)
{
	char dir[256], cmd[1024], out[1024] = "", path[512];
	(void)state;
	ut_mkdtemp(dir, sizeof(dir));
	snprintf(cmd, sizeof(cmd),
	         "%s app add --data %s --id short-svc --hosts " HOST
	         " --secret fifteen-chars!! 2>&1",
	         UNS_UNSCTL_PATH, dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	assert_int_equal(WEXITSTATUS(pclose(p)), 2);
	if (strstr(out, "--secret: 15 characters, at least 16 needed") ==
	    NULL) {
		fail_msg("%s", out);
	}
	snprintf(path, sizeof(path), "%s/apps.conf", dir);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(cmd, sizeof(cmd),
	         "%s app add --data %s --id short-svc --hosts " HOST
	         " --secret fifteen-chars!! --min-secret-length 15 "
	         "--iterations 1000 >/dev/null",
	         UNS_UNSCTL_PATH, dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(access(path, F_OK), 0);
	ut_rmdir(dir);
}

/* Runs unsctl app ARGS on e's apps.conf, then reloads it into the
 * service as SIGHUP does; the exit status. */
static int
app_cmd_reload(env *e, const char *args)
{
	char cmd[1024], path[512], why[256];
	snprintf(cmd, sizeof(cmd), "%s app %s --data %s >/dev/null",
	         UNS_UNSCTL_PATH, args, e->dir);
	int rc = WEXITSTATUS(system(cmd));
	snprintf(path, sizeof(path), "%s/apps.conf", e->dir);
	assert_int_equal(uns_auth_load_apps(e->s.auth, path, why, sizeof(why)),
	                 UNS_OK);
	return rc;
}

static uns_err
issue_as(env *e, const char *id, const char *secret)
{
	char msg[512];
	return issue(e, "client_credentials", id, secret, "", NULL, msg,
	             sizeof(msg));
}

/* Sets the grace end of id's previous secret to `until` (Unix seconds),
 * as if that time had come. */
static void
set_old_until(env *e, const char *id, int64_t until)
{
	char path[512], line[1024], buf[8192] = "", why[128];
	snprintf(path, sizeof(path), "%s/apps.conf", e->dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	FILE *out = fmemopen(buf, sizeof(buf), "w");
	while (fgets(line, sizeof(line), f) != NULL) {
		char copy[1024];
		uns_app_line a;
		snprintf(copy, sizeof(copy), "%s", line);
		if (uns_app_line_parse(copy, &a, why, sizeof(why)) == 1 &&
		    strcmp(a.id, id) == 0) {
			assert_non_null(a.old_hash);
			a.old_until = until;
			uns_app_line_write(out, &a);
		} else {
			fputs(line, out);
		}
	}
	fclose(f);
	fclose(out);
	f = fopen(path, "w");
	fputs(buf, f);
	fclose(f);
}

/* rotate-secret: after the reload the new secret works and the old one
 * too until its grace ends (--grace 0: at once); remove: the app is gone
 * after the reload; a file with a bad line changes nothing. */
static void
test_rotate_and_remove(void **state)
{
	env *e = *state;
	char path[512], why[256];
	assert_int_equal(app_cmd_reload(e, "rotate-secret contoso-svc "
	                                   "--secret rotated-secret-0001 "
	                                   "--grace 1h --iterations 1000"),
	                 0);
	assert_int_equal(issue_as(e, "contoso-svc", "rotated-secret-0001"),
	                 UNS_OK);
	assert_int_equal(issue_as(e, "contoso-svc", "s3cret-value-0123456"),
	                 UNS_OK);
	set_old_until(e, "contoso-svc", time(NULL) - 1);
	assert_int_equal(app_cmd_reload(e, "show contoso-svc"), 0);
	assert_int_equal(issue_as(e, "contoso-svc", "s3cret-value-0123456"),
	                 UNS_UNAUTHENTICATED);
	assert_int_equal(issue_as(e, "contoso-svc", "rotated-secret-0001"),
	                 UNS_OK);

	assert_int_equal(app_cmd_reload(e, "rotate-secret contoso-svc "
	                                   "--secret rotated-secret-0002 "
	                                   "--grace 0 --iterations 1000"),
	                 0);
	assert_int_equal(issue_as(e, "contoso-svc", "rotated-secret-0001"),
	                 UNS_UNAUTHENTICATED);
	assert_int_equal(issue_as(e, "contoso-svc", "rotated-secret-0002"),
	                 UNS_OK);
	assert_int_equal(app_cmd_reload(e, "rotate-secret contoso-svc "
	                                   "--secret short"),
	                 2);

	assert_int_equal(app_cmd_reload(e, "remove other-svc"), 0);
	assert_int_equal(issue_as(e, "other-svc", "another-secret-0123"),
	                 UNS_UNAUTHENTICATED);
	assert_int_equal(app_cmd_reload(e, "show other-svc"), 1);
	assert_int_equal(app_cmd_reload(e, "remove other-svc"), 1);

	/* A bad line: the reload fails and the registry stays as it was. */
	snprintf(path, sizeof(path), "%s/apps.conf", e->dir);
	FILE *f = fopen(path, "a");
	fprintf(f, "broken-svc " HOST " not-a-hash\n");
	fclose(f);
	assert_int_equal(uns_auth_load_apps(e->s.auth, path, why, sizeof(why)),
	                 UNS_INVALID_ARGUMENT);
	if (strstr(why, "apps.conf:4: not a secret hash") == NULL) {
		fail_msg("%s", why);
	}
	assert_int_equal(issue_as(e, "contoso-svc", "rotated-secret-0002"),
	                 UNS_OK);
}

static void
test_bad_fields_name_the_field(void **state)
{
	env *e = *state;
	static const struct {
		const char *grant, *id, *secret, *scope, *field;
	} cases[] = {
	    {"", "contoso-svc", "s3cret-value-0123456", "", "grant_type"},
	    {"password", "contoso-svc", "s3cret-value-0123456", "",
	     "grant_type"},
	    {"authorization_code", "contoso-svc", "s3cret-value-0123456", "",
	     "grant_type"},
	    {"client_credentials", "", "s3cret-value-0123456", "", "client_id"},
	    {"client_credentials", "contoso-svc", "", "", "client_secret"},
	    {"client_credentials", "contoso-svc", "s3cret-value-0123456",
	     "User.Read", "scope"},
	    {"client_credentials", "contoso-svc", "s3cret-value-0123456",
	     "https://graph.microsoft.com/x.default", "scope"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char msg[512];
		uns_err err =
		    issue(e, cases[i].grant, cases[i].id, cases[i].secret,
		          cases[i].scope, NULL, msg, sizeof(msg));
		if (err != UNS_INVALID_ARGUMENT ||
		    strncmp(msg, cases[i].field, strlen(cases[i].field)) != 0) {
			fail_msg("case %zu: %s: %s", i, uns_status_name(err),
			         msg);
		}
	}
	/* Accepted scope spellings. */
	static const char *const ok[] = {
	    "", ".default", "https://graph.microsoft.com/.default",
	    "Notifications.Send", "uns/.default Notifications.Send"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char msg[512];
		if (issue(e, "client_credentials", "contoso-svc",
		          "s3cret-value-0123456", ok[i], NULL, msg,
		          sizeof(msg)) != UNS_OK) {
			fail_msg("scope \"%s\": %s", ok[i], msg);
		}
	}
}

static void
test_without_signing_key(void **state)
{
	env *e = *state;
	char msg[512];
	assert_int_equal(issue(e, "client_credentials", "contoso-svc",
	                       "s3cret-value-0123456", "", NULL, msg,
	                       sizeof(msg)),
	                 UNS_FAILED_PRECONDITION);
	assert_non_null(strstr(msg, "token_signing_key"));
}

static void
test_issuer_refuses_bad_keys(void **state)
{
	(void)state;
	uns_token_issuer *ti = NULL;
	char why[256];
	uns_token_issuer_config tc = {.alg = "HS256",
	                              .key = (const uint8_t *)"short",
	                              .key_len = 5,
	                              .lifetime_s = 60};
	assert_int_equal(uns_token_issuer_open(&ti, &tc, why, sizeof(why)),
	                 UNS_EINVAL);
	assert_null(ti);
	tc.alg = NULL;
	tc.key = (const uint8_t *)"-----BEGIN NOTHING-----";
	tc.key_len = strlen((const char *)tc.key);
	assert_int_equal(uns_token_issuer_open(&ti, &tc, why, sizeof(why)),
	                 UNS_EINVAL);
	tc.alg = "HS256";
	tc.key = ut_secret;
	tc.key_len = ut_secret_len;
	tc.lifetime_s = 0;
	assert_int_equal(uns_token_issuer_open(&ti, &tc, why, sizeof(why)),
	                 UNS_EINVAL);
	assert_non_null(strstr(why, "lifetime"));
}

static int64_t
guard_clock(void *arg)
{
	return *(int64_t *)arg;
}

/* The token guard alone: wrong secrets per client id refuse that id (and
 * only it) until the bucket refills; at most `checks` checks at once and
 * one per client id, a waiter refused after wait_ms. */
static void
test_token_guard(void **state)
{
	(void)state;
	int64_t now_us = 1000000;
	uint32_t retry = 0;
	const char *why = NULL;
	uns_token_guard *g = NULL;
	uns_token_guard_config c = {.fail_burst = 2,
	                            .fail_per_minute = 1,
	                            .checks = 2,
	                            .wait_ms = 200,
	                            .now_us = guard_clock,
	                            .now_arg = &now_us};
	assert_int_equal(uns_token_guard_open(&g, &c), UNS_OK);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
		    uns_token_guard_enter(g, "a", "", &retry, &why), UNS_OK);
		uns_token_guard_leave(g, "a", "", 0);
	}
	assert_int_equal(uns_token_guard_enter(g, "a", "", &retry, &why),
	                 UNS_RESOURCE_EXHAUSTED);
	assert_in_range(retry, 59, 60);
	/* Another id is not touched; a right secret charges nothing. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
		    uns_token_guard_enter(g, "b", "", &retry, &why), UNS_OK);
		uns_token_guard_leave(g, "b", "", 1);
	}
	now_us += 60 * 1000000LL;
	assert_int_equal(uns_token_guard_enter(g, "a", "", &retry, &why),
	                 UNS_OK);

	/* "a" holds a check: a second "a" waits, then is refused. */
	retry = 0;
	assert_int_equal(uns_token_guard_enter(g, "a", "", &retry, &why),
	                 UNS_RESOURCE_EXHAUSTED);
	assert_int_equal(retry, 1);
	/* "b" takes the second slot; "c" finds none. */
	assert_int_equal(uns_token_guard_enter(g, "b", "", &retry, &why),
	                 UNS_OK);
	assert_int_equal(uns_token_guard_enter(g, "c", "", &retry, &why),
	                 UNS_RESOURCE_EXHAUSTED);
	uns_token_guard_leave(g, "b", "", 1);
	assert_int_equal(uns_token_guard_enter(g, "c", "", &retry, &why),
	                 UNS_OK);
	uns_token_guard_leave(g, "c", "", 1);
	uns_token_guard_leave(g, "a", "", 1);
	uns_token_guard_close(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_right_secret_mints_app_token_that_posts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_credentials_answer_alike,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hash_forms, setup, teardown),
	    cmocka_unit_test(test_short_secret_refused),
	    cmocka_unit_test_setup_teardown(test_rotate_and_remove, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_fields_name_the_field,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_without_signing_key,
	                                    setup_no_issuer, teardown),
	    cmocka_unit_test(test_issuer_refuses_bad_keys),
	    cmocka_unit_test(test_token_guard),
	    cmocka_unit_test_setup_teardown(test_source_limit, setup_sources,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_flooded_id_open_elsewhere,
	                                    setup_sources, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
