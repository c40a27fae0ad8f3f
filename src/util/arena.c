/* Chunked bump allocator. Chunks start small and double up to CHUNK, so a
 * batch of one small record does not hold 64 KiB; oversized requests get a
 * chunk of their own size. */
#include "util/arena.h"
#include "util/mem.h"
#include <string.h>

#define FIRST_CHUNK 4096
#define CHUNK 65536

struct sl_arena_chunk {
    sl_arena_chunk *next;
    size_t cap, off;
    _Alignas(16) char data[];
};

struct sl_arena_block {
    sl_arena_block *next;
    void *p;
    void (*release)(void *);
};

void sl_arena_init(sl_arena *a) { a->head = NULL, a->adopted = NULL, a->used = 0, a->reserved = 0; }

void *sl_arena_alloc(sl_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    sl_arena_chunk *c = a->head;
    if (!c || c->cap - c->off < n) {
        size_t next = !c ? FIRST_CHUNK : c->cap >= CHUNK / 2 ? CHUNK : c->cap * 2;
        size_t cap = n > next ? n : next;
        c = sl_malloc(sizeof *c + cap);
        a->reserved += sizeof *c + cap;
        c->cap = cap, c->off = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->off;
    c->off += n;
    a->used += n;
    return p;
}

void *sl_arena_memdup(sl_arena *a, const void *p, size_t n) {
    void *d = sl_arena_alloc(a, n ? n : 1);
    if (n) memcpy(d, p, n);
    return d;
}

char *sl_arena_strndup(sl_arena *a, const char *s, size_t n) {
    char *d = sl_arena_alloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

void sl_arena_adopt(sl_arena *a, void *p, size_t n, void (*release)(void *)) {
    sl_arena_block *b = sl_arena_alloc(a, sizeof *b); /* the list lives in the arena too */
    b->p = p, b->release = release;
    b->next = a->adopted;
    a->adopted = b;
    a->reserved += n;
}

void sl_arena_free(sl_arena *a) {
    for (sl_arena_block *b = a->adopted; b; b = b->next) b->release(b->p);
    for (sl_arena_chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        sl_free(c);
    }
    sl_arena_init(a);
}

void sl_arena_reset(sl_arena *a) {
    for (sl_arena_block *b = a->adopted; b; b = b->next) b->release(b->p);
    sl_arena_chunk *keep = a->head;
    for (sl_arena_chunk *c = keep ? keep->next : NULL, *n; c; c = n) {
        n = c->next;
        sl_free(c);
    }
    sl_arena_init(a);
    if (keep) {
        keep->next = NULL;
        keep->off = 0;
        a->head = keep;
        a->reserved = sizeof *keep + keep->cap;
    }
}
