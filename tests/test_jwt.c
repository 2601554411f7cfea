/*
 * test_jwt.c — tests for common/crypto/jwt.c and the "unsctl token" CLI.
 *
 * Known answers come from RFC 7515 (A.1 HS256 and A.3 ES256, byte-exact);
 * everything else mints with uns_jwt_mint or, for tokens the minter would
 * never write (duplicate keys, alg none, arrays, floats), crafts header
 * and payload JSON by hand and signs them here with mbedTLS and an
 * independent base64url. Node.js, when installed, is a second
 * implementation: tests/jwt_node_check.js mints tokens we verify and
 * verifies tokens we mint.
 *
 * The group setup makes the keys once: an HS256 secret, an ES256 pair and
 * an RSA-2048 pair (mbedtls_rsa_gen_key, about half a second), and a
 * temporary directory for files. The CLI (tools/unsctl/unsctl_token.c) is
 * compiled into this test and run in-process with stdout captured.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>

#include "devcert.h"
#include "jwt.h"

/* The CLI is part of the unsctl executable, not of a library. */
#include "../tools/unsctl/unsctl_token.c"

#define NOW      INT64_C(1700000000)
#define SECRET   "0123456789abcdef0123456789abcdef-test-secret"
#define RFC_EXP  INT64_C(1300819380)
#define WHY_SIZE 256

struct fx {
	char dir[64];
	char *ec_priv, *ec_pub;
	char *rsa_priv, *rsa_pub;
	uns_jwt_keys *keys; /* hs (kid "hs"), ec (kid "ec"), rsa (kid "rsa") */
};

static struct fx *F;

/* ---- helpers: encoding and crafting ------------------------------------- */

static char *
b64url(const void *data, size_t len)
{
	size_t n = 0, cap = len / 3 * 4 + 8;
	char *s = malloc(cap), *w = s;

	assert_non_null(s);
	assert_int_equal(
	    mbedtls_base64_encode((unsigned char *)s, cap, &n, data, len), 0);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c != '=') {
			*w++ = c == '+' ? '-' : c == '/' ? '_' : c;
		}
	}
	*w = '\0';
	return s;
}

static size_t
unb64url(const char *s, uint8_t *out, size_t cap)
{
	char buf[1024];
	size_t n = strlen(s), len = 0;

	assert_true(n + 4 < sizeof(buf));
	for (size_t i = 0; i < n; i++) {
		buf[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	}
	while (n % 4) {
		buf[n++] = '=';
	}
	assert_int_equal(
	    mbedtls_base64_decode(out, cap, &len, (unsigned char *)buf, n), 0);
	return len;
}

/* header.payload.signature with an HS256 MAC under secret, or with the
 * given signature text when secret is NULL. */
static char *
craft(const char *header, const char *payload, const char *secret,
      const char *sigtext)
{
	char *h = b64url(header, strlen(header));
	char *p = b64url(payload, strlen(payload));
	size_t n = strlen(h) + strlen(p) + 64 + (sigtext ? strlen(sigtext) : 0);
	char *tok = malloc(n);
	uint8_t mac[32];

	assert_non_null(tok);
	snprintf(tok, n, "%s.%s", h, p);
	if (secret != NULL) {
		assert_int_equal(
		    mbedtls_md_hmac(
		        mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
		        (const unsigned char *)secret, strlen(secret),
		        (unsigned char *)tok, strlen(tok), mac),
		    0);
		char *s = b64url(mac, sizeof(mac));
		strcat(tok, ".");
		strcat(tok, s);
		free(s);
	} else {
		strcat(tok, ".");
		strcat(tok, sigtext);
	}
	free(h);
	free(p);
	return tok;
}

#define HS_HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* A payload that passes every check of pol() with the given extras. */
static char *
craft_hs(const char *header, const char *extra)
{
	size_t n = strlen(extra) + 64;
	char *payload = malloc(n), *tok;

	assert_non_null(payload);
	snprintf(payload, n, "{\"sub\":\"alice\",\"exp\":%lld%s%s}",
	         (long long)NOW + 600, extra[0] ? "," : "", extra);
	tok = craft(header, payload, SECRET, NULL);
	free(payload);
	return tok;
}

static uns_jwt_claims
base_claims(void)
{
	uns_jwt_claims c;

	memset(&c, 0, sizeof(c));
	strcpy(c.sub, "alice");
	strcpy(c.iss, "https://issuer.example");
	strcpy(c.aud, "uns");
	strcpy(c.scopes, "Notifications.ReadWrite");
	strcpy(c.host, "contoso.example.com");
	c.iat = NOW - 10;
	c.exp = NOW + 3600;
	return c;
}

static uns_jwt_policy
pol(void)
{
	uns_jwt_policy p = {.audience = "uns",
	                    .issuer = NULL,
	                    .now = NOW,
	                    .skew_seconds = -1,
	                    .max_token_bytes = 0};
	return p;
}

static char *
mint(const char *alg, const char *kid, const uns_jwt_claims *c)
{
	char why[WHY_SIZE], *tok = NULL;
	const char *key = SECRET;

	if (strcmp(alg, "ES256") == 0) {
		key = F->ec_priv;
	} else if (strcmp(alg, "RS256") == 0) {
		key = F->rsa_priv;
	}
	assert_int_equal(uns_jwt_mint(alg, kid, (const uint8_t *)key,
	                              strlen(key), c, &tok, why, sizeof(why)),
	                 UNS_OK);
	assert_string_equal(why, "");
	return tok;
}

/* Verifies with the fixture keys; returns the code, reason in why. */
static uns_err
check(const uns_jwt_keys *k, const char *tok, const uns_jwt_policy *p,
      uns_jwt_claims *out, char *why)
{
	uns_jwt_claims scratch;
	uns_err err = uns_jwt_verify(k ? k : F->keys, tok, p,
	                             out ? out : &scratch, why, WHY_SIZE);
	if (err != UNS_OK) {
		print_message("rejected: %s\n", why);
	}
	return err;
}

static void
expect_reject(const uns_jwt_keys *k, const char *tok, const uns_jwt_policy *p,
              const char *reason)
{
	char why[WHY_SIZE];

	assert_int_equal(check(k, tok, p, NULL, why), UNS_UNAUTHENTICATED);
	if (strncmp(why, reason, strlen(reason)) != 0) {
		fail_msg("reason \"%s\", expected \"%s...\"", why, reason);
	}
}

static void
expect_ok(const uns_jwt_keys *k, const char *tok, const uns_jwt_policy *p)
{
	char why[WHY_SIZE];

	assert_int_equal(check(k, tok, p, NULL, why), UNS_OK);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 1 << 16);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ---- fixture ------------------------------------------------------------ */

static char *
pem_of(mbedtls_pk_context *pk, int private)
{
	unsigned char buf[4096];

	assert_int_equal(
	    private ? mbedtls_pk_write_key_pem(pk, buf, sizeof(buf))
	            : mbedtls_pk_write_pubkey_pem(pk, buf, sizeof(buf)),
	    0);
	return strdup((char *)buf);
}

static void
make_rsa(int bits, char **priv, char **pub)
{
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_pk_context pk;

	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_pk_init(&pk);
	assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func,
	                                       &entropy, NULL, 0),
	                 0);
	assert_int_equal(
	    mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)),
	    0);
	assert_int_equal(mbedtls_rsa_gen_key(mbedtls_pk_rsa(pk),
	                                     mbedtls_ctr_drbg_random, &drbg,
	                                     (unsigned)bits, 65537),
	                 0);
	*priv = pem_of(&pk, 1);
	*pub = pem_of(&pk, 0);
	mbedtls_pk_free(&pk);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
}

