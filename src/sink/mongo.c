/*
 * MongoDB sink: the MongoDB Kafka sink connector (mongo-kafka) in C.
 *
 * Every record becomes zero or more write models queued with the record's
 * identity (topic/partition@offset or table/op, and with errors.tolerance=all
 * its key/value JSON):
 *
 *   change events, by change.data.capture.handler (empty: detected per record)
 *     Debezium RDBMS envelopes (RdbmsHandler, also every change event of a
 *     source in this process), mongo-kafka change stream events
 *     (ChangeStreamHandler), Debezium MongoDB envelopes (MongoDbHandler);
 *     their tombstones are skipped, as RdbmsHandler does;
 *   `__sluice_writes` computed by the embed transform: applied as listed;
 *   plain documents read from Kafka: mongo_model.h (namespace mapper, post
 *     processors, id strategy, write model strategy), as mongo-kafka does
 *     without a CDC handler.
 *
 * flush() cuts the queue into bulk writes: one per run of writes to the same
 * namespace, at most max.batch.size writes, and when bulk.write.ordered=false
 * also before a write whose filter (_id) is already in the bulk, so that one
 * key's changes never race. A failed bulk is looked at write by write
 * (writeErrors[].index -> the queued write -> its record): transient errors
 * (network, NotWritablePrimary family, writeConcernError, ...) retry what is
 * not done yet after retries.defer.timeout ms, up to max.num.retries times;
 * a write the server rejects fails the connector (errors.tolerance=none) or
 * sends its record to the dead letter queue and goes on with the next write
 * (errors.tolerance=all). flush() returns only once every write is
 * acknowledged or dead-lettered: only then does the runtime commit the offset.
 *
 * The errors.* keys are the Kafka source's when it feeds this sink (its table
 * defines them); the sink reads them with a private table of the same
 * definitions applied in check(), so that they work behind any source, are
 * claimed in every case and appear once in the generated docs.
 *
 * Threads: check() and open() on the starting thread, conversion on the sink
 * thread, bulk writes on the sink's writer thread. write() fills a queue and,
 * once it holds max.batch.size writes (or a quarter of
 * max.queue.size.in.bytes of record copies), hands it to the writer and fills
 * the other one; a queue is handed over only after the one before it is
 * written, so writes keep their order, and flush() waits for the writer. A
 * failure of a queue in flight is reported by the next write() or flush().
 * After open() only the writer uses the mongoc client. reject() runs on both
 * threads, under a lock.
 */
#include "ctx/ctx.h"
#include "core/log.h"
#include "kafka/kclient.h"
#include "sink/mongo_conv.h"
#include "sink/mongo_model.h"
#include "kafka/dlq.h"
#include "mongo/mclient.h"
#include "mongo/mkey.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "util/civil.h"
#include "core/vside.h"
#include <inttypes.h>
#include <math.h>
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_DOC_BYTES (16 * 1024 * 1024) /* the server's maxBsonObjectSize */
#define EXC_BULK "com.mongodb.MongoBulkWriteException"
#define EXC_DATA "org.apache.kafka.connect.errors.DataException"
#define TASK_CLASS "com.mongodb.kafka.connect.sink.MongoSinkTask"

typedef enum { H_AUTO, H_RDBMS, H_DBZ_MONGO, H_CHANGE_STREAM, H_NONE } handler_kind;

#define CDC_PKG "com.mongodb.kafka.connect.sink.cdc."
static const struct {
    const char *name;
    handler_kind kind;
} handlers[] = {
    {"", H_AUTO},
    {CDC_PKG "debezium.rdbms.RdbmsHandler", H_RDBMS},
    {CDC_PKG "debezium.rdbms.postgres.PostgresHandler", H_RDBMS},
    {CDC_PKG "debezium.rdbms.mysql.MysqlHandler", H_RDBMS},
    {CDC_PKG "debezium.mongodb.ChangeStreamHandler", H_DBZ_MONGO},
    {CDC_PKG "debezium.mongodb.MongoDbHandler", H_DBZ_MONGO},
    {CDC_PKG "mongodb.ChangeStreamHandler", H_CHANGE_STREAM},
    {"none", H_NONE},
};

typedef struct mongo_conf {
    char *uri;
    sl_mongo_model_conf model;
    char *cdc_handler;
    bool ordered;
    int64_t max_retries, retry_defer_ms;
    char *mongo_tolerance, *mongo_log_enable;
    char *ts_field, *ts_meta, *ts_granularity;
    int64_t ts_expire;
    char *origin; /* replication.origin.name, "" none */
    /* Filled by check() (not table rows): */
    handler_kind handler;
    /* Filled at open from the connector's errors.* (sl_core_conf): */
    bool tolerate, log_messages, dlq_headers;
    const char *dlq_topic; /* borrowed from the connector's settings, which outlive the sink */
    int64_t dlq_rf, err_retry_timeout, err_retry_delay_max;
} mongo_conf;

#define F(x) offsetof(mongo_conf, x)
static const sl_prop mongo_props[] = {
    {"connection.uri", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_SENSITIVE | SL_PF_REQUIRED, F(uri),
     "MongoDB connection string (mongodb:// or mongodb+srv://). Its write concern applies to every write "
     "(w=0 is refused: records must be acknowledged before the source offset is committed)."},
    SL_MONGO_MODEL_PROPS(mongo_conf, model),
    {"change.data.capture.handler", SL_PT_STRING, "", NULL, 0, 0, 0, F(cdc_handler),
     "How change events are applied: empty (detected per record: Debezium RDBMS envelopes, mongo-kafka change "
     "stream events, Debezium MongoDB envelopes; other values are plain documents), or one of mongo-kafka's "
     "handlers: " CDC_PKG "debezium.rdbms.RdbmsHandler (or .postgres.PostgresHandler, .mysql.MysqlHandler), " CDC_PKG
     "debezium.mongodb.ChangeStreamHandler (or MongoDbHandler), " CDC_PKG "mongodb.ChangeStreamHandler; "
     "none: every record is a plain document (write model strategies)."},
    {"bulk.write.ordered", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(ordered),
     "Ordered bulk writes (a rejected write stops the rest of its bulk, which is then resumed after it). "
     "false: unordered, but a bulk never holds two writes to the same _id/filter."},
    {"max.num.retries", SL_PT_INT, "1", NULL, 0, INT32_MAX, 0, F(max_retries),
     "How often a bulk write that failed with a transient error (network, primary stepped down, write "
     "concern) is tried again before the connector fails."},
    {"retries.defer.timeout", SL_PT_INT, "5000", NULL, 0, 3600000, 0, F(retry_defer_ms),
     "Pause (ms) before such a retry."},
    {"mongo.errors.tolerance", SL_PT_STRING, "", NULL, 0, 0, 0, F(mongo_tolerance),
     "none or all: overrides errors.tolerance for the sink's write errors (empty: errors.tolerance)."},
    {"mongo.errors.log.enable", SL_PT_STRING, "", NULL, 0, 0, 0, F(mongo_log_enable),
     "true or false: mongo-kafka's override of errors.log.enable, accepted; sluice logs every record it skips."},
    {"timeseries.timefield", SL_PT_STRING, "", NULL, 0, 0, 0, F(ts_field),
     "Top-level field holding the time of each document: collections that do not exist yet are created as "
     "time-series collections, and DefaultWriteModelStrategy inserts (empty: normal collections)."},
    {"timeseries.metafield", SL_PT_STRING, "", NULL, 0, 0, 0, F(ts_meta),
     "Time series: the field with the metadata of each document (empty: none)."},
    {"timeseries.expire.after.seconds", SL_PT_INT, "0", NULL, 0, INT64_MAX, 0, F(ts_expire),
     "Time series: documents are removed this many seconds after their time (0: never)."},
    {"timeseries.granularity", SL_PT_STRING, "", NULL, 0, 0, 0, F(ts_granularity),
     "Time series: seconds, minutes or hours (empty: the server's default)."},
    {"replication.origin.name", SL_PT_STRING, "", NULL, 0, 0, 0, F(origin),
     "Marks every write with this origin in the field __sluice_origin (\"<origin>/<ms>-<n>\", new on each write; "
     "a delete is preceded by an update that sets the mark with \"/d\"), so that a MongoDB source reading the "
     "target with the name in its skipped.origins leaves those writes out: two connectors syncing both ways do "
     "not send each other's writes back. Empty: no mark."},
    {NULL}};
#undef F

typedef enum { W_INSERT, W_REPLACE, W_UPDATE, W_UPDATE_MANY, W_DELETE, W_DELETE_MANY } wkind;

/* A queued write model; filter and doc owned. */
typedef struct mop {
    wkind kind;
    bool upsert, done;
    bson_t *filter, *doc;
    const char *db, *coll; /* in the sink's arena */
    size_t rec;            /* index into recs */
} mop;

/* The record a write came from: what the error messages and the DLQ need (strings in the arena). */
typedef struct mrec {
    const char *what, *topic;
    int32_t partition;
    int64_t offset, ts_ms;
    const char *key, *value; /* NULL: null */
    size_t key_len, value_len;
    bool failed;
} mrec;

typedef enum { TOPIC_UNKNOWN, TOPIC_CDC, TOPIC_PLAIN } topic_kind;

/* The compiled Connect schemas of a table of a source in this process (the table is referenced, so its
 * address is not reused while cached). */
typedef struct tschema {
    sl_table *table;
    sl_mconv_schema *key, *value;
    bool view; /* payloads convert from the record view (sl_mconv_schema_view_safe) */
} tschema;
#define TSCHEMA_MAX 256

/* Records and their writes queued since the last hand-over. */
typedef struct mqueue {
    sl_arena arena; /* records' copies and namespaces */
    mrec *recs;
    size_t nrec, caprec;
    mop *ops;
    size_t nop, capop;
    const char *cur_db, *cur_coll; /* namespace of the writes queued now */
} mqueue;

typedef struct mongo_sink {
    sl_ctx *ctx;
    mongo_conf *conf;
    mongoc_client_t *client;
    sl_mongo_model *model;
    sl_mconv *conv;    /* Connect data -> BSON (mongo-kafka's SinkConverter) */
    bool text_values;  /* the source is MongoDB in this process: bare JSON values are extended JSON text */
    tschema *tschemas; /* tables of a source in this process, newest last */
    size_t ntschemas;
    sl_kafka_dlq *dlq;
    bson_t *upsert_opts; /* a pointer: bson_t wants 128-byte alignment, more than sl_calloc gives */
    int64_t max_batch;
    size_t max_held;    /* bytes of copies the queued writes may hold before they are written (0: no bound) */
    /* Two queues: the sink thread fills one while the writer thread writes the other, so that converting
     * records overlaps the server's work on the writes before them (one queue in flight at a time keeps the
     * writes in order). */
    mqueue qbuf[2];
    mqueue *q;  /* being filled (sink thread) */
    mqueue *wq; /* handed to the writer and not yet collected, or NULL */
    pthread_t writer;
    bool writer_started, writer_stop, w_busy; /* w_busy: the writer has wq to write */
    pthread_mutex_t mu;     /* the hand-over */
    pthread_cond_t cv;
    pthread_mutex_t rej_mu; /* reject() runs on both threads: its log lines, DLQ sends and counters */
    int w_rc;           /* the last queue's result, its errstr and error code */
    sl_err_code w_code;
    char w_err[4096];
    char **ts_ready;               /* namespaces known to exist (timeseries.timefield) */
    size_t nts;
    char **topics; /* topics seen: change events or plain documents (tombstones of the former are skipped) */
    topic_kind *topic_kinds;
    size_t ntopics;
    sl_buf key, value, scratch;
    sl_vheap vh; /* one record's view (add_change), reset per record */
    uint64_t dead;
    uint64_t marks; /* replication.origin.name: marks written (the counter of each mark) */
} mongo_sink;

/* ---- configuration ---- */

static handler_kind handler_of(const char *name, bool *ok) {
    *ok = true;
    for (size_t i = 0; i < sizeof handlers / sizeof *handlers; i++)
        if (strcasecmp(name ? name : "", handlers[i].name) == 0) return handlers[i].kind;
    *ok = false;
    return H_AUTO;
}

/* mongo-kafka's own overrides of errors.tolerance / errors.log.enable (the connector's errors.* keys, with
 * the dead letter queue, are the runtime's: sl_core_conf). */
static void check_errors(const mongo_conf *mc, sl_errs *errs) {
    const char *mt = mc->mongo_tolerance;
    if (mt && *mt && strcasecmp(mt, "all") && strcasecmp(mt, "none"))
        sl_errs_add(errs, "mongo.errors.tolerance: '%s' is not allowed (allowed: none, all, or empty)", mt);
    const char *ml = mc->mongo_log_enable;
    if (ml && *ml && strcasecmp(ml, "true") && strcasecmp(ml, "false"))
        sl_errs_add(errs, "mongo.errors.log.enable: '%s' is not a boolean (allowed: true, false, or empty)", ml);
}

/* The error settings the sink applies: the connector's, mongo.errors.tolerance winning. */
static void resolve_errors(mongo_conf *mc, const sl_core_conf *core) {
    const char *mt = mc->mongo_tolerance;
    mc->tolerate = mt && *mt ? strcasecmp(mt, "all") == 0 : core->err_tolerance == SL_TOL_ALL;
    mc->log_messages = core->err_log_messages;
    mc->dlq_topic = core->dlq_topic && *core->dlq_topic ? core->dlq_topic : NULL;
    mc->dlq_rf = core->dlq_rf;
    mc->dlq_headers = core->dlq_headers;
    mc->err_retry_timeout = core->err_retry_timeout_ms;
    mc->err_retry_delay_max = core->err_retry_delay_max_ms;
}

