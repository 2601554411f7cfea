/*
 * unsctl_app.c — `unsctl app add`: the app registry in DATA/apps.conf that
 * unsd reads at start and on SIGHUP (auth.h describes the line format).
 *
 * A secret, given or generated, is stored only as its hash (crypto.h,
 * uns_secret_hash: PBKDF2-HMAC-SHA-256, a random salt per secret, the
 * iteration count kept with it; --iterations); a generated one (32 random
 * bytes in hex) is printed once. A given secret shorter than
 * --min-secret-length (default 16) is refused: it would be guessable
 * whatever the hash. unsd reads the file at start and on SIGHUP.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "unsctl.h"

typedef struct app_opts {
	const char *data;
	const char *id;
	const char *hosts; /* comma-separated */
	const char *secret;
	int iterations;
	int min_secret_length;
	int help;
} app_opts;

static const uns_opt app_options[] = {
    {"--data", UNS_OPT_STR, offsetof(app_opts, data), "DIR",
     "data directory (default uns-data)"},
    {"--id", UNS_OPT_STR, offsetof(app_opts, id), "APP_ID", "the app's id"},
    {"--hosts", UNS_OPT_STR, offsetof(app_opts, hosts), "HOST[,HOST...]",
     "its targetHostNames"},
    {"--secret", UNS_OPT_STR, offsetof(app_opts, secret), "SECRET",
     "client secret (default: generated and printed once)"},
    {"--iterations", UNS_OPT_INT, offsetof(app_opts, iterations), "N",
     "PBKDF2 rounds of the secret's hash (default 100000)"},
    {"--min-secret-length", UNS_OPT_INT, offsetof(app_opts, min_secret_length),
     "N", "refuse a --secret shorter than this (default 16)"},
    {"--help", UNS_OPT_FLAG, offsetof(app_opts, help), NULL, "this text"},
};
#define N_APP_OPTS (sizeof(app_options) / sizeof(app_options[0]))

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

static int
valid_word(const char *s)
{
	if (s == NULL || s[0] == '\0' || strlen(s) > 256) {
		return 0;
	}
	return strpbrk(s, " \t\r\n#") == NULL;
}

static int
app_add(const app_opts *o)
{
	char path[2048], hash[UNS_SECRET_HASH_MAX], generated[65];
	const char *secret = o->secret;
	if (!valid_word(o->id) || !valid_word(o->hosts)) {
		fprintf(stderr, "unsctl app add: --id and --hosts are needed, "
		                "without spaces\n");
		return 2;
	}
	if (secret != NULL && strlen(secret) < (size_t)o->min_secret_length) {
		fprintf(stderr,
		        "unsctl app add: --secret: %zu characters, at least "
		        "%d needed (--min-secret-length; or leave --secret "
		        "out for a generated one)\n",
		        strlen(secret), o->min_secret_length);
		return 2;
	}
	if (secret == NULL && generate_secret(generated) != 0) {
		fprintf(stderr, "unsctl app add: no random bytes\n");
		return 1;
	}
	secret = secret ? secret : generated;
	if (uns_secret_hash(secret, (uint32_t)o->iterations, hash) != UNS_OK) {
		fprintf(stderr, "unsctl app add: cannot hash the secret\n");
		return 1;
	}
	const char *dir = o->data ? o->data : "uns-data";
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "unsctl app add: %s: %s\n", dir,
		        strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/apps.conf", dir);
	/* 0600 whatever the umask, and an older too-open file tightened:
	 * it holds secret hashes. */
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
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
	printf("registered app %s for %s in %s (unsd loads it on SIGHUP or "
	       "restart)\n",
	       o->id, o->hosts, path);
	if (o->secret == NULL) {
		printf("client secret (shown once): %s\n", generated);
	}
	return 0;
}

int
unsctl_app_main(int argc, char **argv)
{
	app_opts o = {.iterations = UNS_SECRET_ITERATIONS,
	              .min_secret_length = UNS_SECRET_MIN_LEN};
	char why[256];
	int n = uns_opts_parse(app_options, N_APP_OPTS, &o, argc, argv, why,
	                       sizeof(why));
	if (n != 1 || o.help || strcmp(argv[0], "add") != 0 ||
	    o.iterations < 1000 || o.iterations > 100000000 ||
	    o.min_secret_length < 1) {
		FILE *f = o.help ? stdout : stderr;
		if (n < 0) {
			fprintf(stderr, "unsctl: %s\n", why);
		}
		fprintf(
		    f,
		    "usage: unsctl app add --id APP_ID --hosts HOST[,HOST...] "
		    "[--secret S] [--data DIR]\n"
		    "(--iterations 1000 to 100000000, --min-secret-length at "
		    "least 1)\n");
		uns_opts_usage(f, app_options, N_APP_OPTS);
		return o.help ? 0 : 2;
	}
	return app_add(&o);
}
