/*
 * test_devcert.c — tests for common/crypto/devcert.c.
 *
 * The group setup makes one CA, a server certificate (localhost, uns.test)
 * and a client certificate (alice) in a fresh mkdtemp directory; each test
 * then checks them with mbedTLS itself (parse, chain and name
 * verification, key/cert pairing, usages) or with a real NNG req/rep
 * exchange over mutual TLS. Tests that need their own CA make another
 * temporary directory. Nothing outside /tmp is touched.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include "devcert.h"

#define DAYS 30

struct fx {
	char dir[64];
};

/* ---- helpers ------------------------------------------------------------ */

static const char *
at(char *buf, const char *dir, const char *file)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", dir, file);

	assert_true(n > 0 && n < PATH_MAX);
	return buf;
}

static void
make_tmpdir(char dir[64])
{
	strcpy(dir, "/tmp/uns-devcert-XXXXXX");
	assert_non_null(mkdtemp(dir));
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
load_crt(mbedtls_x509_crt *crt, const char *dir, const char *file)
{
	char p[PATH_MAX];

	mbedtls_x509_crt_init(crt);
	assert_int_equal(mbedtls_x509_crt_parse_file(crt, at(p, dir, file)), 0);
}

static void
load_key(mbedtls_pk_context *key, const char *dir, const char *file)
{
	char p[PATH_MAX];

	mbedtls_pk_init(key);
	assert_int_equal(mbedtls_pk_parse_keyfile(key, at(p, dir, file), NULL),
	                 0);
}

/* Verifies dir/file against ca_dir/ca.pem for cn; returns the flags. */
static uint32_t
verify(const char *dir, const char *file, const char *ca_dir, const char *cn,
       int *ret)
{
	mbedtls_x509_crt crt, ca;
	uint32_t flags = 0;

	load_crt(&crt, dir, file);
	load_crt(&ca, ca_dir, "ca.pem");
	*ret = mbedtls_x509_crt_verify(&crt, &ca, NULL, cn, &flags, NULL, NULL);
	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_crt_free(&crt);
	return flags;
}

static void
assert_verifies(const char *dir, const char *file, const char *ca_dir,
                const char *cn)
{
	int ret;
	uint32_t flags = verify(dir, file, ca_dir, cn, &ret);

	assert_int_equal(flags, 0);
	assert_int_equal(ret, 0);
}

static unsigned char *
slurp(const char *dir, const char *file, size_t *len)
{
	char p[PATH_MAX];
	unsigned char *buf;
	FILE *f = fopen(at(p, dir, file), "rb");
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static bool
same_file(const char *dir, const char *file, const unsigned char *data,
          size_t len)
{
	size_t n;
	unsigned char *now = slurp(dir, file, &n);
	bool same = n == len && memcmp(now, data, len) == 0;

	free(now);
	return same;
}

static unsigned
mode_of(const char *dir, const char *file)
{
	char p[PATH_MAX];
	struct stat st;

	assert_int_equal(stat(at(p, dir, file), &st), 0);
	return (unsigned)(st.st_mode & 07777);
}

static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		n++;
	}
	closedir(d);
	return n;
}

/* ---- group fixture ------------------------------------------------------ */

static int
group_setup(void **state)
{
	static const char *const names[] = {"uns.test"};
	static struct fx fx;
	char why[256];

	make_tmpdir(fx.dir);
	if (uns_devcert_make_ca(fx.dir, DAYS, why, sizeof(why)) != UNS_OK ||
	    uns_devcert_make_server(fx.dir, names, 1, DAYS, why, sizeof(why)) !=
	        UNS_OK ||
	    uns_devcert_make_client(fx.dir, "alice", DAYS, why, sizeof(why)) !=
	        UNS_OK) {
		fprintf(stderr, "setup: %s\n", why);
		return -1;
	}
	*state = &fx;
	return 0;
}

static int
group_teardown(void **state)
{
	struct fx *fx = *state;

	rm_tree(fx->dir);
	nng_fini();
	return 0;
}

/* ---- certificate contents ----------------------------------------------- */

