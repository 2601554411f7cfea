/*
 * crypto.c — see crypto.h. The only file of the server that calls the
 * mbedTLS crypto library (the TLS of the RPC port is NNG's, the X.509
 * writer of the development CA is common/crypto/devcert.c).
 *
 * Choices:
 *  - One CTR-DRBG per process, seeded on first use (pthread_once);
 *    mbedTLS locks it under MBEDTLS_THREADING_C, so any thread may draw.
 *  - Raw P-256 operations load the group per call: a few microseconds
 *    against the scalar multiplications they do. A uns_key keeps its
 *    group (and the comb table mbedTLS caches in it) behind a mutex, so
 *    long-lived signing keys (VAPID, APNs, JWT) sign faster.
 *  - ECDSA signing is deterministic (RFC 6979) everywhere: no nonce
 *    reuse on a bad RNG, and known-answer tests for ES256.
 *  - base64url is strict by hand: mbedtls_base64_decode is standard
 *    base64 and skips whitespace; we want one spelling per value.
 *  - RFC 8188 records are built here rather than in the Web Push
 *    transport so that the known-answer tests and the reference decoder
 *    exercise exactly the bytes the transport sends.
 * Rejected: mbedtls_pk_sign for ES256 (DER output to convert), and the
 * older "aesgcm" Web Push coding (no current browser needs it).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "crypto.h"
#include "errors.h"
#include "files.h"

#define MAX_KEY_FILE (1 << 20)
#define PEM_BUF      8192

struct uns_key {
	mbedtls_pk_context pk;
	uns_key_type type;
	bool priv;
	pthread_mutex_t lock; /* around every use of pk */
};

/* ---- the mbedTLS border ------------------------------------------------- */

/*
 * The one place where mbedTLS codes become uns_err. A code is the negated
 * sum of a high-level part (bits 7..14: PEM, PK, RSA, ECP, MD...) and a
 * low-level part (bits 0..6: ASN1, MPI...). A signature or tag that does
 * not verify is UNS_UNAUTHENTICATED; input that does not parse UNS_EINVAL;
 * allocation failures UNS_ENOMEM; the rest UNS_INTERNAL.
 */
static uns_err
tls_err(int ret)
{
	int high = -ret & 0x7F80, low = -ret & 0x007F;

	if (ret == 0) {
		return UNS_OK;
	}
	if (high == -MBEDTLS_ERR_PK_ALLOC_FAILED ||
	    high == -MBEDTLS_ERR_ECP_ALLOC_FAILED ||
	    high == -MBEDTLS_ERR_PEM_ALLOC_FAILED ||
	    high == -MBEDTLS_ERR_X509_ALLOC_FAILED ||
	    high == -MBEDTLS_ERR_MD_ALLOC_FAILED ||
	    low == -MBEDTLS_ERR_MPI_ALLOC_FAILED ||
	    low == -MBEDTLS_ERR_ASN1_ALLOC_FAILED) {
		return UNS_ENOMEM;
	}
	if (ret == MBEDTLS_ERR_ECP_VERIFY_FAILED ||
	    ret == MBEDTLS_ERR_RSA_VERIFY_FAILED ||
	    ret == MBEDTLS_ERR_PK_SIG_LEN_MISMATCH ||
	    ret == MBEDTLS_ERR_GCM_AUTH_FAILED) {
		return UNS_UNAUTHENTICATED;
	}
	if ((high >= -MBEDTLS_ERR_PEM_NO_HEADER_FOOTER_PRESENT &&
	     high <= -MBEDTLS_ERR_PEM_BAD_INPUT_DATA) ||
	    (high >= -MBEDTLS_ERR_PK_FEATURE_UNAVAILABLE &&
	     high <= -MBEDTLS_ERR_PK_TYPE_MISMATCH) ||
	    (high >= -MBEDTLS_ERR_X509_FEATURE_UNAVAILABLE &&
	     high <= -MBEDTLS_ERR_X509_BAD_INPUT_DATA) ||
	    ret == MBEDTLS_ERR_ECP_INVALID_KEY ||
	    ret == MBEDTLS_ERR_ECP_BAD_INPUT_DATA ||
	    ret == MBEDTLS_ERR_ECP_FEATURE_UNAVAILABLE) {
		return UNS_EINVAL;
	}
	return UNS_INTERNAL;
}

static uns_err
tls_fail(int ret, char *why, size_t whylen, const char *what)
{
	char msg[128];

	mbedtls_strerror(ret, msg, sizeof(msg));
	uns_say(why, whylen, "%s: %s", what, msg);
	return tls_err(ret);
}

/* ---- random bytes ------------------------------------------------------- */

static mbedtls_entropy_context rng_entropy;
static mbedtls_ctr_drbg_context rng_drbg;
static int rng_seed_ret;
static pthread_once_t rng_once = PTHREAD_ONCE_INIT;

