/*
 * test_ssrf.c — the SSRF table: which addresses a push endpoint may reach
 * (server/push/push.c, push.h uns_push_addr_allowed), with
 * push_allow_private off and on, and the same rule applied to endpoint URLs
 * with address literals at subscribe time.
 *
 * Then DNS: a fake resolver plays names with several addresses and a
 * resolver that fails for now, at subscribe time and at connect time
 * (uns_push_pin, the entry the engine pins each transfer to; the engine's
 * use of it is test_delivery's t_dns_rebinding).
 *
 * Each row is an address, whether it is reachable in production, and
 * whether the testing knob (push_allow_private) opens it: the knob opens
 * loopback (127.0.0.0/8, ::1) and nothing else. IPv6 forms that carry an
 * IPv4 address (mapped, IPv4-compatible, SIIT, 6to4, NAT64 and its
 * local-use prefix) must not smuggle a private one past the IPv4 rows.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "push.h"
#include "push_impl.h"
#include "testutil.h"

#define WHY 512

static char dir[64];
static uns_push_config *strict, *lax;

static uns_push_config *
make_cfg(bool allow_private)
{
	static uns_config c;
	uns_push_config *p = NULL;
	char why[WHY];

	uns_config_defaults(&c);
	assert_int_equal(uns_push_add_keys(&c), UNS_OK);
	assert_int_equal(uns_config_set(&c, "data_dir", dir, why, WHY), UNS_OK);
	assert_int_equal(uns_config_set(&c, "push_allow_private",
	                                allow_private ? "true" : "false", why,
	                                WHY),
	                 UNS_OK);
	if (uns_push_config_alloc(&p, &c, why, WHY) != UNS_OK) {
		fail_msg("uns_push_config_alloc: %s", why);
	}
	return p;
}

static int
setup(void **state)
{
	(void)state;
	ut_mkdtemp(dir, sizeof(dir));
	strict = make_cfg(false);
	lax = make_cfg(true);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	uns_push_config_free(strict);
	uns_push_config_free(lax);
	ut_rmdir(dir);
	return 0;
}

/* The SSRF table. */
static const struct {
	const char *addr;
	bool open;    /* reachable with push_allow_private off */
	bool testing; /* reachable with it on */
} table[] = {
    /* IPv4 */
    {"8.8.8.8", true, true},
    {"93.184.216.34", true, true},
    {"172.32.0.1", true, true},
    {"127.0.0.1", false, true},
    {"127.255.0.9", false, true},
    {"10.1.2.3", false, false},
    {"172.16.0.1", false, false},
    {"172.31.255.255", false, false},
    {"192.168.1.1", false, false},
    {"169.254.169.254", false, false},
    {"169.254.0.1", false, false},
    {"100.64.0.1", false, false},
    {"0.0.0.0", false, false},
    {"0.1.2.3", false, false},
    {"192.0.0.8", false, false},
    {"192.0.2.1", false, false},
    {"198.18.0.1", false, false},
    {"224.0.0.1", false, false},
    {"240.0.0.1", false, false},
    {"255.255.255.255", false, false},
    /* IPv6 */
    {"2606:4700::1111", true, true},
    {"2a00:1450:4001::200e", true, true},
    {"::1", false, true},
    {"::", false, false},
    {"fe80::1", false, false},
    {"fc00::1", false, false},
    {"fd12:3456::1", false, false},
    {"fec0::1", false, false},
    {"ff02::1", false, false},
    {"2001:db8::1", false, false},
    {"100::1", false, false},
    /* IPv4-mapped: the address itself */
    {"::ffff:8.8.8.8", true, true},
    {"::ffff:127.0.0.1", false, true},
    {"::ffff:10.0.0.1", false, false},
    {"::ffff:169.254.169.254", false, false},
    /* IPv4-compatible (deprecated, RFC 4291): none */
    {"::10.0.0.1", false, false},
    {"::127.0.0.1", false, false},
    {"::169.254.169.254", false, false},
    {"::192.168.0.1", false, false},
    {"::8.8.8.8", false, false},
    /* IPv4-translated (SIIT, RFC 2765) */
    {"::ffff:0:10.0.0.1", false, false},
    {"::ffff:0:169.254.169.254", false, false},
    /* 6to4 (RFC 3056): 2002:V4ADDR::/48 */
    {"2002:808:808::1", true, true},
    {"2002:a00:1::1", false, false},
    {"2002:a9fe:a9fe::", false, false},
    {"2002:7f00:1::1", false, false},
    {"2002:c0a8:101::1", false, false},
    /* NAT64 well-known prefix (RFC 6052) */
    {"64:ff9b::808:808", true, true},
    {"64:ff9b::a00:1", false, false},
    {"64:ff9b::a9fe:a9fe", false, false},
    {"64:ff9b::7f00:1", false, false},
    /* NAT64 local-use prefix (RFC 8215): a private network's */
    {"64:ff9b:1::808:808", false, false},
    {"64:ff9b:1::a00:1", false, false},
    {"64:ff9b:1:a9fe:a9fe::", false, false},
    /* Teredo: none */
    {"2001:0:4136:e378:8000:63bf:3fff:fdd2", false, false},
};

