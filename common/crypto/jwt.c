/*
 * jwt.c — see jwt.h.
 *
 * Verification is split in three steps that share nothing but the parsed
 * token: a pure parser (segments, strict base64url, JSON shapes; fuzzed),
 * the signature check against the configured keys, and the claim checks
 * against the policy. The signature is checked before any claim, so an
 * unauthenticated sender learns nothing from the reasons but shape errors.
 *
 * Choices:
 *  - The algorithm comes from a closed table of three. A key records the
 *    algorithm of its type when it is added, and a token is only ever
 *    checked against keys of its own alg; that closes "alg none" and the
 *    RS256/ES256 -> HS256 confusion (a public key used as HMAC secret).
 *  - base64url is strict (crypto.h): no padding, no stray bits, so that
 *    a token cannot be altered without changing its bytes.
 *  - ES256 signatures are the raw 64-byte r||s of JWA. Every primitive
 *    (hashes, HMAC, keys, signatures) is in crypto.c, which also
 *    serialises the use of each key; this file sees no mbedTLS.
 * Rejected: a JWKS fetcher (keys are configured, never fetched from a
 * token's jku/x5u/jwk, which are ignored), and a JSON parser of its own
 * (duplicate keys and UTF-8 checks come with json_value.h's).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64url.h"
#include "crypto.h"
#include "errors.h"
#include "files.h"
#include "json_value.h"
#include "jwt.h"

#define DEFAULT_MAX_TOKEN 8192
#define DEFAULT_SKEW      60
#define MAX_TIME          INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define MAX_FILE          (1 << 20)
#define MIN_SECRET        32
#define MAX_KID           128
#define MAX_CLAIM         256
#define SECRET_PREFIX     "hs256:"

typedef enum alg_id { ALG_HS256, ALG_ES256, ALG_RS256 } alg_id;

static const char *const alg_names[] = {"HS256", "ES256", "RS256"};

typedef struct jwt_key {
	char *kid; /* NULL: no id */
	alg_id alg;
	uint8_t *secret; /* HS256 */
	size_t secret_len;
	uns_key *pk; /* ES256, RS256 */
} jwt_key;

struct uns_jwt_keys {
	jwt_key **v; /* pointers, so that the mutexes never move */
	size_t n, cap;
};

/* ---- small checks ------------------------------------------------------- */

static int
printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e) {
			return 0;
		}
	}
	return 1;
}

static int
valid_kid(const char *kid)
{
	size_t len = strnlen(kid, MAX_KID + 1);

	return len >= 1 && len <= MAX_KID && printable(kid, len);
}

static int
alg_lookup(const char *name, alg_id *out)
{
	for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++) {
		if (strcmp(name, alg_names[i]) == 0) {
			*out = (alg_id)i;
			return 1;
		}
	}
	return 0;
}

/* ---- files -------------------------------------------------------------- */

/* The secret inside a secret file's text: prefix and final newline off. */
static void
secret_span(const char *text, size_t len, const char **s, size_t *slen)
{
	size_t plen = strlen(SECRET_PREFIX);

	if (len >= plen && memcmp(text, SECRET_PREFIX, plen) == 0) {
		text += plen;
		len -= plen;
	}
	if (len > 0 && text[len - 1] == '\n') {
		len--;
		if (len > 0 && text[len - 1] == '\r') {
			len--;
		}
	}
	*s = text;
	*slen = len;
}

uns_err
uns_jwt_read_secret_file(const char *path, uint8_t **out, size_t *len,
                         char *why, size_t whylen)
{
	char *text = NULL;
	const char *s;
	size_t tlen, slen;
	uns_err err;

	if (path == NULL || out == NULL || len == NULL) {
		return UNS_EINVAL;
	}
	if ((err = uns_file_read(path, MAX_FILE, &text, &tlen, why, whylen)) !=
	    UNS_OK) {
		return err;
	}
	secret_span(text, tlen, &s, &slen);
	if (slen < MIN_SECRET) {
		uns_say(why, whylen,
		        "%s: the secret is %zu bytes, hs256 needs %d", path,
		        slen, MIN_SECRET);
		free(text);
		return UNS_EINVAL;
	}
	memmove(text, s, slen);
	*out = (uint8_t *)text;
	*len = slen;
	uns_say(why, whylen, "%s", "");
	return UNS_OK;
}

/* ---- key set ------------------------------------------------------------ */

uns_err
uns_jwt_keys_alloc(uns_jwt_keys **out)
{
	uns_jwt_keys *k;

	if (out == NULL) {
		return UNS_EINVAL;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		return UNS_ENOMEM;
	}
	*out = k;
	return UNS_OK;
}

