/*
 * rocksdb_codec.h — byte layouts of the RocksDB backend's keys and values
 * (what every backend shares, ids, cursors and the error message, is in
 * store_util.h).
 *
 * Keys of everything owned by a (user, host) start with its "uh key":
 *   H8 ‖ u16 len ‖ user ‖ u16 len ‖ host
 * where H8 is a 64-bit hash of (user, host), big-endian. H8 is the fixed
 * 8-byte prefix the RocksDB prefix extractor and bloom filters use; the full
 * user and host follow, so a hash collision never mixes two owners, and the
 * length fields make uh keys prefix-free (no uh key is a prefix of another).
 * Integers in keys are big-endian so that byte order is numeric order.
 * Rejected: a dense (user, host) → u64 id map (shorter keys, but one more
 * lookup and a global allocator to keep durable). No RocksDB types here.
 */
#ifndef UNS_SERVER_ROCKSDB_CODEC_H
#define UNS_SERVER_ROCKSDB_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"
#include "store_util.h"
#include "uns/v1/notifications.pb-c.h"

#define UNS_STORE_KEY_MAX  1024 /* longest key: uh (524) + app id (256) */
#define UNS_STORE_HASH_LEN 8

typedef struct uns_store_key {
	size_t len;
	unsigned char b[UNS_STORE_KEY_MAX];
} uns_store_key;

/* --- keys ------------------------------------------------------------- */

/* k = uh key of (user, host). UNS_EINVAL if either id is not uns_store_id_ok.
 */
uns_err uns_store_key_uh(uns_store_key *k, const char *user, const char *host);
void uns_store_key_bytes(uns_store_key *k, const void *p, size_t n);
void uns_store_key_u64(uns_store_key *k, uint64_t v);
void uns_store_key_str(uns_store_key *k,
                       const char *s); /* raw bytes, no length */

/* The 64-bit (user, host) hash at the front of a uh-keyed key. */
uint64_t uns_store_key_hash(const unsigned char *key);

/* The smallest key greater than every key that starts with k[0..len). */
void uns_store_key_successor(const uns_store_key *k, uns_store_key *succ);

/* Splits a uh key at the front of p[0..n): lengths of user and host and
 * where they start; returns the uh key length or 0 if malformed. */
size_t uns_store_key_uh_parse(const unsigned char *p, size_t n,
                              const char **user, size_t *ulen,
                              const char **host, size_t *hlen);

/* --- values ----------------------------------------------------------- */

/* Notification record: u8 1 ‖ u16 len ‖ user ‖ BE64 feed seq ‖ protobuf. */
typedef struct uns_store_nrec {
	char user[UNS_STORE_ID_MAX + 1];
	uint64_t feed_seq;
	Uns__V1__Notification *n; /* unpacked, owned */
} uns_store_nrec;

uns_err uns_store_nrec_decode(const void *v, size_t len, uns_store_nrec *r);
/* The same with r->n unpacked through pb (an arena: reads whose results
 * die together); uns_store_nrec_clear must then not be called. */
uns_err uns_store_nrec_decode_with(const void *v, size_t len,
                                   ProtobufCAllocator *pb, uns_store_nrec *r);
void uns_store_nrec_clear(uns_store_nrec *r);
/* *out is malloc()ed. */
uns_err uns_store_nrec_encode(const char *user, uint64_t feed_seq,
                              const Uns__V1__Notification *n,
                              unsigned char **out, size_t *len);

/* Subscription record: u8 1 ‖ u16 len ‖ user ‖ protobuf. */
typedef struct uns_store_srec {
	char user[UNS_STORE_ID_MAX + 1];
	Uns__V1__Subscription *s; /* unpacked, owned */
} uns_store_srec;

uns_err uns_store_srec_decode(const void *v, size_t len, uns_store_srec *r);
void uns_store_srec_clear(uns_store_srec *r);
uns_err uns_store_srec_encode(const char *user, const Uns__V1__Subscription *s,
                              unsigned char **out, size_t *len);

/* Feed value: u8 removed reason ‖ BE64 version ‖ server id. */
#define UNS_STORE_FEEDVAL_MAX (1 + 8 + UNS_STORE_RID_LEN)
typedef struct uns_store_feedval {
	Uns__V1__RemovedReason removed;
	uint64_t version;
	char id[UNS_STORE_RID_LEN + 1];
} uns_store_feedval;

