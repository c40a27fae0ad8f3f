/*
 * MongoDB source: a change stream read through libmongoc, published the way
 * the MongoDB Kafka source connector (mongo-kafka) or, under Debezium's
 * class name, Debezium's MongoDB connector publishes it.
 *
 * open():  checks the keys (all before connecting), connects, pings, names
 *          the offset partition ({"ns": "mongodb://<hosts>/<db>.<coll>"} or
 *          offset.partition.name) and decides where to start from the
 *          stored offset: resume token, copy progress, or startup.mode.
 * run():   copy_existing first when due (copy_phase), then the stream loop:
 *          each event is encoded by mevent.c into a pre-encoded record
 *          (sl_raw) in the batch arena; a batch goes to the sink when full,
 *          when the stream has nothing more right now, or after
 *          poll.interval.ms. Its offset is the last event's resume token.
 *          While idle, a changed post-batch resume token is handed on as an
 *          offset-only batch (at most once a second) and heartbeat records
 *          carry it to heartbeat.topic.name.
 * Offsets: {"_id": "<token JSON>"} (mongo-kafka's shape), or while copying
 *          {"copy": "true", "copy_ns", "copy_last_id", plus the resume point
 *          taken before the copy: "_id" or "start_ts": "<t>,<i>"}. Committed
 *          by the runtime only after the sink made the batch durable.
 * Errors:  a lost connection returns SL_RETRY (the runtime reopens us at
 *          the newest emitted offset); a resume point that has left the
 *          oplog follows change.stream.history.lost.policy.
 *
 * Thread: open() on the starting thread, run() and close() on the source
 * thread; the mongoc client is used by one thread at a time. The readers of
 * a parallel copy (copy.existing.max.threads > 1) have clients of their own.
 */
#include "ctx/ctx.h"
#include "core/log.h"
#include "mongo/mclient.h"
#include "source/mongo/mecho.h"
#include "source/mongo/mevent.h"
#include "source/mongo/mschema.h"
#include "source/mongo/ms_int.h"
#include "util/buf.h"
#include "util/jcheck.h"
#include "util/mem.h"
#include "util/ranges.h"
#include "util/timeutil.h"
#include <inttypes.h>
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEBEZIUM_CLASS "io.debezium.connector.mongodb.MongoDbConnector"
#define MAX_AWAIT_MS 1000       /* longest blocking getMore: bounds how late a stop or heartbeat is seen */
#define IDLE_OFFSET_EVERY_MS 1000
#define IDLE_SLEEP_MS 50        /* pacing when the server answers an empty getMore at once */
#define COPY_LIST_MAX 100000    /* namespaces copy_existing will consider */


#define F(x) offsetof(ms_conf, x)
#define FMT_NAMES                                                                                                  \
    "DefaultJson|ExtendedJson|SimplifiedJson|com.mongodb.kafka.connect.source.json.formatter.DefaultJson|"       \
    "com.mongodb.kafka.connect.source.json.formatter.ExtendedJson|"                                                \
    "com.mongodb.kafka.connect.source.json.formatter.SimplifiedJson"
static const sl_prop ms_props[] = {
    {"connection.uri", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_SENSITIVE | SL_PF_REQUIRED, F(uri),
     "MongoDB connection string (mongodb:// or mongodb+srv://) of a replica set or sharded cluster: change "
     "streams need an oplog.",
     "mongodb.connection.string"},
    {"database", SL_PT_STRING, "", NULL, 0, 0, 0, F(database),
     "Database to watch (empty: every database of the cluster)."},
    {"collection", SL_PT_STRING, "", NULL, 0, 0, 0, F(collection),
     "Collection to watch (empty: the whole database, or the whole cluster when database is empty too)."},
    {"pipeline", SL_PT_STRING, "[]", NULL, 0, 0, 0, F(pipeline),
     "Aggregation stages (a JSON array) appended after $changeStream, e.g. "
     "[{\"$match\": {\"operationType\": \"insert\"}}]."},
    {"change.stream.full.document", SL_PT_ENUM, "default", "default|updateLookup|whenAvailable|required", 0, 0, 0,
     F(full_doc),
     "fullDocument of update events: default (none), updateLookup (the document as it is when the event is "
     "read), whenAvailable / required (the post-image; MongoDB 6.0+ with changeStreamPreAndPostImages)."},
    {"change.stream.full.document.before.change", SL_PT_ENUM, "default", "default|whenAvailable|required|off", 0, 0,
     0, F(full_doc_before),
     "fullDocumentBeforeChange (pre-images, MongoDB 6.0+ with changeStreamPreAndPostImages): default / off: "
     "none; whenAvailable; required (events without one fail)."},
    {"publish.full.document.only", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(full_doc_only),
     "Publish only fullDocument as the value; events without one (deletes, updates without updateLookup) are "
     "skipped."},
    {"change.stream.document.key.as.key", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(doc_key_as_key),
     "The record key is the event's documentKey ({\"_id\": <document _id>}, plus the shard key on sharded "
     "collections); false, and for events without one (drop, rename, invalidate): {\"_id\": <resume token>}."},
    {"publish.full.document.only.tombstone.on.delete", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(tombstone_on_delete),
     "With publish.full.document.only: a delete becomes a tombstone (null value) keyed by the document _id."},
    {"startup.mode", SL_PT_ENUM, "latest", "latest|timestamp|copy_existing", 0, 0, 0, F(startup_mode),
     "Where a connector without a stored offset starts: latest (new changes only), timestamp "
     "(startup.mode.timestamp.start.at.operation.time), copy_existing (every existing document first, then "
     "the changes since the copy began)."},
    {"startup.mode.timestamp.start.at.operation.time", SL_PT_STRING, "", NULL, 0, 0, 0, F(start_at),
     "startup.mode=timestamp: the first operation time, as seconds since the epoch, an ISO-8601 instant "
     "(2024-01-31T12:00:00Z) or {\"$timestamp\": {\"t\": <seconds>, \"i\": <increment>}}."},
    {"copy.existing", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(copy_legacy),
     "Deprecated: true is startup.mode=copy_existing."},
    {"startup.mode.copy.existing.namespace.regex", SL_PT_STRING, "", NULL, 0, 0, 0, F(copy_regex),
     "copy_existing: copy only namespaces (db.collection) matching this regular expression (POSIX extended, "
     "must match the whole name).",
     "copy.existing.namespace.regex"},
    {"startup.mode.copy.existing.pipeline", SL_PT_STRING, "[]", NULL, 0, 0, 0, F(copy_pipeline),
     "copy_existing: aggregation stages (JSON array) applied to the copied documents; they must keep _id.",
     "copy.existing.pipeline"},
    {"startup.mode.copy.existing.max.threads", SL_PT_INT, "1", NULL, 1, 1024, 0, F(copy_threads),
     "Readers of copy_existing, each with a client of its own. Above 1, a collection is cut into ranges of "
     "poll.max.batch.size documents in _id order that the readers read ahead in parallel; the ranges are "
     "published in _id order, so the events, their order and the resumable progress are those of one reader. "
     "Collections are copied one after the other.",
     "copy.existing.max.threads"},
    {"startup.mode.copy.existing.queue.size", SL_PT_INT, "16000", NULL, 1, INT32_MAX, 0, F(copy_queue),
     "Accepted for compatibility (the connector's max.queue.size bounds what is buffered).",
     "copy.existing.queue.size"},
    {"startup.mode.copy.existing.allow.disk.use", SL_PT_BOOL, "true", NULL, 0, 0, 0, F(copy_disk),
     "allowDiskUse for the copy's aggregations.", "copy.existing.allow.disk.use"},
    {"poll.max.batch.size", SL_PT_INT, "1000", NULL, 1, 1000000, 0, F(batch_size),
     "Documents per server batch (the change stream's batchSize, and the copy's chunk size)."},
    {"poll.await.time.ms", SL_PT_INT, "5000", NULL, 1, INT32_MAX, 0, F(await_ms),
     "How long the server waits for new changes before answering an empty batch (maxAwaitTimeMS; sluice "
     "waits at most 1000 ms per request so that stops and heartbeats stay timely)."},
    {"heartbeat.interval.ms", SL_PT_INT, "0", NULL, 0, INT32_MAX, 0, F(hb_ms),
     "When > 0: while no change arrives, a record carrying the newest resume token goes to "
     "heartbeat.topic.name at this interval (only when the token moved), so the offset stays fresh."},
    {"heartbeat.topic.name", SL_PT_STRING, "__mongodb_heartbeats", NULL, 0, 0, 0, F(hb_topic),
     "Topic of the heartbeat records."},
    {"output.format.key", SL_PT_ENUM, "json", "json|bson|schema", 0, 0, 0, F(out_key),
     "Key format: json (JSON text), bson (raw BSON bytes; needs sink.type=kafka and no transforms), or schema (a "
     "Connect struct of output.schema.key made of the whole event; {\"schema\", \"payload\"} JSON with "
     "key.converter.schemas.enable)."},
    {"output.format.value", SL_PT_ENUM, "json", "json|bson|schema", 0, 0, 0, F(out_value),
     "Value format: json (JSON text), bson (raw BSON bytes; needs sink.type=kafka and no transforms), or schema "
     "(a Connect struct of output.schema.value, or of the inferred schema with output.schema.infer.value; "
     "{\"schema\", \"payload\"} JSON with value.converter.schemas.enable)."},
    {"output.schema.key", SL_PT_STRING, SL_MSCHEMA_DEFAULT_KEY, NULL, 0, 0, 0, F(schema_key),
     "output.format.key=schema: the key's Avro schema (a record; unions only with null). The default is "
     "mongo-kafka's: {_id: string}."},
    {"output.schema.value", SL_PT_STRING, SL_MSCHEMA_DEFAULT_VALUE, NULL, 0, 0, 0, F(schema_value),
     "output.format.value=schema: the value's Avro schema (a record; unions only with null). The default is "
     "mongo-kafka's change stream schema (ChangeStream: _id, operationType, fullDocumentBeforeChange, "
     "fullDocument, ns, to, documentKey, updateDescription, clusterTime, txnNumber, lsid)."},
    {"output.json.formatter", SL_PT_ENUM, "DefaultJson", FMT_NAMES, 0, 0, 0, F(formatter),
     "JSON of keys and values: DefaultJson (legacy extended JSON: {\"$oid\": ...}, {\"$date\": <ms>}, "
     "{\"$numberLong\": \"...\"}), ExtendedJson (canonical extended JSON), SimplifiedJson (plain values: "
     "ObjectId as hex, dates as ISO-8601 strings, Decimal128 as a string, binary as base64). The Java class "
     "names are accepted."},
    {"output.schema.infer.value", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(schema_infer),
     "output.format.value=schema: infer each value's schema from the document (mongo-kafka's rules) instead of "
     "output.schema.value."},
    {"topic.prefix", SL_PT_STRING, "", NULL, 0, 0, 0, F(topic_prefix),
     "Topic prefix (Debezium class: the server name, required)."},
    {"topic.suffix", SL_PT_STRING, "", NULL, 0, 0, 0, F(topic_suffix), "Topic suffix."},
    {"topic.separator", SL_PT_STRING, ".", NULL, 0, 0, 0, F(topic_sep),
     "Separator between prefix, database, collection and suffix."},
    {"topic.namespace.map", SL_PT_STRING, "", NULL, 0, 0, 0, F(ns_map),
     "JSON object mapping namespaces to topics: \"db.coll\" (whole topic name), \"db\" (name of the database "
     "part; the collection is appended), \"*\" (everything else)."},
    {"offset.partition.name", SL_PT_STRING, "", NULL, 0, 0, 0, F(partition_name),
     "Name of the offset partition {\"ns\": <name>} (default mongodb://<hosts>/<database>[.<collection>]); "
     "a new name starts afresh per startup.mode."},
    {"change.stream.history.lost.policy", SL_PT_ENUM, "fail", "fail|copy_existing|latest", 0, 0, 0,
     F(lost_policy),
     "When the stored resume token is no longer in the oplog (ChangeStreamHistoryLost): fail (stop with an "
     "error), copy_existing (copy every document again, then stream), latest (continue with new changes; "
     "what happened in between is lost, logged at WARN)."},
    {"skipped.origins", SL_PT_LIST, "", NULL, 0, 0, 0, F(skipped_origins),
     "Origins whose writes are left out: a MongoDB sink that writes into this database with "
     "replication.origin.name (its __sluice_origin mark) is not read back, so a two-way sync sends no write back "
     "where it came from. Empty: every change is read."},
    {NULL}};
