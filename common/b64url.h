/*
 * b64url.h — base64url (RFC 4648 §5) without padding: the one encoder and
 * decoder of the tree (JWTs, VAPID keys, Web Push keys, store ids and
 * cursors, fixture tokens). Strict on input: no padding, no whitespace,
 * and the unused low bits of the last character zero, so every byte
 * string has exactly one accepted spelling (an id or a cursor cannot be
 * spelled two ways). Pure functions, no allocation; fuzzed by
 * tests/fuzz/fuzz_b64url.c.
 */
#ifndef UNS_B64URL_H
#define UNS_B64URL_H

#include <stddef.h>
#include <stdint.h>

/* Room encode needs for len bytes, the NUL included. */
#define UNS_B64URL_LEN(len) (((len) + 2) / 3 * 4 + 1)

/* Writes the encoding of data and a NUL to out; returns its length. */
size_t uns_b64url_encode(const void *data, size_t len, char *out);
/* Bytes that n characters decode to (an upper bound for bad input). */
size_t uns_b64url_decoded_len(size_t n);
/* Strict decoding: no padding, no whitespace, zero unused bits. Returns
 * the length, or -1 for bad input or more than cap bytes. */
long uns_b64url_decode(const char *s, size_t n, uint8_t *out, size_t cap);

#endif /* UNS_B64URL_H */