size_t uns_store_feedval_encode(const uns_store_feedval *f, unsigned char *out);
uns_err uns_store_feedval_decode(const void *v, size_t len,
                                 uns_store_feedval *f);

/* History value: the filterable state, so filters need no record read:
 * u8 status ‖ u8 read ‖ u8 action ‖ BE64 expiration ‖ group name. */
#define UNS_STORE_HISTVAL_MAX (3 + 8 + UNS_STORE_ID_MAX)
typedef struct uns_store_histval {
	Uns__V1__NotificationStatus status;
	Uns__V1__ReadState read_state;
	Uns__V1__UserActionState user_action_state;
	int64_t expiration_ms;
	const char *group; /* points into the decoded value */
	size_t group_len;
} uns_store_histval;

size_t uns_store_histval_encode(const Uns__V1__Notification *n,
                                unsigned char *out);
uns_err uns_store_histval_decode(const void *v, size_t len,
                                 uns_store_histval *h);

/*
 * Per-(user, host) meta value: BE64 feed head ‖ BE32 live count ‖ BE64
 * newest creation time (ms) of the owner's notifications. Records written
 * before the creation time was kept are 12 bytes; they decode with
 * newest = -1 (unknown).
 */
#define UNS_STORE_METAVAL_LEN     20
#define UNS_STORE_METAVAL_LEN_OLD 12
typedef struct uns_store_meta {
	uint64_t head;
	uint32_t live;
	int64_t newest; /* -1: unknown */
} uns_store_meta;
void uns_store_metaval_encode(const uns_store_meta *m, unsigned char *out);
uns_err uns_store_metaval_decode(const void *v, size_t len, uns_store_meta *m);

/* Outbox tap value (the key is the tap's ref, see store.h):
 * u8 1 ‖ u8 flags ‖ BE64 seq ‖ BE64 due ‖ BE64 enqueued ‖ BE64 attempts ‖
 * u16 len ‖ user ‖ u16 len ‖ host ‖ u8 len ‖ subject id. */
/* An idempotency record (CF_IDEM, key uh ‖ the caller's key):
 *   be64 expires_ms ‖ fingerprint[32] ‖ u8 created ‖ packed notification
 * the first post's answer, kept until expires_ms. */
#define UNS_STORE_IDEMREC_HEAD (8 + 32 + 1)
typedef struct uns_store_idemrec {
	int64_t expires_ms;
	unsigned char fingerprint[32];
	bool created;
	Uns__V1__Notification *n; /* decode: malloc'd, or NULL (head only) */
} uns_store_idemrec;

/* A malloc'd record of r (r->n packed); UNS_ENOMEM. */
uns_err uns_store_idemrec_encode(const uns_store_idemrec *r,
                                 unsigned char **out, size_t *len);
/* Decodes v; with_n false reads the head only (r->n NULL). UNS_DATA_LOSS
 * for a malformed record. */
uns_err uns_store_idemrec_decode(const void *v, size_t len, bool with_n,
                                 uns_store_idemrec *r);

#define UNS_STORE_TAP_STATE    1u /* only state changes coalesced here */
#define UNS_STORE_TAP_FALLBACK 2u /* an iOS visible fallback alert */
#define UNS_STORE_TAPVAL_MAX                                                   \
	(2 + 4 * 8 + 2 * (2 + UNS_STORE_ID_MAX) + 1 + UNS_STORE_RID_LEN)
typedef struct uns_store_tapval {
	unsigned flags;
	uint64_t seq, attempts;
	int64_t due_ms, enqueued_ms;
	char user[UNS_STORE_ID_MAX + 1], host[UNS_STORE_ID_MAX + 1];
	char subject[UNS_STORE_RID_LEN + 1]; /* "" = none */
} uns_store_tapval;

size_t uns_store_tapval_encode(const uns_store_tapval *t, unsigned char *out);
uns_err uns_store_tapval_decode(const void *v, size_t len, uns_store_tapval *t);

#endif /* UNS_SERVER_ROCKSDB_CODEC_H */
