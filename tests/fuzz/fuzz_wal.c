/*
 * fuzz_wal.c — libFuzzer target for the write-ahead log scanner
 * (server/store/rocksdb/rocksdb_wal.c), which reads a log a crash or a
 * damaged disk left before RocksDB opens it. Whatever the bytes: no read
 * outside them, the intact part ends inside them, a damaged log has valid
 * records after the damage, an intact one has no reason, and the scan of
 * the intact part alone is intact with the same counts. A broken promise
 * aborts.
 *
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_wal
 *   build-fuzz/fuzz_wal -max_total_time=60 tests/fuzz/corpus/wal
 */
#include <stdio.h>
#include <stdlib.h>

#include "../../server/store/rocksdb/rocksdb_wal.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_wal: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uns_wal_scan s, again;
	uns_wal_scan_buf(data, size, &s);
	must(s.size == size && s.good_end <= size, "intact part past the end");
	must(s.state != UNS_WAL_DAMAGED || s.after_batches > 0,
	     "damaged without records after");
	must(s.state != UNS_WAL_INTACT || s.why[0] == '\0',
	     "intact with a reason");
	must(s.state == UNS_WAL_INTACT || s.why[0] != '\0',
	     "damage without a reason");
	uns_wal_scan_buf(data, s.good_end, &again);
	must(again.state == UNS_WAL_INTACT && again.batches == s.batches &&
	         again.writes == s.writes,
	     "the intact part does not scan intact");
	return 0;
}
