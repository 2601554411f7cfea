/*
 * arena.c — see arena.h. Blocks grow geometrically from 16 KiB; a request
 * larger than a block gets a block of its own size.
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"

struct uns_arena_block {
	struct uns_arena_block *next;
	_Alignas(16) char data[];
};

static void *
pb_alloc(void *data, size_t n)
{
	return uns_arena_alloc(data, n);
}

static void
pb_free(void *data, void *ptr)
{
	(void)data;
	(void)ptr; /* freed with the arena */
}

void
uns_arena_init(uns_arena *a, size_t max_bytes)
{
	a->pb.alloc = pb_alloc;
	a->pb.free = pb_free;
	a->pb.allocator_data = a;
	a->blocks = NULL;
	a->cur = a->inline_block;
	a->left = sizeof(a->inline_block);
	a->max_bytes = max_bytes;
	a->used = 0;
}

static int
arena_grow(uns_arena *a, size_t n)
{
	size_t size = 16384;
	for (struct uns_arena_block *b = a->blocks; b && size < (1u << 20);
	     b = b->next) {
		size *= 2;
	}
	if (size < n) {
		size = n;
	}
	struct uns_arena_block *b = malloc(sizeof(*b) + size);
	if (b == NULL) {
		return -1;
	}
	b->next = a->blocks;
	a->blocks = b;
	a->cur = b->data;
	a->left = size;
	return 0;
}

void *
uns_arena_alloc(uns_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n == 0) {
		n = 16;
	}
	if (a->max_bytes && a->used + n > a->max_bytes) {
		return NULL;
	}
	if (n > a->left && arena_grow(a, n) != 0) {
		return NULL;
	}
	void *p = a->cur;
	a->cur += n;
	a->left -= n;
	a->used += n;
	return p;
}

char *
uns_arena_strdup(uns_arena *a, const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = uns_arena_alloc(a, len);
	if (p) {
		memcpy(p, s, len);
	}
	return p;
}

void
uns_arena_reset(uns_arena *a)
{
	while (a->blocks) {
		struct uns_arena_block *b = a->blocks;
		a->blocks = b->next;
		free(b);
	}
	a->cur = a->inline_block;
	a->left = sizeof(a->inline_block);
	a->used = 0;
}

void
uns_arena_fini(uns_arena *a)
{
	uns_arena_reset(a);
}
