/*
 * bench_json.c — `uns-bench json`: what rendering one delta
 * answer (--entries notifications, 20 in tools/bench_gateway.sh) to Graph
 * JSON costs the gateway in CPU, against unpacking the same Fetch reply
 * from protobuf (what a direct RPC client pays per answer), measured in
 * the same run.
 *
 * One thread, no network, thread CPU time (other load on the shared cores
 * does not count), cases interleaved over --rounds, median per case.
 * Cases:
 *   unpack   protobuf_c_message_unpack + free of the packed FetchResponse
 *            (the baseline)
 *   tree     the gateway before: a value tree per entry
 *            (uns_gw_feed_entry_json), an array, the envelope, uns_jv_dump
 *   writer   the gateway now: every entry written as text into one
 *            growing buffer (uns_gw_write_feed_entry), the envelope around
 * and, per request rather than per answer, the JSON the gateway and the
 * token check read:
 *   parse    a POST body (a notification as a Graph client sends it)
 *            through uns_gw_parse_body to a message, and its free
 *   jwt      uns_jwt_parse of an HS256 access token (base64url, two JSON
 *            objects, their shapes; no signature check)
 * The notifications look like the ones bench_gateway.sh posts, with the
 * server's fields set (id, times, version, states).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway_json.h"
#include "bench.h"
#include "jwt.h"

#define SLICE_NS    (300 * 1000 * 1000LL)
#define MAX_ROUNDS  16
#define MAX_ENTRIES 1000

static const char context[] = "https://localhost:19002/beta/$metadata#"
                              "Collection(notification)";
static const char link[] = "https://localhost:19002/beta/me/notifications/"
                           "delta?$deltatoken=00000000000000000014";

typedef struct json_env {
	Uns__V1__FetchResponse resp;
	Uns__V1__FeedEntry entries[MAX_ENTRIES], *entry_ptrs[MAX_ENTRIES];
	Uns__V1__Notification n[MAX_ENTRIES];
	Uns__V1__Payload p;
	Uns__V1__VisualContent v;
	char ids[MAX_ENTRIES][48], app_ids[MAX_ENTRIES][16];
	uint8_t *packed;
	size_t packed_len, text_len;
	char *token;
	uns_jwt_parsed parsed;
} json_env;

static const char post_body[] =
    "{\"targetHostName\":\"bench.example\",\"appNotificationId\":"
    "\"r-17\",\"expirationDateTime\":\"2030-01-01T00:00:00.000Z\","
    "\"groupName\":\"bench\",\"priority\":\"High\",\"targetPolicy\":"
    "{\"platformTypes\":[\"windows\",\"ios\",\"android\"]},\"payload\":"
    "{\"visualContent\":{\"title\":\"bench\",\"body\":\"Hello, "
    "world\"},\"rawContent\":\"{\\\"k\\\":1}\"}}";

typedef struct json_case {
	const char *name;
	int (*op)(void *env);
	double rate[MAX_ROUNDS];
} json_case;

static int
op_unpack(void *arg)
{
	json_env *e = arg;
	ProtobufCMessage *m =
	    protobuf_c_message_unpack(&uns__v1__fetch_response__descriptor,
	                              NULL, e->packed_len, e->packed);

	if (m == NULL) {
		return -1;
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

static int
op_tree(void *arg)
{
	json_env *e = arg;
	uns_jv *value = uns_jv_new_array(), *body = uns_jv_new_object();
	char *text = NULL;
	uns_err err;

	for (size_t i = 0; i < e->resp.n_changes; i++) {
		(void)uns_jv_append(value,
		                    uns_gw_feed_entry_json(e->resp.changes[i]));
	}
	err = uns_jv_set_str(body, "@odata.context", context);
	if (err == UNS_OK) {
		err = uns_jv_set(body, "value", value);
		value = NULL;
	}
	if (err == UNS_OK) {
		err = uns_jv_set_str(body, "@odata.deltaLink", link);
	}
	if (err == UNS_OK) {
		err = uns_jv_dump(body, 0, &text, NULL);
	}
	uns_jv_free(value);
	uns_jv_free(body);
	if (err != UNS_OK) {
		return -1;
	}
	e->text_len = strlen(text);
	free(text);
	return 0;
}

static int
op_writer(void *arg)
{
	json_env *e = arg;
	uns_json_buf b;
	char *text;
	size_t len;

	uns_json_buf_init(&b);
	uns_json_buf_lit(&b, "{\"@odata.context\":");
	uns_json_buf_str(&b, context, strlen(context));
	uns_json_buf_lit(&b, ",\"value\":[");
	for (size_t i = 0; i < e->resp.n_changes; i++) {
		if (i > 0) {
			uns_json_buf_raw(&b, ",", 1);
		}
		uns_gw_write_feed_entry(&b, e->resp.changes[i]);
	}
	uns_json_buf_lit(&b, "],\"@odata.deltaLink\":");
	uns_json_buf_str(&b, link, strlen(link));
	uns_json_buf_raw(&b, "}", 1);
	if (uns_json_buf_take(&b, &text, &len) != UNS_OK) {
		return -1;
	}
	free(text);
	return len == e->text_len || e->text_len == 0 ? 0 : -1;
}

static int
op_parse(void *arg)
{
	ProtobufCMessage *m = NULL;
	char why[256];

	(void)arg;
	if (uns_gw_parse_body(&uns__v1__notification__descriptor, post_body,
	                      sizeof(post_body) - 1, &m, why,
	                      sizeof(why)) != UNS_OK) {
		return -1;
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

static int
op_jwt(void *arg)
{
	json_env *e = arg;
	char why[256];

	return uns_jwt_parse(e->token, strlen(e->token), &e->parsed, why,
	                     sizeof(why)) == UNS_OK
	           ? 0
	           : -1;
}

static int
env_open(json_env *e, int entries)
{
	int64_t now = (int64_t)time(NULL) * 1000;

	memset(e, 0, sizeof(*e));
	e->v = (Uns__V1__VisualContent)UNS__V1__VISUAL_CONTENT__INIT;
	e->p = (Uns__V1__Payload)UNS__V1__PAYLOAD__INIT;
	e->v.title = "bench";
	e->p.visual_content = &e->v;
	e->resp = (Uns__V1__FetchResponse)UNS__V1__FETCH_RESPONSE__INIT;
	e->resp.next_cursor = "00000000000000000014";
	for (int i = 0; i < entries; i++) {
		Uns__V1__Notification *n = &e->n[i];
		*n = (Uns__V1__Notification)UNS__V1__NOTIFICATION__INIT;
		snprintf(e->ids[i], sizeof(e->ids[i]),
		         "0f8fad5b-d9cb-469f-a165-70867728%04d", i);
		snprintf(e->app_ids[i], sizeof(e->app_ids[i]), "r-%d", i + 1);
		n->id = e->ids[i];
		n->target_host_name = BENCH_HOST;
		n->app_notification_id = e->app_ids[i];
		n->payload = &e->p;
		n->expiration_time_ms = now + 30LL * 86400000;
		n->read_state = UNS__V1__READ_STATE__READ_STATE_UNREAD;
		n->user_action_state =
		    UNS__V1__USER_ACTION_STATE__USER_ACTION_STATE_NO_INTERACTION;
		n->status =
		    UNS__V1__NOTIFICATION_STATUS__NOTIFICATION_STATUS_ACTIVE;
		n->created_time_ms = now + i;
		n->last_modified_time_ms = now + i;
		n->version = 1;
		e->entries[i] = (Uns__V1__FeedEntry)UNS__V1__FEED_ENTRY__INIT;
		e->entries[i].notification = n;
		e->entry_ptrs[i] = &e->entries[i];
	}
	e->resp.n_changes = (size_t)entries;
	e->resp.changes = e->entry_ptrs;
	e->packed_len = protobuf_c_message_get_packed_size(&e->resp.base);
	e->packed = malloc(e->packed_len + 1);
	if (e->packed == NULL) {
		return -1;
	}
	protobuf_c_message_pack(&e->resp.base, e->packed);
	e->token =
	    bench_mint("bench-user-1", "bench-app", "Notifications.ReadWrite");
	if (e->token == NULL) {
		return -1;
	}
	return op_tree(e); /* sets text_len, which the writer must match */
}

