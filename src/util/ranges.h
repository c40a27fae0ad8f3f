/*
 * Ordered range readers: n threads, each with a reader of the caller's (a
 * database connection), read the ranges 0, 1, ... of a job (a table, a
 * collection) ahead of one consumer that takes the ranges in order, so what
 * the consumer sees is exactly what one reader reading the ranges in turn
 * would give, and its progress (the last range taken) can be stored.
 *
 * A job has a fixed number of ranges, or is open: then the reader of range k
 * says, early, whether a range k+1 follows (sl_range_add, with its argument,
 * e.g. its lower bound) or k is the last (sl_range_last).
 *
 * What is read ahead is bounded: a range holds at most SL_RANGE_BLOCKS blocks
 * of SL_RANGE_BLOCK_BYTES (a reader waits while its range has them queued),
 * and no reader starts a range more than n past the one being taken.
 *
 * Threads: one consumer (the thread that started the readers); the readers
 * block every signal. A reader's fn runs on its own thread with its own
 * reader; fn must return soon after sl_range_room gives NULL.
 */
#ifndef SL_UTIL_RANGES_H
#define SL_UTIL_RANGES_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum { SL_RANGE_BLOCK_BYTES = 256 * 1024, SL_RANGE_BLOCKS = 4 };

typedef struct sl_ranges sl_ranges;
typedef struct sl_range_out sl_range_out;

/* Reads range k (arg: the argument it was added with, NULL for fixed jobs and an open job's range 0) of job on
 * reader, its bytes handed on through o: 0, or -1 after sl_range_fail (or when sl_range_room gave NULL). */
typedef int sl_range_fn(void *reader, void *job, int k, void *arg, sl_range_out *o);

/* n reader threads (n >= 1) named name, readers[i] for thread i; NULL when a thread cannot be started. */
sl_ranges *sl_ranges_start(int n, void *const *readers, sl_range_fn *fn, const char *name);
/* Stops and joins the readers, frees what they read and the range arguments (not the readers themselves). */
void sl_ranges_end(sl_ranges *p);

/* A new job (the previous one taken to its end): nranges ranges (open: the first, more as the readers add them).
 * free_arg frees the arguments of an open job's ranges (NULL: none to free). */
void sl_ranges_job(sl_ranges *p, void *job, int nranges, bool open, void (*free_arg)(void *));
/* The next block of range k (k: the range after the last one taken to its end, or the same): 1 with *data, *len
 * (valid until the next call), 0 range k is done, 2 the job has no range k (the job is over), -1 the readers
 * stopped (sl_ranges_error says why; "" when stopped by the consumer). */
int sl_ranges_take(sl_ranges *p, int k, const char **data, size_t *len);
/* Range k's argument (an open job's ranges after the first; NULL otherwise). Valid until the next job. */
void *sl_ranges_arg(sl_ranges *p, int k);
/* Stops the readers for good (a consumer that stops or failed): take gives -1 from here on. Returns once no
 * reader is in fn any more, so the job may be freed. */
void sl_ranges_stop(sl_ranges *p);
const char *sl_ranges_error(sl_ranges *p);

/* For fn: room for need bytes in the range's current block (handed on first when full, after waiting while the
 * range has its blocks queued); NULL when the readers stop. */
char *sl_range_room(sl_range_out *o, size_t need);
/* For fn of an open job, once per range: a range k+1 follows, with arg (owned by the job from here on)... */
void sl_range_add(sl_range_out *o, void *arg);
/* ... or k is the job's last range. */
void sl_range_last(sl_range_out *o);
/* For fn: the readers stop with this error (the first one counts); returns -1. */
int sl_range_fail(sl_range_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
