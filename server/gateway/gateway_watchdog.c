/*
 * gateway_watchdog.c — see gateway_watchdog.h.
 *
 * Two lists under one mutex, one per phase with a deadline (HEADERS,
 * BODY), each in the order of entry: with one timeout per phase, that is
 * the order of the deadlines, so the tick pops expired heads and stops at
 * the first that is not. BUSY connections are in no list. The former
 * design scanned one list of every connection per tick and per phase
 * change (O(n) each, fine for hundreds; not for 100,000 waiting clients).
 *
 * shutdown() (not close()) is what makes this safe: the descriptor stays
 * MHD's; its thread sees end-of-file and closes the connection itself, and
 * removes it here (under the same mutex) before closing the socket.
 *
 * The thread sleeps in epoll_wait, which also reports hang-ups of armed
 * (parked) connections. An event may name a connection removed while the
 * wait was under way: a removed connection that was ever armed is freed
 * only before the next wait starts (the limbo list), so no event can name
 * freed memory. Rejected: a second thread for the hang-ups.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "gateway_watchdog.h"

#define TICK_MS 250

struct uns_gw_watched {
	struct uns_gw_watched *next, *prev;
	int fd;
	int fresh; /* no request yet */
	uns_gw_phase phase;
	int64_t since_ms;
	int armed, ever_armed; /* in the epoll set now; once */
	void (*hup_fn)(void *arg);
	void *hup_arg;
};

typedef struct phase_list {
	uns_gw_watched *head, *tail;
} phase_list;

struct uns_gw_watchdog {
	pthread_mutex_t mu;
	pthread_t thread;
	int stopping;
	int epfd, stop_fd;     /* hang-ups; the eventfd that wakes the stop */
	uns_gw_watched *limbo; /* removed after an arm: freed before a wait */
	uint32_t limit_ms[2];  /* HEADERS, BODY */
	phase_list lists[2];
	size_t n, n_fresh; /* watched; before their first request */
};

static int64_t
mono_ms(void)
{
	return (int64_t)(uns_mono_us() / 1000u);
}

static phase_list *
list_of(uns_gw_watchdog *w, uns_gw_phase phase)
{
	return phase == UNS_GW_PHASE_BUSY ? NULL : &w->lists[phase];
}

static void
unlink_c(uns_gw_watchdog *w, uns_gw_watched *c)
{
	phase_list *l = list_of(w, c->phase);
	if (l == NULL) {
		return;
	}
	if (c->prev) {
		c->prev->next = c->next;
	} else {
		l->head = c->next;
	}
	if (c->next) {
		c->next->prev = c->prev;
	} else {
		l->tail = c->prev;
	}
	c->next = c->prev = NULL;
}

static void
enter(uns_gw_watchdog *w, uns_gw_watched *c, uns_gw_phase phase)
{
	c->phase = phase;
	c->since_ms = mono_ms();
	phase_list *l = list_of(w, phase);
	if (l == NULL) {
		return;
	}
	c->next = NULL;
	c->prev = l->tail;
	if (l->tail) {
		l->tail->next = c;
	} else {
		l->head = c;
	}
	l->tail = c;
}

/* Shuts down the expired and moves them to BUSY (no deadline): MHD
 * closes them and removes them soon. */
static void
check_all(uns_gw_watchdog *w, int64_t now)
{
	for (int p = 0; p < 2; p++) {
		uns_gw_watched *c;
		while ((c = w->lists[p].head) != NULL &&
		       now - c->since_ms > w->limit_ms[p]) {
			unlink_c(w, c);
			c->phase = UNS_GW_PHASE_BUSY;
			if (c->fd >= 0) {
				shutdown(c->fd, SHUT_RDWR);
			}
		}
	}
}

/* Called with w->mu held. */
static void
disarm(uns_gw_watchdog *w, uns_gw_watched *c)
{
	if (c->armed) {
		c->armed = 0;
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	}
}

