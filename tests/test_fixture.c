/*
 * test_fixture.c — protobuf fixtures (SPEC §7): the file format and its
 * offsets, token placeholders, binding and comparison, and unsctl record /
 * replay / fixture against real unsd processes: the corpus in
 * tests/fixtures replays with zero differences on a freshly started unsd,
 * a recording replays on another fresh server, an altered fixture fails
 * with a diff naming the field, a cut or corrupt file is reported with its
 * offset and nothing is sent, and protoc --decode reads every fixture.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "fixture.h"
#include "fixture_bind.h"
#include "json_codec.h"
#include "json_value.h"
#include "testutil.h"
#include "uns_stubs.h"

#define CORPUS UNS_SOURCE_DIR "/tests/fixtures"

/* --- helpers ------------------------------------------------------------ */

static uint8_t *
read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t *buf = malloc(1 << 22);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 22, f);
	fclose(f);
	return buf;
}

/* The corpus files, sorted, as one space-separated string. */
static void
corpus_files(char *out, size_t cap, int *count)
{
	struct dirent **names = NULL;
	int n = scandir(CORPUS, &names, NULL, alphasort);
	assert_true(n > 0);
	out[0] = '\0';
	*count = 0;
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		size_t l = strlen(nm);
		if (l > 8 && strcmp(nm + l - 8, ".fixture") == 0) {
			size_t o = strlen(out);
			snprintf(out + o, cap - o, " %s/%s", CORPUS, nm);
			(*count)++;
		}
		free(names[i]);
	}
	free(names);
}

/* A fresh unsd in its own directory, with apps and configuration. */
typedef struct served {
	char dir[256], data[320], url[64], conn[1024], call_conn[1024];
	ut_proc p;
} served;

static void
serve(served *s, const char *config_text, const char *const *apps,
      const char *const *extra_args)
{
	char conf[400], cmd[1024], out[4096];
	const char *args[16];
	int n = 0;
	ut_mkdtemp(s->dir, sizeof(s->dir));
	snprintf(s->data, sizeof(s->data), "%s/data", s->dir);
	assert_int_equal(mkdir(s->data, 0700), 0);
	for (int i = 0; apps && apps[i]; i += 2) {
		snprintf(cmd, sizeof(cmd),
		         "%s app add --data %s --id %s --hosts %s 2>&1",
		         UNS_UNSCTL_PATH, s->data, apps[i], apps[i + 1]);
		assert_int_equal(ut_run(cmd, out, sizeof(out)), 0);
	}
	snprintf(conf, sizeof(conf), "%s/unsd.conf", s->dir);
	snprintf(cmd, sizeof(cmd), "gateway_listen = \"\"\n%s", config_text);
	ut_write_file(conf, cmd);
	args[n++] = "--data";
	args[n++] = s->data;
	args[n++] = "--config";
	args[n++] = conf;
	for (int i = 0; extra_args && extra_args[i]; i++) {
		args[n++] = extra_args[i];
	}
	args[n] = NULL;
	assert_int_equal(ut_unsd_start(&s->p, "tls+tcp://127.0.0.1:0", args),
	                 0);
	snprintf(s->url, sizeof(s->url), "tls+tcp://localhost:%d", s->p.port);
	snprintf(s->call_conn, sizeof(s->call_conn),
	         "--url %s --ca %s/tls/ca.pem", s->url, s->data);
	snprintf(s->conn, sizeof(s->conn),
	         "--url %s --ca %s/tls/ca.pem --secret-file "
	         "%s/jwt-hs256.secret",
	         s->url, s->data, s->data);
}

static void
unserve(served *s)
{
	char out[8192];
	assert_int_equal(ut_unsd_stop(&s->p, SIGTERM, out, sizeof(out)), 0);
	ut_rmdir(s->dir);
}

/* The configuration and apps every corpus header asks for. */
static void
corpus_server(served *s)
{
	char files[8192], why[512], config[4096] = "";
	const char *apps[64];
	int n_files, n_apps = 0;
	corpus_files(files, sizeof(files), &n_files);
	static char app_ids[32][64], app_hosts[32][256];
	char *save = NULL;
	for (char *path = strtok_r(files, " ", &save); path;
	     path = strtok_r(NULL, " ", &save)) {
		size_t len;
		uint8_t *buf = read_all(path, &len);
		Uns__V1__Fixture *f = NULL;
		assert_int_equal(
		    uns_fixture_parse(buf, len, &f, why, sizeof(why)), UNS_OK);
		free(buf);
		for (size_t i = 0; i < f->header->n_config; i++) {
			char line[512];
			snprintf(line, sizeof(line), "%s = %s\n",
			         f->header->config[i]->key,
			         f->header->config[i]->value);
			if (strstr(config, line) == NULL) {
				strncat(config, line,
				        sizeof(config) - strlen(config) - 1);
			}
		}
		for (size_t i = 0; i < f->header->n_apps; i++) {
			const Uns__V1__FixtureApp *a = f->header->apps[i];
			int seen = 0;
			for (int k = 0; k < n_apps; k += 2) {
				seen |= strcmp(apps[k], a->id) == 0;
			}
			if (!seen && a->n_hosts > 0 && n_apps < 62) {
				int k = n_apps / 2;
				snprintf(app_ids[k], sizeof(app_ids[k]), "%s",
				         a->id);
				snprintf(app_hosts[k], sizeof(app_hosts[k]),
				         "%s", a->hosts[0]);
				apps[n_apps++] = app_ids[k];
				apps[n_apps++] = app_hosts[k];
			}
		}
		uns__v1__fixture__free_unpacked(f, NULL);
	}
	apps[n_apps] = NULL;
	assert_non_null(strstr(config, "test_clock = true"));
	serve(s, config, apps, NULL);
}

