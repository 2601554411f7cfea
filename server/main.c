/*
 * main.c — unsd, the UNS server.
 *
 * Embedded defaults: everything in ./uns-data — the RocksDB store
 * (DATA/store), TLS material made on first run (a development CA and a
 * server certificate for "localhost"), an HS256 token secret made on first
 * run when no jwt_key is configured (DATA/jwt-hs256.secret), the app
 * registry (DATA/apps.conf) — and RPC on tls+tcp://127.0.0.1:7443.
 * Settings come from the defaults, then --config FILE, then flags.
 *
 * SIGTERM or SIGINT drains: long polls end, no new calls are taken, calls
 * already received are answered, the store closes, the process exits 0.
 * SIGHUP reads DATA/apps.conf again: apps added, removed or given a new
 * secret by `unsctl app` take effect without a restart.
 * Signals are blocked in every thread before any is created and taken by
 * sigwait() in main, so no handler runs in a signal context.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "auth.h"
#include "cli_opts.h"
#include "config.h"
#include "crypto.h"
#include "delivery.h"
#include "fairness.h"
#include "fdlimit.h"
#include "devcert.h"
#include "files.h"
#include "gateway.h"
#include "gateway_config.h"
#include "gateway_ops.h"
#include "hint.h"
#include "jwt.h"
#include "metrics.h"
#include "push.h"
#include "recording.h"
#include "rpc_metrics.h"
#include "rpc_server.h"
#include "service.h"
#include "store.h"
#include "store_postgres.h"
#include "store_rocksdb.h"
#include "tapstream.h"
#include "testclock.h"
#include "token_guard.h"
#include "token_issuer.h"
#include "validate.h"

typedef struct unsd_opts {
	const char *config;
	const char *listen, *data_dir, *cert, *ca, *contexts, *workers;
	const char *max_message, *default_timeout, *gateway_listen, *record;
	uns_opt_list sets; /* --set KEY=VALUE, in order */
	int require_client_cert;
	int salvage;
	int print_config, print_example, help, version, migrate_only;
} unsd_opts;

#define OPT(name, kind, field, arg, help)                                      \
	{                                                                      \
		name, kind, offsetof(unsd_opts, field), arg, help              \
	}

static const uns_opt unsd_options[] = {
    OPT("--config", UNS_OPT_STR, config, "FILE",
        "configuration file (docs/unsd.conf.example)"),
    OPT("--listen", UNS_OPT_STR, listen, "URL", "config key listen"),
    OPT("--data", UNS_OPT_STR, data_dir, "DIR", "config key data_dir"),
    OPT("--cert", UNS_OPT_STR, cert, "FILE", "config key cert"),
    OPT("--ca", UNS_OPT_STR, ca, "FILE", "config key ca"),
    OPT("--require-client-cert", UNS_OPT_FLAG, require_client_cert, NULL,
        "config key require_client_cert = true"),
    OPT("--contexts", UNS_OPT_STR, contexts, "N", "config key contexts"),
    OPT("--workers", UNS_OPT_STR, workers, "N", "config key workers"),
    OPT("--max-message", UNS_OPT_STR, max_message, "SIZE",
        "config key max_message"),
    OPT("--default-timeout", UNS_OPT_STR, default_timeout, "DURATION",
        "config key default_timeout"),
    OPT("--gateway-listen", UNS_OPT_STR, gateway_listen, "URL",
        "config key gateway_listen (\"\" = no gateway)"),
    OPT("--salvage", UNS_OPT_FLAG, salvage, NULL,
        "config key store_salvage = true: open a damaged store, a copy kept"),
    OPT("--record", UNS_OPT_STR, record, "DIR",
        "config key record_dir: write every exchange to a fixture"),
    OPT("--set", UNS_OPT_LIST, sets, "KEY=VALUE",
        "set any config key (repeatable; after the file and the flags "
        "above)"),
    OPT("--migrate-only", UNS_OPT_FLAG, migrate_only, NULL,
        "open the store (store = postgres: create or migrate its schema) "
        "and exit"),
    OPT("--print-config", UNS_OPT_FLAG, print_config, NULL,
        "print the effective configuration and exit"),
    OPT("--print-example-config", UNS_OPT_FLAG, print_example, NULL,
        "print every key with its default and help (docs/unsd.conf.example)"),
    OPT("--version", UNS_OPT_FLAG, version, NULL, "print the version"),
    OPT("--help", UNS_OPT_FLAG, help, NULL, "this text"),
};
#define N_OPTIONS (sizeof(unsd_options) / sizeof(unsd_options[0]))

