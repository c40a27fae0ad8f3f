/*
 * MongoDB sink (first version): applies change events to MongoDB collections
 * the way the MongoDB Kafka sink connector's Debezium RDBMS CDC handler
 * (RdbmsHandler) does, so that a collection mirrors its source table:
 *
 *   key struct K (payload), envelope op c/r/u:
 *       ReplaceOne({_id: K}, {_id: K, <after fields not in K>}, upsert)
 *   op d:  DeleteOne({_id: K})
 *   no key columns: c/r get {_id: new ObjectId}; u/d use the `before`
 *   document as the filter (needs REPLICA IDENTITY FULL)
 *   tombstones, op m, heartbeats, transaction records: skipped
 *   op t (truncate): not supported, an error (RdbmsHandler has no mapping)
 *
 * Pre-encoded records from the Kafka source are handled the same way when the
 * value is a Debezium envelope; any other JSON object is written as is
 * (ReplaceOne by its _id with upsert, InsertOne without one), and a null value
 * deletes by key only with delete.on.null.values.
 *
 * Events are encoded with the Debezium JSON encoder (schemas off) and parsed
 * by libbson, so every type maps as Debezium's JSON does. write() appends the
 * models to ordered bulk operations, a new one whenever the target collection
 * changes, so per-key order is kept; flush() executes them in order with the
 * URI's write concern (acknowledged at least) and returns only once the
 * server acknowledged every one: only then does the runtime commit the offset.
 *
 * Thread: open() on the starting thread, the rest on the sink thread; the
 * mongoc client is used by one thread at a time.
 */
#include "core/connector.h"
#include "core/log.h"
#include "util/buf.h"
#include "util/mem.h"
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct mongo_conf {
    char *uri;
    char *database;
    char *collection;
    bool delete_on_null;
} mongo_conf;

/* One ordered bulk write to one collection: a run of consecutive records. */
typedef struct mongo_run {
    char *coll;
    mongoc_bulk_operation_t *bulk;
    size_t n;
} mongo_run;

typedef struct mongo_sink {
    sl_ctx *ctx;
    mongo_conf *conf;
    mongoc_client_t *client;
    mongo_run *runs;
    size_t nruns, cap;
    bson_t *upsert_opts; /* a pointer: bson_t wants 128-byte alignment, more than sl_calloc gives */
    sl_buf key, value;
    char what[512]; /* what_of() */
} mongo_sink;

#define F(x) offsetof(mongo_conf, x)
static const sl_prop mongo_props[] = {
    {"connection.uri", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_SENSITIVE | SL_PF_REQUIRED, F(uri),
     "MongoDB connection string (mongodb:// or mongodb+srv://). Its write concern applies to every write "
     "(w=0 is refused: records must be acknowledged before the source offset is committed)."},
    {"database", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, F(database),
     "Database the MongoDB sink writes to."},
    {"collection", SL_PT_STRING, NULL, NULL, 0, 0, 0, F(collection),
     "Collection for every record (empty: the record's table name for change events, its Kafka topic for "
     "records read from Kafka)."},
    {"delete.on.null.values", SL_PT_BOOL, "false", NULL, 0, 0, 0, F(delete_on_null),
     "Records read from Kafka with a null value (that are not Debezium events) delete the document whose _id "
     "is the record key (the key's _id field when it has one); false: they are skipped, like Debezium "
     "tombstones."},
    {NULL}};
#undef F

