/*
 * unsctl_notify.c — `unsctl subscribe|unsubscribe|post|fetch|update|history|
 * delete`: the service's RPCs as shell commands with readable output.
 *
 * Each command is one row of a table: the RPC it calls and a list of
 * options, each naming the JSON path of the request field it fills. The
 * options become a JSON object that the descriptor-driven codec turns into
 * the request, so enum spellings ("webPush", "read"), type checks and the
 * field named in an error are the same as `unsctl call` and the gateway
 * have; no request field is spelled twice. Replies print as one line per
 * item, or as JSON with --json. Paging commands can follow the next cursor
 * or page token (`fetch --follow`, `history --all`).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_codec.h"
#include "json_value.h"
#include "platform.h"
#include "uns_methods.h"
#include "uns_stubs.h"
#include "unsctl.h"

#define MAX_FIELDS 16

/* How an option's text becomes a JSON value. */
typedef enum field_kind {
	F_STRING,   /* as is */
	F_NUMBER,   /* a decimal integer */
	F_LIST,     /* comma-separated strings → array */
	F_MS,       /* seconds (may be fractional) → integer milliseconds */
	F_FROM_NOW, /* a duration (30s, 10m, 2h, 720h1s) → now + it, in ms */
	F_SECONDS   /* a duration → integer seconds */
} field_kind;

typedef struct req_field {
	const char *opt;  /* "--title" */
	const char *arg;  /* "TEXT" */
	const char *path; /* "notification.payload.visualContent.title" */
	field_kind kind;
	const char *help;
} req_field;

/* A flag that sets a field to a fixed value ("--read" → readState read). */
typedef struct req_flag {
	const char *opt;
	const char *path;
	const char *value; /* NULL = JSON true */
	const char *help;
} req_flag;

typedef struct cmd_args {
	unsctl_conn conn;
	int json;
	int help;
	int follow; /* fetch --follow, history --all */
	const char *values[MAX_FIELDS];
	int flags[MAX_FIELDS];
} cmd_args;

typedef struct notify_cmd notify_cmd;
struct notify_cmd {
	const char *name;
	const char *method; /* short RPC name */
	const char *synopsis;
	const char *positional; /* path the one positional argument fills */
	int positional_required;
	const req_field *fields;
	size_t n_fields;
	const req_flag *flags;
	size_t n_flags;
	void (*print)(const ProtobufCMessage *resp);
	/* Paging: the option that turns it on, the request field to set, and
	 * the reply's next value ("" or NULL = stop). */
	const char *follow_opt;
	const char *follow_help;
	const char *follow_path;
	const char *(*follow_next)(const ProtobufCMessage *resp);
	int follow_wait_ms; /* waitMs while following, unless given */
};

/* --- printing ----------------------------------------------------------- */

static void
format_time(int64_t ms, char *buf, size_t len)
{
	if (ms <= 0) {
		snprintf(buf, len, "-");
		return;
	}
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The enum value's name without the enum's prefix, lower-cased:
 * READ_STATE_UNREAD → "unread". */
static const char *
enum_word(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t len)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(d, value);
	if (v == NULL) {
		snprintf(buf, len, "%d", value);
		return buf;
	}
	const char *name = v->name;
	size_t skip = 0;
	/* The prefix is the enum's name in upper snake case plus '_'. */
	for (const char *p = d->short_name; *p; p++) {
		skip += (p != d->short_name && *p >= 'A' && *p <= 'Z') ? 2 : 1;
	}
	skip += 1;
	name = strlen(name) > skip ? name + skip : name;
	/* Then lowerCamelCase, as the JSON mapping writes it: NO_INTERACTION
	 * → noInteraction. */
	size_t i = 0;
	for (int upper = 0; *name && i + 1 < len; name++) {
		if (*name == '_') {
			upper = 1;
			continue;
		}
		char ch = *name;
		buf[i++] = (char)(upper || ch < 'A' || ch > 'Z' ? ch : ch + 32);
		upper = 0;
	}
	buf[i] = '\0';
	return buf;
}

