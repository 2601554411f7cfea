/*
 * token_cache.h — bearer tokens that already verified, so a device that
 * calls again with the same token skips the JSON parse and the signature
 * check (uns_jwt_verify costs ~4 µs of CPU per call for an HS256 token,
 * more for ES256/RS256; a lookup is a hash and a memcmp).
 *
 * Only tokens uns_jwt_verify accepted are put here, with the claims it
 * returned; a lookup matches the whole token byte for byte (the hash only
 * picks the set), so a token with another signature is never a hit. A hit
 * re-checks exp and nbf against the caller's clock with the clock skew,
 * exactly as uns_jwt_verify does; a token past its exp is dropped and
 * misses, and the full verification then says why it fails. Keys, audience
 * and issuer are fixed for the life of the cache's owner (uns_auth), so
 * they need no re-check.
 *
 * Memory: at most `capacity` entries of the token plus its sub, azp, host
 * and scopes (~400 bytes for a typical token), in sets of four; a full set
 * drops its least recently used entry. Tokens over UNS_TOKEN_CACHE_MAX_TOKEN
 * bytes are not cached.
 *
 * Thread-safe: each set is guarded by one of a fixed number of lock stripes.
 */
#ifndef UNS_TOKEN_CACHE_H
#define UNS_TOKEN_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jwt.h"

#define UNS_TOKEN_CACHE_DEFAULT   4096 /* entries, the token_cache knob */
#define UNS_TOKEN_CACHE_MAX_TOKEN 4096 /* longer tokens are not cached */

typedef struct uns_token_cache uns_token_cache;

/* capacity 0 gives a cache that holds nothing. UNS_ENOMEM. */
uns_err uns_token_cache_alloc(uns_token_cache **out, size_t capacity);
/* NULL is fine. */
void uns_token_cache_free(uns_token_cache *c);

/*
 * true and *out = the cached claims when token (len bytes) is cached and
 * still valid at now (Unix seconds): exp >= now - skew and nbf <= now +
 * skew (skew < 0 means 60, as in uns_jwt_policy). out->iss and out->aud
 * are "" (the cache keeps only what a principal is made of).
 */
bool uns_token_cache_get(uns_token_cache *c, const char *token, size_t len,
                         int64_t now, int skew, uns_jwt_claims *out);

/* Remembers a token uns_jwt_verify accepted with these claims. */
void uns_token_cache_put(uns_token_cache *c, const char *token, size_t len,
                         const uns_jwt_claims *claims);

/* Forgets every token (the app registry was reloaded). */
void uns_token_cache_clear(uns_token_cache *c);

/* Entries held now (tests, metrics). */
size_t uns_token_cache_count(uns_token_cache *c);

#endif /* UNS_TOKEN_CACHE_H */
