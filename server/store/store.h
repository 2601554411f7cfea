/*
 * store.h — the storage interface of the UNS server (SPEC §6).
 *
 * Every byte the server keeps goes through these functions. uns_store is an
 * opaque handle over a backend's table of operations (store_backend.h);
 * store.c dispatches each call to the backend named in the configuration,
 * so several backends live in one binary. A backend implements each write
 * once, in its asynchronous form; the blocking forms are that write plus a
 * wait, in store.c. Backends live beneath this folder (rocksdb/ is the
 * embedded default) and each passes tests/store_conformance.h.
 *
 * Conventions:
 *  1. Every function returns a uns_err. Out-parameters are written only on
 *     UNS_OK, and a failed call changes nothing.
 *  2. Errors: UNS_EINVAL for a bad argument (NULL, empty or over-long ids,
 *     malformed cursor or page token: the RPC layer answers INVALID_ARGUMENT);
 *     UNS_NOT_FOUND for an id that is missing, expired, deleted or owned by
 *     another (user, host), identically; UNS_FAILED_PRECONDITION for a failed
 *     if_version; UNS_RESOURCE_EXHAUSTED for the live-notification limit;
 *     UNS_UNAVAILABLE when the store is closing or the engine is busy;
 *     UNS_EIO, UNS_DATA_LOSS (corruption), UNS_INTERNAL, UNS_ENOMEM.
 *     uns_store_errmsg() tells the calling thread the details.
 *  3. Writes (post, update, delete, subscribe, reclaim) return only after
 *     their write-ahead-log record is synced (group commit batches many
 *     callers into one sync). Reads see only durable data.
 *  4. Returned protobuf messages are unpacked with the default allocator:
 *     free them with uns__v1__*__free_unpacked(msg, NULL). Strings returned
 *     as char * are malloc()ed: free() them. Page structs have a _free().
 *  5. Ids: user ≤ 256 bytes, host ≤ 256, device id and app notification id
 *     ≤ 256, all non-empty. Server ids and UNSIDs are minted by the store:
 *     128 random bits, base64url without padding (22 characters).
 *  6. Times are Unix milliseconds from the configured clock. A notification
 *     or subscription whose expiration time has passed is invisible to every
 *     read at once; uns_store_reclaim() removes it later.
 *  7. All functions are thread-safe, except open/close on the same handle.
 */
#ifndef UNS_SERVER_STORE_H
#define UNS_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"
#include "uns/v1/notifications.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uns_store uns_store;

/* Returns the current time in Unix milliseconds. */
typedef int64_t (*uns_store_clock_fn)(void *arg);

/*
 * An observer of the feeds: called after a write that moved the feed of
 * (user, host) is durable, with the feed's new head sequence and the
 * number of taps that write queued in the outbox (0 when no subscription
 * wanted one). It runs on the writing thread, after the store released its
 * locks; it may call the store but must not block the writer. Several
 * threads may call it at once and heads may arrive out of order: it is a
 * wake-up hint, the feed itself is the truth. The service wakes its long
 * polls from it, the delivery engine its feeder (taps > 0) and the live
 * tap stream, the cluster's hint publisher the other nodes.
 */
typedef void (*uns_store_observer_fn)(void *arg, const char *user,
                                      const char *host, uint64_t head,
                                      size_t taps);

/* Observers a store holds at once (uns_store_observe). */
#define UNS_STORE_OBSERVERS_MAX 8

/* A backend's own settings (its header says which fields it has). */
struct uns_store_rocksdb_config;
struct uns_store_postgres_config;

