/*
 * receiver.c — the HTTP receiver of delivery tests (receiver.h), on
 * libmicrohttpd with a thread per connection (so a delay only holds its
 * own connection). State is one mutex-protected table of paths.
 */
#include "receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#define RX_PATHS   64
#define RX_SCRIPTS 8
#define RX_BODY    4096

struct rx_script {
	int n, status, secs;
};

struct rx_path {
	char path[128];
	int count;
	char body[RX_BODY];
	int64_t first_ms, last_ms;
	struct rx_script script[RX_SCRIPTS];
	int nscript;
};

struct ut_rx {
	struct MHD_Daemon *d;
	int port, delay_ms;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rx_path paths[RX_PATHS];
	int npaths, total;
};

struct rx_req {
	char *body;
	size_t len;
};

static int64_t
rx_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The entry of path, made if missing; mu held. */
static struct rx_path *
rx_path(ut_rx *rx, const char *path)
{
	for (int i = 0; i < rx->npaths; i++) {
		if (strcmp(rx->paths[i].path, path) == 0) {
			return &rx->paths[i];
		}
	}
	if (rx->npaths == RX_PATHS) {
		abort();
	}
	struct rx_path *p = &rx->paths[rx->npaths++];
	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "%s", path);
	return p;
}

/* Records a request and picks its answer; mu held. */
static void
rx_record(ut_rx *rx, const char *path, const struct rx_req *r, int *status,
          int *secs)
{
	struct rx_path *p = rx_path(rx, path);

	p->count++;
	rx->total++;
	p->last_ms = rx_now();
	if (p->first_ms == 0) {
		p->first_ms = p->last_ms;
	}
	snprintf(p->body, sizeof(p->body), "%.*s", (int)r->len,
	         r->body != NULL ? r->body : "");
	*status = 200;
	*secs = -1;
	if (p->nscript > 0) {
		*status = p->script[0].status;
		*secs = p->script[0].secs;
		if (--p->script[0].n == 0) {
			memmove(p->script, p->script + 1,
			        (size_t)(--p->nscript) * sizeof(p->script[0]));
		}
	}
	pthread_cond_broadcast(&rx->cv);
}

static enum MHD_Result
rx_answer(struct MHD_Connection *c, int status, int secs)
{
	static const char ok[] = "{}";
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    sizeof(ok) - 1, (void *)ok, MHD_RESPMEM_PERSISTENT);
	char ra[16];
	enum MHD_Result rv;

	if (resp == NULL) {
		return MHD_NO;
	}
	if (secs >= 0) {
		snprintf(ra, sizeof(ra), "%d", secs);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	rv = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return rv;
}

static enum MHD_Result
rx_handle(void *cls, struct MHD_Connection *c, const char *url,
          const char *method, const char *version, const char *data,
          size_t *size, void **state)
{
	ut_rx *rx = cls;
	struct rx_req *r = *state;
	int status, secs, delay;

	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL) {
			return MHD_NO;
		}
		*state = r;
		return MHD_YES;
	}
	if (*size > 0) {
		char *nb = realloc(r->body, r->len + *size + 1);
		if (nb == NULL) {
			return MHD_NO;
		}
		memcpy(nb + r->len, data, *size);
		r->body = nb;
		r->len += *size;
		*size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&rx->mu);
	rx_record(rx, url, r, &status, &secs);
	delay = rx->delay_ms;
	pthread_mutex_unlock(&rx->mu);
	if (delay > 0) {
		usleep((useconds_t)delay * 1000);
	}
	return rx_answer(c, status, secs);
}

static void
rx_done(void *cls, struct MHD_Connection *c, void **state,
        enum MHD_RequestTerminationCode why)
{
	struct rx_req *r = *state;

	if (r != NULL) {
		free(r->body);
		free(r);
		*state = NULL;
	}
}

void
ut_rx_start(ut_rx *rx)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)rx->port)};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rx->d = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
	    (uint16_t)rx->port, NULL, NULL, rx_handle, rx, MHD_OPTION_SOCK_ADDR,
	    &sa, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
	    MHD_OPTION_NOTIFY_COMPLETED, rx_done, rx, MHD_OPTION_END);
	if (rx->d == NULL) {
		fprintf(stderr, "receiver: cannot listen on port %d\n",
		        rx->port);
		abort();
	}
	if (rx->port == 0) {
		const union MHD_DaemonInfo *i =
		    MHD_get_daemon_info(rx->d, MHD_DAEMON_INFO_BIND_PORT);
		rx->port = i->port;
	}
}

void
ut_rx_stop(ut_rx *rx)
{
	if (rx->d != NULL) {
		MHD_stop_daemon(rx->d);
		rx->d = NULL;
	}
}

ut_rx *
ut_rx_open(int port)
{
	ut_rx *rx = calloc(1, sizeof(*rx));

	if (rx == NULL) {
		abort();
	}
	rx->port = port;
	pthread_mutex_init(&rx->mu, NULL);
	pthread_cond_init(&rx->cv, NULL);
	ut_rx_start(rx);
	return rx;
}

void
ut_rx_close(ut_rx *rx)
{
	if (rx == NULL) {
		return;
	}
	ut_rx_stop(rx);
	pthread_cond_destroy(&rx->cv);
	pthread_mutex_destroy(&rx->mu);
	free(rx);
}

int
ut_rx_port(const ut_rx *rx)
{
	return rx->port;
}

void
ut_rx_script(ut_rx *rx, const char *path, int n, int status, int secs)
{
	pthread_mutex_lock(&rx->mu);
	struct rx_path *p = rx_path(rx, path);
	if (p->nscript == RX_SCRIPTS) {
		abort();
	}
	p->script[p->nscript++] = (struct rx_script){n, status, secs};
	pthread_mutex_unlock(&rx->mu);
}

void
ut_rx_delay(ut_rx *rx, int ms)
{
	pthread_mutex_lock(&rx->mu);
	rx->delay_ms = ms;
	pthread_mutex_unlock(&rx->mu);
}

int
ut_rx_count(ut_rx *rx, const char *path)
{
	pthread_mutex_lock(&rx->mu);
	int n = rx_path(rx, path)->count;
	pthread_mutex_unlock(&rx->mu);
	return n;
}

int
ut_rx_total(ut_rx *rx)
{
	pthread_mutex_lock(&rx->mu);
	int n = rx->total;
	pthread_mutex_unlock(&rx->mu);
	return n;
}

bool
ut_rx_wait(ut_rx *rx, const char *path, int n, int timeout_ms)
{
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&rx->mu);
	while (rx_path(rx, path)->count < n &&
	       pthread_cond_timedwait(&rx->cv, &rx->mu, &ts) == 0) {
	}
	ok = rx_path(rx, path)->count >= n;
	pthread_mutex_unlock(&rx->mu);
	return ok;
}

void
ut_rx_body(ut_rx *rx, const char *path, char *out, size_t cap)
{
	pthread_mutex_lock(&rx->mu);
	snprintf(out, cap, "%s", rx_path(rx, path)->body);
	pthread_mutex_unlock(&rx->mu);
}

int64_t
ut_rx_first_ms(ut_rx *rx, const char *path)
{
	pthread_mutex_lock(&rx->mu);
	int64_t t = rx_path(rx, path)->first_ms;
	pthread_mutex_unlock(&rx->mu);
	return t;
}

int64_t
ut_rx_last_ms(ut_rx *rx, const char *path)
{
	pthread_mutex_lock(&rx->mu);
	int64_t t = rx_path(rx, path)->last_ms;
	pthread_mutex_unlock(&rx->mu);
	return t;
}
