/*
 * handshake_guard.h — a deadline for connections to the RPC port that never
 * become pipes: a client that connects and sends nothing, or stops halfway
 * through its TLS handshake.
 *
 * NNG 1.5.2 gives its TLS negotiation a 10 s timeout on the aio that sends
 * the SP header, but while mbedTLS waits for the client's handshake bytes
 * that send is queued above the TLS layer, and its cancel aborts only the
 * TCP send, which is not running: the timeout never fires and the socket
 * stays open for good (seen: 2,000 idle sockets for 25 minutes). NNG offers
 * no accept hook, so the guard finds such sockets itself: every half
 * timeout it walks the process's descriptors, takes the TCP sockets
 * accepted on the server's ports whose peer is no pipe's (pipes are told
 * to it from NNG's pipe events), remembers when it first saw each, and
 * shuts down (not closes: the descriptor stays NNG's) those older than the
 * timeout. NNG then sees the error and frees the connection.
 *
 * Cost: two or three system calls per open descriptor per sweep (about
 * 20 ms for 20,000 descriptors every 2.5 s with the 5 s default: under 1 %
 * of a core), and memory for the connections not yet pipes only.
 * Rejected: patching NNG (Debian's package is what we build on), and
 * terminating TLS ourselves in front of NNG.
 */
#ifndef UNS_HANDSHAKE_GUARD_H
#define UNS_HANDSHAKE_GUARD_H

#include <stdint.h>

#include <nng/nng.h>

#include "uns/uns.h"

typedef struct uns_hs_guard uns_hs_guard;

/* timeout_ms 0 = no guard (open gives NULL, every call is a no-op). */
uns_err uns_hs_guard_open(uns_hs_guard **out, uint32_t timeout_ms);
void uns_hs_guard_close(uns_hs_guard *g);

/* A TCP port the server accepts on (host order). */
void uns_hs_guard_port(uns_hs_guard *g, int port);
/* A pipe with this peer opened (add = 1) or closed (add = 0). */
void uns_hs_guard_pipe(uns_hs_guard *g, const nng_sockaddr *peer, int add);
/* Sockets shut down so far. */
uint64_t uns_hs_guard_cut(uns_hs_guard *g);

#endif /* UNS_HANDSHAKE_GUARD_H */
