/*
 * The bounded queue between a connector's source thread and its sink
 * thread. Bounded in bytes and in records: a push blocks while either bound
 * is exceeded (an empty queue always accepts one batch, however large, so a
 * big transaction cannot deadlock). Thread-safe (one mutex, two condvars).
 */
#ifndef SL_CORE_QUEUE_H
#define SL_CORE_QUEUE_H
#include <stdbool.h>
#include <stddef.h>
#include "core/record.h"

typedef struct sl_queue sl_queue;

sl_queue *sl_queue_new(size_t max_bytes, size_t max_records);
void sl_queue_destroy(sl_queue *q); /* frees batches still queued */
/* Source thread. Blocks while full; takes ownership and returns 0, or returns -1 (caller keeps b) once closed. */
int sl_queue_push(sl_queue *q, sl_batch *b);
/* Source thread: waits up to timeout_ms while the queue is full. True when a push would not block now (with one
 * producer it stays so until it pushes) or the queue is closed; false after the timeout. */
bool sl_queue_wait_room(sl_queue *q, int timeout_ms);
/* Sink thread. Waits up to timeout_ms; NULL on timeout or when closed and empty. */
sl_batch *sl_queue_pop(sl_queue *q, int timeout_ms);
/* Sink thread: the batch the next pop returns, or NULL when none is queued; it stays queued (and valid) until
 * that pop, since the sink thread is the one consumer. Read-only: the source built it before pushing it. */
const sl_batch *sl_queue_peek(sl_queue *q);
/* No more pushes; pops drain what is left. Wakes every waiter. */
void sl_queue_close(sl_queue *q);
bool sl_queue_drained(sl_queue *q); /* closed and empty */
void sl_queue_stats(sl_queue *q, size_t *bytes, size_t *records, size_t *batches);

#endif
