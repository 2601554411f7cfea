/*
 * test_json_value.c — the JSON value API (common/json/json_value.h): parse
 * errors located by line, column and byte with a reason; duplicates and
 * NUL refused; typed getters that say what they found; integers in range;
 * iteration in insertion order; builders that take references as stated;
 * dumps compact and pretty, and into a json_buf.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "json_buf.h"
#include "json_value.h"

static uns_jv *
parse_ok(const char *text, int flags)
{
	uns_jv *v = NULL;
	uns_jv_error e;
	assert_int_equal(uns_jv_parse(text, strlen(text), flags, &v, &e),
	                 UNS_OK);
	assert_non_null(v);
	return v;
}

static void
parse_errors(void **state)
{
	static const struct {
		const char *text;
		size_t len; /* 0: strlen */
		int flags;
		int line, column;
		long position;
		const char *reason; /* a part of the reason */
	} cases[] = {
	    {"{\"a\": 1,\n  \"b\": tru}", 0, 0, 2, 10, 19, "invalid token"},
	    {"{\"a\":1,\"a\":2}", 0, 0, 1, 10, 10, "duplicate"},
	    {"\"x\"", 0, 0, 1, 3, 3, "expected"},
	    {"[1,2", 0, 0, 1, 4, 4, "]"},
	    {"{\"a\":\"\\u0000\"}", 0, 0, 1, 13, 13,
	     "\\u0000 is not allowed in a string"},
	    {"{\"a\":\"x\0y\"}", 11, 0, 1, 8, 8, "NUL"},
	    {"[1] [2]", 0, 0, 1, 5, 5, "end of file expected"},
	    {"{\"a\":\"\xff\"}", 0, 0, 1, 6, 6, "0xff"},
	    {"[99999999999999999999]", 0, 0, 1, 21, 21, "too big"},
	};
	uns_jv *v = NULL;
	uns_jv_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len =
		    cases[i].len ? cases[i].len : strlen(cases[i].text);
		memset(&e, 0, sizeof(e));
		assert_int_equal(
		    uns_jv_parse(cases[i].text, len, cases[i].flags, &v, &e),
		    UNS_INVALID_ARGUMENT);
		assert_null(v);
		if (strstr(e.reason, cases[i].reason) == NULL ||
		    e.line != cases[i].line || e.column != cases[i].column ||
		    e.position != cases[i].position) {
			fail_msg("case %zu: %d:%d @%ld \"%s\"", i, e.line,
			         e.column, e.position, e.reason);
		}
	}
	assert_int_equal(uns_jv_parse("", 0, 0, &v, &e), UNS_INVALID_ARGUMENT);
	assert_non_null(strstr(e.reason, "empty"));
	assert_int_equal(uns_jv_parse(NULL, 1, 0, &v, &e), UNS_EINVAL);
	assert_int_equal(uns_jv_parse("{}", 2, 0, NULL, &e), UNS_EINVAL);
	/* err may be NULL */
	assert_int_equal(uns_jv_parse("{", 1, 0, &v, NULL),
	                 UNS_INVALID_ARGUMENT);
}

static void
parse_flags(void **state)
{
	uns_jv *v;
	(void)state;
	v = parse_ok("\"x\"", UNS_JV_ANY);
	assert_string_equal(uns_jv_string(v), "x");
	uns_jv_free(v);
	v = parse_ok("{\"a\":1,\"a\":2}", UNS_JV_DUPLICATES);
	assert_int_equal(uns_jv_len(v), 1);
	uns_jv_free(v);
	/* only the given length is read */
	assert_int_equal(uns_jv_parse("{}garbage", 2, 0, &v, NULL), UNS_OK);
	uns_jv_free(v);
}