static void mongo_check(void *settings, sl_config *cfg, sl_errs *errs) {
    mongo_conf *mc = settings;
    (void)cfg;
    if (mc->collection && strchr(mc->collection, '$'))
        sl_errs_add(errs, "collection: '%s' is not a valid MongoDB collection name (no '$')", mc->collection);
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void init_driver(void) { mongoc_init(); }

static int mongo_open(void **out, void *settings, sl_ctx *ctx, char *errstr, size_t errsz) {
    mongo_conf *mc = settings;
    bson_error_t be;
    pthread_once(&init_once, init_driver);
    mongo_sink *s = sl_calloc(1, sizeof *s);
    s->ctx = ctx;
    s->conf = mc;
    s->upsert_opts = BCON_NEW("upsert", BCON_BOOL(true));
    sl_buf_init(&s->key);
    sl_buf_init(&s->value);
    *out = s;
    /* The URI is sensitive: its parser's message may quote it, so it is not repeated. */
    mongoc_uri_t *uri = mongoc_uri_new_with_error(mc->uri, &be);
    if (!uri) {
        snprintf(errstr, errsz, "connection.uri: not a valid MongoDB connection string");
        return -1;
    }
    const mongoc_write_concern_t *wc = mongoc_uri_get_write_concern(uri);
    if (wc && !mongoc_write_concern_is_acknowledged(wc)) {
        mongoc_uri_destroy(uri);
        snprintf(errstr, errsz, "connection.uri: w=0 (unacknowledged writes) is not allowed: the source offset is "
                                "committed only after MongoDB acknowledged the writes");
        return -1;
    }
    s->client = mongoc_client_new_from_uri_with_error(uri, &be);
    mongoc_uri_destroy(uri);
    if (!s->client) {
        snprintf(errstr, errsz, "connection.uri: %s", be.message);
        return -1;
    }
    mongoc_client_set_error_api(s->client, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_set_appname(s->client, "sluice");
    /* Fail at start, not at the first flush, when the server is unreachable. */
    bson_t ping = BSON_INITIALIZER;
    BSON_APPEND_INT32(&ping, "ping", 1);
    bool ok = mongoc_client_command_simple(s->client, "admin", &ping, NULL, NULL, &be);
    bson_destroy(&ping);
    if (!ok) {
        snprintf(errstr, errsz, "mongodb sink: cannot reach the server of connection.uri: %s", be.message);
        return -1;
    }
    SL_INFO("mongo", "mongodb sink ready database=%s collection=%s", mc->database,
            mc->collection && *mc->collection ? mc->collection : "(per table/topic)");
    return 0;
}

/* Names a record in errors: table and op, or topic/partition@offset. */
static const char *what_of(mongo_sink *s, const sl_record *r) {
    if (r->raw)
        snprintf(s->what, sizeof s->what, "record %s/%d@%lld", r->raw->topic ? r->raw->topic : "?",
                 (int)r->raw->partition, (long long)r->raw->offset);
    else if (r->table)
        snprintf(s->what, sizeof s->what, "record of table %s.%s (op %c)", r->table->schema ? r->table->schema : "",
                 r->table->name, (char)r->op);
    else
        snprintf(s->what, sizeof s->what, "record (op %c)", (char)r->op);
    return s->what;
}

/* The bulk of the current run for collection `coll`, starting a new run when the collection changes. */
static mongo_run *run_for(mongo_sink *s, const char *coll) {
    if (s->nruns && strcmp(s->runs[s->nruns - 1].coll, coll) == 0) return &s->runs[s->nruns - 1];
    if (s->nruns == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->runs = sl_realloc(s->runs, s->cap * sizeof *s->runs);
    }
    mongoc_collection_t *c = mongoc_client_get_collection(s->client, s->conf->database, coll);
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "ordered", true);
    mongo_run *run = &s->runs[s->nruns++];
    run->coll = sl_strdup(coll);
    run->bulk = mongoc_collection_create_bulk_operation_with_opts(c, &opts);
    run->n = 0;
    bson_destroy(&opts);
    mongoc_collection_destroy(c);
    return run;
}

static void drop_runs(mongo_sink *s) {
    for (size_t i = 0; i < s->nruns; i++) {
        mongoc_bulk_operation_destroy(s->runs[i].bulk);
        sl_free(s->runs[i].coll);
    }
    s->nruns = 0;
}

/* Parses JSON text into a new document; NULL when it is not a JSON object. */
static bson_t *parse_doc(const char *json, size_t len, bson_error_t *be) {
    return bson_new_from_json((const uint8_t *)json, (ssize_t)len, be);
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

/* Kafka Connect's JsonConverter with schemas: {"schema":..., "payload":...} -> a copy of the payload.
 * Returns doc itself when it is not such a wrapper; NULL when the payload is null (doc is freed then). */
static bson_t *strip_schema(bson_t *doc) {
    bson_iter_t it;
    bson_t sub;
    if (bson_count_keys(doc) != 2 || !bson_has_field(doc, "schema") || !bson_iter_init_find(&it, doc, "payload"))
        return doc;
    bson_t *out = get_doc(doc, "payload", &sub) ? bson_copy(&sub) : NULL;
    bson_destroy(doc);
    return out;
}

static bool is_envelope(const bson_t *v) {
    bson_iter_t it;
    return v && bson_iter_init_find(&it, v, "op") && BSON_ITER_HOLDS_UTF8(&it) && bson_has_field(v, "source") &&
           (bson_has_field(v, "after") || bson_has_field(v, "before"));
}

/*
 * RdbmsHandler: appends the write model of one Debezium event (key document,
 * may be empty; value = the envelope payload) to the run. Returns 0, 1 when
 * the event is skipped, -1 on an event it cannot apply.
 */
static int add_cdc(mongo_sink *s, mongo_run *run, const bson_t *key, const bson_t *value, const char *what,
                   char *errstr, size_t errsz) {
    bson_iter_t it;
    bson_error_t be;
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
        else
            snprintf(errstr, errsz, "%s: unknown Debezium operation '%s'", what, op);
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
    bool ok;
    if (upsert) {
        if (!get_doc(value, "after", &sub) || bson_empty(&sub)) {
            snprintf(errstr, errsz, "%s: the event has no 'after' document for op %s", what, op);
            goto out;
        }
        if (bson_iter_init_find(&it, &filter, "_id")) bson_append_iter(&doc, "_id", 3, &it);
        bson_iter_init(&it, &sub);
        while (bson_iter_next(&it))
            if (!bson_has_field(key, bson_iter_key(&it))) bson_append_iter(&doc, NULL, 0, &it);
        ok = mongoc_bulk_operation_replace_one_with_opts(run->bulk, &filter, &doc, s->upsert_opts, &be);
    } else {
        ok = mongoc_bulk_operation_remove_one_with_opts(run->bulk, &filter, NULL, &be);
    }
    if (!ok) {
        snprintf(errstr, errsz, "%s: %s", what, be.message);
        goto out;
    }
    run->n++;
    rc = 0;
out:
    bson_destroy(&filter);
    bson_destroy(&doc);
    return rc;
}

static const char *collection_of(mongo_sink *s, const sl_record *r) {
    if (s->conf->collection && *s->conf->collection) return s->conf->collection;
    return r->raw ? r->raw->topic : r->table->name;
}

/* A change event of a source in this process: encoded as Debezium JSON without schemas, then applied. */
static int add_change(mongo_sink *s, const sl_record *r, char *errstr, size_t errsz) {
    sl_dbz_opts o = *sl_ctx_dbz(s->ctx);
    o.key_schemas = o.value_schemas = false;
    sl_buf_reset(&s->key);
    sl_buf_reset(&s->value);
    sl_dbz_key(&o, r, &s->key);
    sl_dbz_value(&o, r, &s->value);
    bson_error_t be;
    bson_t empty = BSON_INITIALIZER;
    bool null_key = s->key.len == 4 && memcmp(s->key.data, "null", 4) == 0;
    bson_t *key = null_key ? NULL : parse_doc(s->key.data, s->key.len, &be);
    bson_t *value = parse_doc(s->value.data, s->value.len, &be);
    int rc = -1;
    if ((!null_key && !key) || !value)
        snprintf(errstr, errsz, "%s: cannot parse its JSON: %s", what_of(s, r), be.message);
    else
        rc = add_cdc(s, run_for(s, collection_of(s, r)), key ? key : &empty, value, what_of(s, r), errstr, errsz);
    if (key) bson_destroy(key);
    if (value) bson_destroy(value);
    return rc;
}

/* The delete of a null-valued Kafka record: {_id: key._id} when the key has an _id, else {_id: key}. */
static int add_null_delete(mongo_sink *s, const sl_record *r, char *errstr, size_t errsz) {
    const sl_raw *raw = r->raw;
    bson_error_t be;
    bson_t *key = raw->key ? parse_doc(raw->key, raw->key_len, &be) : NULL;
    if (key) key = strip_schema(key);
    if (!key || bson_empty(key)) {
        if (key) bson_destroy(key);
        snprintf(errstr, errsz, "%s: delete.on.null.values needs a JSON object key", what_of(s, r));
        return -1;
    }
    bson_t filter = BSON_INITIALIZER;
    bson_iter_t it;
    if (bson_iter_init_find(&it, key, "_id")) bson_append_iter(&filter, "_id", 3, &it);
    else BSON_APPEND_DOCUMENT(&filter, "_id", key);
    mongo_run *run = run_for(s, collection_of(s, r));
    bool ok = mongoc_bulk_operation_remove_one_with_opts(run->bulk, &filter, NULL, &be);
    bson_destroy(&filter);
    bson_destroy(key);
    if (!ok) {
        snprintf(errstr, errsz, "%s: %s", what_of(s, r), be.message);
        return -1;
    }
    run->n++;
    return 0;
}

/*
 * Write operations a transform computed (embed: {"__sluice_writes": [{"op": "update", "filter": {..},
 * "update": {..}, "upsert": b, "multi": b} | {"op": "delete", "filter": {..}}, ...]}), applied in order.
 */
static int add_writes(mongo_sink *s, const sl_record *r, mongo_run *run, const bson_t *value, char *errstr,
                      size_t errsz) {
    bson_iter_t it, arr;
    if (!bson_iter_init_find(&it, value, "__sluice_writes") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr)) {
        snprintf(errstr, errsz, "%s: __sluice_writes is not an array", what_of(s, r));
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
        bson_error_t be;
        bool ok;
        if (strcmp(kind, "delete") == 0) {
            ok = multi ? mongoc_bulk_operation_remove_many_with_opts(run->bulk, &filter, NULL, &be)
                       : mongoc_bulk_operation_remove_one_with_opts(run->bulk, &filter, NULL, &be);
        } else if (strcmp(kind, "update") == 0) {
            if (!bson_iter_init_find(&f, &op, "update") ||
                !(BSON_ITER_HOLDS_DOCUMENT(&f) || BSON_ITER_HOLDS_ARRAY(&f)))
                goto bad;
            bson_iter_document(&f, &len, &data);
            if (BSON_ITER_HOLDS_ARRAY(&f)) bson_iter_array(&f, &len, &data);
            bson_init_static(&update, data, len);
            const bson_t *opts = upsert ? s->upsert_opts : NULL;
            ok = multi ? mongoc_bulk_operation_update_many_with_opts(run->bulk, &filter, &update, opts, &be)
                       : mongoc_bulk_operation_update_one_with_opts(run->bulk, &filter, &update, opts, &be);
        } else {
            goto bad;
        }
        if (!ok) {
            snprintf(errstr, errsz, "%s: %s", what_of(s, r), be.message);
            return -1;
        }
        run->n++;
    }
    return 0;
bad:
    snprintf(errstr, errsz, "%s: a malformed entry in __sluice_writes", what_of(s, r));
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

/* Appends replaceOne(filter, doc with filter's _id, upsert). */
static bool replace_by_id(mongo_sink *s, mongo_run *run, const bson_t *filter, const bson_t *doc, bson_error_t *be) {
    bson_t d = BSON_INITIALIZER;
    bson_iter_t it;
    if (bson_iter_init_find(&it, filter, "_id")) bson_append_iter(&d, "_id", 3, &it);
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it))
        if (strcmp(bson_iter_key(&it), "_id")) bson_append_iter(&d, NULL, 0, &it);
    bool ok = mongoc_bulk_operation_replace_one_with_opts(run->bulk, filter, &d, s->upsert_opts, be);
    bson_destroy(&d);
    return ok;
}

