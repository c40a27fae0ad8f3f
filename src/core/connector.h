/*
 * The connector runtime: one source thread, a bounded queue, one sink
 * thread, and the delivery contract between them.
 *
 * The source emits batches; a batch may carry the source offset that is safe
 * once it and everything before it is durable. The sink thread applies the
 * transform chain, writes batches, flushes the sink (durable), and only then
 * takes the newest offset of the flushed batches as committed: it is stored
 * in the offset store at most every offset.flush.interval.ms (and at
 * shutdown), and published to the source (sl_ctx_committed_seq) only after
 * it is stored, so that e.g. PostgreSQL's slot never moves past what the
 * offset store and the sink hold.
 */
#ifndef SL_CORE_CONNECTOR_H
#define SL_CORE_CONNECTOR_H
#include <stdbool.h>
#include <stdint.h>
#include "core/conf.h"
#include "core/plugin.h"
#include "format/dbz_json.h"
#include "kafka/kclient.h"

/* Connector-level settings (the runtime's own property table). */
typedef struct sl_core_conf {
    char *connector_class;
    char *sink_type;
    int64_t max_batch_size;
    int64_t max_queue_size;
    int64_t max_queue_bytes;
    int64_t poll_interval_ms;
    int offset_storage;      /* 0 = sqlite, 1 = kafka */
    char *offset_file;
    char *offset_topic;
    int64_t offset_partitions, offset_rf;
    int eos;                 /* 0 disabled, 1 requested, 2 required */
    char *transactional_id;
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
} sl_core_conf;

enum { SL_TOL_NONE = 0, SL_TOL_ALL = 1 };

extern const sl_prop sl_core_props[];

typedef struct sl_connector sl_connector;

/*
 * Parses and validates cfg (all components' tables, cross-key checks) without
 * touching any database. Returns NULL when errs has problems. Takes no
 * ownership of cfg (it must outlive the connector).
 */
sl_connector *sl_connector_new(sl_config *cfg, sl_errs *errs);
/* Opens the offset store, sink and source, and starts the threads. */
int sl_connector_start(sl_connector *c, char *errstr, size_t errstr_size);
/* True while the source or sink thread is still running. */
bool sl_connector_running(sl_connector *c);
/* Asks the connector to stop (async-signal-safe: sets a flag). */
void sl_connector_stop(sl_connector *c);
/* Joins the threads; returns 0 after a clean stop, -1 if it failed (message in errstr). */
int sl_connector_wait(sl_connector *c, char *errstr, size_t errstr_size);
void sl_connector_destroy(sl_connector *c);
const char *sl_connector_name(const sl_connector *c);
const sl_core_conf *sl_connector_core(const sl_connector *c);
/* The sink a config without sink.type writes to (sink.type's default). */
const char *sl_connector_default_sink(void);
/* Adds the files the connector's keys name (SL_PF_FILE_*: its sink's file, its SQLite offset store unless the
 * offsets are in Kafka, TLS files), with owner and tag, to u. */
void sl_connector_files(const sl_connector *c, const char *owner, int tag, sl_file_uses *u);
/* True when records and offsets commit together (exactly.once.support with a transactional sink). */
bool sl_connector_eos(const sl_connector *c);
/* Offsets of this connector: list / delete, with the configured store. */
int sl_connector_offsets_list(sl_connector *c, FILE *out, char *errstr, size_t errstr_size);
int sl_connector_offsets_reset(sl_connector *c, int *removed, char *errstr, size_t errstr_size);
/* What the source's server retains for this connector (sl_source_ops.retained): 0, 1 when nothing (or the source
 * cannot tell), -1 with errstr. Connects to the database; any thread. */
int sl_connector_source_retained(const sl_connector *c, sl_source_retained *out, char *errstr, size_t errstr_size);
/* Checks an offset given for this connector's source (sl_source_ops.check_offset); 0 when the source has no
 * such check. */
int sl_connector_check_offset(const sl_connector *c, const struct json_t *partition, const struct json_t *offset,
                              char *errstr, size_t errstr_size);

/* ---- for plugins ---- */
const char *sl_ctx_name(const sl_ctx *x);
const sl_core_conf *sl_ctx_core(const sl_ctx *x);
/* The connector's raw configuration (for pass-through keys such as producer.override.*). */
const sl_config *sl_ctx_config(const sl_ctx *x);
/* The connector's source (its capabilities, e.g. for a sink: ejson_values). */
const sl_source_ops *sl_ctx_source_ops(const sl_ctx *x);
/* Sink: commit() will be used instead of flush() (exactly-once). */
bool sl_ctx_eos(const sl_ctx *x);
/* Encoder options: the runtime's (converters, heartbeat and transaction topics) and the source's
 * (sl_source_ops.describe), fixed when the connector is created. A source without describe may still fill
 * them in its first open(); what a reopen writes lands in a copy of the source thread's own (the sink thread
 * reads the published options meanwhile) and is not taken over. Read-only everywhere else. */
