/*
 * devcert.c — development CA, server and client certificates with mbedTLS.
 *
 * Every certificate is described by a `struct certspec` and written by one
 * path: crt_fill() sets the X.509 fields, write_pem() renders the PEM
 * (certificate, then key when the file must hold both) and write_atomic()
 * puts it on disk via a temporary file and rename(), so a crash never
 * leaves a half-written key behind. Keys are ECDSA P-256 with keyUsage
 * digitalSignature only, which leaves ECDHE-ECDSA as the only suites an
 * NNG/mbedTLS peer can negotiate (stack-notes §5).
 *
 * mbedTLS 2.28 has no helpers for subjectAltName or extendedKeyUsage, so
 * both extensions are DER-encoded here with asn1write and added with
 * mbedtls_x509write_crt_set_extension(). IP SANs are deliberately not
 * supported: 2.28 never matches them during verification.
 *
 * Errors: mbedTLS codes become uns_err in tls_fail() and errno values in
 * sys_fail(); nothing else converts foreign codes. We read PEM files
 * ourselves, so mbedTLS never touches the file system.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "errors.h"
#include "files.h"
#include "devcert.h"

#define CA_SUBJECT      "CN=UNS Development CA,O=UNS"
#define ENSURE_CA_DAYS  3650
#define ENSURE_SRV_DAYS 825
#define MAX_DAYS        36500
#define CLIENT_MAX      64
#define CLIENT_CHARS                                                           \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
#define SERIAL_LEN 16
#define PEM_MAX    16384         /* cert with 32 long SANs + key fits */
#define FILE_MAX   (1024 * 1024) /* larger "PEM" files are refused */
#define DRBG_PERSO "uns-devcert"

/* What to put into one certificate. */
struct certspec {
	const char *subject;            /* "CN=..." */
	const char *issuer;             /* issuer DN string */
	mbedtls_pk_context *key;        /* subject key */
	mbedtls_pk_context *issuer_key; /* signing key */
	int days;
	int is_ca;
	unsigned int key_usage; /* MBEDTLS_X509_KU_* */
	const char *eku;        /* MBEDTLS_OID_*_AUTH or NULL */
	size_t eku_len;
	const char *const *names; /* dNSName SANs */
	size_t n_names;
};

struct rng {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

/* The CA loaded from dir/ca.pem + dir/ca.key. */
struct ca {
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	char name[256]; /* subject DN as a string, the issuer of leaves */
};

/* ---- reasons and error conversion --------------------------------------- */

static uns_err
bad_arg(char *why, size_t whylen, const char *what, const char *value)
{
	uns_say(why, whylen, "%s: \"%s\"", what,
	        value != NULL ? value : "(null)");
	return UNS_EINVAL;
}

static uns_err
sys_fail(int err, char *why, size_t whylen, const char *what, const char *path)
{
	uns_say(why, whylen, "%s %s: %s", what, path, strerror(err));
	return err == ENOMEM ? UNS_ENOMEM : UNS_EIO;
}

/*
 * The one place where mbedTLS error codes become uns_err. A code is the
 * negated sum of a high-level part (bits 7..14: PEM, X509, PK, ECP...) and
 * a low-level part (bits 0..6: ASN1, MPI...). Allocation failures map to
 * UNS_ENOMEM. Malformed PEM, certificate or key input can only come from
 * a file we read, so it maps to UNS_EIO. Everything else is UNS_INTERNAL.
 */
static uns_err
tls_code(int ret)
{
	static const struct {
		int from, to; /* inclusive, as positive high-level codes */
	} malformed[] = {
	    {-MBEDTLS_ERR_PEM_NO_HEADER_FOOTER_PRESENT,
	     -MBEDTLS_ERR_PEM_BAD_INPUT_DATA},
	    {-MBEDTLS_ERR_X509_INVALID_FORMAT,
	     -MBEDTLS_ERR_X509_UNKNOWN_SIG_ALG},
	    {-MBEDTLS_ERR_X509_CERT_UNKNOWN_FORMAT,
	     -MBEDTLS_ERR_X509_CERT_UNKNOWN_FORMAT},
	    {-MBEDTLS_ERR_PK_UNKNOWN_NAMED_CURVE,
	     -MBEDTLS_ERR_PK_KEY_INVALID_FORMAT},
	};
	int high = -ret & 0x7F80;
	int low = -ret & 0x007F;
	size_t i;

	if (high == -MBEDTLS_ERR_X509_ALLOC_FAILED ||
	    high == -MBEDTLS_ERR_PK_ALLOC_FAILED ||
	    high == -MBEDTLS_ERR_PEM_ALLOC_FAILED ||
	    high == -MBEDTLS_ERR_ECP_ALLOC_FAILED ||
	    low == -MBEDTLS_ERR_MPI_ALLOC_FAILED ||
	    low == -MBEDTLS_ERR_ASN1_ALLOC_FAILED) {
		return UNS_ENOMEM;
	}
	if (high == -MBEDTLS_ERR_X509_FILE_IO_ERROR ||
	    high == -MBEDTLS_ERR_PK_FILE_IO_ERROR) {
		return UNS_EIO;
	}
	for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		if (high >= malformed[i].from && high <= malformed[i].to) {
			return UNS_EIO;
		}
	}
	return UNS_INTERNAL;
}

