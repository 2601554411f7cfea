/*
 * hint_wire.c — see hint_wire.h.
 */
#include <stdio.h>
#include <string.h>

#include "fnv.h"
#include "hint_wire.h"

size_t
uns_hint_encode(const char *user, const char *host, uint64_t head, int taps,
                uint8_t *out, size_t cap)
{
	size_t ul = strlen(user), hl = strlen(host);
	if (ul == 0 || hl == 0 || ul >= UNS_HINT_FIELD_MAX ||
	    hl >= UNS_HINT_FIELD_MAX || cap < UNS_HINT_HEADER + ul + hl) {
		return 0;
	}
	out[0] = UNS_HINT_VERSION;
	out[1] = taps ? 1 : 0;
	for (int i = 0; i < 8; i++) {
		out[2 + i] = (uint8_t)(head >> (56 - 8 * i));
	}
	out[10] = (uint8_t)(ul >> 8);
	out[11] = (uint8_t)ul;
	memcpy(out + UNS_HINT_HEADER, user, ul);
	memcpy(out + UNS_HINT_HEADER + ul, host, hl);
	return UNS_HINT_HEADER + ul + hl;
}

/* A field of n bytes at p: not empty, fits with its NUL, no NUL inside. */
static int
field_ok(const uint8_t *p, size_t n)
{
	return n > 0 && n < UNS_HINT_FIELD_MAX && memchr(p, 0, n) == NULL;
}

uns_err
uns_hint_decode(const void *data, size_t len, uns_hint_msg *m)
{
	const uint8_t *b = data;
	if (b == NULL || len < UNS_HINT_HEADER || b[0] != UNS_HINT_VERSION ||
	    (b[1] & ~1u) != 0) {
		return UNS_EINVAL;
	}
	size_t ul = (size_t)b[10] << 8 | b[11];
	if (ul > len - UNS_HINT_HEADER) {
		return UNS_EINVAL;
	}
	size_t hl = len - UNS_HINT_HEADER - ul;
	const uint8_t *user = b + UNS_HINT_HEADER, *host = user + ul;
	if (!field_ok(user, ul) || !field_ok(host, hl)) {
		return UNS_EINVAL;
	}
	uint64_t head = 0;
	for (int i = 0; i < 8; i++) {
		head = head << 8 | b[2 + i];
	}
	m->head = head;
	m->taps = b[1] & 1;
	memcpy(m->user, user, ul);
	m->user[ul] = '\0';
	memcpy(m->host, host, hl);
	m->host[hl] = '\0';
	return UNS_OK;
}

void
uns_hint_subject(const char *user, char out[UNS_HINT_SUBJECT_MAX])
{
	unsigned bucket =
	    (unsigned)(uns_fnv_str(UNS_FNV_OFFSET, user) % UNS_HINT_BUCKETS);
	snprintf(out, UNS_HINT_SUBJECT_MAX, "uns.feed.%u", bucket);
}
