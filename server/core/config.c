/*
 * config.c — see config.h.
 *
 * One const table row per key (name, kind, field offset, range, default as
 * text, help) and one row per kind of value (parse, format, describe).
 * Parsing a line finds the key's row and hands the value text to its kind;
 * defaults are the rows' default texts run through the same parsers; the
 * example file prints each row's help, its kind's description of the range
 * and the formatted default. So a key is added by adding one row, and the
 * example file cannot drift from the code (a test compares them).
 *
 * A subsystem's table (uns_config_section: push keeps one per transport,
 * in the transport's file) is searched after this one; its values live in
 * the struct's ext bytes, at the offset uns_config_add gave the section,
 * so the struct stays one block that copies by assignment. A key finds
 * its values by which table its row is in (base_of). Chosen over a table
 * of every key here (the core would know every transport) and over push
 * parsing its own file or section (two parsers, two error styles, keys
 * --set and --print-config would not reach).
 *
 * A file is parsed into a copy of the caller's struct, which is written
 * back only when every line was good: a failed parse changes nothing.
 * Strings are copied into fixed arrays in the struct, zero-filled, and
 * whole structs move by memcpy (padding too), so the struct owns its
 * strings and two configs made here with equal values are equal byte for
 * byte (the tests and the fuzz target compare them so).
 *
 * Rejected: an INI dialect with sections (one flat namespace greps
 * better), environment-variable expansion (the shell does it for --set),
 * and include files (one file is the whole configuration).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errors.h"

#define KiB    1024LL
#define MiB    (1024 * KiB)
#define GiB    (1024 * MiB)
#define MIN_S  60LL
#define HOUR_S (60 * MIN_S)
#define DAY_S  (24 * HOUR_S)
#define MIN_MS (1000 * MIN_S)
#define DAY_MS (1000 * DAY_S)
#define STRLEN (UNS_CONFIG_STR_MAX - 1)
#define MSGMAX 512                          /* one error message */
#define FMTMAX (2 * UNS_CONFIG_STR_MAX + 4) /* one formatted value */
#define SHOWN  60 /* bytes of a bad value quoted in a message */

/* ==== the tables =========================================================
 */

/* The table's short names for the kinds (config.h). */
typedef uns_config_kind cfg_kind;
#define CFG_STRING      UNS_CONFIG_STRING
#define CFG_PATH        UNS_CONFIG_PATH
#define CFG_URL         UNS_CONFIG_URL
#define CFG_BOOL        UNS_CONFIG_BOOL
#define CFG_INT         UNS_CONFIG_INT
#define CFG_SIZE        UNS_CONFIG_SIZE
#define CFG_DURATION_US UNS_CONFIG_DURATION_US
#define CFG_DURATION_MS UNS_CONFIG_DURATION_MS
#define CFG_DURATION_S  UNS_CONFIG_DURATION_S
#define CFG_PATH_LIST   UNS_CONFIG_PATH_LIST /* repeatable */

typedef uns_config_key cfg_key;

#define KEY(sec, name, kind, field, min, max, def, help)                       \
	{                                                                      \
		sec, name, kind, offsetof(uns_config, field), min, max, def,   \
		    help                                                       \
	}

