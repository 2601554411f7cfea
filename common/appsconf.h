/*
 * appsconf.h — one line of DATA/apps.conf, the app registry that
 * `unsctl app` writes and unsd reads at start and on SIGHUP (appsconf.c).
 * The one parser and writer of the format, for both.
 *
 *   APP_ID HOST[,HOST…] SECRET_HASH [OLD_HASH OLD_UNTIL]
 *
 * SECRET_HASH is a hash of crypto.h (uns_secret_hash) or "-" (no secret:
 * the token endpoint refuses the app). After `unsctl app rotate-secret`
 * the previous hash follows, valid until OLD_UNTIL (Unix seconds). "#"
 * starts a comment line; blank lines are skipped.
 */
#ifndef UNS_APPSCONF_H
#define UNS_APPSCONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define UNS_APP_MAX_HOSTS 16
#define UNS_APP_ID_MAX    256 /* also the longest host name */

typedef struct uns_app_line {
	const char *id;
	const char *hosts[UNS_APP_MAX_HOSTS];
	size_t n_hosts;
	const char *hash;     /* "-" = none */
	const char *old_hash; /* NULL = none */
	int64_t old_until;    /* Unix seconds; with old_hash */
} uns_app_line;

/*
 * Splits line in place into *out (pointers into line). Returns 1 for an
 * app, 0 for a blank or comment line, -1 for a malformed one with the
 * reason in why. Hashes are not checked here (crypto.h does).
 */
int uns_app_line_parse(char *line, uns_app_line *out, char *why, size_t whylen);
/* Writes a's line, newline included; 0 or -1 (errno set). */
int uns_app_line_write(FILE *f, const uns_app_line *a);

#endif /* UNS_APPSCONF_H */