#undef F

/* ---- configuration checks (no I/O) ---- */

static bool blank(const char *s) { return !s || !*s; }

/* True when text is a JSON array of documents; *out gets {"0": ..., ...} as a BSON array document. */
static bool parse_pipeline(const char *text, bson_t **out) {
    bson_error_t be;
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_puts(&b, "{\"p\":"); /* pipelines as MongoDB's docs write them: {$match: ...} too */
    sl_mjson_relaxed(blank(text) ? "[]" : text, &b);
    sl_buf_putc(&b, '}');
    bson_t *doc = bson_new_from_json((const uint8_t *)b.data, (ssize_t)b.len, &be);
    sl_buf_free(&b);
    bson_iter_t it, st;
    bool ok = doc && bson_iter_init_find(&it, doc, "p") && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &st);
    while (ok && bson_iter_next(&st)) ok = BSON_ITER_HOLDS_DOCUMENT(&st);
    if (ok && out) {
        uint32_t len;
        const uint8_t *data;
        bson_iter_init_find(&it, doc, "p");
        bson_iter_array(&it, &len, &data);
        *out = bson_new_from_data(data, len);
    }
    if (doc) bson_destroy(doc);
    return ok;
}

bson_t *ms_parse_ns_map(const char *text, char *why, size_t whysz) {
    bson_error_t be;
    bson_t *m = bson_new_from_json((const uint8_t *)text, -1, &be);
    if (!m) {
        snprintf(why, whysz, "not a JSON object (%.180s)", be.message);
        return NULL;
    }
    bson_iter_t it;
    bson_iter_init(&it, m);
    while (bson_iter_next(&it))
        if (!BSON_ITER_HOLDS_UTF8(&it)) {
            snprintf(why, whysz, "the value of \"%.120s\" is not a string", bson_iter_key(&it));
            bson_destroy(m);
            return NULL;
        }
    return m;
}

/* startup.mode.timestamp.start.at.operation.time -> (t, i). */
static bool parse_op_time(const char *s, uint32_t *t, uint32_t *i) {
    char *end;
    *i = 0;
    while (*s == ' ') s++;
    if (*s >= '0' && *s <= '9') {
        unsigned long long v = strtoull(s, &end, 10);
        if (*end == 0 && v <= UINT32_MAX) {
            *t = (uint32_t)v;
            return true;
        }
        struct tm tm = {0};
        const char *r = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!r) return false;
        if (*r == '.')
            for (r++; *r >= '0' && *r <= '9'; r++) {}
        if (strcmp(r, "Z") && strcmp(r, "+00:00") && *r) return false;
        time_t tt = timegm(&tm);
        if (tt < 0 || (unsigned long long)tt > UINT32_MAX) return false;
        *t = (uint32_t)tt;
        return true;
    }
    bson_error_t be;
    sl_buf b;
    sl_buf_init(&b);
    sl_buf_printf(&b, "{\"t\":%s}", s);
    bson_t *d = bson_new_from_json((const uint8_t *)b.data, (ssize_t)b.len, &be);
    sl_buf_free(&b);
    bson_iter_t it;
    bool ok = d && bson_iter_init_find(&it, d, "t") && BSON_ITER_HOLDS_TIMESTAMP(&it);
    if (ok) bson_iter_timestamp(&it, t, i);
    if (d) bson_destroy(d);
    return ok;
}

static bool is_debezium(sl_config *cfg) {
    const char *c = sl_config_get(cfg, "connector.class");
    return c && !strcmp(c, DEBEZIUM_CLASS);
}

/* bson: the record's bytes are BSON, which only a sink that takes binary values (the Kafka sink) writes as they
 * are (the file and MongoDB sinks and the transforms read JSON text). */
static void ms_check_sink(void *settings, const sl_sink_ops *sink, sl_config *cfg, sl_errs *errs) {
    ms_conf *cf = settings;
    const char *st = sl_config_get(cfg, "sink.type"), *xf = sl_config_get(cfg, "transforms");
    bool binary_ok = sink && sink->accepts_binary;
    int fmts[2] = {cf->out_key, cf->out_value};
    for (int i = 0; i < 2; i++)
        if (fmts[i] == OF_BSON && (!binary_ok || (xf && *xf) || is_debezium(cfg)))
            sl_errs_add(errs, "%s: 'bson' writes raw BSON bytes, which only the Kafka sink takes, without transforms "
                        "and under mongo-kafka's class name (here: sink.type=%s%s%s; allowed: json)",
                        i ? "output.format.value" : "output.format.key", st ? st : "kafka",
                        xf && *xf ? ", transforms set" : "", is_debezium(cfg) ? ", Debezium's class" : "");
}

static void ms_check(void *settings, sl_config *cfg, sl_errs *errs) {
    ms_conf *cf = settings;
    char why[256];
    if (cf->copy_legacy) cf->startup_mode = SM_COPY;
    if (blank(cf->database) && !blank(cf->collection))
        sl_errs_add(errs, "collection: '%s' is set but database is empty (set database too, or leave both empty "
                    "to watch the whole cluster)", cf->collection);
    if (!parse_pipeline(cf->pipeline, NULL))
        sl_errs_add(errs, "pipeline: '%s' is not a JSON array of aggregation stages (documents)", cf->pipeline);
    if (!parse_pipeline(cf->copy_pipeline, NULL))
        sl_errs_add(errs, "startup.mode.copy.existing.pipeline: '%s' is not a JSON array of aggregation stages",
                    cf->copy_pipeline);
    uint32_t t, i;
    if (cf->startup_mode == SM_TIMESTAMP && (blank(cf->start_at) || !parse_op_time(cf->start_at, &t, &i)))
        sl_errs_add(errs, "startup.mode.timestamp.start.at.operation.time: '%s' is not an operation time (allowed: "
                    "seconds since the epoch, an ISO-8601 instant such as 2024-01-31T12:00:00Z, or "
                    "{\"$timestamp\": {\"t\": <seconds>, \"i\": <increment>}}); startup.mode=timestamp needs it",
                    cf->start_at ? cf->start_at : "");
    if (!blank(cf->copy_regex)) {
        regex_t rx;
        if (regcomp(&rx, cf->copy_regex, REG_EXTENDED | REG_NOSUB) != 0)
            sl_errs_add(errs, "startup.mode.copy.existing.namespace.regex: '%s' is not a valid regular expression",
                        cf->copy_regex);
        else regfree(&rx);
    }
    if (!blank(cf->ns_map)) {
        bson_t *m = ms_parse_ns_map(cf->ns_map, why, sizeof why);
        if (!m) sl_errs_add(errs, "topic.namespace.map: %s (allowed: a JSON object of namespace -> topic strings)", why);
        else bson_destroy(m);
    }
    int fmts[2] = {cf->out_key, cf->out_value};
    for (int i = 0; i < 2; i++) {
        const char *key = i ? "output.format.value" : "output.format.key";
        /* Both schemas are checked whatever the formats, as mongo-kafka's validators do. */
        sl_mschema *sc = sl_mschema_from_avro(i ? cf->schema_value : cf->schema_key, why, sizeof why);
        if (!sc) sl_errs_add(errs, "%s: %s", i ? "output.schema.value" : "output.schema.key", why);
        sl_mschema_free(sc);
        if (fmts[i] == OF_SCHEMA) {
            if (is_debezium(cfg))
                sl_errs_add(errs, "%s: 'schema' is mongo-kafka's output (connector.class=%s publishes Debezium's "
                            "envelope; allowed: json)", key, DEBEZIUM_CLASS);
        }
    }
    if (cf->full_doc_before == FDB_REQUIRED || cf->full_doc_before == FDB_WHEN_AVAILABLE)
        SL_INFO("config", "change.stream.full.document.before.change needs MongoDB 6.0+ and collections with "
                "changeStreamPreAndPostImages enabled");
    if (is_debezium(cfg) && blank(cf->topic_prefix))
        sl_errs_add(errs, "topic.prefix: required with connector.class=%s (the logical server name of the "
                    "topics <topic.prefix>.<db>.<collection>)", DEBEZIUM_CLASS);
    if (is_debezium(cfg) && cf->full_doc_only)
        sl_errs_add(errs, "publish.full.document.only: not supported with connector.class=%s (Debezium's "
                    "envelope carries the document in `after`)", DEBEZIUM_CLASS);
    if (!blank(cf->hb_topic) && strpbrk(cf->hb_topic, " /\\"))
        sl_errs_add(errs, "heartbeat.topic.name: '%s' is not a valid topic name", cf->hb_topic);
}