static void
getters(void **state)
{
	uns_jv *v = parse_ok("{\"s\":\"h\\u00e9llo\",\"i\":-7,\"big\":"
	                     "9223372036854775807,\"r\":1.5,\"one\":1.0,"
	                     "\"t\":true,\"f\":false,\"n\":null,"
	                     "\"a\":[10,\"x\",{}],\"o\":{\"k\":\"v\"}}",
	                     0);
	const char *s;
	size_t len;
	int64_t i;
	double d;
	bool b;

	(void)state;
	assert_int_equal(uns_jv_typeof(v), UNS_JV_OBJECT);
	assert_int_equal(uns_jv_len(v), 10);
	assert_int_equal(uns_jv_str(uns_jv_get(v, "s"), &s, &len), UNS_OK);
	assert_int_equal(len, 6);
	assert_string_equal(s, "h\xc3\xa9llo");
	assert_int_equal(uns_jv_str(uns_jv_get(v, "i"), &s, &len),
	                 UNS_INVALID_ARGUMENT);
	assert_null(uns_jv_string(uns_jv_get(v, "i")));
	assert_null(uns_jv_string(uns_jv_get(v, "missing")));

	assert_int_equal(uns_jv_int(uns_jv_get(v, "i"), -10, 10, &i), UNS_OK);
	assert_int_equal(i, -7);
	i = 42;
	assert_int_equal(uns_jv_int(uns_jv_get(v, "i"), 0, 10, &i),
	                 UNS_OUT_OF_RANGE);
	assert_int_equal(uns_jv_int(uns_jv_get(v, "i"), -10, -8, &i),
	                 UNS_OUT_OF_RANGE);
	assert_int_equal(i, 42); /* out-params set only on success */
	assert_int_equal(uns_jv_int(uns_jv_get(v, "big"), 0, INT64_MAX, &i),
	                 UNS_OK);
	assert_true(i == INT64_MAX);
	assert_int_equal(uns_jv_int(uns_jv_get(v, "one"), 0, 10, &i),
	                 UNS_INVALID_ARGUMENT);
	assert_int_equal(uns_jv_int(uns_jv_get(v, "i"), 10, 0, &i), UNS_EINVAL);
	assert_int_equal(uns_jv_number(uns_jv_get(v, "r"), &d), UNS_OK);
	assert_true(d == 1.5);
	assert_int_equal(uns_jv_number(uns_jv_get(v, "i"), &d), UNS_OK);
	assert_true(d == -7.0);
	assert_int_equal(uns_jv_number(uns_jv_get(v, "s"), &d),
	                 UNS_INVALID_ARGUMENT);

	assert_int_equal(uns_jv_bool(uns_jv_get(v, "t"), &b), UNS_OK);
	assert_true(b);
	assert_int_equal(uns_jv_bool(uns_jv_get(v, "f"), &b), UNS_OK);
	assert_false(b);
	assert_int_equal(uns_jv_bool(uns_jv_get(v, "n"), &b),
	                 UNS_INVALID_ARGUMENT);
	assert_true(uns_jv_is_true(uns_jv_get(v, "t")));
	assert_false(uns_jv_is_true(uns_jv_get(v, "f")));
	assert_false(uns_jv_is_true(NULL));

	assert_int_equal(uns_jv_typeof(uns_jv_get(v, "n")), UNS_JV_NULL);
	assert_int_equal(uns_jv_typeof(NULL), UNS_JV_NULL);
	assert_int_equal(uns_jv_typeof(uns_jv_get(v, "r")), UNS_JV_REAL);
	assert_string_equal(uns_jv_kind(uns_jv_get(v, "a")), "a JSON array");
	assert_string_equal(uns_jv_kind(uns_jv_get(v, "f")), "a JSON boolean");
	assert_string_equal(uns_jv_kind(NULL), "JSON null");

	assert_int_equal(uns_jv_len(uns_jv_get(v, "a")), 3);
	assert_int_equal(
	    uns_jv_int(uns_jv_at(uns_jv_get(v, "a"), 0), 0, 99, &i), UNS_OK);
	assert_int_equal(i, 10);
	assert_null(uns_jv_at(uns_jv_get(v, "a"), 3));
	assert_null(uns_jv_at(uns_jv_get(v, "o"), 0));
	assert_string_equal(uns_jv_string(uns_jv_get(uns_jv_get(v, "o"), "k")),
	                    "v");
	/* a chain through absent or wrong-typed members ends in NULL */
	assert_null(uns_jv_get(uns_jv_get(v, "nope"), "k"));
	assert_null(uns_jv_get(uns_jv_get(v, "a"), "k"));
	assert_null(uns_jv_get(v, NULL));
	assert_int_equal(uns_jv_len(uns_jv_get(v, "s")), 0);
	uns_jv_free(v);
}