static uns_err
tls_fail(int ret, char *why, size_t whylen, const char *what, const char *path)
{
	char msg[160];

	mbedtls_strerror(ret, msg, sizeof(msg));
	uns_say(why, whylen, "%s %s: %s", what, path, msg);
	return tls_code(ret);
}

/* ---- argument checks ---------------------------------------------------- */

static bool
valid_days(int days)
{
	return days >= 1 && days <= MAX_DAYS;
}

static bool
valid_client_name(const char *s)
{
	size_t n = strspn(s, CLIENT_CHARS);

	return n >= 1 && n <= CLIENT_MAX && s[n] == '\0';
}

/*
 * Host names only: labels of 1..63 [A-Za-z0-9-] that neither start nor end
 * with '-', an optional leading "*.", and a last label that is not all
 * digits, which refuses IPv4 literals.
 */
static bool
valid_dns_name(const char *s)
{
	size_t label = 0;
	bool digits = true;
	char prev = '.';

	if (strlen(s) > 253) {
		return false;
	}
	if (strncmp(s, "*.", 2) == 0) {
		s += 2;
	}
	for (; *s != '\0'; prev = *s++) {
		if (*s == '.') {
			if (label == 0 || prev == '-') {
				return false;
			}
			label = 0;
			digits = true;
		} else if (isalnum((unsigned char)*s) ||
		           (*s == '-' && prev != '.')) {
			digits = digits && isdigit((unsigned char)*s);
			if (++label > 63) {
				return false;
			}
		} else {
			return false;
		}
	}
	return label > 0 && prev != '-' && !digits;
}

/* ---- files -------------------------------------------------------------- */

static uns_err
join(char *out, size_t outlen, const char *dir, const char *file, char *why,
     size_t whylen)
{
	size_t n = strlen(dir);
	const char *sep = (n > 0 && dir[n - 1] == '/') ? "" : "/";
	int len = snprintf(out, outlen, "%s%s%s", dir, sep, file);

	if (len < 0 || (size_t)len >= outlen) {
		return bad_arg(why, whylen, "path too long", dir);
	}
	return UNS_OK;
}

