/*
 * token_guard.c — see token_guard.h. The slots are an array of `checks`
 * client ids under one mutex: at most a handful, so a scan beats a hash.
 * Waiters sleep on one condition variable (CLOCK_MONOTONIC), woken by
 * every leave; a woken waiter whose client id is still checking sleeps
 * again, so one id's requests go one at a time.
 *
 * Four buckets (ratelimit.h), each charged after a failed check: the
 * source's, the id's, the id's spill and the (id, source) pair's. The
 * pair's holds one failure and refills in the time the id's refills
 * whole: a source whose pair bucket is full has not failed against the
 * id lately, and only such a source reaches the spill of a flooded id.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ratelimit.h"
#include "token_guard.h"

#define ID_MAX   256 /* longer ids are told apart by their first 256 bytes */
#define PAIR_MAX (ID_MAX + 1 + 64)

struct uns_token_guard {
	uns_token_guard_config cfg;
	uns_ratelimit *failures; /* per client id */
	uns_ratelimit *spill;    /* per flooded client id, clean sources */
	uns_ratelimit *pairs;    /* per (client id, source) */
	uns_ratelimit *sources;  /* per source */
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
	                              .source_fail_burst = 10,
	                              .source_fail_per_minute = 6,
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
	/* one failure, back once the id's bucket would be full again */
	uns_ratelimit_config pc = rc;
	pc.per_s = 60 * cfg->fail_burst;
	pc.burst = 1;
	uns_ratelimit_config sc = rc;
	sc.rate = cfg->source_fail_per_minute ? cfg->source_fail_per_minute
	                                      : cfg->source_fail_burst;
	sc.burst = cfg->source_fail_burst;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&g->mu, NULL);
	if ((cfg->fail_burst > 0 &&
	     (uns_ratelimit_open(&g->failures, &rc) != UNS_OK ||
	      uns_ratelimit_open(&g->spill, &rc) != UNS_OK ||
	      uns_ratelimit_open(&g->pairs, &pc) != UNS_OK)) ||
	    (cfg->source_fail_burst > 0 &&
	     uns_ratelimit_open(&g->sources, &sc) != UNS_OK) ||
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
	uns_ratelimit_close(g->spill);
	uns_ratelimit_close(g->pairs);
	uns_ratelimit_close(g->sources);
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

/* "client_id\x1fsource", cut at PAIR_MAX. */
static void
pair_key(char *out, const char *id, const char *source)
{
	snprintf(out, PAIR_MAX + 1, "%.*s\x1f%.64s", ID_MAX, id, source);
}

/* Why client_id from source may not be checked now (with *retry_ms), or
 * NULL: its source and its id are below their limits, or the id is
 * flooded and this source has not failed against it lately while the
 * spill has room. */
static const char *
refusal(uns_token_guard *g, const char *id, const char *source,
        uint32_t *retry_ms)
{
	char key[PAIR_MAX + 1];
	uint32_t ignored;
	if (source[0] != '\0' &&
	    !uns_ratelimit_peek(g->sources, source, retry_ms)) {
		return "too many failed secret checks from this address";
	}
	if (uns_ratelimit_peek(g->failures, id, retry_ms)) {
		return NULL;
	}
	pair_key(key, id, source);
	if (source[0] != '\0' && uns_ratelimit_peek(g->pairs, key, &ignored) &&
	    uns_ratelimit_peek(g->spill, id, &ignored)) {
		return NULL;
	}
	return "too many failed or concurrent secret checks for this client";
}

uns_err
uns_token_guard_enter(uns_token_guard *g, const char *client_id,
                      const char *source, uint32_t *retry_after_s,
                      const char **why)
{
	uint32_t retry_ms = 0;
	const char *no;
	if (g == NULL) {
		return UNS_OK;
	}
	source = source ? source : "";
	if ((no = refusal(g, client_id, source, &retry_ms)) != NULL) {
		*retry_after_s = (retry_ms + 999) / 1000;
		*why = no;
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
			*why = "too many failed or concurrent secret checks "
			       "for this client";
			return UNS_RESOURCE_EXHAUSTED;
		}
	}
	char *free_slot = NULL;
	for (uint32_t i = 0; free_slot == NULL && i < g->cfg.checks; i++) {
		free_slot = g->checking[i][0] == '\0' ? g->checking[i] : NULL;
	}
	/* Asked again: the checks this one waited for may have failed. */
	if ((no = refusal(g, client_id, source, &retry_ms)) != NULL) {
		pthread_mutex_unlock(&g->mu);
		*retry_after_s = (retry_ms + 999) / 1000;
		*why = no;
		return UNS_RESOURCE_EXHAUSTED;
	}
	strncpy(free_slot, client_id, ID_MAX);
	free_slot[ID_MAX] = '\0';
	g->running++;
	pthread_mutex_unlock(&g->mu);
	return UNS_OK;
}

void
uns_token_guard_leave(uns_token_guard *g, const char *client_id,
                      const char *source, int ok)
{
	char key[PAIR_MAX + 1];
	if (g == NULL) {
		return;
	}
	source = source ? source : "";
	pthread_mutex_lock(&g->mu);
	if (!ok) { /* charged before the slot frees: the next one sees it */
		if (source[0] != '\0') {
			pair_key(key, client_id, source);
			uns_ratelimit_take(g->sources, source, NULL);
			uns_ratelimit_take(g->pairs, key, NULL);
		}
		if (!uns_ratelimit_take(g->failures, client_id, NULL)) {
			uns_ratelimit_take(g->spill, client_id, NULL);
		}
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
