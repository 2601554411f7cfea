/*
 * uthttp.c — see uthttp.h.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "uthttp.h"
#include "utpg.h"

typedef struct sink {
	char *buf;
	size_t cap, len;
} sink;

static size_t
collect(char *data, size_t size, size_t n, void *arg)
{
	sink *s = arg;
	size_t want = size * n;
	size_t take = want < s->cap - 1 - s->len ? want : s->cap - 1 - s->len;
	memcpy(s->buf + s->len, data, take);
	s->len += take;
	s->buf[s->len] = '\0';
	return want;
}

void
ut_http_open(ut_http *h, const char *base, const char *ca)
{
	memset(h, 0, sizeof(*h));
	h->curl = curl_easy_init();
	assert_non_null(h->curl);
	snprintf(h->base, sizeof(h->base), "%s", base);
	snprintf(h->ca, sizeof(h->ca), "%s", ca ? ca : "");
}

void
ut_http_close(ut_http *h)
{
	curl_easy_cleanup(h->curl);
	h->curl = NULL;
}

static struct curl_slist *
request_headers(const char *token, const char *const *headers)
{
	struct curl_slist *l = NULL;
	char auth[8192];
	int typed = 0;
	for (int i = 0; headers && headers[i]; i++) {
		typed |= strncasecmp(headers[i], "Content-Type:", 13) == 0;
		l = curl_slist_append(l, headers[i]);
	}
	if (!typed) {
		l = curl_slist_append(l, "Content-Type: application/json");
	}
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		l = curl_slist_append(l, auth);
	}
	l = curl_slist_append(l, "Expect:"); /* no 100-continue wait */
	return l;
}

long
ut_http_do(ut_http *h, const char *method, const char *path, const char *token,
           const char *body, size_t len, const char *const *headers,
           ut_http_resp *r)
{
	long st = ut_http_try(h, method, path, token, body, len, headers, r);
	if (st < 0) {
		fail_msg("%s %s%s: %s", method, h->base, path, r->body);
	}
	return st;
}

long
ut_http_try(ut_http *h, const char *method, const char *path, const char *token,
            const char *body, size_t len, const char *const *headers,
            ut_http_resp *r)
{
	char url[4096];
	CURL *c = h->curl;
	sink bs = {r->body, sizeof(r->body), 0};
	sink hs = {r->headers, sizeof(r->headers), 0};
	struct curl_slist *l = request_headers(token, headers);
	r->body[0] = r->headers[0] = '\0';
	snprintf(url, sizeof(url), "%s%s", h->base, path);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (h->from[0] != '\0') {
		char iface[80];
		snprintf(iface, sizeof(iface), "host!%s", h->from);
		curl_easy_setopt(c, CURLOPT_INTERFACE, iface);
	}
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, l);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &bs);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &hs);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 90L);
	if (h->ca[0]) {
		curl_easy_setopt(c, CURLOPT_CAINFO, h->ca);
	}
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE,
		                 (long)(len ? len : strlen(body)));
	}
	CURLcode rc = curl_easy_perform(c);
	curl_slist_free_all(l);
	if (rc != CURLE_OK) {
		snprintf(r->body, sizeof(r->body), "%s",
		         curl_easy_strerror(rc));
		r->len = strlen(r->body);
		r->status = -1;
		return -1;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->connects);
	r->len = bs.len;
	return r->status;
}

int
ut_http_header(const ut_http_resp *r, const char *name, char *out, size_t cap)
{
	size_t n = strlen(name);
	for (const char *p = r->headers; p && *p;) {
		const char *end = strstr(p, "\r\n");
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			while (*v == ' ') {
				v++;
			}
			size_t len = end ? (size_t)(end - v) : strlen(v);
			snprintf(out, cap, "%.*s", (int)len, v);
			return 1;
		}
		p = end ? end + 2 : NULL;
	}
	return 0;
}

