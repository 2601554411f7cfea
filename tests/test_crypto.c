/*
 * test_crypto.c — known-answer tests for common/crypto/crypto.c from the RFCs:
 * SHA-256 (FIPS 180-2 "abc"), HMAC-SHA-256 (RFC 4231 cases 1, 2, 6),
 * HKDF-SHA-256 (RFC 5869 A.1), AES-128-GCM (McGrew-Viega test case 3),
 * deterministic ECDSA P-256 (RFC 6979 A.2.5), the RFC 8292 VAPID example
 * (verify only: its signature is randomised), RFC 8188 §3.1 (encrypt,
 * byte-exact) and §3.2 (two records, decrypt), and RFC 8291 Appendix A
 * byte-exact with the sender's key and salt injected, PBKDF2-HMAC-SHA-256
 * (RFC 7914 §11) and the app secret hash built on it. Plus round trips,
 * tampering and malformed input for every primitive.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "b64url.h"
#include "crypto.h"

/* Decodes hex into a static-lifetime buffer of the caller. */
static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex) / 2;

	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static size_t
unb64(const char *s, uint8_t *out, size_t cap)
{
	long n = uns_b64url_decode(s, strlen(s), out, cap);

	assert_true(n >= 0);
	return (size_t)n;
}

static void
assert_hex(const uint8_t *got, size_t len, const char *hex)
{
	uint8_t want[512];

	assert_int_equal(unhex(hex, want, sizeof(want)), len);
	assert_memory_equal(got, want, len);
}

static void
t_sha256_hmac(void **state)
{
	uint8_t out[32], key[131];

	(void)state;
	assert_int_equal(uns_sha256("abc", 3, out), UNS_OK);
	assert_hex(out, 32,
	           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2"
	           "0015ad");
	/* RFC 4231 test case 1 */
	memset(key, 0x0b, 20);
	assert_int_equal(uns_hmac_sha256(key, 20, "Hi There", 8, out), UNS_OK);
	assert_hex(out, 32,
	           "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e"
	           "32cff7");
	/* test case 2 */
	assert_int_equal(
	    uns_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, out),
	    UNS_OK);
	assert_hex(out, 32,
	           "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964"
	           "ec3843");
	/* test case 6: a key longer than the block */
	memset(key, 0xaa, 131);
	assert_int_equal(
	    uns_hmac_sha256(
	        key, 131,
	        "Test Using Larger Than Block-Size Key - Hash Key First", 54,
	        out),
	    UNS_OK);
	assert_hex(out, 32,
	           "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0e"
	           "e37f54");
}

static void
t_hkdf(void **state)
{
	uint8_t ikm[22], salt[13], info[10], okm[42];

	(void)state;
	memset(ikm, 0x0b, sizeof(ikm));
	unhex("000102030405060708090a0b0c", salt, sizeof(salt));
	unhex("f0f1f2f3f4f5f6f7f8f9", info, sizeof(info));
	assert_int_equal(uns_hkdf_sha256(salt, sizeof(salt), ikm, sizeof(ikm),
	                                 info, sizeof(info), okm, sizeof(okm)),
	                 UNS_OK);
	assert_hex(okm, 42,
	           "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ec"
	           "c4c5bf34007208d5b887185865");
}

static void
t_pbkdf2(void **state)
{
	uint8_t dk[64];

	(void)state;
	assert_int_equal(
	    uns_pbkdf2_sha256("passwd", 6, "salt", 4, 1, dk, sizeof(dk)),
	    UNS_OK);
	assert_hex(dk, 64,
	           "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c2"
	           "0dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd50911"
	           "2041d3a19783");
	assert_int_equal(
	    uns_pbkdf2_sha256("Password", 8, "NaCl", 4, 80000, dk, sizeof(dk)),
	    UNS_OK);
	assert_hex(dk, 64,
	           "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b"
	           "34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f"
	           "62b397f33c8d");
	assert_int_equal(uns_pbkdf2_sha256("p", 1, "s", 1, 0, dk, 32),
	                 UNS_EINVAL);
}