/* A small fixture built in memory: Health, then Echo. */
static Uns__V1__Fixture *
small_fixture(void)
{
	static const char json[] =
	    "{\"header\":{\"formatVersion\":1,\"description\":\"small\"},"
	    "\"exchanges\":[{\"request\":{\"method\":"
	    "\"/uns.v1.Notifications/Echo\",\"requestId\":\"r1\","
	    "\"metadata\":[{\"key\":\"authorization\",\"value\":"
	    "\"QmVhcmVyICR0b2tlbjp1c2VyOmFsaWNlQGNvbnRvc28uZXhhbXBsZS5jb20=\"}"
	    "],\"payload\":\"CgJoaQ==\"},"
	    "\"expected\":{\"requestId\":\"r1\",\"payload\":\"CgJoaQ==\"}}]}";
	ProtobufCMessage *m = NULL;
	uns_json_error jerr;
	uns_jv *doc = NULL;
	assert_int_equal(uns_jv_parse(json, strlen(json), 0, &doc, NULL),
	                 UNS_OK);
	assert_int_equal(uns_json_from_value(&uns__v1__fixture__descriptor, doc,
	                                     NULL, &m, &jerr),
	                 UNS_OK);
	uns_jv_free(doc);
	return (Uns__V1__Fixture *)m;
}

/* --- the format --------------------------------------------------------- */

static void
test_parse_reports_offsets(void **state)
{
	(void)state;
	char why[512];
	uint8_t *buf = NULL;
	size_t len = 0;
	Uns__V1__Fixture *f = small_fixture(), *g = NULL;
	f->exchange_count = 1;
	assert_int_equal(uns_fixture_pack(&f->base, &buf, &len), UNS_OK);
	assert_int_equal(uns_fixture_parse(buf, len, &g, why, sizeof(why)),
	                 UNS_OK);
	assert_int_equal(g->n_exchanges, 1);
	uns__v1__fixture__free_unpacked(g, NULL);

	/* Every cut is refused with an offset within the file. */
	for (size_t cut = 1; cut < len; cut++) {
		g = NULL;
		assert_int_equal(
		    uns_fixture_parse(buf, cut, &g, why, sizeof(why)),
		    UNS_INVALID_ARGUMENT);
		assert_null(g);
		assert_true(strncmp(why, "offset ", 7) == 0 ||
		            strncmp(why, "header", 6) == 0);
		if (strncmp(why, "offset ", 7) == 0) {
			assert_true((size_t)atol(why + 7) <= cut);
		}
	}
	/* A length that runs past the end names the field that holds it. */
	assert_int_equal(uns_fixture_parse(buf, len - 3, &g, why, sizeof(why)),
	                 UNS_INVALID_ARGUMENT);
	assert_non_null(strstr(why, "exchanges[0]"));
	/* A corrupt tag. */
	uint8_t bad[] = {0x1a, 0x02, 0x0f, 0xff};
	assert_int_equal(
	    uns_fixture_parse(bad, sizeof(bad), &g, why, sizeof(why)),
	    UNS_INVALID_ARGUMENT);
	assert_non_null(strstr(why, "offset 2: exchanges[0]"));
	free(buf);
	uns__v1__fixture__free_unpacked(f, NULL);
}

static void
test_check_meaning(void **state)
{
	(void)state;
	char why[512];
	Uns__V1__Fixture *f = small_fixture();
	assert_int_equal(uns_fixture_check(f, why, sizeof(why)), UNS_OK);
	f->header->format_version = 2;
	assert_int_equal(uns_fixture_check(f, why, sizeof(why)),
	                 UNS_INVALID_ARGUMENT);
	assert_non_null(strstr(why, "header.format_version"));
	f->header->format_version = 1;
	f->exchange_count = 5;
	assert_int_equal(uns_fixture_check(f, why, sizeof(why)),
	                 UNS_INVALID_ARGUMENT);
	assert_non_null(strstr(why, "exchange_count"));
	f->exchange_count = 0;
	f->exchanges[0]->expected->code = 17;
	assert_int_equal(uns_fixture_check(f, why, sizeof(why)),
	                 UNS_INVALID_ARGUMENT);
	assert_non_null(strstr(why, "exchanges[0].expected"));
	uns__v1__fixture__free_unpacked(f, NULL);
}