static void
assert_leaf_basics(const mbedtls_x509_crt *crt)
{
	assert_int_equal(crt->version, 3);
	assert_int_equal(crt->ca_istrue, 0);
	assert_int_equal(crt->serial.len, 16);
	assert_int_equal(crt->serial.p[0] & 0x80, 0);
	assert_true(mbedtls_x509_time_is_past(&crt->valid_from));
	assert_true(mbedtls_x509_time_is_future(&crt->valid_to));
	assert_int_equal(mbedtls_pk_get_type(&crt->pk), MBEDTLS_PK_ECKEY);
	assert_int_equal(mbedtls_pk_ec(crt->pk)->grp.id,
	                 MBEDTLS_ECP_DP_SECP256R1);
	assert_int_equal(mbedtls_x509_crt_check_key_usage(
	                     crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE),
	                 0);
	assert_int_not_equal(mbedtls_x509_crt_check_key_usage(
	                         crt, MBEDTLS_X509_KU_KEY_ENCIPHERMENT),
	                     0);
	assert_int_not_equal(mbedtls_x509_crt_check_key_usage(
	                         crt, MBEDTLS_X509_KU_KEY_AGREEMENT),
	                     0);
}

static void
test_files_parse(void **state)
{
	struct fx *fx = *state;
	mbedtls_x509_crt ca, srv, cli;

	load_crt(&ca, fx->dir, "ca.pem");
	load_crt(&srv, fx->dir, "server.pem");
	load_crt(&cli, fx->dir, "client-alice.pem");

	assert_int_equal(ca.ca_istrue, 1);
	assert_int_equal(mbedtls_x509_crt_check_key_usage(
	                     &ca, MBEDTLS_X509_KU_KEY_CERT_SIGN),
	                 0);
	assert_int_equal(mbedtls_pk_get_type(&ca.pk), MBEDTLS_PK_ECKEY);

	assert_leaf_basics(&srv);
	assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
	                     &srv, MBEDTLS_OID_SERVER_AUTH,
	                     MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
	                 0);
	assert_int_not_equal(mbedtls_x509_crt_check_extended_key_usage(
	                         &srv, MBEDTLS_OID_CLIENT_AUTH,
	                         MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
	                     0);
	assert_null(srv.next); /* exactly one certificate in server.pem */

	assert_leaf_basics(&cli);
	assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
	                     &cli, MBEDTLS_OID_CLIENT_AUTH,
	                     MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
	                 0);
	assert_int_not_equal(mbedtls_x509_crt_check_extended_key_usage(
	                         &cli, MBEDTLS_OID_SERVER_AUTH,
	                         MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
	                     0);

	mbedtls_x509_crt_free(&cli);
	mbedtls_x509_crt_free(&srv);
	mbedtls_x509_crt_free(&ca);
}