static int
group_setup(void **state)
{
	char why[WHY_SIZE];
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/uns-jwt-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	assert_int_equal(
	    uns_jwt_keygen_es256(&fx->ec_priv, &fx->ec_pub, why, sizeof(why)),
	    UNS_OK);
	make_rsa(2048, &fx->rsa_priv, &fx->rsa_pub);
	assert_int_equal(uns_jwt_keys_alloc(&fx->keys), UNS_OK);
	assert_int_equal(uns_jwt_keys_add_secret(fx->keys, "hs",
	                                         (const uint8_t *)SECRET,
	                                         strlen(SECRET)),
	                 UNS_OK);
	assert_int_equal(uns_jwt_keys_add_pem(fx->keys, "ec", fx->ec_pub,
	                                      strlen(fx->ec_pub)),
	                 UNS_OK);
	assert_int_equal(uns_jwt_keys_add_pem(fx->keys, "rsa", fx->rsa_pub,
	                                      strlen(fx->rsa_pub)),
	                 UNS_OK);
	F = fx;
	*state = fx;
	return 0;
}

static int
group_teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0) {
		return -1;
	}
	uns_jwt_keys_free(fx->keys);
	free(fx->ec_priv);
	free(fx->ec_pub);
	free(fx->rsa_priv);
	free(fx->rsa_pub);
	free(fx);
	return 0;
}

/* ---- RFC 7515 known answers --------------------------------------------- */

static const char rfc_payload_b64[] =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxl"
    "LmNvbS9pc19yb290Ijp0cnVlfQ";

/*
 * The RFC's payload has iss and exp but neither sub nor azp, so a full
 * verify stops at the subject check: that reason proves the signature and
 * the time checks passed. The signature step is also checked alone.
 */
static void
check_rfc_token(const uns_jwt_keys *k, const char *tok, const char *alg)
{
	uns_jwt_parsed p;
	uns_jwt_policy po = pol();
	char why[WHY_SIZE];

	assert_int_equal(uns_jwt_parse(tok, strlen(tok), &p, why, sizeof(why)),
	                 UNS_OK);
	assert_string_equal(p.alg, alg);
	assert_string_equal(p.claims.iss, "joe");
	assert_int_equal(p.claims.exp, RFC_EXP);
	assert_int_equal(uns_jwt_verify_signature(k, &p, why, sizeof(why)),
	                 UNS_OK);
	po.audience = NULL;
	po.issuer = "joe";
	po.now = RFC_EXP - 100;
	expect_reject(k, tok, &po, "token has neither sub nor azp/appid");
	po.now = RFC_EXP + 61;
	expect_reject(k, tok, &po, "token expired 61 s ago");
}

static void
test_rfc7515_a1_hs256(void **state)
{
	static const char tok[] =
	    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
	    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
	    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
	    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	static const char jwk_k[] =
	    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr"
	    "_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
	uns_jwt_keys *k = NULL;
	uint8_t key[64];
	char bad[sizeof(tok)];
	uns_jwt_policy po = pol();

	(void)state;
	assert_int_equal(unb64url(jwk_k, key, sizeof(key)), 64);
	assert_int_equal(uns_jwt_keys_alloc(&k), UNS_OK);
	assert_int_equal(uns_jwt_keys_add_secret(k, NULL, key, sizeof(key)),
	                 UNS_OK);
	assert_non_null(strstr(tok, rfc_payload_b64));
	check_rfc_token(k, tok, "HS256");
	/* One bit changed inside the signature. */
	memcpy(bad, tok, sizeof(tok));
	*(strrchr(bad, '.') + 5) ^= 'A' ^ 'B';
	po.audience = NULL;
	po.now = RFC_EXP - 100;
	expect_reject(k, bad, &po, "signature does not verify");
	uns_jwt_keys_free(k);
}

static void
test_rfc7515_a3_es256(void **state)
{
	static const char tok[] =
	    "eyJhbGciOiJFUzI1NiJ9."
	    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
	    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
	    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApm"
	    "WQxfKTUJqPP3-Kg6NU1Q";
	uint8_t point[65] = {0x04};
	mbedtls_pk_context pk;
	uns_jwt_keys *k = NULL;
	char *pem;

	(void)state;
	assert_int_equal(unb64url("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
	                          point + 1, 32),
	                 32);
	assert_int_equal(unb64url("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
	                          point + 33, 32),
	                 32);
	mbedtls_pk_init(&pk);
	assert_int_equal(
	    mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)),
	    0);
	assert_int_equal(mbedtls_ecp_group_load(&mbedtls_pk_ec(pk)->grp,
	                                        MBEDTLS_ECP_DP_SECP256R1),
	                 0);
	assert_int_equal(mbedtls_ecp_point_read_binary(&mbedtls_pk_ec(pk)->grp,
	                                               &mbedtls_pk_ec(pk)->Q,
	                                               point, sizeof(point)),
	                 0);
	pem = pem_of(&pk, 0);
	mbedtls_pk_free(&pk);
	assert_int_equal(uns_jwt_keys_alloc(&k), UNS_OK);
	assert_int_equal(uns_jwt_keys_add_pem(k, NULL, pem, strlen(pem)),
	                 UNS_OK);
	check_rfc_token(k, tok, "ES256");
	uns_jwt_keys_free(k);
	free(pem);
}

/* ---- round trips -------------------------------------------------------- */

static void
assert_claims_equal(const uns_jwt_claims *a, const uns_jwt_claims *b)
{
	assert_string_equal(a->sub, b->sub);
	assert_string_equal(a->app_id, b->app_id);
	assert_string_equal(a->iss, b->iss);
	assert_string_equal(a->aud, b->aud);
	assert_string_equal(a->scopes, b->scopes);
	assert_string_equal(a->host, b->host);
	assert_int_equal(a->exp, b->exp);
	assert_int_equal(a->nbf, b->nbf);
	assert_int_equal(a->iat, b->iat);
}

