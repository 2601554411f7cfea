/*
 * test_platform.c — the one table of platform names (common/platform.h):
 * every platform of the proto but 0 has a name, names go both ways, and
 * docs/openapi.json lists exactly these names, in this order, wherever it
 * enumerates platforms (so a platform added to the proto without its row,
 * or a row without the documentation, fails here).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "platform.h"

static void
test_every_platform_named(void **state)
{
	const ProtobufCEnumDescriptor *d = &uns__v1__platform__descriptor;

	(void)state;
	for (unsigned i = 0; i < d->n_values; i++) {
		int v = d->values[i].value;
		const char *name = uns_platform_name(v);
		Uns__V1__Platform back =
		    UNS__V1__PLATFORM__PLATFORM_UNSPECIFIED;
		if (v == UNS__V1__PLATFORM__PLATFORM_UNSPECIFIED) {
			assert_null(name);
			continue;
		}
		assert_non_null(name);
		assert_true(uns_platform_parse(name, &back));
		assert_int_equal(back, v);
	}
	assert_null(uns_platform_name(-1));
	assert_null(uns_platform_name(1000));
}

static void
test_graph_spelling(void **state)
{
	Uns__V1__Platform p = UNS__V1__PLATFORM__PLATFORM_UNSPECIFIED;

	(void)state;
	assert_string_equal(uns_platform_name(UNS__V1__PLATFORM__PLATFORM_IOS),
	                    "ios");
	assert_string_equal(
	    uns_platform_name(UNS__V1__PLATFORM__PLATFORM_WEB_PUSH), "webPush");
	assert_true(uns_platform_parse("iOS", &p));
	assert_int_equal(p, UNS__V1__PLATFORM__PLATFORM_IOS);
	assert_false(uns_platform_parse("web_push", &p));
	assert_false(uns_platform_parse("", &p));
	assert_false(uns_platform_parse(NULL, &p));
}

/* Every "enum" array holding "webhook", compared with the table. */
static int
check_enums(json_t *v)
{
	const ProtobufCEnumDescriptor *d = &uns__v1__platform__descriptor;
	const char *key;
	json_t *e, *m;
	size_t i, n = 0;
	int found = 0;

	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			found += check_enums(e);
		}
		return found;
	}
	if (!json_is_object(v)) {
		return 0;
	}
	e = json_object_get(v, "enum");
	for (i = 0; json_is_array(e) && i < json_array_size(e); i++) {
		const char *s = json_string_value(json_array_get(e, i));
		if (s != NULL && strcmp(s, "webhook") == 0) {
			n = json_array_size(e);
		}
	}
	if (n > 0) {
		size_t k = 0;
		for (i = 0; i < d->n_values; i++) {
			const char *name =
			    uns_platform_name(d->values[i].value);
			if (name == NULL) {
				continue;
			}
			assert_true(k < n);
			assert_string_equal(
			    json_string_value(json_array_get(e, k)), name);
			k++;
		}
		assert_int_equal(k, n);
		found++;
	}
	json_object_foreach(v, key, m)
	{
		found += check_enums(m);
	}
	return found;
}

static void
test_openapi_lists_the_table(void **state)
{
	json_error_t err;
	json_t *doc =
	    json_load_file(UNS_SOURCE_DIR "/docs/openapi.json", 0, &err);

	(void)state;
	assert_non_null(doc);
	/* targetPolicy.platformTypes, Subscription.platform and the
	 * subscribe request's platform */
	assert_true(check_enums(doc) >= 3);
	json_decref(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_platform_named),
	    cmocka_unit_test(test_graph_spelling),
	    cmocka_unit_test(test_openapi_lists_the_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
