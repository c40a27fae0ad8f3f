/*
 * Unit tests of the MongoDB sink's record -> write model pipeline
 * (sink/mongo_model.c): every id strategy, write model strategy, post
 * processor and namespace mapper, delete.on.null.values, overwrite.existing
 * and the configuration errors. Expectations come from mongo-kafka's own
 * unit tests where they exist (IdStrategyTest, WriteModelStrategyTest,
 * FieldProjectorTest, RenamerTest, KafkaMetaAdderTest,
 * NullFieldValueRemoverTest, FieldPathNamespaceMapperTest,
 * MongoProcessedSinkRecordDataTest), with the document order a
 * LinkedHashMap gives (Java compares documents ignoring order; we compare
 * the extended JSON text). ObjectIds count up from ...01, UUIDs use the
 * bytes 00..0f, and the clock is 1000000 ms, so every model is exact.
 */
#include "sink/mongo_model.h"
#include "test.h"
#include "util/mem.h"
#include <stdarg.h>
#include <stdlib.h>

typedef struct tconf {
    sl_mongo_model_conf mm;
} tconf;
static const sl_prop props[] = {SL_MONGO_MODEL_PROPS(tconf, mm), {NULL}};

#define ID_PKG_TEST "com.mongodb.kafka.connect.sink.processor.id.strategy."
#define WM_PKG_TEST "com.mongodb.kafka.connect.sink.writemodel.strategy."
#define PP_PKG_TEST "com.mongodb.kafka.connect.sink.processor."
#define NS_PKG_TEST "com.mongodb.kafka.connect.sink.namespace.mapping."

static int oid_n;
static void test_oid(bson_oid_t *oid, void *arg) {
    (void)arg;
    memset(oid->bytes, 0, sizeof oid->bytes);
    oid->bytes[11] = (uint8_t)++oid_n;
}
static void test_uuid(uint8_t b[16], void *arg) {
    (void)arg;
    for (int i = 0; i < 16; i++) b[i] = (uint8_t)i;
}
static const sl_mongo_ids test_ids = {test_oid, test_uuid, NULL};

/* A ring of buffers for returned strings (no frees in the tests). */
static char *ring(void) {
    static char bufs[16][8192];
    static int i;
    return bufs[i++ % 16];
}

/* JSON written with ' for " (the fixtures never need an apostrophe), normalised to relaxed extended JSON. */
static const char *J(const char *s) {
    char *t = ring(), *o = ring();
    snprintf(t, 8192, "%s", s);
    for (char *p = t; *p; p++)
        if (*p == '\'') *p = '"';
    bson_error_t be;
    bson_t *b = bson_new_from_json((const uint8_t *)t, -1, &be);
    if (!b) {
        snprintf(o, 8192, "BAD FIXTURE %s: %s", s, be.message);
        return o;
    }
    char *j = bson_as_relaxed_extended_json(b, NULL);
    snprintf(o, 8192, "%s", j);
    bson_free(j);
    bson_destroy(b);
    return o;
}

static bson_t *doc(const char *s) {
    if (!s) return NULL;
    char *t = ring();
    snprintf(t, 8192, "%s", s);
    for (char *p = t; *p; p++)
        if (*p == '\'') *p = '"';
    bson_error_t be;
    bson_t *b = bson_new_from_json((const uint8_t *)t, -1, &be);
    if (!b) fprintf(stderr, "bad fixture %s: %s\n", s, be.message);
    return b;
}

/* Compiles key/value pairs (NULL-terminated) plus database=db; NULL with the problems in errs. */
static sl_mongo_model *vcompile(bool timeseries, sl_errs *errs, va_list ap) {
    char e[256];
    sl_config *cfg = sl_config_parse_json("{\"database\": \"db\"}", "test", e, sizeof e);
    for (const char *k; (k = va_arg(ap, const char *));) sl_config_set(cfg, k, va_arg(ap, const char *));
    tconf c;
    memset(&c, 0, sizeof c);
    sl_mongo_model *m = NULL;
    if (sl_conf_apply(props, cfg, &c, errs) == 0) {
        c.mm.timeseries = timeseries;
        sl_mongo_model_compile(&c.mm, &m, errs);
    }
    sl_conf_free(props, &c);
    sl_config_destroy(cfg);
    if (m) sl_mongo_model_set_ids(m, &test_ids);
    oid_n = 0;
    return m;
}

static sl_mongo_model *model(const char *k, ...) {
    sl_errs errs = {0};
    va_list ap;
    va_start(ap, k);
    /* re-pack: the first key is a named parameter */
    char e[256];
    sl_config *cfg = sl_config_parse_json("{\"database\": \"db\"}", "test", e, sizeof e);
    for (const char *key = k; key; key = va_arg(ap, const char *)) sl_config_set(cfg, key, va_arg(ap, const char *));
    va_end(ap);
    tconf c;
    memset(&c, 0, sizeof c);
    sl_mongo_model *m = NULL;
    if (sl_conf_apply(props, cfg, &c, &errs) == 0) sl_mongo_model_compile(&c.mm, &m, &errs);
    sl_conf_free(props, &c);
    sl_config_destroy(cfg);
    for (int i = 0; i < errs.n; i++) fprintf(stderr, "unexpected config problem: %s\n", errs.msg[i]);
    CHECK(m != NULL);
    sl_errs_free(&errs);
    if (m) sl_mongo_model_set_ids(m, &test_ids);
    oid_n = 0;
    return m;
}

/* The problems of a config that must not compile, joined by " | ". */
static const char *problems(bool timeseries, ...) {
    sl_errs errs = {0};
    va_list ap;
    va_start(ap, timeseries);
    sl_mongo_model *m = vcompile(timeseries, &errs, ap);
    va_end(ap);
    char *o = ring();
    o[0] = 0;
    if (m) snprintf(o, 8192, "(compiled)");
    for (int i = 0; i < errs.n; i++)
        snprintf(o + strlen(o), 8192 - strlen(o), "%s%s", i ? " | " : "", errs.msg[i]);
    sl_mongo_model_destroy(m);
    sl_errs_free(&errs);
    return o;
}

static sl_msink_rec rec(void) {
    sl_msink_rec r = {"topic", 1, 2, -1, SL_MTS_NONE, NULL, NULL, 1000000};
    return r;
}

/* The model of r as relaxed (or canonical) JSON, or "ERROR: message". */
static const char *build_rec(const sl_mongo_model *m, sl_msink_rec r, bool canonical) {
    char err[1024];
    sl_mwrite w;
    char *o = ring();
    if (!m) return "(no model)";
    if (sl_mongo_model_build(m, &r, &w, err, sizeof err) < 0) {
        snprintf(o, 8192, "ERROR: %s", err);
        CHECK(w.filter == NULL && w.doc == NULL && w.db == NULL);
    } else {
        char *j = sl_mwrite_json(&w, canonical);
        snprintf(o, 8192, "%s", j);
        bson_free(j);
    }
    sl_mwrite_clear(&w);
    if (r.key) bson_destroy((bson_t *)r.key);
    if (r.value) bson_destroy((bson_t *)r.value);
    return o;
}

static const char *run(const sl_mongo_model *m, const char *key, const char *value) {
    sl_msink_rec r = rec();
    r.key = doc(key);
    r.value = doc(value);
    return build_rec(m, r, false);
}

static bool starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

