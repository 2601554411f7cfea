/*
 * unsctl_token.c — "unsctl token": mint development JWTs and make keys.
 *
 *   unsctl token user --sub USER [--app APP] [mint options]
 *   unsctl token app --app APPID [mint options]
 *   unsctl token keygen [--out DIR] [--hs256] [--force]
 *
 * Subcommands are rows of one table (name, synopsis, option rows, runner);
 * dispatch and usage come from it, options from the project's table
 * parser (cli_opts.h). Signing is uns_jwt_mint (common/crypto/jwt.c), so a
 * token made here is exactly what unsd verifies.
 *
 * The signing key is --key PEM (a private key: EC P-256 gives ES256, RSA
 * gives RS256), else --secret-file FILE (HS256), else the development
 * default uns-data/jwt-hs256.secret when it exists. A secret file holds an
 * optional "hs256:" prefix and the secret as raw bytes (one final newline
 * is not part of it); "keygen --hs256" writes "hs256:" + 64 random hex
 * digits, and those 64 characters are the secret (the hex is not decoded).
 * unsd's first-run development secret (64 hex digits, no prefix) reads the
 * same way, so a token minted here verifies there.
 *
 * Exit status: 0 done (the token on stdout), 1 failed ("unsctl token:
 * <reason>" on stderr), 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_opts.h"
#include "jwt.h"

#define DEFAULT_DIR    "uns-data"
#define DEFAULT_SECRET DEFAULT_DIR "/jwt-hs256.secret"
#define DEFAULT_TTL    3600
#define DEFAULT_SCOPE  "Notifications.ReadWrite"
#define DEFAULT_ROLE   "Notifications.Send" /* app tokens */
#define DEFAULT_AUD    "uns"                /* unsd's jwt_audience */
#define MAX_KEY_FILE   (1 << 20)

typedef struct token_opts {
	const char *sub, *app, *host, *aud, *iss, *scope;
	const char *secret_file, *key, *kid;
	const char *out;
	const char *expires_in; /* a duration, may be negative */
	int ttl, hs256, force, help;
} token_opts;

#define TOK_STR(name, field, arg, help)                                        \
	{                                                                      \
		name, UNS_OPT_STR, offsetof(token_opts, field), arg, help      \
	}
#define TOK_FLAG(name, field, help)                                            \
	{                                                                      \
		name, UNS_OPT_FLAG, offsetof(token_opts, field), NULL, help    \
	}

static const uns_opt mint_options[] = {
    TOK_STR("--sub", sub, "USER", "user id (sub); required for user tokens"),
    TOK_STR("--app", app, "APPID", "app id (azp); required for app tokens"),
    TOK_STR("--host", host, "HOST",
            "targetHostName the token is for (uns_host)"),
    TOK_STR("--aud", aud, "AUD", "audience (aud, default " DEFAULT_AUD ")"),
    TOK_STR("--iss", iss, "ISS", "issuer (iss)"),
    {"--ttl", UNS_OPT_INT, offsetof(token_opts, ttl), "SECONDS",
     "lifetime (default 3600)"},
    TOK_STR("--expires-in", expires_in, "DURATION",
            "lifetime instead of --ttl: 90s, 1h30m, 720h1s; negative "
            "(-2m) for a token that expired that long ago, for tests"),
    TOK_STR("--scope", scope, "SCOPES",
            "space-separated scopes (default " DEFAULT_SCOPE
            ", for apps " DEFAULT_ROLE ")"),
    TOK_STR("--secret-file", secret_file, "FILE",
            "HS256 secret file (default " DEFAULT_SECRET ")"),
    TOK_STR("--key", key, "PEM", "private key PEM: ES256 (ec) or RS256 (rsa)"),
    TOK_STR("--kid", kid, "KID", "key id to put in the header"),
    TOK_FLAG("--help", help, "this text"),
};

static const uns_opt keygen_options[] = {
    TOK_STR("--out", out, "DIR", "directory (default " DEFAULT_DIR ")"),
    TOK_FLAG("--hs256", hs256,
             "write jwt-hs256.secret instead of the ES256 pair"),
    TOK_FLAG("--force", force, "replace existing files"),
    TOK_FLAG("--help", help, "this text"),
};

