/*
 * Connector runtime (see connector.h): config resolution, the source and
 * sink threads, and the ack -> commit path.
 */
#include "runtime/connector.h"
#include "ctx/ctx_int.h"
#include "core/log.h"
#include "core/queue.h"
#include "kafka/dlq.h"
#include "state/offsets.h"
#include "xform/xform.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_tasks(sl_connector *c, sl_errs *errs);

#define F(x) offsetof(sl_core_conf, x)
const sl_prop sl_core_props[] = {
    {"connector.class", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(connector_class),
     "Source connector: postgres, mysql, mariadb, kafka (or their Java class names, e.g. "
     "io.debezium.connector.postgresql.PostgresConnector). A sink connector's class (a Kafka Connect sink config) "
     "reads the config's topics with the kafka source into that sink."},
    {"sink.type", SL_PT_STRING, "kafka", NULL, 0, 0, 0, F(sink_type),
     "Where change events go: kafka (Debezium topics), mongodb (documents), file (JSON lines) or stdout."},
    {"max.batch.size", SL_PT_INT, "2048", NULL, 1, 1000000, 0, F(max_batch_size),
     "Most records in one batch handed from the source to the sink."},
    {"sink.encode.threads", SL_PT_INT, "0", NULL, 0, 64, 0, F(encode_threads),
     "Threads that encode the change events of a large batch (512 records or more: a snapshot, a backlog) for "
     "the kafka, file and stdout sinks, the sink's own included; each takes a consecutive part of the batch and "
     "the events are written in their order. 0: half the cores this process may use, 1 to 4; 1: the sink's "
     "thread alone."},
    {"max.queue.size", SL_PT_INT, "8192", NULL, 1, 100000000, 0, F(max_queue_size),
     "Most records queued between source and sink; the source waits when it is reached."},
    {"max.queue.size.in.bytes", SL_PT_INT, "8388608", NULL, 0, INT64_MAX, 0, F(max_queue_bytes),
     "Most bytes of batches queued between source and sink (0 = no byte bound); the PostgreSQL and Kafka "
     "sources also hand a batch on once it holds a quarter of this. A connector's memory stays within a fixed "
     "baseline, about twice this bound and twice its largest value (file sink; docs/ARCHITECTURE.md, Memory)."},
    {"poll.interval.ms", SL_PT_INT, "500", NULL, 1, 3600000, 0, F(poll_interval_ms),
     "Longest time a partly filled batch waits before it is handed to the sink."},
    {"offset.storage", SL_PT_ENUM, "sqlite", "sqlite|kafka|target", 0, 0, 0, F(offset_storage),
     "Where committed source offsets live: sqlite (one local file), kafka (a compacted topic, offset.storage.topic, "
     "in Kafka Connect's format) or target (a table of the sink's database, written in the same transaction as the "
     "rows: exactly-once; sink.type=jdbc)."},
    {"offset.storage.topic", SL_PT_STRING, "connect-offsets", NULL, 0, 0, 0, F(offset_topic),
     "Compacted topic of the Kafka offset store (offset.storage=kafka, and always with exactly-once)."},
    {"offset.storage.partitions", SL_PT_INT, "25", NULL, 1, 10000, 0, F(offset_partitions),
     "Partitions of offset.storage.topic when sluice creates it."},
    {"offset.storage.replication.factor", SL_PT_INT, "-1", NULL, -1, 32767, 0, F(offset_rf),
     "Replication factor of offset.storage.topic when sluice creates it (-1: the broker's default)."},
    {"exactly.once.support", SL_PT_ENUM, "disabled", "disabled|requested|required", 0, 0, 0, F(eos),
     "required: each batch's records and its source offset commit in one Kafka transaction (sink.type=kafka; the "
     "offsets live in offset.storage.topic); requested: the same when the sink can, else at-least-once; "
     "disabled: at-least-once."},
    {"transactional.id", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(transactional_id),
     "Transactional id of the exactly-once producer (default sluice-<name>); a second instance with the same id "
     "fences the first."},
    {"tasks.max", SL_PT_INT, "1", NULL, 1, 4096, 0, F(tasks_max),
     "How many tasks (instances) run this connector, as in Kafka Connect. Only a source that can share its work "
     "runs more than one: the Kafka source (a Kafka Connect sink connector's config), whose tasks are members of "
     "one consumer group and share the topics' partitions; a worker of a group (distributed mode) places each "
     "task on its own task slot. A change-data source reads one stream (a replication slot, a binlog, a change "
     "stream) and runs one task whatever this says, as Debezium's do. Several tasks need a sink that takes "
     "several writers (not a file) and offsets outside the target (offset.storage=target keeps one position)."},
    {"task.id", SL_PT_INT, "0", NULL, 0, 4095, 0, F(task_id),
     "Which of the connector's tasks this instance is (0 to tasks.max - 1): set by the worker that runs it; "
     "its transactional ids end in -<task.id> when above 0."},
    {"task.fencing", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(fencing),
     "true: an older instance of this connector may still run somewhere without knowing it lost the task (a "
     "distributed worker frozen past its session; such workers set it), and starting fences it. The Kafka offset "
     "store (offset.storage=kafka without exactly-once) then writes each offset in a transaction of "
     "transactional.id sluice-offsets-<name> (-<task.id> above 0), with a generation header, so that the broker refuses the old "
     "instance's writes (exactly-once producers fence by their transactional.id already); a PostgreSQL source "
     "terminates the backend that still streams from its slot; a MySQL/MariaDB source holds the lock "
     "sluice.<name> (GET_LOCK) on its binlog connection and kills the connection of an older holder."},
    {"offset.storage.file.filename", SL_PT_STRING, "./sluice-offsets.db", NULL, 0, 0,
     SL_PF_FILE_OUT | SL_PF_FILE_SHARED, F(offset_file),
     "SQLite file of the offset store (WAL mode, fsync on commit)."},
    {"offset.flush.interval.ms", SL_PT_INT, "1000", NULL, 0, 86400000, 0, F(offset_flush_ms),
     "How often durable offsets are committed to the offset store (and reported to the source database)."},
    {"log.level", SL_PT_STRING, "info", NULL, 0, 0, 0, F(log_level), "error, warn, info, debug or trace."},
    {"key.converter.schemas.enable", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(key_schemas),
     "Keys as JsonConverter {schema, payload} (true) or the bare payload (false)."},
    {"value.converter.schemas.enable", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(value_schemas),
     "Values as JsonConverter {schema, payload} (true) or the bare payload (false)."},
    {"value.converter.replace.null.with.default", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(replace_null_with_default),
     "As Kafka Connect's JsonConverter: a null value of a column that has a default (the \"default\" of its field "
     "schema) is written as that default; false writes the null."},
    {"tombstones.on.delete", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(tombstones),
     "After a delete event, also emit a tombstone (same key, null value) so compacted topics drop the key."},
    {"errors.max.retries", SL_PT_INT, "-1", NULL, -1, INT32_MAX, 0, F(max_retries),
     "How often in a row a lost source connection is retried before the connector fails (-1: always); the "
     "count goes on across reconnects until the source hands on a change or a new position again."},
    {"retriable.restart.connector.wait.ms", SL_PT_INT, "10000", NULL, 0, 3600000, 0, F(retry_wait_ms),
     "Pause before reconnecting after the source connection was lost."},
    {"heartbeat.topics.prefix", SL_PT_STRING, "__debezium-heartbeat", NULL, 0, 0, 0, F(heartbeat_prefix),
     "Heartbeat records (heartbeat.interval.ms > 0) go to <heartbeat.topics.prefix>.<topic.prefix>."},
    {"topic.transaction", SL_PT_STRING, "transaction", NULL, 0, 0, 0, F(tx_topic),
     "Transaction metadata (provide.transaction.metadata) goes to <topic.prefix>.<topic.transaction>."},
    SL_KAFKA_CLIENT_PROPS(sl_core_conf, kafka),
    {"transforms", SL_PT_LIST, "", NULL, 0, 0, 0, F(transforms),
     "Comma-separated transform names applied in order between source and sink; each is configured by "
     "transforms.<name>.type and its options (docs/transforms.md)."},
    {"errors.tolerance", SL_PT_ENUM, "none", "none|all", 0, 0, 0, F(err_tolerance),
     "A change record that cannot be delivered (a transform fails on it, or a value cannot be written, such as "
     "text that is not UTF-8): none stops the connector with an error naming the record and its position; all "
     "logs it, counts it (sluice_connector_records_failed_total), sends it to the dead letter queue when one is "
     "configured, and goes on. Either way the offset never passes a record that went nowhere."},
    {"errors.log.enable", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(err_log_enable),
     "Kafka Connect's switch for logging skipped records: accepted, but sluice logs every record that "
     "errors.tolerance=all skips (an ERROR line naming it, its position and the reason) whatever it says."},
    {"errors.log.include.messages", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(err_log_messages),
     "Include a skipped record's key and value (first 1024 bytes) in its log line (errors.tolerance=all; the "
     "line itself is always written)."},
    {"errors.deadletterqueue.topic.name", SL_PT_STRING, "", NULL, 0, 0, 0, F(dlq_topic),
     "Kafka topic (on bootstrap.servers) that records skipped by errors.tolerance=all are produced to, as they "
     "would have been written (key, value, headers), with the reason in __connect.errors.* headers when "
     "errors.deadletterqueue.context.headers.enable is set. Created if missing. Empty: no dead letter queue."},
    {"errors.deadletterqueue.topic.replication.factor", SL_PT_INT, "3", NULL, -1, 32767, 0, F(dlq_rf),
     "Replication factor of a dead letter queue topic created by sluice (-1: the broker's default); lowered to "
     "the number of brokers when the cluster is smaller."},
    {"errors.deadletterqueue.context.headers.enable", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(dlq_headers),
     "Add Kafka Connect's __connect.errors.* headers (stage, class, exception, message) to dead letter queue "
     "records."},
    {"errors.retry.timeout", SL_PT_INT, "0", NULL, -1, INT64_MAX, 0, F(err_retry_timeout_ms),
     "How long (ms) a failing dead letter queue write is retried; 0: not retried, -1: forever."},
    {"errors.retry.delay.max.ms", SL_PT_INT, "60000", NULL, 1, INT32_MAX, 0, F(err_retry_delay_max_ms),
     "Longest pause between those retries (they start at 300 ms and double)."},
    {"signal.enabled.channels", SL_PT_LIST, "source", NULL, 0, 0, 0, F(sig_channels),
     "Where the source takes signals (ad hoc snapshots and their stop/pause/resume, log lines) from, comma-separated: "
     "source (rows inserted into signal.data.collection), file (signal.file), kafka (signal.kafka.topic). "
     "POST /connectors/<name>/signals of sluice serve always works. PostgreSQL and MySQL/MariaDB sources."},
    {"signal.data.collection", SL_PT_STRING, "", NULL, 0, 0, 0, F(sig_collection),
     "The signal table, <schema>.<table> (MySQL/MariaDB: <database>.<table>), with columns id, type and data (as "
     "Debezium's); a row inserted there is a signal. PostgreSQL: it must be in the publication "
     "(publication.autocreate.mode=filtered adds it). MySQL/MariaDB: needed by incremental snapshots whatever the "
     "channel, which write their watermark rows into it. Empty: none."},
    {"signal.file", SL_PT_STRING, "file-signals.txt", NULL, 0, 0, 0, F(sig_file),
     "File of the file channel: one JSON signal {\"id\", \"type\", \"data\"} per line; emptied once read."},
    {"signal.poll.interval.ms", SL_PT_INT, "5000", NULL, 1, 3600000, 0, F(sig_poll_ms),
     "How often signal.file is read."},
    {"signal.kafka.topic", SL_PT_STRING, "", NULL, 0, 0, 0, F(sig_kafka_topic),
     "Topic of the Kafka channel (default <topic.prefix>-signal): records keyed by the connector's topic.prefix, "
     "valued {\"type\", \"data\"}."},
    {"signal.kafka.bootstrap.servers", SL_PT_STRING, "", NULL, 0, 0, 0, F(sig_kafka_bootstrap),
     "Kafka cluster of the signal topic (default: the connector's bootstrap.servers); signal.consumer.* keys go "
     "to its consumer."},
    {"signal.kafka.groupId", SL_PT_STRING, "kafka-signal", NULL, 0, 0, 0, F(sig_kafka_group),
     "Consumer group of the Kafka channel; each signal is committed once taken."},
    {"incremental.snapshot.chunk.size", SL_PT_INT, "1024", NULL, 1, 1000000, 0, F(isnap_chunk),
     "Rows an incremental snapshot reads per chunk (one watermark window)."},
    {NULL}};
