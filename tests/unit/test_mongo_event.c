/*
 * Unit tests of the MongoDB source's event encoder (source/mongo/mevent.c):
 * change events -> topic, key, value, op in mongo-kafka's and Debezium's
 * shapes, the three JSON formatters, topic naming, and the decision what a
 * change stream error means (history-lost policy).
 *
 * The fixtures are MongoDB's documented change event shapes (server 6.0+:
 * insert, update with updateDescription incl. removedFields and
 * truncatedArrays, replace, delete, drop, rename, dropDatabase, invalidate,
 * pre- and post-images). The integration tests cannot produce most of them:
 * the test server (mongo-java-server, scripts/mongo/README.md) sends updates
 * without updateDescription, reports replacements as updates, has no `ns`,
 * no rename/invalidate events, no pre-images and never fails with
 * ChangeStreamHistoryLost (286), so those paths are tested here only.
 */
#include "source/mongo/mevent.h"
#include "test.h"
#include <mongoc/mongoc.h>
#include <stdlib.h>

#define TOKEN "{\"_data\":\"8263501A2E000000012B022C0100296E5A1004\"}"
#define OID "{\"$oid\":\"635019a078be67426d7cf4d2\"}"
#define NS "\"ns\":{\"db\":\"engineering\",\"coll\":\"users\"}"
#define CT "\"clusterTime\":{\"$timestamp\":{\"t\":1666193824,\"i\":3}}"
#define WALL "\"wallTime\":{\"$date\":{\"$numberLong\":\"1666193824604\"}}"

static const char *INSERT =
    "{\"_id\":" TOKEN ",\"operationType\":\"insert\"," CT "," WALL ",\"fullDocument\":{\"_id\":" OID
    ",\"name\":\"Alice\",\"age\":{\"$numberInt\":\"30\"},\"big\":{\"$numberLong\":\"12345678901\"},"
    "\"score\":{\"$numberDouble\":\"9.5\"},\"dec\":{\"$numberDecimal\":\"1.10\"},"
    "\"born\":{\"$date\":{\"$numberLong\":\"699411600500\"}},\"tags\":[\"a\",{\"$numberInt\":\"1\"}],"
    "\"u\":{\"$binary\":{\"base64\":\"c//SZESzTGmQ6OfR38A11A==\",\"subType\":\"04\"}}}," NS
    ",\"documentKey\":{\"_id\":" OID "}}";

static const char *UPDATE =
    "{\"_id\":" TOKEN ",\"operationType\":\"update\"," CT "," WALL "," NS ",\"documentKey\":{\"_id\":" OID "},"
    "\"updateDescription\":{\"updatedFields\":{\"email\":\"alice@10gen.com\",\"n\":{\"$numberInt\":\"2\"}},"
    "\"removedFields\":[\"phoneNumber\"],\"truncatedArrays\":[{\"field\":\"vacation_time\",\"newSize\":"
    "{\"$numberInt\":\"36\"}}]}}";

static const char *UPDATE_IMAGES =
    "{\"_id\":" TOKEN ",\"operationType\":\"update\"," CT "," NS ",\"documentKey\":{\"_id\":{\"$numberInt\":\"7\"}},"
    "\"updateDescription\":{\"updatedFields\":{\"n\":{\"$numberInt\":\"2\"}},\"removedFields\":[],"
    "\"truncatedArrays\":[]},\"fullDocument\":{\"_id\":{\"$numberInt\":\"7\"},\"n\":{\"$numberInt\":\"2\"}},"
    "\"fullDocumentBeforeChange\":{\"_id\":{\"$numberInt\":\"7\"},\"n\":{\"$numberInt\":\"1\"}},"
    "\"lsid\":{\"id\":{\"$binary\":{\"base64\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"subType\":\"04\"}},"
    "\"uid\":{\"$binary\":{\"base64\":\"AA==\",\"subType\":\"00\"}}},\"txnNumber\":{\"$numberLong\":\"12\"}}";

static const char *REPLACE =
    "{\"_id\":" TOKEN ",\"operationType\":\"replace\"," CT "," NS ",\"documentKey\":{\"_id\":\"k1\"},"
    "\"fullDocument\":{\"_id\":\"k1\",\"name\":\"Bob\"}}";

static const char *DELETE =
    "{\"_id\":" TOKEN ",\"operationType\":\"delete\"," CT "," NS ",\"documentKey\":{\"_id\":" OID "}}";

