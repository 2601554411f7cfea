/*
 * json_value.h — a parsed or built JSON value behind an opaque handle:
 * parse with a located error, typed getters that check as they read,
 * builders, and dump. The one door to jansson: only common/json includes
 * <jansson.h>; everything else that reads or builds a JSON tree does it
 * through this header. Answers written straight to text stay on json_buf.
 *
 * Ownership, stated once for every function below:
 *  - A uns_jv is reference counted. Each uns_jv * a function returns as new
 *    (uns_jv_parse*, uns_jv_new_*, uns_jv_ref, uns_jv_copy) holds one
 *    reference, for the caller to drop with uns_jv_free().
 *  - Getters (uns_jv_get, uns_jv_at, uns_jv_iter_next) return a borrowed
 *    pointer, valid while its container holds it; take uns_jv_ref() to
 *    keep it longer.
 *  - A function that puts a value into a container (uns_jv_set,
 *    uns_jv_append) takes the caller's reference, on failure too; a NULL
 *    value is UNS_ENOMEM, so a failed uns_jv_new_* can be passed straight
 *    in and checked once.
 *  - Getters accept NULL and any type, answering "absent" or a typed
 *    error, so a chain like uns_jv_get(uns_jv_get(o, "a"), "b") needs one
 *    check at its end.
 *
 * Values are not locked: a tree may be read from many threads, written
 * from one. Objects keep their members in insertion order, in dumps too.
 *
 * Rejected: exposing json_t (every user then depends on jansson's headers
 * and macros), and a pack/unpack format language (unchecked varargs; the
 * typed getters say what was wrong and where).
 */
#ifndef UNS_JSON_VALUE_H
#define UNS_JSON_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json_buf.h"
#include "uns/uns.h"

typedef struct uns_jv uns_jv;

typedef enum uns_jv_type {
	UNS_JV_NULL = 0,
	UNS_JV_BOOL,
	UNS_JV_INT,
	UNS_JV_REAL,
	UNS_JV_STRING,
	UNS_JV_ARRAY,
	UNS_JV_OBJECT,
} uns_jv_type;

/* Why a parse failed. */
typedef struct uns_jv_error {
	/* Where the fault was seen: the 1-based line and column (in
	 * characters) of the last character read, and the bytes read up to
	 * and including it. 0 when not located (out of memory, no file). */
	int line, column;
	long position;
	char reason[160];
} uns_jv_error;

/* Parse flags. */
enum {
	UNS_JV_ANY = 1,        /* accept any value at the top, not only an
	                          object or an array */
	UNS_JV_DUPLICATES = 2, /* accept a repeated key (the last wins);
	                          refused by default */
};

/* Dump flags. */
enum {
	UNS_JV_PRETTY = 1,    /* two-space indent, one member per line */
	UNS_JV_SORT_KEYS = 2, /* object members by key instead of insertion */
};

/*
 * Parses len bytes of UTF-8 JSON text. A NUL byte or "\u0000" anywhere is
 * refused. On UNS_OK *out is the value. Errors: UNS_INVALID_ARGUMENT (*err,
 * if not NULL, says where and why), UNS_ENOMEM, UNS_EINVAL (NULL text with
 * len > 0, or NULL out).
 */
uns_err uns_jv_parse(const char *text, size_t len, int flags, uns_jv **out,
                     uns_jv_error *err);

/* As uns_jv_parse, the whole of a file. UNS_EIO when it cannot be read
 * (err->reason says why). */
uns_err uns_jv_parse_file(const char *path, int flags, uns_jv **out,
                          uns_jv_error *err);

/* One more reference to v (v itself; NULL stays NULL). */
uns_jv *uns_jv_ref(uns_jv *v);
/* Drops one reference; the last frees the tree. NULL is ignored. */
void uns_jv_free(uns_jv *v);
/* A deep copy, or NULL when out of memory. */
uns_jv *uns_jv_copy(const uns_jv *v);

/* ---- reading ----------------------------------------------------------- */

/* The type; UNS_JV_NULL for NULL too. */
uns_jv_type uns_jv_typeof(const uns_jv *v);
/* An article and a name for messages: "a JSON string", "JSON null". */
const char *uns_jv_kind(const uns_jv *v);