/* Flags that are config keys, applied after the file. */
static const struct {
	size_t offset;
	const char *key;
} flag_keys[] = {
    {offsetof(unsd_opts, listen), "listen"},
    {offsetof(unsd_opts, data_dir), "data_dir"},
    {offsetof(unsd_opts, cert), "cert"},
    {offsetof(unsd_opts, ca), "ca"},
    {offsetof(unsd_opts, contexts), "contexts"},
    {offsetof(unsd_opts, workers), "workers"},
    {offsetof(unsd_opts, max_message), "max_message"},
    {offsetof(unsd_opts, default_timeout), "default_timeout"},
    {offsetof(unsd_opts, gateway_listen), "gateway_listen"},
    {offsetof(unsd_opts, record), "record_dir"},
};

/* Everything the server runs on, released in reverse by teardown(). */
typedef struct unsd {
	uns_config cfg;
	uns_store *store;
	uns_jwt_keys *keys;
	uns_auth *auth;
	uns_token_issuer *issuer; /* NULL = no token endpoint */
	uns_service *svc;
	uns_rpc_server *rpc;
	uns_client *gw_client; /* the gateway's, over inproc:// */
	uns_gateway *gateway;
	uns_metrics *metrics; /* every module's metrics, GET /metrics */
	uns_gw_ops *gw_ops;   /* the gateway's metrics and rate limits */
	uns_rpc_metrics *rpc_metrics;
	uns_push_config *push;
	uns_recording *recording; /* record_dir, or NULL */
	uns_testclock clock;      /* read only with test_clock */
	uns_tapstream *taps;
	uns_delivery *delivery;
	uns_hint *hint; /* nats_url: wake-ups across nodes, or NULL */
	char cert[4096], ca[4096];
} unsd;

#define GATEWAY_INPROC "inproc://unsd-gateway"

static void
usage(FILE *f)
{
	fprintf(f, "usage: unsd [options]\n");
	uns_opts_usage(f, unsd_options, N_OPTIONS);
}

/* docs/unsd.conf.example: config.c's keys and push's. */
static int
print_example(void)
{
	uns_config *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		return 1;
	}
	uns_config_defaults(c);
	if (uns_push_add_keys(c) != UNS_OK || uns_store_add_keys(c) != UNS_OK) {
		fprintf(stderr, "unsd: %s\n", uns_last_message());
		free(c);
		return 1;
	}
	uns_config_write_example(stdout, c);
	free(c);
	return 0;
}

static int
load_config(unsd_opts *o, uns_config *c)
{
	char why[512];
	uns_config_defaults(c);
	if (uns_push_add_keys(c) != UNS_OK || uns_store_add_keys(c) != UNS_OK) {
		fprintf(stderr, "unsd: %s\n", uns_last_message());
		return -1;
	}
	if (o->config && uns_config_load(c, o->config, why, sizeof(why)) != 0) {
		fprintf(stderr, "unsd: %s\n", why);
		return -1;
	}
	for (size_t i = 0; i < sizeof(flag_keys) / sizeof(flag_keys[0]); i++) {
		const char *v =
		    *(const char **)((char *)o + flag_keys[i].offset);
		if (v &&
		    uns_config_set(c, flag_keys[i].key, v, why, sizeof(why))) {
			fprintf(stderr, "unsd: %s\n", why);
			return -1;
		}
	}
	if (o->salvage) {
		c->store_salvage = 1;
	}
	if (o->require_client_cert) {
		c->require_client_cert = 1;
	}
	for (int i = 0; i < o->sets.n; i++) {
		const char *kv = o->sets.v[i], *eq = strchr(kv, '=');
		char key[128];
		if (eq == NULL || eq == kv ||
		    (size_t)(eq - kv) >= sizeof(key)) {
			fprintf(stderr, "unsd: --set %s: expected KEY=VALUE\n",
			        kv);
			return -1;
		}
		snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
		if (uns_config_set(c, key, eq + 1, why, sizeof(why))) {
			fprintf(stderr, "unsd: --set: %s\n", why);
			return -1;
		}
	}
	if (uns_config_check(c, why, sizeof(why)) != UNS_OK) {
		fprintf(stderr, "unsd: %s\n", why);
		return -1;
	}
	return 0;
}

