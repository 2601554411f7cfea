/*
 * json_value.c — uns_jv over jansson.
 *
 * A uns_jv * is a json_t * under another name: struct uns_jv is never
 * defined, and the two casts below are the only place that knows. That
 * costs nothing per call (no wrapper node, no second refcount) and lets
 * json_codec, which works on json_t inside this room, hand trees across
 * the border as they are. What the wrapper adds is checking: getters say
 * what type they found, integers come with a range, strings with their
 * length, and a parse error carries line, column, byte and reason.
 *
 * jansson 2.14 keeps object members in insertion order, so every dump is
 * in insertion order unless UNS_JV_SORT_KEYS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json_value.h"

static json_t *
J(const uns_jv *v)
{
	return (json_t *)(uintptr_t)v;
}

static uns_jv *
V(json_t *j)
{
	return (uns_jv *)j;
}

/* ---- parsing ----------------------------------------------------------- */

static void
say(uns_jv_error *err, int line, int column, long position, const char *why)
{
	if (err == NULL) {
		return;
	}
	err->line = line;
	err->column = column;
	err->position = position;
	snprintf(err->reason, sizeof(err->reason), "%s", why);
}

/* Line and column of byte off in text, counted as jansson counts them
 * (columns in characters, from 1). */
static void
locate(const char *text, size_t off, int *line, int *column)
{
	*line = 1;
	*column = 0;
	for (size_t i = 0; i <= off; i++) {
		unsigned char c = (unsigned char)text[i];
		if (i < off && c == '\n') {
			(*line)++;
			*column = 0;
		} else if ((c & 0xC0) != 0x80) {
			(*column)++;
		}
	}
}

static int
load_flags(int flags)
{
	int f = 0;
	if (flags & UNS_JV_ANY) {
		f |= JSON_DECODE_ANY;
	}
	if (!(flags & UNS_JV_DUPLICATES)) {
		f |= JSON_REJECT_DUPLICATES;
	}
	return f;
}

static uns_err
loaded(json_t *j, const json_error_t *je, uns_jv **out, uns_jv_error *err)
{
	if (j != NULL) {
		*out = V(j);
		return UNS_OK;
	}
	switch (json_error_code(je)) {
	case json_error_out_of_memory:
		say(err, 0, 0, 0, "out of memory");
		return UNS_ENOMEM;
	case json_error_cannot_open_file:
		say(err, 0, 0, 0, je->text);
		return UNS_EIO;
	case json_error_null_character:
		say(err, je->line, je->column, je->position,
		    "\\u0000 is not allowed in a string");
		return UNS_INVALID_ARGUMENT;
	default:
		say(err, je->line, je->column, je->position, je->text);
		return UNS_INVALID_ARGUMENT;
	}
}

uns_err
uns_jv_parse(const char *text, size_t len, int flags, uns_jv **out,
             uns_jv_error *err)
{
	json_error_t je;
	const char *nul;
	int line, column;

	if ((text == NULL && len > 0) || out == NULL) {
		return UNS_EINVAL;
	}
	if (len == 0) {
		say(err, 1, 0, 0, "no JSON text (the input is empty)");
		return UNS_INVALID_ARGUMENT;
	}
	nul = memchr(text, '\0', len);
	if (nul != NULL) {
		locate(text, (size_t)(nul - text), &line, &column);
		say(err, line, column, (long)(nul - text) + 1,
		    "a NUL byte is not allowed in JSON text");
		return UNS_INVALID_ARGUMENT;
	}
	return loaded(json_loadb(text, len, load_flags(flags), &je), &je, out,
	              err);
}

uns_err
uns_jv_parse_file(const char *path, int flags, uns_jv **out, uns_jv_error *err)
{
	json_error_t je;

	if (path == NULL || out == NULL) {
		return UNS_EINVAL;
	}
	return loaded(json_load_file(path, load_flags(flags), &je), &je, out,
	              err);
}

uns_jv *
uns_jv_ref(uns_jv *v)
{
	return V(json_incref(J(v)));
}

void
uns_jv_free(uns_jv *v)
{
	json_decref(J(v));
}

uns_jv *
uns_jv_copy(const uns_jv *v)
{
	return V(json_deep_copy(J(v)));
}

/* ---- reading ----------------------------------------------------------- */

