/*
 * unsctl_replay.c — "unsctl replay": send fixtures to a server and diff
 * the replies.
 *
 *   unsctl replay FILE... [--url URL] [--concurrency N] [--junit FILE]
 *                 [--secret-file FILE | --key PEM] [--app-secrets FILE]
 *                 [--quiet]
 *
 * Every file is parsed before anything is sent: a truncated or corrupt one
 * is reported with its offset and the run stops (exit 2). Each fixture then
 * runs in order, exchange by exchange (common/fixture/fixture_bind.h): REQUEST
 * bindings filled in, token placeholders minted fresh from the dev key
 * (the HS256 secret unsd made, or --key), the reply compared field by
 * field, one line per difference: "path: expected X, got Y". Secrets were
 * redacted when recording ("$secret"): an app's client secret comes from
 * --app-secrets (lines "APPID SECRET", a file so that no secret shows in
 * a process list); an issued access token matches any value.
 *
 * Users are renamed per run: a placeholder for user "alice" mints a token
 * for "alice~<run tag>", so one fixture's notifications never meet
 * another's, and a server that has seen a fixture before replays it as a
 * fresh one. With --concurrency N, fixtures run N at a time, except those
 * whose header says exclusive (they move the test clock), which run alone
 * first. Output is printed per fixture, in the order given.
 *
 * Exit status: 0 when every exchange matched, 1 when any differed or
 * failed, 2 for usage errors and unreadable fixtures.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "fixture_bind.h"
#include "jwt.h"
#include "unsctl.h"
#include "unsctl_fixture.h"

#define DEFAULT_SECRET "uns-data/jwt-hs256.secret"
#define TOKEN_TTL_S    3600

typedef struct replay_opts {
	unsctl_conn conn;
	int concurrency;
	const char *junit, *secret_file, *key, *aud, *app_secrets;
	int quiet, help;
} replay_opts;

static const uns_opt replay_options[] = {
    UNSCTL_CONN_OPTS(replay_opts),
    {"--concurrency", UNS_OPT_INT, offsetof(replay_opts, concurrency), "N",
     "fixtures replayed at once (default 1)"},
    {"--junit", UNS_OPT_STR, offsetof(replay_opts, junit), "FILE",
     "also write a JUnit XML report"},
    {"--secret-file", UNS_OPT_STR, offsetof(replay_opts, secret_file), "FILE",
     "HS256 secret for tokens (default " DEFAULT_SECRET ")"},
    {"--key", UNS_OPT_STR, offsetof(replay_opts, key), "PEM",
     "private key for ES256/RS256 tokens instead"},
    {"--app-secrets", UNS_OPT_STR, offsetof(replay_opts, app_secrets), "FILE",
     "client secrets of apps, lines \"APPID SECRET\""},
    {"--aud", UNS_OPT_STR, offsetof(replay_opts, aud), "AUD",
     "token audience (default uns)"},
    {"--quiet", UNS_OPT_FLAG, offsetof(replay_opts, quiet), NULL,
     "print only failures and the summary"},
    {"--help", UNS_OPT_FLAG, offsetof(replay_opts, help), NULL, "this text"},
};
#define N_REPLAY_OPTS (sizeof(replay_options) / sizeof(replay_options[0]))

/* --- tokens ------------------------------------------------------------- */

typedef struct signer {
	const char *alg; /* "HS256", or NULL: from the PEM */
	uint8_t *key;
	size_t key_len;
	const char *aud;
} signer;

typedef struct mint_ctx {
	const signer *sg;
	char tag[16]; /* this run's user suffix */
} mint_ctx;

static uns_err
mint_token(void *arg, const uns_fixture_token *t, char **jwt, char *why,
           size_t whylen)
{
	mint_ctx *m = arg;
	uns_jwt_claims c;
	memset(&c, 0, sizeof(c));
	const char *dflt =
	    t->app ? UNS_FIXTURE_APP_SCOPES : UNS_FIXTURE_USER_SCOPES;
	snprintf(c.scopes, sizeof(c.scopes), "%s",
	         t->scopes[0] ? t->scopes : dflt);
	if (t->app) {
		snprintf(c.app_id, sizeof(c.app_id), "%s", t->subject);
	} else {
		snprintf(c.sub, sizeof(c.sub), "%.200s~%s", t->subject, m->tag);
		snprintf(c.host, sizeof(c.host), "%s", t->host);
	}
	snprintf(c.aud, sizeof(c.aud), "%s", m->sg->aud);
	c.iat = (int64_t)time(NULL);
	c.exp = c.iat + TOKEN_TTL_S;
	return uns_jwt_mint(m->sg->alg, NULL, m->sg->key, m->sg->key_len, &c,
	                    jwt, why, whylen);
}

