/*
 * unsctl_delivery.c — `unsctl delivery`: the caller's subscriptions and how
 * taps to each fare (ListSubscriptions with a user token): delivered and
 * failed counts, consecutive failures, last success, last error, and
 * whether the provider declared the endpoint dead. --json prints the reply
 * as the proto3 JSON mapping instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_codec.h"
#include "platform.h"
#include "uns_stubs.h"
#include "unsctl.h"

typedef struct delivery_opts {
	unsctl_conn conn;
	int json;
	int help;
} delivery_opts;

static const uns_opt delivery_options[] = {
    UNSCTL_CONN_OPTS(delivery_opts),
    {"--json", UNS_OPT_FLAG, offsetof(delivery_opts, json), NULL,
     "print the reply as JSON"},
    {"--help", UNS_OPT_FLAG, offsetof(delivery_opts, help), NULL, "this text"},
};
#define N_DELIVERY_OPTS (sizeof(delivery_options) / sizeof(delivery_options[0]))

/* "2026-11-25T08:32:39Z", or "-" for 0. */
static void
fmt_time(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(out, 32, "-");
		return;
	}
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
print_table(const Uns__V1__ListSubscriptionsResponse *r)
{
	printf("%-22s %-16s %-8s %-5s %9s %6s %5s %-20s %s\n", "UNSID",
	       "DEVICE", "PLATFORM", "STATE", "DELIVERED", "FAILED", "FAILS",
	       "LAST SUCCESS", "LAST ERROR");
	for (size_t i = 0; i < r->n_subscriptions; i++) {
		const Uns__V1__Subscription *s = r->subscriptions[i];
		const Uns__V1__DeliveryState *d = s->delivery;
		const char *platform = uns_platform_name(s->platform);
		char ok[32];
		fmt_time(d != NULL ? d->last_success_ms : 0, ok);
		printf("%-22s %-16.16s %-8s %-5s %9llu %6llu %5u %-20s %s\n",
		       s->unsid, s->device_id,
		       platform != NULL ? platform : "?",
		       d != NULL && d->dead ? "dead" : "live",
		       (unsigned long long)(d != NULL ? d->delivered : 0),
		       (unsigned long long)(d != NULL ? d->failed : 0),
		       d != NULL ? d->consecutive_failures : 0, ok,
		       d != NULL && d->last_error[0] ? d->last_error : "-");
	}
}

static int
print_json(const Uns__V1__ListSubscriptionsResponse *r)
{
	char *text = NULL;

	if (uns_json_encode(&r->base, NULL, UNS_JSON_PRETTY, &text) != UNS_OK) {
		fprintf(stderr, "unsctl: cannot print the reply as JSON\n");
		return 1;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

int
unsctl_delivery_main(int argc, char **argv)
{
	delivery_opts o = {0};
	char why[256];
	int n = uns_opts_parse(delivery_options, N_DELIVERY_OPTS, &o, argc,
	                       argv, why, sizeof(why));
	if (n != 0 || o.help) {
		if (n < 0) {
			fprintf(stderr, "unsctl: %s\n", why);
		}
		fprintf(o.help ? stdout : stderr,
		        "usage: unsctl delivery --token USER_JWT [options]\n");
		uns_opts_usage(o.help ? stdout : stderr, delivery_options,
		               N_DELIVERY_OPTS);
		return o.help ? 0 : 2;
	}
	unsctl_conn_defaults(&o.conn);
	uns_client *c = unsctl_connect(&o.conn);
	if (c == NULL) {
		return 1;
	}
	Uns__V1__ListSubscriptionsRequest req =
	    UNS__V1__LIST_SUBSCRIPTIONS_REQUEST__INIT;
	Uns__V1__ListSubscriptionsResponse *resp = NULL;
	uns_call_opts co = unsctl_call_opts(&o.conn);
	uns_err err = uns_notifications_list_subscriptions(c, &req, &resp, &co);
	uns_client_close(c);
	if (err != UNS_OK) {
		fprintf(stderr, "unsctl: %s: %s\n", uns_status_name(err),
		        uns_last_message());
		return 1;
	}
	int rc = 0;
	if (o.json) {
		rc = print_json(resp);
	} else {
		print_table(resp);
	}
	uns__v1__list_subscriptions_response__free_unpacked(resp, NULL);
	return rc;
}
