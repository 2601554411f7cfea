/*
 * gateway_watchdog.h — deadlines for the parts of a request MHD's
 * inactivity timeout does not bound: a client that sends one byte of its
 * headers (or body) every few seconds is never idle, yet never done
 * (slowloris), and a connection that sends nothing at all (nor finishes
 * its TLS handshake) is closed after the header deadline too. Each
 * connection is in a phase; a thread checks every quarter second and shuts
 * down the socket of a connection that stayed in HEADERS or BODY past its
 * deadline, so MHD closes it.
 *
 * Every step is O(1) whatever the number of connections: the caller keeps
 * the handle add gave (MHD's socket context), and each phase with a
 * deadline is a list in the order its deadlines fall (one deadline per
 * phase, entered at "now"), so the check looks only at the expired heads.
 */
#ifndef UNS_GATEWAY_WATCHDOG_H
#define UNS_GATEWAY_WATCHDOG_H

#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"

typedef struct uns_gw_watchdog uns_gw_watchdog;
typedef struct uns_gw_watched uns_gw_watched;

typedef enum uns_gw_phase {
	UNS_GW_PHASE_HEADERS, /* waiting for a request's headers */
	UNS_GW_PHASE_BODY,    /* headers in, body arriving */
	UNS_GW_PHASE_BUSY,    /* handling or answering: no deadline */
} uns_gw_phase;

uns_err uns_gw_watchdog_open(uns_gw_watchdog **out, uint32_t header_ms,
                             uint32_t body_ms);
void uns_gw_watchdog_close(uns_gw_watchdog *w);

/* A new connection's socket, in HEADERS; NULL when out of memory (the
 * connection then goes unwatched: MHD's idle timeout still applies). */
uns_gw_watched *uns_gw_watchdog_add(uns_gw_watchdog *w, int fd);
/* Must run before the connection's socket is closed. NULL is a no-op. */
void uns_gw_watchdog_remove(uns_gw_watchdog *w, uns_gw_watched *c);
/* Enters a phase; its deadline counts from now. NULL is a no-op. */
void uns_gw_watchdog_phase(uns_gw_watchdog *w, uns_gw_watched *c,
                           uns_gw_phase phase);
/*
 * Hang-ups of parked requests: MHD does not watch the socket of a suspended
 * connection, so a client that closes while its long poll waits would go
 * unnoticed until the answer. Armed, the watchdog's epoll watches the
 * socket for the peer's close (EPOLLRDHUP; pipelined bytes do not count)
 * and calls fn(arg) once, on its thread and under its lock (fn must not
 * call back into the watchdog); disarm must run before what fn touches
 * goes. A NULL w or c is a no-op.
 */
void uns_gw_watchdog_arm(uns_gw_watchdog *w, uns_gw_watched *c,
                         void (*fn)(void *arg), void *arg);
void uns_gw_watchdog_disarm(uns_gw_watchdog *w, uns_gw_watched *c);
/* Connections that have not yet sent (the headers of) a request. */
size_t uns_gw_watchdog_fresh(uns_gw_watchdog *w);
/* Connections watched now. */
size_t uns_gw_watchdog_count(uns_gw_watchdog *w);

#endif /* UNS_GATEWAY_WATCHDOG_H */
