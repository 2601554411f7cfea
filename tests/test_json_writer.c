/*
 * test_json_writer.c — the text writer (common/json/json_buf.h, uns_json_write,
 * uns_gw_write_*) against the jansson encoder it replaces on the gateway's
 * answers: for every input both must give the same bytes, or both refuse.
 *
 * The inputs are generated from a fixed seed (so a failure reproduces):
 * thousands of notifications and feed entries with every enum value (and
 * one this build does not know), every optional part present or not,
 * strings of ASCII, every control character, quotes and backslashes,
 * 2-, 3- and 4-byte UTF-8, times across years 0000-9999 and beyond, under
 * the Graph mapping, the default mapping and UNS_JSON_EMIT_DEFAULTS. A
 * hand-written descriptor (uns.test.Scalars) covers double, float, bool,
 * bytes and the other integer types, which notifications do not use.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "gateway_json.h"
#include "json_buf.h"
#include "json_codec.h"
#include "uns/v1/notifications.pb-c.h"
#include "utnode.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- a deterministic generator ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static size_t
pick(size_t n)
{
	return (size_t)(rnd() % n);
}

/* Pieces strings are made of: plain text, every escape, UTF-8 of every
 * length, the characters jansson does not escape ('/', DEL, U+2028). */
static const char *const pieces[] = {
    "bench",
    "Hello, world",
    "\"quoted\"",
    "back\\slash",
    "a/b",
    "\x7f",
    "\b\f\n\r\t",
    "\x01\x02\x03\x04\x05\x06\x07\x0b\x0e\x0f",
    "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f",
    "\xc3\xbc\xc3\x9f",         /* üß */
    "\xe6\x97\xa5\xe6\x9c\xac", /* 日本 */
    "\xe2\x80\xa8",             /* U+2028 */
    "\xf0\x9f\x93\xac",         /* U+1F4EC */
    "\xf4\x8f\xbf\xbf",         /* U+10FFFF */
    "\xef\xbb\xbf",             /* BOM */
    "{\"json\":[1,2]}",
    " ",
    "",
};

/* A string of up to 5 pieces; the caller frees it. */
static char *
gen_string(void)
{
	char buf[512] = "";
	size_t n = pick(6);
	for (size_t i = 0; i < n; i++) {
		strcat(buf, pieces[pick(N(pieces))]);
	}
	return strdup(buf);
}

static int
gen_enum(const ProtobufCEnumDescriptor *ed)
{
	/* Sometimes a value no name is known for: written as its number. */
	if (pick(8) == 0) {
		return 40 + (int)pick(3);
	}
	return ed->values[pick(ed->n_values)].value;
}

static int64_t
gen_time(void)
{
	static const int64_t times[] = {
	    0,
	    1,
	    -1,
	    1572479940000,   /* 2019-10-30T23:59:00.000Z */
	    951782400000,    /* 2000-02-29 */
	    -62167219200000, /* 0000-01-01 */
	    253402300799999, /* 9999-12-31T23:59:59.999Z */
	    -62135596800001, /* 0000-12-31T23:59:59.999Z */
	    4102444800123,   /* 2100-01-01 */
	};
	return pick(4) == 0 ? (int64_t)(rnd() % 253402300799999u)
	                    : times[pick(N(times))];
}

static Uns__V1__VisualContent *
gen_visual(void)
{
	Uns__V1__VisualContent *v = malloc(sizeof(*v));
	uns__v1__visual_content__init(v);
	v->title = gen_string();
	v->body = gen_string();
	return v;
}

static Uns__V1__Platform *
gen_platforms(size_t *n)
{
	*n = pick(4);
	Uns__V1__Platform *p = calloc(*n + 1, sizeof(*p));
	for (size_t i = 0; i < *n; i++) {
		p[i] = gen_enum(&uns__v1__platform__descriptor);
	}
	return p;
}

/* A notification with each part present or not; free it with
 * protobuf_c_message_free_unpacked(…, NULL) (all malloc'd). */