#undef F

/* The runtime's part of a connector; what its plugins share with it is the context (ctx/ctx_int.h). */
struct sl_connector {
    sl_ctx ctx;              /* first: a context is its connector */
    const sl_sink_ops *sink_ops;
    void *src_settings, *sink_settings;
    void *src, *sink;
    sl_xchain *xchain;       /* transforms, NULL: none */
    sl_connector_tap tap;    /* sl_connector_set_tap, NULL: none */
    void *tap_arg;
    _Atomic uint64_t reconnects, batch_size_sum, n_filtered;
    int64_t source_ts_ms, lag_ms; /* these and the latency below under ctx.m_lock */
    uint64_t lat_count, lat_buckets[SL_LATENCY_BUCKETS];
    double lat_sum_ms;
    char committed_offset[512];
    int64_t *run_ts;         /* sink thread: source commit times (µs) of the records not yet durable */
    size_t run_ts_n, run_ts_cap;
    struct pending_run *pend; /* sink thread, pipelined sinks (mark/acked): runs awaiting their acks, oldest first */
    size_t npend, pend_cap;
    int64_t last_flush_ms;
    int64_t heartbeat_ms;    /* > 0: a heartbeat record when the source position moved this long after the last */
    int64_t last_heartbeat_ms;
    pthread_t src_thr, sink_thr;
    _Atomic int threads_done;
    bool started;
    sl_kafka_dlq *dlq;       /* errors.deadletterqueue.topic.name, opened at the first failed record */
    sl_err_code rec_fail_code; /* sink thread: why the last record_failed returned -1 */
};

static void warn_key(const char *key, void *arg) {
    SL_WARN("config", "unknown key ignored: key=%s connector=%s", key, (const char *)arg);
}

/* Kafka Connect classes users paste that sluice does not have yet: refused as such, not as unknown. */
static const struct {
    const char *cls, *what;
} not_yet[] = {
    {"io.confluent.connect.jdbc.JdbcSourceConnector", "a JDBC source (polling queries)"},
};

static const char *not_implemented(const char *cls) {
    for (size_t i = 0; i < sizeof not_yet / sizeof not_yet[0]; i++)
        if (strcmp(cls, not_yet[i].cls) == 0) return not_yet[i].what;
    return NULL;
}

static void list_names(char *out, size_t outsz, bool sources) {
    size_t n = 0;
    out[0] = 0;
    for (int i = 0;; i++) {
        const char *name = sources ? (sl_sources[i] ? sl_sources[i]->name : NULL)
                                   : (sl_sinks[i] ? sl_sinks[i]->name : NULL);
        if (!name) break;
        n += (size_t)snprintf(out + n, n < outsz ? outsz - n : 0, "%s%s", i ? ", " : "", name);
    }
}

/* errors.* and the dead letter queue (used by the runtime, the Kafka source and the MongoDB sink). */
/* signal.*: known channels, and only for a source that takes signals. */
static void check_signals(const sl_core_conf *core, const sl_source_ops *src, sl_config *cfg, sl_errs *errs) {
    sl_conf_check_list("signal.enabled.channels", core->sig_channels, "source|file|kafka", errs);
    const char *ch = sl_config_get(cfg, "signal.enabled.channels");
    bool table = core->sig_collection && *core->sig_collection;
    bool channels = ch && (sl_list_has(ch, "file") || sl_list_has(ch, "kafka"));
    if (!src) return;
    if (!src->takes_signals) {
        if (table)
            sl_errs_add(errs, "signal.data.collection: the %s source takes no signals yet (ad hoc and incremental "
                              "snapshots are implemented for PostgreSQL and MySQL/MariaDB sources)", src->name);
        else if (channels)
            sl_errs_add(errs, "signal.enabled.channels: the %s source takes no signals yet (ad hoc and incremental "
                              "snapshots are implemented for PostgreSQL and MySQL/MariaDB sources)", src->name);
        return;
    }
}

static void check_errors(const sl_core_conf *core, sl_config *cfg, sl_errs *errs) {
    if (core->dlq_rf == 0)
        sl_errs_add(errs, "errors.deadletterqueue.topic.replication.factor: 0 is not allowed (-1 for the broker's "
                    "default, or 1 to 32767)");
    if (!core->dlq_topic || !*core->dlq_topic) return;
    if (!sl_kafka_topic_legal(core->dlq_topic))
        sl_errs_add(errs, "errors.deadletterqueue.topic.name: '%s' is not a valid topic name (1-249 characters "
                    "of a-z, A-Z, 0-9, '.', '_', '-')", core->dlq_topic);
    sl_kafka_client_check(NULL, cfg, "producer.override.", "dead letter queue", errs);
    if (core->err_tolerance == SL_TOL_NONE)
        SL_WARN("config", "errors.deadletterqueue.topic.name=%s has no effect with errors.tolerance=none (the "
                "first bad record stops the connector); set errors.tolerance=all to use it", core->dlq_topic);
}