static const cfg_key keys[] = {
    /* ---- server ---- */
    KEY("server", "listen", CFG_URL, listen, 1, STRLEN,
        "tls+tcp://127.0.0.1:7443",
        "RPC listen URL: tls+tcp://HOST:PORT, tcp://HOST:PORT or\n"
        "ipc:///PATH. With tls+tcp, see cert and ca."),
    KEY("server", "data_dir", CFG_PATH, data_dir, 1, STRLEN, "uns-data",
        "Data directory: the store, and the development TLS material made\n"
        "on first run. Created if missing."),
    KEY("server", "cert", CFG_PATH, cert, 0, STRLEN, "",
        "Server certificate and its private key, one PEM file.\n"
        "\"\" = data_dir/tls/server.pem, made on first run together with a\n"
        "development CA."),
    KEY("server", "ca", CFG_PATH, ca, 0, STRLEN, "",
        "CA certificates that client certificates must chain to.\n"
        "\"\" = data_dir/tls/ca.pem."),
    KEY("server", "require_client_cert", CFG_BOOL, require_client_cert, 0, 1,
        "false", "Mutual TLS: refuse clients without a certificate."),
    KEY("server", "contexts", CFG_INT, contexts, 1, 65536, "128",
        "NNG contexts receiving calls at once. A call that waits (a long\n"
        "poll, a write waiting for its sync) hands its context's place to\n"
        "another one, opened on demand, so waits never hold these."),
    KEY("server", "max_contexts", CFG_INT, max_contexts, 1, 10000000, "200000",
        "Contexts at most, the waiting calls' included (each costs a few\n"
        "KiB while its call waits; spares beyond `contexts` are freed)."),
    KEY("server", "workers", CFG_INT, workers, 0, 1024, "0",
        "Threads for blocking handlers. 0 = one per receiving context."),
    KEY("server", "inline_reads", CFG_BOOL, inline_reads, 0, 1, "true",
        "Answer reads that cannot wait (History, Fetch without a long poll)\n"
        "on the thread that received them, without a worker hop. Turn off\n"
        "when the store is much bigger than memory and reads go to disk."),
    KEY("server", "async_writes", CFG_BOOL, async_writes, 0, 1, "true",
        "Run Post, UpdateState, Delete and Unsubscribe on the thread that\n"
        "received them up to their store write and answer them from the\n"
        "group committer once the write is synced, so no thread waits for\n"
        "the fsync. Off: they wait on a worker thread."),
    KEY("server", "max_message", CFG_SIZE, max_message, KiB, 64 * MiB, "4M",
        "Largest request or reply on the RPC port."),
    KEY("server", "default_timeout", CFG_DURATION_MS, default_timeout_ms, 1,
        DAY_S * 1000, "30s", "Deadline of calls that carry none."),
    KEY("server", "handshake_timeout", CFG_DURATION_MS, handshake_timeout_ms,
        100, HOUR_S * 1000, "5s",
        "An RPC connection must finish its TLS handshake and SP header this\n"
        "long after it was accepted, or it is closed (idle and half-open\n"
        "connections cost a descriptor each until then)."),
    KEY("server", "drain_linger", CFG_DURATION_MS, drain_linger_ms, 0,
        60 * 1000, "200ms",
        "On SIGTERM or SIGINT, once every call is answered, how long the\n"
        "last replies get to leave before the sockets close."),

    /* ---- store ---- */
    KEY("store", "store", CFG_STRING, store, 1, 32, "rocksdb",
        "Storage backend: rocksdb (embedded, in data_dir/store) or postgres\n"
        "(a PostgreSQL 15 database several nodes can share; postgres_url).\n"
        "docs/postgres.md."),
    KEY("store", "commit_max_batch", CFG_INT, commit_max_batch, 1, 65536,
        "1024", "Group commit: most writes made durable by one WAL sync."),
    KEY("store", "commit_max_wait", CFG_DURATION_US, commit_max_wait_us, 0,
        1000 * 1000, "0",
        "Group commit: longest a write waits for others to share its sync.\n"
        "0 = sync at once."),
    KEY("store", "commit_answer_thread", CFG_BOOL, commit_answer_thread, 0, 1,
        "false",
        "Group commit: answer a synced group's Posts on a thread of their\n"
        "own, so the next sync need not wait for the replies to go out."),
    KEY("store", "min_free", CFG_SIZE, min_free, 0, 1024 * GiB, "64M",
        "Free space kept on the store's disk: below it writes are refused\n"
        "UNAVAILABLE (HTTP 503) and health says NOT_SERVING, until space\n"
        "returns (checked at every group commit and health check). Keeps\n"
        "RocksDB from ever failing a log write for want of space, and\n"
        "leaves room to flush memtables. At least write_buffer is wise."),
    KEY("store", "store_salvage", CFG_BOOL, store_salvage, 0, 1, "false",
        "Open a store whose write-ahead log is damaged (unsd refuses to\n"
        "start on one, naming the file): first copy DATA/store to\n"
        "DATA/store.salvage-TIME, then recover every write before the\n"
        "damage and report what was dropped. For one start, then remove\n"
        "(docs/store.md). Also: unsd --salvage."),
    KEY("store", "reclaim_interval", CFG_DURATION_S, reclaim_interval_s, 1,
        DAY_S, "10s",
        "How often expired notifications are reclaimed from the store. They\n"
        "vanish from every read at once; their tombstone reaches the feed\n"
        "(and devices syncing it) at the next reclaim, or when they expire\n"
        "(reclaim_at_expiry)."),
    KEY("store", "reclaim_at_expiry", CFG_DURATION_MS, reclaim_at_expiry_ms, 0,
        60 * 1000, "100ms",
        "Also reclaim when a notification expires, at most this often, so\n"
        "that its tombstone reaches the feed, and long polls on it (unsctl\n"
        "fetch --follow, delta waits), when it expires. 0 = only every\n"
        "reclaim_interval."),

    /* ---- cluster (docs/cluster.md) ---- */
    KEY("cluster", "nats_url", CFG_URL, nats_url, 0, STRLEN, "",
        "Wake-ups across nodes: the NATS server(s) this node publishes its\n"
        "feed hints to and hears the other nodes' on, e.g.\n"
        "nats://10.0.0.5:4222 (several: comma-separated). \"\" = one node\n"
        "alone, no NATS. Needs store = postgres to mean anything."),
    KEY("cluster", "cluster_recheck", CFG_DURATION_MS, cluster_recheck_ms, 100,
        HOUR_S * 1000, "3s",
        "With nats_url set: every waiting long poll (and event stream)\n"
        "re-reads its feed this often, so a lost hint or a NATS outage\n"
        "delays a wake-up by at most this long, never loses it."),

    /* ---- tokens ---- */
    KEY("tokens", "jwt_key", CFG_PATH_LIST, jwt_key, 1, STRLEN, "",
        "A key that verifies JWTs: a PEM public key file (ES256, RS256),\n"
        "or \"hs256:FILE\" with the shared secret in FILE (development).\n"
        "One line per key; \"\" clears the list."),
    KEY("tokens", "jwt_audience", CFG_STRING, jwt_audience, 1, STRLEN, "uns",
        "Required \"aud\" claim of every token."),
    KEY("tokens", "jwt_issuer", CFG_STRING, jwt_issuer, 0, STRLEN, "",
        "Required \"iss\" claim of every token. \"\" = not checked."),
    KEY("tokens", "jwt_clock_skew", CFG_DURATION_S, jwt_clock_skew_s, 0, HOUR_S,
        "60s", "Leeway for \"exp\" and \"nbf\" against this server's clock."),
    KEY("tokens", "token_max_bytes", CFG_SIZE, token_max_bytes, KiB, 64 * KiB,
        "8K", "Largest bearer token accepted."),
    KEY("tokens", "token_cache", CFG_INT, token_cache, 0, 1 << 20, "4096",
        "Bearer tokens remembered after they verify, so repeat callers skip\n"
        "the signature check (~400 bytes each; exp and nbf are checked on\n"
        "every call; SIGHUP forgets them all). 0 = verify every call."),
    KEY("tokens", "token_signing_key", CFG_PATH, token_signing_key, 0, STRLEN,
        "",
        "Key the token endpoint (IssueToken, POST /oauth2/v2.0/token) signs\n"
        "app tokens with: a PEM private key file (EC P-256 = ES256, RSA =\n"
        "RS256) or \"hs256:FILE\". Its public half must be a jwt_key.\n"
        "\"\" = the development secret when no jwt_key is set, else no\n"
        "token endpoint."),
    KEY("tokens", "token_lifetime", CFG_DURATION_S, token_lifetime_s, MIN_S,
        DAY_S, "1h", "Lifetime (expires_in) of tokens the endpoint issues."),
    KEY("tokens", "token_fail_burst", CFG_INT, token_fail_burst, 0, 10000, "10",
        "Wrong secrets the token endpoint takes for one client id before it\n"
        "answers RESOURCE_EXHAUSTED (429) with Retry-After, without checking\n"
        "(each check is ~45 ms of PBKDF2). A flooded id stays open to\n"
        "addresses that have not failed against it, through a second\n"
        "bucket of the same size (docs/security.md). 0 = no limit."),
    KEY("tokens", "token_fail_per_minute", CFG_INT, token_fail_per_minute, 1,
        10000, "6", "Wrong secrets a minute refilled to token_fail_burst."),
    KEY("tokens", "token_source_fail_burst", CFG_INT, token_source_fail_burst,
        0, 10000, "10",
        "Wrong secrets the token endpoint takes from one source address,\n"
        "under any client ids, before it answers RESOURCE_EXHAUSTED (429)\n"
        "with Retry-After: the RPC peer (IPv6 by /64, local sockets by\n"
        "uid) at unsd, the HTTP peer at the gateway. 0 = no limit."),
    KEY("tokens", "token_source_fail_per_minute", CFG_INT,
        token_source_fail_per_minute, 1, 10000, "6",
        "Wrong secrets a minute refilled to token_source_fail_burst."),
    KEY("tokens", "token_checks", CFG_INT, token_checks, 0, 1024, "2",
        "Secret checks of the token endpoint running at once (at most one\n"
        "per client id), so a flood cannot take every core. 0 = no bound."),
    KEY("tokens", "token_check_wait", CFG_DURATION_MS, token_check_wait_ms, 0,
        60000, "2s",
        "How long a token request waits for a free check before it is\n"
        "answered RESOURCE_EXHAUSTED (429), retry after 1 s."),

    /* ---- delivery engine ---- */
    KEY("delivery", "delivery", CFG_BOOL, delivery, 0, 1, "true",
        "Send shoulder taps to subscribed endpoints. false = taps stay\n"
        "queued in the outbox (for maintenance)."),
    KEY("delivery", "delivery_max_inflight", CFG_INT, delivery_max_inflight, 1,
        1000000, "1024",
        "Taps claimed from the outbox and not yet settled, at most."),
    KEY("delivery", "delivery_host_connections", CFG_INT,
        delivery_host_connections, 1, 1024, "8",
        "Connections per provider host (HTTP/2 multiplexes taps over\n"
        "them where the provider speaks it)."),
    KEY("delivery", "delivery_workers", CFG_INT, delivery_workers, 1, 256, "4",
        "Threads writing outcomes to the store (they share group\n"
        "commits)."),
    KEY("delivery", "delivery_connect_timeout", CFG_DURATION_MS,
        delivery_connect_timeout_ms, 1, 10 * MIN_MS, "5s",
        "Connect timeout to a provider."),
    KEY("delivery", "delivery_timeout", CFG_DURATION_MS, delivery_timeout_ms, 1,
        10 * MIN_MS, "15s", "Whole-request timeout to a provider."),
    KEY("delivery", "delivery_backoff", CFG_DURATION_MS, delivery_backoff_ms, 1,
        DAY_MS, "1s",
        "First retry delay; doubles per failed attempt, with jitter\n"
        "(a random part of the delay's second half). Retry-After wins."),
    KEY("delivery", "delivery_backoff_max", CFG_DURATION_MS,
        delivery_backoff_max_ms, 1, DAY_MS, "1h",
        "Longest retry delay. At least delivery_backoff."),
    KEY("delivery", "delivery_max_attempts", CFG_INT, delivery_max_attempts, 1,
        1000000, "25",
        "Failed attempts after which a tap is dropped (the endpoint\n"
        "stays subscribed; the next feed change taps it again)."),
    KEY("delivery", "delivery_breaker_failures", CFG_INT,
        delivery_breaker_failures, 1, 1000000, "10",
        "Consecutive failures (no answer or 5xx) that open a provider\n"
        "host's circuit breaker."),
    KEY("delivery", "delivery_breaker_open", CFG_DURATION_MS,
        delivery_breaker_open_ms, 1, DAY_MS, "30s",
        "How long an open breaker holds taps back before one probe."),
    KEY("delivery", "delivery_lease", CFG_DURATION_MS, delivery_lease_ms, 1000,
        DAY_MS, "5m",
        "How long a claimed tap is the engine's before it may be\n"
        "claimed again (longer than delivery_timeout)."),
    KEY("delivery", "delivery_metrics_max_apps", CFG_INT,
        delivery_metrics_max_apps, 1, 10000, "100",
        "App hosts with their own series in uns_delivery_app_taps_total on\n"
        "/metrics (the first seen); later ones count under \"other\", so\n"
        "the family stays bounded."),
    KEY("delivery", "tap_stream_listen", CFG_URL, tap_stream_listen, 0, STRLEN,
        "",
        "NNG pub0 listen URL of the live tap stream (tcp://, ipc://):\n"
        "one message per feed change, host NUL user NUL cursor;\n"
        "subscribe to \"host\\0\". \"\" = no stream."),

    /* ---- limits (SPEC §3) ---- */
    KEY("limits", "max_body", CFG_SIZE, max_body, KiB, 64 * MiB, "64K",
        "Largest REST request body (413 above it)."),
    KEY("limits", "max_raw_content", CFG_SIZE, max_raw_content, 1, MiB, "4K",
        "Largest payload.rawContent."),
    KEY("limits", "max_title", CFG_SIZE, max_title, 1, 64 * KiB, "256",
        "Largest payload.visualContent.title."),
    KEY("limits", "max_body_text", CFG_SIZE, max_body_text, 1, MiB, "2K",
        "Largest payload.visualContent.body."),
    KEY("limits", "max_id", CFG_SIZE, max_id, 64, 4 * KiB, "256",
        "Largest id: user, app notification id, group name, host name,\n"
        "device id."),
    KEY("limits", "max_live_per_user", CFG_INT, max_live_per_user, 1, 10000000,
        "10000",
        "Live notifications per (user, app) at most; more is\n"
        "RESOURCE_EXHAUSTED."),
    KEY("limits", "max_subscriptions_per_user", CFG_INT,
        max_subscriptions_per_user, 1, 1000000, "100",
        "Live subscriptions (devices) per (user, app host) at most; a new\n"
        "one beyond is RESOURCE_EXHAUSTED (renewals are not counted). Each\n"
        "Post to the user is delivered to every one of them."),
    KEY("limits", "max_page_size", CFG_INT, max_page_size, 1, 1000, "100",
        "Largest History page ($top)."),
    KEY("limits", "default_expiry", CFG_DURATION_S, default_expiry_s, 1,
        365 * DAY_S, "7d", "Expiry of notifications that set none."),
    KEY("limits", "max_expiry", CFG_DURATION_S, max_expiry_s, 1, 365 * DAY_S,
        "30d",
        "Furthest expiry a notification may ask for; further is refused.\n"
        "At least default_expiry."),
    KEY("limits", "idempotency_window", CFG_DURATION_S, idempotency_window_s, 1,
        30 * DAY_S, "24h",
        "How long a Post's idempotency key (HTTP: Idempotency-Key) is\n"
        "remembered: the same key and request again within it answer the\n"
        "first answer and create nothing; another request with it is refused."),
    KEY("limits", "subscription_lifetime", CFG_DURATION_S,
        subscription_lifetime_s, MIN_S, 365 * DAY_S, "30d",
        "Lifetime of a subscription; subscribing again renews it."),

    /* ---- rate limits ---- */
    KEY("rate limits", "rate_limit_app", CFG_INT, rate_limit_app, 0, 1000000,
        "1000",
        "Requests per second per app token (token bucket refill), at the\n"
        "gateway and on the RPC port alike (each side keeps its own\n"
        "buckets). More answers 429 with Retry-After, RESOURCE_EXHAUSTED\n"
        "over RPC. 0 = no limit."),
    KEY("rate limits", "rate_limit_app_burst", CFG_INT, rate_limit_app_burst, 0,
        10000000, "2000",
        "Requests an app may make at once above its rate (bucket size).\n"
        "0 = the rate."),
    KEY("rate limits", "rate_limit_user", CFG_INT, rate_limit_user, 0, 1000000,
        "50",
        "Requests per second per user (token subject), gateway and RPC.\n"
        "0 = no limit."),
    KEY("rate limits", "rate_limit_user_burst", CFG_INT, rate_limit_user_burst,
        0, 10000000, "100",
        "Requests a user may make at once above the rate. 0 = the rate."),

    KEY("rate limits", "cluster_split_limits", CFG_BOOL, cluster_split_limits,
        0, 1, "true",
        "store = postgres with several nodes: each node enforces the per-user\n"
        "limits (rate_limit_user, max_calls_per_user, max_waits_per_user)\n"
        "divided by the live node count, so a user's total across the\n"
        "cluster stays near the limit. false = each node the whole limit.\n"
        "docs/cluster.md."),

    KEY("rate limits", "max_calls_per_user", CFG_INT, max_calls_per_user, 0,
        10000000, "64",
        "Calls in progress at once per user (long polls included); more\n"
        "answers RESOURCE_EXHAUSTED / 429 with Retry-After. 0 = no cap."),
    KEY("rate limits", "max_calls_per_app", CFG_INT, max_calls_per_app, 0,
        10000000, "120000",
        "Calls in progress at once per app (an app token's, or its users'\n"
        "by their host; their long polls count), so at least\n"
        "max_waits_per_app. 0 = no cap."),
    KEY("rate limits", "max_waits_per_user", CFG_INT, max_waits_per_user, 0,
        10000000, "32",
        "Long polls and event streams waiting at once per user. 0 = no\n"
        "cap. The gateway applies it also to the HTTP long polls parked\n"
        "on one feed, which share one wait here (docs/gateway.md)."),
    KEY("rate limits", "max_waits_per_app", CFG_INT, max_waits_per_app, 0,
        10000000, "100000",
        "Long polls and event streams waiting at once per app host. 0 = no\n"
        "cap."),

    /* ---- gateway ---- */
    KEY("gateway", "gateway_listen", CFG_URL, gateway_listen, 0, STRLEN,
        "https://127.0.0.1:8443",
        "REST gateway (Graph-compatible HTTP/JSON) listen URL:\n"
        "http://HOST:PORT, or https://HOST:PORT with gateway_cert and\n"
        "gateway_key. \"\" = no gateway. It calls this server over\n"
        "inproc://."),
    KEY("gateway", "gateway_cert", CFG_PATH, gateway_cert, 0, STRLEN, "",
        "Gateway certificate (PEM), for https://. \"\" = the RPC\n"
        "certificate (cert, or the development one for localhost)."),
    KEY("gateway", "gateway_key", CFG_PATH, gateway_key, 0, STRLEN, "",
        "Gateway private key (PEM), for https://. \"\" = in\n"
        "gateway_cert."),
    KEY("gateway", "gateway_max_connections", CFG_INT, gateway_max_connections,
        1, 10000000, "100000",
        "Gateway connections at once (held to the open files limit less a\n"
        "reserve); beyond them a new client waits in the kernel's backlog\n"
        "until a connection closes."),
    KEY("gateway", "gateway_threads", CFG_INT, gateway_threads, 0, 1024, "0",
        "Gateway event-loop threads (MHD's polling thread pool; a\n"
        "waiting request holds none). 0 = the number of CPUs."),
    KEY("gateway", "gateway_max_header", CFG_SIZE, gateway_max_header, 4 * KiB,
        MiB, "32K",
        "Largest request line plus headers; longer is answered 431 with the\n"
        "error envelope. libmicrohttpd's memory per connection is twice\n"
        "this plus gateway_max_uri; a request over that gets its bare 431."),
    KEY("gateway", "gateway_max_uri", CFG_SIZE, gateway_max_uri, KiB, MiB, "8K",
        "Longest request target (path and query); longer is answered 414\n"
        "with the error envelope."),
    KEY("gateway", "gateway_idle_timeout", CFG_DURATION_MS,
        gateway_idle_timeout_ms, 1000, DAY_S * 1000, "60s",
        "Close a gateway connection with no traffic for this long."),
    KEY("gateway", "gateway_header_timeout", CFG_DURATION_MS,
        gateway_header_timeout_ms, 100, HOUR_S * 1000, "5s",
        "A request's headers must be complete this long after the\n"
        "connection opened or the previous answer left (slowloris), TLS\n"
        "handshake included; also the longest a kept-alive connection\n"
        "waits idle. Parked long polls and event streams have no such\n"
        "limit."),
    KEY("gateway", "gateway_body_timeout", CFG_DURATION_MS,
        gateway_body_timeout_ms, 100, HOUR_S * 1000, "30s",
        "A request's body must be complete this long after its headers."),
    KEY("gateway", "gateway_stream_heartbeat", CFG_DURATION_MS,
        gateway_stream_heartbeat_ms, 100, MIN_MS, "15s",
        "Event streams (GET delta with Accept: text/event-stream): a\n"
        "comment line is sent after this long without a change, so\n"
        "proxies keep the stream open and a dead client is noticed."),
    KEY("gateway", "gateway_rpc_timeout", CFG_DURATION_MS,
        gateway_rpc_timeout_ms, 100, HOUR_S * 1000, "10s",
        "Deadline of each RPC the gateway makes (a long poll adds its\n"
        "wait)."),
    KEY("gateway", "gateway_public_url", CFG_URL, gateway_public_url, 0, STRLEN,
        "",
        "The gateway's URL as clients reach it (https://uns.example.com,\n"
        "no path): the base of Location, @odata.nextLink, deltaLink and\n"
        "@odata.context. The Host header is never reflected. \"\" = the\n"
        "scheme and port of gateway_listen with its host's name (an\n"
        "address is looked up: 127.0.0.1 is localhost)."),
    KEY("gateway", "gateway_drain_limit", CFG_SIZE, gateway_drain_limit, KiB,
        64 * MiB, "1M",
        "A body announced over max_body but at most this long is read\n"
        "and dropped before the 413, so a client that sends without\n"
        "Expect: 100-continue reads its answer; a longer one is answered\n"
        "at once and the connection closed."),
    KEY("gateway", "gateway_cors_origins", CFG_STRING, gateway_cors_origins, 0,
        STRLEN, "",
        "Web origins (scheme://host[:port], spaces or commas between)\n"
        "whose pages may call the gateway (CORS); \"*\" = any. Tokens\n"
        "travel in Authorization only, never cookies. \"\" = none."),
    KEY("gateway", "gateway_web_root", CFG_PATH, gateway_web_root, 0, STRLEN,
        "",
        "Folder served at /web/ (text files, one level): the reference\n"
        "inbox is client/web. \"\" = nothing served there."),

    /* ---- fixtures ---- */
    KEY("fixtures", "record_dir", CFG_PATH, record_dir, 0, STRLEN, "",
        "Record every RPC exchange served into a fixture file in this\n"
        "directory (unsd-<time>-<pid>.fixture; unsctl replay reads it).\n"
        "Bearer tokens are written as placeholders. \"\" = not recording."),
    KEY("fixtures", "test_clock", CFG_BOOL, test_clock, 0, 1, "false",
        "Tests only: the service clock stands at 2023-11-14T22:13:20Z and\n"
        "moves only when a request carries metadata uns-test-clock\n"
        "(\"+MS\" advances, \"MS\" sets Unix milliseconds). Tokens keep\n"
        "real time."),
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* Pairs of duration keys where the first may not exceed the second. */
static const struct cfg_order {
	const char *lesser, *greater;
} orders[] = {
    {"default_expiry", "max_expiry"},
    {"delivery_backoff", "delivery_backoff_max"},
};
#define N_ORDERS (sizeof(orders) / sizeof(orders[0]))

typedef enum cfg_rc {
	CFG_OK,
	CFG_BAD,  /* not of the kind, or out of range */
	CFG_FULL, /* a repeatable key has UNS_CONFIG_LIST_MAX values */
} cfg_rc;

/* A number suffix and what it multiplies by. */
typedef struct cfg_unit {
	const char *name;
	uint64_t mult;
} cfg_unit;

static const cfg_unit size_units[] = {
    {"b", 1},     {"k", KiB}, {"kib", KiB}, {"m", MiB},
    {"mib", MiB}, {"g", GiB}, {"gib", GiB},
};
#define N_SIZE_UNITS (sizeof(size_units) / sizeof(size_units[0]))

/* Longest first: formatting picks the first that divides exactly. */
static const cfg_unit duration_units[] = {
    {"d", 86400000000ULL}, {"h", 3600000000ULL}, {"m", 60000000ULL},
    {"s", 1000000ULL},     {"ms", 1000ULL},      {"us", 1ULL},
};
#define N_DURATION_UNITS (sizeof(duration_units) / sizeof(duration_units[0]))

/* Durations: what one unit of the field is, by kind. */
static const struct {
	cfg_kind kind;
	uint64_t us;
	const char *name;
} duration_kinds[] = {
    {CFG_DURATION_US, 1, "microseconds"},
    {CFG_DURATION_MS, 1000, "milliseconds"},
    {CFG_DURATION_S, 1000000, "seconds"},
};
#define N_DURATION_KINDS (sizeof(duration_kinds) / sizeof(duration_kinds[0]))

static const struct {
	const char *word;
	int value;
} bool_words[] = {
    {"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0},
    {"on", 1},   {"off", 0},   {"1", 1},   {"0", 0},
};
#define N_BOOL_WORDS (sizeof(bool_words) / sizeof(bool_words[0]))

/* ==== small helpers ======================================================
 */

static int
lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

static int
same_word(const char *a, const char *b) /* ASCII, case-insensitive */
{
	while (*a != '\0' &&
	       lower((unsigned char)*a) == lower((unsigned char)*b)) {
		a++;
		b++;
	}
	return *a == '\0' && *b == '\0';
}

static int
is_space(int ch)
{
	return ch == ' ' || ch == '\t';
}

static int
is_control(unsigned char ch)
{
	return (ch < 0x20 && ch != '\t') || ch == 0x7f;
}

/* Where k's values are: 0 for config.c's keys, else the offset of its
 * section's values in c. A key of no table of c never gets here. */
static size_t
base_of(const uns_config *c, const cfg_key *k)
{
	uintptr_t at = (uintptr_t)k;

	for (int i = 0; i < c->n_sections; i++) {
		const uns_config_section *s = c->sections[i];
		if (at >= (uintptr_t)s->keys &&
		    at < (uintptr_t)(s->keys + s->n_keys)) {
			return offsetof(uns_config, ext) + c->section_at[i];
		}
	}
	return 0;
}

static void *
field_of(uns_config *c, const cfg_key *k)
{
	return (char *)c + base_of(c, k) + k->offset;
}

static const void *
cfield_of(const uns_config *c, const cfg_key *k)
{
	return (const char *)c + base_of(c, k) + k->offset;
}

/* The i-th key of c: config.c's, then each section's; NULL past the end. */
static const cfg_key *
key_at(const uns_config *c, size_t i)
{
	if (i < N_KEYS) {
		return &keys[i];
	}
	i -= N_KEYS;
	for (int j = 0; j < c->n_sections; j++) {
		if (i < c->sections[j]->n_keys) {
			return &c->sections[j]->keys[i];
		}
		i -= c->sections[j]->n_keys;
	}
	return NULL;
}

static const cfg_key *
find_key(const uns_config *c, const char *name, size_t len)
{
	const cfg_key *k;

	for (size_t i = 0; (k = key_at(c, i)) != NULL; i++) {
		if (strlen(k->name) == len && memcmp(k->name, name, len) == 0) {
			return k;
		}
	}
	return NULL;
}

/* Decimal digits at *p, at least one, no overflow; advances *p. */
static int
parse_digits(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9') {
		return -1;
	}
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10) {
			return -1;
		}
		v = v * 10 + d;
	}
	*out = v;
	*p = s;
	return 0;
}

