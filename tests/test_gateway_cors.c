/*
 * test_gateway_cors.c — web apps on the gateway: CORS (gateway_cors.h) and
 * the /web/ folder (gateway_web.c), over raw HTTP/1.1 written byte by byte
 * on a socket (what a browser sends: Origin, Access-Control-Request-*),
 * against in-process gateways on one real service (RocksDB, RPC over TCP).
 *
 * Two gateways: one with gateway_cors_origins naming one origin and a web
 * root, one with neither (the defaults). The preflight of every row of the
 * route table is checked against that row (its method and headers), so a
 * row added without its headers, or a preflight list kept apart from the
 * table, fails here.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "gateway.h"
#include "gateway_cors.h"
#include "gateway_routes.h"
#include "testutil.h"
#include "utservice.h"

#define APP     "cors-svc"
#define HOST    "cors.example.com"
#define ALLOWED "https://app.example.com"
#define OTHER   "https://evil.example.net"

typedef struct env {
	char dir[256], web[320], apps[320];
	ut_service s;
	uns_gateway *gw;  /* CORS for ALLOWED, /web/ served */
	uns_gateway *off; /* defaults */
	char user[2048], app[2048];
} env;

typedef struct raw_resp {
	int status;
	char head[8192];
	char body[8192];
} raw_resp;

/* Sends req as is on a new connection to port; reads the answer to EOF. */
static void
raw_http(int port, const char *req, raw_resp *r)
{
	static char buf[32768];
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port)};
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	char *end = strstr(buf, "\r\n\r\n");
	assert_non_null(end);
	*end = '\0';
	snprintf(r->head, sizeof(r->head), "%.8000s", buf);
	snprintf(r->body, sizeof(r->body), "%.8000s", end + 4);
	assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &r->status), 1);
}

/* A header's value (case-insensitive name), or NULL; one static buffer. */
static const char *
header(const raw_resp *r, const char *name)
{
	static char v[1024];
	size_t n = strlen(name);
	for (const char *p = strstr(r->head, "\r\n"); p != NULL;
	     p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
			const char *s = p + 3 + n + strspn(p + 3 + n, " ");
			snprintf(v, sizeof(v), "%.*s", (int)strcspn(s, "\r"),
			         s);
			return v;
		}
	}
	return NULL;
}

/* 1 when the ", " list has item (case-insensitive). */
static int
list_has(const char *list, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = list; p && *p; p += strcspn(p, ",")) {
		p += strspn(p, ", ");
		if (strncasecmp(p, item, n) == 0 &&
		    (p[n] == ',' || p[n] == '\0')) {
			return 1;
		}
	}
	return 0;
}

static void
open_gateway(env *e, uns_gateway **gw, const char *origins, const char *web)
{
	uns_gateway_config c = {.listen = "http://127.0.0.1:0",
	                        .rpc = e->s.client,
	                        .threads = 1,
	                        .cors_origins = origins,
	                        .web_root = web};
	assert_int_equal(uns_gateway_open(gw, &c), UNS_OK);
}

static int
setup(void **state)
{
	env *e = calloc(1, sizeof(*e));
	char path[400];
	ut_mkdtemp(e->dir, sizeof(e->dir));
	snprintf(e->apps, sizeof(e->apps), "%s/apps.conf", e->dir);
	ut_write_file(e->apps, APP " " HOST " -\n");
	snprintf(e->web, sizeof(e->web), "%s/web", e->dir);
	snprintf(path, sizeof(path), "mkdir -p %s", e->web);
	assert_int_equal(system(path), 0);
	snprintf(path, sizeof(path), "%s/index.html", e->web);
	ut_write_file(path, "<!doctype html><title>inbox</title>\n");
	snprintf(path, sizeof(path), "%s/app.js", e->web);
	ut_write_file(path, "export const x = 1;\n");
	snprintf(path, sizeof(path), "%s/.secret.txt", e->web);
	ut_write_file(path, "hidden\n");
	snprintf(path, sizeof(path), "%s/apps.conf", e->dir);
	ut_service_opts o = {.apps_conf = e->apps};
	ut_service_start(&e->s, e->dir, &o);
	open_gateway(e, &e->gw, "https://a.example.org, " ALLOWED, e->web);
	open_gateway(e, &e->off, NULL, NULL);
	ut_service_mint(e->user, sizeof(e->user), time(NULL), "ann", NULL, HOST,
	                UNS_SCOPE_USER);
	ut_service_mint(e->app, sizeof(e->app), time(NULL), NULL, APP, NULL,
	                UNS_SCOPE_APP);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	env *e = *state;
	uns_gateway_close(e->gw);
	uns_gateway_close(e->off);
	ut_service_stop(&e->s);
	ut_rmdir(e->dir);
	free(e);
	return 0;
}

