/*
 * test_metrics.c — the Prometheus registry: exact exposition text for
 * counters, gauges, histograms (cumulative buckets, +Inf, sum, count) and
 * function gauges; escaping; re-registration; bad names; the series cap;
 * updates from many threads add up.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "metrics.h"

static char *
exposition(uns_metrics *m)
{
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(uns_metrics_write(m, &text, &len), UNS_OK);
	assert_int_equal(strlen(text), len);
	return text;
}

static void
assert_contains(const char *text, const char *want)
{
	if (strstr(text, want) == NULL) {
		fail_msg("missing:\n%s\nin:\n%s", want, text);
	}
}

static void
test_counter_and_gauge_text(void **state)
{
	(void)state;
	uns_metrics *m;
	uns_metric *req, *inflight;
	const char *labels[] = {"route", "code"};
	assert_int_equal(uns_metrics_open(&m), UNS_OK);
	assert_int_equal(uns_metrics_counter(m, "uns_http_requests_total",
	                                     "HTTP requests.", labels, 2, &req),
	                 UNS_OK);
	assert_int_equal(uns_metrics_gauge(m, "uns_http_in_flight",
	                                   "Requests being served.", NULL, 0,
	                                   &inflight),
	                 UNS_OK);
	const char *a[] = {"POST /beta/me/notifications", "201"};
	const char *b[] = {"GET /healthz", "200"};
	uns_metric_add(req, a, 1);
	uns_metric_add(req, a, 2);
	uns_metric_add(req, b, 1);
	uns_metric_gauge_add(inflight, NULL, 3);
	uns_metric_gauge_add(inflight, NULL, -1);
	assert_true(uns_metric_value(req, a) == 3);
	assert_true(uns_metric_value(inflight, NULL) == 2);
	char *t = exposition(m);
	assert_string_equal(
	    t, "# HELP uns_http_requests_total HTTP requests.\n"
	       "# TYPE uns_http_requests_total counter\n"
	       "uns_http_requests_total{route=\"POST "
	       "/beta/me/notifications\",code=\"201\"} 3\n"
	       "uns_http_requests_total{route=\"GET /healthz\",code=\"200\"} "
	       "1\n"
	       "# HELP uns_http_in_flight Requests being served.\n"
	       "# TYPE uns_http_in_flight gauge\n"
	       "uns_http_in_flight 2\n"
	       "# HELP uns_metrics_dropped_series_total Updates dropped "
	       "because a family had too many series.\n"
	       "# TYPE uns_metrics_dropped_series_total counter\n"
	       "uns_metrics_dropped_series_total 0\n");
	free(t);
	uns_metric_gauge_set(inflight, NULL, 0.25);
	t = exposition(m);
	assert_contains(t, "\nuns_http_in_flight 0.25\n");
	free(t);
	uns_metrics_close(m);
}

static void
test_histogram_buckets_are_cumulative(void **state)
{
	(void)state;
	uns_metrics *m;
	uns_metric *h;
	const double bounds[] = {0.01, 0.1, 1};
	const char *labels[] = {"route"};
	const char *r[] = {"GET /x"};
	assert_int_equal(uns_metrics_open(&m), UNS_OK);
	assert_int_equal(uns_metrics_histogram(m, "lat_seconds", "Latency.",
	                                       labels, 1, bounds, 3, &h),
	                 UNS_OK);
	uns_metric_observe(h, r, 0.005); /* ≤ 0.01 */
	uns_metric_observe(h, r, 0.01);  /* ≤ 0.01: bounds are inclusive */
	uns_metric_observe(h, r, 0.5);   /* ≤ 1 */
	uns_metric_observe(h, r, 7);     /* +Inf only */
	char *t = exposition(m);
	assert_contains(t,
	                "# TYPE lat_seconds histogram\n"
	                "lat_seconds_bucket{route=\"GET /x\",le=\"0.01\"} 2\n"
	                "lat_seconds_bucket{route=\"GET /x\",le=\"0.1\"} 2\n"
	                "lat_seconds_bucket{route=\"GET /x\",le=\"1\"} 3\n"
	                "lat_seconds_bucket{route=\"GET /x\",le=\"+Inf\"} 4\n"
	                "lat_seconds_sum{route=\"GET /x\"} 7.515\n"
	                "lat_seconds_count{route=\"GET /x\"} 4\n");
	free(t);
	assert_true(uns_metric_value(h, r) == 4);
	uns_metrics_close(m);
}

