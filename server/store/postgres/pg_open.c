/*
 * pg_open.c — opening and closing the PostgreSQL backend, and its table of
 * operations.
 *
 * Open connects (retrying with backoff for connect_wait_ms while the
 * database is down, saying so on stderr each time, so unsd started before
 * its database waits instead of dying), migrates the schema in one
 * transaction, registers the node (pg_cluster.c), keeps that connection
 * for the committer, and starts the committers and the store's thread
 * (store_base.c; its rounds are pg_cluster.c's). Pool connections connect
 * on first use. Close stops them and, cleanly closed, the node leaves.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "pg_impl.h"

static void
defaults(uns_store_postgres_config *pc)
{
	pc->connections =
	    pc->connections ? pc->connections : UNS_STORE_PG_CONNECTIONS;
	pc->statement_timeout_ms = pc->statement_timeout_ms
	                               ? pc->statement_timeout_ms
	                               : UNS_STORE_PG_STATEMENT_TIMEOUT;
	pc->connect_wait_ms = pc->connect_wait_ms ? pc->connect_wait_ms
	                                          : UNS_STORE_PG_CONNECT_WAIT;
	pc->committers =
	    pc->committers ? pc->committers : UNS_STORE_PG_COMMITTERS;
	if (pc->committers > PG_COMMITTERS_MAX) {
		pc->committers = PG_COMMITTERS_MAX;
	}
	pc->node_heartbeat_ms = pc->node_heartbeat_ms
	                            ? pc->node_heartbeat_ms
	                            : UNS_STORE_PG_NODE_HEARTBEAT;
	pc->node_timeout_ms = pc->node_timeout_ms > 0
	                          ? pc->node_timeout_ms
	                          : UNS_STORE_PG_NODE_TIMEOUT;
}

/* A default node id: host:pid:xxxx, xxxx random per open, so a restarted
 * process or a second store of one process is a node of its own. */
static void
node_default(char *out, size_t cap)
{
	char host[256] = "?";
	unsigned r = 0;
	FILE *f = fopen("/dev/urandom", "rb");

	if (f == NULL || fread(&r, sizeof(r), 1, f) != 1) {
		r = (unsigned)uns_mono_us() ^ (unsigned)getpid() * 2654435761u;
	}
	if (f != NULL) {
		fclose(f);
	}
	(void)gethostname(host, sizeof(host) - 1);
	snprintf(out, cap, "%s:%d:%04x", host, (int)getpid(), r & 0xffffu);
}