/* Is dir/file there? ENOENT is "no"; other stat errors are errors. */
static uns_err
file_exists(const char *dir, const char *file, bool *yes, char *why,
            size_t whylen)
{
	char path[PATH_MAX];
	struct stat st;
	uns_err rv;

	if ((rv = join(path, sizeof(path), dir, file, why, whylen)) != UNS_OK) {
		return rv;
	}
	if (stat(path, &st) == 0) {
		*yes = true;
	} else if (errno == ENOENT) {
		*yes = false;
	} else {
		return sys_fail(errno, why, whylen, "cannot stat", path);
	}
	return UNS_OK;
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir -p with mode 0700 for every directory we create. */
static uns_err
make_dirs(const char *dir, char *why, size_t whylen)
{
	char path[PATH_MAX];
	char *p;
	char c;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
		return bad_arg(why, whylen, "path too long", dir);
	}
	for (p = path + 1;; p++) {
		if (*p != '/' && *p != '\0') {
			continue;
		}
		c = *p;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST &&
		    !is_dir(path)) {
			return sys_fail(errno, why, whylen,
			                "cannot create directory", path);
		}
		*p = c;
		if (c == '\0') {
			break;
		}
	}
	if (!is_dir(path)) {
		return sys_fail(ENOTDIR, why, whylen, "cannot use", path);
	}
	return UNS_OK;
}

static int
write_all(int fd, const unsigned char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, data, len)) < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes path via path.tmp.XXXXXX + fsync + rename; mode is exact. */
static uns_err
write_atomic(const char *path, const unsigned char *data, size_t len,
             mode_t mode, char *why, size_t whylen)
{
	char tmp[PATH_MAX];
	int fd = -1;
	uns_err rv = UNS_OK;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >=
	    (int)sizeof(tmp)) {
		return bad_arg(why, whylen, "path too long", path);
	}
	if ((fd = mkstemp(tmp)) < 0) {
		tmp[0] = '\0';
		rv = sys_fail(errno, why, whylen, "cannot write", path);
		goto out;
	}
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 ||
	    fsync(fd) != 0) {
		rv = sys_fail(errno, why, whylen, "cannot write", path);
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rv = sys_fail(errno, why, whylen, "cannot write", path);
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rv = sys_fail(errno, why, whylen, "cannot rename to", path);
		goto out;
	}
	tmp[0] = '\0'; /* renamed: nothing to clean up */
out:
	if (fd >= 0) {
		close(fd);
	}
	if (tmp[0] != '\0') {
		unlink(tmp);
	}
	return rv;
}

/* ---- mbedTLS building blocks -------------------------------------------- */

static void
rng_init(struct rng *r)
{
	mbedtls_entropy_init(&r->entropy);
	mbedtls_ctr_drbg_init(&r->drbg);
}

static void
rng_free(struct rng *r)
{
	mbedtls_ctr_drbg_free(&r->drbg);
	mbedtls_entropy_free(&r->entropy);
}

static uns_err
rng_seed(struct rng *r, char *why, size_t whylen)
{
	int ret = mbedtls_ctr_drbg_seed(
	    &r->drbg, mbedtls_entropy_func, &r->entropy,
	    (const unsigned char *)DRBG_PERSO, strlen(DRBG_PERSO));

	if (ret != 0) {
		return tls_fail(ret, why, whylen, "cannot seed", "ctr_drbg");
	}
	return UNS_OK;
}

static int
gen_key(mbedtls_pk_context *key, struct rng *r)
{
	int ret;

	ret =
	    mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (ret != 0) {
		return ret;
	}
	return mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
	                           mbedtls_pk_ec(*key), mbedtls_ctr_drbg_random,
	                           &r->drbg);
}

/* 16 random bytes; top bit clear (positive), next bit set (full length). */
static int
set_serial(mbedtls_x509write_cert *crt, struct rng *r)
{
	unsigned char raw[SERIAL_LEN];
	mbedtls_mpi serial;
	int ret;

	mbedtls_mpi_init(&serial);
	ret = mbedtls_ctr_drbg_random(&r->drbg, raw, sizeof(raw));
	if (ret == 0) {
		raw[0] = (unsigned char)((raw[0] & 0x7F) | 0x40);
		ret = mbedtls_mpi_read_binary(&serial, raw, sizeof(raw));
	}
	if (ret == 0) {
		ret = mbedtls_x509write_crt_set_serial(crt, &serial);
	}
	mbedtls_mpi_free(&serial);
	return ret;
}

static bool
format_time(char out[16], time_t t)
{
	struct tm tm;

	return gmtime_r(&t, &tm) != NULL &&
	       strftime(out, 16, "%Y%m%d%H%M%S", &tm) == 14;
}

