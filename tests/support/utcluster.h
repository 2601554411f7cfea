/*
 * utcluster.h — several unsd nodes on one throwaway PostgreSQL, with a
 * nats-server between them, all child processes of the test.
 *
 * ut_nats is a nats-server on 127.0.0.1 at a port it picks (-p -1; the
 * port is read back from its log), so two tests never race for one; a
 * restart reuses that port, as a real server coming back would. ut_cluster
 * is N unsd nodes with store = postgres on one schema of a ut_pg (utpg.h),
 * each with its own data folder, RPC port and (optionally) gateway port,
 * all sharing one development token secret and one apps.conf, so a token
 * minted for one node (ut_mint on ut_cluster_data) is good on every node.
 *
 * Children's stderr goes to a log file per process in the cluster's
 * folder (never a pipe that could fill and stall a node); the "serving"
 * line is waited for in that file. Every child gets PR_SET_PDEATHSIG, so
 * a test that crashes leaves no process behind: call these from the
 * test's main thread. Nodes start one after another (the first creates
 * the schema). Ports, once a node has them, are kept over restarts.
 *
 * Rejected: starting nodes in-process (one address space hides the very
 * isolation a cluster test is about) and fixed ports (parallel CTest).
 */
#ifndef UNS_UTCLUSTER_H
#define UNS_UTCLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "utpg.h"

#define UT_CLUSTER_MAX  4 /* nodes */
#define UT_CLUSTER_SETS 16

typedef struct ut_nats {
	pid_t pid;     /* 0 while down */
	int port;      /* kept over restarts */
	char url[64];  /* "nats://127.0.0.1:PORT" */
	char log[300]; /* its stderr */
	char bin[256];
} ut_nats;

/* Is there a nats-server to run ($UNS_NATS_SERVER, /usr/sbin, /usr/bin)?
 * false with why filled (the caller skips with it). */
bool ut_nats_found(ut_nats *n, char *why, size_t cap);

/* Starts nats-server (logging to log_dir/nats.log) and waits until it
 * takes connections. 0 on success, else -1 with why filled. */
int ut_nats_start(ut_nats *n, const char *log_dir, char *why, size_t cap);
/* SIGTERM (ut_nats_stop) or SIGKILL (ut_nats_kill), then waits for it. */
void ut_nats_stop(ut_nats *n);
void ut_nats_kill(ut_nats *n);
/* Starts it again on the same port; 0 on success. */
int ut_nats_restart(ut_nats *n);

typedef struct ut_cnode {
	pid_t pid;          /* 0 while down */
	int rpc_port;       /* kept over restarts */
	int http_port;      /* 0 without a gateway */
	char rpc_url[64];   /* "tcp://127.0.0.1:PORT" */
	char http_base[64]; /* "http://127.0.0.1:PORT", or "" */
	char data[300];     /* data_dir: ut_mint's argument */
	char log[320];      /* its stderr, all runs appended */
} ut_cnode;

typedef struct ut_cluster_opts {
	int nodes;               /* 1..UT_CLUSTER_MAX */
	bool gateway;            /* each node serves HTTP on its own port */
	const char *nats_url;    /* NULL or "" = no NATS (nats_url unset) */
	const char *apps;        /* apps.conf text for every node, or NULL */
	const char *const *sets; /* "KEY=VALUE"s for every node, NULL-ended */
} ut_cluster_opts;

typedef struct ut_cluster {
	char dir[128];   /* the cluster's folder: node data, logs */
	char schema[64]; /* its PostgreSQL schema */
	const ut_pg *pg;
	int n;
	bool gateway;
	char nats_url[64];
	char sets[UT_CLUSTER_SETS][512];
	int n_sets;
	ut_cnode node[UT_CLUSTER_MAX];
} ut_cluster;

/* Makes the folder and a fresh schema on pg, and starts o->nodes nodes,
 * each waited for until serving. 0 on success; -1 with why filled (what
 * is started stays for ut_cluster_close). */
int ut_cluster_open(ut_cluster *c, const ut_pg *pg, const ut_cluster_opts *o,
                    char *why, size_t cap);

/* Stops every node (SIGTERM), drops the schema, removes the folder. */
void ut_cluster_close(ut_cluster *c);

/* Starts node i (again: same ports, same data) with extra "KEY=VALUE"
 * sets (NULL-ended, or NULL) after the cluster's; waits for "serving" (and
 * the gateway). 0 on success, -1 with its log's tail on stderr. */
int ut_cluster_start(ut_cluster *c, int i, const char *const *sets);

/* Sends sig to node i (SIGTERM: a graceful drain; SIGKILL: kill -9) and
 * waits for it; its exit status, or -signal. */
int ut_cluster_stop(ut_cluster *c, int i, int sig);

/* Node i's data folder (for ut_mint: every node takes the same tokens). */
const char *ut_cluster_data(const ut_cluster *c, int i);

/* Whether the text occurs in node i's log (all its runs). */
bool ut_cluster_log_has(const ut_cluster *c, int i, const char *text);

#endif /* UNS_UTCLUSTER_H */
