/*
 * Counting allocator: each block carries a 16-byte header with its size so
 * that frees can be subtracted; the counter is a relaxed atomic. The fault
 * hook (mem.h) is a thread-local countdown checked before each allocation.
 */
#include "util/mem.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16
static _Atomic int64_t used;
static _Thread_local long fail_countdown; /* > 0: allocations left until the simulated failure */
static sl_mem_oom_fn *_Atomic oom_handler;

void sl_mem_fail_after(long n) { fail_countdown = n > 0 ? n : 0; }
void sl_mem_set_oom_handler(sl_mem_oom_fn *fn) { oom_handler = fn; }

/* True when this allocation is the one to fail. */
static inline int fail_now(void) {
    if (__builtin_expect(fail_countdown == 0, 1)) return 0;
    return --fail_countdown == 0;
}

static void oom(size_t n) {
    sl_mem_oom_fn *fn = oom_handler;
    if (fn) fn(n); /* a test's handler leaves by longjmp */
    fprintf(stderr, "sluice: out of memory allocating %zu bytes\n", n);
    abort();
}

void *sl_malloc(size_t n) {
    char *p = fail_now() ? NULL : malloc(n + HDR);
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
    char *q = fail_now() ? NULL : realloc(h, n + HDR); /* failing, p stays the caller's */
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
