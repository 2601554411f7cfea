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
 * Everything comes from tables of keys (name, type, field, range, default,
 * help): config.c's for the server's core, and one per subsystem that
 * keeps its own keys (uns_config_section: the push transports), added to a
 * configuration with uns_config_add. From them come parsing, defaults,
 * range checks and the documented example file, docs/unsd.conf.example,
 * which is uns_config_write_example's output. Parsing is pure (bytes in, values
 * out); uns_config_load is the only function that does I/O. The struct holds
 * its own copies of every string, so it may be copied by assignment and
 * outlives the parsed text.
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

#define UNS_CONFIG_STR_MAX      1024 /* bytes per string value, NUL included */
#define UNS_CONFIG_LIST_MAX     16   /* values of one repeatable key */
#define UNS_CONFIG_LINE_MAX     4096 /* bytes per line, line end excluded */
#define UNS_CONFIG_FILE_MAX     (1024 * 1024) /* bytes per file */
#define UNS_CONFIG_SECTIONS_MAX 16 /* subsystem key tables per config */
#define UNS_CONFIG_EXT_MAX      (40 * 1024) /* bytes of their values */

/* What a key's value is, and the type of its field:
 *   STRING, PATH, URL  char[UNS_CONFIG_STR_MAX]; min/max bound the length
 *   BOOL, INT          int
 *   SIZE               uint64_t, bytes
 *   DURATION_US/MS/S   int64_t, in the unit the kind names
 *   PATH_LIST          uns_config_list (repeatable) */
typedef enum uns_config_kind {
	UNS_CONFIG_STRING,
	UNS_CONFIG_PATH,
	UNS_CONFIG_URL,
	UNS_CONFIG_BOOL,
	UNS_CONFIG_INT,
	UNS_CONFIG_SIZE,
	UNS_CONFIG_DURATION_US,
	UNS_CONFIG_DURATION_MS,
	UNS_CONFIG_DURATION_S,
	UNS_CONFIG_PATH_LIST,
} uns_config_kind;

/* One key: a row of config.c's table or of a subsystem's. */
typedef struct uns_config_key {
	const char *section; /* banner in the example file */
	const char *name;
	uns_config_kind kind;
	size_t offset; /* of the field in uns_config or the section's struct */
	int64_t min;   /* numbers: range, in the field's unit; */
	int64_t max;   /* strings: length range in bytes */
	const char *def;  /* default, as written in a file */
	const char *help; /* lines separated by \n */
} uns_config_key;

/* A row of a subsystem's table: field of struct type. */
#define UNS_CONFIG_KEY(sec, name, kind, type, field, min, max, def, help)      \
	{                                                                      \
		sec, name, UNS_CONFIG_##kind, offsetof(type, field), min, max, \
		    def, help                                                  \
	}

/*
 * A subsystem's keys, kept by the subsystem next to the code that uses
 * them (push: one table per transport). Added to a configuration with
 * uns_config_add, they are parsed, set, checked, written and documented
 * with config.c's own; their values live in the uns_config (so it still
 * copies by assignment), in a struct of the subsystem's of size bytes,
 * read back with uns_config_values.
 */
