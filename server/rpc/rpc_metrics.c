/*
 * rpc_metrics.c — see rpc_metrics.h. The method label is the short name
 * ("Post"), taken from the generated full name.
 */
#include <stdlib.h>
#include <string.h>

#include "rpc_metrics.h"

struct uns_rpc_metrics {
	uns_metric *calls;
};

uns_err
uns_rpc_metrics_open(uns_rpc_metrics **out, uns_metrics *m)
{
	const char *labels[] = {"method", "status"};
	uns_rpc_metrics *rm = calloc(1, sizeof(*rm));
	if (rm == NULL) {
		return UNS_ENOMEM;
	}
	uns_err err = uns_metrics_counter(
	    m, "uns_rpc_calls_total",
	    "RPC calls answered, by method and status (gRPC's names).", labels,
	    2, &rm->calls);
	if (err != UNS_OK) {
		free(rm);
		return err;
	}
	*out = rm;
	return UNS_OK;
}

void
uns_rpc_metrics_close(uns_rpc_metrics *rm)
{
	free(rm);
}

void
uns_rpc_metrics_on_reply(void *arg, const uns_method *method, uns_err code)
{
	uns_rpc_metrics *rm = arg;
	const char *name = "unknown";
	if (method != NULL && method->name != NULL) {
		const char *slash = strrchr(method->name, '/');
		name = slash ? slash + 1 : method->name;
	}
	const char *values[] = {name, uns_status_name(code)};
	uns_metric_add(rm->calls, values, 1);
}