static void
test_token_placeholders(void **state)
{
	(void)state;
	uns_fixture_token t;
	const char *u = "$token:user:alice@contoso.example.com";
	assert_int_equal(uns_fixture_token_parse(u, strlen(u), &t), 1);
	assert_int_equal(t.app, 0);
	assert_string_equal(t.subject, "alice");
	assert_string_equal(t.host, "contoso.example.com");
	const char *a = "$token:app:contoso-svc";
	assert_int_equal(uns_fixture_token_parse(a, strlen(a), &t), 1);
	assert_int_equal(t.app, 1);
	assert_string_equal(t.subject, "contoso-svc");
	assert_string_equal(t.scopes, "");
	const char *sc = "$token:user:bob@h;scp=A.Read+B";
	assert_int_equal(uns_fixture_token_parse(sc, strlen(sc), &t), 1);
	assert_string_equal(t.subject, "bob");
	assert_string_equal(t.host, "h");
	assert_string_equal(t.scopes, "A.Read B");
	assert_int_equal(uns_fixture_token_parse("eyJhbGci", 8, &t), 0);
	assert_int_equal(uns_fixture_token_parse("$token:bob", 10, &t), -1);
	assert_int_equal(uns_fixture_token_parse("$token:user:", 12, &t), -1);

	/* Claims are read without verifying: {"sub":"alice","uns_host":"h",
	 * "scp":"Notifications.ReadWrite"}, the default scope. */
	char ph[300];
	const char *jwt = "eyJhbGciOiJIUzI1NiJ9."
	                  "eyJzdWIiOiJhbGljZSIsInVuc19ob3N0IjoiaCIsInNjcCI6Ik5v"
	                  "dGlmaWNhdGlvbnMuUmVhZFdyaXRlIn0.c2ln";
	assert_int_equal(
	    uns_fixture_token_placeholder(jwt, strlen(jwt), ph, sizeof(ph)), 0);
	assert_string_equal(ph, "$token:user:alice@h");
	/* {"azp":"svc","roles":["X","Y"]}: not the default scopes, kept. */
	const char *app_jwt =
	    "e30.eyJhenAiOiJzdmMiLCJyb2xlcyI6WyJYIiwiWSJdfQ.c2ln";
	assert_int_equal(uns_fixture_token_placeholder(app_jwt, strlen(app_jwt),
	                                               ph, sizeof(ph)),
	                 0);
	assert_string_equal(ph, "$token:app:svc;scp=X+Y");
	assert_int_equal(
	    uns_fixture_token_placeholder("not-a-jwt", 9, ph, sizeof(ph)), -1);
}

/* --- binding and comparison --------------------------------------------- */

/* Packs a PostResponse envelope whose notification has this id and read
 * state. */
static void
post_reply(const char *id, Uns__V1__ReadState rs, uint8_t **out, size_t *len)
{
	Uns__V1__Notification n = UNS__V1__NOTIFICATION__INIT;
	Uns__V1__PostResponse pr = UNS__V1__POST_RESPONSE__INIT;
	Uns__V1__ResponseEnvelope env = UNS__V1__RESPONSE_ENVELOPE__INIT;
	n.id = (char *)id;
	n.read_state = rs;
	n.version = 1;
	pr.notification = &n;
	pr.created = 1;
	assert_int_equal(
	    uns_fixture_pack(&pr.base, &env.payload.data, &env.payload.len),
	    UNS_OK);
	assert_int_equal(uns_fixture_pack(&env.base, out, len), UNS_OK);
	free(env.payload.data);
}

typedef struct diffs {
	int n;
	char text[2048];
} diffs;

static void
collect(void *arg, const uns_fixture_diff *d)
{
	diffs *ds = arg;
	size_t o = strlen(ds->text);
	snprintf(ds->text + o, sizeof(ds->text) - o, "%s: %s | %s\n", d->path,
	         d->expected, d->got);
	ds->n++;
}

static uns_err
no_mint(void *arg, const uns_fixture_token *t, char **jwt, char *why,
        size_t whylen)
{
	(void)arg;
	*jwt = strdup(t->app ? "app-jwt" : "user-jwt");
	(void)why;
	(void)whylen;
	return UNS_OK;
}

