/*
 * unsctl_vapid.c — `unsctl vapid`: the VAPID key pair of Web Push.
 *
 * Makes DATA/push/vapid.pem (an EC P-256 private key, mode 0600) unless it
 * exists, or reads --key FILE, and prints the public key as base64url:
 * the applicationServerKey a web app passes to
 * pushManager.subscribe({userVisibleOnly: true, applicationServerKey}).
 * unsd makes the same file on first run, so either may come first.
 * Rotating the key means deleting the file: every browser must then
 * subscribe again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "unsctl.h"

typedef struct vapid_opts {
	const char *data;
	const char *key;
	int help;
} vapid_opts;

static const uns_opt vapid_options[] = {
    {"--data", UNS_OPT_STR, offsetof(vapid_opts, data), "DIR",
     "data directory (default uns-data): the key is DIR/push/vapid.pem"},
    {"--key", UNS_OPT_STR, offsetof(vapid_opts, key), "FILE",
     "read this key instead (the vapid_key of unsd's configuration)"},
    {"--help", UNS_OPT_FLAG, offsetof(vapid_opts, help), NULL, "this text"},
};
#define N_VAPID_OPTS (sizeof(vapid_options) / sizeof(vapid_options[0]))

int
unsctl_vapid_main(int argc, char **argv)
{
	vapid_opts o = {.data = "uns-data"};
	char why[512], path[2048], *pub = NULL;
	int n = uns_opts_parse(vapid_options, N_VAPID_OPTS, &o, argc, argv, why,
	                       sizeof(why));

	if (n != 0 || o.help) {
		FILE *f = o.help ? stdout : stderr;
		if (n < 0) {
			fprintf(stderr, "unsctl: %s\n", why);
		}
		fprintf(f,
		        "usage: unsctl vapid [--data DIR | --key FILE]\n"
		        "makes the VAPID key unless it exists and prints its "
		        "public key (applicationServerKey)\n");
		uns_opts_usage(f, vapid_options, N_VAPID_OPTS);
		return o.help ? 0 : 2;
	}
	if (o.key != NULL) {
		snprintf(path, sizeof(path), "%s", o.key);
	} else {
		snprintf(path, sizeof(path), "%s/push/vapid.pem", o.data);
	}
	if (uns_vapid_key(path, o.key == NULL, &pub, why, sizeof(why)) !=
	    UNS_OK) {
		fprintf(stderr, "unsctl vapid: %s\n", why);
		return 1;
	}
	printf("%s\n", pub);
	free(pub);
	return 0;
}
