/*
 * test_config.c — unsd's configuration file (server/core/config.c).
 *
 * Accepted values are a table of (line, field, expected value); rejected
 * ones a table of (text, exact message), each parsed over the defaults and
 * checked to leave the struct byte for byte as it was. Whole configs are
 * compared through uns_config_write, which prints every field, so a test
 * does not depend on padding bytes. The example file in docs/ must be
 * exactly uns_config_write_example's output and parse to the defaults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "push.h"
#include "store.h"
#include "store_postgres.h"
#include "store_rocksdb.h"
#include "testutil.h"

#define WHY 512

/* ---- helpers ------------------------------------------------------------ */

static uns_err
parse(uns_config *c, const char *text, char *why)
{
	return uns_config_parse(c, text, strlen(text), why, WHY);
}

/* Everything uns_config_write prints for c; free() it. */
static char *
dump(const uns_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	uns_config_write(f, c);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void
assert_same_config(const uns_config *a, const uns_config *b)
{
	char *da = dump(a), *db = dump(b);

	assert_string_equal(da, db);
	free(da);
	free(db);
}

static char *
example_output(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	static uns_config c;

	/* unsd's tables: config.c's and push's (server/main.c) */
	uns_config_defaults(&c);
	assert_int_equal(uns_push_add_keys(&c), UNS_OK);
	assert_int_equal(uns_store_add_keys(&c), UNS_OK);
	assert_non_null(f);
	uns_config_write_example(f, &c);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 20);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Parses text over the defaults: must fail with exactly want, unchanged. */
static void
expect_error(const char *text, size_t len, const char *want)
{
	static uns_config c, before;
	char why[WHY] = "";

	uns_config_defaults(&c);
	memcpy(&before, &c, sizeof(c));
	assert_int_equal(uns_config_parse(&c, text, len, why, sizeof(why)),
	                 UNS_EINVAL);
	assert_string_equal(why, want);
	assert_string_equal(uns_last_message(), want);
	assert_memory_equal(&c, &before, sizeof(c));
}

/* ---- defaults ------------------------------------------------------------ */

static void
test_defaults(void **state)
{
	static uns_config c;

	uns_config_defaults(&c);
	assert_string_equal(c.listen, "tls+tcp://127.0.0.1:7443");
	assert_string_equal(c.data_dir, "uns-data");
	assert_string_equal(c.cert, "");
	assert_string_equal(c.ca, "");
	assert_int_equal(c.require_client_cert, 0);
	assert_int_equal(c.contexts, 128);
	assert_int_equal(c.workers, 0);
	assert_int_equal(c.max_message, 4 << 20);
	assert_int_equal(c.default_timeout_ms, 30000);
	assert_int_equal(c.drain_linger_ms, 200);
	assert_int_equal(c.commit_max_batch, 1024);
	assert_int_equal(c.commit_max_wait_us, 0);
	assert_int_equal(c.reclaim_interval_s, 10);
	assert_int_equal(c.jwt_key.n, 0);
	assert_string_equal(c.jwt_audience, "uns");
	assert_string_equal(c.jwt_issuer, "");
	assert_int_equal(c.jwt_clock_skew_s, 60);
	assert_int_equal(c.token_max_bytes, 8192);
	assert_int_equal(c.max_body, 65536);
	assert_int_equal(c.max_raw_content, 4096);
	assert_int_equal(c.max_title, 256);
	assert_int_equal(c.max_body_text, 2048);
	assert_int_equal(c.max_id, 256);
	assert_int_equal(c.max_live_per_user, 10000);
	assert_int_equal(c.max_page_size, 100);
	assert_int_equal(c.default_expiry_s, 7 * 86400);
	assert_int_equal(c.max_expiry_s, 30 * 86400);
	assert_int_equal(c.subscription_lifetime_s, 30 * 86400);
	assert_string_equal(c.gateway_listen, "https://127.0.0.1:8443");
	assert_string_equal(c.gateway_cert, "");
	assert_string_equal(c.gateway_key, "");
	assert_int_equal(uns_config_check(&c, NULL, 0), UNS_OK);
}

/* ---- accepted values ----------------------------------------------------- */

typedef struct ok_case {
	const char *text;
	size_t offset;
	char type; /* i: int, u: uint64_t, d: int64_t, s: string */
	int64_t num;
	const char *str;
} ok_case;

#define OKI(t, field, v)                                                       \
	{                                                                      \
		t, offsetof(uns_config, field), 'i', v, NULL                   \
	}
#define OKU(t, field, v)                                                       \
	{                                                                      \
		t, offsetof(uns_config, field), 'u', v, NULL                   \
	}
#define OKD(t, field, v)                                                       \
	{                                                                      \
		t, offsetof(uns_config, field), 'd', v, NULL                   \
	}
#define OKS(t, field, v)                                                       \
	{                                                                      \
		t, offsetof(uns_config, field), 's', 0, v                      \
	}

static const ok_case ok_cases[] = {
    /* int */
    OKI("contexts = 1", contexts, 1),
    OKI("contexts = 65536", contexts, 65536),
    OKI("contexts=7", contexts, 7),
    OKI("\tcontexts\t=\t9\t# nine", contexts, 9),
    OKI("contexts = 0042", contexts, 42),
    OKI("workers = 0", workers, 0),
    OKI("max_live_per_user = 10000000", max_live_per_user, 10000000),
    /* bool */
    OKI("require_client_cert = true", require_client_cert, 1),
    OKI("require_client_cert = yes", require_client_cert, 1),
    OKI("require_client_cert = on", require_client_cert, 1),
    OKI("require_client_cert = 1", require_client_cert, 1),
    OKI("require_client_cert = TRUE", require_client_cert, 1),
    OKI("require_client_cert = Yes", require_client_cert, 1),
    OKI("require_client_cert = false", require_client_cert, 0),
    OKI("require_client_cert = no", require_client_cert, 0),
    OKI("require_client_cert = off", require_client_cert, 0),
    OKI("require_client_cert = 0", require_client_cert, 0),
    /* size */
    OKU("max_message = 64K", max_message, 65536),
    OKU("max_message = 64k", max_message, 65536),
    OKU("max_message = 64KiB", max_message, 65536),
    OKU("max_message = 64kib", max_message, 65536),
    OKU("max_message = 1024", max_message, 1024),
    OKU("max_message = 2048B", max_message, 2048),
    OKU("max_message = 2048b", max_message, 2048),
    OKU("max_message = 3M", max_message, 3 << 20),
    OKU("max_message = 3MiB", max_message, 3 << 20),
    OKU("max_message = 3 MiB", max_message, 3 << 20),
    OKU("max_message = 64M", max_message, 64 << 20),
    OKU("max_title = 1", max_title, 1),
    /* durations, each in its key's unit */
    OKD("default_timeout = 1500", default_timeout_ms, 1500),
    OKD("default_timeout = 500ms", default_timeout_ms, 500),
    OKD("default_timeout = 2s", default_timeout_ms, 2000),
    OKD("default_timeout = 2S", default_timeout_ms, 2000),
    OKD("default_timeout = 1m", default_timeout_ms, 60000),
    OKD("default_timeout = 1h", default_timeout_ms, 3600000),
    OKD("default_timeout = 1d", default_timeout_ms, 86400000),
    OKD("default_timeout = 2000us", default_timeout_ms, 2),
    OKD("default_timeout = 3 s", default_timeout_ms, 3000),
    OKD("drain_linger = 0", drain_linger_ms, 0),
    OKD("commit_max_wait = 250", commit_max_wait_us, 250),
    OKD("commit_max_wait = 250us", commit_max_wait_us, 250),
    OKD("commit_max_wait = 2ms", commit_max_wait_us, 2000),
    OKD("commit_max_wait = 1s", commit_max_wait_us, 1000000),
    OKD("reclaim_interval = 90", reclaim_interval_s, 90),
    OKD("reclaim_interval = 2h", reclaim_interval_s, 7200),
    OKD("reclaim_interval = 5000ms", reclaim_interval_s, 5),
    OKD("jwt_clock_skew = 0", jwt_clock_skew_s, 0),
    OKD("max_expiry = 365d", max_expiry_s, 365 * 86400),
    OKD("subscription_lifetime = 1m", subscription_lifetime_s, 60),
    /* strings, paths, URLs; quoting and comments */
    OKS("jwt_issuer = https://login.example.com/", jwt_issuer,
        "https://login.example.com/"),
    OKS("jwt_issuer = a\"b", jwt_issuer, "a\"b"),
    OKS("jwt_issuer = a\\b", jwt_issuer, "a\\b"),
    OKS("jwt_issuer = iss#1", jwt_issuer, "iss#1"),
    OKS("jwt_issuer = iss #1", jwt_issuer, "iss"),
    OKS("jwt_issuer = iss\t#1", jwt_issuer, "iss"),
    OKS("jwt_issuer = #1", jwt_issuer, ""),
    OKS("jwt_issuer =", jwt_issuer, ""),
    OKS("jwt_issuer = two  words  ", jwt_issuer, "two  words"),
    OKS("jwt_issuer = \"\"", jwt_issuer, ""),
    OKS("jwt_issuer = \"  padded  \"", jwt_issuer, "  padded  "),
    OKS("jwt_issuer = \"a # b\"  # c", jwt_issuer, "a # b"),
    OKS("jwt_issuer = \"x\"#c", jwt_issuer, "x"),
    OKS("jwt_issuer = \"say \\\"hi\\\" \\\\ ok\"", jwt_issuer,
        "say \"hi\" \\ ok"),
    OKS("jwt_issuer = caf\xc3\xa9", jwt_issuer, "caf\xc3\xa9"),
    OKS("data_dir = \"/var/lib/uns data\"", data_dir, "/var/lib/uns data"),
    OKS("cert = \"/etc/uns/#1.pem\"", cert, "/etc/uns/#1.pem"),
    OKS("listen = tcp://[::1]:7443", listen, "tcp://[::1]:7443"),
    OKS("listen = ipc:///tmp/uns.sock", listen, "ipc:///tmp/uns.sock"),
    OKS("gateway_listen = http://h:1/#x", gateway_listen, "http://h:1/#x"),
    OKS("gateway_listen = \"\"", gateway_listen, ""),
};

static void
check_ok_case(const ok_case *t)
{
	static uns_config c;
	char why[WHY] = "";
	const char *field = (const char *)&c + t->offset;

	uns_config_defaults(&c);
	if (parse(&c, t->text, why) != UNS_OK) {
		fail_msg("%s: %s", t->text, why);
	}
	switch (t->type) {
	case 'i':
		assert_int_equal(*(const int *)field, t->num);
		break;
	case 'u':
		assert_int_equal(*(const uint64_t *)field, (uint64_t)t->num);
		break;
	case 'd':
		assert_int_equal(*(const int64_t *)field, t->num);
		break;
	default:
		assert_string_equal(field, t->str);
	}
}

static void
test_accepted(void **state)
{
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		check_ok_case(&ok_cases[i]);
	}
}

