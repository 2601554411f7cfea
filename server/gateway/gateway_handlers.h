/*
 * gateway_handlers.h — the handlers behind the route table (internal).
 * Each maps one HTTP request onto RPCs; see gateway_notifications.c.
 */
#ifndef UNS_GATEWAY_HANDLERS_H
#define UNS_GATEWAY_HANDLERS_H

#include "gateway_exchange.h"

void uns_gw_healthz(uns_gw_exchange *x);
void uns_gw_create(uns_gw_exchange *x);
void uns_gw_list(uns_gw_exchange *x);
void uns_gw_get(uns_gw_exchange *x);
void uns_gw_delta(uns_gw_exchange *x);
void uns_gw_patch(uns_gw_exchange *x);
void uns_gw_delete(uns_gw_exchange *x);
void uns_gw_subscribe(uns_gw_exchange *x);
void uns_gw_unsubscribe(uns_gw_exchange *x);
void uns_gw_subscriptions(uns_gw_exchange *x);
void uns_gw_subscription(uns_gw_exchange *x);
void uns_gw_admin_subscriptions(uns_gw_exchange *x);
/* gateway_operations.c */
void uns_gw_token(uns_gw_exchange *x);
void uns_gw_metrics(uns_gw_exchange *x);
void uns_gw_openapi(uns_gw_exchange *x);
/* gateway_web.c */
void uns_gw_web(uns_gw_exchange *x);

#endif /* UNS_GATEWAY_HANDLERS_H */
