/*
 * fixture.h — the fixture file format (proto/uns/v1/fixture.proto): parse
 * with offsets, check, pack. No I/O.
 *
 * protobuf-c's unpack says only "failed", so a file is first walked at the
 * wire level, guided by the descriptors: every tag, length and nested
 * message is checked against the bytes that remain, and the first fault is
 * reported with its byte offset and the field path that holds it
 * ("offset 1843: exchanges[3].request.payload: length 900 runs past the
 * end (612 bytes left)"). Only then is the file unpacked and its meaning
 * checked (format version, at least one exchange and as many as the file
 * counts, a method in every request, well-formed bindings and token
 * placeholders), so a bad file is refused before anything is sent. With
 * the count written before the exchanges and at least one exchange
 * required, a file cut anywhere is refused.
 */
#ifndef UNS_FIXTURE_H
#define UNS_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"
#include "uns/v1/fixture.pb-c.h"

#define UNS_FIXTURE_FORMAT_VERSION 1
/* Nesting the wire walk follows at most (ours is 6 deep). */
#define UNS_FIXTURE_MAX_DEPTH 32

/* The prefix of a token placeholder in the "authorization" metadata, after
 * "Bearer ": "$token:user:SUBJECT@HOST" or "$token:app:APPID". */
#define UNS_FIXTURE_TOKEN_PREFIX "$token:"

/*
 * Walks len bytes as a message of type desc at the wire level. Returns
 * UNS_OK, or UNS_INVALID_ARGUMENT with "offset N: PATH: reason" in why.
 */
uns_err uns_fixture_scan(const ProtobufCMessageDescriptor *desc,
                         const uint8_t *buf, size_t len, char *why,
                         size_t whylen);

/*
 * Parses a fixture file: scan, unpack, check. On UNS_OK *out is the fixture
 * (free with uns__v1__fixture__free_unpacked(*out, NULL)). Errors:
 * UNS_INVALID_ARGUMENT with the reason (offset, or exchange and field) in
 * why; UNS_ENOMEM.
 */
uns_err uns_fixture_parse(const uint8_t *buf, size_t len,
                          Uns__V1__Fixture **out, char *why, size_t whylen);

/* The meaning checks of uns_fixture_parse, on a fixture in memory. */
uns_err uns_fixture_check(const Uns__V1__Fixture *f, char *why, size_t whylen);

/* Packs f into a new malloc'd buffer. */
uns_err uns_fixture_pack(const ProtobufCMessage *msg, uint8_t **out,
                         size_t *len);

/* A parsed token placeholder. */
typedef struct uns_fixture_token {
	int app;           /* 0 = user token, 1 = app token */
	char subject[257]; /* user id, or app id */
	char host[257];    /* uns_host of a user token ("" if none) */
	char scopes[512];  /* space-separated; "" = the kind's default */
} uns_fixture_token;

/* The scopes a placeholder without ";scp=" stands for. */
#define UNS_FIXTURE_USER_SCOPES "Notifications.ReadWrite"
#define UNS_FIXTURE_APP_SCOPES  "Notifications.Send"

/* Parses "$token:user:SUB@HOST" / "$token:app:APPID", each optionally
 * followed by ";scp=S1+S2" when the token's scopes were not the default
 * (len bytes, not NUL-terminated). Returns 1 on success, 0 if text is not
 * a placeholder, -1 if it starts like one but is malformed. */
int uns_fixture_token_parse(const char *text, size_t len, uns_fixture_token *t);

/*
 * Reads the claims of a JWT without verifying it (recording only needs to
 * know whose it is) and writes the placeholder that stands for it into out.
 * Returns 0, or -1 when token is not a JWT with sub or azp/appid.
 */
int uns_fixture_token_placeholder(const char *token, size_t len, char *out,
                                  size_t cap);

#endif /* UNS_FIXTURE_H */
