/*
 * test_gateway_routes.c — the route table's matching rule over the whole
 * table (issue 19): a word in a pattern beats a "{}" capture in the same
 * place, whatever the rows' order. For every row, its path with each
 * capture filled in is asked for with every method of the table: the
 * answer is a row of the same pattern (captures decoded in x->params) or a
 * 405 whose Allow names exactly that pattern's methods; never a row of
 * another pattern. A word row's path is also a capture row's path
 * (".../subscriptions" under "/me/notifications/{}"): the case that broke,
 * where GET answered "notification not found", PATCH reached the
 * notification's route, and GET .../subscriptions/{id} 405.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_exchange.h"
#include "gateway_routes.h"
#include "testutil.h"

/* PATTERN with every "{}" replaced by fill, under /beta if versioned. */
static void
concrete(const uns_gw_route *r, const char *fill, char *out, size_t cap)
{
	size_t o =
	    (size_t)snprintf(out, cap, "%s", r->versioned ? "/beta" : "");
	for (const char *p = r->pattern; *p && o + 1 < cap; p++) {
		if (strncmp(p, "{}", 2) == 0) {
			o += (size_t)snprintf(out + o, cap - o, "%s", fill);
			p++;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

/* The methods of the rows with pattern, as "GET, POST" in table order. */
static void
methods_of(const char *pattern, int versioned, char *out, size_t cap)
{
	out[0] = '\0';
	for (size_t i = 0; i < uns_gw_n_routes; i++) {
		const uns_gw_route *r = &uns_gw_routes[i];
		size_t len = strlen(out);
		if (strcmp(r->pattern, pattern) == 0 &&
		    r->versioned == versioned &&
		    strstr(out, r->method) == NULL) {
			snprintf(out + len, cap - len, "%s%s", len ? ", " : "",
			         r->method);
		}
	}
}

static void
check_row(const uns_gw_route *want, const char *fill)
{
	char path[512], allow[64], expect_allow[64];
	concrete(want, fill, path, sizeof(path));
	methods_of(want->pattern, want->versioned, expect_allow,
	           sizeof(expect_allow));
	for (size_t m = 0; m < uns_gw_n_routes; m++) {
		const char *method = uns_gw_routes[m].method;
		uns_gw_exchange x;
		const uns_gw_route *got = NULL;
		memset(&x, 0, sizeof(x));
		uns_gw_match res = uns_gw_route_find(method, path, &x, &got,
		                                     allow, sizeof(allow));
		if (res == UNS_GW_MATCHED) {
			if (strcmp(got->pattern, want->pattern) != 0 ||
			    strcmp(got->method, method) != 0) {
				fail_msg("%s %s went to %s %s (%s)", method,
				         path, got->method, got->pattern,
				         got->name);
			}
			if (strstr(want->pattern, "{}") != NULL) {
				assert_string_equal(x.params[0], fill);
			}
		} else if (res == UNS_GW_NO_METHOD) {
			if (strcmp(allow, expect_allow) != 0) {
				fail_msg("%s %s: 405 with Allow \"%s\", want "
				         "\"%s\"",
				         method, path, allow, expect_allow);
			}
			assert_null(strstr(expect_allow, method));
		} else {
			fail_msg("%s %s: no route", method, path);
		}
		free(x.params); /* the captures, allocated by the match */
	}
}

/* Every row, its captures filled with an id, asked with every method. */
static void
test_literal_segments_win(void **state)
{
	(void)state;
	for (size_t i = 0; i < uns_gw_n_routes; i++) {
		check_row(&uns_gw_routes[i], "AAAAAAAAAAAAAAAAAAAAAA");
	}
}

/* The two paths of issue 19, by name. */
static void
test_subscription_paths(void **state)
{
	static const struct {
		const char *method, *url, *name;
	} cases[] = {
	    {"GET", "/v1.0/me/notifications/subscriptions",
	     "subscriptions.list"},
	    {"GET", "/beta/me/notifications/subscriptions/",
	     "subscriptions.list"},
	    {"GET", "/v1.0/me/notifications/subscriptions/abc",
	     "subscriptions.get"},
	    {"DELETE", "/v1.0/me/notifications/subscriptions/abc",
	     "subscriptions.delete"},
	    {"GET", "/v1.0/me/notifications/delta", "notifications.delta"},
	    {"GET", "/v1.0/me/notifications/abc", "notifications.get"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uns_gw_exchange x;
		const uns_gw_route *r = NULL;
		char allow[64];
		memset(&x, 0, sizeof(x));
		assert_int_equal(uns_gw_route_find(cases[i].method,
		                                   cases[i].url, &x, &r, allow,
		                                   sizeof(allow)),
		                 UNS_GW_MATCHED);
		assert_string_equal(r->name, cases[i].name);
		free(x.params);
	}
	uns_gw_exchange x;
	const uns_gw_route *r = NULL;
	char allow[64];
	memset(&x, 0, sizeof(x));
	assert_int_equal(
	    uns_gw_route_find("PATCH", "/v1.0/me/notifications/subscriptions",
	                      &x, &r, allow, sizeof(allow)),
	    UNS_GW_NO_METHOD);
	assert_string_equal(allow, "POST, GET");
	assert_int_equal(uns_gw_route_find("GET", "/v1.0/me/nothing", &x, &r,
	                                   allow, sizeof(allow)),
	                 UNS_GW_NO_ROUTE);
	free(x.params);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_literal_segments_win),
	    cmocka_unit_test(test_subscription_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