typedef struct uns_config_section {
	const uns_config_key *keys;
	size_t n_keys;
	size_t size;
} uns_config_section;

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
	char store[UNS_CONFIG_STR_MAX]; /* backend: "rocksdb" or "postgres" */
	/* the backends' own keys are theirs (uns_store_add_keys) */
	int commit_max_batch;
	int64_t commit_max_wait_us; /* 0 = sync at once */
	int commit_answer_thread;   /* 0 or 1 */
	int64_t reclaim_interval_s;
	int64_t reclaim_at_expiry_ms; /* 0 = only every reclaim_interval */
	uint64_t min_free; /* bytes kept free on the store's disk; 0 = off */
	int store_salvage; /* 0 or 1: open a damaged store, copy kept */
	/* cluster */
	char nats_url[UNS_CONFIG_STR_MAX]; /* "" = a node alone, no NATS */
	int64_t cluster_recheck_ms;        /* waiters re-read their feed */
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
	int token_fail_burst;        /* wrong secrets per client id; 0 = any */
	int token_fail_per_minute;   /* their refill */
	int token_source_fail_burst; /* per source address; 0 = any */
	int token_source_fail_per_minute; /* their refill */
	int token_checks; /* secret checks at once; 0 = no bound */
	int64_t token_check_wait_ms;
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
	int delivery_metrics_max_apps;
	char tap_stream_listen[UNS_CONFIG_STR_MAX]; /* "" = off */
	/* limits (SPEC §3), sizes in bytes */
	uint64_t max_body;
	uint64_t max_raw_content;
	uint64_t max_title;
	uint64_t max_body_text;
	uint64_t max_id;
	int max_live_per_user;
	int max_subscriptions_per_user;
	int max_page_size;
	int64_t default_expiry_s;
	int64_t max_expiry_s;
	int64_t subscription_lifetime_s;
	int64_t idempotency_window_s;
	/* gateway rate limits, requests/s and bucket size; 0 = off / = rate */
	int rate_limit_app, rate_limit_app_burst;
	int rate_limit_user, rate_limit_user_burst;
	/* fairness: calls in progress and long polls waiting; 0 = no cap */
	int max_calls_per_user, max_calls_per_app;
	int max_waits_per_user, max_waits_per_app;
	int cluster_split_limits; /* 0 or 1: per-user limits / live nodes */
	/* REST gateway */
	char gateway_listen[UNS_CONFIG_STR_MAX]; /* "" = no gateway */
	char gateway_cert[UNS_CONFIG_STR_MAX];
	char gateway_key[UNS_CONFIG_STR_MAX];
	int gateway_max_connections;
	int gateway_threads;
	uint64_t gateway_max_header; /* bytes */
	uint64_t gateway_max_uri;    /* bytes */
	int64_t gateway_idle_timeout_ms;
	int64_t gateway_header_timeout_ms;
	int64_t gateway_body_timeout_ms;
	int64_t gateway_rpc_timeout_ms;
	char gateway_public_url[UNS_CONFIG_STR_MAX]; /* "" = from listen */
	uint64_t gateway_drain_limit;                /* bytes */
	int64_t gateway_stream_heartbeat_ms;
	char gateway_cors_origins[UNS_CONFIG_STR_MAX]; /* "" = none */
	char gateway_web_root[UNS_CONFIG_STR_MAX];     /* "" = off */
	/* fixtures (SPEC §7) */
	char record_dir[UNS_CONFIG_STR_MAX]; /* "" = not recording */
	int test_clock;                      /* 0 or 1 */
	/* subsystems' keys (uns_config_add): their tables, and their values
	 * in ext, each section's at section_at */
	int n_sections;
	const struct uns_config_section *sections[UNS_CONFIG_SECTIONS_MAX];
	size_t section_at[UNS_CONFIG_SECTIONS_MAX];
	size_t ext_used;
	union {
		max_align_t align;
		unsigned char bytes[UNS_CONFIG_EXT_MAX];
	} ext;
	/* 1: a key no table knows is skipped, not an error (uns-gateway reads
	 * unsd's file without the tables of unsd's other subsystems) */
	int skip_unknown_keys;
} uns_config;

/* Sets every key of c to its default; c knows config.c's keys only. */
void uns_config_defaults(uns_config *c);

/*
 * Adds a subsystem's keys to c, at their defaults. UNS_EINVAL when c has
 * no room left (UNS_CONFIG_SECTIONS_MAX, UNS_CONFIG_EXT_MAX) or a key's
 * name is taken; adding a section c has already is a no-op.
 */
uns_err uns_config_add(uns_config *c, const uns_config_section *s);

/* Copies the values of s's keys into out (s->size bytes): c's when s was
 * added to c, else the defaults. */
void uns_config_values(const uns_config *c, const uns_config_section *s,
                       void *out);

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
 * key of c (config.c's, then the sections added to c) its help, type and
 * range, and its default as a live line (c's values are not used). With
 * unsd's sections, this is docs/unsd.conf.example; parsing it gives the
 * defaults.
 */
void uns_config_write_example(FILE *f, const uns_config *c);

#endif /* UNS_CONFIG_H */