/* Fills in TLS file defaults, making dev certificates on first run. */
static int
prepare_tls(unsd *d)
{
	char dir[2048], why[512];
	snprintf(dir, sizeof(dir), "%s/tls", d->cfg.data_dir);
	snprintf(d->cert, sizeof(d->cert), "%s", d->cfg.cert);
	snprintf(d->ca, sizeof(d->ca), "%s", d->cfg.ca);
	if (d->cert[0] == '\0') {
		if (uns_devcert_ensure(dir, why, sizeof(why)) != UNS_OK) {
			fprintf(stderr,
			        "unsd: cannot make dev certificates: %s\n",
			        why);
			return -1;
		}
		snprintf(d->cert, sizeof(d->cert), "%s/server.pem", dir);
	}
	if (d->ca[0] == '\0') {
		snprintf(d->ca, sizeof(d->ca), "%s/ca.pem", dir);
	}
	return 0;
}

/* Whether name is one of the ", "-separated names. */
static int
names_hold(const char *names, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = names; *p != '\0';) {
		size_t len = strcspn(p, ",");
		if (len == n && strncasecmp(p, name, n) == 0) {
			return 1;
		}
		p += len;
		p += strspn(p, ", ");
	}
	return 0;
}

/* The URL a client should dial, after the one unsd listens on: its real
 * port and, for tls+tcp://, a name the certificate holds when the listen
 * host is not one (an address: mbedTLS matches DNS names only). */
static void
print_dial(const unsd *d, int port)
{
	static const char tls[] = "tls+tcp://";
	char host[1024], names[1024] = "", why[256];
	const char *url = d->cfg.listen, *h, *colon;
	if (strncmp(url, tls, sizeof(tls) - 1) != 0) {
		return;
	}
	h = url + sizeof(tls) - 1;
	colon = strrchr(h, ':');
	if (colon == NULL || (size_t)(colon - h) >= sizeof(host)) {
		return;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - h), h);
	if (uns_cert_dns_names(d->cert, names, sizeof(names), why,
	                       sizeof(why)) != UNS_OK) {
		names[0] = '\0';
	}
	if (names[0] != '\0' && !names_hold(names, host)) {
		snprintf(host, sizeof(host), "%.*s", (int)strcspn(names, ","),
		         names);
	}
	fprintf(stderr,
	        "unsd: dial %s%s:%d with the CA %s (the certificate names "
	        "%s)\n",
	        tls, host, port, d->ca, names[0] ? names : "no DNS name");
}

/* A development HS256 secret: 64 random hex digits, mode 0600. */
static int
ensure_dev_secret(const char *path)
{
	if (access(path, F_OK) == 0) {
		return 0;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		return errno == EEXIST ? 0 : -1;
	}
	char hex[66];
	for (int i = 0; i < 64; i += 8) {
		snprintf(hex + i, 9, "%08x", (unsigned)nng_random());
	}
	hex[64] = '\n';
	int ok = write(fd, hex, 65) == 65 && fsync(fd) == 0;
	close(fd);
	return ok ? 0 : -1;
}

static int
add_key(uns_jwt_keys *k, const char *spec, char *why, size_t whylen)
{
	return uns_jwt_keys_add_spec(k, spec, why, whylen) == UNS_OK ? 0 : -1;
}

static int
load_keys(unsd *d)
{
	char why[512], dev[2048];
	if (uns_jwt_keys_alloc(&d->keys) != UNS_OK) {
		return -1;
	}
	for (int i = 0; i < d->cfg.jwt_key.n; i++) {
		if (add_key(d->keys, d->cfg.jwt_key.v[i], why, sizeof(why)) !=
		    0) {
			fprintf(stderr, "unsd: jwt_key: %s\n", why);
			return -1;
		}
	}
	if (d->cfg.jwt_key.n > 0) {
		return 0;
	}
	snprintf(dev, sizeof(dev), "hs256:%s/jwt-hs256.secret",
	         d->cfg.data_dir);
	if (ensure_dev_secret(dev + 6) != 0 ||
	    add_key(d->keys, dev, why, sizeof(why)) != 0) {
		fprintf(stderr, "unsd: development token secret %s: %s\n",
		        dev + 6, why);
		return -1;
	}
	fprintf(stderr,
	        "unsd: tokens: development secret %s (set jwt_key for "
	        "production)\n",
	        dev + 6);
	return 0;
}

/* The token endpoint's signing key: token_signing_key, else the
 * development secret when it is what verifies tokens, else none. */