/* A path for the row: "{}" taken by "x", under /beta when versioned. */
static void
row_path(const uns_gw_route *r, char *out, size_t cap)
{
	const char *p = r->pattern;
	size_t len =
	    (size_t)snprintf(out, cap, "%s", r->versioned ? "/beta" : "");
	for (; *p && len + 2 < cap; p++) {
		if (p[0] == '{' && p[1] == '}') {
			out[len++] = 'x';
			p++;
		} else {
			out[len++] = *p;
		}
	}
	out[len] = '\0';
}

static void
preflight(int port, const char *path, const char *origin, const char *method,
          raw_resp *r)
{
	char req[1024];
	snprintf(req, sizeof(req),
	         "OPTIONS %s HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: %s\r\n"
	         "Access-Control-Request-Method: %s\r\n"
	         "Access-Control-Request-Headers: authorization\r\n"
	         "Connection: close\r\n\r\n",
	         path, origin, method);
	raw_http(port, req, r);
}

/* Each row's preflight names its method, the common headers and its own. */
static void
test_preflight_every_route(void **state)
{
	env *e = *state;
	raw_resp r;
	char path[256], one[64];
	int port = uns_gateway_port(e->gw);
	for (size_t i = 0; i < uns_gw_n_routes; i++) {
		const uns_gw_route *row = &uns_gw_routes[i];
		row_path(row, path, sizeof(path));
		preflight(port, path, ALLOWED, row->method, &r);
		if (r.status != 204) {
			fail_msg("OPTIONS %s: %d", path, r.status);
		}
		assert_string_equal(header(&r, "Access-Control-Allow-Origin"),
		                    ALLOWED);
		assert_true(list_has(header(&r, "Access-Control-Allow-Methods"),
		                     row->method));
		assert_true(list_has(header(&r, "Allow"), row->method));
		const char *h = header(&r, "Access-Control-Allow-Headers");
		assert_non_null(h);
		for (const char *p = uns_gw_common_headers; *p;) {
			size_t n = strcspn(p, ",");
			snprintf(one, sizeof(one), "%.*s", (int)n, p);
			assert_true(list_has(h, one));
			p += n + strspn(p + n, ", ");
		}
		for (const char *p = row->headers ? row->headers : ""; *p;) {
			size_t n = strcspn(p, ",");
			snprintf(one, sizeof(one), "%.*s", (int)n, p);
			if (!list_has(h, one)) {
				fail_msg("OPTIONS %s: %s lacks %s", path, h,
				         one);
			}
			p += n + strspn(p + n, ", ");
		}
		assert_string_equal(header(&r, "Access-Control-Max-Age"),
		                    "600");
		assert_null(header(&r, "Access-Control-Allow-Credentials"));
		assert_null(header(&r, "Access-Control-Expose-Headers"));
	}
	/* One path, several rows: every method, no other. */
	preflight(port, "/v1.0/me/notifications/abc", ALLOWED, "PATCH", &r);
	assert_string_equal(header(&r, "Access-Control-Allow-Methods"),
	                    "GET, PATCH, DELETE");
	assert_true(
	    list_has(header(&r, "Access-Control-Allow-Headers"), "If-Match"));
	/* A literal row owns its path: delta is not a notification id. */
	preflight(port, "/beta/me/notifications/delta", ALLOWED, "GET", &r);
	assert_string_equal(header(&r, "Access-Control-Allow-Methods"), "GET");
	assert_false(
	    list_has(header(&r, "Access-Control-Allow-Headers"), "If-Match"));
	assert_true(list_has(header(&r, "Access-Control-Allow-Headers"),
	                     "Last-Event-ID"));
	preflight(port, "/beta/me/notifications", ALLOWED, "POST", &r);
	assert_false(
	    list_has(header(&r, "Access-Control-Allow-Headers"), "If-Match"));
	/* No route there: 404, as for any method. */
	preflight(port, "/beta/nothing/here", ALLOWED, "GET", &r);
	assert_int_equal(r.status, 404);
}

/* An origin not listed (or no CORS configured) gets no Access-Control-*
 * header, so the browser refuses the answer; a plain OPTIONS gets Allow. */
static void
test_refused_origins(void **state)
{
	env *e = *state;
	raw_resp r;
	int ports[] = {uns_gateway_port(e->gw), uns_gateway_port(e->off)};
	const char *origins[] = {OTHER, "https://app.example.com.evil.net",
	                         "https://app.example", "null"};
	for (size_t g = 0; g < 2; g++) {
		for (size_t i = 0; i < sizeof(origins) / sizeof(origins[0]);
		     i++) {
			preflight(ports[g], "/beta/me/notifications",
			          origins[i], "GET", &r);
			assert_int_equal(r.status, 204);
			assert_string_equal(header(&r, "Allow"), "POST, GET");
			assert_null(header(&r, "Access-Control-Allow-Origin"));
			assert_null(header(&r, "Access-Control-Allow-Methods"));
		}
	}
	preflight(ports[1], "/beta/me/notifications", ALLOWED, "GET", &r);
	assert_null(header(&r, "Access-Control-Allow-Origin"));
	assert_null(header(&r, "Vary"));
	raw_http(ports[0],
	         "OPTIONS /healthz HTTP/1.1\r\nHost: x\r\nConnection: "
	         "close\r\n\r\n",
	         &r);
	assert_int_equal(r.status, 204);
	assert_string_equal(header(&r, "Allow"), "GET");
	assert_null(header(&r, "Access-Control-Allow-Origin"));
}

