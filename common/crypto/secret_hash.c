/*
 * secret_hash.c — app secrets (crypto.h): the one hash `unsctl app` writes
 * into apps.conf and the one check the token endpoint makes.
 *
 * Chosen: PBKDF2-HMAC-SHA-256 from mbedTLS (the KDF Debian's mbedTLS 2.28
 * has; no argon2 or scrypt there) with a random 16-byte salt per secret and
 * the iteration count stored with the hash, so raising the default later
 * leaves old lines valid:
 *
 *     pbkdf2-sha256$ITERATIONS$SALT$HASH     (SALT, HASH: base64url)
 *
 * The older form "sha256:SALT:HEX" (one SHA-256 of the salt's characters
 * then the secret) is still accepted for verification, so an apps.conf
 * written before stays valid; `unsctl app` writes only the new form.
 * A check runs in about the same time whether the hash matches or not; an
 * unknown app is checked against no hash at the default cost (verify with
 * hash NULL), so a caller cannot tell apps that exist by timing.
 *
 * Measured on the development machine (2 cores, loaded): the default of
 * 100,000 iterations is ~45 ms of CPU per check; a token is asked for
 * once per token lifetime, not per call.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "crypto.h"

#define PREFIX     "pbkdf2-sha256$"
#define OLD_PREFIX "sha256:"
#define SALT_LEN   16
#define MAX_ITER   100000000u

/* "ITER$" at s: the count, s moved past the '$'; 0 when malformed. */
static uint32_t
parse_iterations(const char **s)
{
	uint64_t v = 0;
	const char *p = *s;

	while (*p >= '0' && *p <= '9' && v <= MAX_ITER) {
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	if (p == *s || *p != '$' || v == 0 || v > MAX_ITER || **s == '0') {
		return 0;
	}
	*s = p + 1;
	return (uint32_t)v;
}

typedef struct parsed {
	uint32_t iterations;
	uint8_t salt[64];
	size_t salt_len;
	uint8_t hash[UNS_SHA256_LEN];
} parsed;

/* The new form into *p; UNS_EINVAL when it is not one. */
static uns_err
parse_pbkdf2(const char *s, parsed *p)
{
	const char *dollar;
	long n;

	if (strncmp(s, PREFIX, strlen(PREFIX)) != 0) {
		return UNS_EINVAL;
	}
	s += strlen(PREFIX);
	if ((p->iterations = parse_iterations(&s)) == 0 ||
	    (dollar = strchr(s, '$')) == NULL) {
		return UNS_EINVAL;
	}
	n = uns_b64url_decode(s, (size_t)(dollar - s), p->salt,
	                      sizeof(p->salt));
	if (n < 8) {
		return UNS_EINVAL;
	}
	p->salt_len = (size_t)n;
	s = dollar + 1;
	n = uns_b64url_decode(s, strlen(s), p->hash, sizeof(p->hash));
	return n == UNS_SHA256_LEN ? UNS_OK : UNS_EINVAL;
}

/* The old form: salt characters, then 64 hex digits. */
static uns_err
parse_old(const char *s, const char **salt, size_t *salt_len, const char **hex)
{
	const char *colon;

	if (strncmp(s, OLD_PREFIX, strlen(OLD_PREFIX)) != 0) {
		return UNS_EINVAL;
	}
	s += strlen(OLD_PREFIX);
	if ((colon = strchr(s, ':')) == NULL || strlen(colon + 1) != 64 ||
	    strspn(colon + 1, "0123456789abcdef") != 64) {
		return UNS_EINVAL;
	}
	*salt = s;
	*salt_len = (size_t)(colon - s);
	*hex = colon + 1;
	return UNS_OK;
}

uns_err
uns_secret_hash(const char *secret, uint32_t iterations,
                char out[UNS_SECRET_HASH_MAX])
{
	uint8_t salt[SALT_LEN], hash[UNS_SHA256_LEN];
	char salt64[UNS_B64URL_LEN(SALT_LEN)];
	char hash64[UNS_B64URL_LEN(UNS_SHA256_LEN)];
	uns_err err;

	if (secret == NULL || iterations == 0 || iterations > MAX_ITER) {
		return UNS_EINVAL;
	}
	if ((err = uns_random(salt, sizeof(salt))) != UNS_OK ||
	    (err = uns_pbkdf2_sha256(secret, strlen(secret), salt, sizeof(salt),
	                             iterations, hash, sizeof(hash))) !=
	        UNS_OK) {
		return err;
	}
	uns_b64url_encode(salt, sizeof(salt), salt64);
	uns_b64url_encode(hash, sizeof(hash), hash64);
	uns_wipe(hash, sizeof(hash));
	snprintf(out, UNS_SECRET_HASH_MAX, PREFIX "%" PRIu32 "$%s$%s",
	         iterations, salt64, hash64);
	return UNS_OK;
}

uns_err
uns_secret_hash_check(const char *hash)
{
	parsed p;
	const char *salt, *hex;
	size_t salt_len;

	if (hash == NULL || strlen(hash) >= UNS_SECRET_HASH_MAX) {
		return UNS_EINVAL;
	}
	if (parse_pbkdf2(hash, &p) == UNS_OK ||
	    parse_old(hash, &salt, &salt_len, &hex) == UNS_OK) {
		return UNS_OK;
	}
	return UNS_EINVAL;
}

/* SHA-256(salt ‖ secret) in hex against want (64 hex digits). */
static bool
verify_old(const char *salt, size_t salt_len, const char *want,
           const char *secret)
{
	uint8_t digest[UNS_SHA256_LEN];
	char computed[2 * UNS_SHA256_LEN + 1];
	size_t n = strlen(secret);
	char *buf = malloc(salt_len + n + 1);
	bool ok;

	if (buf == NULL) {
		return false;
	}
	memcpy(buf, salt, salt_len);
	memcpy(buf + salt_len, secret, n);
	ok = uns_sha256(buf, salt_len + n, digest) == UNS_OK;
	uns_wipe(buf, salt_len + n);
	free(buf);
	for (size_t i = 0; i < sizeof(digest); i++) {
		snprintf(computed + 2 * i, 3, "%02x", digest[i]);
	}
	return ok && uns_equal_ct(computed, want, 2 * UNS_SHA256_LEN);
}

bool
uns_secret_verify(const char *hash, const char *secret)
{
	static const uint8_t none_salt[SALT_LEN];
	parsed p = {.iterations = UNS_SECRET_ITERATIONS, .salt_len = SALT_LEN};
	uint8_t computed[UNS_SHA256_LEN];
	const char *salt, *hex;
	size_t salt_len;
	bool known = hash != NULL && strlen(hash) < UNS_SECRET_HASH_MAX;

	if (secret == NULL) {
		return false;
	}
	if (known && parse_old(hash, &salt, &salt_len, &hex) == UNS_OK) {
		return verify_old(salt, salt_len, hex, secret);
	}
	known = known && parse_pbkdf2(hash, &p) == UNS_OK;
	if (!known) {
		memcpy(p.salt, none_salt, sizeof(none_salt));
	}
	bool match = uns_pbkdf2_sha256(secret, strlen(secret), p.salt,
	                               p.salt_len, p.iterations, computed,
	                               sizeof(computed)) == UNS_OK &&
	             uns_equal_ct(computed, p.hash, sizeof(computed));
	uns_wipe(computed, sizeof(computed));
	return known && match;
}