static void mongo_check(void *settings, sl_config *cfg, sl_errs *errs) {
    mongo_conf *mc = settings;
    bool ok;
    mc->handler = handler_of(mc->cdc_handler, &ok);
    if (!ok) {
        sl_buf names;
        sl_buf_init(&names);
        for (size_t i = 1; i < sizeof handlers / sizeof *handlers; i++)
            sl_buf_printf(&names, "%s%s", i > 1 ? ", " : "", handlers[i].name);
        sl_errs_add(errs, "change.data.capture.handler: '%s' is not a known handler (allowed: empty for "
                          "auto-detection, %s)", mc->cdc_handler, sl_buf_cstr(&names));
        sl_buf_free(&names);
    }
    check_errors(mc, errs);
    mc->model.timeseries = mc->ts_field && *mc->ts_field;
    const char *g = mc->ts_granularity;
    if (g && *g && strcmp(g, "seconds") && strcmp(g, "minutes") && strcmp(g, "hours"))
        sl_errs_add(errs, "timeseries.granularity: '%s' is not allowed (allowed: seconds, minutes, hours)", g);
    if (!mc->model.timeseries && ((mc->ts_meta && *mc->ts_meta) || (g && *g) || mc->ts_expire))
        sl_errs_add(errs, "timeseries.timefield: required by timeseries.metafield, timeseries.granularity and "
                          "timeseries.expire.after.seconds");
    const char *auto_conv = sl_config_get(cfg, "timeseries.timefield.auto.convert");
    sl_config_claim(cfg, "timeseries.timefield.auto.convert");
    if (auto_conv && strcasecmp(auto_conv, "false"))
        sl_errs_add(errs, "timeseries.timefield.auto.convert: not implemented: the time field must already be a "
                          "date (use a transform to convert it)");
    sl_mongo_model *m = NULL;
    if (sl_mongo_model_compile(&mc->model, &m, errs) == 0) sl_mongo_model_destroy(m);
}

/* A failed open, write or flush of kind code (errstr has the message). Returns -1. */
/* The code failed() raised last on this thread: the writer thread hands it to the sink thread's call. */
static _Thread_local sl_err_code failed_code;

static int failed(mongo_sink *s, sl_err_code code) {
    failed_code = code;
    sl_ctx_error_code(s->ctx, code);
    return -1;
}

static int open_dlq(mongo_sink *s, char *errstr, size_t errsz) {
    return (s->dlq = sl_ctx_open_dlq(s->ctx, errstr, errsz)) ? 0 : -1;
}

static void *writer_main(void *arg);

static int mongo_open(void **out, void *settings, sl_ctx *ctx, char *errstr, size_t errsz) {
    mongo_conf *mc = settings;
    sl_errs errs = {0};
    sl_mongo_init();
    mongo_sink *s = sl_calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->rej_mu, NULL);
    sl_arena_init(&s->qbuf[0].arena);
    sl_arena_init(&s->qbuf[1].arena);
    s->q = &s->qbuf[0];
    s->ctx = ctx;
    s->conf = mc;
    resolve_errors(mc, sl_ctx_core(ctx));
    s->max_batch = sl_ctx_core(ctx)->max_batch_size;
    s->max_held = (size_t)sl_ctx_core(ctx)->max_queue_bytes / 4; /* as a source's batch: see sl_ctx_batch_full */
    s->upsert_opts = BCON_NEW("upsert", BCON_BOOL(true));
    sl_buf_init(&s->key);
    sl_vheap_init(&s->vh);
    sl_buf_init(&s->value);
    sl_buf_init(&s->scratch);
    s->conv = sl_mconv_new();
    const sl_source_ops *src = ctx ? sl_ctx_source_ops(ctx) : NULL;
    s->text_values = src && src->ejson_values;
    *out = s;
    if (sl_mongo_model_compile(&mc->model, &s->model, &errs)) {
        snprintf(errstr, errsz, "%s", errs.msg[0]);
        sl_errs_free(&errs);
        return failed(s, SL_E_CONFIG);
    }
    if (!(s->client = sl_mongo_client_new(mc->uri, "sluice", true, NULL, errstr, errsz)))
        return failed(s, SL_E_CONFIG); /* connection.uri */
    /* Fail at start, not at the first flush, when the server is unreachable. */
    char why[512];
    if (!sl_mongo_ping(s->client, why, sizeof why)) {
        snprintf(errstr, errsz, "mongodb sink: %s", why);
        return failed(s, SL_E_SINK_UNAVAILABLE);
    }
    if (mc->dlq_topic && mc->tolerate && open_dlq(s, errstr, errsz) < 0) return failed(s, SL_E_SINK_UNAVAILABLE);
    if (pthread_create(&s->writer, NULL, writer_main, s) == 0) s->writer_started = true;
    else SL_WARN("mongo", "no writer thread: records are converted and written one after the other");
    SL_INFO("mongo", "mongodb sink ready database=%s collection=%s ordered=%s errors.tolerance=%s dlq=%s",
            mc->model.database, *mc->model.collection ? mc->model.collection : "(per table/topic)",
            mc->ordered ? "true" : "false", mc->tolerate ? "all" : "none", s->dlq ? mc->dlq_topic : "(none)");
    return 0;
}

/* ---- the queue: records and their writes ---- */

/* Starts the record r: its identity, for errors and the DLQ (key/value are set by the handler). */
static mrec *begin_rec(mongo_sink *s, const sl_record *r) {
    if (s->q->nrec == s->q->caprec) {
        s->q->caprec = s->q->caprec ? s->q->caprec * 2 : 64;
        s->q->recs = sl_realloc(s->q->recs, s->q->caprec * sizeof *s->q->recs);
    }
    mrec *m = &s->q->recs[s->q->nrec++];
    memset(m, 0, sizeof *m);
    char what[512];
    if (r->raw) {
        const char *t = r->raw->topic ? r->raw->topic : "";
        m->topic = sl_arena_strndup(&s->q->arena, t, strlen(t));
        m->partition = r->raw->partition;
        m->offset = r->raw->offset;
        m->ts_ms = r->raw->ts_ms;
        snprintf(what, sizeof what, "record %s/%d@%lld", m->topic, (int)m->partition, (long long)m->offset);
    } else {
        sl_buf_reset(&s->scratch);
        const char *t = sl_dbz_topic(sl_ctx_dbz(s->ctx), r, &s->scratch);
        m->topic = sl_arena_strndup(&s->q->arena, t ? t : "", t ? strlen(t) : 0);
        m->partition = -1;
        m->offset = -1;
        m->ts_ms = r->ts_us / 1000;
        if (r->table)
            snprintf(what, sizeof what, "record of table %s.%s (op %c)", r->table->schema ? r->table->schema : "",
                     r->table->name, (char)r->op);
        else snprintf(what, sizeof what, "record (op %c)", (char)r->op);
    }
    m->what = sl_arena_strndup(&s->q->arena, what, strlen(what));
    return m;
}

/* Keeps a copy of the record's key and value text for reject() (the log and the DLQ of errors.tolerance=all;
 * without it a rejected record stops the connector, named by its identity alone, and no copy is needed). */
static void set_rec_kv(mongo_sink *s, const char *key, size_t klen, const char *value, size_t vlen) {
    if (!s->conf->tolerate) return;
    mrec *m = &s->q->recs[s->q->nrec - 1];
    m->key = key ? sl_arena_memdup(&s->q->arena, key, klen) : NULL;
    m->key_len = klen;
    m->value = value ? sl_arena_memdup(&s->q->arena, value, vlen) : NULL;
    m->value_len = vlen;
}

/* Sets the namespace of the writes queued next. */
static void set_ns(mongo_sink *s, const char *db, const char *coll) {
    if (!s->q->cur_db || strcmp(s->q->cur_db, db)) s->q->cur_db = sl_arena_strndup(&s->q->arena, db, strlen(db));
    if (!s->q->cur_coll || strcmp(s->q->cur_coll, coll)) s->q->cur_coll = sl_arena_strndup(&s->q->arena, coll, strlen(coll));
}

/* Queues a write of the current record to the current namespace (filter and doc are copied). */
static void queue_op(mongo_sink *s, wkind kind, const bson_t *filter, const bson_t *doc, bool upsert) {
    if (s->q->nop == s->q->capop) {
        s->q->capop = s->q->capop ? s->q->capop * 2 : 64;
        s->q->ops = sl_realloc(s->q->ops, s->q->capop * sizeof *s->q->ops);
    }
    mop *o = &s->q->ops[s->q->nop++];
    o->kind = kind;
    o->upsert = upsert;
    o->done = false;
    o->filter = filter ? bson_copy(filter) : NULL;
    o->doc = doc ? bson_copy(doc) : NULL;
    o->db = s->q->cur_db;
    o->coll = s->q->cur_coll;
    o->rec = s->q->nrec - 1;
}

/* Drops the writes from index `from` on (a record that failed half-way). */
static void drop_ops(mqueue *q, size_t from) {
    for (size_t i = from; i < q->nop; i++) {
        if (q->ops[i].filter) bson_destroy(q->ops[i].filter);
        if (q->ops[i].doc) bson_destroy(q->ops[i].doc);
    }
    if (from < q->nop) q->nop = from;
}

static void clear_queue(mqueue *q) {
    drop_ops(q, 0);
    q->nrec = 0;
    q->cur_db = q->cur_coll = NULL;
    sl_arena_free(&q->arena);
    sl_arena_init(&q->arena);
}

/*
 * A record that cannot be written (rejected by the server or the driver, or a handler / model error):
 * with errors.tolerance=none fills errstr with log_msg (which names the record) and returns -1; with
 * all logs it (errors.log.enable), sends it to the DLQ when one is configured and returns 0. exc and
 * exc_msg are the Java exception class and message mongo-kafka would report.
 */
static int reject0(mongo_sink *s, mqueue *q, size_t rec, const char *exc, const char *exc_msg, const char *log_msg,
                   char *errstr, size_t errsz) {
    mrec *m = &q->recs[rec];
    if (m->failed) return 0;
    if (!s->conf->tolerate) {
        snprintf(errstr, errsz, "%s (errors.tolerance=none stops the connector; errors.tolerance=all skips such "
                                "records and sends them to errors.deadletterqueue.topic.name)", log_msg);
        return failed(s, SL_E_SINK_REJECTED);
    }
    m->failed = true; /* always logged (errors.log.include.messages adds key and value) */
    if (s->conf->log_messages)
        SL_ERR("mongo", "skipping %s [%s] key=%.*s value=%.*s", log_msg, exc,
               m->key ? (int)(m->key_len > 1024 ? 1024 : m->key_len) : 4, m->key ? m->key : "null",
               m->value ? (int)(m->value_len > 1024 ? 1024 : m->value_len) : 4, m->value ? m->value : "null");
    else SL_ERR("mongo", "skipping %s [%s]", log_msg, exc);
    if (s->dlq) {
        sl_kafka_dlq_rec dr = {m->topic, m->partition, m->offset, m->ts_ms, m->key, m->key_len,
                               m->value, m->value_len, NULL, exc};
        char err[1024];
        if (sl_kafka_dlq_send(s->dlq, &dr, "TASK_PUT", TASK_CLASS, exc_msg, err, sizeof err) < 0) {
            snprintf(errstr, errsz, "mongodb sink: %s could not be sent to the dead letter queue: %s", m->what, err);
            return failed(s, SL_E_SINK_UNAVAILABLE);
        }
    }
    s->dead++;
    sl_ctx_record_failed(s->ctx, s->dlq != NULL);
    return 0;
}

static int reject(mongo_sink *s, mqueue *q, size_t rec, const char *exc, const char *exc_msg, const char *log_msg,
                  char *errstr, size_t errsz) {
    pthread_mutex_lock(&s->rej_mu);
    int rc = reject0(s, q, rec, exc, exc_msg, log_msg, errstr, errsz);
    pthread_mutex_unlock(&s->rej_mu);
    return rc;
}

/* ---- documents ---- */

/* A key or value's JSON text as a document, converted as mongo-kafka's SinkConverter does (Connect schema,
 * schemaless JSON or string text): 1 with *out set, 0 for null, -1 with err set. */
static int convert(mongo_sink *s, const char *json, size_t len, bson_t **out, char *err, size_t errsz) {
    return sl_mconv_json(s->conv, json, len, s->text_values, out, NULL, err, errsz);
}

/* *sub = the document field `name` of doc; false when missing or not a document. */
static bool get_doc(const bson_t *doc, const char *name, bson_t *sub) {
    bson_iter_t it;
    uint32_t len;
    const uint8_t *data;
    if (!doc || !bson_iter_init_find(&it, doc, name) || !BSON_ITER_HOLDS_DOCUMENT(&it)) return false;
    bson_iter_document(&it, &len, &data);
    return bson_init_static(sub, data, len);
}

static bool is_envelope(const bson_t *v) {
    bson_iter_t it;
    return v && bson_iter_init_find(&it, v, "op") && BSON_ITER_HOLDS_UTF8(&it) && bson_has_field(v, "source") &&
           (bson_has_field(v, "after") || bson_has_field(v, "before"));
}

/* ---- Debezium RDBMS events (RdbmsHandler) ----
 *
 *   key struct K (payload), envelope op c/r/u:
 *       ReplaceOne({_id: K}, {_id: K, <after fields not in K>}, upsert)
 *   op d:  DeleteOne({_id: K})
 *   no key columns: c/r get {_id: new ObjectId}; u/d use the `before`
 *   document as the filter (needs REPLICA IDENTITY FULL)
 *   tombstones, op m, heartbeats, transaction records: skipped
 *   op t (truncate): not supported, an error (RdbmsHandler has no mapping)
 */

/* Queues the write model of one Debezium event (key document, may be empty; value = the envelope
 * payload). Returns 0, or -1 on an event it cannot apply. */
static int add_cdc(mongo_sink *s, const bson_t *key, const bson_t *value, const char *what, char *errstr,
                   size_t errsz) {
    bson_iter_t it;
    bson_t filter = BSON_INITIALIZER, doc = BSON_INITIALIZER, sub;
    int rc = -1;
    const char *op = bson_iter_init_find(&it, value, "op") && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL)
                                                                                         : "";
    bool upsert = !strcmp(op, "c") || !strcmp(op, "r") || !strcmp(op, "u");
    if (!upsert && strcmp(op, "d")) {
        if (!strcmp(op, "t"))
            snprintf(errstr, errsz, "%s: truncate is not supported (the Debezium RDBMS handler has "
                                    "no write model for op t; add 't' to skipped.operations to ignore truncates)",
                     what);
        else snprintf(errstr, errsz, "%s: unknown Debezium operation '%s'", what, op);
        goto out;
    }
    /* Filter: {_id: key} with key fields, else a new ObjectId (c/r) or the `before` row (u/d). */
    if (!bson_empty(key)) {
        BSON_APPEND_DOCUMENT(&filter, "_id", key);
    } else if (!strcmp(op, "c") || !strcmp(op, "r")) {
        bson_oid_t oid;
        bson_oid_init(&oid, NULL);
        BSON_APPEND_OID(&filter, "_id", &oid);
    } else if (get_doc(value, "before", &sub) && !bson_empty(&sub)) {
        bson_destroy(&filter);
        bson_copy_to(&sub, &filter);
    } else {
        snprintf(errstr, errsz, "%s: no key and an empty 'before' for op %s (set REPLICA IDENTITY FULL "
                                "on tables without a primary key)",
                 what, op);
        goto out;
    }
    if (upsert) {
        if (!get_doc(value, "after", &sub) || bson_empty(&sub)) {
            snprintf(errstr, errsz, "%s: the event has no 'after' document for op %s", what, op);
            goto out;
        }
        if (bson_iter_init_find(&it, &filter, "_id")) bson_append_iter(&doc, "_id", 3, &it);
        bson_iter_init(&it, &sub);
        while (bson_iter_next(&it))
            if (!bson_has_field(key, bson_iter_key(&it))) bson_append_iter(&doc, NULL, 0, &it);
        queue_op(s, W_REPLACE, &filter, &doc, true);
    } else {
        queue_op(s, W_DELETE, &filter, NULL, false);
    }
    rc = 0;
