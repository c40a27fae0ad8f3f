/*
 * Every source, sink and (later) transform fills one ops struct and is
 * listed in the registry (runtime/registry.c) under its name and aliases, which
 * include the Java class names users paste from Debezium / Connect configs.
 *
 * The runtime parses the plugin's property table into a settings struct of
 * settings_size bytes, calls check() for cross-key rules, then open() on
 * the thread that starts the connector and run() on the plugin's own thread.
 *
 * What open() leaves behind (sources and sinks alike):
 *  - open may store its object in *src (*sink) as soon as the object exists, before it is complete. From
 *    then on the object is the runtime's, whatever open returns: the runtime calls close() on it exactly
 *    once, and never run() or write() on an object whose open failed.
 *  - So close() accepts NULL and a partly opened object: any member may still be unset (no connection, no
 *    consumer, nothing subscribed), and close does at most what the parts that exist allow.
 *  - open never frees what it stored in *src and never leaves *src pointing at freed memory; what it holds
 *    that is not yet part of the object (a librdkafka conf not yet given to rd_kafka_new, a PGresult) it
 *    releases before returning. It may undo what it did at the server (pg_open drops the slot and the
 *    publication it created), as that is not the object's.
 *  - After -1 the runtime closes the object when the connector is destroyed. After SL_RETRY (a source
 *    whose server could not be reached) the same at the first start; on a reopen the runtime keeps the
 *    partial object through the pause and closes it right before it opens again (the source's state is then
 *    RECONNECTING, ctx/ctx.h, so close keeps what the server holds for the connector).
 * A failure's message goes to errstr, its kind to sl_ctx_error_code (ctx/ctx.h).
 */
#ifndef SL_CORE_PLUGIN_H
#define SL_CORE_PLUGIN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/conf.h"
#include "core/record.h"

typedef struct sl_ctx sl_ctx;
typedef struct sl_sink_ops sl_sink_ops;
struct json_t;
struct sl_dbz_opts;
struct sl_vside;

/* A retriable failure (a source's open or run; see sl_ctx_raise and sl_ctx_error_code in ctx/ctx.h). */
#define SL_RETRY 1

/* What a source's server keeps for the connector whether it runs or not: the WAL a PostgreSQL slot holds back. */
typedef struct sl_source_retained {
    char slot[128];     /* what holds it (the replication slot's name) */
    int64_t bytes;      /* bytes held */
    int64_t warn_bytes; /* the source's threshold for a warning (0: none) */
} sl_source_retained;

typedef struct sl_source_ops {
    const char *name;
    const char *aliases;   /* "a|b": other names, Java class names */
    const char *doc;
    const sl_prop *props;
    size_t settings_size;
    /* Cross-key rules; adds to errs, no I/O. May be NULL. */
    void (*check)(void *settings, sl_config *cfg, sl_errs *errs);
    /* Connects and prepares; sets the offset partition with sl_ctx_set_partition.
     * Returns 0, -1 (fatal: bad config, missing table, ...) or SL_RETRY (the
     * database could not be reached: worth trying again later), which is what
     * sl_ctx_error_code returns for the failure's code. Partial objects: above. */
    int (*open)(void **src, void *settings, sl_ctx *ctx, char *errstr, size_t errstr_size);
    /* Source thread: reads until sl_ctx_stopping(); emits batches with sl_ctx_emit.
     * Returns 0 on a clean stop, or what sl_ctx_raise returned for its error:
     * -1 (the connector failed) or SL_RETRY (retriable, e.g. the connection was
     * lost: the runtime closes the source and opens it again after a pause).
     * Sets the source's state to SNAPSHOTTING and STREAMING as it gets there. */
    int (*run)(void *src);
    void (*close)(void *src);
    /* Optional: checks the shape and types of a partition and offset given from outside (PATCH
     * /connectors/<name>/offsets) against what the source writes, so that a bad one is refused before it is
     * stored. No I/O. Returns 0, or -1 with errstr naming the field ("offset.lsn: ..."). */
    int (*check_offset)(const struct json_t *partition, const struct json_t *offset, char *errstr,
                        size_t errstr_size);
    /* Optional: measures what the server retains for the connector (see sl_source_retained), with a short
     * connection of its own; any thread, whatever the connector's state (a stopped connector's slot still holds
     * WAL). Returns 0, 1 when nothing is held (no slot), or -1 with errstr. */
    int (*retained)(void *settings, sl_source_retained *out, char *errstr, size_t errstr_size);
    /* Optional: the encoder options its records need (source.connector, topic prefix, type modes), from the
     * settings alone, no I/O. Called once, when the connector is created: the options are fixed before any
     * thread runs and never change after (sl_ctx_dbz), so a reopen cannot rewrite what the sink thread reads. */
    void (*describe)(const void *settings, struct sl_dbz_opts *o);
    /* Optional: cross-key rules against the sink the connector writes to (its capabilities; NULL when
     * sink.type names no sink), after both check()s. Adds to errs, no I/O. */
    void (*check_sink)(void *settings, const sl_sink_ops *sink, sl_config *cfg, sl_errs *errs);
    /* Optional (sluice verify): a read-only view of the tables it captures, in one snapshot, on a connection of
     * its own; nothing is written. *out is set even on failure (then close it). 0, or -1 with errstr. */
    int (*verify_open)(void *settings, struct sl_vside **out, char *errstr, size_t errstr_size);
    /* Optional (sluice verify): 1 when the committed offset (its JSON text) covers log position pos (as the
     * verify side's position() gives it), 0 when not yet, -1 when it cannot tell. No I/O. */
    int (*position_passed)(const char *offset, const char *pos);
    /* Capabilities. consumes_kafka: reads Kafka topics (needs the connector's Kafka cluster; a Kafka Connect
     * sink connector's config runs with this source). ejson_values: its pre-encoded values (sl_record.raw)
     * are MongoDB extended JSON text. */
    bool consumes_kafka;
    bool ejson_values;
    /* takes_signals: reads signals (sl_ctx_signal_next; signal.* keys) and runs ad hoc snapshots on them
     * (what else its signals need, such as a signal table for watermarks, its check() says). */
    bool takes_signals;
    /* splits: several instances of one connector may read at once and share the work (a consumer group's
     * partitions): tasks.max of them run. A source without it reads one stream and runs as one task. */
    bool splits;
} sl_source_ops;