sl_connector *sl_connector_new(sl_config *cfg, sl_errs *errs) {
    sl_connector *c = sl_calloc(1, sizeof *c);
        c->ctx.cfg = cfg;
    pthread_mutex_init(&c->ctx.err_lock, NULL);
    pthread_mutex_init(&c->ctx.m_lock, NULL);
    pthread_mutex_init(&c->ctx.sig_lock, NULL);
    c->ctx.lag_records = c->ctx.lag_bytes = -1;
    c->lag_ms = -1;
    int before = errs->n;
    if (!cfg->name || !*cfg->name) sl_errs_add(errs, "name: required, not set (the connector's name)");
    c->ctx.name = sl_strdup(cfg->name ? cfg->name : "");
    sl_conf_apply(sl_core_props, cfg, &c->ctx.core, errs);
    if (c->ctx.core.log_level && sl_log_parse_level(c->ctx.core.log_level) < 0)
        sl_errs_add(errs, "log.level: '%s' is not allowed (allowed: error, warn, info, debug, trace)", c->ctx.core.log_level);
    c->xchain = sl_xchain_new(cfg, c->ctx.core.transforms, errs);
    char names[256];
    const sl_sink_ops *class_sink = NULL;
    if (c->ctx.core.connector_class && !sl_source_find(c->ctx.core.connector_class) &&
        (class_sink = sl_sink_find(c->ctx.core.connector_class)) && sl_source_of_topics()) {
        /* A Kafka Connect sink connector's config (e.g. MongoSinkConnector): read its topics with the source of
         * Kafka topics. */
        c->ctx.src_ops = sl_source_of_topics();
        if (!sl_config_get(cfg, "sink.type")) {
            sl_free(c->ctx.core.sink_type);
            c->ctx.core.sink_type = sl_strdup(class_sink->name);
        }
    } else if (c->ctx.core.connector_class && not_implemented(c->ctx.core.connector_class)) {
        list_names(names, sizeof names, false);
        sl_errs_add(errs, "connector.class: '%s' is %s, which sluice does not implement yet (sinks: %s)",
                    c->ctx.core.connector_class, not_implemented(c->ctx.core.connector_class), names);
    } else if (c->ctx.core.connector_class && !(c->ctx.src_ops = sl_source_find(c->ctx.core.connector_class))) {
        list_names(names, sizeof names, true);
        sl_errs_add(errs, "connector.class: '%s' is not a known connector (allowed: %s)", c->ctx.core.connector_class,
                    names);
    }
    if (c->ctx.core.sink_type && !(c->sink_ops = sl_sink_find(c->ctx.core.sink_type))) {
        list_names(names, sizeof names, false);
        sl_errs_add(errs, "sink.type: '%s' is not available (allowed: %s)", c->ctx.core.sink_type, names);
    }
    /* Kafka for the sink, the offsets, the source or a dead letter queue: without bootstrap.servers the
     * worker's or the default one, set before the plugins read the config. */
    bool transactional = c->sink_ops && c->sink_ops->commit;
    const char *dlq = sl_config_get(cfg, "errors.deadletterqueue.topic.name");
    bool needs_kafka = (c->sink_ops && c->sink_ops->produces_kafka) || c->ctx.core.offset_storage == 1 ||
                       (c->ctx.src_ops && c->ctx.src_ops->consumes_kafka) || (dlq && *dlq) ||
                       (c->ctx.src_ops && c->ctx.src_ops->takes_signals && sl_list_has(c->ctx.core.sig_channels, "kafka"));
    if (needs_kafka) {
        char who[300];
        snprintf(who, sizeof who, "connector=%s", c->ctx.name);
        sl_kafka_client_default(&c->ctx.core.kafka, cfg, who);
    }
    if (c->ctx.src_ops) {
        c->src_settings = sl_calloc(1, c->ctx.src_ops->settings_size);
        sl_conf_apply(c->ctx.src_ops->props, cfg, c->src_settings, errs);
        if (c->ctx.src_ops->check) c->ctx.src_ops->check(c->src_settings, cfg, errs);
    }
    if (c->sink_ops) {
        c->sink_settings = sl_calloc(1, c->sink_ops->settings_size);
        /* sink.<type>.<key> wins over <key>: a source and a sink with keys of the same name (MongoDB's
         * connection.uri, database, collection) can then differ in one connector. */
        char sink_prefix[96];
        /* the name sink.type gave (sink.type=postgresql: sink.postgresql.<key>), when it is a plain word */
        const char *st = c->ctx.core.sink_type;
        bool plain = st && *st && strlen(st) < 64 && !strchr(st, '.');
        snprintf(sink_prefix, sizeof sink_prefix, "sink.%s.", plain ? st : c->sink_ops->name);
        for (char *p = sink_prefix; *p; p++) *p = (char)tolower((unsigned char)*p);
        sl_conf_apply_preferring(c->sink_ops->props, cfg, sink_prefix, c->sink_settings, errs);
        if (c->sink_ops->check) c->sink_ops->check(c->sink_settings, cfg, errs);
    }
    if (c->ctx.src_ops && c->ctx.src_ops->check_sink) c->ctx.src_ops->check_sink(c->src_settings, c->sink_ops, cfg, errs);
    if (c->ctx.core.eos == 2 && c->sink_ops && !transactional)
        sl_errs_add(errs, "exactly.once.support: 'required' needs a transactional sink (sink.type=kafka), not %s "
                          "(allowed here: disabled, requested)",
                    c->sink_ops->name);
    if (c->ctx.core.offset_storage == 2 && c->sink_ops && !c->sink_ops->stored_offset)
        sl_errs_add(errs, "offset.storage: 'target' needs a sink that keeps the offsets in its target database "
                          "(sink.type=jdbc), not %s (allowed here: sqlite, kafka)", c->sink_ops->name);
    /* A sink that keeps offsets in its target does so whenever records and offsets commit together. */
    c->ctx.offsets_in_sink = transactional && c->sink_ops->stored_offset &&
                             (c->ctx.core.offset_storage == 2 || c->ctx.core.eos > 0);
    c->ctx.eos = transactional && (c->ctx.core.eos > 0 || c->ctx.offsets_in_sink);
    if (needs_kafka) sl_kafka_client_check(&c->ctx.core.kafka, cfg, NULL, "connector", errs);
    check_tasks(c, errs);
    check_errors(&c->ctx.core, cfg, errs);
    check_signals(&c->ctx.core, c->ctx.src_ops, cfg, errs);
    if (errs->n > before) {
        sl_connector_destroy(c);
        return NULL;
    }
    sl_conf_unknown_keys(cfg, warn_key, c->ctx.name);
    /* Fixed here, before any thread runs: the sink thread reads them while the source reopens. */
    if (c->ctx.src_ops->describe) c->ctx.src_ops->describe(c->src_settings, &c->ctx.dbz);
    c->ctx.dbz.key_schemas = c->ctx.core.key_schemas;
    c->ctx.dbz.value_schemas = c->ctx.core.value_schemas;
    c->ctx.dbz.keep_nulls = !c->ctx.core.replace_null_with_default;
    c->ctx.dbz.version = SLUICE_VERSION;
    c->ctx.dbz.heartbeat_prefix = c->ctx.core.heartbeat_prefix;
    c->ctx.dbz.tx_topic = c->ctx.core.tx_topic;
    if (c->ctx.core.sig_kafka_topic && *c->ctx.core.sig_kafka_topic) {
        c->ctx.sig_topic = sl_strdup(c->ctx.core.sig_kafka_topic);
    } else {
        const char *prefix = c->ctx.dbz.server_name ? c->ctx.dbz.server_name : c->ctx.name;
        c->ctx.sig_topic = sl_malloc(strlen(prefix) + 8);
        sprintf(c->ctx.sig_topic, "%s-signal", prefix);
    }
    /* Debezium's heartbeat.interval.ms belongs to the source's table; the records are the runtime's. */
    const char *hb = sl_config_get(cfg, "heartbeat.interval.ms");
    c->heartbeat_ms = hb ? atoll(hb) : 0;
    return c;
}

void sl_connector_files(const sl_connector *c, const char *owner, int tag, sl_file_uses *u) {
    int first = u->n;
    sl_file_uses_add_props(u, sl_core_props, &c->ctx.core, owner, tag);
    if (c->ctx.eos || c->ctx.core.offset_storage >= 1) sl_file_uses_drop(u, first, "offset.storage.file.filename"); /* unused */
    if (c->ctx.src_ops) sl_file_uses_add_props(u, c->ctx.src_ops->props, c->src_settings, owner, tag);
    if (c->sink_ops) sl_file_uses_add_props(u, c->sink_ops->props, c->sink_settings, owner, tag);
}

const char *sl_connector_name(const sl_connector *c) { return c->ctx.name; }

const char *sl_connector_default_sink(void) {
    for (const sl_prop *p = sl_core_props; p->name; p++)
        if (strcmp(p->name, "sink.type") == 0) return p->def;
    return NULL;
}
const sl_core_conf *sl_connector_core(const sl_connector *c) { return &c->ctx.core; }

