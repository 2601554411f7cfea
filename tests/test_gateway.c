/*
 * test_gateway.c — the REST gateway end to end: real HTTP(S) through
 * libcurl against a real unsd with its embedded gateway (HTTPS with the
 * development certificates, RPC over inproc://), and against the
 * standalone uns-gateway calling that unsd over tls+tcp://.
 *
 * One unsd serves the whole suite (group setup), configured with small
 * limits so that each limit can be reached: 5 live notifications per user,
 * 4 KiB bodies, 2 s header and body deadlines. Each test uses its own user
 * so the tests do not see each other's notifications.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <zlib.h>

#include "auth.h"
#include "gateway_encoding.h"
#include "gateway_errors.h"
#include "gateway_json.h"
#include "jwt.h"
#include "testutil.h"
#include "uthttp.h"

#define APP  "contoso-svc"
#define HOST "contoso.example.com"

static char g_dir[256], g_data[320], g_ca[400], g_base[128];
static ut_proc g_unsd;
static int g_rpc_port, g_gw_port;

/* ---- fixture ------------------------------------------------------------ */

static void start_gateway(ut_proc *gw, const char *conf_text, char *base,
                          size_t cap);

static int
setup_unsd(void **state)
{
	char conf[400], apps[400];
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_ALL);
	ut_mkdtemp(g_dir, sizeof(g_dir));
	snprintf(g_data, sizeof(g_data), "%s/data", g_dir);
	snprintf(g_ca, sizeof(g_ca), "%s/tls/ca.pem", g_data);
	mkdir(g_data, 0700);
	snprintf(apps, sizeof(apps), "%s/apps.conf", g_data);
	ut_write_file(apps,
	              APP " " HOST ",graphnotifications.sample.windows.com,"
	                  "PleaseEnterValue -\n");
	snprintf(conf, sizeof(conf), "%s/unsd.conf", g_dir);
	ut_write_file(conf, "max_live_per_user = 5\nmax_body = 4K\n"
	                    "rate_limit_user = 0\n"
	                    "gateway_header_timeout = 2s\n"
	                    "gateway_body_timeout = 2s\n");
	int ports[2] = {0, 0};
	if (ut_unsd_gateway_start(&g_unsd, conf, g_data, ports, g_base,
	                          sizeof(g_base)) != 0) {
		return -1;
	}
	g_rpc_port = ports[0];
	g_gw_port = ports[1];
	return 0;
}

static int
teardown_unsd(void **state)
{
	(void)state;
	return ut_unsd_gateway_stop(&g_unsd, g_dir);
}

/* Checks Graph's error envelope: status, code, a message containing
 * want, and the request-id equal to the response header's. */
static void
assert_graph_error(const ut_http_resp *r, long status, const char *code,
                   const char *want)
{
	char rid[128];
	if (r->status != status) {
		fail_msg("status %ld, want %ld: %.500s", r->status, status,
		         r->body);
	}
	json_t *v = ut_http_json(r);
	json_t *e = json_object_get(v, "error");
	assert_non_null(e);
	assert_string_equal(ut_json_str(e, "code"), code);
	if (strstr(ut_json_str(e, "message"), want) == NULL) {
		fail_msg("message \"%s\" lacks \"%s\"",
		         ut_json_str(e, "message"), want);
	}
	json_t *inner = json_object_get(e, "innerError");
	assert_true(ut_http_header(r, "request-id", rid, sizeof(rid)));
	assert_string_equal(ut_json_str(inner, "request-id"), rid);
	assert_non_null(strstr(ut_json_str(inner, "date"), "T"));
	json_decref(v);
}

/* The error envelope's message (valid until the next request on r). */
static const char *
ut_error_message(const ut_http_resp *r)
{
	static char msg[1024];
	json_t *v = ut_http_json(r);
	snprintf(msg, sizeof(msg), "%s",
	         ut_json_str(json_object_get(v, "error"), "message"));
	json_decref(v);
	return msg;
}

/* ---- pure parts: status table, $filter, body parsing ------------------- */

static void
test_status_mapping(void **state)
{
	static const struct {
		uns_err err;
		const char *msg;
		unsigned http;
	} cases[] = {
	    {UNS_INVALID_ARGUMENT, "x", 400},
	    {UNS_UNAUTHENTICATED, "x", 401},
	    {UNS_PERMISSION_DENIED, "x", 403},
	    {UNS_NOT_FOUND, "x", 404},
	    {UNS_FAILED_PRECONDITION, "x", 412},
	    {UNS_RESOURCE_EXHAUSTED, "10000 live notifications", 429},
	    {UNS_RESOURCE_EXHAUSTED,
	     "request of 5000000 bytes exceeds the limit of 4194304 bytes",
	     413},
	    {UNS_UNAVAILABLE, "x", 503},
	    {UNS_DEADLINE_EXCEEDED, "x", 504},
	    {UNS_INTERNAL, "x", 500},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uns_gw_status s = uns_gw_status_of(cases[i].err, cases[i].msg);
		assert_int_equal(s.http, cases[i].http);
	}
}

static void
test_field_names(void **state)
{
	static const char *const cases[][2] = {
	    {"pageSize: at most 100", "$top: at most 100"},
	    {"notification.payload.visualContent.title: required",
	     "payload.visualContent.title: required"},
	    {"unsid: not found", "X-UNS-ID: not found"},
	    {"ifVersion: the notification has another version",
	     "If-Match: the notification has another version"},
	    {"cursor: malformed", "$deltatoken: malformed"},
	    {"limitless: x", "limitless: x"},
	    {"no field here", "no field here"},
	    {"unsid: required with an app token",
	     "X-UNS-ID: required with an app token"},
	    {"no bearer token in metadata \"authorization\"",
	     "no bearer token: send the header \"Authorization: Bearer "
	     "TOKEN\""},
	    {"app tokens may not call uns.v1.Notifications/Fetch",
	     "an app token may not use this route"},
	    {"user tokens may not call uns.v1.Notifications/Delete",
	     "a user token may not use this route"},
	};
	char out[256];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uns_gw_http_message(cases[i][0], out, sizeof(out));
		assert_string_equal(out, cases[i][1]);
	}
	/* RFC 6750 §3's challenge; a quote or a control byte cannot end or
	 * break the quoted string. */
	uns_gw_www_authenticate(NULL, "no token", out, sizeof(out));
	assert_string_equal(out, "Bearer");
	uns_gw_www_authenticate("", "no token", out, sizeof(out));
	assert_string_equal(out, "Bearer");
	uns_gw_www_authenticate("t", "token expired", out, sizeof(out));
	assert_string_equal(out, "Bearer error=\"invalid_token\", "
	                         "error_description=\"token expired\"");
	uns_gw_www_authenticate("t", "a \"b\\\n\xc3\xa9", out, sizeof(out));
	assert_string_equal(out, "Bearer error=\"invalid_token\", "
	                         "error_description=\"a ?b????\"");
	uns_gw_www_authenticate("t", "a long message", out, 56);
	assert_int_equal(strlen(out), 55);
	assert_int_equal(out[54], '"');
}

static void
test_filter_parser(void **state)
{
	Uns__V1__HistoryRequest req = UNS__V1__HISTORY_REQUEST__INIT;
	char group[64], why[256];
	(void)state;
	assert_int_equal(
	    uns_gw_apply_filter("readState eq 'READ' and  groupName eq "
	                        "'it''s' and status eq 'active' and "
	                        "userActionState eq 'dismissed'",
	                        &req, group, sizeof(group), why, sizeof(why)),
	    UNS_OK);
	assert_int_equal(req.read_state, UNS__V1__READ_STATE__READ_STATE_READ);
	assert_string_equal(req.group_name, "it's");
	assert_int_equal(
	    req.status,
	    UNS__V1__NOTIFICATION_STATUS__NOTIFICATION_STATUS_ACTIVE);
	assert_int_equal(
	    req.user_action_state,
	    UNS__V1__USER_ACTION_STATE__USER_ACTION_STATE_DISMISSED);
	static const struct {
		const char *filter, *why;
	} bad[] = {
	    {"priority eq 'High'", "unsupported property"},
	    {"readState ne 'read'", "only \"eq\""},
	    {"readState eq read", "expected a quoted value"},
	    {"readState eq 'maybe'", "unknown value 'maybe'"},
	    {"readState eq 'read' or status eq 'active'", "expected \"and\""},
	    {"groupName eq 'open", "expected a quoted value"},
	    {"", "unsupported property"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(uns_gw_apply_filter(bad[i].filter, &req, group,
		                                     sizeof(group), why,
		                                     sizeof(why)),
		                 UNS_INVALID_ARGUMENT);
		if (strstr(why, bad[i].why) == NULL) {
			fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].filter, why,
			         bad[i].why);
		}
	}
}

