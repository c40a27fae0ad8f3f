/*
 * The context's inside, for the runtime that embeds it (runtime/connector.c)
 * and its functions (ctx.c): what the source thread, the sink thread and the
 * runtime share of one connector. Plugins see only ctx/ctx.h.
 */
#ifndef SL_CTX_CTX_INT_H
#define SL_CTX_CTX_INT_H
#include <pthread.h>
#include <stdatomic.h>
#include "core/queue.h"
#include "ctx/ctx.h"
#include "core/log.h"
#include "state/offsets.h"

struct sl_ctx {
    sl_config *cfg;
    char *name;
    sl_core_conf core;
    const sl_source_ops *src_ops;
    sl_dbz_opts dbz;         /* the encoder options: fixed before the threads start (sl_ctx_dbz) */
    sl_dbz_opts dbz_src;     /* the source thread's copy of dbz, which a reopen may write */
    sl_queue *q;
    sl_offsets *store;
    char *partition;
    char *stored_offset;
    bool stored_loaded;
    char *resume_offset;     /* newest offset emitted: where a reconnect resumes (source thread) */
    int64_t retries;         /* reconnects since the source last handed on a change or a position (source thread) */
    int64_t ran;             /* source run()s that returned (source thread) */
    _Atomic int stop;
    _Atomic int failed;
    _Atomic uint64_t committed_seq;
    _Atomic int64_t unacked; /* records a pipelined sink took whose acks have not come (the sink thread's) */
    uint64_t sync_req;       /* last sync_id handed on (source thread) */
    _Atomic uint64_t sync_done; /* newest sync_id whose offset is stored */
    _Atomic uint64_t n_read, n_written, n_batches, n_commits;
    _Atomic int paused;
    _Atomic uint64_t bytes_read, bytes_written, n_failed, n_dlq, n_stale;
    _Atomic int sink_waiting;      /* 1 while the sink waits for room in its target */
    _Atomic uint64_t sink_waited_ms; /* time it waited, finished waits */
    int64_t sink_wait_since_ms;    /* sink thread: when the current wait began */
    _Atomic int64_t lag_records, lag_bytes;
    pthread_mutex_t m_lock;  /* snapshot progress, and the runtime's latency metrics */
    sl_snapshot_table snap[16];
    int nsnap;
    bool eos;                /* records and offsets commit together through the sink's commit */
    bool offsets_in_sink;    /* ... and the sink keeps them in its target (offset.storage=target): the truth */
    _Atomic int own_heartbeats; /* the source writes its own heartbeat records (mongo-kafka's) */
    _Atomic int src_state;   /* sl_src_state */
    pthread_mutex_t err_lock;
    sl_err err;              /* the failure (when failed) */
    sl_err retry_err;        /* the newest reason for a retry */
    int64_t err_ms;          /* wall time of the newest err or retry_err */
    /* Signals (signal.c): the queue under sig_lock; the rest is the source thread's. */
    pthread_mutex_t sig_lock;
    struct sl_signal_node *sig_head;
    char *sig_topic;         /* signal.kafka.topic, or <topic.prefix>-signal */
    rd_kafka_t *sig_rk;
    int64_t sig_file_ms, sig_kafka_ms, sig_rk_failed_ms;
    sl_log_limit sig_log_limit;
};

/* Closes the Kafka signal consumer and drops queued signals (the runtime, once the source is closed). */
void sl_ctx_signals_close(sl_ctx *x);
/* Marks the calling thread as x's source thread (sl_ctx_stopping while paused, sl_ctx_dbz's copy). */
void sl_ctx_enter_source_thread(const sl_ctx *x);
/* The code that the plugin call this thread made last named with sl_ctx_error_code (SL_E_NONE: none); clears it.
 * The runtime clears it before an open/write/flush/commit and takes it after one that failed. */
sl_err_code sl_ctx_take_error_code(void);
/* Records e as the retry reason (the runtime's reconnect loop). */
void sl_ctx_retry_err(sl_ctx *x, const sl_err *e);

#endif
