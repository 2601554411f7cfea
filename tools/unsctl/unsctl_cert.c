/*
 * unsctl_cert.c — "unsctl cert": make development TLS material.
 *
 * Subcommands live in one table (name, usage, default validity, number of
 * positional arguments, handler); dispatch and usage text come from it.
 * Options are parsed by hand rather than with getopt so that we do not
 * depend on, or disturb, getopt's global state in the unsctl main that
 * calls us. Options and names may be mixed; "--" ends the options.
 *
 * Exit status: 0 done, 1 the operation failed ("unsctl cert: <reason>" on
 * stderr), 2 usage error (a reason and the usage line on stderr).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "devcert.h"

#define DEFAULT_DIR "uns-data/tls"
#define MAX_POS     64 /* positional arguments accepted */

struct cert_args {
	const char *dir;
	int days;
	const char *pos[MAX_POS];
	size_t npos;
};

struct cert_cmd {
	const char *name;
	const char *usage; /* what follows "unsctl cert <name>" */
	int days;          /* default --days; 0: no --days option */
	size_t min_pos, max_pos;
	int (*run)(const struct cert_args *);
};

static int run_ca(const struct cert_args *);
static int run_server(const struct cert_args *);
static int run_client(const struct cert_args *);
static int run_ensure(const struct cert_args *);

static const struct cert_cmd cert_cmds[] = {
    {"ca", "[--dir DIR] [--days N]", 3650, 0, 0, run_ca},
    {"server", "[--dir DIR] [--days N] [NAME...]", 825, 0, MAX_POS, run_server},
    {"client", "[--dir DIR] [--days N] NAME", 825, 1, 1, run_client},
    {"ensure", "[--dir DIR]", 0, 0, 0, run_ensure},
};

#define N_CMDS (sizeof(cert_cmds) / sizeof(cert_cmds[0]))

/* ---- output ------------------------------------------------------------- */

static void
usage(FILE *f, const struct cert_cmd *only)
{
	size_t i;

	for (i = 0; i < N_CMDS; i++) {
		if (only == NULL || only == &cert_cmds[i]) {
			fprintf(f, "%s unsctl cert %s %s\n",
			        i == 0 || only != NULL ? "usage:" : "      ",
			        cert_cmds[i].name, cert_cmds[i].usage);
		}
	}
	if (only == NULL) {
		fprintf(f, "DIR defaults to %s\n", DEFAULT_DIR);
	}
}

static int
usage_error(const struct cert_cmd *c, const char *what, const char *arg)
{
	fprintf(stderr, "unsctl cert: %s%s%s\n", what, arg ? ": " : "",
	        arg ? arg : "");
	usage(stderr, c);
	return 2;
}

static int
failed(const char *why)
{
	fprintf(stderr, "unsctl cert: %s\n", why[0] != '\0' ? why : "failed");
	return 1;
}

static void
wrote(const char *dir, const char *file)
{
	size_t n = strlen(dir);

	printf("wrote %s%s%s\n", dir, dir[n - 1] == '/' ? "" : "/", file);
}

/* ---- argument parsing --------------------------------------------------- */

static bool
parse_days(const char *s, int *days)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < INT_MIN ||
	    v > INT_MAX) {
		return false;
	}
	*days = (int)v;
	return true;
}

/* "--name VALUE" or "--name=VALUE"; *i is advanced past the value. */
static const char *
option_value(const char *opt, int argc, char **argv, int *i)
{
	const char *arg = argv[*i];
	size_t n = strlen(opt);

	if (strncmp(arg, opt, n) != 0) {
		return NULL;
	}
	if (arg[n] == '=') {
		return arg + n + 1;
	}
	if (arg[n] == '\0' && *i + 1 < argc) {
		return argv[++*i];
	}
	return NULL;
}

