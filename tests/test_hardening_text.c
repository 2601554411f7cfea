/*
 * test_hardening_text.c — hardening, class "text" (issue 14 item 2): bad
 * bytes in RPC strings are refused at the border, and a record stored with
 * bad bytes before that is served, not a broken page.
 *
 * The border test is table-driven over the descriptors, as the check is:
 * for every method of the service, every string field reachable in its
 * request (repeated ones at index 0) gets a value with an invalid UTF-8
 * byte and one with a NUL, each sent as raw bytes (protobuf-c would cut the
 * NUL when packing: a placeholder of the same length is packed and its
 * bytes replaced). Each must come back INVALID_ARGUMENT with the field's
 * lowerCamelCase path as the detail. A field added to a proto later is
 * covered without touching this file.
 *
 * The served test writes notifications with bad bytes straight into the
 * store (as an older unsd let them in), then reads them through the
 * gateway (by id, the list, delta) and `unsctl history --json`.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <jansson.h>

#include "store.h"
#include "testutil.h"
#include "uns_methods.h"
#include "uns_stubs.h"
#include "uthttp.h"
#include "utservice.h"

#define APP       "contoso-svc"
#define HOST      "contoso.example.com"
#define MAX_CHAIN 8
#define BAD_UTF8  "bad\xff!"
#define BAD_NUL   "order-1\0x"

/* --- the border, over every string field of every request --------------- */

typedef struct chain {
	const ProtobufCFieldDescriptor *f[MAX_CHAIN];
	int n;
} chain;

/* The path the server names: lowerCamelCase, "[0]" after repeated. */
static void
chain_path(const chain *c, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	for (int i = 0; i < c->n; i++) {
		const char *name = c->f[i]->name;
		if (i > 0) {
			o += (size_t)snprintf(out + o, cap - o, ".");
		}
		for (int up = 0; *name; name++) {
			if (*name == '_') {
				up = 1;
				continue;
			}
			out[o++] = up && *name >= 'a' && *name <= 'z'
			               ? (char)(*name - 'a' + 'A')
			               : *name;
			up = 0;
		}
		out[o] = '\0';
		if (c->f[i]->label == PROTOBUF_C_LABEL_REPEATED) {
			o += (size_t)snprintf(out + o, cap - o, "[0]");
		}
	}
}

/* A message of type d with only the field chain c (from index k) set, its
 * last string to value. Freed with protobuf_c_message_free_unpacked. */
static ProtobufCMessage *
build(const ProtobufCMessageDescriptor *d, const chain *c, int k,
      const char *value)
{
	ProtobufCMessage *m = calloc(1, d->sizeof_message);
	assert_non_null(m);
	d->message_init(m);
	const ProtobufCFieldDescriptor *fd = c->f[k];
	void *v;
	if (fd->type == PROTOBUF_C_TYPE_STRING) {
		v = strdup(value);
	} else {
		v = build(fd->descriptor, c, k + 1, value);
	}
	char *slot = (char *)m + fd->offset;
	if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
		void **arr = malloc(sizeof(void *));
		arr[0] = v;
		*(size_t *)((char *)m + fd->quantifier_offset) = 1;
		*(void ***)slot = arr;
	} else {
		*(void **)slot = v;
	}
	return m;
}

typedef struct border {
	ut_service s;
	char dir[256];
	size_t cases;
} border;

/* Sends method m a request whose field chain c holds bad (n bytes) and
 * checks the refusal. */
