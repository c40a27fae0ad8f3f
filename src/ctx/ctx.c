/*
 * The context a connector's plugins are given (see ctx.h): the state the
 * source thread, the sink thread and the runtime share, and the calls that
 * read and change it. The runtime (runtime/connector.c) embeds it.
 */
#include "ctx/ctx_int.h"
#include "core/log.h"
#include "kafka/dlq.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SNAPSHOT_LOG_MS 10000 /* a snapshot's progress line in the log at most this often per table */


const char *sl_ctx_name(const sl_ctx *x) { return x->name; }
bool sl_ctx_reopening(const sl_ctx *x) { return x->ran > 0; }
const sl_core_conf *sl_ctx_core(const sl_ctx *x) { return &x->core; }
const sl_config *sl_ctx_config(const sl_ctx *x) { return x->cfg; }
const sl_source_ops *sl_ctx_source_ops(const sl_ctx *x) { return x->src_ops; }
bool sl_ctx_batch_full(const sl_ctx *x, const sl_batch *b) {
    const sl_core_conf *c = &x->core;
    /* A quarter of the queue's byte bound: the batch being filled, the queued ones and the one being written
     * then stay within about twice the bound together. */
    return b->n >= c->max_batch_size || (c->max_queue_bytes > 0 && b->n > 0 &&
                                         sl_batch_bytes(b) >= (size_t)c->max_queue_bytes / 4);
}
/* Set on a connector's source thread: the connector it runs. */
static _Thread_local const sl_ctx *source_thread_of;
/* The published options never change once the threads run: a reopen on the source thread gets its copy. */
sl_dbz_opts *sl_ctx_dbz(sl_ctx *x) { return source_thread_of == x ? &x->dbz_src : &x->dbz; }

/* The source thread also sees "stopping" while the connector is paused: it returns from run()
 * and the runtime closes it until resume. The sink keeps draining. */
bool sl_ctx_stopping(const sl_ctx *x) {
    const sl_ctx *c = x;
    if (atomic_load(&c->stop)) return true;
    return atomic_load(&c->paused) && source_thread_of == c;
}

void sl_ctx_own_heartbeats(sl_ctx *x) { atomic_store(&x->own_heartbeats, 1); }

bool sl_ctx_paused(const sl_ctx *x) { return atomic_load(&x->paused) != 0; }
uint64_t sl_ctx_committed_seq(const sl_ctx *x) { return atomic_load(&x->committed_seq); }

void sl_ctx_set_partition(sl_ctx *x, const char *partition_json) {
    sl_ctx *c = x;
    if (c->partition && strcmp(c->partition, partition_json) == 0) return; /* keeps a reconnect's resume point */
    sl_free(c->partition);
    c->partition = sl_strdup(partition_json);
    c->stored_loaded = false;
}

const char *sl_ctx_stored_offset(sl_ctx *x) {
    sl_ctx *c = x;
    if (!c->stored_loaded && c->store && c->partition) {
        char err[512];
        sl_free(c->stored_offset);
        if (sl_offsets_get(c->store, c->name, c->partition, &c->stored_offset, err, sizeof err) < 0)
            SL_ERR("offsets", "%s", err);
        c->stored_loaded = true;
    }
    return c->stored_offset;
}

void sl_ctx_fail_err(sl_ctx *x, const sl_err *e) {
    sl_ctx *c = x;
    pthread_mutex_lock(&c->err_lock);
    if (!atomic_load(&c->failed)) { /* the first failure is the cause; what follows is its consequence */
        c->err = *e;
        sl_log_redact(c->err.msg);
        c->err_ms = sl_wall_us() / 1000;
        atomic_store(&c->failed, 1);
    }
    pthread_mutex_unlock(&c->err_lock);
    atomic_store(&c->stop, 1);
    if (c->q) sl_queue_close(c->q);
}

void sl_ctx_fail_code(sl_ctx *x, sl_err_code code, const char *fmt, ...) {
    sl_err e;
    va_list ap;
    va_start(ap, fmt);
    sl_err_vset(&e, code, fmt, ap);
    va_end(ap);
    sl_ctx_fail_err(x, &e);
}

void sl_ctx_fail(sl_ctx *x, const char *fmt, ...) {
    sl_err e;
    va_list ap;
    va_start(ap, fmt);
    sl_err_vset(&e, SL_E_INTERNAL, fmt, ap);
    va_end(ap);
    sl_ctx_fail_err(x, &e);
}