static void
key_free(jwt_key *key)
{
	if (key == NULL) {
		return;
	}
	if (key->secret != NULL) {
		uns_wipe(key->secret, key->secret_len);
	}
	free(key->secret);
	free(key->kid);
	uns_key_free(key->pk);
	free(key);
}

void
uns_jwt_keys_free(uns_jwt_keys *k)
{
	if (k == NULL) {
		return;
	}
	for (size_t i = 0; i < k->n; i++) {
		key_free(k->v[i]);
	}
	free(k->v);
	free(k);
}

/* A key with kid and its mutex; the caller fills in the rest. */
static uns_err
key_new(const char *kid, alg_id alg, jwt_key **out)
{
	jwt_key *key;

	if (kid != NULL && !valid_kid(kid)) {
		return UNS_EINVAL;
	}
	if ((key = calloc(1, sizeof(*key))) == NULL) {
		return UNS_ENOMEM;
	}
	key->alg = alg;
	if (kid != NULL && (key->kid = strdup(kid)) == NULL) {
		key_free(key);
		return UNS_ENOMEM;
	}
	*out = key;
	return UNS_OK;
}

/* Takes key on success. */
static uns_err
keys_push(uns_jwt_keys *k, jwt_key *key)
{
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 4;
		jwt_key **v = realloc(k->v, cap * sizeof(*v));
		if (v == NULL) {
			return UNS_ENOMEM;
		}
		k->v = v;
		k->cap = cap;
	}
	k->v[k->n++] = key;
	return UNS_OK;
}

uns_err
uns_jwt_keys_add_secret(uns_jwt_keys *k, const char *kid, const uint8_t *secret,
                        size_t len)
{
	jwt_key *key = NULL;
	uns_err err;

	if (k == NULL || secret == NULL || len < MIN_SECRET) {
		return UNS_EINVAL;
	}
	if ((err = key_new(kid, ALG_HS256, &key)) != UNS_OK) {
		return err;
	}
	if ((key->secret = malloc(len)) == NULL) {
		err = UNS_ENOMEM;
		goto out;
	}
	memcpy(key->secret, secret, len);
	key->secret_len = len;
	if ((err = keys_push(k, key)) == UNS_OK) {
		key = NULL;
	}
out:
	key_free(key);
	return err;
}

/* The algorithm a parsed key serves (crypto.c admits only P-256 and RSA
 * 2048..4096 bits). */
static alg_id
key_alg(const uns_key *k)
{
	return uns_key_type_of(k) == UNS_KEY_P256 ? ALG_ES256 : ALG_RS256;
}

static uns_err
add_pem(uns_jwt_keys *k, const char *kid, const char *pem, size_t len,
        char *why, size_t whylen)
{
	jwt_key *key = NULL;
	uns_err err;

	if ((err = key_new(kid, ALG_ES256, &key)) != UNS_OK) {
		uns_say(why, whylen, "%s",
		        err == UNS_EINVAL ? "bad key id" : "");
		goto out;
	}
	if (memmem(pem, len, "PRIVATE KEY-----", 16) != NULL) {
		uns_say(why, whylen, "a private key: give the public key");
		err = UNS_EINVAL;
		goto out;
	}
	if ((err = uns_key_parse(&key->pk, pem, len, why, whylen)) != UNS_OK) {
		goto out;
	}
	if (uns_key_is_private(key->pk)) {
		uns_say(why, whylen, "a private key: give the public key");
		err = UNS_EINVAL;
		goto out;
	}
	key->alg = key_alg(key->pk);
	if ((err = keys_push(k, key)) == UNS_OK) {
		key = NULL;
	}
out:
	key_free(key);
	return err;
}

uns_err
uns_jwt_keys_add_pem(uns_jwt_keys *k, const char *kid, const char *pem,
                     size_t len)
{
	if (k == NULL || pem == NULL) {
		return UNS_EINVAL;
	}
	return add_pem(k, kid, pem, len, NULL, 0);
}

uns_err
uns_jwt_keys_add_file(uns_jwt_keys *k, const char *kid, const char *path,
                      char *why, size_t whylen)
{
	char *text = NULL, inner[200] = "";
	const char *s;
	size_t len, slen;
	uns_err err;

	if (k == NULL || path == NULL) {
		uns_say(why, whylen, "no key set or path");
		return UNS_EINVAL;
	}
	if ((err = uns_file_read(path, MAX_FILE, &text, &len, why, whylen)) !=
	    UNS_OK) {
		return err;
	}
	if (strncmp(text, SECRET_PREFIX, strlen(SECRET_PREFIX)) == 0) {
		secret_span(text, len, &s, &slen);
		err = uns_jwt_keys_add_secret(k, kid, (const uint8_t *)s, slen);
		snprintf(inner, sizeof(inner),
		         "hs256 secret of %zu bytes (needs %d) or bad key id",
		         slen, MIN_SECRET);
	} else {
		err = add_pem(k, kid, text, len, inner, sizeof(inner));
	}
	uns_wipe(text, len);
	free(text);
	if (err != UNS_OK) {
		uns_say(why, whylen, "%s: %s", path, inner);
		return err;
	}
	uns_say(why, whylen, "%s", "");
	return UNS_OK;
}