int sl_connector_tasks(const sl_connector *c) {
    return c->ctx.src_ops && c->ctx.src_ops->splits ? (int)c->ctx.core.tasks_max : 1;
}

/* tasks.max: what several tasks need; a source that reads one stream runs one (said once, at the first task). */
static void check_tasks(sl_connector *c, sl_errs *errs) {
    const sl_core_conf *core = &c->ctx.core;
    if (core->tasks_max <= 1 || !c->ctx.src_ops) return;
    if (!c->ctx.src_ops->splits) {
        if (core->task_id == 0)
            SL_INFO("connector", "connector=%s tasks.max=%lld: the %s source reads one stream, so it runs one task "
                    "(as Debezium's connectors do)", c->ctx.name, (long long)core->tasks_max, c->ctx.src_ops->name);
        return;
    }
    if (c->sink_ops && c->sink_ops->one_writer)
        sl_errs_add(errs, "tasks.max: %lld tasks cannot share the %s sink (one writer); set tasks.max=1, or write to "
                          "a sink that takes several writers", (long long)core->tasks_max, c->sink_ops->name);
    if (c->ctx.offsets_in_sink)
        sl_errs_add(errs, "tasks.max: %lld tasks cannot keep their positions in the target (offset.storage=target, "
                          "or exactly-once into it keeps one per connector); set tasks.max=1",
                    (long long)core->tasks_max);
    if (core->task_id >= core->tasks_max)
        sl_errs_add(errs, "task.id: %lld is not a task of tasks.max=%lld (0 to %lld)", (long long)core->task_id,
                    (long long)core->tasks_max, (long long)core->tasks_max - 1);
}

/* ---- threads ---- */

/* Opens the source (state OPENING); 0, or -1 with e: the plugin's message and the code it named, retriable
 * by that code (by SL_RETRY when it named none, SL_E_CONNECT then, else SL_E_INTERNAL). */
static int open_source(sl_connector *c, sl_err *e) {
    sl_err_clear(e);
    sl_ctx_set_source_state(&c->ctx, SL_SRC_OPENING);
    sl_ctx_take_error_code();
    int rc = c->ctx.src_ops->open(&c->src, c->src_settings, &c->ctx, e->msg, sizeof e->msg);
    sl_err_code code = sl_ctx_take_error_code();
    if (rc == 0) return 0;
    if (code == SL_E_NONE) {
        e->code = rc == SL_RETRY ? SL_E_CONNECT : SL_E_INTERNAL;
        e->retriable = rc == SL_RETRY;
    } else {
        e->code = code;
        e->retriable = sl_err_code_retriable(code);
    }
    return -1;
}

/* Source thread, around a reopen: the source sees a copy of the published encoder options, and what it
 * writes there is not taken over (the sink thread reads the published ones meanwhile). */
static int reopen(sl_connector *c, sl_err *e) {
    memcpy(&c->ctx.dbz_src, &c->ctx.dbz, sizeof c->ctx.dbz); /* with its padding: compared bytewise below */
    int rc = open_source(c, e);
    if (rc == 0 && memcmp(&c->ctx.dbz_src, &c->ctx.dbz, sizeof c->ctx.dbz) != 0)
        SL_WARN("connector", "connector=%s: the source changed its encoder options on reopen; the ones of its "
                "start stay in force", c->ctx.name);
    return rc;
}

/* After SL_RETRY: pause, close the source and open it again until it works,
 * the retries run out, or the connector stops. Returns 0 when reopened.
 * The attempts count on across reopens until the source makes progress
 * (sl_ctx_emit), so a source that opens but fails again before reading
 * anything still runs into errors.max.retries. */
static int reopen_source(sl_connector *c) {
    sl_err e;
    for (;;) {
        sl_ctx_set_source_state(&c->ctx, SL_SRC_RECONNECTING);
        int64_t attempt = ++c->ctx.retries;
        pthread_mutex_lock(&c->ctx.err_lock);
        e = c->ctx.retry_err;
        pthread_mutex_unlock(&c->ctx.err_lock);
        if (c->ctx.core.max_retries >= 0 && attempt > c->ctx.core.max_retries) {
            sl_ctx_fail_code(&c->ctx, e.code != SL_E_NONE ? e.code : SL_E_CONNECT, "%s (gave up after %lld retries: errors.max.retries)", e.msg,
                             (long long)attempt - 1);
            return -1;
        }
        SL_WARN("connector", "source connection lost, reconnecting connector=%s attempt=%lld wait_ms=%lld code=%s "
                "error=%s", c->ctx.name, (long long)attempt, (long long)c->ctx.core.retry_wait_ms,
                sl_err_name(e.code), e.msg);
        sl_sleep_ms(c->ctx.core.retry_wait_ms, (volatile int *)&c->ctx.stop);
        if (atomic_load(&c->ctx.stop)) return -1;
        c->ctx.src_ops->close(c->src);
        c->src = NULL;
        /* Resume after what is already queued for the sink, else from the store. */
        sl_free(c->ctx.stored_offset);
        c->ctx.stored_offset = c->ctx.resume_offset ? sl_strdup(c->ctx.resume_offset) : NULL;
        c->ctx.stored_loaded = c->ctx.resume_offset != NULL;
        if (reopen(c, &e) == 0) {
            SL_INFO("connector", "source reconnected connector=%s", c->ctx.name);
            atomic_fetch_add(&c->reconnects, 1);
            return 0;
        }
        if (!e.retriable) {
            sl_ctx_fail_err(&c->ctx, &e);
            return -1;
        }
        sl_ctx_retry_err(&c->ctx, &e);
    }
}

/* Paused: closes the source, waits for resume (or stop), opens it again where it stopped.
 * Returns 0 when reopened. */
static int pause_source(sl_connector *c) {
    sl_err e;
    SL_INFO("connector", "paused connector=%s", c->ctx.name);
    sl_ctx_set_source_state(&c->ctx, SL_SRC_PAUSED);
    c->ctx.src_ops->close(c->src);
    c->src = NULL;
    while (atomic_load(&c->ctx.paused) && !atomic_load(&c->ctx.stop)) sl_sleep_ms(100, (volatile int *)&c->ctx.stop);
    if (atomic_load(&c->ctx.stop)) return -1;
    sl_free(c->ctx.stored_offset);
    c->ctx.stored_offset = c->ctx.resume_offset ? sl_strdup(c->ctx.resume_offset) : NULL;
    c->ctx.stored_loaded = c->ctx.resume_offset != NULL;
    if (reopen(c, &e) == 0) {
        SL_INFO("connector", "resumed connector=%s", c->ctx.name);
        return 0;
    }
    if (e.retriable) { /* unreachable now: the usual reconnect loop takes over */
        sl_ctx_retry_err(&c->ctx, &e);
        return reopen_source(c);
    }
    sl_ctx_fail_err(&c->ctx, &e);
    return -1;
}

static void *source_main(void *arg) {
    sl_connector *c = arg;
    sl_ctx_enter_source_thread(&c->ctx);
    /* Paused before it started: not a read until resumed. */
    bool run = !atomic_load(&c->ctx.paused) || atomic_load(&c->ctx.stop) || pause_source(c) == 0;
    while (run) {
        int rc = c->ctx.src_ops->run(c->src);
        c->ctx.ran++;
        if (rc == SL_RETRY) sl_ctx_set_source_state(&c->ctx, SL_SRC_RECONNECTING); /* whether or not it reopens */
        if (rc == 0 && atomic_load(&c->ctx.paused) && !atomic_load(&c->ctx.stop) && pause_source(c) == 0) continue;
        if (rc == SL_RETRY && !atomic_load(&c->ctx.stop) && reopen_source(c) == 0) continue;
        if (rc < 0 && !atomic_load(&c->ctx.failed)) sl_ctx_fail(&c->ctx, "source stopped with an error");
        break;
    }
    /* A source given up while reconnecting stays so until it is closed (it keeps what the server holds). */
    if (sl_ctx_source_state(&c->ctx) != SL_SRC_RECONNECTING) sl_ctx_set_source_state(&c->ctx, SL_SRC_STOPPING);
    sl_queue_close(c->ctx.q); /* the sink drains what is queued, then stops */
    atomic_fetch_add(&c->threads_done, 1);
    return NULL;
}

/* A run written to a pipelined sink whose ticket is not acked yet: what becomes durable with it. */
struct pending_run {
    uint64_t ticket;
    char *offset;     /* the newest offset among its batches, or NULL */
    uint64_t seq;
    size_t ts_n;      /* run_ts entries up to the end of this run */
    int64_t recs;     /* records it wrote (sl_ctx_add_unacked) */
};

/* Sink-thread state of the commit path. */
typedef struct commit_state {
    char *offset;      /* newest durable offset not yet stored */
    uint64_t seq;
    int64_t last_store_ms;
} commit_state;

const double sl_latency_bounds_ms[SL_LATENCY_BUCKETS] = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30000, INFINITY};

