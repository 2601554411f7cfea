/*
 * metrics.h — a small Prometheus registry: counters, gauges and histograms
 * with labels, written in the text exposition format (version 0.0.4) for
 * GET /metrics.
 *
 * Any module registers its own families on the one registry unsd owns
 * (the gateway: requests by route and code, latency, in-flight, RPC
 * errors by status; the delivery engine: taps and failures per provider,
 * dead subscriptions), so there are no module globals to reach into.
 *
 * Conventions:
 *  1. A family is a name, help text, type, up to UNS_METRICS_MAX_LABELS
 *     label names and, for histograms, bucket bounds. Registering a name
 *     again with the same type and labels returns the family already
 *     there (modules may register at open without coordinating); another
 *     shape under that name is UNS_EINVAL, as is a name or label name that
 *     Prometheus would not accept.
 *  2. A series is one tuple of label values, created on first use. Values
 *     are escaped when written. A family holds at most
 *     UNS_METRICS_MAX_SERIES series; updates to further new tuples are
 *     dropped and counted (uns_metrics_dropped_series_total), so a label
 *     fed from input cannot eat the memory. Feed labels from closed sets
 *     (route templates, status names), never from paths or ids.
 *  3. Families live as long as the registry; handles stay valid until
 *     uns_metrics_close. Updates and writes are thread-safe (one mutex per
 *     family); updating costs a lock and a scan of the family's series.
 *  4. Label values are passed as an array of n_labels strings in the order
 *     of the family's label names (NULL when the family has none).
 */
#ifndef UNS_METRICS_H
#define UNS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "uns/uns.h"

#define UNS_METRICS_MAX_LABELS  4
#define UNS_METRICS_MAX_BUCKETS 32
#define UNS_METRICS_MAX_SERIES  4096

typedef struct uns_metrics uns_metrics;
typedef struct uns_metric uns_metric; /* one family */

uns_err uns_metrics_open(uns_metrics **out);
/* Frees the registry and every family; NULL is fine. */
void uns_metrics_close(uns_metrics *m);

/* Monotonic counters. */
uns_err uns_metrics_counter(uns_metrics *m, const char *name, const char *help,
                            const char *const *labels, size_t n_labels,
                            uns_metric **out);
/* Gauges: a value that goes up and down. */
uns_err uns_metrics_gauge(uns_metrics *m, const char *name, const char *help,
                          const char *const *labels, size_t n_labels,
                          uns_metric **out);
/* Histograms with the given upper bounds (strictly increasing, at most
 * UNS_METRICS_MAX_BUCKETS; +Inf is implied). */
uns_err uns_metrics_histogram(uns_metrics *m, const char *name,
                              const char *help, const char *const *labels,
                              size_t n_labels, const double *bounds,
                              size_t n_bounds, uns_metric **out);
/* A gauge without labels whose value fn(arg) gives at write time (queue
 * depths, store sizes). fn must be thread-safe and must not block. */
uns_err uns_metrics_gauge_func(uns_metrics *m, const char *name,
                               const char *help, double (*fn)(void *arg),
                               void *arg);

/* Counter += n. */
void uns_metric_add(uns_metric *c, const char *const *values, uint64_t n);
/* Gauge += delta (negative to go down). */
void uns_metric_gauge_add(uns_metric *g, const char *const *values,
                          double delta);
void uns_metric_gauge_set(uns_metric *g, const char *const *values, double v);
/* Histogram: one observation. */
void uns_metric_observe(uns_metric *h, const char *const *values, double v);

/*
 * The value of one series for tests: a counter's count, a gauge's value,
 * a histogram's observation count; 0 when the series does not exist.
 */
double uns_metric_value(uns_metric *f, const char *const *values);

/*
 * A capped label: the first cap distinct values of a label fed from a set
 * that grows (the hosts of apps) keep their own series; every value after
 * them is UNS_METRICS_OTHER, so the family's size stays bounded by cap + 1
 * per other label. Thread-safe; values returned live as long as the set.
 */
#define UNS_METRICS_OTHER "other"

typedef struct uns_metrics_capped uns_metrics_capped;

uns_err uns_metrics_capped_open(uns_metrics_capped **out, size_t cap);
void uns_metrics_capped_close(uns_metrics_capped *c);
/* value's own label (a copy) if it is among the first cap seen, else
 * UNS_METRICS_OTHER (also when out of memory, or for NULL). */
const char *uns_metrics_capped_label(uns_metrics_capped *c, const char *value);

/*
 * Writes every family, in registration order, in the text exposition
 * format: *text is malloc'd and NUL-terminated (the caller frees it),
 * *len its length. UNS_ENOMEM.
 */
uns_err uns_metrics_write(uns_metrics *m, char **text, size_t *len);

/* The Content-Type of that text. */
#define UNS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif /* UNS_METRICS_H */