static void
rng_init(void)
{
	static const unsigned char pers[] = "uns-crypto";

	mbedtls_entropy_init(&rng_entropy);
	mbedtls_ctr_drbg_init(&rng_drbg);
	rng_seed_ret =
	    mbedtls_ctr_drbg_seed(&rng_drbg, mbedtls_entropy_func, &rng_entropy,
	                          pers, sizeof(pers) - 1);
}

/* The f_rng of mbedTLS calls: the process DRBG. */
static int
rng_draw(void *arg, unsigned char *buf, size_t len)
{
	(void)arg;
	pthread_once(&rng_once, rng_init);
	if (rng_seed_ret != 0) {
		return rng_seed_ret;
	}
	/* The DRBG hands out at most MBEDTLS_CTR_DRBG_MAX_REQUEST per call. */
	while (len > 0) {
		size_t n = len < MBEDTLS_CTR_DRBG_MAX_REQUEST
		               ? len
		               : MBEDTLS_CTR_DRBG_MAX_REQUEST;
		int ret = mbedtls_ctr_drbg_random(&rng_drbg, buf, n);
		if (ret != 0) {
			return ret;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

uns_err
uns_random(void *buf, size_t len)
{
	if (buf == NULL && len > 0) {
		return UNS_EINVAL;
	}
	return tls_err(rng_draw(NULL, buf, len));
}

/* ---- hashes, MACs, AEAD -------------------------------------------------- */

uns_err
uns_sha256(const void *data, size_t len, uint8_t out[32])
{
	return tls_err(mbedtls_sha256_ret(data, len, out, 0));
}

uns_err
uns_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                uint8_t out[32])
{
	return tls_err(
	    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key,
	                    key_len, data, len, out));
}

uns_err
uns_hkdf_sha256(const void *salt, size_t salt_len, const void *ikm,
                size_t ikm_len, const void *info, size_t info_len, uint8_t *out,
                size_t out_len)
{
	return tls_err(
	    mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), salt,
	                 salt_len, ikm, ikm_len, info, info_len, out, out_len));
}

uns_err
uns_pbkdf2_sha256(const void *password, size_t password_len, const void *salt,
                  size_t salt_len, uint32_t iterations, uint8_t *out,
                  size_t out_len)
{
	mbedtls_md_context_t md;
	int ret;

	if (iterations == 0 || out_len == 0 || out_len > UINT32_MAX) {
		return UNS_EINVAL;
	}
	mbedtls_md_init(&md);
	ret = mbedtls_md_setup(&md,
	                       mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
	if (ret == 0) {
		ret = mbedtls_pkcs5_pbkdf2_hmac(&md, password, password_len,
		                                salt, salt_len, iterations,
		                                (uint32_t)out_len, out);
	}
	mbedtls_md_free(&md);
	return tls_err(ret);
}

bool
uns_equal_ct(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t diff = 0;

	for (size_t i = 0; i < len; i++) {
		diff |= x[i] ^ y[i];
	}
	return diff == 0;
}

void
uns_wipe(void *p, size_t len)
{
	mbedtls_platform_zeroize(p, len);
}

static int
gcm_run(int mode, const uint8_t key[16], const uint8_t nonce[12],
        const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	mbedtls_gcm_context gcm;
	int ret;

	mbedtls_gcm_init(&gcm);
	ret = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 128);
	if (ret == 0 && mode == MBEDTLS_GCM_ENCRYPT) {
		ret = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, len,
		                                nonce, 12, NULL, 0, in, out,
		                                UNS_GCM_TAGLEN, tag);
	} else if (ret == 0) {
		ret = mbedtls_gcm_auth_decrypt(&gcm, len, nonce, 12, NULL, 0,
		                               tag, UNS_GCM_TAGLEN, in, out);
	}
	mbedtls_gcm_free(&gcm);
	return ret;
}

uns_err
uns_aes128gcm_seal(const uint8_t key[16], const uint8_t nonce[12],
                   const uint8_t *in, size_t len, uint8_t *out)
{
	return tls_err(
	    gcm_run(MBEDTLS_GCM_ENCRYPT, key, nonce, in, len, out, out + len));
}

uns_err
uns_aes128gcm_open(const uint8_t key[16], const uint8_t nonce[12],
                   const uint8_t *in, size_t len, uint8_t *out)
{
	if (len < UNS_GCM_TAGLEN) {
		return UNS_EINVAL;
	}
	len -= UNS_GCM_TAGLEN;
	return tls_err(gcm_run(MBEDTLS_GCM_DECRYPT, key, nonce, in, len, out,
	                       (uint8_t *)in + len));
}

/* ---- raw P-256 ---------------------------------------------------------- */

