/*
 * Bump allocator for per-batch data: every cell, row and copied protocol
 * message of a batch lives in its arena and is released in one go when the
 * sink has acknowledged the batch. No per-cell malloc on the hot path.
 */
#ifndef SL_UTIL_ARENA_H
#define SL_UTIL_ARENA_H
#include <stddef.h>

typedef struct sl_arena_chunk sl_arena_chunk;
typedef struct sl_arena {
    sl_arena_chunk *head;
    size_t used;     /* bytes handed out */
    size_t reserved; /* bytes of all chunks: what the arena really holds, for queue accounting */
} sl_arena;

void sl_arena_init(sl_arena *a);
/* Returns 16-byte aligned memory valid until sl_arena_free(). */
void *sl_arena_alloc(sl_arena *a, size_t n);
void *sl_arena_memdup(sl_arena *a, const void *p, size_t n);
/* NUL-terminated copy of n bytes. */
char *sl_arena_strndup(sl_arena *a, const char *s, size_t n);
void sl_arena_free(sl_arena *a);

#endif
