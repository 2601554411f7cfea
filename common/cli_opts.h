/*
 * cli_opts.h — table-driven command-line options for unsd and unsctl.
 *
 * Each option is one row (name, kind, offset into the caller's struct,
 * help); parsing, checking and usage text all come from the table.
 * Options may appear anywhere; "--" ends them. Positional arguments are
 * moved to the front of argv, in order.
 */
#ifndef UNS_CLI_OPTS_H
#define UNS_CLI_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum uns_opt_kind {
	UNS_OPT_STR,  /* const char * */
	UNS_OPT_INT,  /* int */
	UNS_OPT_FLAG, /* int, set to 1 */
	UNS_OPT_LIST, /* uns_opt_list: every value of a repeated option */
} uns_opt_kind;

#define UNS_OPT_LIST_MAX 64

typedef struct uns_opt_list {
	const char *v[UNS_OPT_LIST_MAX];
	int n;
} uns_opt_list;

typedef struct uns_opt {
	const char *name; /* "--listen" */
	uns_opt_kind kind;
	size_t offset;
	const char *arg; /* argument name in usage, e.g. "URL" */
	const char *help;
} uns_opt;

/*
 * Parses argv[1..argc) into target. Returns the number of positional
 * arguments (now argv[0..n)), or -1 with the reason in why.
 */
int uns_opts_parse(const uns_opt *opts, size_t n_opts, void *target, int argc,
                   char **argv, char *why, size_t whylen);

void uns_opts_usage(FILE *f, const uns_opt *opts, size_t n_opts);

/*
 * A duration on the command line into *seconds: a number of seconds
 * ("30"), or numbers each with a unit s, m, h or d, largest first or not
 * ("90s", "10m", "720h1s", "1d12h"); a leading "-" only when negative_ok
 * ("-2m", for a token already expired). At most 100 years either way.
 * Returns 0, or -1 for anything else (*seconds untouched).
 */
int uns_duration_parse(const char *text, int negative_ok, int64_t *seconds);

#endif /* UNS_CLI_OPTS_H */