static void
print_notification(const Uns__V1__Notification *n)
{
	char rs[32], ua[32], st[32], created[32], expires[32];
	const char *title = n->payload && n->payload->visual_content
	                        ? n->payload->visual_content->title
	                        : "";
	const char *raw = n->payload ? n->payload->raw_content : "";
	format_time(n->created_time_ms, created, sizeof(created));
	format_time(n->expiration_time_ms, expires, sizeof(expires));
	printf("%s v%" PRIu64 " %s %s %s app-id=%s", n->id, n->version,
	       enum_word(&uns__v1__read_state__descriptor, n->read_state, rs,
	                 sizeof(rs)),
	       enum_word(&uns__v1__user_action_state__descriptor,
	                 n->user_action_state, ua, sizeof(ua)),
	       enum_word(&uns__v1__notification_status__descriptor, n->status,
	                 st, sizeof(st)),
	       n->app_notification_id);
	if (n->group_name[0]) {
		printf(" group=%s", n->group_name);
	}
	printf(" created=%s expires=%s", created, expires);
	if (title[0]) {
		printf(" title=\"%s\"", title);
	}
	if (raw[0]) {
		printf(" raw=%zu bytes", strlen(raw));
	}
	printf("\n");
}

static void
print_subscribe(const ProtobufCMessage *m)
{
	const Uns__V1__SubscribeResponse *r =
	    (const Uns__V1__SubscribeResponse *)m;
	const Uns__V1__Subscription *s = r->subscription;
	char platform[32], expires[32];
	if (s == NULL) {
		return;
	}
	format_time(s->expiration_time_ms, expires, sizeof(expires));
	printf("%s %s device=%s platform=%s host=%s expires=%s\n", s->unsid,
	       r->created ? "created" : "renewed", s->device_id,
	       enum_word(&uns__v1__platform__descriptor, s->platform, platform,
	                 sizeof(platform)),
	       s->target_host_name, expires);
}

static void
print_unsubscribe(const ProtobufCMessage *m)
{
	(void)m;
	printf("unsubscribed\n");
}

static void
print_post(const ProtobufCMessage *m)
{
	const Uns__V1__PostResponse *r = (const Uns__V1__PostResponse *)m;
	printf("%s ", r->created ? "created" : "replaced");
	if (r->notification) {
		print_notification(r->notification);
	}
}

static void
print_fetch(const ProtobufCMessage *m)
{
	const Uns__V1__FetchResponse *r = (const Uns__V1__FetchResponse *)m;
	char why[32];
	if (r->notification) {
		print_notification(r->notification);
		return;
	}
	for (size_t i = 0; i < r->n_changes; i++) {
		const Uns__V1__FeedEntry *e = r->changes[i];
		if (e->removed !=
		    UNS__V1__REMOVED_REASON__REMOVED_REASON_NONE) {
			printf("%s v%" PRIu64 " removed (%s)\n",
			       e->notification ? e->notification->id : "?",
			       e->notification ? e->notification->version : 0,
			       enum_word(&uns__v1__removed_reason__descriptor,
			                 e->removed, why, sizeof(why)));
		} else if (e->notification) {
			print_notification(e->notification);
		}
	}
	printf("cursor %s%s\n", r->next_cursor,
	       r->more ? " (more waiting)" : "");
	fflush(stdout);
}

static void
print_update(const ProtobufCMessage *m)
{
	const Uns__V1__UpdateStateResponse *r =
	    (const Uns__V1__UpdateStateResponse *)m;
	if (r->notification) {
		print_notification(r->notification);
	}
}

static void
print_history(const ProtobufCMessage *m)
{
	const Uns__V1__HistoryResponse *r = (const Uns__V1__HistoryResponse *)m;
	for (size_t i = 0; i < r->n_notifications; i++) {
		print_notification(r->notifications[i]);
	}
	if (r->next_page_token[0]) {
		printf("next page %s\n", r->next_page_token);
	}
}

static void
print_delete(const ProtobufCMessage *m)
{
	(void)m;
	printf("deleted\n");
}

static const char *
fetch_next(const ProtobufCMessage *m)
{
	return ((const Uns__V1__FetchResponse *)m)->next_cursor;
}

static const char *
history_next(const ProtobufCMessage *m)
{
	return ((const Uns__V1__HistoryResponse *)m)->next_page_token;
}

/* --- the commands ------------------------------------------------------ */

#define PLATFORM_WORD(value, name) " " name /* platform.h's names */