out:
    bson_destroy(&filter);
    bson_destroy(&doc);
    return rc;
}

/* The collection of change events: `collection`, else the table name or the Kafka topic. */
static const char *collection_of(mongo_sink *s, const sl_record *r) {
    if (s->conf->model.collection && *s->conf->model.collection) return s->conf->model.collection;
    return r->raw ? r->raw->topic : r->table->name;
}

/*
 * Write operations a transform computed (embed: {"__sluice_writes": [{"op": "update", "filter": {..},
 * "update": {..}, "upsert": b, "multi": b} | {"op": "delete", "filter": {..}}, ...]}), applied in order.
 */
static int add_writes(mongo_sink *s, const bson_t *value, const char *what, char *errstr, size_t errsz) {
    bson_iter_t it, arr;
    if (!bson_iter_init_find(&it, value, "__sluice_writes") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr)) {
        snprintf(errstr, errsz, "%s: __sluice_writes is not an array", what);
        return -1;
    }
    while (bson_iter_next(&arr)) {
        bson_t op, filter, update;
        bson_iter_t f;
        uint32_t len;
        const uint8_t *data;
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr)) goto bad;
        bson_iter_document(&arr, &len, &data);
        if (!bson_init_static(&op, data, len)) goto bad;
        const char *kind = bson_iter_init_find(&f, &op, "op") && BSON_ITER_HOLDS_UTF8(&f) ? bson_iter_utf8(&f, NULL)
                                                                                           : "";
        if (!bson_iter_init_find(&f, &op, "filter") || !BSON_ITER_HOLDS_DOCUMENT(&f)) goto bad;
        bson_iter_document(&f, &len, &data);
        bson_init_static(&filter, data, len);
        bool multi = bson_iter_init_find(&f, &op, "multi") && bson_iter_as_bool(&f);
        bool upsert = bson_iter_init_find(&f, &op, "upsert") && bson_iter_as_bool(&f);
        if (strcmp(kind, "delete") == 0) {
            queue_op(s, multi ? W_DELETE_MANY : W_DELETE, &filter, NULL, false);
        } else if (strcmp(kind, "update") == 0) {
            if (!bson_iter_init_find(&f, &op, "update") ||
                !(BSON_ITER_HOLDS_DOCUMENT(&f) || BSON_ITER_HOLDS_ARRAY(&f)))
                goto bad;
            if (BSON_ITER_HOLDS_ARRAY(&f)) bson_iter_array(&f, &len, &data);
            else bson_iter_document(&f, &len, &data);
            bson_init_static(&update, data, len);
            queue_op(s, multi ? W_UPDATE_MANY : W_UPDATE, &filter, &update, upsert);
        } else {
            goto bad;
        }
    }
    return 0;
bad:
    snprintf(errstr, errsz, "%s: a malformed entry in __sluice_writes", what);
    return -1;
}

/* ---- MongoDB change events (mongo-kafka's ChangeStreamHandler, Debezium's MongoDB handler) ----
 *
 * Records of a MongoDB source (sluice's, mongo-kafka's or Debezium's) replicate a collection:
 *   mongo-kafka event (operationType, documentKey, fullDocument, updateDescription):
 *     insert / replace -> replaceOne({_id}, fullDocument, upsert)
 *     update -> updateOne({_id}, {$set: updatedFields, $unset: removedFields}) when the event has an
 *               updateDescription, else replaceOne({_id}, fullDocument, upsert) (updateLookup)
 *     delete -> deleteOne({_id}); drop, rename, dropDatabase, invalidate: skipped
 *   Debezium MongoDB envelope (source.connector "mongodb", `after` as extended JSON text):
 *     c / r / u with after -> replaceOne({_id}, after, upsert); u without after -> $set/$unset from
 *     updateDescription; d -> deleteOne({_id}), _id from the key {"id": "<_id as JSON>"}.
 * The _id is documentKey._id, else fullDocument._id (mongo-java-server puts the update spec in
 * documentKey, see scripts/mongo/README.md).
 */

static bool is_change_stream_event(const bson_t *v) {
    bson_iter_t it;
    return bson_iter_init_find(&it, v, "operationType") && BSON_ITER_HOLDS_UTF8(&it) &&
           (bson_has_field(v, "documentKey") || bson_has_field(v, "ns") || bson_has_field(v, "fullDocument"));
}

static bool is_mongo_envelope(const bson_t *v) {
    bson_iter_t it;
    return is_envelope(v) && bson_iter_init(&it, v) && bson_iter_find_descendant(&it, "source.connector", &it) &&
           BSON_ITER_HOLDS_UTF8(&it) && !strcmp(bson_iter_utf8(&it, NULL), "mongodb");
}

/* {$set: updatedFields, $unset: {f: ""...}} of an updateDescription (updatedFields may be JSON text). */
static bool update_spec(const bson_t *ud, bson_t *spec) {
    bson_iter_t it, f;
    bson_t set, unset, tmp;
    bson_error_t be;
    bson_t *parsed = NULL;
    bool any = false;
    if (bson_iter_init_find(&it, ud, "updatedFields")) {
        if (BSON_ITER_HOLDS_UTF8(&it)) parsed = bson_new_from_json((const uint8_t *)bson_iter_utf8(&it, NULL), -1, &be);
        else if (get_doc(ud, "updatedFields", &tmp)) parsed = bson_copy(&tmp);
    }
    if (parsed && !bson_empty(parsed)) {
        BSON_APPEND_DOCUMENT_BEGIN(spec, "$set", &set);
        bson_iter_init(&f, parsed);
        while (bson_iter_next(&f)) bson_append_iter(&set, NULL, 0, &f);
        bson_append_document_end(spec, &set);
        any = true;
    }
    if (parsed) bson_destroy(parsed);
    if (bson_iter_init_find(&it, ud, "removedFields") && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &f)) {
        bool open = false;
        while (bson_iter_next(&f)) {
            if (!BSON_ITER_HOLDS_UTF8(&f)) continue;
            if (!open) BSON_APPEND_DOCUMENT_BEGIN(spec, "$unset", &unset), open = true;
            BSON_APPEND_UTF8(&unset, bson_iter_utf8(&f, NULL), "");
        }
        if (open) bson_append_document_end(spec, &unset), any = true;
    }
    return any;
}

/* Queues replaceOne(filter, doc with filter's _id, upsert). */
static void replace_by_id(mongo_sink *s, const bson_t *filter, const bson_t *doc) {
    bson_t d = BSON_INITIALIZER;
    bson_iter_t it;
    if (bson_iter_init_find(&it, filter, "_id")) bson_append_iter(&d, "_id", 3, &it);
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it))
        if (strcmp(bson_iter_key(&it), "_id")) bson_append_iter(&d, NULL, 0, &it);
    queue_op(s, W_REPLACE, filter, &d, true);
    bson_destroy(&d);
}

/* mongo-kafka ChangeStreamHandler. Returns 0 (queued or skipped) or -1. */
static int add_change_stream(mongo_sink *s, const bson_t *v, const char *what, char *errstr, size_t errsz) {
    bson_iter_t it;
    bson_t dk, full, ud, filter = BSON_INITIALIZER, spec = BSON_INITIALIZER;
    const char *op = bson_iter_init_find(&it, v, "operationType") && BSON_ITER_HOLDS_UTF8(&it)
                         ? bson_iter_utf8(&it, NULL)
                         : "";
    bool ins = !strcmp(op, "insert") || !strcmp(op, "replace"), upd = !strcmp(op, "update"), del = !strcmp(op, "delete");
    int rc = 0;
    if (!ins && !upd && !del) {
        SL_DEBUG("mongo", "%s: change event '%s' skipped (not a document change)", what, op);
        goto out;
    }
    bool has_full = get_doc(v, "fullDocument", &full);
    if (get_doc(v, "documentKey", &dk) && bson_iter_init_find(&it, &dk, "_id")) bson_append_iter(&filter, "_id", 3, &it);
    else if (has_full && bson_iter_init_find(&it, &full, "_id")) bson_append_iter(&filter, "_id", 3, &it);
    else {
        snprintf(errstr, errsz, "%s: the %s event has no document _id (documentKey._id or fullDocument._id)", what, op);
        rc = -1;
        goto out;
    }
    if (del) queue_op(s, W_DELETE, &filter, NULL, false);
    else if (upd && get_doc(v, "updateDescription", &ud) && update_spec(&ud, &spec))
        queue_op(s, W_UPDATE, &filter, &spec, false);
    else if (has_full) replace_by_id(s, &filter, &full);
    else {
        snprintf(errstr, errsz, "%s: the %s event has neither an updateDescription nor a fullDocument (set "
                 "change.stream.full.document=updateLookup on the source)", what, op);
        rc = -1;
    }
out:
    bson_destroy(&filter);
    bson_destroy(&spec);
    return rc;
}

/* Debezium's MongoDB envelope; key {"id": "<_id JSON>"} (NULL: take _id from `after`). */
static int add_mongo_envelope(mongo_sink *s, const bson_t *key, const bson_t *v, const char *what, char *errstr,
                              size_t errsz) {
    bson_iter_t it;
    bson_error_t be;
    bson_t filter = BSON_INITIALIZER, spec = BSON_INITIALIZER, ud;
    bson_t *after = NULL, *idw = NULL;
    int rc = -1;
    const char *op = bson_iter_init_find(&it, v, "op") && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : "";
    if (bson_iter_init_find(&it, v, "after") && BSON_ITER_HOLDS_UTF8(&it))
        after = bson_new_from_json((const uint8_t *)bson_iter_utf8(&it, NULL), -1, &be);
    if (key && bson_iter_init_find(&it, key, "id") && BSON_ITER_HOLDS_UTF8(&it)) {
        sl_buf w;
        sl_buf_init(&w);
        sl_buf_printf(&w, "{\"_id\": %s}", bson_iter_utf8(&it, NULL));
        idw = bson_new_from_json((const uint8_t *)w.data, (ssize_t)w.len, &be);
        sl_buf_free(&w);
    }
    if (idw && bson_iter_init_find(&it, idw, "_id")) bson_append_iter(&filter, "_id", 3, &it);
    else if (after && bson_iter_init_find(&it, after, "_id")) bson_append_iter(&filter, "_id", 3, &it);
    else {
        snprintf(errstr, errsz, "%s: Debezium MongoDB event without a document id (key id or after._id)", what);
        goto out;
    }
    if (!strcmp(op, "d")) queue_op(s, W_DELETE, &filter, NULL, false);
    else if (after) replace_by_id(s, &filter, after);
    else if (!strcmp(op, "u") && get_doc(v, "updateDescription", &ud) && update_spec(&ud, &spec))
        queue_op(s, W_UPDATE, &filter, &spec, false);
    else {
        snprintf(errstr, errsz, "%s: Debezium MongoDB event op '%s' without `after` or updateDescription", what, op);
        goto out;
    }
    rc = 0;
out:
    if (after) bson_destroy(after);
    if (idw) bson_destroy(idw);
    bson_destroy(&filter);
    bson_destroy(&spec);
    return rc;
}

/* ---- records ---- */

/* What this run has seen on `topic`, to tell change-event tombstones from plain ones. */
static topic_kind *topic_slot(mongo_sink *s, const char *topic) {
    for (size_t i = 0; i < s->ntopics; i++)
        if (strcmp(s->topics[i], topic) == 0) return &s->topic_kinds[i];
    s->topics = sl_realloc(s->topics, (s->ntopics + 1) * sizeof *s->topics);
    s->topic_kinds = sl_realloc(s->topic_kinds, (s->ntopics + 1) * sizeof *s->topic_kinds);
    s->topics[s->ntopics] = sl_strdup(topic);
    s->topic_kinds[s->ntopics] = TOPIC_UNKNOWN;
    return &s->topic_kinds[s->ntopics++];
}

/* A plain document (key document or NULL, value NULL for a tombstone) through the write model pipeline. */
static int add_plain_doc(mongo_sink *s, const char *topic, int32_t partition, int64_t offset, int64_t ts_ms,
                         const bson_t *key, const bson_t *value, const char *what, char *errstr, size_t errsz) {
    char err[2048];
    sl_msink_rec mr = {topic, partition, offset, ts_ms, ts_ms >= 0 ? SL_MTS_CREATE_TIME : SL_MTS_NONE, key, value, 0};
    sl_mwrite w = {0};
    int rc = 0;
    if (sl_mongo_model_build(s->model, &mr, &w, err, sizeof err) < 0) {
        snprintf(errstr, errsz, "%s: %s", what, err);
        rc = -1;
    } else {
        static const wkind kinds[] = {[SL_MW_INSERT] = W_INSERT, [SL_MW_REPLACE] = W_REPLACE,
                                      [SL_MW_UPDATE] = W_UPDATE, [SL_MW_DELETE] = W_DELETE};
        set_ns(s, w.db, w.coll);
        queue_op(s, kinds[w.kind], w.filter, w.doc, w.upsert);
    }
    sl_mwrite_clear(&w);
    return rc;
}

/* The same with the key as JSON text (a key that is no document counts as null). */
static int add_plain(mongo_sink *s, const char *topic, int32_t partition, int64_t offset, int64_t ts_ms,
                     const char *kjson, size_t klen, const bson_t *value, const char *what, char *errstr,
                     size_t errsz) {
    bson_t *key = NULL;
    char err[1024];
    if (kjson && convert(s, kjson, klen, &key, err, sizeof err) < 0) key = NULL;
    int rc = add_plain_doc(s, topic, partition, offset, ts_ms, key, value, what, errstr, errsz);
    if (key) bson_destroy(key);
    return rc;
}