#define N_OPTS(a) (sizeof(a) / sizeof((a)[0]))

typedef struct token_cmd {
	const char *name;
	const char *synopsis; /* what follows "unsctl token" */
	const uns_opt *opts;
	size_t n_opts;
	int (*run)(token_opts *o);
} token_cmd;

static int run_user(token_opts *o);
static int run_app(token_opts *o);
static int run_keygen(token_opts *o);

static const token_cmd token_cmds[] = {
    {"user", "user --sub USER [options]", mint_options, N_OPTS(mint_options),
     run_user},
    {"app", "app --app APPID [options]", mint_options, N_OPTS(mint_options),
     run_app},
    {"keygen", "keygen [--out DIR] [--hs256] [--force]", keygen_options,
     N_OPTS(keygen_options), run_keygen},
};

/* ---- output ------------------------------------------------------------- */

static void
usage(FILE *f, const token_cmd *only)
{
	for (size_t i = 0; i < N_OPTS(token_cmds); i++) {
		const token_cmd *c = &token_cmds[i];
		if (only == NULL || only == c) {
			fprintf(f, "%s unsctl token %s\n",
			        i == 0 || only ? "usage:" : "      ",
			        c->synopsis);
		}
	}
	if (only != NULL) {
		uns_opts_usage(f, only->opts, only->n_opts);
	}
}

static int
usage_error(const token_cmd *c, const char *what)
{
	fprintf(stderr, "unsctl token: %s\n", what);
	if (c != NULL) {
		fprintf(stderr, "usage: unsctl token %s   (--help: options)\n",
		        c->synopsis);
	} else {
		usage(stderr, NULL);
	}
	return 2;
}

static int
failed(const char *why)
{
	fprintf(stderr, "unsctl token: %s\n", why[0] ? why : "failed");
	return 1;
}

/* ---- files -------------------------------------------------------------- */

static int
read_small(const char *path, char **out, size_t *len, char *why, size_t whylen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;
	int rc = -1;

	if (f == NULL) {
		snprintf(why, whylen, "cannot read %s: %s", path,
		         strerror(errno));
		return -1;
	}
	if ((buf = malloc(MAX_KEY_FILE + 1)) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	n = fread(buf, 1, MAX_KEY_FILE + 1, f);
	if (ferror(f) || n > MAX_KEY_FILE) {
		snprintf(why, whylen, "cannot read %s: %s", path,
		         ferror(f) ? "read error" : "over 1 MiB");
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

/* mkdir -p with mode 0700 for the missing parts. */
static int
make_dirs(const char *dir, char *why, size_t whylen)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path)) {
		snprintf(why, whylen, "bad directory name");
		return -1;
	}
	memcpy(path, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0') {
			continue;
		}
		path[i] = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			snprintf(why, whylen, "cannot create %s: %s", path,
			         strerror(errno));
			return -1;
		}
		path[i] = dir[i];
	}
	return 0;
}

/* Writes data to path through a temporary file and rename(). */
static int
write_file(const char *path, const char *data, mode_t mode, char *why,
           size_t whylen)
{
	char tmp[4200];
	size_t len = strlen(data);
	int fd, ok;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >=
	    sizeof(tmp)) {
		snprintf(why, whylen, "path too long");
		return -1;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		snprintf(why, whylen, "cannot write %s: %s", path,
		         strerror(errno));
		return -1;
	}
	ok = fchmod(fd, mode) == 0 && write(fd, data, len) == (ssize_t)len &&
	     fsync(fd) == 0;
	ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
	if (!ok) {
		snprintf(why, whylen, "cannot write %s: %s", path,
		         strerror(errno));
		unlink(tmp);
		return -1;
	}
	printf("wrote %s\n", path);
	return 0;
}

/* ---- minting ------------------------------------------------------------ */

/* Copies an option value into a claim; -1 (reported) when too long. */
static int
claim(char *dst, size_t cap, const char *value, const char *opt)
{
	if (value == NULL) {
		return 0;
	}
	if (strlen(value) >= cap) {
		fprintf(stderr, "unsctl token: %s is longer than %zu bytes\n",
		        opt, cap - 1);
		return -1;
	}
	memcpy(dst, value, strlen(value) + 1);
	return 0;
}

