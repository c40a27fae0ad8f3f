/*
 * What a source or sink is given: the context (sl_ctx) of the connector it
 * runs in, and the connector-level settings (sl_core_conf) it may read.
 *
 * The calls are the plugins' side of the delivery contract (runtime/connector.h
 * describes it): a source emits batches and learns what became durable, a sink
 * reports what it wrote; either can fail the connector. The state behind them
 * is shared by the source thread, the sink thread and the runtime, which
 * embeds it (ctx_int.h); the runtime calls a plugin only through its ops
 * struct, so plugins depend on this layer and never on the runtime.
 */
#ifndef SL_CTX_CTX_H
#define SL_CTX_CTX_H
#include <stdbool.h>
#include <stdint.h>
#include "core/conf.h"
#include "core/err.h"
#include "core/plugin.h"
#include "format/dbz_json.h"
#include "kafka/kclient.h"

/* Connector-level settings (the runtime's own property table). */
typedef struct sl_core_conf {
    char *connector_class;
    char *sink_type;
    int64_t max_batch_size;
    int64_t encode_threads;  /* sink.encode.threads (format/benc.h) */
    int64_t max_queue_size;
    int64_t max_queue_bytes;
    int64_t poll_interval_ms;
    int offset_storage;      /* 0 = sqlite, 1 = kafka */
    char *offset_file;
    char *offset_topic;
    int64_t offset_partitions, offset_rf;
    int eos;                 /* 0 disabled, 1 requested, 2 required */
    char *transactional_id;
    bool fencing;            /* task.fencing: starting fences an older instance that may still run */
    int64_t tasks_max, task_id; /* tasks.max; which of them this instance is (set by the worker) */
    sl_kafka_client kafka;   /* the connector's Kafka cluster (sink, source, offset store) */
    char *heartbeat_prefix, *tx_topic;
    int64_t offset_flush_ms;
    char *log_level;
    bool key_schemas, value_schemas;
    bool replace_null_with_default;
    bool tombstones;
    int64_t max_retries;
    int64_t retry_wait_ms;
    char *transforms;
    /* errors.*: a record that cannot be delivered (a transform fails on it, a value cannot be encoded) */
    int err_tolerance;       /* SL_TOL_NONE: the connector stops; SL_TOL_ALL: the record is skipped */
    bool err_log_enable, err_log_messages;
    char *dlq_topic;         /* "": no dead letter queue */
    int64_t dlq_rf;
    bool dlq_headers;
    int64_t err_retry_timeout_ms, err_retry_delay_max_ms;
    /* signal.*: signals to the source (ctx/signal.c), incremental.snapshot.* */
    char *sig_channels, *sig_collection, *sig_file, *sig_kafka_topic, *sig_kafka_bootstrap, *sig_kafka_group;
    int64_t sig_poll_ms;
    int64_t isnap_chunk;
} sl_core_conf;

enum { SL_TOL_NONE = 0, SL_TOL_ALL = 1 };

typedef struct sl_snapshot_table {
    char table[128];
    int64_t rows_done, rows_total; /* rows_total -1: unknown */
    bool done;
    int chunks, chunks_done;        /* the table read in parallel ranges (0: in one) */
    int64_t logged_ms, logged_rows; /* the last progress line in the log (every 10 s) */
} sl_snapshot_table;

const char *sl_ctx_name(const sl_ctx *x);
const sl_core_conf *sl_ctx_core(const sl_ctx *x);
/* The connector's raw configuration (for pass-through keys such as producer.override.*). */
const sl_config *sl_ctx_config(const sl_ctx *x);
/* The connector's source (its capabilities, e.g. for a sink: ejson_values). */
const sl_source_ops *sl_ctx_source_ops(const sl_ctx *x);
/* Sink: commit() will be used instead of flush() (exactly-once). */
bool sl_ctx_eos(const sl_ctx *x);
/* True when the sink keeps the offsets in its own target, written with the records (offset.storage=target): the
 * stored offset is where to resume, even for a source that has a position of its own elsewhere (Kafka's group). */