static void
iteration(void **state)
{
	uns_jv *v = parse_ok("{\"z\":1,\"a\":2,\"m\":3}", 0);
	uns_jv *a = parse_ok("[\"x\",\"y\"]", 0);
	static const char *const keys[] = {"z", "a", "m"};
	uns_jv_iter it;
	const char *key;
	uns_jv *val;
	size_t n = 0;
	int64_t i;

	(void)state;
	uns_jv_iter_init(&it, v);
	while (uns_jv_iter_next(&it, &key, &val)) {
		assert_true(n < 3);
		assert_string_equal(key, keys[n]);
		assert_int_equal(uns_jv_int(val, 0, 9, &i), UNS_OK);
		assert_int_equal(i, (int64_t)n + 1);
		n++;
	}
	assert_int_equal(n, 3);
	n = 0;
	uns_jv_iter_init(&it, a);
	while (uns_jv_iter_next(&it, &key, &val)) {
		assert_null(key);
		assert_string_equal(uns_jv_string(val), n == 0 ? "x" : "y");
		n++;
	}
	assert_int_equal(n, 2);
	uns_jv_iter_init(&it, uns_jv_at(a, 0));
	assert_false(uns_jv_iter_next(&it, &key, &val));
	uns_jv_iter_init(&it, NULL);
	assert_false(uns_jv_iter_next(&it, NULL, &val));
	uns_jv_free(v);
	uns_jv_free(a);
}

static void
builders(void **state)
{
	uns_jv *o = uns_jv_new_object();
	uns_jv *arr = uns_jv_new_array();
	uns_jv *kept;
	char *text = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(uns_jv_set_str(o, "b", "x\"y"), UNS_OK);
	assert_int_equal(uns_jv_set_int(o, "a", -3), UNS_OK);
	assert_int_equal(uns_jv_set_bool(o, "t", true), UNS_OK);
	assert_int_equal(uns_jv_set_strn(o, "n", "abc", 2), UNS_OK);
	assert_int_equal(uns_jv_set(o, "z", uns_jv_new_null()), UNS_OK);
	assert_int_equal(uns_jv_append(arr, uns_jv_new_int(1)), UNS_OK);
	assert_int_equal(uns_jv_append(arr, uns_jv_new_real(0.5)), UNS_OK);
	assert_int_equal(uns_jv_append(arr, uns_jv_new_str("\xe2\x82\xac")),
	                 UNS_OK);
	kept = uns_jv_ref(arr);
	assert_int_equal(uns_jv_set(o, "arr", arr), UNS_OK);
	/* replacing keeps the member's place */
	assert_int_equal(uns_jv_set_int(o, "a", 4), UNS_OK);

	/* refused values: bad UTF-8, NUL inside, NaN; NULL is ENOMEM and
	 * a wrong container frees the value it was given */
	assert_null(uns_jv_new_str("\xff"));
	assert_null(uns_jv_new_strn("a\0b", 3));
	assert_null(uns_jv_new_str(NULL));
	assert_null(uns_jv_new_real(0.0 / 0.0));
	assert_int_equal(uns_jv_set(o, "bad", uns_jv_new_str("\xc3")),
	                 UNS_ENOMEM);
	assert_int_equal(uns_jv_set(arr, "k", uns_jv_new_int(1)), UNS_EINVAL);
	assert_int_equal(uns_jv_append(o, uns_jv_new_int(1)), UNS_EINVAL);
	assert_int_equal(uns_jv_set_int(o, "\xff", 1), UNS_EINVAL);
	assert_int_equal(uns_jv_del(o, "n"), UNS_OK);
	assert_int_equal(uns_jv_del(o, "n"), UNS_NOT_FOUND);
	assert_int_equal(uns_jv_del(arr, "n"), UNS_EINVAL);

	assert_int_equal(uns_jv_dump(o, 0, &text, &len), UNS_OK);
	assert_string_equal(text,
	                    "{\"b\":\"x\\\"y\",\"a\":4,\"t\":true,"
	                    "\"z\":null,\"arr\":[1,0.5,\"\xe2\x82\xac\"]}");
	assert_int_equal(len, strlen(text));
	free(text);
	assert_int_equal(uns_jv_dump(o, UNS_JV_SORT_KEYS, &text, NULL), UNS_OK);
	assert_string_equal(text, "{\"a\":4,\"arr\":[1,0.5,\"\xe2\x82\xac\"],"
	                          "\"b\":\"x\\\"y\",\"t\":true,\"z\":null}");
	free(text);
	assert_int_equal(uns_jv_dump(kept, UNS_JV_PRETTY, &text, NULL), UNS_OK);
	assert_string_equal(text, "[\n  1,\n  0.5,\n  \"\xe2\x82\xac\"\n]");
	free(text);
	uns_jv_free(o);
	/* kept still holds the array after its container went */
	assert_int_equal(uns_jv_len(kept), 3);
	uns_jv_free(kept);
	uns_jv_free(NULL);
	assert_int_equal(uns_jv_dump(NULL, 0, &text, NULL), UNS_EINVAL);
}

