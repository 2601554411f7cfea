/*
 * test_envelope.c — the I/O-free pieces of the RPC layer: envelope packing
 * and checking, the arena, method lookup, command-line option tables and
 * durations.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "arena.h"
#include "cli_opts.h"
#include "envelope.h"
#include "uns_methods.h"
#include "uns_stubs.h"
#include "wire.h"

static nng_msg *
pack_echo(const char *method, const char *token, uint32_t timeout_ms,
          const char *data)
{
	uns_arena a;
	nng_msg *m = NULL;
	Uns__V1__EchoRequest req = UNS__V1__ECHO_REQUEST__INIT;
	req.data.data = (uint8_t *)data;
	req.data.len = strlen(data);
	uns_metadata md[] = {{"x-trace", "abc"}};
	uns_wire_request h = {.method = method,
	                      .request_id = "r-1",
	                      .timeout_ms = timeout_ms,
	                      .token = token,
	                      .metadata = md,
	                      .n_metadata = 1};
	uns_arena_init(&a, 0);
	assert_int_equal(uns_wire_pack_request(&h, &req.base, &a, 1 << 20, &m),
	                 UNS_OK);
	uns_arena_fini(&a);
	return m;
}

static void
test_request_round_trip(void **state)
{
	(void)state;
	char why[256];
	nng_msg *m = pack_echo("/uns.v1.Notifications/Echo", "tok", 1234,
	                       "payload bytes");
	Uns__V1__RequestEnvelope *env = NULL;
	assert_int_equal(uns_request_decode(nng_msg_body(m), nng_msg_len(m),
	                                    NULL, &env, why, sizeof(why)),
	                 UNS_OK);
	assert_string_equal(env->method, "/uns.v1.Notifications/Echo");
	assert_string_equal(env->request_id, "r-1");
	assert_int_equal(env->timeout_ms, 1234);
	assert_int_equal(env->n_metadata, 2);
	const ProtobufCBinaryData *auth =
	    uns_request_metadata(env, UNS_MD_AUTHORIZATION);
	assert_non_null(auth);
	assert_memory_equal(auth->data, "Bearer tok", 10);
	assert_non_null(uns_request_metadata(env, "x-trace"));
	assert_null(uns_request_metadata(env, "absent"));
	Uns__V1__EchoRequest *req = uns__v1__echo_request__unpack(
	    NULL, env->payload.len, env->payload.data);
	assert_non_null(req);
	assert_int_equal(req->data.len, 13);
	assert_memory_equal(req->data.data, "payload bytes", 13);
	uns__v1__echo_request__free_unpacked(req, NULL);
	uns__v1__request_envelope__free_unpacked(env, NULL);
	nng_msg_free(m);
}

static void
expect_rejected(const char *method, const char *field_word)
{
	char why[256];
	nng_msg *m = pack_echo(method, NULL, 0, "x");
	Uns__V1__RequestEnvelope *env = NULL;
	assert_int_equal(uns_request_decode(nng_msg_body(m), nng_msg_len(m),
	                                    NULL, &env, why, sizeof(why)),
	                 UNS_INVALID_ARGUMENT);
	assert_null(env);
	assert_non_null(strstr(why, field_word));
	nng_msg_free(m);
}

static void
test_request_checks(void **state)
{
	(void)state;
	expect_rejected("", "envelope.method: empty");
	expect_rejected("Echo", "envelope.method");
	expect_rejected("/uns.v1.Notifications", "envelope.method");
	expect_rejected("//Echo", "envelope.method");
	expect_rejected("/a/b/c", "envelope.method");
	expect_rejected("/a b/c", "envelope.method: invalid character");
	char long_name[400];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[0] = '/';
	long_name[200] = '/';
	long_name[sizeof(long_name) - 1] = '\0';
	expect_rejected(long_name, "too long");
}

static void
test_metadata_and_timeout_checks(void **state)
{
	(void)state;
	char why[256];
	uns_arena a;
	nng_msg *m = NULL;
	Uns__V1__EchoRequest req = UNS__V1__ECHO_REQUEST__INIT;
	uns_metadata bad[] = {{"Upper-Case", "v"}};
	uns_wire_request h = {.method = "/p.S/M",
	                      .request_id = "",
	                      .metadata = bad,
	                      .n_metadata = 1};
	uns_arena_init(&a, 0);
	assert_int_equal(uns_wire_pack_request(&h, &req.base, &a, 1 << 20, &m),
	                 UNS_OK);
	Uns__V1__RequestEnvelope *env = NULL;
	assert_int_equal(uns_request_decode(nng_msg_body(m), nng_msg_len(m),
	                                    NULL, &env, why, sizeof(why)),
	                 UNS_INVALID_ARGUMENT);
	assert_non_null(strstr(why, "envelope.metadata.key"));
	nng_msg_free(m);

	h.n_metadata = 0;
	h.timeout_ms = UNS_MAX_TIMEOUT_MS + 1;
	assert_int_equal(uns_wire_pack_request(&h, &req.base, &a, 1 << 20, &m),
	                 UNS_OK);
	assert_int_equal(uns_request_decode(nng_msg_body(m), nng_msg_len(m),
	                                    NULL, &env, why, sizeof(why)),
	                 UNS_INVALID_ARGUMENT);
	assert_non_null(strstr(why, "envelope.timeout_ms"));
	nng_msg_free(m);
	uns_arena_fini(&a);
}

static void
test_garbage_and_limits(void **state)
{
	(void)state;
	char why[256];
	Uns__V1__RequestEnvelope *env = NULL;
	const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02};
	assert_int_equal(uns_request_decode(garbage, sizeof(garbage), NULL,
	                                    &env, why, sizeof(why)),
	                 UNS_INVALID_ARGUMENT);
	assert_non_null(strstr(why, "not a uns.v1.RequestEnvelope"));
	assert_null(env);

	/* A request bigger than the limit is refused before it exists. */
	uns_arena a;
	nng_msg *m = NULL;
	char big[2048];
	memset(big, 'b', sizeof(big));
	Uns__V1__EchoRequest req = UNS__V1__ECHO_REQUEST__INIT;
	req.data.data = (uint8_t *)big;
	req.data.len = sizeof(big);
	uns_wire_request h = {.method = "/p.S/M", .request_id = "r"};
	uns_arena_init(&a, 0);
	assert_int_equal(uns_wire_pack_request(&h, &req.base, &a, 1024, &m),
	                 UNS_RESOURCE_EXHAUSTED);
	assert_null(m);
	assert_non_null(strstr(uns_last_message(), "exceeds the limit"));
	uns_arena_fini(&a);
}

