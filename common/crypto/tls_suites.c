/*
 * tls_suites.c — the TLS cipher suites the RPC port offers (issue 14).
 *
 * NNG 1.5 configures mbedTLS 2.28 itself and has no cipher suite setting;
 * each of its configurations takes mbedTLS's process-wide default list
 * (mbedtls_ssl_list_ciphersuites(), which mbedtls_ssl_config_defaults
 * installs by pointer). That list is the one place left to choose from:
 * it is filtered here, in place, once, before the first handshake, down
 * to forward-secret ECDHE key exchange with an AEAD cipher of full tag
 * length (AES-GCM, AES-CCM, ChaCha20-Poly1305). Gone: every CBC suite
 * (so every SHA-1 MAC), CCM_8, Camellia and ARIA, static RSA, DHE and
 * PSK. NNG already refuses TLS below 1.2; mbedTLS 2.28 speaks no 1.3.
 *
 * Rejected: a TLS engine of our own registered with NNG (a few hundred
 * lines to set one list), and building mbedTLS with
 * MBEDTLS_SSL_CIPHERSUITES (Debian's package is what we link).
 */
#include <stdint.h>

#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>

#include "crypto.h"

/* What a suite may use: tables, one row per allowed choice. */
static const mbedtls_key_exchange_type_t kx_allowed[] = {
    MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA,
    MBEDTLS_KEY_EXCHANGE_ECDHE_RSA,
};
static const mbedtls_cipher_type_t ciphers_allowed[] = {
    MBEDTLS_CIPHER_AES_128_GCM,       MBEDTLS_CIPHER_AES_256_GCM,
    MBEDTLS_CIPHER_AES_128_CCM,       MBEDTLS_CIPHER_AES_256_CCM,
    MBEDTLS_CIPHER_CHACHA20_POLY1305,
};

#define IN(tab, v)                                                             \
	in_table((const int *)(tab), sizeof(tab) / sizeof((tab)[0]), (int)(v))

static int
in_table(const int *tab, size_t n, int v)
{
	for (size_t i = 0; i < n; i++) {
		if (tab[i] == v) {
			return 1;
		}
	}
	return 0;
}

int
uns_tls_suite_allowed(int id)
{
	const mbedtls_ssl_ciphersuite_t *cs =
	    mbedtls_ssl_ciphersuite_from_id(id);
	return cs != NULL && IN(kx_allowed, cs->key_exchange) &&
	       IN(ciphers_allowed, cs->cipher) &&
	       !(cs->flags & MBEDTLS_CIPHERSUITE_SHORT_TAG);
}

uns_err
uns_tls_restrict_suites(void)
{
	/* The list is mbedTLS's own static array; const only to callers
	 * that should not change it, which is the point here. */
	int *list = (int *)(uintptr_t)mbedtls_ssl_list_ciphersuites();
	size_t kept = 0;

	for (size_t i = 0; list[i] != 0; i++) {
		if (uns_tls_suite_allowed(list[i])) {
			list[kept++] = list[i];
		}
	}
	list[kept] = 0;
	return kept > 0 ? UNS_OK : UNS_INTERNAL;
}
