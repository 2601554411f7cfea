/*
 * gateway_main.c — uns-gateway, the REST gateway on its own: it serves
 * HTTP(S) and calls a remote unsd over RPC (tls+tcp:// or tcp://), so the
 * HTTP tier scales and sits apart from the store (SPEC §3, issue 4).
 *
 *   uns-gateway --rpc tls+tcp://localhost:7443 --ca uns-data/tls/ca.pem \
 *               --listen https://127.0.0.1:8443 --cert uns-data/tls/server.pem
 *
 * Limits use the same defaults as the embedded gateway (server/core/config.c).
 * It keeps its own metrics (GET /metrics); its rate limits apply when
 * --config names the jwt_key(s) tokens are signed with, since callers are
 * told apart by verified tokens (gateway_ops.h).
 * SIGTERM or SIGINT closes the listener, lets running requests finish and
 * exits 0.
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "cli_opts.h"
#include "config.h"
#include "fdlimit.h"
#include "gateway.h"
#include "gateway_config.h"
#include "gateway_ops.h"
#include "jwt.h"

typedef struct gw_opts {
	const char *rpc, *ca, *client_cert, *server_name;
	const char *listen, *cert, *key, *config;
	int help, version;
} gw_opts;

#define OPT(name, kind, field, arg, help)                                      \
	{                                                                      \
		name, kind, offsetof(gw_opts, field), arg, help                \
	}

static const uns_opt gw_options[] = {
    OPT("--rpc", UNS_OPT_STR, rpc, "URL",
        "unsd's RPC URL (default tls+tcp://localhost:7443)"),
    OPT("--ca", UNS_OPT_STR, ca, "FILE",
        "CA that signed unsd's certificate (default uns-data/tls/ca.pem)"),
    OPT("--client-cert", UNS_OPT_STR, client_cert, "FILE",
        "client certificate + key (PEM) for mutual TLS"),
    OPT("--server-name", UNS_OPT_STR, server_name, "NAME",
        "name checked in unsd's certificate (default: the URL's host)"),
    OPT("--listen", UNS_OPT_STR, listen, "URL",
        "HTTP listen URL (default: gateway_listen)"),
    OPT("--cert", UNS_OPT_STR, cert, "FILE",
        "HTTPS certificate (PEM; default: gateway_cert)"),
    OPT("--key", UNS_OPT_STR, key, "FILE",
        "HTTPS key (PEM; default: gateway_key, or in --cert)"),
    OPT("--config", UNS_OPT_STR, config, "FILE",
        "unsd configuration file: the gateway_*, rate_limit_* and "
        "jwt_* keys and max_body apply"),
    OPT("--version", UNS_OPT_FLAG, version, NULL, "print the version"),
    OPT("--help", UNS_OPT_FLAG, help, NULL, "this text"),
};
#define N_OPTIONS (sizeof(gw_options) / sizeof(gw_options[0]))

static int
load(const gw_opts *o, uns_config *c)
{
	char why[512];
	uns_config_defaults(c);
	/* unsd's file may hold keys of subsystems this program lacks
	 * (push); they are unsd's to check. */
	c->skip_unknown_keys = 1;
	if (o->config && uns_config_load(c, o->config, why, sizeof(why))) {
		fprintf(stderr, "uns-gateway: %s\n", why);
		return -1;
	}
	if (o->listen) {
		snprintf(c->gateway_listen, sizeof(c->gateway_listen), "%s",
		         o->listen);
	}
	if (o->cert) {
		snprintf(c->gateway_cert, sizeof(c->gateway_cert), "%s",
		         o->cert);
	}
	if (o->key) {
		snprintf(c->gateway_key, sizeof(c->gateway_key), "%s", o->key);
	}
	if (c->gateway_listen[0] == '\0') {
		fprintf(stderr, "uns-gateway: no listen URL\n");
		return -1;
	}
	if (strncmp(c->gateway_listen, "https:", 6) == 0 &&
	    c->gateway_cert[0] == '\0') {
		snprintf(c->gateway_cert, sizeof(c->gateway_cert), "%s",
		         "uns-data/tls/server.pem");
	}
	return 0;
}

