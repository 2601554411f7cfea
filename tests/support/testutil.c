/*
 * testutil.c — see testutil.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "devcert.h"
#include "jwt.h"
#include "testutil.h"
#include "utpg.h"

void
ut_mkdtemp(char *out, size_t cap)
{
	snprintf(out, cap, "/tmp/uns-test-XXXXXX");
	assert_non_null(mkdtemp(out));
}

void
ut_rmdir(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

void
ut_write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

void
ut_write_file(const char *path, const char *text)
{
	ut_write_bytes(path, text, strlen(text));
}

void
ut_mint_hs256(const uint8_t *key, size_t key_len, int64_t now_s,
              const char *sub, const char *app, const char *host,
              const char *scopes, char *out, size_t cap)
{
	uns_jwt_claims c;
	char *tok = NULL, why[256];
	memset(&c, 0, sizeof(c));
	snprintf(c.sub, sizeof(c.sub), "%s", sub ? sub : "");
	snprintf(c.app_id, sizeof(c.app_id), "%s", app ? app : "");
	snprintf(c.host, sizeof(c.host), "%s", host ? host : "");
	snprintf(c.aud, sizeof(c.aud), "uns");
	snprintf(c.scopes, sizeof(c.scopes), "%s", scopes);
	c.iat = now_s;
	c.exp = now_s + 3600;
	if (uns_jwt_mint("HS256", NULL, key, key_len, &c, &tok, why,
	                 sizeof(why)) != UNS_OK) {
		fail_msg("mint: %s", why);
	}
	if (strlen(tok) >= cap) {
		fail_msg("mint: a token of %zu bytes for %zu", strlen(tok),
		         cap);
	}
	snprintf(out, cap, "%s", tok);
	free(tok);
}

void
ut_make_certs(const char *dir)
{
	char why[512];
	assert_int_equal(uns_devcert_make_ca(dir, 2, why, sizeof(why)), UNS_OK);
	assert_int_equal(
	    uns_devcert_make_server(dir, NULL, 0, 2, why, sizeof(why)), UNS_OK);
	assert_int_equal(
	    uns_devcert_make_client(dir, "svc", 2, why, sizeof(why)), UNS_OK);
}

void
ut_server_start(ut_server *ts, const char *scheme, const char *cert_dir,
                int require_client_cert, const uns_rpc_config *base)
{
	char cert[512], ca[512], listen[64];
	int tls = strcmp(scheme, "tls") == 0;
	uns_rpc_config cfg = base ? *base : (uns_rpc_config){0};
	memset(ts, 0, sizeof(*ts));
	snprintf(listen, sizeof(listen), "%s://127.0.0.1:0",
	         tls ? "tls+tcp" : "tcp");
	cfg.url = listen;
	if (tls) {
		snprintf(cert, sizeof(cert), "%s/server.pem", cert_dir);
		snprintf(ca, sizeof(ca), "%s/ca.pem", cert_dir);
		cfg.cert_key_file = cert;
		cfg.ca_file = ca;
		cfg.require_client_cert = require_client_cert;
	}
	assert_int_equal(uns_service_open(&ts->svc, NULL), UNS_OK);
	uns_rpc_service rs = uns_service_rpc(ts->svc, UNS_SERVICE_DEFAULT);
	uns_err err = uns_rpc_server_open(&ts->rpc, &cfg, &rs);
	if (err != UNS_OK) {
		fail_msg("server: %s", uns_last_message());
	}
	assert_int_equal(uns_rpc_server_start(ts->rpc), UNS_OK);
	ts->port = uns_rpc_server_port(ts->rpc);
	assert_true(ts->port > 0);
	snprintf(ts->url, sizeof(ts->url), "%s://%s:%d",
	         tls ? "tls+tcp" : "tcp", tls ? "localhost" : "127.0.0.1",
	         ts->port);
}

void
ut_server_stop(ut_server *ts)
{
	uns_rpc_server_close(ts->rpc);
	uns_service_close(ts->svc);
	ts->rpc = NULL;
	ts->svc = NULL;
}

uns_client *
ut_client(const ut_server *ts, const char *cert_dir)
{
	char ca[512];
	uns_client *c = NULL;
	uns_client_opts o = {0};
	if (cert_dir) {
		snprintf(ca, sizeof(ca), "%s/ca.pem", cert_dir);
		o.ca_file = ca;
	}
	uns_err err = uns_client_open(&c, ts->url, &o);
	if (err != UNS_OK) {
		fail_msg("client: %s", uns_last_message());
	}
	return c;
}

/* Reads the child's stderr until a line containing "(port N)". */
static int
read_port(int fd, int *port)
{
	char buf[4096];
	size_t len = 0;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	while (len < sizeof(buf) - 1 && poll(&pfd, 1, 10000) > 0) {
		ssize_t n = read(fd, buf + len, 1);
		if (n <= 0) {
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
		char *p = strstr(buf, "(port ");
		if (p && strchr(p, ')')) {
			*port = atoi(p + 6);
			return 0;
		}
	}
	fprintf(stderr, "unsd did not start: %s\n", buf);
	return -1;
}

int
ut_unsd_start(ut_proc *p, const char *listen, const char *const *args)
{
	int fds[2];
	const char *argv[64];
	int n = 0;
	argv[n++] = UNS_UNSD_PATH;
	argv[n++] = "--listen";
	argv[n++] = listen;
	int gateway = 0;
	for (int i = 0; args && args[i] && n < 60; i++) {
		gateway |= strcmp(args[i], "--gateway-listen") == 0;
		argv[n++] = args[i];
	}
	if (!gateway) { /* no fixed HTTP port unless a test asks for one */
		argv[n++] = "--gateway-listen";
		argv[n++] = "";
	}
	n = ut_pg_unsd_args(argv, n, 63); /* its store: utpg.h */
	argv[n] = NULL;
	if (pipe(fds) != 0) {
		return -1;
	}
	pid_t parent = getpid();
	p->pid = fork();
	if (p->pid == 0) {
		/* A test that fails (cmocka jumps past its stop) must leave no
		 * unsd behind, and none holding the test's stdout, CTest's
		 * pipe: CTest would wait for it until its timeout. */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(127);
		}
		int null_fd = open("/dev/null", O_WRONLY);
		dup2(null_fd, 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	p->err_fd = fds[0];
	return read_port(p->err_fd, &p->port);
}

/* Every thread's stack of pid on stderr, when gdb is there: what a
 * process that does not stop was doing is the one clue a CI log needs. */
static void
dump_stacks(pid_t pid)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd),
	         "command -v gdb >/dev/null && gdb -p %d -batch -ex "
	         "'thread apply all bt' 1>&2",
	         (int)pid);
	if (system(cmd) != 0) {
		fprintf(stderr, "(no stacks: gdb missing or failed)\n");
	}
}