static const req_field subscribe_fields[] = {
    {"--device", "ID", "deviceId", F_STRING, "device id (required)"},
    {"--platform", "NAME", "platform", F_STRING,
     "one of" UNS_PLATFORM_NAMES(PLATFORM_WORD) " (required)"},
    {"--channel", "TEXT", "pushChannel", F_STRING,
     "WNS channel URI, FCM token, APNs token (hex) or webhook URL"},
    {"--endpoint", "URL", "webPush.endpoint", F_STRING,
     "Web Push: the push service endpoint"},
    {"--p256dh", "KEY", "webPush.p256dh", F_STRING,
     "Web Push: the browser's public key (base64url)"},
    {"--auth", "SECRET", "webPush.auth", F_STRING,
     "Web Push: the browser's auth secret (base64url)"},
    {"--host", "NAME", "targetHostName", F_STRING,
     "app host name (default: the token's)"},
    {"--display-name", "TEXT", "appDisplayName", F_STRING,
     "app name shown on the device"},
};

static const req_field post_fields[] = {
    {"--unsid", "UNSID", "unsid", F_STRING,
     "the user's subscription (required with an app token)"},
    {"--app-id", "ID", "notification.appNotificationId", F_STRING,
     "app notification id (required; again = replace)"},
    {"--title", "TEXT", "notification.payload.visualContent.title", F_STRING,
     "visual content title"},
    {"--body", "TEXT", "notification.payload.visualContent.body", F_STRING,
     "visual content body"},
    {"--raw", "TEXT", "notification.payload.rawContent", F_STRING,
     "raw content for the app"},
    {"--group", "NAME", "notification.groupName", F_STRING, "group name"},
    {"--priority", "P", "notification.priority", F_STRING, "high or low"},
    {"--platforms", "LIST", "notification.targetPolicy.platformTypes", F_LIST,
     "platforms to tap, comma-separated (default all)"},
    {"--display-ttl", "SECONDS", "notification.displayTimeToLive", F_NUMBER,
     "how long devices show it"},
    {"--expires-in", "DURATION", "notification.expirationTimeMs", F_FROM_NOW,
     "lifetime: 90s, 10m, 2h, 7d, 720h1s (default 7d, at most 30d)"},
    {"--fallback-delay", "DURATION",
     "notification.fallbackPolicy.endpointFallback.fallbackDelayInSeconds",
     F_SECONDS,
     "iOS fallback: a visible push this long after the raw one unless the "
     "device fetched (60s to 10m; needs --priority high, --raw and the "
     "--fallback-title or -body)"},
    {"--fallback-title", "TEXT",
     "notification.fallbackPolicy.endpointFallback.visualContent.title",
     F_STRING, "iOS fallback: its title"},
    {"--fallback-body", "TEXT",
     "notification.fallbackPolicy.endpointFallback.visualContent.body",
     F_STRING, "iOS fallback: its body"},
    {"--fallback-platforms", "LIST",
     "notification.fallbackPolicy.endpointFallback.platformTypes", F_LIST,
     "iOS fallback: platforms it may go to (the server takes iOS "
     "only: --fallback-platforms iOS)"},
};

static const req_field fetch_fields[] = {
    {"--cursor", "CURSOR", "cursor", F_STRING,
     "changes after this cursor (\"latest\" = from now; default: all)"},
    {"--limit", "N", "limit", F_NUMBER, "changes per reply (default 100)"},
    {"--wait", "SECONDS", "waitMs", F_MS,
     "long poll: wait up to this long for a change (≤ 60)"},
    {"--unsid", "UNSID", "unsid", F_STRING, "the fetching device"},
};

static const req_field update_fields[] = {
    {"--action", "STATE", "userActionState", F_STRING,
     "noInteraction, activated, dismissed or snoozed"},
    {"--if-version", "N", "ifVersion", F_STRING,
     "compare-and-set: fail unless the version is N"},
    {"--unsid", "UNSID", "unsid", F_STRING,
     "the device making the change (not tapped)"},
};

static const req_flag update_flags[] = {
    {"--read", "readState", "read", "mark read"},
    {"--unread", "readState", "unread", "mark unread"},
    {"--delete", "delete", NULL, "delete it for every device"},
};

static const req_field history_fields[] = {
    {"--page-size", "N", "pageSize", F_NUMBER, "items per page (default 20)"},
    {"--page-token", "TOKEN", "pageToken", F_STRING, "the next page"},
    {"--status", "S", "status", F_STRING, "active (default) or deleted"},
    {"--read-state", "S", "readState", F_STRING, "read or unread"},
    {"--action", "STATE", "userActionState", F_STRING,
     "noInteraction, activated, dismissed or snoozed"},
    {"--group", "NAME", "groupName", F_STRING, "group name"},
};