static void
send_bad(border *b, const uns_method *m, const chain *c, const char *bad,
         size_t n)
{
	char ph[64], want[256];
	assert_true(n < sizeof(ph));
	memset(ph, '@', n);
	ph[n] = '\0';
	ProtobufCMessage *msg = build(m->input, c, 0, ph);
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *payload = malloc(len);
	protobuf_c_message_pack(msg, payload);
	protobuf_c_message_free_unpacked(msg, NULL);
	uint8_t *at = memmem(payload, len, ph, n);
	assert_non_null(at);
	memcpy(at, bad, n);

	Uns__V1__RequestEnvelope env = UNS__V1__REQUEST_ENVELOPE__INIT;
	env.method = (char *)m->name;
	env.request_id = "r-text";
	env.payload.data = payload;
	env.payload.len = len;
	size_t elen = uns__v1__request_envelope__get_packed_size(&env);
	uint8_t *req = malloc(elen), *resp = NULL;
	uns__v1__request_envelope__pack(&env, req);
	size_t rlen = 0;
	assert_int_equal(
	    uns_client_call_raw(b->s.client, req, elen, 10000, &resp, &rlen),
	    UNS_OK);
	Uns__V1__ResponseEnvelope *r =
	    uns__v1__response_envelope__unpack(NULL, rlen, resp);
	assert_non_null(r);
	chain_path(c, want, sizeof(want));
	if (r->code != UNS_INVALID_ARGUMENT || r->n_details < 1 ||
	    strcmp(r->details[0]->field, want) != 0) {
		fail_msg("%s %s: code %d \"%s\", want INVALID_ARGUMENT naming "
		         "%s",
		         m->name, want, r->code, r->message, want);
	}
	const char *why = r->details[0]->reason;
	assert_true(strstr(why, "UTF-8") != NULL || strstr(why, "NUL") != NULL);
	uns__v1__response_envelope__free_unpacked(r, NULL);
	free(resp);
	free(req);
	free(payload);
	b->cases++;
}

/* Every string leaf below d, depth first; each is sent both bad values. */
static void
each_string(border *b, const uns_method *m, const ProtobufCMessageDescriptor *d,
            chain *c)
{
	if (c->n == MAX_CHAIN) {
		return;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		c->f[c->n++] = fd;
		if (fd->type == PROTOBUF_C_TYPE_STRING) {
			send_bad(b, m, c, BAD_UTF8, sizeof(BAD_UTF8) - 1);
			send_bad(b, m, c, BAD_NUL, sizeof(BAD_NUL) - 1);
		} else if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
			each_string(b, m, fd->descriptor, c);
		}
		c->n--;
	}
}

static void
test_every_string_field_refused(void **state)
{
	(void)state;
	border b = {0};
	ut_mkdtemp(b.dir, sizeof(b.dir));
	ut_service_start(&b.s, b.dir, NULL);
	const uns_service_desc *svc = &uns_notifications_service;
	for (size_t i = 0; i < svc->n_methods; i++) {
		chain c = {.n = 0};
		each_string(&b, &svc->methods[i], svc->methods[i].input, &c);
	}
	/* Post alone has more than twenty string fields. */
	assert_true(b.cases > 60);
	ut_service_stop(&b.s);
	ut_rmdir(b.dir);
}