/*
 * A number with an optional suffix from units (case-insensitive, spaces
 * allowed before it); a bare number is multiplied by bare.
 */
static int
parse_scaled(const char *s, const cfg_unit *units, size_t n_units,
             uint64_t bare, uint64_t *out)
{
	uint64_t v, mult = bare;

	if (parse_digits(&s, &v) != 0) {
		return -1;
	}
	while (is_space(*s)) {
		s++;
	}
	if (*s != '\0') {
		size_t i = 0;
		while (i < n_units && !same_word(units[i].name, s)) {
			i++;
		}
		if (i == n_units) {
			return -1;
		}
		mult = units[i].mult;
	}
	if (v != 0 && mult > UINT64_MAX / v) {
		return -1;
	}
	*out = v * mult;
	return 0;
}

/* ==== kinds of value =====================================================
 * parse writes the field only on CFG_OK; format writes what parse reads
 * back to the same value; expect says what parse takes ("an integer from
 * 1 to 65536"), for error messages and the example file.
 */

typedef struct cfg_type {
	cfg_rc (*parse)(const cfg_key *k, const char *v, void *field);
	void (*format)(const cfg_key *k, const void *field, char *out,
	               size_t cap);
	void (*expect)(const cfg_key *k, char *out, size_t cap);
} cfg_type;

