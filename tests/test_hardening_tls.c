/*
 * test_hardening_tls.c — what TLS the two ports of unsd accept (issue 14,
 * item 5), driven with `openssl s_client`: the gateway (libmicrohttpd on
 * GnuTLS) takes TLS 1.2 and 1.3 with AEAD suites only; the RPC port (NNG
 * on mbedTLS 2.28, TLS 1.2 only) takes ECDHE with AES-GCM, AES-CCM or
 * ChaCha20-Poly1305, and no CBC (so no SHA-1 MAC), CCM_8 or Camellia.
 *
 * Each row offers one protocol version or one suite and says whether the
 * handshake must succeed. The development certificate is ECDSA P-256, so
 * the suites offered are the ECDSA ones. openssl is asked for
 * @SECLEVEL=0 so that it offers what the server must refuse. Skipped with
 * a message when there is no openssl.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "crypto.h"
#include "uthttp.h"

static char g_dir[256], g_data[320], g_base[128];
static ut_proc g_unsd;
static int g_ports[2]; /* RPC, gateway */

/* The suite openssl agreed on, "" when the handshake failed. */
static void
handshake(int port, const char *args, char *suite, size_t cap)
{
	char cmd[512], line[512];
	snprintf(cmd, sizeof(cmd),
	         "timeout 20 openssl s_client -connect 127.0.0.1:%d %s "
	         "</dev/null 2>&1",
	         port, args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	suite[0] = '\0';
	while (fgets(line, sizeof(line), p) != NULL) {
		const char *c = strstr(line, "Cipher is ");
		if (c != NULL && suite[0] == '\0') {
			snprintf(suite, cap, "%s", c + 10);
			suite[strcspn(suite, "\r\n")] = '\0';
		}
	}
	pclose(p);
	if (strcmp(suite, "(NONE)") == 0) {
		suite[0] = '\0';
	}
}

typedef struct tls_case {
	int gateway; /* 1: the gateway's port, 0: the RPC port */
	const char *args;
	int accepted;
} tls_case;

static const tls_case cases[] = {
    /* the gateway: versions */
    {1, "-tls1 -cipher ALL:@SECLEVEL=0", 0},
    {1, "-tls1_1 -cipher ALL:@SECLEVEL=0", 0},
    {1, "-tls1_2", 1},
    {1, "-tls1_3", 1},
    /* the gateway: TLS 1.2 suites */
    {1, "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0", 0},
    {1, "-tls1_2 -cipher ECDHE-ECDSA-AES256-SHA384:@SECLEVEL=0", 0},
    {1, "-tls1_2 -cipher ECDHE-ECDSA-CAMELLIA128-SHA256:@SECLEVEL=0", 0},
    {1, "-tls1_2 -cipher ECDHE-ECDSA-AES128-CCM8:@SECLEVEL=0", 0},
    {1, "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256", 1},
    {1, "-tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305", 1},
    /* the RPC port: versions */
    {0, "-tls1 -cipher ALL:@SECLEVEL=0", 0},
    {0, "-tls1_1 -cipher ALL:@SECLEVEL=0", 0},
    {0, "-tls1_2", 1},
    /* the RPC port: suites */
    {0, "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0", 0},
    {0, "-tls1_2 -cipher ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0", 0},
    {0, "-tls1_2 -cipher ECDHE-ECDSA-AES256-SHA384:@SECLEVEL=0", 0},
    {0, "-tls1_2 -cipher ECDHE-ECDSA-CAMELLIA128-SHA256:@SECLEVEL=0", 0},
    {0, "-tls1_2 -cipher ECDHE-ECDSA-AES128-CCM8:@SECLEVEL=0", 0},
    {0, "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256", 1},
    {0, "-tls1_2 -cipher ECDHE-ECDSA-AES128-CCM", 1},
    {0, "-tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305", 1},
};

static void
test_offers(void **state)
{
	char suite[128];
	int bad = 0;
	(void)state;
	if (system("openssl version >/dev/null 2>&1") != 0) {
		print_message("skipped: no openssl on PATH\n");
		skip();
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const tls_case *c = &cases[i];
		handshake(c->gateway ? g_ports[1] : g_ports[0], c->args, suite,
		          sizeof(suite));
		if ((suite[0] != '\0') != c->accepted) {
			print_error("%s port, %s: %s\n",
			            c->gateway ? "gateway" : "RPC", c->args,
			            suite[0] ? suite : "refused");
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* The RPC port's rule suite by suite (IANA ids), including suites the
 * development certificate cannot show (RSA, DHE, PSK). */
static void
test_suite_table(void **state)
{
	static const struct {
		int id;
		int allowed;
	} ids[] = {
	    {0xC02B, 1}, /* ECDHE-ECDSA-AES128-GCM-SHA256 */
	    {0xC02F, 1}, /* ECDHE-RSA-AES128-GCM-SHA256 */
	    {0xCCA9, 1}, /* ECDHE-ECDSA-CHACHA20-POLY1305 */
	    {0xC0AC, 1}, /* ECDHE-ECDSA-AES128-CCM */
	    {0xC0AE, 0}, /* ECDHE-ECDSA-AES128-CCM8 */
	    {0xC009, 0}, /* ECDHE-ECDSA-AES128-CBC-SHA */
	    {0xC023, 0}, /* ECDHE-ECDSA-AES128-CBC-SHA256 */
	    {0xC072, 0}, /* ECDHE-ECDSA-CAMELLIA128-CBC-SHA256 */
	    {0xC086, 0}, /* ECDHE-ECDSA-CAMELLIA128-GCM-SHA256 */
	    {0x009C, 0}, /* RSA-AES128-GCM-SHA256 (no forward secrecy) */
	    {0x009E, 0}, /* DHE-RSA-AES128-GCM-SHA256 */
	    {0x00A8, 0}, /* PSK-AES128-GCM-SHA256 */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		if (uns_tls_suite_allowed(ids[i].id) != ids[i].allowed) {
			fail_msg("suite 0x%04X", ids[i].id);
		}
	}
}

static int
setup(void **state)
{
	(void)state;
	ut_gw_dirs(g_dir, g_data, NULL);
	return ut_unsd_gateway_start(&g_unsd, NULL, g_data, g_ports, g_base,
	                             sizeof(g_base));
}

static int
teardown(void **state)
{
	(void)state;
	return ut_unsd_gateway_stop(&g_unsd, g_dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_offers),
	    cmocka_unit_test(test_suite_table),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