static Uns__V1__Notification *
gen_notification(void)
{
	Uns__V1__Notification *n = malloc(sizeof(*n));
	uns__v1__notification__init(n);
	n->id = gen_string();
	n->target_host_name = gen_string();
	n->app_notification_id = gen_string();
	n->group_name = gen_string();
	if (pick(4) != 0) {
		n->payload = malloc(sizeof(*n->payload));
		uns__v1__payload__init(n->payload);
		n->payload->raw_content = gen_string();
		n->payload->visual_content = pick(3) ? gen_visual() : NULL;
	}
	if (pick(2)) {
		n->target_policy = malloc(sizeof(*n->target_policy));
		uns__v1__target_policy__init(n->target_policy);
		n->target_policy->platform_types =
		    gen_platforms(&n->target_policy->n_platform_types);
	}
	n->priority = gen_enum(&uns__v1__priority__descriptor);
	n->display_time_to_live = pick(2) ? (uint32_t)rnd() : 0;
	n->expiration_time_ms = pick(4) ? gen_time() : 0;
	if (pick(2)) {
		Uns__V1__EndpointFallback *f = malloc(sizeof(*f));
		uns__v1__endpoint_fallback__init(f);
		f->platform_types = gen_platforms(&f->n_platform_types);
		f->fallback_delay_in_seconds = (uint32_t)pick(3) * 60;
		f->visual_content = pick(2) ? gen_visual() : NULL;
		n->fallback_policy = malloc(sizeof(*n->fallback_policy));
		uns__v1__fallback_policy__init(n->fallback_policy);
		n->fallback_policy->endpoint_fallback = pick(3) ? f : NULL;
		if (n->fallback_policy->endpoint_fallback == NULL) {
			protobuf_c_message_free_unpacked(&f->base, NULL);
		}
	}
	n->read_state = gen_enum(&uns__v1__read_state__descriptor);
	n->user_action_state =
	    gen_enum(&uns__v1__user_action_state__descriptor);
	n->status = gen_enum(&uns__v1__notification_status__descriptor);
	n->created_time_ms = gen_time();
	n->last_modified_time_ms = gen_time();
	n->version = pick(3) == 0 ? rnd() : pick(100);
	return n;
}

/* ---- comparing the two encoders ---- */

/* What jansson gives: the text, or NULL when it refuses (*rv says how). */
static char *
by_tree(const ProtobufCMessage *m, const uns_json_mapping *map, int flags,
        uns_err *rv)
{
	char *text = NULL;
	*rv = uns_json_encode(m, map, flags, &text);
	return *rv == UNS_OK ? text : NULL;
}

/* The writer, appended after a prefix that must survive a refusal. */
static void
assert_same(const ProtobufCMessage *m, const uns_json_mapping *map, int flags)
{
	uns_err tree_rv, rv;
	char *want = by_tree(m, map, flags, &tree_rv);
	uns_json_buf b;
	uns_json_buf_init(&b);
	uns_json_buf_lit(&b, "[prefix]");
	rv = uns_json_write(m, map, flags, &b);
	assert_int_equal(rv, tree_rv);
	assert_int_equal(b.err, UNS_OK);
	if (rv == UNS_OK) {
		if (strcmp(b.data + 8, want) != 0) {
			fprintf(stderr, "tree:   %s\nwriter: %s\n", want,
			        b.data + 8);
		}
		assert_string_equal(b.data + 8, want);
		assert_int_equal(b.len, 8 + strlen(want));
	} else {
		assert_int_equal(b.len, 8); /* left as it was */
		assert_string_equal(b.data, "[prefix]");
	}
	free(want);
	uns_json_buf_free(&b);
}

/* The gateway's feed entry: the value tree dumped vs the writer. */
static void
assert_same_entry(const Uns__V1__FeedEntry *e)
{
	uns_jv *v = uns_gw_feed_entry_json(e);
	char *want = NULL;
	if (v != NULL) {
		assert_int_equal(uns_jv_dump(v, 0, &want, NULL), UNS_OK);
	}
	uns_json_buf b;
	uns_json_buf_init(&b);
	uns_err rv = uns_gw_write_feed_entry(&b, e);
	if (want == NULL) {
		assert_int_equal(rv, UNS_INVALID_ARGUMENT);
		assert_int_equal(b.len, 0);
	} else {
		assert_int_equal(rv, UNS_OK);
		assert_string_equal(b.data, want);
	}
	uns_jv_free(v);
	free(want);
	uns_json_buf_free(&b);
}

static void
test_notifications_match(void **state)
{
	(void)state;
	for (int i = 0; i < 3000; i++) {
		Uns__V1__Notification *n = gen_notification();
		assert_same(&n->base, &uns_gw_graph_mapping, 0);
		assert_same(&n->base, NULL, 0);
		assert_same(&n->base, NULL, UNS_JSON_EMIT_DEFAULTS);
		assert_same(&n->base, &uns_gw_graph_mapping,
		            UNS_JSON_EMIT_DEFAULTS);
		protobuf_c_message_free_unpacked(&n->base, NULL);
	}
}