static void
round_trip(const char *alg, const char *kid)
{
	uns_jwt_claims in = base_claims(), out;
	uns_jwt_policy p = pol();
	uns_jwt_parsed parsed;
	char why[WHY_SIZE], *tok, *again;

	strcpy(in.app_id, "contoso-web");
	in.nbf = NOW - 5;
	tok = mint(alg, kid, &in);
	print_message("%s: %s\n", alg, tok);
	p.issuer = "https://issuer.example";
	assert_int_equal(check(NULL, tok, &p, &out, why), UNS_OK);
	assert_string_equal(why, "");
	assert_claims_equal(&in, &out);
	assert_int_equal(
	    uns_jwt_parse(tok, strlen(tok), &parsed, why, sizeof(why)), UNS_OK);
	assert_string_equal(parsed.alg, alg);
	assert_string_equal(parsed.kid, kid ? kid : "");
	/* HS256, RS256 (PKCS#1 v1.5) and ES256 (RFC 6979) are all
	 * deterministic: the same claims give the same token. */
	again = mint(alg, kid, &in);
	assert_string_equal(tok, again);
	free(again);
	free(tok);
}

static void
test_round_trip_hs256(void **state)
{
	(void)state;
	round_trip("HS256", "hs");
	round_trip("HS256", NULL);
}

static void
test_round_trip_es256(void **state)
{
	(void)state;
	round_trip("ES256", "ec");
	round_trip("ES256", NULL);
}

static void
test_round_trip_rs256(void **state)
{
	(void)state;
	round_trip("RS256", "rsa");
	round_trip("RS256", NULL);
}

static void
test_mint_alg_from_key(void **state)
{
	uns_jwt_claims c = base_claims();
	uns_jwt_parsed p;
	char why[WHY_SIZE], *tok = NULL;
	const char *pems[] = {F->ec_priv, F->rsa_priv};
	const char *algs[] = {"ES256", "RS256"};

	(void)state;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
		    uns_jwt_mint(NULL, NULL, (const uint8_t *)pems[i],
		                 strlen(pems[i]), &c, &tok, why, sizeof(why)),
		    UNS_OK);
		assert_int_equal(
		    uns_jwt_parse(tok, strlen(tok), &p, why, sizeof(why)),
		    UNS_OK);
		assert_string_equal(p.alg, algs[i]);
		free(tok);
		tok = NULL;
	}
	/* A key of the wrong type for the alg asked for. */
	assert_int_equal(
	    uns_jwt_mint("ES256", NULL, (const uint8_t *)F->rsa_priv,
	                 strlen(F->rsa_priv), &c, &tok, why, sizeof(why)),
	    UNS_EINVAL);
	assert_null(tok);
	/* A short secret, and a public key as signing key. */
	assert_int_equal(uns_jwt_mint("HS256", NULL, (const uint8_t *)"short",
	                              5, &c, &tok, why, sizeof(why)),
	                 UNS_EINVAL);
	assert_int_equal(uns_jwt_mint("ES256", NULL, (const uint8_t *)F->ec_pub,
	                              strlen(F->ec_pub), &c, &tok, why,
	                              sizeof(why)),
	                 UNS_EINVAL);
	assert_int_equal(uns_jwt_mint("HS512", NULL, (const uint8_t *)SECRET,
	                              strlen(SECRET), &c, &tok, why,
	                              sizeof(why)),
	                 UNS_EINVAL);
	assert_null(tok);
}

/* ---- time --------------------------------------------------------------- */

static void
test_expired(void **state)
{
	uns_jwt_claims c = base_claims();
	uns_jwt_policy p = pol();
	char *tok;

	(void)state;
	c.exp = NOW;
	tok = mint("ES256", "ec", &c);
	p.now = NOW + 60; /* within the default skew */
	expect_ok(NULL, tok, &p);
	p.now = NOW + 61;
	expect_reject(NULL, tok, &p, "token expired 61 s ago");
	p.skew_seconds = 0;
	p.now = NOW + 30;
	expect_reject(NULL, tok, &p, "token expired 30 s ago");
	p.now = NOW;
	expect_ok(NULL, tok, &p);
	p.skew_seconds = 300;
	p.now = NOW + 300;
	expect_ok(NULL, tok, &p);
	free(tok);
}

static void
test_nbf_in_future(void **state)
{
	uns_jwt_claims c = base_claims();
	uns_jwt_policy p = pol();
	char *tok;

	(void)state;
	c.nbf = NOW + 120;
	tok = mint("HS256", "hs", &c);
	expect_reject(NULL, tok, &p, "token not valid for another 120 s");
	p.now = NOW + 60; /* 60 s early: within the skew */
	expect_ok(NULL, tok, &p);
	free(tok);
}

static void
test_missing_exp(void **state)
{
	uns_jwt_claims c = base_claims();
	char *tok;
	uns_jwt_policy p = pol();

	(void)state;
	c.exp = 0;
	tok = mint("HS256", "hs", &c);
	expect_reject(NULL, tok, &p, "token has no exp");
	free(tok);
}

/* ---- audience, issuer, subject ------------------------------------------ */

static void
test_wrong_audience(void **state)
{
	uns_jwt_claims c = base_claims(), out;
	uns_jwt_policy p = pol();
	char why[WHY_SIZE], *tok;

	(void)state;
	strcpy(c.aud, "someone-else");
	tok = mint("HS256", "hs", &c);
	expect_reject(NULL, tok, &p, "audience mismatch");
	free(tok);
	/* Array form: a member must match; the match is reported. */
	tok = craft_hs(HS_HEADER, "\"aud\":[\"a\",\"uns\",\"b\"]");
	assert_int_equal(check(NULL, tok, &p, &out, why), UNS_OK);
	assert_string_equal(out.aud, "uns");
	free(tok);
	tok = craft_hs(HS_HEADER, "\"aud\":[\"a\",\"b\"]");
	expect_reject(NULL, tok, &p, "audience mismatch");
	free(tok);
	tok = craft_hs(HS_HEADER, "\"aud\":[]");
	expect_reject(NULL, tok, &p, "audience mismatch");
	free(tok);
	/* No aud at all, and a policy that does not ask. */
	tok = craft_hs(HS_HEADER, "\"iat\":1");
	expect_reject(NULL, tok, &p, "audience mismatch");
	p.audience = NULL;
	expect_ok(NULL, tok, &p);
	free(tok);
}

static void
test_wrong_issuer(void **state)
{
	uns_jwt_claims c = base_claims();
	uns_jwt_policy p = pol();
	char *tok;

	(void)state;
	tok = mint("RS256", "rsa", &c);
	p.issuer = "https://other.example";
	expect_reject(NULL, tok, &p, "issuer mismatch");
	p.issuer = "https://issuer.example";
	expect_ok(NULL, tok, &p);
	free(tok);
	c.iss[0] = '\0';
	tok = mint("RS256", "rsa", &c);
	expect_reject(NULL, tok, &p, "issuer mismatch");
	free(tok);
}