uns_err
uns_jwt_keys_add_spec(uns_jwt_keys *k, const char *spec, char *why,
                      size_t whylen)
{
	uint8_t *secret = NULL;
	size_t len = 0;
	uns_err err;
	if (strncmp(spec, "hs256:", 6) != 0) {
		return uns_jwt_keys_add_file(k, NULL, spec, why, whylen);
	}
	if ((err = uns_jwt_read_secret_file(spec + 6, &secret, &len, why,
	                                    whylen)) != UNS_OK) {
		return err;
	}
	err = uns_jwt_keys_add_secret(k, NULL, secret, len);
	uns_wipe(secret, len);
	free(secret);
	if (err != UNS_OK) {
		uns_say(why, whylen, "%s: %s", spec + 6, uns_strerror(err));
	}
	return err;
}

/* ---- parser: JSON shapes ------------------------------------------------ */

/* Returns 1 present (copied), 0 absent (dst = ""), -1 bad (why says). */
static int
get_string(const uns_jv *obj, const char *name, char *dst, size_t cap,
           char *why, size_t whylen)
{
	uns_jv *v = uns_jv_get(obj, name);
	const char *s;
	size_t len;

	dst[0] = '\0';
	if (v == NULL) {
		return 0;
	}
	if (uns_jv_str(v, &s, &len) != UNS_OK) {
		uns_say(why, whylen, "malformed token: %s is not a string",
		        name);
		return -1;
	}
	if (len >= cap) {
		uns_say(why, whylen,
		        "malformed token: %s is longer than %zu bytes", name,
		        cap - 1);
		return -1;
	}
	memcpy(dst, s, len + 1);
	return 1;
}

/* A NumericDate: integer or real, truncated, 0 .. MAX_TIME. */
static int
get_time(const uns_jv *obj, const char *name, int64_t *dst, int *has, char *why,
         size_t whylen)
{
	uns_jv *v = uns_jv_get(obj, name);
	double d;

	*dst = 0;
	*has = v != NULL;
	if (v == NULL) {
		return 0;
	}
	if (uns_jv_typeof(v) == UNS_JV_INT) {
		if (uns_jv_int(v, 0, MAX_TIME, dst) == UNS_OK) {
			return 1;
		}
	} else if (uns_jv_number(v, &d) == UNS_OK) {
		if (d >= 0 && d < (double)MAX_TIME + 1) {
			*dst = (int64_t)d;
			return 1;
		}
	} else {
		uns_say(why, whylen, "malformed token: %s is not a number",
		        name);
		return -1;
	}
	uns_say(why, whylen, "malformed token: %s is out of range", name);
	return -1;
}

/* Appends the space-separated words of s to dst (cap bytes). */
static int
add_words(char *dst, size_t cap, const char *s)
{
	size_t used = strlen(dst);

	while (*s != '\0') {
		size_t n;
		s += strspn(s, " ");
		n = strcspn(s, " ");
		if (n == 0) {
			break;
		}
		if (used + (used > 0) + n >= cap) {
			return -1;
		}
		if (used > 0) {
			dst[used++] = ' ';
		}
		memcpy(dst + used, s, n);
		used += n;
		dst[used] = '\0';
		s += n;
	}
	return 0;
}

/* scp or roles: a string or an array of strings, into dst's words. */
static int
get_words(const uns_jv *obj, const char *name, char *dst, size_t cap, char *why,
          size_t whylen)
{
	uns_jv *v = uns_jv_get(obj, name), *e;
	uns_jv_iter it;

	if (v == NULL) {
		return 0;
	}
	if (uns_jv_typeof(v) == UNS_JV_STRING) {
		if (add_words(dst, cap, uns_jv_string(v)) != 0) {
			goto too_long;
		}
		return 0;
	}
	if (uns_jv_typeof(v) != UNS_JV_ARRAY) {
		goto bad;
	}
	uns_jv_iter_init(&it, v);
	while (uns_jv_iter_next(&it, NULL, &e)) {
		if (uns_jv_typeof(e) != UNS_JV_STRING) {
			goto bad;
		}
		if (add_words(dst, cap, uns_jv_string(e)) != 0) {
			goto too_long;
		}
	}
	return 0;
bad:
	uns_say(why, whylen,
	        "malformed token: %s is not a string or an array "
	        "of strings",
	        name);
	return -1;
too_long:
	uns_say(why, whylen,
	        "malformed token: scopes are longer than %zu bytes", cap - 1);
	return -1;
}