/* ---- the source ---- */

/* A position in the stream: a resume token, or an operation time. */
typedef struct rpoint {
    bson_t *token;   /* owned; NULL: none */
    uint32_t t, i;   /* operation time when has_ts */
    bool has_ts;
} rpoint;

typedef struct mongo_source {
    ms_conf *cf;
    sl_mecho echo;           /* skipped.origins */
    sl_ctx *ctx;
    mongoc_client_t *client;
    mongoc_change_stream_t *cs;
    bson_t *pipeline, *copy_pipeline, *ns_map;
    sl_mevent_opts eo;
    sl_mevent ev;
    char *hosts;             /* for the partition name */
    char *rs_name;
    bool debezium;
    /* where to start / resume */
    rpoint start;            /* from the stored offset or a copy's start point */
    bool start_after;        /* after an invalidate: startAfter instead of resumeAfter */
    bool resuming;           /* the stream opens from a stored position */
    bool copy_due;           /* copy_existing still to do (fresh, resumed, or history lost) */
    char *copy_ns;           /* copy progress from the offset: namespace and last _id ({"_id": v}) */
    bson_t *copy_last;
    struct copy_reader *copy_readers; /* copy.existing.max.threads > 1: the readers of the copy's ranges */
    int copy_nreaders;
    sl_ranges *copy_rg;
    /* batching */
    sl_batch *batch;
    int64_t batch_started;
    uint64_t seq;
    sl_buf last_token;       /* JSON of the newest token handed on in an offset */
    sl_buf hb_token;         /* JSON of the token of the last heartbeat */
    int64_t last_idle_offset_ms, last_hb_ms;
    sl_buf scratch, off;
    sl_mevent ev_bson;       /* output.format=bson/schema: the event again as canonical extended JSON */
    sl_mschema *key_schema, *value_schema; /* output.format=schema (value_schema NULL with infer.value) */
    bool key_env, value_env; /* *.converter.schemas.enable: {"schema", "payload"} */
    bool failed;
} mongo_source;