/* The envelope's own strings: request id, method, metadata keys. */
static void
test_envelope_strings_refused(void **state)
{
	static const struct {
		const char *method, *request_id, *key;
		size_t key_len;
		const char *field;
	} cases[] = {
	    {"/uns.v1.Notifications/Health", "r\xc3", "x", 1,
	     "envelope.request_id"},
	    {"/uns.v1.Notifications/Health", "r-1", "authorization\0x", 15,
	     "envelope.metadata[0].key"},
	    {"/uns.v1.Notifications/Hea\xffth", "r-1", "x", 1,
	     "envelope.method"},
	};
	(void)state;
	border b = {0};
	ut_mkdtemp(b.dir, sizeof(b.dir));
	ut_service_start(&b.s, b.dir, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char key[32];
		memset(key, '@', cases[i].key_len);
		key[cases[i].key_len] = '\0';
		Uns__V1__Metadata md = UNS__V1__METADATA__INIT;
		Uns__V1__Metadata *mds[] = {&md};
		md.key = key;
		Uns__V1__RequestEnvelope env = UNS__V1__REQUEST_ENVELOPE__INIT;
		env.method = (char *)cases[i].method;
		env.request_id = (char *)cases[i].request_id;
		env.metadata = mds;
		env.n_metadata = 1;
		size_t n = uns__v1__request_envelope__get_packed_size(&env);
		uint8_t *req = malloc(n), *resp = NULL;
		uns__v1__request_envelope__pack(&env, req);
		uint8_t *at = memmem(req, n, key, cases[i].key_len);
		memcpy(at, cases[i].key, cases[i].key_len);
		size_t rlen;
		assert_int_equal(uns_client_call_raw(b.s.client, req, n, 10000,
		                                     &resp, &rlen),
		                 UNS_OK);
		Uns__V1__ResponseEnvelope *r =
		    uns__v1__response_envelope__unpack(NULL, rlen, resp);
		assert_non_null(r);
		assert_int_equal(r->code, UNS_INVALID_ARGUMENT);
		if (strstr(r->message, cases[i].field) != r->message) {
			fail_msg("\"%s\" does not start with %s", r->message,
			         cases[i].field);
		}
		uns__v1__response_envelope__free_unpacked(r, NULL);
		free(resp);
		free(req);
	}
	ut_service_stop(&b.s);
	ut_rmdir(b.dir);
}

/* "order-1\0x" does not replace order-1: refused, and nothing changed. */
static void
test_nul_does_not_replace(void **state)
{
	(void)state;
	border b = {0};
	char app[2048], user[2048];
	ut_mkdtemp(b.dir, sizeof(b.dir));
	ut_service_start(&b.s, b.dir, NULL);
	const char *hosts[] = {HOST};
	assert_int_equal(uns_auth_add_app(b.s.auth, APP, hosts, 1), UNS_OK);
	int64_t now = (int64_t)time(NULL);
	ut_service_mint(app, sizeof(app), now, NULL, APP, NULL, UNS_SCOPE_APP);
	ut_service_mint(user, sizeof(user), now, "u-nul", NULL, HOST,
	                UNS_SCOPE_USER);
	uns_call_opts uo = {.token = user, .timeout_ms = 10000};
	uns_call_opts ao = {.token = app, .timeout_ms = 10000};

	Uns__V1__SubscribeRequest sreq = UNS__V1__SUBSCRIBE_REQUEST__INIT;
	Uns__V1__SubscribeResponse *sresp = NULL;
	sreq.device_id = "d1";
	sreq.platform = UNS__V1__PLATFORM__PLATFORM_POLLING;
	assert_int_equal(
	    uns_notifications_subscribe(b.s.client, &sreq, &sresp, &uo),
	    UNS_OK);

	Uns__V1__PostRequest req = UNS__V1__POST_REQUEST__INIT;
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT;
	Uns__V1__Payload p = UNS__V1__PAYLOAD__INIT;
	p.raw_content = "first";
	n.payload = &p;
	n.app_notification_id = "order-1";
	req.notification = &n;
	req.unsid = sresp->subscription->unsid;
	Uns__V1__PostResponse *presp = NULL;
	assert_int_equal(uns_notifications_post(b.s.client, &req, &presp, &ao),
	                 UNS_OK);
	uns__v1__post_response__free_unpacked(presp, NULL);

	/* The same Post with "order-1@@" then its bytes made "order-1\0x". */
	p.raw_content = "second";
	n.app_notification_id = "order-1@@";
	Uns__V1__RequestEnvelope env = UNS__V1__REQUEST_ENVELOPE__INIT;
	char bearer[2100];
	snprintf(bearer, sizeof(bearer), "Bearer %s", app);
	Uns__V1__Metadata auth = UNS__V1__METADATA__INIT;
	Uns__V1__Metadata *auths[] = {&auth};
	auth.key = "authorization";
	auth.value.data = (uint8_t *)bearer;
	auth.value.len = strlen(bearer);
	env.method = "/uns.v1.Notifications/Post";
	env.metadata = auths;
	env.n_metadata = 1;
	size_t plen = uns__v1__post_request__get_packed_size(&req);
	uint8_t *payload = malloc(plen);
	uns__v1__post_request__pack(&req, payload);
	uint8_t *at = memmem(payload, plen, "order-1@@", 9);
	memcpy(at, BAD_NUL, 9);
	env.payload.data = payload;
	env.payload.len = plen;
	size_t elen = uns__v1__request_envelope__get_packed_size(&env);
	uint8_t *raw = malloc(elen), *resp = NULL;
	uns__v1__request_envelope__pack(&env, raw);
	size_t rlen;
	assert_int_equal(
	    uns_client_call_raw(b.s.client, raw, elen, 10000, &resp, &rlen),
	    UNS_OK);
	Uns__V1__ResponseEnvelope *r =
	    uns__v1__response_envelope__unpack(NULL, rlen, resp);
	assert_int_equal(r->code, UNS_INVALID_ARGUMENT);
	assert_non_null(strstr(r->message, "notification.appNotificationId"));
	uns__v1__response_envelope__free_unpacked(r, NULL);
	free(resp);
	free(raw);
	free(payload);

	/* order-1 still says "first", and it is the only one. */
	Uns__V1__HistoryRequest hreq = UNS__V1__HISTORY_REQUEST__INIT;
	Uns__V1__HistoryResponse *hresp = NULL;
	assert_int_equal(
	    uns_notifications_history(b.s.client, &hreq, &hresp, &uo), UNS_OK);
	assert_int_equal(hresp->n_notifications, 1);
	assert_string_equal(hresp->notifications[0]->payload->raw_content,
	                    "first");
	assert_int_equal(hresp->notifications[0]->version, 1);
	uns__v1__history_response__free_unpacked(hresp, NULL);
	uns__v1__subscribe_response__free_unpacked(sresp, NULL);
	ut_service_stop(&b.s);
	ut_rmdir(b.dir);
}