/* ---- rejected values ------------------------------------------------------
 */

typedef struct bad_case {
	const char *text;
	const char *why;
} bad_case;

#define INT_1_65536 "expected an integer from 1 to 65536"
#define BOOL        "expected true or false (or yes/no, on/off, 1/0)"
#define SIZE_1K_64M "expected a size from 1K to 64M"
#define TIMEOUT     "expected a duration from 1ms to 1d (bare number: milliseconds)"

static const bad_case bad_cases[] = {
    /* int */
    {"contexts = lots", "line 1: contexts: " INT_1_65536 ", got \"lots\""},
    {"contexts = 0", "line 1: contexts: " INT_1_65536 ", got \"0\""},
    {"contexts = 65537", "line 1: contexts: " INT_1_65536 ", got \"65537\""},
    {"contexts = -1", "line 1: contexts: " INT_1_65536 ", got \"-1\""},
    {"contexts = +1", "line 1: contexts: " INT_1_65536 ", got \"+1\""},
    {"contexts = 1.5", "line 1: contexts: " INT_1_65536 ", got \"1.5\""},
    {"contexts = 12 34", "line 1: contexts: " INT_1_65536 ", got \"12 34\""},
    {"contexts =", "line 1: contexts: " INT_1_65536 ", got \"\""},
    {"contexts = 99999999999999999999999",
     "line 1: contexts: " INT_1_65536 ", got \"99999999999999999999999\""},
    {"workers = -1",
     "line 1: workers: expected an integer from 0 to 1024, got \"-1\""},
    /* bool */
    {"require_client_cert = maybe",
     "line 1: require_client_cert: " BOOL ", got \"maybe\""},
    {"require_client_cert = 2",
     "line 1: require_client_cert: " BOOL ", got \"2\""},
    {"require_client_cert =",
     "line 1: require_client_cert: " BOOL ", got \"\""},
    /* size */
    {"max_message = 1023",
     "line 1: max_message: " SIZE_1K_64M ", got \"1023\""},
    {"max_message = 65M", "line 1: max_message: " SIZE_1K_64M ", got \"65M\""},
    {"max_message = 1KB", "line 1: max_message: " SIZE_1K_64M ", got \"1KB\""},
    {"max_message = 1.5M",
     "line 1: max_message: " SIZE_1K_64M ", got \"1.5M\""},
    {"max_message = M", "line 1: max_message: " SIZE_1K_64M ", got \"M\""},
    {"max_message = -1K", "line 1: max_message: " SIZE_1K_64M ", got \"-1K\""},
    {"max_message = 18446744073709551615G",
     "line 1: max_message: " SIZE_1K_64M ", got \"18446744073709551615G\""},
    {"max_id = 63",
     "line 1: max_id: expected a size from 64 to 4K, got \"63\""},
    /* duration */
    {"default_timeout = 0", "line 1: default_timeout: " TIMEOUT ", got \"0\""},
    {"default_timeout = 2d",
     "line 1: default_timeout: " TIMEOUT ", got \"2d\""},
    {"default_timeout = 1500us",
     "line 1: default_timeout: " TIMEOUT ", got \"1500us\""},
    {"default_timeout = soon",
     "line 1: default_timeout: " TIMEOUT ", got \"soon\""},
    {"default_timeout = 5 sec",
     "line 1: default_timeout: " TIMEOUT ", got \"5 sec\""},
    {"default_timeout = 1.5s",
     "line 1: default_timeout: " TIMEOUT ", got \"1.5s\""},
    {"default_timeout = 99999999999999999999d",
     "line 1: default_timeout: " TIMEOUT ", got \"99999999999999999999d\""},
    {"commit_max_wait = 2s",
     "line 1: commit_max_wait: expected a duration from 0 to 1s (bare number: "
     "microseconds), got \"2s\""},
    {"reclaim_interval = 1500ms",
     "line 1: reclaim_interval: expected a duration from 1s to 1d (bare "
     "number: seconds), got \"1500ms\""},
    /* strings, paths, URLs */
    {"listen = 127.0.0.1:7443",
     "line 1: listen: expected a URL (scheme://address) of at most 1023 "
     "bytes, got \"127.0.0.1:7443\""},
    {"listen = tcp://",
     "line 1: listen: expected a URL (scheme://address) of at most 1023 "
     "bytes, got \"tcp://\""},
    {"listen = 1tcp://x",
     "line 1: listen: expected a URL (scheme://address) of at most 1023 "
     "bytes, got \"1tcp://x\""},
    {"listen = \"\"", "line 1: listen: expected a URL (scheme://address) of "
                      "at most 1023 bytes, got \"\""},
    {"gateway_listen = localhost:8080",
     "line 1: gateway_listen: expected a URL (scheme://address) of at most "
     "1023 bytes, or \"\", got \"localhost:8080\""},
    {"data_dir = \"\"", "line 1: data_dir: expected a non-empty path of at "
                        "most 1023 bytes, got \"\""},
    {"jwt_audience =", "line 1: jwt_audience: expected a non-empty string of "
                       "at most 1023 bytes, got \"\""},
    /* syntax */
    {"jwt_issuer = \"abc", "line 1: jwt_issuer: missing closing quote"},
    {"jwt_issuer = \"abc\\\"", "line 1: jwt_issuer: missing closing quote"},
    {"jwt_issuer = \"a\\nb\"",
     "line 1: jwt_issuer: in quotes, \\ must be followed by \" or \\"},
    {"jwt_issuer = \"a\\", "line 1: jwt_issuer: in quotes, \\ must be "
                           "followed by \" or \\"},
    {"jwt_issuer = \"a\" b",
     "line 1: jwt_issuer: unexpected text after the closing quote"},
    {"listen", "line 1: listen: expected \"=\" after the key"},
    {"listen tcp://x:1", "line 1: listen: expected \"=\" after the key"},
    {"= 5", "line 1: expected \"key = value\""},
    /* unknown keys */
    {"listn = tcp://x:1",
     "line 1: unknown key \"listn\" (did you mean \"listen\"?)"},
    {"Listen = tcp://x:1",
     "line 1: unknown key \"Listen\" (did you mean \"listen\"?)"},
    {"max-body = 1K",
     "line 1: unknown key \"max-body\" (did you mean \"max_body\"?)"},
    {"jwt_keys = k.pem",
     "line 1: unknown key \"jwt_keys\" (did you mean \"jwt_key\"?)"},
    {"frobnicate = 1", "line 1: unknown key \"frobnicate\""},
    {"x = 1", "line 1: unknown key \"x\""},
    /* lines are counted across comments, blanks and CRLF */
    {"# unsd\n\ncontexts = 4\r\n  # more\nlistn = x\n",
     "line 5: unknown key \"listn\" (did you mean \"listen\"?)"},
    {"contexts = 1\x07", "line 1: control character 0x07"},
    {"contexts = 1\rworkers = 2", "line 1: control character 0x0d"},
    {"# fine\n# bell \x7f\n", "line 2: control character 0x7f"},
    /* checks across keys, after the whole text */
    {"default_expiry = 40d",
     "default_expiry (40d) must not exceed max_expiry (30d)"},
    {"max_expiry = 1d", "default_expiry (7d) must not exceed max_expiry (1d)"},
};

