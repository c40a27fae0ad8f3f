/*
 * Thin allocation wrappers. They abort on out-of-memory (a CDC daemon that
 * cannot allocate cannot make progress safely) and count live bytes so that
 * /metrics can report allocator use without a custom malloc.
 */
#ifndef SL_UTIL_MEM_H
#define SL_UTIL_MEM_H
#include <stddef.h>
#include <stdint.h>

void *sl_malloc(size_t n);
void *sl_calloc(size_t nmemb, size_t n);
void *sl_realloc(void *p, size_t n);
char *sl_strdup(const char *s);
char *sl_strndup(const char *s, size_t n);
void sl_free(void *p);
/* Bytes currently allocated through these wrappers. */
int64_t sl_mem_used(void);

/*
 * Fault simulation, for tests (SQLite's do_faultsim_test): sl_mem_fail_after(n)
 * makes the n-th sl_malloc/sl_calloc/sl_realloc/sl_strdup/sl_strndup call
 * from now on, on this thread, fail; 0 disarms it. Inert unless armed: one
 * predictable branch per allocation.
 *
 * A failure is what a real one is: nothing here returns NULL, every caller
 * relies on that, so a failing allocation takes the out-of-memory path. That
 * path calls the handler set with sl_mem_set_oom_handler (default: print and
 * abort); a test's handler leaves by longjmp and must not return. What a test
 * then checks is that the code under test never leaves its caller's
 * objects half-built: at every allocation the state it has written so far
 * (scratch arrays, arena, batch, record view, chain) is owned by the caller
 * and its ordinary cleanup frees it, without crash and without leak (ASan
 * with detect_leaks, and sl_mem_used() back to where it was). That is what
 * lets a failure be contained where it happens (a decoding error, a failed
 * connector) instead of corrupting what outlives it.
 *
 * One-shot (SQLite's "transient" fault), not persistent: the out-of-memory
 * path never returns into the code under test, so a persistent fault could
 * only hit the test's own cleanup; after firing the hook is disarmed.
 */
void sl_mem_fail_after(long n);
/* What the out-of-memory path calls (n: the size asked for); NULL restores print-and-abort. The handler
 * must not return (if it does, the process aborts). */
typedef void sl_mem_oom_fn(size_t n);
void sl_mem_set_oom_handler(sl_mem_oom_fn *fn);

#endif