static int
get_aud(const uns_jv *obj, uns_jwt_parsed *p, char *why, size_t whylen)
{
	uns_jv *v = uns_jv_get(obj, "aud");
	const char *s;
	size_t n = uns_jv_len(v), len;

	if (v == NULL) {
		return 0;
	}
	if (uns_jv_typeof(v) == UNS_JV_STRING) {
		p->n_aud = 1;
		return get_string(obj, "aud", p->auds[0], sizeof(p->auds[0]),
		                  why, whylen) < 0
		           ? -1
		           : 0;
	}
	if (uns_jv_typeof(v) != UNS_JV_ARRAY || n > UNS_JWT_MAX_AUD) {
		uns_say(why, whylen,
		        "malformed token: aud is not a string or an "
		        "array of at most %d strings",
		        UNS_JWT_MAX_AUD);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (uns_jv_str(uns_jv_at(v, i), &s, &len) != UNS_OK ||
		    len >= sizeof(p->auds[0])) {
			uns_say(why, whylen,
			        "malformed token: aud[%zu] is not a "
			        "string of at most %d bytes",
			        i, MAX_CLAIM);
			return -1;
		}
		memcpy(p->auds[i], s, len + 1);
	}
	p->n_aud = n;
	return 0;
}

static uns_err
parse_claims(const uns_jv *obj, uns_jwt_parsed *p, char *why, size_t whylen)
{
	uns_jwt_claims *c = &p->claims;
	int r;

	if (get_string(obj, "sub", c->sub, sizeof(c->sub), why, whylen) < 0 ||
	    get_string(obj, "iss", c->iss, sizeof(c->iss), why, whylen) < 0 ||
	    get_string(obj, "uns_host", c->host, sizeof(c->host), why, whylen) <
	        0 ||
	    (r = get_string(obj, "azp", c->app_id, sizeof(c->app_id), why,
	                    whylen)) < 0 ||
	    (r == 0 && get_string(obj, "appid", c->app_id, sizeof(c->app_id),
	                          why, whylen) < 0) ||
	    get_aud(obj, p, why, whylen) < 0 ||
	    get_time(obj, "exp", &c->exp, &p->has_exp, why, whylen) < 0 ||
	    get_time(obj, "nbf", &c->nbf, &p->has_nbf, why, whylen) < 0 ||
	    get_time(obj, "iat", &c->iat, &p->has_iat, why, whylen) < 0 ||
	    get_words(obj, "scp", c->scopes, sizeof(c->scopes), why, whylen) <
	        0 ||
	    get_words(obj, "roles", c->scopes, sizeof(c->scopes), why, whylen) <
	        0) {
		return UNS_UNAUTHENTICATED;
	}
	if (p->n_aud > 0) {
		memcpy(c->aud, p->auds[0], sizeof(c->aud));
	}
	return UNS_OK;
}