static void
test_rejected(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		expect_error(bad_cases[i].text, strlen(bad_cases[i].text),
		             bad_cases[i].why);
	}
}

/* A long bad value is quoted in part; a string may have 1023 bytes. */
static void
test_long_values(void **state)
{
	static uns_config c;
	char text[1200], why[WHY], want[200];

	memset(text, 0, sizeof(text));
	memcpy(text, "data_dir = ", 11);
	memset(text + 11, 'a', 1023);
	uns_config_defaults(&c);
	assert_int_equal(parse(&c, text, why), UNS_OK);
	assert_int_equal(strlen(c.data_dir), 1023);

	text[11 + 1023] = 'a';
	snprintf(want, sizeof(want),
	         "line 1: data_dir: expected a non-empty path of at most 1023 "
	         "bytes, got \"%.60s...\"",
	         text + 11);
	expect_error(text, strlen(text), want);
}

/* ---- lines: NUL, length, line ends ----------------------------------------
 */

static void
test_nul_byte(void **state)
{
	static const char text[] = "contexts = 1\n# a\0b\nworkers = 2\n";

	expect_error(text, sizeof(text) - 1, "line 2: NUL byte");
	expect_error("contexts = 1\0", 13, "line 1: NUL byte");
}

static void
test_line_length(void **state)
{
	static char text[8200];
	static uns_config c;
	char why[WHY];

	/* Line 2 is a comment of exactly 4096 bytes, then \r\n: accepted. */
	memset(text, 0, sizeof(text));
	strcpy(text, "contexts = 3\n#");
	memset(text + strlen(text), 'x', 4095);
	strcat(text, "\r\nworkers = 5\n");
	uns_config_defaults(&c);
	assert_int_equal(parse(&c, text, why), UNS_OK);
	assert_int_equal(c.workers, 5);

	/* One byte more is refused, even in a comment. */
	memset(text, 0, sizeof(text));
	strcpy(text, "contexts = 3\n#");
	memset(text + strlen(text), 'x', 4096);
	strcat(text, "\nworkers = 5\n");
	expect_error(text, strlen(text), "line 2: longer than 4096 bytes");
}

