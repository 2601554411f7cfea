/*
 * metrics.c — see metrics.h.
 *
 * A family keeps its series in an array scanned linearly under the
 * family's mutex: families here have tens of series (routes × codes), so
 * a scan of short string compares beats a hash table in code and in time.
 * Histogram buckets are stored per bucket and made cumulative when
 * written. Rejected: lock-free atomics per series (the series lookup needs
 * the lock anyway) and a global lock (the delivery engine and the gateway
 * update different families from different threads).
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

typedef enum metric_kind {
	KIND_COUNTER,
	KIND_GAUGE,
	KIND_HISTOGRAM,
	KIND_GAUGE_FUNC,
} metric_kind;

static const char *const kind_names[] = {
    [KIND_COUNTER] = "counter",
    [KIND_GAUGE] = "gauge",
    [KIND_HISTOGRAM] = "histogram",
    [KIND_GAUGE_FUNC] = "gauge",
};

typedef struct series {
	char *values[UNS_METRICS_MAX_LABELS];
	uint64_t count; /* counter value; histogram observations */
	double value;   /* gauge value; histogram sum */
	uint64_t buckets[UNS_METRICS_MAX_BUCKETS]; /* per bucket, not summed */
} series;

struct uns_metric {
	uns_metric *next;
	uns_metrics *reg;
	metric_kind kind;
	char *name, *help;
	char *labels[UNS_METRICS_MAX_LABELS];
	size_t n_labels;
	double bounds[UNS_METRICS_MAX_BUCKETS];
	size_t n_bounds;
	double (*fn)(void *arg);
	void *arg;
	pthread_mutex_t mu;
	series **series;
	size_t n_series, cap_series;
};

struct uns_metrics {
	pthread_mutex_t mu;
	uns_metric *head, *tail;
	atomic_uint_fast64_t dropped;
};

/* ---- names ------------------------------------------------------------- */

static int
name_ok(const char *s, int colons)
{
	if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9')) {
		return 0;
	}
	for (const char *p = s; *p; p++) {
		int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		         (*p >= '0' && *p <= '9') || *p == '_' ||
		         (colons && *p == ':');
		if (!ok) {
			return 0;
		}
	}
	/* "__" label names are Prometheus's own. */
	return colons || strncmp(s, "__", 2) != 0;
}

/* ---- registry ------------------------------------------------------------ */

uns_err
uns_metrics_open(uns_metrics **out)
{
	uns_metrics *m = calloc(1, sizeof(*m));
	if (m == NULL) {
		return UNS_ENOMEM;
	}
	pthread_mutex_init(&m->mu, NULL);
	*out = m;
	return UNS_OK;
}

static void
free_series(series *s, size_t n_labels)
{
	for (size_t i = 0; s && i < n_labels; i++) {
		free(s->values[i]);
	}
	free(s);
}

static void
free_family(uns_metric *f)
{
	if (f == NULL) {
		return;
	}
	for (size_t i = 0; i < f->n_series; i++) {
		free_series(f->series[i], f->n_labels);
	}
	for (size_t i = 0; i < f->n_labels; i++) {
		free(f->labels[i]);
	}
	pthread_mutex_destroy(&f->mu);
	free(f->series);
	free(f->name);
	free(f->help);
	free(f);
}

