/*
 * fnv.h — FNV-1a, the hash of the server's small tables (caps, long-poll
 * waits, the handshake guard): a byte at a time, no setup, good enough
 * spread for keys that are ids and addresses. Header-only.
 */
#ifndef UNS_FNV_H
#define UNS_FNV_H

#include <stddef.h>
#include <stdint.h>

#define UNS_FNV_OFFSET 1469598103934665603ULL

/* h folded with n bytes of p; start from UNS_FNV_OFFSET. */
static inline uint64_t
uns_fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h = (h ^ b[i]) * 1099511628211ULL;
	}
	return h;
}

/* h folded with the bytes of the string s. */
static inline uint64_t
uns_fnv_str(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	}
	return h;
}

#endif /* UNS_FNV_H */