/* Sink thread: remembers the source commit times of a batch's records for the latency histogram. */
static void note_written(sl_connector *c, const sl_batch *b) {
    if (c->run_ts_n + (size_t)b->n > c->run_ts_cap) {
        c->run_ts_cap = (c->run_ts_n + (size_t)b->n) * 2;
        c->run_ts = sl_realloc(c->run_ts, c->run_ts_cap * sizeof *c->run_ts);
    }
    for (int i = 0; i < b->n; i++)
        if (b->recs[i].ts_us > 0) c->run_ts[c->run_ts_n++] = b->recs[i].ts_us;
    atomic_fetch_add(&c->batch_size_sum, (uint64_t)b->n);
}

/* Sink thread, once the first n records of run_ts are durable: end-to-end latency of each, newest source time. */
static void note_durable(sl_connector *c, size_t n) {
    int64_t now_us = sl_wall_us(), newest = 0;
    pthread_mutex_lock(&c->ctx.m_lock);
    for (size_t i = 0; i < n; i++) {
        double ms = (double)(now_us - c->run_ts[i]) / 1000.0;
        if (ms < 0) ms = 0;
        int k = 0;
        while (ms > sl_latency_bounds_ms[k]) k++;
        for (; k < SL_LATENCY_BUCKETS; k++) c->lat_buckets[k]++;
        c->lat_count++;
        c->lat_sum_ms += ms;
        if (c->run_ts[i] > newest) newest = c->run_ts[i];
    }
    if (newest / 1000 > c->source_ts_ms) c->source_ts_ms = newest / 1000;
    /* Debezium's MilliSecondsBehindSource, taken when the changes became durable; a run without changes
     * (an idle source advancing its position) with nothing queued behind it means caught up. */
    size_t qbytes = 0, qrecs = 0, qbatches = 0;
    if (n) c->lag_ms = now_us / 1000 - newest / 1000 > 0 ? now_us / 1000 - newest / 1000 : 0;
    else if (c->run_ts_n == 0 && c->ctx.q && (sl_queue_stats(c->ctx.q, &qbytes, &qrecs, &qbatches), qrecs == 0))
        c->lag_ms = 0;
    pthread_mutex_unlock(&c->ctx.m_lock);
    if (n && c->run_ts_n > n) memmove(c->run_ts, c->run_ts + n, (c->run_ts_n - n) * sizeof *c->run_ts);
    c->run_ts_n -= n;
    for (size_t i = 0; i < c->npend; i++) c->pend[i].ts_n -= n;
}

static void note_committed(sl_connector *c, const char *offset) {
    pthread_mutex_lock(&c->ctx.m_lock);
    snprintf(c->committed_offset, sizeof c->committed_offset, "%s", offset);
    pthread_mutex_unlock(&c->ctx.m_lock);
}

static int store_offset(sl_connector *c, commit_state *cs) {
    if (!cs->offset) return 0;
    char err[512];
    if (sl_offsets_put(c->ctx.store, c->ctx.name, c->ctx.partition ? c->ctx.partition : "{}", cs->offset, err, sizeof err) < 0) {
        sl_ctx_fail_code(&c->ctx, SL_E_RESOURCE, "%s", err);
        return -1;
    }
    atomic_store(&c->ctx.committed_seq, cs->seq);
    atomic_fetch_add(&c->ctx.n_commits, 1);
    note_committed(c, cs->offset);
    SL_DEBUG("offsets", "committed offset=%s", cs->offset);
    sl_free(cs->offset);
    cs->offset = NULL;
    cs->last_store_ms = sl_mono_ms();
    return 0;
}

/* ---- pipelined sinks (mark/acked): runs written on while earlier ones await their acks ---- */

static void pend_push(sl_connector *c, uint64_t ticket, char *offset, uint64_t seq, int64_t recs) {
    if (c->npend == c->pend_cap) {
        c->pend_cap = c->pend_cap ? c->pend_cap * 2 : 16;
        c->pend = sl_realloc(c->pend, c->pend_cap * sizeof *c->pend);
    }
    c->pend[c->npend++] = (struct pending_run){ticket, offset, seq, c->run_ts_n, recs};
    sl_ctx_add_unacked(&c->ctx, recs);
}

/* The runs whose ticket is at most upto are durable: the newest offset among them becomes the one to store. */
static void pend_settle(sl_connector *c, commit_state *cs, uint64_t upto) {
    size_t k = 0;
    while (k < c->npend && c->pend[k].ticket <= upto) k++;
    if (!k) return;
    for (size_t i = 0; i < k; i++) {
        sl_ctx_add_unacked(&c->ctx, -c->pend[i].recs);
        if (c->pend[i].offset) {
            sl_free(cs->offset);
            cs->offset = c->pend[i].offset;
            cs->seq = c->pend[i].seq;
        }
    }
    size_t ts_n = c->pend[k - 1].ts_n;
    c->npend -= k;
    memmove(c->pend, c->pend + k, c->npend * sizeof *c->pend);
    note_durable(c, ts_n);
    if (!c->npend) sl_xchain_durable(c->xchain); /* everything the chain returned so far is durable */
}

/* Takes the acks that have come (waiting up to wait_ms for one) and settles the runs they complete. */
static int settle(sl_connector *c, commit_state *cs, int wait_ms) {
    if (!c->npend) return 0;
    uint64_t ticket = 0;
    char err[1024];
    if (c->sink_ops->acked(c->sink, wait_ms, &ticket, err, sizeof err) < 0) {
        sl_err_code code = sl_ctx_take_error_code();
        sl_ctx_fail_code(&c->ctx, code != SL_E_NONE ? code : SL_E_SINK_UNAVAILABLE, "sink %s: %s", c->sink_ops->name, err);
        return -1;
    }
    pend_settle(c, cs, ticket);
    return 0;
}

/* Flushes: whatever was written is durable, every pending run with it. */
static int flush_all(sl_connector *c, commit_state *cs, char *err, size_t errsz) {
    if (c->sink_ops->flush(c->sink, err, errsz) < 0) return -1;
    c->last_flush_ms = sl_mono_ms();
    pend_settle(c, cs, UINT64_MAX);
    return 0;
}

/* Writes records [from, to) of b (all of them: 0, b->n). */
static int write_part(sl_connector *c, sl_batch *b, int from, int to, char *err, size_t errsz) {
    if (to <= from) return 0;
    sl_record *recs = b->recs;
    int n = b->n;
    b->recs += from, b->n = to - from;
    int rc = c->sink_ops->write(c->sink, b, err, errsz);
    if (rc == 0) {
        atomic_fetch_add(&c->ctx.n_written, (uint64_t)b->n);
        note_written(c, b);
    }
    b->recs = recs, b->n = n;
    return rc;
}

/* Exactly-once: commits the Kafka transaction with the pending offset (what was written so far). */
static int eos_commit(sl_connector *c, char **pending, uint64_t seq, char *err, size_t errsz) {
    if (!*pending) return 0;
    if (c->sink_ops->commit(c->sink, c->ctx.partition ? c->ctx.partition : "{}", *pending, err, errsz) < 0) return -1;
    atomic_store(&c->ctx.committed_seq, seq);
    atomic_fetch_add(&c->ctx.n_commits, 1);
    note_committed(c, *pending);
    note_durable(c, c->run_ts_n);
    sl_free(*pending);
    *pending = NULL;
    return 0;
}

/* ---- records that go nowhere (errors.tolerance) ---- */

/* What a message needs to find a record: its table (or topic) and its position at the source. */
static void describe(const sl_record *r, char *out, size_t outsz) {
    char where[320] = "";
    if (r->pos.file) snprintf(where, sizeof where, " at binlog %s:%llu row %u", r->pos.file,
                              (unsigned long long)r->pos.file_pos, r->pos.row);
    else if (r->pos.lsn) snprintf(where, sizeof where, " at lsn %X/%X", (unsigned)(r->pos.lsn >> 32),
                                  (unsigned)r->pos.lsn);
    if (r->raw) snprintf(out, outsz, "record of topic %s partition %d offset %lld", r->raw->topic ? r->raw->topic : "?",
                         (int)r->raw->partition, (long long)r->raw->offset);
    else if (r->table) snprintf(out, outsz, "'%c' record of table %s.%s%s", (char)r->op, r->table->schema,
                                r->table->name, where);
    else snprintf(out, outsz, "'%c' record%s", (char)r->op, where);
}

static int open_dlq(sl_connector *c, char *err, size_t errsz) {
    return (c->dlq = sl_ctx_open_dlq(&c->ctx, err, errsz)) ? 0 : -1;
}

/*
 * A record no sink will get (a transform failed on it, a value cannot be written). errors.tolerance=none:
 * err names the record, its position and the reason, and the connector stops before its offset.
 * all: an error line, the failed-records counter, the dead letter queue when configured (the record as it
 * would have been written), and 0: the batch goes on without it. Sink thread.
 */
