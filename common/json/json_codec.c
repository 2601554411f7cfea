/*
 * json_codec.c — protobuf <-> JSON, driven by protobuf-c descriptors.
 *
 * One recursive walk per direction over a ProtobufCMessageDescriptor, so
 * every message of every service is covered as soon as protoc-c has run.
 * Values are dispatched on the field type through one table (type_ops:
 * element size, integer range, decoder, encoder); repeated fields, oneofs
 * and presence are handled once, around that table.
 *
 * Decoding looks each field of the descriptor up in the JSON object (under
 * its JSON name and its proto name) instead of walking the object's keys:
 * unknown properties are then ignored for free, and a field given under both
 * names is caught. The message is built as protobuf_c_message_unpack() would
 * build it with the default allocator, and each value is stored only once it
 * is complete, so a partial message is always safe to hand to
 * protobuf_c_message_free_unpacked() on error.
 *
 * Rejected: jansson's json_unpack() format strings (per-message code), and a
 * second "JSON name" table generated next to gen/ (protoc-c has no plugin
 * hook; deriving lowerCamelCase at run time is a few lines).
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json_buf.h"
#include "json_codec.h"
#include "pbtext.h"

#define NAME_MAX_LEN 128 /* a JSON field name, derived or mapped */
#define MAX_DEPTH    64  /* nested messages, in both directions */
#define QUOTE_MAX    64  /* bytes of a rejected value quoted in an error */

#define MS_PER_DAY  INT64_C(86400000)
#define MIN_TIME_MS (-INT64_C(62167219200000)) /* 0000-01-01T00:00:00Z */
#define MAX_TIME_MS INT64_C(253402300799999)   /* 9999-12-31T23:59:59.999Z */

struct dec {
	const uns_json_mapping *map;
	uns_json_error *err;
	char path[sizeof(((uns_json_error *)0)->path)];
	size_t plen;
	int depth;
};

/* Encoding, to a jansson tree (enc_*) or straight to text (wr_*): the
 * two share field_info, is_present and the value helpers below, so they
 * cannot disagree on a name, a spelling or what is written at all. */
struct enc {
	const uns_json_mapping *map;
	int flags;
	int depth;
	uns_json_buf *out; /* wr_* only */
};

/* One field with the mapping applied. */
struct field {
	const ProtobufCFieldDescriptor *fd;
	uns_json_conv conv;
	bool hidden;
	const uns_json_enum_rule *enums; /* spellings, for enum fields */
	char name[NAME_MAX_LEN];         /* the name written */
	const char *alt; /* a second name accepted on input, or NULL */
};

typedef uns_err (*dec_fn)(struct dec *, const struct field *, const json_t *,
                          void *);
typedef uns_err (*enc_fn)(struct enc *, const struct field *, const void *,
                          json_t **);
typedef uns_err (*wr_fn)(struct enc *, const struct field *, const void *);

enum kind { K_INT, K_FLOAT, K_BOOL, K_ENUM, K_STRING, K_BYTES, K_MESSAGE };

struct type_ops {
	const char *name; /* as in .proto, for error messages */
	enum kind kind;
	size_t size; /* of one element of a repeated array */
	int64_t min; /* K_INT only */
	uint64_t max;
	dec_fn dec;
	enc_fn enc;
	wr_fn wr;
};

static const struct type_ops type_ops[PROTOBUF_C_TYPE_MESSAGE + 1];

/* ---- small helpers ---- */

static bool
utf8_valid(const char *s, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i += k) {
		k = uns_utf8_len((const unsigned char *)s + i, n - i);
		if (k == 0) {
			return false;
		}
	}
	return true;
}

/* Replaces each byte of s that is not well-formed UTF-8 by '?', so that an
 * error message can always go into a JSON string. */
static void
utf8_scrub(char *s)
{
	size_t n = strlen(s), i, k;

	for (i = 0; i < n; i += k) {
		k = uns_utf8_len((const unsigned char *)s + i, n - i);
		if (k == 0) {
			s[i] = '?';
			k = 1;
		}
	}
}

static void *
get_ptr(const void *slot)
{
	void *p;

	memcpy(&p, slot, sizeof(p));
	return p;
}

static void
put_ptr(void *slot, const void *p)
{
	memcpy(slot, &p, sizeof(p));
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* a (n bytes) equals NUL-terminated b, ignoring ASCII case; if loose, also
 * ignoring underscores ("webPush" is loosely "WEB_PUSH"). */
static bool
name_eq(const char *a, size_t an, const char *b, bool loose)
{
	size_t i = 0, j = 0, bn = strlen(b);

	for (;;) {
		while (loose && i < an && a[i] == '_') {
			i++;
		}
		while (loose && j < bn && b[j] == '_') {
			j++;
		}
		if (i == an || j == bn) {
			return i == an && j == bn;
		}
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[j])) {
			return false;
		}
		i++;
		j++;
	}
}

/* ---- errors and paths ---- */

static void
clear_err(uns_json_error *err)
{
	if (err != NULL) {
		memset(err, 0, sizeof(*err));
		err->line = err->column = err->position = -1;
	}
}

static uns_err fail_code(struct dec *d, uns_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static uns_err
fail_code(struct dec *d, uns_err code, const char *fmt, ...)
{
	va_list ap;

	if (d->err != NULL) {
		memcpy(d->err->path, d->path, d->plen + 1);
		va_start(ap, fmt);
		vsnprintf(d->err->message, sizeof(d->err->message), fmt, ap);
		va_end(ap);
		utf8_scrub(d->err->message);
	}
	return code;
}

#define fail(d, ...) fail_code((d), UNS_INVALID_ARGUMENT, __VA_ARGS__)
#define oom(d)       fail_code((d), UNS_ENOMEM, "out of memory")

/* Appends ".key" or "[i]" to the path, truncating if it does not fit. */
static void
push_path(struct dec *d, const char *key, size_t index)
{
	size_t room = sizeof(d->path) - d->plen;
	int n;

	if (key != NULL) {
		n = snprintf(d->path + d->plen, room, "%s%s",
		             d->plen > 0 ? "." : "", key);
	} else {
		n = snprintf(d->path + d->plen, room, "[%zu]", index);
	}
	d->plen = n < 0 || (size_t)n >= room ? sizeof(d->path) - 1
	                                     : d->plen + (size_t)n;
}

static void
pop_path(struct dec *d, size_t plen)
{
	d->plen = plen;
	d->path[plen] = '\0';
}

/* Copies at most QUOTE_MAX bytes of s into buf, cut on a UTF-8 boundary. */
static const char *
quote(const char *s, size_t n, char buf[QUOTE_MAX + 4])
{
	if (n > QUOTE_MAX) {
		n = QUOTE_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
			n--;
		}
		memcpy(buf, s, n);
		memcpy(buf + n, "...", 4);
	} else {
		memcpy(buf, s, n);
		buf[n] = '\0';
	}
	return buf;
}

static const char *
json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* ---- the mapping ---- */

static const uns_json_field_rule *
find_field_rule(const uns_json_mapping *map, const char *msg, const char *f)
{
	size_t i;

	for (i = 0; map != NULL && i < map->n_fields; i++) {
		if (strcmp(map->fields[i].message, msg) == 0 &&
		    strcmp(map->fields[i].field, f) == 0) {
			return &map->fields[i];
		}
	}
	return NULL;
}

