/*
 * unsctl_record.c — "unsctl record": run any unsctl command and keep the
 * RPC exchanges it makes as a fixture.
 *
 *   unsctl record --out FILE [--append] [--description TEXT] [--note TEXT]
 *                 [--exclusive] -- COMMAND [ARGS...]
 *
 * libuns calls a process-wide recorder for every exchange of every client
 * opened while it is set (uns_set_default_recorder), so this works for
 * every command that goes through libuns, without the command knowing.
 * The fixture is written even when the command fails: a recorded error is
 * a test case too. --append continues FILE (its names, $id1 …, carry on),
 * so a session of several commands becomes one fixture. The exit status is
 * the command's, or 1 if the fixture cannot be written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_opts.h"
#include "fixture_bind.h"
#include "uns/client.h"
#include "unsctl_fixture.h"

typedef struct record_opts {
	const char *out, *description, *note, *config, *apps;
	int append, exclusive, pause_ms, help;
} record_opts;

static const uns_opt record_options[] = {
    {"--out", UNS_OPT_STR, offsetof(record_opts, out), "FILE",
     "the fixture to write (required)"},
    {"--append", UNS_OPT_FLAG, offsetof(record_opts, append), NULL,
     "add to FILE if it exists, continuing its names"},
    {"--description", UNS_OPT_STR, offsetof(record_opts, description), "TEXT",
     "the fixture's description (header)"},
    {"--note", UNS_OPT_STR, offsetof(record_opts, note), "TEXT",
     "a note on each exchange recorded now"},
    {"--config", UNS_OPT_STR, offsetof(record_opts, config), "K=V,...",
     "server configuration the fixture expects (header)"},
    {"--apps", UNS_OPT_STR, offsetof(record_opts, apps), "ID:HOST,...",
     "apps the server must have registered (header)"},
    {"--pause", UNS_OPT_INT, offsetof(record_opts, pause_ms), "MS",
     "replay waits this long before the first exchange recorded now"},
    {"--exclusive", UNS_OPT_FLAG, offsetof(record_opts, exclusive), NULL,
     "mark the fixture to be replayed alone (it moves the test clock)"},
    {"--help", UNS_OPT_FLAG, offsetof(record_opts, help), NULL, "this text"},
};
#define N_RECORD_OPTS (sizeof(record_options) / sizeof(record_options[0]))

static void
record_exchange(void *arg, const uint8_t *req, size_t req_len,
                const uint8_t *resp, size_t resp_len)
{
	if (uns_fixture_recorder_add(arg, req, req_len, resp, resp_len, NULL,
	                             NULL) != UNS_OK) {
		fprintf(stderr, "unsctl record: an exchange could not be "
		                "recorded\n");
	}
}

static int
usage(FILE *f, int rc)
{
	fprintf(f, "usage: unsctl record --out FILE [options] -- COMMAND "
	           "[ARGS...]\n");
	uns_opts_usage(f, record_options, N_RECORD_OPTS);
	return rc;
}

static int
open_recorder(const record_opts *o, uns_fixture_recorder **rec)
{
	char why[1024];
	Uns__V1__Fixture *base = NULL;
	if (o->append && access(o->out, F_OK) == 0 &&
	    unsctl_fixture_load(o->out, &base, why, sizeof(why)) != 0) {
		fprintf(stderr, "unsctl record: %s\n", why);
		return -1;
	}
	if (uns_fixture_recorder_open(rec, base, o->description) != UNS_OK) {
		fprintf(stderr, "unsctl record: out of memory\n");
		return -1;
	}
	return 0;
}

/* Appends a new message made by make() to a repeated field. */
static void *
push(void ***arr, size_t *n, size_t size, void (*init)(void *))
{
	void **v = realloc(*arr, (*n + 1) * sizeof(*v));
	void *m = malloc(size);
	if (v == NULL || m == NULL) {
		free(m);
		if (v) {
			*arr = v;
		}
		return NULL;
	}
	init(m);
	*arr = v;
	v[(*n)++] = m;
	return m;
}

static void
init_config(void *m)
{
	uns__v1__fixture_config__init(m);
}

static void
init_app(void *m)
{
	uns__v1__fixture_app__init(m);
}