static int
load_signer(const replay_opts *o, signer *sg)
{
	char why[512];
	sg->aud = o->aud ? o->aud : "uns";
	if (o->key) {
		sg->alg = NULL;
		if (unsctl_read_file(o->key, &sg->key, &sg->key_len, why,
		                     sizeof(why)) != 0) {
			fprintf(stderr, "unsctl replay: --key %s\n", why);
			return -1;
		}
		return 0;
	}
	const char *path = o->secret_file ? o->secret_file : DEFAULT_SECRET;
	sg->alg = "HS256";
	if (uns_jwt_read_secret_file(path, &sg->key, &sg->key_len, why,
	                             sizeof(why)) != UNS_OK) {
		fprintf(stderr,
		        "unsctl replay: token key: %s (give --secret-file or "
		        "--key)\n",
		        why);
		return -1;
	}
	return 0;
}

/* The secret of app_id from the --app-secrets text (lines "APPID SECRET"),
 * for a client secret recorded as "$secret". */
static uns_err
app_secret(void *arg, const char *app_id, char **secret, char *why,
           size_t whylen)
{
	const char *text = arg;
	size_t n = strlen(app_id);
	for (const char *l = text; l && *l;
	     l = strchr(l, '\n'), l = l ? l + 1 : l) {
		if (n > 0 && strncmp(l, app_id, n) == 0 && l[n] == ' ') {
			size_t len = strcspn(l + n + 1, "\r\n");
			*secret = strndup(l + n + 1, len);
			return *secret ? UNS_OK : UNS_ENOMEM;
		}
	}
	snprintf(why, whylen,
	         "the client secret of \"%s\" was redacted when recorded: "
	         "give it with --app-secrets FILE",
	         app_id);
	return UNS_NOT_FOUND;
}

/* --- one fixture -------------------------------------------------------- */

typedef struct run {
	const char *path;
	Uns__V1__Fixture *f;
	/* results */
	size_t failed; /* exchanges that differed or failed */
	char *out;     /* what to print */
	size_t out_len;
	char **failure; /* per exchange: its diff text, or NULL */
	double seconds;
} run;

typedef struct replay {
	const replay_opts *o;
	uns_client *client;
	const signer *sg;
	char *app_secrets; /* the --app-secrets text, or NULL */
	run *runs;
	size_t n_runs;
	/* the concurrent part */
	pthread_mutex_t mu;
	size_t next;
} replay;

typedef struct diff_sink {
	FILE *f;
	size_t n;
} diff_sink;

static void
print_diff(void *arg, const uns_fixture_diff *d)
{
	diff_sink *s = arg;
	fprintf(s->f, "    %s: expected %s, got %s\n", d->path, d->expected,
	        d->got);
	s->n++;
}

static const char *
short_method(const char *m)
{
	const char *s = strrchr(m, '/');
	return s ? s + 1 : m;
}

/* Sends exchange i and compares; writes the diff text to f. Returns the
 * number of differences (a failed call counts as one). */
static size_t
run_exchange(replay *rp, run *r, uns_fixture_binder *b, mint_ctx *mc, size_t i,
             FILE *f)
{
	const Uns__V1__FixtureExchange *ex = r->f->exchanges[i];
	char why[1024];
	uint8_t *req = NULL, *resp = NULL;
	size_t req_len = 0, resp_len = 0;
	diff_sink sink = {f, 0};
	if (ex->pause_ms) {
		nng_msleep((nng_duration)ex->pause_ms);
	}
	if (uns_fixture_request(b, ex, mint_token, mc, &req, &req_len, why,
	                        sizeof(why)) != UNS_OK) {
		fprintf(f, "    cannot build the request: %s\n", why);
		return 1;
	}
	uint32_t t = ex->request->timeout_ms;
	uns_err err = uns_client_call_raw(rp->client, req, req_len,
	                                  t ? t + 5000 : 0, &resp, &resp_len);
	free(req);
	if (err != UNS_OK) {
		fprintf(f, "    call failed: %s: %s\n", uns_status_name(err),
		        uns_last_message());
		return 1;
	}
	uns_fixture_compare(b, ex, resp, resp_len, print_diff, &sink);
	free(resp);
	return sink.n;
}