static const uns_json_enum_rule *
find_enum_rule(const uns_json_mapping *map, const char *name)
{
	size_t i;

	for (i = 0; map != NULL && i < map->n_enums; i++) {
		if (strcmp(map->enums[i].enum_name, name) == 0) {
			return &map->enums[i];
		}
	}
	return NULL;
}

static bool
conv_fits(uns_json_conv conv, const struct type_ops *t)
{
	switch (conv) {
	case UNS_JSON_CONV_NONE:
		return true;
	case UNS_JSON_CONV_TIME_MS:
		return t->kind == K_INT && t->size == 8 && t->min < 0;
	case UNS_JSON_CONV_NUMBER_OR_STRING:
		return t->kind == K_INT && t->size == 4;
	case UNS_JSON_CONV_INT64_AS_NUMBER:
		return t->kind == K_INT && t->size == 8;
	}
	return false;
}

/* Fills *fi for field fd with rule r (NULL: none); returns NULL, or why the
 * field cannot be mapped (a schema or mapping bug, not a bad input). */
static const char *
field_info_of(const uns_json_mapping *map, const uns_json_field_rule *r,
              const ProtobufCFieldDescriptor *fd, struct field *fi)
{
	bool changed;

	/* Field by field, not memset: name is 128 bytes, read to its NUL. */
	fi->fd = fd;
	fi->conv = UNS_JSON_CONV_NONE;
	fi->hidden = false;
	fi->enums = NULL;
	fi->name[0] = '\0';
	fi->alt = NULL;
	if ((unsigned)fd->type > PROTOBUF_C_TYPE_MESSAGE) {
		return "unsupported field type";
	}
	if (fd->type == PROTOBUF_C_TYPE_ENUM) {
		fi->enums = find_enum_rule(
		    map,
		    ((const ProtobufCEnumDescriptor *)fd->descriptor)->name);
	}
	if (r != NULL) {
		fi->conv = r->conv;
		fi->hidden = r->hidden != 0;
		if (!conv_fits(r->conv, &type_ops[fd->type])) {
			return "converter does not fit the field type";
		}
	}
	if (r != NULL && r->json_name != NULL) {
		if (strlen(r->json_name) >= sizeof(fi->name)) {
			return "name too long";
		}
		strcpy(fi->name, r->json_name);
		return NULL;
	}
	if (!uns_pb_camel_name(fd->name, fi->name, sizeof(fi->name),
	                       &changed)) {
		return "name too long";
	}
	fi->alt = changed ? fd->name : NULL;
	return NULL;
}

/* Fills *fi for field fd of desc; returns NULL, or why the field cannot be
 * mapped (a schema or mapping bug, not a bad input). */
static const char *
field_info(const uns_json_mapping *map, const ProtobufCMessageDescriptor *desc,
           const ProtobufCFieldDescriptor *fd, struct field *fi)
{
	return field_info_of(map, find_field_rule(map, desc->name, fd->name),
	                     fd, fi);
}

/* The mapping's rules for one message, picked out once per message
 * written instead of once per field: each rule naming the message is put
 * at its field's index (found by protobuf-c's binary search by name), so
 * a field then finds its rule with no search at all, where field_info
 * compares every rule's message and field name (a strcmp each, and the
 * message names all start "uns.v1."). Nothing is kept between calls. */
#define MSG_RULES_MAX 64

struct msg_rules {
	const uns_json_field_rule *by_field[MSG_RULES_MAX];
	bool fallback; /* more fields than MSG_RULES_MAX: use field_info */
};

static void
msg_rules_pick(const uns_json_mapping *map,
               const ProtobufCMessageDescriptor *desc, struct msg_rules *mr)
{
	const ProtobufCFieldDescriptor *fd;
	size_t i, k;

	mr->fallback = desc->n_fields > MSG_RULES_MAX;
	if (mr->fallback) {
		return;
	}
	memset(mr->by_field, 0, desc->n_fields * sizeof(mr->by_field[0]));
	for (i = 0; map != NULL && i < map->n_fields; i++) {
		if (strcmp(map->fields[i].message, desc->name) != 0) {
			continue;
		}
		fd = protobuf_c_message_descriptor_get_field_by_name(
		    desc, map->fields[i].field);
		k = fd != NULL ? (size_t)(fd - desc->fields) : MSG_RULES_MAX;
		/* The first rule for a field wins, as in find_field_rule. */
		if (k < desc->n_fields && mr->by_field[k] == NULL) {
			mr->by_field[k] = &map->fields[i];
		}
	}
}

/* As field_info, with the rules of fd's message already picked. */
static const char *
field_info_picked(const uns_json_mapping *map, const struct msg_rules *mr,
                  const ProtobufCMessageDescriptor *desc,
                  const ProtobufCFieldDescriptor *fd, struct field *fi)
{
	if (mr->fallback) {
		return field_info(map, desc, fd, fi);
	}
	return field_info_of(map, mr->by_field[fd - desc->fields], fd, fi);
}

/* ---- integers ---- */

enum { INT_OK, INT_BAD, INT_RANGE };

/* A decimal integer string: -?[0-9]+. */
static int
parse_decimal(const char *s, size_t n, bool *neg, uint64_t *mag)
{
	size_t i;
	uint64_t m = 0;
	bool over = false;

	*neg = n > 0 && s[0] == '-';
	i = *neg ? 1 : 0;
	if (i == n) {
		return INT_BAD;
	}
	for (; i < n; i++) {
		unsigned dig = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9') {
			return INT_BAD;
		}
		if (m > (UINT64_MAX - dig) / 10) {
			over = true;
		} else {
			m = m * 10 + dig;
		}
	}
	*mag = m;
	return over ? INT_RANGE : INT_OK;
}

/* Reads v as sign and magnitude: a JSON integer, an integral real ("1e3"),
 * or, if strings is set, a decimal string. */
static int
read_int(const json_t *v, bool strings, bool *neg, uint64_t *mag)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		*neg = i < 0;
		*mag = *neg ? (uint64_t)(-(i + 1)) + 1 : (uint64_t)i;
		return INT_OK;
	}
	if (json_is_real(v)) {
		double x = json_real_value(v);

		if (x != trunc(x)) {
			return INT_BAD;
		}
		if (fabs(x) >= 18446744073709551616.0) {
			return INT_RANGE;
		}
		*neg = x < 0;
		*mag = (uint64_t)fabs(x);
		return INT_OK;
	}
	if (json_is_string(v) && strings) {
		return parse_decimal(json_string_value(v),
		                     json_string_length(v), neg, mag);
	}
	return INT_BAD;
}

/* Stores sign and magnitude into an integer of type t; false if out of
 * range. */