static void
copy_and_buf(void **state)
{
	uns_jv *v = parse_ok("{\"a\":[1,{\"b\":\"c\"}]}", 0);
	uns_jv *c = uns_jv_copy(v);
	uns_json_buf b;
	char *text;
	size_t len;

	(void)state;
	assert_int_equal(
	    uns_jv_set_int(uns_jv_at(uns_jv_get(c, "a"), 1), "b", 2), UNS_OK);
	uns_json_buf_init(&b);
	uns_json_buf_lit(&b, "[");
	uns_jv_write(v, &b);
	uns_json_buf_lit(&b, ",");
	uns_jv_write(c, &b);
	uns_json_buf_lit(&b, "]");
	assert_int_equal(uns_json_buf_take(&b, &text, &len), UNS_OK);
	assert_string_equal(text, "[{\"a\":[1,{\"b\":\"c\"}]},"
	                          "{\"a\":[1,{\"b\":2}]}]");
	free(text);
	uns_json_buf_init(&b);
	uns_jv_write(NULL, &b);
	assert_int_equal(b.err, UNS_EINVAL);
	uns_json_buf_free(&b);
	uns_jv_free(v);
	uns_jv_free(c);
}

static void
parse_file(void **state)
{
	char path[] = "/tmp/uns-jv-XXXXXX";
	int fd = mkstemp(path);
	uns_jv *v = NULL;
	uns_jv_error e;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"k\":\n[1,]}", 11), 11);
	close(fd);
	assert_int_equal(uns_jv_parse_file(path, 0, &v, &e),
	                 UNS_INVALID_ARGUMENT);
	assert_int_equal(e.line, 2);
	assert_int_equal(e.column, 4);
	unlink(path);
	assert_int_equal(uns_jv_parse_file(path, 0, &v, &e), UNS_EIO);
	assert_non_null(strstr(e.reason, path));
	assert_null(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parse_errors), cmocka_unit_test(parse_flags),
	    cmocka_unit_test(getters),      cmocka_unit_test(iteration),
	    cmocka_unit_test(builders),     cmocka_unit_test(copy_and_buf),
	    cmocka_unit_test(parse_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
