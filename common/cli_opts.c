/*
 * cli_opts.c — see cli_opts.h. "--name=value" and "--name value" both work.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli_opts.h"

static const uns_opt *
find_opt(const uns_opt *opts, size_t n, const char *arg, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(opts[i].name) == len &&
		    strncmp(opts[i].name, arg, len) == 0) {
			return &opts[i];
		}
	}
	return NULL;
}

static int
set_value(const uns_opt *o, void *target, const char *v, char *why,
          size_t whylen)
{
	char *slot = (char *)target + o->offset;
	if (o->kind == UNS_OPT_STR) {
		*(const char **)slot = v;
		return 0;
	}
	if (o->kind == UNS_OPT_LIST) {
		uns_opt_list *l = (uns_opt_list *)(void *)slot;
		if (l->n == UNS_OPT_LIST_MAX) {
			snprintf(why, whylen, "%s: at most %d times", o->name,
			         UNS_OPT_LIST_MAX);
			return -1;
		}
		l->v[l->n++] = v;
		return 0;
	}
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || end == v || n < INT_MIN ||
	    n > INT_MAX) {
		snprintf(why, whylen, "%s: not an integer: \"%s\"", o->name, v);
		return -1;
	}
	*(int *)slot = (int)n;
	return 0;
}

int
uns_opts_parse(const uns_opt *opts, size_t n_opts, void *target, int argc,
               char **argv, char *why, size_t whylen)
{
	int n_pos = 0, only_pos = 0;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (only_pos || a[0] != '-' || a[1] != '-' || a[2] == '\0') {
			if (!only_pos && strcmp(a, "--") == 0) {
				only_pos = 1;
				continue;
			}
			argv[n_pos++] = a;
			continue;
		}
		char *eq = strchr(a, '=');
		size_t len = eq ? (size_t)(eq - a) : strlen(a);
		const uns_opt *o = find_opt(opts, n_opts, a, len);
		if (o == NULL) {
			snprintf(why, whylen, "unknown option %.*s", (int)len,
			         a);
			return -1;
		}
		if (o->kind == UNS_OPT_FLAG) {
			*(int *)((char *)target + o->offset) = 1;
			continue;
		}
		const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (v == NULL) {
			snprintf(why, whylen, "%s needs a value", o->name);
			return -1;
		}
		if (set_value(o, target, v, why, whylen) != 0) {
			return -1;
		}
	}
	return n_pos;
}

void
uns_opts_usage(FILE *f, const uns_opt *opts, size_t n_opts)
{
	for (size_t i = 0; i < n_opts; i++) {
		char left[64];
		snprintf(left, sizeof(left), "%s%s%s", opts[i].name,
		         opts[i].arg ? " " : "",
		         opts[i].arg ? opts[i].arg : "");
		fprintf(f, "  %-28s %s\n", left, opts[i].help);
	}
}

int
uns_duration_parse(const char *text, int negative_ok, int64_t *seconds)
{
	static const struct {
		char unit;
		int64_t seconds;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	const int64_t max = 100LL * 365 * 86400;
	const char *p = text;
	int64_t total = 0;
	int sign = 1, parts = 0;

	if (p == NULL) {
		return -1;
	}
	if (*p == '-' && negative_ok) {
		sign = -1;
		p++;
	}
	while (*p != '\0') {
		char *end;
		size_t u;
		if (*p < '0' || *p > '9') {
			return -1;
		}
		errno = 0;
		long long n = strtoll(p, &end, 10);
		if (errno != 0 || n > max) {
			return -1;
		}
		if (*end == '\0' && parts == 0) { /* a bare number: seconds */
			total = n;
			p = end;
			parts++;
			break;
		}
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
			if (*end == units[u].unit) {
				break;
			}
		}
		if (u == sizeof(units) / sizeof(units[0])) {
			return -1;
		}
		total += n * units[u].seconds;
		if (total > max) {
			return -1;
		}
		p = end + 1;
		parts++;
	}
	if (parts == 0) {
		return -1;
	}
	*seconds = sign * total;
	return 0;
}