static bool
store_int(const struct type_ops *t, bool neg, uint64_t mag, void *slot)
{
	uint64_t lim = t->min < 0 ? (uint64_t)(-(t->min + 1)) + 1 : 0;
	int64_t s;
	int32_t s32;
	uint32_t u32;

	if (neg ? mag > lim : mag > t->max) {
		return false;
	}
	if (t->min < 0) {
		s = neg && mag > 0 ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
		s32 = (int32_t)s;
		memcpy(slot, t->size == 4 ? (void *)&s32 : (void *)&s, t->size);
	} else {
		u32 = (uint32_t)mag;
		memcpy(slot, t->size == 4 ? (void *)&u32 : (void *)&mag,
		       t->size);
	}
	return true;
}

/* Loads an integer of type t, widened. */
static int64_t
load_signed(const struct type_ops *t, const void *slot)
{
	int64_t s;
	int32_t s32;

	if (t->size == 4) {
		memcpy(&s32, slot, 4);
		return s32;
	}
	memcpy(&s, slot, 8);
	return s;
}

static uint64_t
load_unsigned(const struct type_ops *t, const void *slot)
{
	uint64_t u;
	uint32_t u32;

	if (t->size == 4) {
		memcpy(&u32, slot, 4);
		return u32;
	}
	memcpy(&u, slot, 8);
	return u;
}

static uns_err dec_time(struct dec *d, const json_t *v, void *slot);

static uns_err
dec_int(struct dec *d, const struct field *fi, const json_t *v, void *slot)
{
	const struct type_ops *t = &type_ops[fi->fd->type];
	bool strings =
	    t->size == 8 || fi->conv == UNS_JSON_CONV_NUMBER_OR_STRING;
	bool neg = false;
	uint64_t mag = 0;
	int rc;

	if (fi->conv == UNS_JSON_CONV_TIME_MS) {
		return dec_time(d, v, slot);
	}
	rc = read_int(v, strings, &neg, &mag);
	if (rc == INT_BAD) {
		return fail(d, "expected an integer");
	}
	if (rc == INT_RANGE || !store_int(t, neg, mag, slot)) {
		return fail(d, "integer out of range for %s", t->name);
	}
	return UNS_OK;
}

static uns_err enc_time(int64_t ms, json_t **out);
static uns_err wr_time(struct enc *e, int64_t ms);

/* An integer field's value and how it is written: a JSON number, or (for
 * 64 bits unless the mapping says otherwise) a decimal string. */
struct int_repr {
	bool is_signed, number;
	int64_t s;
	uint64_t u;
};

static struct int_repr
int_repr(const struct field *fi, const void *slot)
{
	const struct type_ops *t = &type_ops[fi->fd->type];
	struct int_repr r = {
	    .is_signed = t->min < 0,
	    .number = t->size == 4 || fi->conv == UNS_JSON_CONV_INT64_AS_NUMBER,
	};

	if (r.is_signed) {
		r.s = load_signed(t, slot);
	} else {
		r.u = load_unsigned(t, slot);
		r.number = r.number && r.u <= INT64_MAX;
	}
	return r;
}

static uns_err
enc_int(struct enc *e, const struct field *fi, const void *slot, json_t **out)
{
	struct int_repr r = int_repr(fi, slot);
	char buf[24];

	(void)e;
	if (r.is_signed && fi->conv == UNS_JSON_CONV_TIME_MS) {
		return enc_time(r.s, out);
	}
	if (r.is_signed) {
		snprintf(buf, sizeof(buf), "%" PRId64, r.s);
		*out = r.number ? json_integer(r.s) : json_string(buf);
	} else {
		snprintf(buf, sizeof(buf), "%" PRIu64, r.u);
		*out =
		    r.number ? json_integer((json_int_t)r.u) : json_string(buf);
	}
	return *out != NULL ? UNS_OK : UNS_ENOMEM;
}

static uns_err
wr_int(struct enc *e, const struct field *fi, const void *slot)
{
	struct int_repr r = int_repr(fi, slot);

	if (r.is_signed && fi->conv == UNS_JSON_CONV_TIME_MS) {
		return wr_time(e, r.s);
	}
	if (!r.number) {
		uns_json_buf_raw(e->out, "\"", 1);
	}
	if (r.is_signed) {
		uns_json_buf_i64(e->out, r.s);
	} else {
		uns_json_buf_u64(e->out, r.u);
	}
	if (!r.number) {
		uns_json_buf_raw(e->out, "\"", 1);
	}
	return e->out->err;
}

/* ---- ISO 8601 times (UNS_JSON_CONV_TIME_MS) ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned
days_in_month(unsigned y, unsigned m)
{
	static const unsigned days[12] = {31, 28, 31, 30, 31, 30,
	                                  31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* n decimal digits at s. */
static bool
digits(const char *s, size_t n, unsigned *v)
{
	*v = 0;
	for (; n > 0; n--, s++) {
		if (*s < '0' || *s > '9') {
			return false;
		}
		*v = *v * 10 + (unsigned)(*s - '0');
	}
	return true;
}

/* Fractional seconds at s[*i] (after the '.'), as milliseconds; digits
 * beyond the third are dropped. */
static void
fraction(const char *s, size_t n, size_t *i, unsigned *ms)
{
	size_t k = 0;

	*ms = 0;
	for (; *i < n && s[*i] >= '0' && s[*i] <= '9'; (*i)++, k++) {
		if (k < 3) {
			*ms = *ms * 10 + (unsigned)(s[*i] - '0');
		}
	}
	for (; k < 3; k++) {
		*ms *= 10;
	}
}

/* "Z", "z", "+hh:mm" or "-hh:mm" ending the string at s[i]: seconds east. */
static bool
zone(const char *s, size_t n, size_t i, int64_t *east, bool *range)
{
	unsigned h, m;

	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
		*east = 0;
		return true;
	}
	if (i + 6 != n || (s[i] != '+' && s[i] != '-') ||
	    !digits(s + i + 1, 2, &h) || s[i + 3] != ':' ||
	    !digits(s + i + 4, 2, &m)) {
		return false;
	}
	*range = h > 23 || m > 59;
	*east = (s[i] == '+' ? 1 : -1) * (int64_t)(h * 3600 + m * 60);
	return true;
}

/* Parses YYYY-MM-DDThh:mm:ss[.f+](Z|+hh:mm|-hh:mm); NULL, or what is wrong. */
static const char *
parse_time(const char *s, size_t n, int64_t *out)
{
	unsigned y, mo, d, h, mi, sec, ms = 0;
	int64_t east = 0, t;
	bool zone_range = false;
	size_t i = 19;

	if (n < 19 || !digits(s, 4, &y) || s[4] != '-' ||
	    !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
	    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec)) {
		return "expected the form 2019-10-30T23:59:00.000Z";
	}
	if (i < n && s[i] == '.') {
		i++;
		if (i == n || s[i] < '0' || s[i] > '9') {
			return "expected digits after the decimal point";
		}
		fraction(s, n, &i, &ms);
	}
	if (i == n || !zone(s, n, i, &east, &zone_range)) {
		return "expected 'Z' or an offset like +01:00 at the end";
	}
	if (mo < 1 || mo > 12) {
		return "month out of range";
	}
	if (d < 1 || d > days_in_month(y, mo)) {
		return "day out of range";
	}
	if (h > 23 || mi > 59 || sec > 59) {
		return "time of day out of range";
	}
	if (zone_range) {
		return "offset out of range";
	}
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - east;
	t = t * 1000 + ms;
	if (t < MIN_TIME_MS || t > MAX_TIME_MS) {
		return "date out of range";
	}
	*out = t;
	return NULL;
}

