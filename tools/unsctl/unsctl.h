/*
 * unsctl.h — what the unsctl subcommands share: connection options and
 * how to open a client from them.
 */
#ifndef UNSCTL_H
#define UNSCTL_H

#include <stddef.h>

#include "cli_opts.h"
#include "uns/client.h"

typedef struct unsctl_conn {
	const char *url;
	const char *ca;
	const char *cert;
	const char *server_name;
	const char *token;
	int timeout_ms;
} unsctl_conn;

/* The option rows for unsctl_conn, for a command whose options struct
 * embeds one as member `conn`. */
#define UNSCTL_CONN_OPTS(type)                                                 \
	{"--url", UNS_OPT_STR, offsetof(type, conn.url), "URL",                \
	 "server (default tls+tcp://localhost:7443)"},                         \
	    {"--ca", UNS_OPT_STR, offsetof(type, conn.ca), "FILE",             \
	     "CA certificate (default uns-data/tls/ca.pem)"},                  \
	    {"--cert", UNS_OPT_STR, offsetof(type, conn.cert), "FILE",         \
	     "client certificate + key, for mutual TLS"},                      \
	    {"--server-name", UNS_OPT_STR, offsetof(type, conn.server_name),   \
	     "NAME", "name to check in the server certificate"},               \
	    {"--token", UNS_OPT_STR, offsetof(type, conn.token), "JWT",        \
	     "bearer token (default $UNS_TOKEN)"},                             \
	{                                                                      \
		"--timeout", UNS_OPT_INT, offsetof(type, conn.timeout_ms),     \
		    "MS", "deadline per call (default 10000)"                  \
	}

/* Fills defaults (URL, CA, $UNS_TOKEN) into c. */
void unsctl_conn_defaults(unsctl_conn *c);
/* Opens a client; prints the reason and returns NULL on failure. */
uns_client *unsctl_connect(const unsctl_conn *c);
/* Call options from c. */
uns_call_opts unsctl_call_opts(const unsctl_conn *c);

/* Subcommand entry points: argv[0] is the subcommand's name. */
int unsctl_health_main(int argc, char **argv);
int unsctl_call_main(int argc, char **argv);
int unsctl_app_main(int argc, char **argv);
int unsctl_token_main(int argc, char **argv);
int unsctl_delivery_main(int argc, char **argv);
int unsctl_notify_main(int argc, char **argv);
int unsctl_vapid_main(int argc, char **argv);

#endif /* UNSCTL_H */