static void
test_missing_sub_and_azp(void **state)
{
	uns_jwt_claims c = base_claims(), out;
	uns_jwt_policy p = pol();
	char why[WHY_SIZE], *tok;

	(void)state;
	c.sub[0] = '\0';
	tok = mint("HS256", "hs", &c);
	expect_reject(NULL, tok, &p, "token has neither sub nor azp/appid");
	free(tok);
	/* An app token: azp alone, or appid alone (Microsoft v1 tokens). */
	strcpy(c.app_id, "contoso-app");
	tok = mint("HS256", "hs", &c);
	assert_int_equal(check(NULL, tok, &p, &out, why), UNS_OK);
	assert_string_equal(out.app_id, "contoso-app");
	assert_string_equal(out.sub, "");
	free(tok);
	tok = craft(HS_HEADER,
	            "{\"appid\":\"v1-app\",\"aud\":\"uns\",\"exp\":1700000600,"
	            "\"roles\":[\"Notifications.Send\",\"Admin\"]}",
	            SECRET, NULL);
	assert_int_equal(check(NULL, tok, &p, &out, why), UNS_OK);
	assert_string_equal(out.app_id, "v1-app");
	assert_string_equal(out.scopes, "Notifications.Send Admin");
	free(tok);
}

/* ---- algorithms and keys ------------------------------------------------ */

static void
test_alg_none(void **state)
{
	uns_jwt_policy p = pol();
	const char *payload = "{\"sub\":\"alice\",\"aud\":\"uns\","
	                      "\"exp\":1700000600}";
	char *tok;

	(void)state;
	tok = craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, NULL, "");
	expect_reject(NULL, tok, &p, "alg none is not accepted");
	free(tok);
	tok = craft("{\"alg\":\"None\"}", payload, NULL, "AAAA");
	expect_reject(NULL, tok, &p, "alg None is not accepted");
	free(tok);
	tok = craft("{\"alg\":\"HS384\"}", payload, SECRET, NULL);
	expect_reject(NULL, tok, &p, "alg HS384 is not accepted");
	free(tok);
	tok = craft("{\"alg\":\"hs256\"}", payload, SECRET, NULL);
	expect_reject(NULL, tok, &p, "alg hs256 is not accepted");
	free(tok);
	tok = craft("{\"typ\":\"JWT\"}", payload, SECRET, NULL);
	expect_reject(NULL, tok, &p, "malformed token: header has no alg");
	free(tok);
	tok = craft("{\"alg\":256}", payload, SECRET, NULL);
	expect_reject(NULL, tok, &p, "malformed token: header has no alg");
	free(tok);
}

/*
 * The classic confusion: the attacker signs HS256 with the server's public
 * key text as the HMAC secret, hoping the verifier feeds "the key" to
 * HMAC. Keys serve only their own algorithm, so this never verifies.
 */
static void
test_alg_confusion(void **state)
{
	uns_jwt_claims c = base_claims();
	uns_jwt_policy p = pol();
	uns_jwt_keys *k = NULL;
	const char *pubs[] = {F->ec_pub, F->rsa_pub};
	const char *kids[] = {"ec", "rsa"};
	const char *types[] = {"ES256", "RS256"};
	char why[WHY_SIZE], want[128], *tok;

	(void)state;
	assert_int_equal(uns_jwt_keys_alloc(&k), UNS_OK);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
		    uns_jwt_keys_add_pem(k, kids[i], pubs[i], strlen(pubs[i])),
		    UNS_OK);
	}
	for (int i = 0; i < 2; i++) {
		const uint8_t *pem = (const uint8_t *)pubs[i];
		for (int with_kid = 0; with_kid < 2; with_kid++) {
			tok = NULL;
			assert_int_equal(uns_jwt_mint("HS256",
			                              with_kid ? kids[i] : NULL,
			                              pem, strlen(pubs[i]), &c,
			                              &tok, why, sizeof(why)),
			                 UNS_OK);
			snprintf(
			    want, sizeof(want),
			    "key id \"%s\" is an %s key, the token is HS256",
			    kids[i], types[i]);
			expect_reject(k, tok, &p,
			              with_kid ? want
			                       : "no HS256 key is configured");
			free(tok);
		}
	}
	/* Crafted by hand, as an attacker would, without typ or kid. */
	tok = craft(HS_HEADER,
	            "{\"sub\":\"mallory\",\"aud\":\"uns\",\"exp\":1700000600}",
	            F->ec_pub, NULL);
	expect_reject(k, tok, &p, "no HS256 key is configured");
	free(tok);
	uns_jwt_keys_free(k);
}

static void
test_unknown_kid(void **state)
{
	uns_jwt_claims c = base_claims();
	uns_jwt_policy p = pol();
	uns_jwt_keys *k = NULL;
	char *tok;
	static const char other[] = "another-secret-of-at-least-32-bytes!";

	(void)state;
	tok = mint("HS256", "nope", &c);
	expect_reject(NULL, tok, &p, "unknown key id \"nope\"");
	/* A key added without a kid serves tokens of any kid. */
	assert_int_equal(uns_jwt_keys_alloc(&k), UNS_OK);
	assert_int_equal(uns_jwt_keys_add_secret(k, "a", (const uint8_t *)other,
	                                         strlen(other)),
	                 UNS_OK);
	expect_reject(k, tok, &p, "unknown key id \"nope\"");
	assert_int_equal(uns_jwt_keys_add_secret(
	                     k, NULL, (const uint8_t *)SECRET, strlen(SECRET)),
	                 UNS_OK);
	expect_ok(k, tok, &p);
	free(tok);
	/* A kid selects only its own keys, even when another would do. */
	tok = mint("HS256", "a", &c);
	expect_reject(k, tok, &p, "signature does not verify");
	free(tok);
	/* Without a kid, every key of the alg is tried. */
	tok = mint("HS256", NULL, &c);
	expect_ok(k, tok, &p);
	free(tok);
	/* No key of the alg at all. */
	tok = mint("ES256", NULL, &c);
	expect_reject(k, tok, &p, "no ES256 key is configured");
	free(tok);
	uns_jwt_keys_free(k);
}

/* ---- tampering and shape ------------------------------------------------ */

static void
test_tampered_payload(void **state)
{
	const char *algs[] = {"HS256", "ES256", "RS256"};
	const char *kids[] = {"hs", "ec", "rsa"};
	uns_jwt_claims c = base_claims(), c2 = base_claims();
	uns_jwt_policy p = pol();

	(void)state;
	strcpy(c2.sub, "mallory");
	for (int i = 0; i < 3; i++) {
		char *good = mint(algs[i], kids[i], &c);
		char *evil = mint(algs[i], kids[i], &c2);
		char *mix = malloc(strlen(good) + strlen(evil));
		/* mallory's header.payload with alice's signature */
		assert_non_null(mix);
		sprintf(mix, "%.*s%s", (int)(strrchr(evil, '.') - evil), evil,
		        strrchr(good, '.'));
		expect_reject(NULL, mix, &p, "signature does not verify");
		free(mix);
		free(good);
		free(evil);
	}
}

