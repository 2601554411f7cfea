/*
 * pbtext.h — the text rules of protobuf strings at the RPC border, and the
 * two text facts the JSON codec shares with it: what well-formed UTF-8 is,
 * and a field's lowerCamelCase name.
 *
 * protobuf-c copies a string field's bytes as they came and adds a NUL: it
 * checks no UTF-8, and a NUL inside the value silently cuts it ("order-1\0x"
 * becomes "order-1"). Once unpacked, the cut cannot be seen any more, so the
 * check walks the packed bytes beside the descriptors: every length-delimited
 * field the descriptor calls a string is checked, every one it calls a
 * message is walked into, everything else is skipped. One walk covers every
 * string field of every message of every service, with no list to keep.
 * Malformed wire data is not this module's to judge: the walk stops and
 * protobuf_c_message_unpack() says no.
 *
 * Rejected: checking after unpack (the NUL is gone by then), and a list of
 * fields per message (the next field added would be missed).
 */
#ifndef UNS_PBTEXT_H
#define UNS_PBTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "uns/uns.h"

/* Length of the well-formed UTF-8 sequence at s (n bytes left), or 0: no
 * overlong forms, no surrogates, nothing above U+10FFFF (jansson's rules). */
size_t uns_utf8_len(const unsigned char *s, size_t n);

/* lowerCamelCase of a proto name ("target_host_name" -> "targetHostName");
 * *changed says whether it differs (iff name has an underscore). False if
 * out (size bytes) is too small. */
bool uns_pb_camel_name(const char *name, char *out, size_t size, bool *changed);

/* Field names in a failure: lowerCamelCase (as JSON and the service's own
 * messages name them) or as in the .proto. */
enum uns_pb_names { UNS_PB_NAMES_CAMEL, UNS_PB_NAMES_PROTO };

/*
 * Checks that every string field in the packed message buf (len bytes) of
 * type d is well-formed UTF-8 without a NUL. UNS_OK, or
 * UNS_INVALID_ARGUMENT with the field's path ("prefix.notification.title",
 * "prefix.metadata[1].key") in field and the reason in why.
 */
uns_err uns_pb_check_text(const ProtobufCMessageDescriptor *d,
                          const uint8_t *buf, size_t len, const char *prefix,
                          enum uns_pb_names names, char *field, size_t fieldcap,
                          char *why, size_t whylen);

#endif /* UNS_PBTEXT_H */
