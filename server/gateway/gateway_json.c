/*
 * gateway_json.c — see gateway_json.h.
 *
 * Everything Graph spells differently from proto3's JSON mapping is a row
 * in the tables below; the codec does the rest. Enum names are SPEC §3's
 * canonical spellings; input matches them case-insensitively and still
 * takes the proto names ("PRIORITY_HIGH"), as the codec does by default.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gateway_json.h"
#include "platform.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const uns_json_field_rule graph_fields[] = {
    /* Post: the UNSID comes from X-UNS-ID, the body is the notification. */
    {"uns.v1.PostRequest", "unsid", NULL, UNS_JSON_CONV_NONE, 1},
    {"uns.v1.Notification", "display_time_to_live", NULL,
     UNS_JSON_CONV_NUMBER_OR_STRING, 0},
    {"uns.v1.Notification", "expiration_time_ms", "expirationDateTime",
     UNS_JSON_CONV_TIME_MS, 0},
    {"uns.v1.Notification", "created_time_ms", "createdDateTime",
     UNS_JSON_CONV_TIME_MS, 0},
    {"uns.v1.Notification", "last_modified_time_ms", "lastModifiedDateTime",
     UNS_JSON_CONV_TIME_MS, 0},
    {"uns.v1.Notification", "version", NULL, UNS_JSON_CONV_INT64_AS_NUMBER, 0},
    {"uns.v1.EndpointFallback", "fallback_delay_in_seconds", NULL,
     UNS_JSON_CONV_NUMBER_OR_STRING, 0},
    {"uns.v1.Subscription", "unsid", "id", UNS_JSON_CONV_NONE, 0},
    {"uns.v1.Subscription", "expiration_time_ms", "expirationDateTime",
     UNS_JSON_CONV_TIME_MS, 0},
    {"uns.v1.Subscription", "created_time_ms", "createdDateTime",
     UNS_JSON_CONV_TIME_MS, 0},
    /* PATCH: the id is in the path, the version in If-Match, the device
     * in X-UNS-ID; delete is DELETE. */
    {"uns.v1.UpdateStateRequest", "id", NULL, UNS_JSON_CONV_NONE, 1},
    {"uns.v1.UpdateStateRequest", "delete", NULL, UNS_JSON_CONV_NONE, 1},
    {"uns.v1.UpdateStateRequest", "if_version", NULL, UNS_JSON_CONV_NONE, 1},
    {"uns.v1.UpdateStateRequest", "unsid", NULL, UNS_JSON_CONV_NONE, 1},
};

/* platform.h's one list of names, as rows of the mapping */
#define PLATFORM_ROW(v, n) {v, n},
static const uns_json_enum_name platform_names[] = {
    UNS_PLATFORM_NAMES(PLATFORM_ROW)};
#undef PLATFORM_ROW

static const uns_json_enum_name priority_names[] = {
    {UNS__V1__PRIORITY__PRIORITY_NONE, "None"},
    {UNS__V1__PRIORITY__PRIORITY_HIGH, "High"},
    {UNS__V1__PRIORITY__PRIORITY_LOW, "Low"},
};

static const uns_json_enum_name read_state_names[] = {
    {UNS__V1__READ_STATE__READ_STATE_UNREAD, "unread"},
    {UNS__V1__READ_STATE__READ_STATE_READ, "read"},
};

static const uns_json_enum_name action_names[] = {
    {UNS__V1__USER_ACTION_STATE__USER_ACTION_STATE_NO_INTERACTION,
     "noInteraction"},
    {UNS__V1__USER_ACTION_STATE__USER_ACTION_STATE_ACTIVATED, "activated"},
    {UNS__V1__USER_ACTION_STATE__USER_ACTION_STATE_DISMISSED, "dismissed"},
    {UNS__V1__USER_ACTION_STATE__USER_ACTION_STATE_SNOOZED, "snoozed"},
};