static void
test_feed_entries_match(void **state)
{
	(void)state;
	for (int i = 0; i < 2000; i++) {
		Uns__V1__FeedEntry e = UNS__V1__FEED_ENTRY__INIT;
		e.notification = pick(8) ? gen_notification() : NULL;
		e.removed = gen_enum(&uns__v1__removed_reason__descriptor);
		assert_same_entry(&e);
		assert_same(&e.base, &uns_gw_graph_mapping, 0);
		if (e.notification) {
			protobuf_c_message_free_unpacked(&e.notification->base,
			                                 NULL);
		}
	}
}

/* A subscription and a fetch answer: other messages the mapping covers. */
static void
test_other_messages_match(void **state)
{
	(void)state;
	for (int i = 0; i < 500; i++) {
		Uns__V1__Subscription s = UNS__V1__SUBSCRIPTION__INIT;
		Uns__V1__WebPushSubscription wp =
		    UNS__V1__WEB_PUSH_SUBSCRIPTION__INIT;
		Uns__V1__DeliveryState d = UNS__V1__DELIVERY_STATE__INIT;
		char *strs[7];
		for (size_t k = 0; k < N(strs); k++) {
			strs[k] = gen_string();
		}
		s.unsid = strs[0];
		s.device_id = strs[1];
		s.platform = gen_enum(&uns__v1__platform__descriptor);
		s.push_channel = strs[2];
		wp.endpoint = strs[3];
		wp.p256dh = strs[4];
		s.web_push = pick(2) ? &wp : NULL;
		s.created_time_ms = gen_time();
		s.expiration_time_ms = gen_time();
		d.last_error = strs[5];
		d.dead = pick(2);
		d.delivered = rnd();
		d.consecutive_failures = (uint32_t)rnd();
		s.delivery = pick(2) ? &d : NULL;
		s.app_display_name = strs[6];
		assert_same(&s.base, &uns_gw_graph_mapping, 0);
		assert_same(&s.base, NULL, UNS_JSON_EMIT_DEFAULTS);
		for (size_t k = 0; k < N(strs); k++) {
			free(strs[k]);
		}
	}
}

/* A mapping with more rules for one message than the writer picks out per
 * message (32): it falls back to searching them all, same result. */
static void
test_many_rules_match(void **state)
{
	static uns_json_field_rule rules[40];
	static char names[34][16];
	uns_json_mapping map = {rules, N(rules), NULL, 0};
	(void)state;
	for (size_t i = 0; i < 34; i++) {
		snprintf(names[i], sizeof(names[i]), "no_such_%zu", i);
		rules[i] =
		    (uns_json_field_rule){"uns.v1.Notification", names[i], "x",
		                          UNS_JSON_CONV_NONE, 0};
	}
	rules[34] = (uns_json_field_rule){"uns.v1.Notification", "id", "ID",
	                                  UNS_JSON_CONV_NONE, 0};
	rules[35] =
	    (uns_json_field_rule){"uns.v1.Notification", "version", NULL,
	                          UNS_JSON_CONV_INT64_AS_NUMBER, 0};
	rules[36] =
	    (uns_json_field_rule){"uns.v1.Notification", "created_time_ms",
	                          NULL, UNS_JSON_CONV_TIME_MS, 0};
	rules[37] = (uns_json_field_rule){"uns.v1.Notification", "group_name",
	                                  NULL, UNS_JSON_CONV_NONE, 1};
	rules[38] = (uns_json_field_rule){"uns.v1.Notification", "id", "second",
	                                  UNS_JSON_CONV_NONE, 0};
	rules[39] = (uns_json_field_rule){"uns.v1.VisualContent", "title",
	                                  "heading", UNS_JSON_CONV_NONE, 0};
	for (int i = 0; i < 200; i++) {
		Uns__V1__Notification *n = gen_notification();
		assert_same(&n->base, &map, 0);
		map.n_fields = 32; /* exactly the limit: no fallback */
		assert_same(&n->base, &map, 0);
		map.n_fields = N(rules);
		protobuf_c_message_free_unpacked(&n->base, NULL);
	}
}

/* Invalid UTF-8 anywhere (stored before the RPC border refused it): both
 * serve the string with U+FFFD for each byte that does not start a
 * well-formed sequence, and agree byte for byte. */
