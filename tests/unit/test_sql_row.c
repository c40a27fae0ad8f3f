/* The SQL-row emitter (format/sql_row.h): each Connect / Debezium type's value in PostgreSQL's COPY text and
 * as a MariaDB/MySQL literal, the placeholders of unchanged values, the column types, quoting. */
#include "format/sql_row.h"
#include "test.h"
#include "util/civil.h"
#include "util/codec.h"
#include <stdlib.h>

static sl_vheap h;

/* The value `value` (JSON) of a field with schema `schema` (JSON), in dialect d; "ERR" on an error, "UNCHANGED"
 * for a placeholder. */
static const char *put(const char *schema, const char *value, sl_sql_dialect d, bool duration) {
    static char out[4096];
    char err[256];
    sl_vheap_reset(&h);
    sl_val *s = sl_v_parse(&h, schema, strlen(schema), err, sizeof err);
    sl_val *v = sl_v_parse(&h, value, strlen(value), err, sizeof err);
    sl_sqlcol c;
    if (!s || !v || sl_sqlcol_compile(&h, s, &c, err, sizeof err) < 0) return "BADSCHEMA";
    c.duration = duration;
    sl_buf b;
    sl_buf_init(&b);
    err[0] = 0;
    int rc = sl_sql_put_value(&c, d, &h, v, &b, err, sizeof err);
    snprintf(out, sizeof out, "%s", rc < 0 ? "ERR" : rc == 1 ? "UNCHANGED" : sl_buf_cstr(&b));
    if (rc < 0 && !err[0]) snprintf(out, sizeof out, "ERR without a message");
    sl_buf_free(&b);
    sl_sqlcol_free(&c);
    return out;
}

static const char *type(const char *schema, sl_sql_dialect d, bool key) {
    static char out[512];
    char err[256];
    sl_vheap_reset(&h);
    sl_val *s = sl_v_parse(&h, schema, strlen(schema), err, sizeof err);
    sl_sqlcol c;
    if (!s || sl_sqlcol_compile(&h, s, &c, err, sizeof err) < 0) return "BADSCHEMA";
    sl_buf b;
    sl_buf_init(&b);
    sl_sql_put_type(&c, d, key, &b);
    snprintf(out, sizeof out, "%s", sl_buf_cstr(&b));
    sl_buf_free(&b);
    sl_sqlcol_free(&c);
    return out;
}

#define PG SL_SQL_PG
#define MY SL_SQL_MY
#define F(t) "{\"type\":\"" t "\",\"optional\":true,\"field\":\"c\"}"
#define L(t, n) "{\"type\":\"" t "\",\"optional\":true,\"name\":\"" n "\",\"field\":\"c\"}"
#define LP(t, n, p) "{\"type\":\"" t "\",\"optional\":true,\"name\":\"" n "\",\"parameters\":" p ",\"field\":\"c\"}"
#define DEC(scale, prec) LP("bytes", "org.apache.kafka.connect.data.Decimal", "{\"scale\":\"" scale "\",\"connect.decimal.precision\":\"" prec "\"}")