static void
test_record_bind_and_compare(void **state)
{
	(void)state;
	uns_fixture_recorder *rec = NULL;
	uns_fixture_binder *b = NULL;
	uint8_t *reply = NULL, *req = NULL, *other = NULL;
	size_t reply_len, req_len, other_len;
	Uns__V1__PostRequest pq = UNS__V1__POST_REQUEST__INIT;
	Uns__V1__RequestEnvelope env = UNS__V1__REQUEST_ENVELOPE__INIT;
	env.method = "/uns.v1.Notifications/Post";
	assert_int_equal(
	    uns_fixture_pack(&pq.base, &env.payload.data, &env.payload.len),
	    UNS_OK);
	assert_int_equal(uns_fixture_pack(&env.base, &req, &req_len), UNS_OK);
	free(env.payload.data);
	post_reply("ID-A", UNS__V1__READ_STATE__READ_STATE_UNREAD, &reply,
	           &reply_len);

	/* Recording names the server's id. */
	assert_int_equal(uns_fixture_recorder_open(&rec, NULL, "t"), UNS_OK);
	assert_int_equal(uns_fixture_recorder_add(rec, req, req_len, reply,
	                                          reply_len, NULL, NULL),
	                 UNS_OK);
	const Uns__V1__Fixture *f = uns_fixture_recorder_fixture(rec);
	assert_int_equal(f->n_exchanges, 1);
	const Uns__V1__FixtureExchange *ex = f->exchanges[0];
	assert_int_equal(ex->n_bindings, 1);
	assert_string_equal(ex->bindings[0]->path, "payload.notification.id");
	assert_string_equal(ex->bindings[0]->name, "$id1");

	/* Another id on replay binds; the same reply then matches. */
	diffs ds = {0};
	assert_int_equal(uns_fixture_binder_alloc(&b), UNS_OK);
	post_reply("ID-B", UNS__V1__READ_STATE__READ_STATE_UNREAD, &other,
	           &other_len);
	assert_int_equal(
	    uns_fixture_compare(b, ex, other, other_len, collect, &ds), 0);
	assert_string_equal(uns_fixture_binder_get(b, "$id1"), "ID-B");
	free(other);
	/* A different id later, and a different state: both named. */
	post_reply("ID-C", UNS__V1__READ_STATE__READ_STATE_READ, &other,
	           &other_len);
	assert_int_equal(
	    uns_fixture_compare(b, ex, other, other_len, collect, &ds), 2);
	assert_non_null(strstr(ds.text, "payload.notification.id: $id1 = "
	                                "\"ID-B\" | \"ID-C\""));
	assert_non_null(strstr(ds.text, "payload.notification.read_state: "
	                                "READ_STATE_UNREAD | "
	                                "READ_STATE_READ"));
	free(other);

	/* A request that names $id1 gets the bound value. */
	Uns__V1__FixtureExchange next = *ex;
	Uns__V1__FixtureBinding rb = UNS__V1__FIXTURE_BINDING__INIT;
	Uns__V1__FixtureBinding *rbp = &rb;
	rb.side = UNS__V1__FIXTURE_BINDING__SIDE__SIDE_REQUEST;
	rb.path = "payload.unsid";
	rb.name = "$id1";
	next.bindings = &rbp;
	next.n_bindings = 1;
	uint8_t *sent = NULL;
	size_t sent_len = 0;
	char why[256];
	assert_int_equal(uns_fixture_request(b, &next, no_mint, NULL, &sent,
	                                     &sent_len, why, sizeof(why)),
	                 UNS_OK);
	Uns__V1__RequestEnvelope *se =
	    uns__v1__request_envelope__unpack(NULL, sent_len, sent);
	Uns__V1__PostRequest *sp = uns__v1__post_request__unpack(
	    NULL, se->payload.len, se->payload.data);
	assert_string_equal(sp->unsid, "ID-B");
	uns__v1__post_request__free_unpacked(sp, NULL);
	uns__v1__request_envelope__free_unpacked(se, NULL);
	free(sent);
	/* An unbound name is refused before sending. */
	rb.name = "$id9";
	assert_int_equal(uns_fixture_request(b, &next, no_mint, NULL, &sent,
	                                     &sent_len, why, sizeof(why)),
	                 UNS_INVALID_ARGUMENT);
	assert_non_null(strstr(why, "$id9 is not bound"));

	uns_fixture_binder_free(b);
	uns_fixture_recorder_close(rec);
	free(req);
	free(reply);
}

/* Packs an envelope of method with payload message pl (NULL: none) and the
 * authorization metadata bearer (NULL: none). */
static void
pack_request(const char *method, const ProtobufCMessage *pl, const char *bearer,
             uint8_t **out, size_t *len)
{
	Uns__V1__RequestEnvelope env = UNS__V1__REQUEST_ENVELOPE__INIT;
	Uns__V1__Metadata md = UNS__V1__METADATA__INIT;
	Uns__V1__Metadata *mds[] = {&md};
	char value[512];
	env.method = (char *)method;
	if (bearer) {
		snprintf(value, sizeof(value), "Bearer %s", bearer);
		md.key = "authorization";
		md.value.data = (uint8_t *)value;
		md.value.len = strlen(value);
		env.metadata = mds;
		env.n_metadata = 1;
	}
	if (pl) {
		assert_int_equal(
		    uns_fixture_pack(pl, &env.payload.data, &env.payload.len),
		    UNS_OK);
	}
	assert_int_equal(uns_fixture_pack(&env.base, out, len), UNS_OK);
	free(env.payload.data);
}