static const req_field delete_fields[] = {
    {"--unsid", "UNSID", "unsid", F_STRING,
     "with --app-id: the user to delete for"},
    {"--app-id", "ID", "appNotificationId", F_STRING,
     "delete by app notification id (with --unsid)"},
};

#define FIELDS(t) .fields = t, .n_fields = sizeof(t) / sizeof(t[0])
#define FLAGS(t)  .flags = t, .n_flags = sizeof(t) / sizeof(t[0])

static const notify_cmd notify_cmds[] = {
    {.name = "subscribe",
     .method = "Subscribe",
     .synopsis = "subscribe --device ID --platform NAME [options]",
     FIELDS(subscribe_fields),
     .print = print_subscribe},
    {.name = "unsubscribe",
     .method = "Unsubscribe",
     .synopsis = "unsubscribe UNSID",
     .positional = "unsid",
     .positional_required = 1,
     .print = print_unsubscribe},
    {.name = "post",
     .method = "Post",
     .synopsis = "post --app-id ID [--unsid UNSID] [--title T] [options]",
     FIELDS(post_fields),
     .print = print_post},
    {.name = "fetch",
     .method = "Fetch",
     .synopsis = "fetch [ID] [--cursor C] [--wait S] [--follow]",
     .positional = "id",
     FIELDS(fetch_fields),
     .print = print_fetch,
     .follow_opt = "--follow",
     .follow_help = "keep long-polling from each reply's cursor (Ctrl-C ends)",
     .follow_path = "cursor",
     .follow_next = fetch_next,
     .follow_wait_ms = 60000},
    {.name = "update",
     .method = "UpdateState",
     .synopsis = "update ID [--read|--unread] [--action STATE] [--delete]",
     .positional = "id",
     .positional_required = 1,
     FIELDS(update_fields),
     FLAGS(update_flags),
     .print = print_update},
    {.name = "history",
     .method = "History",
     .synopsis = "history [--read-state S] [--all] [options]",
     FIELDS(history_fields),
     .print = print_history,
     .follow_opt = "--all",
     .follow_help = "follow page tokens to the last page",
     .follow_path = "pageToken",
     .follow_next = history_next},
    {.name = "delete",
     .method = "Delete",
     .synopsis = "delete ID | delete --unsid UNSID --app-id ID",
     .positional = "id",
     FIELDS(delete_fields),
     .print = print_delete},
};

/* --- building the request ---------------------------------------------- */

/* Sets value at a dotted path of root, creating objects on the way. */
static int
json_set_path(uns_jv *root, const char *path, uns_jv *value)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	uns_jv *obj = root;
	char *key = buf, *dot;
	while ((dot = strchr(key, '.')) != NULL) {
		*dot = '\0';
		uns_jv *next = uns_jv_get(obj, key);
		if (next == NULL) {
			next = uns_jv_new_object();
			if (uns_jv_set(obj, key, next) != UNS_OK) {
				uns_jv_free(value);
				return -1;
			}
		}
		obj = next;
		key = dot + 1;
	}
	return uns_jv_set(obj, key, value) == UNS_OK ? 0 : -1;
}

static uns_jv *
list_value(const char *text)
{
	uns_jv *arr = uns_jv_new_array();
	const char *p = text;
	while (arr != NULL && *p) {
		size_t len = strcspn(p, ",");
		(void)uns_jv_append(arr, uns_jv_new_strn(p, len));
		p += len + (p[len] == ',');
	}
	return arr;
}

/* The JSON value for one option, or NULL with a message printed. */
static uns_jv *
field_value(const req_field *f, const char *text)
{
	char *end;
	errno = 0;
	switch (f->kind) {
	case F_STRING:
		return uns_jv_new_str(text);
	case F_LIST:
		return list_value(text);
	case F_NUMBER: {
		long long n = strtoll(text, &end, 10);
		if (errno == 0 && end != text && *end == '\0' && n >= 0) {
			return uns_jv_new_int(n);
		}
		break;
	}
	case F_MS: {
		double s = strtod(text, &end);
		if (errno == 0 && end != text && *end == '\0' && s >= 0 &&
		    s <= 86400) {
			return uns_jv_new_int((int64_t)(s * 1000));
		}
		break;
	}
	case F_SECONDS: {
		int64_t s;
		if (uns_duration_parse(text, 0, &s) == 0) {
			return uns_jv_new_int(s);
		}
		fprintf(stderr,
		        "unsctl: %s: expected a duration like 90s, 5m or "
		        "4m30s\n",
		        f->opt);
		return NULL;
	}
	case F_FROM_NOW: {
		int64_t s;
		if (uns_duration_parse(text, 0, &s) == 0) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			int64_t now =
			    (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
			char ms[32];
			snprintf(ms, sizeof(ms), "%" PRId64, now + s * 1000);
			return uns_jv_new_str(ms);
		}
		fprintf(stderr,
		        "unsctl: %s: expected a duration like 90s, 10m, "
		        "2h, 7d or 720h1s\n",
		        f->opt);
		return NULL;
	}
	}
	fprintf(stderr, "unsctl: %s: expected a non-negative number\n", f->opt);
	return NULL;
}

