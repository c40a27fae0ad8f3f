/*
 * The MongoDB Kafka sink connector's record -> write model pipeline
 * (mongo-kafka's MongoProcessedSinkRecordData without a CDC handler), as a
 * pure module: no I/O, no driver calls, no clock or randomness unless the
 * caller leaves them to the defaults. For one sink record (topic, partition,
 * offset, timestamp, key and value documents) it computes the target
 * namespace and zero-or-one write model exactly as mongo-kafka does:
 *
 *   1. namespace.mapper on the record as received (DefaultNamespaceMapper:
 *      database + collection, an empty collection meaning the topic name;
 *      FieldPathNamespaceMapper: names read from key/value fields);
 *   2. post.processor.chain (DocumentIdAdder is put first unless listed,
 *      then projectors, renamers, KafkaMetaAdder, NullFieldValueRemover in
 *      the listed order), with document.id.strategy producing the _id;
 *   3. writemodel.strategy when the value is present, else (key only) the
 *      delete strategy of delete.on.null.values / delete.writemodel.strategy.
 *
 * Errors carry mongo-kafka's DataException / ConnectConfigException texts so
 * that users can search for them. Time-series options and CDC handlers are
 * not here: the sink owns them (it sets conf.timeseries for
 * DefaultWriteModelStrategy).
 *
 * Threads: a compiled model is immutable; sl_mongo_model_build may run on
 * several threads at once with the default id generators (or thread-safe
 * ones).
 */
#ifndef SL_SINK_MONGO_MODEL_H
#define SL_SINK_MONGO_MODEL_H
#include "core/conf.h"
#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Settings filled by the property table SL_MONGO_MODEL_PROPS; strings owned (free with sl_conf_free). */
typedef struct sl_mongo_model_conf {
    char *database, *collection;
    char *ns_mapper, *ns_key_db, *ns_key_coll, *ns_value_db, *ns_value_coll;
    bool ns_error_if_invalid;
    char *id_strategy;
    bool id_overwrite;
    int uuid_format;            /* 0 string, 1 binary */
    char *pk_type, *pk_list;    /* document.id.strategy.partial.key.projection.* ("" = key.projection.*) */
    char *pv_type, *pv_list;    /* document.id.strategy.partial.value.projection.* */
    int key_proj_type, value_proj_type; /* index into SL_MONGO_PROJ_TYPES */
    char *key_proj_list, *value_proj_list;
    char *chain;                /* post.processor.chain */
    char *renamer_mapping, *renamer_regexp;
    char *wm_strategy, *delete_wm_strategy;
    bool delete_on_null;
    bool timeseries;            /* not a property: the sink sets it when timeseries.timefield is set */
} sl_mongo_model_conf;

#define SL_MONGO_PROJ_TYPES "none|blocklist|allowlist|blacklist|whitelist"
#define SL_MONGO_PKG "com.mongodb.kafka.connect.sink."

/*
 * The properties, for a settings struct T holding an sl_mongo_model_conf
 * member m: list SL_MONGO_MODEL_PROPS(T, m) in the component's table.
 */