/* Reads stderr line by line until every marker was seen. */
static int
wait_markers(int fd, const char *const *markers, int *ports)
{
	char line[2048], all[8192];
	size_t len = 0, all_len = 0;
	int seen = 0, want = 0;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	while (markers[want]) {
		want++;
	}
	all[0] = '\0';
	while (seen < want && poll(&pfd, 1, 20000) > 0) {
		char ch;
		if (read(fd, &ch, 1) != 1) {
			break;
		}
		if (all_len + 1 < sizeof(all)) {
			all[all_len++] = ch;
			all[all_len] = '\0';
		}
		if (ch != '\n') {
			line[len < sizeof(line) - 1 ? len++ : len] = ch;
			continue;
		}
		line[len] = '\0';
		len = 0;
		for (int i = 0; i < want; i++) {
			char *p = strstr(line, "(port ");
			if (strstr(line, markers[i]) && p) {
				ports[i] = atoi(p + 6);
				seen++;
			}
		}
	}
	if (seen < want) {
		fprintf(stderr, "process did not start: %s\n", all);
		return -1;
	}
	return 0;
}

int
ut_proc_start(ut_proc *p, const char *const *argv, const char *const *markers,
              int *ports)
{
	const char *full[64];
	int fds[2], n = 0;
	while (argv[n] != NULL && n < 57) {
		full[n] = argv[n];
		n++;
	}
	if (strcmp(argv[0], UNS_UNSD_PATH) == 0) { /* its store: utpg.h */
		n = ut_pg_unsd_args(full, n, 63);
	}
	full[n] = NULL;
	argv = full;
	if (pipe(fds) != 0) {
		return -1;
	}
	p->pid = fork();
	if (p->pid == 0) {
		/* stdout to /dev/null: a child left behind by a failed test
		 * must not hold the test's output open (ctest waits on it). */
		int null_fd = open("/dev/null", O_WRONLY);
		dup2(null_fd, 1);
		dup2(fds[1], 2);
		close(fds[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	p->err_fd = fds[0];
	int rc = wait_markers(p->err_fd, markers, ports);
	p->port = ports[0];
	return rc;
}

ut_http_resp *
ut_http_resp_new(void)
{
	ut_http_resp *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	return r;
}

json_t *
ut_http_json(const ut_http_resp *r)
{
	json_error_t e;
	json_t *v = json_loadb(r->body, r->len, 0, &e);
	if (v == NULL) {
		fail_msg("not JSON (%s): %.300s", e.text, r->body);
	}
	return v;
}

const char *
ut_json_str(json_t *v, const char *key)
{
	const char *s = json_string_value(json_object_get(v, key));
	if (s == NULL) {
		char *text = json_dumps(v, 0);
		fail_msg("no string \"%s\" in %s", key, text ? text : "?");
	}
	return s;
}

char *
ut_mint(const char *data_dir, const char *kind, const char *who,
        const char *host)
{
	char cmd[1024], out[4096];
	snprintf(cmd, sizeof(cmd),
	         "%s token %s %s %s %s%s --secret-file %s/jwt-hs256.secret",
	         UNS_UNSCTL_PATH, kind,
	         strcmp(kind, "app") == 0 ? "--app" : "--sub", who,
	         host ? "--host " : "", host ? host : "", data_dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	assert_int_equal(pclose(p), 0);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r')) {
		n--;
	}
	out[n] = '\0';
	return strdup(out);
}

char *
ut_gw_subscribe(ut_http *h, const char *user_token, const char *device)
{
	char body[256];
	ut_http_resp *r = ut_http_resp_new();
	snprintf(body, sizeof(body),
	         "{\"deviceId\":\"%s\",\"platform\":\"Polling\"}", device);
	long st = ut_http_do(h, "POST", "/beta/me/notifications/subscriptions",
	                     user_token, body, 0, NULL, r);
	if (st != 201 && st != 200) {
		fail_msg("subscribe: %ld %s", st, r->body);
	}
	json_t *v = ut_http_json(r);
	char *id = strdup(ut_json_str(v, "id"));
	json_decref(v);
	free(r);
	return id;
}

char *
ut_gw_post(ut_http *h, const char *app_token, const char *unsid,
           const char *host, const char *aid, long want)
{
	char body[512], hdr[300];
	const char *hdrs[] = {hdr, NULL};
	ut_http_resp *r = ut_http_resp_new();
	snprintf(hdr, sizeof(hdr), "X-UNS-ID: %s", unsid);
	snprintf(body, sizeof(body),
	         "{\"targetHostName\":\"%s\",\"appNotificationId\":"
	         "\"%s\",\"payload\":{\"visualContent\":{\"title\":\"T %s\"}}}",
	         host, aid, aid);
	long st = ut_http_do(h, "POST", "/beta/me/notifications", app_token,
	                     body, 0, hdrs, r);
	if (st != want) {
		fail_msg("post %s: %ld, want %ld: %s", aid, st, want, r->body);
	}
	json_t *v = ut_http_json(r);
	char *id = strdup(ut_json_str(v, "id"));
	json_decref(v);
	free(r);
	return id;
}

/* unsd on data (with conf, or NULL) listening on the given schemes at
 * ports the kernel picks; ports[0] the RPC's, ports[1] the gateway's. */
static int
unsd_start(ut_proc *p, const char *conf, const char *data, const char *rpc,
           const char *http, int ports[2])
{
	const char *argv[11] = {UNS_UNSD_PATH, "--data", data,
	                        "--listen",    rpc,      "--gateway-listen",
	                        http};
	const char *markers[] = {"serving", "gateway on", NULL};
	int n = 7;
	if (conf != NULL) {
		argv[n++] = "--config";
		argv[n++] = conf;
	}
	argv[n] = NULL;
	return ut_proc_start(p, argv, markers, ports);
}

void
ut_gw_dirs(char dir[256], char data[320], const char *apps)
{
	char path[400];
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_ALL);
	ut_mkdtemp(dir, 256);
	snprintf(data, 320, "%s/data", dir);
	mkdir(data, 0700);
	if (apps != NULL) {
		snprintf(path, sizeof(path), "%s/apps.conf", data);
		ut_write_file(path, apps);
	}
}

int
ut_unsd_gateway_start(ut_proc *p, const char *conf, const char *data,
                      int ports[2], char *base, size_t cap)
{
	if (unsd_start(p, conf, data, "tls+tcp://127.0.0.1:0",
	               "https://127.0.0.1:0", ports) != 0) {
		return -1;
	}
	snprintf(base, cap, "https://localhost:%d", ports[1]);
	return 0;
}

void
ut_unsd_http_start(ut_proc *p, const char *conf, const char *data, int ports[2],
                   char *base, size_t cap)
{
	assert_int_equal(unsd_start(p, conf, data, "tcp://127.0.0.1:0",
	                            "http://127.0.0.1:0", ports),
	                 0);
	snprintf(base, cap, "http://127.0.0.1:%d", ports[1]);
}

int
ut_unsd_gateway_stop(ut_proc *p, const char *dir)
{
	char out[8192];
	int rc = ut_unsd_stop(p, SIGTERM, out, sizeof(out));
	if (rc != 0) {
		fprintf(stderr, "unsd exited %d: %s\n", rc, out);
	}
	ut_rmdir(dir);
	curl_global_cleanup();
	return rc;
}

void
ut_gateway_start(ut_proc *gw, const char *rpc, const char *ca, const char *conf,
                 char *base, size_t cap)
{
	const char *argv[11] = {UNS_GATEWAY_PATH, "--rpc", rpc, "--listen",
	                        "http://127.0.0.1:0"};
	const char *markers[] = {"serving", NULL};
	int n = 5, port = 0;
	if (ca != NULL) {
		argv[n++] = "--ca";
		argv[n++] = ca;
	}
	if (conf != NULL) {
		argv[n++] = "--config";
		argv[n++] = conf;
	}
	argv[n] = NULL;
	assert_int_equal(ut_proc_start(gw, argv, markers, &port), 0);
	snprintf(base, cap, "http://127.0.0.1:%d", port);
}
