/*
 * main.c — unsd, the UNS server.
 *
 * Embedded defaults: data in ./uns-data, TLS material made there on first
 * run (a development CA and a server certificate for "localhost"), RPC on
 * tls+tcp://127.0.0.1:7443. SIGTERM or SIGINT drains: no new calls are
 * taken, calls already received are answered, then the process exits 0.
 *
 * Signals are blocked in every thread before any is created and taken by
 * sigwait() in main, so no handler runs in a signal context.
 */
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_opts.h"
#include "devcert.h"
#include "rpc_server.h"
#include "service.h"

typedef struct unsd_opts {
	const char *listen;
	const char *data_dir;
	const char *cert;
	const char *ca;
	int require_client_cert;
	int contexts;
	int workers;
	int max_message;
	int default_timeout_ms;
	int help;
	int version;
} unsd_opts;

#define OPT(name, kind, field, arg, help)                                      \
	{                                                                      \
		name, kind, offsetof(unsd_opts, field), arg, help              \
	}

static const uns_opt unsd_options[] = {
    OPT("--listen", UNS_OPT_STR, listen, "URL",
        "RPC listen URL (default tls+tcp://127.0.0.1:7443)"),
    OPT("--data", UNS_OPT_STR, data_dir, "DIR",
        "data directory (default ./uns-data)"),
    OPT("--cert", UNS_OPT_STR, cert, "FILE",
        "server certificate + key PEM (default DIR/tls/server.pem, made "
        "on first run)"),
    OPT("--ca", UNS_OPT_STR, ca, "FILE",
        "CA for client certificates (default DIR/tls/ca.pem)"),
    OPT("--require-client-cert", UNS_OPT_FLAG, require_client_cert, NULL,
        "mutual TLS: refuse clients without a certificate"),
    OPT("--contexts", UNS_OPT_INT, contexts, "N",
        "concurrent calls (default 128)"),
    OPT("--workers", UNS_OPT_INT, workers, "N",
        "handler threads (default 2 x cores, at least 4)"),
    OPT("--max-message", UNS_OPT_INT, max_message, "BYTES",
        "largest request or reply (default 4194304)"),
    OPT("--default-timeout", UNS_OPT_INT, default_timeout_ms, "MS",
        "deadline of calls that give none (default 30000)"),
    OPT("--version", UNS_OPT_FLAG, version, NULL, "print the version"),
    OPT("--help", UNS_OPT_FLAG, help, NULL, "this text"),
};
#define N_OPTIONS (sizeof(unsd_options) / sizeof(unsd_options[0]))

static void
usage(FILE *f)
{
	fprintf(f, "usage: unsd [options]\n");
	uns_opts_usage(f, unsd_options, N_OPTIONS);
}

/* Fills in TLS file defaults, making dev certificates on first run. */
static int
prepare_tls(unsd_opts *o, char *cert, char *ca, size_t cap)
{
	char dir[3072], why[512];
	snprintf(dir, sizeof(dir), "%s/tls", o->data_dir);
	if (o->cert == NULL) {
		if (uns_devcert_ensure(dir, why, sizeof(why)) != UNS_OK) {
			fprintf(stderr,
			        "unsd: cannot make dev certificates: %s\n",
			        why);
			return -1;
		}
		snprintf(cert, cap, "%s/server.pem", dir);
		o->cert = cert;
	}
	if (o->ca == NULL) {
		snprintf(ca, cap, "%s/ca.pem", dir);
		o->ca = ca;
	}
	return 0;
}

static int
run(unsd_opts *o)
{
	char cert[4096], ca[4096];
	uns_service *svc = NULL;
	uns_rpc_server *srv = NULL;
	int rc = 1, sig = 0;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE,
	       SIG_IGN); /* a peer gone mid-write is an error, not death */

	if (mkdir(o->data_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "unsd: cannot create %s: %s\n", o->data_dir,
		        strerror(errno));
		goto out;
	}
	if (strncmp(o->listen, "tls+", 4) == 0 &&
	    prepare_tls(o, cert, ca, sizeof(cert)) != 0) {
		goto out;
	}
	if (uns_service_open(&svc) != UNS_OK) {
		fprintf(stderr, "unsd: out of memory\n");
		goto out;
	}
	uns_rpc_config cfg = {
	    .url = o->listen,
	    .cert_key_file = o->cert,
	    .ca_file = o->ca,
	    .require_client_cert = o->require_client_cert,
	    .contexts = o->contexts,
	    .workers = o->workers,
	    .max_message_bytes =
	        (size_t)(o->max_message > 0 ? o->max_message : 0),
	    .default_timeout_ms =
	        (uint32_t)(o->default_timeout_ms > 0 ? o->default_timeout_ms
	                                             : 0),
	};
	uns_rpc_service rs = {&uns_notifications_service, &uns_service_handlers,
	                      svc, uns_service_inline_methods};
	if (uns_rpc_server_open(&srv, &cfg, &rs) != UNS_OK) {
		fprintf(stderr, "unsd: %s\n", uns_last_message());
		goto out;
	}
	uns_rpc_server_start(srv);
	fprintf(stderr, "unsd: serving %s on %s (port %d)\n", UNS_VERSION,
	        o->listen, uns_rpc_server_port(srv));
	sigwait(&set, &sig);
	fprintf(stderr, "unsd: %s, draining\n", strsignal(sig));
	uns_service_set_serving(svc, 0);
	uns_rpc_server_drain(srv);
	uns_rpc_stats st;
	uns_rpc_server_stats(srv, &st);
	fprintf(stderr,
	        "unsd: drained: received %llu, replied %llu, failed %llu, "
	        "rejected %llu\n",
	        (unsigned long long)st.received, (unsigned long long)st.replied,
	        (unsigned long long)st.failed, (unsigned long long)st.rejected);
	rc = 0;
out:
	uns_rpc_server_close(srv);
	uns_service_close(svc);
	return rc;
}

int
main(int argc, char **argv)
{
	unsd_opts o = {.listen = "tls+tcp://127.0.0.1:7443",
	               .data_dir = "uns-data"};
	char why[256];
	int n = uns_opts_parse(unsd_options, N_OPTIONS, &o, argc, argv, why,
	                       sizeof(why));
	if (n < 0 || n > 0) {
		fprintf(stderr, "unsd: %s\n",
		        n < 0 ? why : "unexpected argument");
		usage(stderr);
		return 2;
	}
	if (o.help) {
		usage(stdout);
		return 0;
	}
	if (o.version) {
		printf("unsd %s\n", UNS_VERSION);
		return 0;
	}
	return run(&o);
}
