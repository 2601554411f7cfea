/*
 * config.h — unsd's configuration: one file of "key = value" lines, a
 * default for every key, command-line overrides on top.
 *
 * The format is redis.conf's and sshd_config's: one "key = value" per line,
 * "#" starts a comment at the start of a line or after whitespace, values
 * may be double-quoted (escapes \" and \\ only) to keep spaces or "#". A
 * repeated key replaces the earlier value, except repeatable keys (lists),
 * which collect every value; an empty value clears a list. Values are typed:
 * string, path, URL, bool, integer, size (64K = 65536) and duration (30s;
 * a bare number is in the key's unit, which is also the unit of its field
 * below, as the field's suffix says).
 *
 * Everything comes from one table in config.c (name, type, field, range,
 * default, help): parsing, defaults, range checks and the documented
 * example file, docs/unsd.conf.example, which is uns_config_write_example's
 * output. Parsing is pure (bytes in, values out); uns_config_load is the
 * only function that does I/O. The struct holds its own copies of every
 * string, so it may be copied by assignment and outlives the parsed text.
 *
 * Errors: UNS_EINVAL for a bad file or value, UNS_EIO for a file that cannot
 * be read, UNS_ENOMEM. The reason goes to why (may be NULL) and to
 * uns_last_message(); it names the line, the key and what was expected:
 *   line 3: contexts: expected an integer from 1 to 65536, got "lots"
 * Not thread-safe on one struct; separate structs need no locking.
 */
#ifndef UNS_CONFIG_H
#define UNS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "uns/uns.h"

#define UNS_CONFIG_STR_MAX  1024 /* bytes per string value, NUL included */
#define UNS_CONFIG_LIST_MAX 16   /* values of one repeatable key */
#define UNS_CONFIG_LINE_MAX 4096 /* bytes per line, line end excluded */
#define UNS_CONFIG_FILE_MAX (1024 * 1024) /* bytes per file */

/* The values of a repeatable key, in the order given. */
typedef struct uns_config_list {
	int n;
	char v[UNS_CONFIG_LIST_MAX][UNS_CONFIG_STR_MAX];
} uns_config_list;