/* One row per type: ours and the words for messages. */
static const struct {
	json_type j;
	uns_jv_type t;
	const char *kind;
} types[] = {
    {JSON_OBJECT, UNS_JV_OBJECT, "a JSON object"},
    {JSON_ARRAY, UNS_JV_ARRAY, "a JSON array"},
    {JSON_STRING, UNS_JV_STRING, "a JSON string"},
    {JSON_INTEGER, UNS_JV_INT, "a JSON number"},
    {JSON_REAL, UNS_JV_REAL, "a JSON number"},
    {JSON_TRUE, UNS_JV_BOOL, "a JSON boolean"},
    {JSON_FALSE, UNS_JV_BOOL, "a JSON boolean"},
    {JSON_NULL, UNS_JV_NULL, "JSON null"},
};

static size_t
type_row(const uns_jv *v)
{
	size_t i;
	if (v == NULL) {
		return sizeof(types) / sizeof(types[0]) - 1;
	}
	for (i = 0; i < sizeof(types) / sizeof(types[0]) - 1; i++) {
		if (types[i].j == json_typeof(J(v))) {
			break;
		}
	}
	return i;
}

uns_jv_type
uns_jv_typeof(const uns_jv *v)
{
	return types[type_row(v)].t;
}

const char *
uns_jv_kind(const uns_jv *v)
{
	return types[type_row(v)].kind;
}

uns_jv *
uns_jv_get(const uns_jv *obj, const char *key)
{
	if (key == NULL) {
		return NULL;
	}
	return V(json_object_get(J(obj), key));
}

size_t
uns_jv_len(const uns_jv *v)
{
	if (json_is_array(J(v))) {
		return json_array_size(J(v));
	}
	return json_object_size(J(v));
}

uns_jv *
uns_jv_at(const uns_jv *arr, size_t i)
{
	return V(json_array_get(J(arr), i));
}

uns_err
uns_jv_str(const uns_jv *v, const char **s, size_t *len)
{
	if (!json_is_string(J(v)) || s == NULL) {
		return s == NULL ? UNS_EINVAL : UNS_INVALID_ARGUMENT;
	}
	*s = json_string_value(J(v));
	if (len != NULL) {
		*len = json_string_length(J(v));
	}
	return UNS_OK;
}

const char *
uns_jv_string(const uns_jv *v)
{
	return json_string_value(J(v));
}

uns_err
uns_jv_int(const uns_jv *v, int64_t min, int64_t max, int64_t *out)
{
	json_int_t i;

	if (out == NULL || min > max) {
		return UNS_EINVAL;
	}
	if (!json_is_integer(J(v))) {
		return UNS_INVALID_ARGUMENT;
	}
	i = json_integer_value(J(v));
	if (i < min || i > max) {
		return UNS_OUT_OF_RANGE;
	}
	*out = (int64_t)i;
	return UNS_OK;
}

uns_err
uns_jv_number(const uns_jv *v, double *out)
{
	if (out == NULL) {
		return UNS_EINVAL;
	}
	if (!json_is_number(J(v))) {
		return UNS_INVALID_ARGUMENT;
	}
	*out = json_number_value(J(v));
	return UNS_OK;
}

uns_err
uns_jv_bool(const uns_jv *v, bool *out)
{
	if (out == NULL) {
		return UNS_EINVAL;
	}
	if (!json_is_boolean(J(v))) {
		return UNS_INVALID_ARGUMENT;
	}
	*out = json_is_true(J(v));
	return UNS_OK;
}

bool
uns_jv_is_true(const uns_jv *v)
{
	return json_is_true(J(v));
}

void
uns_jv_iter_init(uns_jv_iter *it, const uns_jv *v)
{
	it->v = v;
	it->pos = json_is_object(J(v)) ? json_object_iter(J(v)) : NULL;
	it->i = 0;
}

bool
uns_jv_iter_next(uns_jv_iter *it, const char **key, uns_jv **value)
{
	json_t *c = J(it->v);

	if (json_is_array(c)) {
		if (it->i >= json_array_size(c)) {
			return false;
		}
		if (key != NULL) {
			*key = NULL;
		}
		*value = V(json_array_get(c, it->i++));
		return true;
	}
	if (it->pos == NULL) {
		return false;
	}
	if (key != NULL) {
		*key = json_object_iter_key(it->pos);
	}
	*value = V(json_object_iter_value(it->pos));
	it->pos = json_object_iter_next(c, it->pos);
	return true;
}