static void fail(mongo_source *s, sl_err_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(mongo_source *s, sl_err_code code, const char *fmt, ...) {
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->failed = true;
    sl_ctx_fail_code(s->ctx, code, "%s", msg);
}

static void rpoint_clear(rpoint *p) {
    if (p->token) bson_destroy(p->token);
    memset(p, 0, sizeof *p);
}

/* The token as mongo-kafka stores it: relaxed JSON text with Java's spacing. */
static void token_json(const bson_t *tok, sl_buf *out) {
    sl_buf_reset(out);
    if (sl_mjson_doc(out, tok, SL_MJSON_RELAXED, true) < 0) sl_buf_reset(out);
    sl_buf_cstr(out);
}

/* Offset JSON of a resume point, plus copy progress when ns is set. */
static void offset_json(mongo_source *s, const rpoint *p, const char *copy_ns, const bson_t *copy_last, bool hb,
                        sl_buf *out) {
    sl_buf_reset(out);
    sl_buf_putc(out, '{');
    if (p->token) {
        token_json(p->token, &s->scratch);
        sl_buf_puts(out, "\"_id\":");
        sl_buf_put_json_str(out, s->scratch.data, s->scratch.len);
    } else if (p->has_ts) {
        sl_buf_printf(out, "\"start_ts\":\"%" PRIu32 ",%" PRIu32 "\"", p->t, p->i);
    }
    if (copy_ns) {
        if (out->len > 1) sl_buf_putc(out, ',');
        sl_buf_puts(out, "\"copy\":\"true\",\"copyingData\":true,\"copy_ns\":");
        sl_buf_put_json_str(out, copy_ns, strlen(copy_ns));
        if (copy_last) {
            sl_buf_reset(&s->scratch);
            sl_mjson_doc(&s->scratch, copy_last, SL_MJSON_EXTENDED, false);
            sl_buf_puts(out, ",\"copy_last_id\":");
            sl_buf_put_json_str(out, s->scratch.data, s->scratch.len);
        }
    }
    if (hb) sl_buf_puts(out, out->len > 1 ? ",\"HEARTBEAT\":\"true\"" : "\"HEARTBEAT\":\"true\"");
    sl_buf_putc(out, '}');
    sl_buf_cstr(out);
}

static int emit(mongo_source *s) {
    if (!s->batch->n && !s->batch->offset) return 0;
    sl_batch *b = s->batch;
    s->batch = sl_batch_new();
    s->batch_started = 0;
    return sl_ctx_emit(s->ctx, b);
}

static void set_offset(mongo_source *s, const char *json) { sl_batch_set_offset(s->batch, json, ++s->seq); }

/* Copies the encoded event into the batch as a pre-encoded record. */
/* Replaces the JSON text in *part by the BSON of the same JSON (canonical extended JSON from ev_bson). */
static int to_bson(sl_buf *part, const sl_buf *canonical, char *err, size_t errsz) {
    bson_error_t be;
    bson_t *b = bson_new_from_json((const uint8_t *)canonical->data, (ssize_t)canonical->len, &be);
    if (!b) {
        snprintf(err, errsz, "output.format bson: %.400s", be.message);
        return -1;
    }
    sl_buf_reset(part);
    sl_buf_put(part, bson_get_data(b), b->len);
    bson_destroy(b);
    return 0;
}

/* output.format=schema: replaces *part by the Connect struct of the document in canonical (its BSON) under
 * schema (NULL: inferred from the document), as JsonConverter writes it, with or without the envelope. */
static int to_schema(mongo_source *s, const sl_mschema *schema, bool env, sl_buf *part, const sl_buf *canonical,
                     char *err, size_t errsz) {
    bson_error_t be;
    char why[1024];
    bson_t *b = bson_new_from_json((const uint8_t *)canonical->data, (ssize_t)canonical->len, &be);
    if (!b) {
        snprintf(err, errsz, "output.format schema: %.400s", be.message);
        return -1;
    }
    sl_mschema *inferred = schema ? NULL : sl_mschema_infer(b);
    const sl_mschema *sc = schema ? schema : inferred;
    sl_buf_reset(part);
    if (env) {
        sl_buf_puts(part, "{\"schema\":");
        sl_mschema_json(sc, part);
        sl_buf_puts(part, ",\"payload\":");
    }
    int rc = sl_mschema_value(sc, b, s->eo.fmt, part, why, sizeof why);
    if (env) sl_buf_putc(part, '}');
    sl_buf_cstr(part);
    if (rc < 0) snprintf(err, errsz, "output.format schema: %.400s", why);
    sl_mschema_free(inferred);
    bson_destroy(b);
    return rc;
}

/* sl_mevent_encode with output.format: a part in bson is the event encoded as canonical extended JSON
 * (exact types), then parsed into BSON bytes. */
static int encode(mongo_source *s, const uint8_t *data, size_t len, bool copy, const char *db, const char *coll,
                  char *err, size_t errsz) {
    sl_mevent *ev = &s->ev;
    ev->binary_key = ev->binary_value = false;
    if (sl_mevent_encode(&s->eo, data, len, copy, db, coll, ev, err, errsz) < 0) return -1;
    bool bk = s->cf->out_key == OF_BSON, bv = s->cf->out_value == OF_BSON;
    bool sk = s->cf->out_key == OF_SCHEMA, sv = s->cf->out_value == OF_SCHEMA;
    if (ev->skip || (!bk && !bv && !sk && !sv)) return 0;
    sl_mevent_opts o = s->eo;
    o.fmt = SL_MJSON_EXTENDED;
    o.key_is_event = sk; /* mongo-kafka converts the whole event with the key schema */
    if (sl_mevent_encode(&o, data, len, copy, db, coll, &s->ev_bson, err, errsz) < 0) return -1;
    if (bk && ev->key.len && to_bson(&ev->key, &s->ev_bson.key, err, errsz) < 0) return -1;
    if (bv && !ev->tombstone && to_bson(&ev->value, &s->ev_bson.value, err, errsz) < 0) return -1;
    if (sk && ev->key.len && to_schema(s, s->key_schema, s->key_env, &ev->key, &s->ev_bson.key, err, errsz) < 0)
        return -1;
    if (sv && !ev->tombstone &&
        to_schema(s, s->value_schema, s->value_env, &ev->value, &s->ev_bson.value, err, errsz) < 0)
        return -1;
    ev->binary_key = bk && ev->key.len;
    ev->binary_value = bv && !ev->tombstone;
    return 0;
}

static void add_event(mongo_source *s, const sl_mevent *ev, bool copy) {
    sl_arena *a = &s->batch->arena;
    sl_raw *raw = sl_arena_alloc(a, sizeof *raw);
    memset(raw, 0, sizeof *raw);
    raw->topic = sl_arena_strndup(a, ev->topic.data ? ev->topic.data : "", ev->topic.len);
    raw->partition = -1;
    raw->offset = -1;
    raw->ts_ms = ev->ts_us ? ev->ts_us / 1000 : -1;
    raw->key = sl_arena_memdup(a, ev->key.data ? ev->key.data : "null", ev->key.data ? ev->key.len : 4);
    raw->key_len = ev->key.data ? (uint32_t)ev->key.len : 4;
    raw->binary_key = ev->binary_key;
    if (!ev->tombstone) {
        raw->value = sl_arena_memdup(a, ev->value.data ? ev->value.data : "", ev->value.len);
        raw->value_len = (uint32_t)ev->value.len;
        raw->binary_value = ev->binary_value;
    }
    sl_record *r = sl_batch_add(s->batch, NULL);
    r->op = ev->tombstone && ev->op != SL_OP_HEARTBEAT ? SL_OP_DELETE : ev->op;
    r->snapshot = copy ? SL_SNAP_TRUE : SL_SNAP_NONE;
    r->raw = raw;
    if (ev->token.len) r->pos.resume_token = sl_arena_strndup(a, ev->token.data, ev->token.len);
    r->ts_us = ev->ts_us ? ev->ts_us : sl_wall_us();
    if (!s->batch_started) s->batch_started = sl_mono_ms();
}

/* ---- connecting ---- */

/* The kind of a driver error: server selection and network failures are a lost connection (retried);
 * refused credentials or privileges (AuthenticationFailed 18, Unauthorized 13) are auth; anything else the
 * server or the driver says (a bad URI, a bad pipeline) is SL_E_PROTOCOL. */
static sl_err_code code_of(const bson_error_t *be) {
    if (be->domain == MONGOC_ERROR_STREAM || be->domain == MONGOC_ERROR_SERVER_SELECTION) return SL_E_CONNECT;
    if ((be->domain == MONGOC_ERROR_CLIENT && be->code == MONGOC_ERROR_CLIENT_AUTHENTICATE) || be->code == 18 ||
        be->code == 13)
        return SL_E_AUTH;
    return SL_E_PROTOCOL;
}

static bool retriable(const bson_error_t *be) { return sl_err_code_retriable(code_of(be)); }

/* hello: the replica set name (Debezium's source.rs) and whether change streams can work at all. */
static int probe(mongo_source *s, char *errstr, size_t errsz) {
    bson_t cmd = BSON_INITIALIZER, reply;
    bson_error_t be;
    BSON_APPEND_INT32(&cmd, "hello", 1);
    bool ok = mongoc_client_command_simple(s->client, "admin", &cmd, NULL, &reply, &be);
    bson_destroy(&cmd);
    if (!ok) {
        bson_destroy(&reply);
        snprintf(errstr, errsz, "mongodb source: cannot reach the server of connection.uri: %s", be.message);
        return sl_ctx_error_code(s->ctx, code_of(&be));
    }
    bson_iter_t it;
    if (bson_iter_init_find(&it, &reply, "setName") && BSON_ITER_HOLDS_UTF8(&it))
        s->rs_name = sl_strdup(bson_iter_utf8(&it, NULL));
    bool mongos = bson_iter_init_find(&it, &reply, "msg") && BSON_ITER_HOLDS_UTF8(&it) &&
                  !strcmp(bson_iter_utf8(&it, NULL), "isdbgrid");
    bson_destroy(&reply);
    if (!s->rs_name && !mongos) {
        snprintf(errstr, errsz, "mongodb source: the server of connection.uri is a standalone server; change streams "
                                "need a replica set or a sharded cluster (start it with --replSet)");
        return sl_ctx_error_code(s->ctx, SL_E_CONFIG);
    }
    return 0;
}

static void set_partition(mongo_source *s) {
    sl_buf name, pj;
    sl_buf_init(&name);
    sl_buf_init(&pj);
    if (!blank(s->cf->partition_name)) {
        sl_buf_puts(&name, s->cf->partition_name);
    } else {
        sl_buf_printf(&name, "%s/%s", s->hosts, s->cf->database);
        if (!blank(s->cf->collection)) sl_buf_printf(&name, ".%s", s->cf->collection);
    }
    sl_buf_puts(&pj, "{\"ns\":");
    sl_buf_put_json_str(&pj, name.data, name.len);
    sl_buf_putc(&pj, '}');
    sl_ctx_set_partition(s->ctx, sl_buf_cstr(&pj));
    sl_buf_free(&name);
    sl_buf_free(&pj);
}

/* A JSON string field of the stored offset parsed as JSON into a new document, or NULL. */
static bson_t *json_field_doc(const bson_t *off, const char *name) {
    bson_iter_t it;
    bson_error_t be;
    if (!bson_iter_init_find(&it, off, name) || !BSON_ITER_HOLDS_UTF8(&it)) return NULL;
    return bson_new_from_json((const uint8_t *)bson_iter_utf8(&it, NULL), -1, &be);
}

/* A JSON string field of an offset given from outside: absent, or text that libbson reads as a document. */
static int check_json_text(const json_t *offset, const char *key, const char *what, char *errstr, size_t errsz) {
    const char *text;
    bson_error_t be;
    if (sl_jcheck_string(offset, "offset", key, false, &text, errstr, errsz) < 0) return -1;
    bson_t *doc = text ? bson_new_from_json((const uint8_t *)text, -1, &be) : NULL;
    if (text && !doc) return sl_jcheck_fail(offset, "offset", key, what, errstr, errsz);
    bson_destroy(doc);
    return 0;
}

/* check_offset: what offset_json writes (mongo-kafka's keys); other keys pass unchecked. Whether the resume
 * point is still in the oplog is for the change stream to see. */
static int ms_check_offset(const json_t *partition, const json_t *offset, char *errstr, size_t errsz) {
    static const char *const flags[] = {"copy", "HEARTBEAT", "startAfter"}; /* "true" or "false", as text */
    const char *ts;
    unsigned t, i;
    char end;
    if (sl_jcheck_string(partition, "partition", "ns", true, NULL, errstr, errsz) < 0 ||
        check_json_text(offset, "_id", "must be a resume token as JSON text (a string holding {\"_data\": ...})",
                        errstr, errsz) < 0 ||
        sl_jcheck_string(offset, "offset", "start_ts", false, &ts, errstr, errsz) < 0)
        return -1;
    if (ts && sscanf(ts, "%u,%u%c", &t, &i, &end) != 2)
        return sl_jcheck_fail(offset, "offset", "start_ts", "must be an operation time \"<seconds>,<increment>\"",
                              errstr, errsz);
    if (!json_is_string(json_object_get(offset, "_id")) && !ts && !json_object_get(offset, "copy"))
        return sl_jcheck_fail(offset, "offset", "_id", "must be a resume token as JSON text (or give start_ts, or "
                              "copy progress)", errstr, errsz);
    for (size_t k = 0; k < sizeof flags / sizeof *flags; k++) {
        const char *v;
        if (sl_jcheck_string(offset, "offset", flags[k], false, &v, errstr, errsz) < 0) return -1;
        if (v && strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
            return sl_jcheck_fail(offset, "offset", flags[k], "must be \"true\" or \"false\"", errstr, errsz);
    }
    if (sl_jcheck_string(offset, "offset", "copy_ns", false, NULL, errstr, errsz) < 0 ||
        sl_jcheck_bool(offset, "offset", "copyingData", false, errstr, errsz) < 0 ||
        check_json_text(offset, "copy_last_id", "must be the last copied _id as JSON text", errstr, errsz) < 0)
        return -1;
    return 0;
}

/* Reads the stored offset into the start position and copy progress. */
static int plan_start(mongo_source *s, char *errstr, size_t errsz) {
    const char *stored = sl_ctx_stored_offset(s->ctx);
    uint32_t t, i;
    if (!stored) {
        if (s->cf->startup_mode == SM_TIMESTAMP && parse_op_time(s->cf->start_at, &t, &i)) {
            s->start.has_ts = true, s->start.t = t, s->start.i = i;
            s->resuming = true;
        }
        s->copy_due = s->cf->startup_mode == SM_COPY;
        SL_INFO("mongo", "no stored offset: startup.mode=%s",
                s->cf->startup_mode == SM_COPY ? "copy_existing" : s->cf->startup_mode == SM_TIMESTAMP ? "timestamp"
                                                                                                       : "latest");
        return 0;
    }
    bson_error_t be;
    bson_t *off = bson_new_from_json((const uint8_t *)stored, -1, &be);
    if (!off) {
        snprintf(errstr, errsz, "mongodb source: the stored offset is not JSON: %s", be.message);
        return sl_ctx_error_code(s->ctx, SL_E_CONFIG);
    }
    bson_iter_t it;
    s->start.token = json_field_doc(off, "_id");
    if (bson_iter_init_find(&it, off, "_id") && !s->start.token) {
        bson_destroy(off);
        snprintf(errstr, errsz, "mongodb source: the stored offset's _id is not a resume token (JSON text): %s",
                 stored);
        return sl_ctx_error_code(s->ctx, SL_E_CONFIG);
    }
    if (bson_iter_init_find(&it, off, "start_ts") && BSON_ITER_HOLDS_UTF8(&it) &&
        sscanf(bson_iter_utf8(&it, NULL), "%" SCNu32 ",%" SCNu32, &t, &i) == 2)
        s->start.has_ts = true, s->start.t = t, s->start.i = i;
    if (bson_iter_init_find(&it, off, "copy") && BSON_ITER_HOLDS_UTF8(&it) &&
        !strcmp(bson_iter_utf8(&it, NULL), "true")) {
        s->copy_due = true;
        if (bson_iter_init_find(&it, off, "copy_ns") && BSON_ITER_HOLDS_UTF8(&it))
            s->copy_ns = sl_strdup(bson_iter_utf8(&it, NULL));
        s->copy_last = json_field_doc(off, "copy_last_id");
    }
    s->start_after = bson_iter_init_find(&it, off, "startAfter") && BSON_ITER_HOLDS_UTF8(&it) &&
                     !strcmp(bson_iter_utf8(&it, NULL), "true");
    s->resuming = s->start.token || s->start.has_ts;
    bson_destroy(off);
    SL_INFO("mongo", "resuming from the stored offset %s%s", stored, s->copy_due ? " (copy_existing in progress)" : "");
    return 0;
}

/* ---- the change stream ---- */

static void close_stream(mongo_source *s) {
    if (s->cs) mongoc_change_stream_destroy(s->cs);
    s->cs = NULL;
}

static const char *const fd_names[] = {"default", "updateLookup", "whenAvailable", "required"};
static const char *const fdb_names[] = {"default", "whenAvailable", "required", "off"};

/* Opens the change stream at s->start (token: resumeAfter/startAfter; time: startAtOperationTime; neither:
 * now). Errors of the initial aggregate are returned as they are. probe_only: copy_existing's look at the
 * resume point (not logged). */
static bool open_stream(mongo_source *s, bson_error_t *be, bool probe_only) {
    bson_t opts = BSON_INITIALIZER;
    if (s->cf->full_doc != FD_DEFAULT) BSON_APPEND_UTF8(&opts, "fullDocument", fd_names[s->cf->full_doc]);
    if (s->cf->full_doc_before == FDB_WHEN_AVAILABLE || s->cf->full_doc_before == FDB_REQUIRED)
        BSON_APPEND_UTF8(&opts, "fullDocumentBeforeChange", fdb_names[s->cf->full_doc_before]);
    BSON_APPEND_INT32(&opts, "batchSize", (int32_t)s->cf->batch_size);
    BSON_APPEND_INT64(&opts, "maxAwaitTimeMS", s->cf->await_ms < MAX_AWAIT_MS ? s->cf->await_ms : MAX_AWAIT_MS);
    if (s->start.token)
        BSON_APPEND_DOCUMENT(&opts, s->start_after ? "startAfter" : "resumeAfter", s->start.token);
    else if (s->start.has_ts)
        BSON_APPEND_TIMESTAMP(&opts, "startAtOperationTime", s->start.t, s->start.i);
    bson_t wrap = BSON_INITIALIZER;
    BSON_APPEND_ARRAY(&wrap, "pipeline", s->pipeline);
    if (!blank(s->cf->collection)) {
        mongoc_collection_t *c = mongoc_client_get_collection(s->client, s->cf->database, s->cf->collection);
        s->cs = mongoc_collection_watch(c, &wrap, &opts);
        mongoc_collection_destroy(c);
    } else if (!blank(s->cf->database)) {
        mongoc_database_t *d = mongoc_client_get_database(s->client, s->cf->database);
        s->cs = mongoc_database_watch(d, &wrap, &opts);
        mongoc_database_destroy(d);
    } else {
        s->cs = mongoc_client_watch(s->client, &wrap, &opts);
    }
    bson_destroy(&wrap);
    bson_destroy(&opts);
    if (mongoc_change_stream_error_document(s->cs, be, NULL)) {
        close_stream(s);
        return false;
    }
    if (!probe_only)
        SL_INFO("mongo", "change stream open on %s%s%s from %s", blank(s->cf->database) ? "the cluster" : s->cf->database,
            blank(s->cf->collection) ? "" : ".", s->cf->collection,
            s->start.token ? (s->start_after ? "startAfter the stored token" : "resumeAfter the stored token")
            : s->start.has_ts ? "an operation time" : "now (latest)");
    return true;
}

/* ---- copy_existing ---- */

/* The operation time to stream from after a copy when the server gives no resume token yet:
 * the reply's operationTime, else the local clock one second back (a few duplicate events at worst). */
static void copy_start_time(mongo_source *s, rpoint *p) {
    char err[512];
    if (!sl_mongo_operation_time(s->client, &p->t, &p->i, err, sizeof err) || (!p->t && !p->i)) {
        p->t = (uint32_t)(time(NULL) - 1);
        p->i = 0;
        SL_INFO("mongo", "copy_existing: the server reports no resume token or operationTime; the stream after the "
                "copy starts at the local clock minus 1 s (Timestamp(%" PRIu32 ", 0))", p->t);
    }
    p->has_ts = true;
}

/* Takes the resume point before copying: the new stream's (post-batch) resume token, else a time. */
static int copy_take_start(mongo_source *s) {
    bson_error_t be;
    rpoint_clear(&s->start);
    s->start_after = false;
    if (!open_stream(s, &be, true)) {
        if (retriable(&be)) {
            sl_ctx_retry(s->ctx, "copy_existing: opening the change stream: %s", be.message);
            return SL_RETRY;
        }
        fail(s, code_of(&be), "mongodb source: copy_existing: cannot open the change stream: %s", be.message);
        return -1;
    }
    const bson_t *tok = mongoc_change_stream_get_resume_token(s->cs);
    if (tok) s->start.token = bson_copy(tok);
    else copy_start_time(s, &s->start);
    close_stream(s);
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool ns_wanted(regex_t *rx, const char *ns) {
    regmatch_t m;
    if (!rx) return true;
    return regexec(rx, ns, 1, &m, 0) == 0 && m.rm_so == 0 && ns[m.rm_eo] == 0;
}

/* Namespaces to copy, sorted (the copy order, which the progress in the offset relies on). */
static int copy_namespaces(mongo_source *s, char ***out, int *n) {
    bson_error_t be;
    regex_t rx;
    bool has_rx = !blank(s->cf->copy_regex) && regcomp(&rx, s->cf->copy_regex, REG_EXTENDED) == 0;
    int cap = 16;
    char **list = sl_malloc(cap * sizeof *list);
    *n = 0;
    char **dbs = NULL;
    char *one[2] = {s->cf->database, NULL};
    if (blank(s->cf->database) && !(dbs = mongoc_client_get_database_names_with_opts(s->client, NULL, &be))) goto err;
    for (char **d = dbs ? dbs : one; *d; d++) {
        if (dbs && (!strcmp(*d, "admin") || !strcmp(*d, "local") || !strcmp(*d, "config"))) continue;
        char **colls = NULL, *c1[2] = {s->cf->collection, NULL};
        if (blank(s->cf->collection)) {
            mongoc_database_t *db = mongoc_client_get_database(s->client, *d);
            colls = mongoc_database_get_collection_names_with_opts(db, NULL, &be);
            mongoc_database_destroy(db);
            if (!colls) goto err;
        }
        for (char **c = colls ? colls : c1; *c && *n < COPY_LIST_MAX; c++) {
            if (!strncmp(*c, "system.", 7)) continue;
            size_t len = strlen(*d) + strlen(*c) + 2;
            char *ns = sl_malloc(len);
            snprintf(ns, len, "%s.%s", *d, *c);
            if (!ns_wanted(has_rx ? &rx : NULL, ns)) {
                sl_free(ns);
                continue;
            }
            if (*n == cap) list = sl_realloc(list, (size_t)(cap *= 2) * sizeof *list);
            list[(*n)++] = ns;
        }
        bson_strfreev(colls);
    }
    bson_strfreev(dbs);
    if (has_rx) regfree(&rx);
    qsort(list, (size_t)*n, sizeof *list, cmp_str);
    *out = list;
    return 0;
err:
    bson_strfreev(dbs);
    if (has_rx) regfree(&rx);
    for (int i = 0; i < *n; i++) sl_free(list[i]);
    sl_free(list);
    if (retriable(&be)) {
        sl_ctx_retry(s->ctx, "copy_existing: listing collections: %s", be.message);
        return SL_RETRY;
    }
    fail(s, code_of(&be), "mongodb source: copy_existing: cannot list the collections to copy: %s", be.message);
    return -1;
}

/*
 * The copy's ranges follow MongoDB's order of all values (the order of a sort on _id), but a comparison operator
 * matches only values of its operand's type bracket ({_id: {$gt: 5}} matches no string). So "after v" is
 * $gt v or any type of a later bracket, and "up to u" is $lte u or any type of an earlier one. The brackets in
 * order; deprecated types (undefined, DBPointer, code, symbol) are left out of the $type lists.
 */
static int id_bracket(bson_type_t t) {
    switch (t) {
    case BSON_TYPE_MINKEY: return 0;
    case BSON_TYPE_UNDEFINED: case BSON_TYPE_NULL: return 1;
    case BSON_TYPE_DOUBLE: case BSON_TYPE_INT32: case BSON_TYPE_INT64: case BSON_TYPE_DECIMAL128: return 2;
    case BSON_TYPE_UTF8: case BSON_TYPE_SYMBOL: return 3;
    case BSON_TYPE_DOCUMENT: return 4;
    case BSON_TYPE_ARRAY: return 5;
    case BSON_TYPE_BINARY: return 6;
    case BSON_TYPE_OID: return 7;
    case BSON_TYPE_BOOL: return 8;
    case BSON_TYPE_DATE_TIME: return 9;
    case BSON_TYPE_TIMESTAMP: return 10;
    case BSON_TYPE_REGEX: return 11;
    case BSON_TYPE_DBPOINTER: return 12;
    case BSON_TYPE_CODE: return 13;
    case BSON_TYPE_CODEWSCOPE: return 14;
    default: return 15; /* MAXKEY */
    }
}

/* $type numbers of each bracket (0-terminated; MinKey is -1) */
static const int bracket_types[16][5] = {{-1}, {10}, {1, 16, 18, 19}, {2}, {3}, {4}, {5}, {7},
                                         {8},  {9},  {17},              {11}, {0}, {0}, {0}, {127}};

/* Appends as key k of dst {"$or": [{_id: {op: v}}, {_id: {$type: [the types of the brackets after v's (later) or
 * before it]}}]}, or {_id: {op: v}} when no bracket is on that side. */
static void id_cond(bson_t *dst, const char *k, bson_iter_t *v, const char *op, bool later) {
    int b = id_bracket(bson_iter_type(v)), types[32], n = 0;
    for (int x = later ? b + 1 : 0; x < (later ? 16 : b); x++)
        for (int i = 0; i < 5 && bracket_types[x][i]; i++) types[n++] = bracket_types[x][i];
    bson_t c, or, o, id, arr;
    BSON_APPEND_DOCUMENT_BEGIN(dst, k, &c);
    if (n) {
        BSON_APPEND_ARRAY_BEGIN(&c, "$or", &or);
        BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &o);
    }
    bson_t *cmp = n ? &o : &c;
    BSON_APPEND_DOCUMENT_BEGIN(cmp, "_id", &id);
    bson_append_iter(&id, op, -1, v);
    bson_append_document_end(cmp, &id);
    if (n) {
        bson_append_document_end(&or, &o);
        BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &o);
        BSON_APPEND_DOCUMENT_BEGIN(&o, "_id", &id);
        BSON_APPEND_ARRAY_BEGIN(&id, "$type", &arr);
        for (int i = 0; i < n; i++) {
            char ik[16];
            snprintf(ik, sizeof ik, "%d", i);
            BSON_APPEND_INT32(&arr, ik, types[i]);
        }
        bson_append_array_end(&id, &arr);
        bson_append_document_end(&o, &id);
        bson_append_document_end(&or, &o);
        bson_append_array_end(&c, &or);
    }
    bson_append_document_end(dst, &c);
}

/* The filter of the _id range (after last's _id, up to upper's; either may be NULL) into filter (empty). */
static void id_range_filter(bson_t *filter, const bson_t *last, const bson_t *upper) {
    bson_iter_t lo, hi;
    bool has_lo = last && bson_iter_init_find(&lo, last, "_id");
    bool has_hi = upper && bson_iter_init_find(&hi, upper, "_id");
    if (!has_lo && !has_hi) return;
    bson_t and;
    BSON_APPEND_ARRAY_BEGIN(filter, "$and", &and);
    int n = 0;
    if (has_lo) id_cond(&and, n++ ? "1" : "0", &lo, "$gt", true);
    if (has_hi) id_cond(&and, n++ ? "1" : "0", &hi, "$lte", false);
    bson_append_array_end(filter, &and);
}

/* The cursor of one chunk: documents with _id > last (NULL: from the first), in _id order, up to upper inclusive
 * when given, else at most batch_size when limit (before the copy pipeline, which runs after the chunk's
 * $limit). */
static mongoc_cursor_t *chunk_cursor(mongo_source *s, mongoc_collection_t *c, const bson_t *last,
                                     const bson_t *upper, bool limit) {
    bson_t pipe = BSON_INITIALIZER, st, m, opts = BSON_INITIALIZER;
    char k[16];
    int n = 0;
    bson_iter_t it;
    bson_t filter = BSON_INITIALIZER;
    id_range_filter(&filter, last, upper);
    if (!bson_empty(&filter)) {
        snprintf(k, sizeof k, "%d", n++);
        BSON_APPEND_DOCUMENT_BEGIN(&pipe, k, &st);
        BSON_APPEND_DOCUMENT(&st, "$match", &filter);
        bson_append_document_end(&pipe, &st);
    }
    bson_destroy(&filter);
    snprintf(k, sizeof k, "%d", n++);
    BSON_APPEND_DOCUMENT_BEGIN(&pipe, k, &st);
    BSON_APPEND_DOCUMENT_BEGIN(&st, "$sort", &m);
    BSON_APPEND_INT32(&m, "_id", 1);
    bson_append_document_end(&st, &m);
    bson_append_document_end(&pipe, &st);
    if (limit && !upper) {
        snprintf(k, sizeof k, "%d", n++);
        BSON_APPEND_DOCUMENT_BEGIN(&pipe, k, &st);
        BSON_APPEND_INT64(&st, "$limit", s->cf->batch_size);
        bson_append_document_end(&pipe, &st);
    }
    bson_iter_init(&it, s->copy_pipeline);
    while (bson_iter_next(&it)) {
        snprintf(k, sizeof k, "%d", n++);
        bson_append_iter(&pipe, k, -1, &it);
    }
    if (s->cf->copy_disk) BSON_APPEND_BOOL(&opts, "allowDiskUse", true);
    BSON_APPEND_INT32(&opts, "batchSize", (int32_t)s->cf->batch_size);
    mongoc_cursor_t *cur = mongoc_collection_aggregate(c, MONGOC_QUERY_NONE, &pipe, &opts, NULL);
    bson_destroy(&pipe);
    bson_destroy(&opts);
    return cur;
}

/* The _id of the chunk's last scanned document (the batch_size-th after last), NULL at the end. The copy
 * pipeline may drop documents, so the chunk's output alone cannot tell. */
static bson_t *chunk_end(mongo_source *s, mongoc_collection_t *c, const bson_t *last, bson_error_t *be, bool *err) {
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort, proj;
    *err = false;
    id_range_filter(&filter, last, NULL);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(&opts, &sort);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "_id", 1);
    bson_append_document_end(&opts, &proj);
    BSON_APPEND_INT64(&opts, "skip", s->cf->batch_size - 1);
    BSON_APPEND_INT64(&opts, "limit", 1);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &filter, &opts, NULL);
    const bson_t *d;
    bson_t *out = NULL;
    if (mongoc_cursor_next(cur, &d)) out = bson_copy(d);
    else if (mongoc_cursor_error(cur, be)) *err = true;
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    bson_destroy(&opts);
    return out;
}