static void
test_tampered_signature(void **state)
{
	const char *algs[] = {"HS256", "ES256", "RS256"};
	const char *kids[] = {"hs", "ec", "rsa"};
	uns_jwt_claims c = base_claims();
	uns_jwt_policy p = pol();

	(void)state;
	for (int i = 0; i < 3; i++) {
		char *tok = mint(algs[i], kids[i], &c);
		char *sig = strrchr(tok, '.') + 1;
		size_t n = strlen(sig);
		/* flip a middle character: A<->B changes one bit */
		sig[n / 2] = sig[n / 2] == 'A' ? 'B' : 'A';
		expect_reject(NULL, tok, &p, "signature does not verify");
		/* whole groups of 4 characters only, so that the rest stays
		 * canonical base64url: a shorter signature */
		sig[n / 2] = 'A';
		sig[n - n % 4] = '\0';
		expect_reject(NULL, tok, &p, "signature does not verify");
		free(tok);
	}
}

static void
test_truncated(void **state)
{
	uns_jwt_claims c = base_claims();
	uns_jwt_policy p = pol();
	char why[WHY_SIZE], *tok = mint("ES256", "ec", &c);
	size_t n = strlen(tok);

	(void)state;
	/* Every proper prefix is refused. */
	for (size_t i = 0; i < n; i++) {
		char *cut = strndup(tok, i);
		uns_jwt_claims out;
		assert_non_null(cut);
		assert_int_equal(
		    uns_jwt_verify(F->keys, cut, &p, &out, why, sizeof(why)),
		    UNS_UNAUTHENTICATED);
		free(cut);
	}
	tok[strrchr(tok, '.') - tok] = '\0';
	expect_reject(NULL, tok, &p, "malformed token: 2 segments, expected 3");
	strcat(tok, ".");
	expect_reject(NULL, tok, &p, "malformed token: signature is empty");
	expect_reject(NULL, "", &p, "malformed token: 1 segments, expected 3");
	expect_reject(NULL, "..", &p, "malformed token: header is empty");
	free(tok);
}

static void
test_extra_segment(void **state)
{
	uns_jwt_claims c = base_claims();
	uns_jwt_policy p = pol();
	char *tok = mint("HS256", "hs", &c);
	char *more = malloc(strlen(tok) + 8);

	(void)state;
	assert_non_null(more);
	sprintf(more, "%s.AAAA", tok);
	expect_reject(NULL, more, &p,
	              "malformed token: 4 segments, expected 3");
	sprintf(more, "%s.", tok);
	expect_reject(NULL, more, &p,
	              "malformed token: 4 segments, expected 3");
	/* A JWE-shaped token (5 segments) likewise. */
	sprintf(more, "%s..", tok);
	expect_reject(NULL, more, &p,
	              "malformed token: 5 segments, expected 3");
	free(more);
	free(tok);
}

/* Replaces the character at tok[at] and expects reason. */
static void
expect_bad_char(const char *tok, size_t at, char c, const char *reason)
{
	char *t = strdup(tok);
	uns_jwt_policy p = pol();

	assert_non_null(t);
	t[at] = c;
	expect_reject(NULL, t, &p, reason);
	free(t);
}

static void
test_not_base64url(void **state)
{
	uns_jwt_claims c = base_claims();
	uns_jwt_policy p = pol();
	char *tok = mint("HS256", "hs", &c), *t;
	size_t d1 = (size_t)(strchr(tok, '.') - tok);
	size_t d2 = (size_t)(strrchr(tok, '.') - tok);
	static const char bad[] = "+/= \n\t%\x80";

	(void)state;
	for (const char *b = bad; *b; b++) {
		expect_bad_char(tok, 1, *b,
		                "malformed token: header is not base64url");
		expect_bad_char(tok, d1 + 2, *b,
		                "malformed token: payload is not base64url");
		expect_bad_char(tok, d2 + 2, *b,
		                "malformed token: signature is not base64url");
	}
	/* Padding appended to the signature. */
	t = malloc(strlen(tok) + 4);
	assert_non_null(t);
	sprintf(t, "%s=", tok);
	expect_reject(NULL, t, &p,
	              "malformed token: signature is not base64url");
	free(t);
	/* Non-canonical: a 43-character HS256 signature ends in a character
	 * whose two low bits are unused; setting one is refused. */
	t = strdup(tok);
	assert_non_null(t);
	assert_int_equal(strlen(t) - d2 - 1, 43);
	{
		static const char alpha[] =
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijk"
		    "lmnopqrstuvwxyz0123456789-_";
		char *last = t + strlen(t) - 1;
		*last = alpha[(strchr(alpha, *last) - alpha) | 1];
	}
	expect_reject(NULL, t, &p,
	              "malformed token: signature is not base64url");
	free(t);
	free(tok);
}