static void
test_crlf(void **state)
{
	static const char text[] = "# windows\r\n"
	                           "contexts = 5\r\n"
	                           "jwt_issuer = \"a b\"\r\n"
	                           "jwt_audience = aud # c\r\n"
	                           "\r\n"
	                           "workers = 3"; /* no final line end */
	static uns_config c;
	char why[WHY];

	uns_config_defaults(&c);
	assert_int_equal(parse(&c, text, why), UNS_OK);
	assert_int_equal(c.contexts, 5);
	assert_string_equal(c.jwt_issuer, "a b");
	assert_string_equal(c.jwt_audience, "aud");
	assert_int_equal(c.workers, 3);
}

static void
test_empty_text(void **state)
{
	static uns_config c, d;
	char why[WHY];

	uns_config_defaults(&c);
	uns_config_defaults(&d);
	assert_int_equal(uns_config_parse(&c, NULL, 0, why, sizeof(why)),
	                 UNS_OK);
	assert_int_equal(parse(&c, "\n\n# only comments\n   \n\t\n", why),
	                 UNS_OK);
	assert_same_config(&c, &d);
}

/* ---- repetition ------------------------------------------------------------
 */

static void
test_last_wins(void **state)
{
	static uns_config c;
	char why[WHY];

	uns_config_defaults(&c);
	assert_int_equal(parse(&c,
	                       "contexts = 1\ncontexts = 2\n"
	                       "listen = tcp://a:1\nlisten = tcp://b:2\n",
	                       why),
	                 UNS_OK);
	assert_int_equal(c.contexts, 2);
	assert_string_equal(c.listen, "tcp://b:2");
}

