/*
 * unsctl_app.c — `unsctl app add|list|show|remove|rotate-secret`: the app
 * registry in DATA/apps.conf (appsconf.h has the line format, and its one
 * parser and writer) that unsd reads at start and on SIGHUP.
 *
 * A secret, given or generated, is stored only as its hash (crypto.h,
 * uns_secret_hash: PBKDF2-HMAC-SHA-256, a random salt per secret, the
 * iteration count kept with it; --iterations); a generated one (32 random
 * bytes in hex) is printed once. A given secret shorter than
 * --min-secret-length (default 16) is refused: it would be guessable
 * whatever the hash. rotate-secret keeps the previous hash on the line,
 * valid for --grace (default 24h), so clients can move to the new secret
 * without an outage.
 *
 * Changes rewrite the file whole through a temporary file and rename(),
 * mode 0600, keeping comments and other lines as they were; a running
 * unsd applies them on SIGHUP (tools/setup.sh reload, systemctl reload
 * unsd).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "appsconf.h"
#include "crypto.h"
#include "files.h"
#include "unsctl.h"

#define APPS_MAX (16 << 20) /* the largest apps.conf read */

typedef struct app_opts {
	const char *data;
	const char *id;
	const char *hosts; /* comma-separated */
	const char *secret;
	const char *grace;
	int iterations;
	int min_secret_length;
	int help;
} app_opts;

static const uns_opt app_options[] = {
    {"--data", UNS_OPT_STR, offsetof(app_opts, data), "DIR",
     "data directory (default uns-data)"},
    {"--id", UNS_OPT_STR, offsetof(app_opts, id), "APP_ID",
     "the app's id (show, remove, rotate-secret: or as the argument)"},
    {"--hosts", UNS_OPT_STR, offsetof(app_opts, hosts), "HOST[,HOST...]",
     "add: its targetHostNames"},
    {"--secret", UNS_OPT_STR, offsetof(app_opts, secret), "SECRET",
     "add, rotate-secret: the client secret (default: generated and "
     "printed once)"},
    {"--grace", UNS_OPT_STR, offsetof(app_opts, grace), "DURATION",
     "rotate-secret: how long the previous secret stays valid (default "
     "24h; 0 = not at all)"},
    {"--iterations", UNS_OPT_INT, offsetof(app_opts, iterations), "N",
     "PBKDF2 rounds of the secret's hash (default 100000)"},
    {"--min-secret-length", UNS_OPT_INT, offsetof(app_opts, min_secret_length),
     "N", "refuse a --secret shorter than this (default 16)"},
    {"--help", UNS_OPT_FLAG, offsetof(app_opts, help), NULL, "this text"},
};
#define N_APP_OPTS (sizeof(app_options) / sizeof(app_options[0]))

#define RELOAD_HINT                                                            \
	"unsd applies it on SIGHUP: tools/setup.sh reload, systemctl reload "  \
	"unsd"

/* --- the file ---------------------------------------------------------- */

/* DATA/apps.conf into path; its text into *text ("" when it does not
 * exist yet; free() it). */
static int
apps_read(const app_opts *o, char *path, size_t cap, char **text)
{
	char why[512];
	size_t len;
	snprintf(path, cap, "%s/apps.conf", o->data);
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		*text = strdup("");
		return *text ? 0 : -1;
	}
	if (uns_file_read(path, APPS_MAX, text, &len, why, sizeof(why)) !=
	    UNS_OK) {
		fprintf(stderr, "unsctl app: %s\n", why);
		return -1;
	}
	return 0;
}