static const char *DROP = "{\"_id\":" TOKEN ",\"operationType\":\"drop\"," CT "," NS "}";
static const char *RENAME = "{\"_id\":" TOKEN ",\"operationType\":\"rename\"," CT "," NS
                            ",\"to\":{\"db\":\"engineering\",\"coll\":\"people\"}}";
static const char *DROPDB = "{\"_id\":" TOKEN ",\"operationType\":\"dropDatabase\"," CT
                            ",\"ns\":{\"db\":\"engineering\"}}";
static const char *INVALIDATE = "{\"_id\":" TOKEN ",\"operationType\":\"invalidate\"," CT "}";

static bson_t *fixture(const char *json) {
    bson_error_t be;
    bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &be);
    if (!b) {
        fprintf(stderr, "bad fixture: %s\n%s\n", be.message, json);
        abort();
    }
    return b;
}

static sl_mevent ev;
static char err[512];

static int enc(const sl_mevent_opts *o, const char *json) {
    bson_t *b = fixture(json);
    err[0] = 0;
    int rc = sl_mevent_encode(o, bson_get_data(b), b->len, false, NULL, NULL, &ev, err, sizeof err);
    bson_destroy(b);
    return rc;
}

static int enc_copy(const sl_mevent_opts *o, const char *json) {
    bson_t *b = fixture(json);
    int rc = sl_mevent_encode(o, bson_get_data(b), b->len, true, "engineering", "users", &ev, err, sizeof err);
    bson_destroy(b);
    return rc;
}

static const char *V(void) { return ev.value.data ? ev.value.data : ""; }
static const char *K(void) { return ev.key.data ? ev.key.data : ""; }
static const char *T(void) { return ev.topic.data ? ev.topic.data : ""; }

static void test_insert_formatters(void) {
    sl_mevent_opts o = {0};
    o.fmt = SL_MJSON_DEFAULT;
    o.prefix = "pre";
    CHECK(enc(&o, INSERT) == 0);
    CHECK_STR(T(), "pre.engineering.users");
    CHECK_STR(K(), "{\"_id\":" TOKEN "}"); /* change.stream.document.key.as.key=false */
    o.doc_key_as_key = true;
    CHECK(enc(&o, INSERT) == 0);
    CHECK_STR(K(), "{\"_id\":" OID "}"); /* the default: documentKey */
    o.doc_key_as_key = false;
    CHECK(enc(&o, INSERT) == 0);
    CHECK(ev.op == SL_OP_CREATE);
    CHECK(ev.ts_us == 1666193824604000LL);
    CHECK_STR(V(), "{\"_id\":" TOKEN ",\"operationType\":\"insert\",\"clusterTime\":{\"$timestamp\":{\"t\":1666193824,"
                   "\"i\":3}},\"wallTime\":{\"$date\":1666193824604},\"fullDocument\":{\"_id\":" OID
                   ",\"name\":\"Alice\",\"age\":30,\"big\":{\"$numberLong\":\"12345678901\"},\"score\":9.5,"
                   "\"dec\":{\"$numberDecimal\":\"1.10\"},\"born\":{\"$date\":699411600500},\"tags\":[\"a\",1],"
                   "\"u\":{\"$binary\":\"c//SZESzTGmQ6OfR38A11A==\",\"$type\":\"04\"}}," NS
                   ",\"documentKey\":{\"_id\":" OID "}}");
    o.fmt = SL_MJSON_SIMPLIFIED;
    CHECK(enc(&o, INSERT) == 0);
    CHECK_STR(V(), "{\"_id\":" TOKEN ",\"operationType\":\"insert\",\"clusterTime\":{\"$timestamp\":{\"t\":1666193824,"
                   "\"i\":3}},\"wallTime\":\"2022-10-19T15:37:04.604Z\",\"fullDocument\":{\"_id\":"
                   "\"635019a078be67426d7cf4d2\",\"name\":\"Alice\",\"age\":30,\"big\":12345678901,\"score\":9.5,"
                   "\"dec\":\"1.10\",\"born\":\"1992-03-01T01:00:00.5Z\",\"tags\":[\"a\",1],"
                   "\"u\":\"73ffd264-44b3-4c69-90e8-e7d1dfc035d4\"}," NS ",\"documentKey\":{\"_id\":"
                   "\"635019a078be67426d7cf4d2\"}}");
    o.fmt = SL_MJSON_EXTENDED;
    CHECK(enc(&o, INSERT) == 0);
    CHECK(strstr(V(), "\"age\":{\"$numberInt\":\"30\"},\"big\":{\"$numberLong\":\"12345678901\"},"
                      "\"score\":{\"$numberDouble\":\"9.5\"}") != NULL);
    CHECK(strstr(V(), "\"born\":{\"$date\":{\"$numberLong\":\"699411600500\"}}") != NULL);
    CHECK(strstr(V(), "\"u\":{\"$binary\":{\"base64\":\"c//SZESzTGmQ6OfR38A11A==\",\"subType\":\"04\"}}") != NULL);
    /* Canonical extended JSON reads back as the same BSON. */
    bson_error_t be;
    bson_t *back = bson_new_from_json((const uint8_t *)V(), -1, &be);
    bson_t *orig = fixture(INSERT);
    CHECK(back && bson_equal(back, orig));
    if (back) bson_destroy(back);
    bson_destroy(orig);
}