/* The request as JSON from the parsed options; NULL on a bad value. */
static uns_jv *
request_json(const notify_cmd *cmd, const cmd_args *a, const char *positional)
{
	uns_jv *root = uns_jv_new_object();
	if (positional != NULL) {
		json_set_path(root, cmd->positional,
		              uns_jv_new_str(positional));
	}
	for (size_t i = 0; i < cmd->n_fields; i++) {
		if (a->values[i] == NULL) {
			continue;
		}
		uns_jv *v = field_value(&cmd->fields[i], a->values[i]);
		if (v == NULL) {
			uns_jv_free(root);
			return NULL;
		}
		json_set_path(root, cmd->fields[i].path, v);
	}
	for (size_t i = 0; i < cmd->n_flags; i++) {
		if (a->flags[i]) {
			const req_flag *f = &cmd->flags[i];
			json_set_path(root, f->path,
			              f->value ? uns_jv_new_str(f->value)
			                       : uns_jv_new_bool(true));
		}
	}
	return root;
}

/* --- options ------------------------------------------------------------ */

static size_t
build_options(const notify_cmd *cmd, uns_opt *opts)
{
	static const uns_opt common[] = {
	    UNSCTL_CONN_OPTS(cmd_args),
	    {"--json", UNS_OPT_FLAG, offsetof(cmd_args, json), NULL,
	     "print the reply as JSON"},
	    {"--help", UNS_OPT_FLAG, offsetof(cmd_args, help), NULL,
	     "this text"},
	};
	size_t n = 0;
	for (size_t i = 0; i < cmd->n_fields; i++) {
		const req_field *f = &cmd->fields[i];
		opts[n++] = (uns_opt){f->opt, UNS_OPT_STR,
		                      offsetof(cmd_args, values) +
		                          i * sizeof(const char *),
		                      f->arg, f->help};
	}
	for (size_t i = 0; i < cmd->n_flags; i++) {
		const req_flag *f = &cmd->flags[i];
		opts[n++] = (uns_opt){
		    f->opt, UNS_OPT_FLAG,
		    offsetof(cmd_args, flags) + i * sizeof(int), NULL, f->help};
	}
	if (cmd->follow_opt != NULL) {
		opts[n++] = (uns_opt){cmd->follow_opt, UNS_OPT_FLAG,
		                      offsetof(cmd_args, follow), NULL,
		                      cmd->follow_help};
	}
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++) {
		opts[n++] = common[i];
	}
	return n;
}

static const uns_method *
method_named(const char *shortname)
{
	const uns_service_desc *svc = &uns_notifications_service;
	for (size_t i = 0; i < svc->n_methods; i++) {
		const char *slash = strrchr(svc->methods[i].name, '/');
		if (slash && strcmp(slash + 1, shortname) == 0) {
			return &svc->methods[i];
		}
	}
	return NULL;
}

/* --- running ------------------------------------------------------------ */

static int
print_reply(const notify_cmd *cmd, const cmd_args *a,
            const ProtobufCMessage *resp)
{
	if (!a->json) {
		cmd->print(resp);
		return 0;
	}
	char *text = NULL;
	if (uns_json_encode(resp, NULL, UNS_JSON_PRETTY, &text) != UNS_OK) {
		fprintf(stderr, "unsctl: cannot print the reply as JSON\n");
		return 1;
	}
	printf("%s\n", text);
	fflush(stdout);
	free(text);
	return 0;
}

