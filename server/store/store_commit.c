/*
 * store_commit.c — the group committer (see store_commit.h).
 *
 * Callers link a request into a FIFO under one mutex. Blocking callers
 * sleep on their own semaphore; asynchronous ones (submit_async) have left.
 * The committer thread detaches up to max_batch requests, calls the flush
 * function once (one synced write), wakes the first blocked caller of the
 * group — each woken caller wakes the next (a wake chain) — and then calls
 * every asynchronous request's done itself. While one flush syncs, the next
 * group piles up, so durable throughput grows with the number of
 * concurrent writers.
 *
 * Why done runs on the committer: an RPC whose write is asynchronous is
 * answered from done, so a durable Post costs no thread hop after the sync
 * (the hop back to a worker that waited was two context switches per
 * write, and those, not the fsync, bounded Post on two vCPUs).
 *
 * Chosen: semaphore + wake chain over condvars. The committer is the serial
 * resource; this way it spends one wake-up per group instead of one per
 * caller, and no woken caller has to reacquire the queue mutex (no convoy).
 * On the 2-vCPU VM the throughput difference was within noise. Rejected: a
 * leader/follower scheme without a thread (RocksDB's own write group): a
 * dedicated thread keeps the flush single-threaded, so it can reuse scratch
 * state, and makes shutdown simple. Rejected: per-caller sync=1 writes
 * (~3x one writer at best, reference/perf-floors.md). Measured and rejected:
 * two committers with pipelined writes (no gain on 2 vCPUs).
 */
#include "store_commit.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"

#define DEFAULT_MAX_BATCH 1024

typedef uns_store_commit_req req_t;

struct uns_store_commit {
	uns_store_commit_config cfg;
	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* signalled when the queue gains work */
	req_t *head, *tail;     /* queue order */
	size_t queued;
	bool stopping;
	pthread_t thread;
	void **payloads; /* scratch for one group, max_batch entries */
	uns_store_commit_counts counts; /* under mu */
	/* The answer thread (cfg.answer_thread): finished asynchronous
	 * requests in flush order, their rc set. */
	pthread_mutex_t answer_mu;
	pthread_cond_t answer_cv;
	req_t *answers, **answers_end;
	bool answer_stop, answer_running;
	pthread_t answerer;
};

/* With mu held: waits for work; lingers max_wait_us for a fuller group. */
static bool
wait_for_group(uns_store_commit *c)
{
	struct timespec until;

	while (c->queued == 0 && !c->stopping) {
		pthread_cond_wait(&c->work_cv, &c->mu);
	}
	if (c->queued == 0) {
		return false;
	}
	if (c->cfg.max_wait_us == 0 || c->stopping) {
		return true;
	}
	uns_deadline_after_us(&until, c->cfg.max_wait_us);
	while (c->queued < c->cfg.max_batch && !c->stopping) {
		if (pthread_cond_timedwait(&c->work_cv, &c->mu, &until) ==
		    ETIMEDOUT) {
			break;
		}
	}
	return true;
}

/* With mu held: detaches up to max_batch requests (a NULL-terminated
 * list) and collects their payloads. */
static req_t *
take_group(uns_store_commit *c, size_t *n)
{
	req_t *first = c->head, *last = NULL;

	*n = 0;
	while (c->head != NULL && *n < c->cfg.max_batch) {
		last = c->head;
		c->payloads[(*n)++] = last->payload;
		c->head = last->next;
	}
	last->next = NULL;
	if (c->head == NULL) {
		c->tail = NULL;
	}
	c->queued -= *n;
	return first;
}

/* Gives every request of the group its result: links the blocked callers
 * into a wake chain and wakes its first (uns_store_commit_submit wakes the
 * rest), then calls the asynchronous requests' done, which may free them. */
static void
finish_group(uns_store_commit *c, req_t *first, size_t n, uns_err rc,
             uint64_t flush_us)
{
	req_t *chain = NULL, **chain_end = &chain, *async = NULL,
	      **async_end = &async, *next;
	uint64_t t0 = uns_mono_us();

	/* Counted before anyone learns the result, so a caller that returns
	 * sees its write in the stats. */
	pthread_mutex_lock(&c->mu);
	c->counts.batches++;
	c->counts.writes += n;
	c->counts.flush_us += flush_us;
	pthread_mutex_unlock(&c->mu);
	for (req_t *r = first; r != NULL; r = next) {
		next = r->next;
		r->rc = rc;
		if (r->waiter != NULL) {
			*chain_end = r;
			chain_end = &r->next;
		} else {
			*async_end = r;
			async_end = &r->next;
		}
	}
	*chain_end = NULL;
	*async_end = NULL;
	if (chain != NULL) {
		sem_post(chain->waiter);
	}
	if (c->cfg.answer_thread && async != NULL) {
		pthread_mutex_lock(&c->answer_mu);
		*c->answers_end = async;
		c->answers_end = async_end;
		pthread_cond_signal(&c->answer_cv);
		pthread_mutex_unlock(&c->answer_mu);
		async = NULL;
	}
	for (req_t *r = async; r != NULL; r = next) {
		next = r->next;
		r->done(r, rc);
	}
	pthread_mutex_lock(&c->mu);
	c->counts.done_us += uns_mono_us() - t0;
	pthread_mutex_unlock(&c->mu);
}

