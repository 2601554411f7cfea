/*
 * workers.h — a fixed pool of threads for blocking RPC handlers.
 *
 * NNG's own task threads are few (2 × ncpu, at most 16, fixed at build
 * time); a handler that waits for an fsync must not hold one. The queue is
 * bounded by its creator: the RPC server never has more jobs than contexts.
 */
#ifndef UNS_WORKERS_H
#define UNS_WORKERS_H

#include <stddef.h>

#include "uns/uns.h"

typedef struct uns_workers uns_workers;
typedef void (*uns_job_fn)(void *arg);

/* Starts n threads with room for cap queued jobs. */
uns_err uns_workers_open(uns_workers **out, int n, size_t cap);
/* Queues a job; UNS_RESOURCE_EXHAUSTED if the queue is full. */
uns_err uns_workers_submit(uns_workers *w, uns_job_fn fn, void *arg);
/* Runs the jobs already queued, then stops and joins the threads. */
void uns_workers_close(uns_workers *w);

#endif /* UNS_WORKERS_H */