/* mongo-kafka ChangeStreamHandler. Returns 0 (added or skipped) or -1. */
static int add_change_stream(mongo_sink *s, mongo_run *run, const bson_t *v, const char *what, char *errstr,
                             size_t errsz) {
    bson_iter_t it;
    bson_t dk, full, ud, filter = BSON_INITIALIZER, spec = BSON_INITIALIZER;
    bson_error_t be;
    bson_iter_init_find(&it, v, "operationType");
    const char *op = bson_iter_utf8(&it, NULL);
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
    bool ok;
    if (del) ok = mongoc_bulk_operation_remove_one_with_opts(run->bulk, &filter, NULL, &be);
    else if (upd && get_doc(v, "updateDescription", &ud) && update_spec(&ud, &spec))
        ok = mongoc_bulk_operation_update_one_with_opts(run->bulk, &filter, &spec, NULL, &be);
    else if (has_full) ok = replace_by_id(s, run, &filter, &full, &be);
    else {
        snprintf(errstr, errsz, "%s: the %s event has neither an updateDescription nor a fullDocument (set "
                 "change.stream.full.document=updateLookup on the source)", what, op);
        rc = -1;
        goto out;
    }
    if (!ok) {
        snprintf(errstr, errsz, "%s: %s", what, be.message);
        rc = -1;
        goto out;
    }
    run->n++;
out:
    bson_destroy(&filter);
    bson_destroy(&spec);
    return rc;
}