typedef struct uns_store_config {
	const char *backend; /* "rocksdb" or "postgres" (NULL or "" =
	                        rocksdb) */
	const char *dir;     /* rocksdb: data directory, created if missing */
	/* The backends' own settings (store_rocksdb.h, store_postgres.h);
	 * NULL = the defaults (postgres needs its url). */
	const struct uns_store_rocksdb_config *rocksdb;
	const struct uns_store_postgres_config *postgres;
	unsigned commit_max_batch;   /* writes per synced batch; 0 = 1024 */
	unsigned commit_max_wait_us; /* linger for more writes; 0 = none */
	int commit_answer_thread;    /* answer async writes off the committer */
	uns_store_clock_fn clock;    /* NULL = CLOCK_REALTIME */
	void *clock_arg;
	uint32_t max_live;        /* live notifications per (user, host);
	                             0 = 10000 */
	int64_t sub_lifetime_ms;  /* subscription lifetime; 0 = 30 days */
	int64_t default_ttl_ms;   /* when expiration is 0; 0 = 7 days */
	int64_t tombstone_ttl_ms; /* feed tombstones kept; 0 = 30 days */
	int reclaim_interval_ms;  /* background reclaim; 0 = 10 s, < 0 off */
	uint32_t max_subs;        /* live subscriptions per (user, host);
	                             0 = 100 */
	uint64_t min_free_bytes;  /* free disk kept: writes below it are
	                             UNAVAILABLE; 0 = none */
	int salvage;              /* open a damaged store: copy it aside,
	                             recover to the damage, report */
} uns_store_config;

typedef struct uns_store_stats {
	uint64_t commit_batches;  /* synced WriteBatches */
	uint64_t commit_writes;   /* caller writes inside them */
	uint64_t commit_flush_us; /* the committer's time writing them */
	uint64_t commit_done_us;  /* and answering asynchronous writes */
} uns_store_stats;

/* A change for uns_store_update_state. UNSPECIFIED leaves a field as is. */
typedef struct uns_store_change {
	Uns__V1__ReadState read_state;
	Uns__V1__UserActionState user_action_state;
	bool delete_;         /* mark deleted (a feed tombstone) */
	uint64_t if_version;  /* 0 = no compare-and-set */
	const char *by_unsid; /* the device making the change: not tapped */
} uns_store_change;

struct uns_arena;

/* The result of a feed read. Entries and cursor live in the page's arena:
 * only uns_store_feed_page_free frees them. A page a caller put together
 * itself (arena NULL) holds heap entries, each freed with its
 * free_unpacked(NULL), in a heap array, and a heap cursor. */
typedef struct uns_store_feed_page {
	Uns__V1__FeedEntry **entries;
	size_t n;
	char *next_cursor; /* never NULL */
	bool more;         /* more changes wait beyond the limit */
	struct uns_arena *arena;
} uns_store_feed_page;

/* A history query. Zero values mean "no filter" (status: active only). */
typedef struct uns_store_history_query {
	uint32_t page_size;     /* 0 = 20, at most 100 */
	const char *page_token; /* NULL or "" = first page */
	Uns__V1__NotificationStatus status;
	Uns__V1__ReadState read_state;
	Uns__V1__UserActionState user_action_state;
	const char *group_name; /* NULL or "" = any */
} uns_store_history_query;

/* Items and token live in the page's arena, as in a feed page. */
typedef struct uns_store_history_page {
	Uns__V1__Notification **items; /* newest first */
	size_t n;
	char *next_page_token; /* NULL on the last page */
	struct uns_arena *arena;
} uns_store_history_page;

typedef struct uns_store_subs {
	Uns__V1__Subscription **subs;
	size_t n;
} uns_store_subs;

/* --- lifecycle -------------------------------------------------------- */

/*
 * Opens (creating if needed) the store of the backend cfg->backend names
 * (rocksdb: in cfg->dir) and starts its committer and reclaim threads. cfg
 * and what it points to are copied. Errors: UNS_EINVAL (an unknown backend
 * too), UNS_EIO, UNS_DATA_LOSS, UNS_UNAVAILABLE (locked by another
 * process), UNS_ENOMEM.
 */
uns_err uns_store_open(uns_store **stp, const uns_store_config *cfg);

/* Waits for pending writes, stops the threads and closes. NULL is a no-op.
 * No other call on st may be running or start. */
void uns_store_close(uns_store *st);

struct uns_config;
/* Adds every backend's keys (block_cache, postgres_url, …: each kept in
 * its backend's folder) to unsd's configuration, as uns_push_add_keys
 * adds the transports'; config.h's uns_config_add says what can fail. */
uns_err uns_store_add_keys(struct uns_config *c);

