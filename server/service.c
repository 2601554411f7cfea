/*
 * service.c — see service.h.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "service.h"

#define SERVICE_NAME "uns.v1.Notifications"

struct uns_service {
	atomic_int serving;
};

uns_err
uns_service_open(uns_service **out)
{
	uns_service *svc = calloc(1, sizeof(*svc));
	if (svc == NULL) {
		return UNS_ENOMEM;
	}
	atomic_store(&svc->serving, 1);
	*out = svc;
	return UNS_OK;
}

void
uns_service_close(uns_service *svc)
{
	free(svc);
}

void
uns_service_set_serving(uns_service *svc, int serving)
{
	atomic_store(&svc->serving, serving);
}

static uns_err
health(uns_call *call, const Uns__V1__HealthRequest *req,
       Uns__V1__HealthResponse *resp)
{
	uns_service *svc = uns_call_ctx(call);
	if (req->service[0] != '\0' &&
	    strcmp(req->service, SERVICE_NAME) != 0) {
		return uns_call_fail(call, UNS_NOT_FOUND, "service",
		                     "unknown service \"%s\"", req->service);
	}
	resp->status =
	    atomic_load(&svc->serving)
	        ? UNS__V1__SERVING_STATUS__SERVING_STATUS_SERVING
	        : UNS__V1__SERVING_STATUS__SERVING_STATUS_NOT_SERVING;
	resp->version = UNS_VERSION;
	resp->store_status = "none";
	return UNS_OK;
}

static uns_err
echo(uns_call *call, const Uns__V1__EchoRequest *req,
     Uns__V1__EchoResponse *resp)
{
	(void)call;
	resp->data = req->data; /* lives in the call's arena until packed */
	return UNS_OK;
}

const uns_notifications_handlers uns_service_handlers = {
    .health = health,
    .echo = echo,
};

const char *const uns_service_inline_methods[] = {
    "/uns.v1.Notifications/Health",
    "/uns.v1.Notifications/Echo",
    NULL,
};