static void test_update_mongo_kafka(void) {
    sl_mevent_opts o = {0};
    CHECK(enc(&o, UPDATE) == 0);
    CHECK(ev.op == SL_OP_UPDATE);
    CHECK_STR(T(), "engineering.users");
    CHECK(strstr(V(), "\"updateDescription\":{\"updatedFields\":{\"email\":\"alice@10gen.com\",\"n\":2},"
                      "\"removedFields\":[\"phoneNumber\"],\"truncatedArrays\":[{\"field\":\"vacation_time\","
                      "\"newSize\":36}]}") != NULL);
    /* publish.full.document.only: an update without fullDocument publishes nothing. */
    o.full_doc_only = true;
    o.doc_key_as_key = true;
    CHECK(enc(&o, UPDATE) == 0);
    CHECK(ev.skip);
    CHECK(enc(&o, UPDATE_IMAGES) == 0);
    CHECK(!ev.skip);
    CHECK_STR(K(), "{\"_id\":7}");
    CHECK_STR(V(), "{\"_id\":7,\"n\":2}");
}

static void test_debezium(void) {
    sl_mevent_opts o = {0};
    o.debezium = true;
    o.server_name = "srv";
    o.rs_name = "rs0";
    o.version = "2.7.0.Final";
    o.now_ms = 1700000000000LL;
    CHECK(enc(&o, INSERT) == 0);
    CHECK_STR(T(), "srv.engineering.users");
    CHECK_STR(K(), "{\"id\":\"{\\\"$oid\\\": \\\"635019a078be67426d7cf4d2\\\"}\"}");
    CHECK(strstr(V(), "\"after\":\"{\\\"_id\\\": {\\\"$oid\\\": \\\"635019a078be67426d7cf4d2\\\"}, \\\"name\\\": "
                      "\\\"Alice\\\", \\\"age\\\": {\\\"$numberInt\\\": \\\"30\\\"}") != NULL);
    CHECK(strstr(V(), "\"source\":{\"version\":\"2.7.0.Final\",\"connector\":\"mongodb\",\"name\":\"srv\","
                      "\"ts_ms\":1666193824604,\"snapshot\":\"false\",\"db\":\"engineering\",\"sequence\":null,"
                      "\"rs\":\"rs0\",\"collection\":\"users\",\"ord\":3,\"lsid\":null,\"txnNumber\":null,"
                      "\"wallTime\":1666193824604},\"op\":\"c\",\"ts_ms\":1700000000000,\"transaction\":null}") != NULL);
    CHECK(strncmp(V(), "{\"before\":null,\"after\":", 23) == 0);
    CHECK(enc(&o, UPDATE) == 0);
    CHECK(strstr(V(), "\"after\":null,\"updateDescription\":{\"removedFields\":[\"phoneNumber\"],"
                      "\"updatedFields\":\"{\\\"email\\\": \\\"alice@10gen.com\\\", \\\"n\\\": {\\\"$numberInt\\\": "
                      "\\\"2\\\"}}\",\"truncatedArrays\":[{\"field\":\"vacation_time\",\"size\":36}]}") != NULL);
    CHECK(strstr(V(), "\"op\":\"u\"") != NULL);
    CHECK(enc(&o, UPDATE_IMAGES) == 0);
    CHECK_STR(K(), "{\"id\":\"7\"}");
    CHECK(strstr(V(), "{\"before\":\"{\\\"_id\\\": {\\\"$numberInt\\\": \\\"7\\\"}, \\\"n\\\": {\\\"$numberInt\\\": "
                      "\\\"1\\\"}}\",\"after\":\"{\\\"_id\\\": {\\\"$numberInt\\\": \\\"7\\\"}, \\\"n\\\": "
                      "{\\\"$numberInt\\\": \\\"2\\\"}}\"") != NULL);
    CHECK(strstr(V(), "\"lsid\":\"{\\\"$binary\\\": {\\\"base64\\\": \\\"AAAAAAAAAAAAAAAAAAAAAA==\\\", "
                      "\\\"subType\\\": \\\"04\\\"}}\",\"txnNumber\":12,") != NULL);
    CHECK(enc(&o, REPLACE) == 0);
    CHECK_STR(K(), "{\"id\":\"\\\"k1\\\"\"}");
    CHECK(strstr(V(), "\"after\":\"{\\\"_id\\\": \\\"k1\\\", \\\"name\\\": \\\"Bob\\\"}\"") != NULL);
    CHECK(ev.op == SL_OP_UPDATE);
    CHECK(enc(&o, DELETE) == 0);
    CHECK(ev.op == SL_OP_DELETE);
    CHECK(strstr(V(), "{\"before\":null,\"after\":null,\"updateDescription\":null,") != NULL);
    CHECK(strstr(V(), "\"op\":\"d\"") != NULL);
    /* Debezium publishes no DDL-like events. */
    CHECK(enc(&o, DROP) == 0 && ev.skip);
    CHECK(enc(&o, INVALIDATE) == 0 && ev.skip && ev.invalidate);
    /* copy_existing: snapshot read. */
    CHECK(enc_copy(&o, "{\"_id\":{\"$numberLong\":\"5\"},\"x\":true}") == 0);
    CHECK(ev.op == SL_OP_READ);
    CHECK_STR(K(), "{\"id\":\"5\"}");
    CHECK(strstr(V(), "\"snapshot\":\"true\"") != NULL);
    CHECK(strstr(V(), "\"op\":\"r\"") != NULL);
    CHECK(strstr(V(), "\"after\":\"{\\\"_id\\\": {\\\"$numberLong\\\": \\\"5\\\"}, \\\"x\\\": true}\"") != NULL);
}