static uns_err
dec_time(struct dec *d, const json_t *v, void *slot)
{
	char q[QUOTE_MAX + 4];
	const char *why;
	int64_t ms = 0;

	if (!json_is_string(v)) {
		return fail(d, "expected a date-time string");
	}
	why = parse_time(json_string_value(v), json_string_length(v), &ms);
	if (why != NULL) {
		return fail(
		    d, "invalid date-time \"%s\": %s",
		    quote(json_string_value(v), json_string_length(v), q), why);
	}
	memcpy(slot, &ms, sizeof(ms));
	return UNS_OK;
}

/* n decimal digits of v at p, zero-padded. */
static void
put_digits(char *p, unsigned v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* ms as "2019-10-30T23:59:00.000Z" (24 characters and a NUL); false when
 * outside years 0000-9999. */
static bool
time_text(int64_t ms, char buf[25])
{
	int64_t days, rem, y;
	unsigned m, d;

	if (ms < MIN_TIME_MS || ms > MAX_TIME_MS) {
		return false;
	}
	days = (ms >= 0 ? ms : ms - (MS_PER_DAY - 1)) / MS_PER_DAY;
	rem = ms - days * MS_PER_DAY;
	civil_from_days(days, &y, &m, &d);
	memcpy(buf, "0000-00-00T00:00:00.000Z", 25);
	put_digits(buf, (unsigned)y, 4);
	put_digits(buf + 5, m, 2);
	put_digits(buf + 8, d, 2);
	put_digits(buf + 11, (unsigned)(rem / 3600000), 2);
	put_digits(buf + 14, (unsigned)(rem / 60000 % 60), 2);
	put_digits(buf + 17, (unsigned)(rem / 1000 % 60), 2);
	put_digits(buf + 20, (unsigned)(rem % 1000), 3);
	return true;
}

static uns_err
enc_time(int64_t ms, json_t **out)
{
	char buf[25];

	if (!time_text(ms, buf)) {
		return UNS_INVALID_ARGUMENT;
	}
	*out = json_string(buf);
	return *out != NULL ? UNS_OK : UNS_ENOMEM;
}

static uns_err
wr_time(struct enc *e, int64_t ms)
{
	char buf[25];

	if (!time_text(ms, buf)) {
		return UNS_INVALID_ARGUMENT;
	}
	uns_json_buf_raw(e->out, "\"", 1);
	uns_json_buf_raw(e->out, buf, 24);
	uns_json_buf_raw(e->out, "\"", 1);
	return e->out->err;
}

/* ---- floating point, bool ---- */

static bool
read_double(const json_t *v, double *x)
{
	const char *s = json_string_value(v);

	if (json_is_number(v)) {
		*x = json_number_value(v);
	} else if (s != NULL && strcmp(s, "NaN") == 0) {
		*x = NAN;
	} else if (s != NULL && strcmp(s, "Infinity") == 0) {
		*x = INFINITY;
	} else if (s != NULL && strcmp(s, "-Infinity") == 0) {
		*x = -INFINITY;
	} else {
		return false;
	}
	return true;
}

static uns_err
dec_float(struct dec *d, const struct field *fi, const json_t *v, void *slot)
{
	double x;
	float f;

	if (!read_double(v, &x)) {
		return fail(d, "expected a number");
	}
	if (fi->fd->type == PROTOBUF_C_TYPE_DOUBLE) {
		memcpy(slot, &x, sizeof(x));
		return UNS_OK;
	}
	if (isfinite(x) && fabs(x) > FLT_MAX) {
		return fail(d, "number out of range for float");
	}
	f = (float)x;
	memcpy(slot, &f, sizeof(f));
	return UNS_OK;
}

/* A float or double field's value; for NaN and the infinities, the string
 * proto3 writes instead of a number. */
static const char *
float_value(const struct field *fi, const void *slot, double *x)
{
	float f;

	if (fi->fd->type == PROTOBUF_C_TYPE_DOUBLE) {
		memcpy(x, slot, sizeof(*x));
	} else {
		memcpy(&f, slot, sizeof(f));
		*x = f;
	}
	if (isnan(*x)) {
		return "NaN";
	}
	if (isinf(*x)) {
		return *x > 0 ? "Infinity" : "-Infinity";
	}
	return NULL;
}

static uns_err
enc_float(struct enc *e, const struct field *fi, const void *slot, json_t **out)
{
	double x;
	const char *special = float_value(fi, slot, &x);

	(void)e;
	*out = special != NULL ? json_string(special) : json_real(x);
	return *out != NULL ? UNS_OK : UNS_ENOMEM;
}

/* x as jansson 2.14 dumps a real (jsonp_dtostr): "%.17g", ".0" added when
 * it would read back as an integer, the exponent without '+' or leading
 * zeros. */
static void
put_real(uns_json_buf *b, double x)
{
	char buf[48];
	int n = snprintf(buf, sizeof(buf) - 3, "%.17g", x);
	size_t len = n > 0 ? (size_t)n : 0;
	char *start, *end;

	if (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL) {
		memcpy(buf + len, ".0", 3);
		len += 2;
	}
	start = strchr(buf, 'e');
	if (start != NULL) {
		start++;
		end = start + 1;
		if (*start == '-') {
			start++;
		}
		while (*end == '0') {
			end++;
		}
		if (end != start) {
			memmove(start, end, len - (size_t)(end - buf) + 1);
			len -= (size_t)(end - start);
		}
	}
	uns_json_buf_raw(b, buf, len);
}

static uns_err
wr_float(struct enc *e, const struct field *fi, const void *slot)
{
	double x;
	const char *special = float_value(fi, slot, &x);

	if (special != NULL) {
		uns_json_buf_str(e->out, special, strlen(special));
	} else {
		put_real(e->out, x);
	}
	return e->out->err;
}

static uns_err
dec_bool(struct dec *d, const struct field *fi, const json_t *v, void *slot)
{
	protobuf_c_boolean b = json_is_true(v);

	(void)fi;
	if (!json_is_boolean(v)) {
		return fail(d, "expected a boolean");
	}
	memcpy(slot, &b, sizeof(b));
	return UNS_OK;
}

static uns_err
enc_bool(struct enc *e, const struct field *fi, const void *slot, json_t **out)
{
	protobuf_c_boolean b;

	(void)e;
	(void)fi;
	memcpy(&b, slot, sizeof(b));
	*out = json_boolean(b);
	return *out != NULL ? UNS_OK : UNS_ENOMEM;
}

static uns_err
wr_bool(struct enc *e, const struct field *fi, const void *slot)
{
	protobuf_c_boolean b;

	(void)fi;
	memcpy(&b, slot, sizeof(b));
	uns_json_buf_lit(e->out, b ? "true" : "false");
	return e->out->err;
}

/* ---- enums ---- */

/* Length of the prefix every value name shares, up to and including its
 * last underscore ("PLATFORM_"); 0 if that would leave a name empty. */
static size_t
enum_prefix(const ProtobufCEnumDescriptor *ed)
{
	const char *first = ed->n_values > 0 ? ed->values[0].name : "";
	size_t len = strlen(first), i, k;

	for (i = 1; i < ed->n_values; i++) {
		for (k = 0; k < len && ed->values[i].name[k] == first[k]; k++) {
		}
		len = k;
	}
	while (len > 0 && first[len - 1] != '_') {
		len--;
	}
	for (i = 0; i < ed->n_values; i++) {
		if (ed->values[i].name[len] == '\0') {
			return 0;
		}
	}
	return len;
}

/* Finds the value named s: the mapping's spellings, the full name or the
 * name without the prefix, ignoring case; then all of those again ignoring
 * underscores too. */
static bool
enum_lookup(const ProtobufCEnumDescriptor *ed, const uns_json_enum_rule *r,
            const char *s, size_t n, int *value)
{
	size_t plen = enum_prefix(ed), k;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		for (k = 0; r != NULL && k < r->n_names; k++) {
			if (name_eq(s, n, r->names[k].name, pass == 1)) {
				*value = r->names[k].value;
				return true;
			}
		}
		for (k = 0; k < ed->n_values; k++) {
			const char *name = ed->values[k].name;

			if (name_eq(s, n, name, pass == 1) ||
			    name_eq(s, n, name + plen, pass == 1)) {
				*value = ed->values[k].value;
				return true;
			}
		}
	}
	return false;
}

