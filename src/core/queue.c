/* Byte- and record-bounded FIFO of batches (see queue.h). */
#include "core/queue.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <pthread.h>
#include <time.h>

struct sl_queue {
    pthread_mutex_t lock;
    pthread_cond_t not_full, not_empty;
    sl_batch *head, *tail;
    size_t bytes, records, batches;
    size_t max_bytes, max_records;
    bool closed;
};

sl_queue *sl_queue_new(size_t max_bytes, size_t max_records) {
    sl_queue *q = sl_calloc(1, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->not_full, &ca);
    pthread_cond_init(&q->not_empty, &ca);
    pthread_condattr_destroy(&ca);
    q->max_bytes = max_bytes;
    q->max_records = max_records;
    return q;
}

void sl_queue_destroy(sl_queue *q) {
    if (!q) return;
    for (sl_batch *b = q->head, *n; b; b = n) n = b->next, sl_batch_destroy(b);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    sl_free(q);
}

static bool full(const sl_queue *q) {
    return q->batches > 0 && ((q->max_bytes && q->bytes >= q->max_bytes) ||
                              (q->max_records && q->records >= q->max_records));
}

int sl_queue_push(sl_queue *q, sl_batch *b) {
    pthread_mutex_lock(&q->lock);
    while (!q->closed && full(q)) pthread_cond_wait(&q->not_full, &q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        return -1;
    }
    b->next = NULL;
    if (q->tail) q->tail->next = b;
    else q->head = b;
    q->tail = b;
    q->bytes += sl_batch_bytes(b);
    q->records += (size_t)b->n;
    q->batches++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
    return 0;
}


bool sl_queue_wait_room(sl_queue *q, int timeout_ms) {
    struct timespec dl = sl_mono_deadline(timeout_ms);
    pthread_mutex_lock(&q->lock);
    while (!q->closed && full(q))
        if (pthread_cond_timedwait(&q->not_full, &q->lock, &dl) != 0) break;
    bool room = q->closed || !full(q);
    pthread_mutex_unlock(&q->lock);
    return room;
}

sl_batch *sl_queue_pop(sl_queue *q, int timeout_ms) {
    struct timespec dl = sl_mono_deadline(timeout_ms);
    pthread_mutex_lock(&q->lock);
    while (!q->head && !q->closed)
        if (pthread_cond_timedwait(&q->not_empty, &q->lock, &dl) != 0) break;
    sl_batch *b = q->head;
    if (b) {
        q->head = b->next;
        if (!q->head) q->tail = NULL;
        q->bytes -= sl_batch_bytes(b);
        q->records -= (size_t)b->n;
        q->batches--;
        b->next = NULL;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->lock);
    return b;
}

const sl_batch *sl_queue_peek(sl_queue *q) {
    pthread_mutex_lock(&q->lock);
    const sl_batch *b = q->head;
    pthread_mutex_unlock(&q->lock);
    return b;
}

void sl_queue_close(sl_queue *q) {
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->not_full);
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

bool sl_queue_drained(sl_queue *q) {
    pthread_mutex_lock(&q->lock);
    bool d = q->closed && !q->head;
    pthread_mutex_unlock(&q->lock);
    return d;
}

void sl_queue_stats(sl_queue *q, size_t *bytes, size_t *records, size_t *batches) {
    pthread_mutex_lock(&q->lock);
    if (bytes) *bytes = q->bytes;
    if (records) *records = q->records;
    if (batches) *batches = q->batches;
    pthread_mutex_unlock(&q->lock);
}