/* ---- strings, paths, URLs ---- */

static cfg_rc
store_string(const cfg_key *k, const char *v, char *field)
{
	size_t len = strlen(v);

	if ((int64_t)len < k->min || (int64_t)len > k->max) {
		return CFG_BAD;
	}
	memset(field, 0, UNS_CONFIG_STR_MAX);
	memcpy(field, v, len);
	return CFG_OK;
}

static cfg_rc
parse_string(const cfg_key *k, const char *v, void *field)
{
	return store_string(k, v, field);
}

/* scheme://address, scheme as in RFC 3986; or "" where allowed. */
static int
is_url(const char *v)
{
	const char *s = v;

	if (*s == '\0') {
		return 1;
	}
	if (lower((unsigned char)*s) < 'a' || lower((unsigned char)*s) > 'z') {
		return 0;
	}
	while (*s != '\0' && strchr("abcdefghijklmnopqrstuvwxyz0123456789+.-",
	                            lower((unsigned char)*s)) != NULL) {
		s++;
	}
	return strncmp(s, "://", 3) == 0 && s[3] != '\0';
}

static cfg_rc
parse_url(const cfg_key *k, const char *v, void *field)
{
	return is_url(v) ? store_string(k, v, field) : CFG_BAD;
}

/* "" clears the list; anything else is one more value. */
static cfg_rc
parse_list(const cfg_key *k, const char *v, void *field)
{
	uns_config_list *l = field;

	if (*v == '\0') {
		memset(l, 0, sizeof(*l));
		return CFG_OK;
	}
	if (l->n == UNS_CONFIG_LIST_MAX) {
		return CFG_FULL;
	}
	if (store_string(k, v, l->v[l->n]) != CFG_OK) {
		return CFG_BAD;
	}
	l->n++;
	return CFG_OK;
}