bool sl_ctx_offsets_in_sink(const sl_ctx *x);
/* Opens the connector's dead letter queue writer (errors.deadletterqueue.*, the Kafka client's keys with
 * producer.override.*): NULL with errstr naming the topic when it cannot. Its waits end when the connector stops. */
struct sl_kafka_dlq *sl_ctx_open_dlq(sl_ctx *x, char *errstr, size_t errstr_size);
/* Encoder options: the runtime's (converters, heartbeat and transaction topics) and the source's
 * (sl_source_ops.describe), fixed when the connector is created. A source without describe may still fill
 * them in its first open(); what a reopen writes lands in a copy of the source thread's own (the sink thread
 * reads the published options meanwhile) and is not taken over. Read-only everywhere else. */
sl_dbz_opts *sl_ctx_dbz(sl_ctx *x);
/* True when the connector stops; on the source thread also while it is paused (run() should
 * then return 0 as on a stop: the runtime closes the source and reopens it on resume). */
bool sl_ctx_stopping(const sl_ctx *x);
/* Source: true once a run() of this connector instance has returned (this open or run follows a lost connection
 * or a pause). task.fencing takes the source's server-side stream from an older instance only before: a
 * reopening instance may be the older one, fenced since. */
bool sl_ctx_reopening(const sl_ctx *x);
/* True while the connector is paused (a source's close() must then keep what a stop would drop). */
bool sl_ctx_paused(const sl_ctx *x);
/* The source writes heartbeat records of its own (mongo-kafka's): the runtime adds no Debezium heartbeats
 * for heartbeat.interval.ms. Call from open(). */
void sl_ctx_own_heartbeats(sl_ctx *x);
/* Source, in open(): names the source partition, e.g. {"server":"prefix"}. */
void sl_ctx_set_partition(sl_ctx *x, const char *partition_json);
/* Source: the offset to resume from: the one stored for this connector's
 * partition at start, or after a reconnect the newest offset already handed
 * to the sink (everything before it will be delivered). NULL: none. */
const char *sl_ctx_stored_offset(sl_ctx *x);
/* Whether a source should hand b on before adding to it: it holds max.batch.size records, or
 * max.queue.size.in.bytes bytes (when set), so that very large values do not pile up in one batch
 * beyond what the queue would hold. */
bool sl_ctx_batch_full(const sl_ctx *x, const sl_batch *b);
/* Records queued between source and sink (not yet taken by the sink thread). */
size_t sl_ctx_queued_records(const sl_ctx *x);
/* Records not yet confirmed by the sink: those queued, and those a pipelined sink took whose acks have not
 * come (a Kafka producer's queue and requests in flight). */
size_t sl_ctx_unconfirmed_records(const sl_ctx *x);
/* The runtime's sink thread: n records were taken by a pipelined sink and await their acks (n < 0: -n came). */
void sl_ctx_add_unacked(sl_ctx *x, int64_t n);
/* Source thread: hands a batch to the sink (blocks while the queue is full).
 * Returns 0, or -1 when the connector is stopping (the batch is destroyed). */
int sl_ctx_emit(sl_ctx *x, sl_batch *b);
/* Source thread: waits up to timeout_ms for room in the queue, so that a source can tend its connection (a
 * status update, a look at the server) instead of blocking in sl_ctx_emit while the sink is behind. True when
 * sl_ctx_emit would not block now, or the connector stops; false after the timeout. */
bool sl_ctx_wait_room(sl_ctx *x, int timeout_ms);
/* Source thread: hands on a batch that carries an offset and returns once that offset is stored (the
 * sink flushed everything before it), without waiting for offset.flush.interval.ms. For a position a
 * crash must not lose even though no record went out yet, e.g. a snapshot's start before its first
 * row. Returns 0, or -1 when the connector is stopping. */
int sl_ctx_emit_durable(sl_ctx *x, sl_batch *b);
/* Newest offset_seq that is durable in the sink and stored. Any thread. */
uint64_t sl_ctx_committed_seq(const sl_ctx *x);
/*
 * Failures (core/err.h). A source's run() raises what went wrong with sl_ctx_raise, whose answer it returns:
 * SL_RETRY for a retriable error (the runtime closes the source and opens it again after a pause), -1 for any
 * other (the connector stops). open() and a sink's write/flush/commit put the message in errstr as ever and
 * name its kind with sl_ctx_error_code. The runtime keeps the newest failure and retry reason with their codes
 * (REST status, metrics, the worker's log line).
 */