static const uns_json_enum_name status_names[] = {
    {UNS__V1__NOTIFICATION_STATUS__NOTIFICATION_STATUS_ACTIVE, "active"},
    {UNS__V1__NOTIFICATION_STATUS__NOTIFICATION_STATUS_DELETED, "deleted"},
};

static const uns_json_enum_name removed_names[] = {
    {UNS__V1__REMOVED_REASON__REMOVED_REASON_DELETED, "deleted"},
    {UNS__V1__REMOVED_REASON__REMOVED_REASON_EXPIRED, "expired"},
};

static const uns_json_enum_rule graph_enums[] = {
    {"uns.v1.Platform", platform_names, N(platform_names)},
    {"uns.v1.Priority", priority_names, N(priority_names)},
    {"uns.v1.ReadState", read_state_names, N(read_state_names)},
    {"uns.v1.UserActionState", action_names, N(action_names)},
    {"uns.v1.NotificationStatus", status_names, N(status_names)},
    {"uns.v1.RemovedReason", removed_names, N(removed_names)},
};

const uns_json_mapping uns_gw_graph_mapping = {
    graph_fields,
    N(graph_fields),
    graph_enums,
    N(graph_enums),
};

/* ---- request bodies ---------------------------------------------------- */

/* W3C PushSubscription JSON nests the keys: {"endpoint","keys":{...}}. */
static void
lift_push_keys(uns_jv *body)
{
	uns_jv *wp = uns_jv_get(body, "webPush");
	uns_jv *keys = uns_jv_get(wp, "keys");
	const char *names[] = {"p256dh", "auth"};
	if (uns_jv_typeof(keys) != UNS_JV_OBJECT) {
		return;
	}
	for (size_t i = 0; i < N(names); i++) {
		uns_jv *k = uns_jv_get(keys, names[i]);
		if (k != NULL && uns_jv_get(wp, names[i]) == NULL) {
			(void)uns_jv_set(wp, names[i], uns_jv_ref(k));
		}
	}
}

uns_err
uns_gw_parse_body(const ProtobufCMessageDescriptor *desc, const char *body,
                  size_t len, ProtobufCMessage **out, char *why, size_t whylen)
{
	uns_jv_error jerr;
	uns_json_error cerr;
	uns_err err = UNS_INVALID_ARGUMENT;
	uns_jv *v = NULL;

	if (body == NULL || len == 0) {
		snprintf(why, whylen,
		         "the request body is empty; expected a "
		         "JSON object");
		goto out;
	}
	err = uns_jv_parse(body, len, UNS_JV_ANY, &v, &jerr);
	if (err == UNS_INVALID_ARGUMENT) {
		snprintf(why, whylen,
		         "invalid JSON at line %d, column %d (byte %ld): %s",
		         jerr.line, jerr.column, jerr.position, jerr.reason);
		goto out;
	}
	if (err != UNS_OK) {
		snprintf(why, whylen, "%s", uns_strerror(err));
		goto out;
	}
	err = UNS_INVALID_ARGUMENT;
	if (uns_jv_typeof(v) != UNS_JV_OBJECT) {
		snprintf(why, whylen,
		         "the body is %s%s; expected a JSON object",
		         uns_jv_kind(v),
		         uns_jv_typeof(v) == UNS_JV_ARRAY
		             ? " (one object per request)"
		             : "");
		goto out;
	}
	if (desc == &uns__v1__subscribe_request__descriptor) {
		lift_push_keys(v);
	}
	err = uns_json_from_value(desc, v, &uns_gw_graph_mapping, out, &cerr);
	if (err == UNS_INVALID_ARGUMENT) {
		snprintf(why, whylen, "%s%s%s", cerr.path,
		         cerr.path[0] ? ": " : "", cerr.message);
	} else if (err != UNS_OK) {
		snprintf(why, whylen, "%s", uns_strerror(err));
	}
out:
	uns_jv_free(v);
	return err;
}

/* ---- responses --------------------------------------------------------- */