static void *
committer_main(void *arg)
{
	uns_store_commit *c = arg;

	pthread_setname_np(pthread_self(), "uns-commit");
	pthread_mutex_lock(&c->mu);
	while (wait_for_group(c)) {
		size_t n;
		req_t *first = take_group(c, &n);
		pthread_mutex_unlock(&c->mu);
		uint64_t t0 = uns_mono_us();
		uns_err rc = c->cfg.flush(c->cfg.flush_arg, c->payloads, n);
		finish_group(c, first, n, rc, uns_mono_us() - t0);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Runs the done callbacks finish_group queued, in order, until stopped
 * with nothing left. */
static void *
answerer_main(void *arg)
{
	uns_store_commit *c = arg;

	pthread_setname_np(pthread_self(), "uns-answer");
	pthread_mutex_lock(&c->answer_mu);
	for (;;) {
		while (c->answers == NULL && !c->answer_stop) {
			pthread_cond_wait(&c->answer_cv, &c->answer_mu);
		}
		req_t *list = c->answers, *next;
		if (list == NULL) {
			break;
		}
		c->answers = NULL;
		c->answers_end = &c->answers;
		pthread_mutex_unlock(&c->answer_mu);
		for (req_t *r = list; r != NULL; r = next) {
			next = r->next;
			r->done(r, r->rc);
		}
		pthread_mutex_lock(&c->answer_mu);
	}
	pthread_mutex_unlock(&c->answer_mu);
	return NULL;
}

static void
commit_free(uns_store_commit *c)
{
	pthread_cond_destroy(&c->answer_cv);
	pthread_mutex_destroy(&c->answer_mu);
	pthread_cond_destroy(&c->work_cv);
	pthread_mutex_destroy(&c->mu);
	free(c->payloads);
	free(c);
}

/* Lets the answer thread finish what is queued, then joins it. */
static void
answerer_stop(uns_store_commit *c)
{
	if (!c->answer_running) {
		return;
	}
	pthread_mutex_lock(&c->answer_mu);
	c->answer_stop = true;
	pthread_cond_signal(&c->answer_cv);
	pthread_mutex_unlock(&c->answer_mu);
	pthread_join(c->answerer, NULL);
	c->answer_running = false;
}

uns_err
uns_store_commit_start(uns_store_commit **cp,
                       const uns_store_commit_config *cfg)
{
	uns_store_commit *c;
	pthread_condattr_t ca;

	if (cp == NULL || cfg == NULL || cfg->flush == NULL) {
		return UNS_EINVAL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		return UNS_ENOMEM;
	}
	c->cfg = *cfg;
	if (c->cfg.max_batch == 0) {
		c->cfg.max_batch = DEFAULT_MAX_BATCH;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->work_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&c->answer_mu, NULL);
	pthread_cond_init(&c->answer_cv, NULL);
	c->answers_end = &c->answers;
	c->payloads = calloc(c->cfg.max_batch, sizeof(*c->payloads));
	if (c->payloads == NULL) {
		commit_free(c);
		return UNS_ENOMEM;
	}
	if (c->cfg.answer_thread) {
		if (pthread_create(&c->answerer, NULL, answerer_main, c) != 0) {
			commit_free(c);
			return UNS_EIO;
		}
		c->answer_running = true;
	}
	if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
		answerer_stop(c);
		commit_free(c);
		return UNS_EIO;
	}
	*cp = c;
	return UNS_OK;
}

/* Queues r; false when the committer is stopping. */
static bool
enqueue(uns_store_commit *c, req_t *r)
{
	bool queued = false;

	r->next = NULL;
	pthread_mutex_lock(&c->mu);
	if (!c->stopping) {
		if (c->tail != NULL) {
			c->tail->next = r;
		} else {
			c->head = r;
		}
		c->tail = r;
		c->queued++;
		queued = true;
		pthread_cond_signal(&c->work_cv);
	}
	pthread_mutex_unlock(&c->mu);
	return queued;
}

uns_err
uns_store_commit_submit(uns_store_commit *c, void *payload)
{
	sem_t done;
	req_t r = {.payload = payload, .rc = UNS_UNAVAILABLE, .waiter = &done};

	sem_init(&done, 0, 0);
	if (enqueue(c, &r)) {
		while (sem_wait(&done) != 0 && errno == EINTR) {
		}
		/* Until we pass it on, no later request of the chain can wake,
		 * so r.next is still valid here. */
		if (r.next != NULL) {
			sem_post(r.next->waiter);
		}
	}
	sem_destroy(&done);
	return r.rc;
}

void
uns_store_commit_submit_async(uns_store_commit *c, uns_store_commit_req *r)
{
	r->waiter = NULL;
	r->rc = UNS_UNAVAILABLE;
	if (!enqueue(c, r)) {
		r->done(r, UNS_UNAVAILABLE);
	}
}

void
uns_store_commit_stop(uns_store_commit *c)
{
	if (c == NULL) {
		return;
	}
	pthread_mutex_lock(&c->mu);
	c->stopping = true;
	pthread_cond_signal(&c->work_cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	answerer_stop(c);
	commit_free(c);
}

void
uns_store_commit_stats(uns_store_commit *c, uns_store_commit_counts *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->counts;
	pthread_mutex_unlock(&c->mu);
}
