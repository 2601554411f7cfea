/*
 * appsconf.c — see appsconf.h. Fields are split on blanks, hosts on
 * commas, in place: the caller keeps the line while it uses the result.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "appsconf.h"
#include "errors.h"

#define BLANKS " \t\r\n"

static int
split_hosts(char *list, uns_app_line *out, char *why, size_t whylen)
{
	char *save = NULL;

	out->n_hosts = 0;
	for (char *h = strtok_r(list, ",", &save); h != NULL;
	     h = strtok_r(NULL, ",", &save)) {
		if (out->n_hosts == UNS_APP_MAX_HOSTS ||
		    strlen(h) > UNS_APP_ID_MAX) {
			uns_say(why, whylen,
			        "at most %d hosts of at most %d characters",
			        UNS_APP_MAX_HOSTS, UNS_APP_ID_MAX);
			return -1;
		}
		out->hosts[out->n_hosts++] = h;
	}
	if (out->n_hosts == 0) {
		uns_say(why, whylen, "no host");
		return -1;
	}
	return 0;
}

/* OLD_UNTIL: Unix seconds, digits only. */
static int
parse_until(const char *s, int64_t *out)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9') {
		return -1;
	}
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0') {
		return -1;
	}
	*out = v;
	return 0;
}

int
uns_app_line_parse(char *line, uns_app_line *out, char *why, size_t whylen)
{
	char *save = NULL;
	char *id = strtok_r(line, BLANKS, &save);
	char *hosts, *hash, *old, *until;

	if (id == NULL || id[0] == '#') {
		return 0;
	}
	hosts = strtok_r(NULL, BLANKS, &save);
	hash = hosts ? strtok_r(NULL, BLANKS, &save) : NULL;
	old = hash ? strtok_r(NULL, BLANKS, &save) : NULL;
	until = old ? strtok_r(NULL, BLANKS, &save) : NULL;
	if (hash == NULL || strlen(id) > UNS_APP_ID_MAX) {
		uns_say(why, whylen,
		        "expected APP_ID HOST[,HOST...] SECRET_HASH "
		        "[OLD_HASH OLD_UNTIL]");
		return -1;
	}
	memset(out, 0, sizeof(*out));
	if (old != NULL && (parse_until(until, &out->old_until) != 0 ||
	                    strtok_r(NULL, BLANKS, &save) != NULL)) {
		uns_say(why, whylen,
		        "after SECRET_HASH: OLD_HASH and OLD_UNTIL (Unix "
		        "seconds), or nothing");
		return -1;
	}
	if (split_hosts(hosts, out, why, whylen) != 0) {
		return -1;
	}
	out->id = id;
	out->hash = hash;
	out->old_hash = old;
	return 1;
}

int
uns_app_line_write(FILE *f, const uns_app_line *a)
{
	int rc = fprintf(f, "%s ", a->id);
	for (size_t i = 0; rc >= 0 && i < a->n_hosts; i++) {
		rc = fprintf(f, "%s%s", i ? "," : "", a->hosts[i]);
	}
	if (rc >= 0) {
		rc = fprintf(f, " %s", a->hash);
	}
	if (rc >= 0 && a->old_hash != NULL) {
		rc = fprintf(f, " %s %" PRId64, a->old_hash, a->old_until);
	}
	if (rc >= 0) {
		rc = fprintf(f, "\n");
	}
	return rc < 0 ? -1 : 0;
}
