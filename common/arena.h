/*
 * arena.h — a bump allocator that doubles as a ProtobufCAllocator.
 *
 * Every RPC unpacks a request, builds a response and packs it; all of those
 * allocations die together when the call ends. An arena turns them into
 * pointer bumps and one reset, instead of dozens of malloc/free pairs per
 * call. The first block lives inside the arena, so small calls never touch
 * malloc at all.
 */
#ifndef UNS_ARENA_H
#define UNS_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#define UNS_ARENA_INLINE 8192

struct uns_arena_block;

typedef struct uns_arena {
	ProtobufCAllocator pb; /* points back at this arena */
	struct uns_arena_block *blocks;
	char *cur;
	size_t left;
	size_t max_bytes; /* 0 = unlimited */
	size_t used;
	_Alignas(16) char inline_block[UNS_ARENA_INLINE];
} uns_arena;

void uns_arena_init(uns_arena *a, size_t max_bytes);
/* NULL when out of memory or over max_bytes. */
void *uns_arena_alloc(uns_arena *a, size_t n);
char *uns_arena_strdup(uns_arena *a, const char *s);
/* Frees every block but the inline one; the arena is ready for reuse. */
void uns_arena_reset(uns_arena *a);
void uns_arena_fini(uns_arena *a);

#endif /* UNS_ARENA_H */
