/*
 * Unit tests of src/source/mongo/mschema.c: mongo-kafka's output.format=schema
 * (Avro schemas as AvroSchema reads them, BsonDocumentToSchema's inference,
 * BsonValueToSchemaAndValue + JsonConverter's JSON).
 */
#include "source/mongo/mschema.h"
#include "test.h"
#include "util/mem.h"
#include <stdlib.h>

static char err[512];

static bson_t *doc(const char *json) {
    bson_error_t be;
    bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &be);
    if (!b) {
        fprintf(stderr, "bad fixture %s: %s\n", json, be.message);
        abort();
    }
    return b;
}

/* "<schema JSON> | <payload JSON>" or "error: ..." */
static char out[8192];
static const char *run(sl_mschema *s, const char *json) {
    sl_buf b;
    bson_t *d = doc(json);
    sl_buf_init(&b);
    sl_mschema_json(s, &b);
    sl_buf_puts(&b, " | ");
    if (sl_mschema_value(s, d, SL_MJSON_DEFAULT, &b, err, sizeof err) < 0) snprintf(out, sizeof out, "error: %s", err);
    else snprintf(out, sizeof out, "%s", sl_buf_cstr(&b));
    sl_buf_free(&b);
    bson_destroy(d);
    return out;
}

static void test_avro(void) {
    sl_mschema *s = sl_mschema_from_avro(
        "{\"type\":\"record\",\"name\":\"r\",\"namespace\":\"n\",\"fields\":["
        "{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":[\"null\",\"long\"]},"
        "{\"name\":\"c\",\"type\":\"float\",\"default\":1.5},{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":"
        "\"string\"}},{\"name\":\"x.y\",\"type\":[\"string\",\"null\"]},{\"name\":\"s\",\"type\":[\"string\",\"null\"]}]}",
        err, sizeof err);
    CHECK(s != NULL);
    CHECK_STR(run(s, "{\"a\":{\"$numberLong\":\"3\"},\"b\":{\"$date\":{\"$numberLong\":\"5\"}},\"m\":{\"k\":{\"$oid\":"
                     "\"5f0000000000000000000001\"}},\"x\":{\"y\":\"deep\"},\"s\":{\"q\":1}}"),
              "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"a\"},{\"type\":"
              "\"int64\",\"optional\":true,\"field\":\"b\"},{\"type\":\"float\",\"optional\":false,\"default\":1.5,"
              "\"field\":\"c\"},{\"type\":\"map\",\"keys\":{\"type\":\"string\",\"optional\":false},\"values\":{\"type\":"
              "\"string\",\"optional\":false},\"optional\":false,\"field\":\"m\"},{\"type\":\"string\",\"optional\":"
              "true,\"field\":\"x.y\"},{\"type\":\"string\",\"optional\":true,\"field\":\"s\"}],\"optional\":false,"
              "\"name\":\"n.r\"} | {\"a\":3,\"b\":5,\"c\":1.5,\"m\":{\"k\":\"{\\\"$oid\\\": "
              "\\\"5f0000000000000000000001\\\"}\"},\"x.y\":\"deep\",\"s\":\"{\\\"q\\\": 1}\"}");
    /* A required field that is missing, a value of another type: mongo-kafka's DataException texts. */
    CHECK(strstr(run(s, "{\"b\":1}"), "error: Missing field 'a' in: '{\"b\": 1}'"));
    CHECK(strstr(run(s, "{\"a\":\"x\"}"), "error: Schema type of int32 but value was of type: string"));
    sl_mschema_free(s);
    CHECK(!sl_mschema_from_avro("{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"u\",\"type\":[\"int\","
                                "\"string\"]}]}", err, sizeof err));
    CHECK_STR(err, "Field 'u' is invalid. Union Schemas are not supported, unless one value is null to represent an "
                   "optional value.");
    CHECK(!sl_mschema_from_avro("{\"type\":\"array\",\"items\":\"int\"}", err, sizeof err));
    CHECK_STR(err, "Only Record schemas are supported at the top-level.");
    CHECK(!sl_mschema_from_avro("{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"f\",\"type\":{\"type\":"
                                "\"fixed\",\"name\":\"F\",\"size\":2}}]}", err, sizeof err));
    CHECK(strstr(err, "Field 'f' is invalid. Unsupported Avro schema type: 'FIXED'") == err);
    /* mongo-kafka's defaults parse. */
    s = sl_mschema_from_avro(SL_MSCHEMA_DEFAULT_VALUE, err, sizeof err);
    CHECK(s != NULL);
    sl_mschema_free(s);
    s = sl_mschema_from_avro(SL_MSCHEMA_DEFAULT_KEY, err, sizeof err);
    CHECK(s != NULL);
    sl_mschema_free(s);
}

static void test_infer(void) {
    bson_t *d = doc("{\"z\":null,\"_id\":1,\"arr\":[1,null,2],\"mix\":[1,\"a\"],\"objs\":[{\"a\":1},{\"b\":true}],"
                    "\"dec\":{\"$numberDecimal\":\"-1.50\"},\"f\":{\"$numberDouble\":\"0.1\"}}");
    sl_mschema *s = sl_mschema_infer(d);
    bson_destroy(d);
    CHECK_STR(run(s, "{\"z\":null,\"_id\":1,\"arr\":[1,null,2],\"mix\":[1,\"a\"],\"objs\":[{\"a\":1},{\"b\":true}],"
                     "\"dec\":{\"$numberDecimal\":\"-1.50\"},\"f\":{\"$numberDouble\":\"0.1\"}}"),
              "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":true,\"field\":\"_id\"},{\"type\":"
              "\"array\",\"items\":{\"type\":\"int32\",\"optional\":true},\"optional\":true,\"name\":\"arr\",\"field\":"
              "\"arr\"},{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\","
              "\"version\":1,\"parameters\":{\"scale\":\"2\"},\"field\":\"dec\"},{\"type\":\"double\",\"optional\":"
              "true,\"field\":\"f\"},{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":true},\"optional\":"
              "true,\"name\":\"mix\",\"field\":\"mix\"},{\"type\":\"array\",\"items\":{\"type\":\"struct\",\"fields\":["
              "{\"type\":\"int32\",\"optional\":true,\"field\":\"a\"},{\"type\":\"boolean\",\"optional\":true,\"field\":"
              "\"b\"}],\"optional\":true,\"name\":\"objs\"},\"optional\":true,\"name\":\"objs\",\"field\":\"objs\"},{"
              "\"type\":\"string\",\"optional\":true,\"field\":\"z\"}],\"optional\":false,\"name\":\"default\"} | "
              "{\"_id\":1,\"arr\":[1,null,2],\"dec\":\"/2o=\",\"f\":0.1,\"mix\":[\"1\",\"a\"],\"objs\":[{\"a\":1,\"b\":"
              "null},{\"a\":null,\"b\":true}],\"z\":null}");
    sl_mschema_free(s);
}

/* double and float fields as JsonConverter writes them: Double/Float.toString, NaN and the infinities as strings */
static void test_floats(void) {
    sl_mschema *s = sl_mschema_from_avro("{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"d\",\"type\":"
                                         "\"double\"},{\"name\":\"e\",\"type\":\"double\"},{\"name\":\"f\",\"type\":"
                                         "\"float\"},{\"name\":\"g\",\"type\":\"float\"}]}",
                                         err, sizeof err);
    CHECK(s != NULL);
    const char *o = run(s, "{\"d\":{\"$numberDouble\":\"NaN\"},\"e\":1e20,\"f\":{\"$numberDouble\":\"-Infinity\"},"
                           "\"g\":1e-45}");
    const char *payload = strstr(o, " | ");
    CHECK_STR(payload, " | {\"d\":\"NaN\",\"e\":1.0E20,\"f\":\"-Infinity\",\"g\":1.4E-45}");
    sl_mschema_free(s);
}

int main(void) {
    test_avro();
    test_infer();
    test_floats();
    TEST_END();
}