/*
 * Adds fn(arg) to st's observers: every durable write that moves a feed
 * calls them all, in the order they were added. UNS_EINVAL when (fn, arg)
 * is already there, UNS_RESOURCE_EXHAUSTED when UNS_STORE_OBSERVERS_MAX
 * are.
 */
uns_err uns_store_observe(uns_store *st, uns_store_observer_fn fn, void *arg);

/* Removes (fn, arg) (absent: a no-op). A call that began before may still
 * be running: stop the writers first when arg is going away. */
void uns_store_unobserve(uns_store *st, uns_store_observer_fn fn, void *arg);

/* Group-commit counters since open. */
uns_err uns_store_stats_get(uns_store *st, uns_store_stats *out);

/* Why the calling thread's last failed store call failed; "" if unknown. */
const char *uns_store_errmsg(void);

/*
 * Whether the store can take writes now (1) or not (0: the disk is below
 * min_free_bytes, or a read found corruption), checked afresh on each call
 * so it recovers by itself. note (cap bytes) gets why not, and what open
 * had to do ("dropped a torn last record of 212 bytes …", "salvaged …"),
 * or "". Health and metrics report both.
 */
int uns_store_health(uns_store *st, char *note, size_t cap);

/* --- subscriptions ----------------------------------------------------- */

/*
 * Creates or renews the subscription of (user, host, in->device_id). Reads
 * device_id, platform, push_channel, web_push and app_display_name from in;
 * sets target_host_name = host, expiration = now + sub_lifetime_ms. A live
 * subscription of the same device keeps its UNSID and created time
 * (*created = false); an absent or expired one gets a new UNSID.
 */
uns_err uns_store_sub_put(uns_store *st, const char *user, const char *host,
                          const Uns__V1__Subscription *in,
                          Uns__V1__Subscription **out, bool *created);

/* Looks up a live subscription by UNSID; *user gets its owner (free()),
 * the owner's host is (*out)->target_host_name. */
uns_err uns_store_sub_get(uns_store *st, const char *unsid, char **user,
                          Uns__V1__Subscription **out);

/* Removes one of (user, host)'s subscriptions. */
uns_err uns_store_sub_delete(uns_store *st, const char *user, const char *host,
                             const char *unsid);

/* Lists (user, host)'s live subscriptions, ordered by device id. */
uns_err uns_store_sub_list(uns_store *st, const char *user, const char *host,
                           uns_store_subs *out);
void uns_store_subs_free(uns_store_subs *l);

/* --- notifications ---------------------------------------------------- */

/*
 * Creates or replaces (by app_notification_id) a notification of (user,
 * host). Reads app_notification_id (required), group_name, payload,
 * target_policy, priority, display_time_to_live, expiration_time_ms (0 =
 * now + default_ttl_ms; not after now: UNS_EINVAL) and fallback_policy.
 * A new notification is created "now", or 1 ms after (user, host)'s newest
 * when several arrive within a millisecond, so History lists them in
 * posting order. Replace keeps id and created time, resets read/user-action
 * state, and
 * bumps version. A deleted notification is never revived: its app id posts
 * a new one. UNS_RESOURCE_EXHAUSTED when (user, host) has max_live live
 * notifications (after reclaiming expired ones).
 */
uns_err uns_store_post(uns_store *st, const char *user, const char *host,
                       const Uns__V1__Notification *in,
                       Uns__V1__Notification **out, bool *created);

/*
 * uns_store_post and uns_store_update_state without waiting: done(arg, rc,
 * n, created) is called exactly once — usually on the store's committer
 * thread right after the synced write, possibly on the calling thread
 * before these return (an early failure, a write that changes nothing, a
 * closing store), or on another writer's thread. On failure it runs on the
 * thread that found it, so uns_store_errmsg() there has the details. On
 * success done owns n (created is false for updates). What in, id and chg
 * point to must stay valid until done runs. done must not block and must
 * not write to the store: it runs while the owner's writes wait.
 */
typedef void (*uns_store_write_done_fn)(void *arg, uns_err rc,
                                        Uns__V1__Notification *n, bool created);
