/*
 * crypto.h — every cryptographic primitive the server uses, on mbedTLS
 * 2.28, behind one small interface: hashes and MACs (SHA-256,
 * HMAC-SHA-256, HKDF-SHA-256), AES-128-GCM, P-256 (ECDH, deterministic
 * ECDSA with raw r||s signatures), signing keys read from PEM (ES256 and
 * RS256 for JWTs), random bytes, strict base64url, the two content
 * codings of Web Push (RFC 8188 aes128gcm and the RFC 8291 key schedule),
 * and what is made of these: app secret hashes (secret_hash.c) and the
 * VAPID key file (vapid.c).
 *
 * Conventions:
 *  1. Every function returns a uns_err; results go to out-parameters,
 *     written only on success. UNS_EINVAL is a bad argument or input
 *     (a point not on the curve, a key that does not parse),
 *     UNS_UNAUTHENTICATED a signature or GCM tag that does not verify,
 *     UNS_ENOMEM out of memory, UNS_INTERNAL a failure inside mbedTLS.
 *     mbedTLS codes become uns_err here and nowhere else.
 *  2. Raw P-256 keys are 32-byte big-endian scalars and 65-byte
 *     uncompressed points (04||X||Y), the forms of Web Push and JWK.
 *  3. All functions are thread-safe. A uns_key serialises its own
 *     operations (mbedTLS caches tables inside key contexts).
 *  4. `why`, where present, may be NULL; it receives a lowercase reason
 *     without key material.
 */
#ifndef UNS_SERVER_CRYPTO_H
#define UNS_SERVER_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"

#define UNS_SHA256_LEN   32
#define UNS_P256_PRIVLEN 32
#define UNS_P256_PUBLEN  65
#define UNS_P256_SIGLEN  64
#define UNS_GCM_TAGLEN   16
#define UNS_KEY_MAX_SIG  512 /* RSA-4096 */

/* ---- basics ------------------------------------------------------------- */

/* len bytes from a CTR-DRBG seeded once per process from the OS. */
uns_err uns_random(void *buf, size_t len);

uns_err uns_sha256(const void *data, size_t len, uint8_t out[32]);
uns_err uns_hmac_sha256(const void *key, size_t key_len, const void *data,
                        size_t len, uint8_t out[32]);
/* RFC 5869 with SHA-256; out_len at most 255 * 32. */
uns_err uns_hkdf_sha256(const void *salt, size_t salt_len, const void *ikm,
                        size_t ikm_len, const void *info, size_t info_len,
                        uint8_t *out, size_t out_len);
/* PBKDF2-HMAC-SHA-256 (RFC 8018 §5.2); iterations at least 1. */
uns_err uns_pbkdf2_sha256(const void *password, size_t password_len,
                          const void *salt, size_t salt_len,
                          uint32_t iterations, uint8_t *out, size_t out_len);

/* Equality in time independent of where a and b differ. */
bool uns_equal_ct(const void *a, const void *b, size_t len);
/* Overwrites len bytes with zeros in a way the compiler keeps. */
void uns_wipe(void *p, size_t len);

/* AES-128-GCM, no additional data. seal writes len + 16 bytes (ciphertext
 * then tag); open takes the same and writes len - 16 bytes, or returns
 * UNS_UNAUTHENTICATED when the tag does not match (out is then zeroed). */
uns_err uns_aes128gcm_seal(const uint8_t key[16], const uint8_t nonce[12],
                           const uint8_t *in, size_t len, uint8_t *out);
uns_err uns_aes128gcm_open(const uint8_t key[16], const uint8_t nonce[12],
                           const uint8_t *in, size_t len, uint8_t *out);

/* ---- raw P-256 --------------------------------------------------------------
 */

uns_err uns_p256_keygen(uint8_t priv[32], uint8_t pub[65]);
/* The public point of a private scalar (UNS_EINVAL if out of range). */
uns_err uns_p256_public(const uint8_t priv[32], uint8_t pub[65]);
/* UNS_OK when pub is an uncompressed point on the curve. */
uns_err uns_p256_check_public(const uint8_t *pub, size_t len);
/* The X coordinate of priv * peer (peer checked first). */
uns_err uns_p256_ecdh(const uint8_t priv[32], const uint8_t peer[65],
                      uint8_t secret[32]);
/* RFC 6979 deterministic ECDSA over a SHA-256 hash; raw r||s. */
uns_err uns_p256_sign(const uint8_t priv[32], const uint8_t hash[32],
                      uint8_t sig[64]);