/* One call; *next gets the paging value to go on with (malloc'd) or NULL. */
static int
call_once(uns_client *c, const notify_cmd *cmd, const cmd_args *a,
          uns_jv *req_json, char **next)
{
	const uns_method *m = method_named(cmd->method);
	ProtobufCMessage *req = NULL, *resp = NULL;
	uns_json_error jerr;
	*next = NULL;
	if (m == NULL) {
		fprintf(stderr, "unsctl: no method %s\n", cmd->method);
		return 1;
	}
	if (uns_json_from_value(m->input, req_json, NULL, &req, &jerr) !=
	    UNS_OK) {
		fprintf(stderr, "unsctl: %s: %s\n", jerr.path, jerr.message);
		return 2;
	}
	uns_call_opts co = unsctl_call_opts(&a->conn);
	uns_err err = uns_client_call(c, m, req, &resp, &co);
	protobuf_c_message_free_unpacked(req, NULL);
	if (err != UNS_OK) {
		fprintf(stderr, "unsctl: %s: %s\n", uns_status_name(err),
		        uns_last_message());
		return 1;
	}
	int rc = print_reply(cmd, a, resp);
	const char *n = cmd->follow_next ? cmd->follow_next(resp) : NULL;
	if (rc == 0 && n != NULL && n[0] != '\0') {
		*next = strdup(n);
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return rc;
}

static int
run(const notify_cmd *cmd, cmd_args *a, uns_jv *req_json)
{
	uns_client *c = unsctl_connect(&a->conn);
	if (c == NULL) {
		return 1;
	}
	int rc;
	char *next = NULL;
	for (;;) {
		rc = call_once(c, cmd, a, req_json, &next);
		if (rc != 0 || !a->follow || next == NULL) {
			break;
		}
		json_set_path(req_json, cmd->follow_path, uns_jv_new_str(next));
		if (cmd->follow_wait_ms > 0 &&
		    uns_jv_get(req_json, "waitMs") == NULL) {
			json_set_path(req_json, "waitMs",
			              uns_jv_new_int(cmd->follow_wait_ms));
		}
		free(next);
		next = NULL;
	}
	free(next);
	uns_client_close(c);
	return rc;
}

static int
notify_cmd_main(const notify_cmd *cmd, int argc, char **argv)
{
	uns_opt opts[MAX_FIELDS * 2 + 16];
	size_t n_opts = build_options(cmd, opts);
	cmd_args a = {0};
	char why[256];
	int n_pos =
	    uns_opts_parse(opts, n_opts, &a, argc, argv, why, sizeof(why));
	int max_pos = cmd->positional ? 1 : 0;
	if (a.help) {
		printf("usage: unsctl %s\n", cmd->synopsis);
		uns_opts_usage(stdout, opts, n_opts);
		return 0;
	}
	if (n_pos > max_pos) {
		snprintf(why, sizeof(why), "unexpected argument %s",
		         argv[max_pos]);
	} else if (n_pos >= 0 && cmd->positional_required && n_pos < 1) {
		snprintf(why, sizeof(why), "missing %s", cmd->positional);
	}
	if (n_pos < 0 || n_pos > max_pos ||
	    (cmd->positional_required && n_pos < 1)) {
		fprintf(stderr,
		        "unsctl: %s\nusage: unsctl %s (--help lists the "
		        "options)\n",
		        why, cmd->synopsis);
		return 2;
	}
	if (a.follow && a.conn.timeout_ms == 0) {
		a.conn.timeout_ms =
		    70000; /* a long poll outlives the default */
	}
	unsctl_conn_defaults(&a.conn);
	uns_jv *req = request_json(cmd, &a, n_pos == 1 ? argv[0] : NULL);
	if (req == NULL) {
		return 2;
	}
	int64_t wait;
	if (uns_jv_int(uns_jv_get(req, "waitMs"), 0, INT_MAX - 10000, &wait) ==
	        UNS_OK &&
	    a.conn.timeout_ms == 0) {
		/* The deadline must outlive the long poll. */
		a.conn.timeout_ms = (int)wait + 10000;
	}
	int rc = run(cmd, &a, req);
	uns_jv_free(req);
	return rc;
}

int
unsctl_notify_main(int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(notify_cmds) / sizeof(notify_cmds[0]);
	     i++) {
		if (strcmp(argv[0], notify_cmds[i].name) == 0) {
			return notify_cmd_main(&notify_cmds[i], argc, argv);
		}
	}
	fprintf(stderr, "unsctl: unknown command %s\n", argv[0]);
	return 2;
}
