/*
 * testutil.h — shared helpers for the test suites: temporary directories,
 * files, HS256 tokens, dev certificates, an in-process RPC server, and unsd
 * as a child process.
 */
#ifndef UNS_TESTUTIL_H
#define UNS_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <sys/types.h>

#include <cmocka.h>

#include "rpc_server.h"
#include "service.h"
#include "uns/client.h"

/* A fresh directory under /tmp; removed by ut_rmdir. */
void ut_mkdtemp(char *out, size_t cap);
void ut_rmdir(const char *dir);

/* Writes len bytes of data (ut_write_file: the string text) to path,
 * replacing it; fails the test on any error. */
void ut_write_bytes(const char *path, const void *data, size_t len);
void ut_write_file(const char *path, const char *text);

/* An HS256 token signed with key, for audience "uns", issued at now_s and
 * valid for an hour, into out (cap bytes); sub, app and host may be NULL. */
void ut_mint_hs256(const uint8_t *key, size_t key_len, int64_t now_s,
                   const char *sub, const char *app, const char *host,
                   const char *scopes, char *out, size_t cap);

/* Runs a shell command; its exit status (-1 if it did not exit), and
 * what it wrote to stdout into out (cap bytes, NUL-terminated) unless out
 * is NULL. */
int ut_run(const char *cmd, char *out, size_t cap);

/* dir/ca.pem, dir/server.pem (localhost), dir/client-svc.pem. */
void ut_make_certs(const char *dir);

typedef struct ut_server {
	uns_service *svc;
	uns_rpc_server *rpc;
	int port;
	char url[128]; /* what a client dials */
} ut_server;

/* Starts an in-process server on scheme ("tcp" or "tls") with port 0. For
 * tls, certs come from cert_dir; require_client_cert as in the config. */
void ut_server_start(ut_server *ts, const char *scheme, const char *cert_dir,
                     int require_client_cert, const uns_rpc_config *base);
void ut_server_stop(ut_server *ts);

/* Opens a client to ts (TLS trusts cert_dir/ca.pem). */
uns_client *ut_client(const ut_server *ts, const char *cert_dir);

typedef struct ut_proc {
	pid_t pid;
	int port;
	int err_fd; /* the child's stderr, read end */
} ut_proc;

/* Runs unsd with args (NULL-terminated) plus "--listen URL" (and
 * "--gateway-listen \"\"" unless args name one); waits for its "serving"
 * line and fills port. Returns 0 on success. */
int ut_unsd_start(ut_proc *p, const char *listen, const char *const *args);
/* Milliseconds on the monotonic clock, for deadlines and latencies. */
double ut_now_ms(void);

/* Sends sig, waits for exit; returns the exit status (or -signal) and
 * copies what the child wrote to stderr after its start into out. One
 * that has not exited UT_STOP_WAIT_MS after the signal has its threads'
 * stacks printed (gdb) and is killed: -SIGKILL. */
#define UT_STOP_WAIT_MS 120000
int ut_unsd_stop(ut_proc *p, int sig, char *out, size_t cap);

#endif /* UNS_TESTUTIL_H */