static uns_err
dec_enum(struct dec *d, const struct field *fi, const json_t *v, void *slot)
{
	const ProtobufCEnumDescriptor *ed = fi->fd->descriptor;
	char q[QUOTE_MAX + 4];
	int32_t value;
	int found = 0;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < INT32_MIN || i > INT32_MAX) {
			return fail(d, "enum number out of range for %s",
			            ed->name);
		}
		value = (int32_t)i;
	} else if (json_is_string(v)) {
		if (!enum_lookup(ed, fi->enums, json_string_value(v),
		                 json_string_length(v), &found)) {
			return fail(d, "unknown enum value \"%s\" for %s",
			            quote(json_string_value(v),
			                  json_string_length(v), q),
			            ed->name);
		}
		value = found;
	} else {
		return fail(d, "expected an enum name or number");
	}
	memcpy(slot, &value, sizeof(value));
	return UNS_OK;
}

/* How an enum value is spelled: the mapping's name, else the proto name;
 * NULL for a value this build does not know (written as its number). */
static const char *
enum_spelling(const struct field *fi, int32_t value)
{
	const uns_json_enum_rule *r = fi->enums;
	const ProtobufCEnumValue *ev;
	size_t k;

	for (k = 0; r != NULL && k < r->n_names; k++) {
		if (r->names[k].value == value) {
			return r->names[k].name;
		}
	}
	ev = protobuf_c_enum_descriptor_get_value(fi->fd->descriptor, value);
	return ev != NULL ? ev->name : NULL;
}

static uns_err
enc_enum(struct enc *e, const struct field *fi, const void *slot, json_t **out)
{
	int32_t value;
	const char *name;

	(void)e;
	memcpy(&value, slot, sizeof(value));
	name = enum_spelling(fi, value);
	*out = name != NULL ? json_string(name) : json_integer(value);
	return *out != NULL ? UNS_OK : UNS_ENOMEM;
}

static uns_err
wr_enum(struct enc *e, const struct field *fi, const void *slot)
{
	int32_t value;
	const char *name;

	memcpy(&value, slot, sizeof(value));
	name = enum_spelling(fi, value);
	if (name != NULL) {
		uns_json_buf_str(e->out, name, strlen(name));
	} else {
		uns_json_buf_i64(e->out, value);
	}
	return e->out->err;
}

/* ---- strings ---- */

static uns_err
dec_string(struct dec *d, const struct field *fi, const json_t *v, void *slot)
{
	size_t n;
	char *s;

	(void)fi;
	if (!json_is_string(v)) {
		return fail(d, "expected a string");
	}
	n = json_string_length(v);
	if (memchr(json_string_value(v), '\0', n) != NULL) {
		return fail(d, "string contains a NUL character");
	}
	s = malloc(n + 1);
	if (s == NULL) {
		return oom(d);
	}
	memcpy(s, json_string_value(v), n + 1);
	put_ptr(slot, s);
	return UNS_OK;
}

static uns_err
enc_string(struct enc *e, const struct field *fi, const void *slot,
           json_t **out)
{
	const char *s = get_ptr(slot);

	(void)e;
	(void)fi;
	s = s != NULL ? s : "";
	if (utf8_valid(s, strlen(s))) {
		*out = json_string(s);
		return *out != NULL ? UNS_OK : UNS_ENOMEM;
	}
	/* Stored before the RPC border refused it: served with U+FFFD, as
	 * the writer serves it (json_buf.h). */
	char *fixed = uns_json_utf8_repair(s, strlen(s));
	*out = fixed != NULL ? json_string(fixed) : NULL;
	free(fixed);
	return *out != NULL ? UNS_OK : UNS_ENOMEM;
}

static uns_err
wr_string(struct enc *e, const struct field *fi, const void *slot)
{
	const char *s = get_ptr(slot);

	(void)fi;
	s = s != NULL ? s : "";
	uns_json_buf_str(e->out, s, strlen(s));
	return e->out->err;
}

/* ---- bytes (base64) ---- */

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The 6-bit value of c in standard or URL-safe base64, or -1. */
static int
b64_value(unsigned char c)
{
	if (c == '-') {
		return 62;
	}
	if (c == '_') {
		return 63;
	}
	if (c != '\0') {
		const char *p = strchr(b64_chars, c);

		return p != NULL ? (int)(p - b64_chars) : -1;
	}
	return -1;
}

/* Decodes standard or URL-safe base64, padded or not, into out (room for
 * n / 4 * 3 + 2 bytes); returns the length, or -1 if s is not base64. */