/* The compiled key / value schemas of r's table: from r encoded once with schemas, then cached. */
static const tschema *table_schemas(mongo_sink *s, const sl_record *r, const sl_dbz_opts *o, char *err,
                                    size_t errsz) {
    for (size_t i = s->ntschemas; i-- > 0;)
        if (s->tschemas[i].table == r->table) return &s->tschemas[i];
    sl_dbz_opts so = *o;
    so.key_schemas = so.value_schemas = true;
    tschema t = {0};
    sl_buf_reset(&s->key);
    sl_buf_reset(&s->value);
    sl_dbz_key(&so, r, &s->key);
    sl_dbz_value(&so, r, &s->value);
    bool no_key = s->key.len == 4 && !memcmp(s->key.data, "null", 4);
    if ((!no_key && sl_mconv_schema_new(s->key.data, s->key.len, &t.key, err, errsz) < 0) ||
        sl_mconv_schema_new(s->value.data, s->value.len, &t.value, err, errsz) < 0) {
        sl_mconv_schema_free(t.key);
        return NULL;
    }
    if (s->ntschemas == TSCHEMA_MAX) { /* the oldest goes */
        sl_mconv_schema_free(s->tschemas[0].key);
        sl_mconv_schema_free(s->tschemas[0].value);
        sl_table_unref(s->tschemas[0].table);
        memmove(s->tschemas, s->tschemas + 1, --s->ntschemas * sizeof *s->tschemas);
    }
    if (!s->tschemas) s->tschemas = sl_malloc(TSCHEMA_MAX * sizeof *s->tschemas);
    t.table = sl_table_ref(r->table);
    t.view = sl_mconv_schema_view_safe(t.key) && sl_mconv_schema_view_safe(t.value);
    s->tschemas[s->ntschemas] = t;
    return &s->tschemas[s->ntschemas++];
}

/* A change event of a source in this process: converted as mongo-kafka converts the JsonConverter record
 * with schemas (the table's Connect schemas, compiled once; only the payload is encoded per record), then
 * applied by RdbmsHandler (or, with change.data.capture.handler=none, written as a plain document). */
static int add_change(mongo_sink *s, const sl_record *r, char *errstr, size_t errsz) {
    const mrec *m = &s->q->recs[s->q->nrec - 1];
    sl_dbz_opts o = *sl_ctx_dbz(s->ctx);
    char err[1024];
    const tschema *ts = table_schemas(s, r, &o, err, sizeof err);
    if (!ts) {
        snprintf(errstr, errsz, "%s: cannot read its Connect schema: %s", m->what, err);
        return -1;
    }
    o.key_schemas = o.value_schemas = false;
    bson_t *key = NULL, *value = NULL;
    int rc = -1, krc, vrc;
    sl_val *vk, *vv;
    sl_vheap_reset(&s->vh);
    if (!s->conf->tolerate && ts->view && sl_dbz_view(&o, r, &s->vh, &vk, &vv)) {
        /* No JSON in between: the payloads go from the record's cells to BSON. Their text is only kept for a
         * record the sink may skip (errors.tolerance=all logs it and sends it to the DLQ); without that, a
         * rejected record stops the connector with its identity alone. */
        krc = sl_mconv_payload_view(ts->key, &s->vh, vk, &key, err, sizeof err);
        vrc = krc < 0 ? -1 : sl_mconv_payload_view(ts->value, &s->vh, vv, &value, err, sizeof err);
    } else {
        sl_buf_reset(&s->key);
        sl_buf_reset(&s->value);
        sl_dbz_key(&o, r, &s->key);
        sl_dbz_value(&o, r, &s->value);
        bool null_key = s->key.len == 4 && !memcmp(s->key.data, "null", 4);
        set_rec_kv(s, null_key ? NULL : s->key.data, s->key.len, s->value.data, s->value.len);
        krc = null_key ? 0 : sl_mconv_payload_json(ts->key, s->key.data, s->key.len, &key, err, sizeof err);
        vrc = krc < 0 ? -1 : sl_mconv_payload_json(ts->value, s->value.data, s->value.len, &value, err, sizeof err);
    }
    if (krc < 0 || vrc <= 0) {
        snprintf(errstr, errsz, "%s: cannot convert its %s: %s", m->what, krc < 0 ? "key" : "value", err);
    } else if (s->conf->handler == H_NONE) {
        rc = add_plain_doc(s, m->topic, -1, -1, m->ts_ms, key, value, m->what, errstr, errsz);
    } else {
        bson_t empty = BSON_INITIALIZER;
        set_ns(s, s->conf->model.database, collection_of(s, r));
        rc = add_cdc(s, key ? key : &empty, value, m->what, errstr, errsz);
    }
    if (key) bson_destroy(key);
    if (value) bson_destroy(value);
    return rc;
}

/* The handler of a value read from Kafka: the configured one, or detected. */
static handler_kind detect(const mongo_sink *s, const bson_t *v) {
    if (s->conf->handler != H_AUTO) return s->conf->handler;
    if (is_change_stream_event(v)) return H_CHANGE_STREAM;
    if (is_mongo_envelope(v)) return H_DBZ_MONGO;
    if (is_envelope(v)) return H_RDBMS;
    return H_NONE;
}

/* A change event read from Kafka, by handler h. */
static int add_raw_cdc(mongo_sink *s, const sl_raw *raw, handler_kind h, const bson_t *value, const char *what,
                       char *errstr, size_t errsz) {
    bson_t *key = NULL;
    char err[1024];
    if (raw->key && convert(s, raw->key, raw->key_len, &key, err, sizeof err) < 0) key = NULL;
    bson_t empty = BSON_INITIALIZER;
    int rc = -1;
    if (h == H_CHANGE_STREAM && !is_change_stream_event(value))
        snprintf(errstr, errsz, "%s: not a MongoDB change stream event (no operationType / documentKey), as "
                                "change.data.capture.handler=%s expects", what, s->conf->cdc_handler);
    else if (h != H_CHANGE_STREAM && !is_envelope(value))
        snprintf(errstr, errsz, "%s: not a Debezium change event (no op / source / before / after), as "
                                "change.data.capture.handler=%s expects", what, s->conf->cdc_handler);
    else if (h == H_CHANGE_STREAM) rc = add_change_stream(s, value, what, errstr, errsz);
    else if (h == H_DBZ_MONGO) rc = add_mongo_envelope(s, key, value, what, errstr, errsz);
    else rc = add_cdc(s, key ? key : &empty, value, what, errstr, errsz);
    if (key) bson_destroy(key);
    return rc;
}

/* embed's writes: extended JSON, whose typed values ({"$numberDecimal": ..}, {"$date": ..}, {"$binary": ..}) it
 * made from the rows' Connect schemas. 1 with *out, or -1 with err. */
static int sluice_writes(const char *json, size_t len, bson_t **out, char *err, size_t errsz) {
    bson_error_t be;
    *out = bson_new_from_json((const uint8_t *)json, (ssize_t)len, &be);
    if (!*out) snprintf(err, errsz, "%s", be.message);
    return *out ? 1 : -1;
}

/* A record read from Kafka: a change event, __sluice_writes, or a plain document. */
static int add_raw(mongo_sink *s, const sl_record *r, char *errstr, size_t errsz) {
    const sl_raw *raw = r->raw;
    const char *what = s->q->recs[s->q->nrec - 1].what;
    char err[1024];
    set_rec_kv(s, raw->key, raw->key_len, raw->value, raw->value_len);
    bson_t *value = NULL;
    static const char writes[] = "{\"__sluice_writes\":";
    int crc = !raw->value ? 0
              : raw->value_len > sizeof writes - 1 && !memcmp(raw->value, writes, sizeof writes - 1)
                  ? sluice_writes(raw->value, raw->value_len, &value, err, sizeof err)
              : raw->value_schema_len && raw->value_payload_len
                  ? sl_mconv_parts(s->conv, raw->value + raw->value_schema_at, raw->value_schema_len,
                                   raw->value + raw->value_payload_at, raw->value_payload_len, &value, err, sizeof err)
                  : convert(s, raw->value, raw->value_len, &value, err, sizeof err);
    if (crc < 0) {
        snprintf(errstr, errsz, "%s: the value cannot be converted to a document: %s", what, err);
        return -1;
    }
    topic_kind *tk = topic_slot(s, raw->topic ? raw->topic : "");
    handler_kind h = s->conf->handler;
    int rc = 0;
    if (!value) {
        /* Tombstones of change-event topics are skipped (RdbmsHandler does); others follow the model. A
         * topic not seen yet in this run counts as a change-event topic unless delete.on.null.values. */
        bool cdc = h == H_AUTO ? *tk == TOPIC_CDC || (*tk == TOPIC_UNKNOWN && !s->conf->model.delete_on_null)
                               : h != H_NONE;
        if (cdc) return 0;
        return add_plain(s, raw->topic, raw->partition, raw->offset, raw->ts_ms, raw->key, raw->key_len, NULL, what,
                         errstr, errsz);
    }
    set_ns(s, s->conf->model.database, collection_of(s, r));
    if (bson_has_field(value, "__sluice_writes")) {
        rc = add_writes(s, value, what, errstr, errsz);
    } else if ((h = detect(s, value)) == H_NONE) {
        *tk = TOPIC_PLAIN;
        rc = add_plain(s, raw->topic, raw->partition, raw->offset, raw->ts_ms, raw->key, raw->key_len, value, what,
                       errstr, errsz);
    } else {
        *tk = TOPIC_CDC;
        if (!bson_empty(value)) rc = add_raw_cdc(s, raw, h, value, what, errstr, errsz);
    }
    bson_destroy(value);
    return rc;
}

static int hand_over(mongo_sink *s, char *errstr, size_t errsz);

static int mongo_write(void *sink, sl_batch *b, char *errstr, size_t errsz) {
    mongo_sink *s = sink;
    char err[4096];
    for (int i = 0; i < b->n; i++) {
        const sl_record *r = &b->recs[i];
        if (r->op == SL_OP_HEARTBEAT || r->op == SL_OP_TX_BEGIN || r->op == SL_OP_TX_END || r->op == SL_OP_SCHEMA)
            continue; /* side records (also a MongoDB source's heartbeats), also after transforms made them raw */
        if (!r->raw && (!r->table || r->op == SL_OP_MESSAGE)) continue; /* not row changes */
        /* a full bulk's worth queued: to the writer now, so that each queue is one bulk (one round trip) */
        if ((int64_t)s->q->nop >= s->max_batch && hand_over(s, errstr, errsz) < 0) return -1;
        size_t nop = s->q->nop;
        begin_rec(s, r);
        int rc = r->raw ? add_raw(s, r, err, sizeof err) : add_change(s, r, err, sizeof err);
        if (rc < 0) {
            drop_ops(s->q, nop);
            if (reject(s, s->q, s->q->nrec - 1, EXC_DATA, err, err, errstr, errsz) < 0) return -1;
        }
    }
    /* A full bulk's worth queued, or copies as large as a source's batch: write it now rather than hold every
     * record of the runtime's run (up to 64 batches) with its copies; what is written early is only committed
     * after the runtime's flush. */
    if ((int64_t)s->q->nop >= s->max_batch || (s->max_held && s->q->arena.reserved >= s->max_held))
        return hand_over(s, errstr, errsz);
    return 0;
}

/* ---- bulk writes ---- */

/* The bytes that identify a write's target document in an unordered bulk (the filter; an insert's
 * {_id}); false when it has none (an insert without _id). */
static bool op_ident(const mop *o, bson_t *out) {
    bson_iter_t it;
    bson_init(out);
    if (o->kind != W_INSERT) {
        bson_concat(out, o->filter);
        return true;
    }
    if (!o->doc || !bson_iter_init_find(&it, o->doc, "_id")) return false;
    bson_append_iter(out, "_id", 3, &it);
    return true;
}

static uint64_t fnv(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    while (n--) h = (h ^ *p++) * 1099511628211ull;
    return h;
}

/* End (exclusive) of the bulk that starts at op i: same namespace, at most max.batch.size writes, and
 * unordered: no target twice (a multi-document write is a bulk of its own). */
static size_t bulk_end(mongo_sink *s, const mqueue *q, size_t i) {
    const mop *first = &q->ops[i];
    bool multi = first->kind == W_UPDATE_MANY || first->kind == W_DELETE_MANY;
    if (!s->conf->ordered && multi) return i + 1;
    uint64_t *seen = s->conf->ordered ? NULL : sl_malloc((size_t)s->max_batch * sizeof *seen);
    size_t nseen = 0, j = i;
    for (; j < q->nop && (int64_t)(j - i) < s->max_batch; j++) {
        const mop *o = &q->ops[j];
        if ((o->db != first->db && strcmp(o->db, first->db)) ||
            (o->coll != first->coll && strcmp(o->coll, first->coll)))
            break;
        if (s->conf->ordered) continue;
        if (o->kind == W_UPDATE_MANY || o->kind == W_DELETE_MANY) break;
        bson_t id;
        if (!op_ident(o, &id)) continue;
        uint64_t h = fnv(bson_get_data(&id), id.len);
        bson_destroy(&id);
        bool dup = false;
        for (size_t k = 0; k < nseen && !dup; k++) dup = seen[k] == h; /* a hash collision only cuts early */
        if (dup) break;
        seen[nseen++] = h;
    }
    sl_free(seen);
    return j;
}

/* The next origin mark: "<origin>/<ms>-<n>", plus "/d" on the update before a delete. */
static void next_mark(mongo_sink *s, bool del, char *out, size_t outsz) {
    uint64_t n = __atomic_add_fetch(&s->marks, 1, __ATOMIC_RELAXED);
    snprintf(out, outsz, "%s/%lld-%llu%s", s->conf->origin, (long long)(sl_wall_us() / 1000), (unsigned long long)n,
             del ? "/d" : "");
}