/* --- a record stored with bad bytes is served --------------------------- */

/* Writes two notifications of (user, HOST) into data/store directly: one
 * whose app id, group and title hold invalid UTF-8, and a good one. */
static void
store_bad_records(const char *data, const char *user)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/store", data);
	uns_store_config sc = {.dir = dir, .reclaim_interval_ms = -1};
	uns_store *st = NULL;
	assert_int_equal(uns_store_open(&st, &sc), UNS_OK);
	const char *ids[] = {"bad-\xff\xfe", "good-1"};
	const char *titles[] = {"caf\xe9 \xc0\x80", "fine"};
	for (int i = 0; i < 2; i++) {
		Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT;
		Uns__V1__Payload p = UNS__V1__PAYLOAD__INIT;
		Uns__V1__VisualContent v = UNS__V1__VISUAL_CONTENT__INIT;
		v.title = (char *)titles[i];
		p.visual_content = &v;
		n.payload = &p;
		n.app_notification_id = (char *)ids[i];
		n.group_name = i == 0 ? "g\xed\xa0\x80" : "g";
		Uns__V1__Notification *out = NULL;
		bool created;
		assert_int_equal(
		    uns_store_post(st, user, HOST, &n, &out, &created), UNS_OK);
		protobuf_c_message_free_unpacked(&out->base, NULL);
	}
	uns_store_close(st);
}

/* Runs unsctl with UNS_URL on port; exit status, output in out. */
static int
unsctl_run(int port, char *out, size_t cap, const char *args)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd),
	         "UNS_URL=tcp://127.0.0.1:%d %s %s 2>/dev/null", port,
	         UNS_UNSCTL_PATH, args);
	return ut_run(cmd, out, cap);
}

static ut_proc g_unsd; /* the served test's, stopped by its teardown */