static bson_t *id_doc(const bson_t *doc) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "_id")) return NULL;
    bson_t *out = bson_new();
    bson_append_iter(out, "_id", 3, &it);
    return out;
}

/* ---- copy_existing in parallel (startup.mode.copy.existing.max.threads > 1) ----
 *
 * A collection is cut into ranges of batch_size documents in _id order. The reader of range k first finds where
 * it ends (the batch_size-th _id after its start, as chunk_end finds it) and adds range k+1 from there, then reads
 * its own documents ($gt its start, $lte its end, sorted, then the copy pipeline) into blocks of raw BSON. The
 * source thread encodes the ranges in order (util/ranges), so the events, their order and the progress in the
 * offset (the end of each range) are those of the one-cursor copy. Each reader has a client of its own.
 */

typedef struct copy_reader {
    mongoc_client_t *client;
    bson_error_t be; /* its failure, when failed */
    bool failed;
} copy_reader;

typedef struct copy_job {
    mongo_source *s;
    const char *db, *coll;
    const bson_t *first; /* {"_id": v}: the copy resumes after v; NULL: from the first document */
} copy_job;

static void bson_free_arg(void *b) { bson_destroy(b); }

static int copy_range(void *reader, void *jp, int k, void *arg, sl_range_out *o) {
    copy_reader *r = reader;
    const copy_job *j = jp;
    const bson_t *lo = k == 0 ? j->first : arg;
    mongoc_collection_t *c = mongoc_client_get_collection(r->client, j->db, j->coll);
    bool qerr;
    bson_t *hi = chunk_end(j->s, c, lo, &r->be, &qerr);
    int rc = 0;
    if (qerr) {
        r->failed = true;
        rc = sl_range_fail(o, "%s", r->be.message);
    } else {
        if (hi) sl_range_add(o, hi); /* the job's from here on, until its end */
        else sl_range_last(o);
        mongoc_cursor_t *cur = chunk_cursor(j->s, c, lo, hi, false);
        const bson_t *d;
        while (mongoc_cursor_next(cur, &d)) {
            char *at = sl_range_room(o, d->len);
            if (!at) {
                rc = -1; /* stopping */
                break;
            }
            memcpy(at, bson_get_data(d), d->len);
        }
        if (rc == 0 && mongoc_cursor_error(cur, &r->be)) {
            r->failed = true;
            rc = sl_range_fail(o, "%s", r->be.message);
        }
        mongoc_cursor_destroy(cur);
    }
    mongoc_collection_destroy(c);
    return rc;
}