/* Source thread, in run(): records e; returns SL_RETRY when e->retriable (e becomes the retry reason), else
 * -1 after failing the connector as sl_ctx_fail_err. */
int sl_ctx_raise(sl_ctx *x, const sl_err *e);
/* sl_ctx_raise of an error of kind code (its default retriable flag) with that message. */
int sl_ctx_raisef(sl_ctx *x, sl_err_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records e as the failure reason and stops the connector, whether e is retriable or not. Any thread. */
void sl_ctx_fail_err(sl_ctx *x, const sl_err *e);
void sl_ctx_fail_code(sl_ctx *x, sl_err_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Source thread: records why run() returns SL_RETRY, a lost connection (SL_E_CONNECT). */
void sl_ctx_retry(sl_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* sl_ctx_fail_code with SL_E_INTERNAL: a failure its raiser does not classify. Any thread. */
void sl_ctx_fail(sl_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* open(), or a sink's write/flush/commit, at a failure whose message is in errstr: names its kind for the runtime,
 * on the calling thread (the runtime reads it right after the call, as errno). Returns what open() returns for
 * it: SL_RETRY when the code is retriable by default, else -1 (write/flush/commit return -1 either way: a sink
 * failure stops the connector, whose restart the worker's policy decides). */
int sl_ctx_error_code(sl_ctx *x, sl_err_code code);

/*
 * The source's lifecycle, kept in the context: set by the runtime and the source at each transition, read
 * by anyone (atomic). STOPPED -> OPENING at start; the source moves on to SNAPSHOTTING and STREAMING (back to
 * SNAPSHOTTING when it must copy again); the runtime sets RECONNECTING after a retriable error (then OPENING
 * again), PAUSED while paused, STOPPING when run() ended, and STOPPED or FAILED once the source is closed for
 * good. A source closed while RECONNECTING or PAUSED keeps what it holds at the server (a PostgreSQL slot).
 * sl_src_state_allowed is the table of transitions; a change it does not allow is refused (returns false):
 * e.g. a source that reaches STREAMING after the runtime saw its run() end.
 */
#define SL_SRC_STATES(X)                                                                                          \
    X(STOPPED, "stopped")           /* not started yet, or closed after a clean stop */                          \
    X(OPENING, "opening")           /* open() runs: connecting, checking, planning the start */                  \
    X(SNAPSHOTTING, "snapshotting") /* copying the existing rows or documents */                                \
    X(STREAMING, "streaming")       /* reading changes */                                                       \
    X(RECONNECTING, "reconnecting") /* run() or a reopen asked for a retry: waiting to open again */            \
    X(PAUSED, "paused")             /* closed while the connector is paused */                                  \
    X(STOPPING, "stopping")         /* run() ended: the sink drains, then the source is closed */               \
    X(FAILED, "failed")             /* closed after the connector failed */
typedef enum {
#define SL_SRC_ENUM(st, name) SL_SRC_##st,
    SL_SRC_STATES(SL_SRC_ENUM)
#undef SL_SRC_ENUM
    SL_SRC__COUNT
} sl_src_state;
const char *sl_src_state_name(sl_src_state st);
/* Whether a source may go from one state to the other (staying is always allowed). */
bool sl_src_state_allowed(sl_src_state from, sl_src_state to);
/* Moves x's source to st when the table allows it; false (and no change) otherwise. Any thread. */
bool sl_ctx_set_source_state(sl_ctx *x, sl_src_state st);
sl_src_state sl_ctx_source_state(const sl_ctx *x);
/* Counters for status and metrics. */
typedef struct sl_ctx_stats {
    uint64_t records_read, records_written, batches_written, offsets_committed;
} sl_ctx_stats;
sl_ctx_stats sl_ctx_get_stats(const sl_ctx *x);
/* Source: snapshot progress of one table (rows_total -1: unknown); done marks it finished. */
void sl_ctx_snapshot_progress(sl_ctx *x, const char *table, int64_t rows_done, int64_t rows_total, bool done);
/* Source: the table is read in chunks ranges, chunks_done of them complete. */
void sl_ctx_snapshot_chunks(sl_ctx *x, const char *table, int chunks, int chunks_done);
/* A record a sink cannot write (sl_ctx_reject). */
typedef struct sl_rejected {
    const char *what;         /* names the record in messages ("record of public.t (op u)", "record t/0@42") */
    const char *topic;        /* where it came from or would have gone (the dead letter queue's context) */
    int32_t partition;        /* -1: none */
    int64_t offset, ts_ms;    /* -1: none */
    const char *key, *value;  /* its key and value as Kafka carries them; NULL: null */
    size_t key_len, value_len;
    const char *exception;    /* the Java exception class the queue's headers name; NULL: Connect's DataException */
    const char *reason;       /* why (the exception's message) */
} sl_rejected;
/*
 * Sink thread: record r cannot be written. errors.tolerance=none: errstr says so ("<sink> sink: <what>: <reason>
 * (...)"), its code is SL_E_SINK_REJECTED, -1. all: logged (key and value too with
 * errors.log.include.messages), counted, and sent to the dead letter queue when one is configured (*dlq opened
 * at first use; the sink closes it): 0, or -1 when the queue cannot take it.
 */
int sl_ctx_reject(sl_ctx *x, const char *sink, const char *task_class, struct sl_kafka_dlq **dlq,
                  const sl_rejected *r, char *errstr, size_t errstr_size);
/* Sink: n records skipped because their target already holds a newer version of them (a replay). */
void sl_ctx_records_stale(sl_ctx *x, uint64_t n);
/* Sink: it starts (on) or stops waiting for room in its target (a memory threshold), for the metrics. */
void sl_ctx_sink_waiting(sl_ctx *x, bool on);
/* A record that could not be delivered and was skipped (errors.tolerance=all), sent to the DLQ or not. */
void sl_ctx_record_failed(sl_ctx *x, bool sent_to_dlq);
/* Source: how far the committed position is behind the source, where measurable (-1: unknown). */
void sl_ctx_source_lag(sl_ctx *x, int64_t records_behind, int64_t bytes_behind);
/* Sink: bytes it wrote (encoded form: file bytes, Kafka key + value, BSON documents). */
void sl_ctx_bytes_written(sl_ctx *x, uint64_t n);

/*
 * Signals (ctx/signal.c): {id, type, data} from the source's signal table, signal.file, the Kafka signal topic or
 * the REST API, for sources that take them (sl_source_ops.takes_signals).
 */
struct json_t;
typedef struct sl_signal {
    char *id, *type;
    struct json_t *data;     /* a JSON object, or NULL */
    const char *channel;     /* "source", "file", "kafka", "rest" */
} sl_signal;
/* A signal from its parts (data: JSON text of an object, or NULL/empty). NULL with errstr when data is no object. */
sl_signal *sl_signal_new(const char *id, const char *type, const char *data, const char *channel, char *errstr,
                         size_t errstr_size);
/* A signal in its JSON form {"id", "type", "data"} (id defaults to default_id). NULL with errstr. */
sl_signal *sl_signal_parse(const char *json, size_t len, const char *channel, const char *default_id, char *errstr,
                           size_t errstr_size);
void sl_signal_free(sl_signal *s);
/* Any thread (the REST API): queues a signal in its JSON form for x's source. 0, or -1 with errstr. */
int sl_ctx_signal_push(sl_ctx *x, const char *json, size_t len, char *errstr, size_t errstr_size);
/* Source thread: the next signal of the file, Kafka and REST channels (polled here, without waiting), or NULL.
 * The caller frees it. */
sl_signal *sl_ctx_signal_next(sl_ctx *x);

/* sl_ctx_stopping for callbacks that take a void pointer (the dead letter queue's wait). */
bool sl_ctx_stopping_fn(const void *ctx);

#endif
