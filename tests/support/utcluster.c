/*
 * utcluster.c — see utcluster.h. A child is fork+execv with its stderr
 * and stdout appended to a log file; "started" means a marker line turned
 * up in the part of the log written since this start (the file's size
 * before it is the offset), while the child is still alive. Polled every
 * 20 ms up to START_WAIT_MS: a loaded machine with a database starting
 * takes seconds, never a minute.
 */
#include "utcluster.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_WAIT_MS 60000
#define STOP_WAIT_MS  30000 /* a drain longer than this is killed */
#define POLL_MS       20
#define START_TRIES   20 /* a fixed port still held by the last run */

static void
nap_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static long
file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* fork+execv argv with stdout and stderr appended to log; the child dies
 * with its parent. 0 on failure. */
static pid_t
spawn(const char *const *argv, const char *log)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0) {
		return pid < 0 ? 0 : pid;
	}
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) {
		_exit(127);
	}
	int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0600);
	int null_fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || null_fd < 0) {
		_exit(127);
	}
	dup2(null_fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

/* Waits for pid, SIGKILLing it after wait_ms; exit status or -signal. */
static int
reap(pid_t pid, int wait_ms)
{
	int status = 0;
	for (int waited = 0;; waited += POLL_MS) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			break;
		}
		if (r < 0) {
			return -1;
		}
		if (waited >= wait_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		nap_ms(POLL_MS);
	}
	if (WIFEXITED(status)) {
		return WEXITSTATUS(status);
	}
	return WIFSIGNALED(status) ? -WTERMSIG(status) : -1;
}

/* Reads log from offset looking for each marker line; ports[i] gets the
 * number after the marker's `after` text (when not NULL). 0 once every
 * marker is there, -1 when pid exited (reaped) or time ran out. */
typedef struct marker {
	const char *line;  /* text the line contains */
	const char *after; /* the port follows this text, or NULL */
} marker;

static int
wait_markers(pid_t pid, const char *log, long offset, const marker *m, int n,
             int *ports)
{
	char buf[65536];
	for (int waited = 0; waited < START_WAIT_MS; waited += POLL_MS) {
		FILE *f = fopen(log, "r");
		size_t len = 0;
		if (f != NULL) {
			if (fseek(f, offset, SEEK_SET) == 0) {
				len = fread(buf, 1, sizeof(buf) - 1, f);
			}
			fclose(f);
		}
		buf[len] = '\0';
		int seen = 0;
		for (int i = 0; i < n; i++) {
			const char *p = strstr(buf, m[i].line);
			if (p == NULL) {
				break;
			}
			const char *q =
			    m[i].after ? strstr(p, m[i].after) : NULL;
			const char *eol = strchr(p, '\n');
			if (eol == NULL || (m[i].after && q == NULL) ||
			    (q != NULL && q > eol)) {
				break;
			}
			if (q != NULL && ports != NULL) {
				ports[i] = atoi(q + strlen(m[i].after));
			}
			seen++;
		}
		if (seen == n) {
			return 0;
		}
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			return -1;
		}
		nap_ms(POLL_MS);
	}
	return -1;
}

/* The last bytes of a log, to stderr, when a start failed. */
static void
show_tail(const char *log)
{
	char buf[4096];
	FILE *f = fopen(log, "r");
	if (f == NULL) {
		return;
	}
	long size = file_size(log);
	if (size > (long)sizeof(buf) - 1) {
		fseek(f, size - (long)sizeof(buf) + 1, SEEK_SET);
	}
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	fprintf(stderr, "--- %s (tail) ---\n%s\n---\n", log, buf);
}

/* ==== nats-server ======================================================== */

bool
ut_nats_found(ut_nats *n, char *why, size_t cap)
{
	const char *cand[] = {getenv("UNS_NATS_SERVER"),
	                      "/usr/sbin/nats-server", "/usr/bin/nats-server"};
	memset(n, 0, sizeof(*n));
	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
		if (cand[i] != NULL && cand[i][0] != '\0' &&
		    access(cand[i], X_OK) == 0) {
			snprintf(n->bin, sizeof(n->bin), "%s", cand[i]);
			return true;
		}
	}
	snprintf(why, cap,
	         "nats-server not found (install nats-server, or set "
	         "UNS_NATS_SERVER)");
	return false;
}