static void test_replace_delete_ddl(void) {
    sl_mevent_opts o = {0};
    CHECK(enc(&o, REPLACE) == 0);
    CHECK(ev.op == SL_OP_UPDATE);
    CHECK_STR(ev.optype, "replace");
    CHECK(enc(&o, DELETE) == 0);
    CHECK(ev.op == SL_OP_DELETE && !ev.tombstone && !ev.skip);
    o.full_doc_only = true;
    o.doc_key_as_key = true;
    CHECK(enc(&o, DELETE) == 0);
    CHECK(ev.skip);
    o.tombstone_on_delete = true;
    CHECK(enc(&o, DELETE) == 0);
    CHECK(ev.tombstone && !ev.skip);
    CHECK_STR(K(), "{\"_id\":" OID "}");
    CHECK(enc(&o, REPLACE) == 0);
    CHECK_STR(K(), "{\"_id\":\"k1\"}");
    CHECK_STR(V(), "{\"_id\":\"k1\",\"name\":\"Bob\"}");
    o.full_doc_only = o.tombstone_on_delete = false;
    CHECK(enc(&o, DROP) == 0);
    CHECK(ev.op == SL_OP_MESSAGE && !ev.skip);
    CHECK_STR(K(), "{\"_id\":" TOKEN "}"); /* no documentKey: the resume token */
    CHECK_STR(T(), "engineering.users");
    CHECK(enc(&o, RENAME) == 0);
    CHECK(strstr(V(), "\"to\":{\"db\":\"engineering\",\"coll\":\"people\"}") != NULL);
    CHECK(enc(&o, DROPDB) == 0);
    CHECK_STR(T(), "engineering");
    /* invalidate has no ns: the watched namespace names the topic. */
    o.def_db = "engineering";
    o.def_coll = "users";
    CHECK(enc(&o, INVALIDATE) == 0);
    CHECK(ev.invalidate);
    CHECK_STR(T(), "engineering.users");
}