void uns_store_post_async(uns_store *st, const char *user, const char *host,
                          const Uns__V1__Notification *in,
                          uns_store_write_done_fn done, void *arg);
void uns_store_update_state_async(uns_store *st, const char *user,
                                  const char *host, const char *id,
                                  const uns_store_change *chg,
                                  uns_store_write_done_fn done, void *arg);

/*
 * Idempotent posts (issue 19; the IETF httpapi Idempotency-Key draft). A
 * post with a key is remembered for window_ms under (user, host, key),
 * in the same atomic write as the notification: within the window, a post
 * of the same owner with the same key and the same fingerprint writes
 * nothing and gets the first post's answer again (its notification as it
 * was then, and its created flag); the same key with another fingerprint
 * is UNS_ALREADY_EXISTS and changes nothing. A post that failed leaves no
 * key. After the window the key is forgotten: it posts anew, and
 * uns_store_reclaim removes the record. The caller chooses the key (an
 * opaque string, 1..UNS_STORE_IDEM_KEY_MAX bytes: the RPC layer makes one
 * from the caller's identity and the client's key) and the fingerprint
 * (of the request, so that a changed body is told apart).
 */
#define UNS_STORE_IDEM_KEY_MAX 64

typedef struct uns_store_idem {
	const char *key;
	unsigned char fingerprint[32];
	int64_t window_ms; /* > 0 */
} uns_store_idem;

/* uns_store_post_async with an idempotency key (NULL idem = a plain post).
 * idem and what it points to must stay valid until done runs. */
void uns_store_post_keyed_async(uns_store *st, const char *user,
                                const char *host,
                                const Uns__V1__Notification *in,
                                const uns_store_idem *idem,
                                uns_store_write_done_fn done, void *arg);
/* The same, waiting. */
uns_err uns_store_post_keyed(uns_store *st, const char *user, const char *host,
                             const Uns__V1__Notification *in,
                             const uns_store_idem *idem,
                             Uns__V1__Notification **out, bool *created);

/* One live notification of (user, host) by server id. */
uns_err uns_store_get(uns_store *st, const char *user, const char *host,
                      const char *id, Uns__V1__Notification **out);

/*
 * Applies chg to a live notification: version+1, last-modified = now, one
 * feed change. A change that alters nothing returns the notification as is
 * (no version bump, no feed change). if_version mismatch:
 * UNS_FAILED_PRECONDITION. An empty change: UNS_EINVAL. Deleting returns
 * the notification in its deleted state.
 */
uns_err uns_store_update_state(uns_store *st, const char *user,
                               const char *host, const char *id,
                               const uns_store_change *chg,
                               Uns__V1__Notification **out);

/* App-side delete by server id: user NULL means "any user", the host must
 * match (an app only touches its own hosts). */
uns_err uns_store_delete(uns_store *st, const char *user, const char *host,
                         const char *id);

/* uns_store_delete for an app with several hosts: the notification's host
 * must be one of hosts[0..n_hosts); it is read once, not once per host. */
uns_err uns_store_delete_in_hosts(uns_store *st, const char *user,
                                  const char *const *hosts, size_t n_hosts,
                                  const char *id);

/* App-side delete by (user, host, app notification id). */
uns_err uns_store_delete_by_app_id(uns_store *st, const char *user,
                                   const char *host, const char *app_id);

/* The deletes without waiting, as uns_store_post_async: on success done
 * gets the notification in its deleted state (done owns it). id and app_id
 * must stay valid until done runs. */
void uns_store_delete_async(uns_store *st, const char *user, const char *host,
                            const char *id, uns_store_write_done_fn done,
                            void *arg);
void uns_store_delete_in_hosts_async(uns_store *st, const char *user,
                                     const char *const *hosts, size_t n_hosts,
                                     const char *id,
                                     uns_store_write_done_fn done, void *arg);
void uns_store_delete_by_app_id_async(uns_store *st, const char *user,
                                      const char *host, const char *app_id,
                                      uns_store_write_done_fn done, void *arg);

/* uns_store_sub_delete without waiting, as uns_store_post_async (done gets
 * no notification). unsid must stay valid until done runs. */