static double
queue_depth(void *arg)
{
	return *(int *)arg;
}

static void
test_gauge_func_and_escaping(void **state)
{
	(void)state;
	uns_metrics *m;
	uns_metric *c;
	int depth = 17;
	const char *labels[] = {"reason"};
	const char *v[] = {"quote \" back \\ new\nline"};
	assert_int_equal(uns_metrics_open(&m), UNS_OK);
	assert_int_equal(uns_metrics_gauge_func(m, "uns_outbox_depth",
	                                        "Taps waiting.\nSecond line.",
	                                        queue_depth, &depth),
	                 UNS_OK);
	assert_int_equal(
	    uns_metrics_counter(m, "uns_fail_total", "F.", labels, 1, &c),
	    UNS_OK);
	uns_metric_add(c, v, 1);
	char *t = exposition(m);
	assert_contains(t, "# HELP uns_outbox_depth Taps waiting.\\nSecond "
	                   "line.\n# TYPE uns_outbox_depth gauge\n"
	                   "uns_outbox_depth 17\n");
	assert_contains(
	    t,
	    "uns_fail_total{reason=\"quote \\\" back \\\\ new\\nline\"} 1\n");
	free(t);
	depth = 3;
	t = exposition(m);
	assert_contains(t, "uns_outbox_depth 3\n");
	free(t);
	uns_metrics_close(m);
}

static void
test_registration_rules(void **state)
{
	(void)state;
	uns_metrics *m;
	uns_metric *a = NULL, *b = NULL;
	const char *l1[] = {"provider"}, *l2[] = {"route"};
	const char *bad_label[] = {"le"}, *bad_label2[] = {"__x"};
	const char *bad_label3[] = {"a-b"};
	const double up[] = {1, 2}, down[] = {2, 1};
	assert_int_equal(uns_metrics_open(&m), UNS_OK);
	assert_int_equal(uns_metrics_counter(m, "taps_total", "", l1, 1, &a),
	                 UNS_OK);
	/* Same shape again: the same family. */
	assert_int_equal(uns_metrics_counter(m, "taps_total", "", l1, 1, &b),
	                 UNS_OK);
	assert_ptr_equal(a, b);
	/* Another shape under the name: refused, out untouched. */
	b = NULL;
	assert_int_equal(uns_metrics_counter(m, "taps_total", "", l2, 1, &b),
	                 UNS_EINVAL);
	assert_int_equal(uns_metrics_gauge(m, "taps_total", "", l1, 1, &b),
	                 UNS_EINVAL);
	assert_null(b);
	assert_int_equal(uns_metrics_counter(m, "9bad", "", NULL, 0, &b),
	                 UNS_EINVAL);
	assert_int_equal(uns_metrics_counter(m, "bad name", "", NULL, 0, &b),
	                 UNS_EINVAL);
	assert_int_equal(uns_metrics_counter(m, "", "", NULL, 0, &b),
	                 UNS_EINVAL);
	assert_int_equal(uns_metrics_counter(m, "x", "", bad_label, 1, &b),
	                 UNS_EINVAL);
	assert_int_equal(uns_metrics_counter(m, "x", "", bad_label2, 1, &b),
	                 UNS_EINVAL);
	assert_int_equal(uns_metrics_counter(m, "x", "", bad_label3, 1, &b),
	                 UNS_EINVAL);
	assert_int_equal(
	    uns_metrics_histogram(m, "h", "", NULL, 0, down, 2, &b),
	    UNS_EINVAL);
	assert_int_equal(uns_metrics_histogram(m, "h", "", NULL, 0, up, 0, &b),
	                 UNS_EINVAL);
	assert_int_equal(
	    uns_metrics_histogram(m, "ns:h", "", NULL, 0, up, 2, &b), UNS_OK);
	assert_int_equal(uns_metrics_gauge_func(m, "f", "", NULL, NULL),
	                 UNS_EINVAL);
	uns_metrics_close(m);
}