struct sl_sink_ops {
    const char *name;
    const char *aliases;
    const char *doc;
    const sl_prop *props;
    size_t settings_size;
    void (*check)(void *settings, sl_config *cfg, sl_errs *errs);
    /* As a source's open (partial objects: above), but 0 or -1: a sink that cannot open fails the start. */
    int (*open)(void **sink, void *settings, sl_ctx *ctx, char *errstr, size_t errstr_size);
    /* write, flush and commit return 0 or -1 with errstr, and name the failure's kind with sl_ctx_error_code.
     * Sink thread: encodes and writes (may buffer). The batch is freed when this
     * returns: a sink keeps copies of what it still needs, never pointers. */
    int (*write)(void *sink, sl_batch *b, char *errstr, size_t errstr_size);
    /* Sink thread: returns once everything written so far is durable. */
    int (*flush)(void *sink, char *errstr, size_t errstr_size);
    void (*close)(void *sink);
    /* Optional, exactly-once sinks (Kafka): like flush, and in the same atomic
     * step makes `offset` (NULL: none) the stored offset of the connector's
     * `partition`, so records and offset become durable together or not at all. */
    int (*commit)(void *sink, const char *partition, const char *offset, char *errstr, size_t errstr_size);
    /* Optional, sinks that keep the offsets commit writes in their own target (offset.storage=target): the
     * stored offset of the connector's partition (*offset sl_malloc'ed, NULL when none). Any thread, with a
     * short connection of its own. 0, or -1 with errstr. */
    int (*stored_offset)(void *sink, const char *connector, const char *partition, char **offset, char *errstr,
                         size_t errstr_size);
    /* Capabilities (commit above is the transactional one). produces_kafka: writes to Kafka (needs the
     * connector's Kafka cluster). accepts_binary: writes a pre-encoded record's binary key and value
     * (sl_raw.binary_*) as they are. */
    bool produces_kafka;
    bool accepts_binary;
    /* Optional, sinks that keep (a rendering of) what they were given until the flush: the bytes they hold now.
     * The runtime ends a run once that reaches a quarter of max.queue.size.in.bytes, so the sink's memory stays
     * within it as a source's batch does. Sink thread. */
    size_t (*held_bytes)(void *sink);
    /* Optional (sluice verify): a read-only view of the target, where each source table's rows went (as the
     * source's verify_open). */
    int (*verify_open)(void *settings, struct sl_vside **out, char *errstr, size_t errstr_size);
    /* Optional, sinks whose target confirms writes one by one as they land (Kafka's acks): pipelined delivery.
     * mark() closes what was written since the previous mark under a ticket (tickets increase) and returns it,
     * or 0 when the sink holds too many open tickets (then the runtime flushes). acked() serves the target's
     * confirmations, waiting up to wait_ms for one, and sets *ticket to the newest ticket whose records and all
     * before them are durable (0: none yet); it returns -1 with errstr once a write has failed. With both,
     * the runtime writes on while earlier runs await their confirmations and stores an offset once the ticket
     * of its run is acked, instead of flushing after every run (flush still makes everything durable, and
     * everything marked before it counts as acked). Sink thread. */
    uint64_t (*mark)(void *sink);
    int (*acked)(void *sink, int wait_ms, uint64_t *ticket, char *errstr, size_t errstr_size);
    /* one_writer: the target takes one writer (a file): a connector of several tasks cannot write to it. */
    bool one_writer;
};

/* True when `want` is the native name (case-insensitively) or exactly one of the "a|b" aliases. */
bool sl_plugin_name_is(const char *want, const char *name, const char *aliases);
/* ---- the registry (runtime/registry.c: the one place that names every plugin) ---- */
const sl_source_ops *sl_source_find(const char *name);
const sl_sink_ops *sl_sink_find(const char *name);
/* The source that reads Kafka topics (consumes_kafka), which a Kafka Connect sink connector's config runs with. */
const sl_source_ops *sl_source_of_topics(void);
/* NULL-terminated lists, for docs and help. */
extern const sl_source_ops *sl_sources[];
extern const sl_sink_ops *sl_sinks[];
/* Adds a plugin (tests, embedders) before connectors are created; -1 when full. Not thread-safe. */
int sl_plugin_add_source(const sl_source_ops *ops);
int sl_plugin_add_sink(const sl_sink_ops *ops);

#endif