/* Bare if it reads back as itself, else in quotes with \" and \\. */
static void
format_string(const cfg_key *k, const void *field, char *out, size_t cap)
{
	const char *s = field;
	size_t o = 0;
	int bare = *s != '\0' && strpbrk(s, " \t#\"\\") == NULL;

	if (!bare) {
		out[o++] = '"';
	}
	for (; *s != '\0' && o + 4 < cap; s++) {
		if (!bare && (*s == '"' || *s == '\\')) {
			out[o++] = '\\';
		}
		out[o++] = *s;
	}
	if (!bare) {
		out[o++] = '"';
	}
	out[o] = '\0';
}

static void
expect_string(const cfg_key *k, char *out, size_t cap)
{
	snprintf(out, cap, "a %sstring of at most %" PRId64 " bytes",
	         k->min > 0 ? "non-empty " : "", k->max);
}

static void
expect_path(const cfg_key *k, char *out, size_t cap)
{
	snprintf(out, cap, "a %spath of at most %" PRId64 " bytes",
	         k->min > 0 ? "non-empty " : "", k->max);
}

static void
expect_url(const cfg_key *k, char *out, size_t cap)
{
	snprintf(out, cap,
	         "a URL (scheme://address) of at most %" PRId64 " bytes%s",
	         k->max, k->min > 0 ? "" : ", or \"\"");
}

static void
expect_list(const cfg_key *k, char *out, size_t cap)
{
	snprintf(out, cap,
	         "a path of at most %" PRId64 " bytes; repeatable (up to %d)",
	         k->max, UNS_CONFIG_LIST_MAX);
}

/* ---- bool ---- */

static cfg_rc
parse_bool(const cfg_key *k, const char *v, void *field)
{
	for (size_t i = 0; i < N_BOOL_WORDS; i++) {
		if (same_word(bool_words[i].word, v)) {
			*(int *)field = bool_words[i].value;
			return CFG_OK;
		}
	}
	return CFG_BAD;
}

static void
format_bool(const cfg_key *k, const void *field, char *out, size_t cap)
{
	snprintf(out, cap, "%s", *(const int *)field ? "true" : "false");
}

static void
expect_bool(const cfg_key *k, char *out, size_t cap)
{
	snprintf(out, cap, "true or false (or yes/no, on/off, 1/0)");
}

