/*
 * service.h — the state behind uns.v1.Notifications and its handler table.
 *
 * The foundation implements Health and Echo; the other methods answer
 * UNIMPLEMENTED (NULL slots in the generated handler struct) until the
 * notification service fills them.
 */
#ifndef UNS_SERVICE_H
#define UNS_SERVICE_H

#include "uns_methods.h"

typedef struct uns_service uns_service;

uns_err uns_service_open(uns_service **out);
void uns_service_close(uns_service *svc);
/* Health answers NOT_SERVING once this is set to 0 (during drain). */
void uns_service_set_serving(uns_service *svc, int serving);

extern const uns_notifications_handlers uns_service_handlers;
/* The methods whose handlers never block (for uns_rpc_service). */
extern const char *const uns_service_inline_methods[];

#endif /* UNS_SERVICE_H */