static void
test_list(void **state)
{
	static uns_config c;
	char why[WHY], text[1024] = "";

	uns_config_defaults(&c);
	assert_int_equal(parse(&c,
	                       "jwt_key = /etc/uns/a.pem\n"
	                       "jwt_key = \"hs256:/etc/uns/dev secret\"\n"
	                       "jwt_key = c.pem # third\n",
	                       why),
	                 UNS_OK);
	assert_int_equal(c.jwt_key.n, 3);
	assert_string_equal(c.jwt_key.v[0], "/etc/uns/a.pem");
	assert_string_equal(c.jwt_key.v[1], "hs256:/etc/uns/dev secret");
	assert_string_equal(c.jwt_key.v[2], "c.pem");

	/* A second text appends; "" clears, and later lines add again. */
	assert_int_equal(parse(&c, "jwt_key = d.pem\n", why), UNS_OK);
	assert_int_equal(c.jwt_key.n, 4);
	assert_int_equal(parse(&c, "jwt_key = \"\"\njwt_key = e.pem\n", why),
	                 UNS_OK);
	assert_int_equal(c.jwt_key.n, 1);
	assert_string_equal(c.jwt_key.v[0], "e.pem");
	assert_int_equal(parse(&c, "jwt_key =\n", why), UNS_OK);
	assert_int_equal(c.jwt_key.n, 0);

	/* 16 values fit; the 17th is refused and nothing changes. */
	for (int i = 0; i < 17; i++) {
		char line[32];
		snprintf(line, sizeof(line), "jwt_key = k%d.pem\n", i);
		strcat(text, line);
	}
	expect_error(text, strlen(text),
	             "line 17: jwt_key: more than 16 values");
	*strstr(text, "jwt_key = k16.pem\n") = '\0';
	assert_int_equal(parse(&c, text, why), UNS_OK);
	assert_int_equal(c.jwt_key.n, 16);
	assert_string_equal(c.jwt_key.v[15], "k15.pem");
}

/* ---- failures change nothing -----------------------------------------------
 */

static void
test_error_leaves_config(void **state)
{
	static uns_config c, before;
	char why[WHY];

	uns_config_defaults(&c);
	assert_int_equal(parse(&c, "contexts = 9\njwt_key = a.pem\n", why),
	                 UNS_OK);
	memcpy(&before, &c, sizeof(c));
	assert_int_equal(parse(&c,
	                       "contexts = 10\n"
	                       "jwt_key = b.pem\n"
	                       "listen = tcp://x:1\n"
	                       "workers = many\n",
	                       why),
	                 UNS_EINVAL);
	assert_string_equal(
	    why, "line 4: workers: expected an integer from 0 to 1024, got "
	         "\"many\"");
	assert_memory_equal(&c, &before, sizeof(c));

	assert_int_equal(uns_config_set(&c, "workers", "many", why, WHY),
	                 UNS_EINVAL);
	assert_memory_equal(&c, &before, sizeof(c));

	/* A cross-key failure at the end undoes every line. */
	assert_int_equal(parse(&c, "contexts = 11\nmax_expiry = 1d\n", why),
	                 UNS_EINVAL);
	assert_memory_equal(&c, &before, sizeof(c));

	/* why may be NULL; the thread's last message still says why. */
	assert_int_equal(uns_config_parse(&c, "x", 1, NULL, 0), UNS_EINVAL);
	assert_string_equal(uns_last_message(), "line 1: unknown key \"x\"");
	assert_memory_equal(&c, &before, sizeof(c));
}