static void
pack_reply(int code, const ProtobufCMessage *pl, uint8_t **out, size_t *len)
{
	Uns__V1__ResponseEnvelope env = UNS__V1__RESPONSE_ENVELOPE__INIT;
	env.code = code;
	if (pl) {
		assert_int_equal(
		    uns_fixture_pack(pl, &env.payload.data, &env.payload.len),
		    UNS_OK);
	}
	assert_int_equal(uns_fixture_pack(&env.base, out, len), UNS_OK);
	free(env.payload.data);
}

static uns_err
give_secret(void *arg, const char *app_id, char **secret, char *why,
            size_t whylen)
{
	(void)arg;
	if (strcmp(app_id, "svc") != 0) {
		snprintf(why, whylen, "no secret for %s", app_id);
		return UNS_NOT_FOUND;
	}
	*secret = strdup("s3cr3t-value");
	return UNS_OK;
}

/* Nothing secret reaches a recording: client secrets and issued tokens
 * become $secret (replay fills the request's, takes any reply's), a
 * refused bearer token keeps its claims but not its signature. */
static void
test_record_redacts_secrets(void **state)
{
	(void)state;
	uns_fixture_recorder *rec = NULL;
	uns_fixture_binder *b = NULL;
	uint8_t *req = NULL, *reply = NULL, *piece = NULL, *sent = NULL;
	size_t req_len, reply_len, piece_len, sent_len;
	char why[256];
	Uns__V1__IssueTokenRequest it = UNS__V1__ISSUE_TOKEN_REQUEST__INIT;
	Uns__V1__IssueTokenResponse ir = UNS__V1__ISSUE_TOKEN_RESPONSE__INIT;
	it.grant_type = "client_credentials";
	it.client_id = "svc";
	it.client_secret = "s3cr3t-value";
	ir.access_token = "eyJhbGciOiJIUzI1NiJ9.eyJhenAiOiJzdmMifQ.SIGSIGSIG";
	ir.token_type = "Bearer";
	ir.expires_in = 600;
	pack_request("/uns.v1.Notifications/IssueToken", &it.base, NULL, &req,
	             &req_len);
	pack_reply(0, &ir.base, &reply, &reply_len);
	assert_int_equal(uns_fixture_recorder_open(&rec, NULL, "t"), UNS_OK);
	assert_int_equal(uns_fixture_recorder_add(rec, req, req_len, reply,
	                                          reply_len, &piece,
	                                          &piece_len),
	                 UNS_OK);
	assert_null(memmem(piece, piece_len, "s3cr3t", 6));
	assert_null(memmem(piece, piece_len, "SIGSIG", 6));
	free(piece);
	free(req);
	free(reply);

	/* A refused JWT: claims kept, signature voided; "not-a-jwt" kept. */
	const char *jwt = "e30.eyJzdWIiOiJhbGljZSJ9.REALSIGNATURE";
	pack_request("/uns.v1.Notifications/Fetch", NULL, jwt, &req, &req_len);
	pack_reply(UNS_UNAUTHENTICATED, NULL, &reply, &reply_len);
	assert_int_equal(uns_fixture_recorder_add(rec, req, req_len, reply,
	                                          reply_len, &piece,
	                                          &piece_len),
	                 UNS_OK);
	assert_null(memmem(piece, piece_len, "REALSIG", 7));
	assert_non_null(memmem(piece, piece_len,
	                       "e30.eyJzdWIiOiJhbGljZSJ9.AAAAAAAAAAAAA", 37));
	free(piece);
	free(req);
	pack_request("/uns.v1.Notifications/Fetch", NULL, "not-a-jwt", &req,
	             &req_len);
	assert_int_equal(uns_fixture_recorder_add(rec, req, req_len, reply,
	                                          reply_len, NULL, NULL),
	                 UNS_OK);
	free(req);
	free(reply);

	const Uns__V1__Fixture *f = uns_fixture_recorder_fixture(rec);
	assert_int_equal(f->n_exchanges, 3);
	const Uns__V1__FixtureExchange *ex = f->exchanges[0];
	Uns__V1__IssueTokenRequest *rq = uns__v1__issue_token_request__unpack(
	    NULL, ex->request->payload.len, ex->request->payload.data);
	assert_string_equal(rq->client_secret, UNS_FIXTURE_SECRET);
	assert_string_equal(rq->client_id, "svc");
	uns__v1__issue_token_request__free_unpacked(rq, NULL);
	assert_int_equal(f->exchanges[2]->request->metadata[0]->value.len,
	                 strlen("Bearer not-a-jwt"));

	/* Replay: without a secret source the request is refused, naming
	 * the field; with one it carries the secret. */
	assert_int_equal(uns_fixture_binder_alloc(&b), UNS_OK);
	assert_int_equal(uns_fixture_request(b, ex, no_mint, NULL, &sent,
	                                     &sent_len, why, sizeof(why)),
	                 UNS_INVALID_ARGUMENT);
	assert_non_null(strstr(why, "payload.client_secret"));
	assert_non_null(strstr(why, "\"svc\""));
	uns_fixture_binder_set_secrets(b, give_secret, NULL);
	assert_int_equal(uns_fixture_request(b, ex, no_mint, NULL, &sent,
	                                     &sent_len, why, sizeof(why)),
	                 UNS_OK);
	assert_non_null(memmem(sent, sent_len, "s3cr3t-value", 12));
	free(sent);
	/* Any token in the reply matches; other fields still compare. */
	ir.access_token = "another.token.entirely";
	pack_reply(0, &ir.base, &reply, &reply_len);
	assert_int_equal(
	    uns_fixture_compare(b, ex, reply, reply_len, NULL, NULL), 0);
	free(reply);
	ir.expires_in = 601;
	pack_reply(0, &ir.base, &reply, &reply_len);
	assert_int_equal(
	    uns_fixture_compare(b, ex, reply, reply_len, NULL, NULL), 1);
	free(reply);
	uns_fixture_binder_free(b);
	uns_fixture_recorder_close(rec);
}

