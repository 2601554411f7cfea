/*
 * tapstream.h — the live tap stream: every durable feed change, published on
 * an NNG pub0 socket so that internal services can follow the hosts they
 * care about without polling (SPEC §5, "NNG pub/sub").
 *
 * One message per feed change: host ‖ NUL ‖ user ‖ NUL ‖ cursor (the feed's
 * new head, the cursor a Fetch would continue from). The host and its NUL
 * come first so that a sub0 subscriber's topic is "host\0": NNG matches
 * topics by prefix, and the NUL keeps "a.example" from also matching
 * "a.example.org". Publishing never blocks: pub0 drops messages for a
 * subscriber that does not keep up (the feed itself is the truth; a
 * subscriber that missed messages catches up with a Fetch).
 */
#ifndef UNS_SERVER_TAPSTREAM_H
#define UNS_SERVER_TAPSTREAM_H

#include <stdint.h>

#include "uns/uns.h"

typedef struct uns_tapstream uns_tapstream;

/* Listens on url (tcp://, ipc://, inproc://). UNS_EINVAL for a bad URL,
 * UNS_UNAVAILABLE when it cannot listen; uns_last_message() says why. */
uns_err uns_tapstream_open(uns_tapstream **out, const char *url);
void uns_tapstream_close(uns_tapstream *ts);

/* Publishes one change of (user, host)'s feed, whose head is now head. */
void uns_tapstream_publish(uns_tapstream *ts, const char *user,
                           const char *host, uint64_t head);

/* Messages published since open (sent to the socket, not necessarily to a
 * subscriber). */
uint64_t uns_tapstream_published(const uns_tapstream *ts);

#endif /* UNS_SERVER_TAPSTREAM_H */