static int record_failed(void *arg, const sl_record *r, const char *reason, char *err, size_t errsz) {
    sl_connector *c = arg;
    char what[512];
    describe(r, what, sizeof what);
    if (c->ctx.core.err_tolerance == SL_TOL_NONE) {
        c->rec_fail_code = SL_E_SINK_REJECTED;
        snprintf(err, errsz, "%s: %s (errors.tolerance=none stops the connector; errors.tolerance=all skips such "
                 "records, logs them and sends them to errors.deadletterqueue.topic.name)", what, reason);
        return -1;
    }
    sl_buf topic, key, value;
    sl_buf_init(&topic), sl_buf_init(&key), sl_buf_init(&value);
    const char *t = r->raw ? r->raw->topic : sl_dbz_topic(&c->ctx.dbz, r, &topic);
    if (r->raw) {
        if (r->raw->key) sl_buf_put(&key, r->raw->key, r->raw->key_len);
        if (r->raw->value) sl_buf_put(&value, r->raw->value, r->raw->value_len);
    } else {
        sl_dbz_key(&c->ctx.dbz, r, &key);
        sl_dbz_value(&c->ctx.dbz, r, &value);
    }
    if (c->ctx.core.err_log_messages)
        SL_ERR("connector", "connector %s: skipping %s (errors.tolerance=all): %s; key=%.*s value=%.*s", c->ctx.name, what,
               reason, (int)(key.len > 1024 ? 1024 : key.len), key.data ? key.data : "",
               (int)(value.len > 1024 ? 1024 : value.len), value.data ? value.data : "");
    else SL_ERR("connector", "connector %s: skipping %s (errors.tolerance=all): %s", c->ctx.name, what, reason);
    int rc = 0;
    if (c->ctx.core.dlq_topic && *c->ctx.core.dlq_topic) {
        c->rec_fail_code = SL_E_SINK_UNAVAILABLE; /* the dead letter queue's Kafka */
        if (!c->dlq && open_dlq(c, err, errsz) < 0) rc = -1;
        sl_kafka_dlq_rec dr = {t, r->raw ? r->raw->partition : -1, r->raw ? r->raw->offset : -1,
                               r->ts_us > 0 ? r->ts_us / 1000 : -1, key.len ? key.data : NULL, key.len,
                               value.len ? value.data : NULL, value.len, NULL, "org.apache.kafka.connect.errors.DataException"};
        char derr[1024];
        if (rc == 0 && sl_kafka_dlq_send(c->dlq, &dr, "TRANSFORMATION", "sluice", reason, derr, sizeof derr) < 0) {
            snprintf(err, errsz, "%s could not be sent to the dead letter queue %s: %s", what, c->ctx.core.dlq_topic, derr);
            rc = -1;
        }
    }
    sl_buf_free(&topic), sl_buf_free(&key), sl_buf_free(&value);
    if (rc == 0) sl_ctx_record_failed(&c->ctx, c->dlq != NULL);
    return rc;
}

/* Records the encoders cannot write (sl_record_check) go through record_failed before anything else. */
static int check_batch(sl_connector *c, sl_batch *b, char *err, size_t errsz) {
    char why[512];
    for (int i = 0; i < b->n; i++) {
        if (sl_record_check(&b->recs[i], why, sizeof why) == 0) continue;
        if (record_failed(c, &b->recs[i], why, err, errsz) < 0) return -1;
        sl_batch_remove(b, i--);
    }
    return 0;
}

/* A run has taken enough once it holds 64 batches and max.batch.size records (see write_run). */
static bool run_full(const sl_connector *c, int batches, int64_t records) {
    if (c->sink_ops->held_bytes && c->ctx.core.max_queue_bytes &&
        c->sink_ops->held_bytes(c->sink) >= (size_t)c->ctx.core.max_queue_bytes / 4)
        return true;
    return batches >= 64 && records >= c->ctx.core.max_batch_size;
}

/*
 * Writes a run of queued batches (each freed as soon as the sink has taken
 * it), then flushes once and records the newest offset among them as
 * durable. A run takes what is queued, at least 64 batches and at least
 * max.batch.size records when there are so many: a source that hands on
 * every few records as they arrive (PostgreSQL whenever its socket is
 * momentarily idle) still gets one flush or commit for many of them.
 *
 * With exactly-once, a Kafka transaction must hold exactly the records its
 * offset covers. Records past the newest offset (the start of a source
 * transaction that goes on in this batch's tail or in later batches) join
 * the open transaction at once when the next queued batch carries an
 * offset: that offset covers them (an offset covers everything before it),
 * so the run goes on to it and the transaction commits whole with it.
 * Otherwise (or once the run is full) the pending offset commits first,
 * without them, and they land in the next transaction, which commits with
 * the next offset (a transaction with no offset yet stays open).
 */
static int write_run(sl_connector *c, sl_batch *first, commit_state *cs, uint64_t *sync) {
    int n = 0;
    bool wrote = false;
    char err[1024];
    char *offset = NULL;
    uint64_t seq = 0;
    sl_ctx_take_error_code(); /* the sink's calls below name their failure's kind afresh */
    c->rec_fail_code = SL_E_INTERNAL;
    int64_t recs = 0;
    bool promised = false; /* records are written that only the next queued batch's offset covers */
    for (sl_batch *b = first; b; b = promised || !run_full(c, n, recs) ? sl_queue_pop(c->ctx.q, 0) : NULL) {
        n++;
        recs += b->n;
        if (check_batch(c, b, err, sizeof err) < 0) {
            sl_batch_destroy(b);
            sl_free(offset);
            sl_ctx_fail_code(&c->ctx, c->rec_fail_code, "%s", err);
            return -1;
        }
        if (c->xchain) {
            int dropped = sl_xchain_apply(c->xchain, &c->ctx.dbz, c->ctx.core.tombstones, b, record_failed, c, err, sizeof err);
            if (dropped < 0) { /* a record no sink will get (record_failed), or the chain itself failed */
                sl_batch_destroy(b);
                sl_free(offset);
                sl_ctx_fail_code(&c->ctx, c->rec_fail_code, "%s", err);
                return -1;
            }
            atomic_fetch_add(&c->n_filtered, (uint64_t)dropped);
        }
        for (int i = 0; c->tap && i < b->n; i++) {
            const sl_raw *w = b->recs[i].raw;
            if (w && w->key && !w->binary_key) c->tap(c->tap_arg, w->topic, w->key, w->key_len, w->ts_ms);
        }
        /* Exactly-once: the records this batch's own offset covers join the open transaction (they commit
         * with that offset); the others (all of a batch without offset) are covered by no offset yet:
         * they join it too when the next queued batch brings one, else the pending offset commits first,
         * without them, and they open the next transaction. */
        int covered = !c->ctx.eos ? b->n : b->offset ? b->offset_n : 0;
        int rc = write_part(c, b, 0, covered, err, sizeof err);
        if (rc == 0 && b->offset) {
            sl_free(offset);
            offset = sl_strdup(b->offset);
            seq = b->offset_seq;
            if (b->sync_id) *sync = b->sync_id;
        }
        promised = false;
        if (rc == 0 && covered < b->n) {
            /* A full run ends all the same: a backlog cannot keep one transaction open for ever. */
            const sl_batch *next = sl_queue_peek(c->ctx.q);
            promised = next && next->offset && !run_full(c, n, recs);
            if (promised) sl_free(offset), offset = NULL; /* no longer covers all that is written */
            else rc = eos_commit(c, &offset, seq, err, sizeof err);
            if (rc == 0) rc = write_part(c, b, covered, b->n, err, sizeof err);
        }
        if (b->n > 0) wrote = true, atomic_fetch_add(&c->ctx.n_batches, 1);
        sl_batch_destroy(b);
        if (rc < 0) goto fail;
    }
    if (offset && c->heartbeat_ms > 0 && !atomic_load(&c->ctx.own_heartbeats) &&
        sl_mono_ms() - c->last_heartbeat_ms >= c->heartbeat_ms) {
        /* Debezium's heartbeat: tells consumers (and the offset topic) that the source is alive and where. */
        sl_batch *hb = sl_batch_new();
        sl_batch_add(hb, NULL)->op = SL_OP_HEARTBEAT;
        int rc = c->sink_ops->write(c->sink, hb, err, sizeof err);
        sl_batch_destroy(hb);
        if (rc < 0) goto fail;
        wrote = true;
        c->last_heartbeat_ms = sl_mono_ms();
    }
    if (c->ctx.eos) {
        /* Records and offset in one transaction: once it commits, the offset is stored. Without an
         * offset the transaction stays open (committing it alone would repeat its records after a
         * crash, since the source resumes at the previous offset). */
        bool all_covered = offset != NULL; /* the pending offset covers everything written since the last commit */
        if (eos_commit(c, &offset, seq, err, sizeof err) < 0) goto fail;
        if (all_covered) sl_xchain_durable(c->xchain);
        return 0;
    }
    /* A pipelined sink takes the next run while this one awaits its acks; its offset waits with it (a run that
     * wrote nothing but moves the offset too: it may not overtake the runs before it). A sync (stored at once)
     * flushes, and so does a chain that purges what is durable once per offset.flush.interval.ms, so that a
     * backlog that never lets the runs settle all at once does not hold the purge back. */
    uint64_t ticket = 0;
    if (c->sink_ops->mark && !*sync && (wrote || c->npend) &&
        !(sl_xchain_has_durable(c->xchain) && sl_mono_ms() - c->last_flush_ms >= c->ctx.core.offset_flush_ms))
        ticket = c->sink_ops->mark(c->sink);
    if (ticket) {
        pend_push(c, ticket, offset, seq, recs);
        return settle(c, cs, 0);
    }
    if ((wrote || c->npend) && flush_all(c, cs, err, sizeof err) < 0) goto fail;
    note_durable(c, c->run_ts_n);
    sl_xchain_durable(c->xchain);
    if (offset) {
        sl_free(cs->offset);
        cs->offset = offset;
        cs->seq = seq;
    }
    return 0;
fail:
    sl_free(offset);
    sl_err_code code = sl_ctx_take_error_code();
    sl_ctx_fail_code(&c->ctx, code != SL_E_NONE ? code : SL_E_INTERNAL, "sink %s: %s", c->sink_ops->name, err);
    return -1;
}

