/*
 * fairness.c — see fairness.h. A user is its token's subject and an app
 * its app id, as in the gateway's rate limits, so one request through the
 * gateway meets the same limits twice at the same rates (one bucket per
 * side) and a client cannot dodge them by changing transport. For long
 * polls and the calls of a user token, "the app" is the token's host: the
 * host stands for the app whose users wait.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "fairness.h"
#include "ratelimit.h"

struct uns_fairness {
	uns_caps *calls_user, *calls_app, *waits_user, *waits_app;
	uns_ratelimit *rate_app, *rate_user;
	unsigned (*nodes)(void *arg);
	void *nodes_arg;
};

/* What one call holds of a caps table, given back by its cleanup. */
typedef struct held {
	uns_caps *caps;
	char key[];
} held;

void
uns_fairness_defaults(uns_fairness_config *c)
{
	*c = (uns_fairness_config){
	    .calls_per_user = 64,
	    .calls_per_app = 120000,
	    .waits_per_user = 32,
	    .waits_per_app = 100000,
	    .rate_app = 1000,
	    .rate_app_burst = 2000,
	    .rate_user = 50,
	    .rate_user_burst = 100,
	};
}

void
uns_fairness_close(uns_fairness *f)
{
	if (f == NULL) {
		return;
	}
	uns_caps_close(f->calls_user);
	uns_caps_close(f->calls_app);
	uns_caps_close(f->waits_user);
	uns_caps_close(f->waits_app);
	uns_ratelimit_close(f->rate_app);
	uns_ratelimit_close(f->rate_user);
	free(f);
}

static uns_err
open_rate(uns_ratelimit **out, uint32_t rate, uint32_t burst)
{
	uns_ratelimit_config rc = {.rate = rate, .burst = burst};
	*out = NULL;
	return rate ? uns_ratelimit_open(out, &rc) : UNS_OK;
}

uns_err
uns_fairness_open(uns_fairness **out, const uns_fairness_config *cfg)
{
	uns_fairness *f = calloc(1, sizeof(*f));
	uns_err err = UNS_ENOMEM;
	if (f != NULL) {
		f->nodes = cfg->nodes;
		f->nodes_arg = cfg->nodes_arg;
	}
	if (f == NULL ||
	    (err = uns_caps_open(&f->calls_user, cfg->calls_per_user)) !=
	        UNS_OK ||
	    (err = uns_caps_open(&f->calls_app, cfg->calls_per_app)) !=
	        UNS_OK ||
	    (err = uns_caps_open(&f->waits_user, cfg->waits_per_user)) !=
	        UNS_OK ||
	    (err = uns_caps_open(&f->waits_app, cfg->waits_per_app)) !=
	        UNS_OK ||
	    (err = open_rate(&f->rate_app, cfg->rate_app,
	                     cfg->rate_app_burst)) != UNS_OK ||
	    (err = open_rate(&f->rate_user, cfg->rate_user,
	                     cfg->rate_user_burst)) != UNS_OK) {
		uns_fairness_close(f);
		return err;
	}
	*out = f;
	return UNS_OK;
}

static void
give_back(void *arg)
{
	held *h = arg;
	uns_caps_release(h->caps, h->key);
}

/* The live nodes sharing the per-user limits (≥ 1). */
static unsigned
nodes_of(const uns_fairness *f)
{
	unsigned n = f->nodes != NULL ? f->nodes(f->nodes_arg) : 1;
	return n > 0 ? n : 1;
}

/* This node's share of a per-user cap split over n nodes: ceil(cap / n),
 * 0 (no cap) staying 0. */
static uint32_t
share(uint32_t cap, unsigned n)
{
	return cap == 0 ? 0 : (cap + n - 1) / n;
}

/* Takes a slot of caps for key, under cap, until the call's reply is
 * packed; 0 when key holds cap already. */
static int
hold(uns_call *call, uns_caps *caps, const char *key, uint32_t cap)
{
	if (uns_caps_cap(caps) == 0) {
		return 1;
	}
	size_t len = strlen(key);
	held *h = uns_call_alloc(call, sizeof(*h) + len + 1);
	if (h == NULL || !uns_caps_acquire_max(caps, key, cap)) {
		return 0;
	}
	h->caps = caps;
	memcpy(h->key, key, len + 1);
	if (uns_call_defer(call, give_back, h) != UNS_OK) {
		uns_caps_release(caps, key);
		return 0;
	}
	return 1;
}

static uns_err
refuse(uns_call *call, const char *what, const char *who, uint32_t cap,
       uint32_t retry_s)
{
	return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
	                     "%s has %u %s (the limit); retry after %u s", who,
	                     cap, what, retry_s);
}

uns_err
uns_fairness_admit(uns_fairness *f, uns_call *call, const uns_principal *p)
{
	if (f == NULL) {
		return UNS_OK;
	}
	int app = p->kind == UNS_PRINCIPAL_APP;
	const char *who = app ? p->app_id : p->user;
	unsigned n = app ? 1 : nodes_of(f);
	uint32_t retry_ms = 0, user_cap = share(uns_caps_cap(f->calls_user), n);
	if (!uns_ratelimit_take_n(app ? f->rate_app : f->rate_user, who, n,
	                          &retry_ms)) {
		return uns_call_fail(call, UNS_RESOURCE_EXHAUSTED, NULL,
		                     "rate limit of the %s reached; retry "
		                     "after %u s",
		                     app ? "app" : "user",
		                     (retry_ms + 999) / 1000);
	}
	if (!app && !hold(call, f->calls_user, p->user, user_cap)) {
		return refuse(call, "calls in progress", "the user", user_cap,
		              1);
	}
	if (!hold(call, f->calls_app, app ? p->app_id : p->host,
	          uns_caps_cap(f->calls_app))) {
		return refuse(call, "calls in progress", "the app",
		              uns_caps_cap(f->calls_app), 1);
	}
	return UNS_OK;
}

uns_err
uns_fairness_wait(uns_fairness *f, uns_call *call, const char *user,
                  const char *host)
{
	if (f == NULL) {
		return UNS_OK;
	}
	uint32_t user_cap = share(uns_caps_cap(f->waits_user), nodes_of(f));
	if (!hold(call, f->waits_user, user, user_cap)) {
		return refuse(call, "long polls waiting", "the user", user_cap,
		              1);
	}
	if (!hold(call, f->waits_app, host, uns_caps_cap(f->waits_app))) {
		return refuse(call, "long polls waiting", "the app",
		              uns_caps_cap(f->waits_app), 1);
	}
	return UNS_OK;
}