#define SL_MONGO_MODEL_PROPS(T, m)                                                                                    \
    {"database", SL_PT_STRING, NULL, NULL, 0, 0, SL_PF_REQUIRED, offsetof(T, m.database),                              \
     "Database the sink writes to (the default database of the namespace mappers)."},                                 \
        {"collection", SL_PT_STRING, "", NULL, 0, 0, 0, offsetof(T, m.collection),                                     \
         "Collection the sink writes to; empty: the record's Kafka topic name."},                                      \
        {"namespace.mapper", SL_PT_STRING, SL_MONGO_PKG "namespace.mapping.DefaultNamespaceMapper", NULL, 0, 0, 0,     \
         offsetof(T, m.ns_mapper),                                                                                     \
         "How a record's namespace is chosen: DefaultNamespaceMapper (database + collection) or "                      \
         "FieldPathNamespaceMapper (names read from key or value fields). Short or full Java class names."},           \
        {"namespace.mapper.key.database.field", SL_PT_STRING, "", NULL, 0, 0, 0, offsetof(T, m.ns_key_db),             \
         "FieldPathNamespaceMapper: dotted path of the key field holding the database name."},                        \
        {"namespace.mapper.key.collection.field", SL_PT_STRING, "", NULL, 0, 0, 0, offsetof(T, m.ns_key_coll),         \
         "FieldPathNamespaceMapper: dotted path of the key field holding the collection name."},                      \
        {"namespace.mapper.value.database.field", SL_PT_STRING, "", NULL, 0, 0, 0, offsetof(T, m.ns_value_db),         \
         "FieldPathNamespaceMapper: dotted path of the value field holding the database name."},                      \
        {"namespace.mapper.value.collection.field", SL_PT_STRING, "", NULL, 0, 0, 0, offsetof(T, m.ns_value_coll),     \
         "FieldPathNamespaceMapper: dotted path of the value field holding the collection name."},                    \
        {"namespace.mapper.error.if.invalid", SL_PT_BOOL, "false", NULL, 0, 0, 0, offsetof(T, m.ns_error_if_invalid),  \
         "FieldPathNamespaceMapper: a missing document, missing field or non-string value is an error (false: the "   \
         "default database / collection is used)."},                                                                   \
        {"document.id.strategy", SL_PT_STRING, SL_MONGO_PKG "processor.id.strategy.BsonOidStrategy", NULL, 0, 0, 0,    \
         offsetof(T, m.id_strategy),                                                                                   \
         "How DocumentIdAdder makes the _id: BsonOidStrategy, KafkaMetaDataStrategy, FullKeyStrategy, "                \
         "PartialKeyStrategy, PartialValueStrategy, ProvidedInKeyStrategy, ProvidedInValueStrategy, UuidStrategy, "     \
         "UuidProvidedInKeyStrategy, UuidProvidedInValueStrategy (short or full Java class names)."},                  \
        {"document.id.strategy.overwrite.existing", SL_PT_BOOL, "false", NULL, 0, 0, 0, offsetof(T, m.id_overwrite),   \
         "Replace an _id the value already has (false: keep it)."},                                                    \
        {"document.id.strategy.uuid.format", SL_PT_ENUM, "string", "string|binary", 0, 0, 0,                           \
         offsetof(T, m.uuid_format), "UuidStrategy: the _id as a string or as BSON binary subtype 4."},               \
        {"document.id.strategy.partial.key.projection.type", SL_PT_STRING, "", NULL, 0, 0, 0, offsetof(T, m.pk_type),  \
         "PartialKeyStrategy: AllowList or BlockList (empty: key.projection.type)."},                                  \
        {"document.id.strategy.partial.key.projection.list", SL_PT_LIST, "", NULL, 0, 0, 0, offsetof(T, m.pk_list),    \
         "PartialKeyStrategy: the key fields (empty: key.projection.list)."},                                          \
        {"document.id.strategy.partial.value.projection.type", SL_PT_STRING, "", NULL, 0, 0, 0,                        \
         offsetof(T, m.pv_type), "PartialValueStrategy: AllowList or BlockList (empty: value.projection.type)."},      \
        {"document.id.strategy.partial.value.projection.list", SL_PT_LIST, "", NULL, 0, 0, 0, offsetof(T, m.pv_list),  \
         "PartialValueStrategy: the value fields (empty: value.projection.list)."},                                    \
        {"key.projection.type", SL_PT_ENUM, "none", SL_MONGO_PROJ_TYPES, 0, 0, 0, offsetof(T, m.key_proj_type),       \
         "Older name of document.id.strategy.partial.key.projection.type (used when that one is empty)."},            \
        {"key.projection.list", SL_PT_LIST, "", NULL, 0, 0, 0, offsetof(T, m.key_proj_list),                           \
         "Key fields of the BlockList/AllowList key projectors (and PartialKeyStrategy's fallback): names, dotted "    \
         "paths, * and ** wildcards."},                                                                                \
        {"value.projection.type", SL_PT_ENUM, "none", SL_MONGO_PROJ_TYPES, 0, 0, 0, offsetof(T, m.value_proj_type),   \
         "Older name of document.id.strategy.partial.value.projection.type (used when that one is empty)."},          \
        {"value.projection.list", SL_PT_LIST, "", NULL, 0, 0, 0, offsetof(T, m.value_proj_list),                       \
         "Value fields of the BlockList/AllowList value projectors (and PartialValueStrategy's fallback)."},          \
        {"post.processor.chain", SL_PT_LIST, SL_MONGO_PKG "processor.DocumentIdAdder", NULL, 0, 0, 0,                  \
         offsetof(T, m.chain),                                                                                         \
         "Post processors applied in order: DocumentIdAdder (put first when not listed), BlockListKeyProjector, "       \
         "BlockListValueProjector, AllowListKeyProjector, AllowListValueProjector (or the deprecated "                 \
         "Blacklist/Whitelist names), RenameByMapping, RenameByRegExp, KafkaMetaAdder, NullFieldValueRemover."},       \
        {"field.renamer.mapping", SL_PT_STRING, "[]", NULL, 0, 0, 0, offsetof(T, m.renamer_mapping),                   \
         "RenameByMapping: JSON array [{\"oldName\": \"value.a.b\", \"newName\": \"c\"}, ...]."},                      \
        {"field.renamer.regexp", SL_PT_STRING, "[]", NULL, 0, 0, 0, offsetof(T, m.renamer_regexp),                     \
         "RenameByRegExp: JSON array [{\"regexp\": \"^value\\\\..*$\", \"pattern\": \"\\\\.\", \"replace\": \"_\"}, "  \
         "...]: field names whose path fully matches regexp get every match of pattern replaced."},                  \
        {"writemodel.strategy", SL_PT_STRING, SL_MONGO_PKG "writemodel.strategy.DefaultWriteModelStrategy", NULL, 0,   \
         0, 0, offsetof(T, m.wm_strategy),                                                                             \
         "Write model of records with a value: DefaultWriteModelStrategy, ReplaceOneDefaultStrategy, "                 \
         "ReplaceOneBusinessKeyStrategy, UpdateOneDefaultStrategy, UpdateOneTimestampsStrategy, "                      \
         "UpdateOneBusinessKeyTimestampStrategy, InsertOneDefaultStrategy, DeleteOneDefaultStrategy, "                 \
         "DeleteOneBusinessKeyStrategy, DeleteOneTombstoneBusinessKeyStrategy."},                                      \
        {"delete.on.null.values", SL_PT_BOOL, "false", NULL, 0, 0, 0, offsetof(T, m.delete_on_null),                   \
         "A record with a null value deletes by its key (false: such a record is an error, as in mongo-kafka)."},     \
    {                                                                                                                  \
        "delete.writemodel.strategy", SL_PT_STRING, SL_MONGO_PKG "writemodel.strategy.DeleteOneDefaultStrategy", NULL, \
            0, 0, 0, offsetof(T, m.delete_wm_strategy),                                                                \
            "Write model of null-valued records with delete.on.null.values (same names as writemodel.strategy)."       \
    }

