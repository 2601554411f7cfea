/*
 * recording.h — unsd --record DIR: every exchange the server answers is
 * appended to one fixture file, DIR/unsd-<UTC time>-<pid>.fixture.
 *
 * The file starts with a header and grows by one packed Fixture per
 * exchange; protobuf merges concatenated messages (repeated fields
 * append), so after every write the file is one valid uns.v1.Fixture that
 * unsctl replay and protoc --decode read. Exchanges appear in the order
 * their replies were made, bearer tokens as placeholders, server-made
 * values named (common/fixture/fixture_bind.h). Exchanges are not kept in
 * memory, only the names given so far. Each write is one write(2) under a lock,
 * on the thread that answered the call: recording is for test and debug
 * set-ups, not for production load.
 */
#ifndef UNS_RECORDING_H
#define UNS_RECORDING_H

#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"

typedef struct uns_recording uns_recording;

/* Creates dir if needed and the fixture file in it. */
uns_err uns_recording_open(uns_recording **out, const char *dir, char *why,
                           size_t whylen);
void uns_recording_close(uns_recording *r);
const char *uns_recording_path(const uns_recording *r);
/* Exchanges written so far, and those that could not be. */
void uns_recording_counts(uns_recording *r, uint64_t *written,
                          uint64_t *failed);

/* The uns_rpc_hooks.on_exchange hook; arg is the recording. */
void uns_recording_exchange(void *arg, const uint8_t *req, size_t req_len,
                            const uint8_t *resp, size_t resp_len);

#endif /* UNS_RECORDING_H */