static long
b64_decode(const char *s, size_t n, unsigned char *out)
{
	size_t i, len = 0, pad = 0;
	uint32_t acc = 0;

	while (n > 0 && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if ((pad > 0 && (n + pad) % 4 != 0) || n % 4 == 1) {
		return -1;
	}
	for (i = 0; i < n; i++) {
		int v = b64_value((unsigned char)s[i]);

		if (v < 0) {
			return -1;
		}
		acc = acc << 6 | (uint32_t)v;
		if (i % 4 == 3) {
			out[len++] = (unsigned char)(acc >> 16);
			out[len++] = (unsigned char)(acc >> 8);
			out[len++] = (unsigned char)acc;
		}
	}
	if (n % 4 >= 2) {
		acc <<= 6 * (4 - n % 4);
		out[len++] = (unsigned char)(acc >> 16);
		if (n % 4 == 3) {
			out[len++] = (unsigned char)(acc >> 8);
		}
	}
	return (long)len;
}

static uns_err
dec_bytes(struct dec *d, const struct field *fi, const json_t *v, void *slot)
{
	ProtobufCBinaryData b = {0, NULL};
	size_t n;
	long len;

	(void)fi;
	if (!json_is_string(v)) {
		return fail(d, "expected a base64 string");
	}
	n = json_string_length(v);
	if (n > 0) {
		b.data = malloc(n / 4 * 3 + 2);
		if (b.data == NULL) {
			return oom(d);
		}
		len = b64_decode(json_string_value(v), n, b.data);
		if (len < 0) {
			free(b.data);
			return fail(d, "invalid base64");
		}
		b.len = (size_t)len;
	}
	memcpy(slot, &b, sizeof(b));
	return UNS_OK;
}

/* Standard base64 with padding of b into s (room for (len + 2) / 3 * 4);
 * returns the length written. */
static size_t
b64_encode(const ProtobufCBinaryData *b, char *s)
{
	size_t i, n = 0;

	for (i = 0; i < b->len; i += 3) {
		uint32_t acc = (uint32_t)b->data[i] << 16;
		size_t left = b->len - i;

		acc |= left > 1 ? (uint32_t)b->data[i + 1] << 8 : 0;
		acc |= left > 2 ? b->data[i + 2] : 0;
		s[n++] = b64_chars[acc >> 18 & 63];
		s[n++] = b64_chars[acc >> 12 & 63];
		s[n++] = left > 1 ? b64_chars[acc >> 6 & 63] : '=';
		s[n++] = left > 2 ? b64_chars[acc & 63] : '=';
	}
	return n;
}

static uns_err
enc_bytes(struct enc *e, const struct field *fi, const void *slot, json_t **out)
{
	ProtobufCBinaryData b;
	char *s;

	(void)e;
	(void)fi;
	memcpy(&b, slot, sizeof(b));
	s = malloc((b.len + 2) / 3 * 4 + 1);
	if (s == NULL) {
		return UNS_ENOMEM;
	}
	*out = json_stringn_nocheck(s, b64_encode(&b, s));
	free(s);
	return *out != NULL ? UNS_OK : UNS_ENOMEM;
}

static uns_err
wr_bytes(struct enc *e, const struct field *fi, const void *slot)
{
	ProtobufCBinaryData b;
	char *s;

	(void)fi;
	memcpy(&b, slot, sizeof(b));
	s = malloc((b.len + 2) / 3 * 4 + 1);
	if (s == NULL) {
		return UNS_ENOMEM;
	}
	uns_json_buf_raw(e->out, "\"", 1);
	uns_json_buf_raw(e->out, s, b64_encode(&b, s));
	uns_json_buf_raw(e->out, "\"", 1);
	free(s);
	return e->out->err;
}

/* ---- messages: decoding ---- */

static uns_err dec_message(struct dec *d,
                           const ProtobufCMessageDescriptor *desc,
                           const json_t *v, ProtobufCMessage **out);

static uns_err
dec_submessage(struct dec *d, const struct field *fi, const json_t *v,
               void *slot)
{
	ProtobufCMessage *m = NULL;
	uns_err rv = dec_message(d, fi->fd->descriptor, v, &m);

	if (rv == UNS_OK) {
		put_ptr(slot, m);
	}
	return rv;
}

/* Records that fd was set: its oneof case, or its proto2-style has_ flag. */
static void
mark_present(ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd)
{
	char *q = (char *)m + fd->quantifier_offset;
	protobuf_c_boolean yes = 1;

	if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		memcpy(q, &fd->id, sizeof(fd->id));
	} else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL &&
	           fd->type != PROTOBUF_C_TYPE_STRING &&
	           fd->type != PROTOBUF_C_TYPE_MESSAGE) {
		memcpy(q, &yes, sizeof(yes));
	}
}

static uns_err
dec_single(struct dec *d, const struct field *fi, const json_t *v,
           ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *fd = fi->fd;
	uint32_t oneof_case = 0;
	uns_err rv;

	if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		memcpy(&oneof_case, (char *)m + fd->quantifier_offset,
		       sizeof(oneof_case));
	}
	if (oneof_case != 0) {
		return fail(d, "more than one field of a oneof is set");
	}
	rv = type_ops[fd->type].dec(d, fi, v, (char *)m + fd->offset);
	if (rv == UNS_OK) {
		mark_present(m, fd);
	}
	return rv;
}

/* Fills a repeated field from a JSON array. The array is attached to m
 * first and counted element by element, so that m stays freeable. */
static uns_err
dec_repeated(struct dec *d, const struct field *fi, const json_t *v,
             ProtobufCMessage *m)
{
	const struct type_ops *t = &type_ops[fi->fd->type];
	char *count = (char *)m + fi->fd->quantifier_offset;
	size_t n, i, plen = d->plen;
	char *arr;
	uns_err rv = UNS_OK;

	if (!json_is_array(v)) {
		return fail(d, "expected an array");
	}
	n = json_array_size(v);
	if (n == 0) {
		return UNS_OK;
	}
	arr = calloc(n, t->size);
	if (arr == NULL) {
		return oom(d);
	}
	put_ptr((char *)m + fi->fd->offset, arr);
	for (i = 0; i < n && rv == UNS_OK; i++) {
		push_path(d, NULL, i);
		rv = t->dec(d, fi, json_array_get(v, i), arr + i * t->size);
		if (rv == UNS_OK) {
			size_t done = i + 1;

			memcpy(count, &done, sizeof(done));
		}
		pop_path(d, plen);
	}
	return rv;
}

static uns_err
dec_field(struct dec *d, const ProtobufCMessageDescriptor *desc,
          const ProtobufCFieldDescriptor *fd, const json_t *obj,
          ProtobufCMessage *m)
{
	struct field fi;
	const char *why = field_info(d->map, desc, fd, &fi);
	const char *key = fi.name;
	const json_t *v, *v2;
	size_t plen = d->plen;
	uns_err rv = UNS_OK;

	if (why != NULL) {
		return fail_code(d, UNS_EINVAL, "cannot map field %s.%s: %s",
		                 desc->name, fd->name, why);
	}
	if (fi.hidden) {
		return UNS_OK;
	}
	v = json_object_get(obj, fi.name);
	v2 = fi.alt != NULL ? json_object_get(obj, fi.alt) : NULL;
	if (v != NULL && v2 != NULL) {
		push_path(d, key, 0);
		rv = fail(d, "field given twice, as \"%s\" and \"%s\"", fi.name,
		          fi.alt);
		goto out;
	}
	if (v2 != NULL) {
		v = v2;
		key = fi.alt;
	}
	if (v == NULL || json_is_null(v)) {
		goto out;
	}
	push_path(d, key, 0);
	if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
		rv = dec_repeated(d, &fi, v, m);
	} else {
		rv = dec_single(d, &fi, v, m);
	}
out:
	pop_path(d, plen);
	return rv;
}

static uns_err
dec_message(struct dec *d, const ProtobufCMessageDescriptor *desc,
            const json_t *v, ProtobufCMessage **out)
{
	ProtobufCMessage *m = NULL;
	uns_err rv = UNS_OK;
	unsigned i;

	if (!json_is_object(v)) {
		return fail(d, "expected a JSON object, got %s", json_kind(v));
	}
	if (d->depth >= MAX_DEPTH) {
		return fail(d, "messages nested too deeply");
	}
	m = malloc(desc->sizeof_message);
	if (m == NULL) {
		return oom(d);
	}
	protobuf_c_message_init(desc, m);
	d->depth++;
	for (i = 0; i < desc->n_fields && rv == UNS_OK; i++) {
		rv = dec_field(d, desc, &desc->fields[i], v, m);
	}
	d->depth--;
	if (rv != UNS_OK) {
		goto out;
	}
	*out = m;
	m = NULL;
out:
	if (m != NULL) {
		protobuf_c_message_free_unpacked(m, NULL);
	}
	return rv;
}