/* `update` (operators, or a pipeline: an array document) that also sets the origin mark. */
static void marked_update(const bson_t *update, const char *mark, bson_t *out) {
    bson_iter_t it;
    bool pipeline = bson_iter_init(&it, update) && bson_iter_next(&it) && bson_iter_key(&it)[0] != '$';
    bson_init(out);
    bool set_done = false;
    uint32_t n = 0;
    if (bson_iter_init(&it, update))
        while (bson_iter_next(&it)) {
            n++;
            if (!pipeline && !strcmp(bson_iter_key(&it), "$set") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
                bson_t set, old;
                uint32_t len;
                const uint8_t *data;
                bson_iter_document(&it, &len, &data);
                bson_init_static(&old, data, len);
                bson_append_document_begin(out, "$set", -1, &set);
                bson_copy_to_excluding_noinit(&old, &set, SL_MONGO_ORIGIN_FIELD, NULL);
                BSON_APPEND_UTF8(&set, SL_MONGO_ORIGIN_FIELD, mark);
                bson_append_document_end(out, &set);
                set_done = true;
                continue;
            }
            bson_append_iter(out, bson_iter_key(&it), -1, &it);
        }
    if (set_done) return;
    bson_t stage, set;
    if (pipeline) { /* one more stage */
        char key[16];
        snprintf(key, sizeof key, "%u", n);
        bson_append_document_begin(out, key, -1, &stage);
        bson_append_document_begin(&stage, "$set", -1, &set);
        BSON_APPEND_UTF8(&set, SL_MONGO_ORIGIN_FIELD, mark);
        bson_append_document_end(&stage, &set);
        bson_append_document_end(out, &stage);
    } else {
        bson_append_document_begin(out, "$set", -1, &set);
        BSON_APPEND_UTF8(&set, SL_MONGO_ORIGIN_FIELD, mark);
        bson_append_document_end(out, &set);
    }
}

/* Adds o to the bulk: one operation, or (a delete with an origin) the update that marks the documents and the
 * delete. Returns how many were added (0: refused by the driver, *be says why). */
static int append_op(mongo_sink *s, mongoc_bulk_operation_t *b, const mop *o, bson_error_t *be) {
    const bson_t *opts = o->upsert ? s->upsert_opts : NULL;
    bool ok = false;
    int added = 1;
    if (o->doc && o->doc->len > MAX_DOC_BYTES) {
        bson_set_error(be, MONGOC_ERROR_BSON, MONGOC_ERROR_BSON_INVALID,
                       "the document is %u bytes, more than the server's maximum of %d", o->doc->len, MAX_DOC_BYTES);
        goto out;
    }
    const bson_t *doc = o->doc;
    bson_t marked = BSON_INITIALIZER;
    if (s->conf->origin && *s->conf->origin) {
        char mark[512];
        next_mark(s, o->kind == W_DELETE || o->kind == W_DELETE_MANY, mark, sizeof mark);
        bson_destroy(&marked);
        if (o->kind == W_INSERT || o->kind == W_REPLACE) {
            bson_init(&marked);
            bson_copy_to_excluding_noinit(o->doc, &marked, SL_MONGO_ORIGIN_FIELD, NULL);
            BSON_APPEND_UTF8(&marked, SL_MONGO_ORIGIN_FIELD, mark);
        } else if (o->kind == W_UPDATE || o->kind == W_UPDATE_MANY) {
            marked_update(o->doc, mark, &marked);
        } else { /* the mark first: the source knows the delete that follows as this sink's */
            bson_t empty = BSON_INITIALIZER;
            marked_update(&empty, mark, &marked);
            ok = o->kind == W_DELETE ? mongoc_bulk_operation_update_one_with_opts(b, o->filter, &marked, NULL, be)
                                     : mongoc_bulk_operation_update_many_with_opts(b, o->filter, &marked, NULL, be);
            bson_destroy(&empty);
            if (!ok) {
                bson_destroy(&marked);
                goto out;
            }
            added = 2;
        }
        if (o->kind != W_DELETE && o->kind != W_DELETE_MANY) doc = &marked;
    }
    switch (o->kind) {
    case W_INSERT: ok = mongoc_bulk_operation_insert_with_opts(b, doc, NULL, be); break;
    case W_REPLACE: ok = mongoc_bulk_operation_replace_one_with_opts(b, o->filter, doc, opts, be); break;
    case W_UPDATE: ok = mongoc_bulk_operation_update_one_with_opts(b, o->filter, doc, opts, be); break;
    case W_UPDATE_MANY: ok = mongoc_bulk_operation_update_many_with_opts(b, o->filter, doc, opts, be); break;
    case W_DELETE: ok = mongoc_bulk_operation_remove_one_with_opts(b, o->filter, NULL, be); break;
    case W_DELETE_MANY: ok = mongoc_bulk_operation_remove_many_with_opts(b, o->filter, NULL, be); break;
    }
    bson_destroy(&marked);
    if (ok && s->ctx) sl_ctx_bytes_written(s->ctx, (o->doc ? o->doc->len : 0) + (o->filter ? o->filter->len : 0));
out:
    return ok ? added : 0;
}

/* Server error codes worth retrying: network, the NotWritablePrimary family, shutdown, write concern. */
static bool transient_code(int64_t code) {
    switch (code) {
    case 6: case 7: case 64: case 89: case 91: case 189: case 262: case 9001:
    case 10107: case 11600: case 11602: case 13435: case 13436:
        return true;
    default:
        return false;
    }
}

static bool transient_error(const bson_error_t *be, const bson_t *reply) {
    bson_iter_t it;
    if (be->domain == MONGOC_ERROR_STREAM || be->domain == MONGOC_ERROR_SERVER_SELECTION) return true;
    if (mongoc_error_has_label(reply, "RetryableWriteError") || mongoc_error_has_label(reply, "NetworkError"))
        return true;
    if (bson_iter_init_find(&it, reply, "writeConcernErrors") && BSON_ITER_HOLDS_ARRAY(&it)) {
        uint32_t len;
        const uint8_t *data;
        bson_iter_array(&it, &len, &data);
        if (len > 5) return true; /* a non-empty array */
    }
    return (be->domain == MONGOC_ERROR_SERVER || be->domain == MONGOC_ERROR_WRITE_CONCERN) &&
           transient_code(be->code);
}

static void server_of(mongo_sink *s, mongoc_bulk_operation_t *b, char *out, size_t outsz) {
    mongoc_server_description_t *sd = mongoc_client_get_server_description(s->client,
                                                                           mongoc_bulk_operation_get_hint(b));
    snprintf(out, outsz, "%.200s", sd ? mongoc_server_description_host(sd)->host_and_port : "?");
    if (sd) mongoc_server_description_destroy(sd);
}

/* Sleeps ms unless the connector stops first; false when it stops. */
static bool pause_ms(mongo_sink *s, int64_t ms) {
    int64_t end = sl_mono_ms() + ms;
    while (!sl_ctx_stopping(s->ctx)) {
        int64_t left = end - sl_mono_ms();
        if (left <= 0) return true;
        sl_sleep_ms(left < 100 ? left : 100, NULL);
    }
    return false;
}

/*
 * The write errors of a failed bulk: rejected writes are done (dead-lettered, or -1 with
 * tolerance none); on a retry an insert failing with a duplicate key was applied by the previous
 * try. Sets *transient when a write error is worth retrying, *first to the smallest index.
 */
static int write_errors(mongo_sink *s, mqueue *q, mongoc_bulk_operation_t *b, const bson_t *reply, const size_t *map, size_t n,
                        int tries, bool *transient, size_t *first, size_t *nerr, char *errstr, size_t errsz) {
    bson_iter_t it, arr, f;
    *first = n;
    *nerr = 0;
    if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &arr))
        return 0;
    char server[256];
    server_of(s, b, server, sizeof server);
    while (bson_iter_next(&arr)) {
        bson_t e;
        uint32_t len;
        const uint8_t *data;
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr)) continue;
        bson_iter_document(&arr, &len, &data);
        bson_init_static(&e, data, len);
        int64_t idx = bson_iter_init_find(&f, &e, "index") ? bson_iter_as_int64(&f) : -1;
        int64_t code = bson_iter_init_find(&f, &e, "code") ? bson_iter_as_int64(&f) : 0;
        const char *msg = bson_iter_init_find(&f, &e, "errmsg") && BSON_ITER_HOLDS_UTF8(&f) ? bson_iter_utf8(&f, NULL)
                                                                                           : "";
        if (idx < 0 || (size_t)idx >= n) continue;
        (*nerr)++;
        if ((size_t)idx < *first) *first = (size_t)idx;
        mop *o = &q->ops[map[idx]];
        if (tries > 0 && code == 11000 && o->kind == W_INSERT) {
            o->done = true; /* applied by the try that failed with a transient error */
            continue;
        }
        if (transient_code(code)) {
            *transient = true;
            continue;
        }
        o->done = true;
        char exc[4096], log[4096];
        snprintf(exc, sizeof exc, "Bulk write operation error on server %s. Write errors: [BulkWriteError{index=%d, "
                                  "code=%d, message='%s', details={}}].", server, (int)idx, (int)code, msg);
        snprintf(log, sizeof log, "%s: bulk write to %s.%s failed: %s (code %d)", q->recs[o->rec].what, o->db, o->coll,
                 msg, (int)code);
        if (reject(s, q, o->rec, EXC_BULK, exc, log, errstr, errsz) < 0) return -1;
    }
    return 0;
}

/* Executes ops [i, j) (one namespace) until each is acknowledged or dead-lettered. */
static int run_bulk(mongo_sink *s, mqueue *q, size_t i, size_t j, char *errstr, size_t errsz) {
    const char *db = q->ops[i].db, *coll = q->ops[i].coll;
    size_t *map = sl_malloc(2 * (j - i) * sizeof *map); /* a delete with an origin is two operations */
    int tries = 0, rc = 0;
    mongoc_collection_t *c = mongoc_client_get_collection(s->client, db, coll);
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "ordered", s->conf->ordered);
    for (;;) {
        bson_error_t be;
        bson_t reply;
        size_t n = 0;
        mongoc_bulk_operation_t *b = mongoc_collection_create_bulk_operation_with_opts(c, &opts);
        for (size_t k = i; k < j && rc == 0; k++) {
            mop *o = &q->ops[k];
            if (o->done) continue;
            int added = append_op(s, b, o, &be);
            if (added) {
                while (added--) map[n++] = k;
                continue;
            }
            o->done = true; /* refused by the driver: a `$` field name, too large, ... */
            char exc[2048], log[2048];
            snprintf(exc, sizeof exc, "%s", be.message);
            snprintf(log, sizeof log, "%s: bulk write to %s.%s failed: %s", q->recs[o->rec].what, db, coll, be.message);
            rc = reject(s, q, o->rec, "org.bson.BsonInvalidOperationException", exc, log, errstr, errsz);
        }
        if (rc < 0 || n == 0) {
            mongoc_bulk_operation_destroy(b);
            break;
        }
        bool ok = mongoc_bulk_operation_execute(b, &reply, &be);
        if (ok) {
            for (size_t k = 0; k < n; k++) q->ops[map[k]].done = true;
            SL_DEBUG("mongo", "bulk write to %s.%s: %zu operations acknowledged", db, coll, n);
        } else {
            bool transient = transient_error(&be, &reply);
            size_t first, nerr;
            rc = write_errors(s, q, b, &reply, map, n, tries, &transient, &first, &nerr, errstr, errsz);
            if (rc == 0 && !transient && nerr == 0) {
                snprintf(errstr, errsz, "bulk write to %s.%s failed: %s", db, coll, be.message);
                rc = failed(s, SL_E_SINK_REJECTED);
            } else if (rc == 0 && !transient) {
                /* Ordered: the writes before the first error were applied, the rest runs again; unordered:
                 * everything but the write errors was applied. */
                for (size_t k = 0; k < n; k++)
                    if (!s->conf->ordered || k < first) q->ops[map[k]].done = true;
            } else if (rc == 0) {
                if (++tries > s->conf->max_retries) {
                    snprintf(errstr, errsz, "bulk write to %s.%s failed after %d retries (max.num.retries): %s", db,
                             coll, tries - 1, be.message);
                    rc = failed(s, SL_E_SINK_UNAVAILABLE);
                } else {
                    SL_WARN("mongo", "bulk write to %s.%s failed (%s); retry %d of %lld in %lld ms", db, coll,
                            be.message, tries, (long long)s->conf->max_retries, (long long)s->conf->retry_defer_ms);
                    if (!pause_ms(s, s->conf->retry_defer_ms)) {
                        snprintf(errstr, errsz, "bulk write to %s.%s failed: %s (stopping)", db, coll, be.message);
                        rc = failed(s, SL_E_CANCELLED);
                    }
                }
            }
        }
        bson_destroy(&reply);
        mongoc_bulk_operation_destroy(b);
        if (rc < 0 || ok) break;
    }
    bson_destroy(&opts);
    mongoc_collection_destroy(c);
    sl_free(map);
    return rc;
}

/* ---- time series ---- */

/* 1 when db.coll exists (*type: its type, "collection" / "timeseries" / ...), 0 when not, -1 on error. */
static int coll_type(mongoc_database_t *d, const char *coll, char *type, size_t typesz, bson_error_t *be) {
    bson_t *opts = BCON_NEW("filter", "{", "name", BCON_UTF8(coll), "}");
    mongoc_cursor_t *cur = mongoc_database_find_collections_with_opts(d, opts);
    const bson_t *doc;
    bson_iter_t it;
    int found = 0;
    snprintf(type, typesz, "collection");
    while (mongoc_cursor_next(cur, &doc)) {
        found = 1;
        if (bson_iter_init_find(&it, doc, "type") && BSON_ITER_HOLDS_UTF8(&it))
            snprintf(type, typesz, "%s", bson_iter_utf8(&it, NULL));
    }
    if (mongoc_cursor_error(cur, be)) found = -1;
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    return found;
}

/* timeseries.timefield: creates db.coll as a time-series collection when it does not exist (an existing
 * collection is used as it is, as mongo-kafka does). */