static bool
allowed(const uns_push_config *cfg, const char *ip)
{
	struct sockaddr_in in4 = {.sin_family = AF_INET};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};

	if (inet_pton(AF_INET, ip, &in4.sin_addr) == 1) {
		return uns_push_addr_allowed(cfg, (struct sockaddr *)&in4);
	}
	assert_int_equal(inet_pton(AF_INET6, ip, &in6.sin6_addr), 1);
	return uns_push_addr_allowed(cfg, (struct sockaddr *)&in6);
}

static void
t_table(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		bool s = allowed(strict, table[i].addr);
		bool l = allowed(lax, table[i].addr);
		if (s != table[i].open || l != table[i].testing) {
			print_error("%s: allowed %d, with push_allow_private "
			            "%d; want %d, %d\n",
			            table[i].addr, s, l, table[i].open,
			            table[i].testing);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Subscribe time: a webhook at each refused address literal is refused
 * with the reason, naming pushChannel. */
static void
t_subscribe(void **state)
{
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEBHOOK);
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		Uns__V1__Subscription sub = UNS__V1__SUBSCRIPTION__INIT;
		const char *a = table[i].addr, *field = NULL;
		char url[128], why[WHY] = "";
		uns_err err;

		snprintf(url, sizeof(url),
		         strchr(a, ':') ? "https://[%s]/h" : "https://%s/h", a);
		sub.platform = UNS__V1__PLATFORM__PLATFORM_WEBHOOK;
		sub.push_channel = url;
		err = ops->check(strict, &sub, &field, why, sizeof(why));
		if ((err == UNS_OK) != table[i].open ||
		    (err != UNS_OK && (strstr(why, "private") == NULL ||
		                       strcmp(field, "pushChannel") != 0))) {
			print_error("%s: %d \"%s\"\n", url, err, why);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* A resolver that knows a few names, each with its addresses. */
static const struct {
	const char *name;
	const char *addrs[3];
} names[] = {
    {"two.test", {"93.184.216.34", "2606:4700::1111"}},
    {"mixed.test", {"93.184.216.34", "10.0.0.1"}},
    {"hidden.test", {"2606:4700::1111", "::ffff:169.254.169.254"}},
    {"meta.test", {"169.254.169.254"}},
    {"lo.test", {"127.0.0.1", "::1"}},
};

static int
fake_resolve(void *arg, const char *host, struct sockaddr_storage *out,
             size_t cap, size_t *n)
{
	(void)arg;
	if (strcmp(host, "again.test") == 0) {
		return EAI_AGAIN;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(host, names[i].name) != 0) {
			continue;
		}
		*n = 0;
		for (size_t k = 0; k < 3 && names[i].addrs[k] && *n < cap;
		     k++) {
			struct sockaddr_in *in = (struct sockaddr_in *)&out[*n];
			struct sockaddr_in6 *in6 =
			    (struct sockaddr_in6 *)&out[*n];
			memset(&out[*n], 0, sizeof(out[*n]));
			if (inet_pton(AF_INET, names[i].addrs[k],
			              &in->sin_addr) == 1) {
				in->sin_family = AF_INET;
			} else {
				assert_int_equal(inet_pton(AF_INET6,
				                           names[i].addrs[k],
				                           &in6->sin6_addr),
				                 1);
				in6->sin6_family = AF_INET6;
			}
			(*n)++;
		}
		return 0;
	}
	return EAI_NONAME;
}

/* uns_push_pin(cfg, url): the entry, or the error and a fragment of why. */
static void
expect_pin(uns_push_config *cfg, const char *url, uns_err want,
           const char *text)
{
	char why[WHY] = "", *entry = NULL;
	uns_err err;

	cfg->resolve = fake_resolve;
	err = uns_push_pin(cfg, url, &entry, why, sizeof(why));
	cfg->resolve = NULL;
	if (err != want || (err == UNS_OK && strcmp(entry, text) != 0) ||
	    (err != UNS_OK && strstr(why, text) == NULL)) {
		fail_msg("%s: %d \"%s\" \"%s\", want %d \"%s\"", url, err,
		         entry ? entry : "", why, want, text);
	}
	free(entry);
}

/* Connect time: every address the name has now is checked, and the
 * transfer is pinned to them. */
static void
t_pin(void **state)
{
	(void)state;
	expect_pin(strict, "https://two.test/x", UNS_OK,
	           "two.test:443:93.184.216.34,[2606:4700::1111]");
	expect_pin(strict, "https://two.test:8443/x?y", UNS_OK,
	           "two.test:8443:93.184.216.34,[2606:4700::1111]");
	expect_pin(strict, "http://two.test/x", UNS_OK,
	           "two.test:80:93.184.216.34,[2606:4700::1111]");
	expect_pin(strict, "https://93.184.216.34/x", UNS_OK,
	           "93.184.216.34:443:93.184.216.34");
	expect_pin(strict, "https://mixed.test/x", UNS_INVALID_ARGUMENT,
	           "resolves to 10.0.0.1");
	expect_pin(strict, "https://hidden.test/x", UNS_INVALID_ARGUMENT,
	           "::ffff:169.254.169.254");
	expect_pin(strict, "https://lo.test/x", UNS_INVALID_ARGUMENT,
	           "127.0.0.1");
	expect_pin(lax, "https://lo.test/x", UNS_OK,
	           "lo.test:443:127.0.0.1,[::1]");
	expect_pin(lax, "https://meta.test/x", UNS_INVALID_ARGUMENT,
	           "169.254.169.254");
	expect_pin(lax, "https://mixed.test/x", UNS_INVALID_ARGUMENT,
	           "10.0.0.1");
	expect_pin(strict, "https://again.test/x", UNS_UNAVAILABLE,
	           "does not resolve");
	expect_pin(strict, "https://nowhere.test/x", UNS_INVALID_ARGUMENT,
	           "does not resolve");
	expect_pin(strict, "https://[::10.0.0.1]/x", UNS_INVALID_ARGUMENT,
	           "::10.0.0.1");
}

/* A resolver whose one name moves: calls counted, answer set by the
 * test. */
static int resolved;
static const char *moving_to;

static int
moving_resolve(void *arg, const char *host, struct sockaddr_storage *out,
               size_t cap, size_t *n)
{
	struct sockaddr_in *in = (struct sockaddr_in *)out;

	(void)arg;
	(void)cap;
	resolved++;
	if (strcmp(host, "moving.test") != 0) {
		return EAI_NONAME;
	}
	memset(out, 0, sizeof(*out));
	in->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, moving_to, &in->sin_addr), 1);
	*n = 1;
	return 0;
}