static int
open_issuer(unsd *d)
{
	char why[512], dev[2048];
	const char *spec = d->cfg.token_signing_key;
	if (spec[0] == '\0' && d->cfg.jwt_key.n == 0) {
		snprintf(dev, sizeof(dev), "hs256:%s/jwt-hs256.secret",
		         d->cfg.data_dir);
		spec = dev;
	}
	if (spec[0] == '\0') {
		return 0;
	}
	uns_token_issuer_config tc = {.audience = d->cfg.jwt_audience,
	                              .issuer = d->cfg.jwt_issuer,
	                              .lifetime_s = d->cfg.token_lifetime_s};
	if (uns_token_issuer_open_file(&d->issuer, spec, &tc, why,
	                               sizeof(why)) != UNS_OK) {
		fprintf(stderr, "unsd: token_signing_key: %s\n", why);
		return -1;
	}
	return 0;
}

static double
store_writable(void *arg)
{
	char note[600];
	return uns_store_health(arg, note, sizeof(note));
}

static double
store_recovered(void *arg)
{
	char note[600];
	return uns_store_health(arg, note, sizeof(note)) &&
	       (strncmp(note, "dropped", 7) == 0 ||
	        strncmp(note, "salvaged", 8) == 0);
}

static int
open_store(unsd *d)
{
	char dir[2048];
	snprintf(dir, sizeof(dir), "%s/store", d->cfg.data_dir);
	uns_store_rocksdb_config rc;
	uns_store_postgres_config pc;
	uns_store_postgres_values pv;
	uns_store_rocksdb_config_get(&d->cfg, &rc);
	uns_store_postgres_config_get(&d->cfg, &pv, &pc);
	uns_store_config sc = {
	    .backend = d->cfg.store,
	    .dir = dir,
	    .rocksdb = &rc,
	    .postgres = &pc,
	    .commit_max_batch = (unsigned)d->cfg.commit_max_batch,
	    .commit_max_wait_us = (unsigned)d->cfg.commit_max_wait_us,
	    .commit_answer_thread = d->cfg.commit_answer_thread,
	    .max_live = (uint32_t)d->cfg.max_live_per_user,
	    .max_subs = (uint32_t)d->cfg.max_subscriptions_per_user,
	    .min_free_bytes = d->cfg.min_free,
	    .salvage = d->cfg.store_salvage,
	    .sub_lifetime_ms = d->cfg.subscription_lifetime_s * 1000,
	    .default_ttl_ms = d->cfg.default_expiry_s * 1000,
	    .reclaim_interval_ms = (int)(d->cfg.reclaim_interval_s * 1000),
	};
	if (d->cfg.test_clock) {
		uns_testclock_init(&d->clock);
		sc.clock = uns_testclock_now;
		sc.clock_arg = &d->clock;
	}
	if (uns_store_open(&d->store, &sc) != UNS_OK) {
		fprintf(stderr, "unsd: store %s: %s\n",
		        strcmp(d->cfg.store, "postgres") == 0 ? "postgres"
		                                              : dir,
		        uns_store_errmsg());
		return -1;
	}
	if (uns_store_node_id(d->store)[0] != '\0') {
		fprintf(stderr, "unsd: node id %s\n",
		        uns_store_node_id(d->store));
	}
	char note[600];
	if (uns_store_health(d->store, note, sizeof(note)) && note[0]) {
		fprintf(stderr, "unsd: store %s: %s\n", dir, note);
	}
	if (d->metrics == NULL) { /* --migrate-only: no server, no metrics */
		return 0;
	}
	if (uns_metrics_gauge_func(d->metrics, "uns_store_writable",
	                           "1 while the store takes writes, 0 while "
	                           "it cannot (disk below min_free)",
	                           store_writable, d->store) != UNS_OK ||
	    uns_metrics_gauge_func(d->metrics, "uns_store_recovered",
	                           "1 when the store's open had to drop a "
	                           "torn log tail or salvage (health says "
	                           "what)",
	                           store_recovered, d->store) != UNS_OK) {
		fprintf(stderr, "unsd: metrics: out of memory\n");
		return -1;
	}
	return 0;
}

/* DATA/apps.conf into the app registry; says why on failure, after the
 * prefix ("" at start, "SIGHUP: " on a reload). A reload makes the
 * registry what the file says (removed apps and rotated secrets included);
 * a file with a bad line changes nothing. */
static int
load_apps(unsd *d, const char *prefix)
{
	char path[2048], why[512];
	snprintf(path, sizeof(path), "%s/apps.conf", d->cfg.data_dir);
	if (uns_auth_load_apps(d->auth, path, why, sizeof(why)) != UNS_OK) {
		fprintf(stderr, "unsd: %s%s\n", prefix, why);
		return -1;
	}
	return 0;
}