static void
test_server_names_verify(void **state)
{
	struct fx *fx = *state;
	uint32_t flags;
	int ret;

	assert_verifies(fx->dir, "server.pem", fx->dir, NULL);
	assert_verifies(fx->dir, "server.pem", fx->dir, "localhost");
	assert_verifies(fx->dir, "server.pem", fx->dir, "uns.test");
	assert_verifies(fx->dir, "server.pem", fx->dir, "UNS.Test");

	flags = verify(fx->dir, "server.pem", fx->dir, "nothere.test", &ret);
	assert_int_equal(ret, MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
	assert_int_equal(flags, MBEDTLS_X509_BADCERT_CN_MISMATCH);
}

static void
test_client_verifies(void **state)
{
	struct fx *fx = *state;

	assert_verifies(fx->dir, "client-alice.pem", fx->dir, NULL);
	assert_verifies(fx->dir, "client-alice.pem", fx->dir, "alice");
}

static void
test_foreign_ca_not_trusted(void **state)
{
	struct fx *fx = *state;
	char other[64];
	uint32_t flags;
	int ret;

	make_tmpdir(other);
	assert_int_equal(uns_devcert_make_ca(other, DAYS, NULL, 0), UNS_OK);
	assert_int_equal(uns_devcert_make_server(other, NULL, 0, DAYS, NULL, 0),
	                 UNS_OK);
	assert_int_equal(uns_devcert_make_client(other, "bob", DAYS, NULL, 0),
	                 UNS_OK);

	flags = verify(other, "server.pem", fx->dir, "localhost", &ret);
	assert_int_equal(ret, MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
	assert_true(flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED);
	flags = verify(other, "client-bob.pem", fx->dir, NULL, &ret);
	assert_true(flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED);
	/* and the other way round */
	flags = verify(fx->dir, "server.pem", other, "localhost", &ret);
	assert_true(flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED);
	rm_tree(other);
}

static void
assert_pair(const char *dir, const char *crt_file, const char *key_file,
            bool match)
{
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;

	load_crt(&crt, dir, crt_file);
	load_key(&key, dir, key_file);
	if (match) {
		assert_int_equal(mbedtls_pk_check_pair(&crt.pk, &key), 0);
	} else {
		assert_int_not_equal(mbedtls_pk_check_pair(&crt.pk, &key), 0);
	}
	mbedtls_pk_free(&key);
	mbedtls_x509_crt_free(&crt);
}

static void
test_keys_match(void **state)
{
	struct fx *fx = *state;

	assert_pair(fx->dir, "server.pem", "server.pem", true);
	assert_pair(fx->dir, "client-alice.pem", "client-alice.pem", true);
	assert_pair(fx->dir, "ca.pem", "ca.key", true);
	assert_pair(fx->dir, "server.pem", "client-alice.pem", false);
	assert_pair(fx->dir, "ca.pem", "server.pem", false);
}

static void
test_file_modes(void **state)
{
	struct fx *fx = *state;
	char sub[PATH_MAX];

	assert_int_equal(mode_of(fx->dir, "ca.key"), 0600);
	assert_int_equal(mode_of(fx->dir, "server.pem"), 0600);
	assert_int_equal(mode_of(fx->dir, "client-alice.pem"), 0600);
	assert_int_equal(mode_of(fx->dir, "ca.pem"), 0600);

	/* make_ca creates missing directories with mode 0700 */
	assert_int_equal(
	    uns_devcert_make_ca(at(sub, fx->dir, "new/tls"), DAYS, NULL, 0),
	    UNS_OK);
	assert_int_equal(mode_of(fx->dir, "new"), 0700);
	assert_int_equal(mode_of(fx->dir, "new/tls"), 0700);
	assert_int_equal(mode_of(sub, "ca.key"), 0600);
}

/* ---- ensure ------------------------------------------------------------- */

static void
test_ensure_idempotent(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], why[256];
	unsigned char *ca, *key, *srv;
	size_t ca_len, key_len, srv_len;

	at(dir, fx->dir, "ensure/tls");
	assert_int_equal(uns_devcert_ensure(dir, why, sizeof(why)), UNS_OK);
	assert_string_equal(why, "");
	assert_verifies(dir, "server.pem", dir, "localhost");
	ca = slurp(dir, "ca.pem", &ca_len);
	key = slurp(dir, "ca.key", &key_len);
	srv = slurp(dir, "server.pem", &srv_len);

	assert_int_equal(uns_devcert_ensure(dir, why, sizeof(why)), UNS_OK);
	assert_true(same_file(dir, "ca.pem", ca, ca_len));
	assert_true(same_file(dir, "ca.key", key, key_len));
	assert_true(same_file(dir, "server.pem", srv, srv_len));

	/* A missing server.pem is re-issued by the existing CA. */
	assert_int_equal(unlink(at(why, dir, "server.pem")), 0);
	assert_int_equal(uns_devcert_ensure(dir, why, sizeof(why)), UNS_OK);
	assert_true(same_file(dir, "ca.pem", ca, ca_len));
	assert_false(same_file(dir, "server.pem", srv, srv_len));
	assert_verifies(dir, "server.pem", dir, "localhost");

	/* A missing CA means a new CA and a server.pem that chains to it. */
	assert_int_equal(unlink(at(why, dir, "ca.pem")), 0);
	assert_int_equal(uns_devcert_ensure(dir, why, sizeof(why)), UNS_OK);
	assert_false(same_file(dir, "ca.pem", ca, ca_len));
	assert_verifies(dir, "server.pem", dir, "localhost");

	free(srv);
	free(key);
	free(ca);
}

/* ---- argument and file errors ------------------------------------------- */

static void
test_bad_client_name(void **state)
{
	static const char *const bad[] = {
	    "",
	    "a/b",
	    "../x",
	    "with space",
	    "caf\xc3\xa9",
	    "semi;colon",
	    "CN=x,O=y",
	    "a*",
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "4",
	};
	struct fx *fx = *state;
	char why[256];
	int before = count_entries(fx->dir);
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = 'x';
		assert_int_equal(uns_devcert_make_client(fx->dir, bad[i], DAYS,
		                                         why, sizeof(why)),
		                 UNS_EINVAL);
		assert_non_null(strstr(why, "client name"));
	}
	assert_int_equal(
	    uns_devcert_make_client(fx->dir, NULL, DAYS, why, sizeof(why)),
	    UNS_EINVAL);
	assert_int_equal(count_entries(fx->dir), before);

	/* the longest legal name, and the odd but legal characters */
	assert_int_equal(
	    uns_devcert_make_client(fx->dir,
	                            "012345678901234567890123456789012345678901"
	                            "2345678901234567890123",
	                            DAYS, why, sizeof(why)),
	    UNS_OK);
	assert_int_equal(
	    uns_devcert_make_client(fx->dir, "a.b_c-D", DAYS, why, sizeof(why)),
	    UNS_OK);
	assert_verifies(fx->dir, "client-a.b_c-D.pem", fx->dir, "a.b_c-D");
	assert_int_equal(count_entries(fx->dir), before + 2);
}