static void copy_readers_end(mongo_source *s) {
    sl_ranges_end(s->copy_rg);
    s->copy_rg = NULL;
    for (int i = 0; i < s->copy_nreaders; i++)
        if (s->copy_readers[i].client) mongoc_client_destroy(s->copy_readers[i].client);
    sl_free(s->copy_readers);
    s->copy_readers = NULL;
    s->copy_nreaders = 0;
}

static int copy_readers_start(mongo_source *s) {
    int n = (int)s->cf->copy_threads;
    char err[512];
    s->copy_readers = sl_calloc((size_t)n, sizeof *s->copy_readers);
    s->copy_nreaders = n;
    void **rs = sl_calloc((size_t)n, sizeof *rs);
    for (int i = 0; i < n; i++) {
        if (!(s->copy_readers[i].client = sl_mongo_client_new(s->cf->uri, "sluice-copy", false, NULL, err, sizeof err))) {
            sl_free(rs);
            copy_readers_end(s);
            fail(s, SL_E_CONFIG, "mongodb source: copy_existing: %s", err);
            return -1;
        }
        rs[i] = &s->copy_readers[i];
    }
    s->copy_rg = sl_ranges_start(n, rs, copy_range, "sl-copy-read");
    sl_free(rs);
    if (!s->copy_rg) {
        copy_readers_end(s);
        fail(s, SL_E_INTERNAL, "mongodb source: copy_existing: cannot start a reader thread");
        return -1;
    }
    return 0;
}

/* copy_one through the readers. */
static int copy_one_parallel(mongo_source *s, const char *ns, const char *db, const char *coll, bson_t *last) {
    copy_job j = {.s = s, .db = db, .coll = coll, .first = last};
    sl_ranges *rg = s->copy_rg;
    sl_ranges_job(rg, &j, 1, true, bson_free_arg);
    const bson_t *upto = last; /* the progress: the end of the last range taken */
    int64_t done = 0;
    int rc = 0;
    char err[512];
    for (int k = 0; rc == 0; k++) {
        const char *data;
        size_t len;
        int t;
        while (rc == 0 && (t = sl_ranges_take(rg, k, &data, &len)) == 1) {
            for (size_t at = 0; at + 4 <= len && rc == 0;) {
                uint32_t dl;
                memcpy(&dl, data + at, 4);
                dl = BSON_UINT32_FROM_LE(dl);
                s->eo.now_ms = sl_wall_us() / 1000;
                if (encode(s, (const uint8_t *)data + at, dl, true, db, coll, err, sizeof err) < 0) {
                    fail(s, SL_E_PROTOCOL, "mongodb source: copy_existing %s: %s", ns, err);
                    rc = -1;
                    break;
                }
                if (!s->ev.skip) add_event(s, &s->ev, true);
                at += dl;
                done++;
            }
        }
        if (rc != 0) break;
        if (t < 0) { /* a reader failed (or the readers stopped) */
            sl_ranges_stop(rg);
            rc = -1;
            for (int i = 0; i < s->copy_nreaders; i++) {
                copy_reader *r = &s->copy_readers[i];
                if (!r->failed) continue;
                if (retriable(&r->be)) {
                    sl_ctx_retry(s->ctx, "copy_existing %s: %s", ns, r->be.message);
                    rc = SL_RETRY;
                } else {
                    fail(s, code_of(&r->be), "mongodb source: copy_existing %s: %s", ns, r->be.message);
                }
                break;
            }
            if (rc == -1 && !s->failed) fail(s, SL_E_INTERNAL, "mongodb source: copy_existing %s: %s", ns,
                                             sl_ranges_error(rg)[0] ? sl_ranges_error(rg) : "the readers stopped");
            break;
        }
        /* range k is done; range k+1 (added before k was read) starts after its end, or k was the last */
        const bson_t *next = sl_ranges_arg(rg, k + 1);
        if (next) upto = next;
        offset_json(s, &s->start, ns, upto, false, &s->off);
        set_offset(s, sl_buf_cstr(&s->off));
        sl_ctx_snapshot_progress(s->ctx, ns, done, -1, !next);
        if (emit(s) < 0 || !next) break;
    }
    if (rc != 0 || sl_ctx_stopping(s->ctx)) sl_ranges_stop(rg); /* the readers leave the job before it goes */
    if (last) bson_destroy(last);
    if (rc == 0) SL_INFO("mongo", "copy_existing: %s copied (%" PRId64 " documents this run)", ns, done);
    return rc;
}

