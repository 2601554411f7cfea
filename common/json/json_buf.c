/*
 * json_buf.c — see json_buf.h.
 *
 * Strings are copied in runs: a 256-entry table says which bytes may go
 * out verbatim (printable ASCII but '"' and '\\'), so a title of plain
 * text costs one scan and one memcpy. Only bytes from 0x80 up pay for the
 * UTF-8 check (the rules jansson applies: no overlong forms, surrogates
 * or code points above U+10FFFF). A byte that fails it goes out as U+FFFD,
 * the replacement character: a record stored with bad bytes before the RPC
 * border refused them is served, not dropped from its page (rejected:
 * failing the string, which made one bad title cost a whole page).
 */
#include <stdlib.h>
#include <string.h>

#include "json_buf.h"
#include "pbtext.h"

#define FIRST_CAP   1024
#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* 1: the byte goes out as it is; 0: escaped, or the start of UTF-8. */
static const unsigned char verbatim[256] = {
    ['\x20'] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1,    ['%'] = 1, ['&'] = 1,
    ['\''] = 1,   ['('] = 1, [')'] = 1, ['*'] = 1,    ['+'] = 1, [','] = 1,
    ['-'] = 1,    ['.'] = 1, ['/'] = 1, ['0'] = 1,    ['1'] = 1, ['2'] = 1,
    ['3'] = 1,    ['4'] = 1, ['5'] = 1, ['6'] = 1,    ['7'] = 1, ['8'] = 1,
    ['9'] = 1,    [':'] = 1, [';'] = 1, ['<'] = 1,    ['='] = 1, ['>'] = 1,
    ['?'] = 1,    ['@'] = 1, ['A'] = 1, ['B'] = 1,    ['C'] = 1, ['D'] = 1,
    ['E'] = 1,    ['F'] = 1, ['G'] = 1, ['H'] = 1,    ['I'] = 1, ['J'] = 1,
    ['K'] = 1,    ['L'] = 1, ['M'] = 1, ['N'] = 1,    ['O'] = 1, ['P'] = 1,
    ['Q'] = 1,    ['R'] = 1, ['S'] = 1, ['T'] = 1,    ['U'] = 1, ['V'] = 1,
    ['W'] = 1,    ['X'] = 1, ['Y'] = 1, ['Z'] = 1,    ['['] = 1, [']'] = 1,
    ['^'] = 1,    ['_'] = 1, ['`'] = 1, ['a'] = 1,    ['b'] = 1, ['c'] = 1,
    ['d'] = 1,    ['e'] = 1, ['f'] = 1, ['g'] = 1,    ['h'] = 1, ['i'] = 1,
    ['j'] = 1,    ['k'] = 1, ['l'] = 1, ['m'] = 1,    ['n'] = 1, ['o'] = 1,
    ['p'] = 1,    ['q'] = 1, ['r'] = 1, ['s'] = 1,    ['t'] = 1, ['u'] = 1,
    ['v'] = 1,    ['w'] = 1, ['x'] = 1, ['y'] = 1,    ['z'] = 1, ['{'] = 1,
    ['|'] = 1,    ['}'] = 1, ['~'] = 1, ['\x7f'] = 1,
};

/* The escapes with a name; the other control characters are \u00XX. */
static const char *const named_escape[0x60] = {
    ['\b'] = "\\b", ['\f'] = "\\f", ['\n'] = "\\n",  ['\r'] = "\\r",
    ['\t'] = "\\t", ['"'] = "\\\"", ['\\'] = "\\\\",
};

void
uns_json_buf_init(uns_json_buf *b)
{
	memset(b, 0, sizeof(*b));
	b->err = UNS_OK;
}

void
uns_json_buf_free(uns_json_buf *b)
{
	free(b->data);
	uns_json_buf_init(b);
}

/* Room for n more bytes and a NUL; 0 (err set) when out of memory. */
static int
reserve(uns_json_buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : FIRST_CAP;
	char *p;

	if (b->err != UNS_OK) {
		return 0;
	}
	if (b->len + n < b->cap) {
		return 1;
	}
	while (cap <= b->len + n) {
		if (cap > SIZE_MAX / 2) {
			b->err = UNS_ENOMEM;
			return 0;
		}
		cap *= 2;
	}
	p = realloc(b->data, cap);
	if (p == NULL) {
		b->err = UNS_ENOMEM;
		return 0;
	}
	b->data = p;
	b->cap = cap;
	return 1;
}

void
uns_json_buf_raw_grow(uns_json_buf *b, const char *s, size_t n)
{
	if (!reserve(b, n)) {
		return;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
uns_json_buf_lit(uns_json_buf *b, const char *s)
{
	uns_json_buf_raw(b, s, strlen(s));
}

/* One byte below 0x80 that is not verbatim: its escape. */
static void
put_escape(uns_json_buf *b, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

	if (named_escape[c] != NULL) {
		uns_json_buf_raw(b, named_escape[c], 2);
	} else {
		uns_json_buf_raw(b, u, sizeof(u));
	}
}

void
uns_json_buf_str(uns_json_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run;

	uns_json_buf_raw(b, "\"", 1);
	while (i < n && b->err == UNS_OK) {
		for (run = i; run < n && verbatim[p[run]]; run++) {
		}
		uns_json_buf_raw(b, s + i, run - i);
		i = run;
		if (i == n) {
			break;
		}
		if (p[i] < 0x80) {
			put_escape(b, p[i]);
			i++;
			continue;
		}
		run = uns_utf8_len(p + i, n - i);
		if (run == 0) {
			uns_json_buf_raw(b, REPLACEMENT, 3);
			i++;
			continue;
		}
		uns_json_buf_raw(b, s + i, run);
		i += run;
	}
	uns_json_buf_raw(b, "\"", 1);
}

char *
uns_json_utf8_repair(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = n < SIZE_MAX / 3 ? malloc(3 * n + 1) : NULL;
	size_t o = 0, k;
	if (out == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < n; i += k) {
		k = uns_utf8_len(p + i, n - i);
		if (k == 0) {
			memcpy(out + o, REPLACEMENT, 3);
			o += 3;
			k = 1;
		} else {
			memcpy(out + o, s + i, k);
			o += k;
		}
	}
	out[o] = '\0';
	return out;
}

void
uns_json_buf_u64(uns_json_buf *b, uint64_t v)
{
	char d[24];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	uns_json_buf_raw(b, d + i, sizeof(d) - i);
}

void
uns_json_buf_i64(uns_json_buf *b, int64_t v)
{
	if (v < 0) {
		uns_json_buf_raw(b, "-", 1);
		uns_json_buf_u64(b, (uint64_t)(-(v + 1)) + 1);
		return;
	}
	uns_json_buf_u64(b, (uint64_t)v);
}

void
uns_json_buf_rewind(uns_json_buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
	b->err = UNS_OK;
}

uns_err
uns_json_buf_take(uns_json_buf *b, char **out, size_t *len)
{
	uns_err err = b->err;

	if (err == UNS_OK && b->data == NULL) {
		b->data = malloc(1);
		err = b->data != NULL ? UNS_OK : UNS_ENOMEM;
		if (b->data != NULL) {
			b->data[0] = '\0';
		}
	}
	if (err != UNS_OK) {
		uns_json_buf_free(b);
		return err;
	}
	*out = b->data;
	*len = b->len;
	uns_json_buf_init(b);
	return UNS_OK;
}