/* Replaces path with data, mode 0600, by a temporary file and rename(). */
static int
apps_replace(const char *path, const char *data, size_t len)
{
	char tmp[2100];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ok =
	    fd >= 0 && write(fd, data, len) == (ssize_t)len && fsync(fd) == 0;
	if (fd >= 0 && close(fd) != 0) {
		ok = 0;
	}
	if (!ok || rename(tmp, path) != 0) {
		fprintf(stderr, "unsctl app: cannot write %s: %s\n", path,
		        strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Calls fn for every line of text (without its newline; line is a copy
 * fn may cut up) with the parse of it (rc as uns_app_line_parse). Stops
 * at the first nonzero return and returns it. */
typedef int (*line_fn)(void *arg, const char *raw, char *line, int rc,
                       const uns_app_line *a);

static int
each_line(const char *text, line_fn fn, void *arg)
{
	const char *p = text;
	char why[256];
	int ret = 0;
	while (*p != '\0' && ret == 0) {
		size_t n = strcspn(p, "\n");
		char *raw = strndup(p, n), *line = strndup(p, n);
		uns_app_line a;
		if (raw == NULL || line == NULL) {
			ret = -1;
		} else {
			int rc = uns_app_line_parse(line, &a, why, sizeof(why));
			ret = fn(arg, raw, line, rc, &a);
		}
		free(raw);
		free(line);
		p += n + (p[n] == '\n');
	}
	return ret;
}

/* --- reading ----------------------------------------------------------- */

static void
describe_hash(const char *hash, char *out, size_t cap)
{
	unsigned long iter;
	if (strcmp(hash, "-") == 0) {
		snprintf(out, cap, "none (the token endpoint refuses it)");
	} else if (sscanf(hash, "pbkdf2-sha256$%lu$", &iter) == 1) {
		snprintf(out, cap, "pbkdf2-sha256, %lu iterations", iter);
	} else {
		snprintf(out, cap,
		         "sha256 (old form: rotate-secret to "
		         "upgrade)");
	}
}

static void
print_app(const uns_app_line *a)
{
	char secret[96], until[32];
	printf("%s hosts=", a->id);
	for (size_t i = 0; i < a->n_hosts; i++) {
		printf("%s%s", i ? "," : "", a->hosts[i]);
	}
	describe_hash(a->hash, secret, sizeof(secret));
	printf(" secret=%s", secret);
	if (a->old_hash != NULL) {
		time_t t = (time_t)a->old_until;
		struct tm tm;
		strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ",
		         gmtime_r(&t, &tm));
		printf(" previous-secret-until=%s%s", until,
		       a->old_until <= time(NULL) ? " (over)" : "");
	}
	printf("\n");
}

typedef struct find_ctx {
	const char *id; /* NULL = every app */
	int found;
} find_ctx;

static int
count_matching(void *arg, const char *raw, char *line, int rc,
               const uns_app_line *a)
{
	find_ctx *c = arg;
	(void)raw;
	(void)line;
	c->found += rc == 1 && (c->id == NULL || strcmp(a->id, c->id) == 0);
	return 0;
}

static int
print_matching(void *arg, const char *raw, char *line, int rc,
               const uns_app_line *a)
{
	find_ctx *c = arg;
	(void)raw;
	(void)line;
	if (rc == 1 && (c->id == NULL || strcmp(a->id, c->id) == 0)) {
		print_app(a);
		c->found++;
	}
	return 0;
}

/* The apps of the file (id NULL) or the one named; an id not found is an
 * error, an empty registry is not. */
static int
print_apps(const app_opts *o, const char *id)
{
	char path[2048], *text = NULL;
	find_ctx c = {.id = id};
	if (apps_read(o, path, sizeof(path), &text) != 0) {
		return 1;
	}
	each_line(text, print_matching, &c);
	free(text);
	if (c.found == 0) {
		fprintf(stderr, "unsctl app: no app%s%s in %s\n",
		        id ? " " : "s", id ? id : "", path);
	}
	return c.found == 0 && id != NULL;
}

static int
app_list(const app_opts *o)
{
	return print_apps(o, NULL);
}

static int
app_show(const app_opts *o)
{
	return print_apps(o, o->id);
}

/* --- changing ---------------------------------------------------------- */

/* 32 random bytes in hex into out[65]. */
static int
generate_secret(char out[65])
{
	uint8_t raw[32];
	if (uns_random(raw, sizeof(raw)) != UNS_OK) {
		return -1;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	}
	uns_wipe(raw, sizeof(raw));
	return 0;
}

/* The secret to store (o->secret, or a generated one in generated[65])
 * hashed into hash; prints why and returns the exit status on failure. */
static int
new_secret(const app_opts *o, const char *cmd, char generated[65],
           char hash[UNS_SECRET_HASH_MAX])
{
	const char *secret = o->secret;
	if (secret != NULL && strlen(secret) < (size_t)o->min_secret_length) {
		fprintf(stderr,
		        "unsctl app %s: --secret: %zu characters, at least "
		        "%d needed (--min-secret-length; or leave --secret "
		        "out for a generated one)\n",
		        cmd, strlen(secret), o->min_secret_length);
		return 2;
	}
	if (secret == NULL && generate_secret(generated) != 0) {
		fprintf(stderr, "unsctl app %s: no random bytes\n", cmd);
		return 1;
	}
	if (uns_secret_hash(secret ? secret : generated,
	                    (uint32_t)o->iterations, hash) != UNS_OK) {
		fprintf(stderr, "unsctl app %s: cannot hash the secret\n", cmd);
		return 1;
	}
	return 0;
}

/* The rewrite of apps.conf: every line as it was, but the app's line
 * changed by change(): replaced, or dropped. */
typedef struct rewrite_ctx {
	const char *id;
	int (*change)(struct rewrite_ctx *c, const uns_app_line *a);
	FILE *out;
	int found;
	const app_opts *o;
	char hash[UNS_SECRET_HASH_MAX];
	int64_t until;
} rewrite_ctx;

static int
rewrite_line(void *arg, const char *raw, char *line, int rc,
             const uns_app_line *a)
{
	rewrite_ctx *c = arg;
	(void)line;
	if (rc != 1 || strcmp(a->id, c->id) != 0) {
		return fprintf(c->out, "%s\n", raw) < 0 ? -1 : 0;
	}
	c->found++;
	return c->change(c, a);
}

static int
drop(rewrite_ctx *c, const uns_app_line *a)
{
	(void)c;
	(void)a;
	return 0;
}

static int
rotate(rewrite_ctx *c, const uns_app_line *a)
{
	uns_app_line n = *a;
	n.hash = c->hash;
	n.old_hash = NULL;
	if (c->until > time(NULL) && strcmp(a->hash, "-") != 0) {
		n.old_hash = a->hash;
		n.old_until = c->until;
	}
	return uns_app_line_write(c->out, &n);
}

static int
rewrite(rewrite_ctx *c, const char *cmd)
{
	char path[2048], *text = NULL, *buf = NULL;
	size_t len = 0;
	int rc = 1;
	if (apps_read(c->o, path, sizeof(path), &text) != 0 ||
	    (c->out = open_memstream(&buf, &len)) == NULL) {
		free(text);
		return 1;
	}
	int failed = each_line(text, rewrite_line, c);
	if (fclose(c->out) != 0 || failed) {
		fprintf(stderr, "unsctl app %s: cannot rewrite %s\n", cmd,
		        path);
	} else if (c->found == 0) {
		fprintf(stderr, "unsctl app %s: no app %s in %s\n", cmd, c->id,
		        path);
	} else if (apps_replace(path, buf, len) == 0) {
		rc = 0;
	}
	free(buf);
	free(text);
	return rc;
}

static int
app_remove(const app_opts *o)
{
	rewrite_ctx c = {.id = o->id, .change = drop, .o = o};
	if (rewrite(&c, "remove") != 0) {
		return 1;
	}
	printf("removed app %s (" RELOAD_HINT ")\n", o->id);
	return 0;
}

static int
app_rotate(const app_opts *o)
{
	rewrite_ctx c = {.id = o->id, .change = rotate, .o = o};
	char generated[65];
	int64_t grace = 24 * 3600;
	if (o->grace != NULL && uns_duration_parse(o->grace, 0, &grace) != 0) {
		fprintf(stderr, "unsctl app rotate-secret: --grace: expected "
		                "a duration like 24h, 90m, 1d12h or 0\n");
		return 2;
	}
	int rc = new_secret(o, "rotate-secret", generated, c.hash);
	if (rc != 0) {
		return rc;
	}
	c.until = (int64_t)time(NULL) + grace;
	if (rewrite(&c, "rotate-secret") != 0) {
		return 1;
	}
	printf("new secret for app %s; the previous one %s (" RELOAD_HINT ")\n",
	       o->id, grace > 0 ? "stays valid for --grace" : "is void");
	if (o->secret == NULL) {
		printf("client secret (shown once): %s\n", generated);
	}
	return 0;
}

static int
valid_word(const char *s)
{
	if (s == NULL || s[0] == '\0' || strlen(s) > UNS_APP_ID_MAX) {
		return 0;
	}
	return strpbrk(s, " \t\r\n#") == NULL;
}

static int
app_add(const app_opts *o)
{
	char path[2048], hash[UNS_SECRET_HASH_MAX], generated[65], *text;
	find_ctx c = {.id = o->id};
	if (!valid_word(o->id) || !valid_word(o->hosts)) {
		fprintf(stderr, "unsctl app add: --id and --hosts are needed, "
		                "without spaces\n");
		return 2;
	}
	int rc = new_secret(o, "add", generated, hash);
	if (rc != 0) {
		return rc;
	}
	if (mkdir(o->data, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "unsctl app add: %s: %s\n", o->data,
		        strerror(errno));
		return 1;
	}
	if (apps_read(o, path, sizeof(path), &text) != 0) {
		return 1;
	}
	each_line(text, count_matching, &c);
	free(text);
	if (c.found > 0) {
		fprintf(stderr,
		        "unsctl app add: app %s exists in %s (unsctl app "
		        "rotate-secret or remove)\n",
		        o->id, path);
		return 1;
	}
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 && fchmod(fd, 0600) == 0 ? fdopen(fd, "a") : NULL;
	if (f == NULL) {
		if (fd >= 0) {
			close(fd);
		}
		fprintf(stderr, "unsctl app add: %s: %s\n", path,
		        strerror(errno));
		return 1;
	}
	fprintf(f, "%s %s %s\n", o->id, o->hosts, hash);
	if (fclose(f) != 0) {
		fprintf(stderr, "unsctl app add: %s: %s\n", path,
		        strerror(errno));
		return 1;
	}
	printf("registered app %s for %s in %s (" RELOAD_HINT ")\n", o->id,
	       o->hosts, path);
	if (o->secret == NULL) {
		printf("client secret (shown once): %s\n", generated);
	}
	return 0;
}

/* --- main -------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*run)(const app_opts *o);
	int needs_id;
	const char *synopsis;
} app_cmds[] = {
    {"add", app_add, 0, "add --id APP_ID --hosts HOST[,HOST...] [--secret S]"},
    {"list", app_list, 0, "list"},
    {"show", app_show, 1, "show APP_ID"},
    {"remove", app_remove, 1, "remove APP_ID"},
    {"rotate-secret", app_rotate, 1,
     "rotate-secret APP_ID [--secret S] [--grace DURATION]"},
};
#define N_APP_CMDS (sizeof(app_cmds) / sizeof(app_cmds[0]))

static int
app_usage(const app_opts *o, int n, const char *why)
{
	FILE *f = o->help ? stdout : stderr;
	if (n < 0) {
		fprintf(stderr, "unsctl: %s\n", why);
	}
	for (size_t i = 0; i < N_APP_CMDS; i++) {
		fprintf(f, "%s unsctl app %s\n",
		        i ? "      " : "usage:", app_cmds[i].synopsis);
	}
	fprintf(f, "(all: [--data DIR]; --iterations 1000 to 100000000, "
	           "--min-secret-length at least 1)\n");
	uns_opts_usage(f, app_options, N_APP_OPTS);
	return o->help ? 0 : 2;
}

int
unsctl_app_main(int argc, char **argv)
{
	app_opts o = {.data = "uns-data",
	              .iterations = UNS_SECRET_ITERATIONS,
	              .min_secret_length = UNS_SECRET_MIN_LEN};
	char why[256];
	int n = uns_opts_parse(app_options, N_APP_OPTS, &o, argc, argv, why,
	                       sizeof(why));
	size_t i = 0;
	while (n >= 1 && i < N_APP_CMDS && strcmp(argv[0], app_cmds[i].name)) {
		i++;
	}
	if (n == 2 && i < N_APP_CMDS && app_cmds[i].needs_id && !o.id) {
		o.id = argv[1];
		n = 1;
	}
	if (n != 1 || o.help || i == N_APP_CMDS || o.iterations < 1000 ||
	    o.iterations > 100000000 || o.min_secret_length < 1 ||
	    (app_cmds[i].needs_id && !valid_word(o.id))) {
		return app_usage(&o, n, why);
	}
	return app_cmds[i].run(&o);
}