static void
test_bad_args(void **state)
{
	static const char *const bad_names[] = {
	    "127.0.0.1", "a b", "a..b",  "::1", "-a.test", "a-.test",  "a.-b",
	    "a.b-",      "*",   "a.*.b", "",    "a.test.", "a_b.test",
	};
	const char *many[UNS_DEVCERT_MAX_NAMES + 1];
	struct fx *fx = *state;
	char why[256];
	size_t i;

	assert_int_equal(uns_devcert_make_ca(NULL, DAYS, NULL, 0), UNS_EINVAL);
	assert_int_equal(uns_devcert_make_ca("", DAYS, NULL, 0), UNS_EINVAL);
	assert_int_equal(uns_devcert_make_ca(fx->dir, 0, why, sizeof(why)),
	                 UNS_EINVAL);
	assert_non_null(strstr(why, "days"));
	assert_int_equal(uns_devcert_make_client(fx->dir, "x", 36501, NULL, 0),
	                 UNS_EINVAL);
	assert_int_equal(uns_devcert_ensure(NULL, NULL, 0), UNS_EINVAL);
	assert_int_equal(
	    uns_devcert_make_server(fx->dir, NULL, 1, DAYS, NULL, 0),
	    UNS_EINVAL);
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		assert_int_equal(uns_devcert_make_server(fx->dir, &bad_names[i],
		                                         1, DAYS, why,
		                                         sizeof(why)),
		                 UNS_EINVAL);
		assert_non_null(strstr(why, "bad DNS name"));
	}
	for (i = 0; i < UNS_DEVCERT_MAX_NAMES + 1; i++) {
		many[i] = "a.test";
	}
	assert_int_equal(uns_devcert_make_server(fx->dir, many,
	                                         UNS_DEVCERT_MAX_NAMES + 1,
	                                         DAYS, NULL, 0),
	                 UNS_EINVAL);
}

/* Legal oddities: a wildcard, inner hyphens, digits in a non-final label. */
static void
test_unusual_names(void **state)
{
	static const char *const names[] = {"*.a-b.test", "1.2.3.x4"};
	char dir[64], why[256];

	(void)state;
	make_tmpdir(dir);
	assert_int_equal(uns_devcert_make_ca(dir, DAYS, NULL, 0), UNS_OK);
	assert_int_equal(
	    uns_devcert_make_server(dir, names, 2, DAYS, why, sizeof(why)),
	    UNS_OK);
	assert_verifies(dir, "server.pem", dir, "api.a-b.test");
	assert_verifies(dir, "server.pem", dir, "1.2.3.x4");
	assert_verifies(dir, "server.pem", dir, "localhost");
	rm_tree(dir);
}

/* The largest server certificate: 32 names of 253 characters. */
static void
test_many_long_names(void **state)
{
	static char names[UNS_DEVCERT_MAX_NAMES][254];
	const char *ptrs[UNS_DEVCERT_MAX_NAMES];
	char dir[64], why[256];
	size_t i;

	(void)state;
	for (i = 0; i < UNS_DEVCERT_MAX_NAMES; i++) {
		/* 62+62+62+60 + 4 dots + "nNN" = 253, the maximum */
		snprintf(names[i], sizeof(names[i]),
		         "%.62s.%.62s.%.62s.%.60s.n%02zu",
		         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		         "aaaaaaaaaaa",
		         "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		         "bbbbbbbbbbb",
		         "ccccccccccccccccccccccccccccccccccccccccccccccccccccc"
		         "ccccccccccc",
		         "ddddddddddddddddddddddddddddddddddddddddddddddddddddd"
		         "ddddddddddd",
		         i);
		ptrs[i] = names[i];
	}
	make_tmpdir(dir);
	assert_int_equal(uns_devcert_make_ca(dir, DAYS, NULL, 0), UNS_OK);
	assert_int_equal(uns_devcert_make_server(dir, ptrs,
	                                         UNS_DEVCERT_MAX_NAMES, DAYS,
	                                         why, sizeof(why)),
	                 UNS_OK);
	assert_verifies(dir, "server.pem", dir, names[31]);
	assert_verifies(dir, "server.pem", dir, "localhost");
	assert_pair(dir, "server.pem", "server.pem", true);
	rm_tree(dir);
}

