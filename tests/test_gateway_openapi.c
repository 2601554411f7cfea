/*
 * test_gateway_openapi.c — the OpenAPI document of GET /openapi.json
 * against the gateway's route table: valid JSON with OpenAPI 3's basic
 * structure (openapi, info, paths, operations with responses, unique
 * operationIds, declared path parameters, resolvable schema refs), and
 * the same set of (method, path) as the table in both directions, each
 * versioned row under /beta and /v1.0. A path of the document stands under
 * each of its servers (its own "servers", else the document's), so the
 * versioned paths are written once.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway_openapi.h"
#include "gateway_routes.h"
#include "testutil.h"

static const char *const http_methods[] = {"get",     "put",  "post",  "delete",
                                           "options", "head", "patch", "trace"};
#define N_HTTP_METHODS (sizeof(http_methods) / sizeof(http_methods[0]))

static json_t *
document(void)
{
	json_error_t e;
	json_t *doc =
	    json_loads(uns_gw_openapi_json, JSON_REJECT_DUPLICATES, &e);
	if (doc == NULL) {
		fail_msg("openapi.json line %d: %s", e.line, e.text);
	}
	return doc;
}

/* "/beta/me/notifications/{id}" → "/beta/me/notifications/{}". */
static void
normalize(const char *path, char *out, size_t cap)
{
	size_t o = 0;
	for (const char *p = path; *p && o + 3 < cap; p++) {
		if (*p == '{') {
			const char *end = strchr(p, '}');
			assert_non_null(end);
			out[o++] = '{';
			out[o++] = '}';
			p = end;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

static int
is_http_method(const char *k)
{
	for (size_t i = 0; i < N_HTTP_METHODS; i++) {
		if (strcmp(k, http_methods[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Adds "METHOD PREFIX+NORM" for every operation of a path item. */
static void
add_operations(json_t *ops, json_t *item, const char *prefix, const char *norm)
{
	const char *method;
	json_t *op;
	char key[700];
	size_t plen = strlen(prefix);
	if (plen > 0 && prefix[plen - 1] == '/') {
		plen--; /* server "/" + "/healthz" is "/healthz" */
	}
	json_object_foreach(item, method, op)
	{
		if (is_http_method(method)) {
			snprintf(key, sizeof(key), "%s %.*s%s", method,
			         (int)plen, prefix, norm);
			json_object_set_new(ops, key, json_true());
		}
	}
}

/* "post /beta/me/notifications" for every operation in the document,
 * under each server of its path. */
static json_t *
document_operations(json_t *doc)
{
	json_t *ops = json_object();
	const char *path;
	json_t *item, *server;
	char norm[512];
	size_t i;
	json_object_foreach(json_object_get(doc, "paths"), path, item)
	{
		json_t *servers = json_object_get(item, "servers");
		if (servers == NULL) {
			servers = json_object_get(doc, "servers");
		}
		assert_true(json_is_array(servers) &&
		            json_array_size(servers) > 0);
		normalize(path, norm, sizeof(norm));
		json_array_foreach(servers, i, server)
		{
			const char *url =
			    json_string_value(json_object_get(server, "url"));
			assert_non_null(url);
			add_operations(ops, item, url, norm);
		}
	}
	return ops;
}

static json_t *
table_operations(void)
{
	static const char *const versions[] = {"/beta", "/v1.0"};
	json_t *ops = json_object();
	char key[600], method[16];
	for (size_t i = 0; i < uns_gw_n_routes; i++) {
		const uns_gw_route *r = &uns_gw_routes[i];
		size_t n = strlen(r->method);
		assert_true(n < sizeof(method));
		for (size_t j = 0; j <= n; j++) {
			method[j] = (char)tolower((unsigned char)r->method[j]);
		}
		for (size_t v = 0; v < (r->versioned ? 2u : 1u); v++) {
			snprintf(key, sizeof(key), "%s %s%s", method,
			         r->versioned ? versions[v] : "", r->pattern);
			json_object_set_new(ops, key, json_true());
		}
	}
	return ops;
}

static void
test_routes_match_the_table(void **state)
{
	(void)state;
	json_t *doc = document();
	json_t *in_doc = document_operations(doc);
	json_t *in_table = table_operations();
	const char *key;
	json_t *v;
	int missing = 0;
	json_object_foreach(in_table, key, v)
	{
		if (json_object_get(in_doc, key) == NULL) {
			fprintf(stderr, "route not in openapi.json: %s\n", key);
			missing++;
		}
	}
	json_object_foreach(in_doc, key, v)
	{
		if (json_object_get(in_table, key) == NULL) {
			fprintf(stderr, "openapi.json names no route: %s\n",
			        key);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
	/* The table has the operational routes of this issue. */
	assert_non_null(json_object_get(in_table, "post /oauth2/v2.0/token"));
	assert_non_null(json_object_get(in_table, "get /metrics"));
	assert_non_null(json_object_get(in_table, "get /openapi.json"));
	json_decref(in_doc);
	json_decref(in_table);
	json_decref(doc);
}

/* Every "{name}" in path has a parameter {in: path, name, required}. */
static void
check_path_params(const char *path, json_t *item, json_t *op)
{
	for (const char *p = strchr(path, '{'); p; p = strchr(p + 1, '{')) {
		size_t n = strcspn(p + 1, "}");
		int found = 0;
		json_t *lists[] = {json_object_get(op, "parameters"),
		                   json_object_get(item, "parameters")};
		for (size_t l = 0; l < 2; l++) {
			size_t i;
			json_t *prm;
			json_array_foreach(lists[l], i, prm)
			{
				const char *name = json_string_value(
				    json_object_get(prm, "name"));
				const char *in = json_string_value(
				    json_object_get(prm, "in"));
				found |= name && in &&
				         strcmp(in, "path") == 0 &&
				         strlen(name) == n &&
				         strncmp(name, p + 1, n) == 0 &&
				         json_is_true(
				             json_object_get(prm, "required"));
			}
		}
		if (!found) {
			fail_msg("%s: no required path parameter %.*s", path,
			         (int)n, p + 1);
		}
	}
}

/* Every "$ref" anywhere points into components/schemas. */
static void
check_refs(json_t *doc, json_t *node)
{
	const char *key;
	json_t *v;
	size_t i;
	if (json_is_array(node)) {
		json_array_foreach(node, i, v)
		{
			check_refs(doc, v);
		}
		return;
	}
	if (!json_is_object(node)) {
		return;
	}
	json_object_foreach(node, key, v)
	{
		if (strcmp(key, "$ref") == 0) {
			const char *ref = json_string_value(v);
			const char *prefix = "#/components/schemas/";
			assert_non_null(ref);
			assert_memory_equal(ref, prefix, strlen(prefix));
			json_t *schemas = json_object_get(
			    json_object_get(doc, "components"), "schemas");
			if (json_object_get(schemas, ref + strlen(prefix)) ==
			    NULL) {
				fail_msg("unresolved $ref %s", ref);
			}
		} else {
			check_refs(doc, v);
		}
	}
}

static void
test_openapi_structure(void **state)
{
	(void)state;
	json_t *doc = document();
	const char *version =
	    json_string_value(json_object_get(doc, "openapi"));
	assert_non_null(version);
	assert_memory_equal(version, "3.", 2);
	json_t *info = json_object_get(doc, "info");
	assert_true(json_is_string(json_object_get(info, "title")));
	assert_true(json_is_string(json_object_get(info, "version")));
	json_t *paths = json_object_get(doc, "paths");
	assert_true(json_is_object(paths) && json_object_size(paths) > 0);
	json_t *ids = json_object();
	const char *path, *method;
	json_t *item, *op;
	json_object_foreach(paths, path, item)
	{
		assert_int_equal(path[0], '/');
		json_object_foreach(item, method, op)
		{
			if (!is_http_method(method)) {
				continue;
			}
			json_t *responses = json_object_get(op, "responses");
			if (!json_is_object(responses) ||
			    json_object_size(responses) == 0) {
				fail_msg("%s %s: no responses", method, path);
			}
			const char *id = json_string_value(
			    json_object_get(op, "operationId"));
			if (id == NULL || json_object_get(ids, id) != NULL) {
				fail_msg("%s %s: missing or repeated "
				         "operationId",
				         method, path);
			}
			json_object_set_new(ids, id, json_true());
			check_path_params(path, item, op);
		}
	}
	check_refs(doc, doc);
	json_decref(ids);
	json_decref(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_routes_match_the_table),
	    cmocka_unit_test(test_openapi_structure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