static void
test_json_shapes(void **state)
{
	uns_jwt_policy p = pol();
	char *tok;
	struct {
		const char *header, *extra, *reason;
	} cases[] = {
	    {HS_HEADER, "\"sub\":\"mallory\"",
	     "malformed token: payload is not a json object: duplicate"},
	    {"{\"alg\":\"HS256\",\"alg\":\"none\"}", "",
	     "malformed token: header is not a json object: duplicate"},
	    {"[\"HS256\"]", "", "malformed token: header is not a json object"},
	    {"{\"alg\":\"HS256\",\"typ\":\"JWE\"}", "",
	     "malformed token: typ is not JWT"},
	    {"{\"alg\":\"HS256\",\"kid\":\"\"}", "",
	     "malformed token: kid is not 1 to 128 printable"},
	    {"{\"alg\":\"HS256\",\"kid\":\"a\\nb\"}", "",
	     "malformed token: kid is not 1 to 128 printable"},
	    {"{\"alg\":\"HS256\",\"kid\":7}", "",
	     "malformed token: kid is not 1 to 128 printable"},
	    {"{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", "",
	     "crit header parameters are not supported"},
	    {HS_HEADER, "\"nbf\":\"x\"",
	     "malformed token: nbf is not a number"},
	    {HS_HEADER, "\"iat\":-1", "malformed token: iat is out of range"},
	    {HS_HEADER, "\"iat\":1e300",
	     "malformed token: iat is out of range"},
	    {HS_HEADER, "\"iss\":7", "malformed token: iss is not a string"},
	    {HS_HEADER, "\"azp\":null", "malformed token: azp is not a string"},
	    {HS_HEADER, "\"aud\":{}", "malformed token: aud is not a string"},
	    {HS_HEADER, "\"aud\":[\"uns\",1]",
	     "malformed token: aud[1] is not"},
	    {HS_HEADER,
	     "\"aud\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\","
	     "\"8\",\"uns\"]",
	     "malformed token: aud is not a string or an array of at most 8"},
	    {HS_HEADER, "\"scp\":5", "malformed token: scp is not a string"},
	    {HS_HEADER, "\"roles\":[\"a\",{}]",
	     "malformed token: roles is not a string"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tok = craft_hs(cases[i].header, cases[i].extra);
		expect_reject(NULL, tok, &p, cases[i].reason);
		free(tok);
	}
	tok =
	    craft(HS_HEADER, "{\"sub\":\"a\",\"exp\":\"soon\"}", SECRET, NULL);
	expect_reject(NULL, tok, &p, "malformed token: exp is not a number");
	free(tok);
	tok = craft(HS_HEADER, "{\"sub\":\"a\",\"exp\":true}", SECRET, NULL);
	expect_reject(NULL, tok, &p, "malformed token: exp is not a number");
	free(tok);
	/* Not JSON at all, and JSON followed by garbage. */
	tok = craft("{\"alg\":\"HS256\"", "{}", SECRET, NULL);
	expect_reject(NULL, tok, &p,
	              "malformed token: header is not a json object");
	free(tok);
	tok = craft(HS_HEADER, "{\"sub\":\"a\",\"exp\":1700000600} x", SECRET,
	            NULL);
	expect_reject(NULL, tok, &p,
	              "malformed token: payload is not a json object");
	free(tok);
}

static void
test_claim_values(void **state)
{
	uns_jwt_policy p = pol();
	uns_jwt_claims out;
	char why[WHY_SIZE], extra[1400], *tok;

	(void)state;
	/* Floats are truncated; scp (array) and roles are joined, with
	 * extra spaces dropped; unknown claims are ignored. */
	tok = craft(
	    "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"x5u\":\"http://x\"}",
	    "{\"sub\":\"alice\",\"aud\":\"uns\",\"exp\":1700000600.9,"
	    "\"nbf\":1699999999.5,\"iat\":1.7e9,\"scp\":[\"a\",\" b  c\"],"
	    "\"roles\":\"r1 r2\",\"uns_host\":\"h.example\","
	    "\"extra\":{\"deep\":[1,2,{\"x\":null}]}}",
	    SECRET, NULL);
	assert_int_equal(check(NULL, tok, &p, &out, why), UNS_OK);
	assert_int_equal(out.exp, 1700000600);
	assert_int_equal(out.nbf, 1699999999);
	assert_int_equal(out.iat, 1700000000);
	assert_string_equal(out.scopes, "a b c r1 r2");
	assert_string_equal(out.host, "h.example");
	free(tok);
	/* sub of 256 bytes is fine, 257 is not. */
	snprintf(extra, sizeof(extra), "\"aud\":\"uns\",\"iss\":\"%0256d\"", 0);
	tok = craft_hs(HS_HEADER, extra);
	expect_ok(NULL, tok, &p);
	free(tok);
	snprintf(extra, sizeof(extra), "\"aud\":\"uns\",\"iss\":\"%0257d\"", 0);
	tok = craft_hs(HS_HEADER, extra);
	expect_reject(NULL, tok, &p,
	              "malformed token: iss is longer than 256 bytes");
	free(tok);
	/* Scopes over 1023 bytes. */
	snprintf(extra, sizeof(extra), "\"scp\":\"%01100d\"", 0);
	tok = craft_hs(HS_HEADER, extra);
	expect_reject(NULL, tok, &p,
	              "malformed token: scopes are longer than 1023 bytes");
	free(tok);
}

static void
test_max_bytes(void **state)
{
	uns_jwt_policy p = pol();
	char *pad = malloc(9000), *tok;

	(void)state;
	assert_non_null(pad);
	strcpy(pad, "\"aud\":\"uns\",\"pad\":\"");
	memset(pad + strlen(pad), 'x', 7000);
	strcpy(pad + 19 + 7000, "\"");
	tok = craft_hs(HS_HEADER, pad);
	assert_true(strlen(tok) > 8192);
	expect_reject(NULL, tok, &p, "token is longer than 8192 bytes");
	p.max_token_bytes = 16384;
	expect_ok(NULL, tok, &p);
	p.max_token_bytes = 100;
	expect_reject(NULL, tok, &p, "token is longer than 100 bytes");
	free(tok);
	free(pad);
}

/* ---- keys --------------------------------------------------------------- */

static void
test_keys_add(void **state)
{
	uns_jwt_keys *k = NULL;
	char *priv, *pub, path[128], why[WHY_SIZE], text[128];
	mbedtls_pk_context pk;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;

	(void)state;
	assert_int_equal(uns_jwt_keys_alloc(&k), UNS_OK);
	assert_int_equal(
	    uns_jwt_keys_add_secret(k, NULL, (const uint8_t *)SECRET, 31),
	    UNS_EINVAL);
	assert_int_equal(
	    uns_jwt_keys_add_secret(k, "bad\tkid", (const uint8_t *)SECRET, 40),
	    UNS_EINVAL);
	assert_int_equal(
	    uns_jwt_keys_add_pem(k, NULL, F->ec_priv, strlen(F->ec_priv)),
	    UNS_EINVAL);
	assert_int_equal(uns_jwt_keys_add_pem(k, NULL, "garbage", 7),
	                 UNS_EINVAL);
	/* RSA-1024 is too small. */
	make_rsa(1024, &priv, &pub);
	assert_int_equal(uns_jwt_keys_add_pem(k, NULL, pub, strlen(pub)),
	                 UNS_EINVAL);
	free(priv);
	free(pub);
	/* EC P-384 is not ES256. */
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_pk_init(&pk);
	assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func,
	                                       &entropy, NULL, 0),
	                 0);
	assert_int_equal(
	    mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)),
	    0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP384R1,
	                                     mbedtls_pk_ec(pk),
	                                     mbedtls_ctr_drbg_random, &drbg),
	                 0);
	pub = pem_of(&pk, 0);
	assert_int_equal(uns_jwt_keys_add_pem(k, NULL, pub, strlen(pub)),
	                 UNS_EINVAL);
	free(pub);
	mbedtls_pk_free(&pk);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	/* Files: missing, short secret, good secret with CRLF. */
	assert_int_equal(
	    uns_jwt_keys_add_file(k, NULL, "/nonexistent/key.pem", why, 128),
	    UNS_EIO);
	print_message("%s\n", why);
	snprintf(path, sizeof(path), "%s/short.secret", F->dir);
	write_text(path, "hs256:tooshort\n");
	assert_int_equal(uns_jwt_keys_add_file(k, NULL, path, why, 128),
	                 UNS_EINVAL);
	print_message("%s\n", why);
	snprintf(text, sizeof(text), "hs256:%s\r\n", SECRET);
	write_text(path, text);
	assert_int_equal(uns_jwt_keys_add_file(k, "f", path, why, 128), UNS_OK);
	snprintf(path, sizeof(path), "%s/ec.pub", F->dir);
	write_text(path, F->ec_pub);
	assert_int_equal(uns_jwt_keys_add_file(k, "e", path, why, 128), UNS_OK);
	snprintf(path, sizeof(path), "%s/ec.key", F->dir);
	write_text(path, F->ec_priv);
	assert_int_equal(uns_jwt_keys_add_file(k, "e", path, why, 128),
	                 UNS_EINVAL);
	print_message("%s\n", why);
	{
		uns_jwt_claims c = base_claims();
		uns_jwt_policy p = pol();
		char *tok = mint("HS256", "f", &c);
		expect_ok(k, tok, &p);
		free(tok);
		tok = mint("ES256", "e", &c);
		expect_ok(k, tok, &p);
		free(tok);
	}
	uns_jwt_keys_free(k);
	uns_jwt_keys_free(NULL);
}