/* The app secret hash: its form, a round trip, a fresh salt each time,
 * the older SHA-256 form still verifying, and malformed hashes refused. */
static void
t_secret_hash(void **state)
{
	char h1[UNS_SECRET_HASH_MAX], h2[UNS_SECRET_HASH_MAX];
	const char *secret = "correct-horse-battery";
	const char *old = "sha256:00112233445566778899aabbccddeeff:"
	                  "dd54336b05f38b582e2336670be02842b2b31b2478bb71a019"
	                  "b6a5131b2cbc78";
	static const char *const bad[] = {
	    "",
	    "sha256:",
	    "sha256:00:abc",
	    "md5$1$AAAAAAAAAAA$AAAA",
	    "pbkdf2-sha256$$AAAAAAAAAAAAAAAAAAAAAA$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "pbkdf2-sha256$0$AAAAAAAAAAAAAAAAAAAAAA$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAAAA$AAAA",
	    "pbkdf2-sha256$999999999999$AAAAAAAAAAAAAAAAAAAAAA$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};

	(void)state;
	assert_int_equal(uns_secret_hash(secret, 1000, h1), UNS_OK);
	assert_int_equal(uns_secret_hash(secret, 1000, h2), UNS_OK);
	assert_int_equal(strncmp(h1, "pbkdf2-sha256$1000$", 19), 0);
	assert_string_not_equal(h1, h2); /* a salt of its own */
	assert_int_equal(uns_secret_hash_check(h1), UNS_OK);
	assert_true(uns_secret_verify(h1, secret));
	assert_true(uns_secret_verify(h2, secret));
	assert_false(uns_secret_verify(h1, "correct-horse-batterz"));
	assert_false(uns_secret_verify(h1, ""));
	assert_false(uns_secret_verify(NULL, secret));
	h1[strlen(h1) - 2] = h1[strlen(h1) - 2] == 'A' ? 'B' : 'A';
	assert_false(uns_secret_verify(h1, secret));

	assert_int_equal(uns_secret_hash_check(old), UNS_OK);
	assert_true(uns_secret_verify(old, "legacy-secret"));
	assert_false(uns_secret_verify(old, "legacy-secreT"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(uns_secret_hash_check(bad[i]), UNS_EINVAL);
		assert_false(uns_secret_verify(bad[i], secret));
	}
	assert_int_equal(uns_secret_hash(secret, 0, h1), UNS_EINVAL);
}

static void
t_gcm(void **state)
{
	uint8_t key[16], iv[12], pt[64], ct[80], back[64];

	(void)state;
	unhex("feffe9928665731c6d6a8f9467308308", key, sizeof(key));
	unhex("cafebabefacedbaddecaf888", iv, sizeof(iv));
	unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a"
	      "721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aaf"
	      "d255",
	      pt, sizeof(pt));
	assert_int_equal(uns_aes128gcm_seal(key, iv, pt, 64, ct), UNS_OK);
	assert_hex(ct, 80,
	           "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329"
	           "aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58"
	           "e091473f5985"
	           "4d5c2af327cd64a62cf35abd2ba6fab4");
	assert_int_equal(uns_aes128gcm_open(key, iv, ct, 80, back), UNS_OK);
	assert_memory_equal(back, pt, 64);
	ct[3] ^= 1;
	assert_int_equal(uns_aes128gcm_open(key, iv, ct, 80, back),
	                 UNS_UNAUTHENTICATED);
	assert_int_equal(uns_aes128gcm_open(key, iv, ct, 15, back), UNS_EINVAL);
}

static void
t_base64url(void **state)
{
	uint8_t out[8];
	char enc[16];

	(void)state;
	assert_int_equal(uns_b64url_encode("\xfb\xff", 2, enc), 3);
	assert_string_equal(enc, "-_8");
	assert_int_equal(uns_b64url_decode("-_8", 3, out, sizeof(out)), 2);
	assert_memory_equal(out, "\xfb\xff", 2);
	assert_int_equal(uns_b64url_decode("-_9", 3, out, sizeof(out)), -1);
	assert_int_equal(uns_b64url_decode("+/8", 3, out, sizeof(out)), -1);
	assert_int_equal(uns_b64url_decode("-_8=", 4, out, sizeof(out)), -1);
	assert_int_equal(uns_b64url_decode("A", 1, out, sizeof(out)), -1);
	assert_int_equal(uns_b64url_decode("AAAAAAAAAAAA", 12, out, 8), -1);
	assert_int_equal(uns_b64url_encode("", 0, enc), 0);
	assert_string_equal(enc, "");
}

/* RFC 6979 A.2.5, P-256 with SHA-256, message "sample". */
#define RFC6979_X                                                              \
	"c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"
#define RFC6979_U                                                              \
	"0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb67"  \
	"903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"
#define RFC6979_SIG                                                            \
	"efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716f7c"  \
	"b1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"

static void
t_ecdsa_rfc6979(void **state)
{
	uint8_t x[32], u[65], pub[65], hash[32], sig[64], sig2[64];
	size_t n = 0;
	uns_key *k = NULL;

	(void)state;
	unhex(RFC6979_X, x, sizeof(x));
	unhex(RFC6979_U, u, sizeof(u));
	assert_int_equal(uns_p256_public(x, pub), UNS_OK);
	assert_memory_equal(pub, u, 65);
	assert_int_equal(uns_sha256("sample", 6, hash), UNS_OK);
	assert_int_equal(uns_p256_sign(x, hash, sig), UNS_OK);
	assert_hex(sig, 64, RFC6979_SIG);
	assert_int_equal(uns_p256_verify(u, hash, sig), UNS_OK);
	/* The same through a key object. */
	assert_int_equal(uns_key_from_p256(&k, x), UNS_OK);
	assert_int_equal(uns_key_sign_sha256(k, "sample", 6, sig2, 64, &n),
	                 UNS_OK);
	assert_int_equal(n, 64);
	assert_memory_equal(sig2, sig, 64);
	assert_int_equal(uns_key_p256_public(k, pub), UNS_OK);
	assert_memory_equal(pub, u, 65);
	assert_int_equal(uns_key_verify_sha256(k, "sample", 6, sig, 64),
	                 UNS_OK);
	assert_int_equal(uns_key_verify_sha256(k, "samplf", 6, sig, 64),
	                 UNS_UNAUTHENTICATED);
	assert_int_equal(uns_key_verify_sha256(k, "sample", 6, sig, 63),
	                 UNS_UNAUTHENTICATED);
	sig[10] ^= 0x40;
	assert_int_equal(uns_p256_verify(u, hash, sig), UNS_UNAUTHENTICATED);
	uns_key_free(k);
}

/* RFC 8292 §2.4: the VAPID token verifies with k. */
static void
t_vapid_rfc8292(void **state)
{
	static const char t[] =
	    "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJodHRwczovL3B1c2g"
	    "uZXhhbXBsZS5uZXQiLCJleHAiOjE0NTM1MjM3NjgsInN1YiI6Im1haWx0bzpwdXN"
	    "oQGV4YW1wbGUuY29tIn0.i3CYb7t4xfxCDquptFOepC9GAu_HLGkMlMuCGSK2rpi"
	    "UfnK9ojFwDXb1JrErtmysazNjjvW2L9OkSSHzvoD1oA";
	static const char k[] = "BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6"
	                        "YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs";
	uint8_t pub[65], sig[64], hash[32];
	const char *dot = strrchr(t, '.');

	(void)state;
	assert_int_equal(unb64(k, pub, sizeof(pub)), 65);
	assert_int_equal(uns_p256_check_public(pub, 65), UNS_OK);
	assert_int_equal(unb64(dot + 1, sig, sizeof(sig)), 64);
	assert_int_equal(uns_sha256(t, (size_t)(dot - t), hash), UNS_OK);
	assert_int_equal(uns_p256_verify(pub, hash, sig), UNS_OK);
	hash[0] ^= 1;
	assert_int_equal(uns_p256_verify(pub, hash, sig), UNS_UNAUTHENTICATED);
	/* Off the curve: the last byte of Y changed. */
	pub[64] ^= 1;
	assert_int_equal(uns_p256_check_public(pub, 65), UNS_EINVAL);
	assert_int_equal(uns_p256_check_public(pub, 64), UNS_EINVAL);
}

static void
t_ece_rfc8188(void **state)
{
	uint8_t ikm[16], salt[16], body[128], want[128], out[64];
	size_t n = 0, m = 0;

	(void)state;
	/* §3.1: one record, rs 4096, empty keyid. */
	unb64("yqdlZ-tYemfogSmv7Ws5PQ", ikm, sizeof(ikm));
	unb64("I1BsxtFttlv3u_Oo94xnmw", salt, sizeof(salt));
	assert_int_equal(uns_ece_encrypt(ikm, 16, salt, 4096, NULL, 0,
	                                 (const uint8_t *)"I am the walrus", 15,
	                                 body, sizeof(body), &n),
	                 UNS_OK);
	m = unb64("I1BsxtFttlv3u_Oo94xnmwAAEAAA-NAVub2qFgBEuQKRapoZu-IxkIva3MEB"
	          "1PD-ly8Thjg",
	          want, sizeof(want));
	assert_int_equal(n, m);
	assert_memory_equal(body, want, n);
	assert_int_equal(
	    uns_ece_decrypt(ikm, 16, body, n, out, sizeof(out), &m), UNS_OK);
	assert_int_equal(m, 15);
	assert_memory_equal(out, "I am the walrus", 15);
	/* §3.2: two records of rs 25 with keyid "a1" and padding. */
	unb64("BO3ZVPxUlnLORbVGMpbT1Q", ikm, sizeof(ikm));
	n = unb64("uNCkWiNYzKTnBN9ji3-qWAAAABkCYTHOG8chz_gnvgOqdGYovxyjuqRyJFjE"
	          "DyoF1Fvkj6hQPdPHI51OEUKEpgz3SsLWIqS_uA",
	          body, sizeof(body));
	assert_int_equal(
	    uns_ece_decrypt(ikm, 16, body, n, out, sizeof(out), &m), UNS_OK);
	assert_int_equal(m, 15);
	assert_memory_equal(out, "I am the walrus", 15);
	body[n - 1] ^= 1;
	assert_int_equal(
	    uns_ece_decrypt(ikm, 16, body, n, out, sizeof(out), &m),
	    UNS_UNAUTHENTICATED);
	/* Truncated inside the header, and a record size under 18. */
	assert_int_equal(uns_ece_decrypt(ikm, 16, body, 20, out, 64, &m),
	                 UNS_EINVAL);
	body[19] = 17;
	body[18] = 0;
	assert_int_equal(uns_ece_decrypt(ikm, 16, body, n, out, 64, &m),
	                 UNS_EINVAL);
	/* A plaintext that does not fit the record size. */
	assert_int_equal(uns_ece_encrypt(ikm, 16, salt, 20, NULL, 0,
	                                 (const uint8_t *)"four", 4, body,
	                                 sizeof(body), &n),
	                 UNS_EINVAL);
}

/* RFC 8291 Appendix A, every value as printed there. */
static void
t_webpush_rfc8291(void **state)
{
	uint8_t as_priv[32], ua_pub[65], ua_priv[32], salt[16], auth[16];
	uint8_t body[256], want[256], out[64];
	size_t n = 0, m = 0;
	static const char pt[] = "When I grow up, I want to be a watermelon";

	(void)state;
	unb64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw", as_priv, 32);
	unb64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyP"
	      "js7Vd8pZGH6SRpkNtoIAiw4",
	      ua_pub, 65);
	unb64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94", ua_priv, 32);
	unb64("DGv6ra1nlYgDCS1FRnbzlw", salt, 16);
	unb64("BTBZMqHH6r4Tts7J_aSIgg", auth, 16);
	assert_int_equal(uns_webpush_encrypt(ua_pub, auth, (const uint8_t *)pt,
	                                     strlen(pt), as_priv, salt, body,
	                                     sizeof(body), &n),
	                 UNS_OK);
	m = unb64(
	    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27"
	    "mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQp"
	    "u6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_"
	    "Qulcy4a-fN",
	    want, sizeof(want));
	assert_int_equal(m, 144);
	assert_int_equal(n, 144);
	assert_memory_equal(body, want, 144);
	/* The browser's side. */
	assert_int_equal(
	    uns_webpush_decrypt(ua_priv, auth, body, n, out, sizeof(out), &m),
	    UNS_OK);
	assert_int_equal(m, strlen(pt));
	assert_memory_equal(out, pt, m);
	/* A fresh key and salt each time: different bytes, same plaintext. */
	assert_int_equal(uns_webpush_encrypt(ua_pub, auth, (const uint8_t *)pt,
	                                     strlen(pt), NULL, NULL, body,
	                                     sizeof(body), &n),
	                 UNS_OK);
	assert_int_equal(n, 144);
	assert_memory_not_equal(body, want, 144);
	assert_int_equal(
	    uns_webpush_decrypt(ua_priv, auth, body, n, out, sizeof(out), &m),
	    UNS_OK);
	assert_memory_equal(out, pt, m);
	/* The wrong auth secret does not decrypt. */
	auth[0] ^= 1;
	assert_int_equal(
	    uns_webpush_decrypt(ua_priv, auth, body, n, out, sizeof(out), &m),
	    UNS_UNAUTHENTICATED);
	/* A p256dh that is not on the curve is refused. */
	ua_pub[64] ^= 1;
	assert_int_equal(uns_webpush_encrypt(ua_pub, auth, (const uint8_t *)pt,
	                                     strlen(pt), NULL, NULL, body,
	                                     sizeof(body), &n),
	                 UNS_EINVAL);
	/* 3993 bytes is the most that fits a 4096-byte body. */
	ua_pub[64] ^= 1;
	{
		static uint8_t big[3994], bout[4200];
		assert_int_equal(uns_webpush_encrypt(ua_pub, auth, big, 3993,
		                                     NULL, NULL, bout,
		                                     sizeof(bout), &n),
		                 UNS_OK);
		assert_int_equal(n, 4096);
		assert_int_equal(uns_webpush_encrypt(ua_pub, auth, big, 3994,
		                                     NULL, NULL, bout,
		                                     sizeof(bout), &n),
		                 UNS_EINVAL);
	}
}