/* ---- command-line overrides -------------------------------------------------
 */

static void
test_set(void **state)
{
	static uns_config c;
	char why[WHY];

	uns_config_defaults(&c);
	assert_int_equal(uns_config_set(&c, "contexts", "12", why, WHY),
	                 UNS_OK);
	assert_int_equal(c.contexts, 12);
	assert_int_equal(uns_config_set(&c, "max_body", "1M", why, WHY),
	                 UNS_OK);
	assert_int_equal(c.max_body, 1 << 20);

	/* Taken as it is: no quotes, no comments. */
	assert_int_equal(
	    uns_config_set(&c, "jwt_issuer", "\"a\" # b", why, WHY), UNS_OK);
	assert_string_equal(c.jwt_issuer, "\"a\" # b");

	assert_int_equal(uns_config_set(&c, "jwt_key", "a.pem", why, WHY),
	                 UNS_OK);
	assert_int_equal(uns_config_set(&c, "jwt_key", "b.pem", why, WHY),
	                 UNS_OK);
	assert_int_equal(c.jwt_key.n, 2);
	assert_int_equal(uns_config_set(&c, "jwt_key", "", why, WHY), UNS_OK);
	assert_int_equal(c.jwt_key.n, 0);

	assert_int_equal(uns_config_set(&c, "listn", "x", why, WHY),
	                 UNS_EINVAL);
	assert_string_equal(why, "unknown key \"listn\" (did you mean "
	                         "\"listen\"?)");
	assert_int_equal(uns_config_set(&c, "contexts", "lots", why, WHY),
	                 UNS_EINVAL);
	assert_string_equal(why, "contexts: expected an integer from 1 to "
	                         "65536, got \"lots\"");
	assert_string_equal(uns_last_message(), why);
	assert_int_equal(uns_config_set(&c, "jwt_issuer", "a\nb", why, WHY),
	                 UNS_EINVAL);
	assert_string_equal(why, "jwt_issuer: control character 0x0a");
	assert_int_equal(uns_config_set(&c, "contexts", NULL, why, WHY),
	                 UNS_EINVAL);
	assert_string_equal(why, "contexts: no value");

	/* Overrides are not checked across keys until uns_config_check. */
	assert_int_equal(uns_config_set(&c, "default_expiry", "60d", why, WHY),
	                 UNS_OK);
	assert_int_equal(uns_config_check(&c, why, WHY), UNS_EINVAL);
	assert_string_equal(
	    why, "default_expiry (60d) must not exceed max_expiry (30d)");
	assert_int_equal(uns_config_set(&c, "max_expiry", "90d", why, WHY),
	                 UNS_OK);
	assert_int_equal(uns_config_check(&c, why, WHY), UNS_OK);
}

/* ---- files ------------------------------------------------------------------
 */

static void
test_load(void **state)
{
	static uns_config c, before;
	char dir[] = "/tmp/uns-config-XXXXXX", path[64], why[WHY], want[WHY];
	char *big;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/unsd.conf", dir);
	uns_config_defaults(&c);

	ut_write_file(path, "contexts = 77\nworkers = 3\n");
	assert_int_equal(uns_config_load(&c, path, why, WHY), UNS_OK);
	assert_int_equal(c.contexts, 77);
	memcpy(&before, &c, sizeof(c));

	ut_write_file(path, "contexts = 1\nworkers = lots\n");
	assert_int_equal(uns_config_load(&c, path, why, WHY), UNS_EINVAL);
	snprintf(want, sizeof(want),
	         "%s: line 2: workers: expected an integer from 0 to 1024, "
	         "got \"lots\"",
	         path);
	assert_string_equal(why, want);
	assert_memory_equal(&c, &before, sizeof(c));

	/* Larger than 1 MiB, though every line is fine. */
	big = malloc(UNS_CONFIG_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, '\n', UNS_CONFIG_FILE_MAX + 1);
	ut_write_bytes(path, big, UNS_CONFIG_FILE_MAX);
	assert_int_equal(uns_config_load(&c, path, why, WHY), UNS_OK);
	ut_write_bytes(path, big, UNS_CONFIG_FILE_MAX + 1);
	assert_int_equal(uns_config_load(&c, path, why, WHY), UNS_EINVAL);
	snprintf(want, sizeof(want), "%s: larger than 1048576 bytes", path);
	assert_string_equal(why, want);
	free(big);

	assert_int_equal(uns_config_load(&c, dir, why, WHY), UNS_EIO);
	snprintf(want, sizeof(want), "cannot read %s: Is a directory", dir);
	assert_string_equal(why, want);

	unlink(path);
	assert_int_equal(uns_config_load(&c, path, why, WHY), UNS_EIO);
	snprintf(want, sizeof(want),
	         "cannot open %s: No such file or directory", path);
	assert_string_equal(why, want);
	assert_string_equal(uns_last_message(), want);
	assert_memory_equal(&c, &before, sizeof(c));
	rmdir(dir);
}