typedef struct uns_config {
	/* server */
	char listen[UNS_CONFIG_STR_MAX];   /* RPC URL */
	char data_dir[UNS_CONFIG_STR_MAX]; /* store, dev TLS material */
	char cert[UNS_CONFIG_STR_MAX];     /* "" = data_dir/tls/server.pem */
	char ca[UNS_CONFIG_STR_MAX];       /* "" = data_dir/tls/ca.pem */
	int require_client_cert;           /* 0 or 1 */
	int inline_reads;                  /* 0 or 1 */
	int async_writes;                  /* 0 or 1 */
	int contexts;                      /* contexts receiving at once */
	int max_contexts;                  /* with the suspended calls */
	int workers;                       /* 0 = 2 x cores */
	uint64_t max_message;              /* bytes */
	int64_t default_timeout_ms;
	int64_t drain_linger_ms;
	int64_t handshake_timeout_ms;
	/* store */
	uint64_t block_cache;  /* bytes */
	uint64_t write_buffer; /* bytes */
	int commit_max_batch;
	int64_t commit_max_wait_us; /* 0 = sync at once */
	int commit_answer_thread;   /* 0 or 1 */
	int64_t reclaim_interval_s;
	/* tokens */
	uns_config_list jwt_key; /* PEM public key file, or "hs256:FILE" */
	char jwt_audience[UNS_CONFIG_STR_MAX];
	char jwt_issuer[UNS_CONFIG_STR_MAX]; /* "" = not checked */
	int64_t jwt_clock_skew_s;
	uint64_t token_max_bytes;
	int token_cache; /* verified tokens remembered; 0 = none */
	char
	    token_signing_key[UNS_CONFIG_STR_MAX]; /* "" = dev secret or none */
	int64_t token_lifetime_s;
	/* push transports (push.h) */
	int push_allow_private;                  /* 0 or 1; tests only */
	char push_ca_file[UNS_CONFIG_STR_MAX];   /* "" = system CAs */
	int64_t push_token_timeout_ms;           /* OAuth token fetches */
	char webhook_hosts[UNS_CONFIG_STR_MAX];  /* comma-separated */
	char webhook_secret[UNS_CONFIG_STR_MAX]; /* file */
	char webhook_secret_previous[UNS_CONFIG_STR_MAX]; /* file */
	char webpush_hosts[UNS_CONFIG_STR_MAX];
	char vapid_key[UNS_CONFIG_STR_MAX];
	char vapid_subject[UNS_CONFIG_STR_MAX];
	int64_t webpush_ttl_s;
	int64_t vapid_token_lifetime_s;
	char apns_url[UNS_CONFIG_STR_MAX];
	char apns_key[UNS_CONFIG_STR_MAX]; /* .p8 file */
	char apns_key_id[UNS_CONFIG_STR_MAX];
	char apns_team_id[UNS_CONFIG_STR_MAX];
	char apns_topic[UNS_CONFIG_STR_MAX];
	int64_t apns_token_refresh_s;
	int64_t apns_ttl_s;
	char fcm_url[UNS_CONFIG_STR_MAX];
	char fcm_credentials[UNS_CONFIG_STR_MAX]; /* service-account JSON */
	char fcm_token_uri[UNS_CONFIG_STR_MAX];
	char fcm_project[UNS_CONFIG_STR_MAX];
	int64_t fcm_ttl_s;
	char wns_hosts[UNS_CONFIG_STR_MAX];
	char wns_token_url[UNS_CONFIG_STR_MAX];
	char wns_client_id[UNS_CONFIG_STR_MAX];
	char wns_client_secret[UNS_CONFIG_STR_MAX]; /* file */
	char wns_scope[UNS_CONFIG_STR_MAX];
	int64_t wns_ttl_s;
	/* delivery engine (delivery.h) */
	int delivery; /* 0 or 1 */
	int delivery_max_inflight;
	int delivery_host_connections;
	int delivery_workers;
	int64_t delivery_connect_timeout_ms;
	int64_t delivery_timeout_ms;
	int64_t delivery_backoff_ms;
	int64_t delivery_backoff_max_ms;
	int delivery_max_attempts;
	int delivery_breaker_failures;
	int64_t delivery_breaker_open_ms;
	int64_t delivery_lease_ms;
	char tap_stream_listen[UNS_CONFIG_STR_MAX]; /* "" = off */
	/* limits (SPEC §3), sizes in bytes */
	uint64_t max_body;
	uint64_t max_raw_content;
	uint64_t max_title;
	uint64_t max_body_text;
	uint64_t max_id;
	int max_live_per_user;
	int max_page_size;
	int64_t default_expiry_s;
	int64_t max_expiry_s;
	int64_t subscription_lifetime_s;
	/* gateway rate limits, requests/s and bucket size; 0 = off / = rate */
	int rate_limit_app, rate_limit_app_burst;
	int rate_limit_user, rate_limit_user_burst;
	/* fairness: calls in progress and long polls waiting; 0 = no cap */
	int max_calls_per_user, max_calls_per_app;
	int max_waits_per_user, max_waits_per_app;
	/* REST gateway */
	char gateway_listen[UNS_CONFIG_STR_MAX]; /* "" = no gateway */
	char gateway_cert[UNS_CONFIG_STR_MAX];
	char gateway_key[UNS_CONFIG_STR_MAX];
	int gateway_max_connections;
	int gateway_threads;
	uint64_t gateway_max_header; /* bytes */
	int64_t gateway_idle_timeout_ms;
	int64_t gateway_header_timeout_ms;
	int64_t gateway_body_timeout_ms;
	int64_t gateway_rpc_timeout_ms;
	int64_t gateway_stream_heartbeat_ms;
	/* fixtures (SPEC §7) */
	char record_dir[UNS_CONFIG_STR_MAX]; /* "" = not recording */
	int test_clock;                      /* 0 or 1 */
} uns_config;

/* Sets every key of c to its default. */
void uns_config_defaults(uns_config *c);

/*
 * Applies the configuration text[0..len) on top of c: keys it does not
 * name keep their values; repeatable keys append to c's lists. The text
 * may hold any bytes; NULs and control characters other than tab are
 * errors. Ends with uns_config_check. No I/O. On error c is unchanged.
 */
uns_err uns_config_parse(uns_config *c, const char *text, size_t len, char *why,
                         size_t whylen);

/*
 * Reads the file at path (at most UNS_CONFIG_FILE_MAX bytes) and applies it
 * as uns_config_parse does; reasons start with the path. A file that cannot
 * be opened or read is UNS_EIO. On error c is unchanged.
 */
uns_err uns_config_load(uns_config *c, const char *path, char *why,
                        size_t whylen);

/*
 * Sets one key from a command-line override (unsd --set key=value): value
 * is taken as it is, without quotes or comments; a repeatable key gets one
 * more value ("" clears it). Does not run uns_config_check, so that
 * overrides may come in any order: call it after the last one. On error c
 * is unchanged.
 */
uns_err uns_config_set(uns_config *c, const char *key, const char *value,
                       char *why, size_t whylen);

/*
 * Checks what single values cannot: default_expiry <= max_expiry.
 * UNS_EINVAL naming both keys if not.
 */
uns_err uns_config_check(const uns_config *c, char *why, size_t whylen);

/*
 * Writes c as a configuration file, every key once (a repeatable key once
 * per value, or once as "" when empty), without comments; parsing it over
 * uns_config_defaults gives c again. For "unsd --print-config".
 */
void uns_config_write(FILE *f, const uns_config *c);

/*
 * Writes the documented example file: a header on the format, then for each
 * key its help, type and range, and its default as a live line. This is
 * docs/unsd.conf.example; parsing it gives the defaults.
 */
void uns_config_write_example(FILE *f);

#endif /* UNS_CONFIG_H */
