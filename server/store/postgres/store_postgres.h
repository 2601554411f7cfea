/*
 * store_postgres.h — the PostgreSQL backend's own settings (store.h's
 * uns_store_config.postgres points to them; NULL or a 0 field = the
 * default). Everything else about the backend is private to this folder
 * (pg_impl.h); docs/postgres.md says how to run it.
 */
#ifndef UNS_SERVER_STORE_POSTGRES_H
#define UNS_SERVER_STORE_POSTGRES_H

#include <stdint.h>

#include "config.h"
#include "uns/uns.h"

#define UNS_STORE_PG_SCHEMA            "uns"
#define UNS_STORE_PG_CONNECTIONS       4
#define UNS_STORE_PG_STATEMENT_TIMEOUT 10000 /* ms */
#define UNS_STORE_PG_CONNECT_WAIT      30000 /* ms */
#define UNS_STORE_PG_COMMITTERS        2
#define UNS_STORE_PG_NODE_HEARTBEAT    2000  /* ms */
#define UNS_STORE_PG_NODE_TIMEOUT      10000 /* ms */

typedef struct uns_store_postgres_config {
	const char *url;      /* libpq connection string or URI (required) */
	const char *schema;   /* NULL or "" = "uns" */
	const char *node;     /* node id, the lease owner, unique among live
	                         nodes; NULL or "" = host:pid:xxxx (random
	                         per open) */
	unsigned connections; /* for reads and claims; 0 = 4 */
	unsigned committers;  /* group committers, one connection each;
	                         0 = 2, at most 16 */
	int statement_timeout_ms; /* 0 = 10 s */
	int connect_wait_ms; /* at open, retry this long; 0 = 30 s, < 0 once */
	int node_heartbeat_ms; /* the node's beat; 0 = 2 s, < 0 none (tests:
	                          a node that stops beating after open) */
	int node_timeout_ms;   /* a node silent this long is dead: its leases
	                          end, its jobs move; 0 = 10 s */
} uns_store_postgres_config;

/* The backend's keys in unsd's configuration (postgres_*; pg_config.c),
 * added by uns_store_add_keys, and their values. */
extern const uns_config_section uns_store_postgres_keys;
typedef struct uns_store_postgres_values {
	char url[UNS_CONFIG_STR_MAX];
	char schema[UNS_CONFIG_STR_MAX];
	int connections;
	int committers;
	int64_t statement_timeout_ms;
	int64_t connect_wait_ms;          /* 0 = try once */
	char node_id[UNS_CONFIG_STR_MAX]; /* "" = host:pid:xxxx */
	int64_t node_heartbeat_ms;
	int64_t node_timeout_ms;
} uns_store_postgres_values;

/* *out from c's values of those keys (the defaults if c has none), its
 * strings in *v, which must outlive *out. */
void uns_store_postgres_config_get(const uns_config *c,
                                   uns_store_postgres_values *v,
                                   uns_store_postgres_config *out);

/* The newest schema version this binary knows (migrations/NNNN_*.sql). */
int uns_store_postgres_schema_version(void);

#endif /* UNS_SERVER_STORE_POSTGRES_H */