/* A P-256 keypair context from raw parts; either may be NULL. */
static int
p256_load(mbedtls_ecp_keypair *kp, const uint8_t *priv, const uint8_t *pub)
{
	int ret;

	mbedtls_ecp_keypair_init(kp);
	if ((ret = mbedtls_ecp_group_load(&kp->grp,
	                                  MBEDTLS_ECP_DP_SECP256R1)) != 0) {
		return ret;
	}
	if (priv != NULL &&
	    ((ret = mbedtls_mpi_read_binary(&kp->d, priv, 32)) != 0 ||
	     (ret = mbedtls_ecp_check_privkey(&kp->grp, &kp->d)) != 0)) {
		return ret;
	}
	if (pub != NULL &&
	    ((ret = mbedtls_ecp_point_read_binary(&kp->grp, &kp->Q, pub,
	                                          UNS_P256_PUBLEN)) != 0 ||
	     (ret = mbedtls_ecp_check_pubkey(&kp->grp, &kp->Q)) != 0)) {
		return ret;
	}
	return 0;
}

static int
point_write(const mbedtls_ecp_group *grp, const mbedtls_ecp_point *q,
            uint8_t pub[65])
{
	size_t n = 0;
	int ret = mbedtls_ecp_point_write_binary(
	    grp, q, MBEDTLS_ECP_PF_UNCOMPRESSED, &n, pub, UNS_P256_PUBLEN);

	return ret == 0 && n != UNS_P256_PUBLEN ? MBEDTLS_ERR_ECP_BAD_INPUT_DATA
	                                        : ret;
}

/*
 * Multiplications by the generator (new keys, public keys of scalars)
 * share one process-wide group: mbedTLS caches the generator's comb
 * table inside the group on first use, which makes them several times
 * faster. The cache is filled inside a call, so the group has a lock.
 */
static mbedtls_ecp_group gen_grp;
static int gen_ret;
static pthread_once_t gen_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t gen_lock = PTHREAD_MUTEX_INITIALIZER;

static void
gen_init(void)
{
	mbedtls_ecp_group_init(&gen_grp);
	gen_ret = mbedtls_ecp_group_load(&gen_grp, MBEDTLS_ECP_DP_SECP256R1);
}

/* q = d * G, with d random when gen is true. */
static int
gen_mul(mbedtls_mpi *d, mbedtls_ecp_point *q, bool gen, uint8_t pub[65])
{
	int ret;

	pthread_once(&gen_once, gen_init);
	if (gen_ret != 0) {
		return gen_ret;
	}
	pthread_mutex_lock(&gen_lock);
	ret = gen ? mbedtls_ecp_gen_keypair(&gen_grp, d, q, rng_draw, NULL)
	          : mbedtls_ecp_mul(&gen_grp, q, d, &gen_grp.G, rng_draw, NULL);
	if (ret == 0) {
		ret = point_write(&gen_grp, q, pub);
	}
	pthread_mutex_unlock(&gen_lock);
	return ret;
}

uns_err
uns_p256_keygen(uint8_t priv[32], uint8_t pub[65])
{
	mbedtls_ecp_keypair kp;
	int ret;

	if ((ret = p256_load(&kp, NULL, NULL)) == 0 &&
	    (ret = gen_mul(&kp.d, &kp.Q, true, pub)) == 0) {
		ret = mbedtls_mpi_write_binary(&kp.d, priv, 32);
	}
	mbedtls_ecp_keypair_free(&kp);
	return tls_err(ret);
}

uns_err
uns_p256_public(const uint8_t priv[32], uint8_t pub[65])
{
	mbedtls_ecp_keypair kp;
	uint8_t q[UNS_P256_PUBLEN];
	int ret;

	if ((ret = p256_load(&kp, priv, NULL)) == 0 &&
	    (ret = gen_mul(&kp.d, &kp.Q, false, q)) == 0) {
		memcpy(pub, q, sizeof(q));
	}
	mbedtls_ecp_keypair_free(&kp);
	return tls_err(ret);
}

uns_err
uns_p256_check_public(const uint8_t *pub, size_t len)
{
	mbedtls_ecp_keypair kp;
	int ret;

	if (pub == NULL || len != UNS_P256_PUBLEN || pub[0] != 0x04) {
		return UNS_EINVAL;
	}
	ret = p256_load(&kp, NULL, pub);
	mbedtls_ecp_keypair_free(&kp);
	return ret == 0 ? UNS_OK : UNS_EINVAL;
}

uns_err
uns_p256_ecdh(const uint8_t priv[32], const uint8_t peer[65],
              uint8_t secret[32])
{
	mbedtls_ecp_keypair kp;
	mbedtls_mpi z;
	int ret;

	if (uns_p256_check_public(peer, UNS_P256_PUBLEN) != UNS_OK) {
		return UNS_EINVAL;
	}
	mbedtls_mpi_init(&z);
	if ((ret = p256_load(&kp, priv, peer)) == 0 &&
	    (ret = mbedtls_ecdh_compute_shared(&kp.grp, &z, &kp.Q, &kp.d,
	                                       rng_draw, NULL)) == 0) {
		ret = mbedtls_mpi_write_binary(&z, secret, 32);
	}
	mbedtls_mpi_free(&z);
	mbedtls_ecp_keypair_free(&kp);
	return tls_err(ret);
}