static void
t_ecdh(void **state)
{
	uint8_t a[32], ap[65], b[32], bp[65], s1[32], s2[32];

	(void)state;
	assert_int_equal(uns_p256_keygen(a, ap), UNS_OK);
	assert_int_equal(uns_p256_keygen(b, bp), UNS_OK);
	assert_memory_not_equal(a, b, 32);
	assert_int_equal(uns_p256_ecdh(a, bp, s1), UNS_OK);
	assert_int_equal(uns_p256_ecdh(b, ap, s2), UNS_OK);
	assert_memory_equal(s1, s2, 32);
	bp[40] ^= 1;
	assert_int_equal(uns_p256_ecdh(a, bp, s1), UNS_EINVAL);
}

static void
t_keys_pem(void **state)
{
	uns_key *k = NULL, *priv = NULL, *pub = NULL, *rsa = NULL,
	        *rsapub = NULL;
	char *pem = NULL, *pubpem = NULL, why[200];
	uint8_t sig[UNS_KEY_MAX_SIG], p1[65], p2[65];
	size_t n = 0;

	(void)state;
	assert_int_equal(uns_key_gen_p256(&k), UNS_OK);
	assert_int_equal(uns_key_write_pem(k, true, &pem), UNS_OK);
	assert_int_equal(uns_key_write_pem(k, false, &pubpem), UNS_OK);
	assert_non_null(strstr(pem, "EC PRIVATE KEY"));
	assert_non_null(strstr(pubpem, "BEGIN PUBLIC KEY"));
	assert_int_equal(uns_key_parse(&priv, pem, strlen(pem), why, 200),
	                 UNS_OK);
	assert_int_equal(uns_key_parse(&pub, pubpem, strlen(pubpem), why, 200),
	                 UNS_OK);
	assert_true(uns_key_is_private(priv));
	assert_false(uns_key_is_private(pub));
	assert_int_equal(uns_key_type_of(pub), UNS_KEY_P256);
	assert_int_equal(uns_key_p256_public(k, p1), UNS_OK);
	assert_int_equal(uns_key_p256_public(pub, p2), UNS_OK);
	assert_memory_equal(p1, p2, 65);
	assert_int_equal(uns_key_sign_sha256(priv, "m", 1, sig, 64, &n),
	                 UNS_OK);
	assert_int_equal(uns_key_verify_sha256(pub, "m", 1, sig, n), UNS_OK);
	assert_int_equal(uns_key_sign_sha256(pub, "m", 1, sig, 64, &n),
	                 UNS_EINVAL);
	free(pem);
	free(pubpem);
	/* RSA: RS256 round trip through PEM. */
	assert_int_equal(uns_key_gen_rsa(&rsa, 2048), UNS_OK);
	assert_int_equal(uns_key_write_pem(rsa, false, &pubpem), UNS_OK);
	assert_int_equal(
	    uns_key_parse(&rsapub, pubpem, strlen(pubpem), why, 200), UNS_OK);
	assert_int_equal(uns_key_type_of(rsapub), UNS_KEY_RSA);
	assert_int_equal(uns_key_sig_len(rsapub), 256);
	assert_int_equal(uns_key_sign_sha256(rsa, "m", 1, sig, sizeof(sig), &n),
	                 UNS_OK);
	assert_int_equal(n, 256);
	assert_int_equal(uns_key_verify_sha256(rsapub, "m", 1, sig, n), UNS_OK);
	sig[100] ^= 1;
	assert_int_equal(uns_key_verify_sha256(rsapub, "m", 1, sig, n),
	                 UNS_UNAUTHENTICATED);
	/* A P-256 signature does not verify under the RSA key. */
	assert_int_equal(uns_key_verify_sha256(rsapub, "m", 1, sig, 64),
	                 UNS_UNAUTHENTICATED);
	/* Garbage is refused with a reason. */
	assert_int_equal(uns_key_parse(&k, "-----BEGIN PUBLIC KEY-----\nxx\n",
	                               30, why, sizeof(why)),
	                 UNS_EINVAL);
	assert_non_null(strstr(why, "not a key"));
	assert_int_equal(
	    uns_key_read_file(&k, "/nonexistent/key.pem", why, sizeof(why)),
	    UNS_EIO);
	assert_non_null(strstr(why, "/nonexistent/key.pem"));
	free(pubpem);
	uns_key_free(k);
	uns_key_free(priv);
	uns_key_free(pub);
	uns_key_free(rsa);
	uns_key_free(rsapub);
}

