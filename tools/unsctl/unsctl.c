/*
 * unsctl.c — the UNS command line: a table of subcommands, the shared
 * connection options, and the generic `call` that reaches every RPC from
 * the shell through the JSON codec and the generated method table.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "devcert.h"
#include "json_codec.h"
#include "uns_methods.h"
#include "uns_stubs.h"
#include "unsctl.h"
#include "unsctl_fixture.h"

typedef struct unsctl_cmd {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
} unsctl_cmd;

static int help_main(int argc, char **argv);

static const unsctl_cmd commands[] = {
    {"health", unsctl_health_main, "ask a server whether it is serving"},
    {"subscribe", unsctl_notify_main,
     "subscribe a device: --device ID --platform NAME"},
    {"unsubscribe", unsctl_notify_main, "remove a subscription: UNSID"},
    {"post", unsctl_notify_main, "post a notification: --app-id ID --title T"},
    {"fetch", unsctl_notify_main,
     "one notification by ID, or the feed since --cursor"},
    {"update", unsctl_notify_main, "mark read, dismiss, delete: ID --read"},
    {"history", unsctl_notify_main, "notifications, newest first"},
    {"delete", unsctl_notify_main, "app-side delete: ID"},
    {"call", unsctl_call_main,
     "send any RPC: unsctl call METHOD --json '{...}'"},
    {"cert", unsctl_cert_main,
     "make development TLS material (ca, server, client, ensure)"},
    {"token", unsctl_token_main,
     "mint development tokens: unsctl token user|app|keygen"},
    {"app", unsctl_app_main, "register an app: unsctl app add --id --hosts"},
    {"delivery", unsctl_delivery_main,
     "how taps to your subscriptions fare (delivered, failed, dead)"},
    {"vapid", unsctl_vapid_main,
     "make or read the Web Push VAPID key; print its public key"},
    {"record", unsctl_record_main,
     "record a command's RPCs: unsctl record --out F -- COMMAND ..."},
    {"replay", unsctl_replay_main,
     "replay fixtures and diff the replies: unsctl replay FILE..."},
    {"fixture", unsctl_fixture_main,
     "fixture files: unsctl fixture show|build|edit|check"},
    {"help", help_main, "this text"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static int
help_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("usage: unsctl COMMAND [options]   (unsctl COMMAND --help)\n\n");
	for (size_t i = 0; i < N_COMMANDS; i++) {
		printf("  %-12s %s\n", commands[i].name, commands[i].summary);
	}
	return 0;
}

/* --- connection -------------------------------------------------------- */

void
unsctl_conn_defaults(unsctl_conn *c)
{
	if (c->url == NULL) {
		c->url = getenv("UNS_URL") ? getenv("UNS_URL")
		                           : "tls+tcp://localhost:7443";
	}
	if (c->ca == NULL) {
		c->ca =
		    getenv("UNS_CA") ? getenv("UNS_CA") : "uns-data/tls/ca.pem";
	}
	if (c->token == NULL) {
		c->token = getenv("UNS_TOKEN");
	}
}

/* After a failed tls+tcp:// dial, the check that failed (crypto.h,
 * uns_tls_diagnose): NNG's one error covers several causes. */
static void
explain_dial_failure(const unsctl_conn *c)
{
	static const char scheme[] = "tls+tcp://";
	char host[256], port[16], why[512];
	const char *h = c->url + sizeof(scheme) - 1, *colon;
	if (strncmp(c->url, scheme, sizeof(scheme) - 1) != 0 ||
	    (colon = strrchr(h, ':')) == NULL ||
	    (size_t)(colon - h) >= sizeof(host) ||
	    strlen(colon + 1) >= sizeof(port)) {
		return;
	}
	if (*h == '[' && colon > h + 1 && colon[-1] == ']') {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - h - 2),
		         h + 1);
	} else {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - h), h);
	}
	snprintf(port, sizeof(port), "%s", colon + 1);
	if (uns_tls_diagnose(host, port, c->ca, c->cert, c->server_name, why,
	                     sizeof(why)) == UNS_UNAUTHENTICATED) {
		fprintf(stderr, "unsctl: the check that failed: %s\n", why);
	}
}

