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
#ifndef SL_RUNTIME_CONNECTOR_H
#define SL_RUNTIME_CONNECTOR_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "core/conf.h"
#include "core/plugin.h"
#include "ctx/ctx.h"


/* The runtime's own property table (sl_core_conf, ctx/ctx.h). */
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
/* How many tasks run the connector: tasks.max for a source that splits its work, else 1. */
int sl_connector_tasks(const sl_connector *c);
/* True when records and offsets commit together (exactly.once.support with a transactional sink). */
bool sl_connector_eos(const sl_connector *c);
/* Opens the connector's offset store as a start does (SQLite, or the Kafka topic: fenced with task.fencing);
 * offset.storage=target is the sink's, not opened here. NULL with errstr. */
struct sl_offsets *sl_connector_open_offsets(const sl_connector *c, char *errstr, size_t errstr_size);
/* Offsets of this connector: list / delete, with the configured store. */
int sl_connector_offsets_list(sl_connector *c, FILE *out, char *errstr, size_t errstr_size);
int sl_connector_offsets_reset(sl_connector *c, int *removed, char *errstr, size_t errstr_size);
/* What the source's server retains for this connector (sl_source_ops.retained): 0, 1 when nothing (or the source
 * cannot tell), -1 with errstr. Connects to the database; any thread. */
int sl_connector_source_retained(const sl_connector *c, sl_source_retained *out, char *errstr, size_t errstr_size);
/* sluice verify: read-only views of the connector's source and target (core/vside.h), each in one snapshot,
 * and the mapping of its transforms (map->fn NULL: none). A connector whose pair cannot be compared is an
 * error that says why. *src and *dst are set (NULL or partial objects to close) whatever the result. 0, or -1
 * with errstr. */
struct sl_vside;
struct sl_vmap;
/* sluice verify's rechecks: 1 when the connector's committed offsets cover source log position pos (a source
 * side's position()), 0 when not yet, -1 when that cannot be told (no offsets, a source that cannot compare,
 * offsets kept in the target). conn: the sl_connector (an sl_verify_opts.gate). Opens the offset store. */
int sl_connector_position_passed(void *conn, const char *pos);
int sl_connector_verify_open(sl_connector *c, struct sl_vside **src, struct sl_vside **dst, struct sl_vmap *map,
                             char *errstr, size_t errstr_size);
/* Sees each record the sink is about to write that the transforms made (or that came pre-encoded): its topic,
 * its key (JSON text) and its source time (ms since the epoch, -1 none). On the sink's thread; set before
 * start. */
typedef void (*sl_connector_tap)(void *arg, const char *topic, const char *key, size_t keylen, int64_t ts_ms);
void sl_connector_set_tap(sl_connector *c, sl_connector_tap fn, void *arg);
/* Checks an offset given for this connector's source (sl_source_ops.check_offset); 0 when the source has no
 * such check. */
/* Queues a signal (its JSON text) for the source (sl_ctx_signal_push). 0, or -1 with errstr. */
int sl_connector_signal(sl_connector *c, const char *json, char *errstr, size_t errstr_size);
int sl_connector_check_offset(const sl_connector *c, const struct json_t *partition, const struct json_t *offset,
                              char *errstr, size_t errstr_size);

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
/* The kind of the connector's failure (core/err.h), at start or while running; SL_E_NONE when it has not failed. */
sl_err_code sl_connector_error_code(sl_connector *c);
/* Where its source is in its lifecycle (ctx/ctx.h). Any thread. */
sl_src_state sl_connector_source_state(const sl_connector *c);

#define SL_LATENCY_BUCKETS 12
/* Upper bounds (ms) of the end-to-end latency histogram buckets; the last is +Inf. */
extern const double sl_latency_bounds_ms[SL_LATENCY_BUCKETS];


typedef struct sl_connector_metrics {
    uint64_t records_read, records_written, batches_written, offsets_committed;
    uint64_t bytes_read;              /* change data handed from source to sink (in-memory size) */
    uint64_t bytes_written;           /* sl_ctx_bytes_written: what the sink wrote, encoded */
    uint64_t records_filtered;        /* dropped by transforms */
    uint64_t records_failed, records_dlq;
    uint64_t records_stale;  /* skipped by the sink: its target held a newer version */
    size_t sink_waiting;     /* 1 while the sink waits for room in its target */
    uint64_t sink_waited_ms; /* finished waits */
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
    sl_err_code last_error_code;      /* its kind (SL_E_NONE if none) */
    int64_t last_error_ms;            /* its wall time, ms since the epoch; 0 if none */
    sl_snapshot_table snapshot[16];   /* snapshot progress of up to 16 tables */
    int nsnapshot;
    bool running, paused, failed;
    sl_src_state source_state;
} sl_connector_metrics;
void sl_connector_get_metrics(sl_connector *c, sl_connector_metrics *m);

#endif