static void
test_unwritable_dir(void **state)
{
	struct fx *fx = *state;
	char file[PATH_MAX], dir[PATH_MAX + 8], why[512];
	FILE *f;

	/* A regular file where a directory should be (works even as root). */
	f = fopen(at(file, fx->dir, "plain"), "w");
	assert_non_null(f);
	fclose(f);
	snprintf(dir, sizeof(dir), "%s/tls", file);
	assert_int_equal(uns_devcert_make_ca(dir, DAYS, why, sizeof(why)),
	                 UNS_EIO);
	assert_non_null(strstr(why, file));

	/* No CA in the directory: the reason names the missing ca.pem. */
	assert_int_equal(
	    uns_devcert_make_server(file, NULL, 0, DAYS, why, sizeof(why)),
	    UNS_EIO);
	assert_non_null(strstr(why, file));

	/* A read-only directory; root ignores the mode bits, so skip there. */
	at(dir, fx->dir, "ro");
	assert_int_equal(uns_devcert_make_ca(dir, DAYS, NULL, 0), UNS_OK);
	assert_int_equal(chmod(dir, 0500), 0);
	if (geteuid() != 0) {
		assert_int_equal(uns_devcert_make_client(dir, "carol", DAYS,
		                                         why, sizeof(why)),
		                 UNS_EIO);
		assert_non_null(strstr(why, dir));
		assert_int_equal(count_entries(dir), 4); /* ., .., ca.* */
	} else {
		print_message("running as root: read-only dir check skipped\n");
	}
	assert_int_equal(chmod(dir, 0700), 0);
}

static void
test_corrupt_ca(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], other[PATH_MAX], p[PATH_MAX], why[512];
	unsigned char *key;
	size_t len;
	FILE *f;

	at(dir, fx->dir, "corrupt");
	assert_int_equal(uns_devcert_make_ca(dir, DAYS, NULL, 0), UNS_OK);
	f = fopen(at(p, dir, "ca.pem"), "w");
	assert_non_null(f);
	fputs("-----BEGIN CERTIFICATE-----\nnot base64!\n"
	      "-----END CERTIFICATE-----\n",
	      f);
	fclose(f);
	assert_int_equal(
	    uns_devcert_make_server(dir, NULL, 0, DAYS, why, sizeof(why)),
	    UNS_EIO);
	assert_non_null(strstr(why, p));

	/* A CA key that belongs to another CA is caught before signing. */
	at(other, fx->dir, "corrupt-other");
	assert_int_equal(uns_devcert_make_ca(other, DAYS, NULL, 0), UNS_OK);
	assert_int_equal(uns_devcert_make_ca(dir, DAYS, NULL, 0), UNS_OK);
	key = slurp(other, "ca.key", &len);
	f = fopen(at(p, dir, "ca.key"), "w");
	assert_non_null(f);
	assert_int_equal(fwrite(key, 1, len, f), len);
	fclose(f);
	free(key);
	assert_int_equal(
	    uns_devcert_make_server(dir, NULL, 0, DAYS, why, sizeof(why)),
	    UNS_EIO);
	assert_non_null(strstr(why, "does not match"));
}

/* ---- NNG over TLS ------------------------------------------------------- */

static nng_tls_config *
tls_config(nng_tls_mode mode, const char *dir, const char *certkey,
           const char *server_name)
{
	nng_tls_config *cfg;
	char p[PATH_MAX];

	assert_int_equal(nng_tls_config_alloc(&cfg, mode), 0);
	assert_int_equal(nng_tls_config_ca_file(cfg, at(p, dir, "ca.pem")), 0);
	if (certkey != NULL) {
		assert_int_equal(nng_tls_config_cert_key_file(
		                     cfg, at(p, dir, certkey), NULL),
		                 0);
	}
	if (mode == NNG_TLS_MODE_SERVER) {
		assert_int_equal(
		    nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED),
		    0);
	}
	if (server_name != NULL) {
		assert_int_equal(nng_tls_config_server_name(cfg, server_name),
		                 0);
	}
	return cfg;
}

static void
set_timeouts(nng_socket s)
{
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 5000), 0);
}