int
bench_json_run(int rounds, int entries)
{
	json_case cases[] = {
	    {"unpack", op_unpack, {0}}, {"tree", op_tree, {0}},
	    {"writer", op_writer, {0}}, {"parse", op_parse, {0}},
	    {"jwt", op_jwt, {0}},
	};
	const int ncases = (int)(sizeof(cases) / sizeof(cases[0]));
	json_env *e = malloc(sizeof(*e));
	int rc = 1;

	rounds = rounds < 1 ? 1 : rounds > MAX_ROUNDS ? MAX_ROUNDS : rounds;
	entries = entries < 1             ? 1
	          : entries > MAX_ENTRIES ? MAX_ENTRIES
	                                  : entries;
	if (e == NULL || env_open(e, entries) != 0) {
		fprintf(stderr, "uns-bench json: setup failed\n");
		goto out;
	}
	for (int r = 0; r < rounds; r++) {
		for (int c = 0; c < ncases; c++) {
			cases[c].rate[r] =
			    bench_cpu_rate(cases[c].op, e, SLICE_NS);
			if (cases[c].rate[r] < 0) {
				fprintf(stderr, "uns-bench json: %s failed\n",
				        cases[c].name);
				goto out;
			}
		}
	}
	printf("delta answer of %d entries (%zu bytes of JSON, %zu of "
	       "protobuf), one thread, %d rounds of %lld ms CPU per case "
	       "(median)\n",
	       entries, e->text_len, e->packed_len, rounds, SLICE_NS / 1000000);
	printf("%-8s %12s %10s %10s\n", "case", "ops/cpu-s", "us/op",
	       "x unpack");
	double base = bench_median(cases[0].rate, rounds);
	for (int c = 0; c < ncases; c++) {
		double m = bench_median(cases[c].rate, rounds);
		printf("%-8s %12.0f %10.2f %10.2f\n", cases[c].name, m, 1e6 / m,
		       base / m);
	}
	rc = 0;
out:
	if (e != NULL) {
		free(e->packed);
		free(e->token);
	}
	free(e);
	return rc;
}