static void test_values(void) {
    CHECK_STR(put(F("boolean"), "true", PG, false), "t");
    CHECK_STR(put(F("boolean"), "false", MY, false), "0");
    CHECK_STR(put(F("int64"), "-9223372036854775808", PG, false), "-9223372036854775808");
    CHECK_STR(put(F("int32"), "\"7\"", PG, false), "ERR");
    CHECK_STR(put(F("double"), "-2.25E-10", PG, false), "-2.25E-10");
    CHECK_STR(put(F("float"), "1.5", MY, false), "1.5");
    CHECK_STR(put(F("double"), "\"NaN\"", PG, false), "NaN");
    CHECK_STR(put(F("double"), "\"Infinity\"", MY, false), "ERR");
    CHECK_STR(put(F("int32"), "null", PG, false), "\\N");
    CHECK_STR(put(F("int32"), "null", MY, false), "NULL");
    /* strings: COPY escapes, MariaDB literals */
    CHECK_STR(put(F("string"), "\"a\\tb\\nc\\\\d'e\"", PG, false), "a\\tb\\nc\\\\d'e");
    CHECK_STR(put(F("string"), "\"a\\tb\\nc\\\\d'e\"", MY, false), "'a\tb\\nc\\\\d\\'e'");
    CHECK_STR(put(F("string"), "\"x\\u0000y\"", PG, false), "ERR"); /* PostgreSQL text has no NUL */
    CHECK_STR(put(F("string"), "\"x\\u0000y\"", MY, false), "'x\\0y'");
    /* decimals: base64 of the big-endian two's complement unscaled value */
    CHECK_STR(put(DEC("2", "12"), "\"AQ==\"", PG, false), "0.01");   /* 1 */
    CHECK_STR(put(DEC("2", "12"), "\"/w==\"", MY, false), "-0.01");  /* -1 */
    CHECK_STR(put(DEC("2", "12"), "\"ALxhTg==\"", PG, false), "123456.78"); /* 12345678 */
    CHECK_STR(put(DEC("0", "20"), "\"AP//////////\"", PG, false), "18446744073709551615");
    CHECK_STR(put(DEC("3", "5"), "\"AA==\"", PG, false), "0.000");
    CHECK_STR(put(DEC("2", "12"), "\"%%%\"", PG, false), "ERR");
    CHECK_STR(put(L("struct", "io.debezium.data.VariableScaleDecimal"), "{\"scale\":3,\"value\":\"BNI=\"}", PG, false),
              "1.234");
    CHECK_STR(put(L("struct", "io.debezium.data.VariableScaleDecimal"), "{\"scale\":0,\"value\":\"gA==\"}", MY, false),
              "-128");
    /* dates and times */
    CHECK_STR(put(L("int32", "io.debezium.time.Date"), "19782", PG, false), "2024-02-29");
    CHECK_STR(put(L("int32", "io.debezium.time.Date"), "-719528", PG, false), "0001-01-01 BC"); /* year 0 */
    CHECK_STR(put(L("int32", "org.apache.kafka.connect.data.Date"), "0", MY, false), "'1970-01-01'");
    CHECK_STR(put(L("int64", "io.debezium.time.MicroTime"), "49530123456", PG, false), "13:45:30.123456");
    CHECK_STR(put(L("int32", "io.debezium.time.Time"), "3723456", MY, false), "'01:02:03.456'");
    CHECK_STR(put(L("int64", "io.debezium.time.MicroTime"), "-3020399000000", MY, false), "'-838:59:59.000000'");
    CHECK_STR(put(L("int64", "io.debezium.time.MicroTime"), "-3020399000000", PG, true), "-3020399000000 microseconds");
    CHECK_STR(put(L("int64", "io.debezium.time.NanoTime"), "1000", PG, false), "00:00:00.000001");
    CHECK_STR(put(L("int64", "io.debezium.time.MicroTimestamp"), "1709214330123456", PG, false),
              "2024-02-29 13:45:30.123456");
    CHECK_STR(put(L("int64", "io.debezium.time.Timestamp"), "-1", MY, false), "'1969-12-31 23:59:59.999'");
    CHECK_STR(put(L("int64", "io.debezium.time.NanoTimestamp"), "1500", PG, false), "1970-01-01 00:00:00.000001");
    CHECK_STR(put(L("string", "io.debezium.time.ZonedTimestamp"), "\"2024-02-29T12:45:30.5Z\"", PG, false),
              "2024-02-29T12:45:30.5Z");
    CHECK_STR(put(L("string", "io.debezium.time.ZonedTimestamp"), "\"2024-02-29T12:45:30.5Z\"", MY, false),
              "'2024-02-29 12:45:30.5'");
    CHECK_STR(put(L("string", "io.debezium.time.ZonedTimestamp"), "\"2024-02-29T12:45:30+01:00\"", MY, false), "ERR");
    CHECK_STR(put(L("string", "io.debezium.time.ZonedTime"), "\"08:00:00Z\"", MY, false), "'08:00:00'");
    CHECK_STR(put(L("int64", "io.debezium.time.MicroDuration"), "3600000000", PG, false), "3600000000 microseconds");
    CHECK_STR(put(L("int64", "io.debezium.time.MicroDuration"), "3600000000", MY, false), "3600000000");
    /* PostgreSQL's infinities as Debezium sends them */
    CHECK_STR(put(L("int64", "io.debezium.time.MicroTimestamp"), "9223372036825200000", PG, false), "infinity");
    CHECK_STR(put(L("int64", "io.debezium.time.MicroTimestamp"), "-9223372036832400000", MY, false),
              "'0001-01-01 00:00:00'");
    char inf[32];
    snprintf(inf, sizeof inf, "%lld", (long long)sl_days_from_civil(-5877611, 6, 22)); /* a streamed -infinity */
    CHECK_STR(put(L("int32", "io.debezium.time.Date"), inf, PG, false), "-infinity");
    CHECK_STR(put(L("string", "io.debezium.time.ZonedTimestamp"), "\"-infinity\"", MY, false),
              "'0001-01-01 00:00:00'");
    /* bytes, bits, geometry */
    CHECK_STR(put(F("bytes"), "\"AP8Q\"", PG, false), "\\\\x00ff10");
    CHECK_STR(put(F("bytes"), "\"AP8Q\"", MY, false), "X'00ff10'");
    CHECK_STR(put(LP("bytes", "io.debezium.data.Bits", "{\"length\":\"8\"}"), "\"pQ==\"", PG, false), "10100101");
    CHECK_STR(put(LP("bytes", "io.debezium.data.Bits", "{\"length\":\"10\"}"), "\"VQE=\"", MY, false), "b'0101010101'");
    CHECK_STR(put(L("bytes", "io.debezium.data.Bits"), "\"BQ==\"", PG, false), "101"); /* varbit: significant bits */
    CHECK_STR(put(L("struct", "io.debezium.data.geometry.Point"), "{\"x\":1.0,\"y\":2.5,\"wkb\":\"AA==\",\"srid\":null}",
                  PG, false), "(1.0,2.5)");
    CHECK_STR(put(L("struct", "io.debezium.data.geometry.Geometry"), "{\"wkb\":\"AQI=\",\"srid\":4326}", MY, false),
              "ST_GeomFromWKB(X'0102', 4326)");
    /* arrays, maps, json */
    const char *arr = "{\"type\":\"array\",\"optional\":true,\"items\":{\"type\":\"string\",\"optional\":true},\"field\":\"c\"}";
    CHECK_STR(put(arr, "[\"a b\",\"c\\\"d\",null]", PG, false), "{\"a b\",\"c\\\\\"d\",NULL}");
    CHECK_STR(put(arr, "[\"a b\",null]", MY, false), "'[\"a b\",null]'");
    const char *barr = "{\"type\":\"array\",\"optional\":true,\"items\":{\"type\":\"bytes\"},\"field\":\"c\"}";
    CHECK_STR(put(barr, "[\"AQ==\"]", PG, false), "{\"\\\\\\\\x01\"}");
    CHECK_STR(put(F("map"), "{\"k\":1}", PG, false), "{\"k\":1}");
    CHECK_STR(put(L("string", "io.debezium.data.Json"), "\"{\\\"a\\\": [1, 2]}\"", MY, false), "'{\"a\": [1, 2]}'");
    /* unchanged TOAST placeholders: string, bytes (base64), arrays */
    CHECK_STR(put(F("string"), "\"" SL_SQL_UNAVAILABLE "\"", PG, false), "UNCHANGED");
    CHECK_STR(put(F("bytes"), "\"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==\"", MY, false), "UNCHANGED");
    CHECK_STR(put(arr, "[\"" SL_SQL_UNAVAILABLE "\"]", PG, false), "UNCHANGED");
    const char *iarr = "{\"type\":\"array\",\"optional\":true,\"items\":{\"type\":\"int32\"},\"field\":\"c\"}";
    CHECK_STR(put(iarr, "[95,95,100,101,98,101,122,105,117,109,95,117,110,97,118,97,105,108,97,98,108,101,95,118,97,"
                        "108,117,101]", PG, false), "UNCHANGED");
    CHECK_STR(put(iarr, "[1,2]", PG, false), "{\"1\",\"2\"}");
    /* a schema the emitter cannot write */
    CHECK_STR(put("{\"type\":\"whatever\",\"field\":\"c\"}", "1", PG, false), "BADSCHEMA");
}

