/*
 * b64url.c — see b64url.h. Three input bytes make four characters; the
 * decoder shifts six bits at a time into an accumulator and takes a byte
 * out whenever eight are there, so any length that is not 1 mod 4 is a
 * whole number of bytes plus 2 or 4 unused bits, which must be zero.
 * Rejected: a lookup table of 256 entries for decoding (the range checks
 * are as fast at the sizes we decode, tokens and ids, and need no init).
 */
#include "b64url.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
value_of(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	return c == '-' ? 62 : c == '_' ? 63 : -1;
}

size_t
uns_b64url_decoded_len(size_t n)
{
	return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
}

long
uns_b64url_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	size_t bits = 0, o = 0;

	if (n % 4 == 1 || uns_b64url_decoded_len(n) > cap) {
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		int v = value_of((unsigned char)s[i]);
		if (v < 0) {
			return -1;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return acc == 0 ? (long)o : -1;
}

size_t
uns_b64url_encode(const void *in, size_t len, char *out)
{
	const uint8_t *data = in;
	size_t o = 0, i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16 |
		             (uint32_t)data[i + 1] << 8 | data[i + 2];
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)data[i] << 16 |
		             (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0);
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		if (i + 1 < len) {
			out[o++] = alphabet[(v >> 6) & 63];
		}
	}
	out[o] = '\0';
	return o;
}