/* ---- int ---- */

static cfg_rc
parse_int(const cfg_key *k, const char *v, void *field)
{
	int neg = *v == '-';
	const char *s = v + neg;
	uint64_t u;

	if (parse_digits(&s, &u) != 0 || *s != '\0' ||
	    u > (uint64_t)INT64_MAX) {
		return CFG_BAD;
	}
	int64_t n = neg ? -(int64_t)u : (int64_t)u;
	if (n < k->min || n > k->max) {
		return CFG_BAD;
	}
	*(int *)field = (int)n;
	return CFG_OK;
}

static void
format_int(const cfg_key *k, const void *field, char *out, size_t cap)
{
	snprintf(out, cap, "%d", *(const int *)field);
}

static void
expect_int(const cfg_key *k, char *out, size_t cap)
{
	snprintf(out, cap, "an integer from %" PRId64 " to %" PRId64, k->min,
	         k->max);
}

/* ---- size ---- */

static cfg_rc
parse_size(const cfg_key *k, const char *v, void *field)
{
	uint64_t n;

	if (parse_scaled(v, size_units, N_SIZE_UNITS, 1, &n) != 0 ||
	    n < (uint64_t)k->min || n > (uint64_t)k->max) {
		return CFG_BAD;
	}
	*(uint64_t *)field = n;
	return CFG_OK;
}

/* The largest of G, M, K that divides n exactly; bytes otherwise. */
static void
size_text(uint64_t n, char *out, size_t cap)
{
	static const cfg_unit by[] = {{"G", GiB}, {"M", MiB}, {"K", KiB}};

	for (size_t i = 0; i < 3; i++) {
		if (n != 0 && n % by[i].mult == 0) {
			snprintf(out, cap, "%" PRIu64 "%s", n / by[i].mult,
			         by[i].name);
			return;
		}
	}
	snprintf(out, cap, "%" PRIu64, n);
}

static void
format_size(const cfg_key *k, const void *field, char *out, size_t cap)
{
	size_text(*(const uint64_t *)field, out, cap);
}

static void
expect_size(const cfg_key *k, char *out, size_t cap)
{
	char lo[32], hi[32];

	size_text((uint64_t)k->min, lo, sizeof(lo));
	size_text((uint64_t)k->max, hi, sizeof(hi));
	snprintf(out, cap, "a size from %s to %s", lo, hi);
}

/* ---- durations, stored as int64 in the kind's unit ---- */

static size_t
duration_kind(const cfg_key *k)
{
	size_t i = 0;

	while (i + 1 < N_DURATION_KINDS && duration_kinds[i].kind != k->kind) {
		i++;
	}
	return i;
}

static cfg_rc
parse_duration(const cfg_key *k, const char *v, void *field)
{
	uint64_t unit = duration_kinds[duration_kind(k)].us, us;

	if (parse_scaled(v, duration_units, N_DURATION_UNITS, unit, &us) != 0 ||
	    us % unit != 0 || us / unit < (uint64_t)k->min ||
	    us / unit > (uint64_t)k->max) {
		return CFG_BAD;
	}
	*(int64_t *)field = (int64_t)(us / unit);
	return CFG_OK;
}

/* The longest unit that divides the duration exactly; "0" for zero. */
static void
duration_text(uint64_t us, char *out, size_t cap)
{
	for (size_t i = 0; i < N_DURATION_UNITS && us != 0; i++) {
		if (us % duration_units[i].mult == 0) {
			snprintf(out, cap, "%" PRIu64 "%s",
			         us / duration_units[i].mult,
			         duration_units[i].name);
			return;
		}
	}
	snprintf(out, cap, "0");
}

static void
format_duration(const cfg_key *k, const void *field, char *out, size_t cap)
{
	uint64_t n = (uint64_t)(*(const int64_t *)field);

	duration_text(n * duration_kinds[duration_kind(k)].us, out, cap);
}

static void
expect_duration(const cfg_key *k, char *out, size_t cap)
{
	uint64_t unit = duration_kinds[duration_kind(k)].us;
	char lo[32], hi[32];

	duration_text((uint64_t)k->min * unit, lo, sizeof(lo));
	duration_text((uint64_t)k->max * unit, hi, sizeof(hi));
	snprintf(out, cap, "a duration from %s to %s (bare number: %s)", lo, hi,
	         duration_kinds[duration_kind(k)].name);
}

/* A list has no one value to format: write_key writes each of them. */
static const cfg_type types[] = {
    [CFG_STRING] = {parse_string, format_string, expect_string},
    [CFG_PATH] = {parse_string, format_string, expect_path},
    [CFG_URL] = {parse_url, format_string, expect_url},
    [CFG_BOOL] = {parse_bool, format_bool, expect_bool},
    [CFG_INT] = {parse_int, format_int, expect_int},
    [CFG_SIZE] = {parse_size, format_size, expect_size},
    [CFG_DURATION_US] = {parse_duration, format_duration, expect_duration},
    [CFG_DURATION_MS] = {parse_duration, format_duration, expect_duration},
    [CFG_DURATION_S] = {parse_duration, format_duration, expect_duration},
    [CFG_PATH_LIST] = {parse_list, NULL, expect_list},
};

/* ==== applying values ====================================================
 */

/* Where a message goes: "line N: " first when N > 0. */
typedef struct cfg_ctx {
	uns_config *c;
	int line;
	char msg[MSGMAX];
} cfg_ctx;