static int
typ_ok(const char *typ)
{
	static const char *const ok[] = {"JWT", "at+jwt", "application/jwt",
	                                 "application/at+jwt"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (strcasecmp(typ, ok[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

static uns_err
parse_header(const uns_jv *h, uns_jwt_parsed *p, char *why, size_t whylen)
{
	uns_jv *typ = uns_jv_get(h, "typ");
	uns_jv *kid = uns_jv_get(h, "kid");
	const char *name, *s;
	size_t len;
	alg_id id;

	if (uns_jv_str(uns_jv_get(h, "alg"), &name, &len) != UNS_OK) {
		uns_say(why, whylen, "malformed token: header has no alg");
		return UNS_UNAUTHENTICATED;
	}
	if (!alg_lookup(name, &id)) {
		if (len < sizeof(p->alg) && printable(name, len)) {
			uns_say(why, whylen, "alg %s is not accepted", name);
		} else {
			uns_say(why, whylen, "alg is not accepted");
		}
		return UNS_UNAUTHENTICATED;
	}
	snprintf(p->alg, sizeof(p->alg), "%s", alg_names[id]);
	if (typ != NULL &&
	    (uns_jv_str(typ, &s, NULL) != UNS_OK || !typ_ok(s))) {
		uns_say(why, whylen, "malformed token: typ is not JWT");
		return UNS_UNAUTHENTICATED;
	}
	if (kid != NULL) {
		if (uns_jv_str(kid, &s, NULL) != UNS_OK || !valid_kid(s)) {
			uns_say(why, whylen,
			        "malformed token: kid is not 1 to %d "
			        "printable characters",
			        MAX_KID);
			return UNS_UNAUTHENTICATED;
		}
		snprintf(p->kid, sizeof(p->kid), "%s", s);
	}
	if (uns_jv_get(h, "crit") != NULL) {
		uns_say(why, whylen,
		        "crit header parameters are not supported");
		return UNS_UNAUTHENTICATED;
	}
	return UNS_OK;
}

/* ---- parser: segments --------------------------------------------------- */

typedef uns_err (*segment_fn)(const uns_jv *, uns_jwt_parsed *, char *, size_t);

/* Decodes one JSON segment (name: "header", "payload") and hands the
 * object to fn. */
static uns_err
parse_segment(const char *seg, size_t n, const char *name, segment_fn fn,
              uns_jwt_parsed *p, char *why, size_t whylen)
{
	uint8_t *buf = NULL;
	uns_jv *obj = NULL;
	uns_jv_error jerr;
	uns_err err = UNS_UNAUTHENTICATED;
	long len;

	if (n == 0) {
		uns_say(why, whylen, "malformed token: %s is empty", name);
		return err;
	}
	if ((buf = malloc(uns_b64url_decoded_len(n) + 1)) == NULL) {
		return UNS_ENOMEM;
	}
	if ((len = uns_b64url_decode(seg, n, buf, uns_b64url_decoded_len(n))) <
	    0) {
		uns_say(why, whylen, "malformed token: %s is not base64url",
		        name);
		goto out;
	}
	switch (uns_jv_parse((const char *)buf, (size_t)len, 0, &obj, &jerr)) {
	case UNS_OK:
		break;
	case UNS_ENOMEM:
		err = UNS_ENOMEM;
		goto out;
	default:
		/* the parser quotes the input: keep reasons printable */
		for (char *c = jerr.reason; *c != '\0'; c++) {
			*c = *c < 0x20 || *c > 0x7e ? '?' : *c;
		}
		uns_say(why, whylen,
		        "malformed token: %s is not a json object%s%s", name,
		        ": ", jerr.reason);
		goto out;
	}
	if (uns_jv_typeof(obj) != UNS_JV_OBJECT) {
		uns_say(why, whylen, "malformed token: %s is not a json object",
		        name);
		goto out;
	}
	err = fn(obj, p, why, whylen);
out:
	uns_jv_free(obj);
	free(buf);
	return err;
}

uns_err
uns_jwt_parse(const char *token, size_t len, uns_jwt_parsed *out, char *why,
              size_t whylen)
{
	uns_jwt_parsed p;
	const char *d1, *d2;
	size_t dots = 0;
	long n;
	uns_err err;

	if (token == NULL || out == NULL) {
		uns_say(why, whylen, "no token");
		return UNS_EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		dots += token[i] == '.';
	}
	if (dots != 2) {
		uns_say(why, whylen,
		        "malformed token: %zu segments, expected 3", dots + 1);
		return UNS_UNAUTHENTICATED;
	}
	memset(&p, 0, sizeof(p));
	d1 = memchr(token, '.', len);
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
	if ((err = parse_segment(token, (size_t)(d1 - token), "header",
	                         parse_header, &p, why, whylen)) != UNS_OK ||
	    (err = parse_segment(d1 + 1, (size_t)(d2 - d1 - 1), "payload",
	                         parse_claims, &p, why, whylen)) != UNS_OK) {
		return err;
	}
	n = (long)(len - (size_t)(d2 + 1 - token));
	if (n == 0 || uns_b64url_decoded_len((size_t)n) > sizeof(p.sig)) {
		uns_say(why, whylen, "malformed token: signature is %s",
		        n == 0 ? "empty" : "too long");
		return UNS_UNAUTHENTICATED;
	}
	if ((n = uns_b64url_decode(d2 + 1, (size_t)n, p.sig, sizeof(p.sig))) <
	    0) {
		uns_say(why, whylen,
		        "malformed token: signature is not base64url");
		return UNS_UNAUTHENTICATED;
	}
	p.sig_len = (size_t)n;
	p.signing_input = token;
	p.signing_input_len = (size_t)(d2 - token);
	*out = p;
	uns_say(why, whylen, "%s", "");
	return UNS_OK;
}

/* ---- signature ---------------------------------------------------------- */

static uns_err
check_hs256(const jwt_key *key, const uns_jwt_parsed *p)
{
	uint8_t mac[32];
	uns_err err;

	if (p->sig_len != sizeof(mac)) {
		return UNS_UNAUTHENTICATED;
	}
	if ((err =
	         uns_hmac_sha256(key->secret, key->secret_len, p->signing_input,
	                         p->signing_input_len, mac)) != UNS_OK) {
		return err;
	}
	return uns_equal_ct(mac, p->sig, sizeof(mac)) ? UNS_OK
	                                              : UNS_UNAUTHENTICATED;
}

static uns_err
check_pk(jwt_key *key, const uns_jwt_parsed *p)
{
	return uns_key_verify_sha256(key->pk, p->signing_input,
	                             p->signing_input_len, p->sig, p->sig_len);
}

static uns_err
check_key(jwt_key *key, const uns_jwt_parsed *p)
{
	return key->alg == ALG_HS256 ? check_hs256(key, p) : check_pk(key, p);
}

typedef struct sig_tally {
	size_t named; /* keys whose kid equals the token's */
	size_t tried; /* keys of the token's alg that were tried */
	alg_id other; /* the alg of a named key that did not match */
	int nomem;
} sig_tally;

/* Tries the keys that pass the filter; UNS_OK when one verifies. */
static uns_err
try_keys(const uns_jwt_keys *k, const uns_jwt_parsed *p, alg_id alg,
         int with_kid, sig_tally *t)
{
	for (size_t i = 0; i < k->n; i++) {
		jwt_key *key = k->v[i];
		uns_err err;
		if (with_kid &&
		    (key->kid == NULL || strcmp(key->kid, p->kid))) {
			continue;
		}
		if (p->kid[0] != '\0' && !with_kid && key->kid != NULL) {
			continue;
		}
		t->named += with_kid;
		if (key->alg != alg) {
			t->other = key->alg;
			continue;
		}
		t->tried++;
		if ((err = check_key(key, p)) == UNS_OK) {
			return UNS_OK;
		}
		t->nomem |= err == UNS_ENOMEM;
	}
	return UNS_UNAUTHENTICATED;
}

uns_err
uns_jwt_verify_signature(const uns_jwt_keys *k, const uns_jwt_parsed *p,
                         char *why, size_t whylen)
{
	sig_tally t = {0, 0, ALG_HS256, 0};
	alg_id alg;

	if (k == NULL || p == NULL || !alg_lookup(p->alg, &alg)) {
		uns_say(why, whylen, "no keys or no parsed token");
		return UNS_EINVAL;
	}
	if (p->kid[0] != '\0' && try_keys(k, p, alg, 1, &t) == UNS_OK) {
		goto ok;
	}
	if (t.named == 0 && try_keys(k, p, alg, 0, &t) == UNS_OK) {
		goto ok;
	}
	if (t.nomem) {
		uns_say(why, whylen, "out of memory");
		return UNS_ENOMEM;
	}
	if (t.tried > 0) {
		uns_say(why, whylen, "signature does not verify");
	} else if (t.named > 0) {
		uns_say(why, whylen,
		        "key id \"%s\" is an %s key, the token is %s", p->kid,
		        alg_names[t.other], p->alg);
	} else if (p->kid[0] != '\0') {
		uns_say(why, whylen, "unknown key id \"%s\"", p->kid);
	} else {
		uns_say(why, whylen, "no %s key is configured", p->alg);
	}
	return UNS_UNAUTHENTICATED;
ok:
	uns_say(why, whylen, "%s", "");
	return UNS_OK;
}

/* ---- claims against the policy ------------------------------------------ */

static uns_err
check_claims(const uns_jwt_parsed *pt, const uns_jwt_policy *pol,
             uns_jwt_claims *c, char *why, size_t whylen)
{
	int64_t skew = pol->skew_seconds < 0 ? DEFAULT_SKEW : pol->skew_seconds;
	const uns_jwt_claims *in = &pt->claims;
	size_t i;

	*c = *in;
	if (!pt->has_exp) {
		uns_say(why, whylen, "token has no exp");
		return UNS_UNAUTHENTICATED;
	}
	if (in->exp < pol->now - skew) {
		uns_say(why, whylen, "token expired %lld s ago",
		        (long long)(pol->now - in->exp));
		return UNS_UNAUTHENTICATED;
	}
	if (pt->has_nbf && in->nbf > pol->now + skew) {
		uns_say(why, whylen, "token not valid for another %lld s",
		        (long long)(in->nbf - pol->now));
		return UNS_UNAUTHENTICATED;
	}
	if (pol->issuer != NULL && strcmp(in->iss, pol->issuer) != 0) {
		uns_say(why, whylen, "issuer mismatch");
		return UNS_UNAUTHENTICATED;
	}
	if (pol->audience != NULL) {
		for (i = 0; i < pt->n_aud; i++) {
			if (strcmp(pt->auds[i], pol->audience) == 0) {
				break;
			}
		}
		if (i == pt->n_aud) {
			uns_say(why, whylen, "audience mismatch");
			return UNS_UNAUTHENTICATED;
		}
		memcpy(c->aud, pt->auds[i], sizeof(c->aud));
	}
	if (in->sub[0] == '\0' && in->app_id[0] == '\0') {
		uns_say(why, whylen, "token has neither sub nor azp/appid");
		return UNS_UNAUTHENTICATED;
	}
	return UNS_OK;
}

uns_err
uns_jwt_verify(const uns_jwt_keys *k, const char *token,
               const uns_jwt_policy *p, uns_jwt_claims *out, char *why,
               size_t whylen)
{
	uns_jwt_parsed parsed;
	uns_jwt_claims claims;
	size_t max, len;
	uns_err err;

	if (k == NULL || token == NULL || p == NULL || out == NULL) {
		uns_say(why, whylen, "no keys, token, policy or output");
		return UNS_EINVAL;
	}
	if (p->now < 0 || p->now > MAX_TIME) {
		uns_say(why, whylen, "policy time out of range");
		return UNS_EINVAL;
	}
	max = p->max_token_bytes ? p->max_token_bytes : DEFAULT_MAX_TOKEN;
	if ((len = strnlen(token, max < SIZE_MAX ? max + 1 : max)) > max) {
		uns_say(why, whylen, "token is longer than %zu bytes", max);
		return UNS_UNAUTHENTICATED;
	}
	if ((err = uns_jwt_parse(token, len, &parsed, why, whylen)) != UNS_OK ||
	    (err = uns_jwt_verify_signature(k, &parsed, why, whylen)) !=
	        UNS_OK ||
	    (err = check_claims(&parsed, p, &claims, why, whylen)) != UNS_OK) {
		return err;
	}
	*out = claims;
	uns_say(why, whylen, "%s", "");
	return UNS_OK;
}

/* ---- minting ------------------------------------------------------------ */

/* Sets obj[name] = s unless s is empty; -1 when s is not UTF-8. */
static int
set_string(uns_jv *obj, const char *name, const char *s, size_t cap)
{
	if (strnlen(s, cap) == cap) {
		return -1; /* not terminated */
	}
	if (s[0] == '\0') {
		return 0;
	}
	return uns_jv_set_str(obj, name, s) == UNS_OK ? 0 : -1;
}

static int
set_time(uns_jv *obj, const char *name, int64_t t)
{
	if (t == 0) {
		return 0;
	}
	return uns_jv_set_int(obj, name, t) == UNS_OK ? 0 : -1;
}

static uns_jv *
claims_json(const uns_jwt_claims *c)
{
	uns_jv *obj = uns_jv_new_object();

	if (obj == NULL ||
	    set_string(obj, "iss", c->iss, sizeof(c->iss)) != 0 ||
	    set_string(obj, "sub", c->sub, sizeof(c->sub)) != 0 ||
	    set_string(obj, "azp", c->app_id, sizeof(c->app_id)) != 0 ||
	    set_string(obj, "aud", c->aud, sizeof(c->aud)) != 0 ||
	    set_time(obj, "exp", c->exp) != 0 ||
	    set_time(obj, "nbf", c->nbf) != 0 ||
	    set_time(obj, "iat", c->iat) != 0 ||
	    set_string(obj, "scp", c->scopes, sizeof(c->scopes)) != 0 ||
	    set_string(obj, "uns_host", c->host, sizeof(c->host)) != 0) {
		uns_jv_free(obj);
		return NULL;
	}
	return obj;
}

static uns_jv *
header_json(alg_id alg, const char *kid)
{
	uns_jv *h = uns_jv_new_object();

	if (h == NULL || uns_jv_set_str(h, "alg", alg_names[alg]) != UNS_OK ||
	    uns_jv_set_str(h, "typ", "JWT") != UNS_OK ||
	    (kid != NULL && uns_jv_set_str(h, "kid", kid) != UNS_OK)) {
		uns_jv_free(h);
		return NULL;
	}
	return h;
}

/* base64url(compact JSON of obj), malloc'd; takes obj. NULL on failure. */
static char *
encode_json(uns_jv *obj)
{
	char *s = NULL;
	char *b = NULL;

	if (obj == NULL || uns_jv_dump(obj, 0, &s, NULL) != UNS_OK) {
		s = NULL;
	}
	uns_jv_free(obj);
	if (s != NULL && (b = malloc(strlen(s) / 3 * 4 + 5)) != NULL) {
		uns_b64url_encode((const uint8_t *)s, strlen(s), b);
	}
	free(s);
	return b;
}

/* The signing key of a mint call: a secret, or a parsed private key. */
typedef struct mint_key {
	alg_id alg;
	const uint8_t *secret;
	size_t secret_len;
	uns_key *pk;
} mint_key;

static uns_err
mint_key_load(mint_key *mk, const char *alg, const uint8_t *key, size_t len,
              char *why, size_t whylen)
{
	char inner[160];
	alg_id want = ALG_ES256;
	uns_err err;

	if (alg != NULL && !alg_lookup(alg, &want)) {
		uns_say(why, whylen, "alg must be HS256, ES256 or RS256");
		return UNS_EINVAL;
	}
	if (alg != NULL && want == ALG_HS256) {
		mk->alg = ALG_HS256;
		mk->secret = key;
		mk->secret_len = len;
		if (len < MIN_SECRET) {
			uns_say(why, whylen,
			        "hs256 secret is %zu bytes, needs %d", len,
			        MIN_SECRET);
			return UNS_EINVAL;
		}
		return UNS_OK;
	}
	err = uns_key_parse(&mk->pk, key, len, inner, sizeof(inner));
	if (err == UNS_OK && !uns_key_is_private(mk->pk)) {
		snprintf(inner, sizeof(inner), "a public key");
		err = UNS_EINVAL;
	}
	if (err != UNS_OK) {
		uns_say(why, whylen, "not a private key: %s", inner);
		return err;
	}
	mk->alg = key_alg(mk->pk);
	if (alg != NULL && mk->alg != want) {
		uns_say(why, whylen,
		        "the key does not serve %s (ES256 needs ec "
		        "p-256, RS256 rsa 2048..4096 bits)",
		        alg);
		return UNS_EINVAL;
	}
	return UNS_OK;
}

static uns_err
sign(mint_key *mk, const char *input, size_t len, uint8_t *sig, size_t *sig_len)
{
	if (mk->alg == ALG_HS256) {
		*sig_len = 32;
		return uns_hmac_sha256(mk->secret, mk->secret_len, input, len,
		                       sig);
	}
	return uns_key_sign_sha256(mk->pk, input, len, sig, UNS_JWT_MAX_SIG,
	                           sig_len);
}

uns_err
uns_jwt_mint(const char *alg, const char *kid, const uint8_t *key,
             size_t key_len, const uns_jwt_claims *claims, char **out,
             char *why, size_t whylen)
{
	mint_key mk = {.alg = ALG_HS256};
	uint8_t sig[UNS_JWT_MAX_SIG];
	size_t sig_len = 0, used;
	char *head = NULL, *body = NULL, *tok = NULL;
	uns_err err = UNS_EINVAL;

	if (key == NULL || claims == NULL || out == NULL ||
	    (kid != NULL && !valid_kid(kid))) {
		uns_say(why, whylen, "no key, claims or output, or a bad kid");
		goto out;
	}
	if ((err = mint_key_load(&mk, alg, key, key_len, why, whylen)) !=
	    UNS_OK) {
		goto out;
	}
	head = encode_json(header_json(mk.alg, kid));
	body = encode_json(claims_json(claims));
	if (head == NULL || body == NULL) {
		uns_say(why, whylen,
		        "claims are not utf-8 strings, or no memory");
		err = UNS_EINVAL;
		goto out;
	}
	used = strlen(head) + 1 + strlen(body);
	if ((tok = malloc(used + 2 + UNS_JWT_MAX_SIG / 3 * 4 + 4)) == NULL) {
		err = UNS_ENOMEM;
		goto out;
	}
	sprintf(tok, "%s.%s", head, body);
	if ((err = sign(&mk, tok, used, sig, &sig_len)) != UNS_OK) {
		uns_say(why, whylen, "cannot sign");
		goto out;
	}
	tok[used++] = '.';
	uns_b64url_encode(sig, sig_len, tok + used);
	*out = tok;
	tok = NULL;
	uns_say(why, whylen, "%s", "");
	err = UNS_OK;
out:
	uns_key_free(mk.pk);
	free(head);
	free(body);
	free(tok);
	return err;
}

uns_err
uns_jwt_keygen_es256(char **priv, char **pub, char *why, size_t whylen)
{
	uns_key *k = NULL;
	char *a = NULL, *b = NULL;
	uns_err err;

	if (priv == NULL || pub == NULL) {
		return UNS_EINVAL;
	}
	if ((err = uns_key_gen_p256(&k)) == UNS_OK &&
	    (err = uns_key_write_pem(k, true, &a)) == UNS_OK) {
		err = uns_key_write_pem(k, false, &b);
	}
	uns_key_free(k);
	if (err != UNS_OK) {
		if (a != NULL) {
			uns_wipe(a, strlen(a));
		}
		free(a);
		uns_say(why, whylen, "cannot make a key");
		return err;
	}
	*priv = a;
	*pub = b;
	uns_say(why, whylen, "%s", "");
	return UNS_OK;
}