static void
test_body_parser(void **state)
{
	static const struct {
		const char *body, *why;
	} bad[] = {
	    {"[{\"payload\":{}}]", "a JSON array"},
	    {"\"x\"", "a JSON string"},
	    {"{\"priority\":\"urgent\"}", "priority: unknown enum value"},
	    {"{\"expirationDateTime\":\"2019-13-01T00:00:00Z\"}",
	     "expirationDateTime: invalid date-time"},
	    {"{\"payload\":", "invalid JSON at line 1, column 11"},
	    {"{\"a\":1,\"a\":2}", "duplicate"},
	    {"{\"displayTimeToLive\":\"6x\"}", "displayTimeToLive"},
	};
	ProtobufCMessage *m = NULL;
	char why[512];
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    uns_gw_parse_body(&uns__v1__notification__descriptor,
		                      bad[i].body, strlen(bad[i].body), &m, why,
		                      sizeof(why)),
		    UNS_INVALID_ARGUMENT);
		if (strstr(why, bad[i].why) == NULL) {
			fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].body, why,
			         bad[i].why);
		}
	}
	assert_null(m);
	const char *ok = "{\"displayTimeToLive\":\"60\",\"priority\":\"hIGH\","
	                 "\"unknownProperty\":[1,2]}";
	assert_int_equal(uns_gw_parse_body(&uns__v1__notification__descriptor,
	                                   ok, strlen(ok), &m, why,
	                                   sizeof(why)),
	                 UNS_OK);
	Uns__V1__Notification *n = (Uns__V1__Notification *)m;
	assert_int_equal(n->display_time_to_live, 60);
	assert_int_equal(n->priority, UNS__V1__PRIORITY__PRIORITY_HIGH);
	protobuf_c_message_free_unpacked(m, NULL);
	/* A browser's PushSubscription JSON nests the keys. */
	const char *wp = "{\"deviceId\":\"b\",\"platform\":\"WEBPUSH\","
	                 "\"webPush\":{\"endpoint\":\"https://push.example/x\","
	                 "\"keys\":{\"p256dh\":\"BP\",\"auth\":\"AU\"}}}";
	assert_int_equal(
	    uns_gw_parse_body(&uns__v1__subscribe_request__descriptor, wp,
	                      strlen(wp), &m, why, sizeof(why)),
	    UNS_OK);
	Uns__V1__SubscribeRequest *sr = (Uns__V1__SubscribeRequest *)m;
	assert_int_equal(sr->platform, UNS__V1__PLATFORM__PLATFORM_WEB_PUSH);
	assert_string_equal(sr->web_push->endpoint, "https://push.example/x");
	assert_string_equal(sr->web_push->p256dh, "BP");
	assert_string_equal(sr->web_push->auth, "AU");
	protobuf_c_message_free_unpacked(m, NULL);
}

/* ---- routes end to end ----------------------------------------------------
 */

static void
test_create_get_replace(void **state)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char loc[512], etag[64], path[512];
	(void)state;
	ut_http_open(&h, g_base, g_ca);
	char *user = ut_mint(g_data, "user", "u-create", HOST);
	char *app = ut_mint(g_data, "app", APP, NULL);
	char *unsid = ut_gw_subscribe(&h, user, "phone");

	char *id = ut_gw_post(&h, app, unsid, HOST, "order-1", 201);
	/* Location and ETag come with the create. */
	char hdr[300];
	const char *hdrs[] = {hdr, NULL};
	snprintf(hdr, sizeof(hdr), "X-UNS-ID: %s", unsid);
	assert_int_equal(
	    ut_http_do(&h, "POST", "/v1.0/me/notifications", app,
	               "{\"targetHostName\":\"" HOST "\",\"appNotificationId\":"
	               "\"order-2\",\"payload\":{\"rawContent\":\"r\"}}",
	               0, hdrs, r),
	    201);
	assert_true(ut_http_header(r, "Location", loc, sizeof(loc)));
	json_t *v = ut_http_json(r);
	snprintf(path, sizeof(path), "%s/v1.0/me/notifications/%s", g_base,
	         ut_json_str(v, "id"));
	assert_string_equal(loc, path);
	assert_true(ut_http_header(r, "ETag", etag, sizeof(etag)));
	assert_string_equal(etag, "\"1\"");
	assert_int_equal(json_integer_value(json_object_get(v, "version")), 1);
	assert_string_equal(ut_json_str(v, "readState"), "unread");
	assert_string_equal(ut_json_str(v, "userActionState"), "noInteraction");
	assert_string_equal(ut_json_str(v, "status"), "active");
	assert_non_null(
	    strstr(ut_json_str(v, "@odata.context"), "/v1.0/$metadata"));
	json_decref(v);

	/* Get one, under /beta and with the user's token. */
	snprintf(path, sizeof(path), "/beta/me/notifications/%s", id);
	assert_int_equal(ut_http_do(&h, "GET", path, user, NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	assert_string_equal(ut_json_str(v, "id"), id);
	assert_string_equal(ut_json_str(v, "appNotificationId"), "order-1");
	assert_string_equal(
	    ut_json_str(
	        json_object_get(json_object_get(v, "payload"), "visualContent"),
	        "title"),
	    "T order-1");
	json_decref(v);

	/* Same appNotificationId again: a replace, 200, same id, version 2. */
	char *again = ut_gw_post(&h, app, unsid, HOST, "order-1", 200);
	assert_string_equal(again, id);
	assert_int_equal(ut_http_do(&h, "GET", path, user, NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	assert_int_equal(json_integer_value(json_object_get(v, "version")), 2);
	json_decref(v);

	/* Keep-alive: the second request on this handle opened nothing. */
	assert_int_equal(r->connects, 0);
	/* Nor do answers given from the headers alone (404, 405, 415), for
	 * requests with and without a body. */
	static const struct {
		const char *method, *path, *body, *type;
		long status;
	} early[] = {
	    {"GET", "/beta/me/nothing-here", NULL, NULL, 404},
	    {"PUT", "/beta/me/notifications", "{}", NULL, 405},
	    {"POST", "/beta/me/notifications", "a=b",
	     "Content-Type: application/x-www-form-urlencoded", 415},
	};
	for (size_t i = 0; i < sizeof(early) / sizeof(early[0]); i++) {
		const char *extra[] = {early[i].type, NULL};
		assert_int_equal(ut_http_do(&h, early[i].method, early[i].path,
		                            user, early[i].body, 0,
		                            early[i].type ? extra : NULL, r),
		                 early[i].status);
		assert_int_equal(r->connects, 0);
	}
	free(again);
	free(id);
	free(unsid);
	free(app);
	free(user);
	free(r);
	ut_http_close(&h);
}

/* The documented bodies of graph-notifications.md §1.1. */
static const char raw_example[] =
    "{\n"
    "  \"targetHostName\": \"PleaseEnterValue\",\n"
    "  \"appNotificationId\": \"sampleRawNotification\",\n"
    "  \"payload\": { \"rawContent\": \"Hello World!\" },\n"
    "  \"targetPolicy\": { \"platformTypes\": [ \"windows\", \"ios\", "
    "\"android\" ] },\n"
    "  \"priority\": \"High\",\n"
    "  \"displayTimeToLive\": \"60\"\n"
    "}";

static const char visual_example[] =
    "{\n"
    "    \"targetHostName\": \"graphnotifications.sample.windows.com\",\n"
    "    \"appNotificationId\": \"testDirectToastNotification\",\n"
    "    \"expirationDateTime\": \"2019-10-30T23:59:00.000Z\",\n"
    "    \"payload\": {\n"
    "        \"visualContent\": {\n"
    "            \"title\": \"Hello World!\",\n"
    "            \"body\": \"Notifications are Great!\"\n"
    "        }\n"
    "    },\n"
    "    \"targetPolicy\": {\n"
    "        \"platformTypes\": [ \"windows\", \"ios\", \"android\" ]\n"
    "    },\n"
    "    \"priority\": \"High\",\n"
    "    \"groupName\": \"TestGroup\",\n"
    "    \"displayTimeToLive\": \"60\"\n"
    "}";

static void
test_graph_examples(void **state)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char exp[64], body[2048];
	(void)state;
	ut_http_open(&h, g_base, g_ca);

	/* Raw: exactly as written, by a user token (the OBO sample: no
	 * X-UNS-ID, the token names the user). */
	char *raw_user = ut_mint(g_data, "user", "u-raw", "PleaseEnterValue");
	assert_int_equal(ut_http_do(&h, "POST", "/beta/me/notifications/",
	                            raw_user, raw_example, 0, NULL, r),
	                 201);
	json_t *v = ut_http_json(r);
	assert_int_equal(
	    json_integer_value(json_object_get(v, "displayTimeToLive")), 60);
	assert_string_equal(ut_json_str(v, "priority"), "High");
	json_t *pt = json_object_get(json_object_get(v, "targetPolicy"),
	                             "platformTypes");
	assert_string_equal(json_string_value(json_array_get(pt, 0)),
	                    "windows");
	assert_string_equal(json_string_value(json_array_get(pt, 1)), "ios");
	assert_string_equal(
	    ut_json_str(json_object_get(v, "payload"), "rawContent"),
	    "Hello World!");
	json_decref(v);

	/* Visual: as written its expirationDateTime (2019) is in the past,
	 * which SPEC §3 answers 400 (not clamped) ... */
	char *vis_user = ut_mint(g_data, "user", "u-visual",
	                         "graphnotifications.sample.windows.com");
	ut_http_do(&h, "POST", "/beta/me/notifications/", vis_user,
	           visual_example, 0, NULL, r);
	assert_graph_error(r, 400, "BadRequest",
	                   "expirationDateTime: in the past");
	/* ... and accepted with only that date moved to next week. */
	time_t t = time(NULL) + 7 * 86400;
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%S.000Z", gmtime(&t));
	snprintf(body, sizeof(body), "%s", visual_example);
	memcpy(strstr(body, "2019-10-30T23:59:00.000Z"), exp, strlen(exp));
	assert_int_equal(ut_http_do(&h, "POST", "/beta/me/notifications/",
	                            vis_user, body, 0, NULL, r),
	                 201);
	v = ut_http_json(r);
	assert_string_equal(ut_json_str(v, "groupName"), "TestGroup");
	assert_string_equal(ut_json_str(v, "expirationDateTime"), exp);
	json_decref(v);
	/* The iOS fallback policy, with its delay as a numeric string. */
	assert_int_equal(
	    ut_http_do(&h, "POST", "/beta/me/notifications", vis_user,
	               "{\"priority\":\"high\",\"payload\":{\"rawContent\":"
	               "\"r\"},\"targetPolicy\":{\"platformTypes\":[\"iOS\"]},"
	               "\"fallbackPolicy\":{\"endpointFallback\":{"
	               "\"platformTypes\":[\"IOS\"],\"fallbackDelayInSeconds\":"
	               "\"120\",\"visualContent\":{\"title\":\"Open me\"}}}}",
	               0, NULL, r),
	    201);
	v = ut_http_json(r);
	json_t *ef = json_object_get(json_object_get(v, "fallbackPolicy"),
	                             "endpointFallback");
	assert_int_equal(
	    json_integer_value(json_object_get(ef, "fallbackDelayInSeconds")),
	    120);
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(ef, "platformTypes"), 0)),
	                    "ios");
	json_decref(v);
	ut_http_do(&h, "POST", "/beta/me/notifications", vis_user,
	           "{\"priority\":\"high\",\"payload\":{\"rawContent\":"
	           "\"r\"},\"fallbackPolicy\":{\"endpointFallback\":{"
	           "\"platformTypes\":[\"iOS\"],\"fallbackDelayInSeconds\":5,"
	           "\"visualContent\":{\"title\":\"t\"}}}}",
	           0, NULL, r);
	assert_graph_error(
	    r, 400, "BadRequest",
	    "fallbackPolicy.endpointFallback.fallbackDelayInSeconds");
	free(raw_user);
	free(vis_user);
	free(r);
	ut_http_close(&h);
}