static void test_types(void) {
    CHECK_STR(type(DEC("2", "12"), PG, false), "numeric(12,2)");
    CHECK_STR(type(DEC("2", "12"), MY, false), "decimal(12,2)");
    CHECK_STR(type(LP("bytes", "org.apache.kafka.connect.data.Decimal", "{\"scale\":\"40\"}"), MY, false),
              "decimal(65,38)");
    CHECK_STR(type(F("string"), PG, true), "text");
    CHECK_STR(type(F("string"), MY, true), "varchar(255)");
    CHECK_STR(type(F("string"), MY, false), "longtext");
    CHECK_STR(type(L("int64", "io.debezium.time.MicroTimestamp"), PG, false), "timestamp(6)");
    CHECK_STR(type(L("int64", "io.debezium.time.Timestamp"), MY, false), "datetime(3)");
    CHECK_STR(type(L("string", "io.debezium.time.ZonedTimestamp"), PG, false), "timestamptz");
    CHECK_STR(type(L("string", "io.debezium.data.Uuid"), PG, false), "uuid");
    CHECK_STR(type(LP("string", "io.debezium.data.Enum", "{\"allowed\":\"a,b'c\"}"), MY, false), "enum('a','b\\'c')");
    CHECK_STR(type(LP("string", "io.debezium.data.EnumSet", "{\"allowed\":\"x,y\"}"), MY, false), "set('x','y')");
    CHECK_STR(type(LP("bytes", "io.debezium.data.Bits", "{\"length\":\"10\"}"), PG, false), "bit(10)");
    CHECK_STR(type("{\"type\":\"array\",\"items\":{\"type\":\"int32\"},\"field\":\"c\"}", PG, false), "integer[]");
    CHECK_STR(type("{\"type\":\"array\",\"items\":{\"type\":\"int32\"},\"field\":\"c\"}", MY, false), "json");
    CHECK_STR(type(L("int64", "io.debezium.time.MicroDuration"), PG, false), "interval");
    CHECK_STR(type(LP("string", "io.debezium.data.Json", "{\"__debezium.source.column.type\":\"JSONB\"}"), PG, false),
              "jsonb");
}