/* Metrics always; rate limits with the configured token keys. */
static int
open_ops(const uns_config *c, uns_metrics **m, uns_jwt_keys **keys,
         uns_gw_ops **ops)
{
	char why[512];
	if (uns_metrics_open(m) != UNS_OK ||
	    uns_jwt_keys_alloc(keys) != UNS_OK) {
		return -1;
	}
	for (int i = 0; i < c->jwt_key.n; i++) {
		if (uns_jwt_keys_add_spec(*keys, c->jwt_key.v[i], why,
		                          sizeof(why)) != UNS_OK) {
			fprintf(stderr, "uns-gateway: jwt_key: %s\n", why);
			return -1;
		}
	}
	uns_gw_ops_config oc;
	uns_gw_ops_opts_from_config(&oc, c);
	oc.metrics = *m;
	oc.keys = c->jwt_key.n > 0 ? *keys : NULL;
	return uns_gw_ops_open(ops, &oc) == UNS_OK ? 0 : -1;
}

static int
serve(const gw_opts *o, const uns_config *c)
{
	uns_metrics *metrics = NULL;
	uns_jwt_keys *keys = NULL;
	uns_gw_ops *ops = NULL;
	sigset_t set;
	int sig = 0, rc = 1;
	uns_client *cl = NULL;
	uns_gateway *gw = NULL;
	uns_client_opts co = {
	    .ca_file = o->ca ? o->ca : "uns-data/tls/ca.pem",
	    .cert_key_file = o->client_cert,
	    .server_name = o->server_name,
	    .max_message_bytes = (size_t)c->max_message,
	    .lazy_connect = 1,
	};
	uns_gateway_config gc;
	uns_gateway_opts_from_config(&gc, c);
	const char *url = o->rpc ? o->rpc : "tls+tcp://localhost:7443";
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "uns-gateway: open files limit %llu\n",
	        (unsigned long long)uns_fdlimit_raise());
	if (uns_client_open(&cl, url, &co) != UNS_OK) {
		fprintf(stderr, "uns-gateway: %s: %s\n", url,
		        uns_last_message());
		goto out;
	}
	gc.rpc = cl;
	if (open_ops(c, &metrics, &keys, &ops) != 0) {
		goto out;
	}
	gc.ops = ops;
	if (uns_gateway_open(&gw, &gc) != UNS_OK) {
		fprintf(stderr, "uns-gateway: %s\n", uns_last_message());
		goto out;
	}
	fprintf(stderr, "uns-gateway: serving %s on %s (port %d), rpc %s\n",
	        UNS_VERSION, c->gateway_listen, uns_gateway_port(gw), url);
	sigwait(&set, &sig);
	fprintf(stderr, "uns-gateway: %s, stopping\n", strsignal(sig));
	uns_gateway_quiesce(gw); /* running requests finish in close */
	rc = 0;
out:
	uns_gateway_close(gw);
	uns_gw_ops_close(ops);
	uns_jwt_keys_free(keys);
	uns_metrics_close(metrics);
	uns_client_close(cl);
	return rc;
}

int
main(int argc, char **argv)
{
	gw_opts o = {0};
	char why[256];
	int n = uns_opts_parse(gw_options, N_OPTIONS, &o, argc, argv, why,
	                       sizeof(why));
	if (n != 0 || o.help || o.version) {
		if (n != 0) {
			fprintf(stderr, "uns-gateway: %s\n",
			        n < 0 ? why : "unexpected argument");
		}
		if (o.version && n == 0) {
			printf("uns-gateway %s\n", UNS_VERSION);
			return 0;
		}
		fprintf(n ? stderr : stdout, "usage: uns-gateway [options]\n");
		uns_opts_usage(n ? stderr : stdout, gw_options, N_OPTIONS);
		return n ? 2 : 0;
	}
	uns_config *c = calloc(1, sizeof(*c));
	if (c == NULL || load(&o, c) != 0) {
		free(c);
		return 2;
	}
	int rc = serve(&o, c);
	free(c);
	return rc;
}