void uns_store_sub_delete_async(uns_store *st, const char *user,
                                const char *host, const char *unsid,
                                uns_store_write_done_fn done, void *arg);

/* --- feed and history ----------------------------------------------- */

/*
 * Changes of (user, host) after cursor (NULL or "" = from the beginning,
 * "latest" = from the current head), at most limit (0 = 100, at most 1000)
 * entries. Each notification appears once, in its latest state; deleted and
 * expired ones as tombstones (removed != NONE, id and version only).
 */
uns_err uns_store_feed_read(uns_store *st, const char *user, const char *host,
                            const char *cursor, uint32_t limit,
                            uns_store_feed_page *out);
void uns_store_feed_page_free(uns_store_feed_page *p);

/* The cursor of the current head of (user, host)'s feed (free()). */
uns_err uns_store_feed_head(uns_store *st, const char *user, const char *host,
                            char **cursor);

/* (user, host)'s notifications, newest created first. */
uns_err uns_store_history(uns_store *st, const char *user, const char *host,
                          const uns_store_history_query *q,
                          uns_store_history_page *out);
void uns_store_history_page_free(uns_store_history_page *p);

/* --- outbox: shoulder taps for the delivery engine (SPEC §5) -----------
 *
 * Every feed change (post create or replace, state change, delete, expiry)
 * queues, in the same atomic write, one tap per live, not-dead subscription
 * of the owner whose platform the notification's target policy allows
 * (empty = all) and that has a transport (not polling); state changes skip
 * web push, and the device named by uns_store_change.by_unsid is skipped.
 * A subscription has at most one pending tap: a newer change overwrites it
 * (newest cursor wins) but keeps its due time and attempt count, so an
 * endpoint that is backing off is not hammered by new posts. iOS fallback
 * alerts (below) are separate taps that never coalesce with those.
 *
 * Claiming leases taps to the caller for lease_ms: a claimed tap is not
 * claimed again until it is settled or the lease runs out. On RocksDB
 * leases are not durable: after a crash every unsettled tap is due again
 * at once. On PostgreSQL they are (owner, until), so that several processes
 * share one outbox; a process reopening the store releases its own. Either
 * way a tap is delivered at least once; settling is the only way a tap
 * leaves.
 */

/* "UNSID" for a tap, "UNSID:ID" for the fallback alert of notification ID. */
#define UNS_STORE_TAP_REF_MAX 48

typedef struct uns_store_tap {
	char ref[UNS_STORE_TAP_REF_MAX];
	char *user, *host;
	char cursor[16]; /* the feed head announced */
	uint64_t seq;    /* the same, as a number (settle compares it) */
	Uns__V1__Subscription *sub;     /* NULL: the subscription is gone */
	Uns__V1__Notification *subject; /* newest change; NULL if gone */
	bool state_change; /* every coalesced change was a state change */
	bool fallback;     /* an iOS visible fallback alert */
	uint64_t attempts; /* failed attempts so far */
	int64_t enqueued_ms, due_ms;
} uns_store_tap;

typedef struct uns_store_taps {
	uns_store_tap *taps;
	size_t n;
} uns_store_taps;

typedef enum uns_store_tap_result {
	UNS_STORE_TAP_DELIVERED, /* gone from the outbox; success recorded */
	UNS_STORE_TAP_RETRY,     /* due again at due_ms; failure recorded */
	UNS_STORE_TAP_DEFER,     /* due again at due_ms; no attempt counted */
	UNS_STORE_TAP_DROP,      /* refused for good: removed, failure noted */
	UNS_STORE_TAP_DEAD,      /* endpoint gone: subscription marked dead,
	                            all its taps removed */
} uns_store_tap_result;

/* Leases up to max due taps (due_ms <= now), earliest first. */
uns_err uns_store_outbox_claim(uns_store *st, size_t max, int64_t lease_ms,
                               uns_store_taps *out);
void uns_store_taps_free(uns_store_taps *l);
/* Frees what one tap owns (user, host, sub, subject), not the tap itself. */
void uns_store_tap_clear(uns_store_tap *t);

