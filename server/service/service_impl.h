/*
 * service_impl.h — the state behind uns.v1.Notifications, shared by the
 * files that implement its handlers (service.c, notify.c). Not for others.
 */
#ifndef UNS_SERVICE_IMPL_H
#define UNS_SERVICE_IMPL_H

#include <stdatomic.h>

#include "auth.h"
#include "expiry.h"
#include "fairness.h"
#include "feedwait.h"
#include "service.h"
#include "store.h"
#include "token_guard.h"
#include "validate.h"

struct uns_service {
	atomic_int serving;
	uns_store *store; /* borrowed; NULL = Health and Echo only */
	uns_auth *auth;   /* borrowed */
	const struct uns_token_issuer *issuer; /* borrowed; NULL = none */
	uns_feedwait *waits;
	uns_expiry *expiry;           /* NULL = off */
	uns_fairness *fair;           /* caps and rates per user and app */
	uns_token_guard *token_guard; /* the token endpoint's limits */
	uns_limits limits;
	const struct uns_push_config *push; /* borrowed; NULL = no check */
	int64_t (*now_ms)(void *arg);
	void *now_arg;
	unsigned rpc_flags; /* UNS_SERVICE_*, set by uns_service_rpc */
};

int64_t uns_service_now_ms(const uns_service *svc);

/* Handlers of notify.c. */
uns_err uns_notify_subscribe(uns_call *, const Uns__V1__SubscribeRequest *,
                             Uns__V1__SubscribeResponse *);
uns_err uns_notify_unsubscribe(uns_call *, const Uns__V1__UnsubscribeRequest *,
                               Uns__V1__UnsubscribeResponse *);
uns_err uns_notify_post(uns_call *, const Uns__V1__PostRequest *,
                        Uns__V1__PostResponse *);
uns_err uns_notify_fetch(uns_call *, const Uns__V1__FetchRequest *,
                         Uns__V1__FetchResponse *);
uns_err uns_notify_update_state(uns_call *, const Uns__V1__UpdateStateRequest *,
                                Uns__V1__UpdateStateResponse *);
uns_err uns_notify_history(uns_call *, const Uns__V1__HistoryRequest *,
                           Uns__V1__HistoryResponse *);
uns_err uns_notify_delete(uns_call *, const Uns__V1__DeleteRequest *,
                          Uns__V1__DeleteResponse *);
uns_err uns_notify_list_subscriptions(uns_call *,
                                      const Uns__V1__ListSubscriptionsRequest *,
                                      Uns__V1__ListSubscriptionsResponse *);

uns_err uns_notify_admin_list_subscriptions(
    uns_call *, const Uns__V1__AdminListSubscriptionsRequest *,
    Uns__V1__ListSubscriptionsResponse *);

/* IssueToken, token_endpoint.c. */
uns_err uns_token_issue(uns_call *, const Uns__V1__IssueTokenRequest *,
                        Uns__V1__IssueTokenResponse *);

#endif /* UNS_SERVICE_IMPL_H */
