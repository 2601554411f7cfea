/*
 * store_base.c — the head every backend's handle starts with
 * (store_backend.h): the shared defaults, the clock, the observers and the
 * background thread; and the argument checks every backend makes the
 * same way.
 *
 * The background thread is one per store, whatever the backend: it runs
 * work handed to it (RocksDB's posts that wait for a reclaim) and the
 * backend's timed rounds (reclaim everywhere; on PostgreSQL also the
 * node's heartbeat and the jobs that run once per cluster). Each backend
 * had its own copy of this loop before; the rounds' contents stay in the
 * backends (the jobs_round hook), the thread and its stop are here.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "store_backend.h"
#include "store_util.h"

void
uns_store_base_init(uns_store *st, const uns_store_ops *ops,
                    const uns_store_config *cfg)
{
	uns_store_config *c = &st->cfg;
	pthread_condattr_t ca;

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
	pthread_mutex_init(&st->observers_mu, NULL);
	st->n_observers = 0;
	st->node_id = NULL;
	memset(&st->jobs, 0, sizeof(st->jobs));
	pthread_mutex_init(&st->jobs.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->jobs.cv, &ca);
	pthread_condattr_destroy(&ca);
}

void
uns_store_base_fini(uns_store *st)
{
	pthread_mutex_destroy(&st->observers_mu);
	pthread_mutex_destroy(&st->jobs.mu);
	pthread_cond_destroy(&st->jobs.cv);
}

/* Takes the queued work (under jobs.mu). */
static uns_store_job *
jobs_take(struct uns_store_jobs *j)
{
	uns_store_job *list = j->head;

	j->head = j->tail = NULL;
	return list;
}

static void
jobs_run(uns_store_job *list, bool closing)
{
	for (uns_store_job *job = list, *next; job != NULL; job = next) {
		next = job->next;
		job->run(job, closing);
	}
}

static void *
jobs_main(void *arg)
{
	uns_store *st = arg;
	struct uns_store_jobs *j = &st->jobs;
	int64_t wait = j->first_ms;
	struct timespec until;
	uns_store_job *list;

	uns_deadline_after_us(&until, wait > 0 ? (uint64_t)wait * 1000u : 0);
	pthread_mutex_lock(&j->mu);
	while (!j->stop) {
		int wr = 0;
		if ((list = jobs_take(j)) != NULL) {
			pthread_mutex_unlock(&j->mu);
			jobs_run(list, false);
			pthread_mutex_lock(&j->mu);
			continue;
		}
		if (wait < 0) {
			pthread_cond_wait(&j->cv, &j->mu);
		} else {
			wr = pthread_cond_timedwait(&j->cv, &j->mu, &until);
		}
		if (wr == ETIMEDOUT && !j->stop) {
			pthread_mutex_unlock(&j->mu);
			wait = st->ops->jobs_round(st);
			uns_deadline_after_us(
			    &until, wait > 0 ? (uint64_t)wait * 1000u : 0);
			pthread_mutex_lock(&j->mu);
		}
	}
	list = jobs_take(j);
	pthread_mutex_unlock(&j->mu);
	jobs_run(list, true);
	return NULL;
}

uns_err
uns_store_jobs_start(uns_store *st, int64_t first_ms)
{
	st->jobs.first_ms = st->ops->jobs_round != NULL ? first_ms : -1;
	if (pthread_create(&st->jobs.thread, NULL, jobs_main, st) != 0) {
		return uns_store_seterr(UNS_EIO,
		                        "cannot start the store's thread");
	}
	st->jobs.running = true;
	return UNS_OK;
}

void
uns_store_jobs_stop(uns_store *st)
{
	if (!st->jobs.running) {
		return;
	}
	pthread_mutex_lock(&st->jobs.mu);
	st->jobs.stop = true;
	pthread_cond_signal(&st->jobs.cv);
	pthread_mutex_unlock(&st->jobs.mu);
	pthread_join(st->jobs.thread, NULL);
	st->jobs.running = false;
}