/* Stops the served test's unsd if a failure left it running. */
static int
stop_unsd(void **state)
{
	(void)state;
	if (g_unsd.pid > 0) {
		ut_unsd_stop(&g_unsd, SIGKILL, NULL, 0);
		g_unsd.pid = 0;
	}
	return 0;
}

static void
test_stored_bad_bytes_served(void **state)
{
	(void)state;
	char dir[256], data[320], apps[400], base[128], path[256];
	ut_proc *unsd = &g_unsd;
	int ports[2];
	ut_http h;
	ut_http_resp *r = ut_http_resp_new();
	signal(SIGPIPE, SIG_IGN);
	ut_mkdtemp(dir, sizeof(dir));
	snprintf(data, sizeof(data), "%s/data", dir);
	mkdir(data, 0700);
	snprintf(apps, sizeof(apps), "%s/apps.conf", data);
	ut_write_file(apps, APP " " HOST " -\n");
	store_bad_records(data, "u-bad");
	ut_unsd_http_start(unsd, NULL, data, ports, base, sizeof(base));
	char *user = ut_mint(data, "user", "u-bad", HOST);
	ut_http_open(&h, base, NULL);

	/* The list: both, the bad one with U+FFFD in each bad byte's place. */
	assert_int_equal(ut_http_do(&h, "GET", "/beta/me/notifications", user,
	                            NULL, 0, NULL, r),
	                 200);
	json_t *v = ut_http_json(r);
	json_t *items = json_object_get(v, "value");
	assert_int_equal(json_array_size(items), 2);
	const char *bad_id = NULL;
	for (size_t i = 0; i < 2; i++) {
		json_t *it = json_array_get(items, i);
		const char *aid = ut_json_str(it, "appNotificationId");
		if (strcmp(aid, "good-1") != 0) {
			assert_string_equal(aid,
			                    "bad-\xef\xbf\xbd\xef\xbf\xbd");
			assert_string_equal(
			    ut_json_str(it, "groupName"),
			    "g\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
			bad_id = ut_json_str(it, "id");
		}
	}
	assert_non_null(bad_id);
	/* By id: 200, not 500. */
	snprintf(path, sizeof(path), "/beta/me/notifications/%s", bad_id);
	long st = ut_http_do(&h, "GET", path, user, NULL, 0, NULL, r);
	if (st != 200) {
		fail_msg("GET %s: %ld %s", path, st, r->body);
	}
	json_t *one = ut_http_json(r);
	assert_non_null(strstr(r->body, "caf\xef\xbf\xbd \xef\xbf\xbd"));
	json_decref(one);
	json_decref(v);
	/* Delta: both entries. */
	assert_int_equal(ut_http_do(&h, "GET", "/beta/me/notifications/delta",
	                            user, NULL, 0, NULL, r),
	                 200);
	v = ut_http_json(r);
	assert_int_equal(json_array_size(json_object_get(v, "value")), 2);
	json_decref(v);

	/* unsctl history --json: exit 0, valid JSON with both. */
	static char out[65536];
	char args[3000];
	snprintf(args, sizeof(args), "history --json --token %s", user);
	assert_int_equal(unsctl_run(ports[0], out, sizeof(out), args), 0);
	json_error_t je;
	v = json_loads(out, 0, &je);
	if (v == NULL) {
		fail_msg("unsctl history --json: %s\n%s", je.text, out);
	}
	assert_int_equal(json_array_size(json_object_get(v, "notifications")),
	                 2);
	json_decref(v);

	free(user);
	free(r);
	ut_http_close(&h);
	int rc = ut_unsd_gateway_stop(unsd, dir);
	unsd->pid = 0;
	assert_int_equal(rc, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_string_field_refused),
	    cmocka_unit_test(test_envelope_strings_refused),
	    cmocka_unit_test(test_nul_does_not_replace),
	    cmocka_unit_test_teardown(test_stored_bad_bytes_served, stop_unsd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
