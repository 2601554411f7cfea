/*
 * validate.h — checks of request messages against the input rules and
 * limits of SPEC §3, before anything touches the store.
 *
 * Each check fails through uns_call_fail with the field named by its JSON
 * path ("notification.payload.visualContent.title"), the spelling both the
 * RPC caller and the REST gateway's user recognise. The checks read only
 * the message and the limits: no I/O, no store.
 */
#ifndef UNS_VALIDATE_H
#define UNS_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "call.h"
#include "uns/v1/notifications.pb-c.h"

typedef struct uns_limits {
	size_t max_id;           /* ids, host names, device ids: 256 */
	size_t max_raw_content;  /* payload.rawContent: 4096 */
	size_t max_title;        /* visualContent.title: 256 */
	size_t max_body_text;    /* visualContent.body: 2048 */
	size_t max_channel;      /* push channel / endpoint: 2048 */
	uint32_t max_page_size;  /* History page: 100 */
	uint32_t max_feed_limit; /* Fetch limit: 1000 */
	uint32_t max_wait_ms;    /* Fetch long poll: 60000 */
	int64_t max_expiry_ms;   /* expiration at most this far ahead: 30 d */
	int64_t idempotency_window_ms; /* a Post's idempotency key: 24 h */
} uns_limits;

void uns_limits_defaults(uns_limits *l);

uns_err uns_validate_notification(uns_call *call, const uns_limits *l,
                                  const Uns__V1__Notification *n,
                                  int64_t now_ms);
uns_err uns_validate_subscribe(uns_call *call, const uns_limits *l,
                               const Uns__V1__SubscribeRequest *r);
uns_err uns_validate_fetch(uns_call *call, const uns_limits *l,
                           const Uns__V1__FetchRequest *r);
uns_err uns_validate_update(uns_call *call,
                            const Uns__V1__UpdateStateRequest *r);
uns_err uns_validate_history(uns_call *call, const uns_limits *l,
                             const Uns__V1__HistoryRequest *r);

/* A required id: non-empty, at most max bytes, printable ASCII. */
uns_err uns_validate_id(uns_call *call, const uns_limits *l, const char *field,
                        const char *value);

#endif /* UNS_VALIDATE_H */
