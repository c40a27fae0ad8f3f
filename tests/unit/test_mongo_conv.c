/*
 * Unit tests of src/sink/mongo_conv.c: Kafka Connect keys / values -> BSON
 * with mongo-kafka's SinkConverter types (SchemaRecordConverter with a
 * schema, MapRecordConverter without, StringRecordConverter for text).
 */
#include "sink/mongo_conv.h"
#include "test.h"
#include <stdlib.h>

static sl_mconv *conv;
static char got[8192];

/* The canonical extended JSON of the conversion, "null", or "error: ..." */
static const char *run_text(const char *json, bool text) {
    bson_t *out = NULL;
    char err[512];
    int rc = sl_mconv_json(conv, json, strlen(json), text, &out, NULL, err, sizeof err);
    if (rc < 0) snprintf(got, sizeof got, "error: %s", err);
    else if (rc == 0) snprintf(got, sizeof got, "null");
    else {
        char *j = bson_as_canonical_extended_json(out, NULL);
        snprintf(got, sizeof got, "%s", j);
        bson_free(j);
        bson_destroy(out);
    }
    return got;
}
static const char *run(const char *json) { return run_text(json, false); }

#define F(t, name) "{\"type\":\"" t "\",\"optional\":true,\"field\":\"" name "\"}"
#define LF(t, lname, name, extra) \
    "{\"type\":\"" t "\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data." lname "\"," extra "\"field\":\"" name "\"}"

static void test_schema_types(void) {
    const char *schema =
        "{\"type\":\"struct\",\"fields\":[" F("int8", "i8") "," F("int16", "i16") "," F("int32", "i32") ","
        F("int64", "i64") "," F("float", "f32") "," F("double", "f64") "," F("boolean", "b") "," F("string", "s") ","
        F("bytes", "by") "," LF("bytes", "Decimal", "dec", "\"parameters\":{\"scale\":\"2\"},")
        "," LF("bytes", "Decimal", "neg", "\"parameters\":{\"scale\":\"3\"},") "," LF("int32", "Date", "d", "")
        "," LF("int32", "Time", "t", "") "," LF("int64", "Timestamp", "ts", "") "," F("string", "missing") "]}";
    char json[4096];
    snprintf(json, sizeof json,
             "{\"schema\":%s,\"payload\":{\"i8\":1,\"i16\":-2,\"i32\":3,\"i64\":5,\"f32\":1.1,\"f64\":2.5,"
             "\"b\":true,\"s\":\"x\",\"by\":\"AQID\",\"dec\":\"AG4=\",\"neg\":\"/4w=\",\"d\":19000,"
             "\"t\":3600000,\"ts\":1700000000123}}",
             schema);
    CHECK_STR(run(json),
              "{ \"i8\" : { \"$numberInt\" : \"1\" }, \"i16\" : { \"$numberInt\" : \"-2\" }, \"i32\" : { \"$numberInt\" : "
              "\"3\" }, \"i64\" : { \"$numberLong\" : \"5\" }, \"f32\" : { \"$numberDouble\" : \"1.1000000238418579102\" }, "
              "\"f64\" : { \"$numberDouble\" : \"2.5\" }, \"b\" : true, \"s\" : \"x\", \"by\" : { \"$binary\" : { "
              "\"base64\" : \"AQID\", \"subType\" : \"00\" } }, \"dec\" : { \"$numberDecimal\" : \"1.10\" }, \"neg\" : { "
              "\"$numberDecimal\" : \"-0.116\" }, \"d\" : { \"$date\" : { \"$numberLong\" : \"1641600000000\" } }, \"t\" "
              ": { \"$date\" : { \"$numberLong\" : \"3600000\" } }, \"ts\" : { \"$date\" : { \"$numberLong\" : "
              "\"1700000000123\" } }, \"missing\" : null }");
}

static void test_nested(void) {
    const char *json =
        "{\"schema\":{\"type\":\"struct\",\"fields\":["
        "{\"type\":\"struct\",\"optional\":true,\"field\":\"st\",\"fields\":[" F("int64", "n") "]},"
        "{\"type\":\"array\",\"optional\":true,\"field\":\"arr\",\"items\":{\"type\":\"int16\",\"optional\":true}},"
        "{\"type\":\"map\",\"optional\":true,\"field\":\"m\",\"keys\":{\"type\":\"string\"},"
        "\"values\":{\"type\":\"int64\",\"optional\":true}},"
        "{\"type\":\"int32\",\"optional\":true,\"default\":7,\"field\":\"def\"}]},"
        "\"payload\":{\"def\":null,\"arr\":[1,null,3],\"st\":{\"n\":1},\"m\":{\"a\":2}}}";
    CHECK_STR(run(json), "{ \"st\" : { \"n\" : { \"$numberLong\" : \"1\" } }, \"arr\" : [ { \"$numberInt\" : \"1\" }, "
                         "null, { \"$numberInt\" : \"3\" } ], \"m\" : { \"a\" : { \"$numberLong\" : \"2\" } }, \"def\" "
                         ": { \"$numberInt\" : \"7\" } }");
}