static int
nats_spawn(ut_nats *n)
{
	char port[16];
	snprintf(port, sizeof(port), "%d", n->port > 0 ? n->port : -1);
	const char *argv[] = {n->bin, "-a", "127.0.0.1", "-p", port, NULL};
	const marker m[] = {
	    {"Listening for client connections on", "127.0.0.1:"},
	    {"Server is ready", NULL},
	};
	int ports[2] = {0, 0};
	for (int t = 0; t < START_TRIES; t++) {
		long offset = file_size(n->log);
		n->pid = spawn(argv, n->log);
		if (n->pid == 0) {
			return -1;
		}
		if (wait_markers(n->pid, n->log, offset, m, 2, ports) == 0) {
			n->port = ports[0];
			snprintf(n->url, sizeof(n->url), "nats://127.0.0.1:%d",
			         n->port);
			return 0;
		}
		(void)reap(n->pid, 0);
		n->pid = 0;
		if (n->port <= 0) {
			break; /* not a port held over: a real failure */
		}
		nap_ms(250);
	}
	show_tail(n->log);
	return -1;
}

int
ut_nats_start(ut_nats *n, const char *log_dir, char *why, size_t cap)
{
	if (n->bin[0] == '\0' && !ut_nats_found(n, why, cap)) {
		return -1;
	}
	snprintf(n->log, sizeof(n->log), "%s/nats.log", log_dir);
	n->port = 0;
	if (nats_spawn(n) != 0) {
		snprintf(why, cap, "nats-server did not start: see %s", n->log);
		return -1;
	}
	return 0;
}

static void
nats_signal(ut_nats *n, int sig)
{
	if (n->pid > 0) {
		kill(n->pid, sig);
		(void)reap(n->pid, STOP_WAIT_MS);
		n->pid = 0;
	}
}

void
ut_nats_stop(ut_nats *n)
{
	nats_signal(n, SIGTERM);
}

void
ut_nats_kill(ut_nats *n)
{
	nats_signal(n, SIGKILL);
}

int
ut_nats_restart(ut_nats *n)
{
	nats_signal(n, SIGTERM);
	return nats_spawn(n);
}

/* ==== the unsd nodes ===================================================== */

static int
write_private(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		return -1;
	}
	size_t len = strlen(text);
	int ok = write(fd, text, len) == (ssize_t)len;
	close(fd);
	return ok ? 0 : -1;
}

/* 64 hex digits from /dev/urandom, as unsd makes its dev secret. */
static int
make_secret(char out[66])
{
	unsigned char raw[32];
	int fd = open("/dev/urandom", O_RDONLY);
	int ok = fd >= 0 && read(fd, raw, sizeof(raw)) == (ssize_t)sizeof(raw);
	if (fd >= 0) {
		close(fd);
	}
	for (int i = 0; i < 32; i++) {
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	}
	out[64] = '\n';
	out[65] = '\0';
	return ok ? 0 : -1;
}

const char *
ut_cluster_data(const ut_cluster *c, int i)
{
	return c->node[i].data;
}

int
ut_cluster_start(ut_cluster *c, int i, const char *const *sets)
{
	ut_cnode *nd = &c->node[i];
	char listen[64], http[64], pg_set[600], schema_set[96], nats_set[96];
	const char *argv[16 + 2 * UT_CLUSTER_SETS + 32];
	int n = 0;
	if (nd->pid > 0) {
		return -1;
	}
	snprintf(listen, sizeof(listen), "tcp://127.0.0.1:%d", nd->rpc_port);
	snprintf(http, sizeof(http), "http://127.0.0.1:%d", nd->http_port);
	snprintf(pg_set, sizeof(pg_set), "postgres_url=%s", c->pg->url);
	snprintf(schema_set, sizeof(schema_set), "postgres_schema=%s",
	         c->schema);
	snprintf(nats_set, sizeof(nats_set), "nats_url=%s", c->nats_url);
	argv[n++] = UNS_UNSD_PATH;
	argv[n++] = "--data";
	argv[n++] = nd->data;
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--gateway-listen";
	argv[n++] = c->gateway ? http : "";
	argv[n++] = "--set";
	argv[n++] = "store=postgres";
	argv[n++] = "--set";
	argv[n++] = pg_set;
	argv[n++] = "--set";
	argv[n++] = schema_set;
	argv[n++] = "--set";
	argv[n++] = nats_set;
	for (int k = 0; k < c->n_sets; k++) {
		argv[n++] = "--set";
		argv[n++] = c->sets[k];
	}
	for (int k = 0; sets != NULL && sets[k] != NULL && k < 16; k++) {
		argv[n++] = "--set";
		argv[n++] = sets[k];
	}
	argv[n] = NULL;

	const marker m[] = {
	    {"unsd: serving", "(port "},
	    {"unsd: gateway on", "(port "},
	};
	int ports[2] = {0, 0};
	for (int t = 0; t < START_TRIES; t++) {
		long offset = file_size(nd->log);
		nd->pid = spawn(argv, nd->log);
		if (nd->pid == 0) {
			return -1;
		}
		if (wait_markers(nd->pid, nd->log, offset, m,
		                 c->gateway ? 2 : 1, ports) == 0) {
			nd->rpc_port = ports[0];
			nd->http_port = ports[1];
			snprintf(nd->rpc_url, sizeof(nd->rpc_url),
			         "tcp://127.0.0.1:%d", nd->rpc_port);
			if (c->gateway) {
				snprintf(nd->http_base, sizeof(nd->http_base),
				         "http://127.0.0.1:%d", nd->http_port);
			}
			return 0;
		}
		(void)reap(nd->pid, 0);
		nd->pid = 0;
		if (nd->rpc_port == 0) {
			break; /* not a port held over: a real failure */
		}
		nap_ms(250);
	}
	show_tail(nd->log);
	return -1;
}

