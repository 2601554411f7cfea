/*
 * store_util.h — what every store backend shares besides the interface:
 * limits, minted ids, base64url, feed cursors, the per-thread error
 * message, and the arena feed and history pages are built in. No storage
 * engine here (the RocksDB record codec is rocksdb/rocksdb_codec.h); the
 * delivery engine's tap stream and the service include this for ids and
 * cursors.
 */
#ifndef UNS_SERVER_STORE_UTIL_H
#define UNS_SERVER_STORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"

#define UNS_STORE_ID_MAX  256 /* user, host, device id, app notification id */
#define UNS_STORE_RID_LEN 22  /* minted ids: 16 random bytes, base64url */

/* Defaults and limits of store.h, for every backend. */
#define UNS_STORE_DAY_MS           (24LL * 3600 * 1000)
#define UNS_STORE_MAX_LIVE         10000 /* live notifications per owner */
#define UNS_STORE_MAX_SUBS         100   /* live subscriptions per owner */
#define UNS_STORE_HISTORY_PAGE     20
#define UNS_STORE_HISTORY_PAGE_MAX 100
#define UNS_STORE_FEED_LIMIT       100
#define UNS_STORE_FEED_LIMIT_MAX   1000

/* --- errors ----------------------------------------------------------- */

/* Records a message for uns_store_errmsg() and returns rc. */
uns_err uns_store_seterr(uns_err rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* --- ids and text -------------------------------------------------------- */

/* 16 random bytes as 22 base64url characters plus NUL. */
uns_err uns_store_mint_id(char out[UNS_STORE_RID_LEN + 1]);

/* Encodes n bytes; out needs (4n + 2) / 3 + 1 bytes. No padding. */
void uns_store_b64url_encode(const void *in, size_t n, char *out);

/* Decodes s into exactly n bytes; false if s is not that. */
bool uns_store_b64url_decode(const char *s, void *out, size_t n);

/* True if s is non-NULL, non-empty and at most UNS_STORE_ID_MAX bytes. */
bool uns_store_id_ok(const char *s);

void uns_store_be64_put(unsigned char *p, uint64_t v);
uint64_t uns_store_be64_get(const unsigned char *p);

/* Feed cursors: base64url of BE64 seq; "" = 0. */
void uns_store_cursor_encode(uint64_t seq, char out[16]);
uns_err uns_store_cursor_decode(const char *s, uint64_t *seq);

/* --- pages ------------------------------------------------------------- */

/*
 * Feed and history pages are built in one arena each (common/arena.h):
 * every notification they hold is unpacked into it, so a page costs one
 * malloc and one free instead of a dozen per notification, and freeing
 * it walks no descriptors. NULL (with the error set) when out of memory.
 */
struct uns_arena *uns_store_arena_new(void);
void uns_store_arena_free(void *arena);

#endif /* UNS_SERVER_STORE_UTIL_H */
