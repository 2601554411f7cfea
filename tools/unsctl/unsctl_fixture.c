/*
 * unsctl_fixture.c — "unsctl fixture": look at and edit fixture files.
 *
 *   unsctl fixture show FILE          the fixture as JSON
 *   unsctl fixture build [--out FILE] [JSON|-]   JSON back to a fixture
 *   unsctl fixture edit FILE          show, $EDITOR, build, in place
 *   unsctl fixture check FILE...      parse only; offsets of faults
 *
 * The JSON form is the Fixture message in proto3 JSON (common/json/json_codec)
 * with two changes that make it readable: each envelope's payload is the
 * method's request or reply message as JSON, not base64 (a payload that
 * does not decode stays a base64 string), and metadata values are text
 * ("value"; "valueBase64" when they are not UTF-8). The file-level helpers
 * shared with record and replay live here too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_opts.h"
#include "errors.h"
#include "files.h"
#include "json_codec.h"
#include "uns_methods.h"
#include "unsctl_fixture.h"

#define MAX_FIXTURE_FILE (256u << 20)

/* --- files -------------------------------------------------------------- */

/* stdin, for "fixture build -". */
static int
read_stdin(uint8_t **out, size_t *len, char *why, size_t whylen)
{
	size_t cap = 1 << 16, n = 0, got;
	uint8_t *buf = malloc(cap);
	while (buf != NULL && (got = fread(buf + n, 1, cap - n, stdin)) > 0) {
		n += got;
		if (n < cap) {
			continue;
		}
		uint8_t *nb =
		    cap < MAX_FIXTURE_FILE ? realloc(buf, cap * 2) : NULL;
		if (nb == NULL) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	if (buf == NULL || ferror(stdin)) {
		snprintf(why, whylen, "cannot read stdin whole");
		free(buf);
		return -1;
	}
	*out = buf;
	*len = n;
	return 0;
}

int
unsctl_read_file(const char *path, uint8_t **out, size_t *len, char *why,
                 size_t whylen)
{
	char *text = NULL;
	if (strcmp(path, "-") == 0) {
		return read_stdin(out, len, why, whylen);
	}
	if (uns_file_read(path, MAX_FIXTURE_FILE, &text, len, why, whylen) !=
	    UNS_OK) {
		return -1;
	}
	*out = (uint8_t *)text;
	return 0;
}

int
unsctl_fixture_load(const char *path, Uns__V1__Fixture **out, char *why,
                    size_t whylen)
{
	char reason[512];
	uint8_t *buf = NULL;
	size_t len = 0;
	if (unsctl_read_file(path, &buf, &len, why, whylen) != 0) {
		return -1;
	}
	uns_err err = uns_fixture_parse(buf, len, out, reason, sizeof(reason));
	free(buf);
	if (err != UNS_OK) {
		snprintf(why, whylen, "%s: %s", path, reason);
		return -1;
	}
	return 0;
}

int
unsctl_fixture_save(const char *path, const Uns__V1__Fixture *f, char *why,
                    size_t whylen)
{
	char tmp[4096];
	uint8_t *buf = NULL;
	size_t len = 0;
	Uns__V1__Fixture counted = *f;
	counted.exchange_count = (uint32_t)f->n_exchanges;
	if (uns_fixture_pack(&counted.base, &buf, &len) != UNS_OK) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
	FILE *out = fopen(tmp, "wb");
	int ok = out && fwrite(buf, 1, len, out) == len;
	ok = out && fclose(out) == 0 && ok;
	free(buf);
	if (!ok || rename(tmp, path) != 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* --- the JSON form ------------------------------------------------------ */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static uns_jv *
base64_string(const uint8_t *p, size_t n)
{
	size_t cap = (n + 2) / 3 * 4 + 1, o = 0;
	char *s = malloc(cap);
	if (s == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		v |= i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0;
		v |= i + 2 < n ? p[i + 2] : 0;
		s[o++] = b64[v >> 18];
		s[o++] = b64[(v >> 12) & 63];
		s[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		s[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	uns_jv *j = uns_jv_new_strn(s, o);
	free(s);
	return j;
}

/* Replaces obj[key] (base64 of a message of type d) by its JSON. */
static void
payload_to_json(uns_jv *obj, const ProtobufCMessageDescriptor *d,
                ProtobufCBinaryData pl)
{
	ProtobufCMessage *m =
	    d ? protobuf_c_message_unpack(d, NULL, pl.len, pl.data) : NULL;
	uns_jv *v = NULL;
	if (m && uns_json_to_value(m, NULL, 0, &v) == UNS_OK) {
		(void)uns_jv_set(obj, "payload", v);
	}
	if (m) {
		protobuf_c_message_free_unpacked(m, NULL);
	}
}

static void
metadata_to_text(uns_jv *req, const Uns__V1__RequestEnvelope *r)
{
	uns_jv *arr = uns_jv_get(req, "metadata");
	for (size_t k = 0; k < r->n_metadata && k < uns_jv_len(arr); k++) {
		uns_jv *md = uns_jv_at(arr, k);
		const ProtobufCBinaryData *v = &r->metadata[k]->value;
		uns_jv *text = uns_jv_new_strn((const char *)v->data, v->len);
		if (text) {
			(void)uns_jv_set(md, "value", text);
		} else {
			(void)uns_jv_set(md, "valueBase64",
			                 uns_jv_ref(uns_jv_get(md, "value")));
			(void)uns_jv_del(md, "value");
		}
	}
}

int
unsctl_fixture_to_json(const Uns__V1__Fixture *f, uns_jv **out, char *why,
                       size_t whylen)
{
	uns_jv *doc = NULL;
	if (uns_json_to_value(&f->base, NULL, 0, &doc) != UNS_OK) {
		snprintf(why, whylen, "cannot render as JSON: %s",
		         uns_last_message());
		return -1;
	}
	uns_jv *exs = uns_jv_get(doc, "exchanges");
	for (size_t i = 0; i < f->n_exchanges; i++) {
		const Uns__V1__FixtureExchange *ex = f->exchanges[i];
		uns_jv *je = uns_jv_at(exs, i);
		uns_jv *req = uns_jv_get(je, "request");
		uns_jv *exp = uns_jv_get(je, "expected");
		const uns_method *m = uns_service_find(
		    &uns_notifications_service, ex->request->method);
		metadata_to_text(req, ex->request);
		payload_to_json(req, m ? m->input : NULL, ex->request->payload);
		if (exp && ex->expected->code == 0) {
			payload_to_json(exp, m ? m->output : NULL,
			                ex->expected->payload);
		}
	}
	*out = doc;
	return 0;
}

/* Turns obj.payload, if an object, into base64 of a packed message of
 * type d; where names the place for errors. */
static int
payload_from_json(uns_jv *obj, const ProtobufCMessageDescriptor *d,
                  const char *where, char *why, size_t whylen)
{
	uns_jv *pl = uns_jv_get(obj, "payload");
	ProtobufCMessage *m = NULL;
	uns_json_error jerr;
	if (uns_jv_typeof(pl) != UNS_JV_OBJECT) {
		return 0;
	}
	if (d == NULL) {
		snprintf(why, whylen,
		         "%s.payload: unknown method, give base64 instead",
		         where);
		return -1;
	}
	if (uns_json_from_value(d, pl, NULL, &m, &jerr) != UNS_OK) {
		snprintf(why, whylen, "%s.payload%s%s: %s", where,
		         jerr.path[0] ? "." : "", jerr.path, jerr.message);
		return -1;
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	uns_err err = uns_fixture_pack(m, &buf, &len);
	protobuf_c_message_free_unpacked(m, NULL);
	if (err != UNS_OK) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	err = uns_jv_set(obj, "payload", base64_string(buf, len));
	free(buf);
	if (err != UNS_OK) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

static int
metadata_from_text(uns_jv *req, const char *where, char *why, size_t whylen)
{
	uns_jv *arr = uns_jv_get(req, "metadata");
	for (size_t k = 0; k < uns_jv_len(arr); k++) {
		uns_jv *md = uns_jv_at(arr, k);
		uns_jv *v = uns_jv_get(md, "value");
		uns_jv *raw = uns_jv_get(md, "valueBase64");
		const char *s;
		size_t n;
		if (raw) {
			(void)uns_jv_set(md, "value", uns_jv_ref(raw));
			(void)uns_jv_del(md, "valueBase64");
		} else if (uns_jv_str(v, &s, &n) == UNS_OK) {
			(void)uns_jv_set(md, "value",
			                 base64_string((const uint8_t *)s, n));
		} else if (v) {
			snprintf(why, whylen,
			         "%s.metadata[%zu].value: expected a string",
			         where, k);
			return -1;
		}
	}
	return 0;
}

static int
exchange_from_json(uns_jv *je, size_t i, char *why, size_t whylen)
{
	char where[64];
	uns_jv *req = uns_jv_get(je, "request");
	uns_jv *exp = uns_jv_get(je, "expected");
	const char *method = uns_jv_string(uns_jv_get(req, "method"));
	const uns_method *m =
	    method ? uns_service_find(&uns_notifications_service, method)
	           : NULL;
	snprintf(where, sizeof(where), "exchanges[%zu].request", i);
	if (metadata_from_text(req, where, why, whylen) != 0 ||
	    payload_from_json(req, m ? m->input : NULL, where, why, whylen) !=
	        0) {
		return -1;
	}
	snprintf(where, sizeof(where), "exchanges[%zu].expected", i);
	return payload_from_json(exp, m ? m->output : NULL, where, why, whylen);
}

int
unsctl_fixture_from_json(uns_jv *doc, Uns__V1__Fixture **out, char *why,
                         size_t whylen)
{
	ProtobufCMessage *m = NULL;
	uns_json_error jerr;
	char reason[512];
	uns_jv *exs = uns_jv_get(doc, "exchanges");
	for (size_t i = 0; i < uns_jv_len(exs); i++) {
		if (exchange_from_json(uns_jv_at(exs, i), i, why, whylen) !=
		    0) {
			return -1;
		}
	}
	if (uns_json_from_value(&uns__v1__fixture__descriptor, doc, NULL, &m,
	                        &jerr) != UNS_OK) {
		snprintf(why, whylen, "%s%s%s", jerr.path,
		         jerr.path[0] ? ": " : "", jerr.message);
		return -1;
	}
	Uns__V1__Fixture *f = (Uns__V1__Fixture *)m;
	f->exchange_count = (uint32_t)f->n_exchanges;
	if (uns_fixture_check(f, reason, sizeof(reason)) != UNS_OK) {
		snprintf(why, whylen, "%s", reason);
		uns__v1__fixture__free_unpacked(f, NULL);
		return -1;
	}
	*out = f;
	return 0;
}

/* --- subcommands -------------------------------------------------------- */

typedef struct fixture_opts {
	const char *out;
	int help;
} fixture_opts;

static const uns_opt fixture_options[] = {
    {"--out", UNS_OPT_STR, offsetof(fixture_opts, out), "FILE",
     "build: where to write the fixture (default stdout)"},
    {"--help", UNS_OPT_FLAG, offsetof(fixture_opts, help), NULL, "this text"},
};
#define N_FIXTURE_OPTS (sizeof(fixture_options) / sizeof(fixture_options[0]))

static int
fail(const char *why)
{
	fprintf(stderr, "unsctl fixture: %s\n", why);
	return 1;
}

static int
show_to(FILE *out, const char *path)
{
	char why[1024];
	Uns__V1__Fixture *f = NULL;
	uns_jv *doc = NULL;
	char *text = NULL;
	size_t len = 0;
	if (unsctl_fixture_load(path, &f, why, sizeof(why)) != 0) {
		return fail(why);
	}
	int rc = unsctl_fixture_to_json(f, &doc, why, sizeof(why));
	uns__v1__fixture__free_unpacked(f, NULL);
	if (rc != 0) {
		return fail(why);
	}
	rc = uns_jv_dump(doc, UNS_JV_PRETTY, &text, &len) == UNS_OK &&
	             fwrite(text, 1, len, out) == len && fputc('\n', out) != EOF
	         ? 0
	         : -1;
	free(text);
	uns_jv_free(doc);
	return rc == 0 ? 0 : fail("cannot write the JSON");
}

static int
run_show(int n, char **pos, const fixture_opts *o)
{
	(void)o;
	return n == 1 ? show_to(stdout, pos[0]) : 2;
}

/* Builds a fixture from the JSON at path and writes it to out (or, for
 * "" / NULL, stdout). */
static int
build_file(const char *path, const char *out)
{
	char why[1024];
	uint8_t *text = NULL;
	size_t len = 0;
	uns_jv_error jerr;
	uns_jv *doc = NULL;
	Uns__V1__Fixture *f = NULL;
	if (unsctl_read_file(path, &text, &len, why, sizeof(why)) != 0) {
		return fail(why);
	}
	uns_err err = uns_jv_parse((const char *)text, len, 0, &doc, &jerr);
	free(text);
	if (err != UNS_OK) {
		snprintf(why, sizeof(why), "%s: line %d column %d: %s", path,
		         jerr.line, jerr.column,
		         err == UNS_INVALID_ARGUMENT ? jerr.reason
		                                     : uns_strerror(err));
		return fail(why);
	}
	int rc = unsctl_fixture_from_json(doc, &f, why, sizeof(why));
	uns_jv_free(doc);
	if (rc != 0) {
		return fail(why);
	}
	if (out && out[0]) {
		rc = unsctl_fixture_save(out, f, why, sizeof(why));
	} else {
		uint8_t *buf = NULL;
		size_t n = 0;
		rc = uns_fixture_pack(&f->base, &buf, &n) == UNS_OK &&
		             fwrite(buf, 1, n, stdout) == n
		         ? 0
		         : -1;
		snprintf(why, sizeof(why), "cannot write the fixture");
		free(buf);
	}
	uns__v1__fixture__free_unpacked(f, NULL);
	return rc == 0 ? 0 : fail(why);
}

static int
run_build(int n, char **pos, const fixture_opts *o)
{
	return n <= 1 ? build_file(n ? pos[0] : "-", o->out) : 2;
}

static int
run_edit(int n, char **pos, const fixture_opts *o)
{
	char tmp[] = "/tmp/unsctl-fixture-XXXXXX.json", cmd[8192];
	(void)o;
	if (n != 1) {
		return 2;
	}
	int fd = mkstemps(tmp, 5);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL) {
		return fail("cannot make a temporary file");
	}
	int rc = show_to(f, pos[0]);
	fclose(f);
	const char *editor = getenv("EDITOR") ? getenv("EDITOR") : "vi";
	snprintf(cmd, sizeof(cmd), "%s '%s'", editor, tmp);
	if (rc == 0 && (rc = system(cmd)) != 0) {
		fprintf(stderr, "unsctl fixture: %s exited with %d; %s kept\n",
		        editor, rc, tmp);
		return 1;
	}
	if (rc == 0 && (rc = build_file(tmp, pos[0])) != 0) {
		fprintf(stderr, "unsctl fixture: your edit is kept in %s\n",
		        tmp);
		return rc;
	}
	unlink(tmp);
	return rc;
}

static int
run_check(int n, char **pos, const fixture_opts *o)
{
	char why[1024];
	int bad = 0;
	(void)o;
	for (int i = 0; i < n; i++) {
		Uns__V1__Fixture *f = NULL;
		if (unsctl_fixture_load(pos[i], &f, why, sizeof(why)) != 0) {
			fprintf(stderr, "%s\n", why);
			bad = 1;
			continue;
		}
		printf("%s: %zu exchanges: %s\n", pos[i], f->n_exchanges,
		       f->header->description);
		uns__v1__fixture__free_unpacked(f, NULL);
	}
	return n == 0 ? 2 : bad;
}

static const struct fixture_cmd {
	const char *name, *synopsis;
	int (*run)(int n, char **pos, const fixture_opts *o);
} fixture_cmds[] = {
    {"show", "show FILE", run_show},
    {"build", "build [--out FILE] [JSON-FILE|-]", run_build},
    {"edit", "edit FILE   ($EDITOR, default vi)", run_edit},
    {"check", "check FILE...", run_check},
};
#define N_FIXTURE_CMDS (sizeof(fixture_cmds) / sizeof(fixture_cmds[0]))

static int
fixture_usage(FILE *f)
{
	for (size_t i = 0; i < N_FIXTURE_CMDS; i++) {
		fprintf(f, "%s unsctl fixture %s\n",
		        i ? "      " : "usage:", fixture_cmds[i].synopsis);
	}
	uns_opts_usage(f, fixture_options, N_FIXTURE_OPTS);
	return f == stdout ? 0 : 2;
}

int
unsctl_fixture_main(int argc, char **argv)
{
	fixture_opts o = {0};
	char why[256];
	if (argc < 2) {
		return fixture_usage(stderr);
	}
	const char *sub = argv[1];
	int n = uns_opts_parse(fixture_options, N_FIXTURE_OPTS, &o, argc - 1,
	                       argv + 1, why, sizeof(why));
	if (n < 0) {
		fprintf(stderr, "unsctl fixture: %s\n", why);
		return fixture_usage(stderr);
	}
	if (o.help) {
		return fixture_usage(stdout);
	}
	for (size_t i = 0; i < N_FIXTURE_CMDS; i++) {
		if (strcmp(sub, fixture_cmds[i].name) == 0) {
			int rc = fixture_cmds[i].run(n, argv + 1, &o);
			return rc == 2 ? fixture_usage(stderr) : rc;
		}
	}
	fprintf(stderr, "unsctl fixture: unknown subcommand %s\n", sub);
	return fixture_usage(stderr);
}