/* An appNotificationId the client chose is compared as it is, never
 * bound; one the server minted (the Post had none) is bound. */
static void
test_client_chosen_values_not_bound(void **state)
{
	(void)state;
	uns_fixture_recorder *rec = NULL;
	uint8_t *req = NULL, *reply = NULL;
	size_t req_len, reply_len;
	static const struct {
		const char *asked, *answered;
		size_t bindings;
	} cases[] = {{"c-1", "c-1", 1}, {"", "srv-minted-1", 2}};
	assert_int_equal(uns_fixture_recorder_open(&rec, NULL, "t"), UNS_OK);
	for (size_t i = 0; i < 2; i++) {
		Uns__V1__PostRequest pq = UNS__V1__POST_REQUEST__INIT;
		Uns__V1__Notification in = UNS__V1__NOTIFICATION__INIT;
		Uns__V1__PostResponse pr = UNS__V1__POST_RESPONSE__INIT;
		Uns__V1__Notification out = UNS__V1__NOTIFICATION__INIT;
		char id[16];
		snprintf(id, sizeof(id), "ID-%zu", i);
		in.app_notification_id = (char *)cases[i].asked;
		pq.notification = &in;
		out.id = id;
		out.app_notification_id = (char *)cases[i].answered;
		pr.notification = &out;
		pack_request("/uns.v1.Notifications/Post", &pq.base, NULL, &req,
		             &req_len);
		pack_reply(0, &pr.base, &reply, &reply_len);
		assert_int_equal(uns_fixture_recorder_add(rec, req, req_len,
		                                          reply, reply_len,
		                                          NULL, NULL),
		                 UNS_OK);
		free(req);
		free(reply);
		const Uns__V1__Fixture *f = uns_fixture_recorder_fixture(rec);
		const Uns__V1__FixtureExchange *ex = f->exchanges[i];
		assert_int_equal(ex->n_bindings, cases[i].bindings);
		for (size_t k = 0; k < ex->n_bindings; k++) {
			int is_app =
			    strcmp(
			        ex->bindings[k]->path,
			        "payload.notification.app_notification_id") ==
			    0;
			assert_true(!is_app || cases[i].asked[0] == '\0');
		}
	}
	/* Replay: the server answering another app id than c-1 differs. */
	uns_fixture_binder *b = NULL;
	assert_int_equal(uns_fixture_binder_alloc(&b), UNS_OK);
	Uns__V1__PostResponse pr = UNS__V1__POST_RESPONSE__INIT;
	Uns__V1__Notification out = UNS__V1__NOTIFICATION__INIT;
	out.id = "ID-X";
	out.app_notification_id = "c-2";
	pr.notification = &out;
	pack_reply(0, &pr.base, &reply, &reply_len);
	diffs ds = {0};
	assert_int_equal(uns_fixture_compare(
	                     b, uns_fixture_recorder_fixture(rec)->exchanges[0],
	                     reply, reply_len, collect, &ds),
	                 1);
	assert_non_null(strstr(ds.text, "app_notification_id"));
	free(reply);
	uns_fixture_binder_free(b);
	uns_fixture_recorder_close(rec);
}

/* --- against unsd ------------------------------------------------------- */

static void
test_corpus_replays_on_fresh_unsd(void **state)
{
	(void)state;
	served s;
	char files[8192], cmd[10240], out[65536], junit[400];
	int n;
	corpus_server(&s);
	corpus_files(files, sizeof(files), &n);
	assert_true(n >= 18);
	snprintf(junit, sizeof(junit), "%s/junit.xml", s.dir);
	snprintf(cmd, sizeof(cmd),
	         "%s replay %s --concurrency 4 --junit %s %s 2>&1",
	         UNS_UNSCTL_PATH, s.conn, junit, files);
	int rc = ut_run(cmd, out, sizeof(out));
	if (rc != 0) {
		fprintf(stderr, "%s\n", out);
	}
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "0 fixtures failed, 0 exchanges differed"));
	size_t len;
	char *xml = (char *)read_all(junit, &len);
	xml[len] = '\0';
	assert_non_null(strstr(xml, "<testsuites>"));
	assert_null(strstr(xml, "<failure"));
	free(xml);
	unserve(&s);
}

