/*
 * testclock.c — see testclock.h.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "testclock.h"

void
uns_testclock_init(uns_testclock *c)
{
	atomic_store(&c->now_ms, UNS_TESTCLOCK_START_MS);
}

int64_t
uns_testclock_now(void *arg)
{
	uns_testclock *c = arg;
	return atomic_load(&c->now_ms);
}

void
uns_testclock_before_call(void *arg, const Uns__V1__RequestEnvelope *req)
{
	uns_testclock *c = arg;
	char text[32], *end = NULL;
	const ProtobufCBinaryData *v =
	    uns_request_metadata(req, UNS_TESTCLOCK_METADATA);
	if (v == NULL || v->len == 0 || v->len >= sizeof(text)) {
		return;
	}
	memcpy(text, v->data, v->len);
	text[v->len] = '\0';
	errno = 0;
	long long ms = strtoll(text[0] == '+' ? text + 1 : text, &end, 10);
	if (errno != 0 || *end != '\0' || end == text || ms < 0) {
		return;
	}
	if (text[0] == '+') {
		atomic_fetch_add(&c->now_ms, (int64_t)ms);
	} else {
		atomic_store(&c->now_ms, (int64_t)ms);
	}
}