static int
fill_claims(const token_opts *o, int64_t lifetime, uns_jwt_claims *c)
{
	memset(c, 0, sizeof(*c));
	if (claim(c->sub, sizeof(c->sub), o->sub, "--sub") != 0 ||
	    claim(c->app_id, sizeof(c->app_id), o->app, "--app") != 0 ||
	    claim(c->host, sizeof(c->host), o->host, "--host") != 0 ||
	    claim(c->aud, sizeof(c->aud), o->aud, "--aud") != 0 ||
	    claim(c->iss, sizeof(c->iss), o->iss, "--iss") != 0 ||
	    claim(c->scopes, sizeof(c->scopes), o->scope, "--scope") != 0) {
		return -1;
	}
	c->iat = (int64_t)time(NULL);
	c->exp = c->iat + lifetime;
	if (lifetime <= 0) { /* expired: a minute's token from the past */
		c->iat = c->exp - 60;
	}
	return 0;
}

static const char *
secret_path(const token_opts *o)
{
	if (o->secret_file != NULL) {
		return o->secret_file;
	}
	return access(DEFAULT_SECRET, F_OK) == 0 ? DEFAULT_SECRET : NULL;
}

/* Signs c with the key the options name and prints the token. */
static int
mint_and_print(const token_opts *o, const uns_jwt_claims *c)
{
	char why[512] = "", *tok = NULL, *pem = NULL;
	uint8_t *secret = NULL;
	size_t len = 0;
	const char *path = secret_path(o);
	uns_err err = UNS_EIO;

	if (o->key != NULL) {
		if (read_small(o->key, &pem, &len, why, sizeof(why)) == 0) {
			err = uns_jwt_mint(NULL, o->kid, (const uint8_t *)pem,
			                   len, c, &tok, why, sizeof(why));
		}
	} else if ((err = uns_jwt_read_secret_file(path, &secret, &len, why,
	                                           sizeof(why))) == UNS_OK) {
		err = uns_jwt_mint("HS256", o->kid, secret, len, c, &tok, why,
		                   sizeof(why));
	}
	if (secret != NULL) {
		memset(secret, 0, len);
	}
	free(secret);
	free(pem);
	if (err != UNS_OK) {
		return failed(why);
	}
	printf("%s\n", tok);
	free(tok);
	return 0;
}

static int
run_mint(const token_cmd *cmd, token_opts *o)
{
	uns_jwt_claims c;

	if (o->key != NULL && o->secret_file != NULL) {
		return usage_error(cmd, "--key and --secret-file exclude "
		                        "each other");
	}
	if (o->key == NULL && secret_path(o) == NULL) {
		return usage_error(
		    cmd, "no signing key: pass --secret-file FILE (HS256) or "
		         "--key PEM (ES256/RS256), or run where " DEFAULT_SECRET
		         " exists (unsd makes it on first run, or \"unsctl "
		         "token keygen --hs256\")");
	}
	int64_t lifetime = o->ttl;
	if (o->ttl <= 0) {
		return usage_error(cmd, "--ttl must be a positive number of "
		                        "seconds");
	}
	if (o->expires_in != NULL &&
	    (uns_duration_parse(o->expires_in, 1, &lifetime) != 0 ||
	     lifetime == 0)) {
		return usage_error(cmd, "--expires-in: expected a nonzero "
		                        "duration like 1h, 90m, 720h1s or -2m");
	}
	if (fill_claims(o, lifetime, &c) != 0) {
		return 2;
	}
	return mint_and_print(o, &c);
}

static int
run_user(token_opts *o)
{
	if (o->sub == NULL || o->sub[0] == '\0') {
		return usage_error(&token_cmds[0], "user tokens need --sub");
	}
	return run_mint(&token_cmds[0], o);
}

static int
run_app(token_opts *o)
{
	if (o->app == NULL || o->app[0] == '\0') {
		return usage_error(&token_cmds[1], "app tokens need --app");
	}
	if (o->sub != NULL) {
		return usage_error(&token_cmds[1], "app tokens carry no --sub");
	}
	return run_mint(&token_cmds[1], o);
}