/* Debezium's MongoDB envelope; key {"id": "<_id JSON>"} (NULL: take _id from `after`). */
static int add_mongo_envelope(mongo_sink *s, mongo_run *run, const bson_t *key, const bson_t *v, const char *what,
                              char *errstr, size_t errsz) {
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
    bool ok;
    if (!strcmp(op, "d")) ok = mongoc_bulk_operation_remove_one_with_opts(run->bulk, &filter, NULL, &be);
    else if (after) ok = replace_by_id(s, run, &filter, after, &be);
    else if (!strcmp(op, "u") && get_doc(v, "updateDescription", &ud) && update_spec(&ud, &spec))
        ok = mongoc_bulk_operation_update_one_with_opts(run->bulk, &filter, &spec, NULL, &be);
    else {
        snprintf(errstr, errsz, "%s: Debezium MongoDB event op '%s' without `after` or updateDescription", what, op);
        goto out;
    }
    if (!ok) {
        snprintf(errstr, errsz, "%s: %s", what, be.message);
        goto out;
    }
    run->n++;
    rc = 0;
out:
    if (after) bson_destroy(after);
    if (idw) bson_destroy(idw);
    bson_destroy(&filter);
    bson_destroy(&spec);
    return rc;
}

/* A record read from Kafka: a Debezium event (RdbmsHandler) or a plain document. */
static int add_raw(mongo_sink *s, const sl_record *r, char *errstr, size_t errsz) {
    const sl_raw *raw = r->raw;
    bson_error_t be;
    if (r->op == SL_OP_HEARTBEAT) return 0; /* a MongoDB source's heartbeat (key: a resume token, value null) */
    bson_t *value = raw->value ? parse_doc(raw->value, raw->value_len, &be) : NULL;
    if (raw->value && !value) {
        snprintf(errstr, errsz, "%s: the value is not a JSON object (%s)", what_of(s, r), be.message);
        return -1;
    }
    if (value) value = strip_schema(value);
    if (!value || bson_empty(value)) { /* tombstone */
        if (value) bson_destroy(value);
        return s->conf->delete_on_null ? add_null_delete(s, r, errstr, errsz) : 0;
    }
    int rc = 0;
    mongo_run *run = run_for(s, collection_of(s, r));
    if (bson_has_field(value, "__sluice_writes")) {
        rc = add_writes(s, r, run, value, errstr, errsz);
    } else if (is_change_stream_event(value)) {
        rc = add_change_stream(s, run, value, what_of(s, r), errstr, errsz);
    } else if (is_mongo_envelope(value)) {
        bson_t *key = raw->key ? parse_doc(raw->key, raw->key_len, &be) : NULL;
        rc = add_mongo_envelope(s, run, key, value, what_of(s, r), errstr, errsz);
        if (key) bson_destroy(key);
    } else if (is_envelope(value)) {
        bson_t *key = raw->key ? parse_doc(raw->key, raw->key_len, &be) : NULL;
        if (key) key = strip_schema(key);
        bson_t empty = BSON_INITIALIZER;
        rc = add_cdc(s, run, key ? key : &empty, value, what_of(s, r), errstr, errsz);
        if (key) bson_destroy(key);
    } else {
        bson_iter_t it;
        bool ok;
        if (bson_iter_init_find(&it, value, "_id")) {
            bson_t filter = BSON_INITIALIZER;
            bson_append_iter(&filter, "_id", 3, &it);
            ok = mongoc_bulk_operation_replace_one_with_opts(run->bulk, &filter, value, s->upsert_opts, &be);
            bson_destroy(&filter);
        } else {
            ok = mongoc_bulk_operation_insert_with_opts(run->bulk, value, NULL, &be);
        }
        if (ok) {
            run->n++;
        } else {
            snprintf(errstr, errsz, "%s: %s", what_of(s, r), be.message);
            rc = -1;
        }
    }
    bson_destroy(value);
    return rc;
}

