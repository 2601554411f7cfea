/*
 * rocksdb_wal.h — reading RocksDB's write-ahead log ourselves, before
 * RocksDB opens it, to say what is wrong with it. No I/O: the caller hands
 * in a file's bytes.
 *
 * Why: RocksDB's default recovery (point-in-time) stops at the first bad
 * record and opens, silently dropping every write after it; the stricter
 * mode (absolute consistency) refuses, but says neither where nor whether
 * the damage is a torn last record that a crash leaves. The format is
 * small and documented (RocksDB wiki, "Write Ahead Log File Format"):
 * 32 KiB blocks of physical records, each a header (masked CRC32C of type
 * and payload, 2-byte length, 1-byte type; recyclable records add a 4-byte
 * log number) and a payload; a logical record (one WriteBatch: 8-byte
 * sequence, 4-byte count, its operations) is one FULL record or FIRST,
 * MIDDLE..., LAST fragments. A block's last < header bytes are zeros.
 *
 * A scan walks the records from the start. The first record that does not
 * check (bad CRC, a length past its block, an unknown type, a fragment out
 * of order, a header or payload cut by the end of the file) ends the
 * intact part. Then every later block is searched for records that do
 * check: if there are any, the damage is in the middle (writes after it
 * were written, synced and acknowledged after the damaged one); if there
 * are none, it is at the tail. Zeros to the end (preallocated space) are
 * not damage.
 */
#ifndef UNS_ROCKSDB_WAL_H
#define UNS_ROCKSDB_WAL_H

#include <stddef.h>
#include <stdint.h>

typedef enum uns_wal_state {
	UNS_WAL_INTACT = 0,
	UNS_WAL_TORN_TAIL = 1, /* bad bytes at the end, nothing valid after */
	UNS_WAL_DAMAGED = 2,   /* valid records after the bad one */
} uns_wal_state;

typedef struct uns_wal_scan {
	uns_wal_state state;
	size_t size;     /* bytes scanned */
	size_t good_end; /* end of the intact part: where the damage is */
	/* the intact part */
	uint64_t batches, writes, last_seq;
	/* records that check after the damage (DAMAGED only) */
	uint64_t after_batches, after_writes, after_first_seq, after_last_seq;
	char why[128]; /* what was wrong at good_end */
} uns_wal_scan;

/* Scans n bytes of one log file. */
void uns_wal_scan_buf(const uint8_t *p, size_t n, uns_wal_scan *out);

/* CRC32C (Castagnoli) of n bytes, continuing from crc (0 to start). */
uint32_t uns_crc32c(uint32_t crc, const void *p, size_t n);

#endif /* UNS_ROCKSDB_WAL_H */
