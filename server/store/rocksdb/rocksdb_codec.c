/*
 * rocksdb_codec.c — keys and values of the RocksDB backend (layouts in
 * rocksdb_codec.h).
 *
 * Everything here is pure byte work with no I/O except getrandom(), so the
 * layouts can be tested and fuzzed alone. Decoders check every length and
 * answer UNS_DATA_LOSS for bytes the store did not write; protobuf payloads
 * are unpacked with protobuf-c's default allocator, so callers can hand them
 * out and free them with the generated *_free_unpacked(msg, NULL).
 * The (user, host) hash is FNV-1a 64 with a splitmix64 finaliser: fast,
 * stable across versions and platforms (it is part of the on-disk format),
 * and well mixed in its low bits, which pick the lock stripe. Rejected: a
 * keyed hash (SipHash): keys are not attacker-chosen in a way that matters,
 * since colliding owners only share a bloom prefix and a lock stripe.
 */
#include "rocksdb_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- keys --------------------------------------------------------------- */

static uint64_t
fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h = (h ^ p[i]) * 0x100000001b3ULL;
	}
	return h;
}

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
key_str16(uns_store_key *k, const char *s, size_t n)
{
	k->b[k->len++] = (unsigned char)(n >> 8);
	k->b[k->len++] = (unsigned char)n;
	uns_store_key_bytes(k, s, n);
}

uns_err
uns_store_key_uh(uns_store_key *k, const char *user, const char *host)
{
	if (!uns_store_id_ok(user) || !uns_store_id_ok(host)) {
		return uns_store_seterr(UNS_EINVAL, "bad user or host");
	}
	k->len = UNS_STORE_HASH_LEN;
	key_str16(k, user, strlen(user));
	key_str16(k, host, strlen(host));
	uint64_t h = fnv1a(0xcbf29ce484222325ULL, k->b + UNS_STORE_HASH_LEN,
	                   k->len - UNS_STORE_HASH_LEN);
	uns_store_be64_put(k->b, mix64(h));
	return UNS_OK;
}

void
uns_store_key_bytes(uns_store_key *k, const void *p, size_t n)
{
	/* Callers bound every id (uns_store_id_ok), so this cannot overflow. */
	memcpy(k->b + k->len, p, n);
	k->len += n;
}

void
uns_store_key_u64(uns_store_key *k, uint64_t v)
{
	uns_store_be64_put(k->b + k->len, v);
	k->len += 8;
}

void
uns_store_key_str(uns_store_key *k, const char *s)
{
	uns_store_key_bytes(k, s, strlen(s));
}

uint64_t
uns_store_key_hash(const unsigned char *key)
{
	return uns_store_be64_get(key);
}

void
uns_store_key_successor(const uns_store_key *k, uns_store_key *succ)
{
	*succ = *k;
	while (succ->len > 0 && succ->b[succ->len - 1] == 0xff) {
		succ->len--;
	}
	if (succ->len > 0) {
		succ->b[succ->len - 1]++;
	}
}

static size_t
parse_str16(const unsigned char *p, size_t n, size_t off, const char **s,
            size_t *len)
{
	if (off + 2 > n) {
		return 0;
	}
	*len = ((size_t)p[off] << 8) | p[off + 1];
	if (*len == 0 || *len > UNS_STORE_ID_MAX || off + 2 + *len > n) {
		return 0;
	}
	*s = (const char *)p + off + 2;
	return off + 2 + *len;
}

size_t
uns_store_key_uh_parse(const unsigned char *p, size_t n, const char **user,
                       size_t *ulen, const char **host, size_t *hlen)
{
	size_t off = parse_str16(p, n, UNS_STORE_HASH_LEN, user, ulen);

	return off == 0 ? 0 : parse_str16(p, n, off, host, hlen);
}

/* --- records -------------------------------------------------------------- */

/* Parses "u8 1 ‖ u16 len ‖ user" and returns the offset after it, or 0. */
static size_t
rec_user(const unsigned char *p, size_t n, char user[UNS_STORE_ID_MAX + 1])
{
	const char *u;
	size_t ulen, off;

	if (n < 1 || p[0] != 1 ||
	    (off = parse_str16(p, n, 1, &u, &ulen)) == 0) {
		return 0;
	}
	memcpy(user, u, ulen);
	user[ulen] = '\0';
	return off;
}

static unsigned char *
rec_alloc(const char *user, size_t extra, size_t *len, size_t *off)
{
	size_t ulen = strlen(user);
	unsigned char *p = malloc(3 + ulen + extra);

	if (p != NULL) {
		p[0] = 1;
		p[1] = (unsigned char)(ulen >> 8);
		p[2] = (unsigned char)ulen;
		memcpy(p + 3, user, ulen);
		*off = 3 + ulen;
		*len = 3 + ulen + extra;
	}
	return p;
}