/* Starts a rep0 socket on tls+tcp://localhost:0 (mutual TLS). */
static int
start_server(const char *dir, nng_socket *rep)
{
	nng_tls_config *cfg;
	nng_listener l;
	nng_sockaddr sa;

	assert_int_equal(nng_rep0_open(rep), 0);
	set_timeouts(*rep);
	assert_int_equal(nng_listener_create(&l, *rep, "tls+tcp://localhost:0"),
	                 0);
	cfg = tls_config(NNG_TLS_MODE_SERVER, dir, "server.pem", NULL);
	assert_int_equal(nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg), 0);
	nng_tls_config_free(cfg);
	assert_int_equal(nng_listener_start(l, 0), 0);
	assert_int_equal(nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa), 0);
	if (sa.s_family == NNG_AF_INET6) {
		return ntohs(sa.s_in6.sa_port);
	}
	assert_int_equal(sa.s_family, NNG_AF_INET);
	return ntohs(sa.s_in.sa_port);
}

/* Opens a req0 socket and dials; returns nng_dialer_start's result. */
static int
dial(nng_socket *req, const char *dir, int port, const char *certkey,
     const char *server_name)
{
	nng_tls_config *cfg;
	nng_dialer d;
	char url[64];

	assert_int_equal(nng_req0_open(req), 0);
	set_timeouts(*req);
	assert_int_equal(nng_socket_set_ms(*req, NNG_OPT_REQ_RESENDTIME,
	                                   NNG_DURATION_INFINITE),
	                 0);
	snprintf(url, sizeof(url), "tls+tcp://localhost:%d", port);
	assert_int_equal(nng_dialer_create(&d, *req, url), 0);
	cfg = tls_config(NNG_TLS_MODE_CLIENT, dir, certkey, server_name);
	assert_int_equal(nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg), 0);
	nng_tls_config_free(cfg);
	return nng_dialer_start(d, 0);
}

static void
test_tls_round_trip(void **state)
{
	struct fx *fx = *state;
	nng_socket rep, req;
	nng_msg *msg;
	bool verified = false;
	char buf[16];
	size_t len = sizeof(buf);
	int port = start_server(fx->dir, &rep);

	assert_int_equal(
	    dial(&req, fx->dir, port, "client-alice.pem", "localhost"), 0);
	assert_int_equal(nng_send(req, "ping", 5, 0), 0);
	assert_int_equal(nng_recvmsg(rep, &msg, 0), 0);
	assert_int_equal(nng_msg_len(msg), 5);
	assert_string_equal(nng_msg_body(msg), "ping");
	assert_int_equal(nng_pipe_get_bool(nng_msg_get_pipe(msg),
	                                   NNG_OPT_TLS_VERIFIED, &verified),
	                 0);
	assert_true(verified); /* the server checked alice's certificate */
	assert_int_equal(nng_sendmsg(rep, msg, 0), 0);
	assert_int_equal(nng_recv(req, buf, &len, 0), 0);
	assert_int_equal(len, 5);
	assert_string_equal(buf, "ping");
	nng_close(req);
	nng_close(rep);
}

static void
test_tls_refused(void **state)
{
	struct fx *fx = *state;
	nng_socket rep, req;
	int port = start_server(fx->dir, &rep);
	int rv;

	/* server certificate not valid for the name we asked for */
	rv = dial(&req, fx->dir, port, "client-alice.pem", "otherhost");
	print_message("dial as otherhost: %s\n", nng_strerror(rv));
	assert_int_not_equal(rv, 0);
	nng_close(req);

	/* no client certificate, but the server requires one */
	rv = dial(&req, fx->dir, port, NULL, "localhost");
	print_message("dial without client cert: %s\n", nng_strerror(rv));
	assert_int_not_equal(rv, 0);
	nng_close(req);
	nng_close(rep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_files_parse),
	    cmocka_unit_test(test_server_names_verify),
	    cmocka_unit_test(test_client_verifies),
	    cmocka_unit_test(test_foreign_ca_not_trusted),
	    cmocka_unit_test(test_keys_match),
	    cmocka_unit_test(test_file_modes),
	    cmocka_unit_test(test_ensure_idempotent),
	    cmocka_unit_test(test_bad_client_name),
	    cmocka_unit_test(test_bad_args),
	    cmocka_unit_test(test_unusual_names),
	    cmocka_unit_test(test_many_long_names),
	    cmocka_unit_test(test_unwritable_dir),
	    cmocka_unit_test(test_corrupt_ca),
	    cmocka_unit_test(test_tls_round_trip),
	    cmocka_unit_test(test_tls_refused),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