/* A certificate's key verifies what its private key signed. */
static void
test_key_from_certificate(void **state)
{
	char dir[128], path[192], why[WHY_SIZE], *ca_key, *tok = NULL;
	uns_jwt_claims c = base_claims();
	uns_jwt_policy p = pol();
	uns_jwt_keys *k = NULL;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/ca", F->dir);
	assert_int_equal(uns_devcert_make_ca(dir, 2, why, sizeof(why)), UNS_OK);
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	ca_key = slurp(path);
	assert_int_equal(uns_jwt_mint("ES256", "ca", (const uint8_t *)ca_key,
	                              strlen(ca_key), &c, &tok, why,
	                              sizeof(why)),
	                 UNS_OK);
	assert_int_equal(uns_jwt_keys_alloc(&k), UNS_OK);
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	assert_int_equal(uns_jwt_keys_add_file(k, "ca", path, why, sizeof(why)),
	                 UNS_OK);
	expect_ok(k, tok, &p);
	uns_jwt_keys_free(k);
	free(tok);
	free(ca_key);
}

static void
test_parse_leaves_output_alone(void **state)
{
	uns_jwt_parsed p, before;
	uns_jwt_claims out, out_before;
	uns_jwt_policy po = pol();
	char why[WHY_SIZE];

	(void)state;
	memset(&p, 0x5a, sizeof(p));
	before = p;
	memset(&out, 0x5a, sizeof(out));
	out_before = out;
	assert_int_equal(uns_jwt_parse("a.b.c", 5, &p, why, sizeof(why)),
	                 UNS_UNAUTHENTICATED);
	assert_memory_equal(&p, &before, sizeof(p));
	assert_int_equal(
	    uns_jwt_verify(F->keys, "x.y", &po, &out, why, sizeof(why)),
	    UNS_UNAUTHENTICATED);
	assert_memory_equal(&out, &out_before, sizeof(out));
	/* Bad arguments, and a NULL why. */
	assert_int_equal(uns_jwt_verify(F->keys, NULL, &po, &out, NULL, 0),
	                 UNS_EINVAL);
	assert_int_equal(uns_jwt_verify(F->keys, "a.b", &po, &out, NULL, 0),
	                 UNS_UNAUTHENTICATED);
	assert_int_equal(uns_jwt_parse(NULL, 0, &p, NULL, 0), UNS_EINVAL);
	po.now = -1;
	assert_int_equal(
	    uns_jwt_verify(F->keys, "a.b.c", &po, &out, why, sizeof(why)),
	    UNS_EINVAL);
}

/* ---- concurrency -------------------------------------------------------- */

struct worker {
	const char *tok;
	int ok;
};

static void *
verify_many(void *arg)
{
	struct worker *w = arg;
	uns_jwt_policy p = pol();
	uns_jwt_claims out;

	for (int i = 0; i < 40; i++) {
		w->ok += uns_jwt_verify(F->keys, w->tok, &p, &out, NULL, 0) ==
		         UNS_OK;
	}
	return NULL;
}

/* Many threads on one key set: the lazily built EC and RSA tables inside
 * the mbedTLS contexts must not race (run under the sanitizers too). */
static void
test_concurrent_verify(void **state)
{
	uns_jwt_claims c = base_claims();
	char *es = mint("ES256", "ec", &c), *rs = mint("RS256", "rsa", &c);
	pthread_t t[8];
	struct worker w[8];

	(void)state;
	for (int i = 0; i < 8; i++) {
		w[i].tok = i % 2 ? es : rs;
		w[i].ok = 0;
		assert_int_equal(
		    pthread_create(&t[i], NULL, verify_many, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].ok, 40);
	}
	free(es);
	free(rs);
}

/* ---- Node.js cross-check ------------------------------------------------ */

static int
have_node(void)
{
	return system("command -v node >/dev/null 2>&1") == 0;
}

/* Runs node on the check script with args; returns its exit status and
 * its stdout in out (malloc'd). */