void
uns_metrics_close(uns_metrics *m)
{
	if (m == NULL) {
		return;
	}
	for (uns_metric *f = m->head, *next; f; f = next) {
		next = f->next;
		free_family(f);
	}
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static uns_metric *
find_family(uns_metrics *m, const char *name)
{
	for (uns_metric *f = m->head; f; f = f->next) {
		if (strcmp(f->name, name) == 0) {
			return f;
		}
	}
	return NULL;
}

/* Same type, labels and bounds: registering again returns it. */
static int
same_shape(const uns_metric *a, const uns_metric *b)
{
	if (a->kind != b->kind || a->n_labels != b->n_labels ||
	    a->n_bounds != b->n_bounds || a->kind == KIND_GAUGE_FUNC) {
		return 0;
	}
	for (size_t i = 0; i < a->n_labels; i++) {
		if (strcmp(a->labels[i], b->labels[i]) != 0) {
			return 0;
		}
	}
	for (size_t i = 0; i < a->n_bounds; i++) {
		if (a->bounds[i] != b->bounds[i]) {
			return 0;
		}
	}
	return 1;
}

static uns_err
check_shape(const char *name, const char *const *labels, size_t n_labels,
            const double *bounds, size_t n_bounds)
{
	if (!name_ok(name, 1) || n_labels > UNS_METRICS_MAX_LABELS ||
	    n_bounds > UNS_METRICS_MAX_BUCKETS) {
		return UNS_EINVAL;
	}
	for (size_t i = 0; i < n_labels; i++) {
		if (!name_ok(labels[i], 0) || strcmp(labels[i], "le") == 0) {
			return UNS_EINVAL;
		}
	}
	for (size_t i = 0; i < n_bounds; i++) {
		if (!isfinite(bounds[i]) ||
		    (i > 0 && bounds[i] <= bounds[i - 1])) {
			return UNS_EINVAL;
		}
	}
	return UNS_OK;
}

static uns_metric *
new_family(metric_kind kind, const char *name, const char *help,
           const char *const *labels, size_t n_labels, const double *bounds,
           size_t n_bounds)
{
	uns_metric *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		return NULL;
	}
	pthread_mutex_init(&f->mu, NULL);
	f->kind = kind;
	f->name = strdup(name);
	f->help = strdup(help ? help : "");
	int ok = f->name != NULL && f->help != NULL;
	for (size_t i = 0; i < n_labels; i++, f->n_labels++) {
		ok = ok && (f->labels[i] = strdup(labels[i])) != NULL;
	}
	if (n_bounds > 0) {
		memcpy(f->bounds, bounds, n_bounds * sizeof(*bounds));
	}
	f->n_bounds = n_bounds;
	if (!ok) {
		free_family(f);
		return NULL;
	}
	return f;
}

static uns_err
add_family(uns_metrics *m, uns_metric *f, uns_metric **out)
{
	uns_err err = UNS_OK;
	pthread_mutex_lock(&m->mu);
	uns_metric *old = find_family(m, f->name);
	if (old != NULL) {
		err = same_shape(old, f) ? UNS_OK : UNS_EINVAL;
		free_family(f);
		f = old;
	} else {
		f->reg = m;
		if (m->tail) {
			m->tail->next = f;
		} else {
			m->head = f;
		}
		m->tail = f;
	}
	pthread_mutex_unlock(&m->mu);
	if (err == UNS_OK && out != NULL) {
		*out = f;
	}
	return err;
}

static uns_err
register_family(uns_metrics *m, metric_kind kind, const char *name,
                const char *help, const char *const *labels, size_t n_labels,
                const double *bounds, size_t n_bounds, uns_metric **out)
{
	uns_err err = check_shape(name, labels, n_labels, bounds, n_bounds);
	if (err != UNS_OK) {
		return err;
	}
	uns_metric *f =
	    new_family(kind, name, help, labels, n_labels, bounds, n_bounds);
	if (f == NULL) {
		return UNS_ENOMEM;
	}
	return add_family(m, f, out);
}

uns_err
uns_metrics_counter(uns_metrics *m, const char *name, const char *help,
                    const char *const *labels, size_t n_labels,
                    uns_metric **out)
{
	return register_family(m, KIND_COUNTER, name, help, labels, n_labels,
	                       NULL, 0, out);
}

uns_err
uns_metrics_gauge(uns_metrics *m, const char *name, const char *help,
                  const char *const *labels, size_t n_labels, uns_metric **out)
{
	return register_family(m, KIND_GAUGE, name, help, labels, n_labels,
	                       NULL, 0, out);
}

uns_err
uns_metrics_histogram(uns_metrics *m, const char *name, const char *help,
                      const char *const *labels, size_t n_labels,
                      const double *bounds, size_t n_bounds, uns_metric **out)
{
	if (n_bounds == 0) {
		return UNS_EINVAL;
	}
	return register_family(m, KIND_HISTOGRAM, name, help, labels, n_labels,
	                       bounds, n_bounds, out);
}

uns_err
uns_metrics_gauge_func(uns_metrics *m, const char *name, const char *help,
                       double (*fn)(void *arg), void *arg)
{
	if (fn == NULL || check_shape(name, NULL, 0, NULL, 0) != UNS_OK) {
		return UNS_EINVAL;
	}
	uns_metric *f =
	    new_family(KIND_GAUGE_FUNC, name, help, NULL, 0, NULL, 0);
	if (f == NULL) {
		return UNS_ENOMEM;
	}
	f->fn = fn;
	f->arg = arg;
	return add_family(m, f, NULL);
}

/* ---- series ------------------------------------------------------------- */

