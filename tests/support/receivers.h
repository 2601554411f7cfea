/*
 * receivers.h — test helpers around the Node reference push receivers in
 * tests/node/ (webhook, Web Push, APNs, FCM, WNS): start one as a child
 * process, script its failures, read what it recorded, and send a built
 * uns_push_request to it with a plain curl easy handle.
 *
 * Receivers listen on 127.0.0.1 with TLS for "localhost" (a certificate
 * from ut_make_certs); their URLs are https://localhost:PORT/…, and
 * ut_send trusts cert_dir/ca.pem. A missing node or node_modules fails the
 * test with the command that installs them (tools/setup.sh test).
 */
#ifndef UNS_TEST_RECEIVERS_H
#define UNS_TEST_RECEIVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "push.h"

typedef struct ut_receiver {
	pid_t pid;
	int port;
	json_t *info;   /* the receiver's first stdout line (port, extra) */
	char ca[512];   /* CA file for ut_send */
	char base[128]; /* https://localhost:PORT (http:// with --plain) */
	bool h2;        /* speaks HTTP/2 only (APNs with --plain: h2c) */
} ut_receiver;

/* Starts node tests/node/SCRIPT --cert CERT_DIR/server.pem ARGS... (args
 * NULL-terminated; "--plain" makes it cleartext) and waits (up to 20 s)
 * for its first line. */
void ut_receiver_start(ut_receiver *r, const char *script, const char *cert_dir,
                       const char *const *args);
void ut_receiver_stop(ut_receiver *r);

/* The next count requests that pass the checks get status (and
 * Retry-After when retry_after is not NULL, and body_json when not
 * NULL). */
void ut_receiver_script(ut_receiver *r, int status, int count,
                        const char *retry_after, const char *body_json);
/* Every record so far (a JSON array; json_decref it). */
json_t *ut_receiver_records(ut_receiver *r);
void ut_receiver_reset(ut_receiver *r);

/* What a provider answered to ut_send. */
typedef struct ut_answer {
	long status;
	char body[4096];
	size_t body_len;
	char headers[4096]; /* "name: value\n"..., names lower-cased */
	long http_version;  /* CURL_HTTP_VERSION_* that was used */
} ut_answer;

/* POSTs req with curl (HTTP/2 when req->http2: negotiated by ALPN over
 * https, prior knowledge over http) trusting ca. Returns false when no
 * answer came (connection refused...). */
bool ut_send(const uns_push_request *req, const char *ca, ut_answer *out);

/* A uns_push_response over an answer, for classify(). */
void ut_answer_response(const ut_answer *a, uns_push_response *resp,
                        int64_t now_ms);

/* Node and tests/node/node_modules are installed, or the test fails. */
void ut_require_node(void);

#endif /* UNS_TEST_RECEIVERS_H */