sl_dbz_opts *sl_ctx_dbz(sl_ctx *x);
/* True when the connector stops; on the source thread also while it is paused (run() should
 * then return 0 as on a stop: the runtime closes the source and reopens it on resume). */
bool sl_ctx_stopping(const sl_ctx *x);
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
/* Source thread: records why run() returns SL_RETRY (logged by the runtime). */
void sl_ctx_retry(sl_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records the failure reason and stops the connector. Any thread. */
void sl_ctx_fail(sl_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Counters for status and metrics. */
typedef struct sl_ctx_stats {
    uint64_t records_read, records_written, batches_written, offsets_committed;
} sl_ctx_stats;
sl_ctx_stats sl_ctx_get_stats(const sl_ctx *x);
/* Source: snapshot progress of one table (rows_total -1: unknown); done marks it finished. */
void sl_ctx_snapshot_progress(sl_ctx *x, const char *table, int64_t rows_done, int64_t rows_total, bool done);
/* A record that could not be delivered and was skipped (errors.tolerance=all), sent to the DLQ or not. */
void sl_ctx_record_failed(sl_ctx *x, bool sent_to_dlq);
/* Source: how far the committed position is behind the source, where measurable (-1: unknown). */
void sl_ctx_source_lag(sl_ctx *x, int64_t records_behind, int64_t bytes_behind);
/* Sink: bytes it wrote (encoded form: file bytes, Kafka key + value, BSON documents). */
void sl_ctx_bytes_written(sl_ctx *x, uint64_t n);

/* ---- daemon mode: pause/resume and metrics ---- */

/* Pause: the source stops reading and closes its connection (the position is kept: the PostgreSQL
 * slot, the binlog position, the consumer group's offsets), the sink drains what is queued.
 * Resume: the source opens again where it stopped. Any thread. Paused before sl_connector_start, a
 * connector opens its source and closes it again before reading anything. */
void sl_connector_pause(sl_connector *c);
void sl_connector_resume(sl_connector *c);
bool sl_connector_paused(const sl_connector *c);
/* Copies the newest failure reason (empty when none). */
void sl_connector_last_error(sl_connector *c, char *out, size_t outsz);

#define SL_LATENCY_BUCKETS 12
/* Upper bounds (ms) of the end-to-end latency histogram buckets; the last is +Inf. */
extern const double sl_latency_bounds_ms[SL_LATENCY_BUCKETS];

typedef struct sl_snapshot_table {
    char table[128];
    int64_t rows_done, rows_total; /* rows_total -1: unknown */
    bool done;
} sl_snapshot_table;

typedef struct sl_connector_metrics {
    uint64_t records_read, records_written, batches_written, offsets_committed;
    uint64_t bytes_read;              /* change data handed from source to sink (in-memory size) */
    uint64_t bytes_written;           /* sl_ctx_bytes_written: what the sink wrote, encoded */
    uint64_t records_filtered;        /* dropped by transforms */
    uint64_t records_failed, records_dlq;
    uint64_t reconnects;
    uint64_t batch_size_sum, batch_size_count; /* records per written batch */
    size_t queue_records, queue_bytes, queue_max_records, queue_max_bytes;
    int64_t source_ts_ms;             /* source commit time of the newest written record (0: none yet) */
    int64_t lag_ms;                   /* durable time - source commit time of the newest record of the last
                                       * durable run; 0 after an idle advance with nothing queued; -1 unknown */
    int64_t lag_records, lag_bytes;   /* sl_ctx_source_lag, -1 unknown */
    uint64_t latency_count;           /* end to end: source commit -> durable in the sink */
    double latency_sum_ms;
    uint64_t latency_buckets[SL_LATENCY_BUCKETS]; /* cumulative counts, Prometheus style */
    char offset[512];                 /* newest committed source offset (JSON), "" if none */
    char last_error[1024];            /* newest failure or retry reason (redacted), "" if none */
    int64_t last_error_ms;            /* its wall time, ms since the epoch; 0 if none */
    sl_snapshot_table snapshot[16];   /* snapshot progress of up to 16 tables */
    int nsnapshot;
    bool running, paused, failed;
} sl_connector_metrics;
void sl_connector_get_metrics(sl_connector *c, sl_connector_metrics *m);

#endif