static int ensure_timeseries(mongo_sink *s, const char *db, const char *coll, char *errstr, size_t errsz) {
    const mongo_conf *mc = s->conf;
    char ns[512], type[64];
    snprintf(ns, sizeof ns, "%s.%s", db, coll);
    for (size_t i = 0; i < s->nts; i++)
        if (strcmp(s->ts_ready[i], ns) == 0) return 0;
    bson_error_t be;
    mongoc_database_t *d = mongoc_client_get_database(s->client, db);
    int rc = -1;
    int exists = coll_type(d, coll, type, sizeof type, &be);
    if (exists < 0) {
        snprintf(errstr, errsz, "timeseries.timefield: cannot list the collections of %s: %s", db, be.message);
        goto out;
    }
    if (!exists) {
        bson_t opts = BSON_INITIALIZER, ts;
        BSON_APPEND_DOCUMENT_BEGIN(&opts, "timeseries", &ts);
        BSON_APPEND_UTF8(&ts, "timeField", mc->ts_field);
        if (*mc->ts_meta) BSON_APPEND_UTF8(&ts, "metaField", mc->ts_meta);
        if (*mc->ts_granularity) BSON_APPEND_UTF8(&ts, "granularity", mc->ts_granularity);
        bson_append_document_end(&opts, &ts);
        if (mc->ts_expire) BSON_APPEND_INT64(&opts, "expireAfterSeconds", mc->ts_expire);
        mongoc_collection_t *c = mongoc_database_create_collection(d, coll, &opts, &be);
        bson_destroy(&opts);
        if (!c && be.code != 48 /* NamespaceExists: created meanwhile */) {
            snprintf(errstr, errsz, "timeseries.timefield: cannot create the time-series collection %s: %s "
                                    "(time-series collections need MongoDB 5.0 or newer)", ns, be.message);
            goto out;
        }
        if (c) {
            if (coll_type(d, coll, type, sizeof type, &be) == 1 && strcmp(type, "timeseries")) {
                mongoc_collection_drop(c, NULL); /* so that a restart fails the same way */
                mongoc_collection_destroy(c);
                snprintf(errstr, errsz, "timeseries.timefield: the server created %s as a '%s', not a time-series "
                                        "collection: it does not support time series (MongoDB 5.0 or newer does)",
                         ns, type);
                goto out;
            }
            mongoc_collection_destroy(c);
            SL_INFO("mongo", "created the time-series collection %s (timeField %s)", ns, mc->ts_field);
        }
    }
    s->ts_ready = sl_realloc(s->ts_ready, (s->nts + 1) * sizeof *s->ts_ready);
    s->ts_ready[s->nts++] = sl_strdup(ns);
    rc = 0;
out:
    mongoc_database_destroy(d);
    return rc;
}

/* Writes queue q bulk by bulk (bulk_end: one namespace each), each until acknowledged or dead-lettered,
 * then empties it. After a failure nothing of q is committed: the runtime restarts from the stored offset. */
static int write_queue(mongo_sink *s, mqueue *q, char *errstr, size_t errsz) {
    int rc = 0;
    for (size_t i = 0, j; i < q->nop && rc == 0; i = j) {
        j = bulk_end(s, q, i);
        if (s->conf->model.timeseries && (rc = ensure_timeseries(s, q->ops[i].db, q->ops[i].coll, errstr, errsz)) < 0)
            failed(s, SL_E_SINK_REJECTED); /* the collection cannot be the time-series one asked for */
        if (rc == 0) rc = run_bulk(s, q, i, j, errstr, errsz);
    }
    clear_queue(q);
    return rc;
}

/* The writer thread: writes each queue handed over (wq), the only user of the client after open. */
static void *writer_main(void *arg) {
    mongo_sink *s = arg;
    char err[sizeof s->w_err];
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->w_busy && !s->writer_stop) pthread_cond_wait(&s->cv, &s->mu);
        if (!s->w_busy) break; /* stopping, nothing left */
        mqueue *q = s->wq;
        pthread_mutex_unlock(&s->mu);
        err[0] = '\0';
        failed_code = SL_E_NONE;
        int rc = write_queue(s, q, err, sizeof err);
        sl_err_code code = failed_code;
        pthread_mutex_lock(&s->mu);
        s->w_rc = rc;
        s->w_code = code;
        memcpy(s->w_err, err, sizeof err);
        s->w_busy = false;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Waits for the writer to finish the queue handed over last: 0, or -1 with its errstr, its error code
 * raised again on this thread. */
static int collect(mongo_sink *s, char *errstr, size_t errsz) {
    if (!s->wq) return 0;
    pthread_mutex_lock(&s->mu);
    while (s->w_busy) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    s->wq = NULL;
    if (s->w_rc == 0) return 0;
    s->w_rc = 0;
    snprintf(errstr, errsz, "%s", s->w_err);
    return failed(s, s->w_code != SL_E_NONE ? s->w_code : SL_E_INTERNAL);
}

/* Hands the queue filled so far to the writer, once it is done with the one before (writes stay in order),
 * and goes on filling the other. Without a writer thread the queue is written here. */
static int hand_over(mongo_sink *s, char *errstr, size_t errsz) {
    if (collect(s, errstr, errsz) < 0) return -1;
    if (s->q->nop == 0) {
        clear_queue(s->q);
        return 0;
    }
    if (!s->writer_started) return write_queue(s, s->q, errstr, errsz);
    pthread_mutex_lock(&s->mu);
    s->wq = s->q;
    s->w_busy = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    s->q = s->q == &s->qbuf[0] ? &s->qbuf[1] : &s->qbuf[0];
    return 0;
}

/* The runtime's flush: everything queued is written (acknowledged or dead-lettered) when it returns 0. */
static int mongo_flush(void *sink, char *errstr, size_t errsz) {
    mongo_sink *s = sink;
    if (hand_over(s, errstr, errsz) < 0) return -1;
    return collect(s, errstr, errsz);
}

static void mongo_close(void *sink) {
    mongo_sink *s = sink;
    if (!s) return;
    if (s->writer_started) {
        pthread_mutex_lock(&s->mu);
        s->writer_stop = true; /* a queue still handed over is written first (nothing commits it now) */
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->writer, NULL);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->rej_mu);
    if (s->dead) SL_INFO("mongo", "records skipped by errors.tolerance=all: %" PRIu64, s->dead);
    for (int i = 0; i < 2; i++) {
        clear_queue(&s->qbuf[i]);
        sl_arena_free(&s->qbuf[i].arena);
        sl_free(s->qbuf[i].recs);
        sl_free(s->qbuf[i].ops);
    }
    for (size_t i = 0; i < s->nts; i++) sl_free(s->ts_ready[i]);
    sl_free(s->ts_ready);
    for (size_t i = 0; i < s->ntopics; i++) sl_free(s->topics[i]);
    sl_free(s->topics);
    sl_free(s->topic_kinds);
    sl_kafka_dlq_close(s->dlq);
    sl_mongo_model_destroy(s->model);
    sl_mconv_destroy(s->conv);
    for (size_t i = 0; i < s->ntschemas; i++) {
        sl_mconv_schema_free(s->tschemas[i].key);
        sl_mconv_schema_free(s->tschemas[i].value);
        sl_table_unref(s->tschemas[i].table);
    }
    sl_free(s->tschemas);
    if (s->client) mongoc_client_destroy(s->client);
    bson_destroy(s->upsert_opts);
    sl_buf_free(&s->key);
    sl_vheap_free(&s->vh);
    sl_buf_free(&s->value);
    sl_buf_free(&s->scratch);
    sl_free(s);
}

/* ---- sluice verify: the target read back (core/vside.h) ----
 *
 * A source table's rows are documents in one of two layouts. Change events (the RdbmsHandler) are
 * {_id: {<key columns>}, <other columns>} in `database`.`collection` (or the table's name, or with transforms
 * the topic). Rows that transforms unwrapped go through the write model (namespace mapper, post processors,
 * id strategy), whose effect on a table is found by building the write of one probe row whose every column
 * holds a marker: where each marker lands in the filter and the document is where that column is read back
 * (renamed, dropped, in _id, or at the top level beside a generated _id).
 *
 * Each column is read by its dotted path (sl_vcol.name). Documents come sorted by _id when _id is the whole
 * key (a scalar, or a document of the key columns in key order), else by the key fields' paths. Values are
 * rendered as text for verify's normalisation: numbers, Decimal128 and strings as written, dates as ISO-8601
 * UTC, binary as \x and hex, ObjectIds as hex, documents and arrays as relaxed extended JSON. A missing field
 * reads as sl_vmissing. */

enum { MV_ID_DOC, MV_ID_SCALAR, MV_FIELDS }; /* sl_vtable.layout: how the documents hold the key */

typedef struct mongo_vside {
    sl_vside base;
    mongo_conf *conf;
    sl_mongo_model *model;
    mongoc_client_t *client;
    mongoc_cursor_t *cursor;
    const sl_vtable *t; /* the scan's table */
    sl_buf text;
    size_t *at;
    const char **vals;
    size_t *lens;
    int cap;
    /* embedded rows (t->within): the document read last and its rows (their bytes in it), in key order (not
     * bson_t views: a static bson_t points into itself and cannot be moved) */
    const bson_t *doc;
    struct mv_row {
        const uint8_t *data;
        uint32_t len;
    } *rows;
    size_t nrows, irows, caprows;
    sl_buf want;       /* scan_keys: the key tuples asked for (texts, each key column NUL-terminated) */
    size_t nwant;
    bool qrows;        /* a query pair's query: each document is one row, as JSON */
} mongo_vside;

#define MV_MARK "\001sluice-verify:"

/* Records where each marker of the probe row lands in d (paths below prefix), into paths[column]. */
static void mv_find_marks(const bson_t *d, const char *prefix, char (*paths)[128], int ncols, bool in_update) {
    bson_iter_t it;
    if (!bson_iter_init(&it, d)) return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        char path[128];
        if (in_update && k[0] == '$') snprintf(path, sizeof path, "%s", prefix); /* $set: {..}: its fields */
        else snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", k);
        if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
            uint32_t n;
            const uint8_t *data;
            bson_t sub;
            bson_iter_document(&it, &n, &data);
            if (bson_init_static(&sub, data, n)) mv_find_marks(&sub, path, paths, ncols, false);
        } else if (BSON_ITER_HOLDS_UTF8(&it)) {
            const char *v = bson_iter_utf8(&it, NULL);
            if (strncmp(v, MV_MARK, strlen(MV_MARK)) != 0) continue;
            int c = atoi(v + strlen(MV_MARK));
            if (c >= 0 && c < ncols && !paths[c][0]) snprintf(paths[c], sizeof paths[c], "%s", path);
        }
    }
}

/* The namespace and column paths of unwrapped rows: the write model of a probe row. */
static int mv_probe(mongo_vside *p, const sl_vtable *src, sl_vtable *out, char (*paths)[128], char *errstr,
                    size_t errsz) {
    if (sl_mongo_model_ns_by_value(p->model)) {
        snprintf(errstr, errsz, "namespace.mapper=%s takes each record's collection from its own fields: verify cannot "
                                "tell where the rows of %s went", p->conf->model.ns_mapper, src->topic);
        return -1;
    }
    bson_t key = BSON_INITIALIZER, value = BSON_INITIALIZER;
    for (int i = 0; i < src->ncols; i++) {
        char mark[64];
        snprintf(mark, sizeof mark, MV_MARK "%d", i);
        if (src->documents && i >= src->nkeys) break; /* a document's other fields are read whole ($$ROOT) */
        if (i < src->nkeys) BSON_APPEND_UTF8(&key, src->cols[i].name, mark);
        BSON_APPEND_UTF8(&value, src->cols[i].name, mark);
    }
    sl_msink_rec rec = {.topic = src->topic, .key = &key, .value = &value, .offset = -1};
    sl_mwrite w = {0};
    char err[512];
    int rc = sl_mongo_model_build(p->model, &rec, &w, err, sizeof err);
    bson_destroy(&key);
    bson_destroy(&value);
    if (rc < 0 || w.kind == SL_MW_DELETE) {
        snprintf(errstr, errsz, "the sink's write model does not write the rows of %s as documents: %s", src->topic,
                 rc < 0 ? err : "it deletes them");
        sl_mwrite_clear(&w);
        return -1;
    }
    snprintf(out->schema, sizeof out->schema, "%s", w.db);
    snprintf(out->table, sizeof out->table, "%s", w.coll);
    if (w.filter) mv_find_marks(w.filter, "", paths, src->ncols, false); /* the key's place first */
    if (w.doc) mv_find_marks(w.doc, "", paths, src->ncols, w.kind == SL_MW_UPDATE);
    /* _id as the whole key: a scalar, or a document of exactly the key columns in key order */
    bson_iter_t it;
    const bson_t *d = w.filter ? w.filter : w.doc;
    out->layout = MV_FIELDS;
    if (src->nkeys == 1 && !strcmp(paths[0], "_id")) out->layout = MV_ID_SCALAR;
    else if (d && bson_iter_init_find(&it, d, "_id") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
        bson_iter_t f;
        int n = 0;
        bool in_order = bson_iter_recurse(&it, &f);
        while (in_order && bson_iter_next(&f)) {
            char want[140];
            snprintf(want, sizeof want, "_id.%s", bson_iter_key(&f));
            in_order = n < src->nkeys && !strcmp(paths[n], want);
            n++;
        }
        if (in_order && n == src->nkeys) out->layout = MV_ID_DOC;
    }
    sl_mwrite_clear(&w);
    for (int i = 0; i < src->nkeys; i++)
        if (!paths[i][0]) {
            snprintf(errstr, errsz, "the documents of %s.%s do not hold key column '%s' (the sink's id strategy and "
                                    "post processors leave it out): their rows cannot be matched",
                     out->schema, out->table, src->cols[i].name);
            return -1;
        }
    return 0;
}

