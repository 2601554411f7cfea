/*
 * jwt.h — JSON Web Tokens (RFC 7519, compact JWS of RFC 7515): verify the
 * bearer tokens the server receives, and mint tokens for development and
 * tests.
 *
 * Conventions:
 *  1. Every function returns a uns_err; UNS_OK (0) is success. Results
 *     travel through out-parameters, written only on success.
 *  2. `why` may be NULL (whylen is then ignored). Otherwise it receives a
 *     NUL-terminated, lowercase reason without a full stop, e.g. "token
 *     expired 30 s ago"; it is set to "" on success. Reasons never contain
 *     key material; they may quote a token's kid or alg (printable ASCII).
 *  3. A token that is malformed, unsigned, wrongly signed, expired or not
 *     for us gives UNS_UNAUTHENTICATED. UNS_EINVAL is a bad argument (a
 *     NULL, a short secret, a key that is not of a supported kind),
 *     UNS_EIO a file that cannot be read, UNS_ENOMEM out of memory and
 *     UNS_INTERNAL a failure inside mbedTLS.
 *  4. Exactly three algorithms exist: HS256 (HMAC-SHA-256, secret of at
 *     least 32 bytes), ES256 (ECDSA P-256 + SHA-256, signature raw r||s)
 *     and RS256 (RSASSA-PKCS1-v1_5 + SHA-256, 2048 to 4096 bit keys).
 *     Every other alg, "none" included, is refused. A key serves only the
 *     algorithm of its type: a public key is never an HMAC secret.
 *  5. Thread safety: add every key before sharing a uns_jwt_keys; after
 *     that any number of threads may call uns_jwt_verify on it at once.
 */
#ifndef UNS_JWT_H
#define UNS_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"

#define UNS_JWT_MAX_AUD 8   /* audiences one token may name */
#define UNS_JWT_MAX_SIG 512 /* signature bytes (RSA-4096) */

/* ---- verification keys ------------------------------------------------ */

typedef struct uns_jwt_keys uns_jwt_keys;

/* An empty key set. */
uns_err uns_jwt_keys_alloc(uns_jwt_keys **out);
/* Frees k and its keys; NULL is fine. */
void uns_jwt_keys_free(uns_jwt_keys *k);

/*
 * Adds an HS256 secret (copied). kid NULL means the key has no id (see
 * uns_jwt_verify for how ids select keys); otherwise 1 to 128 printable
 * ASCII characters. A secret shorter than 32 bytes is UNS_EINVAL.
 */
uns_err uns_jwt_keys_add_secret(uns_jwt_keys *k, const char *kid,
                                const uint8_t *secret, size_t len);

/*
 * Adds a public key from PEM text (len bytes, need not be NUL-terminated):
 * a SubjectPublicKeyInfo or PKCS#1 RSA public key, or a certificate whose
 * key is taken. EC P-256 keys serve ES256, RSA keys of 2048 to 4096 bits
 * RS256; anything else, and private keys, are UNS_EINVAL.
 */
uns_err uns_jwt_keys_add_pem(uns_jwt_keys *k, const char *kid, const char *pem,
                             size_t len);

/*
 * Adds the key in a file: either PEM (as uns_jwt_keys_add_pem) or an HS256
 * secret file (see uns_jwt_read_secret_file), told apart by the "hs256:"
 * prefix. Files over 1 MiB are refused. why names the file.
 */
uns_err uns_jwt_keys_add_file(uns_jwt_keys *k, const char *kid,
                              const char *path, char *why, size_t whylen);

/*
 * Adds the key a config names (jwt_key): "hs256:FILE" is an HS256 secret
 * file (uns_jwt_read_secret_file), anything else a file for
 * uns_jwt_keys_add_file. why names the file.
 */
uns_err uns_jwt_keys_add_spec(uns_jwt_keys *k, const char *spec, char *why,
                              size_t whylen);

/*
 * Reads an HS256 secret file: an optional "hs256:" prefix, then the secret
 * as raw bytes; one final "\n" or "\r\n" is not part of it. The bytes are
 * used as they are (hex text is not decoded: "unsctl token keygen --hs256"
 * writes 64 random hex digits, a 64-byte secret). Fewer than 32 bytes is
 * UNS_EINVAL. *out is malloc'd (the caller frees it), *len its length.
 */
uns_err uns_jwt_read_secret_file(const char *path, uint8_t **out, size_t *len,
                                 char *why, size_t whylen);

/* ---- claims and verification -------------------------------------------- */

typedef struct uns_jwt_claims {
	char sub[257];         /* user id ("" if absent) */
	char app_id[257];      /* azp, else appid ("" if absent) */
	char iss[257];         /* "" if absent */
	char aud[257];         /* the audience that matched (the first one when
	                          the policy names none); "" if absent */
	char scopes[1024];     /* scp (string or array) and roles (array or
	                          string), words joined by single spaces */
	char host[257];        /* "uns_host": the targetHostName a user token is
	                          for ("" if absent) */
	int64_t exp, nbf, iat; /* Unix seconds, 0 when absent */
} uns_jwt_claims;

