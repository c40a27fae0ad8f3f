/*
 * Ordered range readers (util/ranges):
 *  - the consumer gets every range's bytes in range order, whatever the order
 *    the readers finish in, job after job on the same readers;
 *  - no reader starts a range more than n past the one being taken;
 *  - an open job grows as its readers add ranges, each with its argument, and
 *    ends where one says it is the last;
 *  - a reader's failure reaches the consumer with its message; a consumer that
 *    stops ends readers waiting with full ranges.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include "util/mem.h"
#include "util/ranges.h"
#include "test.h"

enum { NREADERS = 3 };

static atomic_int consumer_at; /* the range the consumer takes */
static atomic_int ahead_bad;   /* ranges started more than NREADERS past it */

typedef struct job {
    int64_t base;   /* the values of range k: base + k * 1000000 + i */
    int last;       /* open jobs: the last range */
    int fail_at;    /* a range that fails (-1: none) */
} job;

static int64_t range_len(int k) { return (int64_t)(k % 7) * 9000 + (k % 3 == 0 ? 70000 : 1); }

static int fill(void *reader, void *jp, int k, void *arg, sl_range_out *o) {
    job *j = jp;
    if (k > atomic_load(&consumer_at) + NREADERS) atomic_fetch_add(&ahead_bad, 1);
    if (j->last >= 0) {
        if (k > 0 && (!arg || *(int *)arg != k)) return sl_range_fail(o, "range %d: argument %d", k, arg ? *(int *)arg : -1);
        if (k < j->last) {
            int *a = sl_malloc(sizeof *a);
            *a = k + 1;
            sl_range_add(o, a);
        } else {
            sl_range_last(o);
        }
    }
    if (k == j->fail_at) return sl_range_fail(o, "range %d cannot be read", k);
    if ((k + (int)(intptr_t)reader) % 4 == 0) { /* some readers are slower: they finish out of order */
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int64_t i = 0; i < range_len(k); i++) {
        char *at = sl_range_room(o, 8);
        if (!at) return -1;
        int64_t v = j->base + (int64_t)k * 1000000 + i;
        memcpy(at, &v, 8);
    }
    return 0;
}

/* Takes every range of the current job; the ranges seen, or -1 at the first value out of place. */
static int take_all(sl_ranges *p, const job *j) {
    for (int k = 0;; k++) {
        atomic_store(&consumer_at, k);
        int64_t i = 0;
        const char *d;
        size_t n;
        int rc;
        while ((rc = sl_ranges_take(p, k, &d, &n)) == 1) {
            for (size_t at = 0; at < n; at += 8, i++) {
                int64_t v;
                memcpy(&v, d + at, 8);
                if (v != j->base + (int64_t)k * 1000000 + i) return -1;
            }
        }
        if (rc == 2) return k;
        if (rc < 0 || i != range_len(k)) return -1;
        if (k > 0 && j->last >= 0 && (!sl_ranges_arg(p, k) || *(int *)sl_ranges_arg(p, k) != k)) return -1;
    }
}

static void test_fixed_and_open(void) {
    void *readers[NREADERS] = {(void *)0, (void *)1, (void *)2};
    sl_ranges *p = sl_ranges_start(NREADERS, readers, fill, "test-ranges");
    CHECK(p != NULL);
    job a = {.base = 7, .last = -1, .fail_at = -1};
    sl_ranges_job(p, &a, 40, false, NULL);
    CHECK(take_all(p, &a) == 40);
    job b = {.base = 5000000000LL, .last = -1, .fail_at = -1};
    sl_ranges_job(p, &b, 1, false, NULL);
    CHECK(take_all(p, &b) == 1);
    job e = {.base = 1, .last = -1, .fail_at = -1};
    sl_ranges_job(p, &e, 0, false, NULL);
    CHECK(take_all(p, &e) == 0);
    job o = {.base = 3, .last = 30, .fail_at = -1};
    sl_ranges_job(p, &o, 1, true, sl_free);
    CHECK(take_all(p, &o) == 31);
    job o1 = {.base = 9, .last = 0, .fail_at = -1};
    sl_ranges_job(p, &o1, 1, true, sl_free);
    CHECK(take_all(p, &o1) == 1);
    CHECK(atomic_load(&ahead_bad) == 0);
    CHECK(sl_ranges_error(p)[0] == 0);
    /* a job abandoned half-way: the readers stop, the consumer's take says so */
    job h = {.base = 2, .last = 50, .fail_at = -1};
    sl_ranges_job(p, &h, 1, true, sl_free);
    const char *d;
    size_t n;
    CHECK(sl_ranges_take(p, 0, &d, &n) == 1);
    sl_ranges_stop(p);
    CHECK(sl_ranges_take(p, 0, &d, &n) == -1);
    CHECK(sl_ranges_error(p)[0] == 0);
    sl_ranges_end(p);
}

static void test_failure(void) {
    void *readers[NREADERS] = {(void *)0, (void *)1, (void *)2};
    sl_ranges *p = sl_ranges_start(NREADERS, readers, fill, "test-ranges");
    job f = {.base = 0, .last = -1, .fail_at = 5};
    atomic_store(&consumer_at, 0);
    sl_ranges_job(p, &f, 20, false, NULL);
    CHECK(take_all(p, &f) == -1);
    CHECK_STR(sl_ranges_error(p), "range 5 cannot be read");
    sl_ranges_end(p);
    /* the readers of an open job fail at range 3: ranges before it came whole, or the failure came first */
    p = sl_ranges_start(NREADERS, readers, fill, "test-ranges");
    job g = {.base = 0, .last = 10, .fail_at = 3};
    sl_ranges_job(p, &g, 1, true, sl_free);
    int got = 0;
    for (int k = 0; k < 3; k++) {
        const char *d;
        size_t n;
        int rc;
        while ((rc = sl_ranges_take(p, k, &d, &n)) == 1) {}
        if (rc != 0) break;
        got++;
    }
    const char *d;
    size_t n;
    CHECK(sl_ranges_take(p, got, &d, &n) == -1);
    CHECK_STR(sl_ranges_error(p), "range 3 cannot be read");
    sl_ranges_end(p);
}

int main(void) {
    test_fixed_and_open();
    test_failure();
    TEST_END();
}