/* Adds "K=V,K=V" (sep '=') or "ID:HOST,ID:HOST" (sep ':') to the header. */
static int
add_pairs(Uns__V1__FixtureHeader *h, const char *list, char sep)
{
	char *copy = strdup(list), *save = NULL;
	int rc = copy ? 0 : -1;
	for (char *item = copy ? strtok_r(copy, ",", &save) : NULL;
	     item && rc == 0; item = strtok_r(NULL, ",", &save)) {
		char *mid = strchr(item, sep);
		if (mid == NULL) {
			fprintf(stderr, "unsctl record: \"%s\" has no '%c'\n",
			        item, sep);
			rc = -1;
			break;
		}
		*mid = '\0';
		if (sep == '=') {
			Uns__V1__FixtureConfig *c =
			    push((void ***)&h->config, &h->n_config, sizeof(*c),
			         init_config);
			rc = c && (c->key = strdup(item)) &&
			             (c->value = strdup(mid + 1))
			         ? 0
			         : -1;
		} else {
			Uns__V1__FixtureApp *a =
			    push((void ***)&h->apps, &h->n_apps, sizeof(*a),
			         init_app);
			char **hosts = malloc(sizeof(*hosts));
			rc = a && hosts && (a->id = strdup(item)) &&
			             (hosts[0] = strdup(mid + 1))
			         ? 0
			         : -1;
			if (a && hosts) {
				a->hosts = hosts;
				a->n_hosts = rc == 0;
			} else {
				free(hosts);
			}
		}
	}
	free(copy);
	return rc;
}

/* Header options and notes on what was recorded since index `from`. */
static int
annotate(const record_opts *o, Uns__V1__Fixture *f, size_t from)
{
	if (o->description) {
		char *d = strdup(o->description);
		if (d == NULL) {
			return -1;
		}
		if (f->header->description != protobuf_c_empty_string) {
			free(f->header->description);
		}
		f->header->description = d;
	}
	f->header->exclusive = f->header->exclusive || o->exclusive;
	if ((o->config && add_pairs(f->header, o->config, '=') != 0) ||
	    (o->apps && add_pairs(f->header, o->apps, ':') != 0)) {
		return -1;
	}
	if (o->pause_ms > 0 && from < f->n_exchanges) {
		f->exchanges[from]->pause_ms = (uint32_t)o->pause_ms;
	}
	for (size_t i = from; o->note && i < f->n_exchanges; i++) {
		char *n = strdup(o->note);
		if (n == NULL) {
			return -1;
		}
		f->exchanges[i]->note = n;
	}
	return 0;
}

int
unsctl_record_main(int argc, char **argv)
{
	record_opts o = {0};
	char why[1024];
	uns_fixture_recorder *rec = NULL;
	int n = uns_opts_parse(record_options, N_RECORD_OPTS, &o, argc, argv,
	                       why, sizeof(why));
	if (n < 0) {
		fprintf(stderr, "unsctl record: %s\n", why);
		return usage(stderr, 2);
	}
	if (o.help) {
		return usage(stdout, 0);
	}
	if (o.out == NULL || n == 0) {
		return usage(stderr, 2);
	}
	if (open_recorder(&o, &rec) != 0) {
		return 1;
	}
	size_t before = uns_fixture_recorder_fixture(rec)->n_exchanges;
	uns_set_default_recorder(record_exchange, rec);
	int rc = unsctl_run(n, argv);
	uns_set_default_recorder(NULL, NULL);
	Uns__V1__Fixture *f =
	    (Uns__V1__Fixture *)uns_fixture_recorder_fixture(rec);
	snprintf(why, sizeof(why), "out of memory");
	if (annotate(&o, f, before) != 0 ||
	    unsctl_fixture_save(o.out, f, why, sizeof(why)) != 0) {
		fprintf(stderr, "unsctl record: %s\n", why);
		rc = 1;
	} else {
		fprintf(stderr,
		        "unsctl record: %zu exchange(s) recorded, %s "
		        "holds %zu\n",
		        f->n_exchanges - before, o.out, f->n_exchanges);
	}
	uns_fixture_recorder_close(rec);
	return rc;
}