uns_err uns_p256_verify(const uint8_t pub[65], const uint8_t hash[32],
                        const uint8_t sig[64]);

/* ---- signing keys (PEM or DER) ----------------------------------------------
 */

typedef struct uns_key uns_key;

typedef enum uns_key_type {
	UNS_KEY_P256, /* EC on secp256r1: ES256 */
	UNS_KEY_RSA,  /* RSA 2048..4096 bits: RS256 */
} uns_key_type;

/*
 * Parses a private key (SEC1, PKCS#8 unencrypted, PKCS#1), a public key
 * (SubjectPublicKeyInfo, PKCS#1) or a certificate (its key is taken), as
 * PEM or DER; text need not be NUL-terminated. Keys of any other kind
 * (other curves, RSA under 2048 or over 4096 bits) are UNS_EINVAL.
 */
uns_err uns_key_parse(uns_key **out, const void *text, size_t len, char *why,
                      size_t whylen);
/* Parses a file of at most 1 MiB; why names the file. */
uns_err uns_key_read_file(uns_key **out, const char *path, char *why,
                          size_t whylen);
/* A fresh P-256 key pair. */
uns_err uns_key_gen_p256(uns_key **out);
/* A fresh RSA key (2048..4096 bits, e = 65537); about 0.5 s for 2048. */
uns_err uns_key_gen_rsa(uns_key **out, unsigned bits);
/* A P-256 key from a raw private scalar. */
uns_err uns_key_from_p256(uns_key **out, const uint8_t priv[32]);
void uns_key_free(uns_key *k);

uns_key_type uns_key_type_of(const uns_key *k);
bool uns_key_is_private(const uns_key *k);
/* Signature length: 64 for P-256 (r||s), the modulus length for RSA. */
size_t uns_key_sig_len(const uns_key *k);
/* The uncompressed public point of a P-256 key. */
uns_err uns_key_p256_public(const uns_key *k, uint8_t pub[65]);
/* PEM text, malloc'd: the private key (SEC1 or PKCS#1) when private is
 * true and the key has one, else the SubjectPublicKeyInfo. */
uns_err uns_key_write_pem(const uns_key *k, bool private_part, char **out);

/*
 * Signs SHA-256(data): ES256 (deterministic ECDSA, raw r||s) or RS256
 * (RSASSA-PKCS1-v1_5). sig has room for cap bytes (uns_key_sig_len).
 */
uns_err uns_key_sign_sha256(uns_key *k, const void *data, size_t len,
                            uint8_t *sig, size_t cap, size_t *sig_len);
/* UNS_OK when sig is k's signature of SHA-256(data), else
 * UNS_UNAUTHENTICATED (a malformed signature included). */
uns_err uns_key_verify_sha256(uns_key *k, const void *data, size_t len,
                              const uint8_t *sig, size_t sig_len);

/* ---- RFC 8188 aes128gcm content coding
 * ---------------------------------------- */

#define UNS_ECE_SALTLEN 16
#define UNS_ECE_HEADER  21 /* salt(16) rs(4) idlen(1), then keyid */

/*
 * Encrypts plaintext into one record: header (salt, rs, keyid) then
 * ciphertext of plaintext || 0x02 and the tag. rs must exceed
 * len + 17. out must hold UNS_ECE_HEADER + keyid_len + len + 17 bytes.
 */
uns_err uns_ece_encrypt(const uint8_t *ikm, size_t ikm_len,
                        const uint8_t salt[16], uint32_t rs,
                        const uint8_t *keyid, size_t keyid_len,
                        const uint8_t *plaintext, size_t len, uint8_t *out,
                        size_t cap, size_t *out_len);
/*
 * Decrypts a body of one or more records with ikm (for Web Push, pass
 * ikm NULL and use uns_webpush_decrypt). Padding is removed. Returns
 * UNS_EINVAL for a malformed body, UNS_UNAUTHENTICATED for a bad tag.
 */