static void
t_random(void **state)
{
	uint8_t a[32] = {0}, b[32] = {0}, zero[32] = {0};
	static uint8_t big[5000];

	(void)state;
	assert_int_equal(uns_random(a, sizeof(a)), UNS_OK);
	assert_int_equal(uns_random(b, sizeof(b)), UNS_OK);
	assert_memory_not_equal(a, b, 32);
	assert_memory_not_equal(a, zero, 32);
	/* Over the DRBG's per-call maximum (1024 bytes). */
	assert_int_equal(uns_random(big, sizeof(big)), UNS_OK);
	assert_memory_not_equal(big + 4000, zero, 32);
	assert_true(uns_equal_ct(a, a, 32));
	assert_false(uns_equal_ct(a, b, 32));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_sha256_hmac),
	    cmocka_unit_test(t_hkdf),
	    cmocka_unit_test(t_pbkdf2),
	    cmocka_unit_test(t_secret_hash),
	    cmocka_unit_test(t_gcm),
	    cmocka_unit_test(t_base64url),
	    cmocka_unit_test(t_ecdsa_rfc6979),
	    cmocka_unit_test(t_vapid_rfc8292),
	    cmocka_unit_test(t_ece_rfc8188),
	    cmocka_unit_test(t_webpush_rfc8291),
	    cmocka_unit_test(t_ecdh),
	    cmocka_unit_test(t_keys_pem),
	    cmocka_unit_test(t_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
