/*
 * handshake_guard.c — see handshake_guard.h.
 *
 * A peer is keyed by a 64-bit hash of its address and port. Two tables,
 * both chained in a fixed array of buckets: the pipes' peers (with a count)
 * and the pending sockets (peer, descriptor, first seen, the sweep that
 * last saw it). A sweep drops the pending entries it did not see: their
 * socket is gone or became a pipe.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "clock.h"
#include "fnv.h"
#include "handshake_guard.h"

#define N_BUCKETS 4096
#define MAX_PORTS 8

typedef struct peer {
	struct peer *next;
	uint64_t key;
	int fd;         /* pending: the socket */
	uint32_t count; /* pipes: how many */
	uint64_t since; /* pending: first seen, monotonic µs */
	uint64_t sweep; /* pending: last seen */
	bool shut;      /* pending: shut down already */
} peer;

struct uns_hs_guard {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool stopping;
	uint32_t timeout_ms;
	int ports[MAX_PORTS];
	int n_ports;
	peer *pipes[N_BUCKETS];
	peer *pending[N_BUCKETS]; /* the guard's thread's only */
	uint64_t sweep, cut;
};

/* The key of an IPv4 or IPv6 address and port (network order). */
static uint64_t
key_of(int family, const void *addr, size_t len, uint16_t port)
{
	uint64_t h = uns_fnv(UNS_FNV_OFFSET, &family, sizeof(family));
	h = uns_fnv(h, addr, len);
	return uns_fnv(h, &port, sizeof(port));
}

static uint64_t
key_of_nng(const nng_sockaddr *sa)
{
	if (sa->s_family == NNG_AF_INET) {
		return key_of(AF_INET, &sa->s_in.sa_addr, 4, sa->s_in.sa_port);
	}
	if (sa->s_family == NNG_AF_INET6) {
		return key_of(AF_INET6, sa->s_in6.sa_addr, 16,
		              sa->s_in6.sa_port);
	}
	return 0;
}

static peer **
find(peer **table, uint64_t key, int fd)
{
	peer **p = &table[key % N_BUCKETS];
	while (*p && ((*p)->key != key || (fd >= 0 && (*p)->fd != fd))) {
		p = &(*p)->next;
	}
	return p;
}

/* The peer key of fd when it is a TCP socket accepted on one of ports,
 * else 0. */
static uint64_t
accepted_peer(int fd, const int *ports, int n_ports)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int listening = 0;
	socklen_t ilen = sizeof(listening);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		return 0;
	}
	uint16_t port;
	if (ss.ss_family == AF_INET) {
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		return 0;
	}
	bool ours = false;
	for (int i = 0; i < n_ports; i++) {
		ours |= ports[i] == port;
	}
	if (!ours ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ilen) != 0 ||
	    listening) {
		return 0;
	}
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
		return 0;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		return key_of(AF_INET, &in->sin_addr, 4, in->sin_port);
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	return key_of(AF_INET6, &in6->sin6_addr, 16, in6->sin6_port);
}

/* One pass over the descriptors; called without the lock (it takes it
 * per socket to look at the pipes). */