uns_err uns_ece_decrypt(const uint8_t *ikm, size_t ikm_len, const uint8_t *body,
                        size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* ---- RFC 8291 Web Push message encryption
 * --------------------------------------- */

#define UNS_WEBPUSH_AUTHLEN  16
#define UNS_WEBPUSH_OVERHEAD (UNS_ECE_HEADER + 65 + 17) /* 103 */
#define UNS_WEBPUSH_RS       4096
/* Push services must accept bodies of 4096 bytes (RFC 8030 §7.2). */
#define UNS_WEBPUSH_MAX_PLAINTEXT (4096 - UNS_WEBPUSH_OVERHEAD) /* 3993 */

/*
 * Encrypts plaintext to a browser subscription (ua_public: p256dh, auth:
 * the 16-byte secret). as_private and salt are the sender's ephemeral key
 * and salt; NULL makes fresh ones (always, outside known-answer tests).
 * out needs len + UNS_WEBPUSH_OVERHEAD bytes; len is at most
 * UNS_WEBPUSH_MAX_PLAINTEXT.
 */
uns_err uns_webpush_encrypt(const uint8_t ua_public[65], const uint8_t auth[16],
                            const uint8_t *plaintext, size_t len,
                            const uint8_t *as_private, const uint8_t *salt,
                            uint8_t *out, size_t cap, size_t *out_len);
/* The browser's side, for tests and reference receivers. */
uns_err uns_webpush_decrypt(const uint8_t ua_private[32],
                            const uint8_t auth[16], const uint8_t *body,
                            size_t len, uint8_t *out, size_t cap,
                            size_t *out_len);

/* ---- app secrets (secret_hash.c) ----------------------------------------- */

#define UNS_SECRET_HASH_MAX   128    /* with the NUL; the longest form fits */
#define UNS_SECRET_ITERATIONS 100000 /* PBKDF2 rounds a new hash gets */
#define UNS_SECRET_MIN_LEN    16     /* unsctl's default floor for a secret */

/* "pbkdf2-sha256$ITERATIONS$SALT$HASH" of secret with a fresh random salt
 * into out. UNS_EINVAL for no secret or iterations out of 1..10^8. */
uns_err uns_secret_hash(const char *secret, uint32_t iterations,
                        char out[UNS_SECRET_HASH_MAX]);
/* UNS_OK when hash is a form uns_secret_verify knows: the PBKDF2 form
 * above, or the older "sha256:SALT:HEX"; else UNS_EINVAL. */
uns_err uns_secret_hash_check(const char *hash);
/* Whether secret matches hash, in time that does not depend on where they
 * differ. hash NULL (an unknown app) costs what a PBKDF2 check at the
 * default count costs and is false. */
bool uns_secret_verify(const char *hash, const char *secret);

/*
 * The VAPID key at path (vapid.c): read it, or when make is true and the
 * file does not exist, make a P-256 key there (mode 0600, parent directory
 * made). *public_b64 (malloc'd) is the uncompressed public key in
 * base64url, the applicationServerKey that browsers pass to
 * pushManager.subscribe().
 */
uns_err uns_vapid_key(const char *path, bool make, char **public_b64, char *why,
                      size_t whylen);

/* ---- TLS (tls_suites.c) ------------------------------------------------ */

/*
 * Narrows the TLS cipher suites every mbedTLS configuration in the process
 * offers (NNG's included) to ECDHE with AES-GCM, AES-CCM (full tag) or
 * ChaCha20-Poly1305: no CBC or SHA-1 MAC, no CCM_8, no Camellia or ARIA,
 * no static RSA, DHE or PSK. Call once, before the first TLS handshake;
 * idempotent. UNS_INTERNAL if no suite is left.
 */
uns_err uns_tls_restrict_suites(void);
/* 1 when the suite with this IANA id is one uns_tls_restrict_suites keeps. */
int uns_tls_suite_allowed(int id);

/* ---- which TLS check fails (tlscheck.c) ------------------------------- */

/* The DNS names (subjectAltName) of the first certificate in the PEM file
 * path, ", "-separated, into out ("" when it has none). */
uns_err uns_cert_dns_names(const char *path, char *out, size_t cap, char *why,
                           size_t whylen);
/*
 * After a failed dial of tls+tcp://host:port: dials once more and names the
 * check that fails, with the fix, in why: the CA (ca_file), the name
 * (server_name, or host), the dates, or a server that wants a client
 * certificate. UNS_UNAUTHENTICATED with that reason; UNS_OK when every
 * check passes; UNS_UNAVAILABLE when nothing answers; UNS_EINVAL for a
 * file that cannot be read. A diagnosis only: it trusts nothing.
 */
uns_err uns_tls_diagnose(const char *host, const char *port,
                         const char *ca_file, const char *cert_key_file,
                         const char *server_name, char *why, size_t whylen);

#endif /* UNS_SERVER_CRYPTO_H */
