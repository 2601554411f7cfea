/*
 * gateway_encoding.h — undoes a request's Content-Encoding (gzip, deflate)
 * with zlib, never producing more than a limit (a zip bomb stops at the
 * limit, not at the end of memory). Pure: bytes in, bytes out.
 */
#ifndef UNS_GATEWAY_ENCODING_H
#define UNS_GATEWAY_ENCODING_H

#include <stddef.h>

#include "uns/uns.h"

typedef enum uns_gw_coding {
	UNS_GW_CODING_IDENTITY,
	UNS_GW_CODING_GZIP,
	UNS_GW_CODING_DEFLATE, /* zlib stream (RFC 9110), or raw deflate */
	UNS_GW_CODING_UNSUPPORTED,
} uns_gw_coding;

/* The coding named by a Content-Encoding value (NULL = identity);
 * case-insensitive, surrounding spaces ignored. */
uns_gw_coding uns_gw_coding_of(const char *header);

/*
 * Decodes in[0..len) into a new malloc'd buffer of at most max bytes (plus
 * a NUL, not counted). Errors: UNS_INVALID_ARGUMENT (corrupt or truncated
 * data; why says so), UNS_RESOURCE_EXHAUSTED (decodes to more than max),
 * UNS_ENOMEM. *out and *out_len are written only on UNS_OK.
 */
uns_err uns_gw_decode_body(uns_gw_coding coding, const char *in, size_t len,
                           size_t max, char **out, size_t *out_len, char *why,
                           size_t whylen);

#endif /* UNS_GATEWAY_ENCODING_H */