/* Deterministic ECDSA with kp's d; r||s into sig. */
static int
ecdsa_sign_raw(mbedtls_ecp_keypair *kp, const uint8_t hash[32], uint8_t sig[64])
{
	mbedtls_mpi r, s;
	int ret;

	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	if ((ret = mbedtls_ecdsa_sign_det_ext(&kp->grp, &r, &s, &kp->d, hash,
	                                      32, MBEDTLS_MD_SHA256, rng_draw,
	                                      NULL)) == 0 &&
	    (ret = mbedtls_mpi_write_binary(&r, sig, 32)) == 0) {
		ret = mbedtls_mpi_write_binary(&s, sig + 32, 32);
	}
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	return ret;
}

static int
ecdsa_verify_raw(mbedtls_ecp_keypair *kp, const uint8_t hash[32],
                 const uint8_t sig[64])
{
	mbedtls_mpi r, s;
	int ret;

	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	if ((ret = mbedtls_mpi_read_binary(&r, sig, 32)) == 0 &&
	    (ret = mbedtls_mpi_read_binary(&s, sig + 32, 32)) == 0) {
		ret = mbedtls_ecdsa_verify(&kp->grp, hash, 32, &kp->Q, &r, &s);
	}
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	return ret;
}

uns_err
uns_p256_sign(const uint8_t priv[32], const uint8_t hash[32], uint8_t sig[64])
{
	mbedtls_ecp_keypair kp;
	int ret;

	if ((ret = p256_load(&kp, priv, NULL)) == 0) {
		ret = ecdsa_sign_raw(&kp, hash, sig);
	}
	mbedtls_ecp_keypair_free(&kp);
	return tls_err(ret);
}

uns_err
uns_p256_verify(const uint8_t pub[65], const uint8_t hash[32],
                const uint8_t sig[64])
{
	mbedtls_ecp_keypair kp;
	int ret;

	if ((ret = p256_load(&kp, NULL, pub)) == 0) {
		ret = ecdsa_verify_raw(&kp, hash, sig);
	}
	mbedtls_ecp_keypair_free(&kp);
	if (ret == 0) {
		return UNS_OK;
	}
	return tls_err(ret) == UNS_ENOMEM ? UNS_ENOMEM : UNS_UNAUTHENTICATED;
}

/* ---- signing keys ------------------------------------------------------- */

static uns_err
ukey_new(uns_key **out)
{
	uns_key *k = calloc(1, sizeof(*k));

	if (k == NULL) {
		return UNS_ENOMEM;
	}
	mbedtls_pk_init(&k->pk);
	pthread_mutex_init(&k->lock, NULL);
	*out = k;
	return UNS_OK;
}