/* ---- messages: encoding ---- */

static uns_err enc_message(struct enc *e, const ProtobufCMessage *m,
                           json_t **out);

static uns_err
enc_submessage(struct enc *e, const struct field *fi, const void *slot,
               json_t **out)
{
	const ProtobufCMessage *m = get_ptr(slot);

	(void)fi;
	if (m == NULL) {
		*out = json_null();
		return UNS_OK;
	}
	return enc_message(e, m, out);
}

static bool
is_zero(const ProtobufCFieldDescriptor *fd, const void *slot)
{
	static const char zero[8];
	const char *s;
	ProtobufCBinaryData b;

	switch (type_ops[fd->type].kind) {
	case K_STRING:
		s = get_ptr(slot);
		return s == NULL || *s == '\0';
	case K_BYTES:
		memcpy(&b, slot, sizeof(b));
		return b.len == 0;
	case K_MESSAGE:
		return get_ptr(slot) == NULL;
	default: /* bitwise, as protobuf-c decides what to pack: -0.0 is set */
		return memcmp(slot, zero, type_ops[fd->type].size) == 0;
	}
}

/* Whether field fd of m is written. */
static bool
is_present(const struct enc *e, const ProtobufCMessage *m,
           const ProtobufCFieldDescriptor *fd)
{
	const char *q = (const char *)m + fd->quantifier_offset;
	const void *slot = (const char *)m + fd->offset;
	bool all = (e->flags & UNS_JSON_EMIT_DEFAULTS) != 0;
	uint32_t oneof_case;
	protobuf_c_boolean has;
	size_t n;

	if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		memcpy(&oneof_case, q, sizeof(oneof_case));
		return oneof_case == fd->id;
	}
	switch (fd->label) {
	case PROTOBUF_C_LABEL_REQUIRED:
		return true;
	case PROTOBUF_C_LABEL_OPTIONAL:
		if (fd->type == PROTOBUF_C_TYPE_STRING ||
		    fd->type == PROTOBUF_C_TYPE_MESSAGE) {
			return get_ptr(slot) != NULL &&
			       get_ptr(slot) != fd->default_value;
		}
		memcpy(&has, q, sizeof(has));
		return has;
	case PROTOBUF_C_LABEL_REPEATED:
		memcpy(&n, q, sizeof(n));
		return all || n > 0;
	default:
		return all || !is_zero(fd, slot);
	}
}

static uns_err
enc_repeated(struct enc *e, const struct field *fi, const ProtobufCMessage *m,
             json_t **out)
{
	const struct type_ops *t = &type_ops[fi->fd->type];
	const char *arr = get_ptr((const char *)m + fi->fd->offset);
	json_t *a = json_array(), *v = NULL;
	uns_err rv = UNS_OK;
	size_t n, i;

	memcpy(&n, (const char *)m + fi->fd->quantifier_offset, sizeof(n));
	if (a == NULL) {
		return UNS_ENOMEM;
	}
	for (i = 0; i < n && rv == UNS_OK; i++) {
		rv = t->enc(e, fi, arr + i * t->size, &v);
		if (rv == UNS_OK && json_array_append_new(a, v) != 0) {
			rv = UNS_ENOMEM;
		}
	}
	if (rv != UNS_OK) {
		json_decref(a);
		return rv;
	}
	*out = a;
	return UNS_OK;
}

static uns_err
enc_field(struct enc *e, const ProtobufCMessage *m,
          const ProtobufCFieldDescriptor *fd, json_t *obj)
{
	struct field fi;
	json_t *v = NULL;
	uns_err rv;

	if (field_info(e->map, m->descriptor, fd, &fi) != NULL) {
		return UNS_EINVAL;
	}
	if (fi.hidden || !is_present(e, m, fd)) {
		return UNS_OK;
	}
	if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
		rv = enc_repeated(e, &fi, m, &v);
	} else {
		rv = type_ops[fd->type].enc(e, &fi,
		                            (const char *)m + fd->offset, &v);
	}
	if (rv == UNS_OK && json_object_set_new(obj, fi.name, v) != 0) {
		rv = UNS_ENOMEM;
	}
	return rv;
}

static uns_err
enc_message(struct enc *e, const ProtobufCMessage *m, json_t **out)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	json_t *obj = NULL;
	uns_err rv = UNS_OK;
	unsigned i;

	if (e->depth >= MAX_DEPTH) {
		return UNS_INVALID_ARGUMENT;
	}
	obj = json_object();
	if (obj == NULL) {
		return UNS_ENOMEM;
	}
	e->depth++;
	for (i = 0; i < desc->n_fields && rv == UNS_OK; i++) {
		rv = enc_field(e, m, &desc->fields[i], obj);
	}
	e->depth--;
	if (rv != UNS_OK) {
		goto out;
	}
	*out = obj;
	obj = NULL;
out:
	json_decref(obj);
	return rv;
}

/* ---- messages: writing text ---- */

static uns_err wr_message(struct enc *e, const ProtobufCMessage *m);

static uns_err
wr_submessage(struct enc *e, const struct field *fi, const void *slot)
{
	const ProtobufCMessage *m = get_ptr(slot);

	(void)fi;
	if (m == NULL) {
		uns_json_buf_raw(e->out, "null", 4);
		return e->out->err;
	}
	return wr_message(e, m);
}

static uns_err
wr_repeated(struct enc *e, const struct field *fi, const ProtobufCMessage *m)
{
	const struct type_ops *t = &type_ops[fi->fd->type];
	const char *arr = get_ptr((const char *)m + fi->fd->offset);
	uns_err rv = UNS_OK;
	size_t n, i;

	memcpy(&n, (const char *)m + fi->fd->quantifier_offset, sizeof(n));
	uns_json_buf_raw(e->out, "[", 1);
	for (i = 0; i < n && rv == UNS_OK; i++) {
		if (i > 0) {
			uns_json_buf_raw(e->out, ",", 1);
		}
		rv = t->wr(e, fi, arr + i * t->size);
	}
	uns_json_buf_raw(e->out, "]", 1);
	return rv != UNS_OK ? rv : e->out->err;
}

/* Writes ,"name":value for field fd of m when it is present; *first says
 * whether a field was written before in this object. */
static uns_err
wr_field(struct enc *e, const struct msg_rules *mr, const ProtobufCMessage *m,
         const ProtobufCFieldDescriptor *fd, bool *first)
{
	struct field fi;

	if (field_info_picked(e->map, mr, m->descriptor, fd, &fi) != NULL) {
		return UNS_EINVAL;
	}
	if (fi.hidden || !is_present(e, m, fd)) {
		return UNS_OK;
	}
	if (!*first) {
		uns_json_buf_raw(e->out, ",", 1);
	}
	*first = false;
	uns_json_buf_str(e->out, fi.name, strlen(fi.name));
	uns_json_buf_raw(e->out, ":", 1);
	if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
		return wr_repeated(e, &fi, m);
	}
	return type_ops[fd->type].wr(e, &fi, (const char *)m + fd->offset);
}