uns_client *
unsctl_connect(const unsctl_conn *c)
{
	uns_client *client = NULL;
	uns_client_opts o = {
	    .ca_file = c->ca,
	    .cert_key_file = c->cert,
	    .server_name = c->server_name,
	    .default_timeout_ms =
	        c->timeout_ms > 0 ? (uint32_t)c->timeout_ms : 0,
	};
	uns_err err = uns_client_open(&client, c->url, &o);
	if (err != UNS_OK) {
		fprintf(stderr, "unsctl: %s\n", uns_last_message());
		explain_dial_failure(c);
		return NULL;
	}
	return client;
}

/* $UNS_METADATA="key=value" adds one metadata entry to every call, e.g.
 * uns-test-clock=+61000 for a server running with test_clock. */
uns_call_opts
unsctl_call_opts(const unsctl_conn *c)
{
	static char key[65];
	static uns_metadata md;
	uns_call_opts o = {.token = c->token};
	const char *env = getenv("UNS_METADATA");
	const char *eq = env ? strchr(env, '=') : NULL;
	if (eq && eq > env && (size_t)(eq - env) < sizeof(key)) {
		memcpy(key, env, (size_t)(eq - env));
		key[eq - env] = '\0';
		md.key = key;
		md.value = eq + 1;
		o.metadata = &md;
		o.n_metadata = 1;
	}
	return o;
}

static void
print_failure(uns_err err)
{
	fprintf(stderr, "unsctl: %s: %s\n", uns_status_name(err),
	        uns_last_message());
}

/* --- health ------------------------------------------------------------ */

typedef struct health_opts {
	unsctl_conn conn;
	const char *service;
	int json;
	int help;
} health_opts;

static const uns_opt health_options[] = {
    UNSCTL_CONN_OPTS(health_opts),
    {"--service", UNS_OPT_STR, offsetof(health_opts, service), "NAME",
     "service to ask about (default: the whole server)"},
    {"--json", UNS_OPT_FLAG, offsetof(health_opts, json), NULL,
     "print the reply as JSON"},
    {"--help", UNS_OPT_FLAG, offsetof(health_opts, help), NULL, "this text"},
};

static int
parse_or_usage(const uns_opt *opts, size_t n, void *target, int argc,
               char **argv, const char *synopsis, int *help, int max_pos)
{
	char why[256];
	int n_pos =
	    uns_opts_parse(opts, n, target, argc, argv, why, sizeof(why));
	if (n_pos < 0 || n_pos > max_pos || *help) {
		FILE *f = *help ? stdout : stderr;
		if (n_pos < 0) {
			fprintf(stderr, "unsctl: %s\n", why);
		}
		fprintf(f, "usage: unsctl %s\n", synopsis);
		uns_opts_usage(f, opts, n);
		return *help ? 0 : 2;
	}
	return -1 - n_pos; /* "go on", with the count of positionals */
}

int
unsctl_health_main(int argc, char **argv)
{
	health_opts o = {0};
	int rc = parse_or_usage(
	    health_options, sizeof(health_options) / sizeof(health_options[0]),
	    &o, argc, argv, "health [options]", &o.help, 0);
	if (rc >= 0) {
		return rc;
	}
	unsctl_conn_defaults(&o.conn);
	uns_client *c = unsctl_connect(&o.conn);
	if (c == NULL) {
		return 1;
	}
	Uns__V1__HealthRequest req = UNS__V1__HEALTH_REQUEST__INIT;
	Uns__V1__HealthResponse *resp = NULL;
	req.service = (char *)(o.service ? o.service : "");
	uns_call_opts co = unsctl_call_opts(&o.conn);
	uns_err err = uns_notifications_health(c, &req, &resp, &co);
	uns_client_close(c);
	if (err != UNS_OK) {
		print_failure(err);
		return 1;
	}
	int serving =
	    resp->status == UNS__V1__SERVING_STATUS__SERVING_STATUS_SERVING;
	printf("%s version=%s store=%s\n", serving ? "SERVING" : "NOT_SERVING",
	       resp->version, resp->store_status);
	uns__v1__health_response__free_unpacked(resp, NULL);
	return serving ? 0 : 1;
}

/* --- call -------------------------------------------------------------- */