static void
request(int port, const char *method, const char *path, const char *origin,
        const char *token, const char *extra, const char *body, raw_resp *r)
{
	char req[8192];
	snprintf(req, sizeof(req),
	         "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s%s%s%s"
	         "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	         "Connection: close\r\n\r\n%s",
	         method, path, origin ? "Origin: " : "", origin ? origin : "",
	         origin ? "\r\n" : "", token ? "Authorization: Bearer " : "",
	         token ? token : "", token ? "\r\n" : "", strlen(body), body);
	if (extra) { /* before the blank line */
		char *at = strstr(req, "Connection: close");
		memmove(at + strlen(extra), at, strlen(at) + 1);
		memcpy(at, extra, strlen(extra));
	}
	raw_http(port, req, r);
}

/* Answers to an allowed origin, errors too, name it and expose the
 * headers a client needs; tokens are read from Authorization only. */
static void
test_actual_requests(void **state)
{
	env *e = *state;
	raw_resp r;
	char cookie[2200];
	int port = uns_gateway_port(e->gw);
	request(port, "POST", "/beta/me/notifications", ALLOWED, e->app, NULL,
	        "{\"targetHostName\":\"" HOST "\",\"appNotificationId\":\"a1\","
	        "\"payload\":{\"rawContent\":\"x\"}}",
	        &r);
	/* an app posts to a user: no user named, so a 400 with CORS */
	assert_string_equal(header(&r, "Access-Control-Allow-Origin"), ALLOWED);
	request(port, "GET", "/beta/me/notifications", ALLOWED, e->user, NULL,
	        "", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Access-Control-Allow-Origin"), ALLOWED);
	assert_string_equal(header(&r, "Vary"), "Origin");
	const char *x = header(&r, "Access-Control-Expose-Headers");
	const char *want[] = {"Location", "ETag", "Retry-After", "request-id",
	                      "client-request-id"};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_true(list_has(x, want[i]));
	}
	assert_null(header(&r, "Access-Control-Allow-Credentials"));
	/* an error answer is readable too */
	request(port, "GET", "/beta/me/notifications/nope", ALLOWED, NULL, NULL,
	        "", &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(header(&r, "Access-Control-Allow-Origin"), ALLOWED);
	assert_non_null(strstr(r.body, "\"error\""));
	/* a token in a cookie is no token */
	snprintf(cookie, sizeof(cookie), "Cookie: access_token=%s\r\n",
	         e->user);
	request(port, "GET", "/beta/me/notifications", ALLOWED, NULL, cookie,
	        "", &r);
	assert_int_equal(r.status, 401);
	/* not allowed: answered, but nothing lets a browser read it */
	request(port, "GET", "/beta/me/notifications", OTHER, e->user, NULL, "",
	        &r);
	assert_int_equal(r.status, 200);
	assert_null(header(&r, "Access-Control-Allow-Origin"));
	assert_null(header(&r, "Access-Control-Expose-Headers"));
}

/* GET /web/: the folder's files, text types only, nothing outside it. */
static void
test_web_folder(void **state)
{
	env *e = *state;
	raw_resp r;
	int port = uns_gateway_port(e->gw);
	request(port, "GET", "/web/", NULL, NULL, NULL, "", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "<title>inbox</title>"));
	assert_string_equal(header(&r, "Content-Type"),
	                    "text/html; charset=utf-8");
	assert_string_equal(header(&r, "Cache-Control"), "no-cache");
	request(port, "GET", "/web/app.js", NULL, NULL, NULL, "", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Type"),
	                    "text/javascript; charset=utf-8");
	request(port, "GET", "/web", NULL, NULL, NULL, "", &r);
	assert_int_equal(r.status, 301);
	const char *loc = header(&r, "Location");
	assert_non_null(loc);
	assert_string_equal(loc + strlen(loc) - 5, "/web/");
	const char *refused[] = {"/web/.secret.txt", "/web/..%2Fapps.conf",
	                         "/web/%2E%2E", "/web/missing.js",
	                         "/web/../apps.conf"};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		request(port, "GET", refused[i], NULL, NULL, NULL, "", &r);
		if (r.status != 404) {
			fail_msg("GET %s: %d %s", refused[i], r.status, r.body);
		}
		assert_null(strstr(r.body, "hidden"));
		assert_null(strstr(r.body, APP));
	}
	/* off by default */
	request(uns_gateway_port(e->off), "GET", "/web/", NULL, NULL, NULL, "",
	        &r);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.body, "gateway_web_root"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_preflight_every_route),
	    cmocka_unit_test(test_refused_origins),
	    cmocka_unit_test(test_actual_requests),
	    cmocka_unit_test(test_web_folder),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
