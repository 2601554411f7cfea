/*
 * receivers.c — see receivers.h.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <strings.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "receivers.h"

#define NODE_DIR UNS_SOURCE_DIR "/tests/node"

void
ut_require_node(void)
{
	struct stat st;

	if (system("command -v node >/dev/null 2>&1") != 0) {
		fail_msg("node is not installed: run tools/setup.sh test");
	}
	if (stat(NODE_DIR "/node_modules/http_ece", &st) != 0) {
		fail_msg("%s/node_modules is missing: run (cd tests/node && "
		         "npm ci) or tools/setup.sh test",
		         NODE_DIR);
	}
}

/* Reads one line from fd within timeout_ms. */
static int
read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
	size_t n = 0;

	while (n + 1 < cap) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, timeout_ms) <= 0) {
			return -1;
		}
		if (read(fd, buf + n, 1) != 1) {
			return -1;
		}
		if (buf[n] == '\n') {
			break;
		}
		n++;
	}
	buf[n] = '\0';
	return 0;
}

void
ut_receiver_start(ut_receiver *r, const char *script, const char *cert_dir,
                  const char *const *args)
{
	char path[512], cert[512], line[8192];
	const char *argv[32];
	int fds[2], n = 0;
	json_error_t jerr;

	ut_require_node();
	memset(r, 0, sizeof(*r));
	snprintf(path, sizeof(path), "%s/%s", NODE_DIR, script);
	snprintf(cert, sizeof(cert), "%s/server.pem", cert_dir);
	snprintf(r->ca, sizeof(r->ca), "%s/ca.pem", cert_dir);
	argv[n++] = "node";
	argv[n++] = path;
	argv[n++] = "--cert";
	argv[n++] = cert;
	for (int i = 0; args != NULL && args[i] != NULL && n < 30; i++) {
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	assert_int_equal(pipe(fds), 0);
	r->pid = fork();
	assert_true(r->pid >= 0);
	if (r->pid == 0) {
		/* A test that fails half-way must not leave receivers. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execvp("node", (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	if (read_line(fds[0], line, sizeof(line), 20000) != 0) {
		fail_msg("%s did not start", script);
	}
	close(fds[0]);
	r->info = json_loads(line, 0, &jerr);
	assert_non_null(r->info);
	r->port = (int)json_integer_value(json_object_get(r->info, "port"));
	assert_true(r->port > 0);
	r->h2 = json_is_true(json_object_get(r->info, "h2"));
	snprintf(r->base, sizeof(r->base), "%s://localhost:%d",
	         json_string_value(json_object_get(r->info, "scheme")),
	         r->port);
}

void
ut_receiver_stop(ut_receiver *r)
{
	if (r->pid > 0) {
		kill(r->pid, SIGTERM);
		waitpid(r->pid, NULL, 0);
	}
	json_decref(r->info);
	memset(r, 0, sizeof(*r));
}

static size_t
collect_body(char *data, size_t size, size_t nmemb, void *arg)
{
	ut_answer *a = arg;
	size_t len = size * nmemb, room = sizeof(a->body) - 1 - a->body_len;

	memcpy(a->body + a->body_len, data, len < room ? len : room);
	a->body_len += len < room ? len : room;
	a->body[a->body_len] = '\0';
	return len;
}

static size_t
collect_header(char *data, size_t size, size_t nmemb, void *arg)
{
	ut_answer *a = arg;
	size_t len = size * nmemb, used = strlen(a->headers);
	size_t colon;

	if (len < 2 || memchr(data, ':', len) == NULL ||
	    used + len + 1 >= sizeof(a->headers)) {
		return len;
	}
	colon = (size_t)((char *)memchr(data, ':', len) - data);
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		if (c == '\r') {
			continue;
		}
		a->headers[used++] = i < colon ? (char)tolower(c) : c;
	}
	a->headers[used] = '\0';
	return len;
}

/* A request to the receiver's control endpoints; returns the body. */
static json_t *
control(ut_receiver *r, const char *method, const char *path, const char *body)
{
	uns_push_request req = {0};
	char url[256], *hdr[] = {"Content-Type: application/json"};
	ut_answer a;
	json_t *doc;

	snprintf(url, sizeof(url), "%s%s", r->base, path);
	req.url = url;
	req.headers = hdr;
	req.nheaders = 1;
	req.body = (unsigned char *)(body ? body : "");
	req.body_len = body ? strlen(body) : 0;
	req.http2 = r->h2;
	if (strcmp(method, "GET") == 0) {
		req.body = NULL;
	}
	assert_true(ut_send(&req, r->ca, &a));
	assert_int_equal(a.status, 200);
	doc = json_loads(a.body, 0, NULL);
	assert_non_null(doc);
	return doc;
}

void
ut_receiver_script(ut_receiver *r, int status, int count,
                   const char *retry_after, const char *body_json)
{
	char body[2048];

	snprintf(body, sizeof(body),
	         "{\"status\":%d,\"count\":%d,\"headers\":{%s%s%s}%s%s}",
	         status, count, retry_after ? "\"retry-after\":\"" : "",
	         retry_after ? retry_after : "", retry_after ? "\"" : "",
	         body_json ? ",\"body\":" : "", body_json ? body_json : "");
	json_decref(control(r, "POST", "/_control", body));
}

json_t *
ut_receiver_records(ut_receiver *r)
{
	return control(r, "GET", "/_records", NULL);
}

void
ut_receiver_reset(ut_receiver *r)
{
	json_decref(control(r, "POST", "/_reset", "{}"));
}

bool
ut_send(const uns_push_request *req, const char *ca, ut_answer *out)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = NULL;
	CURLcode rc;

	memset(out, 0, sizeof(*out));
	assert_non_null(h);
	for (size_t i = 0; i < req->nheaders; i++) {
		hdr = curl_slist_append(hdr, req->headers[i]);
	}
	hdr = curl_slist_append(hdr, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	if (req->body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
	}
	curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
	                 !req->http2 ? CURL_HTTP_VERSION_1_1
	                 : strncmp(req->url, "http://", 7) == 0
	                     ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
	                     : CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
		curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &out->http_version);
	} else {
		print_message("curl: %s\n", curl_easy_strerror(rc));
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return rc == CURLE_OK;
}

static const char *
answer_header(void *arg, const char *name)
{
	static __thread char value[512];
	const ut_answer *a = arg;
	size_t nl = strlen(name);
	const char *p = a->headers;

	while (*p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ') {
				v++;
			}
			snprintf(value, sizeof(value), "%.*s",
			         (int)(p + len - v), v);
			return value;
		}
		p += len + (eol ? 1 : 0);
	}
	return NULL;
}

void
ut_answer_response(const ut_answer *a, uns_push_response *resp, int64_t now_ms)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = a->status;
	resp->body = a->body;
	resp->body_len = a->body_len;
	resp->header = answer_header;
	resp->header_arg = (void *)a;
	resp->now_ms = now_ms;
}
