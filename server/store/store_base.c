/*
 * store_base.c — the head every backend's handle starts with
 * (store_backend.h): the shared defaults, the clock and the hooks.
 */
#include <string.h>
#include <time.h>

#include "store_backend.h"
#include "store_util.h"

void
uns_store_base_init(uns_store *st, const uns_store_ops *ops,
                    const uns_store_config *cfg)
{
	uns_store_config *c = &st->cfg;

	st->ops = ops;
	*c = *cfg;
	c->max_live = c->max_live ? c->max_live : UNS_STORE_MAX_LIVE;
	c->max_subs = c->max_subs ? c->max_subs : UNS_STORE_MAX_SUBS;
	c->sub_lifetime_ms =
	    c->sub_lifetime_ms ? c->sub_lifetime_ms : 30 * UNS_STORE_DAY_MS;
	c->default_ttl_ms =
	    c->default_ttl_ms ? c->default_ttl_ms : 7 * UNS_STORE_DAY_MS;
	c->tombstone_ttl_ms =
	    c->tombstone_ttl_ms ? c->tombstone_ttl_ms : 30 * UNS_STORE_DAY_MS;
	c->reclaim_interval_ms =
	    c->reclaim_interval_ms ? c->reclaim_interval_ms : 10000;
	pthread_mutex_init(&st->hook_mu, NULL);
	st->feed_hook = NULL;
	st->tap_hook = NULL;
}

void
uns_store_base_fini(uns_store *st)
{
	pthread_mutex_destroy(&st->hook_mu);
}

int64_t
uns_store_now(const uns_store *st)
{
	struct timespec ts;

	if (st->cfg.clock != NULL) {
		return st->cfg.clock(st->cfg.clock_arg);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
uns_store_moved(uns_store *st, const char *user, const char *host,
                uint64_t head, size_t taps)
{
	uns_store_feed_fn fn;
	uns_store_tap_fn tfn;
	void *arg, *targ;

	pthread_mutex_lock(&st->hook_mu);
	fn = st->feed_hook;
	arg = st->feed_arg;
	tfn = st->tap_hook;
	targ = st->tap_arg;
	pthread_mutex_unlock(&st->hook_mu);
	if (fn != NULL) {
		fn(arg, user, host, head);
	}
	if (tfn != NULL) {
		tfn(targ, user, host, head, taps);
	}
}