/* ---- writing ----------------------------------------------------------------
 */

/* Every field away from its default, with strings that need quotes. */
static void
test_write_round_trip(void **state)
{
	static const char text[] =
	    "listen = \"tcp://h:1/#frag\"\n"
	    "data_dir = \"/srv/uns data\"\n"
	    "cert = \"/etc/\\\"odd\\\"\\\\name.pem\"\n"
	    "ca = /etc/ca.pem\n"
	    "require_client_cert = yes\n"
	    "contexts = 3\nworkers = 7\nmax_message = 1536\n"
	    "default_timeout = 1500\ndrain_linger = 45s\n"
	    "block_cache = 3G\ncommit_max_batch = 8\ncommit_max_wait = 1500\n"
	    "reclaim_interval = 3601\n"
	    "postgres_url = \"host=db # not a comment\"\n"
	    "jwt_key = a.pem\njwt_key = \"hs256:b c\"\n"
	    "jwt_audience = \"#aud\"\njwt_issuer = \" iss \"\n"
	    "jwt_clock_skew = 0\ntoken_max_bytes = 2K\n"
	    "max_body = 100K\nmax_raw_content = 1\nmax_title = 100\n"
	    "max_body_text = 1M\nmax_id = 64\nmax_live_per_user = 5\n"
	    "max_page_size = 7\ndefault_expiry = 1\nmax_expiry = 1h\n"
	    "subscription_lifetime = 61\n"
	    "gateway_listen = \"\"\ngateway_cert = g.pem\ngateway_key = "
	    "k.pem\n";
	static uns_config c, d;
	char why[WHY], *out;

	/* with the store backends' sections (block_cache, postgres_url) */
	uns_config_defaults(&c);
	assert_int_equal(uns_store_add_keys(&c), UNS_OK);
	if (parse(&c, text, why) != UNS_OK) {
		fail_msg("%s", why);
	}
	assert_string_equal(c.cert, "/etc/\"odd\"\\name.pem");
	out = dump(&c);
	uns_config_defaults(&d);
	assert_int_equal(uns_store_add_keys(&d), UNS_OK);
	if (parse(&d, out, why) != UNS_OK) {
		fail_msg("%s\n%s", why, out);
	}
	assert_memory_equal(&c, &d, sizeof(c)); /* both zero-filled alike */
	assert_non_null(strstr(out, "default_timeout = 1500ms\n"));
	assert_non_null(strstr(out, "commit_max_wait = 1500us\n"));
	assert_non_null(strstr(out, "block_cache = 3G\n"));
	assert_non_null(strstr(out, "jwt_key = \"hs256:b c\"\n"));
	free(out);
}

/* A subsystem's table: parsed, set and written with config.c's keys,
 * values apart from the core's; names may not clash; a configuration
 * without the table gives its defaults and refuses its keys unless told
 * to skip keys it does not know (uns-gateway). */
typedef struct sub_vals {
	char where[UNS_CONFIG_STR_MAX];
	int64_t ttl_s;
} sub_vals;

static const uns_config_key sub_keys[] = {
    UNS_CONFIG_KEY("sub", "sub_where", URL, sub_vals, where, 0, 100, "",
                   "Where."),
    UNS_CONFIG_KEY("sub", "sub_ttl", DURATION_S, sub_vals, ttl_s, 0, 3600, "1m",
                   "How long."),
};
static const uns_config_section sub_section = {sub_keys, 2, sizeof(sub_vals)};
static const uns_config_key clash_keys[] = {
    UNS_CONFIG_KEY("clash", "contexts", DURATION_S, sub_vals, ttl_s, 0, 1, "0",
                   "Taken."),
};
static const uns_config_section clash_section = {clash_keys, 1,
                                                 sizeof(sub_vals)};

static void
test_sections(void **state)
{
	static uns_config c, d;
	char why[WHY], *out = NULL;
	size_t len = 0;
	sub_vals v;
	FILE *f;

	(void)state;
	uns_config_defaults(&c);
	uns_config_values(&c, &sub_section, &v);
	assert_int_equal(v.ttl_s, 60);
	assert_int_equal(parse(&c, "sub_ttl = 2m\n", why), UNS_EINVAL);
	assert_string_equal(why, "line 1: unknown key \"sub_ttl\"");
	d = c;
	d.skip_unknown_keys = 1;
	assert_int_equal(parse(&d, "sub_ttl = 2m\ncontexts = 3\n", why),
	                 UNS_OK);
	assert_int_equal(d.contexts, 3);

	assert_int_equal(uns_config_add(&c, &sub_section), UNS_OK);
	assert_int_equal(uns_config_add(&c, &sub_section), UNS_OK);
	assert_int_equal(uns_config_add(&c, &clash_section), UNS_EINVAL);
	assert_int_equal(c.n_sections, 1);
	assert_int_equal(
	    parse(&c, "sub_ttl = 2m\nsub_where = https://x\ncontexts = 4\n",
	          why),
	    UNS_OK);
	assert_int_equal(uns_config_set(&c, "sub_ttl", "90", why, WHY), UNS_OK);
	assert_int_equal(uns_config_set(&c, "sub_ttl", "2h", why, WHY),
	                 UNS_EINVAL);
	assert_string_equal(why, "sub_ttl: expected a duration from 0 to 1h "
	                         "(bare number: seconds), got \"2h\"");
	assert_int_equal(parse(&c, "sub_tt = 1\n", why), UNS_EINVAL);
	assert_string_equal(
	    why, "line 1: unknown key \"sub_tt\" (did you mean \"sub_ttl\"?)");
	uns_config_values(&c, &sub_section, &v);
	assert_int_equal(v.ttl_s, 90);
	assert_string_equal(v.where, "https://x");
	assert_int_equal(c.contexts, 4);

	/* written with the rest, and read back to the same values */
	f = open_memstream(&out, &len);
	assert_non_null(f);
	uns_config_write(f, &c);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(out, "sub_ttl = 90s\n"));
	uns_config_defaults(&d);
	assert_int_equal(uns_config_add(&d, &sub_section), UNS_OK);
	assert_int_equal(uns_config_parse(&d, out, len, why, WHY), UNS_OK);
	uns_config_values(&d, &sub_section, &v);
	assert_int_equal(v.ttl_s, 90);
	free(out);
}