bool
uns_store_jobs_add(uns_store *st, uns_store_job *job)
{
	struct uns_store_jobs *j = &st->jobs;
	bool queued = false;

	job->next = NULL;
	pthread_mutex_lock(&j->mu);
	if (!j->stop && j->running) {
		if (j->tail != NULL) {
			j->tail->next = job;
		} else {
			j->head = job;
		}
		j->tail = job;
		queued = true;
		pthread_cond_signal(&j->cv);
	}
	pthread_mutex_unlock(&j->mu);
	return queued;
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
	struct uns_store_observer obs[UNS_STORE_OBSERVERS_MAX];
	size_t n;

	/* A copy, called without the lock: an observer may call the store
	 * (and so write and come back here) */
	pthread_mutex_lock(&st->observers_mu);
	n = st->n_observers;
	memcpy(obs, st->observers, n * sizeof(obs[0]));
	pthread_mutex_unlock(&st->observers_mu);
	for (size_t i = 0; i < n; i++) {
		obs[i].fn(obs[i].arg, user, host, head, taps);
	}
}

uns_err
uns_store_post_check(const uns_store *st, const Uns__V1__Notification *in,
                     int64_t now, int64_t *expiration)
{
	if (in == NULL || !uns_store_id_ok(in->app_notification_id) ||
	    in->group_name == NULL ||
	    strlen(in->group_name) > UNS_STORE_ID_MAX) {
		return uns_store_seterr(UNS_EINVAL, "bad app id or group name");
	}
	*expiration = in->expiration_time_ms != 0
	                  ? in->expiration_time_ms
	                  : now + st->cfg.default_ttl_ms;
	if (*expiration <= now) {
		return uns_store_seterr(UNS_EINVAL,
		                        "expiration is not in the future");
	}
	return UNS_OK;
}

bool
uns_store_change_ok(const uns_store_change *c)
{
	return c != NULL && (unsigned)c->read_state <= 2 &&
	       (unsigned)c->user_action_state <= 4 &&
	       (c->read_state != 0 || c->user_action_state != 0 || c->delete_);
}

bool
uns_store_hosts_ok(const char *const *hosts, size_t n_hosts)
{
	for (size_t i = 0; i < n_hosts; i++) {
		if (!uns_store_id_ok(hosts[i])) {
			return false;
		}
	}
	return n_hosts > 0;
}

bool
uns_store_settles_ok(const uns_store_settle *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].tap == NULL || v[i].tap->user == NULL ||
		    v[i].tap->host == NULL ||
		    (unsigned)v[i].result > UNS_STORE_TAP_DEAD) {
			return false;
		}
		for (size_t j = 0; j < i; j++) {
			if (strncmp(v[i].tap->ref, v[j].tap->ref,
			            UNS_STORE_RID_LEN) == 0) {
				return false;
			}
		}
	}
	return true;
}

bool
uns_store_platform_listed(const Uns__V1__Platform *list, size_t n,
                          Uns__V1__Platform p)
{
	for (size_t i = 0; i < n; i++) {
		if (list[i] == p) {
			return true;
		}
	}
	return n == 0; /* empty = every platform */
}

int64_t
uns_store_fallback_ms(const Uns__V1__Notification *n)
{
	const Uns__V1__EndpointFallback *ef =
	    n->fallback_policy != NULL ? n->fallback_policy->endpoint_fallback
	                               : NULL;

	if (ef == NULL || n->priority != UNS__V1__PRIORITY__PRIORITY_HIGH ||
	    n->payload == NULL || n->payload->raw_content == NULL ||
	    n->payload->raw_content[0] == '\0' ||
	    ef->fallback_delay_in_seconds == 0 || ef->visual_content == NULL ||
	    !uns_store_platform_listed(ef->platform_types, ef->n_platform_types,
	                               UNS__V1__PLATFORM__PLATFORM_IOS)) {
		return 0;
	}
	return 1000LL * ef->fallback_delay_in_seconds;
}