typedef struct uns_jwt_policy {
	const char *audience;   /* required aud (the string or an array
	                           member); NULL = not checked */
	const char *issuer;     /* required iss; NULL = not checked */
	int64_t now;            /* Unix seconds */
	int skew_seconds;       /* allowed clock skew for exp and nbf; < 0
	                           means the default, 60 */
	size_t max_token_bytes; /* 0 means 8192 */
} uns_jwt_policy;

/*
 * Parses and verifies token (NUL-terminated) and fills *out with its
 * claims. In order: size, shape (uns_jwt_parse), signature
 * (uns_jwt_verify_signature), exp (required) and nbf (optional) against
 * p->now with the skew, iss, aud, and that sub or azp/appid is present.
 * Every failure of the token is UNS_UNAUTHENTICATED with the first reason
 * found, e.g. "token expired 30 s ago", "signature does not verify",
 * "unknown key id \"x\"", "alg none is not accepted", "audience mismatch",
 * "malformed token: header is not base64url".
 */
uns_err uns_jwt_verify(const uns_jwt_keys *k, const char *token,
                       const uns_jwt_policy *p, uns_jwt_claims *out, char *why,
                       size_t whylen);

/* ---- the parser (no crypto, no I/O) ------------------------------------- */

typedef struct uns_jwt_parsed {
	char alg[16];  /* "HS256", "ES256" or "RS256" */
	char kid[129]; /* "" when the header has none */
	int has_exp, has_nbf, has_iat;
	uns_jwt_claims claims; /* aud: the first audience */
	char auds[UNS_JWT_MAX_AUD][257];
	size_t n_aud;
	const char *signing_input; /* header "." payload, inside the token */
	size_t signing_input_len;
	uint8_t sig[UNS_JWT_MAX_SIG];
	size_t sig_len;
} uns_jwt_parsed;

/*
 * Splits token (len bytes; NUL-terminated or not) into its three segments,
 * decodes them as strict base64url (no padding, no whitespace, canonical
 * final bits), reads header and payload as JSON objects with duplicate
 * keys refused, and checks their shapes: alg one of the three; typ, when
 * present, JWT or at+jwt; kid a string of 1..128 printable characters; no
 * crit; sub, iss, azp, appid, uns_host strings of at most 256 bytes; aud a
 * string or an array of at most UNS_JWT_MAX_AUD strings; exp, nbf, iat
 * numbers (integer or not, truncated) from 0 to year 9999; scp and roles
 * strings or arrays of strings. Unknown claims are ignored. Claims are not
 * checked against time or policy. out->signing_input points into token,
 * so out is valid only as long as token is. Malformed input gives
 * UNS_UNAUTHENTICATED.
 */
uns_err uns_jwt_parse(const char *token, size_t len, uns_jwt_parsed *out,
                      char *why, size_t whylen);

/*
 * Checks the signature of a parsed token. A token with a kid is checked
 * against the keys added with that kid, or, when there are none, against
 * the keys added without a kid; a token without a kid against every key.
 * Only keys of the token's algorithm are tried; the token verifies when
 * one of them verifies it.
 */
uns_err uns_jwt_verify_signature(const uns_jwt_keys *k, const uns_jwt_parsed *p,
                                 char *why, size_t whylen);

/* ---- minting (development and tests) ------------------------------------ */

/*
 * Signs the claims and writes the compact token to *out (malloc'd, the
 * caller frees it). alg is "HS256" (key is the secret, at least 32 bytes),
 * "ES256" or "RS256" (key is a private key PEM: EC P-256 or RSA 2048 to
 * 4096 bits), or NULL to take ES256 or RS256 from the PEM's key type. kid
 * NULL writes no kid. The header is {"alg","typ":"JWT","kid"}; the payload
 * holds the non-empty strings (app_id as azp, scopes as scp, host as
 * uns_host) and the non-zero times, so tests can mint incomplete tokens.
 * ES256 signatures are deterministic (RFC 6979).
 */
uns_err uns_jwt_mint(const char *alg, const char *kid, const uint8_t *key,
                     size_t key_len, const uns_jwt_claims *claims, char **out,
                     char *why, size_t whylen);

/*
 * A new EC P-256 key pair as PEM text: *priv (SEC1 "EC PRIVATE KEY") and
 * *pub (SubjectPublicKeyInfo), both malloc'd and NUL-terminated.
 */
uns_err uns_jwt_keygen_es256(char **priv, char **pub, char *why, size_t whylen);

/* ---- CLI entry ----------------------------------------------------------- */

/* "unsctl token …" (tools/unsctl/unsctl_token.c); argv[0] is "token". Returns
 * the exit status: 0 done, 1 failed, 2 usage error. */
int unsctl_token_main(int argc, char **argv);

#endif /* UNS_JWT_H */
