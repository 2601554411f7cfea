/*
 * gateway_watchdog.h — deadlines for the parts of a request MHD's
 * inactivity timeout does not bound: a client that sends one byte of its
 * headers (or body) every few seconds is never idle, yet never done
 * (slowloris). Each connection is in a phase; a thread checks every
 * quarter second and shuts down the socket of a connection that stayed in
 * HEADERS or BODY past its deadline, so MHD closes it.
 */
#ifndef UNS_GATEWAY_WATCHDOG_H
#define UNS_GATEWAY_WATCHDOG_H

#include <stdint.h>

#include "uns/uns.h"

typedef struct uns_gw_watchdog uns_gw_watchdog;

typedef enum uns_gw_phase {
	UNS_GW_PHASE_HEADERS, /* waiting for a request's headers */
	UNS_GW_PHASE_BODY,    /* headers in, body arriving */
	UNS_GW_PHASE_BUSY,    /* handling or answering: no deadline */
} uns_gw_phase;

uns_err uns_gw_watchdog_open(uns_gw_watchdog **out, uint32_t header_ms,
                             uint32_t body_ms);
void uns_gw_watchdog_close(uns_gw_watchdog *w);

/* A new connection (key: MHD's connection pointer), in HEADERS. */
void uns_gw_watchdog_add(uns_gw_watchdog *w, const void *conn, int fd);
/* Must run before the connection's socket is closed. */
void uns_gw_watchdog_remove(uns_gw_watchdog *w, const void *conn);
/* Enters a phase; its deadline counts from now. */
void uns_gw_watchdog_phase(uns_gw_watchdog *w, const void *conn,
                           uns_gw_phase phase);

#endif /* UNS_GATEWAY_WATCHDOG_H */