static void
test_input_errors(void **state)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char far[64], body[512], big[5000];
	(void)state;
	ut_http_open(&h, g_base, g_ca);
	char *user = ut_mint(g_data, "user", "u-errors", HOST);
	const char *path = "/beta/me/notifications";
	const char *ims[] = {"If-Modified-Since: Sat, 1 Jan 2022 00:00:00 GMT",
	                     NULL};
	const char *ifr[] = {"If-Range: \"1\"", NULL};
	const char *br[] = {"Content-Encoding: br", NULL};
	const char *text[] = {"Content-Type: text/plain", NULL};

	/* 401s say why in HTTP's words and carry RFC 6750's challenge:
	 * "Bearer" alone without a token, invalid_token with one. */
	char www[600];
	ut_http_do(&h, "POST", path, NULL, "{}", 0, NULL, r);
	assert_graph_error(r, 401, "Unauthorized", "");
	assert_string_equal(ut_error_message(r),
	                    "no bearer token: send the header "
	                    "\"Authorization: Bearer TOKEN\"");
	assert_true(ut_http_header(r, "WWW-Authenticate", www, sizeof(www)));
	assert_string_equal(www, "Bearer");
	ut_http_do(&h, "POST", path, "not.a.jwt", "{}", 0, NULL, r);
	assert_graph_error(r, 401, "Unauthorized", "");
	assert_true(ut_http_header(r, "WWW-Authenticate", www, sizeof(www)));
	char want[600];
	snprintf(want, sizeof(want),
	         "Bearer error=\"invalid_token\", error_description=\"%s\"",
	         ut_error_message(r));
	assert_string_equal(www, want);
	/* An app token without X-UNS-ID, an app token on a user's route. */
	char *app = ut_mint(g_data, "app", APP, NULL);
	ut_http_do(&h, "POST", path, app,
	           "{\"payload\":{\"rawContent\":\"x\"}}", 0, NULL, r);
	assert_graph_error(r, 400, "BadRequest", "");
	assert_string_equal(ut_error_message(r),
	                    "X-UNS-ID: required with an app token");
	ut_http_do(&h, "GET", "/beta/me/notifications/delta", app, NULL, 0,
	           NULL, r);
	assert_graph_error(r, 403, "Forbidden", "");
	assert_string_equal(ut_error_message(r),
	                    "an app token may not use this route");
	assert_false(ut_http_header(r, "WWW-Authenticate", www, sizeof(www)));
	free(app);
	app = NULL;
	ut_http_do(&h, "POST", path, user, "[{\"payload\":{}}]", 0, NULL, r);
	assert_graph_error(r, 400, "BadRequest", "a JSON array");
	ut_http_do(
	    &h, "POST", path, user,
	    "{\"payload\":{\"rawContent\":\"x\"},\"priority\":\"urgent\"}", 0,
	    NULL, r);
	assert_graph_error(r, 400, "BadRequest", "priority");
	ut_http_do(&h, "POST", path, user,
	           "{\"payload\":{\"rawContent\":\"x\"},"
	           "\"expirationDateTime\":\"next tuesday\"}",
	           0, NULL, r);
	assert_graph_error(r, 400, "BadRequest", "expirationDateTime");
	time_t t = time(NULL) + 31 * 86400;
	strftime(far, sizeof(far), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	snprintf(body, sizeof(body),
	         "{\"payload\":{\"rawContent\":\"x\"},"
	         "\"expirationDateTime\":\"%s\"}",
	         far);
	ut_http_do(&h, "POST", path, user, body, 0, NULL, r);
	assert_graph_error(r, 400, "BadRequest", "expirationDateTime");
	ut_http_do(&h, "POST", path, user, "{\"payload\":{}}", 0, NULL, r);
	assert_graph_error(r, 400, "BadRequest", "payload");
	ut_http_do(&h, "POST", path, user, "{\"payload\":{\"rawContent\":}", 0,
	           NULL, r);
	assert_graph_error(r, 400, "BadRequest", "invalid JSON at line 1");
	ut_http_do(&h, "POST", path, user, "{}", 0, ims, r);
	assert_graph_error(r, 400, "BadRequest", "If-Modified-Since");
	ut_http_do(&h, "GET", path, user, NULL, 0, ifr, r);
	assert_graph_error(r, 400, "BadRequest", "If-Range");
	ut_http_do(&h, "POST", path, user, "{}", 0, br, r);
	assert_graph_error(r, 415, "UnsupportedMediaType", "Content-Encoding");
	ut_http_do(&h, "POST", path, user, "{}", 0, text, r);
	assert_graph_error(r, 415, "UnsupportedMediaType", "Content-Type");
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	ut_http_do(&h, "POST", path, user, big, 0, NULL, r);
	assert_graph_error(r, 413, "PayloadTooLarge", "4096 bytes");
	ut_http_do(&h, "GET", "/beta/me/elsewhere", user, NULL, 0, NULL, r);
	assert_graph_error(r, 404, "NotFound", "no resource");
	ut_http_do(&h, "PUT", path, user, "{}", 0, NULL, r);
	assert_graph_error(r, 405, "MethodNotAllowed", "PUT");
	assert_true(ut_http_header(r, "Allow", body, sizeof(body)));
	assert_string_equal(body, "POST, GET");
	ut_http_do(&h, "GET", "/beta/me/notifications/nosuchid", user, NULL, 0,
	           NULL, r);
	assert_graph_error(r, 404, "NotFound", "not found");
	ut_http_do(&h, "GET", "/beta/me/notifications?$top=zero", user, NULL, 0,
	           NULL, r);
	assert_graph_error(r, 400, "BadRequest", "$top");
	ut_http_do(&h, "GET", "/beta/me/notifications?$top=101", user, NULL, 0,
	           NULL, r);
	assert_graph_error(r, 400, "BadRequest", "$top: at most 100");
	ut_http_do(&h, "GET", "/beta/me/notifications?$skiptoken=bogus", user,
	           NULL, 0, NULL, r);
	assert_graph_error(r, 400, "BadRequest", "$skiptoken");
	/* An app may not read a user's history: 403. */
	app = ut_mint(g_data, "app", APP, NULL);
	ut_http_do(&h, "GET", path, app, NULL, 0, NULL, r);
	assert_graph_error(r, 403, "Forbidden", "");
	/* An app must name the user: X-UNS-ID. */
	ut_http_do(&h, "POST", path, app,
	           "{\"payload\":{\"rawContent\":\"x\"}}", 0, NULL, r);
	assert_int_equal(r->status, 400);
	free(app);
	free(user);
	free(r);
	ut_http_close(&h);
}

/* Compresses text with zlib: window 31 = gzip, 15 = zlib (deflate). */
static size_t
compress_to(const char *text, size_t len, int window, unsigned char *out,
            size_t cap)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(
	    deflateInit2(&zs, 9, Z_DEFLATED, window, 8, Z_DEFAULT_STRATEGY),
	    Z_OK);
	zs.next_in = (Bytef *)text;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t n = zs.total_out;
	deflateEnd(&zs);
	return n;
}

static void
test_body_decoding(void **state)
{
	unsigned char z[512];
	char *out = NULL, why[256];
	size_t len = 0;
	const char *text = "{\"payload\":{\"rawContent\":\"x\"}}";
	(void)state;
	assert_int_equal(uns_gw_coding_of(NULL), UNS_GW_CODING_IDENTITY);
	assert_int_equal(uns_gw_coding_of(" GZIP "), UNS_GW_CODING_GZIP);
	assert_int_equal(uns_gw_coding_of("x-gzip"), UNS_GW_CODING_GZIP);
	assert_int_equal(uns_gw_coding_of("deflate"), UNS_GW_CODING_DEFLATE);
	assert_int_equal(uns_gw_coding_of("gzip, br"),
	                 UNS_GW_CODING_UNSUPPORTED);
	/* deflate as a zlib stream (RFC 9110) and as raw deflate */
	for (int window = 15; window >= -15; window -= 30) {
		size_t n =
		    compress_to(text, strlen(text), window, z, sizeof(z));
		assert_int_equal(uns_gw_decode_body(UNS_GW_CODING_DEFLATE,
		                                    (char *)z, n, 4096, &out,
		                                    &len, why, sizeof(why)),
		                 UNS_OK);
		assert_int_equal(len, strlen(text));
		assert_string_equal(out, text);
		free(out);
	}
	/* gzip with bytes after the member; truncated gzip */
	size_t n = compress_to(text, strlen(text), 31, z, sizeof(z));
	memcpy(z + n, "junk", 4);
	assert_int_equal(uns_gw_decode_body(UNS_GW_CODING_GZIP, (char *)z,
	                                    n + 4, 4096, &out, &len, why,
	                                    sizeof(why)),
	                 UNS_INVALID_ARGUMENT);
	assert_non_null(strstr(why, "trailing bytes"));
	assert_int_equal(uns_gw_decode_body(UNS_GW_CODING_GZIP, (char *)z,
	                                    n - 6, 4096, &out, &len, why,
	                                    sizeof(why)),
	                 UNS_INVALID_ARGUMENT);
	/* exactly at the limit passes, one byte less is over */
	assert_int_equal(uns_gw_decode_body(UNS_GW_CODING_GZIP, (char *)z, n,
	                                    strlen(text), &out, &len, why,
	                                    sizeof(why)),
	                 UNS_OK);
	free(out);
	assert_int_equal(uns_gw_decode_body(UNS_GW_CODING_GZIP, (char *)z, n,
	                                    strlen(text) - 1, &out, &len, why,
	                                    sizeof(why)),
	                 UNS_RESOURCE_EXHAUSTED);
}