/* The member key of object obj, or NULL (absent, or obj is not an
 * object). */
uns_jv *uns_jv_get(const uns_jv *obj, const char *key);
/* Members of an object, elements of an array; 0 for anything else. */
size_t uns_jv_len(const uns_jv *v);
/* Element i of array arr, or NULL (out of range, or not an array). */
uns_jv *uns_jv_at(const uns_jv *arr, size_t i);

/* A string's bytes (NUL-terminated, no NUL inside) and length. len may be
 * NULL. UNS_INVALID_ARGUMENT when v is not a string. */
uns_err uns_jv_str(const uns_jv *v, const char **s, size_t *len);
/* The string's text, or NULL when v is not a string. */
const char *uns_jv_string(const uns_jv *v);
/* An integer in [min, max]. UNS_INVALID_ARGUMENT when v is not an integer
 * (1.0 is a real), UNS_OUT_OF_RANGE when it is outside. */
uns_err uns_jv_int(const uns_jv *v, int64_t min, int64_t max, int64_t *out);
/* An integer or a real, as a double. UNS_INVALID_ARGUMENT otherwise. */
uns_err uns_jv_number(const uns_jv *v, double *out);
/* true or false. UNS_INVALID_ARGUMENT otherwise. */
uns_err uns_jv_bool(const uns_jv *v, bool *out);
/* v is true (false for false, anything else and NULL). */
bool uns_jv_is_true(const uns_jv *v);

/* Iteration over an object's members in order, or an array's elements
 * (key NULL). Do not change the container while iterating. */
typedef struct uns_jv_iter {
	const uns_jv *v;
	void *pos;
	size_t i;
} uns_jv_iter;

void uns_jv_iter_init(uns_jv_iter *it, const uns_jv *v);
/* The next member: true with *key (may be NULL) and *value set, or false at
 * the end (and for a value that is neither object nor array). */
bool uns_jv_iter_next(uns_jv_iter *it, const char **key, uns_jv **value);

/* ---- building ---------------------------------------------------------- */

/* New values; NULL when out of memory, or (strings) for bytes that are not
 * well-formed UTF-8 or hold a NUL. */
uns_jv *uns_jv_new_object(void);
uns_jv *uns_jv_new_array(void);
uns_jv *uns_jv_new_str(const char *s); /* NUL-terminated */
uns_jv *uns_jv_new_strn(const char *s, size_t n);
uns_jv *uns_jv_new_int(int64_t i);
uns_jv *uns_jv_new_real(double d); /* NULL for NaN and infinities */
uns_jv *uns_jv_new_bool(bool b);
uns_jv *uns_jv_new_null(void);

/* Sets obj[key] to val, replacing an earlier value (the member keeps its
 * place). Takes val's reference. UNS_EINVAL when obj is not an object or
 * key is not UTF-8; UNS_ENOMEM when val is NULL. */
uns_err uns_jv_set(uns_jv *obj, const char *key, uns_jv *val);
/* Shorthands: uns_jv_set with a new string, integer, boolean. */
uns_err uns_jv_set_str(uns_jv *obj, const char *key, const char *s);
uns_err uns_jv_set_strn(uns_jv *obj, const char *key, const char *s, size_t n);
uns_err uns_jv_set_int(uns_jv *obj, const char *key, int64_t i);
uns_err uns_jv_set_bool(uns_jv *obj, const char *key, bool b);
/* Removes obj[key]; UNS_NOT_FOUND when it is absent. */
uns_err uns_jv_del(uns_jv *obj, const char *key);
/* Appends val to arr. Takes val's reference. */
uns_err uns_jv_append(uns_jv *arr, uns_jv *val);

/* ---- writing ----------------------------------------------------------- */

/* On UNS_OK *out is the text (malloc'd, NUL-terminated; the caller frees
 * it) and *len (may be NULL) its length. Compact unless UNS_JV_PRETTY;
 * any value at the top. Errors: UNS_ENOMEM, UNS_EINVAL. */
uns_err uns_jv_dump(const uns_jv *v, int flags, char **out, size_t *len);
/* Appends the compact text of v to out (json_buf's sticky error rules). */
void uns_jv_write(const uns_jv *v, uns_json_buf *out);

#endif /* UNS_JSON_VALUE_H */