static void test_copy_mongo_kafka(void) {
    sl_mevent_opts o = {0}; /* change.stream.document.key.as.key=false: the key is the event's _id */
    CHECK(enc_copy(&o, "{\"_id\":{\"$numberInt\":\"1\"},\"a\":\"x\"}") == 0);
    CHECK(ev.op == SL_OP_CREATE);
    CHECK_STR(K(), "{\"_id\":{\"_id\":1,\"copyingData\":true}}");
    CHECK_STR(V(), "{\"_id\":{\"_id\":1,\"copyingData\":true},\"operationType\":\"insert\",\"ns\":{\"db\":\"engineering\",\"coll\":"
                   "\"users\"},\"documentKey\":{\"_id\":1},\"fullDocument\":{\"_id\":1,\"a\":\"x\"}}");
    CHECK_STR(T(), "engineering.users");
    o.doc_key_as_key = true; /* the default: documentKey */
    CHECK(enc_copy(&o, "{\"_id\":{\"$numberInt\":\"1\"},\"a\":\"x\"}") == 0);
    CHECK_STR(K(), "{\"_id\":1}");
    o.full_doc_only = true;
    CHECK(enc_copy(&o, "{\"_id\":{\"$numberInt\":\"1\"},\"a\":\"x\"}") == 0);
    CHECK_STR(K(), "{\"_id\":1}");
    CHECK_STR(V(), "{\"_id\":1,\"a\":\"x\"}");
}

static void test_topics(void) {
    sl_mevent_opts o = {0};
    sl_buf t;
    sl_buf_init(&t);
    sl_mevent_topic(&o, "db", "c", &t);
    CHECK_STR(sl_buf_cstr(&t), "db.c");
    o.prefix = "p";
    o.suffix = "s";
    o.sep = "-";
    sl_mevent_topic(&o, "db", "c", &t);
    CHECK_STR(sl_buf_cstr(&t), "p-db-c-s");
    sl_mevent_topic(&o, "db", "", &t);
    CHECK_STR(sl_buf_cstr(&t), "p-db-s");
    bson_t *map = fixture("{\"db.c\":\"exact\",\"db\":\"dbt\",\"*\":\"all\"}");
    o.ns_map = map;
    sl_mevent_topic(&o, "db", "c", &t);
    CHECK_STR(sl_buf_cstr(&t), "p-exact-s");
    sl_mevent_topic(&o, "db", "d", &t);
    CHECK_STR(sl_buf_cstr(&t), "p-dbt-d-s");
    sl_mevent_topic(&o, "other", "x", &t);
    CHECK_STR(sl_buf_cstr(&t), "p-all-s");
    bson_destroy(map);
    sl_buf_free(&t);
}

