/*
 * gateway_json.h — Graph's JSON shapes for the gateway (SPEC §3), on top of
 * the descriptor-driven codec (common/json/json_codec.h): one mapping table of
 * Graph spellings (expirationDateTime, canonical enum names, ...) instead of
 * hand-written field code, plus the few shapes the codec cannot express
 * (the removed-entry marker, webPush.keys, $filter). Pure: no I/O, no
 * state; safe from any thread; fuzzed by tests/fuzz/fuzz_gateway_json.c.
 */
#ifndef UNS_GATEWAY_JSON_H
#define UNS_GATEWAY_JSON_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "json_codec.h"
#include "json_value.h"
#include "uns/v1/notifications.pb-c.h"

/* The Graph mapping of every uns.v1 message the gateway reads or writes. */
extern const uns_json_mapping uns_gw_graph_mapping;

/*
 * Parses a request body into a new message of type desc (free it with
 * protobuf_c_message_free_unpacked(msg, NULL)). The body must be one JSON
 * object: an array, a scalar or invalid JSON is UNS_INVALID_ARGUMENT with
 * why saying what and where ("invalid JSON at line 1, column 9 (byte 8):
 * ..."; "notification.priority: unknown value \"urgent\""). For
 * SubscribeRequest, webPush.keys.{p256dh,auth} are read as Graph/W3C
 * PushSubscription JSON has them.
 */
uns_err uns_gw_parse_body(const ProtobufCMessageDescriptor *desc,
                          const char *body, size_t len, ProtobufCMessage **out,
                          char *why, size_t whylen);

/* A notification in Graph's shape, a new JSON object; NULL when out of
 * memory or when it holds what JSON cannot carry. */
uns_jv *uns_gw_notification_json(const Uns__V1__Notification *n);

/* A feed entry: the notification, or {"id","@removed":{"reason"}}. */
uns_jv *uns_gw_feed_entry_json(const Uns__V1__FeedEntry *e);

/* The same two shapes appended to b as text (json_buf.h), byte for byte
 * what uns_jv_dump(..., 0) makes of the two above, without the
 * tree. UNS_INVALID_ARGUMENT (what JSON cannot carry) or UNS_ENOMEM leave
 * b as it was before the call. */
uns_err uns_gw_write_notification(uns_json_buf *b,
                                  const Uns__V1__Notification *n);
uns_err uns_gw_write_feed_entry(uns_json_buf *b, const Uns__V1__FeedEntry *e);

/* A subscription as the subscribe reply: {"id","expirationDateTime",
 * "platform","deviceId","targetHostName",...}. */
uns_jv *uns_gw_subscription_json(const Uns__V1__Subscription *s);

/*
 * Applies an OData $filter of the supported subset to req: clauses
 * "NAME eq 'VALUE'" joined by "and", NAME one of readState,
 * userActionState, status, groupName (case-insensitive), enum values as in
 * JSON. A groupName value is copied into group (group_cap bytes) and
 * req->group_name points there. Anything else is UNS_INVALID_ARGUMENT, why
 * naming the clause. On error req may be partly set (the caller discards
 * it).
 */
uns_err uns_gw_apply_filter(const char *filter, Uns__V1__HistoryRequest *req,
                            char *group, size_t group_cap, char *why,
                            size_t whylen);

#endif /* UNS_GATEWAY_JSON_H */