static void *sink_main(void *arg) {
    sl_connector *c = arg;
    commit_state cs = {NULL, 0, sl_mono_ms()};
    for (;;) {
        sl_batch *b = sl_queue_pop(c->ctx.q, c->npend ? 5 : 100);
        uint64_t sync = 0;
        if (b && write_run(c, b, &cs, &sync) < 0) break;
        if (!b && settle(c, &cs, 0) < 0) break; /* nothing to write: the acks that came meanwhile */
        bool drained = sl_queue_drained(c->ctx.q);
        if (drained && c->npend) {
            char err[1024];
            if (flush_all(c, &cs, err, sizeof err) < 0) {
                sl_err_code code = sl_ctx_take_error_code();
                sl_ctx_fail_code(&c->ctx, code != SL_E_NONE ? code : SL_E_INTERNAL, "sink %s: %s", c->sink_ops->name, err);
                break;
            }
        }
        if (cs.offset && (drained || sync || sl_mono_ms() - cs.last_store_ms >= c->ctx.core.offset_flush_ms))
            if (store_offset(c, &cs) < 0) break;
        if (sync) atomic_store(&c->ctx.sync_done, sync); /* stored, by the store or by the transaction */
        if (drained) break;
    }
    /* Whatever is in cs.offset was acked: storing it is safe even after a failure. The offsets of runs still
     * awaiting acks are dropped: a restart reads their records again. */
    if (cs.offset) store_offset(c, &cs);
    sl_free(cs.offset);
    for (size_t i = 0; i < c->npend; i++) {
        sl_free(c->pend[i].offset);
        sl_ctx_add_unacked(&c->ctx, -c->pend[i].recs);
    }
    c->npend = 0;
    /* A sink that stopped early must not leave the source blocked on a full queue. */
    sl_queue_close(c->ctx.q);
    atomic_store(&c->ctx.stop, 1);
    atomic_fetch_add(&c->threads_done, 1);
    return NULL;
}

/* The configured offset store; with exactly-once the offsets live in Kafka, where the sink's transactions write them. */
static int sink_offset(void *arg, const char *connector, const char *partition, char **offset, char *errstr,
                       size_t errsz) {
    sl_connector *c = arg;
    if (!c->sink) { /* a command that reads offsets without running the connector */
        snprintf(errstr, errsz, "offset store: offset.storage=target keeps the offsets in the sink's target database "
                                "(its offsets table)");
        return -1;
    }
    return c->sink_ops->stored_offset(c->sink, connector, partition, offset, errstr, errsz);
}

static sl_offsets *open_store(sl_connector *c, char *errstr, size_t errsz) {
    if (c->ctx.offsets_in_sink) return sl_offsets_open_fn(sink_offset, c);
    return sl_connector_open_offsets(c, errstr, errsz);
}

sl_offsets *sl_connector_open_offsets(const sl_connector *c, char *errstr, size_t errsz) {
    const sl_core_conf *core = &c->ctx.core;
    if (!c->ctx.eos && core->offset_storage != 1) return sl_offsets_open(core->offset_file, errstr, errsz);
    char fence[300] = ""; /* (exactly-once: the sink's producer writes the offsets, and its id fences) */
    if (core->fencing && !c->ctx.eos)
        snprintf(fence, sizeof fence, core->task_id ? "sluice-offsets-%s-%lld" : "sluice-offsets-%s", c->ctx.name,
                 (long long)core->task_id);
    return sl_offsets_open_kafka(&core->kafka, c->ctx.cfg, core->offset_topic, (int)core->offset_partitions,
                                 (int)core->offset_rf, fence, errstr, errsz);
}

/* A start that failed: errstr's message becomes the connector's failure, of kind code (sl_connector_error_code). */
static int start_failed(sl_connector *c, sl_err_code code, const char *errstr) {
    sl_err e;
    sl_err_set(&e, code, "%s", errstr);
    sl_ctx_fail_err(&c->ctx, &e);
    return -1;
}

int sl_connector_start(sl_connector *c, char *errstr, size_t errsz) {
    if (c->ctx.core.log_level) sl_log_set_level((sl_log_level)sl_log_parse_level(c->ctx.core.log_level));
    c->ctx.q = sl_queue_new((size_t)c->ctx.core.max_queue_bytes, (size_t)c->ctx.core.max_queue_size);
    /* The sink first: an exactly-once sink's init_transactions fences a previous instance and
     * finishes its last transaction (a commit it had begun completes, an open one is aborted), so
     * the offsets read next include everything that instance committed. Read before that, a commit
     * still in flight would be missed and its records sent again. */
    sl_ctx_take_error_code();
    if (c->sink_ops->open(&c->sink, c->sink_settings, &c->ctx, errstr, errsz) < 0) {
        sl_err_code code = sl_ctx_take_error_code();
        return start_failed(c, code != SL_E_NONE ? code : SL_E_INTERNAL, errstr);
    }
    c->ctx.store = open_store(c, errstr, errsz);
    if (!c->ctx.store) return start_failed(c, SL_E_RESOURCE, errstr);
    sl_err e;
    if (open_source(c, &e) != 0) { /* fail fast at start, retriable or not */
        snprintf(errstr, errsz, "%s", e.msg);
        return start_failed(c, e.code, errstr);
    }
    SL_INFO("connector", "started connector=%s source=%s sink=%s", c->ctx.name, c->ctx.src_ops->name, c->sink_ops->name);
    memcpy(&c->ctx.dbz_src, &c->ctx.dbz, sizeof c->ctx.dbz); /* from now on the published options are read-only */
    pthread_create(&c->sink_thr, NULL, sink_main, c);
    pthread_create(&c->src_thr, NULL, source_main, c);
    c->started = true;
    return 0;
}

void sl_connector_stop(sl_connector *c) { atomic_store(&c->ctx.stop, 1); }

bool sl_connector_eos(const sl_connector *c) { return c->ctx.eos; }

void sl_connector_pause(sl_connector *c) {
    if (!atomic_exchange(&c->ctx.paused, 1) && c->started) SL_INFO("connector", "pausing connector=%s", c->ctx.name);
}

void sl_connector_resume(sl_connector *c) {
    if (atomic_exchange(&c->ctx.paused, 0)) SL_INFO("connector", "resuming connector=%s", c->ctx.name);
}

bool sl_connector_paused(const sl_connector *c) { return atomic_load(&c->ctx.paused) != 0; }

void sl_connector_last_error(sl_connector *c, char *out, size_t outsz) {
    pthread_mutex_lock(&c->ctx.err_lock);
    snprintf(out, outsz, "%s", atomic_load(&c->ctx.failed) ? c->ctx.err.msg : c->ctx.retry_err.msg);
    pthread_mutex_unlock(&c->ctx.err_lock);
}

sl_err_code sl_connector_error_code(sl_connector *c) {
    pthread_mutex_lock(&c->ctx.err_lock);
    sl_err_code code = atomic_load(&c->ctx.failed) ? c->ctx.err.code : SL_E_NONE;
    pthread_mutex_unlock(&c->ctx.err_lock);
    return code;
}

sl_src_state sl_connector_source_state(const sl_connector *c) { return sl_ctx_source_state(&c->ctx); }