static void test_values(void) {
    static const struct {
        const char *json;
        sl_mjson_mode mode;
        const char *want;
    } cases[] = {
        {"{\"d\":{\"$numberDouble\":\"1.0\"}}", SL_MJSON_DEFAULT, "{\"d\":1.0}"},
        {"{\"d\":{\"$numberDouble\":\"0.001\"}}", SL_MJSON_DEFAULT, "{\"d\":0.001}"},
        {"{\"d\":{\"$numberDouble\":\"0.0001\"}}", SL_MJSON_DEFAULT, "{\"d\":1.0E-4}"},
        {"{\"d\":{\"$numberDouble\":\"10000000\"}}", SL_MJSON_DEFAULT, "{\"d\":1.0E7}"},
        {"{\"d\":{\"$numberDouble\":\"123.456\"}}", SL_MJSON_DEFAULT, "{\"d\":123.456}"},
        {"{\"d\":{\"$numberDouble\":\"-0.5\"}}", SL_MJSON_SIMPLIFIED, "{\"d\":-0.5}"},
        {"{\"d\":{\"$numberDouble\":\"NaN\"}}", SL_MJSON_SIMPLIFIED, "{\"d\":{\"$numberDouble\":\"NaN\"}}"},
        {"{\"d\":{\"$numberDouble\":\"1.5E300\"}}", SL_MJSON_EXTENDED, "{\"d\":{\"$numberDouble\":\"1.5E300\"}}"},
        {"{\"t\":{\"$date\":{\"$numberLong\":\"-1000\"}}}", SL_MJSON_RELAXED,
         "{\"t\":{\"$date\":{\"$numberLong\":\"-1000\"}}}"},
        {"{\"t\":{\"$date\":{\"$numberLong\":\"0\"}}}", SL_MJSON_RELAXED, "{\"t\":{\"$date\":\"1970-01-01T00:00:00.000Z\"}}"},
        {"{\"t\":{\"$date\":{\"$numberLong\":\"-1000\"}}}", SL_MJSON_SIMPLIFIED, "{\"t\":\"1969-12-31T23:59:59Z\"}"},
        {"{\"r\":{\"$regularExpression\":{\"pattern\":\"^a\",\"options\":\"i\"}}}", SL_MJSON_DEFAULT,
         "{\"r\":{\"$regex\":\"^a\",\"$options\":\"i\"}}"},
        {"{\"r\":{\"$regularExpression\":{\"pattern\":\"^a\",\"options\":\"i\"}}}", SL_MJSON_EXTENDED,
         "{\"r\":{\"$regularExpression\":{\"pattern\":\"^a\",\"options\":\"i\"}}}"},
        {"{\"k\":{\"$minKey\":1},\"x\":{\"$maxKey\":1},\"n\":null,\"s\":\"a\\\"b\\n\"}", SL_MJSON_DEFAULT,
         "{\"k\":{\"$minKey\":1},\"x\":{\"$maxKey\":1},\"n\":null,\"s\":\"a\\\"b\\n\"}"},
        {"{\"b\":{\"$binary\":{\"base64\":\"AQI=\",\"subType\":\"00\"}}}", SL_MJSON_SIMPLIFIED, "{\"b\":\"AQI=\"}"},
        {"{\"l\":{\"$numberLong\":\"-9223372036854775808\"}}", SL_MJSON_RELAXED, "{\"l\":-9223372036854775808}"},
    };
    sl_buf out;
    sl_buf_init(&out);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bson_t *b = fixture(cases[i].json);
        sl_buf_reset(&out);
        CHECK(sl_mjson_doc(&out, b, cases[i].mode, false) == 0);
        CHECK_STR(sl_buf_cstr(&out), cases[i].want);
        bson_destroy(b);
    }
    /* Java spacing, for JSON inside strings. */
    bson_t *b = fixture("{\"a\":{\"$numberInt\":\"1\"},\"b\":[{\"$numberInt\":\"1\"},{\"$numberInt\":\"2\"}]}");
    sl_buf_reset(&out);
    sl_mjson_doc(&out, b, SL_MJSON_RELAXED, true);
    CHECK_STR(sl_buf_cstr(&out), "{\"a\": 1, \"b\": [1, 2]}");
    bson_destroy(b);
    sl_buf_free(&out);
}

static void test_bad_input(void) {
    sl_mevent_opts o = {0};
    bson_t *b = fixture(INSERT);
    /* Every truncation of a valid event is rejected, never read past. */
    for (uint32_t n = 0; n < b->len; n += 7) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, bson_get_data(b), n);
        CHECK(sl_mevent_encode(&o, copy, n, false, NULL, NULL, &ev, err, sizeof err) < 0);
        free(copy);
    }
    bson_destroy(b);
    CHECK(enc(&o, "{\"_id\":" TOKEN ",\"fullDocument\":{}}") < 0);
    CHECK(strstr(err, "operationType") != NULL);
    CHECK(enc(&o, "{\"operationType\":\"insert\"}") < 0);
    CHECK(strstr(err, "resume token") != NULL);
    /* Nesting beyond the limit (built with the BSON API: libbson's JSON parser stops at 100 levels). */
    enum { DEEP = SL_MEVENT_MAX_DEPTH + 5 };
    bson_t *lv = calloc(DEEP + 1, sizeof(bson_t));
    bson_t *top = fixture("{\"_id\":" TOKEN ",\"operationType\":\"insert\"}");
    bson_copy_to(top, &lv[0]);
    for (int i = 0; i < DEEP; i++) bson_append_document_begin(&lv[i], i ? "a" : "fullDocument", -1, &lv[i + 1]);
    BSON_APPEND_INT32(&lv[DEEP], "x", 1);
    for (int i = DEEP; i > 0; i--) bson_append_document_end(&lv[i - 1], &lv[i]);
    CHECK(sl_mevent_encode(&o, bson_get_data(&lv[0]), lv[0].len, false, NULL, NULL, &ev, err, sizeof err) < 0);
    CHECK(strstr(err, "nested") != NULL);
    bson_destroy(&lv[0]);
    bson_destroy(top);
    free(lv);
}