static uns_err fail(cfg_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static uns_err
fail(cfg_ctx *x, const char *fmt, ...)
{
	int n = 0;
	va_list ap;

	if (x->line > 0) {
		n = snprintf(x->msg, sizeof(x->msg), "line %d: ", x->line);
	}
	va_start(ap, fmt);
	vsnprintf(x->msg + n, sizeof(x->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return UNS_EINVAL;
}

/* Copies the message out and makes it the thread's last message. */
static uns_err
finish(uns_err rv, const char *msg, char *why, size_t whylen)
{
	if (rv == UNS_OK) {
		return rv;
	}
	if (why != NULL && whylen > 0) {
		snprintf(why, whylen, "%s", msg);
	}
	return uns_fail(rv, "%s", msg);
}

static uns_err
apply(cfg_ctx *x, const cfg_key *k, const char *v)
{
	char want[256];
	size_t len = strlen(v);

	switch (types[k->kind].parse(k, v, field_of(x->c, k))) {
	case CFG_OK:
		return UNS_OK;
	case CFG_FULL:
		return fail(x, "%s: more than %d values", k->name,
		            UNS_CONFIG_LIST_MAX);
	case CFG_BAD:
		break;
	}
	types[k->kind].expect(k, want, sizeof(want));
	return fail(x, "%s: expected %s, got \"%.*s%s\"", k->name, want, SHOWN,
	            v, len > SHOWN ? "..." : "");
}

/* Levenshtein distance, ASCII case-insensitive; a and b at most 64. Only
 * distances under limit matter: limit comes back as soon as the distance
 * cannot be less (the lengths differ by limit or more, or every cell of a
 * row has reached it), so that a long unknown name costs a length test
 * against most keys rather than a full table against each; it was most of
 * the time the config fuzz target spent. */
static size_t
distance(const char *a, size_t na, const char *b, size_t nb, size_t limit)
{
	size_t row[65], i, j;

	if ((na > nb ? na - nb : nb - na) >= limit) {
		return limit;
	}
	for (j = 0; j <= nb; j++) {
		row[j] = j;
	}
	for (i = 1; i <= na; i++) {
		size_t diag = row[0];
		size_t least = row[0] = i;
		for (j = 1; j <= nb; j++) {
			size_t up = row[j];
			size_t sub = diag + (lower((unsigned char)a[i - 1]) !=
			                     lower((unsigned char)b[j - 1]));
			size_t best =
			    up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
			row[j] = sub < best ? sub : best;
			least = row[j] < least ? row[j] : least;
			diag = up;
		}
		if (least >= limit) {
			return limit;
		}
	}
	return row[nb];
}

/* The key closest to name, if close enough to be a typo; else NULL. */
static const char *
suggest(const uns_config *c, const char *name, size_t len)
{
	size_t best = len >= 6 ? 3 : 2;
	const char *found = NULL;
	const cfg_key *k;

	for (size_t i = 0; len <= 64 && (k = key_at(c, i)) != NULL; i++) {
		size_t d = distance(name, len, k->name, strlen(k->name), best);
		if (d < best) {
			best = d;
			found = k->name;
		}
	}
	return found;
}

static uns_err
unknown_key(cfg_ctx *x, const char *name, size_t len)
{
	const char *near = suggest(x->c, name, len);
	int shown = len > SHOWN ? SHOWN : (int)len;

	if (near == NULL) {
		return fail(x, "unknown key \"%.*s\"", shown, name);
	}
	return fail(x, "unknown key \"%.*s\" (did you mean \"%s\"?)", shown,
	            name, near);
}

static uns_err
check_bytes(cfg_ctx *x, const char *what, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\0') {
			return fail(x, "%sNUL byte", what);
		}
		if (is_control((unsigned char)s[i])) {
			return fail(x, "%scontrol character 0x%02x", what,
			            (unsigned char)s[i]);
		}
	}
	return UNS_OK;
}

/* ==== lines ==============================================================
 */

static size_t
skip_space(const char *p, size_t i, size_t n)
{
	while (i < n && is_space(p[i])) {
		i++;
	}
	return i;
}

/* "value" with \" and \\, then nothing but a comment; into out. */
static uns_err
read_quoted(cfg_ctx *x, const cfg_key *k, const char *p, size_t n, char *out)
{
	size_t i = 1, o = 0;

	while (i < n && p[i] != '"') {
		if (p[i] == '\\') {
			if (i + 1 == n ||
			    (p[i + 1] != '"' && p[i + 1] != '\\')) {
				return fail(
				    x,
				    "%s: in quotes, \\ must be followed "
				    "by \" or \\",
				    k->name);
			}
			i++;
		}
		out[o++] = p[i++];
	}
	if (i == n) {
		return fail(x, "%s: missing closing quote", k->name);
	}
	i = skip_space(p, i + 1, n);
	if (i < n && p[i] != '#') {
		return fail(x, "%s: unexpected text after the closing quote",
		            k->name);
	}
	out[o] = '\0';
	return UNS_OK;
}

/* Up to a "#" at the start or after whitespace, trailing spaces cut. */
static void
read_bare(const char *p, size_t n, char *out)
{
	size_t end = 0;

	while (end < n &&
	       !(p[end] == '#' && (end == 0 || is_space(p[end - 1])))) {
		end++;
	}
	while (end > 0 && is_space(p[end - 1])) {
		end--;
	}
	memcpy(out, p, end);
	out[end] = '\0';
}

/* One line, its end (\n or \r\n) already cut. */
static uns_err
parse_line(cfg_ctx *x, const char *p, size_t n)
{
	char value[UNS_CONFIG_LINE_MAX + 1];
	const cfg_key *k;
	size_t i, key;
	uns_err rv;

	if (n > UNS_CONFIG_LINE_MAX) {
		return fail(x, "longer than %d bytes", UNS_CONFIG_LINE_MAX);
	}
	if ((rv = check_bytes(x, "", p, n)) != UNS_OK) {
		return rv;
	}
	i = skip_space(p, 0, n);
	if (i == n || p[i] == '#') {
		return UNS_OK;
	}
	key = i;
	while (i < n && !is_space(p[i]) && p[i] != '=') {
		i++;
	}
	if (i == key) {
		return fail(x, "expected \"key = value\"");
	}
	if ((k = find_key(x->c, p + key, i - key)) == NULL) {
		return x->c->skip_unknown_keys
		           ? UNS_OK
		           : unknown_key(x, p + key, i - key);
	}
	i = skip_space(p, i, n);
	if (i == n || p[i] != '=') {
		return fail(x, "%s: expected \"=\" after the key", k->name);
	}
	i = skip_space(p, i + 1, n);
	if (i < n && p[i] == '"') {
		rv = read_quoted(x, k, p + i, n - i, value);
	} else {
		read_bare(p + i, n - i, value);
	}
	return rv == UNS_OK ? apply(x, k, value) : rv;
}

/* ==== the API ============================================================
 */

/* Each key's default into its field at base (test_config checks that
 * every default parses, so this cannot fail). */
static void
set_defaults(const cfg_key *k, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		(void)types[k[i].kind].parse(&k[i], k[i].def,
		                             (char *)base + k[i].offset);
	}
}

void
uns_config_defaults(uns_config *c)
{
	memset(c, 0, sizeof(*c));
	set_defaults(keys, N_KEYS, c);
}

static int
section_index(const uns_config *c, const uns_config_section *s)
{
	for (int i = 0; i < c->n_sections; i++) {
		if (c->sections[i] == s) {
			return i;
		}
	}
	return -1;
}

uns_err
uns_config_add(uns_config *c, const uns_config_section *s)
{
	size_t align = sizeof(c->ext.align);
	size_t at = (c->ext_used + align - 1) / align * align;

	if (section_index(c, s) >= 0) {
		return UNS_OK;
	}
	if (c->n_sections == UNS_CONFIG_SECTIONS_MAX ||
	    s->size > sizeof(c->ext.bytes) - at) {
		return uns_fail(UNS_EINVAL,
		                "configuration: no room for %zu "
		                "more keys",
		                s->n_keys);
	}
	for (size_t i = 0; i < s->n_keys; i++) {
		const char *name = s->keys[i].name;
		if (find_key(c, name, strlen(name)) != NULL) {
			return uns_fail(UNS_EINVAL,
			                "configuration: key %s is taken", name);
		}
	}
	c->sections[c->n_sections] = s;
	c->section_at[c->n_sections++] = at;
	c->ext_used = at + s->size;
	set_defaults(s->keys, s->n_keys, c->ext.bytes + at);
	return UNS_OK;
}

void
uns_config_values(const uns_config *c, const uns_config_section *s, void *out)
{
	int i = section_index(c, s);

	if (i < 0) {
		memset(out, 0, s->size);
		set_defaults(s->keys, s->n_keys, out);
		return;
	}
	memcpy(out, c->ext.bytes + c->section_at[i], s->size);
}

static uns_err
check_orders(cfg_ctx *x, const uns_config *c)
{
	for (size_t i = 0; i < N_ORDERS; i++) {
		const cfg_key *a =
		    find_key(c, orders[i].lesser, strlen(orders[i].lesser));
		const cfg_key *b =
		    find_key(c, orders[i].greater, strlen(orders[i].greater));
		char ta[64], tb[64];

		if (*(const int64_t *)cfield_of(c, a) <=
		    *(const int64_t *)cfield_of(c, b)) {
			continue;
		}
		types[a->kind].format(a, cfield_of(c, a), ta, sizeof(ta));
		types[b->kind].format(b, cfield_of(c, b), tb, sizeof(tb));
		return fail(x, "%s (%s) must not exceed %s (%s)", a->name, ta,
		            b->name, tb);
	}
	return UNS_OK;
}