static uns_err
wr_message(struct enc *e, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	struct msg_rules mr;
	uns_err rv = UNS_OK;
	bool first = true;
	unsigned i;

	if (e->depth >= MAX_DEPTH) {
		return UNS_INVALID_ARGUMENT;
	}
	msg_rules_pick(e->map, desc, &mr);
	uns_json_buf_raw(e->out, "{", 1);
	e->depth++;
	for (i = 0; i < desc->n_fields && rv == UNS_OK; i++) {
		rv = wr_field(e, &mr, m, &desc->fields[i], &first);
	}
	e->depth--;
	uns_json_buf_raw(e->out, "}", 1);
	return rv != UNS_OK ? rv : e->out->err;
}

/* ---- the dispatch table ---- */

#define INT_OPS(n, sz, lo, hi)                                                 \
	{                                                                      \
		n, K_INT, sz, lo, hi, dec_int, enc_int, wr_int                 \
	}

static const struct type_ops type_ops[] = {
    [PROTOBUF_C_TYPE_INT32] = INT_OPS("int32", 4, INT32_MIN, INT32_MAX),
    [PROTOBUF_C_TYPE_SINT32] = INT_OPS("sint32", 4, INT32_MIN, INT32_MAX),
    [PROTOBUF_C_TYPE_SFIXED32] = INT_OPS("sfixed32", 4, INT32_MIN, INT32_MAX),
    [PROTOBUF_C_TYPE_INT64] = INT_OPS("int64", 8, INT64_MIN, INT64_MAX),
    [PROTOBUF_C_TYPE_SINT64] = INT_OPS("sint64", 8, INT64_MIN, INT64_MAX),
    [PROTOBUF_C_TYPE_SFIXED64] = INT_OPS("sfixed64", 8, INT64_MIN, INT64_MAX),
    [PROTOBUF_C_TYPE_UINT32] = INT_OPS("uint32", 4, 0, UINT32_MAX),
    [PROTOBUF_C_TYPE_FIXED32] = INT_OPS("fixed32", 4, 0, UINT32_MAX),
    [PROTOBUF_C_TYPE_UINT64] = INT_OPS("uint64", 8, 0, UINT64_MAX),
    [PROTOBUF_C_TYPE_FIXED64] = INT_OPS("fixed64", 8, 0, UINT64_MAX),
    [PROTOBUF_C_TYPE_FLOAT] = {"float", K_FLOAT, 4, 0, 0, dec_float, enc_float,
                               wr_float},
    [PROTOBUF_C_TYPE_DOUBLE] = {"double", K_FLOAT, 8, 0, 0, dec_float,
                                enc_float, wr_float},
    [PROTOBUF_C_TYPE_BOOL] = {"bool", K_BOOL, sizeof(protobuf_c_boolean), 0, 0,
                              dec_bool, enc_bool, wr_bool},
    [PROTOBUF_C_TYPE_ENUM] = {"enum", K_ENUM, 4, 0, 0, dec_enum, enc_enum,
                              wr_enum},
    [PROTOBUF_C_TYPE_STRING] = {"string", K_STRING, sizeof(char *), 0, 0,
                                dec_string, enc_string, wr_string},
    [PROTOBUF_C_TYPE_BYTES] = {"bytes", K_BYTES, sizeof(ProtobufCBinaryData), 0,
                               0, dec_bytes, enc_bytes, wr_bytes},
    [PROTOBUF_C_TYPE_MESSAGE] = {"message", K_MESSAGE,
                                 sizeof(ProtobufCMessage *), 0, 0,
                                 dec_submessage, enc_submessage, wr_submessage},
};

/* ---- public API ---- */

uns_err
uns_json_from_value(const ProtobufCMessageDescriptor *desc, const uns_jv *value,
                    const uns_json_mapping *map, ProtobufCMessage **out,
                    uns_json_error *err)
{
	struct dec d = {.map = map, .err = err};
	ProtobufCMessage *m = NULL;
	uns_err rv;

	clear_err(err);
	if (desc == NULL || value == NULL || out == NULL) {
		return UNS_EINVAL;
	}
	/* uns_jv is json_t by another name (json_value.c). */
	rv = dec_message(&d, desc, (const json_t *)(const void *)value, &m);
	if (rv == UNS_OK) {
		*out = m;
	}
	return rv;
}

uns_err
uns_json_decode(const ProtobufCMessageDescriptor *desc, const char *text,
                size_t len, const uns_json_mapping *map, ProtobufCMessage **out,
                uns_json_error *err)
{
	uns_jv_error je;
	uns_jv *root = NULL;
	uns_err rv;

	clear_err(err);
	if (desc == NULL || out == NULL || (text == NULL && len > 0)) {
		return UNS_EINVAL;
	}
	rv = uns_jv_parse(text, len, 0, &root, &je);
	if (rv != UNS_OK) {
		if (err != NULL && rv == UNS_INVALID_ARGUMENT) {
			snprintf(err->message, sizeof(err->message), "%s",
			         je.reason);
			utf8_scrub(err->message);
			err->line = je.line;
			err->column = je.column;
			err->position = (int)je.position;
		}
		return rv;
	}
	rv = uns_json_from_value(desc, root, map, out, err);
	uns_jv_free(root);
	return rv;
}

uns_err
uns_json_to_value(const ProtobufCMessage *msg, const uns_json_mapping *map,
                  int flags, uns_jv **out)
{
	struct enc e = {.map = map, .flags = flags};
	json_t *v = NULL;
	uns_err rv;

	if (msg == NULL || out == NULL) {
		return UNS_EINVAL;
	}
	rv = enc_message(&e, msg, &v);
	if (rv == UNS_OK) {
		*out = (uns_jv *)(void *)v;
	}
	return rv;
}

uns_err
uns_json_encode(const ProtobufCMessage *msg, const uns_json_mapping *map,
                int flags, char **out)
{
	uns_jv *v = NULL;
	char *s = NULL;
	uns_err rv;

	if (out == NULL) {
		return UNS_EINVAL;
	}
	rv = uns_json_to_value(msg, map, flags, &v);
	if (rv == UNS_OK) {
		rv = uns_jv_dump(
		    v, (flags & UNS_JSON_PRETTY) ? UNS_JV_PRETTY : 0, &s, NULL);
	}
	if (rv == UNS_OK) {
		*out = s;
	}
	uns_jv_free(v);
	return rv;
}

uns_err
uns_json_write(const ProtobufCMessage *msg, const uns_json_mapping *map,
               int flags, uns_json_buf *out)
{
	struct enc e = {.map = map, .flags = flags, .out = out};
	size_t mark;
	uns_err rv;

	if (msg == NULL || out == NULL || (flags & UNS_JSON_PRETTY)) {
		return UNS_EINVAL;
	}
	if (out->err != UNS_OK) {
		return out->err;
	}
	mark = out->len;
	rv = wr_message(&e, msg);
	if (rv != UNS_OK) {
		uns_json_buf_rewind(out, mark);
	}
	return rv;
}
