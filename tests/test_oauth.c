/*
 * test_oauth.c — the token endpoint's pure halves: the form body parser
 * (escapes, '+', unknown fields, repeats, limits), HTTP Basic client
 * credentials, and IssueToken statuses mapped to OAuth2 errors.
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "oauth.h"

static uns_err
parse(const char *body, uns_oauth_request *r, char *why)
{
	return uns_oauth_parse_form(body, strlen(body), r, why, 256);
}

static void
test_form_fields(void **state)
{
	(void)state;
	uns_oauth_request r;
	char why[256];
	assert_int_equal(
	    parse("grant_type=client_credentials&client_id=contoso-svc"
	          "&client_secret=a%2Bb%26c%3Dd+e%25&scope=https%3A%2F%2F"
	          "graph.microsoft.com%2F.default&extra=1&flag",
	          &r, why),
	    UNS_OK);
	assert_string_equal(r.grant_type, "client_credentials");
	assert_string_equal(r.client_id, "contoso-svc");
	assert_string_equal(r.client_secret, "a+b&c=d e%");
	assert_string_equal(r.scope, "https://graph.microsoft.com/.default");

	assert_int_equal(parse("", &r, why), UNS_OK);
	assert_string_equal(r.grant_type, "");
	assert_int_equal(parse("client_id&scope=", &r, why), UNS_OK);
	assert_string_equal(r.client_id, "");
	/* Only exact names count. */
	assert_int_equal(parse("client_idx=1&xclient_id=2", &r, why), UNS_OK);
	assert_string_equal(r.client_id, "");
}

static void
test_form_errors_name_the_field(void **state)
{
	(void)state;
	static const struct {
		const char *body, *field;
	} bad[] = {
	    {"client_id=a&client_id=b", "client_id"},
	    {"client_secret=%zz", "client_secret"},
	    {"client_secret=abc%2", "client_secret"},
	    {"client_secret=abc%", "client_secret"},
	    {"scope=a%00b", "scope"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uns_oauth_request r;
		char why[256] = "";
		memset(&r, 0x5a, sizeof(r));
		assert_int_equal(parse(bad[i].body, &r, why),
		                 UNS_INVALID_ARGUMENT);
		if (strncmp(why, bad[i].field, strlen(bad[i].field)) != 0) {
			fail_msg("%s: %s", bad[i].body, why);
		}
		assert_int_equal((unsigned char)r.client_id[0], 0x5a);
	}
	/* Longest value that fits, and one byte more. */
	static char body[2 * UNS_OAUTH_FIELD_MAX];
	uns_oauth_request r;
	char why[256];
	snprintf(body, sizeof(body), "client_secret=%0*d",
	         UNS_OAUTH_FIELD_MAX - 1, 0);
	assert_int_equal(parse(body, &r, why), UNS_OK);
	assert_int_equal(strlen(r.client_secret), UNS_OAUTH_FIELD_MAX - 1);
	snprintf(body, sizeof(body), "client_secret=%0*d", UNS_OAUTH_FIELD_MAX,
	         0);
	assert_int_equal(parse(body, &r, why), UNS_INVALID_ARGUMENT);
}

static void
test_basic_credentials(void **state)
{
	(void)state;
	uns_oauth_request r;
	char why[256];
	memset(&r, 0, sizeof(r));
	/* base64("contoso-svc:s3cret%3Avalue") */
	assert_int_equal(uns_oauth_parse_basic(
	                     "Basic Y29udG9zby1zdmM6czNjcmV0JTNBdmFsdWU=", &r,
	                     why, sizeof(why)),
	                 UNS_OK);
	assert_string_equal(r.client_id, "contoso-svc");
	assert_string_equal(r.client_secret, "s3cret:value");
	assert_int_equal(
	    uns_oauth_parse_basic("Bearer x", &r, why, sizeof(why)),
	    UNS_INVALID_ARGUMENT);
	assert_int_equal(
	    uns_oauth_parse_basic("Basic !!!", &r, why, sizeof(why)),
	    UNS_INVALID_ARGUMENT);
	/* base64("nocolon") */
	assert_int_equal(
	    uns_oauth_parse_basic("Basic bm9jb2xvbg==", &r, why, sizeof(why)),
	    UNS_INVALID_ARGUMENT);
}

static void
test_error_mapping(void **state)
{
	(void)state;
	static const struct {
		uns_err err;
		const char *message;
		unsigned http;
		const char *error;
	} cases[] = {
	    {UNS_UNAUTHENTICATED, "invalid client credentials", 401,
	     "invalid_client"},
	    {UNS_INVALID_ARGUMENT, "grant_type: required (client_credentials)",
	     400, "invalid_request"},
	    {UNS_INVALID_ARGUMENT, "grant_type: unsupported grant type", 400,
	     "unsupported_grant_type"},
	    {UNS_INVALID_ARGUMENT, "scope: expected .default", 400,
	     "invalid_scope"},
	    {UNS_INVALID_ARGUMENT, "client_id: required", 400,
	     "invalid_request"},
	    {UNS_UNAVAILABLE, "store", 503, "temporarily_unavailable"},
	    {UNS_INTERNAL, "x", 500, "server_error"},
	    {UNS_ECONNECT, "x", 500, "server_error"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uns_oauth_error e =
		    uns_oauth_error_of(cases[i].err, cases[i].message);
		assert_int_equal(e.http, cases[i].http);
		assert_string_equal(e.error, cases[i].error);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_form_fields),
	    cmocka_unit_test(test_form_errors_name_the_field),
	    cmocka_unit_test(test_basic_credentials),
	    cmocka_unit_test(test_error_mapping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