uns_err
uns_store_nrec_encode(const char *user, uint64_t feed_seq,
                      const Uns__V1__Notification *n, unsigned char **out,
                      size_t *len)
{
	size_t psize = uns__v1__notification__get_packed_size(n), off;
	unsigned char *p = rec_alloc(user, 8 + psize, len, &off);

	if (p == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	uns_store_be64_put(p + off, feed_seq);
	uns__v1__notification__pack(n, p + off + 8);
	*out = p;
	return UNS_OK;
}

uns_err
uns_store_nrec_decode(const void *v, size_t len, uns_store_nrec *r)
{
	return uns_store_nrec_decode_with(v, len, NULL, r);
}

uns_err
uns_store_nrec_decode_with(const void *v, size_t len, ProtobufCAllocator *pb,
                           uns_store_nrec *r)
{
	const unsigned char *p = v;
	size_t off = rec_user(p, len, r->user);

	if (off == 0 || off + 8 > len) {
		return uns_store_seterr(UNS_DATA_LOSS,
		                        "bad notification record");
	}
	r->feed_seq = uns_store_be64_get(p + off);
	off += 8;
	r->n = uns__v1__notification__unpack(pb, len - off, p + off);
	if (r->n == NULL) {
		return uns_store_seterr(UNS_DATA_LOSS,
		                        "bad notification protobuf");
	}
	return UNS_OK;
}

void
uns_store_nrec_clear(uns_store_nrec *r)
{
	if (r->n != NULL) {
		uns__v1__notification__free_unpacked(r->n, NULL);
		r->n = NULL;
	}
}

uns_err
uns_store_srec_encode(const char *user, const Uns__V1__Subscription *s,
                      unsigned char **out, size_t *len)
{
	size_t psize = uns__v1__subscription__get_packed_size(s), off;
	unsigned char *p = rec_alloc(user, psize, len, &off);

	if (p == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	uns__v1__subscription__pack(s, p + off);
	*out = p;
	return UNS_OK;
}

uns_err
uns_store_srec_decode(const void *v, size_t len, uns_store_srec *r)
{
	const unsigned char *p = v;
	size_t off = rec_user(p, len, r->user);

	if (off == 0) {
		return uns_store_seterr(UNS_DATA_LOSS,
		                        "bad subscription record");
	}
	r->s = uns__v1__subscription__unpack(NULL, len - off, p + off);
	if (r->s == NULL) {
		return uns_store_seterr(UNS_DATA_LOSS,
		                        "bad subscription protobuf");
	}
	return UNS_OK;
}

void
uns_store_srec_clear(uns_store_srec *r)
{
	if (r->s != NULL) {
		uns__v1__subscription__free_unpacked(r->s, NULL);
		r->s = NULL;
	}
}

/* --- small values --------------------------------------------------------- */

size_t
uns_store_feedval_encode(const uns_store_feedval *f, unsigned char *out)
{
	size_t idlen = strlen(f->id);

	out[0] = (unsigned char)f->removed;
	uns_store_be64_put(out + 1, f->version);
	memcpy(out + 9, f->id, idlen);
	return 9 + idlen;
}

uns_err
uns_store_feedval_decode(const void *v, size_t len, uns_store_feedval *f)
{
	const unsigned char *p = v;

	if (len < 10 || len > UNS_STORE_FEEDVAL_MAX || p[0] > 2) {
		return uns_store_seterr(UNS_DATA_LOSS, "bad feed entry");
	}
	f->removed = (Uns__V1__RemovedReason)p[0];
	f->version = uns_store_be64_get(p + 1);
	memcpy(f->id, p + 9, len - 9);
	f->id[len - 9] = '\0';
	return UNS_OK;
}

size_t
uns_store_histval_encode(const Uns__V1__Notification *n, unsigned char *out)
{
	size_t glen = strnlen(n->group_name, UNS_STORE_ID_MAX);

	out[0] = (unsigned char)n->status;
	out[1] = (unsigned char)n->read_state;
	out[2] = (unsigned char)n->user_action_state;
	uns_store_be64_put(out + 3, (uint64_t)n->expiration_time_ms);
	memcpy(out + 11, n->group_name, glen);
	return 11 + glen;
}

uns_err
uns_store_histval_decode(const void *v, size_t len, uns_store_histval *h)
{
	const unsigned char *p = v;

	if (len < 11 || len > UNS_STORE_HISTVAL_MAX) {
		return uns_store_seterr(UNS_DATA_LOSS, "bad history entry");
	}
	h->status = (Uns__V1__NotificationStatus)p[0];
	h->read_state = (Uns__V1__ReadState)p[1];
	h->user_action_state = (Uns__V1__UserActionState)p[2];
	h->expiration_ms = (int64_t)uns_store_be64_get(p + 3);
	h->group = (const char *)p + 11;
	h->group_len = len - 11;
	return UNS_OK;
}

void
uns_store_metaval_encode(const uns_store_meta *m, unsigned char *out)
{
	uns_store_be64_put(out, m->head);
	for (int i = 0; i < 4; i++) {
		out[8 + i] = (unsigned char)(m->live >> (24 - 8 * i));
	}
	uns_store_be64_put(out + 12, (uint64_t)m->newest);
}

uns_err
uns_store_metaval_decode(const void *v, size_t len, uns_store_meta *m)
{
	const unsigned char *p = v;

	if (len != UNS_STORE_METAVAL_LEN && len != UNS_STORE_METAVAL_LEN_OLD) {
		return uns_store_seterr(UNS_DATA_LOSS, "bad meta entry");
	}
	m->head = uns_store_be64_get(p);
	m->live = 0;
	for (int i = 0; i < 4; i++) {
		m->live = (m->live << 8) | p[8 + i];
	}
	m->newest = len == UNS_STORE_METAVAL_LEN
	                ? (int64_t)uns_store_be64_get(p + 12)
	                : -1;
	return UNS_OK;
}

/* Writes a u16-length-prefixed string; returns the bytes written. */
static size_t
put_str16(unsigned char *p, const char *s)
{
	size_t n = strlen(s);

	p[0] = (unsigned char)(n >> 8);
	p[1] = (unsigned char)n;
	memcpy(p + 2, s, n);
	return 2 + n;
}

/* Reads a u16-length-prefixed string of at most max bytes into out. */
static bool
get_str16(const unsigned char **p, const unsigned char *end, char *out,
          size_t max)
{
	size_t n;

	if (end - *p < 2) {
		return false;
	}
	n = ((size_t)(*p)[0] << 8) | (*p)[1];
	if (n > max || (size_t)(end - *p - 2) < n) {
		return false;
	}
	memcpy(out, *p + 2, n);
	out[n] = '\0';
	*p += 2 + n;
	return true;
}

size_t
uns_store_tapval_encode(const uns_store_tapval *t, unsigned char *out)
{
	unsigned char *p = out;
	size_t idlen = strlen(t->subject);

	*p++ = 1;
	*p++ = (unsigned char)t->flags;
	uns_store_be64_put(p, t->seq);
	uns_store_be64_put(p + 8, (uint64_t)t->due_ms);
	uns_store_be64_put(p + 16, (uint64_t)t->enqueued_ms);
	uns_store_be64_put(p + 24, t->attempts);
	p += 32;
	p += put_str16(p, t->user);
	p += put_str16(p, t->host);
	*p++ = (unsigned char)idlen;
	memcpy(p, t->subject, idlen);
	return (size_t)(p + idlen - out);
}

uns_err
uns_store_tapval_decode(const void *v, size_t len, uns_store_tapval *t)
{
	const unsigned char *p = v, *end = p + len;
	size_t idlen;

	if (len < 2 + 32 || p[0] != 1) {
		return uns_store_seterr(UNS_DATA_LOSS, "bad outbox entry");
	}
	t->flags = p[1];
	t->seq = uns_store_be64_get(p + 2);
	t->due_ms = (int64_t)uns_store_be64_get(p + 10);
	t->enqueued_ms = (int64_t)uns_store_be64_get(p + 18);
	t->attempts = uns_store_be64_get(p + 26);
	p += 34;
	if (!get_str16(&p, end, t->user, UNS_STORE_ID_MAX) ||
	    !get_str16(&p, end, t->host, UNS_STORE_ID_MAX) || p >= end ||
	    (idlen = *p++) > UNS_STORE_RID_LEN || (size_t)(end - p) != idlen) {
		return uns_store_seterr(UNS_DATA_LOSS, "bad outbox entry");
	}
	memcpy(t->subject, p, idlen);
	t->subject[idlen] = '\0';
	return UNS_OK;
}

/* --- idempotency records ---------------------------------------------------
 */

uns_err
uns_store_idemrec_encode(const uns_store_idemrec *r, unsigned char **out,
                         size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(&r->n->base);
	unsigned char *v = malloc(UNS_STORE_IDEMREC_HEAD + n);

	if (v == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	uns_store_be64_put(v, (uint64_t)r->expires_ms);
	memcpy(v + 8, r->fingerprint, 32);
	v[40] = r->created ? 1 : 0;
	protobuf_c_message_pack(&r->n->base, v + UNS_STORE_IDEMREC_HEAD);
	*out = v;
	*len = UNS_STORE_IDEMREC_HEAD + n;
	return UNS_OK;
}

uns_err
uns_store_idemrec_decode(const void *v, size_t len, bool with_n,
                         uns_store_idemrec *r)
{
	const unsigned char *p = v;

	if (len < UNS_STORE_IDEMREC_HEAD || p[40] > 1) {
		return uns_store_seterr(UNS_DATA_LOSS,
		                        "malformed idempotency record");
	}
	r->expires_ms = (int64_t)uns_store_be64_get(p);
	memcpy(r->fingerprint, p + 8, 32);
	r->created = p[40] == 1;
	r->n = NULL;
	if (with_n) {
		r->n = uns__v1__notification__unpack(
		    NULL, len - UNS_STORE_IDEMREC_HEAD,
		    p + UNS_STORE_IDEMREC_HEAD);
		if (r->n == NULL) {
			return uns_store_seterr(UNS_DATA_LOSS,
			                        "malformed idempotency record");
		}
	}
	return UNS_OK;
}