static int
open_auth(unsd *d)
{
	uns_auth_config ac = {
	    .keys = d->keys,
	    .audience = d->cfg.jwt_audience[0] ? d->cfg.jwt_audience : NULL,
	    .issuer = d->cfg.jwt_issuer[0] ? d->cfg.jwt_issuer : NULL,
	    .skew_seconds = (int)d->cfg.jwt_clock_skew_s,
	    .token_cache = (size_t)d->cfg.token_cache,
	    .token_max_bytes = (size_t)d->cfg.token_max_bytes,
	};
	if (uns_auth_open(&d->auth, &ac) != UNS_OK) {
		return -1;
	}
	return load_apps(d, "");
}

/* RPC metrics, and the test clock's hook and the recording (SPEC §7),
 * when configured. */
static int
set_rpc_hooks(unsd *d)
{
	char why[2300];
	uns_rpc_hooks h = {.on_reply = uns_rpc_metrics_on_reply,
	                   .on_reply_arg = d->rpc_metrics};
	if (d->cfg.test_clock) {
		h.before_call = uns_testclock_before_call;
		h.before_call_arg = &d->clock;
		fprintf(stderr, "unsd: test clock on (moved by metadata %s)\n",
		        UNS_TESTCLOCK_METADATA);
	}
	if (d->cfg.record_dir[0] != '\0') {
		if (uns_recording_open(&d->recording, d->cfg.record_dir, why,
		                       sizeof(why)) != UNS_OK) {
			fprintf(stderr, "unsd: %s\n", why);
			return -1;
		}
		h.on_exchange = uns_recording_exchange;
		h.on_exchange_arg = d->recording;
		fprintf(stderr, "unsd: recording to %s\n",
		        uns_recording_path(d->recording));
	}
	uns_rpc_server_set_hooks(d->rpc, &h);
	return 0;
}

static double
waiting_gauge(void *arg)
{
	return (double)uns_service_waiting(arg);
}

static double
contexts_gauge(void *arg)
{
	uns_rpc_stats st;
	uns_rpc_server_stats(arg, &st);
	return (double)st.contexts;
}

/* The live nodes that share the per-user limits (fairness.h). */
static unsigned
store_nodes(void *arg)
{
	return uns_store_nodes_live(arg);
}

static int
open_service(unsd *d)
{
	uns_limits lim;
	uns_limits_defaults(&lim);
	lim.max_id = (size_t)d->cfg.max_id;
	lim.max_raw_content = (size_t)d->cfg.max_raw_content;
	lim.max_title = (size_t)d->cfg.max_title;
	lim.max_body_text = (size_t)d->cfg.max_body_text;
	lim.max_page_size = (uint32_t)d->cfg.max_page_size;
	lim.max_expiry_ms = d->cfg.max_expiry_s * 1000;
	lim.idempotency_window_ms = d->cfg.idempotency_window_s * 1000;
	char why[512];
	if (uns_push_config_alloc(&d->push, &d->cfg, why, sizeof(why)) !=
	    UNS_OK) {
		fprintf(stderr, "unsd: %s\n", why);
		return -1;
	}
	uns_fairness_config fair = {
	    .calls_per_user = (uint32_t)d->cfg.max_calls_per_user,
	    .calls_per_app = (uint32_t)d->cfg.max_calls_per_app,
	    .waits_per_user = (uint32_t)d->cfg.max_waits_per_user,
	    .waits_per_app = (uint32_t)d->cfg.max_waits_per_app,
	    .rate_app = (uint32_t)d->cfg.rate_limit_app,
	    .rate_app_burst = (uint32_t)d->cfg.rate_limit_app_burst,
	    .rate_user = (uint32_t)d->cfg.rate_limit_user,
	    .rate_user_burst = (uint32_t)d->cfg.rate_limit_user_burst,
	    .nodes = d->cfg.cluster_split_limits ? store_nodes : NULL,
	    .nodes_arg = d->store,
	};
	uns_token_guard_config guard = {
	    .fail_burst = (uint32_t)d->cfg.token_fail_burst,
	    .fail_per_minute = (uint32_t)d->cfg.token_fail_per_minute,
	    .source_fail_burst = (uint32_t)d->cfg.token_source_fail_burst,
	    .source_fail_per_minute =
	        (uint32_t)d->cfg.token_source_fail_per_minute,
	    .checks = (uint32_t)d->cfg.token_checks,
	    .wait_ms = (uint32_t)d->cfg.token_check_wait_ms,
	};
	uns_service_config scfg = {.store = d->store,
	                           .auth = d->auth,
	                           .issuer = d->issuer,
	                           .limits = &lim,
	                           .fairness = &fair,
	                           .token_guard = &guard,
	                           .push = d->push};
	scfg.expiry_resolution_ms = (uint32_t)d->cfg.reclaim_at_expiry_ms;
	if (d->cfg.nats_url[0]) { /* other nodes write our feeds too */
		scfg.recheck_ms = (uint32_t)d->cfg.cluster_recheck_ms;
	}
	if (d->cfg.test_clock) {
		scfg.now_ms = uns_testclock_now;
		scfg.now_arg = &d->clock;
	}
	if (uns_service_open(&d->svc, &scfg) != UNS_OK) {
		return -1;
	}
	uns_rpc_config rc = {
	    .url = d->cfg.listen,
	    .cert_key_file = d->cert,
	    .ca_file = d->ca,
	    .require_client_cert = d->cfg.require_client_cert,
	    .contexts = d->cfg.contexts,
	    .max_contexts = d->cfg.max_contexts,
	    .workers = d->cfg.workers,
	    .max_message_bytes = (size_t)d->cfg.max_message,
	    .default_timeout_ms = (uint32_t)d->cfg.default_timeout_ms,
	    .drain_linger_ms = (uint32_t)d->cfg.drain_linger_ms,
	    .handshake_timeout_ms = (uint32_t)d->cfg.handshake_timeout_ms,
	};
	if (uns_rpc_metrics_open(&d->rpc_metrics, d->metrics) != UNS_OK ||
	    uns_metrics_gauge_func(d->metrics, "uns_long_polls_waiting",
	                           "Long polls parked on their feed now.",
	                           waiting_gauge, d->svc) != UNS_OK) {
		return -1;
	}
	uns_rpc_service rs = uns_service_rpc(
	    d->svc, (d->cfg.inline_reads ? UNS_SERVICE_INLINE_READS : 0) |
	                (d->cfg.async_writes ? UNS_SERVICE_ASYNC_WRITES : 0));
	if (uns_rpc_server_open(&d->rpc, &rc, &rs) != UNS_OK) {
		fprintf(stderr, "unsd: %s\n", uns_last_message());
		return -1;
	}
	if (uns_metrics_gauge_func(d->metrics, "uns_rpc_contexts",
	                           "NNG contexts open: receiving, running, "
	                           "waiting calls, spares.",
	                           contexts_gauge, d->rpc) != UNS_OK) {
		return -1;
	}
	return set_rpc_hooks(d);
}

