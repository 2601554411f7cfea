/*
 * testclock.h — a service clock that tests move (config key test_clock).
 *
 * It starts at UNS_TESTCLOCK_START_MS and stands still; a request whose
 * metadata "uns-test-clock" is "+MS" moves it MS milliseconds ahead, and
 * "MS" sets it to Unix milliseconds MS, before its handler runs. So a
 * fixture can post a notification that expires in a minute, move the clock
 * a minute and a second, and see it expired, with no real waiting and with
 * the same timestamps on every run. The store and the service read it;
 * token checks keep real time (tokens are minted from the real clock).
 */
#ifndef UNS_TESTCLOCK_H
#define UNS_TESTCLOCK_H

#include <stdint.h>

#include "uns/v1/rpc.pb-c.h"

#define UNS_TESTCLOCK_START_MS 1700000000000LL /* 2023-11-14T22:13:20Z */
#define UNS_TESTCLOCK_METADATA "uns-test-clock"

typedef struct uns_testclock {
	_Atomic int64_t now_ms;
} uns_testclock;

void uns_testclock_init(uns_testclock *c);
/* The clock function for the store and the service; arg is the clock. */
int64_t uns_testclock_now(void *arg);
/* The uns_rpc_hooks.before_call hook; arg is the clock. A malformed value
 * is ignored (the call then runs at the clock's current time). */
void uns_testclock_before_call(void *arg, const Uns__V1__RequestEnvelope *req);

#endif /* UNS_TESTCLOCK_H */
