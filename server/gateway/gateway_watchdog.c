/*
 * gateway_watchdog.c — see gateway_watchdog.h.
 *
 * A linked list under one mutex: connections number in the hundreds and
 * the check runs four times a second, so a scan is cheaper than a heap.
 * shutdown() (not close()) is what makes this safe: the descriptor stays
 * MHD's; its thread sees end-of-file and closes the connection itself,
 * and removes it here (under the same mutex) before closing the socket.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "gateway_watchdog.h"

#define TICK_MS 250

typedef struct watched {
	struct watched *next;
	const void *conn;
	int fd;
	uns_gw_phase phase;
	int64_t since_ms;
	int shut; /* already shut down */
} watched;

struct uns_gw_watchdog {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int stopping;
	uint32_t header_ms, body_ms;
	watched *head;
};

static int64_t
mono_ms(void)
{
	return (int64_t)(uns_mono_us() / 1000u);
}

static void
check_all(uns_gw_watchdog *w, int64_t now)
{
	for (watched *c = w->head; c != NULL; c = c->next) {
		int64_t limit = -1;
		if (c->phase == UNS_GW_PHASE_HEADERS) {
			limit = w->header_ms;
		} else if (c->phase == UNS_GW_PHASE_BODY) {
			limit = w->body_ms;
		}
		if (!c->shut && limit >= 0 && now - c->since_ms > limit &&
		    c->fd >= 0) {
			shutdown(c->fd, SHUT_RDWR);
			c->shut = 1;
		}
	}
}

static void *
run(void *arg)
{
	uns_gw_watchdog *w = arg;
	pthread_mutex_lock(&w->mu);
	while (!w->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cv, &w->mu, &until);
		check_all(w, mono_ms());
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

uns_err
uns_gw_watchdog_open(uns_gw_watchdog **out, uint32_t header_ms,
                     uint32_t body_ms)
{
	uns_gw_watchdog *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return UNS_ENOMEM;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->header_ms = header_ms;
	w->body_ms = body_ms;
	if (pthread_create(&w->thread, NULL, run, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return UNS_ENOMEM;
	}
	*out = w;
	return UNS_OK;
}

void
uns_gw_watchdog_close(uns_gw_watchdog *w)
{
	if (w == NULL) {
		return;
	}
	pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	while (w->head) {
		watched *c = w->head;
		w->head = c->next;
		free(c);
	}
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

void
uns_gw_watchdog_add(uns_gw_watchdog *w, const void *conn, int fd)
{
	watched *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return; /* unwatched: MHD's idle timeout still applies */
	}
	c->conn = conn;
	c->fd = fd;
	c->phase = UNS_GW_PHASE_HEADERS;
	c->since_ms = mono_ms();
	pthread_mutex_lock(&w->mu);
	c->next = w->head;
	w->head = c;
	pthread_mutex_unlock(&w->mu);
}

void
uns_gw_watchdog_remove(uns_gw_watchdog *w, const void *conn)
{
	pthread_mutex_lock(&w->mu);
	for (watched **p = &w->head; *p != NULL; p = &(*p)->next) {
		if ((*p)->conn == conn) {
			watched *c = *p;
			*p = c->next;
			free(c);
			break;
		}
	}
	pthread_mutex_unlock(&w->mu);
}

void
uns_gw_watchdog_phase(uns_gw_watchdog *w, const void *conn, uns_gw_phase phase)
{
	pthread_mutex_lock(&w->mu);
	for (watched *c = w->head; c != NULL; c = c->next) {
		if (c->conn == conn) {
			c->phase = phase;
			c->since_ms = mono_ms();
			break;
		}
	}
	pthread_mutex_unlock(&w->mu);
}