void sl_ctx_retry_err(sl_ctx *x, const sl_err *e) {
    sl_ctx *c = x;
    pthread_mutex_lock(&c->err_lock);
    c->retry_err = *e;
    c->retry_err.retriable = true; /* whatever its code's default: the runtime retries it */
    sl_log_redact(c->retry_err.msg);
    c->err_ms = sl_wall_us() / 1000;
    pthread_mutex_unlock(&c->err_lock);
}

void sl_ctx_retry(sl_ctx *x, const char *fmt, ...) {
    sl_err e;
    va_list ap;
    va_start(ap, fmt);
    sl_err_vset(&e, SL_E_CONNECT, fmt, ap);
    va_end(ap);
    sl_ctx_retry_err(x, &e);
}

int sl_ctx_raise(sl_ctx *x, const sl_err *e) {
    if (e->retriable) {
        sl_ctx_retry_err(x, e);
        return SL_RETRY;
    }
    sl_ctx_fail_err(x, e);
    return -1;
}

int sl_ctx_raisef(sl_ctx *x, sl_err_code code, const char *fmt, ...) {
    sl_err e;
    va_list ap;
    va_start(ap, fmt);
    sl_err_vset(&e, code, fmt, ap);
    va_end(ap);
    return sl_ctx_raise(x, &e);
}

/* What sl_ctx_error_code named on this thread: it travels beside the errstr of the same call. */
static _Thread_local sl_err_code call_code;

int sl_ctx_error_code(sl_ctx *x, sl_err_code code) {
    (void)x; /* the code belongs to the call this thread is making for x */
    call_code = code;
    return sl_err_code_retriable(code) ? SL_RETRY : -1;
}

sl_err_code sl_ctx_take_error_code(void) {
    sl_err_code code = call_code;
    call_code = SL_E_NONE;
    return code;
}

/* ---- the source's lifecycle ---- */

static const char *const state_names[] = {
#define SL_SRC_NAME(st, name) name,
    SL_SRC_STATES(SL_SRC_NAME)
#undef SL_SRC_NAME
};

const char *sl_src_state_name(sl_src_state st) {
    return (unsigned)st < (unsigned)SL_SRC__COUNT ? state_names[st] : "?";
}

bool sl_src_state_allowed(sl_src_state from, sl_src_state to) {
#define B(st) (1u << SL_SRC_##st)
    static const unsigned next[SL_SRC__COUNT] = {
        [SL_SRC_STOPPED] = B(OPENING),
        [SL_SRC_OPENING] = B(SNAPSHOTTING) | B(STREAMING) | B(RECONNECTING) | B(PAUSED) | B(STOPPING) |
                           B(STOPPED) | B(FAILED),
        [SL_SRC_SNAPSHOTTING] = B(STREAMING) | B(RECONNECTING) | B(PAUSED) | B(STOPPING) | B(FAILED),
        [SL_SRC_STREAMING] = B(SNAPSHOTTING) | B(RECONNECTING) | B(PAUSED) | B(STOPPING) | B(FAILED),
        [SL_SRC_RECONNECTING] = B(OPENING) | B(STOPPED) | B(FAILED),
        [SL_SRC_PAUSED] = B(OPENING) | B(STOPPED) | B(FAILED),
        [SL_SRC_STOPPING] = B(STOPPED) | B(FAILED),
        [SL_SRC_FAILED] = 0, /* a failed connector is replaced, not reopened */
    };
#undef B
    if ((unsigned)from >= (unsigned)SL_SRC__COUNT || (unsigned)to >= (unsigned)SL_SRC__COUNT) return false;
    return from == to || (next[from] & (1u << to)) != 0;
}

bool sl_ctx_set_source_state(sl_ctx *x, sl_src_state st) {
    int cur = atomic_load(&x->src_state);
    do {
        if (!sl_src_state_allowed((sl_src_state)cur, st)) return false;
    } while (!atomic_compare_exchange_weak(&x->src_state, &cur, (int)st));
    if (cur != (int)st)
        SL_DEBUG("connector", "source %s -> %s connector=%s", sl_src_state_name((sl_src_state)cur),
                 sl_src_state_name(st), x->name ? x->name : "");
    return true;
}

sl_src_state sl_ctx_source_state(const sl_ctx *x) { return (sl_src_state)atomic_load(&x->src_state); }