static void *
run(void *arg)
{
	uns_gw_watchdog *w = arg;
	struct epoll_event ev[64];
	int64_t next = mono_ms() + TICK_MS;
	pthread_mutex_lock(&w->mu);
	while (!w->stopping) {
		while (w->limbo != NULL) {
			uns_gw_watched *c = w->limbo;
			w->limbo = c->next;
			free(c);
		}
		pthread_mutex_unlock(&w->mu);
		int64_t now = mono_ms();
		int n = epoll_wait(w->epfd, ev, 64,
		                   next > now ? (int)(next - now) : 0);
		pthread_mutex_lock(&w->mu);
		for (int i = 0; i < n; i++) {
			uns_gw_watched *c = ev[i].data.ptr;
			if (c != NULL &&
			    c->armed) { /* else the stop, or gone */
				disarm(w, c);
				c->hup_fn(c->hup_arg);
			}
		}
		if ((now = mono_ms()) >= next) {
			check_all(w, now);
			next = now + TICK_MS;
		}
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
	w->limit_ms[UNS_GW_PHASE_HEADERS] = header_ms;
	w->limit_ms[UNS_GW_PHASE_BODY] = body_ms;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (w->epfd < 0 || w->stop_fd < 0 ||
	    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->stop_fd, &ev) != 0 ||
	    pthread_create(&w->thread, NULL, run, w) != 0) {
		if (w->epfd >= 0) {
			close(w->epfd);
		}
		if (w->stop_fd >= 0) {
			close(w->stop_fd);
		}
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
	uint64_t one = 1;
	pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	pthread_mutex_unlock(&w->mu);
	if (write(w->stop_fd, &one, sizeof(one)) != sizeof(one)) {
		/* the wait ends at the next tick anyway */
	}
	pthread_join(w->thread, NULL);
	/* Connections still listed belong to MHD's daemon, stopped before
	 * this: it removed each one. */
	while (w->limbo != NULL) {
		uns_gw_watched *c = w->limbo;
		w->limbo = c->next;
		free(c);
	}
	close(w->epfd);
	close(w->stop_fd);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

uns_gw_watched *
uns_gw_watchdog_add(uns_gw_watchdog *w, int fd)
{
	uns_gw_watched *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return NULL;
	}
	c->fd = fd;
	c->fresh = 1;
	pthread_mutex_lock(&w->mu);
	enter(w, c, UNS_GW_PHASE_HEADERS);
	w->n++;
	w->n_fresh++;
	pthread_mutex_unlock(&w->mu);
	return c;
}

void
uns_gw_watchdog_remove(uns_gw_watchdog *w, uns_gw_watched *c)
{
	if (c == NULL) {
		return;
	}
	pthread_mutex_lock(&w->mu);
	unlink_c(w, c);
	disarm(w, c);
	w->n--;
	w->n_fresh -= c->fresh;
	if (c->ever_armed) { /* a wait under way may still name it */
		c->next = w->limbo;
		w->limbo = c;
		c = NULL;
	}
	pthread_mutex_unlock(&w->mu);
	free(c);
}

void
uns_gw_watchdog_arm(uns_gw_watchdog *w, uns_gw_watched *c,
                    void (*fn)(void *arg), void *arg)
{
	if (w == NULL || c == NULL || c->fd < 0) {
		return;
	}
	struct epoll_event ev = {.events = EPOLLRDHUP, .data.ptr = c};
	pthread_mutex_lock(&w->mu);
	c->hup_fn = fn;
	c->hup_arg = arg;
	if (!c->armed && epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) == 0) {
		c->armed = c->ever_armed = 1;
	}
	pthread_mutex_unlock(&w->mu);
}

void
uns_gw_watchdog_disarm(uns_gw_watchdog *w, uns_gw_watched *c)
{
	if (w == NULL || c == NULL) {
		return;
	}
	pthread_mutex_lock(&w->mu);
	disarm(w, c);
	pthread_mutex_unlock(&w->mu);
}

void
uns_gw_watchdog_phase(uns_gw_watchdog *w, uns_gw_watched *c, uns_gw_phase phase)
{
	if (c == NULL) {
		return;
	}
	pthread_mutex_lock(&w->mu);
	unlink_c(w, c);
	w->n_fresh -= c->fresh;
	c->fresh = 0;
	enter(w, c, phase);
	pthread_mutex_unlock(&w->mu);
}

size_t
uns_gw_watchdog_fresh(uns_gw_watchdog *w)
{
	pthread_mutex_lock(&w->mu);
	size_t n = w->n_fresh;
	pthread_mutex_unlock(&w->mu);
	return n;
}

size_t
uns_gw_watchdog_count(uns_gw_watchdog *w)
{
	pthread_mutex_lock(&w->mu);
	size_t n = w->n;
	pthread_mutex_unlock(&w->mu);
	return n;
}
