/*
 * gateway_park.h — HTTP long polls parked per feed (issue 15): the waiters
 * of one feed (the user and host of their token) share one upstream wait.
 *
 * A long poll first reads its feed without waiting (Fetch, wait_ms 0);
 * when that comes back empty it parks here, keeping only what it needs to
 * answer later: its cursor, its deadline and its connection (suspended in
 * MHD, armed in the watchdog for a hang-up). The first waiter of a feed
 * starts one Fetch that waits upstream (the feed's cursor, the newest
 * waiter's token); others join it. When that Fetch returns with a change,
 * every waiter of the feed is woken to read again with its own token and
 * cursor (or, when its request would have read exactly that page — same
 * cursor, no $top, no X-UNS-ID — is handed the page); when it fails, each
 * gets the error; when it times out empty, it
 * is started again while anyone waits. A waiter's deadline answers it
 * (empty) without any RPC. So N waiters of a feed cost one RPC wait, not
 * N (libuns's call slot and unsd's RPC context, 9–10 KiB each).
 *
 * Why the cursors stay right: the shared wait's cursor is never newer than
 * any of its waiters' (a change after it wakes them all). A feed's cursor
 * is taken when the feed is made (the first waiter's, read before that
 * moment); a waiter whose own read was sent before that moment and whose
 * cursor is not the feed's may hold an older one, so it does not join but
 * reads again (UNS_GW_PARK_STALE). Clients of a user that connect at once
 * read the same head and join without a second read (each read counts
 * against the user's rate limit in unsd).
 *
 * The token's user and host are read from the token without checking its
 * signature: the server checked it on the read that came back empty, just
 * before. Rejected: verifying here (a standalone gateway may have no keys)
 * and keying by the token's bytes (each tab of a user may hold its own).
 *
 * Thread-safety: one mutex over the table; park and leave run on the MHD
 * thread of the connection, wakes on NNG's threads, hang-ups on the
 * watchdog's, deadlines on the table's own thread.
 */
#ifndef UNS_GATEWAY_PARK_H
#define UNS_GATEWAY_PARK_H

#include <stddef.h>
#include <stdint.h>

#include "uns/client.h"

typedef struct uns_gw_feeds uns_gw_feeds;
struct uns_gw_feed;
struct uns_gw_watched;
struct uns_gw_watchdog;
struct uns_gw_ops;

typedef enum uns_gw_park_state {
	UNS_GW_PARKED = 0, /* waiting */
	UNS_GW_WOKEN,      /* the feed moved: read again */
	UNS_GW_FAILED,     /* the shared wait failed: err, message */
	UNS_GW_EXPIRED,    /* the deadline came: answer empty */
	UNS_GW_HUNG_UP,    /* the client closed */
	UNS_GW_CLOSED,     /* the gateway is closing */
} uns_gw_park_state;

/* A parked long poll (inside the gateway's request). The caller sets
 * conn, watched, token, cursor, message and deadline_us before parking. */
typedef struct uns_gw_waiter {
	uns_gw_feeds *table; /* set by park */
	struct uns_gw_feed *feed;
	struct uns_gw_waiter *prev, *next;   /* the feed's, newest last */
	struct uns_gw_waiter *tprev, *tnext; /* everyone's, by deadline */
	void *conn;                          /* struct MHD_Connection * */
	struct uns_gw_watched *watched;
	const char *token;        /* borrowed: the request's header */
	const char *cursor;       /* borrowed: where its read ended */
	char *message;            /* 512 bytes: a failure's message goes here */
	uint64_t deadline_us;     /* monotonic (clock.h) */
	uns_err err;              /* UNS_GW_FAILED's */
	int shareable;            /* may take the shared wait's page */
	struct uns_gw_page *page; /* UNS_GW_WOKEN: that page, or NULL */
	uns_gw_park_state state;
	int linked; /* in the table */
} uns_gw_waiter;

typedef struct uns_gw_feeds_config {
	uns_client *rpc; /* borrowed */
	uint32_t rpc_timeout_ms;
	unsigned cap; /* waiters per feed; 0 = no cap */
	struct uns_gw_watchdog *watchdog;
	struct uns_gw_ops *ops; /* metrics; may be NULL */
	/* optional: ends the server's wait of an upstream Fetch whose
	 * waiters are all gone (gateway.h's hangup) */
	void (*hangup)(void *arg, const char *request_id);
	void *hangup_arg;
} uns_gw_feeds_config;

uns_err uns_gw_feeds_open(uns_gw_feeds **out, const uns_gw_feeds_config *cfg);
/* After end_all and MHD_stop_daemon; upstream Fetches still in flight end
 * later and free what is left. NULL is a no-op. */
void uns_gw_feeds_close(uns_gw_feeds *f);

typedef enum uns_gw_park_result {
	UNS_GW_PARK_OK,      /* parked: the connection is suspended */
	UNS_GW_PARK_FULL,    /* the feed has cap waiters: 429 */
	UNS_GW_PARK_CLOSING, /* the gateway is closing: 503 */
	UNS_GW_PARK_STALE,   /* read again first (see the top) */
	UNS_GW_PARK_NO_KEY,  /* no user or host in the token, or no memory:
	                        wait the old way, one RPC per client */
} uns_gw_park_result;

/*
 * Parks w on its token's feed, suspending its connection; read_sent_us is
 * when the read that gave w's cursor was sent. The caller arms the
 * watchdog for w (uns_gw_feeds_hung_up) after this returns OK.
 */
uns_gw_park_result uns_gw_feeds_park(uns_gw_feeds *f, uns_gw_waiter *w,
                                     uint64_t read_sent_us);
/* The watchdog's hang-up callback for a parked w (arg = w). */
void uns_gw_feeds_hung_up(void *arg);
/*
 * On the connection's MHD thread once it is resumed, or when the request
 * ends: disarms w, takes it out of the table if it is still there, and
 * returns why it woke (UNS_GW_PARKED: it was still parked).
 */
uns_gw_park_state uns_gw_feeds_leave(uns_gw_feeds *f, uns_gw_waiter *w);
/* The shared wait's page a woken shareable waiter got (its Fetch
 * response, shared by the feed's waiters), and its release. */
const ProtobufCMessage *uns_gw_page_message(const struct uns_gw_page *p);
void uns_gw_page_release(struct uns_gw_page *p);

/* The gateway is closing: every waiter is resumed (UNS_GW_CLOSED) and
 * nothing parks any more. */
void uns_gw_feeds_end_all(uns_gw_feeds *f);

#endif /* UNS_GATEWAY_PARK_H */