static void test_error_policy(void) {
    /* The network: retry, whatever the policy. */
    CHECK(sl_mongo_error_action(MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_SOCKET, "socket error", true,
                                SL_MLOST_FAIL) == SL_MACT_RETRY);
    CHECK(sl_mongo_error_action(MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE, "no server",
                                true, SL_MLOST_LATEST) == SL_MACT_RETRY);
    CHECK(sl_mongo_error_action(MONGOC_ERROR_SERVER, 10107, "not primary", true, SL_MLOST_FAIL) == SL_MACT_RETRY);
    /* ChangeStreamHistoryLost (MongoDB 5.0+), by policy. */
    const char *lost = "PlanExecutor error during aggregation :: caused by :: Resume of change stream was not "
                       "possible, as the resume point may no longer be in the oplog.";
    CHECK(sl_mongo_error_action(MONGOC_ERROR_SERVER, 286, lost, true, SL_MLOST_FAIL) == SL_MACT_LOST_FAIL);
    CHECK(sl_mongo_error_action(MONGOC_ERROR_SERVER, 286, lost, true, SL_MLOST_COPY) == SL_MACT_LOST_COPY);
    CHECK(sl_mongo_error_action(MONGOC_ERROR_SERVER, 286, lost, true, SL_MLOST_LATEST) == SL_MACT_LOST_LATEST);
    /* ChangeStreamFatalError 280 (4.x: "resume token was not found"). */
    CHECK(sl_mongo_error_action(MONGOC_ERROR_SERVER, 280, "cannot resume stream; the resume token was not found.",
                                true, SL_MLOST_COPY) == SL_MACT_LOST_COPY);
    /* Older servers: code 40576 with the message only. */
    CHECK(sl_mongo_history_lost(40576, "resume of change stream was not possible, as the resume token was not found."));
    CHECK(sl_mongo_error_action(MONGOC_ERROR_SERVER, 40576, "Resume Token was not found", true, SL_MLOST_LATEST) ==
          SL_MACT_LOST_LATEST);
    CHECK(!sl_mongo_history_lost(2, "BadValue: unknown option"));
    /* Without a stored position a 280 is not about our token: fatal, not "lost". */
    CHECK(sl_mongo_error_action(MONGOC_ERROR_SERVER, 280, "fatal", false, SL_MLOST_COPY) == SL_MACT_FAIL);
    /* Anything else stops. */
    CHECK(sl_mongo_error_action(MONGOC_ERROR_SERVER, 13, "not authorized", true, SL_MLOST_LATEST) == SL_MACT_FAIL);
    CHECK(sl_mongo_error_action(MONGOC_ERROR_SERVER, 17, "Unknown error: For input string", true, SL_MLOST_FAIL) ==
          SL_MACT_FAIL);
}

/* Pipelines as MongoDB's documentation writes them (the Java driver's relaxed JSON). */
static void test_relaxed_json(void) {
    static const char *const cases[][2] = {
        {"[{\"$match\": {\"operationType\": \"insert\"}}, {$addFields : {\"fullDocument.travel\":\"x\"}}]",
         "[{\"$match\": {\"operationType\": \"insert\"}}, {\"$addFields\" : {\"fullDocument.travel\":\"x\"}}]"},
        {"[{$match: {operationType: {$in: ['insert', 'update']}, 'a.b': 1}}]",
         "[{\"$match\": {\"operationType\": {\"$in\": [\"insert\", \"update\"]}, \"a.b\": 1}}]"},
        {"[{$match: {s: 'it\\'s \"q\"', t: true, n: null}}]",
         "[{\"$match\": {\"s\": \"it's \\\"q\\\"\", \"t\": true, \"n\": null}}]"},
        {"[{\"k\": \"{a: 'b'}\"}]", "[{\"k\": \"{a: 'b'}\"}]"}, /* strict strings stay as they are */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_buf b;
        sl_buf_init(&b);
        sl_mjson_relaxed(cases[i][0], &b);
        CHECK_STR(sl_buf_cstr(&b), cases[i][1]);
        sl_buf_free(&b);
    }
}

int main(void) {
    test_relaxed_json();
    sl_mevent_init(&ev);
    test_insert_formatters();
    test_update_mongo_kafka();
    test_debezium();
    test_replace_delete_ddl();
    test_copy_mongo_kafka();
    test_topics();
    test_values();
    test_bad_input();
    test_error_policy();
    sl_mevent_free(&ev);
    TEST_END();
}
