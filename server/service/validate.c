/*
 * validate.c — see validate.h. Enum values are checked against their
 * protobuf descriptors, since proto3 enums arrive open: any int32 decodes.
 */
#include <stdio.h>
#include <string.h>

#include "validate.h"

#define DAY_MS (24LL * 3600 * 1000)

void
uns_limits_defaults(uns_limits *l)
{
	l->max_id = 256;
	l->max_raw_content = 4096;
	l->max_title = 256;
	l->max_body_text = 2048;
	l->max_channel = 2048;
	l->max_page_size = 100;
	l->max_feed_limit = 1000;
	l->max_wait_ms = 60000;
	l->max_expiry_ms = 30 * DAY_MS;
	l->idempotency_window_ms = DAY_MS;
}

static uns_err
invalid(uns_call *call, const char *field, const char *reason)
{
	return uns_call_fail(call, UNS_INVALID_ARGUMENT, field, "%s", reason);
}

static int
known(const ProtobufCEnumDescriptor *d, int v)
{
	return protobuf_c_enum_descriptor_get_value(d, v) != NULL;
}

static uns_err
check_len(uns_call *call, const char *field, const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max) {
		return uns_call_fail(call, UNS_INVALID_ARGUMENT, field,
		                     "%zu bytes, at most %zu allowed", n, max);
	}
	return UNS_OK;
}

uns_err
uns_validate_id(uns_call *call, const uns_limits *l, const char *field,
                const char *value)
{
	if (value == NULL || value[0] == '\0') {
		return invalid(call, field, "required");
	}
	if (check_len(call, field, value, l->max_id) != UNS_OK) {
		return UNS_INVALID_ARGUMENT;
	}
	for (const char *p = value; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			return invalid(call, field, "control characters");
		}
	}
	return UNS_OK;
}

static uns_err
check_platforms(uns_call *call, const char *field, const int *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!known(&uns__v1__platform__descriptor, v[i]) ||
		    v[i] == UNS__V1__PLATFORM__PLATFORM_UNSPECIFIED) {
			return uns_call_fail(call, UNS_INVALID_ARGUMENT, field,
			                     "unknown platform %d", v[i]);
		}
	}
	return UNS_OK;
}

static uns_err
check_visual(uns_call *call, const uns_limits *l, const char *field,
             const Uns__V1__VisualContent *v)
{
	char f[128];
	snprintf(f, sizeof(f), "%s.title", field);
	if (v->title[0] == '\0') {
		return invalid(call, f, "required in visual content");
	}
	if (check_len(call, f, v->title, l->max_title) != UNS_OK) {
		return UNS_INVALID_ARGUMENT;
	}
	snprintf(f, sizeof(f), "%s.body", field);
	return check_len(call, f, v->body, l->max_body_text);
}

static uns_err
check_payload(uns_call *call, const uns_limits *l, const Uns__V1__Payload *p)
{
	if (p == NULL ||
	    (p->raw_content[0] == '\0' && p->visual_content == NULL)) {
		return invalid(call, "notification.payload",
		               "needs rawContent or visualContent");
	}
	if (check_len(call, "notification.payload.rawContent", p->raw_content,
	              l->max_raw_content) != UNS_OK) {
		return UNS_INVALID_ARGUMENT;
	}
	if (p->visual_content) {
		return check_visual(call, l,
		                    "notification.payload.visualContent",
		                    p->visual_content);
	}
	return UNS_OK;
}

static int
includes_ios(const Uns__V1__TargetPolicy *t)
{
	if (t == NULL || t->n_platform_types == 0) {
		return 1; /* every platform */
	}
	for (size_t i = 0; i < t->n_platform_types; i++) {
		if (t->platform_types[i] == UNS__V1__PLATFORM__PLATFORM_IOS) {
			return 1;
		}
	}
	return 0;
}

