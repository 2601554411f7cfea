/*
 * test_hint.c — the wake-up hint between nodes (server/cluster): its bytes
 * (a round trip, every malformed shape refused, the subject's bucket), and
 * the handle with no NATS server to reach: it opens at once (unsd serves
 * without NATS), says it is not connected, keeps hints off the writer
 * (the queue's cap drops and counts instead of growing or blocking), and
 * closes promptly. Hints between two real nodes: test_cluster.c.
 *
 * Seen failing: with the decoder not checking the flags byte (an unknown
 * flag was accepted), and with the queue uncapped (nothing was counted as
 * dropped).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hint.h"
#include "hint_wire.h"
#include "testutil.h"

static void
test_wire(void **state)
{
	uint8_t b[UNS_HINT_MAX];
	uns_hint_msg m;
	(void)state;
	size_t n = uns_hint_encode("alice", "contoso.example.com",
	                           0x0102030405060708ULL, 1, b, sizeof(b));
	assert_int_equal(n, UNS_HINT_HEADER + 5 + 19);
	assert_int_equal(uns_hint_decode(b, n, &m), UNS_OK);
	assert_string_equal(m.user, "alice");
	assert_string_equal(m.host, "contoso.example.com");
	assert_true(m.head == 0x0102030405060708ULL);
	assert_int_equal(m.taps, 1);

	/* Refused, m untouched: short, wrong version, unknown flag, a user
	 * longer than the message, an empty host, a NUL inside. */
	memset(&m, 0x5a, sizeof(m));
	assert_int_equal(uns_hint_decode(b, UNS_HINT_HEADER - 1, &m),
	                 UNS_EINVAL);
	b[0] = 2;
	assert_int_equal(uns_hint_decode(b, n, &m), UNS_EINVAL);
	b[0] = UNS_HINT_VERSION;
	b[1] = 3;
	assert_int_equal(uns_hint_decode(b, n, &m), UNS_EINVAL);
	b[1] = 0;
	b[11] = 30; /* user length past the end */
	assert_int_equal(uns_hint_decode(b, n, &m), UNS_EINVAL);
	b[11] = 24; /* the user takes it all: no host */
	assert_int_equal(uns_hint_decode(b, n, &m), UNS_EINVAL);
	b[11] = 5;
	b[UNS_HINT_HEADER + 2] = '\0';
	assert_int_equal(uns_hint_decode(b, n, &m), UNS_EINVAL);
	assert_int_equal((unsigned char)m.user[0], 0x5a);

	/* Nothing to encode, or too long. */
	char big[UNS_HINT_FIELD_MAX + 1];
	memset(big, 'u', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(uns_hint_encode("", "h", 1, 0, b, sizeof(b)), 0);
	assert_int_equal(uns_hint_encode(big, "h", 1, 0, b, sizeof(b)), 0);

	/* One user, one subject, whatever the host; buckets in range. */
	char s1[UNS_HINT_SUBJECT_MAX], s2[UNS_HINT_SUBJECT_MAX];
	uns_hint_subject("alice", s1);
	uns_hint_subject("alice", s2);
	assert_string_equal(s1, s2);
	assert_int_equal(strncmp(s1, "uns.feed.", 9), 0);
	assert_true(atoi(s1 + 9) >= 0 && atoi(s1 + 9) < UNS_HINT_BUCKETS);
}

/* No server on the port: open returns at once, not connected; publishing
 * never blocks, and past the queue's cap it drops and counts. */
static void
test_no_server(void **state)
{
	uns_hint *h;
	uns_hint_stats st;
	(void)state;
	/* Port 1 on loopback: nothing listens there. */
	uns_hint_config hc = {.url = "nats://127.0.0.1:1", .queue = 4};
	double t0 = ut_now_ms();
	assert_int_equal(uns_hint_open(&h, &hc), UNS_OK);
	assert_true(ut_now_ms() - t0 < 5000);
	assert_int_equal(uns_hint_connected(h), 0);
	t0 = ut_now_ms();
	for (int i = 0; i < 1000; i++) {
		uns_hint_publish(h, "alice", "contoso.example.com", (uint64_t)i,
		                 0);
	}
	assert_true(ut_now_ms() - t0 < 5000);
	uns_hint_stats_get(h, &st);
	printf("queued or sent %llu, dropped at the queue %llu, refused "
	       "%llu\n",
	       (unsigned long long)st.published,
	       (unsigned long long)st.dropped_queue,
	       (unsigned long long)st.dropped_publish);
	assert_true(st.dropped_queue > 0);
	/* The rest is still queued, or being handed to libnats. */
	assert_true(st.published + st.dropped_queue + st.dropped_publish <=
	            1000);
	t0 = ut_now_ms();
	uns_hint_close(h);
	assert_true(ut_now_ms() - t0 < 5000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wire),
	    cmocka_unit_test(test_no_server),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