static void
test_series_cap_drops_and_counts(void **state)
{
	(void)state;
	uns_metrics *m;
	uns_metric *c;
	const char *labels[] = {"id"};
	char id[32];
	assert_int_equal(uns_metrics_open(&m), UNS_OK);
	assert_int_equal(uns_metrics_counter(m, "c_total", "", labels, 1, &c),
	                 UNS_OK);
	for (int i = 0; i < UNS_METRICS_MAX_SERIES + 5; i++) {
		snprintf(id, sizeof(id), "%d", i);
		const char *v[] = {id};
		uns_metric_add(c, v, 1);
	}
	const char *first[] = {"0"};
	uns_metric_add(c, first, 1); /* existing series still count */
	assert_true(uns_metric_value(c, first) == 2);
	char *t = exposition(m);
	assert_contains(t, "\nuns_metrics_dropped_series_total 5\n");
	free(t);
	uns_metrics_close(m);
}

typedef struct hammer {
	uns_metric *c, *h;
} hammer;

static void *
hammer_run(void *arg)
{
	hammer *hm = arg;
	const char *v[] = {"GET /x", "200"};
	const char *r[] = {"GET /x"};
	for (int i = 0; i < 10000; i++) {
		uns_metric_add(hm->c, v, 1);
		uns_metric_observe(hm->h, r, 0.001);
	}
	return NULL;
}

static void
test_threads_add_up(void **state)
{
	(void)state;
	uns_metrics *m;
	hammer hm;
	const char *labels[] = {"route", "code"};
	const double bounds[] = {0.01};
	pthread_t th[4];
	assert_int_equal(uns_metrics_open(&m), UNS_OK);
	assert_int_equal(
	    uns_metrics_counter(m, "r_total", "", labels, 2, &hm.c), UNS_OK);
	assert_int_equal(
	    uns_metrics_histogram(m, "l", "", labels, 1, bounds, 1, &hm.h),
	    UNS_OK);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_create(&th[i], NULL, hammer_run, &hm),
		                 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
	}
	const char *v[] = {"GET /x", "200"};
	assert_true(uns_metric_value(hm.c, v) == 40000);
	char *t = exposition(m);
	assert_contains(t, "l_bucket{route=\"GET /x\",le=\"0.01\"} 40000\n");
	free(t);
	uns_metrics_close(m);
}

/* A label fed from a growing set stays bounded: the first cap values keep
 * their own series, later ones are "other". */
static void
test_capped_label(void **state)
{
	uns_metrics_capped *c = NULL, *none = NULL;
	(void)state;
	assert_int_equal(uns_metrics_capped_open(&c, 2), UNS_OK);
	assert_string_equal(uns_metrics_capped_label(c, "a.example"),
	                    "a.example");
	assert_string_equal(uns_metrics_capped_label(c, "b.example"),
	                    "b.example");
	assert_string_equal(uns_metrics_capped_label(c, "c.example"), "other");
	assert_string_equal(uns_metrics_capped_label(c, "a.example"),
	                    "a.example");
	assert_string_equal(uns_metrics_capped_label(c, NULL), "other");
	assert_string_equal(uns_metrics_capped_label(NULL, "a"), "other");
	/* The label is the set's copy: the caller's buffer may change. */
	char buf[16] = "b.example";
	const char *l = uns_metrics_capped_label(c, buf);
	buf[0] = 'x';
	assert_string_equal(l, "b.example");
	uns_metrics_capped_close(c);
	assert_int_equal(uns_metrics_capped_open(&none, 0), UNS_OK);
	assert_string_equal(uns_metrics_capped_label(none, "a"), "other");
	uns_metrics_capped_close(none);
	uns_metrics_capped_close(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counter_and_gauge_text),
	    cmocka_unit_test(test_histogram_buckets_are_cumulative),
	    cmocka_unit_test(test_gauge_func_and_escaping),
	    cmocka_unit_test(test_registration_rules),
	    cmocka_unit_test(test_series_cap_drops_and_counts),
	    cmocka_unit_test(test_threads_add_up),
	    cmocka_unit_test(test_capped_label),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
