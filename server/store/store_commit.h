/*
 * store_commit.h — the group committer: one thread that turns the writes of
 * many callers into one durable (synced) write.
 *
 * A caller hands in an opaque payload (the backend's batch of operations)
 * and either blocks until the committer has flushed a group that contains
 * it, or (submit_async) is called back on the committer thread then. The
 * committer takes everything queued while the previous flush ran (up to
 * max_batch, optionally lingering max_wait_us for more) and calls the
 * backend's flush function once for the whole group; every caller in the
 * group gets that call's result. The committer knows no storage engine.
 */
#ifndef UNS_SERVER_STORE_COMMIT_H
#define UNS_SERVER_STORE_COMMIT_H

#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"

typedef struct uns_store_commit uns_store_commit;

/*
 * Writes payloads[0..n-1] as ONE atomic, synced write. Runs on the
 * committer thread only, so it may keep per-committer scratch state in arg.
 */
typedef uns_err (*uns_store_commit_flush_fn)(void *arg, void *const *payloads,
                                             size_t n);

typedef struct uns_store_commit_config {
	unsigned max_batch;   /* payloads per flush; 0 = 1024 */
	unsigned max_wait_us; /* linger after the first payload; 0 = none */
	/* Nonzero: asynchronous requests' done callbacks run on a thread of
	 * their own, so the next flush need not wait for them. */
	int answer_thread;
	uns_store_commit_flush_fn flush;
	void *flush_arg;
} uns_store_commit_config;

/* Starts the committer thread. Errors: UNS_EINVAL, UNS_ENOMEM, UNS_EIO. */
uns_err uns_store_commit_start(uns_store_commit **cp,
                               const uns_store_commit_config *cfg);

/*
 * Queues payload and waits until it is durable. Returns the flush result,
 * or UNS_UNAVAILABLE after uns_store_commit_stop() began. The caller keeps
 * ownership of payload; the committer only reads it during the flush.
 */
uns_err uns_store_commit_submit(uns_store_commit *c, void *payload);

/*
 * A write whose caller does not wait: the committer calls done(req, rc)
 * once, on its own thread (or its answer thread), right after the flush
 * that contains payload
 * (or at once, on the submitting thread, with UNS_UNAVAILABLE when the
 * committer is stopping). The caller owns req and payload until done runs;
 * done may free both. done must not block: every caller after it in the
 * group waits for it.
 */
typedef struct uns_store_commit_req uns_store_commit_req;
typedef void (*uns_store_commit_done_fn)(uns_store_commit_req *req, uns_err rc);
struct uns_store_commit_req {
	void *payload;
	uns_store_commit_done_fn done;
	/* private to the committer */
	uns_store_commit_req *next;
	uns_err rc;
	void *waiter; /* a blocked submitter's semaphore; NULL when async */
};

void uns_store_commit_submit_async(uns_store_commit *c,
                                   uns_store_commit_req *req);

/* Flushes what is queued, stops and frees the committer. NULL is a no-op. */
void uns_store_commit_stop(uns_store_commit *c);

/* Since start: flushes done, payloads in them, and the committer thread's
 * time in flushes and in the asynchronous requests' done callbacks (µs;
 * their sum against wall time tells whether the committer is the
 * bottleneck). */
typedef struct uns_store_commit_counts {
	uint64_t batches, writes;
	uint64_t flush_us, done_us;
} uns_store_commit_counts;
void uns_store_commit_stats(uns_store_commit *c, uns_store_commit_counts *out);

#endif /* UNS_SERVER_STORE_COMMIT_H */