uns_err
uns_config_check(const uns_config *c, char *why, size_t whylen)
{
	cfg_ctx x = {NULL, 0, ""};

	return finish(check_orders(&x, c), x.msg, why, whylen);
}

uns_err
uns_config_parse(uns_config *c, const char *text, size_t len, char *why,
                 size_t whylen)
{
	static const cfg_ctx zero;
	uns_config tmp; /* about 70 KiB */
	cfg_ctx x = zero;
	uns_err rv = UNS_OK;
	size_t pos = 0;

	memcpy(&tmp, c, sizeof(tmp));
	x.c = &tmp;
	while (rv == UNS_OK && pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		size_t n = end - pos;

		x.line++;
		if (n > 0 && text[pos + n - 1] == '\r') {
			n--;
		}
		rv = parse_line(&x, text + pos, n);
		pos = end + 1;
	}
	x.line = 0;
	if (rv == UNS_OK && (rv = check_orders(&x, &tmp)) == UNS_OK) {
		memcpy(c, &tmp, sizeof(*c));
	}
	return finish(rv, x.msg, why, whylen);
}

uns_err
uns_config_set(uns_config *c, const char *key, const char *value, char *why,
               size_t whylen)
{
	static const cfg_ctx zero;
	cfg_ctx x = zero;
	const cfg_key *k;
	uns_err rv;

	x.c = c;
	if ((k = find_key(c, key, strlen(key))) == NULL) {
		rv = unknown_key(&x, key, strlen(key));
	} else if (value == NULL) {
		rv = fail(&x, "%s: no value", k->name);
	} else {
		char what[80];
		snprintf(what, sizeof(what), "%s: ", k->name);
		rv = check_bytes(&x, what, value, strlen(value));
		if (rv == UNS_OK) {
			rv = apply(&x, k, value);
		}
	}
	return finish(rv, x.msg, why, whylen);
}

/* Reads all of f, at most max bytes; -1 with errno, or -2 if larger. */
static long
read_all(FILE *f, char *buf, size_t max)
{
	size_t n = fread(buf, 1, max + 1, f);

	if (ferror(f)) {
		return -1;
	}
	return n > max ? -2 : (long)n;
}

uns_err
uns_config_load(uns_config *c, const char *path, char *why, size_t whylen)
{
	char msg[2 * MSGMAX], reason[MSGMAX];
	char *buf = NULL;
	FILE *f = NULL;
	uns_err rv = UNS_EIO;
	long n;

	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(msg, sizeof(msg), "cannot open %s: %s", path,
		         strerror(errno));
		goto out;
	}
	if ((buf = malloc(UNS_CONFIG_FILE_MAX + 1)) == NULL) {
		rv = UNS_ENOMEM;
		snprintf(msg, sizeof(msg), "out of memory");
		goto out;
	}
	if ((n = read_all(f, buf, UNS_CONFIG_FILE_MAX)) == -1) {
		snprintf(msg, sizeof(msg), "cannot read %s: %s", path,
		         strerror(errno));
		goto out;
	}
	if (n == -2) {
		rv = UNS_EINVAL;
		snprintf(msg, sizeof(msg), "%s: larger than %d bytes", path,
		         UNS_CONFIG_FILE_MAX);
		goto out;
	}
	rv = uns_config_parse(c, buf, (size_t)n, reason, sizeof(reason));
	if (rv != UNS_OK) {
		snprintf(msg, sizeof(msg), "%s: %s", path, reason);
	}
out:
	free(buf);
	if (f != NULL) {
		fclose(f);
	}
	return finish(rv, msg, why, whylen);
}

/* ==== writing ============================================================
 */

/* One line per value; an empty list as "" so that it clears. */
static void
write_list(FILE *f, const cfg_key *k, const uns_config_list *l)
{
	char v[FMTMAX];

	for (int i = 0; i < l->n; i++) {
		format_string(k, l->v[i], v, sizeof(v));
		fprintf(f, "%s = %s\n", k->name, v);
	}
	if (l->n == 0) {
		fprintf(f, "%s = \"\"\n", k->name);
	}
}

static void
write_key(FILE *f, const cfg_key *k, const uns_config *c)
{
	char v[FMTMAX];

	if (k->kind == CFG_PATH_LIST) {
		write_list(f, k, cfield_of(c, k));
		return;
	}
	types[k->kind].format(k, cfield_of(c, k), v, sizeof(v));
	fprintf(f, "%s = %s\n", k->name, v);
}

void
uns_config_write(FILE *f, const uns_config *c)
{
	const cfg_key *k;

	for (size_t i = 0; (k = key_at(c, i)) != NULL; i++) {
		write_key(f, k, c);
	}
}

static const char example_head[] =
    "# unsd.conf — configuration of unsd, the UNS server.\n"
    "#\n"
    "# One \"key = value\" per line. \"#\" begins a comment at the start of "
    "a line,\n"
    "# at the start of a value, or after whitespace. A value may be "
    "double-quoted\n"
    "# to keep spaces or \"#\"; inside the quotes, \\\" is a quote and \\\\ "
    "a backslash.\n"
    "# A key given twice keeps the last value, except repeatable keys, which "
    "keep\n"
    "# every value (an empty value clears them).\n"
    "#\n"
    "# Kinds of value:\n"
    "#   bool      true/false, yes/no, on/off, 1/0\n"
    "#   size      bytes, with an optional suffix, any case: B, K or KiB "
    "(1024),\n"
    "#             M or MiB, G or GiB; 64K = 65536\n"
    "#   duration  a number with an optional suffix: us, ms, s, m, h, d; a "
    "bare\n"
    "#             number counts the key's unit, given with the key\n"
    "#\n"
    "# unsd's flags apply on top of this file; each names its key in\n"
    "# \"unsd --help\" (--listen, --data, --cert, --ca, --contexts, ...),\n"
    "# and \"unsd --set key=value\" sets any key, after both.\n"
    "# Written by uns_config_write_example(): each line below sets a key to "
    "its\n"
    "# default, so deleting one changes nothing.\n";

static void
write_help(FILE *f, const cfg_key *k)
{
	const char *s = k->help;
	char want[256];

	while (*s != '\0') {
		size_t n = strcspn(s, "\n");
		fprintf(f, "# %.*s\n", (int)n, s);
		s += n + (s[n] == '\n');
	}
	types[k->kind].expect(k, want, sizeof(want));
	fprintf(f, "# Value: %s.\n", want);
}

void
uns_config_write_example(FILE *f, const uns_config *c)
{
	const char *section = "";
	uns_config *d = malloc(sizeof(*d)); /* about 70 KiB */
	const cfg_key *k;

	if (d == NULL) {
		return;
	}
	uns_config_defaults(d);
	for (int i = 0; i < c->n_sections; i++) {
		(void)uns_config_add(d, c->sections[i]); /* fitted in c */
	}
	fputs(example_head, f);
	for (size_t i = 0; (k = key_at(d, i)) != NULL; i++) {
		if (strcmp(section, k->section) != 0) {
			section = k->section;
			fprintf(f, "\n# ==== %s %.*s\n", section,
			        (int)(70 - strlen(section)),
			        "========================================"
			        "========================================");
		}
		fputc('\n', f);
		write_help(f, k);
		write_key(f, k, d);
	}
	free(d);
}
