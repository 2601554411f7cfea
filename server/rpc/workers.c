/*
 * workers.c — see workers.h. A ring buffer under one mutex; at the rates an
 * fsync-bound service sees, a lock-free queue would buy nothing measurable.
 */
#include <pthread.h>
#include <stdlib.h>

#include "workers.h"

/* Handlers keep their data in the call's arena, not on the stack. */
#define WORKER_STACK (512 * 1024)

struct job {
	uns_job_fn fn;
	void *arg;
};

struct uns_workers {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *ring;
	size_t cap, head, count;
	int stopping;
	int n_threads;
	pthread_t *threads;
};

static void *
worker_main(void *arg)
{
	uns_workers *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->count == 0 && !w->stopping) {
			pthread_cond_wait(&w->cv, &w->mu);
		}
		if (w->count == 0) {
			break;
		}
		struct job j = w->ring[w->head];
		w->head = (w->head + 1) % w->cap;
		w->count--;
		pthread_mutex_unlock(&w->mu);
		j.fn(j.arg);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

uns_err
uns_workers_open(uns_workers **out, int n, size_t cap)
{
	uns_workers *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return UNS_ENOMEM;
	}
	w->ring = calloc(cap, sizeof(*w->ring));
	w->threads = calloc((size_t)n, sizeof(*w->threads));
	if (w->ring == NULL || w->threads == NULL) {
		free(w->ring);
		free(w->threads);
		free(w);
		return UNS_ENOMEM;
	}
	w->cap = cap;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKER_STACK);
	for (int i = 0; i < n; i++) {
		if (pthread_create(&w->threads[i], &attr, worker_main, w) !=
		    0) {
			break;
		}
		w->n_threads++;
	}
	pthread_attr_destroy(&attr);
	if (w->n_threads == 0) {
		uns_workers_close(w);
		return UNS_INTERNAL;
	}
	*out = w;
	return UNS_OK;
}

uns_err
uns_workers_submit(uns_workers *w, uns_job_fn fn, void *arg)
{
	pthread_mutex_lock(&w->mu);
	if (w->count == w->cap || w->stopping) {
		pthread_mutex_unlock(&w->mu);
		return UNS_RESOURCE_EXHAUSTED;
	}
	w->ring[(w->head + w->count) % w->cap] = (struct job){fn, arg};
	w->count++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return UNS_OK;
}

void
uns_workers_close(uns_workers *w)
{
	if (w == NULL) {
		return;
	}
	pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->n_threads; i++) {
		pthread_join(w->threads[i], NULL);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w->ring);
	free(w->threads);
	free(w);
}