int
ut_cluster_stop(ut_cluster *c, int i, int sig)
{
	ut_cnode *nd = &c->node[i];
	if (nd->pid <= 0) {
		return -1;
	}
	kill(nd->pid, sig);
	int rc = reap(nd->pid, STOP_WAIT_MS);
	nd->pid = 0;
	return rc;
}

int
ut_cluster_open(ut_cluster *c, const ut_pg *pg, const ut_cluster_opts *o,
                char *why, size_t cap)
{
	char tmpl[] = "/tmp/uns-cl.XXXXXX", secret[66], path[400];
	memset(c, 0, sizeof(*c));
	if (o->nodes < 1 || o->nodes > UT_CLUSTER_MAX) {
		snprintf(why, cap, "nodes: 1..%d", UT_CLUSTER_MAX);
		return -1;
	}
	if (mkdtemp(tmpl) == NULL || make_secret(secret) != 0) {
		snprintf(why, cap, "mkdtemp or /dev/urandom: %s",
		         strerror(errno));
		return -1;
	}
	snprintf(c->dir, sizeof(c->dir), "%s", tmpl);
	c->pg = pg;
	c->n = o->nodes;
	c->gateway = o->gateway;
	ut_pg_schema(c->schema, sizeof(c->schema));
	snprintf(c->nats_url, sizeof(c->nats_url), "%s",
	         o->nats_url ? o->nats_url : "");
	for (int k = 0; o->sets != NULL && o->sets[k] != NULL; k++) {
		if (c->n_sets == UT_CLUSTER_SETS) {
			snprintf(why, cap, "more than %d sets",
			         UT_CLUSTER_SETS);
			return -1;
		}
		snprintf(c->sets[c->n_sets++], sizeof(c->sets[0]), "%s",
		         o->sets[k]);
	}
	for (int i = 0; i < c->n; i++) {
		ut_cnode *nd = &c->node[i];
		snprintf(nd->data, sizeof(nd->data), "%s/node%d", c->dir, i);
		snprintf(nd->log, sizeof(nd->log), "%s/node%d.log", c->dir, i);
		snprintf(path, sizeof(path), "%s/jwt-hs256.secret", nd->data);
		if (mkdir(nd->data, 0700) != 0 ||
		    write_private(path, secret) != 0) {
			snprintf(why, cap, "cannot write %s", path);
			return -1;
		}
		snprintf(path, sizeof(path), "%s/apps.conf", nd->data);
		if (o->apps != NULL && write_private(path, o->apps) != 0) {
			snprintf(why, cap, "cannot write %s", path);
			return -1;
		}
	}
	for (int i = 0; i < c->n; i++) {
		if (ut_cluster_start(c, i, NULL) != 0) {
			snprintf(why, cap, "node %d did not start: see %s", i,
			         c->node[i].log);
			return -1;
		}
	}
	return 0;
}

void
ut_cluster_close(ut_cluster *c)
{
	char sql[128], cmd[200];
	for (int i = 0; i < c->n; i++) {
		(void)ut_cluster_stop(c, i, SIGTERM);
	}
	if (c->pg != NULL && c->schema[0] != '\0') {
		snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE",
		         c->schema);
		(void)ut_pg_sql(c->pg, sql);
	}
	if (c->dir[0] != '\0' && getenv("UNS_KEEP_CLUSTER") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
		(void)system(cmd);
	}
	c->dir[0] = '\0';
}

bool
ut_cluster_log_has(const ut_cluster *c, int i, const char *text)
{
	char buf[1 << 16];
	bool found = false;
	FILE *f = fopen(c->node[i].log, "r");
	if (f == NULL) {
		return false;
	}
	/* Overlapping windows, so a match across a boundary is seen. */
	size_t keep = strlen(text), len = 0, n;
	while (!found &&
	       (n = fread(buf + len, 1, sizeof(buf) - 1 - len, f)) > 0) {
		len += n;
		buf[len] = '\0';
		found = strstr(buf, text) != NULL;
		if (len > keep) {
			memmove(buf, buf + len - keep, keep);
			len = keep;
		}
	}
	fclose(f);
	return found;
}