/* Copies one namespace from after `last` (owned, may be NULL). Returns 0, -1, SL_RETRY. */
static int copy_one(mongo_source *s, const char *ns, bson_t *last) {
    const char *dot = strchr(ns, '.');
    char db[256];
    snprintf(db, sizeof db, "%.*s", (int)(dot - ns), ns);
    const char *coll = dot + 1;
    if (s->copy_rg) return copy_one_parallel(s, ns, db, coll, last);
    mongoc_collection_t *c = mongoc_client_get_collection(s->client, db, coll);
    bool has_pipe = !bson_empty(s->copy_pipeline);
    int64_t done = 0;
    int rc = 0;
    char err[512];
    bson_error_t be;
    for (;;) {
        if (sl_ctx_stopping(s->ctx)) break;
        mongoc_cursor_t *cur = chunk_cursor(s, c, last, NULL, true);
        const bson_t *d;
        int got = 0;
        bson_t *next_last = NULL;
        while (mongoc_cursor_next(cur, &d)) {
            got++;
            s->eo.now_ms = sl_wall_us() / 1000;
            if (encode(s, bson_get_data(d), d->len, true, db, coll, err, sizeof err) < 0) {
                fail(s, SL_E_PROTOCOL, "mongodb source: copy_existing %s: %s", ns, err);
                rc = -1;
                break;
            }
            if (!has_pipe) {
                if (next_last) bson_destroy(next_last);
                next_last = id_doc(d);
                if (!next_last) {
                    fail(s, SL_E_PROTOCOL, "mongodb source: copy_existing %s: a document without _id", ns);
                    rc = -1;
                    break;
                }
            }
            if (!s->ev.skip) add_event(s, &s->ev, true);
        }
        if (rc == 0 && mongoc_cursor_error(cur, &be)) rc = retriable(&be) ? SL_RETRY : -1;
        mongoc_cursor_destroy(cur);
        bool end;
        if (rc == 0 && has_pipe) {
            bool qerr;
            next_last = chunk_end(s, c, last, &be, &qerr);
            if (qerr) rc = retriable(&be) ? SL_RETRY : -1;
            end = !next_last;
        } else {
            end = got < s->cf->batch_size;
        }
        if (rc != 0) {
            if (next_last) bson_destroy(next_last);
            if (rc == SL_RETRY) sl_ctx_retry(s->ctx, "copy_existing %s: %s", ns, be.message);
            else if (!s->failed) fail(s, code_of(&be), "mongodb source: copy_existing %s: %s", ns, be.message);
            break;
        }
        done += got;
        if (next_last) {
            if (last) bson_destroy(last);
            last = next_last;
        }
        /* The chunk's offset: this namespace up to `last` (a crash resumes after it). */
        offset_json(s, &s->start, ns, last, false, &s->off);
        set_offset(s, sl_buf_cstr(&s->off));
        sl_ctx_snapshot_progress(s->ctx, ns, done, -1, end);
        if (emit(s) < 0) break;
        if (end) break;
    }
    if (last) bson_destroy(last);
    mongoc_collection_destroy(c);
    if (rc == 0) SL_INFO("mongo", "copy_existing: %s copied (%" PRId64 " documents this run)", ns, done);
    return rc;
}

#define COPY_STOPPED 2 /* not 0, -1 or SL_RETRY */
static int copy_phase(mongo_source *s) {
    int rc;
    sl_ctx_set_source_state(s->ctx, SL_SRC_SNAPSHOTTING);
    if (!s->copy_ns) { /* a fresh copy: take the resume point first */
        if ((rc = copy_take_start(s)) != 0) return rc;
    }
    char **list;
    int n;
    if ((rc = copy_namespaces(s, &list, &n)) != 0) return rc;
    SL_INFO("mongo", "copy_existing: %d namespace(s) to copy%s%s%s", n, s->copy_ns ? ", resuming at " : "",
            s->copy_ns ? s->copy_ns : "", s->cf->copy_threads > 1 ? " (in ranges, by several readers)" : "");
    if (n > 0 && s->cf->copy_threads > 1) rc = copy_readers_start(s);
    for (int i = 0; i < n && rc == 0; i++) {
        int c = s->copy_ns ? strcmp(list[i], s->copy_ns) : 1;
        if (c < 0) continue; /* copied before the restart */
        bson_t *last = c == 0 && s->copy_last ? bson_copy(s->copy_last) : NULL;
        rc = copy_one(s, list[i], last);
        if (sl_ctx_stopping(s->ctx) && rc == 0) rc = COPY_STOPPED;
    }
    copy_readers_end(s);
    for (int i = 0; i < n; i++) sl_free(list[i]);
    sl_free(list);
    if (rc == COPY_STOPPED) return 0; /* stopped during the copy: the offset says where to go on */
    if (rc != 0) return rc;
    /* Done: from here on the offset is the stream's resume point. */
    s->copy_due = false;
    sl_free(s->copy_ns);
    s->copy_ns = NULL;
    if (s->copy_last) bson_destroy(s->copy_last);
    s->copy_last = NULL;
    s->resuming = true;
    offset_json(s, &s->start, NULL, NULL, false, &s->off);
    set_offset(s, sl_buf_cstr(&s->off));
    SL_INFO("mongo", "copy_existing finished; streaming from the point taken before the copy");
    emit(s); /* < 0 only when stopping: the loop ends */
    return 0;
}

/* ---- streaming ---- */

/* The handling of a change stream error. Returns SL_RETRY, -1 (failed), or 0 to go on (stream reset). */
static int stream_error(mongo_source *s, const bson_error_t *be) {
    sl_maction a = sl_mongo_error_action(be->domain, be->code, be->message, s->resuming,
                                         (sl_mlost_policy)s->cf->lost_policy);
    close_stream(s);
    switch (a) {
    case SL_MACT_RETRY: sl_ctx_retry(s->ctx, "change stream: %s", be->message); return SL_RETRY;
    case SL_MACT_FAIL:
        fail(s, code_of(be), "mongodb source: change stream failed: %s (code %u)", be->message, be->code);
        return -1;
    case SL_MACT_LOST_FAIL:
        fail(s, SL_E_POSITION_LOST, "mongodb source: the stored resume point is no longer in the oplog (%s, code %u): changes were "
             "lost. Set change.stream.history.lost.policy=copy_existing to copy the data again, or =latest to "
             "continue with new changes only, or reset the offsets (sluice offsets reset)",
             be->message, be->code);
        return -1;
    case SL_MACT_LOST_LATEST:
        SL_WARN("mongo", "CHANGES LOST: the stored resume point is no longer in the oplog (%s, code %u); "
                "change.stream.history.lost.policy=latest: continuing with new changes only, everything in "
                "between is missing downstream", be->message, be->code);
        rpoint_clear(&s->start);
        s->resuming = false;
        return 0;
    case SL_MACT_LOST_COPY:
        SL_WARN("mongo", "the stored resume point is no longer in the oplog (%s, code %u); "
                "change.stream.history.lost.policy=copy_existing: copying every document again, then streaming",
                be->message, be->code);
        rpoint_clear(&s->start);
        s->copy_due = true;
        sl_free(s->copy_ns);
        s->copy_ns = NULL;
        return 0;
    }
    return -1;
}

/* Hands on the batch with the last event's token as its offset. */
static int emit_with_token(mongo_source *s, const bson_t *tok) {
    if (tok) {
        rpoint p = {(bson_t *)tok, 0, 0, false};
        offset_json(s, &p, NULL, NULL, false, &s->off);
        set_offset(s, sl_buf_cstr(&s->off));
        token_json(tok, &s->scratch);
        sl_buf_reset(&s->last_token);
        sl_buf_put(&s->last_token, s->scratch.data, s->scratch.len);
        sl_buf_cstr(&s->last_token);
    }
    return emit(s);
}

static bool same_json(sl_buf *a, const char *b, size_t n) { return a->len == n && memcmp(a->data, b, n) == 0; }

/* Idle: the post-batch token as an offset-only batch; a heartbeat record when due. */
static int idle(mongo_source *s) {
    const bson_t *tok = mongoc_change_stream_get_resume_token(s->cs);
    if (!tok) return 0;
    int64_t now = sl_mono_ms();
    token_json(tok, &s->scratch);
    bool moved = !same_json(&s->last_token, s->scratch.data, s->scratch.len);
    if (!s->debezium && s->cf->hb_ms > 0 && now - s->last_hb_ms >= s->cf->hb_ms) {
        s->last_hb_ms = now;
        if (!same_json(&s->hb_token, s->scratch.data, s->scratch.len)) {
            sl_buf_reset(&s->hb_token);
            sl_buf_put(&s->hb_token, s->scratch.data, s->scratch.len);
            sl_mevent *ev = &s->ev;
            sl_buf_reset(&ev->topic), sl_buf_reset(&ev->key), sl_buf_reset(&ev->value), sl_buf_reset(&ev->token);
            sl_buf_puts(&ev->topic, s->cf->hb_topic);
            sl_buf_put_json_str(&ev->key, s->hb_token.data, s->hb_token.len);
            ev->tombstone = true;
            ev->op = SL_OP_HEARTBEAT;
            ev->ts_us = sl_wall_us();
            add_event(s, ev, false);
            ev->tombstone = false;
            rpoint p = {(bson_t *)tok, 0, 0, false};
            offset_json(s, &p, NULL, NULL, true, &s->off);
            set_offset(s, sl_buf_cstr(&s->off));
            sl_buf_reset(&s->last_token);
            sl_buf_put(&s->last_token, s->hb_token.data, s->hb_token.len);
            SL_DEBUG("mongo", "heartbeat token=%s", sl_buf_cstr(&s->hb_token));
            return emit(s);
        }
    }
    if (moved && now - s->last_idle_offset_ms >= IDLE_OFFSET_EVERY_MS) {
        s->last_idle_offset_ms = now;
        return emit_with_token(s, tok);
    }
    return 0;
}

