/*
 * token_issuer.c — see token_issuer.h. Minting parses the PEM on every
 * call (uns_jwt_mint takes key bytes); at the rate apps fetch tokens (one
 * per lifetime) that costs nothing worth caching.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "jwt.h"
#include "token_issuer.h"

struct uns_token_issuer {
	char alg[8]; /* "" = from the PEM */
	uint8_t *key;
	size_t key_len;
	char kid[129];
	char audience[257];
	char issuer[257];
	int64_t lifetime_s;
};

static void
copy_opt(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

void
uns_token_issuer_close(uns_token_issuer *ti)
{
	if (ti == NULL) {
		return;
	}
	if (ti->key != NULL) {
		memset(ti->key, 0, ti->key_len);
	}
	free(ti->key);
	free(ti);
}

uns_err
uns_token_issuer_open(uns_token_issuer **out,
                      const uns_token_issuer_config *cfg, char *why,
                      size_t whylen)
{
	uns_err err = UNS_ENOMEM;
	uns_token_issuer *ti = calloc(1, sizeof(*ti));
	char *probe = NULL;
	if (ti == NULL || (ti->key = malloc(cfg->key_len + 1)) == NULL) {
		goto out;
	}
	memcpy(ti->key, cfg->key, cfg->key_len);
	ti->key[cfg->key_len] = '\0'; /* PEM parsing wants the NUL */
	ti->key_len = cfg->key_len;
	copy_opt(ti->alg, sizeof(ti->alg), cfg->alg);
	copy_opt(ti->kid, sizeof(ti->kid), cfg->kid);
	copy_opt(ti->audience, sizeof(ti->audience), cfg->audience);
	copy_opt(ti->issuer, sizeof(ti->issuer), cfg->issuer);
	ti->lifetime_s = cfg->lifetime_s;
	if (ti->lifetime_s <= 0) {
		snprintf(why, whylen, "token lifetime must be positive");
		err = UNS_EINVAL;
		goto out;
	}
	/* Sign once now, so a key that cannot sign fails at start. */
	int64_t ignored;
	if ((err = uns_token_issuer_mint_app(ti, "probe", 0, &probe, &ignored,
	                                     why, whylen)) != UNS_OK) {
		err = UNS_EINVAL;
		goto out;
	}
	*out = ti;
	ti = NULL;
out:
	free(probe);
	uns_token_issuer_close(ti);
	return err;
}

uns_err
uns_token_issuer_open_file(uns_token_issuer **out, const char *spec,
                           const uns_token_issuer_config *base, char *why,
                           size_t whylen)
{
	uns_token_issuer_config cfg = *base;
	uint8_t *bytes = NULL;
	size_t len = 0;
	uns_err err;
	int hs = strncmp(spec, "hs256:", 6) == 0;
	/* A PEM file reads fine as a "secret": the bytes are what we want. */
	if ((err = uns_jwt_read_secret_file(hs ? spec + 6 : spec, &bytes, &len,
	                                    why, whylen)) != UNS_OK) {
		return err;
	}
	cfg.alg = hs ? "HS256" : NULL;
	cfg.key = bytes;
	cfg.key_len = len;
	err = uns_token_issuer_open(out, &cfg, why, whylen);
	memset(bytes, 0, len);
	free(bytes);
	return err;
}

uns_err
uns_token_issuer_mint_app(const uns_token_issuer *ti, const char *app_id,
                          int64_t now_s, char **token, int64_t *expires_in,
                          char *why, size_t whylen)
{
	uns_jwt_claims c;
	memset(&c, 0, sizeof(c));
	if (strlen(app_id) >= sizeof(c.app_id)) {
		snprintf(why, whylen, "app id too long");
		return UNS_EINVAL;
	}
	memcpy(c.app_id, app_id, strlen(app_id) + 1);
	memcpy(c.aud, ti->audience, sizeof(c.aud));
	memcpy(c.iss, ti->issuer, sizeof(c.iss));
	snprintf(c.scopes, sizeof(c.scopes), "%s", UNS_SCOPE_APP);
	c.iat = now_s;
	c.exp = now_s + ti->lifetime_s;
	uns_err err = uns_jwt_mint(ti->alg[0] ? ti->alg : NULL,
	                           ti->kid[0] ? ti->kid : NULL, ti->key,
	                           ti->key_len, &c, token, why, whylen);
	if (err == UNS_OK) {
		*expires_in = ti->lifetime_s;
	}
	return err;
}