static void
test_response_round_trip(void **state)
{
	(void)state;
	char why[256];
	nng_msg *m;
	assert_int_equal(nng_msg_alloc(&m, 0), 0);
	Uns__V1__ResponseEnvelope env = UNS__V1__RESPONSE_ENVELOPE__INIT;
	Uns__V1__ErrorDetail d = UNS__V1__ERROR_DETAIL__INIT;
	Uns__V1__ErrorDetail *dp = &d;
	d.field = "notification.payload";
	d.reason = "missing";
	env.code = UNS_INVALID_ARGUMENT;
	env.message = "notification.payload: missing";
	env.details = &dp;
	env.n_details = 1;
	env.request_id = "r-9";
	assert_int_equal(uns_wire_pack_response(m, &env, NULL, 1 << 20),
	                 UNS_OK);
	Uns__V1__ResponseEnvelope *out = NULL;
	assert_int_equal(uns_response_decode(nng_msg_body(m), nng_msg_len(m),
	                                     NULL, &out, why, sizeof(why)),
	                 UNS_OK);
	assert_int_equal(out->code, UNS_INVALID_ARGUMENT);
	assert_string_equal(out->details[0]->field, "notification.payload");
	assert_string_equal(out->request_id, "r-9");
	uns__v1__response_envelope__free_unpacked(out, NULL);

	env.code = 99; /* not a status code */
	env.n_details = 0;
	assert_int_equal(uns_wire_pack_response(m, &env, NULL, 1 << 20),
	                 UNS_OK);
	assert_int_equal(uns_response_decode(nng_msg_body(m), nng_msg_len(m),
	                                     NULL, &out, why, sizeof(why)),
	                 UNS_INVALID_ARGUMENT);
	assert_non_null(strstr(why, "reply.code"));
	nng_msg_free(m);
}

static void
test_arena(void **state)
{
	(void)state;
	uns_arena a;
	uns_arena_init(&a, 100000);
	char *p = uns_arena_alloc(&a, 10);
	char *q = uns_arena_alloc(&a, 10);
	assert_non_null(p);
	assert_true(q >= p + 16);
	assert_int_equal(((uintptr_t)q) % 16, 0);
	/* Past the inline block, then past the cap. */
	assert_non_null(uns_arena_alloc(&a, 50000));
	assert_null(uns_arena_alloc(&a, 60000));
	assert_string_equal(uns_arena_strdup(&a, "hello"), "hello");
	uns_arena_reset(&a);
	assert_ptr_equal(uns_arena_alloc(&a, 1), a.inline_block);
	uns_arena_fini(&a);
}