static int mongo_write(void *sink, sl_batch *b, char *errstr, size_t errsz) {
    mongo_sink *s = sink;
    for (int i = 0; i < b->n; i++) {
        const sl_record *r = &b->recs[i];
        int rc = 0;
        if (r->op == SL_OP_HEARTBEAT || r->op == SL_OP_TX_BEGIN || r->op == SL_OP_TX_END)
            continue; /* side records, also after transforms made them pre-encoded */
        if (r->raw) rc = add_raw(s, r, errstr, errsz);
        else if (!r->table || r->op == SL_OP_MESSAGE || r->op == SL_OP_HEARTBEAT || r->op == SL_OP_TX_BEGIN ||
                 r->op == SL_OP_TX_END)
            continue; /* not row changes: nothing to apply */
        else rc = add_change(s, r, errstr, errsz);
        if (rc < 0) return -1;
    }
    return 0;
}

static int mongo_flush(void *sink, char *errstr, size_t errsz) {
    mongo_sink *s = sink;
    int rc = 0;
    for (size_t i = 0; i < s->nruns && rc == 0; i++) {
        mongo_run *run = &s->runs[i];
        if (!run->n) continue;
        bson_t reply;
        bson_error_t be;
        if (!mongoc_bulk_operation_execute(run->bulk, &reply, &be)) {
            snprintf(errstr, errsz, "bulk write to %s.%s failed: %s", s->conf->database, run->coll,
                     be.message);
            rc = -1;
        } else {
            SL_DEBUG("mongo", "bulk write to %s.%s: %zu operations acknowledged", s->conf->database, run->coll,
                     run->n);
        }
        bson_destroy(&reply);
    }
    /* After a failure nothing of this flush is committed: the runtime restarts from the stored offset. */
    drop_runs(s);
    return rc;
}

static void mongo_close(void *sink) {
    mongo_sink *s = sink;
    if (!s) return;
    drop_runs(s);
    sl_free(s->runs);
    if (s->client) mongoc_client_destroy(s->client);
    bson_destroy(s->upsert_opts);
    sl_buf_free(&s->key);
    sl_buf_free(&s->value);
    sl_free(s);
}

const sl_sink_ops sl_mongo_sink_ops = {
    "mongodb",
    "com.mongodb.kafka.connect.MongoSinkConnector",
    "Applies change events to MongoDB collections like the MongoDB Kafka sink's Debezium RDBMS handler.",
    mongo_props,
    sizeof(mongo_conf),
    mongo_check,
    mongo_open,
    mongo_write,
    mongo_flush,
    mongo_close,
    NULL};
