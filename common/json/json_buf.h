/*
 * json_buf.h — a growing text buffer that JSON is written into directly:
 * raw bytes, quoted strings with JSON's escaping, integers.
 *
 * The gateway renders whole answers (20 notifications and their envelope)
 * into one of these instead of building a jansson tree per notification
 * and dumping it: one buffer that doubles, no node per value, no hash
 * table per object. The output is byte for byte what json_dumps(...,
 * JSON_COMPACT) writes for the same values (jansson 2.14: '"', '\\' and
 * control characters escaped, \b \f \n \r \t by name and the others as
 * \u00XX in upper-case hex, everything else, '/' and non-ASCII included,
 * verbatim); tests/test_json_writer.c holds it to that.
 *
 * A string that is not well-formed UTF-8 (JSON cannot carry it) is written
 * with U+FFFD in place of each byte that does not start a well-formed
 * sequence, where jansson refuses it; uns_json_utf8_repair gives a jansson
 * tree the same text.
 *
 * Errors are sticky, like a stdio stream's: the first failure (no memory)
 * is kept in err and every later write does nothing, so a writer checks
 * once at the end. A caller that wants to drop a failed part and go on
 * notes len before it and calls uns_json_buf_rewind. Pure: no I/O, no
 * state.
 */
#ifndef UNS_JSON_BUF_H
#define UNS_JSON_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "uns/uns.h"

typedef struct uns_json_buf {
	char *data; /* malloc'd; NUL-terminated whenever len > 0 */
	size_t len, cap;
	uns_err err; /* the first failure, UNS_OK until then */
} uns_json_buf;

/* An empty buffer; nothing is allocated until the first write. */
void uns_json_buf_init(uns_json_buf *b);
/* Frees the text (if not taken) and empties the buffer. */
void uns_json_buf_free(uns_json_buf *b);

/* n bytes verbatim (punctuation, names known to need no escaping). Inline
 * while they fit: an answer is a few thousand such small writes. */
void uns_json_buf_raw_grow(uns_json_buf *b, const char *s, size_t n);

static inline void
uns_json_buf_raw(uns_json_buf *b, const char *s, size_t n)
{
	if (b->err == UNS_OK && n < b->cap - b->len) {
		memcpy(b->data + b->len, s, n);
		b->len += n;
		b->data[b->len] = '\0';
		return;
	}
	uns_json_buf_raw_grow(b, s, n);
}
/* A NUL-terminated literal verbatim. */
void uns_json_buf_lit(uns_json_buf *b, const char *s);
/* n bytes of UTF-8 as a quoted, escaped JSON string; each byte that does
 * not start well-formed UTF-8 is written as U+FFFD. */
void uns_json_buf_str(uns_json_buf *b, const char *s, size_t n);
/* s (n bytes) with the same replacements, NUL-terminated and malloc'd;
 * NULL when out of memory. */
char *uns_json_utf8_repair(const char *s, size_t n);
/* Decimal integers, as JSON numbers. */
void uns_json_buf_i64(uns_json_buf *b, int64_t v);
void uns_json_buf_u64(uns_json_buf *b, uint64_t v);

/* Cuts the text back to len bytes (a length noted earlier) and forgets
 * the failure, if any, so a caller can drop a part that failed. */
void uns_json_buf_rewind(uns_json_buf *b, size_t len);

/* On UNS_OK *out is the NUL-terminated text (malloc'd, the caller frees
 * it; "" when nothing was written) and *len its length; the buffer is
 * empty again. Otherwise err is returned and the buffer is freed. */
uns_err uns_json_buf_take(uns_json_buf *b, char **out, size_t *len);

#endif /* UNS_JSON_BUF_H */