static void
test_method_table(void **state)
{
	(void)state;
	const uns_service_desc *svc = &uns_notifications_service;
	assert_int_equal(svc->n_methods,
	                 12); /* + IssueToken, ListSubscriptions,
	                         AdminListSubscriptions */
	for (size_t i = 1; i < svc->n_methods; i++) {
		assert_true(
		    strcmp(svc->methods[i - 1].name, svc->methods[i].name) < 0);
	}
	const uns_method *m =
	    uns_service_find(svc, "/uns.v1.Notifications/Post");
	assert_non_null(m);
	assert_ptr_equal(m->input, &uns__v1__post_request__descriptor);
	assert_ptr_equal(m->output, &uns__v1__post_response__descriptor);
	assert_string_equal(uns_notifications_method_post.name, m->name);
	assert_null(uns_service_find(svc, "/uns.v1.Notifications/post"));
	assert_null(uns_service_find(svc, "Post"));
}

typedef struct demo_opts {
	const char *url;
	int n;
	int flag;
} demo_opts;

static const uns_opt demo_table[] = {
    {"--url", UNS_OPT_STR, offsetof(demo_opts, url), "URL", "u"},
    {"--n", UNS_OPT_INT, offsetof(demo_opts, n), "N", "n"},
    {"--flag", UNS_OPT_FLAG, offsetof(demo_opts, flag), NULL, "f"},
};

static void
test_cli_opts(void **state)
{
	(void)state;
	char why[128];
	demo_opts o = {0};
	char *argv[] = {"cmd", "a",      "--url", "x://y", "--n=42",
	                "b",   "--flag", "--",    "--n"};
	int n = uns_opts_parse(demo_table, 3, &o, 9, argv, why, sizeof(why));
	assert_int_equal(n, 3);
	assert_string_equal(argv[0], "a");
	assert_string_equal(argv[1], "b");
	assert_string_equal(argv[2], "--n");
	assert_string_equal(o.url, "x://y");
	assert_int_equal(o.n, 42);
	assert_int_equal(o.flag, 1);

	char *bad1[] = {"cmd", "--n", "12x"};
	assert_int_equal(
	    uns_opts_parse(demo_table, 3, &o, 3, bad1, why, sizeof(why)), -1);
	assert_string_equal(why, "--n: not an integer: \"12x\"");
	char *bad2[] = {"cmd", "--nope"};
	assert_int_equal(
	    uns_opts_parse(demo_table, 3, &o, 2, bad2, why, sizeof(why)), -1);
	assert_string_equal(why, "unknown option --nope");
	char *bad3[] = {"cmd", "--url"};
	assert_int_equal(
	    uns_opts_parse(demo_table, 3, &o, 2, bad3, why, sizeof(why)), -1);
	assert_string_equal(why, "--url needs a value");
}

static void
test_status_names(void **state)
{
	(void)state;
	assert_string_equal(uns_status_name(UNS_UNAUTHENTICATED),
	                    "UNAUTHENTICATED");
	assert_string_equal(uns_strerror(UNS_DEADLINE_EXCEEDED),
	                    "deadline exceeded");
	assert_string_equal(uns_status_name((uns_err)77), "UNKNOWN");
	assert_int_equal(UNS_UNAUTHENTICATED, 16);
	assert_int_equal(UNS_UNIMPLEMENTED, 12);
}

static void
test_durations(void **state)
{
	static const struct {
		const char *text;
		int negative_ok;
		int64_t seconds; /* -999 = refused */
	} cases[] = {
	    {"30", 0, 30},        {"90s", 0, 90},
	    {"10m", 0, 600},      {"2h", 0, 7200},
	    {"7d", 0, 604800},    {"720h1s", 0, 2592001},
	    {"1d12h", 0, 129600}, {"1h30m15s", 0, 5415},
	    {"0", 0, 0},          {"-2m", 1, -120},
	    {"-2m", 0, -999},     {"", 0, -999},
	    {"h", 0, -999},       {"5", 1, 5},
	    {"1h30", 0, -999},    {"3q", 0, -999},
	    {"1h 2m", 0, -999},   {"--2m", 1, -999},
	    {"36501d", 0, -999},  {"99999999999999999999", 0, -999},
	    {"5s-", 0, -999},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = -999;
		int rc = uns_duration_parse(cases[i].text, cases[i].negative_ok,
		                            &got);
		if (rc != (cases[i].seconds == -999 ? -1 : 0) ||
		    got != cases[i].seconds) {
			fail_msg("%s: rc %d, %" PRId64, cases[i].text, rc, got);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_round_trip),
	    cmocka_unit_test(test_request_checks),
	    cmocka_unit_test(test_metadata_and_timeout_checks),
	    cmocka_unit_test(test_garbage_and_limits),
	    cmocka_unit_test(test_response_round_trip),
	    cmocka_unit_test(test_arena),
	    cmocka_unit_test(test_method_table),
	    cmocka_unit_test(test_cli_opts),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_status_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