static int
run_node(const char *args, char **out)
{
	char cmd[1024];
	size_t n = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	FILE *f;
	int st;

	assert_non_null(buf);
	snprintf(cmd, sizeof(cmd), "node '%s/tests/jwt_node_check.js' %s",
	         UNS_SOURCE_DIR, args);
	f = popen(cmd, "r");
	assert_non_null(f);
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	st = pclose(f);
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
node_mints(const char *alg)
{
	char args[256], secret_path[128], why[WHY_SIZE], *out = NULL, *nl;
	uns_jwt_keys *k = NULL;
	uns_jwt_claims claims;
	uns_jwt_policy p = pol();

	snprintf(secret_path, sizeof(secret_path), "%s/node.secret", F->dir);
	snprintf(args, sizeof(args), "mint %s '%s'", alg, secret_path);
	assert_int_equal(run_node(args, &out), 0);
	nl = strchr(out, '\n');
	assert_non_null(nl);
	*nl = '\0';
	print_message("node %s: %s\n", alg, out);
	assert_int_equal(uns_jwt_keys_alloc(&k), UNS_OK);
	if (strcmp(alg, "HS256") == 0) {
		assert_int_equal(uns_jwt_keys_add_file(k, "node-1", secret_path,
		                                       why, sizeof(why)),
		                 UNS_OK);
	} else {
		assert_int_equal(
		    uns_jwt_keys_add_pem(k, "node-1", nl + 1, strlen(nl + 1)),
		    UNS_OK);
	}
	p.now = (int64_t)time(NULL);
	p.issuer = "node";
	assert_int_equal(check(k, out, &p, &claims, why), UNS_OK);
	assert_string_equal(claims.sub, "node-user");
	assert_string_equal(claims.app_id, "node-app");
	assert_string_equal(claims.aud, "uns");
	assert_string_equal(claims.scopes, "Notifications.ReadWrite Admin");
	assert_string_equal(claims.host, "node.example.com");
	assert_true(claims.exp > p.now && claims.exp - claims.iat == 600);
	uns_jwt_keys_free(k);
	free(out);
}

static void
node_verifies(const char *alg, const char *kid, const char *key_text)
{
	char path[128], args[4096], *out = NULL, *tok;
	uns_jwt_claims c = base_claims();

	snprintf(path, sizeof(path), "%s/c-%s.key", F->dir, alg);
	write_text(path, key_text);
	tok = mint(alg, kid, &c);
	snprintf(args, sizeof(args), "verify '%s' '%s'", tok, path);
	assert_int_equal(run_node(args, &out), 0);
	assert_non_null(strstr(out, "\"sub\":\"alice\""));
	free(out);
	/* and a tampered one is refused by node too */
	tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A';
	snprintf(args, sizeof(args), "verify '%s' '%s'", tok, path);
	assert_int_equal(run_node(args, &out), 1);
	free(out);
	free(tok);
}

static void
test_node_cross_check(void **state)
{
	char path[128], text[128];

	(void)state;
	if (!have_node()) {
		skip();
	}
	snprintf(path, sizeof(path), "%s/node.secret", F->dir);
	snprintf(text, sizeof(text), "hs256:%s\n", SECRET);
	write_text(path, text);
	node_mints("ES256");
	node_mints("RS256");
	node_mints("HS256");
	node_verifies("ES256", "ec", F->ec_pub);
	node_verifies("RS256", "rsa", F->rsa_pub);
	node_verifies("HS256", "hs", text);
}

/* ---- CLI ---------------------------------------------------------------- */

/* Runs unsctl_token_main in dir with the words of line; returns its exit
 * status and what it printed on stdout (malloc'd) in out. */
static int
cli(const char *dir, char **out, const char *line)
{
	char buf[1024], *argv[32], cwd[512], cap_path[192];
	int argc = 0, rc, saved, fd;

	snprintf(buf, sizeof(buf), "%s", line);
	for (char *w = strtok(buf, " "); w && argc < 31;
	     w = strtok(NULL, " ")) {
		argv[argc++] = w;
	}
	argv[argc] = NULL;
	snprintf(cap_path, sizeof(cap_path), "%s/cli.out", F->dir);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	fflush(stdout);
	saved = dup(1);
	fd = open(cap_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 1);
	close(fd);
	rc = unsctl_token_main(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	assert_int_equal(chdir(cwd), 0);
	*out = slurp(cap_path);
	return rc;
}

static void
cli_verify(const char *key_file, const char *kid, char *printed,
           const char *want_sub, const char *want_app)
{
	uns_jwt_keys *k = NULL;
	uns_jwt_claims out;
	uns_jwt_policy p = pol();
	char why[WHY_SIZE];

	*strchr(printed, '\n') = '\0';
	assert_int_equal(uns_jwt_keys_alloc(&k), UNS_OK);
	assert_int_equal(
	    uns_jwt_keys_add_file(k, kid, key_file, why, sizeof(why)), UNS_OK);
	p.now = (int64_t)time(NULL);
	p.audience = NULL;
	assert_int_equal(check(k, printed, &p, &out, why), UNS_OK);
	assert_string_equal(out.sub, want_sub);
	assert_string_equal(out.app_id, want_app);
	/* unsctl's defaults: the user scope, or the app role. */
	assert_string_equal(out.scopes, want_app[0]
	                                    ? "Notifications.Send"
	                                    : "Notifications.ReadWrite");
	assert_string_equal(out.aud, "uns");
	assert_int_equal(out.exp - out.iat, 3600);
	uns_jwt_keys_free(k);
}

static void
test_cli(void **state)
{
	char dir[128], path[192], line[512], *out = NULL;
	struct stat st;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/cli", F->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	/* No key anywhere: a usage error that says what to pass. */
	assert_int_equal(cli(dir, &out, "token user --sub alice"), 2);
	free(out);
	assert_int_equal(cli(dir, &out, "token app --sub x --app y"), 2);
	free(out);
	assert_int_equal(cli(dir, &out, "token user --bogus"), 2);
	free(out);
	assert_int_equal(cli(dir, &out, "token frobnicate"), 2);
	free(out);
	assert_int_equal(cli(dir, &out, "token user --help"), 0);
	assert_non_null(strstr(out, "--secret-file"));
	free(out);
	/* keygen: ES256 pair, then refuses to overwrite it. */
	assert_int_equal(cli(dir, &out, "token keygen --out keys"), 0);
	free(out);
	snprintf(path, sizeof(path), "%s/keys/jwt-es256.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(cli(dir, &out, "token keygen --out keys"), 1);
	free(out);
	assert_int_equal(cli(dir, &out, "token keygen --out keys --force"), 0);
	free(out);
	/* A user token signed with it, verified with the public key file. */
	assert_int_equal(cli(dir, &out,
	                     "token user --sub alice --host h.example "
	                     "--key keys/jwt-es256.key --kid k1"),
	                 0);
	snprintf(path, sizeof(path), "%s/keys/jwt-es256.pub", dir);
	cli_verify(path, "k1", out, "alice", "");
	free(out);
	/* The default HS256 secret, made by keygen --hs256. */
	assert_int_equal(cli(dir, &out, "token keygen --hs256"), 0);
	free(out);
	snprintf(path, sizeof(path), "%s/uns-data/jwt-hs256.secret", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 6 + 64 + 1);
	assert_int_equal(cli(dir, &out, "token app --app contoso --aud uns"),
	                 0);
	cli_verify(path, NULL, out, "", "contoso");
	free(out);
	snprintf(line, sizeof(line),
	         "token user --sub bob --secret-file %s --ttl 3600", path);
	assert_int_equal(cli(dir, &out, line), 0);
	cli_verify(path, NULL, out, "bob", "");
	free(out);
	assert_int_equal(cli(dir, &out, "token user --sub bob --ttl 0"), 2);
	free(out);
	snprintf(line, sizeof(line),
	         "token user --sub bob --secret-file %s --key x", path);
	assert_int_equal(cli(dir, &out, line), 2);
	free(out);
	assert_int_equal(cli(dir, &out, "token user --sub a --key missing.pem"),
	                 1);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc7515_a1_hs256),
	    cmocka_unit_test(test_rfc7515_a3_es256),
	    cmocka_unit_test(test_round_trip_hs256),
	    cmocka_unit_test(test_round_trip_es256),
	    cmocka_unit_test(test_round_trip_rs256),
	    cmocka_unit_test(test_mint_alg_from_key),
	    cmocka_unit_test(test_expired),
	    cmocka_unit_test(test_nbf_in_future),
	    cmocka_unit_test(test_missing_exp),
	    cmocka_unit_test(test_wrong_audience),
	    cmocka_unit_test(test_wrong_issuer),
	    cmocka_unit_test(test_missing_sub_and_azp),
	    cmocka_unit_test(test_alg_none),
	    cmocka_unit_test(test_alg_confusion),
	    cmocka_unit_test(test_unknown_kid),
	    cmocka_unit_test(test_tampered_payload),
	    cmocka_unit_test(test_tampered_signature),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_extra_segment),
	    cmocka_unit_test(test_not_base64url),
	    cmocka_unit_test(test_json_shapes),
	    cmocka_unit_test(test_claim_values),
	    cmocka_unit_test(test_max_bytes),
	    cmocka_unit_test(test_keys_add),
	    cmocka_unit_test(test_key_from_certificate),
	    cmocka_unit_test(test_parse_leaves_output_alone),
	    cmocka_unit_test(test_concurrent_verify),
	    cmocka_unit_test(test_node_cross_check),
	    cmocka_unit_test(test_cli),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