static void
run_fixture(replay *rp, run *r)
{
	mint_ctx mc = {rp->sg, ""};
	uns_fixture_binder *b = NULL;
	struct timespec t0, t1;
	FILE *f = open_memstream(&r->out, &r->out_len);
	r->failure = calloc(r->f->n_exchanges + 1, sizeof(*r->failure));
	if (f == NULL || r->failure == NULL ||
	    uns_fixture_binder_alloc(&b) != UNS_OK) {
		r->failed = r->f->n_exchanges + 1;
		if (f) {
			fclose(f);
		}
		return;
	}
	if (rp->app_secrets) {
		uns_fixture_binder_set_secrets(b, app_secret, rp->app_secrets);
	}
	snprintf(mc.tag, sizeof(mc.tag), "%08x", (unsigned)nng_random());
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < r->f->n_exchanges; i++) {
		const Uns__V1__FixtureExchange *ex = r->f->exchanges[i];
		char *text = NULL;
		size_t len = 0;
		FILE *d = open_memstream(&text, &len);
		size_t n = d ? run_exchange(rp, r, b, &mc, i, d) : 1;
		if (d) {
			fclose(d);
		}
		if (n > 0) {
			r->failed++;
			fprintf(f,
			        "  exchange %zu %s%s%s%s: %zu difference%s\n%s",
			        i, short_method(ex->request->method),
			        ex->note[0] ? " (" : "", ex->note,
			        ex->note[0] ? ")" : "", n, n == 1 ? "" : "s",
			        text ? text : "");
			r->failure[i] = text;
		} else {
			free(text);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r->seconds = (double)(t1.tv_sec - t0.tv_sec) +
	             (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	uns_fixture_binder_free(b);
	fclose(f);
}

static void *
worker(void *arg)
{
	replay *rp = arg;
	for (;;) {
		pthread_mutex_lock(&rp->mu);
		size_t i = rp->next;
		while (i < rp->n_runs && rp->runs[i].f->header->exclusive) {
			i++;
		}
		rp->next = i + 1;
		pthread_mutex_unlock(&rp->mu);
		if (i >= rp->n_runs) {
			return NULL;
		}
		run_fixture(rp, &rp->runs[i]);
	}
}

static void
run_all(replay *rp, int concurrency)
{
	pthread_t th[64];
	int n = concurrency < 1 ? 1 : concurrency > 64 ? 64 : concurrency;
	for (size_t i = 0; i < rp->n_runs; i++) {
		if (rp->runs[i].f->header->exclusive) {
			run_fixture(rp, &rp->runs[i]);
		}
	}
	pthread_mutex_init(&rp->mu, NULL);
	int started = 0;
	for (int i = 0; i < n; i++) {
		started += pthread_create(&th[started], NULL, worker, rp) == 0;
	}
	if (started == 0) {
		worker(rp);
	}
	for (int i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
	}
	pthread_mutex_destroy(&rp->mu);
}

/* --- reports ------------------------------------------------------------ */

static void
xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static int
write_junit(const replay *rp, const char *path)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "unsctl replay: cannot write %s\n", path);
		return -1;
	}
	fprintf(f,
	        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
	for (size_t i = 0; i < rp->n_runs; i++) {
		const run *r = &rp->runs[i];
		fprintf(f, "  <testsuite name=\"");
		xml_text(f, r->path);
		fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n",
		        r->f->n_exchanges, r->failed, r->seconds);
		for (size_t k = 0; k < r->f->n_exchanges; k++) {
			const Uns__V1__FixtureExchange *ex = r->f->exchanges[k];
			fprintf(f, "    <testcase classname=\"");
			xml_text(f, r->path);
			fprintf(f, "\" name=\"%03zu %s ", k,
			        short_method(ex->request->method));
			xml_text(f, ex->note);
			fprintf(f, "\"");
			if (r->failure && r->failure[k]) {
				fprintf(f, "><failure message=\"differs\">");
				xml_text(f, r->failure[k]);
				fprintf(f, "</failure></testcase>\n");
			} else {
				fprintf(f, "/>\n");
			}
		}
		fprintf(f, "  </testsuite>\n");
	}
	fprintf(f, "</testsuites>\n");
	return fclose(f) == 0 ? 0 : -1;
}