static void test_quoting(void) {
    sl_buf b;
    sl_buf_init(&b);
    sl_sql_put_ident(&b, PG, "we\"ird");
    sl_buf_putc(&b, ' ');
    sl_sql_put_ident(&b, MY, "we`ird");
    sl_buf_putc(&b, ' ');
    sl_sql_put_literal(&b, PG, "it's", 4);
    sl_buf_putc(&b, ' ');
    sl_sql_put_literal(&b, MY, "it's\\", 5);
    CHECK_STR(sl_buf_cstr(&b), "\"we\"\"ird\" `we``ird` 'it''s' 'it\\'s\\\\'");
    sl_buf_free(&b);
}

static void test_codec(void) {
    uint8_t out[16];
    size_t n;
    CHECK(sl_b64_decode("AP8Q", 4, out, &n) && n == 3 && out[0] == 0 && out[1] == 0xff && out[2] == 0x10);
    CHECK(sl_b64_decode("_-8=", 4, out, &n) && n == 2 && out[0] == 0xff && out[1] == 0xef); /* URL-safe */
    CHECK(!sl_b64_decode("A*==", 4, out, &n));
    sl_buf b;
    sl_buf_init(&b);
    const uint8_t big[] = {0x80, 0, 0, 0, 0, 0, 0, 0, 0}; /* -2^71 */
    sl_put_unscaled_decimal(&b, big, sizeof big, 5);
    CHECK_STR(sl_buf_cstr(&b), "-23611832414348226.06848");
    sl_buf_reset(&b);
    sl_put_unscaled_decimal(&b, (const uint8_t *)"\x05", 1, -3);
    CHECK_STR(sl_buf_cstr(&b), "5000");
    sl_buf_reset(&b);
    sl_put_unscaled_decimal(&b, NULL, 0, 2);
    CHECK_STR(sl_buf_cstr(&b), "0.00");
    sl_buf_free(&b);
}

int main(void) {
    sl_vheap_init(&h);
    test_values();
    test_types();
    test_quoting();
    test_codec();
    sl_vheap_free(&h);
    TEST_END();
}
