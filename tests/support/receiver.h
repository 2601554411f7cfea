/*
 * receiver.h — a real HTTP receiver for delivery tests, on libmicrohttpd,
 * listening on 127.0.0.1. It records every POST by path (count, last body,
 * last value of one watched header, arrival times) and answers from a
 * per-path script ("the next n requests get status s with Retry-After r"),
 * 200 otherwise, after an optional delay. It can be stopped and started
 * again on the same port to play a provider that is down for a while.
 */
#ifndef UNS_TESTS_RECEIVER_H
#define UNS_TESTS_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ut_rx ut_rx;

/* Listens on 127.0.0.1:port (0 = any free port). */
ut_rx *ut_rx_open(int port);
void ut_rx_close(ut_rx *rx);
int ut_rx_port(const ut_rx *rx);

/* Stops listening (connections are refused) / listens again, same port. */
void ut_rx_stop(ut_rx *rx);
void ut_rx_start(ut_rx *rx);

/* The next n requests to path answer status, with "Retry-After: secs"
 * when secs >= 0. Scripts of one path run in the order given. */
void ut_rx_script(ut_rx *rx, const char *path, int n, int status, int secs);

/* Every answer waits this long first (a slow provider). */
void ut_rx_delay(ut_rx *rx, int ms);

/* Requests received on path (answered or not). */
int ut_rx_count(ut_rx *rx, const char *path);

/* Waits until path has at least n requests; false on timeout. */
bool ut_rx_wait(ut_rx *rx, const char *path, int n, int timeout_ms);

/* The last body received on path ("" if none), copied into out. */
void ut_rx_body(ut_rx *rx, const char *path, char *out, size_t cap);

/* Unix ms of the first and last request on path (0 if none). */
int64_t ut_rx_first_ms(ut_rx *rx, const char *path);
int64_t ut_rx_last_ms(ut_rx *rx, const char *path);

/* All requests on every path. */
int ut_rx_total(ut_rx *rx);

#endif /* UNS_TESTS_RECEIVER_H */
