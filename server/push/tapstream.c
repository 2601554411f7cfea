/*
 * tapstream.c — the live tap stream on an NNG pub0 socket (tapstream.h).
 * The message is built in one nng_msg and sent non-blocking; pub0 never
 * blocks a sender anyway, but the flag makes that explicit for a hook that
 * runs on a writer's thread.
 */
#include "tapstream.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "errors.h"
#include "store_util.h"

struct uns_tapstream {
	nng_socket sock;
	atomic_uint_fast64_t published;
};

uns_err
uns_tapstream_open(uns_tapstream **out, const char *url)
{
	uns_tapstream *ts;
	int rv;

	if (out == NULL || url == NULL || url[0] == '\0') {
		return uns_fail(UNS_EINVAL, "tap stream: no listen URL");
	}
	if ((ts = calloc(1, sizeof(*ts))) == NULL) {
		return uns_fail(UNS_ENOMEM, "out of memory");
	}
	if ((rv = nng_pub0_open(&ts->sock)) != 0) {
		free(ts);
		return uns_fail(uns_err_from_nng(rv), "tap stream: %s",
		                nng_strerror(rv));
	}
	if ((rv = nng_listen(ts->sock, url, NULL, 0)) != 0) {
		nng_close(ts->sock);
		free(ts);
		return uns_fail(
		    rv == NNG_EADDRINVAL ? UNS_EINVAL : UNS_UNAVAILABLE,
		    "tap stream: listen %s: %s", url, nng_strerror(rv));
	}
	*out = ts;
	return UNS_OK;
}

void
uns_tapstream_close(uns_tapstream *ts)
{
	if (ts != NULL) {
		nng_close(ts->sock);
		free(ts);
	}
}

void
uns_tapstream_publish(uns_tapstream *ts, const char *user, const char *host,
                      uint64_t head)
{
	char cursor[16];
	nng_msg *m;

	if (ts == NULL || nng_msg_alloc(&m, 0) != 0) {
		return;
	}
	uns_store_cursor_encode(head, cursor);
	if (nng_msg_append(m, host, strlen(host) + 1) != 0 ||
	    nng_msg_append(m, user, strlen(user) + 1) != 0 ||
	    nng_msg_append(m, cursor, strlen(cursor)) != 0 ||
	    nng_sendmsg(ts->sock, m, NNG_FLAG_NONBLOCK) != 0) {
		nng_msg_free(m);
		return;
	}
	atomic_fetch_add(&ts->published, 1);
}

uint64_t
uns_tapstream_published(const uns_tapstream *ts)
{
	return ts != NULL ? atomic_load(&((uns_tapstream *)ts)->published) : 0;
}