uns_jv *
uns_gw_notification_json(const Uns__V1__Notification *n)
{
	uns_jv *v = NULL;
	if (uns_json_to_value(&n->base, &uns_gw_graph_mapping, 0, &v) !=
	    UNS_OK) {
		return NULL;
	}
	return v;
}

static const char *
removed_reason(int r)
{
	for (size_t i = 0; i < N(removed_names); i++) {
		if (removed_names[i].value == r) {
			return removed_names[i].name;
		}
	}
	return "deleted";
}

uns_jv *
uns_gw_feed_entry_json(const Uns__V1__FeedEntry *e)
{
	if (e->removed == UNS__V1__REMOVED_REASON__REMOVED_REASON_NONE &&
	    e->notification != NULL) {
		return uns_gw_notification_json(e->notification);
	}
	const char *id = e->notification ? e->notification->id : "";
	uns_jv *v = uns_jv_new_object(), *removed = uns_jv_new_object();
	if (uns_jv_set_str(v, "id", id) != UNS_OK ||
	    uns_jv_set_str(removed, "reason", removed_reason(e->removed)) !=
	        UNS_OK ||
	    uns_jv_set(v, "@removed", uns_jv_ref(removed)) != UNS_OK) {
		uns_jv_free(v);
		v = NULL;
	}
	uns_jv_free(removed);
	return v;
}

uns_err
uns_gw_write_notification(uns_json_buf *b, const Uns__V1__Notification *n)
{
	return uns_json_write(&n->base, &uns_gw_graph_mapping, 0, b);
}

uns_err
uns_gw_write_feed_entry(uns_json_buf *b, const Uns__V1__FeedEntry *e)
{
	const char *id = e->notification ? e->notification->id : "";
	const char *reason = removed_reason(e->removed);
	size_t mark = b->len;
	uns_err err;

	if (e->removed == UNS__V1__REMOVED_REASON__REMOVED_REASON_NONE &&
	    e->notification != NULL) {
		return uns_gw_write_notification(b, e->notification);
	}
	if (b->err != UNS_OK) {
		return b->err;
	}
	uns_json_buf_lit(b, "{\"id\":");
	uns_json_buf_str(b, id, strlen(id));
	uns_json_buf_lit(b, ",\"@removed\":{\"reason\":");
	uns_json_buf_str(b, reason, strlen(reason));
	uns_json_buf_lit(b, "}}");
	err = b->err;
	if (err != UNS_OK) {
		uns_json_buf_rewind(b, mark);
	}
	return err;
}

uns_jv *
uns_gw_subscription_json(const Uns__V1__Subscription *s)
{
	uns_jv *v = NULL;
	if (uns_json_to_value(&s->base, &uns_gw_graph_mapping, 0, &v) !=
	    UNS_OK) {
		return NULL;
	}
	return v;
}

/* ---- $filter ----------------------------------------------------------- */

typedef struct filter_field {
	const char *name;
	const uns_json_enum_name *names; /* NULL: a string (groupName) */
	size_t n_names;
	size_t offset; /* of the int or char * in HistoryRequest */
} filter_field;

static const filter_field filter_fields[] = {
    {"readState", read_state_names, N(read_state_names),
     offsetof(Uns__V1__HistoryRequest, read_state)},
    {"userActionState", action_names, N(action_names),
     offsetof(Uns__V1__HistoryRequest, user_action_state)},
    {"status", status_names, N(status_names),
     offsetof(Uns__V1__HistoryRequest, status)},
    {"groupName", NULL, 0, offsetof(Uns__V1__HistoryRequest, group_name)},
};

typedef struct lexer {
	const char *p;
} lexer;

static void
skip_space(lexer *lx)
{
	while (*lx->p == ' ' || *lx->p == '\t') {
		lx->p++;
	}
}

/* An identifier: letters only; copies at most cap-1 bytes. */
static size_t
take_word(lexer *lx, char *out, size_t cap)
{
	size_t n = 0;
	skip_space(lx);
	while ((*lx->p >= 'a' && *lx->p <= 'z') ||
	       (*lx->p >= 'A' && *lx->p <= 'Z')) {
		if (n + 1 < cap) {
			out[n] = *lx->p;
		}
		n++;
		lx->p++;
	}
	out[n < cap ? n : cap - 1] = '\0';
	return n;
}

