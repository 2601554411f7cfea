/*
 * rocksdb_wal.c — see rocksdb_wal.h. CRC32C by a 256-entry table made on
 * first use (the scan runs once per open, over at most a few write-buffer
 * sizes of log: table speed is plenty, no SSE4.2 path).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "rocksdb_wal.h"

#define BLOCK        32768
#define HEADER       7
#define RECYCLABLE   11
#define MASK_DELTA   0xa282ead8u
#define BATCH_HEADER 12 /* sequence (8) and count (4) */

enum rec_type {
	T_ZERO = 0,
	T_FULL = 1,
	T_FIRST = 2,
	T_MIDDLE = 3,
	T_LAST = 4,
	T_RFULL = 5,
	T_RFIRST = 6,
	T_RMIDDLE = 7,
	T_RLAST = 8,
	T_COMPRESSION = 9, /* a setting, no user data */
	T_MAX = 10,
};

static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void
make_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++) {
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		}
		table[i] = c;
	}
}

uint32_t
uns_crc32c(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;
	pthread_once(&table_once, make_table);
	crc = ~crc;
	while (n--) {
		crc = table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	}
	return ~crc;
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t
le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* One physical record at off: its type, payload and total length, or -1
 * with why. Zeros at off (padding, preallocation) are T_ZERO, length 0. */
typedef struct phys {
	int type;
	const uint8_t *payload;
	size_t len, total;
} phys;

static int
read_phys(const uint8_t *p, size_t n, size_t off, phys *r, char *why,
          size_t whylen)
{
	size_t left_in_block = BLOCK - off % BLOCK;
	if (n - off < HEADER) {
		snprintf(why, whylen, "a record header cut by the end");
		return -1;
	}
	const uint8_t *h = p + off;
	r->type = h[6];
	r->len = (size_t)h[4] | (size_t)h[5] << 8;
	if (r->type == T_ZERO && r->len == 0 && le32(h) == 0) {
		r->total = HEADER;
		r->payload = h + HEADER;
		return 0;
	}
	if (r->type == T_ZERO || r->type >= T_MAX) {
		snprintf(why, whylen, "unknown record type %d", r->type);
		return -1;
	}
	size_t hs =
	    r->type >= T_RFULL && r->type <= T_RLAST ? RECYCLABLE : HEADER;
	if (hs + r->len > left_in_block) {
		snprintf(why, whylen, "a record of %zu bytes past its block",
		         r->len);
		return -1;
	}
	if (off + hs + r->len > n) {
		snprintf(why, whylen, "a record cut by the end");
		return -1;
	}
	/* The CRC covers the type, the log number if any, the payload. */
	uint32_t crc = uns_crc32c(0, h + 6, hs - 6 + r->len);
	uint32_t want = le32(h) - MASK_DELTA;
	want = (want >> 17) | (want << 15);
	if (crc != want) {
		snprintf(why, whylen, "a record whose checksum does not match");
		return -1;
	}
	r->payload = h + hs;
	r->total = hs + r->len;
	return 0;
}

static int
base_type(int t)
{
	return t >= T_RFULL && t <= T_RLAST ? t - 4 : t;
}

typedef struct walker {
	const uint8_t *p;
	size_t n, off;
	/* the logical record being put together */
	uint8_t head[BATCH_HEADER];
	size_t have; /* bytes of it seen (only the first 12 are kept) */
	int in_frag;
	size_t start; /* where it began */
} walker;

/* A complete logical record whose first bytes are w->head. */
static void
count_batch(const walker *w, uint64_t *batches, uint64_t *writes,
            uint64_t *first, uint64_t *last)
{
	if (w->have < BATCH_HEADER) {
		return; /* a setting record: no writes */
	}
	uint64_t seq = le64(w->head);
	if (*batches == 0 && first) {
		*first = seq;
	}
	(*batches)++;
	*writes += le32(w->head + 8);
	*last = seq;
}

static void
take(walker *w, const phys *r)
{
	if (w->have < BATCH_HEADER) {
		size_t k = BATCH_HEADER - w->have;
		k = k < r->len ? k : r->len;
		memcpy(w->head + w->have, r->payload, k);
	}
	w->have += r->len;
}

/*
 * Advances over one physical record. Returns 1 when a logical record
 * ended there, 0 when it went on (or padding), -1 on damage (why set).
 */
static int
step(walker *w, char *why, size_t whylen)
{
	phys r;
	if (BLOCK - w->off % BLOCK < HEADER) {
		w->off += BLOCK - w->off % BLOCK; /* the block's trailer */
		return 0;
	}
	if (read_phys(w->p, w->n, w->off, &r, why, whylen) != 0) {
		return -1;
	}
	int t = base_type(r.type);
	if (t == T_ZERO) {
		w->off += BLOCK - w->off % BLOCK; /* zeros: skip the block */
		return 0;
	}
	if ((t == T_FULL || t == T_FIRST || t == T_COMPRESSION) && w->in_frag) {
		snprintf(why, whylen, "a record started inside another");
		return -1;
	}
	if ((t == T_MIDDLE || t == T_LAST) && !w->in_frag) {
		snprintf(why, whylen, "a fragment without its first part");
		return -1;
	}
	if (t == T_FULL || t == T_FIRST || t == T_COMPRESSION) {
		w->start = w->off;
		w->have = 0;
	}
	w->off += r.total;
	if (t == T_COMPRESSION) {
		return 0;
	}
	take(w, &r);
	w->in_frag = t == T_FIRST || t == T_MIDDLE;
	return t == T_FULL || t == T_LAST;
}

/* Whether bytes from off on are all zero. */
static int
zeros_from(const uint8_t *p, size_t n, size_t off)
{
	for (; off < n; off++) {
		if (p[off] != 0) {
			return 0;
		}
	}
	return 1;
}

/* Walks from off (a record start), counting the logical records that
 * check into s->after_*, until the first that does not. */
static void
count_from(const uint8_t *p, size_t n, size_t off, uns_wal_scan *s)
{
	char why[128];
	walker w = {p, n, off, {0}, 0, 0, 0};
	while (w.off < n) {
		int rc = step(&w, why, sizeof(why));
		if (rc < 0) {
			return;
		}
		if (rc == 1) {
			count_batch(&w, &s->after_batches, &s->after_writes,
			            &s->after_first_seq, &s->after_last_seq);
		}
	}
}

/* Whether a record that checks and starts a logical record is at off. */
static int
starts_record(const uint8_t *p, size_t n, size_t off)
{
	char why[128];
	phys r;
	if (read_phys(p, n, off, &r, why, sizeof(why)) != 0) {
		return 0;
	}
	int t = base_type(r.type);
	return t == T_FULL || t == T_FIRST;
}

/*
 * After damage at off: looks for logical records that check further on.
 * In the damaged block every byte offset is tried (a record's CRC32C makes
 * a false start a 2^-32 event), so a few overwritten bytes in the middle
 * of a short log are found as damage, not as a torn tail; in later blocks
 * only the block's start (where the writer always puts a header).
 */
static void
search_after(const uint8_t *p, size_t n, size_t damage, uns_wal_scan *s)
{
	size_t block_end = (damage / BLOCK + 1) * BLOCK;
	for (size_t o = damage + 1; o < n && o < block_end; o++) {
		if (starts_record(p, n, o)) {
			count_from(p, n, o, s);
			if (s->after_batches > 0) {
				return;
			}
		}
	}
	for (size_t b = block_end; b < n; b += BLOCK) {
		size_t o = b;
		/* A block may begin inside a record spanning from the last:
		 * skip its MIDDLE/LAST fragments. */
		while (o < n && !starts_record(p, n, o)) {
			char why[128];
			phys r;
			if (read_phys(p, n, o, &r, why, sizeof(why)) != 0) {
				break;
			}
			o += r.total;
		}
		if (o < n && starts_record(p, n, o)) {
			count_from(p, n, o, s);
			if (s->after_batches > 0) {
				return;
			}
		}
	}
}

void
uns_wal_scan_buf(const uint8_t *p, size_t n, uns_wal_scan *s)
{
	walker w = {p, n, 0, {0}, 0, 0, 0};
	memset(s, 0, sizeof(*s));
	s->size = n;
	while (w.off < n) {
		size_t at = w.off;
		int rc = step(&w, s->why, sizeof(s->why));
		if (rc == 1) {
			count_batch(&w, &s->batches, &s->writes, NULL,
			            &s->last_seq);
			s->good_end = w.off;
			continue;
		}
		if (rc == 0) {
			if (!w.in_frag) {
				s->good_end = w.off < n ? w.off : n;
			}
			continue;
		}
		/* Damage at the record (or the logical record) that failed. */
		size_t damage = w.in_frag ? w.start : at;
		if (zeros_from(p, n, damage)) {
			s->good_end = damage;
			s->why[0] = '\0';
			return; /* preallocated space: not damage */
		}
		s->good_end = damage;
		search_after(p, n, damage, s);
		s->state =
		    s->after_batches ? UNS_WAL_DAMAGED : UNS_WAL_TORN_TAIL;
		return;
	}
	if (w.in_frag) {
		s->good_end = w.start;
		s->state = UNS_WAL_TORN_TAIL;
		snprintf(s->why, sizeof(s->why),
		         "a record whose last fragment is missing");
	}
}