/* Returns 0 (ok), 1 (help was asked for) or 2 (usage error, reported). */
static int
parse_args(const struct cert_cmd *c, int argc, char **argv, struct cert_args *a)
{
	const char *v;
	bool options = true;
	int i;

	for (i = 2; i < argc; i++) {
		const char *arg = argv[i];

		if (!options || arg[0] != '-' || arg[1] == '\0') {
			if (a->npos == MAX_POS) {
				return usage_error(c, "too many arguments",
				                   NULL);
			}
			a->pos[a->npos++] = arg;
		} else if (strcmp(arg, "--") == 0) {
			options = false;
		} else if (strcmp(arg, "-h") == 0 ||
		           strcmp(arg, "--help") == 0) {
			return 1;
		} else if ((v = option_value("--dir", argc, argv, &i)) !=
		           NULL) {
			a->dir = v;
		} else if (c->days != 0 &&
		           (v = option_value("--days", argc, argv, &i)) !=
		               NULL) {
			if (!parse_days(v, &a->days)) {
				return usage_error(c, "bad --days", v);
			}
		} else if (strcmp(arg, "--dir") == 0 ||
		           (c->days != 0 && strcmp(arg, "--days") == 0)) {
			return usage_error(c, "missing value for", arg);
		} else {
			return usage_error(c, "bad option", arg);
		}
	}
	if (a->npos < c->min_pos || a->npos > c->max_pos) {
		return usage_error(c, "wrong number of arguments", NULL);
	}
	if (a->dir[0] == '\0') {
		return usage_error(c, "empty --dir", NULL);
	}
	return 0;
}

/* ---- subcommands -------------------------------------------------------- */

static int
run_ca(const struct cert_args *a)
{
	char why[512];

	if (uns_devcert_make_ca(a->dir, a->days, why, sizeof(why)) != UNS_OK) {
		return failed(why);
	}
	wrote(a->dir, "ca.key");
	wrote(a->dir, "ca.pem");
	return 0;
}

static int
run_server(const struct cert_args *a)
{
	char why[512];

	if (uns_devcert_make_server(a->dir, a->pos, a->npos, a->days, why,
	                            sizeof(why)) != UNS_OK) {
		return failed(why);
	}
	wrote(a->dir, "server.pem");
	return 0;
}

static int
run_client(const struct cert_args *a)
{
	char why[512], file[128];

	if (uns_devcert_make_client(a->dir, a->pos[0], a->days, why,
	                            sizeof(why)) != UNS_OK) {
		return failed(why);
	}
	snprintf(file, sizeof(file), "client-%s.pem", a->pos[0]);
	wrote(a->dir, file);
	return 0;
}

/* Inode of dir/file, 0 if absent; rename() gives a rewritten file a new one. */
static ino_t
inode_of(const char *dir, const char *file)
{
	char path[PATH_MAX];
	struct stat st;

	int n = snprintf(path, sizeof(path), "%s/%s", dir, file);

	if (n < 0 || (size_t)n >= sizeof(path) || stat(path, &st) != 0) {
		return 0;
	}
	return st.st_ino;
}

static int
run_ensure(const struct cert_args *a)
{
	static const char *const files[] = {"ca.key", "ca.pem", "server.pem"};
	ino_t before[3];
	char why[512];
	bool any = false;
	size_t i;

	for (i = 0; i < 3; i++) {
		before[i] = inode_of(a->dir, files[i]);
	}
	if (uns_devcert_ensure(a->dir, why, sizeof(why)) != UNS_OK) {
		return failed(why);
	}
	for (i = 0; i < 3; i++) {
		if (inode_of(a->dir, files[i]) != before[i]) {
			wrote(a->dir, files[i]);
			any = true;
		}
	}
	if (!any) {
		printf("nothing to do: ca.pem and server.pem exist in %s\n",
		       a->dir);
	}
	return 0;
}

/* ---- entry -------------------------------------------------------------- */

int
unsctl_cert_main(int argc, char **argv)
{
	struct cert_args a = {.dir = DEFAULT_DIR};
	const struct cert_cmd *c = NULL;
	size_t i;
	int rv;

	if (argc < 2) {
		return usage_error(NULL, "missing subcommand", NULL);
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout, NULL);
		return 0;
	}
	for (i = 0; i < N_CMDS && c == NULL; i++) {
		if (strcmp(argv[1], cert_cmds[i].name) == 0) {
			c = &cert_cmds[i];
		}
	}
	if (c == NULL) {
		return usage_error(NULL, "unknown subcommand", argv[1]);
	}
	a.days = c->days;
	if ((rv = parse_args(c, argc, argv, &a)) != 0) {
		if (rv == 1) {
			usage(stdout, c);
			return 0;
		}
		return rv;
	}
	return c->run(&a);
}
