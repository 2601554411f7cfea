/*
 * pg_config.c — the PostgreSQL backend's keys in unsd's configuration: a
 * uns_config_section (config.h) kept here, next to the code that uses the
 * values, as push keeps its transports' keys; store.c's
 * uns_store_add_keys adds it, and uns_store_postgres_config_get makes the
 * backend's settings from the values.
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store_postgres.h"

#define DAY_MS (24LL * 3600 * 1000)

static const uns_config_key pg_keys[] = {
    UNS_CONFIG_KEY("store: postgres", "postgres_url", STRING,
                   uns_store_postgres_values, url, 0, UNS_CONFIG_STR_MAX - 1,
                   "",
                   "store = postgres: a libpq connection string or URI, "
                   "e.g.\n"
                   "\"host=db1,db2 dbname=uns "
                   "target_session_attrs=read-write\"."),
    UNS_CONFIG_KEY("store: postgres", "postgres_schema", STRING,
                   uns_store_postgres_values, schema, 1, 63, "uns",
                   "store = postgres: the schema UNS keeps its tables in "
                   "(created and\n"
                   "migrated at start; lower-case letters, digits and _)."),
    UNS_CONFIG_KEY("store: postgres", "postgres_connections", INT,
                   uns_store_postgres_values, connections, 1, 256, "4",
                   "store = postgres: connections for reads and claims; "
                   "writes use one\n"
                   "more, the group committer's."),
    UNS_CONFIG_KEY("store: postgres", "postgres_committers", INT,
                   uns_store_postgres_values, committers, 1, 16, "2",
                   "store = postgres: group committers, each with its "
                   "connection;\n"
                   "writes are spread over them by owner. One runs its "
                   "groups in one\n"
                   "database process, one after the other."),
    UNS_CONFIG_KEY("store: postgres", "postgres_statement_timeout", DURATION_MS,
                   uns_store_postgres_values, statement_timeout_ms, 100,
                   3600 * 1000, "10s",
                   "store = postgres: longest a statement may run; a stuck "
                   "database\n"
                   "fails writes with UNAVAILABLE after this instead of "
                   "hanging."),
    UNS_CONFIG_KEY("store: postgres", "postgres_connect_wait", DURATION_MS,
                   uns_store_postgres_values, connect_wait_ms, 0, DAY_MS, "30s",
                   "store = postgres: at start, how long to keep retrying "
                   "(with\n"
                   "backoff) while the database cannot be reached. 0 = try "
                   "once."),
    UNS_CONFIG_KEY("store: postgres", "node_id", STRING,
                   uns_store_postgres_values, node_id, 0, 200, "",
                   "store = postgres: this node's id among the unsd sharing "
                   "the\n"
                   "database, the owner of the delivery leases it takes; "
                   "unique among\n"
                   "live nodes (a second live node with the same id is "
                   "refused). \"\"\n"
                   "= host:pid:xxxx, random per start. Printed at start.\n"
                   "docs/cluster.md."),
    UNS_CONFIG_KEY("store: postgres", "node_heartbeat", DURATION_MS,
                   uns_store_postgres_values, node_heartbeat_ms, 100, 60 * 1000,
                   "2s",
                   "store = postgres: how often this node writes its "
                   "heartbeat, counts\n"
                   "the live nodes and runs its share of the cluster's "
                   "jobs."),
    UNS_CONFIG_KEY("store: postgres", "node_timeout", DURATION_MS,
                   uns_store_postgres_values, node_timeout_ms, 1000,
                   3600 * 1000, "10s",
                   "store = postgres: a node silent this long is dead: its "
                   "delivery\n"
                   "leases end (live nodes deliver its taps) and the jobs it "
                   "ran move\n"
                   "to another node. Several heartbeats; well above the "
                   "nodes' clock\n"
                   "skew."),
};

const uns_config_section uns_store_postgres_keys = {
    pg_keys, sizeof(pg_keys) / sizeof(pg_keys[0]),
    sizeof(uns_store_postgres_values)};

void
uns_store_postgres_config_get(const uns_config *c, uns_store_postgres_values *v,
                              uns_store_postgres_config *out)
{
	uns_config_values(c, &uns_store_postgres_keys, v);
	*out = (uns_store_postgres_config){
	    .url = v->url,
	    .schema = v->schema,
	    .connections = (unsigned)v->connections,
	    .committers = (unsigned)v->committers,
	    .statement_timeout_ms = (int)v->statement_timeout_ms,
	    .connect_wait_ms =
	        v->connect_wait_ms > 0 ? (int)v->connect_wait_ms : -1,
	    .node = v->node_id,
	    .node_heartbeat_ms = (int)v->node_heartbeat_ms,
	    .node_timeout_ms = (int)v->node_timeout_ms,
	};
}