/* Metrics and rate limits; the limits identify callers with the keys
 * the server verifies tokens with. */
static int
open_gateway_ops(unsd *d)
{
	uns_gw_ops_config oc;
	uns_gw_ops_opts_from_config(&oc, &d->cfg);
	oc.keys = d->keys;
	oc.metrics = d->metrics;
	if (uns_gw_ops_open(&d->gw_ops, &oc) != UNS_OK) {
		fprintf(stderr, "unsd: gateway metrics: cannot register\n");
		return -1;
	}
	return 0;
}

/* A parked HTTP long poll's client closed: its RPC's wait ends too. */
static void
gateway_hangup(void *arg, const char *request_id)
{
	uns_rpc_server_hangup(arg, request_id);
}

/* The embedded gateway: the RPC server also listens on inproc://, and the
 * gateway calls it there through libuns like any other client. */
static int
open_gateway(unsd *d)
{
	if (d->cfg.gateway_listen[0] == '\0') {
		return 0;
	}
	uns_client_opts co = {.lazy_connect = 1,
	                      .max_message_bytes = (size_t)d->cfg.max_message};
	uns_gateway_config gc;
	uns_gateway_opts_from_config(&gc, &d->cfg);
	gc.hangup = gateway_hangup;
	gc.hangup_arg = d->rpc;
	if (strncmp(d->cfg.gateway_listen, "https:", 6) == 0 &&
	    d->cert[0] == '\0' && prepare_tls(d) != 0) {
		return -1;
	}
	gc.cert_file = d->cfg.gateway_cert[0] ? d->cfg.gateway_cert : d->cert;
	if (uns_client_open(&d->gw_client, GATEWAY_INPROC, &co) != UNS_OK) {
		fprintf(stderr, "unsd: gateway client: %s\n",
		        uns_last_message());
		return -1;
	}
	gc.rpc = d->gw_client;
	if (open_gateway_ops(d) != 0) {
		return -1;
	}
	gc.ops = d->gw_ops;
	if (uns_gateway_open(&d->gateway, &gc) != UNS_OK) {
		fprintf(stderr, "unsd: %s\n", uns_last_message());
		return -1;
	}
	return 0;
}

/* The live tap stream and the delivery engine (delivery.h), which starts
 * on the taps left in the outbox by the previous run; the push
 * configuration is open_service's. */
