/*
 * fuzz_store_codec.c — libFuzzer target for the store's value and token
 * decoders (server/store/store_codec.c): what a client sends (cursors,
 * ids; server/store/store_util.c) and what a damaged disk may hand back
 * (every record kind; server/store/rocksdb/rocksdb_codec.c). A
 * corrupted record must be refused with UNS_DATA_LOSS or decode to values
 * that encode again to the same bytes; nothing may read out of bounds.
 *
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_store_codec
 *   build-fuzz/fuzz_store_codec -max_total_time=60 \
 *     tests/fuzz/corpus/store_codec
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_util.h"

#include "../../server/store/rocksdb/rocksdb_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_store_codec: %s\n", what);
		abort();
	}
}

static void
strings(const uint8_t *data, size_t size)
{
	char s[64];
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
	memcpy(s, data, n);
	s[n] = '\0';
	uint64_t seq;
	if (uns_store_cursor_decode(s, &seq) == UNS_OK) {
		char again[16];
		uns_store_cursor_encode(seq, again);
		uint64_t seq2;
		must(uns_store_cursor_decode(again, &seq2) == UNS_OK &&
		         seq2 == seq,
		     "cursor round trip");
	}
	(void)uns_store_id_ok(s);
	unsigned char raw[48];
	(void)uns_store_b64url_decode(s, raw,
	                              sizeof(raw) < n ? sizeof(raw) : n);
}

static void
records(const uint8_t *data, size_t size)
{
	uns_store_nrec nr;
	if (uns_store_nrec_decode(data, size, &nr) == UNS_OK) {
		must(strlen(nr.user) <= UNS_STORE_ID_MAX, "nrec user");
		uns_store_nrec_clear(&nr);
	}
	uns_store_srec sr;
	if (uns_store_srec_decode(data, size, &sr) == UNS_OK) {
		uns_store_srec_clear(&sr);
	}
	uns_store_feedval fv;
	if (uns_store_feedval_decode(data, size, &fv) == UNS_OK) {
		unsigned char out[UNS_STORE_FEEDVAL_MAX];
		size_t n = uns_store_feedval_encode(&fv, out);
		must(n <= sizeof(out), "feedval size");
	}
	uns_store_histval hv;
	if (uns_store_histval_decode(data, size, &hv) == UNS_OK) {
		must(hv.group_len <= size, "histval group");
	}
	uns_store_meta mv;
	(void)uns_store_metaval_decode(data, size, &mv);
	uns_store_tapval tv;
	if (uns_store_tapval_decode(data, size, &tv) == UNS_OK) {
		unsigned char out[UNS_STORE_TAPVAL_MAX];
		size_t n = uns_store_tapval_encode(&tv, out);
		must(n <= sizeof(out), "tapval size");
		uns_store_tapval again;
		must(uns_store_tapval_decode(out, n, &again) == UNS_OK &&
		         again.seq == tv.seq &&
		         strcmp(again.user, tv.user) == 0,
		     "tapval round trip");
	}
	const char *user, *host;
	size_t ulen, hlen;
	size_t k =
	    uns_store_key_uh_parse(data, size, &user, &ulen, &host, &hlen);
	if (k != 0) {
		must(k <= size && user >= (const char *)data &&
		         user + ulen <= (const char *)data + size &&
		         host + hlen <= (const char *)data + size,
		     "uh key parts outside the key");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	strings(data, size);
	records(data, size);
	return 0;
}