static int on_event(mongo_source *s, const bson_t *doc) {
    char err[512];
    if (s->echo.origins && *s->echo.origins && sl_mecho_skip(&s->echo, doc)) {
        SL_DEBUG("mongo", "a write of a skipped origin left out (%" PRIu64 " so far)", s->echo.skipped);
        return 0;
    }
    s->eo.now_ms = sl_wall_us() / 1000;
    if (encode(s, bson_get_data(doc), doc->len, false, NULL, NULL, err, sizeof err) < 0) {
        fail(s, SL_E_PROTOCOL, "mongodb source: %s", err);
        return -1;
    }
    if (!s->ev.skip) add_event(s, &s->ev, false);
    if (s->ev.invalidate) {
        /* The stream has ended (collection dropped or renamed, database dropped): start a new one after it. */
        bson_iter_t it;
        uint32_t len;
        const uint8_t *data;
        rpoint_clear(&s->start);
        if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_iter_document(&it, &len, &data);
            s->start.token = bson_new_from_data(data, len);
        }
        s->start_after = true;
        s->resuming = true;
        SL_WARN("mongo", "the change stream was invalidated (collection or database dropped or renamed); "
                "opening a new one after the invalidate event");
        /* A stream cannot resumeAfter an invalidate: the offset says startAfter. */
        offset_json(s, &s->start, NULL, NULL, false, &s->off);
        s->off.len--; /* the closing brace */
        sl_buf_puts(&s->off, s->off.len > 1 ? ",\"startAfter\":\"true\"}" : "\"startAfter\":\"true\"}");
        set_offset(s, sl_buf_cstr(&s->off));
        if (emit(s) < 0) return -1;
        close_stream(s);
    }
    return 0;
}

static int stream_loop(mongo_source *s) {
    const sl_core_conf *core = sl_ctx_core(s->ctx);
    bson_error_t be;
    while (!sl_ctx_stopping(s->ctx)) {
        if (s->copy_due) {
            int rc = copy_phase(s);
            if (rc != 0 || s->copy_due) return rc; /* copy_due still set: stopped mid-copy */
        }
        if (!s->cs) {
            if (!open_stream(s, &be, false)) {
                int rc = stream_error(s, &be);
                if (rc != 0) return rc;
                continue;
            }
            sl_ctx_set_source_state(s->ctx, SL_SRC_STREAMING);
        }
        const bson_t *doc;
        int64_t t0 = sl_mono_ms();
        if (mongoc_change_stream_next(s->cs, &doc)) {
            if (on_event(s, doc) < 0) return -1;
            if (!s->cs) continue; /* invalidated */
            if (s->batch->n >= core->max_batch_size || sl_mono_ms() - s->batch_started >= core->poll_interval_ms) {
                if (emit_with_token(s, mongoc_change_stream_get_resume_token(s->cs)) < 0) break;
            }
            continue;
        }
        const bson_t *reply;
        if (mongoc_change_stream_error_document(s->cs, &be, &reply)) {
            /* Records read so far are fine: hand them on first. */
            if (s->batch->n && emit_with_token(s, NULL) < 0) break;
            int rc = stream_error(s, &be);
            if (rc != 0) return rc;
            continue;
        }
        /* Nothing more right now. */
        if (s->batch->n && emit_with_token(s, mongoc_change_stream_get_resume_token(s->cs)) < 0) break;
        if (idle(s) < 0) break;
        if (sl_mono_ms() - t0 < 10) { /* the server answered at once (maxAwaitTimeMS ignored): pace the loop */
            int64_t w = s->cf->await_ms < IDLE_SLEEP_MS ? s->cf->await_ms : IDLE_SLEEP_MS;
            struct timespec ts = {0, (long)w * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (s->failed) return -1;
    if (s->batch->n) emit_with_token(s, s->cs ? mongoc_change_stream_get_resume_token(s->cs) : NULL);
    return 0;
}

static int ms_run(void *src) {
    mongo_source *s = src;
    int rc = stream_loop(s);
    return s->failed ? -1 : rc;
}

/* ---- open / close ---- */

static int ms_open(void **out, void *settings, sl_ctx *ctx, char *errstr, size_t errsz) {
    ms_conf *cf = settings;
    char why[256];
    sl_mongo_init();
    mongo_source *s = sl_calloc(1, sizeof *s);
    *out = s; /* close() frees a half-opened source */
    s->cf = cf;
    s->echo.origins = cf->skipped_origins;
    s->ctx = ctx;
    s->batch = sl_batch_new();
    s->seq = (uint64_t)sl_wall_us(); /* offset_seq stays monotonic across reopens in one process */
    sl_mevent_init(&s->ev);
    sl_mevent_init(&s->ev_bson);
    sl_buf_init(&s->last_token), sl_buf_init(&s->hb_token), sl_buf_init(&s->scratch), sl_buf_init(&s->off);
    const char *cls = sl_ctx_core(ctx)->connector_class;
    s->debezium = cls && !strcmp(cls, DEBEZIUM_CLASS);
    /* mongo-kafka's heartbeats (heartbeat.topic.name) replace Debezium's, which the runtime writes otherwise */
    if (!s->debezium) sl_ctx_own_heartbeats(ctx);
    if (!parse_pipeline(cf->pipeline, &s->pipeline) || !parse_pipeline(cf->copy_pipeline, &s->copy_pipeline)) {
        snprintf(errstr, errsz, "pipeline: not a JSON array of stages");
        return sl_ctx_error_code(ctx, SL_E_CONFIG);
    }
    if (!blank(cf->ns_map) && !(s->ns_map = ms_parse_ns_map(cf->ns_map, why, sizeof why))) {
        snprintf(errstr, errsz, "topic.namespace.map: %s", why);
        return sl_ctx_error_code(ctx, SL_E_CONFIG);
    }
    if (!(s->client = sl_mongo_client_new(cf->uri, "sluice-source", false, &s->hosts, errstr, errsz)))
        return sl_ctx_error_code(ctx, SL_E_CONFIG); /* connection.uri */
    set_partition(s);
    int rc = probe(s, errstr, errsz);
    if (rc != 0) return rc;
    static const sl_mjson_mode fmts[] = {SL_MJSON_DEFAULT, SL_MJSON_EXTENDED, SL_MJSON_SIMPLIFIED};
    s->eo.fmt = fmts[cf->formatter % 3];
    s->eo.debezium = s->debezium;
    s->eo.full_doc_only = cf->full_doc_only;
    s->eo.tombstone_on_delete = cf->tombstone_on_delete;
    s->eo.doc_key_as_key = cf->doc_key_as_key;
    s->eo.prefix = cf->topic_prefix;
    s->eo.suffix = cf->topic_suffix;
    s->eo.sep = blank(cf->topic_sep) ? "." : cf->topic_sep;
    s->eo.ns_map = s->ns_map;
    s->eo.def_db = cf->database;
    s->eo.def_coll = cf->collection;
    s->eo.server_name = cf->topic_prefix;
    s->eo.rs_name = s->rs_name;
    const sl_dbz_opts *dbz = sl_ctx_dbz(ctx);
    s->eo.version = dbz->version;
    s->key_env = dbz->key_schemas;
    s->value_env = dbz->value_schemas;
    if ((cf->out_key == OF_SCHEMA && !(s->key_schema = sl_mschema_from_avro(cf->schema_key, why, sizeof why))) ||
        (cf->out_value == OF_SCHEMA && !cf->schema_infer &&
         !(s->value_schema = sl_mschema_from_avro(cf->schema_value, why, sizeof why)))) {
        snprintf(errstr, errsz, "output.schema: %s", why);
        return sl_ctx_error_code(ctx, SL_E_CONFIG);
    }
    return plan_start(s, errstr, errsz);
}

static void ms_close(void *src) {
    mongo_source *s = src;
    if (!s) return;
    close_stream(s);
    if (s->client) mongoc_client_destroy(s->client);
    if (s->pipeline) bson_destroy(s->pipeline);
    if (s->copy_pipeline) bson_destroy(s->copy_pipeline);
    if (s->ns_map) bson_destroy(s->ns_map);
    if (s->copy_last) bson_destroy(s->copy_last);
    rpoint_clear(&s->start);
    sl_batch_destroy(s->batch);
    sl_mevent_free(&s->ev);
    sl_mevent_free(&s->ev_bson);
    sl_mschema_free(s->key_schema);
    sl_mschema_free(s->value_schema);
    sl_buf_free(&s->last_token), sl_buf_free(&s->hb_token), sl_buf_free(&s->scratch), sl_buf_free(&s->off);
    sl_mecho_free(&s->echo);
    sl_free(s->copy_ns);
    sl_free(s->hosts);
    sl_free(s->rs_name);
    sl_free(s);
}

/* The records come encoded (sl_record.raw); source.connector names the source all the same. */
static void ms_describe(const void *settings, sl_dbz_opts *o) {
    (void)settings;
    o->connector = "mongodb";
}

const sl_source_ops sl_mongo_source_ops = {
    "mongodb",
    "com.mongodb.kafka.connect.MongoSourceConnector|" DEBEZIUM_CLASS,
    "MongoDB change streams (libmongoc), published like the MongoDB Kafka source connector (mongo-kafka) or, "
    "under Debezium's class name, like Debezium's MongoDB connector; copy_existing, resume tokens as offsets, "
    "heartbeats.",
    ms_props,
    sizeof(ms_conf),
    ms_check,
    ms_open,
    ms_run,
    ms_close,
    ms_check_offset,
    .describe = ms_describe,
    .check_sink = ms_check_sink,
    .ejson_values = true,
    .verify_open = ms_verify_open,
    .position_passed = ms_position_passed,
};