/* SPEC §5: iOS only, delay 60–600 s, visual content with a title. */
static uns_err
check_fallback(uns_call *call, const uns_limits *l,
               const Uns__V1__Notification *n)
{
	const char *f = "notification.fallbackPolicy.endpointFallback";
	const Uns__V1__EndpointFallback *e =
	    n->fallback_policy->endpoint_fallback;
	char field[160];
	if (e == NULL) {
		return invalid(call, f, "required in a fallbackPolicy");
	}
	snprintf(field, sizeof(field), "%s.platformTypes", f);
	if (e->n_platform_types != 1 ||
	    e->platform_types[0] != UNS__V1__PLATFORM__PLATFORM_IOS) {
		return invalid(call, field, "must be [\"iOS\"]");
	}
	if (!includes_ios(n->target_policy)) {
		return invalid(
		    call, "notification.targetPolicy.platformTypes",
		    "must include iOS when a fallbackPolicy is given");
	}
	snprintf(field, sizeof(field), "%s.fallbackDelayInSeconds", f);
	if (e->fallback_delay_in_seconds < 60 ||
	    e->fallback_delay_in_seconds > 600) {
		return invalid(call, field, "must be from 60 to 600");
	}
	snprintf(field, sizeof(field), "%s.visualContent", f);
	if (e->visual_content == NULL) {
		return invalid(call, field, "required");
	}
	return check_visual(call, l, field, e->visual_content);
}

static uns_err
check_expiry(uns_call *call, const uns_limits *l, int64_t exp, int64_t now)
{
	const char *f = "notification.expirationDateTime";
	if (exp == 0) {
		return UNS_OK; /* the default applies */
	}
	if (exp <= now) {
		return invalid(call, f, "in the past");
	}
	if (exp - now > l->max_expiry_ms) {
		return uns_call_fail(call, UNS_INVALID_ARGUMENT, f,
		                     "more than %lld days ahead",
		                     (long long)(l->max_expiry_ms / DAY_MS));
	}
	return UNS_OK;
}

uns_err
uns_validate_notification(uns_call *call, const uns_limits *l,
                          const Uns__V1__Notification *n, int64_t now_ms)
{
	if (n == NULL) {
		return invalid(call, "notification", "required");
	}
	uns_err err;
	if ((err = check_len(call, "notification.appNotificationId",
	                     n->app_notification_id, l->max_id)) != UNS_OK ||
	    (err = check_len(call, "notification.groupName", n->group_name,
	                     l->max_id)) != UNS_OK ||
	    (err = check_len(call, "notification.targetHostName",
	                     n->target_host_name, l->max_id)) != UNS_OK ||
	    (err = check_payload(call, l, n->payload)) != UNS_OK ||
	    (err = check_expiry(call, l, n->expiration_time_ms, now_ms)) !=
	        UNS_OK) {
		return err;
	}
	if (!known(&uns__v1__priority__descriptor, n->priority)) {
		return invalid(call, "notification.priority",
		               "unknown priority");
	}
	if (n->target_policy &&
	    (err = check_platforms(
	         call, "notification.targetPolicy.platformTypes",
	         (const int *)n->target_policy->platform_types,
	         n->target_policy->n_platform_types)) != UNS_OK) {
		return err;
	}
	if (n->fallback_policy) {
		return check_fallback(call, l, n);
	}
	return UNS_OK;
}