static series *
find_series(const uns_metric *f, const char *const *values)
{
	for (size_t i = 0; i < f->n_series; i++) {
		series *s = f->series[i];
		size_t j = 0;
		while (j < f->n_labels &&
		       strcmp(s->values[j], values[j]) == 0) {
			j++;
		}
		if (j == f->n_labels) {
			return s;
		}
	}
	return NULL;
}

/* The series for values, made on first use; NULL when dropped. Called
 * with f->mu held. */
static series *
series_of(uns_metric *f, const char *const *values)
{
	series *s = find_series(f, values);
	if (s != NULL) {
		return s;
	}
	if (f->n_series == UNS_METRICS_MAX_SERIES) {
		goto drop;
	}
	if (f->n_series == f->cap_series) {
		size_t cap = f->cap_series ? 2 * f->cap_series : 8;
		series **n = realloc(f->series, cap * sizeof(*n));
		if (n == NULL) {
			goto drop;
		}
		f->series = n;
		f->cap_series = cap;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		goto drop;
	}
	for (size_t i = 0; i < f->n_labels; i++) {
		if ((s->values[i] = strdup(values[i] ? values[i] : "")) ==
		    NULL) {
			free_series(s, i);
			goto drop;
		}
	}
	f->series[f->n_series++] = s;
	return s;
drop:
	atomic_fetch_add(&f->reg->dropped, 1);
	return NULL;
}

void
uns_metric_add(uns_metric *c, const char *const *values, uint64_t n)
{
	pthread_mutex_lock(&c->mu);
	series *s = series_of(c, values);
	if (s != NULL) {
		s->count += n;
	}
	pthread_mutex_unlock(&c->mu);
}

static void
gauge_update(uns_metric *g, const char *const *values, double v, int add)
{
	pthread_mutex_lock(&g->mu);
	series *s = series_of(g, values);
	if (s != NULL) {
		s->value = add ? s->value + v : v;
	}
	pthread_mutex_unlock(&g->mu);
}

void
uns_metric_gauge_add(uns_metric *g, const char *const *values, double delta)
{
	gauge_update(g, values, delta, 1);
}

void
uns_metric_gauge_set(uns_metric *g, const char *const *values, double v)
{
	gauge_update(g, values, v, 0);
}

void
uns_metric_observe(uns_metric *h, const char *const *values, double v)
{
	size_t b = 0;
	while (b < h->n_bounds && v > h->bounds[b]) {
		b++;
	}
	pthread_mutex_lock(&h->mu);
	series *s = series_of(h, values);
	if (s != NULL) {
		s->count++;
		s->value += v;
		if (b < h->n_bounds) {
			s->buckets[b]++;
		}
	}
	pthread_mutex_unlock(&h->mu);
}

double
uns_metric_value(uns_metric *f, const char *const *values)
{
	double v = 0;
	pthread_mutex_lock(&f->mu);
	const series *s = find_series(f, values);
	if (s != NULL) {
		v = f->kind == KIND_GAUGE ? s->value : (double)s->count;
	}
	pthread_mutex_unlock(&f->mu);
	return v;
}

/* ---- exposition ------------------------------------------------------------
 */

typedef struct text {
	char *buf;
	size_t len, cap;
	int failed;
} text;

static void put(text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
put(text *t, const char *fmt, ...)
{
	va_list ap;
	for (int tries = 0; tries < 2 && !t->failed; tries++) {
		va_start(ap, fmt);
		int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
		} else if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		} else {
			size_t cap = 2 * t->cap + (size_t)n + 1;
			char *b = realloc(t->buf, cap);
			if (b == NULL) {
				t->failed = 1;
			}
			t->buf = b ? b : t->buf;
			t->cap = b ? cap : t->cap;
		}
	}
}

/* Escapes for a HELP line (\\ and \n) or a label value (also "). */
static void
put_escaped(text *t, const char *s, int quotes)
{
	for (; *s; s++) {
		if (*s == '\\') {
			put(t, "\\\\");
		} else if (*s == '\n') {
			put(t, "\\n");
		} else if (quotes && *s == '"') {
			put(t, "\\\"");
		} else {
			put(t, "%c", *s);
		}
	}
}

static void
put_double(text *t, double v)
{
	if (isnan(v)) {
		put(t, "NaN");
	} else if (isinf(v)) {
		put(t, v > 0 ? "+Inf" : "-Inf");
	} else {
		put(t, "%.15g", v);
	}
}

