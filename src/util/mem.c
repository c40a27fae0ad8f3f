/*
 * Counting allocator: each block carries a 16-byte header with its size so
 * that frees can be subtracted; the counter is a relaxed atomic.
 */
#include "util/mem.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16
static _Atomic int64_t used;

static void oom(size_t n) {
    fprintf(stderr, "sluice: out of memory allocating %zu bytes\n", n);
    abort();
}

void *sl_malloc(size_t n) {
    char *p = malloc(n + HDR);
    if (!p) oom(n);
    *(size_t *)p = n;
    atomic_fetch_add_explicit(&used, (int64_t)n, memory_order_relaxed);
    return p + HDR;
}

void *sl_calloc(size_t nmemb, size_t n) {
    if (n && nmemb > SIZE_MAX / n) oom(SIZE_MAX);
    void *p = sl_malloc(nmemb * n);
    memset(p, 0, nmemb * n);
    return p;
}

void *sl_realloc(void *p, size_t n) {
    if (!p) return sl_malloc(n);
    char *h = (char *)p - HDR;
    size_t old = *(size_t *)h;
    char *q = realloc(h, n + HDR);
    if (!q) oom(n);
    *(size_t *)q = n;
    atomic_fetch_add_explicit(&used, (int64_t)n - (int64_t)old, memory_order_relaxed);
    return q + HDR;
}

void sl_free(void *p) {
    if (!p) return;
    char *h = (char *)p - HDR;
    atomic_fetch_sub_explicit(&used, (int64_t) * (size_t *)h, memory_order_relaxed);
    free(h);
}

char *sl_strndup(const char *s, size_t n) {
    char *d = sl_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *sl_strdup(const char *s) { return sl_strndup(s, strlen(s)); }

int64_t sl_mem_used(void) { return atomic_load_explicit(&used, memory_order_relaxed); }