static int mv_target(sl_vside *v, const sl_vtable *src, sl_vtable *out, char *errstr, size_t errsz) {
    mongo_vside *p = (mongo_vside *)v;
    memset(out, 0, sizeof *out);
    char (*paths)[128] = sl_calloc((size_t)src->ncols + 1, sizeof *paths);
    int rc = 0;
    if (src->documents && !src->flat) { /* a MongoDB source's change events: the target holds the same documents */
        if (p->conf->handler == H_RDBMS || p->conf->handler == H_NONE) {
            snprintf(errstr, errsz, "change.data.capture.handler=%s does not apply MongoDB change events (use "
                                    "mongo-kafka's ChangeStreamHandler, Debezium's MongoDB handler, or none)",
                     p->conf->cdc_handler);
            rc = -1;
        }
        const char *coll = p->conf->model.collection && *p->conf->model.collection ? p->conf->model.collection
                                                                                  : src->topic;
        snprintf(out->schema, sizeof out->schema, "%s", p->conf->model.database);
        snprintf(out->table, sizeof out->table, "%.127s", coll);
        out->layout = MV_ID_SCALAR;
        for (int i = 0; i < src->ncols; i++) snprintf(paths[i], sizeof paths[i], "%s", src->cols[i].name);
    } else if (src->documents) { /* the documents themselves (publish.full.document.only), by the write model */
        rc = mv_probe(p, src, out, paths, errstr, errsz);
        if (rc == 0 && out->layout != MV_ID_SCALAR) {
            snprintf(errstr, errsz, "the sink's id strategy does not keep the documents' _id (%s): verify matches "
                                    "documents by it", p->conf->model.id_strategy);
            rc = -1;
        }
        for (int i = src->nkeys; i < src->ncols; i++) snprintf(paths[i], sizeof paths[i], "%s", src->cols[i].name);
    } else if (src->docs) { /* the transforms' own writes (embed): column names are paths, the topic the collection */
        const char *coll = p->conf->model.collection && *p->conf->model.collection ? p->conf->model.collection
                                                                                  : src->topic;
        snprintf(out->schema, sizeof out->schema, "%s", p->conf->model.database);
        snprintf(out->table, sizeof out->table, "%.127s", coll);
        snprintf(out->within, sizeof out->within, "%s", src->within);
        out->within_kind = src->within_kind;
        out->layout = !src->within[0] && src->nkeys == 1 && !strcmp(src->cols[0].name, "_id") ? MV_ID_SCALAR
                                                                                               : MV_FIELDS;
        for (int i = 0; i < src->ncols; i++) /* embedded rows: {p: the parent's _id, e: the row} (mv_find) */
            if (!src->within[0]) snprintf(paths[i], sizeof paths[i], "%s", src->cols[i].name);
            else if (src->cols[i].parent) snprintf(paths[i], sizeof paths[i], "p%.124s", src->cols[i].name + 3);
            else snprintf(paths[i], sizeof paths[i], "e.%.125s", src->cols[i].name);
    } else if (src->flat) {
        if (p->conf->handler == H_RDBMS) {
            snprintf(errstr, errsz, "change.data.capture.handler=%s expects change events, and the transforms "
                                    "unwrap them: the sink cannot write these rows", p->conf->cdc_handler);
            rc = -1;
        } else {
            rc = mv_probe(p, src, out, paths, errstr, errsz);
        }
    } else if (p->conf->handler != H_AUTO && p->conf->handler != H_RDBMS) {
        snprintf(errstr, errsz, "with change.data.capture.handler=%s the documents are the change events "
                                "themselves, not rows (unwrap them, or use the RdbmsHandler)",
                 p->conf->cdc_handler);
        rc = -1;
    } else { /* RdbmsHandler: _id holds the key columns */
        const char *coll = p->conf->model.collection && *p->conf->model.collection ? p->conf->model.collection
                           : src->transformed                                      ? src->topic
                                                                                   : src->table;
        snprintf(out->schema, sizeof out->schema, "%s", p->conf->model.database);
        snprintf(out->table, sizeof out->table, "%.127s", coll);
        out->layout = MV_ID_DOC;
        for (int i = 0; i < src->ncols; i++)
            snprintf(paths[i], sizeof paths[i], "%s%.123s", i < src->nkeys ? "_id." : "", src->cols[i].name);
    }
    bool exists = false;
    if (rc == 0) {
        mongoc_database_t *db = mongoc_client_get_database(p->client, out->schema);
        bson_error_t be;
        exists = mongoc_database_has_collection(db, out->table, &be);
        mongoc_database_destroy(db);
        if (!exists && be.code) {
            snprintf(errstr, errsz, "MongoDB: looking up collection %s.%s: %s", out->schema, out->table, be.message);
            rc = -1;
        }
    }
    if (rc == 0 && exists) {
        out->cols = sl_calloc((size_t)src->ncols + 1, sizeof *out->cols);
        out->src_col = sl_calloc((size_t)src->ncols + 1, sizeof *out->src_col);
        out->nkeys = src->nkeys;
        for (int i = 0; i < src->ncols; i++) {
            out->cols[out->ncols] = src->cols[i];
            snprintf(out->cols[out->ncols].name, sizeof out->cols[out->ncols].name, "%s", paths[i]); /* "": dropped */
            out->cols[out->ncols].hex = false;
            out->cols[out->ncols].scale = -1;
            out->src_col[out->ncols++] = i;
        }
    }
    sl_free(paths);
    return rc;
}

/* Order of two BSON values as MongoDB sorts them within one type (numbers by value, strings by bytes); values
 * of different kinds by kind. */
static int mv_value_cmp(const bson_iter_t *a, const bson_iter_t *b) {
    bson_type_t ta = bson_iter_type(a), tb = bson_iter_type(b);
    bool na = BSON_ITER_HOLDS_NUMBER(a) || ta == BSON_TYPE_DECIMAL128, nb = BSON_ITER_HOLDS_NUMBER(b) ||
                                                                             tb == BSON_TYPE_DECIMAL128;
    if (na && nb) {
        double x, y;
        char s[BSON_DECIMAL128_STRING];
        bson_decimal128_t d;
        if (ta == BSON_TYPE_DECIMAL128) bson_iter_decimal128(a, &d), bson_decimal128_to_string(&d, s), x = strtod(s, NULL);
        else x = bson_iter_as_double(a);
        if (tb == BSON_TYPE_DECIMAL128) bson_iter_decimal128(b, &d), bson_decimal128_to_string(&d, s), y = strtod(s, NULL);
        else y = bson_iter_as_double(b);
        if (ta == BSON_TYPE_INT64 && tb == BSON_TYPE_INT64) { /* exact beyond 2^53 */
            int64_t p = bson_iter_int64(a), q = bson_iter_int64(b);
            return p < q ? -1 : p > q;
        }
        return x < y ? -1 : x > y;
    }
    if (na != nb) return na ? -1 : 1;
    if (ta == BSON_TYPE_UTF8 && tb == BSON_TYPE_UTF8) {
        uint32_t la, lb;
        const char *sa = bson_iter_utf8(a, &la), *sb = bson_iter_utf8(b, &lb);
        int c = memcmp(sa, sb, la < lb ? la : lb);
        return c ? c : la < lb ? -1 : la > lb;
    }
    return ta < tb ? -1 : ta > tb;
}

static const sl_vtable *mv_sort_t; /* the table whose rows mv_row_cmp orders (qsort has no argument) */

/* Order of two embedded rows by the child's own key columns ("e." paths). */
static int mv_row_cmp(const void *x, const void *y) {
    const sl_vtable *t = mv_sort_t;
    for (int i = 0; i < t->nkeys; i++) {
        if (t->cols[i].parent) continue;
        const struct mv_row *rx = x, *ry = y;
        bson_iter_t a, b;
        bool fa = bson_iter_init_from_data(&a, rx->data, rx->len) &&
                  bson_iter_find_descendant(&a, t->cols[i].name + 2, &a);
        bool fb = bson_iter_init_from_data(&b, ry->data, ry->len) &&
                  bson_iter_find_descendant(&b, t->cols[i].name + 2, &b);
        if (fa != fb) return fa ? 1 : -1;
        int c = fa ? mv_value_cmp(&a, &b) : 0;
        if (c) return c;
    }
    return 0;
}

/* The rows the document holds (views into it): the elements of the array, the sub-document, or the document
 * itself for merged fields (when it has the row's first own key field), sorted by the child's key. */
static void mv_collect(mongo_vside *p, const bson_t *doc) {
    const sl_vtable *t = p->t;
    p->doc = doc;
    p->nrows = p->irows = 0;
    bson_iter_t it, el;
    uint32_t n;
    const uint8_t *data;
    if (t->within_kind == SL_VW_MERGE) {
        const char *first = NULL;
        for (int i = 0; i < t->nkeys && !first; i++)
            if (!t->cols[i].parent) first = t->cols[i].name + 2;
        if (first && bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, first, &it) &&
            !BSON_ITER_HOLDS_NULL(&it)) {
            if (!p->caprows) p->caprows = 8, p->rows = sl_realloc(p->rows, p->caprows * sizeof *p->rows);
            p->rows[p->nrows++] = (struct mv_row){bson_get_data(doc), doc->len};
        }
        return;
    }
    if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, t->within, &it)) return;
    if (t->within_kind == SL_VW_OBJECT) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&it)) return;
        if (!p->caprows) p->caprows = 8, p->rows = sl_realloc(p->rows, p->caprows * sizeof *p->rows);
        bson_iter_document(&it, &n, &data);
        p->rows[p->nrows++] = (struct mv_row){data, n};
        return;
    }
    if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &el)) return;
    while (bson_iter_next(&el)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&el)) continue;
        if (p->nrows == p->caprows) {
            p->caprows = p->caprows ? 2 * p->caprows : 16;
            p->rows = sl_realloc(p->rows, p->caprows * sizeof *p->rows);
        }
        bson_iter_document(&el, &n, &data);
        p->rows[p->nrows++] = (struct mv_row){data, n};
    }
    mv_sort_t = t; /* the sink thread's: verify runs on one thread */
    qsort(p->rows, p->nrows, sizeof *p->rows, mv_row_cmp);
}

/* Finds the documents of t matching filter, in key order. */
static int mv_find(mongo_vside *p, const sl_vtable *t, const bson_t *filter, char *errstr, size_t errsz) {
    if (p->cursor) mongoc_cursor_destroy(p->cursor);
    p->cursor = NULL;
    p->t = t;
    if (t->ncols > p->cap) {
        p->cap = t->ncols;
        p->at = sl_realloc(p->at, (size_t)(p->cap + 1) * sizeof *p->at);
        p->vals = sl_realloc(p->vals, (size_t)(p->cap + 1) * sizeof *p->vals);
        p->lens = sl_realloc(p->lens, (size_t)(p->cap + 1) * sizeof *p->lens);
    }
    p->doc = NULL;
    p->nrows = p->irows = 0;
    p->qrows = false;
    bson_t opts = BSON_INITIALIZER, sort;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    if (t->layout == MV_FIELDS && !t->within[0])
        for (int i = 0; i < t->nkeys; i++) BSON_APPEND_INT32(&sort, t->cols[i].name, 1);
    else /* embedded rows: their documents in _id order (each document's rows sorted as read) */
        BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(&opts, &sort);
    if (t->layout == MV_FIELDS && !t->within[0])
        BSON_APPEND_BOOL(&opts, "allowDiskUse", true); /* no index may cover the sort */
    if (t->within[0] && t->within_kind != SL_VW_MERGE) { /* only what the rows are read from */
        bson_t proj;
        BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
        BSON_APPEND_INT32(&proj, "_id", 1);
        BSON_APPEND_INT32(&proj, t->within, 1);
        bson_append_document_end(&opts, &proj);
    }
    p->cursor = sl_mread_find(p->client, t->schema, t->table, filter, &opts, errstr, errsz);
    bson_destroy(&opts);
    return p->cursor ? 0 : -1;
}

static int mv_scan(sl_vside *v, const sl_vtable *t, char *errstr, size_t errsz) {
    ((mongo_vside *)v)->nwant = 0;
    bson_t all = BSON_INITIALIZER;
    int rc = mv_find((mongo_vside *)v, t, &all, errstr, errsz);
    bson_destroy(&all);
    return rc;
}

/* A key value's text as the BSON value the sink wrote for a column of that kind. */
static void append_key_value(bson_t *d, const char *name, const sl_vcol *c, const char *v, size_t n) {
    if (c->kind == SL_CK_MKEY && sl_mkey_append(d, name, v, n)) return;
    char buf[128];
    snprintf(buf, sizeof buf, "%.*s", (int)(n < sizeof buf ? n : sizeof buf - 1), v);
    char *end;
    if (c->kind == SL_CK_INT) {
        long long i = strtoll(buf, &end, 10);
        if (*end == 0 && n) {
            BSON_APPEND_INT64(d, name, i);
            return;
        }
    } else if (c->kind == SL_CK_DEC) {
        bson_decimal128_t dec;
        if (bson_decimal128_from_string(buf, &dec)) {
            BSON_APPEND_DECIMAL128(d, name, &dec);
            return;
        }
    } else if (c->kind == SL_CK_FLOAT) {
        double x = strtod(buf, &end);
        if (*end == 0 && n) {
            BSON_APPEND_DOUBLE(d, name, x);
            return;
        }
    }
    bson_append_utf8(d, name, -1, v, (int)n);
}

/* scan_keys of embedded rows: the documents of the parents asked for, and the key tuples to pick their rows by. */
static int mv_scan_rows(mongo_vside *p, const sl_vtable *t, const char *const *keys, const size_t *lens,
                        size_t nrows, char *errstr, size_t errsz) {
    bson_t filter = BSON_INITIALIZER, id, in, one;
    int np = 0;
    while (np < t->nkeys && t->cols[np].parent) np++;
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &id);
    BSON_APPEND_ARRAY_BEGIN(&id, "$in", &in);
    sl_buf_reset(&p->want);
    for (size_t r = 0; r < nrows; r++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", r);
        size_t k = r * (size_t)t->nkeys;
        if (np == 1 && !t->cols[0].name[1]) { /* "p": the _id itself */
            append_key_value(&in, idx, &t->cols[0], keys[k] ? keys[k] : "", lens[k]);
        } else {
            BSON_APPEND_DOCUMENT_BEGIN(&in, idx, &one);
            for (int i = 0; i < np; i++) /* "p.x": field x of _id */
                append_key_value(&one, t->cols[i].name + 2, &t->cols[i], keys[k + i] ? keys[k + i] : "", lens[k + i]);
            bson_append_document_end(&in, &one);
        }
        for (int i = 0; i < t->nkeys; i++) {
            sl_buf_put(&p->want, keys[k + i] ? keys[k + i] : "", lens[k + i]);
            sl_buf_putc(&p->want, 0);
        }
    }
    bson_append_array_end(&id, &in);
    bson_append_document_end(&filter, &id);
    int rc = mv_find(p, t, &filter, errstr, errsz);
    p->nwant = nrows;
    bson_destroy(&filter);
    return rc;
}