static int
set_validity(mbedtls_x509write_cert *crt, int days)
{
	char from[16], to[16];
	time_t now = time(NULL);

	if (!format_time(from, now - 3600) ||
	    !format_time(to, now + (time_t)days * 86400)) {
		return MBEDTLS_ERR_X509_BAD_INPUT_DATA;
	}
	return mbedtls_x509write_crt_set_validity(crt, from, to);
}

/* asn1write works backwards from the end of the buffer. */
static int
san_der(unsigned char **p, unsigned char *start, const char *const *names,
        size_t n)
{
	size_t len = 0, nlen, i;
	int ret;

	for (i = n; i-- > 0;) {
		nlen = strlen(names[i]);
		MBEDTLS_ASN1_CHK_ADD(
		    len, mbedtls_asn1_write_raw_buffer(
		             p, start, (const unsigned char *)names[i], nlen));
		MBEDTLS_ASN1_CHK_ADD(len,
		                     mbedtls_asn1_write_len(p, start, nlen));
		MBEDTLS_ASN1_CHK_ADD(
		    len, mbedtls_asn1_write_tag(p, start,
		                                MBEDTLS_ASN1_CONTEXT_SPECIFIC |
		                                    MBEDTLS_X509_SAN_DNS_NAME));
	}
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(p, start, len));
	MBEDTLS_ASN1_CHK_ADD(len,
	                     mbedtls_asn1_write_tag(p, start,
	                                            MBEDTLS_ASN1_CONSTRUCTED |
	                                                MBEDTLS_ASN1_SEQUENCE));
	return (int)len;
}

/* subjectAltName ::= SEQUENCE OF GeneralName, dNSName [2] IA5String. */
static int
set_san(mbedtls_x509write_cert *crt, const char *const *names, size_t n)
{
	unsigned char *buf, *p;
	size_t size = 8, i;
	int ret;

	for (i = 0; i < n; i++) {
		size += strlen(names[i]) + 4;
	}
	if ((buf = malloc(size)) == NULL) {
		return MBEDTLS_ERR_X509_ALLOC_FAILED;
	}
	p = buf + size;
	ret = san_der(&p, buf, names, n);
	if (ret >= 0) {
		ret = mbedtls_x509write_crt_set_extension(
		    crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
		    MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, p,
		    (size_t)ret);
	}
	free(buf);
	return ret;
}

/* extKeyUsage ::= SEQUENCE OF KeyPurposeId; we need exactly one. */
static int
set_eku(mbedtls_x509write_cert *crt, const char *oid, size_t oid_len)
{
	unsigned char buf[32];
	unsigned char *p = buf + sizeof(buf);
	size_t len = 0;
	int ret;

	MBEDTLS_ASN1_CHK_ADD(len,
	                     mbedtls_asn1_write_oid(&p, buf, oid, oid_len));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
	MBEDTLS_ASN1_CHK_ADD(len,
	                     mbedtls_asn1_write_tag(&p, buf,
	                                            MBEDTLS_ASN1_CONSTRUCTED |
	                                                MBEDTLS_ASN1_SEQUENCE));
	return mbedtls_x509write_crt_set_extension(
	    crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
	    MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, p, len);
}