/* ---- building ---------------------------------------------------------- */

uns_jv *
uns_jv_new_object(void)
{
	return V(json_object());
}

uns_jv *
uns_jv_new_array(void)
{
	return V(json_array());
}

uns_jv *
uns_jv_new_strn(const char *s, size_t n)
{
	if (s == NULL || memchr(s, '\0', n) != NULL) {
		return NULL;
	}
	return V(json_stringn(s, n));
}

uns_jv *
uns_jv_new_str(const char *s)
{
	return s == NULL ? NULL : uns_jv_new_strn(s, strlen(s));
}

uns_jv *
uns_jv_new_int(int64_t i)
{
	return V(json_integer((json_int_t)i));
}

uns_jv *
uns_jv_new_real(double d)
{
	return V(json_real(d));
}

uns_jv *
uns_jv_new_bool(bool b)
{
	return V(json_boolean(b));
}

uns_jv *
uns_jv_new_null(void)
{
	return V(json_null());
}

uns_err
uns_jv_set(uns_jv *obj, const char *key, uns_jv *val)
{
	if (val == NULL) {
		return UNS_ENOMEM;
	}
	if (!json_is_object(J(obj)) || key == NULL) {
		json_decref(J(val));
		return UNS_EINVAL;
	}
	/* json_object_set_new takes val's reference on failure too; it fails
	 * for a key that is not UTF-8, or when out of memory. */
	if (json_object_set_new(J(obj), key, J(val)) != 0) {
		return UNS_EINVAL;
	}
	return UNS_OK;
}

uns_err
uns_jv_set_str(uns_jv *obj, const char *key, const char *s)
{
	return uns_jv_set(obj, key, uns_jv_new_str(s));
}

uns_err
uns_jv_set_strn(uns_jv *obj, const char *key, const char *s, size_t n)
{
	return uns_jv_set(obj, key, uns_jv_new_strn(s, n));
}

uns_err
uns_jv_set_int(uns_jv *obj, const char *key, int64_t i)
{
	return uns_jv_set(obj, key, uns_jv_new_int(i));
}

uns_err
uns_jv_set_bool(uns_jv *obj, const char *key, bool b)
{
	return uns_jv_set(obj, key, uns_jv_new_bool(b));
}

uns_err
uns_jv_del(uns_jv *obj, const char *key)
{
	if (!json_is_object(J(obj)) || key == NULL) {
		return UNS_EINVAL;
	}
	return json_object_del(J(obj), key) == 0 ? UNS_OK : UNS_NOT_FOUND;
}

uns_err
uns_jv_append(uns_jv *arr, uns_jv *val)
{
	if (val == NULL) {
		return UNS_ENOMEM;
	}
	if (!json_is_array(J(arr))) {
		json_decref(J(val));
		return UNS_EINVAL;
	}
	return json_array_append_new(J(arr), J(val)) == 0 ? UNS_OK : UNS_ENOMEM;
}

/* ---- writing ----------------------------------------------------------- */

static size_t
dump_flags(int flags)
{
	size_t f = JSON_ENCODE_ANY;
	f |= (flags & UNS_JV_PRETTY) ? JSON_INDENT(2) : JSON_COMPACT;
	if (flags & UNS_JV_SORT_KEYS) {
		f |= JSON_SORT_KEYS;
	}
	return f;
}

uns_err
uns_jv_dump(const uns_jv *v, int flags, char **out, size_t *len)
{
	char *s;

	if (v == NULL || out == NULL) {
		return UNS_EINVAL;
	}
	s = json_dumps(J(v), dump_flags(flags));
	if (s == NULL) {
		return UNS_ENOMEM;
	}
	*out = s;
	if (len != NULL) {
		*len = strlen(s);
	}
	return UNS_OK;
}

static int
to_buf(const char *s, size_t n, void *data)
{
	uns_json_buf *b = data;
	uns_json_buf_raw(b, s, n);
	return b->err == UNS_OK ? 0 : -1;
}

void
uns_jv_write(const uns_jv *v, uns_json_buf *out)
{
	if (out->err != UNS_OK) {
		return;
	}
	if (v == NULL) {
		out->err = UNS_EINVAL;
		return;
	}
	if (json_dump_callback(J(v), to_buf, out, dump_flags(0)) != 0 &&
	    out->err == UNS_OK) {
		out->err = UNS_ENOMEM;
	}
}