static void
test_compressed_bodies(void **state)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	unsigned char z[8192];
	char bomb[20000];
	(void)state;
	ut_http_open(&h, g_base, g_ca);
	char *user = ut_mint(g_data, "user", "u-gzip", HOST);
	const char *gz[] = {"Content-Encoding: gzip", NULL};
	const char *df[] = {"Content-Encoding: Deflate", NULL};
	const char *body = "{\"appNotificationId\":\"zipped\",\"payload\":"
	                   "{\"rawContent\":\"squeezed\"}}";
	size_t n = compress_to(body, strlen(body), 31, z, sizeof(z));
	assert_int_equal(ut_http_do(&h, "POST", "/beta/me/notifications", user,
	                            (char *)z, n, gz, r),
	                 201);
	json_t *v = ut_http_json(r);
	assert_string_equal(
	    ut_json_str(json_object_get(v, "payload"), "rawContent"),
	    "squeezed");
	json_decref(v);
	n = compress_to(body, strlen(body), 15, z, sizeof(z));
	assert_int_equal(ut_http_do(&h, "POST", "/beta/me/notifications", user,
	                            (char *)z, n, df, r),
	                 200); /* same appNotificationId: replaced */
	/* Corrupt data: 400; a small body that inflates past 4 KiB: 413. */
	z[n / 2] ^= 0x55;
	z[n / 2 + 1] ^= 0x55;
	ut_http_do(&h, "POST", "/beta/me/notifications", user, (char *)z, n, df,
	           r);
	assert_graph_error(r, 400, "BadRequest", "Content-Encoding");
	memset(bomb, ' ', sizeof(bomb));
	n = compress_to(bomb, sizeof(bomb), 31, z, sizeof(z));
	assert_true(n < 4096);
	ut_http_do(&h, "POST", "/beta/me/notifications", user, (char *)z, n, gz,
	           r);
	assert_graph_error(r, 413, "PayloadTooLarge", "decoded body");
	free(user);
	free(r);
	ut_http_close(&h);
}

/* Streams a body with Transfer-Encoding: chunked, in small pieces. */
typedef struct chunks {
	const char *p;
	size_t left;
} chunks;

static size_t
read_chunks(char *buf, size_t size, size_t n, void *arg)
{
	chunks *c = arg;
	size_t take = c->left < 7 ? c->left : 7;
	(void)size;
	(void)n;
	memcpy(buf, c->p, take);
	c->p += take;
	c->left -= take;
	return take;
}