/* Sets every field of crt from s; returns an mbedTLS code. */
static int
crt_fill(mbedtls_x509write_cert *crt, const struct certspec *s, struct rng *r)
{
	int ret;

	mbedtls_x509write_crt_set_version(crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(crt, s->key);
	mbedtls_x509write_crt_set_issuer_key(crt, s->issuer_key);
	if ((ret = set_serial(crt, r)) != 0 ||
	    (ret = set_validity(crt, s->days)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_subject_name(crt, s->subject)) !=
	        0 ||
	    (ret = mbedtls_x509write_crt_set_issuer_name(crt, s->issuer)) !=
	        0 ||
	    (ret = mbedtls_x509write_crt_set_basic_constraints(crt, s->is_ca,
	                                                       0)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_key_usage(crt, s->key_usage)) !=
	        0 ||
	    (ret = mbedtls_x509write_crt_set_subject_key_identifier(crt)) !=
	        0 ||
	    (ret = mbedtls_x509write_crt_set_authority_key_identifier(crt)) !=
	        0) {
		return ret;
	}
	if (s->eku != NULL && (ret = set_eku(crt, s->eku, s->eku_len)) != 0) {
		return ret;
	}
	if (s->n_names > 0) {
		ret = set_san(crt, s->names, s->n_names);
	}
	return ret;
}

/*
 * Writes dir/file holding the certificate described by spec (if not NULL)
 * followed by the private key (if not NULL). The buffer is wiped because
 * it may hold a key.
 */
static uns_err
write_pem(const char *dir, const char *file, const struct certspec *spec,
          mbedtls_pk_context *key, struct rng *r, mode_t mode, char *why,
          size_t whylen)
{
	char path[PATH_MAX];
	mbedtls_x509write_cert crt;
	unsigned char *buf = NULL;
	size_t len = 0;
	int ret = 0;
	uns_err rv;

	mbedtls_x509write_crt_init(&crt);
	if ((rv = join(path, sizeof(path), dir, file, why, whylen)) != UNS_OK) {
		goto out;
	}
	if ((buf = calloc(1, PEM_MAX)) == NULL) {
		rv = sys_fail(ENOMEM, why, whylen, "cannot write", path);
		goto out;
	}
	if (spec != NULL && ((ret = crt_fill(&crt, spec, r)) != 0 ||
	                     (ret = mbedtls_x509write_crt_pem(
	                          &crt, buf, PEM_MAX, mbedtls_ctr_drbg_random,
	                          &r->drbg)) != 0)) {
		rv = tls_fail(ret, why, whylen, "cannot make certificate for",
		              path);
		goto out;
	}
	len = strlen((char *)buf);
	if (key != NULL && (ret = mbedtls_pk_write_key_pem(
	                        key, buf + len, PEM_MAX - len)) != 0) {
		rv = tls_fail(ret, why, whylen, "cannot encode key for", path);
		goto out;
	}
	len += strlen((char *)buf + len);
	rv = write_atomic(path, buf, len, mode, why, whylen);
out:
	if (buf != NULL) {
		mbedtls_platform_zeroize(buf, PEM_MAX);
	}
	free(buf);
	mbedtls_x509write_crt_free(&crt);
	return rv;
}

/* ---- loading the CA ----------------------------------------------------- */

static void
ca_init(struct ca *ca)
{
	mbedtls_x509_crt_init(&ca->crt);
	mbedtls_pk_init(&ca->key);
	ca->name[0] = '\0';
}

static void
ca_free(struct ca *ca)
{
	mbedtls_pk_free(&ca->key);
	mbedtls_x509_crt_free(&ca->crt);
}

/* Parses dir/file as a certificate (key == NULL) or a private key. */
static uns_err
load_pem(const char *dir, const char *file, mbedtls_x509_crt *crt,
         mbedtls_pk_context *key, char *why, size_t whylen)
{
	char path[PATH_MAX];
	unsigned char *buf = NULL;
	size_t len = 0;
	int ret;
	uns_err rv;

	if ((rv = join(path, sizeof(path), dir, file, why, whylen)) != UNS_OK ||
	    (rv = uns_file_read(path, FILE_MAX, (char **)&buf, &len, why,
	                        whylen)) != UNS_OK) {
		goto out;
	}
	len++; /* mbedTLS wants a PEM's length with its NUL */
	if (key != NULL) {
		ret = mbedtls_pk_parse_key(key, buf, len, NULL, 0);
	} else if ((ret = mbedtls_x509_crt_parse(crt, buf, len)) > 0) {
		ret = MBEDTLS_ERR_X509_INVALID_FORMAT; /* some certs failed */
	}
	if (ret != 0) {
		rv = tls_fail(ret, why, whylen, "cannot parse", path);
	}
out:
	if (buf != NULL) {
		mbedtls_platform_zeroize(buf, len);
	}
	free(buf);
	return rv;
}

static uns_err
load_ca(const char *dir, struct ca *ca, char *why, size_t whylen)
{
	char path[PATH_MAX];
	uns_err rv;
	int ret;

	if ((rv = join(path, sizeof(path), dir, "ca.pem", why, whylen)) !=
	        UNS_OK ||
	    (rv = load_pem(dir, "ca.pem", &ca->crt, NULL, why, whylen)) !=
	        UNS_OK ||
	    (rv = load_pem(dir, "ca.key", NULL, &ca->key, why, whylen)) !=
	        UNS_OK) {
		return rv;
	}
	if (mbedtls_pk_check_pair(&ca->crt.pk, &ca->key) != 0) {
		uns_say(why, whylen, "the key in ca.key does not match %s",
		        path);
		return UNS_EIO;
	}
	ret =
	    mbedtls_x509_dn_gets(ca->name, sizeof(ca->name), &ca->crt.subject);
	if (ret < 0) {
		return tls_fail(ret, why, whylen, "cannot read subject of",
		                path);
	}
	return UNS_OK;
}

/* ---- public API --------------------------------------------------------- */

uns_err
uns_devcert_make_ca(const char *dir, int days, char *why, size_t whylen)
{
	struct certspec spec = {.subject = CA_SUBJECT,
	                        .issuer = CA_SUBJECT,
	                        .days = days,
	                        .is_ca = 1,
	                        .key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN};
	mbedtls_pk_context key;
	struct rng r;
	int ret;
	uns_err rv;

	uns_say(why, whylen, "%s", "");
	if (dir == NULL || *dir == '\0') {
		return bad_arg(why, whylen, "bad directory", dir);
	}
	if (!valid_days(days)) {
		uns_say(why, whylen, "days must be 1..%d, not %d", MAX_DAYS,
		        days);
		return UNS_EINVAL;
	}
	mbedtls_pk_init(&key);
	rng_init(&r);
	spec.key = spec.issuer_key = &key;
	if ((rv = make_dirs(dir, why, whylen)) != UNS_OK ||
	    (rv = rng_seed(&r, why, whylen)) != UNS_OK) {
		goto out;
	}
	if ((ret = gen_key(&key, &r)) != 0) {
		rv = tls_fail(ret, why, whylen, "cannot generate key in", dir);
		goto out;
	}
	/* Key first: a crash in between leaves no ca.pem, so ensure() redoes
	 * both rather than trusting a certificate without its key. */
	if ((rv = write_pem(dir, "ca.key", NULL, &key, &r, 0600, why,
	                    whylen)) != UNS_OK) {
		goto out;
	}
	rv = write_pem(dir, "ca.pem", &spec, NULL, &r, 0600, why, whylen);
out:
	rng_free(&r);
	mbedtls_pk_free(&key);
	return rv;
}

/* Issues dir/file signed by the CA in dir, with a fresh key in spec->key. */
static uns_err
make_leaf(const char *dir, const char *file, struct certspec *spec, char *why,
          size_t whylen)
{
	mbedtls_pk_context key;
	struct rng r;
	struct ca ca;
	int ret;
	uns_err rv;

	mbedtls_pk_init(&key);
	rng_init(&r);
	ca_init(&ca);
	if ((rv = load_ca(dir, &ca, why, whylen)) != UNS_OK ||
	    (rv = rng_seed(&r, why, whylen)) != UNS_OK) {
		goto out;
	}
	if ((ret = gen_key(&key, &r)) != 0) {
		rv =
		    tls_fail(ret, why, whylen, "cannot generate key for", file);
		goto out;
	}
	spec->key = &key;
	spec->issuer_key = &ca.key;
	spec->issuer = ca.name;
	rv = write_pem(dir, file, spec, &key, &r, 0600, why, whylen);
out:
	ca_free(&ca);
	rng_free(&r);
	mbedtls_pk_free(&key);
	return rv;
}

/* Copies names into all[] and appends "localhost" unless present. */
static uns_err
server_names(const char *const *names, size_t n, const char **all,
             size_t *n_all, char *why, size_t whylen)
{
	bool have_localhost = false;
	size_t i;

	if (n > UNS_DEVCERT_MAX_NAMES || (n > 0 && names == NULL)) {
		uns_say(why, whylen, "at most %d names", UNS_DEVCERT_MAX_NAMES);
		return UNS_EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (names[i] == NULL || !valid_dns_name(names[i])) {
			return bad_arg(why, whylen, "bad DNS name", names[i]);
		}
		have_localhost |= strcasecmp(names[i], "localhost") == 0;
		all[i] = names[i];
	}
	if (!have_localhost) {
		all[n++] = "localhost";
	}
	*n_all = n;
	return UNS_OK;
}

uns_err
uns_devcert_make_server(const char *dir, const char *const *dns_names,
                        size_t n_names, int days, char *why, size_t whylen)
{
	const char *all[UNS_DEVCERT_MAX_NAMES + 1];
	char subject[300];
	struct certspec spec = {.subject = subject,
	                        .days = days,
	                        .key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE,
	                        .eku = MBEDTLS_OID_SERVER_AUTH,
	                        .eku_len =
	                            MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH),
	                        .names = all};
	uns_err rv;

	uns_say(why, whylen, "%s", "");
	if (dir == NULL || *dir == '\0') {
		return bad_arg(why, whylen, "bad directory", dir);
	}
	if (!valid_days(days)) {
		uns_say(why, whylen, "days must be 1..%d, not %d", MAX_DAYS,
		        days);
		return UNS_EINVAL;
	}
	if ((rv = server_names(dns_names, n_names, all, &spec.n_names, why,
	                       whylen)) != UNS_OK) {
		return rv;
	}
	snprintf(subject, sizeof(subject), "CN=%s", all[0]);
	return make_leaf(dir, "server.pem", &spec, why, whylen);
}