/* A quoted literal 'it''s'; returns 0 when unterminated or too long. */
static int
take_literal(lexer *lx, char *out, size_t cap)
{
	size_t n = 0;
	skip_space(lx);
	if (*lx->p != '\'') {
		return 0;
	}
	for (lx->p++; *lx->p != '\0'; lx->p++) {
		if (*lx->p == '\'' && lx->p[1] != '\'') {
			lx->p++;
			out[n] = '\0';
			return 1;
		}
		if (*lx->p == '\'') {
			lx->p++;
		}
		if (n + 1 >= cap) {
			return 0;
		}
		out[n++] = *lx->p;
	}
	return 0;
}

static const filter_field *
find_filter_field(const char *name)
{
	for (size_t i = 0; i < N(filter_fields); i++) {
		if (strcasecmp(filter_fields[i].name, name) == 0) {
			return &filter_fields[i];
		}
	}
	return NULL;
}

static int
set_filter_value(const filter_field *f, const char *value,
                 Uns__V1__HistoryRequest *req, char *group, size_t group_cap)
{
	char *field = (char *)req + f->offset;
	if (f->names == NULL) {
		snprintf(group, group_cap, "%s", value);
		*(char **)field = group;
		return 1;
	}
	for (size_t i = 0; i < f->n_names; i++) {
		if (strcasecmp(f->names[i].name, value) == 0) {
			*(int *)field = f->names[i].value;
			return 1;
		}
	}
	return 0;
}

static uns_err
filter_clause(lexer *lx, Uns__V1__HistoryRequest *req, char *group,
              size_t group_cap, char *why, size_t whylen)
{
	char name[32], op[8], value[1024];
	const char *at = lx->p;
	const filter_field *f;
	if (take_word(lx, name, sizeof(name)) == 0 ||
	    (f = find_filter_field(name)) == NULL) {
		snprintf(why, whylen,
		         "$filter: unsupported property at \"%.40s\"; "
		         "supported: readState, userActionState, status, "
		         "groupName",
		         at);
		return UNS_INVALID_ARGUMENT;
	}
	if (take_word(lx, op, sizeof(op)) == 0 || strcasecmp(op, "eq") != 0) {
		snprintf(why, whylen,
		         "$filter: %s: only \"eq\" is supported, got \"%s\"",
		         f->name, op);
		return UNS_INVALID_ARGUMENT;
	}
	if (!take_literal(lx, value, sizeof(value))) {
		snprintf(why, whylen,
		         "$filter: %s: expected a quoted value such as '%s'",
		         f->name, f->names ? f->names[0].name : "group");
		return UNS_INVALID_ARGUMENT;
	}
	if (!set_filter_value(f, value, req, group, group_cap)) {
		snprintf(why, whylen, "$filter: %s: unknown value '%.64s'",
		         f->name, value);
		return UNS_INVALID_ARGUMENT;
	}
	return UNS_OK;
}

uns_err
uns_gw_apply_filter(const char *filter, Uns__V1__HistoryRequest *req,
                    char *group, size_t group_cap, char *why, size_t whylen)
{
	lexer lx = {filter};
	char conj[8];
	for (;;) {
		uns_err err =
		    filter_clause(&lx, req, group, group_cap, why, whylen);
		if (err != UNS_OK) {
			return err;
		}
		skip_space(&lx);
		if (*lx.p == '\0') {
			return UNS_OK;
		}
		if (take_word(&lx, conj, sizeof(conj)) == 0 ||
		    strcasecmp(conj, "and") != 0) {
			snprintf(why, whylen,
			         "$filter: expected \"and\" or the end at "
			         "\"%.40s\"",
			         lx.p);
			return UNS_INVALID_ARGUMENT;
		}
	}
}
