/*
 * token_issuer.h — mints the app tokens the token endpoint hands out
 * (IssueToken, POST /oauth2/v2.0/token): the claims `unsctl token app`
 * puts in (azp = app id, scp = Notifications.Send, aud, iss when set, iat,
 * exp), signed with the server's signing key by uns_jwt_mint, so the
 * tokens verify against the keys unsd verifies with.
 *
 * The signing key is either an HS256 secret (the development secret, or
 * "hs256:FILE") or a private key PEM (EC P-256 → ES256, RSA → RS256). The
 * issuer keeps its own copy; it is read-only after open, so any number of
 * threads may mint at once.
 */
#ifndef UNS_TOKEN_ISSUER_H
#define UNS_TOKEN_ISSUER_H

#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"

typedef struct uns_token_issuer uns_token_issuer;

typedef struct uns_token_issuer_config {
	const char *alg;      /* "HS256", or NULL: ES256/RS256 from the PEM */
	const uint8_t *key;   /* the secret or the PEM text (copied) */
	size_t key_len;       /* bytes of key */
	const char *kid;      /* NULL = no kid */
	const char *audience; /* aud; NULL or "" = none */
	const char *issuer;   /* iss; NULL or "" = none */
	int64_t lifetime_s;   /* exp - iat, > 0 */
} uns_token_issuer_config;

/* UNS_EINVAL when the key does not sign (why says why), UNS_ENOMEM. */
uns_err uns_token_issuer_open(uns_token_issuer **out,
                              const uns_token_issuer_config *cfg, char *why,
                              size_t whylen);
void uns_token_issuer_close(uns_token_issuer *ti);

/*
 * Opens an issuer from a key spec as in the config: "hs256:FILE" or a PEM
 * private key file. why names the file on failure.
 */
uns_err uns_token_issuer_open_file(uns_token_issuer **out, const char *spec,
                                   const uns_token_issuer_config *base,
                                   char *why, size_t whylen);

/*
 * An app token for app_id issued at now_s: *token is malloc'd (the caller
 * frees it), *expires_in the lifetime in seconds.
 */
uns_err uns_token_issuer_mint_app(const uns_token_issuer *ti,
                                  const char *app_id, int64_t now_s,
                                  char **token, int64_t *expires_in, char *why,
                                  size_t whylen);

#endif /* UNS_TOKEN_ISSUER_H */