typedef struct call_opts {
	unsctl_conn conn;
	const char *json;
	int help;
} call_opts;

static const uns_opt call_options[] = {
    UNSCTL_CONN_OPTS(call_opts),
    {"--json", UNS_OPT_STR, offsetof(call_opts, json), "JSON",
     "the request message as JSON (default {}; - reads stdin)"},
    {"--help", UNS_OPT_FLAG, offsetof(call_opts, help), NULL, "this text"},
};

/* "Post", "post", "uns.v1.Notifications/Post" or the full name. */
static const uns_method *
find_method(const char *name)
{
	const uns_service_desc *svc = &uns_notifications_service;
	for (size_t i = 0; i < svc->n_methods; i++) {
		const char *full = svc->methods[i].name;
		const char *shortname = strrchr(full, '/') + 1;
		if (strcmp(full, name) == 0 || strcmp(full + 1, name) == 0 ||
		    strcasecmp(shortname, name) == 0) {
			return &svc->methods[i];
		}
	}
	return NULL;
}

static char *
read_stdin(void)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
		len += n;
		if (cap - len < 2) {
			char *nb = realloc(buf, cap *= 2);
			if (nb == NULL) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
	}
	if (buf) {
		buf[len] = '\0';
	}
	return buf;
}

static int
call_print_reply(ProtobufCMessage *resp)
{
	char *text = NULL;
	if (uns_json_encode(resp, NULL, UNS_JSON_PRETTY, &text) != UNS_OK) {
		fprintf(stderr, "unsctl: cannot print the reply as JSON\n");
		return 1;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

static int
call_run(const call_opts *o, const uns_method *m, const char *json)
{
	ProtobufCMessage *req = NULL, *resp = NULL;
	uns_json_error jerr;
	if (uns_json_decode(m->input, json, strlen(json), NULL, &req, &jerr) !=
	    UNS_OK) {
		fprintf(stderr, "unsctl: --json: %s%s%s\n", jerr.path,
		        jerr.path[0] ? ": " : "", jerr.message);
		return 2;
	}
	uns_client *c = unsctl_connect(&o->conn);
	int rc = 1;
	if (c != NULL) {
		uns_call_opts co = unsctl_call_opts(&o->conn);
		uns_err err = uns_client_call(c, m, req, &resp, &co);
		if (err == UNS_OK) {
			rc = call_print_reply(resp);
			protobuf_c_message_free_unpacked(resp, NULL);
		} else {
			print_failure(err);
		}
		uns_client_close(c);
	}
	protobuf_c_message_free_unpacked(req, NULL);
	return rc;
}

int
unsctl_call_main(int argc, char **argv)
{
	call_opts o = {0};
	int rc = parse_or_usage(
	    call_options, sizeof(call_options) / sizeof(call_options[0]), &o,
	    argc, argv, "call METHOD [--json JSON]", &o.help, 1);
	if (rc >= 0) {
		return rc;
	}
	int n_pos = -1 - rc;
	if (n_pos != 1) {
		fprintf(stderr, "usage: unsctl call METHOD [--json JSON]\n");
		return 2;
	}
	const uns_method *m = find_method(argv[0]);
	if (m == NULL) {
		fprintf(stderr, "unsctl: no method %s in %s\n", argv[0],
		        uns_notifications_service.name);
		return 2;
	}
	unsctl_conn_defaults(&o.conn);
	char *in = NULL;
	const char *json = o.json ? o.json : "{}";
	if (strcmp(json, "-") == 0 && (json = in = read_stdin()) == NULL) {
		fprintf(stderr, "unsctl: cannot read stdin\n");
		return 1;
	}
	rc = call_run(&o, m, json);
	free(in);
	return rc;
}

/* --- main -------------------------------------------------------------- */

int
unsctl_run(int argc, char **argv)
{
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (strcmp(argv[0], commands[i].name) == 0) {
			return commands[i].main(argc, argv);
		}
	}
	if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		return help_main(0, NULL);
	}
	fprintf(stderr, "unsctl: unknown command %s (try unsctl help)\n",
	        argv[0]);
	return 2;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		help_main(0, NULL);
		return 2;
	}
	return unsctl_run(argc - 1, argv + 1);
}