static int
open_delivery(unsd *d)
{
	const uns_config *c = &d->cfg;

	if (c->tap_stream_listen[0] &&
	    uns_tapstream_open(&d->taps, c->tap_stream_listen) != UNS_OK) {
		fprintf(stderr, "unsd: %s\n", uns_last_message());
		return -1;
	}
	uns_delivery_config dc = {
	    .store = d->store,
	    .transports = uns_push_transports,
	    .push = d->push,
	    .stream = d->taps,
	    .metrics = d->metrics,
	    .max_inflight = (unsigned)c->delivery_max_inflight,
	    .host_connections = (unsigned)c->delivery_host_connections,
	    .workers = (unsigned)c->delivery_workers,
	    .connect_timeout_ms = c->delivery_connect_timeout_ms,
	    .timeout_ms = c->delivery_timeout_ms,
	    .backoff_base_ms = c->delivery_backoff_ms,
	    .backoff_max_ms = c->delivery_backoff_max_ms,
	    .max_attempts = (unsigned)c->delivery_max_attempts,
	    .max_app_labels = (unsigned)c->delivery_metrics_max_apps,
	    .breaker_failures = (unsigned)c->delivery_breaker_failures,
	    .breaker_open_ms = c->delivery_breaker_open_ms,
	    .lease_ms = c->delivery_lease_ms,
	};
	if (c->test_clock) {
		dc.clock = uns_testclock_now;
		dc.clock_arg = &d->clock;
	}
	if (c->delivery && uns_delivery_open(&d->delivery, &dc) != UNS_OK) {
		fprintf(stderr, "unsd: delivery engine: cannot start\n");
		return -1;
	}
	return 0;
}

/* Another node's write (its hint, hint.h): wake what this node has
 * waiting on that feed, as the store's own hooks do for local writes. */
static void
remote_moved(void *arg, const char *user, const char *host, uint64_t head,
             int taps)
{
	unsd *d = arg;
	uns_service_feed_moved(d->svc, user, host);
	uns_tapstream_publish(d->taps, user, host, head);
	if (taps) {
		uns_delivery_kick(d->delivery); /* claims the new taps soon */
	}
}

/* nats_url: hints to and from the other nodes (docs/cluster.md). */
static int
open_cluster(unsd *d)
{
	uns_hint_config hc = {.url = d->cfg.nats_url,
	                      .store = d->store,
	                      .fn = remote_moved,
	                      .arg = d,
	                      .metrics = d->metrics};
	if (d->cfg.nats_url[0] && uns_hint_open(&d->hint, &hc) != UNS_OK) {
		fprintf(stderr, "unsd: nats_url: %s\n", uns_last_message());
		return -1;
	}
	return 0;
}

static void
teardown(unsd *d)
{
	uns_hint_close(d->hint); /* first: its callback wakes what follows */
	uns_gateway_close(d->gateway);
	uns_gw_ops_close(d->gw_ops);
	uns_client_close(d->gw_client);
	uns_rpc_server_close(d->rpc);
	uns_delivery_close(d->delivery); /* unsent taps stay in the outbox */
	uns_tapstream_close(d->taps);
	uns_rpc_metrics_close(d->rpc_metrics);
	uns_recording_close(d->recording);
	uns_service_close(d->svc);
	uns_push_config_free(d->push);
	uns_auth_close(d->auth);
	uns_token_issuer_close(d->issuer);
	uns_jwt_keys_free(d->keys);
	uns_store_close(d->store);
	uns_metrics_close(d->metrics); /* last: modules register on it */
}

static void
drain(unsd *d, int sig)
{
	uns_rpc_stats st;
	fprintf(stderr, "unsd: %s, draining\n", strsignal(sig));
	uns_gateway_quiesce(d->gateway);    /* no new HTTP clients */
	uns_service_set_serving(d->svc, 0); /* ends long polls */
	/* The gateway first, while the RPC server still reads its calls:
	 * each request in flight gets its real answer at once (a call the
	 * draining server no longer read waited out gateway_rpc_timeout and
	 * answered 504, or lost its connection), those not yet started 503. */
	uns_gateway_close(d->gateway);
	d->gateway = NULL;
	uns_rpc_server_drain(d->rpc);
	uns_rpc_server_stats(d->rpc, &st);
	fprintf(stderr,
	        "unsd: drained: received %llu, replied %llu, failed %llu, "
	        "rejected %llu\n",
	        (unsigned long long)st.received, (unsigned long long)st.replied,
	        (unsigned long long)st.failed, (unsigned long long)st.rejected);
}