void
uns_key_free(uns_key *k)
{
	if (k == NULL) {
		return;
	}
	mbedtls_pk_free(&k->pk);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

/* Sets k->type, or returns 0 for a kind of key we do not serve. */
static int
key_classify(uns_key *k)
{
	size_t bits = mbedtls_pk_get_bitlen(&k->pk);

	switch (mbedtls_pk_get_type(&k->pk)) {
	case MBEDTLS_PK_ECKEY:
		k->type = UNS_KEY_P256;
		return mbedtls_pk_ec(k->pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
	case MBEDTLS_PK_RSA:
		k->type = UNS_KEY_RSA;
		return bits >= 2048 && bits <= UNS_KEY_MAX_SIG * 8;
	default:
		return 0;
	}
}

/* The public key of the (first) certificate in text. */
static int
pk_from_cert(mbedtls_pk_context *pk, const unsigned char *text, size_t len)
{
	mbedtls_x509_crt crt;
	unsigned char der[2048];
	int ret, n = 0;

	mbedtls_x509_crt_init(&crt);
	ret = mbedtls_x509_crt_parse(&crt, text, len);
	if (ret > 0) { /* some certificates of a bundle did not parse */
		ret = MBEDTLS_ERR_X509_CERT_UNKNOWN_FORMAT;
	}
	if (ret == 0 &&
	    (n = mbedtls_pk_write_pubkey_der(&crt.pk, der, sizeof(der))) < 0) {
		ret = n;
	}
	if (ret == 0) {
		ret = mbedtls_pk_parse_public_key(
		    pk, der + sizeof(der) - (size_t)n, (size_t)n);
	}
	mbedtls_x509_crt_free(&crt);
	return ret;
}

/* Parses text (NUL-terminated at text[len - 1] when PEM). */
static int
pk_parse_any(uns_key *k, const unsigned char *text, size_t len, bool pem)
{
	int ret;

	if (pem && strstr((const char *)text, "-----BEGIN CERTIFICATE-----")) {
		return pk_from_cert(&k->pk, text, len);
	}
	if (!pem || strstr((const char *)text, "PRIVATE KEY-----")) {
		ret = mbedtls_pk_parse_key(&k->pk, text, len, NULL, 0);
		if (ret == 0 || pem) {
			k->priv = ret == 0;
			return ret;
		}
		mbedtls_pk_free(&k->pk);
		mbedtls_pk_init(&k->pk);
	}
	ret = mbedtls_pk_parse_public_key(&k->pk, text, len);
	if (ret != 0 && !pem) {
		mbedtls_pk_free(&k->pk);
		mbedtls_pk_init(&k->pk);
		return pk_from_cert(&k->pk, text, len);
	}
	return ret;
}

uns_err
uns_key_parse(uns_key **out, const void *text, size_t len, char *why,
              size_t whylen)
{
	unsigned char *copy = NULL;
	uns_key *k = NULL;
	bool pem;
	uns_err err;
	int ret;

	if (out == NULL || text == NULL || len == 0) {
		uns_say(why, whylen, "no key text");
		return UNS_EINVAL;
	}
	if ((err = ukey_new(&k)) != UNS_OK ||
	    (copy = malloc(len + 1)) == NULL) {
		err = UNS_ENOMEM;
		goto out;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	pem = memmem(copy, len, "-----BEGIN", 10) != NULL;
	if ((ret = pk_parse_any(k, copy, pem ? len + 1 : len, pem)) != 0) {
		err = tls_fail(ret, why, whylen, "not a key");
		if (err == UNS_INTERNAL) {
			err = UNS_EINVAL;
		}
		goto out;
	}
	if (!key_classify(k)) {
		uns_say(
		    why, whylen,
		    "unsupported key: not ec p-256 nor rsa 2048..4096 bits");
		err = UNS_EINVAL;
		goto out;
	}
	*out = k;
	k = NULL;
	err = UNS_OK;
out:
	if (copy != NULL) {
		uns_wipe(copy, len);
	}
	free(copy);
	uns_key_free(k);
	return err;
}

uns_err
uns_key_read_file(uns_key **out, const char *path, char *why, size_t whylen)
{
	char *text = NULL, inner[200];
	size_t len = 0;
	uns_err err;

	if (out == NULL || path == NULL) {
		return UNS_EINVAL;
	}
	if ((err = uns_file_read(path, MAX_KEY_FILE, &text, &len, why,
	                         whylen)) != UNS_OK) {
		return err;
	}
	err = uns_key_parse(out, text, len, inner, sizeof(inner));
	uns_wipe(text, len);
	free(text);
	if (err != UNS_OK) {
		uns_say(why, whylen, "%s: %s", path, inner);
	}
	return err;
}

uns_err
uns_key_gen_p256(uns_key **out)
{
	uns_key *k = NULL;
	int ret;

	if (out == NULL || ukey_new(&k) != UNS_OK) {
		return out == NULL ? UNS_EINVAL : UNS_ENOMEM;
	}
	if ((ret = mbedtls_pk_setup(
	         &k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) == 0) {
		ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
		                          mbedtls_pk_ec(k->pk), rng_draw, NULL);
	}
	if (ret != 0) {
		uns_key_free(k);
		return tls_err(ret);
	}
	k->type = UNS_KEY_P256;
	k->priv = true;
	*out = k;
	return UNS_OK;
}

uns_err
uns_key_gen_rsa(uns_key **out, unsigned bits)
{
	uns_key *k = NULL;
	int ret;

	if (out == NULL || bits < 2048 || bits > UNS_KEY_MAX_SIG * 8) {
		return UNS_EINVAL;
	}
	if (ukey_new(&k) != UNS_OK) {
		return UNS_ENOMEM;
	}
	if ((ret = mbedtls_pk_setup(
	         &k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA))) == 0) {
		ret = mbedtls_rsa_gen_key(mbedtls_pk_rsa(k->pk), rng_draw, NULL,
		                          bits, 65537);
	}
	if (ret != 0) {
		uns_key_free(k);
		return tls_err(ret);
	}
	k->type = UNS_KEY_RSA;
	k->priv = true;
	*out = k;
	return UNS_OK;
}

uns_err
uns_key_from_p256(uns_key **out, const uint8_t priv[32])
{
	mbedtls_ecp_keypair *kp;
	uns_key *k = NULL;
	int ret;

	if (out == NULL || priv == NULL || ukey_new(&k) != UNS_OK) {
		return out == NULL || priv == NULL ? UNS_EINVAL : UNS_ENOMEM;
	}
	if ((ret = mbedtls_pk_setup(
	         &k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) == 0) {
		kp = mbedtls_pk_ec(k->pk);
		if ((ret = p256_load(kp, priv, NULL)) == 0) {
			ret = mbedtls_ecp_mul(&kp->grp, &kp->Q, &kp->d,
			                      &kp->grp.G, rng_draw, NULL);
		}
	}
	if (ret != 0) {
		uns_key_free(k);
		return tls_err(ret);
	}
	k->type = UNS_KEY_P256;
	k->priv = true;
	*out = k;
	return UNS_OK;
}

uns_key_type
uns_key_type_of(const uns_key *k)
{
	return k->type;
}

bool
uns_key_is_private(const uns_key *k)
{
	return k->priv;
}

size_t
uns_key_sig_len(const uns_key *k)
{
	return k->type == UNS_KEY_P256 ? UNS_P256_SIGLEN
	                               : mbedtls_pk_get_len(&k->pk);
}

uns_err
uns_key_p256_public(const uns_key *k, uint8_t pub[65])
{
	mbedtls_ecp_keypair *kp;
	uint8_t q[UNS_P256_PUBLEN];
	int ret;

	if (k == NULL || pub == NULL || k->type != UNS_KEY_P256) {
		return UNS_EINVAL;
	}
	kp = mbedtls_pk_ec(k->pk);
	if ((ret = point_write(&kp->grp, &kp->Q, q)) == 0) {
		memcpy(pub, q, sizeof(q));
	}
	return tls_err(ret);
}

uns_err
uns_key_write_pem(const uns_key *k, bool private_part, char **out)
{
	unsigned char *buf;
	char *s = NULL;
	int ret;

	if (k == NULL || out == NULL) {
		return UNS_EINVAL;
	}
	if ((buf = malloc(PEM_BUF)) == NULL) {
		return UNS_ENOMEM;
	}
	ret = private_part && k->priv
	          ? mbedtls_pk_write_key_pem((mbedtls_pk_context *)&k->pk, buf,
	                                     PEM_BUF)
	          : mbedtls_pk_write_pubkey_pem((mbedtls_pk_context *)&k->pk,
	                                        buf, PEM_BUF);
	if (ret == 0 && (s = strdup((char *)buf)) == NULL) {
		ret = MBEDTLS_ERR_PK_ALLOC_FAILED;
	}
	uns_wipe(buf, PEM_BUF);
	free(buf);
	if (ret != 0) {
		return tls_err(ret);
	}
	*out = s;
	return UNS_OK;
}

uns_err
uns_key_sign_sha256(uns_key *k, const void *data, size_t len, uint8_t *sig,
                    size_t cap, size_t *sig_len)
{
	uint8_t hash[32];
	size_t want, n = 0;
	int ret;

	if (k == NULL || sig == NULL || sig_len == NULL || !k->priv) {
		return UNS_EINVAL;
	}
	if ((want = uns_key_sig_len(k)) > cap) {
		return UNS_EINVAL;
	}
	if ((ret = mbedtls_sha256_ret(data, len, hash, 0)) != 0) {
		return tls_err(ret);
	}
	pthread_mutex_lock(&k->lock);
	if (k->type == UNS_KEY_P256) {
		ret = ecdsa_sign_raw(mbedtls_pk_ec(k->pk), hash, sig);
		n = UNS_P256_SIGLEN;
	} else {
		ret = mbedtls_pk_sign(&k->pk, MBEDTLS_MD_SHA256, hash,
		                      sizeof(hash), sig, &n, rng_draw, NULL);
	}
	pthread_mutex_unlock(&k->lock);
	if (ret != 0) {
		return tls_err(ret);
	}
	*sig_len = n;
	return UNS_OK;
}

uns_err
uns_key_verify_sha256(uns_key *k, const void *data, size_t len,
                      const uint8_t *sig, size_t sig_len)
{
	uint8_t hash[32];
	int ret;

	if (k == NULL || sig == NULL) {
		return UNS_EINVAL;
	}
	if (sig_len != uns_key_sig_len(k)) {
		return UNS_UNAUTHENTICATED;
	}
	if ((ret = mbedtls_sha256_ret(data, len, hash, 0)) != 0) {
		return tls_err(ret);
	}
	pthread_mutex_lock(&k->lock);
	if (k->type == UNS_KEY_P256) {
		ret = ecdsa_verify_raw(mbedtls_pk_ec(k->pk), hash, sig);
	} else {
		ret = mbedtls_pk_verify(&k->pk, MBEDTLS_MD_SHA256, hash,
		                        sizeof(hash), sig, sig_len);
	}
	pthread_mutex_unlock(&k->lock);
	/* Any failure on a foreign signature (r >= n, s >= N...) means
	 * "does not verify"; only running out of memory is ours. */
	if (ret == 0) {
		return UNS_OK;
	}
	return tls_err(ret) == UNS_ENOMEM ? UNS_ENOMEM : UNS_UNAUTHENTICATED;
}

/* ---- RFC 8188 ----------------------------------------------------------- */

static const char cek_info[] = "Content-Encoding: aes128gcm"; /* + NUL */
static const char nonce_info[] = "Content-Encoding: nonce";   /* + NUL */

typedef struct ece_keys {
	uint8_t cek[16];
	uint8_t nonce[12];
} ece_keys;

static uns_err
ece_derive(const uint8_t *ikm, size_t ikm_len, const uint8_t salt[16],
           ece_keys *k)
{
	uns_err err;

	if ((err = uns_hkdf_sha256(salt, 16, ikm, ikm_len, cek_info,
	                           sizeof(cek_info), k->cek, 16)) != UNS_OK) {
		return err;
	}
	return uns_hkdf_sha256(salt, 16, ikm, ikm_len, nonce_info,
	                       sizeof(nonce_info), k->nonce, 12);
}

/* The nonce of record seq: the base nonce XOR seq (big-endian). */
static void
ece_nonce(const ece_keys *k, uint64_t seq, uint8_t out[12])
{
	memcpy(out, k->nonce, 12);
	for (int i = 0; i < 8; i++) {
		out[11 - i] ^= (uint8_t)(seq >> (8 * i));
	}
}

uns_err
uns_ece_encrypt(const uint8_t *ikm, size_t ikm_len, const uint8_t salt[16],
                uint32_t rs, const uint8_t *keyid, size_t keyid_len,
                const uint8_t *plaintext, size_t len, uint8_t *out, size_t cap,
                size_t *out_len)
{
	size_t hdr = UNS_ECE_HEADER + keyid_len, total = hdr + len + 17;
	uint8_t *rec = NULL;
	ece_keys k;
	uns_err err;

	if (ikm == NULL || salt == NULL || out == NULL || out_len == NULL ||
	    keyid_len > 255 || (keyid_len > 0 && keyid == NULL) ||
	    (len > 0 && plaintext == NULL) || rs < 18 || len + 17 > rs ||
	    total > cap) {
		return UNS_EINVAL;
	}
	if ((rec = malloc(len + 1)) == NULL) {
		return UNS_ENOMEM;
	}
	if ((err = ece_derive(ikm, ikm_len, salt, &k)) != UNS_OK) {
		goto out;
	}
	memcpy(out, salt, 16);
	out[16] = (uint8_t)(rs >> 24);
	out[17] = (uint8_t)(rs >> 16);
	out[18] = (uint8_t)(rs >> 8);
	out[19] = (uint8_t)rs;
	out[20] = (uint8_t)keyid_len;
	if (keyid_len > 0) {
		memcpy(out + UNS_ECE_HEADER, keyid, keyid_len);
	}
	if (len > 0) {
		memcpy(rec, plaintext, len);
	}
	rec[len] = 0x02; /* the last (and only) record */
	if ((err = uns_aes128gcm_seal(k.cek, k.nonce, rec, len + 1,
	                              out + hdr)) == UNS_OK) {
		*out_len = total;
	}
out:
	uns_wipe(&k, sizeof(k));
	if (rec != NULL) {
		uns_wipe(rec, len + 1);
	}
	free(rec);
	return err;
}

/* Plaintext length of a decrypted record without padding and delimiter,
 * or -1 when the delimiter is missing or wrong for its place. */
static long
ece_unpad(const uint8_t *rec, size_t n, bool last)
{
	while (n > 0 && rec[n - 1] == 0) {
		n--;
	}
	if (n == 0 || rec[n - 1] != (last ? 0x02 : 0x01)) {
		return -1;
	}
	return (long)(n - 1);
}

uns_err
uns_ece_decrypt(const uint8_t *ikm, size_t ikm_len, const uint8_t *body,
                size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	uint8_t nonce[12], *rec = NULL;
	size_t hdr, pos, o = 0;
	uint32_t rs;
	size_t rec_cap;
	uint64_t seq = 0;
	ece_keys k;
	uns_err err = UNS_EINVAL;

	if (ikm == NULL || body == NULL || out == NULL || out_len == NULL ||
	    len < UNS_ECE_HEADER || len < UNS_ECE_HEADER + (size_t)body[20]) {
		return UNS_EINVAL;
	}
	rs = (uint32_t)body[16] << 24 | (uint32_t)body[17] << 16 |
	     (uint32_t)body[18] << 8 | body[19];
	hdr = UNS_ECE_HEADER + body[20];
	if (rs < 18 || hdr == len) {
		return UNS_EINVAL;
	}
	/* rs comes from the sender: never allocate more than the body. */
	rec_cap = rs < len ? rs : len;
	if ((rec = malloc(rec_cap)) == NULL) {
		return UNS_ENOMEM;
	}
	if ((err = ece_derive(ikm, ikm_len, body, &k)) != UNS_OK) {
		goto out;
	}
	for (pos = hdr; pos < len; pos += rs, seq++) {
		size_t n = len - pos < rs ? len - pos : rs;
		bool last = pos + n == len;
		long plain;
		if (n <= UNS_GCM_TAGLEN) {
			err = UNS_EINVAL;
			goto out;
		}
		ece_nonce(&k, seq, nonce);
		if ((err = uns_aes128gcm_open(k.cek, nonce, body + pos, n,
		                              rec)) != UNS_OK) {
			goto out;
		}
		plain = ece_unpad(rec, n - UNS_GCM_TAGLEN, last);
		if (plain < 0 || o + (size_t)plain > cap) {
			err = UNS_EINVAL;
			goto out;
		}
		memcpy(out + o, rec, (size_t)plain);
		o += (size_t)plain;
	}
	*out_len = o;
	err = UNS_OK;
out:
	uns_wipe(&k, sizeof(k));
	uns_wipe(rec, rec_cap);
	free(rec);
	return err;
}

/* ---- RFC 8291 ----------------------------------------------------------- */

/* IKM = HKDF(auth, ecdh, "WebPush: info" 0x00 ua_public as_public, 32). */
static uns_err
webpush_ikm(const uint8_t secret[32], const uint8_t auth[16],
            const uint8_t ua_public[65], const uint8_t as_public[65],
            uint8_t ikm[32])
{
	static const char label[] = "WebPush: info"; /* + NUL */
	uint8_t info[sizeof(label) + 2 * UNS_P256_PUBLEN];

	memcpy(info, label, sizeof(label));
	memcpy(info + sizeof(label), ua_public, UNS_P256_PUBLEN);
	memcpy(info + sizeof(label) + UNS_P256_PUBLEN, as_public,
	       UNS_P256_PUBLEN);
	return uns_hkdf_sha256(auth, UNS_WEBPUSH_AUTHLEN, secret, 32, info,
	                       sizeof(info), ikm, 32);
}

uns_err
uns_webpush_encrypt(const uint8_t ua_public[65], const uint8_t auth[16],
                    const uint8_t *plaintext, size_t len,
                    const uint8_t *as_private, const uint8_t *salt,
                    uint8_t *out, size_t cap, size_t *out_len)
{
	uint8_t as_priv[32], as_pub[65], secret[32], ikm[32], s[16];
	uns_err err;

	if (ua_public == NULL || auth == NULL || out == NULL ||
	    out_len == NULL || len + UNS_WEBPUSH_OVERHEAD > cap ||
	    len > UNS_WEBPUSH_MAX_PLAINTEXT) {
		return UNS_EINVAL;
	}
	if (as_private != NULL) {
		memcpy(as_priv, as_private, 32);
		err = uns_p256_public(as_priv, as_pub);
	} else {
		err = uns_p256_keygen(as_priv, as_pub);
	}
	if (err == UNS_OK) {
		err = salt != NULL ? (memcpy(s, salt, 16), UNS_OK)
		                   : uns_random(s, sizeof(s));
	}
	if (err == UNS_OK &&
	    (err = uns_p256_ecdh(as_priv, ua_public, secret)) == UNS_OK &&
	    (err = webpush_ikm(secret, auth, ua_public, as_pub, ikm)) ==
	        UNS_OK) {
		err = uns_ece_encrypt(ikm, sizeof(ikm), s, UNS_WEBPUSH_RS,
		                      as_pub, sizeof(as_pub), plaintext, len,
		                      out, cap, out_len);
	}
	uns_wipe(as_priv, sizeof(as_priv));
	uns_wipe(secret, sizeof(secret));
	uns_wipe(ikm, sizeof(ikm));
	return err;
}

uns_err
uns_webpush_decrypt(const uint8_t ua_private[32], const uint8_t auth[16],
                    const uint8_t *body, size_t len, uint8_t *out, size_t cap,
                    size_t *out_len)
{
	uint8_t ua_pub[65], secret[32], ikm[32];
	const uint8_t *as_pub = body + UNS_ECE_HEADER;
	uns_err err;

	if (ua_private == NULL || auth == NULL || body == NULL ||
	    len < UNS_ECE_HEADER + UNS_P256_PUBLEN ||
	    body[20] != UNS_P256_PUBLEN) {
		return UNS_EINVAL;
	}
	if ((err = uns_p256_public(ua_private, ua_pub)) == UNS_OK &&
	    (err = uns_p256_ecdh(ua_private, as_pub, secret)) == UNS_OK &&
	    (err = webpush_ikm(secret, auth, ua_pub, as_pub, ikm)) == UNS_OK) {
		err = uns_ece_decrypt(ikm, sizeof(ikm), body, len, out, cap,
		                      out_len);
	}
	uns_wipe(secret, sizeof(secret));
	uns_wipe(ikm, sizeof(ikm));
	return err;
}