/* {a="x",b="y"[,le="…"]}, or nothing without labels. */
static void
put_labels(text *t, const uns_metric *f, const series *s, const char *le)
{
	if (f->n_labels == 0 && le == NULL) {
		return;
	}
	put(t, "{");
	for (size_t i = 0; i < f->n_labels; i++) {
		put(t, "%s%s=\"", i ? "," : "", f->labels[i]);
		put_escaped(t, s->values[i], 1);
		put(t, "\"");
	}
	if (le != NULL) {
		put(t, "%sle=\"%s\"", f->n_labels ? "," : "", le);
	}
	put(t, "}");
}

static void
put_histogram(text *t, const uns_metric *f, const series *s)
{
	uint64_t cumulative = 0;
	char le[64];
	for (size_t b = 0; b < f->n_bounds; b++) {
		cumulative += s->buckets[b];
		snprintf(le, sizeof(le), "%.15g", f->bounds[b]);
		put(t, "%s_bucket", f->name);
		put_labels(t, f, s, le);
		put(t, " %llu\n", (unsigned long long)cumulative);
	}
	put(t, "%s_bucket", f->name);
	put_labels(t, f, s, "+Inf");
	put(t, " %llu\n%s_sum", (unsigned long long)s->count, f->name);
	put_labels(t, f, s, NULL);
	put(t, " ");
	put_double(t, s->value);
	put(t, "\n%s_count", f->name);
	put_labels(t, f, s, NULL);
	put(t, " %llu\n", (unsigned long long)s->count);
}

static void
put_family(text *t, uns_metric *f)
{
	put(t, "# HELP %s ", f->name);
	put_escaped(t, f->help, 0);
	put(t, "\n# TYPE %s %s\n", f->name, kind_names[f->kind]);
	if (f->kind == KIND_GAUGE_FUNC) {
		put(t, "%s ", f->name);
		put_double(t, f->fn(f->arg));
		put(t, "\n");
		return;
	}
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->n_series; i++) {
		const series *s = f->series[i];
		if (f->kind == KIND_HISTOGRAM) {
			put_histogram(t, f, s);
			continue;
		}
		put(t, "%s", f->name);
		put_labels(t, f, s, NULL);
		if (f->kind == KIND_COUNTER) {
			put(t, " %llu\n", (unsigned long long)s->count);
		} else {
			put(t, " ");
			put_double(t, s->value);
			put(t, "\n");
		}
	}
	pthread_mutex_unlock(&f->mu);
}

uns_err
uns_metrics_write(uns_metrics *m, char **out, size_t *len)
{
	text t = {.buf = malloc(4096), .cap = 4096};
	if (t.buf == NULL) {
		return UNS_ENOMEM;
	}
	pthread_mutex_lock(&m->mu);
	for (uns_metric *f = m->head; f; f = f->next) {
		put_family(&t, f);
	}
	pthread_mutex_unlock(&m->mu);
	put(&t,
	    "# HELP uns_metrics_dropped_series_total Updates dropped because "
	    "a family had too many series.\n"
	    "# TYPE uns_metrics_dropped_series_total counter\n"
	    "uns_metrics_dropped_series_total %llu\n",
	    (unsigned long long)atomic_load(&m->dropped));
	if (t.failed) {
		free(t.buf);
		return UNS_ENOMEM;
	}
	*out = t.buf;
	*len = t.len;
	return UNS_OK;
}

/* ---- capped labels ------------------------------------------------------ */

struct uns_metrics_capped {
	pthread_mutex_t mu;
	size_t cap, n;
	char **values; /* the first cap distinct values, in arrival order */
};

uns_err
uns_metrics_capped_open(uns_metrics_capped **out, size_t cap)
{
	uns_metrics_capped *c = calloc(1, sizeof(*c));
	if (c == NULL ||
	    (cap > 0 && (c->values = calloc(cap, sizeof(char *))) == NULL)) {
		free(c);
		return UNS_ENOMEM;
	}
	pthread_mutex_init(&c->mu, NULL);
	c->cap = cap;
	*out = c;
	return UNS_OK;
}

void
uns_metrics_capped_close(uns_metrics_capped *c)
{
	if (c == NULL) {
		return;
	}
	for (size_t i = 0; i < c->n; i++) {
		free(c->values[i]);
	}
	free(c->values);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

const char *
uns_metrics_capped_label(uns_metrics_capped *c, const char *value)
{
	const char *label = UNS_METRICS_OTHER;
	if (c == NULL || value == NULL) {
		return label;
	}
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->values[i], value) == 0) {
			label = c->values[i];
			goto out;
		}
	}
	if (c->n < c->cap && (c->values[c->n] = strdup(value)) != NULL) {
		label = c->values[c->n++];
	}
out:
	pthread_mutex_unlock(&c->mu);
	return label;
}