static int mv_scan_keys(sl_vside *v, const sl_vtable *t, const char *const *keys, const size_t *lens, size_t nrows,
                        char *errstr, size_t errsz) {
    if (t->within[0]) return mv_scan_rows((mongo_vside *)v, t, keys, lens, nrows, errstr, errsz);
    ((mongo_vside *)v)->nwant = 0;
    bson_t filter = BSON_INITIALIZER, id, in, one;
    bool by_id = t->layout != MV_FIELDS, or = !by_id && t->nkeys > 1;
    /* {_id: {$in: [..]}}, {k: {$in: [..]}}, or {$or: [{k1: .., k2: ..}, ..]} */
    if (or) BSON_APPEND_ARRAY_BEGIN(&filter, "$or", &in);
    else {
        BSON_APPEND_DOCUMENT_BEGIN(&filter, by_id ? "_id" : t->cols[0].name, &id);
        BSON_APPEND_ARRAY_BEGIN(&id, "$in", &in);
    }
    for (size_t r = 0; r < nrows; r++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", r);
        size_t k = r * (size_t)t->nkeys;
        if (t->layout == MV_ID_SCALAR || (!by_id && !or)) {
            append_key_value(&in, idx, &t->cols[0], keys[k] ? keys[k] : "", lens[k]);
            continue;
        }
        BSON_APPEND_DOCUMENT_BEGIN(&in, idx, &one);
        for (int i = 0; i < t->nkeys; i++) /* by _id: the field within it */
            append_key_value(&one, t->cols[i].name + (by_id ? 4 : 0), &t->cols[i], keys[k + i] ? keys[k + i] : "",
                             lens[k + i]);
        bson_append_document_end(&in, &one);
    }
    bson_append_array_end(or ? &filter : &id, &in);
    if (!or) bson_append_document_end(&filter, &id);
    int rc = mv_find((mongo_vside *)v, t, &filter, errstr, errsz);
    bson_destroy(&filter);
    return rc;
}

/* The conflict resolution's writes (core/vside.h write): the document of the key vals (t: a table of whole
 * documents) marked again (touch: origin's mark, else "sluice-resolve", so that a MongoDB source syncing the
 * collection elsewhere carries it again), or deleted (after an update that marks it origin's, "/d", as the
 * sink marks its own deletes). */
static long mv_write(sl_vside *v, const sl_vtable *t, int op, const char *const *cols, const char *const *vals,
                     const size_t *lens, int n, const char *origin, char *errstr, size_t errsz) {
    (void)cols;
    mongo_vside *p = (mongo_vside *)v;
    if (t->within[0] || n != t->nkeys) {
        snprintf(errstr, errsz, "MongoDB: %s.%s: only whole documents, found by their key, are written", t->schema,
                 t->table);
        return -1;
    }
    bson_t filter = BSON_INITIALIZER, id;
    if (t->layout == MV_ID_SCALAR) {
        append_key_value(&filter, "_id", &t->cols[0], vals[0] ? vals[0] : "", lens[0]);
    } else if (t->layout == MV_FIELDS) { /* the key's fields by their paths */
        for (int i = 0; i < t->nkeys; i++)
            append_key_value(&filter, t->cols[i].name, &t->cols[i], vals[i] ? vals[i] : "", lens[i]);
    } else {
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &id);
        for (int i = 0; i < t->nkeys; i++)
            append_key_value(&id, t->cols[i].name + 4, &t->cols[i], vals[i] ? vals[i] : "", lens[i]);
        bson_append_document_end(&filter, &id);
    }
    char mark[300];
    snprintf(mark, sizeof mark, "%s/%lld-0%s", origin ? origin : "sluice-resolve", (long long)(sl_wall_us() / 1000),
             op == SL_VWRITE_REMOVE ? "/d" : "");
    bson_t *upd = BCON_NEW("$set", "{", SL_MONGO_ORIGIN_FIELD, BCON_UTF8(mark), "}");
    mongoc_collection_t *coll = mongoc_client_get_collection(p->client, t->schema, t->table);
    bson_t reply;
    bson_error_t be;
    long matched = -1;
    bool ok = op != SL_VWRITE_REMOVE || origin ? mongoc_collection_update_one(coll, &filter, upd, NULL, &reply, &be)
                                                 : (bson_init(&reply), true);
    bson_iter_t it;
    if (ok) matched = bson_iter_init_find(&it, &reply, "matchedCount") ? bson_iter_as_int64(&it) : 0;
    bson_destroy(&reply);
    if (ok && op == SL_VWRITE_REMOVE) {
        ok = mongoc_collection_delete_one(coll, &filter, NULL, &reply, &be);
        if (ok) matched = bson_iter_init_find(&it, &reply, "deletedCount") ? bson_iter_as_int64(&it) : 0;
        bson_destroy(&reply);
    }
    if (!ok) snprintf(errstr, errsz, "MongoDB: %s.%s: %s", t->schema, t->table, be.message), matched = -1;
    mongoc_collection_destroy(coll);
    bson_destroy(upd);
    bson_destroy(&filter);
    return matched;
}

/* MongoDB's side has no snapshot: each read sees the collection as it is then. */
static int mv_refresh(sl_vside *v, char *errstr, size_t errsz) {
    (void)v, (void)errstr, (void)errsz;
    return 0;
}

/* One BSON value as text (false: null or undefined). */
static bool bson_text(const bson_iter_t *it, sl_buf *b) {
    switch (bson_iter_type(it)) {
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED: return false;
    case BSON_TYPE_UTF8: {
        uint32_t n;
        const char *s = bson_iter_utf8(it, &n);
        sl_buf_put(b, s, n);
        return true;
    }
    case BSON_TYPE_INT32: sl_buf_put_i64(b, bson_iter_int32(it)); return true;
    case BSON_TYPE_INT64: sl_buf_put_i64(b, bson_iter_int64(it)); return true;
    case BSON_TYPE_BOOL: sl_buf_puts(b, bson_iter_bool(it) ? "true" : "false"); return true;
    case BSON_TYPE_DOUBLE: {
        double d = bson_iter_double(it);
        if (isnan(d)) sl_buf_puts(b, "NaN");
        else if (isinf(d)) sl_buf_puts(b, d > 0 ? "Infinity" : "-Infinity");
        else sl_buf_printf(b, "%.17g", d);
        return true;
    }
    case BSON_TYPE_DECIMAL128: {
        bson_decimal128_t d;
        char s[BSON_DECIMAL128_STRING];
        bson_iter_decimal128(it, &d);
        bson_decimal128_to_string(&d, s);
        sl_buf_puts(b, s);
        return true;
    }
    case BSON_TYPE_DATE_TIME: {
        int64_t ms = bson_iter_date_time(it);
        sl_put_iso_date(b, sl_floor_div(ms, 86400000));
        sl_buf_putc(b, 'T');
        sl_put_iso_time(b, (ms - sl_floor_div(ms, 86400000) * 86400000) * 1000000, 3);
        sl_buf_putc(b, 'Z');
        return true;
    }
    case BSON_TYPE_BINARY: {
        uint32_t n;
        const uint8_t *d;
        bson_subtype_t st;
        bson_iter_binary(it, &st, &n, &d);
        sl_buf_puts(b, "\\x"); /* as PostgreSQL writes bytea: the normalisation knows it for bytes */
        for (uint32_t i = 0; i < n; i++) sl_buf_printf(b, "%02x", d[i]);
        return true;
    }
    case BSON_TYPE_OID: {
        char s[25];
        bson_oid_to_string(bson_iter_oid(it), s);
        sl_buf_puts(b, s);
        return true;
    }
    default: sl_mvalue_json(it, false, b); return true;
    }
}

/* The row's values as text (embedded rows: "p..." paths from the document's _id, "e." paths from the row). */
static void mv_fill(mongo_vside *p, const bson_t *doc, const bson_t *row) {
    const sl_vtable *t = p->t;
    sl_buf_reset(&p->text);
    bson_iter_t it;
    bool null[t->ncols + 1], missing[t->ncols + 1];
    for (int i = 0; i < t->ncols; i++) {
        p->at[i] = p->text.len;
        const char *path = t->cols[i].name;
        const bson_t *in = doc;
        char idpath[140];
        if (row && path[0] == 'e' && path[1] == '.') {
            in = row, path += 2;
        } else if (row && path[0] == 'p') {
            snprintf(idpath, sizeof idpath, "_id%s", path + 1);
            path = idpath;
        }
        if (!strcmp(path, "$$ROOT")) { /* the whole document less its _id */
            sl_mdoc_put(in, &p->text);
            missing[i] = null[i] = false;
            continue;
        }
        bool found = strchr(path, '.') ? bson_iter_init(&it, in) && bson_iter_find_descendant(&it, path, &it)
                                       : bson_iter_init_find(&it, in, path);
        missing[i] = !found;
        if (found && t->cols[i].kind == SL_CK_MKEY) sl_mkey_put(&it, &p->text), null[i] = false;
        else null[i] = !found || !bson_text(&it, &p->text);
    }
    p->at[t->ncols] = p->text.len;
    for (int i = 0; i < t->ncols; i++) {
        p->vals[i] = missing[i] ? sl_vmissing : null[i] ? NULL : (p->text.data ? p->text.data : "") + p->at[i];
        p->lens[i] = p->at[i + 1] - p->at[i];
    }
}

/* scan_keys of embedded rows: is the row filled last one of the key tuples asked for? */
static bool mv_wanted(const mongo_vside *p) {
    const char *w = p->want.data;
    for (size_t r = 0; r < p->nwant; r++) {
        bool same = true;
        for (int i = 0; i < p->t->nkeys; i++) {
            size_t n = strlen(w);
            const char *v = p->vals[i];
            if (same && (!v || v == sl_vmissing || p->lens[i] != n || memcmp(v, w, n) != 0)) {
                /* numbers: by value (an int64 key against a double, a Decimal128) */
                char a[64], *end;
                snprintf(a, sizeof a, "%.*s", (int)(v && p->lens[i] < 63 ? p->lens[i] : 0), v ? v : "");
                double x = strtod(a, &end);
                same = *a && !*end && strtod(w, &end) == x && !*end;
            }
            w += n + 1;
        }
        if (same) return true;
    }
    return false;
}

static int mv_next(sl_vside *v, const char *const **vals, const size_t **lens, char *errstr, size_t errsz) {
    mongo_vside *p = (mongo_vside *)v;
    const bson_t *doc;
    for (;;) {
        while (p->t && p->t->within[0] && p->irows < p->nrows) {
            bson_t row;
            const struct mv_row *r = &p->rows[p->irows++];
            if (!bson_init_static(&row, r->data, r->len)) continue;
            mv_fill(p, p->doc, &row);
            if (p->nwant && !mv_wanted(p)) continue;
            *vals = p->vals;
            *lens = p->lens;
            return 1;
        }
        int got = sl_mread_next(p->cursor, &doc, p->qrows ? p->conf->model.database : p->t->schema,
                                p->qrows ? "(query)" : p->t->table, errstr, errsz);
        if (got <= 0) return got;
        if (p->qrows) {
            sl_buf_reset(&p->text);
            sl_mread_json(doc, &p->text);
            p->vals[0] = p->text.data, p->lens[0] = p->text.len;
            *vals = p->vals;
            *lens = p->lens;
            return 1;
        }
        if (p->t->within[0]) {
            mv_collect(p, doc);
            continue;
        }
        mv_fill(p, doc, NULL);
        *vals = p->vals;
        *lens = p->lens;
        return 1;
    }
}

static int mv_query(sl_vside *v, const char *q, char *errstr, size_t errsz) {
    mongo_vside *p = (mongo_vside *)v;
    if (p->cursor) mongoc_cursor_destroy(p->cursor);
    if (p->cap < 1) {
        p->cap = 1;
        p->at = sl_realloc(p->at, 2 * sizeof *p->at);
        p->vals = sl_realloc(p->vals, 2 * sizeof *p->vals);
        p->lens = sl_realloc(p->lens, 2 * sizeof *p->lens);
    }
    p->t = NULL, p->nrows = p->irows = 0, p->nwant = 0;
    p->qrows = true;
    p->cursor = sl_mread_query(p->client, p->conf->model.database, q, errstr, errsz);
    return p->cursor ? 0 : -1;
}

static const char *mv_position(sl_vside *v) {
    (void)v;
    return "";
}

static void mv_close(sl_vside *v) {
    mongo_vside *p = (mongo_vside *)v;
    if (!p) return;
    if (p->cursor) mongoc_cursor_destroy(p->cursor);
    if (p->client) mongoc_client_destroy(p->client);
    if (p->model) sl_mongo_model_destroy(p->model);
    sl_free(p->rows);
    sl_buf_free(&p->want);
    sl_buf_free(&p->text);
    sl_free(p->at);
    sl_free(p->vals);
    sl_free(p->lens);
    sl_free(p);
}

static const sl_vside_ops mv_ops = {.target = mv_target, .scan = mv_scan, .scan_keys = mv_scan_keys,
                                    .refresh = mv_refresh, .next = mv_next, .query = mv_query,
                                    .write = mv_write, .position = mv_position, .close = mv_close};

static int mongo_verify_open(void *settings, sl_vside **out, char *errstr, size_t errsz) {
    mongo_vside *p = sl_calloc(1, sizeof *p);
    p->base.ops = &mv_ops;
    p->conf = settings;
    sl_buf_init(&p->text);
    sl_buf_init(&p->want);
    *out = &p->base;
    if (p->conf->handler != H_AUTO && p->conf->handler != H_RDBMS && p->conf->handler != H_NONE) {
        snprintf(errstr, errsz, "sluice verify reads back rows written by the Debezium RDBMS handler or as plain "
                                "documents, not change.data.capture.handler=%s (change events of a MongoDB source)",
                 p->conf->cdc_handler);
        return -1;
    }
    sl_errs errs = {0};
    if (sl_mongo_model_compile(&p->conf->model, &p->model, &errs)) {
        snprintf(errstr, errsz, "%s", errs.n ? errs.msg[0] : "the write model does not compile");
        sl_errs_free(&errs);
        return -1;
    }
    sl_errs_free(&errs);
    snprintf(p->base.what, sizeof p->base.what, "MongoDB database %s", p->conf->model.database);
    sl_mongo_init();
    if (!(p->client = sl_mongo_client_new(p->conf->uri, "sluice-verify", false, NULL, errstr, errsz))) return -1;
    return sl_mongo_ping(p->client, errstr, errsz) ? 0 : -1;
}

const sl_sink_ops sl_mongo_sink_ops = {
    "mongodb",
    "com.mongodb.kafka.connect.MongoSinkConnector",
    "Writes to MongoDB like the MongoDB Kafka sink connector: CDC handlers for change events, write model "
    "strategies for plain documents, bulk writes with retries, errors.tolerance and a dead letter queue.",
    mongo_props,
    sizeof(mongo_conf),
    mongo_check,
    mongo_open,
    mongo_write,
    mongo_flush,
    mongo_close,
    NULL,
    .verify_open = mongo_verify_open};