/* Schema names are plain identifiers: letters, digits, '_', ≤ 63. */
static bool
schema_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 63 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static uns_err
names(pgs *st, const uns_store_postgres_config *pc)
{
	const char *schema = pc->schema != NULL && pc->schema[0] != '\0'
	                         ? pc->schema
	                         : UNS_STORE_PG_SCHEMA;
	char node[300];
	size_t n;

	if (!schema_ok(schema)) {
		return uns_store_seterr(
		    UNS_EINVAL,
		    "postgres schema \"%s\": use lower-case "
		    "letters, digits and _",
		    schema);
	}
	if (pc->node != NULL && pc->node[0] != '\0') {
		snprintf(node, sizeof(node), "%s", pc->node);
	} else {
		node_default(node, sizeof(node));
	}
	n = strlen(schema) * 2 + 200;
	st->url = strdup(pc->url);
	st->schema = strdup(schema);
	st->node = strdup(node);
	if ((st->setup = malloc(n)) != NULL) {
		snprintf(
		    st->setup, n,
		    "SET search_path TO \"%s\"; SET statement_timeout = %d; "
		    "SET synchronous_commit = on; SET client_min_messages = "
		    "warning",
		    schema, st->pc.statement_timeout_ms);
	}
	st->base.node_id = st->node;
	if (st->url == NULL || st->schema == NULL || st->node == NULL ||
	    st->setup == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	return UNS_OK;
}

/* The first connection: retried with backoff while the database cannot
 * be reached, for connect_wait_ms (once when negative). */
static uns_err
first_connect(pgs *st)
{
	uint64_t end = uns_mono_us() + (uint64_t)(st->pc.connect_wait_ms > 0
	                                              ? st->pc.connect_wait_ms
	                                              : 0) *
	                                   1000u;
	int backoff = PG_BACKOFF_MIN;
	uns_err rc;

	for (;;) {
		if ((st->first = pg_connect(st, &rc)) != NULL) {
			return UNS_OK;
		}
		if (rc != UNS_UNAVAILABLE || uns_mono_us() >= end) {
			return rc;
		}
		fprintf(stderr, "unsd: %s; retrying in %d ms\n",
		        uns_store_errmsg(), backoff);
		pg_sleep_ms(backoff);
		backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
	}
}

static void
store_free(pgs *st)
{
	for (unsigned i = 0; i < st->pc.committers; i++) {
		if (st->cm[i].wconn != NULL) {
			PQfinish(st->cm[i].wconn);
		}
	}
	if (st->first != NULL) {
		PQfinish(st->first);
	}
	for (unsigned i = 0; st->pool != NULL && i < st->pc.connections; i++) {
		if (st->pool[i].conn != NULL) {
			PQfinish(st->pool[i].conn);
		}
	}
	free(st->pool);
	pthread_mutex_destroy(&st->pool_mu);
	pthread_cond_destroy(&st->pool_cv);
	pthread_mutex_destroy(&st->maint_mu);
	uns_store_base_fini(&st->base);
	free(st->url);
	free(st->schema);
	free(st->node);
	free(st->setup);
	free(st);
}

static pgs *
store_alloc(const uns_store_config *cfg)
{
	pgs *st = calloc(1, sizeof(*st));

	if (st == NULL) {
		return NULL;
	}
	uns_store_base_init(&st->base, &uns_store_postgres_ops, cfg);
	st->pc = *cfg->postgres;
	defaults(&st->pc);
	st->base.cfg.postgres = &st->pc;
	pthread_mutex_init(&st->pool_mu, NULL);
	pthread_cond_init(&st->pool_cv, NULL);
	pthread_mutex_init(&st->maint_mu, NULL);
	st->job_reclaim.name = "reclaim";
	st->job_fallback.name = "fallback";
	st->reclaim_last_mono = uns_mono_us();
	atomic_init(&st->nodes_live, 1);
	atomic_init(&st->job_statements, 0);
	st->pool = calloc(st->pc.connections, sizeof(*st->pool));
	if (st->pool == NULL) {
		store_free(st);
		return NULL;
	}
	return st;
}

static uns_err
threads_start(pgs *st)
{
	uns_err rc = UNS_OK;

	for (unsigned i = 0; i < st->pc.committers && rc == UNS_OK; i++) {
		uns_store_commit_config cc = {
		    .max_batch = st->base.cfg.commit_max_batch,
		    .max_wait_us = st->base.cfg.commit_max_wait_us,
		    .answer_thread = st->base.cfg.commit_answer_thread,
		    .flush = pg_flush,
		    .flush_arg = &st->cm[i]};
		st->cm[i].st = st;
		rc = uns_store_commit_start(&st->cm[i].commit, &cc);
	}
	if (rc != UNS_OK) {
		return rc;
	}
	/* The first committer keeps it, prepared as it prepares its own. */
	if (pg_write_prepare(st, st->first) != UNS_OK) {
		PQfinish(st->first); /* it connects again when it needs to */
		st->first = NULL;
	}
	st->cm[0].wconn = st->first;
	st->first = NULL;
	if ((rc = uns_store_jobs_start(&st->base, pg_round_ms(st))) == UNS_OK) {
		st->joined = true;
	}
	return rc;
}

static void
pg_close(uns_store *base)
{
	pgs *st = (pgs *)base;

	uns_store_jobs_stop(&st->base);
	for (unsigned i = 0; i < st->pc.committers; i++) {
		uns_store_commit_stop(st->cm[i].commit);
	}
	if (st->joined) {
		pg_node_leave(st);
	}
	store_free(st);
}

static uns_err
pg_open(const uns_store_config *cfg, uns_store **stp)
{
	pgs *st;
	uns_err rc;

	if (cfg->postgres == NULL || cfg->postgres->url == NULL ||
	    cfg->postgres->url[0] == '\0') {
		return uns_store_seterr(UNS_EINVAL, "no postgres_url");
	}
	if ((st = store_alloc(cfg)) == NULL) {
		return uns_store_seterr(UNS_ENOMEM, "out of memory");
	}
	if ((rc = names(st, cfg->postgres)) != UNS_OK ||
	    (rc = first_connect(st)) != UNS_OK ||
	    (rc = pg_migrate(st, st->first)) != UNS_OK ||
	    (rc = pg_node_register(st, st->first)) != UNS_OK ||
	    (rc = threads_start(st)) != UNS_OK) {
		pg_close(&st->base);
		return rc;
	}
	*stp = &st->base;
	return UNS_OK;
}

static uns_err
pg_stats_get(uns_store *base, uns_store_stats *out)
{
	pgs *st = (pgs *)base;
	if (out == NULL) {
		return uns_store_seterr(UNS_EINVAL, "bad argument");
	}
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < st->pc.committers; i++) {
		uns_store_commit_counts c;
		uns_store_commit_stats(st->cm[i].commit, &c);
		out->commit_batches += c.batches;
		out->commit_writes += c.writes;
		out->commit_flush_us += c.flush_us;
		out->commit_done_us += c.done_us;
	}
	return UNS_OK;
}

const uns_store_ops uns_store_postgres_ops = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .stats_get = pg_stats_get,
    .sub_put = pg_sub_put,
    .sub_get = pg_sub_get,
    .sub_delete_async = pg_sub_delete_async,
    .sub_list = pg_sub_list,
    .post_async = pg_post_async,
    .post_keyed_async = pg_post_keyed_async,
    .update_state_async = pg_update_state_async,
    .get = pg_get,
    .delete_in_hosts_async = pg_delete_in_hosts_async,
    .delete_by_app_id_async = pg_delete_by_app_id_async,
    .feed_read = pg_feed_read,
    .feed_head = pg_feed_head,
    .history = pg_history,
    .outbox_claim = pg_outbox_claim,
    .outbox_next_due = pg_outbox_next_due,
    .outbox_settle = pg_outbox_settle,
    .outbox_settle_many = pg_outbox_settle_many,
    .outbox_count = pg_outbox_count,
    .fetched_async = pg_fetched_async,
    .fallback_run = pg_fallback_run,
    .reclaim = pg_reclaim,
    .next_expiry = pg_next_expiry,
    .keys = &uns_store_postgres_keys,
    .jobs_round = pg_jobs_round,
    .nodes_live = pg_nodes_live,
};