/* push_dns_cache: a pin serves its host for that long, so a name that
 * moves to a private address within it still gets requests only at the
 * address checked before; with 0 every request resolves and checks. */
static void
t_pin_reuse(void **state)
{
	static uns_config c;
	uns_push_config *reuse = NULL, *each = NULL;
	char why[WHY], *e1 = NULL, *e2 = NULL;

	(void)state;
	uns_config_defaults(&c);
	assert_int_equal(uns_push_add_keys(&c), UNS_OK);
	assert_int_equal(uns_config_set(&c, "data_dir", dir, why, WHY), UNS_OK);
	assert_int_equal(uns_push_config_alloc(&reuse, &c, why, WHY), UNS_OK);
	assert_int_equal(uns_config_set(&c, "push_dns_cache", "0", why, WHY),
	                 UNS_OK);
	assert_int_equal(uns_push_config_alloc(&each, &c, why, WHY), UNS_OK);
	reuse->resolve = each->resolve = moving_resolve;

	moving_to = "93.184.216.34";
	resolved = 0;
	assert_int_equal(
	    uns_push_pin(reuse, "https://moving.test/a", &e1, why, WHY),
	    UNS_OK);
	moving_to = "169.254.169.254";
	assert_int_equal(
	    uns_push_pin(reuse, "https://moving.test/b", &e2, why, WHY),
	    UNS_OK);
	assert_int_equal(resolved, 1);
	assert_string_equal(e1, "moving.test:443:93.184.216.34");
	assert_string_equal(e2, e1);
	free(e1);
	free(e2);

	moving_to = "93.184.216.34";
	resolved = 0;
	assert_int_equal(
	    uns_push_pin(each, "https://moving.test/a", &e1, why, WHY), UNS_OK);
	moving_to = "169.254.169.254";
	assert_int_equal(
	    uns_push_pin(each, "https://moving.test/b", &e2, why, WHY),
	    UNS_INVALID_ARGUMENT);
	assert_int_equal(resolved, 2);
	assert_non_null(strstr(why, "169.254.169.254"));
	free(e1);
	uns_push_config_free(reuse);
	uns_push_config_free(each);
}