/* The earliest due time of an unleased tap or fallback entry;
 * UNS_NOT_FOUND when there is none. */
uns_err uns_store_outbox_next_due(uns_store *st, int64_t *due_ms);

/*
 * Records the outcome of a claimed tap and ends its lease; error (may be
 * NULL) becomes the subscription's last error on a failure. If a newer
 * change overwrote the tap while it was out, DELIVERED and DROP leave the
 * newer one pending and set *newer (may be NULL) to true: it is due
 * now. The subscription's delivery state (last attempt, last
 * success, consecutive failures, totals, dead) is updated in the same
 * write and shows in uns_store_sub_get/sub_list.
 */
uns_err uns_store_outbox_settle(uns_store *st, const uns_store_tap *t,
                                uns_store_tap_result res, int64_t due_ms,
                                const char *error, bool *newer);

/* One outcome for uns_store_outbox_settle_many. */
typedef struct uns_store_settle {
	const uns_store_tap *tap;
	uns_store_tap_result result;
	int64_t due_ms;
	const char *error;
	bool newer; /* out, as uns_store_outbox_settle's *newer */
} uns_store_settle;

/* Settles n taps of distinct subscriptions (UNS_EINVAL when two share one)
 * in one synced write; all or nothing. */
uns_err uns_store_outbox_settle_many(uns_store *st, uns_store_settle *v,
                                     size_t n);

/* Pending taps (fallback alerts included); for tests and metrics. */
uns_err uns_store_outbox_count(uns_store *st, size_t *n);

/*
 * iOS fallback. A post whose fallback_policy.endpoint_fallback has a delay,
 * visual content and allows iOS (empty platform list = all) schedules a
 * fallback check at created + delay. uns_store_fetched() records that
 * subscription unsid fetched the given notifications (only those with a
 * pending check are recorded). uns_store_fallback_run() turns each due
 * check of a still-active notification into one fallback tap per live iOS
 * subscription that has not fetched it; *queued gets the number of taps.
 */
uns_err uns_store_fetched(uns_store *st, const char *user, const char *host,
                          const char *unsid, const char *const *ids, size_t n);
/* uns_store_fetched without waiting, as the other asynchronous writes
 * (done as for uns_store_post_async, n always NULL). unsid and ids are
 * copied: they may go as soon as this returns. A Fetch that names its
 * device calls this, so no read waits for a sync on the thread that
 * received it. */
void uns_store_fetched_async(uns_store *st, const char *user, const char *host,
                             const char *unsid, const char *const *ids,
                             size_t n, uns_store_write_done_fn done, void *arg);
uns_err uns_store_fallback_run(uns_store *st, size_t *queued);

/* --- maintenance ------------------------------------------------------ */

/*
 * Removes everything whose expiration is ≤ now: notifications (an "expired"
 * tombstone goes to the feed), subscriptions, old feed tombstones.
 * *reclaimed (may be NULL) gets the number of expiry entries processed.
 */
uns_err uns_store_reclaim(uns_store *st, int64_t now, size_t *reclaimed);

/*
 * The earliest time at which uns_store_reclaim has something to remove (a
 * notification's or subscription's expiration, a feed tombstone's or an
 * idempotency record's end), in the store's clock; UNS_NOT_FOUND when
 * nothing waits. The service reclaims then (expiry.h), so that an expiry
 * reaches the feed, and wakes its long polls, when it happens rather than
 * at the next periodic reclaim.
 */
uns_err uns_store_next_expiry(uns_store *st, int64_t *when_ms);

/* --- several nodes on one store ------------------------------------------ */

/*
 * A store that several unsd share (PostgreSQL) knows each by a node id,
 * the owner of the leases it takes; "" for an embedded store. The live
 * nodes are those that beat within the timeout, as this node's last round
 * counted them (1 for an embedded store, never 0): the service splits its
 * per-user limits by it (docs/cluster.md).
 */
const char *uns_store_node_id(const uns_store *st);
unsigned uns_store_nodes_live(uns_store *st);

#ifdef __cplusplus
}
#endif

#endif /* UNS_SERVER_STORE_H */
