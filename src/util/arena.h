/*
 * Bump allocator for per-batch data: every cell, row and copied protocol
 * message of a batch lives in its arena and is released in one go when the
 * sink has acknowledged the batch. No per-cell malloc on the hot path.
 * A very large message is not copied in but adopted (sl_arena_adopt).
 */
#ifndef SL_UTIL_ARENA_H
#define SL_UTIL_ARENA_H
#include <stddef.h>

typedef struct sl_arena_chunk sl_arena_chunk;
typedef struct sl_arena_block sl_arena_block;
typedef struct sl_arena {
    sl_arena_chunk *head;
    sl_arena_block *adopted; /* blocks owned but not allocated here (sl_arena_adopt) */
    size_t used;     /* bytes handed out */
    size_t reserved; /* bytes of all chunks and adopted blocks: what the arena really holds, for queue accounting */
} sl_arena;

void sl_arena_init(sl_arena *a);
/* Returns 16-byte aligned memory valid until sl_arena_free(). */
void *sl_arena_alloc(sl_arena *a, size_t n);
void *sl_arena_memdup(sl_arena *a, const void *p, size_t n);
/* NUL-terminated copy of n bytes. */
char *sl_arena_strndup(sl_arena *a, const char *s, size_t n);
/*
 * Takes ownership of block p of n bytes that another allocator made (e.g. a libpq message buffer),
 * so that data can be used where it lies instead of being copied in: release(p) runs in
 * sl_arena_free(). The n bytes count in `reserved`.
 */
void sl_arena_adopt(sl_arena *a, void *p, size_t n, void (*release)(void *));
void sl_arena_free(sl_arena *a);
/* Releases everything handed out but keeps the newest chunk for reuse (a scratch arena reused per record). */
void sl_arena_reset(sl_arena *a);

#endif
