/*
 * rocksdb_config.c — the RocksDB backend's keys in unsd's configuration:
 * a uns_config_section (config.h) kept here, next to the code that uses
 * the values, as push keeps its transports' keys; store.c's
 * uns_store_add_keys adds it, and uns_store_rocksdb_config_get makes the
 * backend's settings from the values.
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store_rocksdb.h"

#define MiB (1024LL * 1024)
#define GiB (1024 * MiB)

typedef struct rdb_vals {
	uint64_t block_cache;
	uint64_t write_buffer;
} rdb_vals;

static const uns_config_key rdb_keys[] = {
    UNS_CONFIG_KEY("store: rocksdb", "block_cache", SIZE, rdb_vals, block_cache,
                   MiB, 64 * GiB, "64M", "RocksDB block cache."),
    UNS_CONFIG_KEY("store: rocksdb", "write_buffer", SIZE, rdb_vals,
                   write_buffer, MiB, 64 * GiB, "64M",
                   "RocksDB memtables, all column families together; a full "
                   "one is\n"
                   "flushed to disk. With block_cache, the bulk of the "
                   "server's memory."),
};

const uns_config_section uns_store_rocksdb_keys = {
    rdb_keys, sizeof(rdb_keys) / sizeof(rdb_keys[0]), sizeof(rdb_vals)};

void
uns_store_rocksdb_config_get(const uns_config *c, uns_store_rocksdb_config *out)
{
	rdb_vals v;

	uns_config_values(c, &uns_store_rocksdb_keys, &v);
	*out = (uns_store_rocksdb_config){
	    .block_cache_bytes = (size_t)v.block_cache,
	    .write_buffer_bytes = (size_t)v.write_buffer,
	};
}