#define CHECK_HAS(s, sub)                                                                                           \
    do {                                                                                                            \
        const char *s_ = (s);                                                                                       \
        if (strstr(s_, sub)) t_pass++;                                                                              \
        else {                                                                                                      \
            t_fail++;                                                                                               \
            fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n", __FILE__, __LINE__, s_, sub);                    \
        }                                                                                                           \
    } while (0)

#define OID(n) "{'$oid':'0000000000000000000000" n "'}"
#define NS "'ns':'db.topic',"

/* ---- id strategies (IdStrategyTest) ---- */

static void test_id_strategies(void) {
    sl_mongo_model *m = model("document.id.strategy", "BsonOidStrategy", NULL);
    CHECK_STR(run(m, NULL, "{'a':1}"),
              J("{" NS "'op':'replaceOne','filter':{'_id':" OID("01") "},'replacement':{'a':1,'_id':" OID("01")
                "},'upsert':true}"));
    sl_mongo_model_destroy(m);

    m = model("document.id.strategy", ID_PKG_TEST "KafkaMetaDataStrategy", NULL);
    sl_msink_rec r = rec();
    r.topic = "some-topic";
    r.partition = 1234;
    r.offset = 9876543210LL;
    r.value = doc("{'a':1}");
    CHECK_STR(build_rec(m, r, false), J("{'ns':'db.some-topic','op':'replaceOne','filter':{'_id':'some-topic#1234#"
                                        "9876543210'},'replacement':{'a':1,'_id':'some-topic#1234#9876543210'},"
                                        "'upsert':true}"));
    sl_mongo_model_destroy(m);

    m = model("document.id.strategy", "FullKeyStrategy", "writemodel.strategy", "InsertOneDefaultStrategy", NULL);
    CHECK_STR(run(m, "{'myInt':123,'myString':'ABC'}", "{}"),
              J("{" NS "'op':'insertOne','document':{'_id':{'myInt':123,'myString':'ABC'}}}"));
    CHECK_STR(run(m, NULL, "{'v':1}"), J("{" NS "'op':'insertOne','document':{'v':1,'_id':{}}}"));
    sl_mongo_model_destroy(m);

    /* testPartialKeyStrategyBlockList / AllowList */
    m = model("document.id.strategy", "PartialKeyStrategy", "document.id.strategy.partial.key.projection.type",
              "BlockList", "document.id.strategy.partial.key.projection.list", "keyPart1", "writemodel.strategy",
              "InsertOneDefaultStrategy", NULL);
    CHECK_STR(run(m, "{'keyPart1':123,'keyPart2':'ABC','keyPart3':true}", "{}"),
              J("{" NS "'op':'insertOne','document':{'_id':{'keyPart2':'ABC','keyPart3':true}}}"));
    CHECK_STR(run(m, NULL, "{}"), J("{" NS "'op':'insertOne','document':{'_id':{}}}"));
    sl_mongo_model_destroy(m);
    m = model("document.id.strategy", "PartialKeyStrategy", "document.id.strategy.partial.key.projection.type",
              "AllowList", "document.id.strategy.partial.key.projection.list", "keyPart1", "writemodel.strategy",
              "InsertOneDefaultStrategy", NULL);
    CHECK_STR(run(m, "{'keyPart1':123,'keyPart2':'ABC','keyPart3':true}", "{}"),
              J("{" NS "'op':'insertOne','document':{'_id':{'keyPart1':123}}}"));
    sl_mongo_model_destroy(m);
    /* the older key.projection.* names (testPartialKeyStrategySupportsDeprecatedFieldProjectors) */
    m = model("document.id.strategy", "PartialKeyStrategy", "key.projection.type", "blacklist", "key.projection.list",
              "part1", "writemodel.strategy", "InsertOneDefaultStrategy", NULL);
    CHECK_STR(run(m, "{'part1':1,'part2':2}", "{}"), J("{" NS "'op':'insertOne','document':{'_id':{'part2':2}}}"));
    sl_mongo_model_destroy(m);

    m = model("document.id.strategy", "PartialValueStrategy", "document.id.strategy.partial.value.projection.type",
              "blocklist", "document.id.strategy.partial.value.projection.list", "valuePart1", NULL);
    CHECK_STR(run(m, NULL, "{'valuePart1':123,'valuePart2':'ABC','valuePart3':true}"),
              J("{" NS "'op':'replaceOne','filter':{'_id':{'valuePart2':'ABC','valuePart3':true}},'replacement':{"
                "'valuePart1':123,'valuePart2':'ABC','valuePart3':true,'_id':{'valuePart2':'ABC','valuePart3':true}},"
                "'upsert':true}"));
    sl_mongo_model_destroy(m);
    m = model("document.id.strategy", "PartialValueStrategy", "value.projection.type", "WHITELIST",
              "value.projection.list", "valuePart1", "writemodel.strategy", "InsertOneDefaultStrategy", NULL);
    CHECK_STR(run(m, NULL, "{'valuePart1':123,'valuePart2':'ABC'}"),
              J("{" NS "'op':'insertOne','document':{'valuePart1':123,'valuePart2':'ABC','_id':{'valuePart1':123}}}"));
    sl_mongo_model_destroy(m);

    m = model("document.id.strategy", "ProvidedInKeyStrategy", "writemodel.strategy", "InsertOneDefaultStrategy",
              NULL);
    CHECK_STR(run(m, "{'_id':'SOME_UNIQUE_ID_IN_KEY'}", "{}"),
              J("{" NS "'op':'insertOne','document':{'_id':'SOME_UNIQUE_ID_IN_KEY'}}"));
    CHECK_STR(run(m, "{}", "{}"), "ERROR: Provided id strategy is used but the document structure either contained "
                                  "no _id field or it was null");
    CHECK_STR(run(m, NULL, "{}"), "ERROR: Provided id strategy is used but the document structure either contained "
                                  "no _id field or it was null");
    CHECK_STR(run(m, "{'_id':null}", "{}"),
              "ERROR: Provided id strategy used but the document structure contained an _id of type BsonNull");
    sl_mongo_model_destroy(m);

    m = model("document.id.strategy", "ProvidedInValueStrategy", "document.id.strategy.overwrite.existing", "true",
              NULL);
    CHECK_STR(run(m, NULL, "{'_id':'SOME_UNIQUE_ID_IN_VALUE','a':1}"),
              J("{" NS "'op':'replaceOne','filter':{'_id':'SOME_UNIQUE_ID_IN_VALUE'},'replacement':{'_id':"
                "'SOME_UNIQUE_ID_IN_VALUE','a':1},'upsert':true}"));
    CHECK(starts(run(m, NULL, "{'a':1}"), "ERROR: Provided id strategy is used"));
    sl_mongo_model_destroy(m);

    m = model("document.id.strategy", "UuidStrategy", "writemodel.strategy", "InsertOneDefaultStrategy", NULL);
    CHECK_STR(run(m, NULL, "{}"),
              J("{" NS "'op':'insertOne','document':{'_id':'00010203-0405-4607-8809-0a0b0c0d0e0f'}}"));
    sl_mongo_model_destroy(m);
    m = model("document.id.strategy", "UuidStrategy", "document.id.strategy.uuid.format", "Binary",
              "writemodel.strategy", "InsertOneDefaultStrategy", NULL);
    CHECK_STR(run(m, NULL, "{}"), J("{" NS "'op':'insertOne','document':{'_id':{'$binary':{'base64':"
                                    "'AAECAwQFRgeICQoLDA0ODw==','subType':'04'}}}}"));
    sl_mongo_model_destroy(m);

    static const char *const uuid_in[] = {"UuidProvidedInKeyStrategy", "UuidProvidedInValueStrategy"};
    for (int k = 0; k < 2; k++) {
        bool key = k == 0;
        m = model("document.id.strategy", uuid_in[k], "document.id.strategy.overwrite.existing", "true",
                  "writemodel.strategy", "InsertOneDefaultStrategy", NULL);
        const char *want = J("{" NS "'op':'insertOne','document':{'_id':{'$binary':{'base64':"
                             "'bQFiLbPVRm2uSOQUkBr48g==','subType':'04'}}}}");
        const char *with = "{'_id':'6d01622d-b3d5-466d-ae48-e414901af8f2'}";
        CHECK_STR(run(m, key ? with : NULL, key ? "{}" : with), want);
        with = "{'_id':'6D01622DB3D5466DAE48E414901AF8F2'}"; /* 32 hex digits */
        CHECK_STR(run(m, key ? with : NULL, key ? "{}" : with), want);
        with = "{'_id':{'$binary':{'base64':'bQFiLbPVRm2uSOQUkBr48g==','subType':'04'}}}";
        CHECK_STR(run(m, key ? with : NULL, key ? "{}" : with), want);
        with = "{'_id':'invalid'}";
        CHECK_STR(run(m, key ? with : NULL, key ? "{}" : with),
                  "ERROR: UUID cannot be constructed from provided value: `invalid`");
        with = "{'_id':42}";
        CHECK_STR(run(m, key ? with : NULL, key ? "{}" : with),
                  "ERROR: UUID cannot be constructed from provided value: `42`");
        CHECK(starts(run(m, key ? "{}" : NULL, "{}"), "ERROR: Provided id strategy is used"));
        sl_mongo_model_destroy(m);
    }
}

/* document.id.strategy.overwrite.existing (DocumentIdAdderTest) */
static void test_overwrite_existing(void) {
    sl_mongo_model *m = model(NULL);
    CHECK_STR(run(m, NULL, "{'_id':1,'a':2}"),
              J("{" NS "'op':'replaceOne','filter':{'_id':1},'replacement':{'_id':1,'a':2},'upsert':true}"));
    sl_mongo_model_destroy(m);
    m = model("document.id.strategy.overwrite.existing", "true", NULL);
    CHECK_STR(run(m, NULL, "{'_id':1,'a':2}"), J("{" NS "'op':'replaceOne','filter':{'_id':" OID("01")
                                                 "},'replacement':{'_id':" OID("01") ",'a':2},'upsert':true}"));
    sl_mongo_model_destroy(m);
}

/* ---- write model strategies (WriteModelStrategyTest) ---- */

#define VALUE_DOC "{'_id':{'a':{'a1':1},'b':{'b1':1,'b2':1}},'a':{'a1':1},'b':{'b1':1,'b2':1,'c1':1}}"
#define ID_FILTER "{'_id':{'a':{'a1':1},'b':{'b1':1,'b2':1}}}"
#define REPLACEMENT_DOC "{'a':{'a1':1},'b':{'b1':1,'b2':1,'c1':1}}"
#define BK_FILTER "{'a':{'a1':1},'b':{'b1':1,'b2':1}}"
#define BK_FLAT "{'a.a1':1,'b.b1':1,'b.b2':1}"
#define DATE "{'$date':'1970-01-01T00:16:40Z'}"

static sl_mongo_model *wm_model(const char *strategy, bool partial) {
    if (!partial) return model("writemodel.strategy", strategy, NULL);
    return model("writemodel.strategy", strategy, "document.id.strategy", "PartialKeyStrategy",
                 "document.id.strategy.partial.key.projection.type", "AllowList",
                 "document.id.strategy.partial.key.projection.list", "a.a1,b.b1,b.b2", NULL);
}

static void test_write_models(void) {
    sl_mongo_model *m = wm_model("InsertOneDefaultStrategy", false);
    CHECK_STR(run(m, NULL, VALUE_DOC), J("{" NS "'op':'insertOne','document':" VALUE_DOC "}"));
    sl_mongo_model_destroy(m);

    m = wm_model(WM_PKG_TEST "ReplaceOneDefaultStrategy", false);
    CHECK_STR(run(m, NULL, VALUE_DOC), J("{" NS "'op':'replaceOne','filter':" ID_FILTER ",'replacement':" VALUE_DOC
                                         ",'upsert':true}"));
    sl_mongo_model_destroy(m);

    /* DefaultWriteModelStrategy (the default): ReplaceOneDefaultStrategy, InsertOne for time series */
    m = model(NULL);
    CHECK_STR(run(m, NULL, VALUE_DOC), J("{" NS "'op':'replaceOne','filter':" ID_FILTER ",'replacement':" VALUE_DOC
                                         ",'upsert':true}"));
    sl_mongo_model_destroy(m);
    CHECK_STR(problems(true, NULL), "(compiled)");
    {
        sl_errs errs = {0};
        char e[256];
        sl_config *cfg = sl_config_parse_json("{\"database\": \"db\"}", "test", e, sizeof e);
        tconf c;
        memset(&c, 0, sizeof c);
        sl_conf_apply(props, cfg, &c, &errs);
        c.mm.timeseries = true;
        sl_mongo_model *ts = NULL;
        CHECK(sl_mongo_model_compile(&c.mm, &ts, &errs) == 0);
        if (ts) sl_mongo_model_set_ids(ts, &test_ids);
        oid_n = 0;
        CHECK_STR(run(ts, NULL, "{'t':1}"), J("{" NS "'op':'insertOne','document':{'t':1,'_id':" OID("01") "}}"));
        sl_mongo_model_destroy(ts);
        sl_conf_free(props, &c);
        sl_config_destroy(cfg);
        sl_errs_free(&errs);
    }

    m = wm_model("ReplaceOneBusinessKeyStrategy", false);
    CHECK_STR(run(m, NULL, VALUE_DOC), J("{" NS "'op':'replaceOne','filter':" BK_FILTER ",'replacement':"
                                         REPLACEMENT_DOC ",'upsert':true}"));
    /* a business key strategy needs an _id document: BsonOidStrategy's ObjectId is not one */
    CHECK_STR(run(m, NULL, "{'a':1}"),
              "ERROR: Could not build the WriteModel,the value document does not contain an _id field of type "
              "BsonDocument which holds the business key fields.\n\n If you are including an existing `_id` value "
              "in the business key then ensure `document.id.strategy.overwrite.existing=true`.");
    sl_mongo_model_destroy(m);
    m = wm_model("ReplaceOneBusinessKeyStrategy", true);
    CHECK_STR(run(m, NULL, VALUE_DOC), J("{" NS "'op':'replaceOne','filter':" BK_FLAT ",'replacement':"
                                         REPLACEMENT_DOC ",'upsert':true}"));
    sl_mongo_model_destroy(m);

    m = wm_model("UpdateOneDefaultStrategy", false);
    CHECK_STR(run(m, NULL, VALUE_DOC), J("{" NS "'op':'updateOne','filter':" ID_FILTER ",'update':{'$set':"
                                         REPLACEMENT_DOC "},'upsert':true}"));
    sl_mongo_model_destroy(m);

    m = wm_model("UpdateOneTimestampsStrategy", false); /* _id stays in $set */
    CHECK_STR(run(m, NULL, VALUE_DOC),
              J("{" NS "'op':'updateOne','filter':" ID_FILTER ",'update':{'$set':{'_id':{'a':{'a1':1},'b':{'b1':1,"
                "'b2':1}},'a':{'a1':1},'b':{'b1':1,'b2':1,'c1':1},'_modifiedTS':" DATE "},'$setOnInsert':{"
                "'_insertedTS':" DATE "}},'upsert':true}"));
    sl_mongo_model_destroy(m);

    m = wm_model("UpdateOneBusinessKeyTimestampStrategy", false);
    CHECK_STR(run(m, NULL, VALUE_DOC),
              J("{" NS "'op':'updateOne','filter':" BK_FILTER ",'update':{'$set':{'a':{'a1':1},'b':{'b1':1,'b2':1,"
                "'c1':1},'_modifiedTS':" DATE "},'$setOnInsert':{'_insertedTS':" DATE "}},'upsert':true}"));
    sl_mongo_model_destroy(m);
    m = wm_model("UpdateOneBusinessKeyTimestampStrategy", true);
    CHECK_STR(run(m, NULL, VALUE_DOC),
              J("{" NS "'op':'updateOne','filter':" BK_FLAT ",'update':{'$set':{'a':{'a1':1},'b':{'b1':1,'b2':1,"
                "'c1':1},'_modifiedTS':" DATE "},'$setOnInsert':{'_insertedTS':" DATE "}},'upsert':true}"));
    sl_mongo_model_destroy(m);

    m = wm_model("DeleteOneDefaultStrategy", false);
    CHECK_STR(run(m, "{'id':1234}", "{}"), J("{" NS "'op':'deleteOne','filter':{'_id':{'id':1234}}}"));
    CHECK_STR(run(m, "{'_id':5,'x':1}", "{}"), J("{" NS "'op':'deleteOne','filter':{'_id':5,'x':1}}"));
    CHECK_STR(run(m, NULL, "{}"),
              "ERROR: Could not build the WriteModel,the key document was missing unexpectedly");
    sl_mongo_model_destroy(m);

    m = wm_model("DeleteOneBusinessKeyStrategy", false);
    CHECK_STR(run(m, NULL, VALUE_DOC), J("{" NS "'op':'deleteOne','filter':" BK_FILTER "}"));
    sl_mongo_model_destroy(m);
    m = wm_model("DeleteOneBusinessKeyStrategy", true);
    CHECK_STR(run(m, NULL, VALUE_DOC), J("{" NS "'op':'deleteOne','filter':" BK_FLAT "}"));
    sl_mongo_model_destroy(m);

    /* testDeleteOneTombstoneBusinessKeyStrategyStrategyPartialWithValidSinkDocument */
    m = model("delete.on.null.values", "true", "delete.writemodel.strategy", "DeleteOneTombstoneBusinessKeyStrategy",
              "document.id.strategy", "PartialKeyStrategy", "document.id.strategy.partial.key.projection.type",
              "AllowList", "document.id.strategy.partial.key.projection.list", "a.a1,b.b1,b.b2", NULL);
    CHECK_STR(run(m, "{'_id':{'a':{'a1':0},'b':{'b1':0,'b2':0}},'a':{'a1':0},'b':{'b1':0,'b2':0,'c1':0}}", NULL),
              J("{" NS "'op':'deleteOne','filter':{'a.a1':0,'b.b1':0,'b.b2':0}}"));
    sl_mongo_model_destroy(m);
    m = model("delete.on.null.values", "true", "delete.writemodel.strategy", "DeleteOneTombstoneBusinessKeyStrategy",
              "document.id.strategy", "FullKeyStrategy", NULL);
    CHECK_STR(run(m, "{'a':1}", NULL), "ERROR: Could not create write model: DeleteOneTombstoneBusinessKeyStrategy "
                                       "expects PartialKeyStrategy to be defined");
    sl_mongo_model_destroy(m);

    /* testIEmptyOrMissingSinkDocumentData: a value without _id (removed by a projector after DocumentIdAdder) */
    static const char *const need_id[] = {"ReplaceOneDefaultStrategy", "UpdateOneDefaultStrategy",
                                          "UpdateOneTimestampsStrategy"};
    for (int i = 0; i < 3; i++) {
        m = model("writemodel.strategy", need_id[i], "post.processor.chain", "BlockListValueProjector",
                  "value.projection.list", "_id", NULL);
        CHECK_STR(run(m, NULL, "{'a':1}"), "ERROR: Could not build the WriteModel,the `_id` field was missing "
                                           "unexpectedly");
        sl_mongo_model_destroy(m);
    }
    m = wm_model("DeleteOneBusinessKeyStrategy", false);
    CHECK_STR(run(m, NULL, "{}"), "ERROR: Could not build the WriteModel, the value document does not contain an "
                                  "_id field of type BsonDocument which holds the business key fields.");
    sl_mongo_model_destroy(m);
}

/* flattenKeys (WriteModelHelperTest) through DeleteOneBusinessKeyStrategy with a partial id */
static void test_flatten(void) {
    sl_mongo_model *m = wm_model("DeleteOneBusinessKeyStrategy", true);
    CHECK_STR(run(m, NULL, "{'_id':{'a':{'a':1},'b':{'b':1,'c':{'d':1,'e':{'f':1}}},'g':[{'h':1,'i':{'j':1}}]}}"),
              J("{" NS "'op':'deleteOne','filter':{'a.a':1,'b.b':1,'b.c.d':1,'b.c.e.f':1,'g':[{'h':1,'i':{'j':1}}]}}"));
    CHECK_STR(run(m, NULL, "{'_id':{'a':1,'b':1,'c':[1]}}"), J("{" NS "'op':'deleteOne','filter':{'a':1,'b':1,'c':[1]}}"));
    CHECK_STR(run(m, NULL, "{'_id':{}}"), J("{" NS "'op':'deleteOne','filter':{}}"));
    sl_mongo_model_destroy(m);
}

/* ---- delete.on.null.values ---- */

static void test_delete_on_null(void) {
    sl_mongo_model *m = model(NULL);
    CHECK_STR(run(m, "{'id':1}", NULL),
              "ERROR: Could not create write model: the value is null and delete.on.null.values is false");
    CHECK_STR(run(m, NULL, NULL), "ERROR: Invalid Sink Record neither key doc nor value doc were present");
    sl_mongo_model_destroy(m);

    m = model("delete.on.null.values", "true", "document.id.strategy", "FullKeyStrategy", NULL);
    CHECK_STR(run(m, "{'id':1}", NULL), J("{" NS "'op':'deleteOne','filter':{'_id':{'id':1}}}"));
    /* a value is still written by the write model strategy */
    CHECK_STR(run(m, "{'id':1}", "{'v':2}"), J("{" NS "'op':'replaceOne','filter':{'_id':{'id':1}},'replacement':{"
                                               "'v':2,'_id':{'id':1}},'upsert':true}"));
    sl_mongo_model_destroy(m);
    m = model("delete.on.null.values", "true", "document.id.strategy", "ProvidedInKeyStrategy", NULL);
    CHECK_STR(run(m, "{'_id':7,'x':1}", NULL), J("{" NS "'op':'deleteOne','filter':{'_id':7}}"));
    CHECK_STR(run(m, "{'x':1}", NULL), "ERROR: Could not create write model: Provided id strategy is used but the "
                                       "document structure either contained no _id field or it was null");
    sl_mongo_model_destroy(m);
    m = model("delete.on.null.values", "true", "document.id.strategy", "PartialKeyStrategy",
              "document.id.strategy.partial.key.projection.type", "allowlist",
              "document.id.strategy.partial.key.projection.list", "id", NULL);
    CHECK_STR(run(m, "{'id':1,'x':2}", NULL), J("{" NS "'op':'deleteOne','filter':{'_id':{'id':1}}}"));
    sl_mongo_model_destroy(m);
    /* key projectors run before the delete */
    m = model("delete.on.null.values", "true", "document.id.strategy", "FullKeyStrategy", "post.processor.chain",
              "BlockListKeyProjector", "key.projection.list", "ts", NULL);
    CHECK_STR(run(m, "{'id':1,'ts':2}", NULL), J("{" NS "'op':'deleteOne','filter':{'_id':{'id':1}}}"));
    sl_mongo_model_destroy(m);
}

/* ---- post processors ---- */

static void test_chain_order(void) {
    /* DocumentIdAdder is put first when not listed ... */
    sl_mongo_model *m = model("post.processor.chain", "KafkaMetaAdder", NULL);
    CHECK_STR(run(m, NULL, "{'a':1}"), J("{" NS "'op':'replaceOne','filter':{'_id':" OID("01") "},'replacement':{"
                                         "'a':1,'_id':" OID("01") ",'topic-partition-offset':'topic-1-2'},"
                                         "'upsert':true}"));
    sl_mongo_model_destroy(m);
    /* ... and runs where it is listed */
    m = model("post.processor.chain", "KafkaMetaAdder, " PP_PKG_TEST "DocumentIdAdder", NULL);
    CHECK_STR(run(m, NULL, "{'a':1}"), J("{" NS "'op':'replaceOne','filter':{'_id':" OID("01") "},'replacement':{"
                                         "'a':1,'topic-partition-offset':'topic-1-2','_id':" OID("01") "},"
                                         "'upsert':true}"));
    sl_mongo_model_destroy(m);
    m = model("post.processor.chain", "BlockListValueProjector,DocumentIdAdder", "value.projection.list", "_id,a",
              NULL);
    CHECK_STR(run(m, NULL, "{'_id':5,'a':1,'b':2}"),
              J("{" NS "'op':'replaceOne','filter':{'_id':" OID("01") "},'replacement':{'b':2,'_id':" OID("01")
                "},'upsert':true}"));
    sl_mongo_model_destroy(m);
    /* an empty chain still has DocumentIdAdder */
    m = model("post.processor.chain", "", NULL);
    CHECK_STR(run(m, NULL, "{}"), J("{" NS "'op':'replaceOne','filter':{'_id':" OID("01") "},'replacement':{'_id':"
                                    OID("01") "},'upsert':true}"));
    sl_mongo_model_destroy(m);
}

#define FLAT_KEY "{'_id':'ABC-123','myBoolean':true,'myInt':42,'myBytes':{'$binary':{'base64':'QUJD','subType':'00'}},'myArray':[]}"
#define FLAT_VALUE "{'_id':'XYZ-789','myLong':{'$numberLong':'42'},'myDouble':23.23,'myString':'BSON','myBytes':{'$binary':{'base64':'eHl6','subType':'00'}},'myArray':[]}"
#define NESTED_KEY "{'_id':'ABC-123','myInt':42,'subDoc1':{'myString':'BSON1','myBoolean':false},'subDoc2':{'myString':'BSON2','myBoolean':true}}"
#define NESTED_VALUE                                                                                                 \
    "{'_id':'XYZ-789','myBoolean':true,'subDoc1':{'myFieldA':'some text','myFieldB':12.34,'subSubDoc':{'myString':'some " \
    "text','myInt':0,'myBoolean':false}},'subDoc2':{'myFieldA':'some text','myFieldB':12.34,'subSubDoc':{'myBytes':{'$"  \
    "binary':{'base64':'eHl6','subType':'00'}},'myArray':[{'key':'abc','value':123},{'key':'xyz','value':987}]}}}"
#define B00(s) "{'$binary':{'base64':'" s "','subType':'00'}}"

typedef struct proj_case {
    const char *processor; /* post processor */
    const char *input;     /* FLAT_* / NESTED_* */
    const char *list;
    const char *want;
} proj_case;

/* FieldProjectorTest's tables. */
static const proj_case proj_cases[] = {
    {"BlockListKeyProjector", FLAT_KEY, "", FLAT_KEY},
    {"BlockListKeyProjector", FLAT_KEY, "*", "{}"},
    {"BlockListKeyProjector", FLAT_KEY, "**", "{}"},
    {"BlockListKeyProjector", FLAT_KEY, "myB*", "{'_id':'ABC-123','myInt':42,'myArray':[]}"},
    {"BlockListKeyProjector", FLAT_KEY, "_id", "{'myBoolean':true,'myInt':42,'myBytes':" B00("QUJD") ",'myArray':[]}"},
    {"BlockListKeyProjector", FLAT_KEY, "myBoolean, myInt", "{'_id':'ABC-123','myBytes':" B00("QUJD") ",'myArray':[]}"},
    {"BlockListKeyProjector", FLAT_KEY, "missing1, unknown2", FLAT_KEY},
    {"AllowListKeyProjector", FLAT_KEY, "", "{}"},
    {"AllowListKeyProjector", FLAT_KEY, "*", FLAT_KEY},
    {"AllowListKeyProjector", FLAT_KEY, "**", FLAT_KEY},
    {"AllowListKeyProjector", FLAT_KEY, "myB*", "{'myBoolean':true,'myBytes':" B00("QUJD") "}"},
    {"AllowListKeyProjector", FLAT_KEY, "missing1, unknown2", "{}"},
    {"AllowListKeyProjector", FLAT_KEY, "myBoolean, myBytes, myArray",
     "{'myBoolean':true,'myBytes':" B00("QUJD") ",'myArray':[]}"},
    {"BlockListValueProjector", FLAT_VALUE, "", FLAT_VALUE},
    {"BlockListValueProjector", FLAT_VALUE, "*", "{}"},
    {"BlockListValueProjector", FLAT_VALUE, "**", "{}"},
    {"BlockListValueProjector", FLAT_VALUE, "my*", "{'_id':'XYZ-789'}"},
    {"BlockListValueProjector", FLAT_VALUE, "_id",
     "{'myLong':{'$numberLong':'42'},'myDouble':23.23,'myString':'BSON','myBytes':" B00("eHl6") ",'myArray':[]}"},
    {"BlockListValueProjector", FLAT_VALUE, "myLong, myDouble",
     "{'_id':'XYZ-789','myString':'BSON','myBytes':" B00("eHl6") ",'myArray':[]}"},
    {"BlockListValueProjector", FLAT_VALUE, "missing1,unknown2", FLAT_VALUE},
    {"AllowListValueProjector", FLAT_VALUE, "", "{}"},
    {"AllowListValueProjector", FLAT_VALUE, "*", FLAT_VALUE},
    {"AllowListValueProjector", FLAT_VALUE, "**", FLAT_VALUE},
    {"AllowListValueProjector", FLAT_VALUE, "my*",
     "{'myLong':{'$numberLong':'42'},'myDouble':23.23,'myString':'BSON','myBytes':" B00("eHl6") ",'myArray':[]}"},
    {"AllowListValueProjector", FLAT_VALUE, "_id", "{'_id':'XYZ-789'}"},
    {"AllowListValueProjector", FLAT_VALUE, "missing1,unknown2", "{}"},
    {"AllowListValueProjector", FLAT_VALUE, "myDouble, myBytes,myArray",
     "{'myDouble':23.23,'myBytes':" B00("eHl6") ",'myArray':[]}"},
    {"BlockListKeyProjector", NESTED_KEY, "_id, subDoc1.myString, subDoc2.myBoolean",
     "{'myInt':42,'subDoc1':{'myBoolean':false},'subDoc2':{'myString':'BSON2'}}"},
    {"BlockListKeyProjector", NESTED_KEY, "*",
     "{'subDoc1':{'myString':'BSON1','myBoolean':false},'subDoc2':{'myString':'BSON2','myBoolean':true}}"},
    {"BlockListKeyProjector", NESTED_KEY, "**", "{}"},
    {"BlockListKeyProjector", NESTED_KEY, "*.myString", "{'subDoc1':{'myBoolean':false},'subDoc2':{'myBoolean':true}}"},
    {"BlockListKeyProjector", NESTED_KEY, "*.*", "{'subDoc1':{},'subDoc2':{}}"},
    {"AllowListKeyProjector", NESTED_KEY, "", "{}"},
    {"AllowListKeyProjector", NESTED_KEY, "*", "{'_id':'ABC-123','myInt':42,'subDoc1':{},'subDoc2':{}}"},
    {"BlockListValueProjector", NESTED_VALUE, "_id, subDoc1,subDoc2", "{'myBoolean':true}"},
    {"BlockListValueProjector", NESTED_VALUE, "**", "{}"},
    {"BlockListValueProjector", NESTED_VALUE, "subDoc1.subSubDoc,subDoc2",
     "{'_id':'XYZ-789','myBoolean':true,'subDoc1':{'myFieldA':'some text','myFieldB':12.34}}"},
    {"BlockListValueProjector", NESTED_VALUE, "*,subDoc1.*,subDoc2.**",
     "{'subDoc1':{'subSubDoc':{'myString':'some text','myInt':0,'myBoolean':false}},'subDoc2':{}}"},
    {"BlockListValueProjector", NESTED_VALUE, "*.*",
     "{'subDoc1':{'subSubDoc':{'myString':'some text','myInt':0,'myBoolean':false}},'subDoc2':{'subSubDoc':{'myBytes':"
     B00("eHl6") ",'myArray':[{'key':'abc','value':123},{'key':'xyz','value':987}]}}}"},
    {"BlockListValueProjector", NESTED_VALUE, "*.subSubDoc",
     "{'subDoc1':{'myFieldA':'some text','myFieldB':12.34},'subDoc2':{'myFieldA':'some text','myFieldB':12.34}}"},
    {"BlockListValueProjector", NESTED_VALUE, "subDoc1.*.myString,subDoc2.subSubDoc.*",
     "{'_id':'XYZ-789','myBoolean':true,'subDoc1':{'subSubDoc':{'myInt':0,'myBoolean':false}},'subDoc2':{'myFieldA':"
     "'some text','myFieldB':12.34,'subSubDoc':{}}}"},
    {"BlockListValueProjector", NESTED_VALUE,
     "subDoc1,subDoc2.myFieldA,subDoc2.myFieldB,subDoc2.subSubDoc.myBytes,subDoc2.subSubDoc.myArray.key",
     "{'_id':'XYZ-789','myBoolean':true,'subDoc2':{'subSubDoc':{'myArray':[{'value':123},{'value':987}]}}}"},
    {"AllowListValueProjector", NESTED_VALUE, "", "{}"},
    {"AllowListValueProjector", NESTED_VALUE, "*", "{'_id':'XYZ-789','myBoolean':true,'subDoc1':{},'subDoc2':{}}"},
    {"AllowListValueProjector", NESTED_VALUE,
     "subDoc1,subDoc1.**,subDoc2,subDoc2.subSubDoc,subDoc2.subSubDoc.myArray,subDoc2.subSubDoc.myArray.*",
     "{'subDoc1':{'myFieldA':'some text','myFieldB':12.34,'subSubDoc':{'myString':'some text','myInt':0,'myBoolean':"
     "false}},'subDoc2':{'subSubDoc':{'myArray':[{'key':'abc','value':123},{'key':'xyz','value':987}]}}}"},
    {"AllowListValueProjector", NESTED_VALUE, "**", NESTED_VALUE},
    {"AllowListValueProjector", NESTED_VALUE,
     "subDoc2,subDoc2.subSubDoc,subDoc2.subSubDoc.myArray,subDoc2.subSubDoc.myArray.key",
     "{'subDoc2':{'subSubDoc':{'myArray':[{'key':'abc'},{'key':'xyz'}]}}}"},
    /* the deprecated names (testProjectorSettingsDeprecated) */
    {"BlacklistKeyProjector", FLAT_KEY, "myB*", "{'_id':'ABC-123','myInt':42,'myArray':[]}"},
    {"WhitelistKeyProjector", FLAT_KEY, "myB*", "{'myBoolean':true,'myBytes':" B00("QUJD") "}"},
    {"BlacklistValueProjector", NESTED_VALUE, "*.subSubDoc",
     "{'subDoc1':{'myFieldA':'some text','myFieldB':12.34},'subDoc2':{'myFieldA':'some text','myFieldB':12.34}}"},
    {PP_PKG_TEST "WhitelistValueProjector", NESTED_VALUE, "*",
     "{'_id':'XYZ-789','myBoolean':true,'subDoc1':{},'subDoc2':{}}"},
};

/*
 * A key projection is seen through FullKeyStrategy (_id = the projected key);
 * a value projection through InsertOneDefaultStrategy (the document as is).
 */
static void test_projectors(void) {
    for (size_t i = 0; i < sizeof proj_cases / sizeof *proj_cases; i++) {
        const proj_case *c = &proj_cases[i];
        bool key = strstr(c->processor, "KeyProjector") != NULL;
        char chain[256], want[8192];
        snprintf(chain, sizeof chain, key ? "%s,DocumentIdAdder" : "DocumentIdAdder,%s", c->processor);
        sl_mongo_model *m =
            model("post.processor.chain", chain, key ? "key.projection.list" : "value.projection.list", c->list,
                  "writemodel.strategy", "InsertOneDefaultStrategy", "document.id.strategy",
                  key ? "FullKeyStrategy" : "ProvidedInValueStrategy", NULL);
        if (key) snprintf(want, sizeof want, "{" NS "'op':'insertOne','document':{'_id':%s}}", c->want);
        else snprintf(want, sizeof want, "{" NS "'op':'insertOne','document':%s}", c->want);
        const char *got = key ? run(m, c->input, "{}") : run(m, NULL, c->input);
        if (strcmp(got, J(want)) != 0) fprintf(stderr, "projection %s [%s]:\n", c->processor, c->list);
        CHECK_STR(got, J(want));
        sl_mongo_model_destroy(m);
    }
    /* arrays: AllowList descends into documents in arrays, BlockList paths through arrays */
    sl_mongo_model *m = model("post.processor.chain", "AllowListValueProjector", "value.projection.list",
                              "_id,arr.x", "writemodel.strategy", "InsertOneDefaultStrategy", NULL);
    CHECK_STR(run(m, NULL, "{'_id':1,'arr':[{'x':1,'y':2},3,{'y':4}],'z':5}"),
              J("{" NS "'op':'insertOne','document':{'_id':1,'arr':[{'x':1},3,{}]}}"));
    sl_mongo_model_destroy(m);
}

/* RenamerTest */
#define R_KEY "{'fieldA':'my field value','f2':true,'subDoc':{'fieldX':42},'my_field1':{'my_field2':'testing rocks!'}}"
#define R_VALUE "{'abc':'my field value','f2':false,'subDoc':{'123':0.0},'foo.foo.foo':{'.blah..blah.':23}}"

static void test_renamers(void) {
    /* mapping as in mongo-kafka's tests: Document.parse syntax, single quotes */
    sl_mongo_model *m = model(
        "post.processor.chain", "RenameByMapping,DocumentIdAdder", "document.id.strategy", "FullKeyStrategy",
        "writemodel.strategy", "InsertOneDefaultStrategy", "field.renamer.mapping",
        "[{'oldName':'key.fieldA','newName':'f1'}, {'oldName':'key.f2','newName':'fieldB'}, "
        "{'oldName':'key.subDoc.fieldX','newName':'name_x'}, {'oldName':'key.fieldA','newName':'f1'}, "
        "{'oldName':'value.abc','newName':'xyz'}, {'oldName':'value.f2','newName':'f_two'}, "
        "{'oldName':'value.subDoc.123','newName':'789'}]",
        NULL);
    CHECK_STR(run(m, R_KEY, R_VALUE),
              J("{" NS "'op':'insertOne','document':{'subDoc':{'789':0.0},'foo.foo.foo':{'.blah..blah.':23},'xyz':"
                "'my field value','f_two':false,'_id':{'subDoc':{'name_x':42},'my_field1':{'my_field2':'testing "
                "rocks!'},'f1':'my field value','fieldB':true}}}"));
    sl_mongo_model_destroy(m);

    /* regexp: escaped for JSON, and the "auto escaping" retry with single backslashes */
    static const char *const rx[] = {
        "[{'regexp': '^key\\\\..*my.*$', 'pattern': 'my', 'replace': ''},"
        "{'regexp': '^key\\\\..*field.$', 'pattern': 'field', 'replace': 'F'},"
        "{'regexp': '^value\\\\..*$', 'pattern': '\\\\.', 'replace': '_'}]",
        "[{\"regexp\": \"^key\\..*my.*$\", \"pattern\": \"my\", \"replace\": \"\"},"
        "{\"regexp\": \"^key\\..*field.$\", \"pattern\": \"field\", \"replace\": \"F\"},"
        "{\"regexp\": \"^value\\..*$\", \"pattern\": \"\\.\", \"replace\": \"_\"}]"};
    for (int i = 0; i < 2; i++) {
        m = model("post.processor.chain", "RenameByRegExp,DocumentIdAdder", "document.id.strategy", "FullKeyStrategy",
                  "writemodel.strategy", "InsertOneDefaultStrategy", "field.renamer.regexp", rx[i], NULL);
        CHECK_STR(run(m, R_KEY, R_VALUE),
                  J("{" NS "'op':'insertOne','document':{'abc':'my field value','f2':false,'subDoc':{'123':0.0},"
                    "'foo_foo_foo':{'_blah__blah_':23},'_id':{'f2':true,'subDoc':{'FX':42},'FA':'my field value',"
                    "'_F1':{'_F2':'testing rocks!'}}}}"));
        sl_mongo_model_destroy(m);
    }
    /* a taken name: the field is dropped (no silent overwrite, as in Renamer.doRenaming) */
    m = model("post.processor.chain", "RenameByMapping", "writemodel.strategy", "InsertOneDefaultStrategy",
              "field.renamer.mapping", "[{\"oldName\":\"value.a\",\"newName\":\"b\"}]", NULL);
    CHECK_STR(run(m, NULL, "{'_id':1,'a':1,'b':2}"), J("{" NS "'op':'insertOne','document':{'_id':1,'b':2}}"));
    sl_mongo_model_destroy(m);
    /* renaming a field to _id (MongoProcessedSinkRecordDataTest.testRenameIdHandling) */
    m = model("writemodel.strategy", "UpdateOneBusinessKeyTimestampStrategy", "post.processor.chain",
              "RenameByMapping, DocumentIdAdder", "field.renamer.mapping", "[{oldName: \"value.c\", newName: \"_id\"}]",
              "document.id.strategy", "PartialValueStrategy", "document.id.strategy.overwrite.existing", "true",
              "document.id.strategy.partial.value.projection.type", "allowlist",
              "document.id.strategy.partial.value.projection.list", "a, b, _id", NULL);
    CHECK_STR(run(m, "{'_id':1}", "{'a':'a','b':'b','c':'c','d':'d'}"),
              J("{" NS "'op':'updateOne','filter':{'a':'a','b':'b','_id':'c'},'update':{'$set':{'a':'a','b':'b','d':"
                "'d','_modifiedTS':" DATE "},'$setOnInsert':{'_insertedTS':" DATE "}},'upsert':true}"));
    sl_mongo_model_destroy(m);
    /* groups in the replacement, Java syntax */
    m = model("post.processor.chain", "RenameByRegExp", "writemodel.strategy", "InsertOneDefaultStrategy",
              "field.renamer.regexp", "[{\"regexp\":\"^value\\\\.[a-z]+_[a-z]+$\",\"pattern\":\"([a-z]+)_([a-z]+)\","
              "\"replace\":\"$2\\\\$$1\"}]", NULL);
    CHECK_STR(run(m, NULL, "{'_id':1,'first_last':1}"), J("{" NS "'op':'insertOne','document':{'_id':1,'last$first':1}}"));
    sl_mongo_model_destroy(m);
}

/* KafkaMetaAdderTest */
static void test_kafka_meta(void) {
    sl_mongo_model *m = model("post.processor.chain", "KafkaMetaAdder", "writemodel.strategy",
                              "InsertOneDefaultStrategy", "document.id.strategy", "ProvidedInValueStrategy", NULL);
    sl_msink_rec r = rec();
    r.timestamp = 99;
    r.ts_type = SL_MTS_CREATE_TIME;
    r.value = doc("{'_id':0}");
    CHECK_STR(build_rec(m, r, true),
              "{ \"ns\" : \"db.topic\", \"op\" : \"insertOne\", \"document\" : { \"_id\" : { \"$numberInt\" : \"0\" }, "
              "\"topic-partition-offset\" : \"topic-1-2\", \"CREATE_TIME\" : { \"$numberLong\" : \"99\" } } }");
    r = rec();
    r.timestamp = 5;
    r.ts_type = SL_MTS_LOG_APPEND_TIME;
    r.value = doc("{'_id':0}");
    CHECK_STR(build_rec(m, r, false),
              J("{" NS "'op':'insertOne','document':{'_id':0,'topic-partition-offset':'topic-1-2','LOG_APPEND_TIME':5}}"));
    CHECK_STR(run(m, NULL, "{'_id':0}"), J("{" NS "'op':'insertOne','document':{'_id':0,'topic-partition-offset':'topic-1-2'}}"));
    r = rec(); /* a timestamp without a type (NO_TIMESTAMP_TYPE) is not added */
    r.timestamp = 5;
    r.value = doc("{'_id':0}");
    CHECK_STR(build_rec(m, r, false),
              J("{" NS "'op':'insertOne','document':{'_id':0,'topic-partition-offset':'topic-1-2'}}"));
    sl_mongo_model_destroy(m);
}

/* NullFieldValueRemoverTest */
static void test_null_remover(void) {
    sl_mongo_model *m = model("post.processor.chain", "NullFieldValueRemover", "writemodel.strategy",
                              "InsertOneDefaultStrategy", "document.id.strategy", "ProvidedInValueStrategy", NULL);
    CHECK_STR(run(m, NULL, "{'_id':0,'myNull1':null,'myString':'a','myEmptyString':'','myNull2':null,'myTrueBool':true,"
                           "'myFalseBool':false,'myInt':123,'myNull3':null}"),
              J("{" NS "'op':'insertOne','document':{'_id':0,'myString':'a','myEmptyString':'','myTrueBool':true,"
                "'myFalseBool':false,'myInt':123}}"));
    CHECK_STR(run(m, NULL, "{'_id':0,'myNull1':null,'myNull2':null}"), J("{" NS "'op':'insertOne','document':{'_id':0}}"));
    CHECK_STR(run(m, NULL,
                  "{'_id':0,'myNull1':null,'mySubDoc1':{'myDocumentString':'a','myDocumentNull':null,'mySubDoc2':{"
                  "'myDocumentString':'b','myDocumentNull':null,'mySubDoc3':{'myDocumentString':'c','myDocumentNull':"
                  "null}}},'myArray':[null,'a',{'a':null,'b':null,'c':null},123],'myNull2':null,'myDocument':{"
                  "'myDocumentString':'a','myDocumentNull':null}}"),
              J("{" NS "'op':'insertOne','document':{'_id':0,'mySubDoc1':{'myDocumentString':'a','mySubDoc2':{"
                "'myDocumentString':'b','mySubDoc3':{'myDocumentString':'c'}}},'myArray':[null,'a',{},123],"
                "'myDocument':{'myDocumentString':'a'}}}"));
    sl_mongo_model_destroy(m);
}

/* ---- namespace mappers (DefaultNamespaceMapperTest, FieldPathNamespaceMapperTest) ---- */

#define NS_KEY "{'db':'dbKey','coll':'collKey','invalid':1,'ns':{'db':'nsDbKey','coll':'nsCollKey'}}"
#define NS_VALUE "{'db':'dbValue','coll':'collValue','invalid':1,'ns':{'db':'nsDbValue','coll':'nsCollValue'}}"

static const char *ns_of(const char *k1, const char *v1, const char *k2, const char *v2) {
    sl_mongo_model *m = model("namespace.mapper", "FieldPathNamespaceMapper", "database", "myDB", k1, v1, k2, v2, NULL);
    const char *got = run(m, NS_KEY, NS_VALUE);
    sl_mongo_model_destroy(m);
    const char *p = strstr(got, "\"ns\" : \"");
    if (!p) return got;
    p += 8;
    char *o = ring();
    snprintf(o, 8192, "%.*s", (int)(strchr(p, '"') - p), p);
    return o;
}

static void test_namespace(void) {
    sl_mongo_model *m = model(NULL);
    CHECK(strstr(run(m, NULL, "{}"), "\"ns\" : \"db.topic\"") != NULL);
    sl_mongo_model_destroy(m);
    m = model("collection", "myColl", NULL);
    CHECK(strstr(run(m, NULL, "{}"), "\"ns\" : \"db.myColl\"") != NULL);
    sl_mongo_model_destroy(m);

    const char *kdb = "namespace.mapper.key.database.field", *kcoll = "namespace.mapper.key.collection.field",
               *vdb = "namespace.mapper.value.database.field", *vcoll = "namespace.mapper.value.collection.field";
    CHECK_STR(ns_of(kdb, "db", NULL, NULL), "dbKey.topic");
    CHECK_STR(ns_of(kcoll, "coll", NULL, NULL), "myDB.collKey");
    CHECK_STR(ns_of(kdb, "db", kcoll, "coll"), "dbKey.collKey");
    CHECK_STR(ns_of(kdb, "ns.db", kcoll, "ns.coll"), "nsDbKey.nsCollKey");
    CHECK_STR(ns_of(vdb, "db", NULL, NULL), "dbValue.topic");
    CHECK_STR(ns_of(vcoll, "coll", NULL, NULL), "myDB.collValue");
    CHECK_STR(ns_of(vdb, "db", vcoll, "coll"), "dbValue.collValue");
    CHECK_STR(ns_of(vdb, "ns.db", vcoll, "ns.coll"), "nsDbValue.nsCollValue");
    CHECK_STR(ns_of(kdb, "db", vcoll, "coll"), "dbKey.collValue");
    CHECK_STR(ns_of(vdb, "db", kcoll, "coll"), "dbValue.collKey");
    CHECK_STR(ns_of(vdb, "missing", vcoll, "coll"), "myDB.collValue");
    CHECK_STR(ns_of(vdb, "db", vcoll, "missing"), "dbValue.topic");
    CHECK_STR(ns_of(vdb, "invalid", NULL, NULL), "myDB.topic"); /* not a string: the default */

    /* testHandlesInvalidOrMissingData */
    const char *const keys[] = {kdb, kcoll, vdb, vcoll};
    for (int i = 0; i < 4; i++) {
        m = model("namespace.mapper", NS_PKG_TEST "FieldPathNamespaceMapper", keys[i], "invalid",
                  "namespace.mapper.error.if.invalid", "true", NULL);
        CHECK(starts(run(m, NS_KEY, NS_VALUE), "ERROR: Invalid type for INT32 field path 'invalid', expected a String"));
        sl_mongo_model_destroy(m);
        m = model("namespace.mapper", "FieldPathNamespaceMapper", keys[i], "missing",
                  "namespace.mapper.error.if.invalid", "true", NULL);
        CHECK(starts(run(m, NS_KEY, NS_VALUE), "ERROR: Missing document path 'missing'"));
        sl_mongo_model_destroy(m);
    }
    m = model("namespace.mapper", "FieldPathNamespaceMapper", vcoll, "coll", "namespace.mapper.error.if.invalid",
              "true", NULL);
    CHECK(starts(run(m, "{'id':1}", NULL), "ERROR: Invalid value document"));
    sl_mongo_model_destroy(m);
    /* a mapped name MongoDB refuses */
    m = model("namespace.mapper", "FieldPathNamespaceMapper", vdb, "db", NULL);
    CHECK(starts(run(m, NULL, "{'db':'a.b'}"), "ERROR: Invalid namespace: database name 'a.b'"));
    sl_mongo_model_destroy(m);

    /* testValidatesTheConfiguration */
    CHECK_HAS(problems(false, "namespace.mapper", "FieldPathNamespaceMapper", NULL),
              "namespace.mapper: Missing configuration for the FieldBasedNamespaceMapper");
    CHECK_HAS(problems(false, "namespace.mapper", "FieldPathNamespaceMapper", kdb, "keyPath", vdb, "valuePath", NULL),
              "namespace.mapper.key.database.field: Cannot set both: 'namespace.mapper.key.database.field' and "
              "'namespace.mapper.value.database.field'");
    CHECK_HAS(problems(false, "namespace.mapper", "FieldPathNamespaceMapper", kcoll, "keyPath", vcoll, "valuePath",
                       NULL),
              "namespace.mapper.key.collection.field: Cannot set both");
}

/* ---- configuration errors ---- */

static void test_bad_configs(void) {
    const char *p = problems(false, "document.id.strategy", "NoSuchStrategy", NULL);
    CHECK_HAS(p, "document.id.strategy: 'NoSuchStrategy' is not a known id strategy");
    CHECK_HAS(p, "BsonOidStrategy, KafkaMetaDataStrategy, FullKeyStrategy, PartialKeyStrategy, PartialValueStrategy, "
                 "ProvidedInKeyStrategy, ProvidedInValueStrategy, UuidStrategy, UuidProvidedInKeyStrategy, "
                 "UuidProvidedInValueStrategy");
    CHECK_HAS(problems(false, "document.id.strategy", "com.example.BsonOidStrategy", NULL),
              "is not a known id strategy");
    CHECK_STR(problems(false, "document.id.strategy", ID_PKG_TEST "UuidStrategy", NULL), "(compiled)");
    p = problems(false, "writemodel.strategy", "ReplaceOneStrategy", NULL);
    CHECK_HAS(p, "writemodel.strategy: 'ReplaceOneStrategy' is not a known write model strategy");
    CHECK_HAS(p, "DefaultWriteModelStrategy, ReplaceOneDefaultStrategy, ReplaceOneBusinessKeyStrategy");
    CHECK_HAS(problems(false, "delete.writemodel.strategy", "Nope", NULL), "delete.writemodel.strategy: 'Nope'");
    p = problems(false, "post.processor.chain", "DocumentIdAdder,TimeseriesTimeFieldAutoConversion", NULL);
    CHECK_HAS(p, "post.processor.chain: 'TimeseriesTimeFieldAutoConversion' is not a known post processor");
    CHECK_HAS(p, "NullFieldValueRemover, RenameByMapping, RenameByRegExp");
    CHECK_HAS(problems(false, "namespace.mapper", "MyMapper", NULL), "namespace.mapper: 'MyMapper'");
    CHECK_HAS(problems(false, "document.id.strategy.uuid.format", "hex", NULL),
              "document.id.strategy.uuid.format: 'hex' is not allowed (allowed: string, binary)");
    CHECK_HAS(problems(false, "key.projection.type", "some", NULL), "key.projection.type: 'some' is not allowed");
    /* PartialKeyStrategy.configure without a projection type */
    CHECK_STR(problems(false, "document.id.strategy", "PartialKeyStrategy", NULL),
              "document.id.strategy: Invalid key.projection.type value. It should be set to either BLOCKLIST or "
              "ALLOWLIST");
    CHECK_STR(problems(false, "document.id.strategy", "PartialValueStrategy", NULL),
              "document.id.strategy: Invalid value.projection.type value. It should be set to either BLOCKLIST or "
              "ALLOWLIST");
    CHECK_HAS(problems(false, "document.id.strategy", "PartialValueStrategy",
                       "document.id.strategy.partial.value.projection.type", "maybe", NULL),
              "document.id.strategy.partial.value.projection.type: 'maybe' is not allowed");
    /* MongoSinkTopicConfig.getDeleteWriteModelStrategy */
    const char *del = "delete.on.null.values: DeleteOneDefaultStrategy can only be applied when the configured "
                      "IdStrategy is an instance of: FullKeyStrategy or PartialKeyStrategy or ProvidedInKeyStrategy";
    CHECK_STR(problems(false, "delete.on.null.values", "true", NULL), del);
    CHECK_STR(problems(false, "delete.on.null.values", "true", "document.id.strategy", "ProvidedInValueStrategy", NULL),
              del);
    CHECK_STR(problems(false, "delete.on.null.values", "true", "delete.writemodel.strategy", WM_PKG_TEST
                       "DeleteOneDefaultStrategy", NULL),
              del);
    CHECK_STR(problems(false, "delete.on.null.values", "true", "delete.writemodel.strategy",
                       "DeleteOneBusinessKeyStrategy", NULL),
              "(compiled)");
    /* renamer settings */
    CHECK_HAS(problems(false, "field.renamer.mapping", "[{", NULL), "field.renamer.mapping: not a valid JSON array");
    CHECK_HAS(problems(false, "field.renamer.mapping", "{\"oldName\":\"a\"}", NULL),
              "field.renamer.mapping: not a valid JSON array");
    CHECK_HAS(problems(false, "field.renamer.mapping", "[{\"oldName\":\"value.a\"}]", NULL),
              "field.renamer.mapping: Both oldName and newName must be mapped");
    CHECK_HAS(problems(false, "field.renamer.regexp", "[{\"regexp\":\"(\",\"pattern\":\"a\",\"replace\":\"b\"}]", NULL),
              "field.renamer.regexp: regexp '(' is not a valid regular expression");
    CHECK_HAS(problems(false, "field.renamer.regexp", "[{\"regexp\":\".*\"}]", NULL),
              "field.renamer.regexp: each entry needs the strings regexp, pattern and replace");
    /* database is required */
    {
        sl_errs errs = {0};
        char e[256];
        sl_config *cfg = sl_config_parse_json("{}", "test", e, sizeof e);
        tconf c;
        memset(&c, 0, sizeof c);
        CHECK(sl_conf_apply(props, cfg, &c, &errs) == 1);
        CHECK(errs.n == 1 && starts(errs.msg[0], "database: required"));
        sl_mongo_model *m = (sl_mongo_model *)1;
        CHECK(sl_mongo_model_compile(&c.mm, &m, &errs) == 1 && m == NULL);
        sl_conf_free(props, &c);
        sl_config_destroy(cfg);
        sl_errs_free(&errs);
    }
}

/* The model is usable by several records in a row and from the defaults (real ids, real clock). */
static void test_defaults(void) {
    sl_errs errs = {0};
    char e[256];
    sl_config *cfg = sl_config_parse_json("{\"database\": \"db\", \"document.id.strategy\": \"UuidStrategy\"}", "test",
                                          e, sizeof e);
    tconf c;
    memset(&c, 0, sizeof c);
    sl_conf_apply(props, cfg, &c, &errs);
    sl_mongo_model *m = NULL;
    CHECK(sl_mongo_model_compile(&c.mm, &m, &errs) == 0);
    sl_msink_rec r = rec();
    r.value = doc("{'a':1}");
    sl_mwrite w1, w2;
    char err[256];
    CHECK(sl_mongo_model_build(m, &r, &w1, err, sizeof err) == 0);
    CHECK(sl_mongo_model_build(m, &r, &w2, err, sizeof err) == 0);
    bson_iter_t i1, i2;
    CHECK(bson_iter_init_find(&i1, w1.filter, "_id") && BSON_ITER_HOLDS_UTF8(&i1));
    CHECK(bson_iter_init_find(&i2, w2.filter, "_id") && BSON_ITER_HOLDS_UTF8(&i2));
    const char *u1 = bson_iter_utf8(&i1, NULL), *u2 = bson_iter_utf8(&i2, NULL);
    CHECK(strlen(u1) == 36 && u1[14] == '4' && strchr("89ab", u1[19]) && strcmp(u1, u2) != 0);
    CHECK(w1.kind == SL_MW_REPLACE && w1.upsert && !strcmp(w1.db, "db") && !strcmp(w1.coll, "topic"));
    sl_mwrite_clear(&w1);
    sl_mwrite_clear(&w2);
    sl_mwrite_clear(&w2); /* twice: a no-op */
    bson_destroy((bson_t *)r.value);
    sl_mongo_model_destroy(m);
    sl_mongo_model_destroy(NULL);
    sl_conf_free(props, &c);
    sl_config_destroy(cfg);
    sl_errs_free(&errs);
}

/* The examples of docs/connectors/mongodb-sink-models.in.md. */
static void test_doc_examples(void) {
    sl_mongo_model *m = model("document.id.strategy", "PartialValueStrategy",
                              "document.id.strategy.partial.value.projection.type", "AllowList",
                              "document.id.strategy.partial.value.projection.list", "customer.id,order_no",
                              "writemodel.strategy", "ReplaceOneBusinessKeyStrategy", NULL);
    CHECK_STR(run(m, NULL, "{'customer':{'id':7,'name':'x'},'order_no':12,'total':3}"),
              J("{" NS "'op':'replaceOne','filter':{'customer.id':7,'order_no':12},'replacement':{'customer':{'id':7,"
                "'name':'x'},'order_no':12,'total':3},'upsert':true}"));
    sl_mongo_model_destroy(m);
    m = model("post.processor.chain", "DocumentIdAdder,AllowListValueProjector", "value.projection.list",
              "_id,customer.*,items.sku", "writemodel.strategy", "InsertOneDefaultStrategy", NULL);
    CHECK_STR(run(m, NULL, "{'_id':1,'customer':{'id':7,'tags':{'a':1}},'items':[{'sku':'x','qty':2}],'note':'n'}"),
              J("{" NS "'op':'insertOne','document':{'_id':1,'customer':{'id':7,'tags':{}},'items':[{'sku':'x'}]}}"));
    sl_mongo_model_destroy(m);
    m = model("namespace.mapper", "FieldPathNamespaceMapper", "namespace.mapper.value.collection.field", "meta.type",
              NULL);
    CHECK(strstr(run(m, NULL, "{'meta':{'type':'orders'}}"), "\"ns\" : \"db.orders\"") != NULL);
    sl_mongo_model_destroy(m);
    m = model("post.processor.chain", "RenameByRegExp", "writemodel.strategy", "InsertOneDefaultStrategy",
              "field.renamer.regexp", "[{\"regexp\":\"^value\\\\..*$\",\"pattern\":\"\\\\.\",\"replace\":\"_\"}]",
              NULL);
    CHECK_STR(run(m, NULL, "{'_id':1,'a.b':1}"), J("{" NS "'op':'insertOne','document':{'_id':1,'a_b':1}}"));
    sl_mongo_model_destroy(m);
}

/* The property table documents every key once. */
static void test_props(void) {
    int n = 0;
    for (const sl_prop *p = props; p->name; p++, n++) {
        CHECK(p->doc && *p->doc);
        for (const sl_prop *q = p + 1; q->name; q++) CHECK(strcmp(p->name, q->name) != 0);
    }
    CHECK(n == 25);
}

int main(void) {
    test_id_strategies();
    test_overwrite_existing();
    test_write_models();
    test_flatten();
    test_delete_on_null();
    test_chain_order();
    test_projectors();
    test_renamers();
    test_kafka_meta();
    test_null_remover();
    test_namespace();
    test_bad_configs();
    test_defaults();
    test_doc_examples();
    test_props();
    TEST_END();
}