/* ---- keygen ------------------------------------------------------------- */

/* "hs256:" + 64 random hex digits + "\n", into out[72]. */
static int
random_secret(char out[72], char *why, size_t whylen)
{
	unsigned char raw[32];
	size_t n = 0;

	while (n < sizeof(raw)) {
		ssize_t got = getrandom(raw + n, sizeof(raw) - n, 0);
		if (got < 0 && errno != EINTR) {
			snprintf(why, whylen, "getrandom: %s", strerror(errno));
			return -1;
		}
		n += got > 0 ? (size_t)got : 0;
	}
	strcpy(out, "hs256:");
	for (size_t i = 0; i < sizeof(raw); i++) {
		snprintf(out + 6 + 2 * i, 3, "%02x", raw[i]);
	}
	strcpy(out + 6 + 64, "\n");
	memset(raw, 0, sizeof(raw));
	return 0;
}

static int
refuse_existing(const char *path, int force)
{
	if (!force && access(path, F_OK) == 0) {
		fprintf(stderr,
		        "unsctl token: %s exists; remove it or pass --force\n",
		        path);
		return -1;
	}
	return 0;
}

static int
run_keygen(token_opts *o)
{
	const char *dir = o->out ? o->out : DEFAULT_DIR;
	char why[512] = "", key[4096], pub[4096], secret[72];
	char *priv_pem = NULL, *pub_pem = NULL;
	int rc = 1;

	if ((size_t)snprintf(key, sizeof(key), "%s/%s", dir,
	                     o->hs256 ? "jwt-hs256.secret" : "jwt-es256.key") >=
	        sizeof(key) ||
	    (size_t)snprintf(pub, sizeof(pub), "%s/jwt-es256.pub", dir) >=
	        sizeof(pub)) {
		return usage_error(&token_cmds[2], "--out is too long");
	}
	if (refuse_existing(key, o->force) != 0 ||
	    (!o->hs256 && refuse_existing(pub, o->force) != 0) ||
	    make_dirs(dir, why, sizeof(why)) != 0) {
		return why[0] ? failed(why) : 1;
	}
	if (o->hs256) {
		rc =
		    random_secret(secret, why, sizeof(why)) == 0 &&
		            write_file(key, secret, 0600, why, sizeof(why)) == 0
		        ? 0
		        : failed(why);
		memset(secret, 0, sizeof(secret));
		return rc;
	}
	if (uns_jwt_keygen_es256(&priv_pem, &pub_pem, why, sizeof(why)) !=
	        UNS_OK ||
	    write_file(key, priv_pem, 0600, why, sizeof(why)) != 0 ||
	    write_file(pub, pub_pem, 0644, why, sizeof(why)) != 0) {
		rc = failed(why);
	} else {
		rc = 0;
	}
	if (priv_pem != NULL) {
		memset(priv_pem, 0, strlen(priv_pem));
	}
	free(priv_pem);
	free(pub_pem);
	return rc;
}

/* ---- entry -------------------------------------------------------------- */

int
unsctl_token_main(int argc, char **argv)
{
	token_opts o = {.ttl = DEFAULT_TTL, .aud = DEFAULT_AUD};
	const token_cmd *cmd = NULL;
	char why[256];
	int n_pos;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout, NULL);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < N_OPTS(token_cmds); i++) {
		if (strcmp(argv[1], token_cmds[i].name) == 0) {
			cmd = &token_cmds[i];
		}
	}
	if (cmd == NULL) {
		return usage_error(NULL, "unknown subcommand");
	}
	n_pos = uns_opts_parse(cmd->opts, cmd->n_opts, &o, argc - 1, argv + 1,
	                       why, sizeof(why));
	if (o.scope == NULL) {
		o.scope = strcmp(cmd->name, "app") == 0 ? DEFAULT_ROLE
		                                        : DEFAULT_SCOPE;
	}
	if (n_pos != 0) {
		return usage_error(cmd,
		                   n_pos < 0 ? why : "unexpected argument");
	}
	if (o.help) {
		usage(stdout, cmd);
		return 0;
	}
	return cmd->run(&o);
}
