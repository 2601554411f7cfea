/*
 * json_codec.h — protobuf <-> JSON for any protobuf-c message, driven by its
 * descriptor alone (no per-message code).
 *
 * Used by `unsctl call METHOD --json` (default mapping) and by the REST
 * gateway (with an uns_json_mapping that gives Graph's spellings).
 *
 * Conventions:
 *  1. The default mapping (map == NULL) is proto3's JSON mapping: names in
 *     lowerCamelCase (input also takes the proto name), int64/uint64 written
 *     as strings and read from numbers or strings, bytes as base64 (input
 *     also takes base64url, padding optional), enums written by full value
 *     name and read case-insensitively by full name, by name without the
 *     enum's common prefix ("windows", "webPush") or by number, fields equal
 *     to their default omitted, null read as "not set", unknown properties
 *     ignored. 32-bit integers are JSON numbers only (a converter widens it).
 *  2. Decoded messages are laid out as protobuf_c_message_unpack() with the
 *     default allocator would lay them out: free them with
 *     protobuf_c_message_free_unpacked(msg, NULL).
 *  3. *out is written only on UNS_OK. On failure nothing is returned and
 *     nothing leaks; *err (if not NULL) says why.
 *  4. The codec does no I/O and keeps no state: every function is safe to
 *     call from any thread, and a mapping is read-only data.
 */
#ifndef UNS_JSON_CODEC_H
#define UNS_JSON_CODEC_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "json_buf.h"
#include "json_value.h"
#include "uns/uns.h"

/* Why a decode failed. */
typedef struct uns_json_error {
	/* Dotted JSON path of the offending value, spelled as in the input,
	 * e.g. "notification.payload.visualContent.title" or
	 * "notification.targetPolicy.platformTypes[2]"; "" for the document. */
	char path[256];
	/* Lowercase reason, e.g. "expected a string", or the parser's text
	 * for a syntax error. */
	char message[256];
	/* Where a syntax error is (as uns_jv_error counts); -1 otherwise. */
	int line, column, position;
} uns_json_error;

/* Output flags of uns_json_encode() and uns_json_to_value(). */
enum {
	UNS_JSON_EMIT_DEFAULTS = 1, /* also write fields equal to their default
	                               (unset messages as null) */
	UNS_JSON_PRETTY = 2,        /* indent by two spaces (encode only) */
};

/* A built-in value converter a mapping may attach to a field. */
typedef enum uns_json_conv {
	UNS_JSON_CONV_NONE = 0,
	/* int64 Unix milliseconds <-> ISO 8601 UTC "2019-10-30T23:59:00.000Z".
	 * Input takes any number of fractional digits (beyond milliseconds are
	 * truncated) and 'Z' or a +hh:mm / -hh:mm offset. Years 0000-9999. */
	UNS_JSON_CONV_TIME_MS,
	/* 32-bit integer read from a number or a decimal string ("60"). */
	UNS_JSON_CONV_NUMBER_OR_STRING,
	/* int64/uint64 written as a JSON number instead of a string (a uint64
	 * above INT64_MAX is still written as a string). */
	UNS_JSON_CONV_INT64_AS_NUMBER,
} uns_json_conv;

/* One field override: which field, and what changes. */
typedef struct uns_json_field_rule {
	const char *message;   /* full message name, "uns.v1.Notification" */
	const char *field;     /* proto field name, "expiration_time_ms" */
	const char *json_name; /* NULL keeps the default; otherwise the only
	                          name written and accepted */
	uns_json_conv conv;
	int hidden; /* nonzero: never written, ignored on input */
} uns_json_field_rule;

/* The canonical spelling of one enum value. */
typedef struct uns_json_enum_name {
	int value;
	const char *name; /* "windows", "High", "iOS" */
} uns_json_enum_name;

/* Spellings for one enum. Values without an entry keep the default; input
 * matches spellings case-insensitively, and every default form still works. */
typedef struct uns_json_enum_rule {
	const char *enum_name; /* full enum name, "uns.v1.Platform" */
	const uns_json_enum_name *names;
	size_t n_names;
} uns_json_enum_rule;

/* Overrides of the default mapping; plain const data, NULL = default. A
 * rule that does not fit its field (a converter on the wrong type) makes
 * calls touching that field fail with UNS_EINVAL. */
typedef struct uns_json_mapping {
	const uns_json_field_rule *fields;
	size_t n_fields;
	const uns_json_enum_rule *enums;
	size_t n_enums;
} uns_json_mapping;

/*
 * Parses len bytes of JSON text (a JSON object; duplicate keys rejected)
 * into a new message of type desc. On UNS_OK *out owns the message.
 * Errors: UNS_INVALID_ARGUMENT (syntax or a value that does not fit; *err
 * says where), UNS_ENOMEM, UNS_EINVAL (NULL argument, or a bad mapping).
 */
uns_err uns_json_decode(const ProtobufCMessageDescriptor *desc,
                        const char *text, size_t len,
                        const uns_json_mapping *map, ProtobufCMessage **out,
                        uns_json_error *err);

/*
 * Writes msg as JSON text; flags are UNS_JSON_* bits. On UNS_OK *out is a
 * NUL-terminated malloc'd string: release it with free(). Errors:
 * UNS_INVALID_ARGUMENT (the message holds something JSON cannot carry: invalid
 * UTF-8, a time outside years 0000-9999, nesting deeper than 64), UNS_ENOMEM,
 * UNS_EINVAL.
 */
uns_err uns_json_encode(const ProtobufCMessage *msg,
                        const uns_json_mapping *map, int flags, char **out);

/*
 * As uns_json_encode, but appended to out as text without building a
 * value tree: the same bytes uns_json_encode writes (same names,
 * spellings, escaping, field order), at a fraction of the allocations.
 * flags: UNS_JSON_EMIT_DEFAULTS (UNS_JSON_PRETTY is UNS_EINVAL). On
 * failure out holds what it held before the call; a failure already in
 * out is returned as it is.
 */
uns_err uns_json_write(const ProtobufCMessage *msg, const uns_json_mapping *map,
                       int flags, uns_json_buf *out);

/* As uns_json_decode, from an already parsed value (borrowed). */
uns_err uns_json_from_value(const ProtobufCMessageDescriptor *desc,
                            const uns_jv *value, const uns_json_mapping *map,
                            ProtobufCMessage **out, uns_json_error *err);

/* As uns_json_encode, to a new object: *out holds one reference, for the
 * caller to uns_jv_free() or hand to uns_jv_set()/uns_jv_append(). */
uns_err uns_json_to_value(const ProtobufCMessage *msg,
                          const uns_json_mapping *map, int flags, uns_jv **out);

#endif /* UNS_JSON_CODEC_H */