static void
sweep(uns_hs_guard *g)
{
	int ports[MAX_PORTS], n_ports;
	pthread_mutex_lock(&g->mu);
	n_ports = g->n_ports;
	memcpy(ports, g->ports, sizeof(ports));
	pthread_mutex_unlock(&g->mu);
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL || n_ports == 0) {
		if (d) {
			closedir(d);
		}
		return;
	}
	uint64_t now = uns_mono_us(), run = ++g->sweep;
	uint64_t limit = (uint64_t)g->timeout_ms * 1000u;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] == '.' || fd == dirfd(d)) {
			continue;
		}
		uint64_t key = accepted_peer(fd, ports, n_ports);
		if (key == 0) {
			continue;
		}
		pthread_mutex_lock(&g->mu);
		bool piped = *find(g->pipes, key, -1) != NULL;
		pthread_mutex_unlock(&g->mu);
		if (piped) {
			continue;
		}
		peer **p = find(g->pending, key, fd);
		if (*p == NULL) {
			peer *n = calloc(1, sizeof(*n));
			if (n == NULL) {
				continue;
			}
			n->key = key;
			n->fd = fd;
			n->since = now;
			*p = n;
		}
		(*p)->sweep = run;
		if (!(*p)->shut && now - (*p)->since > limit &&
		    accepted_peer(fd, ports, n_ports) == key) {
			shutdown(fd, SHUT_RDWR);
			(*p)->shut = true;
			pthread_mutex_lock(&g->mu);
			g->cut++;
			pthread_mutex_unlock(&g->mu);
		}
	}
	closedir(d);
	for (int b = 0; b < N_BUCKETS; b++) {
		for (peer **p = &g->pending[b]; *p != NULL;) {
			if ((*p)->sweep != run) {
				peer *gone = *p;
				*p = gone->next;
				free(gone);
			} else {
				p = &(*p)->next;
			}
		}
	}
}

static void *
run(void *arg)
{
	uns_hs_guard *g = arg;
	pthread_mutex_lock(&g->mu);
	while (!g->stopping) {
		struct timespec until;
		uns_deadline_after_us(&until, (uint64_t)g->timeout_ms * 500u);
		pthread_cond_timedwait(&g->cv, &g->mu, &until);
		if (!g->stopping) {
			pthread_mutex_unlock(&g->mu);
			sweep(g);
			pthread_mutex_lock(&g->mu);
		}
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

uns_err
uns_hs_guard_open(uns_hs_guard **out, uint32_t timeout_ms)
{
	*out = NULL;
	if (timeout_ms == 0) {
		return UNS_OK;
	}
	uns_hs_guard *g = calloc(1, sizeof(*g));
	if (g == NULL) {
		return UNS_ENOMEM;
	}
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, &attr);
	pthread_condattr_destroy(&attr);
	g->timeout_ms = timeout_ms;
	if (pthread_create(&g->thread, NULL, run, g) != 0) {
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		free(g);
		return UNS_ENOMEM;
	}
	*out = g;
	return UNS_OK;
}

static void
free_table(peer **table)
{
	for (int b = 0; b < N_BUCKETS; b++) {
		while (table[b]) {
			peer *p = table[b];
			table[b] = p->next;
			free(p);
		}
	}
}

void
uns_hs_guard_close(uns_hs_guard *g)
{
	if (g == NULL) {
		return;
	}
	pthread_mutex_lock(&g->mu);
	g->stopping = true;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->thread, NULL);
	free_table(g->pipes);
	free_table(g->pending);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

void
uns_hs_guard_port(uns_hs_guard *g, int port)
{
	if (g == NULL) {
		return;
	}
	pthread_mutex_lock(&g->mu);
	if (g->n_ports < MAX_PORTS) {
		g->ports[g->n_ports++] = port;
	}
	pthread_mutex_unlock(&g->mu);
}

void
uns_hs_guard_pipe(uns_hs_guard *g, const nng_sockaddr *sa, int add)
{
	uint64_t key;
	if (g == NULL || (key = key_of_nng(sa)) == 0) {
		return;
	}
	pthread_mutex_lock(&g->mu);
	peer **p = find(g->pipes, key, -1);
	if (add && *p == NULL) {
		peer *n = calloc(1, sizeof(*n));
		if (n != NULL) {
			n->key = key;
			n->fd = -1;
			*p = n;
		}
	}
	if (*p != NULL) {
		if (add) {
			(*p)->count++;
		} else if (--(*p)->count == 0) {
			peer *gone = *p;
			*p = gone->next;
			free(gone);
		}
	}
	pthread_mutex_unlock(&g->mu);
}

uint64_t
uns_hs_guard_cut(uns_hs_guard *g)
{
	if (g == NULL) {
		return 0;
	}
	pthread_mutex_lock(&g->mu);
	uint64_t n = g->cut;
	pthread_mutex_unlock(&g->mu);
	return n;
}