static void test_schemaless_and_text(void) {
    /* JsonConverter without schemas: every integer is an Int64 (MapRecordConverter). */
    CHECK_STR(run(" {\"a\":1,\"b\":1.5,\"c\":[1,{\"d\":2}],\"s\":\"x\"} "),
              "{ \"a\" : { \"$numberLong\" : \"1\" }, \"b\" : { \"$numberDouble\" : \"1.5\" }, \"c\" : [ { "
              "\"$numberLong\" : \"1\" }, { \"d\" : { \"$numberLong\" : \"2\" } } ], \"s\" : \"x\" }");
    /* A STRING payload or StringConverter text: extended JSON with its own types. */
    CHECK_STR(run("{\"schema\":{\"type\":\"string\",\"optional\":false},\"payload\":\"{\\\"a\\\": 1, \\\"o\\\": "
                  "{\\\"$oid\\\": \\\"5f0000000000000000000001\\\"}}\"}"),
              "{ \"a\" : { \"$numberInt\" : \"1\" }, \"o\" : { \"$oid\" : \"5f0000000000000000000001\" } }");
    CHECK_STR(run("\"{\\\"a\\\": 1}\""), "{ \"a\" : { \"$numberInt\" : \"1\" } }");
    CHECK_STR(run_text("{\"a\": 1, \"l\": {\"$numberLong\": \"2\"}}", true),
              "{ \"a\" : { \"$numberInt\" : \"1\" }, \"l\" : { \"$numberLong\" : \"2\" } }");
    /* A struct schema without fields (not Connect's, but seen in the wild): the payload schemaless. */
    CHECK_STR(run("{\"schema\":{\"type\":\"struct\"},\"payload\":{\"id\":1}}"),
              "{ \"id\" : { \"$numberLong\" : \"1\" } }");
    CHECK_STR(run("{\"schema\":{\"type\":\"struct\",\"fields\":[]},\"payload\":null}"), "null");
    CHECK_STR(run("null"), "null");
    /* Raw BSON bytes with a bytes schema (ByteArrayRecordConverter): {"a": 1} */
    CHECK_STR(run("{\"schema\":{\"type\":\"bytes\"},\"payload\":\"DAAAABBhAAEAAAAA\"}"),
              "{ \"a\" : { \"$numberInt\" : \"1\" } }");
}

static void test_errors(void) {
    CHECK(strstr(run("{\"schema\":{\"type\":\"struct\",\"fields\":[" F("int32", "a") "]},\"payload\":{\"a\":\"x\"}}"),
                 "field 'a': a JSON string does not fit its schema type int32"));
    CHECK(strstr(run("{\"schema\":{\"type\":\"struct\",\"fields\":[" F("bytes", "a") "]},\"payload\":{\"a\":\"@@\"}}"),
                 "not base64"));
    CHECK(strstr(run("{\"schema\":{\"type\":\"nope\"},\"payload\":{}}"), "unknown type 'nope'"));
    CHECK(strstr(run("[1]"), "error: not a document"));
    CHECK(strstr(run("{\"schema\":{\"type\":\"int32\"},\"payload\":5}"), "error: not a document"));
    /* 35 significant digits (not ending in 0) do not fit a Decimal128: mongo-kafka's exception text. */
    CHECK(strstr(run("{\"schema\":{\"type\":\"struct\",\"fields\":[" LF("bytes", "Decimal", "a",
                                                                            "\"parameters\":{\"scale\":\"0\"},") "]},"
                     "\"payload\":{\"a\":\"E0JhcsdNgiuHj+f////3\"}}"),
                 "inexact rounding"));
    /* The payload span helper used for dead letter records. */
    const char *p;
    size_t n;
    CHECK(sl_mconv_payload("{\"schema\":{\"type\":\"struct\"},\"payload\":{\"a\":[1,\"}\"]}}", 52, &p, &n));
    CHECK(n == 13 && !memcmp(p, "{\"a\":[1,\"}\"]}", 13));
    CHECK(!sl_mconv_payload("{\"payload\":1}", 13, &p, &n));
}

int main(void) {
    conv = sl_mconv_new();
    test_schema_types();
    test_nested();
    test_schemaless_and_text();
    test_errors();
    sl_mconv_destroy(conv);
    TEST_END();
}
