/*
 * fixture_bind.h — what makes a fixture replay against a fresh server:
 * values the server makes (ids, UNSIDs, cursors, page tokens, timestamps)
 * are named on first sight and matched by reference afterwards. No I/O.
 *
 * Recording (uns_fixture_recorder) turns raw exchanges into fixture
 * exchanges: the bearer token becomes a placeholder naming its principal,
 * every server-made value in a reply (a fixed table of message fields)
 * gets a RESPONSE binding — the name already given to that value, or a new
 * one ($id1, $cursor1, $page1, $t1) — and every string in a later request
 * equal to a named value gets a REQUEST binding. Timestamps are named per
 * exchange only: two replies made in the same millisecond while recording
 * need not be on replay.
 *
 * Replaying (uns_fixture_binder) applies REQUEST bindings and mints tokens
 * for the placeholders before a request is sent, then compares the reply
 * with the expected one field by field through the method's descriptors:
 * under a RESPONSE binding the first value seen binds the name and later
 * ones must equal it; everything else must equal the recorded value.
 * Paths are proto field names from the envelope down
 * ("payload.changes[0].notification.read_state").
 */
#ifndef UNS_FIXTURE_BIND_H
#define UNS_FIXTURE_BIND_H

#include <stddef.h>
#include <stdint.h>

#include "fixture.h"

/* --- replay ------------------------------------------------------------- */

typedef struct uns_fixture_binder uns_fixture_binder;

uns_err uns_fixture_binder_alloc(uns_fixture_binder **out);
void uns_fixture_binder_free(uns_fixture_binder *b);
/* The value bound to name, or NULL. */
const char *uns_fixture_binder_get(const uns_fixture_binder *b,
                                   const char *name);

/* Mints the token a placeholder stands for; *jwt is malloc'd. */
typedef uns_err (*uns_fixture_mint_fn)(void *arg, const uns_fixture_token *t,
                                       char **jwt, char *why, size_t whylen);

/*
 * The request of ex as it goes on the wire: REQUEST bindings applied
 * (UNS_INVALID_ARGUMENT naming the binding if its name is unbound or its
 * path leads nowhere), token placeholders minted with mint(arg, …). On
 * UNS_OK *out is a malloc'd packed RequestEnvelope.
 */
uns_err uns_fixture_request(uns_fixture_binder *b,
                            const Uns__V1__FixtureExchange *ex,
                            uns_fixture_mint_fn mint, void *arg, uint8_t **out,
                            size_t *len, char *why, size_t whylen);

typedef struct uns_fixture_diff {
	char path[256];
	char expected[512];
	char got[512];
} uns_fixture_diff;

typedef void (*uns_fixture_diff_fn)(void *arg, const uns_fixture_diff *d);

/*
 * Compares the reply got (a packed ResponseEnvelope, len bytes) with
 * ex->expected; calls fn(arg, d) once per difference and returns how many
 * there were. Binds the names first seen here. A payload is compared only
 * when both codes are OK.
 */
size_t uns_fixture_compare(uns_fixture_binder *b,
                           const Uns__V1__FixtureExchange *ex,
                           const uint8_t *got, size_t len,
                           uns_fixture_diff_fn fn, void *arg);

/* --- recording ---------------------------------------------------------- */

typedef struct uns_fixture_recorder uns_fixture_recorder;

/*
 * A recorder that appends to base (taken over; its bindings and names are
 * continued), or to a new fixture with this description if base is NULL.
 */
uns_err uns_fixture_recorder_open(uns_fixture_recorder **out,
                                  Uns__V1__Fixture *base,
                                  const char *description);
void uns_fixture_recorder_close(uns_fixture_recorder *r);

/*
 * Adds one exchange given as the packed request and reply envelopes.
 * Thread-safe. With piece != NULL, *piece (malloc'd) is a packed Fixture
 * holding just this exchange, for appending to a file. UNS_EPROTO if the
 * bytes are not envelopes.
 */
uns_err uns_fixture_recorder_add(uns_fixture_recorder *r, const uint8_t *req,
                                 size_t req_len, const uint8_t *resp,
                                 size_t resp_len, uint8_t **piece,
                                 size_t *piece_len);

/* Drops the exchanges kept so far (their names stay known), for a
 * recorder that streams pieces to a file. */
void uns_fixture_recorder_forget(uns_fixture_recorder *r);

/* The fixture so far (valid until the next add or close). */
const Uns__V1__Fixture *uns_fixture_recorder_fixture(uns_fixture_recorder *r);

#endif /* UNS_FIXTURE_BIND_H */