double
ut_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int
ut_unsd_stop(ut_proc *p, int sig, char *out, size_t cap)
{
	int status = 0;
	size_t len = 0;
	pid_t done = 0;
	char sink[4096];
	if (sig) {
		kill(p->pid, sig);
	}
	/* Its stderr until EOF (or until it exited: a child of its own may
	 * hold the pipe), bounded: a process that has not stopped within
	 * UT_STOP_WAIT_MS gets its stacks printed and SIGKILL. */
	struct pollfd pfd = {.fd = p->err_fd, .events = POLLIN};
	for (double end = ut_now_ms() + UT_STOP_WAIT_MS;;) {
		int r = poll(&pfd, 1, 200);
		if (r < 0 && errno != EINTR) {
			break;
		}
		if (r > 0) {
			int keep = out != NULL && len + 1 < cap;
			ssize_t n = read(p->err_fd, keep ? out + len : sink,
			                 keep ? cap - len - 1 : sizeof(sink));
			if (n <= 0) {
				break; /* EOF: it is gone or going */
			}
			len += keep ? (size_t)n : 0;
			continue;
		}
		if ((done = waitpid(p->pid, &status, WNOHANG)) == p->pid) {
			break;
		}
		if (ut_now_ms() > end) {
			fprintf(stderr,
			        "pid %d did not exit within %d s of signal %d; "
			        "its stacks:\n",
			        (int)p->pid, UT_STOP_WAIT_MS / 1000, sig);
			dump_stacks(p->pid);
			kill(p->pid, SIGKILL);
			break;
		}
	}
	if (out) {
		out[len] = '\0';
	}
	close(p->err_fd);
	if (done != p->pid) {
		waitpid(p->pid, &status, 0);
	}
	if (WIFEXITED(status)) {
		return WEXITSTATUS(status);
	}
	return WIFSIGNALED(status) ? -WTERMSIG(status) : -1;
}

int
ut_run(const char *cmd, char *out, size_t cap)
{
	char sink[4096];
	size_t len = 0, n;
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	while (out != NULL && len + 1 < cap &&
	       (n = fread(out + len, 1, cap - 1 - len, p)) > 0) {
		len += n;
	}
	if (out != NULL && cap > 0) {
		out[len] = '\0';
	}
	while (fread(sink, 1, sizeof(sink), p) > 0) {
		/* the rest, so the command never blocks on a full pipe */
	}
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