/* Which platforms carry a pushChannel, and which a webPush object. */
static uns_err
check_channel(uns_call *call, const uns_limits *l,
              const Uns__V1__SubscribeRequest *r)
{
	int web = r->platform == UNS__V1__PLATFORM__PLATFORM_WEB_PUSH;
	int none = r->platform == UNS__V1__PLATFORM__PLATFORM_POLLING;
	if (web) {
		const Uns__V1__WebPushSubscription *w = r->web_push;
		if (w == NULL || w->endpoint[0] == '\0' ||
		    w->p256dh[0] == '\0' || w->auth[0] == '\0') {
			return invalid(
			    call, "webPush",
			    "needs endpoint, keys.p256dh and keys.auth");
		}
		if (strncmp(w->endpoint, "https://", 8) != 0) {
			return invalid(call, "webPush.endpoint",
			               "must be https");
		}
		return check_len(call, "webPush.endpoint", w->endpoint,
		                 l->max_channel);
	}
	if (none && r->push_channel[0] != '\0') {
		return invalid(call, "pushChannel", "not used with polling");
	}
	if (!none && r->push_channel[0] == '\0') {
		return invalid(call, "pushChannel",
		               "required for this platform");
	}
	if (r->platform == UNS__V1__PLATFORM__PLATFORM_WEBHOOK &&
	    strncmp(r->push_channel, "https://", 8) != 0 &&
	    strncmp(r->push_channel, "http://", 7) != 0) {
		return invalid(call, "pushChannel",
		               "a webhook needs an http(s) URL");
	}
	return check_len(call, "pushChannel", r->push_channel, l->max_channel);
}

uns_err
uns_validate_subscribe(uns_call *call, const uns_limits *l,
                       const Uns__V1__SubscribeRequest *r)
{
	uns_err err;
	if ((err = uns_validate_id(call, l, "deviceId", r->device_id)) !=
	        UNS_OK ||
	    (err = check_len(call, "appDisplayName", r->app_display_name,
	                     l->max_id)) != UNS_OK) {
		return err;
	}
	if (r->platform == UNS__V1__PLATFORM__PLATFORM_UNSPECIFIED) {
		return invalid(call, "platform", "required");
	}
	if (!known(&uns__v1__platform__descriptor, r->platform)) {
		return invalid(call, "platform", "unknown platform");
	}
	return check_channel(call, l, r);
}

uns_err
uns_validate_fetch(uns_call *call, const uns_limits *l,
                   const Uns__V1__FetchRequest *r)
{
	if (r->id[0] != '\0' && r->cursor[0] != '\0') {
		return invalid(call, "id",
		               "give either id or cursor, not both");
	}
	if (r->limit > l->max_feed_limit) {
		return uns_call_fail(call, UNS_INVALID_ARGUMENT, "limit",
		                     "at most %u", l->max_feed_limit);
	}
	if (r->wait_ms > l->max_wait_ms) {
		return uns_call_fail(call, UNS_INVALID_ARGUMENT, "waitMs",
		                     "at most %u", l->max_wait_ms);
	}
	return check_len(call, "cursor", r->cursor, 512);
}

uns_err
uns_validate_update(uns_call *call, const Uns__V1__UpdateStateRequest *r)
{
	if (r->id[0] == '\0') {
		return invalid(call, "id", "required");
	}
	if (!known(&uns__v1__read_state__descriptor, r->read_state)) {
		return invalid(call, "readState", "unknown read state");
	}
	if (!known(&uns__v1__user_action_state__descriptor,
	           r->user_action_state)) {
		return invalid(call, "userActionState",
		               "unknown user action state");
	}
	if (!r->delete_ && r->read_state == 0 && r->user_action_state == 0) {
		return invalid(call, "readState",
		               "nothing to change: give readState, "
		               "userActionState or delete");
	}
	return UNS_OK;
}

uns_err
uns_validate_history(uns_call *call, const uns_limits *l,
                     const Uns__V1__HistoryRequest *r)
{
	if (r->page_size > l->max_page_size) {
		return uns_call_fail(call, UNS_INVALID_ARGUMENT, "pageSize",
		                     "at most %u", l->max_page_size);
	}
	if (!known(&uns__v1__notification_status__descriptor, r->status) ||
	    !known(&uns__v1__read_state__descriptor, r->read_state) ||
	    !known(&uns__v1__user_action_state__descriptor,
	           r->user_action_state)) {
		return invalid(call, "status", "unknown filter value");
	}
	return check_len(call, "groupName", r->group_name, l->max_id);
}
