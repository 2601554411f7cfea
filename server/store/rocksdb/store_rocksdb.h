/*
 * store_rocksdb.h — the RocksDB backend's own settings (store.h's
 * uns_store_config.rocksdb points to them; NULL or a 0 field = the
 * default below) and its benchmark floor. Everything else about the
 * backend is private to this folder (rocksdb_impl.h).
 */
#ifndef UNS_SERVER_STORE_ROCKSDB_H
#define UNS_SERVER_STORE_ROCKSDB_H

#include <stddef.h>

#include "uns/uns.h"

#define UNS_STORE_ROCKSDB_BLOCK_CACHE  (64u << 20)
#define UNS_STORE_ROCKSDB_WRITE_BUFFER (64u << 20)

typedef struct uns_store_rocksdb_config {
	size_t block_cache_bytes;  /* shared block cache; 0 = 64 MiB */
	size_t write_buffer_bytes; /* memtables of all families; 0 = 64 MiB */
} uns_store_rocksdb_config;

struct uns_config;
/* The backend's keys in unsd's configuration (block_cache, write_buffer;
 * rocksdb_config.c), added by uns_store_add_keys. */
extern const struct uns_config_section uns_store_rocksdb_keys;
/* *out from c's values of those keys (the defaults if c has none). */
void uns_store_rocksdb_config_get(const struct uns_config *c,
                                  uns_store_rocksdb_config *out);

/*
 * Benchmark floor: bare RocksDB, one writer, sync=1 puts of 200-byte values
 * for `seconds` seconds into a fresh database in dir (which is destroyed
 * afterwards). Group commit must beat this by ≥ 10× at 64 writers.
 */
uns_err uns_store_bench_raw_synced_puts(const char *dir, int seconds,
                                        double *puts_per_sec);

#endif /* UNS_SERVER_STORE_ROCKSDB_H */