static long
post_chunked(const char *token, const char *body, ut_http_resp *r)
{
	char url[256], auth[4096];
	chunks c = {body, strlen(body)};
	CURL *k = curl_easy_init();
	struct curl_slist *l = NULL;
	snprintf(url, sizeof(url), "%s/beta/me/notifications", g_base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	l = curl_slist_append(l, auth);
	l = curl_slist_append(l, "Content-Type: application/json");
	l = curl_slist_append(l, "Transfer-Encoding: chunked");
	curl_easy_setopt(k, CURLOPT_URL, url);
	curl_easy_setopt(k, CURLOPT_CAINFO, g_ca);
	curl_easy_setopt(k, CURLOPT_POST, 1L);
	curl_easy_setopt(k, CURLOPT_HTTPHEADER, l);
	curl_easy_setopt(k, CURLOPT_READFUNCTION, read_chunks);
	curl_easy_setopt(k, CURLOPT_READDATA, &c);
	FILE *sink = fmemopen(r->body, sizeof(r->body) - 1, "w");
	curl_easy_setopt(k, CURLOPT_WRITEDATA, sink);
	assert_int_equal(curl_easy_perform(k), CURLE_OK);
	fclose(sink);
	r->len = strlen(r->body);
	curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(l);
	curl_easy_cleanup(k);
	return r->status;
}

static void
test_chunked_body(void **state)
{
	ut_http_resp *r = ut_http_resp_new();
	char big[6000];
	(void)state;
	char *user = ut_mint(g_data, "user", "u-chunked", HOST);
	assert_int_equal(
	    post_chunked(user,
	                 "{\"appNotificationId\":\"in-pieces\",\"payload\":"
	                 "{\"visualContent\":{\"title\":\"chunk by chunk\"}}}",
	                 r),
	    201);
	assert_non_null(strstr(r->body, "chunk by chunk"));
	/* No Content-Length to check up front: the limit still holds. */
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(post_chunked(user, big, r), 413);
	free(user);
	free(r);
}

/* The path part of an absolute link from the gateway. */
static const char *
path_of(const char *link)
{
	assert_int_equal(strncmp(link, g_base, strlen(g_base)), 0);
	return link + strlen(g_base);
}

static void
test_list_paging_filter(void **state)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char path[1024];
	(void)state;
	ut_http_open(&h, g_base, g_ca);
	char *user = ut_mint(g_data, "user", "u-list", HOST);
	char *app = ut_mint(g_data, "app", APP, NULL);
	char *unsid = ut_gw_subscribe(&h, user, "tablet");
	char *ids[3];
	for (int i = 0; i < 3; i++) {
		char aid[16];
		snprintf(aid, sizeof(aid), "list-%d", i);
		ids[i] = ut_gw_post(&h, app, unsid, HOST, aid, 201);
	}
	/* Newest first, two per page, then the rest by nextLink: all three
	 * once. (Posts within one millisecond may come in either order.) */
	assert_int_equal(ut_http_do(&h, "GET", "/beta/me/notifications?$top=2",
	                            user, NULL, 0, NULL, r),
	                 200);
	json_t *v = ut_http_json(r);
	json_t *value = json_object_get(v, "value");
	assert_int_equal(json_array_size(value), 2);
	json_t *seen = json_array();
	json_array_extend(seen, value);
	snprintf(path, sizeof(path), "%s",
	         path_of(ut_json_str(v, "@odata.nextLink")));
	assert_non_null(strstr(path, "$skiptoken="));
	assert_non_null(strstr(path, "$top=2"));
	json_decref(v);
	assert_int_equal(ut_http_do(&h, "GET", path, user, NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	value = json_object_get(v, "value");
	assert_int_equal(json_array_size(value), 1);
	json_array_extend(seen, value);
	assert_null(json_object_get(v, "@odata.nextLink"));
	json_decref(v);
	for (size_t i = 0; i < 3; i++) {
		json_t *n = json_array_get(seen, i);
		int found = 0;
		for (int k = 0; k < 3; k++) {
			found += strcmp(ut_json_str(n, "id"), ids[k]) == 0;
		}
		assert_int_equal(found, 1);
		if (i > 0) { /* ISO 8601 UTC strings sort as times */
			assert_true(
			    strcmp(ut_json_str(json_array_get(seen, i - 1),
			                       "createdDateTime"),
			           ut_json_str(n, "createdDateTime")) >= 0);
		}
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(
			    ut_json_str(json_array_get(seen, j), "id"),
			    ut_json_str(n, "id"));
		}
	}
	json_decref(seen);

	/* Mark one read (PATCH), then filter on readState. */
	snprintf(path, sizeof(path), "/beta/me/notifications/%s", ids[1]);
	assert_int_equal(ut_http_do(&h, "PATCH", path, user,
	                            "{\"readState\":\"Read\"}", 0, NULL, r),
	                 200);
	assert_int_equal(
	    ut_http_do(&h, "GET",
	               "/beta/me/notifications?$filter=readState%20eq%20'read'",
	               user, NULL, 0, NULL, r),
	    200);
	v = ut_http_json(r);
	value = json_object_get(v, "value");
	assert_int_equal(json_array_size(value), 1);
	assert_string_equal(ut_json_str(json_array_get(value, 0), "id"),
	                    ids[1]);
	assert_string_equal(ut_json_str(json_array_get(value, 0), "readState"),
	                    "read");
	json_decref(v);
	/* The nextLink carries the filter percent-encoded, and following it
	 * gives the other unread one. */
	assert_int_equal(ut_http_do(&h, "GET",
	                            "/beta/me/notifications?$top=1&$filter="
	                            "readState%20eq%20'unread'",
	                            user, NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	snprintf(path, sizeof(path), "%s",
	         path_of(ut_json_str(v, "@odata.nextLink")));
	assert_non_null(strstr(path, "$filter=readState%20eq%20%27unread%27"));
	json_decref(v);
	assert_int_equal(ut_http_do(&h, "GET", path, user, NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	assert_int_equal(json_array_size(json_object_get(v, "value")), 1);
	assert_string_equal(
	    ut_json_str(json_array_get(json_object_get(v, "value"), 0),
	                "readState"),
	    "unread");
	json_decref(v);
	ut_http_do(&h, "GET",
	           "/beta/me/notifications?$filter=priority%20eq%20'High'",
	           user, NULL, 0, NULL, r);
	assert_graph_error(r, 400, "BadRequest", "$filter");
	for (int i = 0; i < 3; i++) {
		free(ids[i]);
	}
	free(unsid);
	free(app);
	free(user);
	free(r);
	ut_http_close(&h);
}

static void
test_patch_if_match_and_delete(void **state)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char path[512], etag[64];
	(void)state;
	ut_http_open(&h, g_base, g_ca);
	char *user = ut_mint(g_data, "user", "u-patch", HOST);
	char *app = ut_mint(g_data, "app", APP, NULL);
	char *unsid = ut_gw_subscribe(&h, user, "watch");
	char *id = ut_gw_post(&h, app, unsid, HOST, "patch-me", 201);
	char *id2 = ut_gw_post(&h, app, unsid, HOST, "app-deletes-me", 201);
	const char *v1[] = {"If-Match: \"1\"", NULL};
	const char *bad[] = {"If-Match: soon", NULL};
	snprintf(path, sizeof(path), "/beta/me/notifications/%s", id);

	assert_int_equal(ut_http_do(&h, "PATCH", path, user,
	                            "{\"userActionState\":\"DISMISSED\"}", 0,
	                            v1, r),
	                 200);
	json_t *v = ut_http_json(r);
	assert_string_equal(ut_json_str(v, "userActionState"), "dismissed");
	assert_int_equal(json_integer_value(json_object_get(v, "version")), 2);
	json_decref(v);
	assert_true(ut_http_header(r, "ETag", etag, sizeof(etag)));
	assert_string_equal(etag, "\"2\"");
	/* The same If-Match again: the version moved, 412. */
	ut_http_do(&h, "PATCH", path, user, "{\"readState\":\"read\"}", 0, v1,
	           r);
	assert_graph_error(r, 412, "PreconditionFailed", "version");
	ut_http_do(&h, "PATCH", path, user, "{\"readState\":\"read\"}", 0, bad,
	           r);
	assert_graph_error(r, 400, "BadRequest", "If-Match");
	ut_http_do(&h, "PATCH", path, user, "{\"readState\":\"later\"}", 0,
	           NULL, r);
	assert_graph_error(r, 400, "BadRequest", "readState");
	ut_http_do(&h, "PATCH", path, user, "{}", 0, NULL, r);
	assert_graph_error(r, 400, "BadRequest", "nothing to change");

	/* The user deletes (UpdateState delete): 204, then gone. */
	assert_int_equal(ut_http_do(&h, "DELETE", path, user, NULL, 0, NULL, r),
	                 204);
	assert_int_equal(r->len, 0);
	assert_int_equal(ut_http_do(&h, "GET", path, user, NULL, 0, NULL, r),
	                 404);
	/* The app deletes its own (Delete): 204; again: 404. */
	snprintf(path, sizeof(path), "/v1.0/me/notifications/%s", id2);
	assert_int_equal(ut_http_do(&h, "DELETE", path, app, NULL, 0, NULL, r),
	                 204);
	ut_http_do(&h, "DELETE", path, app, NULL, 0, NULL, r);
	assert_graph_error(r, 404, "NotFound", "not found");
	free(id);
	free(id2);
	free(unsid);
	free(app);
	free(user);
	free(r);
	ut_http_close(&h);
}

typedef struct poller {
	const char *token;
	char path[1024];
	ut_http_resp *r;
} poller;

static char g_poll_base[128]; /* "" = the suite's gateway */

static size_t
discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

static void *
long_poll(void *arg)
{
	poller *p = arg;
	ut_http h;
	if (g_poll_base[0]) {
		ut_http_open(&h, g_poll_base, NULL);
	} else {
		ut_http_open(&h, g_base, g_ca);
	}
	ut_http_try(&h, "GET", p->path, p->token, NULL, 0, NULL, p->r);
	ut_http_close(&h);
	return NULL;
}

static void
test_delta_and_long_poll(void **state)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char path[1024];
	(void)state;
	ut_http_open(&h, g_base, g_ca);
	char *user = ut_mint(g_data, "user", "u-delta", HOST);
	char *app = ut_mint(g_data, "app", APP, NULL);
	char *unsid = ut_gw_subscribe(&h, user, "laptop");
	char *id = ut_gw_post(&h, app, unsid, HOST, "delta-1", 201);

	/* From the beginning: the notification, then a deltaLink. */
	assert_int_equal(ut_http_do(&h, "GET", "/beta/me/notifications/delta",
	                            user, NULL, 0, NULL, r),
	                 200);
	json_t *v = ut_http_json(r);
	json_t *value = json_object_get(v, "value");
	assert_int_equal(json_array_size(value), 1);
	assert_string_equal(ut_json_str(json_array_get(value, 0), "id"), id);
	snprintf(path, sizeof(path), "%s",
	         path_of(ut_json_str(v, "@odata.deltaLink")));
	assert_non_null(
	    strstr(path, "/beta/me/notifications/delta?$deltatoken="));
	json_decref(v);

	/* A delete shows as {"id","@removed":{"reason":"deleted"}}. */
	char del[256];
	snprintf(del, sizeof(del), "/beta/me/notifications/%s", id);
	assert_int_equal(ut_http_do(&h, "DELETE", del, user, NULL, 0, NULL, r),
	                 204);
	assert_int_equal(ut_http_do(&h, "GET", path, user, NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	value = json_object_get(v, "value");
	assert_int_equal(json_array_size(value), 1);
	json_t *gone = json_array_get(value, 0);
	assert_string_equal(ut_json_str(gone, "id"), id);
	assert_string_equal(
	    ut_json_str(json_object_get(gone, "@removed"), "reason"),
	    "deleted");
	assert_int_equal(json_object_size(gone), 2);
	snprintf(path, sizeof(path), "%s&wait=50",
	         path_of(ut_json_str(v, "@odata.deltaLink")));
	json_decref(v);

	/* Long poll: a waiting delta returns with the post made meanwhile. */
	poller p = {.token = user, .r = ut_http_resp_new()};
	snprintf(p.path, sizeof(p.path), "%s", path);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, long_poll, &p), 0);
	usleep(300 * 1000);
	char *id2 = ut_gw_post(&h, app, unsid, HOST, "delta-2", 201);
	pthread_join(t, NULL);
	assert_int_equal(p.r->status, 200);
	v = ut_http_json(p.r);
	value = json_object_get(v, "value");
	assert_int_equal(json_array_size(value), 1);
	assert_string_equal(ut_json_str(json_array_get(value, 0), "id"), id2);
	json_decref(v);
	ut_http_do(&h, "GET", "/beta/me/notifications/delta?wait=61", user,
	           NULL, 0, NULL, r);
	assert_graph_error(r, 400, "BadRequest", "wait");
	free(p.r);
	free(id);
	free(id2);
	free(unsid);
	free(app);
	free(user);
	free(r);
	ut_http_close(&h);
}

/* Delta in pages: $top bounds a page; while more is waiting the reply
 * carries @odata.nextLink, the last one @odata.deltaLink. */
static void
test_delta_pages(void **state)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char path[1024];
	(void)state;
	ut_http_open(&h, g_base, g_ca);
	char *user = ut_mint(g_data, "user", "u-delta-pages", HOST);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
		    ut_http_do(&h, "POST", "/beta/me/notifications", user,
		               "{\"payload\":{\"rawContent\":\"page\"}}", 0,
		               NULL, r),
		    201);
	}
	assert_int_equal(ut_http_do(&h, "GET",
	                            "/beta/me/notifications/delta?$top=2", user,
	                            NULL, 0, NULL, r),
	                 200);
	json_t *v = ut_http_json(r);
	assert_int_equal(json_array_size(json_object_get(v, "value")), 2);
	assert_null(json_object_get(v, "@odata.deltaLink"));
	snprintf(path, sizeof(path), "%s",
	         path_of(ut_json_str(v, "@odata.nextLink")));
	json_decref(v);
	assert_int_equal(ut_http_do(&h, "GET", path, user, NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	assert_int_equal(json_array_size(json_object_get(v, "value")), 1);
	assert_null(json_object_get(v, "@odata.nextLink"));
	assert_non_null(
	    strstr(ut_json_str(v, "@odata.deltaLink"), "$deltatoken="));
	json_decref(v);
	free(user);
	free(r);
	ut_http_close(&h);
}

static void
test_subscriptions_and_limits(void **state)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char path[512];
	(void)state;
	ut_http_open(&h, g_base, g_ca);
	char *user = ut_mint(g_data, "user", "u-subs", HOST);
	char *app = ut_mint(g_data, "app", APP, NULL);
	const char *body = "{\"deviceId\":\"desk\",\"platform\":\"polling\","
	                   "\"appDisplayName\":\"Contoso\"}";
	assert_int_equal(ut_http_do(&h, "POST",
	                            "/v1.0/me/notifications/subscriptions",
	                            user, body, 0, NULL, r),
	                 201);
	json_t *v = ut_http_json(r);
	char *unsid = strdup(ut_json_str(v, "id"));
	assert_string_equal(ut_json_str(v, "platform"), "polling");
	assert_string_equal(ut_json_str(v, "deviceId"), "desk");
	assert_string_equal(ut_json_str(v, "targetHostName"), HOST);
	assert_non_null(strstr(ut_json_str(v, "expirationDateTime"), "Z"));
	json_decref(v);
	/* Again: renewed, 200, same UNSID. */
	assert_int_equal(ut_http_do(&h, "POST",
	                            "/v1.0/me/notifications/subscriptions",
	                            user, body, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	assert_string_equal(ut_json_str(v, "id"), unsid);
	json_decref(v);
	ut_http_do(&h, "POST", "/v1.0/me/notifications/subscriptions", user,
	           "{\"deviceId\":\"x\",\"platform\":\"carrierPigeon\"}", 0,
	           NULL, r);
	assert_graph_error(r, 400, "BadRequest", "platform");

	/* 5 live notifications per user: the 6th is 429 with Retry-After. */
	for (int i = 0; i < 5; i++) {
		char aid[16];
		snprintf(aid, sizeof(aid), "fill-%d", i);
		free(ut_gw_post(&h, app, unsid, HOST, aid, 201));
	}
	char hdr[300], retry[16];
	const char *hdrs[] = {hdr, NULL};
	snprintf(hdr, sizeof(hdr), "X-UNS-ID: %s", unsid);
	ut_http_do(&h, "POST", "/beta/me/notifications", app,
	           "{\"payload\":{\"rawContent\":\"one too many\"}}", 0, hdrs,
	           r);
	assert_graph_error(r, 429, "TooManyRequests", "");
	assert_true(ut_http_header(r, "Retry-After", retry, sizeof(retry)));

	/* GET the caller's devices, and one by UNSID (issue 19: these were
	 * read as notification ids: 404 "notification not found", 405). */
	assert_int_equal(ut_http_do(&h, "GET",
	                            "/v1.0/me/notifications/subscriptions",
	                            user, NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	json_t *list = json_object_get(v, "value");
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(ut_json_str(json_array_get(list, 0), "id"), unsid);
	assert_string_equal(ut_json_str(json_array_get(list, 0), "deviceId"),
	                    "desk");
	assert_non_null(strstr(ut_json_str(v, "@odata.context"),
	                       "$metadata#subscriptions"));
	json_decref(v);
	snprintf(path, sizeof(path), "/v1.0/me/notifications/subscriptions/%s",
	         unsid);
	assert_int_equal(ut_http_do(&h, "GET", path, user, NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	assert_string_equal(ut_json_str(v, "id"), unsid);
	assert_string_equal(ut_json_str(v, "platform"), "polling");
	json_decref(v);
	ut_http_do(
	    &h, "GET",
	    "/v1.0/me/notifications/subscriptions/AAAAAAAAAAAAAAAAAAAAAA", user,
	    NULL, 0, NULL, r);
	assert_graph_error(r, 404, "NotFound", "subscription not found");
	/* Another user sees none of them; an app token may not list. */
	char *other = ut_mint(g_data, "user", "u-subs-other", HOST);
	ut_http_do(&h, "GET", path, other, NULL, 0, NULL, r);
	assert_graph_error(r, 404, "NotFound", "subscription not found");
	free(other);
	ut_http_do(&h, "GET", "/v1.0/me/notifications/subscriptions", app, NULL,
	           0, NULL, r);
	assert_graph_error(r, 403, "Forbidden", "");

	assert_int_equal(ut_http_do(&h, "DELETE", path, user, NULL, 0, NULL, r),
	                 204);
	ut_http_do(&h, "DELETE", path, user, NULL, 0, NULL, r);
	assert_graph_error(r, 404, "NotFound", "");
	free(unsid);
	free(app);
	free(user);
	free(r);
	ut_http_close(&h);
}

/* Idempotency-Key (issue 19): two identical POSTs without an
 * appNotificationId made two notifications; with the same key the second
 * answers the first answer, and another body with that key is 422. */
static void
test_idempotency_key(void **state)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char *id;
	(void)state;
	ut_http_open(&h, g_base, g_ca);
	char *user = ut_mint(g_data, "user", "u-idem", HOST);
	char *app = ut_mint(g_data, "app", APP, NULL);
	char *unsid = ut_gw_subscribe(&h, user, "idem-phone");
	char xid[300];
	const char *k1[] = {"Idempotency-Key: \"req-1\"", xid, NULL};
	const char *k1bare[] = {"Idempotency-Key: req-1", xid, NULL};
	const char *k2[] = {"Idempotency-Key: req-2", xid, NULL};
	const char *body = "{\"payload\":{\"rawContent\":\"once\"}}";
	snprintf(xid, sizeof(xid), "X-UNS-ID: %s", unsid);

	assert_int_equal(ut_http_do(&h, "POST", "/v1.0/me/notifications", app,
	                            body, 0, k1, r),
	                 201);
	json_t *v = ut_http_json(r);
	id = strdup(ut_json_str(v, "id"));
	json_decref(v);
	/* The same key (quoted or bare: the same key) and body: the first
	 * answer, nothing created. Different JSON spacing is the same body. */
	assert_int_equal(ut_http_do(&h, "POST", "/v1.0/me/notifications", app,
	                            body, 0, k1bare, r),
	                 201);
	v = ut_http_json(r);
	assert_string_equal(ut_json_str(v, "id"), id);
	json_decref(v);
	assert_int_equal(
	    ut_http_do(&h, "POST", "/beta/me/notifications", app,
	               "{ \"payload\" : {\"rawContent\":\"once\"} }", 0, k1, r),
	    201);
	v = ut_http_json(r);
	assert_string_equal(ut_json_str(v, "id"), id);
	json_decref(v);
	assert_int_equal(ut_http_do(&h, "GET", "/v1.0/me/notifications", user,
	                            NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	assert_int_equal(json_array_size(json_object_get(v, "value")), 1);
	json_decref(v);
	/* The same key with another body: 422, nothing created. */
	ut_http_do(&h, "POST", "/v1.0/me/notifications", app,
	           "{\"payload\":{\"rawContent\":\"twice\"}}", 0, k1, r);
	assert_graph_error(r, 422, "UnprocessableEntity", "");
	assert_string_equal(
	    ut_error_message(r),
	    "Idempotency-Key: already used for another request");
	/* Another key posts anew; no key at all too. */
	assert_int_equal(ut_http_do(&h, "POST", "/v1.0/me/notifications", app,
	                            body, 0, k2, r),
	                 201);
	const char *plain[] = {xid, NULL};
	assert_int_equal(ut_http_do(&h, "POST", "/v1.0/me/notifications", app,
	                            body, 0, plain, r),
	                 201);
	assert_int_equal(ut_http_do(&h, "GET", "/v1.0/me/notifications", user,
	                            NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	assert_int_equal(json_array_size(json_object_get(v, "value")), 3);
	json_decref(v);
	free(id);
	free(unsid);
	free(app);
	free(user);
	free(r);
	ut_http_close(&h);
}

/* A subscription's delivery state is in its JSON (the operator's and the
 * user's lists show how taps to each device fare). */
static void
test_subscription_delivery_json(void **state)
{
	Uns__V1__Subscription s = UNS__V1__SUBSCRIPTION__INIT;
	Uns__V1__DeliveryState d = UNS__V1__DELIVERY_STATE__INIT;
	char *text = NULL;
	(void)state;
	s.unsid = "AAAAAAAAAAAAAAAAAAAAAA";
	s.platform = UNS__V1__PLATFORM__PLATFORM_WEBHOOK;
	d.consecutive_failures = 3;
	d.last_error = "HTTP 503";
	d.delivered = 7;
	s.delivery = &d;
	uns_jv *v = uns_gw_subscription_json(&s);
	assert_non_null(v);
	assert_int_equal(uns_jv_dump(v, 0, &text, NULL), UNS_OK);
	assert_string_equal(text, "{\"id\":\"AAAAAAAAAAAAAAAAAAAAAA\","
	                          "\"platform\":\"webhook\",\"delivery\":{"
	                          "\"consecutiveFailures\":3,\"lastError\":"
	                          "\"HTTP 503\",\"delivered\":\"7\"}}");
	free(text);
	uns_jv_free(v);
}

/* An operator token (scope uns.operator) signed with the suite's key. */
static char *
mint_operator(const char *sub)
{
	char path[400], why[256], out[2048];
	uint8_t *secret = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/jwt-hs256.secret", g_data);
	if (uns_jwt_read_secret_file(path, &secret, &len, why, sizeof(why)) !=
	    UNS_OK) {
		fail_msg("secret: %s", why);
	}
	ut_mint_hs256(secret, len, time(NULL), sub, NULL, HOST,
	              UNS_SCOPE_OPERATOR, out, sizeof(out));
	free(secret);
	return strdup(out);
}

/* The operator role (issue 19): a user's subscriptions and their delivery
 * state under /admin, refused for user and app tokens; an operator token
 * opens nothing else. */
static void
test_operator_role(void **state)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	(void)state;
	ut_http_open(&h, g_base, g_ca);
	char *user = ut_mint(g_data, "user", "u-operated", HOST);
	char *app = ut_mint(g_data, "app", APP, NULL);
	char *op = mint_operator("ops-1");
	char *unsid = ut_gw_subscribe(&h, user, "op-phone");
	const char *path =
	    "/admin/users/u-operated/hosts/" HOST "/subscriptions";

	assert_int_equal(ut_http_do(&h, "GET", path, op, NULL, 0, NULL, r),
	                 200);
	json_t *v = ut_http_json(r);
	json_t *list = json_object_get(v, "value");
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(ut_json_str(json_array_get(list, 0), "id"), unsid);
	assert_string_equal(ut_json_str(json_array_get(list, 0), "deviceId"),
	                    "op-phone");
	json_decref(v);
	/* Another host of the same user: none. */
	assert_int_equal(ut_http_do(&h, "GET",
	                            "/admin/users/u-operated/hosts/"
	                            "elsewhere.example.com/subscriptions",
	                            op, NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	assert_int_equal(json_array_size(json_object_get(v, "value")), 0);
	json_decref(v);
	/* User and app tokens are refused, and an operator token is not a
	 * user's. */
	ut_http_do(&h, "GET", path, user, NULL, 0, NULL, r);
	assert_graph_error(r, 403, "Forbidden", "");
	assert_string_equal(ut_error_message(r),
	                    "a user token may not use this route");
	ut_http_do(&h, "GET", path, app, NULL, 0, NULL, r);
	assert_graph_error(r, 403, "Forbidden", "");
	assert_string_equal(ut_error_message(r),
	                    "an app token may not use this route");
	ut_http_do(&h, "GET", "/v1.0/me/notifications", op, NULL, 0, NULL, r);
	assert_graph_error(r, 403, "Forbidden", "");
	assert_string_equal(ut_error_message(r),
	                    "an operator token may not use this route");
	ut_http_do(&h, "GET", path, NULL, NULL, 0, NULL, r);
	assert_graph_error(r, 401, "Unauthorized", "");
	free(unsid);
	free(op);
	free(app);
	free(user);
	free(r);
	ut_http_close(&h);
}

static void
test_healthz(void **state)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char rid[64];
	(void)state;
	ut_http_open(&h, g_base, g_ca);
	assert_int_equal(
	    ut_http_do(&h, "GET", "/healthz", NULL, NULL, 0, NULL, r), 200);
	json_t *v = ut_http_json(r);
	assert_string_equal(ut_json_str(v, "status"), "SERVING");
	json_decref(v);
	assert_true(ut_http_header(r, "request-id", rid, sizeof(rid)));
	assert_int_equal(strlen(rid), 36);
	free(r);
	ut_http_close(&h);
}

static int
dial(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* A client trickling its request one byte at a time is cut off after the
 * header deadline (2 s here), and others are served meanwhile. */
static void
test_slowloris(void **state)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	const char *req =
	    "POST /beta/me/notifications HTTP/1.1\r\nHost: x\r\n"
	    "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
	int fds[4];
	(void)state;
	ut_http_open(&h, g_base, g_ca);
	for (int i = 0; i < 4; i++) {
		fds[i] = dial(g_gw_port);
	}
	time_t start = time(NULL);
	int closed = 0;
	for (size_t i = 0; closed < 4 && time(NULL) - start < 30; i++) {
		for (int k = 0; k < 4; k++) {
			if (fds[k] >= 0 && send(fds[k], req + i % strlen(req),
			                        1, MSG_NOSIGNAL) != 1) {
				close(fds[k]);
				fds[k] = -1;
				closed++;
			}
		}
		if (i % 5 == 0) { /* everyone else is served at once */
			assert_int_equal(ut_http_do(&h, "GET", "/healthz", NULL,
			                            NULL, 0, NULL, r),
			                 200);
		}
		usleep(200 * 1000);
	}
	assert_int_equal(closed, 4);
	assert_true(time(NULL) - start >= 1);
	free(r);
	ut_http_close(&h);
}

/* Over plain HTTP (standalone gateway): a body trickled after complete
 * headers is cut off at gateway_body_timeout, headers trickled at
 * gateway_header_timeout; a normal client is served throughout. */
static void
test_slow_body_and_headers(void **state)
{
	ut_proc gw;
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char base[128], out[4096];
	const char *head = "POST /beta/me/notifications HTTP/1.1\r\nHost: x\r\n"
	                   "Content-Type: application/json\r\n"
	                   "Content-Length: 1000\r\n\r\n";
	(void)state;
	start_gateway(&gw,
	              "gateway_header_timeout = 1s\n"
	              "gateway_body_timeout = 1s\n",
	              base, sizeof(base));
	int port = atoi(strrchr(base, ':') + 1);
	int body_fd = dial(port), head_fd = dial(port);
	assert_int_equal(send(body_fd, head, strlen(head), MSG_NOSIGNAL),
	                 (ssize_t)strlen(head));
	ut_http_open(&h, base, NULL);
	time_t start = time(NULL);
	int open_fds = 2;
	for (int i = 0; open_fds > 0 && time(NULL) - start < 30; i++) {
		int *fds[] = {&body_fd, &head_fd};
		for (int k = 0; k < 2; k++) {
			if (*fds[k] >= 0 && send(*fds[k], k == 0 ? " " : "X", 1,
			                         MSG_NOSIGNAL) != 1) {
				close(*fds[k]);
				*fds[k] = -1;
				open_fds--;
			}
		}
		if (i % 5 == 0) {
			assert_int_equal(ut_http_do(&h, "GET", "/healthz", NULL,
			                            NULL, 0, NULL, r),
			                 200);
		}
		usleep(200 * 1000);
	}
	assert_int_equal(open_fds, 0);
	ut_http_close(&h);
	assert_int_equal(ut_unsd_stop(&gw, SIGTERM, out, sizeof(out)), 0);
	free(r);
}

/* 1,000 malformed requests: each answered with a Graph error, the gateway
 * still serving, the user's feed unmoved. */
static void
test_malformed_flood(void **state)
{
	static const struct {
		const char *method, *path, *body, *header;
		long status;
	} bad[] = {
	    {"POST", "/beta/me/notifications", "{\"payload\":", NULL, 400},
	    {"POST", "/beta/me/notifications", "[1,2,3]", NULL, 400},
	    {"POST", "/beta/me/notifications", "{\"priority\":\"x\"}", NULL,
	     400},
	    {"POST", "/beta/me/notifications", "\xff\xfe{}", NULL, 400},
	    {"POST", "/beta/me/notifications", "{}", "Content-Type: text/xml",
	     415},
	    {"POST", "/beta/me/notifications", "{}", "Content-Encoding: zstd",
	     415},
	    {"POST", "/beta/me/notifications", "garbage",
	     "Content-Encoding: gzip", 400},
	    {"POST", "/beta/me/notifications", "{}",
	     "If-Range: Wed, 21 Oct 2015 07:28:00 GMT", 400},
	    {"PATCH", "/beta/me/notifications/%ff", "{\"readState\":1e999}",
	     NULL, 400},
	    {"GET", "/beta/me/notifications?$filter=1%20eq%201", NULL, NULL,
	     400},
	    {"GET", "/beta/me/notifications/delta?wait=-1", NULL, NULL, 400},
	    {"DELETE", "/beta/me/notifications", NULL, NULL, 405},
	    {"GET", "/../../etc/passwd", NULL, NULL, 404},
	};
	size_t n_bad = sizeof(bad) / sizeof(bad[0]);
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char delta[1024];
	(void)state;
	ut_http_open(&h, g_base, g_ca);
	char *user = ut_mint(g_data, "user", "u-flood", HOST);
	char *id = NULL;
	assert_int_equal(ut_http_do(&h, "POST", "/beta/me/notifications", user,
	                            "{\"payload\":{\"rawContent\":\"keep\"}}",
	                            0, NULL, r),
	                 201);
	json_t *v = ut_http_json(r);
	id = strdup(ut_json_str(v, "id"));
	json_decref(v);
	assert_int_equal(ut_http_do(&h, "GET", "/beta/me/notifications/delta",
	                            user, NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	snprintf(delta, sizeof(delta), "%s",
	         path_of(ut_json_str(v, "@odata.deltaLink")));
	json_decref(v);

	for (int i = 0; i < 1000; i++) {
		const char *hdrs[] = {bad[i % n_bad].header, NULL};
		long st =
		    ut_http_do(&h, bad[i % n_bad].method, bad[i % n_bad].path,
		               user, bad[i % n_bad].body, 0,
		               bad[i % n_bad].header ? hdrs : NULL, r);
		if (st != bad[i % n_bad].status) {
			fail_msg("%s %s: %ld, want %ld: %s",
			         bad[i % n_bad].method, bad[i % n_bad].path, st,
			         bad[i % n_bad].status, r->body);
		}
		if (i % 100 == 0) { /* and some bytes that are not HTTP */
			int fd = dial(g_gw_port);
			send(fd, "\x16\x03\x01\x00\x05hello\r\n\r\n", 14,
			     MSG_NOSIGNAL);
			close(fd);
		}
	}
	/* Still serving; the feed did not move; the notification is as it
	 * was. */
	assert_int_equal(ut_http_do(&h, "GET", delta, user, NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	assert_int_equal(json_array_size(json_object_get(v, "value")), 0);
	json_decref(v);
	char path[256];
	snprintf(path, sizeof(path), "/beta/me/notifications/%s", id);
	assert_int_equal(ut_http_do(&h, "GET", path, user, NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	assert_int_equal(json_integer_value(json_object_get(v, "version")), 1);
	json_decref(v);
	free(id);
	free(user);
	free(r);
	ut_http_close(&h);
}

/* uns-gateway on its own, calling this unsd over tls+tcp://. */
static void
test_standalone_gateway(void **state)
{
	ut_proc gw;
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char rpc[128], base[128], out[4096], path[512];
	(void)state;
	snprintf(rpc, sizeof(rpc), "tls+tcp://localhost:%d", g_rpc_port);
	ut_gateway_start(&gw, rpc, g_ca, NULL, base, sizeof(base));
	ut_http_open(&h, base, NULL);
	char *user = ut_mint(g_data, "user", "u-standalone", HOST);
	assert_int_equal(
	    ut_http_do(&h, "POST", "/beta/me/notifications", user,
	               "{\"payload\":{\"visualContent\":{\"title\":"
	               "\"via the standalone gateway\"}}}",
	               0, NULL, r),
	    201);
	json_t *v = ut_http_json(r);
	snprintf(path, sizeof(path), "/v1.0/me/notifications/%s",
	         ut_json_str(v, "id"));
	json_decref(v);
	assert_int_equal(ut_http_do(&h, "GET", path, user, NULL, 0, NULL, r),
	                 200);
	assert_non_null(strstr(r->body, "via the standalone gateway"));
	ut_http_do(&h, "GET", path, "not.a.token", NULL, 0, NULL, r);
	assert_graph_error(r, 401, "Unauthorized", "");
	ut_http_close(&h);
	assert_int_equal(ut_unsd_stop(&gw, SIGTERM, out, sizeof(out)), 0);
	free(user);
	free(r);
}

/* A gateway whose RPC server is not there answers 504 (DEADLINE_EXCEEDED:
 * libuns waits for a connection within the call's deadline) in Graph's
 * envelope, within its RPC deadline, instead of hanging. */
static void
test_backend_down(void **state)
{
	ut_proc gw;
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	char conf[400], base[128], out[4096];
	(void)state;
	snprintf(conf, sizeof(conf), "%s/down.conf", g_dir);
	ut_write_file(conf, "gateway_rpc_timeout = 500ms\n");
	ut_gateway_start(&gw, "tcp://127.0.0.1:1", NULL, conf, base,
	                 sizeof(base));
	ut_http_open(&h, base, NULL);
	ut_http_do(&h, "GET", "/healthz", NULL, NULL, 0, NULL, r);
	assert_graph_error(r, 504, "GatewayTimeout", "deadline");
	ut_http_close(&h);
	assert_int_equal(ut_unsd_stop(&gw, SIGTERM, out, sizeof(out)), 0);
	free(r);
}

/* Starts uns-gateway over this unsd with extra config lines; fills base. */
static void
start_gateway(ut_proc *gw, const char *conf_text, char *base, size_t cap)
{
	char conf[400], rpc[128];
	snprintf(conf, sizeof(conf), "%s/gw-%d.conf", g_dir, (int)getpid());
	ut_write_file(conf, conf_text);
	snprintf(rpc, sizeof(rpc), "tls+tcp://localhost:%d", g_rpc_port);
	ut_gateway_start(gw, rpc, g_ca, conf, base, cap);
}

/* gateway_max_connections: with the slots taken, MHD stops accepting
 * (a new client waits in the kernel's backlog, unanswered); once a slot
 * frees it is served. */
static void
test_connection_limit(void **state)
{
	ut_proc gw;
	char base[128], out[4096], url[256];
	long status = 0;
	(void)state;
	start_gateway(&gw, "gateway_max_connections = 2\n", base, sizeof(base));
	int port = atoi(strrchr(base, ':') + 1);
	int a = dial(port), b = dial(port);
	snprintf(url, sizeof(url), "%s/healthz", base);
	CURL *k = curl_easy_init();
	curl_easy_setopt(k, CURLOPT_URL, url);
	curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, 1000L);
	assert_int_equal(curl_easy_perform(k), CURLE_OPERATION_TIMEDOUT);
	close(a);
	close(b);
	curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, 20000L);
	assert_int_equal(curl_easy_perform(k), CURLE_OK);
	curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &status);
	assert_int_equal(status, 200);
	curl_easy_cleanup(k);
	assert_int_equal(ut_unsd_stop(&gw, SIGTERM, out, sizeof(out)), 0);
}

/* Headers beyond gateway_max_header are refused by MHD (431 or 413), and
 * the gateway goes on serving. */
static void
test_header_limit(void **state)
{
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	static char big[40000];
	(void)state;
	ut_http_open(&h, g_base, g_ca);
	memcpy(big, "X-Big: ", 7);
	memset(big + 7, 'a', sizeof(big) - 8);
	const char *hdrs[] = {big, NULL};
	long st = ut_http_do(&h, "GET", "/healthz", NULL, NULL, 0, hdrs, r);
	assert_true(st == 431 || st == 413);
	assert_int_equal(
	    ut_http_do(&h, "GET", "/healthz", NULL, NULL, 0, NULL, r), 200);
	free(r);
	ut_http_close(&h);
}

/* SIGTERM while a client long-polls through the gateway: the poll is
 * answered, unsd exits 0 at once (not after the 50 s wait). */
static void
test_sigterm_ends_long_poll(void **state)
{
	ut_proc p;
	char data[300], out[8192], base[128];
	int ports[2] = {0, 0};
	(void)state;
	snprintf(data, sizeof(data), "%.250s/drain", g_dir);
	ut_unsd_http_start(&p, NULL, data, ports, base, sizeof(base));
	/* Tokens signed with this unsd's own dev secret. */
	char *user = ut_mint(data, "user", "u-drain", HOST);

	poller lp = {.token = user, .r = ut_http_resp_new()};
	snprintf(lp.path, sizeof(lp.path),
	         "/beta/me/notifications/delta?$deltatoken=latest&wait=50");
	snprintf(g_poll_base, sizeof(g_poll_base), "%s", base);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, long_poll, &lp), 0);
	usleep(500 * 1000);
	time_t start = time(NULL);
	assert_int_equal(ut_unsd_stop(&p, SIGTERM, out, sizeof(out)), 0);
	pthread_join(t, NULL);
	assert_true(time(NULL) - start < 30);
	assert_true(lp.r->status == 200 || lp.r->status == 503);
	g_poll_base[0] = '\0';
	free(lp.r);
	free(user);
}

/* SIGTERM to uns-gateway while a client long-polls through it: the poll
 * is answered 503 and the process exits 0 at once, not after the wait. */
static void
test_standalone_stop_ends_long_poll(void **state)
{
	ut_proc gw;
	char base[128], out[4096];
	(void)state;
	start_gateway(&gw, "", base, sizeof(base));
	char *user = ut_mint(g_data, "user", "u-gw-stop", HOST);
	poller lp = {.token = user, .r = ut_http_resp_new()};
	snprintf(lp.path, sizeof(lp.path),
	         "/beta/me/notifications/delta?$deltatoken=latest&wait=50");
	snprintf(g_poll_base, sizeof(g_poll_base), "%s", base);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, long_poll, &lp), 0);
	usleep(700 * 1000);
	time_t start = time(NULL);
	assert_int_equal(ut_unsd_stop(&gw, SIGTERM, out, sizeof(out)), 0);
	pthread_join(t, NULL);
	assert_true(time(NULL) - start < 30);
	g_poll_base[0] = '\0';
	assert_graph_error(lp.r, 503, "ServiceUnavailable", "shutting down");
	free(lp.r);
	free(user);
}

/* The RPC server dies under a long poll: the call fails UNAVAILABLE and
 * the client gets 503 at once, not at the end of its wait. */
static void
test_backend_lost(void **state)
{
	ut_proc unsd, gw;
	char data[300], rpc[128], base[128], out[8192];
	int ports[1] = {0};
	(void)state;
	snprintf(data, sizeof(data), "%.250s/lost", g_dir);
	const char *argv[] = {
	    UNS_UNSD_PATH,       "--data",           data, "--listen",
	    "tcp://127.0.0.1:0", "--gateway-listen", "",   NULL};
	const char *markers[] = {"serving", NULL};
	assert_int_equal(ut_proc_start(&unsd, argv, markers, ports), 0);
	snprintf(rpc, sizeof(rpc), "tcp://127.0.0.1:%d", ports[0]);
	ut_gateway_start(&gw, rpc, NULL, NULL, base, sizeof(base));
	char *user = ut_mint(data, "user", "u-lost", HOST);

	poller lp = {.token = user, .r = ut_http_resp_new()};
	snprintf(lp.path, sizeof(lp.path),
	         "/beta/me/notifications/delta?$deltatoken=latest&wait=50");
	snprintf(g_poll_base, sizeof(g_poll_base), "%s", base);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, long_poll, &lp), 0);
	usleep(700 * 1000);
	time_t start = time(NULL);
	ut_unsd_stop(&unsd, SIGKILL, out, sizeof(out));
	pthread_join(t, NULL);
	g_poll_base[0] = '\0';
	assert_true(time(NULL) - start < 30);
	assert_graph_error(lp.r, 503, "ServiceUnavailable", "");
	char ra[16];
	assert_true(ut_http_header(lp.r, "Retry-After", ra, sizeof(ra)));
	assert_string_equal(ra, "1");
	assert_int_equal(ut_unsd_stop(&gw, SIGTERM, out, sizeof(out)), 0);
	free(lp.r);
	free(user);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_mapping),
	    cmocka_unit_test(test_field_names),
	    cmocka_unit_test(test_filter_parser),
	    cmocka_unit_test(test_subscription_delivery_json),
	    cmocka_unit_test(test_body_parser),
	    cmocka_unit_test(test_body_decoding),
	    cmocka_unit_test(test_healthz),
	    cmocka_unit_test(test_create_get_replace),
	    cmocka_unit_test(test_graph_examples),
	    cmocka_unit_test(test_input_errors),
	    cmocka_unit_test(test_compressed_bodies),
	    cmocka_unit_test(test_chunked_body),
	    cmocka_unit_test(test_list_paging_filter),
	    cmocka_unit_test(test_patch_if_match_and_delete),
	    cmocka_unit_test(test_delta_and_long_poll),
	    cmocka_unit_test(test_delta_pages),
	    cmocka_unit_test(test_subscriptions_and_limits),
	    cmocka_unit_test(test_idempotency_key),
	    cmocka_unit_test(test_operator_role),
	    cmocka_unit_test(test_slowloris),
	    cmocka_unit_test(test_slow_body_and_headers),
	    cmocka_unit_test(test_malformed_flood),
	    cmocka_unit_test(test_standalone_gateway),
	    cmocka_unit_test(test_backend_down),
	    cmocka_unit_test(test_backend_lost),
	    cmocka_unit_test(test_connection_limit),
	    cmocka_unit_test(test_header_limit),
	    cmocka_unit_test(test_sigterm_ends_long_poll),
	    cmocka_unit_test(test_standalone_stop_ends_long_poll),
	};
	return cmocka_run_group_tests(tests, setup_unsd, teardown_unsd);
}