static void
test_protoc_decodes_corpus(void **state)
{
	(void)state;
	char files[8192], cmd[1024], out[65536];
	int n;
	corpus_files(files, sizeof(files), &n);
	char *save = NULL;
	for (char *path = strtok_r(files, " ", &save); path;
	     path = strtok_r(NULL, " ", &save)) {
		snprintf(cmd, sizeof(cmd),
		         "protoc --decode=uns.v1.Fixture -I %s/proto "
		         "%s/proto/uns/v1/fixture.proto < %s 2>&1",
		         UNS_SOURCE_DIR, UNS_SOURCE_DIR, path);
		int rc = ut_run(cmd, out, sizeof(out));
		if (rc != 0) {
			fprintf(stderr, "%s: %s\n", path, out);
		}
		assert_int_equal(rc, 0);
		assert_non_null(strstr(out, "format_version: 1"));
		assert_non_null(strstr(out, "exchange_count: "));
	}
}

/* Records a session with unsctl record on one server (itself recording
 * with --record), then replays both recordings on a fresh server: new
 * ids, new timestamps on the real clock, another token secret. */
static void
test_record_then_replay_on_fresh_server(void **state)
{
	(void)state;
	static const char *const apps[] = {"contoso-svc", "contoso.example.com",
	                                   NULL};
	served a, b;
	char recd[256], rec_dir[300], fx[300], cmd[16384], out[16384],
	    tok[2048], app[2048], unsid[64];
	ut_mkdtemp(recd, sizeof(recd));
	snprintf(rec_dir, sizeof(rec_dir), "%s/rec", recd);
	const char *rec_args[] = {"--record", rec_dir, NULL};
	serve(&a, "", apps, rec_args);
	snprintf(fx, sizeof(fx), "%s/session.fixture", a.dir);

	snprintf(cmd, sizeof(cmd),
	         "cd %s/.. && %s token user --sub alice --host "
	         "contoso.example.com --secret-file %s/jwt-hs256.secret",
	         a.data, UNS_UNSCTL_PATH, a.data);
	assert_int_equal(ut_run(cmd, tok, sizeof(tok)), 0);
	tok[strcspn(tok, "\n")] = '\0';
	snprintf(cmd, sizeof(cmd),
	         "%s token app --app contoso-svc --secret-file "
	         "%s/jwt-hs256.secret",
	         UNS_UNSCTL_PATH, a.data);
	assert_int_equal(ut_run(cmd, app, sizeof(app)), 0);
	app[strcspn(app, "\n")] = '\0';

	const char *rec = UNS_UNSCTL_PATH " record --append --out";
	snprintf(cmd, sizeof(cmd),
	         "%s %s -- call Subscribe %s --token %s --json "
	         "'{\"deviceId\":\"phone\",\"platform\":\"polling\"}' "
	         "| sed -n 's/.*\"unsid\": \"\\([^\"]*\\)\".*/\\1/p'",
	         rec, fx, a.call_conn, tok);
	assert_int_equal(ut_run(cmd, unsid, sizeof(unsid)), 0);
	unsid[strcspn(unsid, "\n")] = '\0';
	assert_true(strlen(unsid) > 10);
	snprintf(cmd, sizeof(cmd),
	         "%s %s -- call Post %s --token %s --json "
	         "'{\"unsid\":\"%s\",\"notification\":{\"appNotificationId\":"
	         "\"a1\",\"payload\":{\"rawContent\":\"x\"}}}' >/dev/null && "
	         "%s %s -- call Fetch %s --token %s >/dev/null && "
	         "%s %s -- call History %s --token %s >/dev/null",
	         rec, fx, a.call_conn, app, unsid, rec, fx, a.call_conn, tok,
	         rec, fx, a.call_conn, tok);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 0);
	snprintf(fx, sizeof(fx), "%s/session.fixture", recd);
	snprintf(cmd, sizeof(cmd), "cp %s/session.fixture %s", a.dir, fx);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 0);
	unserve(&a);
	/* Neither recording holds a token's signature. */
	for (int i = 0; i < 2; i++) {
		const char *t = i ? app : tok;
		snprintf(cmd, sizeof(cmd), "grep -rlF -- '%s' %s %s | wc -l",
		         strrchr(t, '.') + 1, fx, rec_dir);
		assert_int_equal(ut_run(cmd, out, sizeof(out)), 0);
		assert_int_equal(atoi(out), 0);
	}

	serve(&b, "", apps, NULL);
	snprintf(cmd, sizeof(cmd), "%s replay %s %s %s/*.fixture 2>&1",
	         UNS_UNSCTL_PATH, b.conn, fx, rec_dir);
	int rc = ut_run(cmd, out, sizeof(out));
	if (rc != 0) {
		fprintf(stderr, "%s\n", out);
	}
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "replayed 2 fixtures, 8 exchanges: 0 "
	                            "fixtures failed"));
	unserve(&b);
	ut_rmdir(recd);
}

