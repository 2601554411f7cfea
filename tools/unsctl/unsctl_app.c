/*
 * unsctl_app.c — `unsctl app add|list`: the app registry in DATA/apps.conf
 * that unsd reads at start (auth.h describes the line format).
 *
 * A secret, given or generated, is stored only as a salted SHA-256 hash;
 * a generated one is printed once. unsd reads the file when it starts, so
 * restart it after adding an app.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/sha256.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "unsctl.h"

typedef struct app_opts {
	const char *data;
	const char *id;
	const char *hosts; /* comma-separated */
	const char *secret;
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
    {"--help", UNS_OPT_FLAG, offsetof(app_opts, help), NULL, "this text"},
};
#define N_APP_OPTS (sizeof(app_options) / sizeof(app_options[0]))

static void
hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		snprintf(out + 2 * i, 3, "%02x", in[i]);
	}
}

static void
random_hex(char *out, size_t n_bytes)
{
	unsigned char raw[64];
	for (size_t i = 0; i < n_bytes; i += 4) {
		uint32_t r = nng_random();
		memcpy(raw + i, &r, 4);
	}
	hex(raw, n_bytes, out);
}

/* "sha256:SALT:HASH" of salt ‖ secret. */
static void
hash_secret(const char *secret, char *out, size_t cap)
{
	char salt[33];
	unsigned char digest[32];
	char dhex[65];
	random_hex(salt, 16);
	mbedtls_sha256_context ctx;
	mbedtls_sha256_init(&ctx);
	mbedtls_sha256_starts_ret(&ctx, 0);
	mbedtls_sha256_update_ret(&ctx, (const unsigned char *)salt,
	                          strlen(salt));
	mbedtls_sha256_update_ret(&ctx, (const unsigned char *)secret,
	                          strlen(secret));
	mbedtls_sha256_finish_ret(&ctx, digest);
	mbedtls_sha256_free(&ctx);
	hex(digest, sizeof(digest), dhex);
	snprintf(out, cap, "sha256:%s:%s", salt, dhex);
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
	char path[2048], hash[128], generated[65];
	const char *secret = o->secret;
	if (!valid_word(o->id) || !valid_word(o->hosts)) {
		fprintf(stderr, "unsctl app add: --id and --hosts are needed, "
		                "without spaces\n");
		return 2;
	}
	if (secret == NULL) {
		random_hex(generated, 32);
		secret = generated;
	}
	hash_secret(secret, hash, sizeof(hash));
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
	app_opts o = {0};
	char why[256];
	int n = uns_opts_parse(app_options, N_APP_OPTS, &o, argc, argv, why,
	                       sizeof(why));
	if (n != 1 || o.help || strcmp(argv[0], "add") != 0) {
		FILE *f = o.help ? stdout : stderr;
		if (n < 0) {
			fprintf(stderr, "unsctl: %s\n", why);
		}
		fprintf(
		    f,
		    "usage: unsctl app add --id APP_ID --hosts HOST[,HOST...] "
		    "[--secret S] [--data DIR]\n");
		uns_opts_usage(f, app_options, N_APP_OPTS);
		return o.help ? 0 : 2;
	}
	return app_add(&o);
}
