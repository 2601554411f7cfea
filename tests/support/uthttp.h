/*
 * uthttp.h — test helpers for the REST gateway: HTTP(S) requests through
 * libcurl (keep-alive on one handle), and unsd / uns-gateway processes
 * that report their gateway port.
 */
#ifndef UNS_UTHTTP_H
#define UNS_UTHTTP_H

#include <stddef.h>

#include <jansson.h>

#include "testutil.h"

#define UT_HTTP_BODY_MAX (256 * 1024)

typedef struct ut_http_resp {
	long status;
	char body[UT_HTTP_BODY_MAX];
	size_t len;
	char headers[16384]; /* raw response header lines */
	long connects;       /* new connections this request opened */
} ut_http_resp;

typedef struct ut_http {
	void *curl;     /* CURL *, reused: keep-alive */
	char base[256]; /* "https://localhost:PORT" */
	char ca[512];   /* CA file for https, or "" */
	char from[64];  /* local address to send from ("127.0.0.2"), or "" */
} ut_http;

void ut_http_open(ut_http *h, const char *base, const char *ca);
void ut_http_close(ut_http *h);

/*
 * Sends one request: method, path (appended to base), bearer token (or
 * NULL), body (or NULL), len bytes of it (len 0 with a body = strlen),
 * extra header lines ("X-UNS-ID: …", NULL-terminated list or NULL); adds
 * "Content-Type: application/json" unless headers set one. Fails the test
 * on a transport error; returns the HTTP status.
 */
long ut_http_do(ut_http *h, const char *method, const char *path,
                const char *token, const char *body, size_t len,
                const char *const *headers, ut_http_resp *r);

/* As ut_http_do, but a transport error returns -1 (its text in r->body)
 * instead of failing the test: for threads other than the test's. */
long ut_http_try(ut_http *h, const char *method, const char *path,
                 const char *token, const char *body, size_t len,
                 const char *const *headers, ut_http_resp *r);

/* The value of a response header (case-insensitive name) into out; 1 when
 * present. */
int ut_http_header(const ut_http_resp *r, const char *name, char *out,
                   size_t cap);

/* A zeroed response on the heap (free()). */
ut_http_resp *ut_http_resp_new(void);

/* The body as JSON (json_decref it); fails the test if it is not JSON. */
json_t *ut_http_json(const ut_http_resp *r);

/* The string member key of v; fails the test if there is none. */
const char *ut_json_str(json_t *v, const char *key);

/* A token from `unsctl token KIND` signed with data_dir's dev secret:
 * kind "app" takes who as the app id, "user" as the subject (host: its
 * uns_host, or NULL). malloc'd. */
char *ut_mint(const char *data_dir, const char *kind, const char *who,
              const char *host);

/* Subscribes the user's device (Polling) through the gateway's
 * POST /beta/me/notifications/subscriptions; its UNSID (malloc'd). Fails
 * the test unless the answer is 201 or 200. */
char *ut_gw_subscribe(ut_http *h, const char *user_token, const char *device);

/* POSTs a notification (title "T aid") for host as the app, to the device
 * unsid (X-UNS-ID) with appNotificationId aid; its server id (malloc'd).
 * Fails the test unless the answer's status is want. */
char *ut_gw_post(ut_http *h, const char *app_token, const char *unsid,
                 const char *host, const char *aid, long want);

/* A fresh test directory dir (256 bytes) with DATA = dir/data (320 bytes)
 * made 0700 and, unless apps is NULL, DATA/apps.conf holding apps. Also
 * ignores SIGPIPE and initialises curl, as every gateway suite needs. */
void ut_gw_dirs(char dir[256], char data[320], const char *apps);

/* Starts unsd on data with config file conf, RPC on tls+tcp and its
 * gateway on https, both on ports the kernel picks: ports[0] gets the RPC
 * port, ports[1] the gateway's, base "https://localhost:PORT" (the dev
 * certificate's name). Returns 0 once both are serving. */
int ut_unsd_gateway_start(ut_proc *p, const char *conf, const char *data,
                          int ports[2], char *base, size_t cap);
/* The same on plain tcp:// and http:// (conf may be NULL); base gets
 * "http://127.0.0.1:PORT". Fails the test if unsd does not come up. */
void ut_unsd_http_start(ut_proc *p, const char *conf, const char *data,
                        int ports[2], char *base, size_t cap);
/* The gateway suites' teardown: stops p with SIGTERM (printing what it
 * said if it did not exit 0), removes dir, cleans up curl; p's exit
 * status. */
int ut_unsd_gateway_stop(ut_proc *p, const char *dir);

/* Starts uns-gateway calling rpc (trusting ca, or NULL for the system's)
 * with the config file conf (or NULL), on plain HTTP at a port the kernel
 * picks; base gets "http://127.0.0.1:PORT". Fails the test if it does not
 * come up. */
void ut_gateway_start(ut_proc *gw, const char *rpc, const char *ca,
                      const char *conf, char *base, size_t cap);

/* Runs a program (argv[0] is its path, NULL-terminated) and reads its
 * stderr until it printed every marker in markers (NULL-terminated),
 * taking the "(port N)" number on each marker's line into ports[i]. */
int ut_proc_start(ut_proc *p, const char *const *argv,
                  const char *const *markers, int *ports);

#endif /* UNS_UTHTTP_H */
