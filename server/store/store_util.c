/*
 * store_util.c — see store_util.h. Pure byte work with no I/O except
 * getrandom(), so it can be tested alone.
 */
#include "store_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "arena.h"
#include "b64url.h"

static _Thread_local char errmsg[1024]; /* a refused open says a lot */

uns_err
uns_store_seterr(uns_err rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	return rc;
}

const char *
uns_store_errmsg(void)
{
	return errmsg;
}

/* --- ids and text ------------------------------------------------------- */

void
uns_store_b64url_encode(const void *in, size_t n, char *out)
{
	uns_b64url_encode(in, n, out);
}

bool
uns_store_b64url_decode(const char *s, void *out, size_t n)
{
	return uns_b64url_decode(s, strlen(s), out, n) == (long)n;
}

/* Random bytes come from getrandom() 512 at a time, per thread: one system
 * call per 32 ids. (A forked child would repeat its parent's pool; the store
 * never forks, and two processes cannot open one store.) */
static _Thread_local unsigned char rpool[512];
static _Thread_local size_t rpool_left;

uns_err
uns_store_mint_id(char out[UNS_STORE_RID_LEN + 1])
{
	if (rpool_left < 16) {
		if (getrandom(rpool, sizeof(rpool), 0) !=
		    (ssize_t)sizeof(rpool)) {
			return uns_store_seterr(UNS_EIO, "getrandom failed");
		}
		rpool_left = sizeof(rpool);
	}
	rpool_left -= 16;
	uns_store_b64url_encode(rpool + rpool_left, 16, out);
	memset(rpool + rpool_left, 0, 16); /* used bytes leave the pool */
	return UNS_OK;
}

bool
uns_store_id_ok(const char *s)
{
	return s != NULL && s[0] != '\0' &&
	       strnlen(s, UNS_STORE_ID_MAX + 1) <= UNS_STORE_ID_MAX;
}

void
uns_store_be64_put(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

uint64_t
uns_store_be64_get(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++) {
		v = (v << 8) | p[i];
	}
	return v;
}

void
uns_store_cursor_encode(uint64_t seq, char out[16])
{
	unsigned char raw[8];

	uns_store_be64_put(raw, seq);
	uns_store_b64url_encode(raw, sizeof(raw), out);
}

uns_err
uns_store_cursor_decode(const char *s, uint64_t *seq)
{
	unsigned char raw[8];

	if (s == NULL || s[0] == '\0') {
		*seq = 0;
		return UNS_OK;
	}
	if (!uns_store_b64url_decode(s, raw, sizeof(raw))) {
		return uns_store_seterr(UNS_EINVAL, "malformed cursor");
	}
	*seq = uns_store_be64_get(raw);
	return UNS_OK;
}

struct uns_arena *
uns_store_arena_new(void)
{
	uns_arena *a = malloc(sizeof(*a));

	if (a == NULL) {
		uns_store_seterr(UNS_ENOMEM, "out of memory");
		return NULL;
	}
	uns_arena_init(a, 0);
	return a;
}

void
uns_store_arena_free(void *arena)
{
	if (arena != NULL) {
		uns_arena_fini(arena);
		free(arena);
	}
}