typedef struct sl_mongo_model sl_mongo_model;

/*
 * Checks conf and builds the model. Problems go to errs, each naming its key
 * and, for names, the allowed values. Returns the number of problems; *out
 * is set (caller destroys it) only when that is 0. conf is not kept.
 */
int sl_mongo_model_compile(const sl_mongo_model_conf *conf, sl_mongo_model **out, sl_errs *errs);
void sl_mongo_model_destroy(sl_mongo_model *m);
/* True when the namespace comes from each record's own fields (FieldPathNamespaceMapper). */
bool sl_mongo_model_ns_by_value(const sl_mongo_model *m);

/*
 * Id sources, for deterministic tests: oid() fills an ObjectId (default
 * bson_oid_init), uuid() fills 16 random bytes (default getrandom; the
 * version 4 / variant bits are set afterwards). Call before the first build.
 */
typedef struct sl_mongo_ids {
    void (*oid)(bson_oid_t *oid, void *arg);
    void (*uuid)(uint8_t bytes[16], void *arg);
    void *arg;
} sl_mongo_ids;
void sl_mongo_model_set_ids(sl_mongo_model *m, const sl_mongo_ids *ids);

typedef enum { SL_MTS_NONE, SL_MTS_CREATE_TIME, SL_MTS_LOG_APPEND_TIME } sl_mts_type;

/* One sink record; nothing is kept after the call. */
typedef struct sl_msink_rec {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp; /* ms since the epoch; only with ts_type != NONE and >= 0 */
    sl_mts_type ts_type;
    const bson_t *key, *value; /* NULL: a null key / value (a tombstone) */
    int64_t now_ms;            /* clock of the *TimestampsStrategy fields; 0: the current time */
} sl_msink_rec;

typedef enum { SL_MW_INSERT, SL_MW_REPLACE, SL_MW_UPDATE, SL_MW_DELETE } sl_mwrite_kind;

/* One write model and its namespace; everything owned (sl_mwrite_clear). */
typedef struct sl_mwrite {
    sl_mwrite_kind kind;
    bson_t *filter; /* REPLACE, UPDATE, DELETE; NULL for INSERT */
    bson_t *doc;    /* INSERT: the document; REPLACE: the replacement; UPDATE: the update; NULL for DELETE */
    bool upsert;
    char *db, *coll;
} sl_mwrite;

/*
 * Builds the write model of rec into out (cleared first). Returns 0 with out
 * filled, or -1 with err naming what is wrong (mongo-kafka's DataException
 * text; the record is bad, not the sink: apply errors.tolerance / the DLQ).
 * A null value without delete.on.null.values is such an error, as in
 * mongo-kafka ("Could not create write model"); a sink that prefers to skip
 * tombstones checks rec->value == NULL itself.
 */
int sl_mongo_model_build(const sl_mongo_model *m, const sl_msink_rec *rec, sl_mwrite *out, char *err, size_t errsz);
void sl_mwrite_clear(sl_mwrite *w);

/*
 * out as extended JSON (relaxed or canonical): {"ns": "db.coll", "op":
 * "insertOne"|"replaceOne"|"updateOne"|"deleteOne", "filter": {..},
 * "document"|"replacement"|"update": {..}, "upsert": b}. For logs, errors
 * and tests; free with bson_free.
 */
char *sl_mwrite_json(const sl_mwrite *w, bool canonical);

#endif