/* What a failed fixture's header asks of the server: often the reason. */
static void
print_expectations(const Uns__V1__FixtureHeader *h)
{
	if (h->n_config == 0 && h->n_apps == 0) {
		return;
	}
	printf("  the fixture expects a server with");
	for (size_t i = 0; i < h->n_config; i++) {
		printf("%s %s = %s", i ? "," : "", h->config[i]->key,
		       h->config[i]->value);
	}
	for (size_t i = 0; i < h->n_apps; i++) {
		printf("%s app %s (%s)", i || h->n_config ? "," : "",
		       h->apps[i]->id,
		       h->apps[i]->n_hosts ? h->apps[i]->hosts[0] : "");
	}
	printf("\n");
}

static int
summarize(const replay *rp, int quiet)
{
	size_t ex = 0, bad_ex = 0, bad = 0;
	for (size_t i = 0; i < rp->n_runs; i++) {
		const run *r = &rp->runs[i];
		ex += r->f->n_exchanges;
		bad_ex += r->failed;
		bad += r->failed > 0;
		if (r->failed || !quiet) {
			printf("%s %s (%zu exchanges, %.3f s)\n",
			       r->failed ? "FAIL" : "ok  ", r->path,
			       r->f->n_exchanges, r->seconds);
		}
		if (r->out && r->failed) {
			fputs(r->out, stdout);
			print_expectations(r->f->header);
		}
	}
	printf("replayed %zu fixtures, %zu exchanges: %zu fixtures failed, "
	       "%zu exchanges differed\n",
	       rp->n_runs, ex, bad, bad_ex);
	return bad ? 1 : 0;
}

/* --- main --------------------------------------------------------------- */

static int
load_all(replay *rp, int n, char **paths)
{
	char why[1024];
	int bad = 0;
	rp->runs = calloc((size_t)n, sizeof(*rp->runs));
	if (rp->runs == NULL) {
		return -1;
	}
	for (int i = 0; i < n; i++) {
		rp->runs[i].path = paths[i];
		if (unsctl_fixture_load(paths[i], &rp->runs[i].f, why,
		                        sizeof(why)) != 0) {
			fprintf(stderr, "unsctl replay: %s\n", why);
			bad = 1;
		}
	}
	rp->n_runs = (size_t)n;
	return bad ? -1 : 0;
}

static void
free_all(replay *rp)
{
	for (size_t i = 0; i < rp->n_runs; i++) {
		run *r = &rp->runs[i];
		for (size_t k = 0; r->failure && r->f && k < r->f->n_exchanges;
		     k++) {
			free(r->failure[k]);
		}
		free(r->failure);
		free(r->out);
		if (r->f) {
			uns__v1__fixture__free_unpacked(r->f, NULL);
		}
	}
	free(rp->runs);
}

static int
usage(FILE *f, int rc)
{
	fprintf(f, "usage: unsctl replay FILE... [options]\n");
	uns_opts_usage(f, replay_options, N_REPLAY_OPTS);
	return rc;
}

int
unsctl_replay_main(int argc, char **argv)
{
	replay_opts o = {0};
	replay rp = {0};
	signer sg = {0};
	char why[256];
	uint8_t *secrets = NULL;
	size_t secrets_len = 0;
	int n = uns_opts_parse(replay_options, N_REPLAY_OPTS, &o, argc, argv,
	                       why, sizeof(why));
	if (n < 0) {
		fprintf(stderr, "unsctl replay: %s\n", why);
		return usage(stderr, 2);
	}
	if (o.help || n == 0) {
		return o.help ? usage(stdout, 0) : usage(stderr, 2);
	}
	int rc = 2;
	rp.o = &o;
	rp.sg = &sg;
	if (load_all(&rp, n, argv) != 0 || load_signer(&o, &sg) != 0) {
		goto out;
	}
	if (o.app_secrets &&
	    unsctl_read_file(o.app_secrets, &secrets, &secrets_len, why,
	                     sizeof(why)) != 0) {
		fprintf(stderr, "unsctl replay: --app-secrets %s\n", why);
		goto out;
	}
	rp.app_secrets = (char *)secrets;
	unsctl_conn_defaults(&o.conn);
	rc = 1;
	if ((rp.client = unsctl_connect(&o.conn)) == NULL) {
		goto out;
	}
	run_all(&rp, o.concurrency);
	rc = summarize(&rp, o.quiet);
	if (o.junit && write_junit(&rp, o.junit) != 0) {
		rc = 1;
	}
out:
	uns_client_close(rp.client);
	free_all(&rp);
	free(sg.key);
	free(rp.app_secrets);
	return rc;
}
