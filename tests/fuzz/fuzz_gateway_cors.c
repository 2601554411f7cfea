/*
 * fuzz_gateway_cors.c — libFuzzer target for the gateway's CORS decisions
 * (server/gateway/gateway_cors.c) and the route table's preflight lists
 * (uns_gw_route_allows in gateway_routes.c).
 *
 * The input is "ALLOWED\0ORIGIN" (no NUL: all of it is the origin, the
 * list is empty), and the whole input as a URL path. The origin must be
 * allowed exactly when a reference written apart (strtok_r on a copy)
 * finds "*" or the origin itself among the list's words; the preflight
 * lists of the path must be both empty or both filled, every method one of
 * the table's, no name twice, and the headers must begin with the common
 * ones. A broken promise aborts.
 *
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_gateway_cors
 *   build-fuzz/fuzz_gateway_cors -max_total_time=60 \
 *     tests/fuzz/corpus/gateway_cors
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_cors.h"
#include "gateway_routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
reference_allowed(const char *allowed, const char *origin)
{
	char *copy = strdup(allowed), *save = NULL;
	int yes = 0;
	if (copy == NULL) {
		abort();
	}
	for (char *w = strtok_r(copy, " ,\t", &save); w && origin[0];
	     w = strtok_r(NULL, " ,\t", &save)) {
		yes |= strcmp(w, "*") == 0 || strcmp(w, origin) == 0;
	}
	free(copy);
	return yes;
}

static int
table_method(const char *m, size_t n)
{
	for (size_t i = 0; i < uns_gw_n_routes; i++) {
		if (strlen(uns_gw_routes[i].method) == n &&
		    strncmp(uns_gw_routes[i].method, m, n) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Each ", " separated name of list passes ok(), none twice. */
static void
check_list(const char *list, int (*ok)(const char *, size_t))
{
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		if (n == 0 || (ok && !ok(p, n))) {
			abort();
		}
		for (const char *q = p + n; *q; q += strcspn(q, ",")) {
			q += *q == ',' ? 2 : 0;
			if (strncmp(q, p, n) == 0 && (q[n] == ',' || !q[n])) {
				abort();
			}
		}
		p += n;
		p += *p == ',' ? 2 : 0;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), methods[128], headers[512];
	if (in == NULL) {
		abort();
	}
	memcpy(in, data, size);
	in[size] = '\0';
	size_t first = strlen(in);
	const char *allowed = first < size ? in : "";
	const char *origin = first < size ? in + first + 1 : in;
	if (uns_gw_cors_allowed(allowed, origin) !=
	    reference_allowed(allowed, origin)) {
		abort();
	}
	int any = uns_gw_route_allows(in, methods, sizeof(methods), headers,
	                              sizeof(headers));
	if (any != (methods[0] != '\0') || any != (headers[0] != '\0') ||
	    (any && strncmp(headers, uns_gw_common_headers,
	                    strlen(uns_gw_common_headers)) != 0)) {
		abort();
	}
	check_list(methods, table_method);
	check_list(headers, NULL);
	free(in);
	return 0;
}
