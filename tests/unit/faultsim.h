/*
 * Fault simulation for unit tests (sl_mem_fail_after, util/mem.h), after
 * SQLite's do_faultsim_test: a piece of work runs with its 1st, 2nd, 3rd ...
 * allocation failing until a run gets through without reaching the failing
 * one. A failure takes the out-of-memory path, which here jumps back out of
 * the work; after every run, failed or not, the test's cleanup frees what the
 * work left in the caller's objects.
 *
 * Strict: the work never holds a block of its own across an allocation
 * (decoders write only into the caller's scratch arrays and arenas), so after
 * the cleanup the bytes counted by sl_mem_used() are back where they were
 * and ASan's leak check finds nothing. Lenient: blocks stranded in the frames
 * the jump unwound are expected (under abort-on-OOM they are no leak; the
 * transform chain holds many) and not counted; LSan is told to ignore what
 * failed runs allocate. Both modes check that the cleanup of the caller's
 * objects is safe at every failing allocation (ASan: no use after free, no
 * double free) and the test's failed() whatever else must hold.
 */
#ifndef SL_FAULTSIM_H
#define SL_FAULTSIM_H
#include "test.h"
#include "util/mem.h"
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define FS_LSAN_OFF(on) ((on) ? __lsan_disable() : (void)0)
#define FS_LSAN_ON(on) ((on) ? __lsan_enable() : (void)0)
#else
#define FS_LSAN_OFF(on) ((void)0)
#define FS_LSAN_ON(on) ((void)0)
#endif

typedef struct faultsim_ops {
    int (*run)(void *arg);            /* the work: 0, or -1 for an error it reported */
    void (*cleanup)(void *arg);       /* frees what run left in arg, after every run */
    void (*done)(void *arg, int rc);  /* checks a run that got through (before cleanup) */
    void (*failed)(void *arg);        /* optional: checks arg after a failed allocation (before cleanup) */
    bool strict;
} faultsim_ops;

static jmp_buf fs_env;

static void fs_oom(size_t n) {
    (void)n;
    longjmp(fs_env, 1);
}

/* Runs ops over arg with allocation 1, 2, ... failing. Returns the number of runs that failed (the
 * allocations the work makes); *stranded (optional): how many of them left blocks unowned. */
static long faultsim(const char *what, const faultsim_ops *ops, void *arg, long *stranded) {
    volatile long n, lost = 0;
    sl_mem_set_oom_handler(fs_oom);
    for (n = 1;; n++) {
        volatile int64_t base = sl_mem_used();
        FS_LSAN_OFF(!ops->strict);
        sl_mem_fail_after(n);
        if (setjmp(fs_env) == 0) {
            int rc = ops->run(arg);
            sl_mem_fail_after(0); /* never reached: the run is complete */
            FS_LSAN_ON(!ops->strict);
            ops->done(arg, rc);
            ops->cleanup(arg);
            if (ops->strict) CHECK(sl_mem_used() == base);
            break;
        }
        FS_LSAN_ON(!ops->strict);
        if (ops->failed) ops->failed(arg);
        ops->cleanup(arg); /* allocation n failed: what was built so far must be the caller's to free */
        if (sl_mem_used() != base) {
            lost++;
            if (ops->strict) {
                fprintf(stderr, "%s: allocation %ld failing leaks %lld bytes\n", what, (long)n,
                        (long long)(sl_mem_used() - base));
                CHECK(sl_mem_used() == base);
            }
        }
    }
    sl_mem_set_oom_handler(NULL);
    if (stranded) *stranded = lost;
    return n - 1;
}

#endif
