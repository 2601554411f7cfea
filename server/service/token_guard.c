/*
 * token_guard.c — see token_guard.h. The slots are an array of `checks`
 * client ids under one mutex: at most a handful, so a scan beats a hash.
 * Waiters sleep on one condition variable (CLOCK_MONOTONIC), woken by
 * every leave; a woken waiter whose client id is still checking sleeps
 * again, so one id's requests go one at a time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ratelimit.h"
#include "token_guard.h"

#define ID_MAX 256 /* longer ids are told apart by their first 256 bytes */

struct uns_token_guard {
	uns_token_guard_config cfg;
	uns_ratelimit *failures;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint32_t running;
	char (*checking)[ID_MAX + 1]; /* cfg.checks slots; "" = free */
};

void
uns_token_guard_defaults(uns_token_guard_config *c)
{
	*c = (uns_token_guard_config){.fail_burst = 10,
	                              .fail_per_minute = 6,
	                              .checks = 2,
	                              .wait_ms = 2000};
}

uns_err
uns_token_guard_open(uns_token_guard **out, const uns_token_guard_config *cfg)
{
	uns_token_guard *g = calloc(1, sizeof(*g));
	if (g == NULL) {
		return UNS_ENOMEM;
	}
	g->cfg = *cfg;
	uns_ratelimit_config rc = {.rate = cfg->fail_per_minute
	                                       ? cfg->fail_per_minute
	                                       : cfg->fail_burst,
	                           .per_s = 60,
	                           .burst = cfg->fail_burst,
	                           .now_us = cfg->now_us,
	                           .now_arg = cfg->now_arg};
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&g->mu, NULL);
	if ((cfg->fail_burst > 0 &&
	     uns_ratelimit_open(&g->failures, &rc) != UNS_OK) ||
	    (cfg->checks > 0 &&
	     (g->checking = calloc(cfg->checks, sizeof(*g->checking))) ==
	         NULL)) {
		uns_token_guard_close(g);
		return UNS_ENOMEM;
	}
	*out = g;
	return UNS_OK;
}

void
uns_token_guard_close(uns_token_guard *g)
{
	if (g == NULL) {
		return;
	}
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	uns_ratelimit_close(g->failures);
	free(g->checking);
	free(g);
}

/* The slot checking id, or NULL. */
static char *
slot_of(uns_token_guard *g, const char *id)
{
	for (uint32_t i = 0; i < g->cfg.checks; i++) {
		if (g->checking[i][0] != '\0' &&
		    strncmp(g->checking[i], id, ID_MAX) == 0) {
			return g->checking[i];
		}
	}
	return NULL;
}

static int
wait_until(uns_token_guard *g, const struct timespec *deadline)
{
	return pthread_cond_timedwait(&g->cv, &g->mu, deadline) != ETIMEDOUT;
}

uns_err
uns_token_guard_enter(uns_token_guard *g, const char *client_id,
                      uint32_t *retry_after_s)
{
	uint32_t retry_ms = 0;
	if (g == NULL) {
		return UNS_OK;
	}
	if (!uns_ratelimit_peek(g->failures, client_id, &retry_ms)) {
		*retry_after_s = (retry_ms + 999) / 1000;
		return UNS_RESOURCE_EXHAUSTED;
	}
	if (g->cfg.checks == 0 || client_id[0] == '\0') {
		return UNS_OK;
	}
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += g->cfg.wait_ms / 1000;
	deadline.tv_nsec += (long)(g->cfg.wait_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&g->mu);
	while (g->running >= g->cfg.checks || slot_of(g, client_id) != NULL) {
		if (!wait_until(g, &deadline)) {
			pthread_mutex_unlock(&g->mu);
			*retry_after_s = 1;
			return UNS_RESOURCE_EXHAUSTED;
		}
	}
	char *free_slot = NULL;
	for (uint32_t i = 0; free_slot == NULL && i < g->cfg.checks; i++) {
		free_slot = g->checking[i][0] == '\0' ? g->checking[i] : NULL;
	}
	/* Asked again: the checks this one waited for may have failed. */
	if (!uns_ratelimit_peek(g->failures, client_id, &retry_ms)) {
		pthread_mutex_unlock(&g->mu);
		*retry_after_s = (retry_ms + 999) / 1000;
		return UNS_RESOURCE_EXHAUSTED;
	}
	strncpy(free_slot, client_id, ID_MAX);
	free_slot[ID_MAX] = '\0';
	g->running++;
	pthread_mutex_unlock(&g->mu);
	return UNS_OK;
}

void
uns_token_guard_leave(uns_token_guard *g, const char *client_id, int ok)
{
	if (g == NULL) {
		return;
	}
	pthread_mutex_lock(&g->mu);
	if (!ok) { /* charged before the slot frees: the next one sees it */
		uns_ratelimit_take(g->failures, client_id, NULL);
	}
	char *slot = g->cfg.checks > 0 && client_id[0] != '\0'
	                 ? slot_of(g, client_id)
	                 : NULL;
	if (slot != NULL) {
		slot[0] = '\0';
		g->running--;
		pthread_cond_broadcast(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
}