/* The store backends' keys are their own sections (uns_store_add_keys),
 * read back into each backend's settings; without them, the defaults. */
static void
test_store_keys(void **state)
{
	static uns_config c;
	uns_store_rocksdb_config rc;
	uns_store_postgres_config pc;
	uns_store_postgres_values pv;
	char why[WHY];

	(void)state;
	uns_config_defaults(&c);
	uns_store_rocksdb_config_get(&c, &rc);
	assert_int_equal(rc.block_cache_bytes, 64 << 20);
	assert_int_equal(parse(&c, "block_cache = 2G\n", why), UNS_EINVAL);
	assert_int_equal(uns_store_add_keys(&c), UNS_OK);
	assert_int_equal(parse(&c,
	                       "block_cache = 2gib\nwrite_buffer = 128M\n"
	                       "postgres_url = host=db\n"
	                       "postgres_connect_wait = 0\n",
	                       why),
	                 UNS_OK);
	uns_store_rocksdb_config_get(&c, &rc);
	assert_int_equal(rc.block_cache_bytes, 2LL << 30);
	assert_int_equal(rc.write_buffer_bytes, 128 << 20);
	uns_store_postgres_config_get(&c, &pv, &pc);
	assert_string_equal(pc.url, "host=db");
	assert_string_equal(pc.schema, "uns");
	assert_int_equal(pc.connections, 4);
	assert_int_equal(pc.statement_timeout_ms, 10000);
	assert_int_equal(pc.connect_wait_ms, -1); /* 0 = try once */
	assert_int_equal(parse(&c, "block_cache = 65G\n", why), UNS_EINVAL);
	assert_string_equal(
	    why, "line 1: block_cache: expected a size from 1M to 64G, got "
	         "\"65G\"");
}

static void
test_example_file(void **state)
{
	static uns_config c, d;
	char why[WHY], *want, *have;
	size_t len;

	want = example_output();
	have = read_file(UNS_SOURCE_DIR "/docs/unsd.conf.example", &len);
	assert_string_equal(have,
	                    want); /* regenerate: unsd --print-example-config >
	                              docs/unsd.conf.example */

	/* It sets every key, to its default, even over other values. */
	uns_config_defaults(&c);
	uns_config_defaults(&d);
	assert_int_equal(uns_push_add_keys(&c), UNS_OK);
	assert_int_equal(uns_push_add_keys(&d), UNS_OK);
	assert_int_equal(uns_store_add_keys(&c), UNS_OK);
	assert_int_equal(uns_store_add_keys(&d), UNS_OK);
	assert_int_equal(parse(&c,
	                       "contexts = 3\nlisten = tcp://x:1\n"
	                       "jwt_key = a.pem\njwt_issuer = me\n",
	                       why),
	                 UNS_OK);
	if (uns_config_parse(&c, have, len, why, sizeof(why)) != UNS_OK) {
		fail_msg("%s", why);
	}
	assert_same_config(&c, &d);

	/* Every line either comments or sets a key; no line too long. */
	for (char *line = have; *line != '\0';) {
		size_t n = strcspn(line, "\n");
		assert_true(n <= 80);
		line += n + (line[n] == '\n');
	}
	free(want);
	free(have);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_accepted),
	    cmocka_unit_test(test_rejected),
	    cmocka_unit_test(test_long_values),
	    cmocka_unit_test(test_nul_byte),
	    cmocka_unit_test(test_line_length),
	    cmocka_unit_test(test_crlf),
	    cmocka_unit_test(test_empty_text),
	    cmocka_unit_test(test_last_wins),
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_error_leaves_config),
	    cmocka_unit_test(test_set),
	    cmocka_unit_test(test_load),
	    cmocka_unit_test(test_write_round_trip),
	    cmocka_unit_test(test_sections),
	    cmocka_unit_test(test_store_keys),
	    cmocka_unit_test(test_example_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