static void
test_bad_utf8_served(void **state)
{
	static const struct {
		const char *in, *out;
	} bad[] = {
	    {"\x80", "\xef\xbf\xbd"},
	    {"\xc0\x80", "\xef\xbf\xbd\xef\xbf\xbd"},
	    {"\xc1\xbf", "\xef\xbf\xbd\xef\xbf\xbd"},
	    {"\xe0\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	    {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	    {"\xf4\x90\x80\x80",
	     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	    {"\xf5\x80\x80\x80",
	     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	    {"\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd"},
	    {"ok\xff", "ok\xef\xbf\xbd"},
	    {"\xf0\x9f\x93", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	    {"a\xc3\xa9\xff"
	     "b\xe2\x82\xac",
	     "a\xc3\xa9\xef\xbf\xbd"
	     "b\xe2\x82\xac"},
	};
	(void)state;
	for (size_t i = 0; i < N(bad); i++) {
		Uns__V1__Notification *n = gen_notification();
		char **slot[] = {&n->id, &n->group_name, &n->target_host_name};
		char **s = slot[i % N(slot)];
		free(*s);
		*s = strdup(bad[i].in);
		assert_same(&n->base, &uns_gw_graph_mapping, 0);
		uns_json_buf b;
		uns_json_buf_init(&b);
		assert_int_equal(
		    uns_json_write(&n->base, &uns_gw_graph_mapping, 0, &b),
		    UNS_OK);
		char want[64];
		snprintf(want, sizeof(want), "\"%s\"", bad[i].out);
		assert_non_null(strstr(b.data, want));
		uns_json_buf_free(&b);
		char *fixed =
		    uns_json_utf8_repair(bad[i].in, strlen(bad[i].in));
		assert_string_equal(fixed, bad[i].out);
		free(fixed);
		Uns__V1__FeedEntry e = UNS__V1__FEED_ENTRY__INIT;
		e.notification = n;
		e.removed = (int)(i % 3);
		assert_same_entry(&e);
		protobuf_c_message_free_unpacked(&n->base, NULL);
	}
}

/* Times outside 0000-9999: both refuse, and the writer leaves its buffer
 * as it was. */
static void
test_refusals_match(void **state)
{
	(void)state;
	static const int64_t out_of_range[] = {-62167219200001, 253402300800000,
	                                       INT64_MIN, INT64_MAX};
	for (size_t i = 0; i < N(out_of_range); i++) {
		Uns__V1__Notification *n = gen_notification();
		n->created_time_ms = out_of_range[i];
		assert_same(&n->base, &uns_gw_graph_mapping, 0);
		/* Without the time converter it is a plain int64 string. */
		assert_same(&n->base, NULL, 0);
		protobuf_c_message_free_unpacked(&n->base, NULL);
	}
}

/* ---- uns.test.Scalars: the types notifications do not have ---- */

typedef struct Scalars {
	ProtobufCMessage base;
	double d;
	float f;
	protobuf_c_boolean b;
	ProtobufCBinaryData raw;
	size_t n_ds;
	double *ds;
	int32_t s32;
	int64_t s64;
	uint64_t f64;
	uint32_t u32;
} Scalars;

static void scalars_init(Scalars *m);
static const ProtobufCMessageDescriptor scalars_descriptor;

#define SCALAR(name, id, type, field)                                          \
	{                                                                      \
		name, id, PROTOBUF_C_LABEL_NONE, type, 0,                      \
		    offsetof(Scalars, field), NULL, NULL, 0, 0, NULL, NULL     \
	}

static const ProtobufCFieldDescriptor scalars_fields[] = {
    SCALAR("d", 1, PROTOBUF_C_TYPE_DOUBLE, d),
    SCALAR("f", 2, PROTOBUF_C_TYPE_FLOAT, f),
    SCALAR("b", 3, PROTOBUF_C_TYPE_BOOL, b),
    SCALAR("raw", 4, PROTOBUF_C_TYPE_BYTES, raw),
    {"ds", 5, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_DOUBLE,
     offsetof(Scalars, n_ds), offsetof(Scalars, ds), NULL, NULL, 0, 0, NULL,
     NULL},
    SCALAR("s32", 6, PROTOBUF_C_TYPE_SINT32, s32),
    SCALAR("s64", 7, PROTOBUF_C_TYPE_SFIXED64, s64),
    SCALAR("f64", 8, PROTOBUF_C_TYPE_FIXED64, f64),
    SCALAR("u32", 9, PROTOBUF_C_TYPE_UINT32, u32),
};
/* by name: b d ds f f64 raw s32 s64 u32 */
static const unsigned scalars_by_name[] = {2, 0, 4, 1, 7, 3, 5, 6, 8};
static const ProtobufCIntRange scalars_ranges[] = {{1, 0}, {0, 9}};

static const ProtobufCMessageDescriptor scalars_descriptor = {
    PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
    "uns.test.Scalars",
    "Scalars",
    "Scalars",
    "uns.test",
    sizeof(Scalars),
    N(scalars_fields),
    scalars_fields,
    scalars_by_name,
    1,
    scalars_ranges,
    (ProtobufCMessageInit)scalars_init,
    NULL,
    NULL,
    NULL,
};

static void
scalars_init(Scalars *m)
{
	memset(m, 0, sizeof(*m));
	m->base.descriptor = &scalars_descriptor;
}

static double
gen_double(void)
{
	static const double special[] = {
	    0.0,
	    -0.0,
	    1.0,
	    -1.0,
	    0.1,
	    0.5,
	    1e20,
	    1e21,
	    1e-5,
	    1e-7,
	    1e300,
	    -1e-300,
	    DBL_MAX,
	    DBL_MIN,
	    5e-324,
	    1e100,
	    123456789012345678.0,
	    3.14159,
	    2.5e-10,
	    100.0,
	    1e16,
	    1e17,
	    NAN,
	    INFINITY,
	    -INFINITY,
	};
	uint64_t bits;
	double x;
	if (pick(2)) {
		return special[pick(N(special))];
	}
	do {
		bits = rnd();
		memcpy(&x, &bits, sizeof(x));
	} while (!isfinite(x));
	return x;
}

static void
test_scalars_match(void **state)
{
	uint8_t bytes[16];
	double ds[4];
	(void)state;
	for (int i = 0; i < 5000; i++) {
		Scalars m;
		scalars_init(&m);
		m.d = gen_double();
		double f = gen_double();
		/* Out of float's range the conversion is undefined. */
		m.f = isfinite(f) && fabs(f) > FLT_MAX ? INFINITY : (float)f;
		m.b = (protobuf_c_boolean)pick(2);
		m.raw.len = pick(sizeof(bytes) + 1);
		for (size_t k = 0; k < m.raw.len; k++) {
			bytes[k] = (uint8_t)rnd();
		}
		m.raw.data = bytes;
		m.n_ds = pick(N(ds) + 1);
		for (size_t k = 0; k < m.n_ds; k++) {
			ds[k] = gen_double();
		}
		m.ds = ds;
		m.s32 = pick(2) ? (int32_t)rnd() : INT32_MIN;
		m.s64 = pick(2) ? (int64_t)rnd() : INT64_MIN;
		m.f64 = pick(2) ? rnd() : UINT64_MAX;
		m.u32 = (uint32_t)rnd();
		assert_same(&m.base, NULL, 0);
		assert_same(&m.base, NULL, UNS_JSON_EMIT_DEFAULTS);
	}
}

/* Chains of 63 to 66 messages (the limit is reached at 65), and the
 * argument errors. */
static void
test_depth_and_arguments_match(void **state)
{
	ut_node chain[66];
	uns_json_buf b;
	(void)state;
	for (size_t len = 63; len <= 66; len++) {
		for (size_t i = 0; i < len; i++) {
			chain[i].base.descriptor = &ut_node_descriptor;
			chain[i].base.n_unknown_fields = 0;
			chain[i].base.unknown_fields = NULL;
			chain[i].child = i + 1 < len ? &chain[i + 1] : NULL;
		}
		assert_same(&chain[0].base, NULL, 0);
		assert_same(&chain[0].base, NULL, UNS_JSON_EMIT_DEFAULTS);
	}
	uns_json_buf_init(&b);
	assert_int_equal(uns_json_write(NULL, NULL, 0, &b), UNS_EINVAL);
	assert_int_equal(
	    uns_json_write(&chain[0].base, NULL, UNS_JSON_PRETTY, &b),
	    UNS_EINVAL);
	chain[0].child = NULL;
	assert_int_equal(uns_json_write(&chain[0].base, NULL, 0, &b), UNS_OK);
	assert_string_equal(b.data, "{}");
	/* A failure already in the buffer is returned, nothing written. */
	b.err = UNS_ENOMEM;
	assert_int_equal(uns_json_write(&chain[0].base, NULL, 0, &b),
	                 UNS_ENOMEM);
	uns_json_buf_free(&b);
}

/* ---- the buffer alone ---- */

/* Every single code unit below 0x80, and a few above, as jansson dumps a
 * string holding it. */
static void
test_escapes_match(void **state)
{
	(void)state;
	for (int c = 0; c < 0x80; c++) {
		char s[4] = {'a', (char)c, 'z', 0};
		json_t *v = json_stringn(s, 3);
		char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		uns_json_buf b;
		uns_json_buf_init(&b);
		uns_json_buf_str(&b, s, 3);
		assert_int_equal(b.err, UNS_OK);
		if (c == 0) { /* a NUL inside: jansson writes \u0000 too */
			assert_string_equal(b.data, "\"a\\u0000z\"");
		}
		assert_string_equal(b.data, want);
		free(want);
		json_decref(v);
		uns_json_buf_free(&b);
	}
	for (size_t i = 0; i < N(pieces); i++) {
		json_t *v = json_string(pieces[i]);
		char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		uns_json_buf b;
		uns_json_buf_init(&b);
		uns_json_buf_str(&b, pieces[i], strlen(pieces[i]));
		assert_string_equal(b.data, want);
		free(want);
		json_decref(v);
		uns_json_buf_free(&b);
	}
}

static void
test_integers_match(void **state)
{
	static const int64_t v[] = {
	    0,   1,         -1,        9,         10,
	    -10, INT64_MAX, INT64_MIN, INT32_MIN, 1234567890123};
	(void)state;
	for (size_t i = 0; i < N(v); i++) {
		json_t *j = json_integer(v[i]);
		char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		uns_json_buf b;
		uns_json_buf_init(&b);
		uns_json_buf_i64(&b, v[i]);
		assert_string_equal(b.data, want);
		free(want);
		json_decref(j);
		uns_json_buf_free(&b);
	}
	uns_json_buf b;
	uns_json_buf_init(&b);
	uns_json_buf_u64(&b, UINT64_MAX);
	assert_string_equal(b.data, "18446744073709551615");
	uns_json_buf_free(&b);
}

/* A failure sticks until rewound; take hands over the text or fails. */
static void
test_sticky_error_rewind_take(void **state)
{
	uns_json_buf b;
	char *text = NULL;
	size_t len = 0;
	(void)state;
	uns_json_buf_init(&b);
	assert_int_equal(uns_json_buf_take(&b, &text, &len), UNS_OK);
	assert_string_equal(text, "");
	assert_int_equal(len, 0);
	free(text);

	uns_json_buf_lit(&b, "[1");
	size_t mark = b.len;
	uns_json_buf_raw(&b, ",", 1);
	uns_json_buf_str(&b, "\xff", 1);
	assert_int_equal(b.err, UNS_OK);
	assert_string_equal(b.data + mark, ",\"\xef\xbf\xbd\"");
	b.err = UNS_ENOMEM; /* as a failed realloc leaves it */
	uns_json_buf_lit(&b, "ignored");
	assert_int_equal(b.err, UNS_ENOMEM);
	uns_json_buf_rewind(&b, mark);
	assert_int_equal(b.err, UNS_OK);
	uns_json_buf_lit(&b, "]");
	assert_int_equal(uns_json_buf_take(&b, &text, &len), UNS_OK);
	assert_string_equal(text, "[1]");
	assert_int_equal(len, 3);
	assert_null(b.data);
	free(text);

	/* Long enough to grow several times. */
	for (int i = 0; i < 10000; i++) {
		uns_json_buf_str(&b, "\n", 1);
	}
	assert_int_equal(b.len, 40000);
	assert_int_equal(uns_json_buf_take(&b, &text, &len), UNS_OK);
	assert_int_equal(strlen(text), 40000);
	free(text);

	uns_json_buf_str(&b, "\xc0\x80", 2);
	b.err = UNS_ENOMEM;
	text = NULL;
	assert_int_equal(uns_json_buf_take(&b, &text, &len), UNS_ENOMEM);
	assert_null(text);
	assert_null(b.data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_notifications_match),
	    cmocka_unit_test(test_feed_entries_match),
	    cmocka_unit_test(test_other_messages_match),
	    cmocka_unit_test(test_many_rules_match),
	    cmocka_unit_test(test_bad_utf8_served),
	    cmocka_unit_test(test_refusals_match),
	    cmocka_unit_test(test_scalars_match),
	    cmocka_unit_test(test_depth_and_arguments_match),
	    cmocka_unit_test(test_escapes_match),
	    cmocka_unit_test(test_integers_match),
	    cmocka_unit_test(test_sticky_error_rewind_take),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