static void
say_tightened(void *arg, const char *path, unsigned old_mode, unsigned new_mode)
{
	(void)arg;
	fprintf(stderr,
	        "unsd: %s was mode %04o, open to other users: now %04o\n", path,
	        old_mode, new_mode);
}

/* The data directory and all in it: the owner's alone, or no start. */
static int
private_data(unsd *d)
{
	char why[1024];
	if (uns_private_tree(d->cfg.data_dir, say_tightened, NULL, why,
	                     sizeof(why)) != UNS_OK) {
		fprintf(stderr, "unsd: data directory: %s\n", why);
		return -1;
	}
	return 0;
}

/* unsd --migrate-only: opening the store creates or migrates its schema
 * (store = postgres) or its files (rocksdb); then exit. */
static int
migrate_only(unsd *d)
{
	umask(077); /* as run(): the store's files are the owner's alone */
	if (mkdir(d->cfg.data_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "unsd: cannot create %s: %s\n", d->cfg.data_dir,
		        strerror(errno));
		return 1;
	}
	if (private_data(d) != 0 || open_store(d) != 0) {
		return 1;
	}
	uns_store_close(d->store);
	fprintf(stderr, "unsd: store is at the current schema\n");
	return 0;
}

static int
run(unsd *d)
{
	int rc = 1, sig = 0;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an error */
	fprintf(stderr, "unsd: open files limit %llu\n",
	        (unsigned long long)uns_fdlimit_raise());

	/* Whatever umask we were started with: keys, secrets, apps.conf and
	 * every store file are the owner's alone (files.c). */
	umask(077);
	if (mkdir(d->cfg.data_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "unsd: cannot create %s: %s\n", d->cfg.data_dir,
		        strerror(errno));
		goto out;
	}
	if (private_data(d) != 0) {
		goto out;
	}
	/* Before NNG makes its first TLS configuration (docs/security.md). */
	if (uns_tls_restrict_suites() != UNS_OK) {
		fprintf(stderr, "unsd: no TLS cipher suite left to offer\n");
		goto out;
	}
	if (uns_metrics_open(&d->metrics) != UNS_OK ||
	    (strncmp(d->cfg.listen, "tls+", 4) == 0 && prepare_tls(d) != 0) ||
	    load_keys(d) != 0 || open_issuer(d) != 0 || open_store(d) != 0 ||
	    open_auth(d) != 0 || open_service(d) != 0 ||
	    open_delivery(d) != 0 || open_cluster(d) != 0) {
		goto out;
	}
	if (d->cfg.gateway_listen[0] &&
	    uns_rpc_server_listen(d->rpc, GATEWAY_INPROC) != UNS_OK) {
		fprintf(stderr, "unsd: %s\n", uns_last_message());
		goto out;
	}
	uns_rpc_server_start(d->rpc);
	if (open_gateway(d) != 0) {
		goto out;
	}
	fprintf(stderr, "unsd: serving %s on %s (port %d)\n", UNS_VERSION,
	        d->cfg.listen, uns_rpc_server_port(d->rpc));
	if (d->gateway) { /* after the line tests and scripts wait for */
		fprintf(stderr, "unsd: gateway on %s (port %d)\n",
		        d->cfg.gateway_listen, uns_gateway_port(d->gateway));
	}
	print_dial(d, uns_rpc_server_port(d->rpc));
	while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
		if (load_apps(d, "SIGHUP: ") == 0) {
			fprintf(stderr, "unsd: SIGHUP: reloaded apps.conf\n");
		}
	}
	drain(d, sig);
	rc = 0;
out:
	teardown(d);
	return rc;
}

int
main(int argc, char **argv)
{
	unsd_opts o = {0};
	char why[256];
	int n = uns_opts_parse(unsd_options, N_OPTIONS, &o, argc, argv, why,
	                       sizeof(why));
	if (n != 0) {
		fprintf(stderr, "unsd: %s\n",
		        n < 0 ? why : "unexpected argument");
		usage(stderr);
		return 2;
	}
	if (o.print_example) {
		return print_example();
	}
	if (o.help || o.version) {
		o.help ? usage(stdout) : (void)printf("unsd %s\n", UNS_VERSION);
		return 0;
	}
	unsd *d = calloc(1, sizeof(*d));
	if (d == NULL || load_config(&o, &d->cfg) != 0) {
		free(d);
		return 2;
	}
	if (o.print_config) {
		uns_config_write(stdout, &d->cfg);
		free(d);
		return 0;
	}
	int rc = o.migrate_only ? migrate_only(d) : run(d);
	free(d);
	return rc;
}
