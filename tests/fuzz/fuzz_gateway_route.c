/*
 * fuzz_gateway_route.c — libFuzzer target for the gateway's request line
 * as UNS reads it (server/gateway/gateway_routes.c): the method and the
 * raw, percent-encoded path, matched against the route table with the
 * path's captures percent-decoded. libmicrohttpd parses the HTTP syntax
 * before this; what it hands on is any bytes.
 *
 * The input is "METHOD URL" (split at the first space). A match must name
 * a route of that method whose path points into the URL and whose
 * captures are terminated inside their buffers; NO_METHOD
 * gives a non-empty Allow list of known methods. A broken promise aborts.
 *
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_gateway_route
 *   build-fuzz/fuzz_gateway_route -max_total_time=60 \
 *     tests/fuzz/corpus/gateway_route
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_exchange.h"
#include "gateway_routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_gateway_route: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[4096], allow[128];
	if (size >= sizeof(buf)) {
		return 0;
	}
	memcpy(buf, data, size);
	buf[size] = '\0';
	char *sp = strchr(buf, ' ');
	if (sp == NULL) {
		return 0;
	}
	*sp = '\0';
	const char *method = buf, *url = sp + 1;
	uns_gw_exchange *x = calloc(1, sizeof(*x));
	const uns_gw_route *r = NULL;
	allow[0] = '\0';
	switch (uns_gw_route_find(method, url, x, &r, allow, sizeof(allow))) {
	case UNS_GW_MATCHED:
		must(r != NULL && strcmp(r->method, method) == 0,
		     "matched another method");
		must(x->path >= url && x->path <= url + strlen(url),
		     "path outside the url");
		for (int i = 0; x->params != NULL && i < UNS_GW_MAX_PARAMS;
		     i++) {
			must(memchr(x->params[i], '\0', UNS_GW_PARAM_MAX) !=
			         NULL,
			     "capture not terminated");
		}
		break;
	case UNS_GW_NO_METHOD:
		must(allow[0] != '\0', "405 without Allow");
		break;
	case UNS_GW_NO_ROUTE:
		break;
	default:
		must(0, "unknown match");
	}
	free(x->params);
	free(x);
	return 0;
}
