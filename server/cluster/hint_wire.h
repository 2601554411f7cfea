/*
 * hint_wire.h — the bytes of one wake-up hint between nodes, and the NATS
 * subject it goes on. No library but libc: the fuzz target and the tests
 * reach it without a NATS server.
 *
 * A hint says "the feed of (user, host) moved to head, and the write
 * queued taps (or not)". It is only ever a hint: the receiver re-reads the
 * feed, so a late, repeated or reordered hint costs a read, never a wrong
 * answer. Layout, big-endian:
 *
 *   version (1 byte, 1) | flags (1 byte; bit 0: taps queued) |
 *   head (8 bytes) | user length (2 bytes) | user | host (the rest)
 *
 * Subject: "uns.feed.<bucket>", bucket = FNV-1a(user) mod
 * UNS_HINT_BUCKETS, so a node could listen to the buckets of the users
 * waiting on it only (docs/cluster.md says why it listens to all for now).
 * Rejected: text (a user or host with a space or a newline would need
 * quoting) and protobuf (a generated message for 4 fields, and a decoder
 * that allocates).
 */
#ifndef UNS_HINT_WIRE_H
#define UNS_HINT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"

#define UNS_HINT_VERSION     1
#define UNS_HINT_FIELD_MAX   512 /* user or host, with its NUL */
#define UNS_HINT_HEADER      12
#define UNS_HINT_MAX         (UNS_HINT_HEADER + 2 * UNS_HINT_FIELD_MAX)
#define UNS_HINT_BUCKETS     64
#define UNS_HINT_SUBJECT_ALL "uns.feed.>"
#define UNS_HINT_SUBJECT_MAX 24

typedef struct uns_hint_msg {
	uint64_t head;
	int taps; /* 1: the write queued taps for delivery */
	char user[UNS_HINT_FIELD_MAX];
	char host[UNS_HINT_FIELD_MAX];
} uns_hint_msg;

/* Encodes a hint into out (cap bytes, UNS_HINT_MAX always fits); its
 * length, or 0 when user or host is empty or too long. */
size_t uns_hint_encode(const char *user, const char *host, uint64_t head,
                       int taps, uint8_t *out, size_t cap);

/* Decodes len bytes into m. UNS_EINVAL (m unchanged) for a wrong version,
 * a short or truncated message, an empty or too long user or host, or a
 * NUL inside one. */
uns_err uns_hint_decode(const void *data, size_t len, uns_hint_msg *m);

/* The subject of user's hints ("uns.feed.17") into out. */
void uns_hint_subject(const char *user, char out[UNS_HINT_SUBJECT_MAX]);

#endif /* UNS_HINT_WIRE_H */