/* Subscribe time: a name with one refused address among public ones is
 * refused. */
static void
t_subscribe_names(void **state)
{
	static const struct {
		const char *url;
		bool ok;
	} rows[] = {
	    {"https://two.test/h", true},     {"https://mixed.test/h", false},
	    {"https://hidden.test/h", false}, {"https://meta.test/h", false},
	    {"https://again.test/h", false},
	};
	const uns_push_transport_ops *ops =
	    uns_push_find(UNS__V1__PLATFORM__PLATFORM_WEBHOOK);

	(void)state;
	lax->resolve = fake_resolve;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		Uns__V1__Subscription sub = UNS__V1__SUBSCRIPTION__INIT;
		const char *field = NULL;
		char why[WHY] = "";
		uns_err err;

		sub.platform = UNS__V1__PLATFORM__PLATFORM_WEBHOOK;
		sub.push_channel = (char *)rows[i].url;
		err = ops->check(lax, &sub, &field, why, sizeof(why));
		if ((err == UNS_OK) != rows[i].ok ||
		    (err != UNS_OK && err != UNS_INVALID_ARGUMENT)) {
			lax->resolve = NULL;
			fail_msg("%s: %d \"%s\"", rows[i].url, err, why);
		}
	}
	lax->resolve = NULL;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_table),
	    cmocka_unit_test(t_subscribe),
	    cmocka_unit_test(t_pin),
	    cmocka_unit_test(t_pin_reuse),
	    cmocka_unit_test(t_subscribe_names),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