int sl_ctx_emit(sl_ctx *x, sl_batch *b) {
    sl_ctx *c = x;
    if (b->n || b->offset) c->retries = 0; /* progress: the next lost connection counts from 1 again */
    if (b->offset) {
        sl_free(c->resume_offset);
        c->resume_offset = sl_strdup(b->offset);
    }
    atomic_fetch_add(&c->n_read, (uint64_t)b->n);
    atomic_fetch_add(&c->bytes_read, (uint64_t)sl_batch_bytes(b));
    if (sl_queue_push(c->q, b) < 0) {
        sl_batch_destroy(b);
        return -1;
    }
    return 0;
}

bool sl_ctx_wait_room(sl_ctx *x, int timeout_ms) { return sl_queue_wait_room(x->q, timeout_ms); }

size_t sl_ctx_queued_records(const sl_ctx *x) {
    size_t bytes = 0, recs = 0, batches = 0;
    if (x->q) sl_queue_stats(x->q, &bytes, &recs, &batches);
    return recs;
}

size_t sl_ctx_unconfirmed_records(const sl_ctx *x) {
    int64_t u = atomic_load(&x->unacked);
    return sl_ctx_queued_records(x) + (u > 0 ? (size_t)u : 0);
}

void sl_ctx_add_unacked(sl_ctx *x, int64_t n) { atomic_fetch_add(&x->unacked, n); }

int sl_ctx_emit_durable(sl_ctx *x, sl_batch *b) {
    sl_ctx *c = x;
    uint64_t id = b->sync_id = ++c->sync_req;
    if (sl_ctx_emit(x, b) < 0) return -1;
    while (atomic_load(&c->sync_done) < id) {
        if (sl_ctx_stopping(x)) return -1;
        sl_sleep_ms(5, NULL);
    }
    return 0;
}

void sl_ctx_snapshot_progress(sl_ctx *x, const char *table, int64_t rows_done, int64_t rows_total, bool done) {
    sl_ctx *c = x;
    pthread_mutex_lock(&c->m_lock);
    int i = 0;
    while (i < c->nsnap && strcmp(c->snap[i].table, table) != 0) i++;
    if (i == c->nsnap && c->nsnap < (int)(sizeof c->snap / sizeof c->snap[0])) {
        c->nsnap++;
        snprintf(c->snap[i].table, sizeof c->snap[i].table, "%s", table);
    }
    int64_t now = sl_mono_ms(), since = 0, rows_then = 0;
    if (i < c->nsnap) {
        sl_snapshot_table *t = &c->snap[i];
        t->rows_done = rows_done;
        t->rows_total = rows_total;
        t->done = done;
        if (!t->logged_ms || rows_done < t->logged_rows) t->logged_ms = now, t->logged_rows = rows_done;
        else if (!done && now - t->logged_ms >= SNAPSHOT_LOG_MS) {
            since = now - t->logged_ms, rows_then = t->logged_rows;
            t->logged_ms = now, t->logged_rows = rows_done;
        }
    }
    pthread_mutex_unlock(&c->m_lock);
    if (!since) return;
    double rate = (double)(rows_done - rows_then) * 1000.0 / (double)since;
    if (rows_total > rows_done && rate > 0)
        SL_INFO("snapshot", "progress connector=%s table=%s rows=%" PRId64 " of ~%" PRId64 " (%.0f%%) rows/s=%.0f "
                "left=%.0fs", c->name, table, rows_done, rows_total, 100.0 * (double)rows_done / (double)rows_total,
                rate, (double)(rows_total - rows_done) / rate);
    else
        SL_INFO("snapshot", "progress connector=%s table=%s rows=%" PRId64 " rows/s=%.0f", c->name, table, rows_done,
                rate);
}

void sl_ctx_snapshot_chunks(sl_ctx *x, const char *table, int chunks, int chunks_done) {
    pthread_mutex_lock(&x->m_lock);
    for (int i = 0; i < x->nsnap; i++)
        if (strcmp(x->snap[i].table, table) == 0) x->snap[i].chunks = chunks, x->snap[i].chunks_done = chunks_done;
    pthread_mutex_unlock(&x->m_lock);
}

void sl_ctx_records_stale(sl_ctx *x, uint64_t n) { atomic_fetch_add(&x->n_stale, n); }

void sl_ctx_sink_waiting(sl_ctx *x, bool on) {
    if (on == (atomic_load(&x->sink_waiting) != 0)) return;
    int64_t now = sl_mono_ms();
    if (on) x->sink_wait_since_ms = now;
    else atomic_fetch_add(&x->sink_waited_ms, (uint64_t)(now - x->sink_wait_since_ms));
    atomic_store(&x->sink_waiting, on ? 1 : 0);
}

