/*
 * fuzz_ece.c — libFuzzer target for the RFC 8188 aes128gcm decoder and
 * the RFC 8291 Web Push decryption (common/crypto/crypto.c, compiled into this
 * file because fuzz targets link only libuns): the bytes a push receiver
 * takes from the network.
 *
 * The first 16 bytes of an input are the key material, the rest a body.
 * Decoding must never read or write out of bounds, and what decodes fits
 * in the body. Then the rest is taken as a plaintext: encrypted with that
 * key (salt from the key material, record size 4096), it must decrypt to
 * itself, and with one bit of the ciphertext flipped it must not. A broken
 * promise aborts (not assert: RelWithDebInfo defines NDEBUG).
 *
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_ece
 *   build-fuzz/fuzz_ece -max_total_time=60 tests/fuzz/corpus/ece
 */
#include <stdio.h>

#include "../../common/crypto/crypto.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_ece: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[8192], body[8192], back[8192];
	static const uint8_t ua_priv[32] = {1, 2, 3, 4, 5, 6, 7, 8};
	uint8_t ikm[16], salt[16];
	size_t n = 0, m = 0, len;

	if (size < 16 || size > 4096) {
		return 0;
	}
	memcpy(ikm, data, 16);
	data += 16;
	len = size - 16;
	if (uns_ece_decrypt(ikm, 16, data, len, out, sizeof(out), &n) ==
	    UNS_OK) {
		must(n <= len, "decoded more than the body");
	}
	uns_webpush_decrypt(ua_priv, ikm, data, len, out, sizeof(out), &n);
	/* Round trip of the same bytes as a plaintext. */
	for (int i = 0; i < 16; i++) {
		salt[i] = (uint8_t)(ikm[i] ^ 0x5c);
	}
	if (len + 17 > 4096) {
		return 0;
	}
	must(uns_ece_encrypt(ikm, 16, salt, 4096, ikm, len % 8, data, len, body,
	                     sizeof(body), &n) == UNS_OK,
	     "encrypt");
	must(uns_ece_decrypt(ikm, 16, body, n, back, sizeof(back), &m) ==
	         UNS_OK,
	     "decrypt of our own body");
	must(m == len && memcmp(back, data, len) == 0, "round trip");
	body[n - 1] ^= 1;
	must(uns_ece_decrypt(ikm, 16, body, n, back, sizeof(back), &m) ==
	         UNS_UNAUTHENTICATED,
	     "a flipped tag bit decrypts");
	return 0;
}
