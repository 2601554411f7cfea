/*
 * fuzz_jwt.c — libFuzzer target for the JWT parser and verifier
 * (common/crypto/jwt.c, compiled into this file to reach its statics).
 *
 * Each input is taken as a token and given to uns_jwt_parse (exact length,
 * no terminator) and to uns_jwt_verify with one fixed HS256 key. An input
 * of the form "HEADER-JSON\nPAYLOAD-JSON" is also encoded and signed with
 * that key first, so that mutations of the JSON reach the claim checks.
 * Whatever parses must keep its promises: a NUL-terminated, bounded claim set,
 * a signing input that is a prefix of the token, a known alg. And whatever
 * parses with a subject must survive a round trip: minted again with the
 * fixed key, it verifies, and the claims read back are the claims parsed.
 * A broken promise aborts (not assert: RelWithDebInfo defines NDEBUG).
 *
 *   CC=clang cmake -S . -B build-fuzz -DUNS_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_jwt
 *   build-fuzz/fuzz_jwt -max_total_time=60 tests/fuzz/corpus/jwt
 */
#include "../../common/crypto/jwt.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_secret[] = "fuzz-secret-fuzz-secret-fuzz-secret!";
static uns_jwt_keys *fuzz_keys;

static void
must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_jwt: %s\n", what);
		abort();
	}
}

static void
check_terminated(const uns_jwt_claims *c)
{
	must(memchr(c->sub, 0, sizeof(c->sub)) && memchr(c->iss, 0, 257) &&
	         memchr(c->app_id, 0, 257) && memchr(c->aud, 0, 257) &&
	         memchr(c->host, 0, 257) &&
	         memchr(c->scopes, 0, sizeof(c->scopes)),
	     "unterminated claim");
}

static void
check_parsed(const uns_jwt_parsed *p, const char *tok, size_t len)
{
	alg_id id;

	check_terminated(&p->claims);
	must(alg_lookup(p->alg, &id), "parsed an unknown alg");
	must(p->signing_input == tok && p->signing_input_len < len,
	     "signing input outside the token");
	must(p->sig_len > 0 && p->sig_len <= sizeof(p->sig), "sig_len");
	must(p->n_aud <= UNS_JWT_MAX_AUD, "n_aud");
	must(p->claims.exp >= 0 && p->claims.exp <= MAX_TIME, "exp range");
}

/* Mint the parsed claims with the fixed key; verify; compare. */
static void
round_trip(const uns_jwt_parsed *p)
{
	uns_jwt_policy pol = {NULL, NULL, p->claims.exp, 0, 1 << 16};
	uns_jwt_claims back;
	char why[256], *tok = NULL;
	const uns_jwt_claims *c = &p->claims;

	if (!p->has_exp || p->claims.exp == 0 ||
	    (c->sub[0] == '\0' && c->app_id[0] == '\0') ||
	    (p->has_nbf && c->nbf > c->exp)) {
		return;
	}
	must(uns_jwt_mint("HS256", p->kid[0] ? p->kid : NULL,
	                  (const uint8_t *)fuzz_secret, strlen(fuzz_secret), c,
	                  &tok, why, sizeof(why)) == UNS_OK,
	     "cannot mint parsed claims");
	if (uns_jwt_verify(fuzz_keys, tok, &pol, &back, why, sizeof(why)) !=
	    UNS_OK) {
		fprintf(stderr, "re-verify failed: %s\n%s\n", why, tok);
		abort();
	}
	must(strcmp(back.sub, c->sub) == 0 && strcmp(back.iss, c->iss) == 0 &&
	         strcmp(back.app_id, c->app_id) == 0 &&
	         strcmp(back.aud, c->aud) == 0 &&
	         strcmp(back.scopes, c->scopes) == 0 &&
	         strcmp(back.host, c->host) == 0 && back.exp == c->exp &&
	         back.nbf == c->nbf && back.iat == c->iat,
	     "claims changed in a round trip");
	free(tok);
}

/* Parse, check, round trip; then verify a NUL-terminated copy. */
static void
drive(const char *data, size_t size)
{
	uns_jwt_parsed p;
	uns_jwt_claims claims;
	uns_jwt_policy pol = {NULL, NULL, 1700000000, -1, 0};
	char why[256], *tok;

	/* Exact-size copies, so that reads past the end are caught. */
	if ((tok = malloc(size ? size : 1)) == NULL) {
		return;
	}
	memcpy(tok, data, size);
	if (uns_jwt_parse(tok, size, &p, why, sizeof(why)) == UNS_OK) {
		check_parsed(&p, tok, size);
		round_trip(&p);
	} else {
		must(memchr(why, 0, sizeof(why)) != NULL && why[0] != '\0',
		     "failure without a reason");
	}
	free(tok);
	if ((tok = malloc(size + 1)) == NULL) {
		return;
	}
	memcpy(tok, data, size);
	tok[size] = '\0';
	if (uns_jwt_verify(fuzz_keys, tok, &pol, &claims, why, sizeof(why)) ==
	    UNS_OK) {
		check_terminated(&claims);
	}
	free(tok);
}

/*
 * "HEADER-JSON\nPAYLOAD-JSON" becomes a token signed with the fixed key,
 * so that mutations reach the JSON checks and the claim checks instead of
 * dying in base64url or at the signature.
 */
static void
drive_json(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hlen, plen, used;
	uint8_t mac[32];
	char *tok;

	if (nl == NULL) {
		return;
	}
	hlen = (size_t)(nl - data);
	plen = size - hlen - 1;
	if ((tok = malloc((hlen + plen) / 3 * 4 + 64)) == NULL) {
		return;
	}
	used = uns_b64url_encode(data, hlen, tok);
	tok[used++] = '.';
	used += uns_b64url_encode(nl + 1, plen, tok + used);
	must(uns_hmac_sha256(fuzz_secret, strlen(fuzz_secret), tok, used,
	                     mac) == UNS_OK,
	     "hmac");
	tok[used++] = '.';
	used += uns_b64url_encode(mac, sizeof(mac), tok + used);
	drive(tok, used);
	free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fuzz_keys == NULL) {
		must(uns_jwt_keys_alloc(&fuzz_keys) == UNS_OK &&
		         uns_jwt_keys_add_secret(fuzz_keys, NULL,
		                                 (const uint8_t *)fuzz_secret,
		                                 strlen(fuzz_secret)) == UNS_OK,
		     "setup");
	}
	drive((const char *)data, size);
	drive_json(data, size);
	return 0;
}