uns_err
uns_devcert_make_client(const char *dir, const char *name, int days, char *why,
                        size_t whylen)
{
	char subject[80], file[96];
	struct certspec spec = {.subject = subject,
	                        .days = days,
	                        .key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE,
	                        .eku = MBEDTLS_OID_CLIENT_AUTH,
	                        .eku_len =
	                            MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)};

	uns_say(why, whylen, "%s", "");
	if (dir == NULL || *dir == '\0') {
		return bad_arg(why, whylen, "bad directory", dir);
	}
	if (name == NULL || !valid_client_name(name)) {
		return bad_arg(why, whylen,
		               "client name must match [A-Za-z0-9._-]{1,64}",
		               name);
	}
	if (!valid_days(days)) {
		uns_say(why, whylen, "days must be 1..%d, not %d", MAX_DAYS,
		        days);
		return UNS_EINVAL;
	}
	snprintf(subject, sizeof(subject), "CN=%s", name);
	snprintf(file, sizeof(file), "client-%s.pem", name);
	return make_leaf(dir, file, &spec, why, whylen);
}

uns_err
uns_devcert_ensure(const char *dir, char *why, size_t whylen)
{
	static const char *const localhost[] = {"localhost"};
	bool have_ca = false, have_server = false;
	uns_err rv;

	uns_say(why, whylen, "%s", "");
	if (dir == NULL || *dir == '\0') {
		return bad_arg(why, whylen, "bad directory", dir);
	}
	if ((rv = file_exists(dir, "ca.pem", &have_ca, why, whylen)) !=
	        UNS_OK ||
	    (rv = file_exists(dir, "server.pem", &have_server, why, whylen)) !=
	        UNS_OK) {
		return rv;
	}
	if (have_ca && have_server) {
		return UNS_OK;
	}
	if (!have_ca && (rv = uns_devcert_make_ca(dir, ENSURE_CA_DAYS, why,
	                                          whylen)) != UNS_OK) {
		return rv;
	}
	return uns_devcert_make_server(dir, localhost, 1, ENSURE_SRV_DAYS, why,
	                               whylen);
}