void sl_ctx_record_failed(sl_ctx *x, bool sent_to_dlq) {
    atomic_fetch_add(&x->n_failed, 1);
    if (sent_to_dlq) atomic_fetch_add(&x->n_dlq, 1);
}

void sl_ctx_bytes_written(sl_ctx *x, uint64_t n) { atomic_fetch_add(&x->bytes_written, n); }

void sl_ctx_source_lag(sl_ctx *x, int64_t records_behind, int64_t bytes_behind) {
    atomic_store(&x->lag_records, records_behind);
    atomic_store(&x->lag_bytes, bytes_behind);
}

sl_ctx_stats sl_ctx_get_stats(const sl_ctx *x) {
    const sl_ctx *c = x;
    return (sl_ctx_stats){atomic_load(&c->n_read), atomic_load(&c->n_written), atomic_load(&c->n_batches),
                          atomic_load(&c->n_commits)};
}

bool sl_ctx_eos(const sl_ctx *x) { return x->eos; }

bool sl_ctx_offsets_in_sink(const sl_ctx *x) { return x->offsets_in_sink; }

sl_kafka_dlq *sl_ctx_open_dlq(sl_ctx *x, char *errstr, size_t errsz) {
    const sl_core_conf *core = &x->core;
    rd_kafka_conf_t *conf = sl_kafka_conf_new(&core->kafka, x->cfg, "producer.override.", errstr, errsz);
    if (!conf) return NULL;
    sl_kafka_dlq_opts o = {core->dlq_topic, core->dlq_rf, core->dlq_headers, x->name, core->err_retry_timeout_ms,
                           core->err_retry_delay_max_ms};
    sl_kafka_dlq *d = sl_kafka_dlq_open(conf, &o, sl_ctx_stopping_fn, x, errstr, errsz);
    if (!d) rd_kafka_conf_destroy(conf);
    return d;
}

int sl_ctx_reject(sl_ctx *x, const char *sink, const char *task_class, sl_kafka_dlq **dlq, const sl_rejected *r,
                  char *errstr, size_t errsz) {
    const sl_core_conf *core = &x->core;
    if (core->err_tolerance != SL_TOL_ALL) {
        snprintf(errstr, errsz, "%s sink: %s: %s (errors.tolerance=none stops the connector; errors.tolerance=all "
                                "skips such records and sends them to errors.deadletterqueue.topic.name)",
                 sink, r->what, r->reason);
        sl_ctx_error_code(x, SL_E_SINK_REJECTED);
        return -1;
    }
    if (core->err_log_messages)
        SL_ERR(sink, "skipping %s: %s key=%.*s value=%.*s", r->what, r->reason,
               r->key ? (int)(r->key_len > 1024 ? 1024 : r->key_len) : 4, r->key ? r->key : "null",
               r->value ? (int)(r->value_len > 1024 ? 1024 : r->value_len) : 4, r->value ? r->value : "null");
    else SL_ERR(sink, "skipping %s: %s", r->what, r->reason);
    if (core->dlq_topic && *core->dlq_topic) {
        char err[1024];
        if (!*dlq && !(*dlq = sl_ctx_open_dlq(x, err, sizeof err))) {
            snprintf(errstr, errsz, "%s sink: the dead letter queue cannot be opened: %s", sink, err);
            sl_ctx_error_code(x, SL_E_SINK_UNAVAILABLE);
            return -1;
        }
        sl_kafka_dlq_rec dr = {r->topic, r->partition, r->offset, r->ts_ms, r->key, r->key_len, r->value,
                               r->value_len, NULL, r->exception};
        if (sl_kafka_dlq_send(*dlq, &dr, "TASK_PUT", task_class, r->reason, err, sizeof err) < 0) {
            snprintf(errstr, errsz, "%s sink: %s could not be sent to the dead letter queue: %s", sink, r->what, err);
            sl_ctx_error_code(x, SL_E_SINK_UNAVAILABLE);
            return -1;
        }
    }
    sl_ctx_record_failed(x, *dlq != NULL);
    return 0;
}

void sl_ctx_enter_source_thread(const sl_ctx *x) { source_thread_of = x; }

bool sl_ctx_stopping_fn(const void *ctx) { return sl_ctx_stopping(ctx); }