/* An edit of an expected value fails the replay with a diff naming the
 * field, through the JSON form (fixture show, fixture build). */
static void
test_altered_fixture_fails_with_diff(void **state)
{
	(void)state;
	served s;
	char cmd[4096], out[16384], json_path[400], fx[400];
	json_error_t jerr;
	corpus_server(&s);
	snprintf(json_path, sizeof(json_path), "%s/cas.json", s.dir);
	snprintf(fx, sizeof(fx), "%s/cas.fixture", s.dir);
	snprintf(cmd, sizeof(cmd),
	         "%s fixture show %s/cas_conflict.fixture > %s",
	         UNS_UNSCTL_PATH, CORPUS, json_path);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 0);

	json_t *doc = json_load_file(json_path, 0, &jerr);
	assert_non_null(doc);
	json_t *last = json_array_get(json_object_get(doc, "exchanges"), 4);
	json_t *n = json_object_get(
	    json_object_get(json_object_get(last, "expected"), "payload"),
	    "notification");
	assert_string_equal(json_string_value(json_object_get(n, "readState")),
	                    "READ_STATE_READ");
	json_object_set_new(n, "readState", json_string("READ_STATE_UNREAD"));
	assert_int_equal(json_dump_file(doc, json_path, JSON_INDENT(1)), 0);
	json_decref(doc);
	snprintf(cmd, sizeof(cmd), "%s fixture build --out %s %s 2>&1",
	         UNS_UNSCTL_PATH, fx, json_path);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 0);

	snprintf(cmd, sizeof(cmd), "%s replay %s %s 2>&1", UNS_UNSCTL_PATH,
	         s.conn, fx);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "exchange 4 Fetch"));
	assert_non_null(strstr(out, "payload.notification.read_state: expected "
	                            "READ_STATE_UNREAD, got READ_STATE_READ"));
	assert_non_null(strstr(out, "1 fixtures failed, 1 exchanges differed"));

	/* A JSON error names the field. */
	static const char bad_json[] =
	    "{\"exchanges\":[{\"request\":{\"method\":"
	    "\"/uns.v1.Notifications/Post\",\"payload\":{\"unsid\":5}}}]}";
	ut_write_file(json_path, bad_json);
	snprintf(cmd, sizeof(cmd), "%s fixture build %s 2>&1", UNS_UNSCTL_PATH,
	         json_path);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "exchanges[0].request.payload.unsid"));
	unserve(&s);
}

/* A cut or corrupt fixture among good ones: reported with its offset,
 * exit 2, and the server received nothing at all. */
static void
test_corrupt_fixture_sends_nothing(void **state)
{
	(void)state;
	ut_server ts;
	uns_rpc_stats st;
	char dir[256], cut[300], junk[300], cmd[2048], out[8192];
	size_t len;
	ut_mkdtemp(dir, sizeof(dir));
	ut_server_start(&ts, "tcp", NULL, 0, NULL);
	uint8_t *buf = read_all(CORPUS "/post.fixture", &len);
	snprintf(cut, sizeof(cut), "%s/cut.fixture", dir);
	ut_write_bytes(cut, buf, len - 10);
	snprintf(junk, sizeof(junk), "%s/junk.fixture", dir);
	buf[0] = 0x07; /* field number 0 */
	ut_write_bytes(junk, buf, len);
	free(buf);

	snprintf(cmd, sizeof(cmd),
	         "%s replay --url %s --secret-file /nonexistent %s %s 2>&1",
	         UNS_UNSCTL_PATH, ts.url, CORPUS "/health.fixture", cut);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "cut.fixture: offset "));
	snprintf(cmd, sizeof(cmd), "%s fixture check %s 2>&1", UNS_UNSCTL_PATH,
	         junk);
	assert_int_equal(ut_run(cmd, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "junk.fixture: "));
	uns_rpc_server_stats(ts.rpc, &st);
	assert_int_equal(st.received, 0);
	ut_server_stop(&ts);
	ut_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_reports_offsets),
	    cmocka_unit_test(test_check_meaning),
	    cmocka_unit_test(test_token_placeholders),
	    cmocka_unit_test(test_record_bind_and_compare),
	    cmocka_unit_test(test_record_redacts_secrets),
	    cmocka_unit_test(test_client_chosen_values_not_bound),
	    cmocka_unit_test(test_protoc_decodes_corpus),
	    cmocka_unit_test(test_corpus_replays_on_fresh_unsd),
	    cmocka_unit_test(test_record_then_replay_on_fresh_server),
	    cmocka_unit_test(test_altered_fixture_fails_with_diff),
	    cmocka_unit_test(test_corrupt_fixture_sends_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