void sl_connector_get_metrics(sl_connector *c, sl_connector_metrics *m) {
    memset(m, 0, sizeof *m);
    m->records_read = atomic_load(&c->ctx.n_read);
    m->records_written = atomic_load(&c->ctx.n_written);
    m->batches_written = atomic_load(&c->ctx.n_batches);
    m->offsets_committed = atomic_load(&c->ctx.n_commits);
    m->bytes_read = atomic_load(&c->ctx.bytes_read);
    m->bytes_written = atomic_load(&c->ctx.bytes_written);
    m->reconnects = atomic_load(&c->reconnects);
    m->records_failed = atomic_load(&c->ctx.n_failed);
    m->records_dlq = atomic_load(&c->ctx.n_dlq);
    m->records_stale = atomic_load(&c->ctx.n_stale);
    m->sink_waiting = (size_t)atomic_load(&c->ctx.sink_waiting);
    m->sink_waited_ms = atomic_load(&c->ctx.sink_waited_ms);
    m->records_filtered = atomic_load(&c->n_filtered);
    m->batch_size_sum = atomic_load(&c->batch_size_sum);
    m->batch_size_count = m->batches_written;
    size_t batches = 0;
    if (c->ctx.q) sl_queue_stats(c->ctx.q, &m->queue_bytes, &m->queue_records, &batches);
    m->queue_max_records = (size_t)c->ctx.core.max_queue_size;
    m->queue_max_bytes = (size_t)c->ctx.core.max_queue_bytes;
    m->lag_records = atomic_load(&c->ctx.lag_records);
    m->lag_bytes = atomic_load(&c->ctx.lag_bytes);
    pthread_mutex_lock(&c->ctx.m_lock);
    m->source_ts_ms = c->source_ts_ms;
    m->lag_ms = c->lag_ms;
    m->latency_count = c->lat_count;
    m->latency_sum_ms = c->lat_sum_ms;
    memcpy(m->latency_buckets, c->lat_buckets, sizeof m->latency_buckets);
    snprintf(m->offset, sizeof m->offset, "%s", c->committed_offset);
    m->nsnapshot = c->ctx.nsnap;
    memcpy(m->snapshot, c->ctx.snap, sizeof m->snapshot);
    pthread_mutex_unlock(&c->ctx.m_lock);
    pthread_mutex_lock(&c->ctx.err_lock);
    const sl_err *le = atomic_load(&c->ctx.failed) ? &c->ctx.err : &c->ctx.retry_err;
    snprintf(m->last_error, sizeof m->last_error, "%s", le->msg);
    m->last_error_code = le->code;
    m->last_error_ms = m->last_error[0] ? c->ctx.err_ms : 0;
    pthread_mutex_unlock(&c->ctx.err_lock);
    m->running = sl_connector_running(c);
    m->paused = atomic_load(&c->ctx.paused) != 0;
    m->failed = atomic_load(&c->ctx.failed) != 0;
    m->source_state = sl_ctx_source_state(&c->ctx);
}

bool sl_connector_running(sl_connector *c) { return c->started && atomic_load(&c->threads_done) < 2; }

int sl_connector_wait(sl_connector *c, char *errstr, size_t errsz) {
    if (c->started) {
        pthread_join(c->src_thr, NULL);
        pthread_join(c->sink_thr, NULL);
        c->started = false;
    }
    if (atomic_load(&c->ctx.failed)) {
        pthread_mutex_lock(&c->ctx.err_lock);
        snprintf(errstr, errsz, "%s", c->ctx.err.msg);
        pthread_mutex_unlock(&c->ctx.err_lock);
        return -1;
    }
    return 0;
}

void sl_connector_destroy(sl_connector *c) {
    if (!c) return;
    if (c->started) {
        char tmp[16];
        sl_connector_stop(c);
        sl_connector_wait(c, tmp, sizeof tmp);
    }
    if (c->src) c->ctx.src_ops->close(c->src);
    sl_ctx_set_source_state(&c->ctx, atomic_load(&c->ctx.failed) ? SL_SRC_FAILED : SL_SRC_STOPPED);
    if (c->sink) c->sink_ops->close(c->sink);
    sl_kafka_dlq_close(c->dlq);
    if (c->src_settings) sl_conf_free(c->ctx.src_ops->props, c->src_settings), sl_free(c->src_settings);
    if (c->sink_settings) sl_conf_free(c->sink_ops->props, c->sink_settings), sl_free(c->sink_settings);
    sl_xchain_free(c->xchain);
    sl_conf_free(sl_core_props, &c->ctx.core);
    sl_queue_destroy(c->ctx.q);
    sl_offsets_close(c->ctx.store);
    sl_free(c->ctx.partition);
    sl_free(c->ctx.stored_offset);
    sl_free(c->ctx.resume_offset);
    sl_free(c->ctx.name);
    pthread_mutex_destroy(&c->ctx.err_lock);
    pthread_mutex_destroy(&c->ctx.m_lock);
    sl_ctx_signals_close(&c->ctx);
    sl_free(c->ctx.sig_topic);
    pthread_mutex_destroy(&c->ctx.sig_lock);
    sl_free(c->run_ts);
    sl_free(c->pend);
    sl_free(c);
}

static void print_row(const char *conn, const char *part, const char *off, int64_t ms, void *arg) {
    fprintf((FILE *)arg, "%s\t%s\t%s\t%lld\n", conn, part, off, (long long)ms);
}

int sl_connector_offsets_list(sl_connector *c, FILE *out, char *errstr, size_t errsz) {
    sl_offsets *s = open_store(c, errstr, errsz);
    if (!s) return -1;
    int rc = sl_offsets_list(s, c->ctx.name, print_row, out, errstr, errsz);
    sl_offsets_close(s);
    return rc;
}

typedef struct passed_ctx {
    const sl_source_ops *ops;
    const char *pos;
    int rc; /* 1 all passed so far, 0 one has not, -1 one cannot tell; -2 no offsets yet */
} passed_ctx;

static void passed_row(const char *conn, const char *part, const char *off, int64_t ms, void *arg) {
    (void)conn, (void)part, (void)ms;
    passed_ctx *p = arg;
    int r = p->ops->position_passed(off, p->pos);
    if (p->rc == -2 || r < p->rc) p->rc = r;
}

void sl_connector_set_tap(sl_connector *c, sl_connector_tap fn, void *arg) {
    c->tap = fn;
    c->tap_arg = arg;
}

int sl_connector_position_passed(void *conn, const char *pos) {
    sl_connector *c = conn;
    const sl_source_ops *so = c->ctx.src_ops;
    if (!so || !so->position_passed || !pos || !*pos || c->ctx.offsets_in_sink) return -1;
    char err[512];
    sl_offsets *s = open_store(c, err, sizeof err);
    if (!s) return -1;
    passed_ctx p = {so, pos, -2};
    int rc = sl_offsets_list(s, c->ctx.name, passed_row, &p, err, sizeof err);
    sl_offsets_close(s);
    return rc < 0 || p.rc == -2 ? -1 : p.rc;
}

int sl_connector_source_retained(const sl_connector *c, sl_source_retained *out, char *errstr, size_t errsz) {
    if (!c->ctx.src_ops || !c->ctx.src_ops->retained) return 1;
    return c->ctx.src_ops->retained(c->src_settings, out, errstr, errsz);
}

int sl_connector_verify_open(sl_connector *c, struct sl_vside **src, struct sl_vside **dst, sl_vmap *map,
                             char *errstr, size_t errsz) {
    *src = *dst = NULL;
    map->fn = c->xchain ? sl_xchain_vmap : NULL; /* the transforms' mapping of each table's rows */
    map->arg = c->xchain;
    const sl_source_ops *so = c->ctx.src_ops;
    if (!so || !so->verify_open) {
        snprintf(errstr, errsz, "sluice verify cannot read a %s source yet (it reads PostgreSQL, MySQL/MariaDB and MongoDB sources)",
                 so ? so->name : "missing");
        return -1;
    }
    if (!c->sink_ops || !c->sink_ops->verify_open) {
        snprintf(errstr, errsz, "sluice verify cannot read back a %s sink yet (it reads the MongoDB sink and the SQL sink's PostgreSQL "
                                "and MariaDB/MySQL targets: sink.type=jdbc)", c->sink_ops ? c->sink_ops->name : "missing");
        return -1;
    }
    if (so->verify_open(c->src_settings, src, errstr, errsz) < 0) return -1;
    return c->sink_ops->verify_open(c->sink_settings, dst, errstr, errsz);
}

int sl_connector_signal(sl_connector *c, const char *json, char *errstr, size_t errsz) {
    return sl_ctx_signal_push(&c->ctx, json, strlen(json), errstr, errsz);
}

int sl_connector_check_offset(const sl_connector *c, const struct json_t *partition, const struct json_t *offset,
                              char *errstr, size_t errsz) {
    if (!c->ctx.src_ops || !c->ctx.src_ops->check_offset) return 0;
    return c->ctx.src_ops->check_offset(partition, offset, errstr, errsz);
}

int sl_connector_offsets_reset(sl_connector *c, int *removed, char *errstr, size_t errsz) {
    sl_offsets *s = open_store(c, errstr, errsz);
    if (!s) return -1;
    int rc = sl_offsets_delete(s, c->ctx.name, removed, errstr, errsz);
    sl_offsets_close(s);
    return rc;
}
